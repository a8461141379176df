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

impl AlertRoute {
    /// Perimeter's own alerts: the Alertmanager Slack receiver the chart renders, whose
    /// channel the operator is told with `--alerts-slack-channel`.
    pub fn perimeter_alerts(channel: SlackChannelRef) -> Self {
        Self {
            route: "Alertmanager's Slack receiver for Perimeter's alerts".into(),
            slack: Some(channel),
            other: None,
            problem: None,
        }
    }
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

impl SlackChannelRef {
    /// Parses how an operator flag names a channel: `C…`, `#name`, or either behind the
    /// workspace, `T…/C…`. Refused with the reason when it is none of these.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (team, channel) = match s.split_once('/') {
            Some((t, c)) => (Some(t), c),
            None => (None, s),
        };
        let id = |v: &str, first: &[char]| {
            v.len() >= 3
                && v.len() <= 24
                && v.starts_with(first)
                && v.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        };
        if let Some(t) = team
            && !id(t, &['T'])
        {
            // The value is not quoted: a mistyped webhook URL would be a credential.
            return Err(
                "the part before '/' is not a Slack workspace id (T followed by capitals and digits)"
                    .into(),
            );
        }
        let ok = match channel.strip_prefix('#') {
            Some(name) => {
                !name.is_empty()
                    && name.len() <= 80
                    && name.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
                    })
            }
            None => id(channel, &['C', 'G']),
        };
        if !ok {
            return Err(
                "it is not a Slack channel: give its id (C…) or #name (lower case), optionally \
                 behind the workspace id (T…/C…)"
                    .into(),
            );
        }
        Ok(Self {
            team: team.map(str::to_string),
            channel: channel.to_string(),
        })
    }
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

#[cfg(test)]
mod tests {
    use super::SlackChannelRef;

    #[test]
    fn a_channel_flag_parses_or_says_why_not() {
        let ok = |s: &str, team: Option<&str>, channel: &str| {
            let r = SlackChannelRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(
                (r.team.as_deref(), r.channel.as_str()),
                (team, channel),
                "{s}"
            );
        };
        ok("C0ALERTS01", None, "C0ALERTS01");
        ok(" T0DEM0ACME/C0ALERTS01 ", Some("T0DEM0ACME"), "C0ALERTS01");
        ok("#perimeter-alerts", None, "#perimeter-alerts");
        ok(
            "T0DEM0ACME/#ops.alerts_2",
            Some("T0DEM0ACME"),
            "#ops.alerts_2",
        );
        ok("G0PRIVATE1", None, "G0PRIVATE1");
        for (bad, why) in [
            ("", "is not a Slack channel"),
            ("#", "is not a Slack channel"),
            ("#Ops", "is not a Slack channel"),
            ("perimeter-alerts", "is not a Slack channel"),
            ("c0alerts01", "is not a Slack channel"),
            (
                "https://hooks.slack.com/services/T/B/x",
                "not a Slack workspace id",
            ),
            ("X0TEAM/C0ALERTS01", "not a Slack workspace id"),
            ("T0DEM0ACME/", "is not a Slack channel"),
            ("T0DEM0ACME/C0A/C0B", "is not a Slack channel"),
        ] {
            let e = SlackChannelRef::parse(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
            assert!(!e.contains("hooks"), "the value is never quoted: {e}");
        }
    }
}
