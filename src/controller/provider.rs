//! `CloudProvider` reconcile: read the Secret, build the client, verify the credential,
//! report `Ready`.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::{CachedClient, Context, FIELD_MANAGER, backoff_for, measured};
use crate::api::provider::{CredentialSource, SecretKeyRef};
use crate::api::{CloudProvider, CloudProviderStatus};
use crate::error::Error;
use crate::providers::{self, Provider};
use crate::secret::SecretString;

/// Re-verify credentials this often even when nothing changed (tokens expire).
const VERIFY_INTERVAL: Duration = Duration::from_secs(600);

pub async fn reconcile(p: Arc<CloudProvider>, ctx: Arc<Context>) -> Result<Action, Error> {
    measured(&ctx.metrics, "CloudProvider", reconcile_inner(&p, &ctx)).await
}

async fn reconcile_inner(p: &CloudProvider, ctx: &Context) -> Result<Action, Error> {
    let ns = p.namespace().unwrap_or_default();
    let name = p.name_any();
    let outcome = match client_for(ctx, p).await {
        Ok(client) => client.verify().await.map_err(Error::from),
        Err(e) => Err(e),
    };
    ctx.metrics
        .provider_up
        .with_label_values(&[p.spec.provider_type.as_str(), &ns, &name])
        .set(i64::from(outcome.is_ok()));
    let (status, reason, message) = match &outcome {
        Ok(msg) => ("True", "Ready", msg.clone()),
        Err(e) => ("False", e.category().reason(), e.to_string()),
    };
    let previous = p
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .cloned();
    let transition = previous
        .as_ref()
        .is_none_or(|c| c.status != status || c.reason != reason);
    let unchanged = previous
        .as_ref()
        .is_some_and(|c| c.status == status && c.reason == reason && c.message == message)
        && p.status.as_ref().and_then(|s| s.observed_generation) == p.metadata.generation;
    if !unchanged {
        let now = Time(jiff::Timestamp::now());
        let condition = Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason: reason.into(),
            message: message.clone(),
            observed_generation: p.metadata.generation,
            last_transition_time: if transition {
                now
            } else {
                previous.map(|c| c.last_transition_time).unwrap_or(now)
            },
        };
        let body = json!({
            "apiVersion": "perimeter.dev/v1alpha1",
            "kind": "CloudProvider",
            "status": CloudProviderStatus { observed_generation: p.metadata.generation, conditions: vec![condition] },
        });
        let api: Api<CloudProvider> = Api::namespaced(ctx.client.clone(), &ns);
        api.patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await?;
    }
    if transition {
        let event = Event {
            type_: if outcome.is_ok() {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: reason.to_string(),
            note: Some(message.chars().take(1000).collect()),
            action: "VerifyCredentials".into(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &p.object_ref(&())).await {
            tracing::warn!(error = %e, "publishing an Event failed");
        }
    }
    match outcome {
        Ok(_) => Ok(Action::requeue(VERIFY_INTERVAL)),
        Err(e) => {
            tracing::info!(namespace = %ns, name = %name, reason = e.category().reason(), error = %e, "CloudProvider not ready");
            // Returned so it is counted by category; `error_policy` backs off by category.
            Err(e)
        }
    }
}

pub fn error_policy(p: Arc<CloudProvider>, error: &Error, _ctx: Arc<Context>) -> Action {
    // Provider-side failures were logged by the reconcile with their context.
    if error.category() == crate::error::Category::Kubernetes {
        tracing::warn!(name = %p.name_any(), error = %error, "CloudProvider reconcile failed");
    }
    backoff_for(error)
}

/// The client for a CloudProvider, reusing the cached one while neither the provider's spec
/// nor its Secret changed.
pub async fn client_for(ctx: &Context, p: &CloudProvider) -> Result<Arc<dyn Provider>, Error> {
    let ns = p.namespace().unwrap_or_default();
    let name = p.name_any();
    let (credential, secret_version) =
        match (&p.spec.credentials.source, &p.spec.credentials.secret_ref) {
            (CredentialSource::Ambient, _) => (None, String::new()),
            (CredentialSource::Secret, None) => {
                return Err(Error::CredentialsMissing(
                    "credentials.secretRef is not set".into(),
                ));
            }
            (CredentialSource::Secret, Some(secret_ref)) => {
                let (value, version) = read_secret(ctx, &ns, secret_ref).await?;
                (Some(value), version)
            }
        };
    // Generation, not resourceVersion: our own status writes must not reset the rate limiter.
    let fingerprint = format!(
        "{}/{secret_version}",
        p.metadata.generation.unwrap_or_default()
    );
    let mut cache = ctx.clients.lock().await;
    if let Some(cached) = cache.get(&(ns.clone(), name.clone()))
        && cached.fingerprint == fingerprint
    {
        return Ok(cached.client.clone());
    }
    let client = providers::connect(&p.spec, credential, Some(ctx.metrics.clone())).await?;
    cache.insert(
        (ns, name),
        CachedClient {
            fingerprint,
            client: client.clone(),
        },
    );
    Ok(client)
}

/// The credential and the Secret's resourceVersion (so a changed Secret rebuilds the client).
async fn read_secret(
    ctx: &Context,
    ns: &str,
    secret_ref: &SecretKeyRef,
) -> Result<(SecretString, String), Error> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let secret = secrets.get_opt(&secret_ref.name).await?.ok_or_else(|| {
        Error::CredentialsMissing(format!(
            "Secret {:?} not found in namespace {ns:?}",
            secret_ref.name
        ))
    })?;
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&secret_ref.key))
        .map(|b| String::from_utf8_lossy(&b.0).trim().to_string())
        .ok_or_else(|| {
            Error::CredentialsMissing(format!(
                "Secret {:?} has no key {:?}",
                secret_ref.name, secret_ref.key
            ))
        })?;
    Ok((
        SecretString::new(value),
        secret.resource_version().unwrap_or_default(),
    ))
}
