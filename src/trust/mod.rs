//! The trust model: what the objects of a namespace may make the operator do.
//!
//! Whoever may create a `CloudProvider` or a policy in a namespace is not the operator's admin.
//! Every decision here is taken from the admin's configuration ([`Trust`], built from flags and
//! Helm values), never from a field of a custom resource:
//!
//! - **Identity**: `credentials.source: Ambient` (the operator's own cloud identity) is
//!   refused in a namespaced `CloudProvider` unless the admin lists its namespace; shared
//!   identities belong in a `ClusterCloudProvider`, which names the namespaces that may use it.
//! - **Where a credential may go**: `spec.endpoint` must be one of the provider's official API
//!   hosts ([`hosts::official`]) or a host the admin allows; URLs are parsed by one function
//!   ([`url::parse`]) that refuses user info, fragments and non-canonical hosts.
//! - **What a credential file may name** (GCP `external_account`): token, STS and
//!   impersonation URLs only at Google's hosts or admin-listed ones; `credential_source.file`
//!   only under admin-listed directories and never the Kubernetes service-account token or
//!   `/proc`; `credential_source.url` only at admin-listed hosts, or the metadata server for
//!   credentials the admin supplied.
//!
//! Pure: no Kubernetes, no I/O except [`files`], which resolves paths on the local disk.

pub mod files;
pub mod hosts;
pub mod url;

use std::path::PathBuf;

use crate::api::ProviderType;
use crate::error::Error;

pub use hosts::HostPattern;

/// The label a Secret must carry before the operator reads it as a credential.
pub const CREDENTIAL_LABEL: &str = "perimeter.dev/credential";
pub const CREDENTIAL_LABEL_VALUE: &str = "true";

/// A set of namespace names; `*` stands for every namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceSet(Vec<String>);

impl NamespaceSet {
    pub fn new(names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let mut v: Vec<String> = names
            .into_iter()
            .map(Into::into)
            .map(|s: String| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        v.sort();
        v.dedup();
        Self(v)
    }

    pub fn all() -> Self {
        Self(vec!["*".into()])
    }

    pub fn contains(&self, namespace: &str) -> bool {
        self.0.iter().any(|n| n == "*" || n == namespace)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn names(&self) -> &[String] {
        &self.0
    }
}

/// Who supplied a credential, which decides what its configuration may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A namespaced `CloudProvider` (and its Secret) of a namespace the admin did not trust
    /// with the operator's identity.
    Tenant,
    /// The admin: a `ClusterCloudProvider`, a namespace listed for ambient credentials, the
    /// operator's own environment, or whoever runs `perimeter check` with their own credentials.
    Admin,
}

/// The admin's decisions. The default trusts nothing beyond the official API hosts.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    /// Namespaces whose `CloudProvider`s may use `credentials.source: Ambient`.
    pub ambient_namespaces: NamespaceSet,
    /// Hosts `spec.endpoint` may name besides each provider's official API hosts (proxies,
    /// private endpoints, emulators).
    pub endpoint_hosts: Vec<HostPattern>,
    /// Token endpoints a GCP credential may name besides Google's (`*.googleapis.com`,
    /// `accounts.google.com`): `token_uri`, `token_url`, `service_account_impersonation_url`.
    pub token_hosts: Vec<HostPattern>,
    /// Directories an `external_account` `credential_source.file` may be read from.
    pub credential_dirs: Vec<PathBuf>,
    /// Hosts an `external_account` `credential_source.url` may name. The metadata server is
    /// allowed in addition, for [`Principal::Admin`] credentials only.
    pub credential_url_hosts: Vec<HostPattern>,
    /// Whether an admin's `external_account` may name `credential_source.executable` (a
    /// command run inside the operator's pod). Never a tenant's.
    pub allow_credential_executables: bool,
}

impl Trust {
    /// Whether a namespaced `CloudProvider` in `namespace` may use the operator's identity.
    pub fn ambient_allowed(&self, namespace: &str) -> bool {
        self.ambient_namespaces.contains(namespace)
    }

