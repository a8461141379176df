//! One module per provider, all behind the [`Provider`] trait. The controller, `check` and
//! `demo` only ever see this trait; each module owns its API shapes, auth and quirks, and
//! calls its API through the shared [`crate::http`] layer.

#[cfg(test)]
mod address_set_tests;
pub mod aws;
pub mod betterstack;
pub mod cloudflare;
pub mod fake;
pub mod fleet;
pub mod gcp;
pub mod modal;
pub mod qdrant;
pub mod registry;
pub mod slack;
pub mod supabase;
pub mod triggerdev;
pub mod turso;
pub mod upstash;
pub mod vercel;

pub use registry::{Declared, Kit};

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::{Change, State};
use crate::error::{Category, Error, ProviderError};
use crate::metrics::Metrics;
use crate::secret::SecretString;
use crate::trust::{Principal, Trust};

/// Whether a target is a policy's firewall or its monitoring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Purpose {
    #[default]
    Firewall,
    Monitoring,
}

/// What a policy's block covers at its provider (a zone, a network, a region or all of the
/// account's regions), as the provider's own type: each provider defines one in its folder and
/// reads it back with [`Target::scope_of`]. The rest of Perimeter only prints it.
#[derive(Clone)]
pub struct Scope {
    value: Arc<dyn Any + Send + Sync>,
    /// The value's `Display` text, e.g. `zone 023e…`.
    text: Arc<str>,
}

impl Scope {
    pub fn new<T: Any + Send + Sync + fmt::Display>(value: T) -> Self {
        Self {
            text: value.to_string().into(),
            value: Arc::new(value),
        }
    }

    /// The value, if it is a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.value.downcast_ref()
    }
}

/// A target no provider built (tests of the pipeline with the fake provider).
#[derive(Clone, Copy, Debug)]
struct Unscoped;

impl fmt::Display for Unscoped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no scope")
    }
}

impl Default for Scope {
    fn default() -> Self {
        Self::new(Unscoped)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scope({})", self.text)
    }
}

/// What a policy declares at one provider, mapped into the neutral model.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// Set once, from the policy's kind ([`Declared::target`]); providers read it instead of
    /// guessing from section names.
    pub purpose: Purpose,
    /// Where it applies, typed by the provider that built the target; displays as e.g.
    /// `zone 023e…`.
    pub scope: Scope,
    /// Declared sections; each desired item's `raw` is the API body that creates it.
    pub desired: State,
}

impl Target {
    /// The fewest reads a sync of this target makes: one per declared section (at least one).
    pub fn reads(&self) -> u32 {
        u32::try_from(self.desired.sections.len().max(1)).unwrap_or(u32::MAX)
    }

    /// The scope as the provider's type `T`. A target built by another provider (or by none)
    /// is refused as `InvalidSpec`, naming what it is.
    pub fn scope_of<T: Any>(&self, operation: &'static str) -> Result<&T, ProviderError> {
        self.scope.get().ok_or_else(|| {
            ProviderError::new(
                Category::InvalidSpec,
                operation,
                format!(
                    "the target ({}) was not built for this provider",
                    self.scope
                ),
            )
        })
    }
}

/// Something observed that is not drift but deserves attention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Bounded, CamelCase: `UnmanagedRule`, `LogJobFailing`, …
    pub code: &'static str,
    pub subject: String,
    pub message: String,
}

/// A [`MANUAL_CHANGE_NEEDED`](crate::core::model::MANUAL_CHANGE_NEEDED) finding for each
/// section of `read_only` (its name, and what a person must do) that is declared and drifted:
/// the provider's API cannot write it, so Enforce leaves it and the status says why.
pub fn manual_change_findings(
    desired: &State,
    observed: &State,
    read_only: &[(&str, &str)],
) -> Vec<Finding> {
    read_only
        .iter()
        .filter_map(|(name, what_to_do)| {
            let want = desired.section(name)?;
            let one = |s: Option<&crate::core::Section>| State {
                sections: s.cloned().into_iter().collect(),
            };
            let d = crate::core::diff(
                &one(Some(want)),
                &one(observed.section(name)),
                crate::core::Undeclared::Report,
            );
            (!d.drift.is_empty()).then(|| Finding {
                code: crate::core::model::MANUAL_CHANGE_NEEDED,
                subject: (*name).to_string(),
                message: (*what_to_do).to_string(),
            })
        })
        .collect()
}

