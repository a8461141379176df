//! The Upstash blocks of `FirewallPolicy` and `MonitoringPolicy`: what the Upstash Developer
//! API (`https://api.upstash.com/v2`) exposes of one Redis database's perimeter — its IP
//! allowlist, TLS, the security add-ons its plan includes, the audit log of changes made to
//! it — and its Prometheus integration as monitoring evidence.
//!
//! The allowlist is written with `POST /redis/update-allowlist/{id}` and read back from the
//! database's `allowed_ip_ranges`. Neither is in Upstash's official OpenAPI document: both come
//! from Upstash's own Terraform provider (`upstash/terraform-provider-upstash`).

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A Redis database id as Upstash assigns it (a UUID, the spec's `database_id`). Names are not
/// accepted: they are not unique, and a renamed database would point the policy elsewhere.
pub const DATABASE_ID_PATTERN: &str =
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// An IPv4 address or CIDR (the allowlist takes IPv4 only). A bare address is a `/32`; host
/// bits are masked before comparing.
const IPV4_OR_CIDR_PATTERN: &str = r"^[0-9]{1,3}(\.[0-9]{1,3}){3}(/[0-9]{1,2})?$";

/// One Upstash Redis database's perimeter. A field that is absent is not managed at all.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpstashFirewall {
    /// Database id (a UUID, `database_id` in the console and the Developer API).
    #[schemars(regex(pattern = DATABASE_ID_PATTERN))]
    pub database_id: String,
    /// IPv4 addresses and ranges allowed to connect (Redis protocol and REST API). The whole
    /// list replaces the database's (`POST /redis/update-allowlist/{id}`, an endpoint Upstash's
    /// Terraform provider uses but its published API document does not list); `0.0.0.0/0`
    /// allows every address. The free plan cannot restrict: the policy then reports
    /// `NotEntitled`. Upstash takes a few minutes to propagate a change. At least one entry:
    /// what an empty allowlist means at Upstash is not documented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(min = 1, max = 500), inner(regex(pattern = IPV4_OR_CIDR_PATTERN)))]
    pub allowed_ips: Option<Vec<String>>,
    /// Address sets of the policy's namespace whose addresses are added to `allowedIps`; the allowlist
    /// takes IPv4 only, so a set holding an IPv6 address is refused. Nothing is
    /// written while a named set is missing, not Ready or stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(max = 16), inner(length(min = 1, max = 253), regex(pattern = crate::api::addressset::NAME_PATTERN)))]
    pub allowed_address_sets: Option<Vec<String>>,
    /// `Required`: the database accepts TLS connections only. Enforce turns TLS on
    /// (`/redis/enable-tls/{id}`); it can never be turned off through the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Required>,
    /// Security add-ons that must be enabled on the database (`securityAddons`). Add-ons are
    /// bought, not configured: one that is off is a `NotEntitled` finding, never written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(min = 1, max = 5))]
    pub security_addons: Option<Vec<SecurityAddon>>,
    /// `Report`: read the account's audit log at every sync (one request more per read) and
    /// report each change to this database's allowlist that Perimeter did not make as a
    /// `ChangedOutsidePerimeter` finding, with its actor and time (also a change since undone).
    /// Absent: the log is read only when a sync finds drift, to say who made it. `Ignore`:
    /// never read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_log: Option<AuditReporting>,
}

/// A setting that must be on. The only value: what Perimeter checks can only be switched on.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum Required {
    Required,
}

/// A security add-on, as `securityAddons` names it.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum SecurityAddon {
    /// IP allowlisting.
    IpWhitelisting,
    /// VPC peering.
    VpcPeering,
    /// AWS PrivateLink.
    PrivateLink,
    /// Mutual TLS (client certificates).
    TlsMutualAuth,
    /// Encryption at rest.
    EncryptionAtRest,
}

impl SecurityAddon {
    pub const ALL: [SecurityAddon; 5] = [
        Self::IpWhitelisting,
        Self::VpcPeering,
        Self::PrivateLink,
        Self::TlsMutualAuth,
        Self::EncryptionAtRest,
    ];

    /// The API's name of the add-on (a key of `securityAddons`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IpWhitelisting => "ipWhitelisting",
            Self::VpcPeering => "vpcPeering",
            Self::PrivateLink => "privateLink",
            Self::TlsMutualAuth => "tlsMutualAuth",
            Self::EncryptionAtRest => "encryptionAtRest",
        }
    }
}

/// Whether the account's audit log is read and changes made outside Perimeter reported.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum AuditReporting {
    Report,
    #[default]
    Ignore,
}

/// One Upstash Redis database's monitoring. The Developer API has no alerting endpoint, so
/// Upstash declares no alert route: pair the database with a provider that alerts (and scrape
/// its Prometheus endpoint).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpstashMonitoring {
    /// Database id (a UUID).
    #[schemars(regex(pattern = DATABASE_ID_PATTERN))]
    pub database_id: String,
    /// `Required`: the database's Prometheus integration (`prometheus_enabled`) is on, the
    /// evidence that its metrics are collected. It is switched on in the Upstash console only:
    /// observed, never enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<Required>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// The bounds a user meets at admission, before any Upstash call.
    #[test]
    fn the_schema_carries_the_bounds() {
        let schema = serde_json::to_value(schemars::schema_for!(UpstashFirewall)).expect("schema");
        let props = &schema["properties"];
        assert_eq!(props["databaseId"]["pattern"], json!(DATABASE_ID_PATTERN));
        let ips = &props["allowedIps"];
        assert_eq!(ips["minItems"], json!(1), "an empty allowlist is refused");
        assert_eq!(ips["maxItems"], json!(500));
        assert_eq!(ips["x-kubernetes-list-type"], json!("set"));
        assert_eq!(ips["items"]["pattern"], json!(IPV4_OR_CIDR_PATTERN));
        assert_eq!(schema["required"], json!(["databaseId"]));
        let text = schema.to_string();
        for addon in SecurityAddon::ALL {
            assert!(text.contains(addon.as_str()), "{}", addon.as_str());
        }
        let mon = serde_json::to_value(schemars::schema_for!(UpstashMonitoring)).expect("schema");
        assert_eq!(mon["required"], json!(["databaseId"]));
        assert!(mon["properties"]["prometheus"] != Value::Null);
    }

    #[test]
    fn the_id_and_address_patterns_accept_what_upstash_uses() {
        let id = regex::Regex::new(DATABASE_ID_PATTERN).expect("pattern");
        assert!(id.is_match("96ad0856-03b1-4ee7-9666-e81abd0349e1"));
        assert!(!id.is_match("MyRedis"));
        assert!(!id.is_match("96ad0856-03b1-4ee7-9666-e81abd0349e1/../x"));
        let ip = regex::Regex::new(IPV4_OR_CIDR_PATTERN).expect("pattern");
        for ok in ["203.0.113.4", "198.51.100.0/24", "0.0.0.0/0"] {
            assert!(ip.is_match(ok), "{ok}");
        }
        for bad in ["2001:db8::/32", "203.0.113.4/", "example.com"] {
            assert!(!ip.is_match(bad), "{bad}");
        }
    }
}
