//! Request validation following the request schemas of Vercel's OpenAPI document
//! (`putFirewallConfig`, `addBypassIp`, `createDrain`, `updateDrain`): required fields, enums,
//! no unknown fields. Messages name the field, like Vercel's `bad_request` answers.

use serde_json::{Map, Value};

const CONDITION_TYPES: [&str; 23] = [
    "host",
    "path",
    "method",
    "header",
    "query",
    "cookie",
    "target_path",
    "route",
    "raw_path",
    "ip_address",
    "region",
    "protocol",
    "scheme",
    "environment",
    "user_agent",
    "geo_continent",
    "geo_country",
    "geo_country_region",
    "geo_city",
    "geo_as_number",
    "ja4_digest",
    "ja3_digest",
    "rate_limit_api_id",
];
const OPS: [&str; 14] = [
    "re", "eq", "neq", "ex", "nex", "inc", "ninc", "pre", "suf", "sub", "gt", "gte", "lt", "lte",
];
pub const CRS_IDS: [&str; 11] = [
    "sd", "ma", "lfi", "rfi", "rce", "php", "gen", "xss", "sqli", "sf", "java",
];
pub const MANAGED_IDS: [&str; 3] = ["owasp", "bot_protection", "ai_bots"];

/// Fields the API adds to a stored configuration; a PUT may not send them.
pub const READ_ONLY: [&str; 6] = [
    "ownerId",
    "projectKey",
    "id",
    "version",
    "updatedAt",
    "changes",
];

type Check = Result<(), String>;

fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{at} must be an object"))
}

fn only(m: &Map<String, Value>, allowed: &[&str], at: &str) -> Check {
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("{at}.{k} is not allowed")),
        None => Ok(()),
    }
}

fn required(m: &Map<String, Value>, fields: &[&str], at: &str) -> Check {
    match fields.iter().find(|f| !m.contains_key(**f)) {
        Some(f) => Err(format!("{at}.{f} is required")),
        None => Ok(()),
    }
}

fn one_of(m: &Map<String, Value>, key: &str, allowed: &[&str], at: &str) -> Check {
    match m.get(key) {
        None => Ok(()),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(()),
        Some(other) => Err(format!(
            "{at}.{key} must be one of {}, got {other}",
            allowed.join(", ")
        )),
    }
}

fn boolean(m: &Map<String, Value>, key: &str, at: &str) -> Check {
    match m.get(key) {
        None | Some(Value::Bool(_)) => Ok(()),
        Some(_) => Err(format!("{at}.{key} must be a boolean")),
    }
}

fn string(m: &Map<String, Value>, key: &str, max: usize, at: &str) -> Check {
    match m.get(key) {
        None => Ok(()),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(()),
        Some(Value::String(_)) => Err(format!("{at}.{key} is longer than {max} characters")),
        Some(_) => Err(format!("{at}.{key} must be a string")),
    }
}

fn array<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    max: usize,
    at: &str,
) -> Result<&'a [Value], String> {
    match m.get(key) {
        None => Ok(&[]),
        Some(Value::Array(a)) if a.len() <= max => Ok(a),
        Some(Value::Array(_)) => Err(format!("{at}.{key} has more than {max} items")),
        Some(_) => Err(format!("{at}.{key} must be an array")),
    }
}

