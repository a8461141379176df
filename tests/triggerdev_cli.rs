//! `perimeter check` on examples/triggerdev against the Trigger.dev emulator seeded with the
//! demo environment: exit 2 with the failing tasks and the unresolved group named (JSON), 0
//! once the runs are fixed and the group is resolved in Trigger.dev (Perimeter never writes),
//! 1 with a bad key (never printed).

mod support;

use perimeter_emulators::triggerdev::{SecretKey, Seed, TriggerdevEmulator};
use support::cli::{self, Account};

const KEY: &str = "tr_prod_cli0123456789abcdefghijklmnop";

#[tokio::test(flavor = "multi_thread")]
async fn check_on_the_triggerdev_examples_exits_2_then_0_and_1_with_a_bad_key() {
    let mut seed: Seed = cli::demo_seed("triggerdev-prod.yaml");
    seed.keys = vec![SecretKey {
        key: KEY.into(),
        environment: "prod".into(),
    }];
    seed.validate().expect("valid seed");
    let emulator = TriggerdevEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let account = Account {
        provider: "triggerdev-prod",
        url: running.base_url(),
        secret: ("triggerdev-prod", "key"),
    };
    let examples = support::repo_root().join("examples/triggerdev");

    let run = cli::check(&examples, &account, KEY).await;
    assert_eq!(run.code, 2, "drift → 2\n{run:?}");
    assert_eq!(run.report()["providers"][0]["readable"], true);
    assert_eq!(
        run.drift_of("triggerdev-prod-health"),
        ["runs[failed]", "errors[unresolved]"]
    );
    for text in [
        "RunsFailing",
        "runs[charge-invoice]",
        "runs[send-receipt]",
        "ErrorGroupsUnresolved",
        "errors[error_8f3b2a1c9d4e5f60]",
        "resolve or ignore",
    ] {
        assert!(run.stdout.contains(text), "{text}: {}", run.stdout);
    }
    assert!(run.never_prints(KEY));
    assert!(emulator.log().writes().is_empty(), "check never writes");

    cli::assert_bad_credential_exits_1(&examples, &account, "tr_prod_notthekey000000000000").await;

    // What a person does in Trigger.dev: the tasks are fixed (no failure in the window any
    // more) and the group is resolved.
    emulator.mutate(|s| {
        s.runs.retain(|r| r.status == "COMPLETED");
        for g in &mut s.errors {
            g.status = "resolved".into();
        }
    });
    let run = cli::check(&examples, &account, KEY).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(emulator.log().writes().is_empty());
}
