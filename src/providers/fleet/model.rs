//! Pure mapping between Fleet's answers, the Fleet blocks and the neutral model.
//!
//! Per scope (the global policies, or one team's), a FirewallPolicy has two sections:
//! `policies` (Unordered, keyed by the policy's name: only Fleet policies named
//! `Perimeter: …` are read, so no other policy is ever touched) and `failingHosts`
//! (`Violations`: each host failing a check, not excepted, is drift; nothing is planned, since
//! Fleet checks hosts and cannot fix them). A team's sections carry `@<team>` in their names.

use std::fmt;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::api::{FleetFirewall, FleetMonitoring, Platform};
use super::queries::{self, Check, NAME_PREFIX};
use crate::compliance::endpoints::{EndpointHosts, FailingHost};
use crate::core::model::unique_keys;
use crate::core::normalize::Invalid;
use crate::core::{Item, Locator, Section, SectionKind, State};
use crate::http::sanitize;
use crate::providers::{Finding, Purpose, Scope, Target};

pub const POLICIES: &str = "policies";
pub const FAILING_HOSTS: &str = "failingHosts";
pub const HOSTS: &str = "hosts";
pub const STALE: &str = "stale";

/// A host not seen for `staleAfterDays`.
pub const HOST_NOT_SEEN: &str = "HostNotSeen";
/// A failing host covered by an unexpired exception.
pub const HOST_EXCEPTED: &str = "HostExcepted";
/// A managed policy's pass ratio, as Fleet counts it (`passing/total`).
pub const PASS_RATIO: &str = "PassRatio";

pub const FINDING_CODES: &[&str] = &[
    HOST_NOT_SEEN,
    HOST_EXCEPTED,
    PASS_RATIO,
    crate::core::model::MANUAL_CHANGE_NEEDED,
];

/// What a person does about failing hosts: Fleet only checks.
pub const FIX_HOSTS: &str = "Fleet checks host firewalls, it does not switch them on: turn the firewall on on each failing host (MDM profile, Group Policy, configuration management), or add a named exception with an expiry";

/// Which Fleet policies a section is: the global ones, or one team's (by name; the client
/// resolves the id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub team: Option<String>,
}

impl Place {
    pub fn section(&self, base: &str) -> String {
        match &self.team {
            None => base.to_string(),
            Some(t) => format!("{base}@{t}"),
        }
    }
}

/// An exception, its expiry parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exception {
    pub host: String,
    pub reason: String,
    pub expires: Timestamp,
}

/// What one Fleet target reads and writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetScope {
    pub places: Vec<Place>,
    pub checks: Vec<Check>,
    pub exceptions: Vec<Exception>,
    pub stale_after_days: u32,
    /// Monitoring only: how many stale hosts are allowed.
    pub max_stale: Option<u32>,
}

impl fmt::Display for FleetScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let teams: Vec<&str> = self
            .places
            .iter()
            .filter_map(|p| p.team.as_deref())
            .collect();
        if teams.is_empty() {
            f.write_str("Fleet global")
        } else {
            write!(f, "Fleet teams {}", teams.join(", "))
        }
    }
}

/// The schema's patterns, again, for objects stored without them; compiled once, not at every
/// sync.
static TEAM: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(super::api::TEAM_PATTERN).expect("a constant pattern")
});
static HOST: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(super::api::HOST_PATTERN).expect("a constant pattern")
});

fn places(teams: &[String]) -> Result<Vec<Place>, Invalid> {
    let pattern = &*TEAM;
    let mut out: Vec<Place> = Vec::new();
    for (i, t) in teams.iter().enumerate() {
        if !pattern.is_match(t) {
            return Err(Invalid(format!(
                "teams[{i}]: {:?} is not a team name",
                sanitize(t, 40)
            )));
        }
        if out.iter().any(|p| p.team.as_deref() == Some(t)) {
            return Err(Invalid(format!("teams[{i}]: {t:?} is listed twice")));
        }
        out.push(Place {
            team: Some(t.clone()),
        });
    }
    if out.is_empty() {
        out.push(Place { team: None });
    }
    Ok(out)
}

