//! `perimeter report`: the current assessment and its evidence trail, as Markdown for people
//! and JSON for GRC tools. The JSON carries the whole trail, so `perimeter evidence verify`
//! can check an exported report on its own.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::evidence::{Trail, Verification};
use super::{Assessment, Cell, FRAMEWORKS, Framework};

/// One assessment with its evidence, as exported.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ControlReport {
    /// Name of the ControlAssessment.
    pub assessment: String,
    pub frameworks: Vec<FrameworkRef>,
    pub result: Assessment,
    /// Where the trail is kept (a file, or `ConfigMap ns/name`).
    pub evidence_store: String,
    pub verification: Verification,
    pub evidence: Trail,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FrameworkRef {
    pub id: String,
    pub name: String,
    pub reference: String,
}

impl From<&Framework> for FrameworkRef {
    fn from(f: &Framework) -> Self {
        Self {
            id: f.id.into(),
            name: f.name.into(),
            reference: f.reference.into(),
        }
    }
}

/// The whole export: every assessment evaluated.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Export {
    pub generated_at: String,
    pub generated_by: String,
    pub reports: Vec<ControlReport>,
}

impl ControlReport {
    pub fn new(
        assessment: &str,
        result: Assessment,
        evidence_store: String,
        verification: Verification,
        evidence: Trail,
    ) -> Self {
        Self {
            assessment: assessment.into(),
            frameworks: FRAMEWORKS.iter().map(FrameworkRef::from).collect(),
            result,
            evidence_store,
            verification,
            evidence,
        }
    }
}

fn cell(c: Cell) -> &'static str {
    match c {
        Cell::NotApplicable => "➖ Not applicable",
        Cell::Verified => "✅ Verified",
        Cell::Attested => "📝 Attested (not verified)",
        Cell::Unknown => "❔ Unknown",
        Cell::Unverified => "❓ Not verified",
        Cell::Unreachable => "🔕 Unreachable",
        Cell::Uncovered => "🕳️ Assets uncovered",
        Cell::Paused => "⏸ Paused",
        Cell::Drifted => "⚠️ Drifted",
        Cell::Missing => "❌ Missing",
    }
}

/// Each provider's boundary assets: how many a FirewallPolicy covers and the uncovered ones,
/// or why they could not be listed. Nothing when no provider lists its assets.
fn assets_section(a: &super::Assessment, out: &mut String) {
    let listed: Vec<(&str, &crate::api::InventoryStatus)> = a
        .coverage
        .iter()
        .filter_map(|c| Some((c.provider.as_str(), c.assets.as_ref()?)))
        .collect();
    if listed.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n## Boundary assets\n\n| Provider | Covered | Uncovered |\n|---|---|---|"
    );
    for (provider, i) in listed {
        let (covered, uncovered) = match (i.total, i.covered) {
            (Some(t), Some(c)) if i.read() => {
                let mut names: Vec<String> =
                    i.uncovered.iter().map(|u| cell_text(&u.label())).collect();
                let more = t.saturating_sub(c) as usize;
                if more > names.len() {
                    names.push(format!("and {} more", more - names.len()));
                }
                (format!("{c} of {t}"), names.join(", "))
            }
            _ => (
                format!(
                    "❔ unknown ({})",
                    cell_text(i.reason.as_deref().unwrap_or("not read"))
                ),
                String::new(),
            ),
        };
        let _ = writeln!(out, "| {provider} | {covered} | {uncovered} |");
    }
}

