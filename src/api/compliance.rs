//! `ControlAssessment`: one security control evaluated across every provider in scope, with
//! the attestations for what no API can show and a pointer to its evidence trail.
//!
//! The evaluation rules live in [`crate::compliance`]; this file is only the API shape.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::ProviderType;

/// Evaluates one control (today: DE.CM-1 network monitoring) across the CloudProviders and
/// policies in scope, continuously, recording tamper-evident evidence of each result.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "perimeter.dev",
    version = "v1alpha1",
    kind = "ControlAssessment",
    status = "ControlAssessmentStatus",
    shortname = "ctla",
    category = "perimeter",
    printcolumn = r#"{"name":"Control","type":"string","jsonPath":".spec.control"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Maturity","type":"integer","jsonPath":".status.maturity.level"}"#,
    printcolumn = r#"{"name":"Score","type":"string","jsonPath":".status.score"}"#,
    printcolumn = r#"{"name":"Gaps","type":"integer","jsonPath":".status.gapCount"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ControlAssessmentSpec {
    /// The control evaluated; its cross-references (CyFun, NIST CSF, ISO 27001, CIS) follow.
    pub control: Control,
    /// Which CloudProviders (and so which policies) the control covers.
    #[serde(default)]
    pub scope: Scope,
    /// Statements for requirements that no provider API can verify. They make a requirement
    /// `Attested` (never `Verified`) until they expire.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub attestations: Vec<Attestation>,
    /// How the evidence trail is kept.
    #[serde(default)]
    pub evidence: EvidenceSettings,
}

/// The controls Perimeter can assess.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Control {
    /// Network monitoring: CyFun BasicDetect DE.CM-1, NIST CSF DE.CM-1 (CSF 2.0 DE.CM-01),
    /// ISO/IEC 27001:2022 A.8.16, CIS Controls v8.1 13.6.
    #[serde(rename = "DE.CM-1")]
    DeCm1,
}

impl Control {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeCm1 => "DE.CM-1",
        }
    }
}

/// The providers in scope. Empty lists mean "all".
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// Namespaces whose CloudProviders are in scope (empty: every namespace).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Provider types in scope (empty: every type).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provider_types: Vec<ProviderType>,
}

/// Requirements that only an attestation can satisfy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum AttestableRequirement {
    /// Host/endpoint firewalls (laptops, servers): managed by MDM/EDR, outside provider APIs.
    EndpointFirewall,
    /// The network controls of one provider (`provider`) whose API cannot show them.
    ProviderFirewall,
    /// The network monitoring of one provider (`provider`) whose API cannot show it.
    ProviderMonitoring,
    /// The alert channels of one provider (`provider`) whose API cannot show them.
    ProviderAlerting,
}

impl AttestableRequirement {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EndpointFirewall => "EndpointFirewall",
            Self::ProviderFirewall => "ProviderFirewall",
            Self::ProviderMonitoring => "ProviderMonitoring",
            Self::ProviderAlerting => "ProviderAlerting",
        }
    }
}

/// A signed-off statement: what is in place, who says so, where the evidence is, until when.
///
/// A `Provider*` attestation counts only for a provider part that no API can show (the
/// provider's registry entry says which: e.g. Modal's firewall, monitoring and alerting,
/// Trigger.dev's firewall and alerting). One naming a part an API can verify is ignored, and the
/// requirement's message says so: an attestation never hides drift an API can see.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("(self.requirement == 'EndpointFirewall') != has(self.provider)").message("provider is required for ProviderFirewall, ProviderMonitoring and ProviderAlerting, and forbidden for EndpointFirewall").reason(Reason::FieldValueInvalid))]
#[serde(rename_all = "camelCase")]
pub struct Attestation {
    pub requirement: AttestableRequirement,
    /// The CloudProvider whose part is attested (`Provider*` requirements only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<AttestedProvider>,
    /// What is in place, in the words of the person attesting.
    #[schemars(length(min = 10, max = 1000))]
    pub statement: String,
    /// Who attests (name or e-mail of an accountable person).
    #[schemars(length(min = 3, max = 200))]
    pub attested_by: String,
    /// Where an auditor finds the evidence (ticket, report, MDM export).
    #[schemars(regex(pattern = r"^https://\S+$"))]
    pub evidence_url: String,
    /// When the statement stops counting (RFC 3339, e.g. `2027-03-01T00:00:00Z`).
    #[schemars(regex(
        pattern = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
    ))]
    pub expires: String,
}

/// The CloudProvider an attestation speaks for.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttestedProvider {
    /// Its namespace; absent for a ClusterCloudProvider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
        length(min = 1, max = 63)
    )]
    pub namespace: Option<String>,
    /// Its name.
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
        length(min = 1, max = 253)
    )]
    pub name: String,
}

/// Evidence trail settings. Records are written when the result changes and at least every
/// `heartbeatMinutes`; the cluster keeps the newest `maxRecords` (the rest is exported with
/// `perimeter report --format json`, see the README).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceSettings {
    #[serde(default = "default_heartbeat")]
    #[schemars(range(min = 1, max = 1440))]
    pub heartbeat_minutes: u32,
    #[serde(default = "default_max_records")]
    #[schemars(range(min = 10, max = 2000))]
    pub max_records: u32,
}

fn default_heartbeat() -> u32 {
    60
}

fn default_max_records() -> u32 {
    500
}

impl Default for EvidenceSettings {
    fn default() -> Self {
        Self {
            heartbeat_minutes: default_heartbeat(),
            max_records: default_max_records(),
        }
    }
}

/// The latest assessment, small enough for the object; the trail is in the evidence store.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlAssessmentStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (the assessment could be evaluated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// `Implemented`, `PartiallyImplemented` or `NotImplemented`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Satisfied requirements / all requirements, e.g. `3/4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maturity: Option<MaturityStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requirements: Vec<RequirementStatus>,
    /// One row per CloudProvider in scope.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coverage: Vec<CoverageRow>,
    #[serde(default)]
    pub gap_count: u32,
    /// What is missing and what would close it (at most 50).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<GapStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<EvidenceHead>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaturityStatus {
    pub level: u8,
    pub name: String,
    /// The rule that produced the level.
    pub rule: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequirementStatus {
    pub id: String,
    /// `Verified`, `Attested`, `Gap` or `Unknown`.
    pub state: String,
    pub message: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoverageRow {
    /// `namespace/name` of the CloudProvider.
    pub provider: String,
    #[serde(rename = "type")]
    pub provider_type: String,
    /// `Verified`, `Attested`, `Drifted`, `Missing`, `Unknown`, `Paused`, `NotApplicable`,
    /// `Unverified`, `Unreachable` or `Uncovered` (some boundary assets have no FirewallPolicy).
    pub firewall: String,
    pub monitoring: String,
    pub alerting: String,
    /// What of this provider an API verified and what only an attestation covers, e.g.
    /// `verified: monitoring; attested: firewall, alerting`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GapStatus {
    pub requirement: String,
    pub subject: String,
    /// What would close the gap.
    pub action: String,
}

/// The head of the evidence chain: enough to check an exported trail against the cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceHead {
    pub seq: u64,
    /// `sha256:<hex>` of the newest record.
    pub digest: String,
    pub recorded_at: String,
    /// Where the records are kept (`ConfigMap <namespace>/<name>`).
    pub store: String,
}
