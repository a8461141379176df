//! The GCP blocks of `FirewallPolicy` and `MonitoringPolicy` (project from the CloudProvider's
//! `accountId`): VPC firewall rules and Cloud Armor security policies; subnet flow logs, alert
//! policies and uptime checks. Field names follow the Compute v1 and Monitoring v3 discovery
//! documents, so a rule reads like `gcloud ... --format=json` output.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A GCP resource name (RFC 1035 label, as Compute requires).
const NAME_PATTERN: &str = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$";
/// A region such as `europe-west1`.
const REGION_PATTERN: &str = r"^[a-z]+-[a-z]+[0-9]+$";
/// An IPv4 or IPv6 CIDR (shape only; the address is checked when the policy is read).
const CIDR_PATTERN: &str = r"^[0-9a-fA-F:.]+(/[0-9]{1,3})?$";
/// The most source (or destination) ranges one firewall rule takes.
pub const MAX_RANGES: usize = 5000;

/// GCP firewall state of one VPC network. A list that is absent is not managed at all;
/// an empty list is managed and means "none of ours".
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpFirewall {
    /// VPC network name, e.g. `default`.
    #[schemars(regex(pattern = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"))]
    pub network: String,
    /// VPC firewall rules of this network, keyed by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[schemars(length(max = 500))]
    pub firewall_rules: Option<Vec<FirewallRule>>,
    /// Cloud Armor security policies (global), keyed by name; only the declared rules of each
    /// are managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[schemars(length(max = 50))]
    pub cloud_armor_policies: Option<Vec<SecurityPolicy>>,
}

#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Direction {
    #[default]
    Ingress,
    Egress,
}

/// A VPC firewall rule (Compute `Firewall`). Exactly one of `allowed` and `denied` is given.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.allowed) != has(self.denied)").message("exactly one of allowed and denied must be set").reason(Reason::FieldValueInvalid))]
#[x_kube(validation = Rule::new("!has(self.direction) || self.direction == 'INGRESS' || !has(self.sourceTags)").message("sourceTags only apply to INGRESS rules").reason(Reason::FieldValueInvalid))]
pub struct FirewallRule {
    /// Rule name, unique in the project.
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub description: Option<String>,
    /// Defaults to `INGRESS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// 0 (highest) to 65535; defaults to 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub priority: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub allowed: Option<Vec<ProtocolPorts>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub denied: Option<Vec<ProtocolPorts>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 5000), inner(regex(pattern = CIDR_PATTERN)))]
    pub source_ranges: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 5000), inner(regex(pattern = CIDR_PATTERN)))]
    pub destination_ranges: Option<Vec<String>>,
    /// Address sets of the policy's namespace whose addresses are added to `sourceRanges`. A
    /// rule takes IPv4 or IPv6 ranges, not both, and at most 5000 of them: a set that mixes the
    /// families in the rule, or takes a list past 5000, is refused. Nothing is written while a
    /// named set is missing, not Ready or stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(max = 16), inner(length(min = 1, max = 253), regex(pattern = crate::api::addressset::NAME_PATTERN)))]
    pub source_address_sets: Option<Vec<String>>,
    /// Address sets whose addresses are added to `destinationRanges` (an `EGRESS` rule's
    /// destinations), under the same rules as `sourceAddressSets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(max = 16), inner(length(min = 1, max = 253), regex(pattern = crate::api::addressset::NAME_PATTERN)))]
    pub destination_address_sets: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 30))]
    pub source_tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 70))]
    pub target_tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10))]
    pub target_service_accounts: Option<Vec<String>>,
    /// Defaults to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Firewall rule logging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_config: Option<LogToggle>,
}

/// `IPProtocol` is a name (`tcp`, `udp`, `icmp`, `esp`, `ah`, `sctp`, `ipip`, `all`) or an IP
/// protocol number; `ports` are numbers or ranges (`22`, `8000-8080`), only for tcp/udp/sctp.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("!has(self.ports) || self.IPProtocol in ['tcp', 'udp', 'sctp', '6', '17', '132']").message("ports are only valid for tcp, udp and sctp").reason(Reason::FieldValueInvalid))]
pub struct ProtocolPorts {
    #[serde(rename = "IPProtocol")]
    #[schemars(regex(pattern = r"^(tcp|udp|icmp|esp|ah|sctp|ipip|all|[0-9]{1,3})$"))]
    pub ip_protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 64),
        inner(regex(pattern = r"^[0-9]{1,5}(-[0-9]{1,5})?$"))
    )]
    pub ports: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct LogToggle {
    pub enable: bool,
}

