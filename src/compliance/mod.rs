//! Compliance rollup: one control (DE.CM-1 network monitoring) evaluated across every provider
//! in scope, from facts the controllers already know (CloudProvider readiness, policy sync
//! state) plus attestations for what no API can show. Pure: the caller gathers the facts
//! (from the cluster or from a local `check` run) and stores the evidence.
//!
//! The rules, written down once (also in the README):
//!
//! * **Requirements** — `BoundaryFirewall`: every provider in scope has a FirewallPolicy, and
//!   all of them are in sync. `NetworkMonitoring`: the same with MonitoringPolicies.
//!   `AlertRouting`: every provider in scope has a MonitoringPolicy that declares alert rules
//!   with a destination (Cloudflare notification policies, GCP alert policies with channels,
//!   AWS alarms with actions), in sync, and a route its API shows reaches a Slack channel a
//!   fresh Slack read found live ([`routing`]): otherwise `Unreachable` (a route to a channel
//!   nobody reads, named) or `Unverified` (no route to a channel Perimeter can check).
//!   `EndpointFirewall`: verified from the FirewallPolicies of an endpoint manager (Fleet)
//!   that checks every host's firewall (see [`endpoints`] for the rule); where none is in
//!   scope, only an unexpired attestation satisfies it, as `Attested`, never `Verified`.
//! * **Attested provider parts**: where a provider's registry entry says a part (firewall,
//!   monitoring, alerting) is `AttestedOnly` (no API can show it: Modal's network controls,
//!   Trigger.dev's alert channels), its cell is `Attested` while an unexpired `Provider*`
//!   attestation names that provider, else `Missing` with a gap saying what to attest. An
//!   attestation for a part an API can verify is ignored (and the requirement's message says
//!   so), so it can never hide drift.
//! * **Per provider and area** a cell is `Missing` (nothing declared), `Drifted` (a policy is
//!   out of sync), `Paused`, `Unknown` (the provider or a policy could not be read) or
//!   `Verified`. Missing, Drifted and Paused are gaps; Unknown is never counted as compliant.
//! * **A requirement** is `Gap` if any cell is a gap (or nothing is in scope), else `Unknown`
//!   if any cell is unknown, else `Attested` if any cell is attested, else `Verified`: a
//!   requirement is `Verified` only when an API verified every cell of it.
//! * **State**: `Implemented` when every requirement is Verified or Attested,
//!   `NotImplemented` when none is, `PartiallyImplemented` otherwise.
//! * **Maturity** ([`Maturity`]): 0 none, 1 partial, 2 implemented, 3 enforced as code (every
//!   policy in scope is in `Enforce` mode, so drift is corrected, not only reported), 4
//!   sustained (level 3, and the evidence trail shows the control implemented at every
//!   evaluation for at least 30 days, with no hole in the trail).

pub mod endpoints;
pub mod evidence;
pub mod report;
pub mod routing;
pub mod snapshot;
pub mod status;

use std::collections::BTreeMap;
use std::fmt;

use std::time::Duration;

use jiff::Timestamp;
use kube::ResourceExt;
use serde::{Deserialize, Serialize};

use evidence::{Retention, Trail};
use report::ControlReport;

use crate::api::common::Mode;
use crate::api::compliance::{
    AttestableRequirement, Attestation, ControlAssessment, ControlAssessmentSpec,
};
use crate::api::{ProviderKind, ProviderType};
use crate::providers::registry::{self, Alerting, Boundary, Info, Monitoring};

/// Where a provider's report words come from: the registry, or a table in tests.
type Lookup = fn(ProviderType) -> Option<&'static Info>;

/// How long the control must have held, per the evidence trail, for maturity level 4.
pub const SUSTAINED_DAYS: i64 = 30;
/// Gaps listed in status at most (all are counted and exported).
pub const MAX_STATUS_GAPS: usize = 50;

/// Where the control appears in each framework (the `framework`/`reference` metric labels).
pub const FRAMEWORKS: [Framework; 4] = [
    Framework {
        id: "cyfun",
        name: "CyFun 2023 (BASIC)",
        reference: "DE.CM-1",
    },
    Framework {
        id: "nist_csf",
        name: "NIST CSF 2.0 (1.1: DE.CM-1)",
        reference: "DE.CM-01",
    },
    Framework {
        id: "iso27001",
        name: "ISO/IEC 27001:2022 Annex A",
        reference: "A.8.16",
    },
    Framework {
        id: "cis_v8",
        name: "CIS Controls v8.1",
        reference: "13.6",
    },
];

#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framework {
    pub id: &'static str,
    pub name: &'static str,
    pub reference: &'static str,
}

/// A provider account as the assessment sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderFacts {
    /// Empty for a ClusterCloudProvider.
    pub namespace: String,
    pub name: String,
    pub provider_type: ProviderType,
    /// `Some(true)` when its Ready condition is True, `Some(false)` when False, else None.
    pub ready: Option<bool>,
    /// Ready's reason when not ready (a bounded category name, never secret).
    pub reason: Option<String>,
    /// Its boundary assets and their coverage (`status.inventory`); `None` for providers that
    /// do not list them.
    pub inventory: Option<crate::api::InventoryStatus>,
}

impl ProviderFacts {
    /// `namespace/name`, or `cluster/name` for a ClusterCloudProvider.
    pub fn id(&self) -> String {
        if self.namespace.is_empty() {
            format!("cluster/{}", self.name)
        } else {
            format!("{}/{}", self.namespace, self.name)
        }
    }

