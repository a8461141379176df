//! Stateful emulator of the Cloudflare API v4 (the parts Perimeter manages).
//!
//! Everything is served under [`API_PREFIX`] (`/client/v4`), so a client's base URL is
//! `format!("{}/client/v4", running.base_url())`. Answers use Cloudflare's envelope
//! (`success`, `errors`, `messages`, `result`, and `result_info` on paginated lists), with the
//! field names of the official OpenAPI spec (cloudflare/api-schemas, 2024-08-01).
//!
//! # Seed
//!
//! ```
//! use perimeter_emulators::cloudflare::{CloudflareEmulator, Seed};
//!
//! let seed: Seed = serde_json::from_value(serde_json::json!({
//!     "tokens": ["demo-token"],
//!     "accounts": [{
//!         "id": "0123456789abcdef0123456789abcdef",
//!         "name": "Example",
//!         "alerting_policies": [{
//!             "name": "DDoS", "alert_type": "dos_attack_l7", "enabled": true,
//!             "mechanisms": {"email": [{"id": "ops@example.com"}]}
//!         }]
//!     }],
//!     "zones": [{
//!         "id": "fedcba9876543210fedcba9876543210",
//!         "name": "example.com",
//!         "account_id": "0123456789abcdef0123456789abcdef",
//!         "settings": {"security_level": "high", "ssl": "strict"},
//!         "rulesets": {"http_request_firewall_custom": {"rules": [
//!             {"ref": "block-admin", "expression": "http.request.uri.path eq \"/admin\"", "action": "block"}
//!         ]}},
//!         "access_rules": [{"mode": "block", "configuration": {"target": "ip", "value": "198.51.100.4"}}],
//!         "logpush_jobs": [{"dataset": "firewall_events", "destination_conf": "s3://logs/cf?region=us-east-1", "enabled": true}]
//!     }]
//! })).unwrap();
//! assert!(seed.validate().is_ok());
//! let emulator = CloudflareEmulator::new(seed);
//! // Missing ids, versions and timestamps were filled in; settings not seeded got defaults.
//! let state = emulator.snapshot();
//! assert_eq!(state.zones[0].settings["min_tls_version"], "1.0");
//! ```
//!
//! The same document in YAML works with any serde YAML crate. Missing ids are generated
//! deterministically (32 hex characters; UUIDs for notification policies; integers from 1 for
//! Logpush jobs); a rule's `ref` defaults to its id.
//!
//! # Endpoints (relative to `/client/v4`)
//!
//! | Method | Path |
//! |---|---|
//! | GET | `/user/tokens/verify` |
//! | GET | `/zones` (filters `name`, `status`, `account.id`; `page`, `per_page` 5..=50) |
//! | GET | `/zones/{zone_id}` |
//! | GET | `/accounts/{account_id}` |
//! | GET | `/zones/{zone_id}/rulesets` (entry points and the managed rulesets, no rules) |
//! | GET, PUT | `/zones/{zone_id}/rulesets/phases/{phase}/entrypoint` |
//! | GET, POST | `/zones/{zone_id}/firewall/access_rules/rules` |
//! | PATCH, DELETE | `/zones/{zone_id}/firewall/access_rules/rules/{rule_id}` |
//! | GET, PATCH | `/zones/{zone_id}/settings` (PATCH body `{"items": [...]}` or a bare array) |
//! | GET, PATCH | `/zones/{zone_id}/settings/{setting_id}` |
//! | GET | `/accounts/{account_id}/audit_logs` (filters `since`, `before`, `zone.name`, `actor.email`, `action.type`, `id`; `direction`; `page`, `per_page` 1..=1000); writes add entries (see `audit`) |
//! | GET, POST | `/accounts/{account_id}/alerting/v3/policies` |
//! | GET | `/accounts/{account_id}/alerting/v3/destinations/webhooks` |
//! | GET, PUT, DELETE | `/accounts/{account_id}/alerting/v3/policies/{policy_id}` |
//! | GET, POST | `/zones/{zone_id}/logpush/jobs` and `/accounts/{account_id}/logpush/jobs` |
//! | GET, PUT, DELETE | `/zones/{zone_id}/logpush/jobs/{job_id}` and the account equivalent |
//!
//! # Errors
//!
//! | Situation | HTTP | code |
//! |---|---|---|
//! | missing or unknown bearer token (never echoed) | 401 | 10000 |
//! | throttled (fault or [`CloudflareEmulator::set_rate_limit`]) | 429 + `retry-after` | 971 |
//! | body is not JSON | 400 | 6007 |
//! | bad `page`/`per_page`/filter | 400 | 1001 |
//! | unknown route / wrong method | 404 / 405 | 7000 / 7001 |
//! | unknown zone or account | 404 | 7003 |
//! | no entry-point ruleset for the phase | 404 | 10003 |
//! | invalid ruleset or rule (one error per problem, with `source.pointer`) | 400 | 20021 |
//! | unknown setting / invalid setting value | 404 (400 in bulk) / 400 | 1006 / 1007 |
//! | invalid / duplicate / unknown access rule | 400 / 400 / 404 | 10001 / 10009 / 10014 |
//! | invalid / unknown notification policy | 400 / 404 | 17001 / 17002 |
//! | invalid / unknown Logpush job | 400 / 404 | 1004 / 1005 |
//! | injected server error | as injected | 10002 |
//!
//! Codes 1001, 1004-1007, 10001, 10002, 10009, 10014, 17001, 17002 and 20021 are the emulator's
//! choice: the real codes for those cases are not documented.
//!
//! # Request log and faults
//!
//! Every request under the prefix goes through the shared [`crate::faults`] middleware and is
//! recorded in the [`RequestLog`] with its path **relative to `/client/v4`** (e.g.
//! `/zones/{id}/rulesets/phases/http_ratelimit/entrypoint`); fault rules match that same path.
//! Order of the middleware stack, outside in: log, faults, error-envelope rewriting,
//! authentication, throttling, handler.

