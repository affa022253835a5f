//! What the console says while the gateway runs: handshakes and roaming
//! per peer; when they change, the counters of dropped packets (every drop
//! is counted somewhere; this makes the counts visible); and the cycles
//! each stage of the data path took, which `make bench` reads.

use super::VirtioGateway;
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;
use drivers::virtio::msix::InterruptRoute;
use net::engine::{Engine, EngineStats, PeerId};
use net::gateway::stats::StageCycles;
use net::router::RouterStats;

/// What the console last reported about each peer (the first
/// [`PeerWatch::LIMIT`] peers), so handshakes and roaming show up in the log.
pub struct PeerWatch {
    seen: Vec<(u64, Option<SocketAddr>)>,
    next_check: u64,
}

impl PeerWatch {
    const LIMIT: usize = 64;
    const INTERVAL_NANOS: u64 = 250_000_000;

    pub fn new(peers: usize) -> Self {
        Self {
            seen: alloc::vec![(0, None); peers.min(Self::LIMIT)],
            next_check: 0,
        }
    }

    pub fn check(&mut self, engine: &Engine, now: u64) {
        if now < self.next_check {
            return;
        }
        self.next_check = now + Self::INTERVAL_NANOS;
        for (index, seen) in self.seen.iter_mut().enumerate() {
            let Some(stats) = engine.peer_stats(PeerId(index as u32)) else {
                continue;
            };
            if stats.handshakes_completed != seen.0 {
                seen.0 = stats.handshakes_completed;
                log::info!(
                    "peer {index} ({}): handshake completed ({} so far)",
                    stats.public_key,
                    stats.handshakes_completed
                );
            }
            if stats.endpoint != seen.1 {
                seen.1 = stats.endpoint;
                if let Some(endpoint) = stats.endpoint {
                    log::info!("peer {index}: endpoint {endpoint}");
                }
            }
        }
    }
}

/// Logs the drop counters at most every ten seconds, and only when they
/// changed, so a flood of bad packets costs one console line per interval.
#[derive(Default)]
pub struct DropReport {
    last_total: u64,
    last_gso: u64,
    next_check: u64,
}

impl DropReport {
    const INTERVAL_NANOS: u64 = 10_000_000_000;

    /// Logs the counters if they changed and the interval has passed.
    pub fn check(&mut self, gateway: &mut VirtioGateway, now: u64) {
        if now < self.next_check {
            return;
        }
        self.next_check = now + Self::INTERVAL_NANOS;
        let (outer, inner) = gateway.nics();
        let (outer, inner) = (outer.stats(), inner.stats());
        let router_drops = router_dropped(gateway.router().stats());
        let engine = gateway.engine().stats();
        let glue = *gateway.stats();
        if glue.lan_gso_frames != self.last_gso {
            self.last_gso = glue.lan_gso_frames;
            log::info!(
                "LAN segmentation offload so far: {} GSO frames cut into {} segments; {} frames \
                 spanned several receive buffers ({} gathered, the rest in place)",
                glue.lan_gso_frames,
                glue.lan_gso_segments,
                inner.rx_merged,
                inner.rx_gathered
            );
        }
        let nic_drops = outer.rx_bad_descriptor
            + inner.rx_bad_descriptor
            + inner.rx_bad_gso
            + outer.tx_invalid
            + inner.tx_invalid;
        let total = engine.total_dropped() + router_drops + glue.dropped() + nic_drops;
        if total == self.last_total {
            return;
        }
        self.last_total = total;
        log::info!(
            "dropped so far: engine {} [{}], router {router_drops}, loop {} [{glue}], nic {nic_drops} \
             [outer rx_bad_descriptor={} tx_invalid={} tx_full={}; inner rx_bad_descriptor={} rx_bad_gso={} tx_invalid={} tx_full={}]",
            engine.total_dropped(),
            EngineDrops(engine),
            glue.dropped(),
            outer.rx_bad_descriptor,
            outer.tx_invalid,
            outer.tx_full,
            inner.rx_bad_descriptor,
            inner.rx_bad_gso,
            inner.tx_invalid,
            inner.tx_full,
        );
    }
}

