//! `perimeter check` on examples/supabase against the Supabase emulator seeded with the demo
//! organisation: exit 2 with the drift named (JSON), 0 once the production database policy is
//! enforced, 1 with a bad token (never printed).

mod support;

use perimeter_emulators::supabase::SupabaseEmulator;
use support::cli::{self, Account};

const TOKEN: &str = "sbp_demo_token";

#[tokio::test(flavor = "multi_thread")]
async fn check_on_the_supabase_examples_exits_2_then_0_and_1_with_a_bad_token() {
    let emulator = SupabaseEmulator::new(cli::demo_seed("supabase-organisation.yaml"));
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let account = Account {
        provider: "supabase-main",
        url: running.base_url(),
        secret: ("supabase-api", "token"),
    };
    let examples = support::repo_root().join("examples/supabase");

    let run = cli::check(&examples, &account, TOKEN).await;
    assert_eq!(run.code, 2, "drift → 2\n{run:?}");
    assert_eq!(run.report()["providers"][0]["readable"], true);
    assert_eq!(
        run.drift_of("shop-prod-database"),
        [
            "networkRestrictions[dbAllowedCidrs]",
            "networkRestrictions[dbAllowedCidrsV6]",
            "sslEnforcement[database]",
            "authRateLimits[emailSent]"
        ]
    );
    assert_eq!(
        run.drift_of("analytics-database"),
        [
            "networkRestrictions[dbAllowedCidrs]",
            "networkRestrictions[entitlement]"
        ]
    );
    assert_eq!(
        run.drift_of("shop-prod-health"),
        ["serviceHealth[storage].status"]
    );
    assert!(run.stdout.contains("NotEntitled") && run.stdout.contains("NetworkBans"));
    assert!(
        emulator.log().writes().is_empty(),
        "check never writes (bans are read with POST, which the log does not count)"
    );

    cli::assert_bad_credential_exits_1(&examples, &account, "sbp_not_the_token_0123456789").await;

    // Enforce the production database policy, then check it alone → 0. (The whole folder
    // stays 2: the analytics plan and storage's health cannot be enforced.)
    let files = ["provider.yaml", "firewall-database.yaml"];
    let (dir, code) = cli::enforce(&examples, &files, &account, TOKEN).await;
    assert_eq!(code, 0);
    let run = cli::check(dir.path(), &account, TOKEN).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(cli::check(&examples, &account, TOKEN).await.code, 2);
}
