//! Pure mapping between the Qdrant Cloud API's answers (gRPC-Gateway JSON: lowerCamelCase
//! names, and — proto3 — empty lists, `false` and enum zero values left out of answers), the
//! policy blocks and the neutral model; and the one write Perimeter makes, an `UpdateCluster`
//! whose update mask names the allowlist alone. Every section is a `Settings` section: a
//! cluster has one allowlist, one TLS setting and one set of alerts.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value, json};

use crate::core::addresses::{self, Resolver, SetError};
use crate::core::normalize::{self, Invalid};
use crate::core::{Item, Section, SectionKind, State};
use crate::http::sanitize;
use crate::providers::qdrant::api::{
    DEFAULT_KEY_EXPIRY_DAYS, MAX_RANGES, QdrantFirewall, QdrantMonitoring, Reporting, Severity,
};
use crate::providers::{Finding, Purpose, Scope, Target};

/// The cluster's IP allowlist: item `allowedIpSourceRanges`.
pub const NETWORK: &str = "network";
/// TLS of the database endpoint: item `enabled`.
pub const TLS: &str = "tls";
/// Firing alerts: item `firing`, the sorted types of the alerts that count.
pub const ALERTS: &str = "alerts";

pub const RANGES: &str = "allowedIpSourceRanges";
pub const ENABLED: &str = "enabled";
pub const FIRING: &str = "firing";

/// The update mask of the only write Perimeter makes. It is the JSON form of a
/// `google.protobuf.FieldMask` (lowerCamelCase paths joined by commas; protojson refuses a
/// path with an underscore). Without a mask `UpdateCluster` replaces the whole cluster.
pub const RANGES_MASK: &str = "configuration.allowedIpSourceRanges";

/// `cloudProviderId` of a hybrid-cloud cluster, the only kind whose TLS is a setting.
pub const HYBRID: &str = "hybrid";

/// The cluster is reachable from every address: no range, or `0.0.0.0/0`.
pub const NETWORK_OPEN: &str = "NetworkOpen";
/// A database API key of the cluster expires within the horizon, or has expired.
pub const API_KEY_EXPIRING: &str = "ApiKeyExpiring";
/// A firing alert of the cluster, at or above the declared severity.
pub use crate::core::model::SERVICE_UNHEALTHY;

/// Every finding code this provider's reads can report.
pub const FINDING_CODES: &[&str] = &[
    NETWORK_OPEN,
    API_KEY_EXPIRING,
    SERVICE_UNHEALTHY,
    crate::core::model::MANUAL_CHANGE_NEEDED,
];

/// Sections the Cloud API reads but Perimeter does not write, with what a person must do.
/// TLS of a hybrid-cloud cluster needs a certificate in the customer's own Kubernetes
/// cluster first, so switching `enableTls` alone would break the database's clients.
pub const READ_ONLY: &[(&str, &str)] = &[(
    TLS,
    "TLS is off on this hybrid-cloud cluster: provide a certificate in its Kubernetes cluster and enable TLS in its database configuration (Qdrant Cloud console or the cluster's owner); Perimeter does not switch it without the certificate",
)];

const FIRING_STATE: &str = "CLUSTER_ALERT_STATE_FIRING";
const ALERT_TYPE_PREFIX: &str = "CLUSTER_ALERT_TYPE_";

/// Where a Qdrant target applies: one cluster of one account. What to read besides the
/// declared sections travels with it, so the client needs nothing else from the block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QdrantScope {
    pub account_id: String,
    pub cluster_id: String,
    /// Days ahead an API key's expiry is reported; `None`: keys are not read (monitoring
    /// targets, or `mode: Ignore`).
    pub key_expiry_days: Option<u32>,
    /// The lowest severity of a firing alert that counts; `None`: alerts are not read.
    pub alert_threshold: Option<Severity>,
}

impl fmt::Display for QdrantScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cluster {}", self.cluster_id)
    }
}

// ---- desired ---------------------------------------------------------------------------

/// `allowedAddressSets` added to `allowedIpSourceRanges`. The API takes IPv4 ranges only, at
/// most 40: a set with an IPv6 address, or one that takes the list past 40, is refused naming
/// it, rather than written without some of its addresses.
pub fn with_address_sets(
    fw: &QdrantFirewall,
    sets: &mut Resolver,
) -> Result<QdrantFirewall, SetError> {
    let mut out = fw.clone();
    let Some(names) = out.allowed_address_sets.take() else {
        return Ok(out);
    };
    let rules = addresses::ListRules {
        whose: "Qdrant Cloud's allowlist",
        ipv4_only: true,
        max: Some(MAX_RANGES),
    };
    addresses::merge_sets(
        sets,
        "spec.qdrant.allowedAddressSets",
        &names,
        &mut out.allowed_ip_source_ranges,
        rules,
    )?;
    Ok(out)
}

