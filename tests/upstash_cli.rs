//! `perimeter check` on examples/upstash against the Upstash emulator seeded with the demo
//! account: exit 2 with the drift named (JSON), 0 once the session store's policy is enforced,
//! 1 with a bad key (never printed).

use std::path::{Path, PathBuf};
use std::process::Command;

use perimeter_emulators::upstash::{Seed, UpstashEmulator};

const BIN: &str = env!("CARGO_BIN_EXE_perimeter");
const KEY: &str = "upstash-demo-key";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn demo_seed() -> Seed {
    let text = std::fs::read_to_string(root().join("examples/demo/upstash-account.yaml"))
        .expect("seed file");
    serde_json::from_value(perimeter::manifests::yaml_to_json(&text).expect("yaml")).expect("seed")
}

fn credential(key: &str) -> String {
    serde_json::json!({"email": "demo@example.com", "apiKey": key, "keyName": "perimeter"})
        .to_string()
}

/// Runs `perimeter check --output json` in a blocking thread (the emulator lives on this
/// test's runtime).
async fn check(dir: &Path, endpoint: &str, key: &str) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("check")
        .arg("--manifests")
        .arg(dir)
        .arg("--endpoint")
        .arg(format!("upstash-main={endpoint}"))
        .args(["--output", "json"])
        .env("PERIMETER_SECRET_UPSTASH_API_CREDENTIAL", credential(key));
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
async fn check_on_the_upstash_examples_exits_2_then_0_and_1_with_a_bad_key() {
    let emulator = UpstashEmulator::new(demo_seed());
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let endpoint = running.base_url();
    let examples = root().join("examples/upstash");

    let (code, stdout, stderr) = check(&examples, &endpoint, KEY).await;
    assert_eq!(code, 2, "drift → 2\n{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json output");
    assert_eq!(report["providers"][0]["readable"], true);
    assert_eq!(
        drift_of(&report, "sessions-redis"),
        ["ipAllowlist[allowedIps]", "tls[enabled]"]
    );
    assert_eq!(
        drift_of(&report, "cache-redis"),
        ["ipAllowlist[allowedIps]", "ipAllowlist[entitlement]"]
    );
    assert_eq!(
        drift_of(&report, "sessions-redis-metrics"),
        ["prometheus[enabled]"]
    );
    assert!(stdout.contains("NotEntitled"));
    assert!(emulator.log().writes().is_empty(), "check never writes");

    // A bad key → 1, never printed.
    let wrong = "upstash-not-the-key-0123456789";
    let (code, stdout, stderr) = check(&examples, &endpoint, wrong).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("CredentialsRejected"), "{stdout}");
    assert!(!stdout.contains(wrong) && !stderr.contains(wrong));

    // Enforce the session store's policy through the library, then check it alone → 0.
    // (The whole folder stays 2: the free plan and Prometheus cannot be enforced.)
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["provider.yaml", "firewall-sessions.yaml"] {
        std::fs::copy(examples.join(f), dir.path().join(f)).expect("copy example");
    }
    let manifests = perimeter::manifests::Manifests::load_dir(dir.path()).expect("manifests");
    let mut creds = perimeter::local::CredentialSource::default();
    creds.insert("upstash-api", "credential", &credential(KEY));
    let options = perimeter::local::Options {
        force_observe: false,
        endpoints: [("upstash-main".to_string(), endpoint.clone())].into(),
        ..Default::default()
    };
    let enforced = perimeter::local::Runner::new(manifests, &creds, options, None)
        .await
        .run_once()
        .await;
    assert_eq!(enforced.exit_code(), 0, "{enforced:?}");
    let (code, stdout, _) = check(dir.path(), &endpoint, KEY).await;
    assert_eq!(code, 0, "{stdout}");
    let (code, _, _) = check(&examples, &endpoint, KEY).await;
    assert_eq!(code, 2);
}
