//! Read sharing for the AWS SDK's requests, by the rules of the shared HTTP layer
//! ([`crate::http::share`]): identical reads of one account in flight share one answer, kept
//! for the operator's `--share-reads-for` window; any write ends the sharing.
//!
//! [`SharingConnector`] wraps the account's rate-limited connector, so a read that shares an
//! answer neither queues on the limiter nor sends. A read is told from a write by the action's
//! name ([`action`]: EC2's Query `Action=Describe…` in the form body; JSON services'
//! `X-Amz-Target`; CloudWatch's RPCv2 CBOR path `/service/…/operation/<Op>`; REST services by
//! the HTTP method), as [`is_write`] tells them. The key is the method, the URI
//! (the region is in the host), the target and the body: the signature headers differ per call
//! and are not part of it. Each sharer gets its own copy of the answer, marked [`SharedRead`],
//! so [`super::interceptor::CallCounter`] counts it as shared, not as a request.

use std::fmt;
use std::sync::Arc;

use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::{Headers, StatusCode};
use aws_smithy_types::body::SdkBody;

use super::refusal::{Refused, is_write, refusal};
use crate::http::share::{Answer, Share};

/// The reads of one account: shared by every connector of its service clients.
pub type Reads = Arc<Share<AwsAnswer>>;

/// Marks an answer (or an error) a read got from an identical one instead of sending.
#[derive(Clone, Copy, Debug)]
pub struct SharedRead;

/// A whole answer as the connector read it (its body already read, see `read_bounded`), or
/// what the connector's error said; and whether it may be kept past its flight.
#[derive(Clone)]
pub struct AwsAnswer(Result<Arc<Whole>, Arc<Failed>>, bool);

/// The operations whose answers the provider keeps parsed, in a share of its own (see
/// `ec2::sg_rules`, `trail`): their bytes are shared in flight only, never kept, so the parsed
/// value is no older than the window.
const KEPT_PARSED: [&str; 2] = [super::ec2::RULES_OP, super::trail::OP];

pub struct Whole {
    status: StatusCode,
    headers: Headers,
    body: Vec<u8>,
}

/// A connector error, as much of it as another read needs: its kind (so the SDK retries the
/// sharers alike), its text, and Perimeter's own refusal (found by `interceptor::sdk_error`).
pub struct Failed {
    timeout: bool,
    io: bool,
    user: bool,
    other: Option<aws_smithy_types::retry::ErrorKind>,
    text: String,
    refused: Option<Refused>,
}

impl Answer for AwsAnswer {
    /// Only successes are kept: an error answer (throttling, 5xx) is handed only to the reads
    /// waiting on it.
    fn keep(&self) -> Option<usize> {
        match &self.0 {
            Ok(w) if self.1 && w.status.is_success() => Some(w.body.len()),
            _ => None,
        }
    }
}

impl AwsAnswer {
    fn of(got: &Result<HttpResponse, ConnectorError>, keep: bool) -> Self {
        let answer = match got {
            Ok(response) => match response.body().bytes() {
                Some(body) => Ok(Arc::new(Whole {
                    status: response.status(),
                    headers: response.headers().clone(),
                    body: body.to_vec(),
                })),
                // Not read whole (none of the operations Perimeter sends): the sharers ask
                // again themselves.
                None => Err(Arc::new(Failed {
                    timeout: false,
                    io: true,
                    user: false,
                    other: None,
                    text: "the identical read's answer was streamed".into(),
                    refused: None,
                })),
            },
            Err(e) => Err(Arc::new(Failed {
                timeout: e.is_timeout(),
                io: e.is_io(),
                user: e.is_user(),
                other: e.as_other(),
                text: std::error::Error::source(e).map_or_else(
                    || e.to_string(),
                    |s| aws_smithy_types::error::display::DisplayErrorContext(s).to_string(),
                ),
                refused: refusal(e).cloned(),
            })),
        };
        Self(answer, keep)
    }

