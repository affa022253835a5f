//! The sans-IO WireGuard engine: handshakes, sessions, timers and transport for many peers.
//!
//! The engine never reads a clock, touches a device or blocks. The caller (the kernel's main
//! loop, or a test) drives it with four calls and receives output through a [`Sink`]:
//!
//! * [`Engine::handle_datagram`]: a UDP datagram arrived on the listen port.
//! * [`Engine::send_packet`]: an IP packet from the LAN is to be tunnelled.
//! * [`Engine::poll_timers`]: time passed; call it no later than [`Engine::next_deadline`].
//! * [`Engine::force_rekey`] / [`Engine::set_endpoint`]: operator actions.
//!
//! Every call takes [`Now`] (monotonic and wall-clock time) and, where randomness may be
//! needed, the caller's `RngCore + CryptoRng`.
//!
//! # Memory
//!
//! Everything is allocated in [`Engine::new`]: the peer table (with three keypair cells per
//! peer, about 4 KiB per peer, mostly replay windows), the receiver index table, the timer
//! heap, the staging pool (`staged_packets_total` × MTU bytes), the rate limiter and one
//! scratch buffer of MTU + 32 bytes. Nothing allocates afterwards, per packet or otherwise.
//!
//! # Protocol behaviour
//!
//! Follows Linux's `drivers/net/wireguard` event by event (see [`timers`] for the constants):
//! keypairs rotate through previous/current/next with key confirmation for responders;
//! initiations are sent at most once per Rekey-Timeout, retried with jitter and given up after
//! [`timers::MAX_TIMER_HANDSHAKES`] retries (staged packets are then dropped); passive,
//! persistent and "confirm the session" keepalives; rekey after 120 s / 2^60 messages on send
//! and at 165 s on receive (initiator only); keys wiped after 540 s without a handshake.
//! Under load (see [`under_load`](self#under-load)) cookies are demanded and sources are rate
//! limited. Peers with persistent keepalive and an endpoint send a keepalive (and so start a
//! handshake) on the first `poll_timers`, as `wg set … persistent-keepalive` does.
//!
//! # Under load
//!
//! More than [`EngineOptions::handshakes_per_second_before_load`] handshake messages within one
//! second put the engine under load for at least one second: handshake messages without a
//! valid MAC2 are answered with a cookie reply, and those with one are rate limited per
//! source (20/s, burst 5, IPv6 per /64), as Linux does.
//!
//! # Configuration errors
//!
//! A peer equal to our own key and duplicate peers are *refused*: construction fails with
//! an [`EngineError`] naming the peer. (The configuration parser never hands over the
//! former: it leaves a `[Peer]` with our own key out, as Linux and wireguard-go do, and
//! lists it in [`GatewayConfig::ignored_peers`](crate::config::GatewayConfig::ignored_peers)
//! for the caller to warn about.)
//!
//! A peer whose key has small order (every Diffie-Hellman with it gives the all-zero
//! secret) is *kept but unusable*, as Linux keeps it: its AllowedIPs stay routed to it, so
//! its traffic cannot fall through to a broader prefix of another peer, but nothing is ever
//! sent to it and nothing from it is accepted
//! ([`DropReason::UnusablePeerKey`]); [`Engine::peer_is_usable`] tells which.

mod errors;
mod index_table;
mod ip;
mod keypair;
mod live_config;
mod peer;
mod poll;
mod receive;
mod send;
mod staging;
mod stats;
mod timer_queue;
pub mod timers;
mod types;
mod under_load;

use alloc::vec;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use crypto::{CookieChecker, LocalIdentity, PeerKeys, PrivateKey, PublicKey};
use rand_core::{CryptoRng, RngCore};

pub use errors::EngineError;
pub use live_config::PeerRemoved;
pub use stats::{DropReason, EngineStats};
pub use types::{EngineOptions, Now, PeerId, PeerSpec, PeerStats, SendOutcome, Sink};

use crate::allowed_ips::AllowedIps;
use crate::config::{GatewayConfig, MAX_MTU, MIN_MTU};
use crate::rate_limiter::RateLimiter;
use crate::time::Instant;
use index_table::IndexTable;
use keypair::Role;
use peer::Peer;
use staging::StagingPool;
use timer_queue::TimerQueue;
use under_load::LoadMonitor;

/// Transport overhead: 16-byte header plus 16-byte tag.
const TRANSPORT_OVERHEAD: usize = 32;
/// The largest number of peers an engine accepts.
pub const MAX_PEERS: usize = 1 << 20;

