//! Helpers shared by integration tests (`mod support;`): start the Kubernetes API emulator
//! and a validating Prism mock as child processes, killed when their handle drops.
//!
//! Standard library only, but for [`kube`] (the end-to-end helpers over HTTP). The tools come
//! from `scripts/setup`: `.venv/` (kmock emulator) and `node_modules/` (Prism); each start
//! panics with "run scripts/setup first" when missing.

// Each test binary compiles its own copy of this module and uses only part of it.
#![allow(dead_code)]

pub mod calls;
pub mod cells;
pub mod cli;
pub mod kube;

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The workspace root (this crate's manifest directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Writes a kubeconfig for an API server without auth (the kube emulator) with `namespace` as
/// the context's default, and returns its path.
pub fn write_kubeconfig(dir: &Path, server: &str, namespace: &str) -> PathBuf {
    kubeconfig_file(&dir.join("kubeconfig"), server, namespace, "{}")
}

/// [`write_kubeconfig`] for the client `user`: it sends `user` as its bearer token, which the
/// kube emulator records as the request's `user` (it has no authentication), so a test can
/// tell several operator processes apart in the request log. Written to `kubeconfig-USER`.
pub fn write_kubeconfig_as(dir: &Path, server: &str, namespace: &str, user: &str) -> PathBuf {
    let path = dir.join(format!("kubeconfig-{user}"));
    kubeconfig_file(&path, server, namespace, &format!("{{token: {user}}}"))
}

fn kubeconfig_file(path: &Path, server: &str, namespace: &str, user: &str) -> PathBuf {
    fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: e, cluster: {{server: \"{server}\"}}}}]\nusers: [{{name: u, user: {user}}}]\ncontexts: [{{name: c, context: {{cluster: e, user: u, namespace: {namespace}}}}}]\ncurrent-context: c\n"
        ),
    )
    .expect("kubeconfig");
    path.to_path_buf()
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

fn tool(relative: &str) -> PathBuf {
    let path = repo_root().join(relative);
    if !path.exists() {
        panic!(
            "{} is missing: run scripts/setup first (it installs the test tools into the clone)",
            path.display()
        );
    }
    path
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A server running as a child process; killed on drop.
pub struct ChildServer {
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    child: Child,
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// Starts `tests/kube-emulator/server.py` on a free port and waits (up to 20 s) for its
/// `READY <url>` line. The emulator's stderr goes to the test's stderr.
pub fn start_kube_emulator() -> ChildServer {
    let python = tool(".venv/bin/python");
    let mut child = Command::new(python)
        .arg(repo_root().join("tests/kube-emulator/server.py"))
        .args(["--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the kube emulator");

    // Read stdout on a thread so the wait can time out; it keeps draining the pipe afterwards.
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("READY ") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(url) => ChildServer { url, child },
        Err(_) => {
            kill(&mut child);
            panic!("the kube emulator did not print READY within 20 s (see its stderr above)");
        }
    }
}

/// Prism (`prism mock`) validating requests against an OpenAPI spec; killed on drop.
pub struct PrismServer {
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    child: Child,
    dir: PathBuf,
    log: PathBuf,
}

const VALIDATOR_ERROR: &str = "[VALIDATOR] ✖";
const HTTP_SERVER_ERROR: &str = "Request terminated with error";

impl PrismServer {
    /// The log's current length in bytes: pass it to `violations_since` after a request.
    pub fn log_len(&self) -> usize {
        self.settle();
        fs::metadata(&self.log)
            .map(|m| m.len() as usize)
            .unwrap_or(0)
    }

    /// `[VALIDATOR] ✖ error` lines about *requests* logged after `offset` (from `log_len`).
    /// Prism also validates its own generated responses ("Violation: response…"); those say
    /// nothing about our client and are left out. One bad request yields several lines
    /// (one per `oneOf` branch, and each again as "Violation: request…").
    pub fn violations_since(&self, offset: usize) -> Vec<String> {
        self.lines_since(offset)
            .into_iter()
            .filter(|line| line.contains(VALIDATOR_ERROR) && !line.contains("Violation: response"))
            .collect()
    }

    /// `[VALIDATOR] ✖` lines about *answers* ("Violation: response…") logged after `offset`:
    /// in proxy mode ([`start_prism_proxy`]) they are the emulator's answers that break the spec.
    pub fn answer_violations_since(&self, offset: usize) -> Vec<String> {
        self.lines_since(offset)
            .into_iter()
            .filter(|line| line.contains(VALIDATOR_ERROR) && line.contains("Violation: response"))
            .collect()
    }

    /// Requests Prism could not route at all (no such path or method in the spec, e.g.
    /// NO_PATH_MATCHED_ERROR): not `[VALIDATOR]` lines, but a conformance failure all the same.
    pub fn server_errors_since(&self, offset: usize) -> Vec<String> {
        self.lines_since(offset)
            .into_iter()
            .filter(|line| line.contains("[HTTP SERVER]") && line.contains(HTTP_SERVER_ERROR))
            .collect()
    }

    /// How many requests Prism received after `offset` (its `Request received` lines).
    pub fn lines_since_count(&self, offset: usize) -> usize {
        self.lines_since(offset)
            .iter()
            .filter(|line| line.contains("[HTTP SERVER]") && line.contains("Request received"))
            .count()
    }

    /// The whole log, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn lines_since(&self, offset: usize) -> Vec<String> {
        self.settle();
        let mut text = Vec::new();
        if let Ok(mut file) = File::open(&self.log) {
            let _ = file.seek(SeekFrom::Start(offset as u64));
            let _ = file.read_to_end(&mut text);
        }
        String::from_utf8_lossy(&text)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Prism logs through an in-process stream, possibly just after it answers: wait until the
    /// log stops growing (50 ms apart, at most 2 s) so a request's lines are all there.
    fn settle(&self) {
        let size = || fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut last = size();
        loop {
            thread::sleep(Duration::from_millis(50));
            let now = size();
            if now == last || Instant::now() > deadline {
                return;
            }
            last = now;
        }
    }
}

impl PrismServer {
    /// Panics when a request or an answer exchanged after `offset` breaks the spec, or a
    /// request could not be routed (proxy mode), with the Prism log; returns how many
    /// exchanges were checked.
    pub fn assert_exchanges_conform_since(&self, offset: usize) -> usize {
        let answers = self.answer_violations_since(offset);
        let requests = self.violations_since(offset);
        let unrouted = self.server_errors_since(offset);
        assert!(
            answers.is_empty() && requests.is_empty() && unrouted.is_empty(),
            "answers (or requests) that break the official spec:\n{}\n\nPrism log:\n{}",
            answers
                .iter()
                .chain(&requests)
                .chain(&unrouted)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n"),
            self.log()
        );
        self.lines_since_count(offset)
    }
}

/// The requests a client sent through Prism, grouped by what sent them (`verify`, `observe
/// …`, a change), and every violation: a request the spec rejects, one Prism could not route,
/// or a step that sent nothing.
#[derive(Debug, Default)]
pub struct RequestLedger {
    pub checked: std::collections::BTreeMap<String, usize>,
    pub failures: Vec<String>,
    /// Requests to paths the spec does not have, set aside by [`RequestLedger::outside_spec`].
    pub uncovered: Vec<String>,
    outside: Option<fn(&str) -> bool>,
    quirk: Option<fn(&str) -> bool>,
}

impl RequestLedger {
    /// A ledger that sets aside (in `uncovered`) the unroutable requests `is_outside` says
    /// are known to be missing from the spec, instead of failing on them.
    pub fn outside_spec(is_outside: fn(&str) -> bool) -> Self {
        Self {
            outside: Some(is_outside),
            ..Self::default()
        }
    }

    /// A ledger that passes over the violation lines `is_quirk` says come from a known fault
    /// of the spec itself (each listed, with its source, next to the test that uses it).
    pub fn with_spec_quirks(is_quirk: fn(&str) -> bool) -> Self {
        Self {
            quirk: Some(is_quirk),
            ..Self::default()
        }
    }

    /// Judges the requests Prism logged after `offset` as `what`'s.
    pub fn record(&mut self, what: impl Into<String>, offset: usize, prism: &PrismServer) {
        let what = what.into();
        let quirk = self.quirk;
        let violations: Vec<String> = prism
            .violations_since(offset)
            .into_iter()
            .filter(|line| !quirk.is_some_and(|f| f(line)))
            .collect();
        let unrouted = prism.server_errors_since(offset);
        let requests = prism.lines_since_count(offset);
        if requests == 0 {
            self.failures
                .push(format!("{what}: no request reached Prism"));
        }
        let outside = self.outside;
        let (set_aside, unrouted): (Vec<String>, Vec<String>) = unrouted
            .into_iter()
            .partition(|line| outside.is_some_and(|f| f(line)));
        if !violations.is_empty() || !unrouted.is_empty() {
            self.failures.push(format!(
                "{what}:\n  {}",
                violations
                    .iter()
                    .chain(&unrouted)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n  ")
            ));
        }
        self.uncovered.extend(set_aside);
        *self.checked.entry(what).or_default() += requests;
    }

    /// All requests recorded.
    pub fn total(&self) -> usize {
        self.checked.values().sum()
    }

    /// Panics naming every violation, with the Prism log.
    pub fn assert_clean(&self, prism: &PrismServer) {
        assert!(
            self.failures.is_empty(),
            "requests that violate the official spec:\n{}\n\nPrism log:\n{}",
            self.failures.join("\n"),
            prism.log()
        );
    }
}

impl Drop for PrismServer {
    fn drop(&mut self) {
        kill(&mut self.child);
        if thread::panicking() {
            eprintln!("Prism log kept for the failed test: {}", self.log.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Starts Prism on a copy of `spec` fixed by `scripts/fix-openapi-for-prism.py` (read-only
/// properties taken out of `required`, see CONFORMANCE.md) and waits (up to 60 s) until its
/// port answers. Requests need the spec's credentials (e.g. any `Authorization: Bearer` token)
/// or Prism answers 401.
pub fn start_prism(spec: &Path) -> PrismServer {
    run_prism(spec, None)
}

/// Starts Prism as a proxy in front of `upstream` (an emulator): it validates each request,
/// forwards it, and validates the emulator's answer against the spec
/// ([`PrismServer::answer_violations_since`]). Same fixed copy and wait as [`start_prism`].
pub fn start_prism_proxy(spec: &Path, upstream: &str) -> PrismServer {
    run_prism(spec, Some(upstream))
}

fn run_prism(spec: &Path, upstream: Option<&str>) -> PrismServer {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let prism = tool("node_modules/.bin/prism");
    let python = tool(".venv/bin/python");
    let dir = std::env::temp_dir().join(format!(
        "perimeter-prism-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    fs::create_dir_all(&dir).expect("create Prism temp dir");
    let fixed = dir.join("spec.json");
    let out = Command::new(python)
        .arg(repo_root().join("scripts/fix-openapi-for-prism.py"))
        .arg(spec)
        .arg(&fixed)
        .output()
        .expect("run scripts/fix-openapi-for-prism.py");
    assert!(
        out.status.success(),
        "fix-openapi-for-prism.py failed on {}: {}",
        spec.display(),
        String::from_utf8_lossy(&out.stderr)
    );

    let port = free_port();
    let log = dir.join("prism.log");
    let log_file = File::create(&log).expect("create Prism log");
    let mut command = Command::new(prism);
    match upstream {
        None => command
            .args(["mock", "-h", "127.0.0.1", "-p", &port.to_string()])
            .arg(&fixed),
        Some(url) => command
            .args(["proxy", "-h", "127.0.0.1", "-p", &port.to_string()])
            .arg(&fixed)
            .arg(url),
    };
    let mut child = command
        .env("FORCE_COLOR", "0") // plain log lines, whatever CI variables say
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("clone log handle"))
        .stderr(log_file)
        .spawn()
        .expect("spawn Prism");

    // Prism opens its port only once the spec is loaded.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "Prism exited ({status}) before listening; log:\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        }
        if Instant::now() > deadline {
            kill(&mut child);
            panic!(
                "Prism did not listen on port {port} within 60 s; log:\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
    PrismServer {
        url: format!("http://127.0.0.1:{port}"),
        child,
        dir,
        log,
    }
}

/// A moto server (the AWS emulator, `moto[server]` pinned in tests/requirements.txt) on a free
/// loopback port; every AWS service answers on the same base URL. Killed on drop.
pub fn start_moto() -> ChildServer {
    let server = tool(".venv/bin/moto_server");
    let port = free_port();
    let mut child = Command::new(server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn moto_server");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return ChildServer {
                url: format!("http://127.0.0.1:{port}"),
                child,
            };
        }
        thread::sleep(Duration::from_millis(100));
    }
    kill(&mut child);
    panic!("moto_server did not listen on port {port} within 30 s");
}
