//! Stateful emulator of Fleet's REST API (the calls Perimeter makes).
//!
//! Paths, parameters and shapes follow the official REST API documentation, fleetdm/fleet
//! `docs/REST API/rest-api.md` at commit `0003290a7438890e145922e7258cf5ac4bf4a2cc` (Fleet
//! publishes no OpenAPI document; see `tests/conformance/fleet/SOURCE.md`).
//!
//! | Method | Path |
//! |---|---|
//! | GET | `/api/v1/fleet/me` |
//! | GET | `/api/v1/fleet/teams?page=&per_page=` |
//! | GET, POST | `/api/v1/fleet/global/policies` |
//! | PATCH | `/api/v1/fleet/global/policies/{id}` |
//! | POST | `/api/v1/fleet/global/policies/delete` (`{"ids": [...]}`) |
//! | GET, POST | `/api/v1/fleet/teams/{team_id}/policies` (`policies` and `inherited_policies`) |
//! | PATCH | `/api/v1/fleet/teams/{team_id}/policies/{id}` |
//! | POST | `/api/v1/fleet/teams/{team_id}/policies/delete` |
//! | GET | `/api/v1/fleet/hosts?page=&per_page=&team_id=&policy_id=&policy_response=` |
//! | GET | `/api/v1/fleet/activities?page=&per_page=&order_key=created_at&order_direction=` |
//!
//! Activities (Fleet's audit log, `docs/Contributing/Audit-logs.md`): every policy created,
//! edited or deleted through the API is recorded as `created_policy` / `edited_policy` /
//! `deleted_policy` by the API user (`/me`), with `details` `policy_id`, `policy_name`,
//! `team_id`, `team_name`; [`FleetEmulator::console_edit`] records a person's edit in the UI.
//!
//! `Authorization: Bearer <token>` of a seeded token; errors are
//! `{"message", "errors": [{"name", "reason"}], "uuid"}` (401 "Authentication failed", 404
//! "Resource Not Found", 422 "Validation Failed"). A host fails a policy that applies to it
//! (its platform family and team) when the seed lists the policy's name in its `failing`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, patch, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::faults::Faults;
use crate::server::{self, ProviderStyle, RequestLog, RunningEmulator, json_response};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Seed {
    #[serde(default)]
    pub tokens: Vec<String>,
    #[serde(default)]
    pub teams: Vec<Team>,
    #[serde(default)]
    pub policies: Vec<Policy>,
    #[serde(default)]
    pub hosts: Vec<Host>,
    /// The audit log, oldest first.
    #[serde(default)]
    pub activities: Vec<Activity>,
}

/// One entry of Fleet's activity feed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Activity {
    #[serde(rename = "type")]
    pub kind: String,
    pub actor_full_name: String,
    pub actor_email: String,
    /// RFC 3339; a seed may give `createdMinutesAgo` instead.
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub created_minutes_ago: Option<u64>,
    pub details: Value,
}

