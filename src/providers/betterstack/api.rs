//! The Better Stack block of `MonitoringPolicy`: what Better Stack Uptime's API
//! (`https://uptime.betterstack.com/api/v2`, escalation policies under `/api/v3`) exposes of a
//! team's uptime monitoring — its monitors, heartbeats, escalation policies and status pages.
//!
//! Better Stack publishes no machine-readable API description. The attribute names and value
//! sets below come from its API documentation (`https://betterstack.com/docs/uptime/api/`) and
//! its official Terraform provider (`BetterStackHQ/terraform-provider-better-uptime`,
//! `internal/provider/resource_monitor.go`, `resource_heartbeat.go`, `resource_policy.go`,
//! `resource_status_page.go`).
//!
//! Better Stack has no firewall: a `FirewallPolicy` has no `betterstack` block that does
//! anything (the type exists only because the registry needs one; see [`BetterstackFirewall`]).

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A monitor's URL or host: no white space or control characters.
const TARGET_PATTERN: &str = r"^[^\s\x00-\x1f\x7f]+$";
/// A name as Better Stack shows it: printable, no leading or trailing blank.
const NAME_PATTERN: &str = r"^[^\s\x00-\x1f\x7f]([^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$";
/// A port, or several separated by commas (`25,465,587` for SMTP).
const PORT_PATTERN: &str = r"^[0-9]{1,5}(,[0-9]{1,5}){0,9}$";
/// A status page subdomain (`<subdomain>.betteruptime.com`).
pub const SUBDOMAIN_PATTERN: &str = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
/// A Slack channel id (`C…` public, `G…` private).
pub const SLACK_CHANNEL_PATTERN: &str = r"^[CG][A-Z0-9]{6,20}$";
/// An IPv4 or IPv6 address or CIDR.
const IP_OR_CIDR_PATTERN: &str = r"^[0-9a-fA-F:.]{2,39}(/[0-9]{1,3})?$";

/// Better Stack has no network firewall; a `betterstack` block of a FirewallPolicy is refused.
/// It exists because every registered provider has both blocks; what Better Stack offers that
/// touches the network (the probe addresses, a status page's `ipAllowlist`) is declared in the
/// MonitoringPolicy block or read by other providers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("false").message("Better Stack has no firewall: declare monitors, heartbeats, escalation policies and status pages in a MonitoringPolicy").reason(Reason::FieldValueForbidden))]
pub struct BetterstackFirewall {}

/// One Better Stack Uptime team's monitoring. A list that is absent is not managed at all; a
/// list that is present is the whole list (`unmanaged: Remove` deletes what it does not name).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BetterstackMonitoring {
    /// Uptime monitors, each identified by its URL and monitor type (never by Better Stack's id).
    /// Each must be up, unpaused and checked within three check periods; a monitor that is not
    /// is a finding (`MonitorDown`, `MonitorPaused`, `MonitorNotChecked`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["url", "monitorType"]))]
    #[schemars(length(max = 500))]
    pub monitors: Option<Vec<Monitor>>,
    /// Heartbeats (push checks that a scheduled job pings), identified by name. A heartbeat
    /// that is down is a finding (`HeartbeatDown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[schemars(length(max = 200))]
    pub heartbeats: Option<Vec<Heartbeat>>,
    /// Escalation policies (`/api/v3/policies`), identified by name: who is alerted, in which
    /// order. Only escalation steps can be declared; a time or metadata branching step at
    /// Better Stack shows as drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[schemars(length(max = 50))]
    pub escalation_policies: Option<Vec<EscalationPolicy>>,
    /// Status pages, identified by subdomain: whether they are published and who may view
    /// them (`ipAllowlist`, a paid feature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["subdomain"]))]
    #[schemars(length(max = 50))]
    pub status_pages: Option<Vec<StatusPage>>,
}