/// The body that creates (or, through PATCH, puts back) a managed policy.
pub fn policy_body(c: &Check) -> Value {
    json!({
        "name": c.name,
        "query": c.query,
        "description": c.description,
        "resolution": c.resolution,
        "platform": c.fleet_platform,
    })
}

pub fn firewall_target(block: &FleetFirewall) -> Result<Target, Invalid> {
    let places = places(&block.teams)?;
    let mut platforms: Vec<Platform> = block.platforms.clone();
    platforms.sort();
    platforms.dedup();
    if platforms.is_empty() {
        return Err(Invalid("platforms: name at least one platform".into()));
    }
    let checks: Vec<Check> = platforms.into_iter().map(queries::check).collect();
    let host = &*HOST;
    let mut exceptions = Vec::new();
    for (i, e) in block.exceptions.iter().enumerate() {
        if !host.is_match(&e.host) {
            return Err(Invalid(format!(
                "exceptions[{i}].host: {:?} is not a host name or serial",
                sanitize(&e.host, 40)
            )));
        }
        let expires: Timestamp = e.expires.parse().map_err(|_| {
            Invalid(format!(
                "exceptions[{i}].expires: {:?} is not an RFC 3339 time",
                sanitize(&e.expires, 40)
            ))
        })?;
        if exceptions.iter().any(|x: &Exception| x.host == e.host) {
            return Err(Invalid(format!(
                "exceptions[{i}].host: {:?} is listed twice",
                e.host
            )));
        }
        exceptions.push(Exception {
            host: e.host.clone(),
            reason: sanitize(&e.reason, 500),
            expires,
        });
    }
    let mut desired = State::default();
    for place in &places {
        let items = checks
            .iter()
            .map(|c| {
                Item::new(c.name)
                    .field("query", c.query)
                    .field("platform", c.fleet_platform)
                    .with_raw(policy_body(c))
            })
            .collect();
        let section = place.section(POLICIES);
        desired.push(
            Section::new(
                section.clone(),
                SectionKind::Unordered,
                unique_keys(&section, items)?,
            )
            .with_locator(Locator::new(place.clone())),
        );
        desired.push(
            Section::new(
                place.section(FAILING_HOSTS),
                SectionKind::Violations,
                Vec::new(),
            )
            .with_locator(Locator::new(place.clone())),
        );
    }
    Ok(Target {
        purpose: Purpose::Firewall,
        scope: Scope::new(FleetScope {
            places,
            checks,
            exceptions,
            stale_after_days: block.stale_after_days.clamp(1, 365),
            max_stale: None,
        }),
        desired,
    })
}

fn within(max: u32) -> String {
    format!("at most {max}")
}

pub fn monitoring_target(block: &FleetMonitoring) -> Result<Target, Invalid> {
    let places = places(&block.teams)?;
    let mut desired = State::default();
    for place in &places {
        desired.push(
            Section::new(
                place.section(HOSTS),
                SectionKind::Settings,
                vec![Item::new(STALE).field("value", within(block.max_stale_hosts))],
            )
            .with_locator(Locator::new(place.clone())),
        );
    }
    Ok(Target {
        purpose: Purpose::Monitoring,
        scope: Scope::new(FleetScope {
            places,
            checks: Vec::new(),
            exceptions: Vec::new(),
            stale_after_days: block.stale_after_days.clamp(1, 365),
            max_stale: Some(block.max_stale_hosts),
        }),
        desired,
    })
}

fn bad(what: impl Into<String>) -> Invalid {
    Invalid(what.into())
}

/// A Fleet policy as listed.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub id: u64,
    pub name: String,
    pub query: String,
    pub platform: String,
    pub passing: u64,
    pub failing: u64,
    pub raw: Value,
}

fn uint(v: &Value, key: &str, what: &str) -> Result<u64, Invalid> {
    match v.get(key) {
        Some(n) => n
            .as_u64()
            .ok_or_else(|| bad(format!("{what}: {key} is not a count"))),
        None => Err(bad(format!("{what} without {key}"))),
    }
}

fn text<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a str, Invalid> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{what} without a string {key}")))
}

