//! `CloudProvider`: one provider account and how to reach it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::ProviderType;

/// The shape of an endpoint URL; the same rule as [`crate::trust::url::parse`]: http(s), a
/// lower-case host or IP literal, an optional port, a path without `%`, and no user info (`@`),
/// query (`?`), fragment (`#`) or backslash.
pub const ENDPOINT_PATTERN: &str =
    r"^https?://([a-z0-9.-]+|\[[0-9a-f:.]+\])(:[0-9]{1,5})?(/[^\s?#@\\%]*)?$";
const ENDPOINT_SCHEME_RULE: &str = "!has(self.endpoint) || url(self.endpoint).getScheme() == 'https' || (self.endpoint.startsWith('http://') && url(self.endpoint).getHostname() in ['localhost', '127.0.0.1', '::1'])";
const ENDPOINT_SCHEME_MESSAGE: &str = "endpoint must use https (plain http only to localhost, 127.0.0.1 or [::1], for emulators), so the credential never crosses a network in clear text";
// On the string as written (URL parsers normalise `127.1` differently): a host ending in a
// digit must be a dotted IPv4 address.
const ENDPOINT_SHAPE_RULE: &str = "!has(self.endpoint) || (!self.endpoint.matches('/[.][.]?(/|$)') && (!self.endpoint.matches('^https?://[^/:\\\\[]*[0-9](:|/|$)') || self.endpoint.matches('^https?://([0-9]{1,3}[.]){3}[0-9]{1,3}(:|/|$)')))";
const ENDPOINT_SHAPE_MESSAGE: &str = "endpoint must not contain dot segments, and a host ending in a digit must be a dotted IPv4 address (127.0.0.1, not 127.1 or 0x7f000001)";

// A provider without a public management API (Modal, see `providers::modal`): there is nothing
// to call, so nothing to authenticate with or to reach. Only `type` and `accountId` mean
// anything; the rest is refused so nobody believes a credential there is used. The rules name
// the types of `providers::registry::WITHOUT_API` (a unit test there checks they match).
const CREDENTIALS_RULE: &str = "has(self.credentials) || self.type == 'modal'";
const CREDENTIALS_MESSAGE: &str =
    "spec.credentials is required (only modal, which has no API, takes none)";
const NO_API_RULE: &str = "self.type != 'modal' || (!has(self.credentials) && !has(self.endpoint) && !has(self.rateLimit) && !has(self.regions) && !has(self.requestTimeoutSeconds))";
const NO_API_MESSAGE: &str = "a modal provider takes only type and accountId: Modal has no public management API, so there is no credential, endpoint, rate limit, region or timeout to give (attestations cover its firewall, monitoring and alerting)";

/// A provider account: its type, where its credentials are, and how hard it may be called.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "perimeter.dev",
    version = "v1alpha1",
    kind = "CloudProvider",
    namespaced,
    status = "CloudProviderStatus",
    shortname = "cprov",
    category = "perimeter",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new(CREDENTIALS_RULE).message(CREDENTIALS_MESSAGE).reason(Reason::FieldValueRequired))]
#[x_kube(validation = Rule::new(NO_API_RULE).message(NO_API_MESSAGE).reason(Reason::FieldValueForbidden))]
#[x_kube(validation = Rule::new("!has(self.credentials) || self.credentials.source != 'Ambient' || self.type in ['aws', 'gcp']").message("only aws and gcp have an ambient identity: use credentials.source Secret").reason(Reason::FieldValueInvalid))]
#[x_kube(validation = Rule::new("self.type != 'cloudflare' || has(self.accountId)").message("a cloudflare provider needs spec.accountId (the Cloudflare account id)").reason(Reason::FieldValueRequired))]
#[x_kube(validation = Rule::new(ENDPOINT_SCHEME_RULE).message(ENDPOINT_SCHEME_MESSAGE).reason(Reason::FieldValueForbidden))]
#[x_kube(validation = Rule::new(ENDPOINT_SHAPE_RULE).message(ENDPOINT_SHAPE_MESSAGE).reason(Reason::FieldValueInvalid))]
#[serde(rename_all = "camelCase")]
pub struct CloudProviderSpec {
    /// Which provider this account belongs to.
    #[serde(rename = "type")]
    pub provider_type: ProviderType,
    /// Where the API credential is stored. Required, except for a provider without an API
    /// (`modal`), which takes none.
    #[serde(default, skip_serializing_if = "Credentials::is_unset")]
    pub credentials: Credentials,
    /// Base URL override, e.g. `https://api.cloudflare.com/client/v4`. Only the provider's
    /// official API hosts are used unless the operator's admin allows more (proxies, private
    /// endpoints, emulators: flag `--allow-endpoint-host`). https, except to
    /// `localhost`/`127.0.0.1`/`[::1]`; no user info, query or fragment; a lower-case host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ENDPOINT_PATTERN), length(max = 2048))]
    pub endpoint: Option<String>,
    /// The provider's account identifier (Cloudflare account id, AWS account id, GCP project id…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"))]
    pub account_id: Option<String>,
    /// Request-rate budget for this account, shared by every policy that uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Regions to observe (AWS regions, GCP regions), where the provider is regional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 40), inner(regex(pattern = r"^[a-z][a-z0-9-]{1,31}$")))]
    pub regions: Option<Vec<String>>,
    /// Timeout of one provider request in seconds (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 300))]
    pub request_timeout_seconds: Option<u32>,
}

