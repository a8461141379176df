//! Stateful emulator of the Vercel REST API (the parts Perimeter manages): a project's
//! firewall configuration, Attack Challenge Mode, system-mitigation bypass, attack status,
//! drains and legacy log drains. Field names and shapes are those of Vercel's OpenAPI document
//! (the copy the vercel/sdk repository generates from, 2025-10-27).
//!
//! Paths are served at the root, as on `https://api.vercel.com`: a client's base URL is
//! [`RunningEmulator::base_url`].
//!
//! # Seed
//!
//! ```
//! use perimeter_emulators::vercel::{Seed, VercelEmulator};
//!
//! let seed: Seed = serde_json::from_value(serde_json::json!({
//!     "tokens": ["demo-token"],
//!     "teams": [{
//!         "id": "team_acme", "slug": "acme", "plan": "enterprise",
//!         "projects": [{
//!             "id": "prj_web", "name": "web",
//!             "firewall": {"firewallEnabled": true, "rules": [], "ips": [
//!                 {"hostname": "web.example.com", "ip": "203.0.113.9", "action": "deny"}
//!             ]}
//!         }],
//!         "drains": [{"name": "siem", "projects": "all", "schemas": {"log": {"version": "v1"}},
//!                     "delivery": {"type": "http", "endpoint": "https://siem.example.com",
//!                                  "encoding": "json", "headers": {}}}]
//!     }]
//! })).unwrap();
//! assert!(seed.validate().is_ok());
//! let emulator = VercelEmulator::new(seed);
//! // Ids, versions and the OWASP core ruleset's defaults were filled in.
//! let state = emulator.snapshot();
//! let firewall = &state.teams[0].projects[0].firewall;
//! assert_eq!(firewall["version"], 1);
//! assert!(firewall["ips"][0]["id"].is_string());
//! assert_eq!(firewall["crs"]["sqli"]["action"], "log");
//! ```
//!
//! # Endpoints
//!
//! Every endpoint takes `teamId` (a team's id) as Vercel does; without it, the personal
//! account is addressed. `projectId` is a project id or name.
//!
//! | Method | Path |
//! |---|---|
//! | GET | `/v2/user`, `/v2/teams/{teamId}` |
//! | GET | `/v10/projects` (`limit` 1..=100, default 20; `from` = the previous page's `pagination.next`, a Base32 continuation token) |
//! | GET | `/v9/projects/{idOrName}` (with its `security` object) |
//! | GET | `/v1/security/firewall/config/{configVersion}` (`active` or the current version) |
//! | PUT | `/v1/security/firewall/config` (answers `{"active": config}`) |
//! | POST | `/v1/security/attack-mode` |
//! | GET, POST, DELETE | `/v1/security/firewall/bypass` |
//! | GET | `/v1/security/firewall/attack-status` |
//! | GET, POST | `/v1/drains` |
//! | GET, PATCH, DELETE | `/v1/drains/{id}` |
//! | GET | `/v1/log-drains` |
//!
//! # Errors
//!
//! Vercel's envelope `{"error": {"code", "message"}}`:
//!
//! | Situation | HTTP | code |
//! |---|---|---|
//! | missing or unknown bearer token (never echoed) | 401 | `forbidden` |
//! | a team the token cannot reach | 403 | `forbidden` |
//! | unknown project, drain or config version | 404 | `not_found` |
//! | invalid body or query (the message names the field) | 400 | `bad_request` |
//! | a feature the team's plan does not include (the message names it) | 402 | `payment_required` |
//! | throttled (fault or [`VercelEmulator::set_rate_limit`]) | 429 + `retry-after` | `rate_limited` |
//! | unknown route | 404 | `not_found` |
//! | injected server error | as injected | `internal_server_error` |
//!
//! Plans: `hobby` has no rate-limit rules and no managed rulesets but `ai_bots`; `pro` has no
//! OWASP managed ruleset; `enterprise` has everything (the emulator's simplification of
//! Vercel's pricing page).
//!
//! # Request log and faults
//!
//! Every request goes through the shared [`crate::faults`] middleware and is recorded in the
//! [`RequestLog`] with its full path; fault rules match that path.

pub mod seed;
mod validate;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

pub use seed::{AttackMode, Plan, Project, Seed, Team};

