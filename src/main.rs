//! The `perimeter` command: `operator`, `check`, `report`, `evidence verify`, `demo` (with the
//! `demo` feature, on by default; the operator image is built without it), `crds`.

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

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Markdown,
    Json,
}

#[derive(Subcommand)]
enum EvidenceCommand {
    /// Check an evidence trail: every record's digest, the links between records, the
    /// sequence, and holes in time. Input: `perimeter report --format json` output, a
    /// `--evidence` file, or a trail (`-` reads stdin). Exit code 0 intact, 1 otherwise.
    Verify {
        file: PathBuf,
        /// The evaluation heartbeat the trail was written with (a hole longer than twice it is
        /// reported as a gap).
        #[arg(long, default_value_t = 60)]
        heartbeat_minutes: u64,
        /// The head digest expected (from `kubectl get controlassessment NAME -o
        /// jsonpath='{.status.evidence.digest}'` or an earlier export): catches a rewritten tail.
        #[arg(long)]
        expect_head: Option<String>,
    },
}

/// What manifests and credentials may make Perimeter do beyond the defaults (see README,
/// "Security model"). The same for `operator`, `check` and `report`.
#[derive(clap::Args, Clone, Default)]
struct TrustArgs {
    /// A host `spec.endpoint` may name besides the providers' official API hosts (proxies,
    /// private endpoints, emulators): NAME, *.SUFFIX, IPv4 or [IPv6], each with an optional
    /// :PORT. Repeatable.
    #[arg(
        long = "allow-endpoint-host",
        env = "PERIMETER_ALLOW_ENDPOINT_HOSTS",
        value_delimiter = ','
    )]
    allow_endpoint_hosts: Vec<String>,
    /// A token endpoint a GCP credential may name besides Google's (*.googleapis.com,
    /// accounts.google.com). Repeatable.
    #[arg(
        long = "allow-token-host",
        env = "PERIMETER_ALLOW_TOKEN_HOSTS",
        value_delimiter = ','
    )]
    allow_token_hosts: Vec<String>,
    /// A directory an `external_account` credential may read its subject token from (e.g.
    /// /var/run/secrets/eks.amazonaws.com/serviceaccount). Never the Kubernetes
    /// service-account token or /proc. Repeatable; none by default.
    #[arg(
        long = "credential-source-dir",
        env = "PERIMETER_CREDENTIAL_SOURCE_DIRS",
        value_delimiter = ','
    )]
    credential_source_dirs: Vec<PathBuf>,
    /// A host an `external_account` credential_source.url may name. Repeatable.
    #[arg(
        long = "allow-credential-source-host",
        env = "PERIMETER_ALLOW_CREDENTIAL_SOURCE_HOSTS",
        value_delimiter = ','
    )]
    allow_credential_source_hosts: Vec<String>,
    /// Lets a GCP `external_account` credential of the admin (ClusterCloudProvider, ambient
    /// namespace, the operator's environment) run `credential_source.executable` inside the
    /// operator's pod. Google's library also needs GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1
    /// in the environment. Off by default; never for a tenant's credential.
    #[arg(
        long = "allow-credential-executables",
        env = "PERIMETER_ALLOW_CREDENTIAL_EXECUTABLES"
    )]
    allow_credential_executables: bool,
}

