//! Stateful emulator of the Upstash Developer API (the parts Perimeter reads and writes).
//!
//! Paths and shapes follow the official OpenAPI document ("Developer API - Upstash", from
//! `upstash/docs`, `devops/developer-api/openapi.yml`), except the allowlist: its write
//! (`POST /v2/redis/update-allowlist/{id}`, body `{"allowed_ips": […]}`) and its read-back
//! (`allowed_ip_ranges` in the database object) are not in that document; their shape is the
//! one Upstash's own Terraform provider uses. The base URL of a client is
//! [`RunningEmulator::base_url`] itself, the host: paths start with `/v2`, as at
//! `api.upstash.com`, except `/auditlogs`, which the spec serves from the host root (its
//! operation overrides `servers` with `https://api.upstash.com`).
//!
//! # Seed
//!
//! ```
//! use perimeter_emulators::upstash::{Seed, UpstashEmulator};
//!
//! let seed: Seed = serde_json::from_value(serde_json::json!({
//!     "keys": [{"email": "ops@example.com", "key": "demo-key", "name": "perimeter"}],
//!     "databases": [{
//!         "database_id": "96ad0856-03b1-4ee7-9666-e81abd0349e1", "database_name": "cache",
//!         "allowed_ip_ranges": ["0.0.0.0/0"], "tls": false,
//!         "security_addons": {"ipWhitelisting": true}
//!     }]
//! })).unwrap();
//! assert!(seed.validate().is_ok());
//! let emulator = UpstashEmulator::new(seed);
//! assert_eq!(emulator.snapshot().databases[0].plan, "paid");
//! ```
//!
//! # Endpoints
//!
//! | Method | Path | Answer |
//! |---|---|---|
//! | GET | `/v2/redis/databases` | 200, `Database[]` |
//! | GET | `/v2/redis/database/{id}?credentials=hide` | 200 `Database` (with `password` unless hidden) |
//! | POST | `/v2/redis/enable-tls/{id}` | 200 `Database` |
//! | POST | `/v2/redis/update-allowlist/{id}` | 200 `"OK"` (not in the spec) |
//! | GET | `/auditlogs` | 200, `AuditLog[]`, oldest first |
//! | GET | `/v2/qstash/ipv4` | 200, `string[]`: QStash's egress CIDRs (`qstash_ipv4` of the seed) |
//!
//! Each successful write appends an audit entry stamped now, with the key's e-mail as actor
//! and `API_KEY - <key name>` as source; the action texts (`Update IP Allowlist`,
//! `Enable TLS`) are this emulator's, the spec gives none.
//!
//! # Errors
//!
//! Bodies follow the spec's `Error` schema, `{"code": "…", "message": "…"}` (the live API is
//! reported to answer some errors as a bare JSON string; unconfirmed). 401 for missing or
//! unknown credentials (never echoed), 404 for an unknown database or route, 400 for an
//! invalid body, 400 for an allowlist on the free plan (the real status for that case is not
//! documented), and the shared [`crate::faults`]. The request log records paths as sent.

pub mod seed;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine;
use serde_json::{Value, json};

pub use seed::{ApiKey, AuditLog, Database, Seed};

use crate::faults::Faults;
use crate::server::{self, IdGen, ProviderStyle, RequestLog, RunningEmulator, json_response};
use seed::{ADDONS, check_entry};

/// An Upstash Developer API emulator. Clones share state, faults and log.
#[derive(Clone)]
pub struct UpstashEmulator {
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

struct Store {
    seed: Seed,
    ids: IdGen,
}

impl Store {
    fn normalize(&mut self) {
        for d in &mut self.seed.databases {
            if d.database_name.is_empty() {
                d.database_name = d.database_id.clone();
            }
        }
    }

    fn database(&self, id: &str) -> Result<&Database, ApiError> {
        self.seed
            .databases
            .iter()
            .find(|d| d.database_id == id)
            .ok_or_else(not_found)
    }

