//! The engine's receive path, with a real peer on the other side so that
//! handshakes complete and transport data flows.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;

use crypto::PrivateKey;
use net::{
    DropReason, Engine, EngineOptions, EngineStats, Instant, IpCidr, Now, PeerId, PeerSpec, Sink,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::input::Input;

/// The gateway's static private key (fixed, so that the corpus's messages stay valid).
pub const GATEWAY_KEY: [u8; 32] = [0x47; 32];
/// The peer's static private key.
pub const PEER_KEY: [u8; 32] = [0x50; 32];
/// The gateway's inner address, routed to it by the peer.
pub const GATEWAY_INNER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The peer's inner address (its AllowedIPs at the gateway).
pub const PEER_INNER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// Where datagrams come from: the gateway, the peer, and two addresses the
/// peer may roam to (or an attacker use).
fn address(n: usize) -> SocketAddr {
    [
        "192.0.2.1:51820",
        "198.51.100.2:51821",
        "203.0.113.9:4000",
        "[2001:db8::7]:51821",
    ][n % 4]
        .parse()
        .expect("a socket address")
}

#[derive(Default)]
struct Recorder {
    sent: Vec<(SocketAddr, Vec<u8>)>,
    delivered: Vec<(PeerId, Vec<u8>)>,
}

impl Sink for Recorder {
    fn send_datagram(&mut self, to: SocketAddr, datagram: &[u8], _ds: u8) {
        self.sent.push((to, datagram.to_vec()));
    }
    fn deliver_packet(&mut self, from: PeerId, packet: &mut [u8]) {
        self.delivered.push((from, packet.to_vec()));
    }
}

/// An IPv4 packet from `src` to `dst`, its payload starting with `id`.
fn packet(src: Ipv4Addr, dst: Ipv4Addr, id: u32, payload: usize) -> Vec<u8> {
    let payload = payload.max(4);
    let total = 20 + payload;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    p[20..24].copy_from_slice(&id.to_be_bytes());
    for (i, b) in p[24..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

fn engine(ours: [u8; 32], theirs: [u8; 32], allowed: Ipv4Addr, endpoint: usize) -> Engine {
    let mut spec = PeerSpec::new(PrivateKey::from_bytes(theirs).public_key());
    spec.allowed_ips = vec![IpCidr::new(IpAddr::V4(allowed), 32).expect("a /32")];
    spec.endpoint = Some(address(endpoint));
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(ours[0]));
    // Small tables (every run builds two engines), and few handshakes per
    // second before the engine counts itself under load, so that cookie
    // replies and MAC2 are a few initiations away.
    let options = EngineOptions {
        staged_packets_total: 16,
        staged_packets_per_peer: 8,
        handshakes_per_second_before_load: 8,
        rate_limiter_entries: 64,
        ..EngineOptions::default()
    };
    Engine::new(PrivateKey::from_bytes(ours), [spec], options, &mut rng).expect("a valid engine")
}

/// Drops counted on the sending side (packets from the LAN), not for
/// received datagrams.
const SEND_SIDE: [DropReason; 6] = [
    DropReason::InvalidOutboundPacket,
    DropReason::NoRoute,
    DropReason::TooBig,
    DropReason::NoEndpoint,
    DropReason::StagingFull,
    DropReason::HandshakeGaveUp,
];

fn received_dropped(s: &EngineStats) -> u64 {
    s.total_dropped() - SEND_SIDE.iter().map(|&r| s.dropped(r)).sum::<u64>()
}

fn accepted(s: &EngineStats) -> u64 {
    s.packets_delivered
        + s.keepalives_received
        + s.initiations_accepted
        + s.responses_accepted
        + s.cookie_replies_accepted
}

/// Which side of the simulated link.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Gateway,
    Peer,
}

/// What one run reached, for the tests that check the seeds go deep.
#[derive(Debug, Default, Clone, Copy)]
pub struct EngineRun {
    /// Packets the gateway delivered to its LAN side.
    pub delivered_by_gateway: u64,
    /// Packets the peer delivered (sent by the gateway through the tunnel).
    pub delivered_by_peer: u64,
    /// Handshake initiations the gateway accepted.
    pub initiations_accepted: u64,
    /// Handshake responses the gateway accepted.
    pub responses_accepted: u64,
}

struct World {
    gateway: Engine,
    peer: Engine,
    rng: ChaCha8Rng,
    now: Instant,
    /// Datagrams the peer sent towards the gateway, oldest first.
    to_gateway: Vec<Vec<u8>>,
    /// Datagrams the gateway sent towards the peer.
    to_peer: Vec<Vec<u8>>,
    /// Packets each side was given to send and not yet seen delivered.
    in_flight: [Vec<Vec<u8>>; 2],
    next_id: u32,
}

/// At most this many datagrams wait in each direction.
const QUEUE: usize = 16;

impl World {
    fn new() -> World {
        World {
            gateway: engine(GATEWAY_KEY, PEER_KEY, PEER_INNER, 1),
            peer: engine(PEER_KEY, GATEWAY_KEY, GATEWAY_INNER, 0),
            rng: ChaCha8Rng::seed_from_u64(7),
            now: Instant::from_secs(1),
            to_gateway: Vec::new(),
            to_peer: Vec::new(),
            in_flight: [Vec::new(), Vec::new()],
            next_id: 0,
        }
    }

    fn now(&self) -> Now {
        let wall = Duration::from_secs(1_700_000_000) + Duration::from_nanos(self.now.as_nanos());
        Now::new(self.now, wall)
    }

    /// Queues what `side` sent, and checks what it delivered: every packet
    /// came through the tunnel from the other side, which was given it to
    /// send, and arrives at most once.
    fn absorb(&mut self, side: Side, rec: Recorder) {
        let (queue, other) = match side {
            Side::Gateway => (&mut self.to_peer, 1),
            Side::Peer => (&mut self.to_gateway, 0),
        };
        for (to, datagram) in rec.sent {
            // The gateway answers whoever wrote (cookie replies) or where
            // the peer was last heard; the peer only ever heard the gateway.
            if side == Side::Peer {
                assert_eq!(to, address(0), "the peer sent elsewhere");
            }
            if queue.len() == QUEUE {
                queue.remove(0);
            }
            queue.push(datagram);
        }
        for (from, packet) in rec.delivered {
            assert_eq!(from, PeerId(0));
            let in_flight = &mut self.in_flight[other];
            let position = in_flight
                .iter()
                .position(|p| *p == packet)
                .unwrap_or_else(|| {
                    panic!(
                        "delivered a packet never sent, or twice: {:02x?}",
                        &packet[..24.min(packet.len())]
                    )
                });
            in_flight.swap_remove(position);
        }
    }

    fn deliver(&mut self, to: Side, from: SocketAddr, datagram: &mut [u8]) {
        let mut rec = Recorder::default();
        let now = self.now();
        let engine = match to {
            Side::Gateway => &mut self.gateway,
            Side::Peer => &mut self.peer,
        };
        engine.handle_datagram(now, from, datagram, &mut self.rng, &mut rec);
        self.absorb(to, rec);
    }

    fn send(&mut self, from: Side, payload: usize) {
        let id = self.next_id;
        self.next_id += 1;
        let now = self.now();
        let (engine, p, index) = match from {
            Side::Gateway => (
                &mut self.gateway,
                packet(GATEWAY_INNER, PEER_INNER, id, payload),
                0,
            ),
            Side::Peer => (
                &mut self.peer,
                packet(PEER_INNER, GATEWAY_INNER, id, payload),
                1,
            ),
        };
        self.in_flight[index].push(p.clone());
        let mut rec = Recorder::default();
        let _ = engine.send_packet(now, &p, &mut self.rng, &mut rec);
        self.absorb(from, rec);
    }

    fn rekey(&mut self, side: Side) {
        let mut rec = Recorder::default();
        let now = self.now();
        let engine = match side {
            Side::Gateway => &mut self.gateway,
            Side::Peer => &mut self.peer,
        };
        engine.force_rekey(PeerId(0), now, &mut self.rng, &mut rec);
        self.absorb(side, rec);
    }

    fn advance(&mut self, by: Duration) {
        self.now = self.now.saturating_add(by);
        for side in [Side::Gateway, Side::Peer] {
            let mut rec = Recorder::default();
            let now = self.now();
            let engine = match side {
                Side::Gateway => &mut self.gateway,
                Side::Peer => &mut self.peer,
            };
            engine.poll_timers(now, &mut self.rng, &mut rec);
            self.absorb(side, rec);
        }
    }
}

/// Runs the operations the input encodes. Each operation is a byte, its
/// low three bits the kind and the rest flags, followed by its arguments:
///
/// * 0: a datagram of the input's bytes to the gateway (length byte, then
///   bytes), from one of four addresses;
/// * 1: the peer's queued datagram number `k` to the gateway, removed from
///   the queue or kept (to replay it), optionally with one byte changed or
///   from another address (roaming, or an attacker replaying elsewhere);
/// * 2: the gateway's queued datagram `k` to the peer;
/// * 3 / 7: the peer / the gateway starts a handshake;
/// * 4 / 5: the peer / the gateway is given a packet to send;
/// * 6: time passes and both sides run their timers.
///
/// After every step each engine's received datagrams are all counted as
/// accepted or dropped, and no packet is delivered that the other side was
/// not given to send, nor delivered twice.
pub fn engine_run(data: &[u8]) -> EngineRun {
    let mut input = Input::new(data);
    let mut world = World::new();
    let mut ops = 0;
    while !input.is_empty() && ops < 64 {
        ops += 1;
        let op = input.u8();
        let flags = op >> 3;
        match op & 7 {
            0 => {
                let len = usize::from(input.u8()) + usize::from(flags & 3) * 256;
                let mut datagram = input.bytes(len).to_vec();
                world.deliver(
                    Side::Gateway,
                    address(usize::from(flags >> 2)),
                    &mut datagram,
                );
            }
            1 => {
                let k = usize::from(input.u8());
                if world.to_gateway.is_empty() {
                    continue;
                }
                let k = k % world.to_gateway.len();
                let mut datagram = if flags & 1 != 0 {
                    world.to_gateway[k].clone()
                } else {
                    world.to_gateway.remove(k)
                };
                if flags & 2 != 0 && !datagram.is_empty() {
                    let at = usize::from(input.u16()) % datagram.len();
                    datagram[at] ^= input.u8().max(1);
                }
                let from = if flags & 4 != 0 {
                    address(2 + usize::from(flags >> 3 & 1))
                } else {
                    address(1)
                };
                world.deliver(Side::Gateway, from, &mut datagram);
            }
            2 => {
                let k = usize::from(input.u8());
                if world.to_peer.is_empty() {
                    continue;
                }
                let k = k % world.to_peer.len();
                let mut datagram = if flags & 1 != 0 {
                    world.to_peer[k].clone()
                } else {
                    world.to_peer.remove(k)
                };
                world.deliver(Side::Peer, address(0), &mut datagram);
            }
            3 => world.rekey(Side::Peer),
            7 => world.rekey(Side::Gateway),
            4 => {
                let len = usize::from(input.u8()) * 6;
                world.send(Side::Peer, len);
            }
            5 => {
                let len = usize::from(input.u8()) * 6;
                world.send(Side::Gateway, len);
            }
            _ => {
                let step = u64::from(input.u16());
                let by = match flags & 3 {
                    0 => Duration::from_millis(step),
                    1 => Duration::from_secs(step),
                    2 => Duration::from_micros(step),
                    _ => Duration::from_secs(step * 60),
                };
                world.advance(by);
            }
        }
        for engine in [&world.gateway, &world.peer] {
            let s = engine.stats();
            assert_eq!(
                s.datagrams_received,
                received_dropped(s) + accepted(s),
                "a datagram neither accepted nor dropped"
            );
        }
    }
    let g = world.gateway.stats();
    EngineRun {
        delivered_by_gateway: g.packets_delivered,
        delivered_by_peer: world.peer.stats().packets_delivered,
        initiations_accepted: g.initiations_accepted,
        responses_accepted: g.responses_accepted,
    }
}

/// The fuzz target: [`engine_run`].
pub fn engine_receive(data: &[u8]) {
    let _ = engine_run(data);
}
