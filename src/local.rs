//! Running the sync pipeline without a cluster, over manifests read from a folder:
//! the engine behind `perimeter check` (never writes) and `perimeter demo`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::api::addressset::UsedAddressSet;
use crate::api::{DriftEntry, FindingEntry, Mode, PolicyControls, ProviderKind, ProviderType};
use crate::core::addresses::{Resolver, SetState};
use crate::error::Error;
use crate::manifests::{Manifests, namespace_of};
use crate::metrics::Metrics;
use crate::providers::{self, Declared, Provider};
use crate::reconcile::{self, SyncOutcome};
use crate::secret::SecretString;

/// Where `check` finds credentials: a file, then the environment.
///
/// - File (`--credentials FILE`): YAML or JSON `{ <secret name>: { <key>: <value> } }`.
/// - Environment: `PERIMETER_SECRET_<SECRET NAME>_<KEY>`, upper-cased, every character
///   that is not a letter or digit replaced by `_` (secret `cloudflare-api`, key `token` →
///   `PERIMETER_SECRET_CLOUDFLARE_API_TOKEN`).
#[derive(Default)]
pub struct CredentialSource {
    file: BTreeMap<String, BTreeMap<String, String>>,
    env: BTreeMap<String, String>,
}

impl CredentialSource {
    pub fn from_env() -> Self {
        Self {
            file: BTreeMap::new(),
            env: std::env::vars()
                .filter(|(k, _)| k.starts_with("PERIMETER_SECRET_"))
                .collect(),
        }
    }

    pub fn with_file(mut self, path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // The error text of a YAML parser can quote the input, which holds secrets: keep it out.
        self.file = serde_yaml::from_str(&text).map_err(|_| {
            format!(
                "{}: not a mapping of secret name → key → value",
                path.display()
            )
        })?;
        Ok(self)
    }

    pub fn insert(&mut self, secret: &str, key: &str, value: &str) {
        self.file
            .entry(secret.to_string())
            .or_default()
            .insert(key.to_string(), value.to_string());
    }

    pub fn env_name(secret: &str, key: &str) -> String {
        let clean = |s: &str| {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        };
        format!("PERIMETER_SECRET_{}_{}", clean(secret), clean(key))
    }

    pub fn get(&self, secret: &str, key: &str) -> Option<SecretString> {
        self.file
            .get(secret)
            .and_then(|m| m.get(key))
            .or_else(|| self.env.get(&Self::env_name(secret, key)))
            .map(|v| SecretString::new(v.trim()))
    }
}

/// Options of a local run.
#[derive(Default, Clone)]
pub struct Options {
    /// `check` never writes, whatever the manifests say.
    pub force_observe: bool,
    /// Base URL per CloudProvider name, overriding `spec.endpoint` (emulators, proxies). Given
    /// by whoever runs the command, so trusted; `spec.endpoint` in the manifests is not.
    pub endpoints: BTreeMap<String, String>,
    /// What the manifests may make this run do (endpoints, credential files and URLs); the
    /// same rules as the operator's, from the command line.
    pub trust: crate::trust::Trust,
    /// The longest one policy's sync may take (default as the operator's).
    pub sync_deadline: Option<std::time::Duration>,
    /// How long an account's successful read answers identical reads (as the operator's
    /// `--share-reads-for`). `check` keeps 0: it reads once and must see the provider as it
    /// is, sharing only reads in flight at once.
    pub share_reads: std::time::Duration,
}

#[derive(Debug, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ProviderReport {
    /// `CloudProvider` or `ClusterCloudProvider` (namespace empty).
    pub kind: ProviderKind,
    pub namespace: String,
    pub name: String,
    #[serde(rename = "type")]
    pub provider_type: ProviderType,
    /// Whether the provider answered with the credential given.
    pub readable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Its boundary assets and which of them no FirewallPolicy of the manifests covers; absent
    /// for providers that do not list them, and for one that could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inventory: Option<crate::api::InventoryStatus>,
}

