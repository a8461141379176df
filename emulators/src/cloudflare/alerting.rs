//! Notification policies (Alerting v3, account scope).

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::validate::{self, CODE_POLICY_INVALID, CODE_POLICY_NOT_FOUND};
use super::{
    AlertingPolicy, ApiError, ApiResult, Ctx, Paging, QueryParams, json_body, query_params,
};
use crate::server::now_rfc3339;

fn policy_json(policy: &AlertingPolicy) -> Value {
    let mut value = json!({
        "id": policy.id,
        "name": policy.name,
        "description": policy.description.as_deref().unwrap_or(""),
        "alert_type": policy.alert_type,
        "enabled": policy.enabled,
        "mechanisms": policy.mechanisms,
        "filters": policy.filters,
        "created": policy.created,
        "modified": policy.modified,
    });
    if let Some(interval) = &policy.alert_interval {
        value["alert_interval"] = json!(interval);
    }
    value
}

fn not_found(policy_id: &str) -> ApiError {
    ApiError::not_found(
        CODE_POLICY_NOT_FOUND,
        format!("no notification policy with id {policy_id}"),
    )
}

/// Parses a full policy body (create and replace both need every required field).
fn parse(body: &Bytes) -> Result<AlertingPolicy, ApiError> {
    let mut body = json_body(body)?;
    validate::alerting_policy(&body)?;
    if let Some(obj) = body.as_object_mut() {
        // Read-only fields: the server owns them.
        for key in ["id", "created", "modified"] {
            obj.remove(key);
        }
        // Explicit nulls mean "unset", which serde would reject for maps.
        obj.retain(|_, v| !v.is_null());
    }
    serde_json::from_value(body)
        .map_err(|err| ApiError::bad_request(CODE_POLICY_INVALID, format!("invalid policy: {err}")))
}

pub(crate) async fn list(
    State(shared): Ctx,
    Path(account_id): Path<String>,
    query: QueryParams,
) -> ApiResult {
    let query = query_params(query)?;
    let paging = Paging::from_query(&query, 25, 1, 1000)?;
    let store = shared.store();
    let account = store.account(&account_id)?;
    let items = account.alerting_policies.iter().map(policy_json).collect();
    let (page, info) = paging.apply(items);
    Ok(super::success_paged(page, info))
}

/// Answers only `{id}`, like the real API: clients re-read to compare.
pub(crate) async fn create(
    State(shared): Ctx,
    Path(account_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let mut guard = shared.store();
    let store = &mut *guard;
    store.account(&account_id)?;
    let mut policy = parse(&body)?;
    let id = store.ids.uuid();
    let now = now_rfc3339();
    policy.id = Some(id.clone());
    policy.created = Some(now.clone());
    policy.modified = Some(now);
    store
        .account_mut(&account_id)?
        .alerting_policies
        .push(policy);
    Ok(super::success(json!({ "id": id })))
}

pub(crate) async fn get_one(
    State(shared): Ctx,
    Path((account_id, policy_id)): Path<(String, String)>,
) -> ApiResult {
    let store = shared.store();
    let policy = store
        .account(&account_id)?
        .alerting_policies
        .iter()
        .find(|p| p.id.as_deref() == Some(policy_id.as_str()))
        .ok_or_else(|| not_found(&policy_id))?;
    Ok(super::success(policy_json(policy)))
}

/// Replaces the policy, keeping its id and creation time. Answers only `{id}`.
pub(crate) async fn replace(
    State(shared): Ctx,
    Path((account_id, policy_id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let mut store = shared.store();
    let account = store.account_mut(&account_id)?;
    let mut replacement = parse(&body)?;
    let current = account
        .alerting_policies
        .iter_mut()
        .find(|p| p.id.as_deref() == Some(policy_id.as_str()))
        .ok_or_else(|| not_found(&policy_id))?;
    replacement.id = current.id.clone();
    replacement.created = current.created.clone();
    replacement.modified = Some(now_rfc3339());
    *current = replacement;
    Ok(super::success(json!({ "id": policy_id })))
}

pub(crate) async fn delete(
    State(shared): Ctx,
    Path((account_id, policy_id)): Path<(String, String)>,
) -> ApiResult {
    let mut store = shared.store();
    let account = store.account_mut(&account_id)?;
    let index = account
        .alerting_policies
        .iter()
        .position(|p| p.id.as_deref() == Some(policy_id.as_str()))
        .ok_or_else(|| not_found(&policy_id))?;
    account.alerting_policies.remove(index);
    // The spec's delete answer is a bare envelope; there is nothing left to return.
    Ok(super::success(Value::Null))
}

/// `GET …/alerting/v3/destinations/webhooks`: every destination of the account, in one page
/// (the spec documents no paging for it).
pub(crate) async fn list_webhooks(State(shared): Ctx, Path(account_id): Path<String>) -> ApiResult {
    let store = shared.store();
    let account = store.account(&account_id)?;
    let items: Vec<Value> = account
        .webhooks
        .iter()
        .map(|w| {
            let mut v = json!({
                "id": w.id, "name": w.name, "type": w.kind, "url": w.url,
                "created_at": w.created_at.clone().unwrap_or_else(now_rfc3339),
            });
            for (key, at) in [
                ("last_success", &w.last_success),
                ("last_failure", &w.last_failure),
            ] {
                if let Some(at) = at {
                    v[key] = json!(at);
                }
            }
            v
        })
        .collect();
    Ok(super::success(Value::Array(items)))
}