pub fn firewall_target(fw: &QdrantFirewall) -> Result<Target, Invalid> {
    if fw.allowed_address_sets.is_some() {
        return Err(addresses::unresolved("spec.qdrant.allowedAddressSets"));
    }
    let mut state = State::default();
    if let Some(list) = &fw.allowed_ip_source_ranges {
        let ranges = desired_ranges(list)?;
        state.push(Section::new(
            NETWORK,
            SectionKind::Settings,
            vec![
                Item::new(RANGES)
                    .field("value", ranges.clone())
                    .with_raw(Value::from(ranges)),
            ],
        ));
    }
    if let Some(tls) = fw.require_tls {
        state.push(Section::new(
            TLS,
            SectionKind::Settings,
            vec![Item::new(ENABLED).field("value", tls)],
        ));
    }
    let expiry = fw.api_key_expiry.as_ref();
    // Read only when declared: an absent `apiKeyExpiry` reads no keys.
    let key_expiry_days = match expiry.map(|e| e.mode) {
        Some(Reporting::Report) => Some(
            expiry
                .and_then(|e| e.within_days)
                .unwrap_or(DEFAULT_KEY_EXPIRY_DAYS),
        ),
        Some(Reporting::Ignore) | None => None,
    };
    if key_expiry_days == Some(0) {
        return Err(Invalid(
            "apiKeyExpiry.withinDays: must be at least 1".into(),
        ));
    }
    Ok(Target {
        purpose: Purpose::Firewall,
        scope: Scope::new(QdrantScope {
            account_id: fw.account_id.clone(),
            cluster_id: fw.cluster_id.clone(),
            key_expiry_days,
            alert_threshold: None,
        }),
        desired: state,
    })
}

pub fn monitoring_target(mon: &QdrantMonitoring) -> Result<Target, Invalid> {
    let mut state = State::default();
    let threshold = mon.no_firing_alerts.as_ref().map(|a| a.min_severity);
    if threshold.is_some() {
        state.push(Section::new(
            ALERTS,
            SectionKind::Settings,
            vec![Item::new(FIRING).field("value", Value::Array(Vec::new()))],
        ));
    }
    Ok(Target {
        purpose: Purpose::Monitoring,
        scope: Scope::new(QdrantScope {
            account_id: mon.account_id.clone(),
            cluster_id: mon.cluster_id.clone(),
            key_expiry_days: None,
            alert_threshold: threshold,
        }),
        desired: state,
    })
}

/// The declared ranges in canonical form, sorted (the API keeps no meaningful order),
/// checked against what the API accepts: IPv4 only, at most 40, at least one.
fn desired_ranges(list: &[String]) -> Result<Vec<String>, Invalid> {
    if list.is_empty() {
        return Err(Invalid(format!(
            "{RANGES}: an empty list leaves the cluster open to every address; declare \
             0.0.0.0/0 to mean that"
        )));
    }
    if list.len() > MAX_RANGES {
        return Err(Invalid(format!(
            "{RANGES}: {} ranges, the API takes at most {MAX_RANGES}",
            list.len()
        )));
    }
    let mut out = BTreeSet::new();
    for value in list {
        let cidr = normalize::cidr(value).map_err(|e| Invalid(format!("{RANGES}: {}", e.0)))?;
        if cidr.contains(':') {
            return Err(Invalid(format!(
                "{RANGES}: {value:?} is IPv6; Qdrant Cloud takes IPv4 ranges only"
            )));
        }
        if !out.insert(cidr.clone()) {
            return Err(Invalid(format!("{RANGES}: {cidr:?} is declared twice")));
        }
    }
    Ok(out.into_iter().collect())
}

// ---- observed --------------------------------------------------------------------------

fn bad(what: impl fmt::Display) -> Invalid {
    Invalid(format!("unexpected answer: {what}"))
}

/// The cluster of a `GetCluster` (or `UpdateCluster`) answer, `{"cluster": {…}}`, checked to
/// be the one asked for: an answer about another cluster is never read as this one's.
pub fn answer_cluster<'a>(answer: &'a Value, scope: &QdrantScope) -> Result<&'a Value, Invalid> {
    let cluster = answer
        .get("cluster")
        .filter(|c| c.is_object())
        .ok_or_else(|| bad("cluster is not an object"))?;
    let id = cluster.get("id").and_then(Value::as_str);
    let account = cluster.get("accountId").and_then(Value::as_str);
    if id != Some(scope.cluster_id.as_str()) || account != Some(scope.account_id.as_str()) {
        return Err(bad(
            "the cluster's id or accountId is not the one asked for",
        ));
    }
    if !cluster.get("configuration").is_some_and(Value::is_object) {
        return Err(bad("the cluster has no configuration"));
    }
    Ok(cluster)
}