use crate::faults::Faults;
use crate::server::{self, IdGen, ProviderStyle, RequestLog, RunningEmulator, json_response};

/// A Vercel API emulator. Clones share state, faults and log.
#[derive(Clone)]
pub struct VercelEmulator {
    shared: Arc<Shared>,
    faults: Faults,
    log: RequestLog,
}

struct Shared {
    store: Mutex<Store>,
    throttle: Mutex<Option<Throttle>>,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type Ctx = State<Arc<Shared>>;
type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

struct Store {
    seed: Seed,
    ids: IdGen,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Store {
    fn new(seed: Seed) -> Self {
        let mut store = Store {
            seed,
            ids: IdGen::new(),
        };
        store.normalize();
        store
    }

    /// Fills in what Vercel would have assigned. Idempotent.
    fn normalize(&mut self) {
        let ids = &mut self.ids;
        let now = server::now_rfc3339();
        for team in &mut self.seed.teams {
            if team.id.is_empty() {
                team.id = format!("team_{}", &ids.hex32()[..24]);
            }
            for project in &mut team.projects {
                if project.id.is_empty() {
                    project.id = format!("prj_{}", &ids.hex32()[..28]);
                }
                let fw = &mut project.firewall;
                if !fw.is_object() {
                    *fw = json!({"firewallEnabled": false});
                }
                let owner = team.id.clone();
                let fill = |fw: &mut Value, key: &str, v: Value| {
                    if fw.get(key).is_none_or(Value::is_null) {
                        fw[key] = v;
                    }
                };
                fill(fw, "ownerId", Value::from(owner));
                fill(fw, "projectKey", Value::from(project.id.clone()));
                fill(
                    fw,
                    "id",
                    Value::from(format!("fwcfg_{}", &ids.hex32()[..20])),
                );
                fill(fw, "version", Value::from(1));
                fill(fw, "updatedAt", Value::from(now.clone()));
                fill(fw, "firewallEnabled", Value::from(false));
                fill(fw, "rules", json!([]));
                fill(fw, "ips", json!([]));
                fill(fw, "changes", json!([]));
                // Vercel's defaults: every core rule present, logging only.
                let crs = fw
                    .as_object_mut()
                    .and_then(|m| m.entry("crs").or_insert_with(|| json!({})).as_object_mut())
                    .map(std::mem::take)
                    .unwrap_or_default();
                let mut full = Map::new();
                for id in validate::CRS_IDS {
                    let rule = crs
                        .get(id)
                        .cloned()
                        .unwrap_or_else(|| json!({"active": false, "action": "log"}));
                    full.insert(id.to_string(), rule);
                }
                fw["crs"] = Value::Object(full);
                for key in ["rules", "ips"] {
                    if let Some(items) = fw.get_mut(key).and_then(Value::as_array_mut) {
                        for item in items {
                            if item.get("id").is_none_or(Value::is_null) && item.is_object() {
                                item["id"] = Value::from(format!(
                                    "{}_{}",
                                    if key == "rules" { "rule" } else { "ip" },
                                    &ids.hex32()[..16]
                                ));
                            }
                        }
                    }
                }
                for entry in &mut project.bypass {
                    if entry.get("Id").is_none_or(Value::is_null) && entry.is_object() {
                        entry["Id"] = Value::from(ids.hex32());
                    }
                    if entry.is_object() {
                        entry["OwnerId"] = Value::from(team.id.clone());
                        entry["ProjectId"] = Value::from(project.id.clone());
                        for key in ["CreatedAt", "UpdatedAt"] {
                            if entry.get(key).is_none() {
                                entry[key] = Value::from(now.clone());
                            }
                        }
                        if entry.get("UpdatedAtHour").is_none() {
                            entry["UpdatedAtHour"] = Value::from(now.get(..13).unwrap_or(""));
                        }
                    }
                }
            }
            for drain in &mut team.drains {
                if !drain.is_object() {
                    continue;
                }
                if drain.get("id").is_none() {
                    drain["id"] = Value::from(format!("drn_{}", &ids.hex32()[..20]));
                }
                stored_drain(drain, &team.id);
            }
            for drain in &mut team.log_drains {
                if drain.is_object() && drain.get("id").is_none() {
                    drain["id"] = Value::from(format!("ld_{}", &ids.hex32()[..20]));
                }
            }
        }
    }

    /// The team a request addresses: `teamId`, or the personal account without it.
    fn team(&self, q: &HashMap<String, String>) -> Result<usize, ApiError> {
        let found = match q.get("teamId") {
            Some(id) => self.seed.teams.iter().position(|t| &t.id == id),
            None => self.seed.teams.iter().position(|t| t.personal),
        };
        found.ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "You don't have permission to access this team",
            )
        })
    }

    fn project(&self, q: &HashMap<String, String>, key: &str) -> Result<(usize, usize), ApiError> {
        let team = self.team(q)?;
        let wanted = q
            .get(key)
            .ok_or_else(|| ApiError::bad_request(format!("query.{key} is required")))?;
        self.seed.teams[team]
            .projects
            .iter()
            .position(|p| &p.id == wanted || &p.name == wanted)
            .map(|p| (team, p))
            .ok_or_else(|| ApiError::not_found("Project not found"))
    }
}

