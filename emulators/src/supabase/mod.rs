//! Stateful emulator of the Supabase Management API (the parts Perimeter reads and writes).
//!
//! Paths and shapes follow the official OpenAPI document ("Supabase API (v1)", the file the
//! supabase/cli repository checks in from `/api/v1-json`). The base URL of a client is
//! [`RunningEmulator::base_url`] itself: paths start with `/v1`, as at `api.supabase.com`.
//!
//! # Seed
//!
//! ```
//! use perimeter_emulators::supabase::{Seed, SupabaseEmulator};
//!
//! let seed: Seed = serde_json::from_value(serde_json::json!({
//!     "tokens": ["sbp_demo"],
//!     "projects": [{
//!         "ref": "abcdefghijklmnopqrst", "name": "shop",
//!         "db_allowed_cidrs": ["0.0.0.0/0"], "ssl_enforced": false,
//!         "auth": {"rate_limit_email_sent": 100},
//!         "banned_ipv4_addresses": ["192.0.2.10"],
//!         "services": {"storage": "UNHEALTHY"}
//!     }]
//! })).unwrap();
//! assert!(seed.validate().is_ok());
//! let emulator = SupabaseEmulator::new(seed);
//! assert_eq!(emulator.snapshot().projects[0].db_allowed_cidrs_v6, ["::/0"]);
//! ```
//!
//! # Endpoints
//!
//! | Method | Path | Answer |
//! |---|---|---|
//! | GET | `/v1/projects` | 200, the projects |
//! | GET | `/v1/projects/{ref}/network-restrictions` | 200 `NetworkRestrictionsResponse` |
//! | POST | `/v1/projects/{ref}/network-restrictions/apply` | 201, the same, `status: stored` |
//! | GET, PUT | `/v1/projects/{ref}/ssl-enforcement` | 200 `SslEnforcementResponse` |
//! | GET, PATCH | `/v1/projects/{ref}/config/auth` | 200, the `rate_limit_*` fields |
//! | POST | `/v1/projects/{ref}/network-bans/retrieve` | 201 `NetworkBanResponse` |
//! | GET | `/v1/projects/{ref}/health?services=…&timeout_ms=` | 200, `V1ServiceHealthResponse[]` |
//!
//! A change of network restrictions answers `stored`; reads then answer `stored` for the
//! project's `apply_after_reads` more reads, then `applied` (never, with `apply_stuck`).
//!
//! # Errors
//!
//! The spec documents only status codes; bodies here are `{"message": "…"}` (what the live
//! API answers, unconfirmed by the spec). 401 for a missing or unknown token (never echoed),
//! 404 for an unknown project or route, 400 for an invalid body or query, 400 for network
//! restrictions on a plan without them (the real status for that case is not documented), and
//! the shared [`crate::faults`]. The request log records paths as sent (`/v1/projects/…`).

pub mod seed;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

pub use seed::{Project, Seed};

use crate::faults::Faults;
use crate::server::{self, ProviderStyle, RequestLog, RunningEmulator, json_response};
use seed::{AUTH_DEFAULTS, SERVICES, check_cidr, valid_ref};

/// A Supabase Management API emulator. Clones share state, faults and log.
#[derive(Clone)]
pub struct SupabaseEmulator {
    shared: Arc<Shared>,
    faults: Faults,
    log: RequestLog,
}

struct Shared {
    store: Mutex<Store>,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type Ctx = State<Arc<Shared>>;

/// What the seed shape has no room for, per project ref.
#[derive(Clone, Debug, Default)]
struct Rollout {
    /// The applied lists while a change is only stored (`old_config`).
    old: Option<(Vec<String>, Vec<String>)>,
    reads_left: u32,
    updated_at: Option<String>,
    applied_at: Option<String>,
}

struct Store {
    seed: Seed,
    rollouts: HashMap<String, Rollout>,
}

impl Store {
    fn normalize(&mut self) {
        for p in &mut self.seed.projects {
            for (field, default) in AUTH_DEFAULTS {
                p.auth.entry(field.to_owned()).or_insert(Some(default));
            }
            if p.name.is_empty() {
                p.name = p.project_ref.clone();
            }
        }
    }

