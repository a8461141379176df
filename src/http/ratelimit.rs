//! A token bucket shared by every call to one provider account, and reservations: a sync
//! takes the calls it expects from its account's buckets before it starts
//! ([`Reservation::take`]), and its calls then spend those instead of waiting
//! ([`RateLimiter::acquire`]), so that a sync the operator starts does not wait on its
//! account's limit in one of the operator's slots.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
    /// Tokens a reservation gave back while the state was locked (a caller waiting in
    /// [`RateLimiter::acquire`] holds it): added at the next lock.
    returned: AtomicU32,
    /// Moved by every [`RateLimiter::pause`]: a reservation taken before a provider's
    /// `Retry-After` is spent no more.
    pauses: AtomicU64,
    /// Until when the bucket's coming tokens are promised to syncs told to come back
    /// ([`Reservation::take`]'s wait): the next is told to come after.
    promised: std::sync::Mutex<Option<Instant>>,
}

tokio::task_local! {
    /// The calls the running sync reserved (see [`Reservation::scope`]).
    static RESERVED: Reservation;
}

impl RateLimiter {
    pub fn new(requests_per_minute: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            per_second: f64::from(requests_per_minute.max(1)) / 60.0,
            burst,
            state: Mutex::new((burst, Instant::now())),
            returned: AtomicU32::new(0),
            pauses: AtomicU64::new(0),
            promised: std::sync::Mutex::new(None),
        }
    }

    /// When a sync that needs `need` tokens in `wait` should come back: after those promised to
    /// the syncs told before it, whose tokens are then promised to it. So that syncs put back
    /// in the queue come back one after the other, each when its tokens are there, instead of
    /// all at once, one taking them and every other put back again.
    fn come_back(&self, need: f64, wait: Duration, now: Instant) -> Duration {
        let mut promised = self
            .promised
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = promised.filter(|p| *p > now + wait).unwrap_or(now + wait);
        *promised = Some(at + Duration::from_secs_f64(need / self.per_second));
        at.duration_since(now)
    }

    /// The bucket's tokens now: refilled since `last`, with what reservations gave back.
    fn refilled(&self, tokens: f64, last: Instant, now: Instant) -> f64 {
        let returned = f64::from(self.returned.swap(0, Ordering::AcqRel));
        (tokens + returned + now.duration_since(last).as_secs_f64() * self.per_second)
            .min(self.burst)
    }

    /// Holds every caller for `wait` from now (a provider's `Retry-After`): the bucket is
    /// emptied so that the next token is `wait` away. A shorter hold never cuts a longer one.
    /// Calls reserved before are not spent any more: they wait like the others.
    pub async fn pause(&self, wait: Duration) {
        self.pauses.fetch_add(1, Ordering::AcqRel);
        let mut state = self.state.lock().await;
        let (tokens, last) = &mut *state;
        let now = Instant::now();
        let refilled = self.refilled(*tokens, *last, now);
        *tokens = refilled.min(1.0 - wait.as_secs_f64() * self.per_second);
        *last = now;
    }

    /// How long until `calls` requests (at most the burst) could be sent at once, without
    /// taking any: zero when the bucket holds them now. A caller already waiting in
    /// [`RateLimiter::acquire`] means the bucket is empty: then at least the time of `calls`
    /// tokens.
    pub fn wait_for(&self, calls: u32) -> Duration {
        let need = self.need(calls);
        let Ok(state) = self.state.try_lock() else {
            return Duration::from_secs_f64(need / self.per_second);
        };
        let (tokens, last) = *state;
        let now = Instant::now();
        let available = (tokens
            + f64::from(self.returned.load(Ordering::Acquire))
            + now.duration_since(last).as_secs_f64() * self.per_second)
            .min(self.burst);
        if available >= need {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((need - available) / self.per_second)
        }
    }

    /// `calls` as tokens: at least one, at most the burst (more can never be there at once).
    fn need(&self, calls: u32) -> f64 {
        f64::from(calls.max(1)).min(self.burst)
    }

    /// Waits until one request may be sent. A call of a sync that reserved calls on this
    /// bucket ([`Reservation::scope`]) spends one of those and does not wait. Other callers
    /// queue on the mutex, so the order of waiting callers is preserved.
    pub async fn acquire(&self) {
        if RESERVED
            .try_with(|r| {
                r.sent.fetch_add(1, Ordering::AcqRel);
                r.spend(self)
            })
            .unwrap_or(false)
        {
            return;
        }
        let mut state = self.state.lock().await;
        let (tokens, last) = &mut *state;
        let now = Instant::now();
        *tokens = self.refilled(*tokens, *last, now);
        *last = now;
        if *tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - *tokens) / self.per_second);
            tokio::time::sleep(wait).await;
            let now = Instant::now();
            *tokens = self.refilled(1.0, now, now);
            *last = now;
        }
        *tokens -= 1.0;
    }

    /// `n` tokens came back to the bucket (a sync sent fewer calls than it reserved): the
    /// tokens promised to syncs told to come back are there that much sooner, so the next
    /// one told is told that much less. Without this, every reservation that overestimated
    /// (before an account's cost is learned, a writing sync reserves three calls a read; with
    /// reads shared it sent two) pushed the promises further out, and the account's last
    /// policies were told to come back tens of seconds after its tokens were there (an idle
    /// bucket, full, wasting its refill).
    fn retract(&self, n: u32) {
        let mut promised = self
            .promised
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        *promised = promised
            .and_then(|p| p.checked_sub(Duration::from_secs_f64(f64::from(n) / self.per_second)))
            .filter(|p| *p > now);
    }

    /// Gives `n` reserved tokens back (at most the burst is kept).
    fn give_back(&self, n: u32) {
        self.retract(n);
        match self.state.try_lock() {
            Ok(mut state) => {
                let (tokens, last) = &mut *state;
                let now = Instant::now();
                *tokens = (self.refilled(*tokens, *last, now) + f64::from(n)).min(self.burst);
                *last = now;
            }
            Err(_) => {
                self.returned.fetch_add(n, Ordering::AcqRel);
            }
        }
    }
}

