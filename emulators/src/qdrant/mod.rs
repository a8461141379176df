//! Stateful emulator of the Qdrant Cloud management API's REST gateway (the parts Perimeter
//! reads and writes).
//!
//! Paths and shapes follow the official OpenAPI v2 documents generated from the protos
//! (qdrant/qdrant-cloud-public-api, `gen/openapiv2/…/cluster.swagger.json`,
//! `monitoring.swagger.json`, `database_api_key.swagger.json`): lowerCamelCase names, and, as
//! gRPC-Gateway's protojson writes them, empty lists, `false` and enum zero values left out.
//! The base URL of a client is [`RunningEmulator::base_url`] itself, as at
//! `api.cloud.qdrant.io`.
//!
//! # Endpoints
//!
//! | Method | Path | Permission | Answer |
//! |---|---|---|---|
//! | GET | `/api/cluster/v1/accounts/{a}/clusters?pageSize=&pageToken=` | `read:clusters` | `ListClustersResponse` |
//! | GET | `/api/cluster/v1/accounts/{a}/clusters/{c}` | `read:clusters` | `GetClusterResponse` |
//! | PUT | `/api/cluster/v1/accounts/{a}/clusters/{c}` | `write:clusters` | `UpdateClusterResponse` |
//! | GET | `/api/cluster/auth/v2/accounts/{a}/database-api-keys?clusterId=` | `read:api_keys` | `ListDatabaseApiKeysResponse` |
//! | GET | `/api/monitoring/v1/accounts/{a}/cluster/{c}/alerts?state=` | `read:clusters` | `ListClusterAlertsResponse` |
//!
//! # UpdateCluster and its mask
//!
//! The real API treats an `UpdateCluster` without `updateMask` as a replacement of the whole
//! cluster by the body. This emulator **refuses** such a request (400) instead: a client that
//! ever sends one is a bug Perimeter must never ship, and a refusal makes every test that
//! writes fail on it, where an emulated replacement could pass unnoticed when the body
//! happens to carry the cluster as read. The mask is parsed as protojson parses a JSON
//! `FieldMask` (lowerCamelCase paths joined by commas; a path with `_` is refused). Only
//! `configuration.allowedIpSourceRanges` is emulated; another path is refused as not
//! emulated (the real API would accept e.g. `name`).
//!
//! # Errors
//!
//! gRPC-Gateway's `rpcStatus` (`{"code", "message", "details"}`) with the HTTP status of the
//! gRPC code: 401 UNAUTHENTICATED (16) for a missing or unknown key (never echoed), 403
//! PERMISSION_DENIED (7) for a key of another account or without the permission, 404
//! NOT_FOUND (5), 400 INVALID_ARGUMENT (3) for what protovalidate refuses, and the shared
//! [`crate::faults`] (429 is RESOURCE_EXHAUSTED, 8).

pub mod seed;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

pub use seed::{Alert, Cluster, DatabaseApiKey, ManagementKey, Seed};

use crate::faults::Faults;
use crate::server::{self, ProviderStyle, RequestLog, RunningEmulator, json_response};
use seed::{check_ranges, is_guid};

/// The only update mask path emulated.
pub const RANGES_MASK: &str = "configuration.allowedIpSourceRanges";

/// A Qdrant Cloud emulator. Clones share state, faults and log.
#[derive(Clone)]
pub struct QdrantEmulator {
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

impl QdrantEmulator {
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
        let api = Router::new()
            .route(
                "/api/cluster/v1/accounts/{account}/clusters",
                get(list_clusters),
            )
            .route(
                "/api/cluster/v1/accounts/{account}/clusters/{cluster}",
                get(get_cluster).put(update_cluster),
            )
            .route(
                "/api/cluster/auth/v2/accounts/{account}/database-api-keys",
                get(list_keys),
            )
            .route(
                "/api/monitoring/v1/accounts/{account}/cluster/{cluster}/alerts",
                get(list_alerts),
            )
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