mod access_rules;
mod alerting;
mod audit;
mod logpush;
mod rulesets;
pub mod seed;
mod settings;
mod validate;
mod zones;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use serde_json::{Map, Value, json};

pub use audit::dashboard_change;
pub use seed::{
    AccessRule, AccessRuleConfiguration, Account, AlertingPolicy, AuditActor, AuditLog, LogpushJob,
    MechanismTarget, Rule, Ruleset, Seed, Webhook, Zone,
};
pub use validate::Problem;

use crate::faults::Faults;
use crate::server::{self, IdGen, ProviderStyle, RequestLog, RunningEmulator, json_response};
use validate::*;

/// URL prefix of Cloudflare API v4.
pub const API_PREFIX: &str = "/client/v4";

/// Window used by [`CloudflareEmulator::set_rate_limit`]: short, so tests that honour
/// `retry-after` do not stall.
const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(1);

/// A Cloudflare API emulator. Clones share state, faults and log.
#[derive(Clone)]
pub struct CloudflareEmulator {
    shared: Arc<Shared>,
    faults: Faults,
    log: RequestLog,
}

pub(crate) struct Shared {
    store: Mutex<Store>,
    throttle: Mutex<Option<Throttle>>,
}

impl Shared {
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        // A handler never panics while holding the lock, but a test thread might.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type Ctx = State<Arc<Shared>>;

/// Mutable emulator state: the seed document kept normalised (every id, version and timestamp
/// filled in) plus what the seed shape has no room for.
pub(crate) struct Store {
    pub(crate) seed: Seed,
    pub(crate) ids: IdGen,
    pub(crate) next_job_id: u64,
    /// `modified_on` of zone settings by (zone id, setting id); absent means never modified.
    pub(crate) settings_modified: HashMap<(String, String), String>,
    pub(crate) created_on: String,
}

impl Store {
    fn new(seed: Seed) -> Self {
        let mut store = Store {
            seed,
            ids: IdGen::new(),
            next_job_id: 1,
            settings_modified: HashMap::new(),
            created_on: server::now_rfc3339(),
        };
        store.normalize();
        store
    }

