//! The policies handed to a policy controller, a few at a time and in turn by account.
//!
//! kube-runtime's controller keeps every policy that is due in one set and takes them in no
//! set order (a `HashSet` while its slots are busy). At start-up that set holds every policy:
//! on the fleet bench, 10,000, reached at about 240 a second. An account whose first policy came
//! up 30 s in started its calls 30 s late, and an account's next policy, woken when its calls
//! were there ([`crate::http::ratelimit::Wake`]), waited among thousands: Supabase accounts
//! synced a first policy at 10 s and the second at 44 s, with their limit idle in between.
//!
//! So a policy's own changes (its first list included) wait here, each account's in its own
//! queue, and are handed to the controller one account after the other, while the reconciles
//! running and those handed and not started yet are fewer than [`Pace::new`]'s limit (seven
//! eighths of the controller's slots). Every account's first policy is then reached in the
//! first seconds, and the controller always has slots free: a policy coming back for its turn
//! on its account's limit, or woken for it, starts at once instead of waiting in kube-runtime's
//! set (where, with every slot busy, policies put back came back up to 15 s late and lost their
//! turn). A trigger for a policy that is waiting here or handed already adds nothing (its
//! reconcile reads the cache as it is then), so the other triggers skip them
//! ([`Pace::holds`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::task::AtomicWaker;
use futures::{Stream, StreamExt};
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::time::Instant;

use super::AccountKey;
use super::guard::Parsed;
use super::policy::PolicyKind;

/// How long a policy handed to the controller counts against the limit if its reconcile does
/// not start (it was deleted, say): the hand-over is never held up longer.
const HANDED_FOR: Duration = Duration::from_secs(5);

/// A policy by namespace and name.
type Key = (String, String);

/// One controller's policies waiting to be handed to it (see the module's documentation).
pub struct Pace {
    limit: usize,
    state: std::sync::Mutex<State>,
    /// The hand-over stream, woken when a policy handed starts.
    waker: AtomicWaker,
}

#[derive(Default)]
struct State {
    /// Each account's waiting policies, oldest first (invalid policies under `None`). Those no
    /// longer in `waiting` started meanwhile, and are skipped when their turn comes.
    queues: HashMap<Option<AccountKey>, VecDeque<Key>>,
    /// The accounts with policies waiting, in turn.
    turn: VecDeque<Option<AccountKey>>,
    waiting: HashSet<Key>,
    /// Handed to the controller and not started yet, with when.
    handed: HashMap<Key, Instant>,
    /// Reconciles of this kind running now, however they came ([`Pace::started`]).
    running: usize,
}

/// What [`Pace::next`] hands over.
#[derive(Debug, PartialEq)]
enum Next {
    Hand(Key),
    /// As many running and handed as the limit: look again when one starts or ends, or at
    /// this time, when the oldest handed no longer counts.
    Full(Instant),
    Empty,
}

impl Pace {
    /// At most `limit` reconciles running and handed to the controller and not started yet
    /// (at least one).
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            state: std::sync::Mutex::default(),
            waker: AtomicWaker::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets everything (a new run of the controller).
    pub fn clear(&self) {
        *self.state() = State::default();
    }

    /// `key` of `account` waits for its turn, unless it is waiting or handed already.
    fn push(&self, account: Option<AccountKey>, key: Key) {
        let mut st = self.state();
        if st.waiting.contains(&key) || st.handed.contains_key(&key) {
            return;
        }
        st.waiting.insert(key.clone());
        match st.queues.get_mut(&account) {
            Some(queue) => queue.push_back(key),
            None => {
                st.queues.insert(account.clone(), VecDeque::from([key]));
                st.turn.push_back(account);
            }
        }
    }

    /// The next policy to hand over at `now`: the first waiting of the next account in turn.
    fn next(&self, now: Instant) -> Next {
        let mut st = self.state();
        st.handed.retain(|_, at| *at + HANDED_FOR > now);
        if st.handed.len() + st.running >= self.limit {
            let oldest = st.handed.values().min().copied().unwrap_or(now);
            return Next::Full(oldest + HANDED_FOR);
        }
        while let Some(account) = st.turn.pop_front() {
            let Some(queue) = st.queues.get_mut(&account) else {
                continue;
            };
            let key = queue.pop_front();
            if queue.is_empty() {
                st.queues.remove(&account);
            } else {
                st.turn.push_back(account);
            }
            let Some(key) = key else { continue };
            if st.waiting.remove(&key) {
                st.handed.insert(key.clone(), now);
                return Next::Hand(key);
            }
        }
        Next::Empty
    }

