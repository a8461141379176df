//! Pure mapping between Cloudflare's API objects, the policy blocks and the neutral model.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::core::addresses::{self, Resolver, SetError};
use crate::core::model::unique_keys as unique;
use crate::core::normalize::{self, Invalid};
use crate::core::routing::{AlertRoute, SlackChannelRef};
use crate::core::{Item, Locator, Section, SectionKind, State};
use crate::providers::cloudflare::api::{
    AccessRuleMode, AccessRuleTarget, CloudflareFirewall, CloudflareMonitoring, IpAccessRule,
    LogpushJob, NotificationPolicy, RateLimitRule, WafCustomRule, ZoneSecuritySettings,
};
use crate::providers::{Purpose, Scope, Target};

pub const WAF: &str = "wafCustomRules";
pub const RATE_LIMIT: &str = "rateLimitRules";
pub const ACCESS: &str = "ipAccessRules";
pub const SETTINGS: &str = "settings";
pub const POLICIES: &str = "notificationPolicies";
pub const LOGPUSH: &str = "logpushJobs";

pub const PHASE_CUSTOM: &str = "http_request_firewall_custom";
pub const PHASE_RATELIMIT: &str = "http_ratelimit";

/// Which ruleset phase backs a rule section.
pub fn phase_of(section: &str) -> Option<&'static str> {
    match section {
        WAF => Some(PHASE_CUSTOM),
        RATE_LIMIT => Some(PHASE_RATELIMIT),
        _ => None,
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Where a Cloudflare target applies: a zone, or (a monitoring block without `zoneId`) only the
/// CloudProvider's account. Account-level objects (notification policies) are addressed with
/// the CloudProvider's `accountId` either way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloudflareScope {
    Zone(String),
    Account,
}

impl fmt::Display for CloudflareScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Zone(id) => write!(f, "zone {id}"),
            Self::Account => f.write_str("account"),
        }
    }
}

/// What a monitoring target knows beyond its sections: the Slack channel of each Slack
/// webhook destination (declared, see [`crate::providers::cloudflare::api::SlackWebhook`]).
/// Travels with the target as a [`Locator`] of the notification-policy section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlackChannels(pub BTreeMap<String, SlackChannelRef>);

// ---- desired ---------------------------------------------------------------------------

pub fn firewall_target(fw: &CloudflareFirewall) -> Result<Target, Invalid> {
    if fw.ip_access_rule_sets.is_some() {
        return Err(addresses::unresolved("spec.cloudflare.ipAccessRuleSets"));
    }
    let mut state = State::default();
    if let Some(rules) = &fw.waf_custom_rules {
        let items = rules.iter().map(desired_waf_rule).collect();
        state.push(Section::new(WAF, SectionKind::Ordered, unique(WAF, items)?));
    }
    if let Some(rules) = &fw.rate_limit_rules {
        let items = rules
            .iter()
            .map(desired_rate_limit_rule)
            .collect::<Result<Vec<_>, _>>()?;
        state.push(Section::new(
            RATE_LIMIT,
            SectionKind::Ordered,
            unique(RATE_LIMIT, items)?,
        ));
    }
    if let Some(rules) = &fw.ip_access_rules {
        let items = rules
            .iter()
            .map(desired_access_rule)
            .collect::<Result<Vec<_>, _>>()?;
        state.push(Section::new(
            ACCESS,
            SectionKind::Unordered,
            unique(ACCESS, items)?,
        ));
    }
    if let Some(settings) = &fw.settings {
        state.push(Section::new(
            SETTINGS,
            SectionKind::Settings,
            desired_settings(settings),
        ));
    }
    Ok(Target {
        purpose: Purpose::Firewall,
        scope: Scope::new(CloudflareScope::Zone(fw.zone_id.clone())),
        desired: state,
    })
}

