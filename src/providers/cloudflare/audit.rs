//! Who changed a zone's drifted settings and rules: the account audit log
//! (`GET /accounts/{account_id}/audit_logs`, filtered to the zone by `zone.name`, newest first)
//! mapped onto the policy's sections.
//!
//! What an entry is matched to, and why:
//! - a zone setting: `action.type` `change_setting` on resource type `zone` with the setting in
//!   `metadata.name` — the spec's own example of an entry — is that setting's change (an entry
//!   without `metadata.name` is a change to the settings as a whole);
//! - a ruleset: resource type `ruleset` whose `resource.id` is the id of the zone's entry point
//!   for the drifted phase (read from `GET /zones/{zone_id}/rulesets`), a change to that whole
//!   ruleset — Cloudflare replaces a phase's rules together, and the log does not name a rule;
//! - an IP access rule: a resource type naming `access_rule`, a change to the zone's access
//!   rules as a whole.
//!
//! Anything else is not matched: drift with no matching entry stays unattributed rather than
//! borrow the nearest change. Perimeter's own writes are logged under the token's owner (a
//! person's e-mail, `interface: API`); an entry is Perimeter's when this client sent a write to
//! that zone's section within [`OWN_WRITE_SKEW`] of it. A dashboard entry (`interface: UI`) is
//! never Perimeter's.
//!
//! [`OWN_WRITE_SKEW`]: crate::core::attribution::OWN_WRITE_SKEW

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::Value;

use super::model::{ACCESS, RATE_LIMIT, SETTINGS, WAF, phase_of};
use crate::core::attribution::{Actor, AuditEvent, OwnWrites};
use crate::http::sanitize;

/// What the log is called in status.
pub const SOURCE: &str = "the Cloudflare account audit log";

/// Entries per page: the most the API gives.
pub const PER_PAGE: u32 = 1000;

/// Pages read at most, newest first: the newest change to a field is what attributes it.
pub const MAX_PAGES: u32 = 3;

/// One entry of the answer as an event on `zone`'s sections, or `None` when it names nothing
/// Perimeter can match (see the module's rules). `rulesets` maps a ruleset id to its phase.
pub fn event(
    entry: &Value,
    zone: &str,
    rulesets: &BTreeMap<String, String>,
    own: &OwnWrites,
) -> Option<AuditEvent> {
    fn text(v: Option<&Value>) -> &str {
        v.and_then(Value::as_str).unwrap_or_default()
    }
    if entry.pointer("/action/result").and_then(Value::as_bool) == Some(false) {
        return None;
    }
    let at: Timestamp = text(entry.get("when")).parse().ok()?;
    let action = text(entry.pointer("/action/type"));
    let resource_type = text(entry.pointer("/resource/type"));
    let resource_id = text(entry.pointer("/resource/id"));
    let (section, key) = if resource_type == "zone" && action == "change_setting" {
        let name = text(entry.pointer("/metadata/name"));
        (
            SETTINGS.to_string(),
            (!name.is_empty()).then(|| name.to_string()),
        )
    } else if resource_type == "ruleset" {
        let phase = rulesets.get(resource_id)?;
        let section = [WAF, RATE_LIMIT]
            .into_iter()
            .find(|s| phase_of(s) == Some(phase.as_str()))?;
        (section.to_string(), None)
    } else if resource_type.contains("access_rule") {
        (ACCESS.to_string(), None)
    } else {
        return None;
    };
    let interface = text(entry.get("interface"));
    let actor = if !interface.eq_ignore_ascii_case("UI") && own.covers(zone, &section, at) {
        Actor::Perimeter
    } else {
        let name = [
            entry.pointer("/actor/email"),
            entry.pointer("/actor/id"),
            entry.pointer("/actor/type"),
        ]
        .into_iter()
        .map(text)
        .find(|s| !s.is_empty())
        .unwrap_or("an unnamed actor");
        Actor::other(
            sanitize(name, 120),
            (!interface.is_empty()).then(|| sanitize(interface, 20)),
        )
    };
    Some(AuditEvent {
        section,
        key,
        actor,
        at,
    })
}