/// The endpoint managers in scope: each one's pass ratio, and the failing hosts (excepted or
/// not). Nothing when no endpoint FirewallPolicy is in scope.
fn endpoints_section(a: &super::Assessment, out: &mut String) {
    if a.endpoints.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n## Endpoint firewalls\n\n| Provider | Type | State | Hosts passing | Failing | Excepted | Unchecked |\n|---|---|---|---|---|---|---|"
    );
    for r in &a.endpoints {
        let unchecked = match &r.hosts_unlisted {
            Some(_) => "unknown (hosts not listed)".to_string(),
            None => r.unchecked.to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}/{} | {} | {} | {unchecked} |",
            r.provider,
            r.provider_type,
            cell(r.state),
            r.passing,
            r.total,
            r.failing,
            r.excepted
        );
    }
    let unchecked: Vec<(&str, &String)> = a
        .endpoints
        .iter()
        .flat_map(|r| r.unchecked_hosts.iter().map(|h| (r.provider.as_str(), h)))
        .collect();
    if !unchecked.is_empty() {
        let _ = writeln!(
            out,
            "\n### Hosts no endpoint policy checks\n\n| Provider | Host |\n|---|---|"
        );
        for (provider, h) in &unchecked {
            let _ = writeln!(out, "| {provider} | {} |", cell_text(h));
        }
        let more: u64 = a
            .endpoints
            .iter()
            .map(|r| r.unchecked.saturating_sub(r.unchecked_hosts.len() as u64))
            .sum();
        if more > 0 {
            let _ = writeln!(
                out,
                "\nand {more} more (see the account's status.inventory)."
            );
        }
    }
    let listed: Vec<(&str, &super::endpoints::FailingHost)> = a
        .endpoints
        .iter()
        .flat_map(|r| r.hosts.iter().map(|h| (r.provider.as_str(), h)))
        .collect();
    if listed.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n### Failing hosts\n\n| Provider | Host | Platform | Last seen | Excepted |\n|---|---|---|---|---|"
    );
    for (provider, h) in listed {
        let excepted = match h.excepted_until.as_deref() {
            None => "no".to_string(),
            Some("") => "yes".to_string(),
            Some(t) => format!("until {}", cell_text(t)),
        };
        let _ = writeln!(
            out,
            "| {provider} | {} | {} | {} | {excepted} |",
            cell_text(&h.host),
            cell_text(&h.platform),
            cell_text(if h.last_seen.is_empty() {
                "never"
            } else {
                &h.last_seen
            }),
        );
    }
    let more: u64 = a
        .endpoints
        .iter()
        .map(|r| (r.failing + r.excepted).saturating_sub(r.hosts.len() as u64))
        .sum();
    if more > 0 {
        let _ = writeln!(out, "\nand {more} more (see each policy's status.drift).");
    }
}

