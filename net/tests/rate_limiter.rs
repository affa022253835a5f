//! The handshake rate limiter, following Linux's ratelimiter selftest intent.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::time::Duration;

use net::rate_limiter::{
    RateLimiter, GC_INTERVAL, IDLE_TIMEOUT, PACKETS_BURSTABLE, PACKETS_PER_SECOND,
};
use net::time::Instant;

const KEY: [u64; 2] = [0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210];
/// Time to earn one packet: 1 s / 20.
const PACKET_INTERVAL: Duration = Duration::from_millis(1_000 / PACKETS_PER_SECOND);

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn v6(segments: [u16; 8]) -> IpAddr {
    let [a, b, c, d, e, f, g, h] = segments;
    IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h))
}

/// How many back-to-back packets `source` gets at `now`.
fn drain(limiter: &mut RateLimiter, source: IpAddr, now: Instant) -> u64 {
    let mut allowed = 0;
    while limiter.allow(source, now) {
        allowed += 1;
        assert!(allowed <= 100, "limiter never refused");
    }
    allowed
}

#[test]
fn burst_then_refusal() {
    let mut limiter = RateLimiter::new(16, KEY);
    let now = Instant::from_secs(100);
    let source = v4(192, 0, 2, 1);
    for packet in 0..PACKETS_BURSTABLE {
        assert!(limiter.allow(source, now), "packet {packet} of the burst");
    }
    assert!(!limiter.allow(source, now));
    assert!(!limiter.allow(source, now));
}

#[test]
fn refills_at_twenty_per_second() {
    let mut limiter = RateLimiter::new(16, KEY);
    let source = v4(192, 0, 2, 1);
    let mut now = Instant::from_secs(100);
    assert_eq!(drain(&mut limiter, source, now), PACKETS_BURSTABLE);

    // Just short of one packet's worth of time: still refused.
    now = now.saturating_add(PACKET_INTERVAL - Duration::from_nanos(1));
    assert!(!limiter.allow(source, now));
    // The refused attempt did not reset the accrual.
    now = now.saturating_add(Duration::from_nanos(1));
    assert!(limiter.allow(source, now));
    assert!(!limiter.allow(source, now));

    // Sustained: exactly one packet per 50 ms over a simulated half-second
    // (stays under the 1 s idle timeout, so the bucket is never collected).
    for tick in 0..10 {
        now = now.saturating_add(PACKET_INTERVAL);
        assert!(limiter.allow(source, now), "tick {tick}");
        assert!(!limiter.allow(source, now), "tick {tick}");
    }

    // After 160 ms, three packets have been earned.
    now = now.saturating_add(Duration::from_millis(160));
    assert_eq!(drain(&mut limiter, source, now), 3);
}

#[test]
fn refill_is_capped_at_the_burst() {
    let mut limiter = RateLimiter::new(16, KEY);
    let source = v4(198, 51, 100, 7);
    let mut now = Instant::from_secs(5);
    assert_eq!(drain(&mut limiter, source, now), PACKETS_BURSTABLE);
    // 0.9 s would earn 18 packets, but the bucket holds only 5.
    now = now.saturating_add(Duration::from_millis(900));
    assert_eq!(drain(&mut limiter, source, now), PACKETS_BURSTABLE);
}

#[test]
fn sources_are_independent() {
    let mut limiter = RateLimiter::new(16, KEY);
    let now = Instant::from_secs(1);
    assert_eq!(drain(&mut limiter, v4(10, 0, 0, 1), now), PACKETS_BURSTABLE);
    assert_eq!(drain(&mut limiter, v4(10, 0, 0, 2), now), PACKETS_BURSTABLE);
    assert_eq!(limiter.len(), 2);
}

#[test]
fn ipv6_addresses_in_one_slash_64_share_a_bucket() {
    let mut limiter = RateLimiter::new(16, KEY);
    let now = Instant::from_secs(1);
    let prefix = [0x2001, 0xdb8, 0x1234, 0x5678];
    for host in 0..PACKETS_BURSTABLE as u16 {
        let source = v6([
            prefix[0],
            prefix[1],
            prefix[2],
            prefix[3],
            0xabcd,
            host,
            0,
            host * 7,
        ]);
        assert!(limiter.allow(source, now), "host {host}");
    }
    // Any other host of the same /64 has nothing left.
    assert!(!limiter.allow(
        v6([0x2001, 0xdb8, 0x1234, 0x5678, 0xffff, 0xffff, 0xffff, 0xffff]),
        now
    ));
    // A neighbouring /64 has its own bucket.
    assert!(limiter.allow(v6([0x2001, 0xdb8, 0x1234, 0x5679, 0, 0, 0, 1]), now));
    assert_eq!(limiter.len(), 2);
}