    /// The reconcile of `namespace`/`name` starts: it no longer counts as handed, and a change
    /// of it waiting here is covered by it. It counts as running until the guard is dropped.
    pub fn started(self: &Arc<Self>, namespace: &str, name: &str) -> Running {
        let key = (namespace.to_string(), name.to_string());
        let was_handed = {
            let mut st = self.state();
            st.waiting.remove(&key);
            st.running += 1;
            st.handed.remove(&key).is_some()
        };
        if was_handed {
            self.waker.wake();
        }
        Running(self.clone())
    }

    /// Whether `namespace`/`name` is waiting here or handed and not started: another trigger
    /// for it adds nothing.
    pub fn holds(&self, namespace: &str, name: &str) -> bool {
        let key = (namespace.to_string(), name.to_string());
        let st = self.state();
        st.waiting.contains(&key) || st.handed.contains_key(&key)
    }

    /// `policy` waits for its turn (see [`Pace::push`]).
    pub fn add<K: PolicyKind>(&self, policy: &Parsed<K>) {
        let meta = kube::Resource::meta(policy);
        self.push(
            policy.ok().map(super::policy::share_key),
            (
                meta.namespace.clone().unwrap_or_default(),
                meta.name.clone().unwrap_or_default(),
            ),
        );
    }
}

/// A reconcile counted as running (see [`Pace::started`]); its end makes room.
pub struct Running(Arc<Pace>);

impl Drop for Running {
    fn drop(&mut self) {
        let mut st = self.0.state();
        st.running = st.running.saturating_sub(1);
        drop(st);
        self.0.waker.wake();
    }
}

