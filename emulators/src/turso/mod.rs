//! Stateful emulator of the Turso Platform API (the parts Perimeter reads and writes).
//!
//! Paths and shapes follow Turso's OpenAPI document (`turso-docs`' `api-reference/openapi.json`,
//! OpenAPI 3.0.1, "Turso Platform API"). The base URL of a client is
//! [`RunningEmulator::base_url`] itself: paths start with `/v1`, as at `api.turso.tech`.
//!
//! # Seed
//!
//! ```
//! use perimeter_emulators::turso::{Seed, TursoEmulator};
//!
//! let seed: Seed = serde_json::from_value(serde_json::json!({
//!     "tokens": [{"value": "turso-t", "name": "perimeter", "user": "perimeter-bot",
//!                 "organization": "acme"}],
//!     "organizations": [{
//!         "slug": "acme",
//!         "databases": [{"name": "orders", "allowed_ips": ["203.0.113.0/24"]}],
//!         "audit_logs": [{"code": "db-unprotect", "author": "mallory",
//!                         "created_at": "2026-11-29T10:00:00Z", "data": {"name": "orders"}}]
//!     }]
//! })).unwrap();
//! assert!(seed.validate().is_ok());
//! let emulator = TursoEmulator::new(seed);
//! assert!(!emulator.snapshot().organizations[0].databases[0].delete_protection);
//! ```
//!
//! # Endpoints
//!
//! | Method | Path | Answer |
//! |---|---|---|
//! | GET | `/v1/user` | 200 `{user}`: the token's user |
//! | GET | `/v1/auth/validate` | 200 `{exp: -1}` |
//! | GET | `/v1/auth/api-tokens` | 200 `{tokens: APIToken[]}`: the token user's tokens |
//! | GET | `/v1/organizations/{org}/databases[?group=]` | 200 `{databases: Database[]}` (not paged, as in the spec) |
//! | GET | `/v1/organizations/{org}/databases/{db}` | 200 `{database}` |
//! | GET, PATCH | `/v1/organizations/{org}/databases/{db}/configuration` | 200 `DatabaseConfigurationResponse` |
//! | GET | `/v1/organizations/{org}/audit-logs?page=&page_size=` | 200 `{audit_logs, pagination}`, newest first |
//!
//! `PATCH …/configuration` follows the spec's rule for the allow lists: a field that is
//! absent leaves the setting unchanged, `[]` clears it, a list replaces it. The body is checked
//! whole before anything changes (types, addresses, `vpce-` ids), and a field the spec does not
//! define is refused (stricter than the spec, which does not forbid extra fields, so that a
//! misspelt field shows instead of being ignored). A change of `delete_protection` appends a
//! `db-protect`/`db-unprotect` audit entry authored by the token's user, with `origin` `cli`
//! when the `User-Agent` names the CLI and `web` otherwise, as the spec describes `origin`.
//!
//! # Errors
//!
//! `{"error": "…"}` with 400 (invalid body or query), 401 (missing or unknown token, never
//! echoed), 403 (a token restricted to another organisation; audit logs on a plan without
//! them, a status the spec does not document), 404 (unknown organisation, database or route),
//! and the shared [`crate::faults`]. The request log records paths as sent (`/v1/…`).

pub mod seed;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

pub use seed::{AuditEntry, Database, Organization, Seed, Token};

use crate::faults::Faults;
use crate::server::{self, ProviderStyle, RequestLog, RunningEmulator, json_response};
use seed::{check_ip_or_cidr, check_vpc};

/// The page size of the audit log when the query gives none, and the largest accepted.
const DEFAULT_PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: usize = 1000;

/// A Turso Platform API emulator. Clones share state, faults and log.
#[derive(Clone)]
pub struct TursoEmulator {
    shared: Arc<Shared>,
    faults: Faults,
    log: RequestLog,
}

struct Shared {
    seed: Mutex<Seed>,
}

