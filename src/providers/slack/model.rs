//! Pure mapping between the Slack Web API's answers, the policy block and the neutral model.
//!
//! Sections, all `Settings` (only what is declared is read; other channels of the workspace are
//! never "unmanaged"):
//! - `workspace`: item `teamId` — the workspace the bot token belongs to (`auth.test`);
//! - `channels`: one item per declared channel id, fields `state` (`active`, `archived`, or
//!   `not found`) and `botIsMember`, and `name` when declared (`conversations.info`);
//! - `testAlert`: one item keyed by the canonical `requestedAt`, fields `channel` and
//!   `delivered` (the message found in the channel's history, from Perimeter's bot).
//!
//! Slack answers every method with HTTP 200 and `{"ok": false, "error": "<code>"}` on failure;
//! [`in_band_error`] tells the shared HTTP layer which codes are errors of the call (bad token,
//! missing scope, throttling, Slack's own failures) and which are answers for the caller
//! (`channel_not_found`: a per-channel observation, not a failed read).

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::core::normalize::Invalid;
use crate::core::{Item, Section, SectionKind, State};
use crate::error::Category;
use crate::http::{InBandError, sanitize};
use crate::providers::slack::api::SlackMonitoring;
use crate::providers::{Finding, Purpose, Scope, Target};

/// The workspace: item [`TEAM_ID`], field `value`.
pub const WORKSPACE: &str = "workspace";
/// The alert channels: one item per channel id.
pub const CHANNELS: &str = "channels";
/// The test alert: one item keyed by its `requestedAt`.
pub const TEST_ALERT: &str = "testAlert";

pub const TEAM_ID: &str = "teamId";
pub const STATE: &str = "state";
pub const BOT_IS_MEMBER: &str = "botIsMember";
pub const NAME: &str = "name";
pub const CHANNEL: &str = "channel";
pub const DELIVERED: &str = "delivered";

/// A channel that exists and is not archived.
pub const ACTIVE: &str = "active";
pub const ARCHIVED: &str = "archived";
/// What `conversations.info` answers `channel_not_found` for: a channel that does not exist,
/// or a private one the bot is not in (Slack does not tell them apart).
pub const NOT_FOUND: &str = "not found";

/// The error code that is an answer about one channel rather than a failed call.
pub const CHANNEL_NOT_FOUND: &str = "channel_not_found";

/// The words that open every test alert; with the canonical `requestedAt` after them they are
/// how a later read recognises the message.
pub const TEST_ALERT_MARK: &str = "Perimeter test alert, requested at";
/// How far before `requestedAt` the channel's history is searched: clock skew between the
/// user who wrote it and Slack.
pub const HISTORY_SKEW: SignedDuration = SignedDuration::from_mins(10);
/// A `requestedAt` older than this is refused: set it to now. It bounds the history a read
/// searches, and a stale value is more likely a copied manifest than a request.
pub const MAX_REQUEST_AGE: SignedDuration = SignedDuration::from_hours(7 * 24);

/// A declared alert channel Enforce cannot make live (archived, not found, private without the
/// bot, in another workspace): alerts sent there are lost until a person acts in Slack.
pub const SERVICE_UNHEALTHY: &str = crate::core::model::SERVICE_UNHEALTHY;

/// Every finding code this provider's reads can report.
pub const FINDING_CODES: &[&str] = &[SERVICE_UNHEALTHY];

/// Where a Slack target applies: one workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackScope {
    pub team_id: String,
}

impl fmt::Display for SlackScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "workspace {}", self.team_id)
    }
}

pub use crate::core::routing::ChannelCheck;

// ---- desired ---------------------------------------------------------------------------