    /// Whether the policy uses this account.
    pub fn is_used_by(&self, policy: &PolicyFacts) -> bool {
        let kind = if self.namespace.is_empty() {
            ProviderKind::ClusterCloudProvider
        } else {
            ProviderKind::CloudProvider
        };
        policy.provider_kind == kind
            && policy.provider == self.name
            && (kind == ProviderKind::ClusterCloudProvider || policy.namespace == self.namespace)
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PolicyKind {
    FirewallPolicy,
    MonitoringPolicy,
}

/// The observed sync state of a policy: its `InSync` condition.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InSync {
    True,
    False,
    Unknown,
}

/// A policy as the assessment sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyFacts {
    pub kind: PolicyKind,
    pub namespace: String,
    pub name: String,
    /// Name of the provider account: a CloudProvider of the same namespace, or a
    /// ClusterCloudProvider.
    pub provider: String,
    pub provider_kind: ProviderKind,
    pub mode: Mode,
    pub paused: bool,
    pub in_sync: InSync,
    pub drift_count: u32,
    /// Alert rules with a destination it declares (MonitoringPolicy only).
    pub alert_routes: usize,
    /// When the provider was read for this verdict (RFC 3339), if known.
    pub observed_at: Option<String>,
    /// Not re-read for longer than its sync interval allows: the verdict is old news, so it
    /// counts as unknown.
    pub stale: bool,
    /// `sha256:<hex>` of the policy's observed status: what the evidence record points at.
    pub digest: String,
    /// The provider's words when the policy's drift is something Enforce cannot correct (a
    /// finding of [`NOT_ENFORCEABLE`](crate::core::model::NOT_ENFORCEABLE): the plan does
    /// not allow it, a service is unhealthy, only a person can change it).
    pub not_enforceable: Option<String>,
    /// The provider's revision of what was read (`status.observedRevision`), if it gives one.
    pub revision: Option<String>,
    /// Alert routes the provider showed at the last read (`status.alertRoutes`).
    pub routes: Vec<crate::core::routing::AlertRoute>,
    /// Slack channels checked at the last read (`status.alertChannels`).
    pub channels: Vec<crate::core::routing::ChannelCheck>,
    /// The hosts an endpoint FirewallPolicy (a `fleet:` block) checked at its last read;
    /// `None` for every other policy.
    pub endpoints: Option<endpoints::EndpointHosts>,
    /// Who changed the drifted fields, where the audit log said ([`changes_of`]).
    pub changes: Vec<String>,
}

/// How many attributed changes a policy's evidence names.
pub const CHANGES_LISTED: usize = 10;

/// The attributed drift entries as the evidence trail names them: `settings[ssl] changed by
/// dana@example.com via UI at 2026-11-29T06:00:00Z`, at most [`CHANGES_LISTED`].
pub fn changes_of(drift: &[crate::api::DriftEntry]) -> Vec<String> {
    drift
        .iter()
        .filter_map(|d| Some(format!("{} {}", d.field, d.changed()?)))
        .take(CHANGES_LISTED)
        .collect()
}

/// The message of a policy's first finding that names drift Enforce cannot correct, in the
/// order of [`NOT_ENFORCEABLE`](crate::core::model::NOT_ENFORCEABLE), if it has one.
pub fn not_enforceable_of<'a>(
    findings: impl IntoIterator<Item = &'a crate::api::FindingEntry> + Clone,
) -> Option<String> {
    crate::core::model::NOT_ENFORCEABLE.iter().find_map(|code| {
        findings
            .clone()
            .into_iter()
            .find(|f| f.code == *code)
            .map(|f| f.message.clone())
    })
}

/// Everything an evaluation looks at.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub providers: Vec<ProviderFacts>,
    pub policies: Vec<PolicyFacts>,
    /// Where Perimeter's own alerts go (the chart's Alertmanager Slack receiver, given to the
    /// operator as `--alerts-slack-channel`): they are the alerting of every provider whose
    /// drift and findings only Perimeter sees, so they are verified like any route.
    pub own_routes: Vec<crate::core::routing::AlertRoute>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Requirement {
    BoundaryFirewall,
    NetworkMonitoring,
    AlertRouting,
    EndpointFirewall,
}

impl Requirement {
    pub const ALL: [Requirement; 4] = [
        Self::BoundaryFirewall,
        Self::NetworkMonitoring,
        Self::AlertRouting,
        Self::EndpointFirewall,
    ];

