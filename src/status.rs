//! Builds policy status from a sync outcome — pure, so the transition rules are table-tested.
//!
//! Conditions (Kubernetes API conventions; `lastTransitionTime` moves only when the
//! condition's status changes):
//! - `Synced`: the last sync read the provider (and, in Enforce mode, wrote it) without error.
//! - `InSync`: the provider matches the policy. `Unknown` when it could not be read.
//! - `Ready`: both of the above; what `kubectl wait --for=condition=Ready` waits for.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{DriftEntry, FindingEntry, Mode, PolicyStatus};
use crate::core::attribution::Attributions;
use crate::error::Category;
use crate::reconcile::SyncOutcome;

/// Status holds at most this many drift entries; `driftCount` has the full number.
pub const MAX_DRIFT_ENTRIES: usize = 50;
const MAX_FINDINGS: usize = 50;
/// Status holds at most this many alert routes, and as many alert channels.
const MAX_ROUTES: usize = 50;

/// Why the controller did not sync with the provider at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    pub reason: &'static str,
    pub message: String,
}

impl Blocked {
    pub fn new(category: Category, message: impl Into<String>) -> Self {
        Self {
            reason: category.reason(),
            message: message.into(),
        }
    }

    pub fn paused() -> Self {
        Self {
            reason: "Paused",
            message: "spec.paused is true: the provider is neither read nor written".into(),
        }
    }
}

fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time: now.clone(),
    }
}

/// Keeps the previous `lastTransitionTime` when the condition's status did not change.
fn carry_transition(new: &mut [Condition], previous: &[Condition]) {
    for c in new.iter_mut() {
        if let Some(old) = previous.iter().find(|o| o.type_ == c.type_)
            && old.status == c.status
        {
            c.last_transition_time = old.last_transition_time.clone();
        }
    }
}

/// Drift as status, `check` and `demo` show it: one entry per drifted field, with who
/// changed it where the audit log says.
pub fn drift_entries(d: &crate::core::Diff, by: Option<&Attributions>) -> Vec<DriftEntry> {
    d.drift
        .iter()
        .map(|x| {
            let who = by.and_then(|a| a.get(&x.path));
            DriftEntry {
                field: x.path.clone(),
                kind: x.kind.as_str().to_string(),
                desired: x.desired.clone(),
                observed: x.observed.clone(),
                changed_by: who.map(|w| w.by.clone()),
                changed_at: who.map(|w| w.at.clone()),
            }
        })
        .collect()
}

/// One drift entry as `check` and `demo` print it: `~ settings[ssl] [Changed]: desired
/// strict, observed full — changed by dana@example.com via UI at 2026-11-30T05:00:00Z`.
pub fn drift_line(d: &DriftEntry) -> String {
    let mut line = format!(
        "~ {} [{}]: desired {}, observed {}",
        d.field,
        d.kind,
        d.desired.as_deref().unwrap_or("(absent)"),
        d.observed.as_deref().unwrap_or("(absent)")
    );
    if let Some(changed) = d.changed() {
        line.push_str(" — ");
        line.push_str(&changed);
    }
    line
}

/// The `DriftDetected` Event's message when `new` lists drifted fields that `previous` did
/// not (once per new drift, not at every sync): the new fields, each with who changed it
/// where the audit log says. `None` when nothing new drifted.
pub fn new_drift_message(previous: Option<&PolicyStatus>, new: &PolicyStatus) -> Option<String> {
    let known = |field: &str| previous.is_some_and(|p| p.drift.iter().any(|d| d.field == field));
    let fresh: Vec<&DriftEntry> = new.drift.iter().filter(|d| !known(&d.field)).collect();
    if fresh.is_empty() {
        return None;
    }
    let shown: Vec<String> = fresh
        .iter()
        .take(5)
        .map(|d| {
            let changed = d.changed().unwrap_or_else(|| "unattributed".into());
            format!("{} [{}] {changed}", d.field, d.kind)
        })
        .collect();
    let more = if fresh.len() > 5 {
        format!("; and {} more", fresh.len() - 5)
    } else {
        String::new()
    };
    Some(format!(
        "{} field(s) newly drifted: {}{more}",
        fresh.len(),
        shown.join("; ")
    ))
}

