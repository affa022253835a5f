//! Simulated-time tests of every protocol timer: each fires when it must and never
//! otherwise. Hours of virtual time run in milliseconds.

mod engine_support;

use std::time::Duration;

use engine_support::*;
use net::{DropReason, Instant, PeerId, SendOutcome};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn established(config: WorldConfig) -> World {
    let mut w = World::new(config);
    w.force_rekey(Side::A);
    w.run_for(ms(100));
    assert_eq!(w.engine(Side::B).stats().keepalives_received, 1);
    w
}

#[test]
fn an_idle_pair_without_keepalive_sends_nothing_for_an_hour() {
    let mut w = World::new(WorldConfig::default());
    w.run_for(secs(3600));
    assert!(w.log.is_empty(), "{:?}", w.log);
    assert_eq!(w.engine(Side::A).next_deadline(), None);
}

#[test]
fn passive_keepalive_ten_seconds_after_receiving_data() {
    let mut w = established(WorldConfig::default());
    w.run_until(at(secs(1)));
    assert_eq!(
        w.send(Side::A, &World::packet_from(Side::A, 20)),
        SendOutcome::Sent
    );
    w.run_for(secs(60));
    // B received data at 1.010 s and sent nothing: one keepalive at exactly 11.010 s.
    assert_eq!(
        w.sent(Side::B, Kind::Keepalive),
        vec![Instant::from_millis(11_010)]
    );
    // That keepalive answered A, so A does not re-handshake.
    assert_eq!(w.sent(Side::A, Kind::Initiation).len(), 1);
}

#[test]
fn new_handshake_fifteen_seconds_after_unanswered_data() {
    let mut w = established(WorldConfig::default());
    w.up[1] = false;
    w.run_until(at(secs(1)));
    w.send(Side::A, &World::packet_from(Side::A, 20));
    w.run_for(secs(20));
    let inits = w.sent(Side::A, Kind::Initiation);
    assert_eq!(inits.len(), 2, "{inits:?}");
    let waited = inits[1].saturating_duration_since(at(secs(1)));
    assert!(
        waited >= secs(15) && waited <= secs(15) + ms(333),
        "{waited:?}"
    );
}

#[test]
fn retries_every_five_seconds_plus_jitter_then_gives_up_and_drops_staged() {
    let mut w = World::new(WorldConfig::default());
    w.up[1] = false;
    assert_eq!(
        w.send(Side::A, &World::packet_from(Side::A, 30)),
        SendOutcome::Staged
    );
    w.run_until(at(secs(99)));
    assert_eq!(
        w.engine(Side::A)
            .peer_stats(PeerId(0))
            .unwrap()
            .staged_packets,
        1
    );
    w.run_until(at(secs(3600)));
    let inits = w.sent(Side::A, Kind::Initiation);
    // One initiation plus Rekey-Attempt-Time / Rekey-Timeout + 1 retries, as Linux.
    assert_eq!(inits.len(), 20, "{inits:?}");
    for pair in inits.windows(2) {
        let gap = pair[1].saturating_duration_since(pair[0]);
        assert!(
            gap >= secs(5) && gap <= secs(5) + ms(333),
            "retry gap {gap:?}"
        );
    }
    let jitters: Vec<u64> = inits
        .windows(2)
        .map(|p| p[1].saturating_duration_since(p[0]).as_millis() as u64 - 5000)
        .collect();
    assert!(
        jitters.iter().any(|j| *j > 0),
        "jitter is random, not always zero"
    );
    let last = *inits.last().unwrap();
    assert!(last >= at(secs(95)) && last <= at(secs(95) + ms(19 * 333)));
    let stats = w.engine(Side::A).peer_stats(PeerId(0)).unwrap();
    assert_eq!(stats.staged_packets, 0);
    assert_eq!(
        w.engine(Side::A)
            .stats()
            .dropped(DropReason::HandshakeGaveUp),
        1
    );
    // Nothing at all afterwards.
    assert_eq!(w.log.len(), 20);
}