/// The zone's entry-point rulesets from `GET /zones/{zone_id}/rulesets`: id → phase.
pub fn entrypoints(result: &Value) -> BTreeMap<String, String> {
    result
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r.get("kind").and_then(Value::as_str) == Some("zone"))
        .filter_map(|r| {
            Some((
                r.get("id")?.as_str()?.to_string(),
                r.get("phase")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";

    fn rulesets() -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "rs-custom".to_string(),
                "http_request_firewall_custom".to_string(),
            ),
            ("rs-limit".to_string(), "http_ratelimit".to_string()),
        ])
    }

    fn entry(kind: &str, action: &str, id: &str, metadata: Value, interface: &str) -> Value {
        json!({
            "action": {"type": action, "result": true},
            "actor": {"email": "dana@example.com", "id": "u1", "type": "user"},
            "interface": interface,
            "metadata": metadata,
            "resource": {"type": kind, "id": id},
            "when": "2026-11-30T05:00:00Z",
        })
    }

    #[test]
    fn entries_map_to_sections_or_to_nothing() {
        let own = OwnWrites::default();
        type Case<'a> = (&'a str, Value, Option<(&'a str, Option<&'a str>)>);
        let cases: Vec<Case> = vec![
            (
                "a setting, the spec's example shape",
                entry(
                    "zone",
                    "change_setting",
                    ZONE,
                    json!({"name": "ssl", "value": "full"}),
                    "UI",
                ),
                Some((SETTINGS, Some("ssl"))),
            ),
            (
                "settings without a name",
                entry("zone", "change_setting", ZONE, json!({}), "UI"),
                Some((SETTINGS, None)),
            ),
            (
                "the custom rules entry point",
                entry("ruleset", "update", "rs-custom", json!({}), "UI"),
                Some((WAF, None)),
            ),
            (
                "the rate-limit entry point",
                entry("ruleset", "update", "rs-limit", json!({}), "API"),
                Some((RATE_LIMIT, None)),
            ),
            (
                "a ruleset that is no entry point of this zone",
                entry("ruleset", "update", "rs-other", json!({}), "UI"),
                None,
            ),
            (
                "an access rule",
                entry("firewall.access_rule", "rule_delete", "r1", json!({}), "UI"),
                Some((ACCESS, None)),
            ),
            (
                "a DNS record is nothing Perimeter manages",
                entry("DNS_record", "rec_add", "d1", json!({}), "UI"),
                None,
            ),
        ];
        for (name, e, want) in cases {
            let got = event(&e, ZONE, &rulesets(), &own);
            assert_eq!(
                got.as_ref().map(|g| (g.section.as_str(), g.key.as_deref())),
                want,
                "{name}"
            );
        }
        let mut failed = entry("zone", "change_setting", ZONE, json!({"name": "ssl"}), "UI");
        failed["action"]["result"] = json!(false);
        assert_eq!(
            event(&failed, ZONE, &rulesets(), &own),
            None,
            "a failed action changed nothing"
        );
        let mut undated = entry("zone", "change_setting", ZONE, json!({"name": "ssl"}), "UI");
        undated["when"] = json!("yesterday");
        assert_eq!(
            event(&undated, ZONE, &rulesets(), &own),
            None,
            "an undated entry"
        );
    }

    #[test]
    fn own_writes_are_perimeters_and_dashboard_edits_never_are() {
        let mut own = OwnWrites::default();
        own.record(
            ZONE,
            SETTINGS,
            "2026-11-30T04:59:30Z".parse().expect("time"),
        );
        let api = entry(
            "zone",
            "change_setting",
            ZONE,
            json!({"name": "ssl"}),
            "API",
        );
        let ui = entry("zone", "change_setting", ZONE, json!({"name": "ssl"}), "UI");
        let actor = |e: &Value, own: &OwnWrites| event(e, ZONE, &rulesets(), own).map(|e| e.actor);
        assert_eq!(actor(&api, &own), Some(Actor::Perimeter));
        assert_eq!(
            actor(&ui, &own),
            Some(Actor::other("dana@example.com", Some("UI".into())))
        );
        // Without the write on record (another process, or a restart): whoever the log names.
        assert_eq!(
            actor(&api, &OwnWrites::default()),
            Some(Actor::other("dana@example.com", Some("API".into())))
        );
        // Another zone's write of this process is not this entry.
        let mut elsewhere = OwnWrites::default();
        elsewhere.record(
            "another-zone",
            SETTINGS,
            "2026-11-30T04:59:30Z".parse().expect("time"),
        );
        assert_eq!(
            actor(&api, &elsewhere),
            Some(Actor::other("dana@example.com", Some("API".into())))
        );
    }

    #[test]
    fn entrypoints_are_the_zone_kind_only() {
        let answer = json!([
            {"id": "rs-custom", "phase": "http_request_firewall_custom", "kind": "zone"},
            {"id": "managed", "phase": "http_request_firewall_managed", "kind": "managed"},
            {"phase": "http_ratelimit", "kind": "zone"},
        ]);
        assert_eq!(
            entrypoints(&answer),
            BTreeMap::from([(
                "rs-custom".to_string(),
                "http_request_firewall_custom".to_string()
            )])
        );
    }
}