/// The policies of `changes`, handed over as `pace` allows, each as `store` has it then (one
/// deleted meanwhile is dropped). Ends when `changes` ends and nothing waits.
pub fn paced<K: PolicyKind>(
    pace: Arc<Pace>,
    changes: impl Stream<Item = Arc<Parsed<K>>> + Send + 'static,
    store: Store<Parsed<K>>,
) -> impl Stream<Item = Arc<Parsed<K>>> + Send + 'static {
    let mut changes = changes.boxed();
    let mut ended = false;
    let mut timer: Option<Pin<Box<tokio::time::Sleep>>> = None;
    futures::stream::poll_fn(move |cx| {
        loop {
            while !ended {
                match changes.poll_next_unpin(cx) {
                    Poll::Ready(Some(policy)) => pace.add(&policy),
                    Poll::Ready(None) => ended = true,
                    Poll::Pending => break,
                }
            }
            pace.waker.register(cx.waker());
            match pace.next(Instant::now()) {
                Next::Hand((namespace, name)) => {
                    match store.get(&ObjectRef::new(&name).within(&namespace)) {
                        Some(policy) => return Poll::Ready(Some(policy)),
                        None => drop(pace.started(&namespace, &name)),
                    }
                }
                Next::Full(until) => {
                    let sleep =
                        timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
                    sleep.as_mut().reset(until);
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                Next::Empty if ended => return Poll::Ready(None),
                Next::Empty => return Poll::Pending,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ProviderKind;

    fn account(name: &str) -> Option<AccountKey> {
        Some((ProviderKind::CloudProvider, "team".into(), name.into()))
    }

    fn key(name: &str) -> Key {
        ("team".into(), name.into())
    }

    fn handed(pace: &Pace, now: Instant) -> Vec<String> {
        std::iter::from_fn(|| match pace.next(now) {
            Next::Hand((_, name)) => Some(name),
            _ => None,
        })
        .collect()
    }

    /// Policies are handed over one account after the other, however they came.
    #[tokio::test(start_paused = true)]
    async fn policies_are_handed_over_in_turn_by_account() {
        let pace = Arc::new(Pace::new(100));
        for (a, p) in [
            ("x", "x1"),
            ("x", "x2"),
            ("x", "x3"),
            ("y", "y1"),
            ("z", "z1"),
            ("y", "y2"),
        ] {
            pace.push(account(a), key(p));
        }
        pace.push(account("x"), key("x1"));
        assert_eq!(
            handed(&pace, Instant::now()),
            ["x1", "y1", "z1", "x2", "y2", "x3"],
            "each account's first, then each one's second, ...; x1 once"
        );
    }

    /// At most the limit handed and not started; each start makes room, and one that never
    /// starts stops counting after a while.
    #[tokio::test(start_paused = true)]
    async fn at_most_the_limit_is_handed_before_their_reconciles_start() {
        let pace = Arc::new(Pace::new(2));
        for p in ["a", "b", "c", "d"] {
            pace.push(account(p), key(p));
        }
        let now = Instant::now();
        assert_eq!(handed(&pace, now), ["a", "b"]);
        assert_eq!(pace.next(now), Next::Full(now + HANDED_FOR));
        assert!(pace.holds("team", "a") && pace.holds("team", "c"));
        drop(pace.started("team", "a"));
        assert!(!pace.holds("team", "a"));
        assert_eq!(handed(&pace, now), ["c"]);
        assert_eq!(handed(&pace, now + HANDED_FOR), ["d"], "b never started");
    }

    /// Reconciles running count against the limit too, however they came (a policy requeued
    /// for its rate limit, woken for its turn): their slots are not filled with policies
    /// handed over, and one that ends makes room.
    #[tokio::test(start_paused = true)]
    async fn reconciles_running_leave_room_only_as_they_end() {
        let pace = Arc::new(Pace::new(3));
        for p in ["a", "b", "c", "d"] {
            pace.push(account(p), key(p));
        }
        let now = Instant::now();
        let requeued = pace.started("team", "other");
        let woken = pace.started("team", "another");
        assert_eq!(handed(&pace, now), ["a"], "two of three running");
        let a = pace.started("team", "a");
        assert_eq!(handed(&pace, now), Vec::<String>::new(), "three running");
        drop(requeued);
        assert_eq!(handed(&pace, now), ["b"]);
        drop((woken, a));
        assert_eq!(
            handed(&pace, now),
            ["c", "d"],
            "none running; b, handed and not started, counts"
        );
    }

    fn policy(name: &str, account: &str) -> Parsed<crate::api::FirewallPolicy> {
        Parsed(Ok(serde_json::from_value(serde_json::json!({
            "apiVersion": "perimeter.dev/v1alpha1",
            "kind": "FirewallPolicy",
            "metadata": {"name": name, "namespace": "team", "uid": format!("uid-{name}")},
            "spec": {"providerRef": {"name": account}, "mode": "Observe",
                     "cloudflare": {"zoneId": format!("zone-{name}")}},
        }))
        .expect("policy")))
    }

    /// The stream hands the controller the changes in turn by account, as the cache has each
    /// policy, no more than the limit before their reconciles start, and drops a policy the
    /// cache no longer has.
    #[tokio::test(start_paused = true)]
    async fn the_stream_hands_over_as_reconciles_start() {
        let all = [
            ("a1", "a"),
            ("a2", "a"),
            ("a3", "a"),
            ("b1", "b"),
            ("gone", "c"),
        ];
        let store = super::super::watch::Feed::filled(
            all.iter()
                .filter(|(n, _)| *n != "gone")
                .map(|(n, a)| policy(n, a)),
        )
        .cache()
        .store();
        let pace = Arc::new(Pace::new(2));
        let (tx, rx) = futures::channel::mpsc::unbounded();
        for (n, a) in all {
            tx.unbounded_send(Arc::new(policy(n, a))).expect("open");
        }
        let mut out = paced(pace.clone(), rx, store).map(|p| kube::ResourceExt::name_any(&*p));
        let mut next = async || {
            tokio::time::timeout(Duration::from_secs(1), out.next())
                .await
                .ok()
                .flatten()
        };
        assert_eq!(next().await.as_deref(), Some("a1"));
        assert_eq!(next().await.as_deref(), Some("b1"));
        assert_eq!(next().await, None, "two handed, none started: nothing more");
        drop(pace.started("team", "b1"));
        assert_eq!(
            next().await.as_deref(),
            Some("a2"),
            "b1 started; c's policy is gone from the cache and skipped"
        );
        drop(pace.started("team", "a1"));
        drop(pace.started("team", "a2"));
        assert_eq!(next().await.as_deref(), Some("a3"));
        drop(tx);
        drop(pace.started("team", "a3"));
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(1), out.next()).await,
            Ok(None),
            "the changes ended and nothing waits: the stream ends"
        );
    }

    /// A policy whose reconcile started another way (requeued, woken) is not handed over again
    /// for a change that came before it started.
    #[tokio::test(start_paused = true)]
    async fn a_policy_reconciled_meanwhile_is_not_handed_over() {
        let pace = Arc::new(Pace::new(10));
        pace.push(account("x"), key("x1"));
        pace.push(account("x"), key("x2"));
        drop(pace.started("team", "x1"));
        assert_eq!(handed(&pace, Instant::now()), ["x2"]);
        pace.push(account("x"), key("x1"));
        assert_eq!(handed(&pace, Instant::now()), ["x1"], "a later change is");
    }
}
