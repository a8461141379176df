//! Pure mapping between the Upstash Developer API's answers, the policy blocks and the neutral
//! model. One `GET /redis/database/{id}` answers every section; the audit log
//! (`GET /auditlogs`) only adds findings. Every section is a `Settings` section: a database has
//! exactly one of each setting, so nothing at the provider is ever "unmanaged".

use std::collections::BTreeSet;
use std::fmt;

use jiff::Timestamp;

use crate::core::attribution::OwnWrites;
use serde_json::{Value, json};

use crate::core::addresses::{self, Resolver, SetError};
use crate::core::normalize::{self, Invalid};
use crate::core::{Item, Section, SectionKind, State};
use crate::http::sanitize;
use crate::providers::upstash::api::{
    AuditReporting, SecurityAddon, UpstashFirewall, UpstashMonitoring,
};
use crate::providers::{Finding, Purpose, Scope, Target};

/// The IP allowlist: items `allowedIps` (the list) and `entitlement` (whether the plan can
/// restrict at all).
pub const ALLOWLIST: &str = "ipAllowlist";
/// TLS: item `enabled`.
pub const TLS: &str = "tls";
/// Security add-ons: one item per declared add-on, keyed by the API's name
/// (`tlsMutualAuth`), field `enabled`.
pub const ADDONS: &str = "securityAddons";
/// The Prometheus integration: item `enabled`.
pub const PROMETHEUS: &str = "prometheus";

pub const ALLOWED_IPS: &str = "allowedIps";
pub const ENTITLEMENT: &str = "entitlement";
pub const ENABLED: &str = "enabled";

/// The entitlement of a plan that can restrict the database's network.
pub const ALLOWED: &str = "allowed";
/// The entitlement of the free plan, which cannot.
pub const DISALLOWED: &str = "disallowed";
/// The plan (`type`) that cannot have an allowlist.
pub const FREE_PLAN: &str = "free";

/// The plan does not allow an allowlist, or a declared security add-on is not enabled.
pub const NOT_ENTITLED: &str = crate::core::model::NOT_ENTITLED;
/// The audit log shows an allowlist change that Perimeter did not make.
pub const CHANGED_OUTSIDE_PERIMETER: &str = crate::core::model::CHANGED_OUTSIDE_PERIMETER;

/// Every finding code this provider's reads can report.
pub const FINDING_CODES: &[&str] = &[
    NOT_ENTITLED,
    CHANGED_OUTSIDE_PERIMETER,
    crate::core::model::MANUAL_CHANGE_NEEDED,
];

/// Sections the Developer API reads but cannot write, with what a person must do instead.
/// (Security add-ons are bought, not switched: their drift carries `NotEntitled`.)
pub const READ_ONLY: &[(&str, &str)] = &[(
    PROMETHEUS,
    "the Prometheus integration is off: switch it on in the Upstash console (the database's Monitoring settings); the Developer API cannot",
)];

/// What the compliance gap says when the plan cannot restrict the database's network.
pub const NOT_ENTITLED_MESSAGE: &str = "the free plan does not allow an IP allowlist";

/// The answer's field that holds the allowlist. Not in the official spec's `Database` schema:
/// Upstash's Terraform provider reads it (it is absent or `null` on a database never
/// restricted).
pub const ALLOWLIST_FIELD: &str = "allowed_ip_ranges";
/// The body field of `POST /redis/update-allowlist/{id}` (also from the Terraform provider).
pub const ALLOWLIST_BODY_FIELD: &str = "allowed_ips";

/// Words of an audit entry's `action_string` that mark an allowlist change. The spec gives the
/// field but not its values; Upstash's console calls the feature both "allowlist" and (in
/// `securityAddons.ipWhitelisting`) "whitelist".
const ALLOWLIST_ACTION_WORDS: [&str; 2] = ["allowlist", "whitelist"];
/// The `source` prefix of an action made with a Developer API key (the spec's example:
/// `API_KEY - system_tests`, that is, the key's name follows).
pub const API_KEY_SOURCE: &str = "API_KEY";
/// How many outside changes a finding quotes; the count is always given in full.
const CHANGES_QUOTED: usize = 5;

/// Where an Upstash target applies: one Redis database. What to read besides the declared
/// sections travels with it, so the client needs nothing else from the block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstashScope {
    pub database_id: String,
    /// Whether the audit log is read for outside allowlist changes (firewall targets only).
    pub read_audit: bool,
    /// Whether the audit log is read when a sync finds drift, to say who made it (firewall
    /// targets whose `auditLog` is not `Ignore`).
    pub attribute_drift: bool,
}

impl fmt::Display for UpstashScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "database {}", self.database_id)
    }
}

// ---- desired ---------------------------------------------------------------------------

