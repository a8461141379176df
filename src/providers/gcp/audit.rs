//! Who changed a project's drifted rules and settings: the project's Admin Activity audit log
//! (Cloud Logging v2 `entries.list`, `POST https://logging.googleapis.com/v2/entries:list`),
//! newest first, restricted by its filter to the drifted resources, mapped onto the policy's
//! sections.
//!
//! What an entry is matched to (`protoPayload.methodName` and `protoPayload.resourceName`):
//! - `*.compute.firewalls.*` on `projects/P/global/firewalls/NAME`: the rule NAME;
//! - `*.compute.securityPolicies.{insert,patch,delete,…}` on `…/securityPolicies/NAME`: the
//!   policy NAME; `addRule`, `patchRule` and `removeRule` the rule `NAME/PRIORITY`, with the
//!   priority from the logged request (an entry without one names no rule, and attributes none);
//! - `*.compute.subnetworks.*` on `projects/P/regions/R/subnetworks/S`: the flow logs of region R;
//! - `google.monitoring.v3.AlertPolicyService.*` / `UptimeCheckService.*`: the alert policy or
//!   uptime check by display name, from the logged request (`alertPolicy.displayName`,
//!   `uptimeCheckConfig.displayName`) or, for a delete, from another entry of the same answer
//!   that names the same resource with its display name.
//!
//! A failed call (`protoPayload.status.code` other than 0) changed nothing and is skipped;
//! anything else names nothing Perimeter can match: drift with no matching entry stays
//! unattributed rather than borrow the nearest change.
//!
//! Perimeter's own writes: a Compute write answers an `Operation`, and its audit entries carry
//! that operation's name as `operation.id`; the names this client's writes got back are
//! recorded ([`OwnOperations`]) and matched. Monitoring writes answer no operation or request
//! id, so an entry is also Perimeter's when this client wrote that section of the project
//! within [`OWN_WRITE_SKEW`] of it, made with the credential's own service account where that
//! is known ([`OwnWrites`]). An entry made from the Cloud Console (a browser's user agent in
//! `requestMetadata.callerSuppliedUserAgent`) is never Perimeter's: the user agent says how,
//! the principal says who, and neither alone makes a change Perimeter's.
//!
//! [`OWN_WRITE_SKEW`]: crate::core::attribution::OWN_WRITE_SKEW

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde_json::{Value, json};

use super::model::{ALERTS, ARMOR, FIREWALLS, FLOW_LOGS, UPTIME, split_armor_key};
use crate::core::Drift;
use crate::core::attribution::{Actor, AuditEvent, OwnWrites, split_path};
use crate::http::sanitize;

/// What the log is called in status.
pub const SOURCE: &str = "the GCP Admin Activity audit log";

/// The Admin Activity log's id (URL-encoded, as `logName` carries it).
pub const ACTIVITY_LOG: &str = "cloudaudit.googleapis.com%2Factivity";

/// Entries per page (the API allows 1000): an audit entry carries its request and can be
/// kilobytes long, and a page stays well under the HTTP layer's answer cap.
pub const PAGE_SIZE: u32 = 250;

/// Pages read at most, newest first: the newest change to a field is what attributes it.
pub const MAX_PAGES: u32 = 4;

/// Drifted resources named one by one in the filter at most; past this, the filter names
/// their collections instead (a filter may be 20,000 characters long).
pub const MAX_NAMED: usize = 50;

/// The permission `entries.list` needs on the project (in `roles/logging.viewer`).
pub const PERMISSION: &str = "logging.logEntries.list";

/// Why a 403 of `entries.list` leaves the drift unattributed: Google answers 403 both for a
/// missing permission and for an API the project has not enabled (`SERVICE_DISABLED`).
pub fn denied(project: &str, message: &str) -> String {
    if message.contains("SERVICE_DISABLED") || message.contains("has not been used") {
        format!("PERMISSION_DENIED: the Cloud Logging API is not enabled in project {project}")
    } else {
        format!(
            "PERMISSION_DENIED: the credential lacks {PERMISSION} on project {project} \
             (roles/logging.viewer has it)"
        )
    }
}

/// The names of the Compute operations this client's writes started, so that their audit
/// entries (`operation.id`) are recognised as Perimeter's. Lasts as long as the client.
pub type OwnOperations = crate::core::attribution::OwnIds;

