//! The one HTTP layer every provider client uses: timeouts, retries with backoff and jitter
//! for idempotent calls, `Retry-After` on 429, a per-account rate limit, a call counter by
//! provider/operation/code, and redaction of credentials in every error it produces.
//!
//! It also keeps one provider (or whatever answers in its place) from harming the operator:
//! - answers are read streamed into one buffer and cut at [`HttpSettings::max_body_bytes`]
//!   (a `Content-Length` above it is refused before reading); no decompression is enabled,
//!   so the cap is on what is held in memory;
//! - redirects are never followed: a 3xx is a `BadResponse` naming only the target host;
//! - request paths are checked by [`path::join`] before any I/O;
//! - provider text is quoted only from a recognised error envelope, through
//!   [`redact::sanitize`].
//!
//! Identical reads through one client share one answer ([`share`]): always while one is in
//! flight, and for [`HttpSettings::share_window`] after it; any write ends the sharing.

pub mod path;
pub mod ratelimit;
pub mod redact;
pub mod share;

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

pub use path::{answer_segment, answer_segments, segment, spec_segment};
pub use ratelimit::RateLimiter;
pub use redact::sanitize;

use crate::error::{Category, ProviderError};
use crate::metrics::Metrics;
use crate::secret::SecretString;

/// The default cap on one answer's body. The largest pages Perimeter reads are a Cloudflare
/// phase entry point (up to 1000 rules with expressions of up to 4 KiB: about 5 MiB), a page
/// of 500 access rules (about 0.4 MiB), a page of 500 GCP firewall rules (1–2 MiB) and an
/// EC2 `DescribeSecurityGroups` page (a few MiB of XML). 16 MiB is three times the largest
/// of them, and keeps one answer (plus its parsed form) well inside the chart's 256 Mi limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How long a quoted provider message may be.
const MAX_QUOTED: usize = 300;

/// How one provider account is called.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Metric label and log field, e.g. `cloudflare`.
    pub provider: &'static str,
    /// Base URL without a trailing slash, e.g. `https://api.cloudflare.com/client/v4`.
    pub base_url: String,
    pub timeout: Duration,
    /// Retries after the first attempt, for idempotent calls and throttled ones.
    pub max_retries: u32,
    /// First backoff step; doubled at each retry, with full jitter.
    pub backoff: Duration,
    /// A `Retry-After` longer than this is not waited for: the call fails as `Throttled`.
    pub max_retry_after: Duration,
    /// How long a 429 *without* `Retry-After` means to wait. `None` (default): retry with
    /// backoff. Supabase blocks an account for the next minute once its limit is exceeded, so
    /// its client sets 60 s: a quicker retry would only be refused again.
    pub throttled_wait: Option<Duration>,
    pub requests_per_minute: u32,
    pub burst: u32,
    /// Largest answer body read; a larger one is a `BadResponse` (see
    /// [`DEFAULT_MAX_BODY_BYTES`]).
    pub max_body_bytes: usize,
    /// Reads an error the provider reports inside a 2xx answer (Slack answers HTTP 200 with
    /// `{"ok": false, "error": "<code>"}`), so it is categorised, retried, counted and redacted
    /// like any other. `None` (default): every 2xx is a success.
    pub in_band_error: Option<fn(&Value) -> Option<InBandError>>,
    /// A header giving, as Unix epoch milliseconds, when the provider's rate-limit window
    /// resets (Trigger.dev's `x-ratelimit-reset`): a 429 without `Retry-After` waits until
    /// then. `None` (default): only `Retry-After` is read.
    pub reset_epoch_ms_header: Option<&'static str>,
    /// How long a successful read's answer is handed to identical reads of this client (see
    /// [`share`]). 0 (default): only reads in flight at the same time share an answer, so a
    /// read always sees what was there when it began. The operator sets its
    /// `--share-reads-for`; never a field of the account.
    pub share_window: Duration,
    /// The keep-alive connections the client sends through. `None` (default): a pool of its
    /// own. The operator gives every account the same [`Connections`].
    pub connections: Option<Connections>,
}

/// An error found inside a 2xx answer by [`HttpSettings::in_band_error`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InBandError {
    /// `None`: a refusal of this call, categorised as a 4xx answer would be (`BadResponse` for
    /// a GET, `WriteRejected` otherwise).
    pub category: Option<Category>,
    /// What to say; the layer adds the status and redacts the credential. Quote provider text
    /// only through [`sanitize`].
    pub message: String,
}