/// The provider's state for the declared sections, read in one pass.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    pub state: State,
    pub findings: Vec<Finding>,
    /// The provider's own version of what was read, when its API gives one (Vercel's firewall
    /// configuration `version` and `updatedAt`, Supabase's network restrictions
    /// `updated_at`/`applied_at`): status and the evidence trail carry it, so an auditor can
    /// match a verdict to the provider's change history.
    pub revision: Option<String>,
    /// Alert routes observed at a source provider, and Slack channels checked: what DE.CM-1's
    /// alert routing is verified from (see [`crate::core::routing`]).
    pub alerting: crate::core::routing::AlertingFacts,
    /// The audit log, when the provider reads it with the state (Upstash, Turso); otherwise
    /// `None`, and [`Provider::audit_trail`] is asked once drift is found.
    pub audit: Option<crate::core::attribution::Trail>,
}

/// A write that stopped part-way: what had been applied, and why it stopped.
/// Each applied change is whole (a ruleset is replaced in one call), so the provider is
/// never left with a half-written rule set — only with a plan that is partly done.
#[derive(Debug, thiserror::Error)]
#[error("{error} (after {} change(s) applied)", applied.len())]
pub struct ApplyError {
    pub applied: Vec<String>,
    pub error: ProviderError,
}

/// A provider account that can be read and, in `Enforce` mode, written.
#[async_trait]
pub trait Provider: Send + Sync {
    fn provider_type(&self) -> ProviderType;

    /// Checks that the credential is accepted and the API answers; returns a short description.
    async fn verify(&self) -> Result<String, ProviderError>;

    /// Resolves what a policy's target covers at this account, before it is read: AWS expands a
    /// block without a region into one set of sections per region of the `CloudProvider`.
    /// Most providers have nothing to resolve.
    fn resolve(&self, target: &Target) -> Result<Target, ProviderError> {
        Ok(target.clone())
    }

    /// Reads the provider's state for the sections `target` declares (and only those).
    async fn observe(&self, target: &Target) -> Result<Observation, ProviderError>;

    /// The addresses an `AddressSet`'s source reads from this account, as the provider
    /// answers them (validated as addresses by the caller). Only the providers that publish
    /// addresses have one; the others refuse before any request.
    async fn source_addresses(
        &self,
        source: &crate::api::addressset::AddressSource,
    ) -> Result<Vec<String>, ProviderError> {
        Err(ProviderError::new(
            Category::InvalidSpec,
            "read_address_source",
            format!(
                "{}: a {} account publishes no addresses",
                source.field(),
                self.provider_type()
            ),
        ))
    }

    /// The account's boundary assets (zones, VPCs, security groups…), read through the same
    /// HTTP layer as every other call (paged, rate-limited, counted). `Ok(None)`: the provider
    /// does not list its assets (yet), so nothing is said about their coverage. A failed read is
    /// an error, never an empty list: coverage is then Unknown. Which policy block covers which
    /// asset is its kit's [`Kit::covers`](registry::Kit::covers).
    async fn inventory(&self) -> Result<Option<Vec<crate::core::inventory::Asset>>, ProviderError> {
        Ok(None)
    }

    /// The hosts the account's active uptime monitors check, read through the same HTTP layer
    /// (paged, rate-limited, counted): the coverage of the other accounts' public hostnames
    /// ([`crate::core::hostnames`]). `Ok(None)` (the default): the provider runs no uptime
    /// monitors. A failed read is an error: that coverage is then Unknown.
    async fn monitored_hosts(&self) -> Result<Option<Vec<String>>, ProviderError> {
        Ok(None)
    }

    /// Who made the drifted changes: the provider's audit log since
    /// [`LOOKBACK`](crate::core::attribution::LOOKBACK), mapped onto `target`'s sections, with
    /// Perimeter's own writes recognised. Asked only when there is drift, read through the same
    /// HTTP layer as every other call. `Ok(Trail::NotKept)` (the default): the provider keeps no
    /// log Perimeter reads. An error never stops the sync: the drift is then unattributed, with
    /// the error as the reason.
    async fn audit_trail(
        &self,
        _target: &Target,
        _drift: &[crate::core::Drift],
    ) -> Result<crate::core::attribution::Trail, ProviderError> {
        Ok(crate::core::attribution::Trail::NotKept)
    }

    /// The rate limits a sync of `target` draws on: the account's bucket, or one per API the
    /// target's reads use. The operator reserves a sync's calls on them before it starts it,
    /// and requeues the policy while they are spent ([`crate::http::ratelimit::Reservation`]),
    /// so that a sync does not wait in one of its slots. None for a client that does not know.
    fn rate_limiters(
        &self,
        _target: &Target,
    ) -> Vec<std::sync::Arc<crate::http::ratelimit::RateLimiter>> {
        Vec::new()
    }