    fn database_mut(&mut self, id: &str) -> Result<&mut Database, ApiError> {
        self.seed
            .databases
            .iter_mut()
            .find(|d| d.database_id == id)
            .ok_or_else(not_found)
    }

    fn audit(&mut self, caller: &Caller, action: &str, entity: String) {
        self.seed.audit_logs.push(AuditLog {
            timestamp: now_seconds(),
            action_string: action.to_owned(),
            entity,
            actor: caller.email.clone(),
            source: format!("API_KEY - {}", caller.key_name),
            ip: "127.0.0.1".to_owned(),
        });
    }
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "database not found")
}

/// Who called: the key that authenticated the request.
#[derive(Clone, Debug)]
struct Caller {
    email: String,
    key_name: String,
}

impl UpstashEmulator {
    /// Builds the emulator; a database without a name is named by its id. The seed is not
    /// validated; call [`Seed::validate`] for that.
    pub fn new(seed: Seed) -> Self {
        let mut store = Store {
            seed,
            ids: IdGen::new(),
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
            .route("/v2/redis/databases", get(list_databases))
            .route("/v2/redis/database/{id}", get(get_database))
            .route("/v2/redis/enable-tls/{id}", post(enable_tls))
            .route("/v2/redis/update-allowlist/{id}", post(update_allowlist))
            .route("/auditlogs", get(audit_logs))
            .route("/v2/qstash/ipv4", get(qstash_ipv4))
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

    /// Edits the state directly, e.g. to emulate a change made in the console (drift). Nothing
    /// is added to the audit log: add an entry in `edit` to show who made the change.
    pub fn mutate(&self, edit: impl FnOnce(&mut Seed)) {
        let mut store = self.shared.store();
        edit(&mut store.seed);
        store.normalize();
    }
}

const STYLE: ProviderStyle = ProviderStyle {
    error_body: |status, message| json!({ "code": status.to_string(), "message": message }),
    // Every endpoint answers an object, an array or (the allowlist write) a string; a number
    // is none of them.
    wrong_shape_body: || json!(42),
};

/// An error answer in the spec's `Error` shape.
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
        json_response(
            self.status,
            &(STYLE.error_body)(self.status.as_u16(), &self.message),
        )
    }
}

type ApiResult = Result<Response, ApiError>;

async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not found")
}

