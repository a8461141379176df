//! The AddressSet controller: reads each set's source on `refreshMinutes` (declared sets are
//! only normalised), through the same account rules and client cache as the policies, and
//! writes the set's status. The policies that reference a set are requeued by their own
//! controller when its digest or readiness changes (`run_policies`).

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::Context;
use super::account::{Account, client_for};
use super::guard::Parsed;
use crate::addressset::{Unresolved, admit, change_event, resolve, source_label, status};
use crate::api::addressset::{AddressSet, AddressSetStatus};
use crate::error::Error;

pub async fn reconcile(obj: Arc<Parsed<AddressSet>>, ctx: Arc<Context>) -> Result<Action, Error> {
    super::measured(&ctx.metrics, "AddressSet", reconcile_set(&obj, &ctx)).await
}

async fn reconcile_set(obj: &Parsed<AddressSet>, ctx: &Context) -> Result<Action, Error> {
    // A set that does not parse is not Ready for any policy (`state_of` is never reached);
    // the policies naming it say so.
    let Some(set) = obj.ok() else {
        return Ok(Action::await_change());
    };
    let source = source_label(&set.spec);
    if set.meta().deletion_timestamp.is_some() {
        ctx.written.forget(set.meta());
        ctx.metrics.forget_address_set(
            &set.namespace().unwrap_or_default(),
            &set.name_any(),
            source,
        );
        return Ok(Action::await_change());
    }
    let ns = set.namespace().unwrap_or_default();
    let result = read(set, ctx, &ns).await;
    let previous: Option<AddressSetStatus> =
        ctx.written.over(set.meta()).or_else(|| set.status.clone());
    let now = jiff::Timestamp::now();
    let refresh = std::time::Duration::from_secs(u64::from(set.spec.refresh_minutes()) * 60);
    let new = status(previous.as_ref(), set.meta().generation, &result, &now);
    if needs_write(previous.as_ref(), &new, refresh, &now) {
        let body = json!({
            "apiVersion": AddressSet::api_version(&()),
            "kind": "AddressSet",
            "status": new,
        });
        let api: Api<Parsed<AddressSet>> = Api::namespaced(ctx.client.clone(), &ns);
        super::apply_status(&api, &set.name_any(), &body).await?;
        ctx.written.remember(set.meta(), &new);
    }
    ctx.metrics.record_address_set(
        &ns,
        &set.name_any(),
        source,
        result.is_ok(),
        new.addresses.len(),
    );
    if let Some((warning, reason, note)) = change_event(previous.as_ref(), &new) {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason,
            note: Some(note.chars().take(1000).collect()),
            action: "ResolveAddresses".into(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &set.object_ref(&())).await {
            tracing::warn!(error = %e, "publishing an Event failed");
        }
    }
    if let Err(u) = &result {
        tracing::warn!(namespace = %ns, name = %set.name_any(), reason = %u.reason, message = %u.message, "address set not resolved");
    }
    // A failed read is tried again sooner than a good one is refreshed, never in a tight loop.
    Ok(Action::requeue(match result {
        Ok(_) => refresh,
        Err(_) => refresh.min(std::time::Duration::from_secs(300)),
    }))
}

pub fn error_policy(_obj: Arc<Parsed<AddressSet>>, error: &Error, _ctx: Arc<Context>) -> Action {
    super::backoff_for(error)
}

