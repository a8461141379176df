//! The attributes each Better Stack resource accepts, and their types.
//!
//! Better Stack publishes no machine-readable API description. These tables follow the
//! request structs of Better Stack's official Terraform provider
//! (`BetterStackHQ/terraform-provider-better-uptime`, snapshot
//! fcbe53f6ac70f60667860032baf0bf36b3c3800e): `internal/provider/resource_monitor.go`
//! (`type monitor struct`), `resource_heartbeat.go`, `resource_policy.go` (`type policy`,
//! `policyStep`, `policyStepMember`), `resource_status_page.go` and
//! `resource_slack_integration.go`, and the API documentation pages
//! `https://betterstack.com/docs/uptime/api/{list-all-existing-monitors,create-a-new-monitor,
//! update-an-existing-monitor,list-all-existing-hearbeats,…}`. An attribute outside the table,
//! or of the wrong type, is refused with 422 — stricter than Better Stack, which is the point:
//! a client request that passes here uses only documented attributes.

use serde_json::{Map, Value};

/// The type of one attribute. Every attribute accepts `null` (Better Stack clears it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Str,
    Int,
    Bool,
    /// One of these strings.
    Enum(&'static [&'static str]),
    /// A list of these strings.
    EnumList(&'static [&'static str]),
    StrList,
    IntList,
    /// A string of digits (a monitor's `policy_id` is a string in the Terraform provider).
    IdStr,
    /// IPv4/IPv6 addresses or CIDRs.
    IpList,
    /// An escalation policy's `steps`.
    Steps,
    /// Request headers and other structured values the emulator does not model.
    Any,
}

