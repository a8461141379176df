//! `AddressSet`: a named list of CIDRs that the firewall policies of its namespace reference
//! wherever they take addresses. The list is declared by hand (`spec.addresses`) or read from a
//! provider account of the same namespace (`spec.source`: Better Stack's probe addresses,
//! Upstash QStash's egress addresses, the public addresses of AWS NAT gateways or of a GCP
//! Cloud NAT). A policy never writes from a set that is missing, not
//! `Ready` or stale: an allowlist computed from a partial set would cut people off.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// An IPv4 or IPv6 address or CIDR (a bare address is a host route); parsed again in code,
/// where the address is masked to its network.
pub const ADDRESS_PATTERN: &str = r"^[0-9a-fA-F:.]{2,39}(/[0-9]{1,3})?$";
/// The name of an object in the same namespace (a DNS subdomain).
pub const NAME_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A Better Stack cluster name, as `ips-by-cluster.json` keys them (`us`, `eu`, `as`, `au`).
const CLUSTER_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$";
/// An AWS region name (`eu-west-1`), as it becomes part of a host name.
const AWS_REGION_PATTERN: &str = r"^[a-z]{2}(-[a-z]+)+-[0-9]$";
/// A VPC id.
const VPC_ID_PATTERN: &str = r"^vpc-[0-9a-f]{8,17}$";
/// A GCP region (`europe-west1`) or resource name (router, NAT): RFC 1035, at most 63
/// characters, as Compute's path parameters take them.
const GCP_NAME_PATTERN: &str = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$";
pub use crate::core::addresses::MAX_ADDRESSES;
/// How many addresses may be declared by hand (the status bound leaves room for sources).
pub const MAX_DECLARED: usize = 1000;
/// How often a source is read again when `refreshMinutes` is not set.
pub const DEFAULT_REFRESH_MINUTES: u32 = 60;

/// A named list of CIDRs, from exactly one source: declared by hand, or read from a provider.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "perimeter.dev",
    version = "v1alpha1",
    kind = "AddressSet",
    namespaced,
    status = "AddressSetStatus",
    shortname = "aset",
    category = "perimeter",
    printcolumn = r#"{"name":"Count","type":"integer","jsonPath":".status.count"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Observed","type":"date","jsonPath":".status.observedAt"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("[has(self.addresses), has(self.source)].filter(b, b).size() == 1").message("exactly one of spec.addresses or spec.source must be set").reason(Reason::FieldValueRequired))]
#[serde(rename_all = "camelCase")]
pub struct AddressSetSpec {
    /// Addresses declared by hand (a compute provider's static egress addresses, an office
    /// range): IPv4 or IPv6 CIDRs or bare addresses. Normalised (masked to the network,
    /// canonical text), sorted and deduplicated in `status.addresses`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000), inner(regex(pattern = ADDRESS_PATTERN)))]
    pub addresses: Option<Vec<String>>,
    /// Addresses read from a provider account of this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<AddressSource>,
    /// How often the source is read again, in minutes (default 60). A set whose source has
    /// not been read for three times this long is stale, and no policy writes from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1440))]
    pub refresh_minutes: Option<u32>,
}

/// Where a set's addresses are read from. Exactly one is set.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.betterstack), has(self.upstashQstash), has(self.awsNatGateways), has(self.gcpCloudNat)].filter(b, b).size() == 1").message("exactly one source must be set: one of source.betterstack, source.upstashQstash, source.awsNatGateways, source.gcpCloudNat").reason(Reason::FieldValueRequired))]
pub struct AddressSource {
    /// Better Stack's uptime probe addresses (`GET /ips-by-cluster.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub betterstack: Option<BetterstackProbes>,
    /// Upstash QStash's egress addresses (`GET /qstash/ipv4`), from which QStash calls
    /// your endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstash_qstash: Option<SourceAccount>,
    /// The Elastic IPs of the AWS account's NAT gateways (`DescribeNatGateways`, state
    /// `available`), from which its private subnets reach the internet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_nat_gateways: Option<AwsNatGateways>,
    /// The external addresses of a GCP Cloud NAT (`routers.getRouterStatus`), from which the
    /// VMs behind it reach the internet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp_cloud_nat: Option<GcpCloudNat>,
}

/// The public addresses of an AWS account's NAT gateways.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsNatGateways {
    pub provider_ref: LocalProviderRef,
    /// Regions read (each must be one of the CloudProvider's `spec.regions`); empty or
    /// absent: every region of the CloudProvider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(max = 32), inner(regex(pattern = AWS_REGION_PATTERN)))]
    pub regions: Vec<String>,
    /// Only the NAT gateways of these VPCs; empty or absent: every VPC.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(max = 64), inner(regex(pattern = VPC_ID_PATTERN)))]
    pub vpc_ids: Vec<String>,
}

