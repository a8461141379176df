//! Alert routing verified end to end: a source provider's observed routes joined with the
//! Slack channels Slack's API vouched for. A route counts when the channel it reaches is
//! live (exists, not archived, the bot is a member); a route to a channel that is not — or
//! that no `slack:` MonitoringPolicy checks — is a gap naming the channel.

use serde::{Deserialize, Serialize};

use super::{InSync, PolicyFacts};
use crate::core::routing::{AlertRoute, ChannelCheck, SlackChannelRef};

/// Where one observed route ends, as the report shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RouteReach {
    /// The route, in the source provider's words.
    pub route: String,
    /// The channel (`#name (C…)`), or the destination that is not a channel.
    pub reaches: String,
    /// `reaches` is a Slack channel.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub slack: bool,
    pub state: ReachState,
    /// Why it does not count (archived, not checked, not a channel…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReachState {
    /// A channel Slack says is live.
    Live,
    /// A destination Perimeter cannot check (e-mail, pager, a webhook that is not Slack's).
    Unverifiable,
    /// A Slack channel that is not live, or that no `slack:` MonitoringPolicy checks.
    Dead,
}

/// The Slack channels vouched for by fresh reads, across every policy in the snapshot.
#[derive(Debug, Default)]
pub struct Channels<'a> {
    checks: Vec<&'a ChannelCheck>,
}

impl<'a> Channels<'a> {
    /// Channel checks of policies whose last read is known and fresh: a stale or failed
    /// read vouches for nothing.
    pub fn from_policies<'p>(policies: impl IntoIterator<Item = &'p PolicyFacts>) -> Self
    where
        'p: 'a,
    {
        let checks = policies
            .into_iter()
            .filter(|p| !p.stale && !p.paused && p.in_sync != InSync::Unknown)
            .flat_map(|p| p.channels.iter())
            .collect();
        Self { checks }
    }

    /// The check that answers for `r`: by id (`C…`), or by name when the route only has
    /// `#name`; within the route's workspace when it names one. A live check wins over a dead
    /// one for the same channel (two policies may check it; one may be older).
    fn find(&self, r: &SlackChannelRef) -> Option<&'a ChannelCheck> {
        let wanted = r.channel.trim();
        let matches = |c: &&&ChannelCheck| {
            let same_team = r.team.as_deref().is_none_or(|t| t == c.team);
            let same_channel = match wanted.strip_prefix('#') {
                Some(name) => !name.is_empty() && c.name == name,
                None => c.id == wanted,
            };
            same_team && same_channel
        };
        let mut found: Vec<&'a ChannelCheck> =
            self.checks.iter().filter(matches).copied().collect();
        found.sort_by_key(|c| !c.live);
        found.first().copied()
    }

    /// Where `route` ends.
    pub fn reach(&self, route: &AlertRoute) -> RouteReach {
        let (reaches, state, why) = match (&route.slack, &route.other) {
            // The source itself says the route is broken (a failing webhook, a destination
            // that is gone): dead, whatever it points at.
            (slack, other) if route.problem.is_some() => (
                slack
                    .as_ref()
                    .map(|r| label_of_ref(r, self.find(r)))
                    .or_else(|| other.clone())
                    .unwrap_or_else(|| "nothing".into()),
                ReachState::Dead,
                route.problem.clone(),
            ),
            (Some(r), _) => match self.find(r) {
                Some(c) if c.live => (label_of_ref(r, Some(c)), ReachState::Live, None),
                Some(c) => (
                    label_of_ref(r, Some(c)),
                    ReachState::Dead,
                    Some(c.reason.clone().unwrap_or_else(|| "not live".into())),
                ),
                None => (
                    label_of_ref(r, None),
                    ReachState::Dead,
                    Some(
                        "no slack: MonitoringPolicy checks this channel, so nobody knows it is read"
                            .into(),
                    ),
                ),
            },
            (None, Some(other)) => (
                other.clone(),
                ReachState::Unverifiable,
                Some("not a Slack channel: Perimeter cannot check that it is read".into()),
            ),
            (None, None) => (
                "nothing".into(),
                ReachState::Unverifiable,
                Some("the route names no destination".into()),
            ),
        };
        RouteReach {
            route: route.route.clone(),
            reaches,
            slack: route.slack.is_some(),
            state,
            why,
        }
    }
}

/// `#name (C…)` when the name is known, else the id (or the `#name` the route gave).
fn label_of_ref(r: &SlackChannelRef, check: Option<&ChannelCheck>) -> String {
    match check {
        Some(c) if !c.name.is_empty() => format!("#{} ({})", c.name, c.id),
        Some(c) => c.id.clone(),
        None => r.channel.clone(),
    }
}

/// The verdict on one provider's observed routes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub reaches: Vec<RouteReach>,
}

impl Verdict {
    pub fn of(routes: &[&AlertRoute], channels: &Channels<'_>) -> Self {
        let mut reaches: Vec<RouteReach> = routes.iter().map(|r| channels.reach(r)).collect();
        reaches.sort_by(|a, b| (b.state, &a.route).cmp(&(a.state, &b.route)));
        Self { reaches }
    }

    pub fn dead(&self) -> impl Iterator<Item = &RouteReach> {
        self.reaches.iter().filter(|r| r.state == ReachState::Dead)
    }

    pub fn live(&self) -> impl Iterator<Item = &RouteReach> {
        self.reaches.iter().filter(|r| r.state == ReachState::Live)
    }
}
