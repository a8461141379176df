//! Stateful emulator of Better Stack Uptime's API (the parts Perimeter reads and writes).
//!
//! There is no official machine-readable description of this API. Every shape here comes from
//! one of two official sources, named where it is used:
//! - Better Stack's API documentation, `https://betterstack.com/docs/uptime/api/` (pages
//!   "Getting started with Uptime API" for auth and pagination, "List all existing monitors",
//!   "Create a new monitor", "Update an existing monitor", "Delete an existing monitor", and the
//!   same for heartbeats, escalation policies (v3), status pages and Slack integrations);
//! - Better Stack's official Terraform provider, `BetterStackHQ/terraform-provider-better-uptime`
//!   (snapshot fcbe53f6ac70f60667860032baf0bf36b3c3800e): `internal/provider/client.go` (bearer
//!   auth, JSON bodies), `resource.go` (201 on create, 200 on read and update, 204 or 404 on
//!   delete), `resource_monitor.go`, `resource_heartbeat.go`, `resource_policy.go`,
//!   `resource_status_page.go`, `data_slack_integration.go` (the `pagination` object and its
//!   `next` link, followed until empty) and `data_ip_list.go` (`GET /ips-by-cluster.json`, an
//!   object of cluster → IP list). The attribute tables are in [`schema`].
//!
//! # Endpoints
//!
//! | Method | Path | Answer |
//! |---|---|---|
//! | GET | `/api/v2/monitors`, `/api/v2/heartbeats`, `/api/v3/policies`, `/api/v2/status-pages`, `/api/v2/slack-integrations` | 200 `{"data": [resource], "pagination": {first, last, prev, next}}` |
//! | GET | `…/{id}` | 200 `{"data": resource}`, 404 |
//! | POST | the list path (not Slack integrations) | 201 `{"data": resource}` |
//! | PATCH | `…/{id}` | 200 `{"data": resource}` |
//! | DELETE | `…/{id}` | 204 |
//! | GET | `/ips-by-cluster.json` (no auth) | 200 `{"<cluster>": ["<ip>", …]}` |
//!
//! A resource is `{"id": "<digits>", "type": "monitor", "attributes": {…}}`. Lists are paged
//! with `page` (from 1) and `per_page` (default 50, at most 250); `pagination.next` is an
//! absolute URL on the host the request was sent to ([`BetterstackEmulator::set_link_base`]
//! points it elsewhere, to test that clients refuse to follow it).
//!
//! # Errors
//!
//! `{"errors": "<message>"}` for 401 (missing or unknown token, never echoed) and 404, and
//! `{"errors": {"<attribute>": ["<message>", …]}}` for 422 (an unknown or read-only attribute,
//! a wrong type, a missing required attribute, a reference to nothing, a taken subdomain).
//! The documentation shows `errors` without fixing its shape; these two forms are the ones its
//! examples use (UNCONFIRMED against the live API beyond that). Injected faults
//! ([`crate::faults`]) answer in the string form.

pub mod schema;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::faults::Faults;
use crate::server::{self, ProviderStyle, RequestLog, RunningEmulator, json_response};
use schema::Attr;

/// Everything the emulator starts with: one team.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Accepted API tokens (the team's Uptime API tokens).
    #[serde(default)]
    pub tokens: Vec<String>,
    #[serde(default)]
    pub monitors: Vec<Resource>,
    #[serde(default)]
    pub heartbeats: Vec<Resource>,
    /// Escalation policies (`/api/v3/policies`).
    #[serde(default)]
    pub policies: Vec<Resource>,
    #[serde(default)]
    pub status_pages: Vec<Resource>,
    /// Slack integrations (read only: Better Stack connects them through Slack's OAuth).
    #[serde(default)]
    pub slack_integrations: Vec<Resource>,
    /// The probe addresses `/ips-by-cluster.json` serves.
    #[serde(default)]
    pub ips_by_cluster: BTreeMap<String, Vec<String>>,
}

/// One resource: its id and its attributes, flat, as the seed document writes them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub id: u64,
    #[serde(flatten)]
    pub attributes: Map<String, Value>,
}