    /// Fills in everything Cloudflare would have assigned. Idempotent, so it can run again
    /// after a test edits the state directly.
    fn normalize(&mut self) {
        let now = server::now_rfc3339();
        let ids = &mut self.ids;
        let seeded_max_job = self
            .seed
            .accounts
            .iter()
            .flat_map(|a| &a.logpush_jobs)
            .chain(self.seed.zones.iter().flat_map(|z| &z.logpush_jobs))
            .filter_map(|j| j.id)
            .max()
            .unwrap_or(0);
        self.next_job_id = self.next_job_id.max(seeded_max_job + 1);
        let next_job_id = &mut self.next_job_id;
        for account in &mut self.seed.accounts {
            if account.id.is_empty() {
                account.id = ids.hex32();
            }
            for policy in &mut account.alerting_policies {
                policy.id.get_or_insert_with(|| ids.uuid());
                let created = policy.created.get_or_insert_with(|| now.clone()).clone();
                policy.modified.get_or_insert(created);
            }
            for webhook in &mut account.webhooks {
                if webhook.id.is_empty() {
                    webhook.id = ids.uuid();
                }
                webhook.created_at.get_or_insert_with(|| now.clone());
            }
            for job in &mut account.logpush_jobs {
                normalize_job(job, next_job_id);
            }
            for entry in &mut account.audit_logs {
                if entry.id.is_empty() {
                    entry.id = ids.uuid();
                }
                if entry.when.is_empty() {
                    entry.when = now.clone();
                }
            }
        }
        for zone in &mut self.seed.zones {
            if zone.id.is_empty() {
                zone.id = ids.hex32();
            }
            for (id, default) in known_settings() {
                zone.settings.entry(id.to_owned()).or_insert(default);
            }
            for ruleset in zone.rulesets.values_mut() {
                let updated = ruleset
                    .last_updated
                    .get_or_insert_with(|| now.clone())
                    .clone();
                ruleset.id.get_or_insert_with(|| ids.hex32());
                ruleset.name.get_or_insert_with(|| "default".to_owned());
                ruleset.description.get_or_insert_with(String::new);
                ruleset.version.get_or_insert_with(|| "1".to_owned());
                for rule in &mut ruleset.rules {
                    let id = rule.id.get_or_insert_with(|| ids.hex32()).clone();
                    rule.reference.get_or_insert(id);
                    rule.version.get_or_insert_with(|| "1".to_owned());
                    rule.last_updated.get_or_insert_with(|| updated.clone());
                    rule.description.get_or_insert_with(String::new);
                    rule.enabled.get_or_insert(true);
                }
            }
            for rule in &mut zone.access_rules {
                rule.id.get_or_insert_with(|| ids.hex32());
                let created = rule.created_on.get_or_insert_with(|| now.clone()).clone();
                rule.modified_on.get_or_insert(created);
            }
            for job in &mut zone.logpush_jobs {
                normalize_job(job, next_job_id);
            }
        }
    }

    pub(crate) fn zone(&self, zone_id: &str) -> Result<&Zone, ApiError> {
        self.seed
            .zones
            .iter()
            .find(|z| z.id == zone_id)
            .ok_or_else(|| ApiError::not_routable(&format!("/zones/{zone_id}")))
    }

    pub(crate) fn zone_mut(&mut self, zone_id: &str) -> Result<&mut Zone, ApiError> {
        self.seed
            .zones
            .iter_mut()
            .find(|z| z.id == zone_id)
            .ok_or_else(|| ApiError::not_routable(&format!("/zones/{zone_id}")))
    }

    pub(crate) fn account(&self, account_id: &str) -> Result<&Account, ApiError> {
        self.seed
            .accounts
            .iter()
            .find(|a| a.id == account_id)
            .ok_or_else(|| ApiError::not_routable(&format!("/accounts/{account_id}")))
    }

