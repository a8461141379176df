//! Pure mapping between Better Stack Uptime's answers, the `betterstack` block and the neutral
//! model. No I/O and no clock: the time a staleness check is made against is a parameter.
//!
//! Four keyed sections, each a set (`Unordered`), so undeclared objects at Better Stack are
//! `unmanaged` (reported, or removed with `unmanaged: Remove`):
//! - `monitors`, keyed `<monitor_type>:<url>`;
//! - `heartbeats`, keyed by name;
//! - `escalationPolicies`, keyed by name;
//! - `statusPages`, keyed by subdomain.
//!
//! Server ids are never keys: they are the items' handles. References between objects (a
//! monitor's escalation policy, a step's Slack integration) are compared by what the user can
//! know — the policy's name, the Slack channel id — after the answer's ids are resolved through
//! [`Names`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use crate::core::normalize::{self, Invalid};
use crate::core::routing::{AlertRoute, SlackChannelRef};
use crate::core::{Item, Section, SectionKind, State};
use crate::http::sanitize;
use crate::providers::betterstack::api::{
    BetterstackFirewall, BetterstackMonitoring, EscalationPolicy, Heartbeat, MemberType, Monitor,
    StatusPage,
};
use crate::providers::{Finding, Purpose, Scope, Target};

pub const MONITORS: &str = "monitors";
pub const HEARTBEATS: &str = "heartbeats";
pub const POLICIES: &str = "escalationPolicies";
pub const STATUS_PAGES: &str = "statusPages";

/// A declared monitor whose last check found it down.
pub const MONITOR_DOWN: &str = "MonitorDown";
/// A declared monitor that is paused: it checks nothing.
pub const MONITOR_PAUSED: &str = "MonitorPaused";
/// A declared monitor not checked within [`STALE_PERIODS`] check periods.
pub const MONITOR_NOT_CHECKED: &str = "MonitorNotChecked";
/// A declared heartbeat that is down (its job stopped pinging).
pub const HEARTBEAT_DOWN: &str = "HeartbeatDown";

/// Every finding code this provider's reads can report.
pub const FINDING_CODES: &[&str] = &[
    MONITOR_DOWN,
    MONITOR_PAUSED,
    MONITOR_NOT_CHECKED,
    HEARTBEAT_DOWN,
];

/// How many check periods may pass without a check before a monitor counts as not checked.
pub const STALE_PERIODS: i32 = 3;

/// Monitor statuses in which Better Stack does not check on schedule, so staleness is not
/// judged: a new monitor (`pending`, `validating`) and one in its maintenance window.
const NOT_SCHEDULED: [&str; 3] = ["pending", "validating", "maintenance"];

/// Where a Better Stack target applies: the team the API token belongs to (a team token sees
/// one team; Better Stack's global tokens are not supported).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BetterstackScope;

impl fmt::Display for BetterstackScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the token's Better Stack team")
    }
}

// ---- field names -------------------------------------------------------------------------

/// A compared field and the API attribute it is read from and written to.
type FieldMap = [(&'static str, &'static str)];

/// Monitor fields besides the key and the escalation policy.
const MONITOR_FIELDS: &FieldMap = &[
    ("checkFrequency", "check_frequency"),
    ("regions", "regions"),
    ("expectedStatusCodes", "expected_status_codes"),
    ("requiredKeyword", "required_keyword"),
    ("port", "port"),
    ("sslExpiration", "ssl_expiration"),
    ("domainExpiration", "domain_expiration"),
    ("paused", "paused"),
];
const HEARTBEAT_FIELDS: &FieldMap = &[
    ("period", "period"),
    ("grace", "grace"),
    ("paused", "paused"),
];
const POLICY_FIELDS: &FieldMap = &[
    ("repeatCount", "repeat_count"),
    ("repeatDelay", "repeat_delay"),
];
const STATUS_PAGE_FIELDS: &FieldMap = &[
    ("companyName", "company_name"),
    ("published", "published"),
    ("ipAllowlist", "ip_allowlist"),
];

pub const ESCALATION_POLICY: &str = "escalationPolicy";
pub const STEPS: &str = "steps";
/// The attribute holding a monitor's or heartbeat's escalation policy id.
pub const POLICY_ID: &str = "policy_id";

// ---- desired ---------------------------------------------------------------------------

pub fn firewall_target(_fw: &BetterstackFirewall) -> Result<Target, Invalid> {
    Err(Invalid(
        "Better Stack has no firewall: declare monitors, heartbeats, escalation policies and status pages in a MonitoringPolicy".into(),
    ))
}