/// A drain as stored and listed: what the API adds to a created one.
fn stored_drain(drain: &mut Value, owner: &str) {
    let now = now_ms();
    for (key, v) in [
        ("ownerId", Value::from(owner)),
        ("createdAt", Value::from(now)),
        ("updatedAt", Value::from(now)),
        ("status", Value::from("enabled")),
        ("source", json!({"kind": "self-served"})),
    ] {
        if drain.get(key).is_none() {
            drain[key] = v;
        }
    }
    if drain.get("projectIds").is_none() {
        drain["projectIds"] = json!([]);
    }
    if let Some(m) = drain.as_object_mut() {
        // `projects` is a request field; the listing has only `projectIds`.
        m.remove("projects");
    }
}

struct Throttle {
    max: u32,
    window: Duration,
    started: Instant,
    used: u32,
}

impl VercelEmulator {
    /// Builds the emulator from a seed, filling in ids, versions and defaults. The seed is not
    /// validated; call [`Seed::validate`] for that.
    pub fn new(seed: Seed) -> Self {
        Self {
            shared: Arc::new(Shared {
                store: Mutex::new(Store::new(seed)),
                throttle: Mutex::new(None),
            }),
            faults: Faults::new(),
            log: RequestLog::new(),
        }
    }

    pub async fn start(&self, bind: &str) -> std::io::Result<RunningEmulator> {
        server::serve(self.router(), bind).await
    }

    /// The complete app (logging, faults, auth, throttling), for in-process use.
    pub fn router(&self) -> Router {
        let shared = self.shared.clone();
        let api = Router::new()
            .route("/v2/user", get(user))
            .route("/v2/teams/{team_id}", get(team))
            .route("/v10/projects", get(list_projects))
            .route("/v9/projects/{id_or_name}", get(project))
            .route("/v1/security/firewall/config/{version}", get(get_config))
            .route(
                "/v1/security/firewall/config",
                axum::routing::put(put_config),
            )
            .route("/v1/security/attack-mode", axum::routing::post(attack_mode))
            .route(
                "/v1/security/firewall/bypass",
                get(list_bypass).post(add_bypass).delete(remove_bypass),
            )
            .route("/v1/security/firewall/attack-status", get(attack_status))
            .route("/v1/drains", get(list_drains).post(create_drain))
            .route(
                "/v1/drains/{id}",
                get(get_drain).patch(update_drain).delete(delete_drain),
            )
            .route("/v1/log-drains", get(list_log_drains))
            .fallback(no_route)
            .layer(middleware::from_fn_with_state(shared.clone(), throttle))
            .layer(middleware::from_fn_with_state(shared.clone(), authenticate))
            .with_state(shared);
        server::instrument(api, self.log.clone(), self.faults.clone(), STYLE)
    }

    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    pub fn log(&self) -> RequestLog {
        self.log.clone()
    }

    /// Current state in the seed shape. Feeding it to [`Self::new`] reproduces the state.
    pub fn snapshot(&self) -> Seed {
        self.shared.store().seed.clone()
    }

    /// Edits the state directly (a change made in the dashboard); new objects get ids.
    pub fn mutate(&self, edit: impl FnOnce(&mut Seed)) {
        let mut store = self.shared.store();
        edit(&mut store.seed);
        store.normalize();
    }

