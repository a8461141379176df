//! The AWS SDK's side of the shared HTTP layer (`crate::http`). The SDK owns signing, retries (standard mode:
//! `RequestLimitExceeded`, `Throttling`, `ThrottlingException`, 5xx) and timeouts; this module
//! plugs the project's own concerns into it:
//! - [`RateLimitedClient`] wraps the SDK's HTTP client so every attempt (retries included, and
//!   the credential chain's own calls) first waits on the account's [`RateLimiter`], then has
//!   `requestTimeoutSeconds` to be sent and answered (the wait in the queue is not part of it:
//!   the SDK's own attempt timeout would count it, so a long queue made calls time out unsent,
//!   retry and queue again), and reads the answer itself: at most `max_body_bytes`, into one buffer, and never a redirect (the
//!   SDK's hyper client does not follow them either; a 3xx is refused here so that it is a
//!   clear `BadResponse` naming the host only);
//! - [`CallCounter`], an SDK interceptor, counts every attempt in
//!   `perimeter_provider_requests_total{provider="aws",operation,code}` (and the reads that
//!   shared an identical read's answer, see `providers::aws::share`, in
//!   `perimeter_provider_requests_shared_total`);
//! - [`sdk_error`] maps SDK errors to a [`ProviderError`] with a category, quoting only the AWS
//!   error code and message, sanitised.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse, Metadata};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use http_body_util::BodyExt;

pub use super::refusal::is_write;
use super::refusal::{Refused, refusal};
use crate::error::{Category, ProviderError};
use crate::http::{RateLimiter, sanitize};
use crate::metrics::Metrics;

/// Where the service clients may send a signed request: the account's endpoint override
/// (already allowed by the admin), or else AWS's official API hosts. The SDK builds each URL
/// from the region; this is the last check that a credential goes nowhere else.
#[derive(Clone, Debug, Default)]
pub struct Egress {
    /// `(host, port)` of `spec.endpoint`; `None`: only the official hosts.
    pub endpoint: Option<(String, Option<u16>)>,
}

impl Egress {
    fn allows(&self, host: &str, port: Option<u16>, https: bool) -> bool {
        match &self.endpoint {
            Some((h, p)) => host == h && port == *p,
            None => {
                https && crate::trust::hosts::is_official(crate::api::ProviderType::Aws, host, port)
            }
        }
    }
}

/// The SDK's HTTP client, pacing every attempt through the account's token bucket.
#[derive(Clone)]
pub struct RateLimitedClient {
    inner: SharedHttpClient,
    limiter: Arc<RateLimiter>,
    max_body_bytes: usize,
    /// How long one attempt may take from the moment the limiter lets it go.
    attempt_timeout: Duration,
    /// `None` for the credential providers (IMDS, STS web identity: the admin's environment).
    egress: Option<Egress>,
    /// The account's shared reads ([`super::share`]); `None`: every read is sent.
    reads: Option<super::share::Reads>,
}

impl RateLimitedClient {
    pub fn new(
        inner: SharedHttpClient,
        limiter: Arc<RateLimiter>,
        max_body_bytes: usize,
        attempt_timeout: Duration,
    ) -> Self {
        Self {
            inner,
            limiter,
            max_body_bytes,
            attempt_timeout,
            egress: None,
            reads: None,
        }
    }

    /// The same client, sharing identical reads through `reads`.
    pub fn sharing(&self, reads: super::share::Reads) -> Self {
        Self {
            reads: Some(reads),
            ..self.clone()
        }
    }

    /// The same client, refusing any request outside `egress` before it is sent.
    pub fn only_to(&self, egress: Egress) -> Self {
        Self {
            egress: Some(egress),
            ..self.clone()
        }
    }
}

impl fmt::Debug for RateLimitedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RateLimitedClient")
    }
}

impl HttpClient for RateLimitedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let connector = SharedHttpConnector::new(RateLimitedConnector {
            inner: self.inner.http_connector(settings, components),
            limiter: self.limiter.clone(),
            max_body_bytes: self.max_body_bytes,
            attempt_timeout: self.attempt_timeout,
            egress: self.egress.clone(),
        });
        match &self.reads {
            // Outside the limiter: a read that shares an answer does not queue.
            Some(reads) => SharedHttpConnector::new(super::share::SharingConnector {
                inner: connector,
                reads: reads.clone(),
            }),
            None => connector,
        }
    }
}

struct RateLimitedConnector {
    inner: SharedHttpConnector,
    limiter: Arc<RateLimiter>,
    max_body_bytes: usize,
    attempt_timeout: Duration,
    egress: Option<Egress>,
}

impl fmt::Debug for RateLimitedConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RateLimitedConnector")
    }
}