    /// The metric label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::BoundaryFirewall => "boundary_firewall",
            Self::NetworkMonitoring => "network_monitoring",
            Self::AlertRouting => "alert_routing",
            Self::EndpointFirewall => "endpoint_firewall",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::BoundaryFirewall => {
                "Every provider in scope has its boundary firewall declared and in sync"
            }
            Self::NetworkMonitoring => {
                "Every provider in scope has network monitoring declared and in sync"
            }
            Self::AlertRouting => "Alerts reach a live channel, verified end to end",
            Self::EndpointFirewall => {
                "Endpoint firewall protection covers hosts (verified by endpoint management, else attested)"
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequirementState {
    Verified,
    Attested,
    Gap,
    Unknown,
}

impl RequirementState {
    pub const ALL: [RequirementState; 4] =
        [Self::Verified, Self::Attested, Self::Gap, Self::Unknown];

    pub fn label(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Attested => "attested",
            Self::Gap => "gap",
            Self::Unknown => "unknown",
        }
    }

    pub fn satisfied(self) -> bool {
        matches!(self, Self::Verified | Self::Attested)
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cell {
    /// Alert routing of a provider whose API has no alerting (see
    /// [`Alerting::NoApi`](crate::providers::registry::Alerting::NoApi)): shown with the
    /// reason, left out of the requirement's rollup, never a gap and never verified.
    NotApplicable,
    Verified,
    /// A part no API can show, covered by an unexpired attestation naming this provider:
    /// satisfied, never verified.
    Attested,
    Unknown,
    /// Alert rules are declared and in sync, but no observed route reaches a channel Slack
    /// vouches for (only e-mail, pagers or webhooks Perimeter cannot check, or no route seen).
    Unverified,
    /// An observed route reaches a Slack channel that is archived, unknown, or without the
    /// bot: alerts sent there are not read.
    Unreachable,
    /// The policies are in sync, but some of the provider's boundary assets (zones, VPCs…) no
    /// FirewallPolicy covers.
    Uncovered,
    Paused,
    Drifted,
    Missing,
}

impl Cell {
    fn state(self) -> RequirementState {
        match self {
            Self::Verified => RequirementState::Verified,
            Self::Attested => RequirementState::Attested,
            // Left out before the rollup; never counted as satisfied if it gets there.
            Self::NotApplicable => RequirementState::Unknown,
            Self::Unknown => RequirementState::Unknown,
            Self::Unverified
            | Self::Unreachable
            | Self::Uncovered
            | Self::Paused
            | Self::Drifted
            | Self::Missing => RequirementState::Gap,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImplementationState {
    Implemented,
    PartiallyImplemented,
    NotImplemented,
}

impl ImplementationState {
    pub const ALL: [ImplementationState; 3] = [
        Self::Implemented,
        Self::PartiallyImplemented,
        Self::NotImplemented,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Implemented => "implemented",
            Self::PartiallyImplemented => "partially_implemented",
            Self::NotImplemented => "not_implemented",
        }
    }
}

impl fmt::Display for ImplementationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Maturity {
    pub level: u8,
    pub name: String,
    /// The rule that produced this level (and what the next level needs).
    pub rule: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RequirementResult {
    pub requirement: Requirement,
    pub state: RequirementState,
    pub message: String,
    /// The policies, providers or attestations behind the result.
    pub subjects: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Coverage {
    /// `namespace/name`.
    pub provider: String,
    pub provider_type: ProviderType,
    pub firewall: Cell,
    pub monitoring: Cell,
    pub alerting: Cell,
    /// Where each alert route the provider showed ends (alert routing verified end to end).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<routing::RouteReach>,
    /// Policies counted for this provider (`Kind namespace/name`).
    pub policies: Vec<String>,
    /// How many of its boundary assets a FirewallPolicy covers, with the first uncovered ones
    /// (at most [`REPORTED_ASSETS`]), or why they could not be listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assets: Option<crate::api::InventoryStatus>,
}

/// Uncovered assets a report's coverage row lists (the status of the account lists 50).
pub const REPORTED_ASSETS: usize = 10;
/// Uncovered assets a gap names.
const GAP_ASSETS: usize = 3;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Gap {
    pub requirement: Requirement,
    pub state: RequirementState,
    pub subject: String,
    /// What would close it.
    pub action: String,
}

/// The result of one evaluation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Assessment {
    pub control: String,
    pub evaluated_at: String,
    pub state: ImplementationState,
    pub satisfied: usize,
    pub total: usize,
    pub maturity: Maturity,
    pub requirements: Vec<RequirementResult>,
    pub coverage: Vec<Coverage>,
    /// Where Perimeter's own alerts (Alertmanager's Slack receiver) end, when declared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub own_routes: Vec<routing::RouteReach>,
    /// The endpoint managers in scope and the hosts they checked (EndpointFirewall verified).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<endpoints::EndpointRow>,
    pub gaps: Vec<Gap>,
}

impl Assessment {
    pub fn score(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.satisfied as f64 / self.total as f64
        }
    }

    pub fn requirement(&self, r: Requirement) -> Option<&RequirementResult> {
        self.requirements.iter().find(|x| x.requirement == r)
    }
}

/// Evaluates the control. `implemented_since` is when the evidence trail says the control has
/// been implemented without interruption (see [`evidence::Trail::implemented_since`]).
pub fn evaluate(
    spec: &ControlAssessmentSpec,
    snapshot: &Snapshot,
    implemented_since: Option<Timestamp>,
    now: Timestamp,
) -> Assessment {
    evaluate_with(spec, snapshot, implemented_since, now, registry::info)
}

fn evaluate_with(
    spec: &ControlAssessmentSpec,
    snapshot: &Snapshot,
    implemented_since: Option<Timestamp>,
    now: Timestamp,
    lookup: Lookup,
) -> Assessment {
    let providers: Vec<&ProviderFacts> = snapshot
        .providers
        .iter()
        .filter(|p| in_scope(spec, p))
        .collect();
    let mut gaps = Vec::new();
    let mut coverage = Vec::new();
    let mut all_enforced = true;
    let channels = routing::Channels::from_policies(&snapshot.policies);
    let own = routing::Verdict::of(&snapshot.own_routes.iter().collect::<Vec<_>>(), &channels);
    for p in &providers {
        let policies: Vec<&PolicyFacts> = snapshot
            .policies
            .iter()
            .filter(|x| p.is_used_by(x))
            .collect();
        all_enforced &= policies.iter().all(|x| x.mode == Mode::Enforce);
        let of_kind = |k: PolicyKind| -> Vec<&PolicyFacts> {
            policies.iter().copied().filter(|x| x.kind == k).collect()
        };
        let firewall = of_kind(PolicyKind::FirewallPolicy);
        let monitoring = of_kind(PolicyKind::MonitoringPolicy);
        let alerting: Vec<&PolicyFacts> = monitoring
            .iter()
            .copied()
            .filter(|x| x.alert_routes > 0)
            .collect();
        let routes: Vec<&crate::core::routing::AlertRoute> =
            monitoring.iter().flat_map(|x| x.routes.iter()).collect();
        let verdict = routing::Verdict::of(&routes, &channels);
        let info = lookup(p.provider_type);
        let attested = |area: Area, gaps: &mut Vec<Gap>| -> Option<Cell> {
            let why = area.attested_only(info?)?;
            let (c, gap) = attested_cell(p, area, why, &spec.attestations, now);
            gaps.extend(gap);
            Some(c)
        };
        let firewall_attested = attested(Area::Firewall, &mut gaps);
        let monitoring_attested = attested(Area::Monitoring, &mut gaps);
        let alerting_attested = attested(Area::Alerting, &mut gaps);
        let alerting_cell = if let Some(c) = alerting_attested {
            c
        } else if no_alerting_api(lookup, p.provider_type).is_some() {
            Cell::NotApplicable
        } else {
            match cell(p, &alerting) {
                Cell::Verified if verdict.dead().next().is_some() => Cell::Unreachable,
                Cell::Verified if verdict.live().next().is_some() => Cell::Verified,
                Cell::Verified => Cell::Unverified,
                other => other,
            }
        };
        // A monitoring account's assets are the public hostnames it should check: its
        // inventory speaks to network monitoring, not to a firewall.
        let hostnames = crate::inventory::monitors_hostnames(p.provider_type);
        let row = Coverage {
            provider: p.id(),
            provider_type: p.provider_type,
            firewall: if let Some(c) = firewall_attested {
                c
            } else if no_firewall(lookup, p.provider_type).is_some() {
                Cell::NotApplicable
            } else if hostnames {
                cell(p, &firewall)
            } else {
                with_inventory(cell(p, &firewall), p.inventory.as_ref())
            },
            monitoring: monitoring_attested.unwrap_or_else(|| {
                if hostnames {
                    with_inventory(cell(p, &monitoring), p.inventory.as_ref())
                } else {
                    cell(p, &monitoring)
                }
            }),
            alerting: alerting_cell,
            routes: verdict.reaches.clone(),
            policies: policies
                .iter()
                .map(|x| format!("{:?} {}/{}", x.kind, x.namespace, x.name))
                .collect(),
            assets: p.inventory.as_ref().map(|i| crate::api::InventoryStatus {
                uncovered: i.uncovered.iter().take(REPORTED_ASSETS).cloned().collect(),
                // The error text stays in the account's status; its category is enough here.
                message: None,
                observed_at: None,
                ..i.clone()
            }),
        };
        let (inventory_req, inventory_attested) = if hostnames {
            (
                Requirement::NetworkMonitoring,
                monitoring_attested.is_some(),
            )
        } else {
            (
                Requirement::BoundaryFirewall,
                firewall_attested.is_some() || no_firewall(lookup, p.provider_type).is_some(),
            )
        };
        let inventory_gap = (!inventory_attested)
            .then(|| inventory_gap(lookup, p, inventory_req))
            .flatten();
        for (req, c, list, by_attestation) in [
            (
                Requirement::BoundaryFirewall,
                row.firewall,
                &firewall,
                firewall_attested.is_some(),
            ),
            (
                Requirement::NetworkMonitoring,
                row.monitoring,
                &monitoring,
                monitoring_attested.is_some(),
            ),
            (
                Requirement::AlertRouting,
                row.alerting,
                &alerting,
                alerting_attested.is_some(),
            ),
        ] {
            match c {
                // An attested part's gap was worded by `attested_cell`.
                _ if by_attestation => {}
                Cell::Verified | Cell::Attested | Cell::NotApplicable => {}
                // Worded by `inventory_gap`, from the inventory that made the cell what it is.
                Cell::Uncovered => {}
                Cell::Unknown
                    if req == inventory_req
                        && inventory_gap
                            .as_ref()
                            .is_some_and(|g| g.state == RequirementState::Unknown)
                        && cell(p, list) == Cell::Verified => {}
                Cell::Unreachable | Cell::Unverified => {
                    gaps.push(routing_gap(lookup, c, p, &verdict))
                }
                _ => gaps.push(gap_for(lookup, req, c, p, list)),
            }
        }
        gaps.extend(inventory_gap);
        coverage.push(row);
    }

    let mut requirements = Vec::new();
    for (req, pick) in [
        (Requirement::BoundaryFirewall, 0),
        (Requirement::NetworkMonitoring, 1),
        (Requirement::AlertRouting, 2),
    ] {
        let cells: Vec<(&Coverage, Cell)> = coverage
            .iter()
            .map(|r| (r, [r.firewall, r.monitoring, r.alerting][pick]))
            .collect();
        let mut result = rollup(lookup, req, &cells);
        if req == Requirement::AlertRouting {
            own_routes_into(&mut result, &own, &mut gaps);
        }
        let ignored = ignored_attestations(req, &spec.attestations, &providers, lookup);
        if !ignored.is_empty() {
            result.message.push_str(&format!(
                "; ignored {} attestation(s): {}",
                ignored.len(),
                ignored.join("; ")
            ));
        }
        if !cells.is_empty() && cells.iter().all(|(_, c)| *c == Cell::NotApplicable) {
            gaps.push(Gap {
                requirement: req,
                state: RequirementState::Gap,
                subject: "scope".into(),
                action: if req == Requirement::BoundaryFirewall {
                    "No provider in scope has a firewall, so no boundary is operated: bring the \
                     providers that carry the traffic (CDN, cloud, database) into scope"
                        .into()
                } else {
                    "No provider in scope has an alerting API, so no alert route can be \
                     verified: bring the provider that alerts on these events into scope \
                     (e.g. the monitoring provider their logs are drained to)"
                        .into()
                },
            });
        }
        requirements.push(result);
    }
    if providers.is_empty() {
        for r in &requirements {
            gaps.push(Gap {
                requirement: r.requirement,
                state: RequirementState::Gap,
                subject: "scope".into(),
                action: "No CloudProvider is in scope: declare the providers (or widen spec.scope)"
                    .into(),
            });
        }
    }
    let endpoint_rows = endpoints::rows(&providers, &snapshot.policies);
    let endpoint = if endpoint_rows.is_empty() {
        // Attestations only ever satisfy; an attested requirement never reads as verified.
        attestation_result(&spec.attestations, now, &mut gaps)
    } else {
        let attested = spec.attestations.iter().any(|a| {
            a.requirement == AttestableRequirement::EndpointFirewall
                && a.expires.parse::<Timestamp>().is_ok_and(|t| t > now)
        });
        endpoints::result(&endpoint_rows, attested, &mut gaps)
    };
    requirements.push(endpoint);

    let satisfied = requirements.iter().filter(|r| r.state.satisfied()).count();
    let total = requirements.len();
    let state = if satisfied == total {
        ImplementationState::Implemented
    } else if satisfied == 0 {
        ImplementationState::NotImplemented
    } else {
        ImplementationState::PartiallyImplemented
    };
    let maturity = maturity(state, all_enforced, implemented_since, now);
    Assessment {
        control: spec.control.as_str().into(),
        evaluated_at: rfc3339(now),
        state,
        satisfied,
        total,
        maturity,
        requirements,
        coverage,
        own_routes: own.reaches,
        endpoints: endpoint_rows,
        gaps,
    }
}

/// Perimeter's own alert route counts for alert routing like a provider's: one that does not
/// reach a live channel makes the requirement a gap naming the channel (Perimeter's drift
/// alerts would go where nobody reads them); a live one is said in the requirement's message.
/// Not declared, it changes nothing: whether Perimeter's alerts are routed is then not known.
fn own_routes_into(result: &mut RequirementResult, own: &routing::Verdict, gaps: &mut Vec<Gap>) {
    for r in &own.reaches {
        result
            .subjects
            .push(format!("Perimeter: {} → {}", r.route, r.reaches));
        if r.state == routing::ReachState::Live {
            result.message.push_str(&format!(
                "; Perimeter's own alerts reach {} (live)",
                r.reaches
            ));
            continue;
        }
        result.state = RequirementState::Gap;
        let why = r.why.as_deref().unwrap_or("not live");
        result.message.push_str(&format!(
            "; Perimeter's own alerts reach {} ({why})",
            r.reaches
        ));
        gaps.push(Gap {
            requirement: Requirement::AlertRouting,
            state: RequirementState::Gap,
            subject: format!("Perimeter's alerts: Slack {}", r.reaches),
            action: format!(
                "Perimeter's own alerts go where nobody reads them ({} → {}: {why}): fix the \
                 channel (unarchive it and invite the bot) and check it in a slack: \
                 MonitoringPolicy, or set the chart's alertmanager.slack.channel to a live one",
                r.route, r.reaches
            ),
        });
    }
}

/// The evidence retention an assessment asks for.
pub fn retention_of(spec: &ControlAssessmentSpec) -> Retention {
    Retention {
        heartbeat: Duration::from_secs(u64::from(spec.evidence.heartbeat_minutes) * 60),
        max_records: spec.evidence.max_records as usize,
        ..Retention::default()
    }
}

/// Evaluates one assessment against a snapshot, appends evidence to its trail when due, and
/// returns the report (and whether a record was written).
pub fn assess(
    assessment: &ControlAssessment,
    snapshot: &Snapshot,
    trail: &mut Trail,
    store: &str,
    now: Timestamp,
) -> (ControlReport, bool) {
    let spec = &assessment.spec;
    let name = assessment.name_any();
    let retention = retention_of(spec);
    let since = trail.implemented_since(retention.heartbeat, now);
    let result = evaluate(spec, snapshot, since, now);
    let observed = evidence::observations(
        &result,
        &snapshot.providers,
        &snapshot.policies,
        &spec.attestations,
        now,
    );
    let written = trail
        .record(&name, &result, observed, now, &retention)
        .is_some();
    let verification = trail.verify(retention.heartbeat, None);
    (
        ControlReport::new(
            &name,
            result,
            store.to_string(),
            verification,
            trail.clone(),
        ),
        written,
    )
}

/// A ClusterCloudProvider is in scope of a cluster-wide assessment (no `scope.namespaces`).
fn in_scope(spec: &ControlAssessmentSpec, p: &ProviderFacts) -> bool {
    let scope = &spec.scope;
    (scope.namespaces.is_empty() || scope.namespaces.contains(&p.namespace))
        && (scope.provider_types.is_empty() || scope.provider_types.contains(&p.provider_type))
}

/// The worst of the policies' states for one provider and area.
fn cell(provider: &ProviderFacts, policies: &[&PolicyFacts]) -> Cell {
    if policies.is_empty() {
        return Cell::Missing;
    }
    let mut worst = Cell::Verified;
    for p in policies {
        let c = if p.paused {
            Cell::Paused
        } else if provider.ready == Some(false) {
            Cell::Unknown
        } else {
            match p.in_sync {
                _ if p.stale => Cell::Unknown,
                InSync::True => Cell::Verified,
                InSync::False => Cell::Drifted,
                InSync::Unknown => Cell::Unknown,
            }
        };
        worst = worst.max(c);
    }
    worst
}

fn rollup(lookup: Lookup, req: Requirement, all: &[(&Coverage, Cell)]) -> RequirementResult {
    // Not-applicable cells are listed, but neither satisfy nor fail the requirement; when only
    // they remain, nothing in scope can meet it, which is a gap.
    let cells: Vec<&(&Coverage, Cell)> = all
        .iter()
        .filter(|(_, c)| *c != Cell::NotApplicable)
        .collect();
    let state = if cells.is_empty()
        || cells
            .iter()
            .any(|(_, c)| c.state() == RequirementState::Gap)
    {
        RequirementState::Gap
    } else if cells.iter().any(|(_, c)| *c == Cell::Unknown) {
        RequirementState::Unknown
    } else if cells.iter().any(|(_, c)| *c == Cell::Attested) {
        RequirementState::Attested
    } else {
        RequirementState::Verified
    };
    let count = |want: RequirementState| cells.iter().filter(|(_, c)| c.state() == want).count();
    let not_applicable = all.len() - cells.len();
    let message = if all.is_empty() {
        "no provider in scope".to_string()
    } else {
        let attested = count(RequirementState::Attested);
        let mut m = format!(
            "{} of {} providers verified{}, {} with gaps, {} unknown",
            count(RequirementState::Verified),
            cells.len(),
            if attested > 0 {
                format!(", {attested} attested (no API can show it)")
            } else {
                String::new()
            },
            count(RequirementState::Gap),
            count(RequirementState::Unknown)
        );
        if not_applicable > 0 {
            m.push_str(&format!(
                "; not applicable to {not_applicable} ({})",
                if req == Requirement::BoundaryFirewall {
                    "no firewall"
                } else {
                    "no alerting API"
                }
            ));
        }
        m
    };
    RequirementResult {
        requirement: req,
        state,
        message,
        subjects: all
            .iter()
            .map(|(r, c)| {
                let why = if req == Requirement::BoundaryFirewall {
                    no_firewall(lookup, r.provider_type)
                } else {
                    no_alerting_api(lookup, r.provider_type)
                };
                (r, c, why)
            })
            .map(|(r, c, why)| match (c, why) {
                (Cell::NotApplicable, Some(why)) => {
                    format!("{} {} (NotApplicable: {why})", r.provider_type, r.provider)
                }
                _ => format!("{} {} ({:?})", r.provider_type, r.provider, c),
            })
            .collect(),
    }
}

/// A firewall verified by its policies is still a gap while some of the provider's assets
/// are uncovered, and unknown while they cannot be listed.
fn with_inventory(c: Cell, inventory: Option<&crate::api::InventoryStatus>) -> Cell {
    match inventory {
        Some(i) if c == Cell::Verified && !i.read() => Cell::Unknown,
        Some(i) if c == Cell::Verified && i.uncovered_count().is_some_and(|n| n > 0) => {
            Cell::Uncovered
        }
        _ => c,
    }
}

/// The gap of a provider whose assets are not all covered (naming a few), or whose inventory
/// could not be read (coverage unknown, never complete): boundary firewall for the assets a
/// FirewallPolicy covers, network monitoring for the public hostnames a monitoring account
/// should check.
fn inventory_gap(lookup: Lookup, p: &ProviderFacts, requirement: Requirement) -> Option<Gap> {
    let i = p.inventory.as_ref()?;
    let subject = format!("{} {}", p.provider_type, p.id());
    let hostnames = requirement == Requirement::NetworkMonitoring;
    if !i.read() {
        let reason = i
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        return Some(Gap {
            requirement,
            state: RequirementState::Unknown,
            subject,
            action: if hostnames {
                format!(
                    "The public hostnames it should monitor, or its monitors, could not be \
                     read{reason}: which of them a monitor checks is unknown, never counted as \
                     complete; see the account's status.inventory"
                )
            } else {
                format!(
                    "Its boundary assets could not be listed{reason}: which of them a \
                     FirewallPolicy covers is unknown, never counted as complete; fix the \
                     inventory read (see the account's status.inventory)"
                )
            },
        });
    }
    let summary = crate::inventory::uncovered_summary(i, GAP_ASSETS)?;
    Some(Gap {
        requirement,
        state: RequirementState::Gap,
        subject,
        action: if hostnames {
            format!(
                "{summary}: declare an uptime monitor for each ({})",
                monitoring_hint(lookup, p.provider_type)
            )
        } else {
            format!(
                "{summary}: declare a FirewallPolicy for each ({})",
                firewall_hint(lookup, p.provider_type)
            )
        },
    })
}

fn gap_for(
    lookup: Lookup,
    req: Requirement,
    c: Cell,
    p: &ProviderFacts,
    policies: &[&PolicyFacts],
) -> Gap {
    let provider = format!("{} {}", p.provider_type, p.id());
    let names = |pred: &dyn Fn(&PolicyFacts) -> bool| -> String {
        policies
            .iter()
            .filter(|x| pred(x))
            .map(|x| format!("{:?} {}/{}", x.kind, x.namespace, x.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (subject, action) = match c {
        Cell::Missing => (
            provider.clone(),
            match req {
                Requirement::BoundaryFirewall => format!(
                    "Declare a FirewallPolicy for {}/{} ({})",
                    p.namespace,
                    p.name,
                    firewall_hint(lookup, p.provider_type)
                ),
                Requirement::NetworkMonitoring => format!(
                    "Declare a MonitoringPolicy for {}/{} ({})",
                    p.namespace,
                    p.name,
                    monitoring_hint(lookup, p.provider_type)
                ),
                _ => format!(
                    "Declare alert rules with a destination in a MonitoringPolicy for {}/{} ({})",
                    p.namespace,
                    p.name,
                    alert_hint(lookup, p.provider_type)
                ),
            },
        ),
        Cell::Drifted => {
            let drifted: u32 = policies
                .iter()
                .filter(|x| x.in_sync == InSync::False)
                .map(|x| x.drift_count)
                .sum();
            // Enforce is only offered where it would help: an observed policy whose drift
            // the provider's API can correct.
            let enforce_helps = policies.iter().any(|x| {
                x.in_sync == InSync::False && x.mode == Mode::Observe && x.not_enforceable.is_none()
            });
            let mut action = format!(
                "{drifted} field(s) drifted from the declaration: fix them at the provider{} \
                 (see the policy's status.drift)",
                if enforce_helps {
                    " or set mode: Enforce"
                } else {
                    ""
                }
            );
            let blocked: Vec<String> = policies
                .iter()
                .filter(|x| x.in_sync == InSync::False)
                .filter_map(|x| {
                    let why = x.not_enforceable.as_deref()?;
                    Some(format!("{}/{}: {why}", x.namespace, x.name))
                })
                .collect();
            if !blocked.is_empty() {
                action = format!(
                    "{action}; Enforce cannot fix these ({})",
                    blocked.join("; ")
                );
            }
            (names(&|x| x.in_sync == InSync::False && !x.paused), action)
        }
        Cell::Paused => (
            names(&|x| x.paused),
            "The policy is paused, so nothing is verified: set spec.paused to false".into(),
        ),
        Cell::Unknown if p.ready != Some(false) && policies.iter().any(|x| x.stale) => (
            names(&|x| x.stale),
            format!(
                "Not re-read within its sync interval (last read {}): the operator may be \
                 stalled; a verdict this old is never counted as compliant",
                policies
                    .iter()
                    .filter(|x| x.stale)
                    .filter_map(|x| x.observed_at.as_deref())
                    .next()
                    .unwrap_or("never")
            ),
        ),
        Cell::Unknown => (
            if p.ready == Some(false) {
                provider.clone()
            } else {
                names(&|x| x.in_sync == InSync::Unknown)
            },
            format!(
                "The provider could not be read{}: fix its credentials or reachability; \
                 unknown is never counted as compliant",
                p.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
        ),
        // Not gaps, or (the routing cells) gaps that `routing_gap` words from the routes.
        Cell::Verified
        | Cell::Attested
        | Cell::NotApplicable
        | Cell::Unverified
        | Cell::Unreachable
        | Cell::Uncovered => (provider, String::new()),
    };
    Gap {
        requirement: req,
        state: c.state(),
        subject,
        action,
    }
}

/// What each area means for a provider, from its registry words ([`crate::providers::registry::Info`]);
/// types without a client get a generic description.
fn firewall_hint(lookup: Lookup, t: ProviderType) -> &'static str {
    lookup(t).map_or("its firewall rules or IP allowlist", |i| i.firewall.words())
}

fn monitoring_hint(lookup: Lookup, t: ProviderType) -> &'static str {
    lookup(t).map_or("log drains, uptime checks, alerts", |i| {
        i.monitoring.words()
    })
}

/// The gap of a provider whose declared, in-sync alert routing does not reach a live
/// channel: the channels that are not read are named, each with its route and why.
fn routing_gap(lookup: Lookup, c: Cell, p: &ProviderFacts, verdict: &routing::Verdict) -> Gap {
    let provider = format!("{} {}", p.provider_type, p.id());
    let (subject, action) = if c == Cell::Unreachable {
        let dead: Vec<&routing::RouteReach> = verdict.dead().collect();
        let channels: Vec<&str> = dead.iter().map(|r| r.reaches.as_str()).collect();
        let slack = dead.iter().all(|r| r.slack);
        let detail: Vec<String> = dead
            .iter()
            .map(|r| {
                format!(
                    "{} → {}: {}",
                    r.route,
                    r.reaches,
                    r.why.as_deref().unwrap_or("not live")
                )
            })
            .collect();
        (
            if slack {
                format!("{provider}: Slack {}", channels.join(", "))
            } else {
                format!("{provider}: {}", channels.join(", "))
            },
            format!(
                "Alerts go where nobody reads them ({}): fix the route or the channel (unarchive \
                 it and invite the bot), or route them to a live channel declared in a slack: \
                 MonitoringPolicy",
                detail.join("; ")
            ),
        )
    } else {
        let seen: Vec<String> = verdict
            .reaches
            .iter()
            .map(|r| format!("{} → {}", r.route, r.reaches))
            .collect();
        (
            provider,
            if seen.is_empty() {
                format!(
                    "Alert rules are declared and in sync, but the provider showed no route to a \
                     channel ({}): point them at a Slack channel declared in a slack: \
                     MonitoringPolicy",
                    alert_hint(lookup, p.provider_type)
                )
            } else {
                format!(
                    "No route reaches a channel Slack vouches for ({}): route at least one to a \
                     Slack channel declared in a slack: MonitoringPolicy",
                    seen.join("; ")
                )
            },
        )
    };
    Gap {
        requirement: Requirement::AlertRouting,
        state: RequirementState::Gap,
        subject,
        action,
    }
}

fn alert_hint(lookup: Lookup, t: ProviderType) -> &'static str {
    lookup(t).map_or("an alert with a destination", |i| i.alerting.words())
}

/// Why a boundary firewall does not apply to a provider type, if it has none.
fn no_firewall(lookup: Lookup, t: ProviderType) -> Option<&'static str> {
    match lookup(t)?.firewall {
        Boundary::NoFirewall(why) | Boundary::Endpoints(why) => Some(why),
        Boundary::Manages(_) | Boundary::AttestedOnly(_) => None,
    }
}

/// Why alert routing does not apply to a provider type, if its API has no alerting.
fn no_alerting_api(lookup: Lookup, t: ProviderType) -> Option<&'static str> {
    match lookup(t)?.alerting {
        Alerting::NoApi(why) => Some(why),
        Alerting::Routes(_) | Alerting::AttestedOnly(_) => None,
    }
}

/// A provider's area, as its coverage row and a `Provider*` attestation name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    Firewall,
    Monitoring,
    Alerting,
}

impl Area {
    pub const ALL: [Area; 3] = [Self::Firewall, Self::Monitoring, Self::Alerting];

    pub fn label(self) -> &'static str {
        match self {
            Self::Firewall => "firewall",
            Self::Monitoring => "monitoring",
            Self::Alerting => "alerting",
        }
    }

    /// What is attested, in words.
    fn noun(self) -> &'static str {
        match self {
            Self::Firewall => "network controls",
            Self::Monitoring => "network monitoring",
            Self::Alerting => "alert channels",
        }
    }

    pub fn attestation(self) -> AttestableRequirement {
        match self {
            Self::Firewall => AttestableRequirement::ProviderFirewall,
            Self::Monitoring => AttestableRequirement::ProviderMonitoring,
            Self::Alerting => AttestableRequirement::ProviderAlerting,
        }
    }

    pub fn of(r: AttestableRequirement) -> Option<Area> {
        Self::ALL.into_iter().find(|a| a.attestation() == r)
    }

    fn requirement(self) -> Requirement {
        match self {
            Self::Firewall => Requirement::BoundaryFirewall,
            Self::Monitoring => Requirement::NetworkMonitoring,
            Self::Alerting => Requirement::AlertRouting,
        }
    }

    /// The registry's words when only an attestation can cover this area of the provider.
    fn attested_only(self, info: &Info) -> Option<&'static str> {
        match self {
            Self::Firewall => match info.firewall {
                Boundary::AttestedOnly(w) => Some(w),
                Boundary::Manages(_) | Boundary::NoFirewall(_) | Boundary::Endpoints(_) => None,
            },
            Self::Monitoring => match info.monitoring {
                Monitoring::AttestedOnly(w) => Some(w),
                Monitoring::Reads(_) => None,
            },
            Self::Alerting => match info.alerting {
                Alerting::AttestedOnly(w) => Some(w),
                Alerting::Routes(_) | Alerting::NoApi(_) => None,
            },
        }
    }
}

