//! The gateway: configuration, the two NICs, the smoltcp interfaces and the
//! main loop that moves packets between them and the WireGuard engine.

mod config;
mod datapath;
mod device;
mod nics;
mod report;
mod stack;

use crate::entropy::KernelRng;
use crate::{interrupts, kprintln, time};
use alloc::boxed::Box;
use alloc::vec::Vec;
use boot::BootInfo;
use core::net::{IpAddr, SocketAddr};
use datapath::{Deferred, GlueStats, Outputs, MAX_PACKET};
use device::StackDevice;
use report::{DropReport, PeerWatch};
use drivers::virtio::net::Nic;
use net::config::{GatewayConfig, OuterAddress};
use net::engine::{Engine, PeerId, SendOutcome};
use net::router::{
    fragment_ipv4, EthernetAddress, LanVerdict, NeighborCache, NeighborConfig, Router, RouterConfig,
};
use smoltcp::socket::udp;

/// Bytes of one frame copied out of a NIC's receive ring.
const FRAME_BYTES: usize = 2048;
/// Frames taken from one NIC before looking at the other.
const BATCH: usize = 64;

/// The engine's sink, built from the gateway's fields so that the caller
/// can still use the fields it does not borrow (a method could not).
macro_rules! outputs {
    ($gw:expr, $now:expr) => {
        Outputs {
            udp: $gw.outer.sockets.get_mut::<udp::Socket>($gw.outer.udp),
            inner_nic: &mut $gw.inner_nic,
            router: &mut $gw.router,
            neighbors: &mut $gw.neighbors,
            inner_mac: $gw.inner_mac,
            now: $now.monotonic,
            packet: &mut $gw.packet,
            reply: &mut $gw.reply,
            fragment: &mut $gw.fragment,
            deferred: &mut $gw.deferred,
            stats: &mut $gw.glue,
        }
    };
}

/// Everything the main loop works on.
struct Gateway {
    outer_nic: Nic,
    inner_nic: Nic,
    outer: stack::Outer,
    inner: stack::Inner,
    engine: Engine,
    router: Router,
    neighbors: NeighborCache,
    inner_mac: EthernetAddress,
    frame: Box<[u8; FRAME_BYTES]>,
    datagram: Box<[u8; FRAME_BYTES]>,
    /// Scratch of the engine's outputs: packets being routed to the LAN,
    /// ICMP errors, fragments.
    packet: Box<[u8; MAX_PACKET]>,
    reply: Box<[u8; MAX_PACKET]>,
    fragment: Box<[u8; MAX_PACKET]>,
    /// Scratch of the LAN side: ICMP errors, fragments, deferred packets.
    lan_reply: Box<[u8; MAX_PACKET]>,
    lan_fragment: Box<[u8; MAX_PACKET]>,
    deferred_packet: Box<[u8; MAX_PACKET]>,
    deferred: Deferred,
    glue: GlueStats,
    watch: PeerWatch,
    drops: DropReport,
}

/// Stops before forwarding anything: prints why, then idles for ever so
/// the console stays readable (and QEMU's test harness can see the line).
fn refuse(reason: core::fmt::Arguments) -> ! {
    log::error!("{reason}");
    kprintln!("gateway refused to start: {reason}");
    kprintln!("nothing is forwarded; fix the configuration and reboot");
    loop {
        time::idle_until(None);
    }
}

/// Loads the configuration, brings up the NICs and runs the gateway.
/// Returns only if no configuration was given at all.
pub fn run(boot: &BootInfo) {
    let config = match config::load(boot) {
        Ok(config) => config,
        Err(config::LoadError::Missing) => {
            log::info!("no configuration given (pass a WireGuard config file as the initrd)");
            return;
        }
        Err(config::LoadError::Unreadable(why) | config::LoadError::Invalid(why)) => {
            refuse(format_args!("configuration error: {why}"))
        }
    };
    for ignored in &config.ignored_keys {
        log::info!("config line {}: {} is a wg-quick setting; ignored", ignored.line, ignored.key);
    }
    let engine = Engine::from_config(&config, &mut KernelRng)
        .unwrap_or_else(|e| refuse(format_args!("configuration error: {}: {e}", config::file_name(boot))));
    for (index, peer) in config.peers.iter().enumerate() {
        if !engine.peer_is_usable(PeerId(index as u32)) {
            log::warn!(
                "{}: peer {index} ({}): public key has small order, no secure handshake is \
                 possible; nothing will be sent to it",
                config::file_name(boot),
                peer.public_key
            );
        }
    }
    let mut gateway = Gateway::start(config, engine);
    kprintln!(
        "gateway ready: {} peer(s), listening on UDP port {}, public key {}",
        gateway.engine.peer_count(),
        gateway.outer.sockets.get::<udp::Socket>(gateway.outer.udp).endpoint().port,
        gateway.engine.public_key()
    );
    loop {
        let busy = gateway.poll();
        if !busy {
            time::idle_until(gateway.next_deadline());
        }
    }
}

