//! The operator's watches: one per kind (one per kind and namespace in namespaced mode), each
//! feeding one cache that every controller reads, and the changes, which each subscribed
//! controller takes from a queue of its own. A kind is listed and watched once however many controllers use it.
//!
//! Namespaced mode (`--namespaces`) watches each listed namespace on its own and merges the
//! streams into one, so a cache looks the same as in cluster mode: it becomes ready once every
//! namespace has been listed, and a namespace that relists later only adds, changes and deletes
//! its own objects.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use kube::core::NamespaceResourceScope;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch_api};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

/// Which namespaces the operator serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace (a ClusterRole grants the access).
    Cluster,
    /// Only these (Roles in each grant the access).
    Namespaces(BTreeSet<String>),
}

impl Scope {
    /// `[]` means cluster-wide.
    pub fn from_list(names: &[String]) -> Self {
        let set: BTreeSet<String> = names
            .iter()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        if set.is_empty() {
            Self::Cluster
        } else {
            Self::Namespaces(set)
        }
    }

    pub fn covers(&self, namespace: &str) -> bool {
        match self {
            Self::Cluster => true,
            Self::Namespaces(set) => set.contains(namespace),
        }
    }

    /// The scope plus one namespace (the operator's own, for shared credentials).
    pub fn with(&self, namespace: &str) -> Self {
        match self {
            Self::Cluster => Self::Cluster,
            Self::Namespaces(set) => {
                let mut set = set.clone();
                set.insert(namespace.to_string());
                Self::Namespaces(set)
            }
        }
    }
}

type Events<K> = BoxStream<'static, Result<Event<K>, watcher::Error>>;

/// Watch events of a namespaced kind over `scope`, as one stream.
pub fn namespaced<K>(client: &Client, scope: &Scope, config: watcher::Config) -> Events<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + DeserializeOwned
        + Send
        + 'static,
{
    match scope {
        Scope::Cluster => watch_api(Api::<K>::all(client.clone()), config)
            .default_backoff()
            .modify(slim)
            .boxed(),
        Scope::Namespaces(names) => {
            let streams = names.iter().map(|ns| {
                let ns = ns.clone();
                watch_api(Api::<K>::namespaced(client.clone(), &ns), config.clone())
                    .default_backoff()
                    .modify(slim)
                    .map(move |e| (ns.clone(), e))
                    .boxed()
            });
            let mut merger = Merger::new(names.iter().cloned());
            futures::stream::select_all(streams)
                .flat_map(move |(ns, e)| futures::stream::iter(merger.step(&ns, e)))
                .boxed()
        }
    }
}

/// Watch events of a cluster-scoped kind.
pub fn cluster<K>(client: &Client, config: watcher::Config) -> Events<K>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + DeserializeOwned + Send + 'static,
{
    watch_api(Api::<K>::all(client.clone()), config)
        .default_backoff()
        .modify(slim)
        .boxed()
}

/// The annotation `kubectl apply` keeps the whole applied object in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What no controller reads is not cached: `metadata.managedFields` (an entry per field
/// manager, each naming every field it set) and `kubectl apply`'s last-applied annotation (the
/// whole object again; a Secret's data in the clear). On a real API server they make up much of
/// a small object. Nothing writes a cached object back whole (status is applied server-side,
/// finalizers are merge patches), so nothing is lost on the server.
fn slim<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
}

/// Merges per-namespace watch streams into the event sequence of one cluster-wide watch.
struct Merger<K: Resource<DynamicType = ()>> {
    /// Namespaces not listed yet; the merged stream's first list ends when this is empty.
    pending: BTreeSet<String>,
    /// Objects per namespace: the first list while it is built, then what was last sent.
    known: HashMap<String, HashMap<ObjectRef<K>, K>>,
    /// A namespace's relist after the first list, while it is read.
    relisting: HashMap<String, HashMap<ObjectRef<K>, K>>,
    listed: bool,
}

