//! The Slack blocks of `MonitoringPolicy` (and the refusal of a Slack `FirewallPolicy`): Slack
//! is where alerts arrive, so what Perimeter checks of it is that each declared alert channel
//! is live — it exists in the declared workspace, is not archived, and Perimeter's bot (whose
//! token the `CloudProvider` holds) is a member of it — read with `auth.test` and
//! `conversations.info`. An explicit, one-off test alert (`chat.postMessage`) proves delivery;
//! its message timestamp (`ts`) is the evidence.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A workspace id (`team_id`, `T…`). An Enterprise Grid org id (`E…`) is not a workspace:
/// channels live in workspaces.
pub const TEAM_ID_PATTERN: &str = r"^T[A-Z0-9]{6,20}$";
/// A channel id: `C…` (public, or private since 2021), or `G…` (private channels made before
/// 2021). Direct messages (`D…`) are no alert channel. Names are not accepted: a channel can be
/// renamed, and another one can take its old name.
pub const CHANNEL_ID_PATTERN: &str = r"^[CG][A-Z0-9]{6,20}$";
/// A channel name as Slack allows it (lower case, digits, `-`, `_`; at most 80 characters).
pub const CHANNEL_NAME_PATTERN: &str = r"^[a-z0-9][a-z0-9_-]{0,79}$";
/// How many alert channels one policy may declare: each is one `conversations.info` call
/// (Tier 3, about 50 a minute) per read.
pub const MAX_CHANNELS: u32 = 20;

/// Slack has no firewall: it is an alert destination, not a network edge. This block exists
/// only because every provider has one; it is refused at admission (and by `perimeter check`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(deny_unknown_fields)]
#[x_kube(validation = Rule::new("false").message("Slack has no firewall: declare its alert channels in a MonitoringPolicy (spec.slack)").reason(Reason::FieldValueForbidden))]
pub struct SlackFirewall {}

/// The alert channels of one Slack workspace, as Perimeter's bot sees them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.testAlert) || self.channels.exists(c, c.id == self.testAlert.channel)").message("testAlert.channel must be one of the declared channels").reason(Reason::FieldValueInvalid))]
pub struct SlackMonitoring {
    /// The workspace id (`T…`, the `team_id` that `auth.test` answers for the bot token). A
    /// token of another workspace is drift on `workspace[teamId]`, and its channels are not
    /// counted as live.
    #[schemars(regex(pattern = TEAM_ID_PATTERN))]
    pub team_id: String,
    /// The channels alerts are sent to. Each must exist, not be archived, and have the bot as a
    /// member (`conversations.info`); one that is not is drift on that channel's field. Enforce
    /// adds the bot to a public channel it is not in (`conversations.join`, scope
    /// `channels:join`); an archived, unknown or private channel is only reported (a bot cannot
    /// unarchive, create with a known id, or invite itself).
    #[schemars(length(min = 1, max = MAX_CHANNELS))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"]))]
    pub channels: Vec<AlertChannel>,
    /// An explicit test alert: when `requestedAt` is new, Enforce posts one message to
    /// `channel` (`chat.postMessage`, scope `chat:write`), once; its `ts` is recorded as
    /// evidence. Nothing is ever posted on a schedule, and Observe never posts: it looks for
    /// the message in the channel's history (`conversations.history`, scope
    /// `channels:history` or `groups:history`) and reports it as delivered or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_alert: Option<TestAlert>,
}

/// One alert channel, by id.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertChannel {
    /// The channel id (`C…` or `G…`), as the channel's "Copy link" or details show it.
    #[schemars(regex(pattern = CHANNEL_ID_PATTERN))]
    pub id: String,
    /// The channel's expected name, without `#`. Optional: when set, a rename is drift on
    /// `channels[<id>].name` (alerts still arrive, but whoever reads the policy looks for the
    /// old name). Never written: Perimeter does not rename channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = CHANNEL_NAME_PATTERN))]
    pub name: Option<String>,
}

/// A test alert, requested once.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestAlert {
    /// The declared channel to post to.
    #[schemars(regex(pattern = CHANNEL_ID_PATTERN))]
    pub channel: String,
    /// When the test was requested (RFC 3339, e.g. `2026-11-29T10:00:00Z`). A new value asks
    /// for one new message; the message quotes it, which is how a later read finds it. A value
    /// in the future is refused (the message could never be found after it, and would be sent
    /// again), as is one more than 7 days old (set it to now).
    #[schemars(length(min = 20, max = 35))]
    pub requested_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The bounds and rules a user meets at admission, before any Slack call.
    #[test]
    fn the_schema_carries_the_bounds() {
        let schema = serde_json::to_value(schemars::schema_for!(SlackMonitoring)).expect("schema");
        let props = &schema["properties"];
        assert_eq!(props["teamId"]["pattern"], json!(TEAM_ID_PATTERN));
        let channels = &props["channels"];
        assert_eq!(channels["minItems"], json!(1));
        assert_eq!(channels["maxItems"], json!(MAX_CHANNELS));
        assert_eq!(channels["x-kubernetes-list-type"], json!("map"));
        assert_eq!(channels["x-kubernetes-list-map-keys"], json!(["id"]));
        assert_eq!(schema["required"], json!(["teamId", "channels"]));
        let rules = schema["x-kubernetes-validations"].to_string();
        assert!(rules.contains("testAlert.channel"), "{rules}");
        let text = schema.to_string();
        assert!(text.contains(CHANNEL_ID_PATTERN), "{text}");
        let fw = serde_json::to_value(schemars::schema_for!(SlackFirewall)).expect("schema");
        assert_eq!(fw["x-kubernetes-validations"][0]["rule"], json!("false"));
    }

    #[test]
    fn the_id_patterns_accept_what_slack_uses() {
        let team = regex::Regex::new(TEAM_ID_PATTERN).expect("pattern");
        assert!(team.is_match("T012AB3C4"));
        for bad in ["E012AB3C4", "t012ab3c4", "T012AB3C4/../x", "T01"] {
            assert!(!team.is_match(bad), "{bad}");
        }
        let channel = regex::Regex::new(CHANNEL_ID_PATTERN).expect("pattern");
        for ok in ["C012AB3CD", "G0123456789"] {
            assert!(channel.is_match(ok), "{ok}");
        }
        for bad in ["#alerts", "D012AB3CD", "C012AB3CD&x=1", "alerts"] {
            assert!(!channel.is_match(bad), "{bad}");
        }
        let name = regex::Regex::new(CHANNEL_NAME_PATTERN).expect("pattern");
        assert!(name.is_match("ops-alerts"));
        assert!(!name.is_match("#ops-alerts"));
        assert!(!name.is_match("Ops Alerts"));
    }

    #[test]
    fn a_firewall_block_never_parses_with_fields() {
        assert!(serde_json::from_value::<SlackFirewall>(json!({"rules": []})).is_err());
    }
}