    /// Throttles authenticated requests to `max` per `window`, answering 429 with
    /// `retry-after` and Vercel's `limit` object beyond it. `0` disables.
    pub fn set_rate_limit(&self, max: u32, window: Duration) {
        let mut throttle = self
            .shared
            .throttle
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *throttle = (max > 0 && !window.is_zero()).then(|| Throttle {
            max,
            window,
            started: Instant::now(),
            used: 0,
        });
    }
}

const STYLE: ProviderStyle = ProviderStyle {
    error_body: style_error_body,
    wrong_shape_body: || json!({"drains": "emulated wrong shape", "active": "emulated wrong shape", "user": 0}),
};

fn style_error_body(status: u16, message: &str) -> Value {
    let code = match status {
        401 | 403 => "forbidden",
        402 => "payment_required",
        404 => "not_found",
        405 => "method_unknown",
        429 => "rate_limited",
        400..=499 => "bad_request",
        _ => "internal_server_error",
    };
    json!({"error": {"code": code, "message": message}})
}

/// A failed answer in Vercel's error envelope.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(
            self.status,
            &json!({"error": {"code": self.code, "message": self.message}}),
        )
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok(body: Value) -> ApiResult {
    Ok(json_response(StatusCode::OK, &body))
}

fn params(q: Params) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(format!("Invalid query: {e}")))
}

fn body_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|_| ApiError::bad_request("Invalid JSON body"))
}

async fn no_route() -> ApiError {
    ApiError::not_found("The requested endpoint was not found")
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
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "forbidden",
            "Not authorized: the token is missing or invalid",
        )
        .into_response();
    }
    next.run(req).await
}

