//! Who changed a drifted AWS section: CloudTrail's event history (`LookupEvents`), read in the
//! drifted target's region(s) since [`LOOKBACK`], mapped onto the sections drift paths name.
//!
//! What is looked up ([`lookups`]): the API takes one attribute per call, so each drifted
//! section asks for what CloudTrail files its changes under — the resource name for security
//! groups (`sg-…`) and network ACLs (`acl-…`), which CloudTrail records as the events'
//! resources, and the event name for the others (`UpdateWebACL`, `UpdateIPSet`,
//! `Create`/`DeleteFlowLogs`, `UpdateDetector`, `PutMetricAlarm`/`DeleteAlarms`, and
//! `AuthorizeSecurityGroupIngress` for the region's world-open finding). Where the account's
//! policies share listings (the operator) or a target has more drifted groups than the names
//! their changes are filed under, [`plan`] reads the security groups' changes from listings by
//! event name instead, shared per account and region (see [`super::trail`]), and falls back to
//! the lookups by group where a listing was cut short.
//!
//! How an event is matched ([`events`]): by its `eventName` and the `requestParameters` of its
//! `CloudTrailEvent` — a security group's rules with the rule keys its `ipPermissions` name
//! (else the group's ingress or egress as a whole), a web ACL's default action and rules, an
//! IP set, a network ACL entry, a VPC's flow log, the detector, an alarm. A failed call
//! (`errorCode`) changed nothing and matches nothing; anything else is not matched.
//!
//! Who ([`actor`]): the `userIdentity` — an assumed role's session name with the role
//! (`dana@example.com (AWSReservedSSO_Admin)`), an IAM user's name, the root user — and how
//! (`console` when the session came from the console, else `API`). Perimeter's own writes are
//! recognised by the request id AWS gave each of them (the event's `requestID`), or, for one
//! whose id was not seen (an answer lost on the way back), by [`OwnWrites`] — never a console
//! session — and are shown as Perimeter, never as the credential's owner.
//!
//! [`LOOKBACK`]: crate::core::attribution::LOOKBACK

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde_json::Value;

use super::interceptor::OwnRequestIds;
use super::model::{self, ALL_VPCS, DETECTOR, WORLD_OPEN};
use super::regions::AwsScope;
use super::sections::{
    ALARMS, FINDINGS, FLOW_LOGS, GUARD_DUTY, IP_SETS, Part, WEB_ACLS, nacl_section, region_section,
    sg_section, waf_rules_section,
};
use super::sections::{GroupRef, InRegion};
use crate::core::Drift;
use crate::core::attribution::{Actor, AuditEvent, OwnWrites};
use crate::core::attribution::{LOOKBACK, Trail, locate};
use crate::error::ProviderError;
use crate::http::sanitize;
use crate::providers::Target;

/// What the log is called in status.
pub const SOURCE: &str = "AWS CloudTrail event history";

/// Events per page: the most `LookupEvents` gives.
pub const MAX_RESULTS: i32 = 50;

/// Pages read at most per lookup, newest first: the newest change to a field is what
/// attributes it, and each page costs half a second of the region's lookup budget.
pub const MAX_PAGES: usize = 4;

/// One `LookupAttribute`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lookup {
    ResourceName(String),
    EventName(&'static str),
}

/// What to look up for a drifted section; `group_id` resolves a security group named by VPC
/// and name (`None`: not found, nothing to look up).
pub fn lookups(part: &Part, group_id: Option<&str>) -> Vec<Lookup> {
    match part {
        Part::SecurityGroup { .. } => group_id
            .map(|g| Lookup::ResourceName(g.to_string()))
            .into_iter()
            .collect(),
        Part::NetworkAcl(acl) => vec![Lookup::ResourceName(acl.clone())],
        Part::WebAcls | Part::WafRules(_) => vec![Lookup::EventName("UpdateWebACL")],
        Part::IpSets => vec![Lookup::EventName("UpdateIPSet")],
        Part::Findings => vec![Lookup::EventName("AuthorizeSecurityGroupIngress")],
        Part::FlowLogs => vec![
            Lookup::EventName("CreateFlowLogs"),
            Lookup::EventName("DeleteFlowLogs"),
        ],
        Part::GuardDuty => vec![Lookup::EventName("UpdateDetector")],
        Part::Alarms => vec![
            Lookup::EventName("PutMetricAlarm"),
            Lookup::EventName("DeleteAlarms"),
        ],
    }
}

/// The event names CloudTrail files a change to a security group's ingress (or egress) under:
/// the ones [`events`] maps onto its rules.
pub fn sg_event_names(egress: bool) -> [&'static str; 3] {
    if egress {
        [
            "AuthorizeSecurityGroupEgress",
            "RevokeSecurityGroupEgress",
            "ModifySecurityGroupRules",
        ]
    } else {
        [
            "AuthorizeSecurityGroupIngress",
            "RevokeSecurityGroupIngress",
            "ModifySecurityGroupRules",
        ]
    }
}

