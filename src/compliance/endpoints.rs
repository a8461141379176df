//! DE.CM-1's `EndpointFirewall` requirement verified through endpoint management: a
//! FirewallPolicy of an endpoint provider (Fleet) checks every host's firewall, so the
//! requirement is read from it rather than taken on an attestation's word.
//!
//! The rule (also in the README):
//!
//! * Where at least one endpoint FirewallPolicy is in scope, the requirement comes from those
//!   policies only; an `EndpointFirewall` attestation is then ignored (and the message says
//!   so), so it can never hide failing hosts or an unreadable server.
//! * Per policy: `Paused` is a gap; a server not read (its account not Ready, the policy's
//!   sync unknown or stale) is `Unknown`, never compliant; a server where no host answered the
//!   checks is a gap (nothing was verified); a policy out of sync is a gap: a host fails
//!   without an unexpired exception, or Perimeter's check itself is missing or was changed;
//!   else `Verified`.
//!   A failing host under a named, unexpired exception does not make a gap: it is accepted
//!   risk, listed with its expiry in the report's "Failing hosts".
//! * The requirement is a gap if any policy is, else unknown if any is, else `Verified`.
//! * The endpoint server's hosts are its inventory: a host of a platform Perimeter checks that
//!   no endpoint policy checks (another team, a platform left out) is a gap, named; hosts that
//!   could not be listed make the row `Unknown`, never compliant.
//! * Where no endpoint FirewallPolicy is in scope, an unexpired attestation is the fallback
//!   (`Attested`, never `Verified`), as before.

use serde::{Deserialize, Serialize};

use super::{Cell, Gap, PolicyFacts, PolicyKind, ProviderFacts, Requirement, RequirementResult};
use super::{InSync, RequirementState};
use crate::api::ProviderType;

/// Failing hosts kept per provider row (the status and report show these; the counts are
/// always whole).
pub const MAX_LISTED_HOSTS: usize = 20;
/// Failing hosts a gap names.
const GAP_HOSTS: usize = 5;

/// What an endpoint policy's last read showed about the hosts it checks.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointHosts {
    /// Hosts passing, and hosts checked, by the endpoint manager's own counts.
    pub passing: u64,
    pub total: u64,
    /// Failing hosts as read: without an exception (drift) and excepted.
    pub failing: Vec<FailingHost>,
    /// The policy's `minPassingPercent` (none: 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_passing_percent: Option<u8>,
}

impl EndpointHosts {
    /// Hosts failing without an exception, by the endpoint manager's counts.
    pub fn failing_unexcepted(&self) -> u64 {
        let excepted = self
            .failing
            .iter()
            .filter(|h| h.excepted_until.is_some())
            .count() as u64;
        self.total
            .saturating_sub(self.passing)
            .saturating_sub(excepted)
    }

    /// Whether the hosts failing without an exception are within the declared tolerance.
    pub fn within_tolerance(&self) -> bool {
        let required = u64::from(self.min_passing_percent.unwrap_or(100).min(100));
        let passing = self.total.saturating_sub(self.failing_unexcepted());
        passing * 100 >= required * self.total
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FailingHost {
    pub host: String,
    pub platform: String,
    /// When the host last checked in (as the endpoint manager wrote it; empty if never).
    pub last_seen: String,
    /// Until when a named exception accepts it failing; `None`: not excepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excepted_until: Option<String>,
}

/// One endpoint provider account in scope, over its endpoint FirewallPolicies.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointRow {
    /// `namespace/name` of the account.
    pub provider: String,
    pub provider_type: ProviderType,
    pub state: Cell,
    pub passing: u64,
    pub total: u64,
    /// Failing hosts without an exception, and excepted ones (whole counts).
    pub failing: u64,
    pub excepted: u64,
    /// The failing hosts, non-excepted first (at most [`MAX_LISTED_HOSTS`]).
    pub hosts: Vec<FailingHost>,
    /// `FirewallPolicy namespace/name` of each policy counted.
    pub policies: Vec<String>,
    /// Hosts of the server no endpoint policy checks (whole count), from its inventory.
    #[serde(default)]
    pub unchecked: u64,
    /// Some of them, labelled (at most [`MAX_LISTED_HOSTS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchecked_hosts: Vec<String>,
    /// Why the server's hosts could not be listed; then which hosts are checked is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts_unlisted: Option<String>,
}

impl EndpointRow {
    /// `247/250 hosts passing`.
    pub fn ratio(&self) -> String {
        format!("{}/{} hosts passing", self.passing, self.total)
    }
}

/// The endpoint FirewallPolicies of a provider: those whose last read carries host facts.
fn endpoint_policies<'a>(p: &ProviderFacts, policies: &'a [PolicyFacts]) -> Vec<&'a PolicyFacts> {
    policies
        .iter()
        .filter(|x| x.kind == PolicyKind::FirewallPolicy && x.endpoints.is_some())
        .filter(|x| p.is_used_by(x))
        .collect()
}

