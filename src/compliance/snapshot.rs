//! The facts an assessment evaluates, built from the cluster's objects as the operator's
//! caches hold them. Pure: the caller reads the objects and says how fresh its reads are.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};

use super::evidence;
use super::{PolicyFacts, PolicyKind, ProviderFacts, Snapshot};
use crate::api::{
    CloudProvider, CloudProviderSpec, CloudProviderStatus, ClusterCloudProvider, FirewallPolicy,
    MonitoringPolicy, PolicyControls, PolicyStatus, parse_interval,
};

/// What the process knows of its own reads, to tell a fresh verdict from a stalled one.
pub struct Freshness<'a> {
    /// Unix time of the last successful provider read of (kind, namespace, name).
    pub last_read: &'a (dyn Fn(&str, &str, &str) -> Option<i64> + Sync),
    pub now_unix: i64,
    /// How long this process has been reconciling.
    pub uptime: Duration,
}

impl Freshness<'_> {
    /// A policy not read successfully within three sync intervals (plus two minutes) is stale,
    /// once the process has run that long. `status.lastSyncTime` cannot tell: it moves only
    /// when the status changes.
    fn stale(&self, kind: &str, meta: &ObjectMeta, controls: &PolicyControls) -> bool {
        if controls.paused {
            return false;
        }
        let max_age =
            parse_interval(controls.sync_interval.as_deref()) * 3 + Duration::from_secs(120);
        if self.uptime < max_age {
            return false;
        }
        let ns = meta.namespace.as_deref().unwrap_or_default();
        let name = meta.name.as_deref().unwrap_or_default();
        (self.last_read)(kind, ns, name)
            .is_none_or(|t| u64::try_from(self.now_unix - t).unwrap_or(0) > max_age.as_secs())
    }
}

/// The facts of the cluster's objects.
pub fn snapshot_from(
    freshness: &Freshness<'_>,
    providers: &[CloudProvider],
    cluster_providers: &[ClusterCloudProvider],
    firewalls: &[FirewallPolicy],
    monitors: &[MonitoringPolicy],
) -> Snapshot {
    let fact = |namespace: String,
                name: String,
                spec: &CloudProviderSpec,
                status: Option<&CloudProviderStatus>| {
        let ready = status.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
        ProviderFacts {
            namespace,
            name,
            provider_type: spec.provider_type,
            ready: ready.and_then(|c| match c.status.as_str() {
                "True" => Some(true),
                "False" => Some(false),
                _ => None,
            }),
            reason: ready
                .filter(|c| c.status != "True")
                .map(|c| c.reason.clone()),
            inventory: status.and_then(|s| s.inventory.clone()),
        }
    };
    let mut providers: Vec<ProviderFacts> = providers
        .iter()
        .map(|p| {
            fact(
                p.metadata.namespace.clone().unwrap_or_default(),
                name_of(&p.metadata),
                &p.spec,
                p.status.as_ref(),
            )
        })
        .chain(cluster_providers.iter().map(|p| {
            fact(
                String::new(),
                name_of(&p.metadata),
                &p.spec.account,
                p.status.as_ref(),
            )
        }))
        .collect();
    // The watch caches list objects in no stable order: sorted, the coverage rows (and so the
    // status and its evidence digest) change only when the facts do.
    providers.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let facts = |kind: PolicyKind,
                 meta: &ObjectMeta,
                 controls: &PolicyControls,
                 status: Option<&PolicyStatus>,
                 alert_routes: usize,
                 endpoint: bool| {
        let empty = PolicyStatus::default();
        let s = status.unwrap_or(&empty);
        PolicyFacts {
            kind,
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            provider: controls.provider_ref.name.clone(),
            provider_kind: controls.provider_ref.kind,
            mode: controls.mode,
            paused: controls.paused,
            in_sync: evidence::in_sync_of(condition_status(&s.conditions, "InSync").as_deref()),
            drift_count: s.drift_count,
            alert_routes,
            observed_at: (freshness.last_read)(
                kind_name(kind),
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default(),
            )
            .and_then(|t| jiff::Timestamp::from_second(t).ok())
            .map(super::rfc3339)
            .or_else(|| s.last_sync_time.clone()),
            stale: freshness.stale(kind_name(kind), meta, controls),
            digest: evidence::digest_of(s),
            not_enforceable: super::not_enforceable_of(&s.findings),
            revision: s.observed_revision.clone(),
            routes: s.alert_routes.clone(),
            channels: s.alert_channels.clone(),
            endpoints: endpoint
                .then(|| crate::providers::fleet::model::endpoint_hosts(&s.drift, &s.findings)),
            changes: super::changes_of(&s.drift),
        }
    };
    let mut policies: Vec<PolicyFacts> = firewalls
        .iter()
        .map(|p| {
            let mut f = facts(
                PolicyKind::FirewallPolicy,
                &p.metadata,
                &p.spec.controls,
                p.status.as_ref(),
                0,
                p.spec.fleet.is_some(),
            );
            if let (Some(hosts), Some(fleet)) = (f.endpoints.as_mut(), &p.spec.fleet) {
                hosts.min_passing_percent = fleet.min_passing_percent;
            }
            f
        })
        .collect();
    policies.extend(monitors.iter().map(|p| {
        facts(
            PolicyKind::MonitoringPolicy,
            &p.metadata,
            &p.spec.controls,
            p.status.as_ref(),
            p.spec.alert_routes(),
            false,
        )
    }));
    Snapshot {
        providers,
        policies,
        own_routes: Vec::new(),
    }
}