impl HttpSettings {
    pub fn new(provider: &'static str, base_url: impl Into<String>) -> Self {
        Self {
            provider,
            base_url: base_url.into().trim_end_matches('/').to_string(),
            timeout: Duration::from_secs(30),
            max_retries: 3,
            backoff: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(60),
            throttled_wait: None,
            requests_per_minute: 200,
            burst: 10,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            in_band_error: None,
            reset_epoch_ms_header: None,
            share_window: Duration::ZERO,
            connections: None,
        }
    }
}

/// Keep-alive connections to providers, pooled per scheme, host and port, that any number of
/// accounts' clients send through (cheap to clone; clones share the pool).
///
/// Given to every account, a 10,000-policy fleet's 694 accounts kept about 1,000 connections
/// (a client per account, each with its own pool), with their buffers about 38 MiB. Every
/// account of a provider calls the same API host, so one pool serves them with as many
/// connections as requests are in flight at once.
///
/// What one account could learn from or do to another through a shared connection: nothing a
/// request of its own carries. Every request has its own credential header; no cookies are
/// kept; redirects are not followed; TLS has no client certificate (see [`tls_config`]). A
/// connection goes only to the host its request names, so an account whose (allowed)
/// endpoint is slow holds only connections to that host. Timeouts are per request (the
/// account's `requestTimeoutSeconds`), and so are rate limits and shared reads.
#[derive(Clone)]
pub struct Connections(reqwest::Client);

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connections")
    }
}

impl Connections {
    pub fn new() -> Result<Self, ProviderError> {
        let tls = tls_config().map_err(|e| {
            ProviderError::new(
                Category::Unreachable,
                "client",
                format!("cannot build the TLS configuration: {e}"),
            )
        })?;
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            // The request's own timeout (`HttpSettings::timeout`) bounds a connect too.
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("perimeter/", env!("CARGO_PKG_VERSION")))
            // A redirect would send the credential's request to a host nobody configured.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map(Self)
            .map_err(|e| {
                ProviderError::new(
                    Category::Unreachable,
                    "client",
                    format!("cannot build HTTP client: {e}"),
                )
            })
    }
}

/// How the credential is presented.
#[derive(Clone, Debug)]
pub enum Auth {
    Bearer(SecretString),
    /// A bearer token that its owner refreshes in place (OAuth2 access tokens that expire,
    /// e.g. GCP's): every request reads the current value.
    Shared(SharedToken),
    /// A token under another scheme word than `Bearer` (Qdrant Cloud: `apikey <key>`).
    Scheme(&'static str, SecretString),
    /// HTTP Basic (RFC 7617), e.g. Upstash's account e-mail and Developer API key.
    Basic {
        username: String,
        password: SecretString,
    },
    None,
}

/// A bearer token slot shared between a token source and the clients that present it.
pub type SharedToken = Arc<std::sync::RwLock<SecretString>>;

impl Auth {
    /// The `Authorization` header's scheme and credentials.
    fn current(&self) -> Option<(&'static str, SecretString)> {
        match self {
            Self::Bearer(token) => Some(("Bearer", token.clone())),
            Self::Scheme(word, token) => Some((word, token.clone())),
            Self::Shared(slot) => Some((
                "Bearer",
                slot.read().unwrap_or_else(|p| p.into_inner()).clone(),
            )),
            Self::Basic { password, .. } if password.is_empty() => None,
            Self::Basic { username, password } => {
                use base64::Engine;
                let pair = format!("{username}:{}", password.expose());
                Some((
                    "Basic",
                    SecretString::new(base64::engine::general_purpose::STANDARD.encode(pair)),
                ))
            }
            Self::None => None,
        }
    }

    /// Masks the credential in `text`, in every form it is sent in.
    fn redact(&self, text: &str) -> String {
        let text = match self {
            Self::Basic { password, .. } => password.redact(text),
            _ => text.to_string(),
        };
        match self.current() {
            Some((_, token)) => token.redact(&text),
            None => text,
        }
    }
}

/// One request, described without headers: the layer adds authentication itself.
#[derive(Clone)]
pub struct Request {
    pub method: Method,
    /// Path below the base URL, starting with `/`.
    pub path: String,
    /// Bounded name of the API operation, used as the `operation` metric label.
    pub operation: &'static str,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    /// A form-encoded body instead of JSON (OAuth2 token endpoints).
    pub form: Option<Vec<(String, String)>>,
    /// Extra headers (e.g. GCP's `Metadata-Flavor: Google`, or those an external-account
    /// credential source names); never logged.
    pub headers: Vec<(String, String)>,
    /// A POST that only reads (a query sent in the body), shared like a GET: see
    /// [`Request::reads`].
    pub read_by_post: bool,
}

/// Header values and bodies are left out: they can carry credentials (OAuth2 forms, headers of
/// an external-account credential source).
impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("operation", &self.operation)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Request {
    pub fn new(method: Method, operation: &'static str, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            operation,
            query: Vec::new(),
            body: None,
            form: None,
            headers: Vec::new(),
            read_by_post: false,
        }
    }

