//! The whole gateway loop on fake NICs: what the internet and the LAN can
//! send it, as Ethernet frames, with the metadata a virtio header carries.
//!
//! The other targets drive one parser or state machine each; this one
//! drives them together through the code that only the loop runs: the
//! WAN fast path's frame classification, the LAN's GSO and partial
//! checksums, the hand-off to smoltcp, ARP on both NICs, the deferred
//! queue, and full transmit rings. A real peer engine sits on the outer
//! wire so that handshakes complete and transport data flows both ways.
//!
//! Asserted besides "no panic":
//! - the loop goes idle after every step (no livelock) and every frame
//!   lies inside its transmit buffer;
//! - every frame on either wire comes from that NIC's MAC and is well
//!   formed ARP, IPv4 or IPv6, lengths within the frame, IPv4 TTL above 0;
//! - every outer IPv4 header has a valid checksum (the gateway writes all
//!   of them), and every datagram from the listen port is a WireGuard
//!   message of its type's size, with a valid UDP checksum over IPv6;
//! - after the script, nothing is wedged: the gateway still carries a
//!   fresh packet from the LAN to the peer and one from the peer to the
//!   LAN within 60 simulated seconds (sent again each second: a datagram
//!   may be lost, a wedged loop never delivers).

use core::net::SocketAddr;
use core::time::Duration;

use crypto::PrivateKey;
use net::gateway::nic::{Gso, GsoKind, Nic, RxChecksum, RxInfo, RxRing};
use net::gateway::Gateway;
use net::{Engine, EngineOptions, Instant, IpCidr, Now, PeerId, PeerSpec, Sink};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::fake_nic::{
    self, FakeNic, GATEWAY_KEY, INNER_MAC, LAN_IP, LISTEN_PORT, OUTER_IP, OUTER_MAC, PEER_IP,
    PEER_KEY, PEER_PORT,
};
use crate::input::{fix_ipv4_checksum, ones_sum, Input};
use crate::wire::{
    arp_reply, arp_request, check_ip, check_wireguard, ethernet, ipv4, udp_v4, udp_v6_checksum_ok,
};

/// The peer's MAC on the outer wire (it answers every ARP request there).
const PEER_MAC: [u8; 6] = [0x52, 0x54, 0, 0, 1, 1];
/// The LAN host's MAC (it answers every ARP request on the LAN).
const LAN_HOST_MAC: [u8; 6] = [0x52, 0x54, 0, 0, 2, 2];
const LAN_HOST: [u8; 4] = [192, 168, 77, 2];
/// A host behind the peer, inside its AllowedIPs.
const REMOTE_HOST: [u8; 4] = [10, 200, 0, 5];
/// Receive and transmit slots per NIC: few, so that full rings are reached.
const SLOTS: usize = 8;
/// Operations per input.
const MAX_OPS: usize = 48;
/// `poll` calls in one step before the loop counts as livelocked.
const POLL_LIMIT: usize = 10_000;
/// Datagrams of the peer kept for replaying.
const KEPT: usize = 4;

fn gateway_endpoint() -> SocketAddr {
    SocketAddr::from((OUTER_IP, LISTEN_PORT))
}