impl<K> Merger<K>
where
    K: Resource<DynamicType = ()> + Clone,
{
    fn new(namespaces: impl Iterator<Item = String>) -> Self {
        Self {
            pending: namespaces.collect(),
            known: HashMap::new(),
            relisting: HashMap::new(),
            listed: false,
        }
    }

    fn step(
        &mut self,
        ns: &str,
        event: Result<Event<K>, watcher::Error>,
    ) -> Vec<Result<Event<K>, watcher::Error>> {
        let event = match event {
            Ok(e) => e,
            Err(e) => return vec![Err(e)],
        };
        if !self.listed {
            let objects = self.known.entry(ns.to_string()).or_default();
            match event {
                Event::Init => {
                    objects.clear();
                    self.pending.insert(ns.to_string());
                }
                Event::InitApply(o) | Event::Apply(o) => {
                    objects.insert(ObjectRef::from_obj(&o), o);
                }
                Event::Delete(o) => {
                    objects.remove(&ObjectRef::from_obj(&o));
                }
                Event::InitDone => {
                    self.pending.remove(ns);
                }
            }
            if !self.pending.is_empty() {
                return Vec::new();
            }
            self.listed = true;
            let mut out = vec![Ok(Event::Init)];
            out.extend(
                self.known
                    .values()
                    .flat_map(|m| m.values().cloned())
                    .map(|o| Ok(Event::InitApply(o))),
            );
            out.push(Ok(Event::InitDone));
            return out;
        }
        match event {
            Event::Init => {
                self.relisting.insert(ns.to_string(), HashMap::new());
                Vec::new()
            }
            Event::InitApply(o) => {
                self.relisting
                    .entry(ns.to_string())
                    .or_default()
                    .insert(ObjectRef::from_obj(&o), o);
                Vec::new()
            }
            Event::InitDone => {
                let fresh = self.relisting.remove(ns).unwrap_or_default();
                let old = self
                    .known
                    .insert(ns.to_string(), fresh.clone())
                    .unwrap_or_default();
                let mut out: Vec<_> = fresh.into_values().map(|o| Ok(Event::Apply(o))).collect();
                let current = &self.known[ns];
                out.extend(
                    old.into_iter()
                        .filter(|(r, _)| !current.contains_key(r))
                        .map(|(_, o)| Ok(Event::Delete(o))),
                );
                out
            }
            Event::Apply(o) => {
                self.known
                    .entry(ns.to_string())
                    .or_default()
                    .insert(ObjectRef::from_obj(&o), o.clone());
                vec![Ok(Event::Apply(o))]
            }
            Event::Delete(o) => {
                if let Some(m) = self.known.get_mut(ns) {
                    m.remove(&ObjectRef::from_obj(&o));
                }
                vec![Ok(Event::Delete(o))]
            }
        }
    }
}

/// A change seen by a [`Feed`]'s subscribers.
#[derive(Debug)]
pub enum Change<K> {
    Applied(Arc<K>),
    Deleted(Arc<K>),
}

impl<K> Clone for Change<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Applied(o) => Self::Applied(o.clone()),
            Self::Deleted(o) => Self::Deleted(o.clone()),
        }
    }
}

impl<K> Change<K> {
    pub fn object(&self) -> &Arc<K> {
        match self {
            Self::Applied(o) | Self::Deleted(o) => o,
        }
    }
}

/// What a subscriber has not taken yet of one object: its latest change, and whether it was
/// deleted before that (a deletion then a re-creation is passed on as both, so that a
/// subscriber keyed on, e.g., the generation sees the new object as new).
enum Slot<K> {
    Change(Change<K>),
    DeletedThenApplied(Arc<K>, Arc<K>),
}

impl<K> Slot<K> {
    fn merge(self, next: Change<K>) -> Self {
        match (self, next) {
            (Self::Change(Change::Deleted(gone)), Change::Applied(o))
            | (Self::DeletedThenApplied(gone, _), Change::Applied(o)) => {
                Self::DeletedThenApplied(gone, o)
            }
            (_, next) => Self::Change(next),
        }
    }

    fn into_changes(self) -> impl Iterator<Item = Change<K>> {
        let (first, second) = match self {
            Self::Change(c) => (c, None),
            Self::DeletedThenApplied(gone, o) => (Change::Deleted(gone), Some(Change::Applied(o))),
        };
        std::iter::once(first).chain(second)
    }
}

/// One subscriber's changes not taken yet, at most one slot per object: a subscriber that
/// falls behind finds each object's latest change, never a backlog longer than the cache.
struct Queue<K: Resource<DynamicType = ()>> {
    pending: std::sync::Mutex<Pending<K>>,
    ready: tokio::sync::Notify,
}

