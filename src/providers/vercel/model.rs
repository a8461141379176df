//! Pure mapping between Vercel's API objects, the policy blocks and the neutral model, and the
//! body of the one write that replaces a project's firewall configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::core::addresses::{self, Resolver, SetError};
use crate::core::model::unique_keys as unique;
use crate::core::normalize::{self, Invalid};
use crate::core::{Item, Section, SectionKind, State};
use crate::providers::vercel::api::{
    AttackChallengeMode, BypassRule, Condition, CoreRuleset, Drain, FirewallRule, IpRule,
    ManagedRulesets, Mitigation, VercelFirewall, VercelMonitoring,
};
use crate::providers::{Finding, Purpose, Scope, Target};

/// `firewallEnabled` and `botIdEnabled`.
pub const SETTINGS: &str = "settings";
pub const RULES: &str = "rules";
pub const IP_RULES: &str = "ipRules";
pub const MANAGED: &str = "managedRules";
pub const CRS: &str = "crs";
pub const ATTACK_MODE: &str = "attackChallengeMode";
pub const BYPASS: &str = "systemBypass";
pub const DRAINS: &str = "drains";

/// The sections written by the one PUT of the firewall configuration.
pub const CONFIG_SECTIONS: [&str; 5] = [SETTINGS, RULES, IP_RULES, MANAGED, CRS];

/// A drain whose deliveries fail (`status: errored`).
pub const DRAIN_ERRORED: &str = "DrainErrored";
/// A deprecated `/v1/log-drains` object still configured.
pub const LEGACY_LOG_DRAIN: &str = "LegacyLogDrain";
/// An anomaly in a project's attack status.
pub const ATTACK_IN_PROGRESS: &str = "AttackInProgress";

/// The `*` of a bypass entry that covers every domain of the project (`projectScope`) or every
/// source (`allSources`).
pub const ANY: &str = "*";

/// The managed rulesets, as the block names them and as the API does.
const MANAGED_IDS: [(&str, &str); 3] = [
    ("owasp", "owasp"),
    ("botProtection", "bot_protection"),
    ("aiBots", "ai_bots"),
];

/// The OWASP core ruleset's keys, in the API's order.
pub const CRS_IDS: [&str; 11] = [
    "sd", "ma", "lfi", "rfi", "rce", "php", "gen", "xss", "sqli", "sf", "java",
];

/// Where a Vercel target applies: one project's firewall, or the team's monitoring (with the
/// projects whose attack status is read). The team itself is the CloudProvider's `accountId`
/// either way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VercelScope {
    Project(String),
    Team { attack_status_projects: Vec<String> },
}

impl fmt::Display for VercelScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Project(id) => write!(f, "project {id}"),
            Self::Team { .. } => f.write_str("team"),
        }
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// A number as an integer when it is one: Vercel's numbers are JSON `number`s and may come
/// back as `60.0`.
fn number(v: &Value) -> Value {
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
        _ => v.clone(),
    }
}