/// One uptime monitor. Attributes that are absent are not managed (Better Stack keeps its own);
/// `paused` is always compared: a declared monitor is meant to run unless it says otherwise.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.monitorType != 'expected_status_code' || has(self.expectedStatusCodes)").message("monitorType expected_status_code needs expectedStatusCodes").reason(Reason::FieldValueRequired))]
#[x_kube(validation = Rule::new("!has(self.expectedStatusCodes) || self.monitorType == 'expected_status_code'").message("expectedStatusCodes is only read for monitorType expected_status_code").reason(Reason::FieldValueInvalid))]
#[x_kube(validation = Rule::new("!(self.monitorType in ['keyword', 'keyword_absence', 'udp']) || has(self.requiredKeyword)").message("monitorType keyword, keyword_absence and udp need requiredKeyword").reason(Reason::FieldValueRequired))]
#[x_kube(validation = Rule::new("!(self.monitorType in ['tcp', 'udp', 'smtp', 'pop', 'imap']) || has(self.port)").message("monitorType tcp, udp, smtp, pop and imap need port").reason(Reason::FieldValueRequired))]
#[x_kube(validation = Rule::new("!has(self.sslExpiration) || self.sslExpiration in [1, 2, 3, 7, 14, 30, 60]").message("sslExpiration is one of 1, 2, 3, 7, 14, 30, 60 (days)").reason(Reason::FieldValueInvalid))]
#[x_kube(validation = Rule::new("!has(self.domainExpiration) || self.domainExpiration in [1, 2, 3, 7, 14, 30, 60]").message("domainExpiration is one of 1, 2, 3, 7, 14, 30, 60 (days)").reason(Reason::FieldValueInvalid))]
pub struct Monitor {
    /// The URL checked (`https://…`), or the host for ping, TCP, UDP, SMTP, POP, IMAP and DNS
    /// monitors. With `monitorType`, the monitor's identity.
    #[schemars(length(min = 1, max = 2048), regex(pattern = TARGET_PATTERN))]
    pub url: String,
    /// What is checked (`monitor_type`), as Better Stack names it.
    pub monitor_type: MonitorType,
    /// Seconds between checks (`check_frequency`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30, max = 86400))]
    pub check_frequency: Option<u32>,
    /// Regions the checks run from (`regions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(min = 1, max = 4))]
    pub regions: Option<Vec<Region>>,
    /// Status codes that count as up (`expected_status_codes`), for `expected_status_code`
    /// monitors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(min = 1, max = 20), inner(range(min = 100, max = 599)))]
    pub expected_status_codes: Option<Vec<u16>>,
    /// The keyword that must (or, for `keyword_absence`, must not) be in the answer
    /// (`required_keyword`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 500))]
    pub required_keyword: Option<String>,
    /// Port(s) for TCP, UDP, SMTP, POP and IMAP monitors (`port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = PORT_PATTERN))]
    pub port: Option<String>,
    /// Days before the TLS certificate expires to alert (`ssl_expiration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_expiration: Option<u8>,
    /// Days before the domain expires to alert (`domain_expiration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_expiration: Option<u8>,
    /// The escalation policy alerted when the monitor fails, by name (`policy_id` holds its
    /// id; Perimeter resolves the name on each pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100), regex(pattern = NAME_PATTERN))]
    pub escalation_policy: Option<String>,
    /// Whether the monitor is paused (`paused`). Default `false`: a paused monitor checks
    /// nothing, so it is both drift and a `MonitorPaused` finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
}

/// A monitor type (`monitor_type`).
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MonitorType {
    /// A 2xx answer.
    Status,
    /// One of `expectedStatusCodes`.
    ExpectedStatusCode,
    /// The answer contains `requiredKeyword`.
    Keyword,
    /// The answer does not contain `requiredKeyword`.
    KeywordAbsence,
    Ping,
    Tcp,
    Udp,
    Smtp,
    Pop,
    Imap,
    Dns,
    Playwright,
}

impl MonitorType {
    pub const ALL: [MonitorType; 12] = [
        Self::Status,
        Self::ExpectedStatusCode,
        Self::Keyword,
        Self::KeywordAbsence,
        Self::Ping,
        Self::Tcp,
        Self::Udp,
        Self::Smtp,
        Self::Pop,
        Self::Imap,
        Self::Dns,
        Self::Playwright,
    ];

    /// The API's name (`monitor_type`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::ExpectedStatusCode => "expected_status_code",
            Self::Keyword => "keyword",
            Self::KeywordAbsence => "keyword_absence",
            Self::Ping => "ping",
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Smtp => "smtp",
            Self::Pop => "pop",
            Self::Imap => "imap",
            Self::Dns => "dns",
            Self::Playwright => "playwright",
        }
    }
}

/// A region checks run from (`regions`).
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    Us,
    Eu,
    As,
    Au,
}

impl Region {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Us => "us",
            Self::Eu => "eu",
            Self::As => "as",
            Self::Au => "au",
        }
    }
}

