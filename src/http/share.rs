//! Read sharing within one client (one provider account): identical reads share one answer.
//!
//! - **In flight, always**: a read identical to one already queued on the limiter or on the
//!   wire waits for that one's answer (success or error) instead of sending its own.
//! - **Kept for a window** (`window`, 0 by default: coalescing only): a successful answer is
//!   handed to identical reads that begin within `window` of it. The operator sets the window
//!   (`perimeter operator --share-reads-for`), so that policies on one account read each
//!   listing once per round; `check`, library users and tests keep 0 and always see the
//!   provider's current state.
//! - **Any write ends sharing**: a generation counter moves when a write starts and again when
//!   it ends; answers kept and reads in flight from before the move are never handed to reads
//!   that begin after it, and an answer whose read overlapped a write is not kept.
//! - **Bounded**: errors are handed only to the reads that waited on them, never kept; expired
//!   answers are dropped at the next read; the answers kept hold at most `max_bytes` of
//!   bodies (a larger answer is simply not kept).
//!
//! Generic over the answer, so that the shared HTTP layer ([`super::HttpClient`]) and the AWS
//! SDK's connector (`providers::aws::interceptor`) share reads by the same rules.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// The default bound on the answer bodies one client keeps (per account).
pub const DEFAULT_MAX_KEPT_BYTES: usize = 32 * 1024 * 1024;

/// An answer that reads may share.
pub trait Answer: Clone + Send + Sync + 'static {
    /// The bytes it holds, when it may be kept past its flight; `None` for an error, which is
    /// handed only to the reads already waiting on it.
    fn keep(&self) -> Option<usize>;
}

/// How a read was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Had {
    /// It sent the request itself.
    Sent,
    /// It waited on an identical read in flight.
    InFlight,
    /// An identical read's answer within the window.
    Kept,
}

impl Had {
    pub fn shared(self) -> bool {
        self != Self::Sent
    }
}

/// The read sharing of one client. Cheap when unused: one mutex and two empty maps.
pub struct Share<A> {
    window: Duration,
    max_bytes: usize,
    state: Mutex<State<A>>,
}

struct State<A> {
    generation: u64,
    /// The generation of the share this one derives from (see [`Share::read_derived`]) when
    /// last looked.
    followed: u64,
    /// Identifies flights, so that a finished or abandoned flight removes only its own entry.
    next_flight: u64,
    flights: HashMap<Vec<u8>, Flight<A>>,
    kept: HashMap<Vec<u8>, Kept<A>>,
    kept_bytes: usize,
}

struct Flight<A> {
    id: u64,
    answer: watch::Receiver<Option<A>>,
}

struct Kept<A> {
    answer: A,
    bytes: usize,
    until: Instant,
}

impl<A> State<A> {
    /// A write starts or ends: nothing from before is handed to a read that begins after.
    fn next_generation(&mut self) {
        self.generation += 1;
        self.flights.clear();
        self.kept.clear();
        self.kept_bytes = 0;
    }

    fn expire(&mut self, now: Instant) {
        if self.kept.is_empty() {
            return;
        }
        let mut freed = 0;
        self.kept.retain(|_, k| {
            let live = k.until > now;
            if !live {
                freed += k.bytes;
            }
            live
        });
        self.kept_bytes -= freed;
    }
}