fn sorted(values: impl IntoIterator<Item = String>) -> Value {
    let set: BTreeSet<String> = values.into_iter().collect();
    Value::from(set.into_iter().collect::<Vec<_>>())
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

// ---- desired ---------------------------------------------------------------------------

/// The most bypass entries a policy declares (the schema's bound of `systemBypass`).
pub const MAX_BYPASS: usize = 256;

/// `systemBypassSets` expanded into `systemBypass`: one entry per address of each set for its
/// domain. An entry already declared (by hand or by an earlier set) for the same domain and
/// source is kept as it is; an expansion past [`MAX_BYPASS`] entries is refused naming the
/// set, never written in part.
pub fn with_address_sets(
    fw: &VercelFirewall,
    sets: &mut Resolver,
) -> Result<VercelFirewall, SetError> {
    let mut out = fw.clone();
    let Some(bypass_sets) = out.system_bypass_sets.take() else {
        return Ok(out);
    };
    let entries = out.system_bypass.get_or_insert_with(Vec::new);
    let mut keys: BTreeSet<String> = entries
        .iter()
        .filter_map(|e| bypass_key(&e.domain, &e.source_ip).ok())
        .collect();
    for (i, set) in bypass_sets.iter().enumerate() {
        let field = format!("spec.vercel.systemBypassSets[{i}].addressSet");
        for address in sets.addresses(&field, &set.address_set)? {
            let source = addresses::host_or_cidr(&address).to_string();
            let key = bypass_key(&set.domain, &source)
                .map_err(|e| Resolver::unsuitable(&field, &set.address_set, e.0))?;
            if !keys.insert(key) {
                continue;
            }
            if entries.len() >= MAX_BYPASS {
                return Err(Resolver::unsuitable(
                    &field,
                    &set.address_set,
                    format!(
                        "takes systemBypass past {MAX_BYPASS} entries, the most a policy declares"
                    ),
                ));
            }
            entries.push(BypassRule {
                domain: set.domain.clone(),
                source_ip: source,
                note: Some(
                    set.note
                        .clone()
                        .unwrap_or_else(|| format!("address set {}", set.address_set)),
                ),
            });
        }
    }
    Ok(out)
}

pub fn firewall_target(fw: &VercelFirewall) -> Result<Target, Invalid> {
    if fw.system_bypass_sets.is_some() {
        return Err(addresses::unresolved("spec.vercel.systemBypassSets"));
    }
    let mut state = State::default();
    let settings: Vec<Item> = [
        ("firewallEnabled", fw.firewall_enabled),
        ("botIdEnabled", fw.bot_id_enabled),
    ]
    .into_iter()
    .filter_map(|(key, v)| v.map(|v| Item::new(key).field("value", v)))
    .collect();
    if !settings.is_empty() {
        state.push(Section::new(SETTINGS, SectionKind::Settings, settings));
    }
    if let Some(rules) = &fw.rules {
        let items = rules.iter().map(desired_rule).collect();
        state.push(Section::new(
            RULES,
            SectionKind::Ordered,
            unique(RULES, items)?,
        ));
    }
    if let Some(rules) = &fw.ip_rules {
        let items = rules
            .iter()
            .map(desired_ip_rule)
            .collect::<Result<Vec<_>, _>>()?;
        state.push(Section::new(
            IP_RULES,
            SectionKind::Unordered,
            unique(IP_RULES, items)?,
        ));
    }
    if let Some(managed) = &fw.managed_rules {
        state.push(Section::new(
            MANAGED,
            SectionKind::Settings,
            desired_managed(managed),
        ));
    }
    if let Some(crs) = &fw.crs {
        state.push(Section::new(CRS, SectionKind::Settings, desired_crs(crs)));
    }
    if let Some(mode) = &fw.attack_challenge_mode {
        state.push(Section::new(
            ATTACK_MODE,
            SectionKind::Settings,
            desired_attack_mode(mode)?,
        ));
    }
    if let Some(entries) = &fw.system_bypass {
        let items = entries
            .iter()
            .map(desired_bypass)
            .collect::<Result<Vec<_>, _>>()?;
        state.push(Section::new(
            BYPASS,
            SectionKind::Unordered,
            unique(BYPASS, items)?,
        ));
    }
    Ok(Target {
        purpose: Purpose::Firewall,
        scope: Scope::new(VercelScope::Project(fw.project_id.clone())),
        desired: state,
    })
}

pub fn monitoring_target(mon: &VercelMonitoring) -> Result<Target, Invalid> {
    let mut state = State::default();
    if let Some(drains) = &mon.drains {
        let items = drains
            .iter()
            .map(desired_drain)
            .collect::<Result<Vec<_>, _>>()?;
        state.push(Section::new(
            DRAINS,
            SectionKind::Unordered,
            unique(DRAINS, items)?,
        ));
    }
    Ok(Target {
        purpose: Purpose::Monitoring,
        scope: Scope::new(VercelScope::Team {
            attack_status_projects: mon.attack_status_project_ids.clone().unwrap_or_default(),
        }),
        desired: state,
    })
}

/// The API's body of a custom rule (without the server-assigned `id`).
fn rule_body(rule: &FirewallRule) -> Value {
    let groups: Vec<Value> = rule
        .condition_group
        .iter()
        .map(|g| json!({"conditions": g.conditions.iter().map(condition_body).collect::<Vec<_>>()}))
        .collect();
    json!({
        "name": rule.name,
        "description": rule.description.clone().unwrap_or_default(),
        "active": rule.active.unwrap_or(true),
        "conditionGroup": groups,
        "action": {"mitigate": mitigate_body(&rule.action)},
    })
}

fn condition_body(c: &Condition) -> Value {
    let mut out = json!({"type": to_value(&c.kind), "op": to_value(&c.op)});
    if let Some(neg) = c.neg {
        out["neg"] = Value::from(neg);
    }
    if let Some(key) = &c.key {
        out["key"] = Value::from(key.as_str());
    }
    if let Some(v) = &c.value {
        out["value"] = Value::from(v.as_str());
    } else if let Some(vs) = &c.values {
        out["value"] = Value::from(vs.clone());
    }
    out
}

fn mitigate_body(m: &Mitigation) -> Value {
    let mut out = json!({"action": to_value(&m.action)});
    if let Some(rl) = &m.rate_limit {
        let mut body = json!({"algo": to_value(&rl.algo), "window": rl.window, "limit": rl.limit, "keys": rl.keys});
        if let Some(action) = rl.action {
            body["action"] = to_value(&action);
        }
        out["rateLimit"] = body;
    }
    if let Some(r) = &m.redirect {
        out["redirect"] = json!({"location": r.location, "permanent": r.permanent});
    }
    if let Some(d) = &m.action_duration {
        out["actionDuration"] = Value::from(d.as_str());
    }
    if let Some(b) = m.bypass_system {
        out["bypassSystem"] = Value::from(b);
    }
    out
}

/// A rule's compared fields, from its API body: what was declared and what was read compare
/// through the same function.
fn rule_item(body: &Value) -> Option<Item> {
    let name = str_field(body, "name")?;
    let groups: Vec<Value> = body
        .get("conditionGroup")
        .and_then(Value::as_array)
        .map(|groups| {
            groups
                .iter()
                .map(|g| {
                    let conditions: Vec<Value> = g
                        .get("conditions")
                        .and_then(Value::as_array)
                        .map(|cs| cs.iter().map(normal_condition).collect())
                        .unwrap_or_default();
                    Value::from(conditions)
                })
                .collect()
        })
        .unwrap_or_default();
    let mitigate = body
        .get("action")
        .and_then(|a| a.get("mitigate"))
        .map(normal_mitigate)
        .unwrap_or(Value::Null);
    let mut item = Item::new(name)
        .field(
            "description",
            str_field(body, "description").unwrap_or_default(),
        )
        .field(
            "active",
            body.get("active").and_then(Value::as_bool).unwrap_or(true),
        )
        .field("conditionGroup", Value::from(groups));
    // The mitigation's parts are compared one by one, so drift names the one that changed;
    // an absent part is null on both sides, so adding or dropping one is drift too.
    for part in MITIGATE_PARTS {
        item = item.field(part, mitigate.get(part).cloned().unwrap_or(Value::Null));
    }
    Some(item)
}

/// The parts of `action.mitigate`, as fields of a rule item.
const MITIGATE_PARTS: [&str; 5] = [
    "action",
    "rateLimit",
    "redirect",
    "actionDuration",
    "bypassSystem",
];

/// A condition with its defaults made explicit (`neg: false`), a number as text and the list
/// of an `inc`/`ninc` as a set.
fn normal_condition(c: &Value) -> Value {
    let op = str_field(c, "op").unwrap_or_default();
    let mut out = Map::new();
    out.insert("type".into(), c.get("type").cloned().unwrap_or(Value::Null));
    out.insert("op".into(), Value::from(op));
    out.insert(
        "neg".into(),
        Value::from(c.get("neg").and_then(Value::as_bool).unwrap_or(false)),
    );
    if let Some(key) = str_field(c, "key") {
        out.insert("key".into(), Value::from(key));
    }
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Number(_) => number(v).to_string(),
        other => other.to_string(),
    };
    match c.get("value") {
        Some(Value::Array(values)) => {
            let values = values.iter().map(text);
            let value = if matches!(op, "inc" | "ninc") {
                sorted(values)
            } else {
                Value::from(values.collect::<Vec<_>>())
            };
            out.insert("value".into(), value);
        }
        Some(Value::Null) | None => {}
        Some(v) => {
            out.insert("value".into(), Value::from(text(v)));
        }
    }
    Value::Object(out)
}