impl Shared {
    fn seed(&self) -> MutexGuard<'_, Seed> {
        self.seed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type Ctx = State<Arc<Shared>>;

/// Who a request's token is, as authentication found it.
#[derive(Clone, Debug)]
struct Caller {
    user: String,
    organization: Option<String>,
}

impl TursoEmulator {
    /// Builds the emulator. The seed is not validated; call [`Seed::validate`] for that.
    pub fn new(seed: Seed) -> Self {
        Self {
            shared: Arc::new(Shared {
                seed: Mutex::new(seed),
            }),
            faults: Faults::new(),
            log: RequestLog::new(),
        }
    }

    /// Binds `bind` (e.g. `"127.0.0.1:0"`) and serves [`Self::router`].
    pub async fn start(&self, bind: &str) -> std::io::Result<RunningEmulator> {
        server::serve(self.router(), bind).await
    }

    /// The complete app (logging, faults, auth), for in-process use without a socket.
    pub fn router(&self) -> Router {
        let shared = self.shared.clone();
        let org = "/v1/organizations/{org}";
        let api = Router::new()
            .route("/v1/user", get(current_user))
            .route("/v1/auth/validate", get(validate))
            .route("/v1/auth/api-tokens", get(list_tokens))
            .route(&format!("{org}/databases"), get(list_databases))
            .route(&format!("{org}/databases/{{db}}"), get(get_database))
            .route(
                &format!("{org}/databases/{{db}}/configuration"),
                get(get_configuration).patch(patch_configuration),
            )
            .route(&format!("{org}/audit-logs"), get(audit_logs))
            .fallback(no_route)
            .layer(middleware::from_fn_with_state(shared.clone(), authenticate))
            .with_state(shared);
        server::instrument(api, self.log.clone(), self.faults.clone(), STYLE)
    }

    /// Shared handle on this emulator's fault rules.
    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    /// Shared handle on this emulator's request log.
    pub fn log(&self) -> RequestLog {
        self.log.clone()
    }

    /// Current state in the seed shape.
    pub fn snapshot(&self) -> Seed {
        self.shared.seed().clone()
    }

    /// Edits the state directly, e.g. to emulate a change made in the dashboard (drift).
    pub fn mutate(&self, edit: impl FnOnce(&mut Seed)) {
        edit(&mut self.shared.seed());
    }
}

const STYLE: ProviderStyle = ProviderStyle {
    error_body: |_, message| json!({ "error": message }),
    // Every endpoint answers an object.
    wrong_shape_body: || json!("emulated wrong shape"),
};

/// An error answer: `{"error": …}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &json!({ "error": self.message }))
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok(body: Value) -> ApiResult {
    Ok(json_response(StatusCode::OK, &body))
}

async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not found")
}

async fn authenticate(State(shared): Ctx, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let caller = presented.and_then(|value| {
        shared
            .seed()
            .tokens
            .iter()
            .find(|t| t.value == value)
            .map(|t| Caller {
                user: t.user.clone(),
                organization: t.organization.clone(),
            })
    });
    let Some(caller) = caller else {
        // Never echo what was presented: error bodies end up in logs.
        return ApiError::new(StatusCode::UNAUTHORIZED, "token is invalid or expired")
            .into_response();
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The organisation `slug`, if the caller's token may reach it.
fn organization<'a>(
    seed: &'a mut Seed,
    caller: &Caller,
    slug: &str,
) -> Result<&'a mut Organization, ApiError> {
    if caller.organization.as_deref().is_some_and(|o| o != slug) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this token is restricted to another organization",
        ));
    }
    seed.organizations
        .iter_mut()
        .find(|o| o.slug == slug)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "organization not found"))
}

fn database<'a>(org: &'a mut Organization, name: &str) -> Result<&'a mut Database, ApiError> {
    org.databases
        .iter_mut()
        .find(|d| d.name == name)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("could not find database with name {name}: record not found"),
            )
        })
}

