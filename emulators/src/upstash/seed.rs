//! The seed document of the Upstash emulator: one account's Developer API keys, Redis
//! databases and audit log.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Everything the emulator starts with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Accepted Developer API keys, each with the account e-mail it pairs with in Basic auth.
    #[serde(default)]
    pub keys: Vec<ApiKey>,
    #[serde(default)]
    pub databases: Vec<Database>,
    /// The account's audit log, oldest first. Writes through the API append to it.
    #[serde(default)]
    pub audit_logs: Vec<AuditLog>,
    /// QStash's egress addresses (`GET /v2/qstash/ipv4`), as Upstash answers them (CIDRs).
    #[serde(default)]
    pub qstash_ipv4: Vec<String>,
}

/// A Developer API key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    pub email: String,
    pub key: String,
    /// The key's name, as the audit log's `source` shows it (`API_KEY - <name>`).
    #[serde(default)]
    pub name: String,
}

/// One Redis database and the settings the Developer API exposes for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// A UUID.
    pub database_id: String,
    #[serde(default)]
    pub database_name: String,
    /// The plan (`type`): `free`, `payg`, `pro` or `paid`. The free plan cannot allowlist.
    #[serde(default = "paid", rename = "type")]
    pub plan: String,
    #[serde(default = "yes")]
    pub tls: bool,
    /// The allowlist (`allowed_ip_ranges`); `None` for a database never restricted.
    #[serde(default)]
    pub allowed_ip_ranges: Option<Vec<String>>,
    /// Enabled security add-ons (`securityAddons`); those not given are off.
    #[serde(default)]
    pub security_addons: BTreeMap<String, bool>,
    #[serde(default)]
    pub prometheus_enabled: bool,
    /// `endpoint` as the spec's example has it: the slug the database is served under
    /// (`<slug>.upstash.io`); `emulated-<first 8 of the id>` when not given.
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// One audit-log entry (the spec's `AuditLog`, the fields the emulator models).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditLog {
    /// Unix seconds.
    pub timestamp: i64,
    pub action_string: String,
    pub entity: String,
    pub actor: String,
    /// `CONSOLE`, `API_KEY - <name>`, …
    pub source: String,
    #[serde(default)]
    pub ip: String,
}

fn paid() -> String {
    "paid".to_owned()
}

fn yes() -> bool {
    true
}

/// The plans of the spec's `Database.type`.
pub const PLANS: [&str; 4] = ["free", "payg", "pro", "paid"];
/// The keys of the spec's `Database.securityAddons`.
pub const ADDONS: [&str; 5] = [
    "ipWhitelisting",
    "vpcPeering",
    "privateLink",
    "tlsMutualAuth",
    "encryptionAtRest",
];

impl Seed {
    /// Checks the seed against the API's own rules, naming the first problem.
    pub fn validate(&self) -> Result<(), String> {
        for k in &self.keys {
            if k.email.is_empty() || k.key.is_empty() || k.email.contains(':') {
                return Err("a key needs an e-mail (without ':') and a key".into());
            }
        }
        let mut ids = BTreeSet::new();
        for d in &self.databases {
            let id = &d.database_id;
            if !valid_id(id) {
                return Err(format!("database id {id:?} is not a UUID"));
            }
            if !ids.insert(id.as_str()) {
                return Err(format!("database {id} is seeded twice"));
            }
            if !PLANS.contains(&d.plan.as_str()) {
                return Err(format!("{id}: unknown plan {}", d.plan));
            }
            for ip in d.allowed_ip_ranges.iter().flatten() {
                check_entry(ip).map_err(|e| format!("{id}: {e}"))?;
            }
            for ip in &self.qstash_ipv4 {
                check_entry(ip).map_err(|e| format!("qstash_ipv4: {e}"))?;
            }
            if d.plan == "free" && d.allowed_ip_ranges.as_ref().is_some_and(|l| !l.is_empty()) {
                return Err(format!("{id}: the free plan cannot have an allowlist"));
            }
            for addon in d.security_addons.keys() {
                if !ADDONS.contains(&addon.as_str()) {
                    return Err(format!("{id}: unknown security add-on {addon}"));
                }
            }
        }
        Ok(())
    }
}

/// A UUID in 8-4-4-4-12 hex layout.
pub(crate) fn valid_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An allowlist entry: an IPv4 address or IPv4 CIDR (the allowlist takes IPv4 only).
pub(crate) fn check_entry(value: &str) -> Result<(), String> {
    let bad = || format!("{value:?} is not an IPv4 address or CIDR");
    let (addr, prefix) = match value.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (value, None),
    };
    addr.parse::<std::net::Ipv4Addr>().map_err(|_| bad())?;
    if let Some(p) = prefix {
        match p.parse::<u8>() {
            Ok(n) if n <= 32 => {}
            _ => return Err(bad()),
        }
    }
    Ok(())
}