/// A Cloud Armor security policy. Rules are keyed by priority; the policy's other rules
/// (including the default rule at 2147483647) are left alone unless declared.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityPolicy {
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub description: Option<String>,
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["priority"]))]
    #[schemars(length(max = 200))]
    pub rules: Vec<SecurityPolicyRule>,
}

/// A Cloud Armor rule: a source-IP match (`versionedExpr: SRC_IPS_V1` with
/// `config.srcIpRanges`) or a CEL expression (`expr.expression`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityPolicyRule {
    /// 0 (evaluated first) to 2147483647 (the default rule).
    #[schemars(range(min = 0, max = 2147483647))]
    pub priority: u32,
    /// `allow`, `deny(403)`, `deny(404)`, `deny(502)`, `throttle`, `rate_based_ban`, `redirect`.
    #[schemars(regex(
        pattern = r"^(allow|deny\((403|404|502)\)|deny|throttle|rate_based_ban|redirect)$"
    ))]
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub description: Option<String>,
    /// Log the decision without enforcing it. Defaults to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<bool>,
    #[serde(rename = "match")]
    pub rule_match: RuleMatch,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.expr) != (has(self.versionedExpr) && has(self.config))").message("give either versionedExpr with config.srcIpRanges, or expr").reason(Reason::FieldValueInvalid))]
pub struct RuleMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioned_expr: Option<VersionedExpr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RuleMatchConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expr: Option<RuleExpr>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum VersionedExpr {
    #[serde(rename = "SRC_IPS_V1")]
    SrcIpsV1,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleMatchConfig {
    #[schemars(
        length(min = 1, max = 10),
        inner(regex(pattern = r"^(\*|[0-9a-fA-F:.]+(/[0-9]{1,3})?)$"))
    )]
    pub src_ip_ranges: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct RuleExpr {
    /// Cloud Armor rules language (CEL), e.g. `origin.region_code == 'XX'`.
    #[schemars(length(min = 1, max = 2048))]
    pub expression: String,
}

/// GCP network monitoring of one project.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpMonitoring {
    /// Regions whose subnets are checked for flow logs (reported as findings). Defaults to the
    /// CloudProvider's `regions`.
    #[serde(default)]
    #[schemars(inner(regex(pattern = REGION_PATTERN)))]
    pub regions: Vec<String>,
    /// Requires VPC flow logs on subnets: missing logs become drift, and `Enforce` turns the
    /// subnet's `logConfig` on. Either source satisfies it: the subnet's own `logConfig.enable`
    /// or a Network Management `vpcFlowLogsConfigs` entry for the subnet or its network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_logs: Option<FlowLogsRequirement>,
    /// Cloud Monitoring alert policies, keyed by display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["displayName"]))]
    #[schemars(length(max = 500))]
    pub alert_policies: Option<Vec<AlertPolicy>>,
    /// Uptime checks, keyed by display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["displayName"]))]
    #[schemars(length(max = 100))]
    pub uptime_checks: Option<Vec<UptimeCheck>>,
}

/// Which subnets must have flow logs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlowLogsRequirement {
    /// Every subnet in these regions (or only `subnets`, when given).
    #[schemars(length(min = 1, max = 50), inner(regex(pattern = REGION_PATTERN)))]
    pub regions: Vec<String>,
    /// Subnet names to restrict the requirement to; absent means all subnets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(inner(regex(pattern = NAME_PATTERN)))]
    pub subnets: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum Combiner {
    #[serde(rename = "AND")]
    And,
    #[serde(rename = "OR")]
    Or,
    #[serde(rename = "AND_WITH_MATCHING_RESOURCE")]
    AndWithMatchingResource,
}

/// An alert policy (subset of Monitoring v3 `AlertPolicy`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertPolicy {
    #[schemars(length(min = 1, max = 512))]
    pub display_name: String,
    /// Defaults to `OR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combiner: Option<Combiner>,
    #[schemars(length(min = 1, max = 6))]
    pub conditions: Vec<AlertCondition>,
    /// Channel resource names, `projects/{project}/notificationChannels/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(inner(regex(pattern = r"^projects/[^/]+/notificationChannels/[^/]+$")))]
    pub notification_channels: Option<Vec<String>>,
    /// Defaults to true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertCondition {
    #[schemars(length(min = 1, max = 512))]
    pub display_name: String,
    pub condition_threshold: ConditionThreshold,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum Comparison {
    #[serde(rename = "COMPARISON_GT")]
    Gt,
    #[serde(rename = "COMPARISON_GE")]
    Ge,
    #[serde(rename = "COMPARISON_LT")]
    Lt,
    #[serde(rename = "COMPARISON_LE")]
    Le,
    #[serde(rename = "COMPARISON_EQ")]
    Eq,
    #[serde(rename = "COMPARISON_NE")]
    Ne,
}

