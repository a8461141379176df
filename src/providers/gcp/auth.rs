//! OAuth2 access tokens for GCP, as Google's own client libraries get them:
//!
//! - a service-account key JSON (from the Secret): an RS256-signed JWT is exchanged at the
//!   key's `token_uri` (grant `urn:ietf:params:oauth:grant-type:jwt-bearer`);
//! - `source: Ambient`: the metadata server (GKE Workload Identity, GCE), whose host can be
//!   overridden with `GCE_METADATA_HOST` as in Google's libraries;
//! - an `external_account` credential configuration (Workload Identity Federation: EKS, AKS,
//!   GitHub Actions or any OIDC/SAML issuer → GCP): the workload's own token, read from
//!   `credential_source.file` or `.url`, is exchanged at the Security Token Service
//!   (RFC 8693 token exchange), and the federated token optionally exchanged again for a
//!   service account's token (`service_account_impersonation_url`, IAM Credentials
//!   `generateAccessToken`).
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
use crate::trust::{Principal, Trust};

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
    External(ExternalAccount),
}

/// An `external_account` credential configuration. It holds no secret itself: it says where
/// the workload's token is and where to exchange it.
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalAccount {
    /// The workload identity pool provider, `//iam.googleapis.com/projects/…/providers/…`.
    pub audience: String,
    /// e.g. `urn:ietf:params:oauth:token-type:jwt`.
    pub subject_token_type: String,
    /// The STS token endpoint (`https://sts.googleapis.com/v1/token`).
    pub token_url: String,
    pub subject: SubjectSource,
    /// `…/serviceAccounts/{email}:generateAccessToken`, to act as that service account.
    pub impersonation_url: Option<String>,
    /// Lifetime asked for the impersonated token (default 3600 s).
    pub impersonation_lifetime: u64,
}

/// Where the workload's own (subject) token is read, at every exchange.
#[derive(Clone, PartialEq)]
pub enum SubjectSource {
    /// A file the platform keeps fresh (EKS/AKS projected service-account tokens), read only
    /// under the directories the admin allows (checked again, links resolved, at each read).
    File {
        path: String,
        format: SubjectFormat,
        allowed: Vec<std::path::PathBuf>,
    },
    /// A local URL (e.g. Azure IMDS), fetched with these headers.
    Url {
        url: String,
        headers: Vec<(String, String)>,
        format: SubjectFormat,
    },
}

/// Header values are left out: they may carry a credential.
impl std::fmt::Debug for SubjectSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File { path, format, .. } => f
                .debug_struct("File")
                .field("path", path)
                .field("format", format)
                .finish(),
            Self::Url {
                url,
                headers,
                format,
            } => f
                .debug_struct("Url")
                .field("url", url)
                .field(
                    "headers",
                    &headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
                )
                .field("format", format)
                .finish(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum SubjectFormat {
    /// The whole content is the token.
    Text,
    /// A JSON object; the token is this field.
    Json { field: String },
}

const STS_TOKEN_URL: &str = "https://sts.googleapis.com/v1/token";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const DEFAULT_IMPERSONATION_LIFETIME: u64 = 3600;

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
            Self::External(account) => account.fmt(f),
        }
    }
}

fn rejected(message: impl Into<String>) -> ProviderError {
    ProviderError::new(Category::CredentialsRejected, "get_access_token", message)
}

fn missing(message: impl Into<String>) -> ProviderError {
    ProviderError::new(Category::CredentialsMissing, "get_access_token", message)
}

fn unsupported(message: impl Into<String>) -> ProviderError {
    ProviderError::new(Category::ProviderNotSupported, "get_access_token", message)
}

/// What the operator's admin allows a credential to name, and who supplied it.
#[derive(Clone, Copy, Debug)]
pub struct Rules<'a> {
    pub trust: &'a Trust,
    pub principal: Principal,
}

fn forbidden(message: impl Into<String>) -> ProviderError {
    ProviderError::new(Category::Forbidden, "get_access_token", message)
}

/// A URL a token is sent to (`token_uri`, `token_url`, `service_account_impersonation_url`):
/// well-formed, and at Google's token hosts unless the admin allows another.
fn checked_token_url(field: &str, url: &str, rules: Rules<'_>) -> Result<String, ProviderError> {
    let parsed = crate::trust::url::parse(url, crate::trust::url::Rules::TOKEN)
        .map_err(|e| rejected(format!("{field}: {e}")))?;
    if crate::trust::hosts::is_token_host(&parsed.host, parsed.port, &rules.trust.token_hosts) {
        return Ok(parsed.url);
    }
    Err(forbidden(format!(
        "{field}: {} is not one of Google's token hosts (*.googleapis.com, accounts.google.com); \
         the operator's admin must allow it (flag --allow-token-host, Helm value \
         security.allowedTokenHosts)",
        parsed.authority()
    )))
}

