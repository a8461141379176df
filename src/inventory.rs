//! The coverage of an account's boundary assets: its provider lists them
//! ([`Provider::inventory`](crate::providers::Provider::inventory)), each provider's kit says
//! which FirewallPolicy block covers which ([`Kit::covers`](crate::providers::registry::Kit::covers)),
//! and this module turns both into the account's `status.inventory`, the `check` output and
//! the `perimeter_assets` series. Only the policies that may use the account count: a policy
//! in another namespace (or one a ClusterCloudProvider is not shared with) covers nothing.

use crate::api::{
    AssetKindCount, FirewallPolicy, FirewallPolicySpec, InventoryStatus, ProviderKind, ProviderType,
};
use crate::core::hostnames::{self, HOSTNAME, Owner, Served, Source, Unknown};
use crate::core::inventory::{Asset, Coverage, LISTED, ListedAsset, coverage};
use crate::error::ProviderError;
use crate::providers::registry;

/// Kinds of assets a status lists (`status.inventory.kinds`, `maxItems`).
const MAX_KINDS: usize = 20;

/// An account as policies name it.
#[derive(Clone, Copy)]
pub struct AccountRef<'a> {
    pub kind: ProviderKind,
    /// Empty for a ClusterCloudProvider.
    pub namespace: &'a str,
    pub name: &'a str,
    /// For a ClusterCloudProvider: the namespaces whose policies may use it.
    pub shared_with: &'a (dyn Fn(&str) -> bool + Sync),
}

impl AccountRef<'_> {
    /// Whether `policy` names this account and may use it. A policy being deleted no longer
    /// covers anything.
    pub fn used_by(&self, policy: &FirewallPolicy) -> bool {
        let r = &policy.spec.controls.provider_ref;
        let ns = policy.metadata.namespace.as_deref().unwrap_or_default();
        policy.metadata.deletion_timestamp.is_none()
            && r.kind == self.kind
            && r.name == self.name
            && match self.kind {
                ProviderKind::CloudProvider => ns == self.namespace,
                ProviderKind::ClusterCloudProvider => (self.shared_with)(ns),
            }
    }
}

/// The FirewallPolicy specs that may cover this account's assets.
pub fn policies_of<'a>(
    account: &AccountRef<'_>,
    firewalls: impl IntoIterator<Item = &'a FirewallPolicy>,
) -> Vec<&'a FirewallPolicySpec> {
    firewalls
        .into_iter()
        .filter(|p| account.used_by(p))
        .map(|p| &p.spec)
        .collect()
}

/// `status.inventory` of an account of type `t` from what its inventory read gave; `None` when
/// the provider does not list its assets. A failed read keeps only why: coverage unknown.
pub fn status(
    t: ProviderType,
    read: Result<Option<Vec<Asset>>, ProviderError>,
    policies: &[&FirewallPolicySpec],
    observed_at: String,
) -> Option<InventoryStatus> {
    match read {
        Ok(None) => None,
        Err(e) => Some(InventoryStatus {
            observed_at: Some(observed_at),
            reason: Some(e.category.reason().to_string()),
            message: Some(e.to_string().chars().take(2048).collect()),
            ..InventoryStatus::default()
        }),
        Ok(Some(assets)) => {
            let c = coverage(&assets, |a, all| {
                policies.iter().any(|p| registry::covers(t, p, a, all))
            });
            Some(counted(&c, observed_at))
        }
    }
}

/// The status of a coverage that is known.
fn counted(c: &Coverage, observed_at: String) -> InventoryStatus {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    InventoryStatus {
        observed_at: Some(observed_at),
        total: Some(count(c.total())),
        covered: Some(count(c.covered())),
        kinds: c
            .kinds
            .iter()
            // The schema's bound; a provider has a handful of kinds.
            .take(MAX_KINDS)
            .map(|(kind, total, covered)| AssetKindCount {
                kind: (*kind).to_string(),
                total: count(*total),
                covered: count(*covered),
            })
            .collect(),
        uncovered: c
            .uncovered
            .iter()
            .take(LISTED)
            .map(ListedAsset::from)
            .collect(),
        reason: None,
        message: None,
    }
}

/// `status.inventory` reason while an account a monitoring account speaks for has not had its
/// inventory read yet (the operator asks again soon, not on the verify interval).
pub const PENDING: &str = "InventoryPending";
/// `status.inventory` reason when an account a monitoring account speaks for could not have
/// its inventory read.
pub const SOURCE_UNREAD: &str = "SourceUnread";

