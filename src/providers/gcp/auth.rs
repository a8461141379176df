//! OAuth2 access tokens for GCP, as Google's own client libraries get them:
//!
//! - a service-account key JSON (from the Secret): an RS256-signed JWT is exchanged at the
//!   key's `token_uri` (grant `urn:ietf:params:oauth:grant-type:jwt-bearer`);
//! - `source: Ambient`: the metadata server (GKE Workload Identity, GCE), whose host can be
//!   overridden with `GCE_METADATA_HOST` as in Google's libraries.
//!
//! The token is cached in a [`SharedToken`] that every API client presents, and refreshed a
//! minute before it expires. Keys and tokens are only ever held as [`SecretString`]s.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::error::{Category, ProviderError};
use crate::http::{Auth, HttpClient, HttpSettings, Request, SharedToken};
use crate::metrics::Metrics;
use crate::secret::SecretString;

pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
pub const DEFAULT_METADATA_HOST: &str = "metadata.google.internal";
const METADATA_TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
/// Refresh this long before the token's stated expiry.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
const JWT_LIFETIME_SECS: u64 = 3600;

/// Where tokens come from.
pub enum Source {
    ServiceAccount {
        client_email: String,
        key_id: Option<String>,
        private_key: SecretString,
        token_uri: String,
    },
    Metadata {
        /// `http://HOST` of the metadata server.
        base_url: String,
    },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ServiceAccount { client_email, .. } => f
                .debug_struct("ServiceAccount")
                .field("client_email", client_email)
                .finish_non_exhaustive(),
            Self::Metadata { base_url } => f
                .debug_struct("Metadata")
                .field("base_url", base_url)
                .finish(),
        }
    }
}

fn rejected(message: impl Into<String>) -> ProviderError {
    ProviderError::new(Category::CredentialsRejected, "get_access_token", message)
}

impl Source {
    /// Reads a service-account key JSON. Nothing of the key itself appears in errors.
    pub fn from_key_json(key: &SecretString) -> Result<Self, ProviderError> {
        let v: Value = serde_json::from_str(key.expose())
            .map_err(|_| rejected("the credential is not a JSON service-account key"))?;
        let field = |name: &str| v.get(name).and_then(Value::as_str).map(str::to_string);
        match field("type").as_deref() {
            Some("service_account") | None => {}
            Some("external_account") => {
                return Err(ProviderError::new(
                    Category::ProviderNotSupported,
                    "get_access_token",
                    "external-account (workload identity federation) credentials are not supported yet; use a service-account key or source: Ambient",
                ));
            }
            Some(other) => {
                return Err(rejected(format!(
                    "credential type {other:?} is not a service-account key"
                )));
            }
        }
        let client_email =
            field("client_email").ok_or_else(|| rejected("the key has no client_email"))?;
        let private_key = field("private_key")
            .map(SecretString::new)
            .ok_or_else(|| rejected("the key has no private_key"))?;
        let token_uri =
            field("token_uri").unwrap_or_else(|| "https://oauth2.googleapis.com/token".to_string());
        // Fail now rather than at the first call.
        key_pair(&private_key)?;
        Ok(Self::ServiceAccount {
            client_email,
            key_id: field("private_key_id"),
            private_key,
            token_uri,
        })
    }

    pub fn metadata(host: Option<&str>) -> Self {
        let host = host
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .unwrap_or(DEFAULT_METADATA_HOST);
        let base_url = if host.starts_with("http://") || host.starts_with("https://") {
            host.to_string()
        } else {
            format!("http://{host}")
        };
        Self::Metadata { base_url }
    }
}

fn key_pair(pem: &SecretString) -> Result<ring::signature::RsaKeyPair, ProviderError> {
    let b64: String = pem
        .expose()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| rejected("private_key is not PEM"))?;
    ring::signature::RsaKeyPair::from_pkcs8(&der)
        .map_err(|_| rejected("private_key is not a PKCS#8 RSA key"))
}