    /// Edits the state directly, e.g. to emulate a change made in the console (drift).
    pub fn mutate(&self, edit: impl FnOnce(&mut Seed)) {
        edit(&mut self.shared.seed());
    }
}

/// The gRPC code of an HTTP status, as gRPC-Gateway maps them back.
fn grpc_code(status: u16) -> u16 {
    match status {
        400 => 3,
        401 => 16,
        403 => 7,
        404 => 5,
        409 => 6,
        429 => 8,
        501 => 12,
        503 => 14,
        504 => 4,
        _ => 13,
    }
}

const STYLE: ProviderStyle = ProviderStyle {
    error_body: |status, message| json!({"code": grpc_code(status), "message": message, "details": []}),
    // Every answer's payload key, with a value of the wrong type.
    wrong_shape_body: || {
        json!({"cluster": "emulated wrong shape", "items": "emulated wrong shape",
               "alerts": "emulated wrong shape"})
    },
};

/// An error answer: `rpcStatus`.
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

    fn invalid(message: impl Into<String>) -> Self {
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
    ApiError::new(StatusCode::NOT_FOUND, "Not Found")
}

/// The caller's key, found by the auth middleware.
#[derive(Clone, Debug)]
struct Caller(ManagementKey);

async fn authenticate(State(shared): Ctx, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("apikey "))
        .map(str::trim);
    let key = presented.and_then(|p| shared.seed().keys.iter().find(|k| k.key == p).cloned());
    let Some(key) = key else {
        // Never echo what was presented: error bodies end up in logs.
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid or missing management key",
        )
        .into_response();
    };
    req.extensions_mut().insert(Caller(key));
    next.run(req).await
}

/// The caller may use `permission` in `account`.
fn allow(caller: &Caller, account: &str, permission: &str) -> Result<(), ApiError> {
    if !is_guid(account) {
        return Err(ApiError::invalid("account_id: value must be a valid UUID"));
    }
    if caller.0.account_id != account || !caller.0.permissions.iter().any(|p| p == permission) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("permission denied: {permission} is required"),
        ));
    }
    Ok(())
}

fn caller(req: &Request) -> Result<Caller, ApiError> {
    req.extensions().get::<Caller>().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid or missing management key",
        )
    })
}

/// A cluster as `v1Cluster`, in protojson's form (empty and false fields left out).
fn cluster_json(c: &Cluster) -> Value {
    let mut service = json!({});
    if c.enable_tls {
        service["enableTls"] = json!(true);
    }
    let mut configuration = json!({
        "lastModifiedAt": c.last_modified_at,
        "numberOfNodes": 1,
        "version": "v1.16.1",
        "packageId": "7c7e1f0a-8a4e-4c56-9a3b-0d5e6f7a8b9c",
        "databaseConfiguration": {"service": service},
    });
    if !c.allowed_ip_source_ranges.is_empty() {
        configuration["allowedIpSourceRanges"] = json!(c.allowed_ip_source_ranges);
    }
    let host = format!("{}.{}.cloud.qdrant.io", c.id, c.cloud_provider_region_id);
    json!({
        "id": c.id,
        "createdAt": "2026-01-01T00:00:00Z",
        "accountId": c.account_id,
        "name": c.name,
        "cloudProviderId": c.cloud_provider_id,
        "cloudProviderRegionId": c.cloud_provider_region_id,
        "configuration": configuration,
        "state": {
            "version": "v1.16.1", "nodesUp": 1, "phase": "CLUSTER_PHASE_HEALTHY",
            "endpoint": {"url": format!("https://{host}"), "restPort": 6333, "grpcPort": 6334}
        }
    })
}

fn find<'a>(seed: &'a mut Seed, account: &str, id: &str) -> Result<&'a mut Cluster, ApiError> {
    if !is_guid(id) {
        return Err(ApiError::invalid("cluster_id: value must be a valid UUID"));
    }
    seed.clusters
        .iter_mut()
        .find(|c| c.id == id && c.account_id == account)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "cluster not found"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    page_size: Option<i64>,
    page_token: Option<String>,
}

