//! Pure mapping between the Supabase Management API's answers, the policy blocks and the
//! neutral model. Every section is a `Settings` section: a project has exactly one of each
//! setting, so nothing at the provider is ever "unmanaged".

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Value, json};

use crate::core::addresses::{self, Resolver, SetError};
use crate::core::normalize::{self, Invalid};
use crate::core::{Item, Section, SectionKind, State};
use crate::http::sanitize;
use crate::providers::supabase::api::{
    AuthRateLimits, BanReporting, SupabaseFirewall, SupabaseMonitoring,
};
use crate::providers::{Finding, Purpose, Scope, Target};

/// Database network restrictions: items `dbAllowedCidrs`, `dbAllowedCidrsV6` (the requested
/// lists), `status` (`applied` once Supabase has applied them) and `entitlement` (whether the
/// plan allows restrictions at all).
pub const NETWORK: &str = "networkRestrictions";
/// Database SSL enforcement: item `database`.
pub const SSL: &str = "sslEnforcement";
/// Auth rate limits: one item per declared limit, keyed by its policy name (`emailSent`).
pub const AUTH: &str = "authRateLimits";
/// Service health: one item per declared service, keyed by the API's name (`auth`).
pub const HEALTH: &str = "serviceHealth";

pub const V4: &str = "dbAllowedCidrs";
pub const V6: &str = "dbAllowedCidrsV6";
pub const STATUS: &str = "status";
pub const ENTITLEMENT: &str = "entitlement";
pub const DATABASE: &str = "database";

/// The status of restrictions that Supabase has applied to the project.
pub const APPLIED: &str = "applied";
/// The entitlement of a plan that can restrict the database's network.
pub const ALLOWED: &str = "allowed";
/// The status `/health` reports for a service that is up.
pub const HEALTHY: &str = "ACTIVE_HEALTHY";

/// The project's plan does not allow network restrictions (`entitlement: disallowed`).
pub const NOT_ENTITLED: &str = crate::core::model::NOT_ENTITLED;
/// Supabase has banned addresses from the database (brute-force protection).
pub const NETWORK_BANS: &str = "NetworkBans";
/// A declared service does not report `ACTIVE_HEALTHY`.
pub use crate::core::model::SERVICE_UNHEALTHY;

/// Every finding code this provider's reads can report.
pub const FINDING_CODES: &[&str] = &[NOT_ENTITLED, NETWORK_BANS, SERVICE_UNHEALTHY];

/// What the compliance gap says when the plan cannot restrict the database's network.
pub const NOT_ENTITLED_MESSAGE: &str = "the plan does not allow network restrictions";

/// How many banned addresses a finding quotes; the count is always given in full.
const BANS_QUOTED: usize = 20;

/// The Auth rate limits: the policy's name and the API's field of each.
pub const AUTH_LIMITS: [(&str, &str); 7] = [
    ("anonymousUsers", "rate_limit_anonymous_users"),
    ("emailSent", "rate_limit_email_sent"),
    ("smsSent", "rate_limit_sms_sent"),
    ("tokenRefresh", "rate_limit_token_refresh"),
    ("verify", "rate_limit_verify"),
    ("otp", "rate_limit_otp"),
    ("web3", "rate_limit_web3"),
];

/// The API field of an Auth rate limit, by its policy name.
pub fn auth_field(key: &str) -> Option<&'static str> {
    AUTH_LIMITS
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, field)| *field)
}

/// Where a Supabase target applies: one project. What to read besides the declared sections
/// travels with it, so the client needs nothing else from the block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupabaseScope {
    pub project_ref: String,
    /// Whether the project's network bans are read (firewall targets only).
    pub read_bans: bool,
}

impl fmt::Display for SupabaseScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "project {}", self.project_ref)
    }
}

// ---- desired ---------------------------------------------------------------------------

/// `dbAllowedAddressSets` added to the two allowlists, each address to the list of its family.
pub fn with_address_sets(
    fw: &SupabaseFirewall,
    sets: &mut Resolver,
) -> Result<SupabaseFirewall, SetError> {
    let mut out = fw.clone();
    let Some(names) = out.db_allowed_address_sets.take() else {
        return Ok(out);
    };
    let found = sets.expand("spec.supabase.dbAllowedAddressSets", &names)?;
    let (v6, v4): (Vec<String>, Vec<String>) = found.into_iter().partition(|a| addresses::is_v6(a));
    addresses::merge(&mut out.db_allowed_cidrs, v4);
    addresses::merge(&mut out.db_allowed_cidrs_v6, v6);
    Ok(out)
}