async fn current_user(Extension(caller): Extension<Caller>) -> ApiResult {
    ok(json!({"user": {
        "username": caller.user, "name": caller.user,
        "email": format!("{}@example.com", caller.user),
        "avatarUrl": "", "plan": "scaler", "mfa": true, "has_pending_invites": false
    }}))
}

async fn validate() -> ApiResult {
    ok(json!({"exp": -1}))
}

async fn list_tokens(State(shared): Ctx, Extension(caller): Extension<Caller>) -> ApiResult {
    let seed = shared.seed();
    let tokens: Vec<Value> = seed
        .tokens
        .iter()
        .filter(|t| t.user == caller.user)
        .map(|t| {
            let mut out = json!({"name": t.name, "id": t.id, "created_at": t.created_at});
            if let Some(org) = &t.organization {
                out["organization"] = Value::from(org.as_str());
            }
            out
        })
        .collect();
    ok(json!({ "tokens": tokens }))
}

fn database_json(org: &str, db: &Database) -> Value {
    json!({
        "Name": db.name, "DbId": db.id,
        "Hostname": format!("{}-{org}.turso.io", db.name),
        "block_reads": db.block_reads, "block_writes": db.block_writes,
        "regions": [db.primary_region], "primaryRegion": db.primary_region,
        "group": db.group, "delete_protection": db.delete_protection, "parent": null
    })
}

fn configuration_json(db: &Database) -> Value {
    let mut out = json!({
        "size_limit": db.size_limit, "allow_attach": false,
        "block_reads": db.block_reads, "block_writes": db.block_writes,
        "delete_protection": db.delete_protection,
    });
    if !db.legacy_configuration {
        out["allowed_ips"] = json!(db.allowed_ips);
        out["allowed_aws_vpc_ids"] = json!(db.allowed_aws_vpc_ids);
    }
    out
}

async fn list_databases(
    State(shared): Ctx,
    Extension(caller): Extension<Caller>,
    Path(slug): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> ApiResult {
    let mut seed = shared.seed();
    let org = organization(&mut seed, &caller, &slug)?;
    let group = query.get("group");
    let databases: Vec<Value> = org
        .databases
        .iter()
        .filter(|d| group.is_none_or(|g| *g == d.group))
        .map(|d| database_json(&slug, d))
        .collect();
    ok(json!({ "databases": databases }))
}

async fn get_database(
    State(shared): Ctx,
    Extension(caller): Extension<Caller>,
    Path((slug, name)): Path<(String, String)>,
) -> ApiResult {
    let mut seed = shared.seed();
    let db = database(organization(&mut seed, &caller, &slug)?, &name)?;
    ok(json!({ "database": database_json(&slug, db) }))
}

async fn get_configuration(
    State(shared): Ctx,
    Extension(caller): Extension<Caller>,
    Path((slug, name)): Path<(String, String)>,
) -> ApiResult {
    let mut seed = shared.seed();
    let db = database(organization(&mut seed, &caller, &slug)?, &name)?;
    ok(configuration_json(db))
}

/// A validated `DatabaseConfigurationInput`: `None` is "absent, unchanged".
#[derive(Default)]
struct ConfigurationInput {
    size_limit: Option<String>,
    block_reads: Option<bool>,
    block_writes: Option<bool>,
    delete_protection: Option<bool>,
    allowed_ips: Option<Vec<String>>,
    allowed_aws_vpc_ids: Option<Vec<String>>,
}

fn string_list(
    field: &str,
    value: &Value,
    check: fn(&str) -> Result<(), String>,
) -> Result<Vec<String>, ApiError> {
    let list = value
        .as_array()
        .ok_or_else(|| ApiError::bad_request(format!("{field} must be an array of strings")))?;
    list.iter()
        .map(|v| {
            let text = v.as_str().ok_or_else(|| {
                ApiError::bad_request(format!("{field} must be an array of strings"))
            })?;
            check(text).map_err(|e| ApiError::bad_request(format!("{field}: {e}")))?;
            Ok(text.to_owned())
        })
        .collect()
}

fn parse_configuration(body: &Bytes) -> Result<ConfigurationInput, ApiError> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    };
    let boolean = |field: &str, v: &Value| {
        v.as_bool()
            .ok_or_else(|| ApiError::bad_request(format!("{field} must be a boolean")))
    };
    let mut input = ConfigurationInput::default();
    for (field, value) in &map {
        match field.as_str() {
            "size_limit" => {
                input.size_limit = Some(
                    value
                        .as_str()
                        .ok_or_else(|| ApiError::bad_request("size_limit must be a string"))?
                        .to_owned(),
                )
            }
            // Deprecated and without effect, but still in the spec's input.
            "allow_attach" => {
                boolean(field, value)?;
            }
            "block_reads" => input.block_reads = Some(boolean(field, value)?),
            "block_writes" => input.block_writes = Some(boolean(field, value)?),
            "delete_protection" => input.delete_protection = Some(boolean(field, value)?),
            "allowed_ips" => {
                input.allowed_ips = Some(string_list(field, value, check_ip_or_cidr)?);
            }
            "allowed_aws_vpc_ids" => {
                input.allowed_aws_vpc_ids = Some(string_list(field, value, check_vpc)?);
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown field {:?}",
                    other.chars().take(64).collect::<String>()
                )));
            }
        }
    }
    Ok(input)
}