fn router_config(config: &GatewayConfig) -> RouterConfig {
    let outer = match &config.outer.address {
        OuterAddress::Static(cidrs) => cidrs.iter().map(|c| c.addr()).collect(),
        OuterAddress::Dhcp => Vec::new(),
    };
    RouterConfig::new(
        config.inner.addresses.clone(),
        config.interface.addresses.clone(),
        outer,
        config.interface.mtu,
    )
}

fn neighbor_config(config: &GatewayConfig, mac: EthernetAddress) -> NeighborConfig {
    let v4 = config.inner.addresses.iter().find_map(|c| match c.addr() {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    });
    let v6 = config.inner.addresses.iter().find_map(|c| match c.addr() {
        IpAddr::V6(a) => Some(a),
        IpAddr::V4(_) => None,
    });
    NeighborConfig::new(mac, v4, v6)
}

impl Gateway {
    fn start(config: GatewayConfig, engine: Engine) -> Self {
        let nics = nics::bring_up(&config).unwrap_or_else(|why| refuse(format_args!("{why}")));
        let (mut outer_nic, mut inner_nic) = (nics.outer, nics.inner);
        let outer = {
            let mut device = StackDevice::new(&mut outer_nic, None);
            stack::outer(&mut device, &config).unwrap_or_else(|why| refuse(format_args!("{why}")))
        };
        let inner = {
            let mut device = StackDevice::new(&mut inner_nic, None);
            stack::inner(&mut device, &config)
        };
        let inner_mac = EthernetAddress(inner_nic.mac());
        let watch = PeerWatch::new(engine.peer_count());
        Self {
            outer_nic,
            inner_nic,
            outer,
            inner,
            engine,
            router: Router::new(router_config(&config)),
            neighbors: NeighborCache::new(neighbor_config(&config, inner_mac)),
            inner_mac,
            frame: Box::new([0; FRAME_BYTES]),
            datagram: Box::new([0; FRAME_BYTES]),
            packet: Box::new([0; MAX_PACKET]),
            reply: Box::new([0; MAX_PACKET]),
            fragment: Box::new([0; MAX_PACKET]),
            lan_reply: Box::new([0; MAX_PACKET]),
            lan_fragment: Box::new([0; MAX_PACKET]),
            deferred_packet: Box::new([0; MAX_PACKET]),
            deferred: Deferred::new(),
            glue: GlueStats::default(),
            watch,
            drops: DropReport::default(),
        }
    }

    /// Services interrupts, drains both NICs, runs the stacks, the engine's
    /// timers and the neighbor cache. Returns whether any packet was
    /// handled (so the loop polls again before halting).
    fn poll(&mut self) -> bool {
        let pending = interrupts::take_pending_devices();
        if pending != 0 {
            self.outer_nic.ack_interrupt();
            self.inner_nic.ack_interrupt();
        }
        let mut busy = false;
        for _ in 0..BATCH {
            if !self.outer_frame() {
                break;
            }
            busy = true;
        }
        busy |= self.drain_udp();
        for _ in 0..BATCH {
            if !self.inner_frame() {
                break;
            }
            busy = true;
        }
        self.run_timers();
        self.flush_stacks();
        for pin in 0..64u8 {
            if pending & (1 << pin) != 0 {
                interrupts::device_serviced(pin);
            }
        }
        busy
    }

    /// Gives one frame from the outer NIC to smoltcp (all outer traffic is
    /// the stack's: ARP, ping, and WireGuard's UDP socket).
    fn outer_frame(&mut self) -> bool {
        let mut got = 0;
        let frame = &mut self.frame;
        if !self.outer_nic.receive(|f| got = copy_frame(frame, f)) {
            return false;
        }
        let mut device = StackDevice::new(&mut self.outer_nic, Some(&self.frame[..got]));
        self.outer.iface.poll(stack::now(), &mut device, &mut self.outer.sockets);
        true
    }

    /// Hands every datagram waiting on the WireGuard socket to the engine.
    fn drain_udp(&mut self) -> bool {
        let mut any = false;
        loop {
            let received = self
                .outer
                .sockets
                .get_mut::<udp::Socket>(self.outer.udp)
                .recv_slice(&mut self.datagram[..])
                .map(|(len, meta)| (len, SocketAddr::new(meta.endpoint.addr.into(), meta.endpoint.port)));
            let Ok((len, from)) = received else { break };
            any = true;
            let now = datapath::now();
            let mut outputs = outputs!(self, now);
            self.engine.handle_datagram(now, from, &mut self.datagram[..len], &mut KernelRng, &mut outputs);
            self.send_deferred();
        }
        any
    }

