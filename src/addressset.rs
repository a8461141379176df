//! Address sets outside the pure core: reading a set's source through its provider's client,
//! the set's status, and what a stored set's status lets a policy use. The operator's
//! AddressSet controller and the local runs (`check`, `demo`) share it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::addressset::{AddressSet, AddressSetSpec, AddressSetStatus};
use crate::core::addresses::{SetProblem, SetState, normalise};
use crate::providers::Provider;

/// Why a set did not resolve: its `Ready` reason and a message safe to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// `SourceUnreadable`, `InvalidAddress`, `Empty`, `TooMany`, `ProviderNotFound`, or a
    /// category reason (`Forbidden`, `ProviderMismatch`…) from the account's admission.
    pub reason: String,
    pub message: String,
}

impl Unresolved {
    pub fn new(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            message: message.into(),
        }
    }
}

impl From<SetProblem> for Unresolved {
    fn from(p: SetProblem) -> Self {
        Self::new(p.reason(), p.to_string())
    }
}

/// Whether the account `account_type` may be read for `spec`'s source: the source is of its
/// type. (The account is always a CloudProvider of the set's namespace: a set has no way to
/// name any other.)
pub fn admit(
    spec: &AddressSetSpec,
    account: &str,
    account_type: crate::api::ProviderType,
) -> Result<(), Unresolved> {
    let Some(source) = &spec.source else {
        return Ok(());
    };
    match source.provider_type() {
        Some(t) if t == account_type => Ok(()),
        Some(t) => Err(Unresolved::new(
            crate::error::Category::ProviderMismatch.reason(),
            format!(
                "{}: the source reads a {t} account but {account} is of type {account_type}",
                source.field()
            ),
        )),
        None => Err(Unresolved::new(
            crate::error::Category::InvalidSpec.reason(),
            "spec.source: no source is set",
        )),
    }
}

/// The set's addresses: declared ones normalised; a source read through `client` (the
/// admitted account of `spec.source.*.providerRef`) and normalised. A source that answers no
/// address, or one malformed entry, fails the whole set.
pub async fn resolve(
    spec: &AddressSetSpec,
    client: Option<&dyn Provider>,
) -> Result<Vec<String>, Unresolved> {
    match (&spec.addresses, &spec.source) {
        (Some(declared), None) => Ok(normalise("spec.addresses", declared)?),
        (None, Some(source)) => {
            let client = client.ok_or_else(|| {
                Unresolved::new("ProviderNotFound", "the source's account has no client")
            })?;
            let answer = client
                .source_addresses(source)
                .await
                .map_err(|e| Unresolved::new("SourceUnreadable", e.to_string()))?;
            Ok(normalise(source.field(), &answer)?)
        }
        _ => Err(Unresolved::new(
            crate::error::Category::InvalidSpec.reason(),
            "exactly one of spec.addresses or spec.source must be set",
        )),
    }
}

/// The set's status after a resolution at `now`. A failed one keeps no address (no policy
/// may use it) but keeps the time of the last good read. `lastTransitionTime` moves only on a
/// transition of `Ready`.
pub fn status(
    previous: Option<&AddressSetStatus>,
    generation: Option<i64>,
    result: &Result<Vec<String>, Unresolved>,
    now: &jiff::Timestamp,
) -> AddressSetStatus {
    let time = Time(*now);
    let (ready, reason, message) = match result {
        Ok(a) => (
            "True",
            "Resolved".to_string(),
            format!("{} address(es)", a.len()),
        ),
        Err(u) => ("False", u.reason.clone(), u.message.clone()),
    };
    let mut condition = Condition {
        type_: "Ready".into(),
        status: ready.into(),
        reason,
        message,
        observed_generation: generation,
        last_transition_time: time,
    };
    if let Some(old) = previous
        .into_iter()
        .flat_map(|p| &p.conditions)
        .find(|c| c.type_ == "Ready" && c.status == condition.status)
    {
        condition.last_transition_time = old.last_transition_time.clone();
    }
    let addresses = result.clone().unwrap_or_default();
    AddressSetStatus {
        observed_generation: generation,
        conditions: vec![condition],
        count: u32::try_from(addresses.len()).unwrap_or(u32::MAX),
        digest: result
            .as_ref()
            .ok()
            .map(|a| crate::core::addresses::digest(a)),
        observed_at: match result {
            Ok(_) => Some(now.to_string()),
            Err(_) => previous.and_then(|p| p.observed_at.clone()),
        },
        addresses,
    }
}