/// What an entry is checked against to be Perimeter's.
pub struct Own<'a> {
    /// The project, as [`OwnWrites`] scopes this client's writes.
    pub project: &'a str,
    pub writes: &'a OwnWrites,
    pub operations: &'a OwnOperations,
    /// The service account the credential acts as, when the credential says (a key, an
    /// impersonating external account); `None` for the metadata server's.
    pub principal: Option<&'a str>,
}

/// A quoted string of the Logging query language.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `entries.list` filter: the project's Admin Activity log since `since`, restricted to
/// the resources behind `drift` (each by name, or their collection when the drift names none
/// or too many).
pub fn filter(project: &str, since: Timestamp, drift: &[Drift]) -> String {
    let resource = |name: String| format!("protoPayload.resourceName={}", quoted(&name));
    let within = |part: &str| format!("protoPayload.resourceName:{}", quoted(part));
    let method = |part: &str| format!("protoPayload.methodName:{}", quoted(part));
    let mut named = BTreeSet::new();
    let mut collections = BTreeSet::new();
    for d in drift {
        let (section, key) = split_path(&d.path);
        match (section, key) {
            (FIREWALLS, Some(name)) => {
                named.insert(resource(format!(
                    "projects/{project}/global/firewalls/{name}"
                )));
            }
            (FIREWALLS, None) => {
                collections.insert(within(&format!("projects/{project}/global/firewalls/")));
            }
            (ARMOR, Some(key)) => {
                let policy = split_armor_key(key).map_or(key, |(p, _)| p);
                named.insert(resource(format!(
                    "projects/{project}/global/securityPolicies/{policy}"
                )));
            }
            (ARMOR, None) => {
                collections.insert(within(&format!(
                    "projects/{project}/global/securityPolicies/"
                )));
            }
            (FLOW_LOGS, Some(region)) => {
                named.insert(within(&format!("/regions/{region}/subnetworks/")));
            }
            (FLOW_LOGS, None) => {
                collections.insert(within("/subnetworks/"));
            }
            // The log names a policy by its number, the drift by its display name: the
            // service's methods are read, and matched by the display names they log.
            (ALERTS, _) => {
                collections.insert(method("google.monitoring.v3.AlertPolicyService."));
            }
            (UPTIME, _) => {
                collections.insert(method("google.monitoring.v3.UptimeCheckService."));
            }
            _ => {}
        }
    }
    if named.len() > MAX_NAMED {
        // Their collections instead: every drifted section is then covered whole.
        for d in drift {
            let (section, _) = split_path(&d.path);
            let collection = match section {
                FIREWALLS => within(&format!("projects/{project}/global/firewalls/")),
                ARMOR => within(&format!("projects/{project}/global/securityPolicies/")),
                FLOW_LOGS => within("/subnetworks/"),
                _ => continue,
            };
            collections.insert(collection);
        }
        named.clear();
    }
    let clauses: Vec<String> = named.into_iter().chain(collections).collect();
    let mut filter = format!(
        "logName={} AND timestamp>={}",
        quoted(&format!("projects/{project}/logs/{ACTIVITY_LOG}")),
        quoted(&since.to_string())
    );
    if !clauses.is_empty() {
        filter.push_str(&format!(" AND ({})", clauses.join(" OR ")));
    }
    filter
}

/// The `entries.list` request body for one page.
pub fn request(project: &str, filter: &str, page_token: Option<&str>) -> Value {
    let mut body = json!({
        "resourceNames": [format!("projects/{project}")],
        "filter": filter,
        "orderBy": "timestamp desc",
        "pageSize": PAGE_SIZE,
    });
    if let Some(t) = page_token {
        body["pageToken"] = json!(t);
    }
    body
}

fn text<'a>(entry: &'a Value, pointer: &str) -> &'a str {
    entry.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The monitoring resource an entry's request or response names, with its display name:
/// `projects/P/alertPolicies/ID` → `Denied connections`.
fn monitoring_names(entries: &[Value]) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for e in entries {
        for body in ["/protoPayload/request", "/protoPayload/response"] {
            let Some(b) = e.pointer(body) else { continue };
            for object in [b.get("alertPolicy"), b.get("uptimeCheckConfig"), Some(b)]
                .into_iter()
                .flatten()
            {
                let display = text(object, "/displayName");
                let name = match text(object, "/name") {
                    "" => text(e, "/protoPayload/resourceName"),
                    n => n,
                };
                if !display.is_empty() && !name.is_empty() {
                    names
                        .entry(last_two(name))
                        .or_insert_with(|| display.to_string());
                }
            }
        }
    }
    names
}

