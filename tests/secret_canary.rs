//! Issue 14, "Hostile conditions": the secret canary. Every provider with a client gets unique,
//! recognisable credentials (one its emulator accepts, one it rejects with 401/403, one sent to
//! an emulator that answers every request with an error quoting the request back, headers and
//! body included); Modal, which has no API, gets one it must never read. Then every output is
//! searched for them: the operator on the Kubernetes API emulator at TRACE (dependencies
//! included, text and JSON logs: a lower level only drops events, so TRACE holds every line any
//! level prints), its stdout and stderr, every object's status, every Event, everything it wrote
//! to the API server (evidence ConfigMaps included), its metrics; `perimeter check` (text, JSON,
//! `--stats`) and `perimeter report` (markdown, JSON, the evidence file), also at TRACE; and
//! `perimeter demo --once` (whose credentials are its own: searched for as the demo seeds them).
//!
//! The rule: a leak is any run of [`WINDOW`] (8) characters of a canary's secret part, in any of
//! its forms: as sent, base64 (standard and URL-safe, at every byte alignment, so a canary inside
//! a larger encoded blob such as a Secret's `data` or a Basic header is found too) and
//! percent-encoded. Eight characters of a random base62 secret are 47 bits: no chance match in
//! megabytes of logs, and more than any prefix or suffix shown to identify a key ("last 4")
//! gives away. The fixed parts of a credential's format (`xoxb-`, `tr_prod_`, the ASN.1 header
//! every RSA key starts with) are not secret and not searched for.
//!
//! The result is printed as a table (provider, canary, where it was looked for, occurrences) and
//! the test fails listing every leak at once.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use perimeter_emulators::faults::{Fault, FaultRule, Faults};
use perimeter_emulators::server::RunningEmulator;
use serde_json::{Value, json};
use support::kube::{condition, get_any, send, wait_within};

const GROUP: &str = "/apis/perimeter.dev/v1alpha1";
/// The examples' namespace, and the operator's own.
const HOME: &str = "perimeter";
/// Shortest run of a canary that counts as a leak (see the module documentation).
const WINDOW: usize = 8;
/// The key of every canary Secret.
const KEY: &str = "credential";
const GCP_SA: &str = "perimeter-canary@acme-prod-123456.iam.gserviceaccount.com";
const GCP_KEY: &str = include_str!("fixtures/gcp/test-sa.key.pem");
const GCP_PUB: &str = include_str!("fixtures/gcp/test-sa.pub.pem");
/// A key the GCP emulator does not know: its JWTs are refused.
const GCP_OTHER_KEY: &str = include_str!("fixtures/gcp/other-sa.key.pem");
const AWS_KEY_ID: &str = "AKIAPERIMETERCANARY0";
const UPSTASH_EMAIL: &str = "demo@example.com";

/// The providers with a client (the `registered_providers!` list), in its order: the folder of
/// their examples, the CloudProvider those name, the demo seed, the prefix their credentials
/// have.
const PROVIDERS: [(&str, &str, &str, &str); 12] = [
    (
        "cloudflare",
        "cloudflare-main",
        "cloudflare-account.yaml",
        "",
    ),
    ("aws", "aws-prod", "aws-account.yaml", ""),
    ("gcp", "gcp-prod", "gcp-project.yaml", ""),
    ("vercel", "vercel-main", "vercel-team.yaml", ""),
    (
        "supabase",
        "supabase-main",
        "supabase-organisation.yaml",
        "sbp_",
    ),
    ("qdrant", "qdrant-main", "qdrant-account.yaml", ""),
    ("turso", "turso-main", "turso-organisation.yaml", ""),
    ("upstash", "upstash-main", "upstash-account.yaml", ""),
    ("slack", "slack-main", "slack-workspace.yaml", "xoxb-"),
    (
        "betterstack",
        "betterstack-main",
        "betterstack-team.yaml",
        "",
    ),
    (
        "triggerdev",
        "triggerdev-prod",
        "triggerdev-prod.yaml",
        "tr_prod_",
    ),
    ("fleet", "fleet-corp", "fleet-server.yaml", ""),
];

/// The three accounts of each provider, by the path they take.
const ROLES: [&str; 3] = ["accepted", "rejected", "echoed"];

