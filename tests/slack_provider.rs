//! The Slack client against the stateful Slack emulator: alert channels observed field by field
//! (archived, unknown, the bot not a member, renamed, another workspace), Enforce joining public
//! channels, the explicit test alert (sent once, found again, never by Observe), Slack's in-band
//! errors, injected faults and a bad token.

mod support;

use std::time::Duration;

use perimeter::SecretString;
use perimeter::api::{Mode, UnmanagedPolicy};
use perimeter::error::Category;
use perimeter::http::HttpSettings;
use perimeter::providers::slack::api::SlackMonitoring;
use perimeter::providers::slack::model::{self, ChannelCheck};
use perimeter::providers::slack::{Slack, monitoring_target};
use perimeter::providers::{Provider, Target};
use perimeter::reconcile::{SyncOutcome, sync};
use perimeter_emulators::faults::{Fault, FaultRule};
use perimeter_emulators::server::RunningEmulator;
use perimeter_emulators::slack::{Seed, SlackEmulator};
use support::cells;

const TOKEN: &str = "xoxb-4821-9173-TestBotTokenNotReal";
const TEAM: &str = "T0DEM0ACME";

fn yaml(text: &str) -> serde_json::Value {
    perimeter::manifests::yaml_to_json(text).expect("valid YAML")
}

/// A workspace as alert channels drift: #ops-alerts live, #security-alerts without the bot,
/// #incidents archived, a private channel the bot was never invited to.
fn seed() -> Seed {
    serde_json::from_value(yaml(&format!(
        "team_id: {TEAM}
team: Acme
tokens:
  - {{token: {TOKEN}, user_id: U0PERIMBOT, bot_id: B0PERIMBOT,
     scopes: [channels:read, groups:read, channels:history, groups:history, channels:join, chat:write]}}
  - {{token: xoxb-narrow-token-1, user_id: U0NARROW01, scopes: [chat:write]}}
channels:
  - {{id: C0ALERTS01, name: ops-alerts, members: [U0PERIMBOT, U0ONCALL01]}}
  - {{id: C0SECALRT1, name: security-alerts, members: [U0ONCALL01]}}
  - {{id: C0INCIDNT1, name: incidents, is_archived: true, members: [U0PERIMBOT]}}
  - {{id: G0PRIVATE1, name: secret-ops, is_private: true, members: [U0ONCALL01]}}
"
    )))
    .expect("seed")
}

const CHANNELS: &str = "channels:
  - {id: C0ALERTS01, name: ops-alerts}
  - {id: C0SECALRT1}
  - {id: C0INCIDNT1}
  - {id: G0PRIVATE1}
";

struct Env {
    emulator: SlackEmulator,
    running: RunningEmulator,
    client: Slack,
}

fn settings(base: String, timeout: Duration) -> HttpSettings {
    let mut settings = HttpSettings::new("slack", format!("{base}/api"));
    settings.timeout = timeout;
    settings.backoff = Duration::from_millis(5);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    settings
}

async fn env_with(seed: Seed, timeout: Duration) -> Env {
    seed.validate().expect("valid seed");
    let emulator = SlackEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let client = Slack::with_settings(
        settings(running.base_url(), timeout),
        SecretString::new(TOKEN),
        None,
    )
    .expect("client");
    Env {
        emulator,
        running,
        client,
    }
}

async fn env() -> Env {
    env_with(seed(), Duration::from_secs(5)).await
}

fn block(team: &str, rest: &str) -> SlackMonitoring {
    serde_json::from_value(yaml(&format!("teamId: {team}\n{rest}"))).expect("block")
}

fn target(rest: &str) -> Target {
    monitoring_target(&block(TEAM, rest)).expect("valid target")
}

fn drift_paths(out: &SyncOutcome) -> Vec<String> {
    out.remaining
        .as_ref()
        .map(|d| d.drift.iter().map(|x| x.path.clone()).collect())
        .unwrap_or_default()
}

fn subjects(out: &SyncOutcome) -> Vec<String> {
    out.findings
        .iter()
        .map(|f| format!("{} {}", f.code, f.subject))
        .collect()
}

