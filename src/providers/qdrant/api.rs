//! The Qdrant Cloud blocks of `FirewallPolicy` and `MonitoringPolicy`: one cluster's IP
//! allowlist (`configuration.allowedIpSourceRanges`, the only field Perimeter ever writes),
//! its TLS, the expiry of its database API keys, and its built-in alerts.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// An account or cluster id: a GUID, as the Cloud API's path parameters take it.
pub const GUID_PATTERN: &str =
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// An IPv4 CIDR (the API takes no IPv6); the address is masked to its network before comparing.
const CIDR_V4_PATTERN: &str = r"^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$";
/// The API's own bound on `allowed_ip_source_ranges` (protovalidate `max_items: 40`).
pub const MAX_RANGES: usize = 40;
/// The expiry horizon of database API keys when the block does not set one.
pub const DEFAULT_KEY_EXPIRY_DAYS: u32 = 14;

/// One Qdrant Cloud cluster's perimeter. A field that is absent is not managed at all.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct QdrantFirewall {
    /// Account id (a GUID), as in the Cloud console's URLs.
    #[schemars(regex(pattern = GUID_PATTERN))]
    pub account_id: String,
    /// Cluster id (a GUID).
    #[schemars(regex(pattern = GUID_PATTERN))]
    pub cluster_id: String,
    /// IPv4 ranges allowed to reach the cluster's database endpoint (at most 40, the API's
    /// limit; Qdrant takes no IPv6). The whole list replaces the cluster's in one
    /// `UpdateCluster` whose update mask names this field alone, so nothing else of the
    /// cluster is ever written. A cluster without ranges is open to every address, so the
    /// list cannot be empty: declare `0.0.0.0/0` to allow everything on purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(min = 1, max = 40), inner(regex(pattern = CIDR_V4_PATTERN)))]
    pub allowed_ip_source_ranges: Option<Vec<String>>,
    /// Address sets of the policy's namespace whose addresses are added to
    /// `allowedIpSourceRanges`. The allowlist takes IPv4 only and at most 40 ranges, so a set
    /// holding an IPv6 address, or sets that take the list past 40, are refused. Nothing is
    /// written while a named set is missing, not Ready or stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(max = 16), inner(length(min = 1, max = 253), regex(pattern = crate::api::addressset::NAME_PATTERN)))]
    pub allowed_address_sets: Option<Vec<String>>,
    /// `true`: the database endpoint must serve TLS. Managed-cloud clusters always do (the
    /// platform controls it); a hybrid-cloud cluster does when
    /// `databaseConfiguration.service.enableTls` is set. Observed only: turning TLS on needs
    /// a certificate in the hybrid environment, which Perimeter does not hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_tls: Option<bool>,
    /// Database API keys of this cluster that expire within the horizon (or have expired)
    /// are reported as an `ApiKeyExpiring` finding (one request more per read). Absent: the
    /// keys are not read (a sync reads only what the policy declares); `apiKeyExpiry: {}`
    /// reads them with the default horizon of 14 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_expiry: Option<KeyExpiry>,
}

/// How database API keys' expiry is reported.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyExpiry {
    /// `Report` (default): read the keys and report those expiring soon. `Ignore`: do not
    /// read them.
    #[serde(default)]
    pub mode: Reporting,
    /// How many days ahead an expiry is reported (default 14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 365))]
    pub within_days: Option<u32>,
}

/// Whether something observed only is read and reported.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum Reporting {
    #[default]
    Report,
    Ignore,
}

/// One Qdrant Cloud cluster's monitoring. Qdrant's alerts are built in, fixed and sent by
/// e-mail to the account owner; the API cannot create alert rules or channels, so Qdrant
/// declares no alert route: pair it with a monitoring provider for routing.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct QdrantMonitoring {
    /// Account id (a GUID).
    #[schemars(regex(pattern = GUID_PATTERN))]
    pub account_id: String,
    /// Cluster id (a GUID).
    #[schemars(regex(pattern = GUID_PATTERN))]
    pub cluster_id: String,
    /// The cluster must have no firing alert of this severity or above
    /// (`ListClusterAlerts`): each one is drift and a `ServiceUnhealthy` finding with the
    /// alert's id. Observed, never enforced. Absent: alerts are not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_firing_alerts: Option<AlertThreshold>,
}

/// Which firing alerts count.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertThreshold {
    /// The lowest severity that counts (default `Warning`). An alert whose severity Qdrant
    /// has not mapped (`UNSPECIFIED`) always counts: an unknown is never taken as harmless.
    #[serde(default)]
    pub min_severity: Severity,
}

/// An alert severity, in increasing order.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    schemars::JsonSchema,
)]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

impl Severity {
    /// The API's name of the severity (`ClusterAlertSeverity`).
    pub fn api_name(self) -> &'static str {
        match self {
            Self::Info => "CLUSTER_ALERT_SEVERITY_INFO",
            Self::Warning => "CLUSTER_ALERT_SEVERITY_WARNING",
            Self::Critical => "CLUSTER_ALERT_SEVERITY_CRITICAL",
        }
    }

    /// The severity of an API name; `None` for `UNSPECIFIED` and names not known here.
    pub fn from_api(name: &str) -> Option<Self> {
        [Self::Info, Self::Warning, Self::Critical]
            .into_iter()
            .find(|s| s.api_name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// The API's bounds are in the schema, so the API server refuses a policy the Cloud API
    /// would refuse: 1 to 40 IPv4 ranges, a unique list, GUID ids, a horizon of 1 to 365 days.
    #[test]
    fn the_schema_carries_the_api_bounds() {
        let schema = serde_json::to_value(schemars::schema_for!(QdrantFirewall)).expect("schema");
        let ranges = &schema["properties"]["allowedIpSourceRanges"];
        assert_eq!(ranges["maxItems"], json!(MAX_RANGES));
        assert_eq!(ranges["minItems"], json!(1));
        assert_eq!(ranges["x-kubernetes-list-type"], json!("set"));
        assert_eq!(ranges["items"]["pattern"], json!(CIDR_V4_PATTERN));
        for id in ["accountId", "clusterId"] {
            assert_eq!(schema["properties"][id]["pattern"], json!(GUID_PATTERN));
        }
        let text = schema.to_string();
        assert!(text.contains(r#""maximum":365"#) && text.contains(r#""minimum":1"#));
        let required: Vec<&Value> = schema["required"]
            .as_array()
            .expect("required")
            .iter()
            .collect();
        assert_eq!(required, [&json!("accountId"), &json!("clusterId")]);
    }
}