/// The account types whose assets serve public hostnames (a zone apex, production domains,
/// an API or database host); the other types' assets are networks, hosts or nothing.
pub fn serves_hostnames(t: ProviderType) -> bool {
    matches!(
        t,
        ProviderType::Cloudflare
            | ProviderType::Vercel
            | ProviderType::Supabase
            | ProviderType::Upstash
            | ProviderType::Turso
            | ProviderType::Qdrant
    )
}

/// The account types whose client reads uptime monitors
/// ([`Provider::monitored_hosts`](crate::providers::Provider::monitored_hosts)): their
/// inventory is the public hostnames of the accounts they speak for, a matter of network
/// monitoring rather than of a firewall.
pub fn monitors_hostnames(t: ProviderType) -> bool {
    t == ProviderType::Betterstack
}

/// One account as a monitoring account may see it: who owns it, its type, how a status
/// names it, and what its last inventory read gave.
pub struct Peer<'a> {
    pub owner: Owner<'a>,
    pub provider_type: ProviderType,
    /// `team-a/cf`, or `cf` for a ClusterCloudProvider.
    pub account: String,
    pub served: Served,
}

/// The accounts a monitoring account owned by `monitor` speaks for, among `accounts`
/// ([`hostnames::speaks_for`]; types that serve no hostname left out).
pub fn sources_for(monitor: Owner<'_>, accounts: Vec<Peer<'_>>) -> Vec<Source> {
    accounts
        .into_iter()
        .filter(|a| serves_hostnames(a.provider_type) && hostnames::speaks_for(monitor, a.owner))
        .map(|a| Source {
            label: format!("{} {}", a.provider_type, a.account),
            served: a.served,
        })
        .collect()
}

/// What an account's inventory read says of its public hostnames.
pub fn served(read: &Result<Option<Vec<Asset>>, ProviderError>) -> Served {
    match read {
        Ok(Some(assets)) => Served::Read(hostnames::hosts_of(assets)),
        Ok(None) => Served::Read(Vec::new()),
        Err(e) => Served::Failed(e.category.reason().to_string()),
    }
}

/// `status.inventory` of a monitoring account: the public hostnames of the accounts it
/// speaks for (`hostnames`, or why they are unknown) and which of them an active monitor
/// checks (`monitored`); `None` when the provider runs no uptime monitors.
pub fn hostname_status(
    monitored: Result<Option<Vec<String>>, ProviderError>,
    hostnames: Result<Vec<Asset>, Unknown>,
    observed_at: String,
) -> Option<InventoryStatus> {
    let unknown = |reason: &str, message: String| InventoryStatus {
        observed_at: Some(observed_at.clone()),
        reason: Some(reason.to_string()),
        message: Some(message.chars().take(2048).collect()),
        ..InventoryStatus::default()
    };
    match (monitored, hostnames) {
        (Ok(None), _) => None,
        (Err(e), _) => Some(unknown(e.category.reason(), e.to_string())),
        (Ok(Some(_)), Err(u)) => Some(unknown(
            if u.pending { PENDING } else { SOURCE_UNREAD },
            u.message,
        )),
        (Ok(Some(hosts)), Ok(hostnames)) => Some(counted(
            &hostnames::hostname_coverage(&hostnames, &hosts),
            observed_at,
        )),
    }
}

/// Whether the operator reads an account's inventory again: never read, read for another
/// generation of the account, or read at least `interval` ago (a status write triggers a
/// reconcile; reading only when due keeps that from becoming a loop of reads and writes).
pub fn due(
    previous: Option<&InventoryStatus>,
    generation_changed: bool,
    now: jiff::Timestamp,
    interval: std::time::Duration,
) -> bool {
    let read_at = previous
        .and_then(|i| i.observed_at.as_deref())
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    let Some(read_at) = read_at else {
        return true;
    };
    // Waiting for other accounts' first read: cheap to ask again (one list, no write unless
    // it changed), and the coverage stays unknown until then.
    if previous.and_then(|i| i.reason.as_deref()) == Some(PENDING) {
        return true;
    }
    let age = now.duration_since(read_at);
    generation_changed || age.is_negative() || age.unsigned_abs() >= interval
}