/// The policies of a list answer (`{"policies": [...]}`; a team's answer also has
/// `inherited_policies`, the global ones, which are not the team's and are not read here).
pub fn policies(answer: &Value) -> Result<Vec<Policy>, Invalid> {
    let list = match answer.get("policies") {
        Some(Value::Array(a)) => a,
        // Fleet answers `null` for a scope without policies.
        Some(Value::Null) => return Ok(Vec::new()),
        Some(_) => return Err(bad("policies is not a list")),
        None => return Err(bad("the answer has no policies list")),
    };
    list.iter()
        .map(|p| {
            Ok(Policy {
                id: uint(p, "id", "a policy")?,
                name: text(p, "name", "a policy")?.to_string(),
                query: text(p, "query", "a policy")?.to_string(),
                platform: p
                    .get("platform")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                passing: p
                    .get("passing_host_count")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                failing: p
                    .get("failing_host_count")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                raw: p.clone(),
            })
        })
        .collect()
}

/// The managed policies (named `Perimeter: …`) of one place, as a section.
pub fn observed_policies(place: &Place, all: &[Policy]) -> Section {
    let items = all
        .iter()
        .filter(|p| p.name.starts_with(NAME_PREFIX))
        .map(|p| {
            Item::new(p.name.clone())
                .field("query", p.query.clone())
                .field("platform", p.platform.clone())
                .with_handle(p.id.to_string())
                .with_raw(p.raw.clone())
        })
        .collect();
    Section::new(place.section(POLICIES), SectionKind::Unordered, items)
        .with_locator(Locator::new(place.clone()))
}

/// A host as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub id: u64,
    /// `display_name`, else `hostname`.
    pub name: String,
    pub hostname: String,
    pub serial: String,
    pub platform: String,
    /// `team_name`; `None`: the host is in no team.
    pub team: Option<String>,
    pub seen: Option<Timestamp>,
    pub seen_text: String,
}

/// The values of a host's `platform` that are Linux, from Fleet's `HostLinuxOSs`
/// (fleetdm/fleet `server/fleet/hosts.go`): a `linux` policy runs on each of them.
pub const LINUX_PLATFORMS: &[&str] = &[
    "linux",
    "ubuntu",
    "debian",
    "rhel",
    "centos",
    "sles",
    "kali",
    "gentoo",
    "amzn",
    "pop",
    "arch",
    "linuxmint",
    "void",
    "nixos",
    "endeavouros",
    "manjaro",
    "opensuse-leap",
    "opensuse-tumbleweed",
    "tuxedo",
];

/// The platform whose check runs on a host of Fleet's `platform` value; `None` for a device
/// no host-firewall check can run on (`chrome`, `ios`, `ipados`, `android`).
pub fn platform_of(fleet_platform: &str) -> Option<Platform> {
    match fleet_platform {
        "darwin" => Some(Platform::Macos),
        "windows" => Some(Platform::Windows),
        p if LINUX_PLATFORMS.contains(&p) => Some(Platform::Linux),
        _ => None,
    }
}

/// The hosts of one page of `GET /api/v1/fleet/hosts`.
pub fn hosts(answer: &Value) -> Result<Vec<Host>, Invalid> {
    let list = match answer.get("hosts") {
        Some(Value::Array(a)) => a,
        Some(Value::Null) => return Ok(Vec::new()),
        Some(_) => return Err(bad("hosts is not a list")),
        None => return Err(bad("the answer has no hosts list")),
    };
    list.iter()
        .map(|h| {
            let hostname = sanitize(text(h, "hostname", "a host")?, 253);
            let display = h
                .get("display_name")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(|s| sanitize(s, 253));
            let seen_text = h
                .get("seen_time")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            Ok(Host {
                id: uint(h, "id", "a host")?,
                name: display.unwrap_or_else(|| hostname.clone()),
                hostname,
                serial: sanitize(
                    h.get("hardware_serial")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                    64,
                ),
                platform: sanitize(text(h, "platform", "a host")?, 40),
                team: h
                    .get("team_name")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(|s| sanitize(s, 100)),
                seen: seen_text.parse().ok(),
                seen_text: sanitize(&seen_text, 40),
            })
        })
        .collect()
}

fn covering<'a>(exceptions: &'a [Exception], host: &Host) -> Option<&'a Exception> {
    exceptions.iter().find(|e| {
        e.host == host.hostname
            || e.host == host.name
            || (!host.serial.is_empty() && e.host == host.serial)
    })
}

