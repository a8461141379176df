//! `perimeter check` on examples/qdrant against the Qdrant emulator seeded with the demo
//! account: exit 2 with the drift and findings named (JSON), 0 once the production cluster's
//! policy is enforced, 1 with a bad management key (never printed).

mod support;

use perimeter_emulators::qdrant::{QdrantEmulator, Seed};
use support::cli::{self, Account};

const KEY: &str = "qdrant-demo-management-key";

/// The demo seed, with its expiring key moved to three days from now (as the demo does).
fn demo_seed() -> Seed {
    let mut seed: Seed = cli::demo_seed("qdrant-account.yaml");
    let soon = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(72))
        .expect("in range");
    for key in &mut seed.database_api_keys {
        if key.expires_at.is_some() {
            key.expires_at = Some(soon.to_string());
        }
    }
    seed.validate().expect("valid seed");
    seed
}

#[tokio::test(flavor = "multi_thread")]
async fn check_on_the_qdrant_examples_exits_2_then_0_and_1_with_a_bad_key() {
    let emulator = QdrantEmulator::new(demo_seed());
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let account = Account {
        provider: "qdrant-main",
        url: running.base_url(),
        secret: ("qdrant-api", "key"),
    };
    let examples = support::repo_root().join("examples/qdrant");

    let run = cli::check(&examples, &account, KEY).await;
    assert_eq!(run.code, 2, "drift → 2\n{run:?}");
    assert_eq!(run.report()["providers"][0]["readable"], true);
    assert_eq!(
        run.drift_of("search-prod-network"),
        ["network[allowedIpSourceRanges]"]
    );
    assert_eq!(
        run.drift_of("search-staging-network"),
        ["network[allowedIpSourceRanges]", "tls[enabled]"]
    );
    assert_eq!(run.drift_of("search-prod-alerts"), ["alerts[firing]"]);
    for code in ["NetworkOpen", "ApiKeyExpiring", "ServiceUnhealthy"] {
        assert!(run.stdout.contains(code), "{code} in {}", run.stdout);
    }
    assert!(emulator.log().writes().is_empty(), "check never writes");

    cli::assert_bad_credential_exits_1(&examples, &account, "qdrant-not-the-key-0123456789").await;

    // Enforce the production cluster's policy, then check it alone → 0 once its expiring key
    // is renewed (the finding is not something Enforce can fix). The whole folder stays 2:
    // staging's TLS and the firing alert cannot be enforced.
    let files = ["provider.yaml", "firewall-search.yaml"];
    let (dir, _) = cli::enforce(&examples, &files, &account, KEY).await;
    let writes = emulator.log().writes();
    assert_eq!(writes.len(), 1, "one masked UpdateCluster");
    assert_eq!(
        writes[0].body.as_ref().map(|b| &b["updateMask"]),
        Some(&serde_json::json!("configuration.allowedIpSourceRanges"))
    );
    emulator.mutate(|s| {
        for k in &mut s.database_api_keys {
            k.expires_at = Some("2030-01-01T00:00:00Z".into());
        }
    });
    let run = cli::check(dir.path(), &account, KEY).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(cli::check(&examples, &account, KEY).await.code, 2);
}