fn policy_cell(p: &ProviderFacts, x: &PolicyFacts) -> Cell {
    let hosts = x.endpoints.as_ref();
    if x.paused {
        Cell::Paused
    } else if p.ready == Some(false) || x.stale || x.in_sync == InSync::Unknown {
        Cell::Unknown
    } else if x.in_sync == InSync::False && !tolerated(x) {
        // Before "no host answered": a check that is missing or edited has no counts of its
        // own, and the drift says why.
        Cell::Drifted
    } else if hosts.is_none_or(|h| h.total == 0) {
        Cell::Missing
    } else {
        Cell::Verified
    }
}

/// A policy whose only drift is hosts failing without an exception, no more of them than its
/// `minPassingPercent` allows. Any other drift (Perimeter's check missing or edited) is
/// never tolerated.
fn tolerated(x: &PolicyFacts) -> bool {
    x.endpoints.as_ref().is_some_and(|h| {
        h.total > 0 && u64::from(x.drift_count) == h.failing_unexcepted() && h.within_tolerance()
    })
}

/// The rows of the endpoint providers in scope (none: the attestation decides).
pub fn rows(providers: &[&ProviderFacts], policies: &[PolicyFacts]) -> Vec<EndpointRow> {
    let mut out = Vec::new();
    for p in providers {
        let mine = endpoint_policies(p, policies);
        if mine.is_empty() {
            continue;
        }
        let mut row = EndpointRow {
            provider: p.id(),
            provider_type: p.provider_type,
            state: Cell::Verified,
            passing: 0,
            total: 0,
            failing: 0,
            excepted: 0,
            hosts: Vec::new(),
            policies: Vec::new(),
            unchecked: 0,
            unchecked_hosts: Vec::new(),
            hosts_unlisted: None,
        };
        let mut hosts = Vec::new();
        for x in mine {
            row.state = row.state.max(policy_cell(p, x));
            row.policies
                .push(format!("{:?} {}/{}", x.kind, x.namespace, x.name));
            // An unread policy's counts are last time's: they are not added up as current.
            if policy_cell(p, x) == Cell::Unknown {
                continue;
            }
            if let Some(h) = &x.endpoints {
                row.passing += h.passing;
                row.total += h.total;
                hosts.extend(h.failing.iter().cloned());
            }
        }
        row.excepted = hosts.iter().filter(|h| h.excepted_until.is_some()).count() as u64;
        // Fleet's count is whole where a status lists only so many hosts.
        row.failing = (row.total - row.passing.min(row.total))
            .saturating_sub(row.excepted)
            .max(hosts.iter().filter(|h| h.excepted_until.is_none()).count() as u64);
        hosts.sort_by_key(|h| (h.excepted_until.is_some(), h.host.clone()));
        hosts.truncate(MAX_LISTED_HOSTS);
        row.hosts = hosts;
        match &p.inventory {
            Some(i) if !i.read() => {
                row.state = row.state.max(Cell::Unknown);
                row.hosts_unlisted = Some(
                    i.reason
                        .clone()
                        .unwrap_or_else(|| "not listed yet".to_string()),
                );
            }
            Some(i) => {
                row.unchecked = u64::from(i.uncovered_count().unwrap_or(0));
                if row.unchecked > 0 {
                    row.state = row.state.max(Cell::Uncovered);
                    row.unchecked_hosts = i
                        .uncovered
                        .iter()
                        .take(MAX_LISTED_HOSTS)
                        .map(|a| a.label())
                        .collect();
                }
            }
            None => {}
        }
        out.push(row);
    }
    out
}

