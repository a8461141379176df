//! Issue 8, the trust model, tried as a tenant of a shared cluster would: the real operator
//! binary against the Kubernetes API emulator (which, like an API server without the CRDs'
//! schema, stores whatever it is given) and the provider emulators. One test per item of the
//! issue that concerns the operator; each failed on the main of 2026-11-29 (b56fa62):
//!
//! 1. the operator's own cloud identity lent to any namespace;
//! 2. a tenant's credential file making the operator read and send its own files;
//! 3. a namespace's Secret sent to any host it names; a Secret read without opting in;
//! 4. user info in an endpoint taking the token to another host;
//! 5. every Secret of the cluster read; no way to serve only some namespaces;
//! 8. one object that does not parse stopping its whole kind;
//! 10. a deleted and re-created provider served by the old client;
//! 12. a hanging provider holding a policy for minutes; a cleanup that can never succeed
//!     keeping a namespace from being deleted.
//!
//! And, since issue 12, a provider without an API (Modal) that takes no credential: naming one
//! there reads no Secret and reaches no host.
//!
//! Items 6, 7, 9 and 11 are tested in tests/security_http.rs, tests/crds.rs and
//! tests/invalid_manifests.rs.

mod support;

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use perimeter_emulators::cloudflare::CloudflareEmulator;
use perimeter_emulators::faults::{Fault, FaultRule};
use perimeter_emulators::gcp::{GcpEmulator, Seed as GcpSeed};
use serde_json::{Value, json};
use support::kube::{
    KillOnDrop, cloudflare_example, condition, demo_cloudflare, get_any, manifest, merge_patch,
    send, try_get, wait_for,
};

const GROUP: &str = "/apis/perimeter.dev/v1alpha1";
/// The operator's own namespace in these tests (`POD_NAMESPACE`).
const HOME: &str = "perimeter";
const CF_TOKEN: &str = "demo-token";
const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
const ACCOUNT: &str = "01a7362d577a6c3019a474fd6f485823";

/// A host the tenant controls: a listener on 127.0.0.2 that counts connections and keeps what
/// it was sent.
struct Trap {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    received: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Trap {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (h, r) = (hits.clone(), received.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                h.fetch_add(1, Ordering::SeqCst);
                let mut stream = stream;
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 4096];
                if let Ok(n) = stream.read(&mut buf)
                    && let Ok(mut all) = r.lock()
                {
                    all.extend_from_slice(&buf[..n]);
                }
            }
        });
        Self {
            addr,
            hits,
            received,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn received(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().map(|r| r.clone()).unwrap_or_default())
            .into_owned()
    }
}

/// The kube emulator, a client for it, and a folder for the kubeconfig and logs.
struct Cluster {
    _kube: support::ChildServer,
    http: reqwest::Client,
    k: String,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Self {
        let kube = tokio::task::spawn_blocking(support::start_kube_emulator)
            .await
            .expect("kube emulator");
        let k = kube.url.clone();
        Self {
            _kube: kube,
            http: reqwest::Client::new(),
            k,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The collection URL of an object (from its apiVersion, kind and namespace).
    fn collection(&self, obj: &Value) -> String {
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or(HOME);
        let k = &self.k;
        match obj["kind"].as_str().unwrap_or_default() {
            "Secret" => format!("{k}/api/v1/namespaces/{ns}/secrets"),
            "ClusterCloudProvider" => format!("{k}{GROUP}/clustercloudproviders"),
            "CloudProvider" => format!("{k}{GROUP}/namespaces/{ns}/cloudproviders"),
            "FirewallPolicy" => format!("{k}{GROUP}/namespaces/{ns}/firewallpolicies"),
            "MonitoringPolicy" => format!("{k}{GROUP}/namespaces/{ns}/monitoringpolicies"),
            other => panic!("no URL for kind {other}"),
        }
    }

    fn url(&self, obj: &Value) -> String {
        format!(
            "{}/{}",
            self.collection(obj),
            obj["metadata"]["name"].as_str().unwrap_or_default()
        )
    }

    async fn create(&self, obj: &Value) -> Value {
        let url = self.collection(obj);
        send(self.http.post(&url).json(obj), &format!("create {url}")).await
    }

    async fn delete(&self, obj: &Value) {
        let url = self.url(obj);
        send(self.http.delete(&url), &format!("delete {url}")).await;
    }

    /// A Secret with one key, labelled as a credential or not.
    async fn secret(&self, ns: &str, name: &str, key: &str, value: &str, labelled: bool) {
        let labels = if labelled {
            json!({"perimeter.dev/credential": "true"})
        } else {
            json!({})
        };
        self.create(&json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "stringData": {key: value}}))
            .await;
    }

