//! A simulated world for engine tests: two engines joined by an in-memory network with
//! configurable latency, loss, duplication and reordering, a virtual clock, and a log of every
//! datagram sent, so tests can assert exactly what the timers did and when.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crypto::{PrivateKey, PublicKey};
use net::{Engine, EngineOptions, Instant, IpCidr, Now, PeerId, PeerSpec, SendOutcome, Sink};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Wall clock at virtual time zero.
pub const UNIX_BASE: Duration = Duration::from_secs(1_700_000_000);

pub fn now_at(t: Instant) -> Now {
    Now::new(t, UNIX_BASE + Duration::from_nanos(t.as_nanos()))
}

/// Collects an engine's output during one call.
#[derive(Default)]
pub struct Recorder {
    pub sent: Vec<(SocketAddr, Vec<u8>)>,
    /// The DS byte each datagram in `sent` was to leave with.
    pub ds: Vec<u8>,
    pub delivered: Vec<(PeerId, Vec<u8>)>,
}

impl Sink for Recorder {
    fn send_datagram(&mut self, to: SocketAddr, datagram: &[u8], ds: u8) {
        self.sent.push((to, datagram.to_vec()));
        self.ds.push(ds);
    }
    fn deliver_packet(&mut self, from: PeerId, packet: &mut [u8]) {
        self.delivered.push((from, packet.to_vec()));
    }
}