impl<A: Answer> Share<A> {
    pub fn new(window: Duration, max_bytes: usize) -> Self {
        Self {
            window,
            max_bytes,
            state: Mutex::new(State {
                generation: 0,
                followed: 0,
                next_flight: 0,
                flights: HashMap::new(),
                kept: HashMap::new(),
                kept_bytes: 0,
            }),
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<A>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How often a write has started or ended so far (see [`Share::read_derived`]).
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// [`Share::read`] for a share of values derived from `source`'s answers (a listing parsed
    /// once for every policy that reads it): when `source` has seen a write since this share
    /// last looked, what this one keeps or has in flight is dropped first, as a write to it
    /// would, so a write through the account ends the sharing of both alike. (A value derived
    /// before the write and finished after it may still be kept, but the next read drops it
    /// before anyone is handed it.) The values must be derived from answers `source` does not
    /// keep, so that they are no older than this share's window.
    pub async fn read_derived<B, F, Fut>(
        &self,
        source: &Share<B>,
        key: Vec<u8>,
        send: F,
    ) -> (A, Had)
    where
        B: Answer,
        F: FnOnce() -> Fut,
        Fut: Future<Output = A>,
    {
        let generation = source.generation();
        {
            let mut state = self.lock();
            if state.followed != generation {
                state.next_generation();
                state.followed = generation;
            }
        }
        self.read(key, send).await
    }

    /// Marks a write for as long as the guard lives: sharing ends when it starts and again
    /// when it ends (so a read that overlapped it is not handed on either).
    pub fn write(&self) -> Writing<'_, A> {
        self.lock().next_generation();
        Writing(self)
    }

    /// The answer of the read `key` (which must name everything the answer depends on): an
    /// identical read's, or else what `send` gets, handed to the identical reads meanwhile.
    pub async fn read<F, Fut>(&self, key: Vec<u8>, send: F) -> (A, Had)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = A>,
    {
        let (id, generation, tell) = loop {
            let waiting = {
                let mut state = self.lock();
                state.expire(Instant::now());
                if let Some(kept) = state.kept.get(&key) {
                    return (kept.answer.clone(), Had::Kept);
                }
                match state.flights.get(&key) {
                    Some(flight) => flight.answer.clone(),
                    None => {
                        let (tx, rx) = watch::channel(None);
                        let id = state.next_flight;
                        state.next_flight += 1;
                        state.flights.insert(key.clone(), Flight { id, answer: rx });
                        break (id, state.generation, tx);
                    }
                }
            };
            let mut waiting = waiting;
            if let Ok(answer) = waiting.wait_for(Option::is_some).await
                && let Some(answer) = answer.as_ref()
            {
                return (answer.clone(), Had::InFlight);
            }
            // The read it waited on was abandoned (its caller gave up): ask again.
        };
        let abandoned = Abandoned {
            share: self,
            key: &key,
            id,
        };
        let got = send().await;
        {
            let mut state = self.lock();
            if state.flights.get(&key).is_some_and(|f| f.id == id) {
                state.flights.remove(&key);
            }
            if let Some(bytes) = got.keep()
                && !self.window.is_zero()
                && state.generation == generation
            {
                let now = Instant::now();
                state.expire(now);
                if let Some(old) = state.kept.remove(&key) {
                    state.kept_bytes -= old.bytes;
                }
                if state.kept_bytes + bytes <= self.max_bytes {
                    state.kept_bytes += bytes;
                    state.kept.insert(
                        key.clone(),
                        Kept {
                            answer: got.clone(),
                            bytes,
                            until: now + self.window,
                        },
                    );
                }
            }
        }
        tell.send_replace(Some(got.clone()));
        // Settled above; its drop finds no flight of its own left to remove.
        drop(abandoned);
        (got, Had::Sent)
    }
}

/// A write in progress (see [`Share::write`]).
pub struct Writing<'a, A>(&'a Share<A>);

impl<A> Drop for Writing<'_, A> {
    fn drop(&mut self) {
        self.0
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next_generation();
    }
}

/// Removes a flight whose leader was dropped before its answer came (a sync deadline): the
/// reads waiting on it see the channel close and ask again.
struct Abandoned<'a, A> {
    share: &'a Share<A>,
    key: &'a [u8],
    id: u64,
}