    /// Starts the operator with `args`; its log goes to a file named after `name`.
    fn operator(&self, name: &str, args: &[&str], env: &[(&str, &str)]) -> (KillOnDrop, PathBuf) {
        let kubeconfig = support::write_kubeconfig(self.dir.path(), &self.k, HOME);
        let log = self.dir.path().join(format!("{name}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_perimeter"));
        cmd.args([
            "operator",
            "--metrics-addr",
            &format!("127.0.0.1:{}", support::free_port()),
        ])
        .args(args)
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAMESPACE", HOME)
        .env("PERIMETER_LOG", "info")
        .env_remove("GCE_METADATA_HOST")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start the operator");
        (KillOnDrop(child), log)
    }

    /// Waits until the object's `Ready` condition says something, and returns the object.
    async fn settled(&self, obj: &Value) -> Value {
        let url = self.url(obj);
        wait_for(&format!("a Ready condition on {url}"), async || {
            let o = get_any(&self.http, &url).await;
            condition(&o, "Ready").is_some().then_some(o)
        })
        .await
    }

    /// Waits until `Ready` has this reason; returns its message.
    async fn ready_reason(&self, obj: &Value, reason: &str) -> String {
        let url = self.url(obj);
        wait_for(&format!("{url} Ready reason {reason}"), async || {
            let o = get_any(&self.http, &url).await;
            let c = condition(&o, "Ready")?;
            (c["reason"] == reason).then(|| c["message"].as_str().unwrap_or_default().to_string())
        })
        .await
    }

