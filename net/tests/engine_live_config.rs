//! Changing the engine's configuration while it runs (the `wg set` operations): a peer
//! added live handshakes and carries traffic at once, a removed peer's sessions, routes and
//! indices are gone at once, the other peers' sessions are untouched throughout.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crypto::{PresharedKey, PrivateKey};
use net::{
    DropReason, Engine, EngineOptions, Instant, IpCidr, Now, PeerId, PeerSpec, SendOutcome, Sink,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

fn now_at(t: Instant) -> Now {
    Now::new(
        t,
        Duration::from_secs(1_700_000_000) + Duration::from_nanos(t.as_nanos()),
    )
}

#[derive(Default)]
struct Out {
    sent: Vec<(SocketAddr, Vec<u8>)>,
    delivered: Vec<Vec<u8>>,
}

impl Sink for Out {
    fn send_datagram(&mut self, to: SocketAddr, datagram: &[u8], _ds: u8) {
        self.sent.push((to, datagram.to_vec()));
    }
    fn deliver_packet(&mut self, _from: PeerId, packet: &mut [u8]) {
        self.delivered.push(packet.to_vec());
    }
}

fn endpoint(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)), 51820)
}

fn tunnel(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, n)
}

fn packet(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut p = vec![0u8; 60];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&60u16.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    p
}

fn spec_for(key: &PrivateKey, n: u8) -> PeerSpec {
    let mut spec = PeerSpec::new(key.public_key());
    spec.allowed_ips = vec![IpCidr::host(IpAddr::V4(tunnel(n)))];
    spec.endpoint = Some(endpoint(n));
    spec
}

/// Engines numbered 1.. at 192.0.2.n / 10.0.0.n; each datagram goes to the engine whose
/// endpoint it is sent to.
struct Net {
    engines: Vec<Engine>,
    keys: Vec<PrivateKey>,
    rng: ChaCha8Rng,
    now: Instant,
    /// Inner packets each engine delivered.
    delivered: Vec<Vec<Vec<u8>>>,
}

impl Net {
    /// Engine 1 knows engine 2 only; every other engine knows engine 1.
    fn new(count: u8) -> Net {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let keys: Vec<PrivateKey> = (0..count).map(|_| PrivateKey::generate(&mut rng)).collect();
        let mut engines = Vec::new();
        for n in 1..=count {
            let own = PrivateKey::from_bytes(*keys[usize::from(n - 1)].to_bytes());
            let peers = if n == 1 {
                vec![spec_for(&keys[1], 2)]
            } else {
                vec![spec_for(&keys[0], 1)]
            };
            engines
                .push(Engine::new(own, peers, EngineOptions::default(), &mut rng).expect("engine"));
        }
        Net {
            engines,
            keys,
            rng,
            now: Instant::from_secs(1),
            delivered: vec![Vec::new(); usize::from(count)],
        }
    }

    fn engine(&mut self, n: u8) -> &mut Engine {
        &mut self.engines[usize::from(n - 1)]
    }

    fn send(&mut self, from: u8, to: u8) -> SendOutcome {
        let mut out = Out::default();
        let now = now_at(self.now);
        let outcome = self.engines[usize::from(from - 1)].send_packet(
            now,
            &packet(tunnel(from), tunnel(to)),
            &mut self.rng,
            &mut out,
        );
        self.carry(from, out);
        outcome
    }

    fn carry(&mut self, from: u8, out: Out) {
        let mut queue: Vec<(u8, SocketAddr, Vec<u8>)> =
            out.sent.into_iter().map(|(to, d)| (from, to, d)).collect();
        self.delivered[usize::from(from - 1)].extend(out.delivered);
        while let Some((sender, to, mut datagram)) = queue.pop() {
            let IpAddr::V4(v4) = to.ip() else { continue };
            let target = v4.octets()[3];
            if target == 0 || usize::from(target) > self.engines.len() {
                continue;
            }
            let mut out = Out::default();
            let now = now_at(self.now);
            self.engines[usize::from(target - 1)].handle_datagram(
                now,
                endpoint(sender),
                &mut datagram,
                &mut self.rng,
                &mut out,
            );
            self.delivered[usize::from(target - 1)].extend(out.delivered);
            queue.extend(out.sent.into_iter().map(|(to, d)| (target, to, d)));
        }
    }

    fn poll(&mut self, n: u8) {
        let mut out = Out::default();
        let now = now_at(self.now);
        self.engines[usize::from(n - 1)].poll_timers(now, &mut self.rng, &mut out);
        self.carry(n, out);
    }
}

