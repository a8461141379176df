//! Pure mapping between the Turso Platform API's answers, the policy blocks and the neutral
//! model, and the one place the configuration `PATCH` body is built.
//!
//! A database's configuration is one `Settings` section: each database has exactly one of
//! each setting, so nothing at the provider is ever "unmanaged".
//!
//! ## The `PATCH` rule
//!
//! `PATCH …/databases/{databaseName}/configuration` reads a missing `allowed_ips` or
//! `allowed_aws_vpc_ids` as "unchanged" and `[]` as "clear". So [`configuration_patch`] puts
//! every list the policy declares in the body, an empty one as `[]` (omitting it would leave
//! the old allow rules in place while Perimeter reports them removed), and never a list the
//! policy does not declare (sending it would overwrite a setting Perimeter does not manage).
//!
//! ## Perimeter's own changes in the audit log
//!
//! An audit-log entry names its `author` (the user name of whoever made the change; a platform
//! API token acts as the user who minted it) and an `origin` (`cli` or `web`, guessed by Turso
//! from the `User-Agent`, so it cannot tell Perimeter apart). Perimeter's own entries are the
//! ones whose author is the user of its own token, as `GET /v1/user` names it when the client
//! reads the log. That identity comes from the credential the admin gave the CloudProvider,
//! never from a policy field (whoever writes a policy could otherwise name someone else and
//! hide their changes). It follows that Perimeter's token must belong to a member used for
//! nothing else: changes a person makes as that member are indistinguishable from Perimeter's.
//! Remembering Perimeter's own writes instead would not survive a restart, and would report
//! them as outside changes afterwards.

use std::collections::BTreeSet;
use std::fmt;

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::core::addresses::{self, Resolver, SetError};
use crate::core::normalize::{self, Invalid};
use crate::core::{Item, Section, SectionKind, State};
use crate::http::sanitize;
use crate::providers::turso::api::{Reporting, TursoFirewall, TursoMonitoring};
use crate::providers::{Finding, Purpose, Scope, Target};

/// A database's configuration: items `allowedIps`, `allowedAwsVpcIds`, `deleteProtection`.
pub const CONFIG: &str = "configuration";
/// The organisation's audit log: item `available`.
pub const AUDIT: &str = "auditLog";

pub const ALLOWED_IPS: &str = "allowedIps";
pub const ALLOWED_VPCS: &str = "allowedAwsVpcIds";
pub const DELETE_PROTECTION: &str = "deleteProtection";
pub const AVAILABLE: &str = "available";

/// The configuration settings: the policy's name and the API's field of each.
pub const SETTINGS: [(&str, &str); 3] = [
    (ALLOWED_IPS, "allowed_ips"),
    (ALLOWED_VPCS, "allowed_aws_vpc_ids"),
    (DELETE_PROTECTION, "delete_protection"),
];

/// A database accepts connections from anywhere.
pub const NETWORK_OPEN: &str = "NetworkOpen";
/// A platform API token is not restricted to an organisation.
pub const API_TOKEN_UNSCOPED: &str = "ApiTokenUnscoped";
/// The organisation's plan has no audit log.
pub const NOT_ENTITLED: &str = crate::core::model::NOT_ENTITLED;
/// The audit log shows a change to a managed database that Perimeter did not make.
pub const CHANGED_OUTSIDE_PERIMETER: &str = crate::core::model::CHANGED_OUTSIDE_PERIMETER;

/// Every finding code this provider's reads can report.
pub const FINDING_CODES: &[&str] = &[
    NETWORK_OPEN,
    API_TOKEN_UNSCOPED,
    NOT_ENTITLED,
    CHANGED_OUTSIDE_PERIMETER,
];

/// What the compliance gap says when the plan has no audit log.
pub const NOT_ENTITLED_MESSAGE: &str = "the organisation's plan has no audit log";

/// Audit-log codes that change what a FirewallPolicy manages on a database, from the spec's
/// `AuditLog.code` enum. The enum has no code for a configuration update (allow rules): a
/// change to them shows as drift, never in the audit log, until Turso audits it. Creating a
/// database again under a managed name counts, because the new database starts with no allow
/// rule and no delete protection.
pub const AUDITED_CODES: [&str; 4] = ["db-protect", "db-unprotect", "db-create", "db-delete"];

/// Keys of an audit entry's `data` that may name its database. The spec leaves `data` an
/// untyped object; the keys are not documented (UNCONFIRMED), so an entry that names its
/// database under none of them is not attributed to any.
pub const AUDIT_DATABASE_KEYS: [&str; 2] = ["name", "database"];

/// Ranges that allow every address of a family.
const WORLD: [&str; 2] = ["0.0.0.0/0", "::/0"];

