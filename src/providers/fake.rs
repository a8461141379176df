//! An in-memory [`Provider`] over the neutral model, with scripted faults, for tests of
//! everything above the trait (the sync pipeline, metrics, status) without HTTP.
//!
//! The fake holds a [`State`]. `observe` returns the sections the target declares (and only
//! those, as real providers do: an undeclared section is never read), `apply` carries out each
//! [`Change`] against the held state, in order, using the target's desired items. Faults are
//! scripted per operation with [`Fake::with_fault`] / [`Fake::script`]:
//!
//! ```text
//! let fake = Fake::new(observed_state)
//!     .with_fault(Op::Apply, When::Always, Fault::FailAfter(1, Category::WriteRejected))
//!     .with_fault(Op::Observe, When::AfterApply, Fault::Fail(Category::Throttled));
//! ```
//!
//! Calls are counted when they start (also those a deadline then cuts short), so a test can
//! assert "nothing written in Observe" or "one read when in sync".

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use super::{ApplyError, Finding, Observation, Provider, Target};
use crate::api::ProviderType;
use crate::core::{Change, Item, Section, SectionKind, State};
use crate::error::{Category, ProviderError};

/// An operation of the [`Provider`] trait a fault can be attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Resolve,
    Verify,
    Observe,
    Apply,
}

/// Which calls of an operation a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Every call.
    Always,
    /// The next call only; the fault is then spent.
    Once,
    /// The n-th call of the operation (1-based, counted over the fake's life).
    Call(usize),
    /// A read that follows a write attempt (the confirming read of a sync). Observe only.
    AfterApply,
}

/// What happens to a call a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with this category and changes nothing.
    Fail(Category),
    /// Apply only: the first `k` changes of the plan are carried out, then the call fails
    /// (`ApplyError::applied` lists those `k`; all of them when the plan is shorter).
    /// `FailAfter(0, c)` is `Fail(c)`.
    FailAfter(usize, Category),
    /// The call waits this long before doing anything (a provider that hangs). Not for
    /// `Resolve`, which is synchronous.
    Delay(Duration),
    /// The call takes effect, then waits this long before answering (a write that landed
    /// but whose answer came too late). Not for `Resolve`.
    LateAnswer(Duration),
}

/// Calls made so far, counted when they start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Calls {
    pub resolve: usize,
    pub verify: usize,
    pub observe: usize,
    pub apply: usize,
    /// Changes carried out against the held state (over all apply calls).
    pub changes: usize,
}

#[derive(Debug)]
struct Scripted {
    op: Op,
    when: When,
    fault: Fault,
    spent: bool,
}

#[derive(Debug, Default)]
struct Inner {
    state: State,
    findings: Vec<Finding>,
    revision: Option<String>,
    faults: Vec<Scripted>,
    calls: Calls,
    plans: Vec<Vec<Change>>,
    /// A write was attempted since the last read.
    wrote: bool,
    next_handle: u64,
}

/// The faults that apply to one call, resolved when the call starts.
#[derive(Debug, Default)]
struct Plan {
    delay: Duration,
    late: Duration,
    /// `(changes carried out before failing, category)`.
    fail: Option<(usize, Category)>,
}

/// An in-memory provider account; see the module documentation.
#[derive(Debug)]
pub struct Fake {
    provider_type: ProviderType,
    inner: Mutex<Inner>,
}

impl Fake {
    /// A Cloudflare-typed account holding `state`.
    pub fn new(state: State) -> Self {
        Self {
            provider_type: ProviderType::Cloudflare,
            inner: Mutex::new(Inner {
                state,
                ..Inner::default()
            }),
        }
    }

    pub fn of_type(mut self, provider_type: ProviderType) -> Self {
        self.provider_type = provider_type;
        self
    }

    /// Findings every read reports besides the state (e.g. `WorldOpenIngress`).
    pub fn with_findings(self, findings: Vec<Finding>) -> Self {
        self.set_findings(findings);
        self
    }

    pub fn with_fault(self, op: Op, when: When, fault: Fault) -> Self {
        self.script(op, when, fault);
        self
    }

    /// Adds a fault from now on (between two syncs of a test, for example).
    pub fn script(&self, op: Op, when: When, fault: Fault) {
        self.lock().faults.push(Scripted {
            op,
            when,
            fault,
            spent: false,
        });
    }