/// The requirement from the endpoint rows, and the gaps they leave. `attested` says whether
/// an unexpired EndpointFirewall attestation exists (then ignored, and said so).
pub fn result(rows: &[EndpointRow], attested: bool, gaps: &mut Vec<Gap>) -> RequirementResult {
    let req = Requirement::EndpointFirewall;
    let worst = rows.iter().map(|r| r.state).max().unwrap_or(Cell::Missing);
    let state = match worst.state() {
        RequirementState::Gap => RequirementState::Gap,
        RequirementState::Unknown => RequirementState::Unknown,
        _ => RequirementState::Verified,
    };
    let read: Vec<&EndpointRow> = rows.iter().filter(|r| r.state != Cell::Unknown).collect();
    let (passing, total) = read
        .iter()
        .fold((0, 0), |(p, t), r| (p + r.passing, t + r.total));
    let failing: u64 = read.iter().map(|r| r.failing).sum();
    let excepted: u64 = read.iter().map(|r| r.excepted).sum();
    let mut message = format!(
        "{passing}/{total} hosts passing the host-firewall check ({failing} failing without an \
         exception, {excepted} excepted) on {} of {} endpoint server(s) read",
        read.len(),
        rows.len()
    );
    if read
        .iter()
        .any(|r| r.state == Cell::Verified && r.failing > 0)
    {
        message.push_str(", within the minPassingPercent each policy declares");
    }
    if attested {
        message.push_str(
            "; the EndpointFirewall attestation is not used while an endpoint policy verifies \
             the hosts",
        );
    }
    for r in rows {
        let subject = format!("{} {}", r.provider_type, r.provider);
        let policies = r.policies.join(", ");
        gaps.extend(unchecked_gap(r, &subject, &policies));
        let action = match r.state {
            // Worded by `unchecked_gap`.
            Cell::Verified | Cell::Attested | Cell::NotApplicable | Cell::Uncovered => continue,
            Cell::Unknown if r.hosts_unlisted.is_some() && r.total > 0 => continue,
            Cell::Drifted if r.failing > 0 => {
                let named: Vec<String> = r
                    .hosts
                    .iter()
                    .filter(|h| h.excepted_until.is_none())
                    .take(GAP_HOSTS)
                    .map(|h| format!("{} ({})", h.host, h.platform))
                    .collect();
                let more = r.failing.saturating_sub(named.len() as u64);
                format!(
                    "{} host(s) fail the host-firewall check without an exception: {}{}: turn \
                     their firewall on (MDM profile, Group Policy, configuration management), or \
                     name them with a reason and an expiry in the exceptions of {policies}",
                    r.failing,
                    named.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                )
            }
            Cell::Drifted => format!(
                "The check Perimeter keeps in the endpoint server drifted ({policies}): see the \
                 policy's status.drift, and set mode: Enforce to put it back"
            ),
            Cell::Missing => format!(
                "No host answered the host-firewall checks ({policies}): enrol the hosts, or \
                 check the policy's platforms and teams; nothing is verified"
            ),
            Cell::Paused => format!("The policy is paused ({policies}): set spec.paused to false"),
            _ => format!(
                "The endpoint server could not be read ({policies}): endpoint firewalls are \
                 unknown, never counted as compliant; fix its credentials or reachability"
            ),
        };
        gaps.push(Gap {
            requirement: req,
            state: r.state.state(),
            subject,
            action,
        });
    }
    if let Some(unchecked) = Some(rows.iter().map(|r| r.unchecked).sum::<u64>()).filter(|n| *n > 0)
    {
        message.push_str(&format!(
            "; {unchecked} host(s) checked by no endpoint policy"
        ));
    }
    RequirementResult {
        requirement: req,
        state,
        message,
        subjects: rows
            .iter()
            .map(|r| {
                format!(
                    "{} {} ({:?}): {}",
                    r.provider_type,
                    r.provider,
                    r.state,
                    r.ratio()
                )
            })
            .collect(),
    }
}

/// The gap of hosts no endpoint policy checks, or of hosts that could not be listed.
fn unchecked_gap(r: &EndpointRow, subject: &str, policies: &str) -> Option<Gap> {
    let req = Requirement::EndpointFirewall;
    if let Some(why) = &r.hosts_unlisted {
        return Some(Gap {
            requirement: req,
            state: RequirementState::Unknown,
            subject: subject.to_string(),
            action: format!(
                "The endpoint server's hosts could not be listed ({why}): whether every host \
                 is checked is unknown, never counted as compliant; see the account's \
                 status.inventory"
            ),
        });
    }
    if r.unchecked == 0 {
        return None;
    }
    let named: Vec<&str> = r
        .unchecked_hosts
        .iter()
        .take(GAP_HOSTS)
        .map(String::as_str)
        .collect();
    let more = r.unchecked.saturating_sub(named.len() as u64);
    Some(Gap {
        requirement: req,
        state: RequirementState::Gap,
        subject: subject.to_string(),
        action: format!(
            "{} host(s) are checked by no endpoint policy: {}{}: add their platform or team \
             to the fleet block of {policies}, or declare a policy for them",
            r.unchecked,
            named.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
    })
}