async fn patch_configuration(
    State(shared): Ctx,
    Extension(caller): Extension<Caller>,
    Path((slug, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    // The whole body is checked before anything changes.
    let input = parse_configuration(&body)?;
    let mut seed = shared.seed();
    let org = organization(&mut seed, &caller, &slug)?;
    let db = database(org, &name)?;
    let protection_was = db.delete_protection;
    if let Some(v) = input.size_limit {
        db.size_limit = v;
    }
    if let Some(v) = input.block_reads {
        db.block_reads = v;
    }
    if let Some(v) = input.block_writes {
        db.block_writes = v;
    }
    if let Some(v) = input.delete_protection {
        db.delete_protection = v;
    }
    // Omitted: unchanged. `[]`: cleared. A list: replaced.
    if let Some(v) = input.allowed_ips {
        db.allowed_ips = v;
        db.legacy_configuration = false;
    }
    if let Some(v) = input.allowed_aws_vpc_ids {
        db.allowed_aws_vpc_ids = v;
        db.legacy_configuration = false;
    }
    let answer = configuration_json(db);
    let protection = db.delete_protection;
    if protection != protection_was {
        let code = if protection {
            "db-protect"
        } else {
            "db-unprotect"
        };
        let origin = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ua| ua.to_ascii_lowercase().contains("cli"));
        let mut data = Map::new();
        data.insert("name".into(), Value::from(name.as_str()));
        org.audit_logs.push(AuditEntry {
            code: code.to_owned(),
            message: String::new(),
            origin: if origin { "cli" } else { "web" }.to_owned(),
            author: caller.user.clone(),
            created_at: server::now_rfc3339(),
            data,
        });
    }
    ok(answer)
}

fn positive(query: &BTreeMap<String, String>, key: &str) -> Result<Option<usize>, ApiError> {
    match query.get(key) {
        None => Ok(None),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(ApiError::bad_request(format!(
                "{key} must be a positive integer"
            ))),
        },
    }
}