/// `n` random characters of base62 (std only: the hasher's random keys).
fn random(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let state = std::collections::hash_map::RandomState::new();
    (0..n)
        .map(|i| {
            let mut h = state.build_hasher();
            h.write_usize(i);
            ALPHABET[(h.finish() % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

fn hex(n: usize) -> String {
    random(n * 2)
        .bytes()
        .take(n)
        .map(|b| format!("{:x}", b % 16))
        .collect()
}

/// One secret to look for: whose it is, and its secret parts (each searched for on its own).
#[derive(Clone, Debug)]
struct Canary {
    provider: String,
    label: String,
    parts: Vec<String>,
}

/// One account's credential: what the Secret holds, and the canaries in it.
#[derive(Clone, Debug)]
struct Credential {
    value: String,
    canaries: Vec<Canary>,
}

fn credential(provider: &str, prefix: &str, role: &str) -> Credential {
    // Recognisable (`Cnry`, the role, the provider), then the secret part searched for: a
    // window over the tag would match the provider's name in any report.
    let secret = random(32);
    let body = format!("Cnry{}{provider}{secret}", &role[..3]);
    let canary = |label: &str, parts: Vec<String>| Canary {
        provider: provider.to_string(),
        label: format!("{role} {label}"),
        parts,
    };
    match provider {
        "aws" => Credential {
            value: json!({"accessKeyId": AWS_KEY_ID, "secretAccessKey": body}).to_string(),
            canaries: vec![canary("secret access key", vec![secret])],
        },
        "gcp" => {
            let key_id = format!("{}{}", hex(8), hex(32));
            let pem = if role == "rejected" {
                GCP_OTHER_KEY
            } else {
                GCP_KEY
            };
            let value = json!({
                "type": "service_account", "project_id": "acme-prod-123456",
                "private_key_id": key_id, "private_key": pem, "client_email": GCP_SA,
                // Filled in with the emulator's URL once it runs.
                "token_uri": "",
            })
            .to_string();
            Credential {
                value,
                canaries: vec![
                    canary("private_key_id", vec![key_id]),
                    canary("private_key", pem_parts(pem)),
                ],
            }
        }
        "upstash" => Credential {
            value: json!({"email": UPSTASH_EMAIL, "apiKey": body, "keyName": "perimeter"})
                .to_string(),
            // Sent as Basic base64("email:key"): the base64 forms at every alignment find it.
            canaries: vec![canary("API key", vec![secret])],
        },
        _ => Credential {
            value: format!("{prefix}{body}"),
            canaries: vec![canary("token", vec![secret])],
        },
    }
}

/// The secret part of a PEM key: its base64 lines, less the ASN.1 header every RSA key of the
/// size shares (the first 48 characters).
fn pem_parts(pem: &str) -> Vec<String> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    vec![body[48..].to_string()]
}

/// Every form of `part` searched for: as is, percent-encoded, and base64 at each alignment
/// (the characters that depend on the neighbouring bytes left off).
fn forms(part: &str) -> Vec<String> {
    let mut out = vec![
        part.to_string(),
        percent_encoding::utf8_percent_encode(part, percent_encoding::NON_ALPHANUMERIC).to_string(),
    ];
    for engine in [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        for shift in 0..3usize {
            let mut bytes = vec![0u8; shift];
            bytes.extend_from_slice(part.as_bytes());
            let encoded = engine.encode(&bytes);
            let skip = (shift * 8).div_ceil(6);
            let end = encoded.len().saturating_sub(3);
            if end > skip {
                out.push(encoded[skip..end].to_string());
            }
        }
    }
    out
}

/// Windows of every form of every canary, each naming its canary.
struct Needles {
    canaries: Vec<Canary>,
    windows: HashMap<Vec<u8>, usize>,
}

impl Needles {
    fn new(canaries: Vec<Canary>) -> Self {
        let mut windows = HashMap::new();
        for (i, canary) in canaries.iter().enumerate() {
            for part in &canary.parts {
                for form in forms(part) {
                    for w in form.as_bytes().windows(WINDOW) {
                        windows.insert(w.to_vec(), i);
                    }
                }
            }
        }
        Self { canaries, windows }
    }

    /// Occurrences of each canary in `text`: runs of overlapping matching windows.
    fn scan(&self, text: &[u8]) -> BTreeMap<usize, (usize, String)> {
        let mut found: BTreeMap<usize, (usize, String)> = BTreeMap::new();
        let mut last: Option<(usize, usize)> = None;
        for (pos, w) in text.windows(WINDOW).enumerate() {
            let Some(&i) = self.windows.get(w) else {
                continue;
            };
            let continues = last.is_some_and(|(j, at)| j == i && pos <= at + WINDOW);
            last = Some((i, pos));
            if continues {
                continue;
            }
            let entry = found.entry(i).or_insert((0, String::new()));
            entry.0 += 1;
            if entry.1.is_empty() {
                let from = text[..pos]
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |p| p + 1)
                    .max(pos.saturating_sub(200));
                let to = (pos + 200).min(text.len());
                entry.1 = String::from_utf8_lossy(&text[from..to]).into_owned();
            }
        }
        found
    }
}

/// Where the canaries were looked for, and what was found.
#[derive(Default)]
struct Ledger {
    /// (output, its size in bytes)
    outputs: Vec<(String, usize)>,
    /// (provider, canary label, output) → (occurrences, an excerpt)
    leaks: BTreeMap<(String, String, String), (usize, String)>,
}

impl Ledger {
    fn search(&mut self, needles: &Needles, output: &str, text: &[u8]) {
        self.outputs.push((output.to_string(), text.len()));
        for (i, (n, excerpt)) in needles.scan(text) {
            let c = &needles.canaries[i];
            let e = self
                .leaks
                .entry((c.provider.clone(), c.label.clone(), output.to_string()))
                .or_insert((0, excerpt));
            e.0 += n;
        }
    }

    /// The table: every canary, where it was looked for, how often it was found; panics
    /// listing every leak.
    fn assert_clean(&self, needles: &Needles, what: &str) {
        let mut table = format!("secret canary, {what}: where each canary was looked for\n");
        for (i, (output, size)) in self.outputs.iter().enumerate() {
            let _ = writeln!(table, "  [{i}] {output}: {size} bytes");
        }
        let _ = writeln!(
            table,
            "provider     | canary                       | where          | occurrences"
        );
        let everywhere = format!("[0]..[{}]", self.outputs.len().saturating_sub(1));
        for c in &needles.canaries {
            let found: Vec<String> = self
                .outputs
                .iter()
                .enumerate()
                .filter_map(|(i, (output, _))| {
                    let key = (c.provider.clone(), c.label.clone(), output.clone());
                    self.leaks.get(&key).map(|l| format!("{} in [{i}]", l.0))
                })
                .collect();
            let n = if found.is_empty() {
                "0".to_string()
            } else {
                found.join(", ")
            };
            let _ = writeln!(
                table,
                "{:<12} | {:<28} | {everywhere:<14} | {n}",
                c.provider, c.label
            );
        }
        println!("{table}");
        let leaks: Vec<String> = self
            .leaks
            .iter()
            .map(|((p, label, output), (n, excerpt))| {
                format!("{p} {label} in {output}: {n} occurrence(s), e.g.\n    {excerpt}")
            })
            .collect();
        assert!(
            leaks.is_empty(),
            "{} leak(s) of a credential ({what}):\n{}",
            leaks.len(),
            leaks.join("\n")
        );
        // The operator logs to stderr only: an empty stdout is expected.
        let empty: Vec<&String> = self
            .outputs
            .iter()
            .filter(|(output, size)| *size == 0 && !output.contains("stdout"))
            .map(|(output, _)| output)
            .collect();
        assert!(
            empty.is_empty(),
            "outputs with nothing to look at: {empty:?}"
        );
    }
}

/// One emulator serving, kept alive with its faults handle.
struct Emulator {
    url: String,
    _running: RunningEmulator,
    _keep: Box<dyn std::any::Any + Send + Sync>,
}

/// A provider's demo seed with `accepted` as its one good credential.
fn seed_json(provider: &str, file: &str, accepted: &Credential) -> Value {
    let mut seed: Value = support::cli::demo_seed(file);
    let value = accepted.value.clone();
    match provider {
        "cloudflare" | "vercel" | "supabase" | "betterstack" => {
            seed["tokens"] = json!([value]);
        }
        "fleet" => {
            seed["tokens"] = json!([value]);
            // Hosts made in bulk by the demo: not needed here.
            if let Some(m) = seed.as_object_mut() {
                m.remove("generatedHosts");
            }
            for p in seed["policies"].as_array_mut().into_iter().flatten() {
                if p["query"].as_str().unwrap_or_default().is_empty()
                    && let Some(q) = p["name"]
                        .as_str()
                        .and_then(perimeter::providers::fleet::queries::by_name)
                {
                    p["query"] = json!(q.query);
                }
            }
        }
        "qdrant" => seed["keys"][0]["key"] = json!(value),
        "turso" => seed["tokens"][0]["value"] = json!(value),
        "slack" => seed["tokens"][0]["token"] = json!(value),
        "upstash" => {
            let key: Value = serde_json::from_str(&value).expect("upstash credential");
            seed["keys"][0]["key"] = key["apiKey"].clone();
            seed["keys"][0]["email"] = json!(UPSTASH_EMAIL);
        }
        "triggerdev" => {
            let keys = seed["keys"].as_array().cloned().unwrap_or_default();
            let mut keys = keys;
            keys.push(json!({"key": value, "environment": "prod"}));
            seed["keys"] = Value::Array(keys);
        }
        "aws" => {
            let key: Value = serde_json::from_str(&value).expect("aws credential");
            seed["accessKeys"] = json!([{"accessKeyId": AWS_KEY_ID,
                "secretAccessKey": key["secretAccessKey"]}]);
        }
        "gcp" => {
            seed["serviceAccounts"] = json!([{"clientEmail": GCP_SA, "publicKeyPem": GCP_PUB}]);
        }
        other => panic!("no seed for {other}"),
    }
    seed
}

/// Starts `provider`'s emulator from `seed`; with `echo`, every request is answered with an
/// error quoting it back.
async fn start_emulator(provider: &str, seed: Value, echo: bool) -> Emulator {
    use perimeter_emulators as e;
    fn parse<T: serde::de::DeserializeOwned>(seed: Value) -> T {
        serde_json::from_value(seed).expect("seed")
    }
    macro_rules! run {
        ($emulator:expr, $suffix:expr) => {{
            let emulator = $emulator;
            let faults: Faults = emulator.faults().clone();
            if echo {
                faults.inject(FaultRule::new("", Fault::EchoRequest { status: 400 }));
            }
            let running = emulator.start("127.0.0.1:0").await.expect("emulator");
            Emulator {
                url: format!("{}{}", running.base_url(), $suffix),
                _running: running,
                _keep: Box::new(emulator),
            }
        }};
    }
    match provider {
        "cloudflare" => run!(
            e::cloudflare::CloudflareEmulator::new(parse(seed)),
            "/client/v4"
        ),
        "aws" => run!(e::aws::AwsEmulator::new(parse(seed)), ""),
        "gcp" => run!(e::gcp::GcpEmulator::new(parse(seed)), ""),
        "vercel" => run!(e::vercel::VercelEmulator::new(parse(seed)), ""),
        "supabase" => run!(e::supabase::SupabaseEmulator::new(parse(seed)), ""),
        "qdrant" => run!(e::qdrant::QdrantEmulator::new(parse(seed)), ""),
        "turso" => run!(e::turso::TursoEmulator::new(parse(seed)), ""),
        "upstash" => run!(e::upstash::UpstashEmulator::new(parse(seed)), ""),
        "slack" => run!(e::slack::SlackEmulator::new(parse(seed)), "/api"),
        "betterstack" => run!(e::betterstack::BetterstackEmulator::new(parse(seed)), ""),
        "triggerdev" => run!(e::triggerdev::TriggerdevEmulator::new(parse(seed)), ""),
        "fleet" => run!(e::fleet::FleetEmulator::new(parse(seed)), ""),
        other => panic!("no emulator for {other}"),
    }
}

/// Every provider's emulators and accounts, the manifests naming them, and the canaries.
struct World {
    _emulators: Vec<Emulator>,
    /// Manifests in the order they are created (Secrets first).
    objects: Vec<Value>,
    /// Secret name → value (the `check --credentials` file).
    secrets: BTreeMap<String, String>,
    canaries: Vec<Canary>,
}

fn examples(dir: &str) -> Vec<Value> {
    let path = support::repo_root().join("examples").join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&path)
        .expect("examples")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("example");
            perimeter::manifests::yaml_to_json(&text).expect("yaml")
        })
        .collect()
}

