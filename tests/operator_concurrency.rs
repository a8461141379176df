//! The operator's reconcile bound, end to end: the real `perimeter operator` with
//! `PERIMETER_MAX_CONCURRENT_RECONCILES=4` against the Kubernetes API emulator and six
//! Cloudflare accounts, each its own emulator that holds every read of the policies' one
//! setting for a while. The emulators count the reads they hold at once: never more than 4 in
//! all (the bound), never more than 1 per account (an account's share is a sixteenth of
//! the slots, at least one), and more than one account at once (the bound is not a queue of one).

mod support;

use std::time::Duration;

use perimeter_emulators::faults::{Fault, FaultRule};
use perimeter_emulators::server::RunningEmulator;
use serde_json::json;
use support::kube::{Cluster, cloudflare_example, create, demo_cloudflare, merge_patch};

const NS: &str = "perimeter";
const GROUP: &str = "/apis/perimeter.dev/v1alpha1";
const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
const ACCOUNTS: usize = 6;
const POLICIES_PER_ACCOUNT: usize = 2;
const HOLD_MS: u64 = 2500;
const HOLD: Duration = Duration::from_millis(HOLD_MS);

/// An Observe policy of `account` reading one setting of the zone.
fn policy(name: &str, account: &str) -> serde_json::Value {
    json!({
        "apiVersion": "perimeter.dev/v1alpha1",
        "kind": "FirewallPolicy",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "providerRef": {"name": account},
            "mode": "Observe",
            "syncInterval": "10m",
            "cloudflare": {"zoneId": ZONE, "settings": {"securityLevel": "medium"}},
        },
    })
}

/// The operator with `slots` reconciles in flight, and its metrics address.
fn operator(c: &Cluster, slots: &str) -> (support::kube::KillOnDrop, String) {
    let metrics = format!("127.0.0.1:{}", support::free_port());
    let log = std::fs::File::create(c.dir.path().join("operator.log")).expect("log");
    let op = support::kube::operator(
        &c.kubeconfig,
        &metrics,
        &[
            ("PERIMETER_LOG", "info"),
            ("PERIMETER_MAX_CONCURRENT_RECONCILES", slots),
            // Every sync reads its provider: no answer kept for the account's next policy.
            ("PERIMETER_SHARE_READS_FOR", "0"),
        ],
        log,
    );
    (op, metrics)
}

#[tokio::test(flavor = "multi_thread")]
async fn reconciles_in_flight_stay_within_the_bound_and_each_accounts_share() {
    let c = Cluster::start().await;
    // Accounts of their own (a client and a rate limit each), each on its own emulator.
    let mut emulators = Vec::new();
    let mut running: Vec<RunningEmulator> = Vec::new();
    for a in 0..ACCOUNTS {
        let emulator = demo_cloudflare();
        emulator.faults().inject(
            FaultRule::new("/settings/security_level", Fault::Hang { millis: HOLD_MS })
                .method("GET"),
        );
        let server = emulator.start("127.0.0.1:0").await.expect("emulator");
        let mut provider = cloudflare_example("provider.yaml");
        provider["metadata"]["name"] = json!(format!("cf-{a}"));
        provider["spec"]["endpoint"] = json!(format!("{}/client/v4", server.base_url()));
        create(
            &c.http,
            &format!("{}{GROUP}/namespaces/{NS}/cloudproviders", c.k),
            &provider,
        )
        .await;
        emulators.push(emulator);
        running.push(server);
    }
    // Consecutive policies share an account, so that an unbounded queue would start both.
    let names: Vec<String> = (0..ACCOUNTS * POLICIES_PER_ACCOUNT)
        .map(|i| format!("p{i:02}"))
        .collect();
    for (i, name) in names.iter().enumerate() {
        let account = format!("cf-{}", i / POLICIES_PER_ACCOUNT);
        create(&c.http, &c.policies, &policy(name, &account)).await;
    }

    let (_op, _metrics) = operator(&c, "4");
    for name in &names {
        c.settled(name, 1, "True").await;
    }

    let peaks: Vec<usize> = emulators.iter().map(|e| e.faults().held().peak).collect();
    assert!(
        peaks.iter().all(|&p| p == 1),
        "each account's share is 1 of 4 slots, and each account's policies were read: {peaks:?}"
    );
    // How many accounts are held at once, sampled through a second round (every policy's
    // spec changed).
    let mut most_at_once = 0;
    for name in &names {
        merge_patch(
            &c.http,
            &format!("{}/{name}", c.policies),
            &json!({"spec": {"syncInterval": "11m"}}),
        )
        .await;
    }
    let until = std::time::Instant::now() + HOLD * 8;
    while std::time::Instant::now() < until {
        let now: usize = emulators.iter().map(|e| e.faults().held().now).sum();
        most_at_once = most_at_once.max(now);
        assert!(now <= 4, "{now} syncs in flight with a bound of 4");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        most_at_once > 1,
        "accounts are read side by side: at most {most_at_once} at once"
    );
    for name in &names {
        c.settled(name, 2, "True").await;
    }
    let peaks: Vec<usize> = emulators.iter().map(|e| e.faults().held().peak).collect();
    assert!(peaks.iter().all(|&p| p == 1), "{peaks:?}");
    drop(running);
}