/// What kube's `ResourceExt::name_any` answers, without the client crate: the name, else the
/// `generateName` prefix.
fn name_of(meta: &ObjectMeta) -> String {
    meta.name
        .clone()
        .or_else(|| meta.generate_name.clone())
        .unwrap_or_default()
}

fn condition_status(conditions: &[Condition], type_: &str) -> Option<String> {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.clone())
}

/// The kind the metrics' last-read series are keyed by.
fn kind_name(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::FirewallPolicy => "FirewallPolicy",
        PolicyKind::MonitoringPolicy => "MonitoringPolicy",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::ProviderType;

    fn policy(paused: bool) -> FirewallPolicy {
        serde_json::from_value(json!({
            "apiVersion": "perimeter.dev/v1alpha1", "kind": "FirewallPolicy",
            "metadata": {"name": "edge", "namespace": "team"},
            "spec": {"providerRef": {"name": "cf"}, "syncInterval": "1m", "paused": paused,
                     "cloudflare": {"zoneId": "023e105f4ecef8ad9ca31a8372d0c353"}},
            "status": {"conditions": [{"type": "InSync", "status": "True", "reason": "InSync",
                       "message": "", "lastTransitionTime": "2026-11-28T10:00:00Z"}]}
        }))
        .unwrap_or_else(|e| panic!("policy: {e}"))
    }

    #[test]
    fn staleness_needs_uptime_and_an_old_or_missing_read() {
        const NOW: i64 = 1_800_000_000;
        // syncInterval 1m → stale after 3 × 60 s + 120 s = 300 s.
        let cases: [(&str, bool, u64, Option<i64>, bool); 6] = [
            ("read a minute ago", false, 3600, Some(NOW - 60), false),
            ("read 301 s ago", false, 3600, Some(NOW - 301), true),
            ("never read, running an hour", false, 3600, None, true),
            ("never read, just started", false, 10, None, false),
            ("paused is never stale", true, 3600, None, false),
            (
                "read exactly at the limit",
                false,
                3600,
                Some(NOW - 300),
                false,
            ),
        ];
        for (name, paused, uptime, read, want) in cases {
            let last_read = move |_: &str, _: &str, _: &str| read;
            let f = Freshness {
                last_read: &last_read,
                now_unix: NOW,
                uptime: Duration::from_secs(uptime),
            };
            let snap = snapshot_from(&f, &[], &[], &[policy(paused)], &[]);
            assert_eq!(snap.policies[0].stale, want, "{name}");
        }
    }

    fn ready(status: Option<&str>) -> serde_json::Value {
        match status {
            None => json!({}),
            Some(s) => json!({"conditions": [{"type": "Ready", "status": s,
                "reason": if s == "True" { "Ready" } else { "CredentialsRejected" },
                "message": "", "lastTransitionTime": "2026-11-28T10:00:00Z"}]}),
        }
    }

    fn account(ns: &str, name: &str, status: Option<&str>) -> CloudProvider {
        serde_json::from_value(json!({
            "apiVersion": "perimeter.dev/v1alpha1", "kind": "CloudProvider",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"type": "cloudflare", "accountId": "a1",
                     "credentials": {"secretRef": {"name": "s", "key": "k"}}},
            "status": ready(status)
        }))
        .unwrap_or_else(|e| panic!("provider: {e}"))
    }

    #[test]
    fn provider_facts_take_readiness_from_the_ready_condition() {
        let shared: ClusterCloudProvider = serde_json::from_value(json!({
            "apiVersion": "perimeter.dev/v1alpha1", "kind": "ClusterCloudProvider",
            "metadata": {"name": "org"},
            "spec": {"type": "cloudflare", "accountId": "a2",
                     "credentials": {"secretRef": {"name": "s", "key": "k"}}},
            "status": ready(Some("True"))
        }))
        .unwrap_or_else(|e| panic!("cluster provider: {e}"));
        let f = Freshness {
            last_read: &|_: &str, _: &str, _: &str| None,
            now_unix: 0,
            uptime: Duration::ZERO,
        };
        let snap = snapshot_from(
            &f,
            &[
                account("team", "up", Some("True")),
                account("team", "down", Some("False")),
                account("team", "unsure", Some("Unknown")),
                account("team", "new", None),
            ],
            &[shared],
            &[],
            &[],
        );
        let got: Vec<(&str, &str, Option<bool>, Option<&str>)> = snap
            .providers
            .iter()
            .map(|p| {
                assert_eq!(p.provider_type, ProviderType::Cloudflare);
                (
                    p.namespace.as_str(),
                    p.name.as_str(),
                    p.ready,
                    p.reason.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            // Sorted by namespace and name, whatever order the watch caches list them in.
            [
                // A ClusterCloudProvider has no namespace: policies of any namespace may use it.
                ("", "org", Some(true), None),
                ("team", "down", Some(false), Some("CredentialsRejected")),
                ("team", "new", None, None),
                ("team", "unsure", None, Some("CredentialsRejected")),
                ("team", "up", Some(true), None),
            ]
        );
    }

    #[test]
    fn a_policy_read_by_this_process_is_observed_then_not_at_its_last_sync() {
        const NOW: i64 = 1_800_000_000;
        let mut p = policy(false);
        if let Some(s) = p.status.as_mut() {
            s.last_sync_time = Some("2026-11-28T11:00:00Z".into());
        }
        let read = |kind: &str, ns: &str, name: &str| {
            (kind, ns, name) == ("FirewallPolicy", "team", "edge")
        };
        let seen = move |k: &str, ns: &str, n: &str| read(k, ns, n).then_some(NOW - 60);
        let unseen = |_: &str, _: &str, _: &str| None;
        let at = |last_read: &(dyn Fn(&str, &str, &str) -> Option<i64> + Sync)| {
            let f = Freshness {
                last_read,
                now_unix: NOW,
                uptime: Duration::ZERO,
            };
            snapshot_from(&f, &[], &[], std::slice::from_ref(&p), &[]).policies[0]
                .observed_at
                .clone()
        };
        assert_eq!(at(&seen).as_deref(), Some("2027-01-15T07:59:00Z"));
        assert_eq!(at(&unseen).as_deref(), Some("2026-11-28T11:00:00Z"));
    }

    /// A stored fleet FirewallPolicy's status (its failingHosts drift, HostExcepted and
    /// PassRatio findings) is what the EndpointFirewall requirement reads; no other policy
    /// carries endpoint facts, whatever its findings say.
    #[test]
    fn a_fleet_policy_status_carries_its_hosts() {
        let fleet: FirewallPolicy = serde_json::from_value(json!({
            "apiVersion": "perimeter.dev/v1alpha1", "kind": "FirewallPolicy",
            "metadata": {"name": "endpoints", "namespace": "team"},
            "spec": {"providerRef": {"name": "fleet"}, "fleet": {"platforms": ["windows"]}},
            "status": {
                "drift": [{"field": "failingHosts[fin-laptop-07]", "kind": "Unexpected",
                           "observed": "{\"lastSeen\":\"2026-11-28T11:00:00Z\",\"platform\":\"windows\",\"policy\":\"Perimeter: Windows host firewall\"}"}],
                "findings": [{"code": "PassRatio", "subject": "policies[Perimeter: Windows host firewall]",
                              "message": "49/50 hosts passing"}]
            }
        }))
        .unwrap_or_else(|e| panic!("policy: {e}"));
        let mut edge = policy(false);
        if let Some(s) = edge.status.as_mut() {
            s.findings = fleet
                .status
                .as_ref()
                .map(|f| f.findings.clone())
                .unwrap_or_default();
        }
        let f = Freshness {
            last_read: &|_: &str, _: &str, _: &str| None,
            now_unix: 0,
            uptime: Duration::ZERO,
        };
        let snap = snapshot_from(&f, &[], &[], &[fleet, edge], &[]);
        let hosts = snap.policies[0].endpoints.as_ref().expect("fleet hosts");
        assert_eq!((hosts.passing, hosts.total), (49, 50));
        let names: Vec<(&str, &str)> = hosts
            .failing
            .iter()
            .map(|h| (h.host.as_str(), h.platform.as_str()))
            .collect();
        assert_eq!(names, [("fin-laptop-07", "windows")]);
        assert_eq!(snap.policies[1].endpoints, None, "not a fleet policy");
    }
}
