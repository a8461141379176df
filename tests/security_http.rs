//! Security tests of the shared HTTP layer and the AWS SDK path (issue 8, items 6, 9 and
//! parts of 11 and 12): what a hostile or broken answer, endpoint or spec field can no longer
//! do. Most tests talk to a raw local HTTP server written here, which counts what it wrote and
//! records what it received, so each test can assert on the far side of the wire.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use perimeter::SecretString;
use perimeter::api::CloudProviderSpec;
use perimeter::error::Category;
use perimeter::http::{Auth, HttpClient, HttpSettings, Request};
use perimeter::providers::Provider;
use perimeter::providers::aws::Aws;
use perimeter::providers::cloudflare::api::{CloudflareFirewall, CloudflareMonitoring};
use perimeter::providers::cloudflare::{Cloudflare, firewall_target, monitoring_target};
use perimeter::providers::gcp::Gcp;
use perimeter_emulators::aws::{AwsEmulator, Seed as AwsSeed};
use perimeter_emulators::cloudflare::{CloudflareEmulator, Seed as CloudflareSeed};
use perimeter_emulators::gcp::{GcpEmulator, Seed as GcpSeed};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_perimeter");
const MIB: u64 = 1024 * 1024;
/// The answer that took `check` to 631 MB RSS.
const HUGE: u64 = 200 * 1000 * 1000;
/// Far less than [`HUGE`]: the 16 MiB cap plus what socket buffers absorb before a write fails.
const HUNG_UP_BEFORE: u64 = 64 * MIB;
const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
const ACCOUNT: &str = "01a7362d577a6c3019a474fd6f485823";
const TOKEN: &str = "cf-test-token-4711";

// ---- a raw HTTP/1.1 server ---------------------------------------------------------------

#[derive(Clone)]
enum Answer {
    Json(u16, String),
    /// `total` bytes of body, chunked (no `Content-Length`), written until the client hangs up.
    Stream {
        total: u64,
        content_type: &'static str,
    },
    /// Headers only, announcing `declared` bytes; then waits for the client to hang up.
    Declared {
        declared: u64,
    },
    Redirect(String),
}

#[derive(Default)]
struct Seen {
    /// `METHOD /path?query` of every request received.
    requests: Mutex<Vec<String>>,
    /// Body bytes written by each finished streamed answer.
    written: Mutex<Vec<u64>>,
    /// Declared-length answers whose client closed the connection without reading.
    hung_up: AtomicUsize,
}