impl TrustArgs {
    fn trust(&self, ambient_namespaces: &[String]) -> Result<perimeter::trust::Trust, String> {
        use perimeter::trust::{HostPattern, NamespaceSet, Trust};
        let hosts = |list: &[String], flag: &str| {
            list.iter()
                .map(|h| HostPattern::parse(h).map_err(|e| format!("--{flag}: {e}")))
                .collect::<Result<Vec<_>, _>>()
        };
        for d in &self.credential_source_dirs {
            if !d.is_absolute() {
                return Err(format!(
                    "--credential-source-dir {}: must be absolute",
                    d.display()
                ));
            }
        }
        Ok(Trust {
            ambient_namespaces: NamespaceSet::new(ambient_namespaces.iter().cloned()),
            endpoint_hosts: hosts(&self.allow_endpoint_hosts, "allow-endpoint-host")?,
            token_hosts: hosts(&self.allow_token_hosts, "allow-token-host")?,
            credential_dirs: self.credential_source_dirs.clone(),
            credential_url_hosts: hosts(
                &self.allow_credential_source_hosts,
                "allow-credential-source-host",
            )?,
            allow_credential_executables: self.allow_credential_executables,
        })
    }
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
        /// Serve only this namespace (repeatable): the operator lists and watches the kinds
        /// and labelled Secrets there only (Roles instead of a ClusterRole). Default: every
        /// namespace.
        #[arg(
            long = "watch-namespace",
            env = "PERIMETER_WATCH_NAMESPACES",
            value_delimiter = ','
        )]
        watch_namespaces: Vec<String>,
        /// A namespace whose CloudProviders may use `credentials.source: Ambient`, i.e. the
        /// operator's own cloud identity (repeatable; `*` for all). Default: none; share the
        /// identity through a ClusterCloudProvider instead.
        #[arg(
            long = "ambient-namespace",
            env = "PERIMETER_AMBIENT_NAMESPACES",
            value_delimiter = ','
        )]
        ambient_namespaces: Vec<String>,
        /// Where ClusterCloudProvider credential Secrets are read from (and the evidence trail is
        /// kept): the operator's own namespace.
        #[arg(long, env = "POD_NAMESPACE", default_value = "perimeter")]
        cluster_resource_namespace: String,
        /// The longest one sync of one policy may take, in seconds (reads, writes and the
        /// confirming read); past it the policy's state is Unknown until the next sync.
        #[arg(long, env = "PERIMETER_SYNC_TIMEOUT", default_value_t = 180)]
        sync_timeout: u64,
        /// How long, in seconds (0..300), a successful provider read is handed to identical
        /// reads of the same account (the policies sharing a zone, account+region or project
        /// read each listing once a round). Any write through the account's client ends it, so
        /// a policy's Enforce is seen by the next read. Drift made outside Perimeter is seen up
        /// to this much later. 0: only reads in flight at the same time share an answer. The
        /// default, 10, is the shortest syncInterval: a policy never gets its own last answer.
        #[arg(
            long,
            env = "PERIMETER_SHARE_READS_FOR",
            default_value_t = 10,
            value_parser = clap::value_parser!(u64).range(..=300)
        )]
        share_reads_for: u64,
        /// The Slack channel Alertmanager sends Perimeter's alerts to (the chart sets it from
        /// `alertmanager.slack.channel`): `C…`, `#name`, or `T…/C…`. The assessments verify it
        /// like a provider's alert route: it must be a channel a `slack:` MonitoringPolicy
        /// finds live.
        #[arg(long = "alerts-slack-channel", env = "PERIMETER_ALERTS_SLACK_CHANNEL")]
        alerts_slack_channel: Option<String>,
        /// Reconcile only the FirewallPolicies and MonitoringPolicies matching this Kubernetes
        /// label selector (e.g. `perimeter.dev/shard=a`, `perimeter.dev/shard notin (a,b)`),
        /// watched with the selector, so that several Deployments split the policies. The
        /// selectors of a fleet must partition the policies. Needs `--shard` or
        /// `--cluster-controllers`.
        #[arg(long, env = "PERIMETER_SHARD_SELECTOR")]
        shard_selector: Option<String>,
        /// This shard's name: its Lease is `<lease-name>-<shard>` (its own leader and
        /// standbys) and its metrics say `perimeter_shard_info{shard="…"}`.
        #[arg(long, env = "PERIMETER_SHARD")]
        shard: Option<String>,
        /// With `--shard-selector`: also run the account, address-set and assessment
        /// controllers, which need every policy. Exactly one shard of a fleet runs them (an
        /// operator without `--shard-selector` always does).
        #[arg(long, env = "PERIMETER_CLUSTER_CONTROLLERS")]
        cluster_controllers: bool,
        /// How many policies of each kind (and accounts, address sets) reconcile at once; the
        /// others wait their turn in the queue. One provider account's policies take at most a
        /// sixteenth of the slots (at least one), so an account whose provider hangs cannot
        /// stall the others.
        #[arg(
            long,
            env = "PERIMETER_MAX_CONCURRENT_RECONCILES",
            default_value_t = perimeter::controller::DEFAULT_MAX_CONCURRENT_RECONCILES,
            value_parser = perimeter::controller::parse_max_concurrent_reconciles
        )]
        max_concurrent_reconciles: u16,
        #[command(flatten)]
        trust: TrustArgs,
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
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// The compliance assessment (DE.CM-1 and its cross-references) with gaps and evidence.
    /// With --manifests: observes the providers like `check` (read-only), evaluates the
    /// ControlAssessments in the folder (or a default DE.CM-1) and appends to --evidence.
    /// With --cluster: prints what the operator assessed and stored.
    /// Exit code: 0 implemented, 2 not (fully) implemented, 1 error or evidence that does not
    /// verify.
    Report {
        #[arg(long, conflicts_with = "cluster", required_unless_present = "cluster")]
        manifests: Option<PathBuf>,
        /// Read ControlAssessments and their evidence from the cluster (kubeconfig).
        #[arg(long)]
        cluster: bool,
        /// Namespace holding the evidence ConfigMaps (the operator's namespace).
        #[arg(long, env = "POD_NAMESPACE", default_value = "perimeter")]
        namespace: String,
        /// JSON file keeping the evidence trail across runs (created if missing).
        #[arg(long, conflicts_with = "cluster")]
        evidence: Option<PathBuf>,
        #[arg(long)]
        credentials: Option<PathBuf>,
        #[arg(long = "endpoint", value_parser = parse_endpoint)]
        endpoints: Vec<(String, String)>,
        #[arg(long, value_enum, default_value = "markdown")]
        format: Format,
        /// The Slack channel Alertmanager sends Perimeter's alerts to (the chart sets it from
        /// `alertmanager.slack.channel`): `C…`, `#name`, or `T…/C…`. The assessments verify it
        /// like a provider's alert route: it must be a channel a `slack:` MonitoringPolicy
        /// finds live.
        #[arg(long = "alerts-slack-channel", env = "PERIMETER_ALERTS_SLACK_CHANNEL")]
        alerts_slack_channel: Option<String>,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Evidence trail tools.
    Evidence {
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// Run the whole loop locally against emulated providers (no cluster, no credentials).
    #[cfg(feature = "demo")]
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
        /// Where to write this run's evidence trail (started afresh each run).
        #[arg(long)]
        evidence: Option<PathBuf>,
        /// Where Perimeter's own alerts go, as `operator --alerts-slack-channel`: by default
        /// the demo workspace's #ops-alerts, which its Slack account checks.
        #[arg(long, default_value = "T0DEM0ACME/#ops-alerts")]
        alerts_slack_channel: String,
    },
    /// Stands in for `demo` in a binary built without the emulators (the operator image), so
    /// that `perimeter demo` says why it is missing instead of "unrecognized subcommand".
    #[cfg(not(feature = "demo"))]
    #[command(hide = true, disable_help_flag = true)]
    Demo {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        _args: Vec<String>,
    },
    /// Print the CustomResourceDefinitions (what crds/ holds).
    Crds,
}

