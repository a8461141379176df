//! Table tests of the rollup rules and the evidence chain.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::evidence::{GENESIS, Retention, Trail, observations};
use super::routing::ReachState;
use super::*;
use crate::api::compliance::{
    AttestableRequirement, Attestation, Control, ControlAssessmentSpec, EvidenceSettings, Scope,
};
use crate::core::routing::{AlertRoute, ChannelCheck, SlackChannelRef};
use crate::providers::registry::{Alerting, Boundary, Info, Monitoring};

fn now() -> Timestamp {
    "2026-11-28T12:00:00Z".parse().unwrap()
}

fn attestation(expires: &str) -> Attestation {
    Attestation {
        requirement: AttestableRequirement::EndpointFirewall,
        provider: None,
        statement: "Host firewall enforced by MDM on every laptop and server".into(),
        attested_by: "ciso@example.com".into(),
        evidence_url: "https://grc.example.com/evidence/42".into(),
        expires: expires.into(),
    }
}

fn spec(attestations: Vec<Attestation>) -> ControlAssessmentSpec {
    ControlAssessmentSpec {
        control: Control::DeCm1,
        scope: Scope::default(),
        attestations,
        evidence: EvidenceSettings::default(),
    }
}

fn provider(ns: &str, name: &str, t: ProviderType, ready: Option<bool>) -> ProviderFacts {
    ProviderFacts {
        namespace: ns.into(),
        name: name.into(),
        provider_type: t,
        ready,
        reason: (ready == Some(false)).then(|| "ProviderUnreachable".to_string()),
        inventory: None,
    }
}

struct P {
    kind: PolicyKind,
    provider: &'static str,
    mode: Mode,
    in_sync: InSync,
    alerts: usize,
    paused: bool,
}

fn fw(provider: &'static str, in_sync: InSync) -> P {
    P {
        kind: PolicyKind::FirewallPolicy,
        provider,
        mode: Mode::Enforce,
        in_sync,
        alerts: 0,
        paused: false,
    }
}

fn mon(provider: &'static str, in_sync: InSync, alerts: usize) -> P {
    P {
        kind: PolicyKind::MonitoringPolicy,
        provider,
        mode: Mode::Enforce,
        in_sync,
        alerts,
        paused: false,
    }
}

fn facts(list: Vec<P>) -> Vec<PolicyFacts> {
    list.into_iter()
        .enumerate()
        .map(|(i, p)| PolicyFacts {
            kind: p.kind,
            namespace: "perimeter".into(),
            name: format!("{}-{i}", p.provider),
            provider: p.provider.into(),
            provider_kind: ProviderKind::CloudProvider,
            mode: p.mode,
            paused: p.paused,
            in_sync: p.in_sync,
            drift_count: if p.in_sync == InSync::False { 2 } else { 0 },
            alert_routes: p.alerts,
            observed_at: Some("2026-11-28T11:59:00Z".into()),
            stale: false,
            digest: format!("sha256:{i}"),
            not_enforceable: None,
            revision: None,
            changes: Vec::new(),
            // A monitoring policy that declares alert routes shows one reaching a live channel
            // (and, standing in for the Slack policy, vouches for it); see `live_route`.
            routes: if p.alerts > 0 {
                vec![live_route()]
            } else {
                Vec::new()
            },
            channels: if p.alerts > 0 {
                vec![channel("C0ALERTS", "alerts", true, None)]
            } else {
                Vec::new()
            },
            endpoints: None,
        })
        .collect()
}

fn live_route() -> AlertRoute {
    route("notification policy 'ddos'", Some((None, "C0ALERTS")), None)
}

fn route(name: &str, slack: Option<(Option<&str>, &str)>, other: Option<&str>) -> AlertRoute {
    AlertRoute {
        route: name.into(),
        slack: slack.map(|(team, channel)| SlackChannelRef {
            team: team.map(str::to_string),
            channel: channel.into(),
        }),
        other: other.map(str::to_string),
        problem: None,
    }
}

fn channel(id: &str, name: &str, live: bool, reason: Option<&str>) -> ChannelCheck {
    ChannelCheck {
        team: "T1".into(),
        id: id.into(),
        name: name.into(),
        live,
        reason: reason.map(str::to_string),
    }
}

fn two_providers() -> Vec<ProviderFacts> {
    vec![
        provider("perimeter", "cf", ProviderType::Cloudflare, Some(true)),
        provider("perimeter", "aws", ProviderType::Aws, Some(true)),
    ]
}

fn healthy() -> Vec<P> {
    vec![
        fw("cf", InSync::True),
        mon("cf", InSync::True, 1),
        fw("aws", InSync::True),
        mon("aws", InSync::True, 2),
    ]
}

fn valid() -> Vec<Attestation> {
    vec![attestation("2027-03-01T00:00:00Z")]
}

type Row = (
    &'static str,
    Vec<ProviderFacts>,
    Vec<P>,
    Vec<Attestation>,
    [RequirementState; 4],
    ImplementationState,
    u8,
);

#[test]
fn rollup_table() {
    use ImplementationState::*;
    use RequirementState::*;
    let observe = |mut v: Vec<P>| {
        v[0].mode = Mode::Observe;
        v
    };
    let rows: Vec<Row> = vec![
        (
            "everything declared, in sync, enforced, attested",
            two_providers(),
            healthy(),
            valid(),
            [Verified, Verified, Verified, Attested],
            Implemented,
            3,
        ),
        (
            "one policy only observed: implemented, maturity 2",
            two_providers(),
            observe(healthy()),
            valid(),
            [Verified, Verified, Verified, Attested],
            Implemented,
            2,
        ),
        (
            "expired attestation is a gap, never attested",
            two_providers(),
            healthy(),
            vec![attestation("2026-11-01T00:00:00Z")],
            [Verified, Verified, Verified, Gap],
            PartiallyImplemented,
            1,
        ),
        (
            "no attestation at all",
            two_providers(),
            healthy(),
            vec![],
            [Verified, Verified, Verified, Gap],
            PartiallyImplemented,
            1,
        ),
        (
            "unreadable provider: unknown, never compliant",
            vec![
                provider("perimeter", "cf", ProviderType::Cloudflare, Some(true)),
                provider("perimeter", "aws", ProviderType::Aws, Some(false)),
            ],
            healthy(),
            valid(),
            [Unknown, Unknown, Unknown, Attested],
            PartiallyImplemented,
            1,
        ),
        (
            "policy whose read failed (InSync Unknown)",
            two_providers(),
            vec![
                fw("cf", InSync::Unknown),
                mon("cf", InSync::True, 1),
                fw("aws", InSync::True),
                mon("aws", InSync::True, 2),
            ],
            valid(),
            [Unknown, Verified, Verified, Attested],
            PartiallyImplemented,
            1,
        ),
        (
            "gap wins over unknown",
            two_providers(),
            vec![
                fw("cf", InSync::Unknown),
                mon("cf", InSync::True, 1),
                fw("aws", InSync::False),
                mon("aws", InSync::True, 2),
            ],
            valid(),
            [Gap, Verified, Verified, Attested],
            PartiallyImplemented,
            1,
        ),
        (
            "a provider without a firewall policy",
            two_providers(),
            vec![
                fw("cf", InSync::True),
                mon("cf", InSync::True, 1),
                mon("aws", InSync::True, 2),
            ],
            valid(),
            [Gap, Verified, Verified, Attested],
            PartiallyImplemented,
            1,
        ),
        (
            "monitoring without alert routes",
            two_providers(),
            vec![
                fw("cf", InSync::True),
                mon("cf", InSync::True, 0),
                fw("aws", InSync::True),
                mon("aws", InSync::True, 2),
            ],
            valid(),
            [Verified, Verified, Gap, Attested],
            PartiallyImplemented,
            1,
        ),
        (
            "drifted monitoring also breaks alert routing of that provider",
            two_providers(),
            vec![
                fw("cf", InSync::True),
                mon("cf", InSync::False, 1),
                fw("aws", InSync::True),
                mon("aws", InSync::True, 2),
            ],
            valid(),
            [Verified, Gap, Gap, Attested],
            PartiallyImplemented,
            1,
        ),
        (
            "a provider without an alerting API: alert routing not applicable to it",
            vec![
                provider("perimeter", "cf", ProviderType::Cloudflare, Some(true)),
                provider("perimeter", "vercel", ProviderType::Vercel, Some(true)),
            ],
            vec![
                fw("cf", InSync::True),
                mon("cf", InSync::True, 1),
                fw("vercel", InSync::True),
                mon("vercel", InSync::True, 0),
            ],
            valid(),
            [Verified, Verified, Verified, Attested],
            Implemented,
            3,
        ),
        (
            "not applicable never hides a gap of a provider that alerts",
            vec![
                provider("perimeter", "cf", ProviderType::Cloudflare, Some(true)),
                provider("perimeter", "vercel", ProviderType::Vercel, Some(true)),
            ],
            vec![
                fw("cf", InSync::True),
                mon("cf", InSync::True, 0),
                fw("vercel", InSync::True),
                mon("vercel", InSync::True, 0),
            ],
            valid(),
            [Verified, Verified, Gap, Attested],
            PartiallyImplemented,
            1,
        ),
        (
            "only providers without an alerting API: nothing routes alerts, a gap",
            vec![
                provider("perimeter", "vercel", ProviderType::Vercel, Some(true)),
                provider("perimeter", "supabase", ProviderType::Supabase, Some(true)),
            ],
            vec![
                fw("vercel", InSync::True),
                mon("vercel", InSync::True, 0),
                fw("supabase", InSync::True),
                mon("supabase", InSync::True, 0),
            ],
            valid(),
            [Verified, Verified, Gap, Attested],
            PartiallyImplemented,
            1,
        ),
        (
            "nothing in scope, nothing attested",
            vec![],
            vec![],
            vec![],
            [Gap, Gap, Gap, Gap],
            NotImplemented,
            0,
        ),
    ];
    for (name, providers, policies, attestations, want, state, level) in rows {
        let snap = Snapshot {
            providers,
            policies: facts(policies),
            own_routes: vec![],
        };
        let a = evaluate(&spec(attestations), &snap, None, now());
        let got: Vec<RequirementState> = a.requirements.iter().map(|r| r.state).collect();
        assert_eq!(got, want.to_vec(), "{name}: requirements");
        assert_eq!(a.state, state, "{name}: state");
        assert_eq!(a.maturity.level, level, "{name}: maturity");
        let unsatisfied = want.iter().filter(|s| !s.satisfied()).count();
        for r in a.requirements.iter().filter(|r| !r.state.satisfied()) {
            assert!(
                a.gaps
                    .iter()
                    .any(|g| g.requirement == r.requirement && !g.action.is_empty()),
                "{name}: {} has no gap: {:?}",
                r.requirement,
                a.gaps
            );
        }
        assert_eq!(a.satisfied, 4 - unsatisfied, "{name}: score");
    }
}

