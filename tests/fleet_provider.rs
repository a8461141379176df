//! The Fleet client against its emulator: Observe (managed policies, failing hosts paged,
//! exceptions, stale hosts, pass ratio), Enforce (missing policy created, query put back,
//! nothing else written), and faults leaving no observation and no credential in errors.

mod support;

use std::time::Duration;

use perimeter::SecretString;
use perimeter::api::{Mode, UnmanagedPolicy};
use perimeter::core::{Undeclared, diff};
use perimeter::error::Category;
use perimeter::http::HttpSettings;
use perimeter::providers::fleet::Fleet;
use perimeter::providers::fleet::api::FleetFirewall;
use perimeter::providers::fleet::model::{self, firewall_target};
use perimeter::providers::fleet::queries;
use perimeter::providers::{Provider, Target};
use perimeter::reconcile::sync;
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
        activities: Vec::new(),
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

/// The shared fault cells on every read (teams, policies, hosts), in both modes: unknown,
/// never in sync, nothing written, no token in the error.
#[tokio::test]
async fn read_faults_leave_the_state_unknown_never_in_sync() {
    for mode in support::cells::MODES {
        // The other reads (the main read's cells are in tests/fault_matrix.rs).
        for path in ["/api/v1/fleet/teams", "/api/v1/fleet/hosts"] {
            for (fault, category) in support::cells::persistent_faults() {
                let (emu, _running, client) = start(seed()).await;
                emu.faults()
                    .inject(FaultRule::new(path, fault.clone()).method("GET"));
                let out = sync(&client, &target(), mode, UnmanagedPolicy::Report).await;
                support::cells::assert_failed_read(
                    &out,
                    category,
                    emu.log().writes().len(),
                    TOKEN,
                    &format!("{mode:?}: {fault:?} on {path}"),
                );
            }
        }
    }
}

/// The shared fault cells on the first write (the macOS query put back): never in sync,
/// nothing counted as applied, and nothing half-written: the query is the edited one or (a
/// hang, which the emulator serves late) Perimeter's whole query, and the plan stopped there
/// (the Linux policy was not created).
#[tokio::test]
async fn write_faults_leave_nothing_half_written() {
    for (fault, category) in support::cells::persistent_faults() {
        let (emu, _running, client) = start(seed()).await;
        emu.faults()
            .inject(FaultRule::new("/policies/", fault.clone()).method("PATCH"));
        let out = sync(&client, &target(), Mode::Enforce, UnmanagedPolicy::Report).await;
        support::cells::assert_failed_write(&out, category, TOKEN, &format!("{fault:?}"));
        assert!(out.applied.is_empty(), "{fault:?}: {:?}", out.applied);
        let after = emu.snapshot();
        let mac = after.policies.iter().find(|p| p.id == 7).expect("kept");
        assert!(
            mac.query == "SELECT 1;"
                || (matches!(fault, Fault::Hang { .. }) && mac.query == queries::MACOS),
            "{fault:?}: {}",
            mac.query
        );
        assert!(
            !after
                .policies
                .iter()
                .any(|p| p.name == "Perimeter: Linux host firewall"),
            "{fault:?}: the plan stopped at the failed write"
        );
    }
}

