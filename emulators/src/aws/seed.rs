//! The AWS emulator's seed document (YAML- or JSON-friendly, camelCase). It is also the shape
//! of [`super::AwsEmulator::snapshot`]. Ids AWS assigns (`sg-…`, `sgr-…`, `fl-…`, detector and
//! WAF ids, lock tokens, ARNs) are filled in when missing.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Seed {
    /// Twelve-digit account id, used in ARNs and `ownerId`.
    pub account_id: String,
    /// The one region this account answers for (`DescribeRegions`, ARNs).
    pub region: String,
    /// Keys whose SigV4-signed requests are accepted (any key id when empty); any other id
    /// gets the protocol's authentication error.
    pub access_keys: Vec<AccessKey>,
    /// Largest page any list answers (smaller `MaxResults`/`Limit` wins), so paging is
    /// exercised with a handful of objects.
    pub page_size: usize,
    pub vpcs: Vec<Vpc>,
    pub security_groups: Vec<SecurityGroup>,
    pub network_acls: Vec<NetworkAcl>,
    pub flow_logs: Vec<FlowLog>,
    pub nat_gateways: Vec<NatGateway>,
    pub detectors: Vec<Detector>,
    pub alarms: Vec<Alarm>,
    pub ip_sets: Vec<IpSet>,
    pub web_acls: Vec<WebAcl>,
    /// CloudTrail's event history, in any order (`LookupEvents` answers newest first): seeded
    /// events (a person's console changes) and every write the emulator accepted.
    pub cloud_trail: Vec<TrailEvent>,
}

impl Default for Seed {
    fn default() -> Self {
        Self {
            account_id: "123456789012".into(),
            region: "eu-west-1".into(),
            access_keys: Vec::new(),
            page_size: 100,
            vpcs: Vec::new(),
            security_groups: Vec::new(),
            network_acls: Vec::new(),
            flow_logs: Vec::new(),
            nat_gateways: Vec::new(),
            detectors: Vec::new(),
            alarms: Vec::new(),
            ip_sets: Vec::new(),
            web_acls: Vec::new(),
            cloud_trail: Vec::new(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct AccessKey {
    pub access_key_id: String,
    /// When set, the signature is verified too; without it only the key id is checked.
    pub secret_access_key: Option<String>,
    /// The IAM user the key belongs to, as CloudTrail names the signer of its writes.
    pub user_name: Option<String>,
    /// Actions this key's policy does not allow (`cloudtrail:LookupEvents`): answered with the
    /// protocol's access-denied error.
    pub denied: Vec<String>,
}

/// One CloudTrail event.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct TrailEvent {
    /// Filled in when missing.
    pub event_id: String,
    pub event_name: String,
    /// RFC 3339, whole seconds.
    pub event_time: String,
    pub event_source: String,
    pub username: String,
    pub access_key_id: String,
    pub resources: Vec<TrailResource>,
    /// The event record (`userIdentity`, `requestParameters`, `requestID`, …), answered as the
    /// `CloudTrailEvent` JSON string.
    pub record: Value,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct TrailResource {
    pub resource_type: String,
    pub resource_name: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Vpc {
    pub vpc_id: String,
    pub cidr_block: String,
    pub is_default: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct SecurityGroup {
    pub group_id: String,
    pub group_name: String,
    pub vpc_id: String,
    pub description: String,
    pub ingress: Vec<SgRule>,
    pub egress: Vec<SgRule>,
}

/// One security-group rule as `DescribeSecurityGroupRules` shows it: exactly one peer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct SgRule {
    pub rule_id: String,
    /// `tcp`, `udp`, `icmp`, `-1` (numbers other than 6/17/1 stay numbers).
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidr_ipv4: Option<String>,
    pub cidr_ipv6: Option<String>,
    pub prefix_list_id: Option<String>,
    pub referenced_group_id: Option<String>,
    pub description: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct NetworkAcl {
    pub network_acl_id: String,
    pub vpc_id: String,
    pub is_default: bool,
    /// The fixed `32767` deny entries are added when missing, like AWS shows them.
    pub entries: Vec<NaclEntry>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct NaclEntry {
    pub rule_number: i32,
    pub egress: bool,
    /// Protocol number as AWS stores it (`6`, `17`, `1`, `-1`); names are converted.
    pub protocol: String,
    /// `allow` or `deny`.
    pub rule_action: String,
    pub cidr_block: Option<String>,
    pub ipv6_cidr_block: Option<String>,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct FlowLog {
    pub flow_log_id: String,
    pub resource_id: String,
    /// `ACCEPT`, `REJECT` or `ALL`.
    pub traffic_type: String,
    /// `cloud-watch-logs` (default), `s3` or `kinesis-data-firehose`.
    pub log_destination_type: String,
    /// ARN of the destination (for CloudWatch Logs, the log group's ARN).
    pub log_destination: Option<String>,
    pub log_group_name: Option<String>,
    pub deliver_logs_permission_arn: Option<String>,
    pub log_format: Option<String>,
    pub max_aggregation_interval: Option<i32>,
}

/// A NAT gateway as `DescribeNatGateways` shows it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct NatGateway {
    pub nat_gateway_id: String,
    pub vpc_id: String,
    pub subnet_id: String,
    /// `pending`, `failed`, `available` (default), `deleting` or `deleted`.
    pub state: String,
    /// `public` (default) or `private` (no Elastic IP).
    pub connectivity_type: String,
    pub addresses: Vec<NatGatewayAddress>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct NatGatewayAddress {
    /// The Elastic IP (public NAT gateways only).
    pub public_ip: Option<String>,
    pub private_ip: String,
    /// `eipalloc-…`, filled in for a public address when missing.
    pub allocation_id: Option<String>,
    pub network_interface_id: String,
    /// The first address is the primary one when none is marked.
    pub is_primary: bool,
    /// `succeeded` (default), `assigning`, `associating`, `disassociating`, …
    pub status: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Detector {
    pub detector_id: String,
    /// `ENABLED` or `DISABLED`.
    pub status: String,
    pub finding_publishing_frequency: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Alarm {
    pub alarm_name: String,
    pub namespace: String,
    pub metric_name: String,
    pub statistic: String,
    pub period: i32,
    pub evaluation_periods: i32,
    pub threshold: f64,
    pub comparison_operator: String,
    pub alarm_actions: Vec<String>,
    pub treat_missing_data: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct IpSet {
    pub name: String,
    /// `REGIONAL` or `CLOUDFRONT`.
    pub scope: String,
    pub id: String,
    pub ip_address_version: String,
    pub addresses: Vec<String>,
    pub lock_token: String,
}

/// A WAFv2 web ACL. `defaultAction`, `rules` and `visibilityConfig` are WAFv2's own JSON
/// (`{"Allow": {}}`, `[{"Name", "Priority", "Statement", "Action", "VisibilityConfig"}]`), kept
/// as written and answered back as is.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct WebAcl {
    pub name: String,
    pub scope: String,
    pub id: String,
    pub default_action: Value,
    pub rules: Vec<Value>,
    pub visibility_config: Value,
    pub lock_token: String,
}
