//! WAFv2 (awsJson1.1): web ACLs and IP sets, with lock tokens. A write carrying a token that is
//! not the current one fails with `WAFOptimisticLockException`, as on AWS.

use serde_json::{Value, json};

use super::seed::{IpSet, WebAcl};
use super::{Failure, Store, page};

fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(400, "WAFInvalidParameterException", message)
}

fn nonexistent() -> Failure {
    Failure::new(
        400,
        "WAFNonexistentItemException",
        "AWS WAF couldn’t perform the operation because your resource doesn’t exist.",
    )
}

fn stale() -> Failure {
    Failure::new(
        400,
        "WAFOptimisticLockException",
        "AWS WAF couldn’t save your changes because you tried to update or delete a resource that has changed since you last retrieved it. Get the resource again, make any changes you need to make to the new copy, and retry your operation.",
    )
}

fn text<'a>(input: &'a Value, key: &str) -> Result<&'a str, Failure> {
    input
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(format!("{key} is required")))
}

fn scope(input: &Value) -> Result<&str, Failure> {
    match text(input, "Scope")? {
        s @ ("REGIONAL" | "CLOUDFRONT") => Ok(s),
        other => Err(invalid(format!("Scope {other} is not valid"))),
    }
}

fn arn(store: &Store, scope: &str, kind: &str, name: &str, id: &str) -> String {
    let (region, path) = if scope == "CLOUDFRONT" {
        ("us-east-1", "global")
    } else {
        (store.seed.region.as_str(), "regional")
    };
    format!(
        "arn:aws:wafv2:{region}:{}:{path}/{kind}/{name}/{id}",
        store.seed.account_id
    )
}

fn listed<T: Clone>(
    store: &Store,
    input: &Value,
    items: &[T],
) -> Result<(Vec<T>, Option<String>), Failure> {
    let limit = input
        .get("Limit")
        .and_then(Value::as_u64)
        .map(|n| n as usize);
    if limit.is_some_and(|n| !(1..=100).contains(&n)) {
        return Err(invalid("Limit must be between 1 and 100"));
    }
    page(
        items,
        input.get("NextMarker").and_then(Value::as_str),
        limit,
        store.seed.page_size,
    )
    .map_err(|()| invalid("NextMarker is not valid"))
}

pub(crate) fn handle(store: &mut Store, operation: &str, input: &Value) -> Result<Value, Failure> {
    match operation {
        "ListWebACLs" => {
            let scope = scope(input)?;
            let acls: Vec<Value> = store
                .seed
                .web_acls
                .iter()
                .filter(|a| a.scope == scope)
                .map(|a| {
                    json!({"Name": a.name, "Id": a.id, "LockToken": a.lock_token,
                        "Description": "", "ARN": arn(store, &a.scope, "webacl", &a.name, &a.id)})
                })
                .collect();
            let (items, next) = listed(store, input, &acls)?;
            Ok(with_marker(json!({"WebACLs": items}), next))
        }
        "GetWebACL" => {
            let acl = find_acl(store, input)?;
            Ok(json!({"WebACL": web_acl_json(store, acl), "LockToken": acl.lock_token}))
        }
        "CreateWebACL" => {
            let scope = scope(input)?.to_string();
            let name = text(input, "Name")?.to_string();
            let (Some(default_action), Some(visibility)) =
                (input.get("DefaultAction"), input.get("VisibilityConfig"))
            else {
                return Err(invalid("DefaultAction and VisibilityConfig are required"));
            };
            if store
                .seed
                .web_acls
                .iter()
                .any(|a| a.name == name && a.scope == scope)
            {
                return Err(Failure::new(
                    400,
                    "WAFDuplicateItemException",
                    "AWS WAF couldn’t perform the operation because some resource in your request is a duplicate of an existing one.",
                ));
            }
            let rules = rules(input)?;
            let (id, token) = (store.uuid(), store.uuid());
            let summary = json!({"Name": name, "Id": id, "LockToken": token,
                "Description": "", "ARN": arn(store, &scope, "webacl", &name, &id)});
            store.seed.web_acls.push(WebAcl {
                name,
                scope,
                id,
                default_action: default_action.clone(),
                rules,
                visibility_config: visibility.clone(),
                lock_token: token,
            });
            Ok(json!({"Summary": summary}))
        }
        "UpdateWebACL" => {
            let token = text(input, "LockToken")?.to_string();
            let (Some(default_action), Some(visibility)) =
                (input.get("DefaultAction"), input.get("VisibilityConfig"))
            else {
                return Err(invalid("DefaultAction and VisibilityConfig are required"));
            };
            let rules = rules(input)?;
            let next = store.uuid();
            let index = acl_index(store, input)?;
            let acl = &mut store.seed.web_acls[index];
            if acl.lock_token != token {
                return Err(stale());
            }
            acl.default_action = default_action.clone();
            acl.visibility_config = visibility.clone();
            acl.rules = rules;
            acl.lock_token = next.clone();
            Ok(json!({"NextLockToken": next}))
        }
        "ListIPSets" => {
            let scope = scope(input)?;
            let sets: Vec<Value> = store
                .seed
                .ip_sets
                .iter()
                .filter(|s| s.scope == scope)
                .map(|s| {
                    json!({"Name": s.name, "Id": s.id, "LockToken": s.lock_token,
                        "Description": "", "ARN": arn(store, &s.scope, "ipset", &s.name, &s.id)})
                })
                .collect();
            let (items, next) = listed(store, input, &sets)?;
            Ok(with_marker(json!({"IPSets": items}), next))
        }
        "GetIPSet" => {
            let index = set_index(store, input)?;
            let s = &store.seed.ip_sets[index];
            Ok(json!({
                "IPSet": {"Name": s.name, "Id": s.id, "ARN": arn(store, &s.scope, "ipset", &s.name, &s.id),
                    "Description": "", "IPAddressVersion": s.ip_address_version, "Addresses": s.addresses},
                "LockToken": s.lock_token,
            }))
        }
        "CreateIPSet" => {
            let scope = scope(input)?.to_string();
            let name = text(input, "Name")?.to_string();
            let version = text(input, "IPAddressVersion")?.to_string();
            let addresses = addresses(input)?;
            if store
                .seed
                .ip_sets
                .iter()
                .any(|s| s.name == name && s.scope == scope)
            {
                return Err(Failure::new(
                    400,
                    "WAFDuplicateItemException",
                    "AWS WAF couldn’t perform the operation because some resource in your request is a duplicate of an existing one.",
                ));
            }
            let (id, token) = (store.uuid(), store.uuid());
            let summary = json!({"Name": name, "Id": id, "LockToken": token,
                "Description": "", "ARN": arn(store, &scope, "ipset", &name, &id)});
            store.seed.ip_sets.push(IpSet {
                name,
                scope,
                id,
                ip_address_version: version,
                addresses,
                lock_token: token,
            });
            Ok(json!({"Summary": summary}))
        }
        "UpdateIPSet" => {
            let token = text(input, "LockToken")?.to_string();
            let addresses = addresses(input)?;
            let next = store.uuid();
            let index = set_index(store, input)?;
            let set = &mut store.seed.ip_sets[index];
            if set.lock_token != token {
                return Err(stale());
            }
            set.addresses = addresses;
            set.lock_token = next.clone();
            Ok(json!({"NextLockToken": next}))
        }
        "DeleteIPSet" => {
            let token = text(input, "LockToken")?.to_string();
            let index = set_index(store, input)?;
            if store.seed.ip_sets[index].lock_token != token {
                return Err(stale());
            }
            store.seed.ip_sets.remove(index);
            Ok(json!({}))
        }
        other => Err(Failure::new(
            400,
            "UnknownOperationException",
            format!("operation {other} is not emulated"),
        )),
    }
}