pub fn monitoring_target(mon: &BetterstackMonitoring) -> Result<Target, Invalid> {
    let mut state = State::default();
    if let Some(list) = &mon.escalation_policies {
        let items = list.iter().map(desired_policy).collect::<Result<_, _>>()?;
        let items = crate::core::model::unique_keys(POLICIES, items)?;
        state.push(Section::new(POLICIES, SectionKind::Unordered, items));
    }
    if let Some(list) = &mon.monitors {
        let items = list.iter().map(desired_monitor).collect::<Result<_, _>>()?;
        let items = crate::core::model::unique_keys(MONITORS, items)?;
        state.push(Section::new(MONITORS, SectionKind::Unordered, items));
    }
    if let Some(list) = &mon.heartbeats {
        let items = list.iter().map(desired_heartbeat).collect();
        let items = crate::core::model::unique_keys(HEARTBEATS, items)?;
        state.push(Section::new(HEARTBEATS, SectionKind::Unordered, items));
    }
    if let Some(list) = &mon.status_pages {
        let items = list
            .iter()
            .map(desired_status_page)
            .collect::<Result<_, _>>()?;
        let items = crate::core::model::unique_keys(STATUS_PAGES, items)?;
        state.push(Section::new(STATUS_PAGES, SectionKind::Unordered, items));
    }
    Ok(Target {
        purpose: Purpose::Monitoring,
        scope: Scope::new(BetterstackScope),
        desired: state,
    })
}

/// A monitor's key: its type and URL.
pub fn monitor_key(monitor_type: &str, url: &str) -> String {
    format!("{monitor_type}:{url}")
}

fn sorted<T: Ord + Clone + Into<Value>>(list: &[T]) -> Value {
    let set: BTreeSet<T> = list.iter().cloned().collect();
    Value::from(set.into_iter().map(Into::into).collect::<Vec<Value>>())
}

fn desired_monitor(m: &Monitor) -> Result<Item, Invalid> {
    let key = monitor_key(m.monitor_type.as_str(), &m.url);
    if let Some(codes) = &m.expected_status_codes
        && codes.iter().collect::<BTreeSet<_>>().len() != codes.len()
    {
        return Err(Invalid(format!(
            "{MONITORS}[{key}].expectedStatusCodes: a code is declared twice"
        )));
    }
    let regions: Option<Vec<&str>> = m
        .regions
        .as_ref()
        .map(|r| r.iter().map(|r| r.as_str()).collect());
    if let Some(r) = &regions
        && r.iter().collect::<BTreeSet<_>>().len() != r.len()
    {
        return Err(Invalid(format!(
            "{MONITORS}[{key}].regions: a region is declared twice"
        )));
    }
    let mut body = json!({"url": m.url, "monitor_type": m.monitor_type.as_str()});
    let item = Item::new(key)
        .opt_field("checkFrequency", m.check_frequency)
        .opt_field("regions", regions.as_deref().map(sorted))
        .opt_field(
            "expectedStatusCodes",
            m.expected_status_codes.as_deref().map(sorted),
        )
        .opt_field("requiredKeyword", m.required_keyword.clone())
        .opt_field("port", m.port.clone())
        .opt_field("sslExpiration", m.ssl_expiration)
        .opt_field("domainExpiration", m.domain_expiration)
        .opt_field(ESCALATION_POLICY, m.escalation_policy.clone())
        .field("paused", m.paused.unwrap_or(false));
    add_attributes(&mut body, &item, MONITOR_FIELDS);
    Ok(item.with_raw(body))
}

fn desired_heartbeat(h: &Heartbeat) -> Item {
    let mut body = json!({"name": h.name});
    let item = Item::new(h.name.clone())
        .field("period", h.period)
        .opt_field("grace", h.grace)
        .opt_field(ESCALATION_POLICY, h.escalation_policy.clone())
        .field("paused", h.paused.unwrap_or(false));
    add_attributes(&mut body, &item, HEARTBEAT_FIELDS);
    item.with_raw(body)
}

fn desired_policy(p: &EscalationPolicy) -> Result<Item, Invalid> {
    let mut steps = Vec::new();
    for (i, step) in p.steps.iter().enumerate() {
        let mut members = Vec::new();
        for (j, m) in step.members.iter().enumerate() {
            let at = || format!("{POLICIES}[{}].steps[{i}].members[{j}]", p.name);
            let member = match (m.kind, m.id, &m.slack_channel) {
                (MemberType::SlackIntegration, None, Some(channel)) => {
                    json!({"type": m.kind.as_str(), "slackChannel": channel})
                }
                (MemberType::SlackIntegration, _, _) => {
                    return Err(Invalid(format!(
                        "{}: a slack_integration member is named by slackChannel only",
                        at()
                    )));
                }
                (_, _, Some(_)) => {
                    return Err(Invalid(format!(
                        "{}: slackChannel is only for slack_integration members",
                        at()
                    )));
                }
                (
                    MemberType::User
                    | MemberType::Webhook
                    | MemberType::MicrosoftTeamsIntegration
                    | MemberType::PagerdutyIntegration
                    | MemberType::Policy,
                    None,
                    None,
                ) => {
                    return Err(Invalid(format!(
                        "{}: a {} member needs its Better Stack id",
                        at(),
                        m.kind.as_str()
                    )));
                }
                (MemberType::EntireTeam | MemberType::AllSlackIntegrations, Some(_), _) => {
                    return Err(Invalid(format!(
                        "{}: a {} member takes no id",
                        at(),
                        m.kind.as_str()
                    )));
                }
                (_, Some(id), None) => json!({"type": m.kind.as_str(), "id": id}),
                (_, None, None) => json!({"type": m.kind.as_str()}),
            };
            members.push(member);
        }
        steps.push(json!({"waitBefore": step.wait_before, "members": sort_members(members)}));
    }
    let item = Item::new(p.name.clone())
        .opt_field("repeatCount", p.repeat_count)
        .opt_field("repeatDelay", p.repeat_delay)
        .field(STEPS, steps);
    Ok(item)
}

