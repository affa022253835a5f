//! The whole gateway loop, sans-IO: two NICs behind the [`nic`] traits, the
//! WireGuard engine, the router and neighbor caches, the fast path between
//! them, and smoltcp for the rest. The kernel drives it on virtio-net with
//! real time; host tests drive it on in-memory NICs with simulated time.
//!
//! Each [`Gateway::poll`] drains at most [`BUDGET`] frames from each NIC
//! (so neither direction, nor the timers, can starve the other), leaving
//! frames in a receive ring while the NIC they would leave by has no free
//! transmit buffer (backpressure rather than loss), then runs timers and the
//! stacks when they are due, and rings each NIC's doorbell once.

pub mod checksum;
mod control;
mod deferred;
mod forward;
pub mod gso;
pub mod nic;
pub mod outer_frame;
mod stack;
pub mod stats;
mod wan;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::IpAddr;
use rand_core::{CryptoRng, RngCore};

use crate::config::GatewayConfig;
use crate::engine::{Engine, Now};
use crate::router::{EthernetAddress, NeighborCache, NeighborConfig, Router, RouterConfig};
use crate::time::Instant;
pub use control::{loop_counters, Control};
use deferred::Deferred;
pub use deferred::MAX_PACKET;
use forward::{forward_from_lan, transmit_copy, tunnel_gso, Forwarder, Lan, Plumbing, Scratch};
use nic::{Nic, RxRing, TxRing};
use outer_frame::{classify, OuterDrop, OuterFrame, OuterIdentity, ETHERNET_LEN};
use stack::{static_outer, DhcpNews, Stack};
use stats::{GatewayStats, Stage, StageClock, StageCycles};
use wan::Wan;

/// Frames taken from one NIC per poll before the other NIC, the timers and
/// the stacks get their turn.
pub const BUDGET: usize = 64;
/// Largest frame handed to smoltcp (copied out of the receive ring).
const STACK_FRAME: usize = 1514;

/// What the receive closure decided for a frame it could not finish in place.
enum Leftover {
    /// Done.
    None,
    /// Copied into the stack frame buffer, this long: give it to smoltcp.
    Stack(usize),
}

/// The gateway: NICs, engine, router, stacks.
pub struct Gateway<O: Nic, I: Nic> {
    outer_nic: O,
    inner_nic: I,
    engine: Engine,
    plumbing: Plumbing,
    outer_stack: Stack,
    inner_stack: Stack,
    stack_frame: Box<[u8; STACK_FRAME]>,
    /// Fragments of a LAN packet larger than the tunnel MTU.
    lan_fragment: Box<[u8; MAX_PACKET]>,
    /// A segment of a GSO frame that leaves the fast path.
    gso_segment: Box<[u8; MAX_PACKET]>,
    deferred_packet: Box<[u8; MAX_PACKET]>,
    other_cycles: u64,
    outer_stack_due: Option<Instant>,
    inner_stack_due: Option<Instant>,
}

fn router_config(config: &GatewayConfig) -> RouterConfig {
    let outer = static_outer(config).iter().map(|c| c.addr()).collect();
    RouterConfig::new(
        config.inner.addresses.clone(),
        config.interface.addresses.clone(),
        outer,
        config.interface.mtu,
    )
}

fn first_v4(cidrs: &[crate::IpCidr]) -> Option<core::net::Ipv4Addr> {
    cidrs.iter().find_map(|c| match c.addr() {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    })
}

fn first_v6(cidrs: &[crate::IpCidr]) -> Option<core::net::Ipv6Addr> {
    cidrs.iter().find_map(|c| match c.addr() {
        IpAddr::V6(a) => Some(a),
        IpAddr::V4(_) => None,
    })
}