    /// Takes one frame from the LAN NIC: forwards it through the router and
    /// the engine, or gives it to smoltcp if it is for the gateway itself.
    fn inner_frame(&mut self) -> bool {
        let mut got = 0;
        let frame = &mut self.frame;
        if !self.inner_nic.receive(|f| got = copy_frame(frame, f)) {
            return false;
        }
        let now = datapath::now();
        let nic = &mut self.inner_nic;
        self.neighbors.handle_frame(&self.frame[..got], now.monotonic, |out| transmit_copy(nic, out));
        let unicast_to_us = got >= 14 && self.frame[..6] == self.inner_mac.0;
        let ethertype = if got >= 14 { u16::from_be_bytes([self.frame[12], self.frame[13]]) } else { 0 };
        if unicast_to_us && (ethertype == 0x0800 || ethertype == 0x86dd) && self.forward_from_lan(got) {
            return true;
        }
        let mut device = StackDevice::new(&mut self.inner_nic, Some(&self.frame[..got]));
        self.inner.iface.poll(stack::now(), &mut device, &mut self.inner.sockets);
        true
    }

    /// Routes the IP packet in `self.frame[14..got]`, from the LAN. Returns
    /// `false` if it is for the gateway itself (the caller gives it to
    /// smoltcp).
    fn forward_from_lan(&mut self, got: usize) -> bool {
        let now = datapath::now();
        let engine = &self.engine;
        let packet = &mut self.frame[14..got];
        let verdict =
            self.router.route_from_lan(packet, |dst| engine.peer_for_destination(dst), now.monotonic, &mut self.lan_reply[..]);
        match verdict {
            LanVerdict::Local => return false,
            LanVerdict::Tunnel { len, .. } => {
                let mut outputs = outputs!(self, now);
                // NoRoute and TooBig cannot happen: the router checked both.
                let _: SendOutcome = self.engine.send_packet(now, &self.frame[14..14 + len], &mut KernelRng, &mut outputs);
            }
            LanVerdict::Fragment { len, mtu, .. } => {
                let mut outputs = outputs!(self, now);
                let engine = &mut self.engine;
                let _ = fragment_ipv4(&self.frame[14..14 + len], usize::from(mtu), &mut self.lan_fragment[..], |piece| {
                    engine.send_packet(now, piece, &mut KernelRng, &mut outputs);
                });
            }
            LanVerdict::Reply { len, next_hop, .. } => datapath::send_to_lan(
                &mut self.inner_nic,
                &mut self.neighbors,
                self.inner_mac,
                next_hop,
                &self.lan_reply[..len],
                now.monotonic,
                &mut self.glue,
            ),
            LanVerdict::Drop(_) => {}
        }
        self.send_deferred();
        true
    }

    /// Sends ICMP errors and echo replies the engine's outputs queued.
    fn send_deferred(&mut self) {
        while let Some(len) = self.deferred.pop_into(&mut self.deferred_packet) {
            let now = datapath::now();
            let mut outputs = outputs!(self, now);
            self.engine.send_packet(now, &self.deferred_packet[..len], &mut KernelRng, &mut outputs);
        }
    }

    fn run_timers(&mut self) {
        let now = datapath::now();
        if self.engine.next_deadline().is_some_and(|at| at <= now.monotonic) {
            let mut outputs = outputs!(self, now);
            self.engine.poll_timers(now, &mut KernelRng, &mut outputs);
            self.send_deferred();
        }
        let nic = &mut self.inner_nic;
        self.neighbors.poll(now.monotonic, |frame| transmit_copy(nic, frame));
        self.watch.check(&self.engine, now.monotonic.as_nanos());
        self.drops.check(&self.engine, &self.router, &self.glue, now.monotonic.as_nanos());
    }

    fn flush_stacks(&mut self) {
        let mut device = StackDevice::new(&mut self.outer_nic, None);
        self.outer.iface.poll(stack::now(), &mut device, &mut self.outer.sockets);
        self.outer.update_dhcp();
        let mut device = StackDevice::new(&mut self.inner_nic, None);
        self.inner.iface.poll(stack::now(), &mut device, &mut self.inner.sockets);
    }

    /// The earliest moment something needs doing without a new packet.
    fn next_deadline(&mut self) -> Option<u64> {
        let now = stack::now();
        let stack_deadline = [
            self.outer.iface.poll_at(now, &self.outer.sockets),
            self.inner.iface.poll_at(now, &self.inner.sockets),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|at| (at.total_micros().max(0) as u64) * 1000);
        [stack_deadline, self.engine.next_deadline().map(|d| d.as_nanos()), self.neighbors.next_deadline().map(|d| d.as_nanos())]
            .into_iter()
            .flatten()
            .min()
    }
}

fn copy_frame(buffer: &mut [u8; FRAME_BYTES], frame: &[u8]) -> usize {
    let len = frame.len().min(FRAME_BYTES);
    buffer[..len].copy_from_slice(&frame[..len]);
    len
}

fn transmit_copy(nic: &mut Nic, frame: &[u8]) {
    nic.transmit(|buffer| {
        let len = frame.len().min(buffer.len());
        buffer[..len].copy_from_slice(&frame[..len]);
        len
    });
}
