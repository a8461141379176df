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
    /// The syncs told to come back ([`Reservation::take`]), in the order told: the bucket's
    /// coming tokens are theirs, in that order, until each takes its own or lets its turn lapse.
    turns: std::sync::Mutex<std::collections::VecDeque<Turn>>,
}

/// Wakes a sync told to come back, so that it comes back sooner: after the given time. A wake
/// is a hint (the sync comes back anyway when it was told), and a sync woken early is told
/// again, keeping its place.
pub type Wake = Arc<dyn Fn(Duration) + Send + Sync>;

/// A sync told to come back for its tokens (see [`Reservation::take`]).
struct Turn {
    /// The sync's name for itself (a policy's uid).
    who: Box<str>,
    wake: Wake,
    /// The tokens promised to it.
    need: f64,
    /// A little after it was told to come back: a sync not back by then (deleted, moved to
    /// another account, or held up in the controller's queue) no longer holds the syncs told
    /// after it back; coming later, it is put at the end.
    lapses: Instant,
}

/// How long after the time it was told a sync keeps its turn.
const TURN_LAPSES_AFTER: Duration = Duration::from_secs(2);

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
            turns: std::sync::Mutex::default(),
        }
    }

    fn turns(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Turn>> {
        self.turns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The tokens promised to the syncs told before `who` (to every sync told, if `who` was
    /// not): what must be left for them before `who` may take its own. Turns that lapsed are
    /// dropped first.
    fn ahead_of(&self, who: &str, now: Instant) -> f64 {
        let mut turns = self.turns();
        turns.retain(|t| t.lapses > now);
        turns
            .iter()
            .take_while(|t| *t.who != *who)
            .map(|t| t.need)
            .sum()
    }

    /// `who` is told to come back in `wait` for `need` tokens: it keeps its place in the turns
    /// if it had one, and is put at the end if not.
    fn tell(&self, who: &str, wake: &Wake, need: f64, wait: Duration, now: Instant) {
        let lapses = now + wait + TURN_LAPSES_AFTER;
        let mut turns = self.turns();
        match turns.iter_mut().find(|t| *t.who == *who) {
            Some(turn) => {
                turn.need = need;
                turn.lapses = lapses;
            }
            None => turns.push_back(Turn {
                who: who.into(),
                wake: wake.clone(),
                need,
                lapses,
            }),
        }
    }

    /// The bucket holds `tokens` now: the first sync waiting its turn is woken when its own
    /// are there. The time it was told was counted on what the syncs ahead of it reserved,
    /// and those that sent fewer calls gave the rest back, so its tokens are often there
    /// sooner; woken, it takes them then (and wakes the next), rather than the bucket filling
    /// up unused until the time it was told. Each sync that takes or gives back wakes the next
    /// one so.
    fn wake_next(&self, tokens: f64, now: Instant) {
        let next = {
            let mut turns = self.turns();
            turns.retain(|t| t.lapses > now);
            turns.front_mut().map(|t| {
                let after = Duration::from_secs_f64((t.need - tokens).max(0.0) / self.per_second);
                t.lapses = t.lapses.max(now + after + TURN_LAPSES_AFTER);
                (t.wake.clone(), after)
            })
        };
        if let Some((wake, after)) = next {
            wake(after);
        }
    }

    /// `who` took its tokens: its turn is over.
    fn served(&self, who: &str) {
        let mut turns = self.turns();
        if let Some(i) = turns.iter().position(|t| *t.who == *who) {
            turns.remove(i);
        }
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

    /// Gives `n` reserved tokens back (at most the burst is kept).
    fn give_back(&self, n: u32) {
        match self.state.try_lock() {
            Ok(mut state) => {
                let (tokens, last) = &mut *state;
                let now = Instant::now();
                *tokens = (self.refilled(*tokens, *last, now) + f64::from(n)).min(self.burst);
                *last = now;
                self.wake_next(*tokens, now);
            }
            Err(_) => {
                // The caller holding the state empties the bucket; nobody is woken.
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
    /// `calls` from each of `limiters` (at most each one's burst), all or none, for the sync
    /// `who`: taken when every bucket holds them now besides the tokens promised to the syncs
    /// told to come back before `who`. Otherwise nothing is taken, and the answer is when to
    /// come back: when the emptiest bucket would hold them after those promises; `who` is
    /// promised them then, keeping its place if it was told before (it came back early, or
    /// to find the syncs ahead of it not back yet). So that syncs put back come back one
    /// after the other, each when its tokens are there, and a bucket's promises are only the
    /// turns still waiting, not every one it ever told. A bucket with a caller waiting in
    /// [`RateLimiter::acquire`] is empty.
    pub fn take(
        limiters: &[Arc<RateLimiter>],
        calls: u32,
        who: &str,
        wake: &Wake,
    ) -> Result<Reservation, Duration> {
        let mut locked = Vec::with_capacity(limiters.len());
        let mut short = Vec::new();
        let now = Instant::now();
        for limiter in limiters {
            let need = limiter.need(calls);
            let ahead = limiter.ahead_of(who, now);
            match limiter.state.try_lock() {
                Ok(state) => {
                    let available = (state.0
                        + f64::from(limiter.returned.load(Ordering::Acquire))
                        + now.duration_since(state.1).as_secs_f64() * limiter.per_second)
                        .min(limiter.burst);
                    if available - ahead < need {
                        let wait = (ahead + need - available) / limiter.per_second;
                        short.push((limiter, need, Duration::from_secs_f64(wait)));
                    }
                    locked.push((limiter, state, need));
                }
                Err(_) => {
                    let wait = Duration::from_secs_f64((ahead + need) / limiter.per_second);
                    short.push((limiter, need, wait));
                }
            }
        }
        if !short.is_empty() {
            drop(locked);
            let back = short
                .iter()
                .map(|(_, _, wait)| *wait)
                .max()
                .unwrap_or_default();
            for (limiter, need, _) in short {
                limiter.tell(who, wake, need, back, now);
            }
            return Err(back);
        }
        let held = locked
            .into_iter()
            .map(|(limiter, mut state, need)| {
                limiter.served(who);
                let now = Instant::now();
                let (tokens, last) = &mut *state;
                *tokens = limiter.refilled(*tokens, *last, now) - need;
                *last = now;
                limiter.wake_next(*tokens, now);
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

    /// A sync that is never woken (it comes back when told).
    fn nobody() -> Wake {
        Arc::new(|_| {})
    }

    /// A sync whose wakes are written down, with `who`.
    fn noted(
        who: &'static str,
        wakes: &Arc<std::sync::Mutex<Vec<(&'static str, Duration)>>>,
    ) -> Wake {
        let wakes = wakes.clone();
        Arc::new(move |after| wakes.lock().expect("not poisoned").push((who, after)))
    }

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
        let reserved =
            Reservation::take(std::slice::from_ref(&limiter), 2, "a", &nobody()).expect("free");
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
            Reservation::take(&both, 2, "a", &nobody()).err(),
            Some(Duration::from_secs(1)),
            "b holds one of the two"
        );
        assert_eq!(
            a.wait_for(3),
            Duration::ZERO,
            "and nothing was taken from a"
        );
        let reserved = Reservation::take(&both, 1, "a", &nobody()).expect("one from each");
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
        let first = Reservation::take(&one, 3, "first", &nobody()).expect("the burst");
        let waits: Vec<Duration> = ["b", "c", "d"]
            .map(|who| {
                Reservation::take(&one, 3, who, &nobody())
                    .err()
                    .expect("spent")
            })
            .to_vec();
        assert_eq!(
            waits,
            [3, 6, 9].map(Duration::from_secs),
            "each when its three tokens are there"
        );
        // One told before and back early keeps its place: it is not put behind those told since.
        assert_eq!(
            Reservation::take(&one, 3, "c", &nobody()).err(),
            Some(Duration::from_secs(6))
        );
        drop(first);
        tokio::time::advance(Duration::from_secs(3)).await;
        // c is back before b: b's tokens are b's.
        assert_eq!(
            Reservation::take(&one, 3, "c", &nobody()).err(),
            Some(Duration::from_secs(3)),
            "c waits for b"
        );
        let _b = Reservation::take(&one, 3, "b", &nobody()).expect("b's turn");
        tokio::time::advance(Duration::from_secs(3)).await;
        let _c = Reservation::take(&one, 3, "c", &nobody()).expect("c's turn");
        // d never comes back: once its turn lapsed, a sync told after it is not held back.
        tokio::time::advance(Duration::from_secs(6)).await;
        let _e = Reservation::take(&one, 3, "e", &nobody()).expect("d's turn lapsed");
        assert_eq!(
            Reservation::take(&one, 1, "f", &nobody()).err(),
            Some(Duration::from_secs(1)),
            "the promises are the turns still waiting, not every one told"
        );
    }

    /// What a sync did not spend shortens the promises: the next sync told is told sooner.
    #[tokio::test(start_paused = true)]
    async fn calls_given_back_bring_the_promised_turns_forward() {
        let limiter = Arc::new(RateLimiter::new(60, 3));
        let one = [limiter.clone()];
        let first = Reservation::take(&one, 3, "first", &nobody()).expect("the burst");
        let waits: Vec<Duration> = ["b", "c"]
            .map(|who| {
                Reservation::take(&one, 3, who, &nobody())
                    .err()
                    .expect("spent")
            })
            .to_vec();
        assert_eq!(waits, [3, 6].map(Duration::from_secs));
        // The first sync sent one call of its three.
        first.scope(limiter.acquire()).await;
        assert_eq!(
            Reservation::take(&one, 3, "d", &nobody()).err(),
            Some(Duration::from_secs(7)),
            "9 s less the 2 s of the two calls given back"
        );
        assert_eq!(
            Reservation::take(&one, 3, "b", &nobody()).err(),
            Some(Duration::from_secs(1)),
            "b, told before, comes back to the two given back and waits for one more"
        );
    }

    /// Each sync that takes its tokens or gives some back wakes the next in turn for when its
    /// own are there, rather than leave it to the time it was told (counted on what those
    /// ahead reserved, not what they sent).
    #[tokio::test(start_paused = true)]
    async fn the_next_in_turn_is_woken_when_its_tokens_are_there() {
        let limiter = Arc::new(RateLimiter::new(60, 3));
        let one = [limiter.clone()];
        let wakes = Arc::default();
        let first = Reservation::take(&one, 3, "first", &nobody()).expect("the burst");
        let told: Vec<Duration> = ["b", "c"]
            .map(|who| {
                Reservation::take(&one, 3, who, &noted(who, &wakes))
                    .err()
                    .expect("spent")
            })
            .to_vec();
        assert_eq!(told, [3, 6].map(Duration::from_secs));
        assert!(wakes.lock().expect("not poisoned").is_empty());
        // The first sync sends one call of its three and gives two back: b's three tokens are
        // there in 1 s, not 3.
        first.scope(limiter.acquire()).await;
        assert_eq!(
            std::mem::take(&mut *wakes.lock().expect("not poisoned")),
            [("b", Duration::from_secs(1))]
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        let _b = Reservation::take(&one, 3, "b", &nobody()).expect("b's turn");
        assert_eq!(
            std::mem::take(&mut *wakes.lock().expect("not poisoned")),
            [("c", Duration::from_secs(3))],
            "b took its turn and woke c"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn what_a_sync_did_not_spend_is_given_back_unless_the_provider_paused_the_account() {
        let limiter = Arc::new(RateLimiter::new(60, 3));
        let reserved =
            Reservation::take(std::slice::from_ref(&limiter), 3, "a", &nobody()).expect("free");
        assert_eq!(limiter.wait_for(1), Duration::from_secs(1));
        reserved.scope(limiter.acquire()).await;
        assert_eq!(limiter.wait_for(2), Duration::ZERO, "two given back");
        assert_eq!(limiter.wait_for(3), Duration::from_secs(1));

        let limiter = Arc::new(RateLimiter::new(60, 3));
        let reserved =
            Reservation::take(std::slice::from_ref(&limiter), 3, "b", &nobody()).expect("free");
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
        let reserved =
            Reservation::take(std::slice::from_ref(&limiter), 3, "a", &nobody()).expect("free");
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
