//! The Vercel blocks of `FirewallPolicy` and `MonitoringPolicy`: the settings of a project's
//! Vercel Firewall (custom rules, IP blocking, managed rulesets, OWASP core ruleset toggles,
//! BotID, Attack Challenge Mode, system-mitigation bypass) and the team's Drains.
//!
//! Shapes follow Vercel's OpenAPI document (operations `putFirewallConfig`,
//! `getFirewallConfig`, `updateAttackChallengeMode`, `addBypassIp`, `createDrain`).

use std::collections::BTreeMap;

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A project id as Vercel assigns it. Names are not accepted: a renamed project would
/// silently point the policy elsewhere.
pub const PROJECT_ID_PATTERN: &str = r"^prj_[A-Za-z0-9]{1,64}$";

/// Host names as the firewall and bypass APIs take them: lower-case labels, `*` wildcards.
const HOSTNAME_PATTERN: &str = r"^[a-z0-9*]([a-z0-9*.-]{0,251}[a-z0-9])?$";

/// Text shown in drift paths and Events: no control characters.
const PRINTABLE_PATTERN: &str = r"^[^\x00-\x1f\x7f]+$";

/// One Vercel project's firewall. A part that is absent is not managed at all; an empty list is
/// managed and means "none". Enforce writes the whole firewall configuration in one call, so
/// what is not declared here is carried over as it is (or removed with `unmanaged: Remove`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct VercelFirewall {
    /// Project id (`prj_…`). The team is the CloudProvider's `accountId` (`team_…`); without
    /// it, the project belongs to the token's personal account.
    #[schemars(regex(pattern = PROJECT_ID_PATTERN))]
    pub project_id: String,
    /// Whether the firewall (custom rules, IP blocking, managed rulesets) is on at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_enabled: Option<bool>,
    /// Vercel BotID (`botIdEnabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_id_enabled: Option<bool>,
    /// Custom rules in evaluation order, keyed by name (Vercel assigns the ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[schemars(length(max = 1000))]
    pub rules: Option<Vec<FirewallRule>>,
    /// IP blocking rules, keyed by host name and address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["hostname", "ip"]))]
    #[schemars(length(max = 1000))]
    pub ip_rules: Option<Vec<IpRule>>,
    /// Managed rulesets; only the rulesets given here are checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_rules: Option<ManagedRulesets>,
    /// OWASP core ruleset toggles (`crs`); only the toggles given here are checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crs: Option<CoreRuleset>,
    /// Attack Challenge Mode: every visitor is challenged while it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack_challenge_mode: Option<AttackChallengeMode>,
    /// Sources that skip Vercel's system mitigations (DDoS protection), keyed by domain and
    /// source. Each entry widens what reaches the project: declare only what must.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["domain", "sourceIp"]))]
    #[schemars(length(max = 256))]
    pub system_bypass: Option<Vec<BypassRule>>,
    /// System-mitigation bypass entries made from address sets of the policy's namespace: one
    /// entry per address of the set for `domain`, keyed by domain and source like
    /// `systemBypass` (an entry also declared there keeps its note), so a source change adds and
    /// removes exactly the addresses that changed. At most 256 entries in all, as
    /// `systemBypass`: sets that take it past that are refused. Nothing is written while a set
    /// is missing, not Ready or stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["domain", "addressSet"]))]
    #[schemars(length(max = 16))]
    pub system_bypass_sets: Option<Vec<BypassRuleSet>>,
}

/// A custom rule: it matches when any condition group matches (a group matches when all of
/// its conditions do), and then applies its action.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirewallRule {
    /// The rule's key: unique in the project.
    #[schemars(length(min = 1, max = 160), regex(pattern = PRINTABLE_PATTERN))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub description: Option<String>,
    /// Defaults to true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Condition groups, OR-ed.
    #[schemars(length(min = 1, max = 25))]
    pub condition_group: Vec<ConditionGroup>,
    /// What happens to a matching request.
    pub action: Mitigation,
}

/// Conditions that must all hold.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct ConditionGroup {
    #[schemars(length(min = 1, max = 65))]
    pub conditions: Vec<Condition>,
}

