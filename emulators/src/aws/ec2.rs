//! EC2 (Query protocol): form-encoded `Action=…&Version=2016-11-15` requests, XML answers in
//! the `2016-11-15` namespace, errors as `<Response><Errors><Error>`. Parameter and element
//! names follow aws-sdk-ec2's `protocol_serde` (e.g. `IpPermissions.1.IpRanges.1.CidrIp`,
//! `SecurityGroupRuleId.1`, `<securityGroupRuleSet><item>`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::seed::{FlowLog, NaclEntry, NatGateway, SecurityGroup, SgRule};
use super::{Failure, Store, page};

const NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

// ---- form and XML plumbing ------------------------------------------------------------------

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn parse_form(body: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(pair), String::new()),
        })
        .collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `<name>value</name>`, escaped.
fn el(name: &str, value: impl std::fmt::Display) -> String {
    format!("<{name}>{}</{name}>", escape(&value.to_string()))
}

fn opt_el(name: &str, value: Option<impl std::fmt::Display>) -> String {
    value.map(|v| el(name, v)).unwrap_or_default()
}

fn set(name: &str, items: impl IntoIterator<Item = String>) -> String {
    let mut out = format!("<{name}>");
    for item in items {
        let _ = write!(out, "<item>{item}</item>");
    }
    let _ = write!(out, "</{name}>");
    out
}

fn xml(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    response
}

/// EC2 also gives the request id in the `x-amzn-RequestId` header, which is where the SDK reads
/// it from for a success.
pub(crate) fn ok_response(operation: &str, inner: &str, request_id: &str) -> Response {
    let mut response = xml(
        StatusCode::OK,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{operation}Response xmlns=\"{NAMESPACE}\">{}{inner}</{operation}Response>",
            el("requestId", request_id)
        ),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        response
            .headers_mut()
            .insert(axum::http::HeaderName::from_static("x-amzn-requestid"), v);
    }
    response
}

pub(crate) fn error_response(status: StatusCode, failure: &Failure, request_id: &str) -> Response {
    xml(
        status,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>{}{}</Error></Errors>{}</Response>",
            el("Code", &failure.code),
            el("Message", &failure.message),
            el("RequestID", request_id)
        ),
    )
}

/// The right root element whose members have the wrong types: numbers that are not numbers,
/// booleans that are not booleans. (A list replaced by text is no use here: the SDK's XML
/// reader takes it for an empty list.)
pub(crate) fn wrong_shape(operation: &str, request_id: &str) -> Response {
    let junk = "<securityGroupInfo><item><groupId>sg-1</groupId><ipPermissions><item>\
        <fromPort>x</fromPort></item></ipPermissions></item></securityGroupInfo>\
        <securityGroupRuleSet><item><securityGroupRuleId>sgr-1</securityGroupRuleId>\
        <fromPort>x</fromPort><isEgress>maybe</isEgress></item></securityGroupRuleSet>\
        <vpcSet><item><vpcId>vpc-1</vpcId><isDefault>maybe</isDefault></item></vpcSet>\
        <flowLogSet><item><maxAggregationInterval>x</maxAggregationInterval></item></flowLogSet>\
        <networkAclSet><item><default>maybe</default></item></networkAclSet>\
        <natGatewaySet><item><natGatewayId>nat-1</natGatewayId><createTime>x</createTime>\
        <natGatewayAddressSet><item><isPrimary>maybe</isPrimary></item></natGatewayAddressSet>\
        </item></natGatewaySet>\
        <return>maybe</return>";
    ok_response(operation, junk, request_id)
}

// ---- parameters -----------------------------------------------------------------------------

struct Params<'a>(&'a serde_json::Map<String, Value>);

impl Params<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    fn required(&self, key: &str) -> Result<&str, Failure> {
        self.get(key).filter(|v| !v.is_empty()).ok_or_else(|| {
            Failure::new(
                400,
                "MissingParameter",
                format!("The request must contain the parameter {key}"),
            )
        })
    }

    fn int(&self, key: &str) -> Result<Option<i32>, Failure> {
        self.get(key)
            .map(|v| {
                v.parse::<i32>().map_err(|_| {
                    Failure::new(
                        400,
                        "InvalidParameterValue",
                        format!("Value ({v}) for parameter {key} is invalid."),
                    )
                })
            })
            .transpose()
    }

    fn boolean(&self, key: &str) -> bool {
        self.get(key) == Some("true")
    }

    /// Values of `prefix.1`, `prefix.2`, … in index order.
    fn list(&self, prefix: &str) -> Vec<String> {
        let mut found: Vec<(u32, String)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix(prefix)?.strip_prefix('.')?.parse().ok()?;
                Some((n, v.as_str()?.to_string()))
            })
            .collect();
        found.sort();
        found.into_iter().map(|(_, v)| v).collect()
    }

    /// The indexes `N` of every `prefix.N.…` key, sorted.
    fn indexes(&self, prefix: &str) -> Vec<u32> {
        let mut found: Vec<u32> = self
            .0
            .keys()
            .filter_map(|k| {
                let rest = k.strip_prefix(prefix)?.strip_prefix('.')?;
                rest.split_once('.')?.0.parse().ok()
            })
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    fn paging(&self) -> Result<(Option<&str>, Option<usize>), Failure> {
        let max = self.int("MaxResults")?;
        if max.is_some_and(|m| !(5..=1000).contains(&m)) {
            return Err(Failure::new(
                400,
                "InvalidParameterValue",
                "MaxResults must be between 5 and 1000",
            ));
        }
        Ok((self.get("NextToken"), max.map(|m| m as usize)))
    }
}