fn peer_endpoint() -> SocketAddr {
    SocketAddr::from((PEER_IP, PEER_PORT))
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

/// What one run reached, for the test that checks the seeds go deep.
#[derive(Debug, Default, Clone, Copy)]
pub struct FramesRun {
    /// Packets the peer decrypted, script and liveness check together.
    pub delivered_to_peer: u64,
    /// IP packets that reached the LAN wire.
    pub delivered_to_lan: u64,
    /// GSO frames the gateway cut into segments.
    pub gso_frames: u64,
}

struct World {
    gw: Gateway<FakeNic, FakeNic>,
    gw_rng: ChaCha8Rng,
    peer: Engine,
    peer_rng: ChaCha8Rng,
    now: Instant,
    /// The peer's last datagrams, for replays.
    kept: Vec<Vec<u8>>,
    /// Packets the peer decrypted.
    at_peer: Vec<Vec<u8>>,
    /// IP packets on the LAN wire.
    at_lan: Vec<Vec<u8>>,
}

/// What the device says about a frame, as the fuzzer chooses; GSO only
/// where the NIC offers it.
fn rx_info(input: &mut Input, gso_allowed: bool) -> RxInfo {
    let choice = input.u8();
    let checksum = match choice % 3 {
        0 => RxChecksum::Unchecked,
        1 => RxChecksum::Valid,
        _ => RxChecksum::Partial,
    };
    let partial = (choice & 0x04 != 0).then(|| (input.u16() % 200, input.u16() % 40));
    let gso = (gso_allowed && choice & 0x08 != 0).then(|| Gso {
        kind: if choice & 0x10 != 0 {
            GsoKind::TcpV6
        } else {
            GsoKind::TcpV4
        },
        size: input.u16() % 2048,
    });
    RxInfo {
        checksum,
        partial,
        gso,
    }
}

impl World {
    fn new(lan_offload: bool) -> World {
        let gateway_public = PrivateKey::from_bytes(GATEWAY_KEY).public_key();
        let mut spec = PeerSpec::new(gateway_public);
        spec.allowed_ips = [
            "192.168.77.0/24",
            "10.99.0.1/32",
            "fd77::/64",
            "fd99::1/128",
        ]
        .iter()
        .map(|c| c.parse::<IpCidr>().expect("a prefix"))
        .collect();
        spec.endpoint = Some(gateway_endpoint());
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let peer = Engine::new(
            PrivateKey::from_bytes(PEER_KEY),
            [spec],
            EngineOptions::default(),
            &mut rng,
        )
        .expect("the peer's engine");
        World {
            gw: fake_nic::gateway(SLOTS, lan_offload),
            gw_rng: ChaCha8Rng::seed_from_u64(11),
            peer,
            peer_rng: ChaCha8Rng::seed_from_u64(13),
            now: Instant::from_secs(1),
            kept: Vec::new(),
            at_peer: Vec::new(),
            at_lan: Vec::new(),
        }
    }

    fn now(&self) -> Now {
        let wall = Duration::from_secs(1_700_000_000) + Duration::from_nanos(self.now.as_nanos());
        Now::new(self.now, wall)
    }

    /// Puts the peer's datagrams on the outer wire (a full ring drops them).
    fn peer_output(&mut self, out: PeerOutput, ds: Option<u8>) {
        for (to, datagram, their_ds) in out.sent {
            assert_eq!(to, gateway_endpoint(), "the peer sends only to the gateway");
            if self.kept.len() == KEPT {
                self.kept.remove(0);
            }
            self.kept.push(datagram.clone());
            self.outer_datagram(PEER_IP, PEER_PORT, ds.unwrap_or(their_ds), &datagram);
        }
        self.at_peer.extend(out.delivered);
    }

    fn outer_datagram(&mut self, src: [u8; 4], sport: u16, ds: u8, datagram: &[u8]) {
        let udp = udp_v4(src, sport, OUTER_IP, LISTEN_PORT, datagram);
        let frame = ethernet(
            OUTER_MAC,
            PEER_MAC,
            0x0800,
            &ipv4(src, OUTER_IP, 17, 64, ds, &udp),
        );
        let _ = self
            .gw
            .nics()
            .0
            .inject(frame, RxInfo::plain(RxChecksum::Unchecked));
    }

    fn lan_packet(&mut self, packet: &[u8], info: RxInfo) {
        let ethertype = if packet.first().is_some_and(|b| b >> 4 == 6) {
            0x86dd
        } else {
            0x0800
        };
        let frame = ethernet(INNER_MAC, LAN_HOST_MAC, ethertype, packet);
        let _ = self.gw.nics().1.inject(frame, info);
    }

    /// Runs the loop until idle, the peer's timers, then both wires.
    fn step(&mut self) {
        let now = self.now();
        let mut polls = 0;
        while self.gw.poll(now, &mut self.gw_rng) {
            polls += 1;
            assert!(polls < POLL_LIMIT, "the loop never goes idle");
        }
        if self.peer.next_deadline().is_some_and(|at| at <= self.now) {
            let mut out = PeerOutput::default();
            self.peer.poll_timers(now, &mut self.peer_rng, &mut out);
            self.peer_output(out, None);
        }
        for frame in self.gw.nics().0.take_sent() {
            self.outer_wire(&frame);
        }
        for frame in self.gw.nics().1.take_sent() {
            self.lan_wire(&frame);
        }
    }

    /// A frame the gateway sent towards the internet.
    fn outer_wire(&mut self, frame: &[u8]) {
        assert!(frame.len() >= 14, "outer: a runt frame");
        assert_eq!(frame[6..12], OUTER_MAC, "outer: a frame from another MAC");
        match u16::from_be_bytes([frame[12], frame[13]]) {
            0x0806 => {
                if let Some((mac, ip, target)) = arp_request(frame) {
                    let reply = arp_reply(PEER_MAC, target, (mac, ip));
                    let _ = self
                        .gw
                        .nics()
                        .0
                        .inject(reply, RxInfo::plain(RxChecksum::Unchecked));
                }
            }
            0x0800 => {
                let ip = &frame[14..];
                let Some((protocol, start)) = check_ip(ip, "outer") else {
                    return;
                };
                assert_eq!(
                    ones_sum(0, &ip[..start]),
                    0xffff,
                    "outer: IPv4 header checksum"
                );
                self.outer_udp(
                    protocol,
                    &ip[start..usize::from(u16::from_be_bytes([ip[2], ip[3]]))],
                );
            }
            0x86dd => {
                let ip = &frame[14..];
                let Some((protocol, _)) = check_ip(ip, "outer") else {
                    return;
                };
                let end = 40 + usize::from(u16::from_be_bytes([ip[4], ip[5]]));
                if protocol == 17 && ip.get(40..42) == Some(&LISTEN_PORT.to_be_bytes()[..]) {
                    assert!(
                        udp_v6_checksum_ok(ip, &ip[40..end]),
                        "outer: UDP checksum over IPv6"
                    );
                }
                self.outer_udp(protocol, &ip[40..end]);
            }
            other => panic!("outer: ethertype {other:#06x}"),
        }
    }

    /// UDP from the listen port goes to the peer, wherever it is addressed.
    fn outer_udp(&mut self, protocol: u8, udp: &[u8]) {
        if protocol != 17 || udp.len() < 8 || udp[..2] != LISTEN_PORT.to_be_bytes() {
            return;
        }
        let len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        assert_eq!(len, udp.len(), "outer: UDP length against the IP length");
        let mut message = udp[8..].to_vec();
        check_wireguard(&message);
        let now = self.now();
        let mut out = PeerOutput::default();
        self.peer.handle_datagram(
            now,
            gateway_endpoint(),
            &mut message,
            &mut self.peer_rng,
            &mut out,
        );
        self.peer_output(out, None);
    }

    /// A frame the gateway sent onto the LAN.
    fn lan_wire(&mut self, frame: &[u8]) {
        assert!(frame.len() >= 14, "LAN: a runt frame");
        assert_eq!(frame[6..12], INNER_MAC, "LAN: a frame from another MAC");
        match u16::from_be_bytes([frame[12], frame[13]]) {
            0x0806 => {
                if let Some((mac, ip, target)) = arp_request(frame) {
                    if target != LAN_IP {
                        let reply = arp_reply(LAN_HOST_MAC, target, (mac, ip));
                        let _ = self
                            .gw
                            .nics()
                            .1
                            .inject(reply, RxInfo::plain(RxChecksum::Unchecked));
                    }
                }
            }
            0x0800 | 0x86dd => {
                if check_ip(&frame[14..], "LAN").is_some() {
                    self.at_lan.push(frame[14..].to_vec());
                }
            }
            other => panic!("LAN: ethertype {other:#06x}"),
        }
    }

    /// One operation of the script.
    fn operate(&mut self, input: &mut Input) {
        match input.u8() % 8 {
            // Any frame from the internet side.
            0 => {
                let len = usize::from(input.u16()) % 1600;
                let frame = input.bytes(len).to_vec();
                let info = rx_info(input, false);
                let _ = self.gw.nics().0.inject(frame, info);
            }
            // A datagram to the listen port with headers the fuzzer bends.
            1 => {
                let flags = input.u8();
                let src = [192, 0, 2, input.u8()];
                let sport = input.u16();
                let len = usize::from(input.u16()) % 1500;
                let payload = input.bytes(len).to_vec();
                let mut udp = udp_v4(src, sport, OUTER_IP, LISTEN_PORT, &payload);
                if flags & 1 != 0 {
                    udp[4..6].copy_from_slice(&input.u16().to_be_bytes());
                }
                if flags & 2 != 0 {
                    udp[6] ^= input.u8() | 1;
                }
                let mut ip = ipv4(src, OUTER_IP, 17, 64, input.u8(), &udp);
                if flags & 4 != 0 {
                    ip[2..4].copy_from_slice(&input.u16().to_be_bytes());
                }
                if flags & 8 != 0 {
                    ip[6..8].copy_from_slice(&input.u16().to_be_bytes());
                }
                if flags & 16 == 0 {
                    fix_ipv4_checksum(&mut ip);
                }
                let frame = ethernet(OUTER_MAC, PEER_MAC, 0x0800, &ip);
                let _ = self.gw.nics().0.inject(frame, rx_info(input, false));
            }
            // The peer tunnels a packet, perhaps with a congestion mark outside.
            2 => {
                let dst = match input.u8() % 4 {
                    0 => LAN_HOST,
                    1 => LAN_IP,
                    2 => [10, 99, 0, 1],
                    _ => [192, 168, 77, input.u8()],
                };
                let src = [10, 200, input.u8(), input.u8()];
                let (protocol, ttl, ds) = (input.u8(), input.u8(), input.u8());
                let len = usize::from(input.u16()) % 1400;
                let packet = ipv4(src, dst, protocol, ttl, ds, input.bytes(len));
                let outer_ds = (ds & 0x80 != 0).then_some(ds & 3);
                self.peer_sends(&packet, outer_ds);
            }
            // Any frame from the LAN, GSO and partial checksums included.
            3 => {
                let len = usize::from(input.u16()) % 9000;
                let frame = input.bytes(len).to_vec();
                let gso = self.gw.nics().1.split().0.gso();
                let info = rx_info(input, gso);
                let _ = self.gw.nics().1.inject(frame, info);
            }
            // An IP packet from the LAN host, to the tunnel or the gateway.
            4 => {
                let dst = match input.u8() % 5 {
                    0 => REMOTE_HOST,
                    1 => [10, 99, 0, 2],
                    2 => LAN_IP,
                    3 => [10, 99, 0, 1],
                    _ => [input.u8(), input.u8(), input.u8(), input.u8()],
                };
                let (protocol, ttl, ds, df) = (input.u8(), input.u8(), input.u8(), input.u8());
                let len = usize::from(input.u16()) % 9000;
                let mut packet = ipv4(LAN_HOST, dst, protocol, ttl, ds, input.bytes(len));
                if df & 1 == 0 {
                    packet[6] &= !0x40;
                    fix_ipv4_checksum(&mut packet);
                }
                let gso = self.gw.nics().1.split().0.gso();
                let info = rx_info(input, gso);
                self.lan_packet(&packet, info);
            }
            // Time passes.
            5 => {
                let by = Duration::from_millis(u64::from(input.u16()) * 8);
                self.now = self.now.saturating_add(by);
            }
            // The loop runs.
            6 => self.step(),
            // One of the peer's datagrams again, perhaps from elsewhere.
            _ => {
                let pick = usize::from(input.u8());
                if !self.kept.is_empty() {
                    let datagram = self.kept[pick % self.kept.len()].clone();
                    let (src, sport) = if pick & 0x80 != 0 {
                        ([192, 0, 2, input.u8()], input.u16())
                    } else {
                        (PEER_IP, PEER_PORT)
                    };
                    self.outer_datagram(src, sport, 0, &datagram);
                }
            }
        }
    }

    fn peer_sends(&mut self, packet: &[u8], outer_ds: Option<u8>) {
        let now = self.now();
        let mut out = PeerOutput::default();
        let _ = self
            .peer
            .send_packet(now, packet, &mut self.peer_rng, &mut out);
        self.peer_output(out, outer_ds);
    }

    /// Sends `packet` every simulated second (datagrams may be lost: a
    /// handshake response that sat in a ring for minutes makes a session
    /// the other side has long expired, as it would with Linux) and steps
    /// in 100 ms ticks until `arrived` holds, for 60 s at most.
    fn until(
        &mut self,
        mut send: impl FnMut(&mut World),
        arrived: impl Fn(&World) -> bool,
    ) -> bool {
        for tick in 0..600 {
            if tick % 10 == 0 {
                send(self);
            }
            self.step();
            if arrived(self) {
                return true;
            }
            self.now = self.now.saturating_add(Duration::from_millis(100));
        }
        false
    }

    /// Whatever came before, a fresh packet still crosses each way. The
    /// peer's endpoint is first set back to its configured address, as an
    /// administrator would after a roam the script may have caused.
    fn still_forwards(&mut self) {
        self.step();
        self.gw
            .engine_mut()
            .set_endpoint(PeerId(0), peer_endpoint());
        let marker = *b"liveness-check-to-the-peer";
        let udp = udp_v4(LAN_HOST, 40000, REMOTE_HOST, 9, &marker);
        let packet = ipv4(LAN_HOST, REMOTE_HOST, 17, 64, 0, &udp);
        self.crosses(
            "from the LAN to the peer",
            |w| w.lan_packet(&packet, RxInfo::plain(RxChecksum::Unchecked)),
            |w| w.at_peer.iter().any(|p| p.ends_with(&marker)),
        );
        let marker = *b"liveness-check-to-the-lan";
        let udp = udp_v4(REMOTE_HOST, 9, LAN_HOST, 40000, &marker);
        let packet = ipv4(REMOTE_HOST, LAN_HOST, 17, 64, 0, &udp);
        self.crosses(
            "from the peer to the LAN",
            |w| w.peer_sends(&packet, None),
            |w| w.at_lan.iter().any(|p| p.ends_with(&marker)),
        );
    }

    /// Asserts that a packet `send` puts on a wire arrives (see [`World::until`]).
    fn crosses(
        &mut self,
        way: &str,
        send: impl FnMut(&mut World),
        arrived: impl Fn(&World) -> bool,
    ) {
        let reached = self.until(send, arrived);
        assert!(
            reached,
            "a packet no longer crosses {way}: {}; engine {:?}; peer {:?}",
            self.gw.stats(),
            self.gw.engine().stats(),
            self.peer.stats()
        );
    }
}

/// Runs one input; see the module documentation for what is asserted.
pub fn gateway_run(data: &[u8]) -> FramesRun {
    let mut input = Input::new(data);
    let lan_offload = input.u8() & 1 != 0;
    let mut world = World::new(lan_offload);
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        world.operate(&mut input);
    }
    world.still_forwards();
    FramesRun {
        delivered_to_peer: world.at_peer.len() as u64,
        delivered_to_lan: world.at_lan.len() as u64,
        gso_frames: world.gw.stats().lan_gso_frames,
    }
}

/// The fuzz target: frames through the whole gateway loop.
pub fn gateway_frames(data: &[u8]) {
    gateway_run(data);
}