/// One test of a request property.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.value) && has(self.values))").message("give value or values, not both").reason(Reason::FieldValueInvalid))]
#[x_kube(validation = Rule::new("self.op in ['ex', 'nex'] || has(self.value) || has(self.values)").message("this op needs a value or values").reason(Reason::FieldValueRequired))]
#[x_kube(validation = Rule::new("!has(self.values) || self.op in ['inc', 'ninc']").message("values (a list) is only for op inc or ninc").reason(Reason::FieldValueInvalid))]
#[x_kube(validation = Rule::new("!(self.type in ['header', 'query', 'cookie']) || has(self.key)").message("header, query and cookie conditions need a key").reason(Reason::FieldValueRequired))]
pub struct Condition {
    /// The request property, e.g. `path`, `ip_address`, `geo_country`, `header`.
    #[serde(rename = "type")]
    pub kind: ConditionType,
    /// `eq`, `neq`, `re` (regular expression), `pre`/`suf`/`sub` (prefix, suffix, substring),
    /// `inc`/`ninc` (in list), `ex`/`nex` (exists), `gt`/`gte`/`lt`/`lte`.
    pub op: ConditionOp,
    /// Negates the test. Defaults to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neg: Option<bool>,
    /// Header, query parameter or cookie name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub key: Option<String>,
    /// The value compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub value: Option<String>,
    /// The list of values for `inc`/`ninc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 75))]
    pub values: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConditionType {
    Host,
    Path,
    Method,
    Header,
    Query,
    Cookie,
    TargetPath,
    Route,
    RawPath,
    IpAddress,
    Region,
    Protocol,
    Scheme,
    Environment,
    UserAgent,
    GeoContinent,
    GeoCountry,
    GeoCountryRegion,
    GeoCity,
    GeoAsNumber,
    Ja4Digest,
    Ja3Digest,
    RateLimitApiId,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConditionOp {
    Re,
    Eq,
    Neq,
    Ex,
    Nex,
    Inc,
    Ninc,
    Pre,
    Suf,
    Sub,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A rule's action (`action.mitigate` in the API).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(self.action == 'rate_limit') == has(self.rateLimit)").message("rateLimit is required with action rate_limit and only valid with it").reason(Reason::FieldValueInvalid))]
#[x_kube(validation = Rule::new("(self.action == 'redirect') == has(self.redirect)").message("redirect is required with action redirect and only valid with it").reason(Reason::FieldValueInvalid))]
pub struct Mitigation {
    pub action: MitigateAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<Redirect>,
    /// How long the action keeps applying to a client once triggered, e.g. `1m`, `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[1-9][0-9]{0,5}[smhd]$"))]
    pub action_duration: Option<String>,
    /// Whether matching requests also skip Vercel's system mitigations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bypass_system: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MitigateAction {
    Log,
    Challenge,
    Deny,
    Bypass,
    RateLimit,
    Redirect,
}

/// A rate limit applied to the requests the rule matches.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    pub algo: RateLimitAlgo,
    /// Window in seconds.
    #[schemars(range(min = 1, max = 86400))]
    pub window: u32,
    /// Requests allowed per window and key.
    #[schemars(range(min = 1))]
    pub limit: u32,
    /// What identifies a counter, e.g. `ip`, `ja4`, or a header name.
    #[schemars(length(min = 1, max = 10))]
    pub keys: Vec<String>,
    /// What happens past the limit. Defaults to Vercel's (`rate_limit`: HTTP 429).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<RateLimitAction>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitAlgo {
    FixedWindow,
    TokenBucket,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitAction {
    Log,
    Challenge,
    Deny,
    RateLimit,
}

/// Where a redirect rule sends the request.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct Redirect {
    /// A path or an absolute URL.
    #[schemars(length(min = 1, max = 2048))]
    pub location: String,
    pub permanent: bool,
}

/// An IP blocking rule: requests from `ip` to `hostname` get `action`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct IpRule {
    /// The project domain it applies to.
    #[schemars(regex(pattern = HOSTNAME_PATTERN))]
    pub hostname: String,
    /// An address or a CIDR, IPv4 or IPv6.
    #[schemars(length(min = 2, max = 49))]
    pub ip: String,
    pub action: IpAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500))]
    pub notes: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IpAction {
    Deny,
    Challenge,
    Log,
    Bypass,
}

/// Vercel's managed rulesets. A ruleset not given is not checked.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedRulesets {
    /// OWASP core ruleset as a whole (`owasp`); its single rules are `crs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owasp: Option<ManagedRuleset>,
    /// Bot protection (`bot_protection`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_protection: Option<ManagedRuleset>,
    /// AI bots (`ai_bots`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_bots: Option<ManagedRuleset>,
}

/// A managed ruleset's switch.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct ManagedRuleset {
    pub active: bool,
    /// When unset, the action is not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<ManagedAction>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ManagedAction {
    Deny,
    Log,
    Challenge,
}

/// The OWASP core ruleset's rules, by Vercel's keys. A rule not given is not checked.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
pub struct CoreRuleset {
    /// Scanner detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sd: Option<CrsRule>,
    /// Multipart attacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ma: Option<CrsRule>,
    /// Local file inclusion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lfi: Option<CrsRule>,
    /// Remote file inclusion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rfi: Option<CrsRule>,
    /// Remote code execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rce: Option<CrsRule>,
    /// PHP attacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub php: Option<CrsRule>,
    /// Generic attacks (`gen`).
    #[serde(rename = "gen", default, skip_serializing_if = "Option::is_none")]
    pub generic: Option<CrsRule>,
    /// Cross-site scripting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xss: Option<CrsRule>,
    /// SQL injection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqli: Option<CrsRule>,
    /// Session fixation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sf: Option<CrsRule>,
    /// Java attacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub java: Option<CrsRule>,
}