/// HTTP Basic: `base64(email:key)`, both matching one seeded key.
async fn authenticate(State(shared): Ctx, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok());
    let caller = presented.and_then(|pair| {
        let (email, key) = pair.split_once(':')?;
        shared
            .store()
            .seed
            .keys
            .iter()
            .find(|k| k.email == email && k.key == key)
            .map(|k| Caller {
                email: k.email.clone(),
                key_name: k.name.clone(),
            })
    });
    let Some(caller) = caller else {
        // Never echo what was presented: error bodies end up in logs.
        return ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The spec's `Database`, with the Terraform provider's `allowed_ip_ranges` when set and a
/// `password` unless the caller asked for `credentials=hide`.
fn database_answer(d: &Database, hide_credentials: bool) -> Value {
    let addons: serde_json::Map<String, Value> = ADDONS
        .iter()
        .map(|a| {
            let on = d.security_addons.get(*a).copied().unwrap_or(false);
            ((*a).to_owned(), Value::Bool(on))
        })
        .collect();
    let mut out = json!({
        "database_id": d.database_id, "database_name": d.database_name, "region": "global",
        "port": 6379, "creation_time": 1752649602, "state": "active",
        "endpoint": d.endpoint.clone().unwrap_or_else(|| format!("emulated-{}", d.database_id.chars().take(8).collect::<String>())), "tls": d.tls,
        "db_max_clients": 10000, "db_max_request_size": 10485760,
        "db_disk_threshold": 107374182400_i64, "db_max_entry_size": 104857600,
        "db_memory_threshold": 3221225472_i64, "db_max_commands_per_second": 10000,
        "type": d.plan, "budget": 360, "primary_region": "us-east-1",
        "primary_members": ["us-east-1"], "all_members": ["us-east-1"],
        "eviction": false, "auto_upgrade": false, "consistent": false, "modifying_state": "",
        "db_acl_enabled": "false", "db_acl_default_user_status": "true",
        "customer_id": "emulated@example.com", "daily_backup_enabled": false,
        "read_regions": [], "securityAddons": addons,
        "prometheus_enabled": if d.prometheus_enabled { "true" } else { "false" },
        "prod_pack_enabled": false,
    });
    if let (Some(list), Some(obj)) = (&d.allowed_ip_ranges, out.as_object_mut()) {
        obj.insert("allowed_ip_ranges".into(), json!(list));
    }
    if !hide_credentials && let Some(obj) = out.as_object_mut() {
        obj.insert("password".into(), json!("emulated-password-not-a-secret"));
    }
    out
}

fn hides_credentials(query: Option<&str>) -> bool {
    query
        .unwrap_or_default()
        .split('&')
        .any(|pair| pair == "credentials=hide")
}

async fn list_databases(State(shared): Ctx) -> ApiResult {
    let store = shared.store();
    let all: Vec<Value> = store
        .seed
        .databases
        .iter()
        .map(|d| database_answer(d, false))
        .collect();
    Ok(json_response(StatusCode::OK, &Value::from(all)))
}

async fn get_database(
    State(shared): Ctx,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let store = shared.store();
    let d = store.database(&id)?;
    Ok(json_response(
        StatusCode::OK,
        &database_answer(d, hides_credentials(query.as_deref())),
    ))
}

async fn enable_tls(
    State(shared): Ctx,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    let mut store = shared.store();
    let d = store.database_mut(&id)?;
    d.tls = true;
    let (answer, name) = (database_answer(d, false), d.database_name.clone());
    store.audit(&caller, "Enable TLS", name);
    Ok(json_response(StatusCode::OK, &answer))
}

/// Replaces the allowlist. The body must be `{"allowed_ips": [IPv4 address or CIDR, …]}`;
/// an empty list removes the restriction (what Upstash does with one is not documented).
async fn update_allowlist(
    State(shared): Ctx,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let list = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) if map.len() == 1 => match map.get("allowed_ips") {
            Some(Value::Array(list)) => list.clone(),
            _ => return Err(ApiError::bad_request("allowed_ips must be a list")),
        },
        _ => {
            return Err(ApiError::bad_request(
                "the body must be {\"allowed_ips\": [...]}",
            ));
        }
    };
    let mut ips = Vec::new();
    for v in list {
        let Value::String(ip) = v else {
            return Err(ApiError::bad_request("allowed_ips must hold strings"));
        };
        check_entry(&ip).map_err(ApiError::bad_request)?;
        ips.push(ip);
    }
    let mut store = shared.store();
    let d = store.database_mut(&id)?;
    if d.plan == "free" {
        return Err(ApiError::bad_request(
            "IP allowlist is not available on the free plan",
        ));
    }
    d.allowed_ip_ranges = (!ips.is_empty()).then_some(ips);
    let name = d.database_name.clone();
    store.audit(&caller, "Update IP Allowlist", name);
    Ok(json_response(StatusCode::OK, &json!("OK")))
}

async fn qstash_ipv4(State(shared): Ctx) -> ApiResult {
    let ips = shared.store().seed.qstash_ipv4.clone();
    Ok(json_response(StatusCode::OK, &json!(ips)))
}