    fn project(&self, r: &str) -> Result<&Project, ApiError> {
        self.seed
            .projects
            .iter()
            .find(|p| p.project_ref == r)
            .ok_or_else(|| not_found(r))
    }

    fn project_mut(&mut self, r: &str) -> Result<&mut Project, ApiError> {
        self.seed
            .projects
            .iter_mut()
            .find(|p| p.project_ref == r)
            .ok_or_else(|| not_found(r))
    }
}

fn not_found(r: &str) -> ApiError {
    if valid_ref(r) {
        ApiError::new(StatusCode::NOT_FOUND, "Project not found")
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, "ref must be 20 lower-case letters")
    }
}

impl SupabaseEmulator {
    /// Builds the emulator; Auth rate limits not seeded take Supabase's defaults. The seed is
    /// not validated; call [`Seed::validate`] for that.
    pub fn new(seed: Seed) -> Self {
        let mut store = Store {
            seed,
            rollouts: HashMap::new(),
        };
        store.normalize();
        Self {
            shared: Arc::new(Shared {
                store: Mutex::new(store),
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
        let api = Router::new()
            .route("/v1/projects", get(list_projects))
            .route(
                "/v1/projects/{ref}/network-restrictions",
                get(get_restrictions),
            )
            .route(
                "/v1/projects/{ref}/network-restrictions/apply",
                post(apply_restrictions),
            )
            .route(
                "/v1/projects/{ref}/ssl-enforcement",
                get(get_ssl).put(put_ssl),
            )
            .route(
                "/v1/projects/{ref}/config/auth",
                get(get_auth).patch(patch_auth),
            )
            .route("/v1/projects/{ref}/network-bans/retrieve", post(list_bans))
            .route("/v1/projects/{ref}/health", get(health))
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
        self.shared.store().seed.clone()
    }

    /// Edits the state directly, e.g. to emulate a change made in the dashboard (drift).
    pub fn mutate(&self, edit: impl FnOnce(&mut Seed)) {
        let mut store = self.shared.store();
        edit(&mut store.seed);
        store.normalize();
    }
}

const STYLE: ProviderStyle = ProviderStyle {
    error_body: |_, message| json!({ "message": message }),
    // Every endpoint answers an object or an array.
    wrong_shape_body: || json!("emulated wrong shape"),
};

/// An error answer: `{"message": …}`.
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
        json_response(self.status, &json!({ "message": self.message }))
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok(status: StatusCode, body: Value) -> ApiResult {
    Ok(json_response(status, &body))
}

fn json_object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::bad_request("Request body must be a JSON object")),
    }
}

async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Cannot find the requested route")
}

async fn authenticate(State(shared): Ctx, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let accepted =
        presented.is_some_and(|token| shared.store().seed.tokens.iter().any(|t| t == token));
    if !accepted {
        // Never echo what was presented: error bodies end up in logs.
        return ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    }
    next.run(req).await
}

async fn list_projects(State(shared): Ctx) -> ApiResult {
    let store = shared.store();
    let projects: Vec<Value> = store
        .seed
        .projects
        .iter()
        .map(|p| {
            json!({
                "id": p.project_ref, "ref": p.project_ref, "name": p.name,
                "organization_id": "emulated-org", "organization_slug": "emulated-org",
                "region": "eu-central-1", "created_at": "2026-01-01T00:00:00.000Z",
                "status": "ACTIVE_HEALTHY",
                "database": {
                    "host": format!("db.{}.supabase.co", p.project_ref),
                    "version": "17.4.1.054", "postgres_engine": "17", "release_channel": "ga"
                }
            })
        })
        .collect();
    ok(StatusCode::OK, Value::from(projects))
}

