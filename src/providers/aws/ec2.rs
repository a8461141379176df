//! EC2: security-group rules, network ACLs, VPCs and their flow logs — reads (paginators follow
//! `NextToken`) and writes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Deserialize;

use super::Aws;
use super::client::from_raw;
use super::model::{self, ALL_VPCS, FlowLogObs, GroupObs, NaclEntryObs, SgRuleObs};
use super::sections::{FINDINGS, FLOW_LOGS, GroupRef, Part};
use crate::core::{Change, State};
use crate::error::{Category, ProviderError};
use crate::http::share::Answer;
use crate::providers::aws::api::FlowLogRequirement;
use crate::providers::{Observation, Target};

pub(super) const RULES_OP: &str = "DescribeSecurityGroupRules";

/// A region's security-group rules as one read of every page found them.
pub struct RuleList {
    pub rules: Vec<SgRuleObs>,
    /// The pages read, each of which a policy handed this list did not send.
    pub pages: u32,
}

/// A region's rule listing, or why it could not be read (handed only to the reads waiting on
/// it, never kept).
#[derive(Clone)]
pub struct RuleListing(Result<Arc<RuleList>, ProviderError>);

impl Answer for RuleListing {
    fn keep(&self) -> Option<usize> {
        // The bound on what an account keeps is in bytes: a rule is about 200 with its strings.
        self.0.as_ref().ok().map(|list| list.rules.len() * 200)
    }
}

impl Aws {
    /// The rules of the declared groups, and the region's world-open ingress: as findings
    /// always (whatever the policy declares, so every group and rule is read), and as the
    /// `findings` section when the policy forbids it.
    pub(super) async fn observe_security_groups(
        &self,
        region: &str,
        desired: &State,
        obs: &mut Observation,
    ) -> Result<(), ProviderError> {
        let declared: Vec<&GroupRef> = desired
            .sections
            .iter()
            .filter_map(|s| match Part::of(s) {
                Some(Part::SecurityGroup { group, .. }) => Some(group),
                _ => None,
            })
            .collect();
        let groups = self.groups_named(region, &declared).await?;
        let listing = self.sg_rules(region).await?;
        let rules = &listing.rules;
        obs.state
            .sections
            .extend(model::observed_sg_sections(desired, &groups, rules));
        obs.findings.extend(model::world_open_findings(rules));
        if desired.section(FINDINGS).is_some() {
            obs.state.push(model::observed_findings_section(rules));
        }
        Ok(())
    }

    /// The entries of the declared network ACLs.
    pub(super) async fn observe_nacls(
        &self,
        region: &str,
        desired: &State,
        obs: &mut Observation,
    ) -> Result<(), ProviderError> {
        let acl_ids: Vec<String> = desired
            .sections
            .iter()
            .filter_map(|s| match Part::of(s) {
                Some(Part::NetworkAcl(id)) => Some(id.clone()),
                _ => None,
            })
            .collect();
        if acl_ids.is_empty() {
            return Ok(());
        }
        for (id, entries) in self.nacls(region, acl_ids).await? {
            let items = entries
                .iter()
                .filter_map(model::observed_nacl_entry)
                .collect();
            obs.state.push(Part::NetworkAcl(id).section(items));
        }
        Ok(())
    }

    /// Flow-log coverage of the region's VPCs: as findings always (whatever the policy
    /// declares), and as the `flowLogs` section when declared.
    pub(super) async fn observe_flow_logs(
        &self,
        region: &str,
        desired: &State,
        obs: &mut Observation,
    ) -> Result<(), ProviderError> {
        let vpcs = self.vpcs(region).await?;
        let vpc_set: BTreeSet<&str> = vpcs.iter().map(String::as_str).collect();
        let flow_logs: Vec<FlowLogObs> = self
            .flow_logs(region)
            .await?
            .into_iter()
            .filter(|f| vpc_set.contains(f.resource_id.as_str()))
            .collect();
        obs.findings
            .extend(model::flow_log_findings(&vpcs, &flow_logs));
        if let Some(section) = desired.section(FLOW_LOGS) {
            let req: FlowLogRequirement = section
                .items
                .first()
                .map(|i| from_raw(i, "DescribeFlowLogs"))
                .transpose()?
                .ok_or_else(|| {
                    ProviderError::new(
                        Category::InvalidSpec,
                        "DescribeFlowLogs",
                        "no flow-log requirement",
                    )
                })?;
            obs.state
                .push(model::observed_flow_logs_section(&req, &vpcs, &flow_logs));
        }
        Ok(())
    }

