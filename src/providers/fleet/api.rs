//! The Fleet blocks of `FirewallPolicy` and `MonitoringPolicy`: endpoint firewalls verified
//! through the organisation's Fleet server (the open-source osquery manager).
//!
//! A FirewallPolicy declares, per platform, the host-firewall check Perimeter keeps as a Fleet
//! policy (its osquery SQL is Perimeter's, see [`super::queries`], never the manifest's: a
//! tenant who could write the query could make any host pass), the teams it applies to, and
//! the hosts allowed to fail for a while. Fleet *checks* hosts; it does not switch firewalls on.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A Fleet team's name as the policy names it: printable, no control characters, and nothing
/// that could leave a section name (`[`, `]`, `@`).
pub const TEAM_PATTERN: &str = r"^[^\x00-\x1f\x7f\[\]@]{1,100}$";
/// A host's name (hostname, display name) or hardware serial number.
pub const HOST_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$";
/// RFC 3339, as attestations' `expires`.
pub const EXPIRES_PATTERN: &str =
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$";
pub const MAX_TEAMS: usize = 20;
pub const MAX_EXCEPTIONS: usize = 200;

/// A platform whose host firewall Perimeter checks.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// The application firewall is on (osquery `alf.global_state` 1 or 2).
    Macos,
    /// Windows Defender Firewall is on for the domain, private and public profiles, and no
    /// Group Policy turns any of them off (osquery `registry`).
    Windows,
    /// A host firewall is active: the `INPUT` chain of iptables' filter table drops by
    /// default, or firewalld or nftables is running (osquery `iptables`, `systemd_units`).
    Linux,
}

/// Endpoint firewalls of the hosts one Fleet server manages. Enforce creates the Fleet
/// policies that are missing and puts back their query; it never switches a firewall on
/// (Fleet only checks), so failing hosts stay drift until someone fixes them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FleetFirewall {
    /// The platforms whose host firewall is checked: one Fleet policy each, named
    /// `Perimeter: <platform> host firewall`, with Perimeter's osquery query.
    #[schemars(length(min = 1, max = 3))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub platforms: Vec<Platform>,
    /// Fleet teams (Fleet Premium) whose hosts are checked, by name: the policies are team
    /// policies of each. Empty: global policies, checked on every host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(regex(pattern = TEAM_PATTERN)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub teams: Vec<String>,
    /// Hosts allowed to fail until their exception expires (then they are drift again).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["host"]))]
    pub exceptions: Vec<HostException>,
    /// A host not seen by Fleet for this many days is a `HostNotSeen` finding: its answer to
    /// the check is that old. Default 7.
    #[serde(default = "default_stale")]
    #[schemars(range(min = 1, max = 365))]
    pub stale_after_days: u32,
    /// The share of checked hosts (in percent) that must pass, excepted hosts counting as
    /// passing, for DE.CM-1's EndpointFirewall to be Verified: the organisation's remediation
    /// tolerance. Failing hosts stay drift and are listed whatever it is; a missing or edited
    /// check is never tolerated. Default 100: every host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 50, max = 100))]
    pub min_passing_percent: Option<u8>,
}

pub fn default_stale() -> u32 {
    7
}

/// A named host allowed to fail the check, with a reason and an expiry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostException {
    /// The host's name in Fleet (`hostname` or `display_name`) or its hardware serial.
    #[schemars(regex(pattern = HOST_PATTERN))]
    pub host: String,
    /// Why it may fail (shown in the finding).
    #[schemars(length(min = 5, max = 500))]
    pub reason: String,
    /// When the exception stops counting (RFC 3339).
    #[schemars(regex(pattern = EXPIRES_PATTERN))]
    pub expires: String,
}

/// Hosts that stopped checking in, the one piece of monitoring Fleet's API honestly shows
/// about the endpoints themselves.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FleetMonitoring {
    /// Teams whose hosts are read (empty: every host).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(regex(pattern = TEAM_PATTERN)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub teams: Vec<String>,
    /// How many hosts may be unseen for `staleAfterDays` (default 0).
    #[serde(default)]
    #[schemars(range(max = 100000))]
    pub max_stale_hosts: u32,
    /// Default 7.
    #[serde(default = "default_stale")]
    #[schemars(range(min = 1, max = 365))]
    pub stale_after_days: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patterns_refuse_what_could_leave_a_name() {
        let team = regex::Regex::new(TEAM_PATTERN).expect("pattern");
        for ok in ["Workstations", "Servers (EU)", "Équipe"] {
            assert!(team.is_match(ok), "{ok}");
        }
        for bad in ["", "a]b", "x@y", "line\nbreak"] {
            assert!(!team.is_match(bad), "{bad:?}");
        }
        let host = regex::Regex::new(HOST_PATTERN).expect("pattern");
        for ok in ["build-mac-03", "C02XK0AAJG5J", "web01.corp.example"] {
            assert!(host.is_match(ok), "{ok}");
        }
        for bad in ["", "-x", "a b", "a/b"] {
            assert!(!host.is_match(bad), "{bad:?}");
        }
    }

    #[test]
    fn defaults_and_unknown_fields() {
        let b: FleetFirewall =
            serde_json::from_value(json!({"platforms": ["macos"]})).expect("block");
        assert_eq!(b.stale_after_days, 7);
        assert!(b.teams.is_empty() && b.exceptions.is_empty());
        // The query is Perimeter's: a block cannot carry one.
        assert!(
            serde_json::from_value::<FleetFirewall>(
                json!({"platforms": ["macos"], "query": "SELECT 1"})
            )
            .is_err()
        );
        assert!(serde_json::from_value::<FleetFirewall>(json!({"platforms": ["bsd"]})).is_err());
    }
}