/// The mitigation without its nulls, with Vercel's defaults explicit (`bypassSystem: false`,
/// a rate limit's action `rate_limit`) and rate-limit keys as a set.
fn normal_mitigate(m: &Value) -> Value {
    let mut out = Map::new();
    out.insert(
        "action".into(),
        m.get("action").cloned().unwrap_or(Value::Null),
    );
    if let Some(rl) = m.get("rateLimit").filter(|v| v.is_object()) {
        let keys = rl
            .get("keys")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string))
            .into_iter()
            .flatten();
        out.insert(
            "rateLimit".into(),
            json!({
                "algo": rl.get("algo").cloned().unwrap_or(Value::Null),
                "window": number(rl.get("window").unwrap_or(&Value::Null)),
                "limit": number(rl.get("limit").unwrap_or(&Value::Null)),
                "keys": sorted(keys),
                "action": rl.get("action").filter(|v| !v.is_null()).cloned().unwrap_or(Value::from("rate_limit")),
            }),
        );
    }
    if let Some(r) = m.get("redirect").filter(|v| v.is_object()) {
        out.insert(
            "redirect".into(),
            json!({
                "location": r.get("location").cloned().unwrap_or(Value::Null),
                "permanent": r.get("permanent").and_then(Value::as_bool).unwrap_or(false),
            }),
        );
    }
    if let Some(d) = str_field(m, "actionDuration") {
        out.insert("actionDuration".into(), Value::from(d));
    }
    out.insert(
        "bypassSystem".into(),
        Value::from(
            m.get("bypassSystem")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        ),
    );
    Value::Object(out)
}

fn desired_rule(rule: &FirewallRule) -> Item {
    let body = rule_body(rule);
    match rule_item(&body) {
        Some(item) => item.with_raw(body),
        // rule_body always writes a name.
        None => Item::new(&rule.name).with_raw(body),
    }
}

/// An address or CIDR in canonical form; a host route (`/32`, `/128`) is the bare address,
/// which is how it is most often written.
pub fn canonical_ip(value: &str) -> Result<String, Invalid> {
    if value.contains('/') {
        let cidr = normalize::cidr(value)?;
        let host = cidr.split_once('/').and_then(|(addr, prefix)| {
            let ip: std::net::IpAddr = addr.parse().ok()?;
            let full = if ip.is_ipv4() { "32" } else { "128" };
            (prefix == full).then(|| addr.to_string())
        });
        Ok(host.unwrap_or(cidr))
    } else {
        normalize::ip(value)
    }
}