    pub(super) async fn groups(&self, region: &str) -> Result<Vec<GroupObs>, ProviderError> {
        self.groups_where(region, None).await
    }

    /// The groups `refs` name, and no others: DescribeSecurityGroups answers each group with
    /// all its rules, so a whole listing costs as much as the account is large, while Observe
    /// needs only the declared groups' ids (their rules come from DescribeSecurityGroupRules,
    /// which is read whole for the region's world-open findings anyway). Filtered by
    /// `group-id`, or by `group-name` (resolved against the VPC afterwards, as before), in
    /// chunks of 200 values (EC2's limit per filter); a filter matching nothing is no error, so
    /// a declared group that does not exist still yields no section. No call without `refs`.
    pub(super) async fn groups_named(
        &self,
        region: &str,
        refs: &[&GroupRef],
    ) -> Result<Vec<GroupObs>, ProviderError> {
        let mut ids = BTreeSet::new();
        let mut names = BTreeSet::new();
        for r in refs {
            match r {
                GroupRef::Id(id) => ids.insert(id.as_str()),
                GroupRef::Named { name, .. } => names.insert(name.as_str()),
            };
        }
        let mut out = Vec::new();
        for (filter, values) in [("group-id", ids), ("group-name", names)] {
            let values: Vec<&str> = values.into_iter().collect();
            for chunk in values.chunks(200) {
                let filter = aws_sdk_ec2::types::Filter::builder()
                    .name(filter)
                    .set_values(Some(chunk.iter().map(|v| v.to_string()).collect()))
                    .build();
                out.extend(self.groups_where(region, Some(filter)).await?);
            }
        }
        Ok(out)
    }