/// The hosts failing each managed policy of one place (`(policy name, hosts)`), to the
/// `failingHosts` section (hosts without an unexpired exception) and a `HostExcepted`
/// finding per excepted one. An expired exception no longer covers its host.
pub fn failing_hosts(
    place: &Place,
    failing: &[(String, Vec<Host>)],
    exceptions: &[Exception],
    now: Timestamp,
) -> (Section, Vec<Finding>) {
    let section = place.section(FAILING_HOSTS);
    let mut items: Vec<Item> = Vec::new();
    let mut findings = Vec::new();
    for (policy, hosts) in failing {
        for h in hosts {
            if let Some(e) = covering(exceptions, h).filter(|e| e.expires > now) {
                findings.push(Finding {
                    code: HOST_EXCEPTED,
                    subject: format!("{section}[{}]", h.name),
                    message: format!(
                        "{} ({}, last seen {}) fails {policy} but is excepted until {}: {}",
                        h.name,
                        h.platform,
                        if h.seen_text.is_empty() {
                            "never"
                        } else {
                            &h.seen_text
                        },
                        e.expires,
                        e.reason
                    ),
                });
                continue;
            }
            let mut key = h.name.clone();
            if items.iter().any(|i| i.key == key) {
                key = format!("{key}#{}", h.id);
            }
            items.push(
                Item::new(key)
                    .field("policy", policy.clone())
                    .field("platform", h.platform.clone())
                    .field("lastSeen", h.seen_text.clone())
                    .with_handle(h.id.to_string()),
            );
        }
    }
    (
        Section::new(section, SectionKind::Violations, items)
            .with_locator(Locator::new(place.clone())),
        findings,
    )
}

/// Hosts of a place not seen for `days` (or never): one `HostNotSeen` finding each.
pub fn stale_hosts(place: &Place, hosts: &[Host], days: u32, now: Timestamp) -> Vec<Finding> {
    let limit = jiff::SignedDuration::from_hours(24 * i64::from(days));
    hosts
        .iter()
        .filter(|h| h.seen.is_none_or(|s| now.duration_since(s) > limit))
        .map(|h| Finding {
            code: HOST_NOT_SEEN,
            subject: format!("{}[{}]", place.section(HOSTS), h.name),
            message: format!(
                "{} ({}) last checked in with Fleet at {}: its firewall check is older than {days} day(s)",
                h.name,
                h.platform,
                if h.seen_text.is_empty() { "never" } else { &h.seen_text }
            ),
        })
        .collect()
}

/// The monitoring section of a place: "at most N" while within the limit, else the count.
pub fn observed_stale(place: &Place, stale: usize, max: u32) -> Section {
    let value = if stale <= max as usize {
        within(max)
    } else {
        stale.to_string()
    };
    Section::new(
        place.section(HOSTS),
        SectionKind::Settings,
        vec![Item::new(STALE).field("value", value)],
    )
    .with_locator(Locator::new(place.clone()))
}

/// A managed policy's pass ratio as a `PassRatio` finding (`passing/total`, Fleet's counts).
pub fn pass_ratio(place: &Place, p: &Policy) -> Finding {
    let total = p.passing + p.failing;
    Finding {
        code: PASS_RATIO,
        subject: format!("{}[{}]", place.section(POLICIES), p.name),
        message: format!("{}/{} hosts passing", p.passing, total),
    }
}