/// The key of an IP rule: `hostname|ip`, both canonical.
pub fn ip_rule_key(hostname: &str, ip: &str) -> Result<String, Invalid> {
    Ok(format!(
        "{}|{}",
        hostname.trim().to_ascii_lowercase(),
        canonical_ip(ip)?
    ))
}

fn desired_ip_rule(rule: &IpRule) -> Result<Item, Invalid> {
    let key = ip_rule_key(&rule.hostname, &rule.ip)
        .map_err(|e| Invalid(format!("ipRules[{}]: {}", rule.hostname, e.0)))?;
    let action = to_value(&rule.action);
    let notes = rule.notes.clone().unwrap_or_default();
    let raw = json!({"hostname": rule.hostname.trim(), "ip": rule.ip.trim(), "action": action, "notes": notes});
    Ok(Item::new(key)
        .field("action", action)
        .field("notes", notes)
        .with_raw(raw))
}

fn desired_managed(m: &ManagedRulesets) -> Vec<Item> {
    [
        (MANAGED_IDS[0].1, &m.owasp),
        (MANAGED_IDS[1].1, &m.bot_protection),
        (MANAGED_IDS[2].1, &m.ai_bots),
    ]
    .into_iter()
    .filter_map(|(id, r)| {
        r.as_ref().map(|r| {
            let mut raw = json!({"active": r.active});
            if let Some(a) = r.action {
                raw["action"] = to_value(&a);
            }
            Item::new(id)
                .field("active", r.active)
                .opt_field("action", r.action.map(|a| to_value(&a)))
                .with_raw(raw)
        })
    })
    .collect()
}

fn desired_crs(c: &CoreRuleset) -> Vec<Item> {
    let rules = [
        &c.sd, &c.ma, &c.lfi, &c.rfi, &c.rce, &c.php, &c.generic, &c.xss, &c.sqli, &c.sf, &c.java,
    ];
    CRS_IDS
        .into_iter()
        .zip(rules)
        .filter_map(|(id, r)| {
            r.as_ref().map(|r| {
                let action = to_value(&r.action);
                Item::new(id)
                    .field("active", r.active)
                    .field("action", action.clone())
                    .with_raw(json!({"active": r.active, "action": action}))
            })
        })
        .collect()
}

/// An instant as Perimeter shows it (RFC 3339, UTC, whole seconds when it is).
fn instant_text(ts: jiff::Timestamp) -> String {
    ts.to_string()
}

/// The active firewall configuration's own revision, for status and the evidence trail:
/// `firewall config version 7, updated 2026-11-29T10:00:00Z`. Only a whole number and a
/// parseable instant are quoted (the answer is outside data); `None` without a version.
pub fn config_revision(config: &Value) -> Option<String> {
    let version = config.get("version").and_then(Value::as_u64)?;
    let mut text = format!("firewall config version {version}");
    let updated = match config.get("updatedAt") {
        Some(Value::String(s)) => s.parse::<jiff::Timestamp>().ok(),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()),
        _ => None,
    };
    if let Some(ts) = updated {
        text.push_str(&format!(", updated {}", instant_text(ts)));
    }
    Some(text)
}

/// An expiry in milliseconds since the epoch (Vercel's `attackModeActiveUntil`) as text.
pub fn millis_text(ms: i64) -> Option<String> {
    jiff::Timestamp::from_millisecond(ms).ok().map(instant_text)
}

fn desired_attack_mode(mode: &AttackChallengeMode) -> Result<Vec<Item>, Invalid> {
    let mut items = vec![Item::new("enabled").field("value", mode.enabled)];
    if mode.enabled {
        let until = match &mode.active_until {
            Some(text) => {
                let ts: jiff::Timestamp = text.trim().parse().map_err(|_| {
                    Invalid(format!(
                        "attackChallengeMode.activeUntil: {:?} is not an RFC 3339 time such as 2026-12-01T00:00:00Z",
                        text.chars().take(64).collect::<String>()
                    ))
                })?;
                Value::from(instant_text(ts))
            }
            None => Value::Null,
        };
        items.push(Item::new("activeUntil").field("value", until));
    }
    Ok(items)
}

/// The key of a bypass entry: `domain|source`, `*` for the project scope or every source.
pub fn bypass_key(domain: &str, source: &str) -> Result<String, Invalid> {
    let domain = domain.trim().to_ascii_lowercase();
    let source = source.trim();
    let source = if source == ANY {
        ANY.to_string()
    } else {
        canonical_ip(source)?
    };
    Ok(format!("{domain}|{source}"))
}