#[test]
fn a_stale_verdict_is_unknown_and_says_so() {
    let mut policies = facts(healthy());
    policies[2].stale = true;
    let snap = Snapshot {
        providers: two_providers(),
        policies,
        own_routes: vec![],
    };
    let a = evaluate(&spec(valid()), &snap, None, now());
    assert_eq!(
        a.requirement(Requirement::BoundaryFirewall)
            .map(|r| r.state),
        Some(RequirementState::Unknown)
    );
    assert_eq!(a.state, ImplementationState::PartiallyImplemented);
    let gap = a
        .gaps
        .iter()
        .find(|g| g.requirement == Requirement::BoundaryFirewall);
    assert!(
        gap.is_some_and(|g| g.subject == "FirewallPolicy perimeter/aws-2"
            && g.action.contains("Not re-read")
            && g.action.contains("2026-11-28T11:59:00Z")),
        "{gap:?}"
    );
}

#[test]
fn paused_policy_is_a_gap_with_the_way_out() {
    let mut ps = healthy();
    ps[2].paused = true;
    let snap = Snapshot {
        providers: two_providers(),
        policies: facts(ps),
        own_routes: vec![],
    };
    let a = evaluate(&spec(valid()), &snap, None, now());
    let row = a.coverage.iter().find(|r| r.provider == "perimeter/aws");
    assert_eq!(row.map(|r| r.firewall), Some(Cell::Paused));
    let gap = a
        .gaps
        .iter()
        .find(|g| g.requirement == Requirement::BoundaryFirewall);
    assert!(
        gap.is_some_and(
            |g| g.subject == "FirewallPolicy perimeter/aws-2" && g.action.contains("spec.paused")
        ),
        "{gap:?}"
    );
}

/// A drift the plan does not allow is a gap that says so, with the provider's words; and
/// `mode: Enforce` is offered only where it would help (an observed policy whose drift the API
/// can correct).
#[test]
fn a_plan_that_cannot_do_it_is_named_in_the_gap() {
    const PLAN: &str = "the plan does not allow network restrictions";
    let cases = [
        (
            Mode::Enforce,
            Some(PLAN),
            "1 field(s) drifted from the declaration: fix them at the provider (see the \
             policy's status.drift); Enforce cannot fix these (perimeter/cf-0: the plan does not \
             allow network restrictions)",
        ),
        (
            Mode::Observe,
            Some(PLAN),
            "1 field(s) drifted from the declaration: fix them at the provider (see the \
             policy's status.drift); Enforce cannot fix these (perimeter/cf-0: the plan does not \
             allow network restrictions)",
        ),
        (
            Mode::Observe,
            None,
            "1 field(s) drifted from the declaration: fix them at the provider or set mode: \
             Enforce (see the policy's status.drift)",
        ),
        (
            Mode::Enforce,
            None,
            "1 field(s) drifted from the declaration: fix them at the provider (see the \
             policy's status.drift)",
        ),
    ];
    for (mode, why, want) in cases {
        let mut policies = facts(vec![fw("cf", InSync::False), mon("cf", InSync::True, 1)]);
        policies[0].mode = mode;
        policies[0].drift_count = 1;
        policies[0].not_enforceable = why.map(str::to_string);
        let snap = Snapshot {
            providers: two_providers(),
            policies,
            own_routes: vec![],
        };
        let a = evaluate(&spec(valid()), &snap, None, now());
        let gap = a
            .gaps
            .iter()
            .find(|g| g.requirement == Requirement::BoundaryFirewall)
            .expect("a firewall gap");
        assert_eq!(gap.action, want, "{mode:?} {why:?}");
    }
}

#[test]
fn gaps_say_what_closes_them() {
    let snap = Snapshot {
        providers: two_providers(),
        policies: facts(vec![
            fw("cf", InSync::False),
            mon("cf", InSync::True, 1),
            mon("aws", InSync::True, 2),
        ]),
        own_routes: vec![],
    };
    let a = evaluate(&spec(vec![]), &snap, None, now());
    let actions: Vec<(Requirement, &str, &str)> = a
        .gaps
        .iter()
        .map(|g| (g.requirement, g.subject.as_str(), g.action.as_str()))
        .collect();
    assert_eq!(actions.len(), 3, "{actions:?}");
    assert_eq!(actions[0].0, Requirement::BoundaryFirewall);
    assert_eq!(actions[0].1, "FirewallPolicy perimeter/cf-0");
    assert!(
        actions[0].2.starts_with("2 field(s) drifted"),
        "{}",
        actions[0].2
    );
    assert_eq!(actions[1].1, "aws perimeter/aws");
    assert!(actions[1].2.contains("security groups"), "{}", actions[1].2);
    assert_eq!(actions[2].0, Requirement::EndpointFirewall);
    assert!(actions[2].2.contains("attestation"));
}

#[test]
fn scope_filters_providers_by_namespace_and_type() {
    let mut s = spec(valid());
    s.scope.provider_types = vec![ProviderType::Cloudflare];
    let snap = Snapshot {
        providers: two_providers(),
        policies: facts(vec![fw("cf", InSync::True), mon("cf", InSync::True, 1)]),
        own_routes: vec![],
    };
    let a = evaluate(&s, &snap, None, now());
    assert_eq!(a.coverage.len(), 1);
    assert_eq!(a.state, ImplementationState::Implemented);
    s.scope.provider_types.clear();
    s.scope.namespaces = vec!["elsewhere".into()];
    let a = evaluate(&s, &snap, None, now());
    assert!(a.coverage.is_empty());
    assert_eq!(
        a.requirement(Requirement::BoundaryFirewall)
            .map(|r| r.state),
        Some(RequirementState::Gap)
    );
}

#[test]
fn maturity_four_needs_thirty_days_of_unbroken_evidence() {
    let snap = Snapshot {
        providers: two_providers(),
        policies: facts(healthy()),
        own_routes: vec![],
    };
    for (days, level) in [(0, 3), (29, 3), (30, 4), (90, 4)] {
        let since = now() - SignedDuration::from_hours(24 * days);
        let a = evaluate(&spec(valid()), &snap, Some(since), now());
        assert_eq!(a.maturity.level, level, "{days} days");
    }
}

// ---- evidence ----

fn assessed(state_ok: bool) -> Assessment {
    let policies = if state_ok {
        healthy()
    } else {
        vec![fw("cf", InSync::False)]
    };
    let snap = Snapshot {
        providers: two_providers(),
        policies: facts(policies),
        own_routes: vec![],
    };
    evaluate(&spec(valid()), &snap, None, now())
}

fn trail_of(n: usize, step: Duration) -> Trail {
    let mut t = Trail::default();
    let retention = Retention {
        heartbeat: step,
        ..Retention::default()
    };
    let a = assessed(true);
    for i in 0..n {
        let at = now() + step * i as u32;
        assert!(t.record("de-cm-1", &a, vec![], at, &retention).is_some());
    }
    t
}

#[test]
fn records_are_written_on_change_and_on_heartbeat_only() {
    let retention = Retention::default();
    let mut t = Trail::default();
    let ok = assessed(true);
    let first = t.record("de-cm-1", &ok, vec![], now(), &retention).cloned();
    assert_eq!(
        first.as_ref().map(|r| (r.seq, r.previous.as_str())),
        Some((1, GENESIS))
    );
    let later = now() + Duration::from_secs(600);
    assert!(
        t.record("de-cm-1", &ok, vec![], later, &retention)
            .is_none(),
        "unchanged, within heartbeat"
    );
    let bad = assessed(false);
    let second = t
        .record("de-cm-1", &bad, vec![], later, &retention)
        .cloned();
    assert_eq!(second.as_ref().map(|r| r.seq), Some(2));
    assert_eq!(second.map(|r| r.previous), first.map(|r| r.digest));
    let much_later = later + Duration::from_secs(3600);
    assert!(
        t.record("de-cm-1", &bad, vec![], much_later, &retention)
            .is_some(),
        "heartbeat"
    );
    assert!(t.verify(retention.heartbeat, None).ok());
}

