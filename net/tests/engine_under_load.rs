//! Denial-of-service defences: cookies under load, per-source rate limiting, TAI64N replay
//! protection and the 50 initiations per second per peer limit.

mod engine_support;

use std::net::SocketAddr;
use std::time::Duration;

use crypto::{create_initiation, CookieState, LocalIdentity, PeerKeys, PrivateKey, Tai64N};
use engine_support::*;
use net::{DropReason, EngineOptions, Instant, PeerId};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

fn low_threshold() -> WorldConfig {
    WorldConfig {
        options: EngineOptions {
            handshakes_per_second_before_load: 4,
            ..EngineOptions::default()
        },
        ..WorldConfig::default()
    }
}

/// Someone who knows B's public key (so MAC1 is valid) but is not B's peer.
struct Stranger {
    keys: PeerKeys,
    cookies: CookieState,
    rng: ChaCha8Rng,
    index: u32,
}

impl Stranger {
    fn new(world: &World) -> Stranger {
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        let local = LocalIdentity::new(PrivateKey::generate(&mut rng));
        let b_public = *world.engines[1].public_key();
        Stranger {
            keys: PeerKeys::new(&local, b_public, None).unwrap(),
            cookies: CookieState::new(),
            rng,
            index: 0,
        }
    }

    fn initiation(&mut self, now: Instant) -> [u8; 148] {
        let mut out = [0u8; 148];
        self.index += 1;
        let stamp = Tai64N::from_unix_duration(UNIX_BASE + Duration::from_nanos(now.as_nanos()));
        create_initiation(
            &self.keys,
            &mut self.cookies,
            self.index,
            stamp,
            Duration::from_nanos(now.as_nanos()),
            &mut self.rng,
            &mut out,
        )
        .unwrap();
        out
    }
}

fn inject(w: &mut World, side: usize, from: SocketAddr, datagram: &mut [u8]) -> Recorder {
    let mut rec = Recorder::default();
    let now = now_at(w.now);
    w.engines[side].handle_datagram(now, from, datagram, &mut w.rng, &mut rec);
    rec
}

#[test]
fn a_flood_makes_cookies_mandatory_and_a_peer_with_a_cookie_still_gets_through() {
    let mut w = World::new(low_threshold());
    let mut stranger = Stranger::new(&w);
    let attacker: SocketAddr = "203.0.113.1:9999".parse().unwrap();
    w.run_until(at(secs(10)));
    let mut cookie_replies = 0;
    for _ in 0..10 {
        let mut m = stranger.initiation(w.now);
        let rec = inject(&mut w, 1, attacker, &mut m);
        cookie_replies += rec
            .sent
            .iter()
            .filter(|(to, d)| *to == attacker && d[0] == 3)
            .count();
    }
    // The first four were processed (and refused: unknown peer), the rest answered with cookies.
    assert_eq!(w.engines[1].stats().dropped(DropReason::UnknownPeer), 4);
    assert_eq!(cookie_replies, 6);
    assert_eq!(w.engines[1].stats().cookie_replies_sent, 6);
    assert!(w.engines[1].is_under_load(now_at(w.now)));

    // The genuine peer initiates while the flood goes on (10 messages every 100 ms).
    w.force_rekey(Side::A);
    let mut t = w.now;
    for _ in 0..80 {
        t = t.saturating_add(Duration::from_millis(100));
        w.run_until(t);
        for _ in 0..10 {
            let mut m = stranger.initiation(w.now);
            inject(&mut w, 1, attacker, &mut m);
        }
    }
    // A got a cookie reply for its first initiation, and its retry carried MAC2.
    assert_eq!(w.engines[0].stats().cookie_replies_accepted, 1);
    assert_eq!(
        w.engines[0]
            .peer_stats(PeerId(0))
            .unwrap()
            .handshakes_completed,
        1
    );
    assert_eq!(
        w.engines[1]
            .peer_stats(PeerId(0))
            .unwrap()
            .handshakes_completed,
        1
    );
    assert!(w.engines[1].stats().dropped(DropReason::CookieRequired) > 700);
    // The cookie reply to A went unmarked (as Linux sends it); A's
    // initiations carried DSCP AF41.
    let cookies: Vec<u8> = w
        .log
        .iter()
        .filter(|s| s.kind == Kind::Cookie)
        .map(|s| s.ds)
        .collect();
    assert_eq!(cookies, vec![0]);
    assert!(w
        .log
        .iter()
        .filter(|s| s.kind == Kind::Initiation)
        .all(|s| s.ds == 0x88));
    // Load ends a second after the flood stops.
    w.run_for(Duration::from_millis(1001));
    assert!(!w.engines[1].is_under_load(now_at(w.now)));
}

