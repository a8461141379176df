//! Fields shared by every Perimeter kind: provider references, modes, conditions.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of every Perimeter kind.
pub const GROUP: &str = "perimeter.dev";
/// The API version served by this operator.
pub const VERSION: &str = "v1alpha1";

/// Every provider Perimeter supports. Modal has no public management API: nothing is called,
/// and attestations cover its firewall, monitoring and alerting.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ProviderType {
    Cloudflare,
    Vercel,
    Supabase,
    Turso,
    Qdrant,
    Upstash,
    Modal,
    Triggerdev,
    Aws,
    Gcp,
    Betterstack,
    Slack,
    Fleet,
}

impl ProviderType {
    /// Every type, in declaration order.
    pub const ALL: [Self; 13] = [
        Self::Cloudflare,
        Self::Vercel,
        Self::Supabase,
        Self::Turso,
        Self::Qdrant,
        Self::Upstash,
        Self::Modal,
        Self::Triggerdev,
        Self::Aws,
        Self::Gcp,
        Self::Betterstack,
        Self::Slack,
        Self::Fleet,
    ];

    /// The lowercase name used in manifests and as the `provider` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cloudflare => "cloudflare",
            Self::Vercel => "vercel",
            Self::Supabase => "supabase",
            Self::Turso => "turso",
            Self::Qdrant => "qdrant",
            Self::Upstash => "upstash",
            Self::Modal => "modal",
            Self::Triggerdev => "triggerdev",
            Self::Aws => "aws",
            Self::Gcp => "gcp",
            Self::Betterstack => "betterstack",
            Self::Slack => "slack",
            Self::Fleet => "fleet",
        }
    }
}

impl std::fmt::Display for ProviderType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the controller may change the provider.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Mode {
    /// Read and report only; never writes to the provider.
    #[default]
    Observe,
    /// Change the provider so that it matches the declared state.
    Enforce,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Observe => "Observe",
            Self::Enforce => "Enforce",
        }
    }
}

/// What happens at the provider when the policy is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Leave the provider as it is. Deleting a policy never opens a firewall.
    #[default]
    Orphan,
    /// Remove the rules this policy manages (only in `Enforce` mode).
    Delete,
}

/// What to do with rules that exist at the provider but are not declared.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum UnmanagedPolicy {
    /// Leave them alone and report them (status `unmanaged`, finding `UnmanagedRule`).
    #[default]
    Report,
    /// Treat them as drift; in `Enforce` mode remove them.
    Remove,
}

/// Which kind of provider account a policy uses.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    JsonSchema,
)]
pub enum ProviderKind {
    /// A `CloudProvider` in the policy's own namespace.
    #[default]
    CloudProvider,
    /// A cluster-scoped `ClusterCloudProvider` that its admin shares with the policy's
    /// namespace (`spec.allowedNamespaces`).
    ClusterCloudProvider,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CloudProvider => "CloudProvider",
            Self::ClusterCloudProvider => "ClusterCloudProvider",
        }
    }
}

/// A reference to the provider account a policy uses.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct ProviderRef {
    /// `CloudProvider` (default; same namespace) or `ClusterCloudProvider` (shared by the
    /// cluster admin).
    #[serde(default, skip_serializing_if = "is_default_kind")]
    pub kind: ProviderKind,
    /// Name of the `CloudProvider` in the policy's namespace, or of the `ClusterCloudProvider`.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

fn is_default_kind(kind: &ProviderKind) -> bool {
    *kind == ProviderKind::CloudProvider
}

impl ProviderRef {
    /// `CloudProvider team-a/cf` or `ClusterCloudProvider shared-gcp`, for messages.
    pub fn describe(&self, namespace: &str) -> String {
        match self.kind {
            ProviderKind::CloudProvider => format!("CloudProvider {namespace}/{}", self.name),
            ProviderKind::ClusterCloudProvider => format!("ClusterCloudProvider {}", self.name),
        }
    }
}

/// Settings shared by `FirewallPolicy` and `MonitoringPolicy`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyControls {
    pub provider_ref: ProviderRef,
    /// `Observe` (default) never writes to the provider; `Enforce` changes it to match.
    #[serde(default)]
    pub mode: Mode,
    /// `Orphan` (default) leaves the provider untouched when the policy is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// `Report` (default) leaves undeclared provider rules alone and lists them;
    /// `Remove` treats them as drift (removed in `Enforce` mode).
    #[serde(default)]
    pub unmanaged: UnmanagedPolicy,
    /// Stop reconciling this policy (no reads, no writes) until set back to false.
    #[serde(default)]
    pub paused: bool,
    /// How often the provider is read again, e.g. `30s`, `5m`, `1h` (default `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[1-9][0-9]{0,5}(s|m|h)$"))]
    pub sync_interval: Option<String>,
}