    pub fn get(operation: &'static str, path: impl Into<String>) -> Self {
        Self::new(Method::GET, operation, path)
    }

    pub fn query(mut self, key: &str, value: impl ToString) -> Self {
        self.query.push((key.to_string(), value.to_string()));
        self
    }

    pub fn form(mut self, pairs: Vec<(String, String)>) -> Self {
        self.form = Some(pairs);
        self
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Marks a POST the provider documents as a read (e.g. Supabase's
    /// `POST …/network-bans/retrieve`): identical ones share an answer, and it does not end
    /// the sharing of other reads as a write does.
    pub fn reads(mut self) -> Self {
        self.read_by_post = true;
        self
    }

    /// Whether it only reads: shared with identical reads, and no end to their sharing.
    fn is_read(&self) -> bool {
        matches!(self.method, Method::GET | Method::HEAD) || self.read_by_post
    }

    /// What an identical read must match: everything sent but the credential, which is the
    /// client's own. `None` (never in practice): not shared.
    fn share_key(&self, url: &reqwest::Url) -> Option<Vec<u8>> {
        serde_json::to_vec(&(
            self.method.as_str(),
            url.as_str(),
            &self.query,
            &self.body,
            &self.form,
            &self.headers,
        ))
        .ok()
    }

    fn idempotent(&self) -> bool {
        matches!(
            self.method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::PATCH
        )
    }
}

/// A successful (2xx) answer, or a 4xx the caller wants to interpret (e.g. 404).
#[derive(Clone)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The body is left out: token endpoints answer with credentials.
impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl Response {
    /// Parses the body as JSON; a body that is not JSON is a `BadResponse`.
    pub fn json(&self, operation: &'static str) -> Result<Value, ProviderError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ProviderError::new(
                Category::BadResponse,
                operation,
                format!("HTTP {}: body is not JSON ({e})", self.status),
            )
        })
    }
}

/// What identical reads of one client share: the answer, or the error of a read in flight.
type SharedAnswer = Result<Arc<Response>, ProviderError>;

impl share::Answer for SharedAnswer {
    /// Only successes are kept (a 404 is an answer too, but kept only while in flight).
    fn keep(&self) -> Option<usize> {
        match self {
            Ok(r) if (200..300).contains(&r.status) => Some(r.body.len()),
            _ => None,
        }
    }
}

/// A client for one provider account. Cheap to clone; clones share the rate limiter and the
/// reads ([`share`]).
#[derive(Clone)]
pub struct HttpClient {
    inner: Connections,
    settings: Arc<HttpSettings>,
    auth: Auth,
    limiter: Arc<RateLimiter>,
    metrics: Option<Arc<Metrics>>,
    share: Arc<share::Share<SharedAnswer>>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("provider", &self.settings.provider)
            .field("base_url", &self.settings.base_url)
            .finish()
    }
}

/// The TLS configuration every provider client uses, built once: what reqwest builds for
/// each client by default (TLS 1.2 and 1.3 on ring, the Mozilla roots of `webpki-roots`,
/// HTTP/1.1 by ALPN, no client certificate). Built per client, its root store and TLS session
/// cache cost about 25 KiB per account: 17 MiB of a 10,000-policy fleet's 694 accounts. A
/// clone shares them (a resumed session is the server's, not the account's: every request
/// still carries its own credential).
fn tls_config() -> Result<rustls::ClientConfig, String> {
    static CONFIG: std::sync::LazyLock<Result<rustls::ClientConfig, String>> =
        std::sync::LazyLock::new(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(config)
        });
    CONFIG.clone()
}

impl HttpClient {
    pub fn new(
        settings: HttpSettings,
        auth: Auth,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, ProviderError> {
        let inner = match &settings.connections {
            Some(connections) => connections.clone(),
            None => Connections::new()?,
        };
        let limiter = Arc::new(RateLimiter::new(
            settings.requests_per_minute,
            settings.burst,
        ));
        let share = Arc::new(share::Share::new(
            settings.share_window,
            share::DEFAULT_MAX_KEPT_BYTES,
        ));
        Ok(Self {
            inner,
            settings: Arc::new(settings),
            auth,
            limiter,
            metrics,
            share,
        })
    }

    /// The account's token bucket (see [`ratelimit::Reservation`]).
    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.limiter
    }

