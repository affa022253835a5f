//! The kernel heap: `linked_list_allocator` over the RAM left after the
//! image and the page tables, with usage accounting for the boot report and
//! the benchmarks.

use super::Range;
use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};
use linked_list_allocator::LockedHeap;

/// Wraps the allocator to count bytes in use and the peak.
struct CountingHeap {
    inner: LockedHeap,
    in_use: AtomicUsize,
    peak: AtomicUsize,
    size: AtomicUsize,
}

#[global_allocator]
static HEAP: CountingHeap = CountingHeap {
    inner: LockedHeap::empty(),
    in_use: AtomicUsize::new(0),
    peak: AtomicUsize::new(0),
    size: AtomicUsize::new(0),
};

// SAFETY: allocation is delegated to `LockedHeap`, a sound allocator; the
// wrapper only updates counters.
unsafe impl GlobalAlloc for CountingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        let ptr = unsafe { self.inner.alloc(layout) };
        if !ptr.is_null() {
            let now = self.in_use.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
        ptr
    }

    // SAFETY: (of the trait) callers pass a pointer from `alloc` with its layout.
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { self.inner.dealloc(ptr, layout) };
        self.in_use.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

/// Hands `range` (identity-mapped, writable, unused) to the allocator.
pub fn init(range: Range) {
    let size = (range.end - range.start) as usize;
    // SAFETY: the range is free RAM mapped writable by `paging::init`, used
    // by nothing else, and handed to the allocator exactly once.
    unsafe { HEAP.inner.lock().init(range.start as *mut u8, size) };
    HEAP.size.store(size, Ordering::Relaxed);
}

/// Bytes the heap manages.
pub fn heap_size() -> usize {
    HEAP.size.load(Ordering::Relaxed)
}

/// Bytes allocated now.
pub fn heap_in_use() -> usize {
    HEAP.in_use.load(Ordering::Relaxed)
}

/// Most bytes ever allocated at once.
pub fn heap_peak() -> usize {
    HEAP.peak.load(Ordering::Relaxed)
}
