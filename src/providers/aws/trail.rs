//! Reading CloudTrail's event history (`LookupEvents`): one lookup's pages, and the
//! security-group listings an account's policies share.
//!
//! CloudTrail answers `LookupEvents` at most twice a second per account and region, whatever
//! the account's own rate limit. Looked up one drifted group at a time, a first Enforce round
//! of many policies on one account spends that budget once per policy (93 policies: 46.5 s).
//! So where a listing is shared ([`trail_listing`](super::Aws::trail_listing)), the events
//! CloudTrail files security-group changes under are read by event name once per account,
//! region and name, and handed to every policy that asks within the operator's
//! `--share-reads-for` window, each taking the events of its own groups (see `audit::plan`).
//!
//! - **Complete or not.** A listing read to its end within [`MAX_PAGES`] holds every such event
//!   of the look-back, so a group with none in it has none. One cut short does not: its
//!   policies look their groups up one by one as well, and the region is [`busy`](BUSY_FOR) for
//!   a while, so that listings bound to be cut short are not read again meanwhile.
//! - **Not ended by writes.** Unlike the account's other reads, a listing is kept across the
//!   account's writes. CloudTrail delivers an event minutes after its call, so a lookup made
//!   just after a write would not see it either; Perimeter's own writes are told apart when a
//!   listing's events are mapped (by request id, [`super::interceptor::OwnRequestIds`]), not
//!   when it is read. The connector never keeps the pages' bytes (`share::KEPT_PARSED`), so a
//!   listing is never older than the window.
//! - **Small.** A listing keeps what mapping needs of each event (`audit::Change`: its name,
//!   time, request parameters, actor and request id), read once, not the record.
//!
//! [`MAX_PAGES`]: super::audit::MAX_PAGES

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use jiff::Timestamp;
use serde_json::Value;
use tokio::time::Instant;

use super::audit::{Change, Lookup, MAX_PAGES, MAX_RESULTS};
use super::interceptor::error_code;
use crate::error::{Category, ProviderError};
use crate::http::sanitize;
use crate::http::share::Answer;

/// The operation, as calls are counted.
pub const OP: &str = "LookupEvents";

/// How long a region whose listing was cut short is looked up group by group only.
pub const BUSY_FOR: Duration = Duration::from_secs(3600);

/// One event as `LookupEvents` gave it: its `EventId`, and what it changed.
pub struct Listed {
    pub id: Option<String>,
    pub change: Change,
}

/// The events one lookup read, newest first.
pub struct Listing {
    pub events: Vec<Listed>,
    /// Read to its end: no page was left when it stopped.
    pub complete: bool,
    /// Pages read (calls made).
    pub pages: u32,
    /// About what it holds, for the bound on what an account keeps.
    bytes: usize,
}

/// A shared listing, or why it could not be read (handed only to the reads waiting on it,
/// never kept).
#[derive(Clone)]
pub struct TrailListing(Result<Arc<Listing>, ProviderError>);

impl Answer for TrailListing {
    fn keep(&self) -> Option<usize> {
        self.0.as_ref().ok().map(|l| l.bytes)
    }
}

impl super::Aws {
    /// The security-group events CloudTrail files under `name` in `region` since `since`,
    /// shared by the account's policies as the module says.
    pub(super) async fn trail_listing(
        &self,
        region: &str,
        name: &'static str,
        since: Timestamp,
    ) -> Result<Arc<Listing>, ProviderError> {
        let key = format!("{region}\n{name}").into_bytes();
        let (listing, had) = self
            .trail_listings
            .read(key, || async {
                TrailListing(
                    self.lookup(region, &Lookup::EventName(name), since)
                        .await
                        .map(Arc::new),
                )
            })
            .await;
        if had.shared()
            && let Ok(l) = &listing.0
        {
            self.counter.shared(OP, u64::from(l.pages));
        }
        listing.0
    }

    /// One lookup's pages, newest first, at most [`MAX_PAGES`], each waiting on the region's
    /// CloudTrail pace.
    pub(super) async fn lookup(
        &self,
        region: &str,
        lookup: &Lookup,
        since: Timestamp,
    ) -> Result<Listing, ProviderError> {
        let (key, value) = match lookup {
            Lookup::ResourceName(n) => (LookupAttributeKey::ResourceName, n.clone()),
            Lookup::EventName(n) => (LookupAttributeKey::EventName, (*n).to_string()),
        };
        let attribute = LookupAttribute::builder()
            .attribute_key(key)
            .attribute_value(value)
            .build()
            .map_err(|e| {
                ProviderError::new(Category::InvalidSpec, OP, sanitize(&e.to_string(), 200))
            })?;
        let mut listing = Listing {
            events: Vec::new(),
            complete: false,
            pages: 0,
            bytes: 0,
        };
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            self.lookup_pace(region).acquire().await;
            let out = self
                .cloudtrail(region)
                .lookup_events()
                .lookup_attributes(attribute.clone())
                .start_time(aws_smithy_types::DateTime::from_secs(since.as_second()))
                .max_results(MAX_RESULTS)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| self.lookup_error(&e))?;
            listing.pages += 1;
            for e in out.events() {
                // An event whose record does not parse, or that failed, says nothing.
                let Some(change) = e
                    .cloud_trail_event()
                    .and_then(|j| serde_json::from_str::<Value>(j).ok())
                    .and_then(|v| Change::of(e.username(), &v))
                else {
                    continue;
                };
                listing.bytes += change.bytes();
                listing.events.push(Listed {
                    id: e.event_id().filter(|i| !i.is_empty()).map(str::to_string),
                    change,
                });
            }
            token = out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                listing.complete = true;
                break;
            }
        }
        Ok(listing)
    }

    /// A refusal names the permission the credential lacks; the rest as any SDK error.
    fn lookup_error<E>(&self, e: &SdkError<E, HttpResponse>) -> ProviderError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let mut err = self.err(OP, false, e);
        if err.category == Category::CredentialsRejected
            && error_code(e).is_some_and(|c| c.starts_with("AccessDenied"))
        {
            err.message = format!(
                "{}; the credential needs cloudtrail:LookupEvents to say who changed what",
                err.message
            );
        }
        err
    }

    /// Whether `region`'s listings were cut short within [`BUSY_FOR`].
    pub(super) fn listings_cut_short(&self, region: &str) -> bool {
        let mut busy = self.lock_busy();
        match busy.get(region) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                busy.remove(region);
                false
            }
            None => false,
        }
    }

    /// `region`'s listings were cut short.
    pub(super) fn mark_listings_cut_short(&self, region: &str) {
        self.lock_busy()
            .insert(region.to_string(), Instant::now() + BUSY_FOR);
    }

    fn lock_busy(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Instant>> {
        self.trail_busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
