//! OAuth2 access tokens for GCP, through Google's own library (`google-cloud-auth`):
//!
//! - a service-account key JSON (from the Secret): the library signs a self-signed JWT
//!   (RS256, scope `cloud-platform`) that the APIs accept as the bearer itself; no token
//!   exchange happens (<https://developers.google.com/identity/protocols/oauth2/service-account#jwt-auth>);
//! - `source: Ambient`: the metadata server (GKE Workload Identity, GCE), whose host can be
//!   overridden with `GCE_METADATA_HOST` as in Google's libraries;
//! - an `external_account` credential configuration (Workload Identity Federation: EKS, AKS,
//!   GitHub Actions or any OIDC/SAML issuer, AWS, or an executable → GCP): the workload's own
//!   token is exchanged at the Security Token Service (RFC 8693), and the federated token
//!   optionally exchanged again for a service account's token
//!   (`service_account_impersonation_url`).
//!
//! Perimeter checks every credential first ([`Rules`]: token hosts, credential files and
//! URLs, who may use the operator's own identity) and hands the library a document rebuilt
//! from the fields it checked, never the one it was given. The token is copied into a
//! [`SharedToken`] that every API client presents. Keys and tokens are only ever held as
//! [`SecretString`]s.

use std::time::Duration;

use google_cloud_auth::credentials::subject_token::{
    Builder as SubjectTokenBuilder, SubjectToken, SubjectTokenProvider,
};
use google_cloud_auth::credentials::{
    CacheableResource, Credentials, external_account, mds, service_account,
};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use crate::error::{Category, ProviderError};
use crate::http::{Auth, HttpClient, HttpSettings, Request, SharedToken};
use crate::metrics::Metrics;
use crate::secret::SecretString;
use crate::trust::{Principal, Trust};

pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
pub const DEFAULT_METADATA_HOST: &str = "metadata.google.internal";
/// Google's libraries refuse to run a credential executable unless this is `1` in the
/// environment (the Helm chart sets it when `security.allowCredentialExecutables` is on).
pub const ALLOW_EXECUTABLES_ENV: &str = "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES";
const AWS_TOKEN_TYPE: &str = "urn:ietf:params:aws:token-type:aws4_request";