/// `alertPolicies/ID` of `projects/P/alertPolicies/ID` (the project may be named by number
/// or id).
fn last_two(name: &str) -> String {
    let mut parts = name.rsplit('/');
    match (parts.next(), parts.next()) {
        (Some(id), Some(collection)) => format!("{collection}/{id}"),
        _ => name.to_string(),
    }
}

/// The section and item an entry changed, or `None` when it names nothing Perimeter manages.
fn target(entry: &Value, monitoring: &BTreeMap<String, String>) -> Option<(&'static str, String)> {
    let method = text(entry, "/protoPayload/methodName");
    let resource = text(entry, "/protoPayload/resourceName");
    let segments: Vec<&str> = resource.split('/').collect();
    // `projects/P/…`: what follows the project.
    let rest = match segments.as_slice() {
        ["projects", _, rest @ ..] => rest,
        _ => &[][..],
    };
    // `v1.compute.firewalls.patch`, `beta.compute.firewalls.patch`, `compute.firewalls.patch`.
    let compute = method
        .split_once("compute.")
        .filter(|(version, _)| version.is_empty() || version.ends_with('.'))
        .map(|(_, m)| m);
    if let Some(m) = compute {
        let (collection, verb) = m.split_once('.')?;
        return match (collection, rest) {
            ("firewalls", ["global", "firewalls", name]) => Some((FIREWALLS, name.to_string())),
            ("securityPolicies", ["global", "securityPolicies", name]) => {
                if matches!(verb, "addRule" | "patchRule" | "removeRule") {
                    let priority = entry.pointer("/protoPayload/request/priority")?;
                    let priority = priority
                        .as_u64()
                        .or_else(|| priority.as_str().and_then(|p| p.parse().ok()))?;
                    Some((ARMOR, format!("{name}/{priority}")))
                } else {
                    Some((ARMOR, name.to_string()))
                }
            }
            ("subnetworks", ["regions", region, "subnetworks", _]) => {
                Some((FLOW_LOGS, region.to_string()))
            }
            _ => None,
        };
    }
    let (section, object) = if method.starts_with("google.monitoring.v3.AlertPolicyService.") {
        (ALERTS, "alertPolicy")
    } else if method.starts_with("google.monitoring.v3.UptimeCheckService.") {
        (UPTIME, "uptimeCheckConfig")
    } else {
        return None;
    };
    let logged = entry
        .pointer(&format!("/protoPayload/request/{object}/displayName"))
        .or_else(|| entry.pointer("/protoPayload/response/displayName"))
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let named = || {
        let name = match text(entry, "/protoPayload/request/name") {
            "" => resource,
            n => n,
        };
        monitoring.get(&last_two(name)).cloned()
    };
    Some((section, logged.or_else(named)?))
}

/// A browser's user agent: the change was made in the Cloud Console.
fn from_console(user_agent: &str) -> bool {
    user_agent.starts_with("Mozilla/")
}

/// The entries of one answer (all pages) as events, newest first. See the module's rules.
pub fn events(entries: &[Value], own: &Own<'_>) -> Vec<AuditEvent> {
    let monitoring = monitoring_names(entries);
    entries
        .iter()
        .filter_map(|e| event(e, &monitoring, own))
        .collect()
}