async fn audit_logs(
    State(shared): Ctx,
    Extension(caller): Extension<Caller>,
    Path(slug): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> ApiResult {
    let page = positive(&query, "page")?.unwrap_or(1);
    let size = positive(&query, "page_size")?
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .min(MAX_PAGE_SIZE);
    let mut seed = shared.seed();
    let org = organization(&mut seed, &caller, &slug)?;
    if !org.audit_logs_enabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "audit logs are not available on your plan",
        ));
    }
    let mut entries: Vec<&AuditEntry> = org.audit_logs.iter().collect();
    entries.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    let total = entries.len();
    let pages = total.div_ceil(size);
    let shown: Vec<Value> = entries
        .into_iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .map(|e| {
            json!({"code": e.code, "message": e.message, "origin": e.origin,
                   "author": e.author, "created_at": e.created_at, "data": e.data})
        })
        .collect();
    ok(json!({
        "audit_logs": shown,
        "pagination": {"page": page, "page_size": size, "total_pages": pages, "total_rows": total}
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "turso-t";

    fn emulator() -> TursoEmulator {
        let seed: Seed = serde_json::from_value(json!({
            "tokens": [
                {"value": TOKEN, "name": "perimeter", "id": "t1", "user": "bot", "organization": "acme"},
                {"value": "wide", "name": "laptop", "id": "t2", "user": "bot"},
                {"value": "other", "name": "x", "id": "t3", "user": "alice"}
            ],
            "organizations": [
                {"slug": "acme", "databases": [
                    {"name": "orders", "allowed_ips": ["203.0.113.0/24"],
                     "allowed_aws_vpc_ids": ["vpce-0fe6c8807461bba49"]},
                    {"name": "old", "legacy_configuration": true, "group": "eu"}
                ], "audit_logs": [
                    {"code": "db-create", "author": "alice", "created_at": "2026-11-29T08:00:00Z", "data": {"name": "orders"}},
                    {"code": "db-unprotect", "author": "mallory", "created_at": "2026-11-29T10:00:00Z", "data": {"name": "orders"}},
                    {"code": "org-member-add", "author": "alice", "created_at": "2026-11-29T09:00:00Z"}
                ]},
                {"slug": "free", "plan": "developer", "audit_logs_enabled": false}
            ]
        }))
        .expect("seed");
        seed.validate().expect("valid seed");
        TursoEmulator::new(seed)
    }

    async fn call(
        base: &str,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .request(method, format!("{base}{path}"))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("answer");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    #[test]
    fn seeds_are_checked() {
        let bad = [
            json!({"organizations": [{"slug": "a"}, {"slug": "a"}]}),
            json!({"organizations": [{"slug": "a", "databases": [{"name": "Orders"}]}]}),
            json!({"organizations": [{"slug": "a", "databases": [{"name": "d", "allowed_ips": ["10.0.0.0/33"]}]}]}),
            json!({"organizations": [{"slug": "a", "databases": [{"name": "d", "allowed_aws_vpc_ids": ["vpc-1"]}]}]}),
            json!({"organizations": [{"slug": "a", "audit_logs": [{"code": "db-config", "author": "x", "created_at": "2026-11-29T10:00:00Z"}]}]}),
            json!({"organizations": [{"slug": "a", "audit_logs": [{"code": "db-create", "author": "x", "created_at": "yesterday"}]}]}),
            json!({"tokens": [{"value": "v", "name": "n", "user": "u"}, {"value": "v", "name": "m", "user": "u"}]}),
        ];
        for seed in bad {
            let seed: Seed = serde_json::from_value(seed.clone()).expect("parses");
            assert!(seed.validate().is_err(), "{seed:?}");
        }
    }

    /// Omitted = unchanged, `[]` = clear, a list = replace; a delete-protection change is
    /// audited under the token's user.
    #[tokio::test]
    async fn patch_omits_keep_and_empty_lists_clear() {
        let emu = emulator();
        let server = emu.start("127.0.0.1:0").await.expect("bind");
        let base = server.base_url();
        let path = "/v1/organizations/acme/databases/orders/configuration";
        let patch = reqwest::Method::PATCH;

        let (status, answer) = call(
            &base,
            TOKEN,
            patch.clone(),
            path,
            Some(json!({"delete_protection": true})),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            answer["allowed_ips"],
            json!(["203.0.113.0/24"]),
            "omitted: unchanged"
        );
        assert_eq!(
            answer["allowed_aws_vpc_ids"],
            json!(["vpce-0fe6c8807461bba49"])
        );
        assert_eq!(answer["delete_protection"], json!(true));

        let (_, answer) = call(
            &base,
            TOKEN,
            patch.clone(),
            path,
            Some(json!({"allowed_ips": []})),
        )
        .await;
        assert_eq!(answer["allowed_ips"], json!([]), "[]: cleared");
        assert_eq!(
            answer["allowed_aws_vpc_ids"],
            json!(["vpce-0fe6c8807461bba49"])
        );

        let (_, answer) = call(
            &base,
            TOKEN,
            patch.clone(),
            path,
            Some(json!({"allowed_ips": ["::1", "10.0.0.0/8"]})),
        )
        .await;
        assert_eq!(
            answer["allowed_ips"],
            json!(["::1", "10.0.0.0/8"]),
            "a list: replaced"
        );
        let (_, read) = call(&base, TOKEN, reqwest::Method::GET, path, None).await;
        assert_eq!(read, answer, "the answer is the stored state");

        let (_, log) = call(
            &base,
            TOKEN,
            reqwest::Method::GET,
            "/v1/organizations/acme/audit-logs",
            None,
        )
        .await;
        assert_eq!(log["audit_logs"][0]["code"], json!("db-protect"));
        assert_eq!(log["audit_logs"][0]["author"], json!("bot"));
        assert_eq!(log["audit_logs"][0]["data"], json!({"name": "orders"}));
        server.shutdown().await;
    }

    #[tokio::test]
    async fn invalid_requests_change_nothing() {
        let emu = emulator();
        let before = emu.snapshot();
        let server = emu.start("127.0.0.1:0").await.expect("bind");
        let base = server.base_url();
        let path = "/v1/organizations/acme/databases/orders/configuration";
        for body in [
            json!({"allowed_ips": null, "delete_protection": true}),
            json!({"allowed_ips": ["10.0.0.0/8", "nope"]}),
            json!({"allowed_ips": "10.0.0.0/8"}),
            json!({"allowed_aws_vpc_ids": ["vpc-123"], "delete_protection": true}),
            json!({"allowedIps": []}),
            json!({"delete_protection": "true"}),
            json!([]),
        ] {
            let (status, answer) = call(
                &base,
                TOKEN,
                reqwest::Method::PATCH,
                path,
                Some(body.clone()),
            )
            .await;
            assert_eq!(status, 400, "{body}");
            assert!(answer["error"].is_string(), "{answer}");
        }
        let (status, answer) =
            call(&base, "sk-wrong-secret", reqwest::Method::GET, path, None).await;
        assert_eq!(status, 401);
        assert!(!answer.to_string().contains("sk-wrong-secret"));
        let (status, _) = call(
            &base,
            "other",
            reqwest::Method::GET,
            "/v1/organizations/acme/databases",
            None,
        )
        .await;
        assert_eq!(
            status, 200,
            "an unrestricted token reaches every organisation"
        );
        let (status, _) = call(
            &base,
            TOKEN,
            reqwest::Method::GET,
            "/v1/organizations/free/databases",
            None,
        )
        .await;
        assert_eq!(
            status, 403,
            "an organisation token stays in its organisation"
        );
        let (status, answer) = call(
            &base,
            TOKEN,
            reqwest::Method::GET,
            "/v1/organizations/acme/databases/nope/configuration",
            None,
        )
        .await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (
                404,
                Some("could not find database with name nope: record not found")
            )
        );
        let (status, _) = call(
            &base,
            TOKEN,
            reqwest::Method::GET,
            "/v1/organizations/acme/audit-logs?page=0",
            None,
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(emu.snapshot(), before);
        server.shutdown().await;
    }

    #[tokio::test]
    async fn reads_follow_the_spec_shapes() {
        let emu = emulator();
        let server = emu.start("127.0.0.1:0").await.expect("bind");
        let base = server.base_url();
        let get = reqwest::Method::GET;

        let (_, user) = call(&base, TOKEN, get.clone(), "/v1/user", None).await;
        assert_eq!(user["user"]["username"], json!("bot"));
        let (_, tokens) = call(&base, TOKEN, get.clone(), "/v1/auth/api-tokens", None).await;
        assert_eq!(
            tokens,
            json!({"tokens": [
                {"name": "perimeter", "id": "t1", "organization": "acme", "created_at": "2026-01-01"},
                {"name": "laptop", "id": "t2", "created_at": "2026-01-01"}
            ]}),
            "the user's own tokens, never their values nor other users'"
        );
        let (_, dbs) = call(
            &base,
            TOKEN,
            get.clone(),
            "/v1/organizations/acme/databases",
            None,
        )
        .await;
        let names: Vec<&str> = dbs["databases"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|d| d["Name"].as_str())
            .collect();
        assert_eq!(names, ["orders", "old"]);
        let (_, eu) = call(
            &base,
            TOKEN,
            get.clone(),
            "/v1/organizations/acme/databases?group=eu",
            None,
        )
        .await;
        assert_eq!(eu["databases"].as_array().map(Vec::len), Some(1));
        let (_, legacy) = call(
            &base,
            TOKEN,
            get.clone(),
            "/v1/organizations/acme/databases/old/configuration",
            None,
        )
        .await;
        assert!(legacy.get("allowed_ips").is_none(), "{legacy}");

        let (_, page) = call(
            &base,
            TOKEN,
            get.clone(),
            "/v1/organizations/acme/audit-logs?page_size=2&page=1",
            None,
        )
        .await;
        let times: Vec<&str> = page["audit_logs"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|e| e["created_at"].as_str())
            .collect();
        assert_eq!(
            times,
            ["2026-11-29T10:00:00Z", "2026-11-29T09:00:00Z"],
            "newest first"
        );
        assert_eq!(
            page["pagination"],
            json!({"page": 1, "page_size": 2, "total_pages": 2, "total_rows": 3})
        );
        let (_, last) = call(
            &base,
            TOKEN,
            get.clone(),
            "/v1/organizations/acme/audit-logs?page_size=2&page=2",
            None,
        )
        .await;
        assert_eq!(last["audit_logs"].as_array().map(Vec::len), Some(1));

        let (status, _) = call(
            &base,
            "other",
            get.clone(),
            "/v1/organizations/free/audit-logs",
            None,
        )
        .await;
        assert_eq!(status, 403, "a plan without audit logs");
        server.shutdown().await;
    }

    /// Injected faults answer in Turso's envelope, and the request log records them.
    #[tokio::test]
    async fn faults_answer_in_the_turso_envelope() {
        use crate::faults::{Fault, FaultRule};
        let emu = emulator();
        emu.faults().inject(
            FaultRule::new(
                "/configuration",
                Fault::RateLimited {
                    retry_after_secs: 2,
                },
            )
            .times(1),
        );
        let server = emu.start("127.0.0.1:0").await.expect("bind");
        let url = format!(
            "{}/v1/organizations/acme/databases/orders/configuration",
            server.base_url()
        );
        let client = reqwest::Client::new();
        let first = client
            .get(&url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("answer");
        assert_eq!(first.status().as_u16(), 429);
        assert_eq!(
            first
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("2")
        );
        let body: Value = first.json().await.expect("json");
        assert!(body["error"].is_string(), "{body}");
        let second = client
            .get(&url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("answer");
        assert_eq!(second.status().as_u16(), 200);
        assert_eq!(emu.log().count("GET", "/configuration"), 2);
        server.shutdown().await;
    }
}