fn paged<T: Clone>(
    store: &Store,
    p: &Params<'_>,
    items: &[T],
) -> Result<(Vec<T>, Option<String>), Failure> {
    let (token, max) = p.paging()?;
    page(items, token, max, store.seed.page_size).map_err(|()| {
        Failure::new(
            400,
            "InvalidNextToken",
            "The provided NextToken is not valid.",
        )
    })
}

fn next_token(next: Option<String>) -> String {
    opt_el("nextToken", next)
}

// ---- protocol names -------------------------------------------------------------------------

/// Security-group rules show `tcp`/`udp`/`icmp`/`-1` whatever was sent.
fn sg_protocol(p: &str) -> String {
    match p.to_ascii_lowercase().as_str() {
        "6" | "tcp" => "tcp".into(),
        "17" | "udp" => "udp".into(),
        "1" | "icmp" => "icmp".into(),
        "-1" | "all" | "" => "-1".into(),
        other => other.into(),
    }
}

/// Network ACL entries keep the protocol number.
pub(crate) fn nacl_protocol(p: &str) -> String {
    match p.to_ascii_lowercase().as_str() {
        "tcp" => "6".into(),
        "udp" => "17".into(),
        "icmp" => "1".into(),
        "all" | "" => "-1".into(),
        other => other.into(),
    }
}

pub(crate) fn normalize_rule(rule: &mut SgRule) {
    rule.protocol = sg_protocol(&rule.protocol);
    if rule.protocol == "-1" {
        rule.from_port = Some(-1);
        rule.to_port = Some(-1);
    }
}

fn same_rule(a: &SgRule, b: &SgRule) -> bool {
    a.protocol == b.protocol
        && a.from_port == b.from_port
        && a.to_port == b.to_port
        && a.cidr_ipv4 == b.cidr_ipv4
        && a.cidr_ipv6 == b.cidr_ipv6
        && a.prefix_list_id == b.prefix_list_id
        && a.referenced_group_id == b.referenced_group_id
}

// ---- operations -----------------------------------------------------------------------------

pub(crate) fn handle(store: &mut Store, operation: &str, input: &Value) -> Result<String, Failure> {
    let empty = serde_json::Map::new();
    let p = Params(input.as_object().unwrap_or(&empty));
    if p.get("Version") != Some("2016-11-15") {
        return Err(Failure::new(
            400,
            "InvalidParameterValue",
            "Version must be 2016-11-15",
        ));
    }
    match operation {
        "DescribeRegions" => describe_regions(store, &p),
        "DescribeVpcs" => describe_vpcs(store, &p),
        "DescribeSecurityGroups" => describe_groups(store, &p),
        "DescribeSecurityGroupRules" => describe_rules(store, &p),
        "AuthorizeSecurityGroupIngress" => authorize(store, &p, false),
        "AuthorizeSecurityGroupEgress" => authorize(store, &p, true),
        "RevokeSecurityGroupIngress" => revoke(store, &p, false),
        "RevokeSecurityGroupEgress" => revoke(store, &p, true),
        "ModifySecurityGroupRules" => modify_rules(store, &p),
        "DescribeNetworkAcls" => describe_nacls(store, &p),
        "CreateNetworkAclEntry" => nacl_entry(store, &p, NaclWrite::Create),
        "ReplaceNetworkAclEntry" => nacl_entry(store, &p, NaclWrite::Replace),
        "DeleteNetworkAclEntry" => nacl_entry(store, &p, NaclWrite::Delete),
        "DescribeFlowLogs" => describe_flow_logs(store, &p),
        "CreateFlowLogs" => create_flow_logs(store, &p),
        "DeleteFlowLogs" => delete_flow_logs(store, &p),
        "DescribeNatGateways" => describe_nat_gateways(store, &p),
        other => Err(Failure::new(
            400,
            "InvalidAction",
            format!("The action {other} is not valid for this web service."),
        )),
    }
}

fn describe_regions(store: &Store, p: &Params<'_>) -> Result<String, Failure> {
    let region = &store.seed.region;
    let wanted = p.list("RegionName");
    if let Some(unknown) = wanted.iter().find(|r| *r != region) {
        return Err(Failure::new(
            400,
            "InvalidParameterValue",
            format!("Invalid region: {unknown}"),
        ));
    }
    Ok(set(
        "regionInfo",
        [format!(
            "{}{}{}",
            el("regionName", region),
            el("regionEndpoint", format!("ec2.{region}.amazonaws.com")),
            el("optInStatus", "opt-in-not-required")
        )],
    ))
}

fn describe_vpcs(store: &Store, p: &Params<'_>) -> Result<String, Failure> {
    let (vpcs, next) = paged(store, p, &store.seed.vpcs)?;
    let owner = &store.seed.account_id;
    let items = vpcs.iter().map(|v| {
        format!(
            "{}{}{}{}{}{}",
            el("vpcId", &v.vpc_id),
            el("ownerId", owner),
            el("state", "available"),
            el("cidrBlock", &v.cidr_block),
            el("instanceTenancy", "default"),
            el("isDefault", v.is_default)
        )
    });
    Ok(format!("{}{}", set("vpcSet", items), next_token(next)))
}