/// How one region's drifted sections are read (see [`plan`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Lookups of the target's own.
    pub lookups: BTreeSet<Lookup>,
    /// The drifted groups (by id) read from the account's shared listings.
    pub groups: BTreeSet<String>,
    /// The listings read for those groups: an event counts when it changed one of them.
    pub for_groups: BTreeSet<&'static str>,
    /// The listings read whole: every event counts (a region-wide section's, the findings').
    pub whole: BTreeSet<&'static str>,
}

impl Plan {
    /// Every shared listing the plan reads.
    pub fn listings(&self) -> BTreeSet<&'static str> {
        self.for_groups.union(&self.whole).copied().collect()
    }

    /// Whether a listed change is to one of the plan's groups.
    pub fn covers(&self, change: &Change) -> bool {
        change.group().is_some_and(|g| self.groups.contains(g))
    }

    /// The lookups a listing cut short leaves to be made group by group.
    pub fn one_by_one(&self) -> Vec<Lookup> {
        self.groups
            .iter()
            .map(|g| Lookup::ResourceName(g.clone()))
            .collect()
    }
}

/// How to read the drifted `parts` of one region (each with its security group's id, when it
/// is one and was found): group by group, as [`lookups`] says; or, where listings are `shared`
/// by the account's policies (the operator's window) or cost fewer calls than the groups, the
/// security groups' changes from the account's listings by event name (see
/// [`super::trail`]). Where they are shared, the other sections' lookups by event name are
/// read as shared listings too. Never from listings while the region is `busy` (a listing was
/// cut short lately): then as [`lookups`] says.
pub fn plan(parts: &[(Part, Option<String>)], shared: bool, busy: bool) -> Plan {
    let mut groups = BTreeSet::new();
    let mut for_groups = BTreeSet::new();
    for (part, id) in parts {
        if let (Part::SecurityGroup { egress, .. }, Some(id)) = (part, id) {
            groups.insert(id.clone());
            for_groups.extend(sg_event_names(*egress));
        }
    }
    let listed = !busy && (shared || groups.len() > for_groups.len());
    let mut plan = Plan::default();
    for (part, id) in parts {
        for lookup in lookups(part, id.as_deref()) {
            match lookup {
                Lookup::ResourceName(_) if listed && matches!(part, Part::SecurityGroup { .. }) => {
                }
                Lookup::EventName(name) if listed && (shared || for_groups.contains(name)) => {
                    plan.whole.insert(name);
                }
                other => {
                    plan.lookups.insert(other);
                }
            }
        }
    }
    if listed {
        plan.groups = groups;
        plan.for_groups = for_groups;
    }
    plan
}

/// Where the events of one region go.
pub struct Context<'a> {
    pub region: &'a str,
    /// The target covers every region: its sections are named `<region>/<section>`.
    pub prefixed: bool,
    /// Security group id → the name its sections have in the target (`sg-…`, or `vpc-…/name`
    /// for a group the policy names by VPC and name).
    pub groups: &'a BTreeMap<String, String>,
    pub own_ids: &'a OwnRequestIds,
    pub own_writes: &'a OwnWrites,
}

