//! The engine's outputs, and the two halves of the fast path.
//!
//! Towards the LAN, a datagram is decrypted where it lies in the outer
//! receive buffer, routed in place (TTL) and copied once, into a LAN
//! transmit buffer behind its Ethernet header. Towards the peer, a LAN
//! packet is routed in place in its receive buffer and copied once, into an
//! outer transmit buffer behind room for the outer headers, where the engine
//! seals it; the headers come from the peer's cached outer route.

use core::net::{IpAddr, SocketAddr};
use rand_core::{CryptoRng, RngCore};

use super::deferred::Deferred;
use super::gso;
use super::nic::{TxFrame, TxRing};
use super::outer_frame::{write_ip_udp, write_outer_frame, ETHERNET_LEN, MESSAGE_OFFSET};
use super::stats::{DirectionCycles, GatewayStats, Stage, StageClock};
use super::wan::{NextHop, Wan};
use crate::engine::{Engine, Now, PeerId, Sink};
use crate::router::{
    fragment_ipv4, write_ethernet_header, EthernetAddress, LanVerdict, NeighborCache, Resolution,
    Router, TunnelVerdict,
};
use crate::time::Instant;
use alloc::boxed::Box;

/// Largest IP packet either side handles.
pub const MAX_PACKET: usize = 1500;

/// Scratch buffers of the slow paths (ICMP errors, fragments, held datagrams).
pub struct Scratch {
    /// ICMP errors the router builds.
    pub reply: Box<[u8; MAX_PACKET]>,
    /// Fragments the router cuts.
    pub fragment: Box<[u8; MAX_PACKET]>,
    /// A datagram built for the outer hold queue, or a deferred packet.
    pub datagram: Box<[u8; MESSAGE_OFFSET + MAX_PACKET]>,
}

impl Scratch {
    /// All scratch memory, allocated once.
    pub fn new() -> Self {
        Scratch {
            reply: Box::new([0; MAX_PACKET]),
            fragment: Box::new([0; MAX_PACKET]),
            datagram: Box::new([0; MESSAGE_OFFSET + MAX_PACKET]),
        }
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

/// The LAN side: router, neighbor cache and our MAC there.
pub struct Lan {
    /// The router.
    pub router: Router,
    /// The LAN neighbor cache.
    pub neighbors: NeighborCache,
    /// Our MAC on the LAN.
    pub mac: EthernetAddress,
}

/// Everything the loop needs besides the engine and the NICs.
pub struct Plumbing {
    /// The LAN side.
    pub lan: Lan,
    /// The outer link.
    pub wan: Wan,
    /// Slow-path scratch.
    pub scratch: Scratch,
    /// Packets for the tunnel produced inside an engine call.
    pub deferred: Deferred,
    /// Drop counters.
    pub stats: GatewayStats,
    /// Cycles towards the LAN.
    pub to_lan: DirectionCycles,
    /// Cycles towards the peers.
    pub to_peer: DirectionCycles,
    /// The cycle counter.
    pub clock: StageClock,
}

/// The engine's sink during one call: borrows the plumbing and both
/// transmit rings.
pub struct Forwarder<'a, O: TxRing, I: TxRing> {
    /// Everything but the engine.
    pub plumbing: &'a mut Plumbing,
    /// The outer NIC's transmit ring.
    pub outer_tx: &'a mut O,
    /// The LAN NIC's transmit ring.
    pub inner_tx: &'a mut I,
    /// The time of this call.
    pub now: Now,
    /// The DS byte of the outer header of the datagram being opened (0
    /// when the call handles none): its ECN bits reach the inner packet.
    pub outer_ds: u8,
}

impl<'a, O: TxRing, I: TxRing> Forwarder<'a, O, I> {
    /// A sink for a call that opens no datagram (sending, timers, LAN
    /// packets): the outer DS byte is 0.
    pub fn new(
        plumbing: &'a mut Plumbing,
        outer_tx: &'a mut O,
        inner_tx: &'a mut I,
        now: Now,
    ) -> Self {
        Self {
            plumbing,
            outer_tx,
            inner_tx,
            now,
            outer_ds: 0,
        }
    }