    /// Keeps successful reads' answers for `window` from now on (see
    /// [`HttpSettings::share_window`]); answers kept so far are dropped, and clones made
    /// before keep their own sharing.
    pub fn share_reads_for(&mut self, window: Duration) {
        let mut settings = (*self.settings).clone();
        settings.share_window = window;
        self.share = Arc::new(share::Share::new(window, share::DEFAULT_MAX_KEPT_BYTES));
        self.settings = Arc::new(settings);
    }

    /// Sends through `connections` from now on (see [`Connections`]).
    pub fn connect_through(&mut self, connections: &Connections) {
        let mut settings = (*self.settings).clone();
        settings.connections = Some(connections.clone());
        self.inner = connections.clone();
        self.settings = Arc::new(settings);
    }

    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// Sends a request, retrying where safe. Returns 2xx answers and 404s (which callers
    /// treat as "absent"); every other answer becomes a categorised, redacted error.
    ///
    /// A read identical to one in flight (or, within [`HttpSettings::share_window`], to one
    /// answered) gets that one's answer and sends nothing: counted in
    /// `perimeter_provider_requests_shared_total`, not as a request. Any other request ends
    /// the sharing of the reads before it.
    pub async fn send(&self, req: &Request) -> Result<Response, ProviderError> {
        // Checked once, before any I/O: a refused path is not a provider failure, so it is
        // neither counted nor retried.
        let url = path::join(&self.settings.base_url, &req.path).map_err(|refused| {
            ProviderError::new(
                Category::InvalidSpec,
                req.operation,
                format!(
                    "request path {:?} refused: {}",
                    sanitize(&req.path, 120),
                    refused.0
                ),
            )
        })?;
        if !req.is_read() {
            let _writing = self.share.write();
            return self.send_fresh(req, &url).await;
        }
        let Some(key) = req.share_key(&url) else {
            return self.send_fresh(req, &url).await;
        };
        let (answer, had) = self
            .share
            .read(key, || async {
                self.send_fresh(req, &url).await.map(Arc::new)
            })
            .await;
        if had.shared()
            && let Some(m) = &self.metrics
        {
            m.provider_requests_shared_total
                .with_label_values(&[self.settings.provider, req.operation])
                .inc();
        }
        answer.map(|r| Arc::try_unwrap(r).unwrap_or_else(|shared| (*shared).clone()))
    }