/// What one cluster says of the declared firewall sections, with the `NetworkOpen` finding
/// (reported whenever the cluster is read, declared or not: an open cluster is worth saying).
pub fn observed_cluster(cluster: &Value) -> Result<(Vec<Section>, Vec<Finding>), Invalid> {
    let config = cluster
        .get("configuration")
        .ok_or_else(|| bad("the cluster has no configuration"))?;
    let raw = config.get(RANGES).cloned().unwrap_or(json!([]));
    let list = match &raw {
        Value::Array(list) => list,
        _ => return Err(bad(format!("configuration.{RANGES} is not a list"))),
    };
    let mut ranges = BTreeSet::new();
    for v in list {
        let text = v.as_str().ok_or_else(|| {
            bad(format!(
                "configuration.{RANGES} holds a value that is not a string"
            ))
        })?;
        ranges.insert(normalize::cidr(text).unwrap_or_else(|_| sanitize(text, 60)));
    }
    let ranges: Vec<String> = ranges.into_iter().collect();
    let mut findings = Vec::new();
    if ranges.is_empty() || ranges.iter().any(|r| r == "0.0.0.0/0") {
        let why = if ranges.is_empty() {
            "no allowed IP source range"
        } else {
            "0.0.0.0/0 is an allowed IP source range"
        };
        findings.push(Finding {
            code: NETWORK_OPEN,
            subject: format!("{NETWORK}[{RANGES}]"),
            message: format!("the cluster is reachable from every IPv4 address: {why}"),
        });
    }
    let network = Section::new(
        NETWORK,
        SectionKind::Settings,
        vec![Item::new(RANGES).field("value", ranges).with_raw(raw)],
    );
    let tls = Section::new(
        TLS,
        SectionKind::Settings,
        vec![Item::new(ENABLED).field("value", tls_enabled(cluster)?)],
    );
    Ok((vec![network, tls], findings))
}

/// Managed-cloud clusters always serve TLS (the platform controls it); a hybrid-cloud one
/// does when `databaseConfiguration.service.enableTls` is set (left out when `false`).
fn tls_enabled(cluster: &Value) -> Result<bool, Invalid> {
    let hybrid = match cluster.get("cloudProviderId") {
        None => false,
        Some(Value::String(p)) => p == HYBRID,
        Some(_) => return Err(bad("cloudProviderId is not a string")),
    };
    if !hybrid {
        return Ok(true);
    }
    match cluster.pointer("/configuration/databaseConfiguration/service/enableTls") {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad("enableTls is not a boolean")),
    }
}

/// The cluster configuration's own revision, for status and the evidence trail:
/// `configuration modified 2026-11-29T10:00:00Z`. Only a parseable instant is quoted.
pub fn cluster_revision(cluster: &Value) -> Option<String> {
    cluster
        .pointer("/configuration/lastModifiedAt")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map(|t| format!("configuration modified {t}"))
}

/// `ApiKeyExpiring` findings from a `ListDatabaseApiKeys` answer: each key of `cluster_id`
/// whose `expiresAt` is before `now + days`. A key without `expiresAt` never expires. The
/// key's name and id are quoted, never its `key` or `postfix`.
pub fn expiring_keys(
    answer: &Value,
    cluster_id: &str,
    now: jiff::Timestamp,
    days: u32,
) -> Result<Vec<Finding>, Invalid> {
    if !answer.is_object() {
        return Err(bad("the database API keys answer is not an object"));
    }
    let items = match answer.get("items") {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(bad("items is not a list")),
    };
    let horizon = now
        .checked_add(jiff::SignedDuration::from_hours(i64::from(days) * 24))
        .map_err(|_| Invalid(format!("{days} days ahead is out of range")))?;
    let mut findings = Vec::new();
    for key in items {
        let id = key
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a database API key without an id"))?;
        if key.get("clusterId").and_then(Value::as_str) != Some(cluster_id) {
            continue;
        }
        let expires = match key.get("expiresAt") {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => s
                .parse::<jiff::Timestamp>()
                .map_err(|_| bad("a database API key's expiresAt is not an instant"))?,
            Some(_) => return Err(bad("a database API key's expiresAt is not a string")),
        };
        if expires >= horizon {
            continue;
        }
        let name = key
            .get("name")
            .and_then(Value::as_str)
            .map(|n| sanitize(n, 80))
            .unwrap_or_default();
        let id = sanitize(id, 40);
        let when = if expires <= now {
            format!("expired at {expires}")
        } else {
            format!("expires at {expires}, within {days} days")
        };
        findings.push(Finding {
            code: API_KEY_EXPIRING,
            subject: format!("databaseApiKeys[{id}]"),
            message: format!("database API key {name:?} ({id}) {when}"),
        });
    }
    findings.sort_by(|a, b| a.subject.cmp(&b.subject));
    Ok(findings)
}