/// Hosts of the instance metadata services (GCE, Azure IMDS, AWS IMDS): the identity of the
/// machine the operator runs on.
const METADATA_HOSTS: &[&str] = &[
    "169.254.169.254",
    "metadata.google.internal",
    "fd00:ec2::254",
];

/// `credential_source.url`: an admin-listed host, or the metadata service when the admin
/// supplied the credential (a tenant's credential must not borrow the machine's identity).
fn checked_source_url(url: &str, rules: Rules<'_>) -> Result<String, ProviderError> {
    let parsed = crate::trust::url::parse(url, crate::trust::url::Rules::SUBJECT_SOURCE)
        .map_err(|e| rejected(format!("credential_source.url: {e}")))?;
    let listed = rules
        .trust
        .credential_url_hosts
        .iter()
        .any(|p| p.matches(&parsed.host, parsed.port));
    let metadata =
        rules.principal == Principal::Admin && METADATA_HOSTS.contains(&parsed.host.as_str());
    if listed || metadata {
        return Ok(parsed.url);
    }
    Err(forbidden(format!(
        "credential_source.url: {} is not a host the operator's admin allows for credential \
         sources (flag --allow-credential-source-host, Helm value \
         security.allowedCredentialSourceHosts){}",
        parsed.authority(),
        if METADATA_HOSTS.contains(&parsed.host.as_str()) {
            "; the metadata server is the operator's own identity, usable only from a \
             ClusterCloudProvider or a namespace allowed ambient credentials"
        } else {
            ""
        }
    )))
}

impl ExternalAccount {
    /// Reads the fields of an `external_account` configuration, as Google's libraries do, and
    /// refuses what `rules` do not allow.
    pub fn from_json(v: &Value, rules: Rules<'_>) -> Result<Self, ProviderError> {
        let text = |name: &str| v.get(name).and_then(Value::as_str).map(str::to_string);
        let audience = text("audience")
            .filter(|a| !a.is_empty())
            .ok_or_else(|| rejected("the external_account configuration has no audience"))?;
        let subject_token_type = text("subject_token_type").ok_or_else(|| {
            rejected("the external_account configuration has no subject_token_type")
        })?;
        if subject_token_type == "urn:ietf:params:aws:token-type:aws4_request" {
            return Err(unsupported(
                "AWS-signed subject tokens (credential_source.environment_id aws1) are not supported; use an OIDC token file (e.g. the EKS projected service-account token)",
            ));
        }
        if text("workforce_pool_user_project").is_some() {
            return Err(unsupported(
                "workforce pool (user) credentials are not supported; use a workload identity pool",
            ));
        }
        let token_url = checked_token_url(
            "token_url",
            &text("token_url").unwrap_or_else(|| STS_TOKEN_URL.to_string()),
            rules,
        )?;
        let source = v
            .get("credential_source")
            .filter(|s| s.is_object())
            .ok_or_else(|| {
                rejected("the external_account configuration has no credential_source")
            })?;
        let format = match source.get("format") {
            None => SubjectFormat::Text,
            Some(f) => match f.get("type").and_then(Value::as_str) {
                None | Some("text") => SubjectFormat::Text,
                Some("json") => SubjectFormat::Json {
                    field: f
                        .get("subject_token_field_name")
                        .and_then(Value::as_str)
                        .filter(|n| !n.is_empty())
                        .ok_or_else(|| {
                            rejected("credential_source.format json needs subject_token_field_name")
                        })?
                        .to_string(),
                },
                Some(other) => {
                    return Err(rejected(format!(
                        "credential_source.format.type {other:?} is neither text nor json"
                    )));
                }
            },
        };
        let field = |name: &str| source.get(name).and_then(Value::as_str).map(str::to_string);
        let subject = if let Some(path) = field("file") {
            // Every file in the operator's pod is the operator's: a projected token there is
            // its own identity, which a tenant must not borrow.
            if rules.principal == Principal::Tenant {
                return Err(forbidden(
                    "credential_source.file names a file of the operator's pod, i.e. the \
                     operator's own identity, usable only from a ClusterCloudProvider or a \
                     namespace allowed ambient credentials (--ambient-namespace)",
                ));
            }
            crate::trust::files::check_written(&path, &rules.trust.credential_dirs)
                .map_err(|e| forbidden(format!("credential_source.file: {e}")))?;
            SubjectSource::File {
                path,
                format,
                allowed: rules.trust.credential_dirs.clone(),
            }
        } else if let Some(url) = field("url") {
            let headers = source
                .get("headers")
                .and_then(Value::as_object)
                .map(|h| {
                    h.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            SubjectSource::Url {
                url: checked_source_url(&url, rules)?,
                headers,
                format,
            }
        } else if source.get("executable").is_some() || source.get("environment_id").is_some() {
            return Err(unsupported(
                "executable- and AWS-sourced external-account credentials are not supported; use credential_source.file or .url",
            ));
        } else {
            return Err(rejected("credential_source needs file or url"));
        };
        let impersonation_url = text("service_account_impersonation_url")
            .map(|u| checked_token_url("service_account_impersonation_url", &u, rules))
            .transpose()?;
        let impersonation_lifetime = v
            .get("service_account_impersonation")
            .and_then(|i| i.get("token_lifetime_seconds"))
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_IMPERSONATION_LIFETIME);
        if !(600..=43200).contains(&impersonation_lifetime) {
            return Err(rejected(
                "service_account_impersonation.token_lifetime_seconds must be 600..43200",
            ));
        }
        Ok(Self {
            audience,
            subject_token_type,
            token_url,
            subject,
            impersonation_url,
            impersonation_lifetime,
        })
    }
}

/// The token inside a subject-token document, as the configuration's format says.
pub fn subject_from(content: &str, format: &SubjectFormat) -> Result<SecretString, ProviderError> {
    let token = match format {
        SubjectFormat::Text => content.trim().to_string(),
        SubjectFormat::Json { field } => {
            // Parse errors are not quoted: they could echo the token.
            let v: Value = serde_json::from_str(content)
                .map_err(|_| missing("the subject token source did not answer JSON"))?;
            v.get(field)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    missing(format!(
                        "the subject token JSON has no string field {field:?}"
                    ))
                })?
        }
    };
    if token.is_empty() {
        return Err(missing("the subject token is empty"));
    }
    Ok(SecretString::new(token))
}