/// Whether an attestation names this provider.
fn names(a: &Attestation, p: &ProviderFacts) -> bool {
    a.provider.as_ref().is_some_and(|x| {
        x.name == p.name && x.namespace.as_deref().unwrap_or_default() == p.namespace
    })
}

/// What an attestation counts for in an evaluation (and what its evidence record says).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttestationUse {
    /// Unexpired, for a requirement only an attestation can satisfy.
    Valid,
    /// Expired (or an expiry that does not parse): it no longer counts.
    Expired,
    /// Ignored, and why: the part is one an API verifies, or no provider in scope is named.
    Ignored(String),
}

impl AttestationUse {
    pub fn label(&self) -> String {
        match self {
            Self::Valid => "Valid".into(),
            Self::Expired => "Expired".into(),
            Self::Ignored(why) => format!("Ignored ({why})"),
        }
    }
}

/// What an attestation counts for, given the providers in scope.
pub fn attestation_use(
    a: &Attestation,
    providers: &[&ProviderFacts],
    now: Timestamp,
) -> AttestationUse {
    attestation_use_with(a, providers, now, registry::info)
}

fn attestation_use_with(
    a: &Attestation,
    providers: &[&ProviderFacts],
    now: Timestamp,
    lookup: Lookup,
) -> AttestationUse {
    if let Some(why) = ignored_why(a, providers, lookup) {
        AttestationUse::Ignored(why)
    } else if a.expires.parse::<Timestamp>().is_ok_and(|t| t > now) {
        AttestationUse::Valid
    } else {
        AttestationUse::Expired
    }
}