pub fn monitoring_target(mon: &SlackMonitoring) -> Result<Target, Invalid> {
    let mut state = State::default();
    state.push(Section::new(
        WORKSPACE,
        SectionKind::Settings,
        vec![Item::new(TEAM_ID).field("value", mon.team_id.as_str())],
    ));
    let items = mon
        .channels
        .iter()
        .map(|c| {
            Item::new(c.id.as_str())
                .field(STATE, ACTIVE)
                .field(BOT_IS_MEMBER, true)
                .opt_field(NAME, c.name.as_deref())
        })
        .collect();
    let items = crate::core::model::unique_keys(CHANNELS, items)?;
    state.push(Section::new(CHANNELS, SectionKind::Settings, items));
    if let Some(test) = &mon.test_alert {
        if !mon.channels.iter().any(|c| c.id == test.channel) {
            return Err(Invalid(format!(
                "{TEST_ALERT}.channel: {} is not one of the declared channels",
                sanitize(&test.channel, 30)
            )));
        }
        let at = requested_at(&test.requested_at)?;
        state.push(Section::new(
            TEST_ALERT,
            SectionKind::Settings,
            vec![
                Item::new(at.to_string())
                    .field(CHANNEL, test.channel.as_str())
                    .field(DELIVERED, true),
            ],
        ));
    }
    Ok(Target {
        purpose: Purpose::Monitoring,
        scope: Scope::new(SlackScope {
            team_id: mon.team_id.clone(),
        }),
        desired: state,
    })
}

/// `requestedAt` as a timestamp (RFC 3339 with an offset; any offset is read as the instant it
/// names, and the canonical form is UTC).
pub fn requested_at(text: &str) -> Result<Timestamp, Invalid> {
    text.parse::<Timestamp>().map_err(|_| {
        Invalid(format!(
            "{TEST_ALERT}.requestedAt: {:?} is not an RFC 3339 time such as 2026-11-29T10:00:00Z",
            sanitize(text, 40)
        ))
    })
}

/// Whether a test alert requested `at` may be sent `now`: never for a time in the future
/// (beyond the skew), nor for one older than [`MAX_REQUEST_AGE`].
pub fn check_request_time(at: Timestamp, now: Timestamp) -> Result<(), Invalid> {
    if at > now + HISTORY_SKEW {
        return Err(Invalid(format!(
            "{TEST_ALERT}.requestedAt {at} is in the future: nothing is sent (a message sent now could not be told apart from one sent later)"
        )));
    }
    if at < now - MAX_REQUEST_AGE {
        return Err(Invalid(format!(
            "{TEST_ALERT}.requestedAt {at} is more than 7 days old: nothing is sent (set it to now to ask for a test alert)"
        )));
    }
    Ok(())
}

/// The test alert's text. Fixed but for the time: nothing a policy author writes reaches the
/// channel, so a policy cannot be used to post arbitrary messages.
pub fn test_alert_text(at: Timestamp) -> String {
    format!("{TEST_ALERT_MARK} {at}. If you can read this, Perimeter's alerts reach this channel.")
}

/// The `oldest` bound of the history search for a test alert requested `at`, in Slack's `ts`
/// form (seconds with six decimals).
pub fn history_oldest(at: Timestamp) -> String {
    let from = at - HISTORY_SKEW;
    format!("{}.000000", from.as_second().max(0))
}

// ---- answers ---------------------------------------------------------------------------

fn bad(what: impl fmt::Display) -> Invalid {
    Invalid(what.to_string())
}

