//! `perimeter check` on examples/turso against the Turso emulator seeded with the demo
//! organisation: exit 2 with the drift named (JSON), 0 once the orders policy is enforced, 1
//! with a bad token (never printed).

mod support;

use perimeter_emulators::turso::TursoEmulator;
use support::cli::{self, Account};

const TOKEN: &str = "turso_demo_token";

#[tokio::test(flavor = "multi_thread")]
async fn check_on_the_turso_examples_exits_2_then_0_and_1_with_a_bad_token() {
    let emulator = TursoEmulator::new(cli::demo_seed("turso-organisation.yaml"));
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let account = Account {
        provider: "turso-main",
        url: running.base_url(),
        secret: ("turso-api", "token"),
    };
    let examples = support::repo_root().join("examples/turso");

    let run = cli::check(&examples, &account, TOKEN).await;
    assert_eq!(run.code, 2, "drift → 2\n{run:?}");
    assert_eq!(run.report()["providers"][0]["readable"], true);
    assert_eq!(
        run.drift_of("turso-orders"),
        [
            "configuration[allowedIps]",
            "configuration[deleteProtection]"
        ]
    );
    assert_eq!(
        run.drift_of("turso-analytics"),
        ["configuration[allowedIps]"]
    );
    assert!(run.stdout.contains("NetworkOpen") && run.stdout.contains("ApiTokenUnscoped"));
    assert!(emulator.log().writes().is_empty(), "check never writes");

    cli::assert_bad_credential_exits_1(&examples, &account, "turso_not_the_token_0123456789").await;

    // Enforce the orders policy, then check it alone → 0. (The whole folder stays 2:
    // analytics is in Observe, and the sweep's findings remain.)
    // The orders policy allows the AddressSet compute-egress: it goes with it.
    let files = [
        "provider.yaml",
        "addressset-compute-egress.yaml",
        "firewall-orders.yaml",
    ];
    let (dir, code) = cli::enforce(&examples, &files, &account, TOKEN).await;
    assert_eq!(code, 0);
    let run = cli::check(dir.path(), &account, TOKEN).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(cli::check(&examples, &account, TOKEN).await.code, 2);
}