#[test]
fn verification_finds_tampering_and_holes() {
    let hb = Duration::from_secs(3600);
    type Tamper = fn(&mut Trail);
    type Row = (&'static str, Tamper, Vec<(&'static str, u64)>);
    let rows: Vec<Row> = vec![
        ("untouched", |_| {}, vec![]),
        (
            "a result edited",
            |t| t.records[2].state = ImplementationState::NotImplemented,
            vec![("Tampered", 3)],
        ),
        (
            "edited and re-digested",
            |t| {
                t.records[2].satisfied = 1;
                t.records[2].digest = t.records[2].compute_digest();
            },
            vec![("BrokenLink", 4)],
        ),
        (
            "a record removed",
            |t| {
                t.records.remove(2);
            },
            vec![("MissingRecords", 4), ("BrokenLink", 4)],
        ),
        (
            "records swapped",
            |t| t.records.swap(1, 2),
            vec![
                ("MissingRecords", 3),
                ("BrokenLink", 3),
                ("OutOfOrder", 2),
                ("BrokenLink", 2),
                ("OutOfOrder", 2),
                ("MissingRecords", 4),
                ("BrokenLink", 4),
            ],
        ),
        (
            "the oldest records cut without an anchor",
            |t| {
                t.records.remove(0);
            },
            vec![("MissingRecords", 2), ("BrokenLink", 2)],
        ),
    ];
    for (name, tamper, want) in rows {
        let mut t = trail_of(5, hb);
        tamper(&mut t);
        let v = t.verify(hb, None);
        let got: Vec<(&str, u64)> = v
            .problems
            .iter()
            .map(|p| (p.kind.as_str(), p.seq))
            .collect();
        assert_eq!(got, want, "{name}: {:?}", v.problems);
    }
}

#[test]
fn a_hole_in_time_and_a_rewritten_head_are_reported() {
    let hb = Duration::from_secs(3600);
    let mut t = trail_of(3, hb);
    let retention = Retention {
        heartbeat: hb,
        ..Retention::default()
    };
    let a = assessed(true);
    let late = now() + Duration::from_secs(3600 * 10);
    assert!(t.record("de-cm-1", &a, vec![], late, &retention).is_some());
    let v = t.verify(hb, None);
    assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
    assert_eq!(v.problems[0].kind, "TimeGap");
    let head = t.head().map(|r| r.digest.clone()).unwrap_or_default();
    assert!(
        t.verify(hb, Some(&head))
            .problems
            .iter()
            .all(|p| p.kind != "HeadMismatch")
    );
    let v = t.verify(hb, Some("sha256:other"));
    assert!(v.problems.iter().any(|p| p.kind == "HeadMismatch"));
}

#[test]
fn capped_trail_keeps_an_anchor_and_still_verifies() {
    let hb = Duration::from_secs(60);
    let retention = Retention {
        heartbeat: hb,
        max_records: 3,
        max_bytes: usize::MAX,
    };
    let mut t = Trail::default();
    let a = assessed(true);
    for i in 0..7u32 {
        t.record("de-cm-1", &a, vec![], now() + hb * i, &retention);
    }
    assert_eq!(t.records.len(), 3);
    assert_eq!(t.anchor.as_ref().map(|a| a.seq), Some(4));
    assert_eq!(t.records[0].seq, 5);
    assert!(t.verify(hb, None).ok(), "{:?}", t.verify(hb, None).problems);
    // The byte cap applies too.
    let small = Retention {
        heartbeat: hb,
        max_records: 100,
        max_bytes: 2_000,
    };
    let mut t = Trail::default();
    for i in 0..20u32 {
        t.record("de-cm-1", &a, vec![], now() + hb * i, &small);
    }
    assert!(serde_json::to_vec(&t).map_or(0, |b| b.len()) <= 2_000);
    assert!(t.verify(hb, None).ok());
}

#[test]
fn implemented_since_follows_the_unbroken_tail() {
    let hb = Duration::from_secs(3600);
    let t = trail_of(48, hb);
    let end = now() + hb * 47;
    assert_eq!(t.implemented_since(hb, end), Some(now()));
    // Too long since the last record: no credit.
    assert_eq!(t.implemented_since(hb, end + hb * 3), None);
    // A tampered trail earns nothing.
    let mut bad = t.clone();
    bad.records[10].total = 9;
    assert_eq!(bad.implemented_since(hb, end), None);
}

#[test]
fn observations_name_api_time_and_digest() {
    let snap = Snapshot {
        providers: vec![
            provider("perimeter", "cf", ProviderType::Cloudflare, Some(true)),
            provider("perimeter", "aws", ProviderType::Aws, Some(false)),
        ],
        policies: facts(healthy()),
        own_routes: vec![],
    };
    let a = evaluate(&spec(valid()), &snap, None, now());
    let obs = observations(&a, &snap.providers, &snap.policies, &valid(), now());
    let subjects: Vec<&str> = obs.iter().map(|o| o.subject.as_str()).collect();
    assert_eq!(
        subjects,
        vec![
            "FirewallPolicy perimeter/cf-0",
            "MonitoringPolicy perimeter/cf-1",
            "CloudProvider perimeter/aws",
            "FirewallPolicy perimeter/aws-2",
            "MonitoringPolicy perimeter/aws-3",
            "Attestation EndpointFirewall",
        ]
    );
    assert!(obs[0].api.starts_with("Cloudflare API v4"));
    assert_eq!(obs[0].observed_at.as_deref(), Some("2026-11-28T11:59:00Z"));
    assert!(obs[5].digest.starts_with("sha256:") && obs[5].result == "Valid");
    assert_eq!(obs[0].revision, None);

    // A provider's revision of what it read is quoted in the evidence.
    let mut snap = snap;
    snap.policies[0].revision = Some("firewall config version 7".into());
    let obs = observations(&a, &snap.providers, &snap.policies, &valid(), now());
    assert_eq!(
        obs[0].revision.as_deref(),
        Some("firewall config version 7")
    );
}

/// A ClusterCloudProvider's policies are evidence under `cluster/<name>`, and never under a
/// namespaced CloudProvider that happens to share its name with the policy's namespace.
#[test]
fn observations_follow_the_account_a_policy_uses() {
    let snap = Snapshot {
        providers: vec![
            provider("perimeter", "cf", ProviderType::Cloudflare, Some(true)),
            provider("", "cf", ProviderType::Cloudflare, Some(true)),
        ],
        policies: {
            let mut p = facts(vec![
                fw("cf", InSync::True),
                mon("cf", InSync::True, 1),
                fw("cf", InSync::False),
            ]);
            // The third uses the ClusterCloudProvider `cf` from namespace perimeter.
            p[2].provider_kind = ProviderKind::ClusterCloudProvider;
            p
        },
        own_routes: vec![],
    };
    let a = evaluate(&spec(valid()), &snap, None, now());
    let obs = observations(&a, &snap.providers, &snap.policies, &valid(), now());
    let seen: Vec<(&str, &str)> = obs
        .iter()
        .filter(|o| o.subject.contains("Policy"))
        .map(|o| (o.subject.as_str(), o.provider.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("FirewallPolicy perimeter/cf-0", "cloudflare perimeter/cf"),
            ("MonitoringPolicy perimeter/cf-1", "cloudflare perimeter/cf"),
            ("FirewallPolicy perimeter/cf-2", "cloudflare cluster/cf"),
        ]
    );
}

#[test]
fn not_applicable_alerting_is_shown_with_its_reason_and_never_as_a_gap() {
    let snap = Snapshot {
        providers: vec![
            provider("perimeter", "cf", ProviderType::Cloudflare, Some(true)),
            provider("perimeter", "vercel", ProviderType::Vercel, Some(true)),
        ],
        policies: facts(vec![
            fw("cf", InSync::True),
            mon("cf", InSync::True, 1),
            fw("vercel", InSync::True),
            mon("vercel", InSync::True, 0),
        ]),
        own_routes: vec![],
    };
    let a = evaluate(&spec(valid()), &snap, None, now());
    let row = a.coverage.iter().find(|r| r.provider == "perimeter/vercel");
    assert_eq!(row.map(|r| r.alerting), Some(Cell::NotApplicable));
    assert!(a.gaps.is_empty(), "{:?}", a.gaps);
    let routing = a
        .requirement(Requirement::AlertRouting)
        .expect("alert routing");
    assert_eq!(
        routing.message,
        "1 of 1 providers verified, 0 with gaps, 0 unknown; not applicable to 1 (no alerting API)"
    );
    assert!(
        routing
            .subjects
            .iter()
            .any(|s| s
                .starts_with("vercel perimeter/vercel (NotApplicable: Vercel has no alerting API")),
        "{:?}",
        routing.subjects
    );
}

#[test]
fn a_trail_is_extended_only_from_the_head_recorded_earlier() {
    let hb = Duration::from_secs(3600);
    let t = trail_of(4, hb);
    let third = (3, t.records[2].digest.clone());
    let head = (4, t.records[3].digest.clone());
    let kinds = |t: &Trail, expected: Option<(u64, &str)>| -> Vec<(String, u64)> {
        t.extension_problems(hb, expected)
            .into_iter()
            .map(|p| (p.kind, p.seq))
            .collect()
    };
    assert_eq!(kinds(&t, None), []);
    assert_eq!(kinds(&t, Some((head.0, &head.1))), []);
    // Records after the published head: the status write that follows a trail write failed.
    assert_eq!(kinds(&t, Some((third.0, &third.1))), []);
    // The head edited and re-digested: the chain alone cannot tell, the published head can.
    let mut edited = t.clone();
    edited.records[3].satisfied = 1;
    edited.records[3].digest = edited.records[3].compute_digest();
    assert_eq!(kinds(&edited, None), []);
    assert_eq!(
        kinds(&edited, Some((head.0, &head.1))),
        [("HeadMismatch".to_string(), 4)]
    );
    // The tail cut off.
    let mut cut = t.clone();
    cut.records.truncate(2);
    assert_eq!(
        kinds(&cut, Some((head.0, &head.1))),
        [("MissingRecords".to_string(), 4)]
    );
    // An edit inside the chain, whatever the head.
    let mut tampered = t.clone();
    tampered.records[0].state = ImplementationState::NotImplemented;
    assert_eq!(
        kinds(&tampered, Some((head.0, &head.1))),
        [("Tampered".to_string(), 1)]
    );
    // The trail deleted (a new, empty one) while the status names a record.
    assert_eq!(
        kinds(&Trail::default(), Some((head.0, &head.1))),
        [("MissingRecords".to_string(), 4)]
    );
    // Time alone does not stop the trail: a hole is evidence in its own right, and a record
    // older than the one before it can be clock skew between two operator pods.
    let retention = Retention {
        heartbeat: hb,
        ..Retention::default()
    };
    let mut late = t.clone();
    let at = now() + Duration::from_secs(3600 * 10);
    assert!(
        late.record("de-cm-1", &assessed(true), vec![], at, &retention)
            .is_some()
    );
    assert_eq!(kinds(&late, Some((head.0, &head.1))), []);
    let mut skewed = t.clone();
    let at = now() + hb * 3 - Duration::from_secs(1);
    assert!(
        skewed
            .record("de-cm-1", &assessed(false), vec![], at, &retention)
            .is_some()
    );
    assert!(
        !skewed.verify(hb, None).ok(),
        "verification still reports it"
    );
    assert_eq!(kinds(&skewed, Some((head.0, &head.1))), []);
}