#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq)]
pub enum PolicyState {
    InSync,
    Drifted,
    /// The provider could not be read: never counted as in sync.
    Unknown,
    /// The manifest cannot be acted on.
    Invalid,
}

#[derive(Debug, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReport {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub provider: String,
    /// The kind of account `provider` names.
    pub provider_kind: ProviderKind,
    /// The mode the policy declares (`check` reads only, whatever it is).
    pub mode: Mode,
    pub state: PolicyState,
    /// Drift found before any write.
    pub drift_found: Vec<DriftEntry>,
    /// Changes written (only in demo runs with `Enforce`).
    pub applied: Vec<String>,
    /// Drift left after the run.
    pub drift: Vec<DriftEntry>,
    pub findings: Vec<FindingEntry>,
    pub managed: u32,
    pub unmanaged: u32,
    /// The provider's own version of what was read, when its API gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Alert routes the provider showed (see [`crate::core::routing`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alert_routes: Vec<crate::core::routing::AlertRoute>,
    /// Declared Slack channels as Slack answered for them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alert_channels: Vec<crate::core::routing::ChannelCheck>,
    /// The address sets the policy's addresses came from, with the digest of what was used.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub address_sets: Vec<UsedAddressSet>,
    /// Where the drift entries' `changedBy` comes from, or why they have none (providers
    /// whose audit log Perimeter reads; see [`crate::core::attribution`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One `AddressSet` of the manifests, as this pass resolved it.
#[derive(Debug, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct AddressSetReport {
    pub namespace: String,
    pub name: String,
    /// `declared`, or the source read (`betterstack`, `upstashQstash`, `awsNatGateways`,
    /// `gcpCloudNat`).
    pub source: &'static str,
    pub ready: bool,
    pub count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Serialize, Clone, Default)]
pub struct Report {
    pub providers: Vec<ProviderReport>,
    /// Address sets, resolved before any policy is synced.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub address_sets: Vec<AddressSetReport>,
    pub policies: Vec<PolicyReport>,
    /// Documents of other API groups in the folder (Secrets, ConfigMaps…), not checked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<crate::manifests::Ignored>,
}

impl Report {
    /// `terraform plan -detailed-exitcode` style: 0 in sync, 2 drift, 1 error or unreadable provider.
    pub fn exit_code(&self) -> i32 {
        let failed = self.providers.iter().any(|p| !p.readable)
            || self
                .policies
                .iter()
                .any(|p| matches!(p.state, PolicyState::Unknown | PolicyState::Invalid));
        if failed {
            1
        } else if self
            .policies
            .iter()
            .any(|p| p.state == PolicyState::Drifted)
        {
            2
        } else {
            0
        }
    }
}

fn drift_entries(
    d: Option<&crate::core::Diff>,
    by: Option<&crate::core::attribution::Attributions>,
) -> Vec<DriftEntry> {
    d.map(|d| crate::status::drift_entries(d, by))
        .unwrap_or_default()
}

/// A provider account in the manifests: kind, namespace (empty for a ClusterCloudProvider), name.
type AccountKey = (ProviderKind, String, String);

/// Every account of the manifests, with its key and spec.
fn accounts(m: &Manifests) -> Vec<(AccountKey, &crate::api::CloudProviderSpec)> {
    let namespaced = m.providers.iter().map(|p| {
        (
            (
                ProviderKind::CloudProvider,
                namespace_of(&p.metadata).to_string(),
                p.metadata.name.clone().unwrap_or_default(),
            ),
            &p.spec,
        )
    });
    let cluster = m.cluster_providers.iter().map(|p| {
        (
            (
                ProviderKind::ClusterCloudProvider,
                String::new(),
                p.metadata.name.clone().unwrap_or_default(),
            ),
            &p.spec.account,
        )
    });
    namespaced.chain(cluster).collect()
}

/// A provider client, or why there is none (bounded reason, readable message).
type ClientSlot = Result<Arc<dyn Provider>, (String, String)>;

/// Holds provider clients across passes, so rate limits persist (demo loops over passes).
pub struct Runner {
    manifests: Manifests,
    options: Options,
    metrics: Option<Arc<Metrics>>,
    clients: BTreeMap<AccountKey, ClientSlot>,
}