struct Pending<K: Resource<DynamicType = ()>> {
    /// Objects in the order their first untaken change came.
    order: std::collections::VecDeque<ObjectRef<K>>,
    slots: HashMap<ObjectRef<K>, Slot<K>>,
    closed: bool,
}

impl<K: Resource<DynamicType = ()>> Queue<K> {
    fn new() -> Self {
        Self {
            pending: std::sync::Mutex::new(Pending {
                order: std::collections::VecDeque::new(),
                slots: HashMap::new(),
                closed: false,
            }),
            ready: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending<K>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, change: Change<K>) {
        {
            let mut p = self.lock();
            let r = ObjectRef::from_obj(&**change.object());
            let slot = match p.slots.remove(&r) {
                Some(slot) => slot.merge(change),
                None => {
                    p.order.push_back(r.clone());
                    Slot::Change(change)
                }
            };
            p.slots.insert(r, slot);
        }
        // One consumer: a permit is kept if it is not waiting yet.
        self.ready.notify_one();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// Every change not taken yet, waiting for one; `None` once closed and empty.
    async fn take(&self) -> Option<Vec<Change<K>>> {
        loop {
            {
                let mut p = self.lock();
                if !p.order.is_empty() {
                    let order = std::mem::take(&mut p.order);
                    let mut slots = std::mem::take(&mut p.slots);
                    return Some(
                        order
                            .into_iter()
                            .filter_map(|r| slots.remove(&r))
                            .flat_map(Slot::into_changes)
                            .collect(),
                    );
                }
                if p.closed {
                    return None;
                }
            }
            self.ready.notified().await;
        }
    }

    fn pending(&self) -> usize {
        self.lock().slots.len()
    }
}

type Subscribers<K> = std::sync::Mutex<Vec<std::sync::Weak<Queue<K>>>>;

/// One kind's cache and its changes, passed to each subscriber through its own [`Queue`].
/// Lives as long as the process (a standby keeps its caches warm); controllers subscribe each
/// time they start.
pub struct Feed<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store: Store<K>,
    writer: std::sync::Mutex<Option<reflector::store::Writer<K>>>,
    subscribers: Subscribers<K>,
    /// `true` from the first complete list on (see [`Cache::listed`]).
    listed: tokio::sync::watch::Sender<bool>,
}

/// A cache as its readers see it: the objects, and whether the first list has come.
///
/// Readers wait for the first list here, never through `Store::wait_until_ready`: in
/// kube-runtime 5.0 that wakes only the last of several tasks waiting together (its
/// `DelayedInit` polls one oneshot receiver, which keeps one waker), so every other one slept
/// until its own timeout polled it again. At start-up the first 64 reconciles of a controller
/// slept 30 s that way (10,000-policy syncs of 80-98 s instead of about 60), and a wait whose
/// timeout came first took the "not listed" path.
pub struct Cache<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store: Store<K>,
    listed: tokio::sync::watch::Receiver<bool>,
}

impl<K> Clone for Cache<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            listed: self.listed.clone(),
        }
    }
}

impl<K> Cache<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    /// Waits, at most `limit`, for the cache's first complete list; whether it has come. Every
    /// waiter is woken when it comes.
    pub async fn listed(&self, limit: std::time::Duration) -> bool {
        let mut listed = self.listed.clone();
        matches!(
            tokio::time::timeout(limit, listed.wait_for(|l| *l)).await,
            Ok(Ok(_))
        )
    }

    pub fn get(&self, key: &ObjectRef<K>) -> Option<Arc<K>> {
        self.store.get(key)
    }

    pub fn state(&self) -> Vec<Arc<K>> {
        self.store.state()
    }

    /// The kube-runtime store, for a `Controller` (which reads it, and never waits on it).
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }
}

