//! `perimeter check` on examples/vercel against the Vercel emulator seeded with the demo team:
//! 2 with the drift named, 0 once enforced, 1 with a bad token (never printed).

use std::path::{Path, PathBuf};
use std::process::Command;

use perimeter_emulators::vercel::{Seed, VercelEmulator};

const BIN: &str = env!("CARGO_BIN_EXE_perimeter");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn demo_seed() -> Seed {
    let text =
        std::fs::read_to_string(root().join("examples/demo/vercel-team.yaml")).expect("seed file");
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
        .arg(format!("vercel-main={endpoint}"))
        .args(["--output", "json"])
        .env("PERIMETER_SECRET_VERCEL_API_TOKEN", token);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run perimeter"))
        .await
        .expect("join");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn check_on_the_vercel_examples_exits_2_then_0_after_enforcing_and_1_with_a_bad_token() {
    let emulator = VercelEmulator::new(demo_seed());
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let endpoint = running.base_url();
    let examples = root().join("examples/vercel");

    let (code, stdout, stderr) = check(&examples, &endpoint, "demo-token").await;
    assert_eq!(code, 2, "drift → 2\n{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json output");
    let firewall = report["policies"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "storefront-firewall"))
        .expect("the firewall policy");
    let paths: Vec<&str> = firewall["drift"]
        .as_array()
        .expect("drift")
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    for want in [
        "settings[firewallEnabled]",
        "rules[login rate limit].action",
        "ipRules[shop.example.com|203.0.113.0/24]",
        "managedRules[owasp].active",
    ] {
        assert!(paths.contains(&want), "{want} in {paths:?}");
    }
    assert!(emulator.log().writes().is_empty(), "check never writes");
    assert!(
        !stdout.contains("REPLACE_ME"),
        "drain endpoint keys are masked"
    );

    let (code, stdout, stderr) = check(&examples, &endpoint, "not-the-token-9876").await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(!stdout.contains("not-the-token-9876") && !stderr.contains("not-the-token-9876"));

    // Enforce through the library, as `perimeter demo` does, then check again.
    let manifests = perimeter::manifests::Manifests::load_dir(&examples).expect("manifests");
    let mut creds = perimeter::local::CredentialSource::default();
    creds.insert("vercel-api", "token", "demo-token");
    let options = perimeter::local::Options {
        force_observe: false,
        endpoints: [("vercel-main".to_string(), endpoint.clone())].into(),
        ..Default::default()
    };
    let enforced = perimeter::local::Runner::new(manifests, &creds, options, None)
        .await
        .run_once()
        .await;
    assert_eq!(enforced.exit_code(), 0, "{enforced:?}");
    let (code, stdout, _) = check(&examples, &endpoint, "demo-token").await;
    assert_eq!(code, 0, "{stdout}");
}