/// The external addresses of a GCP Cloud NAT: those its router reports in use, allocated by
/// hand or automatically.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpCloudNat {
    pub provider_ref: LocalProviderRef,
    /// The Cloud Router's region (`europe-west1`).
    #[schemars(regex(pattern = GCP_NAME_PATTERN))]
    pub region: String,
    /// The Cloud Router's name.
    #[schemars(regex(pattern = GCP_NAME_PATTERN))]
    pub router: String,
    /// Only the NAT of this name on the router; absent: every NAT of the router. A name the
    /// router does not report is an error, never an empty set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = GCP_NAME_PATTERN))]
    pub nat: Option<String>,
}

/// Better Stack's probe addresses.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BetterstackProbes {
    pub provider_ref: LocalProviderRef,
    /// Clusters whose probes are included (`us`, `eu`, `as`, `au`); empty or absent: all.
    /// A cluster Better Stack does not list is an error, never an empty part.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(max = 16), inner(regex(pattern = CLUSTER_PATTERN)))]
    pub clusters: Vec<String>,
}

/// A source read from one account, with nothing to choose.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceAccount {
    pub provider_ref: LocalProviderRef,
}

/// A `CloudProvider` in the set's own namespace, used under the same rules as a policy's
/// `providerRef`. A set never reads through a `ClusterCloudProvider`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct LocalProviderRef {
    #[schemars(length(min = 1, max = 253), regex(pattern = NAME_PATTERN))]
    pub name: String,
}

impl AddressSource {
    /// The account the source is read through.
    pub fn provider_ref(&self) -> Option<&LocalProviderRef> {
        self.betterstack
            .as_ref()
            .map(|b| &b.provider_ref)
            .or_else(|| self.upstash_qstash.as_ref().map(|u| &u.provider_ref))
            .or_else(|| self.aws_nat_gateways.as_ref().map(|a| &a.provider_ref))
            .or_else(|| self.gcp_cloud_nat.as_ref().map(|g| &g.provider_ref))
    }

    /// The provider type the source reads; `None` when no source is set.
    pub fn provider_type(&self) -> Option<super::ProviderType> {
        use super::ProviderType;
        if self.betterstack.is_some() {
            Some(ProviderType::Betterstack)
        } else if self.upstash_qstash.is_some() {
            Some(ProviderType::Upstash)
        } else if self.aws_nat_gateways.is_some() {
            Some(ProviderType::Aws)
        } else if self.gcp_cloud_nat.is_some() {
            Some(ProviderType::Gcp)
        } else {
            None
        }
    }

    /// The source's name as the schema spells it (`upstashQstash`), for reports.
    pub fn name(&self) -> &'static str {
        if self.betterstack.is_some() {
            "betterstack"
        } else if self.upstash_qstash.is_some() {
            "upstashQstash"
        } else if self.aws_nat_gateways.is_some() {
            "awsNatGateways"
        } else if self.gcp_cloud_nat.is_some() {
            "gcpCloudNat"
        } else {
            "none"
        }
    }

    /// The source's field path, for messages.
    pub fn field(&self) -> &'static str {
        match self.name() {
            "betterstack" => "spec.source.betterstack",
            "upstashQstash" => "spec.source.upstashQstash",
            "awsNatGateways" => "spec.source.awsNatGateways",
            "gcpCloudNat" => "spec.source.gcpCloudNat",
            _ => "spec.source",
        }
    }
}

impl AddressSetSpec {
    /// How often the source is read, in minutes.
    pub fn refresh_minutes(&self) -> u32 {
        self.refresh_minutes
            .unwrap_or(DEFAULT_REFRESH_MINUTES)
            .clamp(1, 1440)
    }
}

/// What the set resolved to at its last read.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddressSetStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the source was read and every address is valid (reasons `Resolved`,
    /// `SourceUnreadable`, `InvalidAddress`, `ProviderNotFound`, `Empty`, `TooMany`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The addresses, normalised, sorted and deduplicated; empty unless `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 2000))]
    pub addresses: Vec<String>,
    /// How many addresses `addresses` holds.
    #[serde(default)]
    pub count: u32,
    /// SHA-256 (hex) of `addresses`, one per line: a policy's status records the digest it
    /// used, so a change of the source is visible there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// When the source was last read successfully (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
}

/// A set a policy used: its name and the digest of the addresses it used.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, KubeSchema)]
pub struct UsedAddressSet {
    pub name: String,
    pub digest: String,
}
