//! The account audit log: `GET /accounts/{account_id}/audit_logs`, and the entries the API's
//! own writes leave in it.
//!
//! Every successful write through the API adds one entry, with the tokens' owner
//! ([`super::Seed::token_owner`]) as the actor and `interface: API`:
//!
//! | Write | `action.type` | `resource` | `metadata` |
//! |---|---|---|---|
//! | `PATCH /zones/{z}/settings/{s}` | `change_setting` | `zone`, the zone id | `zone_name`, `name` (the setting), `value` |
//! | `PATCH /zones/{z}/settings` | `change_setting` | `zone`, the zone id | `zone_name` |
//! | `PUT /zones/{z}/rulesets/phases/{p}/entrypoint` | `update` | `ruleset`, the ruleset id | `zone_name`, `phase` |
//! | `POST`, `PATCH`, `DELETE` access rules | `rule_add`, `rule_update`, `rule_delete` | `firewall.access_rule`, the rule id | `zone_name` |
//! | notification policies | `add`, `update`, `delete` | `alerting.policy`, the policy id | |
//! | Logpush jobs | `add`, `update`, `delete` | `logpush.job`, the job id | `zone_name` (zone jobs) |
//!
//! The `change_setting` shape (`metadata.name`, `value`, `zone_name`) is the spec's own
//! example; the other action and resource type words are the emulator's choice (the spec
//! leaves them free text), so the client matches rulesets by the ruleset's id and never by
//! these words alone.

use axum::extract::{Path, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use jiff::Timestamp;
use serde_json::{Map, Value};

use super::seed::{AuditAction, AuditLog, AuditOwner, AuditResource};
use super::validate::CODE_BAD_QUERY;
use super::{ApiError, ApiResult, Ctx, Paging, QueryParams, Shared, Store, query_params};

/// The API's filters (`since`, `before`, `zone.name`, `actor.email`, `action.type`, `id`),
/// `direction` (`desc` by default) and paging (`per_page` up to 1000, default 100).
pub(crate) async fn list(
    State(shared): Ctx,
    Path(account_id): Path<String>,
    query: QueryParams,
) -> ApiResult {
    let query = query_params(query)?;
    let paging = Paging::from_query(&query, 100, 1, 1000)?;
    let instant = |key: &str| -> Result<Option<Timestamp>, ApiError> {
        query
            .get(key)
            .map(|raw| parse_instant(key, raw))
            .transpose()
    };
    let (since, before) = (instant("since")?, instant("before")?);
    let ascending = match query.get("direction").map(String::as_str) {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                CODE_BAD_QUERY,
                format!("direction must be asc or desc, got {other:?}"),
            ));
        }
    };
    let store = shared.store();
    let account = store.account(&account_id)?;
    let text = |key: &str| query.get(key).map(String::as_str);
    let mut entries: Vec<(Timestamp, &AuditLog)> = account
        .audit_logs
        .iter()
        .filter_map(|e| e.when.parse::<Timestamp>().ok().map(|t| (t, e)))
        .filter(|(t, e)| {
            since.is_none_or(|s| *t >= s)
                && before.is_none_or(|b| *t < b)
                && text("zone.name")
                    .is_none_or(|z| e.metadata.get("zone_name").and_then(Value::as_str) == Some(z))
                && text("actor.email").is_none_or(|m| e.actor.email == m)
                && text("action.type").is_none_or(|a| e.action.kind == a)
                && text("id").is_none_or(|id| e.id == id)
        })
        .collect();
    entries.sort_by_key(|(t, _)| *t);
    if !ascending {
        entries.reverse();
    }
    let items = entries
        .into_iter()
        .map(|(_, e)| serde_json::to_value(e).unwrap_or(Value::Null))
        .collect();
    let (page, info) = paging.apply(items);
    Ok(super::success_paged(page, info))
}

/// `2019-04-30` or an RFC 3339 instant, as the spec allows.
fn parse_instant(key: &str, raw: &str) -> Result<Timestamp, ApiError> {
    let bad = || {
        ApiError::bad_request(
            CODE_BAD_QUERY,
            format!("{key} must be a date or an RFC 3339 timestamp, got {raw:?}"),
        )
    };
    if let Ok(t) = raw.parse::<Timestamp>() {
        return Ok(t);
    }
    let date: jiff::civil::Date = raw.parse().map_err(|_| bad())?;
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .map_err(|_| bad())
}

/// Records an audit entry for each successful write that passes through (see the module's
/// table). Reads and failed writes leave none.
pub(crate) async fn record_writes(State(shared): Ctx, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    if method != Method::GET && response.status().is_success() {
        record(&shared, &method, &path);
    }
    response
}