/// How the shared HTTP layer reads Slack's in-band errors (`{"ok": false, "error": code}` with
/// HTTP 200). `None` for a successful answer, and for `channel_not_found`, which the caller
/// reads as an answer about that channel. Codes from the official spec's error enums and
/// Slack's method documentation.
pub fn in_band_error(body: &Value) -> Option<InBandError> {
    if body.get("ok").and_then(Value::as_bool) != Some(false) {
        return None;
    }
    let code = body.get("error").and_then(Value::as_str).unwrap_or("");
    let quoted = sanitize(code, 60);
    let category = match code {
        CHANNEL_NOT_FOUND => return None,
        "invalid_auth"
        | "not_authed"
        | "account_inactive"
        | "token_revoked"
        | "token_expired"
        | "not_allowed_token_type"
        | "no_permission"
        | "ekm_access_denied"
        | "org_login_required"
        | "team_access_not_granted" => Category::CredentialsRejected,
        "missing_scope" => {
            let scope = |key: &str| {
                body.get(key)
                    .and_then(Value::as_str)
                    .map(|s| sanitize(s, 120))
            };
            let needed = scope("needed").unwrap_or_else(|| "not named".into());
            let provided = scope("provided").map_or(String::new(), |p| format!("; it has: {p}"));
            return Some(InBandError {
                category: Some(Category::CredentialsRejected),
                message: format!("missing_scope: the bot token lacks the scope {needed}{provided}"),
            });
        }
        "ratelimited" | "rate_limited" => Category::Throttled,
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            Category::ProviderError
        }
        // Anything else is a refusal of this call, categorised as a 4xx would be.
        _ => {
            return Some(InBandError {
                category: None,
                message: if quoted.is_empty() {
                    "ok: false without an error code".into()
                } else {
                    quoted
                },
            });
        }
    };
    Some(InBandError {
        category: Some(category),
        message: quoted,
    })
}

/// An answer whose `ok` is not `true` (an error code the layer passed through, or something
/// else entirely): its code, for the caller's message.
pub fn not_ok(answer: &Value) -> Option<String> {
    match answer.get("ok").and_then(Value::as_bool) {
        Some(true) => None,
        Some(false) => Some(
            answer
                .get("error")
                .and_then(Value::as_str)
                .map_or_else(|| "ok: false".into(), |c| sanitize(c, 60)),
        ),
        None => Some("the answer has no boolean ok".into()),
    }
}

/// Who the bot token is (`auth.test`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub team_id: String,
    pub team: String,
    pub user_id: String,
    /// Absent for a user token: Perimeter wants a bot token, but a user token still reads.
    pub bot_id: Option<String>,
}

pub fn identity(answer: &Value) -> Result<Identity, Invalid> {
    if let Some(code) = not_ok(answer) {
        return Err(bad(format!("auth.test: {code}")));
    }
    let text = |key: &str| {
        answer
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| bad(format!("auth.test: {key} is not a string")))
    };
    Ok(Identity {
        team_id: text("team_id")?,
        team: text("team")?,
        user_id: text("user_id")?,
        bot_id: answer
            .get("bot_id")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// The observed workspace section.
pub fn observed_workspace(id: &Identity) -> Section {
    Section::new(
        WORKSPACE,
        SectionKind::Settings,
        vec![Item::new(TEAM_ID).field("value", sanitize(&id.team_id, 30))],
    )
}

/// One channel from the answer of `conversations.info` for `wanted`: its state and the bot's
/// membership, or `not found`. The raw answer's `is_private` is kept in `raw` (Enforce joins
/// public channels only).
pub fn observed_channel(answer: &Value, wanted: &str) -> Result<Item, Invalid> {
    if answer.get("ok").and_then(Value::as_bool) == Some(false)
        && answer.get("error").and_then(Value::as_str) == Some(CHANNEL_NOT_FOUND)
    {
        return Ok(Item::new(wanted)
            .field(STATE, NOT_FOUND)
            .field(BOT_IS_MEMBER, false)
            .field(NAME, ""));
    }
    if let Some(code) = not_ok(answer) {
        return Err(bad(format!("conversations.info: {code}")));
    }
    let channel = answer
        .get("channel")
        .filter(|c| c.is_object())
        .ok_or_else(|| bad("conversations.info: channel is not an object"))?;
    let id = channel
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("conversations.info: channel.id is not a string"))?;
    if id != wanted {
        return Err(bad(format!(
            "conversations.info answered for channel {}, not {wanted}",
            sanitize(id, 30)
        )));
    }
    let flag = |key: &str| match channel.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(format!(
            "conversations.info: channel.{key} is not a boolean"
        ))),
    };
    let archived = flag("is_archived")?;
    // Slack leaves `is_member` out for a bot that cannot see membership; absent is "not
    // shown to be a member", never "member".
    let member = flag("is_member")?;
    let private = flag("is_private")?;
    let name = channel.get("name").and_then(Value::as_str).unwrap_or("");
    Ok(Item::new(wanted)
        .field(STATE, if archived { ARCHIVED } else { ACTIVE })
        .field(BOT_IS_MEMBER, member)
        .field(NAME, sanitize(name, 80))
        .with_raw(serde_json::json!({ "is_private": private })))
}

