//! Builds a ControlAssessment's status and the Events of its changes from an evaluation —
//! pure, so the controller only writes what these return.
//!
//! The status is small and free of timestamps that move without a change, so an unchanged
//! result writes nothing; `Ready`'s `lastTransitionTime` moves only when its status changes.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::evidence::{Record, Trail};
use super::report::ControlReport;
use super::{Assessment, ImplementationState, MAX_STATUS_GAPS};
use crate::api::compliance::{
    ControlAssessment, ControlAssessmentStatus, CoverageRow, EvidenceHead, GapStatus,
    MaturityStatus, RequirementStatus,
};
use crate::error::Category;

/// The Event for a change of the implementation state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateChange {
    pub reason: &'static str,
    /// The state got worse: a Warning, else a Normal Event.
    pub warning: bool,
}

/// The Event for a change of the implementation state: a Warning when it got worse, Normal
/// when it got better (`ComplianceImplemented` once it is implemented).
pub fn state_event(previous: &str, new: ImplementationState) -> Option<StateChange> {
    use ImplementationState::*;
    let rank = |s: ImplementationState| match s {
        NotImplemented => 0,
        PartiallyImplemented => 1,
        Implemented => 2,
    };
    let old = ImplementationState::ALL
        .into_iter()
        .find(|s| format!("{s:?}") == previous)?;
    let (reason, warning) = match rank(new).cmp(&rank(old)) {
        std::cmp::Ordering::Less => ("ComplianceRegressed", true),
        std::cmp::Ordering::Equal => return None,
        _ if new == Implemented => ("ComplianceImplemented", false),
        _ => ("ComplianceImproved", false),
    };
    Some(StateChange { reason, warning })
}

/// The note of a state-change Event: the result and the evidence record behind it.
pub fn state_note(result: &Assessment, head: Option<&Record>) -> String {
    format!(
        "{} is {} ({}/{}); evidence #{} {}",
        result.control,
        result.state,
        result.satisfied,
        result.total,
        head.map_or(0, |h| h.seq),
        head.map_or("", |h| h.digest.as_str())
    )
}

/// The `Ready` condition, keeping the previous transition time while its status holds.
pub fn ready_condition(
    previous: Option<&ControlAssessmentStatus>,
    status: &str,
    reason: &str,
    message: String,
    generation: Option<i64>,
) -> Condition {
    let carried = previous
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .filter(|c| c.status == status)
        .map(|c| c.last_transition_time.clone());
    Condition {
        type_: "Ready".into(),
        status: status.into(),
        reason: reason.into(),
        message,
        observed_generation: generation,
        last_transition_time: carried.unwrap_or_else(|| Time(Timestamp::now())),
    }
}

/// The status of a stored assessment that does not parse: `Ready=False/InvalidSpec` naming
/// the field, and nothing else. `None` when the stored status says so already, so it is
/// reported once per change.
pub fn invalid_status(
    previous: Option<&ControlAssessmentStatus>,
    message: String,
    generation: Option<i64>,
) -> Option<ControlAssessmentStatus> {
    let condition = ready_condition(
        previous,
        "False",
        Category::InvalidSpec.reason(),
        message.clone(),
        generation,
    );
    let unchanged = previous.is_some_and(|p| {
        p.conditions.iter().any(|c| {
            c.type_ == "Ready"
                && c.reason == condition.reason
                && c.message == message
                && c.observed_generation == generation
        })
    });
    if unchanged {
        return None;
    }
    Some(ControlAssessmentStatus {
        observed_generation: generation,
        conditions: vec![condition],
        ..ControlAssessmentStatus::default()
    })
}

/// The status while evidence cannot be written: the last result kept, not Ready.
pub fn held_status(
    obj: &ControlAssessment,
    reason: &str,
    message: String,
) -> ControlAssessmentStatus {
    let generation = obj.metadata.generation;
    ControlAssessmentStatus {
        observed_generation: generation,
        conditions: vec![ready_condition(
            obj.status.as_ref(),
            "False",
            reason,
            message,
            generation,
        )],
        ..obj.status.clone().unwrap_or_default()
    }
}