impl Runner {
    pub async fn new(
        manifests: Manifests,
        credentials: &CredentialSource,
        options: Options,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        let mut clients = BTreeMap::new();
        // One pool of connections per API host for every account, as the operator has.
        let connections = crate::http::Connections::new().ok();
        for (key, spec) in accounts(&manifests) {
            let name = key.2.clone();
            let mut spec = spec.clone();
            let mut trust = options.trust.clone();
            let overridden = match options.endpoints.get(&name) {
                None => Ok(()),
                Some(url) => {
                    spec.endpoint = Some(url.clone());
                    // The command line's own endpoint: allowed, still parsed by the same rule.
                    crate::trust::url::parse(url, crate::trust::url::Rules::ENDPOINT)
                        .map_err(|e| Error::InvalidSpec(format!("--endpoint {name}=…: {e}")))
                        .and_then(|u| {
                            crate::trust::HostPattern::parse(&u.authority())
                                .map_err(Error::InvalidSpec)
                        })
                        .map(|pattern| trust.endpoint_hosts.push(pattern))
                }
            };
            // Whoever runs `check` supplies the credentials, and the manifests only name them.
            let access = providers::Access {
                trust: &trust,
                principal: crate::trust::Principal::Admin,
                share_reads: options.share_reads,
                connections: connections.as_ref(),
            };
            let found = reconcile::credential(&spec, |secret| {
                let found = credentials.get(&secret.name, &secret.key).ok_or_else(|| {
                    Error::CredentialsMissing(format!(
                        "no value for secret {:?} key {:?} (set {} or use --credentials)",
                        secret.name,
                        secret.key,
                        CredentialSource::env_name(&secret.name, &secret.key)
                    ))
                });
                std::future::ready(found)
            });
            let client = match overridden {
                Err(e) => Err(e),
                Ok(()) => match found.await {
                    Err(e) => Err(e),
                    Ok(credential) => {
                        providers::connect(&spec, credential, metrics.clone(), access).await
                    }
                },
            };
            clients.insert(
                key,
                client.map_err(|e| (e.category().reason().to_string(), e.to_string())),
            );
        }
        Self {
            manifests,
            options,
            metrics,
            clients,
        }
    }

    /// One pass: verify each provider, then sync each policy.
    /// The manifests this runner reconciles.
    pub fn manifests(&self) -> &Manifests {
        &self.manifests
    }

    pub async fn run_once(&self) -> Report {
        let mut report = Report::default();
        // What each account's inventory says of its public hostnames, for the monitoring
        // accounts, which are judged once every account was read.
        let mut served = BTreeMap::new();
        for (key, spec) in accounts(&self.manifests) {
            let mut inventory = None;
            let (ok, reason, message) = match self.clients.get(&key) {
                Some(Ok(client)) => match client.verify().await {
                    Ok(_) => {
                        let (status, hosts) = self.inventory(&key, spec, client.as_ref()).await;
                        inventory = status;
                        served.insert(key.clone(), hosts);
                        (true, None, None)
                    }
                    Err(e) => (
                        false,
                        Some(e.category.reason().to_string()),
                        Some(e.to_string()),
                    ),
                },
                Some(Err((reason, message))) => {
                    (false, Some(reason.clone()), Some(message.clone()))
                }
                None => (false, Some("ProviderNotFound".into()), None),
            };
            if let Some(m) = &self.metrics {
                m.record_provider_up(spec.provider_type, &key.1, &key.2, ok);
            }
            if !ok {
                let why = reason.clone().unwrap_or_else(|| "NotReady".into());
                served.insert(key.clone(), crate::core::hostnames::Served::Failed(why));
            }
            report.providers.push(ProviderReport {
                kind: key.0,
                namespace: key.1,
                name: key.2,
                provider_type: spec.provider_type,
                readable: ok,
                reason,
                message,
                inventory,
            });
        }
        self.hostnames(&mut report, served).await;
        let sets = self.resolve_sets(&mut report).await;
        for fw in &self.manifests.firewalls {
            let namespace = namespace_of(&fw.metadata);
            let mut resolver =
                Resolver::new(namespace, sets.get(namespace).cloned().unwrap_or_default());
            let expanded = providers::registry::with_address_sets(&fw.spec, &mut resolver);
            let declared = match &expanded {
                Ok(spec) => Declared::from_firewall(spec),
                Err(e) => Err(Error::AddressSet(e.clone())),
            };
            let mut policy = self
                .sync_one("FirewallPolicy", &fw.metadata, &fw.spec.controls, declared)
                .await;
            if expanded.is_ok() {
                policy.address_sets = resolver
                    .used()
                    .into_iter()
                    .map(|(name, digest)| UsedAddressSet { name, digest })
                    .collect();
            }
            report.policies.push(policy);
        }
        for mon in &self.manifests.monitors {
            let declared = Declared::from_monitoring(&mon.spec);
            report.policies.push(
                self.sync_one(
                    "MonitoringPolicy",
                    &mon.metadata,
                    &mon.spec.controls,
                    declared,
                )
                .await,
            );
        }
        report
    }