#[cfg(not(feature = "demo"))]
const NO_DEMO: &str = "this perimeter was built without the demo feature (the operator image \
    leaves the provider emulators out); run the demo from a clone: cargo run -- demo";

/// Credentials (environment, then `--credentials`) and options of a read-only local pass.
fn read_only_inputs(
    credentials: Option<PathBuf>,
    endpoints: Vec<(String, String)>,
    trust: &TrustArgs,
) -> Result<(CredentialSource, Options), String> {
    let mut creds = CredentialSource::from_env();
    if let Some(path) = credentials {
        creds = creds.with_file(&path)?;
    }
    let options = Options {
        force_observe: true,
        endpoints: endpoints.into_iter().collect::<BTreeMap<_, _>>(),
        // `check` uses whatever identity its runner has; Ambient needs no namespace list.
        trust: trust.trust(&[])?,
        sync_deadline: None,
        // `check` reads once and must see the provider as it is: reads in flight only.
        share_reads: std::time::Duration::ZERO,
    };
    Ok((creds, options))
}

/// `report --manifests`: a read-only pass, then the rollup, then the evidence file.
async fn report_local(
    dir: &std::path::Path,
    creds: &CredentialSource,
    options: Options,
    own_alerts: &[perimeter::core::routing::AlertRoute],
    evidence: Option<&std::path::Path>,
) -> Result<perimeter::compliance::report::Export, String> {
    use perimeter::report::{EvidenceFile, assess_all};
    let manifests = perimeter::manifests::Manifests::load_dir(dir).map_err(|e| e.to_string())?;
    let report = local::Runner::new(manifests.clone(), creds, options, None)
        .await
        .run_once()
        .await;
    let mut store = match evidence {
        Some(path) => EvidenceFile::load(path)?,
        None => EvidenceFile::default(),
    };
    let store_name = match evidence {
        Some(path) => format!("file {}", path.display()),
        None => "not kept (pass --evidence FILE to keep the trail)".to_string(),
    };
    let export = assess_all(
        &manifests,
        &report,
        own_alerts,
        &mut store,
        &store_name,
        jiff::Timestamp::now(),
    );
    if let Some(path) = evidence {
        store.save(path)?;
    }
    Ok(export)
}