impl<O: Nic, I: Nic> Gateway<O, I> {
    /// Builds the gateway around a configured engine and two running NICs.
    /// `cycles` reads a cycle counter for the stage table (the TSC in the
    /// kernel); `seed` seeds smoltcp.
    pub fn new(
        config: &GatewayConfig,
        engine: Engine,
        mut outer_nic: O,
        mut inner_nic: I,
        now: Instant,
        seed: u64,
        cycles: fn() -> u64,
    ) -> Result<Self, String> {
        let (outer_mac, inner_mac) = (outer_nic.mac(), inner_nic.mac());
        let outer_stack = Stack::outer(outer_nic.split().1, outer_mac, config, seed, now)?;
        let inner_stack = Stack::inner(
            inner_nic.split().1,
            inner_mac,
            config,
            seed.rotate_left(17),
            now,
        );
        let lan_mac = EthernetAddress(inner_mac);
        let lan = Lan {
            router: Router::new(router_config(config)),
            neighbors: NeighborCache::new(NeighborConfig::new(
                lan_mac,
                first_v4(&config.inner.addresses),
                first_v6(&config.inner.addresses),
            )),
            mac: lan_mac,
        };
        let wan = Wan::new(
            outer_mac,
            config.interface.listen_port,
            static_outer(config),
            config.outer.gateway,
            engine.peer_count(),
        );
        Ok(Gateway {
            outer_nic,
            inner_nic,
            engine,
            plumbing: Plumbing {
                lan,
                wan,
                scratch: Scratch::new(),
                deferred: Deferred::new(),
                stats: GatewayStats::default(),
                to_lan: Default::default(),
                to_peer: Default::default(),
                clock: StageClock::new(cycles),
            },
            outer_stack,
            inner_stack,
            stack_frame: Box::new([0; STACK_FRAME]),
            lan_fragment: Box::new([0; MAX_PACKET]),
            gso_segment: Box::new([0; MAX_PACKET]),
            deferred_packet: Box::new([0; MAX_PACKET]),
            other_cycles: 0,
            outer_stack_due: Some(now),
            inner_stack_due: Some(now),
        })
    }

    /// The engine (peers, counters).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, to change its configuration while the gateway runs (peers added or
    /// removed through the userspace API); the loop follows on its next poll.
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Moves WireGuard to another UDP port (`wg set … listen-port`): the
    /// fast path recognises datagrams for the new port from the next frame.
    pub fn set_listen_port(&mut self, port: u16) {
        self.plumbing.wan.set_listen_port(port);
    }

    /// The UDP port WireGuard datagrams are recognised on and sent from.
    pub fn listen_port(&self) -> u16 {
        self.plumbing.wan.listen_port()
    }

    /// The router (its counters).
    pub fn router(&self) -> &Router {
        &self.plumbing.lan.router
    }

    /// The loop's own drop counters.
    pub fn stats(&self) -> &GatewayStats {
        &self.plumbing.stats
    }

    /// Cycles per stage so far.
    pub fn stage_cycles(&self) -> StageCycles {
        StageCycles {
            to_lan: self.plumbing.to_lan,
            to_peer: self.plumbing.to_peer,
            other: self.other_cycles,
        }
    }

    /// The NICs, to read their counters.
    pub fn nics_ref(&self) -> (&O, &I) {
        (&self.outer_nic, &self.inner_nic)
    }

    /// The NICs, for the caller's glue (interrupts, counters).
    pub fn nics(&mut self) -> (&mut O, &mut I) {
        (&mut self.outer_nic, &mut self.inner_nic)
    }

