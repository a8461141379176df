//! Public hostnames and the uptime monitors that check them: the boundary assets of a
//! monitoring account (Better Stack). The other accounts' inventories say which hostnames
//! they serve on the public internet ([`Asset::hosts`]); a hostname is covered when an
//! active monitor checks exactly that name. Pure: the caller gathers the accounts the
//! monitoring account may speak for and their last inventory reads.
//!
//! The rules:
//! - **Matching is exact** (ASCII case, a trailing dot and the port ignored). A monitor on
//!   `www.example.com` does not cover the zone apex `example.com`, nor the reverse: a monitor
//!   checks the one name it requests, and another name of the same zone may be served by
//!   another origin. A paused monitor covers nothing.
//! - **Tenancy**: a namespaced monitoring account speaks for the accounts of its own
//!   namespace and the ClusterCloudProviders shared with that namespace; a cluster-wide one
//!   for the ClusterCloudProviders only (its status is cluster-wide, so no tenant's hostname
//!   lands there). Nothing else is looked at, so no status lists another tenant's names.
//! - **Unknown, never complete**: one account it speaks for whose inventory has not been read
//!   yet, or failed, makes the whole coverage unknown, naming that account.

pub use super::inventory::HOSTNAME;
use super::inventory::{Asset, Coverage, coverage};

/// Longest DNS name (RFC 1035, without the trailing dot).
const MAX_NAME: usize = 253;

/// The hostname as compared: lower case, without a trailing dot; `None` for anything that is
/// not a DNS name (an IP address, a name with a port, path or other characters), as it comes
/// from a provider's answer and reaches status.
pub fn normalize(host: &str) -> Option<String> {
    let h = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let labels_ok = h.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    // A name of digits and dots only is an IPv4 address, not a hostname.
    let numeric = h.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    (h.len() <= MAX_NAME && h.contains('.') && labels_ok && !numeric).then_some(h)
}

/// The host a monitor checks, from its `url`: an absolute URL (`https://shop.example.com/`)
/// or, for ping, TCP and DNS monitors, a bare host (`db.example.com`, `db.example.com:5432`).
pub fn monitor_host(url: &str) -> Option<String> {
    let url = url.trim();
    if url.contains("://") {
        return url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().and_then(normalize));
    }
    let host = url.rsplit_once(':').map_or(url, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            url
        }
    });
    normalize(host)
}

/// Whether a monitor of `monitored` (already normalised) checks `hostname`.
pub fn checks(monitored: &str, hostname: &str) -> bool {
    normalize(hostname).is_some_and(|h| h == monitored)
}

/// Who owns an account, for [`speaks_for`].
#[derive(Clone, Copy)]
pub enum Owner<'a> {
    /// A CloudProvider of this namespace.
    Namespace(&'a str),
    /// A ClusterCloudProvider, with the namespaces it is shared with.
    Cluster(&'a (dyn Fn(&str) -> bool + Sync)),
}

/// Whether a monitoring account owned by `monitor` may see (and report) the hostnames of an
/// account owned by `source`.
pub fn speaks_for(monitor: Owner<'_>, source: Owner<'_>) -> bool {
    match (monitor, source) {
        (Owner::Namespace(m), Owner::Namespace(s)) => m == s,
        (Owner::Namespace(m), Owner::Cluster(shared)) => shared(m),
        (Owner::Cluster(_), Owner::Cluster(_)) => true,
        (Owner::Cluster(_), Owner::Namespace(_)) => false,
    }
}

/// What is known of one account's public hostnames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Served {
    /// Its last inventory read: the hostnames of its assets.
    Read(Vec<String>),
    /// Not read yet (the operator just started, or the account is new).
    Pending,
    /// The last read failed, or the account cannot be used: why, in a few words.
    Failed(String),
}

/// One account a monitoring account speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// `cloudflare team-a/cf` (`cloudflare cf` for a ClusterCloudProvider).
    pub label: String,
    pub served: Served,
}

/// Why the coverage of the hostnames is unknown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unknown {
    /// `true` when only inventories not read yet are missing (worth asking again soon).
    pub pending: bool,
    pub message: String,
}

/// The hostnames of the assets an inventory listed, normalised, without repeats.
pub fn hosts_of(assets: &[Asset]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    assets
        .iter()
        .flat_map(|a| a.hosts.iter())
        .filter_map(|h| normalize(h))
        .filter(|h| seen.insert(h.clone()))
        .collect()
}

