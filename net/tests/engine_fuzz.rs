//! Malformed, truncated, oversized, replayed and wrongly keyed packets of every message type
//! are dropped and counted, never panicking; then a million random and mutated datagrams.

mod engine_support;

use std::net::SocketAddr;
use std::time::Duration;

use engine_support::*;
use net::{DropReason, Engine, EngineStats, Instant, PeerId};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Valid messages of every type, captured from a real exchange between A and B, all
/// addressed to B: an initiation, a keepalive and data packets; plus a response and a cookie
/// reply addressed to B (captured with the roles reversed).
struct Captured {
    to_b: Vec<Vec<u8>>,
}

fn capture() -> (World, Captured) {
    let mut w = World::new(WorldConfig::default());
    let mut to_b = Vec::new();
    // A's initiation towards B, taken first: once A has answered B's initiation below, A
    // sends no initiation of its own within Rekey-Timeout.
    let mut rec = Recorder::default();
    w.engines[0].force_rekey(PeerId(0), now_at(w.now), &mut w.rng, &mut rec);
    let init_a = rec.sent.pop().unwrap().1;
    let mut rec = Recorder::default();
    // B initiates towards A: A's response is addressed to B.
    w.engines[1].force_rekey(PeerId(0), now_at(w.now), &mut w.rng, &mut rec);
    let init_b = rec.sent.pop().unwrap().1;
    let mut m = init_b.clone();
    let mut rec = Recorder::default();
    w.engines[0].handle_datagram(now_at(w.now), w.addrs[1], &mut m, &mut w.rng, &mut rec);
    let response_to_b = rec.sent.pop().unwrap().1;
    to_b.push(response_to_b.clone());
    to_b.push(init_a);
    // A cookie reply-shaped message naming one of B's indices.
    let mut cookie = vec![0u8; 64];
    cookie[0] = 3;
    cookie[4..8].copy_from_slice(&response_to_b[8..12]);
    to_b.push(cookie);
    // Complete the exchange, then capture transport data of several sizes.
    let mut m = response_to_b;
    let mut rec = Recorder::default();
    w.engines[1].handle_datagram(now_at(w.now), w.addrs[0], &mut m, &mut w.rng, &mut rec);
    for (to, mut d) in rec.sent {
        assert_eq!(to, w.addrs[0]);
        let mut r = Recorder::default();
        w.engines[0].handle_datagram(now_at(w.now), w.addrs[1], &mut d, &mut w.rng, &mut r);
    }
    for len in [0usize, 20, 100, 1400] {
        let mut rec = Recorder::default();
        let p = World::packet_from(Side::A, len);
        let _ = w.engines[0].send_packet(now_at(w.now), &p, &mut w.rng, &mut rec);
        to_b.extend(rec.sent.into_iter().map(|(_, d)| d));
    }
    // And a keepalive.
    let mut rec = Recorder::default();
    w.engines[0].force_rekey(PeerId(0), now_at(w.now), &mut w.rng, &mut rec);
    assert!(to_b.iter().filter(|m| m[0] == 4).count() >= 4);
    for m in &to_b {
        assert!(m.len() < 1600);
    }
    (w, Captured { to_b })
}

fn accepted(s: &EngineStats) -> u64 {
    s.packets_delivered
        + s.keepalives_received
        + s.initiations_accepted
        + s.responses_accepted
        + s.cookie_replies_accepted
}