/// The WireGuard engine for one interface; see the [module documentation](self).
pub struct Engine {
    local: LocalIdentity,
    cookie_checker: CookieChecker,
    peers: Vec<Peer>,
    /// `(public key, peer)` sorted by key, for identifying initiators.
    by_public_key: Vec<([u8; 32], PeerId)>,
    allowed_ips: AllowedIps<PeerId>,
    indices: IndexTable,
    timer_queue: TimerQueue,
    staging: StagingPool,
    rate_limiter: RateLimiter,
    load: LoadMonitor,
    /// Where outgoing transport messages are built: header, padded plaintext, tag.
    scratch: Vec<u8>,
    options: EngineOptions,
    stats: EngineStats,
}

impl core::fmt::Debug for Engine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Engine")
            .field("public_key", self.local.public_key())
            .field("peers", &self.peers.len())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The monotonic clock as the crypto crate's cookie code wants it.
fn monotonic_duration(now: Now) -> Duration {
    Duration::from_nanos(now.monotonic.as_nanos())
}

impl Engine {
    /// Builds an engine for the interface key `private_key` and the given peers.
    ///
    /// Computes each peer's static-static Diffie-Hellman once, builds and compacts the
    /// allowed-IPs table, and allocates every table and buffer the engine will ever use.
    /// `rng` seeds the rate limiter's hash key. Fails on the configuration errors listed in
    /// [`EngineError`].
    pub fn new(
        private_key: PrivateKey,
        peers: impl IntoIterator<Item = PeerSpec>,
        options: EngineOptions,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Engine, EngineError> {
        if !(MIN_MTU..=MAX_MTU).contains(&options.mtu) {
            return Err(EngineError::InvalidMtu);
        }
        let local = LocalIdentity::new(private_key);
        let mut peer_table = Vec::new();
        let mut allowed_ips = AllowedIps::new();
        for (position, spec) in peers.into_iter().enumerate() {
            if position >= MAX_PEERS {
                return Err(EngineError::TooManyPeers);
            }
            let id = PeerId(position as u32);
            if spec.public_key == *local.public_key() {
                return Err(EngineError::PeerIsOwnKey { peer: position });
            }
            if let Some(k) = spec.persistent_keepalive {
                if k.is_zero() || k > Duration::from_secs(u64::from(u16::MAX)) {
                    return Err(EngineError::InvalidKeepalive { peer: position });
                }
            }
            // A key of small order yields no secure handshake: keep the peer, unusable.
            let keys = PeerKeys::new(&local, spec.public_key, spec.preshared_key).ok();
            for cidr in spec.allowed_ips {
                allowed_ips
                    .insert(cidr, id)
                    .map_err(EngineError::AllowedIps)?;
            }
            let usable = keys.is_some();
            let mut peer = Peer::new(
                spec.public_key,
                keys,
                spec.endpoint,
                spec.persistent_keepalive,
            );
            if usable && spec.persistent_keepalive.is_some() && spec.endpoint.is_some() {
                // Fires on the first poll: the peer is contacted as soon as we run.
                peer.timers.persistent_keepalive = Some(Instant::ZERO);
            }
            peer_table.push(peer);
        }
        allowed_ips.compact().map_err(EngineError::AllowedIps)?;
        let mut by_public_key: Vec<([u8; 32], PeerId)> = peer_table
            .iter()
            .enumerate()
            .map(|(i, p)| (*p.public_key.as_bytes(), PeerId(i as u32)))
            .collect();
        by_public_key.sort_unstable();
        if let Some(pair) = by_public_key.windows(2).find(|w| w[0].0 == w[1].0) {
            let later = pair[0].1.max(pair[1].1);
            return Err(EngineError::DuplicatePeer {
                peer: later.index(),
            });
        }
        let mut timer_queue = TimerQueue::new(peer_table.len());
        for (i, peer) in peer_table.iter().enumerate() {
            timer_queue.set(PeerId(i as u32), peer.timers.earliest());
        }
        let mtu = usize::from(options.mtu);
        let hash_key = [rng.next_u64(), rng.next_u64()];
        Ok(Engine {
            cookie_checker: CookieChecker::new(&local),
            local,
            indices: IndexTable::new(peer_table.len()),
            peers: peer_table,
            by_public_key,
            allowed_ips,
            timer_queue,
            staging: StagingPool::new(
                options.staged_packets_total,
                mtu,
                options.staged_packets_per_peer,
            ),
            rate_limiter: RateLimiter::new(options.rate_limiter_entries as usize, hash_key),
            load: LoadMonitor::new(options.handshakes_per_second_before_load),
            scratch: vec![0; mtu + TRANSPORT_OVERHEAD],
            options,
            stats: EngineStats::default(),
        })
    }

    /// Builds an engine from a parsed configuration file (interface key, MTU and peers, in
    /// file order: the first `[Peer]` is `PeerId(0)`), with default options otherwise.
    pub fn from_config(
        config: &GatewayConfig,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Engine, EngineError> {
        let private_key = PrivateKey::from_bytes(*config.interface.private_key.to_bytes());
        let peers = config.peers.iter().map(|p| PeerSpec {
            public_key: p.public_key,
            preshared_key: p.preshared_key.clone(),
            allowed_ips: p.allowed_ips.clone(),
            endpoint: p.endpoint,
            persistent_keepalive: p
                .persistent_keepalive
                .map(|s| Duration::from_secs(u64::from(s.get()))),
        });
        let options = EngineOptions {
            mtu: config.interface.mtu,
            ..EngineOptions::default()
        };
        Engine::new(private_key, peers, options, rng)
    }

    /// Whether handshakes with peer `id` are possible (false for a key of small order, and
    /// for an unknown id).
    pub fn peer_is_usable(&self, id: PeerId) -> bool {
        self.peers.get(id.index()).is_some_and(|p| p.keys.is_some())
    }

    /// Our static public key.
    pub fn public_key(&self) -> &PublicKey {
        self.local.public_key()
    }

    /// The options the engine was built with.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Number of peers (valid ids are `PeerId(0) .. PeerId(peer_count - 1)`).
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// The peer whose AllowedIPs hold the longest prefix containing `dst`.
    pub fn peer_for_destination(&self, dst: IpAddr) -> Option<PeerId> {
        self.allowed_ips.lookup(dst)
    }

    /// The peer with this public key.
    pub fn peer_by_public_key(&self, key: &PublicKey) -> Option<PeerId> {
        self.by_public_key
            .binary_search_by(|(k, _)| k.cmp(key.as_bytes()))
            .ok()
            .map(|i| self.by_public_key[i].1)
    }

    /// A snapshot of a peer's state and counters (`None` for an unknown id).
    pub fn peer_stats(&self, id: PeerId) -> Option<PeerStats> {
        let peer = self.peers.get(id.index())?;
        let c = &peer.counters;
        Some(PeerStats {
            public_key: peer.public_key,
            endpoint: peer.endpoint,
            rx_bytes: c.rx_bytes,
            tx_bytes: c.tx_bytes,
            last_handshake: c.last_handshake,
            handshake_initiations_sent: c.handshake_initiations_sent,
            handshakes_completed: c.handshakes_completed,
            packets_received: c.packets_received,
            packets_sent: c.packets_sent,
            keepalives_sent: c.keepalives_sent,
            staged_packets: peer.staged.len(),
            keypairs: peer.sessions.len(),
            handshake_in_progress: peer.handshake.is_some(),
            persistent_keepalive: peer.persistent_keepalive,
        })
    }

    /// Engine-wide counters, drops per reason included.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// True while handshake messages require a valid MAC2 (see the module docs).
    pub fn is_under_load(&self, now: Now) -> bool {
        self.load.is_under_load(now.monotonic)
    }

    /// The earliest time at which [`Engine::poll_timers`] has work to do (`None`: no timer
    /// is armed; only input can create work). Exact: calling earlier does nothing.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timer_queue.peek().map(|(deadline, _)| deadline)
    }

    /// Sets where we send to for `id` (it changes again when the peer roams). Returns false
    /// for an unknown id.
    pub fn set_endpoint(&mut self, id: PeerId, endpoint: SocketAddr) -> bool {
        match self.peers.get_mut(id.index()) {
            Some(peer) => {
                peer.endpoint = Some(endpoint);
                true
            }
            None => false,
        }
    }

    /// Starts a handshake with `id` now, as if the current session were too old. Still
    /// subject to the protocol's limit of one initiation per Rekey-Timeout (5 s) per peer,
    /// and needs an endpoint. Returns false for an unknown id.
    pub fn force_rekey(
        &mut self,
        id: PeerId,
        now: Now,
        rng: &mut (impl RngCore + CryptoRng),
        sink: &mut impl Sink,
    ) -> bool {
        if id.index() >= self.peers.len() {
            return false;
        }
        self.send_initiation(id, false, now, rng, sink);
        self.reschedule(id);
        true
    }

    /// Test support: sets the send counter of `id`'s current keypair, to reach the message
    /// limits without sending 2^60 packets. Returns false if there is no current keypair.
    #[doc(hidden)]
    pub fn testing_set_send_counter(&mut self, id: PeerId, counter: u64) -> bool {
        let Some(peer) = self.peers.get_mut(id.index()) else {
            return false;
        };
        match peer.sessions.current_mut() {
            Some(kp) => {
                kp.send_counter = counter;
                true
            }
            None => false,
        }
    }

    /// Test support: the local (receiving) index of `id`'s current keypair.
    #[doc(hidden)]
    pub fn testing_current_index(&self, id: PeerId) -> Option<u32> {
        let peer = self.peers.get(id.index())?;
        peer.sessions.get(Role::Current).map(|k| k.local_index)
    }

    /// Puts `id`'s earliest deadline into the timer heap after its timers changed.
    fn reschedule(&mut self, id: PeerId) {
        let earliest = self.peers[id.index()].timers.earliest();
        self.timer_queue.set(id, earliest);
    }
}
