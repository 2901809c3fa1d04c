//! A counting global allocator for memory-budget tests and benches: the heap the process
//! holds and its peak. Process-wide, not per thread (decoders free on worker threads what
//! the caller's thread allocated); nextest runs each test in a process of its own, so no
//! other test's allocations mix in.
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: gridworker_testkit::alloc::Counting = gridworker_testkit::alloc::Counting;
//! let (value, peak_bytes) = gridworker_testkit::alloc::peak_growth(|| work());
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// Install with `#[global_allocator]` in the test or bench binary.
pub struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only counters move.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = HELD.fetch_add(l.size() as isize, Ordering::Relaxed) + l.size() as isize;
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        HELD.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

/// Peak growth of the heap, in bytes, while `f` runs (meaningful only with [`Counting`]
/// installed).
pub fn peak_growth<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = HELD.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    let peak = PEAK.load(Ordering::Relaxed);
    (out, (peak - base).max(0) as usize)
}