fn event(
    entry: &Value,
    monitoring: &BTreeMap<String, String>,
    own: &Own<'_>,
) -> Option<AuditEvent> {
    let status = entry
        .pointer("/protoPayload/status/code")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if status != 0 {
        return None;
    }
    let at: Timestamp = text(entry, "/timestamp").parse().ok()?;
    let (section, key) = target(entry, monitoring)?;
    let principal = text(entry, "/protoPayload/authenticationInfo/principalEmail");
    let console = from_console(text(
        entry,
        "/protoPayload/requestMetadata/callerSuppliedUserAgent",
    ));
    let operation = text(entry, "/operation/id");
    let ours = !console
        && (own.operations.contains(operation)
            || (own
                .principal
                .is_none_or(|p| p.eq_ignore_ascii_case(principal))
                && own.writes.covers(own.project, section, at)));
    let actor = if ours {
        Actor::Perimeter
    } else {
        let name = if principal.is_empty() {
            "an unnamed principal"
        } else {
            principal
        };
        Actor::other(
            sanitize(name, 120),
            Some(if console { "console" } else { "API" }.to_string()),
        )
    };
    Some(AuditEvent {
        section: section.to_string(),
        key: Some(sanitize(&key, 200)),
        actor,
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::DriftKind;
    use crate::core::attribution::LOOKBACK;

    const P: &str = "acme-prod";
    const CONSOLE_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36,gzip(gfe)";
    const SA: &str = "perimeter@acme-prod.iam.gserviceaccount.com";

    fn entry(method: &str, resource: &str, who: &str, ua: &str, request: Value) -> Value {
        json!({
            "logName": format!("projects/{P}/logs/{ACTIVITY_LOG}"),
            "timestamp": "2026-11-30T05:00:00.123456Z",
            "operation": {"id": "operation-1", "producer": "compute.googleapis.com", "first": true},
            "protoPayload": {
                "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                "methodName": method,
                "resourceName": resource,
                "authenticationInfo": {"principalEmail": who},
                "requestMetadata": {"callerSuppliedUserAgent": ua},
                "request": request,
            },
        })
    }

    fn nobody() -> (OwnWrites, OwnOperations) {
        (OwnWrites::default(), OwnOperations::default())
    }

    fn own<'a>(w: &'a OwnWrites, o: &'a OwnOperations, principal: Option<&'a str>) -> Own<'a> {
        Own {
            project: P,
            writes: w,
            operations: o,
            principal,
        }
    }

    #[test]
    fn entries_map_to_sections_or_to_nothing() {
        let (w, o) = nobody();
        type Case<'a> = (&'a str, Value, Option<(&'a str, &'a str)>);
        let fw = format!("projects/{P}/global/firewalls/default-allow-ssh");
        let sp = format!("projects/{P}/global/securityPolicies/web-edge");
        let cases: Vec<Case> = vec![
            (
                "a firewall patch",
                entry(
                    "v1.compute.firewalls.patch",
                    &fw,
                    "sam@acme.example",
                    CONSOLE_UA,
                    json!({}),
                ),
                Some((FIREWALLS, "default-allow-ssh")),
            ),
            (
                "a firewall delete through the beta API",
                entry(
                    "beta.compute.firewalls.delete",
                    &fw,
                    "sam@acme.example",
                    "",
                    json!({}),
                ),
                Some((FIREWALLS, "default-allow-ssh")),
            ),
            (
                "a security policy patch",
                entry(
                    "v1.compute.securityPolicies.patch",
                    &sp,
                    "sam@acme.example",
                    "",
                    json!({}),
                ),
                Some((ARMOR, "web-edge")),
            ),
            (
                "a rule patch names the rule by its logged priority",
                entry(
                    "v1.compute.securityPolicies.patchRule",
                    &sp,
                    "sam@acme.example",
                    "",
                    json!({"priority": 1000}),
                ),
                Some((ARMOR, "web-edge/1000")),
            ),
            (
                "a priority logged as a string",
                entry(
                    "v1.compute.securityPolicies.removeRule",
                    &sp,
                    "sam@acme.example",
                    "",
                    json!({"priority": "2000"}),
                ),
                Some((ARMOR, "web-edge/2000")),
            ),
            (
                "a rule change without a priority names no rule",
                entry(
                    "v1.compute.securityPolicies.addRule",
                    &sp,
                    "sam@acme.example",
                    "",
                    json!({}),
                ),
                None,
            ),
            (
                "a subnet patch is its region's flow logs",
                entry(
                    "v1.compute.subnetworks.patch",
                    &format!("projects/{P}/regions/europe-west1/subnetworks/gke-nodes"),
                    "sam@acme.example",
                    "",
                    json!({}),
                ),
                Some((FLOW_LOGS, "europe-west1")),
            ),
            (
                "an alert policy update, by its logged display name",
                entry(
                    "google.monitoring.v3.AlertPolicyService.UpdateAlertPolicy",
                    &format!("projects/{P}/alertPolicies/42"),
                    "sam@acme.example",
                    "",
                    json!({"alertPolicy": {"name": format!("projects/{P}/alertPolicies/42"), "displayName": "Denied spike"}}),
                ),
                Some((ALERTS, "Denied spike")),
            ),
            (
                "an uptime check update",
                entry(
                    "google.monitoring.v3.UptimeCheckService.UpdateUptimeCheckConfig",
                    &format!("projects/{P}/uptimeCheckConfigs/www"),
                    "sam@acme.example",
                    CONSOLE_UA,
                    json!({"uptimeCheckConfig": {"displayName": "www.example.com"}}),
                ),
                Some((UPTIME, "www.example.com")),
            ),
            (
                "an alert policy delete whose display name nothing logged",
                entry(
                    "google.monitoring.v3.AlertPolicyService.DeleteAlertPolicy",
                    &format!("projects/{P}/alertPolicies/43"),
                    "sam@acme.example",
                    "",
                    json!({"name": format!("projects/{P}/alertPolicies/43")}),
                ),
                None,
            ),
            (
                "a method on another collection's resource",
                entry(
                    "v1.compute.firewalls.patch",
                    &sp,
                    "sam@acme.example",
                    "",
                    json!({}),
                ),
                None,
            ),
            (
                "an instance is nothing Perimeter manages",
                entry(
                    "v1.compute.instances.insert",
                    &format!("projects/{P}/zones/europe-west1-b/instances/vm"),
                    "sam@acme.example",
                    "",
                    json!({}),
                ),
                None,
            ),
            (
                "a method merely containing the word",
                entry(
                    "v1.notcompute.firewalls.patch",
                    &fw,
                    "sam@acme.example",
                    "",
                    json!({}),
                ),
                None,
            ),
        ];
        for (name, e, want) in cases {
            let got = events(&[e], &own(&w, &o, None));
            assert_eq!(
                got.first()
                    .map(|g| (g.section.as_str(), g.key.as_deref().unwrap_or(""))),
                want,
                "{name}"
            );
        }
        let mut failed = entry(
            "v1.compute.firewalls.patch",
            &fw,
            "sam@acme.example",
            "",
            json!({}),
        );
        failed["protoPayload"]["status"] = json!({"code": 7, "message": "PERMISSION_DENIED"});
        assert!(
            events(&[failed], &own(&w, &o, None)).is_empty(),
            "a failed call"
        );
        let mut undated = entry(
            "v1.compute.firewalls.patch",
            &fw,
            "sam@acme.example",
            "",
            json!({}),
        );
        undated["timestamp"] = json!("yesterday");
        assert!(events(&[undated], &own(&w, &o, None)).is_empty(), "undated");
    }

    #[test]
    fn a_delete_takes_the_display_name_another_entry_logged() {
        let (w, o) = nobody();
        let name = format!("projects/{P}/alertPolicies/43");
        let created = entry(
            "google.monitoring.v3.AlertPolicyService.CreateAlertPolicy",
            &format!("projects/{P}"),
            SA,
            "",
            json!({"alertPolicy": {"displayName": "Denied spike"}}),
        );
        let mut created = created;
        created["protoPayload"]["response"] = json!({"name": name, "displayName": "Denied spike"});
        let deleted = entry(
            "google.monitoring.v3.AlertPolicyService.DeleteAlertPolicy",
            &name,
            "sam@acme.example",
            CONSOLE_UA,
            json!({"name": name}),
        );
        let got = events(&[deleted, created], &own(&w, &o, None));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].key.as_deref(), Some("Denied spike"));
        assert_eq!(
            got[0].actor,
            Actor::other("sam@acme.example", Some("console".into()))
        );
    }

    #[test]
    fn own_writes_are_perimeters_and_console_edits_never_are() {
        let fw = format!("projects/{P}/global/firewalls/default-allow-ssh");
        let at: Timestamp = "2026-11-30T04:59:30Z".parse().expect("time");
        let api = entry(
            "v1.compute.firewalls.patch",
            &fw,
            SA,
            "perimeter/0.1",
            json!({}),
        );
        let console = entry("v1.compute.firewalls.patch", &fw, SA, CONSOLE_UA, json!({}));
        let actor =
            |e: &Value, own: &Own<'_>| events(std::slice::from_ref(e), own)[0].actor.clone();
        let mut ops = OwnOperations::default();
        ops.record("operation-1", at);
        let none = OwnWrites::default();
        // By the operation its write got back, whoever the credential is.
        assert_eq!(actor(&api, &own(&none, &ops, None)), Actor::Perimeter);
        assert_eq!(
            actor(&console, &own(&none, &ops, None)),
            Actor::other(SA, Some("console".into()))
        );
        // By the moment of a write to the section, made with the credential's account.
        let mut writes = OwnWrites::default();
        writes.record(P, FIREWALLS, at);
        let no_ops = OwnOperations::default();
        assert_eq!(
            actor(&api, &own(&writes, &no_ops, Some(SA))),
            Actor::Perimeter
        );
        assert_eq!(actor(&api, &own(&writes, &no_ops, None)), Actor::Perimeter);
        // A person writing with their own account at that moment is the person.
        let person = entry(
            "v1.compute.firewalls.patch",
            &fw,
            "sam@acme.example",
            "google-cloud-sdk gcloud/500.0.0",
            json!({}),
        );
        assert_eq!(
            actor(&person, &own(&writes, &no_ops, Some(SA))),
            Actor::other("sam@acme.example", Some("API".into()))
        );
        // Without the write on record (another process, a restart): whoever the log names.
        assert_eq!(
            actor(&api, &own(&none, &no_ops, Some(SA))),
            Actor::other(SA, Some("API".into()))
        );
        // Another section's write of this process is not this entry.
        let mut elsewhere = OwnWrites::default();
        elsewhere.record(P, ARMOR, at);
        assert_eq!(
            actor(&api, &own(&elsewhere, &no_ops, Some(SA))),
            Actor::other(SA, Some("API".into()))
        );
    }

    #[test]
    fn a_refusal_says_which_of_its_two_causes() {
        assert_eq!(
            denied(
                P,
                "HTTP 403: Permission 'logging.logEntries.list' denied on resource"
            ),
            "PERMISSION_DENIED: the credential lacks logging.logEntries.list on project acme-prod \
             (roles/logging.viewer has it)"
        );
        assert_eq!(
            denied(
                P,
                "HTTP 403: Cloud Logging API has not been used in project 123 before or it is disabled"
            ),
            "PERMISSION_DENIED: the Cloud Logging API is not enabled in project acme-prod"
        );
    }

    #[test]
    fn own_operations_forget_the_old_and_the_many() {
        let at: Timestamp = "2026-11-30T05:00:00Z".parse().expect("time");
        let mut ops = OwnOperations::default();
        ops.record("operation-old", at);
        assert!(ops.contains("operation-old"));
        assert!(!ops.contains(""));
        ops.record(
            "operation-new",
            at + LOOKBACK + jiff::SignedDuration::from_secs(1),
        );
        assert!(!ops.contains("operation-old"));
        for i in 0..OwnOperations::CAP {
            ops.record(
                &format!("op-{i}"),
                at + LOOKBACK + jiff::SignedDuration::from_secs(2),
            );
        }
        assert!(!ops.contains("operation-new"));
        assert!(ops.contains("op-1") && ops.contains(&format!("op-{}", OwnOperations::CAP - 1)));
    }

    fn drift(path: &str) -> Drift {
        Drift {
            path: path.to_string(),
            kind: DriftKind::Changed,
            desired: None,
            observed: None,
        }
    }

    #[test]
    fn the_filter_names_the_drifted_resources_and_quotes_them() {
        let since: Timestamp = "2026-11-23T05:00:00Z".parse().expect("time");
        let f = filter(
            P,
            since,
            &[
                drift("firewallRules[default-allow-ssh].sourceRanges"),
                drift("firewallRules[default-allow-ssh].description"),
                drift("cloudArmorPolicies[web-edge/1000].action"),
                drift("subnetFlowLogs[europe-west1]"),
                drift("uptimeChecks[www.example.com].path"),
                drift("firewallRules[we\"ird\\]"),
            ],
        );
        assert_eq!(
            f,
            format!(
                "logName=\"projects/{P}/logs/cloudaudit.googleapis.com%2Factivity\" AND timestamp>=\"2026-11-23T05:00:00Z\" AND (\
                 protoPayload.resourceName:\"/regions/europe-west1/subnetworks/\" OR \
                 protoPayload.resourceName=\"projects/{P}/global/firewalls/default-allow-ssh\" OR \
                 protoPayload.resourceName=\"projects/{P}/global/firewalls/we\\\"ird\\\\\" OR \
                 protoPayload.resourceName=\"projects/{P}/global/securityPolicies/web-edge\" OR \
                 protoPayload.methodName:\"google.monitoring.v3.UptimeCheckService.\")"
            )
        );
        let many: Vec<Drift> = (0..=MAX_NAMED)
            .map(|i| drift(&format!("firewallRules[rule-{i}]")))
            .collect();
        let f = filter(P, since, &many);
        assert!(
            f.ends_with(&format!(
                "AND (protoPayload.resourceName:\"projects/{P}/global/firewalls/\")"
            )),
            "{f}"
        );
    }
}