/// The API user every token of the emulator belongs to (what `/me` answers).
const API_USER: (&str, &str) = ("Perimeter", "perimeter@example.com");

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Team {
    pub id: u64,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Policy {
    pub id: u64,
    /// `None`: a global policy.
    #[serde(default)]
    pub team_id: Option<u64>,
    pub name: String,
    pub query: String,
    #[serde(default)]
    pub platform: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub resolution: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Host {
    pub id: u64,
    pub hostname: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub hardware_serial: String,
    /// osquery's platform (`darwin`, `windows`, `ubuntu`, `rhel`, …).
    pub platform: String,
    #[serde(default)]
    pub team_id: Option<u64>,
    /// How long before "now" it last checked in.
    #[serde(default)]
    pub seen_minutes_ago: u64,
    /// Names of the policies it fails.
    #[serde(default)]
    pub failing: Vec<String>,
}

impl Host {
    fn family(&self) -> &str {
        match self.platform.as_str() {
            "darwin" => "darwin",
            "windows" => "windows",
            _ => "linux",
        }
    }

    /// Whether a policy is run on this host: its team (or global) and its platforms.
    fn runs(&self, p: &Policy) -> bool {
        (p.team_id.is_none() || p.team_id == self.team_id)
            && (p.platform.is_empty() || p.platform.split(',').any(|x| x.trim() == self.family()))
    }
}

#[derive(Clone)]
pub struct FleetEmulator {
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

fn error(status: StatusCode, message: &str, reason: &str) -> Response {
    json_response(
        status,
        &json!({"message": message, "errors": [{"name": "base", "reason": reason}],
                "uuid": "00000000-0000-4000-8000-000000000000"}),
    )
}

const STYLE: ProviderStyle = ProviderStyle {
    error_body: |_, message| json!({"message": message, "errors": [{"name": "base", "reason": message}]}),
    wrong_shape_body: || json!({"policies": {"id": "x"}, "hosts": "x", "teams": 1, "user": []}),
};

impl FleetEmulator {
    pub fn new(seed: Seed) -> Self {
        Self {
            shared: Arc::new(Shared {
                seed: Mutex::new(seed),
            }),
            faults: Faults::new(),
            log: RequestLog::new(),
        }
    }

    pub async fn start(&self, bind: &str) -> std::io::Result<RunningEmulator> {
        server::serve(self.router(), bind).await
    }

    pub fn router(&self) -> Router {
        let shared = self.shared.clone();
        let api = Router::new()
            .route("/api/v1/fleet/me", get(me))
            .route("/api/v1/fleet/teams", get(list_teams))
            .route(
                "/api/v1/fleet/global/policies",
                get(list_global).post(create_global),
            )
            .route("/api/v1/fleet/global/policies/delete", post(delete_global))
            .route("/api/v1/fleet/global/policies/{id}", patch(edit_global))
            .route(
                "/api/v1/fleet/teams/{team}/policies",
                get(list_team).post(create_team),
            )
            .route(
                "/api/v1/fleet/teams/{team}/policies/delete",
                post(delete_team),
            )
            .route("/api/v1/fleet/teams/{team}/policies/{id}", patch(edit_team))
            .route("/api/v1/fleet/hosts", get(list_hosts))
            .route("/api/v1/fleet/activities", get(list_activities))
            .fallback(|| async {
                error(StatusCode::NOT_FOUND, "Resource Not Found", "no such route")
            })
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

    pub fn snapshot(&self) -> Seed {
        self.shared.seed().clone()
    }

    pub fn mutate(&self, edit: impl FnOnce(&mut Seed)) {
        edit(&mut self.shared.seed());
    }

    /// A person edits a policy's query in Fleet's UI: the query changes and the activity
    /// feed records `edited_policy` by them.
    pub fn console_edit(&self, who: (&str, &str), policy: &str, team: Option<u64>, query: &str) {
        let mut seed = self.shared.seed();
        let Some(p) = seed
            .policies
            .iter_mut()
            .find(|p| p.name == policy && p.team_id == team)
        else {
            return;
        };
        p.query = query.to_string();
        let p = p.clone();
        record(&mut seed, who, "edited_policy", &p);
    }
}

impl FleetEmulator {
    /// A person deletes a policy in Fleet's UI: it is gone and the feed records
    /// `deleted_policy` by them.
    pub fn console_delete(&self, who: (&str, &str), policy: &str, team: Option<u64>) {
        let mut seed = self.shared.seed();
        let Some(i) = seed
            .policies
            .iter()
            .position(|p| p.name == policy && p.team_id == team)
        else {
            return;
        };
        let p = seed.policies.remove(i);
        record(&mut seed, who, "deleted_policy", &p);
    }
}

/// Appends an activity on policy `p` by `who` (full name, e-mail), stamped now.
fn record(seed: &mut Seed, who: (&str, &str), kind: &str, p: &Policy) {
    let team_name = p
        .team_id
        .and_then(|t| seed.teams.iter().find(|x| x.id == t))
        .map(|t| t.name.clone());
    seed.activities.push(Activity {
        kind: kind.to_string(),
        actor_full_name: who.0.to_string(),
        actor_email: who.1.to_string(),
        created_at: server::rfc3339(SystemTime::now()),
        created_minutes_ago: None,
        details: json!({"policy_id": p.id, "policy_name": p.name, "team_id": p.team_id,
                        "team_name": team_name}),
    });
}

async fn list_activities(State(shared): Ctx, Query(q): Query<HashMap<String, String>>) -> Response {
    let (page, per) = match paging(&q) {
        Ok(p) => p,
        Err(e) => return *e,
    };
    let order = (
        q.get("order_key").map(String::as_str),
        q.get("order_direction").map(String::as_str),
    );
    let newest_first = match order {
        (None, None) | (Some("created_at"), None | Some("asc")) => false,
        (Some("created_at"), Some("desc")) => true,
        _ => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Validation Failed",
                "order_key must be created_at, order_direction asc or desc (and needs order_key)",
            );
        }
    };
    let seed = shared.seed();
    let mut all: Vec<(usize, &Activity)> = seed.activities.iter().enumerate().collect();
    if newest_first {
        all.reverse();
    }
    let out: Vec<Value> = page_of(&all, page, per)
        .iter()
        .map(|(i, a)| {
            let at = match a.created_minutes_ago {
                Some(m) => {
                    server::rfc3339(SystemTime::now() - Duration::from_secs(m.saturating_mul(60)))
                }
                None => a.created_at.clone(),
            };
            json!({"created_at": at, "id": i + 1, "actor_full_name": a.actor_full_name,
                   "actor_id": 1, "actor_gravatar": "", "actor_email": a.actor_email,
                   "type": a.kind, "fleet_initiated_activity": false, "details": a.details})
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"activities": out, "meta": {"has_next_results": (page + 1) * per < all.len(), "has_previous_results": page > 0}}),
    )
}

async fn authenticate(State(shared): Ctx, req: Request, next: Next) -> Response {
    let ok = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| shared.seed().tokens.iter().any(|k| k == t.trim()));
    if !ok {
        // Never echo what was presented.
        return error(
            StatusCode::UNAUTHORIZED,
            "Authentication failed",
            "Authentication failed",
        );
    }
    next.run(req).await
}

