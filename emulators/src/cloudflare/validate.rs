//! Request validation, on raw JSON so every problem can be reported (with a JSON pointer) instead
//! of failing at the first serde error. Enumerations come from the saved OpenAPI spec
//! (2024-08-01) unless marked otherwise.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

use super::seed::Rule;

// Error codes in Cloudflare's style. Codes marked "emulator" are our choice: the real API's
// exact codes for these cases are not documented.
pub const CODE_AUTH: u32 = 10000;
pub const CODE_THROTTLED: u32 = 971;
pub const CODE_INTERNAL: u32 = 10002; // emulator
pub const CODE_BAD_JSON: u32 = 6007;
pub const CODE_BODY_TOO_LARGE: u32 = 6100; // emulator
pub const CODE_BAD_QUERY: u32 = 1001; // emulator
pub const CODE_NO_ROUTE: u32 = 7000;
pub const CODE_METHOD: u32 = 7001;
pub const CODE_NOT_ROUTABLE: u32 = 7003;
pub const CODE_NO_ENTRYPOINT: u32 = 10003;
pub const CODE_RULESET_INVALID: u32 = 20021; // emulator
pub const CODE_SETTING_UNKNOWN: u32 = 1006; // emulator
pub const CODE_SETTING_INVALID: u32 = 1007; // emulator
pub const CODE_ACCESS_RULE_INVALID: u32 = 10001; // emulator
pub const CODE_ACCESS_RULE_DUPLICATE: u32 = 10009; // emulator
pub const CODE_ACCESS_RULE_NOT_FOUND: u32 = 10014; // emulator
pub const CODE_POLICY_INVALID: u32 = 17001; // emulator
pub const CODE_POLICY_NOT_FOUND: u32 = 17002; // emulator
pub const CODE_LOGPUSH_INVALID: u32 = 1004; // emulator
pub const CODE_LOGPUSH_NOT_FOUND: u32 = 1005; // emulator

/// One entry of an error envelope's `errors` array.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub code: u32,
    pub message: String,
    /// JSON pointer into the request body (`source.pointer` in the rulesets API).
    pub pointer: Option<String>,
}

impl Problem {
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            pointer: None,
        }
    }

    fn at(code: u32, pointer: String, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            pointer: Some(pointer),
        }
    }
}

pub const PHASES: &[&str] = &[
    "ddos_l4",
    "ddos_l7",
    "http_config_settings",
    "http_custom_errors",
    "http_log_custom_fields",
    "http_ratelimit",
    "http_request_cache_settings",
    "http_request_dynamic_redirect",
    "http_request_firewall_custom",
    "http_request_firewall_managed",
    "http_request_late_transform",
    "http_request_origin",
    "http_request_redirect",
    "http_request_sanitize",
    "http_request_sbfm",
    "http_request_select_configuration",
    "http_request_transform",
    "http_response_compression",
    "http_response_firewall_managed",
    "http_response_headers_transform",
    "magic_transit",
    "magic_transit_ids_managed",
    "magic_transit_managed",
];

/// The rule-action discriminator values of `rulesets_RequestRule`.
pub const ACTIONS: &[&str] = &[
    "block",
    "challenge",
    "compress_response",
    "ddos_dynamic",
    "execute",
    "force_connection_close",
    "js_challenge",
    "log",
    "log_custom_field",
    "managed_challenge",
    "redirect",
    "rewrite",
    "route",
    "score",
    "serve_error",
    "set_cache_settings",
    "set_config",
    "skip",
];

/// Actions each security phase accepts (Cloudflare docs; other phases accept any action).
fn phase_actions(phase: &str) -> Option<&'static [&'static str]> {
    match phase {
        "http_request_firewall_custom" => Some(&[
            "block",
            "challenge",
            "js_challenge",
            "managed_challenge",
            "log",
            "skip",
        ]),
        "http_ratelimit" => Some(&[
            "block",
            "challenge",
            "js_challenge",
            "managed_challenge",
            "log",
        ]),
        "http_request_firewall_managed" => Some(&["execute", "skip", "log"]),
        _ => None,
    }
}