    /// [`HttpClient::send`] without sharing: through the limiter, with retries.
    async fn send_fresh(
        &self,
        req: &Request,
        url: &reqwest::Url,
    ) -> Result<Response, ProviderError> {
        let mut attempt = 0u32;
        loop {
            self.limiter.acquire().await;
            let mut outcome = self.send_once(req, url).await;
            if let Err(e) = &mut outcome
                && e.category == Category::Throttled
            {
                e.retry_after = e.retry_after.or(self.settings.throttled_wait);
                // The provider said how long the account is refused: every call of it waits
                // that long (not only this one), so concurrent syncs do not spend retries.
                if let Some(wait) = e
                    .retry_after
                    .filter(|w| *w <= self.settings.max_retry_after)
                {
                    self.limiter.pause(wait).await;
                }
            }
            let retry = match &outcome {
                Ok(_) => None,
                Err(e) => self.retry_delay(req, e, attempt),
            };
            match (outcome, retry) {
                (Ok(resp), _) => return Ok(resp),
                (Err(e), None) => return Err(e),
                (Err(e), Some(delay)) => {
                    tracing::debug!(provider = self.settings.provider, operation = req.operation, attempt, ?delay, error = %e, "retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    /// Sends a request and parses the JSON answer.
    pub async fn send_json(&self, req: &Request) -> Result<(u16, Value), ProviderError> {
        let resp = self.send(req).await?;
        let value = resp.json(req.operation)?;
        Ok((resp.status, value))
    }

    fn retry_delay(&self, req: &Request, err: &ProviderError, attempt: u32) -> Option<Duration> {
        if attempt >= self.settings.max_retries {
            return None;
        }
        match err.category {
            // A 429 means the request was not processed, so even a POST may be sent again.
            Category::Throttled => match err.retry_after {
                Some(wait) if wait > self.settings.max_retry_after => None,
                Some(wait) => Some(wait),
                None => Some(self.backoff(attempt)),
            },
            Category::Timeout | Category::ProviderError | Category::Unreachable
                if req.idempotent() =>
            {
                Some(self.backoff(attempt))
            }
            _ => None,
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .settings
            .backoff
            .saturating_mul(2u32.saturating_pow(attempt));
        let millis = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX).max(1);
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
    }

    async fn send_once(
        &self,
        req: &Request,
        url: &reqwest::Url,
    ) -> Result<Response, ProviderError> {
        let mut builder = self
            .inner
            .0
            .request(req.method.clone(), url.clone())
            .timeout(self.settings.timeout)
            .headers(self.headers());
        if !req.query.is_empty() {
            builder = builder.query(&req.query);
        }
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value);
        }
        if let Some(body) = &req.body {
            builder = builder.json(body);
        } else if let Some(form) = &req.form {
            builder = builder.form(form);
        }
        let mut resp = builder
            .send()
            .await
            .map_err(|e| self.transport_error(req, &e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
            .or_else(|| {
                let reset = resp
                    .headers()
                    .get(self.settings.reset_epoch_ms_header?)?
                    .to_str()
                    .ok()?
                    .trim()
                    .parse::<i64>()
                    .ok()?;
                let now = jiff::Timestamp::now().as_millisecond();
                // A reset already past means "now"; one in the future is waited for (and
                // refused like any Retry-After beyond `max_retry_after`).
                Some(Duration::from_millis(
                    u64::try_from(reset.saturating_sub(now)).unwrap_or(0),
                ))
            });
        if (300..400).contains(&status) {
            // Not followed: the body is not read and the target is named by its host only
            // (a Location can carry a signed query). For writes too: these APIs never
            // redirect, so a 3xx means something else answered, and the next read shows
            // whether the write happened.
            self.count(req.operation, &status.to_string());
            let target = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| url.join(v).ok())
                .and_then(|u| u.host_str().map(str::to_string))
                .map_or_else(|| "an unknown location".to_string(), |h| sanitize(&h, 100));
            return Err(ProviderError::new(
                Category::BadResponse,
                req.operation,
                format!("HTTP {status}: redirect to {target} not followed (check the endpoint)"),
            ));
        }
        let cap = self.settings.max_body_bytes;
        if let Some(length) = resp.content_length()
            && length > cap as u64
        {
            self.count(req.operation, &status.to_string());
            return Err(too_large(req.operation, status, cap, Some(length)));
        }
        // A timeout can also strike while the body is read (a provider that stalls mid-answer).
        // Read chunk by chunk into one buffer: no second copy, and a stop at the cap (dropping
        // the response closes the connection, so the rest is never received).
        let expected = resp.content_length().and_then(|l| usize::try_from(l).ok());
        let mut body = Vec::with_capacity(expected.unwrap_or(0).min(cap));
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.transport_error(req, &e))?
        {
            if body.len() + chunk.len() > cap {
                self.count(req.operation, &status.to_string());
                return Err(too_large(req.operation, status, cap, None));
            }
            body.extend_from_slice(&chunk);
        }
        if (200..300).contains(&status)
            && let Some(found) = self.in_band(&body)
        {
            // Counted as a failed call, not as the 2xx it came in.
            self.count(req.operation, "error");
            let category = found.category.unwrap_or(if req.method == Method::GET {
                Category::BadResponse
            } else {
                Category::WriteRejected
            });
            let mut err = ProviderError::new(
                category,
                req.operation,
                self.redact(&format!("HTTP {status}: {}", found.message)),
            );
            err.retry_after = retry_after;
            err.status = Some(status);
            return Err(err);
        }
        self.count(req.operation, &status.to_string());
        if (200..300).contains(&status) || status == 404 {
            return Ok(Response { status, body });
        }
        let category = match status {
            401 | 403 => Category::CredentialsRejected,
            429 => Category::Throttled,
            500..=599 => Category::ProviderError,
            _ if req.method == Method::GET => Category::BadResponse,
            _ => Category::WriteRejected,
        };
        let mut err = ProviderError::new(
            category,
            req.operation,
            self.redact(&format!("HTTP {status}: {}", error_summary(&body))),
        );
        err.retry_after = retry_after;
        err.status = Some(status);
        Err(err)
    }

    /// A request that got no complete answer: counted as `timeout` or `error`, redacted.
    fn transport_error(&self, req: &Request, e: &reqwest::Error) -> ProviderError {
        let (category, code) = if e.is_timeout() {
            (Category::Timeout, "timeout")
        } else {
            (Category::Unreachable, "error")
        };
        self.count(req.operation, code);
        ProviderError::new(
            category,
            req.operation,
            self.redact(&describe_transport_error(e)),
        )
    }

    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some((scheme, token)) = self.auth.current()
            && !token.is_empty()
            && let Ok(mut v) = HeaderValue::from_str(&format!("{scheme} {}", token.expose()))
        {
            v.set_sensitive(true);
            headers.insert(HeaderName::from_static("authorization"), v);
        }
        headers
    }

    fn count(&self, operation: &'static str, code: &str) {
        if let Some(m) = &self.metrics {
            m.provider_requests_total
                .with_label_values(&[self.settings.provider, operation, code])
                .inc();
        }
    }

    fn redact(&self, text: &str) -> String {
        self.auth.redact(text)
    }

    /// The provider's in-band error in a 2xx body, if it has a reader for them. A body that is
    /// not JSON is left to the caller (whose parse fails as `BadResponse`).
    fn in_band(&self, body: &[u8]) -> Option<InBandError> {
        let read = self.settings.in_band_error?;
        let value: Value = serde_json::from_slice(body).ok()?;
        read(&value)
    }
}

/// reqwest errors print the URL; ours carry ids but no credentials, and the query is dropped
/// anyway in case a provider ever takes a key there.
fn describe_transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "request timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "reading the answer failed"
    } else {
        "request failed"
    };
    match e.url() {
        Some(url) => format!("{kind} ({}{})", url.host_str().unwrap_or(""), url.path()),
        None => kind.to_string(),
    }
}