fn desired_bypass(entry: &BypassRule) -> Result<Item, Invalid> {
    let key = bypass_key(&entry.domain, &entry.source_ip)
        .map_err(|e| Invalid(format!("systemBypass[{}]: {}", entry.domain, e.0)))?;
    let mut raw = Map::new();
    if entry.domain.trim() == ANY {
        raw.insert("projectScope".into(), Value::from(true));
    } else {
        raw.insert("domain".into(), Value::from(entry.domain.trim()));
    }
    if entry.source_ip.trim() == ANY {
        raw.insert("allSources".into(), Value::from(true));
    } else {
        raw.insert("sourceIp".into(), Value::from(entry.source_ip.trim()));
    }
    let note = entry.note.clone().unwrap_or_default();
    if !note.is_empty() {
        raw.insert("note".into(), Value::from(note.as_str()));
    }
    Ok(Item::new(key)
        .field("note", note)
        .with_raw(Value::Object(raw)))
}

/// A digest of the full endpoint, so a change in its masked part is still drift.
fn endpoint_digest(endpoint: &str) -> String {
    let d = Sha256::digest(endpoint.trim().as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn desired_drain(d: &Drain) -> Result<Item, Invalid> {
    let kind = to_value(&d.delivery.kind);
    let endpoint = d.delivery.endpoint.trim();
    let mut delivery = json!({"type": kind});
    // otlphttp takes an object of signal → URL; Perimeter declares the traces URL.
    delivery["endpoint"] = if kind == "otlphttp" {
        json!({"traces": endpoint})
    } else {
        Value::from(endpoint)
    };
    if let Some(e) = d.delivery.encoding {
        delivery["encoding"] = to_value(&e);
    }
    if let Some(c) = d.delivery.compression {
        delivery["compression"] = to_value(&c);
    }
    if kind != "syslog" {
        // Required by the API; never declared (they may hold credentials).
        delivery["headers"] = json!({});
    }
    let schemas: Map<String, Value> = d
        .schemas
        .iter()
        .map(|(k, v)| (k.clone(), json!({"version": v})))
        .collect();
    let mut raw = json!({"name": d.name, "schemas": schemas, "delivery": delivery});
    match &d.project_ids {
        Some(ids) => {
            raw["projects"] = Value::from("some");
            raw["projectIds"] = Value::from(ids.clone());
        }
        None => raw["projects"] = Value::from("all"),
    }
    let mut item = Item::new(&d.name)
        .field("type", kind.clone())
        .field("endpoint", normalize::mask_destination(endpoint))
        .field("endpointDigest", endpoint_digest(endpoint))
        .opt_field("encoding", d.delivery.encoding.map(|e| to_value(&e)))
        .opt_field("compression", d.delivery.compression.map(|c| to_value(&c)))
        .field(
            "schemas",
            Value::Object(
                d.schemas
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                    .collect(),
            ),
        )
        .field("projects", projects_value(d.project_ids.as_deref()))
        // Vercel's own word: `enabled`, `disabled`, or `errored` (deliveries failing), which
        // never matches a declared drain, so an errored drain is drift that Enforce re-enables.
        .field(
            "status",
            if d.enabled.unwrap_or(true) {
                "enabled"
            } else {
                "disabled"
            },
        );
    if let Some(rules) = &d.sampling {
        let mut body = Vec::new();
        for (i, s) in rules.iter().enumerate() {
            if !(0.0..=1.0).contains(&s.rate) || !s.rate.is_finite() {
                return Err(Invalid(format!(
                    "drains[{}].sampling[{i}].rate: must be from 0 to 1",
                    d.name
                )));
            }
            let mut rule = json!({"type": "head_sampling", "rate": s.rate});
            if let Some(env) = s.env {
                rule["env"] = to_value(&env);
            }
            if let Some(p) = &s.request_path {
                rule["requestPath"] = Value::from(p.as_str());
            }
            body.push(rule);
        }
        item = item.field("sampling", normal_sampling(&body));
        raw["sampling"] = Value::from(body);
    }
    Ok(item.with_raw(raw))
}

/// `all`, or the sorted project ids.
fn projects_value(ids: Option<&[String]>) -> Value {
    match ids {
        Some(ids) if !ids.is_empty() => sorted(ids.iter().cloned()),
        _ => Value::from("all"),
    }
}

/// Sampling rules as a set of `{rate, env, requestPath}`.
fn normal_sampling(rules: &[Value]) -> Value {
    let mut out: Vec<Value> = rules
        .iter()
        .map(|r| {
            json!({
                "rate": r.get("rate").cloned().unwrap_or(Value::Null),
                "env": r.get("env").cloned().unwrap_or(Value::Null),
                "requestPath": r.get("requestPath").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    out.sort_by_key(Value::to_string);
    out.dedup();
    Value::from(out)
}

// ---- observed --------------------------------------------------------------------------

/// The declared sections of a project's firewall, from its active configuration
/// (`GET /v1/security/firewall/config/active`), its project's `security` object (Attack
/// Challenge Mode) and its bypass entries. Only sections `desired` declares are built.
pub fn observed_firewall(
    desired: &State,
    config: &Value,
    security: Option<&Value>,
    bypass: &[Value],
) -> State {
    let mut state = State::default();
    for want in &desired.sections {
        let (kind, items) = match want.name.as_str() {
            SETTINGS => (SectionKind::Settings, observed_settings(config)),
            RULES => (
                SectionKind::Ordered,
                list(config, "rules").filter_map(observed_rule).collect(),
            ),
            IP_RULES => (
                SectionKind::Unordered,
                list(config, "ips").filter_map(observed_ip_rule).collect(),
            ),
            MANAGED => (SectionKind::Settings, observed_managed(config)),
            CRS => (SectionKind::Settings, observed_crs(config)),
            ATTACK_MODE => (
                SectionKind::Settings,
                observed_attack_mode(security.unwrap_or(&Value::Null)),
            ),
            BYPASS => (
                SectionKind::Unordered,
                bypass.iter().filter_map(observed_bypass).collect(),
            ),
            _ => continue,
        };
        state.push(Section::new(want.name.clone(), kind, items));
    }
    state
}

fn list<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter())
        .into_iter()
        .flatten()
}

fn observed_settings(config: &Value) -> Vec<Item> {
    ["firewallEnabled", "botIdEnabled"]
        .into_iter()
        .map(|key| {
            // botIdEnabled is absent from configurations that never set it: off.
            let on = config.get(key).and_then(Value::as_bool).unwrap_or(false);
            Item::new(key).field("value", on)
        })
        .collect()
}

pub fn observed_rule(rule: &Value) -> Option<Item> {
    let mut item = rule_item(rule)?;
    if let Some(id) = str_field(rule, "id") {
        item = item.with_handle(id);
    }
    Some(item.with_raw(rule.clone()))
}

pub fn observed_ip_rule(rule: &Value) -> Option<Item> {
    // An address Perimeter cannot read is keyed as written, so it still shows as unmanaged.
    let hostname = str_field(rule, "hostname")?;
    let ip = str_field(rule, "ip")?;
    let key = ip_rule_key(hostname, ip).unwrap_or_else(|_| format!("{hostname}|{ip}"));
    let mut item = Item::new(key)
        .field("action", rule.get("action").cloned().unwrap_or(Value::Null))
        .field("notes", str_field(rule, "notes").unwrap_or_default());
    if let Some(id) = str_field(rule, "id") {
        item = item.with_handle(id);
    }
    Some(item.with_raw(rule.clone()))
}

fn observed_managed(config: &Value) -> Vec<Item> {
    MANAGED_IDS
        .into_iter()
        .map(|(_, id)| {
            let r = config
                .get("managedRules")
                .and_then(|m| m.get(id))
                .unwrap_or(&Value::Null);
            Item::new(id)
                .field(
                    "active",
                    r.get("active").and_then(Value::as_bool).unwrap_or(false),
                )
                .field("action", r.get("action").cloned().unwrap_or(Value::Null))
        })
        .collect()
}

/// Who last changed each managed rule set, as the configuration stamps it (`updatedAt`,
/// `username`, `userId`): Perimeter's own writes (this client's, per `own`) as Perimeter's.
/// A rule set without a parseable stamp says nothing.
pub fn managed_changes(
    config: &Value,
    project: &str,
    own: &crate::core::attribution::OwnWrites,
) -> Vec<crate::core::attribution::AuditEvent> {
    use crate::core::attribution::{Actor, AuditEvent};
    MANAGED_IDS
        .into_iter()
        .filter_map(|(_, id)| {
            let r = config.get("managedRules")?.get(id)?;
            let at: jiff::Timestamp = match r.get("updatedAt")? {
                Value::String(s) => s.parse().ok()?,
                // Vercel stamps some objects in epoch milliseconds.
                Value::Number(n) => jiff::Timestamp::from_millisecond(n.as_i64()?).ok()?,
                _ => return None,
            };
            let who = ["username", "userId"]
                .into_iter()
                .find_map(|k| r.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()))?;
            let actor = if own.covers(project, MANAGED, at) {
                Actor::Perimeter
            } else {
                Actor::other(crate::http::sanitize(who, 80), None)
            };
            Some(AuditEvent {
                section: MANAGED.to_string(),
                key: Some(id.to_string()),
                actor,
                at,
            })
        })
        .collect()
}

fn observed_crs(config: &Value) -> Vec<Item> {
    CRS_IDS
        .into_iter()
        .map(|id| {
            let r = config
                .get("crs")
                .and_then(|m| m.get(id))
                .unwrap_or(&Value::Null);
            Item::new(id)
                .field(
                    "active",
                    r.get("active").and_then(Value::as_bool).unwrap_or(false),
                )
                .field("action", r.get("action").cloned().unwrap_or(Value::Null))
        })
        .collect()
}

/// From a project's `security` object (`GET /v9/projects/{id}`).
fn observed_attack_mode(security: &Value) -> Vec<Item> {
    let enabled = security
        .get("attackModeEnabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let until = security
        .get("attackModeActiveUntil")
        .and_then(Value::as_f64)
        .and_then(|ms| millis_text(ms as i64))
        .map_or(Value::Null, Value::from);
    vec![
        Item::new("enabled").field("value", enabled),
        Item::new("activeUntil").field("value", if enabled { until } else { Value::Null }),
    ]
}

/// A bypass entry as `GET /v1/security/firewall/bypass` lists it (PascalCase fields).
pub fn observed_bypass(entry: &Value) -> Option<Item> {
    let id = str_field(entry, "Id")?;
    let project_rule = entry
        .get("IsProjectRule")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let domain = if project_rule {
        ANY
    } else {
        str_field(entry, "Domain")?
    };
    let source = str_field(entry, "Ip")
        .filter(|ip| !ip.is_empty())
        .unwrap_or(ANY);
    let key = bypass_key(domain, source).unwrap_or_else(|_| format!("{domain}|{source}"));
    Some(
        Item::new(key)
            .field("note", str_field(entry, "Note").unwrap_or_default())
            .with_handle(id)
            .with_raw(entry.clone()),
    )
}

/// A drain as `GET /v1/drains` lists it.
pub fn observed_drain(d: &Value) -> Option<Item> {
    let id = str_field(d, "id")?;
    // Unnamed drains cannot be declared; key them by id so they still show as unmanaged.
    let key = str_field(d, "name")
        .filter(|n| !n.is_empty())
        .map_or_else(|| format!("id-{id}"), str::to_string);
    let delivery = d.get("delivery").unwrap_or(&Value::Null);
    let endpoint = match delivery.get("endpoint") {
        Some(Value::String(s)) => s.as_str(),
        Some(obj) => str_field(obj, "traces").unwrap_or_default(),
        None => "",
    };
    let schemas: Map<String, Value> = d
        .get("schemas")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let version = v.get("version").cloned().unwrap_or(Value::Null);
                    (k.clone(), version)
                })
                .collect()
        })
        .unwrap_or_default();
    let ids: Vec<String> = list(d, "projectIds")
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let sampling: Vec<Value> = list(d, "sampling").cloned().collect();
    Some(
        Item::new(key)
            .field("type", delivery.get("type").cloned().unwrap_or(Value::Null))
            .field("endpoint", normalize::mask_destination(endpoint))
            .field("endpointDigest", endpoint_digest(endpoint))
            .field(
                "encoding",
                delivery.get("encoding").cloned().unwrap_or(Value::Null),
            )
            .field(
                "compression",
                delivery.get("compression").cloned().unwrap_or(Value::Null),
            )
            .field("schemas", Value::Object(schemas))
            .field("projects", projects_value(Some(&ids)))
            .field("sampling", normal_sampling(&sampling))
            .field("status", str_field(d, "status").unwrap_or("enabled"))
            .with_handle(id)
            .with_raw(d.clone()),
    )
}