    /// The same sink for opening a datagram whose outer header carried
    /// the DS byte `ds` (RFC 6040 decapsulation reads its ECN bits).
    pub fn opening(mut self, ds: u8) -> Self {
        self.outer_ds = ds;
        self
    }
}

/// Copies `frame` into a transmit buffer as it is.
pub fn transmit_copy(tx: &mut impl TxRing, frame: &[u8]) -> bool {
    tx.transmit(|buffer| {
        let dst = buffer.get_mut(..frame.len())?;
        dst.copy_from_slice(frame);
        Some(TxFrame::new(0, frame.len()))
    })
}

/// Sends an IP packet to the LAN host `next_hop`, resolving its MAC first
/// (or holding the packet until the neighbor cache has it).
pub fn send_to_lan(
    tx: &mut impl TxRing,
    neighbors: &mut NeighborCache,
    our_mac: EthernetAddress,
    next_hop: IpAddr,
    packet: &[u8],
    now: Instant,
    stats: &mut GatewayStats,
) {
    match neighbors.resolve(next_hop, now) {
        Resolution::Known(mac) => {
            if tx.free() == 0 {
                stats.inner_tx_full += 1;
                return;
            }
            let _ = tx.transmit(|frame| {
                let end = ETHERNET_LEN + packet.len();
                frame.get_mut(ETHERNET_LEN..end)?.copy_from_slice(packet);
                write_ethernet_header(&mut frame[..end], mac, our_mac).ok()?;
                Some(TxFrame::new(0, end))
            });
        }
        Resolution::Pending => {
            if neighbors.hold(next_hop, packet, now).is_err() {
                stats.lan_unresolved += 1;
            }
        }
        Resolution::Unresolvable => stats.lan_unresolved += 1,
    }
}

impl<O: TxRing, I: TxRing> Forwarder<'_, O, I> {
    /// Sends the `len`-byte WireGuard message already at
    /// `datagram[MESSAGE_OFFSET..]` of the scratch buffer to `to`, with DS byte `ds`.
    fn send_scratch_datagram(&mut self, peer: Option<PeerId>, to: SocketAddr, len: usize, ds: u8) {
        let p = &mut *self.plumbing;
        match p.wan.route(peer, to, self.now.monotonic) {
            NextHop::Ready(route) => {
                let id = p.wan.take_ipv4_id();
                let offload = self.outer_tx.checksum_offload();
                let message = &p.scratch.datagram[MESSAGE_OFFSET..MESSAGE_OFFSET + len];
                let room = self.outer_tx.free() > 0;
                let _ = room
                    && self.outer_tx.transmit(|buffer| {
                        buffer
                            .get_mut(MESSAGE_OFFSET..MESSAGE_OFFSET + len)?
                            .copy_from_slice(message);
                        write_outer_frame(buffer, len, &route, id, ds, offload)
                    });
                if !room {
                    p.stats.outer_tx_full += 1;
                }
            }
            NextHop::Pending(from, hop) => {
                let id = p.wan.take_ipv4_id();
                let buffer = &mut p.scratch.datagram[..];
                let held = write_ip_udp(buffer, len, from, to, id, ds, false).map(|(start, _)| {
                    p.wan.neighbors.hold(
                        hop,
                        &buffer[start..MESSAGE_OFFSET + len],
                        self.now.monotonic,
                    )
                });
                if !matches!(held, Some(Ok(()))) {
                    p.stats.outer_unresolved += 1;
                }
            }
            NextHop::Unreachable => p.stats.outer_no_route += 1,
        }
    }
}

impl<O: TxRing, I: TxRing> Sink for Forwarder<'_, O, I> {
    fn send_datagram(&mut self, to: SocketAddr, datagram: &[u8], ds: u8) {
        let len = datagram.len();
        let Some(slot) = self
            .plumbing
            .scratch
            .datagram
            .get_mut(MESSAGE_OFFSET..MESSAGE_OFFSET + len)
        else {
            self.plumbing.stats.outer_no_route += 1;
            return;
        };
        slot.copy_from_slice(datagram);
        self.send_scratch_datagram(None, to, len, ds);
    }

    fn deliver_packet(&mut self, _from: PeerId, packet: &mut [u8]) {
        let p = &mut *self.plumbing;
        p.to_lan.mark(&mut p.clock, Stage::Crypto);
        // RFC 6040: the outer header's congestion mark reaches the inner
        // packet before anything routes it.
        if crate::ecn::decapsulate(self.outer_ds, packet).is_err() {
            p.stats.tunnel_ce_not_ect += 1;
            return;
        }
        let now = self.now.monotonic;
        let verdict = p
            .lan
            .router
            .route_from_tunnel(packet, now, &mut p.scratch.reply[..]);
        match verdict {
            TunnelVerdict::Lan { next_hop, len } => {
                p.to_lan.mark(&mut p.clock, Stage::Route);
                send_to_lan(
                    self.inner_tx,
                    &mut p.lan.neighbors,
                    p.lan.mac,
                    next_hop,
                    &packet[..len],
                    now,
                    &mut p.stats,
                );
                p.to_lan.packets += 1;
                p.to_lan.mark(&mut p.clock, Stage::NicTransmit);
            }
            TunnelVerdict::Fragment { next_hop, len, mtu } => {
                let (tx, neighbors, mac, stats) = (
                    &mut *self.inner_tx,
                    &mut p.lan.neighbors,
                    p.lan.mac,
                    &mut p.stats,
                );
                let _ = p.lan.router.fragment(
                    &packet[..len],
                    mtu,
                    &mut p.scratch.fragment[..],
                    |piece| send_to_lan(tx, neighbors, mac, next_hop, piece, now, stats),
                );
                p.to_lan.packets += 1;
            }
            TunnelVerdict::Local => {
                let router = &p.lan.router;
                if let Some(len) =
                    crate::echo::reply_in_place(packet, |a| router.is_gateway_address(a))
                {
                    if !p.deferred.push(&packet[..len]) {
                        p.stats.deferred_full += 1;
                    }
                }
            }
            TunnelVerdict::Reply { len, .. } => {
                if !p.deferred.push(&p.scratch.reply[..len]) {
                    p.stats.deferred_full += 1;
                }
            }
            TunnelVerdict::Drop(_) => {}
        }
    }
}

