//! Plumbing shared by every provider emulator: serving a router on a port, the request log,
//! the middleware stack every emulator wears ([`instrument`]), timestamps and deterministic ids.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::faults::{self, Faults};

/// Request bodies above this are refused: emulated APIs never need more, and buffering is
/// required to record the body.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// How long [`RunningEmulator::shutdown`] lets in-flight requests finish. A request parked by a
/// `Hang` fault would otherwise hold shutdown hostage.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// An emulator bound to a local port. Dropping it stops the server too.
#[derive(Debug)]
pub struct RunningEmulator {
    /// Address actually bound (useful when binding port 0).
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningEmulator {
    /// `http://IP:PORT`, without a trailing slash and without any API prefix.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, lets in-flight requests finish for a short grace period and
    /// then aborts whatever is left.
    pub async fn shutdown(mut self) {
        if let Some(signal) = self.shutdown.take() {
            let _ = signal.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        // The signal makes open keep-alive connections close; the abort frees the port now.
        if let Some(signal) = self.shutdown.take() {
            let _ = signal.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Binds `bind` (use `"127.0.0.1:0"` for a free port) and serves `router` on a tokio task.
pub async fn serve(router: Router, bind: &str) -> std::io::Result<RunningEmulator> {
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let (signal, stop) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                // A dropped sender means the handle is gone: stop as well.
                let _ = stop.await;
            })
            .await;
        if let Err(err) = served {
            tracing::warn!(%err, "emulator server stopped with an error");
        }
    });
    Ok(RunningEmulator {
        addr,
        shutdown: Some(signal),
        task: Some(task),
    })
}

/// How a provider words the answers that shared middleware produces on its behalf (injected
/// faults, refused bodies, framework rejections), so they look like that provider's own errors.
#[derive(Clone, Copy, Debug)]
pub struct ProviderStyle {
    /// JSON body of an error answer with this HTTP status and human-readable message.
    pub error_body: fn(status: u16, message: &str) -> Value,
    /// JSON body of a `200` answer that parses but has the wrong shape for every endpoint.
    pub wrong_shape_body: fn() -> Value,
}

/// Wraps a provider's API router (already stripped of any URL prefix) in the shared stack, from
/// the outside in: request log, fault injection, conversion of non-JSON error answers into the
/// provider's error envelope.
pub fn instrument(router: Router, log: RequestLog, faults: Faults, style: ProviderStyle) -> Router {
    router
        .layer(middleware::from_fn_with_state(style, envelope_errors))
        .layer(middleware::from_fn_with_state(
            (faults, style),
            faults::middleware,
        ))
        .layer(middleware::from_fn_with_state(
            (log, style),
            record_requests,
        ))
}

/// One request as the emulator saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// Upper-case HTTP method.
    pub method: String,
    /// Path relative to the provider's API prefix (for Cloudflare, without `/client/v4`).
    pub path: String,
    /// Raw query string without the `?`.
    pub query: Option<String>,
    /// Parsed JSON body; a non-JSON body is kept as a JSON string; `None` when empty.
    pub body: Option<Value>,
    /// Final status sent, `0` while no answer has been sent (or if the client went away first,
    /// e.g. it timed out during a `Hang` fault).
    pub status: u16,
}

#[derive(Debug, Default)]
struct LogInner {
    next_seq: u64,
    entries: Vec<(u64, RecordedRequest)>,
}

/// Every request an emulator received, in arrival order. Cheap to clone; clones share entries.
#[derive(Clone, Debug, Default)]
pub struct RequestLog {
    inner: Arc<Mutex<LogInner>>,
}

impl RequestLog {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, LogInner> {
        // A panicking test thread must not make the log unreadable for the others.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn start(&self, entry: RecordedRequest) -> u64 {
        let mut inner = self.lock();
        inner.next_seq += 1;
        let seq = inner.next_seq;
        inner.entries.push((seq, entry));
        seq
    }

    pub(crate) fn finish(&self, seq: u64, status: u16) {
        let mut inner = self.lock();
        // From the newest: a request finishes soon after it starts, so this stays cheap when
        // the log holds hundreds of thousands of entries (scripts/bench-fleet).
        if let Some((_, entry)) = inner.entries.iter_mut().rev().find(|(s, _)| *s == seq) {
            entry.status = status;
        }
    }

    /// Appends a finished entry (for emulators that record outside [`instrument`]).
    pub fn record(&self, entry: RecordedRequest) {
        self.start(entry);
    }

    pub fn entries(&self) -> Vec<RecordedRequest> {
        self.lock().entries.iter().map(|(_, e)| e.clone()).collect()
    }

    pub fn clear(&self) {
        self.lock().entries.clear();
    }

    /// Number of requests received so far (without copying them).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of requests so far that `pred` holds for (without copying them).
    pub fn count_where(&self, pred: impl Fn(&RecordedRequest) -> bool) -> usize {
        self.lock().entries.iter().filter(|(_, e)| pred(e)).count()
    }

    /// Number of requests with this method (case-insensitive) whose path contains `path_contains`.
    pub fn count(&self, method: &str, path_contains: &str) -> usize {
        self.lock()
            .entries
            .iter()
            .filter(|(_, e)| {
                e.method.eq_ignore_ascii_case(method) && e.path.contains(path_contains)
            })
            .count()
    }

    /// Every request that may change something: not GET, HEAD or OPTIONS, nor a read an API
    /// sends as POST ([`READS_BY_POST`]).
    pub fn writes(&self) -> Vec<RecordedRequest> {
        self.lock()
            .entries
            .iter()
            .filter(|(_, e)| e.may_write())
            .map(|(_, e)| e.clone())
            .collect()
    }
}

