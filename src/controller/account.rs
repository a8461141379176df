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
    // Only this account's slot is held while its client is built: its other policies wait for
    // that one connect, other accounts do not.
    let slot = ctx.client_slot(&key);
    let mut slot = slot.lock().await;
    if let Some(cached) = slot.as_ref()
        && cached.fingerprint == fingerprint
    {
        return Ok(cached.client.clone());
    }
    let access = Access {
        trust: &ctx.config.trust,
        principal: account.principal(ctx),
        share_reads: ctx.config.share_reads,
        connections: ctx.connections.as_ref(),
    };
    let started = std::time::Instant::now();
    let client =
        providers::connect(account.spec, credential, Some(ctx.metrics.clone()), access).await?;
    tracing::debug!(
        account = ?key,
        elapsed_ms = started.elapsed().as_millis(),
        "connected to the provider account"
    );
    *slot = Some(super::CachedClient {
        fingerprint,
        client: client.clone(),
    });
    Ok(client)
}

/// The operator's own namespace is the admin's (it holds the ClusterCloudProvider Secrets and
/// the evidence trail); other namespaces only when the admin lists them.
fn ambient_allowed(ctx: &Context, namespace: &str) -> bool {
    namespace == ctx.config.cluster_namespace || ctx.config.trust.ambient_allowed(namespace)
}

/// Drops the cached client of a deleted account (its rate limiter and token go with it).
pub fn forget(ctx: &Context, kind: ProviderKind, namespace: Option<&str>, name: &str) {
    let key = (
        kind,
        namespace.unwrap_or_default().to_string(),
        name.to_string(),
    );
    ctx.assets.forget(&key);
    ctx.forget_client(&key);
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
    let cached = match ctx.secrets.listed(super::LISTED_LIMIT).await {
        true => ctx.secrets.get(&ObjectRef::<Secret>::new(name).within(ns)),
        // Not yet listed: retried by the caller's backoff rather than reported as missing.
        false => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::guard::Parsed;
    use crate::controller::watch::Feed;
    use crate::controller::{Feeds, Settings};
    use crate::metrics::Metrics;

    fn cloudflare(name: &str) -> CloudProvider {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "perimeter.dev/v1alpha1", "kind": "CloudProvider",
            "metadata": {"name": name, "namespace": "team", "uid": format!("uid-{name}")},
            "spec": {"type": "cloudflare", "accountId": "acc",
                     "credentials": {"secretRef": {"name": "cf-api", "key": "token"}}}
        }))
        .expect("provider")
    }

    fn context() -> Arc<Context> {
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "cf-api", "namespace": "team", "resourceVersion": "7",
                         "labels": {"perimeter.dev/credential": "true"}},
            "data": {"token": "dG9rLTEyMzQ1Ng=="}
        }))
        .expect("secret");
        let feeds = Feeds {
            secrets: Feed::filled([secret]),
            providers: Feed::filled([Parsed(Ok(cloudflare("a"))), Parsed(Ok(cloudflare("b")))]),
            ..Feeds::default()
        };
        let (service, _handle) = tower_test::mock::pair::<
            http::Request<kube::client::Body>,
            http::Response<kube::client::Body>,
        >();
        Context::with(
            kube::Client::new(service, "default"),
            Arc::new(Metrics::new().expect("metrics")),
            Settings::default(),
            Arc::new(feeds),
        )
    }

    /// An account whose client is being built (a slow connect) holds its own policies only:
    /// another account's syncs get their client meanwhile. Once built, the client is reused.
    #[tokio::test]
    async fn a_connect_in_progress_holds_only_its_own_account() {
        let ctx = context();
        let (a, b) = (cloudflare("a"), cloudflare("b"));
        let slot = ctx.client_slot(&Account::namespaced(&a).cache_key());
        let connecting = slot.lock().await;

        let wait = std::time::Duration::from_secs(5);
        let first = tokio::time::timeout(wait, client_for(&ctx, &Account::namespaced(&b)))
            .await
            .expect("account b is not held by account a's connect")
            .expect("client for b");
        let held = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            client_for(&ctx, &Account::namespaced(&a)),
        )
        .await;
        assert!(held.is_err(), "account a's policies wait for its connect");

        drop(connecting);
        let again = client_for(&ctx, &Account::namespaced(&b)).await.expect("b");
        assert!(Arc::ptr_eq(&first, &again), "the client is kept");
        client_for(&ctx, &Account::namespaced(&a))
            .await
            .expect("a, once its connect ended");
    }
}
