//! The fault matrix: every provider with a client × {429 with a long Retry-After, 5xx,
//! timeout, malformed body, wrong shape, bad credential, a write refused part-way} ×
//! {Observe, Enforce}, each cell against the provider's stateful emulator. Every cell must
//! give: no panic, never in sync (a failed read is unknown), nothing half-written (no write
//! after a failed read; after a refused write, the emulator's state is the old one or one the
//! plan allows, and the status says what was applied), the condition reason the status will
//! carry, and no credential in the error or the status.
//!
//! `cargo test --test fault_matrix -- --nocapture` prints the matrix. A failing run lists
//! every bad cell at once. Modal has no API: its row shows a sync reads nothing.

#[path = "support/subjects.rs"]
mod subjects;
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::StreamExt;
use perimeter::api::{Mode, PolicyStatus};
use perimeter::error::Category;
use perimeter::reconcile::{SyncOutcome, sync};
use perimeter_emulators::faults::{Fault, FaultRule};
use subjects::{Credential, Name};

/// The names `registered_providers!` lists, so a provider added there without a subject fails
/// this test.
macro_rules! registered_names {
    ($($field:ident: $variant:ident => $kit:path,)*) => {
        const REGISTERED: &[&str] = &[$(stringify!($field)),*];
    };
}
perimeter::registered_providers!(registered_names);

#[derive(Clone, Debug)]
enum Column {
    /// A persistent fault on the subject's read, and the category it must be reported as.
    Read(&'static str, Fault, Category),
    BadCredential,
    /// The second write of the Enforce plan refused with a 503 (the only write, when the plan
    /// has one); in Observe the same rule is armed and never reached.
    WriteRefused,
}

impl Column {
    fn label(&self) -> &'static str {
        match self {
            Column::Read(label, ..) => label,
            Column::BadCredential => "bad credential",
            Column::WriteRefused => "write refused part-way",
        }
    }
}

fn columns() -> Vec<Column> {
    let mut columns: Vec<Column> = support::cells::persistent_faults()
        .into_iter()
        .map(|(fault, category)| {
            let label = match fault {
                Fault::RateLimited { .. } => "429 + Retry-After 1h",
                Fault::ServerError { .. } => "5xx",
                Fault::Malformed => "malformed body",
                Fault::WrongShape => "wrong shape",
                Fault::Hang { .. } => "timeout",
                Fault::RateLimitedSilently => "429",
                // Not persistent read faults: a write that lands unanswered and an error
                // quoting the request are the Kubernetes-fault and secret-canary tests' cells.
                Fault::HangAfter { .. } | Fault::EchoRequest { .. } => {
                    unreachable!("not among support::cells::persistent_faults")
                }
            };
            Column::Read(label, fault, category)
        })
        .collect();
    columns.extend([Column::BadCredential, Column::WriteRefused]);
    columns
}

/// One write of a plan, as the emulator logged it.
type Write = (String, String);

/// What one cell showed: the reason it prints, and what was wrong.
struct Cell {
    name: Name,
    column: usize,
    mode: Mode,
    reason: String,
    problems: Vec<String>,
}

fn status(mode: Mode, out: &SyncOutcome) -> PolicyStatus {
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-11-30T12:00:00Z".parse().expect("instant"),
    );
    perimeter::status::from_outcome(None, Some(1), mode, out, &now)
}

fn condition<'a>(status: &'a PolicyStatus, type_: &str) -> (&'a str, &'a str, &'a str) {
    perimeter::status::get(status, type_)
        .map(|c| (c.status.as_str(), c.reason.as_str(), c.message.as_str()))
        .unwrap_or(("missing", "missing", ""))
}

fn drift(out: &SyncOutcome) -> BTreeSet<String> {
    out.remaining
        .as_ref()
        .map(|d| d.drift.iter().map(|x| x.path.clone()).collect())
        .unwrap_or_default()
}