/// `allowedAddressSets` added to `allowedIps`. The allowlist takes IPv4 only: a set with an
/// IPv6 address is refused, naming it, rather than written without it.
pub fn with_address_sets(
    fw: &UpstashFirewall,
    sets: &mut Resolver,
) -> Result<UpstashFirewall, SetError> {
    let mut out = fw.clone();
    let Some(names) = out.allowed_address_sets.take() else {
        return Ok(out);
    };
    let rules = addresses::ListRules {
        whose: "Upstash's allowlist",
        ipv4_only: true,
        max: None,
    };
    addresses::merge_sets(
        sets,
        "spec.upstash.allowedAddressSets",
        &names,
        &mut out.allowed_ips,
        rules,
    )?;
    Ok(out)
}

pub fn firewall_target(fw: &UpstashFirewall) -> Result<Target, Invalid> {
    if fw.allowed_address_sets.is_some() {
        return Err(addresses::unresolved("spec.upstash.allowedAddressSets"));
    }
    let mut state = State::default();
    if let Some(list) = &fw.allowed_ips {
        let ips = desired_ips(list)?;
        state.push(Section::new(
            ALLOWLIST,
            SectionKind::Settings,
            vec![
                Item::new(ALLOWED_IPS)
                    .field("value", ips.clone())
                    .with_raw(allowlist_body(&ips)),
                Item::new(ENTITLEMENT).field("value", ALLOWED),
            ],
        ));
    }
    if fw.tls.is_some() {
        state.push(Section::new(
            TLS,
            SectionKind::Settings,
            vec![Item::new(ENABLED).field("value", true)],
        ));
    }
    if let Some(addons) = &fw.security_addons {
        let unique: BTreeSet<_> = addons.iter().copied().collect();
        if unique.len() != addons.len() {
            return Err(Invalid(format!(
                "{ADDONS}: an add-on is declared twice in securityAddons"
            )));
        }
        let items = unique
            .into_iter()
            .map(|a| Item::new(a.as_str()).field(ENABLED, true))
            .collect();
        state.push(Section::new(ADDONS, SectionKind::Settings, items));
    }
    Ok(Target {
        purpose: Purpose::Firewall,
        scope: Scope::new(UpstashScope {
            database_id: fw.database_id.clone(),
            read_audit: fw.audit_log == Some(AuditReporting::Report),
            attribute_drift: fw.audit_log != Some(AuditReporting::Ignore),
        }),
        desired: state,
    })
}

pub fn monitoring_target(mon: &UpstashMonitoring) -> Result<Target, Invalid> {
    let mut state = State::default();
    if mon.prometheus.is_some() {
        state.push(Section::new(
            PROMETHEUS,
            SectionKind::Settings,
            vec![Item::new(ENABLED).field("value", true)],
        ));
    }
    Ok(Target {
        purpose: Purpose::Monitoring,
        scope: Scope::new(UpstashScope {
            database_id: mon.database_id.clone(),
            read_audit: false,
            attribute_drift: false,
        }),
        desired: state,
    })
}

/// The declared allowlist in canonical form (`/32` for a single address), sorted: the API
/// keeps no order.
fn desired_ips(list: &[String]) -> Result<Vec<String>, Invalid> {
    let mut out = BTreeSet::new();
    for value in list {
        let cidr =
            normalize::cidr(value).map_err(|e| Invalid(format!("{ALLOWED_IPS}: {}", e.0)))?;
        if cidr.contains(':') {
            return Err(Invalid(format!(
                "{ALLOWED_IPS}: {value:?} is IPv6; the Upstash allowlist takes IPv4 only"
            )));
        }
        if !out.insert(cidr.clone()) {
            return Err(Invalid(format!(
                "{ALLOWED_IPS}: {cidr:?} is declared twice"
            )));
        }
    }
    Ok(out.into_iter().collect())
}

/// The body of `POST /redis/update-allowlist/{id}`: single addresses are sent bare, the form
/// Upstash documents for them; ranges as CIDRs.
pub fn allowlist_body(canonical: &[String]) -> Value {
    let wire: Vec<&str> = canonical
        .iter()
        .map(|c| c.strip_suffix("/32").unwrap_or(c))
        .collect();
    json!({ ALLOWLIST_BODY_FIELD: wire })
}

// ---- observed --------------------------------------------------------------------------

fn bad(what: impl fmt::Display) -> Invalid {
    Invalid(what.to_string())
}

/// The database's identity as the answer gives it: its id and its name (the audit log names
/// the database by either).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseRef {
    pub id: String,
    pub name: String,
}

/// Checks that the answer of `GET /redis/database/{id}` is a database, and the one asked for.
pub fn database_ref(answer: &Value, wanted_id: &str) -> Result<DatabaseRef, Invalid> {
    if !answer.is_object() {
        return Err(bad("the database answer is not an object"));
    }
    let id = answer
        .get("database_id")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("database_id is not a string"))?;
    if !id.eq_ignore_ascii_case(wanted_id) {
        return Err(bad(format!(
            "the answer is for database {}, not {wanted_id}",
            sanitize(id, 40)
        )));
    }
    let name = answer
        .get("database_name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("database_name is not a string"))?;
    Ok(DatabaseRef {
        id: id.to_string(),
        name: name.to_string(),
    })
}

