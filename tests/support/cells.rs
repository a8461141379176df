//! The checklist's fault cells, shared by the providers' `*_provider.rs` tests:
//! {429 with a long Retry-After, 5xx, timeout, malformed body, wrong shape} × {Observe,
//! Enforce}, and what each cell must give — never in sync, nothing half-written, no
//! credential in the error.

use perimeter::api::Mode;
use perimeter::error::Category;
use perimeter::reconcile::SyncOutcome;
use perimeter_emulators::faults::Fault;

/// Both modes: a failed read must look the same whether or not Perimeter may write.
pub const MODES: [Mode; 2] = [Mode::Observe, Mode::Enforce];

/// The faults that do not go away on retry, each with the category it must be reported as.
/// The hang is 2 s: run the client with a shorter timeout.
pub fn persistent_faults() -> Vec<(Fault, Category)> {
    vec![
        (
            Fault::RateLimited {
                retry_after_secs: 3600,
            },
            Category::Throttled,
        ),
        (Fault::ServerError { status: 503 }, Category::ProviderError),
        (Fault::Malformed, Category::BadResponse),
        (Fault::WrongShape, Category::BadResponse),
        (Fault::Hang { millis: 2_000 }, Category::Timeout),
    ]
}

/// A sync whose read failed: the error has `category`, the state is unknown (never in sync),
/// nothing was written (`writes` is the emulator's count of write requests) and the
/// credential is not in the error. `cell` names the cell in failure messages.
pub fn assert_failed_read(
    out: &SyncOutcome,
    category: Category,
    writes: usize,
    credential: &str,
    cell: &str,
) {
    let err = out
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("{cell}: must fail"));
    assert_eq!(err.category, category, "{cell}: {err}");
    assert!(
        out.remaining.is_none() && !out.in_sync(),
        "{cell}: unknown, never in sync"
    );
    assert_eq!(writes, 0, "{cell}: nothing written on a failed read");
    assert!(
        !err.to_string().contains(credential),
        "{cell}: no credential"
    );
}

/// A sync whose write failed: the error has `category` and the policy is never reported in
/// sync. What was applied and what the provider holds afterwards is the provider test's to
/// check (it differs: one whole request, or an ordered plan).
pub fn assert_failed_write(out: &SyncOutcome, category: Category, credential: &str, cell: &str) {
    let err = out
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("{cell}: must fail"));
    assert_eq!(err.category, category, "{cell}: {err}");
    assert!(out.write_failed, "{cell}: reported as a failed write");
    assert!(!out.in_sync(), "{cell}: never in sync");
    assert!(
        !err.to_string().contains(credential),
        "{cell}: no credential"
    );
}