/// Where the credential comes from.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.source == 'Ambient' || has(self.secretRef)").message("credentials.secretRef is required unless source is Ambient").reason(Reason::FieldValueRequired))]
pub struct Credentials {
    /// `Secret` (default): one key of a Secret. `Ambient`: the workload's own identity —
    /// AWS IAM Roles for Service Accounts / EKS Pod Identity / instance profile, GCP Workload
    /// Identity / metadata server. Only AWS and GCP have one; the schema refuses it for the
    /// other types.
    #[serde(default)]
    pub source: CredentialSource,
    /// The Secret key holding the credential: a Cloudflare API token; for AWS a JSON object
    /// `{"accessKeyId", "secretAccessKey", "sessionToken"?}`; for GCP a service-account key JSON
    /// or an `external_account` configuration (Workload Identity Federation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
}

impl Credentials {
    /// Not given at all (the default of an absent `credentials`).
    pub fn is_unset(&self) -> bool {
        self.source == CredentialSource::Secret && self.secret_ref.is_none()
    }
}

#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum CredentialSource {
    #[default]
    Secret,
    Ambient,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct SecretKeyRef {
    /// Secret name (same namespace as the `CloudProvider`).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the Secret's `data`.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// Requests per minute allowed for this account, with a short burst.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Sustained requests per minute. Defaults: 200 for Cloudflare (which allows 1200 per 5
    /// minutes) and GCP, 1200 for AWS.
    #[schemars(range(min = 1, max = 100000))]
    pub requests_per_minute: u32,
    /// Requests allowed at once before pacing starts (default 10; 50 for AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub burst: Option<u32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudProviderStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the credential was accepted and the API answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The account's boundary assets (zones, VPCs…) and how many a FirewallPolicy covers, read
    /// on the verify interval; for a monitoring account (Better Stack), the public hostnames of
    /// the accounts it speaks for and how many an active monitor checks. Absent for providers
    /// that do not list their assets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<InventoryStatus>,
}

/// The boundary assets of an account, and which of them no FirewallPolicy covers. When the
/// inventory could not be read, only `reason` and `message` are set: coverage is unknown.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventoryStatus {
    /// When the inventory was read or tried (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub observed_at: Option<String>,
    /// Assets listed; absent when the inventory could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u32>,
    /// Assets some FirewallPolicy of the account covers (for a monitoring account: hostnames
    /// an active monitor checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covered: Option<u32>,
    /// The counts by kind of asset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub kinds: Vec<AssetKindCount>,
    /// The uncovered assets, at most 50 (the counts are whole).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub uncovered: Vec<crate::core::inventory::ListedAsset>,
    /// Why the inventory could not be read (an error category).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub message: Option<String>,
}

impl InventoryStatus {
    /// Whether the inventory was read (so `total` and `covered` are known).
    pub fn read(&self) -> bool {
        self.reason.is_none() && self.total.is_some()
    }

    /// How many assets no policy covers, when known.
    pub fn uncovered_count(&self) -> Option<u32> {
        Some(self.total?.saturating_sub(self.covered?)).filter(|_| self.read())
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssetKindCount {
    #[schemars(length(max = 64))]
    pub kind: String,
    pub total: u32,
    pub covered: u32,
}

/// A provider account shared by the cluster's admin: the operator's own identity
/// (`credentials.source: Ambient`) or a Secret in the operator's namespace, usable by the
/// policies of the namespaces it lists. Cluster-scoped, so only whoever may create
/// cluster-scoped objects can make one.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "perimeter.dev",
    version = "v1alpha1",
    kind = "ClusterCloudProvider",
    status = "CloudProviderStatus",
    shortname = "ccprov",
    category = "perimeter",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type"}"#,
    printcolumn = r#"{"name":"Namespaces","type":"string","jsonPath":".spec.allowedNamespaces"}"#,
    printcolumn = r#"{"name":"Enforce","type":"boolean","jsonPath":".spec.allowEnforce"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
// The account's rules (Cloudflare needs a Secret and an account id, the endpoint's shape)
// come with the flattened `CloudProviderSpec`.
#[serde(rename_all = "camelCase")]
pub struct ClusterCloudProviderSpec {
    /// The account, as in a `CloudProvider`. `credentials.secretRef` names a Secret in the
    /// operator's own namespace (flag `--cluster-resource-namespace`, default the namespace the
    /// operator runs in), which must carry the label `perimeter.dev/credential: "true"`.
    #[serde(flatten)]
    pub account: CloudProviderSpec,
    /// Namespaces whose policies may use this account (`providerRef.kind:
    /// ClusterCloudProvider`); `*` for every namespace. Empty (default): none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 256),
        inner(regex(pattern = r"^(\*|[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)$"))
    )]
    pub allowed_namespaces: Vec<String>,
    /// Whether those policies may use `mode: Enforce` (and `deletionPolicy: Delete`). Default
    /// false: they can only observe this account.
    #[serde(default)]
    pub allow_enforce: bool,
}

impl ClusterCloudProviderSpec {
    /// Whether a policy in `namespace` may use this account.
    pub fn shared_with(&self, namespace: &str) -> bool {
        self.allowed_namespaces
            .iter()
            .any(|n| n == "*" || n == namespace)
    }
}
