//! Each provider block that takes address sets, expanded through the registry the way the
//! operator and the local runs do it: what the target declares afterwards, the errors naming
//! the field, and the refusal to map a block whose sets were never substituted.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::registry::with_address_sets;
use crate::api::FirewallPolicySpec;
use crate::core::addresses::{Resolver, SetState};
use crate::providers::Declared;

fn sets() -> Resolver {
    let ready = |a: &[&str]| SetState::ready(a.iter().map(|s| (*s).to_string()).collect());
    Resolver::new(
        "team-a",
        BTreeMap::from([
            (
                "probes".to_string(),
                ready(&["45.79.17.131/32", "139.162.0.0/16", "2600:3c00::1/128"]),
            ),
            (
                "egress".to_string(),
                ready(&["192.0.2.10/32", "192.0.2.11/32"]),
            ),
            (
                "v6-egress".to_string(),
                ready(&["192.0.2.10/32", "2001:db8::/32"]),
            ),
            (
                "stale".to_string(),
                SetState::NotReady("stale: last read at 2026-11-29T00:00:00Z".into()),
            ),
        ]),
    )
}

fn spec(block: Value) -> FirewallPolicySpec {
    let mut doc = json!({"providerRef": {"name": "p"}, "mode": "Enforce"});
    if let (Some(doc), Some(block)) = (doc.as_object_mut(), block.as_object()) {
        doc.extend(block.clone());
    }
    serde_json::from_value(doc).expect("spec")
}