impl HttpConnector for RateLimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if let Some(egress) = &self.egress {
            let uri = request.uri();
            let parsed = url::Url::parse(uri).ok();
            let host = parsed
                .as_ref()
                .and_then(|u| u.host_str())
                .map(|h| {
                    h.trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_ascii_lowercase()
                })
                .unwrap_or_default();
            let https = parsed.as_ref().is_some_and(|u| u.scheme() == "https");
            let port = parsed.as_ref().and_then(|u| u.port());
            if !egress.allows(&host, port, https) {
                let refused = Refused::Egress {
                    host: sanitize(&host, 100),
                };
                return HttpConnectorFuture::ready(Err(ConnectorError::other(
                    Box::new(refused),
                    None,
                )));
            }
        }
        let inner = self.inner.clone();
        let limiter = self.limiter.clone();
        let cap = self.max_body_bytes;
        let timeout = self.attempt_timeout;
        HttpConnectorFuture::new(async move {
            limiter.acquire().await;
            // The attempt's clock starts once it may be sent: a timeout is then the endpoint's
            // (retried by the SDK as a transient error), never the length of the queue.
            let attempt = async {
                let response = inner.call(request).await?;
                read_bounded(response, cap).await
            };
            tokio::time::timeout(timeout, attempt)
                .await
                .unwrap_or_else(|_| Err(ConnectorError::timeout(Box::new(NoAnswer { timeout }))))
        })
    }
}

/// No answer within the attempt timeout, counted from when the attempt was sent.
#[derive(Debug, thiserror::Error)]
#[error("no answer within {}s of sending", timeout.as_secs_f32())]
struct NoAnswer {
    timeout: Duration,
}

/// Reads the whole answer here, as the SDK would for these non-streaming operations, but at
/// most `cap` bytes, into one buffer that becomes the body without a copy. A refusal is an
/// `other` connector error without a retry kind, so the SDK does not try again.
async fn read_bounded(
    mut response: HttpResponse,
    cap: usize,
) -> Result<HttpResponse, ConnectorError> {
    let status = response.status().as_u16();
    let refuse = |r: Refused| ConnectorError::other(Box::new(r), None);
    let too_large = |size: String| {
        refuse(Refused::TooLarge {
            status,
            size,
            cap_mib: cap / (1024 * 1024),
        })
    };
    if (300..400).contains(&status) {
        let host = response
            .headers()
            .get("location")
            .and_then(|l| url::Url::parse(l).ok())
            .and_then(|u| u.host_str().map(|h| sanitize(h, 100)))
            .unwrap_or_else(|| "the same host".to_string());
        return Err(refuse(Refused::Redirect { status, host }));
    }
    let length = response
        .headers()
        .get("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(length) = length
        && length > cap as u64
    {
        return Err(too_large(format!("{length}-byte answer")));
    }
    let mut body = response.take_body();
    let expected = length.and_then(|l| usize::try_from(l).ok()).unwrap_or(0);
    let mut buffer = Vec::with_capacity(expected.min(cap));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ConnectorError::io)?;
        if let Ok(data) = frame.into_data() {
            if buffer.len() + data.len() > cap {
                return Err(too_large("answer".to_string()));
            }
            buffer.extend_from_slice(&data);
        }
    }
    *response.body_mut() = SdkBody::from(buffer);
    Ok(response)
}

/// The request ids AWS gave this client's accepted writes: CloudTrail records the same id as an
/// event's `requestID`, so an event carrying one of them is Perimeter's own write whoever the
/// credential belongs to. Kept for [`LOOKBACK`] (and at most [`OwnRequestIds::CAP`] ids: the
/// oldest go first), like [`crate::core::attribution::OwnWrites`].
///
/// [`LOOKBACK`]: crate::core::attribution::LOOKBACK
#[derive(Clone, Default)]
pub struct OwnRequestIds {
    ids: Arc<std::sync::Mutex<crate::core::attribution::OwnIds>>,
}

impl OwnRequestIds {
    pub const CAP: usize = crate::core::attribution::OwnIds::CAP;

    pub fn record(&self, id: &str, at: jiff::Timestamp) {
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(id, at);
    }

    /// Whether `id` (a CloudTrail event's `requestID`) is one of this client's writes.
    pub fn contains(&self, id: &str) -> bool {
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
    }
}

/// Counts every attempt by SDK operation name (`DescribeSecurityGroups`, `UpdateWebACL`, …) and
/// HTTP status, or `timeout` / `error` when no response came back; and keeps the request id of
/// every accepted write ([`OwnRequestIds`]), read from the headers the SDK reads it from
/// (`RequestId`), so no write call site can forget it.
#[derive(Clone, Default)]
pub struct CallCounter {
    metrics: Option<Arc<Metrics>>,
    pub own: OwnRequestIds,
}

