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
