//! Logpush jobs, at zone and at account scope (same handlers, different owner).

use axum::body::Bytes;
use axum::extract::Path;
use serde_json::{Map, Value, json};

use super::validate::{self, CODE_LOGPUSH_INVALID, CODE_LOGPUSH_NOT_FOUND};
use super::{ApiError, ApiResult, Ctx, LogpushJob, Store, json_object};

#[derive(Clone, Copy)]
enum Scope<'a> {
    Zone(&'a str),
    Account(&'a str),
}

fn jobs<'s>(store: &'s Store, scope: Scope<'_>) -> Result<&'s Vec<LogpushJob>, ApiError> {
    match scope {
        Scope::Zone(id) => Ok(&store.zone(id)?.logpush_jobs),
        Scope::Account(id) => Ok(&store.account(id)?.logpush_jobs),
    }
}

fn jobs_mut<'s>(
    store: &'s mut Store,
    scope: Scope<'_>,
) -> Result<&'s mut Vec<LogpushJob>, ApiError> {
    match scope {
        Scope::Zone(id) => Ok(&mut store.zone_mut(id)?.logpush_jobs),
        Scope::Account(id) => Ok(&mut store.account_mut(id)?.logpush_jobs),
    }
}

/// Every field of the spec's job object, nullable ones as `null` when unset.
fn job_json(job: &LogpushJob) -> Value {
    let mut value = json!({
        "id": job.id,
        "name": job.name,
        "dataset": job.dataset,
        "destination_conf": job.destination_conf,
        "enabled": job.enabled,
        "output_options": job.output_options,
        "logpull_options": job.logpull_options,
        "frequency": job.frequency,
        "max_upload_bytes": job.max_upload_bytes,
        "max_upload_interval_seconds": job.max_upload_interval_seconds,
        "max_upload_records": job.max_upload_records,
        "last_complete": job.last_complete,
        "last_error": job.last_error,
        "error_message": job.error_message,
    });
    // The spec's enum for kind is only "edge" (and lists no null), so unset means absent.
    if let Some(kind) = job.kind.as_deref().filter(|k| !k.is_empty()) {
        value["kind"] = json!(kind);
    }
    value
}

fn job_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::bad_request(
            CODE_LOGPUSH_INVALID,
            format!("job id must be a positive integer, got {raw:?}"),
        )
    })
}

fn not_found(id: u64) -> ApiError {
    ApiError::not_found(
        CODE_LOGPUSH_NOT_FOUND,
        format!("no Logpush job with id {id}"),
    )
}

/// Copies the writable fields present in a validated body; health fields are read-only and
/// `ownership_challenge` is write-only, so neither is taken.
fn apply(job: &mut LogpushJob, body: &Map<String, Value>) {
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let number = |key: &str| body.get(key).and_then(Value::as_u64);
    if let Some(dest) = text("destination_conf") {
        job.destination_conf = dest;
    }
    if let Some(enabled) = body.get("enabled").and_then(Value::as_bool) {
        job.enabled = enabled;
    }
    if body.contains_key("name") {
        job.name = text("name");
    }
    if body.contains_key("dataset") {
        job.dataset = text("dataset");
    }
    if body.contains_key("output_options") {
        job.output_options = body.get("output_options").filter(|v| !v.is_null()).cloned();
    }
    if body.contains_key("logpull_options") {
        job.logpull_options = text("logpull_options");
    }
    if body.contains_key("frequency") {
        job.frequency = Some(text("frequency").unwrap_or_else(|| "high".to_owned()));
    }
    if body.contains_key("kind") {
        job.kind = text("kind").filter(|k| !k.is_empty());
    }
    if body.contains_key("max_upload_bytes") {
        job.max_upload_bytes = number("max_upload_bytes");
    }
    if body.contains_key("max_upload_interval_seconds") {
        job.max_upload_interval_seconds = number("max_upload_interval_seconds");
    }
    if body.contains_key("max_upload_records") {
        job.max_upload_records = number("max_upload_records");
    }
}

fn list(shared: &Ctx, scope: Scope<'_>) -> ApiResult {
    let store = shared.store();
    let result = jobs(&store, scope)?.iter().map(job_json).collect();
    Ok(super::success(Value::Array(result)))
}