/// Why a `Provider*` attestation counts for nothing: it names no provider in scope, or a part
/// that is not attested-only (an API reads it, or it does not apply to the provider).
fn ignored_why(a: &Attestation, providers: &[&ProviderFacts], lookup: Lookup) -> Option<String> {
    let area = Area::of(a.requirement)?;
    let Some(p) = providers.iter().find(|p| names(a, p)) else {
        return Some("it names no CloudProvider in scope".into());
    };
    let info = lookup(p.provider_type);
    if info.and_then(|i| area.attested_only(i)).is_some() {
        return None;
    }
    Some(format!(
        "{} {}'s {} is read through its API (or does not apply to it), and an attestation \
         never stands in for a reading",
        p.provider_type,
        p.id(),
        area.label()
    ))
}

/// The requirement's ignored attestations, each with why.
fn ignored_attestations(
    req: Requirement,
    attestations: &[Attestation],
    providers: &[&ProviderFacts],
    lookup: Lookup,
) -> Vec<String> {
    attestations
        .iter()
        .filter(|a| Area::of(a.requirement).is_some_and(|x| x.requirement() == req))
        .filter_map(|a| {
            let why = ignored_why(a, providers, lookup)?;
            Some(format!(
                "{} for {} by {}: {why}",
                a.requirement.as_str(),
                a.provider.as_ref().map_or_else(String::new, |x| format!(
                    "{}/{}",
                    x.namespace.as_deref().unwrap_or("cluster"),
                    x.name
                )),
                a.attested_by
            ))
        })
        .collect()
}