fn mark_engine_time<O: TxRing, I: TxRing>(forwarder: &mut Forwarder<'_, O, I>) {
    let p = &mut *forwarder.plumbing;
    p.to_peer.mark(&mut p.clock, Stage::Crypto);
}

/// Tunnels the LAN packet `packet` (already routed to `peer`): sealed in
/// an outer transmit buffer when the peer has a session and a resolved next
/// hop, otherwise through the engine's staging path.
pub fn send_to_tunnel<O: TxRing, I: TxRing>(
    engine: &mut Engine,
    forwarder: &mut Forwarder<'_, O, I>,
    peer: PeerId,
    packet: &[u8],
    rng: &mut (impl RngCore + CryptoRng),
) {
    let now = forwarder.now;
    let p = &mut *forwarder.plumbing;
    p.to_peer.mark(&mut p.clock, Stage::Route);
    let route = engine.ready_to_seal(peer, now).and_then(|endpoint| {
        match p.wan.route(Some(peer), endpoint, now.monotonic) {
            NextHop::Ready(route) => Some(route),
            _ => None,
        }
    });
    let Some(route) = route else {
        // No session yet, packets staged ahead of this one, or the next hop
        // still resolving: the engine queues it and the sink holds it.
        let _ = engine.send_packet(now, packet, rng, forwarder);
        forwarder.plumbing.to_peer.packets += 1;
        mark_engine_time(forwarder);
        return;
    };
    if forwarder.outer_tx.free() == 0 {
        p.stats.outer_tx_full += 1;
        return;
    }
    let id = p.wan.take_ipv4_id();
    let offload = forwarder.outer_tx.checksum_offload();
    // The inner packet's ECN bits go outside (RFC 6040), read before sealing.
    let ds = crate::ecn::encapsulate(packet);
    let (to_peer, clock) = (&mut p.to_peer, &mut p.clock);
    let plaintext = MESSAGE_OFFSET + crypto::constants::TRANSPORT_HEADER_LEN;
    let sent = forwarder.outer_tx.transmit(|buffer| {
        buffer
            .get_mut(plaintext..plaintext + packet.len())?
            .copy_from_slice(packet);
        to_peer.mark(clock, Stage::NicTransmit);
        let (_, len) =
            engine.seal_in_place(peer, now, &mut buffer[MESSAGE_OFFSET..], packet.len(), rng)?;
        to_peer.mark(clock, Stage::Crypto);
        write_outer_frame(buffer, len, &route, id, ds, offload)
    });
    if sent {
        p.to_peer.packets += 1;
    }
    p.to_peer.mark(&mut p.clock, Stage::NicTransmit);
    engine.finish_send(peer, now, rng, forwarder);
}

/// What became of one segment of a GSO frame inside the transmit closure.
enum Segment {
    /// Sealed and queued for `peer`.
    Sealed(PeerId),
    /// Routed, but not sealed in place: `segment[..len]` holds it, for
    /// [`forward_from_lan`].
    Slow(LanVerdict<PeerId>, usize),
    /// Nothing queued (no room in the buffer, or the seal failed).
    Lost,
}

