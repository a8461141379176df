//! Token verification, zones and accounts: what a client reads to check reachability and to
//! resolve a zone name to its id.

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};

use super::validate::{CODE_AUTH, CODE_BAD_QUERY};
use super::{ApiError, ApiResult, Ctx, Paging, QueryParams, Store, Zone, query_params};
use crate::server::json_response;

pub(crate) async fn verify_token(
    axum::extract::State(shared): Ctx,
    headers: HeaderMap,
) -> ApiResult {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.get(7..))
        .map(str::trim)
        .unwrap_or_default();
    let store = shared.store();
    // The auth middleware already admitted the token; the id is positional so it never
    // derives from the secret.
    let index = store
        .seed
        .tokens
        .iter()
        .position(|t| t == presented)
        .ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, CODE_AUTH, "Authentication error")
        })?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "success": true,
            "errors": [],
            "messages": [{"code": 10000, "message": "This API Token is valid and active", "type": null}],
            "result": {"id": format!("{:032x}", index + 1), "status": "active"},
        }),
    ))
}

pub(crate) fn zone_json(store: &Store, zone: &Zone) -> Value {
    let account_name = store
        .account(&zone.account_id)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    json!({
        "id": zone.id,
        "name": zone.name,
        "status": "active",
        "paused": false,
        "type": "full",
        "development_mode": 0,
        "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
        "original_name_servers": null,
        "original_registrar": null,
        "original_dnshost": null,
        "vanity_name_servers": [],
        "created_on": store.created_on,
        "modified_on": store.created_on,
        "activated_on": store.created_on,
        "owner": {"id": zone.account_id, "name": account_name, "type": "organization"},
        "account": {"id": zone.account_id, "name": account_name},
        "meta": {
            "step": 2,
            "custom_certificate_quota": 0,
            "page_rule_quota": 3,
            "phishing_detected": false,
            "cdn_only": false,
            "dns_only": false,
            "foundation_dns": false
        },
    })
}

pub(crate) async fn list_zones(axum::extract::State(shared): Ctx, query: QueryParams) -> ApiResult {
    let query = query_params(query)?;
    let paging = Paging::from_query(&query, 20, 5, 50)?;
    let any = match query.get("match").map(String::as_str) {
        None | Some("all") => false,
        Some("any") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                CODE_BAD_QUERY,
                format!("match must be any or all, got {other:?}"),
            ));
        }
    };
    let store = shared.store();
    let filters: Vec<(&str, &String)> = ["name", "status", "account.id", "account.name"]
        .into_iter()
        .filter_map(|key| query.get(key).map(|v| (key, v)))
        .collect();
    let zones: Vec<Value> = store
        .seed
        .zones
        .iter()
        .filter(|zone| {
            let account_name = store
                .account(&zone.account_id)
                .map(|a| a.name.as_str())
                .unwrap_or_default();
            let hit = |(key, wanted): &(&str, &String)| match *key {
                "name" => zone.name == **wanted,
                "status" => *wanted == "active",
                "account.id" => zone.account_id == **wanted,
                _ => account_name == wanted.as_str(),
            };
            filters.is_empty()
                || if any {
                    filters.iter().any(hit)
                } else {
                    filters.iter().all(hit)
                }
        })
        .map(|zone| zone_json(&store, zone))
        .collect();
    let (page, info) = paging.apply(zones);
    Ok(super::success_paged(page, info))
}

pub(crate) async fn get_zone(
    axum::extract::State(shared): Ctx,
    Path(zone_id): Path<String>,
) -> ApiResult {
    let store = shared.store();
    let zone = store.zone(&zone_id)?;
    Ok(super::success(zone_json(&store, zone)))
}

pub(crate) async fn get_account(
    axum::extract::State(shared): Ctx,
    Path(account_id): Path<String>,
) -> ApiResult {
    let store = shared.store();
    let account = store.account(&account_id)?;
    Ok(super::success(json!({
        "id": account.id,
        "name": account.name,
        "type": "standard",
        "settings": {"enforce_twofactor": false},
        "created_on": store.created_on,
    })))
}