/// The hostnames of `sources` as assets (`id` the hostname, `name` saying which account
/// serves it; a name served by two accounts is one asset, named after the first), or why
/// they are unknown.
pub fn hostname_assets(sources: &[Source]) -> Result<Vec<Asset>, Unknown> {
    let pending: Vec<&str> = sources
        .iter()
        .filter(|s| s.served == Served::Pending)
        .map(|s| s.label.as_str())
        .collect();
    let failed: Vec<String> = sources
        .iter()
        .filter_map(|s| match &s.served {
            Served::Failed(why) => Some(format!("{} ({why})", s.label)),
            _ => None,
        })
        .collect();
    if !pending.is_empty() || !failed.is_empty() {
        let mut parts = Vec::new();
        if !failed.is_empty() {
            parts.push(format!("could not be read: {}", failed.join(", ")));
        }
        if !pending.is_empty() {
            parts.push(format!("not read yet: {}", pending.join(", ")));
        }
        return Err(Unknown {
            pending: failed.is_empty(),
            message: format!(
                "the public hostnames of accounts it speaks for are unknown; inventory {}",
                parts.join("; ")
            ),
        });
    }
    // A set of the names seen, not a scan of `out`: a monitoring account speaks for every
    // account of its namespace, and at 700 accounts that scan was 8% of the operator's CPU.
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<Asset> = Vec::new();
    for s in sources {
        let Served::Read(hosts) = &s.served else {
            continue;
        };
        for h in hosts.iter().filter_map(|h| normalize(h)) {
            if seen.insert(h.clone()) {
                let name = format!("{h} ({})", s.label);
                out.push(Asset::new(HOSTNAME, h, name));
            }
        }
    }
    Ok(out)
}