/// `DrainErrored` for a drain Vercel marks `errored`.
pub fn drain_finding(d: &Value) -> Option<Finding> {
    if str_field(d, "status") != Some("errored") {
        return None;
    }
    let id = str_field(d, "id")?;
    let name = str_field(d, "name").unwrap_or(id);
    let mut message = format!("drain {id} is errored");
    if let Some(reason) = str_field(d, "disabledReason") {
        message.push_str(&format!(" (disabledReason: {reason})"));
    }
    if let Some(since) = d
        .get("firstErrorTimestamp")
        .and_then(Value::as_f64)
        .and_then(|ms| millis_text(ms as i64))
    {
        message.push_str(&format!(", failing since {since}"));
    }
    Some(Finding {
        code: DRAIN_ERRORED,
        subject: format!("{DRAINS}[{name}]"),
        message,
    })
}

/// `LegacyLogDrain` for a `/v1/log-drains` object. Its URL is never shown: it may carry a key.
pub fn legacy_drain_finding(d: &Value) -> Option<Finding> {
    let id = str_field(d, "id")?;
    let name = str_field(d, "name").filter(|n| !n.is_empty()).unwrap_or(id);
    Some(Finding {
        code: LEGACY_LOG_DRAIN,
        subject: format!("logDrains[{name}]"),
        message: format!(
            "legacy log drain {id} still configured; the /v1/log-drains API is deprecated in favour of drains"
        ),
    })
}