/// The set's source as a metric label and in reports: `declared`, or the source's field name
/// (`betterstack`, `upstashQstash`, …).
pub fn source_label(spec: &AddressSetSpec) -> &'static str {
    spec.source.as_ref().map_or("declared", |s| s.name())
}

/// An Event worth publishing about a set whose status went from `previous` to `new`: `Ready`
/// turning true or false (or changing its reason), and the addresses changing while ready.
/// `(warning, reason, note)`; `None` when nothing a person would want to know happened.
pub fn change_event(
    previous: Option<&AddressSetStatus>,
    new: &AddressSetStatus,
) -> Option<(bool, String, String)> {
    let ready = |s: &AddressSetStatus| s.conditions.iter().find(|c| c.type_ == "Ready").cloned();
    let now = ready(new)?;
    let before = previous.and_then(ready);
    let short = |d: &Option<String>| {
        d.as_deref()
            .map_or_else(|| "none".to_string(), |d| d.chars().take(12).collect())
    };
    if now.status != "True" {
        let same = before
            .as_ref()
            .is_some_and(|b| b.status == now.status && b.reason == now.reason);
        return (!same).then(|| {
            (
                true,
                now.reason.clone(),
                format!(
                    "{}; the policies that reference the set keep their last state and write \
                     nothing from it until it is Ready",
                    now.message
                ),
            )
        });
    }
    match (before, previous) {
        (Some(b), Some(p)) if b.status == "True" => (p.digest != new.digest).then(|| {
            (
                false,
                "AddressesChanged".to_string(),
                format!(
                    "{} → {} address(es) (digest {} → {}); the policies that reference the set \
                     drift and, in Enforce, follow",
                    p.count,
                    new.count,
                    short(&p.digest),
                    short(&new.digest)
                ),
            )
        }),
        _ => Some((
            false,
            now.reason.clone(),
            format!("{} address(es) (digest {})", new.count, short(&new.digest)),
        )),
    }
}

/// What a stored set lets a policy use at `now_unix` (see [`from_status`]).
pub fn state_of(set: &AddressSet, now_unix: i64) -> SetState {
    from_status(
        set.metadata.generation,
        set.spec.refresh_minutes(),
        set.status.as_ref(),
        now_unix,
    )
}

