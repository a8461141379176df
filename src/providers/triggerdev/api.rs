//! The Trigger.dev block of `MonitoringPolicy` (and the refusal of a Trigger.dev
//! `FirewallPolicy`): what one environment's secret key can read of its health — failed runs
//! (`GET /api/v1/runs`) and unresolved error groups (`GET /api/v1/errors`). Both are observed,
//! never enforced: failing runs are fixed in the code, error groups are triaged in Trigger.dev.
//!
//! Trigger.dev's public API has no network controls and no alert channels: those parts of the
//! provider are covered by `ProviderFirewall` / `ProviderAlerting` attestations in the
//! ControlAssessment (see the registry words in `kit.rs`).

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A relative time range as `filter[createdAt][period]` takes it: a number and a unit
/// (minutes, hours, days, weeks), e.g. `24h`, `7d`.
pub const PERIOD_PATTERN: &str = r"^[1-9][0-9]{0,3}[mhdw]$";
/// A task identifier as the SDK allows it (`id` of `task()`), and nothing that could leave a
/// `filter[taskIdentifier]` list (no comma, `&`, `=`).
pub const TASK_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$";
/// How many task identifiers one policy may name.
pub const MAX_TASKS: u32 = 50;

/// Trigger.dev has no firewall API. This block exists only because every provider has one;
/// it is refused at admission (and by `perimeter check`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(deny_unknown_fields)]
#[x_kube(validation = Rule::new("false").message("Trigger.dev's API has no network controls: attest them with a ProviderFirewall attestation in a ControlAssessment, and declare its monitoring in a MonitoringPolicy (spec.triggerdev)").reason(Reason::FieldValueForbidden))]
pub struct TriggerdevFirewall {}

/// The health of one Trigger.dev environment (the one the CloudProvider's secret key belongs
/// to), read through its public API. At least one of `failedRuns` and `errorGroups`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.failedRuns) || has(self.errorGroups)").message("declare failedRuns, errorGroups or both").reason(Reason::FieldValueRequired))]
pub struct TriggerdevMonitoring {
    /// Runs that ended `FAILED`, `CRASHED` or `SYSTEM_FAILURE` within a window: more than
    /// `maxFailed` is drift and a `RunsFailing` finding per task. Observed, never enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_runs: Option<FailedRuns>,
    /// Error groups in status `unresolved`: more than `maxUnresolved` is drift and an
    /// `ErrorGroupsUnresolved` finding per group, with Trigger.dev's id. Observed, never
    /// enforced: resolve or ignore them in Trigger.dev.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_groups: Option<ErrorGroups>,
}

/// Which failed runs count.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailedRuns {
    /// How far back runs are read (`filter[createdAt][period]`), e.g. `24h`, `7d`.
    #[serde(default = "default_window")]
    #[schemars(regex(pattern = PERIOD_PATTERN))]
    pub window: String,
    /// How many failed runs the window may hold (default 0: any failed run is drift).
    #[serde(default)]
    #[schemars(range(max = 1000))]
    pub max_failed: u32,
    /// Only runs of these tasks (empty: every task of the environment).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_TASKS), inner(regex(pattern = TASK_PATTERN)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub tasks: Vec<String>,
}

fn default_window() -> String {
    "24h".into()
}

/// How many unresolved error groups are allowed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorGroups {
    /// Default 0: any unresolved group is drift.
    #[serde(default)]
    #[schemars(range(max = 1000))]
    pub max_unresolved: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_schema_carries_the_bounds() {
        let schema =
            serde_json::to_value(schemars::schema_for!(TriggerdevMonitoring)).expect("schema");
        let text = schema.to_string();
        assert!(
            text.contains(&PERIOD_PATTERN.replace('\\', "\\\\")),
            "{text}"
        );
        assert!(text.contains("maxUnresolved"), "{text}");
        let rules = schema["x-kubernetes-validations"].to_string();
        assert!(
            rules.contains("has(self.failedRuns) || has(self.errorGroups)"),
            "{rules}"
        );
        let fw = serde_json::to_value(schemars::schema_for!(TriggerdevFirewall)).expect("schema");
        assert_eq!(fw["x-kubernetes-validations"][0]["rule"], json!("false"));
    }

    #[test]
    fn the_patterns_accept_what_trigger_dev_uses() {
        let period = regex::Regex::new(PERIOD_PATTERN).expect("pattern");
        for ok in ["24h", "7d", "30m", "2w"] {
            assert!(period.is_match(ok), "{ok}");
        }
        for bad in ["0d", "1y", "24 h", "1d&x=1", ""] {
            assert!(!period.is_match(bad), "{bad}");
        }
        let task = regex::Regex::new(TASK_PATTERN).expect("pattern");
        for ok in ["send-email", "billing/charge", "sync.v2"] {
            assert!(task.is_match(ok), "{ok}");
        }
        for bad in ["a,b", "a&filter[status]=COMPLETED", "-x", ""] {
            assert!(!task.is_match(bad), "{bad}");
        }
    }

    #[test]
    fn defaults_are_strict() {
        let m: TriggerdevMonitoring =
            serde_json::from_value(json!({"failedRuns": {}, "errorGroups": {}})).expect("block");
        let runs = m.failed_runs.expect("failed runs");
        assert_eq!((runs.window.as_str(), runs.max_failed), ("24h", 0));
        assert_eq!(m.error_groups.map(|e| e.max_unresolved), Some(0));
        assert!(serde_json::from_value::<TriggerdevFirewall>(json!({"rules": []})).is_err());
    }
}