    pub(crate) fn account_mut(&mut self, account_id: &str) -> Result<&mut Account, ApiError> {
        self.seed
            .accounts
            .iter_mut()
            .find(|a| a.id == account_id)
            .ok_or_else(|| ApiError::not_routable(&format!("/accounts/{account_id}")))
    }
}

fn normalize_job(job: &mut LogpushJob, next_job_id: &mut u64) {
    if job.id.is_none() {
        job.id = Some(*next_job_id);
        *next_job_id += 1;
    }
    job.frequency.get_or_insert_with(|| "high".to_owned());
}

/// Fixed-window throttle modelled on Cloudflare's per-token limit.
struct Throttle {
    max: u32,
    window: Duration,
    started: Instant,
    used: u32,
}

impl Throttle {
    /// `Ok(remaining)` when admitted, `Err(seconds until the window resets)` when not.
    fn admit(&mut self, now: Instant) -> Result<u32, u64> {
        if now.duration_since(self.started) >= self.window {
            self.started = now;
            self.used = 0;
        }
        let reset = self.window.saturating_sub(now.duration_since(self.started));
        if self.used >= self.max {
            // Round up so a client sleeping `retry-after` seconds lands in the next window.
            let secs = reset.as_secs() + u64::from(reset.subsec_nanos() > 0);
            return Err(secs.max(1));
        }
        self.used += 1;
        Ok(self.max - self.used)
    }
}

impl CloudflareEmulator {
    /// Builds the emulator from a seed, filling in missing ids, versions, timestamps and default
    /// settings. The seed is not validated; call [`Seed::validate`] for that.
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

    /// Binds `bind` (e.g. `"127.0.0.1:0"`) and serves [`Self::router`]. The client base URL is
    /// `{base_url}/client/v4`.
    pub async fn start(&self, bind: &str) -> std::io::Result<RunningEmulator> {
        server::serve(self.router(), bind).await
    }

    /// The complete app (prefix, logging, faults, auth), for in-process use without a socket.
    pub fn router(&self) -> Router {
        let shared = self.shared.clone();
        let api = Router::new()
            .route("/user/tokens/verify", get(zones::verify_token))
            .route("/zones", get(zones::list_zones))
            .route("/zones/{zone_id}", get(zones::get_zone))
            .route("/accounts/{account_id}", get(zones::get_account))
            .route(
                "/zones/{zone_id}/settings",
                get(settings::list).patch(settings::patch_many),
            )
            .route(
                "/zones/{zone_id}/settings/{setting_id}",
                get(settings::get_one).patch(settings::patch_one),
            )
            .route("/zones/{zone_id}/rulesets", get(rulesets::list))
            .route(
                "/zones/{zone_id}/rulesets/phases/{phase}/entrypoint",
                get(rulesets::get_entrypoint).put(rulesets::put_entrypoint),
            )
            .route(
                "/zones/{zone_id}/firewall/access_rules/rules",
                get(access_rules::list).post(access_rules::create),
            )
            .route(
                "/zones/{zone_id}/firewall/access_rules/rules/{rule_id}",
                patch(access_rules::update).delete(access_rules::delete),
            )
            .route("/accounts/{account_id}/audit_logs", get(audit::list))
            .route(
                "/accounts/{account_id}/alerting/v3/policies",
                get(alerting::list).post(alerting::create),
            )
            .route(
                "/accounts/{account_id}/alerting/v3/destinations/webhooks",
                get(alerting::list_webhooks),
            )
            .route(
                "/accounts/{account_id}/alerting/v3/policies/{policy_id}",
                get(alerting::get_one)
                    .put(alerting::replace)
                    .delete(alerting::delete),
            )
            .route(
                "/zones/{zone_id}/logpush/jobs",
                get(logpush::list_zone).post(logpush::create_zone),
            )
            .route(
                "/zones/{zone_id}/logpush/jobs/{job_id}",
                get(logpush::get_zone)
                    .put(logpush::update_zone)
                    .delete(logpush::delete_zone),
            )
            .route(
                "/accounts/{account_id}/logpush/jobs",
                get(logpush::list_account).post(logpush::create_account),
            )
            .route(
                "/accounts/{account_id}/logpush/jobs/{job_id}",
                get(logpush::get_account)
                    .put(logpush::update_account)
                    .delete(logpush::delete_account),
            )
            .fallback(no_route)
            .layer(middleware::from_fn_with_state(
                shared.clone(),
                audit::record_writes,
            ))
            .layer(middleware::from_fn_with_state(shared.clone(), throttle))
            .layer(middleware::from_fn_with_state(shared.clone(), authenticate))
            .with_state(shared);
        let api = server::instrument(api, self.log.clone(), self.faults.clone(), STYLE);
        Router::new()
            .nest_service(API_PREFIX, api)
            .fallback(no_route)
    }