/// A sync that would wait on its account's rate limit waits in the queue, not in one of the
/// controller's slots: with 2 slots (1 per account) and two accounts whose limits are spent
/// (2 requests a minute, four policies each), a third account's policy created afterwards is
/// synced within seconds rather than after the throttled accounts' waits of 30 s and more; the
/// throttled accounts' policies are deferred (counted as `deferred`) and still all become
/// Ready.
#[tokio::test(flavor = "multi_thread")]
async fn a_sync_waiting_on_its_accounts_rate_limit_does_not_hold_a_slot() {
    let c = Cluster::start().await;
    let mut running: Vec<RunningEmulator> = Vec::new();
    for (account, rate_limit) in [
        ("slow-0", Some(json!({"requestsPerMinute": 2, "burst": 3}))),
        ("slow-1", Some(json!({"requestsPerMinute": 2, "burst": 3}))),
        ("free", None),
    ] {
        let server = demo_cloudflare()
            .start("127.0.0.1:0")
            .await
            .expect("emulator");
        let mut provider = cloudflare_example("provider.yaml");
        provider["metadata"]["name"] = json!(account);
        provider["spec"]["endpoint"] = json!(format!("{}/client/v4", server.base_url()));
        if let Some(rl) = rate_limit {
            provider["spec"]["rateLimit"] = rl;
        }
        create(
            &c.http,
            &format!("{}{GROUP}/namespaces/{NS}/cloudproviders", c.k),
            &provider,
        )
        .await;
        running.push(server);
    }
    let slow: Vec<String> = (0..6)
        .map(|i| format!("slow-{}-{}", i % 2, i / 2))
        .collect();
    for name in &slow {
        create(&c.http, &c.policies, &policy(name, &name[..6])).await;
    }

    let (_op, metrics) = operator(&c, "2");
    // Each throttled account has synced a policy, and spent its limit (its four policies need
    // more reads than its burst, at one read per 30 s).
    support::kube::wait_for("a synced policy of each throttled account", async || {
        let mut synced = [false; 2];
        for name in &slow {
            let obj = support::kube::try_get(&c.http, &format!("{}/{name}", c.policies)).await?;
            if obj["status"]["observedGeneration"] == 1 {
                synced[usize::from(name.starts_with("slow-1"))] = true;
            }
        }
        (synced == [true, true]).then_some(())
    })
    .await;
    create(&c.http, &c.policies, &policy("free-0", "free")).await;
    let started = std::time::Instant::now();
    support::kube::wait_within(
        "free-0 Ready while the others wait",
        Duration::from_secs(15),
        async || {
            let obj = support::kube::try_get(&c.http, &format!("{}/free-0", c.policies)).await?;
            (obj["status"]["observedGeneration"] == 1
                && support::kube::condition(&obj, "Ready")?["status"] == "True")
                .then_some(())
        },
    )
    .await;
    let free_took = started.elapsed();
    let text = support::kube::metrics_text(&c.http, &metrics).await;
    let deferred: f64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"perimeter_reconcile_total{kind="FirewallPolicy",result="deferred"} "#)
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(
        deferred > 0.0,
        "throttled policies waited in the queue: {text}"
    );
    let waiting = {
        let mut n = 0;
        for name in &slow {
            let obj = support::kube::try_get(&c.http, &format!("{}/{name}", c.policies)).await;
            if obj.is_none_or(|o| o["status"]["observedGeneration"] != 1) {
                n += 1;
            }
        }
        n
    };
    assert!(
        waiting > 0,
        "the throttled accounts still had policies waiting when free-0 ({free_took:?}) was done"
    );
    for name in &slow {
        c.settled(name, 1, "True").await;
    }
    drop(running);
}
