//! Every query of the Grafana dashboard (`charts/perimeter/dashboards/perimeter.json`) returns
//! data from a real Prometheus that scraped `perimeter demo`.
//!
//! Starts `perimeter demo` in loop mode and Debian's `prometheus` (installed by
//! `scripts/setup`) on free 127.0.0.1 ports with a 1 s scrape interval and a temporary TSDB,
//! substitutes the Grafana variables, runs each panel target and each template variable's
//! `label_values()` through `/api/v1/query`, and names every query that returns no series.
//! Both processes are killed by pid when the test ends. Needs the `demo` feature.
#![cfg(feature = "demo")]

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Metrics the dashboard may use before the code exporting them is merged (a branch built in
/// parallel). Queries using them must return NO data, and the test fails when one does, so the
/// list is emptied on merge. Empty: every query must return data.
const EXPECTED_MISSING_UNTIL_MERGED: &[&str] = &[];

/// Providers whose client never writes (Trigger.dev: nothing it reads is configuration), so
/// the panels of changes applied are rightly empty for them.
const READ_ONLY_PROVIDERS: &[&str] = &["triggerdev"];

/// Providers that list their boundary assets (`Provider::inventory`): the coverage panels
/// (`perimeter_assets`) are rightly empty for the others. Checked against the demo below, so
/// a provider that starts listing its assets must be added here.
const INVENTORY_PROVIDERS: &[&str] = &[
    "cloudflare",
    "aws",
    "gcp",
    "vercel",
    "supabase",
    "upstash",
    "qdrant",
    "turso",
    // Its assets are the other accounts' public hostnames (`Provider::monitored_hosts`).
    "betterstack",
    // Its hosts, counted by the check that runs on them.
    "fleet",
];

/// How long the demo is given to produce every series (passes every 2 s, scrapes every 1 s).
const DEADLINE: Duration = Duration::from_secs(90);

/// Kills the process by pid when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One query to check: where it comes from and the PromQL after substitution.
#[derive(Debug)]
struct Query {
    origin: String,
    expr: String,
    /// The expression before substitution (to substitute one provider into `$provider`).
    raw: String,
}

/// Grafana's variables as the test substitutes them: multi-value variables with "All" become
/// the `.*` regex they are configured with; intervals get values that fit a 1 s scrape.
fn substitute(expr: &str) -> String {
    substitute_provider(expr, ".*")
}

/// As [`substitute`], with `$provider` set to one value (a provider type, or `.*` for All).
fn substitute_provider(expr: &str, provider: &str) -> String {
    let mut out = expr
        .replace("${provider}", provider)
        .replace("$provider", provider);
    for (from, to) in [
        ("$__rate_interval", "30s"),
        ("${__rate_interval}", "30s"),
        ("$__interval", "15s"),
        ("${__interval}", "15s"),
        ("$__range", "1m"),
        ("${__range}", "1m"),
    ] {
        out = out.replace(from, to);
    }
    for var in ["provider", "namespace", "assessment"] {
        out = out.replace(&format!("${{{var}}}"), ".*");
        out = out.replace(&format!("${var}"), ".*");
    }
    out
}

fn collect_targets(panels: &[Value], out: &mut Vec<Query>) {
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or("?");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or_default();
            assert!(
                !expr.is_empty(),
                "panel {title:?} has a target without expr"
            );
            out.push(Query {
                origin: format!(
                    "panel {title:?} target {}",
                    target["refId"].as_str().unwrap_or("?")
                ),
                expr: substitute(expr),
                raw: expr.to_string(),
            });
        }
        if let Some(nested) = panel["panels"].as_array() {
            collect_targets(nested, out);
        }
    }
}

/// `label_values(metric{...}, label)` → `count by (label) (metric{...})`.
fn label_values_query(q: &str) -> Option<String> {
    let inner = q.trim().strip_prefix("label_values(")?.strip_suffix(')')?;
    let (metric, label) = inner.rsplit_once(',')?;
    Some(format!("count by ({}) ({})", label.trim(), metric.trim()))
}