/// Members of one step are alerted together: their order is not compared.
fn sort_members(mut members: Vec<Value>) -> Vec<Value> {
    members.sort_by_key(|m| m.to_string());
    members.dedup();
    members
}

fn desired_status_page(p: &StatusPage) -> Result<Item, Invalid> {
    let ips = match &p.ip_allowlist {
        None => None,
        Some(list) => {
            let mut out = BTreeSet::new();
            for v in list {
                let c = normalize::cidr(v).map_err(|e| {
                    Invalid(format!(
                        "{STATUS_PAGES}[{}].ipAllowlist: {}",
                        p.subdomain, e.0
                    ))
                })?;
                if !out.insert(c.clone()) {
                    return Err(Invalid(format!(
                        "{STATUS_PAGES}[{}].ipAllowlist: {c:?} is declared twice",
                        p.subdomain
                    )));
                }
            }
            Some(Value::from(out.into_iter().collect::<Vec<_>>()))
        }
    };
    let mut body = json!({"subdomain": p.subdomain, "timezone": "UTC"});
    let item = Item::new(p.subdomain.clone())
        .field("companyName", p.company_name.clone())
        .opt_field("published", p.published)
        .opt_field("ipAllowlist", ips);
    add_attributes(&mut body, &item, STATUS_PAGE_FIELDS);
    Ok(item.with_raw(body))
}

/// Copies the item's declared fields into the body under their API names.
fn add_attributes(body: &mut Value, item: &Item, map: &FieldMap) {
    if let Some(obj) = body.as_object_mut() {
        for (field, attr) in map {
            if let Some(v) = item.fields.get(*field) {
                obj.insert((*attr).to_string(), v.clone());
            }
        }
    }
}

/// The body that writes `item` of `section` (create, or the whole declared state for an
/// update): its declared attributes, with references resolved — an escalation policy name to
/// its id, a Slack channel to its integration's id. A reference that does not resolve is
/// refused before anything is sent.
pub fn write_body(section: &str, item: &Item, names: &Names) -> Result<Value, Invalid> {
    let mut body = item.raw.clone().unwrap_or_else(|| json!({}));
    let Some(obj) = body.as_object_mut() else {
        return Err(Invalid(format!("{section}[{}]: no body", item.key)));
    };
    if let Some(Value::String(name)) = item.fields.get(ESCALATION_POLICY) {
        let id = names.policy_id(name).ok_or_else(|| {
            Invalid(format!(
                "{section}[{}].escalationPolicy: no escalation policy is named {name:?} (or several are: names must be unique to be referred to)",
                item.key
            ))
        })?;
        // The Terraform provider's `monitor.PolicyID` is a string.
        obj.insert(POLICY_ID.into(), Value::String(id.to_string()));
    }
    if section == POLICIES {
        obj.insert("name".into(), Value::String(item.key.clone()));
        for (field, attr) in POLICY_FIELDS {
            if let Some(v) = item.fields.get(*field) {
                obj.insert((*attr).to_string(), v.clone());
            }
        }
        let steps = item
            .fields
            .get(STEPS)
            .and_then(Value::as_array)
            .ok_or_else(|| Invalid(format!("{POLICIES}[{}]: no steps", item.key)))?;
        let mut out = Vec::new();
        for step in steps {
            let mut members = Vec::new();
            for m in step["members"].as_array().into_iter().flatten() {
                let kind = m["type"].as_str().unwrap_or_default();
                let member = match (m.get("slackChannel").and_then(Value::as_str), m.get("id")) {
                    (Some(channel), _) => {
                        let id = names.integration_id(channel).ok_or_else(|| {
                            Invalid(format!(
                                "{POLICIES}[{}]: no Slack integration posts to channel {channel} (connect it in Better Stack first)",
                                item.key
                            ))
                        })?;
                        // The Terraform provider's `policyStepMember.Id` is an integer.
                        match id.parse::<u64>() {
                            Ok(n) => json!({"type": kind, "id": n}),
                            Err(_) => json!({"type": kind, "id": id}),
                        }
                    }
                    (None, Some(id)) => json!({"type": kind, "id": id}),
                    (None, None) => json!({"type": kind}),
                };
                members.push(member);
            }
            out.push(json!({
                "type": "escalation",
                "wait_before": step["waitBefore"],
                "step_members": members,
            }));
        }
        obj.insert("steps".into(), Value::from(out));
    }
    Ok(body)
}