/// Markdown for one report. `records_shown` bounds the trail table (newest first).
pub fn markdown(r: &ControlReport, records_shown: usize, out: &mut String) {
    let a = &r.result;
    let _ = writeln!(
        out,
        "# {} network monitoring — {}\n",
        a.control, r.assessment
    );
    let refs: Vec<String> = r
        .frameworks
        .iter()
        .map(|f| format!("{} {}", f.name, f.reference))
        .collect();
    let _ = writeln!(out, "Cross-references: {}.\n", refs.join("; "));
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Evaluated | {} |", a.evaluated_at);
    let _ = writeln!(out, "| State | **{}** |", a.state);
    let _ = writeln!(
        out,
        "| Requirements satisfied | {}/{} |",
        a.satisfied, a.total
    );
    let _ = writeln!(
        out,
        "| Maturity | {} ({}) |",
        a.maturity.level, a.maturity.name
    );
    let _ = writeln!(out, "\nMaturity rule: {}\n", a.maturity.rule);

    let _ = writeln!(out, "## Requirements\n");
    let _ = writeln!(out, "| Requirement | State | Detail |\n|---|---|---|");
    for q in &a.requirements {
        let _ = writeln!(
            out,
            "| {} — {} | {:?} | {} |",
            q.requirement,
            q.requirement.describe(),
            q.state,
            q.message.replace('|', "\\|")
        );
    }

    let _ = writeln!(out, "\n## Coverage per provider\n");
    if a.coverage.is_empty() {
        let _ = writeln!(out, "No CloudProvider in scope.");
    } else {
        let _ = writeln!(
            out,
            "| Provider | Type | Firewall | Monitoring | Alerting | In words |\n|---|---|---|---|---|---|"
        );
        for c in &a.coverage {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                c.provider,
                c.provider_type,
                cell(c.firewall),
                cell(c.monitoring),
                cell(c.alerting),
                super::summary(c)
            );
        }
    }

    assets_section(a, out);
    endpoints_section(a, out);

    if a.coverage.iter().any(|c| !c.routes.is_empty()) || !a.own_routes.is_empty() {
        let _ = writeln!(
            out,
            "\n## Alert routes\n\n| Provider | Route | Reaches | State |\n|---|---|---|---|"
        );
        let own = a.own_routes.iter().map(|r| ("Perimeter (Alertmanager)", r));
        let of_providers = a
            .coverage
            .iter()
            .flat_map(|c| c.routes.iter().map(|r| (c.provider.as_str(), r)));
        for (provider, r) in of_providers.chain(own) {
            let why = r.why.as_deref().map(cell_text).unwrap_or_default();
            let state = match r.state {
                super::routing::ReachState::Live => "✅ live".to_string(),
                super::routing::ReachState::Unverifiable => format!("❓ {why}"),
                super::routing::ReachState::Dead => format!("🔕 {why}"),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {state} |",
                provider,
                cell_text(&r.route),
                cell_text(&r.reaches)
            );
        }
    }

    let _ = writeln!(out, "\n## Gaps ({})\n", a.gaps.len());
    if a.gaps.is_empty() {
        let _ = writeln!(out, "None.");
    }
    for g in &a.gaps {
        let _ = writeln!(
            out,
            "- **{}** ({:?}) — {}: {}",
            g.requirement, g.state, g.subject, g.action
        );
    }

    let v = &r.verification;
    let _ = writeln!(out, "\n## Evidence\n");
    let _ = writeln!(
        out,
        "Store: {}. Records kept: {}{}. Chain: {}.",
        r.evidence_store,
        v.records,
        match (v.first_seq, v.last_seq) {
            (Some(f), Some(l)) => format!(" (#{f}–#{l})"),
            _ => String::new(),
        },
        if v.ok() {
            "intact".to_string()
        } else {
            format!("**{} problem(s)**", v.problems.len())
        }
    );
    for p in &v.problems {
        let _ = writeln!(out, "- {} at #{}: {}", p.kind, p.seq, p.message);
    }
    if let Some(h) = &v.head {
        let _ = writeln!(out, "\nHead: `{h}`");
    }
    let _ = writeln!(
        out,
        "\nVerify an export: `perimeter report --format json > report.json && perimeter evidence verify report.json`\n"
    );
    if !r.evidence.records.is_empty() {
        let _ = writeln!(
            out,
            "| # | Recorded | State | Observations | Digest |\n|---|---|---|---|---|"
        );
        for rec in r.evidence.records.iter().rev().take(records_shown) {
            let _ = writeln!(
                out,
                "| {} | {} | {:?} | {} | `{}` |",
                rec.seq,
                rec.recorded_at,
                rec.state,
                rec.observations.len(),
                short(&rec.digest)
            );
        }
        if let Some(head) = r.evidence.head() {
            let _ = writeln!(out, "\nObserved for #{}:\n", head.seq);
            for o in &head.observations {
                let _ = writeln!(
                    out,
                    "- {} — {} via {}{}{}: {} `{}`",
                    o.subject,
                    if o.provider.is_empty() {
                        "-"
                    } else {
                        &o.provider
                    },
                    o.api,
                    o.observed_at
                        .as_deref()
                        .map(|t| format!(" at {t}"))
                        .unwrap_or_default(),
                    o.revision
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default(),
                    o.result,
                    short(&o.digest)
                );
                for change in &o.changes {
                    let _ = writeln!(out, "  - {}", cell_text(change));
                }
            }
        }
    }
}

fn short(d: &str) -> &str {
    d.get(..19).unwrap_or(d)
}

/// Provider text inside a Markdown table cell: a `|` would end the cell, a line break the row.
fn cell_text(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}