/// Where a Turso target applies. What to read besides the declared sections travels with it,
/// so the client needs nothing else from the block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TursoScope {
    pub organization: String,
    /// The database (firewall targets); `None` for the organisation (monitoring targets).
    pub database: Option<String>,
    /// Read the audit log for this database's changes outside Perimeter (firewall targets).
    pub audit_changes: bool,
    /// Read the audit log when a sync finds drift, to say who made it (firewall targets whose
    /// `auditLog` is not `Ignore`).
    pub attribute_drift: bool,
    /// Read every database's allow rules for `NetworkOpen` (monitoring targets).
    pub open_databases: bool,
    /// Read the token owner's API tokens for `ApiTokenUnscoped` (monitoring targets).
    pub api_tokens: bool,
}

impl fmt::Display for TursoScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.database {
            Some(db) => write!(f, "database {}/{db}", self.organization),
            None => write!(f, "organization {}", self.organization),
        }
    }
}

// ---- desired ---------------------------------------------------------------------------

/// `allowedAddressSets` added to `allowedIps`.
pub fn with_address_sets(
    fw: &TursoFirewall,
    sets: &mut Resolver,
) -> Result<TursoFirewall, SetError> {
    let mut out = fw.clone();
    let Some(names) = out.allowed_address_sets.take() else {
        return Ok(out);
    };
    let found = sets.expand("spec.turso.allowedAddressSets", &names)?;
    addresses::merge(&mut out.allowed_ips, found);
    Ok(out)
}

pub fn firewall_target(fw: &TursoFirewall) -> Result<Target, Invalid> {
    if fw.allowed_address_sets.is_some() {
        return Err(addresses::unresolved("spec.turso.allowedAddressSets"));
    }
    let mut items = Vec::new();
    if let Some(list) = &fw.allowed_ips {
        let ips = desired_ips(list)?;
        items.push(
            Item::new(ALLOWED_IPS)
                .field("value", ips.clone())
                .with_raw(Value::from(ips)),
        );
    }
    if let Some(list) = &fw.allowed_aws_vpc_ids {
        let ids = desired_vpcs(list)?;
        items.push(
            Item::new(ALLOWED_VPCS)
                .field("value", ids.clone())
                .with_raw(Value::from(ids)),
        );
    }
    if let Some(on) = fw.delete_protection {
        items.push(
            Item::new(DELETE_PROTECTION)
                .field("value", on)
                .with_raw(Value::Bool(on)),
        );
    }
    let mut state = State::default();
    if !items.is_empty() {
        state.push(Section::new(CONFIG, SectionKind::Settings, items));
    }
    Ok(Target {
        purpose: Purpose::Firewall,
        scope: Scope::new(TursoScope {
            organization: fw.organization.clone(),
            database: Some(fw.database.clone()),
            audit_changes: fw.audit_log == Some(Reporting::Report),
            attribute_drift: fw.audit_log != Some(Reporting::Ignore),
            open_databases: false,
            api_tokens: false,
        }),
        desired: state,
    })
}

pub fn monitoring_target(mon: &TursoMonitoring) -> Result<Target, Invalid> {
    let mut state = State::default();
    if mon.audit_log_required == Some(true) {
        state.push(Section::new(
            AUDIT,
            SectionKind::Settings,
            vec![Item::new(AVAILABLE).field("value", true)],
        ));
    }
    Ok(Target {
        purpose: Purpose::Monitoring,
        scope: Scope::new(TursoScope {
            organization: mon.organization.clone(),
            database: None,
            audit_changes: false,
            attribute_drift: false,
            open_databases: mon.open_databases.unwrap_or_default() == Reporting::Report,
            api_tokens: mon.api_tokens.unwrap_or_default() == Reporting::Report,
        }),
        desired: state,
    })
}

/// Declared addresses and ranges in canonical form (`203.0.113.7` → `203.0.113.7/32`),
/// sorted: the API keeps no order.
fn desired_ips(list: &[String]) -> Result<Vec<String>, Invalid> {
    let mut out = BTreeSet::new();
    for value in list {
        let cidr =
            normalize::cidr(value).map_err(|e| Invalid(format!("{ALLOWED_IPS}: {}", e.0)))?;
        if !out.insert(cidr.clone()) {
            return Err(Invalid(format!(
                "{ALLOWED_IPS}: {cidr:?} is declared twice"
            )));
        }
    }
    Ok(out.into_iter().collect())
}

fn desired_vpcs(list: &[String]) -> Result<Vec<String>, Invalid> {
    let mut out = BTreeSet::new();
    for value in list {
        let ok = value.strip_prefix("vpce-").is_some_and(|hex| {
            matches!(hex.len(), 8 | 17)
                && hex
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        });
        if !ok {
            return Err(Invalid(format!(
                "{ALLOWED_VPCS}: {:?} is not a VPC endpoint id such as vpce-0fe6c8807461bba49",
                sanitize(value, 40)
            )));
        }
        if !out.insert(value.clone()) {
            return Err(Invalid(format!(
                "{ALLOWED_VPCS}: {value:?} is declared twice"
            )));
        }
    }
    Ok(out.into_iter().collect())
}

