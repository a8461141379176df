//! Provider accounts as the controllers use them — a namespaced `CloudProvider` or a
//! cluster-scoped `ClusterCloudProvider` — and the one place their clients are built: the
//! admin's trust rules applied, the credential read from a labelled Secret, the client cached.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use sha2::{Digest, Sha256};

use super::Context;
use crate::api::provider::CredentialSource;
use crate::api::{CloudProvider, CloudProviderSpec, ClusterCloudProvider, ProviderKind};
use crate::error::Error;
use crate::providers::{self, Access, Provider};
use crate::secret::SecretString;
use crate::trust::{CREDENTIAL_LABEL, CREDENTIAL_LABEL_VALUE, Principal};

/// One provider account, whichever kind declared it.
#[derive(Clone, Copy, Debug)]
pub struct Account<'a> {
    pub kind: ProviderKind,
    /// The `CloudProvider`'s namespace; `None` for a `ClusterCloudProvider`.
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    pub uid: &'a str,
    pub spec: &'a CloudProviderSpec,
}

impl<'a> Account<'a> {
    pub fn namespaced(p: &'a CloudProvider) -> Self {
        Self {
            kind: ProviderKind::CloudProvider,
            namespace: p.metadata.namespace.as_deref(),
            name: p.metadata.name.as_deref().unwrap_or_default(),
            uid: p.metadata.uid.as_deref().unwrap_or_default(),
            spec: &p.spec,
        }
    }

    pub fn cluster(p: &'a ClusterCloudProvider) -> Self {
        Self {
            kind: ProviderKind::ClusterCloudProvider,
            namespace: None,
            name: p.metadata.name.as_deref().unwrap_or_default(),
            uid: p.metadata.uid.as_deref().unwrap_or_default(),
            spec: &p.spec.account,
        }
    }

    /// `CloudProvider team-a/cf` or `ClusterCloudProvider shared-aws`.
    pub fn describe(&self) -> String {
        match self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind.as_str(), self.name),
            None => format!("{} {}", self.kind.as_str(), self.name),
        }
    }

    /// Where its credential Secret lives: its own namespace, or for a `ClusterCloudProvider` the
    /// operator's (never a namespace a field names).
    pub fn secret_namespace<'b>(&'b self, ctx: &'b Context) -> &'b str {
        self.namespace.unwrap_or(&ctx.config.cluster_namespace)
    }

    /// Who the credential belongs to, which decides what it may name.
    pub fn principal(&self, ctx: &Context) -> Principal {
        match self.namespace {
            None => Principal::Admin,
            Some(ns) if ambient_allowed(ctx, ns) => Principal::Admin,
            Some(_) => Principal::Tenant,
        }
    }

    /// The key of its cached client: the object's identity (a re-created provider has a new
    /// uid) and its spec, so a status write keeps the client (and its rate limiter).
    fn fingerprint(&self, secret_version: &str) -> String {
        let spec = serde_json::to_vec(self.spec).unwrap_or_default();
        let digest = Sha256::digest(&spec);
        let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
        format!("{}/{hex}/{secret_version}", self.uid)
    }

    fn cache_key(&self) -> (ProviderKind, String, String) {
        (
            self.kind,
            self.namespace.unwrap_or_default().to_string(),
            self.name.to_string(),
        )
    }
}