/// The hosts a Fleet FirewallPolicy's last read showed, from its status (drift and
/// findings): the pass ratio (summed over its `PassRatio` findings), the failing hosts without
/// an exception (its `failingHosts` drift) and the excepted ones (`HostExcepted`), for
/// DE.CM-1's EndpointFirewall. What does not parse is left out, never invented.
pub fn endpoint_hosts(
    drift: &[crate::api::DriftEntry],
    findings: &[crate::api::FindingEntry],
) -> EndpointHosts {
    let mut out = EndpointHosts::default();
    for f in findings.iter().filter(|f| f.code == PASS_RATIO) {
        if let Some((passing, total)) = parse_pass_ratio(&f.message) {
            out.passing += passing;
            out.total += total;
        }
    }
    let bracketed = |path: &str| -> Option<String> {
        let rest = path.strip_prefix(FAILING_HOSTS)?;
        let (_, key) = rest.split_once('[')?;
        Some(key.strip_suffix(']')?.to_string())
    };
    for d in drift {
        let Some(host) = bracketed(&d.field) else {
            continue;
        };
        let observed: Value = d
            .observed
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok())
            .unwrap_or_default();
        let field = |k: &str| {
            observed
                .get(k)
                .and_then(Value::as_str)
                .map(|s| sanitize(s, 60))
                .unwrap_or_default()
        };
        out.failing.push(FailingHost {
            host: sanitize(&host, 253),
            platform: field("platform"),
            last_seen: field("lastSeen"),
            excepted_until: None,
        });
    }
    for f in findings.iter().filter(|f| f.code == HOST_EXCEPTED) {
        let Some(host) = bracketed(&f.subject) else {
            continue;
        };
        // "<name> (<platform>, last seen <time>) fails <policy> but is excepted until <t>: …"
        let about = f
            .message
            .split_once(" (")
            .and_then(|(_, r)| r.split_once(") fails "))
            .map(|(inside, _)| inside);
        let (platform, last_seen) = about
            .and_then(|a| a.split_once(", last seen "))
            .unwrap_or_default();
        let until = f
            .message
            .split_once(" but is excepted until ")
            .and_then(|(_, r)| r.split_once(": "))
            .map(|(t, _)| sanitize(t, 40));
        out.failing.push(FailingHost {
            host: sanitize(&host, 253),
            platform: sanitize(platform, 60),
            last_seen: sanitize(last_seen, 60),
            excepted_until: until.or_else(|| Some(String::new())),
        });
    }
    out
}

