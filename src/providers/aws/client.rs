//! The AWS client: the SDK's shared configuration (credentials, endpoint, timeouts, retries),
//! one client per service and region, the checked egress and rate limit of [`super::interceptor`],
//! and the mapping of SDK errors to [`ProviderError`]s with every secret removed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Deserialize;

use super::interceptor::{CallCounter, Egress, RateLimitedClient, sdk_error};
use crate::api::CloudProviderSpec;
use crate::api::provider::CredentialSource;
use crate::core::Item;
use crate::core::attribution::OwnWrites;
use crate::error::{Category, Error, ProviderError};
use crate::http::RateLimiter;
use crate::metrics::Metrics;
use crate::secret::SecretString;

/// AWS allows far more than Cloudflare: EC2 buckets refill at tens of Describe calls per
/// second. 1200/min with a burst of 50 keeps a full firewall read (a handful of paginated
/// calls per region) well under a second while leaving most of the account's budget to others.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 1200;
pub const DEFAULT_BURST: u32 = 50;
const DEFAULT_TIMEOUT_SECONDS: u32 = 30;
/// Used only to build the shared configuration; every call names the policy's region.
const FALLBACK_REGION: &str = "us-east-1";

/// `{"accessKeyId", "secretAccessKey", "sessionToken"?}` from the Secret.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StaticKeys {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    session_token: Option<String>,
}

/// One SDK client per service and region, built on first use and kept: they share the config
/// (credentials, endpoint, rate-limited HTTP client) and the call-counting interceptor.
macro_rules! service_client {
    ($name:ident, $sdk:ident) => {
        pub(super) fn $name(&self, region: &str) -> $sdk::Client {
            let mut cache = self
                .clients
                .$name
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            cache
                .entry(region.to_string())
                .or_insert_with(|| {
                    let conf = $sdk::config::Builder::from(&self.config)
                        .region(Region::new(region.to_string()))
                        .interceptor(self.counter.clone())
                        .http_client(self.services.clone())
                        .build();
                    $sdk::Client::from_conf(conf)
                })
                .clone()
        }
    };
}

/// The clients built so far, by region.
#[derive(Default)]
struct Clients {
    ec2: Mutex<BTreeMap<String, aws_sdk_ec2::Client>>,
    waf: Mutex<BTreeMap<String, aws_sdk_wafv2::Client>>,
    guardduty: Mutex<BTreeMap<String, aws_sdk_guardduty::Client>>,
    cloudwatch: Mutex<BTreeMap<String, aws_sdk_cloudwatch::Client>>,
    cloudtrail: Mutex<BTreeMap<String, aws_sdk_cloudtrail::Client>>,
}

pub struct Aws {
    config: SdkConfig,
    /// The HTTP client of the service clients (checked egress).
    services: SharedHttpClient,
    clients: Clients,
    pub(super) counter: CallCounter,
    /// CloudTrail's own pace for `LookupEvents` (two a second per account and region), on top
    /// of the account's rate limit every call goes through.
    lookups: Mutex<BTreeMap<String, Arc<RateLimiter>>>,
    /// The account's rate limit, which every call waits on in the connector.
    pub(super) limiter: Arc<RateLimiter>,
    /// The account's read sharing (answers in flight, and kept for the operator's window).
    pub(super) reads: super::share::Reads,
    /// Each region's security-group rules, parsed once for every policy that reads them within
    /// the window; derived from `reads`, so a write through the account ends it (see `ec2`).
    pub(super) rule_listings: crate::http::share::Share<super::ec2::RuleListing>,
    /// Each region's CloudTrail listings by event name, shared by the account's policies
    /// within the window, writes or not (see `trail`).
    pub(super) trail_listings: crate::http::share::Share<super::trail::TrailListing>,
    /// The regions whose listings were cut short lately, until when (see `trail`).
    pub(super) trail_busy: Mutex<BTreeMap<String, tokio::time::Instant>>,
    /// The (region, section) of every change this client applied, for audit events that carry
    /// no request id of [`CallCounter::own`].
    pub(super) own: Mutex<OwnWrites>,
    /// The secret parts of a static credential, removed from every error message.
    secrets: Vec<SecretString>,
    /// The region `verify` asks: the first of `regions`, or a fallback.
    pub(super) region: String,
    /// `CloudProvider.spec.regions`: what a policy block without a region covers.
    pub(super) regions: Vec<String>,
}