/// The kinds of resource, their paths and their attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Monitor,
    Heartbeat,
    Policy,
    StatusPage,
    SlackIntegration,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Self::Monitor,
        Self::Heartbeat,
        Self::Policy,
        Self::StatusPage,
        Self::SlackIntegration,
    ];

    /// The list path.
    pub fn path(self) -> &'static str {
        match self {
            Self::Monitor => "/api/v2/monitors",
            Self::Heartbeat => "/api/v2/heartbeats",
            Self::Policy => "/api/v3/policies",
            Self::StatusPage => "/api/v2/status-pages",
            Self::SlackIntegration => "/api/v2/slack-integrations",
        }
    }

    /// The resource's `type`.
    fn type_name(self) -> &'static str {
        match self {
            Self::Monitor => "monitor",
            Self::Heartbeat => "heartbeat",
            Self::Policy => "policy",
            Self::StatusPage => "status_page",
            Self::SlackIntegration => "slack_integration",
        }
    }

    fn attrs(self) -> &'static [Attr] {
        match self {
            Self::Monitor => schema::MONITOR,
            Self::Heartbeat => schema::HEARTBEAT,
            Self::Policy => schema::POLICY,
            Self::StatusPage => schema::STATUS_PAGE,
            Self::SlackIntegration => schema::SLACK_INTEGRATION,
        }
    }

    /// Attributes a create must carry.
    fn required(self) -> &'static [&'static str] {
        match self {
            Self::Monitor => &["url", "monitor_type"],
            Self::Heartbeat => &["name", "period"],
            Self::Policy => &["name"],
            Self::StatusPage => &["company_name", "subdomain"],
            Self::SlackIntegration => &[],
        }
    }

    fn list(self, seed: &Seed) -> &Vec<Resource> {
        match self {
            Self::Monitor => &seed.monitors,
            Self::Heartbeat => &seed.heartbeats,
            Self::Policy => &seed.policies,
            Self::StatusPage => &seed.status_pages,
            Self::SlackIntegration => &seed.slack_integrations,
        }
    }

    fn list_mut(self, seed: &mut Seed) -> &mut Vec<Resource> {
        match self {
            Self::Monitor => &mut seed.monitors,
            Self::Heartbeat => &mut seed.heartbeats,
            Self::Policy => &mut seed.policies,
            Self::StatusPage => &mut seed.status_pages,
            Self::SlackIntegration => &mut seed.slack_integrations,
        }
    }

    /// What Better Stack fills in on create (the documentation's defaults).
    fn defaults(self, id: u64, now: &str) -> Value {
        match self {
            Self::Monitor => json!({
                "pronounceable_name": null, "monitor_group_id": null, "last_checked_at": null,
                "status": "pending", "policy_id": null, "expiration_policy_id": null,
                "required_keyword": null, "verify_ssl": true, "check_frequency": 180,
                "call": false, "sms": false, "email": true, "push": true, "critical_alert": false,
                "team_wait": null, "http_method": "get", "request_timeout": 30,
                "recovery_period": 180, "request_headers": [], "request_body": "",
                "follow_redirects": true, "remember_cookies": true, "created_at": now,
                "updated_at": now, "ssl_expiration": null, "domain_expiration": null,
                "regions": ["us", "eu", "as", "au"], "expected_status_codes": [], "port": null,
                "confirmation_period": 0, "paused_at": null, "paused": false,
                "maintenance_from": null, "maintenance_to": null, "maintenance_timezone": "UTC",
                "maintenance_days": []
            }),
            Self::Heartbeat => json!({
                "url": format!("https://uptime.betterstack.com/api/v1/heartbeat/emulated{id}"),
                "grace": 0, "policy_id": null, "heartbeat_group_id": null, "sort_index": null,
                "call": false, "sms": false, "email": true, "push": true, "critical_alert": false,
                "team_wait": null, "paused": false, "paused_at": null, "status": "pending",
                "created_at": now, "updated_at": now
            }),
            Self::Policy => json!({
                "repeat_count": 0, "repeat_delay": 0, "fallback_policy_id": null,
                "incident_token": format!("emulated-incident-token-{id}"), "policy_group_id": null,
                "steps": []
            }),
            Self::StatusPage => json!({
                "company_url": null, "contact_url": null, "logo_url": null, "timezone": "UTC",
                "custom_domain": null, "subscribable": false, "hide_from_search_engines": false,
                "password_enabled": false, "history": 90, "ip_allowlist": [], "published": false,
                "require_sso": false, "aggregate_state": "operational", "created_at": now,
                "updated_at": now
            }),
            Self::SlackIntegration => json!({}),
        }
    }
}