/// The allowlist (`allowed_ip_ranges`) and the plan's entitlement, with the `NotEntitled`
/// finding on the free plan. A database never restricted has no list: it reads as empty, so a
/// declared list shows as drift. Entries Perimeter cannot parse are kept (sanitised and
/// bounded), so they show as drift rather than vanishing.
pub fn observed_allowlist(db: &Value) -> Result<(Section, Vec<Finding>), Invalid> {
    let plan = db
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("type (the plan) is not a string"))?;
    let values = match db.get(ALLOWLIST_FIELD) {
        None | Some(Value::Null) => &Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(bad(format!("{ALLOWLIST_FIELD} is not a list"))),
    };
    let mut ips = BTreeSet::new();
    for v in values {
        let text = v.as_str().ok_or_else(|| {
            bad(format!(
                "{ALLOWLIST_FIELD} holds a value that is not a string"
            ))
        })?;
        ips.insert(normalize::cidr(text).unwrap_or_else(|_| sanitize(text, 60)));
    }
    let ips: Vec<String> = ips.into_iter().collect();
    let entitlement = if plan == FREE_PLAN {
        DISALLOWED
    } else {
        ALLOWED
    };
    let mut findings = Vec::new();
    if entitlement != ALLOWED {
        findings.push(Finding {
            code: NOT_ENTITLED,
            subject: ALLOWLIST.to_string(),
            message: format!("{NOT_ENTITLED_MESSAGE} (plan: {FREE_PLAN})"),
        });
    }
    let raw = db
        .get(ALLOWLIST_FIELD)
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    Ok((
        Section::new(
            ALLOWLIST,
            SectionKind::Settings,
            vec![
                Item::new(ALLOWED_IPS).field("value", ips).with_raw(raw),
                Item::new(ENTITLEMENT).field("value", entitlement),
            ],
        ),
        findings,
    ))
}

/// TLS (`tls`).
pub fn observed_tls(db: &Value) -> Result<Section, Invalid> {
    let tls = db
        .get("tls")
        .and_then(Value::as_bool)
        .ok_or_else(|| bad("tls is not a boolean"))?;
    Ok(Section::new(
        TLS,
        SectionKind::Settings,
        vec![Item::new(ENABLED).field("value", tls)],
    ))
}

/// The security add-ons (`securityAddons`): one item per add-on in the answer, and a
/// `NotEntitled` finding for each of `wanted` that is not enabled (or absent from the answer).
pub fn observed_addons(db: &Value, wanted: &[&str]) -> Result<(Section, Vec<Finding>), Invalid> {
    let addons = db
        .get("securityAddons")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("securityAddons is not an object"))?;
    let mut items = Vec::new();
    for addon in SecurityAddon::ALL {
        let name = addon.as_str();
        match addons.get(name) {
            None => {}
            Some(Value::Bool(on)) => items.push(Item::new(name).field(ENABLED, *on)),
            Some(_) => return Err(bad(format!("securityAddons.{name} is not a boolean"))),
        }
    }
    let findings = wanted
        .iter()
        .filter(|w| {
            !items
                .iter()
                .any(|i| i.key == **w && i.fields.get(ENABLED) == Some(&Value::Bool(true)))
        })
        .map(|w| Finding {
            code: NOT_ENTITLED,
            subject: format!("{ADDONS}[{w}]"),
            message: format!(
                "the security add-on {w} is not enabled on the database (add-ons are bought in the Upstash console)"
            ),
        })
        .collect();
    Ok((Section::new(ADDONS, SectionKind::Settings, items), findings))
}

/// The Prometheus integration (`prometheus_enabled`). The spec types it as the string
/// `"true"`/`"false"`; a JSON boolean is read the same way, anything else is refused.
pub fn observed_prometheus(db: &Value) -> Result<Section, Invalid> {
    let on = match db.get("prometheus_enabled") {
        Some(Value::String(s)) if s == "true" => true,
        Some(Value::String(s)) if s == "false" => false,
        Some(Value::Bool(b)) => *b,
        _ => return Err(bad("prometheus_enabled is not \"true\" or \"false\"")),
    };
    Ok(Section::new(
        PROMETHEUS,
        SectionKind::Settings,
        vec![Item::new(ENABLED).field("value", on)],
    ))
}

// ---- audit log -------------------------------------------------------------------------

/// What tells Perimeter's own allowlist changes apart from everyone else's in the audit log.
///
/// The audit log's `actor` is the account's e-mail, the same for Perimeter (which
/// authenticates with that e-mail) and for a person in the console, so it cannot tell them
/// apart. The `source` can: an action made with a Developer API key is stamped
/// `API_KEY - <key name>`. An entry is Perimeter's own when
/// 1. the credential names Perimeter's key (`keyName`) and the entry's source is that key's —
///    this survives restarts, and holds as long as the key is Perimeter's alone; or
/// 2. without a key name only: its source is an API key and it is stamped within
///    [`OWN_WRITE_SKEW`](crate::core::attribution::OWN_WRITE_SKEW) of an allowlist write this process made to the same database. This
///    lasts only as long as the process: after a restart, Perimeter's earlier writes
///    are reported as outside changes until they leave the look-back window. The error is on
///    the side of reporting, never of hiding.
///
/// A console change made in the same minute as a Perimeter write is not masked by rule 2: its
/// source is not an API key.
#[derive(Clone, Debug, Default)]
pub struct OwnChanges {
    /// The name of Perimeter's Developer API key, from the credential.
    pub key_name: Option<String>,
    /// Allowlist writes this process made, by database id (lower case) and when each was
    /// sent.
    pub writes: OwnWrites,
}

