//! Two engines wired together in memory: handshakes in both directions, data both ways,
//! padding, counters, key confirmation and the initiator's confirming keepalive.

mod engine_support;

use std::time::Duration;

use crypto::wire::padded_payload_len;
use engine_support::*;
use net::{Instant, PeerId, SendOutcome};
use rand_core::SeedableRng;

#[test]
fn initiator_with_nothing_to_send_confirms_with_a_keepalive() {
    let mut w = World::new(WorldConfig::default());
    w.force_rekey(Side::A);
    w.run_for(Duration::from_millis(100));
    assert_eq!(w.sent(Side::A, Kind::Initiation), vec![Instant::ZERO]);
    assert_eq!(
        w.sent(Side::B, Kind::Response),
        vec![Instant::from_millis(10)]
    );
    // The keepalive goes out the moment the response is processed.
    assert_eq!(
        w.sent(Side::A, Kind::Keepalive),
        vec![Instant::from_millis(20)]
    );
    assert_eq!(w.engine(Side::B).stats().keepalives_received, 1);
    for side in [Side::A, Side::B] {
        let stats = w.engine(side).peer_stats(PeerId(0)).unwrap();
        assert_eq!(stats.handshakes_completed, 1, "{side:?}");
        assert!(stats.last_handshake.is_some());
        assert_eq!(stats.keypairs, 1);
    }
    // Nothing else happens afterwards for a while.
    let before = w.log.len();
    w.run_for(Duration::from_secs(9));
    assert_eq!(w.log.len(), before);
}

#[test]
fn handshake_from_either_side_then_data_both_ways() {
    for first in [Side::A, Side::B] {
        let mut w = World::new(WorldConfig::default());
        let packet = World::packet_from(first, 100);
        assert_eq!(w.send(first, &packet), SendOutcome::Staged);
        w.run_for(Duration::from_millis(100));
        assert_eq!(w.delivered[first as usize].len(), 0, "wrong side delivered");
        let got: Vec<_> = match first.other() {
            Side::A => w.delivered[0].clone(),
            Side::B => w.delivered[1].clone(),
        };
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, packet);
        // Staged packet replaced the keepalive.
        assert!(w.sent(first, Kind::Keepalive).is_empty());
        // Now traffic both ways goes straight out.
        for i in 0..50 {
            for side in [Side::A, Side::B] {
                let p = World::packet_from(side, 10 + i * 7);
                assert_eq!(w.send(side, &p), SendOutcome::Sent);
            }
            w.run_for(Duration::from_millis(5));
        }
        w.run_for(Duration::from_millis(50));
        let idx = |s: Side| if s == Side::A { 0 } else { 1 };
        for side in [Side::A, Side::B] {
            let received: Vec<_> = w.delivered[idx(side)]
                .iter()
                .map(|(_, p)| p.clone())
                .collect();
            let expected: Vec<_> = (0..50)
                .map(|i| World::packet_from(side.other(), 10 + i * 7))
                .collect();
            let tail = &received[received.len() - 50..];
            assert_eq!(tail, &expected[..], "{side:?} received the wrong packets");
        }
        // Byte counters agree across the (lossless) wire.
        let a = w.engine(Side::A).peer_stats(PeerId(0)).unwrap();
        let b = w.engine(Side::B).peer_stats(PeerId(0)).unwrap();
        assert_eq!(a.tx_bytes, b.rx_bytes);
        assert_eq!(b.tx_bytes, a.rx_bytes);
        assert_eq!(a.packets_sent, b.packets_received);
        assert_eq!(b.packets_sent, a.packets_received);
        assert_eq!(w.engine(Side::A).stats().total_dropped(), 0);
        assert_eq!(w.engine(Side::B).stats().total_dropped(), 0);
    }
}

#[test]
fn both_sides_initiating_at_once_still_converge() {
    let mut w = World::new(WorldConfig::default());
    let pa = World::packet_from(Side::A, 40);
    let pb = World::packet_from(Side::B, 41);
    assert_eq!(w.send(Side::A, &pa), SendOutcome::Staged);
    assert_eq!(w.send(Side::B, &pb), SendOutcome::Staged);
    // The crossing initiations replace each other's pending handshake (as in Linux), so the
    // crossing responses complete nothing; the next retry, after Rekey-Timeout and jitter,
    // makes the one session.
    w.run_for(Duration::from_secs(10));
    assert_eq!(
        w.delivered[1].iter().map(|d| &d.1).collect::<Vec<_>>(),
        vec![&pa]
    );
    assert_eq!(
        w.delivered[0].iter().map(|d| &d.1).collect::<Vec<_>>(),
        vec![&pb]
    );
    for side in [Side::A, Side::B] {
        let drops: Vec<_> = w
            .engine(side)
            .stats()
            .drops()
            .filter(|(_, n)| *n > 0)
            .collect();
        assert_eq!(
            drops,
            vec![(net::DropReason::UnknownIndex, 1)],
            "{side:?}: only the crossing response"
        );
    }
}