    /// Removes every scripted fault (the provider recovers).
    pub fn heal(&self) {
        self.lock().faults.clear();
    }

    /// The state held now (what a later read would see, before any fault).
    pub fn state(&self) -> State {
        self.lock().state.clone()
    }

    /// Replaces the held state, as someone editing the account by hand would.
    pub fn set_state(&self, state: State) {
        self.lock().state = state;
    }

    pub fn set_findings(&self, findings: Vec<Finding>) {
        self.lock().findings = findings;
    }

    /// The provider's revision every read reports (see [`Observation::revision`]).
    pub fn set_revision(&self, revision: Option<&str>) {
        self.lock().revision = revision.map(str::to_string);
    }

    pub fn calls(&self) -> Calls {
        self.lock().calls
    }

    /// Every plan passed to `apply`, in call order.
    pub fn plans(&self) -> Vec<Vec<Change>> {
        self.lock().plans.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A test that panicked while holding the lock leaves plain data behind; keep using it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    /// Counts the call and resolves the faults that apply to it.
    fn start(&mut self, op: Op) -> Plan {
        let calls = &mut self.calls;
        let n = match op {
            Op::Resolve => &mut calls.resolve,
            Op::Verify => &mut calls.verify,
            Op::Observe => &mut calls.observe,
            Op::Apply => &mut calls.apply,
        };
        *n += 1;
        let n = *n;
        let after_write = match op {
            Op::Observe => std::mem::take(&mut self.wrote),
            Op::Apply => {
                self.wrote = true;
                false
            }
            Op::Resolve | Op::Verify => false,
        };
        let mut plan = Plan::default();
        for s in self.faults.iter_mut().filter(|s| s.op == op && !s.spent) {
            let applies = match s.when {
                When::Always => true,
                When::Once => {
                    s.spent = true;
                    true
                }
                When::Call(k) => k == n,
                When::AfterApply => after_write,
            };
            if !applies {
                continue;
            }
            match s.fault {
                Fault::Fail(c) => {
                    plan.fail.get_or_insert((0, c));
                }
                Fault::FailAfter(k, c) => {
                    plan.fail.get_or_insert((k, c));
                }
                Fault::Delay(d) => plan.delay += d,
                Fault::LateAnswer(d) => plan.late += d,
            }
        }
        plan
    }

    fn observe(&self, target: &Target) -> Observation {
        let mut state = State::default();
        for declared in &target.desired.sections {
            state.push(
                self.state
                    .section(&declared.name)
                    .cloned()
                    .unwrap_or_else(|| {
                        Section::new(declared.name.clone(), declared.kind, Vec::new())
                    }),
            );
        }
        Observation {
            state,
            findings: self.findings.clone(),
            revision: self.revision.clone(),
            ..Default::default()
        }
    }

    /// Carries out one change with the target's desired items.
    fn change(&mut self, target: &Target, change: &Change) -> Result<(), ProviderError> {
        let refused = |why: String| ProviderError::new(Category::WriteRejected, "apply", why);
        let name = change.section();
        let wanted = target.desired.section(name);
        let desired_item = |key: &str| {
            wanted
                .and_then(|s| s.get(key))
                .ok_or_else(|| refused(format!("{name}[{key}] is not declared")))
        };
        if matches!(change, Change::Create { .. }) && self.state.section(name).is_none() {
            let kind = wanted.map_or(SectionKind::Unordered, |s| s.kind);
            self.state
                .push(Section::new(name.to_string(), kind, Vec::new()));
        }
        let Some(have) = self.state.sections.iter_mut().find(|s| s.name == name) else {
            return Err(refused(format!("no section {name}")));
        };
        let position = |have: &Section, key: &str| have.items.iter().position(|i| i.key == key);
        match change {
            Change::Create { key, .. } => {
                if position(have, key).is_some() {
                    return Err(refused(format!("{name}[{key}] exists already")));
                }
                self.next_handle += 1;
                let handle = format!("fake-{}", self.next_handle);
                let item = desired_item(key)?.clone().with_handle(handle);
                let at = insertion_point(wanted, have, key);
                have.items.insert(at, item);
            }
            Change::Update { key, fields, .. } => {
                let want = desired_item(key)?;
                let Some(at) = position(have, key) else {
                    return Err(refused(format!("{name}[{key}] does not exist")));
                };
                let item = &mut have.items[at];
                for field in fields {
                    match want.fields.get(field) {
                        Some(v) => item.fields.insert(field.clone(), v.clone()),
                        None => item.fields.remove(field),
                    };
                }
            }
            Change::Delete { key, .. } => {
                let Some(at) = position(have, key) else {
                    return Err(refused(format!("{name}[{key}] does not exist")));
                };
                have.items.remove(at);
            }
            Change::Reorder { .. } => {
                let Some(want) = wanted else {
                    return Err(refused(format!("{name} is not declared")));
                };
                reorder(want, have);
            }
        }
        Ok(())
    }
}

/// Where a created item goes in an ordered section: after the nearest declared item before it
/// that is present, else before the first declared item present, so that creates alone
/// converge to the declared order. Other sections append.
fn insertion_point(wanted: Option<&Section>, have: &Section, key: &str) -> usize {
    let Some(want) = wanted.filter(|w| w.kind == SectionKind::Ordered) else {
        return have.items.len();
    };
    let index_of = |k: &str| have.items.iter().position(|i| i.key == k);
    let mine = want.items.iter().position(|i| i.key == key).unwrap_or(0);
    if let Some(after) = want.items[..mine]
        .iter()
        .rev()
        .find_map(|i| index_of(&i.key))
    {
        return after + 1;
    }
    want.items[mine..]
        .iter()
        .find_map(|i| index_of(&i.key))
        .unwrap_or(have.items.len())
}

/// Puts the declared items in their declared order, in the slots they occupy; undeclared
/// items stay where they are.
fn reorder(want: &Section, have: &mut Section) {
    let rank = |item: &Item| want.items.iter().position(|w| w.key == item.key);
    let slots: Vec<usize> = (0..have.items.len())
        .filter(|&i| rank(&have.items[i]).is_some())
        .collect();
    let mut declared: Vec<Item> = slots.iter().map(|&i| have.items[i].clone()).collect();
    declared.sort_by_key(|i| rank(i));
    for (slot, item) in slots.into_iter().zip(declared) {
        have.items[slot] = item;
    }
}

fn failed(category: Category, operation: &'static str) -> ProviderError {
    ProviderError::new(category, operation, "scripted fault of the fake provider")
}

#[async_trait]
impl Provider for Fake {
    fn provider_type(&self) -> ProviderType {
        self.provider_type
    }