impl OwnChanges {
    fn is_own(&self, entry: &AuditEntry, database_id: &str) -> bool {
        let source = entry.source.trim();
        let Some(key) = source.strip_prefix(API_KEY_SOURCE) else {
            return false;
        };
        if let Some(name) = &self.key_name {
            // Perimeter's key is named: an entry of any other key is someone else's, even
            // in the moment of one of Perimeter's writes.
            return key.trim_start().strip_prefix('-').map(str::trim) == Some(name.as_str());
        }
        self.writes
            .covers(&database_id.to_ascii_lowercase(), ALLOWLIST, entry.at)
    }
}

/// One audit-log entry, the fields Perimeter reads.
#[derive(Clone, Debug, PartialEq)]
struct AuditEntry {
    at: Timestamp,
    action: String,
    entity: String,
    actor: String,
    source: String,
}

fn audit_entry(v: &Value) -> Result<AuditEntry, Invalid> {
    let text = |key: &str| match v.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(bad(format!("an audit entry's {key} is not a string"))),
    };
    let seconds = v
        .get("timestamp")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("an audit entry's timestamp is not an integer"))?;
    let at = Timestamp::from_second(seconds)
        .map_err(|_| bad("an audit entry's timestamp is out of range"))?;
    let action = text("action_string")?;
    if action.is_empty() {
        return Err(bad("an audit entry has no action_string"));
    }
    Ok(AuditEntry {
        at,
        action,
        entity: text("entity")?,
        actor: text("actor")?,
        source: text("source")?,
    })
}

fn changes_allowlist(entry: &AuditEntry, db: &DatabaseRef) -> bool {
    let action = entry.action.to_ascii_lowercase();
    ALLOWLIST_ACTION_WORDS.iter().any(|w| action.contains(w))
        && (entry.entity == db.name || entry.entity.eq_ignore_ascii_case(&db.id))
}

/// What the audit log says of one database's allowlist.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditRead {
    /// `ChangedOutsidePerimeter`, when a change in the window was not Perimeter's own.
    pub finding: Option<Finding>,
    /// The latest allowlist change in the window, whoever made it, for status and the evidence
    /// trail: `allowlist changed 2026-11-29T10:00:00Z by ops@example.com`.
    pub revision: Option<String>,
    /// Every allowlist change in the window, Perimeter's own included (as Perimeter's), for
    /// attributing allowlist drift.
    pub events: Vec<crate::core::attribution::AuditEvent>,
}

/// The answer of `GET /auditlogs`: the allowlist changes to `db` stamped after `since`, and the
/// finding for those Perimeter did not make (newest first, the first few quoted with their
/// actor, time and source). Every entry must have a timestamp and an action: an entry that
/// cannot be classified refuses the whole answer rather than hide a change.
pub fn audit_read(
    answer: &Value,
    db: &DatabaseRef,
    own: &OwnChanges,
    since: Timestamp,
) -> Result<AuditRead, Invalid> {
    let list = answer
        .as_array()
        .ok_or_else(|| bad("the audit log is not a list"))?;
    let mut changes = Vec::new();
    for v in list {
        let entry = audit_entry(v)?;
        if entry.at >= since && changes_allowlist(&entry, db) {
            changes.push(entry);
        }
    }
    changes.sort_by_key(|c| std::cmp::Reverse(c.at));
    let revision = changes
        .first()
        .map(|c| format!("allowlist changed {} by {}", c.at, actor_text(&c.actor)));
    let events = changes
        .iter()
        .map(|c| crate::core::attribution::AuditEvent {
            section: ALLOWLIST.to_string(),
            key: Some(ALLOWED_IPS.to_string()),
            actor: if own.is_own(c, &db.id) {
                crate::core::attribution::Actor::Perimeter
            } else {
                crate::core::attribution::Actor::other(
                    actor_text(&c.actor),
                    (!c.source.is_empty()).then(|| sanitize(&c.source, 60)),
                )
            },
            at: c.at,
        })
        .collect();
    let outside: Vec<&AuditEntry> = changes.iter().filter(|c| !own.is_own(c, &db.id)).collect();
    let finding = (!outside.is_empty()).then(|| {
        let quoted = outside
            .iter()
            .take(CHANGES_QUOTED)
            .map(|c| {
                let source = if c.source.is_empty() {
                    "no source".to_string()
                } else {
                    sanitize(&c.source, 60)
                };
                format!("by {} at {} ({source})", actor_text(&c.actor), c.at)
            })
            .collect::<Vec<_>>()
            .join("; ");
        let more = if outside.len() > CHANGES_QUOTED {
            format!("; and {} earlier", outside.len() - CHANGES_QUOTED)
        } else {
            String::new()
        };
        Finding {
            code: CHANGED_OUTSIDE_PERIMETER,
            subject: ALLOWLIST.to_string(),
            message: format!(
                "the allowlist of {} was changed outside Perimeter {} time(s): {quoted}{more}",
                sanitize(&db.name, 64),
                outside.len()
            ),
        }
    });
    Ok(AuditRead {
        finding,
        revision,
        events,
    })
}

