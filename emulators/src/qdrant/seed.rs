//! The seed document of the Qdrant Cloud emulator: management keys, clusters with their
//! alerts, and database API keys.

use serde::{Deserialize, Serialize};

/// Everything the emulator starts with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Management keys (`Authorization: apikey <key>`).
    #[serde(default)]
    pub keys: Vec<ManagementKey>,
    #[serde(default)]
    pub clusters: Vec<Cluster>,
    #[serde(default)]
    pub database_api_keys: Vec<DatabaseApiKey>,
}

/// A management key: account-scoped, with the permissions its role grants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementKey {
    pub key: String,
    pub account_id: String,
    /// `read:clusters`, `write:clusters`, `read:api_keys`; absent: all three.
    #[serde(default = "all_permissions")]
    pub permissions: Vec<String>,
}

/// The permissions the emulated routes check.
pub const PERMISSIONS: [&str; 3] = ["read:clusters", "write:clusters", "read:api_keys"];

fn all_permissions() -> Vec<String> {
    PERMISSIONS.iter().map(|p| (*p).to_owned()).collect()
}

/// One cluster, with the fields the emulated API answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    pub id: String,
    pub account_id: String,
    #[serde(default = "default_name")]
    pub name: String,
    /// `aws`, `gcp`, `azure` or `hybrid`.
    #[serde(default = "default_provider")]
    pub cloud_provider_id: String,
    #[serde(default = "default_region")]
    pub cloud_provider_region_id: String,
    /// The allowlist; empty (the default of a new cluster) means open to everyone.
    #[serde(default)]
    pub allowed_ip_source_ranges: Vec<String>,
    /// `databaseConfiguration.service.enableTls` (hybrid clusters only).
    #[serde(default)]
    pub enable_tls: bool,
    #[serde(default = "default_modified")]
    pub last_modified_at: String,
    #[serde(default)]
    pub alerts: Vec<Alert>,
}

/// One alert of a cluster (`ClusterAlert`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    pub id: String,
    /// `ClusterAlertType` without its prefix, e.g. `OOM`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `INFO`, `WARNING`, `CRITICAL` or `UNSPECIFIED`.
    #[serde(default = "default_severity")]
    pub severity: String,
    #[serde(default)]
    pub title: String,
    /// `FIRING` or `RESOLVED`.
    #[serde(default = "default_state")]
    pub state: String,
    #[serde(default = "default_modified")]
    pub last_firing_at: String,
}

/// One database API key (`v2.DatabaseApiKey`; the key itself is never stored).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseApiKey {
    pub id: String,
    pub account_id: String,
    pub cluster_id: String,
    pub name: String,
    /// RFC 3339; absent: the key never expires.
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default = "default_postfix")]
    pub postfix: String,
}

fn default_name() -> String {
    "cluster".to_owned()
}
fn default_provider() -> String {
    "aws".to_owned()
}
fn default_region() -> String {
    "eu-central-1".to_owned()
}
fn default_modified() -> String {
    "2026-11-01T00:00:00Z".to_owned()
}
fn default_severity() -> String {
    "WARNING".to_owned()
}
fn default_state() -> String {
    "FIRING".to_owned()
}
fn default_postfix() -> String {
    "x9Zq".to_owned()
}

const SEVERITIES: [&str; 4] = ["UNSPECIFIED", "INFO", "WARNING", "CRITICAL"];
const STATES: [&str; 2] = ["FIRING", "RESOLVED"];
/// `ClusterAlertType` values, without the `CLUSTER_ALERT_TYPE_` prefix.
pub const ALERT_TYPES: [&str; 14] = [
    "UNSPECIFIED",
    "DISK_OVERUTILIZED",
    "MEMORY_OVERUTILIZED",
    "OOD",
    "OOM",
    "RECOVERY_MODE",
    "QDRANT_CLUSTER_UNHEALTHY",
    "TOO_MANY_COLLECTIONS",
    "QDRANT_CLUSTER_CPU_THROTTLED",
    "QDRANT_JWT_API_KEY_ABOUT_TO_EXPIRE",
    "CLUSTER_VERSION_IS_NOT_COVERED_BY_SLA",
    "CLUSTER_DISK_HOTSPOT",
    "CLUSTER_MEMORY_HOTSPOT",
    "CLUSTER_CPU_HOTSPOT",
];

impl Seed {
    /// Checks the seed against the API's own rules, naming the first problem.
    pub fn validate(&self) -> Result<(), String> {
        for k in &self.keys {
            if !is_guid(&k.account_id) {
                return Err(format!("a key's account {:?} is not a GUID", k.account_id));
            }
            if let Some(p) = k
                .permissions
                .iter()
                .find(|p| !PERMISSIONS.contains(&p.as_str()))
            {
                return Err(format!("unknown permission {p:?}"));
            }
        }
        let mut ids = std::collections::BTreeSet::new();
        for c in &self.clusters {
            let id = &c.id;
            if !is_guid(id) || !is_guid(&c.account_id) {
                return Err(format!("cluster {id:?}: id and account_id must be GUIDs"));
            }
            if !ids.insert(id.as_str()) {
                return Err(format!("cluster {id} is seeded twice"));
            }
            check_ranges(&c.allowed_ip_source_ranges).map_err(|e| format!("{id}: {e}"))?;
            for a in &c.alerts {
                if !ALERT_TYPES.contains(&a.kind.as_str()) {
                    return Err(format!("{id}: unknown alert type {}", a.kind));
                }
                if !SEVERITIES.contains(&a.severity.as_str()) || !STATES.contains(&a.state.as_str())
                {
                    return Err(format!(
                        "{id}: alert {} has an unknown severity or state",
                        a.id
                    ));
                }
            }
        }
        for k in &self.database_api_keys {
            if !ids.contains(k.cluster_id.as_str()) {
                return Err(format!("database API key {}: unknown cluster", k.id));
            }
            if let Some(t) = &k.expires_at
                && !looks_like_rfc3339(t)
            {
                return Err(format!(
                    "database API key {}: expires_at {t:?} is not RFC 3339",
                    k.id
                ));
            }
        }
        Ok(())
    }
}

/// A GUID in its 8-4-4-4-12 hex form.
pub(crate) fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn looks_like_rfc3339(s: &str) -> bool {
    s.len() >= 20 && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T'
}

/// The API's rules for `allowed_ip_source_ranges`: at most 40 IPv4 prefixes, each a network
/// address (host bits zero).
pub(crate) fn check_ranges(ranges: &[String]) -> Result<(), String> {
    if ranges.len() > 40 {
        return Err(format!(
            "allowed_ip_source_ranges: {} items, at most 40 are allowed",
            ranges.len()
        ));
    }
    for r in ranges {
        let bad = || format!("allowed_ip_source_ranges: {r:?} is not an IPv4 prefix");
        let (addr, prefix) = r.split_once('/').ok_or_else(bad)?;
        let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u32 = prefix.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        if u32::from(addr) & !mask != 0 {
            return Err(bad());
        }
    }
    Ok(())
}