/// `ipAccessRuleSets` expanded into `ipAccessRules`: one rule per address of each set. An
/// address two sets give with the same mode becomes one rule; with different modes, or also
/// declared by hand, the keys collide and the block is refused as written.
pub fn with_address_sets(
    fw: &CloudflareFirewall,
    sets: &mut Resolver,
) -> Result<CloudflareFirewall, SetError> {
    let mut out = fw.clone();
    let Some(rule_sets) = out.ip_access_rule_sets.take() else {
        return Ok(out);
    };
    let rules = out.ip_access_rules.get_or_insert_with(Vec::new);
    let mut added: Vec<(String, AccessRuleMode)> = Vec::new();
    for (i, set) in rule_sets.iter().enumerate() {
        let field = format!("spec.cloudflare.ipAccessRuleSets[{i}].addressSet");
        for address in sets.addresses(&field, &set.address_set)? {
            let value = addresses::host_or_cidr(&address).to_string();
            if added.iter().any(|(v, m)| *v == value && *m == set.mode) {
                continue;
            }
            added.push((value.clone(), set.mode));
            if value.contains('/') && !range_allowed(&value) {
                return Err(Resolver::unsuitable(
                    &field,
                    &set.address_set,
                    format!("holds {value}: {RANGES}"),
                ));
            }
            if rules.len() >= MAX_ACCESS_RULES {
                return Err(Resolver::unsuitable(
                    &field,
                    &set.address_set,
                    format!(
                        "would make more than {MAX_ACCESS_RULES} IP access rules (one per address); \
                         split the set or use a WAF custom rule with an IP list"
                    ),
                ));
            }
            let target = match (value.contains('/'), addresses::is_v6(&value)) {
                (true, _) => AccessRuleTarget::IpRange,
                (false, true) => AccessRuleTarget::Ip6,
                (false, false) => AccessRuleTarget::Ip,
            };
            rules.push(IpAccessRule {
                mode: set.mode,
                target,
                value,
                notes: Some(
                    set.notes
                        .clone()
                        .unwrap_or_else(|| format!("address set {}", set.address_set)),
                ),
            });
        }
    }
    Ok(out)
}

pub fn monitoring_target(mon: &CloudflareMonitoring) -> Result<Target, Invalid> {
    let mut state = State::default();
    if let Some(policies) = &mon.notification_policies {
        let items = policies.iter().map(desired_policy).collect();
        let channels = SlackChannels(
            mon.slack_webhooks
                .iter()
                .flatten()
                .map(|w| {
                    (
                        w.webhook.to_ascii_lowercase(),
                        SlackChannelRef {
                            team: w.team.clone(),
                            channel: w.channel.clone(),
                        },
                    )
                })
                .collect(),
        );
        state.push(
            Section::new(POLICIES, SectionKind::Unordered, unique(POLICIES, items)?)
                .with_locator(Locator::new(channels)),
        );
    }
    if let Some(jobs) = &mon.logpush_jobs {
        let items = jobs.iter().map(desired_logpush_job).collect();
        state.push(Section::new(
            LOGPUSH,
            SectionKind::Unordered,
            unique(LOGPUSH, items)?,
        ));
    }
    let scope = match &mon.zone_id {
        Some(zone) => CloudflareScope::Zone(zone.clone()),
        None => CloudflareScope::Account,
    };
    Ok(Target {
        purpose: Purpose::Monitoring,
        scope: Scope::new(scope),
        desired: state,
    })
}

fn desired_waf_rule(rule: &WafCustomRule) -> Item {
    let action = to_value(&rule.action);
    let params = rule
        .action_parameters
        .as_ref()
        .map(action_parameters_api)
        .unwrap_or(Value::Null);
    let mut raw = json!({
        "ref": rule.rule_ref,
        "description": rule.description.clone().unwrap_or_default(),
        "expression": rule.expression,
        "action": action,
        "enabled": rule.enabled.unwrap_or(true),
    });
    if !params.is_null() {
        raw["action_parameters"] = params.clone();
    }
    rule_item(
        &rule.rule_ref,
        rule.description.as_deref(),
        &rule.expression,
        &action,
        rule.enabled.unwrap_or(true),
    )
    .field("action_parameters", params)
    .with_raw(raw)
}

fn rule_item(
    key: &str,
    description: Option<&str>,
    expression: &str,
    action: &Value,
    enabled: bool,
) -> Item {
    Item::new(key)
        .field("description", description.unwrap_or_default())
        .field("expression", normalize::expression(expression))
        .field("action", action.clone())
        .field("enabled", enabled)
}

/// Cloudflare's snake_case shape of the action parameters we support.
fn action_parameters_api(p: &crate::providers::cloudflare::api::ActionParameters) -> Value {
    let mut out = Map::new();
    if let Some(r) = &p.response {
        out.insert("response".into(), json!({"status_code": r.status_code, "content": r.content, "content_type": r.content_type}));
    }
    if let Some(rs) = &p.ruleset {
        out.insert("ruleset".into(), to_value(rs));
    }
    if let Some(phases) = &p.phases {
        out.insert(
            "phases".into(),
            sorted_strings(phases.iter().map(String::as_str)),
        );
    }
    if let Some(products) = &p.products {
        out.insert(
            "products".into(),
            sorted_strings(products.iter().map(String::as_str)),
        );
    }
    if out.is_empty() {
        Value::Null
    } else {
        Value::Object(out)
    }
}

fn sorted_strings<'a>(values: impl Iterator<Item = &'a str>) -> Value {
    let mut v: Vec<String> = values.map(str::to_string).collect();
    v.sort();
    v.dedup();
    Value::from(v)
}