/// One attribute: name, type, whether a client may write it.
pub type Attr = (&'static str, Ty, bool);

pub const MONITOR_TYPES: &[&str] = &[
    "status",
    "expected_status_code",
    "keyword",
    "keyword_absence",
    "ping",
    "tcp",
    "udp",
    "smtp",
    "pop",
    "imap",
    "dns",
    "playwright",
];
pub const REGIONS: &[&str] = &["us", "eu", "as", "au"];
const DAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const STEP_TYPES: &[&str] = &[
    "escalation",
    "time_branching",
    "metadata_branching",
    "instructions",
    "resolve_remove",
];
/// `policyStepMemberSchema.type`'s documented values.
pub const MEMBER_TYPES: &[&str] = &[
    "current_on_call",
    "entire_team",
    "all_slack_integrations",
    "all_microsoft_teams_integrations",
    "all_zapier_integrations",
    "all_webhook_integrations",
    "all_splunk_on_call_integrations",
    "incident_metadata",
    "user",
    "webhook",
    "slack_integration",
    "microsoft_teams_integration",
    "zapier_webhook",
    "pagerduty_integration",
    "policy",
];

use Ty::*;

const NOTIFY: [Attr; 6] = [
    ("call", Bool, true),
    ("sms", Bool, true),
    ("email", Bool, true),
    ("push", Bool, true),
    ("critical_alert", Bool, true),
    ("team_wait", Int, true),
];

pub const MONITOR: &[Attr] = &[
    ("url", Str, true),
    ("monitor_type", Enum(MONITOR_TYPES), true),
    ("pronounceable_name", Str, true),
    ("ssl_expiration", Int, true),
    ("domain_expiration", Int, true),
    ("policy_id", IdStr, true),
    ("expiration_policy_id", Int, true),
    ("required_keyword", Str, true),
    ("expected_status_codes", IntList, true),
    NOTIFY[0],
    NOTIFY[1],
    NOTIFY[2],
    NOTIFY[3],
    NOTIFY[4],
    NOTIFY[5],
    ("paused", Bool, true),
    ("follow_redirects", Bool, true),
    ("port", Str, true),
    ("regions", EnumList(REGIONS), true),
    ("monitor_group_id", Int, true),
    ("recovery_period", Int, true),
    ("verify_ssl", Bool, true),
    ("check_frequency", Int, true),
    ("confirmation_period", Int, true),
    ("http_method", Str, true),
    ("request_timeout", Int, true),
    ("request_body", Str, true),
    ("request_headers", Any, true),
    ("auth_username", Str, true),
    ("auth_password", Str, true),
    ("ip_version", Enum(&["ipv4", "ipv6"]), true),
    ("maintenance_from", Str, true),
    ("maintenance_to", Str, true),
    ("maintenance_timezone", Str, true),
    ("maintenance_days", EnumList(DAYS), true),
    ("remember_cookies", Bool, true),
    ("playwright_script", Str, true),
    ("scenario_name", Str, true),
    ("team_name", Str, true),
    ("status", Str, false),
    ("last_checked_at", Str, false),
    ("paused_at", Str, false),
    ("created_at", Str, false),
    ("updated_at", Str, false),
];

pub const HEARTBEAT: &[Attr] = &[
    ("name", Str, true),
    ("period", Int, true),
    ("grace", Int, true),
    ("policy_id", IdStr, true),
    ("heartbeat_group_id", Int, true),
    ("sort_index", Int, true),
    NOTIFY[0],
    NOTIFY[1],
    NOTIFY[2],
    NOTIFY[3],
    NOTIFY[4],
    NOTIFY[5],
    ("paused", Bool, true),
    ("maintenance_from", Str, true),
    ("maintenance_to", Str, true),
    ("maintenance_timezone", Str, true),
    ("maintenance_days", EnumList(DAYS), true),
    ("team_name", Str, true),
    ("url", Str, false),
    ("status", Str, false),
    ("paused_at", Str, false),
    ("created_at", Str, false),
    ("updated_at", Str, false),
];

pub const POLICY: &[Attr] = &[
    ("name", Str, true),
    ("repeat_count", Int, true),
    ("repeat_delay", Int, true),
    ("fallback_policy_id", Int, true),
    ("steps", Steps, true),
    ("policy_group_id", Int, true),
    ("team_name", Str, true),
    ("incident_token", Str, false),
];

pub const STATUS_PAGE: &[Attr] = &[
    ("company_name", Str, true),
    ("company_url", Str, true),
    ("contact_url", Str, true),
    ("logo_url", Str, true),
    ("timezone", Str, true),
    ("subdomain", Str, true),
    ("custom_domain", Str, true),
    ("custom_css", Str, true),
    ("custom_javascript", Str, true),
    ("google_analytics_id", Str, true),
    ("min_incident_length", Int, true),
    ("announcement", Str, true),
    ("announcement_embed_visible", Bool, true),
    ("announcement_embed_css", Str, true),
    ("announcement_embed_link", Str, true),
    ("subscribable", Bool, true),
    ("hide_from_search_engines", Bool, true),
    ("password_enabled", Bool, true),
    ("password", Str, true),
    ("history", Int, true),
    ("theme", Enum(&["light", "dark", "system"]), true),
    ("layout", Enum(&["vertical", "horizontal"]), true),
    ("design", Enum(&["v1", "v2"]), true),
    ("navigation_links", Any, true),
    ("ip_allowlist", IpList, true),
    ("published", Bool, true),
    ("require_sso", Bool, true),
    ("automatic_reports", Bool, true),
    ("status_page_group_id", Int, true),
    ("team_name", Str, true),
    ("aggregate_state", Str, false),
    ("created_at", Str, false),
    ("updated_at", Str, false),
];

pub const SLACK_INTEGRATION: &[Attr] = &[
    ("slack_team_id", Str, false),
    ("slack_team_name", Str, false),
    ("slack_channel_id", Str, false),
    ("slack_channel_name", Str, false),
    ("slack_status", Enum(&["active", "account_inactive"]), false),
    (
        "integration_type",
        Enum(&["legacy", "verbose", "thread", "channel"]),
        false,
    ),
    ("on_call_notifications", Bool, false),
];

/// The attributes of one step (`policyStep`'s JSON names).
const STEP: &[Attr] = &[
    ("type", Enum(STEP_TYPES), true),
    ("wait_before", Int, true),
    ("wait_until_time", Str, true),
    ("wait_until_timezone", Str, true),
    ("urgency_id", Int, true),
    ("step_members", Any, true),
    ("timezone", Str, true),
    ("days", EnumList(DAYS), true),
    ("time_from", Str, true),
    ("time_to", Str, true),
    ("metadata_key", Str, true),
    ("metadata_values", Any, true),
    ("action_type", Str, true),
    ("policy_id", Int, true),
    ("policy_metadata_key", Str, true),
    ("instructions_comment", Str, true),
    ("instructions_reminder_enabled", Bool, true),
    ("instructions_reminder_interval_hours", Int, true),
];
/// The attributes of one step member (`policyStepMember`).
const MEMBER: &[Attr] = &[
    ("type", Enum(MEMBER_TYPES), true),
    ("id", Int, true),
    ("email", Str, true),
    ("metadata_key", Str, true),
    ("team_id", Int, true),
];

/// Field-level errors, as the 422 answer's `errors` object holds them.
pub type Errors = Map<String, Value>;

fn push(errors: &mut Errors, key: &str, message: impl Into<String>) {
    let list = errors
        .entry(key.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(a) = list {
        a.push(Value::String(message.into()));
    }
}

/// Checks `body` (the request, or a seeded resource when `seeding`) against `attrs`.
pub fn check(body: &Map<String, Value>, attrs: &[Attr], seeding: bool) -> Result<(), Errors> {
    let mut errors = Errors::new();
    for (key, value) in body {
        let Some((_, ty, writable)) = attrs.iter().find(|(n, _, _)| n == key) else {
            push(&mut errors, key, "is not a known attribute");
            continue;
        };
        if !writable && !seeding {
            push(&mut errors, key, "is read-only");
            continue;
        }
        if let Err(message) = check_value(value, *ty) {
            push(&mut errors, key, message);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn check_value(value: &Value, ty: Ty) -> Result<(), String> {
    if value.is_null() {
        return Ok(());
    }
    let ok = match ty {
        Str => value.is_string(),
        Int => value.is_i64(),
        Bool => value.is_boolean(),
        Enum(allowed) => value.as_str().is_some_and(|s| allowed.contains(&s)),
        EnumList(allowed) => value.as_array().is_some_and(|a| {
            a.iter()
                .all(|v| v.as_str().is_some_and(|s| allowed.contains(&s)))
        }),
        StrList => value
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string)),
        IntList => value
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_i64)),
        IdStr => value
            .as_str()
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())),
        IpList => {
            return match value.as_array() {
                Some(a) => a.iter().try_for_each(|v| match v.as_str() {
                    Some(s) if is_ip_or_cidr(s) => Ok(()),
                    _ => Err(format!("{v} is not an IP address or CIDR")),
                }),
                None => Err("must be a list".into()),
            };
        }
        Steps => return check_steps(value),
        Any => true,
    };
    if ok {
        Ok(())
    } else {
        Err(match ty {
            Enum(allowed) | EnumList(allowed) => {
                format!("is not included in the list ({})", allowed.join(", "))
            }
            _ => format!("is not a valid {}", type_name(ty)),
        })
    }
}