async fn throttle(State(shared): Ctx, req: Request, next: Next) -> Response {
    let refused = {
        let mut guard = shared.throttle.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_mut().and_then(|t| {
            let now = Instant::now();
            if now.duration_since(t.started) >= t.window {
                t.started = now;
                t.used = 0;
            }
            let reset = t.window.saturating_sub(now.duration_since(t.started));
            if t.used >= t.max {
                let secs = (reset.as_secs() + u64::from(reset.subsec_nanos() > 0)).max(1);
                Some((t.max, secs))
            } else {
                t.used += 1;
                None
            }
        })
    };
    let Some((total, retry_after)) = refused else {
        return next.run(req).await;
    };
    let reset_ms = now_ms() + i64::try_from(retry_after * 1000).unwrap_or(0);
    let body = json!({"error": {
        "code": "rate_limited",
        "message": "Rate limit exceeded",
        "limit": {"remaining": 0, "reset": reset_ms / 1000, "resetMs": reset_ms, "total": total},
    }});
    let mut response = json_response(StatusCode::TOO_MANY_REQUESTS, &body);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

// ---- account ---------------------------------------------------------------------------

/// The one user every token belongs to: the personal team's owner, else `emulated`.
fn token_user(store: &Store) -> (String, String) {
    let personal = store.seed.teams.iter().find(|t| t.personal);
    personal.map_or(("user_emulated".into(), "emulated".into()), |t| {
        (t.id.clone(), t.slug.clone())
    })
}

async fn user(State(shared): Ctx) -> ApiResult {
    let store = shared.store();
    let (id, name) = token_user(&store);
    ok(
        json!({"user": {"id": id, "username": name, "email": format!("{name}@example.com"), "name": name}}),
    )
}

async fn team(State(shared): Ctx, Path(team_id): Path<String>) -> ApiResult {
    let store = shared.store();
    let q = HashMap::from([("teamId".to_string(), team_id)]);
    let t = &store.seed.teams[store.team(&q)?];
    // Every property the spec's `Team` requires; the emulator holds no more than the id,
    // slug and name, so the rest are fixed, plausible values.
    const CREATED: i64 = 1_700_000_000_000;
    ok(json!({
        "id": t.id, "slug": t.slug, "name": t.name,
        "creatorId": "user_emulated", "createdAt": CREATED, "updatedAt": CREATED,
        "description": null, "stagingPrefix": t.slug, "avatar": null,
        "membership": {"confirmed": true, "role": "MEMBER", "createdAt": CREATED, "created": CREATED},
    }))
}

/// The account's projects, a page at a time, each with the fields the spec's list requires
/// (the emulator keeps no build settings, so those are fixed, plausible values).
/// The production deployment `getProjects` carries in `targets.production`, with the fields
/// the spec requires of it and the project's domains as its `alias`; `None` without domains.
fn production_target(p: &seed::Project, owner: &str) -> Option<Value> {
    let first = p.domains.first()?;
    let suffix: String =
        p.id.chars()
            .rev()
            .take(9)
            .collect::<String>()
            .to_ascii_lowercase();
    let url = format!("{}-{suffix}.vercel.app", p.name);
    Some(json!({
        "id": format!("dpl_{}", p.id.trim_start_matches("prj_")),
        "alias": p.domains, "aliasAssigned": 1_767_225_600_000u64, "aliasFinal": first,
        "createdAt": 1_767_225_600_000u64, "createdIn": "iad1",
        "creator": {"uid": owner, "username": "emulator", "email": "emulator@example.com"},
        "deploymentHostname": url, "name": p.name, "plan": "pro", "private": false,
        "readyState": "READY", "target": "production", "type": "LAMBDAS", "url": url,
        "userId": owner,
    }))
}

async fn list_projects(State(shared): Ctx, q: Params) -> ApiResult {
    let q = params(q)?;
    let store = shared.store();
    let t = store.team(&q)?;
    let limit = match q.get("limit") {
        None => 20,
        Some(l) => match l.parse::<usize>() {
            Ok(n @ 1..=100) => n,
            _ => {
                return Err(ApiError::bad_request(
                    "query.limit must be between 1 and 100",
                ));
            }
        },
    };
    let start = match q.get("from") {
        None => 0,
        Some(token) => base32_decode(token)
            .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
            .ok_or_else(|| ApiError::bad_request("query.from is not a continuation token"))?,
    };
    let team = &store.seed.teams[t];
    let page: Vec<Value> = team
        .projects
        .iter()
        .skip(start)
        .take(limit)
        .map(|p| {
            let mut project = json!({
                "id": p.id, "name": p.name, "accountId": team.id, "directoryListing": false,
                "nodeVersion": "22.x", "resourceConfig": {"functionDefaultRegions": ["iad1"]},
                "defaultResourceConfig": {"functionDefaultRegions": ["iad1"]},
            });
            if let Some(target) = production_target(p, &team.id) {
                project["targets"] = json!({"production": target});
            }
            project
        })
        .collect();
    let end = start + page.len();
    let next = (end < team.projects.len()).then(|| base32_encode(&format!("offset:{end}")));
    ok(json!({"projects": page, "pagination": {"count": end - start, "next": next}}))
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 Base32 without padding, as Vercel's continuation tokens look.
fn base32_encode(text: &str) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in text.bytes() {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

fn base32_decode(token: &str) -> Option<String> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in token.bytes() {
        let value = BASE32.iter().position(|b| *b == c)?;
        buffer = (buffer << 5) | u32::try_from(value).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    String::from_utf8(out).ok()
}

async fn project(State(shared): Ctx, Path(id): Path<String>, q: Params) -> ApiResult {
    let mut q = params(q)?;
    q.insert("projectId".into(), id);
    let store = shared.store();
    let (t, p) = store.project(&q, "projectId")?;
    let project = &store.seed.teams[t].projects[p];
    let fw = &project.firewall;
    // Vercel turns the mode off by itself once its expiry has passed.
    let expired = project
        .attack_mode
        .active_until
        .is_some_and(|until| until <= now_ms());
    let mut security = json!({
        "attackModeEnabled": project.attack_mode.enabled && !expired,
        "attackModeUpdatedAt": project.attack_mode.updated_at,
        "firewallEnabled": fw.get("firewallEnabled").cloned().unwrap_or(Value::Bool(false)),
        "firewallConfigVersion": fw.get("version").cloned().unwrap_or(Value::from(1)),
        "botIdEnabled": fw.get("botIdEnabled").cloned().unwrap_or(Value::Bool(false)),
    });
    if let Some(until) = project.attack_mode.active_until {
        security["attackModeActiveUntil"] = Value::from(until);
    }
    ok(json!({
        "id": project.id, "name": project.name, "accountId": store.seed.teams[t].id,
        "security": security,
    }))
}

// ---- firewall --------------------------------------------------------------------------

async fn get_config(State(shared): Ctx, Path(version): Path<String>, q: Params) -> ApiResult {
    let q = params(q)?;
    let store = shared.store();
    let (t, p) = store.project(&q, "projectId")?;
    let fw = &store.seed.teams[t].projects[p].firewall;
    let current = fw.get("version").and_then(Value::as_i64).unwrap_or(1);
    if version != "active" && version.parse::<i64>().ok() != Some(current) {
        // Only the active version is kept.
        return Err(ApiError::not_found("Firewall config version not found"));
    }
    ok(fw.clone())
}

/// What the team's plan does not include that `body` uses.
fn missing_feature(plan: Plan, body: &Value) -> Option<&'static str> {
    let managed_on = |id: &str| {
        body.get("managedRules")
            .and_then(|m| m.get(id))
            .and_then(|r| r.get("active"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let rate_limited = body
        .get("rules")
        .and_then(Value::as_array)
        .is_some_and(|rules| {
            rules.iter().any(|r| {
                r.pointer("/action/mitigate/action").and_then(Value::as_str) == Some("rate_limit")
            })
        });
    match plan {
        Plan::Enterprise => None,
        _ if managed_on("owasp") => Some("managedRules.owasp (OWASP core ruleset)"),
        Plan::Hobby if managed_on("bot_protection") => Some("managedRules.bot_protection"),
        Plan::Hobby if rate_limited => Some("rules with action rate_limit (rate limiting)"),
        _ => None,
    }
}

async fn put_config(State(shared): Ctx, q: Params, body: Bytes) -> ApiResult {
    let q = params(q)?;
    let body = body_json(&body)?;
    validate::firewall_config(&body, false).map_err(ApiError::bad_request)?;
    let mut store = shared.store();
    let (t, p) = store.project(&q, "projectId")?;
    if let Some(feature) = missing_feature(store.seed.teams[t].plan, &body) {
        return Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "payment_required",
            format!("Your plan does not include {feature}"),
        ));
    }
    let old = store.seed.teams[t].projects[p].firewall.clone();
    let mut next = body;
    for key in ["ownerId", "projectKey", "id"] {
        next[key] = old.get(key).cloned().unwrap_or(Value::Null);
    }
    next["version"] = Value::from(old.get("version").and_then(Value::as_i64).unwrap_or(0) + 1);
    next["updatedAt"] = Value::from(server::now_rfc3339());
    // A managed rule set that changes is stamped with when and by whom, as Vercel does: the
    // token's user (the emulator's one user); unchanged ones keep their stamp.
    let (user_id, username) = token_user(&store);
    if let Some(managed) = next.get_mut("managedRules").and_then(Value::as_object_mut) {
        for (id, rule) in managed.iter_mut() {
            let before = old.get("managedRules").and_then(|m| m.get(id));
            let unchanged = ["active", "action"]
                .iter()
                .all(|key| before.and_then(|b| b.get(key)) == rule.get(key));
            if let Some(r) = rule.as_object_mut() {
                if unchanged {
                    for key in ["updatedAt", "userId", "username"] {
                        match before.and_then(|b| b.get(key)) {
                            Some(v) => r.insert(key.into(), v.clone()),
                            None => r.remove(key),
                        };
                    }
                } else {
                    r.insert("updatedAt".into(), Value::from(server::now_rfc3339()));
                    r.insert("userId".into(), Value::from(user_id.clone()));
                    r.insert("username".into(), Value::from(username.clone()));
                }
            }
        }
    }
    next["changes"] = json!([]);
    store.seed.teams[t].projects[p].firewall = next;
    store.normalize();
    let active = store.seed.teams[t].projects[p].firewall.clone();
    ok(json!({"active": active}))
}

async fn attack_mode(State(shared): Ctx, q: Params, body: Bytes) -> ApiResult {
    let mut q = params(q)?;
    let body = body_json(&body)?;
    let m = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request("body must be an object"))?;
    if let Some(k) = m.keys().find(|k| {
        !["projectId", "attackModeEnabled", "attackModeActiveUntil"].contains(&k.as_str())
    }) {
        return Err(ApiError::bad_request(format!("body.{k} is not allowed")));
    }
    let enabled = m
        .get("attackModeEnabled")
        .and_then(Value::as_bool)
        .ok_or_else(|| ApiError::bad_request("body.attackModeEnabled must be a boolean"))?;
    let until =
        match m.get("attackModeActiveUntil") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_i64().ok_or_else(|| {
                ApiError::bad_request("body.attackModeActiveUntil must be a number")
            })?),
        };
    if until.is_some_and(|u| u <= now_ms()) {
        return Err(ApiError::bad_request(
            "body.attackModeActiveUntil must be in the future",
        ));
    }
    let project = m
        .get("projectId")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("body.projectId is required"))?;
    q.insert("projectId".into(), project.to_string());
    let mut store = shared.store();
    let (t, p) = store.project(&q, "projectId")?;
    let now = now_ms();
    store.seed.teams[t].projects[p].attack_mode = AttackMode {
        enabled,
        active_until: if enabled { until } else { None },
        updated_at: now,
    };
    ok(json!({"attackModeEnabled": enabled, "attackModeUpdatedAt": now}))
}

