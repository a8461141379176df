//! The one HTTP layer every provider client uses: timeouts, retries with backoff and jitter
//! for idempotent calls, `Retry-After` on 429, a per-account rate limit, a call counter by
//! provider/operation/code, and redaction of credentials in every error it produces.

mod ratelimit;

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

pub use ratelimit::RateLimiter;

use crate::error::{Category, ProviderError};
use crate::metrics::Metrics;
use crate::secret::SecretString;

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
    pub requests_per_minute: u32,
    pub burst: u32,
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
            requests_per_minute: 200,
            burst: 10,
        }
    }
}

/// How the credential is presented.
#[derive(Clone, Debug)]
pub enum Auth {
    Bearer(SecretString),
    /// A bearer token that its owner refreshes in place (OAuth2 access tokens that expire,
    /// e.g. GCP's): every request reads the current value.
    Shared(SharedToken),
    None,
}

/// A bearer token slot shared between a token source and the clients that present it.
pub type SharedToken = Arc<std::sync::RwLock<SecretString>>;

impl Auth {
    fn current(&self) -> Option<SecretString> {
        match self {
            Self::Bearer(token) => Some(token.clone()),
            Self::Shared(slot) => Some(slot.read().unwrap_or_else(|p| p.into_inner()).clone()),
            Self::None => None,
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

    fn idempotent(&self) -> bool {
        matches!(
            self.method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::PATCH
        )
    }
}

/// A successful (2xx) answer, or a 4xx the caller wants to interpret (e.g. 404).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
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

/// A client for one provider account. Cheap to clone; clones share the rate limiter.
#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    settings: Arc<HttpSettings>,
    auth: Auth,
    limiter: Arc<RateLimiter>,
    metrics: Option<Arc<Metrics>>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("provider", &self.settings.provider)
            .field("base_url", &self.settings.base_url)
            .finish()
    }
}

impl HttpClient {
    pub fn new(
        settings: HttpSettings,
        auth: Auth,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, ProviderError> {
        let inner = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("perimeter/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                ProviderError::new(
                    Category::Unreachable,
                    "client",
                    format!("cannot build HTTP client: {e}"),
                )
            })?;
        let limiter = Arc::new(RateLimiter::new(
            settings.requests_per_minute,
            settings.burst,
        ));
        Ok(Self {
            inner,
            settings: Arc::new(settings),
            auth,
            limiter,
            metrics,
        })
    }

    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// Sends a request, retrying where safe. Returns 2xx answers and 404s (which callers
    /// treat as "absent"); every other answer becomes a categorised, redacted error.
    pub async fn send(&self, req: &Request) -> Result<Response, ProviderError> {
        let mut attempt = 0u32;
        loop {
            self.limiter.acquire().await;
            let outcome = self.send_once(req).await;
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

    async fn send_once(&self, req: &Request) -> Result<Response, ProviderError> {
        let url = format!("{}{}", self.settings.base_url, req.path);
        let mut builder = self
            .inner
            .request(req.method.clone(), &url)
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
        let resp = builder
            .send()
            .await
            .map_err(|e| self.transport_error(req, &e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // A timeout can also strike while the body is read (a provider that stalls mid-answer).
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.transport_error(req, &e))?
            .to_vec();
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
        if let Some(token) = self.auth.current()
            && !token.is_empty()
            && let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
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
        match self.auth.current() {
            Some(token) => token.redact(text),
            None => text.to_string(),
        }
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

/// The provider's own error codes and messages, if the body has them (`errors: [{code, message}]`),
/// else the first bytes of the body. Bounded in length.
fn error_summary(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let from_envelope = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    let code = e.get("code").map(|c| c.to_string()).unwrap_or_default();
                    let msg = e.get("message").and_then(Value::as_str).unwrap_or("");
                    format!("{code} {msg}").trim().to_string()
                })
                .collect::<Vec<_>>()
                .join("; ")
        });
    // Google's form: `{"error": {"code": 404, "message": "...", "status": "NOT_FOUND"}}`.
    let from_google = parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .filter(|e| e.is_object())
        .map(|e| {
            let status = e.get("status").and_then(Value::as_str).unwrap_or("");
            let msg = e.get("message").and_then(Value::as_str).unwrap_or("");
            format!("{status} {msg}").trim().to_string()
        });
    let text = match from_envelope.or(from_google) {
        Some(s) if !s.is_empty() => s,
        _ => String::from_utf8_lossy(body)
            .chars()
            .filter(|c| !c.is_control())
            .collect(),
    };
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_summary_prefers_the_envelope() {
        let body = br#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"result":null}"#;
        assert_eq!(error_summary(body), "10000 Authentication error");
        assert_eq!(error_summary(b"<html>oops</html>"), "<html>oops</html>");
        let google = br#"{"error":{"code":412,"message":"Fingerprint mismatch","status":"FAILED_PRECONDITION"}}"#;
        assert_eq!(
            error_summary(google),
            "FAILED_PRECONDITION Fingerprint mismatch"
        );
        assert_eq!(error_summary(&[b'x'; 1000]).len(), 300);
    }
}