impl Source {
    /// Reads a service-account key JSON (or an `external_account` configuration). Nothing of
    /// the key itself appears in errors; the URLs it names must pass `rules`.
    pub fn from_key_json(key: &SecretString, rules: Rules<'_>) -> Result<Self, ProviderError> {
        let v: Value = serde_json::from_str(key.expose())
            .map_err(|_| rejected("the credential is not a JSON service-account key"))?;
        let field = |name: &str| v.get(name).and_then(Value::as_str).map(str::to_string);
        match field("type").as_deref() {
            Some("service_account") | None => {}
            Some("external_account") => {
                return ExternalAccount::from_json(&v, rules).map(Self::External);
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
        let token_uri = checked_token_url(
            "token_uri",
            &field("token_uri")
                .unwrap_or_else(|| "https://oauth2.googleapis.com/token".to_string()),
            rules,
        )?;
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
    /// For the clients an external account needs besides the token endpoint.
    settings: HttpSettings,
    metrics: Option<Arc<Metrics>>,
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
            Source::External(account) => account.token_url.clone(),
        };
        Ok(Self {
            source,
            http: HttpClient::new(settings.clone(), Auth::None, metrics.clone())?,
            settings,
            metrics,
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
            Source::External(account) => return self.fetch_external(account).await,
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

    fn client(&self, base_url: &str, auth: Auth) -> Result<HttpClient, ProviderError> {
        let settings = HttpSettings {
            base_url: base_url.trim_end_matches('/').to_string(),
            ..self.settings.clone()
        };
        HttpClient::new(settings, auth, self.metrics.clone())
    }

    /// The workload's own token, read afresh at every exchange (the platform rotates it).
    async fn subject_token(&self, source: &SubjectSource) -> Result<SecretString, ProviderError> {
        match source {
            SubjectSource::File {
                path,
                format,
                allowed,
            } => {
                let (path, allowed) = (std::path::PathBuf::from(path), allowed.clone());
                let content = tokio::task::spawn_blocking(move || {
                    crate::trust::files::read_checked(&path, &allowed)
                })
                .await
                .map_err(|_| missing("credential_source.file: the read was cancelled"))?
                .map_err(|e| match e {
                    crate::trust::files::FileError::Refused(m) => {
                        forbidden(format!("credential_source.file {m}"))
                    }
                    crate::trust::files::FileError::Unreadable(m) => {
                        missing(format!("credential_source.file {m}"))
                    }
                })?;
                subject_from(&content, format)
            }
            SubjectSource::Url {
                url,
                headers,
                format,
            } => {
                let mut req = Request::get("get_subject_token", "");
                for (name, value) in headers {
                    req = req.header(name.clone(), value.clone());
                }
                let resp = self.client(url, Auth::None)?.send(&req).await?;
                if resp.status == 404 {
                    return Err(missing("credential_source.url answered 404"));
                }
                subject_from(&String::from_utf8_lossy(&resp.body), format)
            }
        }
    }

    /// Subject token → STS federated token → (optionally) the service account's token.
    async fn fetch_external(
        &self,
        account: &ExternalAccount,
    ) -> Result<(SecretString, Duration), ProviderError> {
        let subject = self.subject_token(&account.subject).await?;
        // A refused exchange is the credential's fault; whatever the STS echoes, the subject
        // token never reaches the error.
        let refused = |e: ProviderError| {
            let mut e = match e.category {
                Category::WriteRejected | Category::BadResponse => rejected(e.message),
                _ => e,
            };
            e.message = subject.redact(&e.message);
            e
        };
        let req = Request::new(Method::POST, "sts_token_exchange", "").form(vec![
            ("grant_type".into(), TOKEN_EXCHANGE.into()),
            ("audience".into(), account.audience.clone()),
            ("scope".into(), SCOPE.into()),
            ("requested_token_type".into(), ACCESS_TOKEN_TYPE.into()),
            (
                "subject_token_type".into(),
                account.subject_token_type.clone(),
            ),
            ("subject_token".into(), subject.expose().to_string()),
        ]);
        let (_, body) = self.http.send_json(&req).await.map_err(refused)?;
        let federated = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(SecretString::new)
            .ok_or_else(|| {
                ProviderError::new(
                    Category::BadResponse,
                    "sts_token_exchange",
                    "answer without access_token",
                )
            })?;
        let federated_lifetime = body
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(300);
        let Some(url) = &account.impersonation_url else {
            return Ok((federated, Duration::from_secs(federated_lifetime)));
        };
        // The federated token is this client's bearer, so the layer redacts it from errors.
        let iam = self.client(url, Auth::Bearer(federated))?;
        let req = Request::new(Method::POST, "generate_access_token", "").json(json!({
            "scope": [SCOPE],
            "lifetime": format!("{}s", account.impersonation_lifetime),
        }));
        let (status, body) = iam.send_json(&req).await.map_err(refused)?;
        if status == 404 {
            return Err(rejected(
                "service_account_impersonation_url answered 404 (no such service account?)",
            ));
        }
        let token = body
            .get("accessToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ProviderError::new(
                    Category::BadResponse,
                    "generate_access_token",
                    "answer without accessToken",
                )
            })?;
        let lifetime = body
            .get("expireTime")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .and_then(|t| u64::try_from(t.as_second() - jiff::Timestamp::now().as_second()).ok())
            .unwrap_or(account.impersonation_lifetime);
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
                Category::CredentialsRejected,
            ),
        ];
        for (key, want) in cases {
            let trust = Trust::default();
            let rules = Rules {
                trust: &trust,
                principal: Principal::Tenant,
            };
            let err = Source::from_key_json(&SecretString::new(key), rules).expect_err("bad key");
            assert_eq!(err.category, want, "{key}");
            assert!(!err.to_string().contains("sekrit"), "{err}");
            assert!(!err.to_string().contains("c2Vrcml0"), "{err}");
        }
    }