async fn list_bypass(State(shared): Ctx, q: Params) -> ApiResult {
    let q = params(q)?;
    let store = shared.store();
    let (t, p) = store.project(&q, "projectId")?;
    let limit = match q.get("limit") {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=256).contains(l))
            .ok_or_else(|| ApiError::bad_request("query.limit must be from 1 to 256"))?,
        None => 256,
    };
    let all = &store.seed.teams[t].projects[p].bypass;
    // `offset` is the id of the last entry of the previous page.
    let start = match q.get("offset") {
        Some(after) => all
            .iter()
            .position(|e| e.get("Id").and_then(Value::as_str) == Some(after.as_str()))
            .map(|i| i + 1)
            .ok_or_else(|| ApiError::bad_request("query.offset is not a known entry"))?,
        None => 0,
    };
    let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
    let more = start + page.len() < all.len();
    let mut body = json!({"result": page});
    if more && let Some(last) = page.last() {
        body["pagination"] = json!({"OwnerId": store.seed.teams[t].id, "Id": last["Id"]});
    }
    ok(body)
}

fn bypass_matches(entry: &Value, body: &Value) -> bool {
    let domain_ok = match body.get("domain").and_then(Value::as_str) {
        Some(d) => entry.get("Domain").and_then(Value::as_str) == Some(d),
        None => entry.get("IsProjectRule").and_then(Value::as_bool) == Some(true),
    };
    let source = body.get("sourceIp").and_then(Value::as_str).unwrap_or("");
    domain_ok && entry.get("Ip").and_then(Value::as_str).unwrap_or("") == source
}