/// Filters are ANDed, the values of one filter ORed, as EC2 documents them; of EC2's filters
/// for this call the emulator knows `group-id`, `group-name` and `vpc-id`, and refuses others
/// as EC2 refuses an unknown one.
fn describe_groups(store: &Store, p: &Params<'_>) -> Result<String, Failure> {
    let wanted = p.list("GroupId");
    let filters = filters(p);
    for (name, _) in &filters {
        if !["group-id", "group-name", "vpc-id"].contains(&name.as_str()) {
            return Err(Failure::new(
                400,
                "InvalidParameterValue",
                format!("The filter '{name}' is invalid"),
            ));
        }
    }
    let matches = |g: &SecurityGroup| {
        filters.iter().all(|(name, values)| {
            let field = match name.as_str() {
                "group-id" => &g.group_id,
                "group-name" => &g.group_name,
                _ => &g.vpc_id,
            };
            values.contains(field)
        })
    };
    let groups: Vec<_> = store
        .seed
        .security_groups
        .iter()
        .filter(|g| wanted.is_empty() || wanted.contains(&g.group_id))
        .filter(|g| matches(g))
        .cloned()
        .collect();
    if let Some(missing) = wanted
        .iter()
        .find(|id| !groups.iter().any(|g| &g.group_id == *id))
    {
        return Err(Failure::new(
            400,
            "InvalidGroup.NotFound",
            format!("The security group '{missing}' does not exist"),
        ));
    }
    let (groups, next) = paged(store, p, &groups)?;
    let owner = &store.seed.account_id;
    let region = &store.seed.region;
    let items = groups.iter().map(|g| {
        format!(
            "{}{}{}{}{}{}",
            el("ownerId", owner),
            el("groupId", &g.group_id),
            el("groupName", &g.group_name),
            el("groupDescription", &g.description),
            el("vpcId", &g.vpc_id),
            el(
                "securityGroupArn",
                format!("arn:aws:ec2:{region}:{owner}:security-group/{}", g.group_id)
            )
        )
    });
    Ok(format!(
        "{}{}",
        set("securityGroupInfo", items),
        next_token(next)
    ))
}

fn rule_xml(owner: &str, group_id: &str, egress: bool, r: &SgRule) -> String {
    format!(
        "{}{}{}{}{}{}{}{}{}{}{}{}",
        el("securityGroupRuleId", &r.rule_id),
        el("groupId", group_id),
        el("groupOwnerId", owner),
        el("isEgress", egress),
        el("ipProtocol", &r.protocol),
        el("fromPort", r.from_port.unwrap_or(-1)),
        el("toPort", r.to_port.unwrap_or(-1)),
        opt_el("cidrIpv4", r.cidr_ipv4.as_ref()),
        opt_el("cidrIpv6", r.cidr_ipv6.as_ref()),
        opt_el("prefixListId", r.prefix_list_id.as_ref()),
        r.referenced_group_id
            .as_ref()
            .map(|g| format!(
                "<referencedGroupInfo>{}{}</referencedGroupInfo>",
                el("groupId", g),
                el("userId", owner)
            ))
            .unwrap_or_default(),
        opt_el("description", r.description.as_ref()),
    )
}

fn describe_rules(store: &Store, p: &Params<'_>) -> Result<String, Failure> {
    let mut all = Vec::new();
    for g in &store.seed.security_groups {
        for r in &g.ingress {
            all.push((g.group_id.clone(), false, r.clone()));
        }
        for r in &g.egress {
            all.push((g.group_id.clone(), true, r.clone()));
        }
    }
    let (rules, next) = paged(store, p, &all)?;
    let owner = &store.seed.account_id;
    let items = rules
        .iter()
        .map(|(group, egress, r)| rule_xml(owner, group, *egress, r));
    Ok(format!(
        "{}{}",
        set("securityGroupRuleSet", items),
        next_token(next)
    ))
}

fn group_index(store: &Store, p: &Params<'_>) -> Result<usize, Failure> {
    let id = p.required("GroupId")?;
    store
        .seed
        .security_groups
        .iter()
        .position(|g| g.group_id == id)
        .ok_or_else(|| {
            Failure::new(
                400,
                "InvalidGroup.NotFound",
                format!("The security group '{id}' does not exist"),
            )
        })
}

