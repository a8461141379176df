//! The acceptance corpus of issue 8: each file in tests/invalid-manifests/ is a manifest that
//! `kubectl apply --validate=strict` (or the API server) refuses. Its header says why, and each
//! `# expect:` line is text that the refusal must contain (the object and the field, or the
//! document and line where there is no object yet). `perimeter check` must refuse every file
//! with exit code 1 before any provider call, and the validator alone, given the CRDs as
//! PyYAML reads `crds/perimeter.yaml`, must refuse it too.
//!
//! A `# cross-check: jsonschema` line marks a structural case that Python's jsonschema, over
//! the CRD schemas made strict JSON Schema (tests/jsonschema_check.py), must refuse as well.
//!
//! A `# pending:` line marks a case that depends on a change not merged yet: it is run and
//! reported, and fails the test only once it passes (so the marker gets removed).

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use perimeter::manifests::{Catalog, Manifests};
use perimeter::yaml;

#[path = "support/yaml11.rs"]
mod yaml11;

struct Case {
    path: PathBuf,
    expects: Vec<String>,
    pending: Option<String>,
    cross_check: bool,
}

fn corpus() -> Vec<Case> {
    let dir = yaml11::root().join("tests/invalid-manifests");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/invalid-manifests")
        .flatten()
        .map(|e| e.path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            // The header is ASCII even in the file that is not UTF-8.
            let bytes = std::fs::read(&path).expect("corpus file");
            let text = String::from_utf8_lossy(&bytes);
            let header = text.lines().take_while(|l| l.starts_with('#'));
            let mut expects = Vec::new();
            let mut pending = None;
            let mut cross_check = false;
            for line in header {
                cross_check |= line == "# cross-check: jsonschema";
                if let Some(e) = line.strip_prefix("# expect: ") {
                    expects.push(e.to_string());
                } else if let Some(p) = line.strip_prefix("# pending: ") {
                    pending = Some(p.to_string());
                }
            }
            assert!(
                !expects.is_empty(),
                "{}: no `# expect:` line",
                path.display()
            );
            Case {
                path,
                expects,
                pending,
                cross_check,
            }
        })
        .collect()
}

/// The valid CloudProvider beside each corpus file: if validation let anything through, `check`
/// would call this provider, at the counting listener.
const PROVIDER: &str = "apiVersion: perimeter.dev/v1alpha1
kind: CloudProvider
metadata:
  name: cf
  namespace: team-a
spec:
  type: cloudflare
  accountId: 01a7362d577a6c3019a474fd6f485823
  credentials:
    secretRef: {name: cf-token, key: token}
  requestTimeoutSeconds: 2
";

const VALID_POLICY: &str = "apiVersion: perimeter.dev/v1alpha1
kind: FirewallPolicy
metadata:
  name: edge
  namespace: team-a
spec:
  providerRef: {name: cf}
  cloudflare:
    zoneId: 023e105f4ecef8ad9ca31a8372d0c353
    settings: {alwaysUseHttps: 'on'}
";

/// A local "provider" that counts connections and closes them at once.
struct Provider {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl Provider {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                count.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self { port, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

struct Run {
    code: Option<i32>,
    output: String,
}

fn check(dir: &Path, provider: &Provider) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_perimeter"))
        .arg("check")
        .arg("--manifests")
        .arg(dir)
        .arg("--endpoint")
        .arg(format!("cf=http://127.0.0.1:{}", provider.port))
        .env("PERIMETER_SECRET_CF_TOKEN_TOKEN", "test-token")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("perimeter check starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut output = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut output);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut output);
    }
    Run {
        code: status.and_then(|s| s.code()),
        output,
    }
}

fn folder_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).expect("write");
    }
    dir
}

#[test]
fn the_corpus_has_at_least_40_cases() {
    assert!(corpus().len() >= 40, "{} cases", corpus().len());
}

