//! Pure mapping between AWS objects, the policy blocks and the neutral model.
//!
//! The SDK's types are converted into the small plain structs below (by the service modules),
//! so that everything here — keys, normalisation, findings, the "forbidden fact" sections — is
//! plain data tested with tables. The sections and their keys are listed in [`super::sections`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::regions::AwsScope;
use super::sections::{ALARMS, FINDINGS, FLOW_LOGS, GroupRef, IP_SETS, Part, WEB_ACLS};
use crate::core::addresses::{self, Resolver, SetError};
use crate::core::model::unique_keys as unique;
use crate::core::normalize::{self, Invalid};
use crate::core::{Item, Section, State};
use crate::providers::aws::api::{
    Alarm, AwsFirewall, AwsMonitoring, DEFAULT_RULE_QUOTA, FindingPolicy, FlowLogDestinationType,
    FlowLogRequirement, IpSet, MAX_SG_RULES, NetworkAclEntry, SecurityGroupRule,
    SecurityGroupRules, WafRule, WebAcl,
};
use crate::providers::{Finding, Purpose, Scope, Target};

pub const WORLD_OPEN: &str = "worldOpenIngress";
pub const ALL_VPCS: &str = "allVpcs";
pub const DETECTOR: &str = "detector";

pub const CODE_WORLD_OPEN: &str = "WorldOpenIngress";
pub const CODE_NO_FLOW_LOG: &str = "VpcWithoutFlowLogs";

const WORLD: [&str; 2] = ["0.0.0.0/0", "::/0"];