fn create(shared: &Ctx, scope: Scope<'_>, body: &Bytes) -> ApiResult {
    let body = json_object(body)?;
    let mut store = shared.store();
    jobs(&store, scope)?;
    validate::logpush_job(&Value::Object(body.clone()), true)?;
    let mut job = LogpushJob {
        id: Some(store.next_job_id),
        frequency: Some("high".to_owned()),
        ..LogpushJob::default()
    };
    apply(&mut job, &body);
    store.next_job_id += 1;
    let result = job_json(&job);
    jobs_mut(&mut store, scope)?.push(job);
    Ok(super::success(result))
}

fn get(shared: &Ctx, scope: Scope<'_>, raw_id: &str) -> ApiResult {
    let store = shared.store();
    let jobs = jobs(&store, scope)?;
    let id = job_id(raw_id)?;
    let job = jobs
        .iter()
        .find(|j| j.id == Some(id))
        .ok_or_else(|| not_found(id))?;
    Ok(super::success(job_json(job)))
}

/// Updates the fields present; the dataset of a job cannot change.
fn update(shared: &Ctx, scope: Scope<'_>, raw_id: &str, body: &Bytes) -> ApiResult {
    let body = json_object(body)?;
    let mut store = shared.store();
    let jobs = jobs_mut(&mut store, scope)?;
    let id = job_id(raw_id)?;
    let job = jobs
        .iter_mut()
        .find(|j| j.id == Some(id))
        .ok_or_else(|| not_found(id))?;
    validate::logpush_job(&Value::Object(body.clone()), false)?;
    if let Some(dataset) = body.get("dataset").and_then(Value::as_str)
        && job.dataset.as_deref() != Some(dataset)
    {
        return Err(ApiError::bad_request(
            CODE_LOGPUSH_INVALID,
            "dataset cannot be changed; create a new job instead",
        ));
    }
    apply(job, &body);
    Ok(super::success(job_json(job)))
}

fn delete(shared: &Ctx, scope: Scope<'_>, raw_id: &str) -> ApiResult {
    let mut store = shared.store();
    let jobs = jobs_mut(&mut store, scope)?;
    let id = job_id(raw_id)?;
    let index = jobs
        .iter()
        .position(|j| j.id == Some(id))
        .ok_or_else(|| not_found(id))?;
    jobs.remove(index);
    Ok(super::success(json!({ "id": id })))
}

pub(crate) async fn list_zone(shared: Ctx, Path(zone): Path<String>) -> ApiResult {
    list(&shared, Scope::Zone(&zone))
}

pub(crate) async fn create_zone(shared: Ctx, Path(zone): Path<String>, body: Bytes) -> ApiResult {
    create(&shared, Scope::Zone(&zone), &body)
}

pub(crate) async fn get_zone(shared: Ctx, Path((zone, id)): Path<(String, String)>) -> ApiResult {
    get(&shared, Scope::Zone(&zone), &id)
}

pub(crate) async fn update_zone(
    shared: Ctx,
    Path((zone, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    update(&shared, Scope::Zone(&zone), &id, &body)
}

pub(crate) async fn delete_zone(
    shared: Ctx,
    Path((zone, id)): Path<(String, String)>,
) -> ApiResult {
    delete(&shared, Scope::Zone(&zone), &id)
}

pub(crate) async fn list_account(shared: Ctx, Path(account): Path<String>) -> ApiResult {
    list(&shared, Scope::Account(&account))
}

pub(crate) async fn create_account(
    shared: Ctx,
    Path(account): Path<String>,
    body: Bytes,
) -> ApiResult {
    create(&shared, Scope::Account(&account), &body)
}

pub(crate) async fn get_account(
    shared: Ctx,
    Path((account, id)): Path<(String, String)>,
) -> ApiResult {
    get(&shared, Scope::Account(&account), &id)
}

pub(crate) async fn update_account(
    shared: Ctx,
    Path((account, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    update(&shared, Scope::Account(&account), &id, &body)
}

pub(crate) async fn delete_account(
    shared: Ctx,
    Path((account, id)): Path<(String, String)>,
) -> ApiResult {
    delete(&shared, Scope::Account(&account), &id)
}