fn record(shared: &Shared, method: &Method, path: &str) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let verb = |add: &str, update: &str, delete: &str| match *method {
        Method::POST => add.to_string(),
        Method::DELETE => delete.to_string(),
        _ => update.to_string(),
    };
    let mut store = shared.store();
    let entry = match segments.as_slice() {
        ["zones", zone, "settings", setting] => {
            let value = store
                .zone(zone)
                .ok()
                .and_then(|z| z.settings.get(*setting).cloned())
                .unwrap_or(Value::Null);
            let mut metadata = zone_metadata(&store, zone);
            metadata.insert("name".into(), Value::from(*setting));
            metadata.insert("value".into(), value.clone());
            Some((
                *zone,
                "change_setting".to_string(),
                "zone",
                zone.to_string(),
                metadata,
                value_text(&value),
            ))
        }
        ["zones", zone, "settings"] => Some((
            *zone,
            "change_setting".to_string(),
            "zone",
            zone.to_string(),
            zone_metadata(&store, zone),
            String::new(),
        )),
        ["zones", zone, "rulesets", "phases", phase, "entrypoint"] => {
            let id = store
                .zone(zone)
                .ok()
                .and_then(|z| z.rulesets.get(*phase))
                .and_then(|r| r.id.clone())
                .unwrap_or_default();
            let mut metadata = zone_metadata(&store, zone);
            metadata.insert("phase".into(), Value::from(*phase));
            Some((
                *zone,
                "update".to_string(),
                "ruleset",
                id,
                metadata,
                String::new(),
            ))
        }
        [
            "zones",
            zone,
            "firewall",
            "access_rules",
            "rules",
            rest @ ..,
        ] => Some((
            *zone,
            verb("rule_add", "rule_update", "rule_delete"),
            "firewall.access_rule",
            rest.first().copied().unwrap_or_default().to_string(),
            zone_metadata(&store, zone),
            String::new(),
        )),
        ["zones", zone, "logpush", "jobs", rest @ ..] => Some((
            *zone,
            verb("add", "update", "delete"),
            "logpush.job",
            rest.first().copied().unwrap_or_default().to_string(),
            zone_metadata(&store, zone),
            String::new(),
        )),
        _ => None,
    };
    let account_entry = match segments.as_slice() {
        ["accounts", account, "alerting", "v3", "policies", rest @ ..] => Some((
            account.to_string(),
            verb("add", "update", "delete"),
            "alerting.policy",
            rest.first().copied().unwrap_or_default().to_string(),
            Map::new(),
        )),
        ["accounts", account, "logpush", "jobs", rest @ ..] => Some((
            account.to_string(),
            verb("add", "update", "delete"),
            "logpush.job",
            rest.first().copied().unwrap_or_default().to_string(),
            Map::new(),
        )),
        _ => None,
    };
    let (account, action, resource_type, resource_id, metadata, new_value) = match entry {
        Some((zone, action, kind, id, metadata, new_value)) => {
            let Ok(z) = store.zone(zone) else { return };
            (z.account_id.clone(), action, kind, id, metadata, new_value)
        }
        None => match account_entry {
            Some((account, action, kind, id, metadata)) => {
                (account, action, kind, id, metadata, String::new())
            }
            None => return,
        },
    };
    let id = store.ids.uuid();
    let actor = store.seed.token_owner.clone();
    let log = AuditLog {
        id,
        action: AuditAction {
            result: true,
            kind: action,
        },
        owner: AuditOwner {
            id: actor.id.clone(),
        },
        actor,
        interface: "API".into(),
        metadata,
        new_value,
        old_value: String::new(),
        resource: AuditResource {
            id: resource_id,
            kind: resource_type.into(),
        },
        when: second(Timestamp::now()),
    };
    if let Ok(a) = store.account_mut(&account) {
        a.audit_logs.push(log);
    }
}

fn zone_metadata(store: &Store, zone: &str) -> Map<String, Value> {
    let mut m = Map::new();
    if let Ok(z) = store.zone(zone) {
        m.insert("zone_name".into(), Value::from(z.name.clone()));
    }
    m
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An entry for a change made in the dashboard (`interface: UI`) by `email`, `seconds_ago`
/// seconds ago: what tests and the demo add next to their direct edits.
pub fn dashboard_change(
    email: &str,
    action: &str,
    resource: (&str, &str),
    metadata: Value,
    seconds_ago: i64,
) -> AuditLog {
    let when = Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_secs(seconds_ago))
        .unwrap_or_else(|_| Timestamp::now());
    AuditLog {
        id: String::new(),
        action: AuditAction {
            result: true,
            kind: action.into(),
        },
        actor: super::seed::AuditActor {
            email: email.into(),
            id: String::new(),
            ip: "192.0.2.10".into(),
            kind: "user".into(),
        },
        interface: "UI".into(),
        metadata: match metadata {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        new_value: String::new(),
        old_value: String::new(),
        owner: AuditOwner::default(),
        resource: AuditResource {
            id: resource.1.into(),
            kind: resource.0.into(),
        },
        when: second(when),
    }
}

/// Whole seconds, as the spec's examples stamp entries.
fn second(t: Timestamp) -> String {
    t.round(jiff::Unit::Second).unwrap_or(t).to_string()
}