async fn me() -> Response {
    json_response(
        StatusCode::OK,
        &json!({"user": {"id": 1, "name": "Perimeter", "email": "perimeter@example.com",
                "global_role": "maintainer", "api_only": true, "teams": []}}),
    )
}

fn paging(q: &HashMap<String, String>) -> Result<(usize, usize), Box<Response>> {
    let num = |k: &str, d: usize| -> Result<usize, Box<Response>> {
        match q.get(k) {
            None => Ok(d),
            Some(v) => v.parse().map_err(|_| {
                Box::new(error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Validation Failed",
                    &format!("{k} must be an integer"),
                ))
            }),
        }
    };
    Ok((num("page", 0)?, num("per_page", 1_000_000)?.max(1)))
}

fn page_of<T: Clone>(items: &[T], page: usize, per: usize) -> Vec<T> {
    items
        .iter()
        .skip(page.saturating_mul(per))
        .take(per)
        .cloned()
        .collect()
}

async fn list_teams(State(shared): Ctx, Query(q): Query<HashMap<String, String>>) -> Response {
    let (page, per) = match paging(&q) {
        Ok(p) => p,
        Err(e) => return *e,
    };
    let teams: Vec<Value> = page_of(&shared.seed().teams, page, per)
        .iter()
        .map(|t| json!({"id": t.id, "name": t.name, "description": "", "user_count": 0, "host_count": 0}))
        .collect();
    json_response(StatusCode::OK, &json!({"teams": teams}))
}