fn desired_rate_limit_rule(rule: &RateLimitRule) -> Result<Item, Invalid> {
    if !rule.characteristics.iter().any(|c| c == "cf.colo.id") {
        return Err(Invalid(format!(
            "rateLimitRules[{}]: characteristics must include cf.colo.id",
            rule.rule_ref
        )));
    }
    let action = to_value(&rule.action);
    let mut ratelimit = json!({
        "characteristics": rule.characteristics,
        "period": rule.period,
        "requests_per_period": rule.requests_per_period,
        "mitigation_timeout": rule.mitigation_timeout,
    });
    if let Some(ce) = &rule.counting_expression {
        ratelimit["counting_expression"] = Value::from(ce.as_str());
    }
    let raw = json!({
        "ref": rule.rule_ref,
        "description": rule.description.clone().unwrap_or_default(),
        "expression": rule.expression,
        "action": action,
        "enabled": rule.enabled.unwrap_or(true),
        "ratelimit": ratelimit,
    });
    let item = rule_item(
        &rule.rule_ref,
        rule.description.as_deref(),
        &rule.expression,
        &action,
        rule.enabled.unwrap_or(true),
    )
    .field(
        "characteristics",
        sorted_strings(rule.characteristics.iter().map(String::as_str)),
    )
    .field("period", rule.period)
    .field("requests_per_period", rule.requests_per_period)
    .field("mitigation_timeout", rule.mitigation_timeout)
    .field(
        "counting_expression",
        rule.counting_expression
            .as_deref()
            .map(normalize::expression)
            .unwrap_or_default(),
    )
    .with_raw(raw);
    Ok(item)
}

/// What an `ip_range` access rule takes (Cloudflare's IP Access rules parameters).
const RANGES: &str = "Cloudflare's IP access rules take IPv4 ranges of /16 or /24 and IPv6 ranges \
     of /32, /48 or /64 (a single address is target ip or ip6); use a WAF custom rule for others";

/// Whether Cloudflare takes this canonical CIDR as an `ip_range` rule.
fn range_allowed(cidr: &str) -> bool {
    cidr.rsplit_once('/').is_some_and(|(address, prefix)| {
        matches!(
            (address.contains(':'), prefix),
            (false, "16" | "24") | (true, "32" | "48" | "64")
        )
    })
}

/// How many IP access rules one policy may hold, address sets expanded (the schema's bound on
/// `ipAccessRules`).
pub const MAX_ACCESS_RULES: usize = 1000;

/// Canonical `target:value` key of an access rule, so `2001:DB8::1` and `2001:db8::1` match.
pub fn access_key(target: &str, value: &str) -> Result<String, Invalid> {
    let value = match target {
        "ip" | "ip6" => normalize::ip(value)?,
        "ip_range" => normalize::cidr(value)?,
        "asn" => {
            let v = value.trim().to_ascii_uppercase();
            if v.starts_with("AS") {
                v
            } else {
                format!("AS{v}")
            }
        }
        "country" => value.trim().to_ascii_uppercase(),
        other => return Err(Invalid(format!("unknown access rule target {other:?}"))),
    };
    Ok(format!("{target}:{value}"))
}

fn desired_access_rule(rule: &IpAccessRule) -> Result<Item, Invalid> {
    let target = to_value(&rule.target);
    let target_str = target.as_str().unwrap_or_default().to_string();
    let key = access_key(&target_str, &rule.value)
        .map_err(|e| Invalid(format!("ipAccessRules: {}", e.0)))?;
    if rule.target == AccessRuleTarget::Ip6 && !rule.value.contains(':') {
        return Err(Invalid(format!(
            "ipAccessRules: {:?} is not an IPv6 address",
            rule.value
        )));
    }
    if rule.target == AccessRuleTarget::Ip && rule.value.contains(':') {
        return Err(Invalid(format!(
            "ipAccessRules: {:?} is IPv6; use target ip6",
            rule.value
        )));
    }
    if rule.target == AccessRuleTarget::IpRange
        && let Some(range) = key.strip_prefix("ip_range:")
        && !range_allowed(range)
    {
        return Err(Invalid(format!(
            "ipAccessRules: {:?}: {RANGES}",
            rule.value.trim()
        )));
    }
    let mode = to_value(&rule.mode);
    let notes = rule.notes.clone().unwrap_or_default();
    let raw = json!({"mode": mode, "configuration": {"target": target_str, "value": rule.value.trim()}, "notes": notes});
    Ok(Item::new(key)
        .field("mode", mode)
        .field("notes", notes)
        .with_raw(raw))
}