    /// One round of work: frames from both NICs (at most [`BUDGET`] each),
    /// due timers and stacks, one doorbell per NIC. Returns whether any frame
    /// was handled, so the caller polls again before halting.
    pub fn poll(&mut self, now: Now, rng: &mut (impl RngCore + CryptoRng)) -> bool {
        self.plumbing.wan.track_peers(self.engine.peer_count());
        let mut busy = false;
        for _ in 0..BUDGET {
            if self.inner_nic.split().1.free() == 0 {
                self.plumbing.stats.backpressure += 1;
                break;
            }
            if !self.outer_frame(now, rng) {
                break;
            }
            busy = true;
        }
        // A GSO frame from the LAN needs many outer transmit buffers.
        let reserve = if self.inner_nic.split().0.gso() {
            nic::GSO_TX_RESERVE
        } else {
            1
        };
        for _ in 0..BUDGET {
            if self.outer_nic.split().1.free() < reserve {
                self.plumbing.stats.backpressure += 1;
                break;
            }
            if !self.inner_frame(now, rng) {
                break;
            }
            busy = true;
        }
        self.plumbing.clock.restart();
        self.run_timers(now, rng);
        self.run_stacks(now);
        self.other_cycles += self.plumbing.clock.lap();
        self.outer_nic.flush();
        self.inner_nic.flush();
        busy
    }

    /// When something needs doing without a new frame: the engine's,
    /// neighbor caches' and stacks' next deadlines.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        [
            self.engine.next_deadline(),
            self.plumbing.lan.neighbors.next_deadline(),
            self.plumbing.wan.neighbors.next_deadline(),
            self.outer_stack_due,
            self.inner_stack_due,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handles one frame from the outer NIC; `false` if none was waiting.
    fn outer_frame(&mut self, now: Now, rng: &mut (impl RngCore + CryptoRng)) -> bool {
        let (outer_rx, outer_tx) = self.outer_nic.split();
        let inner_tx = self.inner_nic.split().1;
        let (engine, plumbing, stack_frame) =
            (&mut self.engine, &mut self.plumbing, &mut self.stack_frame);
        let our_mac = plumbing.wan.mac();
        plumbing.clock.restart();
        let leftover = outer_rx.receive(|frame, device_checksum| {
            let p = &mut *plumbing;
            p.wan.neighbors.handle_frame(frame, now.monotonic, |held| {
                if !transmit_copy(outer_tx, held) {
                    p.stats.outer_tx_full += 1;
                }
            });
            match classify(frame, our_mac, device_checksum, &p.wan) {
                OuterFrame::WireGuard { from, payload, ds } => {
                    p.to_lan.mark(&mut p.clock, Stage::NicReceive);
                    let mut forwarder =
                        Forwarder::new(p, &mut *outer_tx, &mut *inner_tx, now).opening(ds);
                    engine.handle_datagram(now, from, &mut frame[payload], rng, &mut forwarder);
                    let p = &mut *forwarder.plumbing;
                    p.to_lan.mark(&mut p.clock, Stage::Crypto);
                    Leftover::None
                }
                OuterFrame::Stack => Leftover::Stack(copy_for_stack(stack_frame, frame)),
                OuterFrame::Drop(reason) => {
                    match reason {
                        OuterDrop::Malformed => p.stats.outer_malformed += 1,
                        OuterDrop::BadChecksum => p.stats.outer_bad_checksum += 1,
                        OuterDrop::Fragment => p.stats.outer_fragment += 1,
                    }
                    Leftover::None
                }
            }
        });
        let Some(leftover) = leftover else {
            return false;
        };
        self.plumbing
            .to_lan
            .mark(&mut self.plumbing.clock, Stage::NicReceive);
        if let Leftover::Stack(len) = leftover {
            self.outer_stack
                .poll(outer_tx, Some(&self.stack_frame[..len]), now.monotonic);
            self.update_dhcp();
            self.outer_stack_due = Some(now.monotonic);
            self.other_cycles += self.plumbing.clock.lap();
        }
        self.send_deferred(now, rng);
        true
    }

