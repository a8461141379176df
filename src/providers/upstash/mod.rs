//! Upstash Developer API (`https://api.upstash.com/v2`, HTTP Basic with the account e-mail and
//! a Developer API key): one Redis database's IP allowlist and TLS (read and written), its
//! security add-ons and Prometheus integration (read only), and the account's audit log (read
//! for allowlist changes Perimeter did not make); the account's databases, its boundary
//! assets ([`inventory`]). Answers are bare JSON documents, no envelope.
//!
//! The allowlist write (`POST /v2/redis/update-allowlist/{id}`, body `{"allowed_ips": […]}`)
//! and its read-back (`allowed_ip_ranges` in the database object) are not in Upstash's
//! official OpenAPI document; Upstash's own Terraform provider uses them. Every other request
//! is in the document. The spec serves `/auditlogs` from the host root (its operation
//! overrides `servers` with `https://api.upstash.com`), so the client's base URL is the host
//! and every other path carries `/v2`.

pub mod api;
#[cfg(feature = "demo")]
mod demo;
pub mod inventory;
mod kit;
pub mod model;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use self::model::{ADDONS, ALLOWLIST, OwnChanges, PROMETHEUS, TLS, UpstashScope};
use super::{ApplyError, Observation, Provider, Purpose, Target};
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::normalize::Invalid;
use crate::core::{Change, Section};
use crate::error::{Category, Error, ProviderError};
use crate::http::RateLimiter;
use crate::http::{Auth, HttpClient, HttpSettings, Request, spec_segment};
use crate::metrics::Metrics;
use crate::secret::SecretString;

pub use kit::Kit;
pub use model::{firewall_target, monitoring_target};

pub const DEFAULT_ENDPOINT: &str = "https://api.upstash.com";

/// Upstash documents a 429 for the Developer API but publishes no limit. One request a second
/// on average with a small burst keeps a reconcile of a few databases (two requests each:
/// the database and the audit log) well clear of any sensible limit.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 60;
pub const DEFAULT_BURST: u32 = 5;

/// How far back the audit log is searched for outside allowlist changes. A change stays a
/// finding this long: it is evidence, and Enforce correcting the list does not undo it.
pub const AUDIT_LOOKBACK: SignedDuration = crate::core::attribution::LOOKBACK;

/// The order sections are written in: TLS only closes; the allowlist is replaced whole in one
/// call. Security add-ons and Prometheus cannot be written through the API.
const WRITE_ORDER: [&str; 2] = [TLS, ALLOWLIST];

/// The credential in the CloudProvider's Secret: a JSON object.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Credential {
    /// The account e-mail (Basic auth's user name).
    email: String,
    /// The Developer API key (Basic auth's password).
    api_key: String,
    /// The key's name as the Upstash console shows it: the audit log's `source` of Perimeter's
    /// own changes is `API_KEY - <keyName>` (see [`model::OwnChanges`]).
    #[serde(default)]
    key_name: Option<String>,
}

const CREDENTIAL_SHAPE: &str =
    "the Upstash credential must be a JSON object {\"email\", \"apiKey\", \"keyName\"?}";

/// Parses and checks the credential. No message quotes the input: serde's messages can echo
/// parts of it.
fn parse_credential(secret: &SecretString) -> Result<Credential, Error> {
    let c: Credential = serde_json::from_str(secret.expose())
        .map_err(|_| Error::CredentialsMissing(CREDENTIAL_SHAPE.into()))?;
    let printable = |s: &str| !s.chars().any(char::is_control);
    if c.email.trim().is_empty() || !c.email.contains('@') || !printable(&c.email) {
        return Err(Error::CredentialsMissing(
            "email must be the Upstash account's e-mail address".into(),
        ));
    }
    if c.email.contains(':') {
        return Err(Error::CredentialsMissing(
            "email must not contain ':' (HTTP Basic separates the user name with it)".into(),
        ));
    }
    if c.api_key.trim().is_empty() || !printable(&c.api_key) {
        return Err(Error::CredentialsMissing(
            "apiKey must be a Developer API key".into(),
        ));
    }
    if let Some(name) = &c.key_name
        && (name.trim().is_empty() || name.len() > 100 || !printable(name))
    {
        return Err(Error::CredentialsMissing(
            "keyName, when given, must be the key's name as the console shows it (1 to 100 printable characters)".into(),
        ));
    }
    Ok(c)
}

pub struct Upstash {
    http: HttpClient,
    /// Perimeter's key name and its own allowlist writes, to tell its changes apart in the
    /// audit log.
    own: Mutex<OwnChanges>,
}

impl crate::providers::OnHttp for Upstash {
    fn http_mut(&mut self) -> &mut HttpClient {
        &mut self.http
    }
}

