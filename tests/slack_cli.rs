//! `perimeter check` on examples/slack against the Slack emulator seeded with the demo
//! workspace: exit 2 with the drift named (JSON), 0 once the archived channel is restored by a
//! person and the policy enforced (the bot joins the channel it was missing from), 1 with a bad
//! token (never printed).

mod support;

use perimeter_emulators::slack::{Seed, SlackEmulator};
use support::cli::{self, Account};

#[tokio::test(flavor = "multi_thread")]
async fn check_on_the_slack_examples_exits_2_then_0_and_1_with_a_bad_token() {
    let seed: Seed = cli::demo_seed("slack-workspace.yaml");
    let token = seed.tokens[0].token.clone();
    let emulator = SlackEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let account = Account {
        provider: "slack-main",
        url: format!("{}/api", running.base_url()),
        secret: ("slack-bot", "token"),
    };
    let examples = support::repo_root().join("examples/slack");

    let run = cli::check(&examples, &account, &token).await;
    assert_eq!(run.code, 2, "drift → 2\n{run:?}");
    assert_eq!(run.report()["providers"][0]["readable"], true);
    assert_eq!(
        run.drift_of("alert-channels"),
        [
            "channels[C0SECALRT1].botIsMember",
            "channels[C0INCIDNT1].state"
        ]
    );
    assert!(run.stdout.contains("ServiceUnhealthy"), "{}", run.stdout);
    assert!(emulator.log().writes().is_empty(), "check never writes");
    assert!(run.never_prints(&token), "the token is printed");

    let wrong = "xoxb-0000-1111-NotTheDemoToken";
    let run = cli::check(&examples, &account, wrong).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("CredentialsRejected"), "{}", run.stdout);
    assert!(run.never_prints(wrong), "the token is printed");

    // A person unarchives #incidents; Enforce joins the bot to #security-alerts → 0.
    emulator.mutate(|s| {
        if let Some(c) = s.channels.iter_mut().find(|c| c.id == "C0INCIDNT1") {
            c.is_archived = false;
        }
    });
    let files = ["provider.yaml", "monitoring-alert-channels.yaml"];
    let (dir, code) = cli::enforce(&examples, &files, &account, &token).await;
    assert_eq!(code, 0);
    let run = cli::check(dir.path(), &account, &token).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(emulator.log().count("POST", "conversations.join"), 1);
}