async fn list_clusters(
    State(shared): Ctx,
    Path(account): Path<String>,
    Query(page): Query<Page>,
    req: Request,
) -> ApiResult {
    allow(&caller(&req)?, &account, "read:clusters")?;
    let seed = shared.seed();
    let all: Vec<&Cluster> = seed
        .clusters
        .iter()
        .filter(|c| c.account_id == account)
        .collect();
    let Some(size) = page.page_size else {
        let items: Vec<Value> = all.iter().map(|c| cluster_json(c)).collect();
        return Ok(json_response(StatusCode::OK, &json!({ "items": items })));
    };
    if !(1..=250).contains(&size) {
        return Err(ApiError::invalid(
            "page_size: value must be in the range 1 to 250",
        ));
    }
    let start = match page.page_token.as_deref() {
        None | Some("") => 0,
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|s| *s <= all.len())
            .ok_or_else(|| ApiError::invalid("invalid page token"))?,
    };
    let end = (start + size as usize).min(all.len());
    let items: Vec<Value> = all[start..end].iter().map(|c| cluster_json(c)).collect();
    let mut answer = json!({"items": items, "totalSize": all.len()});
    if end < all.len() {
        answer["nextPageToken"] = json!(end.to_string());
    }
    Ok(json_response(StatusCode::OK, &answer))
}

async fn get_cluster(
    State(shared): Ctx,
    Path((account, id)): Path<(String, String)>,
    req: Request,
) -> ApiResult {
    allow(&caller(&req)?, &account, "read:clusters")?;
    let mut seed = shared.seed();
    let c = find(&mut seed, &account, &id)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "cluster": cluster_json(c) }),
    ))
}

async fn update_cluster(
    State(shared): Ctx,
    Path((account, id)): Path<(String, String)>,
    req: Request,
) -> ApiResult {
    allow(&caller(&req)?, &account, "write:clusters")?;
    let bytes: Bytes = axum::body::to_bytes(req.into_body(), 1024 * 1024)
        .await
        .map_err(|_| ApiError::invalid("unreadable body"))?;
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|_| ApiError::invalid("the body is not a JSON object"))?;
    let mask = match body.get("updateMask") {
        None | Some(Value::Null) => "",
        Some(Value::String(m)) => m.as_str(),
        Some(_) => return Err(ApiError::invalid("updateMask: not a FieldMask string")),
    };
    if mask.trim().is_empty() {
        return Err(ApiError::invalid(
            "updateMask is required by this emulator: without it UpdateCluster replaces the \
             whole cluster",
        ));
    }
    let paths: Vec<&str> = mask.split(',').map(str::trim).collect();
    for p in &paths {
        if p.contains('_') {
            return Err(ApiError::invalid(format!(
                "updateMask: {p:?} is not a lowerCamelCase path"
            )));
        }
        if *p != RANGES_MASK {
            return Err(ApiError::invalid(format!(
                "updateMask: {p:?} is not emulated (only {RANGES_MASK})"
            )));
        }
    }
    let cluster = body
        .get("cluster")
        .filter(|c| c.is_object())
        .ok_or_else(|| ApiError::invalid("cluster: value is required"))?;
    for (field, path) in [("id", &id), ("accountId", &account)] {
        if let Some(v) = cluster.get(field)
            && v.as_str() != Some(path.as_str())
        {
            return Err(ApiError::invalid(format!(
                "cluster.{field}: differs from the path"
            )));
        }
    }
    let ranges: Vec<String> = match cluster.pointer("/configuration/allowedIpSourceRanges") {
        None => Vec::new(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
            ApiError::invalid(
                "cluster.configuration.allowed_ip_source_ranges: not a list of strings",
            )
        })?,
    };
    check_ranges(&ranges).map_err(ApiError::invalid)?;
    let mut seed = shared.seed();
    let c = find(&mut seed, &account, &id)?;
    c.allowed_ip_source_ranges = ranges;
    c.last_modified_at = server::now_rfc3339();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "cluster": cluster_json(c) }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyQuery {
    cluster_id: Option<String>,
}

