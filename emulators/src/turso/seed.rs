//! The seed document of the Turso emulator: platform API tokens and organisations with their
//! databases and audit logs.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Everything the emulator starts with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Platform API tokens: accepted bearer values, and what `GET /v1/auth/api-tokens` lists
    /// for their user (never the value).
    #[serde(default)]
    pub tokens: Vec<Token>,
    #[serde(default)]
    pub organizations: Vec<Organization>,
}

/// One platform API token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// The bearer value.
    pub value: String,
    /// The token's name (unique per user).
    pub name: String,
    /// The id Turso gives it.
    #[serde(default)]
    pub id: String,
    /// The user who minted it: the token acts as this user (and audit entries name them).
    pub user: String,
    /// The organisation it is restricted to; `None` is an unrestricted (cross-organisation)
    /// token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default = "created")]
    pub created_at: String,
}

/// One organisation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    pub slug: String,
    /// `plan_id` (e.g. `developer`, `scaler`).
    #[serde(default = "plan")]
    pub plan: String,
    /// Whether the plan includes audit logs (Scaler and above); without them,
    /// `GET …/audit-logs` answers 403.
    #[serde(default = "yes")]
    pub audit_logs_enabled: bool,
    #[serde(default)]
    pub databases: Vec<Database>,
    /// Entries in any order; answers are newest first.
    #[serde(default)]
    pub audit_logs: Vec<AuditEntry>,
}

/// One database and its configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub name: String,
    #[serde(default)]
    pub id: String,
    #[serde(default = "default_group")]
    pub group: String,
    #[serde(default = "region")]
    pub primary_region: String,
    /// An empty list allows any address.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// An empty list allows any VPC endpoint (and connections from outside AWS).
    #[serde(default)]
    pub allowed_aws_vpc_ids: Vec<String>,
    #[serde(default)]
    pub delete_protection: bool,
    #[serde(default)]
    pub block_reads: bool,
    #[serde(default)]
    pub block_writes: bool,
    /// `size_limit`, bytes as text (`"0"`: no limit).
    #[serde(default = "size_limit")]
    pub size_limit: String,
    /// The answer omits the two allow lists (a database configured before allow rules
    /// existed, as the spec's optional fields allow).
    #[serde(default)]
    pub legacy_configuration: bool,
}

/// One audit-log entry (`AuditLog`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default = "web")]
    pub origin: String,
    pub author: String,
    /// ISO 8601 (`2026-11-29T10:00:00Z`).
    pub created_at: String,
    #[serde(default)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

fn created() -> String {
    "2026-01-01".to_owned()
}

fn plan() -> String {
    "scaler".to_owned()
}

fn yes() -> bool {
    true
}

fn default_group() -> String {
    "default".to_owned()
}

fn region() -> String {
    "aws-eu-west-1".to_owned()
}

fn size_limit() -> String {
    "0".to_owned()
}

fn web() -> String {
    "web".to_owned()
}

/// The `AuditLog.code` enum of the spec (its `db-aunrchive` spelling included).
pub const AUDIT_CODES: [&str; 24] = [
    "user-signup",
    "db-create",
    "db-delete",
    "db-protect",
    "db-unprotect",
    "db-token-create",
    "group-token-create",
    "user-token-create",
    "instance-create",
    "instance-delete",
    "org-create",
    "org-delete",
    "org-member-add",
    "org-member-rm",
    "org-member-leave",
    "org-plan-update",
    "org-set-overages",
    "group-create",
    "group-delete",
    "group-unarchive",
    "group-protect",
    "group-unprotect",
    "db-aunrchive",
    "user-delete",
];

impl Seed {
    /// Checks the seed against the API's own rules, naming the first problem.
    pub fn validate(&self) -> Result<(), String> {
        let mut values = BTreeSet::new();
        let mut names = BTreeSet::new();
        for t in &self.tokens {
            if t.value.is_empty() || !values.insert(t.value.as_str()) {
                return Err(format!("token {}: empty or repeated value", t.name));
            }
            if !names.insert((t.user.as_str(), t.name.as_str())) {
                return Err(format!("token {} of {} is seeded twice", t.name, t.user));
            }
        }
        let mut slugs = BTreeSet::new();
        for org in &self.organizations {
            let o = &org.slug;
            if !valid_name(o, true) || !slugs.insert(o.as_str()) {
                return Err(format!("organization {o:?}: not a slug, or seeded twice"));
            }
            let mut dbs = BTreeSet::new();
            for db in &org.databases {
                let d = &db.name;
                if !valid_name(d, false) || !dbs.insert(d.as_str()) {
                    return Err(format!("{o}: database {d:?}: not a name, or seeded twice"));
                }
                for ip in &db.allowed_ips {
                    check_ip_or_cidr(ip).map_err(|e| format!("{o}/{d}: {e}"))?;
                }
                for id in &db.allowed_aws_vpc_ids {
                    check_vpc(id).map_err(|e| format!("{o}/{d}: {e}"))?;
                }
            }
            for e in &org.audit_logs {
                if !AUDIT_CODES.contains(&e.code.as_str()) {
                    return Err(format!("{o}: audit code {:?} is not in the spec", e.code));
                }
                if !is_instant(&e.created_at) {
                    return Err(format!(
                        "{o}: audit time {:?} is not ISO 8601",
                        e.created_at
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Lower-case letters, digits and dashes, 1..=64, not starting with a dash (slugs may also
/// hold upper-case letters: a personal organisation is its user's name).
pub(crate) fn valid_name(name: &str, slug: bool) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('-')
        && name.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || b == b'-'
                || (slug && b.is_ascii_uppercase())
        })
}

/// An IP address or a CIDR block, IPv4 or IPv6.
pub(crate) fn check_ip_or_cidr(value: &str) -> Result<(), String> {
    let bad = || format!("{value:?} is not an IP address or CIDR block");
    let (addr, prefix) = match value.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (value, None),
    };
    let addr: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    match prefix.map(str::parse::<u8>) {
        None => Ok(()),
        Some(Ok(p)) if p <= max => Ok(()),
        Some(_) => Err(bad()),
    }
}

/// A VPC endpoint id: `vpce-` and hexadecimal digits.
pub(crate) fn check_vpc(value: &str) -> Result<(), String> {
    let ok = value.strip_prefix("vpce-").is_some_and(|hex| {
        !hex.is_empty()
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if ok {
        Ok(())
    } else {
        Err(format!("{value:?} is not an AWS VPC endpoint id (vpce-…)"))
    }
}

/// `YYYY-MM-DDTHH:MM:SS`, optional fractional seconds, `Z`: UTC only, so that entries sort by
/// their text.
pub(crate) fn is_instant(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && value.ends_with('Z')
        && [0..4, 5..7, 8..10, 11..13, 14..16, 17..19]
            .into_iter()
            .all(|r| b[r].iter().all(u8::is_ascii_digit))
}
