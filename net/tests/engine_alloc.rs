//! Proves the data path does not allocate: after the handshake, steady-state transport both
//! ways (`send_packet`, `handle_datagram`, `poll_timers`, keepalives included) performs zero
//! heap allocations. Uses a counting global allocator, so this file holds a single test, and
//! it counts only on the test's own thread: libtest's main thread may allocate meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crypto::PrivateKey;
use net::{Engine, EngineOptions, Instant, IpCidr, Now, PeerId, PeerSpec, SendOutcome, Sink};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

struct Counting;

thread_local! {
    /// Set only on the thread running the test, only while the data path runs.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// Whether this thread is the one being measured. A const-initialised `Cell` needs no
/// allocation to reach, and `try_with` answers "no" during thread teardown.
fn counting_here() -> bool {
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

// This test binary (not the `net` library, which stays `forbid(unsafe_code)`)
// needs the one unsafe trait a global allocator is: every method forwards to
// the system allocator unchanged and only counts.
// SAFETY: delegating to `System`, a sound allocator, with the caller's
// arguments preserves every `GlobalAlloc` guarantee.
unsafe impl GlobalAlloc for Counting {
    // SAFETY: (of the trait) the caller passes a valid, non-zero-size layout.
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting_here() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded from our caller's contract.
        unsafe { System.alloc(layout) }
    }
    // SAFETY: (of the trait) `ptr` came from this allocator with `layout`.
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from our caller's contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    // SAFETY: (of the trait) `ptr` came from this allocator with `layout`.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting_here() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded from our caller's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A sink with fixed storage: it must not allocate either.
struct FixedSink {
    datagrams: [([u8; 1600], usize, Option<SocketAddr>); 8],
    count: usize,
    delivered: usize,
}

impl Sink for FixedSink {
    fn send_datagram(&mut self, to: SocketAddr, datagram: &[u8], _ds: u8) {
        let slot = &mut self.datagrams[self.count];
        slot.0[..datagram.len()].copy_from_slice(datagram);
        slot.1 = datagram.len();
        slot.2 = Some(to);
        self.count += 1;
    }
    fn deliver_packet(&mut self, _from: PeerId, _packet: &mut [u8]) {
        self.delivered += 1;
    }
}

impl FixedSink {
    fn new() -> FixedSink {
        FixedSink {
            datagrams: [([0; 1600], 0, None); 8],
            count: 0,
            delivered: 0,
        }
    }
}

fn packet(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> [u8; 1420] {
    let mut p = [0u8; 1420];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    p
}

/// Moves everything `from` sent into `to`, as the network would.
fn deliver(
    now: Now,
    from_addr: SocketAddr,
    out: &mut FixedSink,
    to: &mut Engine,
    rng: &mut ChaCha8Rng,
    next: &mut FixedSink,
) {
    for i in 0..out.count {
        let (bytes, len, _) = &mut out.datagrams[i];
        to.handle_datagram(now, from_addr, &mut bytes[..*len], rng, next);
    }
    out.count = 0;
}

#[test]
fn steady_state_transport_does_not_allocate() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (ka, kb) = (
        PrivateKey::generate(&mut rng),
        PrivateKey::generate(&mut rng),
    );
    let (pa, pb) = (ka.public_key(), kb.public_key());
    let addr_a: SocketAddr = "192.0.2.1:51820".parse().unwrap();
    let addr_b: SocketAddr = "192.0.2.2:51820".parse().unwrap();
    let (ia, ib) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let spec = |key, inner: Ipv4Addr, endpoint| {
        let mut s = PeerSpec::new(key);
        s.allowed_ips = vec![IpCidr::new(inner.into(), 32).unwrap()];
        s.endpoint = Some(endpoint);
        s.persistent_keepalive = Some(Duration::from_secs(25));
        s
    };
    let mut a = Engine::new(
        ka,
        [spec(pb, ib, addr_b)],
        EngineOptions::default(),
        &mut rng,
    )
    .unwrap();
    let mut b = Engine::new(
        kb,
        [spec(pa, ia, addr_a)],
        EngineOptions::default(),
        &mut rng,
    )
    .unwrap();
    let (mut out_a, mut out_b) = (FixedSink::new(), FixedSink::new());
    let now = |ms: u64| {
        Now::new(
            Instant::from_millis(ms),
            Duration::from_secs(1_700_000_000) + Duration::from_millis(ms),
        )
    };

    // Handshake (allowed to allocate nothing either, but not the point here).
    let p_ab = packet(ia, ib, 1400);
    let p_ba = packet(ib, ia, 100);
    assert_eq!(
        a.send_packet(now(0), &p_ab[..1400], &mut rng, &mut out_a),
        SendOutcome::Staged
    );
    let mut t = 1;
    for _ in 0..4 {
        deliver(now(t), addr_a, &mut out_a, &mut b, &mut rng, &mut out_b);
        deliver(now(t), addr_b, &mut out_b, &mut a, &mut rng, &mut out_a);
        t += 1;
    }
    assert_eq!(out_b.delivered, 1);

    COUNTING.with(|c| c.set(true));
    // Ten virtual minutes of traffic both ways, across rekeys, keepalives and timer polls.
    for step in 0..60_000u64 {
        t += 10;
        if step % 3 != 2 {
            assert_eq!(
                a.send_packet(now(t), &p_ab[..1400], &mut rng, &mut out_a),
                SendOutcome::Sent
            );
        }
        if step % 5 == 0 {
            let _ = b.send_packet(now(t), &p_ba[..100], &mut rng, &mut out_b);
        }
        deliver(now(t), addr_a, &mut out_a, &mut b, &mut rng, &mut out_b);
        deliver(now(t), addr_b, &mut out_b, &mut a, &mut rng, &mut out_a);
        a.poll_timers(now(t), &mut rng, &mut out_a);
        b.poll_timers(now(t), &mut rng, &mut out_b);
        let _ = (a.next_deadline(), b.next_deadline());
    }
    COUNTING.with(|c| c.set(false));
    assert_eq!(
        ALLOCATIONS.load(Ordering::SeqCst),
        0,
        "the data path allocated"
    );
    assert!(out_b.delivered > 39_000);
    assert!(
        a.peer_stats(PeerId(0)).unwrap().handshakes_completed >= 4,
        "rekeys happened"
    );
    assert_eq!(a.stats().total_dropped(), 0);
    assert_eq!(b.stats().total_dropped(), 0);
}