/// Perimeter's own alert route from `--alerts-slack-channel`. Parsed here rather than by clap,
/// whose error would quote the value: a webhook URL given by mistake is a credential.
fn own_alerts(channel: Option<&str>) -> Result<Vec<perimeter::core::routing::AlertRoute>, String> {
    channel
        .map(|c| {
            perimeter::core::routing::SlackChannelRef::parse(c)
                .map(perimeter::core::routing::AlertRoute::perimeter_alerts)
                .map_err(|e| format!("--alerts-slack-channel: {e}"))
        })
        .into_iter()
        .collect()
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

/// Targets whose events can carry credentials above DEBUG, capped there whatever the user's
/// filter says (a cap layered on top, not a directive the filter could override). Matched as
/// prefixes of the event's target:
/// - `aws_`: `aws_smithy_runtime::client::orchestrator` logs at TRACE the request
///   (`transmitting request`), the response (`received response from service`), every
///   deserialised output (`output_or_error`) and, in `orchestrator/http.rs`
///   `log_response_body`, the raw body of every answer; only `SensitiveOutput` operations
///   redact it, and `LOG_SENSITIVE_BODIES=true` lifts even that, which prints the session
///   token of a container-credentials or STS answer. `aws_config::credential_process` logs
///   the unredacted command at TRACE, `aws_sigv4` the signing request at TRACE;
/// - `hyper`, `h2`, `reqwest`, `rustls`, `tokio_rustls`, `tower`: connection internals at
///   TRACE (frames, encoded messages) — nothing a user needs above DEBUG;
/// - `kube`: `kube_client` logs response headers and Status bodies at TRACE, and the API
///   server's answers carry Secrets.
const CAPPED_TARGETS: [&str; 8] = [
    "aws_",
    "hyper",
    "h2",
    "reqwest",
    "rustls",
    "tokio_rustls",
    "tower",
    "kube",
];

/// The user's filter: `PERIMETER_LOG`, else `RUST_LOG`, else `info`.
fn log_directives(perimeter_log: Option<String>, rust_log: Option<String>) -> String {
    [perimeter_log, rust_log]
        .into_iter()
        .flatten()
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "info".to_string())
}

