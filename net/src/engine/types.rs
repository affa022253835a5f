//! The small value types of the engine's public API: peer handles, clocks, the output sink,
//! peer specifications, options and per-peer statistics.

use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use crypto::{PresharedKey, PublicKey};

use super::stats::DropReason;
use crate::allowed_ips::IpCidr;
use crate::time::Instant;

/// Names a peer: its position in the engine's peer table, in the order the peers were given
/// to [`Engine::new`](super::Engine::new) (or appear in the configuration file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u32);

impl PeerId {
    /// The position in the peer table.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Both clocks the engine needs, read by the caller once per call.
///
/// * `monotonic` drives every timer and lifetime; it must never go backwards.
/// * `unix` (wall-clock time since the Unix epoch) only goes into the TAI64N timestamp of our
///   handshake initiations and into [`PeerStats::last_handshake`]; peers reject an initiation
///   whose timestamp is not newer than the last one they accepted from us, so it should be
///   roughly right and should grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time (e.g. nanoseconds since boot).
    pub monotonic: Instant,
    /// Wall-clock time since 1970-01-01 00:00:00 UTC.
    pub unix: Duration,
}

impl Now {
    /// Both clocks at once.
    pub const fn new(monotonic: Instant, unix: Duration) -> Now {
        Now { monotonic, unix }
    }
}

/// Where the engine puts its output. Called synchronously from inside the engine's methods;
/// the slices are only valid for the duration of the call (copy them out).
pub trait Sink {
    /// Sends `datagram` as the payload of one UDP datagram from our listen port to `to`, with
    /// `ds` as the DS byte of its IP header (IPv4 TOS, IPv6 traffic class): DSCP AF41
    /// ([`HANDSHAKE_DS`](crate::ecn::HANDSHAKE_DS)) for handshake initiations and responses,
    /// the inner packet's ECN bits for transport data ([`crate::ecn::encapsulate`]), 0 for
    /// keepalives and cookie replies, as Linux marks them.
    fn send_datagram(&mut self, to: SocketAddr, datagram: &[u8], ds: u8);
    /// Hands a decrypted, authenticated and source-checked IP packet from peer `from` to the
    /// LAN side (or the local stack). Padding has been trimmed already. The packet lies in
    /// the caller's receive buffer, so the sink may rewrite it in place (TTL, echo reply).
    fn deliver_packet(&mut self, from: PeerId, packet: &mut [u8]);
}

/// One peer as the engine is configured with it.
#[derive(Clone, Debug)]
pub struct PeerSpec {
    /// The peer's static public key (refused if it has small order or equals ours).
    pub public_key: PublicKey,
    /// Optional preshared key mixed into every handshake with this peer.
    pub preshared_key: Option<PresharedKey>,
    /// Inner addresses the peer may send from and that are routed to it.
    pub allowed_ips: Vec<IpCidr>,
    /// Where to send to until the peer roams (learned from authenticated packets otherwise).
    pub endpoint: Option<SocketAddr>,
    /// Send a keepalive after this long without sending anything (`None`: off).
    pub persistent_keepalive: Option<Duration>,
}

impl PeerSpec {
    /// A peer with no preshared key, allowed IPs, endpoint or keepalive yet.
    pub fn new(public_key: PublicKey) -> PeerSpec {
        PeerSpec {
            public_key,
            preshared_key: None,
            allowed_ips: Vec::new(),
            endpoint: None,
            persistent_keepalive: None,
        }
    }
}

/// Tunables fixed at construction; every bounded resource is sized from these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineOptions {
    /// Tunnel MTU: the largest inner packet accepted by [`Engine::send_packet`](super::Engine::send_packet)
    /// and the limit of padding.
    pub mtu: u16,
    /// Total packets that may wait (across all peers) for handshakes to complete. The pool of
    /// `staged_packets_total` slots of `mtu` bytes is allocated once in `new`.
    pub staged_packets_total: u32,
    /// At most this many of those slots per peer (Linux: 128); the oldest is dropped beyond.
    pub staged_packets_per_peer: u32,
    /// "Under load" threshold: handshake messages (initiations and responses) per second
    /// above which MAC2 (a cookie) is demanded, for at least [`UNDER_LOAD_STICKINESS`](super::timers::UNDER_LOAD_STICKINESS).
    pub handshakes_per_second_before_load: u32,
    /// Capacity of the per-source handshake rate limiter table.
    pub rate_limiter_entries: u32,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            mtu: crate::config::DEFAULT_MTU,
            staged_packets_total: 1024,
            staged_packets_per_peer: 128,
            handshakes_per_second_before_load: 512,
            rate_limiter_entries: 4096,
        }
    }
}

/// What [`Engine::send_packet`](super::Engine::send_packet) did with a packet from the LAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// Encrypted and handed to [`Sink::send_datagram`].
    Sent,
    /// Queued until a handshake with the peer completes (one was started if allowed).
    Staged,
    /// No peer's AllowedIPs contain the destination (the caller may answer ICMP unreachable).
    NoRoute,
    /// Larger than the tunnel MTU (the caller may answer ICMP "fragmentation needed").
    TooBig {
        /// The tunnel MTU.
        mtu: u16,
    },
    /// Dropped for the reason given (also counted in [`EngineStats`](super::EngineStats)).
    Dropped(DropReason),
}

/// A snapshot of one peer's state for operators (`wg show`-like output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerStats {
    /// The peer's public key.
    pub public_key: PublicKey,
    /// Where we currently send to.
    pub endpoint: Option<SocketAddr>,
    /// Bytes of authenticated datagrams received from the peer (handshakes and data).
    pub rx_bytes: u64,
    /// Bytes of datagrams sent to the peer (handshakes and data).
    pub tx_bytes: u64,
    /// Wall-clock time of the last completed handshake.
    pub last_handshake: Option<Duration>,
    /// Handshake initiations we sent to the peer.
    pub handshake_initiations_sent: u64,
    /// Handshakes completed (as initiator or responder).
    pub handshakes_completed: u64,
    /// Inner packets delivered from the peer.
    pub packets_received: u64,
    /// Inner packets (not keepalives) sent to the peer.
    pub packets_sent: u64,
    /// Keepalives sent to the peer.
    pub keepalives_sent: u64,
    /// Packets waiting for a handshake.
    pub staged_packets: u32,
    /// Keypairs held (current, previous, next): 0 once key material has been wiped.
    pub keypairs: u8,
    /// True if an initiation is outstanding.
    pub handshake_in_progress: bool,
    /// Persistent keepalive interval.
    pub persistent_keepalive: Option<Duration>,
}