fn secret_object(name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": HOME,
            "labels": {"perimeter.dev/credential": "true"}},
        "stringData": {KEY: value}})
}

impl World {
    async fn start() -> Self {
        let mut emulators = Vec::new();
        let mut objects = Vec::new();
        let mut policies = Vec::new();
        let mut secrets = BTreeMap::new();
        let mut canaries = Vec::new();
        for (provider, account, seed_file, prefix) in PROVIDERS {
            let creds: Vec<Credential> = ROLES
                .iter()
                .map(|role| credential(provider, prefix, role))
                .collect();
            let seed = seed_json(provider, seed_file, &creds[0]);
            let main = start_emulator(provider, seed.clone(), false).await;
            let echo = start_emulator(provider, seed, true).await;
            let examples = examples(provider);
            let template = examples
                .iter()
                .find(|o| o["kind"] == "CloudProvider")
                .cloned()
                .expect("a CloudProvider example");
            for (role, cred) in ROLES.iter().zip(&creds) {
                let url = if *role == "echoed" {
                    &echo.url
                } else {
                    &main.url
                };
                let name = if *role == "accepted" {
                    account.to_string()
                } else {
                    format!("{account}-{role}")
                };
                let secret = format!("canary-{provider}-{role}");
                let mut value = cred.value.clone();
                if provider == "gcp" {
                    let mut key: Value = serde_json::from_str(&value).expect("key json");
                    key["token_uri"] = json!(format!("{url}/token"));
                    value = key.to_string();
                }
                secrets.insert(secret.clone(), value.clone());
                objects.push(secret_object(&secret, &value));
                let mut p = template.clone();
                p["metadata"]["name"] = json!(name);
                p["spec"]["endpoint"] = json!(url);
                p["spec"]["credentials"] = json!({"secretRef": {"name": secret, "key": KEY}});
                objects.push(p);
                canaries.extend(cred.canaries.iter().cloned());
                for example in examples.iter().filter(|o| o["kind"] != "CloudProvider") {
                    let mut o = example.clone();
                    if *role != "accepted" {
                        // One policy of each kind per failing account is enough.
                        let kind = o["kind"].as_str().unwrap_or_default().to_string();
                        if o["kind"] == "AddressSet"
                            || policies.contains(&(provider, role.to_string(), kind.clone()))
                        {
                            continue;
                        }
                        policies.push((provider, role.to_string(), kind));
                        let n = o["metadata"]["name"].as_str().unwrap_or_default();
                        o["metadata"]["name"] = json!(format!("{n}-{role}"));
                        o["spec"]["providerRef"]["name"] = json!(name);
                    }
                    objects.push(o);
                }
            }
            emulators.push(main);
            emulators.push(echo);
        }
        // Modal: no API, no credential. Its canary sits in a labelled Secret (and in the
        // credentials file) that nothing may read into an output.
        let modal = random(32);
        let value = format!("Cnryaccmodal{modal}");
        secrets.insert("canary-modal".into(), value.clone());
        objects.push(secret_object("canary-modal", &value));
        canaries.push(Canary {
            provider: "modal".into(),
            label: "unused token".into(),
            parts: vec![modal],
        });
        objects.extend(examples("modal"));
        objects.extend(examples("addresssets"));
        objects.extend(examples("compliance"));
        Self {
            _emulators: emulators,
            objects,
            secrets,
            canaries,
        }
    }