async fn add_bypass(State(shared): Ctx, q: Params, body: Bytes) -> ApiResult {
    let q = params(q)?;
    let body = body_json(&body)?;
    validate::bypass(&body, true).map_err(ApiError::bad_request)?;
    let mut store = shared.store();
    let (t, p) = store.project(&q, "projectId")?;
    let project_rule = body.get("projectScope") == Some(&Value::Bool(true));
    let entry = json!({
        "Domain": body.get("domain").and_then(Value::as_str).unwrap_or(""),
        "Ip": body.get("sourceIp").and_then(Value::as_str).unwrap_or(""),
        "Action": "bypass",
        "IsProjectRule": project_rule,
        "Note": body.get("note").and_then(Value::as_str).unwrap_or(""),
    });
    let list = &mut store.seed.teams[t].projects[p].bypass;
    // Adding an entry that exists replaces it (its note).
    list.retain(|e| !bypass_matches(e, &body));
    list.push(entry);
    store.normalize();
    let added = store.seed.teams[t].projects[p]
        .bypass
        .last()
        .cloned()
        .unwrap_or(Value::Null);
    ok(json!({"ok": true, "result": [added], "pagination": null}))
}

async fn remove_bypass(State(shared): Ctx, q: Params, body: Bytes) -> ApiResult {
    let q = params(q)?;
    let body = body_json(&body)?;
    validate::bypass(&body, false).map_err(ApiError::bad_request)?;
    let mut store = shared.store();
    let (t, p) = store.project(&q, "projectId")?;
    let list = &mut store.seed.teams[t].projects[p].bypass;
    let before = list.len();
    list.retain(|e| !bypass_matches(e, &body));
    if list.len() == before {
        return Err(ApiError::not_found("Bypass rule not found"));
    }
    ok(json!({"ok": true}))
}