/// A firewall configuration: the body of `PUT /v1/security/firewall/config`, or (`stored`)
/// a configuration as stored, which may also carry the read-only fields.
pub fn firewall_config(body: &Value, stored: bool) -> Check {
    let m = object(body, "body")?;
    let mut allowed = vec![
        "firewallEnabled",
        "managedRules",
        "crs",
        "rules",
        "ips",
        "botIdEnabled",
    ];
    if stored {
        allowed.extend(READ_ONLY);
    }
    only(m, &allowed, "body")?;
    required(m, &["firewallEnabled"], "body")?;
    boolean(m, "firewallEnabled", "body")?;
    boolean(m, "botIdEnabled", "body")?;
    if let Some(crs) = m.get("crs") {
        let crs = object(crs, "crs")?;
        only(crs, &CRS_IDS, "crs")?;
        for (id, rule) in crs {
            let at = format!("crs.{id}");
            let r = object(rule, &at)?;
            only(r, &["active", "action"], &at)?;
            required(r, &["active", "action"], &at)?;
            boolean(r, "active", &at)?;
            one_of(r, "action", &["deny", "log"], &at)?;
        }
    }
    if let Some(managed) = m.get("managedRules") {
        let managed = object(managed, "managedRules")?;
        only(managed, &MANAGED_IDS, "managedRules")?;
        for (id, rule) in managed {
            let at = format!("managedRules.{id}");
            let r = object(rule, &at)?;
            let mut fields = vec!["active", "action"];
            if stored {
                fields.extend(["updatedAt", "userId", "username"]);
            }
            only(r, &fields, &at)?;
            required(r, &["active"], &at)?;
            boolean(r, "active", &at)?;
            one_of(r, "action", &["deny", "log", "challenge"], &at)?;
        }
    }
    for (i, rule) in array(m, "rules", 10_000, "body")?.iter().enumerate() {
        firewall_rule(rule, &format!("rules[{i}]"))?;
    }
    for (i, ip) in array(m, "ips", 10_000, "body")?.iter().enumerate() {
        let at = format!("ips[{i}]");
        let r = object(ip, &at)?;
        only(r, &["id", "hostname", "ip", "notes", "action"], &at)?;
        required(r, &["hostname", "ip", "action"], &at)?;
        for key in ["id", "hostname", "ip", "notes"] {
            string(r, key, 2544, &at)?;
        }
        one_of(r, "action", &["deny", "challenge", "log", "bypass"], &at)?;
    }
    Ok(())
}

fn firewall_rule(rule: &Value, at: &str) -> Check {
    let r = object(rule, at)?;
    only(
        r,
        &[
            "id",
            "name",
            "description",
            "active",
            "conditionGroup",
            "action",
        ],
        at,
    )?;
    required(r, &["name", "active", "conditionGroup", "action"], at)?;
    string(r, "id", 256, at)?;
    string(r, "name", 160, at)?;
    string(r, "description", 256, at)?;
    boolean(r, "active", at)?;
    for (g, group) in array(r, "conditionGroup", 25, at)?.iter().enumerate() {
        let gat = format!("{at}.conditionGroup[{g}]");
        let gm = object(group, &gat)?;
        only(gm, &["conditions"], &gat)?;
        required(gm, &["conditions"], &gat)?;
        for (c, cond) in array(gm, "conditions", 65, &gat)?.iter().enumerate() {
            let cat = format!("{gat}.conditions[{c}]");
            let cm = object(cond, &cat)?;
            only(cm, &["type", "op", "neg", "key", "value"], &cat)?;
            required(cm, &["type", "op"], &cat)?;
            one_of(cm, "type", &CONDITION_TYPES, &cat)?;
            one_of(cm, "op", &OPS, &cat)?;
            boolean(cm, "neg", &cat)?;
            string(cm, "key", 2544, &cat)?;
            match cm.get("value") {
                None | Some(Value::String(_) | Value::Number(_)) => {}
                Some(Value::Array(a)) if a.len() <= 75 && a.iter().all(Value::is_string) => {}
                Some(_) => {
                    return Err(format!(
                        "{cat}.value must be a string, a number or at most 75 strings"
                    ));
                }
            }
        }
    }
    let action = object(
        r.get("action").unwrap_or(&Value::Null),
        &format!("{at}.action"),
    )?;
    only(action, &["mitigate"], &format!("{at}.action"))?;
    if let Some(mitigate) = action.get("mitigate") {
        let mat = format!("{at}.action.mitigate");
        let mm = object(mitigate, &mat)?;
        only(
            mm,
            &[
                "action",
                "rateLimit",
                "redirect",
                "actionDuration",
                "bypassSystem",
            ],
            &mat,
        )?;
        required(mm, &["action"], &mat)?;
        one_of(
            mm,
            "action",
            &[
                "log",
                "challenge",
                "deny",
                "bypass",
                "rate_limit",
                "redirect",
            ],
            &mat,
        )?;
        boolean(mm, "bypassSystem", &mat)?;
        if let Some(rl) = mm.get("rateLimit").filter(|v| !v.is_null()) {
            let rat = format!("{mat}.rateLimit");
            let rm = object(rl, &rat)?;
            only(rm, &["algo", "window", "limit", "keys", "action"], &rat)?;
            required(rm, &["algo", "window", "limit", "keys"], &rat)?;
            one_of(rm, "algo", &["fixed_window", "token_bucket"], &rat)?;
            for key in ["window", "limit"] {
                if !rm.get(key).is_some_and(Value::is_number) {
                    return Err(format!("{rat}.{key} must be a number"));
                }
            }
            if rm.get("action").is_some_and(|a| !a.is_null()) {
                one_of(
                    rm,
                    "action",
                    &["log", "challenge", "deny", "rate_limit"],
                    &rat,
                )?;
            }
        }
        if let Some(redirect) = mm.get("redirect").filter(|v| !v.is_null()) {
            let rat = format!("{mat}.redirect");
            let rm = object(redirect, &rat)?;
            only(rm, &["location", "permanent"], &rat)?;
            required(rm, &["location", "permanent"], &rat)?;
            boolean(rm, "permanent", &rat)?;
        }
    }
    Ok(())
}