/// The cell of a part only an attestation can cover, and its gap when none does.
fn attested_cell(
    p: &ProviderFacts,
    area: Area,
    why: &str,
    attestations: &[Attestation],
    now: Timestamp,
) -> (Cell, Option<Gap>) {
    let mine: Vec<&Attestation> = attestations
        .iter()
        .filter(|a| a.requirement == area.attestation() && names(a, p))
        .collect();
    let valid = mine
        .iter()
        .filter_map(|a| a.expires.parse::<Timestamp>().ok())
        .any(|t| t > now);
    if valid {
        return (Cell::Attested, None);
    }
    let subject = format!("{} {}", p.provider_type, p.id());
    let action = match mine.last() {
        Some(a) => format!(
            "The {} attestation by {} expired on {}; {}'s {} cannot be read by any API ({why}): \
             renew it with fresh evidence (last: {})",
            area.attestation().as_str(),
            a.attested_by,
            a.expires,
            p.provider_type,
            area.noun(),
            a.evidence_url
        ),
        None => format!(
            "{}'s {} cannot be read by any API ({why}): attest them with a {} attestation \
             naming provider {} (statement, attestedBy, evidenceUrl, expires) in the \
             ControlAssessment",
            p.provider_type,
            area.noun(),
            area.attestation().as_str(),
            p.id()
        ),
    };
    (
        Cell::Missing,
        Some(Gap {
            requirement: area.requirement(),
            state: RequirementState::Gap,
            subject,
            action,
        }),
    )
}