/// Managed rulesets every zone can deploy with an `execute` rule: (id, name).
pub const MANAGED_RULESETS: &[(&str, &str)] = &[
    (
        "efb7b8c949ac4650a09736fc376e9aee",
        "Cloudflare Managed Ruleset",
    ),
    (
        "4814384a9e5d4991b9815dcfc25d2f1f",
        "Cloudflare OWASP Core Ruleset",
    ),
    (
        "c2e184081120413c86c3ab7e14069605",
        "Cloudflare Exposed Credentials Check Ruleset",
    ),
    (
        "77454fe2d30c4220b5701f6fdfb893ba",
        "Cloudflare Free Managed Ruleset",
    ),
];

fn positive_int(v: Option<&Value>) -> bool {
    v.and_then(Value::as_u64).is_some_and(|n| n > 0)
}

/// Validates the `rules` array of an entry-point PUT as one unit. `existing` are the rules
/// currently in the ruleset: ids sent must refer to them.
pub fn rules(phase: &str, rules: &[Value], existing: &[Rule]) -> Result<(), Vec<Problem>> {
    let code = CODE_RULESET_INVALID;
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    let mut refs = BTreeSet::new();
    for (index, rule) in rules.iter().enumerate() {
        let at = |field: &str| {
            if field.is_empty() {
                format!("/rules/{index}")
            } else {
                format!("/rules/{index}/{field}")
            }
        };
        let Some(obj) = rule.as_object() else {
            problems.push(Problem::at(code, at(""), "rule must be an object"));
            continue;
        };
        match obj.get("expression") {
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            _ => problems.push(Problem::at(
                code,
                at("expression"),
                "expression is required and must be a non-empty string",
            )),
        }
        let action = obj.get("action").and_then(Value::as_str);
        match action {
            Some(a) if ACTIONS.contains(&a) => {
                if let Some(allowed) = phase_actions(phase)
                    && !allowed.contains(&a)
                {
                    problems.push(Problem::at(
                        code,
                        at("action"),
                        format!(
                            "action '{a}' is not allowed in phase {phase}; allowed: {}",
                            allowed.join(", ")
                        ),
                    ));
                }
            }
            _ => problems.push(Problem::at(
                code,
                at("action"),
                format!(
                    "action is required and must be one of: {}",
                    ACTIONS.join(", ")
                ),
            )),
        }
        check_action_parameters(action, obj.get("action_parameters"), &at, &mut problems);
        if !matches!(obj.get("enabled"), None | Some(Value::Bool(_))) {
            problems.push(Problem::at(
                code,
                at("enabled"),
                "enabled must be a boolean",
            ));
        }
        if !matches!(obj.get("description"), None | Some(Value::String(_))) {
            problems.push(Problem::at(
                code,
                at("description"),
                "description must be a string",
            ));
        }
        if let Some(logging) = obj.get("logging")
            && !logging.get("enabled").is_some_and(Value::is_boolean)
        {
            problems.push(Problem::at(
                code,
                at("logging"),
                "logging must be an object with a boolean 'enabled'",
            ));
        }
        let mut existing_rule = None;
        match obj.get("id") {
            None => {}
            Some(Value::String(id)) => {
                existing_rule = existing
                    .iter()
                    .find(|r| r.id.as_deref() == Some(id.as_str()));
                if existing_rule.is_none() {
                    problems.push(Problem::at(
                        code,
                        at("id"),
                        format!(
                            "rule id {id} does not exist in this ruleset; omit id to create a rule"
                        ),
                    ));
                }
                if !ids.insert(id.clone()) {
                    problems.push(Problem::at(
                        code,
                        at("id"),
                        format!("rule id {id} appears twice"),
                    ));
                }
            }
            Some(_) => problems.push(Problem::at(code, at("id"), "id must be a string")),
        }
        let reference = match obj.get("ref") {
            None => existing_rule.and_then(|r| r.reference.clone()),
            Some(Value::String(r)) if !r.is_empty() => Some(r.clone()),
            Some(_) => {
                problems.push(Problem::at(
                    code,
                    at("ref"),
                    "ref must be a non-empty string",
                ));
                None
            }
        };
        if let Some(reference) = reference
            && !refs.insert(reference.clone())
        {
            problems.push(Problem::at(
                code,
                at("ref"),
                format!("ref '{reference}' must be unique within the ruleset"),
            ));
        }
        check_ratelimit(phase, obj.get("ratelimit"), &at, &mut problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn check_action_parameters(
    action: Option<&str>,
    params: Option<&Value>,
    at: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) {
    let code = CODE_RULESET_INVALID;
    let ptr = at("action_parameters");
    let params = match params {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => {
            problems.push(Problem::at(
                code,
                ptr,
                "action_parameters must be an object",
            ));
            return;
        }
    };
    match (action, params) {
        (Some("execute"), None) | (Some("skip"), None) => problems.push(Problem::at(
            code,
            ptr,
            format!(
                "action_parameters are required for action '{}'",
                action.unwrap_or_default()
            ),
        )),
        (Some("execute"), Some(p)) => match p.get("id").and_then(Value::as_str) {
            Some(id) if MANAGED_RULESETS.iter().any(|(known, _)| *known == id) => {}
            Some(id) => problems.push(Problem::at(
                code,
                format!("{ptr}/id"),
                format!("ruleset {id} is not a managed ruleset available to this zone"),
            )),
            None => problems.push(Problem::at(
                code,
                format!("{ptr}/id"),
                "execute rules need action_parameters.id (the ruleset to execute)",
            )),
        },
        (Some("skip"), Some(p)) => {
            let keys = ["ruleset", "phases", "products", "rules", "rulesets"];
            if !keys.iter().any(|k| p.contains_key(*k)) {
                problems.push(Problem::at(
                    code,
                    ptr.clone(),
                    format!(
                        "skip rules need one of action_parameters.{}",
                        keys.join(", .")
                    ),
                ));
            }
            if let Some(ruleset) = p.get("ruleset")
                && ruleset.as_str() != Some("current")
            {
                problems.push(Problem::at(
                    code,
                    format!("{ptr}/ruleset"),
                    "action_parameters.ruleset must be \"current\"",
                ));
            }
            if let Some(phases) = p.get("phases") {
                let ok = phases.as_array().is_some_and(|list| {
                    !list.is_empty()
                        && list
                            .iter()
                            .all(|p| p.as_str().is_some_and(|p| PHASES.contains(&p)))
                });
                if !ok {
                    problems.push(Problem::at(
                        code,
                        format!("{ptr}/phases"),
                        "action_parameters.phases must be a non-empty list of ruleset phases",
                    ));
                }
            }
        }
        (Some("block"), Some(p)) => {
            if let Some(response) = p.get("response") {
                let status_ok = response
                    .get("status_code")
                    .and_then(Value::as_u64)
                    .is_some_and(|s| (400..=499).contains(&s));
                let text_ok = |k: &str| {
                    response
                        .get(k)
                        .and_then(Value::as_str)
                        .is_some_and(|s| !s.is_empty())
                };
                if !(status_ok && text_ok("content") && text_ok("content_type")) {
                    problems.push(Problem::at(
                        code,
                        format!("{ptr}/response"),
                        "response needs status_code (400-499), content and content_type",
                    ));
                }
            }
        }
        _ => {}
    }
}

fn check_ratelimit(
    phase: &str,
    ratelimit: Option<&Value>,
    at: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) {
    let code = CODE_RULESET_INVALID;
    let ptr = at("ratelimit");
    if phase != "http_ratelimit" {
        if ratelimit.is_some_and(|v| !v.is_null()) {
            problems.push(Problem::at(
                code,
                ptr,
                format!("ratelimit is only allowed in phase http_ratelimit, not {phase}"),
            ));
        }
        return;
    }
    let Some(Value::Object(rl)) = ratelimit else {
        problems.push(Problem::at(
            code,
            ptr,
            "rate limiting rules need a ratelimit object (characteristics, period, requests_per_period)",
        ));
        return;
    };
    let characteristics_ok = rl
        .get("characteristics")
        .and_then(Value::as_array)
        .is_some_and(|list| {
            list.iter().all(Value::is_string)
                && list.iter().any(|c| c.as_str() == Some("cf.colo.id"))
        });
    if !characteristics_ok {
        problems.push(Problem::at(
            code,
            format!("{ptr}/characteristics"),
            "ratelimit.characteristics must be a list of strings including \"cf.colo.id\"",
        ));
    }
    if !positive_int(rl.get("period")) {
        problems.push(Problem::at(
            code,
            format!("{ptr}/period"),
            "ratelimit.period must be a positive integer (seconds)",
        ));
    }
    if !positive_int(rl.get("requests_per_period")) {
        problems.push(Problem::at(
            code,
            format!("{ptr}/requests_per_period"),
            "ratelimit.requests_per_period must be a positive integer",
        ));
    }
    if rl
        .get("mitigation_timeout")
        .is_some_and(|v| v.as_u64().is_none())
    {
        problems.push(Problem::at(
            code,
            format!("{ptr}/mitigation_timeout"),
            "ratelimit.mitigation_timeout must be a non-negative integer (seconds)",
        ));
    }
    if rl
        .get("requests_to_origin")
        .is_some_and(|v| !v.is_boolean())
    {
        problems.push(Problem::at(
            code,
            format!("{ptr}/requests_to_origin"),
            "ratelimit.requests_to_origin must be a boolean",
        ));
    }
}

/// Security settings the emulator knows, with the spec's defaults for a new zone.
pub fn known_settings() -> Vec<(&'static str, Value)> {
    use serde_json::json;
    vec![
        ("always_use_https", json!("off")),
        ("automatic_https_rewrites", json!("on")),
        ("browser_check", json!("on")),
        ("challenge_ttl", json!(1800)),
        ("min_tls_version", json!("1.0")),
        (
            "security_header",
            json!({"strict_transport_security": {
                "enabled": false, "include_subdomains": false, "max_age": 0,
                "nosniff": false, "preload": false}}),
        ),
        ("security_level", json!("medium")),
        ("ssl", json!("off")),
        ("tls_1_3", json!("off")),
        ("waf", json!("off")),
    ]
}

/// `None` when the emulator does not know the setting; otherwise whether `value` is acceptable.
pub fn setting(id: &str, value: &Value) -> Option<Result<(), String>> {
    let one_of = |allowed: &[&str]| match value.as_str() {
        Some(s) if allowed.contains(&s) => Ok(()),
        _ => Err(format!(
            "invalid value for {id}: {value}; expected one of: {}",
            allowed.join(", ")
        )),
    };
    let on_off = ["on", "off"];
    Some(match id {
        "security_level" => one_of(&[
            "off",
            "essentially_off",
            "low",
            "medium",
            "high",
            "under_attack",
        ]),
        "ssl" => one_of(&["off", "flexible", "full", "strict"]),
        "min_tls_version" => one_of(&["1.0", "1.1", "1.2", "1.3"]),
        "tls_1_3" => one_of(&["on", "off", "zrt"]),
        "always_use_https" | "automatic_https_rewrites" | "browser_check" | "waf" => {
            one_of(&on_off)
        }
        "challenge_ttl" => {
            const TTLS: &[u64] = &[
                300, 900, 1800, 2700, 3600, 7200, 10800, 14400, 28800, 57600, 86400, 604800,
                2592000, 31536000,
            ];
            match value.as_u64() {
                Some(n) if TTLS.contains(&n) => Ok(()),
                _ => Err(format!(
                    "invalid value for challenge_ttl: {value}; expected one of: {TTLS:?}"
                )),
            }
        }
        "security_header" => security_header(value),
        _ => return None,
    })
}

fn security_header(value: &Value) -> Result<(), String> {
    let Some(hsts) = value
        .get("strict_transport_security")
        .and_then(Value::as_object)
    else {
        return Err("security_header must be an object with strict_transport_security".into());
    };
    for (key, field) in hsts {
        let ok = match key.as_str() {
            "enabled" | "include_subdomains" | "nosniff" | "preload" => field.is_boolean(),
            "max_age" => field.as_u64().is_some(),
            _ => false,
        };
        if !ok {
            return Err(format!("invalid strict_transport_security.{key}: {field}"));
        }
    }
    Ok(())
}

pub const ACCESS_MODES: &[&str] = &[
    "block",
    "challenge",
    "whitelist",
    "js_challenge",
    "managed_challenge",
];

fn access_mode(value: Option<&Value>) -> Result<(), Problem> {
    match value.and_then(Value::as_str) {
        Some(m) if ACCESS_MODES.contains(&m) => Ok(()),
        _ => Err(Problem::new(
            CODE_ACCESS_RULE_INVALID,
            format!(
                "mode is required and must be one of: {}",
                ACCESS_MODES.join(", ")
            ),
        )),
    }
}

/// A create body (or seeded rule).
pub fn access_rule(body: &Value) -> Result<(), Problem> {
    let code = CODE_ACCESS_RULE_INVALID;
    access_mode(body.get("mode"))?;
    notes(body.get("notes"))?;
    let Some(config) = body.get("configuration").and_then(Value::as_object) else {
        return Err(Problem::new(
            code,
            "configuration {target, value} is required",
        ));
    };
    let target = config
        .get("target")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let value = config
        .get("value")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if value.is_empty() {
        return Err(Problem::new(code, "configuration.value is required"));
    }
    let valid = match target {
        "ip" => value.parse::<Ipv4Addr>().is_ok(),
        "ip6" => value.parse::<Ipv6Addr>().is_ok(),
        // Cloudflare only accepts these prefix lengths for IP access rules.
        "ip_range" => match value.split_once('/') {
            Some((addr, len)) => matches!(
                (addr.parse::<IpAddr>(), len.parse::<u8>()),
                (Ok(IpAddr::V4(_)), Ok(16 | 24)) | (Ok(IpAddr::V6(_)), Ok(32 | 48 | 64))
            ),
            None => false,
        },
        "asn" => value
            .strip_prefix("AS")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        "country" => {
            value.len() == 2
                && value.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
                && value
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        }
        _ => {
            return Err(Problem::new(
                code,
                "configuration.target must be one of: ip, ip6, ip_range, asn, country",
            ));
        }
    };
    if valid {
        Ok(())
    } else {
        let expected = match target {
            "ip" => "an IPv4 address",
            "ip6" => "an IPv6 address",
            "ip_range" => "an IPv4 /16 or /24 or an IPv6 /32, /48 or /64 range",
            "asn" => "an AS number such as AS13335",
            _ => "a two-letter country code such as US",
        };
        Err(Problem::new(
            code,
            format!("configuration.value {value:?} is not {expected} (target {target})"),
        ))
    }
}

fn notes(value: Option<&Value>) -> Result<(), Problem> {
    match value {
        None | Some(Value::Null) | Some(Value::String(_)) => Ok(()),
        Some(_) => Err(Problem::new(
            CODE_ACCESS_RULE_INVALID,
            "notes must be a string",
        )),
    }
}

/// A PATCH body: only `mode` and `notes` may change.
pub fn access_rule_patch(body: &Map<String, Value>) -> Result<(), Problem> {
    if let Some(key) = body
        .keys()
        .find(|k| !matches!(k.as_str(), "mode" | "notes"))
    {
        return Err(Problem::new(
            CODE_ACCESS_RULE_INVALID,
            format!("{key} cannot be changed; only mode and notes can be edited"),
        ));
    }
    if body.contains_key("mode") {
        access_mode(body.get("mode"))?;
    }
    notes(body.get("notes"))
}

const MECHANISM_TYPES: &[&str] = &["email", "webhooks", "pagerduty"];

pub const ALERT_TYPES: &[&str] = &[
    "access_custom_certificate_expiration_type",
    "advanced_ddos_attack_l4_alert",
    "advanced_ddos_attack_l7_alert",
    "advanced_http_alert_error",
    "bgp_hijack_notification",
    "billing_usage_alert",
    "block_notification_block_removed",
    "block_notification_new_block",
    "block_notification_review_rejected",
    "brand_protection_alert",
    "brand_protection_digest",
    "clickhouse_alert_fw_anomaly",
    "clickhouse_alert_fw_ent_anomaly",
    "cloudforce_one_request_notification",
    "custom_analytics",
    "custom_ssl_certificate_event_type",
    "dedicated_ssl_certificate_event_type",
    "device_connectivity_anomaly_alert",
    "dos_attack_l4",
    "dos_attack_l7",
    "expiring_service_token_alert",
    "failing_logpush_job_disabled_alert",
    "fbm_auto_advertisement",
    "fbm_dosd_attack",
    "fbm_volumetric_attack",
    "health_check_status_notification",
    "hostname_aop_custom_certificate_expiration_type",
    "http_alert_edge_error",
    "http_alert_origin_error",
    "incident_alert",
    "load_balancing_health_alert",
    "load_balancing_pool_enablement_alert",
    "logo_match_alert",
    "magic_tunnel_health_check_event",
    "magic_wan_tunnel_health",
    "maintenance_event_notification",
    "mtls_certificate_store_certificate_expiration_type",
    "pages_event_alert",
    "radar_notification",
    "real_origin_monitoring",
    "scriptmonitor_alert_new_code_change_detections",
    "scriptmonitor_alert_new_hosts",
    "scriptmonitor_alert_new_malicious_hosts",
    "scriptmonitor_alert_new_malicious_scripts",
    "scriptmonitor_alert_new_malicious_url",
    "scriptmonitor_alert_new_max_length_resource_url",
    "scriptmonitor_alert_new_resources",
    "secondary_dns_all_primaries_failing",
    "secondary_dns_primaries_failing",
    "secondary_dns_warning",
    "secondary_dns_zone_successfully_updated",
    "secondary_dns_zone_validation_warning",
    "sentinel_alert",
    "stream_live_notifications",
    "synthetic_test_latency_alert",
    "synthetic_test_low_availability_alert",
    "traffic_anomalies_alert",
    "tunnel_health_event",
    "tunnel_update_event",
    "universal_ssl_event_type",
    "web_analytics_metrics_update",
    "zone_aop_custom_certificate_expiration_type",
];

/// A notification policy create/replace body (both need the full policy).
pub fn alerting_policy(body: &Value) -> Result<(), Problem> {
    let bad = |message: String| Err(Problem::new(CODE_POLICY_INVALID, message));
    if !body.is_object() {
        return bad("request body must be a JSON object".into());
    }
    if body
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(|s| s.trim().is_empty())
    {
        return bad("name is required and must be a non-empty string".into());
    }
    match body.get("alert_type").and_then(Value::as_str) {
        Some(t) if ALERT_TYPES.contains(&t) => {}
        Some(t) => return bad(format!("alert_type {t:?} is not a known alert type")),
        None => return bad("alert_type is required".into()),
    }
    if !body.get("enabled").is_some_and(Value::is_boolean) {
        return bad("enabled is required and must be a boolean".into());
    }
    let Some(mechanisms) = body.get("mechanisms").and_then(Value::as_object) else {
        return bad("mechanisms is required and must be an object".into());
    };
    let mut targets = 0;
    for (kind, list) in mechanisms {
        if !MECHANISM_TYPES.contains(&kind.as_str()) {
            return bad(format!(
                "unknown mechanism type {kind:?}; expected one of: {}",
                MECHANISM_TYPES.join(", ")
            ));
        }
        let Some(list) = list.as_array() else {
            return bad(format!(
                "mechanisms.{kind} must be a list of {{id}} objects"
            ));
        };
        for target in list {
            let Some(id) = target
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            else {
                return bad(format!(
                    "every mechanisms.{kind} entry needs a non-empty id"
                ));
            };
            if kind == "email" && !id.contains('@') {
                return bad(format!(
                    "mechanisms.email id {id:?} is not an email address"
                ));
            }
            targets += 1;
        }
    }
    if targets == 0 {
        return bad("mechanisms must name at least one destination".into());
    }
    if !matches!(
        body.get("description"),
        None | Some(Value::Null | Value::String(_))
    ) {
        return bad("description must be a string".into());
    }
    if !matches!(
        body.get("alert_interval"),
        None | Some(Value::Null | Value::String(_))
    ) {
        return bad("alert_interval must be a string such as \"30m\"".into());
    }
    match body.get("filters") {
        None | Some(Value::Null) => {}
        Some(Value::Object(filters)) => {
            for (key, list) in filters {
                let ok = list
                    .as_array()
                    .is_some_and(|l| l.iter().all(Value::is_string));
                if !ok {
                    return bad(format!("filters.{key} must be a list of strings"));
                }
            }
        }
        Some(_) => return bad("filters must be an object".into()),
    }
    Ok(())
}

/// A Logpush job body. `creating` requires `dataset` and `destination_conf`; on update every
/// field is optional.
pub fn logpush_job(body: &Value, creating: bool) -> Result<(), Problem> {
    let bad = |message: String| Err(Problem::new(CODE_LOGPUSH_INVALID, message));
    let Some(obj) = body.as_object() else {
        return bad("request body must be a JSON object".into());
    };
    let nullable_string =
        |key: &str| matches!(obj.get(key), None | Some(Value::Null | Value::String(_)));
    match obj.get("destination_conf") {
        None if !creating => {}
        Some(Value::String(dest)) if destination_ok(dest) => {}
        _ => {
            return bad(
                "destination_conf is required and must be a URI such as s3://bucket/path?region=us-east-1 or https://example.com/logs"
                    .into(),
            );
        }
    }
    match obj.get("dataset") {
        None | Some(Value::Null) if !creating => {}
        Some(Value::String(ds))
            if !ds.is_empty()
                && ds.len() <= 256
                && ds
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') => {}
        _ => {
            return bad(
                "dataset is required and must match ^[a-zA-Z0-9_-]+$ (e.g. firewall_events)".into(),
            );
        }
    }
    match obj.get("name") {
        None | Some(Value::Null) => {}
        Some(Value::String(name))
            if name.len() <= 512
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') => {}
        _ => return bad("name must match ^[a-zA-Z0-9.-]*$ (e.g. example.com)".into()),
    }
    if !matches!(obj.get("enabled"), None | Some(Value::Bool(_))) {
        return bad("enabled must be a boolean".into());
    }
    if !matches!(obj.get("frequency"), None | Some(Value::Null))
        && !matches!(
            obj.get("frequency").and_then(Value::as_str),
            Some("high" | "low")
        )
    {
        return bad("frequency must be \"high\" or \"low\"".into());
    }
    if !matches!(obj.get("kind"), None | Some(Value::Null))
        && !matches!(obj.get("kind").and_then(Value::as_str), Some("" | "edge"))
    {
        return bad("kind must be \"\" or \"edge\"".into());
    }
    if !nullable_string("logpull_options") || !nullable_string("ownership_challenge") {
        return bad("logpull_options and ownership_challenge must be strings".into());
    }
    for (key, min, max) in [
        ("max_upload_bytes", 5_000_000, 1_000_000_000),
        ("max_upload_interval_seconds", 30, 300),
        ("max_upload_records", 1000, 1_000_000),
    ] {
        match obj.get(key) {
            None | Some(Value::Null) => {}
            Some(v) if v.as_u64().is_some_and(|n| (min..=max).contains(&n)) => {}
            Some(v) => {
                return bad(format!(
                    "{key} must be an integer in {min}..={max}, got {v}"
                ));
            }
        }
    }
    match obj.get("output_options") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(options)) => output_options(options),
        Some(_) => bad("output_options must be an object".into()),
    }
}

fn destination_ok(dest: &str) -> bool {
    match dest.split_once("://") {
        Some((scheme, rest)) => {
            dest.len() <= 4096
                && !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b))
                && !rest.is_empty()
        }
        None => false,
    }
}

