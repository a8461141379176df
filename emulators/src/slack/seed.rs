//! The seed document of the Slack emulator: one workspace, the tokens that can call it, and its
//! channels with their members and messages.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Everything the emulator starts with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// The workspace id (`T…`).
    pub team_id: String,
    /// The workspace name.
    #[serde(default)]
    pub team: String,
    #[serde(default)]
    pub tokens: Vec<Token>,
    #[serde(default)]
    pub channels: Vec<Channel>,
}

/// A bot (or user) token and what it may do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// The token itself (`xoxb-…`).
    pub token: String,
    /// The bot user's id (`U…`): channel membership is by user.
    pub user_id: String,
    /// The bot's id (`B…`); absent for a user token.
    #[serde(default)]
    pub bot_id: Option<String>,
    /// Granted OAuth scopes (`channels:read`, `chat:write`, …).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// A revoked token answers `token_revoked`.
    #[serde(default)]
    pub revoked: bool,
}

/// One channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// `C…` or `G…`.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub is_private: bool,
    #[serde(default)]
    pub is_archived: bool,
    /// User ids of the members.
    #[serde(default)]
    pub members: Vec<String>,
    /// Messages, oldest first. Posting appends.
    #[serde(default)]
    pub messages: Vec<Message>,
}

/// One message, the fields the emulator models.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// `1503435956.000247`.
    pub ts: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub bot_id: Option<String>,
    pub text: String,
}

/// The scopes Slack's bot tokens can hold that the emulated methods check.
pub const SCOPES: [&str; 8] = [
    "channels:read",
    "groups:read",
    "channels:history",
    "groups:history",
    "channels:join",
    "chat:write",
    "chat:write.public",
    "team:read",
];

fn upper_id(value: &str, first: &[char]) -> bool {
    let mut chars = value.chars();
    chars.next().is_some_and(|c| first.contains(&c))
        && (7..=21).contains(&value.len())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Whether `value` is a channel id the emulator accepts (`C…`/`G…`, upper case and digits).
pub fn is_channel_id(value: &str) -> bool {
    upper_id(value, &['C', 'G'])
}

/// Whether `value` is a message timestamp (`seconds.micros`).
pub fn is_ts(value: &str) -> bool {
    value.split_once('.').is_some_and(|(s, f)| {
        !s.is_empty()
            && s.len() <= 12
            && f.len() == 6
            && s.bytes().all(|b| b.is_ascii_digit())
            && f.bytes().all(|b| b.is_ascii_digit())
    })
}

impl Seed {
    /// Checks the seed is a workspace Slack could have: ids in Slack's forms, unique channels,
    /// tokens of the `xox?-` kinds with known scopes, well-formed message timestamps.
    pub fn validate(&self) -> Result<(), String> {
        if !upper_id(&self.team_id, &['T']) {
            return Err(format!(
                "team_id {:?} is not a workspace id (T…)",
                self.team_id
            ));
        }
        let mut tokens = BTreeSet::new();
        for t in &self.tokens {
            if !(t.token.starts_with("xoxb-") || t.token.starts_with("xoxp-")) {
                return Err("a token is not a bot (xoxb-) or user (xoxp-) token".into());
            }
            if !tokens.insert(t.token.as_str()) {
                return Err("a token is given twice".into());
            }
            if !upper_id(&t.user_id, &['U', 'W']) {
                return Err(format!("user_id {:?} is not a user id", t.user_id));
            }
            if let Some(b) = &t.bot_id
                && !upper_id(b, &['B'])
            {
                return Err(format!("bot_id {b:?} is not a bot id"));
            }
            if let Some(s) = t.scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
                return Err(format!("scope {s:?} is not one the emulator knows"));
            }
        }
        let mut ids = BTreeSet::new();
        for c in &self.channels {
            if !is_channel_id(&c.id) {
                return Err(format!("channel id {:?} is not C… or G…", c.id));
            }
            if !ids.insert(c.id.as_str()) {
                return Err(format!("channel {} is given twice", c.id));
            }
            if c.name.is_empty() || c.name.len() > 80 {
                return Err(format!("channel {} has no valid name", c.id));
            }
            let mut last = String::new();
            for m in &c.messages {
                if !is_ts(&m.ts) {
                    return Err(format!(
                        "message ts {:?} in {} is not seconds.micros",
                        m.ts, c.id
                    ));
                }
                if ts_key(&m.ts) <= ts_key(&last) {
                    return Err(format!("messages of {} are not oldest first", c.id));
                }
                last.clone_from(&m.ts);
            }
        }
        Ok(())
    }
}

/// A timestamp as a sortable pair (seconds, micros); the empty string sorts first.
pub fn ts_key(ts: &str) -> (u64, u64) {
    ts.split_once('.')
        .map(|(s, f)| (s.parse().unwrap_or(0), f.parse().unwrap_or(0)))
        .unwrap_or((0, 0))
}