#[test]
fn every_kind_of_bad_message_is_dropped_and_counted() {
    let (mut w, captured) = capture();
    let from: SocketAddr = "192.0.2.200:1".parse().unwrap();
    let b = &mut w.engines[1];
    let now = now_at(Instant::from_secs(1));
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut rec = Recorder::default();
    let mut feed =
        |b: &mut Engine, d: &mut [u8]| b.handle_datagram(now, from, d, &mut rng, &mut rec);
    // The genuine handshake messages once, so that their mutations (e.g. of MAC2, which is
    // not checked unless under load) are replays.
    for msg in captured.to_b.iter().filter(|m| m[0] != 4) {
        feed(b, &mut msg.clone());
    }
    for msg in &captured.to_b {
        // Truncated, extended, wrong type, non-zero reserved byte.
        feed(b, &mut msg[..msg.len() - 1].to_vec());
        let mut longer = msg.clone();
        longer.push(0);
        feed(b, &mut longer);
        let mut wrong = msg.clone();
        wrong[0] = 9;
        feed(b, &mut wrong);
        let mut reserved = msg.clone();
        reserved[2] = 1;
        feed(b, &mut reserved);
    }
    let s = b.stats();
    // Transport data may be any length of 32 or more, so only its truncation to 31 bytes,
    // and extension with garbage, differ: the extended one fails authentication instead.
    assert!(s.dropped(DropReason::MalformedDatagram) >= 3 * captured.to_b.len() as u64 - 3);
    let before = s.clone();
    // Every byte of every valid message flipped in turn (wrong key, wrong MAC, wrong index...).
    for msg in &captured.to_b {
        for i in 0..msg.len() {
            let mut m = msg.clone();
            m[i] ^= 0x40;
            feed(b, &mut m);
        }
    }
    let s = b.stats();
    assert_eq!(
        accepted(s),
        accepted(&before),
        "a corrupted message was accepted"
    );
    assert!(s.dropped(DropReason::InvalidMac1) > before.dropped(DropReason::InvalidMac1));
    assert!(s.dropped(DropReason::DataDecryptFailed) > 0);
    assert!(s.dropped(DropReason::UnknownIndex) > 0);
    assert!(s.dropped(DropReason::InvalidCookieReply) > 0);
    // Replays of the genuine transport messages: accepted once, then counted as replays.
    let transport: Vec<_> = captured
        .to_b
        .iter()
        .filter(|m| m[0] == 4)
        .cloned()
        .collect();
    for m in &transport {
        feed(b, &mut m.clone());
    }
    let delivered = b.stats().packets_delivered;
    for m in &transport {
        feed(b, &mut m.clone());
    }
    assert_eq!(b.stats().packets_delivered, delivered);
    assert!(b.stats().dropped(DropReason::ReplayedCounter) >= transport.len() as u64);
    // Empty and tiny datagrams.
    for len in 0..8 {
        feed(b, &mut vec![4u8; len]);
    }
    assert_eq!(
        b.stats().datagrams_received,
        b.stats().total_dropped() + accepted(b.stats())
    );
}

#[test]
fn a_million_random_and_mutated_datagrams() {
    let (mut w, captured) = capture();
    let mut rng = ChaCha8Rng::seed_from_u64(0xf00d);
    let mut engine_rng = ChaCha8Rng::seed_from_u64(0xbeef);
    let mut rec = Recorder::default();
    let sources: Vec<SocketAddr> = vec![
        "192.0.2.1:51820".parse().unwrap(),
        "203.0.113.7:1234".parse().unwrap(),
        "[2001:db8::1]:5".parse().unwrap(),
    ];
    let mut buf = vec![0u8; 1600];
    let started = std::time::Instant::now();
    const N: u64 = 1_000_000;
    for i in 0..N {
        let now = now_at(Instant::from_secs(2).saturating_add(Duration::from_micros(i)));
        let len = if rng.next_u32() % 4 == 0 {
            // Random bytes with a plausible header half of the time.
            let len = (rng.next_u32() % 200) as usize;
            rng.fill_bytes(&mut buf[..len]);
            if len >= 4 && rng.next_u32() % 2 == 0 {
                buf[0] = 1 + (rng.next_u32() % 4) as u8;
                buf[1..4].fill(0);
            }
            len
        } else {
            let base = &captured.to_b[(rng.next_u32() as usize) % captured.to_b.len()];
            let mut len = base.len();
            buf[..len].copy_from_slice(base);
            for _ in 0..1 + rng.next_u32() % 3 {
                match rng.next_u32() % 4 {
                    0 if len > 0 => len = (rng.next_u32() as usize) % len,
                    1 if len < 1500 => {
                        buf[len] = rng.next_u32() as u8;
                        len += 1
                    }
                    _ if len > 0 => {
                        let at = (rng.next_u32() as usize) % len;
                        buf[at] ^= 1 << (rng.next_u32() % 8);
                    }
                    _ => {}
                }
            }
            len
        };
        let from = sources[(i % 3) as usize];
        w.engines[1].handle_datagram(now, from, &mut buf[..len], &mut engine_rng, &mut rec);
        rec.sent.clear();
        rec.delivered.clear();
        if i % 1000 == 0 {
            w.engines[1].poll_timers(now, &mut engine_rng, &mut rec);
        }
    }
    let s = w.engines[1].stats();
    assert!(s.datagrams_received >= N);
    assert!(
        s.total_dropped() >= N - 100,
        "almost everything must be dropped"
    );
    assert_eq!(s.datagrams_received, s.total_dropped() + accepted(s));
    assert!(
        s.cookie_replies_sent > 0,
        "the flood put the engine under load"
    );
    eprintln!("1M datagrams in {:?}", started.elapsed());
    for (reason, n) in s.drops() {
        eprintln!("  {reason}: {n}");
    }
}