    async fn groups_where(
        &self,
        region: &str,
        filter: Option<aws_sdk_ec2::types::Filter>,
    ) -> Result<Vec<GroupObs>, ProviderError> {
        let op = "DescribeSecurityGroups";
        let mut pages = self
            .ec2(region)
            .describe_security_groups()
            .set_filters(filter.map(|f| vec![f]))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err(op, false, &e))?;
            for g in page.security_groups() {
                out.push(GroupObs {
                    group_id: g.group_id().unwrap_or_default().to_string(),
                    group_name: g.group_name().unwrap_or_default().to_string(),
                    vpc_id: g.vpc_id().map(str::to_string),
                });
            }
        }
        Ok(out)
    }

    /// Every security-group rule of the region. Each policy on the account reads the whole
    /// listing (for the region's findings), so it is parsed once and the parsed rules are
    /// handed to the policies that read it within the operator's window, by the rules of the
    /// account's read sharing: a write through the account ends it (the connector shares the
    /// listing's bytes only in flight, so the parsed rules are never older than the window).
    async fn sg_rules(&self, region: &str) -> Result<Arc<RuleList>, ProviderError> {
        let (listing, had) = self
            .rule_listings
            .read_derived(&self.reads, region.as_bytes().to_vec(), || async {
                RuleListing(self.read_sg_rules(region).await.map(Arc::new))
            })
            .await;
        if had.shared()
            && let Ok(list) = &listing.0
        {
            self.counter.shared(RULES_OP, u64::from(list.pages));
        }
        listing.0
    }

    async fn read_sg_rules(&self, region: &str) -> Result<RuleList, ProviderError> {
        let op = RULES_OP;
        let mut pages = self
            .ec2(region)
            .describe_security_group_rules()
            .into_paginator()
            .send();
        let mut out = Vec::new();
        let mut read = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err(op, false, &e))?;
            read += 1;
            for r in page.security_group_rules() {
                let (Some(id), Some(group)) = (r.security_group_rule_id(), r.group_id()) else {
                    return Err(ProviderError::new(
                        Category::BadResponse,
                        op,
                        "a rule without id or group id",
                    ));
                };
                out.push(SgRuleObs {
                    rule_id: id.to_string(),
                    group_id: group.to_string(),
                    egress: r.is_egress().unwrap_or(false),
                    protocol: r.ip_protocol().unwrap_or("-1").to_string(),
                    from_port: r.from_port(),
                    to_port: r.to_port(),
                    cidr_v4: r.cidr_ipv4().map(str::to_string),
                    cidr_v6: r.cidr_ipv6().map(str::to_string),
                    prefix_list_id: r.prefix_list_id().map(str::to_string),
                    peer_group_id: r
                        .referenced_group_info()
                        .and_then(|g| g.group_id())
                        .map(str::to_string),
                    description: r
                        .description()
                        .filter(|d| !d.is_empty())
                        .map(str::to_string),
                });
            }
        }
        Ok(RuleList {
            rules: out,
            pages: read,
        })
    }

    async fn nacls(
        &self,
        region: &str,
        ids: Vec<String>,
    ) -> Result<BTreeMap<String, Vec<NaclEntryObs>>, ProviderError> {
        let op = "DescribeNetworkAcls";
        let mut pages = self
            .ec2(region)
            .describe_network_acls()
            // By id, not by the `network-acl-id` filter (moto answers that filter with a 500):
            // a declared ACL that does not exist is then an error naming it.
            .set_network_acl_ids(Some(ids))
            .into_paginator()
            .send();
        let mut out = BTreeMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err(op, false, &e))?;
            for acl in page.network_acls() {
                let entries = acl
                    .entries()
                    .iter()
                    .map(|e| NaclEntryObs {
                        rule_number: e.rule_number().unwrap_or(32767),
                        egress: e.egress().unwrap_or(false),
                        protocol: e.protocol().unwrap_or("-1").to_string(),
                        rule_action: e
                            .rule_action()
                            .map(|a| a.as_str())
                            .unwrap_or("")
                            .to_string(),
                        cidr: e.cidr_block().or(e.ipv6_cidr_block()).map(str::to_string),
                        from_port: e.port_range().and_then(|p| p.from()),
                        to_port: e.port_range().and_then(|p| p.to()),
                    })
                    .collect();
                out.insert(
                    acl.network_acl_id().unwrap_or_default().to_string(),
                    entries,
                );
            }
        }
        Ok(out)
    }

    async fn vpcs(&self, region: &str) -> Result<Vec<String>, ProviderError> {
        let op = "DescribeVpcs";
        let mut pages = self.ec2(region).describe_vpcs().into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err(op, false, &e))?;
            out.extend(
                page.vpcs()
                    .iter()
                    .filter_map(|v| v.vpc_id().map(str::to_string)),
            );
        }
        Ok(out)
    }

    async fn flow_logs(&self, region: &str) -> Result<Vec<FlowLogObs>, ProviderError> {
        let op = "DescribeFlowLogs";
        let mut pages = self
            .ec2(region)
            .describe_flow_logs()
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err(op, false, &e))?;
            for f in page.flow_logs() {
                let dtype = f
                    .log_destination_type()
                    .map_or("cloud-watch-logs", |t| t.as_str())
                    .to_string();
                out.push(FlowLogObs {
                    flow_log_id: f.flow_log_id().unwrap_or_default().to_string(),
                    resource_id: f.resource_id().unwrap_or_default().to_string(),
                    traffic_type: f
                        .traffic_type()
                        .map(|t| t.as_str())
                        .unwrap_or("")
                        .to_string(),
                    destination: f
                        .log_destination()
                        .or(f.log_group_name())
                        .unwrap_or_default()
                        .to_string(),
                    destination_type: dtype,
                    log_format: f.log_format().map(str::to_string),
                    max_aggregation_interval: f.max_aggregation_interval(),
                });
            }
        }
        Ok(out)
    }

    // ---- writes ---------------------------------------------------------------------------

    /// Writes one rule of the security group `group`: of its ingress, or of its egress rules.
    pub(super) async fn write_sg_rule(
        &self,
        region: &str,
        target: &Target,
        observed: &State,
        groups: &[GroupObs],
        (group, egress): (&GroupRef, bool),
        change: &Change,
    ) -> Result<(), ProviderError> {
        use aws_sdk_ec2::types as t;
        let section = change.section();
        let op_auth = if egress {
            "AuthorizeSecurityGroupEgress"
        } else {
            "AuthorizeSecurityGroupIngress"
        };
        let group_id = model::resolve_group(group, groups).ok_or_else(|| {
            ProviderError::new(
                Category::WriteRejected,
                op_auth,
                format!("security group {group} does not exist"),
            )
        })?;
        let ec2 = self.ec2(region);
        let observed_item = |key: &str| observed.section(section).and_then(|s| s.get(key));
        match change {
            Change::Create { key, .. } => {
                let item = target
                    .desired
                    .section(section)
                    .and_then(|s| s.get(key))
                    .ok_or_else(|| {
                        ProviderError::new(Category::InvalidSpec, op_auth, "undeclared rule")
                    })?;
                let raw = item.raw.clone().unwrap_or_default();
                let s = |k: &str| raw.get(k).and_then(|v| v.as_str()).map(str::to_string);
                let n = |k: &str| {
                    raw.get(k)
                        .and_then(serde_json::Value::as_i64)
                        .and_then(|v| i32::try_from(v).ok())
                };
                let description = s("description");
                let peer = s("peer").unwrap_or_default();
                let mut perm = t::IpPermission::builder()
                    .ip_protocol(s("protocol").unwrap_or_else(|| "-1".into()))
                    .set_from_port(n("fromPort"))
                    .set_to_port(n("toPort"));
                perm = match s("peerKind").as_deref() {
                    Some("prefixListId") => perm.prefix_list_ids(
                        t::PrefixListId::builder()
                            .prefix_list_id(peer)
                            .set_description(description)
                            .build(),
                    ),
                    Some("groupId") => perm.user_id_group_pairs(
                        t::UserIdGroupPair::builder()
                            .group_id(peer)
                            .set_description(description)
                            .build(),
                    ),
                    _ if peer.contains(':') => perm.ipv6_ranges(
                        t::Ipv6Range::builder()
                            .cidr_ipv6(peer)
                            .set_description(description)
                            .build(),
                    ),
                    _ => perm.ip_ranges(
                        t::IpRange::builder()
                            .cidr_ip(peer)
                            .set_description(description)
                            .build(),
                    ),
                };
                let perm = perm.build();
                if egress {
                    ec2.authorize_security_group_egress()
                        .group_id(&group_id)
                        .ip_permissions(perm)
                        .send()
                        .await
                        .map_err(|e| self.err(op_auth, true, &e))?;
                } else {
                    ec2.authorize_security_group_ingress()
                        .group_id(&group_id)
                        .ip_permissions(perm)
                        .send()
                        .await
                        .map_err(|e| self.err(op_auth, true, &e))?;
                }
            }
            // ModifySecurityGroupRules carries the whole rule (identity + description), so the
            // rule keeps its id; the identity fields are unchanged by construction of the key.
            Change::Update { key, .. } => {
                let op = "ModifySecurityGroupRules";
                let rule_id = observed_item(key)
                    .and_then(|i| i.handle.clone())
                    .unwrap_or_default();
                let raw = target
                    .desired
                    .section(section)
                    .and_then(|s| s.get(key))
                    .and_then(|i| i.raw.clone())
                    .unwrap_or_default();
                let s = |k: &str| raw.get(k).and_then(|v| v.as_str()).map(str::to_string);
                let n = |k: &str| {
                    raw.get(k)
                        .and_then(serde_json::Value::as_i64)
                        .and_then(|v| i32::try_from(v).ok())
                };
                let peer = s("peer");
                let kind = s("peerKind").unwrap_or_default();
                let v6 = peer.as_deref().is_some_and(|p| p.contains(':'));
                let rule = t::SecurityGroupRuleRequest::builder()
                    .ip_protocol(s("protocol").unwrap_or_else(|| "-1".into()))
                    .set_from_port(n("fromPort").or(Some(-1)))
                    .set_to_port(n("toPort").or(Some(-1)))
                    .set_cidr_ipv4(peer.clone().filter(|_| kind == "cidr" && !v6))
                    .set_cidr_ipv6(peer.clone().filter(|_| kind == "cidr" && v6))
                    .set_prefix_list_id(peer.clone().filter(|_| kind == "prefixListId"))
                    .set_referenced_group_id(peer.filter(|_| kind == "groupId"))
                    .description(s("description").unwrap_or_default())
                    .build();
                ec2.modify_security_group_rules()
                    .group_id(&group_id)
                    .security_group_rules(
                        t::SecurityGroupRuleUpdate::builder()
                            .security_group_rule_id(rule_id)
                            .security_group_rule(rule)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| self.err(op, true, &e))?;
            }
            Change::Delete { key, .. } => {
                let rule_id = observed_item(key)
                    .and_then(|i| i.handle.clone())
                    .unwrap_or_default();
                self.revoke(region, &group_id, egress, vec![rule_id])
                    .await?;
            }
            Change::Reorder { .. } => {}
        }
        Ok(())
    }

    async fn revoke(
        &self,
        region: &str,
        group_id: &str,
        egress: bool,
        rule_ids: Vec<String>,
    ) -> Result<(), ProviderError> {
        let ec2 = self.ec2(region);
        if egress {
            let op = "RevokeSecurityGroupEgress";
            ec2.revoke_security_group_egress()
                .group_id(group_id)
                .set_security_group_rule_ids(Some(rule_ids))
                .send()
                .await
                .map_err(|e| self.err(op, true, &e))?;
        } else {
            let op = "RevokeSecurityGroupIngress";
            let out = ec2
                .revoke_security_group_ingress()
                .group_id(group_id)
                .set_security_group_rule_ids(Some(rule_ids))
                .send()
                .await
                .map_err(|e| self.err(op, true, &e))?;
            if !out.unknown_ip_permissions().is_empty() {
                return Err(ProviderError::new(
                    Category::WriteRejected,
                    op,
                    format!("{group_id}: some rules were not found (UnknownIpPermissions)"),
                ));
            }
        }
        Ok(())
    }

    /// Writes one entry of the network ACL `acl`.
    pub(super) async fn write_nacl_entry(
        &self,
        region: &str,
        target: &Target,
        acl: &str,
        change: &Change,
    ) -> Result<(), ProviderError> {
        let section = change.section();
        let ec2 = self.ec2(region);
        let desired = |key: &str| -> Result<serde_json::Value, ProviderError> {
            target
                .desired
                .section(section)
                .and_then(|s| s.get(key))
                .and_then(|i| i.raw.clone())
                .ok_or_else(|| {
                    ProviderError::new(
                        Category::InvalidSpec,
                        "CreateNetworkAclEntry",
                        "undeclared entry",
                    )
                })
        };
        match change {
            Change::Create { key, .. } | Change::Update { key, .. } => {
                let raw = desired(key)?;
                let e: NaclRaw = serde_json::from_value(raw).map_err(|_| {
                    ProviderError::new(Category::InvalidSpec, "CreateNetworkAclEntry", "bad entry")
                })?;
                let range = match (e.from_port, e.to_port) {
                    (Some(f), Some(t)) => Some(
                        aws_sdk_ec2::types::PortRange::builder()
                            .from(f)
                            .to(t)
                            .build(),
                    ),
                    _ => None,
                };
                let v6 = e.cidr.contains(':');
                if matches!(change, Change::Create { .. }) {
                    let op = "CreateNetworkAclEntry";
                    ec2.create_network_acl_entry()
                        .network_acl_id(acl)
                        .rule_number(e.rule_number)
                        .egress(e.egress)
                        .protocol(e.protocol)
                        .rule_action(e.rule_action.as_str().into())
                        .set_cidr_block((!v6).then(|| e.cidr.clone()))
                        .set_ipv6_cidr_block(v6.then(|| e.cidr.clone()))
                        .set_port_range(range)
                        .send()
                        .await
                        .map_err(|er| self.err(op, true, &er))?;
                } else {
                    let op = "ReplaceNetworkAclEntry";
                    ec2.replace_network_acl_entry()
                        .network_acl_id(acl)
                        .rule_number(e.rule_number)
                        .egress(e.egress)
                        .protocol(e.protocol)
                        .rule_action(e.rule_action.as_str().into())
                        .set_cidr_block((!v6).then(|| e.cidr.clone()))
                        .set_ipv6_cidr_block(v6.then(|| e.cidr.clone()))
                        .set_port_range(range)
                        .send()
                        .await
                        .map_err(|er| self.err(op, true, &er))?;
                }
            }
            Change::Delete { key, .. } => {
                let op = "DeleteNetworkAclEntry";
                let (dir, number) = key.split_once(':').unwrap_or(("ingress", key));
                let number: i32 = number.parse().map_err(|_| {
                    ProviderError::new(Category::BadResponse, op, format!("bad entry key {key}"))
                })?;
                ec2.delete_network_acl_entry()
                    .network_acl_id(acl)
                    .rule_number(number)
                    .egress(dir == "egress")
                    .send()
                    .await
                    .map_err(|er| self.err(op, true, &er))?;
            }
            Change::Reorder { .. } => {}
        }
        Ok(())
    }

    /// Creates flow logs for `vpcs`. AWS answers 200 even when some VPCs failed: those are in
    /// `Unsuccessful`, and become an error naming them (the others were created).
    async fn create_flow_logs(
        &self,
        region: &str,
        req: &FlowLogRequirement,
        vpcs: Vec<String>,
    ) -> Result<Vec<String>, ProviderError> {
        use aws_sdk_ec2::types as t;
        let op = "CreateFlowLogs";
        let dtype = req.destination_type.as_str();
        let mut call = self
            .ec2(region)
            .create_flow_logs()
            .set_resource_ids(Some(vpcs))
            .resource_type(t::FlowLogsResourceType::Vpc)
            .traffic_type(req.traffic_type.as_str().into())
            .log_destination_type(dtype.into())
            .set_deliver_logs_permission_arn(req.deliver_logs_permission_arn.clone())
            .set_log_format(req.log_format.clone())
            .max_aggregation_interval(req.max_aggregation_interval.unwrap_or(600));
        call = if dtype == "cloud-watch-logs" {
            call.log_group_name(model::flow_log_destination(dtype, &req.destination))
        } else {
            call.log_destination(&req.destination)
        };
        let out = call.send().await.map_err(|e| self.err(op, true, &e))?;
        let failed: Vec<String> = out
            .unsuccessful()
            .iter()
            .map(|u| {
                let err = u.error();
                format!(
                    "{}: {} {}",
                    u.resource_id().unwrap_or("?"),
                    err.and_then(|e| e.code()).unwrap_or("(no code)"),
                    err.and_then(|e| e.message()).unwrap_or("")
                )
            })
            .collect();
        if !failed.is_empty() {
            return Err(ProviderError::new(
                Category::WriteRejected,
                op,
                self.redact(&format!(
                    "created {} flow log(s); failed for {}",
                    out.flow_log_ids().len(),
                    crate::http::sanitize(&failed.join("; "), 300)
                )),
            ));
        }
        Ok(out.flow_log_ids().to_vec())
    }

    pub(super) async fn write_flow_logs(
        &self,
        region: &str,
        target: &Target,
        observed: &State,
        change: &Change,
    ) -> Result<(), ProviderError> {
        let section = target.desired.section(FLOW_LOGS).ok_or_else(|| {
            ProviderError::new(
                Category::InvalidSpec,
                "CreateFlowLogs",
                "no flow logs declared",
            )
        })?;
        let req: FlowLogRequirement = section
            .items
            .first()
            .map(|i| from_raw(i, "CreateFlowLogs"))
            .transpose()?
            .ok_or_else(|| {
                ProviderError::new(
                    Category::InvalidSpec,
                    "CreateFlowLogs",
                    "no flow logs declared",
                )
            })?;
        let seen = |key: &str| observed.section(FLOW_LOGS).and_then(|s| s.get(key));
        match change {
            Change::Update { key, .. } if key == ALL_VPCS => {
                let vpcs: Vec<String> = seen(key)
                    .and_then(|i| i.raw.clone())
                    .and_then(|r| serde_json::from_value(r).ok())
                    .unwrap_or_default();
                if !vpcs.is_empty() {
                    self.create_flow_logs(region, &req, vpcs).await?;
                }
            }
            Change::Create { key, .. } => {
                self.create_flow_logs(region, &req, vec![key.clone()])
                    .await?;
            }
            // No update call exists: create the wanted flow log first, then delete the old one,
            // so the VPC is never left unmonitored.
            Change::Update { key, .. } => {
                self.create_flow_logs(region, &req, vec![key.clone()])
                    .await?;
                if let Some(old) = seen(key).and_then(|i| i.handle.clone()) {
                    self.ec2(region)
                        .delete_flow_logs()
                        .flow_log_ids(old)
                        .send()
                        .await
                        .map_err(|e| self.err("DeleteFlowLogs", true, &e))?;
                }
            }
            Change::Delete { .. } | Change::Reorder { .. } => {}
        }
        Ok(())
    }

    pub(super) async fn revoke_world_open(
        &self,
        region: &str,
        observed: &State,
    ) -> Result<(), ProviderError> {
        let raw = observed
            .section(FINDINGS)
            .and_then(|s| s.get(model::WORLD_OPEN))
            .and_then(|i| i.raw.clone())
            .unwrap_or_default();
        let open: Vec<OpenRule> = serde_json::from_value(raw).unwrap_or_default();
        let mut by_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in open {
            by_group.entry(r.group_id).or_default().push(r.rule_id);
        }
        for (group, rules) in by_group {
            self.revoke(region, &group, false, rules).await?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenRule {
    group_id: String,
    rule_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NaclRaw {
    rule_number: i32,
    egress: bool,
    protocol: String,
    rule_action: String,
    cidr: String,
    from_port: Option<i32>,
    to_port: Option<i32>,
}
