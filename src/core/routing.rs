//! Where alerts go, as the providers' own APIs say: the facts DE.CM-1's alert routing is
//! verified from. A source provider (Cloudflare notification policies, Better Stack
//! escalation policies, GCP notification channels) reports the routes it observed; Slack
//! reports whether each declared channel is live. The assessment joins the two: a route
//! counts only when the channel it reaches is live.
//!
//! A route never carries a secret: a Slack incoming-webhook URL is the credential itself,
//! so routes name the channel (id or `#name`) and the route, never the URL.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One route an alert takes, as observed at the source provider.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertRoute {
    /// What routes the alert, in the provider's words, e.g. `escalation policy 'On-call'
    /// step 1`.
    pub route: String,
    /// The Slack channel it reaches, when it reaches one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackChannelRef>,
    /// What it reaches otherwise (e-mail, pager, a webhook that is not Slack's), described
    /// without secrets. Such a route cannot be verified live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<String>,
    /// The source provider's own word on the route when it is not working (e.g. Better
    /// Stack's `slack_status`), if it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A Slack channel as a route names it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlackChannelRef {
    /// The workspace (`T…`), when the route says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// The channel id (`C…`/`G…`), or `#name` when the source only gives a name
    /// (GCP's `channel_name` label, Alertmanager's `channel`).
    pub channel: String,
}

/// One declared Slack channel, as Slack's API answered for it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelCheck {
    /// The workspace (`T…`) the bot token belongs to.
    pub team: String,
    /// The channel id (`C…`/`G…`).
    pub id: String,
    /// The channel's name without `#`, when Slack gave it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Exists, is not archived, and the bot is a member: an alert posted there is read.
    pub live: bool,
    /// Why it is not live (`archived`, `not found`, `bot is not a member`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The alert-routing facts of one observation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertingFacts {
    /// Routes observed at a source provider.
    pub routes: Vec<AlertRoute>,
    /// Channels checked at Slack.
    pub channels: Vec<ChannelCheck>,
}
