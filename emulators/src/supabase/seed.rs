//! The seed document of the Supabase emulator: the projects of one organisation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything the emulator starts with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Accepted bearer tokens (personal access tokens, `sbp_…`).
    #[serde(default)]
    pub tokens: Vec<String>,
    #[serde(default)]
    pub projects: Vec<Project>,
}

/// One project and the settings the Management API exposes for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// 20 lower-case letters.
    #[serde(rename = "ref")]
    pub project_ref: String,
    #[serde(default)]
    pub name: String,
    /// `allowed` or `disallowed` (a plan without network restrictions).
    #[serde(default = "allowed")]
    pub entitlement: String,
    /// The database's allowed IPv4 ranges; a new project allows everything.
    #[serde(default = "all_v4")]
    pub db_allowed_cidrs: Vec<String>,
    #[serde(default = "all_v6")]
    pub db_allowed_cidrs_v6: Vec<String>,
    /// Whether the database refuses connections without SSL.
    #[serde(default)]
    pub ssl_enforced: bool,
    /// `rate_limit_*` fields of the Auth config; those not given take Supabase's defaults.
    #[serde(default)]
    pub auth: BTreeMap<String, Option<u32>>,
    #[serde(default)]
    pub banned_ipv4_addresses: Vec<String>,
    /// Status of each service for `/health` (`ACTIVE_HEALTHY`, `COMING_UP`, `UNHEALTHY`);
    /// services not listed are `ACTIVE_HEALTHY`.
    #[serde(default)]
    pub services: BTreeMap<String, String>,
    /// How many reads of the network restrictions after a change still answer `stored`
    /// before it reads `applied` (the apply answer itself is always `stored`).
    #[serde(default)]
    pub apply_after_reads: u32,
    /// A change is stored and never applied (a stuck rollout).
    #[serde(default)]
    pub apply_stuck: bool,
}

fn allowed() -> String {
    "allowed".to_owned()
}

fn all_v4() -> Vec<String> {
    vec!["0.0.0.0/0".to_owned()]
}

fn all_v6() -> Vec<String> {
    vec!["::/0".to_owned()]
}

/// The Auth rate limits and their defaults on a new project.
pub const AUTH_DEFAULTS: [(&str, u32); 7] = [
    ("rate_limit_anonymous_users", 30),
    ("rate_limit_email_sent", 2),
    ("rate_limit_sms_sent", 30),
    ("rate_limit_token_refresh", 150),
    ("rate_limit_verify", 30),
    ("rate_limit_otp", 30),
    ("rate_limit_web3", 30),
];

/// The services `/health` knows.
pub const SERVICES: [&str; 8] = [
    "auth",
    "db",
    "db_postgres_user",
    "pooler",
    "realtime",
    "rest",
    "storage",
    "pg_bouncer",
];

const STATUSES: [&str; 3] = ["ACTIVE_HEALTHY", "COMING_UP", "UNHEALTHY"];

impl Seed {
    /// Checks the seed against the API's own rules, naming the first problem.
    pub fn validate(&self) -> Result<(), String> {
        let mut refs = std::collections::BTreeSet::new();
        for p in &self.projects {
            let r = &p.project_ref;
            if !valid_ref(r) {
                return Err(format!("project ref {r:?} is not 20 lower-case letters"));
            }
            if !refs.insert(r.as_str()) {
                return Err(format!("project {r} is seeded twice"));
            }
            if !matches!(p.entitlement.as_str(), "allowed" | "disallowed") {
                return Err(format!("{r}: entitlement must be allowed or disallowed"));
            }
            for (cidrs, v6) in [(&p.db_allowed_cidrs, false), (&p.db_allowed_cidrs_v6, true)] {
                for c in cidrs {
                    check_cidr(c, v6).map_err(|e| format!("{r}: {e}"))?;
                }
            }
            for key in p.auth.keys() {
                if !AUTH_DEFAULTS.iter().any(|(k, _)| k == key) {
                    return Err(format!("{r}: unknown auth field {key}"));
                }
            }
            for (service, status) in &p.services {
                if !SERVICES.contains(&service.as_str()) {
                    return Err(format!("{r}: unknown service {service}"));
                }
                if !STATUSES.contains(&status.as_str()) {
                    return Err(format!("{r}: unknown status {status}"));
                }
            }
            for a in &p.banned_ipv4_addresses {
                if a.parse::<std::net::Ipv4Addr>().is_err() {
                    return Err(format!("{r}: banned address {a:?} is not IPv4"));
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn valid_ref(r: &str) -> bool {
    r.len() == 20 && r.bytes().all(|b| b.is_ascii_lowercase())
}

/// A CIDR of the right family with a prefix in range.
pub(crate) fn check_cidr(value: &str, v6: bool) -> Result<(), String> {
    let bad = || {
        let family = if v6 { "IPv6" } else { "IPv4" };
        format!("{value:?} is not an {family} CIDR")
    };
    let (addr, prefix) = value.split_once('/').ok_or_else(bad)?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    let ok = if v6 {
        addr.parse::<std::net::Ipv6Addr>().is_ok() && prefix <= 128
    } else {
        addr.parse::<std::net::Ipv4Addr>().is_ok() && prefix <= 32
    };
    if ok { Ok(()) } else { Err(bad()) }
}