fn with_marker(mut out: Value, next: Option<String>) -> Value {
    if let Some(next) = next {
        out["NextMarker"] = json!(next);
    }
    out
}

fn acl_index(store: &Store, input: &Value) -> Result<usize, Failure> {
    let (scope, name, id) = (scope(input)?, text(input, "Name")?, text(input, "Id")?);
    store
        .seed
        .web_acls
        .iter()
        .position(|a| a.scope == scope && a.name == name && a.id == id)
        .ok_or_else(nonexistent)
}

fn find_acl<'a>(store: &'a Store, input: &Value) -> Result<&'a WebAcl, Failure> {
    let index = acl_index(store, input)?;
    Ok(&store.seed.web_acls[index])
}

fn set_index(store: &Store, input: &Value) -> Result<usize, Failure> {
    let (scope, name, id) = (scope(input)?, text(input, "Name")?, text(input, "Id")?);
    store
        .seed
        .ip_sets
        .iter()
        .position(|s| s.scope == scope && s.name == name && s.id == id)
        .ok_or_else(nonexistent)
}

fn web_acl_json(store: &Store, a: &WebAcl) -> Value {
    json!({
        "Name": a.name, "Id": a.id, "ARN": arn(store, &a.scope, "webacl", &a.name, &a.id),
        "DefaultAction": a.default_action, "Description": "", "Rules": a.rules,
        "VisibilityConfig": a.visibility_config, "Capacity": 50 * a.rules.len() as u64,
        "ManagedByFirewallManager": false, "LabelNamespace": format!("awswaf:{}:webacl:{}:", store.seed.account_id, a.name),
    })
}

/// Rules as sent, after the checks WAF itself makes: names unique, priorities unique.
fn rules(input: &Value) -> Result<Vec<Value>, Failure> {
    let rules = match input.get("Rules") {
        None => Vec::new(),
        Some(Value::Array(r)) => r.clone(),
        Some(_) => return Err(invalid("Rules must be a list")),
    };
    let mut names = std::collections::BTreeSet::new();
    let mut priorities = std::collections::BTreeSet::new();
    for r in &rules {
        let name = r.get("Name").and_then(Value::as_str).unwrap_or_default();
        let priority = r.get("Priority").and_then(Value::as_i64);
        if name.is_empty() || r.get("Statement").is_none() || r.get("VisibilityConfig").is_none() {
            return Err(invalid(
                "each rule needs Name, Statement and VisibilityConfig",
            ));
        }
        if !names.insert(name.to_string()) || !priorities.insert(priority) {
            return Err(Failure::new(
                400,
                "WAFDuplicateItemException",
                "rule names and priorities must be unique",
            ));
        }
    }
    Ok(rules)
}

fn addresses(input: &Value) -> Result<Vec<String>, Failure> {
    let list = input
        .get("Addresses")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("Addresses is required"))?;
    list.iter()
        .map(|a| {
            a.as_str()
                .filter(|s| s.contains('/'))
                .map(str::to_string)
                .ok_or_else(|| invalid("each address must be a CIDR block"))
        })
        .collect()
}
