//! Stateful emulator of Trigger.dev's public REST API v3 (the reads Perimeter makes).
//!
//! Paths, parameters and shapes follow the official OpenAPI 3.1 document
//! (triggerdotdev/trigger.dev `docs/v3-openapi.yaml`; trimmed copy in
//! `tests/conformance/triggerdev/`). The base URL of a client is
//! [`RunningEmulator::base_url`] itself, as at `api.trigger.dev`.
//!
//! # Endpoints
//!
//! | Method | Path | Answer |
//! |---|---|---|
//! | GET | `/api/v1/runs?page[size]=&page[after]=&filter[status]=&filter[createdAt][period]=&filter[taskIdentifier]=` | `ListRunsResult` |
//! | GET | `/api/v1/errors?page[size]=&page[after]=&filter[status]=&filter[taskIdentifier]=` | `ListErrorsResult` |
//!
//! Runs are newest first; `pagination.next` is the id of a page's last item, taken back as
//! `page[after]`. A run's `createdAt` is seeded as minutes before "now", so a window filter
//! keeps meaning the same whenever the emulator runs.
//!
//! # Auth, errors and rate limits
//!
//! `Authorization: Bearer <secret key>` of a seeded environment (`tr_dev_…`, `tr_prod_…`):
//! each key sees its own environment only. Errors are `{"error": "…"}` (`ErrorResponse`;
//! `ErrorWithDetailsResponse` with `details` for invalid queries): 401 for a missing or
//! unknown key (never echoed), 400 for an invalid filter or page size. Every answer carries
//! `x-ratelimit-limit`, `x-ratelimit-remaining` and `x-ratelimit-reset` (epoch ms); over the
//! seeded limit per minute, or for an injected 429, the answer is
//! `application/problem+json` `{title, status, detail, reset, limit, remaining}` without
//! `Retry-After`, as the webapp sends it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::faults::Faults;
use crate::server::{self, ProviderStyle, RequestLog, RunningEmulator, json_response};

/// The run statuses of the spec's `ListRunItem.status`.
pub const RUN_STATUSES: &[&str] = &[
    "PENDING_VERSION",
    "QUEUED",
    "EXECUTING",
    "REATTEMPTING",
    "FROZEN",
    "COMPLETED",
    "CANCELED",
    "FAILED",
    "CRASHED",
    "INTERRUPTED",
    "SYSTEM_FAILURE",
];
pub const ERROR_STATUSES: &[&str] = &["unresolved", "resolved", "ignored"];

/// Everything the emulator starts with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Seed {
    /// Secret keys, each of one environment.
    #[serde(default)]
    pub keys: Vec<SecretKey>,
    #[serde(default)]
    pub runs: Vec<Run>,
    #[serde(default)]
    pub errors: Vec<ErrorGroup>,
    /// Requests a key may make per minute before a 429 (the documented default is 1,500).
    #[serde(default = "default_limit")]
    pub rate_limit_per_minute: u32,
}