impl<K> Feed<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    pub fn new() -> Self {
        let (store, writer) = reflector::store::<K>();
        Self {
            store,
            writer: std::sync::Mutex::new(Some(writer)),
            subscribers: std::sync::Mutex::new(Vec::new()),
            listed: tokio::sync::watch::Sender::new(false),
        }
    }

    /// A cache already filled with `objects` and never driven (tests, tools).
    pub fn filled(objects: impl IntoIterator<Item = K>) -> Self {
        let feed = Self::new();
        if let Some(mut writer) = feed.take_writer() {
            writer.apply_watcher_event(&Event::Init);
            for o in objects {
                writer.apply_watcher_event(&Event::InitApply(o));
            }
            writer.apply_watcher_event(&Event::InitDone);
            feed.listed.send_replace(true);
        }
        feed
    }

    fn take_writer(&self) -> Option<reflector::store::Writer<K>> {
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    fn subscribers(&self) -> std::sync::MutexGuard<'_, Vec<std::sync::Weak<Queue<K>>>> {
        self.subscribers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cache, for reading.
    pub fn cache(&self) -> Cache<K> {
        Cache {
            store: self.store.clone(),
            listed: self.listed.subscribe(),
        }
    }

    /// Every object cached now, then every change. A subscriber that is slower than the watch
    /// is never resynced: it gets each object's latest change (a change that came while the
    /// object's previous one was not taken yet replaces it), so what it has to catch up on is
    /// bounded by the number of objects, however many changes there were.
    pub fn subscribe(&self) -> impl Stream<Item = Change<K>> + Send + 'static {
        let queue = Arc::new(Queue::new());
        {
            // The cache is read under the subscribers' lock: a change applied after this read
            // is sent after the queue is registered, so none is missed.
            let mut subscribers = self.subscribers();
            subscribers.retain(|s| s.strong_count() > 0);
            subscribers.push(Arc::downgrade(&queue));
            for o in self.store.state() {
                queue.push(Change::Applied(o));
            }
        }
        futures::stream::unfold(queue, |queue| async move {
            let batch = queue.take().await?;
            Some((futures::stream::iter(batch), queue))
        })
        .flatten()
    }

    /// The changes subscribers have not taken yet, summed (at most the cached objects each).
    pub fn backlog(&self) -> usize {
        self.subscribers()
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .map(|q| q.pending())
            .sum()
    }

    fn send(&self, change: Change<K>) {
        // No subscriber is not an error: controllers subscribe and leave as leadership moves.
        let mut subscribers = self.subscribers();
        subscribers.retain(|s| match s.upgrade() {
            Some(q) => {
                q.push(change.clone());
                true
            }
            None => false,
        });
    }

    /// Applies the watch events to the cache and passes on what changed to every subscriber,
    /// until the stream ends. Deletions seen only as a relist are passed on as deletions too. Only the first
    /// call does anything (a cache has one writer).
    pub async fn run(&self, mut events: Events<K>) {
        let Some(mut writer) = self.take_writer() else {
            return;
        };
        // The listed objects' references: what the cache has for them is sent once the list is
        // complete (the cache's own copy, not a second one per object).
        let mut listing: Vec<ObjectRef<K>> = Vec::new();
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(kind = %K::kind(&()), error = %e, "watch failed; retrying");
                    continue;
                }
            };
            match &event {
                Event::Init => listing.clear(),
                Event::InitApply(o) => listing.push(ObjectRef::from_obj(o)),
                _ => {}
            }
            let before: Vec<Arc<K>> = if matches!(event, Event::InitDone) {
                self.store.state()
            } else {
                Vec::new()
            };
            writer.apply_watcher_event(&event);
            match event {
                // The object as the cache now holds it: subscribers share the cache's copy.
                Event::Apply(o) => {
                    let cached = self.store.get(&ObjectRef::from_obj(&o));
                    self.send(Change::Applied(cached.unwrap_or_else(|| Arc::new(o))));
                }
                Event::Delete(o) => self.send(Change::Deleted(Arc::new(o))),
                Event::InitDone => {
                    self.listed.send_replace(true);
                    let now: std::collections::HashSet<&ObjectRef<K>> = listing.iter().collect();
                    for gone in before
                        .into_iter()
                        .filter(|o| !now.contains(&ObjectRef::from_obj(&**o)))
                    {
                        self.send(Change::Deleted(gone));
                    }
                    for cached in listing.drain(..).filter_map(|r| self.store.get(&r)) {
                        self.send(Change::Applied(cached));
                    }
                }
                Event::Init | Event::InitApply(_) => {}
            }
        }
    }
}

impl<K> Drop for Feed<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    fn drop(&mut self) {
        let subscribers = self
            .subscribers
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for q in subscribers.iter().filter_map(std::sync::Weak::upgrade) {
            q.close();
        }
    }
}

