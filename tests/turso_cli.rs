//! `perimeter check` on examples/turso against the Turso emulator seeded with the demo
//! organisation: exit 2 with the drift named (JSON), 0 once the orders policy is enforced, 1
//! with a bad token (never printed).

use std::path::{Path, PathBuf};
use std::process::Command;

use perimeter_emulators::turso::{Seed, TursoEmulator};

const BIN: &str = env!("CARGO_BIN_EXE_perimeter");
const TOKEN: &str = "turso_demo_token";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn demo_seed() -> Seed {
    let text = std::fs::read_to_string(root().join("examples/demo/turso-organisation.yaml"))
        .expect("seed file");
    serde_json::from_value(perimeter::manifests::yaml_to_json(&text).expect("yaml")).expect("seed")
}

/// Runs `perimeter check --output json` in a blocking thread (the emulator lives on this
/// test's runtime).
async fn check(dir: &Path, endpoint: &str, token: &str) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("check")
        .arg("--manifests")
        .arg(dir)
        .arg("--endpoint")
        .arg(format!("turso-main={endpoint}"))
        .args(["--output", "json"])
        .env("PERIMETER_SECRET_TURSO_API_TOKEN", token);
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
async fn check_on_the_turso_examples_exits_2_then_0_and_1_with_a_bad_token() {
    let emulator = TursoEmulator::new(demo_seed());
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let endpoint = running.base_url();
    let examples = root().join("examples/turso");

    let (code, stdout, stderr) = check(&examples, &endpoint, TOKEN).await;
    assert_eq!(code, 2, "drift → 2\n{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json output");
    assert_eq!(report["providers"][0]["readable"], true);
    assert_eq!(
        drift_of(&report, "turso-orders"),
        [
            "configuration[allowedIps]",
            "configuration[deleteProtection]"
        ]
    );
    assert_eq!(
        drift_of(&report, "turso-analytics"),
        ["configuration[allowedIps]"]
    );
    assert!(stdout.contains("NetworkOpen") && stdout.contains("ApiTokenUnscoped"));
    assert!(emulator.log().writes().is_empty(), "check never writes");

    // A bad token → 1, never printed.
    let wrong = "turso_not_the_token_0123456789";
    let (code, stdout, stderr) = check(&examples, &endpoint, wrong).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("CredentialsRejected"), "{stdout}");
    assert!(!stdout.contains(wrong) && !stderr.contains(wrong));

    // Enforce the orders policy through the library, then check it alone → 0. (The whole
    // folder stays 2: analytics is in Observe, and the sweep's findings remain.)
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["provider.yaml", "firewall-orders.yaml"] {
        std::fs::copy(examples.join(f), dir.path().join(f)).expect("copy example");
    }
    let manifests = perimeter::manifests::Manifests::load_dir(dir.path()).expect("manifests");
    let mut creds = perimeter::local::CredentialSource::default();
    creds.insert("turso-api", "token", TOKEN);
    let options = perimeter::local::Options {
        force_observe: false,
        endpoints: [("turso-main".to_string(), endpoint.clone())].into(),
        ..Default::default()
    };
    let enforced = perimeter::local::Runner::new(manifests, &creds, options, None)
        .await
        .run_once()
        .await;
    assert_eq!(enforced.exit_code(), 0, "{enforced:?}");
    let (code, stdout, _) = check(dir.path(), &endpoint, TOKEN).await;
    assert_eq!(code, 0, "{stdout}");
    let (code, _, _) = check(&examples, &endpoint, TOKEN).await;
    assert_eq!(code, 2);
}