fn default_limit() -> u32 {
    1500
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretKey {
    pub key: String,
    /// The environment it belongs to, e.g. `prod`.
    pub environment: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Run {
    pub id: String,
    pub environment: String,
    pub task_identifier: String,
    pub status: String,
    /// How long before "now" the run was created.
    pub created_minutes_ago: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ErrorGroup {
    pub id: String,
    pub environment: String,
    pub task_identifier: String,
    pub error_type: String,
    pub error_message: String,
    pub status: String,
    #[serde(default = "one")]
    pub count: u64,
    #[serde(default)]
    pub last_seen_minutes_ago: u64,
}

fn one() -> u64 {
    1
}

impl Seed {
    /// Refuses what the real API could never hold.
    pub fn validate(&self) -> Result<(), String> {
        for k in &self.keys {
            if !["tr_dev_", "tr_stg_", "tr_prod_", "tr_preview_"]
                .iter()
                .any(|p| k.key.starts_with(p))
            {
                return Err(format!("key of {}: not a secret key", k.environment));
            }
        }
        for r in &self.runs {
            if !r.id.starts_with("run_") || !RUN_STATUSES.contains(&r.status.as_str()) {
                return Err(format!("run {}: bad id or status", r.id));
            }
        }
        for e in &self.errors {
            if !e.id.starts_with("error_") || !ERROR_STATUSES.contains(&e.status.as_str()) {
                return Err(format!("error group {}: bad id or status", e.id));
            }
        }
        Ok(())
    }
}

/// A Trigger.dev emulator. Clones share state, faults and log.
#[derive(Clone)]
pub struct TriggerdevEmulator {
    shared: Arc<Shared>,
    faults: Faults,
    log: RequestLog,
}

struct Shared {
    seed: Mutex<Seed>,
    /// Requests per key in the current minute: `(minute, count)`.
    window: Mutex<HashMap<String, (u64, u32)>>,
}

impl Shared {
    fn seed(&self) -> MutexGuard<'_, Seed> {
        self.seed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type Ctx = State<Arc<Shared>>;

const STYLE: ProviderStyle = ProviderStyle {
    error_body: |status, message| {
        if status == 429 {
            problem(message)
        } else {
            json!({ "error": message })
        }
    },
    wrong_shape_body: || json!({"data": "emulated wrong shape", "pagination": []}),
};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// When the current one-second throttling window ends, in epoch ms.
fn reset_ms() -> u64 {
    now_ms() + 1000
}

/// The webapp's 429 body (`application/problem+json`).
fn problem(detail: &str) -> Value {
    json!({"title": "Rate Limit Exceeded", "status": 429, "detail": detail,
           "reset": reset_ms(), "limit": default_limit(), "remaining": 0})
}

impl TriggerdevEmulator {
    /// Builds the emulator. The seed is not validated; call [`Seed::validate`] for that.
    pub fn new(seed: Seed) -> Self {
        Self {
            shared: Arc::new(Shared {
                seed: Mutex::new(seed),
                window: Mutex::new(HashMap::new()),
            }),
            faults: Faults::new(),
            log: RequestLog::new(),
        }
    }

    /// Binds `bind` (e.g. `"127.0.0.1:0"`) and serves [`Self::router`].
    pub async fn start(&self, bind: &str) -> std::io::Result<RunningEmulator> {
        server::serve(self.router(), bind).await
    }

    /// The complete app (logging, faults, rate-limit headers, auth).
    pub fn router(&self) -> Router {
        let shared = self.shared.clone();
        let api = Router::new()
            .route("/api/v1/runs", get(list_runs))
            .route("/api/v1/errors", get(list_errors))
            .fallback(no_route)
            .layer(middleware::from_fn_with_state(shared.clone(), authenticate))
            .with_state(shared);
        server::instrument(api, self.log.clone(), self.faults.clone(), STYLE)
            .layer(middleware::from_fn(rate_limit_headers))
    }

    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    pub fn log(&self) -> RequestLog {
        self.log.clone()
    }

    pub fn snapshot(&self) -> Seed {
        self.shared.seed().clone()
    }

    /// Edits the state directly, e.g. to emulate new failures or a triage in the dashboard.
    pub fn mutate(&self, edit: impl FnOnce(&mut Seed)) {
        edit(&mut self.shared.seed());
    }
}

async fn no_route() -> Response {
    json_response(StatusCode::NOT_FOUND, &json!({"error": "Not Found"}))
}

/// `x-ratelimit-*` on every answer, and a 429 as problem+json without `Retry-After`.
async fn rate_limit_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let throttled = resp.status() == StatusCode::TOO_MANY_REQUESTS;
    let h = resp.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(default_limit()));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset_ms()));
    if throttled {
        h.remove(header::RETRY_AFTER);
        h.insert("x-ratelimit-remaining", HeaderValue::from(0));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
    }
    resp
}

#[derive(Clone, Debug)]
struct Caller(String);

