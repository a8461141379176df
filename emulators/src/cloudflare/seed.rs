//! The seed document: initial state of the emulated Cloudflare account, and also the shape
//! [`super::CloudflareEmulator::snapshot`] returns, so a snapshot can seed a new emulator.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::validate;

/// Initial (or current, when taken from a snapshot) emulated Cloudflare state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Seed {
    /// Bearer tokens accepted. Empty means every request is refused.
    pub tokens: Vec<String>,
    /// The user the tokens belong to: the actor of the audit entries the API's writes leave
    /// (interface `API`), as Cloudflare names a token's owner.
    pub token_owner: AuditActor,
    pub accounts: Vec<Account>,
    pub zones: Vec<Zone>,
}

/// An account audit log entry, in the spec's `aaa_audit-logs` shape. Writes through the API
/// add one each (see the module's table); a test or the demo adds dashboard changes
/// (interface `UI`) with [`crate::cloudflare::CloudflareEmulator::mutate`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditLog {
    /// A UUID; generated when empty.
    pub id: String,
    pub action: AuditAction,
    pub actor: AuditActor,
    /// `API` or `UI`.
    pub interface: String,
    /// Varies by resource type: `zone_name`, and for a setting its `name` and `value`.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    #[serde(rename = "newValue")]
    pub new_value: String,
    #[serde(rename = "oldValue")]
    pub old_value: String,
    pub owner: AuditOwner,
    pub resource: AuditResource,
    /// RFC 3339; now when empty.
    pub when: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditAction {
    pub result: bool,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditActor {
    pub email: String,
    pub id: String,
    pub ip: String,
    /// `user`, `admin` or `Cloudflare`.
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditOwner {
    pub id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditResource {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Account {
    /// 32 hex characters; generated when empty.
    pub id: String,
    pub name: String,
    pub alerting_policies: Vec<AlertingPolicy>,
    /// Alerting v3 webhook destinations (read-only here: created in the dashboard).
    pub webhooks: Vec<Webhook>,
    /// Account-scope Logpush jobs.
    pub logpush_jobs: Vec<LogpushJob>,
    /// The account audit log, in any order (answered newest first by default).
    pub audit_logs: Vec<AuditLog>,
}

/// A webhook destination, in the spec's `aaa_webhooks` shape. `secret` is write-only there
/// and never answered.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Webhook {
    /// A UUID; generated when empty.
    pub id: String,
    pub name: String,
    /// `slack`, `generic`, `datadog`, `discord`, `feishu`, `gchat`, `opsgenie`, `splunk`.
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When a delivery last succeeded / failed (RFC 3339), if ever.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Zone {
    /// 32 hex characters; generated when empty.
    pub id: String,
    pub name: String,
    pub account_id: String,
    /// Setting id to value. Known security settings missing here get Cloudflare's defaults;
    /// unknown ids are served as given and accept any value.
    pub settings: BTreeMap<String, Value>,
    /// Entry-point rulesets by phase (`http_request_firewall_custom`, `http_ratelimit`, ...).
    pub rulesets: BTreeMap<String, Ruleset>,
    pub access_rules: Vec<AccessRule>,
    pub logpush_jobs: Vec<LogpushJob>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ruleset {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Defaults to `default`, the name Cloudflare gives entry points created implicitly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Decimal string, as the API returns it; defaults to `"1"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    pub rules: Vec<Rule>,
}

/// A ruleset rule. Fields the emulator does not model are kept in `extra` and echoed back.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Defaults to the rule id, as on Cloudflare.
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Per-rule version (decimal string): `"1"` when created, bumped when the rule changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub expression: String,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_parameters: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging: Option<Value>,
    /// Rate-limit parameters; required in phase `http_ratelimit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratelimit: Option<Value>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `block`, `challenge`, `whitelist`, `js_challenge` or `managed_challenge`.
    pub mode: String,
    pub configuration: AccessRuleConfiguration,
    pub notes: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified_on: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessRuleConfiguration {
    /// `ip`, `ip6`, `ip_range`, `asn` or `country`.
    pub target: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertingPolicy {
    /// UUID; generated when missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    pub alert_type: String,
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Mechanism type (`email`, `webhooks`, `pagerduty`) to targets.
    pub mechanisms: BTreeMap<String, Vec<MechanismTarget>>,
    /// Alert-type specific filters; every filter is a list of strings.
    pub filters: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
}

impl Default for AlertingPolicy {
    fn default() -> Self {
        // Cloudflare's default for `enabled` is true.
        Self {
            id: None,
            name: String::new(),
            alert_type: String::new(),
            enabled: true,
            description: None,
            mechanisms: BTreeMap::new(),
            filters: BTreeMap::new(),
            alert_interval: None,
            created: None,
            modified: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MechanismTarget {
    /// Email address for `email`, destination UUID otherwise.
    pub id: String,
}

/// A Logpush job. Health fields can be seeded to emulate a failing pipeline.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogpushJob {
    /// Positive integer, unique across the emulator; generated when missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    pub destination_conf: String,
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_options: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logpull_options: Option<String>,
    /// `high` (default) or `low`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency: Option<String>,
    /// Unset (the default) or `edge`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_upload_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_upload_interval_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_upload_records: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_complete: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

impl Seed {
    /// Checks the seed with the same rules the API applies to writes, so a bad demo seed fails
    /// loudly at load time instead of serving state the real API could never hold. Returns one
    /// message per problem. [`super::CloudflareEmulator::new`] does not call this.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut zone_ids = std::collections::BTreeSet::new();
        for account in &self.accounts {
            let at = format!("account {:?}", account.name);
            for policy in &account.alerting_policies {
                let value = serde_json::to_value(policy).unwrap_or(Value::Null);
                if let Err(err) = validate::alerting_policy(&value) {
                    problems.push(format!("{at}: policy {:?}: {}", policy.name, err.message));
                }
            }
            for job in &account.logpush_jobs {
                check_job(job, &at, &mut problems);
            }
        }
        for zone in &self.zones {
            let at = format!("zone {:?}", zone.name);
            if !zone.id.is_empty() && !zone_ids.insert(zone.id.clone()) {
                problems.push(format!("{at}: duplicate zone id {}", zone.id));
            }
            if !self.accounts.iter().any(|a| a.id == zone.account_id) {
                problems.push(format!(
                    "{at}: account_id {:?} is not a seeded account",
                    zone.account_id
                ));
            }
            for (id, value) in &zone.settings {
                if let Some(Err(message)) = validate::setting(id, value) {
                    problems.push(format!("{at}: setting {id}: {message}"));
                }
            }
            for (phase, ruleset) in &zone.rulesets {
                let rules: Vec<Value> = ruleset
                    .rules
                    .iter()
                    .map(|r| {
                        // Ids in a seed are new by definition, not references to existing rules.
                        let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
                        if let Some(obj) = v.as_object_mut() {
                            obj.remove("id");
                        }
                        v
                    })
                    .collect();
                if let Err(errors) = validate::rules(phase, &rules, &[]) {
                    for error in errors {
                        problems.push(format!("{at}: ruleset {phase}: {}", error.message));
                    }
                }
            }
            let mut seen = std::collections::BTreeSet::new();
            for rule in &zone.access_rules {
                let value = serde_json::to_value(rule).unwrap_or(Value::Null);
                if let Err(err) = validate::access_rule(&value) {
                    problems.push(format!("{at}: access rule: {}", err.message));
                }
                let key = (&rule.configuration.target, &rule.configuration.value);
                if !seen.insert(key) {
                    problems.push(format!(
                        "{at}: duplicate access rule for {} {}",
                        rule.configuration.target, rule.configuration.value
                    ));
                }
            }
            for job in &zone.logpush_jobs {
                check_job(job, &at, &mut problems);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

fn check_job(job: &LogpushJob, at: &str, problems: &mut Vec<String>) {
    let value = serde_json::to_value(job).unwrap_or(Value::Null);
    if let Err(err) = validate::logpush_job(&value, true) {
        problems.push(format!("{at}: logpush job: {}", err.message));
    }
}