/// Whether the observed channel item is a public channel (from its `raw`).
pub fn is_public(item: &Item) -> bool {
    item.raw
        .as_ref()
        .and_then(|r| r.get("is_private"))
        .and_then(Value::as_bool)
        == Some(false)
}

/// Every declared channel's check, from the observed sections and the desired team.
pub fn channel_checks(declared_team: &str, observed: &State) -> Vec<ChannelCheck> {
    let team = observed
        .section(WORKSPACE)
        .and_then(|s| s.get(TEAM_ID))
        .and_then(|i| i.fields.get("value"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(channels) = observed.section(CHANNELS) else {
        return Vec::new();
    };
    channels
        .items
        .iter()
        .map(|item| {
            let text = |k: &str| item.fields.get(k).and_then(Value::as_str).unwrap_or("");
            let member = item.fields.get(BOT_IS_MEMBER).and_then(Value::as_bool) == Some(true);
            let why = match text(STATE) {
                ACTIVE if team != declared_team => Some(format!("in workspace {team}")),
                ACTIVE if !member => Some("bot is not a member".to_string()),
                ACTIVE => None,
                other => Some(other.to_string()),
            };
            ChannelCheck {
                team: team.clone(),
                id: item.key.clone(),
                name: text(NAME).to_string(),
                live: why.is_none(),
                reason: why,
            }
        })
        .collect()
}

/// A `ServiceUnhealthy` finding for each channel that is not live for a reason Enforce cannot
/// correct. A public channel without the bot has none: Enforce joins it.
pub fn channel_findings(checks: &[ChannelCheck], observed: &State) -> Vec<Finding> {
    let public = |id: &str| {
        observed
            .section(CHANNELS)
            .and_then(|s| s.get(id))
            .is_some_and(is_public)
    };
    checks
        .iter()
        .filter_map(|c| {
            let why = c.reason.as_deref()?;
            let fixable = why == "bot is not a member" && public(&c.id);
            let name = if c.name.is_empty() {
                String::new()
            } else {
                format!(" (#{})", c.name)
            };
            let advice = match why {
                ARCHIVED => "unarchive it in Slack or declare another channel",
                NOT_FOUND => "check the id, or invite the bot if the channel is private",
                "bot is not a member" => "invite the bot to the private channel",
                _ => "use a bot token of the declared workspace",
            };
            (!fixable).then(|| Finding {
                code: SERVICE_UNHEALTHY,
                subject: format!("{CHANNELS}[{}]", c.id),
                message: format!(
                    "alert channel {}{name} is {why}: alerts sent there are lost; {advice}",
                    c.id
                ),
            })
        })
        .collect()
}

/// One page of `conversations.history`: the `ts` of the test alert requested `at` if this page
/// holds it (posted by `bot`, the bot user or bot id of the token), and the next cursor.
pub fn history_page(
    answer: &Value,
    at: Timestamp,
    bot: &Identity,
) -> Result<(Option<String>, Option<String>), Invalid> {
    if let Some(code) = not_ok(answer) {
        return Err(bad(format!("conversations.history: {code}")));
    }
    let messages = answer
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("conversations.history: messages is not a list"))?;
    let mark = format!("{TEST_ALERT_MARK} {at}.");
    let ours = |m: &Value| {
        let by_bot = bot
            .bot_id
            .as_deref()
            .is_some_and(|b| m.get("bot_id").and_then(Value::as_str) == Some(b));
        let by_user = m.get("user").and_then(Value::as_str) == Some(bot.user_id.as_str());
        (by_bot || by_user)
            && m.get("text")
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with(&mark))
    };
    let found = messages
        .iter()
        .find(|m| ours(m))
        .and_then(|m| m.get("ts").and_then(Value::as_str))
        .map(|ts| sanitize(ts, 30));
    Ok((found, next_cursor(answer)))
}