/// The declared fields of `section` in the expanded spec's target, by item key.
fn declared(spec: &FirewallPolicySpec, section: &str) -> BTreeMap<String, Value> {
    let target = Declared::from_firewall(spec)
        .and_then(|d| d.target())
        .expect("target");
    target
        .desired
        .section(section)
        .map(|s| {
            s.items
                .iter()
                .map(|i| (i.key.clone(), json!(i.fields)))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn cloudflare_expands_one_rule_per_address() {
    let policy = spec(json!({"cloudflare": {
        "zoneId": "023e105f4ecef8ad9ca31a8372d0c353",
        "ipAccessRules": [{"mode": "block", "target": "asn", "value": "AS64496"}],
        "ipAccessRuleSets": [
            {"mode": "whitelist", "addressSet": "probes"},
            {"mode": "whitelist", "addressSet": "egress", "notes": "jobs"}
        ]
    }}));
    let mut r = sets();
    let expanded = with_address_sets(&policy, &mut r).expect("expanded");
    let rules = declared(&expanded, "ipAccessRules");
    let keys: Vec<&str> = rules.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "asn:AS64496",
            "ip6:2600:3c00::1",
            "ip:192.0.2.10",
            "ip:192.0.2.11",
            "ip:45.79.17.131",
            "ip_range:139.162.0.0/16"
        ]
    );
    assert_eq!(rules["ip:45.79.17.131"]["mode"], "whitelist");
    assert_eq!(rules["ip:45.79.17.131"]["notes"], "address set probes");
    assert_eq!(rules["ip:192.0.2.10"]["notes"], "jobs");
    let used: Vec<String> = r.used().into_iter().map(|(n, _)| n).collect();
    assert_eq!(used, ["egress", "probes"]);
    // The same set twice with the same mode: one rule per address.
    let twice = spec(json!({"cloudflare": {
        "zoneId": "023e105f4ecef8ad9ca31a8372d0c353",
        "ipAccessRuleSets": [
            {"mode": "whitelist", "addressSet": "egress"},
            {"mode": "whitelist", "addressSet": "egress", "notes": "again"}
        ]
    }}));
    let expanded = with_address_sets(&twice, &mut sets()).expect("expanded");
    assert_eq!(declared(&expanded, "ipAccessRules").len(), 2);
    // With different modes the keys collide: refused, never one of them silently.
    let clash = spec(json!({"cloudflare": {
        "zoneId": "023e105f4ecef8ad9ca31a8372d0c353",
        "ipAccessRuleSets": [
            {"mode": "whitelist", "addressSet": "egress"},
            {"mode": "block", "addressSet": "v6-egress"}
        ]
    }}));
    let expanded = with_address_sets(&clash, &mut sets()).expect("expanded");
    let refused = Declared::from_firewall(&expanded).and_then(|d| d.target());
    assert!(refused.is_err(), "{refused:?}");
}

/// Cloudflare takes IPv4 /16 or /24 and IPv6 /32, /48 or /64 ranges only, and at most 1000
/// rules: a set that cannot be written is refused naming it, as is a declared range.
#[test]
fn cloudflare_refuses_ranges_it_cannot_write_and_too_many_rules() {
    let ready = |a: Vec<String>| SetState::ready(a);
    let many: Vec<String> = (0..1001)
        .map(|i| format!("10.{}.{}.1/32", i / 256, i % 256))
        .collect();
    let mut r = Resolver::new(
        "team-a",
        BTreeMap::from([
            ("narrow".to_string(), ready(vec!["192.0.2.16/28".into()])),
            ("v6-56".to_string(), ready(vec!["2001:db8::/56".into()])),
            (
                "wide".to_string(),
                ready(vec!["10.1.0.0/16".into(), "2001:db8::/48".into()]),
            ),
            ("many".to_string(), ready(many)),
        ]),
    );
    let block = |set: &str| {
        spec(json!({"cloudflare": {
            "zoneId": "023e105f4ecef8ad9ca31a8372d0c353",
            "ipAccessRuleSets": [{"mode": "whitelist", "addressSet": set}]
        }}))
    };
    for (set, want) in [
        (
            "narrow",
            "holds 192.0.2.16/28: Cloudflare's IP access rules take IPv4 ranges of /16 or /24",
        ),
        ("v6-56", "holds 2001:db8::/56"),
        ("many", "would make more than 1000 IP access rules"),
    ] {
        let e = with_address_sets(&block(set), &mut r).expect_err(set);
        let text = e.to_string();
        assert!(
            text.starts_with("spec.cloudflare.ipAccessRuleSets[0].addressSet")
                && text.contains(want),
            "{set}: {text}"
        );
    }
    let ok = with_address_sets(&block("wide"), &mut r).expect("/16 and /48 are written");
    let rules = declared(&ok, "ipAccessRules");
    assert_eq!(
        rules.keys().collect::<Vec<_>>(),
        ["ip_range:10.1.0.0/16", "ip_range:2001:db8::/48"]
    );
    // A declared range Cloudflare cannot take is refused by the mapping, too.
    let declared_narrow = spec(json!({"cloudflare": {
        "zoneId": "023e105f4ecef8ad9ca31a8372d0c353",
        "ipAccessRules": [{"mode": "block", "target": "ip_range", "value": "192.0.2.16/28"}]
    }}));
    let e = Declared::from_firewall(&declared_narrow)
        .and_then(|d| d.target())
        .expect_err("a /28");
    assert!(
        e.to_string()
            .contains("\"192.0.2.16/28\": Cloudflare's IP access rules take"),
        "{e}"
    );
}

#[test]
fn supabase_splits_a_set_by_family() {
    let policy = spec(json!({"supabase": {
        "projectRef": "abcdefghijklmnopqrst",
        "dbAllowedCidrs": ["198.51.100.0/24"],
        "dbAllowedAddressSets": ["v6-egress"]
    }}));
    let expanded = with_address_sets(&policy, &mut sets()).expect("expanded");
    let network = declared(&expanded, crate::providers::supabase::model::NETWORK);
    assert_eq!(
        network[crate::providers::supabase::model::V4]["value"],
        json!(["192.0.2.10/32", "198.51.100.0/24"])
    );
    assert_eq!(
        network[crate::providers::supabase::model::V6]["value"],
        json!(["2001:db8::/32"])
    );
}

#[test]
fn upstash_refuses_an_ipv6_address_naming_it() {
    let ok = spec(json!({"upstash": {
        "databaseId": "96ad0856-03b1-4ee7-9666-e81abd0349e1",
        "allowedAddressSets": ["egress"]
    }}));
    let expanded = with_address_sets(&ok, &mut sets()).expect("expanded");
    let allowlist = declared(&expanded, crate::providers::upstash::model::ALLOWLIST);
    assert_eq!(
        allowlist[crate::providers::upstash::model::ALLOWED_IPS]["value"],
        json!(["192.0.2.10/32", "192.0.2.11/32"])
    );
    let v6 = spec(json!({"upstash": {
        "databaseId": "96ad0856-03b1-4ee7-9666-e81abd0349e1",
        "allowedIps": ["198.51.100.7"],
        "allowedAddressSets": ["egress", "v6-egress"]
    }}));
    let e = with_address_sets(&v6, &mut sets()).expect_err("IPv6");
    assert_eq!(
        e.to_string(),
        "spec.upstash.allowedAddressSets[1]: AddressSet \"v6-egress\" holds the IPv6 range \
         2001:db8::/32, and Upstash's allowlist takes IPv4 only"
    );
}

#[test]
fn turso_adds_a_set_to_the_declared_addresses() {
    let policy = spec(json!({"turso": {
        "organization": "acme-shop", "database": "orders",
        "allowedIps": ["203.0.113.16/28", "192.0.2.10"],
        "allowedAddressSets": ["egress"]
    }}));
    let expanded = with_address_sets(&policy, &mut sets()).expect("expanded");
    let config = declared(&expanded, crate::providers::turso::model::CONFIG);
    assert_eq!(
        config[crate::providers::turso::model::ALLOWED_IPS]["value"],
        json!(["192.0.2.10/32", "192.0.2.11/32", "203.0.113.16/28"])
    );
}

/// A missing or not-ready set stops the expansion with the field path; a block whose sets
/// were not substituted is never mapped as if it named none.
#[test]
fn unusable_and_unresolved_sets_are_refused_naming_the_field() {
    let cases = [
        (
            json!({"turso": {"organization": "o", "database": "d", "allowedAddressSets": ["egress", "nope"]}}),
            "spec.turso.allowedAddressSets[1]: AddressSet \"nope\" not found in namespace \"team-a\"",
        ),
        (
            json!({"supabase": {"projectRef": "abcdefghijklmnopqrst", "dbAllowedAddressSets": ["stale"]}}),
            "spec.supabase.dbAllowedAddressSets[0]: AddressSet \"stale\" is not ready (stale: last read at 2026-11-29T00:00:00Z)",
        ),
        (
            json!({"cloudflare": {"zoneId": "023e105f4ecef8ad9ca31a8372d0c353", "ipAccessRuleSets": [{"mode": "whitelist", "addressSet": "stale"}]}}),
            "spec.cloudflare.ipAccessRuleSets[0].addressSet: AddressSet \"stale\" is not ready",
        ),
        (
            json!({"qdrant": {"accountId": "6d3c9a70-2b3f-4c52-9f0e-0a1b2c3d4e5f",
                "clusterId": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", "allowedAddressSets": ["nope"]}}),
            "spec.qdrant.allowedAddressSets[0]: AddressSet \"nope\" not found in namespace \"team-a\"",
        ),
        (
            json!({"vercel": {"projectId": "prj_abc123",
                "systemBypassSets": [{"domain": "*", "addressSet": "stale"}]}}),
            "spec.vercel.systemBypassSets[0].addressSet: AddressSet \"stale\" is not ready",
        ),
        (
            json!({"aws": {"region": "eu-west-1", "securityGroups": [{"groupId": "sg-0123456789abcdef0",
                "egress": [{"protocol": "all", "cidr": "10.0.0.0/8"}, {"protocol": "all", "addressSet": "stale"}]}]}}),
            "spec.aws.securityGroups[0].egress[1].addressSet: AddressSet \"stale\" is not ready",
        ),
        (
            json!({"gcp": {"network": "default", "firewallRules": [{"name": "out", "direction": "EGRESS",
                "allowed": [{"IPProtocol": "all"}], "destinationAddressSets": ["egress", "nope"]}]}}),
            "spec.gcp.firewallRules[0].destinationAddressSets[1]: AddressSet \"nope\" not found",
        ),
    ];
    for (block, want) in cases {
        let policy = spec(block);
        let e = with_address_sets(&policy, &mut sets()).expect_err("refused");
        assert!(e.to_string().starts_with(want), "{e}");
        let unresolved = Declared::from_firewall(&policy)
            .and_then(|d| d.target())
            .expect_err("not mapped");
        assert!(
            unresolved
                .to_string()
                .contains("address sets were not resolved"),
            "{unresolved}"
        );
    }
    // A block without sets is unchanged, and nothing is recorded.
    let plain = spec(json!({"turso": {"organization": "o", "database": "d", "allowedIps": []}}));
    let mut r = sets();
    assert_eq!(with_address_sets(&plain, &mut r).expect("plain"), plain);
    assert!(r.used().is_empty() && r.referenced().is_empty());
}

/// What a policy references is known without any set (for requeueing it when one changes).
#[test]
fn a_collecting_resolver_lists_the_references() {
    let policy = spec(json!({"cloudflare": {
        "zoneId": "023e105f4ecef8ad9ca31a8372d0c353",
        "ipAccessRuleSets": [
            {"mode": "whitelist", "addressSet": "probes"},
            {"mode": "block", "addressSet": "abuse"}
        ]
    }}));
    let mut r = Resolver::collecting();
    with_address_sets(&policy, &mut r).expect("collected");
    assert_eq!(r.referenced(), ["probes", "abuse"]);
}

/// Qdrant: a set's ranges join the declared ones (a range declared in another spelling is not
/// added twice); an IPv6 address, or more than the API's 40 ranges, is refused naming the set.
#[test]
fn qdrant_merges_ipv4_sets_within_the_api_bound() {
    let block = |extra: Value| {
        let mut b = json!({
            "accountId": "6d3c9a70-2b3f-4c52-9f0e-0a1b2c3d4e5f",
            "clusterId": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
            "allowedIpSourceRanges": ["192.0.2.10", "203.0.113.0/24"]
        });
        if let (Some(b), Some(extra)) = (b.as_object_mut(), extra.as_object()) {
            b.extend(extra.clone());
        }
        spec(json!({ "qdrant": b }))
    };
    let policy = block(json!({"allowedAddressSets": ["egress"]}));
    let mut r = sets();
    let expanded = with_address_sets(&policy, &mut r).expect("expanded");
    let network = declared(&expanded, crate::providers::qdrant::model::NETWORK);
    assert_eq!(
        network[crate::providers::qdrant::model::RANGES]["value"],
        json!(["192.0.2.10/32", "192.0.2.11/32", "203.0.113.0/24"])
    );
    assert_eq!(r.used().len(), 1);

    let e = with_address_sets(
        &block(json!({"allowedAddressSets": ["egress", "v6-egress"]})),
        &mut sets(),
    )
    .expect_err("IPv6");
    assert_eq!(
        e.to_string(),
        "spec.qdrant.allowedAddressSets[1]: AddressSet \"v6-egress\" holds the IPv6 range \
         2001:db8::/32, and Qdrant Cloud's allowlist takes IPv4 only"
    );

    let many = (0..39)
        .map(|i| format!("10.0.{i}.0/24"))
        .collect::<Vec<_>>();
    let mut big = Resolver::new(
        "team-a",
        BTreeMap::from([("many".to_string(), SetState::ready(many))]),
    );
    let e = with_address_sets(&block(json!({"allowedAddressSets": ["many"]})), &mut big)
        .expect_err("41 ranges");
    assert_eq!(
        e.to_string(),
        "spec.qdrant.allowedAddressSets[0]: AddressSet \"many\" takes the list to 41 entries, and \
         Qdrant Cloud's allowlist takes at most 40"
    );
}

/// Vercel: one bypass entry per address for the set's domain, as a bare address for a host
/// route; an entry declared by hand for the same domain and source keeps its note, and the
/// same address for another domain is its own entry.
#[test]
fn vercel_expands_one_bypass_entry_per_address() {
    let policy = spec(json!({"vercel": {
        "projectId": "prj_abc123",
        "systemBypass": [{"domain": "api.example.com", "sourceIp": "45.79.17.131", "note": "by hand"}],
        "systemBypassSets": [
            {"domain": "api.example.com", "addressSet": "probes"},
            {"domain": "*", "addressSet": "egress", "note": "jobs"}
        ]
    }}));
    let mut r = sets();
    let expanded = with_address_sets(&policy, &mut r).expect("expanded");
    let bypass = declared(&expanded, crate::providers::vercel::model::BYPASS);
    let keys: Vec<&str> = bypass.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "*|192.0.2.10",
            "*|192.0.2.11",
            "api.example.com|139.162.0.0/16",
            "api.example.com|2600:3c00::1",
            "api.example.com|45.79.17.131",
        ]
    );
    assert_eq!(bypass["api.example.com|45.79.17.131"]["note"], "by hand");
    assert_eq!(
        bypass["api.example.com|139.162.0.0/16"]["note"],
        "address set probes"
    );
    assert_eq!(bypass["*|192.0.2.10"]["note"], "jobs");
    let used: Vec<String> = r.used().into_iter().map(|(n, _)| n).collect();
    assert_eq!(used, ["egress", "probes"]);
}

/// Vercel: sets that take the bypass list past its 256 entries are refused naming the set.
#[test]
fn vercel_refuses_a_bypass_list_past_its_bound() {
    let many: Vec<String> = (0..250).map(|i| format!("10.0.{i}.0/24")).collect();
    let mut r = Resolver::new(
        "team-a",
        BTreeMap::from([("many".to_string(), SetState::ready(many))]),
    );
    let literal: Vec<Value> = (0..7)
        .map(|i| json!({"domain": "a.example.com", "sourceIp": format!("198.51.100.{i}")}))
        .collect();
    let policy = spec(json!({"vercel": {
        "projectId": "prj_abc123",
        "systemBypass": literal,
        "systemBypassSets": [{"domain": "a.example.com", "addressSet": "many"}]
    }}));
    let e = with_address_sets(&policy, &mut r).expect_err("257 entries");
    assert_eq!(
        e.to_string(),
        "spec.vercel.systemBypassSets[0].addressSet: AddressSet \"many\" takes systemBypass past \
         256 entries, the most a policy declares"
    );
}

fn aws_block(ingress: Value, quota: Option<u32>) -> FirewallPolicySpec {
    let mut group = json!({"groupId": "sg-0123456789abcdef0", "ingress": ingress});
    if let Some(q) = quota {
        group["ruleQuota"] = json!(q);
    }
    spec(json!({"aws": {"region": "eu-west-1", "securityGroups": [group]}}))
}

/// AWS: a rule whose peer is a set stands for one rule per address, IPv4 and IPv6 alike, with
/// the rule's protocol, ports and description; a rule declared by hand with the same peer keeps
/// its description.
#[test]
fn aws_expands_a_set_peer_into_one_rule_per_address() {
    let policy = aws_block(
        json!([
            {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidr": "45.79.17.131", "description": "by hand"},
            {"protocol": "tcp", "fromPort": 443, "toPort": 443, "addressSet": "probes", "description": "uptime probes"},
            {"protocol": "tcp", "fromPort": 22, "toPort": 22, "peerGroupId": "sg-00000000000000bad"}
        ]),
        None,
    );
    let mut r = sets();
    let expanded = with_address_sets(&policy, &mut r).expect("expanded");
    let rules = declared(&expanded, "securityGroups[sg-0123456789abcdef0].ingress");
    let keys: Vec<&str> = rules.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "tcp:22:sg-00000000000000bad",
            "tcp:443:139.162.0.0/16",
            "tcp:443:2600:3c00::1/128",
            "tcp:443:45.79.17.131/32",
        ]
    );
    assert_eq!(rules["tcp:443:45.79.17.131/32"]["description"], "by hand");
    assert_eq!(
        rules["tcp:443:2600:3c00::1/128"]["description"],
        "uptime probes"
    );
    assert_eq!(r.used().len(), 1);
}

/// AWS: a set beside another peer, past the list's 1000 rules, or past the group's quota in
/// one family (AWS's default 60, or `ruleQuota`), is refused naming the rule.
#[test]
fn aws_refuses_an_expansion_past_the_bound_or_the_quota() {
    let cidr_and_set = aws_block(
        json!([{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidr": "10.0.0.0/8", "addressSet": "egress"}]),
        None,
    );
    let e = with_address_sets(&cidr_and_set, &mut sets()).expect_err("two peers");
    assert!(
        e.to_string().starts_with(
            "spec.aws.securityGroups[0].ingress[0].addressSet: AddressSet \"egress\" is named beside another peer"
        ),
        "{e}"
    );

    let big = |n: usize| {
        let many: Vec<String> = (0..n)
            .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
            .collect();
        Resolver::new(
            "team-a",
            BTreeMap::from([("many".to_string(), SetState::ready(many))]),
        )
    };
    let rule = json!([{"protocol": "tcp", "fromPort": 443, "toPort": 443, "addressSet": "many"}]);
    let e = with_address_sets(&aws_block(rule.clone(), None), &mut big(61)).expect_err("quota");
    assert_eq!(
        e.to_string(),
        "spec.aws.securityGroups[0].ingress[0].addressSet: AddressSet \"many\" takes ingress to \
         61 IPv4 rules, more than the group's quota of 60 (ruleQuota; AWS's default is 60)"
    );
    assert!(with_address_sets(&aws_block(rule.clone(), None), &mut big(60)).is_ok());
    assert!(with_address_sets(&aws_block(rule.clone(), Some(200)), &mut big(61)).is_ok());
    let e = with_address_sets(&aws_block(rule, Some(1000)), &mut big(1001)).expect_err("list");
    assert_eq!(
        e.to_string(),
        "spec.aws.securityGroups[0].ingress[0].addressSet: AddressSet \"many\" takes ingress to \
         1001 rules, more than the 1000 a security group's list declares"
    );
}

/// GCP: sets join a rule's source or destination ranges once; a set that makes the rule mix
/// IPv4 and IPv6 ranges, or takes a list past 5000, is refused naming it.
#[test]
fn gcp_merges_sets_into_one_family_ranges() {
    let rule = |extra: Value| {
        let mut r = json!({"name": "allow-probes", "allowed": [{"IPProtocol": "tcp", "ports": ["443"]}],
            "sourceRanges": ["192.0.2.10"]});
        if let (Some(r), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
            r.extend(extra.clone());
        }
        spec(json!({"gcp": {"network": "default", "firewallRules": [
            {"name": "deny-all", "denied": [{"IPProtocol": "all"}], "sourceRanges": ["2001:db8::/32"], "priority": 65000},
            r
        ]}}))
    };
    let mut r = sets();
    let policy = rule(json!({"sourceAddressSets": ["egress"]}));
    let expanded = with_address_sets(&policy, &mut r).expect("expanded");
    let rules = declared(&expanded, crate::providers::gcp::model::FIREWALLS);
    assert_eq!(
        rules["allow-probes"]["sourceRanges"],
        json!(["192.0.2.10/32", "192.0.2.11/32"])
    );
    let egress = rule(json!({"direction": "EGRESS", "sourceRanges": null,
        "destinationAddressSets": ["egress"]}));
    let expanded = with_address_sets(&egress, &mut sets()).expect("expanded");
    let rules = declared(&expanded, crate::providers::gcp::model::FIREWALLS);
    assert_eq!(
        rules["allow-probes"]["destinationRanges"],
        json!(["192.0.2.10/32", "192.0.2.11/32"])
    );

    let e = with_address_sets(
        &rule(json!({"sourceAddressSets": ["egress", "probes"]})),
        &mut sets(),
    )
    .expect_err("mixed");
    assert_eq!(
        e.to_string(),
        "spec.gcp.firewallRules[1].sourceAddressSets[1]: AddressSet \"probes\" makes the rule \
         mix IPv4 (192.0.2.10) and IPv6 (2600:3c00::1/128) ranges, and a GCP firewall rule \
         takes one family: split it into an IPv4 and an IPv6 rule"
    );

    let many: Vec<String> = (0..5000)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    let mut big = Resolver::new(
        "team-a",
        BTreeMap::from([("many".to_string(), SetState::ready(many))]),
    );
    let e = with_address_sets(&rule(json!({"sourceAddressSets": ["many"]})), &mut big)
        .expect_err("5001");
    assert_eq!(
        e.to_string(),
        "spec.gcp.firewallRules[1].sourceAddressSets[0]: AddressSet \"many\" takes sourceRanges \
         to 5001 ranges, and a firewall rule takes at most 5000"
    );
}
