//! Who changed a Fleet policy Perimeter keeps: Fleet's activity feed
//! (`GET /api/v1/fleet/activities`, newest first), its audit log of administrative actions.
//!
//! An activity is matched when it is `created_policy`, `edited_policy` or `deleted_policy` and
//! its `details` name the policy (`policy_name`) and its team (`team_name`; none: a global
//! policy). Failing hosts are never attributed: a host's firewall is switched off on the host,
//! which no Fleet activity records. Perimeter's own writes are logged under the API user its
//! token belongs to; an activity is Perimeter's when this client wrote that policy section
//! within [`OWN_WRITE_SKEW`] of it, never because of the user's name (a GitOps job or a person
//! may share it).
//!
//! [`OWN_WRITE_SKEW`]: crate::core::attribution::OWN_WRITE_SKEW

use jiff::Timestamp;
use serde_json::Value;

use super::model::{POLICIES, Place};
use crate::core::attribution::{Actor, AuditEvent, OwnWrites};
use crate::http::sanitize;

/// What the log is called in status.
pub const SOURCE: &str =
    "the Fleet activity feed (policies; no activity records a host's own firewall)";

/// Activities per page, and pages read at most (newest first).
pub const PER_PAGE: usize = 100;
pub const MAX_PAGES: usize = 5;

/// The scope own writes are recorded under: one client talks to one server.
pub const SCOPE: &str = "fleet";

/// When an activity happened, if it says.
pub fn created_at(activity: &Value) -> Option<Timestamp> {
    activity.get("created_at")?.as_str()?.parse().ok()
}

/// One activity as an event on a policy section, or `None` when it is not a change to a
/// policy.
pub fn event(activity: &Value, own: &OwnWrites) -> Option<AuditEvent> {
    let kind = activity.get("type")?.as_str()?;
    if !matches!(kind, "created_policy" | "edited_policy" | "deleted_policy") {
        return None;
    }
    let at = created_at(activity)?;
    let details = activity.get("details")?;
    let name = details.get("policy_name")?.as_str()?;
    let team = details
        .get("team_name")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let section = Place { team }.section(POLICIES);
    let actor = if own.covers(SCOPE, &section, at) {
        Actor::Perimeter
    } else {
        let text = |k: &str| {
            activity
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let who = text("actor_email")
            .or_else(|| text("actor_full_name"))
            .unwrap_or("a deleted user");
        let who = if activity.get("fleet_initiated_activity") == Some(&Value::Bool(true)) {
            "Fleet"
        } else {
            who
        };
        Actor::other(sanitize(who, 200), None)
    };
    Some(AuditEvent {
        section,
        key: Some(sanitize(name, 200)),
        actor,
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn activity(kind: &str, team: Option<&str>, at: &str) -> Value {
        json!({"created_at": at, "id": 7, "actor_full_name": "Dana", "actor_email": "dana@example.com",
               "type": kind, "details": {"policy_id": 11, "policy_name": "Perimeter: macOS host firewall",
               "team_id": team.map(|_| 1), "team_name": team}})
    }

    #[test]
    fn policy_activities_name_their_section_item_and_actor() {
        let at: Timestamp = "2026-11-28T10:00:00Z".parse().expect("time");
        let mut own = OwnWrites::default();
        own.record(SCOPE, "policies@Laptops", at);
        let cases: Vec<(Value, Option<(&str, &str)>)> = vec![
            (
                activity("edited_policy", None, "2026-11-28T09:00:00Z"),
                Some(("policies", "dana@example.com")),
            ),
            (
                activity("deleted_policy", Some("Servers"), "2026-11-28T10:00:30Z"),
                Some(("policies@Servers", "dana@example.com")),
            ),
            // This client wrote that team's policies within the skew: Perimeter.
            (
                activity("created_policy", Some("Laptops"), "2026-11-28T10:00:30Z"),
                Some(("policies@Laptops", "Perimeter")),
            ),
            // Not a policy change, or no time: nothing.
            (activity("edited_pack", None, "2026-11-28T09:00:00Z"), None),
            (activity("edited_policy", None, "yesterday"), None),
        ];
        for (a, want) in cases {
            let got = event(&a, &own).map(|e| {
                assert_eq!(e.key.as_deref(), Some("Perimeter: macOS host firewall"));
                (e.section, e.actor.label())
            });
            assert_eq!(
                got,
                want.map(|(s, w)| (s.to_string(), w.to_string())),
                "{a}"
            );
        }
        // A deleted user has neither name nor e-mail; Fleet's own actions say so.
        let mut gone = activity("edited_policy", None, "2026-11-28T09:00:00Z");
        gone["actor_email"] = json!("");
        gone["actor_full_name"] = json!("");
        assert_eq!(
            event(&gone, &own).map(|e| e.actor.label()).as_deref(),
            Some("a deleted user")
        );
        let mut fleet = activity("edited_policy", None, "2026-11-28T09:00:00Z");
        fleet["fleet_initiated_activity"] = json!(true);
        assert_eq!(
            event(&fleet, &own).map(|e| e.actor.label()).as_deref(),
            Some("Fleet")
        );
    }
}
