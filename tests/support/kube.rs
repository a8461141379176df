//! Helpers of the end-to-end tests that drive the real operator against the Kubernetes API
//! emulator: requests to the emulator, polling, the example manifests, the seeded Cloudflare
//! emulator, and a guard that kills a child process when the test ends.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use perimeter_emulators::cloudflare::{CloudflareEmulator, Seed};
use serde_json::Value;

/// Kills (and reaps) the process when dropped, whatever the test's outcome.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The real operator binary against the API server of `kubeconfig`, with loopback endpoints
/// allowed and its metrics on `metrics_addr`; `env` adds variables (`PERIMETER_LOG`,
/// `POD_NAMESPACE`), `stderr` takes its log. Killed when the handle drops.
pub fn operator(
    kubeconfig: &Path,
    metrics_addr: &str,
    env: &[(&str, &str)],
    stderr: impl Into<Stdio>,
) -> KillOnDrop {
    operator_with(kubeconfig, metrics_addr, &[], env, Stdio::null(), stderr)
}

/// [`operator`] with more arguments (`--log-json`, `--allow-token-host`, ...) and its stdout
/// kept too.
pub fn operator_with(
    kubeconfig: &Path,
    metrics_addr: &str,
    args: &[&str],
    env: &[(&str, &str)],
    stdout: impl Into<Stdio>,
    stderr: impl Into<Stdio>,
) -> KillOnDrop {
    KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_perimeter"))
            .args([
                "operator",
                "--allow-endpoint-host",
                "127.0.0.1",
                "--metrics-addr",
                metrics_addr,
            ])
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start the operator"),
    )
}

/// A YAML file of the repository as JSON.
pub fn manifest(path: &str) -> Value {
    let text = std::fs::read_to_string(super::repo_root().join(path)).expect("manifest");
    perimeter::manifests::yaml_to_json(&text).expect("yaml")
}

/// One of `examples/cloudflare/`.
pub fn cloudflare_example(file: &str) -> Value {
    manifest(&format!("examples/cloudflare/{file}"))
}

/// The Cloudflare emulator seeded with the drifted demo account.
pub fn demo_cloudflare() -> CloudflareEmulator {
    let seed: Seed =
        serde_json::from_value(manifest("examples/demo/cloudflare-account.yaml")).expect("seed");
    CloudflareEmulator::new(seed)
}

/// Sends and asserts a 2xx answer; the body as JSON (`Null` when it is not JSON).
pub async fn send(req: reqwest::RequestBuilder, what: &str) -> Value {
    let resp = req.send().await.expect(what);
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "{what}: {status} {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

pub async fn create(http: &reqwest::Client, url: &str, body: &Value) -> Value {
    send(http.post(url).json(body), &format!("create {url}")).await
}

/// GET that must succeed.
pub async fn get(http: &reqwest::Client, url: &str) -> Value {
    send(http.get(url), &format!("GET {url}")).await
}

/// GET whatever the answer: the object, or the API's `Status` error body.
pub async fn get_any(http: &reqwest::Client, url: &str) -> Value {
    http.get(url)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

/// `None` while the object does not exist (or the server is not answering).
pub async fn try_get(http: &reqwest::Client, url: &str) -> Option<Value> {
    let resp = http.get(url).send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json().await.ok()
}

pub async fn merge_patch(http: &reqwest::Client, url: &str, patch: &Value) -> Value {
    let req = http
        .patch(url)
        .header("content-type", "application/merge-patch+json")
        .body(patch.to_string());
    send(req, &format!("PATCH {url}")).await
}

pub fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Polls `check` every 200 ms until it gives a value; fails the test after 90 s.
pub async fn wait_for<T>(what: &str, check: impl AsyncFnMut() -> Option<T>) -> T {
    poll(
        what,
        Duration::from_secs(90),
        Duration::from_millis(200),
        check,
    )
    .await
}

/// Polls every 100 ms (for measured timings) until `limit`.
pub async fn wait_within<T>(
    what: &str,
    limit: Duration,
    check: impl AsyncFnMut() -> Option<T>,
) -> T {
    poll(what, limit, Duration::from_millis(100), check).await
}

async fn poll<T>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(every).await;
    }
}