fn desired_settings(s: &ZoneSecuritySettings) -> Vec<Item> {
    let pairs: [(&str, Value); 6] = [
        ("security_level", to_value(&s.security_level)),
        ("ssl", to_value(&s.ssl)),
        ("min_tls_version", to_value(&s.min_tls_version)),
        ("tls_1_3", to_value(&s.tls13)),
        ("always_use_https", to_value(&s.always_use_https)),
        ("browser_check", to_value(&s.browser_check)),
    ];
    pairs
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(id, v)| {
            Item::new(id)
                .field("value", v.clone())
                .with_raw(json!({"id": id, "value": v}))
        })
        .collect()
}

fn mechanisms_value(email: &[String], webhooks: &[String], pagerduty: &[String]) -> Value {
    let mut out = Map::new();
    for (name, ids, fold) in [
        ("email", email, true),
        ("webhooks", webhooks, false),
        ("pagerduty", pagerduty, false),
    ] {
        if ids.is_empty() {
            continue;
        }
        let mut v: Vec<String> = ids
            .iter()
            .map(|i| {
                if fold {
                    normalize::folded(i)
                } else {
                    i.trim().to_string()
                }
            })
            .collect();
        v.sort();
        v.dedup();
        out.insert(name.to_string(), Value::from(v));
    }
    Value::Object(out)
}

fn filters_value(filters: &std::collections::BTreeMap<String, Vec<String>>) -> Value {
    let mut out = Map::new();
    for (k, values) in filters {
        out.insert(k.clone(), sorted_strings(values.iter().map(String::as_str)));
    }
    Value::Object(out)
}

fn desired_policy(p: &NotificationPolicy) -> Item {
    let enabled = p.enabled.unwrap_or(true);
    let mechanisms = mechanisms_value(
        &p.mechanisms.email,
        &p.mechanisms.webhooks,
        &p.mechanisms.pagerduty,
    );
    let api_mechanisms: Map<String, Value> = [
        ("email", &p.mechanisms.email),
        ("webhooks", &p.mechanisms.webhooks),
        ("pagerduty", &p.mechanisms.pagerduty),
    ]
    .into_iter()
    .filter(|(_, ids)| !ids.is_empty())
    .map(|(name, ids)| {
        (
            name.to_string(),
            Value::from(ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>()),
        )
    })
    .collect();
    let raw = json!({
        "name": p.name,
        "alert_type": p.alert_type,
        "enabled": enabled,
        "description": p.description.clone().unwrap_or_default(),
        "mechanisms": api_mechanisms,
        "filters": p.filters,
    });
    Item::new(&p.name)
        .field("alert_type", p.alert_type.as_str())
        .field("enabled", enabled)
        .field("description", p.description.clone().unwrap_or_default())
        .field("mechanisms", mechanisms)
        .field("filters", filters_value(&p.filters))
        .with_raw(raw)
}

