//! Everything the engine keeps per peer.

use core::net::SocketAddr;
use core::time::Duration;

use crypto::{CookieState, InitiatorState, PeerKeys, PublicKey, Tai64N};

use super::keypair::Sessions;
use super::staging::StagedQueue;
use super::timers::PeerTimers;
use crate::time::Instant;

/// Our outstanding initiation: its state for the response, and the index it carries.
pub(crate) struct PendingHandshake {
    pub state: InitiatorState,
    pub local_index: u32,
}

/// Per-peer counters reported by `peer_stats`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PeerCounters {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub last_handshake: Option<Duration>,
    pub handshake_initiations_sent: u64,
    pub handshakes_completed: u64,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub keepalives_sent: u64,
}

/// One configured peer.
pub(crate) struct Peer {
    /// The peer's static public key.
    pub public_key: PublicKey,
    /// Static keys and everything precomputed from them (static-static DH included);
    /// `None` for a key of small order, with which no handshake is possible: such a
    /// peer is kept (so its AllowedIPs stay routed to it, not to a broader prefix of
    /// another peer) but nothing is ever sent to it or accepted from it.
    pub keys: Option<PeerKeys>,
    /// MAC2 cookie the peer gave us, and the MAC1 of our last handshake message to it.
    pub cookies: CookieState,
    pub endpoint: Option<SocketAddr>,
    pub persistent_keepalive: Option<Duration>,
    pub handshake: Option<PendingHandshake>,
    /// When we last sent an initiation (at most one per Rekey-Timeout).
    pub last_initiation_sent: Option<Instant>,
    /// Retries of the current handshake so far.
    pub handshake_attempts: u32,
    /// The initiator's rekey-on-receive at 165 s has been tried for the current session.
    pub sent_lastminute_handshake: bool,
    /// Timestamp of the last initiation accepted from the peer (replay protection).
    pub latest_timestamp: Tai64N,
    /// When we last accepted an initiation from the peer (flood protection).
    pub last_initiation_consumed: Option<Instant>,
    pub sessions: Sessions,
    pub timers: PeerTimers,
    pub staged: StagedQueue,
    pub counters: PeerCounters,
}

impl Peer {
    pub fn new(
        public_key: PublicKey,
        keys: Option<PeerKeys>,
        endpoint: Option<SocketAddr>,
        persistent_keepalive: Option<Duration>,
    ) -> Peer {
        Peer {
            public_key,
            keys,
            cookies: CookieState::new(),
            endpoint,
            persistent_keepalive,
            handshake: None,
            last_initiation_sent: None,
            handshake_attempts: 0,
            sent_lastminute_handshake: false,
            latest_timestamp: Tai64N::ZERO,
            last_initiation_consumed: None,
            sessions: Sessions::default(),
            timers: PeerTimers::default(),
            staged: StagedQueue::default(),
            counters: PeerCounters::default(),
        }
    }

    /// An authenticated datagram of `len` bytes came from `from`: roam to it and count it.
    pub fn on_authenticated_datagram(&mut self, from: SocketAddr, len: usize) {
        self.endpoint = Some(from);
        self.counters.rx_bytes += len as u64;
    }

    /// Receive-side timers of any authenticated packet (Linux's
    /// `wg_timers_any_authenticated_packet_received` and `..._traversal`).
    pub fn on_authenticated_packet_received(&mut self, now: Instant) {
        self.timers.on_authenticated_packet_received();
        self.timers
            .on_authenticated_packet_traversal(now, self.persistent_keepalive);
    }

    /// Bookkeeping of a completed handshake (Linux's `wg_timers_handshake_complete`).
    pub fn on_handshake_complete(&mut self, unix_now: Duration) {
        self.timers.on_handshake_complete();
        self.handshake_attempts = 0;
        self.sent_lastminute_handshake = false;
        self.counters.last_handshake = Some(unix_now);
        self.counters.handshakes_completed += 1;
    }
}