#[test]
fn padding_is_to_sixteen_and_never_past_the_mtu() {
    let mut w = World::new(WorldConfig::default());
    w.force_rekey(Side::A);
    w.run_for(Duration::from_millis(100));
    let mtu = usize::from(w.engine(Side::A).options().mtu);
    for total in 20..=mtu {
        let p = World::packet_from(Side::A, total - 20);
        assert_eq!(w.send(Side::A, &p), SendOutcome::Sent);
        let last = w.log.last().unwrap();
        assert_eq!(last.kind, Kind::Data);
        assert_eq!(
            last.len,
            32 + padded_payload_len(total, mtu),
            "inner length {total}"
        );
        assert!(last.len <= mtu + 32);
    }
    let too_big = World::packet_from(Side::A, mtu - 19);
    assert_eq!(
        w.send(Side::A, &too_big),
        SendOutcome::TooBig { mtu: mtu as u16 }
    );
    w.run_for(Duration::from_millis(100));
    // Every packet arrived with its padding trimmed.
    assert_eq!(w.delivered[1].len(), mtu - 19);
    for (i, (_, p)) in w.delivered[1].iter().enumerate() {
        assert_eq!(p.len(), 20 + i);
    }
}

#[test]
fn responder_sends_no_data_before_key_confirmation() {
    let mut w = World::new(WorldConfig::default());
    w.force_rekey(Side::A);
    // B processes the initiation at 10 ms; A's keepalive reaches B at 30 ms.
    w.run_until(Instant::from_millis(15));
    assert_eq!(w.sent(Side::B, Kind::Response).len(), 1);
    let p = World::packet_from(Side::B, 64);
    assert_eq!(
        w.send(Side::B, &p),
        SendOutcome::Staged,
        "B must wait for confirmation"
    );
    assert!(w.sent(Side::B, Kind::Data).is_empty());
    w.run_until(Instant::from_millis(29));
    assert!(w.sent(Side::B, Kind::Data).is_empty());
    w.run_until(Instant::from_millis(30));
    // Confirmed by A's keepalive: the staged packet leaves at once.
    assert_eq!(w.sent(Side::B, Kind::Data), vec![Instant::from_millis(30)]);
    w.run_for(Duration::from_millis(100));
    assert_eq!(w.delivered[0].len(), 1);
    assert_eq!(w.delivered[0][0].1, p);
}

#[test]
fn counters_advance_and_each_packet_uses_a_fresh_nonce() {
    let mut w = World::new(WorldConfig::default());
    w.force_rekey(Side::A);
    w.run_for(Duration::from_millis(100));
    let mut counters = Vec::new();
    for _ in 0..20 {
        let mut rec = Recorder::default();
        let now = now_at(w.now);
        let p = World::packet_from(Side::A, 30);
        w.engines[0].send_packet(now, &p, &mut w.rng, &mut rec);
        let d = &rec.sent[0].1;
        counters.push(u64::from_le_bytes(d[8..16].try_into().unwrap()));
    }
    // Counter 0 went to the confirming keepalive.
    assert_eq!(counters, (1..=20).collect::<Vec<u64>>());
}

/// Linux and wireguard-go record a handshake response as the latest handshake sent: a
/// responder with data of its own waits for the initiator's confirmation instead of starting
/// a second handshake.
#[test]
fn a_response_counts_as_the_latest_handshake_sent() {
    let mut w = World::new(WorldConfig::default());
    w.force_rekey(Side::A);
    // B's response goes out at 10 ms; A's confirmation reaches B at 30 ms.
    w.run_for(Duration::from_millis(15));
    assert_eq!(w.sent(Side::B, Kind::Response).len(), 1);
    // B now has data before its new session is confirmed.
    let outcome = w.send(Side::B, &World::packet_from(Side::B, 100));
    assert_eq!(outcome, SendOutcome::Staged);
    w.run_for(Duration::from_secs(2));
    assert!(
        w.sent(Side::B, Kind::Initiation).is_empty(),
        "no redundant initiation within Rekey-Timeout of the response"
    );
    assert_eq!(
        w.delivered[0].len(),
        1,
        "B's packet went out once A confirmed the session"
    );
}

