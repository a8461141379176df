//! The AWS blocks of `FirewallPolicy` and `MonitoringPolicy`: security-group rules, network
//! ACL entries and WAFv2 (web ACLs, IP sets); VPC flow logs, GuardDuty and CloudWatch alarms.
//! Everything is regional. A block with `region` covers that region; a block without it covers
//! every region of the `CloudProvider` (`spec.regions`), which only region-wide controls can
//! do: world-open ingress findings, flow logs on all VPCs, GuardDuty. Resources addressed by id
//! (security groups, network ACLs, web ACLs, IP sets, named VPCs, alarms) need a `region`.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

const REGION_PATTERN: &str = r"^[a-z]{2}(-[a-z]+)+-[0-9]$";
/// A WAFv2 / CloudWatch name: letters, digits, `_` and `-`.
const NAME_PATTERN: &str = r"^[A-Za-z0-9_-]{1,128}$";
/// The most rules one direction of a security group declares (the schema's bound).
pub const MAX_SG_RULES: usize = 1000;
/// AWS's default quota of inbound (or outbound) rules per security group, per address family.
pub const DEFAULT_RULE_QUOTA: u32 = 60;

/// AWS firewall state in one region, or (without `region`) the region-wide findings in every
/// region of the `CloudProvider`. A list that is absent is not managed at all; an empty list is
/// managed and means "no rules".
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.region) || !(has(self.securityGroups) || has(self.networkAcls) || has(self.webAcls) || has(self.ipSets))").message("securityGroups, networkAcls, webAcls and ipSets are addressed by id in one region: set aws.region (without it only findings apply, in every region of the CloudProvider)").reason(Reason::FieldValueRequired))]
pub struct AwsFirewall {
    /// Region, e.g. `eu-west-1`. Absent: every region in the `CloudProvider`'s `spec.regions`
    /// (then only `findings` may be set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = REGION_PATTERN))]
    pub region: Option<String>,
    /// Security groups whose rules are managed, each identified by `groupId` or by
    /// `vpcId` + `groupName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub security_groups: Option<Vec<SecurityGroupRules>>,
    /// Network ACLs whose entries are managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["networkAclId"]))]
    #[schemars(length(max = 200))]
    pub network_acls: Option<Vec<NetworkAclEntries>>,
    /// WAFv2 web ACLs (the rules list is written whole, with the read's lock token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["scope", "name"]))]
    #[schemars(length(max = 100))]
    pub web_acls: Option<Vec<WebAcl>>,
    /// WAFv2 IP sets (addresses are written whole, with the read's lock token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["scope", "name"]))]
    #[schemars(length(max = 100))]
    pub ip_sets: Option<Vec<IpSet>>,
    /// What to do about facts found in every security group of the region, declared or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<FirewallFindings>,
}

/// `Report` (default): a finding only. `Forbid`: the fact is drift, and `Enforce` removes it.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum FindingPolicy {
    #[default]
    Report,
    Forbid,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirewallFindings {
    /// Ingress rules open to `0.0.0.0/0` or `::/0` in any security group of the region
    /// (CIS 13.6 / Security Hub EC2.19). `Forbid` revokes them in `Enforce`.
    #[serde(default)]
    pub world_open_ingress: FindingPolicy,
}

/// The rules of one security group.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.groupId) != (has(self.vpcId) && has(self.groupName))").message("identify the security group by groupId, or by vpcId and groupName (not both)").reason(Reason::FieldValueInvalid))]
pub struct SecurityGroupRules {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^sg-[0-9a-f]{8,17}$"))]
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^vpc-[0-9a-f]{8,17}$"))]
    pub vpc_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub group_name: Option<String>,
    /// Inbound rules; absent = not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000))]
    pub ingress: Option<Vec<SecurityGroupRule>>,
    /// Outbound rules; absent = not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000))]
    pub egress: Option<Vec<SecurityGroupRule>>,
    /// The account's quota of inbound (or outbound) rules per security group (Service Quotas
    /// `L-0EA8095F`, counted separately for IPv4 and IPv6; AWS's default is 60). Rules made
    /// from address sets that take a direction past it are refused before anything is
    /// written, rather than failing part-way with `RulesPerSecurityGroupLimitExceeded`. Set it
    /// when the account's quota was raised. Default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub rule_quota: Option<u32>,
}

