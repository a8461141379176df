//! Fault injection shared by every emulator, so tests can prove the operator survives throttling,
//! outages, timeouts and garbage answers.
//!
//! ```
//! use perimeter_emulators::faults::{Fault, FaultRule, Faults};
//!
//! let faults = Faults::default();
//! // The next two PUTs to any entrypoint are throttled, then requests go through again.
//! faults.inject(
//!     FaultRule::new("/rulesets/phases/", Fault::RateLimited { retry_after_secs: 1 })
//!         .method("PUT")
//!         .times(2),
//! );
//! ```
//!
//! Rules are matched against the same path the request log records (relative to the provider's
//! API prefix), in insertion order; the first matching rule answers. Faults take effect before
//! authentication, so they also hit unauthenticated requests.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::server::{ProviderStyle, json_response};

/// What an injected fault does to a matching request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `429` with a `retry-after` header and the provider's throttling error.
    RateLimited { retry_after_secs: u64 },
    /// `429` with the provider's error envelope and no `Retry-After` (Supabase's answer once
    /// an account's minute is spent).
    RateLimitedSilently,
    /// The provider's error envelope with this status (meant for 5xx; anything outside
    /// 100..=599 becomes 500).
    ServerError { status: u16 },
    /// Sleep, then answer normally. Longer than the client's timeout simulates a timeout.
    Hang { millis: u64 },
    /// Do the request, then sleep before answering: the change is made but its answer is late
    /// or lost (the client timed out or died meanwhile), so the client cannot know it landed.
    HangAfter { millis: u64 },
    /// `200`, `content-type: application/json`, body that is not JSON.
    Malformed,
    /// `200` with a valid envelope whose payload has the wrong type.
    WrongShape,
    /// The provider's error envelope with this status whose message quotes the request back:
    /// method, path and query, every header (`Authorization` included) and the body, as some
    /// APIs and debugging proxies do. Credentials the client sent come back in the answer,
    /// which is where a redaction layer must still hold.
    EchoRequest { status: u16 },
}

/// When a [`Fault`] fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    /// HTTP method to match (case-insensitive); `None` matches every method.
    pub method: Option<String>,
    /// Substring of the request path; empty matches every path.
    pub path_contains: String,
    pub fault: Fault,
    /// How many more requests this rule answers; `None` means forever.
    pub times: Option<u32>,
    /// How many more matching requests pass through untouched before the rule starts to
    /// answer (see [`FaultRule::after`]).
    pub skip: u32,
}

impl FaultRule {
    /// A rule for any method that fires forever until [`FaultRule::times`] limits it.
    pub fn new(path_contains: impl Into<String>, fault: Fault) -> Self {
        Self {
            method: None,
            path_contains: path_contains.into(),
            fault,
            times: None,
            skip: 0,
        }
    }

    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    /// Lets the first `n` matching requests through untouched, then answers: a write refused
    /// part-way through a plan (the second of two PATCHes to the same collection).
    ///
    /// ```
    /// use perimeter_emulators::faults::{Fault, FaultRule, Faults};
    ///
    /// let faults = Faults::new();
    /// faults.inject(
    ///     FaultRule::new("/monitors/", Fault::ServerError { status: 503 })
    ///         .method("PATCH")
    ///         .after(1)
    ///         .times(1),
    /// );
    /// // The first PATCH goes through; a GET does not match, so it does not count.
    /// assert_eq!(faults.take("PATCH", "/api/v2/monitors/1"), None);
    /// assert_eq!(faults.take("GET", "/api/v2/monitors/2"), None);
    /// assert_eq!(
    ///     faults.take("PATCH", "/api/v2/monitors/2"),
    ///     Some(Fault::ServerError { status: 503 })
    /// );
    /// assert_eq!(faults.take("PATCH", "/api/v2/monitors/3"), None);
    /// ```
    pub fn after(mut self, n: u32) -> Self {
        self.skip = n;
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.times != Some(0)
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path.contains(&self.path_contains)
    }
}

/// The active fault rules of one emulator. Clones share the rules, so a test can keep a handle
/// while the server runs.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    rules: Arc<Mutex<Vec<FaultRule>>>,
    held: Arc<Mutex<Held>>,
}

/// Requests a [`Fault::Hang`] is holding: now, and the most at once since the emulator
/// started (how many calls a client had in flight, e.g. to check its concurrency bound).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    pub now: usize,
    pub peak: usize,
}

/// One request held by a [`Fault::Hang`]; counted out when dropped, also when the client
/// gives up and the request's future is dropped mid-sleep.
struct Holding(Arc<Mutex<Held>>);

impl Holding {
    fn start(held: &Arc<Mutex<Held>>) -> Self {
        let mut h = held.lock().unwrap_or_else(|p| p.into_inner());
        h.now += 1;
        h.peak = h.peak.max(h.now);
        Self(held.clone())
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        let mut h = self.0.lock().unwrap_or_else(|p| p.into_inner());
        h.now = h.now.saturating_sub(1);
    }
}