    /// Carries out `plan` (from [`crate::core::diff`]), in order. Returns what was applied.
    async fn apply(
        &self,
        target: &Target,
        observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError>;
}

/// A provider client on the shared HTTP layer, whose reads the operator shares
/// ([`Access::share_reads`]).
pub(crate) trait OnHttp: Sized {
    fn http_mut(&mut self) -> &mut crate::http::HttpClient;

    /// The client as `access` has it run: handing successful reads' answers to identical
    /// reads for [`Access::share_reads`], and sending through [`Access::connections`].
    fn operated(mut self, access: Access<'_>) -> Self {
        let http = self.http_mut();
        http.share_reads_for(access.share_reads);
        if let Some(connections) = access.connections {
            http.connect_through(connections);
        }
        self
    }
}

/// What the operator's admin allows one account (see [`crate::trust`]); checked before the
/// client makes any request. With how the admin has the client read.
#[derive(Clone, Copy, Debug)]
pub struct Access<'a> {
    pub trust: &'a Trust,
    /// Who supplied the credential.
    pub principal: Principal,
    /// How long a successful read's answer is handed to identical reads of the account
    /// (`perimeter operator --share-reads-for`; see [`crate::http::share`]). 0: only reads in
    /// flight together share one.
    pub share_reads: std::time::Duration,
    /// The connections every account's client sends through (the operator's; see
    /// [`crate::http::Connections`]). `None`: the client has its own.
    pub connections: Option<&'a crate::http::Connections>,
}

