//! The `perimeter` command: `operator`, `check`, `demo`, `crds`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use perimeter::local::{self, CredentialSource, Options};

#[derive(Parser)]
#[command(
    name = "perimeter",
    version,
    about = "Provider firewalls and network monitoring, declared, checked and enforced"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controllers against the cluster from the kubeconfig or in-cluster config.
    Operator {
        /// Address of /metrics, /healthz and /readyz.
        #[arg(long, env = "PERIMETER_METRICS_ADDR", default_value = "0.0.0.0:9464")]
        metrics_addr: SocketAddr,
        /// Log as JSON lines (for log pipelines).
        #[arg(long, env = "PERIMETER_LOG_JSON")]
        log_json: bool,
        /// Run the controllers only while holding the leader Lease (several replicas; the
        /// others wait as standbys).
        #[arg(long, env = "PERIMETER_LEADER_ELECT")]
        leader_elect: bool,
        /// Name of the coordination.k8s.io/v1 Lease.
        #[arg(long, env = "PERIMETER_LEASE_NAME", default_value = perimeter::controller::leader::DEFAULT_LEASE_NAME)]
        lease_name: String,
        /// Namespace of the Lease (default: the kubeconfig's or in-cluster namespace).
        #[arg(long, env = "POD_NAMESPACE")]
        lease_namespace: Option<String>,
        /// This replica's identity in the Lease (default: the host name with a random suffix).
        #[arg(long, env = "POD_NAME")]
        leader_identity: Option<String>,
    },
    /// Observe every provider once for the manifests in a folder; never writes.
    /// Exit code: 0 in sync, 2 drift found, 1 error or a provider that could not be read.
    Check {
        /// Folder with CloudProvider, FirewallPolicy and MonitoringPolicy YAML.
        #[arg(long)]
        manifests: PathBuf,
        /// YAML/JSON file: { <secret name>: { <key>: <value> } }. Otherwise credentials come
        /// from PERIMETER_SECRET_<SECRET>_<KEY> environment variables.
        #[arg(long)]
        credentials: Option<PathBuf>,
        /// Override a CloudProvider's endpoint: NAME=URL (repeatable).
        #[arg(long = "endpoint", value_parser = parse_endpoint)]
        endpoints: Vec<(String, String)>,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
        /// Print the provider API requests made (perimeter_provider_requests_total: provider,
        /// operation, HTTP status) and the total on stderr.
        #[arg(long)]
        stats: bool,
    },
    /// Run the whole loop locally against emulated providers (no cluster, no credentials).
    Demo {
        #[arg(long, default_value = "127.0.0.1:9464")]
        metrics_addr: SocketAddr,
        /// One pass, print, exit.
        #[arg(long)]
        once: bool,
        /// Seconds between passes when not --once.
        #[arg(long, default_value_t = 30)]
        interval: u64,
        /// Use the manifests in this folder instead of the built-in examples.
        #[arg(long)]
        manifests: Option<PathBuf>,
    },
    /// Print the CustomResourceDefinitions (what crds/ holds).
    Crds,
}

fn parse_endpoint(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| "expected NAME=URL".to_string())
}

/// `check --stats`: one line per (provider, operation, status), then the total.
fn render_stats(rows: &[(String, String, String, u64)]) -> String {
    use std::fmt::Write;
    let mut out = String::from("provider API requests (provider operation status: count)\n");
    for (provider, operation, code, n) in rows {
        let _ = writeln!(out, "  {provider} {operation} {code}: {n}");
    }
    let total: u64 = rows.iter().map(|r| r.3).sum();
    let _ = writeln!(out, "  total: {total}");
    out
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PERIMETER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(async move {
        match cli.command {
            Command::Crds => match perimeter::api::crds_yaml() {
                Ok(yaml) => {
                    print!("{yaml}");
                    Ok(0)
                }
                Err(e) => Err(e.to_string()),
            },
            Command::Check {
                manifests,
                credentials,
                endpoints,
                output,
                stats,
            } => {
                init_tracing(false);
                let mut creds = CredentialSource::from_env();
                if let Some(path) = credentials {
                    creds = creds.with_file(&path)?;
                }
                let options = Options {
                    force_observe: true,
                    endpoints: endpoints.into_iter().collect::<BTreeMap<_, _>>(),
                };
                let metrics = if stats {
                    Some(std::sync::Arc::new(
                        perimeter::Metrics::new().map_err(|e| e.to_string())?,
                    ))
                } else {
                    None
                };
                let report = local::check(&manifests, &creds, options, metrics.clone()).await?;
                if let Some(m) = &metrics {
                    eprint!("{}", render_stats(&m.provider_requests()));
                }
                match output {
                    Output::Json => println!(
                        "{}",
                        serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
                    ),
                    Output::Text => {
                        let mut text = String::from("perimeter check: read-only, nothing is written whatever a policy's mode\n");
                        local::render_text(&report, &mut text);
                        print!("{text}");
                    }
                }
                Ok(report.exit_code())
            }
            Command::Demo {
                metrics_addr,
                once,
                interval,
                manifests,
            } => {
                init_tracing(false);
                perimeter::demo::run(perimeter::demo::DemoOptions {
                    metrics_addr,
                    once,
                    interval: Duration::from_secs(interval.max(1)),
                    manifests,
                })
                .await
            }
            Command::Operator {
                metrics_addr,
                log_json,
                leader_elect,
                lease_name,
                lease_namespace,
                leader_identity,
            } => {
                init_tracing(log_json);
                let election = leader_elect.then(|| {
                    perimeter::controller::leader::Config::new(
                        lease_name,
                        lease_namespace.unwrap_or_default(),
                        perimeter::controller::leader::identity(leader_identity),
                    )
                });
                perimeter::controller::run(metrics_addr, election)
                    .await
                    .map(|()| 0)
            }
        }
    });
    match code {
        Ok(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
