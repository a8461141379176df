//! The emulator's seed document (YAML- or JSON-friendly). Resources are the API's own JSON
//! objects; what Compute assigns (`id`, `selfLink`, `fingerprint`, full URLs, defaults) is
//! filled in when missing.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Seed {
    /// Project id; `demo-project` when empty.
    pub project: String,
    /// Service accounts whose key-signed JWTs the token endpoint accepts.
    pub service_accounts: Vec<ServiceAccount>,
    /// Bearer tokens accepted as they are (besides the ones the emulator issues).
    pub tokens: Vec<String>,
    /// Whether the metadata server hands out tokens (a workload with Workload Identity).
    pub metadata_server: bool,
    /// Workload identity pool providers whose subject tokens the STS endpoint exchanges
    /// (Workload Identity Federation).
    pub workload_identity_providers: Vec<WorkloadIdentityProvider>,
    /// Compute `Network` objects (`name` at least). A network a seeded firewall or
    /// subnetwork names is added when missing: Compute has no rule or subnet outside one.
    pub networks: Vec<Value>,
    /// Compute `Firewall` objects; `network` may be a name.
    pub firewalls: Vec<Value>,
    /// Compute `SecurityPolicy` objects; the default rule is added when missing.
    pub security_policies: Vec<Value>,
    /// Compute `Subnetwork` objects; `region` and `network` may be names.
    pub subnetworks: Vec<Value>,
    /// Cloud Routers' runtime status, as `routers.getRouterStatus` reports it: `name` and
    /// `region` (names) pick the router; `natStatus` (`RouterStatusNatStatus` objects) and
    /// `network` are answered under `result`.
    pub router_statuses: Vec<Value>,
    /// Network Management `VpcFlowLogsConfig` objects (`subnet` or `network` as URLs).
    pub vpc_flow_logs_configs: Vec<Value>,
    /// Monitoring `AlertPolicy` objects.
    pub alert_policies: Vec<Value>,
    /// Monitoring `UptimeCheckConfig` objects.
    pub uptime_checks: Vec<Value>,
    /// Who the seeded `tokens` and the metadata server's tokens act as, in the audit log;
    /// `perimeter@{project}.iam.gserviceaccount.com` when empty.
    pub principal: String,
    /// Changes people made before the emulator started, as the Admin Activity audit log has
    /// them (the state is the seed's: these only say who made it so).
    pub console_changes: Vec<ConsoleChange>,
    /// The Admin Activity audit log: Cloud Logging `LogEntry` objects with an `AuditLog`
    /// payload. Every write the emulator accepts appends one; `console_changes` are added at
    /// start.
    pub audit_log: Vec<Value>,
    /// Monitoring `NotificationChannel` objects (read-only here: a Slack channel is created
    /// through Google's OAuth flow in the console).
    pub notification_channels: Vec<Value>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccount {
    pub client_email: String,
    /// `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1) of the key pair.
    pub public_key_pem: String,
}

/// A workload identity pool provider: which external tokens it trusts, and which service
/// accounts its federated tokens may act as (`roles/iam.workloadIdentityUser`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct WorkloadIdentityProvider {
    /// `//iam.googleapis.com/projects/{number}/locations/global/workloadIdentityPools/{pool}/providers/{provider}`.
    pub audience: String,
    /// The external identity provider's tokens (e.g. an EKS service-account JWT) it accepts.
    pub subject_tokens: Vec<String>,
    /// Emails of the service accounts its federated tokens may impersonate.
    pub service_accounts: Vec<String>,
    /// AWS identities it trusts (an AWS-sourced credential signs `GetCallerIdentity` with one).
    pub aws_access_keys: Vec<AwsAccessKey>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AwsAccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// A change a person made in the Cloud Console, for the audit log.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ConsoleChange {
    /// Who (`protoPayload.authenticationInfo.principalEmail`).
    pub principal: String,
    /// `v1.compute.firewalls.patch`, `google.monitoring.v3.UptimeCheckService.UpdateUptimeCheckConfig`…
    pub method_name: String,
    /// `projects/{project}/global/firewalls/{name}`…
    pub resource_name: String,
    /// What the audit log keeps of the request (a rule's `priority`, a policy's `displayName`).
    pub request: Value,
    /// How long before the start it was made.
    pub minutes_ago: u32,
}