/// An RS256 JWT asserting `client_email` for `scope`, audience `token_uri`.
pub fn signed_assertion(
    client_email: &str,
    key_id: Option<&str>,
    private_key: &SecretString,
    token_uri: &str,
    now: u64,
) -> Result<SecretString, ProviderError> {
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = key_id {
        header["kid"] = json!(kid);
    }
    let claims = json!({
        "iss": client_email, "sub": client_email, "scope": SCOPE, "aud": token_uri,
        "iat": now, "exp": now + JWT_LIFETIME_SECS,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let pair = key_pair(private_key)?;
    let mut signature = vec![0u8; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| rejected("signing the JWT failed"))?;
    Ok(SecretString::new(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    )))
}

/// Gets and caches access tokens; the [`SharedToken`] is what API clients present.
pub struct Authenticator {
    source: Source,
    http: HttpClient,
    slot: SharedToken,
    valid_until: Mutex<Option<Instant>>,
}

impl Authenticator {
    pub fn new(
        source: Source,
        mut settings: HttpSettings,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, ProviderError> {
        settings.base_url = match &source {
            Source::ServiceAccount { token_uri, .. } => token_uri.clone(),
            Source::Metadata { base_url } => base_url.clone(),
        };
        Ok(Self {
            source,
            http: HttpClient::new(settings, Auth::None, metrics)?,
            slot: Arc::new(std::sync::RwLock::new(SecretString::new(""))),
            valid_until: Mutex::new(None),
        })
    }

    pub fn shared(&self) -> SharedToken {
        self.slot.clone()
    }

    /// Ensures the shared token is valid for at least [`EXPIRY_MARGIN`].
    pub async fn refresh(&self) -> Result<(), ProviderError> {
        let mut until = self.valid_until.lock().await;
        if until.is_some_and(|t| Instant::now() < t) {
            return Ok(());
        }
        let (token, lifetime) = self.fetch().await?;
        *self.slot.write().unwrap_or_else(|p| p.into_inner()) = token;
        *until = Some(Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN));
        Ok(())
    }

    /// Forgets the cached token, e.g. after a 401.
    pub async fn invalidate(&self) {
        *self.valid_until.lock().await = None;
    }

    async fn fetch(&self) -> Result<(SecretString, Duration), ProviderError> {
        let req = match &self.source {
            Source::ServiceAccount {
                client_email,
                key_id,
                private_key,
                token_uri,
            } => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let jwt =
                    signed_assertion(client_email, key_id.as_deref(), private_key, token_uri, now)?;
                Request::new(Method::POST, "get_access_token", "").form(vec![
                    (
                        "grant_type".into(),
                        "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
                    ),
                    ("assertion".into(), jwt.expose().to_string()),
                ])
            }
            Source::Metadata { .. } => Request::get("get_access_token", METADATA_TOKEN_PATH)
                .header("metadata-flavor", "Google"),
        };
        let (status, body) = self.http.send_json(&req).await.map_err(|e| {
            // A refused grant is an OAuth2 400 (`invalid_grant`): the credential is at fault.
            if matches!(e.category, Category::WriteRejected | Category::BadResponse) {
                rejected(e.message)
            } else {
                e
            }
        })?;
        if status == 404 {
            return Err(rejected(
                "the token endpoint answered 404 (no service account for this workload?)",
            ));
        }
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ProviderError::new(
                    Category::BadResponse,
                    "get_access_token",
                    "answer without access_token",
                )
            })?;
        let lifetime = body
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(300);
        Ok((SecretString::new(token), Duration::from_secs(lifetime)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_keys_are_rejected_without_echoing_them() {
        let cases = [
            ("not json at all sekrit", Category::CredentialsRejected),
            (
                r#"{"type":"service_account","client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nc2Vrcml0\n-----END PRIVATE KEY-----\n"}"#,
                Category::CredentialsRejected,
            ),
            (
                r#"{"type":"authorized_user","client_secret":"sekrit"}"#,
                Category::CredentialsRejected,
            ),
            (
                r#"{"type":"external_account"}"#,
                Category::ProviderNotSupported,
            ),
        ];
        for (key, want) in cases {
            let err = Source::from_key_json(&SecretString::new(key)).expect_err("bad key");
            assert_eq!(err.category, want, "{key}");
            assert!(!err.to_string().contains("sekrit"), "{err}");
            assert!(!err.to_string().contains("c2Vrcml0"), "{err}");
        }
    }

    #[test]
    fn metadata_host_override() {
        let base = |s: Source| match s {
            Source::Metadata { base_url } => base_url,
            Source::ServiceAccount { .. } => String::new(),
        };
        assert_eq!(
            base(Source::metadata(None)),
            "http://metadata.google.internal"
        );
        assert_eq!(
            base(Source::metadata(Some("127.0.0.1:8080"))),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            base(Source::metadata(Some(""))),
            "http://metadata.google.internal"
        );
    }
}
