//! Zone settings (`security_level`, `ssl`, `min_tls_version`, ...).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::validate::{self, CODE_SETTING_INVALID, CODE_SETTING_UNKNOWN, Problem};
use super::{ApiError, ApiResult, Ctx, Store, json_body, json_object};
use crate::server::now_rfc3339;

fn setting_json(store: &Store, zone_id: &str, id: &str, value: &Value) -> Value {
    let modified = store
        .settings_modified
        .get(&(zone_id.to_owned(), id.to_owned()))
        .cloned();
    json!({"id": id, "value": value, "editable": true, "modified_on": modified})
}

/// Checks one `{id, value}` change against the zone's settings.
fn check(store: &Store, zone_id: &str, id: &str, value: &Value) -> Result<(), Problem> {
    let zone = store
        .zone(zone_id)
        .map_err(|_| Problem::new(CODE_SETTING_UNKNOWN, "zone vanished"))?;
    match validate::setting(id, value) {
        Some(Ok(())) => Ok(()),
        Some(Err(message)) => Err(Problem::new(CODE_SETTING_INVALID, message)),
        // Settings the emulator does not model are only editable if the seed declared them.
        None if zone.settings.contains_key(id) => Ok(()),
        None => Err(Problem::new(
            CODE_SETTING_UNKNOWN,
            format!("Unrecognized zone setting name: {id}"),
        )),
    }
}

fn apply(store: &mut Store, zone_id: &str, id: &str, value: Value) -> Result<(), ApiError> {
    let zone = store.zone_mut(zone_id)?;
    zone.settings.insert(id.to_owned(), value);
    store
        .settings_modified
        .insert((zone_id.to_owned(), id.to_owned()), now_rfc3339());
    Ok(())
}

pub(crate) async fn list(State(shared): Ctx, Path(zone_id): Path<String>) -> ApiResult {
    let store = shared.store();
    let zone = store.zone(&zone_id)?;
    let items: Vec<Value> = zone
        .settings
        .iter()
        .map(|(id, value)| setting_json(&store, &zone_id, id, value))
        .collect();
    Ok(super::success(Value::Array(items)))
}

pub(crate) async fn get_one(
    State(shared): Ctx,
    Path((zone_id, setting_id)): Path<(String, String)>,
) -> ApiResult {
    let store = shared.store();
    let zone = store.zone(&zone_id)?;
    let value = zone
        .settings
        .get(&setting_id)
        .ok_or_else(|| unknown(&setting_id))?;
    Ok(super::success(setting_json(
        &store,
        &zone_id,
        &setting_id,
        value,
    )))
}

fn unknown(id: &str) -> ApiError {
    ApiError::not_found(
        CODE_SETTING_UNKNOWN,
        format!("Unrecognized zone setting name: {id}"),
    )
}

pub(crate) async fn patch_one(
    State(shared): Ctx,
    Path((zone_id, setting_id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let mut body = json_object(&body)?;
    let mut store = shared.store();
    store.zone(&zone_id)?;
    let Some(value) = body.remove("value") else {
        return Err(ApiError::bad_request(
            CODE_SETTING_INVALID,
            "Request body must be {\"value\": ...}",
        ));
    };
    if let Err(problem) = check(&store, &zone_id, &setting_id, &value) {
        return Err(if problem.code == CODE_SETTING_UNKNOWN {
            unknown(&setting_id)
        } else {
            problem.into()
        });
    }
    apply(&mut store, &zone_id, &setting_id, value.clone())?;
    Ok(super::success(setting_json(
        &store,
        &zone_id,
        &setting_id,
        &value,
    )))
}

/// Edits several settings at once, all or nothing. The body is `{"items": [{id, value}]}` as
/// Cloudflare documents it; the bare array of the 2024 spec is accepted too.
pub(crate) async fn patch_many(
    State(shared): Ctx,
    Path(zone_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = json_body(&body)?;
    let items = match &body {
        Value::Array(items) => items,
        Value::Object(obj) => match obj.get("items") {
            Some(Value::Array(items)) => items,
            _ => return Err(items_error()),
        },
        _ => return Err(items_error()),
    };
    let mut store = shared.store();
    store.zone(&zone_id)?;
    let mut changes = Vec::new();
    let mut problems = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let id = item.get("id").and_then(Value::as_str);
        let value = item.get("value");
        let (Some(id), Some(value)) = (id, value) else {
            problems.push(Problem {
                code: CODE_SETTING_INVALID,
                message: format!("items[{index}] must be an object with id and value"),
                pointer: Some(format!("/items/{index}")),
            });
            continue;
        };
        match check(&store, &zone_id, id, value) {
            Ok(()) => changes.push((id.to_owned(), value.clone())),
            Err(mut problem) => {
                problem.pointer = Some(format!("/items/{index}"));
                problems.push(problem);
            }
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    for (id, value) in &changes {
        apply(&mut store, &zone_id, id, value.clone())?;
    }
    let result: Vec<Value> = changes
        .iter()
        .map(|(id, value)| setting_json(&store, &zone_id, id, value))
        .collect();
    Ok(super::success(Value::Array(result)))
}

fn items_error() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        CODE_SETTING_INVALID,
        "Request body must be {\"items\": [{\"id\": ..., \"value\": ...}]}",
    )
}