async fn attack_status(State(shared): Ctx, q: Params) -> ApiResult {
    let q = params(q)?;
    let store = shared.store();
    let (t, p) = store.project(&q, "projectId")?;
    let anomalies = &store.seed.teams[t].projects[p].anomalies;
    if anomalies.is_empty() {
        // What Vercel answers with no attack: the spec's first `oneOf` branch, `{}`.
        return ok(json!({}));
    }
    ok(json!({"anomalies": anomalies}))
}

// ---- drains ----------------------------------------------------------------------------

async fn list_drains(State(shared): Ctx, q: Params) -> ApiResult {
    let q = params(q)?;
    let store = shared.store();
    let t = store.team(&q)?;
    let drains: Vec<Value> = store.seed.teams[t]
        .drains
        .iter()
        .filter(|d| match q.get("projectId") {
            Some(p) => d
                .get("projectIds")
                .and_then(Value::as_array)
                .is_some_and(|ids| ids.is_empty() || ids.iter().any(|i| i == p.as_str())),
            None => true,
        })
        .cloned()
        .collect();
    ok(json!({"drains": drains}))
}

fn drain_index(store: &Store, t: usize, id: &str) -> Result<usize, ApiError> {
    store.seed.teams[t]
        .drains
        .iter()
        .position(|d| d.get("id").and_then(Value::as_str) == Some(id))
        .ok_or_else(|| ApiError::not_found("Drain not found"))
}

async fn get_drain(State(shared): Ctx, Path(id): Path<String>, q: Params) -> ApiResult {
    let q = params(q)?;
    let store = shared.store();
    let t = store.team(&q)?;
    let i = drain_index(&store, t, &id)?;
    ok(store.seed.teams[t].drains[i].clone())
}

async fn create_drain(State(shared): Ctx, q: Params, body: Bytes) -> ApiResult {
    let q = params(q)?;
    let body = body_json(&body)?;
    validate::drain(&body, true).map_err(ApiError::bad_request)?;
    if body.get("id").is_some() {
        return Err(ApiError::bad_request("body.id is not allowed"));
    }
    let mut store = shared.store();
    let t = store.team(&q)?;
    let mut drain = body;
    let owner = store.seed.teams[t].id.clone();
    drain["id"] = Value::from(format!("drn_{}", &store.ids.hex32()[..20]));
    stored_drain(&mut drain, &owner);
    store.seed.teams[t].drains.push(drain.clone());
    ok(drain)
}

async fn update_drain(
    State(shared): Ctx,
    Path(id): Path<String>,
    q: Params,
    body: Bytes,
) -> ApiResult {
    let q = params(q)?;
    let body = body_json(&body)?;
    validate::drain(&body, false).map_err(ApiError::bad_request)?;
    let mut store = shared.store();
    let t = store.team(&q)?;
    let i = drain_index(&store, t, &id)?;
    let drain = &mut store.seed.teams[t].drains[i];
    if let Some(m) = body.as_object() {
        for (k, v) in m {
            if k == "projects" {
                if v == "all" {
                    drain["projectIds"] = json!([]);
                }
                continue;
            }
            if k == "status" {
                // Re-enabling (or disabling) a drain clears the error Vercel recorded on it.
                if let Some(d) = drain.as_object_mut() {
                    d.remove("disabledReason");
                    d.remove("firstErrorTimestamp");
                }
            }
            drain[k.as_str()] = v.clone();
        }
    }
    drain["updatedAt"] = Value::from(now_ms());
    ok(drain.clone())
}

async fn delete_drain(State(shared): Ctx, Path(id): Path<String>, q: Params) -> Response {
    let deleted = (|| {
        let q = params(q)?;
        let mut store = shared.store();
        let t = store.team(&q)?;
        let i = drain_index(&store, t, &id)?;
        store.seed.teams[t].drains.remove(i);
        Ok::<_, ApiError>(())
    })();
    match deleted {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn list_log_drains(State(shared): Ctx, q: Params) -> ApiResult {
    let q = params(q)?;
    let store = shared.store();
    let t = store.team(&q)?;
    ok(Value::from(store.seed.teams[t].log_drains.clone()))
}