fn text<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A number CloudTrail writes as a number (or, for some services, a string).
fn number(v: Option<&Value>) -> Option<i32> {
    match v? {
        Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A list CloudTrail writes as EC2 does (`{"items": [...]}`) or as a plain array.
fn items(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Object(o)) => match o.get("items") {
            Some(Value::Array(a)) => a.iter().collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// The rule keys an `ipPermissions` names, as [`model::rule_key`] keys observed rules;
/// `None` when a permission names no peer Perimeter can key.
fn permission_keys(params: &Value) -> Option<Vec<String>> {
    let mut keys = Vec::new();
    for perm in items(params.get("ipPermissions")) {
        let proto = model::protocol(perm.get("ipProtocol").and_then(Value::as_str)?);
        let (from, to) = match proto.as_str() {
            "all" => (None, None),
            _ => (number(perm.get("fromPort")), number(perm.get("toPort"))),
        };
        let ports = model::ports(&proto, from, to);
        let mut peers = Vec::new();
        for (list, field) in [
            ("ipRanges", "cidrIp"),
            ("ipv6Ranges", "cidrIpv6"),
            ("prefixListIds", "prefixListId"),
            ("groups", "groupId"),
        ] {
            for peer in items(perm.get(list)) {
                let p = peer.get(field).and_then(Value::as_str)?;
                let p = if field.starts_with("cidr") {
                    crate::core::normalize::cidr(p).unwrap_or_else(|_| p.to_string())
                } else {
                    p.to_string()
                };
                peers.push(p);
            }
        }
        if peers.is_empty() {
            return None;
        }
        keys.extend(peers.iter().map(|p| model::rule_key(&proto, &ports, p)));
    }
    (!keys.is_empty()).then_some(keys)
}

/// The security group a request names by id: EC2's `groupId`, or the group of
/// `ModifySecurityGroupRules` (CloudTrail records its request as sent).
fn group_id(params: &Value) -> Option<&str> {
    params
        .get("groupId")
        .or_else(|| params.pointer("/ModifySecurityGroupRulesRequest/GroupId"))
        .and_then(Value::as_str)
}

/// The (one-region section, key) an event changed.
fn targets(
    name: &str,
    params: &Value,
    groups: &BTreeMap<String, String>,
) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    match name {
        "AuthorizeSecurityGroupIngress"
        | "AuthorizeSecurityGroupEgress"
        | "RevokeSecurityGroupIngress"
        | "RevokeSecurityGroupEgress" => {
            let Some(id) = params.get("groupId").and_then(Value::as_str) else {
                return out;
            };
            let group = groups.get(id).cloned().unwrap_or_else(|| id.to_string());
            let egress = name.ends_with("Egress");
            let section = sg_section_named(&group, egress);
            match permission_keys(params) {
                Some(keys) => {
                    let world_open = !egress
                        && name.starts_with("Authorize")
                        && keys
                            .iter()
                            .any(|k| k.ends_with(":0.0.0.0/0") || k.ends_with(":::/0"));
                    out.extend(keys.into_iter().map(|k| (section.clone(), Some(k))));
                    if world_open {
                        out.push((FINDINGS.to_string(), Some(WORLD_OPEN.to_string())));
                    }
                }
                None => out.push((section, None)),
            }
            if name.starts_with("Revoke") {
                // Revoking can only close what the finding counts.
                out.push((FINDINGS.to_string(), Some(WORLD_OPEN.to_string())));
            }
        }
        // Its request names the rule by id, not by what it allows: the group's rules as a whole,
        // in both directions (the id does not say which).
        "ModifySecurityGroupRules" => {
            if let Some(id) = group_id(params) {
                let group = groups.get(id).cloned().unwrap_or_else(|| id.to_string());
                out.push((sg_section_named(&group, false), None));
                out.push((sg_section_named(&group, true), None));
            }
        }
        "CreateNetworkAclEntry" | "ReplaceNetworkAclEntry" | "DeleteNetworkAclEntry" => {
            if let Some(acl) = params.get("networkAclId").and_then(Value::as_str) {
                let key = number(params.get("ruleNumber")).map(|n| {
                    let egress = matches!(params.get("egress"), Some(Value::Bool(true)))
                        || params.get("egress").and_then(Value::as_str) == Some("true");
                    model::nacl_key(egress, n)
                });
                out.push((nacl_section(acl), key));
            }
        }
        "UpdateWebACL" | "CreateWebACL" | "DeleteWebACL" => {
            if let (Some(scope), Some(acl)) = (
                params.get("scope").and_then(Value::as_str),
                params.get("name").and_then(Value::as_str),
            ) {
                let key = model::acl_key(scope, acl);
                out.push((WEB_ACLS.to_string(), Some(key.clone())));
                out.push((waf_rules_section(&key), None));
            }
        }
        "UpdateIPSet" | "CreateIPSet" | "DeleteIPSet" => {
            if let (Some(scope), Some(set)) = (
                params.get("scope").and_then(Value::as_str),
                params.get("name").and_then(Value::as_str),
            ) {
                out.push((IP_SETS.to_string(), Some(model::acl_key(scope, set))));
            }
        }
        "CreateFlowLogs" => {
            let vpcs: Vec<String> = items(params.get("resourceIds"))
                .into_iter()
                .filter_map(|v| v.as_str().or_else(|| v.get("resourceId")?.as_str()))
                .map(str::to_string)
                .collect();
            if vpcs.is_empty() {
                out.push((FLOW_LOGS.to_string(), None));
            } else {
                out.push((FLOW_LOGS.to_string(), Some(ALL_VPCS.to_string())));
                out.extend(vpcs.into_iter().map(|v| (FLOW_LOGS.to_string(), Some(v))));
            }
        }
        // Names flow logs by id only: the flow logs as a whole.
        "DeleteFlowLogs" => out.push((FLOW_LOGS.to_string(), None)),
        "UpdateDetector" | "CreateDetector" | "DeleteDetector" => {
            out.push((GUARD_DUTY.to_string(), Some(DETECTOR.to_string())));
        }
        "PutMetricAlarm" => {
            if let Some(alarm) = params.get("alarmName").and_then(Value::as_str) {
                out.push((ALARMS.to_string(), Some(alarm.to_string())));
            }
        }
        "DeleteAlarms" => {
            for alarm in items(params.get("alarmNames")) {
                if let Some(a) = alarm.as_str() {
                    out.push((ALARMS.to_string(), Some(a.to_string())));
                }
            }
        }
        _ => {}
    }
    out
}

fn sg_section_named(group: &str, egress: bool) -> String {
    // The section name of the group as the target names it; `GroupRef`'s display is the
    // name, so an id and a `vpc-…/name` both render through it.
    let named = match group.split_once('/') {
        Some((vpc, name)) => super::sections::GroupRef::Named {
            vpc: vpc.to_string(),
            name: name.to_string(),
        },
        None => super::sections::GroupRef::Id(group.to_string()),
    };
    sg_section(&named, egress)
}

/// The event's actor, and whether it came from the console.
pub fn actor(event: &Value, username: Option<&str>) -> (Actor, bool) {
    let identity = event.get("userIdentity").unwrap_or(&Value::Null);
    let console = text(event, "/sessionCredentialFromConsole") == Some("true")
        || text(event, "/userAgent").is_some_and(|ua| {
            let ua = ua.to_ascii_lowercase();
            ua.contains("console.") || ua == "aws internal"
        });
    let kind = text(identity, "/type").unwrap_or_default();
    let arn_tail = text(identity, "/arn").and_then(|a| a.rsplit('/').next());
    let name = match kind {
        "AssumedRole" => {
            let session = arn_tail.or_else(|| {
                text(identity, "/principalId").and_then(|p| p.split_once(':').map(|(_, s)| s))
            });
            let role = text(identity, "/sessionContext/sessionIssuer/userName").map(role_name);
            match (session, role) {
                (Some(s), Some(r)) => Some(format!("{} ({})", sanitize(s, 120), sanitize(r, 80))),
                (Some(s), None) => Some(sanitize(s, 120)),
                (None, r) => r.map(|r| sanitize(r, 80)),
            }
        }
        "Root" => Some("root".to_string()),
        "AWSService" => text(identity, "/invokedBy").map(|s| sanitize(s, 120)),
        _ => text(identity, "/userName")
            .or(arn_tail)
            .map(|s| sanitize(s, 120)),
    }
    .or_else(|| username.filter(|u| !u.is_empty()).map(|u| sanitize(u, 120)))
    .unwrap_or_else(|| "an unnamed identity".to_string());
    let via = if console { "console" } else { "API" };
    (Actor::other(name, Some(via.to_string())), console)
}

/// An IAM Identity Center role without the random suffix AWS gives it
/// (`AWSReservedSSO_Admin_0a1b2c3d4e5f6a7b` → `AWSReservedSSO_Admin`): the permission set is
/// what a reader knows, and the suffix alone would read as an opaque token.
fn role_name(role: &str) -> &str {
    match role.rsplit_once('_') {
        Some((head, suffix))
            if role.starts_with("AWSReservedSSO_")
                && head.len() > "AWSReservedSSO".len()
                && !suffix.is_empty()
                && suffix.chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            head
        }
        _ => role,
    }
}

/// What mapping needs of one `LookupEvents` event, read once: a listing keeps these, not the
/// record, and maps them for each policy that shares it. The request parameters are kept as
/// JSON text (a parsed value is several times larger) and parsed by the policies that take
/// the change.
#[derive(Clone, Debug)]
pub struct Change {
    name: String,
    at: Timestamp,
    params: Box<str>,
    group: Option<String>,
    actor: Actor,
    console: bool,
    request_id: Option<String>,
}

impl Change {
    /// One event (`username`: its `Username`; `event`: its `CloudTrailEvent`, parsed); `None`
    /// for a failed call (`errorCode`), which changed nothing, or an undated one.
    pub fn of(username: Option<&str>, event: &Value) -> Option<Self> {
        if text(event, "/errorCode").is_some() {
            return None;
        }
        let at = text(event, "/eventTime").and_then(|t| t.parse::<Timestamp>().ok())?;
        let (actor, console) = actor(event, username);
        let params = event.get("requestParameters").unwrap_or(&Value::Null);
        Some(Self {
            name: text(event, "/eventName").unwrap_or_default().to_string(),
            at,
            params: params.to_string().into_boxed_str(),
            group: group_id(params).map(str::to_string),
            actor,
            console,
            request_id: text(event, "/requestID").map(str::to_string),
        })
    }

    /// The security group the change names, when it names one by id.
    pub fn group(&self) -> Option<&str> {
        self.group.as_deref()
    }

    /// About what it holds, for the bound on what an account keeps.
    pub fn bytes(&self) -> usize {
        200 + self.name.len() + self.params.len()
    }
}

/// One change as events on the target's sections.
pub fn events(change: &Change, ctx: &Context<'_>) -> Vec<AuditEvent> {
    let own_id = change
        .request_id
        .as_deref()
        .is_some_and(|id| ctx.own_ids.contains(id));
    let at = change.at;
    let params = serde_json::from_str::<Value>(&change.params).unwrap_or(Value::Null);
    targets(&change.name, &params, ctx.groups)
        .into_iter()
        .map(|(section, key)| {
            let perimeter =
                own_id || (!change.console && ctx.own_writes.covers(ctx.region, &section, at));
            AuditEvent {
                section: if ctx.prefixed {
                    region_section(ctx.region, &section)
                } else {
                    section
                },
                key,
                actor: if perimeter {
                    Actor::Perimeter
                } else {
                    change.actor.clone()
                },
                at,
            }
        })
        .collect()
}

impl super::Aws {
    /// The CloudTrail events of the target's drifted sections, region by region (see the
    /// module's rules). `AccessDeniedException` is an error naming the permission: the caller
    /// leaves the drift unattributed with it, and the sync goes on.
    pub(super) async fn audit(
        &self,
        target: &Target,
        drift: &[Drift],
    ) -> Result<Trail, ProviderError> {
        let op = "LookupEvents";
        let regions: Vec<(String, bool)> = match target.scope_of::<AwsScope>(op)? {
            AwsScope::Region(r) => vec![(r.clone(), false)],
            AwsScope::Regions(rs) => rs.iter().map(|r| (r.clone(), true)).collect(),
            AwsScope::EveryRegion => return Err(super::regions::unresolved(op)),
        };
        let since = Timestamp::now() - LOOKBACK;
        let own_writes = self.own.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut seen = BTreeSet::new();
        let mut events = Vec::new();
        for (region, prefixed) in regions {
            let drifted: Vec<Part> = target
                .desired
                .sections
                .iter()
                .filter(|s| drift.iter().any(|d| locate(&d.path, &s.name).is_some()))
                .filter_map(|s| match (s.locator::<InRegion>(), Part::of(s)) {
                    (Some(InRegion { region: r, part }), _) if *r == region => Some(part.clone()),
                    (None, Some(part)) if !prefixed => Some(part.clone()),
                    _ => None,
                })
                .collect();
            if drifted.is_empty() {
                continue;
            }
            // Group id → the group as the policy names it, for sections named by VPC and name.
            let mut groups = BTreeMap::new();
            let by_name = drifted.iter().any(|p| {
                matches!(
                    p,
                    Part::SecurityGroup {
                        group: GroupRef::Named { .. },
                        ..
                    }
                )
            });
            if by_name {
                for g in self.groups(&region).await? {
                    if let Some(vpc) = &g.vpc_id {
                        groups.insert(g.group_id.clone(), format!("{vpc}/{}", g.group_name));
                    }
                }
            }
            let declared_named: BTreeSet<String> = drifted
                .iter()
                .filter_map(|p| match p {
                    Part::SecurityGroup {
                        group: g @ GroupRef::Named { .. },
                        ..
                    } => Some(g.to_string()),
                    _ => None,
                })
                .collect();
            // Only the groups the policy names by name are renamed; the others keep their id.
            groups.retain(|_, named| declared_named.contains(named));
            let mut parts = Vec::new();
            for part in &drifted {
                let id = match part {
                    Part::SecurityGroup {
                        group: GroupRef::Id(id),
                        ..
                    } => Some(id.clone()),
                    Part::SecurityGroup { group, .. } => groups
                        .iter()
                        .find(|(_, named)| **named == group.to_string())
                        .map(|(id, _)| id.clone()),
                    _ => None,
                };
                parts.push((part.clone(), id));
            }
            let shared = !self.trail_listings.window().is_zero();
            let plan = plan(&parts, shared, self.listings_cut_short(&region));
            let ctx = Context {
                region: &region,
                prefixed,
                groups: &groups,
                own_ids: &self.counter.own,
                own_writes: &own_writes,
            };
            let mut take = |e: &super::trail::Listed, events: &mut Vec<AuditEvent>| {
                // One change found by two lookups (a group's id and its event name) is one
                // change.
                if let Some(id) = &e.id
                    && !seen.insert((region.clone(), id.clone()))
                {
                    return;
                }
                events.extend(self::events(&e.change, &ctx));
            };
            let mut complete = true;
            for name in plan.listings() {
                let listing = self.trail_listing(&region, name, since).await?;
                if plan.for_groups.contains(name) {
                    complete &= listing.complete;
                }
                for e in &listing.events {
                    if plan.whole.contains(name) || plan.covers(&e.change) {
                        take(e, &mut events);
                    }
                }
            }
            let mut lookups = plan.lookups.clone();
            if !complete {
                self.mark_listings_cut_short(&region);
                lookups.extend(plan.one_by_one());
            }
            for lookup in &lookups {
                for e in &self.lookup(&region, lookup, since).await?.events {
                    take(e, &mut events);
                }
            }
        }
        Ok(Trail::Read {
            source: SOURCE,
            since,
            events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// [`super::events`] of a `CloudTrailEvent` as CloudTrail writes it; one that does not
    /// parse says nothing (`trail` skips it).
    fn events(username: Option<&str>, json: &str, ctx: &Context<'_>) -> Vec<AuditEvent> {
        serde_json::from_str::<Value>(json)
            .ok()
            .and_then(|e| Change::of(username, &e))
            .map(|c| super::events(&c, ctx))
            .unwrap_or_default()
    }

    fn ct(name: &str, params: Value, identity: Value, extra: Value) -> String {
        let mut e = json!({
            "eventVersion": "1.08",
            "eventTime": "2026-11-30T05:00:00Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": name,
            "awsRegion": "eu-west-1",
            "userIdentity": identity,
            "requestParameters": params,
            "requestID": "req-1",
            "userAgent": "aws-cli/2.15",
        });
        if let (Some(e), Value::Object(x)) = (e.as_object_mut(), extra) {
            e.extend(x);
        }
        e.to_string()
    }

    fn sso() -> Value {
        json!({
            "type": "AssumedRole",
            "arn": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0a1b2c3d4e5f6a7b/dana@example.com",
            "principalId": "AROAEXAMPLE:dana@example.com",
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "AWSReservedSSO_Admin_0a1b2c3d4e5f6a7b"}},
        })
    }

    fn perm(proto: &str, from: i64, to: i64, cidr: &str) -> Value {
        json!({"items": [{"ipProtocol": proto, "fromPort": from, "toPort": to,
            "ipRanges": {"items": [{"cidrIp": cidr}]}}]})
    }

    fn mapped(
        name: &str,
        params: Value,
        groups: &BTreeMap<String, String>,
    ) -> Vec<(String, Option<String>)> {
        let own_ids = OwnRequestIds::default();
        let own_writes = OwnWrites::default();
        let ctx = Context {
            region: "eu-west-1",
            prefixed: false,
            groups,
            own_ids: &own_ids,
            own_writes: &own_writes,
        };
        events(None, &ct(name, params, sso(), json!({})), &ctx)
            .into_iter()
            .map(|e| (e.section, e.key))
            .collect()
    }

    fn sg(id: &str, egress: bool) -> (Part, Option<String>) {
        (
            Part::SecurityGroup {
                group: GroupRef::Id(id.to_string()),
                egress,
            },
            Some(id.to_string()),
        )
    }

    fn names(n: &[&'static str]) -> BTreeSet<&'static str> {
        n.iter().copied().collect()
    }

    /// Group by group where nothing shares a listing, from the account's listings where the
    /// policies share them or they cost fewer calls; never while the region is busy.
    #[test]
    fn plans_read_listings_where_they_are_shared_or_cheaper() {
        let ingress = names(&[
            "AuthorizeSecurityGroupIngress",
            "ModifySecurityGroupRules",
            "RevokeSecurityGroupIngress",
        ]);
        let by_id = |ids: &[&str]| -> BTreeSet<Lookup> {
            ids.iter()
                .map(|i| Lookup::ResourceName((*i).to_string()))
                .collect()
        };
        let findings = (Part::Findings, None);
        let web_acls = (Part::WebAcls, None);
        let unresolved = (
            Part::SecurityGroup {
                group: GroupRef::Named {
                    vpc: "vpc-a".into(),
                    name: "gone".into(),
                },
                egress: false,
            },
            None,
        );
        let four: Vec<_> = ["sg-1", "sg-2", "sg-3", "sg-4"]
            .iter()
            .map(|g| sg(g, false))
            .collect();
        let three = four[..3].to_vec();
        let ids = |n: &[&str]| n.iter().map(|s| (*s).to_string()).collect::<BTreeSet<_>>();
        let mut one_and_findings = vec![sg("sg-1", false), findings.clone()];
        let mut alone = by_id(&["sg-1"]);
        alone.insert(Lookup::EventName("AuthorizeSecurityGroupIngress"));
        // (case, drifted parts, shared, busy, plan)
        type Case = (&'static str, Vec<(Part, Option<String>)>, bool, bool, Plan);
        let table: Vec<Case> = vec![
            (
                "alone, one group and the findings: one by one",
                one_and_findings.clone(),
                false,
                false,
                Plan {
                    lookups: alone.clone(),
                    ..Plan::default()
                },
            ),
            (
                "shared: the group's names, the findings' from the same listing",
                one_and_findings.clone(),
                true,
                false,
                Plan {
                    groups: ids(&["sg-1"]),
                    for_groups: ingress.clone(),
                    whole: names(&["AuthorizeSecurityGroupIngress"]),
                    ..Plan::default()
                },
            ),
            (
                "shared but busy: one by one",
                one_and_findings.clone(),
                true,
                true,
                Plan {
                    lookups: alone,
                    ..Plan::default()
                },
            ),
            (
                "alone, three groups: as many calls either way, one by one",
                three.clone(),
                false,
                false,
                Plan {
                    lookups: by_id(&["sg-1", "sg-2", "sg-3"]),
                    ..Plan::default()
                },
            ),
            (
                "alone, four groups: three listings are fewer",
                four.clone(),
                false,
                false,
                Plan {
                    groups: ids(&["sg-1", "sg-2", "sg-3", "sg-4"]),
                    for_groups: ingress.clone(),
                    ..Plan::default()
                },
            ),
            (
                "alone, four groups and the web ACLs: the web ACLs' lookup stays its own",
                [four.clone(), vec![web_acls.clone()]].concat(),
                false,
                false,
                Plan {
                    lookups: [Lookup::EventName("UpdateWebACL")].into(),
                    groups: ids(&["sg-1", "sg-2", "sg-3", "sg-4"]),
                    for_groups: ingress.clone(),
                    ..Plan::default()
                },
            ),
            (
                "shared: ingress and egress, the web ACLs read whole, a group not found skipped",
                vec![
                    sg("sg-1", false),
                    sg("sg-2", true),
                    web_acls,
                    unresolved.clone(),
                ],
                true,
                false,
                Plan {
                    groups: ids(&["sg-1", "sg-2"]),
                    for_groups: names(&[
                        "AuthorizeSecurityGroupEgress",
                        "AuthorizeSecurityGroupIngress",
                        "ModifySecurityGroupRules",
                        "RevokeSecurityGroupEgress",
                        "RevokeSecurityGroupIngress",
                    ]),
                    whole: names(&["UpdateWebACL"]),
                    ..Plan::default()
                },
            ),
            (
                "shared, the findings alone: read whole",
                vec![findings.clone(), unresolved],
                true,
                false,
                Plan {
                    whole: names(&["AuthorizeSecurityGroupIngress"]),
                    ..Plan::default()
                },
            ),
        ];
        for (case, parts, shared, busy, want) in table {
            assert_eq!(plan(&parts, shared, busy), want, "{case}");
        }
        // What a listing cut short leaves: each group by its id.
        one_and_findings.push(sg("sg-2", true));
        let p = plan(&one_and_findings, true, false);
        assert_eq!(
            p.one_by_one().into_iter().collect::<BTreeSet<_>>(),
            by_id(&["sg-1", "sg-2"])
        );
        assert_eq!(p.listings().len(), 5);
    }

    /// A listed event counts for the groups it changed, by either way its request names them.
    #[test]
    fn listed_events_count_for_the_plans_groups() {
        let p = plan(&[sg("sg-1", false)], true, false);
        let event = |params: Value| {
            Change::of(
                None,
                &json!({"eventName": "X", "eventTime": "2026-11-30T05:00:00Z",
                    "requestParameters": params}),
            )
            .expect("a change")
        };
        for (params, covered) in [
            (json!({"groupId": "sg-1"}), true),
            (
                json!({"ModifySecurityGroupRulesRequest": {"GroupId": "sg-1"}}),
                true,
            ),
            (json!({"groupId": "sg-2"}), false),
            (json!({"groupName": "sg-1"}), false),
            (Value::Null, false),
        ] {
            assert_eq!(p.covers(&event(params.clone())), covered, "{params}");
        }
    }

    #[test]
    fn events_map_to_sections_and_keys() {
        let named = BTreeMap::from([("sg-2".to_string(), "vpc-1/web".to_string())]);
        let none = BTreeMap::new();
        let s = |x: &str, k: Option<&str>| (x.to_string(), k.map(str::to_string));
        type Case<'a> = (
            &'a str,
            &'a str,
            Value,
            &'a BTreeMap<String, String>,
            Vec<(String, Option<String>)>,
        );
        let cases: Vec<Case> = vec![
            (
                "an ingress rule by what it allows, and the world-open finding",
                "AuthorizeSecurityGroupIngress",
                json!({"groupId": "sg-1", "ipPermissions": perm("tcp", 22, 22, "0.0.0.0/0")}),
                &none,
                vec![
                    s("securityGroups[sg-1].ingress", Some("tcp:22:0.0.0.0/0")),
                    s(FINDINGS, Some(WORLD_OPEN)),
                ],
            ),
            (
                "a group the policy names by VPC and name, protocol by number",
                "AuthorizeSecurityGroupEgress",
                json!({"groupId": "sg-2", "ipPermissions": perm("6", 443, 443, "10.0.0.0/8")}),
                &named,
                vec![s(
                    "securityGroups[vpc-1/web].egress",
                    Some("tcp:443:10.0.0.0/8"),
                )],
            ),
            (
                "a revoke by rule id names the group's rules as a whole",
                "RevokeSecurityGroupIngress",
                json!({"groupId": "sg-1", "securityGroupRuleIds": {"items": [{"securityGroupRuleId": "sgr-1"}]}}),
                &none,
                vec![
                    s("securityGroups[sg-1].ingress", None),
                    s(FINDINGS, Some(WORLD_OPEN)),
                ],
            ),
            (
                "a rule modified by id: both directions, whole",
                "ModifySecurityGroupRules",
                json!({"ModifySecurityGroupRulesRequest": {"GroupId": "sg-1"}}),
                &none,
                vec![
                    s("securityGroups[sg-1].ingress", None),
                    s("securityGroups[sg-1].egress", None),
                ],
            ),
            (
                "a network ACL entry",
                "ReplaceNetworkAclEntry",
                json!({"networkAclId": "acl-1", "ruleNumber": 100, "egress": false}),
                &none,
                vec![s("networkAcls[acl-1]", Some("ingress:100"))],
            ),
            (
                "a web ACL: its default action and its rules",
                "UpdateWebACL",
                json!({"name": "edge", "scope": "REGIONAL", "id": "x"}),
                &none,
                vec![
                    s(WEB_ACLS, Some("REGIONAL/edge")),
                    s("webAcls[REGIONAL/edge].rules", None),
                ],
            ),
            (
                "an IP set",
                "UpdateIPSet",
                json!({"name": "office", "scope": "REGIONAL"}),
                &none,
                vec![s(IP_SETS, Some("REGIONAL/office"))],
            ),
            (
                "flow logs created for a VPC",
                "CreateFlowLogs",
                json!({"CreateFlowLogsRequest": {}, "resourceIds": {"items": ["vpc-1"]}}),
                &none,
                vec![s(FLOW_LOGS, Some(ALL_VPCS)), s(FLOW_LOGS, Some("vpc-1"))],
            ),
            (
                "flow logs deleted by id",
                "DeleteFlowLogs",
                json!({"flowLogIds": {"items": ["fl-1"]}}),
                &none,
                vec![s(FLOW_LOGS, None)],
            ),
            (
                "the detector",
                "UpdateDetector",
                json!({"detectorId": "d1", "enable": false}),
                &none,
                vec![s(GUARD_DUTY, Some(DETECTOR))],
            ),
            (
                "an alarm",
                "PutMetricAlarm",
                json!({"alarmName": "root-login"}),
                &none,
                vec![s(ALARMS, Some("root-login"))],
            ),
            (
                "alarms deleted",
                "DeleteAlarms",
                json!({"alarmNames": ["a", "b"]}),
                &none,
                vec![s(ALARMS, Some("a")), s(ALARMS, Some("b"))],
            ),
            (
                "anything else is nothing Perimeter manages",
                "RunInstances",
                json!({"instanceType": "t3.micro"}),
                &none,
                vec![],
            ),
        ];
        for (what, name, params, groups, want) in cases {
            assert_eq!(mapped(name, params, groups), want, "{what}");
        }
    }

    #[test]
    fn failed_undated_and_unreadable_events_change_nothing() {
        let own_ids = OwnRequestIds::default();
        let own_writes = OwnWrites::default();
        let groups = BTreeMap::new();
        let ctx = Context {
            region: "eu-west-1",
            prefixed: true,
            groups: &groups,
            own_ids: &own_ids,
            own_writes: &own_writes,
        };
        let params = json!({"detectorId": "d1"});
        let failed = ct(
            "UpdateDetector",
            params.clone(),
            sso(),
            json!({"errorCode": "AccessDenied"}),
        );
        assert!(events(None, &failed, &ctx).is_empty());
        let undated = ct(
            "UpdateDetector",
            params.clone(),
            sso(),
            json!({"eventTime": "yesterday"}),
        );
        assert!(events(None, &undated, &ctx).is_empty());
        assert!(events(None, "not json", &ctx).is_empty());
        let ok = ct("UpdateDetector", params, sso(), json!({}));
        let got = events(None, &ok, &ctx);
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].section, "eu-west-1/guardDuty",
            "a target over every region"
        );
    }

    #[test]
    fn actors_are_named_from_the_identity() {
        let cases = [
            (
                "an SSO session in the console",
                sso(),
                json!({"sessionCredentialFromConsole": "true"}),
                "dana@example.com (AWSReservedSSO_Admin) via console",
            ),
            (
                "an IAM user's keys",
                json!({"type": "IAMUser", "userName": "ci-deployer",
                    "arn": "arn:aws:iam::123456789012:user/ci-deployer"}),
                json!({}),
                "ci-deployer via API",
            ),
            (
                "the console by its user agent",
                json!({"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/lee"}),
                json!({"userAgent": "console.ec2.amazonaws.com"}),
                "lee via console",
            ),
            (
                "the root user",
                json!({"type": "Root", "arn": "arn:aws:iam::123456789012:root"}),
                json!({}),
                "root via API",
            ),
        ];
        for (what, identity, extra, want) in cases {
            let e: Value = serde_json::from_str(&ct("UpdateDetector", json!({}), identity, extra))
                .expect("json");
            assert_eq!(actor(&e, None).0.label(), want, "{what}");
        }
        let bare = json!({"userIdentity": {}});
        assert_eq!(
            actor(&bare, Some("ops")).0.label(),
            "ops via API",
            "the Username as fallback"
        );
    }

    #[test]
    fn perimeters_own_writes_by_request_id_or_moment_never_a_console_session() {
        let groups = BTreeMap::new();
        let at: Timestamp = "2026-11-30T04:59:30Z".parse().expect("time");
        let by = |own_ids: &OwnRequestIds, own_writes: &OwnWrites, extra: Value| {
            let ctx = Context {
                region: "eu-west-1",
                prefixed: false,
                groups: &groups,
                own_ids,
                own_writes,
            };
            let e = ct("UpdateDetector", json!({}), sso(), extra);
            events(None, &e, &ctx)
                .into_iter()
                .map(|e| e.actor.label())
                .collect::<Vec<_>>()
        };
        let ids = OwnRequestIds::default();
        ids.record("REQ-1", at);
        let none = OwnWrites::default();
        assert_eq!(by(&ids, &none, json!({})), ["Perimeter"], "its request id");
        let mut writes = OwnWrites::default();
        writes.record("eu-west-1", GUARD_DUTY, at);
        let no_ids = OwnRequestIds::default();
        assert_eq!(by(&no_ids, &writes, json!({})), ["Perimeter"], "its moment");
        assert_eq!(
            by(
                &no_ids,
                &writes,
                json!({"sessionCredentialFromConsole": "true"})
            ),
            ["dana@example.com (AWSReservedSSO_Admin) via console"],
            "a console session at the same moment is a person's"
        );
        let mut elsewhere = OwnWrites::default();
        elsewhere.record("us-east-1", GUARD_DUTY, at);
        assert_eq!(
            by(&no_ids, &elsewhere, json!({})),
            ["dana@example.com (AWSReservedSSO_Admin) via API"],
            "another region's write is not this event"
        );
    }
}