/// Status shared by the policy kinds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Synced` and `InSync`, following the Kubernetes API conventions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Number of drifted fields (also when `drift` is truncated).
    #[serde(default)]
    pub drift_count: u32,
    /// One entry per drifted field, at most 50.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<DriftEntry>,
    /// Where `drift[].changedBy` comes from, or why it is absent: `2 of 2 drifted field(s)
    /// attributed from the Cloudflare account audit log (last 7 days)`, `unattributed: the
    /// audit log could not be read (…)`. Only while something drifts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub attribution: Option<String>,
    /// Declared rules/items found at the provider (managed by this policy).
    #[serde(default)]
    pub managed: u32,
    /// Rules/items present at the provider but not declared.
    #[serde(default)]
    pub unmanaged: u32,
    /// Facts worth an operator's attention that are not drift (unmanaged rules, failing log jobs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<FindingEntry>,
    /// Changes written to the provider by the most recent sync that wrote any (Enforce mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_applied: Vec<String>,
    /// The provider's own version of what was last read, when its API gives one (e.g.
    /// Vercel's firewall configuration version), also recorded in the evidence trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_revision: Option<String>,
    /// Alert routes the provider's API showed at the last read (source providers: where each
    /// route sends alerts, never a webhook URL), at most 50. DE.CM-1 counts a route only
    /// when the channel it reaches is live.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_routes: Vec<crate::core::routing::AlertRoute>,
    /// Declared alert channels as Slack answered for them at the last read, at most 50.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_channels: Vec<crate::core::routing::ChannelCheck>,
    /// The address sets whose addresses the last sync used, with the digest of what was used:
    /// a change of a set's source shows here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub address_sets: Vec<crate::api::addressset::UsedAddressSet>,
    /// When the provider was last read successfully and this status changed as a result.
    /// Freshness between changes is the metric `perimeter_policy_last_sync_timestamp_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<String>,
}

/// One drifted field.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftEntry {
    /// Path of the field, e.g. `wafCustomRules[block-admin].action`.
    pub field: String,
    /// `Missing`, `Changed`, `Unexpected` or `Order`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
    /// Who made the change, from the provider's audit log: a person or system as the log names
    /// them (`dana@example.com via UI`), or `Perimeter` for the operator's own writes. Absent:
    /// unattributed (status.attribution says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub changed_by: Option<String>,
    /// When that change was made (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub changed_at: Option<String>,
}

impl DriftEntry {
    /// `changed by dana@example.com via UI at 2026-11-29T06:00:00Z`, when attributed.
    pub fn changed(&self) -> Option<String> {
        let by = self.changed_by.as_deref()?;
        Some(match &self.changed_at {
            Some(at) => format!("changed by {by} at {at}"),
            None => format!("changed by {by}"),
        })
    }
}

/// Something observed that is not drift but matters (bounded code, readable message).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingEntry {
    pub code: String,
    pub subject: String,
    pub message: String,
}

/// Parses `30s`, `5m`, `1h` (the schema enforces the form, but a stored object or a local
/// manifest may not have met the schema): anything else is the default, and the result is
/// clamped to 10 s .. 24 h without overflowing.
pub fn parse_interval(s: Option<&str>) -> Duration {
    const DEFAULT: Duration = Duration::from_secs(300);
    let Some(s) = s else { return DEFAULT };
    let Some((i, unit)) = s.char_indices().last() else {
        return DEFAULT;
    };
    let Ok(n) = s[..i].parse::<u64>() else {
        return DEFAULT;
    };
    let secs = match unit {
        's' => n,
        'm' => n.saturating_mul(60),
        'h' => n.saturating_mul(3600),
        _ => return DEFAULT,
    };
    Duration::from_secs(secs.clamp(10, 24 * 3600))
}

#[cfg(test)]
mod tests {

    /// `ProviderType::ALL` lists every variant: as many as the schema's enum, each once, each
    /// named as it serialises.
    #[test]
    fn all_provider_types_are_listed() {
        let schema = serde_json::to_value(schemars::schema_for!(ProviderType)).expect("schema");
        let names = schema["enum"].as_array().expect("an enum").len();
        let mut all = ProviderType::ALL.to_vec();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), names);
        for t in ProviderType::ALL {
            assert_eq!(serde_json::to_value(t).expect("json"), t.as_str());
        }
    }

    use std::time::Duration;

    use super::*;

    #[test]
    fn intervals() {
        let cases = [
            (None, 300),
            (Some("30s"), 30),
            (Some("5m"), 300),
            (Some("2h"), 7200),
            (Some("1s"), 10),
            (Some("x"), 300),
            (Some("999h"), 86400),
            (Some("99999999999999999h"), 86400),
            (Some("18446744073709551615m"), 86400),
            (Some("5é"), 300),
            (Some("é"), 300),
            (Some(""), 300),
            (Some("h"), 300),
        ];
        for (input, secs) in cases {
            assert_eq!(
                parse_interval(input),
                Duration::from_secs(secs),
                "{input:?}"
            );
        }
    }
}