/// `AttackInProgress` for each anomaly of `GET /v1/security/firewall/attack-status`.
pub fn attack_findings(project: &str, status: &Value) -> Vec<Finding> {
    list(status, "anomalies")
        .map(|a| {
            let start = a
                .get("startTime")
                .and_then(Value::as_f64)
                .and_then(|ms| millis_text(ms as i64))
                .unwrap_or_else(|| "an unknown time".into());
            let hosts: Vec<&str> = a
                .get("affectedHostMap")
                .and_then(Value::as_object)
                .map(|m| m.keys().map(String::as_str).take(10).collect())
                .unwrap_or_default();
            let state = str_field(a, "state").unwrap_or("active");
            let ended = a.get("endTime").is_some_and(|e| !e.is_null());
            Finding {
                code: ATTACK_IN_PROGRESS,
                subject: format!("project {project}"),
                message: format!(
                    "attack anomaly ({state}{}) since {start} on {}",
                    if ended { ", ended" } else { "" },
                    if hosts.is_empty() {
                        "the project".to_string()
                    } else {
                        hosts.join(", ")
                    }
                ),
            }
        })
        .collect()
}

// ---- the one write ---------------------------------------------------------------------

/// The fields `putFirewallConfig` accepts for a rule and an IP rule (the request schema allows
/// no others).
const RULE_FIELDS: [&str; 6] = [
    "id",
    "name",
    "description",
    "active",
    "conditionGroup",
    "action",
];
const IP_FIELDS: [&str; 5] = ["id", "hostname", "ip", "notes", "action"];