/// Status after a sync that reached the provider.
pub fn from_outcome(
    previous: Option<&PolicyStatus>,
    generation: Option<i64>,
    mode: Mode,
    outcome: &SyncOutcome,
    now: &Time,
) -> PolicyStatus {
    let remaining = outcome.remaining.as_ref();
    let drift_count = outcome.drift_count();
    let (synced, synced_reason, synced_msg) = match &outcome.error {
        None => (
            "True",
            "ReconcileSuccess",
            // Constant per mode, so a settled policy's status stays byte-identical; what was
            // changed is in `lastApplied` and in the `Enforced` Event.
            match mode {
                Mode::Enforce => "provider read (Enforce mode: drift is corrected)".to_string(),
                Mode::Observe => "provider read (Observe mode: never writes)".to_string(),
            },
        ),
        Some(e) if remaining.is_none() && !outcome.write_failed => (
            "False",
            e.category.reason(),
            format!("provider could not be read: {e}"),
        ),
        Some(e) => (
            "False",
            "ApplyFailed",
            format!(
                "writing to the provider failed after {} change(s): {e}{}",
                outcome.applied.len(),
                if remaining.is_none() {
                    "; the provider could not be read again, its state is unknown"
                } else {
                    ""
                }
            ),
        ),
    };
    let (in_sync, in_sync_reason, in_sync_msg) = match remaining {
        None => (
            "Unknown",
            "ProviderUnreadable",
            "the provider state is unknown; never assumed compliant".to_string(),
        ),
        Some(d) if d.in_sync() => (
            "True",
            "InSync",
            "the provider matches the policy".to_string(),
        ),
        Some(_) => {
            let why = if mode == Mode::Observe {
                "Observe mode: not enforced"
            } else {
                "not yet corrected"
            };
            let not_enforceable = crate::core::model::NOT_ENFORCEABLE
                .iter()
                .find_map(|code| outcome.findings.iter().find(|f| f.code == *code));
            match not_enforceable {
                // Enforce cannot fix it: say why rather than "not yet corrected".
                Some(f) => (
                    "False",
                    f.code,
                    format!("{drift_count} field(s) drifted: {}", f.message),
                ),
                None => (
                    "False",
                    "Drifted",
                    format!("{drift_count} field(s) drifted ({why})"),
                ),
            }
        }
    };
    let (ready, ready_reason, ready_msg) = if synced == "True" && in_sync == "True" {
        ("True", "Ready", "in sync with the provider".to_string())
    } else if in_sync != "True" && in_sync != "Unknown" {
        ("False", in_sync_reason, in_sync_msg.clone())
    } else if synced != "True" {
        ("False", synced_reason, synced_msg.clone())
    } else {
        ("Unknown", in_sync_reason, in_sync_msg.clone())
    };
    let mut conditions = vec![
        condition("Ready", ready, ready_reason, ready_msg, generation, now),
        condition("Synced", synced, synced_reason, synced_msg, generation, now),
        condition(
            "InSync",
            in_sync,
            in_sync_reason,
            in_sync_msg,
            generation,
            now,
        ),
    ];
    if let Some(prev) = previous {
        carry_transition(&mut conditions, &prev.conditions);
    }
    let drift = remaining
        .map(|d| {
            drift_entries(d, outcome.attribution.as_ref())
                .into_iter()
                .take(MAX_DRIFT_ENTRIES)
                .collect()
        })
        .unwrap_or_default();
    let findings = outcome
        .findings
        .iter()
        .take(MAX_FINDINGS)
        .map(|f| FindingEntry {
            code: f.code.to_string(),
            subject: f.subject.clone(),
            message: f.message.clone(),
        })
        .collect();
    let status = PolicyStatus {
        observed_generation: generation,
        conditions,
        drift_count: u32::try_from(drift_count).unwrap_or(u32::MAX),
        attribution: outcome
            .attribution
            .as_ref()
            .filter(|_| drift_count > 0)
            .map(|a| a.summary.clone()),
        drift,
        managed: remaining.map_or(0, |d| d.managed),
        unmanaged: remaining.map_or(0, |d| u32::try_from(d.unmanaged.len()).unwrap_or(u32::MAX)),
        findings,
        // The most recent changes stay listed until the next sync that writes something.
        last_applied: if outcome.applied.is_empty() {
            previous.map(|p| p.last_applied.clone()).unwrap_or_default()
        } else {
            outcome.applied.clone()
        },
        observed_revision: outcome.revision.clone(),
        alert_routes: outcome
            .alerting
            .routes
            .iter()
            .take(MAX_ROUTES)
            .cloned()
            .collect(),
        alert_channels: outcome
            .alerting
            .channels
            .iter()
            .take(MAX_ROUTES)
            .cloned()
            .collect(),
        address_sets: outcome.address_sets.clone(),
        last_sync_time: None,
    };
    stamp(previous, status, now)
}