    /// Shared handle on this emulator's fault rules.
    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    /// Shared handle on this emulator's request log.
    pub fn log(&self) -> RequestLog {
        self.log.clone()
    }

    /// Current state in the seed shape, with every generated id, version and timestamp filled
    /// in. Feeding it to [`Self::new`] reproduces the state.
    pub fn snapshot(&self) -> Seed {
        self.shared.store().seed.clone()
    }

    /// Edits the state directly, e.g. to emulate a change made in the dashboard (drift). New
    /// objects get ids and defaults as if seeded.
    pub fn mutate(&self, edit: impl FnOnce(&mut Seed)) {
        let mut store = self.shared.store();
        edit(&mut store.seed);
        store.normalize();
    }

    /// Throttles authenticated requests to `max_requests_per_window` per one-second window,
    /// answering 429 with `retry-after` (and `ratelimit` headers) beyond it. `0` disables.
    pub fn set_rate_limit(&self, max_requests_per_window: u32) {
        self.set_rate_limit_window(max_requests_per_window, DEFAULT_RATE_WINDOW);
    }

    /// Like [`Self::set_rate_limit`] with an explicit window (Cloudflare's real limit is 1200
    /// requests per 5 minutes). `0` requests disables throttling.
    pub fn set_rate_limit_window(&self, max_requests_per_window: u32, window: Duration) {
        let mut throttle = self
            .shared
            .throttle
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *throttle = (max_requests_per_window > 0 && !window.is_zero()).then(|| Throttle {
            max: max_requests_per_window,
            window,
            started: Instant::now(),
            used: 0,
        });
    }
}

const STYLE: ProviderStyle = ProviderStyle {
    error_body: style_error_body,
    wrong_shape_body: style_wrong_shape_body,
};

fn style_error_body(status: u16, message: &str) -> Value {
    let code = match status {
        401 | 403 => CODE_AUTH,
        404 => CODE_NO_ROUTE,
        405 => CODE_METHOD,
        413 => CODE_BODY_TOO_LARGE,
        429 => CODE_THROTTLED,
        400..=499 => CODE_BAD_QUERY,
        _ => CODE_INTERNAL,
    };
    error_envelope(&[Problem::new(code, message)])
}

/// Every endpoint returns an object or an array, so a string is the wrong shape everywhere.
fn style_wrong_shape_body() -> Value {
    json!({"success": true, "errors": [], "messages": [], "result": "emulated wrong shape"})
}

fn error_envelope(problems: &[Problem]) -> Value {
    let errors: Vec<Value> = problems
        .iter()
        .map(|p| {
            let mut error = json!({"code": p.code, "message": p.message});
            if let Some(pointer) = &p.pointer {
                error["source"] = json!({ "pointer": pointer });
            }
            error
        })
        .collect();
    json!({"success": false, "errors": errors, "messages": [], "result": null})
}

/// A failed answer in Cloudflare's error envelope.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    problems: Vec<Problem>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            problems: vec![Problem::new(code, message)],
        }
    }

    pub(crate) fn bad_request(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn not_found(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub(crate) fn invalid(problems: Vec<Problem>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            problems,
        }
    }

    fn not_routable(path: &str) -> Self {
        Self::not_found(
            CODE_NOT_ROUTABLE,
            format!("Could not route to {path}, perhaps your object identifier is invalid?"),
        )
    }
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        Self::invalid(vec![problem])
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &error_envelope(&self.problems))
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

pub(crate) fn success(result: Value) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"success": true, "errors": [], "messages": [], "result": result}),
    )
}