fn type_name(ty: Ty) -> &'static str {
    match ty {
        Str => "string",
        Int => "integer",
        Bool => "boolean",
        StrList => "list of strings",
        IntList => "list of integers",
        IdStr => "id (a string of digits)",
        _ => "value",
    }
}

fn check_steps(value: &Value) -> Result<(), String> {
    let steps = value.as_array().ok_or("must be a list")?;
    for (i, step) in steps.iter().enumerate() {
        let obj = step
            .as_object()
            .ok_or_else(|| format!("step {i} is not an object"))?;
        if let Err(e) = check(obj, STEP, false) {
            return Err(format!("step {i}: {}", Value::Object(e)));
        }
        if obj.get("type").and_then(Value::as_str).is_none() {
            return Err(format!("step {i}: type is required"));
        }
        let members = match obj.get("step_members") {
            None | Some(Value::Null) => continue,
            Some(Value::Array(a)) => a,
            Some(_) => return Err(format!("step {i}: step_members must be a list")),
        };
        for (j, m) in members.iter().enumerate() {
            let m = m
                .as_object()
                .ok_or_else(|| format!("step {i} member {j} is not an object"))?;
            if let Err(e) = check(m, MEMBER, false) {
                return Err(format!("step {i} member {j}: {}", Value::Object(e)));
            }
            if m.get("type").and_then(Value::as_str).is_none() {
                return Err(format!("step {i} member {j}: type is required"));
            }
        }
    }
    Ok(())
}

/// An IPv4/IPv6 address, or one with a prefix length in range.
pub fn is_ip_or_cidr(s: &str) -> bool {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let Ok(ip) = addr.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    prefix.is_none_or(|p| p.parse::<u8>().is_ok_and(|n| n <= max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn unknown_read_only_and_mistyped_attributes_are_named() {
        let body = obj(json!({
            "url": "https://e", "monitor_type": "http", "check_frequency": "180",
            "regions": ["us", "mars"], "status": "up", "colour": "red", "policy_id": 41,
            "paused": null
        }));
        let errors = check(&body, MONITOR, false).expect_err("refused");
        let keys: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "check_frequency",
                "colour",
                "monitor_type",
                "policy_id",
                "regions",
                "status"
            ]
        );
        assert_eq!(errors["colour"], json!(["is not a known attribute"]));
        assert_eq!(errors["status"], json!(["is read-only"]));
        assert!(
            check(&obj(json!({"status": "up"})), MONITOR, true).is_ok(),
            "seeds may"
        );
        assert!(check(&obj(json!({"policy_id": "41"})), MONITOR, false).is_ok());
    }

    #[test]
    fn steps_and_allowlists_are_checked_inside() {
        let ok = obj(
            json!({"name": "p", "steps": [{"type": "escalation", "wait_before": 0,
            "step_members": [{"type": "slack_integration", "id": 7}]}]}),
        );
        assert!(check(&ok, POLICY, false).is_ok());
        for bad in [
            json!({"steps": [{"type": "escalation", "step_members": [{"type": "slack_integration", "id": "7"}]}]}),
            json!({"steps": [{"type": "escalation", "step_members": [{"type": "slack", "id": 7}]}]}),
            json!({"steps": [{"type": "escalation", "step_members": [{"id": 7}]}]}),
            json!({"steps": [{"wait_before": 0}]}),
            json!({"steps": [{"type": "escalation", "waitBefore": 0}]}),
        ] {
            assert!(check(&obj(bad.clone()), POLICY, false).is_err(), "{bad}");
        }
        assert!(
            check(
                &obj(json!({"ip_allowlist": ["203.0.113.0/24", "2001:db8::1"]})),
                STATUS_PAGE,
                false
            )
            .is_ok()
        );
        assert!(
            check(
                &obj(json!({"ip_allowlist": ["203.0.113.0/33"]})),
                STATUS_PAGE,
                false
            )
            .is_err()
        );
    }
}