/// Calls taken in advance from one or more buckets for one sync: what it expects to send,
/// so that it sends them without waiting. Calls it does not send are given back when the
/// reservation is dropped; calls beyond it wait as any other.
pub struct Reservation {
    held: Vec<Held>,
    /// Every call the sync sent through one of its buckets, reserved or not.
    sent: Arc<AtomicU32>,
}

struct Held {
    limiter: Arc<RateLimiter>,
    /// [`RateLimiter::pauses`] when taken.
    pauses: u64,
    left: AtomicU32,
}

impl Reservation {
    /// `calls` from each of `limiters` (at most each one's burst), all or none: taken when
    /// every bucket holds them now; otherwise nothing is taken, and the answer is when to come
    /// back: when the emptiest bucket would hold them, after what it promised the syncs told
    /// before. A sync that was told already (`told`: it came back, and others took the
    /// tokens) is not put behind the ones told since: it comes back when its tokens are there.
    /// A bucket with a caller waiting in [`RateLimiter::acquire`] is empty.
    pub fn take(
        limiters: &[Arc<RateLimiter>],
        calls: u32,
        told: bool,
    ) -> Result<Reservation, Duration> {
        let mut locked = Vec::with_capacity(limiters.len());
        let mut short = Vec::new();
        let now = Instant::now();
        for limiter in limiters {
            let need = limiter.need(calls);
            match limiter.state.try_lock() {
                Ok(state) => {
                    let available = (state.0
                        + f64::from(limiter.returned.load(Ordering::Acquire))
                        + now.duration_since(state.1).as_secs_f64() * limiter.per_second)
                        .min(limiter.burst);
                    if available < need {
                        let wait = (need - available) / limiter.per_second;
                        short.push((limiter, need, Duration::from_secs_f64(wait)));
                    }
                    locked.push((limiter, state, need));
                }
                Err(_) => {
                    let wait = Duration::from_secs_f64(need / limiter.per_second);
                    short.push((limiter, need, wait));
                }
            }
        }
        if !short.is_empty() {
            drop(locked);
            let back = short
                .into_iter()
                .map(|(limiter, need, wait)| {
                    if told {
                        wait
                    } else {
                        limiter.come_back(need, wait, now)
                    }
                })
                .max()
                .unwrap_or_default();
            return Err(back);
        }
        let held = locked
            .into_iter()
            .map(|(limiter, mut state, need)| {
                let now = Instant::now();
                let (tokens, last) = &mut *state;
                *tokens = limiter.refilled(*tokens, *last, now) - need;
                *last = now;
                Held {
                    limiter: limiter.clone(),
                    pauses: limiter.pauses.load(Ordering::Acquire),
                    // `need` is a whole number from 1 to the burst.
                    left: AtomicU32::new(need as u32),
                }
            })
            .collect();
        Ok(Reservation {
            held,
            sent: Arc::default(),
        })
    }

    /// The calls the sync sends through its buckets (reserved or beyond), to read after its
    /// [`Reservation::scope`]: what a sync like it costs. Reads answered by another sync's
    /// ([`crate::http::share`]) send nothing and are not counted.
    pub fn sent(&self) -> Arc<AtomicU32> {
        self.sent.clone()
    }

