//! The Fleet client against its emulator: Observe (managed policies, failing hosts paged,
//! exceptions, stale hosts, pass ratio), Enforce (missing policy created, query put back,
//! nothing else written), and faults leaving no observation and no credential in errors.

use std::time::Duration;

use perimeter::SecretString;
use perimeter::core::{Undeclared, diff};
use perimeter::error::Category;
use perimeter::http::HttpSettings;
use perimeter::providers::fleet::Fleet;
use perimeter::providers::fleet::api::FleetFirewall;
use perimeter::providers::fleet::model::{self, firewall_target};
use perimeter::providers::fleet::queries;
use perimeter::providers::{Provider, Target};
use perimeter_emulators::faults::{Fault, FaultRule};
use perimeter_emulators::fleet::{FleetEmulator, Host, Policy, Seed, Team};
use perimeter_emulators::server::RunningEmulator;

const TOKEN: &str = "fleetTOKENx0123456789abcdefABCDEF==";

fn mac(id: u64, name: &str, failing: bool, seen_minutes_ago: u64) -> Host {
    Host {
        id,
        hostname: name.into(),
        display_name: String::new(),
        hardware_serial: format!("C02{id:05}"),
        platform: "darwin".into(),
        team_id: Some(2),
        seen_minutes_ago,
        failing: if failing {
            vec!["Perimeter: macOS host firewall".into()]
        } else {
            Vec::new()
        },
    }
}

/// 250 Macs of team Laptops (3 failing, one of them excepted), the managed macOS policy with a
/// query someone edited, and an unmanaged policy of the same team.
fn seed() -> Seed {
    let mut hosts: Vec<Host> = (1..=250)
        .map(|i| mac(i, &format!("mac-{i:03}"), false, 5))
        .collect();
    hosts[9] = mac(10, "kiosk-1", true, 5);
    hosts[149] = mac(150, "dev-mac", true, 5);
    hosts[249] = mac(250, "old-mac", true, 60 * 24 * 30);
    Seed {
        tokens: vec![TOKEN.into()],
        teams: vec![
            Team {
                id: 1,
                name: "Servers".into(),
            },
            Team {
                id: 2,
                name: "Laptops".into(),
            },
        ],
        policies: vec![
            Policy {
                id: 7,
                team_id: Some(2),
                name: "Perimeter: macOS host firewall".into(),
                query: "SELECT 1;".into(),
                platform: "darwin".into(),
                description: String::new(),
                resolution: String::new(),
            },
            Policy {
                id: 8,
                team_id: Some(2),
                name: "Gatekeeper enabled".into(),
                query: "SELECT 1 FROM gatekeeper WHERE assessments_enabled = 1;".into(),
                platform: "darwin".into(),
                description: String::new(),
                resolution: String::new(),
            },
        ],
        hosts,
    }
}

fn block() -> FleetFirewall {
    serde_json::from_value(serde_json::json!({
        "platforms": ["macos", "linux"],
        "teams": ["Laptops"],
        "exceptions": [
            {"host": "C0200010", "reason": "kiosk on an isolated VLAN", "expires": "2099-01-01T00:00:00Z"},
            {"host": "dev-mac", "reason": "was being reinstalled", "expires": "2020-01-01T00:00:00Z"}
        ],
        "staleAfterDays": 7
    }))
    .expect("block")
}

async fn start(seed: Seed) -> (FleetEmulator, RunningEmulator, Fleet) {
    let emu = FleetEmulator::new(seed);
    let running = emu.start("127.0.0.1:0").await.expect("emulator");
    let mut settings = HttpSettings::new("fleet", running.base_url());
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    settings.backoff = Duration::from_millis(5);
    settings.timeout = Duration::from_millis(500);
    settings.max_retries = 1;
    let client = Fleet::with_settings(settings, SecretString::new(TOKEN), None).expect("client");
    (emu, running, client)
}

fn target() -> Target {
    firewall_target(&block()).expect("target")
}

#[tokio::test]
async fn observe_reads_failing_hosts_paged_with_exceptions_and_stale_hosts() {
    let (emu, _running, client) = start(seed()).await;
    assert!(client.verify().await.expect("verify").contains("accepted"));
    let t = target();
    let obs = client.observe(&t).await.expect("observe");
    let d = diff(&t.desired, &obs.state, Undeclared::Report);
    let paths: Vec<&str> = d.drift.iter().map(|x| x.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "policies@Laptops[Perimeter: macOS host firewall].query",
            "policies@Laptops[Perimeter: Linux host firewall]",
            "failingHosts@Laptops[dev-mac]",
            "failingHosts@Laptops[old-mac]",
        ],
        "the excepted kiosk is not drift; the expired exception covers nothing"
    );
    let codes = |code: &str| -> Vec<String> {
        obs.findings
            .iter()
            .filter(|f| f.code == code)
            .map(|f| format!("{}: {}", f.subject, f.message))
            .collect()
    };
    assert_eq!(codes(model::HOST_EXCEPTED).len(), 1);
    assert!(codes(model::HOST_EXCEPTED)[0].contains("kiosk-1"));
    assert_eq!(codes(model::HOST_NOT_SEEN).len(), 1);
    assert!(codes(model::HOST_NOT_SEEN)[0].contains("old-mac"));
    assert_eq!(
        codes(model::PASS_RATIO),
        ["policies@Laptops[Perimeter: macOS host firewall]: 247/250 hosts passing"]
    );
    assert!(!codes("ManualChangeNeeded").is_empty());
    // 250 hosts at 100 a page: three pages of the whole team, one of the failing hosts.
    assert_eq!(emu.log().count("GET", "/api/v1/fleet/hosts"), 4);
    assert!(emu.log().writes().is_empty(), "Observe writes nothing");
}