pub fn firewall_target(fw: &SupabaseFirewall) -> Result<Target, Invalid> {
    if fw.db_allowed_address_sets.is_some() {
        return Err(addresses::unresolved("spec.supabase.dbAllowedAddressSets"));
    }
    let mut state = State::default();
    if fw.db_allowed_cidrs.is_some() || fw.db_allowed_cidrs_v6.is_some() {
        let mut items = Vec::new();
        for (key, list, v6) in [
            (V4, &fw.db_allowed_cidrs, false),
            (V6, &fw.db_allowed_cidrs_v6, true),
        ] {
            if let Some(list) = list {
                let cidrs = desired_cidrs(key, list, v6)?;
                items.push(
                    Item::new(key)
                        .field("value", cidrs.clone())
                        .with_raw(Value::from(cidrs)),
                );
            }
        }
        items.push(Item::new(STATUS).field("value", APPLIED));
        items.push(Item::new(ENTITLEMENT).field("value", ALLOWED));
        state.push(Section::new(NETWORK, SectionKind::Settings, items));
    }
    if let Some(ssl) = &fw.ssl_enforcement {
        state.push(Section::new(
            SSL,
            SectionKind::Settings,
            vec![
                Item::new(DATABASE)
                    .field("value", ssl.database)
                    .field("applied", true)
                    .with_raw(json!({"requestedConfig": {"database": ssl.database}})),
            ],
        ));
    }
    if let Some(limits) = &fw.auth_rate_limits {
        state.push(Section::new(
            AUTH,
            SectionKind::Settings,
            desired_auth(limits),
        ));
    }
    Ok(Target {
        purpose: Purpose::Firewall,
        scope: Scope::new(SupabaseScope {
            project_ref: fw.project_ref.clone(),
            read_bans: fw.network_bans == Some(BanReporting::Report),
        }),
        desired: state,
    })
}

pub fn monitoring_target(mon: &SupabaseMonitoring) -> Result<Target, Invalid> {
    let mut state = State::default();
    if let Some(services) = &mon.healthy_services {
        let unique: BTreeSet<_> = services.iter().copied().collect();
        if unique.len() != services.len() {
            return Err(Invalid(format!(
                "{HEALTH}: a service is declared twice in healthyServices"
            )));
        }
        let items = unique
            .into_iter()
            .map(|s| Item::new(s.as_str()).field("status", HEALTHY))
            .collect();
        state.push(Section::new(HEALTH, SectionKind::Settings, items));
    }
    Ok(Target {
        purpose: Purpose::Monitoring,
        scope: Scope::new(SupabaseScope {
            project_ref: mon.project_ref.clone(),
            read_bans: false,
        }),
        desired: state,
    })
}

/// A declared CIDR list in canonical form, sorted: the API keeps no order.
fn desired_cidrs(key: &str, list: &[String], v6: bool) -> Result<Vec<String>, Invalid> {
    let mut out = BTreeSet::new();
    for value in list {
        let cidr = normalize::cidr(value).map_err(|e| Invalid(format!("{key}: {}", e.0)))?;
        if cidr.contains(':') != v6 {
            let (family, other) = if v6 { ("IPv6", V4) } else { ("IPv4", V6) };
            return Err(Invalid(format!(
                "{key}: {value:?} is not an {family} range; put it in {other}"
            )));
        }
        if !out.insert(cidr.clone()) {
            return Err(Invalid(format!("{key}: {cidr:?} is declared twice")));
        }
    }
    Ok(out.into_iter().collect())
}

fn desired_auth(limits: &AuthRateLimits) -> Vec<Item> {
    let values = [
        limits.anonymous_users,
        limits.email_sent,
        limits.sms_sent,
        limits.token_refresh,
        limits.verify,
        limits.otp,
        limits.web3,
    ];
    AUTH_LIMITS
        .iter()
        .zip(values)
        .filter_map(|((name, field), value)| {
            let value = value?;
            Some(
                Item::new(*name)
                    .field("value", value)
                    .with_raw(json!({ *field: value })),
            )
        })
        .collect()
}