/// "3 zones have no FirewallPolicy: a.example (023e…), …", naming up to `shown`; `None` when
/// every asset is covered or coverage is unknown.
pub fn uncovered_summary(i: &InventoryStatus, shown: usize) -> Option<String> {
    let n = i.uncovered_count().filter(|n| *n > 0)?;
    let kinds: Vec<&str> = i
        .kinds
        .iter()
        .filter(|k| k.covered < k.total)
        .map(|k| k.kind.as_str())
        .collect();
    // A monitoring account's assets are hostnames, covered by monitors.
    let (what, missing) = match kinds[..] {
        [HOSTNAME] => ("public hostname".to_string(), "no Better Stack monitor"),
        [kind] => (kind.to_string(), "no FirewallPolicy"),
        _ => ("asset".to_string(), "no FirewallPolicy"),
    };
    let names: Vec<String> = i
        .uncovered
        .iter()
        .take(shown)
        .map(ListedAsset::label)
        .collect();
    let more = usize::try_from(n)
        .unwrap_or(usize::MAX)
        .saturating_sub(names.len());
    Some(format!(
        "{n} {what}{} {} {missing}: {}{}",
        if n == 1 { "" } else { "s" },
        if n == 1 { "has" } else { "have" },
        names.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Category;
    use serde_json::json;

    const Z1: &str = "023e105f4ecef8ad9ca31a8372d0c353";
    const Z2: &str = "9a7806061c88ada191ed06f989cc3dac";

    fn policy(ns: &str, provider: serde_json::Value, zone: &str) -> FirewallPolicy {
        serde_json::from_value(json!({
            "apiVersion": "perimeter.dev/v1alpha1", "kind": "FirewallPolicy",
            "metadata": {"name": "p", "namespace": ns},
            "spec": {"providerRef": provider, "cloudflare": {"zoneId": zone}}
        }))
        .expect("policy")
    }

    fn zones() -> Vec<Asset> {
        vec![
            Asset::new("zone", Z1, "example.com"),
            Asset::new("zone", Z2, "example.org"),
        ]
    }

    /// Only the policies that may use the account cover its assets: same namespace for a
    /// CloudProvider, a namespace it is shared with for a ClusterCloudProvider, never a
    /// policy being deleted.
    #[test]
    fn only_policies_that_may_use_the_account_cover_it() {
        let only_team_a = |ns: &str| ns == "team-a";
        let ns_account = AccountRef {
            kind: ProviderKind::CloudProvider,
            namespace: "team-a",
            name: "cf",
            shared_with: &|_| false,
        };
        let cluster = AccountRef {
            kind: ProviderKind::ClusterCloudProvider,
            namespace: "",
            name: "cf",
            shared_with: &only_team_a,
        };
        let mut deleted = policy("team-a", json!({"name": "cf"}), Z1);
        deleted.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
        );
        let cases = [
            (
                ns_account,
                policy("team-a", json!({"name": "cf"}), Z1),
                true,
            ),
            (
                ns_account,
                policy("team-b", json!({"name": "cf"}), Z1),
                false,
            ),
            (
                ns_account,
                policy("team-a", json!({"name": "other"}), Z1),
                false,
            ),
            (
                ns_account,
                policy(
                    "team-a",
                    json!({"kind": "ClusterCloudProvider", "name": "cf"}),
                    Z1,
                ),
                false,
            ),
            (
                cluster,
                policy(
                    "team-a",
                    json!({"kind": "ClusterCloudProvider", "name": "cf"}),
                    Z1,
                ),
                true,
            ),
            (
                cluster,
                policy(
                    "team-b",
                    json!({"kind": "ClusterCloudProvider", "name": "cf"}),
                    Z1,
                ),
                false,
            ),
            (cluster, policy("team-a", json!({"name": "cf"}), Z1), false),
            (ns_account, deleted, false),
        ];
        for (i, (account, p, want)) in cases.into_iter().enumerate() {
            let specs = policies_of(&account, [&p]);
            let s = status(
                ProviderType::Cloudflare,
                Ok(Some(zones())),
                &specs,
                "t".into(),
            )
            .expect("listed");
            assert_eq!(s.covered, Some(u32::from(want)), "case {i}");
        }
    }

    #[test]
    fn status_counts_lists_at_most_fifty_and_is_unknown_when_unread() {
        let p = policy("team-a", json!({"name": "cf"}), Z1);
        let specs = [&p.spec];
        let s = status(
            ProviderType::Cloudflare,
            Ok(Some(zones())),
            &specs,
            "t".into(),
        )
        .expect("listed");
        assert_eq!(
            (s.total, s.covered, s.uncovered_count()),
            (Some(2), Some(1), Some(1))
        );
        assert_eq!(s.uncovered.len(), 1);
        assert_eq!(s.uncovered[0].id, Z2);
        assert_eq!(
            s.kinds,
            [AssetKindCount {
                kind: "zone".into(),
                total: 2,
                covered: 1
            }]
        );
        // A policy of another provider type never covers (the block is read by type).
        let s = status(ProviderType::Aws, Ok(Some(zones())), &specs, "t".into()).expect("listed");
        assert_eq!(s.covered, Some(0));
        // Many uncovered: the counts are whole, the list is bounded.
        let many: Vec<Asset> = (0..120)
            .map(|i| Asset::new("zone", format!("{i:032x}"), ""))
            .collect();
        let s = status(ProviderType::Cloudflare, Ok(Some(many)), &[], "t".into()).expect("listed");
        assert_eq!(
            (s.total, s.uncovered_count(), s.uncovered.len()),
            (Some(120), Some(120), 50)
        );
        // Not listed by the provider: nothing said.
        assert!(status(ProviderType::Cloudflare, Ok(None), &specs, "t".into()).is_none());
        // A failed read: why, and no counts.
        let e = ProviderError::new(Category::Throttled, "list_zones", "HTTP 429");
        let s = status(ProviderType::Cloudflare, Err(e), &specs, "t".into()).expect("unknown");
        assert!(!s.read());
        assert_eq!(
            (s.total, s.covered, s.uncovered_count()),
            (None, None, None)
        );
        assert_eq!(s.reason.as_deref(), Some(Category::Throttled.reason()));
    }

    #[test]
    fn the_inventory_is_read_again_only_when_due() {
        let at = |t: &str| InventoryStatus {
            observed_at: Some(t.into()),
            ..InventoryStatus::default()
        };
        let now: jiff::Timestamp = "2026-11-30T12:00:00Z".parse().expect("time");
        let ten = std::time::Duration::from_secs(600);
        let cases = [
            (None, false, true),
            (Some(InventoryStatus::default()), false, true),
            (Some(at("not a time")), false, true),
            (Some(at("2026-11-30T11:55:00Z")), false, false),
            (Some(at("2026-11-30T11:55:00Z")), true, true),
            (Some(at("2026-11-30T11:50:00Z")), false, true),
            // A clock that went back: read again rather than trust a time in the future.
            (Some(at("2026-11-30T12:05:00Z")), false, true),
        ];
        for (previous, generation_changed, want) in cases {
            assert_eq!(
                due(previous.as_ref(), generation_changed, now, ten),
                want,
                "{previous:?} {generation_changed}"
            );
        }
    }

    #[test]
    fn the_summary_names_a_few_and_counts_the_rest() {
        let listed = |kinds: &[(&str, u32, u32)], names: &[(&'static str, &str)]| InventoryStatus {
            total: Some(kinds.iter().map(|k| k.1).sum()),
            covered: Some(kinds.iter().map(|k| k.2).sum()),
            kinds: kinds
                .iter()
                .map(|(k, t, c)| AssetKindCount {
                    kind: (*k).into(),
                    total: *t,
                    covered: *c,
                })
                .collect(),
            uncovered: names
                .iter()
                .map(|(k, n)| ListedAsset::from(&Asset::new(k, *n, "")))
                .collect(),
            ..InventoryStatus::default()
        };
        let cases = [
            (listed(&[("zone", 2, 2)], &[]), None),
            (
                listed(&[("zone", 2, 1)], &[("zone", "z1")]),
                Some("1 zone has no FirewallPolicy: zone z1"),
            ),
            (
                listed(
                    &[("zone", 4, 1)],
                    &[("zone", "z1"), ("zone", "z2"), ("zone", "z3")],
                ),
                Some("3 zones have no FirewallPolicy: zone z1, zone z2 and 1 more"),
            ),
            (
                listed(&[("vpc", 2, 1), ("securityGroup", 3, 1)], &[("vpc", "v")]),
                Some("3 assets have no FirewallPolicy: vpc v and 2 more"),
            ),
            (
                InventoryStatus {
                    reason: Some("Throttled".into()),
                    ..InventoryStatus::default()
                },
                None,
            ),
            (
                listed(&[("hostname", 3, 1)], &[("hostname", "a.example.com")]),
                Some(
                    "2 public hostnames have no Better Stack monitor: hostname a.example.com and 1 more",
                ),
            ),
        ];
        for (i, want) in cases {
            assert_eq!(uncovered_summary(&i, 2).as_deref(), want, "{i:?}");
        }
    }

    /// A monitoring account's status: counts when the hostnames and the monitors are known;
    /// unknown (pending, a source unread, or its own monitor list failed), never complete;
    /// nothing from a provider without monitors. Pending is asked again at once.
    #[test]
    fn hostname_status_is_counted_or_unknown_naming_why() {
        let hosts = || {
            Ok(vec![
                Asset::new(
                    HOSTNAME,
                    "shop.example.com",
                    "shop.example.com (vercel ns/web)",
                ),
                Asset::new(HOSTNAME, "example.com", "example.com (cloudflare ns/cf)"),
            ])
        };
        let monitored = || Ok(Some(vec!["shop.example.com".to_string()]));
        let s = hostname_status(monitored(), hosts(), "t".into()).expect("status");
        assert_eq!((s.total, s.covered), (Some(2), Some(1)));
        assert_eq!(s.uncovered[0].id, "example.com");
        assert_eq!(s.kinds[0].kind, HOSTNAME);

        assert_eq!(hostname_status(Ok(None), hosts(), "t".into()), None);
        let e = ProviderError::new(Category::Throttled, "list_monitors", "HTTP 429");
        let s = hostname_status(Err(e), hosts(), "t".into()).expect("unknown");
        assert_eq!((s.read(), s.reason.as_deref()), (false, Some("Throttled")));
        for (pending, reason) in [(true, PENDING), (false, SOURCE_UNREAD)] {
            let u = Unknown {
                pending,
                message: "inventory not read yet: vercel ns/web".into(),
            };
            let s = hostname_status(monitored(), Err(u), "t".into()).expect("unknown");
            assert_eq!((s.read(), s.total), (false, None));
            assert_eq!(s.reason.as_deref(), Some(reason));
            assert!(
                s.message
                    .as_deref()
                    .is_some_and(|m| m.contains("vercel ns/web"))
            );
        }
        let now: jiff::Timestamp = "2026-11-30T12:00:00Z".parse().expect("time");
        let just = |reason: &str| InventoryStatus {
            observed_at: Some("2026-11-30T11:59:00Z".into()),
            reason: Some(reason.into()),
            ..InventoryStatus::default()
        };
        let ten = std::time::Duration::from_secs(600);
        assert!(due(Some(&just(PENDING)), false, now, ten));
        assert!(!due(Some(&just(SOURCE_UNREAD)), false, now, ten));
    }

    /// Which accounts' hostnames a monitoring account counts: those it speaks for, of types
    /// that serve hostnames; an account's read says what it serves, or that it failed.
    #[test]
    fn sources_are_the_accounts_spoken_for_that_serve_hostnames() {
        let to_a = |ns: &str| ns == "team-a";
        let peer = |owner, t, account: &str| Peer {
            owner,
            provider_type: t,
            account: account.into(),
            served: Served::Pending,
        };
        let peers = vec![
            peer(
                Owner::Namespace("team-a"),
                ProviderType::Vercel,
                "team-a/web",
            ),
            peer(
                Owner::Namespace("team-b"),
                ProviderType::Vercel,
                "team-b/web",
            ),
            peer(Owner::Namespace("team-a"), ProviderType::Aws, "team-a/aws"),
            peer(Owner::Cluster(&to_a), ProviderType::Cloudflare, "cf"),
        ];
        let got: Vec<String> = sources_for(Owner::Namespace("team-a"), peers)
            .into_iter()
            .map(|s| s.label)
            .collect();
        assert_eq!(got, ["vercel team-a/web", "cloudflare cf"]);
        let zones = Ok(Some(vec![
            Asset::new("zone", Z1, "Example.com").serving(["Example.com"]),
        ]));
        assert_eq!(served(&zones), Served::Read(vec!["example.com".into()]));
        let e = ProviderError::new(Category::Unreachable, "list_zones", "refused");
        assert_eq!(served(&Err(e)), Served::Failed("Unreachable".into()));
    }
}