/// Where tokens come from.
pub enum Source {
    ServiceAccount {
        client_email: String,
        /// The key document the library receives (rebuilt from the checked fields).
        key: SecretString,
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
    /// Lifetime asked for the impersonated token: checked (600..43200 s) but not passed on,
    /// as google-cloud-auth 1.19 always asks for 3600 s.
    pub impersonation_lifetime: u64,
}

/// Where the workload's own (subject) token comes from, at every exchange.
#[derive(Clone, PartialEq)]
pub enum SubjectSource {
    /// A file the platform keeps fresh (EKS/AKS projected service-account tokens), read only
    /// under the directories the admin allows (checked again, links resolved, whenever
    /// Perimeter starts an exchange).
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
    /// The pod's AWS identity (`AWS_*` environment or the EC2 instance metadata service),
    /// presented as a signed `GetCallerIdentity` request.
    Aws {
        region_url: Option<String>,
        url: Option<String>,
        imdsv2_session_token_url: Option<String>,
        regional_cred_verification_url: String,
    },
    /// A command run inside the operator's pod that prints the token.
    Executable {
        command: String,
        timeout_millis: Option<u32>,
        output_file: Option<String>,
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
            Self::Aws {
                region_url, url, ..
            } => f
                .debug_struct("Aws")
                .field("region_url", region_url)
                .field("url", url)
                .finish_non_exhaustive(),
            Self::Executable { command, .. } => f
                .debug_struct("Executable")
                .field("command", command)
                .finish_non_exhaustive(),
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

impl SubjectFormat {
    fn to_json(&self) -> Value {
        match self {
            Self::Text => json!({"type": "text"}),
            Self::Json { field } => json!({"type": "json", "subject_token_field_name": field}),
        }
    }
}

const STS_TOKEN_URL: &str = "https://sts.googleapis.com/v1/token";
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

/// `credential_source.url` (and the AWS metadata URLs): an admin-listed host, or the metadata
/// service when the admin supplied the credential (a tenant's credential must not borrow the
/// machine's identity).
fn checked_source_url(field: &str, url: &str, rules: Rules<'_>) -> Result<String, ProviderError> {
    let parsed = crate::trust::url::parse(url, crate::trust::url::Rules::SUBJECT_SOURCE)
        .map_err(|e| rejected(format!("{field}: {e}")))?;
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
        "{field}: {} is not a host the operator's admin allows for credential \
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

/// The sources that are the operator pod's own identity or run code in it: only the admin's
/// credentials may name them.
fn admin_only(field: &str, what: &str, rules: Rules<'_>) -> Result<(), ProviderError> {
    if rules.principal == Principal::Tenant {
        return Err(forbidden(format!(
            "{field}: {what}, usable only from a ClusterCloudProvider or a namespace allowed \
             ambient credentials (--ambient-namespace)"
        )));
    }
    Ok(())
}

/// `regional_cred_verification_url`: where Google's STS checks the signed AWS request. It is
/// not fetched here, but it must be AWS's STS over https.
fn checked_aws_verification_url(url: &str) -> Result<String, ProviderError> {
    let field = "credential_source.regional_cred_verification_url";
    // `{region}` is filled in by the library; any region name is a DNS label.
    let probe = url.replace("{region}", "region");
    let parsed = crate::trust::url::parse(
        &probe,
        crate::trust::url::Rules {
            allow_query: true,
            ..crate::trust::url::Rules::TOKEN
        },
    )
    .map_err(|e| rejected(format!("{field}: {e}")))?;
    if !parsed.https || !is_aws_sts_host(&parsed.host) {
        return Err(forbidden(format!(
            "{field}: {} is not AWS's STS (https://sts.{{region}}.amazonaws.com)",
            parsed.authority()
        )));
    }
    Ok(url.to_string())
}

/// AWS's STS: `sts.amazonaws.com` or `sts.REGION.amazonaws.com`, one region label and nothing
/// else under amazonaws.com (`sts.x.s3.amazonaws.com` is someone's S3 bucket).
fn is_aws_sts_host(host: &str) -> bool {
    host == "sts.amazonaws.com"
        || host
            .strip_prefix("sts.")
            .and_then(|h| h.strip_suffix(".amazonaws.com"))
            .is_some_and(|region| {
                !region.is_empty()
                    && region
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            })
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
        let aws = subject_token_type == AWS_TOKEN_TYPE;
        let subject = if source.get("environment_id").is_some() || aws {
            Self::aws_source(source, aws, rules)?
        } else if let Some(executable) = source.get("executable") {
            Self::executable_source(executable, rules)?
        } else if let Some(path) = field("file") {
            // Every file in the operator's pod is the operator's: a projected token there is
            // its own identity, which a tenant must not borrow.
            admin_only(
                "credential_source.file",
                "names a file of the operator's pod, i.e. the operator's own identity",
                rules,
            )?;
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
                url: checked_source_url("credential_source.url", &url, rules)?,
                headers,
                format,
            }
        } else {
            return Err(rejected(
                "credential_source needs file, url, executable or environment_id",
            ));
        };
        let impersonation_url = text("service_account_impersonation_url")
            .map(|u| checked_token_url("service_account_impersonation_url", &u, rules))
            .transpose()?;
        if let (SubjectSource::Url { .. }, Some(url)) = (&subject, &impersonation_url)
            && impersonated_email(url).is_none()
        {
            return Err(unsupported(
                "service_account_impersonation_url: with credential_source.url, only Google's \
                 https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/EMAIL:generateAccessToken \
                 is supported (the subject token is fetched by Perimeter, and google-cloud-auth \
                 then impersonates only there)",
            ));
        }
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

    /// An AWS-sourced subject: the pod's AWS identity, so the admin's only.
    fn aws_source(
        source: &Value,
        aws_token_type: bool,
        rules: Rules<'_>,
    ) -> Result<SubjectSource, ProviderError> {
        admin_only(
            "credential_source.environment_id",
            "an AWS-sourced credential signs with the operator pod's AWS identity",
            rules,
        )?;
        let field = |name: &str| source.get(name).and_then(Value::as_str);
        if field("environment_id") != Some("aws1") {
            return Err(rejected(
                "credential_source.environment_id must be aws1 (the only version Google defines)",
            ));
        }
        if !aws_token_type {
            return Err(rejected(format!(
                "subject_token_type must be {AWS_TOKEN_TYPE} for an AWS-sourced credential"
            )));
        }
        let url = |name: &str| {
            field(name)
                .map(|u| checked_source_url(&format!("credential_source.{name}"), u, rules))
                .transpose()
        };
        Ok(SubjectSource::Aws {
            region_url: url("region_url")?,
            url: url("url")?,
            imdsv2_session_token_url: url("imdsv2_session_token_url")?,
            regional_cred_verification_url: checked_aws_verification_url(
                field("regional_cred_verification_url").unwrap_or(
                    "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
                ),
            )?,
        })
    }

    /// An executable-sourced subject: a command run in the operator's pod, so the admin's
    /// only, and only when the admin turned executables on.
    fn executable_source(
        executable: &Value,
        rules: Rules<'_>,
    ) -> Result<SubjectSource, ProviderError> {
        let field = "credential_source.executable";
        admin_only(field, "runs a command inside the operator's pod", rules)?;
        if !rules.trust.allow_credential_executables {
            return Err(forbidden(format!(
                "{field}: credential executables are off; the operator's admin must allow them \
                 (flag --allow-credential-executables, Helm value \
                 security.allowCredentialExecutables)"
            )));
        }
        let command = executable
            .get("command")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| rejected(format!("{field}.command is missing")))?;
        if !command
            .split_whitespace()
            .next()
            .is_some_and(|program| std::path::Path::new(program).is_absolute())
        {
            return Err(rejected(format!(
                "{field}.command must start with an absolute path"
            )));
        }
        let timeout_millis = match executable.get("timeout_millis") {
            None => None,
            Some(t) => Some(
                t.as_u64()
                    .filter(|t| (5_000..=120_000).contains(t))
                    .and_then(|t| u32::try_from(t).ok())
                    .ok_or_else(|| {
                        rejected(format!("{field}.timeout_millis must be 5000..120000"))
                    })?,
            ),
        };
        let output_file = executable
            .get("output_file")
            .and_then(Value::as_str)
            .map(|p| {
                crate::trust::files::check_written(p, &rules.trust.credential_dirs)
                    .map(|_| p.to_string())
                    .map_err(|e| forbidden(format!("{field}.output_file: {e}")))
            })
            .transpose()?;
        if std::env::var(ALLOW_EXECUTABLES_ENV).as_deref() != Ok("1") {
            return Err(forbidden(format!(
                "{field}: the operator allows credential executables but its environment lacks \
                 {ALLOW_EXECUTABLES_ENV}=1, which Google's library also requires (the Helm chart \
                 sets it with security.allowCredentialExecutables)"
            )));
        }
        Ok(SubjectSource::Executable {
            command: command.to_string(),
            timeout_millis,
            output_file,
        })
    }

    /// The configuration the library receives: only the fields checked above.
    fn library_config(&self) -> Value {
        let source = match &self.subject {
            SubjectSource::File { path, format, .. } => {
                json!({"file": path, "format": format.to_json()})
            }
            SubjectSource::Url {
                url,
                headers,
                format,
            } => {
                let headers: Map<String, Value> = headers
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                json!({"url": url, "headers": headers, "format": format.to_json()})
            }
            SubjectSource::Aws {
                region_url,
                url,
                imdsv2_session_token_url,
                regional_cred_verification_url,
            } => json!({
                "environment_id": "aws1",
                "region_url": region_url,
                "url": url,
                "imdsv2_session_token_url": imdsv2_session_token_url,
                "regional_cred_verification_url": regional_cred_verification_url,
            }),
            SubjectSource::Executable {
                command,
                timeout_millis,
                output_file,
            } => json!({"executable": {
                "command": command, "timeout_millis": timeout_millis, "output_file": output_file,
            }}),
        };
        let mut config = json!({
            "type": "external_account",
            "audience": self.audience,
            "subject_token_type": self.subject_token_type,
            "token_url": self.token_url,
            "credential_source": source,
        });
        if let Some(url) = &self.impersonation_url {
            config["service_account_impersonation_url"] = json!(url);
        }
        config
    }
}

/// The service account of Google's own `generateAccessToken` URL.
fn impersonated_email(url: &str) -> Option<&str> {
    url.strip_prefix("https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/")?
        .strip_suffix(":generateAccessToken")
        .filter(|e| e.contains('@') && !e.contains('/'))
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

/// `credential_source.url`, fetched by Perimeter's HTTP layer rather than the library's: no
/// redirect is followed (a listed host cannot send the request, with its headers, on to the
/// metadata server), answers are capped, and errors never quote the answer.
struct UrlSubject {
    client: HttpClient,
    headers: Vec<(String, String)>,
    format: SubjectFormat,
}

/// Header values are left out: they may carry a credential.
impl std::fmt::Debug for UrlSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlSubject").finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct SubjectError(ProviderError);

impl std::fmt::Display for SubjectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SubjectError {}

impl google_cloud_auth::errors::SubjectTokenProviderError for SubjectError {
    fn is_transient(&self) -> bool {
        matches!(
            self.0.category,
            Category::Timeout
                | Category::Unreachable
                | Category::ProviderError
                | Category::Throttled
        )
    }
}

impl SubjectTokenProvider for UrlSubject {
    type Error = SubjectError;

    async fn subject_token(&self) -> Result<SubjectToken, SubjectError> {
        let mut req = Request::get("get_subject_token", "");
        for (name, value) in &self.headers {
            req = req.header(name.clone(), value.clone());
        }
        let resp = self.client.send(&req).await.map_err(SubjectError)?;
        if resp.status == 404 {
            return Err(SubjectError(missing("credential_source.url answered 404")));
        }
        let token = subject_from(&String::from_utf8_lossy(&resp.body), &self.format)
            .map_err(SubjectError)?;
        Ok(SubjectTokenBuilder::new(token.expose()).build())
    }
}

impl Source {
    /// The service account the tokens act as, when the credential names it: a key's
    /// `client_email`, or the account an external account impersonates. The metadata server's
    /// account (and a federated identity used directly) is not known here.
    pub fn principal(&self) -> Option<String> {
        match self {
            Self::ServiceAccount { client_email, .. } => Some(client_email.clone()),
            Self::Metadata { .. } => None,
            Self::External(account) => account
                .impersonation_url
                .as_deref()
                .and_then(|u| u.rsplit_once("/serviceAccounts/"))
                .and_then(|(_, rest)| rest.strip_suffix(":generateAccessToken"))
                .filter(|email| email.contains('@'))
                .map(str::to_string),
        }
    }

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
        // The library signs its own JWTs and never calls token_uri; a key naming a foreign
        // one is still refused, as Google's other libraries would send the key's JWT there.
        let token_uri = checked_token_url(
            "token_uri",
            &field("token_uri")
                .unwrap_or_else(|| "https://oauth2.googleapis.com/token".to_string()),
            rules,
        )?;
        // Fail now rather than at the first call, and without the library's parse errors.
        key_pair(&private_key)?;
        let rebuilt = json!({
            "type": "service_account",
            "client_email": client_email,
            "private_key_id": field("private_key_id").unwrap_or_default(),
            "private_key": private_key.expose(),
            "project_id": field("project_id").unwrap_or_default(),
            "token_uri": token_uri,
        });
        Ok(Self::ServiceAccount {
            client_email,
            key: SecretString::new(rebuilt.to_string()),
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

    /// The library's credentials for this source. Needs a Tokio runtime: the library starts
    /// a task that fetches the first token at once and refreshes it before it expires.
    fn credentials(
        &self,
        settings: &HttpSettings,
        metrics: Option<&std::sync::Arc<Metrics>>,
    ) -> Result<Credentials, ProviderError> {
        install_crypto_provider();
        // Build errors are not quoted: a parse error may echo part of the document.
        let built = |r: Result<Credentials, google_cloud_auth::build_errors::Error>| {
            r.map_err(|e| {
                rejected(format!(
                    "google-cloud-auth refused the credential ({})",
                    if e.is_parsing() || e.is_missing_field() {
                        "malformed"
                    } else if e.is_not_supported() || e.is_unknown_type() {
                        "not supported"
                    } else {
                        "unusable"
                    }
                ))
            })
        };
        match self {
            Self::ServiceAccount { key, .. } => {
                let v: Value = serde_json::from_str(key.expose())
                    .map_err(|_| rejected("the rebuilt key is not JSON"))?;
                built(service_account::Builder::new(v).build())
            }
            Self::Metadata { base_url } => built(
                mds::Builder::default()
                    .with_endpoint(base_url.trim_end_matches('/'))
                    .build(),
            ),
            Self::External(ExternalAccount {
                audience,
                subject_token_type,
                token_url,
                subject:
                    SubjectSource::Url {
                        url,
                        headers,
                        format,
                    },
                impersonation_url,
                ..
            }) => {
                let client = HttpClient::new(
                    HttpSettings {
                        base_url: url.trim_end_matches('/').to_string(),
                        ..settings.clone()
                    },
                    Auth::None,
                    metrics.cloned(),
                )?;
                let subject = UrlSubject {
                    client,
                    headers: headers.clone(),
                    format: format.clone(),
                };
                let mut builder =
                    external_account::ProgrammaticBuilder::new(std::sync::Arc::new(subject))
                        .with_audience(audience)
                        .with_subject_token_type(subject_token_type)
                        .with_token_url(token_url);
                if let Some(email) = impersonation_url.as_deref().and_then(impersonated_email) {
                    builder = builder.with_target_principal(email);
                }
                built(builder.build())
            }
            Self::External(account) => {
                built(external_account::Builder::new(account.library_config()).build())
            }
        }
    }

    /// Checks that must hold whenever an exchange starts, not only when the credential was
    /// read: a token file is read again under the allowed directories, links resolved. (The
    /// library's own refresh, a few minutes before a token expires, reads the same path
    /// without this check; a 401 or a failure brings the next exchange back here.)
    async fn precheck(&self) -> Result<(), ProviderError> {
        let Self::External(ExternalAccount {
            subject: SubjectSource::File { path, allowed, .. },
            ..
        }) = self
        else {
            return Ok(());
        };
        let (path, allowed) = (std::path::PathBuf::from(path), allowed.clone());
        tokio::task::spawn_blocking(move || crate::trust::files::read_checked(&path, &allowed))
            .await
            .map_err(|_| missing("credential_source.file: the read was cancelled"))?
            .map(drop)
            .map_err(|e| match e {
                crate::trust::files::FileError::Refused(m) => {
                    forbidden(format!("credential_source.file {m}"))
                }
                crate::trust::files::FileError::Unreadable(m) => {
                    missing(format!("credential_source.file {m}"))
                }
            })
    }
}

fn key_pair(pem: &SecretString) -> Result<ring::signature::RsaKeyPair, ProviderError> {
    use base64::Engine;
    let b64: String = pem
        .expose()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| rejected("private_key is not PEM"))?;
    ring::signature::RsaKeyPair::from_pkcs8(&der)
        .map_err(|_| rejected("private_key is not a PKCS#8 RSA key"))
}

/// google-cloud-auth (built without aws-lc) signs and speaks TLS through rustls' process-wide
/// provider. Perimeter's is ring, as for kube and reqwest; installing it again is a no-op.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A library error as a [`ProviderError`]. The library quotes whole answer bodies and an
/// executable's stderr in its messages (at any depth of the error chain); of a body only an
/// OAuth2 or Google error code is kept, of stderr nothing: either may echo a token.
fn library_error(e: &google_cloud_auth::errors::CredentialsError) -> ProviderError {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = next {
        let part = without_quotes(&err.to_string());
        // The library's retry hints and its wrapper say nothing here: Perimeter starts over
        // with fresh credentials at the next sync.
        let part = part
            .replace(" and future attempts will not succeed", "")
            .replace(" but future attempts may succeed", "");
        let part = part.trim().trim_end_matches(':').trim().to_string();
        let wrapper = part.starts_with("Request to fetch the token failed.")
            || part.starts_with("Fetching the token resulted in transient errors.");
        if !part.is_empty() && !wrapper && !parts.contains(&part) {
            parts.push(part);
        }
        next = err.source();
    }
    let mut message = parts.join(": ");
    if message.len() > 600 {
        let mut cut = 600;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
    }
    let category = if e.is_transient() {
        Category::Unreachable
    } else {
        Category::CredentialsRejected
    };
    ProviderError::new(category, "get_access_token", message)
}

/// One message with its quoted body or stderr replaced by the error code found in it.
fn without_quotes(text: &str) -> String {
    let quoted = [", body=<", ", stderr=<"]
        .into_iter()
        .filter_map(|marker| Some((text.find(marker)?, marker)))
        .min();
    let Some((at, marker)) = quoted else {
        return text.to_string();
    };
    let rest = &text[at + marker.len()..];
    let (inner, tail) = rest.rsplit_once('>').unwrap_or((rest, ""));
    let code = serde_json::from_str::<Value>(inner).ok().and_then(|v| {
        v.get("error")
            .and_then(|e| e.as_str().or_else(|| e.get("status")?.as_str()))
            .filter(|c| {
                c.len() <= 64 && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            })
            .map(str::to_string)
    });
    format!(
        "{}{}{tail}",
        &text[..at],
        code.map(|c| format!(" ({c})")).unwrap_or_default()
    )
}

fn bad_token() -> ProviderError {
    ProviderError::new(
        Category::BadResponse,
        "get_access_token",
        "google-cloud-auth gave no bearer token",
    )
}

/// Gets tokens through the library and copies them into the [`SharedToken`] API clients
/// present.
pub struct Authenticator {
    source: Source,
    slot: SharedToken,
    /// Built at the first refresh (the library needs a runtime), dropped after a failure or a
    /// 401 so that the next refresh starts over.
    credentials: Mutex<Option<Credentials>>,
    /// How long one token fetch may take, retries included.
    deadline: Duration,
    /// For the subject-token client of a `credential_source.url`.
    settings: HttpSettings,
    metrics: Option<std::sync::Arc<Metrics>>,
}

impl Authenticator {
    pub fn new(
        source: Source,
        settings: HttpSettings,
        // Token calls are the library's and do not go through the metered HTTP layer, except
        // the subject-token read of a `credential_source.url`.
        metrics: Option<std::sync::Arc<Metrics>>,
    ) -> Result<Self, ProviderError> {
        Ok(Self {
            source,
            slot: std::sync::Arc::new(std::sync::RwLock::new(SecretString::new(""))),
            credentials: Mutex::new(None),
            deadline: settings.timeout.saturating_mul(3),
            settings,
            metrics,
        })
    }

    pub fn shared(&self) -> SharedToken {
        self.slot.clone()
    }

    /// Copies a valid token into the shared slot (the library caches and refreshes it).
    pub async fn refresh(&self) -> Result<(), ProviderError> {
        let mut held = self.credentials.lock().await;
        let outcome = self.fetch(&mut held).await;
        if outcome.is_err() {
            *held = None;
        }
        let token = outcome?;
        *self.slot.write().unwrap_or_else(|p| p.into_inner()) = token;
        Ok(())
    }

    async fn fetch(&self, held: &mut Option<Credentials>) -> Result<SecretString, ProviderError> {
        let credentials = match held {
            Some(c) => c.clone(),
            None => {
                self.source.precheck().await?;
                held.insert(
                    self.source
                        .credentials(&self.settings, self.metrics.as_ref())?,
                )
                .clone()
            }
        };
        let headers =
            tokio::time::timeout(self.deadline, credentials.headers(http::Extensions::new()))
                .await
                .map_err(|_| {
                    ProviderError::new(
                        Category::Timeout,
                        "get_access_token",
                        format!("no token within {} s", self.deadline.as_secs()),
                    )
                })?
                .map_err(|e| library_error(&e))?;
        // Without an entity tag in the request the library always answers `New`.
        let CacheableResource::New { data, .. } = headers else {
            return Err(bad_token());
        };
        data.get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|t| !t.is_empty())
            .map(SecretString::new)
            .ok_or_else(bad_token)
    }

    /// Forgets the library's credentials and their cached token, e.g. after a 401.
    pub async fn invalidate(&self) {
        *self.credentials.lock().await = None;
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
                Category::CredentialsRejected,
            ),
            (
                json!({"subject_token_type": AWS_TOKEN_TYPE,
                    "credential_source": {"environment_id": "aws2"}}),
                Category::CredentialsRejected,
            ),
            (
                json!({"credential_source": {"executable": {"command": "/bin/token"}}}),
                Category::Forbidden,
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

    /// Issue 9: the AWS-sourced and executable sources are the operator pod's own identity
    /// and code; a tenant is refused with the field named, the admin's AWS metadata URLs
    /// must be the metadata service or listed hosts, and executables need the admin's flag.
    #[test]
    fn aws_and_executable_sources_are_the_admins_only() {
        let aws = json!({"subject_token_type": AWS_TOKEN_TYPE, "credential_source": {
            "environment_id": "aws1",
            "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
            "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials",
            "imdsv2_session_token_url": "http://169.254.169.254/latest/api/token"}});
        let e = external_as(aws.clone(), Principal::Tenant).expect_err("tenant AWS");
        assert_eq!(e.category, Category::Forbidden, "{e}");
        assert!(
            e.message.contains("credential_source.environment_id"),
            "{e}"
        );
        let ok = external_as(aws.clone(), Principal::Admin).expect("admin AWS");
        assert!(matches!(ok.subject, SubjectSource::Aws { .. }), "{ok:?}");

        let mut foreign = aws.clone();
        foreign["credential_source"]["url"] = json!("https://collector.attacker.example/creds");
        let e = external_as(foreign, Principal::Admin).expect_err("foreign IMDS");
        assert_eq!(e.category, Category::Forbidden, "{e}");
        assert!(e.message.contains("credential_source.url"), "{e}");
        for foreign in [
            "https://sts.attacker.example?Action=GetCallerIdentity",
            // An S3 bucket named `sts.x`, under amazonaws.com but not STS.
            "https://sts.x.s3.amazonaws.com?Action=GetCallerIdentity",
        ] {
            let mut verification = aws.clone();
            verification["credential_source"]["regional_cred_verification_url"] = json!(foreign);
            let e = external_as(verification, Principal::Admin).expect_err("foreign STS");
            assert!(
                e.message
                    .contains("credential_source.regional_cred_verification_url"),
                "{foreign}: {e}"
            );
        }
        let mut regional = aws;
        regional["credential_source"]["regional_cred_verification_url"] =
            json!("https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15");
        external_as(regional, Principal::Admin).expect("AWS's regional STS");

        let exe = json!({"credential_source": {"executable": {"command": "/usr/bin/token --x"}}});
        let e = external_as(exe.clone(), Principal::Tenant).expect_err("tenant executable");
        assert_eq!(e.category, Category::Forbidden, "{e}");
        assert!(e.message.contains("credential_source.executable"), "{e}");
        let e = external_as(exe.clone(), Principal::Admin).expect_err("flag off");
        assert!(e.message.contains("--allow-credential-executables"), "{e}");

        let trust = Trust {
            allow_credential_executables: true,
            ..lab_trust()
        };
        let admin = Rules {
            trust: &trust,
            principal: Principal::Admin,
        };
        let config = |executable: Value| {
            let mut v = json!({"type": "external_account", "audience": AUDIENCE,
                "subject_token_type": "urn:ietf:params:oauth:token-type:jwt"});
            v["credential_source"] = json!({"executable": executable});
            ExternalAccount::from_json(&v, admin)
        };
        for (bad, needle) in [
            (json!({"command": "token"}), "absolute"),
            (
                json!({"command": "/bin/token", "timeout_millis": 10}),
                "timeout_millis",
            ),
            (
                json!({"command": "/bin/token", "output_file": "/etc/passwd"}),
                "output_file",
            ),
        ] {
            let e = config(bad.clone()).expect_err("bad executable");
            assert!(e.message.contains(needle), "{bad}: {e}");
        }
        // The library also wants its own switch in the environment, which Perimeter never
        // sets itself: without it the configuration is refused up front.
        let good = config(json!({"command": "/bin/token", "timeout_millis": 5000}));
        match std::env::var(ALLOW_EXECUTABLES_ENV).as_deref() {
            Ok("1") => assert!(good.is_ok(), "{good:?}"),
            _ => assert!(
                good.is_err_and(|e| e.message.contains(ALLOW_EXECUTABLES_ENV)),
                "refused without the environment switch"
            ),
        }
    }

    /// A url-sourced subject token is fetched by Perimeter and handed to the library's
    /// programmatic external account, which impersonates only at Google's IAM Credentials.
    #[test]
    fn url_sources_impersonate_only_at_googles_iam_credentials() {
        let url = json!({"credential_source": {"url": "https://idp.example.com/token"}});
        let mut google = url.clone();
        google["service_account_impersonation_url"] = json!(
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken"
        );
        assert!(external(google).is_ok());
        let mut elsewhere = url;
        elsewhere["service_account_impersonation_url"] = json!(
            "https://iam.googleapis.com/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken"
        );
        let e = external(elsewhere).expect_err("not IAM Credentials");
        assert_eq!(e.category, Category::ProviderNotSupported, "{e}");
        assert!(
            e.message.contains("service_account_impersonation_url"),
            "{e}"
        );
        assert_eq!(
            impersonated_email(
                "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b:generateAccessToken"
            ),
            Some("a@b")
        );
        assert_eq!(
            impersonated_email(
                "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/x/../a@b:generateAccessToken"
            ),
            None
        );
    }

    /// The library receives a document rebuilt from the checked fields: nothing else of what
    /// the credential's author wrote reaches it.
    #[test]
    fn the_library_sees_only_checked_fields() {
        let account = external(json!({
            "universe_domain": "attacker.example", "client_id": "x", "client_secret": "sekrit",
            "token_info_url": "https://attacker.example/info",
            "credential_source": {"file": "/var/run/secrets/token", "environment": "x"},
        }))
        .expect("extra fields are ignored");
        let config = account.library_config();
        let shown = config.to_string();
        for absent in [
            "universe_domain",
            "client_secret",
            "attacker",
            "token_info_url",
            "environment",
        ] {
            assert!(!shown.contains(absent), "{absent} in {shown}");
        }
        assert_eq!(config["token_url"], "https://sts.googleapis.com/v1/token");
        assert_eq!(
            config["credential_source"]["file"],
            "/var/run/secrets/token"
        );

        let trust = Trust::default();
        let key = json!({"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com",
            "private_key": include_str!("../../../tests/fixtures/gcp/test-sa.key.pem"),
            "universe_domain": "attacker.example", "private_key_id": "k1"});
        let source = Source::from_key_json(
            &SecretString::new(key.to_string()),
            Rules {
                trust: &trust,
                principal: Principal::Tenant,
            },
        )
        .expect("key");
        let Source::ServiceAccount { key, .. } = source else {
            panic!("not a service account");
        };
        assert!(!key.expose().contains("universe_domain"));
    }

    /// The library quotes whole answer bodies in its errors; only the OAuth2/Google error
    /// code survives, so a body that echoes a token never reaches status or logs.
    #[test]
    fn library_errors_keep_the_error_code_and_drop_the_body() {
        let e = google_cloud_auth::errors::CredentialsError::from_msg(
            false,
            r#"failed to exchange token, body=<{"error":"invalid_grant","error_description":"token eyJ.sekrit is unknown"}>"#,
        );
        let mapped = library_error(&e);
        assert_eq!(mapped.category, Category::CredentialsRejected);
        assert!(mapped.message.contains("invalid_grant"), "{mapped}");
        assert!(!mapped.message.contains("sekrit"), "{mapped}");
        let e = google_cloud_auth::errors::CredentialsError::from_msg(
            true,
            r#"failed, body=<{"error":{"code":403,"status":"PERMISSION_DENIED","message":"ya29.sekrit"}}>"#,
        );
        let mapped = library_error(&e);
        assert_eq!(mapped.category, Category::Unreachable);
        assert!(mapped.message.contains("PERMISSION_DENIED"), "{mapped}");
        assert!(!mapped.message.contains("sekrit"), "{mapped}");
        let e = google_cloud_auth::errors::CredentialsError::from_msg(
            true,
            "failed to read subject token, command execution failed, stderr=<token eyJ.sekrit>, code=3",
        );
        let mapped = library_error(&e);
        assert!(mapped.message.contains("code=3"), "{mapped}");
        assert!(!mapped.message.contains("sekrit"), "{mapped}");
        // The body may sit in a source of the error, not in its own message.
        let inner = google_cloud_auth::errors::CredentialsError::from_msg(
            false,
            r#"failed to exchange token, body=<{"error":"invalid_grant","error_description":"eyJ.sekrit"}>"#,
        );
        let e = google_cloud_auth::errors::CredentialsError::new(
            false,
            "Request to fetch the token failed. Subsequent calls with this credential will also fail.",
            inner,
        );
        let mapped = library_error(&e);
        assert!(mapped.message.contains("invalid_grant"), "{mapped}");
        assert!(!mapped.message.contains("sekrit"), "{mapped}");
        assert!(!mapped.message.contains("Subsequent calls"), "{mapped}");
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