#[test]
fn a_peer_added_live_handshakes_and_carries_traffic_at_once() {
    let mut net = Net::new(3);
    net.send(1, 2);
    assert_eq!(net.delivered[1].len(), 1, "1 and 2 have a session");
    let initiations_before = net.engine(1).stats().initiations_sent;
    let spec = spec_for(&net.keys[2], 3);
    let id = net.engine(1).add_peer(spec).expect("added");
    assert_eq!(id, PeerId(1));
    assert_eq!(
        net.engine(1).peer_for_destination(IpAddr::V4(tunnel(3))),
        Some(id)
    );
    net.send(1, 3);
    assert_eq!(
        net.delivered[2].len(),
        1,
        "the new peer got the packet after one handshake"
    );
    net.send(1, 2);
    assert_eq!(
        net.delivered[1].len(),
        2,
        "the old session still carries traffic"
    );
    assert_eq!(
        net.engine(1).stats().initiations_sent,
        initiations_before + 1,
        "only the new peer needed a handshake"
    );
}

#[test]
fn adding_a_duplicate_changes_nothing() {
    let mut net = Net::new(3);
    let dup = spec_for(&net.keys[1], 2);
    assert!(net.engine(1).add_peer(dup).is_err());
    assert_eq!(net.engine(1).peer_count(), 1);
    assert_eq!(
        net.engine(1).peer_for_destination(IpAddr::V4(tunnel(2))),
        Some(PeerId(0))
    );
}

/// The userspace API may add a peer with the engine's own key (after `private_key=0`, which
/// the engine does not follow): it is added, as the API reports it, but never usable, even
/// given a preshared key; a new private key of ours makes it usable.
#[test]
fn a_peer_with_our_own_key_is_added_unusable() {
    let mut net = Net::new(3);
    let own = spec_for(&net.keys[0], 9);
    let id = net.engine(1).add_peer(own).expect("added");
    assert_eq!(net.engine(1).peer_count(), 2);
    assert!(!net.engine(1).peer_is_usable(id));
    assert!(net
        .engine(1)
        .set_preshared_key(id, Some(PresharedKey::from_bytes([7; 32]))));
    assert!(
        !net.engine(1).peer_is_usable(id),
        "a preshared key gave it keys"
    );
    net.engine(1)
        .set_private_key(PrivateKey::from_bytes([0x33; 32]));
    assert!(net.engine(1).peer_is_usable(id));
}

#[test]
fn a_removed_peer_is_gone_at_once_and_the_others_keep_their_sessions() {
    let mut net = Net::new(3);
    let spec = spec_for(&net.keys[2], 3);
    net.engine(1).add_peer(spec).expect("added");
    net.send(1, 2);
    net.send(1, 3);
    assert_eq!((net.delivered[1].len(), net.delivered[2].len()), (1, 1));
    let initiations = net.engine(1).stats().initiations_sent;

    // Remove peer 2 (id 0): peer 3 moves from id 1 to id 0.
    let removed = net.engine(1).remove_peer(PeerId(0)).expect("known peer");
    assert_eq!(removed.moved_from, Some(PeerId(1)));
    assert_eq!(net.engine(1).peer_count(), 1);
    assert_eq!(
        net.engine(1).peer_for_destination(IpAddr::V4(tunnel(2))),
        None,
        "its route is gone"
    );
    assert_eq!(
        net.engine(1).peer_for_destination(IpAddr::V4(tunnel(3))),
        Some(PeerId(0))
    );
    let third = net.keys[2].public_key();
    assert_eq!(net.engine(1).peer_by_public_key(&third), Some(PeerId(0)));
    assert_eq!(net.send(1, 2), SendOutcome::NoRoute);

    // Peer 2 still thinks it has a session: its data is refused (the index is gone).
    let unknown_before = net
        .engine(1)
        .stats()
        .drops()
        .find(|(r, _)| *r == DropReason::UnknownIndex)
        .map_or(0, |(_, n)| n);
    net.send(2, 1);
    let unknown_after = net
        .engine(1)
        .stats()
        .drops()
        .find(|(r, _)| *r == DropReason::UnknownIndex)
        .map_or(0, |(_, n)| n);
    assert_eq!(unknown_after, unknown_before + 1);
    assert!(
        net.delivered[0].is_empty(),
        "nothing from the removed peer was delivered"
    );

    // Peer 3's session survived the renumbering, both ways.
    net.send(1, 3);
    net.send(3, 1);
    assert_eq!(net.delivered[2].len(), 2);
    assert_eq!(net.delivered[0].len(), 1);
    assert_eq!(
        net.engine(1).stats().initiations_sent,
        initiations,
        "no new handshake was needed"
    );
}

