//! Pure mapping between GCP's API objects (Compute v1, Monitoring v3, Network Management v1),
//! the policy blocks and the neutral model. No HTTP here.

use std::fmt;

use serde_json::{Map, Value, json};

use crate::core::addresses::{self, Resolver, SetError};
use crate::core::model::unique_keys as unique;
use crate::core::normalize::{self, Invalid};
use crate::core::{Item, Section, SectionKind, State};
use crate::providers::gcp::api::{
    AlertPolicy, Direction, FirewallRule, GcpFirewall, GcpMonitoring, MAX_RANGES, ProtocolPorts,
    SecurityPolicy, SecurityPolicyRule, UptimeCheck,
};
use crate::providers::{Finding, Purpose, Scope, Target};

/// An ingress firewall rule open to 0.0.0.0/0 or ::/0.
pub const WORLD_OPEN_INGRESS: &str = "WorldOpenIngress";
/// A subnet of a watched region without VPC flow logs.
pub const SUBNET_WITHOUT_FLOW_LOGS: &str = "SubnetWithoutFlowLogs";

pub const FIREWALLS: &str = "firewallRules";
/// Cloud Armor: one item per declared policy (key = policy name) and one per rule
/// (key = `policy/priority`).
pub const ARMOR: &str = "cloudArmorPolicies";
/// One item per region (key = region): the subnets that lack flow logs, desired empty.
pub const FLOW_LOGS: &str = "subnetFlowLogs";
pub const ALERTS: &str = "alertPolicies";
pub const UPTIME: &str = "uptimeChecks";

/// Compute's defaults for fields a rule may leave out.
pub const DEFAULT_PRIORITY: u64 = 1000;
/// Cloud Armor's default rule, created with every policy.
pub const DEFAULT_ARMOR_PRIORITY: u64 = 2_147_483_647;

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

// ---- normalisation ------------------------------------------------------------------------

/// Protocol numbers Compute also accepts by name.
pub fn protocol(value: &str) -> String {
    let v = value.trim().to_ascii_lowercase();
    match v.as_str() {
        "1" => "icmp",
        "4" => "ipip",
        "6" => "tcp",
        "17" => "udp",
        "50" => "esp",
        "51" => "ah",
        "132" => "sctp",
        other => other,
    }
    .to_string()
}

/// `80-80` → `80`; ports sorted by their first number, duplicates dropped.
fn ports(values: &[String]) -> Vec<String> {
    let mut out: Vec<(u32, String)> = values
        .iter()
        .map(|p| {
            let p = p.trim();
            let canonical = match p.split_once('-') {
                Some((a, b)) if a == b => a.to_string(),
                _ => p.to_string(),
            };
            let first = canonical
                .split('-')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(u32::MAX);
            (first, canonical)
        })
        .collect();
    out.sort();
    out.dedup();
    out.into_iter().map(|(_, p)| p).collect()
}

/// `[{IPProtocol: "6", ports: ["443", "22"]}]` → `["tcp:22,443"]`, sorted.
fn protocol_list(entries: &[(String, Vec<String>)]) -> Value {
    let mut out: Vec<String> = entries
        .iter()
        .map(|(proto, p)| {
            let proto = protocol(proto);
            let p = ports(p);
            if p.is_empty() {
                proto
            } else {
                format!("{proto}:{}", p.join(","))
            }
        })
        .collect();
    out.sort();
    out.dedup();
    Value::from(out)
}

fn declared_protocols(list: Option<&Vec<ProtocolPorts>>) -> Vec<(String, Vec<String>)> {
    list.map(|l| {
        l.iter()
            .map(|p| (p.ip_protocol.clone(), p.ports.clone().unwrap_or_default()))
            .collect()
    })
    .unwrap_or_default()
}