/// The first finding that names drift Enforce cannot correct, in `NOT_ENFORCEABLE` order;
/// other findings are not reasons.
#[test]
fn not_enforceable_takes_the_first_code_in_order() {
    let f = |code: &str, message: &str| crate::api::FindingEntry {
        code: code.into(),
        subject: "s".into(),
        message: message.into(),
    };
    let cases = [
        (vec![f("UnmanagedRule", "x"), f("NetworkOpen", "y")], None),
        (
            vec![
                f("ManualChangeNeeded", "switch it on"),
                f("NotEntitled", "plan"),
            ],
            Some("plan"),
        ),
        (
            vec![
                f("ManualChangeNeeded", "switch it on"),
                f("ServiceUnhealthy", "down"),
            ],
            Some("down"),
        ),
        (
            vec![f("ManualChangeNeeded", "switch it on")],
            Some("switch it on"),
        ),
    ];
    for (findings, want) in cases {
        assert_eq!(
            crate::compliance::not_enforceable_of(&findings).as_deref(),
            want,
            "{findings:?}"
        );
    }
}

/// Alert routing end to end: the source provider's observed routes joined with the channels
/// Slack vouched for. Each row: routes of Cloudflare's monitoring policy, the channel checks of
/// a separate (Slack) policy and whether that read is stale, the alerting cell, and a text the
/// gap (or, when verified, the coverage's first route) must hold.
#[test]
fn alert_routes_count_only_when_they_reach_a_live_channel() {
    let by_id = |c: &str| route("notification policy 'ddos'", Some((None, c)), None);
    let mut problem = by_id("C0ALERTS");
    problem.problem = Some("Slack integration status: account_inactive".into());
    let live = channel("C0ALERTS", "alerts", true, None);
    let archived = channel("C0ALERTS", "alerts", false, Some("archived"));
    #[allow(clippy::type_complexity)]
    let rows: Vec<(&str, Vec<AlertRoute>, Vec<ChannelCheck>, bool, Cell, &str)> = vec![
        (
            "live by id",
            vec![by_id("C0ALERTS")],
            vec![live.clone()],
            false,
            Cell::Verified,
            "#alerts (C0ALERTS)",
        ),
        (
            "live by name",
            vec![route("channel 'ops'", Some((Some("T1"), "#alerts")), None)],
            vec![live.clone()],
            false,
            Cell::Verified,
            "#alerts (C0ALERTS)",
        ),
        (
            "archived",
            vec![by_id("C0ALERTS")],
            vec![archived.clone()],
            false,
            Cell::Unreachable,
            "Slack #alerts (C0ALERTS)",
        ),
        (
            "not checked by any slack policy",
            vec![by_id("C0OTHER")],
            vec![live.clone()],
            false,
            Cell::Unreachable,
            "no slack: MonitoringPolicy checks this channel",
        ),
        (
            "another workspace",
            vec![route("channel 'ops'", Some((Some("T2"), "C0ALERTS")), None)],
            vec![live.clone()],
            false,
            Cell::Unreachable,
            "Slack C0ALERTS",
        ),
        (
            "a stale Slack read vouches for nothing",
            vec![by_id("C0ALERTS")],
            vec![live.clone()],
            true,
            Cell::Unreachable,
            "Slack C0ALERTS",
        ),
        (
            "one dead route is a gap even beside a live one",
            vec![
                by_id("C0ALERTS"),
                route("notification policy 'waf'", Some((None, "C0OLD")), None),
            ],
            vec![
                live.clone(),
                channel("C0OLD", "old-alerts", false, Some("archived")),
            ],
            false,
            Cell::Unreachable,
            "notification policy 'waf' → #old-alerts (C0OLD): archived",
        ),
        (
            "the source says the route is broken",
            vec![problem],
            vec![live.clone()],
            false,
            Cell::Unreachable,
            "account_inactive",
        ),
        (
            "a live check wins over an older dead one",
            vec![by_id("C0ALERTS")],
            vec![archived, live.clone()],
            false,
            Cell::Verified,
            "#alerts (C0ALERTS)",
        ),
        (
            "only e-mail",
            vec![route(
                "notification policy 'ddos'",
                None,
                Some("e-mail to 1 address"),
            )],
            vec![live.clone()],
            false,
            Cell::Unverified,
            "notification policy 'ddos' → e-mail to 1 address",
        ),
        (
            "no route seen",
            vec![],
            vec![live],
            false,
            Cell::Unverified,
            "showed no route",
        ),
    ];
    for (name, routes, checks, stale, want, text) in rows {
        let mut policies = facts(vec![fw("cf", InSync::True), mon("cf", InSync::True, 1)]);
        policies[1].routes = routes;
        policies[1].channels = Vec::new();
        let mut slack = facts(vec![mon("slack", InSync::True, 0)]).remove(0);
        slack.channels = checks;
        slack.stale = stale;
        policies.push(slack);
        let snap = Snapshot {
            providers: vec![provider(
                "perimeter",
                "cf",
                ProviderType::Cloudflare,
                Some(true),
            )],
            policies,
            own_routes: vec![],
        };
        let a = evaluate(&spec(valid()), &snap, None, now());
        let row = &a.coverage[0];
        assert_eq!(row.alerting, want, "{name}: {:?}", row.routes);
        let routing = a
            .requirement(Requirement::AlertRouting)
            .expect("alert routing");
        let gap = a
            .gaps
            .iter()
            .find(|g| g.requirement == Requirement::AlertRouting);
        if want == Cell::Verified {
            assert_eq!(routing.state, RequirementState::Verified, "{name}");
            assert!(gap.is_none(), "{name}: {gap:?}");
            assert_eq!(row.routes[0].reaches, text, "{name}");
        } else {
            assert_eq!(routing.state, RequirementState::Gap, "{name}");
            let gap = gap.unwrap_or_else(|| panic!("{name}: a gap"));
            let said = format!("{} | {}", gap.subject, gap.action);
            assert!(said.contains(text), "{name}: {said}");
        }
    }
}