/// A test alert requested `ago` before now, on #ops-alerts.
fn test_alert(ago: jiff::SignedDuration) -> String {
    let at = jiff::Timestamp::now() - ago;
    format!(
        "testAlert: {{channel: C0ALERTS01, requestedAt: '{}'}}\n",
        at.round(jiff::Unit::Second).expect("rounds")
    )
}

#[tokio::test]
async fn observe_reports_each_channel_field_by_field_and_never_writes() {
    let e = env().await;
    e.emulator
        .mutate(|s| s.channels[0].name = "ops-alerts-old".into());
    let out = sync(
        &e.client,
        &target(CHANNELS),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        drift_paths(&out),
        [
            "channels[C0ALERTS01].name",
            "channels[C0SECALRT1].botIsMember",
            "channels[C0INCIDNT1].state",
            "channels[G0PRIVATE1].botIsMember",
            "channels[G0PRIVATE1].state",
        ]
    );
    let archived = &out.remaining.as_ref().expect("read").drift[2];
    assert_eq!(archived.desired.as_deref(), Some("active"));
    assert_eq!(archived.observed.as_deref(), Some("archived"));
    // Only what a person must fix is a finding: Enforce can join the public channel.
    assert_eq!(
        subjects(&out),
        [
            "ServiceUnhealthy channels[C0INCIDNT1]",
            "ServiceUnhealthy channels[G0PRIVATE1]"
        ]
    );
    assert!(
        out.findings[0]
            .message
            .contains("C0INCIDNT1 (#incidents) is archived"),
        "{}",
        out.findings[0].message
    );
    assert!(e.emulator.log().writes().is_empty(), "Observe never writes");
    let calls: Vec<(String, String, Option<String>)> = e
        .emulator
        .log()
        .entries()
        .into_iter()
        .map(|r| (r.method, r.path, r.query))
        .collect();
    assert_eq!(
        calls.len(),
        5,
        "auth.test and one conversations.info per channel"
    );
    assert_eq!(calls[0].1, "/api/auth.test");
    assert_eq!(
        calls[1],
        (
            "GET".into(),
            "/api/conversations.info".into(),
            Some("channel=C0ALERTS01".into())
        ),
        "the token never travels in the query"
    );
}