fn actor_text(actor: &str) -> String {
    if actor.is_empty() {
        "an unknown actor".to_string()
    } else {
        sanitize(actor, 80)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Undeclared, diff};

    const ID: &str = "96ad0856-03b1-4ee7-9666-e81abd0349e1";

    /// Allowlist writes of this process, as the client records them (ids in lower case).
    fn writes(list: &[(&str, &str)]) -> OwnWrites {
        let mut own = OwnWrites::default();
        for (id, when) in list {
            own.record(&id.to_ascii_lowercase(), ALLOWLIST, at(when));
        }
        own
    }

    fn fw(yaml: &str) -> UpstashFirewall {
        serde_yaml::from_str(&format!("databaseId: {ID}\n{yaml}")).expect("test fixture parses")
    }

    fn mon(yaml: &str) -> UpstashMonitoring {
        serde_yaml::from_str(&format!("databaseId: {ID}\n{yaml}")).expect("test fixture parses")
    }

    /// A `Database` as the spec's example describes it, plus the Terraform provider's
    /// `allowed_ip_ranges` (absent when `ranges` is `None`).
    fn database(plan: &str, tls: bool, ranges: Option<Value>, prometheus: Value) -> Value {
        let mut db = json!({
            "database_id": ID, "database_name": "MyRedis", "region": "global", "port": 6379,
            "creation_time": 1752649602, "state": "active", "endpoint": "beloved-stallion-58500",
            "tls": tls, "type": plan, "budget": 360, "primary_region": "us-east-1",
            "primary_members": ["us-east-1"], "all_members": ["us-east-1"],
            "eviction": false, "auto_upgrade": false, "consistent": false,
            "db_acl_enabled": "false", "daily_backup_enabled": false, "read_regions": ["us-east-2"],
            "securityAddons": {"ipWhitelisting": true, "vpcPeering": false, "privateLink": false,
                               "tlsMutualAuth": false, "encryptionAtRest": true},
            "prometheus_enabled": prometheus, "prod_pack_enabled": false
        });
        if let (Some(r), Some(obj)) = (ranges, db.as_object_mut()) {
            obj.insert(ALLOWLIST_FIELD.into(), r);
        }
        db
    }

    fn observe(db: &Value, wanted_addons: &[&str]) -> (State, Vec<Finding>) {
        let (allowlist, mut findings) = observed_allowlist(db).expect("allowlist");
        let (addons, more) = observed_addons(db, wanted_addons).expect("addons");
        findings.extend(more);
        let state = State {
            sections: vec![
                allowlist,
                observed_tls(db).expect("tls"),
                addons,
                observed_prometheus(db).expect("prometheus"),
            ],
        };
        (state, findings)
    }

    fn drift(target: &Target, observed: &State) -> Vec<(String, Option<String>, Option<String>)> {
        let d = diff(&target.desired, observed, Undeclared::Remove);
        assert!(d.unmanaged.is_empty(), "settings are never unmanaged");
        d.drift
            .into_iter()
            .map(|x| (x.path, x.desired, x.observed))
            .collect()
    }

    #[test]
    fn targets_carry_their_database() {
        // (target, read at every sync, read when drift is found, purpose)
        let cases = [
            (firewall_target(&fw("")), false, true, Purpose::Firewall),
            (
                firewall_target(&fw("auditLog: Report")),
                true,
                true,
                Purpose::Firewall,
            ),
            (
                firewall_target(&fw("auditLog: Ignore")),
                false,
                false,
                Purpose::Firewall,
            ),
            (
                monitoring_target(&mon("prometheus: Required")),
                false,
                false,
                Purpose::Monitoring,
            ),
        ];
        for (target, read_audit, attribute_drift, purpose) in cases {
            let target = target.expect("valid");
            let want = UpstashScope {
                database_id: ID.into(),
                read_audit,
                attribute_drift,
            };
            assert_eq!(target.scope.get::<UpstashScope>(), Some(&want));
            assert_eq!(target.scope.to_string(), format!("database {ID}"));
            assert_eq!(target.purpose, purpose);
        }
    }

    /// Bare addresses, host bits and order are not drift; the body sends single addresses bare.
    #[test]
    fn equal_states_written_differently_show_no_drift() {
        let target = firewall_target(&fw(r#"
allowedIps: ["203.0.113.7/24", "198.51.100.4"]
tls: Required
securityAddons: [encryptionAtRest, ipWhitelisting]
"#))
        .expect("valid");
        let item = target.desired.sections[0].get(ALLOWED_IPS).expect("item");
        assert_eq!(
            item.raw,
            Some(json!({"allowed_ips": ["198.51.100.4", "203.0.113.0/24"]}))
        );
        let db = database(
            "paid",
            true,
            Some(json!(["203.0.113.0/24", "198.51.100.4/32"])),
            json!("true"),
        );
        let (observed, findings) = observe(&db, &["encryptionAtRest", "ipWhitelisting"]);
        assert!(findings.is_empty(), "{findings:?}");
        assert!(drift(&target, &observed).is_empty());
        let prometheus = monitoring_target(&mon("prometheus: Required")).expect("valid");
        assert!(drift(&prometheus, &observed).is_empty());
    }

    /// A missing egress range, an open entry, TLS off, an add-on off and Prometheus off are
    /// each named, field by field.
    #[test]
    fn drift_is_reported_field_by_field() {
        let target = firewall_target(&fw(r#"
allowedIps: ["203.0.113.0/24"]
tls: Required
securityAddons: [tlsMutualAuth]
"#))
        .expect("valid");
        let db = database(
            "pro",
            false,
            Some(json!(["0.0.0.0/0", "not an ip\u{7}"])),
            json!("false"),
        );
        let (observed, findings) = observe(&db, &["tlsMutualAuth"]);
        let s = |x: &str| Some(x.to_string());
        assert_eq!(
            drift(&target, &observed),
            [
                (
                    "ipAllowlist[allowedIps]".to_string(),
                    s(r#"["203.0.113.0/24"]"#),
                    s(r#"["0.0.0.0/0","not an ip "]"#)
                ),
                ("tls[enabled]".to_string(), s("true"), s("false")),
                (
                    "securityAddons[tlsMutualAuth].enabled".to_string(),
                    s("true"),
                    s("false")
                ),
            ]
        );
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, NOT_ENTITLED);
        assert_eq!(findings[0].subject, "securityAddons[tlsMutualAuth]");
        let prometheus = monitoring_target(&mon("prometheus: Required")).expect("valid");
        assert_eq!(
            drift(&prometheus, &observed),
            [("prometheus[enabled]".to_string(), s("true"), s("false"))]
        );
    }

    /// The free plan cannot allowlist: drift on the entitlement and a finding that says so. A
    /// database never restricted (no `allowed_ip_ranges`, or `null`) reads as an empty list.
    #[test]
    fn free_plan_and_unrestricted_databases() {
        let target = firewall_target(&fw("allowedIps: [\"203.0.113.0/24\"]")).expect("valid");
        for ranges in [None, Some(Value::Null), Some(json!([]))] {
            let db = database("free", true, ranges.clone(), json!("false"));
            let (section, findings) = observed_allowlist(&db).expect("valid");
            assert_eq!(
                section.get(ALLOWED_IPS).expect("item").fields["value"],
                json!([]),
                "{ranges:?}"
            );
            let observed = State {
                sections: vec![section],
            };
            let paths: Vec<String> = drift(&target, &observed).into_iter().map(|d| d.0).collect();
            assert_eq!(
                paths,
                ["ipAllowlist[allowedIps]", "ipAllowlist[entitlement]"]
            );
            assert_eq!(findings.len(), 1);
            assert_eq!(findings[0].code, NOT_ENTITLED);
            assert!(findings[0].message.contains(NOT_ENTITLED_MESSAGE));
        }
        for plan in ["payg", "pro", "paid", "a plan Upstash adds later"] {
            let db = database(plan, true, None, json!("false"));
            let (_, findings) = observed_allowlist(&db).expect("valid");
            assert!(findings.is_empty(), "{plan}");
        }
    }

    #[test]
    fn invalid_blocks_are_rejected_with_a_reason() {
        let cases = [
            ("allowedIps: [\"10.0.0.0/33\"]", "not a CIDR"),
            ("allowedIps: [\"2001:db8::/32\"]", "IPv4 only"),
            (
                "allowedIps: [\"10.0.0.1\", \"10.0.0.1/32\"]",
                "\"10.0.0.1/32\" is declared twice",
            ),
            ("securityAddons: [vpcPeering, vpcPeering]", "declared twice"),
        ];
        for (block, want) in cases {
            match firewall_target(&fw(block)) {
                Ok(_) => panic!("{block} should be invalid"),
                Err(e) => assert!(e.0.contains(want), "{block}: {} should mention {want}", e.0),
            }
        }
        for block in ["tls: true", "tls: Optional", "securityAddons: [firewall]"] {
            assert!(
                serde_yaml::from_str::<UpstashFirewall>(&format!("databaseId: {ID}\n{block}"))
                    .is_err(),
                "{block}"
            );
        }
    }

    /// Answers that are not the documented shape are refused, never read as "nothing there".
    #[test]
    fn answers_of_the_wrong_shape_are_refused() {
        let ok = database("paid", true, None, json!("true"));
        let broken = |key: &str, value: Value| {
            let mut db = ok.clone();
            if let Some(obj) = db.as_object_mut() {
                match value {
                    Value::Null => obj.remove(key),
                    v => obj.insert(key.into(), v),
                };
            }
            db
        };
        assert!(observed_allowlist(&broken("type", Value::Null)).is_err());
        assert!(observed_allowlist(&broken(ALLOWLIST_FIELD, json!("0.0.0.0/0"))).is_err());
        assert!(observed_allowlist(&broken(ALLOWLIST_FIELD, json!([7]))).is_err());
        assert!(observed_tls(&broken("tls", json!("true"))).is_err());
        assert!(observed_tls(&broken("tls", Value::Null)).is_err());
        assert!(observed_prometheus(&broken("prometheus_enabled", json!("yes"))).is_err());
        assert!(observed_prometheus(&broken("prometheus_enabled", Value::Null)).is_err());
        assert!(observed_addons(&broken("securityAddons", json!([])), &[]).is_err());
        assert!(
            observed_addons(&broken("securityAddons", json!({"vpcPeering": "no"})), &[]).is_err()
        );
        assert!(observed_prometheus(&broken("prometheus_enabled", json!(true))).is_ok());
        assert!(database_ref(&json!([]), ID).is_err());
        assert!(database_ref(&broken("database_name", Value::Null), ID).is_err());
        let other = database_ref(&ok, "00000000-0000-0000-0000-000000000000");
        assert!(other.is_err(), "an answer for another database is refused");
        assert_eq!(
            database_ref(&ok, &ID.to_uppercase()).expect("same id"),
            DatabaseRef {
                id: ID.into(),
                name: "MyRedis".into()
            }
        );
    }

    /// An add-on absent from the answer is not enabled.
    #[test]
    fn an_addon_missing_from_the_answer_is_not_entitled() {
        let db = json!({"securityAddons": {"ipWhitelisting": true}});
        let (section, findings) =
            observed_addons(&db, &["ipWhitelisting", "privateLink"]).expect("valid");
        assert_eq!(section.items.len(), 1);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].subject, "securityAddons[privateLink]");
    }

    fn at(s: &str) -> Timestamp {
        s.parse().expect("test instant")
    }

    /// An `AuditLog` entry as the spec describes it.
    fn entry(when: &str, action: &str, entity: &str, actor: &str, source: &str) -> Value {
        json!({
            "log_id": "ab9744ed-f51c-4z58-a3cj-e3bs756154du", "customer_id": actor,
            "actor": actor, "timestamp": at(when).as_second(), "action": 13,
            "action_string": action, "source": source, "entity": entity,
            "secondary_entity": "NA", "third_entity": "", "readable_format": "",
            "ip": "192.0.2.10", "ttl": 1780311858, "reason": "", "notes": ""
        })
    }

    fn db_ref() -> DatabaseRef {
        DatabaseRef {
            id: ID.into(),
            name: "MyRedis".into(),
        }
    }

    /// Which allowlist changes are Perimeter's own: by the key's name, by the time of its own
    /// writes (API-key source only), and never a console change, whenever it was made.
    #[test]
    fn outside_changes_are_told_apart_from_perimeters_own() {
        let log = json!([
            entry(
                "2026-11-29T10:00:30Z",
                "Update IP Allowlist",
                "MyRedis",
                "ops@example.com",
                "API_KEY - perimeter"
            ),
            entry(
                "2026-11-29T10:00:40Z",
                "Update IP Allowlist",
                "MyRedis",
                "ops@example.com",
                "CONSOLE"
            ),
            entry(
                "2026-11-29T09:00:00Z",
                "Update Whitelist",
                ID,
                "ci@example.com",
                "API_KEY - ci"
            ),
            entry(
                "2026-11-29T10:05:00Z",
                "Rename Database",
                "MyRedis",
                "ops@example.com",
                "CONSOLE"
            ),
            entry(
                "2026-11-29T10:06:00Z",
                "Update IP Allowlist",
                "OtherRedis",
                "ops@example.com",
                "CONSOLE"
            ),
            entry(
                "2026-11-20T10:00:00Z",
                "Update IP Allowlist",
                "MyRedis",
                "old@example.com",
                "CONSOLE"
            ),
        ]);
        let since = at("2026-11-22T00:00:00Z");
        let write = || writes(&[(ID, "2026-11-29T10:00:00Z")]);
        let own = |key: Option<&str>, writes: OwnWrites| OwnChanges {
            key_name: key.map(str::to_string),
            writes,
        };
        // (what Perimeter knows of itself, the sources reported, the sources not reported)
        let cases = [
            (
                own(None, OwnWrites::default()),
                vec!["API_KEY - perimeter", "CONSOLE", "API_KEY - ci"],
                vec![],
            ),
            (
                own(Some("perimeter"), OwnWrites::default()),
                vec!["CONSOLE", "API_KEY - ci"],
                vec!["API_KEY - perimeter"],
            ),
            (
                own(None, write()),
                vec!["CONSOLE", "API_KEY - ci"],
                vec!["API_KEY - perimeter"],
            ),
            // A named key: another key's change is reported, even at the moment of a write.
            (
                own(Some("ci"), write()),
                vec!["CONSOLE", "API_KEY - perimeter"],
                vec!["API_KEY - ci"],
            ),
        ];
        for (own, reported, not_reported) in cases {
            let read = audit_read(&log, &db_ref(), &own, since).expect("valid");
            assert_eq!(
                read.revision.as_deref(),
                Some("allowlist changed 2026-11-29T10:00:40Z by ops@example.com")
            );
            let f = read.finding.expect("a finding");
            assert_eq!(f.code, CHANGED_OUTSIDE_PERIMETER);
            assert_eq!(f.subject, ALLOWLIST);
            let count = format!("outside Perimeter {} time(s)", reported.len());
            assert!(f.message.contains(&count), "{own:?}: {}", f.message);
            for source in reported {
                assert!(
                    f.message.contains(&format!("({source})")),
                    "{own:?}: {}",
                    f.message
                );
            }
            for source in not_reported {
                assert!(
                    !f.message.contains(&format!("({source})")),
                    "{own:?}: {}",
                    f.message
                );
            }
            assert!(
                f.message
                    .contains("by ops@example.com at 2026-11-29T10:00:40Z (CONSOLE)"),
                "actor and time: {}",
                f.message
            );
            assert!(!f.message.contains("old@example.com"), "outside the window");
        }
        let all_own = OwnChanges {
            key_name: Some("perimeter".into()),
            writes: OwnWrites::default(),
        };
        let only_own = json!([log[0].clone()]);
        let read = audit_read(&only_own, &db_ref(), &all_own, since).expect("valid");
        assert_eq!(read.finding, None);
        assert!(read.revision.is_some());
    }

    /// A write's own time does not cover a change stamped well after it.
    #[test]
    fn own_writes_cover_only_their_moment() {
        let own = OwnChanges {
            key_name: None,
            writes: writes(&[(ID, "2026-11-29T10:00:00Z")]),
        };
        let since = at("2026-11-01T00:00:00Z");
        for (when, reported) in [
            ("2026-11-29T10:01:59Z", false),
            ("2026-11-29T09:58:01Z", false),
            ("2026-11-29T10:02:01Z", true),
            ("2026-11-29T09:57:59Z", true),
        ] {
            let log = json!([entry(
                when,
                "Update IP Allowlist",
                "MyRedis",
                "a@example.com",
                "API_KEY - k"
            )]);
            let read = audit_read(&log, &db_ref(), &own, since).expect("valid");
            assert_eq!(read.finding.is_some(), reported, "{when}");
            // The same entry, as the attribution of allowlist drift: Perimeter's own write is
            // Perimeter's, anyone else's names them and how.
            let actor = read.events.first().map(|e| e.actor.label());
            let want = if reported {
                "a@example.com via API_KEY - k"
            } else {
                "Perimeter"
            };
            assert_eq!(actor.as_deref(), Some(want), "{when}");
            assert_eq!(
                read.events
                    .first()
                    .map(|e| (e.section.as_str(), e.key.as_deref())),
                Some((ALLOWLIST, Some(ALLOWED_IPS)))
            );
        }
    }

    #[test]
    fn outside_changes_are_bounded_and_sanitised() {
        let log: Vec<Value> = (0..8)
            .map(|i| {
                entry(
                    &format!("2026-11-29T10:0{i}:00Z"),
                    "Update IP Allowlist",
                    "MyRedis",
                    "evil\nactor@example.com",
                    "",
                )
            })
            .collect();
        let read = audit_read(
            &Value::from(log),
            &db_ref(),
            &OwnChanges::default(),
            at("2026-11-01T00:00:00Z"),
        )
        .expect("valid");
        let f = read.finding.expect("a finding");
        assert!(f.message.contains("8 time(s)"), "{}", f.message);
        assert!(f.message.ends_with("; and 3 earlier"), "{}", f.message);
        assert!(
            f.message.contains("evil actor@example.com"),
            "{}",
            f.message
        );
        assert!(!f.message.contains('\n'));
        assert!(f.message.contains("(no source)"));
    }

    /// An entry that cannot be classified refuses the whole answer.
    #[test]
    fn audit_answers_of_the_wrong_shape_are_refused() {
        let since = at("2026-11-01T00:00:00Z");
        for answer in [
            json!({}),
            json!([{"action_string": "Update IP Allowlist", "entity": "MyRedis"}]),
            json!([{"timestamp": "1764587058", "action_string": "x"}]),
            json!([{"timestamp": 1764587058}]),
            json!([{"timestamp": 1764587058, "action_string": "x", "actor": 7}]),
        ] {
            assert!(
                audit_read(&answer, &db_ref(), &OwnChanges::default(), since).is_err(),
                "{answer}"
            );
        }
    }

    #[test]
    fn every_addon_has_its_api_name() {
        for a in SecurityAddon::ALL {
            assert_eq!(
                serde_json::to_value(a).expect("serialises"),
                json!(a.as_str())
            );
        }
    }
}
