//! The Cloudflare blocks of `FirewallPolicy` and `MonitoringPolicy`: the real settings of
//! Cloudflare's rulesets, IP access rules, zone settings, notification policies and Logpush.

use std::collections::BTreeMap;

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A rule key: stable across reorderings and renames of the description.
const REF_PATTERN: &str = r"^[a-z0-9][a-z0-9_-]{0,63}$";

/// One Cloudflare zone's firewall. A list that is absent is not managed at all;
/// an empty list is managed and means "no rules".
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudflareFirewall {
    /// Zone id (32 hex characters).
    #[schemars(regex(pattern = r"^[0-9a-f]{32}$"))]
    pub zone_id: String,
    /// WAF custom rules (entry point of phase `http_request_firewall_custom`), in evaluation order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["ref"]))]
    #[schemars(length(max = 100))]
    pub waf_custom_rules: Option<Vec<WafCustomRule>>,
    /// Rate-limiting rules (entry point of phase `http_ratelimit`), in evaluation order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["ref"]))]
    #[schemars(length(max = 100))]
    pub rate_limit_rules: Option<Vec<RateLimitRule>>,
    /// Zone IP access rules, keyed by target and value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["target", "value"]))]
    #[schemars(length(max = 1000))]
    pub ip_access_rules: Option<Vec<IpAccessRule>>,
    /// IP access rules made from address sets of the policy's namespace: one rule per address
    /// of the set (target `ip`/`ip6` for a single address, `ip_range` otherwise), keyed by
    /// target and value like `ipAccessRules`, so a source change adds and removes exactly the
    /// addresses that changed. Nothing is written while a set is missing, not Ready or stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["addressSet"]))]
    #[schemars(length(max = 16))]
    pub ip_access_rule_sets: Option<Vec<IpAccessRuleSet>>,
    /// Zone security settings; only the settings given here are checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<ZoneSecuritySettings>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomRuleAction {
    Block,
    Challenge,
    JsChallenge,
    ManagedChallenge,
    Log,
    Skip,
}

/// A WAF custom rule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.action == 'skip' || !has(self.actionParameters) || !has(self.actionParameters.phases)").message("actionParameters.phases is only valid for action skip").reason(Reason::FieldValueInvalid))]
pub struct WafCustomRule {
    /// Stable key of the rule (Cloudflare's `ref`).
    #[serde(rename = "ref")]
    #[schemars(regex(pattern = REF_PATTERN))]
    pub rule_ref: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500))]
    pub description: Option<String>,
    /// Rules-language expression, e.g. `(http.request.uri.path contains "/admin")`.
    #[schemars(length(min = 1, max = 4096))]
    pub expression: String,
    pub action: CustomRuleAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_parameters: Option<ActionParameters>,
    /// Defaults to true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Parameters of `block` (custom response) and `skip` (what to skip) actions.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionParameters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<BlockResponse>,
    /// For `skip`: `current` skips the rest of the current ruleset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ruleset: Option<SkipRuleset>,
    /// For `skip`: phases to skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<Vec<String>>,
    /// For `skip`: security products to skip (e.g. `uaBlock`, `zoneLockdown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SkipRuleset {
    Current,
}

/// A custom block response.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockResponse {
    #[schemars(range(min = 400, max = 499))]
    pub status_code: u16,
    #[schemars(length(max = 10240))]
    pub content: String,
    #[schemars(length(min = 1, max = 255))]
    pub content_type: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitAction {
    Block,
    Challenge,
    JsChallenge,
    ManagedChallenge,
    Log,
}

/// A rate-limiting rule (phase `http_ratelimit`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.characteristics.exists(c, c == 'cf.colo.id')").message("characteristics must include cf.colo.id").reason(Reason::FieldValueInvalid))]
pub struct RateLimitRule {
    #[serde(rename = "ref")]
    #[schemars(regex(pattern = REF_PATTERN))]
    pub rule_ref: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500))]
    pub description: Option<String>,
    /// Which requests count, e.g. `(http.request.uri.path eq "/login")`.
    #[schemars(length(min = 1, max = 4096))]
    pub expression: String,
    pub action: RateLimitAction,
    /// Request properties that identify a counter, e.g. `[ip.src, cf.colo.id]`.
    #[schemars(length(min = 1, max = 10))]
    pub characteristics: Vec<String>,
    /// Counting window in seconds (10, 60, 120, 300, 600 or 3600).
    #[x_kube(validation = Rule::new("self in [10, 60, 120, 300, 600, 3600]").message("period must be one of 10, 60, 120, 300, 600, 3600").reason(Reason::FieldValueInvalid))]
    pub period: u32,
    #[schemars(range(min = 1))]
    pub requests_per_period: u32,
    /// How long the action applies once triggered, in seconds.
    #[schemars(range(max = 86400))]
    pub mitigation_timeout: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub counting_expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessRuleMode {
    Block,
    Challenge,
    Whitelist,
    JsChallenge,
    ManagedChallenge,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessRuleTarget {
    Ip,
    Ip6,
    IpRange,
    Asn,
    Country,
}

/// An IP access rule; `target` + `value` identify it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.target != 'country' || self.value.matches('^[A-Z]{2}$')").message("a country value is a two-letter ISO code such as DE").reason(Reason::FieldValueInvalid))]
#[x_kube(validation = Rule::new("self.target != 'asn' || self.value.matches('^AS[0-9]{1,10}$')").message("an asn value looks like AS13335").reason(Reason::FieldValueInvalid))]
#[x_kube(validation = Rule::new("self.target != 'ip_range' || self.value.contains('/')").message("an ip_range value is a CIDR such as 198.51.100.0/24").reason(Reason::FieldValueInvalid))]
pub struct IpAccessRule {
    pub mode: AccessRuleMode,
    pub target: AccessRuleTarget,
    #[schemars(length(min = 1, max = 64))]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500))]
    pub notes: Option<String>,
}

/// IP access rules for every address of an address set.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IpAccessRuleSet {
    pub mode: AccessRuleMode,
    /// Name of an `AddressSet` in the policy's namespace.
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::api::addressset::NAME_PATTERN))]
    pub address_set: String,
    /// Notes of each rule (default: `address set <name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500))]
    pub notes: Option<String>,
}

