//! Pure mapping between the Trigger.dev API's answers (`GET /api/v1/runs`,
//! `GET /api/v1/errors`), the monitoring block and the neutral model. Two `Settings` sections:
//! `runs` (item `failed`) and `errors` (item `unresolved`), each compared as "at most N" so the
//! drift reads as the limit and what was seen.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::core::normalize::Invalid;
use crate::core::{Item, Section, SectionKind, State};
use crate::http::sanitize;
use crate::providers::triggerdev::api::TriggerdevMonitoring;
use crate::providers::{Finding, Purpose, Scope, Target};

/// Failed runs within the window: item `failed`.
pub const RUNS: &str = "runs";
/// Unresolved error groups: item `unresolved`.
pub const ERRORS: &str = "errors";
pub const FAILED: &str = "failed";
pub const UNRESOLVED: &str = "unresolved";

/// More failed runs in the window than allowed: one finding per task.
pub const RUNS_FAILING: &str = "RunsFailing";
/// More unresolved error groups than allowed: one finding per group, with its id.
pub const ERROR_GROUPS_UNRESOLVED: &str = "ErrorGroupsUnresolved";

/// Every finding code this provider's reads can report.
pub const FINDING_CODES: &[&str] = &[
    RUNS_FAILING,
    ERROR_GROUPS_UNRESOLVED,
    crate::core::model::MANUAL_CHANGE_NEEDED,
];

/// Nothing Trigger.dev's API shows here is configuration Perimeter could write: what a person
/// does about each section's drift.
pub const READ_ONLY: &[(&str, &str)] = &[
    (
        RUNS,
        "failed runs are not configuration: fix the failing tasks (or raise failedRuns.maxFailed); Perimeter only reports them",
    ),
    (
        ERRORS,
        "resolve or ignore the error groups in Trigger.dev (dashboard, or POST /api/v1/errors/{id}/resolve); Perimeter does not triage errors",
    ),
];

/// The run statuses that count as failed.
pub const FAILED_STATUSES: &[&str] = &["FAILED", "CRASHED", "SYSTEM_FAILURE"];

/// What one monitoring target reads. The environment is the secret key's: it travels with the
/// CloudProvider, not with the block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerdevScope {
    /// `(window, max failed, tasks)` when failed runs are read.
    pub failed_runs: Option<(String, u32, Vec<String>)>,
    /// The most unresolved error groups allowed, when error groups are read.
    pub max_unresolved: Option<u32>,
}

impl fmt::Display for TriggerdevScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the secret key's environment")
    }
}

/// "at most N": the value a section has while it is within its limit.
fn within(max: u32) -> String {
    format!("at most {max}")
}

/// The section as observed: the limit while within it, else what was seen.
fn section(name: &str, item: &str, seen: usize, max: u32, more: bool) -> Section {
    let value = if seen <= max as usize {
        within(max)
    } else if more {
        format!("at least {seen}")
    } else {
        seen.to_string()
    };
    Section::new(
        name,
        SectionKind::Settings,
        vec![Item::new(item).field("value", value)],
    )
}

pub fn firewall_target() -> Result<Target, Invalid> {
    Err(Invalid(
        "spec.triggerdev: Trigger.dev's API has no network controls; attest them with a \
         ProviderFirewall attestation in a ControlAssessment"
            .into(),
    ))
}

pub fn monitoring_target(mon: &TriggerdevMonitoring) -> Result<Target, Invalid> {
    let mut state = State::default();
    let failed_runs = match &mon.failed_runs {
        Some(r) => {
            if !PERIOD.is_match(&r.window) {
                return Err(Invalid(format!(
                    "failedRuns.window: {:?} is not a period such as 24h or 7d",
                    sanitize(&r.window, 20)
                )));
            }
            for (i, t) in r.tasks.iter().enumerate() {
                if !TASK.is_match(t) {
                    return Err(Invalid(format!(
                        "failedRuns.tasks[{i}]: {:?} is not a task identifier",
                        sanitize(t, 40)
                    )));
                }
            }
            state.push(Section::new(
                RUNS,
                SectionKind::Settings,
                vec![Item::new(FAILED).field("value", within(r.max_failed))],
            ));
            let mut tasks = r.tasks.clone();
            tasks.sort();
            tasks.dedup();
            Some((r.window.clone(), r.max_failed, tasks))
        }
        None => None,
    };
    let max_unresolved = mon.error_groups.as_ref().map(|e| e.max_unresolved);
    if let Some(max) = max_unresolved {
        state.push(Section::new(
            ERRORS,
            SectionKind::Settings,
            vec![Item::new(UNRESOLVED).field("value", within(max))],
        ));
    }
    Ok(Target {
        purpose: Purpose::Monitoring,
        scope: Scope::new(TriggerdevScope {
            failed_runs,
            max_unresolved,
        }),
        desired: state,
    })
}

/// The schema's patterns, again, for objects that were stored without them; compiled once,
/// not at every sync.
static PERIOD: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(crate::providers::triggerdev::api::PERIOD_PATTERN)
        .expect("a constant pattern")
});
static TASK: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(crate::providers::triggerdev::api::TASK_PATTERN).expect("a constant pattern")
});