    /// The manifests (no Secrets) in a folder, and the credentials file beside it.
    fn write_folder(&self, dir: &Path) -> std::path::PathBuf {
        let manifests = dir.join("manifests");
        std::fs::create_dir_all(&manifests).expect("dir");
        for (i, o) in self.objects.iter().enumerate() {
            if o["kind"] != "Secret" {
                // JSON is YAML.
                std::fs::write(manifests.join(format!("{i:03}.yaml")), o.to_string())
                    .expect("write manifest");
            }
        }
        let creds: BTreeMap<&str, BTreeMap<&str, &str>> = self
            .secrets
            .iter()
            .map(|(name, value)| (name.as_str(), [(KEY, value.as_str())].into()))
            .collect();
        let file = dir.join("credentials.json");
        std::fs::write(&file, serde_json::to_string(&creds).expect("json")).expect("write");
        manifests
    }
}

/// Runs the binary with `args` (and TRACE logging), in a blocking thread; (stdout, stderr).
async fn perimeter(args: Vec<String>) -> (Vec<u8>, Vec<u8>, i32) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_perimeter"))
            .args(&args)
            .env("RUST_LOG", "trace")
            .env_remove("PERIMETER_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run perimeter");
        (out.stdout, out.stderr, out.status.code().unwrap_or(-1))
    })
    .await
    .expect("join")
}

