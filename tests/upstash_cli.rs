//! `perimeter check` on examples/upstash against the Upstash emulator seeded with the demo
//! account: exit 2 with the drift named (JSON), 0 once the session store's policy is enforced,
//! 1 with a bad key (never printed).

mod support;

use perimeter_emulators::upstash::UpstashEmulator;
use support::cli::{self, Account};

const KEY: &str = "upstash-demo-key";

/// The Secret's one value: email, API key and key name as JSON.
fn credential(key: &str) -> String {
    serde_json::json!({"email": "demo@example.com", "apiKey": key, "keyName": "perimeter"})
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn check_on_the_upstash_examples_exits_2_then_0_and_1_with_a_bad_key() {
    let emulator = UpstashEmulator::new(cli::demo_seed("upstash-account.yaml"));
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let account = Account {
        provider: "upstash-main",
        url: running.base_url(),
        secret: ("upstash-api", "credential"),
    };
    let examples = support::repo_root().join("examples/upstash");

    let run = cli::check(&examples, &account, &credential(KEY)).await;
    assert_eq!(run.code, 2, "drift → 2\n{run:?}");
    assert_eq!(run.report()["providers"][0]["readable"], true);
    assert_eq!(
        run.drift_of("sessions-redis"),
        ["ipAllowlist[allowedIps]", "tls[enabled]"]
    );
    assert_eq!(
        run.drift_of("cache-redis"),
        ["ipAllowlist[allowedIps]", "ipAllowlist[entitlement]"]
    );
    assert_eq!(
        run.drift_of("sessions-redis-metrics"),
        ["prometheus[enabled]"]
    );
    assert!(run.stdout.contains("NotEntitled"));
    assert!(emulator.log().writes().is_empty(), "check never writes");

    let wrong = "upstash-not-the-key-0123456789";
    let run = cli::check(&examples, &account, &credential(wrong)).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("CredentialsRejected"), "{}", run.stdout);
    assert!(run.never_prints(wrong), "the key is printed");

    // Enforce the session store's policy, then check it alone → 0. (The whole folder stays
    // 2: the free plan and Prometheus cannot be enforced.)
    let files = ["provider.yaml", "firewall-sessions.yaml"];
    let (dir, code) = cli::enforce(&examples, &files, &account, &credential(KEY)).await;
    assert_eq!(code, 0);
    let run = cli::check(dir.path(), &account, &credential(KEY)).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        cli::check(&examples, &account, &credential(KEY)).await.code,
        2
    );
}