fn restrictions(project: &Project, rollout: &Rollout) -> Value {
    let mut out = json!({
        "entitlement": project.entitlement,
        "config": {
            "dbAllowedCidrs": project.db_allowed_cidrs,
            "dbAllowedCidrsV6": project.db_allowed_cidrs_v6,
        },
        "status": if rollout.old.is_some() { "stored" } else { "applied" },
    });
    if let Some((v4, v6)) = &rollout.old {
        out["old_config"] = json!({"dbAllowedCidrs": v4, "dbAllowedCidrsV6": v6});
    }
    if let Some(t) = &rollout.updated_at {
        out["updated_at"] = Value::from(t.as_str());
    }
    if let Some(t) = &rollout.applied_at {
        out["applied_at"] = Value::from(t.as_str());
    }
    out
}

async fn get_restrictions(State(shared): Ctx, Path(r): Path<String>) -> ApiResult {
    let mut store = shared.store();
    let project = store.project(&r)?.clone();
    let rollout = store.rollouts.entry(r).or_default();
    if rollout.old.is_some() && !project.apply_stuck {
        if rollout.reads_left == 0 {
            rollout.old = None;
            rollout.applied_at = Some(server::now_rfc3339());
        } else {
            rollout.reads_left -= 1;
        }
    }
    ok(StatusCode::OK, restrictions(&project, rollout))
}

/// A CIDR list of the body, checked like the API (strings, valid ranges of the family).
fn cidr_list(
    body: &Map<String, Value>,
    key: &str,
    v6: bool,
) -> Result<Option<Vec<String>>, ApiError> {
    let Some(value) = body.get(key) else {
        return Ok(None);
    };
    let list = value
        .as_array()
        .ok_or_else(|| ApiError::bad_request(format!("{key} must be an array")))?;
    let mut out = Vec::new();
    for v in list {
        let text = v
            .as_str()
            .ok_or_else(|| ApiError::bad_request(format!("{key} must contain strings")))?;
        check_cidr(text, v6).map_err(|e| ApiError::bad_request(format!("{key}: {e}")))?;
        out.push(text.to_owned());
    }
    Ok(Some(out))
}

async fn apply_restrictions(State(shared): Ctx, Path(r): Path<String>, body: Bytes) -> ApiResult {
    let body = json_object(&body)?;
    if let Some(key) = body
        .keys()
        .find(|k| !matches!(k.as_str(), "dbAllowedCidrs" | "dbAllowedCidrsV6"))
    {
        return Err(ApiError::bad_request(format!(
            "property {key} should not exist"
        )));
    }
    let v4 = cidr_list(&body, "dbAllowedCidrs", false)?;
    let v6 = cidr_list(&body, "dbAllowedCidrsV6", true)?;
    let mut store = shared.store();
    let project = store.project_mut(&r)?;
    if project.entitlement != "allowed" {
        return Err(ApiError::bad_request(
            "Network restrictions are not available on this project's plan",
        ));
    }
    let old = (
        project.db_allowed_cidrs.clone(),
        project.db_allowed_cidrs_v6.clone(),
    );
    // An omitted list is emptied: the body is the whole new configuration.
    project.db_allowed_cidrs = v4.unwrap_or_default();
    project.db_allowed_cidrs_v6 = v6.unwrap_or_default();
    let reads = project.apply_after_reads;
    let project = project.clone();
    let rollout = store.rollouts.entry(r).or_default();
    // A change on top of a pending one keeps the config applied before both.
    let applied_before = rollout.old.take().unwrap_or(old);
    rollout.old = Some(applied_before);
    rollout.reads_left = reads;
    rollout.updated_at = Some(server::now_rfc3339());
    ok(StatusCode::CREATED, restrictions(&project, rollout))
}

fn ssl_answer(project: &Project) -> Value {
    json!({"currentConfig": {"database": project.ssl_enforced}, "appliedSuccessfully": true})
}

