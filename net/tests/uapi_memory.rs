//! Memory stays bounded whatever a client sends. A counting allocator measures the heap of
//! the test's own thread (libtest's main thread may allocate meanwhile); this file holds a
//! single test so that no other test does.

mod uapi_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};

use net::uapi::{Event, Session, SessionLimits};

struct Counting;

thread_local! {
    /// Set only on the thread running the test.
    static MEASURED: Cell<bool> = const { Cell::new(false) };
}
/// Signed: the measured thread may free memory it allocated before it was marked.
static CURRENT: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

/// Whether this thread is the measured one. A const-initialised `Cell` needs no allocation
/// to reach, and `try_with` answers "no" during thread teardown.
fn measured_here() -> bool {
    MEASURED.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: delegating to `System`, a sound allocator, with the caller's
// arguments preserves every `GlobalAlloc` guarantee; the counters only watch.
unsafe impl GlobalAlloc for Counting {
    // SAFETY: (of the trait) the caller passes a valid, non-zero-size layout.
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if measured_here() {
            let size = layout.size() as isize;
            let now = CURRENT.fetch_add(size, Ordering::SeqCst) + size;
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        // SAFETY: forwarded from our caller's contract.
        unsafe { System.alloc(layout) }
    }

    // SAFETY: (of the trait) `ptr` came from `alloc` with this `layout`.
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if measured_here() {
            CURRENT.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        }
        // SAFETY: `ptr` was allocated by `System` with `layout` (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Feeds `input` in 4 KiB chunks, returning the events and the peak heap growth.
fn feed_measured(session: &mut Session, input: &[u8]) -> (Vec<&'static str>, usize) {
    let mut events = Vec::with_capacity(64);
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    for chunk in input.chunks(4096) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let fed = session.feed(rest);
            rest = &rest[fed.consumed..];
            if let Some(event) = fed.event {
                if events.len() < events.capacity() {
                    events.push(match event {
                        Event::Get => "get",
                        Event::Set(_) => "set",
                        Event::Error(_) => "error",
                        Event::Close => "close",
                    });
                }
            }
        }
    }
    let growth = PEAK.load(Ordering::SeqCst) - base;
    (
        events,
        growth.try_into().expect("the peak is never below the base"),
    )
}

#[test]
fn a_megabyte_of_garbage_costs_a_bounded_amount() {
    MEASURED.with(|m| m.set(true));
    let limits = SessionLimits::default();
    let noise: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();

    // As a first line: closed at once, nothing buffered.
    let mut session = Session::new(limits);
    let (events, growth) = feed_measured(&mut session, &noise);
    assert_eq!(events, ["close"]);
    assert_eq!(growth, 0);

    // Inside a set without newlines: one over-long line, skipped.
    let mut session = Session::new(limits);
    let mut text = b"set=1\n".to_vec();
    text.extend(noise.iter().map(|&b| if b == b'\n' { b'.' } else { b }));
    let (events, growth) = feed_measured(&mut session, &text);
    assert_eq!(events, ["error"]);
    assert!(growth < 1024, "grew by {growth}");

    // A megabyte of short well-formed lines with unknown keys: refused at the first.
    let mut session = Session::new(limits);
    let mut text = b"set=1\n".to_vec();
    while text.len() < 1_000_000 {
        text.extend_from_slice(b"hello=world\n");
    }
    let (events, growth) = feed_measured(&mut session, &text);
    assert_eq!(events, ["error"]);
    assert!(growth < 1024, "grew by {growth}");

    // A megabyte of valid lines the session must keep: bounded by the request limit.
    let small = SessionLimits {
        max_request_memory: 64 * 1024,
        ..limits
    };
    let mut session = Session::new(small);
    let mut text = b"set=1\npublic_key=".to_vec();
    text.extend_from_slice(&[b'a'; 64]);
    text.push(b'\n');
    let mut i = 0u32;
    while text.len() < 1_000_000 {
        text.extend_from_slice(format!("allowed_ip=fd00::{:x}/128\n", i).as_bytes());
        i += 1;
    }
    text.extend_from_slice(b"\nget=1\n\n");
    let (events, growth) = feed_measured(&mut session, &text);
    assert_eq!(events, ["error", "get"]);
    assert!(growth <= 2 * 64 * 1024 + 4096, "grew by {growth}");
    assert!(session.is_idle());
}