/// A Better Stack Uptime emulator. Clones share state, faults and log.
#[derive(Clone)]
pub struct BetterstackEmulator {
    shared: Arc<Shared>,
    faults: Faults,
    log: RequestLog,
}

struct Shared {
    store: Mutex<Store>,
}

struct Store {
    seed: Seed,
    next_id: u64,
    /// Scheme and authority of pagination links; `None`: the request's own host.
    link_base: Option<String>,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

const STYLE: ProviderStyle = ProviderStyle {
    error_body: |_status, message| json!({ "errors": message }),
    // Lists want an array in `data`, single answers an object, the probe list arrays of IPs.
    wrong_shape_body: || json!({ "data": 42 }),
};

impl Seed {
    /// Checks the seed against the same attribute tables as requests (read-only attributes
    /// allowed), and ids unique per kind.
    pub fn validate(&self) -> Result<(), String> {
        if self.tokens.iter().any(|t| t.trim().is_empty()) {
            return Err("a token is empty".into());
        }
        for kind in Kind::ALL {
            let mut ids = std::collections::BTreeSet::new();
            for r in kind.list(self) {
                if !ids.insert(r.id) {
                    return Err(format!("{} {} is seeded twice", kind.type_name(), r.id));
                }
                schema::check(&r.attributes, kind.attrs(), true)
                    .map_err(|e| format!("{} {}: {}", kind.type_name(), r.id, Value::Object(e)))?;
            }
        }
        for (cluster, ips) in &self.ips_by_cluster {
            if let Some(ip) = ips.iter().find(|ip| !schema::is_ip_or_cidr(ip)) {
                return Err(format!("ips_by_cluster.{cluster}: {ip:?} is not an IP"));
            }
        }
        Ok(())
    }
}

impl BetterstackEmulator {
    /// Builds the emulator. The seed is not validated; call [`Seed::validate`] for that.
    pub fn new(seed: Seed) -> Self {
        let next_id = Kind::ALL
            .iter()
            .flat_map(|k| k.list(&seed).iter().map(|r| r.id))
            .max()
            .unwrap_or(0)
            .max(1000)
            + 1;
        Self {
            shared: Arc::new(Shared {
                store: Mutex::new(Store {
                    seed,
                    next_id,
                    link_base: None,
                }),
            }),
            faults: Faults::new(),
            log: RequestLog::new(),
        }
    }

    pub async fn start(&self, bind: &str) -> std::io::Result<RunningEmulator> {
        server::serve(self.router(), bind).await
    }

    /// The complete app (logging, faults, auth).
    pub fn router(&self) -> Router {
        let api = Router::new()
            .fallback(dispatch)
            .with_state(self.shared.clone());
        server::instrument(api, self.log.clone(), self.faults.clone(), STYLE)
    }

    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    pub fn log(&self) -> RequestLog {
        self.log.clone()
    }

    /// Current state in the seed shape.
    pub fn snapshot(&self) -> Seed {
        self.shared.store().seed.clone()
    }

    /// Edits the state directly, as a change made in Better Stack's dashboard would.
    pub fn mutate(&self, edit: impl FnOnce(&mut Seed)) {
        edit(&mut self.shared.store().seed);
    }

    /// Makes pagination links point at `base` (e.g. `http://evil.example:1`) instead of the
    /// request's host; `None` restores the default.
    pub fn set_link_base(&self, base: Option<String>) {
        self.shared.store().link_base = base;
    }
}

/// An error answer: a message, or field errors for 422.
#[derive(Debug)]
enum ApiError {
    Message(StatusCode, String),
    Fields(schema::Errors),
}

impl ApiError {
    fn field(key: &str, message: &str) -> Self {
        let mut errors = schema::Errors::new();
        errors.insert(key.into(), json!([message]));
        Self::Fields(errors)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Message(status, message) => json_response(status, &json!({ "errors": message })),
            Self::Fields(errors) => json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({ "errors": errors }),
            ),
        }
    }
}

type ApiResult = Result<Response, ApiError>;

fn not_found(kind: Kind, id: &str) -> ApiError {
    ApiError::Message(
        StatusCode::NOT_FOUND,
        format!(
            "Resource type {} with id = {} was not found",
            kind.type_name(),
            id.chars().take(20).collect::<String>()
        ),
    )
}