    /// The answer for one sharer: a copy, marked as shared.
    fn for_sharer(&self) -> Result<HttpResponse, ConnectorError> {
        match &self.0 {
            Ok(whole) => {
                let mut response =
                    HttpResponse::new(whole.status, SdkBody::from(whole.body.clone()));
                *response.headers_mut() = whole.headers.clone();
                response.add_extension(SharedRead);
                Ok(response)
            }
            Err(failed) => {
                let source = Box::new(SharedFailure {
                    text: failed.text.clone(),
                    refused: failed.refused.clone(),
                });
                Err(if failed.timeout {
                    ConnectorError::timeout(source)
                } else if failed.io {
                    ConnectorError::io(source)
                } else if failed.user {
                    ConnectorError::user(source)
                } else {
                    ConnectorError::other(source, failed.other)
                })
            }
        }
    }
}

/// The error a read got from an identical one it shared: the original's text, and its
/// refusal as its source (where `interceptor::sdk_error` looks for one).
#[derive(Debug)]
pub struct SharedFailure {
    text: String,
    refused: Option<Refused>,
}

impl fmt::Display for SharedFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for SharedFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.refused
            .as_ref()
            .map(|r| r as &(dyn std::error::Error + 'static))
    }
}

/// Whether an error was one a read got from an identical read (see [`SharedFailure`]).
pub fn is_shared_failure(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<SharedFailure>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// Whether a request naming `operation` (see [`action`]) with `method` only reads (see the
/// module's doc).
fn reads_only(operation: Option<&str>, method: &str) -> bool {
    match operation {
        Some(op) => !is_write(op),
        None => matches!(method, "GET" | "HEAD"),
    }
}

/// The operation a request names: JSON services' `X-Amz-Target`, CloudWatch's RPCv2 CBOR path
/// (`POST /service/<service>/operation/<Op>`), or the Query protocol's `Action` (EC2); `None`
/// for REST services, which name it by method and path.
fn action(request: &HttpRequest) -> Option<String> {
    if let Some(target) = request.headers().get("x-amz-target") {
        return target.rsplit('.').next().map(str::to_string);
    }
    let path = request.uri().split(['?', '#']).next().unwrap_or_default();
    if let Some((_, op)) = path.rsplit_once("/operation/") {
        return Some(op.to_string());
    }
    request.body().bytes().and_then(|body| {
        url::form_urlencoded::parse(body)
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v.into_owned())
    })
}

/// The region and service a request is signed for (`…/<date>/<region>/<service>/aws4_request` in
/// the SigV4 `Credential=`), without the date or the signature. Through one endpoint (a proxy, a
/// private endpoint, an emulator) the URL is the same for every region: the signing scope is
/// what tells two regions' reads apart.
fn signing_scope(request: &HttpRequest) -> &str {
    let credential = request
        .headers()
        .get("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split([',', ' ']).next())
        .unwrap_or_default();
    // `<key id>/<date>/<region>/<service>/aws4_request`: keep `<region>/<service>`.
    let mut parts = credential.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(rest)) => rest.trim_end_matches("/aws4_request"),
        _ => "",
    }
}

/// What an identical read must match (each part length-prefixed, so no two requests make the
/// same key). `None` for a streaming body, never shared.
fn key(request: &HttpRequest) -> Option<Vec<u8>> {
    let target = request.headers().get("x-amz-target").unwrap_or_default();
    let scope = signing_scope(request);
    let body = request.body().bytes()?;
    let mut key =
        Vec::with_capacity(request.uri().len() + target.len() + scope.len() + body.len() + 40);
    for part in [
        request.method().as_bytes(),
        request.uri().as_bytes(),
        target.as_bytes(),
        scope.as_bytes(),
        body,
    ] {
        key.extend_from_slice(&(part.len() as u64).to_be_bytes());
        key.extend_from_slice(part);
    }
    Some(key)
}

/// Shares identical reads through `inner` (the account's rate-limited connector).
pub struct SharingConnector {
    pub inner: SharedHttpConnector,
    pub reads: Reads,
}

impl fmt::Debug for SharingConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharingConnector")
    }
}