fn too_large(
    operation: &'static str,
    status: u16,
    cap: usize,
    length: Option<u64>,
) -> ProviderError {
    let size = match length {
        Some(l) => format!("{l}-byte answer"),
        None => "answer".to_string(),
    };
    ProviderError::new(
        Category::BadResponse,
        operation,
        format!(
            "HTTP {status}: {size} exceeds the {} cap on one answer; not read further",
            human_bytes(cap)
        ),
    )
}

fn human_bytes(n: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else {
        format!("{n}-byte")
    }
}

/// What an error answer says, for status and logs. Only recognised error envelopes are quoted,
/// and every quoted text goes through [`sanitize`]:
/// - Cloudflare's `{"errors": [{"code", "message"}]}`;
/// - Google's `{"error": {"code", "message", "status"}}`;
/// - OAuth2's `{"error": "invalid_grant", "error_description": "…"}` (token endpoints);
/// - Vercel's `{"error": {"code": "forbidden", "message": "…"}}` (Google's form, with a
///   string `code` where Google has `status`);
/// - Better Stack's `{"errors": "…"}` and `{"errors": {"field": ["…"]}}` (422), and an
///   `errors` list of bare strings;
/// - a bare `{"message": "…"}` (Supabase's Management API), only when nothing but `message`
///   and a `code`/`error`/`statusCode` sits beside it.
///
/// Anything else is described, never quoted: an HTML error page or a proxy's answer can
/// echo the request, headers included.
fn error_summary(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let quoted = parsed.as_ref().and_then(envelope_text);
    match quoted {
        Some(text) if !text.trim().is_empty() => sanitize(text.trim(), MAX_QUOTED),
        _ => match &parsed {
            Some(_) => format!("{}-byte JSON body without a recognised error", body.len()),
            None if body.is_empty() => "empty body".to_string(),
            None => format!("{}-byte non-JSON body", body.len()),
        },
    }
}

