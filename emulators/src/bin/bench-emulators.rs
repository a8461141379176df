//! Every provider emulator `scripts/bench-fleet` needs, in a process of their own (so the
//! operator's CPU is measured apart from theirs).
//!
//! Usage: `bench-emulators SEEDS.json`, where the file is a list of
//! `{"provider": "cloudflare", "seed": {...}}`: one emulator per entry (one provider account),
//! seeded with the provider's own seed document (the shape `examples/demo/` uses). None of them
//! throttles (an emulator only does when a test asks it to), so the bench measures Perimeter,
//! not the emulators.
//!
//! As in production, where every account of a provider calls the provider's one API host, a
//! provider's accounts share one loopback port, each under a path of its own (`/a0`, `/a1`, …),
//! so the operator can keep one pool of connections per provider. AWS accounts each have a port
//! of their own: Perimeter's AWS clients (the AWS SDK's) keep connections per account anyway.
//!
//! Prints one JSON line once every emulator listens: `{"urls": [...], "control": URL}`, the
//! base URLs in the order of the file. `GET {control}/counts` answers
//! `[{"calls": N, "writes": N}, ...]` in the same order (the emulators' request logs: every
//! request, and those that may change state). Runs until stdin closes or it is killed.

use std::collections::BTreeMap;
use std::process::ExitCode;

use axum::Router;
use axum::routing::get;
use perimeter_emulators::server::{RecordedRequest, RequestLog, serve};
use perimeter_emulators::{
    aws, betterstack, cloudflare, fleet, gcp, qdrant, slack, supabase, triggerdev, turso, upstash,
    vercel,
};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Entry {
    provider: String,
    seed: Value,
}

/// Whether a request of this emulator's log may change state.
type IsWrite = fn(&RecordedRequest) -> bool;

/// One account's emulator: its app, its log, and which of its requests are writes.
struct Built {
    provider: String,
    router: Router,
    log: RequestLog,
    is_write: IsWrite,
}

/// AWS's query and JSON protocols send every call as a POST to `/<service>/<Operation>`: the
/// emulator's own rule (`aws::is_write`) tells the reads by the operation's name.
fn aws_write(e: &RecordedRequest) -> bool {
    aws::is_write(e.path.rsplit('/').next().unwrap_or_default())
}

fn parse<T: serde::de::DeserializeOwned>(provider: &str, seed: Value) -> Result<T, String> {
    serde_json::from_value(seed).map_err(|e| format!("{provider} seed: {e}"))
}

fn build(entry: Entry) -> Result<Built, String> {
    let p = entry.provider.as_str();
    let default: IsWrite = RecordedRequest::may_write;
    let (router, log, is_write): (Router, RequestLog, IsWrite) = match p {
        "aws" => {
            let e = aws::AwsEmulator::new(parse(p, entry.seed)?);
            (e.router(), e.log().clone(), aws_write)
        }
        "betterstack" => {
            let e = betterstack::BetterstackEmulator::new(parse(p, entry.seed)?);
            (e.router(), e.log(), default)
        }
        "cloudflare" => {
            let e = cloudflare::CloudflareEmulator::new(parse(p, entry.seed)?);
            (e.router(), e.log(), default)
        }
        "fleet" => {
            let e = fleet::FleetEmulator::new(parse(p, entry.seed)?);
            (e.router(), e.log(), default)
        }
        "gcp" => {
            let e = gcp::GcpEmulator::new(parse(p, entry.seed)?);
            (e.router(), e.log().clone(), default)
        }
        "qdrant" => {
            let e = qdrant::QdrantEmulator::new(parse(p, entry.seed)?);
            (e.router(), e.log(), default)
        }
        "slack" => {
            let e = slack::SlackEmulator::new(parse(p, entry.seed)?);
            (e.router(), e.log(), default)
        }
        "supabase" => {
            let e = supabase::SupabaseEmulator::new(parse(p, entry.seed)?);
            (e.router(), e.log(), default)
        }
        "triggerdev" => {
            let e = triggerdev::TriggerdevEmulator::new(parse(p, entry.seed)?);
            (e.router(), e.log(), default)
        }
        "turso" => {
            let e = turso::TursoEmulator::new(parse(p, entry.seed)?);
            (e.router(), e.log(), default)
        }
        "upstash" => {
            let e = upstash::UpstashEmulator::new(parse(p, entry.seed)?);
            (e.router(), e.log(), default)
        }
        "vercel" => {
            let e = vercel::VercelEmulator::new(parse(p, entry.seed)?);
            (e.router(), e.log(), default)
        }
        other => return Err(format!("no emulator for provider {other:?}")),
    };
    Ok(Built {
        provider: entry.provider,
        router,
        log,
        is_write,
    })
}

const BIND: &str = "127.0.0.1:0";

/// Where an account's emulator is served: a port of its own, or its provider's under `/a{n}`.
enum Url {
    Own(String),
    Shared(String, usize),
}

fn counts(started: &[(RequestLog, IsWrite)]) -> Value {
    Value::Array(
        started
            .iter()
            .map(|(log, is_write)| json!({"calls": log.len(), "writes": log.count_where(is_write)}))
            .collect(),
    )
}

async fn run(path: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
    let entries: Vec<Entry> = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let built = entries
        .into_iter()
        .map(build)
        .collect::<Result<Vec<_>, String>>()?;
    let io = |e: std::io::Error| format!("starting the emulators: {e}");
    // Each provider's port, and how many of its accounts it serves so far.
    let mut shared: BTreeMap<String, (Router, usize)> = BTreeMap::new();
    let mut running = Vec::new();
    let mut urls = Vec::with_capacity(built.len());
    let mut logs = Vec::with_capacity(built.len());
    for b in built {
        logs.push((b.log, b.is_write));
        if b.provider == "aws" {
            let own = serve(b.router, BIND).await.map_err(io)?;
            urls.push(Url::Own(own.base_url()));
            running.push(own);
        } else {
            let (router, n) = shared.entry(b.provider.clone()).or_default();
            *router = std::mem::take(router).nest(&format!("/a{n}"), b.router);
            urls.push(Url::Shared(b.provider, *n));
            *n += 1;
        }
    }
    let mut ports = BTreeMap::new();
    for (provider, (router, _)) in shared {
        let port = serve(router, BIND).await.map_err(io)?;
        ports.insert(provider, port.base_url());
        running.push(port);
    }
    let urls: Vec<String> = urls
        .into_iter()
        .map(|u| match u {
            Url::Own(url) => url,
            Url::Shared(provider, n) => format!("{}/a{n}", ports[&provider]),
        })
        .collect();
    let logs = std::sync::Arc::new(logs);
    let control = Router::new().route(
        "/counts",
        get(move || {
            let logs = logs.clone();
            async move { axum::Json(counts(&logs)) }
        }),
    );
    let control = serve(control, "127.0.0.1:0")
        .await
        .map_err(|e| format!("starting the control port: {e}"))?;
    println!("{}", json!({"urls": urls, "control": control.base_url()}));
    // Serve until the bench closes stdin (or kills the process).
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink)
    })
    .await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: bench-emulators SEEDS.json");
        return ExitCode::from(2);
    };
    match run(&path).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-emulators: {e}");
            ExitCode::FAILURE
        }
    }
}