impl HttpConnector for SharingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let reads = self.reads.clone();
        HttpConnectorFuture::new(async move {
            let operation = action(&request);
            let read = reads_only(operation.as_deref(), request.method());
            let Some(key) = read.then(|| key(&request)).flatten() else {
                let _writing = (!read).then(|| reads.write());
                return inner.call(request).await;
            };
            let keep = !operation.is_some_and(|op| KEPT_PARSED.contains(&op.as_str()));
            let mut own = None;
            let leader = &mut own;
            let (answer, had) = reads
                .read(key, move || async move {
                    let got = inner.call(request).await;
                    let answer = AwsAnswer::of(&got, keep);
                    *leader = Some(got);
                    answer
                })
                .await;
            match own {
                Some(got) if !had.shared() => got,
                _ => answer.for_sharer(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, target: Option<&str>, body: &str) -> HttpRequest {
        at("https://ec2.eu-west-1.amazonaws.com/", method, target, body)
    }

    fn at(uri: &str, method: &str, target: Option<&str>, body: &str) -> HttpRequest {
        let mut r = HttpRequest::new(SdkBody::from(body));
        r.set_method(method).expect("method");
        r.set_uri(uri).expect("uri");
        if let Some(t) = target {
            r.headers_mut().insert("x-amz-target", t.to_string());
        }
        r
    }

    #[test]
    fn reads_are_told_from_writes_by_the_action() {
        let cases = [
            (
                request(
                    "POST",
                    None,
                    "Action=DescribeSecurityGroupRules&Version=2016-11-15",
                ),
                true,
            ),
            (
                request(
                    "POST",
                    None,
                    "Action=AuthorizeSecurityGroupIngress&Version=2016-11-15",
                ),
                false,
            ),
            (
                request("POST", Some("AWSWAF_20190729.ListWebACLs"), "{}"),
                true,
            ),
            (
                request("POST", Some("AWSWAF_20190729.UpdateWebACL"), "{}"),
                false,
            ),
            (
                request(
                    "POST",
                    Some("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"),
                    "{}",
                ),
                true,
            ),
            // Smithy RPCv2 CBOR (CloudWatch): the path names the operation.
            (
                at(
                    "https://monitoring.eu-west-1.amazonaws.com/service/GraniteServiceVersion20100801/operation/DescribeAlarms",
                    "POST",
                    None,
                    "\u{a0}",
                ),
                true,
            ),
            (
                at(
                    "https://monitoring.eu-west-1.amazonaws.com/service/GraniteServiceVersion20100801/operation/PutMetricAlarm",
                    "POST",
                    None,
                    "\u{a0}",
                ),
                false,
            ),
            // REST services: the method.
            (request("GET", None, ""), true),
            (request("POST", None, "{\"enable\":true}"), false),
            (request("DELETE", None, ""), false),
        ];
        for (r, want) in cases {
            assert_eq!(
                reads_only(action(&r).as_deref(), r.method()),
                want,
                "{} {:?} {:?}",
                r.method(),
                r.headers().get("x-amz-target"),
                r.body().bytes()
            );
        }
    }

    /// The signature and its date are left out; the region and service signed for are not
    /// (one endpoint for every region sends the same URL and body to each).
    #[test]
    fn the_key_ignores_signatures_but_not_the_region_target_or_body() {
        let signed = |authorization: &str, date: &str| {
            let mut r = request("POST", Some("AWSWAF_20190729.ListWebACLs"), "{}");
            r.headers_mut()
                .insert("authorization", authorization.to_string());
            r.headers_mut().insert("x-amz-date", date.to_string());
            r
        };
        let scope = |day: &str, region: &str, signature: &str| {
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{day}/{region}/wafv2/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature={signature}"
            )
        };
        let a = signed(&scope("20261130", "eu-west-1", "aaaa"), "20261130T000000Z");
        let again = signed(&scope("20261201", "eu-west-1", "bbbb"), "20261201T000001Z");
        assert_eq!(key(&a), key(&again));
        let other_region = signed(&scope("20261130", "us-east-1", "aaaa"), "20261130T000000Z");
        assert_ne!(key(&a), key(&other_region));
        assert_eq!(signing_scope(&a), "eu-west-1/wafv2");
        assert_eq!(signing_scope(&request("GET", None, "")), "");
        let a = request("POST", Some("AWSWAF_20190729.ListWebACLs"), "{}");
        let other_target = request("POST", Some("AWSWAF_20190729.ListIPSets"), "{}");
        assert_ne!(key(&a), key(&other_target));
        let other_body = request("POST", Some("AWSWAF_20190729.ListWebACLs"), "{\"Scope\":1}");
        assert_ne!(key(&a), key(&other_body));
    }
}