// ---- answers ---------------------------------------------------------------------------

fn bad(what: impl fmt::Display) -> Invalid {
    Invalid(what.to_string())
}

/// One JSON:API-like resource: `{"id": "…", "type": "…", "attributes": {…}}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub id: String,
    pub attributes: Map<String, Value>,
}

/// Reads one resource (`data` of a single answer, or an element of a list's `data`). Better
/// Stack's ids are strings of digits; an id of another form is refused, since it goes into a
/// path.
pub fn resource(value: &Value) -> Result<Resource, Invalid> {
    let id = match value.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(bad("a resource has no id")),
    };
    if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!(
            "resource id {:?} is not a Better Stack id",
            sanitize(&id, 30)
        )));
    }
    let attributes = value
        .get("attributes")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| bad(format!("resource {id} has no attributes object")))?;
    Ok(Resource { id, attributes })
}

/// The `data` of a single-resource answer (create, update).
pub fn single(answer: &Value) -> Result<Resource, Invalid> {
    resource(
        answer
            .get("data")
            .ok_or_else(|| bad("the answer has no data"))?,
    )
}

/// One page of a list: its resources and the `pagination.next` link (absent or `null` on the
/// last page).
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub items: Vec<Resource>,
    pub next: Option<String>,
}

pub fn page(answer: &Value) -> Result<Page, Invalid> {
    let data = answer
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("the list answer's data is not a list"))?;
    let items = data.iter().map(resource).collect::<Result<_, _>>()?;
    let next = match answer.get("pagination").and_then(|p| p.get("next")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("pagination.next is not a link")),
    };
    Ok(Page { items, next })
}

/// The request a `pagination.next` link stands for, relative to `base` (the configured
/// endpoint): its path below the base's path and its query. The link is outside data: one
/// that leaves the endpoint's scheme, host or port, or its path, is refused, so the token is
/// never sent elsewhere.
pub fn next_request(
    next: &str,
    base: &url::Url,
) -> Result<(String, Vec<(String, String)>), Invalid> {
    let link = url::Url::parse(next).map_err(|_| {
        bad(format!(
            "pagination.next {:?} is not a URL",
            sanitize(next, 80)
        ))
    })?;
    let same_origin = link.scheme() == base.scheme()
        && link.host_str() == base.host_str()
        && link.port_or_known_default() == base.port_or_known_default();
    if !same_origin || link.username() != "" || link.password().is_some() {
        return Err(bad(format!(
            "pagination.next points to {}, not to the configured endpoint: not followed",
            sanitize(link.host_str().unwrap_or("no host"), 80)
        )));
    }
    let prefix = base.path().trim_end_matches('/');
    let path = link
        .path()
        .strip_prefix(prefix)
        .filter(|p| p.starts_with('/'))
        .ok_or_else(|| bad("pagination.next leaves the endpoint's path: not followed"))?;
    let query = link
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    Ok((path.to_string(), query))
}

/// A Slack integration as `/api/v2/slack-integrations` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackIntegration {
    pub id: String,
    pub team_id: Option<String>,
    pub channel_id: Option<String>,
    pub channel_name: Option<String>,
    /// `active` or `account_inactive`.
    pub status: String,
}

pub fn slack_integration(r: &Resource) -> Result<SlackIntegration, Invalid> {
    let text = |k: &str| -> Result<Option<String>, Invalid> {
        match r.attributes.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(clean(s, 100))),
            Some(_) => Err(bad(format!(
                "slack integration {}: {k} is not a string",
                r.id
            ))),
        }
    };
    Ok(SlackIntegration {
        id: r.id.clone(),
        team_id: text("slack_team_id")?,
        channel_id: text("slack_channel_id")?,
        channel_name: text("slack_channel_name")?,
        status: text("slack_status")?.unwrap_or_else(|| "unknown".into()),
    })
}

/// What the answers' ids resolve to: escalation policies by id and name, Slack integrations by
/// id and channel.
#[derive(Clone, Debug, Default)]
pub struct Names {
    /// Policy id → name.
    pub policies: BTreeMap<String, String>,
    pub integrations: Vec<SlackIntegration>,
}

impl Names {
    pub fn new(policies: &[Resource], integrations: Vec<SlackIntegration>) -> Self {
        let policies = policies
            .iter()
            .filter_map(|p| {
                let name = p.attributes.get("name")?.as_str()?;
                Some((p.id.clone(), name.to_string()))
            })
            .collect();
        Self {
            policies,
            integrations,
        }
    }