impl Upstash {
    pub fn new(
        spec: &CloudProviderSpec,
        credential: SecretString,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let mut settings = HttpSettings::new(
            "upstash",
            spec.endpoint
                .clone()
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
        );
        settings.requests_per_minute = DEFAULT_REQUESTS_PER_MINUTE;
        settings.burst = DEFAULT_BURST;
        if let Some(t) = spec.request_timeout_seconds {
            settings.timeout = Duration::from_secs(u64::from(t));
        }
        if let Some(rl) = &spec.rate_limit {
            settings.requests_per_minute = rl.requests_per_minute;
            settings.burst = rl.burst.unwrap_or(settings.burst);
        }
        Self::with_settings(settings, credential, metrics)
    }

    pub fn with_settings(
        settings: HttpSettings,
        credential: SecretString,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let c = parse_credential(&credential)?;
        let auth = Auth::Basic {
            username: c.email,
            password: SecretString::new(c.api_key),
        };
        let http = HttpClient::new(settings, auth, metrics)?;
        Ok(Self {
            http,
            own: Mutex::new(OwnChanges {
                key_name: c.key_name,
                writes: Default::default(),
            }),
        })
    }

    fn own(&self) -> OwnChanges {
        self.own.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Remembers an allowlist write, keeping only those still inside the look-back window.
    fn record_write(&self, database_id: &str, at: Timestamp) {
        self.own
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .writes
            .record(&database_id.to_ascii_lowercase(), ALLOWLIST, at);
    }

    /// Sends a request and returns its JSON answer; a 404 is an error (the database does not
    /// exist, or the key cannot see it).
    async fn call(&self, req: Request) -> Result<Value, ProviderError> {
        let (status, body) = self.http.send_json(&req).await?;
        if status == 404 {
            return Err(ProviderError::new(
                Category::BadResponse,
                req.operation,
                "HTTP 404: not found (check the database id, and that the key's account or team owns it)",
            ));
        }
        Ok(body)
    }

    /// The database, without its credentials (`credentials=hide`): Perimeter never needs
    /// the database password, so it never asks for it.
    async fn read_database(&self, id: &str) -> Result<(Value, model::DatabaseRef), ProviderError> {
        let op = "get_database";
        let answer = self
            .call(Request::get(op, format!("/v2/redis/database/{id}")).query("credentials", "hide"))
            .await?;
        let db = model::database_ref(&answer, id).map_err(|e| shape(op, e))?;
        Ok((answer, db))
    }

    fn read_section(
        &self,
        answer: &Value,
        section: &Section,
        obs: &mut Observation,
    ) -> Result<(), ProviderError> {
        let op = "get_database";
        let seen = match section.name.as_str() {
            ALLOWLIST => {
                let (seen, findings) =
                    model::observed_allowlist(answer).map_err(|e| shape(op, e))?;
                obs.findings.extend(findings);
                seen
            }
            TLS => model::observed_tls(answer).map_err(|e| shape(op, e))?,
            ADDONS => {
                let wanted: Vec<&str> = section.items.iter().map(|i| i.key.as_str()).collect();
                let (seen, findings) =
                    model::observed_addons(answer, &wanted).map_err(|e| shape(op, e))?;
                obs.findings.extend(findings);
                seen
            }
            PROMETHEUS => model::observed_prometheus(answer).map_err(|e| shape(op, e))?,
            other => {
                return Err(ProviderError::new(
                    Category::InvalidSpec,
                    "observe",
                    format!("unknown section {other}"),
                ));
            }
        };
        obs.state.push(seen);
        Ok(())
    }

    fn trail(events: Vec<crate::core::attribution::AuditEvent>) -> crate::core::attribution::Trail {
        crate::core::attribution::Trail::Read {
            source: "the Upstash audit log",
            since: Timestamp::now() - AUDIT_LOOKBACK,
            events,
        }
    }

    async fn read_audit(&self, db: &model::DatabaseRef) -> Result<model::AuditRead, ProviderError> {
        let op = "list_audit_logs";
        let answer = self.call(Request::get(op, "/auditlogs")).await?;
        let since = Timestamp::now() - AUDIT_LOOKBACK;
        model::audit_read(&answer, db, &self.own(), since).map_err(|e| shape(op, e))
    }

    /// Turns TLS on (`enable-tls` is one-way: the plan never asks for off, since the policy can
    /// only declare `Required`). Counted as done only when the answer shows TLS on.
    async fn write_tls(&self, id: &str, changes: &[&Change]) -> Result<Vec<String>, ProviderError> {
        let op = "enable_tls";
        let answer = self
            .call(Request::new(
                Method::POST,
                op,
                format!("/v2/redis/enable-tls/{id}"),
            ))
            .await?;
        let seen = model::observed_tls(&answer).map_err(|e| shape(op, e))?;
        let on = seen
            .get(model::ENABLED)
            .and_then(|i| i.fields.get("value"))
            .and_then(Value::as_bool);
        if on != Some(true) {
            return Err(ProviderError::new(
                Category::ProviderError,
                op,
                "Upstash answered without turning TLS on",
            ));
        }
        Ok(changes.iter().map(|c| c.describe()).collect())
    }

    /// Replaces the allowlist in one call, then reads the database back: the write's answer
    /// is not documented, so only the read-back proves it. A write that answered but reads back
    /// otherwise is a `ProviderError` and is not counted as applied.
    async fn write_allowlist(
        &self,
        id: &str,
        target: &Target,
        observed: &Observation,
        changes: &[&Change],
    ) -> Result<Vec<String>, ProviderError> {
        let op = "update_allowlist";
        let entitlement = observed
            .state
            .section(ALLOWLIST)
            .and_then(|s| s.get(model::ENTITLEMENT))
            .and_then(|i| i.fields.get("value"))
            .and_then(Value::as_str);
        if entitlement != Some(model::ALLOWED) {
            return Err(ProviderError::new(
                Category::WriteRejected,
                op,
                format!("{}: nothing was written", model::NOT_ENTITLED_MESSAGE),
            ));
        }
        let want = target
            .desired
            .section(ALLOWLIST)
            .and_then(|s| s.get(model::ALLOWED_IPS))
            .ok_or_else(|| {
                ProviderError::new(Category::InvalidSpec, op, "no allowlist declared")
            })?;
        let body = want.raw.clone().ok_or_else(|| {
            ProviderError::new(
                Category::InvalidSpec,
                op,
                "the declared allowlist has no body",
            )
        })?;
        // Recorded before sending: the audit entry is stamped while the call is in flight.
        self.record_write(id, Timestamp::now());
        // The answer's body is not read: it is not documented (the Terraform provider ignores
        // it too), so it proves nothing either way. The read-back below is the proof.
        let req =
            Request::new(Method::POST, op, format!("/v2/redis/update-allowlist/{id}")).json(body);
        if self.http.send(&req).await?.status == 404 {
            return Err(ProviderError::new(
                Category::BadResponse,
                op,
                "HTTP 404: not found (check the database id); nothing was written",
            ));
        }
        let (answer, _) = self.read_database(id).await?;
        let (seen, _) = model::observed_allowlist(&answer).map_err(|e| shape("get_database", e))?;
        let now = seen
            .get(model::ALLOWED_IPS)
            .and_then(|i| i.fields.get("value"));
        if now != want.fields.get("value") {
            return Err(ProviderError::new(
                Category::ProviderError,
                op,
                "Upstash accepted the allowlist but the database reads back a different one",
            ));
        }
        Ok(changes.iter().map(|c| c.describe()).collect())
    }
}

/// An answer that is not the documented shape: the model's reason, which quotes no provider
/// text beyond sanitised values.
fn shape(operation: &'static str, e: Invalid) -> ProviderError {
    ProviderError::new(Category::BadResponse, operation, e.0)
}

/// The target's database id as a path segment.
fn database_segment(target: &Target, operation: &'static str) -> Result<String, ProviderError> {
    let scope = target.scope_of::<UpstashScope>(operation)?;
    spec_segment(operation, "id", &scope.database_id)
}

#[async_trait]
impl Provider for Upstash {
    fn rate_limiters(&self, _target: &Target) -> Vec<Arc<RateLimiter>> {
        vec![self.http.limiter().clone()]
    }

