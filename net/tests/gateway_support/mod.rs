//! The real gateway loop on fake NICs, between a LAN host and a WireGuard
//! peer (our own engine, sans-IO), on a virtual clock.
#![allow(dead_code)]

pub mod frames;
pub mod nic;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crypto::{PrivateKey, PublicKey};
use net::engine::{Engine, EngineOptions, Now, PeerSpec, Sink};
use net::gateway::nic::RxChecksum;
use net::gateway::Gateway;
use net::{Instant, IpCidr, PeerId};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use frames::*;
use nic::FakeNic;

pub const GW_OUTER_MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 1];
pub const GW_INNER_MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 2];
pub const PEER_MAC: [u8; 6] = [0x52, 0x54, 0, 0, 1, 1];
pub const LAN_HOST_MAC: [u8; 6] = [0x52, 0x54, 0, 0, 2, 2];
pub const GW_OUTER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const GW_LAN_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);
pub const LAN_HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 2);
/// An address behind the peer (in its AllowedIPs).
pub const REMOTE_HOST: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 5);
pub const LISTEN_PORT: u16 = 51820;
pub const PEER_PORT: u16 = 51821;
pub const UNIX_BASE: Duration = Duration::from_secs(1_700_000_000);

pub fn gw_endpoint() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(GW_OUTER_IP), LISTEN_PORT)
}

pub fn peer_endpoint() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(PEER_IP), PEER_PORT)
}

/// A cycle counter for the stage table: host time is fine for tests.
fn fake_cycles() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static TICKS: AtomicU64 = AtomicU64::new(0);
    TICKS.fetch_add(7, Ordering::Relaxed)
}

/// Ring sizes of the fake NICs.
#[derive(Clone, Copy, Debug)]
pub struct Rings {
    pub rx: usize,
    pub tx: usize,
    pub offload: bool,
}

impl Default for Rings {
    fn default() -> Self {
        Rings {
            rx: 256,
            tx: 256,
            offload: false,
        }
    }
}

#[derive(Default)]
struct PeerOutput {
    sent: Vec<(SocketAddr, Vec<u8>, u8)>,
    delivered: Vec<Vec<u8>>,
}

impl Sink for PeerOutput {
    fn send_datagram(&mut self, to: SocketAddr, datagram: &[u8], ds: u8) {
        self.sent.push((to, datagram.to_vec(), ds));
    }
    fn deliver_packet(&mut self, _from: PeerId, packet: &mut [u8]) {
        self.delivered.push(packet.to_vec());
    }
}

/// For an ARP request on a wire: `Some(Some(reply))` if it asks for
/// `owner_ip` (answered from `owner_mac` to the gateway's `gateway_mac`),
/// `Some(None)` for other ARP requests, `None` if `frame` is no ARP request.
fn answer_arp(
    frame: &[u8],
    owner_mac: [u8; 6],
    owner_ip: Ipv4Addr,
    gateway_mac: [u8; 6],
) -> Option<Option<Vec<u8>>> {
    let (_, asker_ip, target) = arp_request(frame)?;
    Some((target == owner_ip).then(|| arp_reply(owner_mac, owner_ip, gateway_mac, asker_ip)))
}

/// A small seeded generator for the random-input tests (xorshift64).
pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// The gateway, a LAN host and a peer on fake wires.
pub struct World {
    pub gw: Gateway<FakeNic, FakeNic>,
    gw_rng: ChaCha8Rng,
    pub peer: Engine,
    peer_rng: ChaCha8Rng,
    pub now: Instant,
    /// Inner packets the peer decrypted, in arrival order.
    pub at_peer: Vec<Vec<u8>>,
    /// IP packets that reached the LAN host, in arrival order.
    pub at_lan_host: Vec<Vec<u8>>,
    /// Frames per step each wire takes from the gateway (a slow device).
    pub outer_drain: usize,
    pub inner_drain: usize,
    /// Datagrams from the peer that found the gateway's receive ring full.
    pub outer_device_drops: u64,
    /// The gateway's configuration file.
    pub config_text: String,
    /// The peer's public key.
    pub peer_public: PublicKey,
    /// The DS byte the peer's datagrams carry on the outer wire instead of
    /// the one its engine chose (a congested path marking them CE, say).
    pub peer_outer_ds: Option<u8>,
    /// (DS byte, WireGuard message type, UDP payload length) of every
    /// datagram the gateway sent to the peer, in order.
    pub outer_marks: Vec<(u8, u8, usize)>,
    /// Randomness for the userspace API (the port `listen_port=0` picks).
    pub uapi_rng: ChaCha8Rng,
}

