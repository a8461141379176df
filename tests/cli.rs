//! The real `perimeter` binary as a user runs it: `check` exit codes and JSON, `demo` (with the
//! `demo` feature; without it, what the operator image's binary says instead), `crds`.

use std::path::{Path, PathBuf};
use std::process::Command;
#[cfg(feature = "demo")]
use std::{
    io::{Read, Write},
    net::TcpStream,
    process::Stdio,
    time::{Duration, Instant},
};

use perimeter_emulators::cloudflare::{CloudflareEmulator, Seed};

const BIN: &str = env!("CARGO_BIN_EXE_perimeter");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn demo_seed() -> Seed {
    let text = std::fs::read_to_string(root().join("examples/demo/cloudflare-account.yaml"))
        .expect("seed file");
    serde_json::from_value(perimeter::manifests::yaml_to_json(&text).expect("yaml")).expect("seed")
}

/// Runs `perimeter check` in a blocking thread (the emulator lives on this test's runtime).
async fn check(dir: &Path, endpoint: &str, token: &str, json: bool) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("check")
        .arg("--manifests")
        .arg(dir)
        .arg("--endpoint")
        .arg(format!("cloudflare-main={endpoint}"));
    if json {
        cmd.args(["--output", "json"]);
    }
    cmd.env("PERIMETER_SECRET_CLOUDFLARE_API_TOKEN", token);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run perimeter"))
        .await
        .expect("join");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn copy_examples(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in files {
        std::fs::copy(
            root().join("examples/cloudflare").join(f),
            dir.path().join(f),
        )
        .expect("copy example");
    }
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn check_exit_codes_follow_terraform_detailed_exitcode() {
    let emulator = CloudflareEmulator::new(demo_seed());
    // Who lowered TLS, in the account audit log.
    emulator.mutate(|seed| {
        seed.accounts[0]
            .audit_logs
            .push(perimeter_emulators::cloudflare::dashboard_change(
                "dana@example.com",
                "change_setting",
                ("zone", "023e105f4ecef8ad9ca31a8372d0c353"),
                serde_json::json!({"zone_name": "example.com", "name": "ssl"}),
                3600,
            ));
    });
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let endpoint = format!("{}/client/v4", running.base_url());
    let examples = root().join("examples/cloudflare");

    // Drift: the demo account differs from the examples.
    let (code, stdout, stderr) = check(&examples, &endpoint, "demo-token", false).await;
    assert_eq!(code, 2, "drift → 2\n{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "    assets: 1 of 3 covered by a FirewallPolicy; 2 zones have no FirewallPolicy: \
             zone status.example.com (7c5dae5552338874e5053f2534d2767a), zone promo.example.com \
             (5d41402abc4b2a76b9719d911017c592)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "wafCustomRules[block-admin-from-outside].action [Changed]: desired block, observed log"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "~ settings[ssl] [Changed]: desired strict, observed full — changed by dana@example.com via UI at "
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "    attribution: 1 of 4 drifted field(s) attributed from the Cloudflare account audit log (last 7 days)"
        ),
        "{stdout}"
    );
    assert!(
        emulator.log().writes().is_empty(),
        "check never writes, even for Enforce policies"
    );

    // JSON for machines: every policy with its drift, every provider with whether it was read.
    let (code, stdout, _) = check(&examples, &endpoint, "demo-token", true).await;
    assert_eq!(code, 2);
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json output");
    assert_eq!(report["providers"][0]["readable"], true);
    // The account's zones, and which no FirewallPolicy of the folder covers.
    let inventory = &report["providers"][0]["inventory"];
    assert_eq!(
        (&inventory["total"], &inventory["covered"]),
        (&serde_json::json!(3), &serde_json::json!(1)),
        "{inventory}"
    );
    assert_eq!(
        inventory["uncovered"][1]["id"], "5d41402abc4b2a76b9719d911017c592",
        "{inventory}"
    );
    let policies = report["policies"].as_array().expect("policies");
    assert_eq!(policies.len(), 3);
    let edge = policies
        .iter()
        .find(|p| p["name"] == "edge-firewall")
        .expect("edge policy");
    let ssl = edge["drift"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["field"] == "settings[ssl]")
        .expect("ssl drifted");
    assert_eq!(ssl["changedBy"], "dana@example.com via UI", "{ssl}");
    assert!(ssl["changedAt"].is_string(), "{ssl}");
    assert!(
        edge["attribution"]
            .as_str()
            .is_some_and(|a| a.starts_with("1 of 4 drifted field(s) attributed")),
        "{edge}"
    );
    let access = policies
        .iter()
        .find(|p| p["name"] == "edge-access-rules")
        .expect("access policy");
    assert_eq!(access["state"], "Drifted");
    assert_eq!(access["drift"].as_array().map(Vec::len), Some(2));
    assert!(
        access["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x["code"] == "UnmanagedRule"))
    );

    // Wrong credential → 1, the token never printed.
    let (code, stdout, stderr) = check(&examples, &endpoint, "not-the-token-9876", false).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("UNREADABLE (CredentialsRejected)"),
        "{stdout}"
    );
    assert!(!stdout.contains("not-the-token-9876") && !stderr.contains("not-the-token-9876"));

    // Unreachable provider → 1.
    let (code, stdout, _) = check(
        &examples,
        "http://127.0.0.1:9/client/v4",
        "demo-token",
        false,
    )
    .await;
    assert_eq!(code, 1, "{stdout}");

    // In sync → 0: enforce the edge policy through the library, then check it alone.
    let only_edge = copy_examples(&["provider.yaml", "firewall-edge.yaml"]);
    let manifests = perimeter::manifests::Manifests::load_dir(only_edge.path()).expect("manifests");
    let mut creds = perimeter::local::CredentialSource::default();
    creds.insert("cloudflare-api", "token", "demo-token");
    let options = perimeter::local::Options {
        force_observe: false,
        endpoints: [("cloudflare-main".to_string(), endpoint.clone())].into(),
        ..Default::default()
    };
    let enforced = perimeter::local::Runner::new(manifests, &creds, options, None)
        .await
        .run_once()
        .await;
    assert_eq!(enforced.exit_code(), 0, "{enforced:?}");
    let (code, stdout, _) = check(only_edge.path(), &endpoint, "demo-token", false).await;
    assert_eq!(code, 0, "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_rejects_an_invalid_manifest_with_a_clear_error() {
    let dir = copy_examples(&["provider.yaml"]);
    std::fs::write(
        dir.path().join("bad.yaml"),
        "apiVersion: perimeter.dev/v1alpha1\nkind: FirewallPolicy\nmetadata: {name: bad, namespace: perimeter}\nspec:\n  providerRef: {name: cloudflare-main}\n  cloudflare:\n    zoneId: 023e105f4ecef8ad9ca31a8372d0c353\n    rateLimitRules:\n      - {ref: a, expression: x, action: block, characteristics: [ip.src], period: 60, requestsPerPeriod: 1, mitigationTimeout: 60}\n",
    )
    .expect("write");
    let (code, stdout, stderr) =
        check(dir.path(), "http://127.0.0.1:9/client/v4", "t", false).await;
    assert_eq!(code, 1);
    assert!(
        stderr.contains("characteristics must include cf.colo.id"),
        "{stdout}{stderr}"
    );
}

#[test]
fn crds_command_prints_what_crds_holds() {
    let out = Command::new(BIN).arg("crds").output().expect("run");
    assert!(out.status.success());
    let committed = std::fs::read_to_string(root().join("crds/perimeter.yaml")).expect("crds file");
    assert_eq!(String::from_utf8_lossy(&out.stdout), committed);
}

/// What `strings` on the binary finds: never a private key (a PEM header, or a line of one of
/// the test keys), with or without `demo`, since the demo makes its key at run time; the
/// emulators and the demo's accounts exactly when built with `demo`. That the demo build shows
/// them proves the patterns find what they look for. (scripts/check-image-binary runs the same
/// check on the binary built as the Dockerfile builds it.)
#[test]
fn the_binary_carries_no_private_key_and_the_emulators_only_with_demo() {
    let mut key_lines = Vec::new();
    for entry in std::fs::read_dir(root().join("tests/fixtures/gcp")).expect("fixtures") {
        let path = entry.expect("fixture").path();
        if path.to_string_lossy().ends_with(".key.pem") {
            let text = std::fs::read_to_string(&path).expect("key");
            key_lines.extend(
                text.lines()
                    .filter(|l| l.len() >= 40 && !l.starts_with("-----"))
                    .map(regex::escape),
            );
        }
    }
    assert!(key_lines.len() > 40, "the test keys were read");
    let markers = [
        "perimeter_emulators",
        "emulators/src/",
        "9perimeter4demo",
        "examples/demo/",
        "AKIAPERIMETERDEMO",
    ];
    // One pass over the binary (a few hundred MB unoptimised): the key patterns, the symbol
    // table's presence (else the absence of the markers would prove nothing), the markers.
    let key_pem = "BEGIN [A-Z0-9 ]*PRIVATE KEY".to_string();
    let patterns = [key_pem, key_lines.join("|"), "9perimeter5local".into()]
        .into_iter()
        .chain(markers.map(String::from));
    let set = regex::bytes::RegexSet::new(patterns).expect("patterns");
    let found = set.matches(&std::fs::read(BIN).expect("read the binary"));
    assert!(!found.matched(0), "a PEM private key is in the binary");
    assert!(!found.matched(1), "a test key is in the binary");
    assert!(found.matched(2), "the binary has no symbol table");
    for (i, marker) in markers.iter().enumerate() {
        assert_eq!(found.matched(3 + i), cfg!(feature = "demo"), "{marker}");
    }
}

/// `--max-concurrent-reconciles` (or its variable) of 0 is refused before anything starts,
/// saying why; a bad number says what is accepted.
#[test]
fn operator_refuses_a_concurrency_bound_of_zero() {
    let runs = [
        (
            vec!["operator", "--max-concurrent-reconciles", "0"],
            None,
            "at least 1",
        ),
        (vec!["operator"], Some("0"), "at least 1"),
        (
            vec!["operator", "--max-concurrent-reconciles", "lots"],
            None,
            "1 to 65535",
        ),
    ];
    for (args, var, says) in runs {
        let mut cmd = Command::new(BIN);
        cmd.args(&args)
            .env("KUBECONFIG", "/nonexistent")
            .env_remove("PERIMETER_MAX_CONCURRENT_RECONCILES");
        if let Some(v) = var {
            cmd.env("PERIMETER_MAX_CONCURRENT_RECONCILES", v);
        }
        let out = cmd.output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {var:?}: {stderr}");
        assert!(
            stderr.contains("--max-concurrent-reconciles") && stderr.contains(says),
            "{args:?} {var:?}: {stderr}"
        );
    }
}

/// The operator image's binary (built without `demo`) still has its help, and `demo` says why
/// it is missing rather than running or failing obscurely.
#[cfg(not(feature = "demo"))]
#[test]
fn without_the_demo_feature_demo_says_so_and_help_works() {
    let help = Command::new(BIN).arg("--help").output().expect("run");
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("operator") && !help.contains("demo"),
        "{help}"
    );
    let out = Command::new(BIN)
        .args(["demo", "--once"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("built without the demo feature"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(feature = "demo")]
#[test]
fn demo_once_shows_found_enforced_and_observed_drift() {
    let dir = tempfile::tempdir().expect("tempdir");
    let evidence = dir.path().join("evidence.json");
    let out = Command::new(BIN)
        .args([
            "demo",
            "--once",
            "--metrics-addr",
            "127.0.0.1:0",
            "--evidence",
        ])
        .arg(&evidence)
        .output()
        .expect("run demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("drift found"), "{stdout}");
    assert!(
        stdout.contains("✔ update wafCustomRules[block-admin-from-outside] (action)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(Observe mode: reported, not changed)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "Summary: 74 drifted field(s) found, 51 change(s) enforced, 14 left in Observe mode."
        ),
        "{stdout}"
    );
    // The dashboard edits behind the seeded drift, attributed to whoever made them; what
    // nobody changed (TLS 1.0 is the default; the office range was never added) stays
    // unattributed, and Perimeter's own writes are never anybody's edit.
    for line in [
        "~ settings[ssl] [Changed]: desired strict, observed full — changed by dana@example.com via UI at ",
        "observed log — changed by oncall-sre@example.com via UI (last change to wafCustomRules) at ",
        "attribution: 3 of 4 drifted field(s) attributed from the Cloudflare account audit log (last 7 days)",
        "~ settings[min_tls_version] [Changed]: desired 1.2, observed 1.0\n",
        "~ ipAccessRules[ip_range:198.51.100.0/24] [Missing]: desired {\"mode\":\"whitelist\",\"notes\":\"office egress\"}, observed (absent)\n",
        "  - settings[ssl] changed by dana@example.com via UI at ",
        "observed [\"0.0.0.0/0\",\"198.51.100.7/32\"] — changed by dev@example.com via CONSOLE at ",
        "attribution: 1 of 2 drifted field(s) attributed from the Upstash audit log (last 7 days)",
        "~ managedRules[owasp].active [Changed]: desired true, observed false — changed by lee at ",
        "~ configuration[deleteProtection] [Changed]: desired true, observed false — changed by mallory via web at ",
        // GCP: the Cloud Console edits behind the seeded drift, from the Admin Activity log.
        "~ firewallRules[default-allow-ssh].sourceRanges [Changed]: desired [\"35.235.240.0/20\"], observed [\"0.0.0.0/0\"] — changed by sam@acme.example via console at ",
        "~ cloudArmorPolicies[web-edge/1000].srcIpRanges [Changed]: desired [\"198.51.100.0/24\",\"203.0.113.0/24\"], observed [\"198.51.100.0/24\"] — changed by sam@acme.example via console at ",
        "~ uptimeChecks[www.example.com].path [Changed]: desired /healthz, observed / — changed by dana@acme.example via console at ",
        "attribution: 7 of 9 drifted field(s) attributed from the GCP Admin Activity audit log (last 7 days)",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    // A rule nobody ever made has no one to blame.
    let never_made = stdout
        .lines()
        .find(|l| l.contains("~ firewallRules[deny-egress-smtp] [Missing]"))
        .unwrap_or_default();
    assert!(
        never_made.ends_with("observed (absent)"),
        "{never_made}\n{stdout}"
    );
    assert!(
        !stdout.contains("platform-automation@example.com"),
        "Perimeter's writes are its own: {stdout}"
    );
    // GCP's service-account key signs its own JWT bearer (google-cloud-auth): no token POST.
    // The inventories add 6 reads (one list per provider); the Cloudflare audit log 9 (per
    // drifted zone policy, the zone's name and the log, and the zone's entry points where a
    // ruleset drifted); Fleet 19, its hosts' inventory 3 and its activity feed 1; AWS's network
    // ACLs 1; the GCP Admin Activity log 2 (one `entries:list` per drifted policy, a read by
    // POST); CloudTrail 12 (LookupEvents 11, by event name: the drifted security groups' changes
    // from listings the pass's AWS policies share, as in the operator, and the other drifted
    // sections' event names; and the web group's id by its VPC and name, 1; looked up by the
    // groups' ids instead, it was 11 in all); Better Stack's monitor list for the
    // public hostnames 1. Slack asks who its token is once per client, not at every read;
    // Supabase's bans, Qdrant's API keys and Turso's and Upstash's audit logs are read at every
    // sync only where a policy declares them (else the audit log only for drift), and GCP's
    // token exchange and operation polls are reads (`READS_BY_POST`), not writes.
    // Identical reads of one account share one answer (`src/http/share.rs`): the demo keeps
    // answers for its interval, as the operator does for `--share-reads-for`, so the count
    // does not depend on which reads overlap (with sharing in flight only, 256 and 269 were
    // both seen). 27 reads repeat within the pass (e.g. a project or account read by each of
    // its policies). Writes never share: a write ends the sharing of its account.
    assert!(
        stdout.contains("Provider calls: 230 (46 writes)"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("demo-token") && !stdout.contains("perimeter-demo-secret"),
        "no credential in the output"
    );
    // Address sets: Better Stack's probes feed the status zone's allowlist, the compute
    // provider's egress addresses the orders database's.
    for line in [
        "AddressSet perimeter/betterstack-probes (betterstack): 7 address(es)",
        "AddressSet perimeter/compute-egress (declared): 3 address(es)",
        "✔ create ipAccessRules[ip6:2600:3c00::f03c:93ff:fe49:8f06]",
        "~ configuration[allowedIps] [Changed]: desired [\"192.0.2.10/32\",\"192.0.2.11/32\",\"192.0.2.12/32\",\"198.51.100.0/24\",\"203.0.113.16/28\"], observed [\"0.0.0.0/0\"]",
    ] {
        assert!(stdout.contains(line), "missing {line:?}\n{stdout}");
    }
    // The DE.CM-1 assessment with coverage, gaps and the evidence written.
    for line in [
        "# DE.CM-1 network monitoring — de-cm-1",
        "| perimeter/cloudflare-main | cloudflare | ⚠️ Drifted | ✅ Verified | ✅ Verified |",
        "| perimeter/gcp-prod | gcp | ✅ Verified | ✅ Verified | 🔕 Unreachable |",
        // AWS's policies are in sync, but its staging VPC (and two security groups) have no
        // FirewallPolicy; one Cloudflare zone has none either.
        "| perimeter/aws-prod | aws | 🕳️ Assets uncovered | ✅ Verified | ❓ Not verified |",
        "| perimeter/cloudflare-main | 2 of 3 | zone promo.example.com (5d41402abc4b2a76b9719d911017c592) |",
        "| perimeter/aws-prod | 2 of 5 | vpc vpc-0c9d8e7f6a5b40312 (eu-west-1), securityGroup db (sg-0123456789abcdef0, eu-west-1), securityGroup default (sg-0aa11bb22cc33dd44, eu-west-1) |",
        "- **BoundaryFirewall** (Gap) — cloudflare perimeter/cloudflare-main: 1 zone has no FirewallPolicy: zone promo.example.com (5d41402abc4b2a76b9719d911017c592): declare a FirewallPolicy for each",
        "- **BoundaryFirewall** (Gap) — aws perimeter/aws-prod: 3 assets have no FirewallPolicy: vpc vpc-0c9d8e7f6a5b40312 (eu-west-1),",
        "| perimeter/turso-main | turso | ⚠️ Drifted | ✅ Verified | ➖ Not applicable |",
        // Every provider with an inventory has a row; Turso's scratch database, which nobody
        // declared, is uncovered (its drifted firewall stays drifted, the asset is a gap).
        "| perimeter/gcp-prod | 1 of 1 |  |",
        "| perimeter/vercel-main | 1 of 1 |  |",
        "| perimeter/supabase-main | 2 of 2 |  |",
        "| perimeter/qdrant-main | 2 of 2 |  |",
        "| perimeter/upstash-main | 2 of 2 |  |",
        "| perimeter/turso-main | 2 of 3 | database scratch |",
        "- **BoundaryFirewall** (Gap) — turso perimeter/turso-main: 1 database has no FirewallPolicy: database scratch: declare a FirewallPolicy for each",
        "| perimeter/upstash-main | upstash | ⚠️ Drifted | ⚠️ Drifted | ➖ Not applicable |",
        // Every public hostname of the other accounts has an active Better Stack monitor but
        // the promo zone's: its verified monitoring leaves that one uncovered.
        "| perimeter/betterstack-main | betterstack | ➖ Not applicable | 🕳️ Assets uncovered | ✅ Verified |",
        "| perimeter/betterstack-main | 12 of 13 | hostname promo.example.com (cloudflare perimeter/cloudflare-main) |",
        "- **NetworkMonitoring** (Gap) — betterstack perimeter/betterstack-main: 1 public hostname has no Better Stack monitor: hostname promo.example.com (cloudflare perimeter/cloudflare-main): declare an uptime monitor for each",
        "| perimeter/slack-main | slack | ➖ Not applicable | ⚠️ Drifted | ➖ Not applicable |",
        // Trigger.dev: monitoring read through its API (failed runs, an unresolved group), its
        // network controls attested, its alert channels' attestation expired: a gap saying so.
        "| perimeter/triggerdev-prod | triggerdev | 📝 Attested (not verified) | ⚠️ Drifted | ❌ Missing | attested: firewall; drifted: monitoring; missing: alerting |",
        "- **AlertRouting** (Gap) — triggerdev perimeter/triggerdev-prod: The ProviderAlerting attestation by platform-lead@example.com expired on 2026-10-31T00:00:00Z; triggerdev's alert channels cannot be read by any API",
        "- Attestation ProviderFirewall — triggerdev perimeter/triggerdev-prod via attestation: Valid",
        "- Attestation ProviderAlerting — triggerdev perimeter/triggerdev-prod via attestation: Expired",
        // Modal has no API: nothing is emulated or called, and its three parts are attested.
        "Modal: no public management API, nothing to emulate or call (covered by attestations)",
        "| perimeter/modal-inference | modal | 📝 Attested (not verified) | 📝 Attested (not verified) | 📝 Attested (not verified) | attested: firewall, monitoring, alerting |",
        "- Attestation ProviderMonitoring — modal perimeter/modal-inference via attestation: Valid",
        // Alert routing end to end: each route with the channel it reaches; the archived
        // channel GCP still alerts is a gap naming it.
        "| perimeter/cloudflare-main | notification policy 'ddos-l7-to-oncall' via Slack webhook 'ops-alerts' | #ops-alerts (C0ALERTS01) | ✅ live |",
        "| perimeter/betterstack-main | escalation policy 'On-call' step 1 | #ops-alerts (C0ALERTS01) | ✅ live |",
        // Perimeter's own alerts (the demo's Alertmanager receiver), checked by Slack's account.
        "| Perimeter (Alertmanager) | Alertmanager's Slack receiver for Perimeter's alerts | #ops-alerts (C0ALERTS01) | ✅ live |",
        "Perimeter's own alerts reach #ops-alerts (C0ALERTS01) (live)",
        "- **AlertRouting** (Gap) — gcp perimeter/gcp-prod: Slack #incidents (C0INCIDNT1): Alerts go where nobody reads them (alert policy 'Denied firewall connections spike' via channel 'incidents' → #incidents (C0INCIDNT1): archived)",
        "- **BoundaryFirewall** (Gap) — FirewallPolicy perimeter/edge-access-rules: 2 field(s) drifted",
        // Endpoint firewalls verified through Fleet (the attestation no longer counts): 248 of
        // 250 hosts pass; the kiosk fails under its exception, the finance laptop without one,
        // within the policy's minPassingPercent (99), so Verified, the laptop still listed.
        "| EndpointFirewall — Endpoint firewall protection covers hosts (verified by endpoint management, else attested) | Verified | 248/250 hosts passing the host-firewall check (1 failing without an exception, 1 excepted) on 1 of 1 endpoint server(s) read, within the minPassingPercent each policy declares; the EndpointFirewall attestation is not used",
        "| perimeter/fleet-corp | fleet | ➖ Not applicable | ✅ Verified | ➖ Not applicable |",
        "| perimeter/fleet-corp | fleet | ✅ Verified | 248/250 | 1 | 1 | 0 |",
        "| perimeter/fleet-corp | fin-laptop-07 | windows | ",
        "| perimeter/fleet-corp | kiosk-lobby | darwin | ",
        " | until 2030-03-31T00:00:00Z |",
        "Records kept: 1 (#1–#1). Chain: intact.",
    ] {
        assert!(stdout.contains(line), "missing {line:?}\n{stdout}");
    }
    assert!(
        !stdout.contains("- **EndpointFirewall** (Gap)"),
        "tolerated hosts are no gap: {stdout}"
    );
    let verify = |path: &Path| {
        let out = Command::new(BIN)
            .args(["evidence", "verify"])
            .arg(path)
            .output()
            .expect("verify");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = verify(&evidence);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("de-cm-1: 1 record(s) #1..#1 — chain intact"),
        "{text}"
    );
    // Someone "improves" the stored result: caught.
    let stored = std::fs::read_to_string(&evidence).expect("evidence file");
    // The demo's one satisfied requirement is EndpointFirewall, verified from Fleet.
    let edited = stored.replace("\"PartiallyImplemented\"", "\"Implemented\"");
    assert_ne!(stored, edited);
    std::fs::write(&evidence, edited).expect("write");
    let (code, text) = verify(&evidence);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("Tampered at #1"), "{text}");
}

/// `perimeter report --manifests`: read-only, evaluates DE.CM-1 (the default assessment when
/// the folder declares none), keeps the trail in --evidence, writes a record only on change.
#[tokio::test(flavor = "multi_thread")]
async fn report_assesses_the_control_and_keeps_evidence_across_runs() {
    let emulator = CloudflareEmulator::new(demo_seed());
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let endpoint = format!("{}/client/v4", running.base_url());
    let dir = tempfile::tempdir().expect("tempdir");
    let evidence = dir.path().join("trail.json");
    let run = |format: &'static str| {
        let mut cmd = Command::new(BIN);
        cmd.args(["report", "--manifests"])
            .arg(root().join("examples/cloudflare"))
            .arg("--endpoint")
            .arg(format!("cloudflare-main={endpoint}"))
            .arg("--evidence")
            .arg(&evidence)
            .args(["--format", format])
            .env("PERIMETER_SECRET_CLOUDFLARE_API_TOKEN", "demo-token");
        async move {
            let out = tokio::task::spawn_blocking(move || cmd.output().expect("report"))
                .await
                .expect("join");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        }
    };
    let (code, md) = run("markdown").await;
    assert_eq!(code, Some(2), "not implemented → 2\n{md}");
    for line in [
        "| State | **NotImplemented** |",
        "| Maturity | 0 (None) |",
        "| perimeter/cloudflare-main | cloudflare | ⚠️ Drifted | ⚠️ Drifted | ⚠️ Drifted |",
        "no attestation: endpoint firewalls are outside provider APIs",
        "Store: file ",
    ] {
        assert!(md.contains(line), "missing {line:?}\n{md}");
    }
    assert!(emulator.log().writes().is_empty(), "report never writes");
    let (code, json) = run("json").await;
    assert_eq!(code, Some(2));
    let export: serde_json::Value = serde_json::from_str(&json).expect("json");
    let report = &export["reports"][0];
    assert_eq!(report["assessment"], "de-cm-1");
    assert_eq!(report["result"]["state"], "NotImplemented");
    assert_eq!(report["frameworks"][2]["reference"], "A.8.16");
    assert_eq!(
        report["evidence"]["records"].as_array().map(Vec::len),
        Some(1),
        "an unchanged result within the heartbeat adds no record"
    );
    let path = dir.path().join("export.json");
    std::fs::write(&path, &json).expect("write export");
    let out = Command::new(BIN)
        .args(["evidence", "verify"])
        .arg(&path)
        .output()
        .expect("verify");
    assert_eq!(out.status.code(), Some(0));
}

/// `report --alerts-slack-channel`: Perimeter's own route is verified like a provider's. No
/// `slack:` policy checks the channel here, so it is a gap naming it; a value that is not a
/// channel (a webhook URL pasted by mistake) is refused without being printed.
#[tokio::test]
async fn report_verifies_perimeter_s_own_alert_channel() {
    let emulator = CloudflareEmulator::new(demo_seed());
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let endpoint = format!("{}/client/v4", running.base_url());
    let run = |channel: &'static str| {
        let mut cmd = Command::new(BIN);
        cmd.args(["report", "--manifests"])
            .arg(root().join("examples/cloudflare"))
            .arg("--endpoint")
            .arg(format!("cloudflare-main={endpoint}"))
            .args(["--alerts-slack-channel", channel])
            .env("PERIMETER_SECRET_CLOUDFLARE_API_TOKEN", "demo-token");
        async move {
            let out = tokio::task::spawn_blocking(move || cmd.output().expect("report"))
                .await
                .expect("join");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let (code, md, _) = run("T0ACME0001/#perimeter-alerts").await;
    assert_eq!(code, Some(2), "{md}");
    for line in [
        "| Perimeter (Alertmanager) | Alertmanager's Slack receiver for Perimeter's alerts | #perimeter-alerts | 🔕 no slack: MonitoringPolicy checks this channel, so nobody knows it is read |",
        "- **AlertRouting** (Gap) — Perimeter's alerts: Slack #perimeter-alerts: Perimeter's own alerts go where nobody reads them",
    ] {
        assert!(md.contains(line), "missing {line:?}\n{md}");
    }
    let (code, out, err) = run("https://hooks.slack.com/services/T0ACME/B0ACME/SECRETVALUE").await;
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("--alerts-slack-channel: "), "{err}");
    assert!(!format!("{out}{err}").contains("SECRETVALUE"), "{out}{err}");
}

/// The AWS part of the demo: the Rust AWS emulator seeded from examples/demo/aws-account.yaml,
/// reconciled against examples/aws/ (both policies in Enforce).
#[cfg(feature = "demo")]
#[test]
fn demo_once_finds_and_fixes_the_aws_drift() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args([
            "demo",
            "--once",
            "--metrics-addr",
            "127.0.0.1:0",
            "--evidence",
        ])
        .arg(dir.path().join("evidence.json"))
        .output()
        .expect("run demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("AWS emulator:"), "{stdout}");
    let section = |name: &str| -> String {
        stdout
            .split("\n\n")
            .find(|block| block.contains(name))
            .unwrap_or_default()
            .to_string()
    };
    let firewall = section("FirewallPolicy perimeter/prod-network [Enforce]");
    for line in [
        "drift found (7):",
        r#"~ findings[worldOpenIngress].openIngress [Changed]: desired [], observed ["sg-0f00dfeed1234abcd:tcp:22:0.0.0.0/0"]"#,
        r#"~ securityGroups[vpc-0a1b2c3d4e5f60718/web].ingress[tcp:22:10.20.0.0/24] [Missing]: desired {"description":"SSH from the bastion subnet only"}, observed (absent)"#,
        "~ securityGroups[vpc-0a1b2c3d4e5f60718/web].ingress[tcp:443:pl-4fa04526].description [Changed]: desired CloudFront origin-facing, observed CloudFront",
        "~ networkAcls[acl-0f1e2d3c4b5a69788][ingress:90] [Missing]",
        "~ webAcls[REGIONAL/prod-alb].rules[per-ip-flood].action [Changed]: desired Block, observed Count",
        "~ webAcls[REGIONAL/prod-alb].rules[per-ip-flood].statement [Changed]: desired rateBased:2000/300s, observed rateBased:10000/300s",
        r#"~ ipSets[REGIONAL/office].addresses [Changed]: desired ["198.51.100.0/24","203.0.113.10/32"], observed ["198.51.100.0/24"]"#,
        "enforced (6):",
        "✔ update findings[worldOpenIngress] (openIngress)",
        "✔ create securityGroups[vpc-0a1b2c3d4e5f60718/web].ingress[tcp:22:10.20.0.0/24]",
        "✔ create networkAcls[acl-0f1e2d3c4b5a69788][ingress:90]",
        "✔ write webAcls[REGIONAL/prod-alb] (whole rule list, one call)",
        "✔ update ipSets[REGIONAL/office] (addresses)",
        "now: in sync",
        // The console edits behind the seeded drift, from CloudTrail; what nobody changed in
        // the last 7 days stays unattributed.
        "[Missing]: desired {\"description\":\"SSH from the bastion subnet only\"}, observed (absent) — changed by sam@example.com (AWSReservedSSO_PowerUser) via console at ",
        "observed rateBased:10000/300s — changed by oncall-sre@example.com (AWSReservedSSO_PowerUser) via console at ",
        "observed [\"sg-0f00dfeed1234abcd:tcp:22:0.0.0.0/0\"] — changed by sam@example.com (AWSReservedSSO_PowerUser) via console at ",
        "~ ipSets[REGIONAL/office].addresses [Changed]: desired [\"198.51.100.0/24\",\"203.0.113.10/32\"], observed [\"198.51.100.0/24\"]\n",
        "attribution: 4 of 7 drifted field(s) attributed from AWS CloudTrail event history (last 7 days)",
    ] {
        assert!(firewall.contains(line), "missing {line}\n{firewall}");
    }
    let monitoring = section("MonitoringPolicy perimeter/prod-monitoring [Enforce]");
    for line in [
        "drift found (4):",
        r#"~ flowLogs[allVpcs].vpcsWithoutFlowLog [Changed]: desired [], observed ["vpc-0c9d8e7f6a5b40312"]"#,
        "~ guardDuty[detector].enabled [Changed]: desired true, observed false",
        "~ guardDuty[detector].findingPublishingFrequency [Changed]: desired FIFTEEN_MINUTES, observed SIX_HOURS",
        "~ cloudWatchAlarms[vpc-rejected-traffic] [Missing]",
        "enforced (3):",
        "✔ update flowLogs[allVpcs] (vpcsWithoutFlowLog)",
        "✔ update guardDuty[detector] (enabled, findingPublishingFrequency)",
        "✔ create cloudWatchAlarms[vpc-rejected-traffic]",
        "now: in sync",
        "observed false — changed by lee@example.com (AWSReservedSSO_PowerUser) via console at ",
        "attribution: 2 of 4 drifted field(s) attributed from AWS CloudTrail event history (last 7 days)",
    ] {
        assert!(monitoring.contains(line), "missing {line}\n{monitoring}");
    }
    assert!(!stdout.contains("perimeter-demo-secret"), "{stdout}");
}

#[cfg(feature = "demo")]
fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}

#[cfg(feature = "demo")]
#[test]
fn demo_metrics_pass_promtool_and_carry_the_documented_series() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--metrics-addr",
            &addr,
            "--interval",
            "3600",
            "--evidence",
        ])
        .arg(std::env::temp_dir().join(format!("perimeter-test-evidence-{port}.json")))
        .stdout(Stdio::piped())
        .spawn()
        .expect("demo");
    // A wait, not a speed target: the first pass reads eight emulated accounts (Supabase's
    // apply is waited on), and CI runs this beside the other demo tests.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut body = None;
    while Instant::now() < deadline {
        // The first pass's policies, then its assessment (published after the pass).
        if let Some(b) = http_get(&addr, "/metrics").filter(|b| {
            b.contains(r#"perimeter_reconcile_duration_seconds_count{kind="MonitoringPolicy"} 12"#)
                && b.contains("perimeter_compliance_evidence_timestamp_seconds{")
        }) {
            body = Some(b);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let healthz = http_get(&addr, "/healthz");
    let readyz = http_get(&addr, "/readyz");
    let _ = child.kill();
    let _ = child.wait();
    let body = body.expect("metrics served");
    assert_eq!(healthz.as_deref(), Some("ok\n"));
    assert_eq!(readyz.as_deref(), Some("ready\n"));
    for series in [
        r#"perimeter_drift_fields{kind="FirewallPolicy",name="edge-access-rules",namespace="perimeter",provider="cloudflare"} 2"#,
        r#"perimeter_policy_in_sync{kind="FirewallPolicy",name="edge-firewall",namespace="perimeter",provider="cloudflare"} 1"#,
        r#"perimeter_policy_in_sync{kind="FirewallPolicy",name="edge-access-rules",namespace="perimeter",provider="cloudflare"} 0"#,
        r#"perimeter_provider_up{name="cloudflare-main",namespace="perimeter",provider="cloudflare"} 1"#,
        r#"perimeter_provider_requests_total{code="200",operation="put_entrypoint_ruleset",provider="cloudflare"} 2"#,
        r#"perimeter_reconcile_total{kind="FirewallPolicy",result="success"} 15"#,
        r#"perimeter_reconcile_duration_seconds_count{kind="MonitoringPolicy"} 12"#,
        r#"perimeter_provider_up{name="aws-prod",namespace="perimeter",provider="aws"} 1"#,
        r#"perimeter_policy_in_sync{kind="MonitoringPolicy",name="prod-monitoring",namespace="perimeter",provider="aws"} 1"#,
        r#"perimeter_changes_applied_total{kind="FirewallPolicy",provider="aws",result="success"} 6"#,
        r#"perimeter_changes_applied_total{kind="MonitoringPolicy",provider="aws",result="success"} 3"#,
        r#"perimeter_provider_requests_total{code="200",operation="PutMetricAlarm",provider="aws"} 1"#,
        r#"perimeter_changes_applied_total{kind="FirewallPolicy",provider="cloudflare",result="success"} 11"#,
        // Read from Fleet: one laptop fails without an exception, within minPassingPercent.
        r#"perimeter_compliance_requirement_state{assessment="de-cm-1",control="DE.CM-1",requirement="endpoint_firewall",state="verified"} 1"#,
        r#"perimeter_endpoint_hosts{assessment="de-cm-1",name="fleet-corp",namespace="perimeter",state="passing"} 248"#,
        r#"perimeter_endpoint_hosts{assessment="de-cm-1",name="fleet-corp",namespace="perimeter",state="failing"} 1"#,
        r#"perimeter_endpoint_hosts{assessment="de-cm-1",name="fleet-corp",namespace="perimeter",state="excepted"} 1"#,
        r#"perimeter_compliance_requirement_state{assessment="de-cm-1",control="DE.CM-1",requirement="boundary_firewall",state="gap"} 1"#,
        r#"perimeter_compliance_state{assessment="de-cm-1",control="DE.CM-1",framework="iso27001",reference="A.8.16",state="partially_implemented"} 1"#,
        r#"perimeter_compliance_coverage{area="firewall",assessment="de-cm-1",name="gcp-prod",namespace="perimeter",provider="gcp"} 1"#,
        r#"perimeter_compliance_coverage{area="monitoring",assessment="de-cm-1",name="aws-prod",namespace="perimeter",provider="aws"} 1"#,
        r#"perimeter_compliance_coverage{area="firewall",assessment="de-cm-1",name="cloudflare-main",namespace="perimeter",provider="cloudflare"} 0"#,
        r#"perimeter_compliance_maturity_level{assessment="de-cm-1",control="DE.CM-1"} 1"#,
        // Attested is its own value (2), never the 1 of verified; an expired one is 0.
        r#"perimeter_compliance_coverage{area="firewall",assessment="de-cm-1",name="triggerdev-prod",namespace="perimeter",provider="triggerdev"} 2"#,
        r#"perimeter_compliance_coverage{area="alerting",assessment="de-cm-1",name="triggerdev-prod",namespace="perimeter",provider="triggerdev"} 0"#,
        r#"perimeter_compliance_coverage{area="monitoring",assessment="de-cm-1",name="modal-inference",namespace="perimeter",provider="modal"} 2"#,
        r#"perimeter_assets{covered="false",kind="zone",name="cloudflare-main",namespace="perimeter",provider="cloudflare"} 1"#,
        r#"perimeter_assets{covered="true",kind="zone",name="cloudflare-main",namespace="perimeter",provider="cloudflare"} 2"#,
        r#"perimeter_assets{covered="false",kind="vpc",name="aws-prod",namespace="perimeter",provider="aws"} 1"#,
        r#"perimeter_assets{covered="true",kind="vpc",name="aws-prod",namespace="perimeter",provider="aws"} 1"#,
        r#"perimeter_assets{covered="false",kind="securityGroup",name="aws-prod",namespace="perimeter",provider="aws"} 2"#,
        r#"perimeter_assets{covered="true",kind="network",name="gcp-prod",namespace="perimeter",provider="gcp"} 1"#,
        r#"perimeter_assets{covered="true",kind="project",name="vercel-main",namespace="perimeter",provider="vercel"} 1"#,
        r#"perimeter_assets{covered="true",kind="project",name="supabase-main",namespace="perimeter",provider="supabase"} 2"#,
        r#"perimeter_assets{covered="true",kind="database",name="upstash-main",namespace="perimeter",provider="upstash"} 2"#,
        r#"perimeter_assets{covered="true",kind="cluster",name="qdrant-main",namespace="perimeter",provider="qdrant"} 2"#,
        r#"perimeter_assets{covered="true",kind="hostname",name="betterstack-main",namespace="perimeter",provider="betterstack"} 12"#,
        r#"perimeter_assets{covered="false",kind="hostname",name="betterstack-main",namespace="perimeter",provider="betterstack"} 1"#,
        r#"perimeter_assets{covered="true",kind="database",name="turso-main",namespace="perimeter",provider="turso"} 2"#,
        // The scratch database nobody declared (the demo's story): uncovered.
        r#"perimeter_assets{covered="false",kind="database",name="turso-main",namespace="perimeter",provider="turso"} 1"#,
        r#"perimeter_compliance_coverage{area="firewall",assessment="de-cm-1",name="aws-prod",namespace="perimeter",provider="aws"} 0"#,
        r#"perimeter_address_set_ready{name="betterstack-probes",namespace="perimeter",source="betterstack"} 1"#,
        r#"perimeter_address_set_addresses{name="betterstack-probes",namespace="perimeter",source="betterstack"} 7"#,
        r#"perimeter_address_set_addresses{name="compute-egress",namespace="perimeter",source="declared"} 3"#,
        // Vercel, Supabase and Upstash have no alerting API: alert routing is not applicable to them
        // (no alerting series), and is verified by the three providers that route alerts.
        r#"perimeter_compliance_requirement_state{assessment="de-cm-1",control="DE.CM-1",requirement="alert_routing",state="gap"} 1"#,
        r#"perimeter_compliance_coverage{area="firewall",assessment="de-cm-1",name="vercel-main",namespace="perimeter",provider="vercel"} 1"#,
        r#"perimeter_compliance_coverage{area="monitoring",assessment="de-cm-1",name="supabase-main",namespace="perimeter",provider="supabase"} 0"#,
        "perimeter_compliance_score{assessment=\"de-cm-1\",control=\"DE.CM-1\"} 0.25\n",
        "perimeter_compliance_evidence_timestamp_seconds{assessment=\"de-cm-1\",control=\"DE.CM-1\"} 1",
    ] {
        assert!(body.contains(series), "missing {series}\n{body}");
    }
    for absent in [
        // `up` says an API answered: Modal has none, so no series.
        r#"perimeter_provider_up{name="modal-inference""#,
        r#"perimeter_compliance_coverage{area="alerting",assessment="de-cm-1",name="vercel-main""#,
        r#"perimeter_compliance_coverage{area="alerting",assessment="de-cm-1",name="supabase-main""#,
    ] {
        assert!(!body.contains(absent), "unexpected {absent}\n{body}");
    }
    assert!(!body.contains("demo-token") && !body.contains("perimeter-demo-secret"));
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/setup installs Debian's prometheus package)");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write");
    let out = promtool.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