impl<K> Default for Feed<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

/// Passes on an applied object only when `key` of it changed since it was last passed on
/// (e.g. its generation: status writes do not trigger), and forgets deleted objects.
pub fn when_changed<K, T>(
    changes: impl Stream<Item = Change<K>> + Send + 'static,
    key: fn(&K) -> T,
) -> impl Stream<Item = Arc<K>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Send + Sync + 'static,
    T: PartialEq + Send + 'static,
{
    let mut seen: HashMap<ObjectRef<K>, T> = HashMap::new();
    changes.filter_map(move |change| {
        let out = match change {
            Change::Applied(o) => {
                let r = ObjectRef::from_obj(&*o);
                let k = key(&o);
                if seen.get(&r) == Some(&k) {
                    None
                } else {
                    seen.insert(r, k);
                    Some(o)
                }
            }
            Change::Deleted(o) => {
                seen.remove(&ObjectRef::from_obj(&*o));
                None
            }
        };
        futures::future::ready(out)
    })
}

/// Any change, as the object (for controllers that re-evaluate on deletions too).
pub fn any_change<K>(
    changes: impl Stream<Item = Change<K>> + Send + 'static,
) -> impl Stream<Item = Arc<K>> + Send + 'static
where
    K: Send + Sync + 'static,
{
    changes.map(|c| match c {
        Change::Applied(o) | Change::Deleted(o) => o,
    })
}