async fn list_keys(
    State(shared): Ctx,
    Path(account): Path<String>,
    Query(q): Query<KeyQuery>,
    req: Request,
) -> ApiResult {
    allow(&caller(&req)?, &account, "read:api_keys")?;
    if let Some(c) = &q.cluster_id
        && !is_guid(c)
    {
        return Err(ApiError::invalid("cluster_id: value must be a valid UUID"));
    }
    let seed = shared.seed();
    let items: Vec<Value> = seed
        .database_api_keys
        .iter()
        .filter(|k| k.account_id == account)
        .filter(|k| q.cluster_id.as_ref().is_none_or(|c| *c == k.cluster_id))
        .map(|k| {
            let mut item = json!({
                "id": k.id, "accountId": k.account_id, "createdAt": "2026-01-01T00:00:00Z",
                "clusterId": k.cluster_id, "name": k.name, "postfix": k.postfix
            });
            if let Some(t) = &k.expires_at {
                item["expiresAt"] = json!(t);
            }
            item
        })
        .collect();
    let mut answer = json!({});
    if !items.is_empty() {
        answer["items"] = json!(items);
    }
    Ok(json_response(StatusCode::OK, &answer))
}

#[derive(Deserialize)]
struct AlertQuery {
    state: Option<String>,
}

