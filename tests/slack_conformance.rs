//! Request conformance: every request the Slack client can send (verify, the reads of a
//! workspace's channels and a channel's history, the join and the test alert) goes through
//! Prism as a proxy in front of the Slack emulator, and Prism validates each request against
//! Slack's official Web API spec (Swagger 2.0 of 2021, trimmed copy in tests/conformance/slack;
//! origin, age and quirks in SOURCE.md there). No request violation is tolerated.
//!
//! Documented quirks, fixed in a temporary copy only:
//! - the spec's paths are relative to `basePath: /api`, which Prism ignores: each path is put
//!   under it (`/api/auth.test`), as the real URLs are;
//! - the spec models the credential as a legacy `token` parameter (a required header on
//!   `auth.test`, `conversations.join` and `chat.postMessage`, a query parameter elsewhere);
//!   Slack takes it as `Authorization: Bearer` (the spec's own `slackAuth` scheme) and refuses
//!   it in the query for apps made since 2021, so those parameters are taken out.
//!
//! The emulator's answers are validated too, and each violation must be one of the spec's own
//! faults listed in SOURCE.md (e.g. `conversations.history` without `response_metadata`, the
//! cursor Slack's own paging documentation names); any other one fails the test.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use perimeter::SecretString;
use perimeter::api::{Mode, UnmanagedPolicy};
use perimeter::http::HttpSettings;
use perimeter::providers::Provider;
use perimeter::providers::slack::api::SlackMonitoring;
use perimeter::providers::slack::{Slack, monitoring_target};
use perimeter::reconcile::sync;
use perimeter_emulators::slack::{Seed, SlackEmulator};
use serde_json::Value;

const TOKEN: &str = "xoxb-conformance-4821-TestBotToken";

/// The trimmed spec with its paths under `basePath` and without the legacy `token`
/// parameters (see the module comment), in a temporary copy.
fn spec_for_prism(dir: &Path) -> PathBuf {
    let trimmed = support::repo_root().join("tests/conformance/slack/slack_web_openapi_v2.json");
    let mut spec: Value =
        serde_json::from_str(&std::fs::read_to_string(trimmed).expect("spec")).expect("json");
    let base = spec["basePath"].as_str().expect("basePath").to_string();
    let paths = spec["paths"].as_object().expect("paths").clone();
    let mut moved = serde_json::Map::new();
    for (path, mut item) in paths {
        for op in item.as_object_mut().expect("path item").values_mut() {
            if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                params.retain(|p| p["name"] != "token");
            }
        }
        moved.insert(format!("{base}{path}"), item);
    }
    spec["paths"] = Value::Object(moved);
    std::fs::create_dir_all(dir).expect("temp dir");
    let out = dir.join("slack-swagger.json");
    std::fs::write(&out, spec.to_string()).expect("write spec");
    out
}

/// Faults of the 2021 spec's answer schemas, each listed in SOURCE.md with what Slack's
/// documentation says instead. An answer violation that matches none of them fails the test.
const ANSWER_QUIRKS: &[&str] = &[
    // conversations.history: `response_metadata` (the paging cursor) is not among the
    // properties of an object with `additionalProperties: false`; `channel_actions_ts` and
    // `channel_actions_count` are required but Slack's documented example has neither.
    "response_metadata",
    "channel_actions_ts",
    "channel_actions_count",
    // conversations.history: `messages` has `minItems: 1`, but a history with no message
    // since `oldest` is an empty list.
    "messages must NOT have fewer than 1 items",
    // Every method: Slack sends its errors (`{"ok": false, "error": "channel_not_found"}`)
    // with HTTP 200, but the spec gives them as the `default` answer, so Prism checks them
    // against the success schema. Only these two lines of such an answer are passed over; its
    // third (a missing required property) only as many times as there were error answers.
    "found 'error'",
    "ok must be equal to one of the allowed values: true",
];

/// The third line an in-band error answer to `conversations.info` gives (see [`ANSWER_QUIRKS`]).
const ERROR_ANSWER_MISSING: &str = "must have required property 'channel'";