async fn audit_logs(State(shared): Ctx) -> ApiResult {
    let mut store = shared.store();
    let entries = store.seed.audit_logs.clone();
    let answer: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut entry = json!({
                "log_id": store.ids.uuid(), "customer_id": e.actor, "actor": e.actor,
                "timestamp": e.timestamp, "action": 0, "action_string": e.action_string,
                "source": e.source, "entity": e.entity, "secondary_entity": "NA",
                "third_entity": "", "readable_format": "",
                "ttl": e.timestamp + 180 * 86_400, "reason": "", "notes": ""
            });
            // The spec types `ip` as an IPv4 address: an unknown one is left out, not "".
            if let (false, Some(obj)) = (e.ip.is_empty(), entry.as_object_mut()) {
                obj.insert("ip".into(), json!(e.ip));
            }
            entry
        })
        .collect();
    Ok(json_response(StatusCode::OK, &Value::from(answer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "96ad0856-03b1-4ee7-9666-e81abd0349e1";
    const EMAIL: &str = "ops@example.com";
    const KEY: &str = "emulated-upstash-key";

    fn emulator(extra: Value) -> UpstashEmulator {
        let mut database = json!({"database_id": ID, "database_name": "cache"});
        if let (Value::Object(d), Value::Object(e)) = (&mut database, extra) {
            d.extend(e);
        }
        let seed: Seed = serde_json::from_value(json!({
            "keys": [{"email": EMAIL, "key": KEY, "name": "perimeter"}],
            "databases": [database]
        }))
        .expect("seed");
        seed.validate().expect("valid seed");
        UpstashEmulator::new(seed)
    }

    async fn call(
        base: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .request(method, format!("{base}{path}"))
            .basic_auth(EMAIL, Some(KEY));
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
            json!({"databases": [{"database_id": "cache"}]}),
            json!({"databases": [{"database_id": ID}, {"database_id": ID}]}),
            json!({"databases": [{"database_id": ID, "type": "enterprise"}]}),
            json!({"databases": [{"database_id": ID, "allowed_ip_ranges": ["2001:db8::/32"]}]}),
            json!({"databases": [{"database_id": ID, "allowed_ip_ranges": ["10.0.0.0/33"]}]}),
            json!({"databases": [{"database_id": ID, "type": "free", "allowed_ip_ranges": ["10.0.0.0/8"]}]}),
            json!({"databases": [{"database_id": ID, "security_addons": {"firewall": true}}]}),
            json!({"keys": [{"email": "a:b", "key": "k"}]}),
        ];
        for seed in bad {
            let seed: Seed = serde_json::from_value(seed.clone()).expect("parses");
            assert!(seed.validate().is_err(), "{seed:?}");
        }
    }

    /// The allowlist and TLS are written, read back, and each write is in the audit log with
    /// the key's e-mail and name; credentials are hidden on request.
    #[tokio::test]
    async fn writes_are_read_back_and_audited() {
        let emu = emulator(json!({"tls": false}));
        let running = emu.start("127.0.0.1:0").await.expect("starts");
        let base = running.base_url();
        let (status, db) = call(
            &base,
            reqwest::Method::GET,
            &format!("/v2/redis/database/{ID}?credentials=hide"),
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(db["tls"], json!(false));
        assert!(db.get("allowed_ip_ranges").is_none(), "never restricted");
        assert!(db.get("password").is_none(), "credentials hidden");
        assert_eq!(db["prometheus_enabled"], json!("false"));
        let (status, answer) = call(
            &base,
            reqwest::Method::POST,
            &format!("/v2/redis/update-allowlist/{ID}"),
            Some(json!({"allowed_ips": ["203.0.113.4", "198.51.100.0/24"]})),
        )
        .await;
        assert_eq!((status, answer), (200, json!("OK")));
        let (status, db) = call(
            &base,
            reqwest::Method::POST,
            &format!("/v2/redis/enable-tls/{ID}"),
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(db["tls"], json!(true));
        assert_eq!(
            db["allowed_ip_ranges"],
            json!(["203.0.113.4", "198.51.100.0/24"])
        );
        let (status, log) = call(&base, reqwest::Method::GET, "/auditlogs", None).await;
        assert_eq!(status, 200);
        let actions: Vec<(&str, &str, &str, &str)> = log
            .as_array()
            .expect("a list")
            .iter()
            .map(|e| {
                (
                    e["action_string"].as_str().unwrap_or_default(),
                    e["entity"].as_str().unwrap_or_default(),
                    e["actor"].as_str().unwrap_or_default(),
                    e["source"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            actions,
            [
                ("Update IP Allowlist", "cache", EMAIL, "API_KEY - perimeter"),
                ("Enable TLS", "cache", EMAIL, "API_KEY - perimeter"),
            ]
        );
        assert!(
            log[0]["timestamp"]
                .as_i64()
                .is_some_and(|t| t > 1_700_000_000)
        );
    }

    /// Bad bodies, the free plan, an unknown database and bad credentials are refused; nothing
    /// changes and nothing is audited.
    #[tokio::test]
    async fn invalid_requests_change_nothing() {
        let emu = emulator(json!({"allowed_ip_ranges": ["10.0.0.0/8"]}));
        let running = emu.start("127.0.0.1:0").await.expect("starts");
        let base = running.base_url();
        let path = format!("/v2/redis/update-allowlist/{ID}");
        for body in [
            json!({"allowed_ips": ["2001:db8::1"]}),
            json!({"allowed_ips": "0.0.0.0/0"}),
            json!({"allowed_ips": ["10.0.0.0/40"]}),
            json!({"allowed_ips": [7]}),
            json!({"allowed_ips": [], "other": 1}),
            json!([]),
        ] {
            let (status, answer) =
                call(&base, reqwest::Method::POST, &path, Some(body.clone())).await;
            assert_eq!(status, 400, "{body}");
            assert!(answer["message"].is_string() && answer["code"].is_string());
        }
        let unknown = "00000000-0000-0000-0000-000000000000";
        let (status, _) = call(
            &base,
            reqwest::Method::GET,
            &format!("/v2/redis/database/{unknown}"),
            None,
        )
        .await;
        assert_eq!(status, 404);
        let resp = reqwest::Client::new()
            .get(format!("{base}/v2/redis/databases"))
            .basic_auth(EMAIL, Some("wrong-upstash-key"))
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status().as_u16(), 401);
        assert!(
            !resp
                .text()
                .await
                .expect("body")
                .contains("wrong-upstash-key")
        );
        emu.mutate(|s| {
            s.databases[0].plan = "free".into();
            s.databases[0].allowed_ip_ranges = None;
        });
        let (status, _) = call(
            &base,
            reqwest::Method::POST,
            &path,
            Some(json!({"allowed_ips": ["203.0.113.0/24"]})),
        )
        .await;
        assert_eq!(status, 400);
        let snapshot = emu.snapshot();
        assert_eq!(snapshot.databases[0].allowed_ip_ranges, None);
        assert!(snapshot.audit_logs.is_empty());
        assert!(emu.log().writes().iter().all(|w| w.status >= 400));
    }

    /// Faults answer in the spec's error shape, and a throttled write changes nothing.
    #[tokio::test]
    async fn faults_answer_in_the_error_shape() {
        use crate::faults::{Fault, FaultRule};
        let emu = emulator(json!({}));
        emu.faults().inject(
            FaultRule::new(
                "/update-allowlist/",
                Fault::RateLimited {
                    retry_after_secs: 7,
                },
            )
            .method("POST")
            .times(1),
        );
        emu.faults()
            .inject(FaultRule::new("/auditlogs", Fault::WrongShape).times(1));
        let running = emu.start("127.0.0.1:0").await.expect("starts");
        let base = running.base_url();
        let resp = reqwest::Client::new()
            .post(format!("{base}/v2/redis/update-allowlist/{ID}"))
            .basic_auth(EMAIL, Some(KEY))
            .json(&json!({"allowed_ips": ["203.0.113.0/24"]}))
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status().as_u16(), 429);
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("7")
        );
        let body: Value = resp.json().await.expect("json");
        assert!(
            body["code"].is_string() && body["message"].is_string(),
            "{body}"
        );
        assert_eq!(emu.snapshot().databases[0].allowed_ip_ranges, None);
        let (status, log) = call(&base, reqwest::Method::GET, "/auditlogs", None).await;
        assert_eq!((status, log), (200, json!(42)));
    }
}