// ---- observed --------------------------------------------------------------------------

fn bad(what: impl fmt::Display) -> Invalid {
    Invalid(what.to_string())
}

/// An observed CIDR list: canonical and sorted where it parses; text Perimeter cannot parse is
/// kept (sanitised and bounded), so it shows as drift rather than vanishing.
fn observed_cidrs(list: Option<&Value>, key: &str) -> Result<Vec<String>, Invalid> {
    let values = match list {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(bad(format!("config.{key} is not a list"))),
    };
    let mut out = BTreeSet::new();
    for v in values {
        let text = v
            .as_str()
            .ok_or_else(|| bad(format!("config.{key} holds a value that is not a string")))?;
        out.insert(normalize::cidr(text).unwrap_or_else(|_| sanitize(text, 60)));
    }
    Ok(out.into_iter().collect())
}

/// The answer of `GET /network-restrictions` (and of `POST /network-restrictions/apply`),
/// with the `NotEntitled` finding when the plan does not allow restrictions.
/// The network restrictions' own revision, for status and the evidence trail:
/// `network restrictions updated 2026-11-29T10:00:00Z, applied 2026-11-29T10:00:05Z`. Only
/// parseable instants are quoted (the answer is outside data); `None` without either.
pub fn network_revision(answer: &Value) -> Option<String> {
    let at = |key: &str| {
        answer
            .get(key)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(|t| format!("{} {}", &key[..key.len() - 3], t))
    };
    let parts: Vec<String> = ["updated_at", "applied_at"]
        .iter()
        .filter_map(|k| at(k))
        .collect();
    (!parts.is_empty()).then(|| format!("network restrictions {}", parts.join(", ")))
}

pub fn observed_network(answer: &Value) -> Result<(Section, Vec<Finding>), Invalid> {
    let entitlement = match answer.get("entitlement").and_then(Value::as_str) {
        Some(e @ ("allowed" | "disallowed")) => e,
        _ => return Err(bad("entitlement is not allowed or disallowed")),
    };
    let status = match answer.get("status").and_then(Value::as_str) {
        Some(s @ ("applied" | "stored")) => s,
        _ => return Err(bad("status is not applied or stored")),
    };
    let config = match answer.get("config") {
        Some(c @ Value::Object(_)) => c,
        _ => return Err(bad("config is not an object")),
    };
    let mut items = Vec::new();
    for key in [V4, V6] {
        let raw = config.get(key).cloned().unwrap_or(Value::Array(Vec::new()));
        items.push(
            Item::new(key)
                .field("value", observed_cidrs(config.get(key), key)?)
                .with_raw(raw),
        );
    }
    items.push(Item::new(STATUS).field("value", status));
    items.push(Item::new(ENTITLEMENT).field("value", entitlement));
    let mut findings = Vec::new();
    if entitlement != ALLOWED {
        findings.push(Finding {
            code: NOT_ENTITLED,
            subject: NETWORK.to_string(),
            message: format!("{NOT_ENTITLED_MESSAGE} (entitlement: disallowed)"),
        });
    }
    Ok((
        Section::new(NETWORK, SectionKind::Settings, items),
        findings,
    ))
}

/// The answer of `GET`/`PUT /ssl-enforcement`.
pub fn observed_ssl(answer: &Value) -> Result<Section, Invalid> {
    let database = answer
        .get("currentConfig")
        .and_then(|c| c.get(DATABASE))
        .and_then(Value::as_bool)
        .ok_or_else(|| bad("currentConfig.database is not a boolean"))?;
    let applied = answer
        .get("appliedSuccessfully")
        .and_then(Value::as_bool)
        .ok_or_else(|| bad("appliedSuccessfully is not a boolean"))?;
    Ok(Section::new(
        SSL,
        SectionKind::Settings,
        vec![
            Item::new(DATABASE)
                .field("value", database)
                .field("applied", applied),
        ],
    ))
}