// ---- the write -------------------------------------------------------------------------

/// The body of `PATCH …/configuration` for a desired configuration section: every declared
/// setting under its API name (a declared empty list as `[]`), and nothing else. See the
/// module's notes for why neither may differ.
pub fn configuration_patch(desired: &Section) -> Result<Value, Invalid> {
    let mut body = Map::new();
    for item in &desired.items {
        let (_, field) = SETTINGS
            .iter()
            .find(|(name, _)| *name == item.key)
            .ok_or_else(|| bad(format!("{CONFIG}: unknown setting {:?}", item.key)))?;
        let value = item
            .raw
            .clone()
            .ok_or_else(|| bad(format!("{CONFIG}[{}]: no value to write", item.key)))?;
        let typed = match item.key.as_str() {
            DELETE_PROTECTION => value.is_boolean(),
            _ => value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string)),
        };
        if !typed {
            return Err(bad(format!(
                "{CONFIG}[{}]: the value to write has the wrong type",
                item.key
            )));
        }
        body.insert((*field).to_string(), value);
    }
    Ok(Value::Object(body))
}

// ---- observed --------------------------------------------------------------------------

fn bad(what: impl fmt::Display) -> Invalid {
    Invalid(what.to_string())
}

/// A list of strings from an answer: absent or `null` is empty (the spec marks no field
/// required, and a database never restricted may not carry the list).
fn strings<'a>(answer: &'a Value, field: &str) -> Result<Vec<&'a str>, Invalid> {
    match answer.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| bad(format!("{field} holds a value that is not a string")))
            })
            .collect(),
        Some(_) => Err(bad(format!("{field} is not a list"))),
    }
}

/// An observed address list: canonical and sorted where it parses; text Perimeter cannot parse
/// is kept (sanitised and bounded), so it shows as drift rather than vanishing.
fn observed_ips(answer: &Value) -> Result<Vec<String>, Invalid> {
    let set: BTreeSet<String> = strings(answer, "allowed_ips")?
        .into_iter()
        .map(|t| normalize::cidr(t).unwrap_or_else(|_| sanitize(t, 60)))
        .collect();
    Ok(set.into_iter().collect())
}

fn observed_vpcs(answer: &Value) -> Result<Vec<String>, Invalid> {
    let set: BTreeSet<String> = strings(answer, "allowed_aws_vpc_ids")?
        .into_iter()
        .map(|t| sanitize(t, 60))
        .collect();
    Ok(set.into_iter().collect())
}

/// The answer of `GET`/`PATCH …/configuration` (`DatabaseConfigurationResponse`). A
/// `delete_protection` the answer does not carry is not observed, so a declared one shows as
/// missing, never as equal.
pub fn observed_configuration(answer: &Value) -> Result<Section, Invalid> {
    if !answer.is_object() {
        return Err(bad("the database configuration is not an object"));
    }
    let mut items = vec![
        Item::new(ALLOWED_IPS).field("value", observed_ips(answer)?),
        Item::new(ALLOWED_VPCS).field("value", observed_vpcs(answer)?),
    ];
    match answer.get("delete_protection") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(on)) => items.push(Item::new(DELETE_PROTECTION).field("value", *on)),
        Some(_) => return Err(bad("delete_protection is not a boolean")),
    }
    Ok(Section::new(CONFIG, SectionKind::Settings, items))
}

/// The database names of the answer of `GET /v1/organizations/{org}/databases` (branches
/// included: each is a database with its own allow rules).
pub fn database_names(answer: &Value) -> Result<Vec<String>, Invalid> {
    let list = answer
        .get("databases")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("databases is not a list"))?;
    list.iter()
        .map(|db| {
            db.get("Name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .ok_or_else(|| bad("a database without a Name"))
        })
        .collect()
}