fn wire(kind: Kind, r: &Resource) -> Value {
    json!({"id": r.id.to_string(), "type": kind.type_name(), "attributes": r.attributes})
}

/// Bearer token, one of the seed's. The answer never echoes what was presented.
fn authenticated(store: &Store, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| store.seed.tokens.iter().any(|k| k == t.trim()))
}

async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    axum::extract::OriginalUri(original): axum::extract::OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut store = shared.store();
    let path = uri.path();
    if path == "/ips-by-cluster.json" && method == Method::GET {
        return json_response(StatusCode::OK, &json!(store.seed.ips_by_cluster));
    }
    if !authenticated(&store, &headers) {
        return ApiError::Message(
            StatusCode::UNAUTHORIZED,
            "Invalid Team API token. How to find your Team API token: https://betterstack.com/docs/uptime/api/getting-started-with-uptime-api#obtaining-an-uptime-api-token".into(),
        )
        .into_response();
    }
    let route = Kind::ALL.into_iter().find_map(|k| {
        let rest = path.strip_prefix(k.path())?;
        match rest {
            "" => Some((k, None)),
            _ => rest
                .strip_prefix('/')
                .filter(|id| !id.contains('/'))
                .map(|id| (k, Some(id.to_string()))),
        }
    });
    let Some((kind, id)) = route else {
        return ApiError::Message(StatusCode::NOT_FOUND, "Not found".into()).into_response();
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    // Served under a path prefix (`bench-emulators` nests each account under `/a{n}`), the
    // pagination links keep it.
    let prefix = original.path().strip_suffix(uri.path()).unwrap_or_default();
    let host = format!("{host}{prefix}");
    let read_only = kind == Kind::SlackIntegration;
    let result = match (method, id) {
        (Method::GET, None) => list(&store, kind, &host, uri.query()),
        (Method::GET, Some(id)) => find(&store, kind, &id)
            .map(|r| json_response(StatusCode::OK, &json!({ "data": wire(kind, r) }))),
        (Method::POST, None) if !read_only => create(&mut store, kind, &body),
        (Method::PATCH, Some(id)) if !read_only => update(&mut store, kind, &id, &body),
        (Method::DELETE, Some(id)) if !read_only => delete(&mut store, kind, &id),
        _ => Err(ApiError::Message(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed".into(),
        )),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn find<'a>(store: &'a Store, kind: Kind, id: &str) -> Result<&'a Resource, ApiError> {
    id.parse::<u64>()
        .ok()
        .and_then(|n| kind.list(&store.seed).iter().find(|r| r.id == n))
        .ok_or_else(|| not_found(kind, id))
}

fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.to_string())
    })
}

fn list(store: &Store, kind: Kind, host: &str, query: Option<&str>) -> ApiResult {
    let number = |key: &str, default: usize| -> Result<usize, ApiError> {
        match query_param(query, key) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| ApiError::field(key, "must be a positive integer")),
        }
    };
    let page = number("page", 1)?;
    let per_page = number("per_page", 50)?.min(250);
    let all = kind.list(&store.seed);
    let last = all.len().div_ceil(per_page).max(1);
    let data: Vec<Value> = all
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|r| wire(kind, r))
        .collect();
    let base = store
        .link_base
        .clone()
        .unwrap_or_else(|| format!("http://{host}"));
    let link = |n: usize| {
        Value::String(format!(
            "{base}{}?page={n}&per_page={per_page}",
            kind.path()
        ))
    };
    let pagination = json!({
        "first": link(1),
        "last": link(last),
        "prev": if page > 1 { link(page - 1) } else { Value::Null },
        "next": if page < last { link(page + 1) } else { Value::Null },
    });
    Ok(json_response(
        StatusCode::OK,
        &json!({ "data": data, "pagination": pagination }),
    ))
}

fn parse_body(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::Message(
            StatusCode::BAD_REQUEST,
            "The request body must be a JSON object".into(),
        )),
    }
}

