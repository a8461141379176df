//! Slack Web API (`https://slack.com/api/<method>`, a bot token `xoxb-…` as a Bearer token):
//! the alert channels of one workspace. Slack is an alert destination, not a network edge: a
//! `MonitoringPolicy` declares the channels alerts go to, and Perimeter checks that each is
//! live (`auth.test`, `conversations.info`), joins public ones its bot is not in (Enforce,
//! `conversations.join`), and sends an explicit test alert once per request (`chat.postMessage`)
//! whose `ts` is the evidence of delivery, found again later in the channel's history
//! (`conversations.history`).
//!
//! Every answer is HTTP 200 with `{"ok": …}`: the shared layer reads the in-band errors through
//! [`model::in_band_error`] (a bad token is `CredentialsRejected`, `missing_scope` names the
//! scope needed, `ratelimited` is `Throttled`), except `channel_not_found`, which is an answer
//! about that channel. Reads are GETs with query parameters (retried); writes are POSTs with
//! form bodies, as the official spec models them (never retried but on a 429).

pub mod api;
#[cfg(feature = "demo")]
mod demo;
mod kit;
pub mod model;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use reqwest::Method;
use serde_json::Value;

use self::model::{CHANNELS, HistoryRead, Identity, SlackScope, TEST_ALERT};
use super::{ApplyError, Observation, Provider, Target};
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::normalize::Invalid;
use crate::core::{Change, Item, Section, SectionKind};
use crate::error::{Category, Error, ProviderError};
use crate::http::RateLimiter;
use crate::http::{Auth, HttpClient, HttpSettings, Request};
use crate::metrics::Metrics;
use crate::secret::SecretString;

pub use kit::Kit;
pub use model::monitoring_target;

pub const DEFAULT_ENDPOINT: &str = "https://slack.com/api";

/// Slack limits each method per workspace in tiers: `conversations.info` and
/// `conversations.history` are Tier 3 (50+ a minute), `conversations.join` Tier 3,
/// `auth.test` Special (far more), `chat.postMessage` Special (about one a second per
/// channel). One limiter covers the account, so the strictest read tier sets it: 50 a minute.
/// Slack's tiers allow short bursts; 10 lets one sync of a few channels (verify, read, join,
/// read back) run without waiting, and a read of 20 channels still averages under Tier 3.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 50;
pub const DEFAULT_BURST: u32 = 10;

/// How many messages one page of history holds, and how many pages a read looks through
/// for a test alert before calling it unknown (1000 messages since `requestedAt`).
const HISTORY_PAGE: u32 = 200;
const HISTORY_PAGES: usize = 5;

/// The token kinds accepted: a bot token (`xoxb-`), the one Perimeter is meant to run with.
const TOKEN_PREFIX: &str = "xoxb-";

/// Checks the credential is a bot token, without quoting it.
fn parse_token(secret: &SecretString) -> Result<SecretString, Error> {
    let token = secret.expose().trim();
    let printable = token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !token.starts_with(TOKEN_PREFIX) || token.len() < 10 || !printable {
        return Err(Error::CredentialsMissing(
            "the Slack credential must be a bot token (xoxb-…, from the app's \"OAuth & Permissions\" page)".into(),
        ));
    }
    Ok(SecretString::new(token))
}

pub struct Slack {
    http: HttpClient,
    /// The clock test alerts are checked against (injectable for tests).
    now: fn() -> Timestamp,
    /// Who the token is (`auth.test`), read once per client: a client lives as long as its
    /// token (the controller builds a new one when the Secret or the account changes), and a
    /// token's workspace and bot never change. Forgotten when Slack rejects the token, so the
    /// next sync asks again. The lock is held while it is read: concurrent first syncs of one
    /// account ask once.
    identity: tokio::sync::Mutex<Option<Identity>>,
}

impl crate::providers::OnHttp for Slack {
    fn http_mut(&mut self) -> &mut HttpClient {
        &mut self.http
    }
}

impl Slack {
    pub fn new(
        spec: &CloudProviderSpec,
        credential: SecretString,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let mut settings = HttpSettings::new(
            "slack",
            spec.endpoint
                .clone()
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
        );
        settings.requests_per_minute = DEFAULT_REQUESTS_PER_MINUTE;
        settings.burst = DEFAULT_BURST;
        if let Some(t) = spec.request_timeout_seconds {
            settings.timeout = Duration::from_secs(u64::from(t));
        }
        if let Some(rl) = &spec.rate_limit {
            settings.requests_per_minute = rl.requests_per_minute;
            settings.burst = rl.burst.unwrap_or(settings.burst);
        }
        Self::with_settings(settings, credential, metrics)
    }

