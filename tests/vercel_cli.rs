//! `perimeter check` on examples/vercel against the Vercel emulator seeded with the demo team:
//! 2 with the drift named, 0 once enforced, 1 with a bad token (never printed).

mod support;

use perimeter_emulators::vercel::VercelEmulator;
use support::cli::{self, Account};

const TOKEN: &str = "demo-token";

#[tokio::test(flavor = "multi_thread")]
async fn check_on_the_vercel_examples_exits_2_then_0_after_enforcing_and_1_with_a_bad_token() {
    let emulator = VercelEmulator::new(cli::demo_seed("vercel-team.yaml"));
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let account = Account {
        provider: "vercel-main",
        url: running.base_url(),
        secret: ("vercel-api", "token"),
    };
    let examples = support::repo_root().join("examples/vercel");

    let run = cli::check(&examples, &account, TOKEN).await;
    assert_eq!(run.code, 2, "drift → 2\n{run:?}");
    let drift = run.drift_of("storefront-firewall");
    for want in [
        "settings[firewallEnabled]",
        "rules[login rate limit].action",
        "ipRules[shop.example.com|203.0.113.0/24]",
        "managedRules[owasp].active",
    ] {
        assert!(drift.iter().any(|d| d == want), "{want} in {drift:?}");
    }
    assert!(emulator.log().writes().is_empty(), "check never writes");
    assert!(
        !run.stdout.contains("REPLACE_ME"),
        "drain endpoint keys are masked"
    );

    cli::assert_bad_credential_exits_1(&examples, &account, "not-the-token-9876").await;

    // Enforce the whole folder, as `perimeter demo` does, then check again → 0.
    let files: Vec<String> = std::fs::read_dir(&examples)
        .expect("examples")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".yaml"))
        .collect();
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let (_, code) = cli::enforce(&examples, &files, &account, TOKEN).await;
    assert_eq!(code, 0);
    let run = cli::check(&examples, &account, TOKEN).await;
    assert_eq!(run.code, 0, "{run:?}");
}