/// `IpPermissions.N` → one rule per peer, as AWS splits them.
fn permissions(p: &Params<'_>) -> Result<Vec<SgRule>, Failure> {
    let mut rules = Vec::new();
    for n in p.indexes("IpPermissions") {
        let base = format!("IpPermissions.{n}");
        let protocol = sg_protocol(p.get(&format!("{base}.IpProtocol")).unwrap_or("-1"));
        let (from, to) = if protocol == "-1" {
            (Some(-1), Some(-1))
        } else {
            (
                p.int(&format!("{base}.FromPort"))?,
                p.int(&format!("{base}.ToPort"))?,
            )
        };
        if protocol != "-1" && protocol != "icmp" && (from.is_none() || to.is_none() || from > to) {
            return Err(Failure::new(
                400,
                "InvalidParameterValue",
                "Invalid port range: FromPort and ToPort are required and FromPort <= ToPort",
            ));
        }
        let rule = |description: Option<&str>| SgRule {
            protocol: protocol.clone(),
            from_port: from,
            to_port: to,
            description: description.filter(|d| !d.is_empty()).map(str::to_string),
            ..SgRule::default()
        };
        let peers = |kind: &str, field: &str| -> Vec<(String, Option<String>)> {
            p.indexes(&format!("{base}.{kind}"))
                .into_iter()
                .filter_map(|m| {
                    let value = p.get(&format!("{base}.{kind}.{m}.{field}"))?.to_string();
                    let description = p
                        .get(&format!("{base}.{kind}.{m}.Description"))
                        .map(str::to_string);
                    Some((value, description))
                })
                .collect()
        };
        let before = rules.len();
        for (cidr, d) in peers("IpRanges", "CidrIp") {
            rules.push(SgRule {
                cidr_ipv4: Some(cidr),
                ..rule(d.as_deref())
            });
        }
        for (cidr, d) in peers("Ipv6Ranges", "CidrIpv6") {
            rules.push(SgRule {
                cidr_ipv6: Some(cidr),
                ..rule(d.as_deref())
            });
        }
        for (id, d) in peers("PrefixListIds", "PrefixListId") {
            rules.push(SgRule {
                prefix_list_id: Some(id),
                ..rule(d.as_deref())
            });
        }
        for (id, d) in peers("Groups", "GroupId") {
            rules.push(SgRule {
                referenced_group_id: Some(id),
                ..rule(d.as_deref())
            });
        }
        if rules.len() == before {
            return Err(Failure::new(
                400,
                "InvalidParameterValue",
                "A permission needs at least one IP range, prefix list or group",
            ));
        }
    }
    if rules.is_empty() {
        return Err(Failure::new(
            400,
            "MissingParameter",
            "The request must contain the parameter IpPermissions",
        ));
    }
    Ok(rules)
}

fn authorize(store: &mut Store, p: &Params<'_>, egress: bool) -> Result<String, Failure> {
    let index = group_index(store, p)?;
    let mut rules = permissions(p)?;
    let group = &store.seed.security_groups[index];
    let existing = if egress {
        &group.egress
    } else {
        &group.ingress
    };
    if rules
        .iter()
        .any(|r| existing.iter().any(|e| same_rule(e, r)))
    {
        return Err(Failure::new(
            400,
            "InvalidPermission.Duplicate",
            "the specified rule already exists",
        ));
    }
    for r in &mut rules {
        r.rule_id = store.ec2_id("sgr");
    }
    let group = &mut store.seed.security_groups[index];
    let group_id = group.group_id.clone();
    if egress {
        group.egress.extend(rules.iter().cloned());
    } else {
        group.ingress.extend(rules.iter().cloned());
    }
    let owner = &store.seed.account_id;
    Ok(format!(
        "{}{}",
        el("return", true),
        set(
            "securityGroupRuleSet",
            rules.iter().map(|r| rule_xml(owner, &group_id, egress, r))
        )
    ))
}

fn revoke(store: &mut Store, p: &Params<'_>, egress: bool) -> Result<String, Failure> {
    let index = group_index(store, p)?;
    let ids = p.list("SecurityGroupRuleId");
    let by_permission = if ids.is_empty() {
        permissions(p)?
    } else {
        Vec::new()
    };
    let group = &mut store.seed.security_groups[index];
    let rules = if egress {
        &mut group.egress
    } else {
        &mut group.ingress
    };
    if let Some(missing) = ids
        .iter()
        .find(|id| !rules.iter().any(|r| &r.rule_id == *id))
    {
        return Err(Failure::new(
            400,
            "InvalidSecurityGroupRuleId.NotFound",
            format!("The security group rule ID '{missing}' does not exist"),
        ));
    }
    let unknown: Vec<&SgRule> = by_permission
        .iter()
        .filter(|want| !rules.iter().any(|r| same_rule(r, want)))
        .collect();
    let unknown_xml = set(
        "unknownIpPermissionSet",
        unknown.iter().map(|r| {
            format!(
                "{}{}{}",
                el("ipProtocol", &r.protocol),
                opt_el("fromPort", r.from_port),
                opt_el("toPort", r.to_port)
            )
        }),
    );
    let before = rules.len();
    rules.retain(|r| {
        !ids.contains(&r.rule_id) && !by_permission.iter().any(|want| same_rule(r, want))
    });
    let revoked = before - rules.len();
    Ok(format!(
        "{}{}<revokedSecurityGroupRuleSet>{}</revokedSecurityGroupRuleSet>",
        el("return", revoked > 0 || unknown.is_empty()),
        unknown_xml,
        ""
    ))
}