#[test]
fn sources_holding_a_cookie_are_rate_limited_per_address() {
    let mut w = World::new(low_threshold());
    let mut stranger = Stranger::new(&w);
    let attacker: SocketAddr = "203.0.113.1:9999".parse().unwrap();
    w.run_until(at(secs(1)));
    let mut last_reply = None;
    for _ in 0..6 {
        let mut m = stranger.initiation(w.now);
        let rec = inject(&mut w, 1, attacker, &mut m);
        if let Some((_, d)) = rec.sent.into_iter().find(|(_, d)| d[0] == 3) {
            last_reply = Some(d);
        }
    }
    let reply = last_reply.expect("under load after 4 messages");
    let clock = Duration::from_nanos(w.now.as_nanos());
    stranger
        .cookies
        .consume_reply(&stranger.keys, &reply, clock)
        .unwrap();
    // Now MAC2 is valid for this address: 5 pass (burst), the rest are rate limited.
    for _ in 0..10 {
        let mut m = stranger.initiation(w.now);
        let rec = inject(&mut w, 1, attacker, &mut m);
        assert!(rec.sent.is_empty());
    }
    let stats = w.engines[1].stats();
    assert_eq!(stats.dropped(DropReason::RateLimited), 5);
    assert_eq!(stats.dropped(DropReason::UnknownPeer), 4 + 5);
    // The same cookie from another address is worthless: a cookie reply again.
    let other: SocketAddr = "203.0.113.2:9999".parse().unwrap();
    let mut m = stranger.initiation(w.now);
    let rec = inject(&mut w, 1, other, &mut m);
    assert_eq!(rec.sent.len(), 1);
    assert_eq!(rec.sent[0].1[0], 3);
    // 50 ms later the bucket has one token again (20 per second).
    w.run_for(Duration::from_millis(50));
    let mut m = stranger.initiation(w.now);
    inject(&mut w, 1, attacker, &mut m);
    assert_eq!(w.engines[1].stats().dropped(DropReason::UnknownPeer), 10);
}

#[test]
fn replayed_initiation_is_rejected_by_its_timestamp() {
    let mut w = World::new(WorldConfig::default());
    let mut rec = Recorder::default();
    w.engines[0].force_rekey(PeerId(0), now_at(w.now), &mut w.rng, &mut rec);
    let initiation = rec.sent[0].1.clone();
    let from = w.addrs[0];
    let mut first = initiation.clone();
    let out = inject(&mut w, 1, from, &mut first);
    assert_eq!(out.sent.len(), 1, "answered once");
    w.run_for(secs(1));
    let mut again = initiation.clone();
    let out = inject(&mut w, 1, from, &mut again);
    assert!(out.sent.is_empty(), "a replay is never answered");
    assert_eq!(w.engines[1].stats().dropped(DropReason::StaleTimestamp), 1);
}

#[test]
fn more_than_fifty_initiations_per_second_from_one_peer_are_rejected() {
    let mut w = World::new(WorldConfig::default());
    let (a_private, _) = keys(1);
    let local = LocalIdentity::new(a_private);
    let peer = PeerKeys::new(&local, *w.engines[1].public_key(), None).unwrap();
    let mut cookies = CookieState::new();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let from = w.addrs[0];
    let mut answered = Vec::new();
    // One every 10 ms (100 per second) with ever newer timestamps.
    for i in 0..20u64 {
        w.run_until(at(Duration::from_millis(1000 + 10 * i)));
        let mut m = [0u8; 148];
        let stamp = Tai64N::from_unix_duration(UNIX_BASE + Duration::from_millis(1000 + 30 * i));
        create_initiation(
            &peer,
            &mut cookies,
            i as u32,
            stamp,
            Duration::ZERO,
            &mut rng,
            &mut m,
        )
        .unwrap();
        let out = inject(&mut w, 1, from, &mut m);
        if !out.sent.is_empty() {
            answered.push(i);
        }
    }
    // Only every other one is at least 20 ms after the last accepted one.
    assert_eq!(answered, (0..20).step_by(2).collect::<Vec<u64>>());
    assert_eq!(
        w.engines[1].stats().dropped(DropReason::InitiationFlood),
        10
    );
}