fn bad(what: impl Into<String>) -> Invalid {
    Invalid(what.into())
}

/// One page of a list: its items and `pagination.next`.
#[derive(Debug, PartialEq)]
pub struct Page<'a> {
    pub data: &'a [Value],
    pub next: Option<String>,
}

/// A list answer (`{data: [...], pagination: {next, previous}}`), checked; `next` must look
/// like an id of the list (`run_…`, `error_…`), since it goes back into a query.
pub fn page<'a>(answer: &'a Value, prefix: &str) -> Result<Page<'a>, Invalid> {
    let data = match answer.get("data") {
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return Err(bad("data is not a list")),
        None => return Err(bad("the answer has no data list")),
    };
    let next = match answer.get("pagination").and_then(|p| p.get("next")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.starts_with(prefix) && is_id(s) => Some(s.clone()),
        Some(_) => {
            return Err(bad(format!(
                "pagination.next is not an id starting with {prefix}"
            )));
        }
    };
    Ok(Page { data, next })
}

fn is_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn text<'a>(item: &'a Value, key: &str, what: &str) -> Result<&'a str, Invalid> {
    item.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{what} without a string {key}")))
}

/// Failed runs read (all pages), to their section and one `RunsFailing` finding per task when
/// over the limit. `more`: the page bound was hit, so there are at least this many.
pub fn observed_runs(
    runs: &[Value],
    max: u32,
    window: &str,
    more: bool,
) -> Result<(Section, Vec<Finding>), Invalid> {
    // Per task: count, and the newest run (by createdAt, then id) for the message.
    let mut per_task: BTreeMap<String, (usize, String, String)> = BTreeMap::new();
    for run in runs {
        let id = text(run, "id", "a run")?;
        let status = text(run, "status", "a run")?;
        let task = text(run, "taskIdentifier", "a run")?;
        let created = text(run, "createdAt", "a run")?;
        if !FAILED_STATUSES.contains(&status) {
            // The filter asked for failed runs only: anything else is not the answer asked for.
            return Err(bad(format!(
                "a run in status {} answered a filter for failed runs",
                sanitize(status, 20)
            )));
        }
        let entry =
            per_task
                .entry(sanitize(task, 128))
                .or_insert((0, String::new(), String::new()));
        entry.0 += 1;
        let newest = format!("{created} {id}");
        if newest > entry.2 {
            entry.1 = format!("{} {}", sanitize(id, 40), sanitize(status, 20));
            entry.2 = newest;
        }
    }
    let findings = if runs.len() > max as usize {
        per_task
            .iter()
            .map(|(task, (n, latest, _))| Finding {
                code: RUNS_FAILING,
                subject: format!("{RUNS}[{task}]"),
                message: format!(
                    "{n}{} failed run(s) of task {task} in the last {window} (latest {latest}): \
                     fix the task; Perimeter only reports it",
                    if more { "+" } else { "" }
                ),
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok((section(RUNS, FAILED, runs.len(), max, more), findings))
}

/// Unresolved error groups read (all pages), to their section and one
/// `ErrorGroupsUnresolved` finding per group (with Trigger.dev's id) when over the limit.
pub fn observed_errors(
    groups: &[Value],
    max: u32,
    more: bool,
) -> Result<(Section, Vec<Finding>), Invalid> {
    let mut findings = Vec::new();
    let mut unresolved = 0usize;
    for g in groups {
        let id = text(g, "id", "an error group")?;
        let status = text(g, "status", "an error group")?;
        if !matches!(status, "unresolved" | "resolved" | "ignored") {
            return Err(bad(format!(
                "an error group in status {}",
                sanitize(status, 20)
            )));
        }
        if status != "unresolved" {
            continue;
        }
        unresolved += 1;
        let task = text(g, "taskIdentifier", "an error group")?;
        let kind = text(g, "errorType", "an error group")?;
        let message = text(g, "errorMessage", "an error group")?;
        let count = g.get("count").and_then(Value::as_u64).unwrap_or(0);
        let last = g
            .get("lastSeen")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(|t| format!(", last seen {t}"))
            .unwrap_or_default();
        findings.push(Finding {
            code: ERROR_GROUPS_UNRESOLVED,
            subject: format!("{ERRORS}[{}]", sanitize(id, 60)),
            message: format!(
                "{}: {} in task {} ({count} occurrence(s){last}): resolve or ignore it in \
                 Trigger.dev",
                sanitize(kind, 60),
                sanitize(message, 120),
                sanitize(task, 128)
            ),
        });
    }
    if unresolved <= max as usize {
        findings.clear();
    }
    findings.sort_by(|a, b| a.subject.cmp(&b.subject));
    Ok((section(ERRORS, UNRESOLVED, unresolved, max, more), findings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mon(v: Value) -> TriggerdevMonitoring {
        serde_json::from_value(v).expect("block")
    }

    fn value(s: &Section) -> Value {
        s.items[0].fields["value"].clone()
    }

    #[test]
    fn targets_carry_the_limits_and_refuse_what_the_schema_would() {
        let t = monitoring_target(&mon(json!({
            "failedRuns": {"window": "7d", "maxFailed": 2, "tasks": ["b", "a", "b"]},
            "errorGroups": {}
        })))
        .expect("valid");
        let scope = t.scope.get::<TriggerdevScope>().expect("scope");
        assert_eq!(
            scope.failed_runs,
            Some(("7d".into(), 2, vec!["a".into(), "b".into()]))
        );
        assert_eq!(scope.max_unresolved, Some(0));
        assert_eq!(
            value(t.desired.section(RUNS).expect("runs")),
            json!("at most 2")
        );
        assert_eq!(
            value(t.desired.section(ERRORS).expect("errors")),
            json!("at most 0")
        );
        let e = monitoring_target(&mon(json!({"failedRuns": {"window": "1d&x=1"}})))
            .expect_err("refused");
        assert!(e.0.starts_with("failedRuns.window"), "{e:?}");
        let e = monitoring_target(&mon(json!({"failedRuns": {"tasks": ["a,b"]}})))
            .expect_err("refused");
        assert!(e.0.starts_with("failedRuns.tasks[0]"), "{e:?}");
        assert!(firewall_target().is_err());
    }

    #[test]
    fn pages_check_the_next_cursor() {
        let a = json!({"data": [], "pagination": {"next": "run_2"}});
        assert_eq!(
            page(&a, "run_").expect("page").next.as_deref(),
            Some("run_2")
        );
        for bad in [
            json!({"data": [], "pagination": {"next": "error_1"}}),
            json!({"data": [], "pagination": {"next": "run_1&page[size]=1"}}),
            json!({"data": {}}),
            json!({}),
        ] {
            assert!(page(&bad, "run_").is_err(), "{bad}");
        }
        assert_eq!(page(&json!({"data": []}), "run_").expect("last").next, None);
    }

    fn run(id: &str, task: &str, status: &str, at: &str) -> Value {
        json!({"id": id, "taskIdentifier": task, "status": status, "createdAt": at,
               "updatedAt": at, "isTest": false, "env": {"id": "e", "name": "prod"}})
    }

    #[test]
    fn failed_runs_over_the_limit_are_drift_and_findings_per_task() {
        let runs = [
            run("run_1", "charge", "FAILED", "2026-11-29T10:00:00Z"),
            run("run_2", "charge", "CRASHED", "2026-11-29T11:00:00Z"),
            run("run_3", "email", "SYSTEM_FAILURE", "2026-11-29T09:00:00Z"),
        ];
        let (s, f) = observed_runs(&runs, 0, "24h", false).expect("valid");
        assert_eq!(value(&s), json!("3"));
        let got: Vec<(&str, &str)> = f
            .iter()
            .map(|x| (x.subject.as_str(), x.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "runs[charge]",
                    "2 failed run(s) of task charge in the last 24h (latest run_2 CRASHED): fix the task; Perimeter only reports it"
                ),
                (
                    "runs[email]",
                    "1 failed run(s) of task email in the last 24h (latest run_3 SYSTEM_FAILURE): fix the task; Perimeter only reports it"
                ),
            ]
        );
        let (s, f) = observed_runs(&runs, 3, "24h", false).expect("valid");
        assert_eq!(value(&s), json!("at most 3"));
        assert!(f.is_empty());
        let (s, _) = observed_runs(&runs, 1, "24h", true).expect("valid");
        assert_eq!(value(&s), json!("at least 3"));
        let ok = run("run_4", "email", "COMPLETED", "2026-11-29T09:00:00Z");
        assert!(observed_runs(&[ok], 0, "24h", false).is_err());
        assert!(observed_runs(&[json!({"id": "run_5"})], 0, "24h", false).is_err());
    }

    #[test]
    fn unresolved_groups_are_findings_with_their_ids_and_no_secret() {
        let g = |id: &str, status: &str, msg: &str| {
            json!({"id": id, "fingerprint": "f", "taskIdentifier": "charge",
                   "errorType": "TypeError", "errorMessage": msg, "status": status,
                   "count": 4, "firstSeen": "2026-11-28T10:00:00Z", "lastSeen": "2026-11-29T10:00:00Z"})
        };
        let groups = [
            g("error_b", "unresolved", "token tr_prod_abc123 rejected"),
            g("error_a", "ignored", "x"),
        ];
        let (s, f) = observed_errors(&groups, 0, false).expect("valid");
        assert_eq!(value(&s), json!("1"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "errors[error_b]");
        assert_eq!(
            f[0].message,
            "TypeError: token *** rejected in task charge (4 occurrence(s), last seen 2026-11-29T10:00:00Z): resolve or ignore it in Trigger.dev"
        );
        let (s, f) = observed_errors(&groups, 1, false).expect("valid");
        assert_eq!(value(&s), json!("at most 1"));
        assert!(f.is_empty());
        assert!(observed_errors(&[g("error_c", "open", "x")], 0, false).is_err());
    }
}