    /// The inventory of each readable monitoring account: the public hostnames of the
    /// accounts it speaks for and which of them its monitors check.
    async fn hostnames(
        &self,
        report: &mut Report,
        served: BTreeMap<AccountKey, crate::core::hostnames::Served>,
    ) {
        use crate::core::hostnames::{Owner, Served};
        type Shared<'a> = Box<dyn Fn(&str) -> bool + Sync + 'a>;
        let all = accounts(&self.manifests);
        let shared: Vec<Shared<'_>> = all
            .iter()
            .map(|(key, _)| -> Shared<'_> {
                let cluster = self.manifests.cluster_providers.iter().find(|c| {
                    key.0 == ProviderKind::ClusterCloudProvider
                        && c.metadata.name.as_deref() == Some(key.2.as_str())
                });
                Box::new(move |ns: &str| cluster.is_some_and(|c| c.spec.shared_with(ns)))
            })
            .collect();
        for p in report.providers.iter_mut().filter(|p| p.readable) {
            let Some(Ok(client)) = self
                .clients
                .get(&(p.kind, p.namespace.clone(), p.name.clone()))
            else {
                continue;
            };
            let monitored = client.monitored_hosts().await;
            if matches!(monitored, Ok(None)) {
                continue;
            }
            let peers = all
                .iter()
                .zip(&shared)
                .filter(|((key, _), _)| {
                    !(key.0 == p.kind && key.1 == p.namespace && key.2 == p.name)
                })
                .map(|((key, spec), shared)| crate::inventory::Peer {
                    owner: match key.0 {
                        ProviderKind::CloudProvider => Owner::Namespace(&key.1),
                        ProviderKind::ClusterCloudProvider => Owner::Cluster(shared.as_ref()),
                    },
                    provider_type: spec.provider_type,
                    account: if key.1.is_empty() {
                        key.2.clone()
                    } else {
                        format!("{}/{}", key.1, key.2)
                    },
                    served: served.get(key).cloned().unwrap_or(Served::Pending),
                })
                .collect();
            let never = |_: &str| false;
            let monitor = match p.kind {
                ProviderKind::CloudProvider => Owner::Namespace(&p.namespace),
                ProviderKind::ClusterCloudProvider => Owner::Cluster(&never),
            };
            let sources = crate::inventory::sources_for(monitor, peers);
            let status = crate::inventory::hostname_status(
                monitored,
                crate::core::hostnames::hostname_assets(&sources),
                crate::compliance::rfc3339(jiff::Timestamp::now()),
            );
            if let Some(m) = &self.metrics {
                m.record_inventory(
                    p.provider_type.as_str(),
                    &p.namespace,
                    &p.name,
                    status.as_ref(),
                );
            }
            p.inventory = status;
        }
    }

    /// The account's inventory, and which of its assets the manifests' FirewallPolicies
    /// cover (recorded as `perimeter_assets`), with what it says of its public hostnames.
    async fn inventory(
        &self,
        key: &AccountKey,
        spec: &crate::api::CloudProviderSpec,
        client: &dyn Provider,
    ) -> (
        Option<crate::api::InventoryStatus>,
        crate::core::hostnames::Served,
    ) {
        let cluster = self
            .manifests
            .cluster_providers
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(key.2.as_str()));
        let shared_with = |ns: &str| cluster.is_some_and(|c| c.spec.shared_with(ns));
        let account = crate::inventory::AccountRef {
            kind: key.0,
            namespace: &key.1,
            name: &key.2,
            shared_with: &shared_with,
        };
        let policies = crate::inventory::policies_of(&account, &self.manifests.firewalls);
        let read = client.inventory().await;
        let served = crate::inventory::served(&read);
        let status = crate::inventory::status(
            spec.provider_type,
            read,
            &policies,
            crate::compliance::rfc3339(jiff::Timestamp::now()),
        );
        if let Some(m) = &self.metrics {
            m.record_inventory(spec.provider_type.as_str(), &key.1, &key.2, status.as_ref());
        }
        (status, served)
    }

    /// Resolves every AddressSet of the manifests (declared ones as written, sourced ones read
    /// through their account's client, under the same rules as a policy's), reports each, and
    /// returns what policies may use, by namespace and name.
    async fn resolve_sets(
        &self,
        report: &mut Report,
    ) -> BTreeMap<String, BTreeMap<String, SetState>> {
        let mut by_namespace: BTreeMap<String, BTreeMap<String, SetState>> = BTreeMap::new();
        for set in &self.manifests.address_sets {
            let namespace = namespace_of(&set.metadata).to_string();
            let name = set.metadata.name.clone().unwrap_or_default();
            let result = self.resolve_set(&namespace, &set.spec).await;
            let source = crate::addressset::source_label(&set.spec);
            let (state, entry) = match result {
                Ok(addresses) => {
                    let state = SetState::ready(addresses.clone());
                    let digest = match &state {
                        SetState::Ready { digest, .. } => Some(digest.clone()),
                        SetState::NotReady(_) => None,
                    };
                    let entry = AddressSetReport {
                        namespace: namespace.clone(),
                        name: name.clone(),
                        source,
                        ready: true,
                        count: addresses.len(),
                        digest,
                        addresses,
                        reason: None,
                        message: None,
                    };
                    (state, entry)
                }
                Err(u) => (
                    SetState::NotReady(format!("{}: {}", u.reason, u.message)),
                    AddressSetReport {
                        namespace: namespace.clone(),
                        name: name.clone(),
                        source,
                        ready: false,
                        count: 0,
                        digest: None,
                        addresses: Vec::new(),
                        reason: Some(u.reason),
                        message: Some(u.message),
                    },
                ),
            };
            if let Some(m) = &self.metrics {
                m.record_address_set(&namespace, &name, source, entry.ready, entry.count);
            }
            report.address_sets.push(entry);
            by_namespace
                .entry(namespace)
                .or_default()
                .insert(name, state);
        }
        by_namespace
    }

    async fn resolve_set(
        &self,
        namespace: &str,
        spec: &crate::api::AddressSetSpec,
    ) -> Result<Vec<String>, crate::addressset::Unresolved> {
        use crate::addressset::{Unresolved, admit, resolve};
        let Some(reference) = spec.source.as_ref().and_then(|s| s.provider_ref()) else {
            return resolve(spec, None).await;
        };
        let key = (
            ProviderKind::CloudProvider,
            namespace.to_string(),
            reference.name.clone(),
        );
        let what = format!("CloudProvider {namespace}/{}", reference.name);
        let Some((account_type, _)) = self.account(&key) else {
            return Err(Unresolved::new(
                "ProviderNotFound",
                format!("{what} is not in the manifests"),
            ));
        };
        admit(spec, &what, account_type)?;
        match self.clients.get(&key) {
            None => Err(Unresolved::new(
                "ProviderNotFound",
                format!("{what} is not in the manifests"),
            )),
            Some(Err((reason, message))) => Err(Unresolved::new(reason.clone(), message.clone())),
            Some(Ok(client)) => resolve(spec, Some(client.as_ref())).await,
        }
    }

    /// Syncs one policy, counted and timed like an operator reconcile.
    async fn sync_one(
        &self,
        kind: &'static str,
        meta: &kube::api::ObjectMeta,
        controls: &PolicyControls,
        declared: Result<Declared<'_>, Error>,
    ) -> PolicyReport {
        let started = std::time::Instant::now();
        let report = self.sync_one_inner(kind, meta, controls, declared).await;
        if let Some(m) = &self.metrics {
            let result = match report.reason.as_deref() {
                None => "success",
                Some("Paused") => "paused",
                Some(reason) => {
                    crate::error::Category::from_reason(reason).map_or("error", |c| c.label())
                }
            };
            m.observe_reconcile(kind, result, started.elapsed());
        }
        report
    }

    /// The type of an account of the manifests, and its sharing rules if it is a
    /// ClusterCloudProvider.
    fn account(
        &self,
        key: &AccountKey,
    ) -> Option<(ProviderType, Option<&crate::api::ClusterCloudProviderSpec>)> {
        match key.0 {
            ProviderKind::CloudProvider => self
                .manifests
                .provider(&key.1, &key.2)
                .map(|p| (p.spec.provider_type, None)),
            ProviderKind::ClusterCloudProvider => self
                .manifests
                .cluster_providers
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(key.2.as_str()))
                .map(|p| (p.spec.account.provider_type, Some(&p.spec))),
        }
    }

    async fn sync_one_inner(
        &self,
        kind: &'static str,
        meta: &kube::api::ObjectMeta,
        controls: &PolicyControls,
        declared: Result<Declared<'_>, Error>,
    ) -> PolicyReport {
        let namespace = namespace_of(meta).to_string();
        let name = meta.name.clone().unwrap_or_default();
        let provider_name = controls.provider_ref.name.clone();
        let mode = if self.options.force_observe {
            Mode::Observe
        } else {
            controls.mode
        };
        let mut report = PolicyReport {
            kind,
            namespace: namespace.clone(),
            name: name.clone(),
            provider: provider_name.clone(),
            provider_kind: controls.provider_ref.kind,
            mode: controls.mode,
            state: PolicyState::Unknown,
            drift_found: Vec::new(),
            applied: Vec::new(),
            drift: Vec::new(),
            findings: Vec::new(),
            managed: 0,
            unmanaged: 0,
            revision: None,
            alert_routes: Vec::new(),
            alert_channels: Vec::new(),
            address_sets: Vec::new(),
            attribution: None,
            reason: None,
            message: None,
        };
        let fail = |mut r: PolicyReport, state: PolicyState, reason: &str, message: String| {
            r.state = state;
            r.reason = Some(reason.to_string());
            r.message = Some(message);
            r
        };
        if controls.paused {
            return fail(
                report,
                PolicyState::Unknown,
                "Paused",
                "spec.paused is true".into(),
            );
        }
        let declared = match declared {
            Ok(d) => d,
            // A set that cannot be used yet is not a fault of the policy: its state is unknown.
            Err(e @ Error::AddressSet(_)) => {
                return fail(
                    report,
                    PolicyState::Unknown,
                    e.category().reason(),
                    e.to_string(),
                );
            }
            Err(e) => {
                return fail(
                    report,
                    PolicyState::Invalid,
                    e.category().reason(),
                    e.to_string(),
                );
            }
        };
        let reference = &controls.provider_ref;
        let key = match reference.kind {
            ProviderKind::CloudProvider => {
                (reference.kind, namespace.clone(), provider_name.clone())
            }
            ProviderKind::ClusterCloudProvider => {
                (reference.kind, String::new(), provider_name.clone())
            }
        };
        let what = reference.describe(&namespace);
        let Some((account_type, cluster)) = self.account(&key) else {
            return fail(
                report,
                PolicyState::Invalid,
                "ProviderNotFound",
                format!("{what} is not in the manifests"),
            );
        };
        // The operator's rule, with the policy's own mode: `check` says what the operator would.
        if let Err(e) = reconcile::admit(
            declared,
            &what,
            account_type,
            cluster,
            &namespace,
            controls.mode,
        ) {
            return fail(
                report,
                PolicyState::Invalid,
                e.category().reason(),
                e.to_string(),
            );
        }
        let client = match self.clients.get(&key) {
            None => {
                return fail(
                    report,
                    PolicyState::Invalid,
                    "ProviderNotFound",
                    format!("{what} is not in the manifests"),
                );
            }
            Some(Err((reason, message))) => {
                return fail(report, PolicyState::Unknown, reason, message.clone());
            }
            Some(Ok(c)) => c,
        };
        let target = match declared.target() {
            Ok(t) => t,
            Err(e) => {
                return fail(
                    report,
                    PolicyState::Invalid,
                    e.category().reason(),
                    e.to_string(),
                );
            }
        };
        let deadline = self
            .options
            .sync_deadline
            .unwrap_or(crate::controller::DEFAULT_SYNC_DEADLINE);
        let outcome =
            reconcile::sync_within(client.as_ref(), &target, mode, controls.unmanaged, deadline)
                .await;
        if let Some(m) = &self.metrics {
            outcome.record(
                m,
                [declared.provider_type().as_str(), kind, &namespace, &name],
                &provider_name,
                crate::metrics::unix_now(),
            );
        }
        fill(&mut report, &outcome);
        report
    }
}