#[test]
fn initiator_rekeys_after_120_seconds_of_sending() {
    let mut w = established(WorldConfig::default());
    for s in 1..=200u64 {
        w.run_until(at(secs(s)));
        w.send(Side::A, &World::packet_from(Side::A, 20));
    }
    w.run_for(ms(100));
    let inits = w.sent(Side::A, Kind::Initiation);
    // Keypair born at 20 ms: the first send at or after 120.020 s is at 121 s.
    assert_eq!(inits, vec![Instant::ZERO, at(secs(121))]);
    // The responder never re-keys on time.
    assert!(w.sent(Side::B, Kind::Initiation).is_empty());
    assert_eq!(w.delivered[1].len(), 200);
}

#[test]
fn initiator_rekeys_on_receive_at_165_seconds() {
    // B only sends persistent keepalives (every 5 s); A receives and never sends.
    let mut w = established(WorldConfig {
        keepalive: [None, Some(secs(5))],
        knows_endpoint: [true, false],
        ..WorldConfig::default()
    });
    w.run_until(at(secs(170)));
    let inits = w.sent(Side::A, Kind::Initiation);
    assert_eq!(inits.len(), 2, "{inits:?}");
    assert!(inits[1] >= at(secs(165) + ms(20)) && inits[1] <= at(secs(165) + ms(20) + secs(5)));
    assert!(w.sent(Side::A, Kind::Data).is_empty());
    assert!(w.sent(Side::B, Kind::Initiation).is_empty());
}

#[test]
fn reject_after_180_seconds_on_send_and_receive() {
    let mut w = established(WorldConfig::default());
    w.up[1] = false;
    w.run_until(at(secs(100)));
    let mut captured = Vec::new();
    for _ in 0..2 {
        let mut rec = Recorder::default();
        let p = World::packet_from(Side::A, 20);
        assert_eq!(
            w.engines[0].send_packet(now_at(w.now), &p, &mut w.rng, &mut rec),
            SendOutcome::Sent
        );
        captured.push(rec.sent[0].1.clone());
    }
    w.run_until(at(secs(179) + ms(900)));
    assert_eq!(
        w.send(Side::A, &World::packet_from(Side::A, 20)),
        SendOutcome::Sent
    );
    w.run_until(at(secs(180) + ms(100)));
    assert_eq!(
        w.send(Side::A, &World::packet_from(Side::A, 20)),
        SendOutcome::Staged
    );
    // B's keypair was born at 10 ms: accepted at 180.000 s, rejected at 180.010 s.
    let from = w.addrs[0];
    let mut rec = Recorder::default();
    w.engines[1].handle_datagram(
        now_at(at(secs(180))),
        from,
        &mut captured[0],
        &mut w.rng,
        &mut rec,
    );
    assert_eq!(rec.delivered.len(), 1);
    w.engines[1].handle_datagram(
        now_at(at(secs(180) + ms(10))),
        from,
        &mut captured[1],
        &mut w.rng,
        &mut rec,
    );
    assert_eq!(rec.delivered.len(), 1);
    assert_eq!(w.engines[1].stats().dropped(DropReason::ExpiredKeypair), 1);
}

#[test]
fn keys_are_wiped_after_540_seconds_without_a_handshake() {
    let mut w = established(WorldConfig::default());
    w.run_until(at(secs(539) + ms(900)));
    for side in [Side::A, Side::B] {
        assert_eq!(w.engine(side).peer_stats(PeerId(0)).unwrap().keypairs, 1);
    }
    w.run_until(at(secs(540) + ms(100)));
    for side in [Side::A, Side::B] {
        assert_eq!(
            w.engine(side).peer_stats(PeerId(0)).unwrap().keypairs,
            0,
            "{side:?}"
        );
        assert_eq!(w.engine(side).next_deadline(), None);
    }
    // After the first exchange nothing was ever sent.
    assert_eq!(w.log.len(), 3);
    w.run_for(secs(3600));
    assert_eq!(w.log.len(), 3);
}

