//! The evidence trail: one record per evaluation that changed the result (and at least one per
//! heartbeat), each naming what was observed, from which API, when, with a digest, and chained
//! to the previous record by its digest. Editing, removing or reordering records breaks the
//! chain; a hole in time (nobody evaluated) shows as a gap.
//!
//! Digests are SHA-256 over the record's JSON with `digest` empty; the JSON is canonical
//! because records are plain structs (fixed field order) and maps are `BTreeMap`s.
//!
//! The operator keeps each trail in a ConfigMap ([`configmap`]); the CLI in a local file.

pub mod configmap;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    Assessment, ImplementationState, InSync, PolicyFacts, PolicyKind, ProviderFacts,
    RequirementState,
};
use crate::api::ProviderType;
use crate::api::compliance::{AttestableRequirement, Attestation};

/// `previous` of the first record ever written.
pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// One observation behind a result.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Observed {
    /// `FirewallPolicy ns/name`, `CloudProvider ns/name` or `Attestation EndpointFirewall`.
    pub subject: String,
    /// `aws ns/name` of the provider read, empty for attestations.
    pub provider: String,
    /// The API the facts came from.
    pub api: String,
    /// When the provider was read for this verdict, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
    /// `True`/`False`/`Unknown` for policies, `Valid`/`Expired` for attestations.
    pub result: String,
    #[serde(default)]
    pub drift_count: u32,
    /// `sha256:<hex>` of what was observed (the policy status, the attestation).
    pub digest: String,
    /// The provider's own version of what was read, when its API gives one (absent from
    /// records of providers that do not, and from records written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Who changed the drifted fields, from the provider's audit log (absent from records of
    /// policies without attributed drift, and from records written before it existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
}

/// One link of the chain.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub seq: u64,
    pub assessment: String,
    pub control: String,
    pub recorded_at: String,
    pub state: ImplementationState,
    pub satisfied: usize,
    pub total: usize,
    pub maturity: u8,
    pub requirements: BTreeMap<String, RequirementState>,
    pub observations: Vec<Observed>,
    pub previous: String,
    pub digest: String,
}

impl Record {
    /// The digest this record should carry.
    pub fn compute_digest(&self) -> String {
        let mut r = self.clone();
        r.digest = String::new();
        // Serialising a struct of strings, numbers and BTreeMaps cannot fail.
        let bytes = serde_json::to_vec(&r).unwrap_or_default();
        sha256(&bytes)
    }

    /// The result without the chain and time fields: a new record is written when it changes.
    fn content(&self) -> String {
        let mut r = self.clone();
        r.seq = 0;
        r.recorded_at = String::new();
        r.previous = String::new();
        r.digest = String::new();
        for o in &mut r.observations {
            o.observed_at = None;
        }
        serde_json::to_string(&r).unwrap_or_default()
    }
}

/// The newest record dropped from the front of a capped trail: the first kept record must
/// link to it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Anchor {
    pub seq: u64,
    pub digest: String,
}

/// A (possibly capped) evidence trail.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Trail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<Anchor>,
    #[serde(default)]
    pub records: Vec<Record>,
}

/// Limits for a stored trail.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// A record is written at least this often, even when nothing changed.
    pub heartbeat: Duration,
    pub max_records: usize,
    /// Serialised size cap (a ConfigMap holds at most 1 MiB).
    pub max_bytes: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(3600),
            max_records: 500,
            max_bytes: 900 * 1024,
        }
    }
}