/// The token's identity (`auth.test`) is read once per client, not at every sync: a sync in
/// steady state reads only the declared channels. A token Slack rejects is forgotten, and the
/// next sync asks who the token is again.
#[tokio::test]
async fn the_token_is_identified_once_per_client_and_again_after_a_rejection() {
    let e = env().await;
    let t = target(CHANNELS);
    let auth_tests = || e.emulator.log().count("GET", "auth.test");
    for round in 0..3 {
        support::calls::observe_alone(&e.client, &t, &e.emulator.log()).await;
        let want = if round == 0 { 5 } else { 4 };
        assert_eq!(
            e.emulator.log().len(),
            want,
            "one conversations.info per declared channel (and auth.test at first)"
        );
    }
    assert_eq!(auth_tests(), 0, "auth.test at the first sync only");
    // Revoked: the channel read says so; the identity is forgotten.
    e.emulator.mutate(|s| s.tokens[0].revoked = true);
    let out = sync(&e.client, &t, Mode::Observe, UnmanagedPolicy::Report).await;
    assert_eq!(
        out.error.as_ref().map(|e| e.category),
        Some(Category::CredentialsRejected)
    );
    assert_eq!(auth_tests(), 0);
    e.emulator.mutate(|s| s.tokens[0].revoked = false);
    let out = sync(&e.client, &t, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(auth_tests(), 1, "asked again after the rejection");
    // verify() always asks.
    e.client.verify().await.expect("accepted");
    assert_eq!(auth_tests(), 2);
}

/// The observation's alerting facts: one check per declared channel, live or why not.
#[tokio::test]
async fn every_declared_channel_has_a_check() {
    let e = env().await;
    let observed = e.client.observe(&target(CHANNELS)).await.expect("read");
    let checks = observed.alerting.channels.clone();
    assert_eq!(checks, model::channel_checks(TEAM, &observed.state));
    let brief: Vec<(&str, bool, Option<&str>)> = checks
        .iter()
        .map(|c: &ChannelCheck| (c.id.as_str(), c.live, c.reason.as_deref()))
        .collect();
    assert_eq!(
        brief,
        [
            ("C0ALERTS01", true, None),
            ("C0SECALRT1", false, Some("bot is not a member")),
            ("C0INCIDNT1", false, Some("archived")),
            ("G0PRIVATE1", false, Some("not found")),
        ]
    );
    assert!(checks.iter().all(|c| c.team == TEAM));
}

/// A token of another workspace: drift on the workspace, and no channel counts as live.
#[tokio::test]
async fn a_token_of_another_workspace_is_drift_and_nothing_is_live() {
    let e = env().await;
    let other =
        monitoring_target(&block("T0OTHERWS1", "channels: [{id: C0ALERTS01}]")).expect("target");
    let out = sync(&e.client, &other, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert_eq!(drift_paths(&out), ["workspace[teamId]"]);
    assert_eq!(subjects(&out), ["ServiceUnhealthy channels[C0ALERTS01]"]);
    assert!(out.findings[0].message.contains("in workspace T0DEM0ACME"));
    assert!(
        e.emulator.log().writes().is_empty(),
        "nothing Enforce can do"
    );
}

#[tokio::test]
async fn enforce_joins_public_channels_and_leaves_the_rest_to_people() {
    let e = env().await;
    let t = target(CHANNELS);
    let out = sync(&e.client, &t, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(
        out.error.is_none(),
        "{:?}",
        out.error.map(|e| e.to_string())
    );
    assert_eq!(
        out.applied,
        ["joined channels[C0SECALRT1] (the bot is now a member)"]
    );
    assert_eq!(
        drift_paths(&out),
        [
            "channels[C0INCIDNT1].state",
            "channels[G0PRIVATE1].botIsMember",
            "channels[G0PRIVATE1].state",
        ]
    );
    let writes: Vec<(String, Option<serde_json::Value>)> = e
        .emulator
        .log()
        .writes()
        .into_iter()
        .map(|w| (w.path, w.body))
        .collect();
    assert_eq!(
        writes,
        [(
            "/api/conversations.join".to_string(),
            Some(serde_json::Value::String("channel=C0SECALRT1".into()))
        )],
        "a form body, as the spec models it"
    );
    assert!(
        e.emulator.snapshot().channels[1]
            .members
            .contains(&"U0PERIMBOT".to_string())
    );
    e.emulator.log().clear();
    let again = sync(&e.client, &t, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(again.applied.is_empty() && e.emulator.log().writes().is_empty());
}

/// The test alert: Observe only looks; Enforce posts once, with the fixed text; the next read
/// finds it by its marker and the bot, and its `ts` becomes the revision; nothing is posted
/// again for the same `requestedAt`, and a new one posts one more.
#[tokio::test]
async fn a_test_alert_is_sent_once_and_its_ts_is_the_evidence() {
    let e = env().await;
    let rest = format!(
        "channels: [{{id: C0ALERTS01}}]\n{}",
        test_alert(jiff::SignedDuration::from_mins(1))
    );
    let t = target(&rest);
    let observed = sync(&e.client, &t, Mode::Observe, UnmanagedPolicy::Report).await;
    let key = t.desired.section("testAlert").expect("declared").items[0]
        .key
        .clone();
    assert_eq!(
        drift_paths(&observed),
        [format!("testAlert[{key}].delivered")]
    );
    assert!(e.emulator.log().writes().is_empty(), "Observe never posts");
    let out = sync(&e.client, &t, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?}", out.error.map(|e| e.to_string()));
    let posted = &e.emulator.snapshot().channels[0].messages;
    assert_eq!(posted.len(), 1);
    assert_eq!(
        posted[0].text,
        model::test_alert_text(key.parse().expect("time"))
    );
    assert!(
        out.applied[0].contains(&format!("(ts {})", posted[0].ts)),
        "{:?}",
        out.applied
    );
    assert_eq!(
        out.revision.as_deref(),
        Some(
            format!(
                "test alert requested {key} delivered to C0ALERTS01 (ts {})",
                posted[0].ts
            )
            .as_str()
        )
    );
    for mode in [Mode::Enforce, Mode::Observe] {
        let again = sync(&e.client, &t, mode, UnmanagedPolicy::Report).await;
        assert!(again.in_sync() && again.applied.is_empty(), "{mode:?}");
    }
    assert_eq!(
        e.emulator.log().count("POST", "chat.postMessage"),
        1,
        "once"
    );
    let newer = target(&format!(
        "channels: [{{id: C0ALERTS01}}]\n{}",
        test_alert(jiff::SignedDuration::ZERO)
    ));
    let out = sync(&e.client, &newer, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?}", out.error.map(|e| e.to_string()));
    assert_eq!(e.emulator.log().count("POST", "chat.postMessage"), 2);
}

/// A copy of the text by a person is not the bot's delivery; a future or stale `requestedAt`,
/// a channel the bot is not in, and a history too long to read to the end send nothing.
#[tokio::test]
async fn a_test_alert_is_never_sent_when_it_cannot_be_told_apart() {
    let e = env().await;
    let rest = format!(
        "channels: [{{id: C0ALERTS01}}]\n{}",
        test_alert(jiff::SignedDuration::from_mins(2))
    );
    let t = target(&rest);
    let key = t.desired.section("testAlert").expect("declared").items[0]
        .key
        .clone();
    let text = model::test_alert_text(key.parse().expect("time"));
    e.emulator.mutate(|s| {
        s.channels[0]
            .messages
            .push(perimeter_emulators::slack::Message {
                ts: format!("{}.000001", jiff::Timestamp::now().as_second()),
                user: Some("U0ONCALL01".into()),
                bot_id: None,
                text: text.clone(),
            });
    });
    let out = sync(&e.client, &t, Mode::Observe, UnmanagedPolicy::Report).await;
    assert_eq!(
        drift_paths(&out),
        [format!("testAlert[{key}].delivered")],
        "a person's copy"
    );

    // Clocks: the request is in the future, or more than 7 days old.
    fn a_month_ahead() -> jiff::Timestamp {
        jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 30)
    }
    fn a_day_behind() -> jiff::Timestamp {
        jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24)
    }
    type Clock = fn() -> jiff::Timestamp;
    let clocks: [(Clock, &str); 2] = [(a_month_ahead, "7 days"), (a_day_behind, "in the future")];
    for (clock, words) in clocks {
        let client = Slack::with_settings(
            settings(e.running.base_url(), Duration::from_secs(5)),
            SecretString::new(TOKEN),
            None,
        )
        .expect("client")
        .with_clock(clock);
        let out = sync(&client, &t, Mode::Enforce, UnmanagedPolicy::Report).await;
        let err = out.error.as_ref().expect("refused");
        assert_eq!(err.category, Category::InvalidSpec, "{err}");
        assert!(err.message.contains(words), "{err}");
    }
    assert_eq!(e.emulator.log().count("POST", "chat.postMessage"), 0);

    // The bot is not in the channel: its history cannot be read, so nothing is sent.
    e.emulator
        .mutate(|s| s.channels[0].members.retain(|m| m != "U0PERIMBOT"));
    let out = sync(&e.client, &t, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert_eq!(
        out.applied,
        ["joined channels[C0ALERTS01] (the bot is now a member)"]
    );
    let err = out.error.as_ref().expect("refused");
    assert!(err.message.contains("unknown"), "{err}");
    assert_eq!(e.emulator.log().count("POST", "chat.postMessage"), 0);

    // More than 1000 messages since the request: unknown, never "not delivered".
    e.emulator.mutate(|s| {
        let now = jiff::Timestamp::now().as_second();
        s.channels[0].messages = (0..1001)
            .map(|i| perimeter_emulators::slack::Message {
                ts: format!("{now}.{:06}", i + 10),
                user: Some("U0ONCALL01".into()),
                bot_id: None,
                text: "chatter".into(),
            })
            .collect();
    });
    e.emulator.log().clear();
    let observed = e.client.observe(&t).await.expect("read");
    let item = &observed.state.section("testAlert").expect("read").items[0];
    assert!(
        item.fields["delivered"]
            .as_str()
            .is_some_and(|o| o.starts_with("unknown: more than 1000")),
        "{item:?}"
    );
    assert_eq!(
        e.emulator.log().count("GET", "conversations.history"),
        5,
        "bounded"
    );
    let out = sync(&e.client, &t, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.error.is_some() && !out.in_sync());
    assert_eq!(e.emulator.log().count("POST", "chat.postMessage"), 0);
}

/// Slack's in-band errors become the right categories, and name what is missing.
#[tokio::test]
async fn in_band_errors_are_typed() {
    let e = env().await;
    let t = target(CHANNELS);
    let narrow = Slack::with_settings(
        settings(e.running.base_url(), Duration::from_secs(5)),
        SecretString::new("xoxb-narrow-token-1"),
        None,
    )
    .expect("client");
    let err = narrow.observe(&t).await.expect_err("missing scope");
    assert_eq!(err.category, Category::CredentialsRejected);
    assert!(
        err.message.contains("lacks the scope channels:read"),
        "{err}"
    );
    // A throttled answer in the body is retried like a 429, then succeeds.
    e.emulator
        .fail_method("conversations.info", "ratelimited", 1);
    assert!(e.client.observe(&t).await.is_ok());
    e.emulator
        .fail_method("conversations.info", "ratelimited", 100);
    let err = e.client.observe(&t).await.expect_err("throttled");
    assert_eq!(err.category, Category::Throttled, "{err}");
    // Counted as failed calls (`code="error"`), not as the 2xx they came in.
    let e = env().await;
    let metrics = std::sync::Arc::new(perimeter::metrics::Metrics::new().expect("metrics"));
    let counted = Slack::with_settings(
        settings(e.running.base_url(), Duration::from_secs(5)),
        SecretString::new(TOKEN),
        Some(metrics.clone()),
    )
    .expect("client");
    e.emulator
        .fail_method("conversations.info", "ratelimited", 1);
    assert!(counted.observe(&t).await.is_ok());
    let calls = |code: &str| {
        metrics
            .provider_requests_total
            .with_label_values(&["slack", "conversations_info", code])
            .get()
    };
    assert_eq!(
        (calls("error"), calls("200")),
        (1, 4),
        "one throttled answer, then four reads"
    );
    let e = env().await;
    e.emulator.fail_method("auth.test", "fatal_error", 100);
    assert_eq!(
        e.client.observe(&t).await.expect_err("5xx-like").category,
        Category::ProviderError
    );
    let e = env().await;
    e.emulator
        .fail_method("conversations.info", "team_added_to_org", 1);
    assert_eq!(
        e.client.observe(&t).await.expect_err("refused").category,
        Category::BadResponse
    );
}

/// Every read fault, on any method, in either mode: unknown, never in sync, nothing written,
/// no token in the error.
#[tokio::test]
async fn read_faults_leave_the_state_unknown_never_in_sync() {
    let rest = format!(
        "{CHANNELS}{}",
        test_alert(jiff::SignedDuration::from_mins(1))
    );
    // The other reads (the main read's cells are in tests/fault_matrix.rs).
    for path in ["auth.test", "conversations.history"] {
        for mode in cells::MODES {
            for (fault, category) in cells::persistent_faults() {
                let e = env_with(seed(), Duration::from_millis(300)).await;
                e.emulator
                    .faults()
                    .inject(FaultRule::new(path, fault.clone()));
                let out = sync(&e.client, &target(&rest), mode, UnmanagedPolicy::Report).await;
                let writes = e.emulator.log().writes().len();
                let cell = format!("{fault:?} on {path} in {mode:?}");
                cells::assert_failed_read(&out, category, writes, TOKEN, &cell);
            }
        }
    }
}

/// A fault on the join (first write) leaves nothing applied and no test alert sent; on the
/// test alert (second) the join stays applied. POSTs are not retried.
#[tokio::test]
async fn write_faults_leave_nothing_half_written() {
    let rest = format!(
        "{CHANNELS}{}",
        test_alert(jiff::SignedDuration::from_mins(1))
    );
    for (step, path) in ["conversations.join", "chat.postMessage"]
        .iter()
        .enumerate()
    {
        for (fault, category) in cells::persistent_faults() {
            let e = env_with(seed(), Duration::from_millis(300)).await;
            e.emulator
                .faults()
                .inject(FaultRule::new(*path, fault.clone()));
            let out = sync(
                &e.client,
                &target(&rest),
                Mode::Enforce,
                UnmanagedPolicy::Report,
            )
            .await;
            cells::assert_failed_write(&out, category, TOKEN, &format!("{fault:?} on {path}"));
            assert_eq!(
                out.applied.len(),
                step,
                "{fault:?} {path}: {:?}",
                out.applied
            );
            assert_eq!(
                e.emulator.log().count("POST", path),
                1,
                "{fault:?}: not retried"
            );
            if matches!(fault, Fault::Hang { .. }) {
                continue;
            }
            let snapshot = e.emulator.snapshot();
            assert_eq!(
                snapshot.channels[1]
                    .members
                    .contains(&"U0PERIMBOT".to_string()),
                step > 0,
                "{fault:?} {path}"
            );
            assert!(snapshot.channels[0].messages.is_empty(), "{fault:?} {path}");
        }
    }
}

#[tokio::test]
async fn a_rejected_token_is_reported_without_leaking_it() {
    let e = env().await;
    for wrong in ["xoxb-9999-8888-WrongTokenValue", "xoxb-1-2-short"] {
        let bad = Slack::with_settings(
            settings(e.running.base_url(), Duration::from_secs(5)),
            SecretString::new(wrong),
            None,
        )
        .expect("client");
        let err = bad.verify().await.expect_err("rejected");
        assert_eq!(err.category, Category::CredentialsRejected);
        assert!(err.message.contains("invalid_auth"), "{err}");
        assert!(!err.to_string().contains(wrong), "{err}");
        let out = sync(
            &bad,
            &target(CHANNELS),
            Mode::Enforce,
            UnmanagedPolicy::Report,
        )
        .await;
        assert_eq!(
            out.error.as_ref().map(|e| e.category),
            Some(Category::CredentialsRejected)
        );
        assert!(!out.in_sync());
    }
    e.emulator.mutate(|s| s.tokens[0].revoked = true);
    let err = e.client.verify().await.expect_err("revoked");
    assert!(err.message.contains("token_revoked"), "{err}");
    e.emulator.mutate(|s| s.tokens[0].revoked = false);
    assert_eq!(
        e.client.verify().await.expect("accepted"),
        "bot token accepted for workspace Acme (T0DEM0ACME)"
    );
    assert!(e.emulator.log().writes().is_empty());
}

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The demo workspace drifts from examples/slack the way its comment says, and Enforce joins
/// the one channel it can.
#[tokio::test]
async fn the_demo_workspace_drifts_from_the_examples() {
    let text =
        std::fs::read_to_string(root().join("examples/demo/slack-workspace.yaml")).expect("seed");
    let mut seed: Seed = serde_json::from_value(yaml(&text)).expect("seed");
    seed.tokens[0].token = TOKEN.into();
    let e = env_with(seed, Duration::from_secs(5)).await;
    let manifest =
        std::fs::read_to_string(root().join("examples/slack/monitoring-alert-channels.yaml"))
            .expect("example");
    let block: SlackMonitoring =
        serde_json::from_value(yaml(&manifest)["spec"]["slack"].clone()).expect("slack block");
    let t = monitoring_target(&block).expect("target");
    let out = sync(&e.client, &t, Mode::Observe, UnmanagedPolicy::Report).await;
    assert_eq!(
        drift_paths(&out),
        [
            "channels[C0SECALRT1].botIsMember",
            "channels[C0INCIDNT1].state"
        ]
    );
    assert_eq!(subjects(&out), ["ServiceUnhealthy channels[C0INCIDNT1]"]);
    let fixed = sync(&e.client, &t, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert_eq!(drift_paths(&fixed), ["channels[C0INCIDNT1].state"]);
    assert_eq!(fixed.applied.len(), 1);
}

/// `deletionPolicy: Delete` changes nothing in Slack: every section is a setting, so the
/// cleanup plan is empty (Perimeter never leaves channels or deletes messages).
#[tokio::test]
async fn deletion_changes_nothing() {
    let e = env().await;
    let t = target(CHANNELS);
    let observed = e.client.observe(&t).await.expect("observed");
    let (_, plan) = perimeter::core::cleanup(&t.desired, &observed.state);
    assert!(plan.is_empty(), "{plan:?}");
}