impl Faults {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<FaultRule>> {
        self.rules
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Arms a rule. A rule limited to zero uses is dropped straight away.
    pub fn inject(&self, rule: FaultRule) {
        if rule.times != Some(0) {
            self.lock().push(rule);
        }
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The requests held by [`Fault::Hang`] rules, now and at most.
    pub fn held(&self) -> Held {
        *self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rules still armed (exhausted ones are removed).
    pub fn rules(&self) -> Vec<FaultRule> {
        self.lock().clone()
    }

    /// Consumes one use of the first rule matching the request, if any. A rule still letting
    /// requests through ([`FaultRule::after`]) counts this one down and answers nothing.
    pub fn take(&self, method: &str, path: &str) -> Option<Fault> {
        let mut rules = self.lock();
        let index = rules.iter().position(|r| r.matches(method, path))?;
        if rules[index].skip > 0 {
            rules[index].skip -= 1;
            return None;
        }
        let fault = rules[index].fault.clone();
        if let Some(times) = rules[index].times.as_mut() {
            *times = times.saturating_sub(1);
            if *times == 0 {
                rules.remove(index);
            }
        }
        Some(fault)
    }
}

/// The axum middleware (`axum::middleware::from_fn_with_state((faults, style), middleware)`);
/// [`crate::server::instrument`] installs it for every emulator.
pub async fn middleware(
    State((faults, style)): State<(Faults, ProviderStyle)>,
    req: Request,
    next: Next,
) -> Response {
    let Some(fault) = faults.take(req.method().as_str(), req.uri().path()) else {
        return next.run(req).await;
    };
    tracing::debug!(?fault, path = req.uri().path(), "emulator injecting fault");
    match fault {
        Fault::RateLimited { retry_after_secs } => {
            let body = (style.error_body)(
                429,
                "Please wait and consider throttling your request speed",
            );
            let mut response = json_response(StatusCode::TOO_MANY_REQUESTS, &body);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
        Fault::RateLimitedSilently => {
            let body = (style.error_body)(429, "Too many requests");
            json_response(StatusCode::TOO_MANY_REQUESTS, &body)
        }
        Fault::ServerError { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = format!(
                "{} (injected fault)",
                status.canonical_reason().unwrap_or("Server error")
            );
            json_response(status, &(style.error_body)(status.as_u16(), &message))
        }
        Fault::Hang { millis } => {
            let holding = Holding::start(&faults.held);
            tokio::time::sleep(Duration::from_millis(millis)).await;
            drop(holding);
            next.run(req).await
        }
        Fault::HangAfter { millis } => {
            let response = next.run(req).await;
            tokio::time::sleep(Duration::from_millis(millis)).await;
            response
        }
        Fault::Malformed => {
            let mut response = (StatusCode::OK, "<html>oops").into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Fault::WrongShape => json_response(StatusCode::OK, &(style.wrong_shape_body)()),
        Fault::EchoRequest { status } => {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let message = echo(parts.method.as_str(), &parts.uri, &parts.headers, &body);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            json_response(status, &(style.error_body)(status.as_u16(), &message))
        }
    }
}

/// The message of a [`Fault::EchoRequest`] answer: the request as the emulator received it.
pub fn echo(
    method: &str,
    uri: &axum::http::Uri,
    headers: &header::HeaderMap,
    body: &[u8],
) -> String {
    let headers: Vec<String> = headers
        .iter()
        .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(value.as_bytes())))
        .collect();
    format!(
        "invalid request (echoed): {method} {uri} headers: {} body: {}",
        headers.join("; "),
        String::from_utf8_lossy(body)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_in_order_and_run_out() {
        let faults = Faults::new();
        faults.inject(
            FaultRule::new("/rules", Fault::ServerError { status: 502 })
                .method("put")
                .times(1),
        );
        faults.inject(FaultRule::new("", Fault::Malformed).times(2));
        assert_eq!(faults.take("GET", "/zones/x/rules"), Some(Fault::Malformed));
        assert_eq!(
            faults.take("PUT", "/zones/x/rules"),
            Some(Fault::ServerError { status: 502 })
        );
        assert_eq!(faults.take("PUT", "/zones/x/rules"), Some(Fault::Malformed));
        assert_eq!(faults.take("PUT", "/zones/x/rules"), None);
        assert!(faults.rules().is_empty());
    }

    #[test]
    fn forever_rules_stay_and_zero_never_fires() {
        let faults = Faults::new();
        faults.inject(FaultRule::new("/a", Fault::WrongShape).times(0));
        faults.inject(FaultRule::new("/b", Fault::WrongShape));
        assert_eq!(faults.take("GET", "/a"), None);
        assert_eq!(faults.rules().len(), 1);
        for _ in 0..5 {
            assert_eq!(faults.take("GET", "/b"), Some(Fault::WrongShape));
        }
        faults.clear();
        assert_eq!(faults.take("GET", "/b"), None);
    }
}
