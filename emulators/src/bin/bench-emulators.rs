//! Every provider emulator `scripts/bench-fleet` needs, in a process of their own (so the
//! operator's CPU is measured apart from theirs).
//!
//! Usage: `bench-emulators SEEDS.json`, where the file is a list of
//! `{"provider": "cloudflare", "seed": {...}}`: one emulator per entry (one provider account),
//! seeded with the provider's own seed document (the shape `examples/demo/` uses), on a free
//! loopback port. None of them throttles (an emulator only does when a test asks it to), so the
//! bench measures Perimeter, not the emulators.
//!
//! Prints one JSON line once every emulator listens: `{"urls": [...], "control": URL}`, the
//! base URLs in the order of the file. `GET {control}/counts` answers
//! `[{"calls": N, "writes": N}, ...]` in the same order (the emulators' request logs: every
//! request, and those that may change state). Runs until stdin closes or it is killed.

use std::process::ExitCode;

use axum::Router;
use axum::routing::get;
use perimeter_emulators::server::{RecordedRequest, RequestLog, RunningEmulator, serve};
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

/// One started emulator: what keeps it serving, its log, and which of its requests are writes.
struct Started {
    running: RunningEmulator,
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

async fn start(entry: Entry) -> Result<Started, String> {
    const BIND: &str = "127.0.0.1:0";
    let p = entry.provider.as_str();
    let io = |e: std::io::Error| format!("starting the {p} emulator: {e}");
    let default: IsWrite = RecordedRequest::may_write;
    let (running, log, is_write): (RunningEmulator, RequestLog, IsWrite) = match p {
        "aws" => {
            let e = aws::AwsEmulator::new(parse(p, entry.seed)?);
            (e.start(BIND).await.map_err(io)?, e.log().clone(), aws_write)
        }
        "betterstack" => {
            let e = betterstack::BetterstackEmulator::new(parse(p, entry.seed)?);
            (e.start(BIND).await.map_err(io)?, e.log(), default)
        }
        "cloudflare" => {
            let e = cloudflare::CloudflareEmulator::new(parse(p, entry.seed)?);
            (e.start(BIND).await.map_err(io)?, e.log(), default)
        }
        "fleet" => {
            let e = fleet::FleetEmulator::new(parse(p, entry.seed)?);
            (e.start(BIND).await.map_err(io)?, e.log(), default)
        }
        "gcp" => {
            let e = gcp::GcpEmulator::new(parse(p, entry.seed)?);
            (e.start(BIND).await.map_err(io)?, e.log().clone(), default)
        }
        "qdrant" => {
            let e = qdrant::QdrantEmulator::new(parse(p, entry.seed)?);
            (e.start(BIND).await.map_err(io)?, e.log(), default)
        }
        "slack" => {
            let e = slack::SlackEmulator::new(parse(p, entry.seed)?);
            (e.start(BIND).await.map_err(io)?, e.log(), default)
        }
        "supabase" => {
            let e = supabase::SupabaseEmulator::new(parse(p, entry.seed)?);
            (e.start(BIND).await.map_err(io)?, e.log(), default)
        }
        "triggerdev" => {
            let e = triggerdev::TriggerdevEmulator::new(parse(p, entry.seed)?);
            (e.start(BIND).await.map_err(io)?, e.log(), default)
        }
        "turso" => {
            let e = turso::TursoEmulator::new(parse(p, entry.seed)?);
            (e.start(BIND).await.map_err(io)?, e.log(), default)
        }
        "upstash" => {
            let e = upstash::UpstashEmulator::new(parse(p, entry.seed)?);
            (e.start(BIND).await.map_err(io)?, e.log(), default)
        }
        "vercel" => {
            let e = vercel::VercelEmulator::new(parse(p, entry.seed)?);
            (e.start(BIND).await.map_err(io)?, e.log(), default)
        }
        other => return Err(format!("no emulator for provider {other:?}")),
    };
    Ok(Started {
        running,
        log,
        is_write,
    })
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
    let mut running = Vec::with_capacity(entries.len());
    let mut logs = Vec::with_capacity(entries.len());
    for entry in entries {
        let started = start(entry).await?;
        logs.push((started.log, started.is_write));
        running.push(started.running);
    }
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
    let urls: Vec<String> = running.iter().map(RunningEmulator::base_url).collect();
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