    #[test]
    fn metadata_host_override() {
        let base = |s: Source| match s {
            Source::Metadata { base_url } => base_url,
            Source::ServiceAccount { .. } | Source::External(_) => String::new(),
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

    const AUDIENCE: &str =
        "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/p/providers/eks";

    /// An admin who allows token files under /var/run/secrets and subject-token URLs at
    /// 127.0.0.1 and idp.example.com.
    fn lab_trust() -> Trust {
        Trust {
            credential_dirs: vec!["/var/run/secrets".into()],
            credential_url_hosts: vec![
                crate::trust::HostPattern::parse("127.0.0.1").expect("pattern"),
                crate::trust::HostPattern::parse("idp.example.com").expect("pattern"),
            ],
            ..Trust::default()
        }
    }

    fn external_as(extra: Value, principal: Principal) -> Result<ExternalAccount, ProviderError> {
        let mut v = json!({"type": "external_account", "audience": AUDIENCE,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "credential_source": {"file": "/var/run/secrets/token"}});
        if let (Some(o), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(extra.clone());
        }
        let trust = lab_trust();
        ExternalAccount::from_json(
            &v,
            Rules {
                trust: &trust,
                principal,
            },
        )
    }

    fn external(extra: Value) -> Result<ExternalAccount, ProviderError> {
        external_as(extra, Principal::Admin)
    }

    /// Issue 8 item 2: a tenant's `external_account` cannot name the operator's files or the
    /// metadata server, nor send a token anywhere but Google; the admin's reads files only
    /// under the listed directories and never the service-account token or /proc.
    #[test]
    fn a_tenant_credential_cannot_name_the_operators_files_or_foreign_token_hosts() {
        let refusal = |extra: &Value, principal: Principal| {
            external_as(extra.clone(), principal)
                .err()
                .map(|e| (e.category, e.message))
                .unwrap_or_else(|| panic!("{extra} accepted"))
        };
        let sa_token = "/var/run/secrets/kubernetes.io/serviceaccount/token";
        let cases = [
            (
                json!({"credential_source": {"file": "/var/run/secrets/token"}}),
                Principal::Tenant,
                "operator's own identity",
            ),
            (
                json!({"credential_source": {"file": sa_token}}),
                Principal::Tenant,
                "operator's own identity",
            ),
            (
                json!({"credential_source": {"file": sa_token}}),
                Principal::Admin,
                "never",
            ),
            (
                json!({"credential_source": {"file": "/proc/self/environ"}}),
                Principal::Admin,
                "outside",
            ),
            (
                json!({"credential_source": {"file": "/var/run/secrets/../../proc/self/environ"}}),
                Principal::Admin,
                "..",
            ),
            (
                json!({"credential_source": {"file": "token"}}),
                Principal::Admin,
                "absolute",
            ),
            (
                json!({"token_url": "https://attacker.example/v1/token"}),
                Principal::Tenant,
                "Google's token hosts",
            ),
            (
                json!({"token_url": "https://sts.googleapis.com.attacker.example/v1/token"}),
                Principal::Admin,
                "Google's token hosts",
            ),
            (
                json!({"service_account_impersonation_url": "https://attacker.example/x:generateAccessToken"}),
                Principal::Admin,
                "Google's token hosts",
            ),
            (
                json!({"credential_source": {"url": "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/identity"}}),
                Principal::Tenant,
                "operator's own identity",
            ),
            (
                json!({"credential_source": {"url": "https://collector.attacker.example/t"}}),
                Principal::Admin,
                "not a host",
            ),
        ];
        for (extra, principal, needle) in cases {
            let (category, message) = refusal(&extra, principal);
            assert_eq!(category, Category::Forbidden, "{extra}: {message}");
            assert!(
                message.contains(needle),
                "{extra} ({principal:?}): {message}"
            );
        }
        let e = external_as(
            json!({"token_url": "http://[::1]:@attacker.example/v1/token"}),
            Principal::Admin,
        )
        .expect_err("user info");
        assert!(e.message.contains("user info"), "{e}");
        // The admin's own credential may use the metadata server.
        assert!(
            external_as(json!({"credential_source": {"url": "http://169.254.169.254/computeMetadata/v1/x"}}), Principal::Admin).is_ok()
        );
        // A service-account key's token_uri is held to the same rule.
        let trust = Trust::default();
        let key = json!({"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com",
            "private_key": "x", "token_uri": "https://attacker.example/token"});
        let e = Source::from_key_json(
            &SecretString::new(key.to_string()),
            Rules {
                trust: &trust,
                principal: Principal::Tenant,
            },
        )
        .expect_err("foreign token_uri");
        assert_eq!(e.category, Category::Forbidden, "{e}");
    }

    #[test]
    fn external_account_configurations_are_read_as_google_documents_them() {
        let file = SubjectSource::File {
            path: "/var/run/secrets/token".into(),
            format: SubjectFormat::Text,
            allowed: vec!["/var/run/secrets".into()],
        };
        let ok = external(json!({})).expect("minimal");
        assert_eq!(
            (
                ok.token_url.as_str(),
                &ok.subject,
                ok.impersonation_url.as_deref()
            ),
            ("https://sts.googleapis.com/v1/token", &file, None)
        );
        let imds = json!({"credential_source": {"url": "http://169.254.169.254/metadata/identity/oauth2/token",
            "headers": {"Metadata": "True"},
            "format": {"type": "json", "subject_token_field_name": "access_token"}}});
        assert!(
            external(imds).is_ok(),
            "the link-local metadata service may be plain http"
        );
        let remote = json!({"credential_source": {"url": "http://tokens.example.com/token"}});
        assert_eq!(
            external(remote).err().map(|e| e.category),
            Some(Category::CredentialsRejected),
            "other plain-http sources are refused"
        );
        let link_local_sts = json!({"token_url": "http://169.254.169.254/v1/token"});
        assert_eq!(
            external(link_local_sts).err().map(|e| e.category),
            Some(Category::CredentialsRejected),
            "tokens are only ever sent over https"
        );
        let url = external(json!({"credential_source": {"url": "http://127.0.0.1:8080/token",
            "headers": {"Metadata": "True"},
            "format": {"type": "json", "subject_token_field_name": "access_token"}},
            "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken",
            "service_account_impersonation": {"token_lifetime_seconds": 1200}}))
        .expect("url");
        assert_eq!(
            url.subject,
            SubjectSource::Url {
                url: "http://127.0.0.1:8080/token".into(),
                headers: vec![("Metadata".into(), "True".into())],
                format: SubjectFormat::Json {
                    field: "access_token".into()
                },
            }
        );
        assert_eq!(url.impersonation_lifetime, 1200);
        let with_secret = external(
            json!({"credential_source": {"url": "https://idp.example.com/token",
            "headers": {"Authorization": "Bearer sekrit"}}}),
        )
        .expect("url with a credential header");
        let shown = format!("{with_secret:?}");
        assert!(
            shown.contains("Authorization") && !shown.contains("sekrit"),
            "{shown}"
        );
        let cases = [
            (json!({"audience": ""}), Category::CredentialsRejected),
            (
                json!({"credential_source": {}}),
                Category::CredentialsRejected,
            ),
            (
                json!({"credential_source": {"file": "/t", "format": {"type": "json"}}}),
                Category::CredentialsRejected,
            ),
            (
                json!({"credential_source": {"file": "/t", "format": {"type": "yaml"}}}),
                Category::CredentialsRejected,
            ),
            (
                json!({"token_url": "http://sts.example.com/v1/token"}),
                Category::CredentialsRejected,
            ),
            (
                json!({"credential_source": {"environment_id": "aws1", "region_url": "http://169.254.169.254"}}),
                Category::ProviderNotSupported,
            ),
            (
                json!({"credential_source": {"executable": {"command": "/bin/token"}}}),
                Category::ProviderNotSupported,
            ),
            (
                json!({"workforce_pool_user_project": "p"}),
                Category::ProviderNotSupported,
            ),
            (
                json!({"service_account_impersonation": {"token_lifetime_seconds": 60}}),
                Category::CredentialsRejected,
            ),
        ];
        for (extra, want) in cases {
            assert_eq!(
                external(extra.clone()).err().map(|e| e.category),
                Some(want),
                "{extra}"
            );
        }
    }

    #[test]
    fn subject_tokens_are_read_as_text_or_a_json_field_without_echoing_them() {
        let json_format = SubjectFormat::Json {
            field: "id_token".into(),
        };
        let cases = [
            (
                "eyJ.sekrit.sig\n",
                SubjectFormat::Text,
                Ok("eyJ.sekrit.sig"),
            ),
            (
                r#"{"id_token": "eyJ.sekrit"}"#,
                json_format.clone(),
                Ok("eyJ.sekrit"),
            ),
            (
                r#"{"access_token": "sekrit"}"#,
                json_format.clone(),
                Err(Category::CredentialsMissing),
            ),
            (
                "not json sekrit",
                json_format,
                Err(Category::CredentialsMissing),
            ),
            (
                "  \n",
                SubjectFormat::Text,
                Err(Category::CredentialsMissing),
            ),
        ];
        for (content, format, want) in cases {
            match (subject_from(content, &format), want) {
                (Ok(token), Ok(text)) => assert_eq!(token.expose(), text),
                (Err(e), Err(category)) => {
                    assert_eq!(e.category, category, "{content}");
                    assert!(!e.to_string().contains("sekrit"), "{e}");
                }
                (got, want) => panic!("{content}: {:?} vs {want:?}", got.map(|_| ())),
            }
        }
    }
}