/// The status for a report: small and free of timestamps that move without a change, so an
/// unchanged result writes nothing.
pub fn status_from(
    obj: &ControlAssessment,
    report: &ControlReport,
    trail: &Trail,
    store: &str,
) -> ControlAssessmentStatus {
    let a = &report.result;
    let generation = obj.metadata.generation;
    let (ready, reason) = match a.state {
        ImplementationState::Implemented => ("True", "Implemented"),
        ImplementationState::PartiallyImplemented => ("False", "PartiallyImplemented"),
        ImplementationState::NotImplemented => ("False", "NotImplemented"),
    };
    let message = format!(
        "{} {}: {}/{} requirements satisfied, maturity {} ({}), {} gap(s)",
        a.control,
        a.state,
        a.satisfied,
        a.total,
        a.maturity.level,
        a.maturity.name,
        a.gaps.len()
    );
    ControlAssessmentStatus {
        observed_generation: generation,
        conditions: vec![ready_condition(
            obj.status.as_ref(),
            ready,
            reason,
            message,
            generation,
        )],
        state: Some(format!("{:?}", a.state)),
        score: Some(format!("{}/{}", a.satisfied, a.total)),
        maturity: Some(MaturityStatus {
            level: a.maturity.level,
            name: a.maturity.name.clone(),
            rule: a.maturity.rule.clone(),
        }),
        requirements: a
            .requirements
            .iter()
            .map(|r| RequirementStatus {
                id: r.requirement.to_string(),
                state: format!("{:?}", r.state),
                message: r.message.clone(),
            })
            .collect(),
        coverage: a
            .coverage
            .iter()
            .map(|c| CoverageRow {
                provider: c.provider.clone(),
                provider_type: c.provider_type.to_string(),
                firewall: format!("{:?}", c.firewall),
                monitoring: format!("{:?}", c.monitoring),
                alerting: format!("{:?}", c.alerting),
                summary: super::summary(c),
            })
            .collect(),
        gap_count: u32::try_from(a.gaps.len()).unwrap_or(u32::MAX),
        gaps: a
            .gaps
            .iter()
            .take(MAX_STATUS_GAPS)
            .map(|g| GapStatus {
                requirement: g.requirement.to_string(),
                subject: g.subject.clone(),
                action: g.action.clone(),
            })
            .collect(),
        evidence: trail.head().map(|h| EvidenceHead {
            seq: h.seq,
            digest: h.digest.clone(),
            recorded_at: h.recorded_at.clone(),
            store: store.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_event_per_change_of_state_in_its_direction() {
        use ImplementationState::*;
        let rows = [
            (
                "PartiallyImplemented",
                Implemented,
                Some("ComplianceImplemented"),
            ),
            ("NotImplemented", Implemented, Some("ComplianceImplemented")),
            (
                "NotImplemented",
                PartiallyImplemented,
                Some("ComplianceImproved"),
            ),
            (
                "Implemented",
                PartiallyImplemented,
                Some("ComplianceRegressed"),
            ),
            (
                "PartiallyImplemented",
                NotImplemented,
                Some("ComplianceRegressed"),
            ),
            ("Implemented", Implemented, None),
            ("Whatever", NotImplemented, None),
        ];
        for (previous, new, want) in rows {
            let got = state_event(previous, new);
            assert_eq!(got.map(|c| c.reason), want, "{previous} -> {new}");
            let warning = got.is_some_and(|c| c.warning);
            assert_eq!(
                warning,
                want == Some("ComplianceRegressed"),
                "{previous} -> {new}"
            );
        }
    }

    fn stored(
        ready: &str,
        reason: &str,
        message: &str,
        generation: i64,
    ) -> ControlAssessmentStatus {
        serde_json::from_value(json!({
            "observedGeneration": generation,
            "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": message,
                            "observedGeneration": generation,
                            "lastTransitionTime": "2026-11-28T10:00:00Z"}],
            "state": "Implemented", "score": "4/4"
        }))
        .unwrap_or_else(|e| panic!("status: {e}"))
    }

    fn transition(c: &Condition) -> String {
        c.last_transition_time.0.to_string()
    }

    #[test]
    fn ready_keeps_its_transition_time_while_its_status_holds() {
        let before = stored("True", "Implemented", "", 1);
        let held = ready_condition(Some(&before), "True", "Implemented", "m".into(), Some(2));
        assert_eq!(transition(&held), "2026-11-28T10:00:00Z");
        assert_eq!(held.observed_generation, Some(2));
        let flipped = ready_condition(
            Some(&before),
            "False",
            "NotImplemented",
            "m".into(),
            Some(2),
        );
        assert_ne!(transition(&flipped), "2026-11-28T10:00:00Z");
        // Still not Ready for another reason: no transition.
        let partial = stored("False", "PartiallyImplemented", "", 1);
        let worse = ready_condition(Some(&partial), "False", "NotImplemented", "m".into(), None);
        assert_eq!(transition(&worse), "2026-11-28T10:00:00Z");
        let first = ready_condition(None, "True", "Implemented", "m".into(), Some(1));
        assert_ne!(transition(&first), "2026-11-28T10:00:00Z");
    }

    #[test]
    fn an_invalid_assessment_is_reported_once_per_message_and_generation() {
        let reason = Category::InvalidSpec.reason();
        let message = "spec.evidence.maxRecords: invalid type";
        let fresh =
            invalid_status(None, message.into(), Some(2)).unwrap_or_else(|| panic!("first report"));
        assert_eq!(fresh.observed_generation, Some(2));
        assert_eq!(
            fresh.state, None,
            "no result is claimed for an invalid object"
        );
        let [ready] = fresh.conditions.as_slice() else {
            panic!("one condition: {:?}", fresh.conditions)
        };
        assert_eq!(
            (
                ready.status.as_str(),
                ready.reason.as_str(),
                ready.message.as_str()
            ),
            ("False", reason, message)
        );
        let rows = [
            ("same message and generation", message, 2, false),
            ("another field", "spec.scope: invalid type", 2, true),
            ("a new generation", message, 3, true),
        ];
        let previous = stored("False", reason, message, 2);
        for (name, now, generation, reported) in rows {
            let got = invalid_status(Some(&previous), now.into(), Some(generation));
            assert_eq!(got.is_some(), reported, "{name}");
        }
        // A Ready condition with the message but another reason is not this report.
        let other = stored("False", "EvidenceUnreadable", message, 2);
        assert!(invalid_status(Some(&other), message.into(), Some(2)).is_some());
    }

    #[test]
    fn a_held_assessment_keeps_its_last_result_but_is_not_ready() {
        let obj: ControlAssessment = serde_json::from_value(json!({
            "apiVersion": "perimeter.dev/v1alpha1", "kind": "ControlAssessment",
            "metadata": {"name": "de-cm-1", "generation": 4},
            "spec": {"control": "DE.CM-1"},
            "status": stored("True", "Implemented", "", 3)
        }))
        .unwrap_or_else(|e| panic!("assessment: {e}"));
        let held = held_status(&obj, "EvidenceTampered", "edited".into());
        assert_eq!(held.state.as_deref(), Some("Implemented"));
        assert_eq!(held.score.as_deref(), Some("4/4"));
        assert_eq!(held.observed_generation, Some(4));
        let [ready] = held.conditions.as_slice() else {
            panic!("one condition: {:?}", held.conditions)
        };
        assert_eq!(
            (
                ready.status.as_str(),
                ready.reason.as_str(),
                ready.message.as_str()
            ),
            ("False", "EvidenceTampered", "edited")
        );
    }
}