    pub fn policy_name(&self, id: &str) -> Option<&str> {
        self.policies.get(id).map(String::as_str)
    }

    /// The id of the policy of that name; `None` also when two policies share it (Better Stack
    /// allows that; Perimeter then cannot tell which one is meant).
    pub fn policy_id(&self, name: &str) -> Option<&str> {
        let mut ids = self
            .policies
            .iter()
            .filter(|(_, n)| n.as_str() == name)
            .map(|(id, _)| id.as_str());
        match (ids.next(), ids.next()) {
            (Some(id), None) => Some(id),
            _ => None,
        }
    }

    fn integration(&self, id: &str) -> Option<&SlackIntegration> {
        self.integrations.iter().find(|i| i.id == id)
    }

    /// The integration posting to `channel`; the first active one if several do.
    pub fn integration_id(&self, channel: &str) -> Option<&str> {
        let mut matching: Vec<&SlackIntegration> = self
            .integrations
            .iter()
            .filter(|i| i.channel_id.as_deref() == Some(channel))
            .collect();
        matching.sort_by_key(|i| i.status != "active");
        matching.first().map(|i| i.id.as_str())
    }
}

/// Control characters out, bounded: keys and names from answers end up in status.
fn clean(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect()
}

fn get_str<'a>(r: &'a Resource, key: &str) -> Result<&'a str, Invalid> {
    r.attributes
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("resource {}: {key} is not a string", r.id)))
}

fn get_bool(r: &Resource, key: &str) -> Result<bool, Invalid> {
    r.attributes
        .get(key)
        .and_then(Value::as_bool)
        .ok_or_else(|| bad(format!("resource {}: {key} is not a boolean", r.id)))
}

/// An optional integer attribute: absent or `null` is `None`, anything but an integer refused.
fn opt_int(r: &Resource, key: &str) -> Result<Option<i64>, Invalid> {
    match r.attributes.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| bad(format!("resource {}: {key} is not an integer", r.id))),
    }
}

fn opt_text(r: &Resource, key: &str, max: usize) -> Result<Option<String>, Invalid> {
    match r.attributes.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(clean(s, max))),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(bad(format!("resource {}: {key} is not a string", r.id))),
    }
}

fn opt_sorted(r: &Resource, key: &str) -> Result<Option<Value>, Invalid> {
    match r.attributes.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => {
            let mut out: Vec<Value> = a.clone();
            if out.iter().any(|v| !(v.is_string() || v.is_i64())) {
                return Err(bad(format!("resource {}: {key} holds an odd value", r.id)));
            }
            out.sort_by_key(|v| (v.as_i64(), v.as_str().map(str::to_string)));
            out.dedup();
            Ok(Some(Value::from(out)))
        }
        Some(_) => Err(bad(format!("resource {}: {key} is not a list", r.id))),
    }
}

/// The policy a monitor or heartbeat points to, by name; an id no policy has is named as such.
fn policy_ref(r: &Resource, names: &Names) -> Result<Option<String>, Invalid> {
    let id = match r.attributes.get(POLICY_ID) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(bad(format!("resource {}: policy_id is not an id", r.id))),
    };
    Ok(Some(match names.policy_name(&id) {
        Some(name) => name.to_string(),
        None => format!("unknown policy {}", clean(&id, 20)),
    }))
}

/// Attributes an answer may carry that are credentials, or as good as one: a monitor's basic
/// auth, headers and body (they can hold tokens), a heartbeat's ping URL (anyone holding it can
/// report the job alive), a policy's incident token (it opens incidents), a status page's
/// password. Never kept in an item's `raw`, so nothing
/// downstream can print them.
const SECRET_ATTRIBUTES: [(&str, &str); 7] = [
    (MONITORS, "auth_username"),
    (MONITORS, "auth_password"),
    (MONITORS, "request_headers"),
    (MONITORS, "request_body"),
    (HEARTBEATS, "url"),
    (POLICIES, "incident_token"),
    (STATUS_PAGES, "password"),
];

/// The answer's attributes without [`SECRET_ATTRIBUTES`].
fn kept(section: &str, r: &Resource) -> Value {
    let mut attributes = r.attributes.clone();
    for (_, key) in SECRET_ATTRIBUTES.iter().filter(|(s, _)| *s == section) {
        attributes.remove(*key);
    }
    Value::Object(attributes)
}