/// The shape `Controller::watches_stream` takes.
pub fn as_watch_results<K>(
    objects: impl Stream<Item = Arc<K>> + Send + 'static,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Clone + Send + Sync + 'static,
{
    objects.map(|o| Ok((*o).clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    fn cm(ns: &str, name: &str, v: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                resource_version: Some(v.into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    fn names(events: &[Result<Event<ConfigMap>, watcher::Error>]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                Ok(Event::Init) => "Init".to_string(),
                Ok(Event::InitDone) => "InitDone".to_string(),
                Ok(Event::InitApply(o)) => {
                    format!("InitApply {}", o.metadata.name.clone().unwrap_or_default())
                }
                Ok(Event::Apply(o)) => {
                    format!("Apply {}", o.metadata.name.clone().unwrap_or_default())
                }
                Ok(Event::Delete(o)) => {
                    format!("Delete {}", o.metadata.name.clone().unwrap_or_default())
                }
                Err(_) => "Err".to_string(),
            })
            .collect()
    }

    /// The merged stream is ready only when every namespace was listed; a later relist of one
    /// namespace changes only that namespace's objects.
    #[test]
    fn cached_objects_keep_neither_managed_fields_nor_the_last_applied_copy() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
        let mut applied = cm("a", "x", "1");
        applied.metadata.managed_fields = Some(vec![ManagedFieldsEntry {
            manager: Some("kubectl".into()),
            ..Default::default()
        }]);
        applied.metadata.annotations = Some(
            [
                (LAST_APPLIED.to_string(), "{\"data\":{}}".to_string()),
                (
                    super::super::SKIP_CLEANUP_ANNOTATION.to_string(),
                    "skip".to_string(),
                ),
            ]
            .into(),
        );
        slim(&mut applied);
        assert_eq!(applied.metadata.managed_fields, None);
        assert_eq!(
            applied.metadata.annotations,
            Some(
                [(
                    super::super::SKIP_CLEANUP_ANNOTATION.to_string(),
                    "skip".to_string()
                )]
                .into()
            ),
            "other annotations stay"
        );
        let data = Some([("k".to_string(), "v".to_string())].into());
        let mut only_last_applied = cm("a", "y", "1");
        only_last_applied.data = data.clone();
        only_last_applied.metadata.annotations =
            Some([(LAST_APPLIED.to_string(), "{}".to_string())].into());
        slim(&mut only_last_applied);
        assert_eq!(only_last_applied.metadata.annotations, None);
        assert_eq!(
            only_last_applied.data, data,
            "the object itself is untouched"
        );
        assert_eq!(only_last_applied.metadata.name.as_deref(), Some("y"));
    }

    #[test]
    fn namespaces_merge_into_one_watch() {
        let mut m = Merger::<ConfigMap>::new(["a".to_string(), "b".to_string()].into_iter());
        let mut out = Vec::new();
        for (ns, e) in [
            ("a", Event::Init),
            ("a", Event::InitApply(cm("a", "a1", "1"))),
            ("b", Event::Init),
            ("a", Event::InitDone),
            ("a", Event::Apply(cm("a", "a2", "2"))),
            ("b", Event::InitApply(cm("b", "b1", "3"))),
        ] {
            out.extend(m.step(ns, Ok(e)));
        }
        assert!(
            out.is_empty(),
            "nothing before b is listed: {:?}",
            names(&out)
        );
        let out = m.step("b", Ok(Event::InitDone));
        let mut got = names(&out);
        got[1..4].sort();
        assert_eq!(
            got,
            [
                "Init",
                "InitApply a1",
                "InitApply a2",
                "InitApply b1",
                "InitDone"
            ]
        );
        // b relists without b1 but with b2; a is untouched.
        let mut out = Vec::new();
        for e in [
            Event::Init,
            Event::InitApply(cm("b", "b2", "4")),
            Event::InitDone,
        ] {
            out.extend(m.step("b", Ok(e)));
        }
        assert_eq!(names(&out), ["Apply b2", "Delete b1"]);
        assert_eq!(
            names(&m.step("a", Ok(Event::Delete(cm("a", "a1", "5"))))),
            ["Delete a1"]
        );
    }

    fn labels(changes: &[Change<ConfigMap>]) -> Vec<String> {
        changes
            .iter()
            .map(|c| {
                let kind = match c {
                    Change::Applied(_) => "+",
                    Change::Deleted(_) => "-",
                };
                let o = &c.object().metadata;
                format!(
                    "{kind}{}@{}",
                    o.name.clone().unwrap_or_default(),
                    o.resource_version.clone().unwrap_or_default()
                )
            })
            .collect()
    }

    /// Read as they come, a subscriber sees every change, deletions found by a relist too.
    #[tokio::test]
    async fn a_feed_passes_on_changes_and_deletions_found_by_a_relist() {
        let feed = Feed::<ConfigMap>::new();
        let store = feed.cache();
        let mut sub = Box::pin(feed.subscribe());
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let steps: [(Vec<Event<ConfigMap>>, &[&str]); 3] = [
            (
                vec![
                    Event::Init,
                    Event::InitApply(cm("a", "x", "1")),
                    Event::InitApply(cm("a", "y", "1")),
                    Event::InitDone,
                ],
                &["+x@1", "+y@1"],
            ),
            (vec![Event::Apply(cm("a", "x", "2"))], &["+x@2"]),
            (
                vec![
                    Event::Init,
                    Event::InitApply(cm("a", "x", "2")),
                    Event::InitDone,
                ],
                &["-y@1", "+x@2"],
            ),
        ];
        let driver = async {
            for (events, want) in steps {
                for e in events {
                    tx.unbounded_send(Ok(e)).unwrap();
                }
                let mut got = Vec::new();
                while got.len() < want.len() {
                    got.push(sub.next().await.unwrap());
                }
                assert_eq!(labels(&got), want);
            }
            drop(tx);
        };
        tokio::join!(feed.run(rx.boxed()), driver);
        // A late subscriber starts from the cache.
        let late: Vec<_> = feed.subscribe().take(1).collect().await;
        assert_eq!(labels(&late), ["+x@2"]);
        assert_eq!(store.state().len(), 1);
    }

    /// Every reader waiting for a cache's first list is woken when it comes, however many wait
    /// together. kube-runtime's `Store::wait_until_ready` wakes only the last of them: the
    /// others return when their own timeout polls them again (so this test reads the clock,
    /// tokio's paused one, which moves only when every task is waiting). A cache that never
    /// lists says so after the limit.
    #[tokio::test(start_paused = true)]
    async fn every_reader_waiting_for_the_first_list_is_woken() {
        use tokio::time::{Duration, Instant};
        let feed = Arc::new(Feed::<ConfigMap>::new());
        let limit = Duration::from_secs(30);
        let waiters: Vec<_> = (0..64)
            .map(|_| {
                let cache = feed.cache();
                tokio::spawn(async move { (cache.listed(limit).await, Instant::now()) })
            })
            .collect();
        // Every waiter is waiting before the list comes.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!feed.cache().listed(Duration::ZERO).await);
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let running = feed.clone();
        let driver = tokio::spawn(async move { running.run(rx.boxed()).await });
        let listed_at = Instant::now();
        for e in [
            Event::Init,
            Event::InitApply(cm("a", "x", "1")),
            Event::InitDone,
        ] {
            tx.unbounded_send(Ok(e)).expect("send");
        }
        let mut late = 0;
        for w in waiters {
            let (listed, at) = w.await.expect("waiter");
            assert!(listed);
            late += usize::from(at > listed_at);
        }
        assert_eq!(late, 0, "waiters woken only by their own timeout");
        assert_eq!(feed.cache().state().len(), 1);
        drop(tx);
        driver.await.expect("feed");

        let never = Feed::<ConfigMap>::new();
        let asked = Instant::now();
        assert!(!never.cache().listed(limit).await);
        assert_eq!(asked.elapsed(), limit);
    }

    /// A subscriber gets the cache's own copy of a listed or changed object, not one of its own.
    #[tokio::test]
    async fn subscribers_share_the_caches_copy() {
        let feed = Feed::<ConfigMap>::new();
        let store = feed.cache();
        let mut sub = Box::pin(feed.subscribe());
        let (tx, rx) = futures::channel::mpsc::unbounded();
        for e in [
            Event::Init,
            Event::InitApply(cm("a", "x", "1")),
            Event::InitDone,
            Event::Apply(cm("a", "y", "1")),
        ] {
            tx.unbounded_send(Ok(e)).unwrap();
        }
        drop(tx);
        feed.run(rx.boxed()).await;
        for _ in 0..2 {
            let Some(Change::Applied(o)) = sub.next().await else {
                panic!("an applied object");
            };
            let cached = store.get(&ObjectRef::from_obj(&*o)).expect("cached");
            assert!(Arc::ptr_eq(&o, &cached), "{:?}", o.metadata.name);
        }
    }

    /// A subscriber that is slower than the watch (here: not reading at all while a fleet
    /// larger than the old broadcast's 4,096 is listed and then changed) finds each object's
    /// latest change once: no resync, no backlog longer than the cache.
    #[tokio::test]
    async fn a_slow_subscriber_gets_each_objects_latest_change_and_no_resync() {
        const N: usize = 10_000;
        let feed = Feed::<ConfigMap>::new();
        let sub = feed.subscribe();
        let mut events = vec![Event::Init];
        events.extend((0..N).map(|i| Event::InitApply(cm("a", &format!("p{i}"), "1"))));
        events.push(Event::InitDone);
        events.extend((0..N).map(|i| Event::Apply(cm("a", &format!("p{i}"), "2"))));
        feed.run(futures::stream::iter(events.into_iter().map(Ok)).boxed())
            .await;
        assert_eq!(feed.backlog(), N);
        let mut sub = Box::pin(sub);
        let first = sub.next().await.unwrap();
        assert_eq!(feed.backlog(), 0, "taken at once");
        // Dropping the feed ends the subscription once it is read out.
        drop(feed);
        let mut got = vec![first];
        got.extend(sub.collect::<Vec<_>>().await);
        let want: Vec<String> = (0..N).map(|i| format!("+p{i}@2")).collect();
        assert_eq!(
            labels(&got),
            want,
            "in the order first changed, each at its latest"
        );
    }

    /// Changes to one object that wait together: a deletion wins over what came before it, and
    /// a re-creation after a deletion is passed on as both.
    #[tokio::test]
    async fn waiting_changes_to_one_object_keep_deletions_and_recreations() {
        let feed = Feed::<ConfigMap>::new();
        let sub = feed.subscribe();
        let events = [
            Event::Init,
            Event::InitApply(cm("a", "x", "1")),
            Event::InitApply(cm("a", "y", "1")),
            Event::InitDone,
            Event::Apply(cm("a", "x", "2")),
            Event::Delete(cm("a", "x", "3")),
            Event::Delete(cm("a", "y", "4")),
            Event::Apply(cm("a", "y", "5")),
            Event::Apply(cm("a", "y", "6")),
        ];
        feed.run(futures::stream::iter(events.map(Ok)).boxed())
            .await;
        drop(feed);
        let got = labels(&sub.collect::<Vec<_>>().await);
        assert_eq!(got, ["-x@3", "-y@4", "+y@6"]);
    }
}
