//! Hands the heap's free pages back to the kernel, so that the operator's resident memory
//! follows what it holds rather than the most it ever held.
//!
//! glibc's allocator keeps pages freed inside its arenas (it returns only the top of the
//! heap, and only above a threshold it raises after large frees). A sync round frees much of
//! what it allocated, in small pieces spread over the arenas, and an operator at 10,000
//! policies was resident 35 to 50 MiB above its live heap. `malloc_trim` releases every whole
//! free page of every arena (`madvise`); the memory stays the allocator's, and a page used again
//! is faulted back in.

use std::time::Duration;

/// Allocations from this size up get pages of their own (`mmap`), returned to the kernel when
/// freed: glibc's default, kept fixed. By default glibc raises this threshold to the largest
/// block freed (up to 32 MiB), after which a 10 MiB `/metrics` answer or a large provider
/// listing is carved out of the heap and stays resident after it is freed.
pub const OWN_PAGES_FROM: usize = 128 * 1024;

/// Sets the allocator up for a long-running process: [`OWN_PAGES_FROM`] kept fixed. Call once,
/// at start-up. Does nothing where the allocator is not glibc's.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let threshold = OWN_PAGES_FROM as libc::c_int;
        // SAFETY: `mallopt` takes no pointer; setting the threshold only changes where later
        // allocations come from.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, threshold);
        }
    }
}

/// How often the operator trims: a few milliseconds of work against a round's seconds.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Releases the allocator's free pages now. Returns whether any memory was released (always
/// `false` where the allocator is not glibc's).
pub fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `malloc_trim` takes no pointer and locks each arena it walks; it is safe to
        // call from any thread at any time.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Trims every [`TRIM_EVERY`], until the process ends.
pub async fn trim_periodically() {
    let mut every = tokio::time::interval(TRIM_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        trim();
    }
}

#[cfg(test)]
mod tests {
    /// Freed memory in the middle of the heap (kept alive around it) is released.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_pages_are_released() {
        // Many mid-sized blocks, every other one freed: free pages that are not at the top of
        // the heap, which glibc keeps until trimmed.
        let mut blocks: Vec<Vec<u8>> = (0..4096).map(|_| vec![1u8; 64 * 1024]).collect();
        for b in blocks.iter_mut().step_by(2) {
            *b = Vec::new();
        }
        assert!(super::trim(), "free pages were there to release");
        drop(blocks);
    }
}