/// The report lists every route with the channel it reaches; provider text cannot break the
/// table.
#[test]
fn the_report_shows_each_route_and_the_channel_it_reaches() {
    let mut policies = facts(vec![fw("cf", InSync::True), mon("cf", InSync::True, 1)]);
    policies[1].routes.push(route(
        "notification policy 'waf | edge'",
        Some((None, "C0OLD")),
        None,
    ));
    policies[1]
        .channels
        .push(channel("C0OLD", "old", false, Some("archived")));
    let snap = Snapshot {
        providers: vec![provider(
            "perimeter",
            "cf",
            ProviderType::Cloudflare,
            Some(true),
        )],
        policies,
        own_routes: vec![],
    };
    let a = evaluate(&spec(valid()), &snap, None, now());
    let trail = Trail::default();
    let verification = trail.verify(Duration::from_secs(3600), None);
    let r = report::ControlReport::new("de-cm-1", a, "test".into(), verification, trail);
    let mut out = String::new();
    report::markdown(&r, 0, &mut out);
    for line in [
        "| perimeter/cf | notification policy 'ddos' | #alerts (C0ALERTS) | ✅ live |",
        "| perimeter/cf | notification policy 'waf \\| edge' | #old (C0OLD) | 🔕 archived |",
        "| perimeter/cf | cloudflare | ✅ Verified | ✅ Verified | 🔕 Unreachable |",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
}

/// A provider with no firewall (Slack, Better Stack) is not applicable to BoundaryFirewall:
/// shown with the reason, never a gap; with only such providers in scope, nothing operates a
/// boundary, which is a gap.
#[test]
fn a_provider_without_a_firewall_is_not_applicable_to_the_boundary() {
    let snap = Snapshot {
        providers: vec![
            provider("perimeter", "cf", ProviderType::Cloudflare, Some(true)),
            provider("perimeter", "slack", ProviderType::Slack, Some(true)),
        ],
        policies: facts(vec![
            fw("cf", InSync::True),
            mon("cf", InSync::True, 1),
            mon("slack", InSync::True, 0),
        ]),
        own_routes: vec![],
    };
    let a = evaluate(&spec(valid()), &snap, None, now());
    let row = a.coverage.iter().find(|r| r.provider == "perimeter/slack");
    assert_eq!(row.map(|r| r.firewall), Some(Cell::NotApplicable));
    assert!(a.gaps.is_empty(), "{:?}", a.gaps);
    let boundary = a
        .requirement(Requirement::BoundaryFirewall)
        .expect("boundary");
    assert_eq!(boundary.state, RequirementState::Verified);
    assert!(
        boundary
            .message
            .ends_with("not applicable to 1 (no firewall)"),
        "{}",
        boundary.message
    );
    assert!(
        boundary.subjects.iter().any(|s| s
            .starts_with("slack perimeter/slack (NotApplicable: Slack is an alert destination")),
        "{:?}",
        boundary.subjects
    );

    let only_slack = Snapshot {
        providers: vec![provider(
            "perimeter",
            "slack",
            ProviderType::Slack,
            Some(true),
        )],
        policies: facts(vec![mon("slack", InSync::True, 0)]),
        own_routes: vec![],
    };
    let a = evaluate(&spec(valid()), &only_slack, None, now());
    let gap = a
        .gaps
        .iter()
        .find(|g| g.requirement == Requirement::BoundaryFirewall)
        .expect("nothing operates a boundary");
    assert!(
        gap.action
            .starts_with("No provider in scope has a firewall"),
        "{}",
        gap.action
    );
}

/// Perimeter's own alerts (the chart's Alertmanager Slack receiver) are verified like a
/// provider's route: live, the requirement says so; archived, unchecked or stale, the
/// requirement is a gap naming the channel; not declared, nothing changes.
#[test]
fn perimeter_s_own_alert_route_is_verified_like_a_provider_s() {
    // Built directly: the test channels' workspace `T1` is shorter than a real id.
    let own = |channel: &str| {
        let (team, channel) = match channel.split_once('/') {
            Some((t, c)) => (Some(t.to_string()), c),
            None => (None, channel),
        };
        vec![AlertRoute::perimeter_alerts(SlackChannelRef {
            team,
            channel: channel.into(),
        })]
    };
    let snap = |own_routes: Vec<AlertRoute>, mutate: &dyn Fn(&mut Vec<PolicyFacts>)| {
        let mut policies = facts(vec![fw("cf", InSync::True), mon("cf", InSync::True, 1)]);
        policies[1]
            .channels
            .push(channel("C0OLD", "old-alerts", false, Some("archived")));
        mutate(&mut policies);
        Snapshot {
            providers: vec![provider(
                "perimeter",
                "cf",
                ProviderType::Cloudflare,
                Some(true),
            )],
            policies,
            own_routes,
        }
    };
    let keep = |_: &mut Vec<PolicyFacts>| {};
    let stale = |p: &mut Vec<PolicyFacts>| p[1].stale = true;
    // (case, own routes, policies, requirement state, own route state, gap subject)
    type Mutate<'a> = &'a dyn Fn(&mut Vec<PolicyFacts>);
    #[allow(clippy::type_complexity)]
    let cases: Vec<(
        &str,
        Vec<AlertRoute>,
        Mutate<'_>,
        RequirementState,
        Option<ReachState>,
        Option<&str>,
    )> = vec![
        (
            "not declared",
            vec![],
            &keep,
            RequirementState::Verified,
            None,
            None,
        ),
        (
            "live by id",
            own("C0ALERTS"),
            &keep,
            RequirementState::Verified,
            Some(ReachState::Live),
            None,
        ),
        (
            "live by #name in its workspace",
            own("T1/#alerts"),
            &keep,
            RequirementState::Verified,
            Some(ReachState::Live),
            None,
        ),
        (
            "another workspace's #alerts",
            own("T2/#alerts"),
            &keep,
            RequirementState::Gap,
            Some(ReachState::Dead),
            Some("Perimeter's alerts: Slack #alerts"),
        ),
        (
            "archived",
            own("#old-alerts"),
            &keep,
            RequirementState::Gap,
            Some(ReachState::Dead),
            Some("Perimeter's alerts: Slack #old-alerts (C0OLD)"),
        ),
        (
            "no slack: policy checks it",
            own("C0NOBODY"),
            &keep,
            RequirementState::Gap,
            Some(ReachState::Dead),
            Some("Perimeter's alerts: Slack C0NOBODY"),
        ),
        // The channel's check is stale: it vouches for nothing (and the provider's own
        // alerting turns unknown with it).
        (
            "stale check",
            own("C0ALERTS"),
            &stale,
            RequirementState::Gap,
            Some(ReachState::Dead),
            Some("Perimeter's alerts: Slack C0ALERTS"),
        ),
    ];
    for (case, own_routes, mutate, state, reach, gap) in cases {
        let a = evaluate(&spec(valid()), &snap(own_routes, mutate), None, now());
        let r = a
            .requirement(Requirement::AlertRouting)
            .expect("alert routing");
        assert_eq!(r.state, state, "{case}: {r:?}");
        assert_eq!(a.own_routes.first().map(|x| x.state), reach, "{case}");
        let own_gaps: Vec<&Gap> = a
            .gaps
            .iter()
            .filter(|g| g.subject.starts_with("Perimeter's alerts"))
            .collect();
        assert_eq!(
            own_gaps.first().map(|g| g.subject.as_str()),
            gap,
            "{case}: {own_gaps:?}"
        );
        if reach == Some(ReachState::Live) {
            assert!(
                r.message
                    .contains("Perimeter's own alerts reach #alerts (C0ALERTS) (live)"),
                "{case}: {}",
                r.message
            );
        }
        if let Some(g) = own_gaps.first() {
            assert!(
                g.action.contains("alertmanager.slack.channel"),
                "{case}: {}",
                g.action
            );
        }
    }
}

// A registry where Modal's three parts and Trigger.dev's firewall and alerting are attested
// only (the words are the test's, not the providers').
static MODAL: Info = Info {
    firewall: Boundary::AttestedOnly("block_network or CIDR allowlists per sandbox"),
    monitoring: Monitoring::AttestedOnly("Datadog or OpenTelemetry export"),
    alerting: Alerting::AttestedOnly("alerts through the Datadog integration"),
    firewall_api: "none",
    monitoring_api: "none",
    finding_codes: &[],
};
static TRIGGER: Info = Info {
    firewall: Boundary::AttestedOnly("no API for network controls"),
    monitoring: Monitoring::Reads("failed runs, unresolved error groups"),
    alerting: Alerting::AttestedOnly("alert channels are dashboard-only"),
    firewall_api: "none",
    monitoring_api: "runs, errors",
    finding_codes: &[],
};

fn lookup(t: ProviderType) -> Option<&'static Info> {
    match t {
        ProviderType::Modal => Some(&MODAL),
        ProviderType::Triggerdev => Some(&TRIGGER),
        _ => registry::info(t),
    }
}

fn attest(req: AttestableRequirement, ns: &str, name: &str, expires: &str) -> Attestation {
    Attestation {
        requirement: req,
        provider: Some(crate::api::compliance::AttestedProvider {
            namespace: Some(ns.into()),
            name: name.into(),
        }),
        ..attestation(expires)
    }
}

fn attested_snapshot(cf_in_sync: InSync, trig_in_sync: InSync) -> Snapshot {
    Snapshot {
        providers: vec![
            provider("perimeter", "cf", ProviderType::Cloudflare, Some(true)),
            provider("perimeter", "modal", ProviderType::Modal, Some(true)),
            provider("perimeter", "trig", ProviderType::Triggerdev, Some(true)),
        ],
        policies: facts(vec![
            fw("cf", cf_in_sync),
            mon("cf", InSync::True, 1),
            mon("trig", trig_in_sync, 0),
        ]),
        own_routes: vec![],
    }
}

/// Every attestation the attested-only parts need, unexpired.
fn all_attested() -> Vec<Attestation> {
    use AttestableRequirement::*;
    let later = "2027-03-01T00:00:00Z";
    let mut out = valid();
    for req in [ProviderFirewall, ProviderMonitoring, ProviderAlerting] {
        out.push(attest(req, "perimeter", "modal", later));
    }
    for req in [ProviderFirewall, ProviderAlerting] {
        out.push(attest(req, "perimeter", "trig", later));
    }
    out
}

fn without(mut list: Vec<Attestation>, req: AttestableRequirement, name: &str) -> Vec<Attestation> {
    list.retain(|a| !(a.requirement == req && a.provider.as_ref().is_some_and(|p| p.name == name)));
    list
}