/// One security-group rule. Its identity is (protocol, port range, peer), so reordering the
/// list or editing the description never looks like a new rule; `description` is compared.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.cidr), has(self.prefixListId), has(self.peerGroupId), has(self.addressSet)].filter(b, b).size() == 1").message("exactly one peer: cidr, prefixListId, peerGroupId or addressSet").reason(Reason::FieldValueInvalid))]
#[x_kube(validation = Rule::new("!(self.protocol in ['tcp', 'udp', '6', '17']) || (has(self.fromPort) && has(self.toPort) && self.fromPort <= self.toPort && self.fromPort >= 0)").message("tcp and udp rules need fromPort <= toPort, both in 0..65535").reason(Reason::FieldValueInvalid))]
pub struct SecurityGroupRule {
    /// `tcp`, `udp`, `icmp`, `icmpv6`, `all` (or `-1`), or an IP protocol number.
    #[schemars(regex(pattern = r"^(tcp|udp|icmp|icmpv6|all|-1|[0-9]{1,3})$"))]
    pub protocol: String,
    /// First port (tcp/udp) or ICMP type; -1 = all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1, max = 65535))]
    pub from_port: Option<i32>,
    /// Last port (tcp/udp) or ICMP code; -1 = all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1, max = 65535))]
    pub to_port: Option<i32>,
    /// IPv4 or IPv6 CIDR of the peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9a-fA-F.:]+(/[0-9]{1,3})?$"))]
    pub cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^pl-[0-9a-f]{8,17}$"))]
    pub prefix_list_id: Option<String>,
    /// Another security group as the peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^sg-[0-9a-f]{8,17}$"))]
    pub peer_group_id: Option<String>,
    /// An `AddressSet` of the policy's namespace as the peer: the rule stands for one rule
    /// per address of the set (IPv4 and IPv6 CIDRs alike), each keyed like a `cidr` rule, so a
    /// source change adds and revokes exactly the addresses that changed. A rule also declared
    /// with `cidr` keeps its description. Nothing is written while the set is missing, not
    /// Ready or stale, or while the rules it makes exceed the list's 1000 or `ruleQuota`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::api::addressset::NAME_PATTERN))]
    pub address_set: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub description: Option<String>,
}

/// The entries of one network ACL (the default `*` rule 32767 is not managed).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkAclEntries {
    #[schemars(regex(pattern = r"^acl-[0-9a-f]{8,17}$"))]
    pub network_acl_id: String,
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["egress", "ruleNumber"]))]
    #[schemars(length(max = 40))]
    pub entries: Vec<NetworkAclEntry>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    Allow,
    Deny,
}

/// A NACL entry, keyed by (egress, ruleNumber).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.fromPort) || !has(self.toPort) || self.fromPort <= self.toPort").message("fromPort must not exceed toPort").reason(Reason::FieldValueInvalid))]
pub struct NetworkAclEntry {
    #[schemars(range(min = 1, max = 32766))]
    pub rule_number: i32,
    /// Defaults to false (inbound). Always written out so it can be a list-map key.
    #[serde(default)]
    pub egress: bool,
    #[schemars(regex(pattern = r"^(tcp|udp|icmp|icmpv6|all|-1|[0-9]{1,3})$"))]
    pub protocol: String,
    pub rule_action: RuleAction,
    #[schemars(regex(pattern = r"^[0-9a-fA-F.:]+/[0-9]{1,3}$"))]
    pub cidr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub from_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub to_port: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum WafScope {
    Regional,
    Cloudfront,
}

impl WafScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Regional => "REGIONAL",
            Self::Cloudfront => "CLOUDFRONT",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum WafAction {
    Allow,
    Block,
    Count,
}

/// A WAFv2 web ACL. Only `rules` and `defaultAction` are managed; visibility and logging are not.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebAcl {
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub name: String,
    pub scope: WafScope,
    /// `Allow` or `Block` (Count is not a default action).
    #[schemars(regex(pattern = r"^(Allow|Block)$"))]
    pub default_action: String,
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[schemars(length(max = 100))]
    pub rules: Vec<WafRule>,
}

/// A web ACL rule; `statement` holds exactly one of the supported statement kinds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.statement.managedRuleGroup) == !has(self.action)").message("a managed rule group takes no action (it uses its own; set overrideToCount instead); other rules need one").reason(Reason::FieldValueInvalid))]
pub struct WafRule {
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub name: String,
    #[schemars(range(min = 0, max = 100000))]
    pub priority: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<WafAction>,
    /// For managed rule groups: count instead of the group's own actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_to_count: Option<bool>,
    pub statement: WafStatement,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.ipSetReference), has(self.rateBased), has(self.managedRuleGroup)].filter(b, b).size() == 1").message("exactly one of ipSetReference, rateBased, managedRuleGroup").reason(Reason::FieldValueInvalid))]
pub struct WafStatement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_set_reference: Option<IpSetReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_based: Option<RateBased>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_rule_group: Option<ManagedRuleGroup>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct IpSetReference {
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:wafv2:[^\s]+$"))]
    pub arn: String,
}

/// Requests per `evaluationWindowSec` from one IP above `limit` match.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateBased {
    #[schemars(range(min = 10, max = 2000000000))]
    pub limit: i64,
    /// 60, 120, 300 or 600 (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 600))]
    pub evaluation_window_sec: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedRuleGroup {
    /// e.g. `AWS`.
    #[schemars(length(min = 1, max = 128))]
    pub vendor_name: String,
    /// e.g. `AWSManagedRulesCommonRuleSet`.
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub name: String,
}

