//! Zone IP Access rules.

use std::cmp::Ordering;

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::validate::{
    self, ACCESS_MODES, CODE_ACCESS_RULE_DUPLICATE, CODE_ACCESS_RULE_NOT_FOUND, CODE_BAD_QUERY,
};
use super::{
    AccessRule, AccessRuleConfiguration, ApiError, ApiResult, Ctx, Paging, QueryParams, Zone,
    json_body, json_object, query_params,
};
use crate::server::now_rfc3339;

fn rule_json(zone: &Zone, rule: &AccessRule) -> Value {
    json!({
        "id": rule.id,
        "paused": false,
        "mode": rule.mode,
        "allowed_modes": ACCESS_MODES,
        "configuration": {"target": rule.configuration.target, "value": rule.configuration.value},
        "notes": rule.notes,
        "created_on": rule.created_on,
        "modified_on": rule.modified_on,
        "scope": {"id": zone.id, "name": zone.name, "type": "zone"},
    })
}

fn not_found(rule_id: &str) -> ApiError {
    ApiError::not_found(
        CODE_ACCESS_RULE_NOT_FOUND,
        format!("firewallaccessrules.api.not_found: no access rule with id {rule_id}"),
    )
}

fn one_of<'a>(
    query: &'a std::collections::HashMap<String, String>,
    key: &str,
    allowed: &[&str],
) -> Result<Option<&'a str>, ApiError> {
    match query.get(key) {
        None => Ok(None),
        Some(v) if allowed.contains(&v.as_str()) => Ok(Some(v.as_str())),
        Some(v) => Err(ApiError::bad_request(
            CODE_BAD_QUERY,
            format!("{key} must be one of {}, got {v:?}", allowed.join(", ")),
        )),
    }
}

/// Lists with real pagination and the documented filters (`mode`, `configuration.target`,
/// `configuration.value`, `notes`, `match`) and ordering (`order`, `direction`).
pub(crate) async fn list(
    State(shared): Ctx,
    Path(zone_id): Path<String>,
    query: QueryParams,
) -> ApiResult {
    let query = query_params(query)?;
    let paging = Paging::from_query(&query, 20, 1, 1000)?;
    let mode = one_of(&query, "mode", ACCESS_MODES)?;
    let target = one_of(
        &query,
        "configuration.target",
        &["ip", "ip6", "ip_range", "asn", "country"],
    )?;
    let any = one_of(&query, "match", &["any", "all"])? == Some("any");
    let order = one_of(
        &query,
        "order",
        &["configuration.target", "configuration.value", "mode"],
    )?;
    let descending = one_of(&query, "direction", &["asc", "desc"])? == Some("desc");
    let value = query.get("configuration.value");
    let notes = query.get("notes").map(|n| n.to_lowercase());

    let store = shared.store();
    let zone = store.zone(&zone_id)?;
    let mut rules: Vec<&AccessRule> = zone
        .access_rules
        .iter()
        .filter(|rule| {
            let checks = [
                mode.map(|m| rule.mode == m),
                target.map(|t| rule.configuration.target == t),
                value.map(|v| rule.configuration.value == *v),
                notes
                    .as_ref()
                    .map(|n| rule.notes.to_lowercase().contains(n.as_str())),
            ];
            let mut active = checks.iter().flatten().peekable();
            if active.peek().is_none() {
                return true;
            }
            if any {
                active.any(|hit| *hit)
            } else {
                active.all(|hit| *hit)
            }
        })
        .collect();
    if let Some(order) = order {
        let key = |r: &AccessRule| -> String {
            match order {
                "configuration.target" => r.configuration.target.clone(),
                "configuration.value" => r.configuration.value.clone(),
                _ => r.mode.clone(),
            }
        };
        rules.sort_by(|a, b| {
            let ordering: Ordering = key(a).cmp(&key(b));
            if descending {
                ordering.reverse()
            } else {
                ordering
            }
        });
    }
    let items = rules.into_iter().map(|r| rule_json(zone, r)).collect();
    let (page, info) = paging.apply(items);
    Ok(super::success_paged(page, info))
}

pub(crate) async fn create(
    State(shared): Ctx,
    Path(zone_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = json_body(&body)?;
    let mut guard = shared.store();
    let store = &mut *guard;
    store.zone(&zone_id)?;
    validate::access_rule(&body)?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let configuration = AccessRuleConfiguration {
        target: text(body.pointer("/configuration/target")),
        value: text(body.pointer("/configuration/value")),
    };
    let zone = store.zone(&zone_id)?;
    if zone
        .access_rules
        .iter()
        .any(|r| r.configuration == configuration)
    {
        return Err(ApiError::bad_request(
            CODE_ACCESS_RULE_DUPLICATE,
            format!(
                "firewallaccessrules.api.duplicate_of_existing: an access rule for {} {} already exists",
                configuration.target, configuration.value
            ),
        ));
    }
    let now = now_rfc3339();
    let rule = AccessRule {
        id: Some(store.ids.hex32()),
        mode: text(body.get("mode")),
        configuration,
        notes: text(body.get("notes")),
        created_on: Some(now.clone()),
        modified_on: Some(now),
    };
    let zone = store.zone_mut(&zone_id)?;
    let result = rule_json(zone, &rule);
    zone.access_rules.push(rule);
    Ok(super::success(result))
}

/// Only `mode` and `notes` can change; the target is the rule's identity.
pub(crate) async fn update(
    State(shared): Ctx,
    Path((zone_id, rule_id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body = json_object(&body)?;
    let mut store = shared.store();
    let zone = store.zone_mut(&zone_id)?;
    validate::access_rule_patch(&body)?;
    let index = zone
        .access_rules
        .iter()
        .position(|r| r.id.as_deref() == Some(rule_id.as_str()))
        .ok_or_else(|| not_found(&rule_id))?;
    let rule = &mut zone.access_rules[index];
    if let Some(mode) = body.get("mode").and_then(Value::as_str) {
        rule.mode = mode.to_owned();
    }
    match body.get("notes") {
        Some(Value::String(notes)) => rule.notes = notes.clone(),
        Some(Value::Null) => rule.notes.clear(),
        _ => {}
    }
    rule.modified_on = Some(now_rfc3339());
    let rule = rule.clone();
    Ok(super::success(rule_json(zone, &rule)))
}

pub(crate) async fn delete(
    State(shared): Ctx,
    Path((zone_id, rule_id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    // The optional body only carries `cascade`, which matters for multi-zone owners; a zone
    // emulator has nothing to cascade to, but a malformed body is still an error.
    if !body.iter().all(u8::is_ascii_whitespace) {
        let body = json_body(&body)?;
        if !matches!(
            body.get("cascade").map(|c| c.as_str()),
            None | Some(Some("none" | "basic" | "aggressive"))
        ) {
            return Err(ApiError::bad_request(
                validate::CODE_ACCESS_RULE_INVALID,
                "cascade must be none, basic or aggressive",
            ));
        }
    }
    let mut store = shared.store();
    let zone = store.zone_mut(&zone_id)?;
    let index = zone
        .access_rules
        .iter()
        .position(|r| r.id.as_deref() == Some(rule_id.as_str()))
        .ok_or_else(|| not_found(&rule_id))?;
    zone.access_rules.remove(index);
    Ok(super::success(json!({ "id": rule_id })))
}