/// Status when the sync did not reach the provider (invalid spec, missing provider, paused…).
/// Drift details from the last successful read are kept; compliance becomes Unknown.
pub fn blocked(
    previous: Option<&PolicyStatus>,
    generation: Option<i64>,
    why: &Blocked,
    now: &Time,
) -> PolicyStatus {
    let paused = why.reason == "Paused";
    let mut conditions = vec![
        condition(
            "Ready",
            "False",
            why.reason,
            why.message.clone(),
            generation,
            now,
        ),
        condition(
            "Synced",
            "False",
            why.reason,
            why.message.clone(),
            generation,
            now,
        ),
        condition(
            "InSync",
            "Unknown",
            if paused { "Paused" } else { "NotChecked" },
            "the provider was not read".to_string(),
            generation,
            now,
        ),
    ];
    let mut status = previous.cloned().unwrap_or_default();
    if let Some(prev) = previous {
        carry_transition(&mut conditions, &prev.conditions);
    }
    status.observed_generation = generation;
    status.conditions = conditions;
    let last = status.last_sync_time.take();
    let mut out = stamp(previous, status, now);
    out.last_sync_time = last;
    out
}

/// Sets `lastSyncTime` only when something else changed, so an unchanged sync writes nothing.
fn stamp(previous: Option<&PolicyStatus>, mut status: PolicyStatus, now: &Time) -> PolicyStatus {
    match previous {
        Some(prev) if same_apart_from_time(prev, &status) => {
            status.last_sync_time = prev.last_sync_time.clone()
        }
        _ => status.last_sync_time = Some(now.0.to_string()),
    }
    status
}

fn same_apart_from_time(a: &PolicyStatus, b: &PolicyStatus) -> bool {
    let strip = |s: &PolicyStatus| PolicyStatus {
        last_sync_time: None,
        ..s.clone()
    };
    strip(a) == strip(b)
}

/// Whether writing `new` over `previous` would change anything. An unchanged status is
/// never written: each write wakes every watcher, and fleets have thousands of policies.
pub fn needs_write(previous: Option<&PolicyStatus>, new: &PolicyStatus) -> bool {
    previous != Some(new)
}