#[test]
fn attested_provider_parts_table() {
    use AttestableRequirement::*;
    use Cell::*;
    use RequirementState as R;
    let expired = "2026-11-01T00:00:00Z";
    type Case = (
        &'static str,
        Snapshot,
        Vec<Attestation>,
        // modal firewall, monitoring, alerting; trig firewall, monitoring, alerting; cf firewall
        [Cell; 7],
        [RequirementState; 3],
        // a gap action (or requirement message, for ignored ones) that must appear
        &'static [&'static str],
    );
    let cases: Vec<Case> = vec![
        (
            "attested: satisfied, never verified",
            attested_snapshot(InSync::True, InSync::True),
            all_attested(),
            [
                Attested, Attested, Attested, Attested, Verified, Attested, Verified,
            ],
            [R::Attested, R::Attested, R::Attested],
            &[],
        ),
        (
            "expired: a gap that says it expired and what no API can read",
            attested_snapshot(InSync::True, InSync::True),
            {
                let mut l = without(all_attested(), ProviderFirewall, "modal");
                l.push(attest(ProviderFirewall, "perimeter", "modal", expired));
                l
            },
            [
                Missing, Attested, Attested, Attested, Verified, Attested, Verified,
            ],
            [R::Gap, R::Attested, R::Attested],
            &[
                "The ProviderFirewall attestation by ciso@example.com expired on 2026-11-01T00:00:00Z; \
                 modal's network controls cannot be read by any API (block_network or CIDR \
                 allowlists per sandbox): renew it with fresh evidence",
            ],
        ),
        (
            "missing: says what to attest",
            attested_snapshot(InSync::True, InSync::True),
            without(all_attested(), ProviderAlerting, "trig"),
            [
                Attested, Attested, Attested, Attested, Verified, Missing, Verified,
            ],
            [R::Attested, R::Attested, R::Gap],
            &[
                "triggerdev's alert channels cannot be read by any API (alert channels are \
               dashboard-only): attest them with a ProviderAlerting attestation naming provider \
               perimeter/trig",
            ],
        ),
        (
            "wrong provider: counts for nothing, and says so",
            attested_snapshot(InSync::True, InSync::True),
            {
                let mut l = without(all_attested(), ProviderMonitoring, "modal");
                l.push(attest(
                    ProviderMonitoring,
                    "other",
                    "modal",
                    "2027-03-01T00:00:00Z",
                ));
                l
            },
            [
                Attested, Missing, Attested, Attested, Verified, Attested, Verified,
            ],
            [R::Attested, R::Gap, R::Attested],
            &[
                "modal's network monitoring cannot be read by any API",
                "ignored 1 attestation(s): ProviderMonitoring for other/modal by ciso@example.com: it \
                 names no CloudProvider in scope",
            ],
        ),
        (
            "a part an API verifies: the attestation never hides its drift",
            attested_snapshot(InSync::False, InSync::False),
            {
                let mut l = all_attested();
                l.push(attest(
                    ProviderFirewall,
                    "perimeter",
                    "cf",
                    "2027-03-01T00:00:00Z",
                ));
                l.push(attest(
                    ProviderMonitoring,
                    "perimeter",
                    "trig",
                    "2027-03-01T00:00:00Z",
                ));
                l
            },
            [
                Attested, Attested, Attested, Attested, Drifted, Attested, Drifted,
            ],
            [R::Gap, R::Gap, R::Attested],
            &[
                "ignored 1 attestation(s): ProviderFirewall for perimeter/cf by ciso@example.com: \
                 cloudflare perimeter/cf's firewall is read through its API",
                "ignored 1 attestation(s): ProviderMonitoring for perimeter/trig by \
                 ciso@example.com: triggerdev perimeter/trig's monitoring is read through its API",
                "field(s) drifted from the declaration",
            ],
        ),
    ];
    for (name, snap, attestations, cells, states, texts) in cases {
        let a = evaluate_with(&spec(attestations), &snap, None, now(), lookup);
        let row = |id: &str| {
            a.coverage
                .iter()
                .find(|r| r.provider == id)
                .unwrap_or_else(|| panic!("{name}: no row {id}"))
        };
        let (m, t, c) = (
            row("perimeter/modal"),
            row("perimeter/trig"),
            row("perimeter/cf"),
        );
        let got = [
            m.firewall,
            m.monitoring,
            m.alerting,
            t.firewall,
            t.monitoring,
            t.alerting,
            c.firewall,
        ];
        assert_eq!(got, cells, "{name}");
        let got: Vec<RequirementState> = [
            Requirement::BoundaryFirewall,
            Requirement::NetworkMonitoring,
            Requirement::AlertRouting,
        ]
        .iter()
        .map(|r| a.requirement(*r).map_or(R::Unknown, |x| x.state))
        .collect();
        assert_eq!(got, states, "{name}");
        let words: Vec<String> = a
            .gaps
            .iter()
            .map(|g| g.action.clone())
            .chain(a.requirements.iter().map(|r| r.message.clone()))
            .collect();
        for text in texts {
            assert!(
                words.iter().any(|w| w.contains(text)),
                "{name}: {text:?} not in {words:#?}"
            );
        }
        // Attested is satisfied but never verified, wherever the result is shown.
        assert!(
            a.requirements
                .iter()
                .all(|r| r.state != R::Verified || r.requirement == Requirement::EndpointFirewall),
            "{name}: {:?}",
            a.requirements
        );
        assert_eq!(
            a.satisfied,
            a.requirements
                .iter()
                .filter(|r| r.state.satisfied())
                .count()
        );
        if texts.is_empty() {
            assert!(a.gaps.is_empty(), "{name}: {:?}", a.gaps);
            assert_eq!(a.state, ImplementationState::Implemented, "{name}");
        }
    }
}

#[test]
fn an_attested_row_says_what_is_verified_and_what_is_attested() {
    let a = evaluate_with(
        &spec(all_attested()),
        &attested_snapshot(InSync::True, InSync::True),
        None,
        now(),
        lookup,
    );
    let summaries: Vec<(String, String)> = a
        .coverage
        .iter()
        .map(|c| (c.provider.clone(), summary(c)))
        .collect();
    assert_eq!(
        summaries,
        [
            (
                "perimeter/cf".into(),
                "verified: firewall, monitoring, alerting".into()
            ),
            (
                "perimeter/modal".into(),
                "attested: firewall, monitoring, alerting".into()
            ),
            (
                "perimeter/trig".into(),
                "verified: monitoring; attested: firewall, alerting".into()
            ),
        ]
    );
    let firewall = a
        .requirement(Requirement::BoundaryFirewall)
        .expect("boundary");
    assert_eq!(
        firewall.message,
        "1 of 3 providers verified, 2 attested (no API can show it), 0 with gaps, 0 unknown"
    );
}

#[test]
fn attestation_evidence_says_valid_expired_or_ignored() {
    use AttestableRequirement::*;
    let snap = attested_snapshot(InSync::True, InSync::True);
    let mut list = vec![
        attest(ProviderFirewall, "perimeter", "cf", "2027-03-01T00:00:00Z"),
        attest(
            ProviderAlerting,
            "perimeter",
            "trig",
            "2026-11-01T00:00:00Z",
        ),
        attest(
            ProviderAlerting,
            "elsewhere",
            "trig",
            "2027-03-01T00:00:00Z",
        ),
    ];
    list.extend(valid());
    let a = evaluate(&spec(list.clone()), &snap, None, now());
    let got: Vec<(String, String)> =
        observations(&a, &snap.providers, &snap.policies, &list, now())
            .into_iter()
            .filter(|o| o.api == "attestation")
            .map(|o| (o.subject, o.result))
            .collect();
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(
        got[0]
            .1
            .starts_with("Ignored (cloudflare perimeter/cf's firewall is read through its API"),
        "{got:?}"
    );
    // The real registry: Trigger.dev's alerting is attested only, so its expired attestation
    // is recorded as expired.
    assert_eq!(
        got[1],
        ("Attestation ProviderAlerting".into(), "Expired".into())
    );
    assert_eq!(got[2].1, "Ignored (it names no CloudProvider in scope)");
    assert_eq!(
        got[3],
        ("Attestation EndpointFirewall".into(), "Valid".into())
    );
}