/// A `ListClusterAlerts` answer: the `alerts` section (the sorted types of the firing alerts
/// that count) and a `ServiceUnhealthy` finding per such alert, with Qdrant's id. An alert of
/// a severity not known here counts whatever the threshold.
pub fn observed_alerts(
    answer: &Value,
    threshold: Severity,
) -> Result<(Section, Vec<Finding>), Invalid> {
    if !answer.is_object() {
        return Err(bad("the alerts answer is not an object"));
    }
    let alerts = match answer.get("alerts") {
        None => &Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(bad("alerts is not a list")),
    };
    let text = |alert: &Value, key: &str| -> Result<Option<String>, Invalid> {
        match alert.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(format!("an alert's {key} is not a string"))),
        }
    };
    let mut types = BTreeSet::new();
    let mut findings = Vec::new();
    for alert in alerts {
        let id = text(alert, "id")?.ok_or_else(|| bad("an alert without an id"))?;
        if text(alert, "state")?.as_deref() != Some(FIRING_STATE) {
            continue;
        }
        let severity = text(alert, "severity")?.unwrap_or_default();
        let counts = Severity::from_api(&severity).is_none_or(|s| s >= threshold);
        if !counts {
            continue;
        }
        let kind = text(alert, "type")?.unwrap_or_else(|| "CLUSTER_ALERT_TYPE_UNSPECIFIED".into());
        let kind = sanitize(kind.strip_prefix(ALERT_TYPE_PREFIX).unwrap_or(&kind), 60);
        let severity = severity
            .strip_prefix("CLUSTER_ALERT_SEVERITY_")
            .map(|s| sanitize(s, 20))
            .unwrap_or_else(|| "UNSPECIFIED".into());
        let title = text(alert, "title")?
            .map(|t| format!(": {}", sanitize(&t, 80)))
            .unwrap_or_default();
        let since = text(alert, "lastFiringAt")?
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(|t| format!(" (last firing {t})"))
            .unwrap_or_default();
        let id = sanitize(&id, 40);
        findings.push(Finding {
            code: SERVICE_UNHEALTHY,
            subject: format!("{ALERTS}[{id}]"),
            message: format!("{severity} alert {kind} is firing{title}{since}"),
        });
        types.insert(kind);
    }
    let types: Vec<String> = types.into_iter().collect();
    Ok((
        Section::new(
            ALERTS,
            SectionKind::Settings,
            vec![Item::new(FIRING).field("value", types)],
        ),
        findings,
    ))
}

// ---- the write -------------------------------------------------------------------------

/// An `UpdateCluster` request that changes the allowlist and nothing else. The only way to
/// make one is [`ranges_update`], which always sets the update mask: without it the API
/// replaces the whole cluster with the body.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterUpdate {
    account_id: String,
    cluster_id: String,
    body: Value,
}

impl ClusterUpdate {
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// `{"cluster": {…}, "updateMask": "configuration.allowedIpSourceRanges"}`.
    pub fn body(&self) -> &Value {
        &self.body
    }
}