pub fn observed_monitor(r: &Resource, names: &Names) -> Result<Item, Invalid> {
    let url = get_str(r, "url")?;
    let kind = get_str(r, "monitor_type")?;
    let item = Item::new(monitor_key(&clean(kind, 40), &clean(url, 2048)))
        .opt_field("checkFrequency", opt_int(r, "check_frequency")?)
        .opt_field("regions", opt_sorted(r, "regions")?)
        .opt_field(
            "expectedStatusCodes",
            opt_sorted(r, "expected_status_codes")?,
        )
        .opt_field("requiredKeyword", opt_text(r, "required_keyword", 500)?)
        .opt_field("port", opt_text(r, "port", 60)?)
        .opt_field("sslExpiration", opt_int(r, "ssl_expiration")?)
        .opt_field("domainExpiration", opt_int(r, "domain_expiration")?)
        .opt_field(ESCALATION_POLICY, policy_ref(r, names)?)
        .field("paused", get_bool(r, "paused")?);
    Ok(item.with_handle(r.id.clone()).with_raw(kept(MONITORS, r)))
}

pub fn observed_heartbeat(r: &Resource, names: &Names) -> Result<Item, Invalid> {
    let name = get_str(r, "name")?;
    let item = Item::new(clean(name, 100))
        .opt_field("period", opt_int(r, "period")?)
        .opt_field("grace", opt_int(r, "grace")?)
        .opt_field(ESCALATION_POLICY, policy_ref(r, names)?)
        .field("paused", get_bool(r, "paused")?);
    Ok(item.with_handle(r.id.clone()).with_raw(kept(HEARTBEATS, r)))
}

pub fn observed_policy(r: &Resource, names: &Names) -> Result<Item, Invalid> {
    let name = get_str(r, "name")?;
    let steps = match r.attributes.get("steps") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(bad(format!("policy {}: steps is not a list", r.id))),
    };
    let mut out = Vec::new();
    for step in &steps {
        let kind = step
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("policy {}: a step has no type", r.id)))?;
        if kind != "escalation" {
            // Not declarable: shown by its type so that it is drift, never silently equal.
            out.push(json!({"type": clean(kind, 40)}));
            continue;
        }
        let wait = match step.get("wait_before") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_i64()
                .ok_or_else(|| bad(format!("policy {}: wait_before is not an integer", r.id)))?,
        };
        let mut members = Vec::new();
        let list = match step.get("step_members") {
            None | Some(Value::Null) => &Vec::new(),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(bad(format!("policy {}: step_members is not a list", r.id))),
        };
        for m in list {
            let kind = m
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("policy {}: a step member has no type", r.id)))?;
            let id = match m.get("id") {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(Value::String(s)) => Some(clean(s, 20)),
                Some(_) => return Err(bad(format!("policy {}: a member id is odd", r.id))),
            };
            let kind = clean(kind, 40);
            let channel = (kind == "slack_integration")
                .then(|| id.as_deref().and_then(|i| names.integration(i)))
                .flatten()
                .and_then(|i| i.channel_id.clone());
            members.push(match (channel, id) {
                (Some(channel), _) => json!({"type": kind, "slackChannel": channel}),
                (None, Some(id)) => match id.parse::<u64>() {
                    Ok(n) => json!({"type": kind, "id": n}),
                    Err(_) => json!({"type": kind, "id": id}),
                },
                (None, None) => json!({"type": kind}),
            });
        }
        out.push(json!({"waitBefore": wait, "members": sort_members(members)}));
    }
    let item = Item::new(clean(name, 100))
        .opt_field("repeatCount", opt_int(r, "repeat_count")?)
        .opt_field("repeatDelay", opt_int(r, "repeat_delay")?)
        .field(STEPS, out);
    Ok(item.with_handle(r.id.clone()).with_raw(kept(POLICIES, r)))
}

pub fn observed_status_page(r: &Resource) -> Result<Item, Invalid> {
    let subdomain = get_str(r, "subdomain")?;
    let ips = match r.attributes.get("ip_allowlist") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => {
            let mut set = BTreeSet::new();
            for v in a {
                let s = v.as_str().ok_or_else(|| {
                    bad(format!(
                        "status page {}: ip_allowlist holds a non-string",
                        r.id
                    ))
                })?;
                set.insert(normalize::cidr(s).unwrap_or_else(|_| sanitize(s, 60)));
            }
            set.into_iter().collect()
        }
        Some(_) => {
            return Err(bad(format!(
                "status page {}: ip_allowlist is not a list",
                r.id
            )));
        }
    };
    let item = Item::new(clean(subdomain, 63))
        .opt_field("companyName", opt_text(r, "company_name", 100)?)
        .field("published", get_bool(r, "published")?)
        .field("ipAllowlist", ips);
    Ok(item
        .with_handle(r.id.clone())
        .with_raw(kept(STATUS_PAGES, r)))
}