/// Which hostnames an active monitor checks (`monitored`: the hosts of the active monitors).
pub fn hostname_coverage(hostnames: &[Asset], monitored: &[String]) -> Coverage {
    // What [`checks`] asks of each monitor, once per hostname rather than once per pair.
    let monitored: std::collections::HashSet<&str> = monitored.iter().map(String::as_str).collect();
    coverage(hostnames, |a, _| {
        a.kind == HOSTNAME && normalize(&a.id).is_some_and(|h| monitored.contains(h.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_monitor_covers_exactly_the_host_it_requests() {
        let cases = [
            ("https://shop.example.com/health", "shop.example.com", true),
            ("https://SHOP.Example.com.:8443/", "shop.example.com", true),
            ("http://shop.example.com", "Shop.Example.Com.", true),
            ("shop.example.com", "shop.example.com", true),
            ("shop.example.com:443", "shop.example.com", true),
            // A subdomain does not cover the apex, nor the apex a subdomain.
            ("https://www.example.com/", "example.com", false),
            ("https://example.com/", "www.example.com", false),
            // A look-alike is another name.
            (
                "https://shop.example.com.evil.test/",
                "shop.example.com",
                false,
            ),
            (
                "https://evil.test/?u=shop.example.com",
                "shop.example.com",
                false,
            ),
            (
                "https://user@shop.example.com@evil.test/",
                "shop.example.com",
                false,
            ),
            // IP addresses and garbage check no hostname.
            ("https://192.0.2.1/", "192.0.2.1", false),
            ("not a url", "not a url", false),
            ("", "", false),
        ];
        for (url, hostname, want) in cases {
            let got = monitor_host(url).is_some_and(|m| checks(&m, hostname));
            assert_eq!(got, want, "{url} {hostname}");
        }
    }

    #[test]
    fn hostnames_from_answers_are_names_or_nothing() {
        let cases = [
            ("Shop.Example.com.", Some("shop.example.com")),
            ("abc.supabase.co", Some("abc.supabase.co")),
            ("localhost", None),
            ("10.0.0.1", None),
            ("a..b", None),
            ("-a.example.com", None),
            ("evil\n.example.com", None),
            ("shop.example.com/path", None),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(raw).as_deref(), want, "{raw:?}");
        }
        assert_eq!(
            normalize(&format!("{}.com", "a".repeat(60)).repeat(5)),
            None
        );
    }

    /// A namespaced monitoring account sees its namespace and the cluster accounts shared
    /// with it; a cluster one sees cluster accounts only; nobody sees another tenant.
    #[test]
    fn tenancy_a_monitoring_account_speaks_only_for_its_own() {
        let to_a = |ns: &str| ns == "team-a";
        let to_all = |_: &str| true;
        let to_none = |_: &str| false;
        let cases = [
            (Owner::Namespace("team-a"), Owner::Namespace("team-a"), true),
            (
                Owner::Namespace("team-a"),
                Owner::Namespace("team-b"),
                false,
            ),
            (Owner::Namespace("team-a"), Owner::Cluster(&to_a), true),
            (Owner::Namespace("team-b"), Owner::Cluster(&to_a), false),
            (Owner::Namespace("team-b"), Owner::Cluster(&to_all), true),
            (Owner::Namespace("team-a"), Owner::Cluster(&to_none), false),
            (Owner::Cluster(&to_a), Owner::Cluster(&to_none), true),
            (Owner::Cluster(&to_a), Owner::Namespace("team-a"), false),
            (Owner::Cluster(&to_all), Owner::Namespace("team-b"), false),
        ];
        for (i, (monitor, source, want)) in cases.into_iter().enumerate() {
            assert_eq!(speaks_for(monitor, source), want, "case {i}");
        }
    }

    fn source(label: &str, served: Served) -> Source {
        Source {
            label: label.into(),
            served,
        }
    }

    #[test]
    fn hostnames_are_unknown_while_an_account_is_unread_or_failed() {
        let read = |hosts: &[&str]| Served::Read(hosts.iter().map(|h| h.to_string()).collect());
        let cf = source(
            "cloudflare team-a/cf",
            read(&["example.com", "Shop.example.com"]),
        );
        let vercel = source(
            "vercel team-a/web",
            read(&["shop.example.com", "blog.example.com"]),
        );
        let got = hostname_assets(&[cf.clone(), vercel.clone()]).expect("known");
        let ids: Vec<(&str, &str)> = got
            .iter()
            .map(|a| (a.id.as_str(), a.name.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("example.com", "example.com (cloudflare team-a/cf)"),
                (
                    "shop.example.com",
                    "shop.example.com (cloudflare team-a/cf)"
                ),
                ("blog.example.com", "blog.example.com (vercel team-a/web)"),
            ]
        );
        assert!(got.iter().all(|a| a.kind == HOSTNAME));
        // Nothing to speak for: nothing listed, and that is known.
        assert_eq!(hostname_assets(&[]), Ok(vec![]));

        let cases = [
            (
                vec![cf.clone(), source("turso team-a/db", Served::Pending)],
                true,
                "not read yet: turso team-a/db",
            ),
            (
                vec![
                    source("upstash team-a/cache", Served::Failed("Throttled".into())),
                    vercel.clone(),
                ],
                false,
                "could not be read: upstash team-a/cache (Throttled)",
            ),
            (
                vec![
                    source("a x", Served::Pending),
                    source("b y", Served::Failed("Unreachable".into())),
                ],
                false,
                "could not be read: b y (Unreachable); not read yet: a x",
            ),
        ];
        for (sources, pending, names) in cases {
            let e = hostname_assets(&sources).expect_err("unknown");
            assert_eq!(e.pending, pending, "{e:?}");
            assert!(e.message.contains(names), "{}", e.message);
        }
    }

    #[test]
    fn a_hostname_is_covered_only_by_an_active_monitor_of_that_name() {
        let hostnames = vec![
            Asset::new(HOSTNAME, "example.com", "example.com (cloudflare cf)"),
            Asset::new(
                HOSTNAME,
                "shop.example.com",
                "shop.example.com (vercel web)",
            ),
            Asset::new(HOSTNAME, "abc.supabase.co", "abc.supabase.co (supabase db)"),
        ];
        let monitored: Vec<String> = ["https://shop.example.com/", "https://www.example.com/"]
            .iter()
            .filter_map(|u| monitor_host(u))
            .collect();
        let c = hostname_coverage(&hostnames, &monitored);
        assert_eq!(c.kinds, vec![(HOSTNAME, 3, 1)]);
        let uncovered: Vec<&str> = c.uncovered.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(uncovered, ["example.com", "abc.supabase.co"]);
        // Same id, another kind: not a hostname to monitor.
        let zone = [Asset::new("zone", "shop.example.com", "")];
        assert_eq!(hostname_coverage(&zone, &monitored).covered(), 0);
    }
}