fn policy_json(seed: &Seed, p: &Policy) -> Value {
    let ran: Vec<&Host> = seed.hosts.iter().filter(|h| h.runs(p)).collect();
    let failing = ran.iter().filter(|h| h.failing.contains(&p.name)).count();
    json!({"id": p.id, "name": p.name, "query": p.query, "description": p.description,
           "critical": false, "author_id": 1, "author_name": "Perimeter", "author_email": "perimeter@example.com",
           "team_id": p.team_id, "resolution": p.resolution, "platform": p.platform,
           "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
           "passing_host_count": ran.len() - failing, "failing_host_count": failing})
}

fn team_exists(seed: &Seed, team: u64) -> bool {
    seed.teams.iter().any(|t| t.id == team)
}

fn list(shared: &Shared, team: Option<u64>) -> Response {
    let seed = shared.seed();
    if let Some(t) = team
        && !team_exists(&seed, t)
    {
        return error(
            StatusCode::NOT_FOUND,
            "Resource Not Found",
            "team not found",
        );
    }
    let of = |team: Option<u64>| -> Vec<Value> {
        seed.policies
            .iter()
            .filter(|p| p.team_id == team)
            .map(|p| policy_json(&seed, p))
            .collect()
    };
    let mut body = json!({"policies": of(team)});
    if team.is_some() {
        body["inherited_policies"] = json!(of(None));
    }
    json_response(StatusCode::OK, &body)
}

fn create(shared: &Shared, team: Option<u64>, body: &Value) -> Response {
    let mut seed = shared.seed();
    if let Some(t) = team
        && !team_exists(&seed, t)
    {
        return error(
            StatusCode::NOT_FOUND,
            "Resource Not Found",
            "team not found",
        );
    }
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (name, query) = (text("name"), text("query"));
    if name.is_empty() || query.is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed",
            "name and query are required",
        );
    }
    let platform = text("platform");
    if !platform.is_empty()
        && platform
            .split(',')
            .any(|p| !["darwin", "windows", "linux", "chrome"].contains(&p.trim()))
    {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed",
            "invalid platform",
        );
    }
    if seed
        .policies
        .iter()
        .any(|p| p.name == name && p.team_id == team)
    {
        return error(
            StatusCode::CONFLICT,
            "Resource Already Exists",
            "a policy with this name already exists",
        );
    }
    let id = seed.policies.iter().map(|p| p.id).max().unwrap_or(0) + 1;
    let p = Policy {
        id,
        team_id: team,
        name,
        query,
        platform,
        description: text("description"),
        resolution: text("resolution"),
    };
    seed.policies.push(p.clone());
    record(&mut seed, API_USER, "created_policy", &p);
    json_response(StatusCode::OK, &json!({"policy": policy_json(&seed, &p)}))
}

fn edit(shared: &Shared, team: Option<u64>, id: u64, body: &Value) -> Response {
    let mut seed = shared.seed();
    let Some(i) = seed
        .policies
        .iter()
        .position(|p| p.id == id && p.team_id == team)
    else {
        return error(
            StatusCode::NOT_FOUND,
            "Resource Not Found",
            "policy not found",
        );
    };
    for (k, v) in body.as_object().into_iter().flatten() {
        let Some(s) = v.as_str() else { continue };
        let p = &mut seed.policies[i];
        match k.as_str() {
            "name" => p.name = s.into(),
            "query" => p.query = s.into(),
            "platform" => p.platform = s.into(),
            "description" => p.description = s.into(),
            "resolution" => p.resolution = s.into(),
            _ => {}
        }
    }
    let p = seed.policies[i].clone();
    record(&mut seed, API_USER, "edited_policy", &p);
    json_response(StatusCode::OK, &json!({"policy": policy_json(&seed, &p)}))
}