fn fill(report: &mut PolicyReport, outcome: &SyncOutcome) {
    report.drift_found = drift_entries(outcome.found.as_ref(), outcome.attribution.as_ref());
    report.drift = drift_entries(outcome.remaining.as_ref(), outcome.attribution.as_ref());
    report.attribution = outcome
        .attribution
        .as_ref()
        .filter(|a| a.kept)
        .map(|a| a.summary.clone());
    report.applied = outcome.applied.clone();
    report.revision = outcome.revision.clone();
    report.alert_routes = outcome.alerting.routes.clone();
    report.alert_channels = outcome.alerting.channels.clone();
    report.findings = outcome
        .findings
        .iter()
        .map(|f| FindingEntry {
            code: f.code.into(),
            subject: f.subject.clone(),
            message: f.message.clone(),
        })
        .collect();
    report.managed = outcome.remaining.as_ref().map_or(0, |d| d.managed);
    report.unmanaged = outcome
        .remaining
        .as_ref()
        .map_or(0, |d| u32::try_from(d.unmanaged.len()).unwrap_or(u32::MAX));
    report.state = match &outcome.remaining {
        None => PolicyState::Unknown,
        Some(d) if d.in_sync() => PolicyState::InSync,
        Some(_) => PolicyState::Drifted,
    };
    if let Some(e) = &outcome.error {
        report.reason = Some(e.category.reason().to_string());
        report.message = Some(e.to_string());
    }
}