async fn get_ssl(State(shared): Ctx, Path(r): Path<String>) -> ApiResult {
    let store = shared.store();
    ok(StatusCode::OK, ssl_answer(store.project(&r)?))
}

async fn put_ssl(State(shared): Ctx, Path(r): Path<String>, body: Bytes) -> ApiResult {
    let body = json_object(&body)?;
    let database = body
        .get("requestedConfig")
        .and_then(|c| c.get("database"))
        .and_then(Value::as_bool)
        .ok_or_else(|| ApiError::bad_request("requestedConfig.database must be a boolean"))?;
    let mut store = shared.store();
    let project = store.project_mut(&r)?;
    project.ssl_enforced = database;
    ok(StatusCode::OK, ssl_answer(project))
}

/// Every other field the spec's `AuthConfigResponse` requires (230 of them), as a new
/// project's answer has them: derived from that schema's `required` list (nullable fields
/// null; the eight that are not nullable given Supabase's documented defaults). The emulator
/// models only the `rate_limit_*` fields; these make its answer the documented shape, which
/// `tests/supabase_conformance.rs` checks through Prism.
const AUTH_CONFIG: &str = include_str!("auth_config.json");

fn auth_answer(project: &Project) -> Value {
    let mut out: Map<String, Value> = serde_json::from_str(AUTH_CONFIG).unwrap_or_default();
    // A few of the other (required) fields with values, so a client that reads only rate
    // limits is tested against an answer that has more.
    out.insert("site_url".into(), json!("http://localhost:3000"));
    out.insert("disable_signup".into(), json!(false));
    out.insert("jwt_exp".into(), json!(3600));
    for (field, value) in &project.auth {
        out.insert(field.clone(), json!(value));
    }
    Value::Object(out)
}

async fn get_auth(State(shared): Ctx, Path(r): Path<String>) -> ApiResult {
    let store = shared.store();
    ok(StatusCode::OK, auth_answer(store.project(&r)?))
}

async fn patch_auth(State(shared): Ctx, Path(r): Path<String>, body: Bytes) -> ApiResult {
    let body = json_object(&body)?;
    let mut updates = BTreeMap::new();
    for (key, value) in &body {
        if !AUTH_DEFAULTS.iter().any(|(k, _)| k == key) {
            return Err(ApiError::bad_request(format!(
                "{key}: the emulator models only the rate_limit_* fields"
            )));
        }
        let value = match value {
            Value::Null => None,
            v => Some(
                v.as_u64()
                    .filter(|n| (1..=2_147_483_647).contains(n))
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        ApiError::bad_request(format!("{key} must be an integer from 1"))
                    })?,
            ),
        };
        updates.insert(key.clone(), value);
    }
    let mut store = shared.store();
    let project = store.project_mut(&r)?;
    project.auth.extend(updates);
    ok(StatusCode::OK, auth_answer(project))
}

async fn list_bans(State(shared): Ctx, Path(r): Path<String>) -> ApiResult {
    let store = shared.store();
    let project = store.project(&r)?;
    ok(
        StatusCode::CREATED,
        json!({ "banned_ipv4_addresses": project.banned_ipv4_addresses }),
    )
}