    /// Runs `work` (one sync) spending this reservation; what is left is given back after.
    pub async fn scope<F: std::future::Future>(self, work: F) -> F::Output {
        RESERVED.scope(self, work).await
    }

    /// Spends one reserved call on `limiter`, if one is left and no pause came since.
    fn spend(&self, limiter: &RateLimiter) -> bool {
        self.held.iter().any(|h| {
            std::ptr::eq(Arc::as_ptr(&h.limiter), limiter)
                && h.pauses == limiter.pauses.load(Ordering::Acquire)
                && h.left
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok()
        })
    }

    /// In a sync's [`Reservation::scope`], the calls it has left on each bucket.
    pub fn left_in_scope() -> Option<Vec<u32>> {
        RESERVED.try_with(Reservation::left).ok()
    }

    /// Calls left on each bucket, in the order taken.
    pub fn left(&self) -> Vec<u32> {
        self.held
            .iter()
            .map(|h| h.left.load(Ordering::Acquire))
            .collect()
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        for h in &self.held {
            let n = h.left.swap(0, Ordering::AcqRel);
            // After a pause the provider refuses the account: nothing is given back.
            if n > 0 && h.pauses == h.limiter.pauses.load(Ordering::Acquire) {
                h.limiter.give_back(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bursts_then_paces() {
        let limiter = RateLimiter::new(60, 3);
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(1),
            "the burst is free"
        );
        limiter.acquire().await;
        limiter.acquire().await;
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(1999) && elapsed < Duration::from_millis(2100),
            "then one per second: {elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn wait_for_says_how_long_until_the_calls_are_free_without_taking_any() {
        let limiter = RateLimiter::new(60, 3);
        assert_eq!(limiter.wait_for(3), Duration::ZERO, "the burst is free");
        assert_eq!(
            limiter.wait_for(3),
            Duration::ZERO,
            "and asking took nothing"
        );
        assert_eq!(
            limiter.wait_for(10),
            Duration::ZERO,
            "at most the burst is asked"
        );
        limiter.acquire().await;
        limiter.acquire().await;
        assert_eq!(limiter.wait_for(1), Duration::ZERO);
        assert_eq!(limiter.wait_for(2), Duration::from_secs(1));
        limiter.acquire().await;
        assert_eq!(limiter.wait_for(1), Duration::from_secs(1));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(limiter.wait_for(1), Duration::from_millis(500));
        limiter.pause(Duration::from_secs(30)).await;
        let paused = limiter.wait_for(1);
        assert!(
            paused > Duration::from_secs(29) && paused <= Duration::from_secs(30),
            "a Retry-After holds it too: {paused:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_caller_and_is_never_shortened() {
        let limiter = RateLimiter::new(600, 5);
        let start = Instant::now();
        limiter.pause(Duration::from_secs(60)).await;
        limiter.pause(Duration::from_secs(1)).await;
        limiter.acquire().await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(60) && waited < Duration::from_millis(60_100),
            "{waited:?}"
        );
        // Then the normal pace (10 a second), not a burst.
        limiter.acquire().await;
        assert!(
            start.elapsed() >= Duration::from_millis(60_099),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_reservation_takes_its_calls_at_once_and_its_sync_spends_them_without_waiting() {
        let limiter = Arc::new(RateLimiter::new(60, 3));
        let reserved = Reservation::take(std::slice::from_ref(&limiter), 2, false).expect("free");
        let sent = reserved.sent();
        assert_eq!(
            limiter.wait_for(2),
            Duration::from_secs(1),
            "two of three taken"
        );
        let start = Instant::now();
        let left = reserved
            .scope(async {
                limiter.acquire().await;
                limiter.acquire().await;
                assert_eq!(
                    limiter.wait_for(1),
                    Duration::ZERO,
                    "the reserved calls did not draw on the bucket again"
                );
                // The third is beyond the reservation: the bucket's last token.
                limiter.acquire().await;
                RESERVED.with(Reservation::left)
            })
            .await;
        assert_eq!(left, vec![0]);
        assert!(start.elapsed() < Duration::from_millis(1), "nothing waited");
        assert_eq!(
            sent.load(Ordering::Acquire),
            3,
            "two reserved calls and one beyond"
        );
        assert_eq!(
            limiter.wait_for(1),
            Duration::from_secs(1),
            "all three spent"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_reservation_is_all_or_none_and_only_its_own_sync_spends_it() {
        let a = Arc::new(RateLimiter::new(60, 3));
        let b = Arc::new(RateLimiter::new(60, 3));
        b.acquire().await;
        b.acquire().await;
        let both = [a.clone(), b.clone()];
        assert_eq!(
            Reservation::take(&both, 2, false).err(),
            Some(Duration::from_secs(1)),
            "b holds one of the two"
        );
        assert_eq!(
            a.wait_for(3),
            Duration::ZERO,
            "and nothing was taken from a"
        );
        let reserved = Reservation::take(&both, 1, false).expect("one from each");
        assert_eq!(b.wait_for(1), Duration::from_secs(1));
        // A call outside the sync does not spend its reservation: it waits for the bucket.
        let other = tokio::spawn({
            let b = b.clone();
            async move {
                let start = Instant::now();
                b.acquire().await;
                start.elapsed()
            }
        });
        let spent_in_scope = reserved
            .scope(async {
                b.acquire().await;
                RESERVED.with(Reservation::left)
            })
            .await;
        assert_eq!(
            spent_in_scope,
            vec![1, 0],
            "b's call spent b's reservation only"
        );
        assert_eq!(other.await.expect("joined"), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn syncs_put_back_come_back_one_after_the_other() {
        let limiter = Arc::new(RateLimiter::new(60, 3));
        let one = [limiter.clone()];
        let first = Reservation::take(&one, 3, false).expect("the burst");
        let waits: Vec<Duration> = (0..3)
            .map(|_| Reservation::take(&one, 3, false).err().expect("spent"))
            .collect();
        assert_eq!(
            waits,
            [3, 6, 9].map(Duration::from_secs),
            "each when its three tokens are there"
        );
        // One told before comes back to find its tokens taken: it waits for them only.
        assert_eq!(
            Reservation::take(&one, 3, true).err(),
            Some(Duration::from_secs(3))
        );
        drop(first);
        // Promises run out with time: a sync told after they passed waits only for its tokens.
        tokio::time::advance(Duration::from_secs(20)).await;
        let _all = Reservation::take(&one, 3, false).expect("refilled");
        assert_eq!(
            Reservation::take(&one, 1, false).err(),
            Some(Duration::from_secs(1))
        );
    }

    /// What a sync did not spend shortens the promises: the next sync told is told sooner.
    #[tokio::test(start_paused = true)]
    async fn calls_given_back_bring_the_promised_turns_forward() {
        let limiter = Arc::new(RateLimiter::new(60, 3));
        let one = [limiter.clone()];
        let first = Reservation::take(&one, 3, false).expect("the burst");
        let waits: Vec<Duration> = (0..2)
            .map(|_| Reservation::take(&one, 3, false).err().expect("spent"))
            .collect();
        assert_eq!(waits, [3, 6].map(Duration::from_secs));
        // The first sync sent one call of its three.
        first.scope(limiter.acquire()).await;
        assert_eq!(
            Reservation::take(&one, 3, false).err(),
            Some(Duration::from_secs(7)),
            "9 s less the 2 s of the two calls given back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn what_a_sync_did_not_spend_is_given_back_unless_the_provider_paused_the_account() {
        let limiter = Arc::new(RateLimiter::new(60, 3));
        let reserved = Reservation::take(std::slice::from_ref(&limiter), 3, false).expect("free");
        assert_eq!(limiter.wait_for(1), Duration::from_secs(1));
        reserved.scope(limiter.acquire()).await;
        assert_eq!(limiter.wait_for(2), Duration::ZERO, "two given back");
        assert_eq!(limiter.wait_for(3), Duration::from_secs(1));

        let limiter = Arc::new(RateLimiter::new(60, 3));
        let reserved = Reservation::take(std::slice::from_ref(&limiter), 3, false).expect("free");
        let start = Instant::now();
        reserved
            .scope(async {
                limiter.acquire().await;
                // A 429 with Retry-After: 30 s, then the retry.
                limiter.pause(Duration::from_secs(30)).await;
                limiter.acquire().await;
            })
            .await;
        assert!(
            start.elapsed() >= Duration::from_secs(30),
            "the retry waited out the pause: {:?}",
            start.elapsed()
        );
        assert!(
            limiter.wait_for(1) > Duration::from_millis(900),
            "and the unspent call was not given back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn calls_given_back_while_a_caller_waits_reach_the_bucket() {
        let limiter = Arc::new(RateLimiter::new(60, 3));
        let reserved = Reservation::take(std::slice::from_ref(&limiter), 3, false).expect("free");
        let waiting = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.acquire().await }
        });
        tokio::task::yield_now().await;
        // The waiter holds the bucket: the three come back through `returned`.
        drop(reserved);
        waiting.await.expect("joined");
        assert_eq!(
            limiter.wait_for(2),
            Duration::ZERO,
            "three given back, one spent by the waiter"
        );
    }
}