    /// Handles one frame from the LAN NIC; `false` if none was waiting.
    fn inner_frame(&mut self, now: Now, rng: &mut (impl RngCore + CryptoRng)) -> bool {
        let (inner_rx, inner_tx) = self.inner_nic.split();
        let outer_tx = self.outer_nic.split().1;
        let (engine, plumbing, stack_frame) =
            (&mut self.engine, &mut self.plumbing, &mut self.stack_frame);
        let (lan_fragment, gso_segment) = (&mut self.lan_fragment, &mut self.gso_segment);
        plumbing.clock.restart();
        let leftover = inner_rx.receive_offloaded(|frame, info| {
            let p = &mut *plumbing;
            p.lan.neighbors.handle_frame(frame, now.monotonic, |held| {
                if !transmit_copy(inner_tx, held) {
                    p.stats.inner_tx_full += 1;
                }
            });
            let for_us = frame.len() >= ETHERNET_LEN && frame[..6] == p.lan.mac.0;
            let ethertype = if frame.len() >= ETHERNET_LEN {
                u16::from_be_bytes([frame[12], frame[13]])
            } else {
                0
            };
            let ip = for_us && (ethertype == 0x0800 || ethertype == 0x86dd);
            if let Some(gso) = info.gso {
                p.stats.lan_gso_frames += 1;
                let planned = match ip {
                    true => gso::plan(&frame[ETHERNET_LEN..], gso, MAX_PACKET),
                    false => Err(gso::GsoDrop::Mismatch),
                };
                let plan = match planned {
                    Ok(plan) => plan,
                    Err(reason) => {
                        match reason {
                            gso::GsoDrop::Malformed => p.stats.lan_gso_malformed += 1,
                            gso::GsoDrop::Mismatch => p.stats.lan_gso_mismatch += 1,
                            gso::GsoDrop::BadSize => p.stats.lan_gso_bad_size += 1,
                        }
                        return Leftover::None;
                    }
                };
                p.to_peer.mark(&mut p.clock, Stage::NicReceive);
                let mut forwarder = Forwarder::new(p, &mut *outer_tx, &mut *inner_tx, now);
                tunnel_gso(
                    engine,
                    &mut forwarder,
                    &frame[ETHERNET_LEN..],
                    &plan,
                    &mut gso_segment[..],
                    &mut lan_fragment[..],
                    rng,
                );
                return Leftover::None;
            }
            if let Some((start, offset)) = info.partial {
                let end = if ip { ip_end(frame) } else { frame.len() };
                if !gso::complete_checksum(frame, start, offset, end) {
                    p.stats.lan_bad_partial += 1;
                    return Leftover::None;
                }
            }
            if !ip {
                return Leftover::Stack(copy_for_stack(stack_frame, frame));
            }
            p.to_peer.mark(&mut p.clock, Stage::NicReceive);
            let verdict = p.lan.router.route_from_lan(
                &mut frame[ETHERNET_LEN..],
                |dst| engine.peer_for_destination(dst),
                now.monotonic,
                &mut p.scratch.reply[..],
            );
            let mut forwarder = Forwarder::new(p, &mut *outer_tx, &mut *inner_tx, now);
            let packet = &frame[ETHERNET_LEN..];
            if !forward_from_lan(
                engine,
                &mut forwarder,
                verdict,
                packet,
                &mut lan_fragment[..],
                rng,
            ) {
                return Leftover::Stack(copy_for_stack(stack_frame, frame));
            }
            Leftover::None
        });
        let Some(leftover) = leftover else {
            return false;
        };
        self.plumbing
            .to_peer
            .mark(&mut self.plumbing.clock, Stage::NicReceive);
        if let Leftover::Stack(len) = leftover {
            self.inner_stack
                .poll(inner_tx, Some(&self.stack_frame[..len]), now.monotonic);
            self.inner_stack_due = Some(now.monotonic);
            self.other_cycles += self.plumbing.clock.lap();
        }
        self.send_deferred(now, rng);
        true
    }

    /// Sends the echo replies and ICMP errors queued during engine calls.
    fn send_deferred(&mut self, now: Now, rng: &mut (impl RngCore + CryptoRng)) {
        while let Some(len) = self.plumbing.deferred.pop_into(&mut self.deferred_packet) {
            let outer_tx = self.outer_nic.split().1;
            let inner_tx = self.inner_nic.split().1;
            let mut forwarder = Forwarder::new(&mut self.plumbing, outer_tx, inner_tx, now);
            self.engine
                .send_packet(now, &self.deferred_packet[..len], rng, &mut forwarder);
        }
    }