/// A WAFv2 IP set (addresses compared as a set of normalised CIDRs).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IpSet {
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub name: String,
    pub scope: WafScope,
    /// `IPV4` or `IPV6`.
    #[schemars(regex(pattern = r"^IPV[46]$"))]
    pub ip_address_version: String,
    #[schemars(length(max = 10000))]
    pub addresses: Vec<String>,
}

/// AWS network monitoring in one region, or (without `region`) in every region of the
/// `CloudProvider`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.region) || (!has(self.cloudWatchAlarms) && !(has(self.flowLogs) && has(self.flowLogs.vpcIds)))").message("cloudWatchAlarms and flowLogs.vpcIds are addressed by name or id in one region: set aws.region (without it only flowLogs.allVpcs and guardDuty apply, in every region of the CloudProvider)").reason(Reason::FieldValueRequired))]
pub struct AwsMonitoring {
    /// Region, e.g. `eu-west-1`. Absent: every region in the `CloudProvider`'s `spec.regions`
    /// (then only `flowLogs` with `allVpcs` and `guardDuty` may be set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = REGION_PATTERN))]
    pub region: Option<String>,
    /// VPC flow logs that must exist (NIST DE.CM-1, CIS 13.6, Security Hub EC2.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_logs: Option<FlowLogRequirement>,
    /// The region's GuardDuty detector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard_duty: Option<GuardDuty>,
    /// CloudWatch metric alarms, keyed by name (`PutMetricAlarm` is an upsert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[schemars(length(max = 200))]
    pub cloud_watch_alarms: Option<Vec<Alarm>>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum TrafficType {
    Accept,
    Reject,
    All,
}

impl TrafficType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "ACCEPT",
            Self::Reject => "REJECT",
            Self::All => "ALL",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FlowLogDestinationType {
    CloudWatchLogs,
    S3,
    KinesisDataFirehose,
}

impl FlowLogDestinationType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CloudWatchLogs => "cloud-watch-logs",
            Self::S3 => "s3",
            Self::KinesisDataFirehose => "kinesis-data-firehose",
        }
    }
}

/// Which VPCs need a flow log, and what it must look like. A VPC complies when one of its flow
/// logs has this traffic type and destination (and log format / aggregation, when given).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.vpcIds) != (has(self.allVpcs) && self.allVpcs)").message("set either vpcIds or allVpcs: true").reason(Reason::FieldValueInvalid))]
#[x_kube(validation = Rule::new("self.destinationType != 'cloud-watch-logs' || has(self.deliverLogsPermissionArn)").message("cloud-watch-logs destinations need deliverLogsPermissionArn (the IAM role flow logs assume)").reason(Reason::FieldValueRequired))]
pub struct FlowLogRequirement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub vpc_ids: Option<Vec<String>>,
    /// Every VPC of the region, including VPCs created later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_vpcs: Option<bool>,
    pub traffic_type: TrafficType,
    pub destination_type: FlowLogDestinationType,
    /// The destination ARN (CloudWatch Logs log group, S3 bucket, or Firehose stream).
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:[a-z0-9-]+:[^\s]+$"))]
    pub destination: String,
    /// IAM role that delivers to CloudWatch Logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[^\s]+$"))]
    pub deliver_logs_permission_arn: Option<String>,
    /// e.g. `${version} ${srcaddr} ${dstaddr} ${action}`; absent = AWS default, not compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub log_format: Option<String>,
    /// 60 or 600 seconds; absent = not compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == 60 || self == 600").message("maxAggregationInterval is 60 or 600"))]
    pub max_aggregation_interval: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PublishingFrequency {
    FifteenMinutes,
    OneHour,
    SixHours,
}

impl PublishingFrequency {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FifteenMinutes => "FIFTEEN_MINUTES",
            Self::OneHour => "ONE_HOUR",
            Self::SixHours => "SIX_HOURS",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GuardDuty {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding_publishing_frequency: Option<PublishingFrequency>,
}

/// A CloudWatch metric alarm on one metric.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Alarm {
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// e.g. `Perimeter/FlowLogs`.
    #[schemars(length(min = 1, max = 255))]
    pub namespace: String,
    #[schemars(length(min = 1, max = 255))]
    pub metric_name: String,
    #[schemars(regex(pattern = r"^(SampleCount|Average|Sum|Minimum|Maximum)$"))]
    pub statistic: String,
    /// Seconds: 10, 30 or a multiple of 60.
    #[x_kube(validation = Rule::new("self == 10 || self == 30 || (self >= 60 && self % 60 == 0)").message("period is 10, 30 or a multiple of 60"))]
    pub period: i32,
    #[schemars(range(min = 1, max = 100))]
    pub evaluation_periods: i32,
    pub threshold: f64,
    #[schemars(regex(
        pattern = r"^(GreaterThanOrEqualToThreshold|GreaterThanThreshold|LessThanThreshold|LessThanOrEqualToThreshold)$"
    ))]
    pub comparison_operator: String,
    /// SNS topic ARNs (or other action ARNs) notified on ALARM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 5))]
    pub alarm_actions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(breaching|notBreaching|ignore|missing)$"))]
    pub treat_missing_data: Option<String>,
}