/// A digest of the full destination, so a change in its masked part is still drift.
fn destination_digest(dest: &str) -> String {
    let d = Sha256::digest(dest.trim().as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn desired_logpush_job(j: &LogpushJob) -> Item {
    let enabled = j.enabled.unwrap_or(true);
    let mut raw = json!({"name": j.name, "dataset": j.dataset, "destination_conf": j.destination_conf, "enabled": enabled});
    let mut item = Item::new(&j.name)
        .field("dataset", j.dataset.as_str())
        .field(
            "destination",
            normalize::mask_destination(j.destination_conf.trim()),
        )
        .field(
            "destination_digest",
            destination_digest(&j.destination_conf),
        )
        .field("enabled", enabled);
    if let Some(fields) = &j.fields {
        raw["output_options"] = json!({"field_names": fields, "output_type": "ndjson"});
        item = item.field("fields", Value::from(fields.clone()));
    }
    item.with_raw(raw)
}

// ---- observed --------------------------------------------------------------------------

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A rule as read from a ruleset. Rules without a `ref` are keyed by their id (Cloudflare's default).
pub fn observed_rule(section: &str, rule: &Value) -> Option<Item> {
    let id = str_field(rule, "id");
    let key = str_field(rule, "ref").or(id)?;
    let action = rule.get("action").cloned().unwrap_or(Value::Null);
    let mut item = rule_item(
        key,
        str_field(rule, "description"),
        str_field(rule, "expression").unwrap_or_default(),
        &action,
        rule.get("enabled").and_then(Value::as_bool).unwrap_or(true),
    );
    if section == RATE_LIMIT {
        let rl = rule.get("ratelimit").cloned().unwrap_or(Value::Null);
        let chars: Vec<&str> = rl
            .get("characteristics")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        item = item
            .field("characteristics", sorted_strings(chars.into_iter()))
            .field("period", rl.get("period").cloned().unwrap_or(Value::Null))
            .field(
                "requests_per_period",
                rl.get("requests_per_period")
                    .cloned()
                    .unwrap_or(Value::Null),
            )
            .field(
                "mitigation_timeout",
                rl.get("mitigation_timeout").cloned().unwrap_or(Value::Null),
            )
            .field(
                "counting_expression",
                str_field(&rl, "counting_expression")
                    .map(normalize::expression)
                    .unwrap_or_default(),
            );
    } else {
        item = item.field(
            "action_parameters",
            normalize_action_parameters(rule.get("action_parameters")),
        );
    }
    if let Some(id) = id {
        item = item.with_handle(id);
    }
    Some(item.with_raw(rule.clone()))
}

fn normalize_action_parameters(v: Option<&Value>) -> Value {
    let Some(Value::Object(map)) = v else {
        return Value::Null;
    };
    let mut out = Map::new();
    for (k, v) in map {
        match (k.as_str(), v) {
            ("phases" | "products", Value::Array(a)) => {
                out.insert(
                    k.clone(),
                    sorted_strings(a.iter().filter_map(Value::as_str)),
                );
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if out.is_empty() {
        Value::Null
    } else {
        Value::Object(out)
    }
}

pub fn observed_access_rule(rule: &Value) -> Option<Item> {
    let id = str_field(rule, "id")?;
    let conf = rule.get("configuration")?;
    let key = access_key(str_field(conf, "target")?, str_field(conf, "value")?).ok()?;
    Some(
        Item::new(key)
            .field("mode", rule.get("mode").cloned().unwrap_or(Value::Null))
            .field("notes", str_field(rule, "notes").unwrap_or_default())
            .with_handle(id)
            .with_raw(rule.clone()),
    )
}

pub fn observed_setting(setting: &Value) -> Option<Item> {
    let id = str_field(setting, "id")?;
    Some(Item::new(id).field(
        "value",
        setting.get("value").cloned().unwrap_or(Value::Null),
    ))
}

pub fn observed_policy(p: &Value) -> Option<Item> {
    let id = str_field(p, "id")?;
    let name = str_field(p, "name")?;
    let ids = |kind: &str| -> Vec<String> {
        p.get("mechanisms")
            .and_then(|m| m.get(kind))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.get("id").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut filters = std::collections::BTreeMap::new();
    if let Some(Value::Object(map)) = p.get("filters") {
        for (k, v) in map {
            let values: Vec<String> = v
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            filters.insert(k.clone(), values);
        }
    }
    Some(
        Item::new(name)
            .field(
                "alert_type",
                p.get("alert_type").cloned().unwrap_or(Value::Null),
            )
            .field(
                "enabled",
                p.get("enabled").and_then(Value::as_bool).unwrap_or(false),
            )
            .field(
                "description",
                str_field(p, "description").unwrap_or_default(),
            )
            .field(
                "mechanisms",
                mechanisms_value(&ids("email"), &ids("webhooks"), &ids("pagerduty")),
            )
            .field("filters", filters_value(&filters))
            .with_handle(id)
            .with_raw(p.clone()),
    )
}

/// Where the account's enabled notification policies send alerts (`policies` as the API
/// lists them), joined with its webhook destinations (`webhooks`) and the declared channel of
/// each Slack webhook. Never quotes a webhook URL: for Slack it is the credential itself.
/// A Slack webhook whose last delivery failed after its last success is a route with a
/// problem; one whose channel is not declared cannot be checked.
pub fn alert_routes(
    policies: &[Value],
    webhooks: &[Value],
    channels: &SlackChannels,
) -> Vec<AlertRoute> {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    let mut routes = Vec::new();
    for p in policies {
        if p.get("enabled").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let route = format!(
            "notification policy '{}'",
            crate::http::sanitize(&text(p, "name"), 100)
        );
        let targets = |kind: &str| -> Vec<String> {
            p.pointer(&format!("/mechanisms/{kind}"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.get("id").and_then(Value::as_str))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let other = |what: String| AlertRoute {
            route: route.clone(),
            slack: None,
            other: Some(what),
            problem: None,
        };
        for id in targets("webhooks") {
            let hook = webhooks
                .iter()
                .find(|w| text(w, "id").eq_ignore_ascii_case(&id));
            let Some(hook) = hook else {
                let mut r = other(format!(
                    "webhook destination {}",
                    crate::http::sanitize(&id, 40)
                ));
                r.problem = Some("the webhook destination does not exist at Cloudflare".into());
                routes.push(r);
                continue;
            };
            let name = crate::http::sanitize(&text(hook, "name"), 100);
            if text(hook, "type") != "slack" {
                let kind = crate::http::sanitize(&text(hook, "type"), 20);
                routes.push(other(format!("{kind} webhook '{name}'")));
                continue;
            }
            let failing = match (ts(hook, "last_failure"), ts(hook, "last_success")) {
                (Some(failed), Some(ok)) if failed > ok => Some(failed),
                (Some(failed), None) => Some(failed),
                _ => None,
            };
            let problem = failing.map(|at| format!("Slack webhook '{name}' failing since {at}"));
            match channels.0.get(&id.to_ascii_lowercase()) {
                Some(channel) => routes.push(AlertRoute {
                    route: format!("{route} via Slack webhook '{name}'"),
                    slack: Some(channel.clone()),
                    other: None,
                    problem,
                }),
                None => {
                    let mut r = other(format!(
                        "Slack webhook '{name}' (its channel is not declared in slackWebhooks)"
                    ));
                    r.problem = problem;
                    routes.push(r);
                }
            }
        }
        let emails = targets("email").len();
        if emails > 0 {
            routes.push(other(format!("e-mail to {emails} address(es)")));
        }
        if !targets("pagerduty").is_empty() {
            routes.push(other("PagerDuty".into()));
        }
    }
    routes
}

fn ts(v: &Value, key: &str) -> Option<jiff::Timestamp> {
    v.get(key)?.as_str()?.parse().ok()
}

pub fn observed_logpush_job(j: &Value) -> Option<Item> {
    let id = j.get("id").map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })?;
    // Unnamed jobs cannot be declared; key them by id so they still show as unmanaged.
    let key = str_field(j, "name")
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("id-{id}"));
    let dest = str_field(j, "destination_conf").unwrap_or_default();
    let fields = j
        .get("output_options")
        .and_then(|o| o.get("field_names"))
        .cloned()
        .unwrap_or(Value::Null);
    Some(
        Item::new(key)
            .field("dataset", j.get("dataset").cloned().unwrap_or(Value::Null))
            .field("destination", normalize::mask_destination(dest.trim()))
            .field("destination_digest", destination_digest(dest))
            .field(
                "enabled",
                j.get("enabled").and_then(Value::as_bool).unwrap_or(false),
            )
            .field("fields", fields)
            .with_handle(id)
            .with_raw(j.clone()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Undeclared;
    use crate::core::diff;

    fn fw(yaml: &str) -> CloudflareFirewall {
        serde_yaml::from_str(yaml).expect("test fixture parses")
    }

    fn observed(section: &str, kind: SectionKind, items: Vec<Item>) -> State {
        State {
            sections: vec![Section::new(section, kind, items)],
        }
    }

    /// The target says where it applies as a typed scope: the firewall's zone, or for
    /// monitoring the zone when given, else the account.
    #[test]
    fn targets_carry_their_zone_or_the_account() {
        let zone = "023e105f4ecef8ad9ca31a8372d0c353";
        let mon = |yaml: &str| -> CloudflareMonitoring {
            serde_yaml::from_str(yaml).expect("test fixture parses")
        };
        let cases = [
            (
                firewall_target(&fw(&format!("zoneId: {zone}"))),
                CloudflareScope::Zone(zone.into()),
                Purpose::Firewall,
            ),
            (
                monitoring_target(&mon(&format!("zoneId: {zone}"))),
                CloudflareScope::Zone(zone.into()),
                Purpose::Monitoring,
            ),
            (
                monitoring_target(&mon("notificationPolicies: []")),
                CloudflareScope::Account,
                Purpose::Monitoring,
            ),
        ];
        for (target, want, purpose) in cases {
            let target = target.expect("valid");
            assert_eq!(target.scope.get::<CloudflareScope>(), Some(&want));
            assert_eq!(target.scope.to_string(), want.to_string());
            assert_eq!(target.purpose, purpose);
        }
    }

    #[test]
    fn equal_states_written_differently_show_no_drift() {
        let desired = fw(r#"
zoneId: 023e105f4ecef8ad9ca31a8372d0c353
wafCustomRules:
  - ref: block-admin
    expression: "( http.request.uri.path contains \"/admin\" )"
    action: block
ipAccessRules:
  - {mode: block, target: ip6, value: "2001:DB8::0001"}
  - {mode: whitelist, target: ip_range, value: "192.0.2.7/24", notes: office}
  - {mode: block, target: country, value: "KP"}
"#);
        let target = firewall_target(&desired).expect("valid");
        let cf_rule = json!({"id": "r1", "ref": "block-admin", "expression": "(http.request.uri.path contains \"/admin\")", "action": "block", "description": "", "version": "3", "last_updated": "2024-01-01T00:00:00Z"});
        let cf_access = [
            json!({"id": "a1", "mode": "block", "configuration": {"target": "ip6", "value": "2001:db8::1"}, "notes": ""}),
            json!({"id": "a2", "mode": "whitelist", "configuration": {"target": "ip_range", "value": "192.0.2.0/24"}, "notes": "office"}),
            json!({"id": "a3", "mode": "block", "configuration": {"target": "country", "value": "kp"}, "notes": ""}),
        ];
        let mut obs = observed(
            WAF,
            SectionKind::Ordered,
            vec![observed_rule(WAF, &cf_rule).expect("rule")],
        );
        obs.push(Section::new(
            ACCESS,
            SectionKind::Unordered,
            cf_access.iter().filter_map(observed_access_rule).collect(),
        ));
        let d = diff(&target.desired, &obs, Undeclared::Report);
        assert!(d.in_sync(), "{:?}", d.drift);
        assert_eq!(d.managed, 4);
    }

    #[test]
    fn rule_drift_is_reported_field_by_field() {
        let desired = fw(r#"
zoneId: 023e105f4ecef8ad9ca31a8372d0c353
wafCustomRules:
  - {ref: block-admin, expression: "(http.request.uri.path contains \"/admin\")", action: block}
"#);
        let target = firewall_target(&desired).expect("valid");
        let cf_rule = json!({"id": "r1", "ref": "block-admin", "expression": "(http.request.uri.path contains \"/admin\")", "action": "log", "enabled": false});
        let obs = observed(
            WAF,
            SectionKind::Ordered,
            vec![observed_rule(WAF, &cf_rule).expect("rule")],
        );
        let d = diff(&target.desired, &obs, Undeclared::Report);
        let paths: Vec<&str> = d.drift.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "wafCustomRules[block-admin].action",
                "wafCustomRules[block-admin].enabled"
            ]
        );
    }

    #[test]
    fn rate_limit_rules_compare_the_ratelimit_object() {
        let desired = fw(r#"
zoneId: 023e105f4ecef8ad9ca31a8372d0c353
rateLimitRules:
  - {ref: login, expression: "(http.request.uri.path eq \"/login\")", action: block, characteristics: [ip.src, cf.colo.id], period: 60, requestsPerPeriod: 10, mitigationTimeout: 600}
"#);
        let target = firewall_target(&desired).expect("valid");
        let same = json!({"id": "r", "ref": "login", "expression": "(http.request.uri.path eq \"/login\")", "action": "block", "ratelimit": {"characteristics": ["cf.colo.id", "ip.src"], "period": 60, "requests_per_period": 10, "mitigation_timeout": 600}});
        let mut looser = same.clone();
        looser["ratelimit"]["requests_per_period"] = json!(100);
        for (obs_rule, want) in [
            (same, vec![]),
            (looser, vec!["rateLimitRules[login].requests_per_period"]),
        ] {
            let obs = observed(
                RATE_LIMIT,
                SectionKind::Ordered,
                vec![observed_rule(RATE_LIMIT, &obs_rule).expect("rule")],
            );
            let d = diff(&target.desired, &obs, Undeclared::Report);
            let paths: Vec<&str> = d.drift.iter().map(|x| x.path.as_str()).collect();
            assert_eq!(paths, want);
        }
    }

    #[test]
    fn invalid_blocks_are_rejected_with_a_reason() {
        let cases = [
            (
                "ipAccessRules: [{mode: block, target: ip_range, value: \"10.0.0.0/99\"}]",
                "not a CIDR",
            ),
            (
                "ipAccessRules: [{mode: block, target: ip, value: \"2001:db8::1\"}]",
                "use target ip6",
            ),
            (
                "ipAccessRules: [{mode: block, target: ip, value: \"10.0.0.1\"}, {mode: challenge, target: ip, value: \" 10.0.0.1\"}]",
                "declared twice",
            ),
            (
                "rateLimitRules: [{ref: a, expression: x, action: block, characteristics: [ip.src], period: 60, requestsPerPeriod: 1, mitigationTimeout: 60}]",
                "cf.colo.id",
            ),
        ];
        for (block, want) in cases {
            let desired = fw(&format!(
                "zoneId: 023e105f4ecef8ad9ca31a8372d0c353\n{block}"
            ));
            match firewall_target(&desired) {
                Ok(_) => panic!("{block} should be invalid"),
                Err(e) => assert!(e.0.contains(want), "{block}: {} should mention {want}", e.0),
            }
        }
    }

    #[test]
    fn logpush_destinations_never_appear_unmasked_in_the_model() {
        let mon: CloudflareMonitoring = serde_yaml::from_str(
            "zoneId: 023e105f4ecef8ad9ca31a8372d0c353\nlogpushJobs: [{name: fw, dataset: firewall_events, destinationConf: \"s3://b/p?region=us-east-1&secret-access-key=TOPSECRET\"}]",
        )
        .expect("parses");
        let target = monitoring_target(&mon).expect("valid");
        let item = &target.desired.sections[0].items[0];
        let shown = serde_json::to_string(&item.fields).expect("json");
        assert!(!shown.contains("TOPSECRET"), "{shown}");
        let other = json!({"id": 1, "name": "fw", "dataset": "firewall_events", "destination_conf": "s3://b/p?region=us-east-1&secret-access-key=OTHER", "enabled": true});
        let obs = observed(
            LOGPUSH,
            SectionKind::Unordered,
            vec![observed_logpush_job(&other).expect("job")],
        );
        let d = diff(&target.desired, &obs, Undeclared::Report);
        let paths: Vec<&str> = d.drift.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(
            paths,
            ["logpushJobs[fw].destination_digest"],
            "a changed key is drift even though it is masked"
        );
    }

    /// Routes of enabled policies only; a Slack webhook reaches its declared channel (and its
    /// URL is never quoted); an undeclared one, another kind, e-mail and PagerDuty cannot be
    /// checked; a missing destination or a failing webhook is a route with a problem.
    #[test]
    fn alert_routes_join_policies_webhooks_and_declared_channels() {
        const SLACK: &str = "14cc1190-5d2b-4b98-a696-c424cb2ad05f";
        const UNDECLARED: &str = "24cc1190-5d2b-4b98-a696-c424cb2ad05f";
        const GENERIC: &str = "34cc1190-5d2b-4b98-a696-c424cb2ad05f";
        const GONE: &str = "44cc1190-5d2b-4b98-a696-c424cb2ad05f";
        let policy = |name: &str, enabled: bool, hooks: &[&str], email: usize| {
            json!({
                "name": name, "enabled": enabled,
                "mechanisms": {
                    "webhooks": hooks.iter().map(|h| json!({"id": h})).collect::<Vec<_>>(),
                    "email": (0..email).map(|i| json!({"id": format!("o{i}@example.com")})).collect::<Vec<_>>(),
                }
            })
        };
        let hook = |id: &str, name: &str, kind: &str, ok: Option<&str>, failed: Option<&str>| {
            let mut h = json!({"id": id, "name": name, "type": kind,
                "url": format!("https://hooks.slack.com/services/T0/B0/secret-{name}")});
            if let Some(t) = ok {
                h["last_success"] = json!(t);
            }
            if let Some(t) = failed {
                h["last_failure"] = json!(t);
            }
            h
        };
        let webhooks = [
            hook(
                SLACK,
                "alerts",
                "slack",
                Some("2026-11-29T10:00:00Z"),
                Some("2026-11-28T10:00:00Z"),
            ),
            hook(
                UNDECLARED,
                "ops",
                "slack",
                None,
                Some("2026-11-29T09:00:00Z"),
            ),
            hook(GENERIC, "siem", "generic", None, None),
        ];
        let channels = SlackChannels(
            [(
                SLACK.to_string(),
                SlackChannelRef {
                    team: Some("T0ABCDEFG".into()),
                    channel: "C0ALERTS1".into(),
                },
            )]
            .into(),
        );
        let policies = [
            policy("ddos", true, &[SLACK, UNDECLARED, GENERIC, GONE], 2),
            policy("off", false, &[SLACK], 1),
        ];
        let routes = alert_routes(&policies, &webhooks, &channels);
        type Seen = (String, Option<String>, Option<String>, Option<String>);
        let seen: Vec<Seen> = routes
            .iter()
            .map(|r| {
                (
                    r.route.clone(),
                    r.slack.as_ref().map(|s| s.channel.clone()),
                    r.other.clone(),
                    r.problem.clone(),
                )
            })
            .collect();
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            seen,
            [
                (
                    "notification policy 'ddos' via Slack webhook 'alerts'".to_string(),
                    s("C0ALERTS1"),
                    None,
                    None
                ),
                (
                    "notification policy 'ddos'".to_string(),
                    None,
                    s("Slack webhook 'ops' (its channel is not declared in slackWebhooks)"),
                    s("Slack webhook 'ops' failing since 2026-11-29T09:00:00Z")
                ),
                (
                    "notification policy 'ddos'".to_string(),
                    None,
                    s("generic webhook 'siem'"),
                    None
                ),
                (
                    "notification policy 'ddos'".to_string(),
                    None,
                    s(&format!("webhook destination {GONE}")),
                    s("the webhook destination does not exist at Cloudflare")
                ),
                (
                    "notification policy 'ddos'".to_string(),
                    None,
                    s("e-mail to 2 address(es)"),
                    None
                ),
            ]
        );
        let text = format!("{routes:?}");
        assert!(!text.contains("hooks.slack.com") && !text.contains("secret-"));
    }
}