/// Findings that say something is open or not Perimeter's: a stop part-way must not add any.
fn opening_findings(out: &SyncOutcome) -> BTreeSet<String> {
    out.findings
        .iter()
        .filter(|f| f.code == "UnmanagedRule" || f.code.contains("Open"))
        .map(|f| format!("{} {}", f.code, f.subject))
        .collect()
}

/// The writes a clean Enforce of the subject sends, in order.
async fn plan_of(name: Name) -> Vec<Write> {
    let s = name.start(Credential::Good).await;
    let out = sync(&*s.client, &s.target, Mode::Enforce, s.unmanaged).await;
    assert!(
        out.error.is_none(),
        "{}: a clean Enforce must succeed: {:?}",
        name.label(),
        out.error
    );
    s.writes().into_iter().map(|w| (w.method, w.path)).collect()
}

/// Which write of `plan` the write-refused cell refuses, and the rule that does it.
fn refused(plan: &[Write]) -> Option<(usize, FaultRule)> {
    let index = usize::from(plan.len() >= 2);
    let (method, path) = plan.get(index)?;
    let earlier = plan[..index]
        .iter()
        .filter(|(m, p)| m == method && p.contains(path.as_str()))
        .count();
    let rule = FaultRule::new(path.clone(), Fault::ServerError { status: 503 })
        .method(method.clone())
        .after(u32::try_from(earlier).expect("few writes"));
    Some((index, rule))
}