fn init_tracing(json: bool) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;

    let directives = log_directives(
        std::env::var("PERIMETER_LOG").ok(),
        std::env::var("RUST_LOG").ok(),
    );
    let (filter, invalid) = match tracing_subscriber::EnvFilter::try_new(&directives) {
        Ok(f) => (f, None),
        Err(e) => (tracing_subscriber::EnvFilter::new("info"), Some(e)),
    };
    let cap = CAPPED_TARGETS.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |t, target| t.with_target(*target, LevelFilter::DEBUG),
    );
    let registry = tracing_subscriber::registry().with(cap).with(filter);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    if json {
        registry.with(fmt.json()).init();
    } else {
        registry.with(fmt).init();
    }
    if let Some(e) = invalid {
        tracing::warn!(error = %e, "the log filter does not parse; logging at info");
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
                trust,
            } => {
                init_tracing(false);
                let (creds, options) = read_only_inputs(credentials, endpoints, &trust)?;
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
            Command::Report {
                manifests,
                cluster,
                namespace,
                evidence,
                credentials,
                endpoints,
                format,
                alerts_slack_channel,
                trust,
            } => {
                init_tracing(false);
                let export = if cluster {
                    perimeter::report::export_from_cluster(&namespace).await?
                } else {
                    let dir = manifests.ok_or("--manifests or --cluster is required")?;
                    let (creds, options) = read_only_inputs(credentials, endpoints, &trust)?;
                    let own = own_alerts(alerts_slack_channel.as_deref())?;
                    report_local(&dir, &creds, options, &own, evidence.as_deref()).await?
                };
                match format {
                    Format::Json => println!(
                        "{}",
                        serde_json::to_string_pretty(&export).map_err(|e| e.to_string())?
                    ),
                    Format::Markdown => print!("{}", perimeter::report::markdown(&export, 10)),
                }
                Ok(perimeter::report::exit_code(&export))
            }
            Command::Evidence {
                command:
                    EvidenceCommand::Verify {
                        file,
                        heartbeat_minutes,
                        expect_head,
                    },
            } => {
                let text = if file.as_os_str() == "-" {
                    std::io::read_to_string(std::io::stdin()).map_err(|e| e.to_string())?
                } else {
                    std::fs::read_to_string(&file)
                        .map_err(|e| format!("{}: {e}", file.display()))?
                };
                let (out, ok) = perimeter::report::verify_text(
                    &text,
                    Duration::from_secs(heartbeat_minutes.max(1) * 60),
                    expect_head.as_deref(),
                )?;
                print!("{out}");
                Ok(if ok { 0 } else { 1 })
            }
            #[cfg(not(feature = "demo"))]
            Command::Demo { .. } => Err(NO_DEMO.to_string()),
            #[cfg(feature = "demo")]
            Command::Demo {
                metrics_addr,
                once,
                interval,
                manifests,
                evidence,
                alerts_slack_channel,
            } => {
                init_tracing(false);
                perimeter::demo::run(perimeter::demo::DemoOptions {
                    own_alerts: own_alerts(Some(&alerts_slack_channel))?,
                    metrics_addr,
                    once,
                    interval: Duration::from_secs(interval.max(1)),
                    manifests,
                    evidence: evidence.unwrap_or_else(|| {
                        std::env::temp_dir().join("perimeter-demo-evidence.json")
                    }),
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
                watch_namespaces,
                ambient_namespaces,
                cluster_resource_namespace,
                sync_timeout,
                share_reads_for,
                alerts_slack_channel,
                shard_selector,
                shard,
                cluster_controllers,
                max_concurrent_reconciles,
                trust,
            } => {
                init_tracing(log_json);
                let shard = perimeter::controller::shard::Shard::new(
                    shard.as_deref(),
                    shard_selector.as_deref(),
                    cluster_controllers,
                )?;
                let settings = perimeter::controller::Settings {
                    scope: perimeter::controller::watch::Scope::from_list(&watch_namespaces),
                    cluster_namespace: cluster_resource_namespace,
                    trust: trust.trust(&ambient_namespaces)?,
                    sync_deadline: Duration::from_secs(sync_timeout.clamp(10, 3600)),
                    own_alerts: own_alerts(alerts_slack_channel.as_deref())?,
                    shard: shard.clone(),
                    share_reads: Duration::from_secs(share_reads_for),
                    max_concurrent_reconciles,
                };
                let election = leader_elect.then(|| {
                    perimeter::controller::leader::Config::new(
                        shard.lease_name(&lease_name),
                        lease_namespace.unwrap_or_default(),
                        perimeter::controller::leader::identity(leader_identity),
                    )
                });
                perimeter::controller::run(metrics_addr, election, settings)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perimeter_log_then_rust_log_then_info() {
        let some = |s: &str| Some(s.to_string());
        assert_eq!(log_directives(some("debug"), some("trace")), "debug");
        assert_eq!(log_directives(None, some("trace")), "trace");
        assert_eq!(log_directives(some(" "), some("warn")), "warn");
        assert_eq!(log_directives(None, None), "info");
    }
}
