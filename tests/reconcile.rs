//! The sync pipeline (`reconcile::sync_within`), the metrics it records and the status built
//! from it, through the in-memory fake provider: no HTTP, and a paused tokio clock, so the
//! deadline cases take no real time and their durations are exact.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use perimeter::Category;
use perimeter::api::{Mode, PolicyStatus, UnmanagedPolicy};
use perimeter::core::{Change, Item, Section, SectionKind, State, Undeclared, diff};
use perimeter::metrics::Metrics;
use perimeter::providers::fake::{Calls, Fake, Fault, Op, When};
use perimeter::providers::{Finding, Provider, Scope, Target};
use perimeter::reconcile::{self, DEFAULT_DEADLINE, SyncOutcome};
use perimeter::status;

const WAF: &str = "wafCustomRules";
const ACCESS: &str = "ipAccessRules";
const SETTINGS: &str = "settings";

const U_B: &str = "update wafCustomRules[b] (action)";
const C_IP: &str = "create ipAccessRules[ip:192.0.2.1]";
const U_SSL: &str = "update settings[ssl] (value)";
const D_X: &str = "delete wafCustomRules[x]";

const LABELS: [&str; 4] = ["cloudflare", "FirewallPolicy", "shop", "edge"];
const ACCOUNT: &str = "cf-main";

fn rule(key: &str, action: &str) -> Item {
    Item::new(key)
        .field(
            "expression",
            format!("(http.request.uri.path eq \"/{key}\")"),
        )
        .field("action", action)
}

fn access(ip: &str) -> Item {
    Item::new(format!("ip:{ip}")).field("mode", "block")
}

fn setting(name: &str, value: &str) -> Item {
    Item::new(name).field("value", value)
}

fn state(waf: Vec<Item>, ips: Vec<Item>, settings: Vec<Item>) -> State {
    State {
        sections: vec![
            Section::new(WAF, SectionKind::Ordered, waf),
            Section::new(ACCESS, SectionKind::Unordered, ips),
            Section::new(SETTINGS, SectionKind::Settings, settings),
        ],
    }
}

/// Two ordered rules, one access rule, one setting.
fn desired() -> State {
    state(
        vec![rule("a", "block"), rule("b", "block")],
        vec![access("192.0.2.1")],
        vec![setting("ssl", "strict")],
    )
}

fn target() -> Target {
    Target {
        scope: Scope::new("zone test"),
        desired: desired(),
        ..Target::default()
    }
}

/// Three drifted fields: `b`'s action, the missing access rule, the `ssl` setting. The plan is
/// `[U_B, C_IP, U_SSL]`.
fn drifted() -> State {
    state(
        vec![rule("a", "block"), rule("b", "log")],
        vec![],
        vec![setting("ssl", "full")],
    )
}

/// In sync, plus an undeclared rule `x` between the declared ones, and an undeclared setting
/// (settings are never "unmanaged").
fn with_unmanaged() -> State {
    state(
        vec![rule("a", "block"), rule("x", "skip"), rule("b", "block")],
        vec![access("192.0.2.1")],
        vec![setting("ssl", "strict"), setting("waf", "off")],
    )
}

fn finding(code: &'static str, subject: &str) -> Finding {
    Finding {
        code,
        subject: subject.into(),
        message: "reported by the provider".into(),
    }
}

type Conditions = [(&'static str, &'static str); 3];
type Scripted = (Op, When, Fault);

const READY: Conditions = [
    ("True", "Ready"),
    ("True", "ReconcileSuccess"),
    ("True", "InSync"),
];
const DRIFTED: Conditions = [
    ("False", "Drifted"),
    ("True", "ReconcileSuccess"),
    ("False", "Drifted"),
];
const APPLY_FAILED_DRIFTED: Conditions = [
    ("False", "Drifted"),
    ("False", "ApplyFailed"),
    ("False", "Drifted"),
];

const fn unreadable(reason: &'static str) -> Conditions {
    [
        ("False", reason),
        ("False", reason),
        ("Unknown", "ProviderUnreadable"),
    ]
}

/// One sync through the fake, and what it must have found, done, counted and published.
#[derive(Default)]
struct Case {
    name: &'static str,
    /// What the fake account holds before the sync.
    held: State,
    /// Findings the fake reports on every read.
    reported: Vec<Finding>,
    mode: Mode,
    unmanaged: UnmanagedPolicy,
    faults: Vec<Scripted>,
    /// `None`: `reconcile::sync` with its default deadline.
    deadline: Option<Duration>,