    fn provider_type(&self) -> ProviderType {
        ProviderType::Upstash
    }

    async fn verify(&self) -> Result<String, ProviderError> {
        let op = "list_databases";
        let answer = self.call(Request::get(op, "/v2/redis/databases")).await?;
        match answer.as_array() {
            Some(dbs) => Ok(format!(
                "API key accepted; {} Redis database(s) visible",
                dbs.len()
            )),
            None => Err(ProviderError::new(
                Category::BadResponse,
                op,
                "the database list is not a list",
            )),
        }
    }

    /// QStash's egress addresses (`GET /v2/qstash/ipv4`, a list of CIDRs), for an
    /// `AddressSet` that allowlists QStash's callbacks elsewhere.
    async fn source_addresses(
        &self,
        source: &crate::api::addressset::AddressSource,
    ) -> Result<Vec<String>, ProviderError> {
        let op = "get_qstash_ipv4";
        if source.upstash_qstash.is_none() {
            return Err(ProviderError::new(
                Category::InvalidSpec,
                op,
                format!("{}: not an Upstash source", source.field()),
            ));
        }
        let answer = self.call(Request::get(op, "/v2/qstash/ipv4")).await?;
        let list = answer.as_array().ok_or_else(|| {
            ProviderError::new(Category::BadResponse, op, "the address list is not a list")
        })?;
        list.iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    ProviderError::new(
                        Category::BadResponse,
                        op,
                        "the address list holds a non-string",
                    )
                })
            })
            .collect()
    }

    /// The Redis databases of the key's account or team (`GET /v2/redis/databases`: one
    /// answer, the API does not page it).
    async fn inventory(&self) -> Result<Option<Vec<crate::core::inventory::Asset>>, ProviderError> {
        let op = "list_databases";
        let bad = |message: &str| ProviderError::new(Category::BadResponse, op, message);
        let answer = self.call(Request::get(op, "/v2/redis/databases")).await?;
        let databases = answer
            .as_array()
            .ok_or_else(|| bad("the database list is not a list"))?;
        databases
            .iter()
            .map(inventory::database_asset)
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| bad("a database has no database_id"))
    }

    async fn observe(&self, target: &Target) -> Result<Observation, ProviderError> {
        let scope = target.scope_of::<UpstashScope>("observe")?;
        let id = database_segment(target, "observe")?;
        let (answer, db) = self.read_database(&id).await?;
        let mut obs = Observation::default();
        for section in &target.desired.sections {
            self.read_section(&answer, section, &mut obs)?;
        }
        obs.findings
            .extend(crate::providers::manual_change_findings(
                &target.desired,
                &obs.state,
                model::READ_ONLY,
            ));
        if target.purpose == Purpose::Firewall && scope.read_audit {
            let audit = self.read_audit(&db).await?;
            obs.findings.extend(audit.finding);
            obs.revision = audit.revision;
            obs.audit = Some(Self::trail(audit.events));
        }
        Ok(obs)
    }

    /// The audit log, read now because a sync found drift and the policy does not have it read
    /// at every sync (`auditLog` absent). The database is read again for its name: the log
    /// names a database by name or id.
    async fn audit_trail(
        &self,
        target: &Target,
        _drift: &[crate::core::Drift],
    ) -> Result<crate::core::attribution::Trail, ProviderError> {
        let scope = target.scope_of::<UpstashScope>("audit_trail")?;
        if target.purpose != Purpose::Firewall || !scope.attribute_drift {
            return Ok(crate::core::attribution::Trail::NotKept);
        }
        let id = database_segment(target, "audit_trail")?;
        let (_, db) = self.read_database(&id).await?;
        let audit = self.read_audit(&db).await?;
        Ok(Self::trail(audit.events))
    }

    async fn apply(
        &self,
        target: &Target,
        observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        let id = match database_segment(target, "apply") {
            Ok(id) => id,
            Err(error) => {
                return Err(ApplyError {
                    applied: Vec::new(),
                    error,
                });
            }
        };
        let mut applied = Vec::new();
        for section in WRITE_ORDER {
            let changes: Vec<&Change> = plan.iter().filter(|c| c.section() == section).collect();
            if changes.is_empty() {
                continue;
            }
            let result = match section {
                TLS => self.write_tls(&id, &changes).await,
                _ => self.write_allowlist(&id, target, observed, &changes).await,
            };
            match result {
                Ok(done) => applied.extend(done),
                Err(error) => return Err(ApplyError { applied, error }),
            }
        }
        // Security add-ons are bought in the console (their drift carries `NotEntitled`) and
        // Prometheus is switched on there: both are observed only, and their drift stays.
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_checked_without_echoing_them() {
        let cases = [
            ("not json sk-secret-1", "JSON object"),
            (r#"{"email": "ops@example.com"}"#, "JSON object"),
            (
                r#"{"email": "ops@example.com", "apiKey": "sk-secret-1", "extra": 1}"#,
                "JSON object",
            ),
            (r#"{"email": "nobody", "apiKey": "sk-secret-1"}"#, "e-mail"),
            (
                r#"{"email": "a:b@example.com", "apiKey": "sk-secret-1"}"#,
                "':'",
            ),
            (r#"{"email": "ops@example.com", "apiKey": " "}"#, "apiKey"),
            (
                r#"{"email": "ops@example.com", "apiKey": "sk-secret-1", "keyName": ""}"#,
                "keyName",
            ),
        ];
        for (raw, want) in cases {
            let err = match parse_credential(&SecretString::new(raw)) {
                Ok(_) => panic!("{raw} should be refused"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(want), "{raw}: {err}");
            assert!(!err.contains("sk-secret-1"), "{err}");
        }
        let ok = parse_credential(&SecretString::new(
            r#"{"email": "ops@example.com", "apiKey": "sk-secret-1", "keyName": "perimeter"}"#,
        ))
        .expect("valid");
        assert_eq!(ok.key_name.as_deref(), Some("perimeter"));
    }
}