/// The `NetworkOpen` finding for one database's configuration answer, if it accepts
/// connections from anywhere: no VPC endpoint rule, and no address rule or one that allows a
/// whole address family.
pub fn network_open(database: &str, answer: &Value) -> Result<Option<Finding>, Invalid> {
    let section = observed_configuration(answer)?;
    let list = |key: &str| -> Vec<String> {
        section
            .get(key)
            .and_then(|i| i.fields.get("value"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    if !list(ALLOWED_VPCS).is_empty() {
        return Ok(None);
    }
    let ips = list(ALLOWED_IPS);
    let world: Vec<&str> = WORLD
        .iter()
        .copied()
        .filter(|w| ips.iter().any(|ip| ip == w))
        .collect();
    let name = sanitize(database, 64);
    let message = if ips.is_empty() {
        format!("database {name} has no allow rule: any address can connect")
    } else if !world.is_empty() {
        format!(
            "database {name} allows {} and no VPC endpoint rule: any address can connect",
            world.join(", ")
        )
    } else {
        return Ok(None);
    };
    Ok(Some(Finding {
        code: NETWORK_OPEN,
        subject: format!("databases[{name}]"),
        message,
    }))
}

/// `ApiTokenUnscoped` findings from the answer of `GET /v1/auth/api-tokens`: each token with no
/// `organization` has access to every organisation of its user.
pub fn unscoped_tokens(answer: &Value) -> Result<Vec<Finding>, Invalid> {
    let list = answer
        .get("tokens")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("tokens is not a list"))?;
    let mut out = Vec::new();
    for token in list {
        if !token.is_object() {
            return Err(bad("a token is not an object"));
        }
        match token.get("organization") {
            Some(Value::String(org)) if !org.is_empty() => continue,
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(_) => return Err(bad("a token's organization is not a string")),
        }
        let text = |key: &str, max: usize| {
            token
                .get(key)
                .and_then(Value::as_str)
                .map(|s| sanitize(s, max))
        };
        let name = text("name", 64).unwrap_or_else(|| "(unnamed)".to_string());
        let id = text("id", 64)
            .map(|i| format!(", id {i}"))
            .unwrap_or_default();
        let created = text("created_at", 32)
            .map(|c| format!(", created {c}"))
            .unwrap_or_default();
        out.push(Finding {
            code: API_TOKEN_UNSCOPED,
            subject: format!("apiTokens[{name}]"),
            message: format!(
                "platform API token {name}{id}{created} is not restricted to an organisation: it can reach every organisation of its user"
            ),
        });
    }
    Ok(out)
}

/// The audit-log section of a monitoring target: whether the log could be read. A plan
/// without it is a `NotEntitled` finding.
pub fn observed_audit(available: bool) -> (Section, Option<Finding>) {
    let section = Section::new(
        AUDIT,
        SectionKind::Settings,
        vec![Item::new(AVAILABLE).field("value", available)],
    );
    let finding = (!available).then(|| Finding {
        code: NOT_ENTITLED,
        subject: AUDIT.to_string(),
        message: format!("{NOT_ENTITLED_MESSAGE} (audit logs need the Scaler plan or above)"),
    });
    (section, finding)
}

/// One page of `GET /v1/organizations/{org}/audit-logs`, read for one database.
#[derive(Debug, Default, PartialEq)]
pub struct AuditPage {
    pub findings: Vec<Finding>,
    /// The page's entries for the database as attribution events, Perimeter's own included
    /// (as Perimeter's): protection changes name `deleteProtection`; a database created or
    /// deleted again changes its whole configuration.
    pub events: Vec<crate::core::attribution::AuditEvent>,
    /// Whether an older page may still hold entries newer than `since`.
    pub more: bool,
}

/// The `ChangedOutsidePerimeter` findings of one audit-log page (newest first, as the API
/// orders it) for `database`: entries with an [`AUDITED_CODES`] code, that name the database,
/// are not older than `since`, and whose author is not `own_author` (Perimeter's own user, see
/// the module's notes). An entry whose time does not parse makes the page unreadable rather
/// than silently skipped.
pub fn audit_page(
    answer: &Value,
    database: &str,
    own_author: &str,
    since: Timestamp,
) -> Result<AuditPage, Invalid> {
    let list = answer
        .get("audit_logs")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("audit_logs is not a list"))?;
    let mut page = AuditPage::default();
    let mut reached_since = false;
    for entry in list {
        let at: Timestamp = entry
            .get("created_at")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("an audit entry's created_at is not an ISO 8601 instant"))?;
        if at < since {
            reached_since = true;
            continue;
        }
        let Some(code) = entry.get("code").and_then(Value::as_str) else {
            return Err(bad("an audit entry without a code"));
        };
        if !AUDITED_CODES.contains(&code) {
            continue;
        }
        let names_database = entry.get("data").is_some_and(|data| {
            AUDIT_DATABASE_KEYS
                .iter()
                .any(|k| data.get(k).and_then(Value::as_str) == Some(database))
        });
        if !names_database {
            continue;
        }
        let author = entry.get("author").and_then(Value::as_str).unwrap_or("");
        let own = !own_author.is_empty() && author == own_author;
        page.events.push(crate::core::attribution::AuditEvent {
            section: CONFIG.to_string(),
            key: matches!(code, "db-protect" | "db-unprotect")
                .then(|| DELETE_PROTECTION.to_string()),
            actor: if own {
                crate::core::attribution::Actor::Perimeter
            } else {
                crate::core::attribution::Actor::other(
                    if author.is_empty() {
                        "an unknown author".to_string()
                    } else {
                        sanitize(author, 64)
                    },
                    entry
                        .get("origin")
                        .and_then(Value::as_str)
                        .map(|o| sanitize(o, 16)),
                )
            },
            at,
        });
        if own {
            continue;
        }
        let author = if author.is_empty() {
            "an unknown author".to_string()
        } else {
            sanitize(author, 64)
        };
        let origin = entry
            .get("origin")
            .and_then(Value::as_str)
            .map(|o| format!(" ({})", sanitize(o, 16)))
            .unwrap_or_default();
        page.findings.push(Finding {
            code: CHANGED_OUTSIDE_PERIMETER,
            subject: format!("databases[{}]", sanitize(database, 64)),
            message: format!("{code} by {author}{origin} at {at}, not by Perimeter"),
        });
    }
    let pagination = answer.get("pagination");
    let number = |key: &str| pagination.and_then(|p| p.get(key)).and_then(Value::as_u64);
    page.more = !reached_since
        && matches!((number("page"), number("total_pages")), (Some(p), Some(t)) if p < t);
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Undeclared, diff};
    use serde_json::json;

    fn fw(yaml: &str) -> TursoFirewall {
        serde_yaml::from_str(&format!("organization: acme\ndatabase: orders\n{yaml}"))
            .expect("test fixture parses")
    }

    fn mon(yaml: &str) -> TursoMonitoring {
        serde_yaml::from_str(&format!("organization: acme\n{yaml}")).expect("test fixture parses")
    }

    /// A `DatabaseConfigurationResponse` as the spec's example gives it.
    fn config(ips: Value, vpcs: Value, protect: bool) -> Value {
        json!({
            "size_limit": "10000", "allow_attach": true, "block_reads": false,
            "block_writes": false, "delete_protection": protect,
            "allowed_ips": ips, "allowed_aws_vpc_ids": vpcs
        })
    }

    fn patch_for(yaml: &str) -> Value {
        let target = firewall_target(&fw(yaml)).expect("valid");
        match target.desired.section(CONFIG) {
            Some(section) => configuration_patch(section).expect("a body"),
            None => json!({}),
        }
    }

    /// The omit-vs-clear rule: a declared list is always sent, a declared empty list as `[]`;
    /// an undeclared list or setting is never a key of the body.
    #[test]
    fn the_patch_body_sends_exactly_the_declared_settings() {
        let cases = [
            (
                "allowedIps: []",
                json!({"allowed_ips": []}),
                "a declared empty list is sent as [] (clear), the undeclared one is absent",
            ),
            (
                "allowedAwsVpcIds: []",
                json!({"allowed_aws_vpc_ids": []}),
                "the same for the VPC list",
            ),
            (
                "allowedIps: []\nallowedAwsVpcIds: []",
                json!({"allowed_ips": [], "allowed_aws_vpc_ids": []}),
                "both cleared",
            ),
            (
                "allowedIps: [\"203.0.113.7\", \"10.1.2.3/8\"]",
                json!({"allowed_ips": ["10.0.0.0/8", "203.0.113.7/32"]}),
                "canonical and sorted",
            ),
            (
                "allowedAwsVpcIds: [vpce-0fe6c8807461bba49]\ndeleteProtection: false",
                json!({"allowed_aws_vpc_ids": ["vpce-0fe6c8807461bba49"], "delete_protection": false}),
                "false is sent, not dropped",
            ),
            (
                "deleteProtection: true",
                json!({"delete_protection": true}),
                "no list declared: no list sent",
            ),
            ("", json!({}), "nothing declared: no section, no write"),
        ];
        for (yaml, want, why) in cases {
            assert_eq!(patch_for(yaml), want, "{why}");
        }
        let target = firewall_target(&fw("allowedIps: []")).expect("valid");
        let body =
            configuration_patch(target.desired.section(CONFIG).expect("section")).expect("body");
        let keys: Vec<&String> = body.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["allowed_ips"], "the VPC key is absent, not null");
    }

    #[test]
    fn the_patch_body_refuses_what_it_cannot_send() {
        let unknown = Section::new(
            CONFIG,
            SectionKind::Settings,
            vec![Item::new("blockReads").with_raw(json!(true))],
        );
        assert!(configuration_patch(&unknown).is_err());
        let no_value = Section::new(CONFIG, SectionKind::Settings, vec![Item::new(ALLOWED_IPS)]);
        assert!(configuration_patch(&no_value).is_err());
        let wrong = Section::new(
            CONFIG,
            SectionKind::Settings,
            vec![Item::new(DELETE_PROTECTION).with_raw(json!([]))],
        );
        assert!(configuration_patch(&wrong).is_err());
    }

    #[test]
    fn targets_carry_their_scope() {
        let t = firewall_target(&fw("auditLog: Ignore")).expect("valid");
        assert_eq!(t.purpose, Purpose::Firewall);
        assert_eq!(t.scope.to_string(), "database acme/orders");
        let scope = t.scope.get::<TursoScope>().expect("turso scope");
        assert_eq!(scope.database.as_deref(), Some("orders"));
        assert!(!scope.audit_changes && !scope.open_databases && !scope.api_tokens);
        assert!(!scope.attribute_drift);
        assert!(
            t.desired.sections.is_empty(),
            "nothing declared, nothing read"
        );
        // The audit log at every sync only when asked for; absent, only when drift is found.
        for (audit_log, every_sync, on_drift) in
            [("", false, true), ("auditLog: Report", true, true)]
        {
            let t = firewall_target(&fw(audit_log)).expect("valid");
            let scope = t.scope.get::<TursoScope>().expect("turso scope");
            assert_eq!(
                (scope.audit_changes, scope.attribute_drift),
                (every_sync, on_drift),
                "{audit_log:?}"
            );
        }

        let t = monitoring_target(&mon("apiTokens: Ignore")).expect("valid");
        assert_eq!(t.purpose, Purpose::Monitoring);
        assert_eq!(t.scope.to_string(), "organization acme");
        let scope = t.scope.get::<TursoScope>().expect("turso scope");
        assert_eq!(
            (scope.open_databases, scope.api_tokens, scope.audit_changes),
            (true, false, false)
        );
        let t = monitoring_target(&mon("auditLogRequired: true")).expect("valid");
        assert_eq!(t.desired.sections[0].name, AUDIT);
    }

    /// Other spellings and orders of the same rules are not drift.
    #[test]
    fn equal_states_written_differently_show_no_drift() {
        let target = firewall_target(&fw(r#"
allowedIps: ["203.0.113.7", "2001:DB8::/32", "198.51.100.9/24"]
allowedAwsVpcIds: [vpce-0fe6c8807461bba49]
deleteProtection: true
"#))
        .expect("valid");
        let observed = observed_configuration(&config(
            json!(["2001:db8::/32", "198.51.100.0/24", "203.0.113.7/32"]),
            json!(["vpce-0fe6c8807461bba49"]),
            true,
        ))
        .expect("valid");
        let d = diff(
            &target.desired,
            &State {
                sections: vec![observed],
            },
            Undeclared::Remove,
        );
        assert!(d.drift.is_empty(), "{:?}", d.drift);
        assert!(d.unmanaged.is_empty(), "settings are never unmanaged");
        assert_eq!(d.managed, 3);
    }

    #[test]
    fn drift_is_reported_field_by_field() {
        let target = firewall_target(&fw(r#"
allowedIps: ["203.0.113.0/24"]
allowedAwsVpcIds: []
deleteProtection: true
"#))
        .expect("valid");
        let observed = observed_configuration(&config(
            json!(["0.0.0.0/0"]),
            json!(["vpce-0fe6c8807461bba49"]),
            false,
        ))
        .expect("valid");
        let d = diff(
            &target.desired,
            &State {
                sections: vec![observed],
            },
            Undeclared::Report,
        );
        let got: Vec<(&str, Option<&str>, Option<&str>)> = d
            .drift
            .iter()
            .map(|x| (x.path.as_str(), x.desired.as_deref(), x.observed.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "configuration[allowedIps]",
                    Some(r#"["203.0.113.0/24"]"#),
                    Some(r#"["0.0.0.0/0"]"#)
                ),
                (
                    "configuration[allowedAwsVpcIds]",
                    Some("[]"),
                    Some(r#"["vpce-0fe6c8807461bba49"]"#)
                ),
                (
                    "configuration[deleteProtection]",
                    Some("true"),
                    Some("false")
                ),
            ]
        );
    }

    /// A database never restricted may answer without the lists or without delete
    /// protection: the lists read as empty, delete protection as not observed (drift).
    #[test]
    fn missing_fields_read_as_empty_lists_and_unknown_protection() {
        let section = observed_configuration(&json!({"size_limit": "0"})).expect("valid");
        assert_eq!(
            section.get(ALLOWED_IPS).expect("ips").fields["value"],
            json!([])
        );
        assert_eq!(
            section.get(ALLOWED_VPCS).expect("vpcs").fields["value"],
            json!([])
        );
        assert!(section.get(DELETE_PROTECTION).is_none());
        let target = firewall_target(&fw("deleteProtection: false")).expect("valid");
        let d = diff(
            &target.desired,
            &State {
                sections: vec![section],
            },
            Undeclared::Report,
        );
        assert_eq!(d.drift.len(), 1, "a missing value is never equal to false");
    }

    #[test]
    fn invalid_blocks_are_rejected_with_a_reason() {
        let cases = [
            ("allowedIps: [\"10.0.0.0/33\"]", "not a CIDR"),
            (
                "allowedIps: [\"10.0.0.1/8\", \"10.0.0.0/8\"]",
                "\"10.0.0.0/8\" is declared twice",
            ),
            ("allowedAwsVpcIds: [vpc-12345678]", "not a VPC endpoint id"),
            ("allowedAwsVpcIds: [vpce-1234567]", "not a VPC endpoint id"),
            (
                "allowedAwsVpcIds: [vpce-12345678, vpce-12345678]",
                "declared twice",
            ),
        ];
        for (block, want) in cases {
            match firewall_target(&fw(block)) {
                Ok(_) => panic!("{block} should be invalid"),
                Err(e) => assert!(e.0.contains(want), "{block}: {} should mention {want}", e.0),
            }
        }
    }

    /// Answers that are not the documented shape are refused, never read as "nothing there".
    #[test]
    fn answers_of_the_wrong_shape_are_refused() {
        let configs = [
            json!([]),
            json!({"allowed_ips": "0.0.0.0/0"}),
            json!({"allowed_ips": [7]}),
            json!({"allowed_aws_vpc_ids": {}}),
            json!({"delete_protection": "yes"}),
        ];
        for answer in configs {
            assert!(observed_configuration(&answer).is_err(), "{answer}");
            assert!(network_open("db", &answer).is_err(), "{answer}");
        }
        assert!(database_names(&json!({"databases": {}})).is_err());
        assert!(database_names(&json!({"databases": [{"DbId": "x"}]})).is_err());
        assert!(database_names(&json!([])).is_err());
        assert!(unscoped_tokens(&json!({})).is_err());
        assert!(unscoped_tokens(&json!({"tokens": ["t"]})).is_err());
        assert!(unscoped_tokens(&json!({"tokens": [{"organization": 1}]})).is_err());
        let since = Timestamp::UNIX_EPOCH;
        assert!(audit_page(&json!({}), "db", "me", since).is_err());
        let no_time = json!({"audit_logs": [{"code": "db-create", "created_at": "yesterday"}]});
        assert!(audit_page(&no_time, "db", "me", since).is_err());
        let no_code = json!({"audit_logs": [{"created_at": "2026-11-29T10:00:00Z"}]});
        assert!(audit_page(&no_code, "db", "me", since).is_err());
    }

    #[test]
    fn open_databases_are_findings() {
        let cases = [
            (json!([]), json!([]), Some("has no allow rule")),
            (json!(null), json!(null), Some("has no allow rule")),
            (
                json!(["0.0.0.0/0", "10.0.0.0/8"]),
                json!([]),
                Some("allows 0.0.0.0/0 and no VPC endpoint rule"),
            ),
            (json!(["::0/0"]), json!([]), Some("allows ::/0")),
            (json!(["203.0.113.0/24"]), json!([]), None),
            (json!([]), json!(["vpce-0fe6c8807461bba49"]), None),
            (
                json!(["0.0.0.0/0"]),
                json!(["vpce-0fe6c8807461bba49"]),
                None,
            ),
        ];
        for (ips, vpcs, want) in cases {
            let got =
                network_open("orders", &config(ips.clone(), vpcs.clone(), true)).expect("valid");
            match (got, want) {
                (None, None) => {}
                (Some(f), Some(text)) => {
                    assert_eq!(f.code, NETWORK_OPEN);
                    assert_eq!(f.subject, "databases[orders]");
                    assert!(f.message.contains(text), "{}", f.message);
                }
                (got, want) => panic!("{ips} {vpcs}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// The `listDatabases` answer as the spec's `Database` example shapes it.
    #[test]
    fn database_names_include_branches() {
        let answer = json!({"databases": [
            {"Name": "orders", "DbId": "0eb771dd-6906-11ee-8553-eaa7715aeaf2",
             "Hostname": "orders-acme.turso.io", "block_reads": false, "block_writes": false,
             "regions": ["aws-us-east-1"], "primaryRegion": "aws-us-east-1", "group": "default",
             "delete_protection": false, "parent": null},
            {"Name": "orders-branch", "DbId": "1eb771dd-6906-11ee-8553-eaa7715aeaf2",
             "group": "default", "parent": {"id": "0eb771dd-6906-11ee-8553-eaa7715aeaf2",
             "name": "orders", "branched_at": "2025-04-15T13:14:34.468213117Z"}}
        ]});
        assert_eq!(
            database_names(&answer).expect("valid"),
            ["orders", "orders-branch"]
        );
        assert_eq!(
            database_names(&json!({"databases": []})).expect("valid"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn tokens_without_an_organisation_are_findings() {
        let answer = json!({"tokens": [
            {"name": "perimeter", "id": "clGFZ4STEe6fljpFzIum8A", "organization": "acme",
             "created_at": "2026-05-21"},
            {"name": "ci-bot", "id": "a1", "organization": "acme", "group": "default",
             "scopes": ["db:create", "db:configure"], "created_at": "2026-05-21"},
            {"name": "laptop\nx", "id": "b2", "created_at": "2024-01-02"},
            {"name": "old", "id": "c3", "organization": ""}
        ]});
        let findings = unscoped_tokens(&answer).expect("valid");
        let got: Vec<(&str, &str)> = findings
            .iter()
            .map(|f| (f.subject.as_str(), f.message.as_str()))
            .collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(findings.iter().all(|f| f.code == API_TOKEN_UNSCOPED));
        assert!(
            !got[0].0.contains('\n'),
            "provider text is sanitised: {got:?}"
        );
        assert!(got[0].1.contains("id b2, created 2024-01-02"), "{got:?}");
        assert_eq!(got[1].0, "apiTokens[old]");
    }

    #[test]
    fn the_audit_section_says_whether_the_plan_has_it() {
        let (section, finding) = observed_audit(true);
        assert_eq!(
            section.get(AVAILABLE).expect("item").fields["value"],
            json!(true)
        );
        assert_eq!(finding, None);
        let (_, finding) = observed_audit(false);
        let finding = finding.expect("a finding");
        assert_eq!(finding.code, NOT_ENTITLED);
        assert!(finding.message.contains(NOT_ENTITLED_MESSAGE));
    }

    fn entry(code: &str, author: &str, at: &str, data: Value) -> Value {
        json!({"code": code, "message": "", "origin": "web", "author": author,
               "created_at": at, "data": data})
    }

    /// Only entries that change a managed setting of this database, in the window, by
    /// someone other than Perimeter's user, are findings; paging stops at the window's edge.
    #[test]
    fn audit_entries_outside_perimeter_are_findings() {
        let since: Timestamp = "2026-11-28T12:00:00Z".parse().expect("instant");
        let answer = json!({
            "audit_logs": [
                entry("db-unprotect", "mallory", "2026-11-29T10:00:00Z", json!({"name": "orders"})),
                entry("db-protect", "perimeter-bot", "2026-11-29T09:00:00Z", json!({"name": "orders"})),
                entry("db-unprotect", "mallory", "2026-11-29T08:00:00Z", json!({"name": "billing"})),
                entry("db-token-create", "mallory", "2026-11-29T07:00:00Z", json!({"name": "orders"})),
                entry("db-create", "", "2026-11-29T06:00:00Z", json!({"database": "orders"})),
                entry("db-delete", "mallory", "2026-11-29T05:00:00Z", json!({})),
                entry("db-unprotect", "mallory", "2026-11-27T05:00:00Z", json!({"name": "orders"}))
            ],
            "pagination": {"page": 1, "page_size": 100, "total_pages": 3, "total_rows": 250}
        });
        let page = audit_page(&answer, "orders", "perimeter-bot", since).expect("valid");
        let messages: Vec<&str> = page.findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "db-unprotect by mallory (web) at 2026-11-29T10:00:00Z, not by Perimeter",
                "db-create by an unknown author (web) at 2026-11-29T06:00:00Z, not by Perimeter",
            ]
        );
        assert!(
            page.findings
                .iter()
                .all(|f| f.code == CHANGED_OUTSIDE_PERIMETER && f.subject == "databases[orders]")
        );
        assert!(!page.more, "an entry older than the window ends the read");
        // The same entries as attribution events: Perimeter's own protect is Perimeter's, a
        // protection change names deleteProtection, a database created again the whole
        // configuration.
        let events: Vec<(String, Option<&str>)> = page
            .events
            .iter()
            .map(|e| (e.actor.label(), e.key.as_deref()))
            .collect();
        assert_eq!(
            events,
            [
                ("mallory via web".to_string(), Some(DELETE_PROTECTION)),
                ("Perimeter".to_string(), Some(DELETE_PROTECTION)),
                ("an unknown author via web".to_string(), None),
            ]
        );

        let recent = json!({
            "audit_logs": [entry("db-create", "alice", "2026-11-29T10:00:00Z", json!({"name": "x"}))],
            "pagination": {"page": 1, "page_size": 1, "total_pages": 2, "total_rows": 2}
        });
        assert!(
            audit_page(&recent, "orders", "perimeter-bot", since)
                .expect("valid")
                .more
        );
        let last = json!({
            "audit_logs": [entry("db-create", "alice", "2026-11-29T10:00:00Z", json!({"name": "x"}))],
            "pagination": {"page": 2, "page_size": 1, "total_pages": 2, "total_rows": 2}
        });
        assert!(
            !audit_page(&last, "orders", "perimeter-bot", since)
                .expect("valid")
                .more
        );
        // Without Perimeter's own user (it could not be read) every entry counts.
        let page = audit_page(&answer, "orders", "", since).expect("valid");
        assert_eq!(page.findings.len(), 3);
    }

    #[test]
    fn every_setting_has_its_api_name() {
        let body = patch_for("allowedIps: []\nallowedAwsVpcIds: []\ndeleteProtection: true");
        let keys: Vec<&str> = body
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut want: Vec<&str> = SETTINGS.iter().map(|(_, f)| *f).collect();
        want.sort();
        assert_eq!(keys, want);
    }
}