/// One heartbeat.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    /// The heartbeat's name (`name`), its identity.
    #[schemars(length(min = 1, max = 100), regex(pattern = NAME_PATTERN))]
    pub name: String,
    /// Seconds expected between pings (`period`).
    #[schemars(range(min = 30, max = 2592000))]
    pub period: u32,
    /// Seconds of lateness tolerated before the heartbeat is down (`grace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 2592000))]
    pub grace: Option<u32>,
    /// The escalation policy alerted when it is down, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100), regex(pattern = NAME_PATTERN))]
    pub escalation_policy: Option<String>,
    /// Whether the heartbeat is paused. Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
}

/// One escalation policy. Its steps are written whole: the declared list replaces Better
/// Stack's. A step's severity (`urgency_id`) is neither compared nor written.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EscalationPolicy {
    /// The policy's name (`name`), its identity; monitors and heartbeats refer to it by it.
    #[schemars(length(min = 1, max = 100), regex(pattern = NAME_PATTERN))]
    pub name: String,
    /// How many times the policy repeats while nobody acknowledges (`repeat_count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 100))]
    pub repeat_count: Option<u32>,
    /// Seconds between repetitions (`repeat_delay`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 86400))]
    pub repeat_delay: Option<u32>,
    /// Escalation steps, in order.
    #[schemars(length(min = 1, max = 20))]
    pub steps: Vec<EscalationStep>,
}

/// One escalation step: after `waitBefore` seconds, alert its members.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EscalationStep {
    /// Seconds after the previous step (`wait_before`).
    #[serde(default)]
    #[schemars(range(max = 86400))]
    pub wait_before: u32,
    /// Who is alerted (`step_members`).
    #[schemars(length(min = 1, max = 20))]
    pub members: Vec<StepMember>,
}

/// One member of a step. A Slack integration is named by its channel id (`slackChannel`): the
/// integration's own id is Better Stack's, and Perimeter resolves it through
/// `/api/v2/slack-integrations`. Every other member that names one thing takes Better Stack's
/// `id` (a user, a webhook, a chained policy…).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(self.type == 'slack_integration') == has(self.slackChannel)").message("a slack_integration member is named by slackChannel (the channel id), and only it").reason(Reason::FieldValueInvalid))]
#[x_kube(validation = Rule::new("!(self.type in ['user', 'webhook', 'microsoft_teams_integration', 'pagerduty_integration', 'policy']) || has(self.id)").message("this member type names one thing: set its Better Stack id").reason(Reason::FieldValueRequired))]
#[x_kube(validation = Rule::new("!(self.type in ['entire_team', 'all_slack_integrations', 'slack_integration']) || !has(self.id)").message("this member type takes no id").reason(Reason::FieldValueInvalid))]
pub struct StepMember {
    /// The member type (`type`).
    #[serde(rename = "type")]
    pub kind: MemberType,
    /// Better Stack's id of the user, webhook, integration, on-call calendar or policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub id: Option<u64>,
    /// For `slack_integration`: the Slack channel id the integration posts to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SLACK_CHANNEL_PATTERN))]
    pub slack_channel: Option<String>,
}

/// A step member type, as Better Stack names it.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MemberType {
    /// Whoever is on call (the default calendar, or the calendar `id`).
    CurrentOnCall,
    EntireTeam,
    AllSlackIntegrations,
    User,
    Webhook,
    SlackIntegration,
    MicrosoftTeamsIntegration,
    PagerdutyIntegration,
    /// Another escalation policy, chained.
    Policy,
}

impl MemberType {
    pub const ALL: [MemberType; 9] = [
        Self::CurrentOnCall,
        Self::EntireTeam,
        Self::AllSlackIntegrations,
        Self::User,
        Self::Webhook,
        Self::SlackIntegration,
        Self::MicrosoftTeamsIntegration,
        Self::PagerdutyIntegration,
        Self::Policy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CurrentOnCall => "current_on_call",
            Self::EntireTeam => "entire_team",
            Self::AllSlackIntegrations => "all_slack_integrations",
            Self::User => "user",
            Self::Webhook => "webhook",
            Self::SlackIntegration => "slack_integration",
            Self::MicrosoftTeamsIntegration => "microsoft_teams_integration",
            Self::PagerdutyIntegration => "pagerduty_integration",
            Self::Policy => "policy",
        }
    }
}