// ---- plain observed objects (filled from the SDK by the service modules) -------------------

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SgRuleObs {
    pub rule_id: String,
    pub group_id: String,
    pub egress: bool,
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidr_v4: Option<String>,
    pub cidr_v6: Option<String>,
    pub prefix_list_id: Option<String>,
    pub peer_group_id: Option<String>,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupObs {
    pub group_id: String,
    pub group_name: String,
    pub vpc_id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct NaclEntryObs {
    pub rule_number: i32,
    pub egress: bool,
    pub protocol: String,
    pub rule_action: String,
    pub cidr: Option<String>,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowLogObs {
    pub flow_log_id: String,
    pub resource_id: String,
    pub traffic_type: String,
    pub destination_type: String,
    /// `LogDestination` (an ARN) or, for old CloudWatch Logs flow logs, the log group name.
    pub destination: String,
    pub log_format: Option<String>,
    pub max_aggregation_interval: Option<i32>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct WafRuleObs {
    pub name: String,
    pub priority: i32,
    /// `Allow`/`Block`/`Count`, or `override:Count`/`override:None` for rule groups.
    pub action: String,
    /// See [`statement_key`].
    pub statement: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlarmObs {
    pub name: String,
    pub namespace: String,
    pub metric_name: String,
    pub statistic: String,
    pub period: i32,
    pub evaluation_periods: i32,
    pub threshold: f64,
    pub comparison_operator: String,
    pub alarm_actions: Vec<String>,
    pub treat_missing_data: Option<String>,
}

// ---- normalisation ------------------------------------------------------------------------

/// `-1`/`all` → `all`, protocol numbers of the named protocols → their name.
pub fn protocol(p: &str) -> String {
    match p.trim().to_ascii_lowercase().as_str() {
        "-1" | "all" => "all".into(),
        "6" | "tcp" => "tcp".into(),
        "17" | "udp" => "udp".into(),
        "1" | "icmp" => "icmp".into(),
        "58" | "icmpv6" => "icmpv6".into(),
        other => other.to_string(),
    }
}

/// The AWS wire form of a normalised protocol (what EC2 accepts in `IpProtocol`/`Protocol`).
pub fn protocol_number(p: &str) -> String {
    match p {
        "all" => "-1".into(),
        "tcp" => "6".into(),
        "udp" => "17".into(),
        "icmp" => "1".into(),
        "icmpv6" => "58".into(),
        other => other.to_string(),
    }
}

/// The port part of a rule key: `22`, `1024-2048`, `all`; for ICMP `type` or `type.code`.
pub fn ports(protocol: &str, from: Option<i32>, to: Option<i32>) -> String {
    match protocol {
        "tcp" | "udp" => match (from, to) {
            (Some(f), Some(t)) if f >= 0 && t >= 0 => {
                if f == t {
                    f.to_string()
                } else {
                    format!("{f}-{t}")
                }
            }
            _ => "all".into(),
        },
        "icmp" | "icmpv6" => match (from, to) {
            (Some(f), Some(t)) if f >= 0 && t >= 0 => format!("{f}.{t}"),
            (Some(f), _) if f >= 0 => f.to_string(),
            _ => "all".into(),
        },
        _ => "all".into(),
    }
}

/// A CloudWatch Logs destination compares by log group name (`arn:…:log-group:NAME[:*]`);
/// other destinations by ARN without a trailing slash.
pub fn flow_log_destination(destination_type: &str, destination: &str) -> String {
    let d = destination.trim();
    if destination_type == "cloud-watch-logs" {
        let name = d.split_once(":log-group:").map_or(d, |(_, n)| n);
        return name.trim_end_matches(":*").to_string();
    }
    d.trim_end_matches('/').to_string()
}

fn sorted(values: impl IntoIterator<Item = String>) -> Vec<String> {
    values
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

// ---- security groups ----------------------------------------------------------------------

/// How the policy names a group: its id, or its VPC and name.
pub fn group_ref(sg: &SecurityGroupRules) -> Result<GroupRef, Invalid> {
    match (&sg.group_id, &sg.vpc_id, &sg.group_name) {
        (Some(id), None, None) => Ok(GroupRef::Id(id.clone())),
        (None, Some(vpc), Some(name)) => Ok(GroupRef::Named {
            vpc: vpc.clone(),
            name: name.clone(),
        }),
        _ => Err(Invalid(
            "a security group is identified by groupId, or by vpcId and groupName".into(),
        )),
    }
}

pub fn rule_key(protocol: &str, ports: &str, peer: &str) -> String {
    format!("{protocol}:{ports}:{peer}")
}

fn desired_sg_rule(rule: &SecurityGroupRule) -> Result<Item, Invalid> {
    let proto = protocol(&rule.protocol);
    let (peer, peer_kind) = match (&rule.cidr, &rule.prefix_list_id, &rule.peer_group_id) {
        (Some(c), None, None) => (normalize::cidr(c)?, "cidr"),
        (None, Some(pl), None) => (pl.clone(), "prefixListId"),
        (None, None, Some(g)) => (g.clone(), "groupId"),
        _ => {
            return Err(Invalid(
                "a security-group rule has exactly one peer: cidr, prefixListId or peerGroupId"
                    .into(),
            ));
        }
    };
    let (from, to) = match proto.as_str() {
        "all" => (None, None),
        _ => (rule.from_port, rule.to_port),
    };
    let key = rule_key(&proto, &ports(&proto, from, to), &peer);
    Ok(Item::new(key)
        .field("description", rule.description.clone().unwrap_or_default())
        .with_raw(json!({
            "protocol": protocol_number(&proto),
            "fromPort": from,
            "toPort": to,
            "peerKind": peer_kind,
            "peer": peer,
            "description": rule.description,
        })))
}

/// One observed rule as an item of its group's section; `None` for a rule without a peer.
pub fn observed_sg_rule(rule: &SgRuleObs) -> Option<Item> {
    let proto = protocol(&rule.protocol);
    let peer = rule_peer(rule)?;
    let key = rule_key(&proto, &ports(&proto, rule.from_port, rule.to_port), &peer);
    Some(
        Item::new(key)
            .field("description", rule.description.clone().unwrap_or_default())
            .with_handle(rule.rule_id.clone())
            .with_raw(json!({"groupId": rule.group_id})),
    )
}

fn rule_peer(rule: &SgRuleObs) -> Option<String> {
    if let Some(c) = rule.cidr_v4.as_deref().or(rule.cidr_v6.as_deref()) {
        return Some(normalize::cidr(c).unwrap_or_else(|_| c.to_string()));
    }
    rule.prefix_list_id
        .clone()
        .or_else(|| rule.peer_group_id.clone())
}

/// The observed sections for the groups `target` declares. Groups referred to by name are
/// resolved through `groups`; a declared group that does not exist yields no section (its
/// rules then show as missing, and writing them fails with the provider's error).
pub fn observed_sg_sections(
    target: &State,
    groups: &[GroupObs],
    rules: &[SgRuleObs],
) -> Vec<Section> {
    let mut out = Vec::new();
    for part in target.sections.iter().filter_map(Part::of) {
        let Part::SecurityGroup { group, egress } = part else {
            continue;
        };
        let Some(id) = resolve_group(group, groups) else {
            continue;
        };
        let items = rules
            .iter()
            .filter(|r| r.group_id == id && r.egress == *egress)
            .filter_map(observed_sg_rule)
            .collect();
        out.push(part.clone().section(items));
    }
    out
}

/// A group reference → the group id.
pub fn resolve_group(group: &GroupRef, groups: &[GroupObs]) -> Option<String> {
    let found = match group {
        GroupRef::Id(id) => groups.iter().find(|g| &g.group_id == id),
        GroupRef::Named { vpc, name } => groups
            .iter()
            .find(|g| g.vpc_id.as_ref() == Some(vpc) && &g.group_name == name),
    };
    found.map(|g| g.group_id.clone())
}

fn world_open_rules(rules: &[SgRuleObs]) -> impl Iterator<Item = &SgRuleObs> {
    rules
        .iter()
        .filter(|r| !r.egress && rule_peer(r).as_deref().is_some_and(|p| WORLD.contains(&p)))
}

/// `WorldOpenIngress` findings: every ingress rule of the region open to the whole internet.
pub fn world_open_findings(rules: &[SgRuleObs]) -> Vec<Finding> {
    world_open_rules(rules)
        .map(|r| {
            let proto = protocol(&r.protocol);
            let ports = ports(&proto, r.from_port, r.to_port);
            let peer = rule_peer(r).unwrap_or_default();
            Finding {
                code: CODE_WORLD_OPEN,
                subject: format!("securityGroups[{}]", r.group_id),
                message: format!(
                    "ingress {proto} port(s) {ports} open to {peer} (rule {})",
                    r.rule_id
                ),
            }
        })
        .collect()
}

/// The observed `findings` section: world-open ingress as one comparable list; `raw` holds
/// the group and rule ids to revoke.
pub fn observed_findings_section(rules: &[SgRuleObs]) -> Section {
    let open: Vec<&SgRuleObs> = world_open_rules(rules).collect();
    let listed = sorted(open.iter().map(|r| {
        let proto = protocol(&r.protocol);
        format!(
            "{}:{}",
            r.group_id,
            rule_key(
                &proto,
                &ports(&proto, r.from_port, r.to_port),
                &rule_peer(r).unwrap_or_default()
            )
        )
    }));
    let raw: Vec<Value> = open
        .iter()
        .map(|r| json!({"groupId": r.group_id, "ruleId": r.rule_id}))
        .collect();
    Part::Findings.section(vec![
        Item::new(WORLD_OPEN)
            .field("openIngress", listed)
            .with_raw(Value::Array(raw)),
    ])
}

// ---- network ACLs -------------------------------------------------------------------------

pub fn nacl_key(egress: bool, rule_number: i32) -> String {
    format!(
        "{}:{rule_number}",
        if egress { "egress" } else { "ingress" }
    )
}

fn desired_nacl_entry(e: &NetworkAclEntry) -> Result<Item, Invalid> {
    let proto = protocol(&e.protocol);
    let cidr = normalize::cidr(&e.cidr)?;
    let action = match e.rule_action {
        crate::providers::aws::api::RuleAction::Allow => "allow",
        crate::providers::aws::api::RuleAction::Deny => "deny",
    };
    Ok(Item::new(nacl_key(e.egress, e.rule_number))
        .field("protocol", proto.clone())
        .field("ruleAction", action)
        .field("cidr", cidr.clone())
        .field("ports", ports(&proto, e.from_port, e.to_port))
        .with_raw(json!({
            "ruleNumber": e.rule_number,
            "egress": e.egress,
            "protocol": protocol_number(&proto),
            "ruleAction": action,
            "cidr": cidr,
            "fromPort": e.from_port,
            "toPort": e.to_port,
        })))
}

/// `None` for AWS's fixed default entry (rule 32767), which cannot be changed.
pub fn observed_nacl_entry(e: &NaclEntryObs) -> Option<Item> {
    if e.rule_number >= 32767 {
        return None;
    }
    let proto = protocol(&e.protocol);
    let cidr = e
        .cidr
        .as_deref()
        .map(|c| normalize::cidr(c).unwrap_or_else(|_| c.to_string()))
        .unwrap_or_default();
    Some(
        Item::new(nacl_key(e.egress, e.rule_number))
            .field("protocol", proto.clone())
            .field("ruleAction", e.rule_action.to_ascii_lowercase())
            .field("cidr", cidr)
            .field("ports", ports(&proto, e.from_port, e.to_port)),
    )
}

// ---- WAFv2 --------------------------------------------------------------------------------

pub fn acl_key(scope: &str, name: &str) -> String {
    format!("{scope}/{name}")
}

/// A comparable rendering of the supported statement kinds.
pub fn statement_key(rule: &WafRule) -> String {
    let s = &rule.statement;
    if let Some(r) = &s.ip_set_reference {
        format!("ipSet:{}", r.arn)
    } else if let Some(r) = &s.rate_based {
        format!(
            "rateBased:{}/{}s",
            r.limit,
            r.evaluation_window_sec.unwrap_or(300)
        )
    } else if let Some(m) = &s.managed_rule_group {
        format!("managed:{}/{}", m.vendor_name, m.name)
    } else {
        "unsupported".into()
    }
}

pub fn waf_action(rule: &WafRule) -> String {
    match (&rule.action, rule.statement.managed_rule_group.is_some()) {
        (_, true) if rule.override_to_count == Some(true) => "override:Count".into(),
        (_, true) => "override:None".into(),
        (Some(a), false) => format!("{a:?}"),
        (None, false) => "none".into(),
    }
}

fn desired_waf_rule(rule: &WafRule) -> Item {
    Item::new(&rule.name)
        .field("priority", rule.priority)
        .field("action", waf_action(rule))
        .field("statement", statement_key(rule))
        .with_raw(serde_json::to_value(rule).unwrap_or(Value::Null))
}

pub fn observed_waf_rule(rule: &WafRuleObs) -> Item {
    Item::new(&rule.name)
        .field("priority", rule.priority)
        .field("action", rule.action.clone())
        .field("statement", rule.statement.clone())
}

fn desired_web_acl(acl: &WebAcl) -> Item {
    Item::new(acl_key(acl.scope.as_str(), &acl.name))
        .field("defaultAction", acl.default_action.clone())
        .with_raw(serde_json::to_value(acl).unwrap_or(Value::Null))
}

fn desired_ip_set(set: &IpSet) -> Result<Item, Invalid> {
    let addresses = set
        .addresses
        .iter()
        .map(|a| normalize::cidr(a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Item::new(acl_key(set.scope.as_str(), &set.name))
        .field("ipAddressVersion", set.ip_address_version.clone())
        .field("addresses", sorted(addresses))
        .with_raw(serde_json::to_value(set).unwrap_or(Value::Null)))
}

pub fn observed_ip_set(scope: &str, name: &str, version: &str, addresses: &[String]) -> Item {
    let addresses = addresses
        .iter()
        .map(|a| normalize::cidr(a).unwrap_or_else(|_| a.clone()));
    Item::new(acl_key(scope, name))
        .field("ipAddressVersion", version)
        .field("addresses", sorted(addresses))
}

// ---- desired: firewall --------------------------------------------------------------------

/// Security-group rules whose peer is an `addressSet` expanded into one `cidr` rule per
/// address of the set (the client maps an IPv4 CIDR to `CidrIpv4` and an IPv6 one to
/// `CidrIpv6`). A rule already declared (by hand or by an earlier set) with the same protocol,
/// ports and peer is kept as it is. A direction that ends with more rules than the list's
/// bound, or than the group's quota in one address family, is refused naming the rule: a
/// truncated list would silently drop addresses, and a write past the quota would fail
/// part-way.
pub fn with_address_sets(fw: &AwsFirewall, sets: &mut Resolver) -> Result<AwsFirewall, SetError> {
    let mut out = fw.clone();
    for (g, sg) in out.security_groups.iter_mut().flatten().enumerate() {
        let quota = sg.rule_quota.unwrap_or(DEFAULT_RULE_QUOTA) as usize;
        for (direction, rules) in [("ingress", &mut sg.ingress), ("egress", &mut sg.egress)] {
            let Some(list) = rules.as_mut() else { continue };
            if !list.iter().any(|r| r.address_set.is_some()) {
                continue;
            }
            let declared = std::mem::take(list);
            let mut keys: BTreeSet<String> = declared
                .iter()
                .filter(|r| r.address_set.is_none())
                .filter_map(|r| desired_sg_rule(r).ok().map(|i| i.key))
                .collect();
            let mut last_set = None;
            for (i, rule) in declared.into_iter().enumerate() {
                let Some(name) = rule.address_set.clone() else {
                    list.push(rule);
                    continue;
                };
                let field = format!("spec.aws.securityGroups[{g}].{direction}[{i}].addressSet");
                if rule.cidr.is_some()
                    || rule.prefix_list_id.is_some()
                    || rule.peer_group_id.is_some()
                {
                    return Err(Resolver::unsuitable(
                        &field,
                        &name,
                        "is named beside another peer: a rule has exactly one of cidr, prefixListId, peerGroupId and addressSet",
                    ));
                }
                for address in sets.addresses(&field, &name)? {
                    let expanded = SecurityGroupRule {
                        cidr: Some(address),
                        address_set: None,
                        ..rule.clone()
                    };
                    let key = desired_sg_rule(&expanded)
                        .map_err(|e| Resolver::unsuitable(&field, &name, e.0))?
                        .key;
                    if keys.insert(key) {
                        list.push(expanded);
                    }
                }
                last_set = Some((field, name));
            }
            let Some((field, name)) = last_set else {
                continue;
            };
            if list.len() > MAX_SG_RULES {
                return Err(Resolver::unsuitable(
                    &field,
                    &name,
                    format!(
                        "takes {direction} to {} rules, more than the {MAX_SG_RULES} a security group's list declares",
                        list.len()
                    ),
                ));
            }
            // The quota counts IPv4 and IPv6 rules apart; a rule whose peer is a group or a
            // prefix list counts in both (a prefix list counts at least once).
            let (v6, other) = list.iter().fold((0, 0), |(v6, other), r| match &r.cidr {
                Some(c) if addresses::is_v6(c) => (v6 + 1, other),
                Some(_) => (v6, other),
                None => (v6, other + 1),
            });
            let v4 = list.len() - v6;
            let v6 = v6 + other;
            if let Some((family, count)) = [("IPv4", v4), ("IPv6", v6)]
                .into_iter()
                .find(|(_, n)| *n > quota)
            {
                return Err(Resolver::unsuitable(
                    &field,
                    &name,
                    format!(
                        "takes {direction} to {count} {family} rules, more than the group's quota of {quota} (ruleQuota; AWS's default is {DEFAULT_RULE_QUOTA})"
                    ),
                ));
            }
        }
    }
    Ok(out)
}

pub fn firewall_target(fw: &AwsFirewall) -> Result<Target, Invalid> {
    for (g, sg) in fw.security_groups.iter().flatten().enumerate() {
        for (direction, rules) in [("ingress", &sg.ingress), ("egress", &sg.egress)] {
            if rules.iter().flatten().any(|r| r.address_set.is_some()) {
                return Err(addresses::unresolved(&format!(
                    "spec.aws.securityGroups[{g}].{direction}"
                )));
            }
        }
    }
    let mut state = State::default();
    let forbid_world = fw
        .findings
        .as_ref()
        .is_some_and(|f| f.world_open_ingress == FindingPolicy::Forbid);
    let mut refs = BTreeSet::new();
    for sg in fw.security_groups.iter().flatten() {
        let group = group_ref(sg)?;
        if !refs.insert(group.clone()) {
            return Err(Invalid(format!("security group {group} is declared twice")));
        }
        for (egress, rules) in [(false, &sg.ingress), (true, &sg.egress)] {
            let Some(rules) = rules else { continue };
            let part = Part::SecurityGroup {
                group: group.clone(),
                egress,
            };
            let name = part.name();
            let items = rules
                .iter()
                .map(desired_sg_rule)
                .collect::<Result<Vec<_>, _>>()?;
            let world = items
                .iter()
                .find(|i| WORLD.iter().any(|w| i.key.ends_with(&format!(":{w}"))));
            if let (true, false, Some(open)) = (forbid_world, egress, world) {
                return Err(Invalid(format!(
                    "{name}[{}] is open to the world, which findings.worldOpenIngress: Forbid removes",
                    open.key
                )));
            }
            state.push(part.section(unique(&name, items)?));
        }
    }
    for acl in fw.network_acls.iter().flatten() {
        let part = Part::NetworkAcl(acl.network_acl_id.clone());
        let name = part.name();
        let items = acl
            .entries
            .iter()
            .map(desired_nacl_entry)
            .collect::<Result<Vec<_>, _>>()?;
        state.push(part.section(unique(&name, items)?));
    }
    if let Some(acls) = &fw.web_acls {
        let items = acls.iter().map(desired_web_acl).collect();
        state.push(Part::WebAcls.section(unique(WEB_ACLS, items)?));
        for acl in acls {
            let part = Part::WafRules(acl_key(acl.scope.as_str(), &acl.name));
            let name = part.name();
            let items = acl.rules.iter().map(desired_waf_rule).collect();
            state.push(part.section(unique(&name, items)?));
        }
    }
    if let Some(sets) = &fw.ip_sets {
        let items = sets
            .iter()
            .map(desired_ip_set)
            .collect::<Result<Vec<_>, _>>()?;
        state.push(Part::IpSets.section(unique(IP_SETS, items)?));
    }
    if forbid_world {
        state.push(Part::Findings.section(vec![
            Item::new(WORLD_OPEN).field("openIngress", Vec::<String>::new()),
        ]));
    }
    if fw.region.is_none() && state.sections.iter().any(|s| s.name != FINDINGS) {
        return Err(Invalid(
            "securityGroups, networkAcls, webAcls and ipSets are addressed by id in one region: \
             set aws.region"
                .into(),
        ));
    }
    Ok(regional_target(
        fw.region.as_deref(),
        Purpose::Firewall,
        state,
    ))
}

/// The target of one block: in its region, or (no region) in every region of the account,
/// expanded later by [`per_region`](super::regions::per_region) once the account's regions
/// are known.
fn regional_target(region: Option<&str>, purpose: Purpose, desired: State) -> Target {
    let scope = match region {
        Some(r) => AwsScope::Region(r.to_string()),
        None => AwsScope::EveryRegion,
    };
    Target {
        purpose,
        scope: Scope::new(scope),
        desired,
    }
}

// ---- desired: monitoring ------------------------------------------------------------------

fn flow_log_fields(item: Item, req: &FlowLogRequirement) -> Item {
    item.field("trafficType", req.traffic_type.as_str())
        .field("destinationType", req.destination_type.as_str())
        .field(
            "destination",
            flow_log_destination(req.destination_type.as_str(), &req.destination),
        )
        .opt_field("logFormat", req.log_format.clone())
        .opt_field("maxAggregationInterval", req.max_aggregation_interval)
}

pub fn monitoring_target(mon: &AwsMonitoring) -> Result<Target, Invalid> {
    let mut state = State::default();
    if let Some(req) = &mon.flow_logs {
        if req.destination_type == FlowLogDestinationType::CloudWatchLogs
            && req.deliver_logs_permission_arn.is_none()
        {
            return Err(Invalid(
                "flowLogs to cloud-watch-logs need deliverLogsPermissionArn".into(),
            ));
        }
        let raw = serde_json::to_value(req).unwrap_or(Value::Null);
        let items = match (&req.vpc_ids, req.all_vpcs) {
            (Some(ids), None | Some(false)) => ids
                .iter()
                .map(|id| flow_log_fields(Item::new(id), req).with_raw(raw.clone()))
                .collect(),
            (None, Some(true)) => vec![
                Item::new(ALL_VPCS)
                    .field("vpcsWithoutFlowLog", Vec::<String>::new())
                    .with_raw(raw),
            ],
            _ => {
                return Err(Invalid(
                    "flowLogs: set either vpcIds or allVpcs: true".into(),
                ));
            }
        };
        state.push(Part::FlowLogs.section(unique(FLOW_LOGS, items)?));
    }
    if let Some(gd) = &mon.guard_duty {
        let item = Item::new(DETECTOR)
            .field("enabled", gd.enabled)
            .opt_field(
                "findingPublishingFrequency",
                gd.finding_publishing_frequency.map(|f| f.as_str()),
            )
            .with_raw(serde_json::to_value(gd).unwrap_or(Value::Null));
        state.push(Part::GuardDuty.section(vec![item]));
    }
    if let Some(alarms) = &mon.cloud_watch_alarms {
        let items = alarms.iter().map(desired_alarm).collect();
        state.push(Part::Alarms.section(unique(ALARMS, items)?));
    }
    let per_id = mon.cloud_watch_alarms.is_some()
        || mon.flow_logs.as_ref().is_some_and(|f| f.vpc_ids.is_some());
    if mon.region.is_none() && per_id {
        return Err(Invalid(
            "cloudWatchAlarms and flowLogs.vpcIds are addressed by name or id in one region: \
             set aws.region"
                .into(),
        ));
    }
    Ok(regional_target(
        mon.region.as_deref(),
        Purpose::Monitoring,
        state,
    ))
}

fn desired_alarm(a: &Alarm) -> Item {
    Item::new(&a.name)
        .field("namespace", a.namespace.clone())
        .field("metricName", a.metric_name.clone())
        .field("statistic", a.statistic.clone())
        .field("period", a.period)
        .field("evaluationPeriods", a.evaluation_periods)
        .field("threshold", a.threshold)
        .field("comparisonOperator", a.comparison_operator.clone())
        .opt_field("alarmActions", a.alarm_actions.clone().map(sorted))
        .opt_field("treatMissingData", a.treat_missing_data.clone())
        .with_raw(serde_json::to_value(a).unwrap_or(Value::Null))
}

pub fn observed_alarm(a: &AlarmObs) -> Item {
    Item::new(&a.name)
        .field("namespace", a.namespace.clone())
        .field("metricName", a.metric_name.clone())
        .field("statistic", a.statistic.clone())
        .field("period", a.period)
        .field("evaluationPeriods", a.evaluation_periods)
        .field("threshold", a.threshold)
        .field("comparisonOperator", a.comparison_operator.clone())
        .field("alarmActions", sorted(a.alarm_actions.clone()))
        .field(
            "treatMissingData",
            a.treat_missing_data
                .clone()
                .unwrap_or_else(|| "missing".into()),
        )
}

// ---- observed: flow logs ------------------------------------------------------------------

/// Whether a flow log satisfies the requirement (the declared fields only).
pub fn flow_log_matches(req: &FlowLogRequirement, fl: &FlowLogObs) -> bool {
    let dtype = req.destination_type.as_str();
    fl.traffic_type == req.traffic_type.as_str()
        && fl.destination_type == dtype
        && flow_log_destination(&fl.destination_type, &fl.destination)
            == flow_log_destination(dtype, &req.destination)
        && req
            .log_format
            .as_ref()
            .is_none_or(|f| fl.log_format.as_ref() == Some(f))
        && req
            .max_aggregation_interval
            .is_none_or(|i| fl.max_aggregation_interval == Some(i))
}

fn observed_flow_log(vpc: &str, fl: &FlowLogObs) -> Item {
    Item::new(vpc)
        .field("trafficType", fl.traffic_type.clone())
        .field("destinationType", fl.destination_type.clone())
        .field(
            "destination",
            flow_log_destination(&fl.destination_type, &fl.destination),
        )
        .opt_field("logFormat", fl.log_format.clone())
        .opt_field("maxAggregationInterval", fl.max_aggregation_interval)
        .with_handle(fl.flow_log_id.clone())
}

/// The observed `flowLogs` section: per VPC its matching flow log (or, if none matches, its
/// first one, so the differing fields show); plus the `allVpcs` coverage item.
pub fn observed_flow_logs_section(
    req: &FlowLogRequirement,
    vpcs: &[String],
    flow_logs: &[FlowLogObs],
) -> Section {
    let mut by_vpc: BTreeMap<&str, Vec<&FlowLogObs>> = BTreeMap::new();
    for fl in flow_logs {
        by_vpc.entry(fl.resource_id.as_str()).or_default().push(fl);
    }
    let mut items: Vec<Item> = by_vpc
        .iter()
        .filter_map(|(vpc, logs)| {
            let best = logs
                .iter()
                .find(|fl| flow_log_matches(req, fl))
                .or_else(|| logs.first())?;
            Some(observed_flow_log(vpc, best))
        })
        .collect();
    let uncovered = sorted(
        vpcs.iter()
            .filter(|vpc| {
                !by_vpc
                    .get(vpc.as_str())
                    .is_some_and(|logs| logs.iter().any(|fl| flow_log_matches(req, fl)))
            })
            .cloned(),
    );
    items.push(
        Item::new(ALL_VPCS)
            .field("vpcsWithoutFlowLog", uncovered.clone())
            .with_raw(json!(uncovered)),
    );
    Part::FlowLogs.section(items)
}

/// `VpcWithoutFlowLogs` findings: VPCs of the region with no flow log at all.
pub fn flow_log_findings(vpcs: &[String], flow_logs: &[FlowLogObs]) -> Vec<Finding> {
    let covered: BTreeSet<&str> = flow_logs.iter().map(|f| f.resource_id.as_str()).collect();
    vpcs.iter()
        .filter(|v| !covered.contains(v.as_str()))
        .map(|v| Finding {
            code: CODE_NO_FLOW_LOG,
            subject: v.clone(),
            message: format!("VPC {v} has no flow log (DE.CM-1, CIS 13.6)"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{DriftKind, SectionKind, Undeclared, diff};
    use crate::providers::aws::api::{FlowLogRequirement, TrafficType};
    use crate::providers::aws::sections::GUARD_DUTY;

    fn fw(value: Value) -> AwsFirewall {
        serde_json::from_value(value).expect("firewall block")
    }

    fn obs_rule(id: &str, group: &str, proto: &str, from: i32, to: i32, cidr: &str) -> SgRuleObs {
        SgRuleObs {
            rule_id: id.into(),
            group_id: group.into(),
            protocol: proto.into(),
            from_port: Some(from),
            to_port: Some(to),
            cidr_v4: cidr.contains('.').then(|| cidr.to_string()),
            cidr_v6: cidr.contains(':').then(|| cidr.to_string()),
            ..SgRuleObs::default()
        }
    }

    #[test]
    fn protocols_and_ports_normalise() {
        let cases = [
            ("-1", None, None, "all", "all"),
            ("ALL", Some(0), Some(10), "all", "all"),
            ("6", Some(22), Some(22), "tcp", "22"),
            ("tcp", Some(1024), Some(2048), "tcp", "1024-2048"),
            ("17", Some(-1), Some(-1), "udp", "all"),
            ("1", Some(8), Some(-1), "icmp", "8"),
            ("icmp", Some(3), Some(4), "icmp", "3.4"),
            ("58", Some(-1), Some(-1), "icmpv6", "all"),
            ("50", None, None, "50", "all"),
        ];
        for (p, from, to, want_p, want_ports) in cases {
            let got = protocol(p);
            assert_eq!(got, want_p, "{p}");
            assert_eq!(ports(&got, from, to), want_ports, "{p} {from:?} {to:?}");
        }
        assert_eq!(protocol_number("all"), "-1");
        assert_eq!(protocol_number("tcp"), "6");
    }

    #[test]
    fn rule_identity_survives_reordering_and_cidr_spelling() {
        let a = fw(
            json!({"region": "eu-west-1", "securityGroups": [{"groupId": "sg-0123456789abcdef0",
            "ingress": [
              {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidr": "10.1.2.3/8", "description": "https"},
              {"protocol": "6", "fromPort": 22, "toPort": 22, "cidr": "2001:DB8::/32"}]}]}),
        );
        let b = fw(
            json!({"region": "eu-west-1", "securityGroups": [{"groupId": "sg-0123456789abcdef0",
            "ingress": [
              {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidr": "2001:db8::/32"},
              {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidr": "10.0.0.0/8", "description": "https"}]}]}),
        );
        let (ta, tb) = (
            firewall_target(&a).expect("a"),
            firewall_target(&b).expect("b"),
        );
        let d = diff(&ta.desired, &tb.desired, Undeclared::Remove);
        assert!(d.in_sync(), "{:?}", d.drift);
        let keys: Vec<&str> = ta.desired.sections[0]
            .items
            .iter()
            .map(|i| i.key.as_str())
            .collect();
        assert_eq!(keys, ["tcp:443:10.0.0.0/8", "tcp:22:2001:db8::/32"]);
        assert_eq!(
            ta.desired.sections[0].name,
            "securityGroups[sg-0123456789abcdef0].ingress"
        );
    }

    #[test]
    fn observed_rules_match_declared_and_description_is_compared() {
        let t = firewall_target(&fw(json!({"region": "eu-west-1", "securityGroups": [
            {"vpcId": "vpc-0123456789abcdef0", "groupName": "web", "ingress": [
              {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidr": "0.0.0.0/0", "description": "https"},
              {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidr": "10.0.0.0/8"}]}]})))
        .expect("target");
        let groups = [GroupObs {
            group_id: "sg-1".into(),
            group_name: "web".into(),
            vpc_id: Some("vpc-0123456789abcdef0".into()),
        }];
        let mut r1 = obs_rule("sgr-1", "sg-1", "6", 443, 443, "0.0.0.0/0");
        r1.description = Some("old".into());
        let r2 = obs_rule("sgr-2", "sg-1", "-1", -1, -1, "192.0.2.0/24");
        let other = obs_rule("sgr-3", "sg-2", "6", 22, 22, "10.0.0.0/8");
        let sections = observed_sg_sections(&t.desired, &groups, &[r1, r2, other]);
        let observed = State { sections };
        let d = diff(&t.desired, &observed, Undeclared::Report);
        let paths: Vec<(&str, DriftKind)> =
            d.drift.iter().map(|x| (x.path.as_str(), x.kind)).collect();
        assert_eq!(
            paths,
            [
                (
                    "securityGroups[vpc-0123456789abcdef0/web].ingress[tcp:443:0.0.0.0/0].description",
                    DriftKind::Changed
                ),
                (
                    "securityGroups[vpc-0123456789abcdef0/web].ingress[tcp:22:10.0.0.0/8]",
                    DriftKind::Missing
                ),
            ]
        );
        assert_eq!(
            d.unmanaged,
            ["securityGroups[vpc-0123456789abcdef0/web].ingress[all:all:192.0.2.0/24]"]
        );
    }

    #[test]
    fn invalid_blocks_are_refused() {
        let cases = [
            json!({"region": "eu-west-1", "securityGroups": [{"groupId": "sg-0123456789abcdef0", "vpcId": "vpc-0123456789abcdef0", "groupName": "x"}]}),
            json!({"region": "eu-west-1", "securityGroups": [{"groupId": "sg-0123456789abcdef0", "ingress": [{"protocol": "tcp", "fromPort": 1, "toPort": 1, "cidr": "10.0.0.300/8"}]}]}),
            json!({"region": "eu-west-1", "securityGroups": [{"groupId": "sg-0123456789abcdef0", "ingress": [
                {"protocol": "tcp", "fromPort": 1, "toPort": 1, "cidr": "10.0.0.1/8"}, {"protocol": "6", "fromPort": 1, "toPort": 1, "cidr": "10.0.0.0/8"}]}]}),
            json!({"region": "eu-west-1", "findings": {"worldOpenIngress": "Forbid"}, "securityGroups": [{"groupId": "sg-0123456789abcdef0", "ingress": [
                {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidr": "0.0.0.0/0"}]}]}),
        ];
        for c in cases {
            assert!(firewall_target(&fw(c.clone())).is_err(), "{c}");
        }
    }

    #[test]
    fn world_open_ingress_is_a_finding_and_drift_only_when_forbidden() {
        let rules = [
            obs_rule("sgr-1", "sg-1", "tcp", 22, 22, "0.0.0.0/0"),
            obs_rule("sgr-2", "sg-2", "-1", -1, -1, "::/0"),
            obs_rule("sgr-3", "sg-2", "tcp", 443, 443, "10.0.0.0/8"),
            SgRuleObs {
                egress: true,
                ..obs_rule("sgr-4", "sg-2", "-1", -1, -1, "0.0.0.0/0")
            },
        ];
        let findings = world_open_findings(&rules);
        let got: Vec<(&str, &str)> = findings
            .iter()
            .map(|f| (f.code, f.subject.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("WorldOpenIngress", "securityGroups[sg-1]"),
                ("WorldOpenIngress", "securityGroups[sg-2]")
            ]
        );
        assert!(
            findings[0].message.contains("port(s) 22") && findings[0].message.contains("sgr-1")
        );

        let observed = State {
            sections: vec![observed_findings_section(&rules)],
        };
        let report = firewall_target(&fw(json!({"region": "eu-west-1"}))).expect("report");
        assert!(diff(&report.desired, &observed, Undeclared::Report).in_sync());
        let forbid = firewall_target(&fw(
            json!({"region": "eu-west-1", "findings": {"worldOpenIngress": "Forbid"}}),
        ))
        .expect("forbid");
        let d = diff(&forbid.desired, &observed, Undeclared::Report);
        assert_eq!(d.drift.len(), 1);
        assert_eq!(d.drift[0].path, "findings[worldOpenIngress].openIngress");
        assert_eq!(
            d.drift[0].observed.as_deref(),
            Some(r#"["sg-1:tcp:22:0.0.0.0/0","sg-2:all:all:::/0"]"#)
        );
        assert!(
            diff(
                &forbid.desired,
                &State {
                    sections: vec![observed_findings_section(&rules[2..])]
                },
                Undeclared::Report
            )
            .in_sync()
        );
    }

    #[test]
    fn nacl_entries_are_keyed_by_direction_and_number() {
        let t = firewall_target(&fw(json!({"region": "eu-west-1", "networkAcls": [{"networkAclId": "acl-0123456789abcdef0", "entries": [
            {"ruleNumber": 100, "protocol": "tcp", "ruleAction": "deny", "cidr": "0.0.0.0/0", "fromPort": 22, "toPort": 22},
            {"ruleNumber": 100, "egress": true, "protocol": "all", "ruleAction": "allow", "cidr": "0.0.0.0/0"}]}]}))).expect("t");
        let seen = [
            NaclEntryObs {
                rule_number: 100,
                egress: false,
                protocol: "6".into(),
                rule_action: "deny".into(),
                cidr: Some("0.0.0.0/0".into()),
                from_port: Some(22),
                to_port: Some(22),
            },
            NaclEntryObs {
                rule_number: 100,
                egress: true,
                protocol: "-1".into(),
                rule_action: "deny".into(),
                cidr: Some("0.0.0.0/0".into()),
                ..Default::default()
            },
            NaclEntryObs {
                rule_number: 32767,
                egress: true,
                protocol: "-1".into(),
                rule_action: "deny".into(),
                cidr: Some("0.0.0.0/0".into()),
                ..Default::default()
            },
        ];
        let items = seen.iter().filter_map(observed_nacl_entry).collect();
        let observed = State {
            sections: vec![Section::new(
                "networkAcls[acl-0123456789abcdef0]",
                SectionKind::Unordered,
                items,
            )],
        };
        let d = diff(&t.desired, &observed, Undeclared::Remove);
        let paths: Vec<&str> = d.drift.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(
            paths,
            ["networkAcls[acl-0123456789abcdef0][egress:100].ruleAction"]
        );
    }

    fn requirement(extra: Value) -> FlowLogRequirement {
        let mut v = json!({"trafficType": "ALL", "destinationType": "cloud-watch-logs",
            "destination": "arn:aws:logs:eu-west-1:123456789012:log-group:vpc-flow:*",
            "deliverLogsPermissionArn": "arn:aws:iam::123456789012:role/flow"});
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        serde_json::from_value(v).expect("requirement")
    }

    fn flow_log(id: &str, vpc: &str, traffic: &str, dest: &str) -> FlowLogObs {
        FlowLogObs {
            flow_log_id: id.into(),
            resource_id: vpc.into(),
            traffic_type: traffic.into(),
            destination_type: "cloud-watch-logs".into(),
            destination: dest.into(),
            ..FlowLogObs::default()
        }
    }

    #[test]
    fn flow_logs_for_all_vpcs_and_named_vpcs() {
        let vpcs = ["vpc-a".to_string(), "vpc-b".into(), "vpc-c".into()];
        let logs = [
            flow_log("fl-1", "vpc-a", "ALL", "vpc-flow"),
            flow_log(
                "fl-2",
                "vpc-b",
                "REJECT",
                "arn:aws:logs:eu-west-1:123456789012:log-group:vpc-flow",
            ),
        ];
        let all = requirement(json!({"allVpcs": true}));
        let mon = |req: &FlowLogRequirement| AwsMonitoring {
            region: Some("eu-west-1".into()),
            flow_logs: Some(req.clone()),
            guard_duty: None,
            cloud_watch_alarms: None,
        };
        let t = monitoring_target(&mon(&all)).expect("all");
        let observed = State {
            sections: vec![observed_flow_logs_section(&all, &vpcs, &logs)],
        };
        let d = diff(&t.desired, &observed, Undeclared::Report);
        assert_eq!(d.drift.len(), 1);
        assert_eq!(d.drift[0].path, "flowLogs[allVpcs].vpcsWithoutFlowLog");
        assert_eq!(d.drift[0].observed.as_deref(), Some(r#"["vpc-b","vpc-c"]"#));

        let named = requirement(json!({"vpcIds": ["vpc-a", "vpc-b", "vpc-c"]}));
        let t = monitoring_target(&mon(&named)).expect("named");
        let observed = State {
            sections: vec![observed_flow_logs_section(&named, &vpcs, &logs)],
        };
        let d = diff(&t.desired, &observed, Undeclared::Report);
        let got: Vec<(&str, DriftKind)> =
            d.drift.iter().map(|x| (x.path.as_str(), x.kind)).collect();
        assert_eq!(
            got,
            [
                ("flowLogs[vpc-b].trafficType", DriftKind::Changed),
                ("flowLogs[vpc-c]", DriftKind::Missing)
            ]
        );
        assert!(matches!(&d.plan[0], crate::core::Change::Update { key, .. } if key == "vpc-b"));

        let f = flow_log_findings(&vpcs, &logs);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].code, f[0].subject.as_str()),
            ("VpcWithoutFlowLogs", "vpc-c")
        );
        assert_eq!(all.traffic_type, TrafficType::All);
    }

    #[test]
    fn flow_log_destinations_compare_by_log_group_or_arn() {
        let cases = [
            (
                "cloud-watch-logs",
                "arn:aws:logs:eu-west-1:1:log-group:g:*",
                "g",
            ),
            ("cloud-watch-logs", "g", "g"),
            ("s3", "arn:aws:s3:::bucket/", "arn:aws:s3:::bucket"),
        ];
        for (t, d, want) in cases {
            assert_eq!(flow_log_destination(t, d), want);
        }
    }

    #[test]
    fn alarms_and_guard_duty_compare_declared_fields() {
        let mon: AwsMonitoring = serde_json::from_value(json!({"region": "eu-west-1",
            "guardDuty": {"enabled": true},
            "cloudWatchAlarms": [{"name": "rejects", "namespace": "Perimeter/FlowLogs", "metricName": "Rejected",
              "statistic": "Sum", "period": 300, "evaluationPeriods": 1, "threshold": 100.0,
              "comparisonOperator": "GreaterThanThreshold", "alarmActions": ["arn:aws:sns:eu-west-1:1:b", "arn:aws:sns:eu-west-1:1:a"]}]}))
        .expect("mon");
        let t = monitoring_target(&mon).expect("t");
        let alarm = AlarmObs {
            name: "rejects".into(),
            namespace: "Perimeter/FlowLogs".into(),
            metric_name: "Rejected".into(),
            statistic: "Sum".into(),
            period: 300,
            evaluation_periods: 1,
            threshold: 100.0,
            comparison_operator: "GreaterThanThreshold".into(),
            alarm_actions: vec![
                "arn:aws:sns:eu-west-1:1:a".into(),
                "arn:aws:sns:eu-west-1:1:b".into(),
            ],
            treat_missing_data: None,
        };
        let observed = State {
            sections: vec![
                Section::new(
                    GUARD_DUTY,
                    SectionKind::Settings,
                    vec![
                        Item::new(DETECTOR)
                            .field("enabled", false)
                            .field("findingPublishingFrequency", "SIX_HOURS"),
                    ],
                ),
                Section::new(ALARMS, SectionKind::Unordered, vec![observed_alarm(&alarm)]),
            ],
        };
        let d = diff(&t.desired, &observed, Undeclared::Report);
        let paths: Vec<&str> = d.drift.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(paths, ["guardDuty[detector].enabled"]);
    }

    #[test]
    fn waf_rules_and_ip_sets_map_to_comparable_fields() {
        let t = firewall_target(&fw(json!({"region": "eu-west-1",
            "webAcls": [{"name": "edge", "scope": "REGIONAL", "defaultAction": "Allow", "rules": [
                {"name": "common", "priority": 1, "statement": {"managedRuleGroup": {"vendorName": "AWS", "name": "AWSManagedRulesCommonRuleSet"}}},
                {"name": "flood", "priority": 2, "action": "Block", "statement": {"rateBased": {"limit": 1000}}}]}],
            "ipSets": [{"name": "office", "scope": "REGIONAL", "ipAddressVersion": "IPV4", "addresses": ["192.0.2.7/24", "198.51.100.1"]}]})))
        .expect("t");
        let names: Vec<&str> = t.desired.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["webAcls", "webAcls[REGIONAL/edge].rules", "ipSets"]);
        let rules = &t.desired.sections[1].items;
        assert_eq!(rules[0].fields["action"], json!("override:None"));
        assert_eq!(rules[1].fields["statement"], json!("rateBased:1000/300s"));
        let set = observed_ip_set(
            "REGIONAL",
            "office",
            "IPV4",
            &["198.51.100.1/32".into(), "192.0.2.0/24".into()],
        );
        assert_eq!(t.desired.sections[2].items[0].fields, set.fields);
        let parts: Vec<Option<&Part>> = t.desired.sections.iter().map(Part::of).collect();
        assert_eq!(
            parts,
            [
                Some(&Part::WebAcls),
                Some(&Part::WafRules("REGIONAL/edge".into())),
                Some(&Part::IpSets)
            ]
        );
    }

    fn monitoring_block(value: Value) -> Result<Target, Invalid> {
        let mon: AwsMonitoring = serde_json::from_value(value).expect("monitoring block");
        monitoring_target(&mon)
    }

    const S3: &str = "arn:aws:s3:::central-flow-logs";

    #[test]
    fn blocks_without_a_region_allow_only_region_wide_controls() {
        let flow = |extra: Value| {
            let mut f = json!({"trafficType": "ALL", "destinationType": "s3", "destination": S3});
            if let (Some(f), Some(extra)) = (f.as_object_mut(), extra.as_object()) {
                f.extend(extra.clone());
            }
            f
        };
        let monitoring_cases = [
            (json!({"guardDuty": {"enabled": true}}), true),
            (json!({"flowLogs": flow(json!({"allVpcs": true}))}), true),
            (
                json!({"flowLogs": flow(json!({"vpcIds": ["vpc-0a1b2c3d"]}))}),
                false,
            ),
            (
                json!({"cloudWatchAlarms": [{"name": "a", "namespace": "N", "metricName": "M",
                "statistic": "Sum", "period": 60, "evaluationPeriods": 1, "threshold": 1.0,
                "comparisonOperator": "GreaterThanThreshold"}]}),
                false,
            ),
        ];
        for (block, ok) in monitoring_cases {
            let got = monitoring_block(block.clone());
            assert_eq!(got.is_ok(), ok, "{block}: {:?}", got.err());
            if let Ok(t) = got {
                assert_eq!(t.scope.get(), Some(&AwsScope::EveryRegion), "{block}");
            }
        }
        let firewall_cases = [
            (json!({"findings": {"worldOpenIngress": "Forbid"}}), true),
            (json!({"findings": {"worldOpenIngress": "Report"}}), true),
            (
                json!({"securityGroups": [{"groupId": "sg-0123456789abcdef0", "ingress": []}]}),
                false,
            ),
            (
                json!({"networkAcls": [{"networkAclId": "acl-0123456789abcdef0", "entries": []}]}),
                false,
            ),
            (json!({"ipSets": []}), false),
            (json!({"webAcls": []}), false),
        ];
        for (block, ok) in firewall_cases {
            assert_eq!(firewall_target(&fw(block.clone())).is_ok(), ok, "{block}");
        }
    }
}