/// `response_metadata.next_cursor`, `None` when empty or absent (the last page).
pub fn next_cursor(answer: &Value) -> Option<String> {
    answer
        .pointer("/response_metadata/next_cursor")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

/// The observed test-alert item: delivered with its `ts` as handle, not delivered, or (when
/// the history was too long to read to the end) unknown — which Enforce never sends on.
pub fn observed_test_alert(at: Timestamp, channel: &str, read: &HistoryRead) -> Item {
    let item = Item::new(at.to_string()).field(CHANNEL, channel);
    match read {
        HistoryRead::Found(ts) => item.field(DELIVERED, true).with_handle(ts.as_str()),
        HistoryRead::NotFound => item.field(DELIVERED, false),
        HistoryRead::Unknown(why) => item.field(DELIVERED, format!("unknown: {why}")),
    }
}

/// What a search of a channel's history found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistoryRead {
    Found(String),
    NotFound,
    Unknown(String),
}

/// The `ts` of a posted message (`chat.postMessage`'s answer), checked against the channel.
pub fn posted_ts(answer: &Value, channel: &str) -> Result<String, Invalid> {
    if let Some(code) = not_ok(answer) {
        return Err(bad(format!("chat.postMessage: {code}")));
    }
    let ts = answer
        .get("ts")
        .and_then(Value::as_str)
        .filter(|t| is_ts(t))
        .ok_or_else(|| bad("chat.postMessage: ts is not a message timestamp"))?;
    if answer.get("channel").and_then(Value::as_str) != Some(channel) {
        return Err(bad("chat.postMessage answered for another channel"));
    }
    Ok(ts.to_string())
}