/// The boundary firewall with an account's inventory: uncovered assets make a verified
/// firewall a gap naming a few of them; an inventory that could not be read makes it unknown
/// (never verified); no inventory changes nothing. A drifted firewall stays drifted, with the
/// coverage gap beside its own.
#[test]
fn inventory_decides_whether_a_verified_firewall_covers_every_asset() {
    use crate::api::{AssetKindCount, InventoryStatus};
    use crate::core::inventory::{Asset, ListedAsset};
    let zones = |total: u32, covered: u32| InventoryStatus {
        total: Some(total),
        covered: Some(covered),
        kinds: vec![AssetKindCount {
            kind: "zone".into(),
            total,
            covered,
        }],
        uncovered: (covered..total)
            .map(|i| {
                ListedAsset::from(&Asset::new("zone", format!("z{i}"), format!("{i}.example")))
            })
            .collect(),
        ..InventoryStatus::default()
    };
    let unread = InventoryStatus {
        reason: Some("Throttled".into()),
        message: Some("HTTP 429".into()),
        ..InventoryStatus::default()
    };
    /// Inventory, the firewall policy's sync, the cell, the firewall gaps (state, words).
    type Case = (
        Option<InventoryStatus>,
        InSync,
        Cell,
        Vec<(RequirementState, &'static str)>,
    );
    let cases: Vec<Case> = vec![
        (None, InSync::True, Cell::Verified, vec![]),
        (Some(zones(2, 2)), InSync::True, Cell::Verified, vec![]),
        (
            Some(zones(3, 1)),
            InSync::True,
            Cell::Uncovered,
            vec![(
                RequirementState::Gap,
                "2 zones have no FirewallPolicy: zone 1.example (z1), zone 2.example (z2): declare",
            )],
        ),
        (
            Some(zones(6, 1)),
            InSync::True,
            Cell::Uncovered,
            vec![(
                RequirementState::Gap,
                "zone 3.example (z3) and 2 more: declare",
            )],
        ),
        (
            Some(unread.clone()),
            InSync::True,
            Cell::Unknown,
            vec![(RequirementState::Unknown, "could not be listed (Throttled)")],
        ),
        (
            Some(zones(3, 1)),
            InSync::False,
            Cell::Drifted,
            vec![
                (RequirementState::Gap, "field(s) drifted"),
                (RequirementState::Gap, "2 zones have no FirewallPolicy"),
            ],
        ),
        (
            Some(unread),
            InSync::False,
            Cell::Drifted,
            vec![
                (RequirementState::Gap, "field(s) drifted"),
                (RequirementState::Unknown, "could not be listed"),
            ],
        ),
    ];
    for (inventory, in_sync, want_cell, want_gaps) in cases {
        let mut p = provider("perimeter", "cf", ProviderType::Cloudflare, Some(true));
        p.inventory = inventory.clone();
        let snap = Snapshot {
            providers: vec![p],
            policies: facts(vec![fw("cf", in_sync), mon("cf", InSync::True, 1)]),
            own_routes: vec![],
        };
        let a = evaluate(&spec(vec![]), &snap, None, now());
        let case = format!("{inventory:?} {in_sync:?}");
        assert_eq!(a.coverage[0].firewall, want_cell, "{case}");
        let gaps: Vec<&Gap> = a
            .gaps
            .iter()
            .filter(|g| g.requirement == Requirement::BoundaryFirewall)
            .collect();
        assert_eq!(gaps.len(), want_gaps.len(), "{case}: {gaps:?}");
        for (g, (state, words)) in gaps.iter().zip(&want_gaps) {
            assert_eq!(g.state, *state, "{case}: {g:?}");
            assert!(g.action.contains(words), "{case}: {g:?}");
        }
        let firewall = a
            .requirement(Requirement::BoundaryFirewall)
            .expect("firewall");
        match want_cell {
            Cell::Verified => assert_eq!(firewall.state, RequirementState::Verified, "{case}"),
            Cell::Unknown => assert_eq!(firewall.state, RequirementState::Unknown, "{case}"),
            _ => assert_eq!(firewall.state, RequirementState::Gap, "{case}"),
        }
        // The report's row keeps the counts and at most a few names, never the error text.
        if let Some(row) = &a.coverage[0].assets {
            assert!(row.uncovered.len() <= REPORTED_ASSETS, "{case}");
            assert!(row.message.is_none(), "{case}");
        }
    }
}

fn failing(host: &str, platform: &str, excepted_until: Option<&str>) -> endpoints::FailingHost {
    endpoints::FailingHost {
        host: host.into(),
        platform: platform.into(),
        last_seen: "2026-11-28T11:00:00Z".into(),
        excepted_until: excepted_until.map(str::to_string),
    }
}

/// EndpointFirewall from a Fleet FirewallPolicy: verified from what was read (excepted hosts
/// allowed and listed), a gap naming the hosts that fail without an exception, unknown when
/// the server was not read (a valid attestation never stands in for it), and the attestation
/// as the fallback only where no endpoint policy is in scope.
#[test]
fn endpoint_firewall_table() {
    use RequirementState::*;
    let hosts = |passing, total, failing| endpoints::EndpointHosts {
        passing,
        total,
        failing,
        min_passing_percent: None,
    };
    let tolerant = |passing, total, failing| endpoints::EndpointHosts {
        min_passing_percent: Some(99),
        ..hosts(passing, total, failing)
    };
    let kiosk = || failing("kiosk-lobby", "darwin", Some("2030-03-31T00:00:00Z"));
    struct Case {
        name: &'static str,
        ready: Option<bool>,
        fleet: Option<(InSync, endpoints::EndpointHosts)>,
        attestations: Vec<Attestation>,
        want: RequirementState,
        /// In the requirement's message (the ratio, what was ignored).
        message: &'static [&'static str],
        /// In a gap of the requirement, when it has one.
        gap: Option<&'static str>,
        /// The provider row: state, failing, excepted, hosts listed.
        row: Option<(Cell, u64, u64, &'static [&'static str])>,
    }
    let cases = vec![
        Case {
            name: "read, every failing host excepted: verified, the attestation not used",
            ready: Some(true),
            fleet: Some((InSync::True, hosts(249, 250, vec![kiosk()]))),
            attestations: valid(),
            want: Verified,
            message: &[
                "249/250 hosts passing",
                "0 failing without an exception, 1 excepted",
                "attestation is not used",
            ],
            gap: None,
            row: Some((Cell::Verified, 0, 1, &["kiosk-lobby"])),
        },
        Case {
            name: "a host failing without an exception: a gap naming it",
            ready: Some(true),
            fleet: Some((
                InSync::False,
                hosts(
                    248,
                    250,
                    vec![failing("fin-laptop-07", "windows", None), kiosk()],
                ),
            )),
            attestations: valid(),
            want: Gap,
            message: &["248/250 hosts passing", "1 failing without an exception"],
            gap: Some(
                "1 host(s) fail the host-firewall check without an exception: fin-laptop-07 (windows)",
            ),
            row: Some((Cell::Drifted, 1, 1, &["fin-laptop-07", "kiosk-lobby"])),
        },
        Case {
            name: "a host failing within the declared minPassingPercent: verified, still listed",
            ready: Some(true),
            fleet: Some((
                InSync::False,
                tolerant(
                    248,
                    250,
                    vec![failing("fin-laptop-07", "windows", None), kiosk()],
                ),
            )),
            attestations: valid(),
            want: Verified,
            message: &[
                "248/250 hosts passing",
                "1 failing without an exception, 1 excepted",
                "within the minPassingPercent",
            ],
            gap: None,
            row: Some((Cell::Verified, 1, 1, &["fin-laptop-07", "kiosk-lobby"])),
        },
        Case {
            name: "more hosts failing than minPassingPercent allows: a gap",
            ready: Some(true),
            fleet: Some((
                InSync::False,
                tolerant(
                    240,
                    250,
                    vec![failing("fin-laptop-07", "windows", None), kiosk()],
                ),
            )),
            attestations: valid(),
            want: Gap,
            message: &["240/250 hosts passing"],
            gap: Some("fail the host-firewall check without an exception"),
            row: Some((Cell::Drifted, 9, 1, &["fin-laptop-07", "kiosk-lobby"])),
        },
        Case {
            name: "within minPassingPercent, but the check edited too: never tolerated",
            ready: Some(true),
            fleet: Some((
                InSync::False,
                tolerant(
                    248,
                    250,
                    vec![failing("fin-laptop-07", "windows", None), kiosk()],
                ),
            )),
            attestations: valid(),
            want: Gap,
            message: &["248/250 hosts passing"],
            gap: Some("fail the host-firewall check without an exception"),
            row: Some((Cell::Drifted, 1, 1, &["fin-laptop-07", "kiosk-lobby"])),
        },
        Case {
            name: "no failing host, but the check is missing or edited (no counts): a gap",
            ready: Some(true),
            fleet: Some((InSync::False, hosts(0, 0, vec![]))),
            attestations: valid(),
            want: Gap,
            message: &["0/0 hosts passing"],
            gap: Some("The check Perimeter keeps in the endpoint server drifted"),
            row: Some((Cell::Drifted, 0, 0, &[])),
        },
        Case {
            name: "the policy's read failed: unknown, never the attestation",
            ready: Some(true),
            fleet: Some((InSync::Unknown, hosts(250, 250, vec![]))),
            attestations: valid(),
            want: Unknown,
            message: &["0/0 hosts passing", "on 0 of 1 endpoint server(s) read"],
            gap: Some("could not be read"),
            row: Some((Cell::Unknown, 0, 0, &[])),
        },
        Case {
            name: "the Fleet account is not Ready: unknown",
            ready: Some(false),
            fleet: Some((InSync::True, hosts(250, 250, vec![]))),
            attestations: valid(),
            want: Unknown,
            message: &["on 0 of 1 endpoint server(s) read"],
            gap: Some("never counted as compliant"),
            row: Some((Cell::Unknown, 0, 0, &[])),
        },
        Case {
            name: "in sync, but no host answered: nothing verified, a gap",
            ready: Some(true),
            fleet: Some((InSync::True, hosts(0, 0, vec![]))),
            attestations: valid(),
            want: Gap,
            message: &["0/0 hosts passing"],
            gap: Some("No host answered"),
            row: Some((Cell::Missing, 0, 0, &[])),
        },
        Case {
            name: "no endpoint policy: the attestation is the fallback",
            ready: Some(true),
            fleet: None,
            attestations: valid(),
            want: Attested,
            message: &["attested by ciso@example.com"],
            gap: None,
            row: None,
        },
        Case {
            name: "no endpoint policy, no attestation: a gap",
            ready: Some(true),
            fleet: None,
            attestations: vec![],
            want: Gap,
            message: &["no attestation"],
            gap: Some("Add an EndpointFirewall attestation"),
            row: None,
        },
    ];
    for c in cases {
        let mut providers = two_providers();
        providers.push(provider("perimeter", "fleet", ProviderType::Fleet, c.ready));
        let mut policies = facts(healthy());
        if let Some((in_sync, h)) = c.fleet {
            let mut f = facts(vec![fw("fleet", in_sync)]).remove(0);
            if in_sync == InSync::False {
                // One drift entry per host failing without an exception, one more for an
                // edited check.
                f.drift_count =
                    h.failing_unexcepted() as u32 + u32::from(c.name.contains("edited"));
            }
            f.endpoints = Some(h);
            policies.push(f);
        }
        let snap = Snapshot {
            providers,
            policies,
            own_routes: vec![],
        };
        let a = evaluate(&spec(c.attestations.clone()), &snap, None, now());
        let r = a
            .requirement(Requirement::EndpointFirewall)
            .expect("endpoint requirement");
        // The evidence says what the attestation counted for: nothing beside a Fleet reading.
        let used: Vec<String> =
            observations(&a, &snap.providers, &snap.policies, &c.attestations, now())
                .into_iter()
                .filter(|o| o.subject == "Attestation EndpointFirewall")
                .map(|o| o.result)
                .collect();
        for u in &used {
            assert_eq!(u.starts_with("Ignored"), c.row.is_some(), "{}: {u}", c.name);
        }
        assert_eq!(r.state, c.want, "{}: {r:?}", c.name);
        for m in c.message {
            assert!(
                r.message.contains(m),
                "{}: {:?} lacks {m:?}",
                c.name,
                r.message
            );
        }
        let gaps: Vec<&super::Gap> = a
            .gaps
            .iter()
            .filter(|g| g.requirement == Requirement::EndpointFirewall)
            .collect();
        match c.gap {
            Some(want) => assert!(
                gaps.iter().any(|g| g.action.contains(want)),
                "{}: {gaps:?}",
                c.name
            ),
            None => assert!(gaps.is_empty(), "{}: {gaps:?}", c.name),
        }
        match c.row {
            None => assert!(a.endpoints.is_empty(), "{}", c.name),
            Some((state, failing, excepted, listed)) => {
                assert_eq!(a.endpoints.len(), 1, "{}", c.name);
                let row = &a.endpoints[0];
                assert_eq!(
                    (row.state, row.failing, row.excepted),
                    (state, failing, excepted),
                    "{}",
                    c.name
                );
                let names: Vec<&str> = row.hosts.iter().map(|h| h.host.as_str()).collect();
                assert_eq!(names, listed, "{}", c.name);
            }
        }
        // The Fleet account's boundary firewall is not applicable: its failing hosts are
        // counted once, under EndpointFirewall.
        let fleet_row = a
            .coverage
            .iter()
            .find(|x| x.provider_type == ProviderType::Fleet)
            .expect("fleet row");
        assert_eq!(fleet_row.firewall, Cell::NotApplicable, "{}", c.name);
    }
}