pub(crate) fn success_paged(result: Value, result_info: Value) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"success": true, "errors": [], "messages": [], "result": result,
                "result_info": result_info}),
    )
}

/// The JSON body, reported the way Cloudflare does when it does not parse.
pub(crate) fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|_| ApiError::bad_request(CODE_BAD_JSON, "Malformed JSON in request body"))
}

pub(crate) fn json_object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match json_body(body)? {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request(
            CODE_BAD_JSON,
            "Request body must be a JSON object",
        )),
    }
}

pub(crate) type QueryParams = Result<Query<HashMap<String, String>>, QueryRejection>;

pub(crate) fn query_params(query: QueryParams) -> Result<HashMap<String, String>, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|err| ApiError::bad_request(CODE_BAD_QUERY, format!("Invalid query: {err}")))
}

/// Cloudflare-style page-based pagination.
pub(crate) struct Paging {
    page: usize,
    per_page: usize,
}

impl Paging {
    /// `per_page` outside `min..=max` is clamped, as the API does.
    pub(crate) fn from_query(
        query: &HashMap<String, String>,
        default_per_page: usize,
        min: usize,
        max: usize,
    ) -> Result<Self, ApiError> {
        let number = |key: &str, default: usize| -> Result<usize, ApiError> {
            match query.get(key) {
                None => Ok(default),
                Some(raw) => raw.trim().parse::<usize>().map_err(|_| {
                    ApiError::bad_request(
                        CODE_BAD_QUERY,
                        format!("{key} must be a positive integer, got {raw:?}"),
                    )
                }),
            }
        };
        let page = number("page", 1)?;
        if page == 0 {
            return Err(ApiError::bad_request(
                CODE_BAD_QUERY,
                "page must be 1 or more",
            ));
        }
        let per_page = number("per_page", default_per_page)?.clamp(min, max);
        Ok(Self { page, per_page })
    }

    /// The requested page of `items` and its `result_info`.
    pub(crate) fn apply(&self, items: Vec<Value>) -> (Value, Value) {
        let total = items.len();
        let skip = (self.page - 1).saturating_mul(self.per_page);
        let page: Vec<Value> = items.into_iter().skip(skip).take(self.per_page).collect();
        let info = json!({
            "page": self.page,
            "per_page": self.per_page,
            "count": page.len(),
            "total_count": total,
            "total_pages": total.div_ceil(self.per_page),
        });
        (Value::Array(page), info)
    }
}

async fn no_route() -> ApiError {
    ApiError::not_found(CODE_NO_ROUTE, "No route for that URI")
}

/// Only bearer tokens are emulated; legacy `X-Auth-Key` credentials are refused like bad tokens.
async fn authenticate(State(shared): Ctx, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let accepted =
        presented.is_some_and(|token| shared.store().seed.tokens.iter().any(|t| t == token));
    if !accepted {
        // Never echo what was presented: error bodies end up in logs.
        return ApiError::new(StatusCode::UNAUTHORIZED, CODE_AUTH, "Authentication error")
            .into_response();
    }
    next.run(req).await
}

async fn throttle(State(shared): Ctx, req: Request, next: Next) -> Response {
    let decision = {
        let mut guard = shared.throttle.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .as_mut()
            .map(|t| (t.max, t.window, t.admit(Instant::now())))
    };
    let Some((max, window, decision)) = decision else {
        return next.run(req).await;
    };
    let policy = format!("\"default\";q={max};w={}", window.as_secs().max(1));
    let (mut response, remaining, reset) = match decision {
        Ok(remaining) => (next.run(req).await, remaining, None),
        Err(retry_after) => {
            let body = style_error_body(
                429,
                "Please wait and consider throttling your request speed",
            );
            let mut response = json_response(StatusCode::TOO_MANY_REQUESTS, &body);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            (response, 0, Some(retry_after))
        }
    };
    let mut ratelimit = format!("\"default\";r={remaining}");
    if let Some(reset) = reset {
        ratelimit.push_str(&format!(";t={reset}"));
    }
    for (name, value) in [("ratelimit", ratelimit), ("ratelimit-policy", policy)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