/// The body of `POST` / `DELETE /v1/security/firewall/bypass`.
pub fn bypass(body: &Value, with_ttl: bool) -> Check {
    let m = object(body, "body")?;
    let mut allowed = vec!["domain", "projectScope", "sourceIp", "allSources", "note"];
    if with_ttl {
        allowed.push("ttl");
    }
    only(m, &allowed, "body")?;
    if m.contains_key("domain") == m.contains_key("projectScope") {
        return Err("body: exactly one of domain and projectScope is required".into());
    }
    string(m, "domain", 2544, "body")?;
    string(m, "note", 500, "body")?;
    boolean(m, "projectScope", "body")?;
    boolean(m, "allSources", "body")?;
    if !m.contains_key("sourceIp") && m.get("allSources") != Some(&Value::Bool(true)) {
        return Err("body: sourceIp or allSources is required".into());
    }
    Ok(())
}

/// A drain: the body of `POST /v1/drains` (`create`), of `PATCH /v1/drains/{id}`, or a
/// stored drain for a seed (`create` with the stored fields ignored).
pub fn drain(body: &Value, create: bool) -> Check {
    let m = object(body, "body")?;
    if create {
        let stored = m.contains_key("id");
        if !stored {
            required(m, &["name", "projects", "schemas"], "body")?;
        }
    }
    string(m, "name", 256, "body")?;
    one_of(m, "projects", &["some", "all"], "body")?;
    if m.get("projects") == Some(&Value::from("some"))
        && array(m, "projectIds", 1000, "body")?.is_empty()
    {
        return Err("body.projectIds is required when projects is some".into());
    }
    if let Some(schemas) = m.get("schemas") {
        let s = object(schemas, "schemas")?;
        only(
            s,
            &["log", "trace", "analytics", "speed_insights"],
            "schemas",
        )?;
        for (k, v) in s {
            required(
                object(v, &format!("schemas.{k}"))?,
                &["version"],
                &format!("schemas.{k}"),
            )?;
        }
    }
    if let Some(delivery) = m.get("delivery") {
        let d = object(delivery, "delivery")?;
        match d.get("type").and_then(Value::as_str) {
            Some("http") => {
                required(d, &["type", "endpoint", "encoding", "headers"], "delivery")?;
                one_of(d, "encoding", &["json", "ndjson"], "delivery")?;
                one_of(d, "compression", &["gzip", "none"], "delivery")?;
            }
            Some("otlphttp") => {
                required(d, &["type", "endpoint", "encoding", "headers"], "delivery")?;
                one_of(d, "encoding", &["json", "proto"], "delivery")?;
                required(
                    object(&d["endpoint"], "delivery.endpoint")?,
                    &["traces"],
                    "delivery.endpoint",
                )?;
            }
            Some("syslog") => required(d, &["type", "endpoint", "secret"], "delivery")?,
            // Stored drains of integrations (clickhouse, internal) are only listed.
            Some("clickhouse" | "internal") if !m.contains_key("projects") => {}
            _ => return Err("delivery.type must be http, otlphttp or syslog".into()),
        }
    }
    for (i, s) in array(m, "sampling", 100, "body")?.iter().enumerate() {
        let at = format!("sampling[{i}]");
        let sm = object(s, &at)?;
        required(sm, &["type", "rate"], &at)?;
        match sm.get("rate").and_then(Value::as_f64) {
            Some(r) if (0.0..=1.0).contains(&r) => {}
            _ => return Err(format!("{at}.rate must be a number from 0 to 1")),
        }
        one_of(sm, "env", &["production", "preview"], &at)?;
    }
    if !create {
        one_of(m, "status", &["enabled", "disabled"], "body")?;
    }
    Ok(())
}
