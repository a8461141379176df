//! Fleet's boundary assets: its hosts, the endpoints whose own firewalls DE.CM-1 asks about
//! (`GET /api/v1/fleet/hosts`, paged, every page a counted and rate-limited call). A host is
//! counted by the platform whose check would run on it (`macosHost`, `windowsHost`,
//! `linuxHost`); a device no host-firewall check can run on (ChromeOS, iOS, iPadOS, Android) is
//! not counted, since no policy could ever cover it. A host is covered by a FirewallPolicy's
//! `fleet` block that checks its platform, globally (no `teams`) or in the host's team.

use super::api::{FleetFirewall, Platform};
use super::model::{Host, platform_of};
use crate::core::inventory::Asset;

pub const MACOS_HOST: &str = "macosHost";
pub const WINDOWS_HOST: &str = "windowsHost";
pub const LINUX_HOST: &str = "linuxHost";

fn kind(p: Platform) -> &'static str {
    match p {
        Platform::Macos => MACOS_HOST,
        Platform::Windows => WINDOWS_HOST,
        Platform::Linux => LINUX_HOST,
    }
}

fn platform(kind: &str) -> Option<Platform> {
    match kind {
        MACOS_HOST => Some(Platform::Macos),
        WINDOWS_HOST => Some(Platform::Windows),
        LINUX_HOST => Some(Platform::Linux),
        _ => None,
    }
}

/// The hosts as assets, in the order listed: id = Fleet's host id, name = the name Fleet
/// shows, parent = the team's name.
pub fn assets(hosts: &[Host]) -> Vec<Asset> {
    hosts
        .iter()
        .filter_map(|h| {
            let p = platform_of(&h.platform)?;
            let asset = Asset::new(kind(p), h.id.to_string(), &h.name);
            Some(match &h.team {
                Some(t) => asset.within(t),
                None => asset,
            })
        })
        .collect()
}

/// Whether `block` checks `asset`'s host: its platform, and globally or in the host's team.
pub fn covers(block: &FleetFirewall, asset: &Asset) -> bool {
    let Some(p) = platform(asset.kind) else {
        return false;
    };
    block.platforms.contains(&p)
        && (block.teams.is_empty()
            || asset
                .parent
                .as_ref()
                .is_some_and(|team| block.teams.contains(team)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn host(id: u64, platform: &str, team: Option<&str>) -> Host {
        Host {
            id,
            name: format!("h{id}"),
            hostname: format!("h{id}"),
            serial: String::new(),
            platform: platform.into(),
            team: team.map(str::to_string),
            seen: None,
            seen_text: String::new(),
        }
    }

    #[test]
    fn hosts_are_counted_by_the_platform_whose_check_runs_on_them() {
        let hosts = [
            host(1, "darwin", Some("Laptops")),
            host(2, "windows", None),
            host(3, "ubuntu", Some("Servers")),
            host(4, "amzn", None),
            host(5, "ios", Some("Laptops")),
            host(6, "chrome", None),
        ];
        let got: Vec<(&str, String, Option<String>)> = assets(&hosts)
            .into_iter()
            .map(|a| (a.kind, a.id, a.parent))
            .collect();
        assert_eq!(
            got,
            [
                (MACOS_HOST, "1".into(), Some("Laptops".into())),
                (WINDOWS_HOST, "2".into(), None),
                (LINUX_HOST, "3".into(), Some("Servers".into())),
                (LINUX_HOST, "4".into(), None),
            ]
        );
    }

    /// Which of the hosts each block covers, by id.
    #[test]
    fn a_block_covers_the_hosts_of_its_platforms_in_its_teams() {
        let all = assets(&[
            host(1, "darwin", Some("Laptops")),
            host(2, "windows", Some("Laptops")),
            host(3, "ubuntu", Some("Servers")),
            host(4, "darwin", None),
        ]);
        let cases: Vec<(serde_json::Value, &[&str])> = vec![
            // Global: every host of the platforms, in a team or not.
            (json!({"platforms": ["macos"]}), &["1", "4"]),
            (
                json!({"platforms": ["macos", "windows", "linux"]}),
                &["1", "2", "3", "4"],
            ),
            // A team's policies: only that team's hosts.
            (
                json!({"platforms": ["macos", "windows"], "teams": ["Laptops"]}),
                &["1", "2"],
            ),
            (json!({"platforms": ["linux"], "teams": ["Laptops"]}), &[]),
            (
                json!({"platforms": ["linux"], "teams": ["Servers"]}),
                &["3"],
            ),
            // A team name is matched exactly.
            (json!({"platforms": ["macos"], "teams": ["laptops"]}), &[]),
        ];
        for (b, want) in cases {
            let block: FleetFirewall = serde_json::from_value(b.clone()).expect("block");
            let got: Vec<&str> = all
                .iter()
                .filter(|a| covers(&block, a))
                .map(|a| a.id.as_str())
                .collect();
            assert_eq!(got, want, "{b}");
        }
        // Another provider's asset is never a host.
        let block: FleetFirewall =
            serde_json::from_value(json!({"platforms": ["macos"]})).expect("block");
        assert!(!covers(&block, &Asset::new("zone", "1", "a.example")));
    }
}