/// A coverage row in words: which areas an API verified and which only an attestation covers,
/// e.g. `verified: monitoring; attested: firewall, alerting`.
pub fn summary(c: &Coverage) -> String {
    let mut groups: Vec<(Cell, Vec<&str>)> = Vec::new();
    for (area, cell) in [
        (Area::Firewall, c.firewall),
        (Area::Monitoring, c.monitoring),
        (Area::Alerting, c.alerting),
    ] {
        match groups.iter_mut().find(|(x, _)| *x == cell) {
            Some((_, list)) => list.push(area.label()),
            None => groups.push((cell, vec![area.label()])),
        }
    }
    groups.sort_by_key(|(cell, _)| *cell);
    groups
        .iter()
        .map(|(cell, list)| {
            let name = match cell {
                Cell::NotApplicable => "not applicable",
                Cell::Verified => "verified",
                Cell::Attested => "attested",
                Cell::Unknown => "unknown",
                Cell::Unverified => "not verified",
                Cell::Unreachable => "unreachable",
                Cell::Uncovered => "assets uncovered",
                Cell::Paused => "paused",
                Cell::Drifted => "drifted",
                Cell::Missing => "missing",
            };
            format!("{name}: {}", list.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn attestation_result(
    attestations: &[Attestation],
    now: Timestamp,
    gaps: &mut Vec<Gap>,
) -> RequirementResult {
    let req = Requirement::EndpointFirewall;
    let mine: Vec<&Attestation> = attestations
        .iter()
        .filter(|a| a.requirement == AttestableRequirement::EndpointFirewall)
        .collect();
    // The valid attestation that lasts longest counts.
    let mut valid: Vec<(&Attestation, Timestamp)> = mine
        .iter()
        .filter_map(|a| a.expires.parse::<Timestamp>().ok().map(|t| (*a, t)))
        .filter(|(_, t)| *t > now)
        .collect();
    valid.sort_by_key(|(_, t)| std::cmp::Reverse(*t));
    if let Some((a, t)) = valid.first() {
        return RequirementResult {
            requirement: req,
            state: RequirementState::Attested,
            message: format!("attested by {} until {t}: {}", a.attested_by, a.statement),
            subjects: vec![a.evidence_url.clone()],
        };
    }
    let (message, action) = match mine.last() {
        Some(a) => (
            format!(
                "the attestation by {} expired on {}",
                a.attested_by, a.expires
            ),
            format!(
                "Renew the attestation with fresh evidence (last: {})",
                a.evidence_url
            ),
        ),
        None => (
            "no attestation: endpoint firewalls are outside provider APIs".to_string(),
            "Add an EndpointFirewall attestation (statement, attestedBy, evidenceUrl, expires) \
             to the ControlAssessment"
                .to_string(),
        ),
    };
    gaps.push(Gap {
        requirement: req,
        state: RequirementState::Gap,
        subject: "endpoints".into(),
        action,
    });
    RequirementResult {
        requirement: req,
        state: RequirementState::Gap,
        message,
        subjects: mine.iter().map(|a| a.evidence_url.clone()).collect(),
    }
}

/// The maturity rule (see the module documentation).
pub fn maturity(
    state: ImplementationState,
    all_enforced: bool,
    implemented_since: Option<Timestamp>,
    now: Timestamp,
) -> Maturity {
    let m = |level: u8, name: &str, rule: &str| Maturity {
        level,
        name: name.into(),
        rule: rule.into(),
    };
    match state {
        ImplementationState::NotImplemented => m(
            0,
            "None",
            "0: no requirement is satisfied. Next: declare firewall and monitoring policies.",
        ),
        ImplementationState::PartiallyImplemented => m(
            1,
            "Partial",
            "1: some requirements are satisfied, not all. Next: close the gaps listed.",
        ),
        ImplementationState::Implemented if !all_enforced => m(
            2,
            "Implemented",
            "2: every requirement is verified (or attested), but some policy is in Observe mode, \
             so drift is reported, not corrected. Next: mode: Enforce on every policy in scope.",
        ),
        ImplementationState::Implemented => {
            let held = implemented_since
                .map(|since| now.duration_since(since).as_secs() / 86_400)
                .unwrap_or(0);
            if held >= SUSTAINED_DAYS {
                m(
                    4,
                    "Sustained",
                    "4: declared as code, enforced and continuously verified; the evidence trail \
                     shows it implemented at every evaluation for 30 days or more.",
                )
            } else {
                m(
                    3,
                    "Enforced",
                    &format!(
                        "3: every requirement verified (or attested) and every policy in Enforce \
                         mode. Next: hold it for {SUSTAINED_DAYS} days without a break in the \
                         evidence trail (now {held} days)."
                    ),
                )
            }
        }
    }
}

/// RFC 3339 in UTC to the second: how every time in reports and evidence is written.
pub fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Counts of requirements per state, for metrics and summaries.
pub fn requirement_counts(a: &Assessment) -> BTreeMap<RequirementState, usize> {
    let mut out = BTreeMap::new();
    for r in &a.requirements {
        *out.entry(r.state).or_insert(0) += 1;
    }
    out
}

#[cfg(test)]
mod tests;
