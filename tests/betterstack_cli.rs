//! `perimeter check` on examples/betterstack against the Better Stack emulator seeded with the
//! demo team: exit 2 with the drift named (JSON), 0 once the policy is enforced, 1 with a bad
//! token (never printed).

mod support;

use perimeter_emulators::betterstack::{BetterstackEmulator, Seed};
use serde_json::json;
use support::cli::{self, Account};

const TOKEN: &str = "betterstack-cli-token-0123456789";

#[tokio::test(flavor = "multi_thread")]
async fn check_on_the_betterstack_examples_exits_2_then_0_and_1_with_a_bad_token() {
    let mut seed: Seed = cli::demo_seed("betterstack-team.yaml");
    seed.tokens = vec![TOKEN.into()];
    // The seed's "recent" checks, stamped as the demo stamps them.
    let recent = (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60)).to_string();
    for m in &mut seed.monitors {
        if m.attributes.get("last_checked_at") == Some(&json!("recent")) {
            m.attributes.insert("last_checked_at".into(), json!(recent));
        }
    }
    let emulator = BetterstackEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let account = Account {
        provider: "betterstack-main",
        url: running.base_url(),
        secret: ("betterstack-api", "token"),
    };
    let examples = support::repo_root().join("examples/betterstack");

    let run = cli::check(&examples, &account, TOKEN).await;
    assert_eq!(run.code, 2, "drift → 2\n{run:?}");
    assert_eq!(run.report()["providers"][0]["readable"], true);
    assert_eq!(
        run.drift_of("uptime"),
        [
            "escalationPolicies[On-call].steps",
            "monitors[keyword:https://www.example.com].checkFrequency",
            "monitors[keyword:https://www.example.com].regions",
            "monitors[expected_status_code:https://api.example.com/healthz].paused",
            "heartbeats[nightly-backup].grace",
            "statusPages[status-example].published",
        ]
    );
    for code in [
        "MonitorDown",
        "MonitorPaused",
        "MonitorNotChecked",
        "HeartbeatDown",
    ] {
        assert!(run.stdout.contains(code), "{code}: {}", run.stdout);
    }
    assert!(emulator.log().writes().is_empty(), "check never writes");

    let wrong = "betterstack-not-the-token-0123456789";
    cli::assert_bad_credential_exits_1(&examples, &account, wrong).await;

    let files = ["provider.yaml", "monitoring.yaml"];
    let (dir, code) = cli::enforce(&examples, &files, &account, TOKEN).await;
    assert_eq!(code, 0);
    let run = cli::check(dir.path(), &account, TOKEN).await;
    assert_eq!(run.code, 0, "{run:?}");
}