/// A metric threshold, e.g. on a log-based metric of denied firewall connections.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConditionThreshold {
    /// Monitoring filter, e.g. `metric.type="logging.googleapis.com/user/denied" resource.type="gce_subnetwork"`.
    #[schemars(length(min = 1, max = 2048))]
    pub filter: String,
    pub comparison: Comparison,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_value: Option<f64>,
    /// Seconds with an `s` suffix, e.g. `60s`.
    #[schemars(regex(pattern = r"^[0-9]+s$"))]
    pub duration: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4))]
    pub aggregations: Option<Vec<Aggregation>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Aggregation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+s$"))]
    pub alignment_period: Option<String>,
    /// e.g. `ALIGN_RATE`, `ALIGN_SUM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^ALIGN_[A-Z_0-9]+$"))]
    pub per_series_aligner: Option<String>,
    /// e.g. `REDUCE_SUM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^REDUCE_[A-Z_0-9]+$"))]
    pub cross_series_reducer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by_fields: Option<Vec<String>>,
}

/// An HTTP(S) uptime check (subset of Monitoring v3 `UptimeCheckConfig`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct UptimeCheck {
    #[schemars(length(min = 1, max = 512))]
    pub display_name: String,
    pub monitored_resource: MonitoredResource,
    pub http_check: HttpCheck,
    /// `60s`, `300s`, `600s` or `900s`; defaults to `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(60|300|600|900)s$"))]
    pub period: Option<String>,
    /// 1 to 60 seconds, e.g. `10s`.
    #[schemars(regex(pattern = r"^[0-9]{1,2}s$"))]
    pub timeout: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct MonitoredResource {
    /// e.g. `uptime_url`.
    #[serde(rename = "type")]
    #[schemars(regex(pattern = r"^[a-z_]+$"))]
    pub resource_type: String,
    /// e.g. `{project_id: my-project, host: www.example.com}`.
    pub labels: std::collections::BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpCheck {
    /// Defaults to `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^/"))]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_ssl: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_ssl: Option<bool>,
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn cel<T: schemars::JsonSchema>(value: Value) -> bool {
        kube::core::cel::validate_cel_schema::<T>(&value, None).is_ok()
    }

    #[test]
    fn cel_rules_accept_and_reject_as_documented() {
        let rule = |extra: Value| {
            let mut v = json!({"name": "r"});
            for (k, x) in extra.as_object().into_iter().flatten() {
                v[k] = x.clone();
            }
            v
        };
        let cases = [
            (rule(json!({"allowed": [{"IPProtocol": "tcp"}]})), true),
            (rule(json!({"denied": [{"IPProtocol": "all"}]})), true),
            (rule(json!({})), false),
            (
                rule(
                    json!({"allowed": [{"IPProtocol": "tcp"}], "denied": [{"IPProtocol": "udp"}]}),
                ),
                false,
            ),
            (
                rule(
                    json!({"direction": "EGRESS", "sourceTags": ["a"], "allowed": [{"IPProtocol": "tcp"}]}),
                ),
                false,
            ),
        ];
        for (v, ok) in cases {
            assert_eq!(cel::<FirewallRule>(v.clone()), ok, "{v}");
        }
        assert!(cel::<ProtocolPorts>(
            json!({"IPProtocol": "udp", "ports": ["53"]})
        ));
        assert!(!cel::<ProtocolPorts>(
            json!({"IPProtocol": "icmp", "ports": ["1"]})
        ));
        let ips = json!({"versionedExpr": "SRC_IPS_V1", "config": {"srcIpRanges": ["*"]}});
        let expr = json!({"expr": {"expression": "true"}});
        assert!(cel::<RuleMatch>(ips.clone()));
        assert!(cel::<RuleMatch>(expr));
        assert!(!cel::<RuleMatch>(json!({"versionedExpr": "SRC_IPS_V1"})));
        let mut both = ips;
        both["expr"] = json!({"expression": "true"});
        assert!(!cel::<RuleMatch>(both));
    }
}