async fn authenticate(State(shared): Ctx, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .map(str::to_string);
    let (env, limit) = {
        let seed = shared.seed();
        let env = presented.as_deref().and_then(|p| {
            seed.keys
                .iter()
                .find(|k| k.key == p)
                .map(|k| k.environment.clone())
        });
        (env, seed.rate_limit_per_minute)
    };
    let Some(env) = env else {
        // Never echo what was presented.
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "Invalid or Missing API key"}),
        );
    };
    let minute = now_ms() / 60_000;
    let over = {
        let mut w = shared.window.lock().unwrap_or_else(|p| p.into_inner());
        let entry = w.entry(env.clone()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 += 1;
        entry.1 > limit
    };
    if over {
        return json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &problem("Rate limit exceeded for this API key"),
        );
    }
    req.extensions_mut().insert(Caller(env));
    next.run(req).await
}

fn caller(req: &Request) -> String {
    req.extensions()
        .get::<Caller>()
        .map(|c| c.0.clone())
        .unwrap_or_default()
}

fn invalid(field: &str, message: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"error": "Query Error", "details": [{"code": "custom", "message": message, "path": [field]}]}),
    )
}

/// `page[size]` within `min..=100` (default 25), and `page[after]`.
fn paging(q: &HashMap<String, String>, min: u64) -> Result<(usize, Option<String>), Box<Response>> {
    let size = match q.get("page[size]") {
        None => 25,
        Some(s) => match s.parse::<u64>() {
            Ok(n) if (min..=100).contains(&n) => n as usize,
            _ => {
                return Err(Box::new(invalid(
                    "page[size]",
                    &format!("page[size] must be between {min} and 100"),
                )));
            }
        },
    };
    Ok((size, q.get("page[after]").cloned()))
}

/// A comma-separated list filter, each value checked against `allowed` when given.
fn list_filter(
    q: &HashMap<String, String>,
    key: &str,
    allowed: Option<&[&str]>,
) -> Result<Option<Vec<String>>, Box<Response>> {
    let Some(raw) = q.get(key) else {
        return Ok(None);
    };
    let values: Vec<String> = raw.split(',').map(|s| s.trim().to_string()).collect();
    if let Some(allowed) = allowed
        && values.iter().any(|v| !allowed.contains(&v.as_str()))
    {
        return Err(Box::new(invalid(
            key,
            &format!("{key}: invalid enum value"),
        )));
    }
    Ok(Some(values))
}

/// `1d`, `24h`, `30m`, `2w` in minutes.
fn period_minutes(p: &str) -> Option<u64> {
    let (n, unit) = p.split_at(p.len().checked_sub(1)?);
    let n: u64 = n.parse().ok()?;
    let per = match unit {
        "s" => return Some(n.div_ceil(60)),
        "m" => 1,
        "h" => 60,
        "d" => 1440,
        "w" => 10080,
        _ => return None,
    };
    n.checked_mul(per)
}

fn at_minutes_ago(m: u64) -> String {
    server::rfc3339(SystemTime::now() - Duration::from_secs(m.saturating_mul(60)))
}

/// One page of `items` (already in order) after `after`, and the cursor of the next.
fn slice<T: Clone>(
    items: &[T],
    id: impl Fn(&T) -> &str,
    size: usize,
    after: Option<&str>,
) -> (Vec<T>, Option<String>) {
    let start = after
        .and_then(|a| items.iter().position(|x| id(x) == a))
        .map_or(0, |i| i + 1);
    let page: Vec<T> = items.iter().skip(start).take(size).cloned().collect();
    let next = (start + page.len() < items.len())
        .then(|| page.last().map(|x| id(x).to_string()))
        .flatten();
    (page, next)
}