#[tokio::test]
async fn a_bad_token_or_a_missing_team_is_an_error_naming_it() {
    // A token the server does not know.
    let (emu, running, _) = start(seed()).await;
    let other = Fleet::with_settings(
        HttpSettings::new("fleet", running.base_url()),
        SecretString::new("unknownToken123"),
        None,
    )
    .expect("client");
    for mode in support::cells::MODES {
        let out = sync(&other, &target(), mode, UnmanagedPolicy::Report).await;
        support::cells::assert_failed_read(
            &out,
            Category::CredentialsRejected,
            emu.log().writes().len(),
            "unknownToken123",
            &format!("{mode:?}: unknown token"),
        );
    }
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

/// The inventory: every host across pages (250 Macs in team Laptops, a Linux server in team
/// Servers, an iPhone no check can run on), each covered only by a block that checks its
/// platform in its team or globally; a failed list is an error, never fewer hosts.
#[tokio::test]
async fn inventory_lists_every_host_and_a_block_covers_its_platforms_in_its_teams() {
    use perimeter::providers::fleet::inventory::{LINUX_HOST, MACOS_HOST, covers};
    let mut seed = seed();
    let mut server = mac(251, "db-1", false, 5);
    server.platform = "ubuntu".into();
    server.team_id = Some(1);
    let mut phone = mac(252, "ceo-iphone", false, 5);
    phone.platform = "ios".into();
    seed.hosts.extend([server, phone]);
    let (emu, _running, client) = start(seed).await;
    let assets = client
        .inventory()
        .await
        .expect("read")
        .expect("Fleet lists its hosts");
    assert_eq!(assets.len(), 251, "250 Macs and the server; not the phone");
    let server = assets.iter().find(|a| a.id == "251").expect("server");
    assert_eq!(
        (server.kind, server.name.as_str(), server.parent.as_deref()),
        (LINUX_HOST, "db-1", Some("Servers"))
    );
    assert!(
        assets
            .iter()
            .filter(|a| a.id != "251")
            .all(|a| a.kind == MACOS_HOST && a.parent.as_deref() == Some("Laptops"))
    );
    let pages = emu
        .log()
        .entries()
        .iter()
        .filter(|e| e.path == "/api/v1/fleet/hosts")
        .count();
    assert_eq!(pages, 3, "100 hosts a page");

    // The test's block checks macOS and Linux in team Laptops: the Macs, not the server.
    let covered = |b: &FleetFirewall| assets.iter().filter(|a| covers(b, a)).count();
    assert_eq!(covered(&block()), 250);
    let global: FleetFirewall =
        serde_json::from_value(serde_json::json!({"platforms": ["linux"]})).expect("block");
    assert_eq!(covered(&global), 1);

    emu.faults().inject(
        FaultRule::new("/api/v1/fleet/hosts", Fault::ServerError { status: 500 }).method("GET"),
    );
    let e = client.inventory().await.expect_err("unreadable");
    assert_eq!(e.category, Category::ProviderError, "{e}");
    assert!(!e.to_string().contains(TOKEN));
}

/// Who changed a policy Perimeter keeps, from Fleet's activity feed: a person's edit in the UI
/// is theirs; Perimeter's own write (logged under its API user) is Perimeter's for the client
/// that sent it, and the API user's for a fresh one; failing hosts are never attributed; a
/// feed that cannot be read leaves the drift unattributed and the sync whole.
#[tokio::test]
async fn policy_drift_is_attributed_from_the_activity_feed() {
    use perimeter::core::attribution::attribute;
    const MACOS: &str = "policies@Laptops[Perimeter: macOS host firewall].query";
    let (emu, running, client) = start(seed()).await;
    emu.console_edit(
        ("Dana", "dana@example.com"),
        "Perimeter: macOS host firewall",
        Some(2),
        "SELECT 1 WHERE 1 = 1;",
    );
    let out = sync(&client, &target(), Mode::Observe, UnmanagedPolicy::Report).await;
    let by = out.attribution.as_ref().expect("drift is attributed");
    assert_eq!(
        by.get(MACOS).map(|a| a.by.as_str()),
        Some("dana@example.com")
    );
    assert!(
        by.by_path.keys().all(|p| !p.starts_with("failingHosts")),
        "{by:?}"
    );
    assert!(
        by.summary
            .contains("attributed from the Fleet activity feed"),
        "{}",
        by.summary
    );

    let out = sync(&client, &target(), Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(!out.applied.is_empty(), "{out:?}");
    let drift = [perimeter::core::Drift {
        path: MACOS.into(),
        kind: perimeter::core::DriftKind::Changed,
        desired: None,
        observed: None,
    }];
    let trail = client.audit_trail(&target(), &drift).await.expect("read");
    let own = attribute(&drift, &trail);
    let a = own.get(MACOS).expect("the write is in the feed");
    assert_eq!((a.by.as_str(), a.perimeter), ("Perimeter", true));
    let mut settings = HttpSettings::new("fleet", running.base_url());
    settings.backoff = Duration::from_millis(5);
    let fresh = Fleet::with_settings(settings, SecretString::new(TOKEN), None).expect("client");
    let trail = fresh.audit_trail(&target(), &drift).await.expect("read");
    assert_eq!(
        attribute(&drift, &trail).get(MACOS).map(|a| a.by.as_str()),
        Some("perimeter@example.com"),
        "another process's write is shown as the feed names it"
    );

    emu.console_edit(
        ("Dana", "dana@example.com"),
        "Perimeter: macOS host firewall",
        Some(2),
        "SELECT 1;",
    );
    emu.faults().inject(
        FaultRule::new(
            "/api/v1/fleet/activities",
            Fault::ServerError { status: 500 },
        )
        .method("GET"),
    );
    let out = sync(&client, &target(), Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let found = out.found.as_ref().expect("the state was read");
    assert!(found.drift.iter().any(|d| d.path == MACOS), "{found:?}");
    let by = out.attribution.expect("said why");
    assert!(by.by_path.is_empty(), "{by:?}");
    assert!(
        by.summary
            .starts_with("unattributed: the audit log could not be read"),
        "{}",
        by.summary
    );
    assert!(!by.summary.contains(TOKEN));
}