impl Aws {
    /// The client of an account; identical reads share an answer only while in flight.
    pub async fn connect(
        spec: &CloudProviderSpec,
        credential: Option<SecretString>,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        Self::connect_sharing(spec, credential, metrics, Duration::ZERO).await
    }

    /// The client of an account whose successful reads are handed to identical reads for
    /// `share_window` (the operator's `--share-reads-for`, see [`crate::http::share`]).
    pub async fn connect_sharing(
        spec: &CloudProviderSpec,
        credential: Option<SecretString>,
        metrics: Option<Arc<Metrics>>,
        share_window: Duration,
    ) -> Result<Self, Error> {
        let region = spec
            .regions
            .as_ref()
            .and_then(|r| r.first().cloned())
            .unwrap_or_else(|| FALLBACK_REGION.to_string());
        let (rpm, burst) = spec
            .rate_limit
            .as_ref()
            .map_or((DEFAULT_REQUESTS_PER_MINUTE, DEFAULT_BURST), |rl| {
                (rl.requests_per_minute, rl.burst.unwrap_or(DEFAULT_BURST))
            });
        let limiter = Arc::new(RateLimiter::new(rpm, burst));
        let timeout = Duration::from_secs(u64::from(
            spec.request_timeout_seconds
                .unwrap_or(DEFAULT_TIMEOUT_SECONDS),
        ));
        let tls = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        // The attempt timeout is the connector's, after the limiter's wait (see
        // `RateLimitedClient`); the SDK keeps only the connect timeout.
        let rate_limited = RateLimitedClient::new(
            tls,
            limiter.clone(),
            crate::http::DEFAULT_MAX_BODY_BYTES,
            timeout,
        );

        // The service clients send signed requests only to AWS or the allowed endpoint; the
        // credential providers of `source: Ambient` (IMDS, ECS, STS) use the unchecked one.
        let endpoint = match spec.endpoint.as_deref() {
            Some(raw) => {
                let checked = crate::trust::url::parse(raw, crate::trust::url::Rules::ENDPOINT)
                    .map_err(|e| Error::InvalidSpec(format!("spec.endpoint: {e}")))?;
                Some((checked.host, checked.port))
            }
            None => None,
        };
        let reads = Arc::new(crate::http::share::Share::new(
            share_window,
            crate::http::share::DEFAULT_MAX_KEPT_BYTES,
        ));
        let services = SharedHttpClient::new(
            rate_limited
                .only_to(Egress { endpoint })
                .sharing(reads.clone()),
        );
        let http = SharedHttpClient::new(rate_limited);

        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.clone()))
            .http_client(http)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(timeout.min(Duration::from_secs(10)))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        if let Some(endpoint) = &spec.endpoint {
            loader = loader.endpoint_url(endpoint.trim_end_matches('/'));
        }
        let mut secrets = Vec::new();
        match (spec.credentials.source, credential) {
            (CredentialSource::Secret, None) => {
                return Err(Error::CredentialsMissing(
                    "AWS credentials.source Secret needs the Secret key".into(),
                ));
            }
            (CredentialSource::Secret, Some(secret)) => {
                let keys = parse_keys(&secret)?;
                secrets.push(SecretString::new(keys.secret_access_key.clone()));
                if let Some(t) = &keys.session_token {
                    secrets.push(SecretString::new(t.clone()));
                }
                loader = loader.credentials_provider(Credentials::new(
                    keys.access_key_id,
                    keys.secret_access_key,
                    keys.session_token,
                    None,
                    "perimeter-secret",
                ));
            }
            // The SDK's default chain: web identity (IRSA), EKS Pod Identity, profile, IMDS.
            (CredentialSource::Ambient, _) => {}
        }
        Ok(Self {
            config: loader.load().await,
            services,
            clients: Clients::default(),
            counter: CallCounter::new(metrics),
            lookups: Mutex::default(),
            limiter,
            reads,
            rule_listings: crate::http::share::Share::new(
                share_window,
                crate::http::share::DEFAULT_MAX_KEPT_BYTES,
            ),
            trail_listings: crate::http::share::Share::new(
                share_window,
                crate::http::share::DEFAULT_MAX_KEPT_BYTES,
            ),
            trail_busy: Mutex::default(),
            own: Mutex::default(),
            secrets,
            region,
            regions: spec.regions.clone().unwrap_or_default(),
        })
    }

    pub(super) fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_string(), |t, s| s.redact(&t))
    }

    pub(super) fn err<E: ProvideErrorMetadata + std::error::Error + 'static>(
        &self,
        operation: &'static str,
        write: bool,
        e: &SdkError<E, HttpResponse>,
    ) -> ProviderError {
        sdk_error(operation, write, e, &|t| self.redact(t))
    }

    service_client!(ec2, aws_sdk_ec2);

    service_client!(waf, aws_sdk_wafv2);

    service_client!(guardduty, aws_sdk_guardduty);

    service_client!(cloudwatch, aws_sdk_cloudwatch);

    service_client!(cloudtrail, aws_sdk_cloudtrail);

    /// The `LookupEvents` pace of `region`.
    pub(super) fn lookup_pace(&self, region: &str) -> Arc<RateLimiter> {
        self.lookups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(region.to_string())
            .or_insert_with(|| {
                Arc::new(RateLimiter::new(
                    LOOKUPS_PER_SECOND * 60,
                    LOOKUPS_PER_SECOND,
                ))
            })
            .clone()
    }
}

