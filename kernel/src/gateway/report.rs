//! What the console says while the gateway runs: handshakes and roaming
//! per peer, and, when they change, the counters of dropped packets (every
//! drop is counted somewhere; this makes the counts visible).

use super::datapath::GlueStats;
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;
use net::engine::{Engine, EngineStats, PeerId};
use net::router::{Router, RouterStats};

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
        Self { seen: alloc::vec![(0, None); peers.min(Self::LIMIT)], next_check: 0 }
    }

    pub fn check(&mut self, engine: &Engine, now: u64) {
        if now < self.next_check {
            return;
        }
        self.next_check = now + Self::INTERVAL_NANOS;
        for (index, seen) in self.seen.iter_mut().enumerate() {
            let Some(stats) = engine.peer_stats(PeerId(index as u32)) else { continue };
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
    next_check: u64,
}

impl DropReport {
    const INTERVAL_NANOS: u64 = 10_000_000_000;

    /// Logs the counters if they changed and the interval has passed.
    pub fn check(&mut self, engine: &Engine, router: &Router, glue: &GlueStats, now: u64) {
        if now < self.next_check {
            return;
        }
        self.next_check = now + Self::INTERVAL_NANOS;
        let router_drops = router_dropped(router.stats());
        let glue_drops = glue.udp_tx_full + glue.lan_unresolved + glue.deferred_full;
        let total = engine.stats().total_dropped() + router_drops + glue_drops;
        if total == self.last_total {
            return;
        }
        self.last_total = total;
        log::info!(
            "dropped so far: engine {} [{}], router {router_drops}, UDP socket full {}, LAN neighbor unresolved {}, \
             deferred queue full {}",
            engine.stats().total_dropped(),
            EngineDrops(engine.stats()),
            glue.udp_tx_full,
            glue.lan_unresolved,
            glue.deferred_full
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
            write!(f, "{}{}={count}", if first { "" } else { " " }, reason.name())?;
            first = false;
        }
        Ok(())
    }
}
