//! `perimeter check` as users run it: the real binary, against an emulator, with the
//! credential in the environment as `PERIMETER_SECRET_<SECRET>_<KEY>`. Shared by the
//! providers' `*_cli.rs` tests, which then say only what is particular to their provider:
//! the seed, the drift expected, the files enforced.

use std::path::Path;
use std::process::Command;

use perimeter::local::{CredentialSource, Options, Runner};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// One provider account as the examples name it: the `CloudProvider`'s name (the
/// `--endpoint` key), its emulator's URL, and the credential Secret it references.
#[derive(Clone, Debug)]
pub struct Account {
    /// The `CloudProvider`'s `metadata.name`, e.g. `turso-main`.
    pub provider: &'static str,
    /// The emulator's base URL.
    pub url: String,
    /// The Secret's name and key the `CloudProvider` references, e.g. (`turso-api`, `token`).
    pub secret: (&'static str, &'static str),
}

/// What one `perimeter check` run printed, and its exit code.
#[derive(Debug)]
pub struct CheckRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CheckRun {
    /// The report of `--output json`; panics with the output when it is not JSON.
    pub fn report(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("json output: {e}\n{}\n{}", self.stdout, self.stderr))
    }

    /// The drifted fields of the named policy, in the report's order.
    pub fn drift_of(&self, policy: &str) -> Vec<String> {
        self.report()["policies"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["name"] == policy))
            .and_then(|p| p["drift"].as_array())
            .map(|d| {
                d.iter()
                    .filter_map(|x| x["field"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// True when `text` appears in neither stdout nor stderr.
    pub fn never_prints(&self, text: &str) -> bool {
        !self.stdout.contains(text) && !self.stderr.contains(text)
    }
}

/// A demo seed (`examples/demo/<file>`), read as kubectl reads YAML.
pub fn demo_seed<T: DeserializeOwned>(file: &str) -> T {
    let path = super::repo_root().join("examples/demo").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("seed file {}: {e}", path.display()));
    let json = perimeter::manifests::yaml_to_json(&text).expect("seed is YAML");
    serde_json::from_value(json).unwrap_or_else(|e| panic!("seed {file}: {e}"))
}

/// Runs `perimeter check --output json` on `dir` against `account` with `credential` as
/// the Secret's value, in a blocking thread (the emulator lives on the test's runtime).
pub async fn check(dir: &Path, account: &Account, credential: &str) -> CheckRun {
    let (secret, key) = account.secret;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perimeter"));
    cmd.arg("check")
        .arg("--manifests")
        .arg(dir)
        .arg("--endpoint")
        .arg(format!("{}={}", account.provider, account.url))
        .args(["--output", "json"])
        .env(CredentialSource::env_name(secret, key), credential);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run perimeter"))
        .await
        .expect("join");
    CheckRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A bad credential exits 1, says `CredentialsRejected`, and is never printed.
pub async fn assert_bad_credential_exits_1(dir: &Path, account: &Account, wrong: &str) {
    let run = check(dir, account, wrong).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("CredentialsRejected"), "{}", run.stdout);
    assert!(run.never_prints(wrong), "the credential is printed");
}

/// Copies `files` of `examples` into a fresh folder and enforces them once through the
/// library (as `perimeter demo` does), with `credential` for the account's Secret. Returns
/// the folder (to `check` it alone) and the run's exit code.
pub async fn enforce(
    examples: &Path,
    files: &[&str],
    account: &Account,
    credential: &str,
) -> (tempfile::TempDir, i32) {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in files {
        std::fs::copy(examples.join(f), dir.path().join(f))
            .unwrap_or_else(|e| panic!("copy example {f}: {e}"));
    }
    let manifests = perimeter::manifests::Manifests::load_dir(dir.path()).expect("manifests");
    let mut creds = CredentialSource::default();
    creds.insert(account.secret.0, account.secret.1, credential);
    let options = Options {
        force_observe: false,
        endpoints: [(account.provider.to_string(), account.url.clone())].into(),
        ..Default::default()
    };
    let run = Runner::new(manifests, &creds, options, None)
        .await
        .run_once()
        .await;
    let code = run.exit_code();
    (dir, code)
}