/// What verification found wrong.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// `Tampered`, `BrokenLink`, `MissingRecords`, `OutOfOrder`, `TimeGap`, `HeadMismatch`.
    pub kind: String,
    pub seq: u64,
    pub message: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub records: usize,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub head: Option<String>,
    pub problems: Vec<Problem>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Trail {
    pub fn head(&self) -> Option<&Record> {
        self.records.last()
    }

    /// Appends a record for `assessment` when its result differs from the head's or the head
    /// is older than the heartbeat; returns the new record, or `None` when nothing was due.
    pub fn record(
        &mut self,
        name: &str,
        assessment: &Assessment,
        observations: Vec<Observed>,
        now: Timestamp,
        retention: &Retention,
    ) -> Option<&Record> {
        let mut rec = Record {
            seq: 0,
            assessment: name.to_string(),
            control: assessment.control.clone(),
            recorded_at: super::rfc3339(now),
            state: assessment.state,
            satisfied: assessment.satisfied,
            total: assessment.total,
            maturity: assessment.maturity.level,
            requirements: assessment
                .requirements
                .iter()
                .map(|r| (r.requirement.to_string(), r.state))
                .collect(),
            observations,
            previous: String::new(),
            digest: String::new(),
        };
        let (seq, previous) = match (self.head(), &self.anchor) {
            (Some(h), _) => {
                let due = elapsed(&h.recorded_at, now).is_none_or(|d| d >= retention.heartbeat);
                if !due && h.content() == rec.content() {
                    return None;
                }
                (h.seq + 1, h.digest.clone())
            }
            (None, Some(a)) => (a.seq + 1, a.digest.clone()),
            (None, None) => (1, GENESIS.to_string()),
        };
        rec.seq = seq;
        rec.previous = previous;
        rec.digest = rec.compute_digest();
        self.records.push(rec);
        self.cap(retention);
        self.records.last()
    }

    fn cap(&mut self, retention: &Retention) {
        while self.records.len() > 1
            && (self.records.len() > retention.max_records
                || serde_json::to_vec(self).map_or(0, |b| b.len()) > retention.max_bytes)
        {
            let dropped = self.records.remove(0);
            self.anchor = Some(Anchor {
                seq: dropped.seq,
                digest: dropped.digest,
            });
        }
    }

    /// Checks every digest and link, the sequence and the time between records (a hole longer
    /// than twice the heartbeat means nobody evaluated the control for that long).
    /// `expected_head` (from the cluster's status or an earlier export) catches a rewritten tail.
    pub fn verify(&self, heartbeat: Duration, expected_head: Option<&str>) -> Verification {
        let mut problems = Vec::new();
        let mut push = |kind: &str, seq: u64, message: String| {
            problems.push(Problem {
                kind: kind.into(),
                seq,
                message,
            })
        };
        let mut prev_digest = self
            .anchor
            .as_ref()
            .map_or(GENESIS.to_string(), |a| a.digest.clone());
        let mut prev_seq = self.anchor.as_ref().map_or(0, |a| a.seq);
        let mut prev_time: Option<Timestamp> = None;
        for r in &self.records {
            let computed = r.compute_digest();
            if computed != r.digest {
                push(
                    "Tampered",
                    r.seq,
                    format!(
                        "record {} does not match its digest (stored {}, computed {computed})",
                        r.seq, r.digest
                    ),
                );
            }
            if r.seq != prev_seq + 1 {
                if r.seq > prev_seq + 1 {
                    push(
                        "MissingRecords",
                        r.seq,
                        format!("records {} to {} are missing", prev_seq + 1, r.seq - 1),
                    );
                } else {
                    push(
                        "OutOfOrder",
                        r.seq,
                        format!("record {} follows record {prev_seq}", r.seq),
                    );
                }
            }
            if r.previous != prev_digest {
                push(
                    "BrokenLink",
                    r.seq,
                    format!(
                        "record {} points to {} but the record before it is {prev_digest}",
                        r.seq, r.previous
                    ),
                );
            }
            match r.recorded_at.parse::<Timestamp>() {
                Ok(t) => {
                    if let Some(p) = prev_time {
                        if t < p {
                            push(
                                "OutOfOrder",
                                r.seq,
                                format!("record {} is older than the record before it", r.seq),
                            );
                        } else if t.duration_since(p).unsigned_abs() > heartbeat * 2 {
                            push(
                                "TimeGap",
                                r.seq,
                                format!(
                                    "no evaluation recorded between {p} and {t} (heartbeat {}s)",
                                    heartbeat.as_secs()
                                ),
                            );
                        }
                    }
                    prev_time = Some(t);
                }
                Err(_) => push(
                    "Tampered",
                    r.seq,
                    format!("record {} has an unreadable time", r.seq),
                ),
            }
            prev_digest = r.digest.clone();
            prev_seq = r.seq;
        }
        let head = self.head().map(|r| r.digest.clone());
        if let Some(want) = expected_head
            && head.as_deref() != Some(want)
        {
            push(
                "HeadMismatch",
                prev_seq,
                format!(
                    "the newest record is {} but {want} was expected",
                    head.as_deref().unwrap_or("(none)")
                ),
            );
        }
        Verification {
            records: self.records.len(),
            first_seq: self.records.first().map(|r| r.seq),
            last_seq: self.head().map(|r| r.seq),
            head,
            problems,
        }
    }

    /// What makes a stored trail unsafe to extend: a broken chain (an edited digest, link or
    /// sequence; not time: a hole only says nobody evaluated for a while, and a record older
    /// than the one before it can be clock skew between operator pods), or a trail that no
    /// longer holds the record `expected` (seq and digest, as the status last published it):
    /// an edited, cut or deleted tail. Appending to such a trail would make the new head vouch
    /// for the edit. Records after `expected` are fine: the trail is written before the status.
    pub fn extension_problems(
        &self,
        heartbeat: Duration,
        expected: Option<(u64, &str)>,
    ) -> Vec<Problem> {
        let mut problems: Vec<Problem> = self
            .verify(heartbeat, None)
            .problems
            .into_iter()
            .filter(|p| {
                matches!(
                    p.kind.as_str(),
                    "Tampered" | "BrokenLink" | "MissingRecords"
                )
            })
            .collect();
        let Some((seq, digest)) = expected else {
            return problems;
        };
        let kept = self
            .records
            .iter()
            .map(|r| (r.seq, r.digest.as_str()))
            .chain(self.anchor.iter().map(|a| (a.seq, a.digest.as_str())))
            .find(|(s, _)| *s == seq);
        let last = self.head().map(|r| r.seq).unwrap_or(0);
        match kept {
            Some((_, stored)) if stored != digest => problems.push(Problem {
                kind: "HeadMismatch".into(),
                seq,
                message: format!("record {seq} is {stored} but {digest} was recorded"),
            }),
            None if last < seq => problems.push(Problem {
                kind: "MissingRecords".into(),
                seq,
                message: if self.records.is_empty() {
                    format!("the trail is empty (deleted?) but record {seq} was recorded")
                } else {
                    format!("the trail ends at record {last} but record {seq} was recorded")
                },
            }),
            // Kept and unchanged, or dropped from the front by the cap.
            _ => {}
        }
        problems
    }

    /// Since when the trail shows the control implemented at every record with no time hole
    /// (and up to now); `None` if the newest record is not Implemented or the trail is broken.
    pub fn implemented_since(&self, heartbeat: Duration, now: Timestamp) -> Option<Timestamp> {
        if !self.verify(heartbeat, None).ok() {
            return None;
        }
        let mut since = None;
        let mut later = now;
        for r in self.records.iter().rev() {
            let t: Timestamp = r.recorded_at.parse().ok()?;
            if r.state != ImplementationState::Implemented
                || later.duration_since(t).unsigned_abs() > heartbeat * 2
            {
                break;
            }
            since = Some(t);
            later = t;
        }
        since
    }
}