#[test]
fn ipv4_and_ipv6_never_share_a_bucket() {
    let mut limiter = RateLimiter::new(16, KEY);
    let now = Instant::from_secs(1);
    // 0.0.0.0 and the /64 of :: are both the number 0; the family must keep them apart.
    assert_eq!(drain(&mut limiter, v4(0, 0, 0, 0), now), PACKETS_BURSTABLE);
    assert_eq!(drain(&mut limiter, v6([0; 8]), now), PACKETS_BURSTABLE);
}

#[test]
fn full_table_refuses_new_sources_but_serves_known_ones() {
    let mut limiter = RateLimiter::new(3, KEY);
    assert_eq!(limiter.max_entries(), 3);
    let now = Instant::from_secs(10);
    for host in 1..=3 {
        assert!(limiter.allow(v4(10, 0, 0, host), now));
    }
    assert_eq!(limiter.len(), 3);
    assert!(!limiter.allow(v4(10, 0, 0, 4), now));
    assert!(!limiter.allow(v6([0xfd00, 0, 0, 0, 0, 0, 0, 1]), now));
    // Known sources still have their remaining burst.
    assert!(limiter.allow(v4(10, 0, 0, 2), now));
    assert_eq!(limiter.len(), 3);
}

#[test]
fn garbage_collection_frees_idle_entries() {
    let mut limiter = RateLimiter::new(2, KEY);
    let start = Instant::from_secs(10);
    assert!(limiter.allow(v4(10, 0, 0, 1), start));
    assert!(limiter.allow(v4(10, 0, 0, 2), start));
    assert!(!limiter.allow(v4(10, 0, 0, 3), start));

    // Exactly the idle timeout later, nothing is idle *longer* than it yet.
    let at_timeout = start.saturating_add(IDLE_TIMEOUT);
    limiter.collect_garbage(at_timeout);
    assert_eq!(limiter.len(), 2);

    // Keep one source busy; the other goes idle and is collected.
    let busy_time = start.saturating_add(Duration::from_millis(600));
    assert!(limiter.allow(v4(10, 0, 0, 1), busy_time));
    let later = start.saturating_add(IDLE_TIMEOUT + Duration::from_millis(1));
    limiter.collect_garbage(later);
    assert_eq!(limiter.len(), 1);
    assert!(limiter.allow(v4(10, 0, 0, 3), later));
    assert_eq!(limiter.len(), 2);
}

#[test]
fn allow_collects_garbage_on_its_own() {
    let mut limiter = RateLimiter::new(1, KEY);
    let start = Instant::from_secs(50);
    assert!(limiter.allow(v4(192, 0, 2, 1), start));
    assert!(!limiter.allow(v4(192, 0, 2, 2), start));
    // No explicit collection: the sweep runs from allow() once GC_INTERVAL
    // has passed and the old entry has been idle past IDLE_TIMEOUT.
    let later = start
        .saturating_add(GC_INTERVAL.max(IDLE_TIMEOUT))
        .saturating_add(Duration::from_millis(1));
    assert!(limiter.allow(v4(192, 0, 2, 2), later));
    assert_eq!(limiter.len(), 1);
}

#[test]
fn forgotten_source_starts_with_a_full_burst() {
    let mut limiter = RateLimiter::new(4, KEY);
    let source = v4(203, 0, 113, 9);
    let start = Instant::from_secs(3);
    assert_eq!(drain(&mut limiter, source, start), PACKETS_BURSTABLE);
    let later = start.saturating_add(Duration::from_secs(2));
    limiter.collect_garbage(later);
    assert!(limiter.is_empty());
    assert_eq!(drain(&mut limiter, source, later), PACKETS_BURSTABLE);
}

#[test]
fn clock_going_backwards_earns_nothing() {
    let mut limiter = RateLimiter::new(4, KEY);
    let source = v4(203, 0, 113, 10);
    let now = Instant::from_secs(100);
    assert_eq!(drain(&mut limiter, source, now), PACKETS_BURSTABLE);
    let earlier = Instant::from_secs(40);
    assert!(!limiter.allow(source, earlier));
    // Back to the present: no credit for the jump back and forth.
    assert!(!limiter.allow(source, now));
}

#[test]
fn zero_capacity_refuses_everything() {
    let mut limiter = RateLimiter::new(0, KEY);
    assert!(!limiter.allow(v4(10, 0, 0, 1), Instant::from_secs(1)));
    assert!(limiter.is_empty());
}

/// Many sources at a realistic table size: every source gets exactly its
/// burst, and the table never exceeds its bound.
#[test]
fn many_sources_up_to_capacity() {
    let capacity = 5_000;
    let mut limiter = RateLimiter::new(capacity, KEY);
    let now = Instant::from_secs(1);
    for index in 0..capacity as u32 {
        let source = IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 + index * 3));
        assert_eq!(
            drain(&mut limiter, source, now),
            PACKETS_BURSTABLE,
            "source {index}"
        );
    }
    assert_eq!(limiter.len(), capacity);
    assert!(!limiter.allow(v4(192, 0, 2, 1), now));
    limiter.collect_garbage(now.saturating_add(Duration::from_secs(2)));
    assert!(limiter.is_empty());
}