/// The condition of a type, for Events and printing.
pub fn get<'a>(status: &'a PolicyStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Diff, Drift, DriftKind};
    use crate::error::ProviderError;

    fn t(s: &str) -> Time {
        Time(s.parse().expect("timestamp"))
    }

    fn drifted(n: usize) -> Diff {
        Diff {
            drift: (0..n)
                .map(|i| Drift {
                    path: format!("f{i}"),
                    kind: DriftKind::Changed,
                    desired: Some("a".into()),
                    observed: Some("b".into()),
                })
                .collect(),
            ..Diff::default()
        }
    }

    fn outcome(remaining: Option<Diff>, error: Option<Category>) -> SyncOutcome {
        SyncOutcome {
            found: remaining.clone(),
            remaining,
            error: error.map(|c| ProviderError::new(c, "op", "failed")),
            ..SyncOutcome::default()
        }
    }

    fn conds(s: &PolicyStatus) -> Vec<(String, String, String)> {
        s.conditions
            .iter()
            .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
            .collect()
    }

    fn triple(
        ready: (&str, &str),
        synced: (&str, &str),
        in_sync: (&str, &str),
    ) -> Vec<(String, String, String)> {
        [("Ready", ready), ("Synced", synced), ("InSync", in_sync)]
            .iter()
            .map(|(t, (s, r))| (t.to_string(), s.to_string(), r.to_string()))
            .collect()
    }

    /// A plan that does not allow what is declared is named as the reason, with the
    /// provider's words, in Observe and Enforce alike.
    #[test]
    fn a_plan_that_cannot_do_it_is_the_reason() {
        for mode in [Mode::Observe, Mode::Enforce] {
            let mut o = outcome(Some(drifted(1)), None);
            o.findings.push(crate::providers::Finding {
                code: crate::core::model::NOT_ENTITLED,
                subject: "networkRestrictions".into(),
                message: "the plan does not allow network restrictions".into(),
            });
            let s = from_outcome(None, Some(1), mode, &o, &t("2026-01-01T00:00:00Z"));
            assert_eq!(
                conds(&s),
                triple(
                    ("False", "NotEntitled"),
                    ("True", "ReconcileSuccess"),
                    ("False", "NotEntitled"),
                )
            );
            let in_sync = get(&s, "InSync").expect("InSync");
            assert_eq!(
                in_sync.message,
                "1 field(s) drifted: the plan does not allow network restrictions"
            );
        }
    }

    /// A service that must be healthy and is not: Enforce cannot heal it, so that is the
    /// reason, never "not yet corrected"; a plan that cannot do it comes first.
    #[test]
    fn an_unhealthy_service_is_the_reason_and_the_plan_comes_first() {
        let unhealthy = crate::providers::Finding {
            code: crate::core::model::SERVICE_UNHEALTHY,
            subject: "serviceHealth[storage]".into(),
            message: "storage is UNHEALTHY".into(),
        };
        let mut o = outcome(Some(drifted(1)), None);
        o.findings.push(unhealthy);
        let s = from_outcome(None, Some(1), Mode::Enforce, &o, &t("2026-01-01T00:00:00Z"));
        let in_sync = get(&s, "InSync").expect("InSync");
        assert_eq!(
            (in_sync.reason.as_str(), in_sync.message.as_str()),
            (
                "ServiceUnhealthy",
                "1 field(s) drifted: storage is UNHEALTHY"
            )
        );
        o.findings.push(crate::providers::Finding {
            code: crate::core::model::NOT_ENTITLED,
            subject: "networkRestrictions".into(),
            message: "the plan does not allow network restrictions".into(),
        });
        let s = from_outcome(None, Some(1), Mode::Enforce, &o, &t("2026-01-01T00:00:00Z"));
        assert_eq!(
            get(&s, "InSync").map(|c| c.reason.as_str()),
            Some("NotEntitled")
        );
    }

    #[test]
    fn condition_table() {
        let cases = [
            (
                "in sync",
                Mode::Observe,
                outcome(Some(Diff::default()), None),
                triple(
                    ("True", "Ready"),
                    ("True", "ReconcileSuccess"),
                    ("True", "InSync"),
                ),
            ),
            (
                "drifted in Observe",
                Mode::Observe,
                outcome(Some(drifted(2)), None),
                triple(
                    ("False", "Drifted"),
                    ("True", "ReconcileSuccess"),
                    ("False", "Drifted"),
                ),
            ),
            (
                "throttled read is unknown, never in sync",
                Mode::Observe,
                outcome(None, Some(Category::Throttled)),
                triple(
                    ("False", "Throttled"),
                    ("False", "Throttled"),
                    ("Unknown", "ProviderUnreadable"),
                ),
            ),
            (
                "malformed answer is unknown",
                Mode::Enforce,
                outcome(None, Some(Category::BadResponse)),
                triple(
                    ("False", "BadResponse"),
                    ("False", "BadResponse"),
                    ("Unknown", "ProviderUnreadable"),
                ),
            ),
            (
                "write refused leaves drift and says so",
                Mode::Enforce,
                outcome(Some(drifted(1)), Some(Category::WriteRejected)),
                triple(
                    ("False", "Drifted"),
                    ("False", "ApplyFailed"),
                    ("False", "Drifted"),
                ),
            ),
        ];
        let now = t("2026-11-28T10:00:00Z");
        for (name, mode, out, want) in cases {
            let s = from_outcome(None, Some(3), mode, &out, &now);
            assert_eq!(conds(&s), want, "{name}");
            assert!(
                s.conditions
                    .iter()
                    .all(|c| c.observed_generation == Some(3)),
                "{name}"
            );
            assert_eq!(s.observed_generation, Some(3));
        }
    }

    #[test]
    fn transition_time_moves_only_on_a_real_transition() {
        let first = from_outcome(
            None,
            Some(1),
            Mode::Observe,
            &outcome(Some(drifted(1)), None),
            &t("2026-11-28T10:00:00Z"),
        );
        let again = from_outcome(
            Some(&first),
            Some(1),
            Mode::Observe,
            &outcome(Some(drifted(1)), None),
            &t("2026-11-28T10:05:00Z"),
        );
        assert_eq!(
            again, first,
            "an identical sync yields an identical status (nothing to write)"
        );
        assert!(!needs_write(Some(&first), &again));
        let fixed = from_outcome(
            Some(&again),
            Some(1),
            Mode::Observe,
            &outcome(Some(Diff::default()), None),
            &t("2026-11-28T10:10:00Z"),
        );
        let ready = get(&fixed, "Ready").expect("ready");
        assert_eq!(ready.last_transition_time, t("2026-11-28T10:10:00Z"));
        let synced = get(&fixed, "Synced").expect("synced");
        assert_eq!(
            synced.last_transition_time,
            t("2026-11-28T10:00:00Z"),
            "Synced stayed True"
        );
        assert!(needs_write(Some(&again), &fixed));
    }

    fn attributed(paths: &[&str], by: &str) -> crate::core::attribution::Attributions {
        crate::core::attribution::Attributions {
            by_path: paths
                .iter()
                .map(|p| {
                    (
                        p.to_string(),
                        crate::core::attribution::Attribution {
                            by: by.into(),
                            at: "2026-11-28T09:00:00Z".into(),
                            perimeter: false,
                            whole_section: false,
                        },
                    )
                })
                .collect(),
            summary: "1 of 2 drifted field(s) attributed from the log (last 7 days)".into(),
            kept: true,
        }
    }

    /// Status carries who changed each attributed field and where that comes from; the
    /// summary goes when the drift does (a settled policy's status stays the same).
    #[test]
    fn drift_entries_carry_their_attribution_while_drift_lasts() {
        let mut out = outcome(Some(drifted(2)), None);
        out.attribution = Some(attributed(&["f0"], "dana@example.com via UI"));
        let s = from_outcome(None, None, Mode::Observe, &out, &t("2026-11-28T10:00:00Z"));
        assert_eq!(
            s.drift[0].changed_by.as_deref(),
            Some("dana@example.com via UI")
        );
        assert_eq!(
            s.drift[0].changed_at.as_deref(),
            Some("2026-11-28T09:00:00Z")
        );
        assert_eq!(s.drift[1].changed_by, None);
        assert_eq!(
            s.attribution.as_deref(),
            Some("1 of 2 drifted field(s) attributed from the log (last 7 days)")
        );
        assert_eq!(
            drift_line(&s.drift[0]),
            "~ f0 [Changed]: desired a, observed b — changed by dana@example.com via UI at 2026-11-28T09:00:00Z"
        );
        assert_eq!(
            drift_line(&s.drift[1]),
            "~ f1 [Changed]: desired a, observed b"
        );
        // Enforced: found drift was attributed, none remains, so neither does the summary.
        let mut fixed = outcome(Some(Diff::default()), None);
        fixed.found = Some(drifted(2));
        fixed.attribution = out.attribution.clone();
        let s = from_outcome(
            None,
            None,
            Mode::Enforce,
            &fixed,
            &t("2026-11-28T10:00:00Z"),
        );
        assert_eq!(s.attribution, None);
    }

    /// `DriftDetected` names only fields that were not drifted before, once.
    #[test]
    fn new_drift_messages_name_only_new_fields() {
        let mut out = outcome(Some(drifted(2)), None);
        out.attribution = Some(attributed(&["f1"], "marc@example.com via UI"));
        let now = t("2026-11-28T10:00:00Z");
        let first = from_outcome(None, None, Mode::Observe, &out, &now);
        assert_eq!(
            new_drift_message(None, &first).as_deref(),
            Some(
                "2 field(s) newly drifted: f0 [Changed] unattributed; f1 [Changed] changed by marc@example.com via UI at 2026-11-28T09:00:00Z"
            )
        );
        let again = from_outcome(Some(&first), None, Mode::Observe, &out, &now);
        assert_eq!(new_drift_message(Some(&first), &again), None);
        let more = from_outcome(
            Some(&again),
            None,
            Mode::Observe,
            &outcome(Some(drifted(8)), None),
            &now,
        );
        assert_eq!(
            new_drift_message(Some(&again), &more).as_deref(),
            Some(
                "6 field(s) newly drifted: f2 [Changed] unattributed; f3 [Changed] unattributed; f4 [Changed] unattributed; f5 [Changed] unattributed; f6 [Changed] unattributed; and 1 more"
            )
        );
    }

    #[test]
    fn drift_entries_are_capped_but_counted() {
        let s = from_outcome(
            None,
            None,
            Mode::Observe,
            &outcome(Some(drifted(80)), None),
            &t("2026-11-28T10:00:00Z"),
        );
        assert_eq!(s.drift.len(), MAX_DRIFT_ENTRIES);
        assert_eq!(s.drift_count, 80);
    }

    #[test]
    fn blocked_keeps_last_drift_but_drops_compliance() {
        let now = t("2026-11-28T10:00:00Z");
        let first = from_outcome(
            None,
            Some(1),
            Mode::Observe,
            &outcome(Some(drifted(2)), None),
            &now,
        );
        let b = blocked(
            Some(&first),
            Some(2),
            &Blocked::new(Category::InvalidSpec, "bad cidr"),
            &t("2026-11-28T11:00:00Z"),
        );
        assert_eq!(
            conds(&b),
            triple(
                ("False", "InvalidSpec"),
                ("False", "InvalidSpec"),
                ("Unknown", "NotChecked")
            )
        );
        assert_eq!(b.drift_count, 2);
        assert_eq!(
            b.last_sync_time, first.last_sync_time,
            "no successful read happened"
        );
        assert_eq!(b.observed_generation, Some(2));
    }

    /// The routes and channels of a read reach the status, bounded; a status written after
    /// a failed read names none (the facts are from no read).
    #[test]
    fn alert_routes_and_channels_of_a_read_are_in_status_bounded() {
        use crate::core::routing::{AlertRoute, ChannelCheck, SlackChannelRef};
        let mut o = outcome(Some(drifted(0)), None);
        o.alerting.routes = (0..60)
            .map(|i| AlertRoute {
                route: format!("escalation policy 'p{i}' step 1"),
                slack: Some(SlackChannelRef {
                    team: Some("T1".into()),
                    channel: "C1".into(),
                }),
                other: None,
                problem: None,
            })
            .collect();
        o.alerting.channels = vec![ChannelCheck {
            team: "T1".into(),
            id: "C1".into(),
            name: "alerts".into(),
            live: false,
            reason: Some("archived".into()),
        }];
        let s = from_outcome(None, Some(1), Mode::Observe, &o, &t("2026-01-01T00:00:00Z"));
        assert_eq!(s.alert_routes.len(), MAX_ROUTES);
        assert_eq!(s.alert_routes[0].route, "escalation policy 'p0' step 1");
        assert_eq!(s.alert_channels, o.alerting.channels);
        let json = serde_json::to_value(&s).unwrap_or_default();
        assert_eq!(json["alertChannels"][0]["reason"], "archived");
        assert_eq!(json["alertRoutes"][0]["slack"]["channel"], "C1");

        let failed = from_outcome(
            Some(&s),
            Some(1),
            Mode::Observe,
            &outcome(None, Some(Category::Timeout)),
            &t("2026-01-01T00:05:00Z"),
        );
        assert!(failed.alert_routes.is_empty() && failed.alert_channels.is_empty());
    }
}