/// The set's addresses: declared ones as written, sourced ones through the CloudProvider of
/// the set's namespace that the source names (the same trust rules as a policy's account).
async fn read(set: &AddressSet, ctx: &Context, ns: &str) -> Result<Vec<String>, Unresolved> {
    let Some(reference) = set.spec.source.as_ref().and_then(|s| s.provider_ref()) else {
        return resolve(&set.spec, None).await;
    };
    let what = format!("CloudProvider {ns}/{}", reference.name);
    let store = ctx.feeds.providers.cache();
    if !store.listed(crate::controller::LISTED_LIMIT).await {
        // Not "not found": the operator has not seen the CloudProviders yet (it is starting,
        // or the API server is slow); the set is read again shortly.
        return Err(Unresolved::new(
            "SourceUnreadable",
            format!(
                "{what}: the operator has not listed the CloudProviders yet; reading again shortly"
            ),
        ));
    }
    let found = store.get(&ObjectRef::new(&reference.name).within(ns));
    let provider = match found.as_deref() {
        None => {
            return Err(Unresolved::new(
                "ProviderNotFound",
                format!("{what} not found"),
            ));
        }
        Some(Parsed(Err(invalid))) => {
            return Err(Unresolved::new(
                "InvalidSpec",
                format!("{what}: {}", invalid.message()),
            ));
        }
        Some(Parsed(Ok(p))) => p.clone(),
    };
    admit(&set.spec, &what, provider.spec.provider_type)?;
    let client = client_for(ctx, &Account::namespaced(&provider))
        .await
        .map_err(|e| Unresolved::new(e.category().reason(), e.to_string()))?;
    resolve(&set.spec, Some(client.as_ref())).await
}

/// Written when anything but the read time changed, or when the last written read time is
/// older than one refresh interval (so a set that is read and unchanged does not go stale,
/// while a settled set costs one status write per interval at most).
fn needs_write(
    previous: Option<&AddressSetStatus>,
    new: &AddressSetStatus,
    refresh: std::time::Duration,
    now: &jiff::Timestamp,
) -> bool {
    let Some(previous) = previous else {
        return true;
    };
    let strip = |s: &AddressSetStatus| AddressSetStatus {
        observed_at: None,
        ..s.clone()
    };
    if strip(previous) != strip(new) {
        return true;
    }
    let age = previous
        .observed_at
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| now.as_second().saturating_sub(t.as_second()));
    let refresh = i64::try_from(refresh.as_secs()).unwrap_or(i64::MAX);
    new.observed_at != previous.observed_at && age.is_none_or(|a| a >= refresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> jiff::Timestamp {
        t.parse().expect("time")
    }

    /// A settled set is written once per refresh interval; any other change at once.
    #[test]
    fn a_settled_set_writes_once_per_interval() {
        let hour = std::time::Duration::from_secs(3600);
        let ok = |when: &str| {
            status(
                None,
                Some(1),
                &Ok(vec!["192.0.2.1/32".to_string()]),
                &at(when),
            )
        };
        let first = ok("2026-11-30T01:00:00Z");
        assert!(needs_write(None, &first, hour, &at("2026-11-30T01:00:00Z")));
        let later = status(
            Some(&first),
            Some(1),
            &Ok(vec!["192.0.2.1/32".to_string()]),
            &at("2026-11-30T01:30:00Z"),
        );
        assert!(!needs_write(
            Some(&first),
            &later,
            hour,
            &at("2026-11-30T01:30:00Z")
        ));
        let much_later = status(
            Some(&first),
            Some(1),
            &Ok(vec!["192.0.2.1/32".to_string()]),
            &at("2026-11-30T02:00:00Z"),
        );
        assert!(needs_write(
            Some(&first),
            &much_later,
            hour,
            &at("2026-11-30T02:00:00Z")
        ));
        let changed = status(
            Some(&first),
            Some(1),
            &Ok(vec!["192.0.2.2/32".to_string()]),
            &at("2026-11-30T01:05:00Z"),
        );
        assert!(needs_write(
            Some(&first),
            &changed,
            hour,
            &at("2026-11-30T01:05:00Z")
        ));
        let failed = status(
            Some(&first),
            Some(1),
            &Err(Unresolved::new("SourceUnreadable", "HTTP 503")),
            &at("2026-11-30T01:05:00Z"),
        );
        assert!(needs_write(
            Some(&first),
            &failed,
            hour,
            &at("2026-11-30T01:05:00Z")
        ));
    }
}