fn elapsed(from: &str, now: Timestamp) -> Option<Duration> {
    let t: Timestamp = from.parse().ok()?;
    Some(now.duration_since(t).unsigned_abs())
}

pub fn sha256(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(71);
    s.push_str("sha256:");
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Digest of any serialisable value (a policy status, an attestation).
pub fn digest_of<T: Serialize>(value: &T) -> String {
    sha256(&serde_json::to_vec(value).unwrap_or_default())
}

/// The APIs a policy's verdict is read from.
pub fn api_of(provider: ProviderType, kind: PolicyKind) -> &'static str {
    match (crate::providers::registry::info(provider), kind) {
        (Some(i), PolicyKind::FirewallPolicy) => i.firewall_api,
        (Some(i), PolicyKind::MonitoringPolicy) => i.monitoring_api,
        // A type without a client is never read; its verdict says so elsewhere.
        (None, _) => "provider API",
    }
}

/// The observations behind an assessment: every in-scope policy and the attestations.
pub fn observations(
    assessment: &Assessment,
    providers: &[ProviderFacts],
    policies: &[PolicyFacts],
    attestations: &[Attestation],
    now: Timestamp,
) -> Vec<Observed> {
    let mut out = Vec::new();
    for row in &assessment.coverage {
        // By the row's id (`cluster/<name>` for a ClusterCloudProvider), and each policy by
        // the account it uses (kind, name and, for a CloudProvider, namespace).
        let Some(p) = providers.iter().find(|p| p.id() == row.provider) else {
            continue;
        };
        if p.ready == Some(false) {
            out.push(Observed {
                subject: format!("CloudProvider {}", row.provider),
                provider: format!("{} {}", p.provider_type, row.provider),
                api: "provider API (credential check)".into(),
                observed_at: None,
                result: format!("NotReady({})", p.reason.as_deref().unwrap_or("Unknown")),
                drift_count: 0,
                digest: digest_of(&(&p.namespace, &p.name, &p.reason)),
                revision: None,
                changes: Vec::new(),
            });
        }
        for x in policies.iter().filter(|x| p.is_used_by(x)) {
            out.push(Observed {
                subject: format!("{:?} {}/{}", x.kind, x.namespace, x.name),
                provider: format!("{} {}", p.provider_type, row.provider),
                api: api_of(p.provider_type, x.kind).into(),
                observed_at: x.observed_at.clone(),
                result: format!("{:?}", x.in_sync),
                drift_count: x.drift_count,
                digest: x.digest.clone(),
                revision: x.revision.clone(),
                changes: x.changes.clone(),
            });
        }
    }
    let in_scope: Vec<&ProviderFacts> = providers
        .iter()
        .filter(|p| assessment.coverage.iter().any(|row| row.provider == p.id()))
        .collect();
    for a in attestations {
        let named = a
            .provider
            .as_ref()
            .and_then(|x| {
                in_scope.iter().find(|p| {
                    p.name == x.name && p.namespace == x.namespace.as_deref().unwrap_or_default()
                })
            })
            .map(|p| format!("{} {}", p.provider_type, p.id()));
        out.push(Observed {
            subject: format!("Attestation {}", a.requirement.as_str()),
            provider: named.unwrap_or_default(),
            api: "attestation".into(),
            observed_at: None,
            result: if a.requirement == AttestableRequirement::EndpointFirewall
                && !assessment.endpoints.is_empty()
            {
                super::AttestationUse::Ignored(
                    "an endpoint FirewallPolicy verifies the hosts, and an attestation never \
                     stands in for a reading"
                        .into(),
                )
                .label()
            } else {
                super::attestation_use(a, &in_scope, now).label()
            },
            drift_count: 0,
            digest: digest_of(a),
            revision: None,
            changes: Vec::new(),
        });
    }
    out
}

/// `InSync` from a policy's condition status string.
pub fn in_sync_of(status: Option<&str>) -> InSync {
    match status {
        Some("True") => InSync::True,
        Some("False") => InSync::False,
        _ => InSync::Unknown,
    }
}