/// The object's `fields`, without nulls at any depth: Vercel answers `rateLimit: null` for
/// "none", and the request schema's nullable `anyOf` is read differently by validators.
fn only(v: &Value, fields: &[&str]) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| fields.contains(&k.as_str()) && !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// The body of `PUT /v1/security/firewall/config`: the configuration read just before
/// (`current`), with every declared part replaced. Declared rules come first, in their order,
/// keeping the id Vercel gave them; undeclared rules follow unless listed in `removed`
/// (`unmanaged: Remove`). Settings, managed rulesets and core rules that are not declared keep
/// their current value: the PUT replaces the whole document, so nothing may be left out.
pub fn put_body(
    current: &Value,
    desired: &State,
    removed: &BTreeMap<String, BTreeSet<String>>,
) -> Value {
    let mut body = Map::new();
    let current_rules: Vec<Item> = list(current, "rules").filter_map(observed_rule).collect();
    let current_ips: Vec<Item> = list(current, "ips").filter_map(observed_ip_rule).collect();

    for key in ["firewallEnabled", "botIdEnabled"] {
        let declared = desired
            .section(SETTINGS)
            .and_then(|s| s.get(key))
            .and_then(|i| i.fields.get("value"))
            .and_then(Value::as_bool);
        let value = declared.or_else(|| current.get(key).and_then(Value::as_bool));
        if let Some(v) = value {
            body.insert(key.into(), Value::from(v));
        }
    }

    let merge_list = |section: &str, have: &[Item], fields: &[&str]| -> Vec<Value> {
        let want = desired.section(section);
        let gone = removed.get(section);
        let mut out = Vec::new();
        for item in want.map(|s| s.items.as_slice()).unwrap_or_default() {
            let mut entry = item.raw.clone().unwrap_or(Value::Null);
            if let Some(id) = have
                .iter()
                .find(|h| h.key == item.key)
                .and_then(|h| h.handle.clone())
            {
                entry["id"] = Value::from(id);
            }
            out.push(only(&entry, fields));
        }
        for item in have {
            let declared = want.and_then(|w| w.get(&item.key)).is_some();
            if declared || gone.is_some_and(|g| g.contains(&item.key)) {
                continue;
            }
            if let Some(raw) = &item.raw {
                out.push(only(raw, fields));
            }
        }
        out
    };
    let rules = if desired.section(RULES).is_some() {
        merge_list(RULES, &current_rules, &RULE_FIELDS)
    } else {
        list(current, "rules")
            .map(|r| only(r, &RULE_FIELDS))
            .collect()
    };
    body.insert("rules".into(), Value::from(rules));
    let ips = if desired.section(IP_RULES).is_some() {
        merge_list(IP_RULES, &current_ips, &IP_FIELDS)
    } else {
        list(current, "ips").map(|r| only(r, &IP_FIELDS)).collect()
    };
    body.insert("ips".into(), Value::from(ips));

    let merge_map =
        |section: &str, key: &str, ids: &[&str], fields: &[&str]| -> Map<String, Value> {
            let mut out = Map::new();
            let have = current.get(key).and_then(Value::as_object);
            for id in ids {
                let declared = desired
                    .section(section)
                    .and_then(|s| s.get(id))
                    .and_then(|i| i.raw.clone());
                let kept = have.and_then(|h| h.get(*id)).map(|v| only(v, fields));
                // A declared ruleset without an action keeps the current action.
                let value = match (declared, kept) {
                    (Some(mut d), Some(k)) => {
                        if d.get("action").is_none()
                            && let Some(a) = k.get("action")
                        {
                            d["action"] = a.clone();
                        }
                        Some(d)
                    }
                    (d, k) => d.or(k),
                };
                if let Some(v) = value {
                    out.insert((*id).to_string(), v);
                }
            }
            out
        };
    let managed_ids: Vec<&str> = MANAGED_IDS.iter().map(|(_, id)| *id).collect();
    let managed = merge_map(MANAGED, "managedRules", &managed_ids, &["active", "action"]);
    if !managed.is_empty() {
        body.insert("managedRules".into(), Value::Object(managed));
    }
    let crs = merge_map(CRS, "crs", &CRS_IDS, &["active", "action"]);
    if !crs.is_empty() {
        body.insert("crs".into(), Value::Object(crs));
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests;