async fn list_runs(
    State(shared): Ctx,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    let env = caller(&req);
    let (size, after) = match paging(&q, 10) {
        Ok(p) => p,
        Err(e) => return *e,
    };
    let statuses = match list_filter(&q, "filter[status]", Some(RUN_STATUSES)) {
        Ok(s) => s,
        Err(e) => return *e,
    };
    let tasks = match list_filter(&q, "filter[taskIdentifier]", None) {
        Ok(s) => s,
        Err(e) => return *e,
    };
    let period = match q.get("filter[createdAt][period]") {
        None => None,
        Some(p) => match period_minutes(p) {
            Some(m) => Some(m),
            None => return invalid("filter[createdAt][period]", "Invalid period"),
        },
    };
    let mut runs: Vec<Run> = shared
        .seed()
        .runs
        .iter()
        .filter(|r| r.environment == env)
        .filter(|r| statuses.as_ref().is_none_or(|s| s.contains(&r.status)))
        .filter(|r| {
            tasks
                .as_ref()
                .is_none_or(|t| t.contains(&r.task_identifier))
        })
        .filter(|r| period.is_none_or(|p| r.created_minutes_ago <= p))
        .cloned()
        .collect();
    runs.sort_by(|a, b| {
        a.created_minutes_ago
            .cmp(&b.created_minutes_ago)
            .then(a.id.cmp(&b.id))
    });
    let (page, next) = slice(&runs, |r| r.id.as_str(), size, after.as_deref());
    let data: Vec<Value> = page
        .iter()
        .map(|r| {
            let at = at_minutes_ago(r.created_minutes_ago);
            json!({"id": r.id, "status": r.status, "taskIdentifier": r.task_identifier,
                   "createdAt": at, "updatedAt": at, "isTest": false, "tags": [],
                   "env": {"id": format!("env_{}", r.environment), "name": r.environment}})
        })
        .collect();
    let mut pagination = json!({});
    if let Some(n) = next {
        pagination["next"] = json!(n);
    }
    json_response(
        StatusCode::OK,
        &json!({"data": data, "pagination": pagination}),
    )
}

async fn list_errors(
    State(shared): Ctx,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    let env = caller(&req);
    let (size, after) = match paging(&q, 1) {
        Ok(p) => p,
        Err(e) => return *e,
    };
    let statuses = match list_filter(&q, "filter[status]", Some(ERROR_STATUSES)) {
        Ok(s) => s,
        Err(e) => return *e,
    };
    let tasks = match list_filter(&q, "filter[taskIdentifier]", None) {
        Ok(s) => s,
        Err(e) => return *e,
    };
    let mut groups: Vec<ErrorGroup> = shared
        .seed()
        .errors
        .iter()
        .filter(|g| g.environment == env)
        .filter(|g| statuses.as_ref().is_none_or(|s| s.contains(&g.status)))
        .filter(|g| {
            tasks
                .as_ref()
                .is_none_or(|t| t.contains(&g.task_identifier))
        })
        .cloned()
        .collect();
    groups.sort_by(|a, b| a.id.cmp(&b.id));
    let (page, next) = slice(&groups, |g| g.id.as_str(), size, after.as_deref());
    let data: Vec<Value> = page
        .iter()
        .map(|g| {
            json!({"id": g.id, "fingerprint": format!("fp_{}", g.id), "taskIdentifier": g.task_identifier,
                   "errorType": g.error_type, "errorMessage": g.error_message, "status": g.status,
                   "count": g.count, "firstSeen": at_minutes_ago(g.last_seen_minutes_ago + 1440),
                   "lastSeen": at_minutes_ago(g.last_seen_minutes_ago)})
        })
        .collect();
    let mut pagination = json!({});
    if let Some(n) = next {
        pagination["next"] = json!(n);
    }
    json_response(
        StatusCode::OK,
        &json!({"data": data, "pagination": pagination}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_pages() {
        assert_eq!(period_minutes("24h"), Some(1440));
        assert_eq!(period_minutes("7d"), Some(10080));
        assert_eq!(period_minutes("x"), None);
        assert_eq!(period_minutes(""), None);
        let items = ["a", "b", "c"];
        assert_eq!(
            slice(&items, |s| s, 2, None),
            (vec!["a", "b"], Some("b".into()))
        );
        assert_eq!(slice(&items, |s| s, 2, Some("b")), (vec!["c"], None));
    }
}