/// The report shows each endpoint server's ratio and a "Failing hosts" list, excepted or not.
#[test]
fn the_report_lists_failing_hosts() {
    let mut providers = two_providers();
    providers.push(provider(
        "perimeter",
        "fleet",
        ProviderType::Fleet,
        Some(true),
    ));
    let mut policies = facts(healthy());
    let mut f = facts(vec![fw("fleet", InSync::False)]).remove(0);
    f.endpoints = Some(endpoints::EndpointHosts {
        passing: 248,
        total: 250,
        failing: vec![
            failing("kiosk-lobby", "darwin", Some("2030-03-31T00:00:00Z")),
            failing("fin|laptop", "windows", None),
        ],
        min_passing_percent: None,
    });
    policies.push(f);
    let snap = Snapshot {
        providers,
        policies,
        own_routes: vec![],
    };
    let a = evaluate(&spec(valid()), &snap, None, now());
    let report = report::ControlReport::new(
        "de-cm-1",
        a,
        "memory".into(),
        Trail::default().verify(Duration::from_secs(3600), None),
        Trail::default(),
    );
    let mut out = String::new();
    report::markdown(&report, 3, &mut out);
    for line in [
        "| perimeter/fleet | fleet | ⚠️ Drifted | 248/250 | 1 | 1 |",
        "| perimeter/fleet | fin\\|laptop | windows | 2026-11-28T11:00:00Z | no |",
        "| perimeter/fleet | kiosk-lobby | darwin | 2026-11-28T11:00:00Z | until 2030-03-31T00:00:00Z |",
    ] {
        assert!(out.contains(line), "missing {line:?}\n{out}");
    }
    let failing_at = out.find("### Failing hosts").expect("failing hosts");
    assert!(out[failing_at..].find("fin\\|laptop") < out[failing_at..].find("kiosk-lobby"));
}

/// The endpoint server's hosts are its inventory: a host no endpoint policy checks is a gap
/// naming it even while every checked host passes, and hosts that could not be listed make
/// EndpointFirewall unknown, never verified. The boundary firewall is not judged by them.
#[test]
fn hosts_no_endpoint_policy_checks_are_a_gap_and_unlisted_hosts_unknown() {
    use crate::api::{AssetKindCount, InventoryStatus};
    use crate::core::inventory::{Asset, ListedAsset};
    let hosts = |total: u32, covered: u32| InventoryStatus {
        total: Some(total),
        covered: Some(covered),
        kinds: vec![AssetKindCount {
            kind: "linuxHost".into(),
            total,
            covered,
        }],
        uncovered: (covered..total)
            .map(|i| ListedAsset::from(&Asset::new("linuxHost", i.to_string(), format!("srv-{i}"))))
            .collect(),
        ..InventoryStatus::default()
    };
    let unread = InventoryStatus {
        reason: Some("Throttled".into()),
        message: Some("HTTP 429".into()),
        ..InventoryStatus::default()
    };
    let cases: Vec<(
        Option<InventoryStatus>,
        RequirementState,
        Cell,
        Option<&str>,
    )> = vec![
        (None, RequirementState::Verified, Cell::Verified, None),
        (
            Some(hosts(250, 250)),
            RequirementState::Verified,
            Cell::Verified,
            None,
        ),
        (
            Some(hosts(250, 247)),
            RequirementState::Gap,
            Cell::Uncovered,
            Some(
                "3 host(s) are checked by no endpoint policy: linuxHost srv-247 (247), linuxHost srv-248 (248), linuxHost srv-249 (249): add their platform or team",
            ),
        ),
        (
            Some(unread),
            RequirementState::Unknown,
            Cell::Unknown,
            Some("hosts could not be listed (Throttled)"),
        ),
    ];
    for (inventory, want, want_cell, want_gap) in cases {
        let case = format!("{inventory:?}");
        let mut providers = two_providers();
        let mut fleet = provider("perimeter", "fleet", ProviderType::Fleet, Some(true));
        fleet.inventory = inventory;
        providers.push(fleet);
        let mut policies = facts(healthy());
        let mut f = facts(vec![fw("fleet", InSync::True)]).remove(0);
        f.endpoints = Some(endpoints::EndpointHosts {
            passing: 250,
            total: 250,
            failing: vec![],
            min_passing_percent: None,
        });
        policies.push(f);
        let snap = Snapshot {
            providers,
            policies,
            own_routes: vec![],
        };
        let a = evaluate(&spec(vec![]), &snap, None, now());
        let r = a
            .requirement(Requirement::EndpointFirewall)
            .expect("endpoint requirement");
        assert_eq!(r.state, want, "{case}: {r:?}");
        assert_eq!(a.endpoints[0].state, want_cell, "{case}");
        let gaps: Vec<&str> = a
            .gaps
            .iter()
            .filter(|g| g.requirement == Requirement::EndpointFirewall)
            .map(|g| g.action.as_str())
            .collect();
        match want_gap {
            None => assert!(gaps.is_empty(), "{case}: {gaps:?}"),
            Some(words) => {
                assert_eq!(gaps.len(), 1, "{case}: {gaps:?}");
                assert!(gaps[0].contains(words), "{case}: {gaps:?}");
            }
        }
        assert!(
            a.gaps
                .iter()
                .all(|g| g.requirement != Requirement::BoundaryFirewall
                    || !g.subject.contains("fleet")),
            "{case}: {:?}",
            a.gaps
        );
    }
}

/// A monitoring account's inventory is the public hostnames it should check: uncovered ones
/// make its verified network monitoring a gap ("N public hostnames have no Better Stack
/// monitor"), an unknown one makes it unknown, and neither touches the boundary firewall.
#[test]
fn hostnames_decide_whether_verified_monitoring_checks_every_public_hostname() {
    use crate::api::{AssetKindCount, InventoryStatus};
    use crate::core::inventory::{Asset, ListedAsset};
    let hosts = |total: u32, covered: u32| InventoryStatus {
        total: Some(total),
        covered: Some(covered),
        kinds: vec![AssetKindCount {
            kind: "hostname".into(),
            total,
            covered,
        }],
        uncovered: (covered..total)
            .map(|i| {
                let h = format!("h{i}.example.com");
                ListedAsset::from(&Asset::new(
                    "hostname",
                    h.clone(),
                    format!("{h} (vercel ns/web)"),
                ))
            })
            .collect(),
        ..InventoryStatus::default()
    };
    let pending = InventoryStatus {
        reason: Some(crate::inventory::PENDING.into()),
        message: Some("not read yet: vercel ns/web".into()),
        ..InventoryStatus::default()
    };
    /// Inventory, the monitoring cell, the network-monitoring gaps (state, words).
    type Case = (
        Option<InventoryStatus>,
        Cell,
        Vec<(RequirementState, &'static str)>,
    );
    let cases: Vec<Case> = vec![
        (None, Cell::Verified, vec![]),
        (Some(hosts(2, 2)), Cell::Verified, vec![]),
        (
            Some(hosts(3, 2)),
            Cell::Uncovered,
            vec![(
                RequirementState::Gap,
                "1 public hostname has no Better Stack monitor: hostname h2.example.com (vercel ns/web): declare an uptime monitor",
            )],
        ),
        (
            Some(pending),
            Cell::Unknown,
            vec![(RequirementState::Unknown, "(InventoryPending)")],
        ),
    ];
    for (inventory, want_cell, want_gaps) in cases {
        let mut p = provider("perimeter", "bs", ProviderType::Betterstack, Some(true));
        p.inventory = inventory.clone();
        let snap = Snapshot {
            providers: vec![p],
            policies: facts(vec![mon("bs", InSync::True, 1)]),
            own_routes: vec![],
        };
        let a = evaluate(&spec(vec![]), &snap, None, now());
        let case = format!("{inventory:?}");
        assert_eq!(a.coverage[0].monitoring, want_cell, "{case}");
        let gaps: Vec<&Gap> = a
            .gaps
            .iter()
            .filter(|g| g.requirement == Requirement::NetworkMonitoring)
            .collect();
        assert_eq!(gaps.len(), want_gaps.len(), "{case}: {gaps:?}");
        for (g, (state, words)) in gaps.iter().zip(&want_gaps) {
            assert_eq!(g.state, *state, "{case}: {g:?}");
            assert!(g.action.contains(words), "{case}: {g:?}");
        }
        assert!(
            !a.gaps
                .iter()
                .any(|g| g.requirement == Requirement::BoundaryFirewall
                    && g.action.contains("hostname")),
            "{case}: {:?}",
            a.gaps
        );
    }
}