#[test]
fn persistent_keepalive_every_interval() {
    let mut w = World::new(WorldConfig {
        keepalive: [Some(secs(25)), None],
        ..WorldConfig::default()
    });
    w.run_until(at(secs(110)));
    // The first poll sends the keepalive, which needs a handshake; the staged keepalive then
    // confirms the session at 20 ms and the interval restarts from there.
    assert_eq!(w.sent(Side::A, Kind::Initiation), vec![Instant::ZERO]);
    let expected: Vec<Instant> = (0..5).map(|k| at(ms(20) + secs(25 * k))).collect();
    assert_eq!(w.sent(Side::A, Kind::Keepalive), expected);
    // Over an hour A is never silent for more than the interval, and B (no keepalive,
    // receiving only keepalives) sends nothing but handshake responses.
    w.run_until(at(secs(3600)));
    let mut a_times: Vec<Instant> = w
        .log
        .iter()
        .filter(|s| s.by == Side::A)
        .map(|s| s.at)
        .collect();
    a_times.dedup();
    for pair in a_times.windows(2) {
        assert!(
            pair[1].saturating_duration_since(pair[0]) <= secs(25),
            "{pair:?}"
        );
    }
    assert!(w
        .log
        .iter()
        .filter(|s| s.by == Side::B)
        .all(|s| s.kind == Kind::Response));
}

#[test]
fn hours_of_lossy_reordered_duplicated_traffic() {
    let mut w = established(WorldConfig {
        seed: 77,
        ..WorldConfig::default()
    });
    w.net = Impairment {
        latency: ms(20),
        jitter: ms(40),
        loss: 0.05,
        duplicate: 0.05,
    };
    let mut sent = [0u64; 2];
    let mut t = at(secs(1));
    let end = at(secs(3 * 3600));
    let mut k = 0u64;
    while t < end {
        w.run_until(t);
        // Traffic in bursts: 20 minutes on, 20 minutes off.
        if (t.as_secs() / 1200).is_multiple_of(2) {
            for side in [Side::A, Side::B] {
                let mut p = World::packet_from(side, 24);
                p[20..28].copy_from_slice(&k.to_be_bytes());
                if w.send(side, &p) != SendOutcome::NoRoute {
                    sent[side as usize] += 1;
                }
                k += 1;
            }
        }
        t = t.saturating_add(ms(700));
    }
    w.run_for(secs(3600));
    for side in [Side::A, Side::B] {
        // Handshake initiations never closer than Rekey-Timeout.
        let inits = w.sent(side, Kind::Initiation);
        for pair in inits.windows(2) {
            assert!(
                pair[1].saturating_duration_since(pair[0]) >= secs(5),
                "{side:?} {pair:?}"
            );
        }
        // Each inner packet delivered at most once, despite duplication.
        let mut ids: Vec<u64> = w.delivered[side as usize]
            .iter()
            .map(|(_, p)| u64::from_be_bytes(p[20..28].try_into().unwrap()))
            .collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "{side:?} got a duplicate");
        let other = side.other() as usize;
        assert!(
            n as f64 > 0.85 * sent[other] as f64,
            "{side:?}: {n} of {}",
            sent[other]
        );
        let stats = w.engine(side).stats();
        for reason in [
            DropReason::DataDecryptFailed,
            DropReason::InvalidMac1,
            DropReason::HandshakeDecryptFailed,
            DropReason::DisallowedSource,
            DropReason::InvalidInnerPacket,
            DropReason::CryptoError,
        ] {
            assert_eq!(stats.dropped(reason), 0, "{side:?} {reason}");
        }
        // Keys were wiped in the final idle hour and nothing was sent at its end.
        assert_eq!(w.engine(side).peer_stats(PeerId(0)).unwrap().keypairs, 0);
    }
    let last = w.log.last().unwrap().at;
    assert!(
        last < end.saturating_add(secs(600)),
        "traffic long after the end: {last}"
    );
    // Handshakes roughly every two minutes while traffic flowed (90 active minutes).
    let total_inits =
        w.sent(Side::A, Kind::Initiation).len() + w.sent(Side::B, Kind::Initiation).len();
    assert!(
        (40..=200).contains(&total_inits),
        "{total_inits} initiations"
    );
}