/// The client for an account, reusing the cached one while neither the account (uid, spec)
/// nor its Secret changed. Refuses, before any request, what the admin does not allow.
pub async fn client_for(ctx: &Context, account: &Account<'_>) -> Result<Arc<dyn Provider>, Error> {
    let ambient = account.spec.credentials.source == CredentialSource::Ambient;
    if let (true, Some(ns)) = (ambient, account.namespace)
        && !ambient_allowed(ctx, ns)
    {
        return Err(Error::Forbidden(format!(
            "spec.credentials.source Ambient would use the operator's own identity, which the \
             operator's admin has not allowed for namespace {ns:?} (flag --ambient-namespace, \
             Helm value security.ambientCredentialNamespaces); use a Secret, or a \
             ClusterCloudProvider the admin shares with this namespace"
        )));
    }
    let secret_namespace = account.secret_namespace(ctx);
    let found = crate::reconcile::credential(account.spec, |r| {
        let (name, key) = (r.name.clone(), r.key.clone());
        async move { read_secret(ctx, secret_namespace, &name, &key).await }
    })
    .await?;
    let (credential, secret_version) = match found {
        Some((value, version)) => (Some(value), version),
        None => (None, String::new()),
    };
    let fingerprint = account.fingerprint(&secret_version);
    let key = account.cache_key();
    let mut cache = ctx.clients.lock().await;
    if let Some(cached) = cache.get(&key)
        && cached.fingerprint == fingerprint
    {
        return Ok(cached.client.clone());
    }
    let access = Access {
        trust: &ctx.config.trust,
        principal: account.principal(ctx),
        share_reads: ctx.config.share_reads,
    };
    let client =
        providers::connect(account.spec, credential, Some(ctx.metrics.clone()), access).await?;
    cache.insert(
        key,
        super::CachedClient {
            fingerprint,
            client: client.clone(),
        },
    );
    Ok(client)
}

/// The operator's own namespace is the admin's (it holds the ClusterCloudProvider Secrets and
/// the evidence trail); other namespaces only when the admin lists them.
fn ambient_allowed(ctx: &Context, namespace: &str) -> bool {
    namespace == ctx.config.cluster_namespace || ctx.config.trust.ambient_allowed(namespace)
}

/// Drops the cached client of a deleted account (its rate limiter and token go with it).
pub async fn forget(ctx: &Context, kind: ProviderKind, namespace: Option<&str>, name: &str) {
    let key = (
        kind,
        namespace.unwrap_or_default().to_string(),
        name.to_string(),
    );
    ctx.assets.forget(&key);
    ctx.clients.lock().await.remove(&key);
}

/// The credential from the labelled-Secret cache, and the Secret's resourceVersion (so a
/// rotated credential rebuilds the client). A Secret without the label is never read: its
/// existence is checked by metadata only, to say why it is refused.
async fn read_secret(
    ctx: &Context,
    ns: &str,
    name: &str,
    key: &str,
) -> Result<(SecretString, String), Error> {
    let cached = match tokio::time::timeout(
        std::time::Duration::from_secs(30),
        ctx.secrets.wait_until_ready(),
    )
    .await
    {
        Ok(Ok(())) => ctx.secrets.get(&ObjectRef::<Secret>::new(name).within(ns)),
        // Not yet listed: retried by the caller's backoff rather than reported as missing.
        _ => {
            return Err(Error::CredentialsMissing(
                "the credential Secrets are not listed yet".into(),
            ));
        }
    };
    let secret = match cached {
        Some(s) if labelled(&s) => s,
        _ => {
            let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
            return Err(match api.get_metadata_opt(name).await? {
                Some(_) => Error::Forbidden(format!(
                    "Secret {ns}/{name} does not carry the label {CREDENTIAL_LABEL}: \
                     \"{CREDENTIAL_LABEL_VALUE}\"; the operator reads only Secrets labelled as \
                     credentials (kubectl label secret -n {ns} {name} {CREDENTIAL_LABEL}={CREDENTIAL_LABEL_VALUE})"
                )),
                None => Error::CredentialsMissing(format!(
                    "Secret {name:?} not found in namespace {ns:?}"
                )),
            });
        }
    };
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| String::from_utf8_lossy(&b.0).trim().to_string())
        .ok_or_else(|| {
            Error::CredentialsMissing(format!("Secret {ns}/{name} has no key {key:?}"))
        })?;
    Ok((
        SecretString::new(value),
        secret.resource_version().unwrap_or_default(),
    ))
}

fn labelled(s: &Secret) -> bool {
    s.labels().get(CREDENTIAL_LABEL).map(String::as_str) == Some(CREDENTIAL_LABEL_VALUE)
}