/// One OWASP core rule's switch.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct CrsRule {
    pub active: bool,
    pub action: CrsAction,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CrsAction {
    Deny,
    Log,
}

/// Attack Challenge Mode of the project.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.enabled || !has(self.activeUntil)").message("activeUntil is only valid when enabled").reason(Reason::FieldValueInvalid))]
pub struct AttackChallengeMode {
    pub enabled: bool,
    /// When Vercel turns it off by itself (RFC 3339, e.g. `2026-12-01T00:00:00Z`). Unset: on
    /// until turned off. Once this time has passed the mode is off, and enforcing refuses to
    /// turn it on again with an expiry in the past.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub active_until: Option<String>,
}

/// A system-mitigation bypass: requests from `sourceIp` to `domain` skip Vercel's DDoS
/// mitigations.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BypassRule {
    /// A domain of the project, or `*` for every domain of the project.
    #[schemars(regex(pattern = HOSTNAME_PATTERN), length(max = 253))]
    pub domain: String,
    /// An address or CIDR, or `*` for every source (use with care).
    #[schemars(length(min = 1, max = 49))]
    pub source_ip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500))]
    pub note: Option<String>,
}

/// System-mitigation bypass entries for every address of an address set.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BypassRuleSet {
    /// A domain of the project, or `*` for every domain of the project.
    #[schemars(regex(pattern = HOSTNAME_PATTERN), length(max = 253))]
    pub domain: String,
    /// Name of an `AddressSet` in the policy's namespace.
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::api::addressset::NAME_PATTERN))]
    pub address_set: String,
    /// Note of each entry (default: `address set <name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500))]
    pub note: Option<String>,
}

/// Vercel monitoring of the CloudProvider's team: Drains (logs, traces, analytics delivered to
/// a SIEM), and the attack status of the projects listed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct VercelMonitoring {
    /// Drains, keyed by name. Legacy log drains (`/v1/log-drains`) still in use are reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[schemars(length(max = 100))]
    pub drains: Option<Vec<Drain>>,
    /// Projects whose attack status is read (observed only): an anomaly Vercel reports is a
    /// finding `AttackInProgress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100), inner(regex(pattern = PROJECT_ID_PATTERN)))]
    pub attack_status_project_ids: Option<Vec<String>>,
}

/// A drain. Its delivery headers and signing secret are not declared here (they are
/// credentials) and not compared.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Drain {
    #[schemars(length(min = 1, max = 128), regex(pattern = PRINTABLE_PATTERN))]
    pub name: String,
    pub delivery: DrainDelivery,
    /// What it carries, each with its schema version, e.g. `log: v1`.
    #[schemars(length(min = 1))]
    #[x_kube(validation = Rule::new("self.all(k, k in ['log', 'trace', 'analytics', 'speed_insights'])").message("schemas are log, trace, analytics, speed_insights").reason(Reason::FieldValueInvalid))]
    pub schemas: BTreeMap<String, String>,
    /// Projects it covers; unset: every project of the team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000), inner(regex(pattern = PROJECT_ID_PATTERN)))]
    pub project_ids: Option<Vec<String>>,
    /// Head sampling; unset: everything is delivered (sampling not checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20))]
    pub sampling: Option<Vec<Sampling>>,
    /// Defaults to true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Where a drain delivers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type != 'syslog' || !has(self.encoding)").message("a syslog delivery has no encoding").reason(Reason::FieldValueInvalid))]
#[x_kube(validation = Rule::new("self.type == 'syslog' || has(self.encoding)").message("an http or otlphttp delivery needs an encoding").reason(Reason::FieldValueRequired))]
#[x_kube(validation = Rule::new("self.type != 'http' || !has(self.encoding) || self.encoding in ['json', 'ndjson']").message("an http delivery's encoding is json or ndjson").reason(Reason::FieldValueInvalid))]
#[x_kube(validation = Rule::new("self.type != 'otlphttp' || !has(self.encoding) || self.encoding in ['json', 'proto']").message("an otlphttp delivery's encoding is json or proto").reason(Reason::FieldValueInvalid))]
#[x_kube(validation = Rule::new("self.type == 'http' || !has(self.compression)").message("compression is only for an http delivery").reason(Reason::FieldValueInvalid))]
pub struct DrainDelivery {
    #[serde(rename = "type")]
    pub kind: DeliveryType,
    /// Destination URL. Query values, user info and key-like path segments are masked
    /// wherever Perimeter displays it; a change in them is still drift.
    #[schemars(length(min = 1, max = 4096))]
    pub endpoint: String,
    /// `json` or `ndjson` for http, `json` or `proto` for otlphttp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// http only; unset: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<Compression>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryType {
    Http,
    Otlphttp,
    Syslog,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Json,
    Ndjson,
    Proto,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Gzip,
    None,
}

/// A head-sampling rule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sampling {
    /// Share delivered, from 0 to 1.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub rate: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<SamplingEnv>,
    /// Request path prefix it applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub request_path: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SamplingEnv {
    Production,
    Preview,
}