    /// A client with these settings; the in-band error reader is always Slack's.
    pub fn with_settings(
        mut settings: HttpSettings,
        credential: SecretString,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let token = parse_token(&credential)?;
        settings.in_band_error = Some(model::in_band_error);
        let http = HttpClient::new(settings, Auth::Bearer(token), metrics)?;
        Ok(Self {
            http,
            now: Timestamp::now,
            identity: tokio::sync::Mutex::new(None),
        })
    }

    /// The same client with another clock (tests of the test alert's time checks).
    pub fn with_clock(mut self, now: fn() -> Timestamp) -> Self {
        self.now = now;
        self
    }

    /// Calls a method and returns its answer. An answer whose `ok` is not `true` is an error,
    /// unless its code is `allowed` (an answer the caller reads, e.g. `channel_not_found`).
    async fn call(&self, req: Request, allowed: &[&str]) -> Result<Value, ProviderError> {
        let op = req.operation;
        let write = req.method != Method::GET;
        let (status, answer) = self.http.send_json(&req).await?;
        if status == 404 {
            return Err(ProviderError::new(
                Category::BadResponse,
                op,
                "HTTP 404: unknown method (check the endpoint: it ends in /api)",
            ));
        }
        match model::not_ok(&answer) {
            None => Ok(answer),
            Some(code) if allowed.contains(&code.as_str()) => Ok(answer),
            Some(code) => Err(ProviderError::new(
                if write {
                    Category::WriteRejected
                } else {
                    Category::BadResponse
                },
                op,
                format!("Slack answered {code}"),
            )),
        }
    }

    async fn identity(&self) -> Result<Identity, ProviderError> {
        let op = "auth_test";
        let answer = self.call(Request::get(op, "/auth.test"), &[]).await?;
        model::identity(&answer).map_err(|e| shape(op, e))
    }

    /// The token's identity: the one read before, or `auth.test` now.
    async fn known_identity(&self) -> Result<Identity, ProviderError> {
        let mut known = self.identity.lock().await;
        if let Some(id) = known.as_ref() {
            return Ok(id.clone());
        }
        let id = self.identity().await?;
        *known = Some(id.clone());
        Ok(id)
    }

    /// Forgets the identity when Slack rejected the token (revoked, or a scope removed): the
    /// next sync reads it again instead of trusting what this token was.
    async fn forget_identity_on<T>(&self, result: &Result<T, ProviderError>) {
        if matches!(result, Err(e) if e.category == Category::CredentialsRejected) {
            *self.identity.lock().await = None;
        }
    }

    async fn channel(&self, id: &str) -> Result<Item, ProviderError> {
        let op = "conversations_info";
        let req = Request::get(op, "/conversations.info").query("channel", id);
        let answer = self.call(req, &[model::CHANNEL_NOT_FOUND]).await?;
        model::observed_channel(&answer, id).map_err(|e| shape(op, e))
    }

    /// Looks for the test alert requested `at` in the channel's history since shortly before
    /// `at`, page by page, up to [`HISTORY_PAGES`].
    async fn find_test_alert(
        &self,
        channel: &str,
        at: Timestamp,
        bot: &Identity,
    ) -> Result<HistoryRead, ProviderError> {
        let op = "conversations_history";
        let mut cursor: Option<String> = None;
        for _ in 0..HISTORY_PAGES {
            let mut req = Request::get(op, "/conversations.history")
                .query("channel", channel)
                .query("oldest", model::history_oldest(at))
                .query("limit", HISTORY_PAGE);
            if let Some(c) = &cursor {
                req = req.query("cursor", c);
            }
            let answer = self.call(req, &[]).await?;
            let (found, next) = model::history_page(&answer, at, bot).map_err(|e| shape(op, e))?;
            if let Some(ts) = found {
                return Ok(HistoryRead::Found(ts));
            }
            match next {
                None => return Ok(HistoryRead::NotFound),
                // A cursor that does not move would loop: the answer is not Slack's.
                Some(n) if cursor.as_deref() == Some(n.as_str()) => {
                    return Err(ProviderError::new(
                        Category::BadResponse,
                        op,
                        "the history's next_cursor repeats the last one",
                    ));
                }
                Some(n) => cursor = Some(n),
            }
        }
        Ok(HistoryRead::Unknown(format!(
            "more than {} messages since the request; the history was not read to the end",
            HISTORY_PAGES as u32 * HISTORY_PAGE
        )))
    }