    /// Drifted fields found by the first read; `None` when it did not complete.
    found: Option<usize>,
    applied: Vec<&'static str>,
    /// Drifted fields after the sync; `None` when the state is unknown.
    remaining: Option<usize>,
    in_sync: bool,
    error: Option<(Category, &'static str)>,
    findings: Vec<(&'static str, &'static str)>,
    /// `(observe, apply)` calls made.
    calls: (usize, usize),
    /// Changes that landed at the fake (not always those reported as applied).
    landed: usize,
    /// Whether the fake's state matches the policy afterwards.
    converged: bool,
    /// Time taken on the paused clock.
    elapsed: Duration,

    /// `perimeter_provider_up` after recording the outcome.
    up: i64,
    /// `perimeter_changes_applied_total{result="error"}`.
    write_errors: u64,
    /// Ready, Synced, InSync: (status, reason).
    conditions: Conditions,
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn cases() -> Vec<Case> {
    let hang = Fault::Delay(secs(600));
    vec![
        Case {
            name: "in sync in Observe: one read, no write",
            held: desired(),
            found: Some(0),
            remaining: Some(0),
            in_sync: true,
            calls: (1, 0),
            converged: true,
            up: 1,
            conditions: READY,
            ..Case::default()
        },
        Case {
            name: "in sync in Enforce: one read, no write",
            held: desired(),
            mode: Mode::Enforce,
            found: Some(0),
            remaining: Some(0),
            in_sync: true,
            calls: (1, 0),
            converged: true,
            up: 1,
            conditions: READY,
            ..Case::default()
        },
        Case {
            name: "drift in Observe is reported and never written",
            held: drifted(),
            found: Some(3),
            remaining: Some(3),
            calls: (1, 0),
            up: 1,
            conditions: DRIFTED,
            ..Case::default()
        },
        Case {
            name: "drift in Enforce: the plan is written in order and confirmed by a second read",
            held: drifted(),
            mode: Mode::Enforce,
            found: Some(3),
            applied: vec![U_B, C_IP, U_SSL],
            remaining: Some(0),
            in_sync: true,
            calls: (2, 1),
            landed: 3,
            converged: true,
            up: 1,
            conditions: READY,
            ..Case::default()
        },
        Case {
            name: "rules in another order in Enforce: one reorder",
            held: state(
                vec![rule("b", "block"), rule("a", "block")],
                vec![access("192.0.2.1")],
                vec![setting("ssl", "strict")],
            ),
            mode: Mode::Enforce,
            found: Some(1),
            applied: vec!["reorder wafCustomRules"],
            remaining: Some(0),
            in_sync: true,
            calls: (2, 1),
            landed: 1,
            converged: true,
            up: 1,
            conditions: READY,
            ..Case::default()
        },
        Case {
            name: "missing rules are created in place, with no order drift left",
            held: state(
                vec![rule("x", "skip"), rule("b", "block")],
                vec![access("192.0.2.1")],
                vec![setting("ssl", "strict")],
            ),
            mode: Mode::Enforce,
            found: Some(1),
            applied: vec!["create wafCustomRules[a]"],
            remaining: Some(0),
            in_sync: true,
            findings: vec![("UnmanagedRule", "wafCustomRules[x]")],
            calls: (2, 1),
            landed: 1,
            converged: true,
            up: 1,
            conditions: READY,
            ..Case::default()
        },
        Case {
            name: "an unmanaged rule under Report, in Enforce: a finding, not drift, kept",
            held: with_unmanaged(),
            mode: Mode::Enforce,
            found: Some(0),
            remaining: Some(0),
            in_sync: true,
            findings: vec![("UnmanagedRule", "wafCustomRules[x]")],
            calls: (1, 0),
            converged: true,
            up: 1,
            conditions: READY,
            ..Case::default()
        },
        Case {
            name: "an unmanaged rule under Remove, in Observe: drift, not written",
            held: with_unmanaged(),
            unmanaged: UnmanagedPolicy::Remove,
            found: Some(1),
            remaining: Some(1),
            calls: (1, 0),
            up: 1,
            conditions: DRIFTED,
            ..Case::default()
        },
        Case {
            name: "an unmanaged rule under Remove, in Enforce: deleted",
            held: with_unmanaged(),
            mode: Mode::Enforce,
            unmanaged: UnmanagedPolicy::Remove,
            found: Some(1),
            applied: vec![D_X],
            remaining: Some(0),
            in_sync: true,
            calls: (2, 1),
            landed: 1,
            converged: true,
            up: 1,
            conditions: READY,
            ..Case::default()
        },
        Case {
            name: "the provider's own findings come first, then UnmanagedRule",
            held: with_unmanaged(),
            reported: vec![finding("WorldOpenIngress", "sg-1")],
            found: Some(0),
            remaining: Some(0),
            in_sync: true,
            findings: vec![
                ("WorldOpenIngress", "sg-1"),
                ("UnmanagedRule", "wafCustomRules[x]"),
            ],
            calls: (1, 0),
            converged: true,
            up: 1,
            conditions: READY,
            ..Case::default()
        },
        Case {
            name: "an unreachable provider is unknown, never in sync",
            held: desired(),
            faults: vec![(
                Op::Observe,
                When::Always,
                Fault::Fail(Category::Unreachable),
            )],
            error: Some((Category::Unreachable, "observe")),
            calls: (1, 0),
            converged: true,
            up: 0,
            conditions: unreadable("Unreachable"),
            ..Case::default()
        },
        Case {
            name: "a throttled read in Enforce writes nothing and is unknown",
            held: drifted(),
            mode: Mode::Enforce,
            faults: vec![(Op::Observe, When::Once, Fault::Fail(Category::Throttled))],
            error: Some((Category::Throttled, "observe")),
            calls: (1, 0),
            up: 0,
            conditions: unreadable("Throttled"),
            ..Case::default()
        },
        Case {
            name: "a write refused after 1 of 3 changes: 1 applied, 2 drifted on the re-read",
            held: drifted(),
            mode: Mode::Enforce,
            faults: vec![(
                Op::Apply,
                When::Always,
                Fault::FailAfter(1, Category::WriteRejected),
            )],
            found: Some(3),
            applied: vec![U_B],
            remaining: Some(2),
            error: Some((Category::WriteRejected, "apply")),
            calls: (2, 1),
            landed: 1,
            up: 1,
            write_errors: 1,
            conditions: APPLY_FAILED_DRIFTED,
            ..Case::default()
        },
        Case {
            name: "a write refused outright: nothing applied, all drift re-read",
            held: drifted(),
            mode: Mode::Enforce,
            faults: vec![(
                Op::Apply,
                When::Always,
                Fault::Fail(Category::WriteRejected),
            )],
            found: Some(3),
            remaining: Some(3),
            error: Some((Category::WriteRejected, "apply")),
            calls: (2, 1),
            up: 1,
            write_errors: 1,
            conditions: APPLY_FAILED_DRIFTED,
            ..Case::default()
        },
        Case {
            // The provider answered the confirming read: it is up, whatever the write's 5xx.
            name: "a write failing with a 5xx after 2 changes: the category kept, the provider up",
            held: drifted(),
            mode: Mode::Enforce,
            faults: vec![(
                Op::Apply,
                When::Always,
                Fault::FailAfter(2, Category::ProviderError),
            )],
            found: Some(3),
            applied: vec![U_B, C_IP],
            remaining: Some(1),
            error: Some((Category::ProviderError, "apply")),
            calls: (2, 1),
            landed: 2,
            up: 1,
            write_errors: 1,
            conditions: APPLY_FAILED_DRIFTED,
            ..Case::default()
        },
        Case {
            name: "the confirming read fails after a full write: unknown, the read error kept",
            held: drifted(),
            mode: Mode::Enforce,
            faults: vec![(
                Op::Observe,
                When::AfterApply,
                Fault::Fail(Category::Throttled),
            )],
            found: Some(3),
            applied: vec![U_B, C_IP, U_SSL],
            error: Some((Category::Throttled, "observe")),
            calls: (2, 1),
            landed: 3,
            converged: true,
            up: 0,
            conditions: unreadable("Throttled"),
            ..Case::default()
        },
        Case {
            name: "the write and the confirming read both fail: unknown, the write error kept",
            held: drifted(),
            mode: Mode::Enforce,
            faults: vec![
                (
                    Op::Apply,
                    When::Always,
                    Fault::FailAfter(1, Category::WriteRejected),
                ),
                (
                    Op::Observe,
                    When::AfterApply,
                    Fault::Fail(Category::Unreachable),
                ),
            ],
            found: Some(3),
            applied: vec![U_B],
            error: Some((Category::WriteRejected, "apply")),
            calls: (2, 1),
            landed: 1,
            up: 0,
            write_errors: 1,
            conditions: [
                ("False", "ApplyFailed"),
                ("False", "ApplyFailed"),
                ("Unknown", "ProviderUnreadable"),
            ],
            ..Case::default()
        },
        Case {
            name: "a read that hangs ends at the deadline: Timeout, unknown",
            held: drifted(),
            mode: Mode::Enforce,
            faults: vec![(Op::Observe, When::Always, hang)],
            error: Some((Category::Timeout, "observe")),
            calls: (1, 0),
            elapsed: DEFAULT_DEADLINE,
            up: 0,
            conditions: unreadable("Timeout"),
            ..Case::default()
        },
        Case {
            name: "a shorter deadline is kept as given",
            held: desired(),
            faults: vec![(Op::Observe, When::Always, hang)],
            deadline: Some(secs(10)),
            error: Some((Category::Timeout, "observe")),
            calls: (1, 0),
            converged: true,
            elapsed: secs(10),
            up: 0,
            conditions: unreadable("Timeout"),
            ..Case::default()
        },
        Case {
            name: "a slow read within the deadline is fine",
            held: desired(),
            faults: vec![(Op::Observe, When::Always, Fault::Delay(secs(100)))],
            found: Some(0),
            remaining: Some(0),
            in_sync: true,
            calls: (1, 0),
            converged: true,
            elapsed: secs(100),
            up: 1,
            conditions: READY,
            ..Case::default()
        },
        Case {
            name: "a write that hangs ends at the deadline, then one confirming read shows the drift",
            held: drifted(),
            mode: Mode::Enforce,
            faults: vec![(Op::Apply, When::Always, hang)],
            found: Some(3),
            remaining: Some(3),
            error: Some((Category::Timeout, "apply")),
            calls: (2, 1),
            elapsed: DEFAULT_DEADLINE,
            up: 1,
            write_errors: 1,
            conditions: APPLY_FAILED_DRIFTED,
            ..Case::default()
        },
        Case {
            name: "a write that landed but answered too late: Timeout, the re-read shows it in sync",
            held: drifted(),
            mode: Mode::Enforce,
            faults: vec![(Op::Apply, When::Always, Fault::LateAnswer(secs(600)))],
            found: Some(3),
            remaining: Some(0),
            in_sync: true,
            error: Some((Category::Timeout, "apply")),
            calls: (2, 1),
            landed: 3,
            converged: true,
            elapsed: DEFAULT_DEADLINE,
            up: 1,
            write_errors: 1,
            conditions: [
                ("False", "ApplyFailed"),
                ("False", "ApplyFailed"),
                ("True", "InSync"),
            ],
            ..Case::default()
        },
        Case {
            name: "a confirming read that hangs ends at the deadline: unknown, the writes listed",
            held: drifted(),
            mode: Mode::Enforce,
            faults: vec![(Op::Observe, When::Call(2), hang)],
            found: Some(3),
            applied: vec![U_B, C_IP, U_SSL],
            error: Some((Category::Timeout, "observe")),
            calls: (2, 1),
            landed: 3,
            converged: true,
            elapsed: DEFAULT_DEADLINE,
            up: 0,
            conditions: unreadable("Timeout"),
            ..Case::default()
        },
        Case {
            name: "a write ending near the deadline still gets its confirming read (30 s grace)",
            held: drifted(),
            mode: Mode::Enforce,
            faults: vec![
                (Op::Apply, When::Always, Fault::Delay(secs(170))),
                (Op::Observe, When::AfterApply, Fault::Delay(secs(25))),
            ],
            found: Some(3),
            applied: vec![U_B, C_IP, U_SSL],
            remaining: Some(0),
            in_sync: true,
            calls: (2, 1),
            landed: 3,
            converged: true,
            elapsed: secs(195),
            up: 1,
            conditions: READY,
            ..Case::default()
        },
        Case {
            name: "a write past the deadline and a hanging re-read: bounded by the grace, the write error kept",
            held: drifted(),
            mode: Mode::Enforce,
            faults: vec![
                (Op::Apply, When::Always, hang),
                (Op::Observe, When::AfterApply, hang),
            ],
            found: Some(3),
            error: Some((Category::Timeout, "apply")),
            calls: (2, 1),
            elapsed: DEFAULT_DEADLINE + secs(30),
            up: 0,
            write_errors: 1,
            conditions: [
                ("False", "ApplyFailed"),
                ("False", "ApplyFailed"),
                ("Unknown", "ProviderUnreadable"),
            ],
            ..Case::default()
        },
        Case {
            name: "a target that does not resolve: nothing read, nothing written",
            held: drifted(),
            mode: Mode::Enforce,
            faults: vec![(
                Op::Resolve,
                When::Always,
                Fault::Fail(Category::InvalidSpec),
            )],
            error: Some((Category::InvalidSpec, "resolve")),
            calls: (0, 0),
            up: 1,
            conditions: unreadable("InvalidSpec"),
            ..Case::default()
        },
    ]
}

fn fake_for(case: &Case) -> Fake {
    let fake = Fake::new(case.held.clone()).with_findings(case.reported.clone());
    for (op, when, fault) in &case.faults {
        fake.script(*op, *when, *fault);
    }
    fake
}

async fn sync(fake: &Fake, mode: Mode, unmanaged: UnmanagedPolicy) -> SyncOutcome {
    reconcile::sync(fake, &target(), mode, unmanaged).await
}

fn undeclared(p: UnmanagedPolicy) -> Undeclared {
    match p {
        UnmanagedPolicy::Report => Undeclared::Report,
        UnmanagedPolicy::Remove => Undeclared::Remove,
    }
}

fn t(s: &str) -> Time {
    Time(s.parse().expect("timestamp"))
}

fn conditions_of(s: &PolicyStatus) -> Vec<(String, String, String)> {
    s.conditions
        .iter()
        .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
        .collect()
}

fn expected(want: &Conditions) -> Vec<(String, String, String)> {
    ["Ready", "Synced", "InSync"]
        .iter()
        .zip(want)
        .map(|(t, (s, r))| (t.to_string(), s.to_string(), r.to_string()))
        .collect()
}

/// Every mismatch of a table, so that one run shows all the cases that fail.
#[derive(Default)]
struct Mismatches(Vec<String>);

impl Mismatches {
    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, case: &str, what: &str, got: T, want: T) {
        if got != want {
            self.0
                .push(format!("{case}: {what}: got {got:?}, want {want:?}"));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn sync_table() {
    let cases = cases();
    assert_eq!(cases.len(), 26);
    let mut m = Mismatches::default();
    for case in &cases {
        let name = case.name;
        let fake = fake_for(case);
        let start = tokio::time::Instant::now();
        let out = match case.deadline {
            None => sync(&fake, case.mode, case.unmanaged).await,
            Some(d) => reconcile::sync_within(&fake, &target(), case.mode, case.unmanaged, d).await,
        };
        m.eq(name, "elapsed", start.elapsed(), case.elapsed);
        m.eq(
            name,
            "found",
            out.found.as_ref().map(|d| d.drift.len()),
            case.found,
        );
        m.eq(
            name,
            "applied",
            out.applied.clone(),
            case.applied.iter().map(|a| a.to_string()).collect(),
        );
        m.eq(
            name,
            "remaining",
            out.remaining.as_ref().map(|d| d.drift.len()),
            case.remaining,
        );
        m.eq(name, "in_sync", out.in_sync(), case.in_sync);
        m.eq(
            name,
            "error",
            out.error.as_ref().map(|e| (e.category, e.operation)),
            case.error,
        );
        let findings: Vec<(&str, &str)> = out
            .findings
            .iter()
            .map(|f| (f.code, f.subject.as_str()))
            .collect();
        m.eq(name, "findings", findings, case.findings.clone());
        let calls = fake.calls();
        m.eq(name, "calls", (calls.observe, calls.apply), case.calls);
        m.eq(name, "changes landed", calls.changes, case.landed);
        if calls.changes == 0 {
            m.eq(name, "nothing written", &fake.state(), &case.held);
        }
        let after = diff(&desired(), &fake.state(), undeclared(case.unmanaged));
        m.eq(name, "converged", after.in_sync(), case.converged);
        if case.mode == Mode::Observe && out.error.is_none() {
            m.eq(name, "Observe re-uses the read", &out.remaining, &out.found);
        }
        // What was written is exactly the plan of the first read.
        if let Some(found) = &out.found
            && calls.apply == 1
        {
            m.eq(name, "plan written", fake.plans(), vec![found.plan.clone()]);
        }

        let metrics = Metrics::new().expect("metrics");
        out.record(&metrics, LABELS, ACCOUNT, 1_000);
        m.eq(
            name,
            "in_sync gauge",
            policy(&metrics).in_sync,
            i64::from(case.in_sync),
        );
        m.eq(
            name,
            "provider_up",
            gauge(&metrics.provider_up, &["cloudflare", "shop", ACCOUNT]),
            case.up,
        );
        let applied_total = |result: &str| {
            metrics
                .changes_applied_total
                .with_label_values(&["cloudflare", "FirewallPolicy", result])
                .get()
        };
        m.eq(
            name,
            "changes applied",
            applied_total("success"),
            case.applied.len() as u64,
        );
        m.eq(
            name,
            "failed writes",
            applied_total("error"),
            case.write_errors,
        );
        m.eq(
            name,
            "last read noted only when the provider was read",
            metrics.last_read("FirewallPolicy", "shop", "edge"),
            case.remaining.map(|_| 1_000),
        );

        let st = status::from_outcome(None, Some(4), case.mode, &out, &t("2026-12-01T10:00:00Z"));
        m.eq(
            name,
            "conditions",
            conditions_of(&st),
            expected(&case.conditions),
        );
        m.eq(
            name,
            "driftCount",
            st.drift_count as usize,
            case.remaining.unwrap_or(0),
        );
        m.eq(name, "lastApplied", st.last_applied, out.applied);
    }
    assert!(
        m.0.is_empty(),
        "{} mismatch(es):\n{}",
        m.0.len(),
        m.0.join("\n")
    );
}

#[tokio::test(start_paused = true)]
async fn the_default_deadline_is_the_one_sync_uses() {
    for (delay, late) in [
        (DEFAULT_DEADLINE - secs(1), false),
        (DEFAULT_DEADLINE + secs(1), true),
    ] {
        let fake = Fake::new(desired()).with_fault(Op::Observe, When::Always, Fault::Delay(delay));
        let out = sync(&fake, Mode::Observe, UnmanagedPolicy::Report).await;
        assert_eq!(
            out.error.map(|e| e.category),
            late.then_some(Category::Timeout),
            "a read of {delay:?}"
        );
    }
}

#[tokio::test]
async fn status_messages_say_what_happened() {
    let cases: [(&str, Vec<Scripted>, &str); 4] = [
        (
            "in sync",
            vec![],
            "provider read (Enforce mode: drift is corrected)",
        ),
        (
            "write refused after one change",
            vec![(
                Op::Apply,
                When::Always,
                Fault::FailAfter(1, Category::WriteRejected),
            )],
            "writing to the provider failed after 1 change(s): apply: scripted fault of the fake provider",
        ),
        (
            "read throttled",
            vec![(Op::Observe, When::Always, Fault::Fail(Category::Throttled))],
            "provider could not be read: observe: scripted fault of the fake provider",
        ),
        (
            "write refused, then the confirming read fails",
            vec![
                (
                    Op::Apply,
                    When::Always,
                    Fault::Fail(Category::WriteRejected),
                ),
                (
                    Op::Observe,
                    When::AfterApply,
                    Fault::Fail(Category::Unreachable),
                ),
            ],
            "writing to the provider failed after 0 change(s): apply: scripted fault of the fake provider; \
             the provider could not be read again, its state is unknown",
        ),
    ];
    for (name, faults, synced) in cases {
        let fake = Fake::new(drifted());
        for (op, when, fault) in faults {
            fake.script(op, when, fault);
        }
        let out = sync(&fake, Mode::Enforce, UnmanagedPolicy::Report).await;
        let st = status::from_outcome(None, None, Mode::Enforce, &out, &t("2026-12-01T10:00:00Z"));
        let got = &status::get(&st, "Synced").expect("Synced").message;
        assert_eq!(got, synced, "{name}");
    }
}

fn gauge(g: &prometheus::IntGaugeVec, labels: &[&str]) -> i64 {
    g.with_label_values(labels).get()
}

/// The per-policy series of `LABELS`' policy.
fn policy(metrics: &Metrics) -> perimeter::metrics::policies::Values {
    let [_, kind, ns, name] = LABELS;
    metrics
        .policies
        .get(kind, ns, name)
        .expect("series recorded")
}

/// The policy's findings series of `code`: `None` when it has none (no series at 0).
fn finding_gauge(metrics: &Metrics, code: &str) -> Option<i64> {
    let read = policy(metrics).read?;
    read.findings
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| *n)
}

/// The series of one policy over a run of syncs recorded into one registry: what is kept when
/// the provider cannot be read, and what drops back when resolved.
#[tokio::test]
async fn metrics_over_a_run_of_syncs() {
    let metrics = Metrics::new().expect("metrics");
    let held = state(
        vec![rule("a", "block"), rule("x", "skip"), rule("b", "log")],
        vec![],
        vec![setting("ssl", "full")],
    );
    let fake = Fake::new(held).with_findings(vec![finding("WorldOpenIngress", "sg-1")]);
    let up = || gauge(&metrics.provider_up, &["cloudflare", "shop", ACCOUNT]);
    let in_sync = || policy(&metrics).in_sync;
    let read = || policy(&metrics).read.expect("read once");
    let drift = || read().drift_fields;
    let unmanaged = || read().unmanaged_items;
    let last_sync = || read().at;
    let applied = |result: &str| {
        metrics
            .changes_applied_total
            .with_label_values(&["cloudflare", "FirewallPolicy", result])
            .get()
    };

    // 1. Observe: three drifted fields, one unmanaged rule, one provider finding.
    sync(&fake, Mode::Observe, UnmanagedPolicy::Report)
        .await
        .record(&metrics, LABELS, ACCOUNT, 100);
    assert_eq!((in_sync(), drift(), unmanaged(), up()), (0, 3, 1, 1));
    assert_eq!(finding_gauge(&metrics, "UnmanagedRule"), Some(1));
    assert_eq!(finding_gauge(&metrics, "WorldOpenIngress"), Some(1));
    assert_eq!(finding_gauge(&metrics, "VpcWithoutFlowLogs"), None);
    assert_eq!(last_sync(), 100);

    // 2. The read is throttled: not in sync, the provider down, the rest as last known.
    fake.script(Op::Observe, When::Once, Fault::Fail(Category::Throttled));
    sync(&fake, Mode::Observe, UnmanagedPolicy::Report)
        .await
        .record(&metrics, LABELS, ACCOUNT, 200);
    assert_eq!((in_sync(), drift(), unmanaged(), up()), (0, 3, 1, 0));
    assert_eq!(finding_gauge(&metrics, "UnmanagedRule"), Some(1));
    assert_eq!(finding_gauge(&metrics, "WorldOpenIngress"), Some(1));
    assert_eq!(last_sync(), 100, "no successful read at 200");
    assert_eq!(
        metrics.last_read("FirewallPolicy", "shop", "edge"),
        Some(100)
    );

    // 3. Enforce with Remove, and the open ingress fixed by hand: everything resolved.
    fake.set_findings(vec![]);
    let out = sync(&fake, Mode::Enforce, UnmanagedPolicy::Remove).await;
    assert_eq!(out.applied, vec![U_B, C_IP, U_SSL, D_X]);
    out.record(&metrics, LABELS, ACCOUNT, 300);
    assert_eq!((in_sync(), drift(), unmanaged(), up()), (1, 0, 0, 1));
    assert_eq!(finding_gauge(&metrics, "UnmanagedRule"), None);
    assert_eq!(finding_gauge(&metrics, "WorldOpenIngress"), None);
    assert_eq!((applied("success"), applied("error")), (4, 0));
    assert_eq!(last_sync(), 300);

    // 4. Someone edits the account; the write is refused: the provider is still up.
    fake.set_state(drifted());
    fake.script(Op::Apply, When::Once, Fault::Fail(Category::WriteRejected));
    sync(&fake, Mode::Enforce, UnmanagedPolicy::Remove)
        .await
        .record(&metrics, LABELS, ACCOUNT, 400);
    assert_eq!((in_sync(), drift(), up()), (0, 3, 1));
    assert_eq!((applied("success"), applied("error")), (4, 1));

    // 5. The write succeeds but the confirming read fails: down, drift as last known.
    fake.script(
        Op::Observe,
        When::AfterApply,
        Fault::Fail(Category::Throttled),
    );
    sync(&fake, Mode::Enforce, UnmanagedPolicy::Remove)
        .await
        .record(&metrics, LABELS, ACCOUNT, 500);
    assert_eq!((in_sync(), drift(), up()), (0, 3, 0));
    assert_eq!((applied("success"), applied("error")), (7, 1));
    assert_eq!(last_sync(), 400);

    // 6. The provider recovers: in sync, up.
    fake.heal();
    sync(&fake, Mode::Observe, UnmanagedPolicy::Remove)
        .await
        .record(&metrics, LABELS, ACCOUNT, 600);
    assert_eq!((in_sync(), drift(), up()), (1, 0, 1));
    assert_eq!(fake.calls().apply, 3, "Observe at 6 wrote nothing");

    let text = metrics.render().expect("render");
    // Resolved findings leave no series (not one at 0 per known code and policy).
    assert!(!text.contains("perimeter_findings{"), "{text}");
    for line in [
        r#"perimeter_policy_last_sync_timestamp_seconds{kind="FirewallPolicy",name="edge",namespace="shop",provider="cloudflare"} 600"#,
        r#"perimeter_changes_applied_total{kind="FirewallPolicy",provider="cloudflare",result="success"} 7"#,
        r#"perimeter_changes_applied_total{kind="FirewallPolicy",provider="cloudflare",result="error"} 1"#,
        r#"perimeter_policy_in_sync{kind="FirewallPolicy",name="edge",namespace="shop",provider="cloudflare"} 1"#,
        r#"perimeter_provider_up{name="cf-main",namespace="shop",provider="cloudflare"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
}

/// Status across a run of syncs: transitions, an unchanged status written once, lastApplied.
#[tokio::test]
async fn status_over_a_run_of_syncs() {
    let fake = Fake::new(drifted());
    let at = |m: u32| t(&format!("2026-12-01T10:{m:02}:00Z"));
    let step = |previous: Option<&PolicyStatus>, out: &SyncOutcome, mode: Mode, m: u32| {
        status::from_outcome(previous, Some(7), mode, out, &at(m))
    };
    let transition = |s: &PolicyStatus, type_: &str| {
        status::get(s, type_)
            .expect("condition")
            .last_transition_time
            .clone()
    };

    let out = sync(&fake, Mode::Observe, UnmanagedPolicy::Report).await;
    let s0 = step(None, &out, Mode::Observe, 0);
    assert_eq!(conditions_of(&s0), expected(&DRIFTED));
    assert_eq!(s0.drift_count, 3);
    assert_eq!(
        s0.drift
            .iter()
            .map(|d| d.field.as_str())
            .collect::<Vec<_>>(),
        [
            "wafCustomRules[b].action",
            "ipAccessRules[ip:192.0.2.1]",
            "settings[ssl]"
        ]
    );
    assert_eq!((s0.managed, s0.unmanaged), (3, 0));
    assert_eq!(s0.last_sync_time.as_deref(), Some("2026-12-01T10:00:00Z"));

    // The same answer five minutes later: the same status, nothing to write.
    let out = sync(&fake, Mode::Observe, UnmanagedPolicy::Report).await;
    let s5 = step(Some(&s0), &out, Mode::Observe, 5);
    assert_eq!(s5, s0);
    assert!(!status::needs_write(Some(&s0), &s5));

    // Enforced: Ready and InSync move, Synced stayed True and keeps its time.
    let out = sync(&fake, Mode::Enforce, UnmanagedPolicy::Report).await;
    let s10 = step(Some(&s5), &out, Mode::Enforce, 10);
    assert_eq!(conditions_of(&s10), expected(&READY));
    assert_eq!(transition(&s10, "Ready"), at(10));
    assert_eq!(transition(&s10, "InSync"), at(10));
    assert_eq!(transition(&s10, "Synced"), at(0));
    assert_eq!(s10.last_applied, vec![U_B, C_IP, U_SSL]);
    assert_eq!((s10.drift_count, s10.drift.len()), (0, 0));

    // In sync again, nothing written: lastApplied stays, nothing to write.
    let out = sync(&fake, Mode::Enforce, UnmanagedPolicy::Report).await;
    let s15 = step(Some(&s10), &out, Mode::Enforce, 15);
    assert_eq!(s15, s10);
    assert!(!status::needs_write(Some(&s10), &s15));

    // The provider cannot be read: every condition moves; lastApplied still listed.
    fake.script(Op::Observe, When::Once, Fault::Fail(Category::Unreachable));
    let out = sync(&fake, Mode::Enforce, UnmanagedPolicy::Report).await;
    let s20 = step(Some(&s15), &out, Mode::Enforce, 20);
    assert_eq!(conditions_of(&s20), expected(&unreadable("Unreachable")));
    for type_ in ["Ready", "Synced", "InSync"] {
        assert_eq!(transition(&s20, type_), at(20), "{type_}");
    }
    assert_eq!(s20.last_applied, vec![U_B, C_IP, U_SSL]);
    assert!(status::needs_write(Some(&s15), &s20));

    // Someone deletes a rule; the next write replaces lastApplied.
    fake.set_state(state(
        vec![rule("a", "block")],
        vec![access("192.0.2.1")],
        vec![setting("ssl", "strict")],
    ));
    let out = sync(&fake, Mode::Enforce, UnmanagedPolicy::Report).await;
    let s25 = step(Some(&s20), &out, Mode::Enforce, 25);
    assert_eq!(s25.last_applied, vec!["create wafCustomRules[b]"]);
    assert_eq!(conditions_of(&s25), expected(&READY));
}

#[tokio::test]
async fn drift_in_status_is_capped_at_50_and_counted_in_full() {
    let rules: Vec<Item> = (0..60)
        .map(|i| rule(&format!("r{i:02}"), "block"))
        .collect();
    let fake = Fake::new(State::default());
    let target = Target {
        desired: State {
            sections: vec![Section::new(WAF, SectionKind::Ordered, rules)],
        },
        ..Target::default()
    };
    let out = reconcile::sync(&fake, &target, Mode::Observe, UnmanagedPolicy::Report).await;
    let st = status::from_outcome(None, None, Mode::Observe, &out, &t("2026-12-01T10:00:00Z"));
    assert_eq!(st.drift_count, 60);
    assert_eq!(st.drift.len(), status::MAX_DRIFT_ENTRIES);
    assert_eq!(st.drift[49].field, "wafCustomRules[r49]");
    let metrics = Metrics::new().expect("metrics");
    out.record(&metrics, LABELS, ACCOUNT, 1);
    assert_eq!(policy(&metrics).read.map(|r| r.drift_fields), Some(60));
}

// The fake itself: what the tests above rely on.

#[tokio::test]
async fn the_fake_reads_only_declared_sections() {
    let mut held = drifted();
    held.push(Section::new(
        "rateLimits",
        SectionKind::Ordered,
        vec![rule("r", "block")],
    ));
    held.sections.retain(|s| s.name != ACCESS);
    let fake = Fake::new(held);
    let obs = fake.observe(&target()).await.expect("observe");
    let names: Vec<(&str, usize)> = obs
        .state
        .sections
        .iter()
        .map(|s| (s.name.as_str(), s.items.len()))
        .collect();
    assert_eq!(names, [(WAF, 2), (ACCESS, 0), (SETTINGS, 1)]);
    assert_eq!(
        obs.state.section(ACCESS).map(|s| s.kind),
        Some(SectionKind::Unordered)
    );
}

#[tokio::test]
async fn the_fake_scripts_faults_by_call() {
    let fake = Fake::new(desired())
        .with_fault(
            Op::Observe,
            When::Call(2),
            Fault::Fail(Category::BadResponse),
        )
        .with_fault(
            Op::Verify,
            When::Once,
            Fault::Fail(Category::CredentialsRejected),
        );
    let results = reads(&fake, 4).await;
    assert_eq!(
        results,
        [None, Some(Category::BadResponse), None, None],
        "only the second read fails"
    );
    let first = fake.verify().await.is_ok();
    let second = fake.verify().await.is_ok();
    assert_eq!((first, second), (false, true), "a Once fault is spent");
    assert_eq!(
        fake.calls(),
        Calls {
            verify: 2,
            observe: 4,
            ..Calls::default()
        }
    );
}

async fn reads(fake: &Fake, n: usize) -> Vec<Option<Category>> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(fake.observe(&target()).await.err().map(|e| e.category));
    }
    out
}

#[tokio::test]
async fn the_fake_applies_in_order_and_stops_where_told() {
    let observed = perimeter::providers::Observation::default();
    let create = |key: &str| Change::Create {
        section: WAF.into(),
        key: key.into(),
    };
    // More allowed than planned: all land, then the call still fails.
    let fake = Fake::new(State::default()).with_fault(
        Op::Apply,
        When::Always,
        Fault::FailAfter(5, Category::ProviderError),
    );
    let err = fake
        .apply(&target(), &observed, &[create("a"), create("b")])
        .await
        .expect_err("scripted");
    assert_eq!(
        err.applied,
        ["create wafCustomRules[a]", "create wafCustomRules[b]"]
    );
    assert_eq!(err.error.category, Category::ProviderError);
    let keys: Vec<String> = fake
        .state()
        .section(WAF)
        .map(|s| s.items.iter().map(|i| i.key.clone()).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["a", "b"]);

    // A change the target does not declare is refused like a provider would, after the others.
    let fake = Fake::new(State::default());
    let err = fake
        .apply(&target(), &observed, &[create("a"), create("nope")])
        .await
        .expect_err("undeclared");
    assert_eq!(err.applied, ["create wafCustomRules[a]"]);
    assert_eq!(err.error.category, Category::WriteRejected);
    assert_eq!(fake.calls().changes, 1);
}

/// The provider's revision of what it read reaches the status (and from there the evidence);
/// a failed read leaves none, so no verdict claims a revision nobody read.
#[tokio::test]
async fn the_revision_read_is_the_revision_in_status() {
    let fake = Fake::new(drifted());
    let now = t("2026-12-01T10:00:00Z");
    let out = sync(&fake, Mode::Observe, UnmanagedPolicy::Report).await;
    let s = status::from_outcome(None, Some(1), Mode::Observe, &out, &now);
    assert_eq!(s.observed_revision, None, "the fake gives none by default");

    fake.set_revision(Some("firewall config version 7"));
    let out = sync(&fake, Mode::Observe, UnmanagedPolicy::Report).await;
    let s = status::from_outcome(Some(&s), Some(1), Mode::Observe, &out, &now);
    assert_eq!(
        s.observed_revision.as_deref(),
        Some("firewall config version 7")
    );

    // Enforce: the revision is the confirming read's, after the write.
    fake.set_revision(Some("firewall config version 8"));
    let out = sync(&fake, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync());
    assert_eq!(out.revision.as_deref(), Some("firewall config version 8"));

    fake.script(Op::Observe, When::Once, Fault::Fail(Category::Unreachable));
    let out = sync(&fake, Mode::Observe, UnmanagedPolicy::Report).await;
    let s = status::from_outcome(Some(&s), Some(1), Mode::Observe, &out, &now);
    assert_eq!(s.observed_revision, None, "unknown state, no revision");
}

/// A replica that is no longer surely the leader (its fence closed while it read) reads and
/// reports the drift but sends no write, and the sync is not in sync.
#[tokio::test]
async fn a_fenced_sync_reads_but_writes_nothing() {
    let fake = Fake::new(drifted());
    let enforce = async |may_write: bool| {
        let target = target();
        reconcile::sync_remembering(
            &fake,
            &target,
            Mode::Enforce,
            UnmanagedPolicy::Report,
            DEFAULT_DEADLINE,
            None,
            &|| may_write,
        )
        .await
    };
    let out = enforce(false).await;
    assert_eq!(fake.calls().apply, 0, "no write");
    assert_eq!(fake.calls().observe, 1);
    assert!(out.found.as_ref().is_some_and(|d| !d.drift.is_empty()));
    assert!(!out.in_sync());
    assert_eq!(
        out.error.as_ref().map(|e| (e.category, e.operation)),
        Some((Category::Kubernetes, "apply"))
    );
    let open = enforce(true).await;
    assert_eq!(fake.calls().apply, 1, "the same sync, unfenced, writes");
    assert!(open.in_sync());
}