/// Maps a list of resources of `section` into a section of the neutral model, in the
/// answer's order. Better Stack does not keep keys unique (two monitors of one URL and type,
/// two policies of one name): the first keeps the key, each other one is keyed
/// `<key> (duplicate <id>)`, so it shows as unmanaged (and goes with `unmanaged: Remove`)
/// instead of hiding behind the first.
pub fn observed_section(
    section: &str,
    resources: &[Resource],
    names: &Names,
) -> Result<Section, Invalid> {
    let mut seen = BTreeSet::new();
    let mut items = Vec::with_capacity(resources.len());
    for r in resources {
        let mut item = match section {
            MONITORS => observed_monitor(r, names),
            HEARTBEATS => observed_heartbeat(r, names),
            POLICIES => observed_policy(r, names),
            STATUS_PAGES => observed_status_page(r),
            other => Err(bad(format!("unknown section {other}"))),
        }?;
        if !seen.insert(item.key.clone()) {
            item.key = format!("{} (duplicate {})", item.key, r.id);
        }
        items.push(item);
    }
    Ok(Section::new(section, SectionKind::Unordered, items))
}

/// Whether a write's answer shows every declared field of `want` (a write counts only then).
/// Returns the fields that differ.
pub fn unwritten_fields(want: &Item, answered: &Item) -> Vec<String> {
    want.fields
        .iter()
        .filter(|(k, v)| answered.fields.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

// ---- findings --------------------------------------------------------------------------

fn timestamp(r: &Resource, key: &str) -> Result<Option<Timestamp>, Invalid> {
    match r.attributes.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s
            .parse::<Timestamp>()
            .map(Some)
            .map_err(|_| bad(format!("resource {}: {key} is not a time", r.id))),
        Some(_) => Err(bad(format!("resource {}: {key} is not a time", r.id))),
    }
}

/// The hosts the team's active monitors check (for the public-hostname coverage,
/// [`crate::core::hostnames`]): each monitor's `url` host, normalised. A paused monitor checks
/// nothing; a monitor without a DNS host (an IP address) covers no hostname. A monitor whose
/// `paused` is not a boolean is not the documented shape: refused, never guessed.
pub fn monitored_hosts(monitors: &[Resource]) -> Result<Vec<String>, Invalid> {
    let mut out = Vec::new();
    for r in monitors {
        let paused = get_bool(r, "paused")?;
        let status = r.attributes.get("status").and_then(Value::as_str);
        if paused || status == Some("paused") {
            continue;
        }
        let host = r
            .attributes
            .get("url")
            .and_then(Value::as_str)
            .and_then(crate::core::hostnames::monitor_host);
        if let Some(h) = host.filter(|h| !out.contains(h)) {
            out.push(h);
        }
    }
    Ok(out)
}

/// A declared monitor's findings at `now`: paused; else down; else not checked within
/// [`STALE_PERIODS`] check periods (a monitor never checked is judged from its creation).
pub fn monitor_findings(key: &str, r: &Resource, now: Timestamp) -> Result<Vec<Finding>, Invalid> {
    let subject = format!("{MONITORS}[{key}]");
    let status = get_str(r, "status")?;
    let paused = get_bool(r, "paused")?;
    if paused || status == "paused" {
        let since = timestamp(r, "paused_at")?
            .map(|t| format!(" since {t}"))
            .unwrap_or_default();
        return Ok(vec![Finding {
            code: MONITOR_PAUSED,
            subject,
            message: format!("monitor {} is paused{since}: it checks nothing", r.id),
        }]);
    }
    let last = timestamp(r, "last_checked_at")?;
    if status == "down" {
        let when = last
            .map(|t| format!(" (last checked {t})"))
            .unwrap_or_default();
        return Ok(vec![Finding {
            code: MONITOR_DOWN,
            subject,
            message: format!("monitor {} is down{when}", r.id),
        }]);
    }
    if NOT_SCHEDULED.contains(&status) {
        return Ok(Vec::new());
    }
    let every = opt_int(r, "check_frequency")?
        .filter(|f| *f > 0)
        .ok_or_else(|| {
            bad(format!(
                "monitor {}: check_frequency is not a positive integer",
                r.id
            ))
        })?;
    let allowed = SignedDuration::from_secs(every.saturating_mul(i64::from(STALE_PERIODS)));
    let (since, what) = match (last, timestamp(r, "created_at")?) {
        (Some(t), _) => (t, format!("last checked {t}")),
        (None, Some(c)) => (c, format!("never checked since it was created at {c}")),
        (None, None) => {
            return Ok(vec![Finding {
                code: MONITOR_NOT_CHECKED,
                subject,
                message: format!("monitor {} has no record of a check", r.id),
            }]);
        }
    };
    if now.duration_since(since) > allowed {
        return Ok(vec![Finding {
            code: MONITOR_NOT_CHECKED,
            subject,
            message: format!(
                "monitor {} {what}, more than {STALE_PERIODS} check periods ({every} s each) ago",
                r.id
            ),
        }]);
    }
    Ok(Vec::new())
}

/// A declared heartbeat's finding: down.
pub fn heartbeat_findings(key: &str, r: &Resource) -> Result<Vec<Finding>, Invalid> {
    let status = get_str(r, "status")?;
    Ok(if status == "down" {
        vec![Finding {
            code: HEARTBEAT_DOWN,
            subject: format!("{HEARTBEATS}[{key}]"),
            message: format!("heartbeat {} is down: its job has not pinged in time", r.id),
        }]
    } else {
        Vec::new()
    })
}

// ---- alert routes ----------------------------------------------------------------------

/// Whether a policy's step has a Slack member (`slack_integration` or
/// `all_slack_integrations`): only then do the policies' answers need the integrations.
pub fn refers_to_slack(policies: &[Resource]) -> bool {
    policies
        .iter()
        .filter_map(|p| p.attributes.get("steps").and_then(Value::as_array))
        .flatten()
        .filter_map(|step| step.get("step_members").and_then(Value::as_array))
        .flatten()
        .any(|m| {
            matches!(
                m.get("type").and_then(Value::as_str),
                Some("slack_integration" | "all_slack_integrations")
            )
        })
}

/// The alert routes of Better Stack's escalation policies that end in Slack: each step member
/// `slack_integration` (resolved through `/api/v2/slack-integrations` to its team and channel)
/// and each `all_slack_integrations` member (one route per integration). An integration that
/// is not `active` is still a route, with its status as the route's `problem`; one the list
/// does not have is a route to no channel, with that as its problem.
pub fn alert_routes(policies: &[Resource], names: &Names) -> Vec<AlertRoute> {
    let to_route = |route: String, integ: &SlackIntegration| AlertRoute {
        route,
        slack: Some(SlackChannelRef {
            team: integ.team_id.clone(),
            channel: integ
                .channel_id
                .clone()
                .unwrap_or_else(|| format!("#{}", integ.channel_name.clone().unwrap_or_default())),
        }),
        other: None,
        problem: (integ.status != "active")
            .then(|| format!("Slack integration {} is {}", integ.id, integ.status)),
    };
    let mut out = Vec::new();
    for p in policies {
        let name = p
            .attributes
            .get("name")
            .and_then(Value::as_str)
            .map_or_else(|| format!("policy {}", p.id), |n| clean(n, 100));
        let steps = p.attributes.get("steps").and_then(Value::as_array);
        for (i, step) in steps.into_iter().flatten().enumerate() {
            let route = format!("escalation policy '{name}' step {}", i + 1);
            let members = step.get("step_members").and_then(Value::as_array);
            for m in members.into_iter().flatten() {
                match m.get("type").and_then(Value::as_str) {
                    Some("slack_integration") => {
                        let id = match m.get("id") {
                            Some(Value::Number(n)) => n.to_string(),
                            Some(Value::String(s)) => clean(s, 20),
                            _ => String::new(),
                        };
                        out.push(match names.integration(&id) {
                            Some(integ) => to_route(route.clone(), integ),
                            None => AlertRoute {
                                route: route.clone(),
                                slack: None,
                                other: Some(format!("Slack integration {id}")),
                                problem: Some(format!(
                                    "Slack integration {id} is not in Better Stack's list"
                                )),
                            },
                        });
                    }
                    Some("all_slack_integrations") => {
                        out.extend(
                            names
                                .integrations
                                .iter()
                                .map(|i| to_route(route.clone(), i)),
                        );
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

// ---- probe addresses -------------------------------------------------------------------

/// Better Stack's probe addresses (`GET /ips-by-cluster.json`: an object of cluster name →
/// list of IPs), validated and in canonical CIDR form. Anything that is not an address is
/// refused, and so is an empty answer: these lists open firewalls, so a wrong one must not be
/// half read.
pub fn probe_ips(answer: &Value) -> Result<BTreeMap<String, Vec<String>>, Invalid> {
    let clusters = answer
        .as_object()
        .ok_or_else(|| bad("ips-by-cluster.json is not an object"))?;
    if clusters.is_empty() {
        return Err(bad("ips-by-cluster.json lists no cluster"));
    }
    let mut out = BTreeMap::new();
    for (cluster, ips) in clusters {
        let name_ok = !cluster.is_empty()
            && cluster.len() <= 64
            && cluster
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !name_ok {
            return Err(bad(format!(
                "ips-by-cluster.json: cluster name {:?} is not a name",
                sanitize(cluster, 40)
            )));
        }
        let list = ips.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
            bad(format!(
                "ips-by-cluster.json: {cluster} has no address list"
            ))
        })?;
        let mut set = BTreeSet::new();
        for ip in list {
            let text = ip
                .as_str()
                .ok_or_else(|| bad(format!("ips-by-cluster.json: {cluster} holds a non-string")))?;
            let cidr = normalize::cidr(text).map_err(|_| {
                bad(format!(
                    "ips-by-cluster.json: {cluster}: {:?} is not an IP address or CIDR",
                    sanitize(text, 60)
                ))
            })?;
            set.insert(cidr);
        }
        out.insert(cluster.clone(), set.into_iter().collect());
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