pub fn config_text(gw_key: &PrivateKey, peer_key: &PublicKey) -> String {
    format!(
        "[Interface]\nPrivateKey = {}\nListenPort = {LISTEN_PORT}\nAddress = 10.99.0.1/24\n\n\
         [Peer]\nPublicKey = {}\nAllowedIPs = 10.99.0.2/32, 10.200.0.0/16\nEndpoint = {PEER_IP}:{PEER_PORT}\n\n\
         [Outer]\nAddress = {GW_OUTER_IP}/24\n\n[Inner]\nAddress = {GW_LAN_IP}/24\n",
        gw_key.to_base64().as_str(),
        peer_key.to_base64().as_str()
    )
}

impl World {
    pub fn new(rings: Rings) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let gw_key = PrivateKey::generate(&mut rng);
        let peer_key = PrivateKey::generate(&mut rng);
        let config_text = config_text(&gw_key, &peer_key.public_key());
        let config = net::config::parse("gateway.conf", &config_text).expect("test config parses");
        let engine = Engine::from_config(&config, &mut rng).expect("engine");
        let outer = FakeNic::new(GW_OUTER_MAC, rings.rx, rings.tx, rings.offload);
        let inner = FakeNic::new(GW_INNER_MAC, rings.rx, rings.tx, rings.offload);
        let gw = Gateway::new(
            &config,
            engine,
            outer,
            inner,
            Instant::ZERO,
            99,
            fake_cycles,
        )
        .expect("gateway");
        let mut spec = PeerSpec::new(gw_key.public_key());
        spec.allowed_ips = vec![
            IpCidr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 77, 0)), 24).unwrap(),
            IpCidr::new(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1)), 32).unwrap(),
        ];
        spec.endpoint = Some(gw_endpoint());
        let peer_public = peer_key.public_key();
        let peer =
            Engine::new(peer_key, [spec], EngineOptions::default(), &mut rng).expect("peer engine");
        World {
            gw,
            gw_rng: ChaCha8Rng::seed_from_u64(11),
            peer,
            peer_rng: ChaCha8Rng::seed_from_u64(13),
            now: Instant::ZERO,
            at_peer: Vec::new(),
            at_lan_host: Vec::new(),
            outer_drain: usize::MAX,
            inner_drain: usize::MAX,
            outer_device_drops: 0,
            config_text,
            peer_public,
            peer_outer_ds: None,
            outer_marks: Vec::new(),
            uapi_rng: ChaCha8Rng::seed_from_u64(17),
        }
    }

    pub fn clock(&self) -> Now {
        Now::new(
            self.now,
            UNIX_BASE + Duration::from_nanos(self.now.as_nanos()),
        )
    }

    pub fn advance(&mut self, by: Duration) {
        self.now = self.now.saturating_add(by);
    }

    /// The LAN host sends `packet` to the gateway; `false` if its receive ring was full.
    pub fn lan_sends(&mut self, packet: &[u8]) -> bool {
        let frame = ethernet(GW_INNER_MAC, LAN_HOST_MAC, 0x0800, packet);
        self.gw.nics().1.inject(frame, RxChecksum::Unchecked)
    }

    /// The peer tunnels `packet` to the gateway (it goes out at the next step).
    pub fn peer_sends(&mut self, packet: &[u8]) {
        let now = self.clock();
        let mut out = PeerOutput::default();
        let _ = self
            .peer
            .send_packet(now, packet, &mut self.peer_rng, &mut out);
        self.peer_output(out);
    }

    /// Frames injected on the outer NIC from the peer's address (for bad-input tests).
    pub fn outer_inject(&mut self, frame: Vec<u8>, checksum: RxChecksum) -> bool {
        self.gw.nics().0.inject(frame, checksum)
    }

    fn peer_output(&mut self, out: PeerOutput) {
        for (to, datagram, ds) in out.sent {
            // To the gateway's address, at whatever port the peer believes it listens on.
            assert_eq!(
                to.ip(),
                gw_endpoint().ip(),
                "the peer sends only to the gateway"
            );
            let ds = self.peer_outer_ds.unwrap_or(ds);
            let packet = ipv4_udp_ds(peer_endpoint(), to, &datagram, 64, false, ds);
            let frame = ethernet(GW_OUTER_MAC, PEER_MAC, 0x0800, &packet);
            if !self.gw.nics().0.inject(frame, RxChecksum::Unchecked) {
                self.outer_device_drops += 1;
            }
        }
        self.at_peer.extend(out.delivered);
    }

    /// Runs the gateway until it is idle, then lets each wire carry what it
    /// sent (at most `*_drain` frames each), answering ARP for the peer and
    /// the LAN host.
    pub fn step(&mut self) {
        let now = self.clock();
        while self.gw.poll(now, &mut self.gw_rng) {}
        if self.peer.next_deadline().is_some_and(|at| at <= self.now) {
            let mut out = PeerOutput::default();
            self.peer.poll_timers(now, &mut self.peer_rng, &mut out);
            self.peer_output(out);
        }
        let outer = self.gw.nics().0.take_sent(self.outer_drain);
        for frame in outer {
            self.outer_wire(frame);
        }
        let inner = self.gw.nics().1.take_sent(self.inner_drain);
        for frame in inner {
            self.inner_wire(frame);
        }
    }

    /// Steps until nothing moves (at most `limit` steps).
    pub fn settle(&mut self, limit: usize) {
        for _ in 0..limit {
            let before = (self.at_peer.len(), self.at_lan_host.len());
            self.step();
            let idle = self.gw.nics().0.rx_room() == 256 && self.gw.nics().1.rx_room() == 256;
            if idle && before == (self.at_peer.len(), self.at_lan_host.len()) && self.wires_empty()
            {
                return;
            }
        }
    }

    fn wires_empty(&mut self) -> bool {
        let (o, i) = self.gw.nics();
        o.tx_free_all() && i.tx_free_all()
    }

    fn outer_wire(&mut self, frame: Vec<u8>) {
        if let Some(reply) = answer_arp(&frame, PEER_MAC, PEER_IP, GW_OUTER_MAC) {
            if let Some(reply) = reply {
                self.gw.nics().0.inject(reply, RxChecksum::Unchecked);
            }
            return;
        }
        assert_eq!(
            frame[..6],
            PEER_MAC,
            "outer frames go to the resolved next hop"
        );
        let Some((from, to, payload)) = read_ipv4_udp(&frame) else {
            return;
        };
        let ours = SocketAddr::new(gw_endpoint().ip(), self.gw.listen_port());
        assert_eq!((from, to), (ours, peer_endpoint()));
        self.outer_marks.push((
            frame[15],
            payload.first().copied().unwrap_or(0),
            payload.len(),
        ));
        let mut payload = payload;
        let now = self.clock();
        let mut out = PeerOutput::default();
        self.peer
            .handle_datagram(now, from, &mut payload, &mut self.peer_rng, &mut out);
        self.peer_output(out);
    }

    fn inner_wire(&mut self, frame: Vec<u8>) {
        if let Some(reply) = answer_arp(&frame, LAN_HOST_MAC, LAN_HOST, GW_INNER_MAC) {
            if let Some(reply) = reply {
                self.gw.nics().1.inject(reply, RxChecksum::Unchecked);
            }
            return;
        }
        if frame[..6] != LAN_HOST_MAC {
            return;
        }
        if let Some(packet) = ip_payload(&frame) {
            self.at_lan_host.push(packet.to_vec());
        }
    }

    /// Sends one packet from the LAN to the peer and steps until it arrives,
    /// so a session exists.
    pub fn establish(&mut self) {
        let probe = numbered_packet(LAN_HOST, REMOTE_HOST, u32::MAX, 100, 64);
        self.lan_sends(&probe);
        for _ in 0..50 {
            self.step();
            if !self.at_peer.is_empty() {
                break;
            }
            self.advance(Duration::from_millis(10));
        }
        assert_eq!(
            self.at_peer.len(),
            1,
            "the first packet crossed after the handshake"
        );
        self.at_peer.clear();
        // And one back, so the gateway has resolved the LAN host: a burst to
        // an unresolved host would overflow the neighbor cache's (small,
        // bounded) hold queue, as on any router.
        let probe = numbered_packet(REMOTE_HOST, LAN_HOST, u32::MAX, 100, 64);
        self.peer_sends(&probe);
        self.settle(50);
        assert_eq!(
            self.at_lan_host.len(),
            1,
            "the first packet reached the LAN host"
        );
        self.at_lan_host.clear();
    }
}
