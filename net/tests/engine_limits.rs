//! Rekey-After-Messages and Reject-After-Messages, reached by advancing the send counter.

mod engine_support;

use std::time::Duration;

use engine_support::*;
use net::engine::timers::{REJECT_AFTER_MESSAGES, REKEY_AFTER_MESSAGES};
use net::{DropReason, PeerId, SendOutcome};

fn established() -> World {
    let mut w = World::new(WorldConfig::default());
    w.force_rekey(Side::A);
    w.run_for(Duration::from_millis(100));
    w
}

#[test]
fn rekey_after_messages_starts_a_handshake_on_send() {
    for side in [Side::A, Side::B] {
        let mut w = established();
        // Past the 5 s initiation limit of the first handshake.
        w.run_for(Duration::from_secs(6));
        // Sending nonce 2^60 - 1 leaves the counter at the limit: nothing happens yet (the
        // check is "more than", as in Linux).
        assert!(w
            .engine(side)
            .testing_set_send_counter(PeerId(0), REKEY_AFTER_MESSAGES - 1));
        assert_eq!(
            w.send(side, &World::packet_from(side, 20)),
            SendOutcome::Sent
        );
        let before = w.sent(side, Kind::Initiation).len();
        // Past it, the next send triggers an initiation, from the responder as well.
        assert_eq!(
            w.send(side, &World::packet_from(side, 20)),
            SendOutcome::Sent
        );
        assert_eq!(w.sent(side, Kind::Initiation).len(), before + 1, "{side:?}");
        w.run_for(Duration::from_millis(100));
        assert_eq!(w.delivered[side.other() as usize].len(), 2);
    }
}

#[test]
fn reject_after_messages_stops_sending_and_receiving() {
    let mut w = established();
    w.up[1] = false;
    assert!(w
        .engine(Side::A)
        .testing_set_send_counter(PeerId(0), REJECT_AFTER_MESSAGES - 1));
    // The last allowed nonce is sent...
    let mut rec = Recorder::default();
    let p = World::packet_from(Side::A, 20);
    let out = w.engines[0].send_packet(now_at(w.now), &p, &mut w.rng, &mut rec);
    assert_eq!(out, SendOutcome::Sent);
    let data: Vec<_> = rec.sent.iter().filter(|(_, d)| d[0] == 4).collect();
    assert_eq!(data.len(), 1);
    let mut last = data[0].1.clone();
    assert_eq!(
        u64::from_le_bytes(last[8..16].try_into().unwrap()),
        REJECT_AFTER_MESSAGES - 1
    );
    // ...after which the keypair is exhausted: packets wait for a new session.
    assert_eq!(w.send(Side::A, &p), SendOutcome::Staged);
    // The receiver rejects counters at or beyond the limit without even decrypting.
    let mut forged = last.clone();
    forged[8..16].copy_from_slice(&REJECT_AFTER_MESSAGES.to_le_bytes());
    let mut rec = Recorder::default();
    let from = w.addrs[0];
    w.engines[1].handle_datagram(now_at(w.now), from, &mut forged, &mut w.rng, &mut rec);
    assert_eq!(w.engines[1].stats().dropped(DropReason::ReplayedCounter), 1);
    // The genuine last packet is accepted.
    w.engines[1].handle_datagram(now_at(w.now), from, &mut last, &mut w.rng, &mut rec);
    assert_eq!(rec.delivered.len(), 1);
}
