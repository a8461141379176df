//! Zone entry-point rulesets (WAF custom rules, rate limiting rules, managed WAF deployment).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};

use super::validate::{self, CODE_NO_ENTRYPOINT, CODE_RULESET_INVALID, MANAGED_RULESETS, PHASES};
use super::{ApiError, ApiResult, Ctx, Rule, Ruleset, json_object};
use crate::server::{IdGen, now_rfc3339};

/// Rule fields modelled explicitly; anything else a client sends is kept verbatim.
const RULE_FIELDS: &[&str] = &[
    "id",
    "ref",
    "description",
    "expression",
    "action",
    "action_parameters",
    "enabled",
    "logging",
    "ratelimit",
];

/// Read-only fields a client may echo back from a GET; they are ignored, never stored.
const READ_ONLY_RULE_FIELDS: &[&str] = &["version", "last_updated", "categories"];

pub(crate) fn rule_json(rule: &Rule) -> Value {
    let mut obj: Map<String, Value> = rule
        .extra
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    obj.insert("id".into(), json!(rule.id));
    obj.insert(
        "ref".into(),
        json!(rule.reference.as_ref().or(rule.id.as_ref())),
    );
    obj.insert(
        "version".into(),
        json!(rule.version.as_deref().unwrap_or("1")),
    );
    obj.insert("last_updated".into(), json!(rule.last_updated));
    obj.insert(
        "description".into(),
        json!(rule.description.as_deref().unwrap_or("")),
    );
    obj.insert("expression".into(), json!(rule.expression));
    obj.insert("action".into(), json!(rule.action));
    obj.insert("enabled".into(), json!(rule.enabled.unwrap_or(true)));
    for (key, value) in [
        ("action_parameters", &rule.action_parameters),
        ("logging", &rule.logging),
        ("ratelimit", &rule.ratelimit),
    ] {
        if let Some(value) = value {
            obj.insert(key.into(), value.clone());
        }
    }
    Value::Object(obj)
}

fn ruleset_json(phase: &str, ruleset: &Ruleset, with_rules: bool) -> Value {
    let mut value = json!({
        "id": ruleset.id,
        "name": ruleset.name.as_deref().unwrap_or("default"),
        "description": ruleset.description.as_deref().unwrap_or(""),
        "kind": "zone",
        "phase": phase,
        "version": ruleset.version.as_deref().unwrap_or("1"),
        "last_updated": ruleset.last_updated,
    });
    if with_rules {
        value["rules"] = Value::Array(ruleset.rules.iter().map(rule_json).collect());
    }
    value
}

fn check_phase(phase: &str) -> Result<(), ApiError> {
    if PHASES.contains(&phase) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            CODE_RULESET_INVALID,
            format!("unknown ruleset phase {phase:?}"),
        ))
    }
}

pub(crate) async fn list(State(shared): Ctx, Path(zone_id): Path<String>) -> ApiResult {
    let store = shared.store();
    let zone = store.zone(&zone_id)?;
    let mut result: Vec<Value> = zone
        .rulesets
        .iter()
        .map(|(phase, ruleset)| ruleset_json(phase, ruleset, false))
        .collect();
    // Like the real list, zones also see the managed rulesets they can deploy.
    result.extend(MANAGED_RULESETS.iter().map(|(id, name)| {
        json!({
            "id": id,
            "name": name,
            "description": "",
            "kind": "managed",
            "phase": "http_request_firewall_managed",
            "version": "1",
            "last_updated": store.created_on,
        })
    }));
    Ok(super::success(Value::Array(result)))
}

pub(crate) async fn get_entrypoint(
    State(shared): Ctx,
    Path((zone_id, phase)): Path<(String, String)>,
) -> ApiResult {
    let store = shared.store();
    let zone = store.zone(&zone_id)?;
    check_phase(&phase)?;
    let ruleset = zone.rulesets.get(&phase).ok_or_else(|| {
        ApiError::not_found(
            CODE_NO_ENTRYPOINT,
            format!("could not find entrypoint ruleset in the '{phase}' phase"),
        )
    })?;
    Ok(super::success(ruleset_json(&phase, ruleset, true)))
}

