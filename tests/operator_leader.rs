//! Leader election end to end: two real `perimeter operator --leader-elect` processes against
//! the Kubernetes API emulator (tests/kube-emulator) and the Cloudflare emulator. Exactly one
//! leads (Lease holder, `perimeter_leader` 1, its Events, its reconciles); the standby is
//! ready and idle. SIGTERM on the leader releases the Lease and the standby takes over; the
//! failover time is measured and printed. A leader that finds its Lease taken stops and exits
//! non-zero. A leader paused (SIGSTOP) until a standby took over writes nothing when it wakes
//! up: the API server's request log, in its own order, shows every write sent by the replica
//! holding the Lease at that moment.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use perimeter_emulators::faults::{Fault, FaultRule};
use serde_json::{Value, json};
use support::kube::{
    Cluster, cloudflare_example, create, kube_requests, send, try_get, wait_within,
};

const NS: &str = "perimeter";
const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/perimeter/leases/perimeter-leader";

struct Operator {
    name: &'static str,
    metrics: u16,
    child: Child,
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(name: &'static str, kubeconfig: &std::path::Path, log_dir: &std::path::Path) -> Operator {
    let metrics = support::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_perimeter"))
        .args([
            "operator",
            "--leader-elect",
            "--allow-endpoint-host",
            "127.0.0.1",
            "--metrics-addr",
            &format!("127.0.0.1:{metrics}"),
        ])
        .env("KUBECONFIG", kubeconfig)
        .env("POD_NAME", name)
        .env("POD_NAMESPACE", NS)
        .env("PERIMETER_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log_dir.join(format!("{name}.log"))).expect("log file"))
        .spawn()
        .expect("start the operator");
    Operator {
        name,
        metrics,
        child,
    }
}

/// `perimeter_leader` of one process, or `None` while it does not answer.
async fn leader_gauge(http: &reqwest::Client, op: &Operator) -> Option<i64> {
    let text = http
        .get(format!("http://127.0.0.1:{}/metrics", op.metrics))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("perimeter_leader "))
        .and_then(|v| v.trim().parse().ok())
}

async fn reconciles(http: &reqwest::Client, op: &Operator) -> f64 {
    let text = http
        .get(format!("http://127.0.0.1:{}/metrics", op.metrics))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|l| l.starts_with("perimeter_reconcile_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn holder(http: &reqwest::Client, kube: &str) -> Option<String> {
    let lease = try_get(http, &format!("{kube}{LEASE}")).await?;
    lease["spec"]["holderIdentity"]
        .as_str()
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

fn condition_true(obj: &Value, type_: &str) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == type_ && c["status"] == "True")
}

/// The instances that reported Events about `name`.
async fn reporters(http: &reqwest::Client, kube: &str, name: &str) -> Vec<String> {
    let events = try_get(
        http,
        &format!("{kube}/apis/events.k8s.io/v1/namespaces/{NS}/events"),
    )
    .await
    .unwrap_or_default();
    let mut out: Vec<String> = events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["regarding"]["name"] == name)
        .filter_map(|e| e["reportingInstance"].as_str().map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn one_replica_leads_and_a_standby_takes_over_on_sigterm() {
    let c = Cluster::start().await;
    let (http, k, policies, dir) = (c.http.clone(), c.k.clone(), c.policies.clone(), &c.dir);
    let kubeconfig = &c.kubeconfig;
    create(&http, &policies, &cloudflare_example("firewall-edge.yaml")).await;

    let a = start("perimeter-a", kubeconfig, dir.path());
    let b = start("perimeter-b", kubeconfig, dir.path());
    let first = wait_within("a leader", Duration::from_secs(60), async || {
        holder(&http, &k).await
    })
    .await;
    let (leader, standby) = if first == a.name { (a, b) } else { (b, a) };
    assert_eq!(first, leader.name);
    wait_within("edge-firewall Ready", Duration::from_secs(60), async || {
        let obj = try_get(&http, &format!("{policies}/edge-firewall")).await?;
        condition_true(&obj, "Ready").then_some(())
    })
    .await;

    // Exactly one leads: the gauge, the work and the Events say the same.
    wait_within("both gauges", Duration::from_secs(20), async || {
        let l = leader_gauge(&http, &leader).await?;
        let s = leader_gauge(&http, &standby).await?;
        (l == 1 && s == 0).then_some(())
    })
    .await;
    for op in [&leader, &standby] {
        for probe in ["healthz", "readyz"] {
            let status = http
                .get(format!("http://127.0.0.1:{}/{probe}", op.metrics))
                .send()
                .await
                .expect("probe")
                .status();
            assert_eq!(status.as_u16(), 200, "{} /{probe}", op.name);
        }
    }
    assert!(reconciles(&http, &leader).await > 0.0);
    assert_eq!(
        reconciles(&http, &standby).await,
        0.0,
        "the standby never reconciles"
    );
    assert_eq!(
        reporters(&http, &k, "edge-firewall").await,
        [leader.name.to_string()]
    );
    assert_eq!(holder(&http, &k).await.as_deref(), Some(leader.name));

    // SIGTERM: the leader stops its controllers, releases the Lease and exits 0; the standby
    // takes over at its next try.
    let mut leader = leader;
    let killed = Instant::now();
    let sent = Command::new("kill")
        .args(["-TERM", &leader.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    wait_within(
        "the standby to hold the Lease",
        Duration::from_secs(30),
        async || (holder(&http, &k).await.as_deref() == Some(standby.name)).then_some(()),
    )
    .await;
    let lease_moved = killed.elapsed();
    wait_within(
        "the new leader's gauge",
        Duration::from_secs(10),
        async || (leader_gauge(&http, &standby).await == Some(1)).then_some(()),
    )
    .await;
    let failover = killed.elapsed();
    eprintln!(
        "failover after SIGTERM: Lease held by the standby after {:.2} s, leading (perimeter_leader 1) after {:.2} s",
        lease_moved.as_secs_f64(),
        failover.as_secs_f64()
    );
    assert!(
        failover < perimeter::controller::leader::LEASE_DURATION,
        "a released Lease is taken at the standby's next try (retry period 2 s), not after it expires (15 s): {failover:?}"
    );
    let exit = wait_within(
        "the old leader to exit",
        Duration::from_secs(20),
        async || leader.child.try_wait().ok().flatten(),
    )
    .await;
    assert_eq!(exit.code(), Some(0), "a graceful shutdown exits 0");
    let lease = try_get(&http, &format!("{k}{LEASE}")).await.expect("lease");
    assert_eq!(lease["spec"]["leaseTransitions"], 1, "{lease}");

    // The new leader does the work: a new policy gets its status and Events from it.
    create(
        &http,
        &policies,
        &cloudflare_example("firewall-access.yaml"),
    )
    .await;
    wait_within(
        "edge-access-rules status",
        Duration::from_secs(60),
        async || {
            let obj = try_get(&http, &format!("{policies}/edge-access-rules")).await?;
            obj["status"]["conditions"].as_array().map(|_| ())
        },
    )
    .await;
    wait_within(
        "Events from the new leader",
        Duration::from_secs(30),
        async || {
            let r = reporters(&http, &k, "edge-access-rules").await;
            (r == [standby.name.to_string()]).then_some(())
        },
    )
    .await;

    // Someone else takes the Lease (as after a partition): the leader notices at its next
    // renewal, stops and exits non-zero, to restart as a standby.
    // (read and replace again while the leader's own renewal wins the race: 409)
    wait_within(
        "the Lease taken by an intruder",
        Duration::from_secs(10),
        async || {
            let mut lease = try_get(&http, &format!("{k}{LEASE}")).await?;
            lease["spec"]["holderIdentity"] = json!("intruder");
            let resp = http
                .put(format!("{k}{LEASE}"))
                .json(&lease)
                .send()
                .await
                .ok()?;
            resp.status().is_success().then_some(())
        },
    )
    .await;
    let mut standby = standby;
    let exit = wait_within(
        "the deposed leader to exit",
        Duration::from_secs(20),
        async || standby.child.try_wait().ok().flatten(),
    )
    .await;
    assert_eq!(exit.code(), Some(1), "losing the Lease exits non-zero");
}

fn signal(op: &Operator, sig: &str) {
    let sent = Command::new("kill")
        .args([sig, &op.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success(), "kill {sig} {}", op.name);
}

/// Walks the API server's request log in its order: the Lease's holder is the one named by
/// its last successful write; every other write must come from that holder. Returns how many
/// writes each replica made, or the first write sent by a replica that did not hold the Lease.
fn writes_by_holder(log: &[Value]) -> Result<Vec<(String, usize)>, String> {
    let mut holder: Option<String> = None;
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for q in log {
        let method = q["method"].as_str().unwrap_or_default();
        let path = q["path"].as_str().unwrap_or_default();
        let Some(user) = q["user"].as_str() else {
            continue; // the test's own requests
        };
        if method == "GET" {
            continue;
        }
        if path.contains("/leases") {
            if q["code"].as_u64().is_some_and(|c| (200..300).contains(&c)) {
                holder = q["body"]["spec"]["holderIdentity"]
                    .as_str()
                    .map(str::to_string);
            }
            continue;
        }
        if holder.as_deref() != Some(user) {
            return Err(format!(
                "{user} wrote while {holder:?} held the Lease: {method} {path} {}",
                q["body"]
            ));
        }
        *counts.entry(user.to_string()).or_default() += 1;
    }
    Ok(counts.into_iter().collect())
}

#[test]
fn the_write_check_catches_a_write_outside_the_lease() {
    let lease = |user: &str, holder: &str| json!({"method": "PUT", "path": LEASE, "user": user, "code": 200, "body": {"spec": {"holderIdentity": holder}}});
    let write =
        |user: &str| json!({"method": "PATCH", "path": "/x/status", "user": user, "code": 200});
    let ok = [lease("a", "a"), write("a"), lease("b", "b"), write("b")];
    assert_eq!(
        writes_by_holder(&ok),
        Ok(vec![("a".into(), 1), ("b".into(), 1)])
    );
    let late = [lease("a", "a"), lease("b", "b"), write("a")];
    assert!(writes_by_holder(&late).is_err());
    let mut refused = lease("b", "b");
    refused["code"] = json!(409);
    assert!(writes_by_holder(&[lease("a", "a"), refused, write("b")]).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_leader_that_wakes_after_a_takeover_writes_nothing_and_exits() {
    let c = Cluster::start().await;
    let (http, k, policies, cloudflare) = (&c.http, &c.k, &c.policies, &c.cloudflare);
    let mut edge = cloudflare_example("firewall-edge.yaml");
    // Observe: no provider write at all, whoever leads; a sync due every 10 s.
    edge["spec"]["mode"] = json!("Observe");
    edge["spec"]["syncInterval"] = json!("10s");
    create(http, policies, &edge).await;

    // Each replica speaks as its own user, so the request log tells them apart.
    let a = start(
        "perimeter-a",
        &support::write_kubeconfig_as(c.dir.path(), k, NS, "perimeter-a"),
        c.dir.path(),
    );
    let b = start(
        "perimeter-b",
        &support::write_kubeconfig_as(c.dir.path(), k, NS, "perimeter-b"),
        c.dir.path(),
    );
    let first = wait_within("a leader", Duration::from_secs(60), async || {
        holder(http, k).await
    })
    .await;
    let (mut leader, standby) = if first == a.name { (a, b) } else { (b, a) };
    wait_within("edge-firewall Ready", Duration::from_secs(60), async || {
        let obj = try_get(http, &format!("{policies}/edge-firewall")).await?;
        obj["status"]["conditions"].as_array().map(|_| ())
    })
    .await;

    // The leader freezes; its Lease expires and the standby takes over and works.
    signal(&leader, "-STOP");
    wait_within(
        "the standby to take the Lease",
        Duration::from_secs(45),
        async || (holder(http, k).await.as_deref() == Some(standby.name)).then_some(()),
    )
    .await;
    wait_within(
        "the new leader to reconcile",
        Duration::from_secs(30),
        async || (reconciles(http, &standby).await > 0.0).then_some(()),
    )
    .await;

    // The old leader wakes with work due (its 10 s sync is overdue) and something new to say
    // (the provider now answers garbage), while its Lease check is slow: its renewal loop
    // learns of the takeover only 8 s after it wakes. Without a fence it writes in between.
    // (8 s, not less: CI once saw a loaded debug build take longer than 4 s to get there.)
    cloudflare
        .faults()
        .inject(FaultRule::new("", Fault::Malformed));
    send(
        http.post(format!("{k}/_emulator/slow"))
            .json(&json!({"path": "/leases/", "seconds": 8, "user": leader.name})),
        "slow the old leader's Lease requests",
    )
    .await;
    let provider_calls_before = cloudflare.log().len();
    signal(&leader, "-CONT");
    let exit = wait_within(
        "the old leader to exit",
        Duration::from_secs(30),
        async || leader.child.try_wait().ok().flatten(),
    )
    .await;
    assert_eq!(exit.code(), Some(1), "losing the Lease exits non-zero");
    if let Err(e) = writes_by_holder(&kube_requests(http, k).await) {
        panic!("two leaders wrote: {e}");
    }
    cloudflare.faults().clear();
    let log = std::fs::read_to_string(c.dir.path().join(format!("{}.log", leader.name)))
        .unwrap_or_default();
    assert!(
        log.contains("not writing"),
        "the woken leader had something to write (and was fenced); provider calls since it \
         woke (either replica): {}; log:\n{log}",
        cloudflare.log().len() - provider_calls_before
    );

    // The new leader goes on writing (it reports the provider's garbage at its next sync),
    // and never did anyone write outside their own lease.
    let counts = wait_within(
        "a write by the new leader",
        Duration::from_secs(40),
        async || {
            let counts = writes_by_holder(&kube_requests(http, k).await)
                .unwrap_or_else(|e| panic!("two leaders wrote: {e}"));
            counts
                .iter()
                .any(|(who, n)| who == standby.name && *n > 0)
                .then_some(counts)
        },
    )
    .await;
    eprintln!("writes per replica, each within its own Lease: {counts:?}");
    assert!(
        cloudflare.log().writes().is_empty(),
        "Observe: no provider write from anyone"
    );
    assert_eq!(holder(http, k).await.as_deref(), Some(standby.name));
}