#[test]
fn replaced_allowed_ips_route_at_once() {
    let mut net = Net::new(2);
    let other = IpCidr::new(IpAddr::V4(Ipv4Addr::new(10, 50, 0, 0)), 16).unwrap();
    net.engine(1)
        .replace_allowed_ips(PeerId(0), &[other])
        .unwrap();
    assert_eq!(
        net.engine(1).peer_for_destination(IpAddr::V4(tunnel(2))),
        None
    );
    assert_eq!(
        net.engine(1)
            .peer_for_destination(IpAddr::V4(Ipv4Addr::new(10, 50, 3, 4))),
        Some(PeerId(0))
    );
    assert_eq!(
        net.engine(1).allowed_ips_of(PeerId(0)).collect::<Vec<_>>(),
        vec![other]
    );
    assert!(net.engine(1).remove_allowed_ip(PeerId(0), other));
    assert!(!net.engine(1).remove_allowed_ip(PeerId(0), other));
    assert_eq!(net.engine(1).allowed_ips_of(PeerId(0)).count(), 0);
}

#[test]
fn enabling_a_persistent_keepalive_sends_one_at_once() {
    let mut net = Net::new(2);
    net.send(1, 2);
    let sent_before = net.engine(1).stats().datagrams_sent;
    let now = now_at(net.now);
    assert!(net
        .engine(1)
        .set_persistent_keepalive(PeerId(0), Some(Duration::from_secs(25)), now));
    assert_eq!(net.engine(1).next_deadline(), Some(net.now), "due now");
    net.poll(1);
    assert_eq!(
        net.engine(1).stats().datagrams_sent,
        sent_before + 1,
        "one keepalive sent"
    );
    assert!(
        !net.engine(1)
            .set_persistent_keepalive(PeerId(0), Some(Duration::ZERO), now),
        "0 s refused"
    );
}

#[test]
fn a_preshared_key_applies_from_the_next_handshake() {
    let mut net = Net::new(2);
    let psk = PresharedKey::generate(&mut net.rng);
    assert!(net.engine(1).preshared_key(PeerId(0)).is_none());
    net.engine(1)
        .set_preshared_key(PeerId(0), Some(psk.clone()));
    assert!(net.engine(1).preshared_key(PeerId(0)).is_some());
    // Only one side has it: the handshake cannot complete.
    net.send(1, 2);
    assert!(
        net.delivered[1].is_empty(),
        "mismatched preshared keys never agree"
    );
    net.engine(2).set_preshared_key(PeerId(0), Some(psk));
    net.now = net.now.saturating_add(Duration::from_secs(6));
    net.poll(1);
    assert_eq!(
        net.delivered[1].len(),
        1,
        "with both keys set the staged packet crosses"
    );
}

#[test]
fn a_new_private_key_drops_every_session() {
    let mut net = Net::new(2);
    net.send(1, 2);
    assert_eq!(net.delivered[1].len(), 1);
    let new_key = PrivateKey::generate(&mut net.rng);
    net.engine(1)
        .set_private_key(PrivateKey::from_bytes(*new_key.to_bytes()));
    assert_eq!(*net.engine(1).public_key(), new_key.public_key());
    let initiations = net.engine(1).stats().initiations_sent;
    assert_eq!(net.send(1, 2), SendOutcome::Staged, "no session any more");
    assert_eq!(net.engine(1).stats().initiations_sent, initiations + 1);
}

#[test]
fn a_thousand_peers_come_and_go_and_the_tables_stay_consistent() {
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let own = PrivateKey::generate(&mut rng);
    let mut engine = Engine::new(own, [], EngineOptions::default(), &mut rng).unwrap();
    let keys: Vec<PrivateKey> = (0..1000).map(|_| PrivateKey::generate(&mut rng)).collect();
    let addr = |i: usize| IpAddr::V4(Ipv4Addr::new(10, 1 + (i / 250) as u8, (i % 250) as u8, 1));
    for (i, key) in keys.iter().enumerate() {
        let mut spec = PeerSpec::new(key.public_key());
        spec.allowed_ips = vec![IpCidr::host(addr(i))];
        assert_eq!(engine.add_peer(spec).unwrap(), PeerId(i as u32));
    }
    // Remove every third peer, tracking where the moved ones went.
    let mut alive: Vec<usize> = (0..1000).collect();
    for victim in (0..1000).step_by(3) {
        let id = engine
            .peer_by_public_key(&keys[victim].public_key())
            .unwrap();
        let moved = engine.remove_peer(id).unwrap();
        alive.retain(|&i| i != victim);
        if let Some(from) = moved.moved_from {
            assert_eq!(from, PeerId(engine.peer_count() as u32));
        }
    }
    assert_eq!(engine.peer_count(), alive.len());
    for &i in &alive {
        let id = engine
            .peer_by_public_key(&keys[i].public_key())
            .expect("still there");
        assert_eq!(
            engine.peer_for_destination(addr(i)),
            Some(id),
            "peer {i}'s route follows its id"
        );
        assert_eq!(
            engine.peer_stats(id).unwrap().public_key,
            keys[i].public_key()
        );
    }
    for victim in (0..1000).step_by(3) {
        assert_eq!(engine.peer_for_destination(addr(victim)), None);
        assert_eq!(engine.peer_by_public_key(&keys[victim].public_key()), None);
    }
}
