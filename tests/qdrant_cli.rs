//! `perimeter check` on examples/qdrant against the Qdrant emulator seeded with the demo
//! account: exit 2 with the drift and findings named (JSON), 0 once the production cluster's
//! policy is enforced, 1 with a bad management key (never printed).

use std::path::{Path, PathBuf};
use std::process::Command;

use perimeter_emulators::qdrant::{QdrantEmulator, Seed};

const BIN: &str = env!("CARGO_BIN_EXE_perimeter");
const KEY: &str = "qdrant-demo-management-key";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The demo seed, with its expiring key moved to three days from now (as the demo does).
fn demo_seed() -> Seed {
    let text = std::fs::read_to_string(root().join("examples/demo/qdrant-account.yaml"))
        .expect("seed file");
    let mut seed: Seed =
        serde_json::from_value(perimeter::manifests::yaml_to_json(&text).expect("yaml"))
            .expect("seed");
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

/// Runs `perimeter check --output json` in a blocking thread (the emulator lives on this
/// test's runtime).
async fn check(dir: &Path, endpoint: &str, key: &str) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("check")
        .arg("--manifests")
        .arg(dir)
        .arg("--endpoint")
        .arg(format!("qdrant-main={endpoint}"))
        .args(["--output", "json"])
        .env("PERIMETER_SECRET_QDRANT_API_KEY", key);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run perimeter"))
        .await
        .expect("join");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn drift_of<'a>(report: &'a serde_json::Value, name: &str) -> Vec<&'a str> {
    report["policies"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == name))
        .and_then(|p| p["drift"].as_array())
        .map(|d| d.iter().filter_map(|x| x["field"].as_str()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn check_on_the_qdrant_examples_exits_2_then_0_and_1_with_a_bad_key() {
    let emulator = QdrantEmulator::new(demo_seed());
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let endpoint = running.base_url();
    let examples = root().join("examples/qdrant");

    let (code, stdout, stderr) = check(&examples, &endpoint, KEY).await;
    assert_eq!(code, 2, "drift → 2\n{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json output");
    assert_eq!(report["providers"][0]["readable"], true);
    assert_eq!(
        drift_of(&report, "search-prod-network"),
        ["network[allowedIpSourceRanges]"]
    );
    assert_eq!(
        drift_of(&report, "search-staging-network"),
        ["network[allowedIpSourceRanges]", "tls[enabled]"]
    );
    assert_eq!(drift_of(&report, "search-prod-alerts"), ["alerts[firing]"]);
    for code in ["NetworkOpen", "ApiKeyExpiring", "ServiceUnhealthy"] {
        assert!(stdout.contains(code), "{code} in {stdout}");
    }
    assert!(emulator.log().writes().is_empty(), "check never writes");

    // A bad key → 1, never printed.
    let wrong = "qdrant-not-the-key-0123456789";
    let (code, stdout, stderr) = check(&examples, &endpoint, wrong).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("CredentialsRejected"), "{stdout}");
    assert!(!stdout.contains(wrong) && !stderr.contains(wrong));

    // Enforce the production cluster's policy through the library, then check it alone → 0
    // once its expiring key is renewed (the finding is not something Enforce can fix). The
    // whole folder stays 2: staging's TLS and the firing alert cannot be enforced.
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["provider.yaml", "firewall-search.yaml"] {
        std::fs::copy(examples.join(f), dir.path().join(f)).expect("copy example");
    }
    let manifests = perimeter::manifests::Manifests::load_dir(dir.path()).expect("manifests");
    let mut creds = perimeter::local::CredentialSource::default();
    creds.insert("qdrant-api", "key", KEY);
    let options = perimeter::local::Options {
        force_observe: false,
        endpoints: [("qdrant-main".to_string(), endpoint.clone())].into(),
        ..Default::default()
    };
    let enforced = perimeter::local::Runner::new(manifests, &creds, options, None)
        .await
        .run_once()
        .await;
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
    let (code, stdout, _) = check(dir.path(), &endpoint, KEY).await;
    assert_eq!(code, 0, "{enforced:?}\n{stdout}");
    let (code, _, _) = check(&examples, &endpoint, KEY).await;
    assert_eq!(code, 2);
}
