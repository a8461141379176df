//! Helpers of the end-to-end tests that drive the real operator against the Kubernetes API
//! emulator: requests to the emulator, polling, the example manifests, the seeded Cloudflare
//! emulator, and a guard that kills a child process when the test ends.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::path::PathBuf;

use perimeter_emulators::cloudflare::{CloudflareEmulator, Seed};
use perimeter_emulators::server::RunningEmulator;
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

/// The kube emulator's request log (`/_emulator/requests`), oldest first.
pub async fn kube_requests(http: &reqwest::Client, kube: &str) -> Vec<Value> {
    get(http, &format!("{kube}/_emulator/requests"))
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

const NS: &str = "perimeter";
const GROUP: &str = "/apis/perimeter.dev/v1alpha1";
/// The zone of `examples/cloudflare/` and the demo account.
pub const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";

/// The kube emulator (namespace `perimeter`), the Cloudflare emulator with the demo account,
/// and the account's Secret and CloudProvider; `operator` starts the real operator on it.
pub struct Cluster {
    _kube: super::ChildServer,
    pub k: String,
    pub http: reqwest::Client,
    /// Served during an emulated outage (`X-Emulator-Bypass`): the test's own writes.
    pub bypass: reqwest::Client,
    pub cloudflare: CloudflareEmulator,
    _running: RunningEmulator,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub policies: String,
}

impl Cluster {
    pub async fn start() -> Self {
        let kube = tokio::task::spawn_blocking(super::start_kube_emulator)
            .await
            .expect("kube emulator");
        let cloudflare = demo_cloudflare();
        let running = cloudflare
            .start("127.0.0.1:0")
            .await
            .expect("cloudflare emulator");
        let http = reqwest::Client::new();
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-emulator-bypass", "true".parse().expect("header"));
        let bypass = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .expect("client");
        let k = kube.url.clone();
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = super::write_kubeconfig(dir.path(), &k, NS);
        cloudflare_account(&http, &k, NS, &running.base_url()).await;
        Self {
            policies: format!("{k}{GROUP}/namespaces/{NS}/firewallpolicies"),
            _kube: kube,
            k,
            http,
            bypass,
            cloudflare,
            _running: running,
            dir,
            kubeconfig,
        }
    }

    /// The operator (no leader election), its log in `name`.log; returns it and its metrics
    /// address.
    pub fn operator(&self, name: &str) -> (KillOnDrop, String) {
        let metrics = format!("127.0.0.1:{}", super::free_port());
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log"))).expect("log");
        let op = operator(
            &self.kubeconfig,
            &metrics,
            &[("PERIMETER_LOG", "info,perimeter::controller=debug")],
            log,
        );
        (op, metrics)
    }

    pub fn log_of(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    pub async fn hook(&self, path: &str, body: Value) -> Value {
        send(
            self.http
                .post(format!("{}/_emulator/{path}", self.k))
                .json(&body),
            path,
        )
        .await
    }

    /// The policy once its status describes `generation` with `Ready` at `ready`.
    pub async fn settled(&self, name: &str, generation: i64, ready: &str) -> Value {
        let url = format!("{}/{name}", self.policies);
        wait_for(
            &format!("{name} generation {generation} Ready={ready}"),
            async || {
                let obj = try_get(&self.http, &url).await?;
                (obj["status"]["observedGeneration"] == generation
                    && condition(&obj, "Ready")?["status"] == ready)
                    .then_some(obj)
            },
        )
        .await
    }

    /// Provider writes whose path ends with `suffix`.
    pub fn provider_writes(&self, suffix: &str) -> usize {
        self.cloudflare
            .log()
            .writes()
            .iter()
            .filter(|w| w.path.ends_with(suffix))
            .count()
    }

    pub fn security_level(&self) -> Option<Value> {
        let seed = serde_json::to_value(self.cloudflare.snapshot()).expect("seed");
        seed["zones"].as_array()?.iter().find(|z| z["id"] == ZONE)?["settings"]["security_level"]
            .clone()
            .into()
    }
}

/// The operator's `/metrics` text at `addr` (`host:port`).
pub async fn metrics_text(http: &reqwest::Client, addr: &str) -> String {
    http.get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
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

/// The example Cloudflare account in `namespace` of the API server at `kube`: the labelled
/// credential Secret `cloudflare-api` and the CloudProvider `cloudflare-main` pointed at the
/// emulator serving at `base_url`.
pub async fn cloudflare_account(
    http: &reqwest::Client,
    kube: &str,
    namespace: &str,
    base_url: &str,
) {
    create(
        http,
        &format!("{kube}/api/v1/namespaces/{namespace}/secrets"),
        &serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cloudflare-api", "namespace": namespace, "labels": {"perimeter.dev/credential": "true"}}, "data": {"token": "ZGVtby10b2tlbg=="}}),
    )
    .await;
    let mut provider = cloudflare_example("provider.yaml");
    provider["spec"]["endpoint"] = serde_json::json!(format!("{base_url}/client/v4"));
    create(
        http,
        &format!("{kube}/apis/perimeter.dev/v1alpha1/namespaces/{namespace}/cloudproviders"),
        &provider,
    )
    .await;
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

/// `(method, path?query)` of every request one client sent.
pub type RequestLog = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// A proxy in front of the API server that records every request passing through, so that a
/// test running several operators (one proxy each) can tell which of them sent what: the
/// emulator's own request log does not say who sent a request. Watches stream through.
pub struct RecordingProxy {
    /// Where the client should connect (its kubeconfig's server).
    pub url: String,
    pub log: RequestLog,
}

impl RecordingProxy {
    pub async fn start(upstream: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let log = RequestLog::default();
        let (client, upstream, recorded) =
            (reqwest::Client::new(), upstream.to_string(), log.clone());
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            forward(client.clone(), upstream.clone(), recorded.clone(), req)
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, log }
    }

    pub fn requests(&self) -> Vec<(String, String)> {
        self.log.lock().expect("log").clone()
    }
}

async fn forward(
    client: reqwest::Client,
    upstream: String,
    log: RequestLog,
    req: axum::extract::Request,
) -> axum::response::Response {
    let method = req.method().clone();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    log.lock()
        .expect("log")
        .push((method.to_string(), target.clone()));
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let mut out = client
        .request(method, format!("{upstream}{target}"))
        .body(body);
    for (k, v) in &headers {
        if k != http::header::HOST && k != http::header::CONTENT_LENGTH {
            out = out.header(k, v);
        }
    }
    let Ok(resp) = out.send().await else {
        return axum::response::Response::builder()
            .status(502)
            .body(axum::body::Body::empty())
            .expect("response");
    };
    let mut back = axum::response::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        if k != http::header::CONTENT_LENGTH && k != http::header::TRANSFER_ENCODING {
            back = back.header(k, v);
        }
    }
    // Chunk by chunk, so that a watch's events reach the operator as they come.
    let chunks = futures::stream::unfold(resp, |mut resp| async move {
        match resp.chunk().await {
            Ok(Some(chunk)) => Some((Ok::<_, std::io::Error>(chunk), resp)),
            _ => None,
        }
    });
    back.body(axum::body::Body::from_stream(chunks))
        .expect("response")
}