/// `(passing, total)` read back from a `PassRatio` finding's message.
pub fn parse_pass_ratio(message: &str) -> Option<(u64, u64)> {
    let (ratio, _) = message.split_once(' ')?;
    let (p, t) = ratio.split_once('/')?;
    Some((p.parse().ok()?, t.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{DriftKind, Undeclared, diff};

    fn block(v: Value) -> FleetFirewall {
        serde_json::from_value(v).expect("block")
    }

    fn now() -> Timestamp {
        "2026-12-01T12:00:00Z".parse().expect("time")
    }

    fn host(id: u64, name: &str, serial: &str, seen: &str) -> Host {
        Host {
            id,
            name: name.into(),
            hostname: name.into(),
            serial: serial.into(),
            platform: "darwin".into(),
            team: None,
            seen: seen.parse().ok(),
            seen_text: seen.into(),
        }
    }

    #[test]
    fn a_target_has_policies_and_failing_hosts_per_team() {
        let t = firewall_target(&block(json!({
            "platforms": ["windows", "macos", "macos"], "teams": ["Laptops", "Servers"]
        })))
        .expect("target");
        let names: Vec<&str> = t.desired.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "policies@Laptops",
                "failingHosts@Laptops",
                "policies@Servers",
                "failingHosts@Servers"
            ]
        );
        let keys: Vec<&str> = t.desired.sections[0]
            .items
            .iter()
            .map(|i| i.key.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "Perimeter: macOS host firewall",
                "Perimeter: Windows host firewall"
            ]
        );
        assert_eq!(t.scope.to_string(), "Fleet teams Laptops, Servers");
        let global = firewall_target(&block(json!({"platforms": ["linux"]}))).expect("target");
        assert_eq!(global.desired.sections[0].name, "policies");
        assert_eq!(global.scope.to_string(), "Fleet global");
    }

    #[test]
    fn bad_blocks_are_refused_naming_the_field() {
        for (v, field) in [
            (json!({"platforms": []}), "platforms"),
            (
                json!({"platforms": ["macos"], "teams": ["a]b"]}),
                "teams[0]",
            ),
            (
                json!({"platforms": ["macos"], "teams": ["A", "A"]}),
                "teams[1]",
            ),
            (
                json!({"platforms": ["macos"], "exceptions": [{"host": "x y", "reason": "because", "expires": "2027-01-01T00:00:00Z"}]}),
                "exceptions[0].host",
            ),
            (
                json!({"platforms": ["macos"], "exceptions": [{"host": "x", "reason": "because", "expires": "next year"}]}),
                "exceptions[0].expires",
            ),
        ] {
            let e = firewall_target(&block(v)).expect_err("refused");
            assert!(e.0.starts_with(field), "{field}: {e:?}");
        }
    }

    #[test]
    fn only_perimeters_policies_are_read_and_a_changed_query_is_drift() {
        let t = firewall_target(&block(json!({"platforms": ["macos", "linux"]}))).expect("target");
        let answer = json!({"policies": [
            {"id": 1, "name": "Gatekeeper enabled", "query": "SELECT 1 FROM gatekeeper;", "platform": "darwin",
             "passing_host_count": 5, "failing_host_count": 0},
            {"id": 7, "name": "Perimeter: macOS host firewall", "query": "SELECT 1;", "platform": "darwin",
             "passing_host_count": 3, "failing_host_count": 2}
        ]});
        let listed = policies(&answer).expect("policies");
        let place = Place { team: None };
        let mut observed = State::default();
        observed.push(observed_policies(&place, &listed));
        let d = diff(&t.desired, &observed, Undeclared::Remove);
        let paths: Vec<&str> = d.drift.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "policies[Perimeter: macOS host firewall].query",
                "policies[Perimeter: Linux host firewall]"
            ]
        );
        // Gatekeeper is not Perimeter's: never unmanaged, never deleted.
        assert!(
            d.unmanaged.is_empty() && d.plan.iter().all(|c| !c.describe().contains("Gatekeeper"))
        );
        let ratio = pass_ratio(&place, &listed[1]);
        assert_eq!(ratio.message, "3/5 hosts passing");
        assert_eq!(parse_pass_ratio(&ratio.message), Some((3, 5)));
        assert!(policies(&json!({"policies": "x"})).is_err());
        assert!(policies(&json!({"policies": [{"id": "1", "name": "n", "query": "q"}]})).is_err());
        assert_eq!(policies(&json!({"policies": null})).expect("empty"), vec![]);
    }

    #[test]
    fn failing_hosts_are_drift_unless_excepted_until_later() {
        let place = Place {
            team: Some("Laptops".into()),
        };
        let exceptions = vec![
            Exception {
                host: "C02KIOSK".into(),
                reason: "kiosk, isolated VLAN".into(),
                expires: "2027-01-01T00:00:00Z".parse().expect("time"),
            },
            Exception {
                host: "old-mac".into(),
                reason: "was being replaced".into(),
                expires: "2026-11-01T00:00:00Z".parse().expect("time"),
            },
        ];
        let failing = vec![(
            "Perimeter: macOS host firewall".to_string(),
            vec![
                host(1, "kiosk-1", "C02KIOSK", "2026-12-01T10:00:00Z"),
                host(2, "old-mac", "", "2026-11-30T10:00:00Z"),
                host(3, "dev-mac", "", "2026-12-01T11:00:00Z"),
            ],
        )];
        let (section, findings) = failing_hosts(&place, &failing, &exceptions, now());
        let keys: Vec<&str> = section.items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            ["old-mac", "dev-mac"],
            "the expired exception covers nothing"
        );
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, HOST_EXCEPTED);
        assert!(findings[0].message.contains("kiosk, isolated VLAN"));
        let t = firewall_target(&block(
            json!({"platforms": ["macos"], "teams": ["Laptops"]}),
        ))
        .expect("t");
        let observed = State {
            sections: vec![section],
        };
        let d = diff(&t.desired, &observed, Undeclared::Report);
        let hosts: Vec<(&str, DriftKind)> = d
            .drift
            .iter()
            .filter(|x| x.path.starts_with("failingHosts"))
            .map(|x| (x.path.as_str(), x.kind))
            .collect();
        assert_eq!(
            hosts,
            [
                ("failingHosts@Laptops[old-mac]", DriftKind::Unexpected),
                ("failingHosts@Laptops[dev-mac]", DriftKind::Unexpected)
            ]
        );
        assert!(
            d.drift[1]
                .observed
                .as_deref()
                .is_some_and(|o| o.contains("lastSeen"))
        );
    }

    #[test]
    fn stale_hosts_are_findings() {
        let place = Place { team: None };
        let hosts = vec![
            host(1, "fresh", "", "2026-11-30T12:00:00Z"),
            host(2, "gone", "", "2026-11-01T12:00:00Z"),
            host(3, "never", "", ""),
        ];
        let f = stale_hosts(&place, &hosts, 7, now());
        let subjects: Vec<&str> = f.iter().map(|x| x.subject.as_str()).collect();
        assert_eq!(subjects, ["hosts[gone]", "hosts[never]"]);
        assert_eq!(
            observed_stale(&place, 2, 0).items[0].fields["value"],
            json!("2")
        );
        assert_eq!(
            observed_stale(&place, 0, 0).items[0].fields["value"],
            json!("at most 0")
        );
    }

    #[test]
    fn host_answers_are_checked() {
        let ok = json!({"hosts": [{"id": 4, "hostname": "mbp", "display_name": "Ana's MacBook",
            "hardware_serial": "C02X", "platform": "darwin", "seen_time": "2026-12-01T10:00:00Z"}]});
        let h = hosts(&ok).expect("hosts");
        assert_eq!(
            (h[0].name.as_str(), h[0].hostname.as_str()),
            ("Ana's MacBook", "mbp")
        );
        assert!(h[0].seen.is_some());
        assert!(hosts(&json!({"hosts": [{"id": 4}]})).is_err());
        assert!(hosts(&json!({"hosts": {}})).is_err());
        assert!(hosts(&json!({})).is_err());
    }

    /// What DE.CM-1 reads back from a policy's status (its drift entries and findings as
    /// status writes them): the summed ratio, the failing hosts with platform and last seen,
    /// and the excepted ones with their expiry.
    #[test]
    fn endpoint_hosts_read_back_from_status() {
        let place = Place {
            team: Some("Laptops".into()),
        };
        let exceptions = vec![Exception {
            host: "C02KIOSK".into(),
            reason: "kiosk, isolated VLAN".into(),
            expires: "2027-01-01T00:00:00Z".parse().expect("time"),
        }];
        let failing = vec![(
            "Perimeter: macOS host firewall".to_string(),
            vec![
                host(1, "kiosk-1", "C02KIOSK", "2026-12-01T10:00:00Z"),
                host(3, "dev-mac", "", "2026-12-01T11:00:00Z"),
            ],
        )];
        let (section, mut findings) = failing_hosts(&place, &failing, &exceptions, now());
        let t = firewall_target(&block(
            json!({"platforms": ["macos"], "teams": ["Laptops"]}),
        ))
        .expect("t");
        let d = diff(
            &t.desired,
            &State {
                sections: vec![section],
            },
            Undeclared::Report,
        );
        let policy = |passing, failing| Policy {
            id: 1,
            name: "Perimeter: macOS host firewall".into(),
            query: String::new(),
            platform: "darwin".into(),
            passing,
            failing,
            raw: Value::Null,
        };
        findings.push(pass_ratio(&place, &policy(198, 2)));
        findings.push(pass_ratio(&Place { team: None }, &policy(50, 0)));
        let entries: Vec<crate::api::FindingEntry> = findings
            .iter()
            .map(|f| crate::api::FindingEntry {
                code: f.code.into(),
                subject: f.subject.clone(),
                message: f.message.clone(),
            })
            .collect();
        let got = endpoint_hosts(&crate::status::drift_entries(&d, None), &entries);
        assert_eq!((got.passing, got.total), (248, 250));
        assert_eq!(
            got.failing,
            [
                FailingHost {
                    host: "dev-mac".into(),
                    platform: "darwin".into(),
                    last_seen: "2026-12-01T11:00:00Z".into(),
                    excepted_until: None,
                },
                FailingHost {
                    host: "kiosk-1".into(),
                    platform: "darwin".into(),
                    last_seen: "2026-12-01T10:00:00Z".into(),
                    excepted_until: Some("2027-01-01T00:00:00Z".into()),
                },
            ]
        );
        // Nothing that is not a failing host is read as one.
        let none = endpoint_hosts(&[], &[]);
        assert_eq!(none, EndpointHosts::default());
    }
}