/// Both sides initiate in the same instant and the responses cross: as in Linux, consuming
/// the peer's initiation replaces our own pending handshake, so the crossing responses find
/// nothing to complete and exactly one session comes out in the end.
#[test]
fn simultaneous_initiations_end_in_one_session() {
    let mut w = World::new(WorldConfig::default());
    w.force_rekey(Side::A);
    w.force_rekey(Side::B);
    assert_eq!(w.sent(Side::A, Kind::Initiation).len(), 1);
    assert_eq!(w.sent(Side::B, Kind::Initiation).len(), 1);
    // Data waits on both sides while the handshakes cross.
    w.send(Side::A, &World::packet_from(Side::A, 64));
    w.send(Side::B, &World::packet_from(Side::B, 64));
    w.run_for(Duration::from_secs(20));
    let completed: u64 = [Side::A, Side::B]
        .into_iter()
        .map(|s| w.engine(s).stats().responses_accepted)
        .sum();
    assert_eq!(completed, 1, "one handshake completed, not two");
    assert_eq!(w.delivered[0].len(), 1, "B's packet arrived");
    assert_eq!(w.delivered[1].len(), 1, "A's packet arrived");
    for side in [Side::A, Side::B] {
        let stats = w.engine(side).peer_stats(PeerId(0)).unwrap();
        assert_eq!(
            stats.handshakes_completed, 1,
            "{side:?} completed one handshake"
        );
    }
}

/// A `[Peer]` whose public key is our own is left out with its line reported (Linux and
/// wireguard-go ignore it), and the engine built from the rest of the file works: the other
/// peer handshakes and gets data.
#[test]
fn a_config_peer_with_our_own_key_is_ignored_and_the_other_peer_handshakes() {
    let mut w = World::new(WorldConfig::default());
    let (a_private, b_private) = keys(WorldConfig::default().seed);
    let text = format!(
        "[Interface]\nPrivateKey = {}\n\n[Peer]\nPublicKey = {}\nAllowedIPs = 10.99.0.0/16, fd99::/64\n\n\
         [Peer]\nPublicKey = {}\nAllowedIPs = {B_INNER}/32\nEndpoint = {}\n\n\
         [Outer]\nAddress = 192.0.2.1/24\n\n[Inner]\nAddress = 192.168.1.1/24\n",
        a_private.to_base64().as_str(),
        a_private.public_key(),
        b_private.public_key(),
        w.addrs[1],
    );
    let config = net::config::parse("gateway.conf", &text).expect("the file is accepted");
    assert_eq!(
        config.ignored_peers,
        vec![net::config::IgnoredPeer { line: 5 }],
        "the own-key peer is reported with its PublicKey line"
    );
    assert_eq!(config.peers.len(), 1);
    assert_eq!(config.peers[0].public_key, b_private.public_key());
    let mut rng = rand_chacha::ChaCha8Rng::from_seed([7; 32]);
    w.engines[0] = net::Engine::from_config(&config, &mut rng).expect("the engine is built");
    assert_eq!(w.engine(Side::A).peer_count(), 1);
    assert_eq!(
        w.engine(Side::A)
            .peer_for_destination("10.99.0.1".parse().unwrap()),
        None,
        "the ignored peer's AllowedIPs route nowhere"
    );

    let packet = World::packet_from(Side::A, 64);
    assert_eq!(w.send(Side::A, &packet), SendOutcome::Staged);
    w.run_for(Duration::from_millis(100));
    assert_eq!(w.sent(Side::A, Kind::Initiation).len(), 1);
    assert_eq!(w.delivered[1].len(), 1, "B received A's packet");
    assert_eq!(w.delivered[1][0].1, packet);
    let stats = w.engine(Side::A).peer_stats(PeerId(0)).unwrap();
    assert_eq!(stats.handshakes_completed, 1);
}

#[test]
fn handshakes_leave_marked_af41_and_data_with_only_the_inner_ecn_bits() {
    let mut w = World::new(WorldConfig::default());
    let with_ds = |ds: u8| {
        let mut packet = World::packet_from(Side::A, 40);
        packet[1] = ds;
        packet
    };
    // Staged while the handshake runs, sealed from the staging queue...
    let staged = [0xb8 | 0b10, 0x01, 0x03, 0x00];
    for ds in staged {
        w.send(Side::A, &with_ds(ds));
    }
    w.run_for(Duration::from_millis(100));
    // ...and straight from the caller's packet once the session is up.
    let direct = [0xff, 0x02, 0x20, 0xe1];
    for ds in direct {
        assert_eq!(w.send(Side::A, &with_ds(ds)), SendOutcome::Sent);
    }
    // B has sent nothing back: a keepalive after Keepalive-Timeout.
    w.run_for(Duration::from_secs(11));
    let marks = |kind| -> Vec<u8> {
        w.log
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.ds)
            .collect()
    };
    assert_eq!(marks(Kind::Initiation), vec![0x88]);
    assert_eq!(marks(Kind::Response), vec![0x88]);
    let expected: Vec<u8> = staged.iter().chain(&direct).map(|ds| ds & 0b11).collect();
    assert_eq!(marks(Kind::Data), expected);
    assert_eq!(marks(Kind::Keepalive), vec![0]);
    // The engine leaves the inner packet's DS byte alone.
    let inner: Vec<u8> = w.delivered[1].iter().map(|(_, p)| p[1]).collect();
    let sent: Vec<u8> = staged.iter().chain(&direct).copied().collect();
    assert_eq!(inner, sent);
}
