//! The Turso blocks of `FirewallPolicy` and `MonitoringPolicy`: a database's access allow
//! rules and delete protection (its configuration, `GET`/`PATCH
//! /v1/organizations/{organizationSlug}/databases/{databaseName}/configuration` of the
//! Platform API), and what the organisation's audit log, database list and API tokens show.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// An organisation slug: the organisation's name, or the user name for a `personal` one.
pub const ORGANIZATION_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$";
/// A database name: lower-case letters, digits and dashes, at most 64 characters (the CLI's
/// rule), unique in the organisation.
pub const DATABASE_PATTERN: &str = r"^[a-z0-9][a-z0-9-]{0,63}$";
/// An IPv4 or IPv6 address or CIDR; a bare address is a host range (`/32`, `/128`), and the
/// address is masked to its network before comparing.
const IP_OR_CIDR_PATTERN: &str = r"^[0-9a-fA-F:.]{2,39}(/[0-9]{1,3})?$";
/// An AWS VPC endpoint id (`vpce-` and 8 or 17 hexadecimal digits).
const VPC_ENDPOINT_PATTERN: &str = r"^vpce-([0-9a-f]{8}|[0-9a-f]{17})$";

/// One Turso database's access rules. A field that is absent is not managed at all: Enforce
/// leaves it as it is (the API's "omitted = unchanged"). A list that is declared is always
/// written whole, and an empty list is written as `[]`, which clears the rule.
///
/// Turso accepts a connection only if it matches every rule that is set: with both lists set,
/// it must come from an allowed address AND through an allowed VPC endpoint. Empty lists allow
/// any source.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TursoFirewall {
    /// Organisation slug. When the CloudProvider sets `accountId`, it must be this slug: a
    /// policy cannot reach another organisation the token can see.
    #[schemars(regex(pattern = ORGANIZATION_PATTERN))]
    pub organization: String,
    /// Database name, as in `libsql://<database>-<organization>.turso.io`.
    #[schemars(regex(pattern = DATABASE_PATTERN))]
    pub database: String,
    /// Addresses and ranges allowed to connect (`allowed_ips`), IPv4 and IPv6. An empty list
    /// removes the restriction: every address may connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(max = 500), inner(regex(pattern = IP_OR_CIDR_PATTERN)))]
    pub allowed_ips: Option<Vec<String>>,
    /// Address sets of the policy's namespace whose addresses are added to `allowedIps`. Nothing is
    /// written while a named set is missing, not Ready or stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(max = 16), inner(length(min = 1, max = 253), regex(pattern = crate::api::addressset::NAME_PATTERN)))]
    pub allowed_address_sets: Option<Vec<String>>,
    /// AWS PrivateLink endpoints connections must arrive through (`allowed_aws_vpc_ids`). An
    /// empty list removes the restriction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(max = 100), inner(regex(pattern = VPC_ENDPOINT_PATTERN)))]
    pub allowed_aws_vpc_ids: Option<Vec<String>>,
    /// Whether the database refuses to be deleted (`delete_protection`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_protection: Option<bool>,
    /// `Report`: read the organisation's audit log (Scaler plan and above) at every sync and
    /// report each change to this database's managed settings that Perimeter did not make as a
    /// `ChangedOutsidePerimeter` finding, with its author and time (also a change since undone).
    /// Absent: the log is read only when a sync finds drift, to say who made it. `Ignore`:
    /// never read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_log: Option<Reporting>,
}

/// Whether something that costs requests, and is not drift, is read and reported.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum Reporting {
    #[default]
    Report,
    Ignore,
}

/// One Turso organisation's monitoring. The Platform API has no alerting or log-drain
/// endpoint, so Turso declares no alert route; pair it with a monitoring provider for alerting.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TursoMonitoring {
    /// Organisation slug (the same rule as the firewall block's).
    #[schemars(regex(pattern = ORGANIZATION_PATTERN))]
    pub organization: String,
    /// `true`: the organisation's audit log must be readable (its plan includes audit logs);
    /// a plan without them is drift and a `NotEntitled` finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_log_required: Option<bool>,
    /// `Report` (default): read every database of the organisation (one request for the list,
    /// one per database) and report each one that accepts connections from anywhere (no allow
    /// rule, or only `0.0.0.0/0` / `::/0` with no VPC endpoint rule) as a `NetworkOpen`
    /// finding, declared in a FirewallPolicy or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_databases: Option<Reporting>,
    /// `Report` (default): report the token owner's platform API tokens that are not
    /// restricted to an organisation as `ApiTokenUnscoped` findings. The API lists only the
    /// tokens of the user who owns Perimeter's token, never other members'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_tokens: Option<Reporting>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn property(schema: &Value, name: &str) -> Value {
        schema["properties"][name].clone()
    }

    /// The bounds and patterns reach the schema the CRD is generated from, so the API server
    /// refuses a bad block before Perimeter sees it.
    #[test]
    fn the_schema_carries_the_bounds() {
        let fw = serde_json::to_value(schemars::schema_for!(TursoFirewall)).expect("schema");
        assert_eq!(
            fw["required"],
            json!(["organization", "database"]),
            "only the database's identity is required"
        );
        assert_eq!(
            property(&fw, "database")["pattern"],
            json!(DATABASE_PATTERN)
        );
        for (name, max, pattern) in [
            ("allowedIps", 500, IP_OR_CIDR_PATTERN),
            ("allowedAwsVpcIds", 100, VPC_ENDPOINT_PATTERN),
        ] {
            let list = property(&fw, name);
            assert_eq!(list["maxItems"], json!(max), "{name}");
            assert_eq!(list["x-kubernetes-list-type"], json!("set"), "{name}");
            assert_eq!(list["items"]["pattern"], json!(pattern), "{name}");
        }
        let mon = serde_json::to_value(schemars::schema_for!(TursoMonitoring)).expect("schema");
        assert_eq!(mon["required"], json!(["organization"]));
    }

    #[test]
    fn the_patterns_accept_real_values_and_refuse_others() {
        let vpc = regex::Regex::new(VPC_ENDPOINT_PATTERN).expect("regex");
        assert!(vpc.is_match("vpce-0fe6c8807461bba49"));
        assert!(vpc.is_match("vpce-12345678"));
        assert!(!vpc.is_match("vpce-0FE6C8807461BBA49"));
        assert!(!vpc.is_match("vpc-12345678"));
        let db = regex::Regex::new(DATABASE_PATTERN).expect("regex");
        assert!(db.is_match("orders-eu1"));
        assert!(!db.is_match("../x") && !db.is_match("Orders") && !db.is_match(""));
        let org = regex::Regex::new(ORGANIZATION_PATTERN).expect("regex");
        assert!(org.is_match("acme") && org.is_match("Iku"));
        assert!(!org.is_match("a/b") && !org.is_match("-a"));
    }
}
