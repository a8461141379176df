//! The operator's watches: one per kind (one per kind and namespace in namespaced mode), each
//! feeding one cache that every controller reads, and a broadcast of changes that controllers
//! subscribe to. A kind is listed and watched once however many controllers use it.
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
use tokio::sync::broadcast;

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
            .boxed(),
        Scope::Namespaces(names) => {
            let streams = names.iter().map(|ns| {
                let ns = ns.clone();
                watch_api(Api::<K>::namespaced(client.clone(), &ns), config.clone())
                    .default_backoff()
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
        .boxed()
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

/// Changes a subscriber may fall behind by before it is sent a full resync.
const FEED_CAPACITY: usize = 4096;

/// One kind's cache and its change broadcast. Lives as long as the process (a standby keeps
/// its caches warm); controllers subscribe each time they start.
pub struct Feed<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store: Store<K>,
    writer: std::sync::Mutex<Option<reflector::store::Writer<K>>>,
    changes: broadcast::Sender<Change<K>>,
}

impl<K> Feed<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    pub fn new() -> Self {
        let (store, writer) = reflector::store::<K>();
        let (changes, _) = broadcast::channel(FEED_CAPACITY);
        Self {
            store,
            writer: std::sync::Mutex::new(Some(writer)),
            changes,
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
        }
        feed
    }

    fn take_writer(&self) -> Option<reflector::store::Writer<K>> {
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// Every object cached now, then every change. A subscriber that fell behind gets every
    /// cached object again (a resync).
    pub fn subscribe(&self) -> impl Stream<Item = Change<K>> + Send + 'static {
        let rx = self.changes.subscribe();
        let current: Vec<Change<K>> = self
            .store
            .state()
            .into_iter()
            .map(Change::Applied)
            .collect();
        let store = self.store.clone();
        let live = futures::stream::unfold((rx, store), |(mut rx, store)| async move {
            let batch = match rx.recv().await {
                Ok(change) => vec![change],
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, kind = %K::kind(&()), "a controller fell behind its watch; resyncing it");
                    store.state().into_iter().map(Change::Applied).collect()
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((futures::stream::iter(batch), (rx, store)))
        })
        .flatten();
        futures::stream::iter(current).chain(live)
    }

    /// Applies the watch events to the cache and broadcasts what changed, until the stream
    /// ends. Deletions seen only as a relist are broadcast as deletions too. Only the first
    /// call does anything (a cache has one writer).
    pub async fn run(&self, mut events: Events<K>) {
        let Some(mut writer) = self.take_writer() else {
            return;
        };
        let changes = &self.changes;
        let mut listing: Vec<Arc<K>> = Vec::new();
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
                Event::InitApply(o) => listing.push(Arc::new(o.clone())),
                _ => {}
            }
            let before: Vec<Arc<K>> = if matches!(event, Event::InitDone) {
                self.store.state()
            } else {
                Vec::new()
            };
            writer.apply_watcher_event(&event);
            // No receiver is not an error: controllers subscribe and leave as leadership moves.
            match event {
                Event::Apply(o) => {
                    let _ = changes.send(Change::Applied(Arc::new(o)));
                }
                Event::Delete(o) => {
                    let _ = changes.send(Change::Deleted(Arc::new(o)));
                }
                Event::InitDone => {
                    let now: std::collections::HashSet<ObjectRef<K>> =
                        listing.iter().map(|o| ObjectRef::from_obj(&**o)).collect();
                    for gone in before
                        .into_iter()
                        .filter(|o| !now.contains(&ObjectRef::from_obj(&**o)))
                    {
                        let _ = changes.send(Change::Deleted(gone));
                    }
                    for o in listing.drain(..) {
                        let _ = changes.send(Change::Applied(o));
                    }
                }
                Event::Init | Event::InitApply(_) => {}
            }
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

    #[tokio::test]
    async fn a_feed_broadcasts_changes_and_deletions_found_by_a_relist() {
        let feed = Feed::<ConfigMap>::new();
        let store = feed.store();
        let sub = feed.subscribe();
        let events = futures::stream::iter(
            [
                Event::Init,
                Event::InitApply(cm("a", "x", "1")),
                Event::InitApply(cm("a", "y", "1")),
                Event::InitDone,
                Event::Apply(cm("a", "x", "2")),
                Event::Init,
                Event::InitApply(cm("a", "x", "2")),
                Event::InitDone,
            ]
            .map(Ok),
        )
        .boxed();
        feed.run(events).await;
        // A late subscriber starts from the cache.
        let late: Vec<_> = feed.subscribe().take(1).collect().await;
        assert_eq!(late.len(), 1);
        let got: Vec<String> = sub
            .take(5)
            .map(|c| {
                let kind = match &c {
                    Change::Applied(_) => "+",
                    Change::Deleted(_) => "-",
                };
                format!(
                    "{kind}{}",
                    c.object().metadata.name.clone().unwrap_or_default()
                )
            })
            .collect()
            .await;
        assert_eq!(got, ["+x", "+y", "+x", "-y", "+x"]);
        assert_eq!(store.state().len(), 1);
    }
}