impl<A> Drop for Abandoned<'_, A> {
    fn drop(&mut self) {
        let mut state = self.share.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.flights.get(self.key).is_some_and(|f| f.id == self.id) {
            state.flights.remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A body of `len` bytes, or an error.
    #[derive(Clone, Debug, PartialEq)]
    enum Fake {
        Body(usize, usize),
        Failed(usize),
    }

    impl Answer for Fake {
        fn keep(&self) -> Option<usize> {
            match self {
                Self::Body(_, len) => Some(*len),
                Self::Failed(_) => None,
            }
        }
    }

    /// Counts the reads sent; each answers with its number.
    #[derive(Default)]
    struct Sender(AtomicUsize);

    impl Sender {
        async fn body(&self, len: usize) -> Fake {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            Fake::Body(n, len)
        }

        async fn fail(&self) -> Fake {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            Fake::Failed(n)
        }

        fn sent(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn key(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[tokio::test(start_paused = true)]
    async fn kept_answers_expire_after_the_window() {
        let share = Share::<Fake>::new(Duration::from_secs(15), 1024);
        let sender = Sender::default();
        let (first, had) = share.read(key("a"), || sender.body(10)).await;
        assert_eq!((first, had), (Fake::Body(1, 10), Had::Sent));
        tokio::time::advance(Duration::from_secs(14)).await;
        let (again, had) = share.read(key("a"), || sender.body(10)).await;
        assert_eq!((again, had), (Fake::Body(1, 10), Had::Kept));
        tokio::time::advance(Duration::from_secs(2)).await;
        let (fresh, had) = share.read(key("a"), || sender.body(10)).await;
        assert_eq!((fresh, had), (Fake::Body(2, 10), Had::Sent));
        assert_eq!(sender.sent(), 2);
        assert!(
            share.lock().kept_bytes <= 10,
            "the expired answer was dropped"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_derived_share_drops_its_values_when_its_source_sees_a_write() {
        let source = Share::<Fake>::new(Duration::from_secs(15), 1024);
        let parsed = Share::<Fake>::new(Duration::from_secs(15), 1024);
        let sender = Sender::default();
        let (first, _) = parsed
            .read_derived(&source, key("rules"), || sender.body(10))
            .await;
        let (again, had) = parsed
            .read_derived(&source, key("rules"), || sender.body(10))
            .await;
        assert_eq!((again, had), (first, Had::Kept), "no write: kept");
        // A write through the account (on the source share) starts and ends.
        drop(source.write());
        let (after, had) = parsed
            .read_derived(&source, key("rules"), || sender.body(10))
            .await;
        assert_eq!(
            (after, had),
            (Fake::Body(2, 10), Had::Sent),
            "derived again"
        );
        // A value derived while a write was under way is kept by the derived share, but the
        // next read drops it before it is handed on.
        let writing = source.write();
        let (during, _) = parsed
            .read_derived(&source, key("rules"), || sender.body(10))
            .await;
        assert_eq!(during, Fake::Body(3, 10));
        drop(writing);
        let (later, had) = parsed
            .read_derived(&source, key("rules"), || sender.body(10))
            .await;
        assert_eq!((later, had), (Fake::Body(4, 10), Had::Sent));
        assert_eq!(source.generation(), 4, "two writes, each started and ended");
    }

    #[tokio::test(start_paused = true)]
    async fn errors_are_shared_only_in_flight() {
        let share = Share::<Fake>::new(Duration::from_secs(15), 1024);
        let sender = Sender::default();
        let (a, b) = tokio::join!(
            share.read(key("a"), || sender.fail()),
            share.read(key("a"), || sender.fail()),
        );
        assert_eq!(a.0, Fake::Failed(1));
        assert_eq!(b, (Fake::Failed(1), Had::InFlight));
        let (after, had) = share.read(key("a"), || sender.fail()).await;
        assert_eq!((after, had), (Fake::Failed(2), Had::Sent), "never kept");
    }

    #[tokio::test(start_paused = true)]
    async fn kept_bodies_are_bounded() {
        let share = Share::<Fake>::new(Duration::from_secs(15), 100);
        let sender = Sender::default();
        share.read(key("a"), || sender.body(60)).await;
        // Would pass the bound: not kept, read again.
        share.read(key("b"), || sender.body(60)).await;
        let (_, had) = share.read(key("b"), || sender.body(60)).await;
        assert_eq!(had, Had::Sent);
        let (_, had) = share.read(key("a"), || sender.body(60)).await;
        assert_eq!(had, Had::Kept);
        assert_eq!(share.lock().kept_bytes, 60);
        // Once the first expires, its bytes are free again.
        tokio::time::advance(Duration::from_secs(16)).await;
        share.read(key("b"), || sender.body(60)).await;
        let (_, had) = share.read(key("b"), || sender.body(60)).await;
        assert_eq!(had, Had::Kept);
        assert_eq!(share.lock().kept_bytes, 60);
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_ends_sharing_for_reads_that_begin_after_it() {
        let share = Arc::new(Share::<Fake>::new(Duration::from_secs(15), 1024));
        let sender = Arc::new(Sender::default());
        share.read(key("a"), || sender.body(1)).await;
        drop(share.write());
        let (_, had) = share.read(key("a"), || sender.body(1)).await;
        assert_eq!(had, Had::Sent, "the kept answer is from before the write");
        assert_eq!(sender.sent(), 2);

        // A read in flight when the write starts: not joined by a read after the write, and
        // its answer (which may predate the write) not kept.
        let (s, t) = (share.clone(), sender.clone());
        let before = tokio::spawn(async move { s.read(key("b"), || t.body(1)).await });
        tokio::time::sleep(Duration::from_millis(1)).await;
        let writing = share.write();
        let (_, had) = share.read(key("b"), || sender.body(1)).await;
        assert_eq!(had, Had::Sent, "a read during the write is its own");
        drop(writing);
        assert_eq!(before.await.expect("read").1, Had::Sent);
        let (_, had) = share.read(key("b"), || sender.body(1)).await;
        assert_eq!(
            had,
            Had::Sent,
            "answers from before the write's end are not kept"
        );
        assert_eq!(sender.sent(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_read_hands_over_to_its_waiters() {
        let share = Arc::new(Share::<Fake>::new(Duration::ZERO, 1024));
        let sender = Arc::new(Sender::default());
        let (s, t) = (share.clone(), sender.clone());
        let leader = tokio::spawn(async move { s.read(key("a"), || t.body(1)).await });
        tokio::time::sleep(Duration::from_millis(1)).await;
        let (s, t) = (share.clone(), sender.clone());
        let waiter = tokio::spawn(async move { s.read(key("a"), || t.body(1)).await });
        tokio::time::sleep(Duration::from_millis(1)).await;
        leader.abort();
        let (answer, had) = waiter.await.expect("waiter");
        assert_eq!((answer, had), (Fake::Body(2, 1), Had::Sent));
        assert!(share.lock().flights.is_empty());
    }
}
