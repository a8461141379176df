//! `perimeter report` and `perimeter evidence verify`: the compliance rollup of
//! [`crate::compliance`] fed from a local `check` run (`--manifests`) or from the cluster
//! (`--cluster`, reading what the operator stored), rendered as Markdown or JSON.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use serde::{Deserialize, Serialize};

use crate::api::compliance::{Control, ControlAssessment, ControlAssessmentSpec};
use crate::compliance::evidence::configmap::{ConfigMapStore, evidence_configmap};
use crate::compliance::evidence::{self, Trail};
use crate::compliance::report::{ControlReport, Export};
use crate::compliance::{
    ImplementationState, InSync, PolicyFacts, PolicyKind, ProviderFacts, Snapshot,
};
use crate::local::{PolicyState, Report};
use crate::manifests::{Manifests, namespace_of};

/// Name of the assessment evaluated when the manifests declare none.
pub const DEFAULT_ASSESSMENT: &str = "de-cm-1";

/// A local evidence store: one trail per assessment, in one JSON file.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct EvidenceFile {
    pub assessments: BTreeMap<String, Trail>,
}

impl EvidenceFile {
    pub fn load(path: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| format!("{}: not an evidence file: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Writes atomically (temporary file, then rename), so a crash never leaves half a trail.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The DE.CM-1 assessment used when the manifests declare none (no attestations).
pub fn default_assessment() -> ControlAssessment {
    ControlAssessment::new(
        DEFAULT_ASSESSMENT,
        ControlAssessmentSpec {
            control: Control::DeCm1,
            scope: Default::default(),
            attestations: vec![],
            evidence: Default::default(),
        },
    )
}

/// What the rollup needs, from the manifests and a local run's report.
pub fn snapshot(manifests: &Manifests, report: &Report, now: Timestamp) -> Snapshot {
    let providers = report
        .providers
        .iter()
        .map(|p| ProviderFacts {
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            provider_type: p.provider_type,
            ready: Some(p.readable),
            reason: p.reason.clone(),
            inventory: p.inventory.clone(),
        })
        .collect();
    let observed_at = Some(crate::compliance::rfc3339(now));
    let policies = report
        .policies
        .iter()
        .map(|r| {
            let mut endpoint = false;
            let mut min_passing_percent = None;
            let (kind, paused, alert_routes) =
                if r.kind == "FirewallPolicy" {
                    let m = manifests.firewalls.iter().find(|p| {
                        p.name_any() == r.name && namespace_of(&p.metadata) == r.namespace
                    });
                    endpoint = m.is_some_and(|p| p.spec.fleet.is_some());
                    min_passing_percent = m
                        .and_then(|p| p.spec.fleet.as_ref())
                        .and_then(|f| f.min_passing_percent);
                    (
                        PolicyKind::FirewallPolicy,
                        m.is_some_and(|p| p.spec.controls.paused),
                        0,
                    )
                } else {
                    let m = manifests.monitors.iter().find(|p| {
                        p.name_any() == r.name && namespace_of(&p.metadata) == r.namespace
                    });
                    (
                        PolicyKind::MonitoringPolicy,
                        m.is_some_and(|p| p.spec.controls.paused),
                        m.map_or(0, |p| p.spec.alert_routes()),
                    )
                };
            PolicyFacts {
                kind,
                namespace: r.namespace.clone(),
                name: r.name.clone(),
                provider: r.provider.clone(),
                provider_kind: r.provider_kind,
                mode: r.mode,
                paused,
                in_sync: match r.state {
                    PolicyState::InSync => InSync::True,
                    PolicyState::Drifted => InSync::False,
                    PolicyState::Unknown | PolicyState::Invalid => InSync::Unknown,
                },
                drift_count: u32::try_from(r.drift.len()).unwrap_or(u32::MAX),
                alert_routes,
                observed_at: observed_at.clone(),
                stale: false,
                digest: evidence::digest_of(r),
                not_enforceable: crate::compliance::not_enforceable_of(&r.findings),
                revision: r.revision.clone(),
                routes: r.alert_routes.clone(),
                channels: r.alert_channels.clone(),
                endpoints: endpoint.then(|| {
                    let mut hosts =
                        crate::providers::fleet::model::endpoint_hosts(&r.drift, &r.findings);
                    hosts.min_passing_percent = min_passing_percent;
                    hosts
                }),
                changes: crate::compliance::changes_of(&r.drift_found),
            }
        })
        .collect();
    Snapshot {
        providers,
        policies,
        own_routes: Vec::new(),
    }
}

/// Every assessment of the manifests (or the default one) for a finished local run.
pub fn assess_all(
    manifests: &Manifests,
    report: &Report,
    own_routes: &[crate::core::routing::AlertRoute],
    store: &mut EvidenceFile,
    store_name: &str,
    now: Timestamp,
) -> Export {
    let mut snap = snapshot(manifests, report, now);
    snap.own_routes = own_routes.to_vec();
    let assessments = if manifests.assessments.is_empty() {
        vec![default_assessment()]
    } else {
        manifests.assessments.clone()
    };
    let reports = assessments
        .iter()
        .map(|a| {
            let trail = store.assessments.entry(a.name_any()).or_default();
            crate::compliance::assess(a, &snap, trail, store_name, now).0
        })
        .collect();
    Export {
        generated_at: crate::compliance::rfc3339(now),
        generated_by: format!("perimeter {}", env!("CARGO_PKG_VERSION")),
        reports,
    }
}

/// `perimeter report --cluster`: every ControlAssessment with the result and trail the
/// operator stored, the trail checked against the head digest in the object's status.
pub async fn export_from_cluster(namespace: &str) -> Result<Export, String> {
    let client = Client::try_default()
        .await
        .map_err(|e| format!("connecting to Kubernetes: {e}"))?;
    let assessments: Api<ControlAssessment> = Api::all(client.clone());
    let store = ConfigMapStore::new(client, namespace);
    let list = assessments
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("listing ControlAssessments: {e}"))?;
    let mut reports = Vec::new();
    for a in list.items {
        let mut report = report_of(&a, &store, namespace).await?;
        // The operator writes the trail, then the status: read between the two, the trail's
        // head is one record ahead of the status. Read both again once before reporting it.
        if report
            .verification
            .problems
            .iter()
            .any(|p| p.kind == "HeadMismatch")
        {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let a = assessments
                .get(&a.name_any())
                .await
                .map_err(|e| format!("reading ControlAssessment {}: {e}", a.name_any()))?;
            report = report_of(&a, &store, namespace).await?;
        }
        reports.push(report);
    }
    Ok(Export {
        generated_at: crate::compliance::rfc3339(Timestamp::now()),
        generated_by: format!("perimeter {} (cluster)", env!("CARGO_PKG_VERSION")),
        reports,
    })
}

/// One assessment's stored result and trail, verified against the head in its status.
async fn report_of(
    a: &ControlAssessment,
    store: &ConfigMapStore,
    namespace: &str,
) -> Result<ControlReport, String> {
    let name = a.name_any();
    let location = store.location(&name);
    let stored = store
        .read(&name)
        .await
        .map_err(|e| format!("reading {location}: {e}"))?;
    let contents = stored
        .contents()
        .map_err(|e| format!("{namespace}/{}: {e}", evidence_configmap(&name)))?;
    let Some((trail, result)) = contents else {
        return Err(format!(
            "ControlAssessment {name}: no evidence in {location} yet"
        ));
    };
    let expected = a
        .status
        .as_ref()
        .and_then(|s| s.evidence.as_ref())
        .map(|e| e.digest.clone());
    let retention = crate::compliance::retention_of(&a.spec);
    let verification = trail.verify(retention.heartbeat, expected.as_deref());
    Ok(ControlReport::new(
        &name,
        result,
        location,
        verification,
        trail,
    ))
}

/// 1 when an evidence trail does not verify, else 0 when every assessment is Implemented,
/// else 2.
pub fn exit_code(export: &Export) -> i32 {
    if export.reports.iter().any(|r| !r.verification.ok()) {
        1
    } else if export
        .reports
        .iter()
        .all(|r| r.result.state == ImplementationState::Implemented)
    {
        0
    } else {
        2
    }
}

pub fn markdown(export: &Export, records_shown: usize) -> String {
    let mut out = String::new();
    for r in &export.reports {
        crate::compliance::report::markdown(r, records_shown, &mut out);
        out.push('\n');
    }
    out
}

/// `perimeter evidence verify`: accepts an export (`report --format json`), a local evidence
/// file, or one bare trail. Returns the text to print and whether everything verified.
pub fn verify_text(
    text: &str,
    heartbeat: Duration,
    expected_head: Option<&str>,
) -> Result<(String, bool), String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let trails: Vec<(String, Trail)> = if value.get("reports").is_some() {
        let export: Export = serde_json::from_value(value).map_err(|e| e.to_string())?;
        export
            .reports
            .into_iter()
            .map(|r| (r.assessment, r.evidence))
            .collect()
    } else if value.get("assessments").is_some() {
        let file: EvidenceFile = serde_json::from_value(value).map_err(|e| e.to_string())?;
        file.assessments.into_iter().collect()
    } else if value.get("records").is_some() {
        let t: Trail = serde_json::from_value(value).map_err(|e| e.to_string())?;
        vec![("trail".to_string(), t)]
    } else {
        return Err("expected a report export, an evidence file or a trail".into());
    };
    if trails.is_empty() {
        return Err("no evidence trail in the input".into());
    }
    let mut out = String::new();
    let mut all_ok = true;
    for (name, trail) in trails {
        let v = trail.verify(heartbeat, expected_head);
        all_ok &= v.ok();
        out.push_str(&format!(
            "{name}: {} record(s){} — {}\n",
            v.records,
            match (v.first_seq, v.last_seq) {
                (Some(f), Some(l)) => format!(" #{f}..#{l}"),
                _ => String::new(),
            },
            if v.ok() {
                format!("chain intact, head {}", v.head.as_deref().unwrap_or("-"))
            } else {
                format!("{} problem(s)", v.problems.len())
            }
        ));
        for p in &v.problems {
            out.push_str(&format!("  {} at #{}: {}\n", p.kind, p.seq, p.message));
        }
    }
    Ok((out, all_ok))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_accepts_all_three_shapes_and_catches_an_edit() {
        let mut file = EvidenceFile::default();
        let manifests = Manifests::default();
        let report = Report::default();
        let now: Timestamp = "2026-11-28T12:00:00Z".parse().unwrap_or_default();
        let export = assess_all(&manifests, &report, &[], &mut file, "memory", now);
        let hb = Duration::from_secs(3600);
        let shapes = [
            serde_json::to_string(&export).unwrap_or_default(),
            serde_json::to_string(&file).unwrap_or_default(),
            serde_json::to_string(&file.assessments[DEFAULT_ASSESSMENT]).unwrap_or_default(),
        ];
        for text in &shapes {
            let (out, ok) = verify_text(text, hb, None).unwrap_or_default();
            assert!(ok, "{out}");
            assert!(out.contains("1 record(s) #1..#1 — chain intact"), "{out}");
        }
        let tampered = shapes[0].replace("\"NotImplemented\"", "\"Implemented\"");
        assert_ne!(tampered, shapes[0]);
        let (out, ok) = verify_text(&tampered, hb, None).unwrap_or_default();
        assert!(!ok);
        assert!(out.contains("Tampered at #1"), "{out}");
        assert!(verify_text("{}", hb, None).is_err());
    }
}