#[test]
fn check_refuses_every_corpus_file_and_calls_no_provider() {
    let provider = Provider::start();
    let mut failures = Vec::new();
    for case in corpus() {
        let name = case
            .path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        let bytes = std::fs::read(&case.path).expect("corpus file");
        let dir = folder_with(&[("00-provider.yaml", PROVIDER.as_bytes()), (&name, &bytes)]);
        let before = provider.connections();
        let run = check(dir.path(), &provider);
        let missing: Vec<&String> = case
            .expects
            .iter()
            .filter(|e| !run.output.contains(e.as_str()))
            .collect();
        let called = provider.connections() - before;
        let ok = run.code == Some(1) && missing.is_empty() && called == 0;
        match (&case.pending, ok) {
            (None, true) => {}
            (Some(why), false) => println!("{name}: pending ({why})"),
            (Some(_), true) => failures.push(format!(
                "{name}: now refused as expected: remove its `# pending:` line"
            )),
            (None, false) => failures.push(format!(
                "{name}: exit {:?}, {called} provider connection(s), missing {missing:?} in:\n{}",
                run.code, run.output
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

const CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: team-a}\ndata: {on: yes}\n";

/// The control: the same setup with a valid policy does reach the provider, so "no
/// connection" above means validation stopped the run. A ConfigMap beside it is reported as
/// ignored, not refused.
#[test]
fn a_valid_folder_reaches_the_provider() {
    let provider = Provider::start();
    let dir = folder_with(&[
        ("00-provider.yaml", PROVIDER.as_bytes()),
        ("10-policy.yaml", VALID_POLICY.as_bytes()),
        ("20-config.yaml", CONFIG_MAP.as_bytes()),
    ]);
    let run = check(dir.path(), &provider);
    assert!(provider.connections() > 0, "{}", run.output);
    assert_eq!(
        run.code,
        Some(1),
        "the provider hung up: unreadable\n{}",
        run.output
    );
    assert!(
        run.output.contains("ignored v1 ConfigMap settings (")
            && run
                .output
                .contains("20-config.yaml document 1): not a Perimeter object"),
        "{}",
        run.output
    );
}

/// The schema half: the validator, given the CRDs as PyYAML reads crds/perimeter.yaml,
/// refuses each file with the same messages.
#[test]
fn the_schema_refuses_every_corpus_file() {
    let catalog = Catalog::from_json(&yaml11::pyyaml_crds());
    let mut failures = Vec::new();
    for case in corpus() {
        let origin = case.path.display().to_string();
        let refusal = match yaml::read_file(&case.path, &yaml::LIMITS) {
            Err(e) => format!("{origin} ({}): {}", location(e.document, e.line), e.message),
            Ok(text) => match Manifests::default().add_yaml_with(&catalog, &origin, &text) {
                Err(e) => e.to_string(),
                Ok(()) => String::new(),
            },
        };
        let missing: Vec<&String> = case
            .expects
            .iter()
            .filter(|e| !refusal.contains(e.as_str()))
            .collect();
        let ok = !refusal.is_empty() && missing.is_empty();
        match (&case.pending, ok) {
            (None, true) | (Some(_), false) => {}
            (Some(_), true) => failures.push(format!("{origin}: remove its `# pending:` line")),
            (None, false) => failures.push(format!("{origin}: missing {missing:?} in {refusal:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn location(document: Option<usize>, line: Option<usize>) -> String {
    match (document, line) {
        (Some(d), Some(l)) => format!("document {d}, line {l}"),
        (None, Some(l)) => format!("line {l}"),
        (Some(d), None) => format!("document {d}"),
        (None, None) => String::new(),
    }
}

/// Inputs too large to keep in the repository, made here: a 5 MiB file is refused by size
/// (read no further than the cap, see `yaml::read_file`), and a 100 000-item list by the
/// schema's maxItems, naming the field.
#[test]
fn big_inputs_are_refused_before_any_provider_call() {
    let provider = Provider::start();
    let mut big = String::from("# padding\n");
    while big.len() < 5 << 20 {
        big.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    big.push_str(VALID_POLICY);
    let items = vec!["ip.src"; 100_000].join(", ");
    let long_list = format!(
        "apiVersion: perimeter.dev/v1alpha1\nkind: FirewallPolicy\nmetadata: {{name: edge, namespace: team-a}}\nspec:\n  providerRef: {{name: cf}}\n  cloudflare:\n    zoneId: 023e105f4ecef8ad9ca31a8372d0c353\n    rateLimitRules:\n      - ref: login\n        expression: 'true'\n        action: block\n        period: 60\n        requestsPerPeriod: 10\n        mitigationTimeout: 600\n        characteristics: [{items}]\n"
    );
    let cases: [(&str, String, &[&str]); 2] = [
        ("five-mib.yaml", big, &["larger than 4194304 bytes"]),
        (
            "long-list.yaml",
            long_list,
            &[
                "FirewallPolicy team-a/edge: spec.cloudflare.rateLimitRules[0].characteristics: Too many: 100000: must have at most 10 items",
            ],
        ),
    ];
    for (name, text, expects) in cases {
        let dir = folder_with(&[
            ("00-provider.yaml", PROVIDER.as_bytes()),
            (name, text.as_bytes()),
        ]);
        let run = check(dir.path(), &provider);
        assert_eq!(run.code, Some(1), "{name}: {}", run.output);
        for e in expects {
            assert!(
                run.output.contains(e),
                "{name}: {e:?} not in {}",
                run.output
            );
        }
        assert_eq!(provider.connections(), 0, "{name}");
    }
}

/// An independent check of the structural half: Python's jsonschema, over the CRD schemas of
/// crds/perimeter.yaml made strict JSON Schema, refuses every structural case and accepts every
/// example (so the conversion does not refuse everything).
#[test]
fn python_jsonschema_also_refuses_the_structural_cases() {
    let root = yaml11::root();
    let cases: Vec<PathBuf> = corpus()
        .into_iter()
        .filter(|c| c.cross_check)
        .map(|c| c.path)
        .collect();
    assert!(cases.len() >= 25, "{} cross-checked cases", cases.len());
    let examples: Vec<PathBuf> = yaml11::yaml_files(&root.join("examples"))
        .into_iter()
        .filter(|p| {
            !p.starts_with(root.join("examples/demo"))
                && !p.starts_with(root.join("examples/alertmanager"))
        })
        .collect();
    let out = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/jsonschema_check.py"))
        .arg(root.join("crds/perimeter.yaml"))
        .args(&cases)
        .args(&examples)
        .output()
        .expect("python (run scripts/setup)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let errors: std::collections::BTreeMap<PathBuf, Vec<String>> =
        serde_json::from_slice(&out.stdout).expect("json");
    for case in &cases {
        assert!(
            !errors[case].is_empty(),
            "jsonschema accepts {}",
            case.display()
        );
    }
    assert!(examples.len() >= 10);
    for example in &examples {
        assert!(
            errors[example].is_empty(),
            "{}: {:?}",
            example.display(),
            errors[example]
        );
    }
}