const TRUST: [&str; 4] = [
    "--allow-endpoint-host",
    "127.0.0.1",
    "--allow-token-host",
    "127.0.0.1",
];

/// `perimeter check` and `perimeter report` over every provider's three accounts.
#[tokio::test(flavor = "multi_thread")]
async fn check_and_report_print_no_credential() {
    let world = World::start().await;
    let needles = Needles::new(world.canaries.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = world.write_folder(dir.path());
    let creds = dir.path().join("credentials.json");
    let evidence = dir.path().join("evidence.json");
    let common = |cmd: &str| -> Vec<String> {
        let mut a: Vec<String> = vec![
            cmd.into(),
            "--manifests".into(),
            manifests.display().to_string(),
            "--credentials".into(),
            creds.display().to_string(),
        ];
        a.extend(TRUST.iter().map(|s| s.to_string()));
        a
    };
    let runs: Vec<(&str, Vec<String>)> = vec![
        ("check (text)", common("check")),
        ("check --output json --stats", {
            let mut a = common("check");
            a.extend(["--output", "json", "--stats"].map(String::from));
            a
        }),
        ("report (markdown)", {
            let mut a = common("report");
            a.extend(["--evidence".into(), evidence.display().to_string()]);
            a
        }),
        ("report --format json", {
            let mut a = common("report");
            a.extend(["--format".into(), "json".into()]);
            a.extend(["--evidence".into(), evidence.display().to_string()]);
            a
        }),
    ];
    let mut ledger = Ledger::default();
    for (what, args) in runs {
        let (stdout, stderr, code) = perimeter(args).await;
        // Failing accounts make the exit code 1; the run must still have reported.
        assert!(
            code == 1 || code == 2,
            "{what} exited {code}:\n{}",
            String::from_utf8_lossy(&stderr)
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
        ledger.search(&needles, &format!("{what} stdout"), &stdout);
        ledger.search(&needles, &format!("{what} stderr (TRACE)"), &stderr);
        if what.starts_with("check --output json") {
            let report: Value = serde_json::from_slice(&stdout).expect("check JSON");
            assert_failing_paths_were_taken(&report);
        }
    }
    let trail = std::fs::read(&evidence).expect("the evidence file");
    ledger.search(&needles, "report --evidence file", &trail);
    ledger.assert_clean(&needles, "check and report");
}

/// The rejected and echoed accounts did fail (else the failure paths were not looked at).
fn assert_failing_paths_were_taken(report: &Value) {
    let providers = report["providers"].as_array().cloned().unwrap_or_default();
    for (_, account, _, _) in PROVIDERS {
        for role in ["rejected", "echoed"] {
            let name = format!("{account}-{role}");
            let p = providers
                .iter()
                .find(|p| p["name"] == name.as_str())
                .unwrap_or_else(|| panic!("{name} is not in the report: {providers:?}"));
            assert!(
                p["readable"] == false,
                "{name} was read with a credential that should fail: {p}"
            );
        }
    }
}

/// Every object the operator keeps status on (and the evidence ConfigMaps) as JSON text.
async fn cluster_state(http: &reqwest::Client, k: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (what, path) in [
        ("CloudProvider status", format!("{GROUP}/cloudproviders")),
        ("FirewallPolicy status", format!("{GROUP}/firewallpolicies")),
        (
            "MonitoringPolicy status",
            format!("{GROUP}/monitoringpolicies"),
        ),
        ("AddressSet status", format!("{GROUP}/addresssets")),
        (
            "ControlAssessment status",
            format!("{GROUP}/controlassessments"),
        ),
        (
            "Events (events.k8s.io)",
            "/apis/events.k8s.io/v1/events".into(),
        ),
        (
            "ConfigMaps (evidence trail)",
            format!("/api/v1/namespaces/{HOME}/configmaps"),
        ),
    ] {
        let body = get_any(http, &format!("{k}{path}")).await;
        let items: Vec<Value> = body["items"].as_array().cloned().unwrap_or_default();
        let text: Vec<String> = items
            .iter()
            .map(|o| {
                if path.contains("events") || path.contains("configmaps") {
                    o.to_string()
                } else {
                    o["status"].to_string()
                }
            })
            .collect();
        out.push((
            format!("{what} ({} objects)", items.len()),
            text.join("\n").into_bytes(),
        ));
    }
    out
}

/// The rejected accounts were refused as such, and the echoed ones were not read (else the
/// failure paths were not looked at). Prints the echoed accounts' messages: what the redaction
/// left of the echo.
async fn assert_operator_failing_paths(http: &reqwest::Client, k: &str) {
    let list = get_any(http, &format!("{k}{GROUP}/cloudproviders")).await;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    for (_, account, _, _) in PROVIDERS {
        for role in ["rejected", "echoed"] {
            let name = format!("{account}-{role}");
            let p = items
                .iter()
                .find(|p| p["metadata"]["name"] == name.as_str())
                .unwrap_or_else(|| panic!("no CloudProvider {name}"));
            let ready = condition(p, "Ready").cloned().unwrap_or_default();
            assert_eq!(ready["status"], "False", "{name}: {ready}");
            if role == "rejected" {
                assert_eq!(ready["reason"], "CredentialsRejected", "{name}: {ready}");
            } else {
                println!("{name}: {} {}", ready["reason"], ready["message"]);
            }
        }
    }
}

fn kube_collection(k: &str, obj: &Value) -> String {
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or(HOME);
    let plural = match obj["kind"].as_str().unwrap_or_default() {
        "Secret" => return format!("{k}/api/v1/namespaces/{ns}/secrets"),
        "ControlAssessment" => return format!("{k}{GROUP}/controlassessments"),
        "CloudProvider" => "cloudproviders",
        "FirewallPolicy" => "firewallpolicies",
        "MonitoringPolicy" => "monitoringpolicies",
        "AddressSet" => "addresssets",
        other => panic!("no collection for {other}"),
    };
    format!("{k}{GROUP}/namespaces/{ns}/{plural}")
}

/// The operator on its own kube emulator until every object has a status; what it printed,
/// stored, sent and served.
async fn operator_outputs(world: &World, json_logs: bool) -> Vec<(String, Vec<u8>)> {
    let kube = tokio::task::spawn_blocking(support::start_kube_emulator)
        .await
        .expect("kube emulator");
    let http = reqwest::Client::new();
    let k = kube.url.clone();
    for o in &world.objects {
        let url = kube_collection(&k, o);
        send(http.post(&url).json(o), &format!("create {url}")).await;
    }
    let seen = get_any(&http, &format!("{k}/_emulator/requests"))
        .await
        .as_array()
        .map_or(0, Vec::len);
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = support::write_kubeconfig(dir.path(), &k, HOME);
    let (stdout, stderr) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let metrics = format!("127.0.0.1:{}", support::free_port());
    let mut args = vec!["--allow-token-host", "127.0.0.1"];
    if json_logs {
        args.push("--log-json");
    }
    let _op = support::kube::operator_with(
        &kubeconfig,
        &metrics,
        &args,
        &[
            ("RUST_LOG", "trace"),
            ("PERIMETER_LOG", ""),
            ("POD_NAMESPACE", HOME),
        ],
        std::fs::File::create(&stdout).expect("stdout file"),
        std::fs::File::create(&stderr).expect("stderr file"),
    );
    let kinds = ["cloudproviders", "firewallpolicies", "monitoringpolicies"];
    wait_within(
        "a Ready condition on every object",
        Duration::from_secs(240),
        async || {
            for kind in kinds {
                let list = get_any(&http, &format!("{k}{GROUP}/{kind}")).await;
                let items = list["items"].as_array()?;
                if items.iter().any(|o| condition(o, "Ready").is_none()) {
                    return None;
                }
            }
            let a = get_any(&http, &format!("{k}{GROUP}/controlassessments")).await;
            a["items"]
                .as_array()?
                .iter()
                .all(|o| !o["status"].is_null())
                .then_some(())
        },
    )
    .await;
    assert_operator_failing_paths(&http, &k).await;
    // Events and the evidence are written after the status; let them land.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut out = cluster_state(&http, &k).await;
    let metrics = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .expect("metrics")
        .bytes()
        .await
        .expect("metrics body");
    out.push(("/metrics".into(), metrics.to_vec()));
    let writes = get_any(&http, &format!("{k}/_emulator/requests?since={seen}")).await;
    out.push((
        "every request the operator sent to the API server".into(),
        writes.to_string().into_bytes(),
    ));
    drop(_op);
    let log = if json_logs { "JSON" } else { "text" };
    out.push((
        format!("operator stdout ({log})"),
        std::fs::read(&stdout).expect("stdout"),
    ));
    out.push((
        format!("operator stderr ({log}, TRACE)"),
        std::fs::read(&stderr).expect("stderr"),
    ));
    out
}

/// The operator over every provider's three accounts, with text and with JSON logs.
#[tokio::test(flavor = "multi_thread")]
async fn the_operator_shows_no_credential_anywhere() {
    let world = World::start().await;
    let needles = Needles::new(world.canaries.clone());
    let (text, json_logs) = tokio::join!(
        operator_outputs(&world, false),
        operator_outputs(&world, true)
    );
    let mut ledger = Ledger::default();
    for (run, outputs) in [("text-log run", &text), ("JSON-log run", &json_logs)] {
        for (output, bytes) in outputs {
            ledger.search(&needles, &format!("{run}: {output}"), bytes);
        }
    }
    ledger.assert_clean(&needles, "operator");
}

/// `perimeter demo --once` at TRACE: the demo's own credentials (built in, or made at start)
/// appear in none of its outputs.
#[cfg(feature = "demo")]
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_prints_none_of_its_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let evidence = dir.path().join("evidence.json");
    let (stdout, stderr, code) = perimeter(vec![
        "demo".into(),
        "--once".into(),
        "--metrics-addr".into(),
        format!("127.0.0.1:{}", support::free_port()),
        "--evidence".into(),
        evidence.display().to_string(),
    ])
    .await;
    assert!(code == 0 || code == 1, "demo exited {code}");
    assert!(
        String::from_utf8_lossy(&stdout).contains("Perimeter demo"),
        "the demo did not run"
    );
    // The built-in values (src/providers/*/demo.rs, examples/demo/), and the shapes of the ones
    // made at start: the generated part is random, so the fixed prefix and 8 characters of
    // the alphabet it is drawn from.
    let fixed = [
        ("aws", "perimeter-demo-secret-not-valid-anywhere"),
        ("cloudflare/vercel", "demo-token"),
        ("fleet", "fleet-demo-api-token"),
        ("qdrant", "qdrant-demo-management-key"),
        ("supabase", "sbp_demo_token"),
        ("turso", "turso_demo_token"),
    ];
    let generated = [
        ("betterstack", r"betterstack-demo-[0-9a-f]{8}"),
        ("slack", r"xoxb-[0-9a-f]{8}"),
        ("triggerdev", r"tr_prod_[0-9a-f]{8}"),
        ("upstash", r"upstash-demo-[0-9a-f-]{8}"),
        ("gcp", r"PRIVATE KEY|MII[A-Za-z0-9+/]{20}"),
    ];
    let mut failures = Vec::new();
    let mut table = String::from("secret canary, demo: provider | secret | output | occurrences\n");
    let trail = std::fs::read(&evidence).unwrap_or_default();
    for (output, bytes) in [
        ("demo stdout", &stdout),
        ("demo stderr (TRACE)", &stderr),
        ("demo evidence file", &trail),
    ] {
        let text = String::from_utf8_lossy(bytes);
        for (provider, value) in fixed {
            let n = forms(value)
                .iter()
                .map(|f| text.matches(f.as_str()).count())
                .sum::<usize>();
            let _ = writeln!(table, "  {provider:<18} | {value:<42} | {output} | {n}");
            if n > 0 {
                failures.push(format!("{provider} {value} in {output}: {n}"));
            }
        }
        for (provider, pattern) in generated {
            let n = regex::Regex::new(pattern)
                .expect("pattern")
                .find_iter(&text)
                .count();
            let _ = writeln!(table, "  {provider:<18} | /{pattern:<40}/ | {output} | {n}");
            if n > 0 {
                failures.push(format!("{provider} /{pattern}/ in {output}: {n}"));
            }
        }
    }
    println!("{table}");
    assert!(
        failures.is_empty(),
        "demo credentials printed:\n{}",
        failures.join("\n")
    );
}

/// The search itself: every form is found, in a larger text and inside a larger base64 blob,
/// and a text without the canary is clean.
#[test]
fn the_search_finds_every_form() {
    let c = credential("supabase", "sbp_", "accepted");
    let body = c.canaries[0].parts[0].clone();
    let needles = Needles::new(c.canaries.clone());
    let blob = base64::engine::general_purpose::STANDARD
        .encode(json!({"token": c.value, "other": 1}).to_string());
    let half = &body[..WINDOW + 2];
    for text in [
        format!("Bearer {}", c.value),
        format!(
            "x={}&y",
            percent_encoding::utf8_percent_encode(&body, percent_encoding::NON_ALPHANUMERIC)
        ),
        format!("data: {blob}"),
        format!("token starts {half}…"),
    ] {
        assert_eq!(
            needles.scan(text.as_bytes()).len(),
            1,
            "not found in {text}"
        );
    }
    let clean = format!("sbp_ and Cnry and {}", &body[..WINDOW - 1]);
    assert!(needles.scan(clean.as_bytes()).is_empty(), "{clean}");
}

/// The table is every provider with a client, in registration order, and Modal is the one
/// without an API: a new provider cannot be left out of the canary.
#[test]
fn the_table_is_every_registered_provider() {
    let registered: Vec<&str> = perimeter::providers::registry::FIELDS
        .iter()
        .map(|(field, _)| *field)
        .collect();
    let table: Vec<&str> = PROVIDERS.iter().map(|p| p.0).collect();
    assert_eq!(table, registered);
    let without: Vec<&str> = perimeter::providers::registry::WITHOUT_API
        .iter()
        .map(|w| w.field)
        .collect();
    assert_eq!(without, ["modal"]);
}