/// CloudTrail answers at most this many `LookupEvents` a second per account and region, and
/// throttles past it.
const LOOKUPS_PER_SECOND: u32 = 2;

fn parse_keys(secret: &SecretString) -> Result<StaticKeys, Error> {
    // The parse error is not quoted: serde's messages can echo parts of the input.
    let keys: StaticKeys = serde_json::from_str(secret.expose()).map_err(|_| {
        Error::CredentialsMissing(
            "the AWS credential must be a JSON object {\"accessKeyId\", \"secretAccessKey\", \"sessionToken\"?}"
                .into(),
        )
    })?;
    if keys.access_key_id.trim().is_empty() || keys.secret_access_key.trim().is_empty() {
        return Err(Error::CredentialsMissing(
            "accessKeyId and secretAccessKey must not be empty".into(),
        ));
    }
    Ok(keys)
}

/// A declared item's API body (its `raw`), read back as the policy block's type.
pub(super) fn from_raw<T: serde::de::DeserializeOwned>(
    item: &Item,
    operation: &'static str,
) -> Result<T, ProviderError> {
    item.raw
        .clone()
        .and_then(|r| serde_json::from_value(r).ok())
        .ok_or_else(|| {
            ProviderError::new(
                Category::InvalidSpec,
                operation,
                format!("{}: the declared item could not be read back", item.key),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_keys_parse_without_echoing_the_secret() {
        let bad = SecretString::new(r#"{"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": 42}"#);
        let err = parse_keys(&bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("JSON object") && !err.contains("AKIA") && !err.contains("42"),
            "{err}"
        );
        let empty = SecretString::new(r#"{"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": " "}"#);
        assert!(parse_keys(&empty).is_err());
        let ok = SecretString::new(
            r#"{"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "wJalr", "sessionToken": "tok"}"#,
        );
        assert!(parse_keys(&ok).is_ok_and(|k| k.session_token.as_deref() == Some("tok")));
    }
}