fn delete(shared: &Shared, team: Option<u64>, body: &Value) -> Response {
    let Some(ids) = body.get("ids").and_then(Value::as_array) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed",
            "ids is required",
        );
    };
    let ids: Vec<u64> = ids.iter().filter_map(Value::as_u64).collect();
    let mut seed = shared.seed();
    let before = seed.policies.len();
    let gone: Vec<Policy> = seed
        .policies
        .iter()
        .filter(|p| p.team_id == team && ids.contains(&p.id))
        .cloned()
        .collect();
    seed.policies
        .retain(|p| !(p.team_id == team && ids.contains(&p.id)));
    for p in &gone {
        record(&mut seed, API_USER, "deleted_policy", p);
    }
    json_response(
        StatusCode::OK,
        &json!({"deleted": before - seed.policies.len()}),
    )
}

fn json_body(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or(Value::Null)
}

async fn list_global(State(s): Ctx) -> Response {
    list(&s, None)
}
async fn create_global(State(s): Ctx, body: String) -> Response {
    create(&s, None, &json_body(&body))
}
async fn edit_global(State(s): Ctx, Path(id): Path<u64>, body: String) -> Response {
    edit(&s, None, id, &json_body(&body))
}
async fn delete_global(State(s): Ctx, body: String) -> Response {
    delete(&s, None, &json_body(&body))
}
async fn list_team(State(s): Ctx, Path(team): Path<u64>) -> Response {
    list(&s, Some(team))
}
async fn create_team(State(s): Ctx, Path(team): Path<u64>, body: String) -> Response {
    create(&s, Some(team), &json_body(&body))
}
async fn edit_team(State(s): Ctx, Path((team, id)): Path<(u64, u64)>, body: String) -> Response {
    edit(&s, Some(team), id, &json_body(&body))
}
async fn delete_team(State(s): Ctx, Path(team): Path<u64>, body: String) -> Response {
    delete(&s, Some(team), &json_body(&body))
}

async fn list_hosts(State(shared): Ctx, Query(q): Query<HashMap<String, String>>) -> Response {
    let (page, per) = match paging(&q) {
        Ok(p) => p,
        Err(e) => return *e,
    };
    let seed = shared.seed();
    let team: Option<u64> = q.get("team_id").and_then(|t| t.parse().ok());
    let policy = match (q.get("policy_id"), q.get("policy_response")) {
        (None, None) => None,
        (Some(id), Some(r)) if r == "passing" || r == "failing" => {
            match id
                .parse::<u64>()
                .ok()
                .and_then(|id| seed.policies.iter().find(|p| p.id == id))
            {
                Some(p) => Some((p.clone(), r == "failing")),
                None => {
                    return error(
                        StatusCode::NOT_FOUND,
                        "Resource Not Found",
                        "policy not found",
                    );
                }
            }
        }
        _ => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Validation Failed",
                "policy_response needs policy_id and is passing or failing",
            );
        }
    };
    let hosts: Vec<Host> = seed
        .hosts
        .iter()
        .filter(|h| team.is_none_or(|t| h.team_id == Some(t)))
        .filter(|h| match &policy {
            None => true,
            Some((p, failing)) => h.runs(p) && h.failing.contains(&p.name) == *failing,
        })
        .cloned()
        .collect();
    let out: Vec<Value> = page_of(&hosts, page, per)
        .iter()
        .map(|h| {
            let seen = server::rfc3339(SystemTime::now() - Duration::from_secs(h.seen_minutes_ago.saturating_mul(60)));
            let display = if h.display_name.is_empty() { &h.hostname } else { &h.display_name };
            let team_name = h.team_id.and_then(|t| seed.teams.iter().find(|x| x.id == t)).map(|t| t.name.clone());
            json!({"id": h.id, "hostname": h.hostname, "display_name": display, "computer_name": display,
                   "hardware_serial": h.hardware_serial, "platform": h.platform, "team_id": h.team_id,
                   "team_name": team_name,
                   "seen_time": seen, "status": if h.seen_minutes_ago < 30 { "online" } else { "offline" }})
        })
        .collect();
    json_response(StatusCode::OK, &json!({"hosts": out}))
}