fn modify_rules(store: &mut Store, p: &Params<'_>) -> Result<String, Failure> {
    let index = group_index(store, p)?;
    let updates = p.indexes("SecurityGroupRule");
    if updates.is_empty() {
        return Err(Failure::new(
            400,
            "MissingParameter",
            "The request must contain the parameter SecurityGroupRule",
        ));
    }
    let group = &mut store.seed.security_groups[index];
    for n in updates {
        let base = format!("SecurityGroupRule.{n}");
        let id = p.required(&format!("{base}.SecurityGroupRuleId"))?;
        let f = |k: &str| {
            p.get(&format!("{base}.SecurityGroupRule.{k}"))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let rule = group
            .ingress
            .iter_mut()
            .chain(group.egress.iter_mut())
            .find(|r| r.rule_id == id)
            .ok_or_else(|| {
                Failure::new(
                    400,
                    "InvalidSecurityGroupRuleId.NotFound",
                    format!("The security group rule ID '{id}' does not exist"),
                )
            })?;
        let mut updated = SgRule {
            rule_id: rule.rule_id.clone(),
            protocol: sg_protocol(&f("IpProtocol").unwrap_or_else(|| "-1".into())),
            from_port: p.int(&format!("{base}.SecurityGroupRule.FromPort"))?,
            to_port: p.int(&format!("{base}.SecurityGroupRule.ToPort"))?,
            cidr_ipv4: f("CidrIpv4"),
            cidr_ipv6: f("CidrIpv6"),
            prefix_list_id: f("PrefixListId"),
            referenced_group_id: f("ReferencedGroupId"),
            description: f("Description"),
        };
        normalize_rule(&mut updated);
        let peers = [
            &updated.cidr_ipv4,
            &updated.cidr_ipv6,
            &updated.prefix_list_id,
            &updated.referenced_group_id,
        ];
        if peers.iter().filter(|p| p.is_some()).count() != 1 {
            return Err(Failure::new(
                400,
                "InvalidParameterCombination",
                "exactly one of CidrIpv4, CidrIpv6, PrefixListId, ReferencedGroupId is needed",
            ));
        }
        *rule = updated;
    }
    Ok(el("return", true))
}

fn describe_nacls(store: &Store, p: &Params<'_>) -> Result<String, Failure> {
    let wanted = p.list("NetworkAclId");
    if let Some(missing) = wanted.iter().find(|id| {
        !store
            .seed
            .network_acls
            .iter()
            .any(|a| &a.network_acl_id == *id)
    }) {
        return Err(Failure::new(
            400,
            "InvalidNetworkAclID.NotFound",
            format!("The network ACL ID '{missing}' does not exist"),
        ));
    }
    let acls: Vec<_> = store
        .seed
        .network_acls
        .iter()
        .filter(|a| wanted.is_empty() || wanted.contains(&a.network_acl_id))
        .cloned()
        .collect();
    let (acls, next) = paged(store, p, &acls)?;
    let owner = &store.seed.account_id;
    let items = acls.iter().map(|a| {
        let entries = a.entries.iter().map(|e| {
            format!(
                "{}{}{}{}{}{}{}",
                el("ruleNumber", e.rule_number),
                el("protocol", &e.protocol),
                el("ruleAction", &e.rule_action),
                el("egress", e.egress),
                opt_el("cidrBlock", e.cidr_block.as_ref()),
                opt_el("ipv6CidrBlock", e.ipv6_cidr_block.as_ref()),
                match (e.from_port, e.to_port) {
                    (Some(f), Some(t)) =>
                        format!("<portRange>{}{}</portRange>", el("from", f), el("to", t)),
                    _ => String::new(),
                }
            )
        });
        format!(
            "{}{}{}{}{}<associationSet/>",
            el("networkAclId", &a.network_acl_id),
            el("vpcId", &a.vpc_id),
            el("default", a.is_default),
            el("ownerId", owner),
            set("entrySet", entries)
        )
    });
    Ok(format!(
        "{}{}",
        set("networkAclSet", items),
        next_token(next)
    ))
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum NaclWrite {
    Create,
    Replace,
    Delete,
}

fn nacl_entry(store: &mut Store, p: &Params<'_>, write: NaclWrite) -> Result<String, Failure> {
    let acl_id = p.required("NetworkAclId")?.to_string();
    let number = p.int("RuleNumber")?.ok_or_else(|| {
        Failure::new(
            400,
            "MissingParameter",
            "The request must contain the parameter RuleNumber",
        )
    })?;
    if !(1..=32766).contains(&number) {
        return Err(Failure::new(
            400,
            "InvalidParameterValue",
            format!("Value ({number}) for parameter ruleNumber is invalid."),
        ));
    }
    let egress = p.boolean("Egress");
    let acl = store
        .seed
        .network_acls
        .iter_mut()
        .find(|a| a.network_acl_id == acl_id)
        .ok_or_else(|| {
            Failure::new(
                400,
                "InvalidNetworkAclID.NotFound",
                format!("The network ACL ID '{acl_id}' does not exist"),
            )
        })?;
    let position = acl
        .entries
        .iter()
        .position(|e| e.rule_number == number && e.egress == egress);
    let entry = if write == NaclWrite::Delete {
        None
    } else {
        let action = p.required("RuleAction")?.to_ascii_lowercase();
        if action != "allow" && action != "deny" {
            return Err(Failure::new(
                400,
                "InvalidParameterValue",
                "RuleAction must be allow or deny",
            ));
        }
        let cidr = p.get("CidrBlock").map(str::to_string);
        let v6 = p.get("Ipv6CidrBlock").map(str::to_string);
        if cidr.is_some() == v6.is_some() {
            return Err(Failure::new(
                400,
                "InvalidParameterCombination",
                "exactly one of CidrBlock and Ipv6CidrBlock is needed",
            ));
        }
        let protocol = nacl_protocol(p.required("Protocol")?);
        let (from, to) = (p.int("PortRange.From")?, p.int("PortRange.To")?);
        if (protocol == "6" || protocol == "17") && (from.is_none() || to.is_none()) {
            return Err(Failure::new(
                400,
                "InvalidParameterValue",
                "TCP and UDP entries need PortRange",
            ));
        }
        Some(NaclEntry {
            rule_number: number,
            egress,
            protocol,
            rule_action: action,
            cidr_block: cidr,
            ipv6_cidr_block: v6,
            from_port: from,
            to_port: to,
        })
    };
    match (write, position, entry) {
        (NaclWrite::Create, Some(_), _) => Err(Failure::new(
            400,
            "NetworkAclEntryAlreadyExists",
            format!("The network acl entry identified by {number} already exists."),
        )),
        (NaclWrite::Create, None, Some(e)) => {
            acl.entries.push(e);
            Ok(String::new())
        }
        (NaclWrite::Replace | NaclWrite::Delete, None, _) => Err(Failure::new(
            400,
            "InvalidNetworkAclEntry.NotFound",
            format!("The network ACL entry identified by {number} does not exist"),
        )),
        (NaclWrite::Replace, Some(i), Some(e)) => {
            acl.entries[i] = e;
            Ok(el("return", true))
        }
        (NaclWrite::Delete, Some(i), _) => {
            acl.entries.remove(i);
            Ok(el("return", true))
        }
        (_, _, None) => Ok(el("return", true)),
    }
}

fn flow_log_xml(f: &FlowLog) -> String {
    [
        el("creationTime", "2026-01-01T00:00:00.000Z"),
        el("deliverLogsStatus", "SUCCESS"),
        el("flowLogId", &f.flow_log_id),
        el("flowLogStatus", "ACTIVE"),
        el("resourceId", &f.resource_id),
        el("trafficType", &f.traffic_type),
        el("logDestinationType", &f.log_destination_type),
        opt_el("logDestination", f.log_destination.as_ref()),
        opt_el("logGroupName", f.log_group_name.as_ref()),
        opt_el(
            "deliverLogsPermissionArn",
            f.deliver_logs_permission_arn.as_ref(),
        ),
        opt_el("logFormat", f.log_format.as_ref()),
        opt_el("maxAggregationInterval", f.max_aggregation_interval),
    ]
    .concat()
}

fn describe_flow_logs(store: &Store, p: &Params<'_>) -> Result<String, Failure> {
    let wanted = p.list("FlowLogId");
    let logs: Vec<_> = store
        .seed
        .flow_logs
        .iter()
        .filter(|f| wanted.is_empty() || wanted.contains(&f.flow_log_id))
        .cloned()
        .collect();
    let (logs, next) = paged(store, p, &logs)?;
    Ok(format!(
        "{}{}",
        set("flowLogSet", logs.iter().map(flow_log_xml)),
        next_token(next)
    ))
}

fn unsuccessful(resource: &str, code: &str, message: &str) -> String {
    format!(
        "{}<error>{}{}</error>",
        el("resourceId", resource),
        el("code", code),
        el("message", message)
    )
}

fn create_flow_logs(store: &mut Store, p: &Params<'_>) -> Result<String, Failure> {
    let resources = p.list("ResourceId");
    if resources.is_empty() {
        return Err(Failure::new(
            400,
            "MissingParameter",
            "The request must contain the parameter ResourceId",
        ));
    }
    if p.get("ResourceType") != Some("VPC") {
        return Err(Failure::new(
            400,
            "InvalidParameterValue",
            "only ResourceType VPC is emulated",
        ));
    }
    let traffic = p.required("TrafficType")?.to_string();
    if !["ACCEPT", "REJECT", "ALL"].contains(&traffic.as_str()) {
        return Err(Failure::new(
            400,
            "InvalidParameterValue",
            "TrafficType must be ACCEPT, REJECT or ALL",
        ));
    }
    let dtype = p
        .get("LogDestinationType")
        .unwrap_or("cloud-watch-logs")
        .to_string();
    let group = p.get("LogGroupName").map(str::to_string);
    let destination = p.get("LogDestination").map(str::to_string);
    let role = p.get("DeliverLogsPermissionArn").map(str::to_string);
    if dtype == "cloud-watch-logs" {
        if role.is_none() {
            return Err(Failure::new(
                400,
                "InvalidParameter",
                "DeliverLogsPermissionArn is required for cloud-watch-logs",
            ));
        }
        if group.is_none() == destination.is_none() {
            return Err(Failure::new(
                400,
                "InvalidParameterCombination",
                "exactly one of LogGroupName and LogDestination is needed",
            ));
        }
    } else if destination.is_none() {
        return Err(Failure::new(
            400,
            "MissingParameter",
            "The request must contain the parameter LogDestination",
        ));
    }
    let interval = p.int("MaxAggregationInterval")?;
    if interval.is_some_and(|i| i != 60 && i != 600) {
        return Err(Failure::new(
            400,
            "InvalidParameterValue",
            "MaxAggregationInterval must be 60 or 600",
        ));
    }
    let mut created = Vec::new();
    let mut failed = Vec::new();
    for vpc in resources {
        if !store.seed.vpcs.iter().any(|v| v.vpc_id == vpc) {
            failed.push(unsuccessful(
                &vpc,
                "InvalidVpcID.NotFound",
                &format!("The vpc ID '{vpc}' does not exist"),
            ));
            continue;
        }
        if let Some((code, message)) = store.refused_flow_logs.get(&vpc) {
            failed.push(unsuccessful(&vpc, code, message));
            continue;
        }
        let duplicate = store.seed.flow_logs.iter().any(|f| {
            f.resource_id == vpc
                && f.traffic_type == traffic
                && f.log_destination_type == dtype
                && f.log_group_name == group
                && f.log_destination == destination
        });
        if duplicate {
            failed.push(unsuccessful(
                &vpc,
                "FlowLogAlreadyExists",
                "This flow log already exists for this resource with the given destination",
            ));
            continue;
        }
        let id = store.ec2_id("fl");
        store.seed.flow_logs.push(FlowLog {
            flow_log_id: id.clone(),
            resource_id: vpc,
            traffic_type: traffic.clone(),
            log_destination_type: dtype.clone(),
            log_destination: destination.clone(),
            log_group_name: group.clone(),
            deliver_logs_permission_arn: role.clone(),
            log_format: p.get("LogFormat").map(str::to_string),
            max_aggregation_interval: Some(interval.unwrap_or(600)),
        });
        created.push(id);
    }
    Ok(format!(
        "{}{}{}",
        opt_el("clientToken", p.get("ClientToken")),
        set("flowLogIdSet", created.into_iter().map(|id| escape(&id))),
        set("unsuccessful", failed)
    ))
}

fn delete_flow_logs(store: &mut Store, p: &Params<'_>) -> Result<String, Failure> {
    let ids = p.list("FlowLogId");
    if ids.is_empty() {
        return Err(Failure::new(
            400,
            "MissingParameter",
            "The request must contain the parameter FlowLogId",
        ));
    }
    let mut failed = Vec::new();
    for id in ids {
        let before = store.seed.flow_logs.len();
        store.seed.flow_logs.retain(|f| f.flow_log_id != id);
        if store.seed.flow_logs.len() == before {
            failed.push(unsuccessful(
                &id,
                "InvalidFlowLogId.NotFound",
                &format!("flow log {id} does not exist"),
            ));
        }
    }
    Ok(set("unsuccessful", failed))
}

/// `Filter.N.Name` → its values (`Filter.N.Value.M`), in index order.
fn filters(p: &Params<'_>) -> Vec<(String, Vec<String>)> {
    p.indexes("Filter")
        .into_iter()
        .map(|n| {
            (
                p.get(&format!("Filter.{n}.Name"))
                    .unwrap_or_default()
                    .to_string(),
                p.list(&format!("Filter.{n}.Value")),
            )
        })
        .collect()
}

fn nat_gateway_xml(g: &NatGateway) -> String {
    let addresses = g.addresses.iter().map(|a| {
        [
            opt_el("allocationId", a.allocation_id.as_ref()),
            el("networkInterfaceId", &a.network_interface_id),
            el("privateIp", &a.private_ip),
            opt_el("publicIp", a.public_ip.as_ref()),
            el("isPrimary", a.is_primary),
            el("status", &a.status),
        ]
        .concat()
    });
    [
        el("createTime", "2026-01-01T00:00:00.000Z"),
        set("natGatewayAddressSet", addresses),
        el("natGatewayId", &g.nat_gateway_id),
        el("state", &g.state),
        el("subnetId", &g.subnet_id),
        el("vpcId", &g.vpc_id),
        el("connectivityType", &g.connectivity_type),
    ]
    .concat()
}

/// Filters are ANDed, the values of one filter ORed, as EC2 documents them; a filter name
/// EC2 does not know for this call is refused, as EC2 does.
fn describe_nat_gateways(store: &Store, p: &Params<'_>) -> Result<String, Failure> {
    let wanted = p.list("NatGatewayId");
    if let Some(missing) = wanted.iter().find(|id| {
        !store
            .seed
            .nat_gateways
            .iter()
            .any(|g| &g.nat_gateway_id == *id)
    }) {
        return Err(Failure::new(
            400,
            "NatGatewayNotFound",
            format!("The Nat Gateway {missing} was not found"),
        ));
    }
    let filters = filters(p);
    for (name, _) in &filters {
        if !["nat-gateway-id", "state", "subnet-id", "vpc-id"].contains(&name.as_str()) {
            return Err(Failure::new(
                400,
                "InvalidParameterValue",
                format!("The filter '{name}' is invalid"),
            ));
        }
    }
    let matches = |g: &NatGateway| {
        filters.iter().all(|(name, values)| {
            let field = match name.as_str() {
                "nat-gateway-id" => &g.nat_gateway_id,
                "state" => &g.state,
                "subnet-id" => &g.subnet_id,
                _ => &g.vpc_id,
            };
            values.contains(field)
        })
    };
    let gateways: Vec<NatGateway> = store
        .seed
        .nat_gateways
        .iter()
        .filter(|g| wanted.is_empty() || wanted.contains(&g.nat_gateway_id))
        .filter(|g| matches(g))
        .cloned()
        .collect();
    let (gateways, next) = paged(store, p, &gateways)?;
    Ok(format!(
        "{}{}",
        set("natGatewaySet", gateways.iter().map(nat_gateway_xml)),
        next_token(next)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `action` with the query `pairs` against a store holding `seed`.
    fn ask(
        seed: &crate::aws::seed::Seed,
        action: &str,
        pairs: &[(&str, &str)],
    ) -> Result<String, Failure> {
        let mut input = serde_json::Map::new();
        input.insert("Version".into(), "2016-11-15".into());
        for (k, v) in pairs {
            input.insert((*k).into(), (*v).into());
        }
        let mut store = Store {
            seed: seed.clone(),
            ids: crate::server::IdGen::new(),
            refused_flow_logs: BTreeMap::new(),
        };
        handle(&mut store, action, &Value::Object(input))
    }

    #[test]
    fn nat_gateways_filter_by_state_and_vpc_and_refuse_unknown_filters() {
        let seed = crate::aws::AwsEmulator::new(
            serde_json::from_value(serde_json::json!({"natGateways": [
                {"natGatewayId": "nat-1", "vpcId": "vpc-a", "addresses": [{"publicIp": "203.0.113.7", "privateIp": "10.0.0.5"}]},
                {"natGatewayId": "nat-2", "vpcId": "vpc-b", "state": "pending", "addresses": [{"publicIp": "203.0.113.8"}]},
                {"natGatewayId": "nat-3", "vpcId": "vpc-b", "addresses": [{"publicIp": "203.0.113.9"}]}
            ]}))
            .expect("seed"),
        )
        .snapshot();
        let ask = |pairs: &[(&str, &str)]| ask(&seed, "DescribeNatGateways", pairs);
        let ids = |xml: &str| -> Vec<String> {
            xml.match_indices("<natGatewayId>")
                .map(|(i, _)| xml[i + 14..i + 19].to_string())
                .collect()
        };
        let all = ask(&[]).expect("all");
        assert_eq!(ids(&all), ["nat-1", "nat-2", "nat-3"]);
        assert!(all.contains("<publicIp>203.0.113.7</publicIp>"), "{all}");
        assert!(all.contains("<allocationId>eipalloc-"), "{all}");
        let available_b = ask(&[
            ("Filter.1.Name", "state"),
            ("Filter.1.Value.1", "available"),
            ("Filter.2.Name", "vpc-id"),
            ("Filter.2.Value.1", "vpc-b"),
            ("Filter.2.Value.2", "vpc-c"),
        ])
        .expect("filtered");
        assert_eq!(ids(&available_b), ["nat-3"]);
        let e = ask(&[("Filter.1.Name", "tag:Owner"), ("Filter.1.Value.1", "x")])
            .expect_err("unknown filter");
        assert_eq!(e.code, "InvalidParameterValue");
        let e = ask(&[("NatGatewayId.1", "nat-9")]).expect_err("unknown id");
        assert_eq!(e.code, "NatGatewayNotFound");
    }

    #[test]
    fn security_groups_filter_by_id_name_and_vpc_and_refuse_unknown_filters() {
        let seed = crate::aws::AwsEmulator::new(
            serde_json::from_value(serde_json::json!({"securityGroups": [
                {"groupId": "sg-1", "groupName": "web", "vpcId": "vpc-a"},
                {"groupId": "sg-2", "groupName": "web", "vpcId": "vpc-b"},
                {"groupId": "sg-3", "groupName": "db", "vpcId": "vpc-a"}
            ]}))
            .expect("seed"),
        )
        .snapshot();
        let ask = |pairs: &[(&str, &str)]| ask(&seed, "DescribeSecurityGroups", pairs);
        let ids = |xml: &str| -> Vec<String> {
            xml.match_indices("<groupId>")
                .map(|(i, _)| xml[i + 9..i + 13].to_string())
                .collect()
        };
        assert_eq!(ids(&ask(&[]).expect("all")), ["sg-1", "sg-2", "sg-3"]);
        let by_id = ask(&[
            ("Filter.1.Name", "group-id"),
            ("Filter.1.Value.1", "sg-3"),
            ("Filter.1.Value.2", "sg-9"),
        ])
        .expect("a filter matching a missing id is no error");
        assert_eq!(ids(&by_id), ["sg-3"]);
        let web_in_b = ask(&[
            ("Filter.1.Name", "group-name"),
            ("Filter.1.Value.1", "web"),
            ("Filter.2.Name", "vpc-id"),
            ("Filter.2.Value.1", "vpc-b"),
        ])
        .expect("filtered");
        assert_eq!(ids(&web_in_b), ["sg-2"]);
        let e = ask(&[
            ("Filter.1.Name", "ip-permission.cidr"),
            ("Filter.1.Value.1", "x"),
        ])
        .expect_err("unknown filter");
        assert_eq!(e.code, "InvalidParameterValue");
    }

    #[test]
    fn forms_decode_and_lists_keep_index_order() {
        let form = parse_form(
            b"Action=RevokeSecurityGroupIngress&Version=2016-11-15&SecurityGroupRuleId.10=sgr-b&SecurityGroupRuleId.2=sgr-a&X=a%2Fb+c%3D",
        );
        let input = Value::Object(
            form.into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        );
        let p = Params(input.as_object().expect("an object"));
        assert_eq!(p.list("SecurityGroupRuleId"), ["sgr-a", "sgr-b"]);
        assert_eq!(p.get("X"), Some("a/b c="));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn protocols_are_shown_as_aws_shows_them() {
        assert_eq!(sg_protocol("6"), "tcp");
        assert_eq!(sg_protocol("all"), "-1");
        assert_eq!(sg_protocol("50"), "50");
        assert_eq!(nacl_protocol("tcp"), "6");
        assert_eq!(nacl_protocol("all"), "-1");
        assert_eq!(el("x", "<a&b>"), "<x>&lt;a&amp;b&gt;</x>");
    }
}