/// Zone settings with a security meaning. Unset settings are not checked.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZoneSecuritySettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_level: Option<SecurityLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl: Option<SslMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tls_version: Option<MinTlsVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls13: Option<Tls13>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_use_https: Option<OnOff>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser_check: Option<OnOff>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecurityLevel {
    Off,
    EssentiallyOff,
    Low,
    Medium,
    High,
    UnderAttack,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SslMode {
    Off,
    Flexible,
    Full,
    Strict,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum MinTlsVersion {
    #[serde(rename = "1.0")]
    V1_0,
    #[serde(rename = "1.1")]
    V1_1,
    #[serde(rename = "1.2")]
    V1_2,
    #[serde(rename = "1.3")]
    V1_3,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tls13 {
    On,
    Off,
    Zrt,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnOff {
    On,
    Off,
}

/// Cloudflare monitoring: account notification policies and zone Logpush jobs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.logpushJobs) || has(self.zoneId)").message("logpushJobs need spec.cloudflare.zoneId").reason(Reason::FieldValueRequired))]
pub struct CloudflareMonitoring {
    /// Zone whose Logpush jobs are declared (32 hex characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9a-f]{32}$"))]
    pub zone_id: Option<String>,
    /// Account notification (alert) policies, keyed by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[schemars(length(max = 200))]
    pub notification_policies: Option<Vec<NotificationPolicy>>,
    /// The Slack channel each Slack webhook destination posts to, keyed by the destination id
    /// used in `mechanisms.webhooks`. A Slack incoming webhook is bound to one channel when it
    /// is created, and neither its URL nor Cloudflare's API says which: declared here, the
    /// channel is what DE.CM-1's alert routing checks at Slack (a `slack:` MonitoringPolicy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["webhook"]))]
    #[schemars(length(max = 100))]
    pub slack_webhooks: Option<Vec<SlackWebhook>>,
    /// Zone Logpush jobs, keyed by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[schemars(length(max = 50))]
    pub logpush_jobs: Option<Vec<LogpushJob>>,
}

/// An alerting v3 notification policy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.mechanisms.email) ? size(self.mechanisms.email) : 0) + (has(self.mechanisms.webhooks) ? size(self.mechanisms.webhooks) : 0) + (has(self.mechanisms.pagerduty) ? size(self.mechanisms.pagerduty) : 0) > 0").message("a notification policy needs at least one mechanism").reason(Reason::FieldValueRequired))]
pub struct NotificationPolicy {
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Alert type, e.g. `dos_attack_l7`, `clickhouse_alert_fw_anomaly`, `failing_logpush_job_disabled_alert`.
    #[schemars(regex(pattern = r"^[a-z0-9_]{1,100}$"))]
    pub alert_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500))]
    pub description: Option<String>,
    /// Defaults to true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    pub mechanisms: Mechanisms,
    /// Alert-type specific filters, e.g. `zones: [<zone id>]`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filters: BTreeMap<String, Vec<String>>,
}

/// Where a notification goes: e-mail addresses, webhook destination ids, PagerDuty ids.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
pub struct Mechanisms {
    #[serde(default)]
    pub email: Vec<String>,
    #[serde(default)]
    pub webhooks: Vec<String>,
    #[serde(default)]
    pub pagerduty: Vec<String>,
}

/// Which Slack channel a Slack webhook destination posts to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlackWebhook {
    /// The webhook destination id, as in `mechanisms.webhooks`.
    #[schemars(regex(pattern = r"^[0-9a-fA-F-]{32,36}$"))]
    pub webhook: String,
    /// The channel id (`C…`, `G…`), or `#name`.
    #[schemars(regex(pattern = r"^([CG][A-Z0-9]{6,20}|#[a-z0-9._-]{1,80})$"))]
    pub channel: String,
    /// The Slack workspace (`T…`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^T[A-Z0-9]{6,20}$"))]
    pub team: Option<String>,
}

/// A Logpush job, e.g. shipping `firewall_events` to a SIEM.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogpushJob {
    #[schemars(regex(pattern = r"^[a-zA-Z0-9._-]{1,512}$"))]
    pub name: String,
    /// Dataset, e.g. `firewall_events` or `http_requests`.
    #[schemars(regex(pattern = r"^[a-z_]{1,64}$"))]
    pub dataset: String,
    /// Destination URI such as `s3://bucket/path?region=eu-west-1`. Query values are
    /// masked wherever Perimeter displays the destination.
    #[schemars(length(min = 1, max = 4096))]
    pub destination_conf: String,
    /// Defaults to true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Fields to export; when unset, the job's field list is not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}