fn output_options(options: &Map<String, Value>) -> Result<(), Problem> {
    let bad = |message: &str| Err(Problem::new(CODE_LOGPUSH_INVALID, message));
    if !matches!(
        options.get("output_type").map(|v| v.as_str()),
        None | Some(Some("ndjson" | "csv"))
    ) {
        return bad("output_options.output_type must be \"ndjson\" or \"csv\"");
    }
    if !matches!(
        options.get("timestamp_format").map(|v| v.as_str()),
        None | Some(Some("unixnano" | "unix" | "rfc3339"))
    ) {
        return bad("output_options.timestamp_format must be unixnano, unix or rfc3339");
    }
    match options.get("sample_rate") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_f64().is_some_and(|r| (0.0..=1.0).contains(&r)) => {}
        Some(_) => return bad("output_options.sample_rate must be a number between 0 and 1"),
    }
    match options.get("field_names") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(names)) if names.iter().all(Value::is_string) => Ok(()),
        Some(_) => bad("output_options.field_names must be a list of strings"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn access_rule_values_are_checked_per_target() {
        let rule = |target: &str, value: &str| json!({"mode": "block", "configuration": {"target": target, "value": value}});
        assert!(access_rule(&rule("ip", "198.51.100.4")).is_ok());
        assert!(access_rule(&rule("ip", "198.51.100.400")).is_err());
        assert!(access_rule(&rule("ip6", "2001:db8::1")).is_ok());
        assert!(access_rule(&rule("ip_range", "198.51.100.0/24")).is_ok());
        assert!(access_rule(&rule("ip_range", "10.0.0.0/8")).is_err());
        assert!(access_rule(&rule("asn", "AS13335")).is_ok());
        assert!(access_rule(&rule("asn", "13335")).is_err());
        assert!(access_rule(&rule("country", "US")).is_ok());
        assert!(access_rule(&rule("country", "usa")).is_err());
        assert!(access_rule(&rule("host", "example.com")).is_err());
    }

    #[test]
    fn settings_enums() {
        assert_eq!(setting("ssl", &json!("strict")), Some(Ok(())));
        assert!(matches!(setting("ssl", &json!("bogus")), Some(Err(_))));
        assert!(matches!(
            setting("min_tls_version", &json!(1.2)),
            Some(Err(_))
        ));
        assert_eq!(setting("challenge_ttl", &json!(300)), Some(Ok(())));
        assert_eq!(setting("unknown_thing", &json!("x")), None);
        for (id, default) in known_settings() {
            assert_eq!(setting(id, &default), Some(Ok(())), "default of {id}");
        }
    }

    #[test]
    fn logpush_bodies() {
        let ok =
            json!({"dataset": "firewall_events", "destination_conf": "s3://b/p?region=us-east-1"});
        assert!(logpush_job(&ok, true).is_ok());
        assert!(logpush_job(&json!({"dataset": "firewall_events"}), true).is_err());
        assert!(logpush_job(&json!({"enabled": true}), false).is_ok());
        assert!(logpush_job(&json!({"frequency": "sometimes"}), false).is_err());
        assert!(logpush_job(&json!({"max_upload_records": 10}), false).is_err());
        assert!(logpush_job(&json!({"output_options": {"sample_rate": 2}}), false).is_err());
    }
}