fn dashboard_queries(path: &Path) -> Vec<Query> {
    let text = std::fs::read_to_string(path).expect("read the dashboard");
    let dash: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut out = Vec::new();
    collect_targets(dash["panels"].as_array().expect("panels"), &mut out);
    for var in dash["templating"]["list"].as_array().into_iter().flatten() {
        if var["type"] != "query" {
            continue;
        }
        let name = var["name"].as_str().unwrap_or("?");
        let q = var["query"]["query"]
            .as_str()
            .or_else(|| var["query"].as_str())
            .unwrap_or_default();
        let expr = label_values_query(q)
            .unwrap_or_else(|| panic!("variable {name}: unsupported query {q:?}"));
        out.push(Query {
            origin: format!("variable ${name}"),
            expr: substitute(&expr),
            raw: expr.clone(),
        });
    }
    out
}

fn expected_missing(expr: &str) -> bool {
    EXPECTED_MISSING_UNTIL_MERGED
        .iter()
        .any(|metric| expr.contains(metric))
}

/// Number of series the instant query returns.
async fn series(client: &reqwest::Client, prometheus: &str, expr: &str) -> Result<usize, String> {
    let resp = client
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body: Value = resp.json().await.map_err(|e| e.to_string())?;
    if body["status"] != "success" {
        return Err(format!("query failed: {body}"));
    }
    Ok(body["data"]["result"].as_array().map_or(0, Vec::len))
}

fn start_demo(port: u16) -> Killed {
    let child = Command::new(env!("CARGO_BIN_EXE_perimeter"))
        .args(["demo", "--metrics-addr", &format!("127.0.0.1:{port}")])
        .args(["--interval", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn perimeter demo");
    Killed(child)
}

fn start_prometheus(dir: &Path, port: u16, target_port: u16) -> Killed {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: perimeter\n    honor_labels: true\n    \
             static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
        ),
    )
    .expect("write prometheus.yml");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("prometheus is missing ({e}): run scripts/setup first"));
    Killed(child)
}