/// Sends the LAN packet `packet`, routed in place to `verdict`, on its way;
/// `lan_fragment` is scratch for fragments. Returns `false` for a packet
/// addressed to the gateway itself, which the caller gives to its stack.
pub fn forward_from_lan<O: TxRing, I: TxRing>(
    engine: &mut Engine,
    forwarder: &mut Forwarder<'_, O, I>,
    verdict: LanVerdict<PeerId>,
    packet: &[u8],
    lan_fragment: &mut [u8],
    rng: &mut (impl RngCore + CryptoRng),
) -> bool {
    let now = forwarder.now;
    match verdict {
        LanVerdict::Local => return false,
        LanVerdict::Tunnel { peer, len } => {
            if let Some(packet) = packet.get(..len) {
                send_to_tunnel(engine, forwarder, peer, packet, rng);
            }
        }
        LanVerdict::Fragment { len, mtu, .. } => {
            if let Some(packet) = packet.get(..len) {
                let _ = fragment_ipv4(packet, usize::from(mtu), lan_fragment, |piece| {
                    engine.send_packet(now, piece, rng, forwarder);
                });
                forwarder.plumbing.to_peer.packets += 1;
            }
        }
        LanVerdict::Reply { len, next_hop, .. } => {
            let p = &mut *forwarder.plumbing;
            send_to_lan(
                forwarder.inner_tx,
                &mut p.lan.neighbors,
                p.lan.mac,
                next_hop,
                &p.scratch.reply[..len],
                now.monotonic,
                &mut p.stats,
            );
        }
        LanVerdict::Drop(_) => {}
    }
    true
}

/// Cuts the GSO frame's IP packet `packet` (planned by [`gso::plan`]) into
/// TCP segments and tunnels each. A segment is written straight into an
/// outer transmit buffer, behind room for the outer headers, routed there
/// and sealed in place: the one copy the packet would get anyway. Segments
/// the fast path cannot seal (no session yet, next hop resolving, an ICMP
/// error to send) go through `segment` and [`forward_from_lan`]; a verdict
/// other than "tunnel" ends the frame, since every segment would get it.
#[allow(clippy::too_many_arguments)]
pub fn tunnel_gso<O: TxRing, I: TxRing>(
    engine: &mut Engine,
    forwarder: &mut Forwarder<'_, O, I>,
    packet: &[u8],
    plan: &gso::Plan,
    segment: &mut [u8],
    lan_fragment: &mut [u8],
    rng: &mut (impl RngCore + CryptoRng),
) {
    let now = forwarder.now;
    let plaintext = MESSAGE_OFFSET + crypto::constants::TRANSPORT_HEADER_LEN;
    let offload = forwarder.outer_tx.checksum_offload();
    for index in 0..plan.segments {
        let p = &mut *forwarder.plumbing;
        if forwarder.outer_tx.free() == 0 {
            p.stats.outer_tx_full += (plan.segments - index) as u64;
            return;
        }
        p.stats.lan_gso_segments += 1;
        let (to_peer, clock, router, wan) =
            (&mut p.to_peer, &mut p.clock, &mut p.lan.router, &mut p.wan);
        let reply = &mut p.scratch.reply[..];
        let mut outcome = Segment::Lost;
        let sent = forwarder.outer_tx.transmit(|buffer| {
            let out = buffer.get_mut(plaintext..)?;
            let len = gso::write_segment(packet, plan, index, out)?;
            to_peer.mark(clock, Stage::NicTransmit);
            let verdict = router.route_from_lan(
                &mut out[..len],
                |dst| engine.peer_for_destination(dst),
                now.monotonic,
                reply,
            );
            to_peer.mark(clock, Stage::Route);
            if let LanVerdict::Tunnel { peer, len } = verdict {
                let route = engine.ready_to_seal(peer, now).and_then(|endpoint| {
                    match wan.route(Some(peer), endpoint, now.monotonic) {
                        NextHop::Ready(route) => Some(route),
                        _ => None,
                    }
                });
                if let Some(route) = route {
                    let id = wan.take_ipv4_id();
                    // The segment's ECN bits, read before sealing hides them.
                    let ds = crate::ecn::encapsulate(buffer.get(plaintext..plaintext + len)?);
                    let sealed =
                        engine.seal_in_place(peer, now, &mut buffer[MESSAGE_OFFSET..], len, rng);
                    to_peer.mark(clock, Stage::Crypto);
                    let (_, sealed_len) = sealed?;
                    outcome = Segment::Sealed(peer);
                    return write_outer_frame(buffer, sealed_len, &route, id, ds, offload);
                }
            }
            segment.get_mut(..len)?.copy_from_slice(&out[..len]);
            outcome = Segment::Slow(verdict, len);
            None
        });
        match outcome {
            Segment::Sealed(peer) => {
                forwarder.plumbing.to_peer.packets += u64::from(sent);
                engine.finish_send(peer, now, rng, forwarder);
            }
            Segment::Slow(verdict, len) => {
                let tunnel = matches!(verdict, LanVerdict::Tunnel { .. });
                let packet = &segment[..len];
                if !forward_from_lan(engine, forwarder, verdict, packet, lan_fragment, rng) {
                    forwarder.plumbing.stats.lan_gso_local += 1;
                }
                if !tunnel {
                    return;
                }
            }
            Segment::Lost => {}
        }
    }
}