/// Builds the client for a provider account. `credential` is `None` for `source: Ambient`.
/// Fails for provider types without a client yet, and for what `access` does not allow (an
/// endpoint that is not the provider's).
pub async fn connect(
    spec: &CloudProviderSpec,
    credential: Option<SecretString>,
    metrics: Option<Arc<Metrics>>,
    access: Access<'_>,
) -> Result<Arc<dyn Provider>, Error> {
    // Nothing to reach and no credential: refused field by field, before the trust checks.
    if let Some(client) = registry::connect_without_api(spec) {
        return client;
    }
    if let Some(endpoint) = &spec.endpoint {
        access
            .trust
            .check_endpoint(spec.provider_type, "spec.endpoint", endpoint)?;
    }
    // A region becomes part of a host name (`ec2.{region}.amazonaws.com`): the schema's rule,
    // again, for objects stored without it.
    for (i, region) in spec.regions.iter().flatten().enumerate() {
        let ok = region.len() <= 32
            && region.starts_with(|c: char| c.is_ascii_lowercase())
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err(Error::InvalidSpec(format!(
                "spec.regions[{i}]: {:?} is not a region name",
                region.chars().take(40).collect::<String>()
            )));
        }
    }
    if credential.as_ref().is_some_and(SecretString::is_empty) {
        return Err(Error::CredentialsMissing("the credential is empty".into()));
    }
    match registry::connect_registered(spec, credential, metrics, access).await {
        Some(client) => client,
        None => Err(Error::ProviderNotSupported(format!(
            "provider type {} has no client in this version of Perimeter",
            spec.provider_type
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Change;

    fn spec(provider_type: &str) -> CloudProviderSpec {
        serde_json::from_value(serde_json::json!({
            "type": provider_type, "accountId": "a", "credentials": {"secretRef": {"name": "s", "key": "k"}}
        }))
        .expect("spec")
    }

    /// One firewall target of each registered provider, and one no provider built.
    fn targets() -> Vec<(&'static str, Target)> {
        let cloudflare = cloudflare::firewall_target(
            &serde_json::from_value(serde_json::json!({
                "zoneId": "023e105f4ecef8ad9ca31a8372d0c353",
                "ipAccessRules": [{"mode": "block", "target": "ip", "value": "192.0.2.1"}]
            }))
            .expect("block"),
        );
        let aws = aws::firewall_target(
            &serde_json::from_value(serde_json::json!({
                "region": "eu-west-1", "findings": {"worldOpenIngress": "Forbid"}
            }))
            .expect("block"),
        );
        let gcp = gcp::firewall_target(
            &serde_json::from_value(serde_json::json!({
                "network": "default",
                "firewallRules": [{"name": "ssh", "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}],
                                   "sourceRanges": ["10.0.0.0/8"]}]
            }))
            .expect("block"),
        );
        vec![
            ("cloudflare", cloudflare.expect("target")),
            ("aws", aws.expect("target")),
            ("gcp", gcp.expect("target")),
            ("none", Target::default()),
        ]
    }

    /// A client of each registered provider, pointed at a port nothing listens on: a request
    /// would fail as unreachable, not as `InvalidSpec`.
    async fn clients() -> Vec<(&'static str, Arc<dyn Provider>)> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let spec = |t: &str, source: &str| -> CloudProviderSpec {
            serde_json::from_value(serde_json::json!({
                "type": t, "accountId": "acct-1", "endpoint": endpoint, "regions": ["eu-west-1"],
                "credentials": {"source": source, "secretRef": {"name": "s", "key": "k"}}
            }))
            .expect("spec")
        };
        let keys = SecretString::new(r#"{"accessKeyId": "AKIDEXAMPLE", "secretAccessKey": "s"}"#);
        let aws = aws::Aws::connect(&spec("aws", "Secret"), Some(keys), None)
            .await
            .expect("aws");
        let cloudflare = cloudflare::Cloudflare::new(
            &spec("cloudflare", "Secret"),
            SecretString::new("token"),
            None,
        )
        .expect("cloudflare");
        let options = gcp::Options {
            metadata_host: Some(format!("127.0.0.1:{port}")),
            ..gcp::Options::default()
        };
        let gcp =
            gcp::Gcp::connect_with(&spec("gcp", "Ambient"), None, None, options).expect("gcp");
        vec![
            ("cloudflare", Arc::new(cloudflare) as Arc<dyn Provider>),
            ("aws", Arc::new(aws)),
            ("gcp", Arc::new(gcp)),
        ]
    }

    /// A target's scope is typed by the provider that built it: every other provider refuses
    /// it as `InvalidSpec` naming it, before any request, whatever it is asked to do.
    #[tokio::test]
    async fn a_client_refuses_another_providers_target() {
        let targets = targets();
        for (provider, client) in clients().await {
            for (built_by, target) in targets.iter().filter(|(by, _)| by != &provider) {
                let change = Change::Create {
                    section: target
                        .desired
                        .sections
                        .first()
                        .map_or("any".into(), |s| s.name.clone()),
                    key: "k".into(),
                };
                let observed = client.observe(target).await.err();
                let applied = client
                    .apply(target, &Observation::default(), &[change])
                    .await
                    .err();
                let resolved = client.resolve(target).err();
                let case = format!("{provider} given a {built_by} target");
                for e in [observed.as_ref(), applied.as_ref().map(|e| &e.error)] {
                    let e = e.unwrap_or_else(|| panic!("{case}: accepted"));
                    assert_eq!(e.category, Category::InvalidSpec, "{case}: {e}");
                    assert!(
                        e.message.contains("was not built for this provider")
                            && e.message.contains(&target.scope.to_string()),
                        "{case}: {e}"
                    );
                }
                assert!(applied.is_some_and(|e| e.applied.is_empty()), "{case}");
                // Resolving changes nothing for providers without regions to expand; AWS
                // refuses what it would not know how to expand.
                match provider {
                    "aws" => assert!(
                        resolved.is_some_and(|e| e.category == Category::InvalidSpec),
                        "{case}"
                    ),
                    _ => assert!(resolved.is_none(), "{case}"),
                }
            }
        }
    }

    /// Each AddressSet source is read by its own provider's client only: any other client
    /// refuses it as `InvalidSpec` naming the source, before any request (the offline clients
    /// would fail as unreachable otherwise).
    #[tokio::test]
    async fn a_client_refuses_another_providers_address_source() {
        use crate::api::addressset::AddressSource;
        let sources: Vec<(&str, AddressSource)> = [
            (
                "aws",
                serde_json::json!({"awsNatGateways": {"providerRef": {"name": "a"}}}),
            ),
            (
                "gcp",
                serde_json::json!({"gcpCloudNat": {"providerRef": {"name": "g"},
                    "region": "europe-west1", "router": "r"}}),
            ),
            (
                "betterstack",
                serde_json::json!({"betterstack": {"providerRef": {"name": "b"}}}),
            ),
        ]
        .into_iter()
        .map(|(p, v)| (p, serde_json::from_value(v).expect("source")))
        .collect();
        for (provider, client) in clients().await {
            for (of, source) in sources.iter().filter(|(of, _)| *of != provider) {
                let e = client.source_addresses(source).await.expect_err("refused");
                assert_eq!(
                    e.category,
                    Category::InvalidSpec,
                    "{provider} given {of}: {e}"
                );
                assert!(
                    e.message.contains(source.field()),
                    "{provider} given {of}: {e}"
                );
            }
        }
        // Its own source goes to the API (here: nowhere to be reached).
        for (provider, client) in clients().await {
            if let Some((_, own)) = sources.iter().find(|(of, _)| *of == provider) {
                let e = client.source_addresses(own).await.expect_err("offline");
                assert_ne!(e.category, Category::InvalidSpec, "{provider}: {e}");
            }
        }
    }

    /// GCP reads a firewall of a network and monitoring of the project: a target whose purpose
    /// and scope disagree (only a hand-built one can) is refused, not read as either.
    #[tokio::test]
    async fn gcp_refuses_a_target_whose_purpose_and_scope_disagree() {
        let clients = clients().await;
        let gcp = clients.iter().find(|(p, _)| *p == "gcp").expect("gcp");
        let targets = targets();
        let (_, firewall) = targets.iter().find(|(p, _)| *p == "gcp").expect("gcp");
        let mixed = Target {
            purpose: Purpose::Monitoring,
            ..firewall.clone()
        };
        let e = gcp.1.observe(&mixed).await.expect_err("refused");
        assert_eq!(e.category, Category::InvalidSpec, "{e}");
        assert!(e.message.contains("network default"), "{e}");
    }

    #[tokio::test]
    async fn connect_reports_missing_credentials_and_unsupported_types_by_category() {
        let mut cases = vec![
            ("cloudflare", "token", None),
            (
                "cloudflare",
                "  ",
                Some(crate::Category::CredentialsMissing),
            ),
        ];
        // While some type has no client (and is not one without an API): it is refused as
        // such, credential or not.
        if let Some(t) = ProviderType::ALL
            .into_iter()
            .find(|t| !registry::REGISTERED.contains(t) && registry::without_api(*t).is_none())
        {
            cases.push((
                t.as_str(),
                "token",
                Some(crate::Category::ProviderNotSupported),
            ));
            cases.push((t.as_str(), "", Some(crate::Category::CredentialsMissing)));
        }
        for (t, credential, want) in cases {
            let trust = Trust::default();
            let access = Access {
                trust: &trust,
                principal: Principal::Tenant,
                share_reads: std::time::Duration::ZERO,
                connections: None,
            };
            let got = connect(&spec(t), Some(SecretString::new(credential)), None, access)
                .await
                .err()
                .map(|e| e.category());
            assert_eq!(got, want, "{t} with {credential:?}");
        }
        // A provider without an API connects to nothing: Ready without a credential, and a
        // stored object that names one (past the schema) is refused naming the field.
        let trust = Trust::default();
        let access = Access {
            trust: &trust,
            principal: Principal::Tenant,
            share_reads: std::time::Duration::ZERO,
            connections: None,
        };
        let bare: CloudProviderSpec =
            serde_json::from_value(serde_json::json!({"type": "modal", "accountId": "acme-ml"}))
                .expect("spec");
        let client = connect(&bare, None, None, access).await.expect("no API");
        assert_eq!(client.verify().await.expect("verify"), modal::READY_MESSAGE);
        let e = connect(&spec("modal"), None, None, access)
            .await
            .err()
            .expect("a credential for modal");
        assert_eq!(e.category(), crate::Category::InvalidSpec);
        assert!(e.to_string().contains("spec.credentials"), "{e}");
    }

    /// Drift on a section the API cannot write is named with what to do; a section that
    /// matches, or is not declared, is not.
    #[test]
    fn manual_change_findings_name_only_declared_drifted_read_only_sections() {
        use crate::core::{Item, Section, SectionKind};
        let state = |pairs: &[(&str, bool)]| State {
            sections: pairs
                .iter()
                .map(|(name, on)| {
                    Section::new(
                        *name,
                        SectionKind::Settings,
                        vec![Item::new("enabled").field("value", *on)],
                    )
                })
                .collect(),
        };
        let read_only = [("prometheus", "switch it on"), ("tls", "add a certificate")];
        type Settings<'a> = &'a [(&'a str, bool)];
        let cases: [(Settings, Settings, &[&str]); 4] = [
            (
                &[("prometheus", true)],
                &[("prometheus", false)],
                &["prometheus"],
            ),
            (&[("prometheus", true)], &[("prometheus", true)], &[]),
            (&[], &[("prometheus", false), ("tls", false)], &[]),
            (
                &[("prometheus", true), ("tls", true), ("other", true)],
                &[("tls", false), ("other", false)],
                &["prometheus", "tls"],
            ),
        ];
        for (desired, observed, want) in cases {
            let found = manual_change_findings(&state(desired), &state(observed), &read_only);
            let subjects: Vec<&str> = found.iter().map(|f| f.subject.as_str()).collect();
            assert_eq!(subjects, want, "{desired:?} vs {observed:?}");
            assert!(found.iter().all(|f| f.code == "ManualChangeNeeded"));
        }
    }
}