/// Slack's message timestamp form: `1503435956.000247`.
fn is_ts(text: &str) -> bool {
    text.split_once('.').is_some_and(|(s, f)| {
        !s.is_empty()
            && s.len() <= 12
            && f.len() == 6
            && s.bytes().all(|b| b.is_ascii_digit())
            && f.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The evidence line of a delivered test alert, for status and the evidence trail.
pub fn revision(at: Timestamp, channel: &str, ts: &str) -> String {
    format!("test alert requested {at} delivered to {channel} (ts {ts})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::slack::api::{AlertChannel, TestAlert};
    use serde_json::json;

    fn block(test: Option<TestAlert>) -> SlackMonitoring {
        SlackMonitoring {
            team_id: "T012AB3C4".into(),
            channels: vec![
                AlertChannel {
                    id: "C012AB3CD".into(),
                    name: Some("ops-alerts".into()),
                },
                AlertChannel {
                    id: "C061EG9T2".into(),
                    name: None,
                },
            ],
            test_alert: test,
        }
    }

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a time")
    }

    #[test]
    fn the_target_declares_workspace_channels_and_test() {
        let t = monitoring_target(&block(Some(TestAlert {
            channel: "C012AB3CD".into(),
            requested_at: "2026-11-29T11:00:00+01:00".into(),
        })))
        .expect("valid");
        let ws = t.desired.section(WORKSPACE).expect("workspace");
        assert_eq!(ws.items[0].fields["value"], json!("T012AB3C4"));
        let ch = t.desired.section(CHANNELS).expect("channels");
        assert_eq!(ch.kind, SectionKind::Settings);
        let named = ch.get("C012AB3CD").expect("declared");
        assert_eq!(named.fields[STATE], json!(ACTIVE));
        assert_eq!(named.fields[BOT_IS_MEMBER], json!(true));
        assert_eq!(named.fields[NAME], json!("ops-alerts"));
        assert!(
            !ch.get("C061EG9T2")
                .expect("declared")
                .fields
                .contains_key(NAME)
        );
        let test = t.desired.section(TEST_ALERT).expect("test");
        // Canonical UTC key, whatever offset was written.
        let item = test
            .get("2026-11-29T10:00:00Z")
            .expect("keyed by the instant");
        assert_eq!(item.fields[DELIVERED], json!(true));
        assert_eq!(t.scope.to_string(), "workspace T012AB3C4");
        assert!(
            monitoring_target(&block(None))
                .expect("valid")
                .desired
                .section(TEST_ALERT)
                .is_none()
        );
    }

    #[test]
    fn bad_blocks_are_refused_naming_the_field() {
        let cases = [
            (
                TestAlert {
                    channel: "C999999999".into(),
                    requested_at: "2026-11-29T10:00:00Z".into(),
                },
                "testAlert.channel",
            ),
            (
                TestAlert {
                    channel: "C012AB3CD".into(),
                    requested_at: "yesterday".into(),
                },
                "testAlert.requestedAt",
            ),
        ];
        for (test, want) in cases {
            let err = monitoring_target(&block(Some(test)))
                .expect_err("refused")
                .0;
            assert!(err.contains(want), "{err}");
        }
        let mut twice = block(None);
        twice.channels.push(twice.channels[0].clone());
        assert!(
            monitoring_target(&twice)
                .expect_err("refused")
                .0
                .contains("twice")
        );
    }

    #[test]
    fn request_times_in_the_future_or_stale_are_refused() {
        let now = at("2026-11-29T10:00:00Z");
        assert!(check_request_time(at("2026-11-29T09:00:00Z"), now).is_ok());
        assert!(
            check_request_time(at("2026-11-29T10:05:00Z"), now).is_ok(),
            "skew"
        );
        let future = check_request_time(at("2026-11-29T11:00:00Z"), now).expect_err("future");
        assert!(future.0.contains("future"), "{}", future.0);
        let stale = check_request_time(at("2026-11-20T10:00:00Z"), now).expect_err("stale");
        assert!(stale.0.contains("7 days"), "{}", stale.0);
        assert_eq!(
            history_oldest(at("2026-11-29T10:00:00Z")),
            "1795945800.000000"
        );
    }

    /// What [`in_band_error`] should say: the category (`None`: a plain refusal) and words.
    type Expected = Option<(Option<Category>, &'static str)>;

    /// Codes from the spec's error enums: which fail the call (and how), which reach the caller.
    #[test]
    fn in_band_errors_are_categorised() {
        let cases: [(Value, Expected); 9] = [
            (json!({"ok": true, "team_id": "T1"}), None),
            (json!({"ok": false, "error": "channel_not_found"}), None),
            (
                json!({"ok": false, "error": "invalid_auth"}),
                Some((Some(Category::CredentialsRejected), "invalid_auth")),
            ),
            (
                json!({"ok": false, "error": "token_revoked"}),
                Some((Some(Category::CredentialsRejected), "token_revoked")),
            ),
            (
                json!({"ok": false, "error": "missing_scope", "needed": "channels:read", "provided": "chat:write"}),
                Some((
                    Some(Category::CredentialsRejected),
                    "lacks the scope channels:read; it has: chat:write",
                )),
            ),
            (
                json!({"ok": false, "error": "ratelimited"}),
                Some((Some(Category::Throttled), "ratelimited")),
            ),
            (
                json!({"ok": false, "error": "fatal_error"}),
                Some((Some(Category::ProviderError), "fatal_error")),
            ),
            (
                json!({"ok": false, "error": "is_archived"}),
                Some((None, "is_archived")),
            ),
            // Quoted only through the sanitiser.
            (
                json!({"ok": false, "error": "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"}),
                Some((None, "***")),
            ),
        ];
        for (body, want) in cases {
            let got = in_band_error(&body).map(|e| (e.category, e.message));
            match (got, want) {
                (None, None) => {}
                (Some((cat, msg)), Some((want_cat, want_msg))) => {
                    assert_eq!(cat, want_cat, "{body}");
                    assert!(msg.contains(want_msg), "{body}: {msg}");
                }
                (got, want) => panic!("{body}: {got:?} != {want:?}"),
            }
        }
    }

    #[test]
    fn identity_reads_auth_test() {
        let answer = json!({"ok": true, "url": "https://acme.slack.com/", "team": "Acme",
            "user": "perimeter", "team_id": "T012AB3C4", "user_id": "U0PERIM01", "bot_id": "B0PERIM01",
            "is_enterprise_install": false});
        let id = identity(&answer).expect("valid");
        assert_eq!(id.team_id, "T012AB3C4");
        assert_eq!(id.bot_id.as_deref(), Some("B0PERIM01"));
        assert_eq!(
            observed_workspace(&id).items[0].fields["value"],
            json!("T012AB3C4")
        );
        for bad_answer in [
            json!({"ok": true}),
            json!([1]),
            json!({"ok": false, "error": "x"}),
            json!({"team_id": "T1"}),
        ] {
            assert!(identity(&bad_answer).is_err(), "{bad_answer}");
        }
    }

    #[test]
    fn channels_are_read_from_conversations_info() {
        let info = |archived: bool, member: Option<bool>| {
            let mut c = json!({"id": "C012AB3CD", "name": "ops-alerts", "is_channel": true,
                "is_private": false, "is_archived": archived, "created": 1449252889});
            if let Some(m) = member {
                c["is_member"] = json!(m);
            }
            json!({"ok": true, "channel": c})
        };
        let live = observed_channel(&info(false, Some(true)), "C012AB3CD").expect("valid");
        assert_eq!(live.fields[STATE], json!(ACTIVE));
        assert_eq!(live.fields[BOT_IS_MEMBER], json!(true));
        assert_eq!(live.fields[NAME], json!("ops-alerts"));
        assert!(is_public(&live));
        let archived = observed_channel(&info(true, Some(true)), "C012AB3CD").expect("valid");
        assert_eq!(archived.fields[STATE], json!(ARCHIVED));
        let unseen = observed_channel(&info(false, None), "C012AB3CD").expect("valid");
        assert_eq!(
            unseen.fields[BOT_IS_MEMBER],
            json!(false),
            "absent is not a member"
        );
        let gone = observed_channel(
            &json!({"ok": false, "error": "channel_not_found"}),
            "C012AB3CD",
        )
        .expect("an answer");
        assert_eq!(gone.fields[STATE], json!(NOT_FOUND));
        assert!(!is_public(&gone));
        let refused = [
            json!({"ok": true, "channel": {"id": "C999999999", "is_archived": false}}),
            json!({"ok": true, "channel": "C012AB3CD"}),
            json!({"ok": true, "channel": {"id": "C012AB3CD", "is_archived": "no"}}),
            json!({"ok": false, "error": "missing_scope"}),
            json!({"channel": {"id": "C012AB3CD"}}),
        ];
        for answer in refused {
            assert!(observed_channel(&answer, "C012AB3CD").is_err(), "{answer}");
        }
    }

    #[test]
    fn channel_checks_say_why_a_channel_is_not_live() {
        let mut state = State::default();
        state.push(Section::new(
            WORKSPACE,
            SectionKind::Settings,
            vec![Item::new(TEAM_ID).field("value", "T012AB3C4")],
        ));
        let ch = |id: &str, st: &str, member: bool| {
            Item::new(id)
                .field(STATE, st)
                .field(BOT_IS_MEMBER, member)
                .field(NAME, "n")
        };
        state.push(Section::new(
            CHANNELS,
            SectionKind::Settings,
            vec![
                ch("C1111111", ACTIVE, true),
                ch("C2222222", ARCHIVED, true),
                ch("C3333333", ACTIVE, false),
                ch("C4444444", NOT_FOUND, false),
            ],
        ));
        let checks = channel_checks("T012AB3C4", &state);
        let whys: Vec<_> = checks
            .iter()
            .map(|c| (c.live, c.reason.as_deref()))
            .collect();
        assert_eq!(
            whys,
            [
                (true, None),
                (false, Some("archived")),
                (false, Some("bot is not a member")),
                (false, Some("not found")),
            ]
        );
        assert!(
            channel_checks("T0OTHER99", &state)[0].reason.as_deref()
                == Some("in workspace T012AB3C4")
        );
    }

    #[test]
    fn the_test_alert_is_found_only_from_our_bot() {
        let when = at("2026-11-29T10:00:00Z");
        let bot = Identity {
            team_id: "T012AB3C4".into(),
            team: "Acme".into(),
            user_id: "U0PERIM01".into(),
            bot_id: Some("B0PERIM01".into()),
        };
        let text = test_alert_text(when);
        let page = json!({"ok": true, "has_more": true, "messages": [
            {"type": "message", "user": "U0SOMEONE", "text": text, "ts": "1764410000.000100"},
            {"type": "message", "bot_id": "B0PERIM01", "text": text, "ts": "1764410001.000200"},
        ], "response_metadata": {"next_cursor": "bmV4dA=="}});
        let (found, next) = history_page(&page, when, &bot).expect("valid");
        assert_eq!(
            found.as_deref(),
            Some("1764410001.000200"),
            "a copy by a person does not count"
        );
        assert_eq!(next.as_deref(), Some("bmV4dA=="));
        let other = history_page(&page, at("2026-11-29T11:00:00Z"), &bot).expect("valid");
        assert_eq!(
            other,
            (None, Some("bmV4dA==".into())),
            "another request's message"
        );
        let last = json!({"ok": true, "messages": [], "response_metadata": {"next_cursor": ""}});
        assert_eq!(
            history_page(&last, when, &bot).expect("valid"),
            (None, None)
        );
        assert!(history_page(&json!({"ok": true, "messages": {}}), when, &bot).is_err());
        let item = observed_test_alert(
            when,
            "C012AB3CD",
            &HistoryRead::Found("1764410001.000200".into()),
        );
        assert_eq!(item.key, "2026-11-29T10:00:00Z");
        assert_eq!(item.handle.as_deref(), Some("1764410001.000200"));
        let unknown =
            observed_test_alert(when, "C012AB3CD", &HistoryRead::Unknown("too long".into()));
        assert_eq!(unknown.fields[DELIVERED], json!("unknown: too long"));
    }

    #[test]
    fn a_posted_message_has_a_ts_for_the_channel() {
        let ok =
            json!({"ok": true, "channel": "C012AB3CD", "ts": "1764410001.000200", "message": {}});
        assert_eq!(
            posted_ts(&ok, "C012AB3CD").expect("valid"),
            "1764410001.000200"
        );
        for bad_answer in [
            json!({"ok": true, "channel": "C999999999", "ts": "1764410001.000200"}),
            json!({"ok": true, "channel": "C012AB3CD", "ts": "soon"}),
            json!({"ok": true, "channel": "C012AB3CD", "ts": 1764410001}),
            json!({"ok": false, "error": "not_in_channel"}),
        ] {
            assert!(posted_ts(&bad_answer, "C012AB3CD").is_err(), "{bad_answer}");
        }
    }
}