    /// Adds the bot to a public channel; counted only when the answer shows it a member.
    async fn join(&self, id: &str) -> Result<(), ProviderError> {
        let op = "conversations_join";
        let req = Request::new(Method::POST, op, "/conversations.join")
            .form(vec![("channel".into(), id.into())]);
        let answer = self.call(req, &[]).await?;
        let seen = model::observed_channel(&answer, id).map_err(|e| shape(op, e))?;
        if seen.fields.get(model::BOT_IS_MEMBER) != Some(&Value::Bool(true)) {
            return Err(ProviderError::new(
                Category::ProviderError,
                op,
                format!("Slack answered the join of {id} without the bot as a member"),
            ));
        }
        Ok(())
    }

    /// Posts the test alert requested `at`; returns its `ts`.
    async fn post_test_alert(&self, channel: &str, at: Timestamp) -> Result<String, ProviderError> {
        let op = "chat_post_message";
        let req = Request::new(Method::POST, op, "/chat.postMessage").form(vec![
            ("channel".into(), channel.into()),
            ("text".into(), model::test_alert_text(at)),
            // The text is fixed, but a link in it must never unfurl into a preview.
            ("unfurl_links".into(), "false".into()),
            ("unfurl_media".into(), "false".into()),
        ]);
        let answer = self.call(req, &[]).await?;
        model::posted_ts(&answer, channel).map_err(|e| shape(op, e))
    }

    /// The workspace, the declared channels and the requested test alerts (see [`Provider::observe`]).
    async fn observe_channels(&self, target: &Target) -> Result<Observation, ProviderError> {
        let team = scope_team(target)?;
        let bot = self.known_identity().await?;
        let mut obs = Observation::default();
        obs.state.push(model::observed_workspace(&bot));
        let mut items = Vec::new();
        if let Some(declared) = target.desired.section(CHANNELS) {
            for want in &declared.items {
                items.push(self.channel(&want.key).await?);
            }
        }
        obs.state
            .push(Section::new(CHANNELS, SectionKind::Settings, items));
        let checks = model::channel_checks(&team, &obs.state);
        obs.findings
            .extend(model::channel_findings(&checks, &obs.state));
        obs.alerting.channels = checks.clone();
        if let Some(test) = target.desired.section(TEST_ALERT) {
            let mut tests = Vec::new();
            for want in &test.items {
                let at = model::requested_at(&want.key)
                    .map_err(|e| ProviderError::new(Category::InvalidSpec, "observe", e.0))?;
                let channel = want
                    .fields
                    .get(model::CHANNEL)
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let readable = checks.iter().any(|c| c.id == channel && c.reason.is_none());
                let read = if readable {
                    self.find_test_alert(channel, at, &bot).await?
                } else {
                    HistoryRead::Unknown(format!(
                        "the bot cannot read the history of {channel}: it is not a live channel"
                    ))
                };
                if let HistoryRead::Found(ts) = &read {
                    obs.revision = Some(model::revision(at, channel, ts));
                }
                tests.push(model::observed_test_alert(at, channel, &read));
            }
            obs.state
                .push(Section::new(TEST_ALERT, SectionKind::Settings, tests));
        }
        Ok(obs)
    }

    /// The test alert Enforce may send for `change`: its time and channel, if the observed
    /// state says it was definitely not delivered and the channel is (now) live.
    fn test_to_send(
        &self,
        key: &str,
        target: &Target,
        observed: &Observation,
        joined: &[String],
    ) -> Result<(Timestamp, String), ProviderError> {
        let op = "chat_post_message";
        let refuse = |category, message: String| ProviderError::new(category, op, message);
        let at = model::requested_at(key).map_err(|e| refuse(Category::InvalidSpec, e.0))?;
        model::check_request_time(at, (self.now)())
            .map_err(|e| refuse(Category::InvalidSpec, e.0))?;
        let want = target
            .desired
            .section(TEST_ALERT)
            .and_then(|s| s.get(key))
            .and_then(|i| i.fields.get(model::CHANNEL))
            .and_then(Value::as_str)
            .ok_or_else(|| refuse(Category::InvalidSpec, "no test alert declared".into()))?;
        let seen = observed
            .state
            .section(TEST_ALERT)
            .and_then(|s| s.get(key))
            .and_then(|i| i.fields.get(model::DELIVERED));
        if seen != Some(&Value::Bool(false)) {
            return Err(refuse(
                Category::WriteRejected,
                "whether the test alert was already delivered is unknown: nothing is sent".into(),
            ));
        }
        let checks = model::channel_checks(&scope_team(target)?, &observed.state);
        let live = checks.iter().any(|c| {
            c.id == want
                && (c.live
                    || (c.reason.as_deref() == Some("bot is not a member")
                        && joined.iter().any(|j| j == want)))
        });
        if !live {
            return Err(refuse(
                Category::WriteRejected,
                format!("the test alert's channel {want} is not live: nothing is sent"),
            ));
        }
        Ok((at, want.to_string()))
    }
}