fn envelope_text(v: &Value) -> Option<String> {
    let text = |e: &Value, key: &str| e.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    if let Some(errors) = v.get("errors").and_then(Value::as_array) {
        let joined = errors
            .iter()
            .take(5)
            .map(|e| {
                if let Some(message) = e.as_str() {
                    return message.to_string();
                }
                let code = match e.get("code") {
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::String(s)) => s.clone(),
                    _ => String::new(),
                };
                format!("{code} {}", text(e, "message")).trim().to_string()
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Some(joined);
    }
    // Better Stack's: `{"errors": "message"}`, or field errors `{"errors": {"url": ["…"]}}`.
    match v.get("errors") {
        Some(Value::String(message)) => return Some(message.clone()),
        Some(Value::Object(fields)) => {
            let joined = fields
                .iter()
                .take(5)
                .map(|(field, messages)| {
                    let said: Vec<&str> = match messages {
                        Value::Array(a) => a.iter().filter_map(Value::as_str).take(3).collect(),
                        Value::String(s) => vec![s.as_str()],
                        _ => Vec::new(),
                    };
                    format!("{field} {}", said.join(", ")).trim().to_string()
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Some(joined);
        }
        _ => {}
    }
    match v.get("error") {
        // Google's form: `{"error": {"code": 404, "message": "...", "status": "NOT_FOUND"}}`.
        Some(e) if e.is_object() => {
            let status = match (e.get("status"), e.get("code")) {
                (Some(Value::String(s)), _) | (None, Some(Value::String(s))) => s.as_str(),
                _ => "",
            };
            Some(format!("{status} {}", text(e, "message")))
        }
        Some(Value::String(code)) => Some(format!("{code} {}", text(v, "error_description"))),
        _ => {
            let obj = v.as_object()?;
            let message = obj.get("message")?.as_str()?;
            let beside =
                |k: &String| matches!(k.as_str(), "message" | "code" | "error" | "statusCode");
            obj.keys().all(beside).then(|| message.to_string())
        }
    }
}

#[cfg(test)]
mod share_tests;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every client speaks TLS with the one shared configuration: a ClientHello naming the
    /// host (SNI) and offering HTTP/1.1 by ALPN; nothing is sent in the clear, and a server
    /// that does not answer TLS is an error, never a plain-text retry.
    #[tokio::test]
    async fn clients_speak_tls_with_the_shared_configuration() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let first_bytes = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut hello = vec![0u8; 4096];
            let n = socket.read(&mut hello).await.expect("read");
            hello.truncate(n);
            hello
        });
        let mut settings = HttpSettings::new("test", format!("https://localhost:{port}"));
        settings.max_retries = 0;
        settings.timeout = Duration::from_secs(2);
        let client = HttpClient::new(settings, Auth::Bearer(SecretString::new("t0ken")), None)
            .expect("client");
        let answer = client.send(&Request::get("probe", "/x")).await;
        assert!(answer.is_err(), "no TLS server: an error");
        let hello = first_bytes.await.expect("server");
        assert_eq!(hello.first(), Some(&0x16), "a TLS handshake record");
        let contains = |needle: &[u8]| hello.windows(needle.len()).any(|w| w == needle);
        assert!(contains(b"localhost"), "SNI names the host");
        assert!(contains(b"http/1.1"), "ALPN offers HTTP/1.1");
        assert!(!contains(b"t0ken"), "the credential is not sent before TLS");
    }

    /// A keep-alive HTTP/1.1 server answering `{}` to every request but `/slow` (never
    /// answered). Gives each request's connection number and `Authorization` header.
    async fn keep_alive_server() -> (u16, tokio::sync::mpsc::UnboundedReceiver<(usize, String)>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (seen, requests) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            for connection in 0.. {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let mut chunk = [0u8; 4096];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_string();
                            buf.drain(..end + 4);
                            let auth = head
                                .lines()
                                .find_map(|l| l.strip_prefix("authorization: "))
                                .unwrap_or_default()
                                .to_string();
                            let _ = seen.send((connection, auth));
                            if head.starts_with("GET /slow ") {
                                continue;
                            }
                            let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                            if socket.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (port, requests)
    }

    /// Accounts given the same [`Connections`] send over one keep-alive connection to a host,
    /// each request with its own account's credential; each account's own timeout still
    /// applies. Without them, each account connects on its own.
    #[tokio::test]
    async fn accounts_share_connections_and_keep_their_own_credentials() {
        let (port, mut seen) = keep_alive_server().await;
        let connections = Connections::new().expect("connections");
        let account = |token: &str, timeout_ms: u64, shared: bool| {
            let mut settings = HttpSettings::new("test", format!("http://127.0.0.1:{port}"));
            settings.max_retries = 0;
            settings.timeout = Duration::from_millis(timeout_ms);
            let mut client =
                HttpClient::new(settings, Auth::Bearer(SecretString::new(token)), None)
                    .expect("client");
            if shared {
                client.connect_through(&connections);
            }
            client
        };
        let (a, b) = (
            account("token-a", 10_000, true),
            account("token-b", 300, true),
        );
        for (client, path) in [(&a, "/1"), (&b, "/2"), (&a, "/3")] {
            client
                .send(&Request::get("probe", path))
                .await
                .expect("an answer");
        }
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(seen.recv().await.expect("a request"));
        }
        assert_eq!(
            got,
            [
                (0, "Bearer token-a"),
                (0, "Bearer token-b"),
                (0, "Bearer token-a")
            ]
            .map(|(c, a)| (c, a.to_string())),
            "one connection, each request with its account's credential"
        );
        let slow = tokio::time::timeout(
            Duration::from_secs(10),
            b.send(&Request::get("probe", "/slow")),
        )
        .await
        .expect("b's own 300 ms timeout ends the request");
        assert_eq!(
            slow.err().map(|e| e.category),
            Some(Category::Timeout),
            "b's own timeout"
        );
        assert_eq!(
            seen.recv().await.map(|(_, auth)| auth).as_deref(),
            Some("Bearer token-b")
        );
        let (c, d) = (
            account("token-c", 10_000, false),
            account("token-d", 10_000, false),
        );
        for client in [&c, &d] {
            client
                .send(&Request::get("probe", "/4"))
                .await
                .expect("an answer");
        }
        let (Some((on_c, _)), Some((on_d, _))) = (seen.recv().await, seen.recv().await) else {
            panic!("two requests");
        };
        assert_ne!(
            on_c, on_d,
            "clients without shared connections each have their own"
        );
    }

    /// Basic credentials are sent as RFC 7617 says and masked in both forms they travel in.
    #[test]
    fn basic_auth_is_encoded_and_redacted() {
        use base64::Engine;
        let auth = Auth::Basic {
            username: "ops@example.com".into(),
            password: SecretString::new("upstash-key-123"),
        };
        let encoded =
            base64::engine::general_purpose::STANDARD.encode("ops@example.com:upstash-key-123");
        let (scheme, value) = auth.current().expect("a credential");
        assert_eq!((scheme, value.expose()), ("Basic", encoded.as_str()));
        let text = format!("echo upstash-key-123 and Basic {encoded}");
        let redacted = auth.redact(&text);
        assert!(!redacted.contains("upstash-key-123"), "{redacted}");
        assert!(!redacted.contains(&encoded), "{redacted}");
        let empty = Auth::Basic {
            username: "ops@example.com".into(),
            password: SecretString::new(""),
        };
        assert!(empty.current().is_none(), "no header without a key");
    }

    #[test]
    fn error_summary_quotes_only_envelopes_and_sanitises_them() {
        let cases: [(&[u8], &str); 14] = [
            (
                br#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"result":null}"#,
                "10000 Authentication error",
            ),
            (
                br#"{"error":{"code":412,"message":"Fingerprint mismatch","status":"FAILED_PRECONDITION"}}"#,
                "FAILED_PRECONDITION Fingerprint mismatch",
            ),
            (
                br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
                "invalid_grant Invalid JWT Signature.",
            ),
            // Quoted, but sanitised.
            (
                br#"{"errors":[{"code":1,"message":"echo: header_Authorization=Bearer abcdef123456"}]}"#,
                "1 echo: header_Authorization=***",
            ),
            (
                br#"{"error":{"status":"INVALID","message":"token=ya29.A0AfH6SMBx and AKIAIOSFODNN7EXAMPLE/wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}}"#,
                "INVALID token=*** and ***",
            ),
            // Not an envelope: described, never quoted.
            (b"<html>oops token=abc</html>", "27-byte non-JSON body"),
            // Supabase's bare message and Vercel's string code: quoted, sanitised.
            (br#"{"message":"Bearer abcdef123456"}"#, "Bearer ***"),
            (
                br#"{"error":{"code":"forbidden","message":"Not authorized"}}"#,
                "forbidden Not authorized",
            ),
            // A message among other data is not an error envelope: described, never quoted.
            (
                br#"{"message":"hi","echo":{"authorization":"x"}}"#,
                "45-byte JSON body without a recognised error",
            ),
            // Better Stack's forms.
            (
                br#"{"errors":"Invalid Team API token. token=abcdef123456"}"#,
                "Invalid Team API token. token=***",
            ),
            (
                br#"{"errors":{"url":["can't be blank"],"regions":["is not included in the list"]}}"#,
                "regions is not included in the list; url can't be blank",
            ),
            (br#"{"errors":["Url is invalid"]}"#, "Url is invalid"),
            (b"", "empty body"),
            (br#"{"errors":[]}"#, "13-byte JSON body without a recognised error"),
        ];
        for (body, want) in cases {
            assert_eq!(
                error_summary(body),
                want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let long = format!(
            r#"{{"errors":[{{"code":1,"message":"{}"}}]}}"#,
            "x ".repeat(1000)
        );
        assert!(error_summary(long.as_bytes()).chars().count() <= MAX_QUOTED + 1);
    }
}