/// The rate limits of the answer of `GET /config/auth`. A limit that is `null` (not set) is
/// observed as `null`, so a declared one shows as drift.
pub fn observed_auth(answer: &Value) -> Result<Section, Invalid> {
    if !answer.is_object() {
        return Err(bad("the Auth config is not an object"));
    }
    let mut items = Vec::new();
    for (name, field) in AUTH_LIMITS {
        let value = match answer.get(field) {
            None | Some(Value::Null) => Value::Null,
            Some(v @ Value::Number(_)) => v.clone(),
            Some(_) => return Err(bad(format!("{field} is not a number"))),
        };
        items.push(Item::new(name).field("value", value));
    }
    Ok(Section::new(AUTH, SectionKind::Settings, items))
}

/// The `NetworkBans` finding from the answer of `POST /network-bans/retrieve`, if any address
/// is banned: the count, and the first addresses.
pub fn bans_finding(answer: &Value) -> Result<Option<Finding>, Invalid> {
    let list = answer
        .get("banned_ipv4_addresses")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("banned_ipv4_addresses is not a list"))?;
    let mut addresses = Vec::new();
    for v in list {
        let text = v
            .as_str()
            .ok_or_else(|| bad("banned_ipv4_addresses holds a value that is not a string"))?;
        addresses.push(normalize::ip(text).unwrap_or_else(|_| sanitize(text, 45)));
    }
    if addresses.is_empty() {
        return Ok(None);
    }
    addresses.sort();
    addresses.dedup();
    let count = addresses.len();
    let shown = addresses
        .iter()
        .take(BANS_QUOTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let more = if count > BANS_QUOTED {
        format!(" and {} more", count - BANS_QUOTED)
    } else {
        String::new()
    };
    Ok(Some(Finding {
        code: NETWORK_BANS,
        subject: "networkBans".to_string(),
        message: format!("{count} address(es) banned from the database: {shown}{more}"),
    }))
}