fn scope_team(target: &Target) -> Result<String, ProviderError> {
    Ok(target.scope_of::<SlackScope>("observe")?.team_id.clone())
}

/// An answer that is not the documented shape: the model's reason, which quotes no provider
/// text beyond sanitised values.
fn shape(operation: &'static str, e: Invalid) -> ProviderError {
    ProviderError::new(Category::BadResponse, operation, e.0)
}

#[async_trait]
impl Provider for Slack {
    fn rate_limiters(&self, _target: &Target) -> Vec<Arc<RateLimiter>> {
        vec![self.http.limiter().clone()]
    }

    fn provider_type(&self) -> ProviderType {
        ProviderType::Slack
    }

    async fn verify(&self) -> Result<String, ProviderError> {
        // Always asked: verify is where a person checks the token now.
        let read = self.identity().await;
        self.forget_identity_on(&read).await;
        let id = read?;
        *self.identity.lock().await = Some(id.clone());
        let kind = if id.bot_id.is_some() {
            "bot token"
        } else {
            "token (not a bot's)"
        };
        Ok(format!(
            "{kind} accepted for workspace {} ({})",
            crate::http::sanitize(&id.team, 60),
            crate::http::sanitize(&id.team_id, 30)
        ))
    }

    async fn observe(&self, target: &Target) -> Result<Observation, ProviderError> {
        let read = self.observe_channels(target).await;
        self.forget_identity_on(&read).await;
        read
    }

    /// Joins the public channels the bot is not in, then sends a requested test alert. Nothing
    /// else can be written: the workspace is the token's, an archived or unknown channel and a
    /// rename are a person's to fix (their drift stays, with a `ServiceUnhealthy` finding).
    async fn apply(
        &self,
        target: &Target,
        observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        let mut applied = Vec::new();
        let mut joined = Vec::new();
        let stop = |applied: Vec<String>, error| Err(ApplyError { applied, error });
        for change in plan.iter().filter(|c| c.section() == CHANNELS) {
            let (Change::Update { key, .. } | Change::Create { key, .. }) = change else {
                continue;
            };
            let Some(seen) = observed.state.section(CHANNELS).and_then(|s| s.get(key)) else {
                continue;
            };
            let active =
                seen.fields.get(model::STATE).and_then(Value::as_str) == Some(model::ACTIVE);
            let member = seen.fields.get(model::BOT_IS_MEMBER) == Some(&Value::Bool(true));
            if !(active && !member && model::is_public(seen)) {
                continue;
            }
            if let Err(error) = self.join(key).await {
                return stop(applied, error);
            }
            joined.push(key.clone());
            applied.push(format!(
                "joined {CHANNELS}[{key}] (the bot is now a member)"
            ));
        }
        for change in plan.iter().filter(|c| c.section() == TEST_ALERT) {
            let (Change::Update { key, .. } | Change::Create { key, .. }) = change else {
                continue;
            };
            let sent = match self.test_to_send(key, target, observed, &joined) {
                Ok((at, channel)) => self.post_test_alert(&channel, at).await.map(|ts| {
                    format!("posted the test alert requested {at} to {channel} (ts {ts})")
                }),
                Err(e) => Err(e),
            };
            match sent {
                Ok(line) => applied.push(line),
                Err(error) => return stop(applied, error),
            }
        }
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_must_be_a_bot_token_and_is_never_echoed() {
        for raw in [
            "xoxp-1234567890-user-token",
            "not a token xoxb",
            "xoxb-12 34",
            "xoxb-",
            "",
        ] {
            let err = match parse_token(&SecretString::new(raw)) {
                Ok(_) => panic!("{raw:?} should be refused"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains("bot token"), "{err}");
            // (`xoxb-` alone is the form the message names.)
            if raw.len() > TOKEN_PREFIX.len() {
                assert!(!err.contains(raw), "{err}");
            }
        }
        let ok = parse_token(&SecretString::new(" xoxb-1234-5678-AbCd \n")).expect("valid");
        assert_eq!(ok.expose(), "xoxb-1234-5678-AbCd");
    }
}