fn observed_protocols(list: Option<&Value>) -> Vec<(String, Vec<String>)> {
    list.and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .map(|p| {
                    (
                        p.get("IPProtocol")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        strings(p.get("ports")),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn sorted(mut v: Vec<String>) -> Value {
    v.sort();
    v.dedup();
    Value::from(v)
}

/// CIDRs in canonical form, sorted. Observed values that do not parse are kept as given
/// (so they show as drift rather than failing the whole read).
fn cidrs(values: &[String], strict: bool) -> Result<Value, Invalid> {
    let mut out = Vec::new();
    for v in values {
        match normalize::cidr(v) {
            Ok(c) => out.push(c),
            Err(e) if strict => return Err(e),
            Err(_) => out.push(v.trim().to_string()),
        }
    }
    Ok(sorted(out))
}

/// The last path segment of a resource URL (`…/global/networks/default` → `default`).
pub fn last_segment(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

// ---- firewall rules -----------------------------------------------------------------------

#[allow(clippy::too_many_arguments)] // one call site each for declared and observed rules
fn firewall_item(
    name: &str,
    direction: &str,
    priority: u64,
    allowed: Value,
    denied: Value,
    source: Value,
    destination: Value,
    tags: [Vec<String>; 3],
    disabled: bool,
    logging: bool,
) -> Item {
    let [source_tags, target_tags, target_sas] = tags;
    Item::new(name)
        .field("direction", direction)
        .field("priority", priority)
        .field("allowed", allowed)
        .field("denied", denied)
        .field("sourceRanges", source)
        .field("destinationRanges", destination)
        .field("sourceTags", sorted(source_tags))
        .field("targetTags", sorted(target_tags))
        .field("targetServiceAccounts", sorted(target_sas))
        .field("disabled", disabled)
        .field("logging", logging)
}

pub fn desired_firewall_rule(network: &str, rule: &FirewallRule) -> Result<Item, Invalid> {
    let direction = match rule.direction.unwrap_or_default() {
        Direction::Ingress => "INGRESS",
        Direction::Egress => "EGRESS",
    };
    let mut raw = to_value(rule);
    if let Value::Object(map) = &mut raw {
        // A partial URL: Compute resolves it in the request's project.
        map.insert(
            "network".into(),
            json!(format!("global/networks/{network}")),
        );
        map.insert("direction".into(), json!(direction));
    }
    let source = rule.source_ranges.clone().unwrap_or_default();
    let destination = rule.destination_ranges.clone().unwrap_or_default();
    let item = firewall_item(
        &rule.name,
        direction,
        rule.priority.map_or(DEFAULT_PRIORITY, u64::from),
        protocol_list(&declared_protocols(rule.allowed.as_ref())),
        protocol_list(&declared_protocols(rule.denied.as_ref())),
        cidrs(&source, true).map_err(|e| Invalid(format!("{FIREWALLS}[{}]: {e}", rule.name)))?,
        cidrs(&destination, true)
            .map_err(|e| Invalid(format!("{FIREWALLS}[{}]: {e}", rule.name)))?,
        [
            rule.source_tags.clone().unwrap_or_default(),
            rule.target_tags.clone().unwrap_or_default(),
            rule.target_service_accounts.clone().unwrap_or_default(),
        ],
        rule.disabled.unwrap_or(false),
        rule.log_config.as_ref().is_some_and(|l| l.enable),
    )
    .opt_field("description", rule.description.clone());
    Ok(item.with_raw(raw))
}

/// A Compute `Firewall`; `None` without a name.
pub fn observed_firewall_rule(v: &Value) -> Option<Item> {
    let name = v.get("name")?.as_str()?;
    let source = strings(v.get("sourceRanges"));
    let destination = strings(v.get("destinationRanges"));
    let item = firewall_item(
        name,
        v.get("direction")
            .and_then(Value::as_str)
            .unwrap_or("INGRESS"),
        v.get("priority")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_PRIORITY),
        protocol_list(&observed_protocols(v.get("allowed"))),
        protocol_list(&observed_protocols(v.get("denied"))),
        cidrs(&source, false).ok()?,
        cidrs(&destination, false).ok()?,
        [
            strings(v.get("sourceTags")),
            strings(v.get("targetTags")),
            strings(v.get("targetServiceAccounts")),
        ],
        v.get("disabled").and_then(Value::as_bool).unwrap_or(false),
        v.pointer("/logConfig/enable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    )
    .field(
        "description",
        v.get("description").and_then(Value::as_str).unwrap_or(""),
    );
    Some(item.with_handle(name).with_raw(v.clone()))
}

/// Whether a Compute `Firewall` belongs to the VPC network `network`.
pub fn in_network(v: &Value, network: &str) -> bool {
    v.get("network")
        .and_then(Value::as_str)
        .is_some_and(|n| last_segment(n) == network)
}

/// An enabled ingress rule that allows something from anywhere.
pub fn world_open_ingress(v: &Value) -> Option<Finding> {
    let name = v.get("name")?.as_str()?;
    let ingress = v
        .get("direction")
        .and_then(Value::as_str)
        .unwrap_or("INGRESS")
        == "INGRESS";
    let disabled = v.get("disabled").and_then(Value::as_bool).unwrap_or(false);
    let allows = v
        .get("allowed")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let world = strings(v.get("sourceRanges"))
        .iter()
        .any(|r| matches!(normalize::cidr(r).as_deref(), Ok("0.0.0.0/0" | "::/0")));
    if !(ingress && !disabled && allows && world) {
        return None;
    }
    let what = protocol_list(&observed_protocols(v.get("allowed")));
    Some(Finding {
        code: WORLD_OPEN_INGRESS,
        subject: format!("{FIREWALLS}[{name}]"),
        message: format!(
            "allows {} from anywhere (0.0.0.0/0)",
            crate::core::drift::render(&what)
        ),
    })
}

/// Fields a firewall PATCH carries: every managed field, so lists that became empty are cleared.
pub fn firewall_patch_body(desired_raw: &Value) -> Value {
    let mut body = Map::new();
    for key in [
        "description",
        "direction",
        "priority",
        "allowed",
        "denied",
        "sourceRanges",
        "destinationRanges",
        "sourceTags",
        "targetTags",
        "targetServiceAccounts",
        "disabled",
        "logConfig",
    ] {
        let value = match (key, desired_raw.get(key)) {
            (_, Some(v)) => v.clone(),
            ("priority", None) => json!(DEFAULT_PRIORITY),
            ("disabled", None) => json!(false),
            ("logConfig", None) => json!({"enable": false}),
            ("description", None) => json!(""),
            (_, None) => json!([]),
        };
        body.insert(key.into(), value);
    }
    Value::Object(body)
}

// ---- Cloud Armor --------------------------------------------------------------------------

pub fn armor_rule_key(policy: &str, priority: u64) -> String {
    format!("{policy}/{priority}")
}

fn armor_match_fields(m: Option<&Value>) -> (Value, Value) {
    let ranges = strings(m.and_then(|m| m.pointer("/config/srcIpRanges")));
    let ranges = ranges
        .iter()
        .map(|r| {
            if r.trim() == "*" {
                "*".to_string()
            } else {
                normalize::cidr(r).unwrap_or_else(|_| r.trim().to_string())
            }
        })
        .collect();
    let expr = m
        .and_then(|m| m.pointer("/expr/expression"))
        .and_then(Value::as_str)
        .map(normalize::expression)
        .unwrap_or_default();
    (sorted(ranges), Value::from(expr))
}

fn armor_rule_item(policy: &str, rule: &Value) -> Option<Item> {
    let priority = rule.get("priority")?.as_u64()?;
    let (ranges, expr) = armor_match_fields(rule.get("match"));
    Some(
        Item::new(armor_rule_key(policy, priority))
            .field(
                "action",
                rule.get("action").and_then(Value::as_str).unwrap_or(""),
            )
            .field(
                "description",
                rule.get("description")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            )
            .field(
                "preview",
                rule.get("preview")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            )
            .field("srcIpRanges", ranges)
            .field("expression", expr)
            .with_handle(policy)
            .with_raw(rule.clone()),
    )
}

fn desired_armor_rule(policy: &str, rule: &SecurityPolicyRule) -> Result<Item, Invalid> {
    if let Some(cfg) = &rule.rule_match.config {
        for r in &cfg.src_ip_ranges {
            if r != "*" {
                normalize::cidr(r)
                    .map_err(|e| Invalid(format!("{ARMOR}[{policy}/{}]: {e}", rule.priority)))?;
            }
        }
    }
    let raw = to_value(rule);
    armor_rule_item(policy, &raw)
        .ok_or_else(|| Invalid(format!("{ARMOR}[{policy}]: a rule has no priority")))
}

fn armor_policy_item(name: &str, description: &str) -> Item {
    Item::new(name).field("description", description)
}

pub fn desired_armor_policy(p: &SecurityPolicy) -> Result<Vec<Item>, Invalid> {
    let description = p.description.clone().unwrap_or_default();
    let mut items = vec![
        armor_policy_item(&p.name, &description)
            .with_raw(json!({"name": p.name, "description": description})),
    ];
    for rule in &p.rules {
        items.push(desired_armor_rule(&p.name, rule)?);
    }
    Ok(items)
}

/// A Compute `SecurityPolicy` → its policy item and its rules (the default rule only if
/// `keep_default`, i.e. when it is declared).
pub fn observed_armor_policy(v: &Value, keep_default: bool) -> Option<Vec<Item>> {
    let name = v.get("name")?.as_str()?;
    let description = v.get("description").and_then(Value::as_str).unwrap_or("");
    let mut items = vec![
        armor_policy_item(name, description)
            .with_handle(name)
            .with_raw(v.clone()),
    ];
    for rule in v
        .get("rules")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let item = armor_rule_item(name, rule)?;
        let is_default =
            rule.get("priority").and_then(Value::as_u64) == Some(DEFAULT_ARMOR_PRIORITY);
        if !is_default || keep_default {
            items.push(item);
        }
    }
    Some(items)
}

/// `policy/priority` → (policy, priority); `None` for a policy-level key.
pub fn split_armor_key(key: &str) -> Option<(&str, u64)> {
    let (policy, priority) = key.split_once('/')?;
    Some((policy, priority.parse().ok()?))
}

// ---- flow logs ----------------------------------------------------------------------------

/// Whether a `VpcFlowLogsConfig` turns logs on for this subnet (by subnet or by its network).
pub fn flow_logs_config_covers(config: &Value, subnet: &Value) -> bool {
    if config.get("state").and_then(Value::as_str) == Some("DISABLED") {
        return false;
    }
    let subnet_link = subnet.get("selfLink").and_then(Value::as_str).unwrap_or("");
    let subnet_name = subnet.get("name").and_then(Value::as_str).unwrap_or("");
    let region = subnet
        .get("region")
        .and_then(Value::as_str)
        .map(last_segment)
        .unwrap_or("");
    let network = subnet
        .get("network")
        .and_then(Value::as_str)
        .map(last_segment)
        .unwrap_or("");
    if let Some(s) = config.get("subnet").and_then(Value::as_str) {
        return s == subnet_link
            || s.ends_with(&format!("/regions/{region}/subnetworks/{subnet_name}"));
    }
    if let Some(n) = config.get("network").and_then(Value::as_str) {
        return !network.is_empty() && last_segment(n) == network;
    }
    false
}

/// Whether a subnet has flow logs from either source.
pub fn subnet_has_flow_logs(subnet: &Value, configs: &[Value]) -> bool {
    subnet
        .pointer("/logConfig/enable")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || configs.iter().any(|c| flow_logs_config_covers(c, subnet))
}

/// The observed flow-log item of one region: names of subnets without logs (sorted), limited
/// to `only` when given. The raw value lists those subnets' objects for the writer.
pub fn observed_flow_logs(
    region: &str,
    subnets: &[Value],
    configs: &[Value],
    only: Option<&[String]>,
) -> Item {
    let mut missing = Vec::new();
    let mut raw = Vec::new();
    for s in subnets {
        let Some(name) = s.get("name").and_then(Value::as_str) else {
            continue;
        };
        if only.is_some_and(|o| !o.iter().any(|n| n == name)) {
            continue;
        }
        if !subnet_has_flow_logs(s, configs) {
            missing.push(name.to_string());
            raw.push(s.clone());
        }
    }
    Item::new(region)
        .field("subnetsWithoutFlowLogs", sorted(missing))
        .with_raw(Value::from(raw))
}

pub fn subnet_findings(region: &str, subnets: &[Value], configs: &[Value]) -> Vec<Finding> {
    subnets
        .iter()
        .filter(|s| !subnet_has_flow_logs(s, configs))
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .map(|name| Finding {
            code: SUBNET_WITHOUT_FLOW_LOGS,
            subject: format!("subnets[{region}/{name}]"),
            message: "no VPC flow logs (neither subnet logConfig nor a vpcFlowLogsConfig)"
                .to_string(),
        })
        .collect()
}

// ---- alert policies and uptime checks -----------------------------------------------------

/// The compared fields of an alert policy, from its API JSON (declared or observed).
fn alert_item(v: &Value) -> Option<Item> {
    let name = v.get("displayName")?.as_str()?;
    let mut conditions: Vec<Value> = v
        .get("conditions")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().map(condition_fields).collect())
        .unwrap_or_default();
    conditions.sort_by_key(|c| c.to_string());
    Some(
        Item::new(name)
            .field(
                "combiner",
                v.get("combiner").and_then(Value::as_str).unwrap_or("OR"),
            )
            .field(
                "enabled",
                v.get("enabled").and_then(Value::as_bool).unwrap_or(true),
            )
            .field("conditions", Value::from(conditions))
            .field(
                "notificationChannels",
                sorted(strings(v.get("notificationChannels"))),
            ),
    )
}

/// A condition reduced to the fields Perimeter manages (`name` and unmanaged kinds dropped).
fn condition_fields(c: &Value) -> Value {
    let t = c.get("conditionThreshold").cloned().unwrap_or(Value::Null);
    let mut threshold = Map::new();
    for key in ["filter", "comparison", "duration", "aggregations"] {
        if let Some(v) = t.get(key) {
            threshold.insert(key.into(), v.clone());
        }
    }
    if let Some(f) = t.get("filter").and_then(Value::as_str) {
        threshold.insert("filter".into(), json!(normalize::expression(f)));
    }
    let value = t
        .get("thresholdValue")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    threshold.insert("thresholdValue".into(), json!(value));
    json!({
        "displayName": c.get("displayName").cloned().unwrap_or(Value::Null),
        "conditionThreshold": threshold,
    })
}

pub fn desired_alert_policy(p: &AlertPolicy) -> Item {
    let mut raw = to_value(p);
    if let Value::Object(map) = &mut raw {
        map.entry("combiner").or_insert(json!("OR"));
        map.entry("enabled").or_insert(json!(true));
    }
    alert_item(&raw)
        .unwrap_or_else(|| Item::new(&p.display_name))
        .with_raw(raw)
}

/// Where the project's enabled alert policies send notifications (`policies` as listed),
/// joined with its notification channels (`channels`). A Slack channel is named by its
/// `channel_name` label (`#name`: Google's API has no channel id); its `auth_token` label is a
/// credential and is never read. A disabled or missing channel is a route with a problem.
pub fn alert_routes(
    policies: &[Value],
    channels: &[Value],
) -> Vec<crate::core::routing::AlertRoute> {
    use crate::core::routing::{AlertRoute, SlackChannelRef};
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    let mut routes = Vec::new();
    for p in policies {
        if p.get("enabled").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let route = format!(
            "alert policy '{}'",
            crate::http::sanitize(&text(p, "displayName"), 100)
        );
        let names = p
            .get("notificationChannels")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>())
            .unwrap_or_default();
        for name in names {
            let Some(channel) = channels.iter().find(|c| text(c, "name") == name) else {
                routes.push(AlertRoute {
                    route: route.clone(),
                    slack: None,
                    other: Some(format!(
                        "notification channel {}",
                        crate::http::sanitize(name.rsplit('/').next().unwrap_or(name), 40)
                    )),
                    problem: Some("the notification channel does not exist".into()),
                });
                continue;
            };
            let shown = crate::http::sanitize(&text(channel, "displayName"), 100);
            let problem = (channel.get("enabled").and_then(Value::as_bool) == Some(false))
                .then(|| format!("notification channel '{shown}' is disabled"));
            let kind = text(channel, "type");
            let slack_name = channel
                .pointer("/labels/channel_name")
                .and_then(Value::as_str)
                .map(|n| crate::http::sanitize(n.trim_start_matches('#'), 80))
                .filter(|n| !n.is_empty());
            routes.push(match (kind.as_str(), slack_name) {
                ("slack", Some(n)) => AlertRoute {
                    route: format!("{route} via channel '{shown}'"),
                    slack: Some(SlackChannelRef {
                        team: None,
                        channel: format!("#{n}"),
                    }),
                    other: None,
                    problem,
                },
                _ => AlertRoute {
                    route: route.clone(),
                    slack: None,
                    other: Some(format!(
                        "{} channel '{shown}'",
                        crate::http::sanitize(&kind, 30)
                    )),
                    problem,
                },
            });
        }
    }
    routes
}

pub fn observed_alert_policy(v: &Value) -> Option<Item> {
    let handle = v.get("name")?.as_str()?;
    Some(alert_item(v)?.with_handle(handle).with_raw(v.clone()))
}

fn uptime_item(v: &Value) -> Option<Item> {
    let name = v.get("displayName")?.as_str()?;
    let http = v.get("httpCheck");
    Some(
        Item::new(name)
            .field(
                "monitoredResource",
                v.get("monitoredResource").cloned().unwrap_or(Value::Null),
            )
            .field(
                "path",
                http.and_then(|h| h.get("path"))
                    .and_then(Value::as_str)
                    .unwrap_or("/"),
            )
            .field(
                "port",
                http.and_then(|h| h.get("port"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
            )
            .field(
                "useSsl",
                http.and_then(|h| h.get("useSsl"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            )
            .field(
                "validateSsl",
                http.and_then(|h| h.get("validateSsl"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            )
            .field(
                "period",
                v.get("period").and_then(Value::as_str).unwrap_or("60s"),
            )
            .field(
                "timeout",
                v.get("timeout").and_then(Value::as_str).unwrap_or(""),
            ),
    )
}

pub fn desired_uptime_check(u: &UptimeCheck) -> Item {
    let mut raw = to_value(u);
    if let Value::Object(map) = &mut raw {
        map.entry("period").or_insert(json!("60s"));
    }
    // Port 0 means "the default for the scheme", as the API's own default does.
    uptime_item(&raw)
        .unwrap_or_else(|| Item::new(&u.display_name))
        .with_raw(raw)
}

pub fn observed_uptime_check(v: &Value) -> Option<Item> {
    let handle = v.get("name")?.as_str()?;
    let mut item = uptime_item(v)?;
    // The API fills in 80/443 when the port was left out.
    let ssl = item.fields.get("useSsl").and_then(Value::as_bool) == Some(true);
    if let Some(port) = item.fields.get("port").and_then(Value::as_u64)
        && port == if ssl { 443 } else { 80 }
    {
        item.fields.insert("port".into(), json!(0));
    }
    Some(item.with_handle(handle).with_raw(v.clone()))
}

fn desired_uptime_port(item: &mut Item) {
    let ssl = item.fields.get("useSsl").and_then(Value::as_bool) == Some(true);
    if let Some(port) = item.fields.get("port").and_then(Value::as_u64)
        && port == if ssl { 443 } else { 80 }
    {
        item.fields.insert("port".into(), json!(0));
    }
}

// ---- targets ------------------------------------------------------------------------------

/// Where a GCP target applies, in the CloudProvider's project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GcpScope {
    /// A firewall block: the VPC network its rules belong to.
    Network(String),
    /// A monitoring block: the regions whose subnets are watched for flow logs (empty: the
    /// CloudProvider's regions), and the only subnets flow logs are required on (`None`: all).
    Project {
        regions: Vec<String>,
        flow_log_subnets: Option<Vec<String>>,
    },
}

impl fmt::Display for GcpScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network(network) => write!(f, "network {network}"),
            Self::Project { .. } => f.write_str("project"),
        }
    }
}

/// `sourceAddressSets` and `destinationAddressSets` added to each firewall rule's
/// `sourceRanges` and `destinationRanges`. Compute takes IPv4 or IPv6 ranges in one rule, not
/// both ("A firewall rule can contain either IPv4 or IPv6 ranges, but not both", VPC firewall
/// rules documentation), and at most 5000 per list: a set that mixes the families in the rule,
/// or takes a list past 5000, is refused naming it, never written without some addresses.
pub fn with_address_sets(fw: &GcpFirewall, sets: &mut Resolver) -> Result<GcpFirewall, SetError> {
    let mut out = fw.clone();
    for (r, rule) in out.firewall_rules.iter_mut().flatten().enumerate() {
        for source in [true, false] {
            let (names, set_field, list_name) = if source {
                let names = rule.source_address_sets.take();
                (names, "sourceAddressSets", "sourceRanges")
            } else {
                let names = rule.destination_address_sets.take();
                (names, "destinationAddressSets", "destinationRanges")
            };
            for (i, name) in names.iter().flatten().enumerate() {
                let field = format!("spec.gcp.firewallRules[{r}].{set_field}[{i}]");
                let found = sets.addresses(&field, name)?;
                let list = if source {
                    &mut rule.source_ranges
                } else {
                    &mut rule.destination_ranges
                };
                addresses::merge(list, found);
                let count = list.as_ref().map_or(0, Vec::len);
                if count > MAX_RANGES {
                    return Err(Resolver::unsuitable(
                        &field,
                        name,
                        format!(
                            "takes {list_name} to {count} ranges, and a firewall rule takes at most {MAX_RANGES}"
                        ),
                    ));
                }
                let ranges = rule
                    .source_ranges
                    .iter()
                    .chain(rule.destination_ranges.iter())
                    .flatten();
                let (mut v4, mut v6) = (None, None);
                for range in ranges {
                    let slot = if addresses::is_v6(range) {
                        &mut v6
                    } else {
                        &mut v4
                    };
                    slot.get_or_insert(range);
                }
                if let (Some(v4), Some(v6)) = (v4, v6) {
                    return Err(Resolver::unsuitable(
                        &field,
                        name,
                        format!(
                            "makes the rule mix IPv4 ({v4}) and IPv6 ({v6}) ranges, and a GCP firewall rule takes one family: split it into an IPv4 and an IPv6 rule"
                        ),
                    ));
                }
            }
        }
    }
    Ok(out)
}

pub fn firewall_target(fw: &GcpFirewall) -> Result<Target, Invalid> {
    for (r, rule) in fw.firewall_rules.iter().flatten().enumerate() {
        if rule.source_address_sets.is_some() || rule.destination_address_sets.is_some() {
            return Err(addresses::unresolved(&format!(
                "spec.gcp.firewallRules[{r}]"
            )));
        }
    }
    let mut state = State::default();
    if let Some(rules) = &fw.firewall_rules {
        let items = rules
            .iter()
            .map(|r| desired_firewall_rule(&fw.network, r))
            .collect::<Result<Vec<_>, _>>()?;
        state.push(Section::new(
            FIREWALLS,
            SectionKind::Unordered,
            unique(FIREWALLS, items)?,
        ));
    }
    if let Some(policies) = &fw.cloud_armor_policies {
        let mut items = Vec::new();
        for p in policies {
            items.extend(desired_armor_policy(p)?);
        }
        state.push(Section::new(
            ARMOR,
            SectionKind::Unordered,
            unique(ARMOR, items)?,
        ));
    }
    Ok(Target {
        purpose: Purpose::Firewall,
        scope: Scope::new(GcpScope::Network(fw.network.clone())),
        desired: state,
    })
}

pub fn monitoring_target(mon: &GcpMonitoring) -> Result<Target, Invalid> {
    let mut state = State::default();
    if let Some(req) = &mon.flow_logs {
        let items = req
            .regions
            .iter()
            .map(|r| Item::new(r).field("subnetsWithoutFlowLogs", Value::Array(Vec::new())))
            .collect();
        state.push(Section::new(
            FLOW_LOGS,
            SectionKind::Settings,
            unique(FLOW_LOGS, items)?,
        ));
    }
    if let Some(policies) = &mon.alert_policies {
        let items = policies.iter().map(desired_alert_policy).collect();
        state.push(Section::new(
            ALERTS,
            SectionKind::Unordered,
            unique(ALERTS, items)?,
        ));
    }
    if let Some(checks) = &mon.uptime_checks {
        let items = checks
            .iter()
            .map(|c| {
                let mut item = desired_uptime_check(c);
                desired_uptime_port(&mut item);
                item
            })
            .collect();
        state.push(Section::new(
            UPTIME,
            SectionKind::Unordered,
            unique(UPTIME, items)?,
        ));
    }
    Ok(Target {
        purpose: Purpose::Monitoring,
        scope: Scope::new(GcpScope::Project {
            regions: mon.regions.clone(),
            flow_log_subnets: mon.flow_logs.as_ref().and_then(|f| f.subnets.clone()),
        }),
        desired: state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(v: Value) -> FirewallRule {
        serde_json::from_value(v).expect("rule")
    }

    #[test]
    fn firewall_rules_normalise_defaults_protocols_ports_and_cidrs() {
        let cases = [
            (
                json!({"name": "ssh", "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}], "sourceRanges": ["35.235.240.7/20"]}),
                json!({"name": "ssh", "network": "https://x/projects/p/global/networks/default", "direction": "INGRESS", "priority": 1000,
                       "allowed": [{"IPProtocol": "6", "ports": ["22-22"]}], "sourceRanges": ["35.235.240.0/20"], "logConfig": {"enable": false}}),
            ),
            (
                json!({"name": "web", "priority": 900, "allowed": [{"IPProtocol": "tcp", "ports": ["443", "80"]}, {"IPProtocol": "icmp"}],
                       "sourceRanges": ["10.0.0.0/8", "192.168.0.0/16"], "targetTags": ["web", "lb"]}),
                json!({"name": "web", "priority": 900, "allowed": [{"IPProtocol": "1"}, {"IPProtocol": "TCP", "ports": ["80", "443"]}],
                       "sourceRanges": ["192.168.0.0/16", "10.0.0.0/8"], "targetTags": ["lb", "web"], "disabled": false, "description": ""}),
            ),
            (
                json!({"name": "egress", "direction": "EGRESS", "denied": [{"IPProtocol": "all"}], "destinationRanges": ["0.0.0.0/0"]}),
                json!({"name": "egress", "direction": "EGRESS", "denied": [{"IPProtocol": "all"}], "destinationRanges": ["0.0.0.0/0"]}),
            ),
        ];
        for (declared, observed) in cases {
            let want = desired_firewall_rule("default", &rule(declared.clone())).expect("valid");
            let have = observed_firewall_rule(&observed).expect("observed");
            // Only declared fields are compared (an undeclared description is not).
            for (k, v) in &want.fields {
                assert_eq!(Some(v), have.fields.get(k), "{declared}: {k}");
            }
        }
    }

    #[test]
    fn firewall_field_changes_show_as_single_fields() {
        let want = desired_firewall_rule(
            "default",
            &rule(json!({"name": "ssh", "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}], "sourceRanges": ["35.235.240.0/20"]})),
        )
        .expect("valid");
        let have = observed_firewall_rule(&json!({"name": "ssh", "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}], "sourceRanges": ["0.0.0.0/0"], "logConfig": {"enable": true}}))
            .expect("observed");
        let differing: Vec<&String> = want
            .fields
            .keys()
            .filter(|k| want.fields.get(*k) != have.fields.get(*k))
            .collect();
        assert_eq!(differing, ["logging", "sourceRanges"]);
    }

    #[test]
    fn bad_cidrs_are_rejected_with_the_rule_name() {
        let err = desired_firewall_rule(
            "default",
            &rule(json!({"name": "x", "allowed": [{"IPProtocol": "tcp"}], "sourceRanges": ["10.0.0.300/8"]})),
        )
        .expect_err("invalid");
        assert!(err.0.contains("firewallRules[x]"), "{err}");
    }

    #[test]
    fn world_open_ingress_findings() {
        let cases = [
            (
                json!({"name": "a", "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}], "sourceRanges": ["0.0.0.0/0"]}),
                true,
            ),
            (
                json!({"name": "b", "allowed": [{"IPProtocol": "tcp"}], "sourceRanges": ["::/0"], "direction": "INGRESS"}),
                true,
            ),
            (
                json!({"name": "c", "allowed": [{"IPProtocol": "tcp"}], "sourceRanges": ["0.0.0.0/0"], "disabled": true}),
                false,
            ),
            (
                json!({"name": "d", "denied": [{"IPProtocol": "all"}], "sourceRanges": ["0.0.0.0/0"]}),
                false,
            ),
            (
                json!({"name": "e", "allowed": [{"IPProtocol": "all"}], "destinationRanges": ["0.0.0.0/0"], "direction": "EGRESS"}),
                false,
            ),
            (
                json!({"name": "f", "allowed": [{"IPProtocol": "tcp"}], "sourceRanges": ["10.0.0.0/8"]}),
                false,
            ),
        ];
        for (fw, want) in cases {
            let got = world_open_ingress(&fw);
            assert_eq!(got.is_some(), want, "{fw}");
            if let Some(f) = got {
                assert_eq!(f.code, "WorldOpenIngress");
                assert_eq!(
                    f.subject,
                    format!("firewallRules[{}]", fw["name"].as_str().unwrap_or(""))
                );
            }
        }
    }

    #[test]
    fn flow_logs_from_either_source() {
        let subnet = |name: &str, logs: bool| {
            json!({"name": name, "region": "https://x/projects/p/regions/europe-west1",
                   "network": "https://x/projects/p/global/networks/default",
                   "selfLink": format!("https://x/projects/p/regions/europe-west1/subnetworks/{name}"),
                   "logConfig": {"enable": logs}})
        };
        let by_subnet =
            json!({"subnet": "projects/p/regions/europe-west1/subnetworks/b", "state": "ENABLED"});
        let by_network = json!({"network": "projects/p/global/networks/other"});
        let disabled =
            json!({"subnet": "projects/p/regions/europe-west1/subnetworks/c", "state": "DISABLED"});
        let configs = [by_subnet, by_network, disabled];
        let subnets = [
            subnet("a", true),
            subnet("b", false),
            subnet("c", false),
            subnet("d", false),
        ];
        let item = observed_flow_logs("europe-west1", &subnets, &configs, None);
        assert_eq!(item.fields["subnetsWithoutFlowLogs"], json!(["c", "d"]));
        let only = ["d".to_string()];
        let item = observed_flow_logs("europe-west1", &subnets, &configs, Some(&only));
        assert_eq!(item.fields["subnetsWithoutFlowLogs"], json!(["d"]));
        let findings = subnet_findings("europe-west1", &subnets, &configs);
        let subjects: Vec<&str> = findings.iter().map(|f| f.subject.as_str()).collect();
        assert_eq!(
            subjects,
            ["subnets[europe-west1/c]", "subnets[europe-west1/d]"]
        );
        let whole_network = [json!({"network": "global/networks/default"})];
        assert!(subnet_findings("europe-west1", &subnets, &whole_network).is_empty());
    }

    #[test]
    fn armor_rules_are_keyed_by_policy_and_priority_and_skip_the_default_rule() {
        let observed = json!({"name": "edge", "fingerprint": "abc", "rules": [
            {"priority": 1000, "action": "deny(403)", "match": {"versionedExpr": "SRC_IPS_V1", "config": {"srcIpRanges": ["198.51.100.7/24"]}}},
            {"priority": 2147483647, "action": "allow", "match": {"versionedExpr": "SRC_IPS_V1", "config": {"srcIpRanges": ["*"]}}}
        ]});
        let items = observed_armor_policy(&observed, false).expect("policy");
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["edge", "edge/1000"]);
        assert_eq!(items[1].fields["srcIpRanges"], json!(["198.51.100.0/24"]));
        let declared: SecurityPolicy = serde_json::from_value(json!({"name": "edge", "rules": [
            {"priority": 1000, "action": "deny(403)", "match": {"versionedExpr": "SRC_IPS_V1", "config": {"srcIpRanges": ["198.51.100.0/24"]}}}
        ]}))
        .expect("policy");
        let want = desired_armor_policy(&declared).expect("valid");
        assert_eq!(want[1].fields, items[1].fields);
        assert_eq!(split_armor_key("edge/1000"), Some(("edge", 1000)));
        assert_eq!(split_armor_key("edge"), None);
    }

    #[test]
    fn alert_policies_and_uptime_checks_compare_the_managed_subset() {
        let declared: AlertPolicy = serde_json::from_value(json!({
            "displayName": "Denied", "conditions": [{"displayName": "many", "conditionThreshold": {
                "filter": "metric.type=\"logging.googleapis.com/user/denied\"  resource.type=\"gce_subnetwork\"",
                "comparison": "COMPARISON_GT", "thresholdValue": 100, "duration": "60s"}}]
        }))
        .expect("policy");
        let observed = json!({"name": "projects/p/alertPolicies/1", "displayName": "Denied", "combiner": "OR",
            "enabled": true, "creationRecord": {}, "conditions": [{"name": "projects/p/alertPolicies/1/conditions/2",
            "displayName": "many", "conditionThreshold": {"filter": "metric.type=\"logging.googleapis.com/user/denied\" resource.type=\"gce_subnetwork\"",
            "comparison": "COMPARISON_GT", "thresholdValue": 100.0, "duration": "60s", "trigger": {"count": 1}}}]});
        let have = observed_alert_policy(&observed).expect("observed");
        assert_eq!(desired_alert_policy(&declared).fields, have.fields);
        assert_eq!(have.handle.as_deref(), Some("projects/p/alertPolicies/1"));

        let check: UptimeCheck = serde_json::from_value(json!({
            "displayName": "www", "monitoredResource": {"type": "uptime_url", "labels": {"host": "www.example.com", "project_id": "p"}},
            "httpCheck": {"path": "/healthz", "useSsl": true}, "timeout": "10s"
        }))
        .expect("check");
        let mut want = desired_uptime_check(&check);
        desired_uptime_port(&mut want);
        let observed = json!({"name": "projects/p/uptimeCheckConfigs/www-1", "displayName": "www",
            "monitoredResource": {"type": "uptime_url", "labels": {"project_id": "p", "host": "www.example.com"}},
            "httpCheck": {"path": "/healthz", "useSsl": true, "port": 443}, "period": "60s", "timeout": "10s"});
        assert_eq!(
            want.fields,
            observed_uptime_check(&observed).expect("observed").fields
        );
    }

    #[test]
    fn monitoring_target_declares_one_flow_log_item_per_region() {
        let mon: GcpMonitoring = serde_json::from_value(json!({
            "flowLogs": {"regions": ["europe-west1", "europe-west4"]}
        }))
        .expect("mon");
        let t = monitoring_target(&mon).expect("target");
        let s = t.desired.section(FLOW_LOGS).expect("section");
        assert_eq!(s.kind, SectionKind::Settings);
        assert_eq!(s.items.len(), 2);
        assert_eq!(s.items[0].fields["subnetsWithoutFlowLogs"], json!([]));
    }

    /// The scope is typed: the firewall's network; for monitoring the watched regions and the
    /// subnets flow logs are required on, as lists (never joined into one string).
    #[test]
    fn targets_carry_their_network_or_regions_and_subnets() {
        let fw: GcpFirewall = serde_json::from_value(json!({"network": "prod-vpc"})).expect("fw");
        let mon = |v: Value| -> GcpMonitoring { serde_json::from_value(v).expect("mon") };
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases = [
            (
                firewall_target(&fw),
                GcpScope::Network("prod-vpc".into()),
                "network prod-vpc",
            ),
            (
                monitoring_target(&mon(json!({"regions": ["europe-west1", "us-central1"],
                    "flowLogs": {"regions": ["europe-west1"], "subnets": ["a", "b,c"]}}))),
                GcpScope::Project {
                    regions: strings(&["europe-west1", "us-central1"]),
                    flow_log_subnets: Some(strings(&["a", "b,c"])),
                },
                "project",
            ),
            (
                monitoring_target(&mon(json!({"alertPolicies": []}))),
                GcpScope::Project {
                    regions: Vec::new(),
                    flow_log_subnets: None,
                },
                "project",
            ),
        ];
        for (target, want, text) in cases {
            let target = target.expect("valid");
            assert_eq!(target.scope.get::<GcpScope>(), Some(&want));
            assert_eq!(target.scope.to_string(), text);
        }
    }

    /// Enabled policies only; a Slack channel is reached by its `#name` label (never its
    /// token); other kinds cannot be checked; a disabled or missing channel is a problem.
    #[test]
    fn alert_routes_name_the_slack_channel_of_each_policy() {
        let policies = [
            json!({"displayName": "Denied", "enabled": true, "notificationChannels": [
                "projects/p/notificationChannels/1", "projects/p/notificationChannels/2",
                "projects/p/notificationChannels/3", "projects/p/notificationChannels/9"]}),
            json!({"displayName": "Off", "enabled": false,
                   "notificationChannels": ["projects/p/notificationChannels/1"]}),
            json!({"displayName": "Quiet"}),
        ];
        let channels = [
            json!({"name": "projects/p/notificationChannels/1", "type": "slack", "displayName": "alerts",
                   "labels": {"channel_name": "#alerts", "auth_token": "xoxb-secret"}, "enabled": true}),
            json!({"name": "projects/p/notificationChannels/2", "type": "slack", "displayName": "old",
                   "labels": {"channel_name": "old"}, "enabled": false}),
            json!({"name": "projects/p/notificationChannels/3", "type": "email", "displayName": "ops",
                   "labels": {"email_address": "ops@example.com"}}),
        ];
        let routes = alert_routes(&policies, &channels);
        let seen: Vec<(String, String, Option<String>)> = routes
            .iter()
            .map(|r| {
                let to = r
                    .slack
                    .as_ref()
                    .map(|s| s.channel.clone())
                    .or_else(|| r.other.clone())
                    .unwrap_or_default();
                (r.route.clone(), to, r.problem.clone())
            })
            .collect();
        let s = |v: &str| v.to_string();
        assert_eq!(
            seen,
            [
                (
                    s("alert policy 'Denied' via channel 'alerts'"),
                    s("#alerts"),
                    None
                ),
                (
                    s("alert policy 'Denied' via channel 'old'"),
                    s("#old"),
                    Some(s("notification channel 'old' is disabled"))
                ),
                (s("alert policy 'Denied'"), s("email channel 'ops'"), None),
                (
                    s("alert policy 'Denied'"),
                    s("notification channel 9"),
                    Some(s("the notification channel does not exist"))
                ),
            ]
        );
        assert!(!format!("{routes:?}").contains("xoxb"));
    }
}
