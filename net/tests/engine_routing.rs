//! Cryptokey routing on receive (inner source must belong to the sending peer) and roaming.

mod engine_support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use engine_support::*;
use net::{DropReason, PeerId, SendOutcome};

#[test]
fn inner_source_outside_allowed_ips_is_dropped_but_endpoint_still_roams() {
    let mut w = World::new(WorldConfig::default());
    w.force_rekey(Side::A);
    w.run_for(Duration::from_millis(100));
    // A sends a packet whose inner source is not A's address (spoofed): B must drop it.
    let spoofed = ipv4_packet(Ipv4Addr::new(10, 9, 9, 9), B_INNER, 20);
    let mut rec = Recorder::default();
    assert_eq!(
        w.engines[0].send_packet(now_at(w.now), &spoofed, &mut w.rng, &mut rec),
        SendOutcome::Sent
    );
    let mut datagram = rec.sent[0].1.clone();
    // It arrives from a new address: authenticated, so the endpoint moves (Linux netns.sh #9).
    let roamed: SocketAddr = "203.0.113.9:40000".parse().unwrap();
    let mut out = Recorder::default();
    w.engines[1].handle_datagram(now_at(w.now), roamed, &mut datagram, &mut w.rng, &mut out);
    assert!(out.delivered.is_empty());
    assert_eq!(
        w.engines[1].stats().dropped(DropReason::DisallowedSource),
        1
    );
    assert_eq!(
        w.engines[1].peer_stats(PeerId(0)).unwrap().endpoint,
        Some(roamed)
    );
}

#[test]
fn endpoint_follows_authenticated_packets_only() {
    let mut w = World::new(WorldConfig::default());
    w.force_rekey(Side::A);
    w.run_for(Duration::from_millis(100));
    let original = w.engines[1].peer_stats(PeerId(0)).unwrap().endpoint;
    assert_eq!(original, Some(w.addrs[0]));
    let mut rec = Recorder::default();
    let p = World::packet_from(Side::A, 20);
    w.engines[0].send_packet(now_at(w.now), &p, &mut w.rng, &mut rec);
    let good = rec.sent[0].1.clone();
    // A tampered copy from another address changes nothing.
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    let attacker: SocketAddr = "203.0.113.66:1".parse().unwrap();
    let mut out = Recorder::default();
    w.engines[1].handle_datagram(now_at(w.now), attacker, &mut bad, &mut w.rng, &mut out);
    assert_eq!(
        w.engines[1].peer_stats(PeerId(0)).unwrap().endpoint,
        original
    );
    // The genuine packet from a new address moves the endpoint, and replies go there.
    let roamed: SocketAddr = "[2001:db8::5]:7777".parse().unwrap();
    let mut good = good;
    w.engines[1].handle_datagram(now_at(w.now), roamed, &mut good, &mut w.rng, &mut out);
    assert_eq!(out.delivered.len(), 1);
    assert_eq!(
        w.engines[1].peer_stats(PeerId(0)).unwrap().endpoint,
        Some(roamed)
    );
    let mut out = Recorder::default();
    let reply = World::packet_from(Side::B, 20);
    assert_eq!(
        w.engines[1].send_packet(now_at(w.now), &reply, &mut w.rng, &mut out),
        SendOutcome::Sent
    );
    assert_eq!(out.sent[0].0, roamed);
    // A replayed (already seen) copy from yet another address does not move it back.
    let mut replay = rec.sent[0].1.clone();
    w.engines[1].handle_datagram(now_at(w.now), attacker, &mut replay, &mut w.rng, &mut out);
    assert_eq!(
        w.engines[1].peer_stats(PeerId(0)).unwrap().endpoint,
        Some(roamed)
    );
    assert_eq!(w.engines[1].stats().dropped(DropReason::ReplayedCounter), 1);
}

#[test]
fn handshake_from_new_address_updates_endpoint_and_no_route_is_reported() {
    let mut w = World::new(WorldConfig {
        knows_endpoint: [true, false],
        ..WorldConfig::default()
    });
    // B does not know A's endpoint: sending is refused until A makes contact.
    assert_eq!(
        w.send(Side::B, &World::packet_from(Side::B, 20)),
        SendOutcome::Dropped(DropReason::NoEndpoint)
    );
    w.force_rekey(Side::A);
    w.run_for(Duration::from_millis(100));
    assert_eq!(
        w.engines[1].peer_stats(PeerId(0)).unwrap().endpoint,
        Some(w.addrs[0])
    );
    assert_eq!(
        w.send(Side::B, &World::packet_from(Side::B, 20)),
        SendOutcome::Sent
    );
    let elsewhere = ipv4_packet(B_INNER, Ipv4Addr::new(8, 8, 8, 8), 20);
    assert_eq!(w.send(Side::B, &elsewhere), SendOutcome::NoRoute);
    assert_eq!(
        w.send(Side::B, &[0x45, 0, 0]),
        SendOutcome::Dropped(DropReason::InvalidOutboundPacket)
    );
}