/// An IPv4 packet from `src` to `dst` with `payload` bytes of payload (UDP-ish, protocol 17).
pub fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, payload: usize) -> Vec<u8> {
    let total = 20 + payload;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    for (i, b) in p[20..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

pub const A_INNER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const B_INNER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// Which engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
    fn idx(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
}

/// The kind of a logged datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Initiation,
    Response,
    Cookie,
    Keepalive,
    Data,
    Other,
}

pub fn kind_of(d: &[u8]) -> Kind {
    match d.first() {
        Some(1) => Kind::Initiation,
        Some(2) => Kind::Response,
        Some(3) => Kind::Cookie,
        Some(4) if d.len() == 32 => Kind::Keepalive,
        Some(4) => Kind::Data,
        _ => Kind::Other,
    }
}

/// One datagram a side sent, at virtual time `at`.
#[derive(Clone, Debug)]
pub struct Sent {
    pub at: Instant,
    pub by: Side,
    pub kind: Kind,
    pub len: usize,
    /// The DS byte (IPv4 TOS / IPv6 traffic class) it was sent with.
    pub ds: u8,
}

struct Flight {
    arrive: Instant,
    seq: u64,
    to: Side,
    from: SocketAddr,
    bytes: Vec<u8>,
}

/// Network impairments.
#[derive(Clone, Copy, Debug)]
pub struct Impairment {
    pub latency: Duration,
    /// Extra random delay up to this, which reorders packets.
    pub jitter: Duration,
    pub loss: f64,
    pub duplicate: f64,
}

impl Default for Impairment {
    fn default() -> Self {
        Impairment {
            latency: Duration::from_millis(10),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

pub struct World {
    pub now: Instant,
    pub engines: [Engine; 2],
    pub addrs: [SocketAddr; 2],
    pub rng: ChaCha8Rng,
    net_rng: ChaCha8Rng,
    flights: Vec<Flight>,
    seq: u64,
    pub log: Vec<Sent>,
    pub delivered: [Vec<(Instant, Vec<u8>)>; 2],
    pub net: Impairment,
    /// When false, datagrams to this side are silently lost (the peer is "down").
    pub up: [bool; 2],
}

pub fn keys(seed: u64) -> (PrivateKey, PrivateKey) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (
        PrivateKey::generate(&mut rng),
        PrivateKey::generate(&mut rng),
    )
}

pub struct WorldConfig {
    pub seed: u64,
    pub keepalive: [Option<Duration>; 2],
    /// Whether each side knows the other's endpoint at the start.
    pub knows_endpoint: [bool; 2],
    pub options: EngineOptions,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            seed: 1,
            keepalive: [None, None],
            knows_endpoint: [true, true],
            options: EngineOptions::default(),
        }
    }
}

impl World {
    pub fn new(config: WorldConfig) -> World {
        let (ka, kb) = keys(config.seed);
        let (pa, pb): (PublicKey, PublicKey) = (ka.public_key(), kb.public_key());
        let addrs: [SocketAddr; 2] = [
            "192.0.2.1:51820".parse().unwrap(),
            "198.51.100.2:51821".parse().unwrap(),
        ];
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0xabcdef);
        let spec = |key: PublicKey,
                    inner: Ipv4Addr,
                    endpoint: SocketAddr,
                    know: bool,
                    ka: Option<Duration>| {
            let mut s = PeerSpec::new(key);
            s.allowed_ips = vec![IpCidr::new(IpAddr::V4(inner), 32).unwrap()];
            s.endpoint = know.then_some(endpoint);
            s.persistent_keepalive = ka;
            s
        };
        let a = Engine::new(
            ka,
            [spec(
                pb,
                B_INNER,
                addrs[1],
                config.knows_endpoint[0],
                config.keepalive[0],
            )],
            config.options,
            &mut rng,
        )
        .unwrap();
        let b = Engine::new(
            kb,
            [spec(
                pa,
                A_INNER,
                addrs[0],
                config.knows_endpoint[1],
                config.keepalive[1],
            )],
            config.options,
            &mut rng,
        )
        .unwrap();
        World {
            now: Instant::ZERO,
            engines: [a, b],
            addrs,
            rng,
            net_rng: ChaCha8Rng::seed_from_u64(config.seed.wrapping_mul(31) ^ 7),
            flights: Vec::new(),
            seq: 0,
            log: Vec::new(),
            delivered: [Vec::new(), Vec::new()],
            net: Impairment::default(),
            up: [true, true],
        }
    }

    pub fn engine(&mut self, side: Side) -> &mut Engine {
        &mut self.engines[side.idx()]
    }

    /// Packets `side` would send into the tunnel towards the other side.
    pub fn packet_from(side: Side, payload: usize) -> Vec<u8> {
        match side {
            Side::A => ipv4_packet(A_INNER, B_INNER, payload),
            Side::B => ipv4_packet(B_INNER, A_INNER, payload),
        }
    }

    fn absorb(&mut self, side: Side, rec: Recorder) {
        for ((to, bytes), ds) in rec.sent.into_iter().zip(rec.ds) {
            self.log.push(Sent {
                at: self.now,
                by: side,
                kind: kind_of(&bytes),
                len: bytes.len(),
                ds,
            });
            let dest = if to == self.addrs[side.other().idx()] {
                side.other()
            } else {
                continue; // sent to an address nobody listens on
            };
            if self.net_rng.next_u32() as f64 / u32::MAX as f64 <= self.net.loss
                && self.net.loss > 0.0
            {
                continue;
            }
            let copies = if self.net.duplicate > 0.0
                && (self.net_rng.next_u32() as f64 / u32::MAX as f64) < self.net.duplicate
            {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let extra = if self.net.jitter.is_zero() {
                    Duration::ZERO
                } else {
                    Duration::from_nanos(
                        self.net_rng.next_u64() % self.net.jitter.as_nanos() as u64,
                    )
                };
                self.seq += 1;
                self.flights.push(Flight {
                    arrive: self.now.saturating_add(self.net.latency + extra),
                    seq: self.seq,
                    to: dest,
                    from: self.addrs[side.idx()],
                    bytes: bytes.clone(),
                });
            }
        }
        for (_, packet) in rec.delivered {
            self.delivered[side.idx()].push((self.now, packet));
        }
    }

    /// Hands a LAN packet to `side`'s engine now.
    pub fn send(&mut self, side: Side, packet: &[u8]) -> SendOutcome {
        let mut rec = Recorder::default();
        let now = now_at(self.now);
        let outcome = self.engines[side.idx()].send_packet(now, packet, &mut self.rng, &mut rec);
        self.absorb(side, rec);
        outcome
    }

    pub fn force_rekey(&mut self, side: Side) {
        let mut rec = Recorder::default();
        let now = now_at(self.now);
        self.engines[side.idx()].force_rekey(PeerId(0), now, &mut self.rng, &mut rec);
        self.absorb(side, rec);
    }

    /// Advances virtual time to `until`, processing arrivals and timers in time order.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            let next_flight = self.flights.iter().map(|f| (f.arrive, f.seq)).min();
            let deadlines = [
                self.engines[0].next_deadline(),
                self.engines[1].next_deadline(),
            ];
            let mut next: Option<Instant> = next_flight.map(|f| f.0);
            for d in deadlines.into_iter().flatten() {
                let d = d.max(self.now);
                next = Some(next.map_or(d, |n| n.min(d)));
            }
            let t = match next {
                Some(t) if t <= until => t,
                _ => {
                    self.now = until;
                    return;
                }
            };
            self.now = t;
            if let Some((arrive, seq)) = next_flight {
                if arrive <= t {
                    let pos = self.flights.iter().position(|f| f.seq == seq).unwrap();
                    let mut flight = self.flights.swap_remove(pos);
                    if self.up[flight.to.idx()] {
                        let mut rec = Recorder::default();
                        self.engines[flight.to.idx()].handle_datagram(
                            now_at(t),
                            flight.from,
                            &mut flight.bytes,
                            &mut self.rng,
                            &mut rec,
                        );
                        self.absorb(flight.to, rec);
                    }
                    continue;
                }
            }
            for side in [Side::A, Side::B] {
                if self.engines[side.idx()]
                    .next_deadline()
                    .is_some_and(|d| d <= t)
                {
                    let mut rec = Recorder::default();
                    self.engines[side.idx()].poll_timers(now_at(t), &mut self.rng, &mut rec);
                    self.absorb(side, rec);
                }
            }
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now.saturating_add(d);
        self.run_until(until);
    }

    /// Datagrams of `kind` sent by `side`, in order.
    pub fn sent(&self, side: Side, kind: Kind) -> Vec<Instant> {
        self.log
            .iter()
            .filter(|s| s.by == side && s.kind == kind)
            .map(|s| s.at)
            .collect()
    }
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn at(d: Duration) -> Instant {
    Instant::ZERO.saturating_add(d)
}