#[test]
fn substitution_and_label_values() {
    assert_eq!(
        substitute(
            r#"rate(x{provider=~"$provider", namespace=~"${namespace}"}[$__rate_interval])"#
        ),
        r#"rate(x{provider=~".*", namespace=~".*"}[30s])"#
    );
    assert_eq!(
        label_values_query(r#"label_values(m{provider=~"$provider"}, namespace)"#).as_deref(),
        Some(r#"count by (namespace) (m{provider=~"$provider"})"#)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_dashboard_query_returns_data_from_the_demo() {
    let root = support::repo_root();
    let queries = dashboard_queries(&root.join("charts/perimeter/dashboards/perimeter.json"));
    assert!(queries.len() >= 20, "only {} queries found", queries.len());
    // Every listed metric is used by the dashboard (a stale entry would hide nothing).
    for metric in EXPECTED_MISSING_UNTIL_MERGED {
        assert!(
            queries.iter().any(|q| q.expr.contains(metric)),
            "{metric} is listed as expected-missing but no dashboard query uses it"
        );
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let demo_port = support::free_port();
    let _demo = start_demo(demo_port);
    let prom_port = support::free_port();
    let _prometheus = start_prometheus(dir.path(), prom_port, demo_port);
    let prometheus = format!("http://127.0.0.1:{prom_port}");
    let client = reqwest::Client::new();

    // Poll until every query that should have data has it (or the deadline passes).
    let started = Instant::now();
    let mut missing: Vec<&Query>;
    let mut errors: Vec<String>;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        missing = Vec::new();
        errors = Vec::new();
        for q in &queries {
            match series(&client, &prometheus, &q.expr).await {
                Ok(0) => missing.push(q),
                Ok(_) => {}
                Err(e) => errors.push(format!("{}: {e}\n    {}", q.origin, q.expr)),
            }
        }
        let unexpected = missing
            .iter()
            .filter(|q| !expected_missing(&q.expr))
            .count();
        // Counter rates need a few scrapes of a changing counter: give it at least 15 s.
        if (unexpected == 0 && errors.is_empty() && started.elapsed() > Duration::from_secs(15))
            || started.elapsed() > DEADLINE
        {
            break;
        }
    }
    assert!(
        errors.is_empty(),
        "queries Prometheus rejected:\n  {}",
        errors.join("\n  ")
    );
    let unexpected: Vec<String> = missing
        .iter()
        .filter(|q| !expected_missing(&q.expr))
        .map(|q| format!("{}: {}", q.origin, q.expr))
        .collect();
    assert!(
        unexpected.is_empty(),
        "dashboard queries without data after {:?}:\n  {}",
        started.elapsed(),
        unexpected.join("\n  ")
    );
    // The expected-missing list must not hide queries that now have data.
    let missing_exprs: BTreeSet<&str> = missing.iter().map(|q| q.expr.as_str()).collect();
    let now_present: Vec<String> = queries
        .iter()
        .filter(|q| expected_missing(&q.expr) && !missing_exprs.contains(q.expr.as_str()))
        .map(|q| format!("{}: {}", q.origin, q.expr))
        .collect();
    assert!(
        now_present.is_empty(),
        "these queries return data now: remove their metric from EXPECTED_MISSING_UNTIL_MERGED \
         in tests/dashboard.rs:\n  {}",
        now_present.join("\n  ")
    );
    // The provider variable set to each provider in turn: every panel that filters on it shows
    // that provider. The demo has an account of every registered type. The demo's passes go
    // through the accounts one after the other, so a provider's first changes may land after
    // the aggregate queries had data: poll each blank panel until it shows or the deadline.
    // Panels that show only what is active now (`> 0`, or `perimeter_findings`, which has a
    // series only for a finding a policy has) may rightly be empty for one provider; every
    // other panel must show it.
    let per_provider_panels: Vec<&Query> = queries
        .iter()
        .filter(|q| {
            (q.raw.contains("$provider") || q.raw.contains("${provider}"))
                && !q.raw.trim_end().ends_with("> 0")
                && !q.raw.contains("perimeter_findings")
        })
        .collect();
    let mut pending: Vec<(&'static str, &Query)> = perimeter::providers::registry::REGISTERED
        .iter()
        .flat_map(|p| per_provider_panels.iter().map(move |q| (p.as_str(), *q)))
        .filter(|(name, q)| {
            let expr = substitute_provider(&q.raw, name);
            // A provider Perimeter never writes to has no changes to show.
            let read_only = READ_ONLY_PROVIDERS.contains(name)
                && expr.contains("perimeter_changes_applied_total");
            let no_inventory =
                !INVENTORY_PROVIDERS.contains(name) && expr.contains("perimeter_assets");
            !expected_missing(&expr) && !read_only && !no_inventory
        })
        .collect();
    let total_per_provider = pending.len();
    let polled = Instant::now();
    let mut blank = Vec::new();
    loop {
        blank.clear();
        let mut still = Vec::new();
        for (name, q) in pending {
            let expr = substitute_provider(&q.raw, name);
            match series(&client, &prometheus, &expr).await {
                Ok(0) => {
                    blank.push(format!("{name}: {}: {expr}", q.origin));
                    still.push((name, q));
                }
                Ok(_) => {}
                Err(e) => {
                    blank.push(format!("{name}: {}: {e}", q.origin));
                    still.push((name, q));
                }
            }
        }
        pending = still;
        if pending.is_empty() || polled.elapsed() > DEADLINE {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(
        blank.is_empty(),
        "panels without data for one provider after {:?}:\n  {}",
        polled.elapsed(),
        blank.join("\n  ")
    );
    eprintln!(
        "dashboard per provider: {total_per_provider} panel queries over {} providers all \
         showed data, the last after {:?}",
        perimeter::providers::registry::REGISTERED.len(),
        polled.elapsed()
    );
    // The providers with asset series are exactly those listed as having an inventory.
    let with_assets = client
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", "count by (provider) (perimeter_assets)")])
        .send()
        .await
        .expect("query");
    let body: Value = with_assets.json().await.expect("json");
    let mut found: Vec<&str> = body["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["metric"]["provider"].as_str())
        .collect();
    found.sort_unstable();
    let mut listed = INVENTORY_PROVIDERS.to_vec();
    listed.sort_unstable();
    assert_eq!(found, listed, "INVENTORY_PROVIDERS is stale");
    let checked = queries.len() - missing.len();
    eprintln!(
        "dashboard: {checked} of {} queries returned data; {} expected missing",
        queries.len(),
        missing.len()
    );
}