/// The answer of `GET /health`: one item per service in the answer, and a `ServiceUnhealthy`
/// finding for each of `wanted` that is not `ACTIVE_HEALTHY` (or absent from the answer).
pub fn observed_health(
    answer: &Value,
    wanted: &[&str],
) -> Result<(Section, Vec<Finding>), Invalid> {
    let list = answer
        .as_array()
        .ok_or_else(|| bad("the health answer is not a list"))?;
    let mut items = Vec::new();
    let mut findings = Vec::new();
    for entry in list {
        let name = entry
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a service without a name"))?;
        let status = entry
            .get("status")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a service without a status"))?;
        let status = sanitize(status, 40);
        if wanted.contains(&name) && status != HEALTHY {
            let error = entry
                .get("error")
                .and_then(Value::as_str)
                .map(|e| format!(": {}", sanitize(e, 200)))
                .unwrap_or_default();
            findings.push(Finding {
                code: SERVICE_UNHEALTHY,
                subject: format!("{HEALTH}[{name}]"),
                message: format!("{name} is {status}{error}"),
            });
        }
        items.push(Item::new(sanitize(name, 40)).field("status", status));
    }
    for name in wanted {
        if !items.iter().any(|i| i.key == *name) {
            findings.push(Finding {
                code: SERVICE_UNHEALTHY,
                subject: format!("{HEALTH}[{name}]"),
                message: format!("{name} is not in the health answer"),
            });
        }
    }
    Ok((Section::new(HEALTH, SectionKind::Settings, items), findings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Undeclared, diff};
    use crate::providers::supabase::api::Service;

    const REF: &str = "abcdefghijklmnopqrst";

    fn fw(yaml: &str) -> SupabaseFirewall {
        serde_yaml::from_str(&format!("projectRef: {REF}\n{yaml}")).expect("test fixture parses")
    }

    fn mon(yaml: &str) -> SupabaseMonitoring {
        serde_yaml::from_str(&format!("projectRef: {REF}\n{yaml}")).expect("test fixture parses")
    }

    /// A `NetworkRestrictionsResponse` as the spec describes it.
    fn network(v4: Value, v6: Value, status: &str, entitlement: &str) -> Value {
        json!({
            "entitlement": entitlement,
            "config": {"dbAllowedCidrs": v4, "dbAllowedCidrsV6": v6},
            "status": status,
            "updated_at": "2026-11-29T10:00:00.000Z",
            "applied_at": "2026-11-29T10:00:05.000Z"
        })
    }

    #[test]
    fn network_revision_quotes_only_instants() {
        let ok = network(json!([]), json!([]), "applied", "allowed");
        assert_eq!(
            network_revision(&ok).as_deref(),
            Some("network restrictions updated 2026-11-29T10:00:00Z, applied 2026-11-29T10:00:05Z")
        );
        let stored = json!({"updated_at": "2026-11-29T10:00:00Z", "applied_at": null});
        assert_eq!(
            network_revision(&stored).as_deref(),
            Some("network restrictions updated 2026-11-29T10:00:00Z")
        );
        let hostile = json!({"updated_at": "yesterday\nDROP", "applied_at": 17});
        assert_eq!(network_revision(&hostile), None);
    }

    fn ssl(database: bool, applied: bool) -> Value {
        json!({"currentConfig": {"database": database}, "appliedSuccessfully": applied})
    }

    /// The rate limits of an `AuthConfigResponse` (the real answer has ~200 more fields).
    fn auth(email: Value) -> Value {
        json!({
            "site_url": "https://example.com", "disable_signup": false,
            "rate_limit_anonymous_users": 30, "rate_limit_email_sent": email,
            "rate_limit_sms_sent": 30, "rate_limit_token_refresh": 150,
            "rate_limit_verify": 30, "rate_limit_otp": 30, "rate_limit_web3": 30
        })
    }

    fn observe_fw(net: &Value, ssl_answer: &Value, auth_answer: &Value) -> (State, Vec<Finding>) {
        let (section, findings) = observed_network(net).expect("network");
        let state = State {
            sections: vec![
                section,
                observed_ssl(ssl_answer).expect("ssl"),
                observed_auth(auth_answer).expect("auth"),
            ],
        };
        (state, findings)
    }

    fn drift_paths(target: &Target, observed: &State) -> Vec<String> {
        let d = diff(&target.desired, observed, Undeclared::Remove);
        assert!(d.unmanaged.is_empty(), "settings are never unmanaged");
        d.drift.into_iter().map(|x| x.path).collect()
    }

    /// The target says which project it applies to, and whether bans are read: only when
    /// declared.
    #[test]
    fn targets_carry_their_project() {
        let cases = [
            (firewall_target(&fw("")), false, Purpose::Firewall),
            (
                firewall_target(&fw("networkBans: Report")),
                true,
                Purpose::Firewall,
            ),
            (
                firewall_target(&fw("networkBans: Ignore")),
                false,
                Purpose::Firewall,
            ),
            (
                monitoring_target(&mon("healthyServices: [db]")),
                false,
                Purpose::Monitoring,
            ),
        ];
        for (target, read_bans, purpose) in cases {
            let target = target.expect("valid");
            let want = SupabaseScope {
                project_ref: REF.into(),
                read_bans,
            };
            assert_eq!(target.scope.get::<SupabaseScope>(), Some(&want));
            assert_eq!(target.scope.to_string(), format!("project {REF}"));
            assert_eq!(target.purpose, purpose);
        }
    }

    /// Other spellings, orders and host bits of the same ranges are not drift.
    #[test]
    fn equal_states_written_differently_show_no_drift() {
        let target = firewall_target(&fw(r#"
dbAllowedCidrs: ["203.0.113.7/24", "198.51.100.0/24"]
dbAllowedCidrsV6: ["2001:DB8::/32"]
sslEnforcement: {database: true}
authRateLimits: {emailSent: 4, tokenRefresh: 150}
"#))
        .expect("valid");
        let (observed, findings) = observe_fw(
            &network(
                json!(["198.51.100.0/24", "203.0.113.0/24"]),
                json!(["2001:db8::/32"]),
                "applied",
                "allowed",
            ),
            &ssl(true, true),
            &auth(json!(4)),
        );
        assert!(findings.is_empty());
        assert_eq!(drift_paths(&target, &observed), Vec::<String>::new());
        let d = diff(&target.desired, &observed, Undeclared::Report);
        assert_eq!(
            d.managed, 7,
            "two lists, status, entitlement, ssl, two limits"
        );
    }

    /// An open database, SSL off and a looser limit are each named, field by field.
    #[test]
    fn drift_is_reported_field_by_field() {
        let target = firewall_target(&fw(r#"
dbAllowedCidrs: ["203.0.113.0/24"]
sslEnforcement: {database: true}
authRateLimits: {emailSent: 4, otp: 30}
"#))
        .expect("valid");
        let (observed, _) = observe_fw(
            &network(json!(["0.0.0.0/0"]), json!(["::/0"]), "applied", "allowed"),
            &ssl(false, true),
            &auth(json!(null)),
        );
        let d = diff(&target.desired, &observed, Undeclared::Report);
        let got: Vec<(&str, Option<&str>, Option<&str>)> = d
            .drift
            .iter()
            .map(|x| (x.path.as_str(), x.desired.as_deref(), x.observed.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "networkRestrictions[dbAllowedCidrs]",
                    Some(r#"["203.0.113.0/24"]"#),
                    Some(r#"["0.0.0.0/0"]"#)
                ),
                ("sslEnforcement[database]", Some("true"), Some("false")),
                ("authRateLimits[emailSent]", Some("4"), Some("null")),
            ],
            "the undeclared IPv6 list and the equal otp limit are not drift"
        );
    }

    /// A change Supabase has only stored, SSL not applied, and a plan without restrictions
    /// are never in sync; the plan's refusal is a finding that says so.
    #[test]
    fn pending_unapplied_and_not_entitled_are_never_in_sync() {
        let target = firewall_target(&fw(
            "dbAllowedCidrs: [\"203.0.113.0/24\"]\nsslEnforcement: {database: true}",
        ))
        .expect("valid");
        let cases = [
            (
                "stored",
                "allowed",
                true,
                vec!["networkRestrictions[status]"],
                0,
            ),
            (
                "applied",
                "disallowed",
                true,
                vec!["networkRestrictions[entitlement]"],
                1,
            ),
            (
                "applied",
                "allowed",
                false,
                vec!["sslEnforcement[database].applied"],
                0,
            ),
        ];
        for (status, entitlement, ssl_applied, want, finding_count) in cases {
            let (observed, findings) = observe_fw(
                &network(json!(["203.0.113.0/24"]), json!([]), status, entitlement),
                &ssl(true, ssl_applied),
                &auth(json!(2)),
            );
            assert_eq!(
                drift_paths(&target, &observed),
                want,
                "{status} {entitlement}"
            );
            assert_eq!(findings.len(), finding_count);
            for f in findings {
                assert_eq!(f.code, NOT_ENTITLED);
                assert!(f.message.contains(NOT_ENTITLED_MESSAGE), "{}", f.message);
            }
        }
    }

    #[test]
    fn invalid_blocks_are_rejected_with_a_reason() {
        let cases = [
            ("dbAllowedCidrs: [\"10.0.0.0/33\"]", "not a CIDR"),
            (
                "dbAllowedCidrs: [\"2001:db8::/32\"]",
                "put it in dbAllowedCidrsV6",
            ),
            (
                "dbAllowedCidrsV6: [\"10.0.0.0/8\"]",
                "put it in dbAllowedCidrs",
            ),
            (
                "dbAllowedCidrs: [\"10.0.0.0/8\", \"10.1.0.0/8\"]",
                "\"10.0.0.0/8\" is declared twice",
            ),
        ];
        for (block, want) in cases {
            match firewall_target(&fw(block)) {
                Ok(_) => panic!("{block} should be invalid"),
                Err(e) => assert!(e.0.contains(want), "{block}: {} should mention {want}", e.0),
            }
        }
        let twice = mon("healthyServices: [db, auth, db]");
        assert!(monitoring_target(&twice).is_err());
    }

    /// Answers that are not the documented shape are refused, never read as "nothing there".
    #[test]
    fn answers_of_the_wrong_shape_are_refused() {
        let net = [
            json!({"config": {}, "status": "applied"}),
            json!({"entitlement": "allowed", "config": {}, "status": "pending"}),
            json!({"entitlement": "allowed", "config": [], "status": "applied"}),
            json!({"entitlement": "allowed", "config": {"dbAllowedCidrs": "0.0.0.0/0"}, "status": "applied"}),
            json!({"entitlement": "allowed", "config": {"dbAllowedCidrs": [1]}, "status": "applied"}),
        ];
        for answer in net {
            assert!(observed_network(&answer).is_err(), "{answer}");
        }
        assert!(observed_ssl(&json!({"currentConfig": {}, "appliedSuccessfully": true})).is_err());
        assert!(observed_ssl(&json!({"currentConfig": {"database": true}})).is_err());
        assert!(observed_auth(&json!([])).is_err());
        assert!(observed_auth(&json!({"rate_limit_otp": "30"})).is_err());
        assert!(bans_finding(&json!({})).is_err());
        assert!(bans_finding(&json!({"banned_ipv4_addresses": [7]})).is_err());
        assert!(observed_health(&json!({"name": "db"}), &["db"]).is_err());
        assert!(observed_health(&json!([{"name": "db"}]), &["db"]).is_err());
    }

    /// An empty config (never restricted) reads as two empty lists, not as an error.
    #[test]
    fn a_project_never_restricted_reads_as_empty_lists() {
        let answer = json!({"entitlement": "allowed", "config": {}, "status": "applied"});
        let (section, _) = observed_network(&answer).expect("valid");
        assert_eq!(section.get(V4).expect("v4").fields["value"], json!([]));
        assert_eq!(section.get(V6).expect("v6").fields["value"], json!([]));
    }

    #[test]
    fn bans_are_a_finding_with_the_count_and_addresses() {
        assert_eq!(
            bans_finding(&json!({"banned_ipv4_addresses": []})).expect("valid"),
            None
        );
        let f = bans_finding(
            &json!({"banned_ipv4_addresses": ["192.0.2.9", "192.0.2.1", "192.0.2.9"]}),
        )
        .expect("valid")
        .expect("a finding");
        assert_eq!(f.code, NETWORK_BANS);
        assert_eq!(
            f.message,
            "2 address(es) banned from the database: 192.0.2.1, 192.0.2.9"
        );
        let many: Vec<String> = (0..25).map(|i| format!("198.51.100.{i}")).collect();
        let f = bans_finding(&json!({ "banned_ipv4_addresses": many }))
            .expect("valid")
            .expect("a finding");
        assert!(f.message.starts_with("25 address(es)"), "{}", f.message);
        assert!(f.message.ends_with("and 5 more"), "{}", f.message);
    }

    /// Each declared service that is not healthy is drift and a finding; provider text is
    /// sanitised; services not declared are not compared.
    #[test]
    fn unhealthy_services_are_drift_and_findings() {
        let target =
            monitoring_target(&mon("healthyServices: [auth, db, storage]")).expect("valid");
        let answer = json!([
            {"name": "auth", "healthy": true, "status": "ACTIVE_HEALTHY",
             "info": {"name": "GoTrue", "version": "2.170.0", "description": "GoTrue is a user registration and authentication API"}},
            {"name": "db", "healthy": false, "status": "UNHEALTHY",
             "error": "connection refused password=hunter2"},
            {"name": "rest", "healthy": false, "status": "COMING_UP"}
        ]);
        let wanted: Vec<&str> = target.desired.sections[0]
            .items
            .iter()
            .map(|i| i.key.as_str())
            .collect();
        assert_eq!(wanted, ["auth", "db", "storage"]);
        let (section, findings) = observed_health(&answer, &wanted).expect("valid");
        let observed = State {
            sections: vec![section],
        };
        assert_eq!(
            drift_paths(&target, &observed),
            ["serviceHealth[db].status", "serviceHealth[storage]"]
        );
        let messages: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "db is UNHEALTHY: connection refused password=***",
                "storage is not in the health answer"
            ]
        );
        assert!(findings.iter().all(|f| f.code == SERVICE_UNHEALTHY));
    }

    #[test]
    fn every_service_and_limit_has_its_api_name() {
        let names: Vec<&str> = Service::ALL.iter().map(|s| s.as_str()).collect();
        for s in Service::ALL {
            let json = serde_json::to_value(s).expect("serialises");
            assert_eq!(json, json!(s.as_str()));
        }
        assert_eq!(names.len(), 8);
        for (name, field) in AUTH_LIMITS {
            assert_eq!(auth_field(name), Some(field));
        }
        assert_eq!(auth_field("nope"), None);
    }
}