    /// Every request the API server received.
    async fn requests(&self) -> Vec<Value> {
        get_any(&self.http, &format!("{}/_emulator/requests", self.k))
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Events about the named object in `ns`: (reason, note).
    async fn events(&self, ns: &str, name: &str) -> Vec<(String, String)> {
        let url = format!("{}/apis/events.k8s.io/v1/namespaces/{ns}/events", self.k);
        get_any(&self.http, &url).await["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["regarding"]["name"] == name)
            .map(|e| {
                (
                    e["reason"].as_str().unwrap_or_default().to_string(),
                    e["note"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

fn cloudflare_provider(ns: &str, name: &str, endpoint: &str, secret: &str) -> Value {
    let mut p = cloudflare_example("provider.yaml");
    p["metadata"] = json!({"name": name, "namespace": ns});
    p["spec"]["endpoint"] = json!(endpoint);
    p["spec"]["credentials"]["secretRef"]["name"] = json!(secret);
    p
}

/// A minimal Cloudflare FirewallPolicy (one WAF rule the demo account has).
fn cloudflare_policy(ns: &str, name: &str, provider: &str, mode: &str) -> Value {
    let mut p = cloudflare_example("firewall-edge.yaml");
    p["metadata"] = json!({"name": name, "namespace": ns});
    p["spec"]["providerRef"] = json!({"name": provider});
    p["spec"]["mode"] = json!(mode);
    p
}

/// A Cloudflare emulator with one account and zone and no rules, accepting `CF_TOKEN`.
fn small_cloudflare() -> CloudflareEmulator {
    let seed = serde_json::from_value(json!({
        "tokens": [CF_TOKEN], "accounts": [{"id": ACCOUNT}],
        "zones": [{"id": ZONE, "account_id": ACCOUNT}]
    }))
    .expect("seed");
    CloudflareEmulator::new(seed)
}

fn minimal_policy(ns: &str, name: &str, provider: &str, mode: &str, deletion: &str) -> Value {
    json!({"apiVersion": "perimeter.dev/v1alpha1", "kind": "FirewallPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"providerRef": {"name": provider}, "mode": mode, "deletionPolicy": deletion,
            "syncInterval": "10s",
            "cloudflare": {"zoneId": ZONE, "wafCustomRules": [
                {"ref": "block-admin", "expression": "(http.request.uri.path contains \"/admin\")", "action": "block"}]}}})
}

fn gcp_firewall(ns: &str, name: &str, reference: Value, mode: &str) -> Value {
    let mut p = manifest("examples/gcp/firewall.yaml");
    p["metadata"] = json!({"name": name, "namespace": ns});
    p["spec"]["providerRef"] = reference;
    p["spec"]["mode"] = json!(mode);
    p
}

/// Item 1. The operator's identity (here GKE Workload Identity: the metadata server) is the
/// admin's. A tenant's CloudProvider with `source: Ambient` is refused before anything is
/// fetched, whatever endpoint it names; the admin shares the identity through a
/// ClusterCloudProvider, with the namespaces and the mode it allows.
#[tokio::test(flavor = "multi_thread")]
async fn the_operators_identity_is_not_lent_to_a_namespace() {
    let cluster = Cluster::start().await;
    let trap = Trap::start();
    let seed: GcpSeed =
        serde_json::from_value(manifest("examples/demo/gcp-project.yaml")).expect("seed");
    let gcp = GcpEmulator::new(seed);
    let running = gcp.start("127.0.0.1:0").await.expect("gcp emulator");
    let base = running.base_url();
    let metadata_host = base.trim_start_matches("http://").to_string();

    let ambient = |ns: &str, name: &str, endpoint: &str| {
        json!({"apiVersion": "perimeter.dev/v1alpha1", "kind": "CloudProvider",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"type": "gcp", "accountId": "acme-prod-123456", "regions": ["europe-west1"],
                     "credentials": {"source": "Ambient"}, "endpoint": endpoint}})
    };
    let stolen = ambient("team-a", "stolen", &format!("https://{}", trap.addr));
    let borrowed = ambient("team-a", "borrowed", &base);
    let admins = ambient(HOME, "admins", &base);
    let mut shared = ambient(HOME, "shared-gcp", &base);
    shared["kind"] = json!("ClusterCloudProvider");
    shared["metadata"] = json!({"name": "shared-gcp"});
    shared["spec"]["allowedNamespaces"] = json!(["team-a"]);
    for obj in [&stolen, &borrowed, &admins, &shared] {
        cluster.create(obj).await;
    }
    let to_shared = json!({"kind": "ClusterCloudProvider", "name": "shared-gcp"});
    let observe = gcp_firewall("team-a", "observe-shared", to_shared.clone(), "Observe");
    let enforce = gcp_firewall("team-a", "enforce-shared", to_shared.clone(), "Enforce");
    let elsewhere = gcp_firewall("team-b", "elsewhere", to_shared, "Observe");
    for obj in [&observe, &enforce, &elsewhere] {
        cluster.create(obj).await;
    }
    let (_op, _log) = cluster.operator(
        "identity",
        &["--allow-endpoint-host", "127.0.0.1"],
        &[("GCE_METADATA_HOST", &metadata_host)],
    );

    for tenant in [&stolen, &borrowed] {
        let msg = cluster.ready_reason(tenant, "Forbidden").await;
        assert!(
            msg.contains("Ambient")
                && msg.contains("team-a")
                && msg.contains("--ambient-namespace"),
            "{msg}"
        );
    }
    // The admin's own namespace and the shared account do use the identity.
    cluster.ready_reason(&admins, "Ready").await;
    cluster.ready_reason(&shared, "Ready").await;
    let observed = wait_for(
        "observe-shared read through the shared account",
        async || {
            let o = get_any(&cluster.http, &cluster.url(&observe)).await;
            (condition(&o, "Synced")?["reason"] == "ReconcileSuccess").then_some(o)
        },
    )
    .await;
    assert_eq!(
        condition(&observed, "InSync").map(|c| c["status"].clone()),
        Some(json!("False")),
        "the demo project drifted"
    );
    let msg = cluster.ready_reason(&enforce, "Forbidden").await;
    assert!(msg.contains("allowEnforce"), "{msg}");
    let msg = cluster.ready_reason(&elsewhere, "Forbidden").await;
    assert!(
        msg.contains("not shared with namespace \"team-b\""),
        "{msg}"
    );

    assert_eq!(trap.hits(), 0, "the tenant's host got: {}", trap.received());
    assert!(
        gcp.log().writes().is_empty(),
        "nothing enforced through the shared account: {:?}",
        gcp.log().writes()
    );
}

/// Item 2. An `external_account` credential names files and URLs for the operator to read and
/// post to. A tenant's may name no file of the operator's pod (each is the operator's: its
/// projected tokens are its identity) and not the metadata server; the admin's are read only
/// under the directories the admin lists, never the service-account token; tokens go only to
/// Google's token hosts.
#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_credential_cannot_make_the_operator_read_or_send_its_files() {
    let cluster = Cluster::start().await;
    let trap = Trap::start();
    // A file of the operator's pod that is not a credential (its own token, say).
    let private = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("operator-private-{}", std::process::id()));
    std::fs::write(&private, "eyJ.operator-own-token.sig").expect("write");
    let allowed_dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tokens-{}", std::process::id()));
    std::fs::create_dir_all(&allowed_dir).expect("mkdir");
    let audience =
        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x";
    let config = |extra: Value| {
        let mut c = json!({"type": "external_account", "audience": audience,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt"});
        if let (Some(o), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        c.to_string()
    };
    let cases = [
        // The service-account token: never, even from the admin's namespace with a careless
        // --credential-source-dir /var/run/secrets.
        (
            HOME,
            "sa-token",
            config(
                json!({"credential_source": {"file": "/var/run/secrets/kubernetes.io/serviceaccount/token"}}),
            ),
            "never read",
        ),
        (
            HOME,
            "outside",
            config(json!({"credential_source": {"file": private.to_string_lossy()}})),
            "outside the directories",
        ),
        // A tenant: any file of the pod, posted to the tenant's host ...
        (
            "team-a",
            "exfil",
            config(
                json!({"credential_source": {"file": private.to_string_lossy()},
            "token_url": format!("https://{}/v1/token", trap.addr)}),
            ),
            "Google's token hosts",
        ),
        // ... or the operator's own projected token, exchanged at Google for its identity ...
        (
            "team-a",
            "borrow",
            config(
                json!({"credential_source": {"file": allowed_dir.join("token").to_string_lossy()}}),
            ),
            "operator's own identity",
        ),
        // ... or the machine's identity from the metadata server.
        (
            "team-a",
            "imds",
            config(
                json!({"credential_source": {"url": "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/identity?audience=x",
            "headers": {"Metadata-Flavor": "Google"}}}),
            ),
            "operator's own identity",
        ),
    ];
    for (ns, name, value, _) in &cases {
        cluster.secret(ns, name, "config.json", value, true).await;
        cluster
            .create(
                &json!({"apiVersion": "perimeter.dev/v1alpha1", "kind": "CloudProvider",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"type": "gcp", "accountId": "acme-prod-123456",
                         "credentials": {"secretRef": {"name": name, "key": "config.json"}}}}),
            )
            .await;
    }
    let dir_arg = format!("/var/run/secrets,{}", allowed_dir.display());
    let (_op, log) = cluster.operator("files", &["--credential-source-dir", &dir_arg], &[]);
    for (ns, name, _, needle) in &cases {
        let obj = json!({"apiVersion": "perimeter.dev/v1alpha1", "kind": "CloudProvider",
            "metadata": {"name": name, "namespace": ns}});
        let msg = cluster.ready_reason(&obj, "Forbidden").await;
        assert!(msg.contains(needle), "{name}: {msg}");
    }
    assert_eq!(trap.hits(), 0, "the tenant's host got: {}", trap.received());
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!logs.contains("operator-own-token"), "{logs}");
    let _ = std::fs::remove_file(&private);
}

/// Items 3 and 4. A credential goes only to its provider's API hosts (or hosts the admin
/// allows); user info cannot smuggle another host past that; and a Secret is a credential only
/// when it is labelled as one.
#[tokio::test(flavor = "multi_thread")]
async fn a_secret_goes_only_to_the_providers_hosts_and_only_when_labelled() {
    let cluster = Cluster::start().await;
    let trap = Trap::start();
    let allowed = small_cloudflare();
    let allowed_run = allowed.start("127.0.0.1:0").await.expect("emulator");
    let unlabelled_target = small_cloudflare();
    let unlabelled_run = unlabelled_target
        .start("127.0.0.1:0")
        .await
        .expect("emulator");
    cluster
        .secret("team-a", "cf", "token", CF_TOKEN, true)
        .await;
    cluster
        .secret("team-a", "cf-plain", "token", CF_TOKEN, false)
        .await;
    let t = trap.addr;
    let tenants = [
        // Schema-valid: https to a host of the tenant's.
        (
            "https-elsewhere",
            format!("https://{t}/client/v4"),
            "Forbidden",
            "not an official cloudflare API host",
        ),
        // What the old controller check let through as "localhost", user info included.
        (
            "userinfo-v6",
            format!("http://[::1]:@{t}/client/v4"),
            "InvalidSpec",
            "user info",
        ),
        (
            "userinfo-localhost",
            format!("http://localhost:@{t}/client/v4"),
            "InvalidSpec",
            "user info",
        ),
        (
            "plain-elsewhere",
            format!("http://{t}/client/v4"),
            "InvalidSpec",
            "plain http",
        ),
    ];
    for (name, endpoint, _, _) in &tenants {
        cluster
            .create(&cloudflare_provider("team-a", name, endpoint, "cf"))
            .await;
    }
    let good = cloudflare_provider(
        "team-a",
        "good",
        &format!("{}/client/v4", allowed_run.base_url()),
        "cf",
    );
    let plain = cloudflare_provider(
        "team-a",
        "plain-secret",
        &format!("{}/client/v4", unlabelled_run.base_url()),
        "cf-plain",
    );
    cluster.create(&good).await;
    cluster.create(&plain).await;
    let (_op, _log) = cluster.operator("endpoints", &["--allow-endpoint-host", "127.0.0.1"], &[]);

    for (name, _, reason, needle) in &tenants {
        let obj = cloudflare_provider("team-a", name, "", "cf");
        let msg = cluster.ready_reason(&obj, reason).await;
        assert!(
            msg.contains("spec.endpoint") && msg.contains(needle),
            "{name}: {msg}"
        );
    }
    let msg = cluster.ready_reason(&plain, "Forbidden").await;
    assert!(
        msg.contains("perimeter.dev/credential") && msg.contains("kubectl label secret"),
        "{msg}"
    );
    // The allowed emulator answers (the operator does reach allowed hosts) ...
    cluster.ready_reason(&good, "Ready").await;
    // ... and nothing reached the tenant's host or the provider behind the unlabelled Secret.
    assert_eq!(trap.hits(), 0, "the tenant's host got: {}", trap.received());
    assert!(
        unlabelled_target.log().entries().is_empty(),
        "an unlabelled Secret was used: {:?}",
        unlabelled_target.log().entries()
    );
    // The schema says the same before the object is stored (kube's CEL, as `check` runs it).
    let yaml = format!(
        "apiVersion: perimeter.dev/v1alpha1\nkind: CloudProvider\nmetadata: {{name: x, namespace: team-a}}\nspec:\n  type: cloudflare\n  accountId: {ACCOUNT}\n  credentials: {{secretRef: {{name: cf, key: token}}}}\n  endpoint: \"http://[::1]:@{t}/\"\n"
    );
    let err = perimeter::manifests::Manifests::default()
        .add_yaml("userinfo.yaml", &yaml)
        .expect_err("the schema refuses user info");
    assert!(err.to_string().contains("endpoint"), "{err}");
}

/// Item 3, for AWS: the SDK builds each request's host from the region
/// (`ec2.{region}.amazonaws.com`), so a region is a way to name a host. A stored region that
/// is not a region name is refused before a client is built; nothing reaches the named host.
#[tokio::test(flavor = "multi_thread")]
async fn a_region_cannot_steer_signed_requests_elsewhere() {
    let trap = Trap::start();
    let region = format!("x@{}#", trap.addr);
    let spec: perimeter::api::CloudProviderSpec = serde_json::from_value(json!({
        "type": "aws", "accountId": "123456789012", "regions": [region],
        "credentials": {"secretRef": {"name": "aws", "key": "credentials"}}}))
    .expect("spec");
    let keys = perimeter::SecretString::new(
        json!({"accessKeyId": "AKIDEXAMPLE", "secretAccessKey": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
               "sessionToken": "session-token-never-sent"}).to_string(),
    );
    let trust = perimeter::trust::Trust::default();
    let access = perimeter::providers::Access {
        trust: &trust,
        principal: perimeter::trust::Principal::Tenant,
        share_reads: std::time::Duration::ZERO,
        connections: None,
    };
    let err = perimeter::providers::connect(&spec, Some(keys.clone()), None, access)
        .await
        .err()
        .expect("refused");
    assert_eq!(err.category(), perimeter::Category::InvalidSpec, "{err}");
    assert!(err.to_string().contains("spec.regions[0]"), "{err}");
    // Past that check (the client built directly), the request is still not sent: the SDK
    // refuses a region that is not a host label (and the client refuses any signed request to
    // a host that is not AWS's, src/providers/aws/interceptor.rs).
    let aws = perimeter::providers::aws::Aws::connect(&spec, Some(keys), None)
        .await
        .expect("client");
    let err = perimeter::providers::Provider::verify(&aws)
        .await
        .expect_err("not sent");
    assert!(!err.message.contains("session-token-never-sent"), "{err}");
    assert_eq!(trap.hits(), 0, "the tenant's host got: {}", trap.received());
}

/// Item 5. The operator holds only labelled Secrets (a label-selected watch), reads others'
/// metadata only, and with `--watch-namespace` touches nothing outside the namespaces it serves
/// (and its own).
#[tokio::test(flavor = "multi_thread")]
async fn only_labelled_secrets_and_only_served_namespaces_are_read() {
    let cluster = Cluster::start().await;
    let cf = small_cloudflare();
    let run = cf.start("127.0.0.1:0").await.expect("emulator");
    let endpoint = format!("{}/client/v4", run.base_url());
    for ns in ["team-a", "team-b"] {
        cluster.secret(ns, "cf", "token", CF_TOKEN, true).await;
        cluster
            .secret(ns, "unrelated", "password", "hunter2-unrelated", false)
            .await;
        cluster
            .create(&cloudflare_provider(ns, "cf", &endpoint, "cf"))
            .await;
        cluster
            .create(&minimal_policy(ns, "edge", "cf", "Observe", "Orphan"))
            .await;
    }
    cluster
        .create(&cloudflare_provider(
            "team-a",
            "uses-unrelated",
            &endpoint,
            "unrelated",
        ))
        .await;
    let (_op, _log) = cluster.operator(
        "namespaces",
        &[
            "--allow-endpoint-host",
            "127.0.0.1",
            "--watch-namespace",
            "team-a",
        ],
        &[],
    );
    let served = cluster
        .settled(&minimal_policy("team-a", "edge", "cf", "Observe", "Orphan"))
        .await;
    assert_eq!(
        condition(&served, "Synced").map(|c| c["status"].clone()),
        Some(json!("True"))
    );
    cluster
        .ready_reason(
            &cloudflare_provider("team-a", "uses-unrelated", "", "unrelated"),
            "Forbidden",
        )
        .await;

    let requests = cluster.requests().await;
    let by_operator: Vec<&Value> = requests
        .iter()
        .filter(|r| {
            r["method"] != "POST" || r["path"].as_str().is_some_and(|p| p.contains("/events"))
        })
        .collect();
    for r in &by_operator {
        let path = r["path"].as_str().unwrap_or_default();
        assert!(
            !path.contains("/namespaces/team-b/"),
            "team-b was touched: {r}"
        );
        for kind in [
            "secrets",
            "cloudproviders",
            "firewallpolicies",
            "monitoringpolicies",
        ] {
            assert!(
                !path.ends_with(&format!("/{kind}")) || path.contains("/namespaces/"),
                "a cluster-wide list or watch of {kind}: {r}"
            );
        }
        if path.contains("/secrets") && r["method"] == "GET" {
            let selected =
                r["query"]["labelSelector"].as_str() == Some("perimeter.dev/credential=true");
            let metadata_only = r["accept"]
                .as_str()
                .is_some_and(|a| a.contains("as=PartialObjectMetadata"));
            assert!(
                selected || metadata_only,
                "a Secret read without the label selector: {r}"
            );
        }
    }
    assert!(
        by_operator.iter().any(|r| r["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("/namespaces/team-a/secrets/unrelated"))),
        "the unlabelled Secret's existence is checked by metadata"
    );
    let untouched = get_any(
        &cluster.http,
        &cluster.url(&minimal_policy("team-b", "edge", "cf", "Observe", "Orphan")),
    )
    .await;
    assert!(
        untouched.get("status").is_none(),
        "team-b is not served: {untouched}"
    );
}

/// Item 8. An object the API server stored but the types refuse (a value beyond its Rust type)
/// is reported on itself, naming the field; every other object of its kind goes on.
#[tokio::test(flavor = "multi_thread")]
async fn an_object_that_does_not_parse_fails_alone() {
    let cluster = Cluster::start().await;
    let cf = demo_cloudflare();
    let run = cf.start("127.0.0.1:0").await.expect("emulator");
    let endpoint = format!("{}/client/v4", run.base_url());
    cluster
        .secret("team-a", "cloudflare-api", "token", CF_TOKEN, true)
        .await;
    cluster
        .create(&cloudflare_provider(
            "team-a",
            "cloudflare-main",
            &endpoint,
            "cloudflare-api",
        ))
        .await;
    let good = cloudflare_policy("team-a", "good", "cloudflare-main", "Enforce");
    let mut bad = cloudflare_policy("team-a", "bad", "cloudflare-main", "Enforce");
    bad["spec"]["cloudflare"]["rateLimitRules"][0]["requestsPerPeriod"] = json!(99_999_999_999u64);
    let mut bad_provider =
        cloudflare_provider("team-a", "bad-provider", &endpoint, "cloudflare-api");
    bad_provider["spec"]["requestTimeoutSeconds"] = json!("soon");
    cluster.create(&bad).await;
    cluster.create(&bad_provider).await;
    cluster.create(&good).await;
    let mut assessment = manifest("examples/compliance/de-cm-1.yaml");
    let mut bad_assessment = assessment.clone();
    bad_assessment["metadata"]["name"] = json!("bad-assessment");
    bad_assessment["spec"]["evidence"]["heartbeatMinutes"] = json!("hourly");
    assessment["spec"]["scope"] = json!({"namespaces": ["team-a"]});
    let assessments = format!("{}{GROUP}/controlassessments", cluster.k);
    for a in [&bad_assessment, &assessment] {
        send(
            cluster.http.post(&assessments).json(a),
            "create an assessment",
        )
        .await;
    }
    let (_op, log) = cluster.operator("invalid", &["--allow-endpoint-host", "127.0.0.1"], &[]);

    cluster.ready_reason(&good, "Ready").await;
    let msg = cluster.ready_reason(&bad, "InvalidSpec").await;
    assert!(
        msg.contains("spec.cloudflare.rateLimitRules[0].requestsPerPeriod"),
        "{msg}"
    );
    let msg = cluster.ready_reason(&bad_provider, "InvalidSpec").await;
    assert!(msg.contains("spec.requestTimeoutSeconds"), "{msg}");
    // The same for a cluster-scoped kind: the valid assessment is evaluated.
    let bad_url = format!("{assessments}/bad-assessment");
    let msg = wait_for("the invalid assessment reported", async || {
        let o = get_any(&cluster.http, &bad_url).await;
        let c = condition(&o, "Ready")?;
        (c["reason"] == "InvalidSpec")
            .then(|| c["message"].as_str().unwrap_or_default().to_string())
    })
    .await;
    assert!(msg.contains("spec.evidence.heartbeatMinutes"), "{msg}");
    wait_for("the valid assessment evaluated", async || {
        let o = get_any(&cluster.http, &format!("{assessments}/de-cm-1")).await;
        o["status"]["state"].as_str().map(str::to_string)
    })
    .await;
    let events = wait_for("the InvalidSpec Event", async || {
        let e = cluster.events("team-a", "bad").await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert!(
        events
            .iter()
            .any(|(r, n)| r == "InvalidSpec" && n.contains("requestsPerPeriod")),
        "{events:?}"
    );
    // The answers to the operator's own writes are such objects too: read without an error.
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!logs.contains("Error deserializing"), "{logs}");
}

/// Item 10. A provider deleted and created again under the same name (generation 1 again, the
/// same Secret) is a new account: its client is built anew, not taken from the cache.
#[tokio::test(flavor = "multi_thread")]
async fn a_recreated_provider_gets_a_new_client() {
    let cluster = Cluster::start().await;
    let first = small_cloudflare();
    let first_run = first.start("127.0.0.1:0").await.expect("emulator");
    let second = small_cloudflare();
    let second_run = second.start("127.0.0.1:0").await.expect("emulator");
    cluster
        .secret("team-a", "cf", "token", CF_TOKEN, true)
        .await;
    let old = cloudflare_provider(
        "team-a",
        "cf",
        &format!("{}/client/v4", first_run.base_url()),
        "cf",
    );
    cluster.create(&old).await;
    let (_op, _log) = cluster.operator("recreate", &["--allow-endpoint-host", "127.0.0.1"], &[]);
    cluster.ready_reason(&old, "Ready").await;
    cluster.delete(&old).await;
    wait_for("the old provider gone", async || {
        try_get(&cluster.http, &cluster.url(&old))
            .await
            .is_none()
            .then_some(())
    })
    .await;
    let served_before = first.log().entries().len();
    let new = cloudflare_provider(
        "team-a",
        "cf",
        &format!("{}/client/v4", second_run.base_url()),
        "cf",
    );
    cluster.create(&new).await;
    wait_for("the new provider's endpoint verified", async || {
        (second.log().count("GET", "/user/tokens/verify") > 0).then_some(())
    })
    .await;
    cluster.ready_reason(&new, "Ready").await;
    assert_eq!(
        first.log().entries().len(),
        served_before,
        "the old client was used again"
    );
}

/// Item 12. One sync has a deadline: a provider that hangs leaves its policy Unknown after
/// `--sync-timeout`, while other policies go on. A `deletionPolicy: Delete` cleanup that can
/// never succeed (its provider and Secret deleted with the namespace) lets the policy go; one
/// that keeps failing can be given up by the admin with `perimeter.dev/cleanup=skip`.
#[tokio::test(flavor = "multi_thread")]
async fn time_is_bounded_and_cleanup_always_has_a_way_out() {
    let cluster = Cluster::start().await;
    let hanging = small_cloudflare();
    hanging
        .faults()
        .inject(FaultRule::new("/rulesets", Fault::Hang { millis: 600_000 }));
    let hanging_run = hanging.start("127.0.0.1:0").await.expect("emulator");
    let fine = small_cloudflare();
    let fine_run = fine.start("127.0.0.1:0").await.expect("emulator");
    for ns in ["team-a", "team-b", "team-c"] {
        cluster.secret(ns, "cf", "token", CF_TOKEN, true).await;
    }
    let mut slow = cloudflare_provider(
        "team-a",
        "cf",
        &format!("{}/client/v4", hanging_run.base_url()),
        "cf",
    );
    slow["spec"]["requestTimeoutSeconds"] = json!(300);
    cluster.create(&slow).await;
    let fine_url = format!("{}/client/v4", fine_run.base_url());
    cluster
        .create(&cloudflare_provider("team-b", "cf", &fine_url, "cf"))
        .await;
    cluster
        .create(&cloudflare_provider("team-c", "cf", &fine_url, "cf"))
        .await;
    let stuck = minimal_policy("team-a", "edge", "cf", "Observe", "Orphan");
    let other = minimal_policy("team-b", "edge", "cf", "Observe", "Orphan");
    let gone_with_ns = minimal_policy("team-c", "gone-with-ns", "cf", "Enforce", "Delete");
    let failing = minimal_policy("team-c", "failing", "cf", "Enforce", "Delete");
    for obj in [&stuck, &other, &gone_with_ns, &failing] {
        cluster.create(obj).await;
    }
    let started = Instant::now();
    let (_op, _log) = cluster.operator(
        "deadline",
        &["--allow-endpoint-host", "127.0.0.1", "--sync-timeout", "10"],
        &[],
    );
    // The other namespace is served while team-a's provider hangs.
    let o = cluster.settled(&other).await;
    assert_eq!(
        condition(&o, "Synced").map(|c| c["status"].clone()),
        Some(json!("True"))
    );
    let msg = wait_for("team-a's sync ends at its deadline", async || {
        let obj = get_any(&cluster.http, &cluster.url(&stuck)).await;
        let synced = condition(&obj, "Synced")?;
        (synced["reason"] == "Timeout").then(|| {
            assert_eq!(
                condition(&obj, "InSync").map(|c| c["status"].clone()),
                Some(json!("Unknown"))
            );
            synced["message"].as_str().unwrap_or_default().to_string()
        })
    })
    .await;
    assert!(msg.contains("did not finish within 10 s"), "{msg}");
    eprintln!(
        "hanging provider: Timeout reported {:?} after the operator started",
        started.elapsed()
    );

    // A namespace being deleted takes the provider and the Secret with it: the cleanup cannot
    // be done, so the policy goes, with a Warning saying the provider was left as it is.
    for obj in [&gone_with_ns, &failing] {
        wait_for("the cleanup finalizer", async || {
            let o = get_any(&cluster.http, &cluster.url(obj)).await;
            o["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| !f.is_empty())
                .then_some(())
        })
        .await;
    }
    fine.faults()
        .inject(FaultRule::new("", Fault::ServerError { status: 503 }));
    cluster.delete(&failing).await;
    let events = wait_for("CleanupFailed with the way out", async || {
        let e = cluster.events("team-c", "failing").await;
        e.iter().any(|(r, _)| r == "CleanupFailed").then_some(e)
    })
    .await;
    assert!(
        events
            .iter()
            .any(|(r, n)| r == "CleanupFailed" && n.contains("perimeter.dev/cleanup=skip")),
        "{events:?}"
    );
    assert!(
        try_get(&cluster.http, &cluster.url(&failing))
            .await
            .is_some(),
        "kept while the cleanup may still succeed"
    );
    merge_patch(
        &cluster.http,
        &cluster.url(&failing),
        &json!({"metadata": {"annotations": {"perimeter.dev/cleanup": "skip"}}}),
    )
    .await;
    wait_for("the skipped policy gone", async || {
        try_get(&cluster.http, &cluster.url(&failing))
            .await
            .is_none()
            .then_some(())
    })
    .await;

    fine.faults().clear();
    cluster
        .delete(&cloudflare_provider("team-c", "cf", "", "cf"))
        .await;
    send(
        cluster
            .http
            .delete(format!("{}/api/v1/namespaces/team-c/secrets/cf", cluster.k)),
        "delete the Secret",
    )
    .await;
    // The operator's caches see the deletions (a watch event each) before the policy's.
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.delete(&gone_with_ns).await;
    wait_for("the orphaned policy gone", async || {
        try_get(&cluster.http, &cluster.url(&gone_with_ns))
            .await
            .is_none()
            .then_some(())
    })
    .await;
    let events = cluster.events("team-c", "gone-with-ns").await;
    assert!(
        events.iter().any(|(r, _)| r == "CleanupSkipped"),
        "{events:?}"
    );
}

/// A provider without an API (Modal) takes no credential: a `modal` CloudProvider is Ready at
/// once, saying what covers it, and one stored (past the schema) with a Secret, an ambient
/// identity or an endpoint is refused naming the field, without the Secret ever being read or
/// the endpoint ever being called.
#[tokio::test(flavor = "multi_thread")]
async fn a_provider_without_an_api_reads_no_secret_and_calls_nothing() {
    let cluster = Cluster::start().await;
    let trap = Trap::start();
    cluster
        .secret("team-a", "modal-token", "token", "ak-modal-canary", true)
        .await;
    let modal = |name: &str, extra: Value| {
        let mut spec = json!({"type": "modal", "accountId": "acme-ml"});
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        json!({"apiVersion": "perimeter.dev/v1alpha1", "kind": "CloudProvider",
            "metadata": {"name": name, "namespace": "team-a"}, "spec": spec})
    };
    let bare = modal("modal-inference", json!({}));
    let refused = [
        (
            modal(
                "with-secret",
                json!({"credentials": {"secretRef": {"name": "modal-token", "key": "token"}}}),
            ),
            "spec.credentials",
        ),
        (
            modal(
                "with-ambient",
                json!({"credentials": {"source": "Ambient"}}),
            ),
            "spec.credentials",
        ),
        (
            modal(
                "with-endpoint",
                json!({"endpoint": format!("http://{}/", trap.addr)}),
            ),
            "spec.endpoint",
        ),
    ];
    cluster.create(&bare).await;
    for (obj, _) in &refused {
        cluster.create(obj).await;
    }
    let (_op, _log) = cluster.operator(
        "no-api",
        &[
            "--allow-endpoint-host",
            "127.0.0.2",
            "--ambient-namespace",
            "team-a",
        ],
        &[],
    );

    let msg = cluster.ready_reason(&bare, "Ready").await;
    assert!(msg.contains("Modal has no public management API"), "{msg}");
    assert!(msg.contains("ProviderFirewall"), "{msg}");
    for (obj, field) in &refused {
        let msg = cluster.ready_reason(obj, "InvalidSpec").await;
        assert!(msg.contains(field), "{}: {msg}", obj["metadata"]["name"]);
    }
    let requests = cluster.requests().await;
    let secret_reads: Vec<&Value> = requests
        .iter()
        .filter(|r| {
            r["method"] == "GET"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("/secrets/modal-token"))
        })
        .collect();
    assert!(secret_reads.is_empty(), "{secret_reads:?}");
    assert_eq!(
        trap.hits(),
        0,
        "the endpoint was called: {}",
        trap.received()
    );
}
