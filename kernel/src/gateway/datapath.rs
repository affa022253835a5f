//! The data path: LAN packets through the router into the WireGuard
//! engine, and decrypted packets from the engine through the router onto
//! the LAN. All buffers are allocated once; nothing here allocates per
//! packet.

use alloc::boxed::Box;
use core::net::{IpAddr, SocketAddr};
use drivers::virtio::net::Nic;
use net::engine::{Now, PeerId, Sink};
use net::router::{
    write_ethernet_header, EthernetAddress, NeighborCache, Resolution, Router, TunnelVerdict,
};
use net::Instant;
use smoltcp::socket::udp;

/// Largest IP packet handled on either side.
pub const MAX_PACKET: usize = 1500;
const ETHERNET_HEADER: usize = 14;

/// Packets to send into the tunnel once the engine call that produced them
/// has returned (the engine cannot be re-entered from its own sink).
pub struct Deferred {
    slots: Box<[[u8; MAX_PACKET]; 4]>,
    lengths: [usize; 4],
    count: usize,
}

impl Deferred {
    /// An empty queue.
    pub fn new() -> Self {
        Self { slots: Box::new([[0; MAX_PACKET]; 4]), lengths: [0; 4], count: 0 }
    }

    fn push(&mut self, packet: &[u8]) -> bool {
        if self.count == self.lengths.len() || packet.len() > MAX_PACKET {
            return false;
        }
        self.slots[self.count][..packet.len()].copy_from_slice(packet);
        self.lengths[self.count] = packet.len();
        self.count += 1;
        true
    }

    /// Takes the next packet, copying it into `buffer`.
    pub fn pop_into(&mut self, buffer: &mut [u8; MAX_PACKET]) -> Option<usize> {
        if self.count == 0 {
            return None;
        }
        self.count -= 1;
        let len = self.lengths[self.count];
        buffer[..len].copy_from_slice(&self.slots[self.count][..len]);
        Some(len)
    }
}

/// Counters of the glue between stack, router and engine.
#[derive(Default, Debug)]
pub struct GlueStats {
    /// Datagrams the engine produced that the UDP socket had no room for.
    pub udp_tx_full: u64,
    /// Packets to the LAN dropped because their neighbor cannot be resolved
    /// or the hold queue is full.
    pub lan_unresolved: u64,
    /// ICMP errors or echo replies for the tunnel dropped for lack of room.
    pub deferred_full: u64,
}

/// Sends an IP packet to a LAN host, resolving its MAC first (or holding
/// the packet until the neighbor cache has it).
pub fn send_to_lan(
    nic: &mut Nic,
    neighbors: &mut NeighborCache,
    our_mac: EthernetAddress,
    next_hop: IpAddr,
    packet: &[u8],
    now: Instant,
    stats: &mut GlueStats,
) {
    match neighbors.resolve(next_hop, now) {
        Resolution::Known(mac) => {
            nic.transmit(|frame| {
                let end = ETHERNET_HEADER + packet.len();
                if end > frame.len() {
                    return 0;
                }
                frame[ETHERNET_HEADER..end].copy_from_slice(packet);
                match write_ethernet_header(&mut frame[..end], mac, our_mac) {
                    Ok(()) => end,
                    Err(_) => 0,
                }
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

/// Where the engine's output goes: datagrams to the outer UDP socket,
/// decrypted packets through the router to the LAN.
pub struct Outputs<'a> {
    /// The WireGuard socket on the outer interface.
    pub udp: &'a mut udp::Socket<'static>,
    /// The LAN NIC.
    pub inner_nic: &'a mut Nic,
    /// The router.
    pub router: &'a mut Router,
    /// The LAN neighbor cache.
    pub neighbors: &'a mut NeighborCache,
    /// Our MAC on the LAN.
    pub inner_mac: EthernetAddress,
    /// The current time.
    pub now: Instant,
    /// Scratch for the packet being routed.
    pub packet: &'a mut [u8; MAX_PACKET],
    /// Scratch for ICMP errors.
    pub reply: &'a mut [u8; MAX_PACKET],
    /// Scratch for fragments.
    pub fragment: &'a mut [u8; MAX_PACKET],
    /// Packets to send back into the tunnel afterwards.
    pub deferred: &'a mut Deferred,
    /// Counters.
    pub stats: &'a mut GlueStats,
}

impl Sink for Outputs<'_> {
    fn send_datagram(&mut self, to: SocketAddr, datagram: &[u8]) {
        if self.udp.send_slice(datagram, to).is_err() {
            self.stats.udp_tx_full += 1;
        }
    }

    fn deliver_packet(&mut self, _from: PeerId, packet: &[u8]) {
        let len = packet.len().min(MAX_PACKET);
        self.packet[..len].copy_from_slice(&packet[..len]);
        let packet = &mut self.packet[..len];
        match self.router.route_from_tunnel(packet, self.now, self.reply) {
            TunnelVerdict::Lan { next_hop, len } => send_to_lan(
                self.inner_nic,
                self.neighbors,
                self.inner_mac,
                next_hop,
                &packet[..len],
                self.now,
                self.stats,
            ),
            TunnelVerdict::Fragment { next_hop, len, mtu } => {
                let (nic, neighbors, mac, now, stats) =
                    (&mut *self.inner_nic, &mut *self.neighbors, self.inner_mac, self.now, &mut *self.stats);
                let _ = self.router.fragment(&packet[..len], mtu, self.fragment, |piece| {
                    send_to_lan(nic, neighbors, mac, next_hop, piece, now, stats)
                });
            }
            TunnelVerdict::Local => {
                let router = &*self.router;
                if let Some(len) = net::echo::reply_in_place(packet, |a| router.is_gateway_address(a)) {
                    if !self.deferred.push(&packet[..len]) {
                        self.stats.deferred_full += 1;
                    }
                }
            }
            TunnelVerdict::Reply { len, .. } => {
                if !self.deferred.push(&self.reply[..len]) {
                    self.stats.deferred_full += 1;
                }
            }
            TunnelVerdict::Drop(_) => {}
        }
    }
}

/// The engine's view of the current time.
pub fn now() -> Now {
    Now::new(
        Instant::from_nanos(crate::time::uptime_nanos()),
        core::time::Duration::from_nanos(crate::time::wall_clock_nanos()),
    )
}