    async fn verify(&self) -> Result<String, ProviderError> {
        let plan = self.lock().start(Op::Verify);
        tokio::time::sleep(plan.delay).await;
        let answer = match plan.fail {
            Some((_, c)) => Err(failed(c, "verify")),
            None => Ok(format!(
                "fake account with {} section(s)",
                self.lock().state.sections.len()
            )),
        };
        tokio::time::sleep(plan.late).await;
        answer
    }

    fn resolve(&self, target: &Target) -> Result<Target, ProviderError> {
        match self.lock().start(Op::Resolve).fail {
            Some((_, c)) => Err(failed(c, "resolve")),
            None => Ok(target.clone()),
        }
    }

    async fn observe(&self, target: &Target) -> Result<Observation, ProviderError> {
        let plan = self.lock().start(Op::Observe);
        tokio::time::sleep(plan.delay).await;
        let answer = match plan.fail {
            Some((_, c)) => Err(failed(c, "observe")),
            None => Ok(self.lock().observe(target)),
        };
        tokio::time::sleep(plan.late).await;
        answer
    }

    async fn apply(
        &self,
        target: &Target,
        _observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        let faults = {
            let mut inner = self.lock();
            inner.plans.push(plan.to_vec());
            inner.start(Op::Apply)
        };
        tokio::time::sleep(faults.delay).await;
        let mut applied = Vec::new();
        let mut outcome = Ok(());
        {
            let mut inner = self.lock();
            let stop = faults.fail.map_or(usize::MAX, |(k, _)| k);
            for change in plan.iter().take(stop) {
                if let Err(e) = inner.change(target, change) {
                    outcome = Err(e);
                    break;
                }
                inner.calls.changes += 1;
                applied.push(change.describe());
            }
            if let (Ok(()), Some((_, c))) = (&outcome, faults.fail) {
                outcome = Err(failed(c, "apply"));
            }
        }
        tokio::time::sleep(faults.late).await;
        match outcome {
            Ok(()) => Ok(applied),
            Err(error) => Err(ApplyError { applied, error }),
        }
    }
}
