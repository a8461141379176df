//! The provider registry: the one place that lists the providers Perimeter has a client for.
//!
//! Everything about a provider lives in its folder, `src/providers/<name>/`, behind [`Kit`]:
//! its API blocks (the `spec.<name>` of `FirewallPolicy` and `MonitoringPolicy`), the mapping
//! into the neutral model, its client, its finding codes and what the compliance report says
//! about it ([`Info`]). [`registered_providers!`](crate::registered_providers) names each
//! provider once; the policy kinds' provider fields, their "exactly one provider block" rule, the
//! [`Declared`] union and every dispatch follow from that line, so a provider cannot be half
//! wired: a missing piece is a compile error, and [`missing`] lists what a provider lacks outside
//! the code (emulator, examples, conformance spec, docs). See `docs/adding-a-provider.md`.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Access, Provider, Target};
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::addresses::{Resolver, SetError};
use crate::core::inventory::Asset;
use crate::core::normalize::Invalid;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::secret::SecretString;

/// The providers with a client: `field: ProviderType variant => kit`. The field is the name of
/// the policy block (`spec.cloudflare`). One line per provider; keep them in this order (it is
/// the order of the CRD's fields).
#[macro_export]
macro_rules! registered_providers {
    ($then:path) => {
        $then! {
            cloudflare: Cloudflare => $crate::providers::cloudflare::Kit,
            aws: Aws => $crate::providers::aws::Kit,
            gcp: Gcp => $crate::providers::gcp::Kit,
            vercel: Vercel => $crate::providers::vercel::Kit,
            supabase: Supabase => $crate::providers::supabase::Kit,
            qdrant: Qdrant => $crate::providers::qdrant::Kit,
            turso: Turso => $crate::providers::turso::Kit,
            upstash: Upstash => $crate::providers::upstash::Kit,
            slack: Slack => $crate::providers::slack::Kit,
            betterstack: Betterstack => $crate::providers::betterstack::Kit,
            triggerdev: Triggerdev => $crate::providers::triggerdev::Kit,
            fleet: Fleet => $crate::providers::fleet::Kit,
        }
    };
}

/// Everything Perimeter knows of one provider type.
pub trait Kit: 'static {
    const TYPE: ProviderType;
    /// What the compliance report and the evidence say about it.
    const INFO: Info;
    /// The provider's block of a `FirewallPolicy` (`spec.<name>`).
    type Firewall: Block;
    /// The provider's block of a `MonitoringPolicy`.
    type Monitoring: Block;

    /// Maps a firewall block into the neutral model, checking what the schema cannot.
    fn firewall_target(block: &Self::Firewall) -> Result<Target, Invalid>;

    /// The firewall block with the address sets it names replaced by their addresses
    /// (`sets` resolves each name, naming the field in its error, and records what was used),
    /// before [`Kit::firewall_target`]. A block without address-set fields keeps the default.
    fn with_address_sets(
        block: &Self::Firewall,
        sets: &mut Resolver,
    ) -> Result<Self::Firewall, SetError> {
        let _ = sets;
        Ok(block.clone())
    }

    /// Maps a monitoring block into the neutral model.
    fn monitoring_target(block: &Self::Monitoring) -> Result<Target, Invalid>;

    /// Declared alert rules that notify somebody (DE.CM-1 "alert routing"); disabled ones do
    /// not count.
    fn alert_routes(block: &Self::Monitoring) -> usize;

    /// Whether a FirewallPolicy's block covers `asset`, one of its account's assets as
    /// [`Provider::inventory`] lists them (`all` is the whole list: a VPC is covered through its
    /// security groups). Pure; by default a block covers nothing.
    fn covers(block: &Self::Firewall, asset: &Asset, all: &[Asset]) -> bool {
        let _ = (block, asset, all);
        false
    }

    /// Builds the client for an account of this type (`credential` is `None` for `Ambient`).
    /// `spec.endpoint` has already been checked against the admin's rules.
    fn connect<'a>(
        spec: &'a CloudProviderSpec,
        credential: Option<SecretString>,
        metrics: Option<Arc<Metrics>>,
        access: Access<'a>,
    ) -> impl Future<Output = Result<Arc<dyn Provider>, Error>> + Send + 'a;

    /// Starts its account for `perimeter demo`: its emulator, seeded with an account that has
    /// drifted from its examples (`src/providers/<name>/demo.rs`).
    #[cfg(feature = "demo")]
    fn demo() -> impl Future<Output = Result<Box<dyn crate::demo::Account>, String>> + Send;
}