fn router_dropped(stats: &RouterStats) -> u64 {
    stats.malformed
        + stats.bad_checksum
        + stats.not_unicast
        + stats.spoofed_source
        + stats.hairpin
        + stats.no_route
        + stats.ttl_expired
        + stats.too_big
}

/// The engine's non-zero drop reasons, as `name=count` pairs.
struct EngineDrops<'a>(&'a EngineStats);

impl fmt::Display for EngineDrops<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let mut first = true;
        for (reason, count) in self.0.drops().filter(|(_, n)| *n > 0) {
            write!(
                f,
                "{}{}={count}",
                if first { "" } else { " " },
                reason.name()
            )?;
            first = false;
        }
        Ok(())
    }
}

/// Prints the cumulative cycle counts per stage every two seconds while
/// packets move, as one line `make bench` parses:
/// `stage cycles: to_lan packets=… nic_rx=… crypto=… route=… nic_tx=…; to_peer …; other=…; halted=…; tsc_hz=…; uptime_ns=…; device_interrupts=…; timer_interrupts=…`.
#[derive(Default)]
pub struct StageReport {
    halted: u64,
    last_packets: u64,
    next_check: u64,
}

impl StageReport {
    const INTERVAL_NANOS: u64 = 2_000_000_000;

    /// Counts cycles spent halted.
    pub fn add_halted(&mut self, cycles: u64) {
        self.halted += cycles;
    }

    pub fn check(&mut self, gateway: &VirtioGateway, now: u64) {
        if now < self.next_check {
            return;
        }
        self.next_check = now + Self::INTERVAL_NANOS;
        let cycles: StageCycles = gateway.stage_cycles();
        let packets = cycles.to_lan.packets + cycles.to_peer.packets;
        if packets == self.last_packets {
            return;
        }
        self.last_packets = packets;
        crate::kprintln!(
            "stage cycles: to_lan {}; to_peer {}; other={}; halted={}; tsc_hz={}; uptime_ns={now}; device_interrupts={}; timer_interrupts={}",
            cycles.to_lan,
            cycles.to_peer,
            cycles.other,
            self.halted,
            crate::time::tsc_hz(),
            crate::interrupts::device_interrupts(),
            crate::time::timer_interrupts()
        );
    }
}

/// Prints, every two seconds when they changed, how many interrupts each
/// NIC took and by which route, and how many went through the I/O APIC at
/// all, as one line the end-to-end tests read:
/// `interrupts: outer msix vector=0x70 count=…; inner intx line=11 count=…; io_apic=…; msix=…`.
/// (An INTx line's count is its I/O APIC pin's, which devices sharing the
/// line add to.)
pub struct InterruptReport {
    routes: [InterruptRoute; 2],
    last: (u64, u64),
    next_check: u64,
}

impl InterruptReport {
    const INTERVAL_NANOS: u64 = 2_000_000_000;

    /// For the outer and inner NICs' routes.
    pub fn new(routes: [InterruptRoute; 2]) -> Self {
        Self {
            routes,
            last: (0, 0),
            next_check: 0,
        }
    }

    pub fn check(&mut self, now: u64) {
        if now < self.next_check {
            return;
        }
        self.next_check = now + Self::INTERVAL_NANOS;
        let totals = (
            crate::interrupts::io_apic_interrupts(),
            crate::interrupts::msi_interrupts_total(),
        );
        if totals == self.last {
            return;
        }
        self.last = totals;
        let [outer, inner] = self.routes.map(NicInterrupts);
        crate::kprintln!(
            "interrupts: outer {outer}; inner {inner}; io_apic={}; msix={}",
            totals.0,
            totals.1
        );
    }
}

struct NicInterrupts(InterruptRoute);

impl fmt::Display for NicInterrupts {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.0 {
            InterruptRoute::Msix { vector } => write!(
                f,
                "msix vector={vector:#x} count={}",
                crate::interrupts::msi_interrupts(vector)
            ),
            InterruptRoute::Intx { line: Some(line) } => write!(
                f,
                "intx line={line} count={}",
                crate::interrupts::pin_interrupts(line)
            ),
            InterruptRoute::Intx { line: None } => write!(f, "polled count=0"),
        }
    }
}