/// One status page.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusPage {
    /// The page's subdomain (`subdomain`, `<subdomain>.betteruptime.com`), its identity.
    #[schemars(regex(pattern = SUBDOMAIN_PATTERN))]
    pub subdomain: String,
    /// The name shown on the page (`company_name`); needed to create it.
    #[schemars(length(min = 1, max = 100), regex(pattern = NAME_PATTERN))]
    pub company_name: String,
    /// Whether the page is public (`published`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<bool>,
    /// Addresses allowed to view the page (`ip_allowlist`, IPv4/IPv6 addresses or CIDRs; a
    /// paid feature). An empty list lets everyone view it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(max = 500), inner(regex(pattern = IP_OR_CIDR_PATTERN)))]
    pub ip_allowlist: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The bounds and keys a user meets at admission, before any Better Stack call.
    #[test]
    fn the_schema_carries_the_keys_and_bounds() {
        let schema =
            serde_json::to_value(schemars::schema_for!(BetterstackMonitoring)).expect("schema");
        let props = &schema["properties"];
        assert_eq!(
            props["monitors"]["x-kubernetes-list-map-keys"],
            json!(["url", "monitorType"])
        );
        assert_eq!(
            props["heartbeats"]["x-kubernetes-list-map-keys"],
            json!(["name"])
        );
        assert_eq!(
            props["escalationPolicies"]["x-kubernetes-list-map-keys"],
            json!(["name"])
        );
        assert_eq!(
            props["statusPages"]["x-kubernetes-list-map-keys"],
            json!(["subdomain"])
        );
        let monitor = serde_json::to_value(schemars::schema_for!(Monitor)).expect("schema");
        assert_eq!(monitor["required"], json!(["url", "monitorType"]));
        let p = &monitor["properties"];
        assert_eq!(p["checkFrequency"]["minimum"], json!(30));
        assert_eq!(p["url"]["maxLength"], json!(2048));
        let rules = monitor["x-kubernetes-validations"].to_string();
        for word in [
            "expectedStatusCodes",
            "requiredKeyword",
            "port",
            "sslExpiration",
        ] {
            assert!(rules.contains(word), "{word}: {rules}");
        }
        let member = serde_json::to_value(schemars::schema_for!(StepMember)).expect("schema");
        assert!(
            member["x-kubernetes-validations"]
                .to_string()
                .contains("slackChannel")
        );
        let text = schema.to_string();
        for t in MonitorType::ALL {
            assert!(text.contains(&format!("\"{}\"", t.as_str())), "{t:?}");
        }
        for t in MemberType::ALL {
            assert!(text.contains(&format!("\"{}\"", t.as_str())), "{t:?}");
        }
    }

    /// The enums serialise to the API's own names.
    #[test]
    fn enums_use_the_api_names() {
        for t in MonitorType::ALL {
            assert_eq!(serde_json::to_value(t).expect("t"), json!(t.as_str()));
        }
        for t in MemberType::ALL {
            assert_eq!(serde_json::to_value(t).expect("t"), json!(t.as_str()));
        }
        for r in [Region::Us, Region::Eu, Region::As, Region::Au] {
            assert_eq!(serde_json::to_value(r).expect("r"), json!(r.as_str()));
        }
    }

    #[test]
    fn the_patterns_accept_what_better_stack_uses() {
        let re = |p: &str| regex::Regex::new(p).expect("pattern");
        let (target, name, port, sub, chan, ip) = (
            re(TARGET_PATTERN),
            re(NAME_PATTERN),
            re(PORT_PATTERN),
            re(SUBDOMAIN_PATTERN),
            re(SLACK_CHANNEL_PATTERN),
            re(IP_OR_CIDR_PATTERN),
        );
        assert!(target.is_match("https://example.com/health?x=1"));
        assert!(target.is_match("db.example.com"));
        assert!(!target.is_match("https://example.com/a b"));
        assert!(!target.is_match("https://example.com/\n"));
        assert!(name.is_match("On-call (primary)"));
        assert!(name.is_match("x"));
        assert!(!name.is_match(" padded"));
        assert!(!name.is_match("line\nbreak"));
        assert!(port.is_match("25,465,587"));
        assert!(!port.is_match("25;465"));
        assert!(sub.is_match("status-acme"));
        assert!(!sub.is_match("-acme") && !sub.is_match("Acme") && !sub.is_match("a.b"));
        assert!(chan.is_match("C0123ABCD") && chan.is_match("G01ABCDEF"));
        assert!(!chan.is_match("#alerts") && !chan.is_match("c0123abcd"));
        assert!(ip.is_match("203.0.113.0/24") && ip.is_match("2001:db8::/32"));
        assert!(!ip.is_match("example.com"));
    }
}