    /// Checks `spec.endpoint` of a provider account: a well-formed URL at one of the
    /// provider's official API hosts, or at a host the admin allows. `field` names the field
    /// in messages.
    pub fn check_endpoint(
        &self,
        provider: ProviderType,
        field: &str,
        raw: &str,
    ) -> Result<url::Checked, Error> {
        let parsed = url::parse(raw, url::Rules::ENDPOINT)
            .map_err(|e| Error::InvalidSpec(format!("{field}: {e}")))?;
        if parsed.https && hosts::is_official(provider, &parsed.host, parsed.port) {
            return Ok(parsed);
        }
        if self
            .endpoint_hosts
            .iter()
            .any(|p| p.matches(&parsed.host, parsed.port))
        {
            return Ok(parsed);
        }
        let official = hosts::official(provider);
        if official.is_empty() {
            // A self-hosted API (Fleet): no host is the provider's, so every server is one the
            // admin chose, never one a tenant names.
            return Err(Error::Forbidden(format!(
                "{field}: {provider} is self-hosted and has no official API host; the operator's \
                 admin must allow this server ({}) with --allow-endpoint-host (Helm value \
                 security.allowedEndpointHosts) before its token is sent there",
                parsed.authority()
            )));
        }
        Err(Error::Forbidden(format!(
            "{field}: {} is not an official {provider} API host ({}); the operator's admin must \
             allow it (flag --allow-endpoint-host, Helm value security.allowedEndpointHosts)",
            parsed.authority(),
            official.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_sets() {
        let s = NamespaceSet::new(["team-a", " ", "team-b", "team-a"]);
        assert_eq!(s.names(), ["team-a", "team-b"]);
        assert!(s.contains("team-a") && !s.contains("team-c"));
        assert!(NamespaceSet::all().contains("anything"));
        assert!(!NamespaceSet::default().contains("default"));
    }

    /// Fleet is self-hosted: no server is trusted until the admin allows it, and the refusal
    /// says so (rather than listing an empty set of official hosts).
    #[test]
    fn a_self_hosted_provider_reaches_only_what_the_admin_allows() {
        let strict = Trust::default();
        let fleet = ProviderType::Fleet;
        let e = strict
            .check_endpoint(fleet, "spec.endpoint", "https://fleet.corp.example")
            .expect_err("no official host");
        assert_eq!(e.category().reason(), "Forbidden");
        let msg = e.to_string();
        assert!(
            msg.contains("self-hosted") && msg.contains("--allow-endpoint-host"),
            "{msg}"
        );
        assert!(msg.contains("fleet.corp.example"), "{msg}");
        let allowed = Trust {
            endpoint_hosts: vec![HostPattern::parse("fleet.corp.example").expect("pattern")],
            ..Trust::default()
        };
        assert!(
            allowed
                .check_endpoint(fleet, "spec.endpoint", "https://fleet.corp.example")
                .is_ok()
        );
        assert!(
            allowed
                .check_endpoint(fleet, "spec.endpoint", "https://fleet.evil.example")
                .is_err()
        );
    }

    #[test]
    fn endpoints_are_official_hosts_unless_the_admin_allows_more() {
        let strict = Trust::default();
        let lab = Trust {
            endpoint_hosts: vec![
                HostPattern::parse("127.0.0.1").expect("pattern"),
                HostPattern::parse("*.proxy.corp.example:8443").expect("pattern"),
            ],
            ..Trust::default()
        };
        let cf = ProviderType::Cloudflare;
        let cases = [
            (&strict, cf, "https://api.cloudflare.com/client/v4", Ok(())),
            (
                &strict,
                cf,
                "https://api.cloudflare.com:443/client/v4",
                Ok(()),
            ),
            (
                &strict,
                cf,
                "https://API.cloudflare.com/client/v4",
                Err("InvalidSpec"),
            ),
            (
                &strict,
                cf,
                "https://api.cloudflare.com.evil.example/",
                Err("Forbidden"),
            ),
            (&strict, cf, "https://127.0.0.2:9443/", Err("Forbidden")),
            (&strict, cf, "http://127.0.0.1:8080/", Err("Forbidden")),
            (
                &strict,
                cf,
                "http://[::1]:@attacker.example/",
                Err("InvalidSpec"),
            ),
            (
                &strict,
                cf,
                "http://localhost:@attacker.example/",
                Err("InvalidSpec"),
            ),
            (
                &strict,
                ProviderType::Aws,
                "https://ec2.eu-west-1.amazonaws.com",
                Ok(()),
            ),
            (
                &strict,
                ProviderType::Aws,
                "https://amazonaws.com.evil.example",
                Err("Forbidden"),
            ),
            (
                &strict,
                ProviderType::Gcp,
                "https://compute.googleapis.com",
                Ok(()),
            ),
            (
                &strict,
                ProviderType::Gcp,
                "https://api.cloudflare.com",
                Err("Forbidden"),
            ),
            (&lab, cf, "http://127.0.0.1:8080/client/v4", Ok(())),
            (&lab, cf, "https://127.0.0.1/", Ok(())),
            (&lab, cf, "http://127.0.0.2:8080/", Err("InvalidSpec")),
            (&lab, cf, "https://a.proxy.corp.example:8443/cf", Ok(())),
            (
                &lab,
                cf,
                "https://a.proxy.corp.example/cf",
                Err("Forbidden"),
            ),
            (
                &lab,
                cf,
                "https://proxy.corp.example:8443/cf",
                Err("Forbidden"),
            ),
        ];
        for (trust, provider, raw, want) in cases {
            let got = trust
                .check_endpoint(provider, "spec.endpoint", raw)
                .map(|_| ())
                .map_err(|e| e.category().reason());
            assert_eq!(got, want, "{provider} {raw}");
        }
        let msg = strict
            .check_endpoint(cf, "spec.endpoint", "https://127.0.0.2:9443/")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.contains("spec.endpoint")
                && msg.contains("127.0.0.2:9443")
                && msg.contains("api.cloudflare.com"),
            "{msg}"
        );
    }
}