async fn run_cell(name: Name, column: Column, mode: Mode, plan: Arc<Vec<Write>>) -> Cell {
    let mut problems = Vec::new();
    let credential = match column {
        Column::BadCredential => Credential::Unknown,
        _ => Credential::Good,
    };
    let s = name.start(credential).await;
    // What the account looks like before, for the write-refused cell.
    let before_read = match column {
        Column::WriteRefused => Some(sync(&*s.client, &s.target, Mode::Observe, s.unmanaged).await),
        _ => None,
    };
    let expected_read_failure = match &column {
        Column::Read(_, fault, category) => {
            let (method, path) = name.read();
            let mut rule = FaultRule::new(path, fault.clone());
            if let Some(method) = method {
                rule = rule.method(method);
            }
            s.faults.inject(rule);
            Some(*category)
        }
        Column::BadCredential => Some(Category::CredentialsRejected),
        Column::WriteRefused => None,
    };
    let refusal = match (&column, mode) {
        (Column::WriteRefused, _) => refused(&plan),
        _ => None,
    };
    if let Some((_, rule)) = &refusal {
        s.faults.inject(rule.clone());
    }
    let before = s.snapshot();
    let out = sync(&*s.client, &s.target, mode, s.unmanaged).await;
    let st = status(mode, &out);
    let (_, synced_reason, synced_message) = condition(&st, "Synced");
    let (in_sync, in_sync_reason, _) = condition(&st, "InSync");
    let (ready, ..) = condition(&st, "Ready");
    let writes = s.writes();

    // Never in sync, whatever the cell.
    if out.in_sync() || in_sync == "True" || ready == "True" {
        problems.push(format!("reported in sync: {in_sync_reason}"));
    }
    // No credential anywhere it could be shown.
    let shown = format!(
        "{} {:?} {}",
        out.error
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        out.error,
        serde_json::to_string(&st).expect("status as JSON")
    );
    for secret in name.secrets() {
        if !secret.is_empty() && shown.contains(&secret) {
            problems.push("a credential is in the error or the status".into());
        }
    }

    let reason = if let Some(category) = expected_read_failure {
        match &out.error {
            None => problems.push("did not fail".into()),
            Some(e) if e.category != category => problems.push(format!(
                "category {:?}, expected {category:?}: {e}",
                e.category
            )),
            Some(_) => {}
        }
        if out.remaining.is_some() {
            problems.push("a failed read left a known state".into());
        }
        if in_sync != "Unknown" {
            problems.push(format!("InSync is {in_sync}, expected Unknown"));
        }
        if synced_reason != category.reason() {
            problems.push(format!(
                "Synced reason {synced_reason}, expected {}",
                category.reason()
            ));
        }
        if !writes.is_empty() {
            problems.push(format!("{} write(s) after a failed read", writes.len()));
        }
        synced_reason.to_string()
    } else if let (Mode::Enforce, Some((index, _))) = (mode, &refusal) {
        let index = *index;
        match &out.error {
            Some(e) if e.category == Category::ProviderError && out.write_failed => {}
            other => problems.push(format!(
                "expected a failed write (ProviderError): {other:?}"
            )),
        }
        if synced_reason != "ApplyFailed" {
            problems.push(format!(
                "Synced reason {synced_reason}, expected ApplyFailed"
            ));
        }
        // The status says what was applied.
        if st.last_applied != out.applied
            || !synced_message.contains(&format!("after {} change(s)", out.applied.len()))
        {
            problems.push(format!(
                "status does not say what was applied: {synced_message:?} / {:?}",
                st.last_applied
            ));
        }
        // The refused write was sent, and nothing after it.
        let refused_sent = writes.iter().filter(|w| w.status == 503).count();
        let landed = writes.iter().filter(|w| w.status < 400).count();
        if refused_sent == 0 {
            problems.push("the refused write was never sent".into());
        }
        if landed != index {
            problems.push(format!(
                "{landed} write(s) landed, expected the {index} before the refused one: {:?}",
                writes
                    .iter()
                    .map(|w| format!("{} {} {}", w.method, w.path, w.status))
                    .collect::<Vec<_>>()
            ));
        }
        // The state afterwards: the old one, or one the plan allows.
        let after = s.snapshot();
        if out.applied.is_empty() && after != before {
            problems.push("the state changed but the status lists nothing applied".into());
        }
        if index == 0 && after != before {
            problems.push("a refused single write changed the state".into());
        }
        s.faults.clear();
        let reread = sync(&*s.client, &s.target, Mode::Observe, s.unmanaged).await;
        if let Some(first) = &before_read {
            let (was, now) = (drift(first), drift(&reread));
            let new: Vec<_> = now.difference(&was).collect();
            if reread.error.is_some() || !new.is_empty() {
                problems.push(format!(
                    "a stop part-way drifted something new: {new:?} {:?}",
                    reread.error
                ));
            }
            if !out.applied.is_empty() && now.len() >= was.len() {
                problems.push(format!(
                    "{} change(s) applied but nothing less drifts",
                    out.applied.len()
                ));
            }
            let opened: Vec<_> = opening_findings(&reread)
                .difference(&opening_findings(first))
                .cloned()
                .collect();
            if !opened.is_empty() {
                problems.push(format!("a stop part-way opened more: {opened:?}"));
            }
        }
        let category = out.error.as_ref().map_or("none", |e| e.category.reason());
        format!("{synced_reason} ({category})")
    } else {
        // A write fault armed where no write is sent: Observe, or a provider that only reads.
        if let Some(e) = &out.error {
            problems.push(format!("failed: {e}"));
        }
        if !writes.is_empty() {
            problems.push(format!("{} write(s) where none may be sent", writes.len()));
        }
        if out.remaining.is_none() || in_sync != "False" {
            problems.push(format!("drift not reported: InSync {in_sync}"));
        }
        in_sync_reason.to_string()
    };
    Cell {
        name,
        column: columns_index(column.label()),
        mode,
        reason,
        problems,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_survives_every_fault_in_both_modes() {
    let covered: Vec<&str> = subjects::ALL.iter().map(|n| n.label()).collect();
    assert_eq!(
        covered, REGISTERED,
        "every registered provider has a subject, in registry order"
    );

    // The plans first: which write each write-refused cell refuses.
    let mut plans = Vec::new();
    for name in subjects::ALL {
        plans.push(Arc::new(plan_of(name).await));
    }

    let columns = columns();
    let mut jobs = Vec::new();
    for (name, plan) in subjects::ALL.iter().zip(&plans) {
        for column in &columns {
            for mode in support::cells::MODES {
                jobs.push((*name, column.clone(), mode, plan.clone()));
            }
        }
    }
    let total = jobs.len();
    let cells: Vec<Cell> = futures::stream::iter(jobs)
        .map(|(name, column, mode, plan)| async move {
            let label = column.label();
            let column_index = columns_index(label);
            match tokio::spawn(run_cell(name, column, mode, plan)).await {
                Ok(cell) => cell,
                Err(e) => Cell {
                    name,
                    column: column_index,
                    mode,
                    reason: "PANIC".into(),
                    problems: vec![format!("crashed: {e}")],
                },
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert_eq!(cells.len(), total);

    // The matrix: one row per provider, each cell "Observe / Enforce".
    let mut table = String::from("| provider |");
    for column in &columns {
        table.push_str(&format!(" {} |", column.label()));
    }
    table.push_str("\n|---|");
    table.push_str(&"---|".repeat(columns.len()));
    for name in subjects::ALL {
        table.push_str(&format!("\n| {} |", name.label()));
        for (i, _) in columns.iter().enumerate() {
            let reason = |mode: Mode| {
                cells
                    .iter()
                    .find(|c| c.name == name && c.column == i && c.mode == mode)
                    .map(|c| {
                        let mark = if c.problems.is_empty() { "" } else { " ✗" };
                        format!("{}{mark}", c.reason)
                    })
                    .unwrap_or_else(|| "?".into())
            };
            table.push_str(&format!(
                " {} / {} |",
                reason(Mode::Observe),
                reason(Mode::Enforce)
            ));
        }
    }
    let (modal, modal_problems) = modal_row().await;
    table.push_str(&format!("\n| modal | {modal} |"));
    println!(
        "\nFault matrix (each cell: Observe / Enforce → the Synced or InSync reason):\n{table}\n"
    );
    for (name, plan) in subjects::ALL.iter().zip(&plans) {
        let chosen = match refused(plan) {
            Some((index, rule)) => format!(
                "write {} of {} refused ({} {})",
                index + 1,
                plan.len(),
                rule.method.unwrap_or_default(),
                rule.path_contains
            ),
            None => "Enforce sends no write (the provider is only read)".into(),
        };
        println!("  {}: {chosen}", name.label());
    }

    let bad: Vec<String> = cells
        .iter()
        .filter(|c| !c.problems.is_empty())
        .map(|c| {
            format!(
                "{} × {} × {:?}: {}",
                c.name.label(),
                columns[c.column.min(columns.len() - 1)].label(),
                c.mode,
                c.problems.join("; ")
            )
        })
        .chain(modal_problems)
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {total} cells are wrong:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

fn columns_index(label: &str) -> usize {
    columns()
        .iter()
        .position(|c| c.label() == label)
        .unwrap_or(usize::MAX)
}

/// Modal has no public API: a sync reads nothing and says so, in both modes. The row, and
/// what is wrong with it.
async fn modal_row() -> (String, Vec<String>) {
    let spec: perimeter::api::CloudProviderSpec =
        serde_json::from_value(serde_json::json!({"type": "modal", "accountId": "acme-ml"}))
            .expect("spec");
    let client =
        perimeter::providers::modal::NoApi::new(&spec, perimeter::providers::modal::READY_MESSAGE)
            .expect("client");
    let mut reasons = Vec::new();
    let mut problems = Vec::new();
    for mode in support::cells::MODES {
        let out = sync(
            &client,
            &perimeter::providers::Target::default(),
            mode,
            perimeter::api::UnmanagedPolicy::Report,
        )
        .await;
        let category = out.error.as_ref().map(|e| e.category);
        if category != Some(Category::ProviderNotSupported) {
            problems.push(format!("modal × {mode:?}: {category:?}"));
        }
        if out.remaining.is_some() || out.in_sync() || !out.applied.is_empty() {
            problems.push(format!("modal × {mode:?}: read or wrote something"));
        }
        let st = status(mode, &out);
        reasons.push(condition(&st, "Synced").1.to_string());
    }
    let row = format!(
        "no API: every fault n/a, nothing is read or written; a sync is {}",
        reasons.join(" / ")
    );
    (row, problems)
}