struct RawServer {
    addr: SocketAddr,
    seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawServer {
    async fn start(answer: impl Fn(&str) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Seen::default());
        let answer = Arc::new(answer);
        let task = {
            let seen = seen.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let seen = seen.clone();
                    let answer = answer.clone();
                    tokio::spawn(async move { serve(stream, &seen, answer.as_ref()).await });
                }
            })
        };
        Self { addr, seen, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.seen.requests.lock().expect("lock").clone()
    }

    /// Waits (bounded) until `n` streamed answers have finished, and returns their byte counts.
    async fn written(&self, n: usize) -> Vec<u64> {
        for _ in 0..600 {
            let done = self.seen.written.lock().expect("lock").clone();
            if done.len() >= n {
                return done;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("fewer than {n} streamed answers finished within 60 s");
    }

    async fn hung_up(&self, n: usize) -> bool {
        for _ in 0..200 {
            if self.seen.hung_up.load(Ordering::SeqCst) >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}

async fn serve(
    mut stream: TcpStream,
    seen: &Seen,
    answer: &(dyn Fn(&str) -> Answer + Send + Sync),
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    if stream.read_exact(&mut body).await.is_err() {
        return;
    }
    let line = head.lines().next().unwrap_or("").to_string();
    let request = line
        .rsplit_once(' ')
        .map_or(line.as_str(), |(r, _)| r)
        .to_string();
    seen.requests.lock().expect("lock").push(request.clone());
    match answer(&request) {
        Answer::Json(status, body) => {
            let text = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(text.as_bytes()).await;
        }
        Answer::Redirect(location) => {
            let text = format!(
                "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = stream.write_all(text.as_bytes()).await;
        }
        Answer::Stream {
            total,
            content_type,
        } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            );
            let mut sent = 0u64;
            if stream.write_all(head.as_bytes()).await.is_ok() {
                let data = vec![b' '; 64 * 1024];
                let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
                chunk.extend_from_slice(&data);
                chunk.extend_from_slice(b"\r\n");
                while sent < total {
                    if stream.write_all(&chunk).await.is_err() {
                        break;
                    }
                    sent += data.len() as u64;
                }
                if sent >= total {
                    let _ = stream.write_all(b"0\r\n\r\n").await;
                }
            }
            seen.written.lock().expect("lock").push(sent);
        }
        Answer::Declared { declared } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {declared}\r\nconnection: close\r\n\r\n"
            );
            if stream.write_all(head.as_bytes()).await.is_ok() {
                let mut buf = [0u8; 1024];
                let closed = tokio::time::timeout(Duration::from_secs(20), async {
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                    }
                })
                .await
                .is_ok();
                if closed {
                    seen.hung_up.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }
}

// ---- clients ------------------------------------------------------------------------------

fn settings(base: &str, timeout_secs: u64) -> HttpSettings {
    let mut s = HttpSettings::new("cloudflare", format!("{base}/client/v4"));
    s.timeout = Duration::from_secs(timeout_secs);
    s.max_retries = 0;
    s
}

fn cloudflare(base: &str) -> Cloudflare {
    Cloudflare::with_settings(
        settings(base, 10),
        Some(ACCOUNT.to_string()),
        SecretString::new(TOKEN),
        None,
    )
    .expect("client")
}

fn firewall(zone: &str) -> perimeter::providers::Target {
    let fw: CloudflareFirewall = serde_json::from_value(json!({
        "zoneId": zone,
        "ipAccessRules": [{"mode": "block", "target": "ip_range", "value": "203.0.113.0/24"}]
    }))
    .expect("firewall block");
    firewall_target(&fw).expect("target")
}

async fn aws(endpoint: &str) -> Aws {
    let spec: CloudProviderSpec = serde_json::from_value(json!({
        "type": "aws",
        "accountId": "123456789012",
        "credentials": {"source": "Secret", "secretRef": {"name": "aws", "key": "credentials"}},
        "endpoint": endpoint,
        "regions": ["eu-west-1"],
        "requestTimeoutSeconds": 20,
    }))
    .expect("spec");
    let key = json!({"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "secretAccessKey": "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"});
    Aws::connect(&spec, Some(SecretString::new(key.to_string())), None)
        .await
        .expect("connect")
}

// ---- item 6: one large answer ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_200_mb_answer_fails_as_bad_response_and_is_not_read_past_the_cap() {
    let server = RawServer::start(|_| Answer::Stream {
        total: HUGE,
        content_type: "application/json",
    })
    .await;
    let err = cloudflare(&server.url())
        .verify()
        .await
        .expect_err("a 200 MB answer is refused");
    assert_eq!(err.category, Category::BadResponse, "{err}");
    assert!(err.message.contains("16 MiB cap"), "{err}");
    let written = server.written(1).await;
    eprintln!("HttpClient: bytes written before the client hung up: {written:?}");
    assert!(
        written[0] < HUNG_UP_BEFORE,
        "the client hung up after {} bytes of a 200 MB answer",
        written[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_content_length_above_the_cap_is_refused_without_reading() {
    let server = RawServer::start(|_| Answer::Declared {
        declared: 10 * 1024 * MIB,
    })
    .await;
    // The server sends no body at all: a client that waited for it would time out.
    let err = cloudflare(&server.url())
        .verify()
        .await
        .expect_err("refused");
    assert_eq!(err.category, Category::BadResponse, "{err}");
    assert!(
        err.message
            .contains("10737418240-byte answer exceeds the 16 MiB cap"),
        "{err}"
    );
    assert!(server.hung_up(1).await, "the client closed the connection");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cap_is_a_setting_and_an_answer_of_exactly_the_cap_is_read() {
    let body = json!({"success": true, "errors": [], "result": {"status": "active"}}).to_string();
    let size = body.len();
    let server = RawServer::start(move |_| Answer::Json(200, body.clone())).await;
    let mut s = settings(&server.url(), 10);
    s.max_body_bytes = size;
    let client = HttpClient::new(s.clone(), Auth::None, None).expect("client");
    let resp = client
        .send(&Request::get("verify", "/user/tokens/verify"))
        .await
        .expect("an answer of exactly the cap is read");
    assert_eq!(resp.body.len(), size);
    s.max_body_bytes = size - 1;
    let client = HttpClient::new(s, Auth::None, None).expect("client");
    let err = client
        .send(&Request::get("verify", "/user/tokens/verify"))
        .await
        .expect_err("one byte over the cap is refused");
    assert_eq!(err.category, Category::BadResponse, "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_are_not_followed_for_reads_or_writes() {
    let elsewhere = RawServer::start(|_| {
        Answer::Json(
            200,
            json!({"success": true, "errors": [], "result": {"status": "active"}}).to_string(),
        )
    })
    .await;
    let location = format!(
        "{}/client/v4/user/tokens/verify?X-Amz-Signature=SIGNEDSECRET",
        elsewhere.url()
    );
    let origin = RawServer::start(move |_| Answer::Redirect(location.clone())).await;

    let err = cloudflare(&origin.url())
        .verify()
        .await
        .expect_err("a redirect is an error");
    assert_eq!(err.category, Category::BadResponse, "{err}");
    assert!(err.message.contains("HTTP 302"), "{err}");
    assert!(err.message.contains("127.0.0.1"), "names the host: {err}");
    assert!(
        !err.message.contains("SIGNEDSECRET") && !err.message.contains("/user"),
        "names nothing of the Location but its host: {err}"
    );

    let client = HttpClient::new(
        settings(&origin.url(), 10),
        Auth::Bearer(SecretString::new(TOKEN)),
        None,
    )
    .expect("client");
    let write = Request::new(reqwest::Method::POST, "create", "/zones/z/logpush/jobs")
        .json(json!({"name": "x"}));
    let err = client.send(&write).await.expect_err("a redirected write");
    assert_eq!(err.category, Category::BadResponse, "{err}");
    assert_eq!(origin.requests().len(), 2);
    assert!(
        elsewhere.requests().is_empty(),
        "the redirect target received {:?}",
        elsewhere.requests()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_answers_are_capped_and_not_redirected_too() {
    // A streamed 200 MB answer to the SDK.
    let server = RawServer::start(|_| Answer::Stream {
        total: HUGE,
        content_type: "text/xml",
    })
    .await;
    let err = aws(&server.url())
        .await
        .verify()
        .await
        .expect_err("a 200 MB answer is refused");
    assert_eq!(err.category, Category::BadResponse, "{err}");
    assert!(err.message.contains("16 MiB cap"), "{err}");
    let written = server.written(1).await;
    eprintln!("SDK: bytes written before the client hung up: {written:?}");
    assert_eq!(
        server.requests().len(),
        1,
        "a refused answer is not retried"
    );
    assert!(
        written[0] < HUNG_UP_BEFORE,
        "the SDK path hung up after {} bytes",
        written[0]
    );

    // A Content-Length above the cap, and no body.
    let server = RawServer::start(|_| Answer::Declared {
        declared: 10 * 1024 * MIB,
    })
    .await;
    let err = aws(&server.url())
        .await
        .verify()
        .await
        .expect_err("refused");
    assert_eq!(err.category, Category::BadResponse, "{err}");
    assert!(err.message.contains("exceeds the 16 MiB cap"), "{err}");
    assert!(server.hung_up(1).await, "the client closed the connection");

    // A redirect to a second listener.
    let elsewhere = RawServer::start(|_| Answer::Json(200, String::new())).await;
    let location = format!("{}/?X-Amz-Signature=SIGNEDSECRET", elsewhere.url());
    let origin = RawServer::start(move |_| Answer::Redirect(location.clone())).await;
    let err = aws(&origin.url())
        .await
        .verify()
        .await
        .expect_err("a redirect is an error");
    assert_eq!(err.category, Category::BadResponse, "{err}");
    assert!(err.message.contains("redirect to 127.0.0.1"), "{err}");
    assert!(!err.message.contains("SIGNEDSECRET"), "{err}");
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
}

/// `perimeter check` (the real binary) against a provider that answers 200 MB to every call.
#[tokio::test(flavor = "multi_thread")]
async fn check_survives_a_200_mb_answer() {
    let server = RawServer::start(|_| Answer::Stream {
        total: HUGE,
        content_type: "application/json",
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["provider.yaml", "firewall-access.yaml"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples/cloudflare")
                .join(f),
            dir.path().join(f),
        )
        .expect("copy example");
    }
    let mut cmd = Command::new(BIN);
    cmd.arg("check")
        .arg("--manifests")
        .arg(dir.path())
        .arg("--endpoint")
        .arg(format!("cloudflare-main={}/client/v4", server.url()))
        .env("PERIMETER_SECRET_CLOUDFLARE_API_TOKEN", TOKEN);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run perimeter"))
        .await
        .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "unreadable → 1\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("16 MiB cap") || stderr.contains("16 MiB cap"),
        "{stdout}\n{stderr}"
    );
    let calls = server.requests().len();
    assert!(calls >= 1);
    let written = server.written(calls).await;
    eprintln!("check: bytes written per answer before the client hung up: {written:?}");
    assert!(
        written.iter().all(|w| *w < HUNG_UP_BEFORE),
        "bytes written per answer: {written:?}"
    );
}

// ---- item 11 (part): ids in paths -------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn hostile_zone_and_account_ids_never_leave_their_path() {
    let server = RawServer::start(|_| {
        Answer::Json(
            200,
            json!({"success": true, "errors": [], "result": [], "result_info": {"total_pages": 1}})
                .to_string(),
        )
    })
    .await;
    let cf = cloudflare(&server.url());
    for zone in [
        "../../accounts/x",
        "%2e%2e/%2e%2e/accounts/x",
        "..",
        ".",
        "x?per_page=1#",
        "..\\..\\accounts",
    ] {
        // Refused, or percent-encoded so that the id stays one segment below /zones/.
        if let Err(e) = cf.observe(&firewall(zone)).await {
            assert_eq!(e.category, Category::InvalidSpec, "{zone:?}: {e}");
        }
    }
    for request in server.requests() {
        let path = request.split_once(' ').map_or("", |(_, p)| p);
        assert!(
            path.starts_with("/client/v4/zones/") && !path.contains("/accounts/"),
            "a request left /client/v4/zones/: {request}"
        );
        let zone = path["/client/v4/zones/".len()..]
            .split('/')
            .next()
            .unwrap_or("");
        assert!(
            !matches!(
                zone.to_ascii_lowercase().as_str(),
                "." | ".." | "%2e%2e" | ".%2e" | "%2e."
            ),
            "the zone segment {zone:?} is not a dot segment"
        );
    }
    // The plain dot segments are refused outright: nothing is sent for them.
    let before = server.requests().len();
    let err = cf.observe(&firewall("..")).await.expect_err("refused");
    assert_eq!(err.category, Category::InvalidSpec);
    assert!(err.message.contains("zoneId"), "names the field: {err}");
    assert_eq!(server.requests().len(), before, "nothing sent");

    // An account id in a monitoring policy.
    let mon: CloudflareMonitoring = serde_json::from_value(json!({
        "notificationPolicies": [{"name": "p", "alertType": "dos_attack_l7", "enabled": true,
            "mechanisms": {"email": ["soc@example.com"]}}]
    }))
    .expect("monitoring block");
    let target = monitoring_target(&mon).expect("target");
    let hostile = Cloudflare::with_settings(
        settings(&server.url(), 10),
        Some("..".to_string()),
        SecretString::new(TOKEN),
        None,
    )
    .expect("client");
    let err = hostile.observe(&target).await.expect_err("refused");
    assert_eq!(err.category, Category::InvalidSpec, "{err}");
    assert!(err.message.contains("accountId"), "{err}");
    assert_eq!(server.requests().len(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_gcp_project_ids_never_leave_their_path() {
    let server = RawServer::start(|request| {
        if request.contains("/token") {
            Answer::Json(
                200,
                // The metadata server's answer, as GCE gives it (google-cloud-auth needs
                // every field).
                json!({"access_token": "t", "expires_in": 3600, "token_type": "Bearer"})
                    .to_string(),
            )
        } else {
            Answer::Json(200, json!({"items": []}).to_string())
        }
    })
    .await;
    let connect = |project: &str| {
        let spec: CloudProviderSpec = serde_json::from_value(json!({
            "type": "gcp", "accountId": project, "endpoint": server.url(),
            "credentials": {"source": "Ambient"}, "regions": ["europe-west1"],
        }))
        .expect("spec");
        let mut settings = HttpSettings::new("gcp", "");
        settings.max_retries = 0;
        let options = perimeter::providers::gcp::Options {
            metadata_host: Some(server.url()),
            settings: Some(settings),
            ..Default::default()
        };
        Gcp::connect_with(&spec, None, None, options)
    };
    match connect("..") {
        Err(e) => assert_eq!(e.category(), Category::InvalidSpec, "{e}"),
        Ok(_) => panic!("accountId .. is refused"),
    }
    assert!(server.requests().is_empty());
    let gcp = connect("../../other-project").expect("encoded, not refused");
    gcp.verify().await.expect("verify");
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r
                .starts_with("GET /compute/v1/projects/..%2F..%2Fother-project/global/firewalls")),
        "{requests:?}"
    );
    for r in &requests {
        let path = r.split_once(' ').map_or("", |(_, p)| p);
        assert!(
            path.starts_with("/computeMetadata/") || path.starts_with("/compute/v1/projects/..%2F"),
            "{r}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_layer_refuses_dot_segments_before_any_io() {
    let server = RawServer::start(|_| Answer::Json(200, "{}".into())).await;
    let client = HttpClient::new(settings(&server.url(), 10), Auth::None, None).expect("client");
    for path in [
        "/zones/../../accounts/x",
        "/zones/%2e%2e/%2E%2e/accounts/x",
        "/zones/x?y=1",
        "/zones/x#y",
        "/zones\\x",
    ] {
        let err = client
            .send(&Request::get("op", path))
            .await
            .expect_err("refused");
        assert_eq!(err.category, Category::InvalidSpec, "{path}: {err}");
    }
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

// ---- item 9: redaction ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn provider_text_reaches_errors_only_sanitised() {
    let secret_status = "sk_live_TOPSECRETa1B2c3D4e5F6g7H8i9J0";
    let status_answer =
        json!({"success": true, "errors": [], "result": {"status": secret_status}}).to_string();
    let server = RawServer::start(move |_| Answer::Json(200, status_answer.clone())).await;
    let err = cloudflare(&server.url())
        .verify()
        .await
        .expect_err("not active");
    assert_eq!(err.category, Category::CredentialsRejected);
    assert_eq!(
        err.message,
        "the API token is not active (unrecognised status)"
    );

    let envelope = json!({"success": false, "result": null, "errors": [{"code": 9109,
        "message": "Invalid request header_Authorization=Bearer abcDEF1234567890ghijKLMN echoed"}]})
    .to_string();
    let server = RawServer::start(move |_| Answer::Json(400, envelope.clone())).await;
    let err = cloudflare(&server.url())
        .verify()
        .await
        .expect_err("refused");
    assert!(err.message.contains("9109 Invalid request"), "{err}");
    assert!(!err.message.contains("abcDEF1234567890ghijKLMN"), "{err}");

    let page = "<html><body>upstream said token=abcDEF1234567890ghijKLMN</body></html>";
    let server = RawServer::start(move |_| Answer::Json(502, page.to_string())).await;
    let err = cloudflare(&server.url()).verify().await.expect_err("502");
    assert_eq!(err.category, Category::ProviderError);
    assert_eq!(
        err.message,
        format!("HTTP 502: {}-byte non-JSON body", page.len())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logpush_destinations_and_errors_are_masked() {
    let seed: CloudflareSeed = serde_json::from_value(json!({
        "tokens": [TOKEN],
        "accounts": [{"id": ACCOUNT, "name": "a"}],
        "zones": [{"id": ZONE, "name": "example.com", "account_id": ACCOUNT, "logpush_jobs": [{
            "name": "siem", "dataset": "firewall_events", "enabled": true,
            "destination_conf": "https://user:p@ss@siem.example.com/receiver/v1/http/ZaVnC4dhaV2ZZls4RH5ALeFOIQGaq0YW7Dpm1Q?header_Authorization=Bearer%20DESTSECRET1",
            "error_message": "POST https://siem.example.com/in?token=ERRSECRET2 failed: 401, header_Authorization=Basic RVJSU0VDUkVUMw== rejected"
        }]}]
    }))
    .expect("seed");
    let emulator = CloudflareEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let cf = Cloudflare::with_settings(
        HttpSettings::new("cloudflare", format!("{}/client/v4", running.base_url())),
        Some(ACCOUNT.to_string()),
        SecretString::new(TOKEN),
        None,
    )
    .expect("client");
    let mon: CloudflareMonitoring = serde_json::from_value(json!({
        "zoneId": ZONE,
        "logpushJobs": [{"name": "siem", "dataset": "firewall_events",
            "destinationConf": "https://siem.example.com/in"}]
    }))
    .expect("monitoring block");
    let obs = cf
        .observe(&monitoring_target(&mon).expect("target"))
        .await
        .expect("observe");
    let shown = format!("{:?}", obs.findings);
    assert!(shown.contains("LogJobFailing"), "{shown}");
    let state = serde_json::to_string(&obs.state.sections[0].items[0].fields).expect("json");
    for secret in [
        "p@ss",
        "ZaVnC4dhaV2ZZls4RH5ALeFOIQGaq0YW7Dpm1Q",
        "DESTSECRET1",
        "ERRSECRET2",
        "RVJSU0VDUkVUMw==",
    ] {
        assert!(!shown.contains(secret), "finding shows {secret}: {shown}");
        assert!(!state.contains(secret), "state shows {secret}: {state}");
    }
    assert!(
        state
            .contains("https://***@siem.example.com/receiver/v1/http/***?header_Authorization=***"),
        "{state}"
    );
}

// ---- item 9 and 12 (part): logs -------------------------------------------------------

const AWS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const AWS_SECRET: &str = "SECRETwJalrXUtnFEMIK7MDENGbPxRfiCYzz";
const AWS_SESSION: &str = "SESSIONFwoGZXIvYXdzEJr9wEaDM3token";

/// `perimeter check` against the AWS emulator, the credentials coming from a container
/// credentials endpoint (an answer that carries a session token), with the given log env.
async fn check_aws_with_log_env(env: &[(&str, &str)]) -> (i32, String, String) {
    let seed: AwsSeed = serde_json::from_value(json!({
        "accountId": "123456789012", "region": "eu-west-1",
        "accessKeys": [{"accessKeyId": AWS_KEY_ID, "secretAccessKey": AWS_SECRET}],
        "detectors": [{"detectorId": "d0", "status": "ENABLED", "findingPublishingFrequency": "SIX_HOURS"}]
    }))
    .expect("seed");
    let emulator = AwsEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let credentials = json!({"AccessKeyId": AWS_KEY_ID, "SecretAccessKey": AWS_SECRET,
        "Token": AWS_SESSION, "Expiration": "2099-01-01T00:00:00Z"})
    .to_string();
    let creds = RawServer::start(move |_| Answer::Json(200, credentials.clone())).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("aws.yaml"),
        format!(
            r#"apiVersion: perimeter.dev/v1alpha1
kind: CloudProvider
metadata: {{name: aws, namespace: perimeter}}
spec:
  type: aws
  accountId: "123456789012"
  credentials: {{source: Ambient}}
  regions: [eu-west-1]
  endpoint: {}
---
apiVersion: perimeter.dev/v1alpha1
kind: MonitoringPolicy
metadata: {{name: guardduty, namespace: perimeter}}
spec:
  providerRef: {{name: aws}}
  mode: Observe
  aws:
    region: eu-west-1
    guardDuty: {{enabled: true}}
"#,
            running.base_url()
        ),
    )
    .expect("manifest");
    let home = tempfile::tempdir().expect("home");
    let mut cmd = Command::new(BIN);
    // The manifest names the emulator on loopback: allowed as an admin would allow it.
    cmd.arg("check")
        .arg("--manifests")
        .arg(dir.path())
        .args(["--allow-endpoint-host", "127.0.0.1"]);
    for var in [
        "PERIMETER_LOG",
        "RUST_LOG",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home.path())
        .env("NO_COLOR", "1")
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{}/creds", creds.url()),
        )
        // Lifts the SDK's own redaction of credential answers at TRACE.
        .env("LOG_SENSITIVE_BODIES", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run perimeter"))
        .await
        .expect("join");
    assert!(
        !creds.requests().is_empty(),
        "the credentials came from the container endpoint"
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The level and the rest of each `tracing_subscriber::fmt` line (`<time> LEVEL spans: target: …`).
fn levels(stderr: &str) -> Vec<(String, String)> {
    stderr
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let _time = words.next()?;
            let level = words.next()?;
            let rest = words.collect::<Vec<_>>().join(" ");
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
                .contains(&level)
                .then(|| (level.to_string(), format!(" {rest}")))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn trace_logs_never_print_aws_credentials() {
    for var in ["RUST_LOG", "PERIMETER_LOG"] {
        let (code, stdout, stderr) = check_aws_with_log_env(&[(var, "trace")]).await;
        assert_eq!(
            code,
            0,
            "{var}=trace\n{stdout}\n{}",
            &stderr[..stderr.len().min(4000)]
        );
        assert!(stdout.contains("in sync"), "{stdout}");
        for secret in [AWS_SECRET, AWS_SESSION] {
            assert!(!stderr.contains(secret), "{var}=trace printed {secret}");
        }
        let lines = levels(&stderr);
        assert!(
            lines.iter().any(|(l, _)| l == "DEBUG"),
            "{var}=trace is honoured below the cap"
        );
        let over_cap: Vec<_> = lines
            .iter()
            .filter(|(l, rest)| l == "TRACE" && (rest.contains(" aws_") || rest.contains(" hyper")))
            .collect();
        assert!(
            over_cap.is_empty(),
            "{var}=trace: {:?}",
            &over_cap[..over_cap.len().min(5)]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_log_is_honoured_and_perimeter_log_wins() {
    let (code, _, stderr) = check_aws_with_log_env(&[("RUST_LOG", "debug")]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        levels(&stderr).iter().any(|(l, _)| l == "DEBUG"),
        "RUST_LOG=debug shows debug lines"
    );
    let (_, _, stderr) = check_aws_with_log_env(&[]).await;
    assert!(
        !levels(&stderr).iter().any(|(l, _)| l == "DEBUG"),
        "info by default"
    );
    let (_, _, stderr) =
        check_aws_with_log_env(&[("RUST_LOG", "debug"), ("PERIMETER_LOG", "warn")]).await;
    assert!(
        !levels(&stderr)
            .iter()
            .any(|(l, _)| l == "DEBUG" || l == "INFO"),
        "PERIMETER_LOG wins over RUST_LOG"
    );
}

const GCP_SA: &str = "perimeter@demo-project.iam.gserviceaccount.com";
const GCP_POOL: &str =
    "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/eks";

/// `perimeter check` against the GCP emulator with `source: Ambient` and
/// GOOGLE_APPLICATION_CREDENTIALS naming `credential` (written to a file), at trace level.
/// Returns the exit code, stdout, stderr and the emulator.
async fn check_gcp_at_trace(
    credential: impl FnOnce(&GcpEmulator, &str, &Path) -> String,
) -> (i32, String, String, GcpEmulator) {
    let seed: GcpSeed = serde_json::from_value(json!({
        "project": "demo-project",
        "serviceAccounts": [{"clientEmail": GCP_SA,
            "publicKeyPem": include_str!("fixtures/gcp/test-sa.pub.pem")}],
        "workloadIdentityProviders": [{"audience": GCP_POOL, "serviceAccounts": [GCP_SA]}],
        "firewalls": [{"name": "allow-ssh", "network": "default", "sourceRanges": ["0.0.0.0/0"],
            "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]}]
    }))
    .expect("seed");
    let emulator = GcpEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let base = running.base_url();
    let dir = tempfile::tempdir().expect("tempdir");
    let (manifests, credentials) = (dir.path().join("manifests"), dir.path().join("credentials"));
    for d in [&manifests, &credentials] {
        std::fs::create_dir(d).expect("dir");
    }
    let credential_file = credentials.join("credential.json");
    std::fs::write(&credential_file, credential(&emulator, &base, &credentials)).expect("cred");
    std::fs::write(
        manifests.join("gcp.yaml"),
        format!(
            r#"apiVersion: perimeter.dev/v1alpha1
kind: CloudProvider
metadata: {{name: gcp, namespace: perimeter}}
spec:
  type: gcp
  accountId: demo-project
  credentials: {{source: Ambient}}
  regions: [europe-west1]
  endpoint: {base}
---
apiVersion: perimeter.dev/v1alpha1
kind: FirewallPolicy
metadata: {{name: fw, namespace: perimeter}}
spec:
  providerRef: {{name: gcp}}
  mode: Observe
  gcp:
    network: default
    firewallRules:
      - name: allow-ssh
        sourceRanges: [0.0.0.0/0]
        allowed: [{{IPProtocol: tcp, ports: ["22"]}}]
"#
        ),
    )
    .expect("manifest");
    let mut cmd = Command::new(BIN);
    cmd.arg("check")
        .arg("--manifests")
        .arg(&manifests)
        .args(["--allow-endpoint-host", "127.0.0.1"])
        .args(["--allow-token-host", "127.0.0.1"])
        .arg("--credential-source-dir")
        .arg(&credentials)
        .env_remove("PERIMETER_LOG")
        .env_remove("GCE_METADATA_HOST")
        .env("RUST_LOG", "trace")
        .env("NO_COLOR", "1")
        .env("GOOGLE_APPLICATION_CREDENTIALS", &credential_file);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run perimeter"))
        .await
        .expect("join");
    drop(dir);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        emulator,
    )
}

/// Issue 9: the tokens google-cloud-auth obtains (a service account's self-signed JWT; an
/// external account's subject, federated and impersonated tokens) never reach the logs, even
/// at trace level, nor the output.
#[tokio::test(flavor = "multi_thread")]
async fn trace_logs_never_print_gcp_tokens() {
    let key = include_str!("fixtures/gcp/test-sa.key.pem");
    let (code, stdout, stderr, emulator) = check_gcp_at_trace(|_, _, _| {
        json!({"type": "service_account", "project_id": "demo-project", "private_key_id": "k1",
            "private_key": key, "client_email": GCP_SA})
        .to_string()
    })
    .await;
    assert!(code == 0 || code == 2, "{stdout}\n{stderr}");
    let jwts = emulator.accepted_jwts();
    assert_eq!(jwts.len(), 1, "the JWT bearer was used: {stdout}");
    let key_line = key.lines().nth(1).expect("key body");
    for secret in [jwts[0].as_str(), key_line] {
        assert!(!stderr.contains(secret), "the log printed a credential");
        assert!(!stdout.contains(secret), "the output printed a credential");
    }
    // The JWT's signature alone would do as well as the whole token.
    let signature = jwts[0].rsplit('.').next().unwrap_or("x");
    assert!(!stderr.contains(signature));

    let subject = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let minted = subject.clone();
    let (code, stdout, stderr, emulator) = check_gcp_at_trace(move |emulator, base, dir| {
        let token = emulator.mint_subject_token(GCP_POOL);
        std::fs::write(dir.join("token"), &token).expect("token file");
        *minted.lock().unwrap_or_else(|p| p.into_inner()) = token;
        json!({"type": "external_account", "audience": GCP_POOL,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": format!("{base}/v1/token"),
            "service_account_impersonation_url":
                format!("{base}/v1/projects/-/serviceAccounts/{GCP_SA}:generateAccessToken"),
            "credential_source": {"file": dir.join("token")}})
        .to_string()
    })
    .await;
    assert!(code == 0 || code == 2, "{stdout}\n{stderr}");
    let mut secrets = emulator.issued_tokens();
    assert_eq!(
        secrets.len(),
        2,
        "a federated and an impersonated token: {stdout}"
    );
    secrets.push(subject.lock().unwrap_or_else(|p| p.into_inner()).clone());
    for secret in &secrets {
        assert!(!stderr.contains(secret.as_str()), "the log printed a token");
        assert!(
            !stdout.contains(secret.as_str()),
            "the output printed a token"
        );
    }
    assert!(
        levels(&stderr).iter().any(|(l, _)| l == "DEBUG"),
        "trace logging was on"
    );
}