/// Replaces the whole rule list, creating the entry point if needed. Every rule is validated
/// before anything changes, so a rejected PUT leaves the ruleset untouched.
pub(crate) async fn put_entrypoint(
    State(shared): Ctx,
    Path((zone_id, phase)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body = json_object(&body)?;
    let mut guard = shared.store();
    let store = &mut *guard;
    store.zone(&zone_id)?;
    check_phase(&phase)?;
    let Some(Value::Array(rules)) = body.get("rules") else {
        return Err(ApiError::bad_request(
            CODE_RULESET_INVALID,
            "rules is required and must be a list",
        ));
    };
    for key in ["name", "description"] {
        if !matches!(body.get(key), None | Some(Value::String(_))) {
            return Err(ApiError::bad_request(
                CODE_RULESET_INVALID,
                format!("{key} must be a string"),
            ));
        }
    }
    if matches!(body.get("name"), Some(Value::String(n)) if n.is_empty()) {
        return Err(ApiError::bad_request(
            CODE_RULESET_INVALID,
            "name must not be empty",
        ));
    }
    let previous = store.zone(&zone_id)?.rulesets.get(&phase).cloned();
    let existing = previous
        .as_ref()
        .map(|r| r.rules.as_slice())
        .unwrap_or_default();
    validate::rules(&phase, rules, existing).map_err(ApiError::invalid)?;

    let now = now_rfc3339();
    let new_rules: Vec<Rule> = rules
        .iter()
        .map(|rule| build_rule(rule, existing, &mut store.ids, &now))
        .collect();
    let version = previous
        .as_ref()
        .and_then(|r| r.version.as_deref())
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(1, |v| v + 1);
    let ruleset = Ruleset {
        id: Some(
            previous
                .as_ref()
                .and_then(|r| r.id.clone())
                .unwrap_or_else(|| store.ids.hex32()),
        ),
        name: body
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| previous.as_ref().and_then(|r| r.name.clone()))
            .or_else(|| Some("default".to_owned())),
        description: body
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| previous.as_ref().and_then(|r| r.description.clone()))
            .or_else(|| Some(String::new())),
        version: Some(version.to_string()),
        last_updated: Some(now),
        rules: new_rules,
    };
    let result = ruleset_json(&phase, &ruleset, true);
    store.zone_mut(&zone_id)?.rulesets.insert(phase, ruleset);
    Ok(super::success(result))
}

/// Turns a validated rule body into a stored rule. An existing rule keeps its id; its version
/// and `last_updated` only move when its content changed, which is what lets clients (and
/// auditors) tell edited rules from untouched ones.
fn build_rule(body: &Value, existing: &[Rule], ids: &mut IdGen, now: &str) -> Rule {
    let empty = Map::new();
    let obj = body.as_object().unwrap_or(&empty);
    let text = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_owned);
    let present = |key: &str| obj.get(key).filter(|v| !v.is_null()).cloned();
    let old = text("id").and_then(|id| {
        existing
            .iter()
            .find(|r| r.id.as_deref() == Some(id.as_str()))
    });
    let id = old
        .and_then(|r| r.id.clone())
        .unwrap_or_else(|| ids.hex32());
    let extra: BTreeMap<String, Value> = obj
        .iter()
        .filter(|(k, _)| {
            !RULE_FIELDS.contains(&k.as_str()) && !READ_ONLY_RULE_FIELDS.contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut rule = Rule {
        id: Some(id.clone()),
        reference: text("ref")
            .or_else(|| old.and_then(|r| r.reference.clone()))
            .or(Some(id)),
        version: None,
        last_updated: None,
        description: Some(text("description").unwrap_or_default()),
        expression: text("expression").unwrap_or_default(),
        action: text("action").unwrap_or_default(),
        action_parameters: present("action_parameters"),
        enabled: Some(obj.get("enabled").and_then(Value::as_bool).unwrap_or(true)),
        logging: present("logging"),
        ratelimit: present("ratelimit"),
        extra,
    };
    match old {
        Some(old) if same_content(old, &rule) => {
            rule.version = old.version.clone();
            rule.last_updated = old.last_updated.clone();
        }
        Some(old) => {
            let version = old
                .version
                .as_deref()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            rule.version = Some((version + 1).to_string());
            rule.last_updated = Some(now.to_owned());
        }
        None => {
            rule.version = Some("1".to_owned());
            rule.last_updated = Some(now.to_owned());
        }
    }
    rule
}

fn same_content(a: &Rule, b: &Rule) -> bool {
    let strip = |r: &Rule| Rule {
        version: None,
        last_updated: None,
        ..r.clone()
    };
    strip(a) == strip(b)
}