/// `services` is an array in the query: repeated (`services=a&services=b`, the spec's default
/// form style) or comma-separated.
async fn health(State(shared): Ctx, Path(r): Path<String>, RawQuery(query): RawQuery) -> ApiResult {
    let mut services = Vec::new();
    for pair in query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "services" => {
                for s in value.split("%2C").flat_map(|v| v.split(',')) {
                    if !SERVICES.contains(&s) {
                        return Err(ApiError::bad_request(format!(
                            "services: unknown service {:?}",
                            s.chars().take(40).collect::<String>()
                        )));
                    }
                    services.push(s.to_owned());
                }
            }
            "timeout_ms" if !value.parse::<u32>().is_ok_and(|t| t <= 10_000) => {
                return Err(ApiError::bad_request("timeout_ms must be 0 to 10000"));
            }
            _ => {}
        }
    }
    if services.is_empty() {
        return Err(ApiError::bad_request("services is required"));
    }
    let store = shared.store();
    let project = store.project(&r)?;
    let answer: Vec<Value> = services
        .iter()
        .map(|s| {
            let status = project
                .services
                .get(s)
                .map_or("ACTIVE_HEALTHY", String::as_str);
            let mut entry =
                json!({"name": s, "healthy": status == "ACTIVE_HEALTHY", "status": status});
            if status == "UNHEALTHY" {
                entry["error"] = json!("service did not answer its health check");
            }
            entry
        })
        .collect();
    ok(StatusCode::OK, Value::from(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF: &str = "abcdefghijklmnopqrst";

    /// The embedded answer shape parses, with every required field but the modelled limits.
    #[test]
    fn the_auth_config_shape_is_whole() {
        let shape: Map<String, Value> =
            serde_json::from_str(AUTH_CONFIG).expect("auth_config.json");
        assert_eq!(shape.len(), 230);
        assert!(!shape.keys().any(|k| k.starts_with("rate_limit_")));
    }

    fn emulator(extra: Value) -> SupabaseEmulator {
        let mut project = json!({"ref": REF});
        if let (Value::Object(p), Value::Object(e)) = (&mut project, extra) {
            p.extend(e);
        }
        let seed: Seed =
            serde_json::from_value(json!({"tokens": ["sbp_t"], "projects": [project]}))
                .expect("seed");
        seed.validate().expect("valid seed");
        SupabaseEmulator::new(seed)
    }

    async fn call(
        base: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .request(method, format!("{base}{path}"))
            .bearer_auth("sbp_t");
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
            json!({"projects": [{"ref": "short"}]}),
            json!({"projects": [{"ref": REF}, {"ref": REF}]}),
            json!({"projects": [{"ref": REF, "db_allowed_cidrs": ["::/0"]}]}),
            json!({"projects": [{"ref": REF, "auth": {"rate_limit_nope": 1}}]}),
            json!({"projects": [{"ref": REF, "services": {"db": "DOWN"}}]}),
            json!({"projects": [{"ref": REF, "entitlement": "maybe"}]}),
        ];
        for seed in bad {
            let seed: Seed = serde_json::from_value(seed.clone()).expect("parses");
            assert!(seed.validate().is_err(), "{seed:?}");
        }
    }

    /// A change is stored, then applied after the seeded number of reads; the old config is
    /// shown meanwhile.
    #[tokio::test]
    async fn a_change_is_stored_then_applied() {
        let emu = emulator(json!({"apply_after_reads": 1}));
        let running = emu.start("127.0.0.1:0").await.expect("starts");
        let base = running.base_url();
        let path = format!("/v1/projects/{REF}/network-restrictions");
        let (status, answer) = call(
            &base,
            reqwest::Method::POST,
            &format!("{path}/apply"),
            Some(json!({"dbAllowedCidrs": ["203.0.113.0/24"], "dbAllowedCidrsV6": []})),
        )
        .await;
        assert_eq!(status, 201);
        assert_eq!(answer["status"], "stored");
        assert_eq!(answer["old_config"]["dbAllowedCidrs"], json!(["0.0.0.0/0"]));
        let (_, first) = call(&base, reqwest::Method::GET, &path, None).await;
        assert_eq!(first["status"], "stored");
        let (_, second) = call(&base, reqwest::Method::GET, &path, None).await;
        assert_eq!(second["status"], "applied");
        assert_eq!(
            second["config"]["dbAllowedCidrs"],
            json!(["203.0.113.0/24"])
        );
        assert!(second.get("old_config").is_none());
        assert!(second["applied_at"].is_string());
    }

    /// Bad bodies, a plan without restrictions and a bad token are refused; nothing changes.
    #[tokio::test]
    async fn invalid_requests_change_nothing() {
        let emu = emulator(json!({}));
        let running = emu.start("127.0.0.1:0").await.expect("starts");
        let base = running.base_url();
        let apply = format!("/v1/projects/{REF}/network-restrictions/apply");
        for body in [
            json!({"dbAllowedCidrs": ["::/0"]}),
            json!({"dbAllowedCidrs": "0.0.0.0/0"}),
            json!({"dbAllowedCidrs": ["10.0.0.0/40"]}),
            json!({"other": []}),
            json!([]),
        ] {
            let (status, answer) =
                call(&base, reqwest::Method::POST, &apply, Some(body.clone())).await;
            assert_eq!(status, 400, "{body}");
            assert!(answer["message"].is_string());
        }
        let auth = format!("/v1/projects/{REF}/config/auth");
        for body in [json!({"rate_limit_otp": 0}), json!({"site_url": "x"})] {
            let (status, _) = call(&base, reqwest::Method::PATCH, &auth, Some(body)).await;
            assert_eq!(status, 400);
        }
        let (status, _) = call(
            &base,
            reqwest::Method::GET,
            "/v1/projects/zzzzzzzzzzzzzzzzzzzz/ssl-enforcement",
            None,
        )
        .await;
        assert_eq!(status, 404);
        let resp = reqwest::Client::new()
            .get(format!("{base}/v1/projects"))
            .bearer_auth("sbp_wrong_secret")
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status().as_u16(), 401);
        assert!(
            !resp
                .text()
                .await
                .expect("body")
                .contains("sbp_wrong_secret")
        );
        emu.mutate(|s| s.projects[0].entitlement = "disallowed".into());
        let (status, _) = call(
            &base,
            reqwest::Method::POST,
            &apply,
            Some(json!({"dbAllowedCidrs": []})),
        )
        .await;
        assert_eq!(status, 400);
        let p = &emu.snapshot().projects[0];
        assert_eq!(p.db_allowed_cidrs, ["0.0.0.0/0"]);
        assert_eq!(p.auth["rate_limit_otp"], Some(30));
        assert!(emu.log().writes().iter().all(|w| w.status >= 400));
    }

    #[tokio::test]
    async fn ssl_auth_bans_and_health_read_and_write() {
        let emu = emulator(json!({
            "banned_ipv4_addresses": ["192.0.2.1"], "services": {"db": "UNHEALTHY"}
        }));
        let running = emu.start("127.0.0.1:0").await.expect("starts");
        let base = running.base_url();
        let p = format!("/v1/projects/{REF}");
        let (status, ssl) = call(
            &base,
            reqwest::Method::PUT,
            &format!("{p}/ssl-enforcement"),
            Some(json!({"requestedConfig": {"database": true}})),
        )
        .await;
        assert_eq!(
            (status, &ssl["currentConfig"]["database"]),
            (200, &json!(true))
        );
        let (_, auth) = call(
            &base,
            reqwest::Method::PATCH,
            &format!("{p}/config/auth"),
            Some(json!({"rate_limit_email_sent": 5})),
        )
        .await;
        assert_eq!(auth["rate_limit_email_sent"], 5);
        assert_eq!(auth["rate_limit_otp"], 30);
        let (status, bans) = call(
            &base,
            reqwest::Method::POST,
            &format!("{p}/network-bans/retrieve"),
            None,
        )
        .await;
        assert_eq!(
            (status, bans),
            (201, json!({"banned_ipv4_addresses": ["192.0.2.1"]}))
        );
        let (status, health) = call(
            &base,
            reqwest::Method::GET,
            &format!("{p}/health?services=auth&services=db&timeout_ms=2000"),
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(health[0]["status"], "ACTIVE_HEALTHY");
        assert_eq!(health[1]["status"], "UNHEALTHY");
        let (status, _) = call(
            &base,
            reqwest::Method::GET,
            &format!("{p}/health?services=nope"),
            None,
        )
        .await;
        assert_eq!(status, 400);
    }
}