/// What only the whole team's state can tell: references to other resources, unique
/// subdomains.
fn check_references(
    store: &Store,
    kind: Kind,
    id: Option<u64>,
    body: &Map<String, Value>,
) -> Result<(), ApiError> {
    if let Some(Value::String(policy)) = body.get("policy_id")
        && find(store, Kind::Policy, policy).is_err()
    {
        return Err(ApiError::field("policy_id", "does not exist"));
    }
    if kind == Kind::StatusPage
        && let Some(Value::String(sub)) = body.get("subdomain")
        && store.seed.status_pages.iter().any(|p| {
            Some(p.id) != id && p.attributes.get("subdomain").and_then(Value::as_str) == Some(sub)
        })
    {
        return Err(ApiError::field("subdomain", "has already been taken"));
    }
    let steps = body.get("steps").and_then(Value::as_array);
    for m in steps
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("step_members").and_then(Value::as_array))
        .flatten()
    {
        let target = match m.get("type").and_then(Value::as_str) {
            Some("slack_integration") => Kind::SlackIntegration,
            Some("policy") => Kind::Policy,
            _ => continue,
        };
        let exists = m
            .get("id")
            .and_then(Value::as_u64)
            .is_some_and(|n| find(store, target, &n.to_string()).is_ok());
        if !exists {
            return Err(ApiError::field(
                "steps",
                &format!("a {} member refers to nothing", target.type_name()),
            ));
        }
    }
    Ok(())
}

/// Pausing stamps `paused_at` and the status; resuming starts checking anew.
fn apply_pause(attributes: &mut Map<String, Value>, now: &str) {
    let paused = attributes.get("paused").and_then(Value::as_bool) == Some(true);
    let is_paused = attributes.get("status").and_then(Value::as_str) == Some("paused");
    if paused && !is_paused {
        attributes.insert("status".into(), json!("paused"));
        attributes.insert("paused_at".into(), json!(now));
    } else if !paused && is_paused {
        attributes.insert("status".into(), json!("pending"));
        attributes.insert("paused_at".into(), Value::Null);
    }
}

fn create(store: &mut Store, kind: Kind, body: &Bytes) -> ApiResult {
    let body = parse_body(body)?;
    schema::check(&body, kind.attrs(), false).map_err(ApiError::Fields)?;
    for key in kind.required() {
        if body.get(*key).is_none_or(Value::is_null) {
            return Err(ApiError::field(key, "can't be blank"));
        }
    }
    check_references(store, kind, None, &body)?;
    let id = store.next_id;
    store.next_id += 1;
    let now = server::now_rfc3339();
    let mut attributes = kind
        .defaults(id, &now)
        .as_object()
        .cloned()
        .unwrap_or_default();
    attributes.extend(body);
    attributes.remove("team_name");
    if matches!(kind, Kind::Monitor | Kind::Heartbeat) {
        apply_pause(&mut attributes, &now);
    }
    let r = Resource { id, attributes };
    let answer = json!({ "data": wire(kind, &r) });
    kind.list_mut(&mut store.seed).push(r);
    Ok(json_response(StatusCode::CREATED, &answer))
}

fn update(store: &mut Store, kind: Kind, id: &str, body: &Bytes) -> ApiResult {
    let n = find(store, kind, id)?.id;
    let body = parse_body(body)?;
    schema::check(&body, kind.attrs(), false).map_err(ApiError::Fields)?;
    check_references(store, kind, Some(n), &body)?;
    let now = server::now_rfc3339();
    let list = kind.list_mut(&mut store.seed);
    let Some(r) = list.iter_mut().find(|r| r.id == n) else {
        return Err(not_found(kind, id));
    };
    r.attributes.extend(body);
    r.attributes.remove("team_name");
    if r.attributes.contains_key("updated_at") {
        r.attributes.insert("updated_at".into(), json!(now));
    }
    if matches!(kind, Kind::Monitor | Kind::Heartbeat) {
        apply_pause(&mut r.attributes, &now);
    }
    let answer = json!({ "data": wire(kind, r) });
    Ok(json_response(StatusCode::OK, &answer))
}

fn delete(store: &mut Store, kind: Kind, id: &str) -> ApiResult {
    let n = find(store, kind, id)?.id;
    kind.list_mut(&mut store.seed).retain(|r| r.id != n);
    if kind == Kind::Policy {
        // What pointed at the policy no longer escalates anywhere.
        for r in store
            .seed
            .monitors
            .iter_mut()
            .chain(store.seed.heartbeats.iter_mut())
        {
            if r.attributes.get("policy_id").and_then(Value::as_str) == Some(&n.to_string()) {
                r.attributes.insert("policy_id".into(), Value::Null);
            }
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests;