async fn list_alerts(
    State(shared): Ctx,
    Path((account, id)): Path<(String, String)>,
    Query(q): Query<AlertQuery>,
    req: Request,
) -> ApiResult {
    allow(&caller(&req)?, &account, "read:clusters")?;
    let wanted = match q.state.as_deref() {
        None | Some("") | Some("CLUSTER_ALERT_STATE_UNSPECIFIED") => None,
        Some("CLUSTER_ALERT_STATE_FIRING") => Some("FIRING"),
        Some("CLUSTER_ALERT_STATE_RESOLVED") => Some("RESOLVED"),
        Some(_) => {
            return Err(ApiError::invalid(
                "state: value must be one of the defined enum values",
            ));
        }
    };
    let mut seed = shared.seed();
    let c = find(&mut seed, &account, &id)?;
    let mut alerts: Vec<&Alert> = c
        .alerts
        .iter()
        .filter(|a| wanted.is_none_or(|w| a.state == w))
        .collect();
    alerts.sort_by(|a, b| b.last_firing_at.cmp(&a.last_firing_at));
    let alerts: Vec<Value> = alerts
        .into_iter()
        .map(|a| {
            let mut v = json!({
                "id": a.id, "type": format!("CLUSTER_ALERT_TYPE_{}", a.kind),
                "title": a.title, "lastFiringAt": a.last_firing_at,
                "state": format!("CLUSTER_ALERT_STATE_{}", a.state)
            });
            if a.severity != "UNSPECIFIED" {
                v["severity"] = json!(format!("CLUSTER_ALERT_SEVERITY_{}", a.severity));
            }
            v
        })
        .collect();
    let mut answer = json!({});
    if !alerts.is_empty() {
        answer["alerts"] = json!(alerts);
    }
    Ok(json_response(StatusCode::OK, &answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "0b3c3f6e-5e0f-4b8a-9d39-3f1f2a9c7d10";
    const CLUSTER: &str = "7e6f2a4c-1b2d-4c3e-8f90-a1b2c3d4e5f6";
    const KEY: &str = "mgmt-key-secret";

    fn emulator() -> QdrantEmulator {
        let seed: Seed = serde_json::from_value(json!({
            "keys": [{"key": KEY, "account_id": ACCOUNT},
                     {"key": "read-only", "account_id": ACCOUNT,
                      "permissions": ["read:clusters", "read:api_keys"]}],
            "clusters": [{"id": CLUSTER, "account_id": ACCOUNT, "name": "prod",
                          "allowed_ip_source_ranges": ["0.0.0.0/0"],
                          "alerts": [{"id": "a-1", "type": "OOM", "severity": "CRITICAL"},
                                     {"id": "a-2", "type": "OOD", "state": "RESOLVED",
                                      "last_firing_at": "2026-10-01T00:00:00Z"}]}],
            "database_api_keys": [{"id": "k-1", "account_id": ACCOUNT, "cluster_id": CLUSTER,
                                   "name": "ingest", "expires_at": "2026-12-01T00:00:00Z"}]
        }))
        .expect("seed parses");
        seed.validate().expect("valid seed");
        QdrantEmulator::new(seed)
    }

    async fn call(
        base: &str,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .request(method, format!("{base}{path}"))
            .header("authorization", format!("apikey {key}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("answer");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    fn cluster_path() -> String {
        format!("/api/cluster/v1/accounts/{ACCOUNT}/clusters/{CLUSTER}")
    }

    #[test]
    fn seeds_are_checked() {
        let c = |extra: Value| {
            let mut c = json!({"id": CLUSTER, "account_id": ACCOUNT});
            c.as_object_mut()
                .expect("object")
                .extend(extra.as_object().expect("object").clone());
            json!({"clusters": [c]})
        };
        let many: Vec<String> = (0..41).map(|i| format!("10.0.{i}.0/24")).collect();
        for seed in [
            json!({"clusters": [{"id": "nope", "account_id": ACCOUNT}]}),
            c(json!({"allowed_ip_source_ranges": ["10.0.0.1/8"]})),
            c(json!({"allowed_ip_source_ranges": ["2001:db8::/32"]})),
            c(json!({"allowed_ip_source_ranges": many})),
            c(json!({"alerts": [{"id": "a", "type": "BOOM"}]})),
            json!({"keys": [{"key": "k", "account_id": ACCOUNT, "permissions": ["root"]}]}),
        ] {
            let seed: Seed = serde_json::from_value(seed.clone()).expect("parses");
            assert!(seed.validate().is_err(), "{seed:?}");
        }
    }

    /// A masked update changes the allowlist and nothing else; an update without a mask, or
    /// with a path other than the allowlist, is refused and changes nothing.
    #[tokio::test]
    async fn updates_need_the_mask_and_change_only_the_allowlist() {
        let emu = emulator();
        let running = emu.start("127.0.0.1:0").await.expect("starts");
        let base = running.base_url();
        let (_, before) = call(&base, KEY, reqwest::Method::GET, &cluster_path(), None).await;
        let mut cluster = before["cluster"].clone();
        cluster["name"] = json!("renamed");
        cluster["configuration"]["allowedIpSourceRanges"] = json!(["203.0.113.0/24"]);
        for (body, why) in [
            (json!({"cluster": cluster}), "no mask"),
            (json!({"cluster": cluster, "updateMask": ""}), "empty mask"),
            (
                json!({"cluster": cluster, "updateMask": "configuration.allowed_ip_source_ranges"}),
                "snake case",
            ),
            (
                json!({"cluster": cluster, "updateMask": "name,configuration.allowedIpSourceRanges"}),
                "wider",
            ),
            (
                json!({"cluster": {"configuration": {"allowedIpSourceRanges": ["10.0.0.1/8"]}},
                    "updateMask": RANGES_MASK}),
                "host bits",
            ),
        ] {
            let (status, answer) = call(
                &base,
                KEY,
                reqwest::Method::PUT,
                &cluster_path(),
                Some(body),
            )
            .await;
            assert_eq!((status, answer["code"].as_u64()), (400, Some(3)), "{why}");
        }
        assert_eq!(
            emu.snapshot().clusters[0].allowed_ip_source_ranges,
            ["0.0.0.0/0"]
        );
        let body = json!({"cluster": cluster, "updateMask": RANGES_MASK});
        let (status, _) = call(
            &base,
            "read-only",
            reqwest::Method::PUT,
            &cluster_path(),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 403);
        let (status, answer) = call(
            &base,
            KEY,
            reqwest::Method::PUT,
            &cluster_path(),
            Some(body),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            answer["cluster"]["configuration"]["allowedIpSourceRanges"],
            json!(["203.0.113.0/24"])
        );
        assert_eq!(
            answer["cluster"]["name"],
            json!("prod"),
            "the mask kept the name"
        );
    }

    #[tokio::test]
    async fn reads_answer_in_protojson_form_and_check_the_key() {
        let emu = emulator();
        let running = emu.start("127.0.0.1:0").await.expect("starts");
        let base = running.base_url();
        let alerts = format!("/api/monitoring/v1/accounts/{ACCOUNT}/cluster/{CLUSTER}/alerts");
        let (status, all) = call(&base, "read-only", reqwest::Method::GET, &alerts, None).await;
        assert_eq!(status, 200);
        assert_eq!(all["alerts"].as_array().map(Vec::len), Some(2));
        let (_, firing) = call(
            &base,
            KEY,
            reqwest::Method::GET,
            &format!("{alerts}?state=CLUSTER_ALERT_STATE_FIRING"),
            None,
        )
        .await;
        assert_eq!(firing["alerts"][0]["id"], "a-1");
        assert_eq!(firing["alerts"].as_array().map(Vec::len), Some(1));
        let keys = format!(
            "/api/cluster/auth/v2/accounts/{ACCOUNT}/database-api-keys?clusterId={CLUSTER}"
        );
        let (_, listed) = call(&base, KEY, reqwest::Method::GET, &keys, None).await;
        assert_eq!(listed["items"][0]["expiresAt"], "2026-12-01T00:00:00Z");
        assert!(
            listed["items"][0].get("key").is_none(),
            "a listed key never carries the key"
        );
        emu.mutate(|s| s.clusters[0].allowed_ip_source_ranges.clear());
        let (_, got) = call(&base, KEY, reqwest::Method::GET, &cluster_path(), None).await;
        assert!(
            got["cluster"]["configuration"]
                .get("allowedIpSourceRanges")
                .is_none(),
            "empty lists are left out"
        );
        let list = format!("/api/cluster/v1/accounts/{ACCOUNT}/clusters?pageSize=1");
        let (_, page) = call(&base, KEY, reqwest::Method::GET, &list, None).await;
        assert_eq!(page["totalSize"], 1);
        assert!(page.get("nextPageToken").is_none());
        let resp = reqwest::Client::new()
            .get(format!("{base}{}", cluster_path()))
            .header("authorization", "Bearer mgmt-key-secret")
            .send()
            .await
            .expect("answer");
        assert_eq!(
            resp.status().as_u16(),
            401,
            "the scheme is apikey, not Bearer"
        );
        let (status, answer) = call(
            &base,
            "wrong-secret",
            reqwest::Method::GET,
            &cluster_path(),
            None,
        )
        .await;
        assert_eq!((status, answer["code"].as_u64()), (401, Some(16)));
        assert!(!answer.to_string().contains("wrong-secret"));
        let other = "11111111-1111-4111-8111-111111111111";
        let (status, _) = call(
            &base,
            KEY,
            reqwest::Method::GET,
            &format!("/api/cluster/v1/accounts/{other}/clusters"),
            None,
        )
        .await;
        assert_eq!(status, 403, "a key of another account");
        let (status, answer) = call(
            &base,
            KEY,
            reqwest::Method::GET,
            &format!("/api/cluster/v1/accounts/{ACCOUNT}/clusters/{other}"),
            None,
        )
        .await;
        assert_eq!((status, answer["code"].as_u64()), (404, Some(5)));
    }
}