impl CallCounter {
    pub fn new(metrics: Option<Arc<Metrics>>) -> Self {
        Self {
            metrics,
            own: OwnRequestIds::default(),
        }
    }

    /// Counts `calls` reads of `operation` that an identical read answered.
    pub fn shared(&self, operation: &str, calls: u64) {
        if let Some(metrics) = &self.metrics {
            metrics
                .provider_requests_shared_total
                .with_label_values(&["aws", operation])
                .inc_by(calls);
        }
    }
}

impl fmt::Debug for CallCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallCounter")
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "PerimeterCallCounter"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        let shared = match context.response() {
            Some(response) => response.extension::<super::share::SharedRead>().is_some(),
            None => matches!(
                context.output_or_error(),
                Some(Err(e)) if e.as_connector_error().is_some_and(|c| super::share::is_shared_failure(c))
            ),
        };
        if shared {
            self.shared(operation, 1);
            return Ok(());
        }
        if let Some(response) = context.response()
            && response.status().is_success()
            && is_write(operation)
            && let Some(id) = aws_sdk_ec2::operation::RequestId::request_id(response)
        {
            self.own.record(id, jiff::Timestamp::now());
        }
        let Some(metrics) = &self.metrics else {
            return Ok(());
        };
        let code = match context.response() {
            Some(response) => response.status().as_u16().to_string(),
            None => match context.output_or_error() {
                Some(Err(e)) if e.is_timeout_error() => "timeout".to_string(),
                _ => "error".to_string(),
            },
        };
        metrics
            .provider_requests_total
            .with_label_values(&["aws", operation, &code])
            .inc();
        Ok(())
    }
}

const THROTTLING: [&str; 7] = [
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
];

const AUTH: [&str; 11] = [
    "AuthFailure",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "MissingAuthenticationToken",
];

/// The category of an AWS error answer, from its code and HTTP status. `write` marks calls
/// that change state: their other 4xx answers are refusals (`WriteRejected`), while a 4xx on a
/// read means Perimeter asked something the API does not understand (`BadResponse`).
pub fn classify(code: Option<&str>, status: u16, write: bool) -> Category {
    let code = code.unwrap_or_default();
    if THROTTLING.contains(&code) || status == 429 {
        Category::Throttled
    } else if AUTH.contains(&code)
        || code.starts_with("AccessDenied")
        || status == 401
        || status == 403
    {
        Category::CredentialsRejected
    } else if status >= 500 {
        Category::ProviderError
    } else if write {
        Category::WriteRejected
    } else {
        Category::BadResponse
    }
}

/// Maps an SDK error to a [`ProviderError`]. The message carries the AWS error code and message
/// (never a request, so never a credential) and goes through `redact` as a last defence.
pub fn sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &'static str,
    write: bool,
    err: &SdkError<E, HttpResponse>,
    redact: &dyn Fn(&str) -> String,
) -> ProviderError {
    if let SdkError::DispatchFailure(d) = err
        && let Some(refused) = d.as_connector_error().and_then(refusal)
    {
        let category = match refused {
            Refused::Egress { .. } => Category::Forbidden,
            Refused::TooLarge { .. } | Refused::Redirect { .. } => Category::BadResponse,
        };
        return ProviderError::new(category, operation, refused.to_string());
    }
    let (category, message) = match err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let e = ctx.err();
            let code = e.code();
            (
                classify(code, status, write),
                format!(
                    "HTTP {status} {}: {}",
                    sanitize(code.unwrap_or("(no error code)"), 100),
                    sanitize(e.message().unwrap_or("(no message)"), 300)
                ),
            )
        }
        SdkError::TimeoutError(_) => (Category::Timeout, "no answer in time".to_string()),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            (Category::Timeout, "no answer in time".to_string())
        }

        SdkError::DispatchFailure(d) => (
            Category::Unreachable,
            format!(
                "could not reach the endpoint: {}",
                d.as_connector_error()
                    .map(|c| sanitize(
                        &aws_smithy_types::error::display::DisplayErrorContext(c).to_string(),
                        300
                    ))
                    .unwrap_or_default()
            ),
        ),
        SdkError::ResponseError(_) => (
            Category::BadResponse,
            "the answer could not be parsed".to_string(),
        ),
        SdkError::ConstructionFailure(_) => {
            let text = aws_smithy_types::error::display::DisplayErrorContext(err).to_string();
            // The most common local failure: the ambient credential chain found no identity.
            let category = if text.contains("credential") || text.contains("identity") {
                Category::CredentialsRejected
            } else {
                Category::BadResponse
            };
            (
                category,
                format!("the request could not be built: {}", sanitize(&text, 300)),
            )
        }
        _ => (Category::BadResponse, "unexpected SDK error".to_string()),
    };
    ProviderError::new(category, operation, redact(&message))
}