/// Human-readable rendering of a report.
/// `assets: 2 of 3 covered; uncovered: zone example.org (…)`, or why they are unknown.
fn inventory_line(i: &crate::api::InventoryStatus) -> String {
    match (i.total, i.covered) {
        (Some(total), Some(covered)) if i.read() => {
            let mut line = format!("assets: {covered} of {total} covered by a FirewallPolicy");
            if let Some(summary) = crate::inventory::uncovered_summary(i, 5) {
                line = format!("{line}; {summary}");
            }
            line
        }
        _ => format!(
            "assets: UNKNOWN ({}): {}",
            i.reason.as_deref().unwrap_or("?"),
            i.message.as_deref().unwrap_or("not read")
        ),
    }
}

pub fn render_text(report: &Report, out: &mut String) {
    use std::fmt::Write;
    for i in &report.ignored {
        let _ = writeln!(
            out,
            "ignored {} {} {} ({} document {}): not a Perimeter object",
            i.api_version,
            i.kind,
            i.name.as_deref().unwrap_or("(no name)"),
            i.file,
            i.document
        );
    }
    for p in &report.providers {
        let state = if p.readable {
            "reachable".to_string()
        } else {
            format!("UNREADABLE ({})", p.reason.as_deref().unwrap_or("?"))
        };
        let scope = match p.kind {
            ProviderKind::CloudProvider => p.namespace.as_str(),
            ProviderKind::ClusterCloudProvider => "cluster",
        };
        let _ = writeln!(
            out,
            "provider {scope}/{} ({}): {state}",
            p.name, p.provider_type
        );
        if let Some(m) = &p.message {
            let _ = writeln!(out, "    {m}");
        }
        if let Some(i) = &p.inventory {
            let _ = writeln!(out, "    {}", inventory_line(i));
        }
    }
    for s in &report.address_sets {
        let state = if s.ready {
            format!(
                "{} address(es), digest {}",
                s.count,
                s.digest.as_deref().map_or("", |d| &d[..d.len().min(12)])
            )
        } else {
            format!("NOT READY ({})", s.reason.as_deref().unwrap_or("?"))
        };
        let _ = writeln!(
            out,
            "address set {}/{} ({}): {state}",
            s.namespace, s.name, s.source
        );
        if let (false, Some(m)) = (s.ready, &s.message) {
            let _ = writeln!(out, "    {m}");
        }
    }
    for p in &report.policies {
        let state = match p.state {
            PolicyState::InSync => "in sync".to_string(),
            PolicyState::Drifted => format!("DRIFTED ({} field(s))", p.drift.len()),
            PolicyState::Unknown => format!("UNKNOWN ({})", p.reason.as_deref().unwrap_or("?")),
            PolicyState::Invalid => format!("INVALID ({})", p.reason.as_deref().unwrap_or("?")),
        };
        let _ = writeln!(
            out,
            "{} {}/{} → {} [{}]: {state}",
            p.kind,
            p.namespace,
            p.name,
            p.provider,
            p.mode.as_str()
        );
        for s in &p.address_sets {
            let _ = writeln!(
                out,
                "    uses address set {} (digest {})",
                s.name,
                &s.digest[..s.digest.len().min(12)]
            );
        }
        if !p.applied.is_empty() {
            let _ = writeln!(
                out,
                "    enforced {} change(s) (drift found: {}):",
                p.applied.len(),
                p.drift_found.len()
            );
            for a in &p.applied {
                let _ = writeln!(out, "      ✔ {a}");
            }
        }
        for d in &p.drift {
            let _ = writeln!(out, "    {}", crate::status::drift_line(d));
        }
        if let (Some(a), false) = (&p.attribution, p.drift.is_empty()) {
            let _ = writeln!(out, "    attribution: {a}");
        }
        for f in &p.findings {
            let _ = writeln!(out, "    ! {} {}: {}", f.code, f.subject, f.message);
        }
        if let (Some(m), PolicyState::Unknown | PolicyState::Invalid) = (&p.message, p.state) {
            let _ = writeln!(out, "    {m}");
        } else if let (Some(m), true) = (&p.message, p.state == PolicyState::Drifted) {
            let _ = writeln!(out, "    error: {m}");
        }
    }
}

/// Loads and validates the manifests (all of them, before any provider is called), then runs
/// one pass (what `perimeter check` does).
pub async fn check(
    dir: &Path,
    credentials: &CredentialSource,
    options: Options,
    metrics: Option<Arc<Metrics>>,
) -> Result<Report, String> {
    let manifests = Manifests::load_dir(dir).map_err(|e| e.to_string())?;
    if manifests.firewalls.is_empty() && manifests.monitors.is_empty() {
        return Err(format!(
            "{}: no FirewallPolicy or MonitoringPolicy found",
            dir.display()
        ));
    }
    let ignored = manifests.ignored.clone();
    let mut report = Runner::new(manifests, credentials, options, metrics)
        .await
        .run_once()
        .await;
    report.ignored = ignored;
    Ok(report)
}
