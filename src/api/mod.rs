//! The Kubernetes API of Perimeter (`perimeter.dev/v1alpha1`): custom resource types from
//! which the CRDs in `crds/` are generated.

pub mod aws;
pub mod cloudflare;
pub mod common;
pub mod compliance;
pub mod firewall;
pub mod gcp;
pub mod monitoring;
pub mod provider;

pub use common::*;
pub use compliance::{ControlAssessment, ControlAssessmentSpec, ControlAssessmentStatus};
pub use firewall::{FirewallPolicy, FirewallPolicySpec};
pub use monitoring::{MonitoringPolicy, MonitoringPolicySpec};
pub use provider::{
    CloudProvider, CloudProviderSpec, CloudProviderStatus, ClusterCloudProvider,
    ClusterCloudProviderSpec,
};

use kube::CustomResourceExt;

/// All CRDs, in the order they are written to `crds/`.
pub fn crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    vec![
        CloudProvider::crd(),
        ClusterCloudProvider::crd(),
        FirewallPolicy::crd(),
        MonitoringPolicy::crd(),
        ControlAssessment::crd(),
    ]
}

/// The CRDs as one multi-document YAML stream (what `perimeter crds` prints).
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd)?);
    }
    Ok(out)
}