/// The request that sets `ranges` (canonical, from the desired state) as the allowlist of
/// the observed `cluster` (the checked `GetCluster` answer). The body carries the cluster as
/// read, so that the request passes validation of required fields (name, region, package)
/// whether the service checks the message before or after applying the mask; the mask makes
/// the service take only the allowlist from it. `id` and `accountId` travel in the path, and
/// `state` is read-only, so they are left out.
pub fn ranges_update(
    scope: &QdrantScope,
    cluster: &Value,
    ranges: &[String],
) -> Result<ClusterUpdate, Invalid> {
    let checked = desired_ranges(ranges)?;
    if checked != ranges {
        return Err(Invalid(format!(
            "{RANGES}: the ranges to write are not in canonical, sorted form"
        )));
    }
    let answer = json!({ "cluster": cluster });
    answer_cluster(&answer, scope)?;
    let mut body: Map<String, Value> = match cluster {
        Value::Object(map) => map.clone(),
        _ => return Err(bad("cluster is not an object")),
    };
    for read_only in ["id", "accountId", "state"] {
        body.remove(read_only);
    }
    match body.get_mut("configuration") {
        Some(Value::Object(config)) => {
            config.insert(RANGES.to_string(), Value::from(checked));
        }
        _ => return Err(bad("the cluster has no configuration")),
    }
    Ok(ClusterUpdate {
        account_id: scope.account_id.clone(),
        cluster_id: scope.cluster_id.clone(),
        body: json!({ "cluster": body, "updateMask": RANGES_MASK }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Undeclared, diff};

    const ACCOUNT: &str = "0b3c3f6e-5e0f-4b8a-9d39-3f1f2a9c7d10";
    const CLUSTER: &str = "7e6f2a4c-1b2d-4c3e-8f90-a1b2c3d4e5f6";

    fn fw(yaml: &str) -> QdrantFirewall {
        serde_yaml::from_str(&format!(
            "accountId: {ACCOUNT}\nclusterId: {CLUSTER}\n{yaml}"
        ))
        .expect("test fixture parses")
    }

    fn mon(yaml: &str) -> QdrantMonitoring {
        serde_yaml::from_str(&format!(
            "accountId: {ACCOUNT}\nclusterId: {CLUSTER}\n{yaml}"
        ))
        .expect("test fixture parses")
    }

    fn scope() -> QdrantScope {
        QdrantScope {
            account_id: ACCOUNT.into(),
            cluster_id: CLUSTER.into(),
            key_expiry_days: Some(14),
            alert_threshold: None,
        }
    }

    /// A `v1Cluster` as `GetCluster` answers it (proto3 JSON: empty fields left out).
    fn cluster(ranges: Option<Value>, provider: &str, tls: Option<bool>) -> Value {
        let mut configuration = json!({
            "lastModifiedAt": "2026-11-29T10:00:00.123Z",
            "numberOfNodes": 3,
            "version": "v1.16.1",
            "packageId": "9a3c1b2e-0000-4000-8000-000000000001",
            "additionalResources": {"disk": "20"},
            "databaseConfiguration": {
                "service": {},
                "auditLogging": {"enabled": true, "maxLogFiles": 7}
            },
            "restartPolicy": "CLUSTER_CONFIGURATION_RESTART_POLICY_ROLLING"
        });
        if let Some(r) = ranges {
            configuration[RANGES] = r;
        }
        if let Some(t) = tls {
            configuration["databaseConfiguration"]["service"]["enableTls"] = json!(t);
        }
        json!({
            "id": CLUSTER,
            "createdAt": "2026-01-10T08:00:00Z",
            "accountId": ACCOUNT,
            "name": "search-prod",
            "cloudProviderId": provider,
            "cloudProviderRegionId": "eu-central-1",
            "labels": [{"key": "team", "value": "search"}],
            "configuration": configuration,
            "state": {"version": "v1.16.1", "nodesUp": 3, "phase": "CLUSTER_PHASE_HEALTHY",
                      "endpoint": {"url": "https://7e6f2a4c.eu-central-1-0.aws.cloud.qdrant.io",
                                   "restPort": 6333, "grpcPort": 6334}}
        })
    }

    fn drift_of(
        target: &Target,
        observed: &State,
    ) -> Vec<(String, Option<String>, Option<String>)> {
        let d = diff(&target.desired, observed, Undeclared::Remove);
        assert!(d.unmanaged.is_empty(), "settings are never unmanaged");
        d.drift
            .into_iter()
            .map(|x| (x.path, x.desired, x.observed))
            .collect()
    }

    fn observe(cluster: &Value) -> (State, Vec<Finding>) {
        let (sections, findings) = observed_cluster(cluster).expect("valid cluster");
        (State { sections }, findings)
    }

    #[test]
    fn targets_carry_their_cluster_and_what_else_to_read() {
        let cases = [
            // Keys are read only when declared.
            (firewall_target(&fw("")), None, None, Purpose::Firewall),
            (
                firewall_target(&fw("apiKeyExpiry: {}")),
                Some(14),
                None,
                Purpose::Firewall,
            ),
            (
                firewall_target(&fw("apiKeyExpiry: {withinDays: 30}")),
                Some(30),
                None,
                Purpose::Firewall,
            ),
            (
                firewall_target(&fw("apiKeyExpiry: {mode: Ignore}")),
                None,
                None,
                Purpose::Firewall,
            ),
            (monitoring_target(&mon("")), None, None, Purpose::Monitoring),
            (
                monitoring_target(&mon("noFiringAlerts: {}")),
                None,
                Some(Severity::Warning),
                Purpose::Monitoring,
            ),
            (
                monitoring_target(&mon("noFiringAlerts: {minSeverity: Critical}")),
                None,
                Some(Severity::Critical),
                Purpose::Monitoring,
            ),
        ];
        for (target, days, threshold, purpose) in cases {
            let target = target.expect("valid");
            let got = target.scope.get::<QdrantScope>().expect("a Qdrant scope");
            assert_eq!(got.cluster_id, CLUSTER);
            assert_eq!(got.account_id, ACCOUNT);
            assert_eq!(got.key_expiry_days, days);
            assert_eq!(got.alert_threshold, threshold);
            assert_eq!(target.purpose, purpose);
            assert_eq!(target.scope.to_string(), format!("cluster {CLUSTER}"));
        }
    }

    /// Other spellings, orders and host bits of the same ranges are not drift; an answer
    /// without the field (proto3 leaves empty lists out) reads as no range.
    #[test]
    fn equal_states_written_differently_show_no_drift() {
        let target = firewall_target(&fw(
            "allowedIpSourceRanges: [\"203.0.113.7/24\", \"198.51.100.0/24\"]\nrequireTls: true",
        ))
        .expect("valid");
        let (observed, findings) = observe(&cluster(
            Some(json!(["198.51.100.0/24", "203.0.113.0/24"])),
            "aws",
            None,
        ));
        assert!(findings.is_empty());
        assert!(drift_of(&target, &observed).is_empty());
        let (never_set, _) = observe(&cluster(None, "aws", None));
        assert_eq!(
            never_set
                .section(NETWORK)
                .and_then(|s| s.get(RANGES))
                .map(|i| &i.fields["value"]),
            Some(&json!([]))
        );
    }

    /// A missing egress range, an open entry and TLS off on a hybrid cluster are each named.
    #[test]
    fn drift_is_reported_field_by_field() {
        let target = firewall_target(&fw(
            "allowedIpSourceRanges: [\"203.0.113.0/24\", \"198.51.100.0/24\"]\nrequireTls: true",
        ))
        .expect("valid");
        let (observed, findings) = observe(&cluster(
            Some(json!(["203.0.113.0/24", "0.0.0.0/0"])),
            HYBRID,
            Some(false),
        ));
        assert_eq!(
            drift_of(&target, &observed),
            [
                (
                    "network[allowedIpSourceRanges]".to_string(),
                    Some(r#"["198.51.100.0/24","203.0.113.0/24"]"#.to_string()),
                    Some(r#"["0.0.0.0/0","203.0.113.0/24"]"#.to_string())
                ),
                (
                    "tls[enabled]".to_string(),
                    Some("true".to_string()),
                    Some("false".to_string())
                ),
            ]
        );
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, NETWORK_OPEN);
        assert!(
            findings[0].message.contains("0.0.0.0/0"),
            "{}",
            findings[0].message
        );
    }

    /// TLS: managed clusters are always TLS; a hybrid one only with `enableTls` (which
    /// proto3 leaves out when false).
    #[test]
    fn tls_is_read_from_the_kind_of_cluster() {
        let cases = [
            ("aws", None, true),
            ("gcp", Some(false), true),
            (HYBRID, None, false),
            (HYBRID, Some(false), false),
            (HYBRID, Some(true), true),
        ];
        for (provider, flag, want) in cases {
            let (observed, _) = observe(&cluster(Some(json!(["10.0.0.0/8"])), provider, flag));
            let got = &observed
                .section(TLS)
                .and_then(|s| s.get(ENABLED))
                .expect("tls")
                .fields["value"];
            assert_eq!(got, &json!(want), "{provider} {flag:?}");
        }
    }

    #[test]
    fn an_open_cluster_is_a_finding() {
        for (ranges, open) in [
            (None, true),
            (Some(json!([])), true),
            (Some(json!(["0.0.0.0/0"])), true),
            (Some(json!(["10.0.0.0/8"])), false),
        ] {
            let (_, findings) = observe(&cluster(ranges.clone(), "aws", None));
            assert_eq!(
                findings.iter().any(|f| f.code == NETWORK_OPEN),
                open,
                "{ranges:?}"
            );
        }
    }

    #[test]
    fn invalid_blocks_are_rejected_with_a_reason() {
        let many: Vec<String> = (0..41).map(|i| format!("\"10.0.{i}.0/24\"")).collect();
        let many = format!("allowedIpSourceRanges: [{}]", many.join(","));
        let cases = [
            ("allowedIpSourceRanges: [\"10.0.0.0/33\"]", "not a CIDR"),
            (
                "allowedIpSourceRanges: [\"2001:db8::/32\"]",
                "IPv4 ranges only",
            ),
            (
                "allowedIpSourceRanges: [\"10.0.0.0/8\", \"10.1.0.0/8\"]",
                "\"10.0.0.0/8\" is declared twice",
            ),
            ("allowedIpSourceRanges: []", "declare 0.0.0.0/0"),
            (many.as_str(), "at most 40"),
        ];
        for (block, want) in cases {
            match firewall_target(&fw(block)) {
                Ok(_) => panic!("{block} should be invalid"),
                Err(e) => assert!(e.0.contains(want), "{block}: {} should mention {want}", e.0),
            }
        }
    }

    /// Answers that are not the documented shape, or are about another cluster, are refused,
    /// never read as "nothing there".
    #[test]
    fn answers_of_the_wrong_shape_are_refused() {
        let ok = cluster(Some(json!(["10.0.0.0/8"])), "aws", None);
        assert!(answer_cluster(&json!({"cluster": ok.clone()}), &scope()).is_ok());
        let mut other = ok.clone();
        other["id"] = json!("11111111-1111-4111-8111-111111111111");
        let mut other_account = ok.clone();
        other_account["accountId"] = json!("11111111-1111-4111-8111-111111111111");
        let mut no_config = ok.clone();
        no_config
            .as_object_mut()
            .expect("object")
            .remove("configuration");
        for answer in [
            json!({}),
            json!({"cluster": []}),
            ok.clone(),
            json!({"cluster": other}),
            json!({"cluster": other_account}),
            json!({"cluster": no_config}),
        ] {
            assert!(answer_cluster(&answer, &scope()).is_err(), "{answer}");
        }
        let mut ranges_text = ok.clone();
        ranges_text["configuration"][RANGES] = json!("0.0.0.0/0");
        let mut ranges_numbers = ok.clone();
        ranges_numbers["configuration"][RANGES] = json!([7]);
        let mut tls_text = cluster(None, HYBRID, None);
        tls_text["configuration"]["databaseConfiguration"]["service"]["enableTls"] = json!("yes");
        for c in [ranges_text, ranges_numbers, tls_text] {
            assert!(observed_cluster(&c).is_err(), "{c}");
        }
        let now = jiff::Timestamp::UNIX_EPOCH;
        assert!(expiring_keys(&json!({"items": {}}), CLUSTER, now, 14).is_err());
        assert!(expiring_keys(&json!("wrong"), CLUSTER, now, 14).is_err());
        assert!(observed_alerts(&json!([]), Severity::Info).is_err());
        assert!(
            expiring_keys(
                &json!({"items": [{"clusterId": CLUSTER}]}),
                CLUSTER,
                now,
                14
            )
            .is_err()
        );
        let bad_time = json!({"items": [{"id": "k", "clusterId": CLUSTER, "expiresAt": "soon"}]});
        assert!(expiring_keys(&bad_time, CLUSTER, now, 14).is_err());
        assert!(observed_alerts(&json!({"alerts": {}}), Severity::Info).is_err());
        assert!(
            observed_alerts(
                &json!({"alerts": [{"state": FIRING_STATE}]}),
                Severity::Info
            )
            .is_err()
        );
        assert!(
            observed_alerts(
                &json!({"alerts": [{"id": "a", "state": 1}]}),
                Severity::Info
            )
            .is_err()
        );
    }

    #[test]
    fn the_revision_quotes_only_an_instant() {
        let ok = cluster(None, "aws", None);
        assert_eq!(
            cluster_revision(&ok).as_deref(),
            Some("configuration modified 2026-11-29T10:00:00.123Z")
        );
        let hostile = json!({"configuration": {"lastModifiedAt": "now\nDROP"}});
        assert_eq!(cluster_revision(&hostile), None);
    }

    /// Keys of this cluster that expire within the horizon, or have expired, are findings
    /// quoting name, id and time, never the key; other clusters' keys and keys without
    /// expiry are not.
    #[test]
    fn keys_expiring_within_the_horizon_are_findings() {
        let now: jiff::Timestamp = "2026-11-29T12:00:00Z".parse().expect("instant");
        let other = "11111111-1111-4111-8111-111111111111";
        let answer = json!({"items": [
            {"id": "k-soon", "accountId": ACCOUNT, "clusterId": CLUSTER, "name": "ingest",
             "createdAt": "2026-01-01T00:00:00Z", "expiresAt": "2026-12-05T00:00:00Z",
             "postfix": "Xy9z", "key": "secret-key-material"},
            {"id": "k-late", "accountId": ACCOUNT, "clusterId": CLUSTER, "name": "search",
             "expiresAt": "2027-06-01T00:00:00Z", "postfix": "Ab12"},
            {"id": "k-never", "accountId": ACCOUNT, "clusterId": CLUSTER, "name": "admin"},
            {"id": "k-gone", "accountId": ACCOUNT, "clusterId": CLUSTER, "name": "old\nkey",
             "expiresAt": "2026-11-01T00:00:00Z"},
            {"id": "k-other", "accountId": ACCOUNT, "clusterId": other, "name": "x",
             "expiresAt": "2026-11-30T00:00:00Z"}
        ]});
        let findings = expiring_keys(&answer, CLUSTER, now, 14).expect("valid");
        let got: Vec<(&str, &str)> = findings
            .iter()
            .map(|f| (f.subject.as_str(), f.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "databaseApiKeys[k-gone]",
                    "database API key \"old key\" (k-gone) expired at 2026-11-01T00:00:00Z"
                ),
                (
                    "databaseApiKeys[k-soon]",
                    "database API key \"ingest\" (k-soon) expires at 2026-12-05T00:00:00Z, within 14 days"
                ),
            ]
        );
        assert!(findings.iter().all(|f| f.code == API_KEY_EXPIRING));
        for f in &findings {
            assert!(!f.message.contains("secret-key-material") && !f.message.contains("Xy9z"));
        }
        let wider = expiring_keys(&answer, CLUSTER, now, 365).expect("valid");
        assert_eq!(wider.len(), 3, "the June key is within a year");
        assert!(
            expiring_keys(&json!({}), CLUSTER, now, 14)
                .expect("valid")
                .is_empty()
        );
    }

    /// Firing alerts at or above the threshold are drift and findings with Qdrant's id;
    /// resolved ones are not; an unmapped severity always counts.
    #[test]
    fn firing_alerts_are_drift_and_findings() {
        let target =
            monitoring_target(&mon("noFiringAlerts: {minSeverity: Warning}")).expect("valid");
        let answer = json!({"alerts": [
            {"id": "a-1", "type": "CLUSTER_ALERT_TYPE_OOM", "severity": "CLUSTER_ALERT_SEVERITY_CRITICAL",
             "title": "Out of memory", "description": "A node ran out of memory",
             "lastFiringAt": "2026-11-29T09:00:00Z", "state": "CLUSTER_ALERT_STATE_FIRING"},
            {"id": "a-2", "type": "CLUSTER_ALERT_TYPE_CLUSTER_CPU_HOTSPOT", "severity": "CLUSTER_ALERT_SEVERITY_INFO",
             "title": "CPU hotspot", "state": "CLUSTER_ALERT_STATE_FIRING"},
            {"id": "a-3", "type": "CLUSTER_ALERT_TYPE_OOD", "severity": "CLUSTER_ALERT_SEVERITY_CRITICAL",
             "title": "Out of disk", "state": "CLUSTER_ALERT_STATE_RESOLVED"},
            {"id": "a-4", "type": "CLUSTER_ALERT_TYPE_TOO_MANY_COLLECTIONS",
             "title": "Too many\ncollections", "state": "CLUSTER_ALERT_STATE_FIRING"}
        ]});
        let (section, findings) = observed_alerts(&answer, Severity::Warning).expect("valid");
        let observed = State {
            sections: vec![section],
        };
        assert_eq!(
            drift_of(&target, &observed),
            [(
                "alerts[firing]".to_string(),
                Some("[]".to_string()),
                Some(r#"["OOM","TOO_MANY_COLLECTIONS"]"#.to_string())
            )]
        );
        let got: Vec<(&str, &str)> = findings
            .iter()
            .map(|f| (f.subject.as_str(), f.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "alerts[a-1]",
                    "CRITICAL alert OOM is firing: Out of memory (last firing 2026-11-29T09:00:00Z)"
                ),
                (
                    "alerts[a-4]",
                    "UNSPECIFIED alert TOO_MANY_COLLECTIONS is firing: Too many collections"
                ),
            ]
        );
        assert!(findings.iter().all(|f| f.code == SERVICE_UNHEALTHY));
        let (quiet, none) = observed_alerts(&json!({}), Severity::Info).expect("no alerts");
        assert!(none.is_empty());
        assert!(
            drift_of(
                &target,
                &State {
                    sections: vec![quiet]
                }
            )
            .is_empty()
        );
    }

    /// Every update carries the mask naming exactly the allowlist, and the cluster it sends
    /// differs from the one read only there (and in the path-bound and read-only fields it
    /// leaves out): nothing else of the cluster can change, whatever the cluster looks like.
    #[test]
    fn no_update_is_built_without_the_mask_naming_exactly_the_allowlist() {
        let want = vec!["10.0.0.0/8".to_string(), "203.0.113.0/24".to_string()];
        let clusters = [
            cluster(None, "aws", None),
            cluster(Some(json!(["0.0.0.0/0"])), "aws", None),
            cluster(
                Some(json!(["10.0.0.0/8", "192.0.2.0/24"])),
                HYBRID,
                Some(true),
            ),
        ];
        for observed in clusters {
            let update = ranges_update(&scope(), &observed, &want).expect("valid");
            assert_eq!(update.account_id(), ACCOUNT);
            assert_eq!(update.cluster_id(), CLUSTER);
            let body = update.body().as_object().expect("object");
            let keys: Vec<&str> = body.keys().map(String::as_str).collect();
            assert_eq!(keys, ["cluster", "updateMask"]);
            assert_eq!(body["updateMask"], json!(RANGES_MASK));
            // The mask, parsed as protojson parses a FieldMask: one path, no underscore,
            // and it is where the body holds the new list.
            let paths: Vec<&str> = RANGES_MASK.split(',').collect();
            assert_eq!(paths, ["configuration.allowedIpSourceRanges"]);
            assert!(!RANGES_MASK.contains('_'));
            let pointer = format!("/{}", paths[0].replace('.', "/"));
            assert_eq!(body["cluster"].pointer(&pointer), Some(&json!(want)));
            let mut expected = observed.clone();
            let map = expected.as_object_mut().expect("object");
            for left_out in ["id", "accountId", "state"] {
                map.remove(left_out);
            }
            expected["configuration"][RANGES] = json!(want);
            assert_eq!(body["cluster"], expected);
        }
    }

    /// The builder refuses what would widen or corrupt the write: an empty list (open), more
    /// than 40, non-canonical input, another cluster's answer.
    #[test]
    fn an_update_is_refused_rather_than_built_wrong() {
        let observed = cluster(Some(json!(["10.0.0.0/8"])), "aws", None);
        let mut other = observed.clone();
        other["id"] = json!("11111111-1111-4111-8111-111111111111");
        let many: Vec<String> = (0..41).map(|i| format!("10.0.{i}.0/24")).collect();
        let cases: [(&Value, Vec<String>); 5] = [
            (&observed, vec![]),
            (&observed, many),
            (&observed, vec!["10.0.0.7/8".into()]),
            (
                &observed,
                vec!["203.0.113.0/24".into(), "10.0.0.0/8".into()],
            ),
            (&other, vec!["10.0.0.0/8".into()]),
        ];
        for (c, ranges) in cases {
            assert!(ranges_update(&scope(), c, &ranges).is_err(), "{ranges:?}");
        }
    }

    #[test]
    fn severities_have_their_api_names_in_order() {
        for s in [Severity::Info, Severity::Warning, Severity::Critical] {
            assert_eq!(Severity::from_api(s.api_name()), Some(s));
        }
        assert_eq!(
            Severity::from_api("CLUSTER_ALERT_SEVERITY_UNSPECIFIED"),
            None
        );
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
    }
}