fn seed() -> Seed {
    let text = format!(
        "team_id: T0DEM0ACME
team: Acme
tokens:
  - {{token: {TOKEN}, user_id: U0PERIMBOT, bot_id: B0PERIMBOT,
     scopes: [channels:read, groups:read, channels:history, groups:history, channels:join, chat:write]}}
channels:
  - {{id: C0ALERTS01, name: ops-alerts, members: [U0PERIMBOT]}}
  - {{id: C0SECALRT1, name: security-alerts, members: []}}
  - {{id: C0INCIDNT1, name: incidents, is_archived: true, members: [U0PERIMBOT]}}
"
    );
    serde_json::from_value(perimeter::manifests::yaml_to_json(&text).expect("yaml")).expect("seed")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_slack_request_conforms_to_the_official_spec() {
    let seed = seed();
    seed.validate().expect("valid seed");
    let emulator = SlackEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let dir = std::env::temp_dir().join(format!("perimeter-slack-spec-{}", std::process::id()));
    let spec = spec_for_prism(&dir);
    let upstream = running.base_url();
    let prism = tokio::task::spawn_blocking(move || support::start_prism_proxy(&spec, &upstream))
        .await
        .expect("prism");
    let mut settings = HttpSettings::new("slack", format!("{}/api", prism.url));
    settings.max_retries = 0;
    settings.timeout = Duration::from_secs(20);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    let client = Slack::with_settings(settings, SecretString::new(TOKEN), None).expect("client");
    let at = (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(1))
        .round(jiff::Unit::Second)
        .expect("rounds");
    let block: SlackMonitoring = serde_json::from_value(
        perimeter::manifests::yaml_to_json(&format!(
            "teamId: T0DEM0ACME
channels: [{{id: C0ALERTS01}}, {{id: C0SECALRT1}}, {{id: C0INCIDNT1}}, {{id: C0NOTHERE1}}]
testAlert: {{channel: C0ALERTS01, requestedAt: '{at}'}}"
        ))
        .expect("yaml"),
    )
    .expect("block");
    let target = monitoring_target(&block).expect("target");

    let mut ledger = support::RequestLedger::default();
    let mut answers = Vec::new();
    let offset = prism.log_len();
    let verified = client.verify().await;
    assert!(verified.is_ok(), "{verified:?}");
    ledger.record("verify", offset, &prism);
    answers.extend(prism.answer_violations_since(offset));

    // Observe: auth.test, four conversations.info (one not found), one history page.
    let offset = prism.log_len();
    let observed = sync(&client, &target, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(observed.error.is_none(), "{:?}", observed.error);
    ledger.record("observe", offset, &prism);
    answers.extend(prism.answer_violations_since(offset));

    // Enforce: the join, the test alert, and the read that finds it.
    let offset = prism.log_len();
    let enforced = sync(&client, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(enforced.error.is_none(), "{:?}", enforced.error);
    assert_eq!(enforced.applied.len(), 2, "{:?}", enforced.applied);
    ledger.record("enforce", offset, &prism);
    answers.extend(prism.answer_violations_since(offset));

    ledger.assert_clean(&prism);
    let methods: Vec<String> = emulator
        .log()
        .entries()
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    for wanted in [
        "GET /api/auth.test",
        "GET /api/conversations.info",
        "GET /api/conversations.history",
        "POST /api/conversations.join",
        "POST /api/chat.postMessage",
    ] {
        assert!(
            methods.iter().any(|m| m == wanted),
            "{wanted} was not sent: {methods:?}"
        );
    }
    let count = |text: &str| answers.iter().filter(|l| l.contains(text)).count();
    let error_answers = count("found 'error'");
    assert_eq!(
        count(ERROR_ANSWER_MISSING),
        error_answers,
        "a success answer without its channel hides among the in-band errors"
    );
    let unexplained: Vec<&String> = answers
        .iter()
        .filter(|line| !ANSWER_QUIRKS.iter().any(|q| line.contains(q)))
        .filter(|line| !line.contains(ERROR_ANSWER_MISSING))
        .collect();
    assert!(
        unexplained.is_empty(),
        "emulator answers that break the spec for no listed reason:\n{}\n\nPrism log:\n{}",
        unexplained
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        prism.log()
    );
    eprintln!(
        "slack conformance: {} requests checked ({:?}), 0 request violations; {} answer violation lines, all listed spec quirks ({error_answers} in-band error answers)",
        ledger.total(),
        ledger.checked,
        answers.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