impl RecordedRequest {
    /// Whether it may change something: not GET, HEAD or OPTIONS, nor a read an API sends as
    /// POST ([`READS_BY_POST`]).
    pub fn may_write(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS")
            && !READS_BY_POST.iter().any(|p| self.path.ends_with(p))
    }
}

/// Reads an API sends as POST (a query too large for a URL): never counted as writes.
const READS_BY_POST: &[&str] = &[
    // Cloud Logging `entries.list`.
    "/v2/entries:list",
    // Supabase's network bans (answers 201 with the list).
    "/network-bans/retrieve",
    // GCP's OAuth token exchange (`/token`, STS `/v1/token`): a token for the reads, nothing
    // of the account changes.
    "/token",
    // GCP's operation polls (`…/operations/{name}/wait`): they wait for a write, not write.
    "/wait",
];

async fn record_requests(
    State((log, style)): State<(RequestLog, ProviderStyle)>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let (parts, body) = req.into_parts();
    let buffered = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
    let bytes = match buffered {
        Ok(bytes) => bytes,
        Err(_) => {
            let status = StatusCode::PAYLOAD_TOO_LARGE;
            log.record(RecordedRequest {
                method,
                path,
                query,
                body: None,
                status: status.as_u16(),
            });
            let message = "Request body too large or unreadable";
            return json_response(status, &(style.error_body)(status.as_u16(), message));
        }
    };
    let seq = log.start(RecordedRequest {
        method,
        path,
        query,
        body: body_value(&bytes),
        status: 0,
    });
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    log.finish(seq, response.status().as_u16());
    response
}

fn body_value(bytes: &Bytes) -> Option<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    Some(
        serde_json::from_slice(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned())),
    )
}

/// Framework rejections (bad path, bad query, wrong method) answer plain text; clients of the
/// real API only ever see the provider's JSON envelope, so rewrite them.
async fn envelope_errors(State(style): State<ProviderStyle>, req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("Error").to_owned()
    } else {
        text
    };
    let mut rebuilt = json_response(status, &(style.error_body)(status.as_u16(), &message));
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rebuilt.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rebuilt
}

/// A JSON answer with an explicit status.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// RFC 3339 UTC timestamp with microseconds, the format Cloudflare uses
/// (`2000-01-01T00:00:00.000000Z`).
pub fn rfc3339(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since_epoch.subsec_micros()
    )
}

/// [`rfc3339`] of the current time.
pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// Deterministic id source: the same sequence of calls yields the same ids in every run, so
/// tests and demo transcripts are reproducible, while ids still look random like real ones.
#[derive(Clone, Debug, Default)]
pub struct IdGen {
    counter: u64,
}

impl IdGen {
    pub fn new() -> Self {
        Self::default()
    }

    /// 32 lowercase hex characters.
    pub fn hex32(&mut self) -> String {
        self.counter += 1;
        // splitmix64's finaliser is a bijection, so distinct counters give distinct ids.
        let high = splitmix64(self.counter);
        let low = splitmix64(high ^ 0x5DEE_CE66_D1CE_4E5B);
        format!("{high:016x}{low:016x}")
    }

    /// The same 128 bits in 8-4-4-4-12 UUID layout, for APIs whose ids are UUIDs.
    pub fn uuid(&mut self) -> String {
        let hex = self.hex32();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A POST that reads (GCP's token exchange and operation polls, Cloud Logging's list,
    /// Supabase's bans) is not a write; a POST that creates something is.
    #[test]
    fn reads_sent_as_post_are_not_writes() {
        let post = |path: &str| RecordedRequest {
            method: "POST".into(),
            path: path.into(),
            query: None,
            body: None,
            status: 200,
        };
        for read in [
            "/token",
            "/v1/token",
            "/compute/v1/projects/p/global/operations/op-1/wait",
            "/compute/v1/projects/p/regions/europe-west1/operations/op-2/wait",
            "/v2/entries:list",
            "/v1/projects/abc/network-bans/retrieve",
        ] {
            assert!(!post(read).may_write(), "{read}");
        }
        for write in [
            "/compute/v1/projects/p/global/firewalls",
            "/v1/projects/abc/network-restrictions/apply",
        ] {
            assert!(post(write).may_write(), "{write}");
        }
        let log = RequestLog::new();
        log.record(post("/token"));
        log.record(post("/compute/v1/projects/p/global/firewalls"));
        assert_eq!(log.writes().len(), 1);
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        let at =
            |secs: u64, micros: u64| UNIX_EPOCH + Duration::from_micros(secs * 1_000_000 + micros);
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(at(951_782_400, 0)), "2000-02-29T00:00:00.000000Z");
        assert_eq!(
            rfc3339(at(1_722_470_400 + 3661, 42)),
            "2024-08-01T01:01:01.000042Z"
        );
        assert_eq!(
            rfc3339(at(4_102_444_799, 999_999)),
            "2099-12-31T23:59:59.999999Z"
        );
    }

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let mut a = IdGen::new();
        let mut b = IdGen::new();
        let first: Vec<String> = (0..100).map(|_| a.hex32()).collect();
        let second: Vec<String> = (0..100).map(|_| b.hex32()).collect();
        assert_eq!(first, second);
        let unique: std::collections::BTreeSet<_> = first.iter().collect();
        assert_eq!(unique.len(), 100);
        assert!(first.iter().all(|id| {
            id.len() == 32
                && id
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        }));
        let uuid = a.uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(uuid.matches('-').count(), 4);
    }
}