#[tokio::test]
async fn enforce_creates_the_missing_policy_and_puts_the_query_back_only() {
    let (emu, _running, client) = start(seed()).await;
    let t = target();
    let obs = client.observe(&t).await.expect("observe");
    let d = diff(&t.desired, &obs.state, Undeclared::Remove);
    let applied = client.apply(&t, &obs, &d.plan).await.expect("apply");
    assert_eq!(
        applied,
        [
            "update policies@Laptops[Perimeter: macOS host firewall] (query)",
            "create policies@Laptops[Perimeter: Linux host firewall]",
        ]
    );
    let after = emu.snapshot();
    let mac = after.policies.iter().find(|p| p.id == 7).expect("kept");
    assert_eq!(mac.query, queries::MACOS);
    let linux = after
        .policies
        .iter()
        .find(|p| p.name == "Perimeter: Linux host firewall")
        .expect("created");
    assert_eq!((linux.team_id, linux.platform.as_str()), (Some(2), "linux"));
    assert_eq!(linux.query, queries::LINUX);
    assert!(
        after
            .policies
            .iter()
            .any(|p| p.name == "Gatekeeper enabled"),
        "never deleted"
    );
    // Failing hosts stay drift: Fleet checks, it does not switch firewalls on.
    let again = client.observe(&t).await.expect("observe");
    let d = diff(&t.desired, &again.state, Undeclared::Remove);
    let paths: Vec<&str> = d.drift.iter().map(|x| x.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "failingHosts@Laptops[dev-mac]",
            "failingHosts@Laptops[old-mac]"
        ]
    );
    assert!(d.plan.is_empty());
}

#[tokio::test]
async fn faults_are_errors_never_an_observation_and_never_quote_the_token() {
    let cases = [
        (Fault::ServerError { status: 503 }, Category::ProviderError),
        (Fault::Malformed, Category::BadResponse),
        (Fault::WrongShape, Category::BadResponse),
        (Fault::Hang { millis: 2_000 }, Category::Timeout),
        (
            Fault::RateLimited {
                retry_after_secs: 3_600,
            },
            Category::Throttled,
        ),
    ];
    for (fault, want) in cases {
        for path in ["/api/v1/fleet/teams", "/policies", "/api/v1/fleet/hosts"] {
            let (emu, _running, client) = start(seed()).await;
            emu.faults().inject(FaultRule::new(path, fault.clone()));
            let e = client.observe(&target()).await.expect_err("no observation");
            assert_eq!(e.category, want, "{fault:?} on {path}: {e}");
            assert!(!e.to_string().contains(TOKEN), "{e}");
        }
        // Enforce: a refused write applies nothing and says so.
        let (emu, _running, client) = start(seed()).await;
        let t = target();
        let obs = client.observe(&t).await.expect("observe");
        let d = diff(&t.desired, &obs.state, Undeclared::Report);
        emu.faults()
            .inject(FaultRule::new("/policies", fault.clone()).method("PATCH"));
        let e = client.apply(&t, &obs, &d.plan).await.expect_err("refused");
        assert!(e.applied.is_empty(), "{fault:?}: {:?}", e.applied);
        assert!(!e.to_string().contains(TOKEN));
    }
    // A token the server does not know.
    let (_emu, running, _) = start(seed()).await;
    let other = Fleet::with_settings(
        HttpSettings::new("fleet", running.base_url()),
        SecretString::new("unknownToken123"),
        None,
    )
    .expect("client");
    let e = other.observe(&target()).await.expect_err("refused");
    assert_eq!(e.category, Category::CredentialsRejected);
    assert!(!e.to_string().contains("unknownToken123"));
    // A missing team is named.
    let mut no_team = seed();
    no_team.teams.retain(|t| t.name != "Laptops");
    let (_emu, _running, client) = start(no_team).await;
    let e = client.observe(&target()).await.expect_err("no team");
    assert_eq!(e.category, Category::InvalidSpec);
    assert!(
        e.message.contains("teams[0]") && e.message.contains("Laptops"),
        "{e}"
    );
}