/// What a policy block must be: a schema-carrying, serialisable API type.
pub trait Block:
    Clone
    + std::fmt::Debug
    + PartialEq
    + Serialize
    + DeserializeOwned
    + schemars::JsonSchema
    + Send
    + Sync
    + 'static
{
}

impl<T> Block for T where
    T: Clone
        + std::fmt::Debug
        + PartialEq
        + Serialize
        + DeserializeOwned
        + schemars::JsonSchema
        + Send
        + Sync
        + 'static
{
}

/// A provider's words for the compliance report and the evidence trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    /// What a FirewallPolicy of it manages, or why it has no firewall.
    pub firewall: Boundary,
    /// What a MonitoringPolicy of it reads, or why only an attestation can show monitoring.
    pub monitoring: Monitoring,
    /// Whether the provider routes alerts itself, and in what words.
    pub alerting: Alerting,
    /// The API a FirewallPolicy's verdict was read from (evidence records say it).
    pub firewall_api: &'static str,
    /// The API a MonitoringPolicy's verdict was read from.
    pub monitoring_api: &'static str,
    /// Every finding code its reads can report (besides the core's `UnmanagedRule`), so a
    /// resolved finding's series drops to 0.
    pub finding_codes: &'static [&'static str],
}

/// Whether a provider is a network boundary Perimeter can operate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boundary {
    /// What a FirewallPolicy of it manages, e.g. "WAF custom rules, rate limits, IP access
    /// rules".
    Manages(&'static str),
    /// It has no firewall at all (an alert destination, an uptime service): its boundary
    /// firewall is `NotApplicable`, shown with these words, never verified and never a gap.
    NoFirewall(&'static str),
    /// It carries traffic and has network controls, but no API shows them: only an unexpired
    /// `ProviderFirewall` attestation covers it (`Attested`, never `Verified`); without one it
    /// is a gap. The words say what the controls are and why no API can read them.
    AttestedOnly(&'static str),
    /// It checks the firewalls of hosts (endpoint management), not a network boundary: its
    /// FirewallPolicies verify DE.CM-1's `EndpointFirewall`, and its boundary firewall is
    /// `NotApplicable`, shown with these words (so failing hosts are not counted twice).
    Endpoints(&'static str),
}

impl Boundary {
    pub fn words(self) -> &'static str {
        match self {
            Self::Manages(w) | Self::NoFirewall(w) | Self::AttestedOnly(w) | Self::Endpoints(w) => {
                w
            }
        }
    }
}

/// How a provider's network monitoring is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitoring {
    /// What a MonitoringPolicy of it reads, e.g. "Logpush jobs, notification policies".
    Reads(&'static str),
    /// No API shows it: only an unexpired `ProviderMonitoring` attestation covers it. The words
    /// say what to attest and why no API can read it.
    AttestedOnly(&'static str),
}

impl Monitoring {
    pub fn words(self) -> &'static str {
        match self {
            Self::Reads(w) | Self::AttestedOnly(w) => w,
        }
    }
}

/// How a provider takes part in DE.CM-1's alert routing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alerting {
    /// Its API declares alert routes; the words say what counts as one, e.g.
    /// "notificationPolicies with a mechanism".
    Routes(&'static str),
    /// Its API has no alerting at all, so alert routing is not applicable to it: shown as
    /// `NotApplicable` with these words (why, and where its events go instead), never counted
    /// as verified or as a gap. Alert routing as a whole still needs a provider that routes.
    NoApi(&'static str),
    /// It alerts, but its alert channels are set up where no API shows them (a dashboard):
    /// only an unexpired `ProviderAlerting` attestation covers it (`Attested`, never
    /// `Verified`); without one it is a gap. The words say what to attest and why.
    AttestedOnly(&'static str),
}

impl Alerting {
    pub fn words(self) -> &'static str {
        match self {
            Self::Routes(w) | Self::NoApi(w) | Self::AttestedOnly(w) => w,
        }
    }
}

/// A provider block of either policy kind.
#[derive(Debug)]
pub enum Part<'a, K: Kit> {
    Firewall(&'a K::Firewall),
    Monitoring(&'a K::Monitoring),
}

impl<K: Kit> Clone for Part<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: Kit> Copy for Part<'_, K> {}

impl<K: Kit> Part<'_, K> {
    fn target(self) -> Result<Target, Invalid> {
        match self {
            Self::Firewall(b) => K::firewall_target(b),
            Self::Monitoring(b) => K::monitoring_target(b),
        }
    }
}

macro_rules! declared {
    ($($field:ident: $variant:ident => $kit:ty,)+) => {
        /// The provider block of a policy, whichever kind the policy is.
        #[derive(Clone, Copy, Debug)]
        pub enum Declared<'a> {
            $($variant(Part<'a, $kit>),)+
        }

        impl<'a> Declared<'a> {
            /// The one provider block of a FirewallPolicy.
            pub fn from_firewall(spec: &'a crate::api::FirewallPolicySpec) -> Result<Self, Error> {
                let mut found = Vec::new();
                $(if let Some(b) = spec.$field.as_deref() {
                    found.push(Self::$variant(Part::Firewall(b)));
                })+
                one(found)
            }

            /// The one provider block of a MonitoringPolicy.
            pub fn from_monitoring(spec: &'a crate::api::MonitoringPolicySpec) -> Result<Self, Error> {
                let mut found = Vec::new();
                $(if let Some(b) = spec.$field.as_deref() {
                    found.push(Self::$variant(Part::Monitoring(b)));
                })+
                one(found)
            }

            pub fn provider_type(self) -> ProviderType {
                match self {
                    $(Self::$variant(_) => <$kit as Kit>::TYPE,)+
                }
            }

            /// Whether it is a firewall or a monitoring block.
            pub fn purpose(self) -> super::Purpose {
                match self {
                    $(Self::$variant(Part::Firewall(_)) => super::Purpose::Firewall,
                      Self::$variant(Part::Monitoring(_)) => super::Purpose::Monitoring,)+
                }
            }

            /// Maps the block into the neutral model, validating what the schema cannot.
            pub fn target(self) -> Result<Target, Error> {
                let target = match self {
                    $(Self::$variant(part) => part.target(),)+
                };
                target
                    .map(|t| Target { purpose: self.purpose(), ..t })
                    .map_err(|e| Error::InvalidSpec(e.0))
            }
        }

        /// The FirewallPolicy's spec with the address sets its block names replaced by their
        /// addresses ([`Kit::with_address_sets`]).
        pub fn with_address_sets(
            spec: &crate::api::FirewallPolicySpec,
            sets: &mut Resolver,
        ) -> Result<crate::api::FirewallPolicySpec, SetError> {
            let mut out = spec.clone();
            $(if let Some(b) = spec.$field.as_deref() {
                out.$field = Some(Box::new(<$kit as Kit>::with_address_sets(b, sets)?));
            })+
            Ok(out)
        }

        /// Whether the FirewallPolicy's block for provider type `t` covers `asset` of an account
        /// of that type ([`Kit::covers`]); a block of another type never does.
        pub fn covers(
            t: ProviderType,
            spec: &crate::api::FirewallPolicySpec,
            asset: &Asset,
            all: &[Asset],
        ) -> bool {
            $(if t == <$kit as Kit>::TYPE {
                return spec.$field.as_deref().is_some_and(|b| <$kit as Kit>::covers(b, asset, all));
            })+
            false
        }

        /// The client for an account of a registered type; `None` for types without one.
        pub(crate) async fn connect_registered(
            spec: &CloudProviderSpec,
            credential: Option<SecretString>,
            metrics: Option<Arc<Metrics>>,
            access: Access<'_>,
        ) -> Option<Result<Arc<dyn Provider>, Error>> {
            $(if spec.provider_type == <$kit as Kit>::TYPE {
                return Some(<$kit as Kit>::connect(spec, credential, metrics, access).await);
            })+
            None
        }

        /// Every registered provider's demo account, started, in registration order, then
        /// those of the providers without an API.
        #[cfg(feature = "demo")]
        pub(crate) async fn demo_accounts() -> Result<Vec<Box<dyn crate::demo::Account>>, String> {
            let mut accounts = vec![$(<$kit as Kit>::demo().await?,)+];
            accounts.push(super::modal::demo::start());
            Ok(accounts)
        }

        /// The registered provider types, in registration order.
        pub const REGISTERED: &[ProviderType] = &[$(<$kit as Kit>::TYPE,)+];

        /// What a provider's reports say (a registered one's, or one [`WITHOUT_API`]);
        /// `None` for types Perimeter does not support yet.
        pub fn info(t: ProviderType) -> Option<&'static Info> {
            $(if t == <$kit as Kit>::TYPE {
                return Some(&<$kit as Kit>::INFO);
            })+
            without_api(t).map(|w| w.info)
        }

        /// Alert routes a MonitoringPolicy declares, whichever its provider.
        pub fn alert_routes(spec: &crate::api::MonitoringPolicySpec) -> usize {
            0 $(+ spec.$field.as_deref().map_or(0, <$kit as Kit>::alert_routes))+
        }

        /// The name of each registered provider's policy block (`spec.<name>`).
        pub const FIELDS: &[(&str, ProviderType)] = &[$((stringify!($field), <$kit as Kit>::TYPE),)+];
    };
}

crate::registered_providers!(declared);

/// A provider Perimeter supports although it has no public management API: no policy block,
/// no client, no credential. Its CloudProvider is Ready with `ready_message`, and its `info`
/// marks every part `AttestedOnly`, so only attestations cover it.
#[derive(Debug)]
pub struct WithoutApi {
    pub provider_type: ProviderType,
    /// Its folder under `src/providers/` and `examples/`.
    pub field: &'static str,
    pub info: &'static Info,
    pub ready_message: &'static str,
}

/// The providers without an API. The CloudProvider schema's rules name these types
/// (`api::provider`: no credentials, endpoint, rate limit, regions or timeout).
pub const WITHOUT_API: &[WithoutApi] = &[WithoutApi {
    provider_type: ProviderType::Modal,
    field: "modal",
    info: &super::modal::INFO,
    ready_message: super::modal::READY_MESSAGE,
}];

/// The entry of a provider without an API; `None` for every other type.
pub fn without_api(t: ProviderType) -> Option<&'static WithoutApi> {
    WITHOUT_API.iter().find(|w| w.provider_type == t)
}

/// The client of a provider without an API (it calls nothing); `None` for every other type.
pub(crate) fn connect_without_api(
    spec: &CloudProviderSpec,
) -> Option<Result<Arc<dyn Provider>, Error>> {
    let entry = without_api(spec.provider_type)?;
    Some(
        super::modal::NoApi::new(spec, entry.ready_message)
            .map(|c| Arc::new(c) as Arc<dyn Provider>),
    )
}

fn one(mut found: Vec<Declared<'_>>) -> Result<Declared<'_>, Error> {
    match (found.pop(), found.is_empty()) {
        (Some(d), true) => Ok(d),
        _ => Err(Error::InvalidSpec(format!(
            "exactly one provider block must be set: one of {}",
            FIELDS
                .iter()
                .map(|(f, _)| format!("spec.{f}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Every finding code a read can report: the core's and each registered provider's.
pub fn finding_codes() -> Vec<&'static str> {
    let mut codes = vec![crate::core::model::UNMANAGED_RULE];
    for t in REGISTERED {
        codes.extend(info(*t).map(|i| i.finding_codes).unwrap_or_default());
    }
    codes.sort_unstable();
    codes.dedup();
    codes
}

/// What a provider without an API lacks: its examples (`examples/<name>/`, a CloudProvider
/// without credentials) and report words saying, for every part, what to attest. It is exempt
/// from an emulator, a seeded demo account, a conformance spec and a provider test: there is no
/// API to emulate, check or call (its demo account only loads the examples).
pub fn missing_without_api(entry: &WithoutApi, exists: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let field = entry.field;
    if !exists(&format!("examples/{field}")) {
        out.push(format!("examples (examples/{field})"));
    }
    let info = entry.info;
    let parts = [
        (
            "INFO.firewall",
            matches!(info.firewall, Boundary::AttestedOnly(_)),
            info.firewall.words(),
        ),
        (
            "INFO.monitoring",
            matches!(info.monitoring, Monitoring::AttestedOnly(_)),
            info.monitoring.words(),
        ),
        (
            "INFO.alerting",
            matches!(info.alerting, Alerting::AttestedOnly(_)),
            info.alerting.words(),
        ),
    ];
    for (name, attested_only, words) in parts {
        if !attested_only {
            out.push(format!("{name} must be AttestedOnly (no API can read it)"));
        }
        if words.trim().is_empty() {
            out.push(format!("report words ({name})"));
        }
    }
    out
}

/// What a registered provider lacks outside its code, given a way to ask whether a file of the
/// repository exists: its emulator (`emulators/src/<name>/`), its examples (`examples/<name>/`),
/// its demo account (`examples/demo/<name>-*.yaml`), its trimmed official spec
/// (`tests/conformance/<name>/SOURCE.md`), its provider test (`tests/<name>_provider.rs`) and
/// non-empty report words. Empty when complete.
pub fn missing(field: &str, info: &Info, exists: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let files = [
        (format!("emulators/src/{field}/mod.rs"), "an emulator"),
        (format!("examples/{field}"), "examples"),
        (
            format!("tests/conformance/{field}/SOURCE.md"),
            "a trimmed official spec with its source",
        ),
        (
            format!("tests/{field}_provider.rs"),
            "a provider test against its emulator",
        ),
    ];
    for (path, what) in files {
        if !exists(&path) {
            out.push(format!("{what} ({path})"));
        }
    }
    if !exists(&format!("examples/demo/{field}-")) {
        out.push(format!("a demo account (examples/demo/{field}-*.yaml)"));
    }
    let words = [
        ("INFO.firewall", info.firewall.words()),
        ("INFO.monitoring", info.monitoring.words()),
        ("INFO.alerting", info.alerting.words()),
        ("INFO.firewall_api", info.firewall_api),
        ("INFO.monitoring_api", info.monitoring_api),
    ];
    for (name, text) in words {
        if text.trim().is_empty() {
            out.push(format!("report words ({name})"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file system view of the repository: an exact path, or (for a trailing `-`) a prefix of
    /// a file name.
    fn repo_has(path: &str) -> bool {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        match path.strip_suffix('-') {
            Some(prefix) => {
                let (dir, name) = prefix.rsplit_once('/').unwrap_or((".", prefix));
                std::fs::read_dir(root.join(dir)).is_ok_and(|entries| {
                    entries
                        .flatten()
                        .any(|e| e.file_name().to_string_lossy().starts_with(name))
                })
            }
            None => root.join(path).exists(),
        }
    }

    /// Every registered provider has every piece; every ProviderType is either registered or
    /// reported as unsupported (never half wired).
    #[test]
    fn every_registered_provider_is_complete() {
        for (field, t) in FIELDS {
            let info = info(*t).expect("registered");
            let lacks = missing(field, info, &repo_has);
            assert!(lacks.is_empty(), "{t} lacks: {}", lacks.join("; "));
            assert_eq!(t.as_str(), *field, "the block is named after the type");
        }
        let crds = crate::api::crds();
        for kind in ["FirewallPolicy", "MonitoringPolicy"] {
            let crd = crds
                .iter()
                .find(|c| c.spec.names.kind == kind)
                .expect("CRD");
            let spec = serde_json::to_value(&crd.spec.versions[0].schema).expect("schema");
            let props = &spec["openAPIV3Schema"]["properties"]["spec"]["properties"];
            for (field, _) in FIELDS {
                assert!(props.get(*field).is_some(), "{kind} has spec.{field}");
            }
        }
    }

    /// A provider without an API has its examples, demo account and words, no policy block,
    /// and is the one type the CloudProvider schema lets go without credentials.
    #[test]
    fn every_provider_without_an_api_is_complete() {
        let crds = crate::api::crds();
        let cloud_provider = crds
            .iter()
            .find(|c| c.spec.names.kind == "CloudProvider")
            .expect("CRD");
        let schema =
            serde_json::to_string(&cloud_provider.spec.versions[0].schema).expect("schema");
        for entry in WITHOUT_API {
            let lacks = missing_without_api(entry, &repo_has);
            assert!(
                lacks.is_empty(),
                "{} lacks: {}",
                entry.field,
                lacks.join("; ")
            );
            assert_eq!(entry.provider_type.as_str(), entry.field);
            assert!(
                FIELDS.iter().all(|(_, t)| *t != entry.provider_type),
                "{} has a policy block",
                entry.field
            );
            assert_eq!(info(entry.provider_type), Some(entry.info));
            for rule in [
                format!("has(self.credentials) || self.type == '{}'", entry.field),
                format!("self.type != '{}' || (!has(self.credentials)", entry.field),
            ] {
                assert!(
                    schema.contains(&rule),
                    "the CloudProvider schema lacks {rule:?}"
                );
            }
        }
        // And the check can fail: an entry whose parts an API could read is caught.
        let readable = WithoutApi {
            provider_type: ProviderType::Modal,
            field: "nowhere",
            info: info(ProviderType::Cloudflare).expect("registered"),
            ready_message: "",
        };
        let lacks = missing_without_api(&readable, &repo_has);
        assert_eq!(
            lacks,
            [
                "examples (examples/nowhere)",
                "INFO.firewall must be AttestedOnly (no API can read it)",
                "INFO.monitoring must be AttestedOnly (no API can read it)",
                "INFO.alerting must be AttestedOnly (no API can read it)",
            ]
        );
    }

    /// The check itself: a provider with no files and no words lacks everything.
    #[test]
    fn an_incomplete_provider_is_caught() {
        let empty = Info {
            firewall: Boundary::Manages(""),
            monitoring: Monitoring::Reads("edge logs"),
            alerting: Alerting::Routes(" "),
            firewall_api: "",
            monitoring_api: "",
            finding_codes: &[],
        };
        let lacks = missing("vercel", &empty, &|_| false);
        let want = [
            "an emulator (emulators/src/vercel/mod.rs)",
            "examples (examples/vercel)",
            "a trimmed official spec with its source (tests/conformance/vercel/SOURCE.md)",
            "a provider test against its emulator (tests/vercel_provider.rs)",
            "a demo account (examples/demo/vercel-*.yaml)",
            "report words (INFO.firewall)",
            "report words (INFO.alerting)",
            "report words (INFO.firewall_api)",
            "report words (INFO.monitoring_api)",
        ];
        assert_eq!(lacks, want);
        // A complete one of the repository passes the same check.
        let cf = info(ProviderType::Cloudflare).expect("registered");
        assert!(missing("cloudflare", cf, &repo_has).is_empty());
    }

    /// Each registered provider starts a demo account of its own type, whose examples are the
    /// provider's own (a new provider cannot be wired to another's emulator).
    #[cfg(feature = "demo")]
    #[tokio::test]
    async fn every_registered_provider_has_its_own_demo_account() {
        let accounts = demo_accounts().await.expect("the demo accounts start");
        let types: Vec<_> = accounts.iter().map(|a| a.provider_type()).collect();
        let mut want = REGISTERED.to_vec();
        want.extend(WITHOUT_API.iter().map(|w| w.provider_type));
        assert_eq!(types, want);
        let fields = FIELDS
            .iter()
            .map(|(f, _)| *f)
            .chain(WITHOUT_API.iter().map(|w| w.field));
        for (a, field) in accounts.iter().zip(fields) {
            assert!(!a.examples().is_empty(), "{field}: no examples");
            for (origin, _) in a.examples() {
                assert!(
                    origin.starts_with(&format!("examples/{field}/")),
                    "{field}: {origin}"
                );
            }
        }
    }

    /// Registered exactly once each; a type without a client has no report words; every
    /// registered provider's finding codes (and the core's) are known to the metrics.
    #[test]
    fn types_without_a_client_are_not_registered() {
        let mut seen = REGISTERED.to_vec();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(
            seen.len(),
            REGISTERED.len(),
            "registered twice: {REGISTERED:?}"
        );
        for t in ProviderType::ALL {
            assert_eq!(
                info(t).is_some(),
                REGISTERED.contains(&t) || without_api(t).is_some(),
                "{t}"
            );
            assert!(
                !(REGISTERED.contains(&t) && without_api(t).is_some()),
                "{t}"
            );
        }
        let codes = finding_codes();
        for code in [
            "UnmanagedRule",
            "LogJobFailing",
            "WorldOpenIngress",
            "SubnetWithoutFlowLogs",
            "VpcWithoutFlowLogs",
        ] {
            assert!(codes.contains(&code), "{code}: {codes:?}");
        }
        for t in REGISTERED {
            for code in info(*t).expect("registered").finding_codes {
                assert!(codes.contains(code), "{t}: {code} not in {codes:?}");
            }
        }
    }
}