    fn run_timers(&mut self, now: Now, rng: &mut (impl RngCore + CryptoRng)) {
        let outer_tx = self.outer_nic.split().1;
        let inner_tx = self.inner_nic.split().1;
        if self
            .engine
            .next_deadline()
            .is_some_and(|at| at <= now.monotonic)
        {
            let mut forwarder =
                Forwarder::new(&mut self.plumbing, &mut *outer_tx, &mut *inner_tx, now);
            self.engine.poll_timers(now, rng, &mut forwarder);
        }
        let p = &mut self.plumbing;
        if p.lan
            .neighbors
            .next_deadline()
            .is_some_and(|at| at <= now.monotonic)
        {
            let stats = &mut p.stats;
            p.lan.neighbors.poll(now.monotonic, |frame| {
                if !transmit_copy(inner_tx, frame) {
                    stats.inner_tx_full += 1;
                }
            });
        }
        if p.wan
            .neighbors
            .next_deadline()
            .is_some_and(|at| at <= now.monotonic)
        {
            let stats = &mut p.stats;
            p.wan.neighbors.poll(now.monotonic, |frame| {
                if !transmit_copy(outer_tx, frame) {
                    stats.outer_tx_full += 1;
                }
            });
        }
        self.send_deferred(now, rng);
    }

    fn run_stacks(&mut self, now: Now) {
        let now = now.monotonic;
        if self.outer_stack_due.is_some_and(|at| at <= now) {
            self.outer_stack.poll(self.outer_nic.split().1, None, now);
            self.update_dhcp();
            self.outer_stack_due = self.outer_stack.poll_at(now);
        }
        if self.inner_stack_due.is_some_and(|at| at <= now) {
            self.inner_stack.poll(self.inner_nic.split().1, None, now);
            self.inner_stack_due = self.inner_stack.poll_at(now);
        }
    }

    fn update_dhcp(&mut self) {
        match self.outer_stack.update_dhcp() {
            None => {}
            Some(DhcpNews::Leased(cidr, router)) => {
                let mut addresses: Vec<_> = static_outer_v6(&self.plumbing.wan);
                addresses.push(cidr);
                self.plumbing.wan.set_addresses(addresses);
                self.plumbing.wan.set_ipv4_gateway(router);
            }
            Some(DhcpNews::Lost) => {
                let addresses = static_outer_v6(&self.plumbing.wan);
                self.plumbing.wan.set_addresses(addresses);
                self.plumbing.wan.set_ipv4_gateway(None);
            }
        }
    }
}

/// Our outer IPv6 addresses (DHCP replaces only the IPv4 one).
fn static_outer_v6(wan: &Wan) -> Vec<crate::IpCidr> {
    wan.addresses()
        .iter()
        .filter(|c| c.is_ipv6())
        .copied()
        .collect()
}

/// Where the IP packet of a frame whose EtherType is IPv4 or IPv6 ends by
/// its own length field (link padding excluded), at most the frame's end.
fn ip_end(frame: &[u8]) -> usize {
    let field = |at: usize| {
        frame
            .get(at..at + 2)
            .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    };
    let end = match frame.get(12..14) {
        Some([0x08, 0x00]) => ETHERNET_LEN + field(ETHERNET_LEN + 2),
        Some([0x86, 0xdd]) => ETHERNET_LEN + 40 + field(ETHERNET_LEN + 4),
        _ => frame.len(),
    };
    end.min(frame.len())
}

/// Copies a frame for smoltcp; a frame longer than any the stack handles
/// is cut (the stack then drops it as malformed).
fn copy_for_stack(buffer: &mut [u8; STACK_FRAME], frame: &[u8]) -> usize {
    let len = frame.len().min(STACK_FRAME);
    buffer[..len].copy_from_slice(&frame[..len]);
    len
}