/// What a stored set's status says, judged at `now_unix`: usable only when `Ready` is `True`
/// for the current generation, the list is not empty and matches its digest and count, and
/// the source was read within three refresh intervals.
pub fn from_status(
    generation: Option<i64>,
    refresh_minutes: u32,
    status: Option<&AddressSetStatus>,
    now_unix: i64,
) -> SetState {
    use crate::core::addresses::digest;
    let Some(status) = status else {
        return SetState::NotReady("not resolved yet".into());
    };
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status == "True", c.reason.clone()));
    match ready {
        Some((true, _)) => {}
        Some((false, reason)) => return SetState::NotReady(format!("Ready is not True: {reason}")),
        None => return SetState::NotReady("not resolved yet".into()),
    }
    if generation.is_some() && status.observed_generation != generation {
        return SetState::NotReady("its status describes an older generation".into());
    }
    if status.addresses.is_empty()
        || usize::try_from(status.count).ok() != Some(status.addresses.len())
        || status.digest.as_deref() != Some(digest(&status.addresses).as_str())
    {
        return SetState::NotReady("its status is inconsistent (count or digest)".into());
    }
    let observed = status
        .observed_at
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    let Some(observed) = observed else {
        return SetState::NotReady("its status has no read time".into());
    };
    let limit = i64::from(refresh_minutes) * 60 * 3;
    if now_unix.saturating_sub(observed.as_second()) > limit {
        return SetState::NotReady(format!(
            "stale: last read at {observed}, more than three refresh intervals ago"
        ));
    }
    // Checked again: a status is written by whoever may patch it, not only by Perimeter.
    match normalise("status.addresses", &status.addresses) {
        Ok(a) if a == status.addresses => SetState::ready(a),
        _ => SetState::NotReady("its status holds addresses that are not canonical".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_string()).collect()
    }

    fn at(t: &str) -> jiff::Timestamp {
        t.parse().expect("time")
    }

    fn resolved(addresses: &[&str], when: &str) -> AddressSetStatus {
        status(None, Some(2), &Ok(strings(addresses)), &at(when))
    }

    /// A stored status is used only when Ready, current, consistent, canonical and fresh.
    /// Events follow what a person would want to know: ready, changed, broken; nothing on a
    /// re-read that found the same addresses or the same failure.
    #[test]
    fn change_events_table() {
        let ok = |a: &[&str]| resolved(a, "2026-11-30T01:00:00Z");
        let failed = |reason: &str| {
            status(
                Some(&ok(&["192.0.2.1/32"])),
                Some(1),
                &Err(Unresolved::new(reason, "HTTP 503 from the source")),
                &at("2026-11-30T01:05:00Z"),
            )
        };
        let one = ok(&["192.0.2.1/32"]);
        let two = ok(&["192.0.2.1/32", "192.0.2.2/32"]);
        let unreadable = failed("SourceUnreadable");
        let empty = failed("Empty");
        type Case<'a> = (
            &'a str,
            Option<&'a AddressSetStatus>,
            &'a AddressSetStatus,
            Option<(bool, &'a str, &'a str)>,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "first read",
                None,
                &one,
                Some((false, "Resolved", "1 address(es) (digest ")),
            ),
            ("same addresses again", Some(&one), &one, None),
            (
                "addresses changed",
                Some(&one),
                &two,
                Some((false, "AddressesChanged", "1 → 2 address(es) (digest ")),
            ),
            (
                "source broke",
                Some(&one),
                &unreadable,
                Some((
                    true,
                    "SourceUnreadable",
                    "HTTP 503 from the source; the policies",
                )),
            ),
            ("still broken", Some(&unreadable), &unreadable, None),
            (
                "broken another way",
                Some(&unreadable),
                &empty,
                Some((true, "Empty", "HTTP 503")),
            ),
            (
                "recovered",
                Some(&unreadable),
                &one,
                Some((false, "Resolved", "1 address(es)")),
            ),
        ];
        for (case, previous, new, want) in cases {
            let got = change_event(previous, new);
            match (got, want) {
                (None, None) => {}
                (Some((warning, reason, note)), Some((w, r, n))) => {
                    assert_eq!((warning, reason.as_str()), (w, r), "{case}");
                    assert!(note.starts_with(n), "{case}: {note}");
                }
                (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn from_status_table() {
        let now = at("2026-11-30T03:00:00Z").as_second();
        let ok = resolved(&["192.0.2.1/32"], "2026-11-30T02:30:00Z");
        let failed = status(
            Some(&ok),
            Some(2),
            &Err(Unresolved::new("SourceUnreadable", "HTTP 503")),
            &at("2026-11-30T02:59:00Z"),
        );
        let mut tampered = ok.clone();
        tampered.addresses = strings(&["0.0.0.0/0"]);
        let mut miscounted = ok.clone();
        miscounted.count = 2;
        let mut not_canonical = resolved(&["192.0.2.1"], "2026-11-30T02:30:00Z");
        not_canonical.digest = Some(crate::core::addresses::digest(&strings(&["192.0.2.1"])));
        let cases: [(Option<AddressSetStatus>, i64, u32, Option<&str>); 8] = [
            (Some(ok.clone()), 2, 60, None),
            (None, 2, 60, Some("not resolved yet")),
            (Some(failed), 2, 60, Some("SourceUnreadable")),
            (Some(ok.clone()), 3, 60, Some("older generation")),
            (Some(ok.clone()), 2, 5, Some("stale")),
            (Some(tampered), 2, 60, Some("inconsistent")),
            (Some(miscounted), 2, 60, Some("inconsistent")),
            (Some(not_canonical), 2, 60, Some("not canonical")),
        ];
        for (i, (status, generation, refresh, want)) in cases.into_iter().enumerate() {
            let got = from_status(Some(generation), refresh, status.as_ref(), now);
            match (got, want) {
                (SetState::Ready { addresses, .. }, None) => {
                    assert_eq!(addresses, strings(&["192.0.2.1/32"]), "case {i}");
                }
                (SetState::NotReady(why), Some(want)) => {
                    assert!(why.contains(want), "case {i}: {why}");
                }
                (got, want) => panic!("case {i}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// A failed read keeps no address but the last good read time; the transition time moves
    /// only when Ready changes.
    #[test]
    fn status_after_a_failed_read() {
        let ok = resolved(&["192.0.2.1/32"], "2026-11-30T02:00:00Z");
        let again = status(
            Some(&ok),
            Some(2),
            &Ok(strings(&["192.0.2.1/32"])),
            &at("2026-11-30T02:30:00Z"),
        );
        assert_eq!(
            again.conditions[0].last_transition_time,
            ok.conditions[0].last_transition_time
        );
        assert_eq!(again.observed_at.as_deref(), Some("2026-11-30T02:30:00Z"));
        let failed = status(
            Some(&again),
            Some(2),
            &Err(Unresolved::new("Empty", "no address")),
            &at("2026-11-30T03:00:00Z"),
        );
        assert!(failed.addresses.is_empty() && failed.count == 0 && failed.digest.is_none());
        assert_eq!(failed.conditions[0].status, "False");
        assert_eq!(failed.conditions[0].reason, "Empty");
        assert_eq!(failed.observed_at.as_deref(), Some("2026-11-30T02:30:00Z"));
        assert_ne!(
            failed.conditions[0].last_transition_time,
            ok.conditions[0].last_transition_time
        );
    }

    /// A NAT source is read only through an account of its cloud.
    #[test]
    fn nat_sources_are_admitted_for_their_cloud_only() {
        use crate::api::ProviderType;
        let aws: AddressSetSpec = serde_json::from_value(serde_json::json!({
            "source": {"awsNatGateways": {"providerRef": {"name": "aws"}}}
        }))
        .expect("spec");
        let gcp: AddressSetSpec = serde_json::from_value(serde_json::json!({
            "source": {"gcpCloudNat": {"providerRef": {"name": "gcp"}, "region": "europe-west1",
                                       "router": "nat-router"}}
        }))
        .expect("spec");
        assert!(admit(&aws, "CloudProvider a/aws", ProviderType::Aws).is_ok());
        assert!(admit(&gcp, "CloudProvider a/gcp", ProviderType::Gcp).is_ok());
        for (spec, account_type, field) in [
            (&aws, ProviderType::Gcp, "spec.source.awsNatGateways"),
            (&gcp, ProviderType::Aws, "spec.source.gcpCloudNat"),
        ] {
            let e = admit(spec, "CloudProvider a/x", account_type).expect_err("mismatch");
            assert_eq!(e.reason, "ProviderMismatch");
            assert!(e.message.starts_with(field), "{}", e.message);
        }
        let refs: Vec<_> = [&aws, &gcp]
            .iter()
            .filter_map(|s| s.source.as_ref()?.provider_ref())
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(refs, ["aws", "gcp"]);
    }

    #[tokio::test]
    async fn declared_sets_resolve_without_a_client() {
        let spec: AddressSetSpec = serde_json::from_value(serde_json::json!({
            "addresses": ["203.0.113.9", "2001:DB8::/32", "203.0.113.9/32"]
        }))
        .expect("spec");
        assert_eq!(
            resolve(&spec, None).await,
            Ok(strings(&["203.0.113.9/32", "2001:db8::/32"]))
        );
        let bad: AddressSetSpec =
            serde_json::from_value(serde_json::json!({"addresses": ["203.0.113.9", "x"]}))
                .expect("spec");
        let e = resolve(&bad, None).await.expect_err("invalid");
        assert_eq!(e.reason, "InvalidAddress");
        assert!(e.message.contains("spec.addresses[1]"), "{}", e.message);
        let sourced: AddressSetSpec = serde_json::from_value(serde_json::json!({
            "source": {"betterstack": {"providerRef": {"name": "bs"}}}
        }))
        .expect("spec");
        assert_eq!(
            resolve(&sourced, None).await.map_err(|e| e.reason),
            Err("ProviderNotFound".to_string())
        );
        assert!(
            admit(
                &sourced,
                "CloudProvider a/bs",
                crate::api::ProviderType::Betterstack
            )
            .is_ok()
        );
        let e = admit(
            &sourced,
            "CloudProvider a/up",
            crate::api::ProviderType::Upstash,
        )
        .expect_err("mismatch");
        assert_eq!(e.reason, "ProviderMismatch");
    }
}