/// The AWS error code of a service error, if it is one.
pub fn error_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    match err {
        SdkError::ServiceError(ctx) => ctx.err().code(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 8 item 3, for the SDK's URLs: a region can steer the host the SDK builds
    /// (`ec2.{region}.amazonaws.com`), so every signed request is checked before it is sent.
    #[test]
    fn signed_requests_go_only_to_aws_or_the_allowed_endpoint() {
        let official = Egress::default();
        let lab = Egress {
            endpoint: Some(("127.0.0.1".into(), Some(4566))),
        };
        let cases = [
            (&official, "ec2.eu-west-1.amazonaws.com", None, true, true),
            (
                &official,
                "wafv2.eu-west-1.amazonaws.com",
                Some(443),
                true,
                true,
            ),
            (&official, "ec2.attacker.example", None, true, false),
            (
                &official,
                "ec2.x.amazonaws.com.attacker.example",
                None,
                true,
                false,
            ),
            (&official, "ec2.eu-west-1.amazonaws.com", None, false, false),
            (
                &official,
                "ec2.eu-west-1.amazonaws.com",
                Some(8443),
                true,
                false,
            ),
            (&lab, "127.0.0.1", Some(4566), false, true),
            (&lab, "127.0.0.1", Some(4567), false, false),
            (&lab, "ec2.eu-west-1.amazonaws.com", None, true, false),
        ];
        for (egress, host, port, https, want) in cases {
            assert_eq!(
                egress.allows(host, port, https),
                want,
                "{host}:{port:?} https={https}"
            );
        }
    }

    #[test]
    fn own_request_ids_are_kept_for_the_look_back_window_and_bounded() {
        let own = OwnRequestIds::default();
        let t0: jiff::Timestamp = "2026-11-20T00:00:00Z".parse().expect("time");
        own.record("ABC-1", t0);
        assert!(own.contains("abc-1"), "ids compare in any case");
        assert!(!own.contains("abc-2"));
        own.record("abc-2", t0 + jiff::SignedDuration::from_hours(8 * 24));
        assert!(!own.contains("abc-1"), "older than the look-back window");
        for i in 0..OwnRequestIds::CAP + 5 {
            own.record(
                &format!("id-{i}"),
                t0 + jiff::SignedDuration::from_hours(8 * 24),
            );
        }
        assert!(!own.contains("id-0") && own.contains(&format!("id-{}", OwnRequestIds::CAP + 4)));
    }

    #[test]
    fn reads_and_writes_by_operation_name() {
        for op in [
            "DescribeSecurityGroups",
            "ListWebACLs",
            "GetDetector",
            "LookupEvents",
        ] {
            assert!(!is_write(op), "{op}");
        }
        for op in [
            "AuthorizeSecurityGroupIngress",
            "ModifySecurityGroupRules",
            "UpdateWebACL",
            "PutMetricAlarm",
            "DeleteAlarms",
            "CreateFlowLogs",
            "UpdateDetector",
        ] {
            assert!(is_write(op), "{op}");
        }
    }

    #[test]
    fn aws_error_codes_map_to_categories() {
        let cases = [
            (
                Some("RequestLimitExceeded"),
                503,
                false,
                Category::Throttled,
            ),
            (Some("Throttling"), 400, true, Category::Throttled),
            (Some("ThrottlingException"), 400, false, Category::Throttled),
            (None, 429, false, Category::Throttled),
            (
                Some("AuthFailure"),
                401,
                false,
                Category::CredentialsRejected,
            ),
            (
                Some("UnrecognizedClientException"),
                400,
                false,
                Category::CredentialsRejected,
            ),
            (
                Some("InvalidClientTokenId"),
                403,
                false,
                Category::CredentialsRejected,
            ),
            (
                Some("ExpiredToken"),
                400,
                false,
                Category::CredentialsRejected,
            ),
            (
                Some("AccessDeniedException"),
                400,
                true,
                Category::CredentialsRejected,
            ),
            (
                Some("AccessDenied.Something"),
                400,
                true,
                Category::CredentialsRejected,
            ),
            (Some("InternalError"), 500, false, Category::ProviderError),
            (None, 503, true, Category::ProviderError),
            (
                Some("InvalidPermission.Duplicate"),
                400,
                true,
                Category::WriteRejected,
            ),
            (
                Some("WAFOptimisticLockException"),
                400,
                true,
                Category::WriteRejected,
            ),
            (
                Some("InvalidParameterValue"),
                400,
                false,
                Category::BadResponse,
            ),
        ];
        for (code, status, write, want) in cases {
            assert_eq!(
                classify(code, status, write),
                want,
                "{code:?} {status} {write}"
            );
        }
    }
}
