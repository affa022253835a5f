//! Engine-wide counters: every dropped input is counted under exactly one [`DropReason`], so
//! the kernel can print why traffic disappears; a few totals count what went right.

use core::fmt;

/// Why the engine dropped a datagram from the network or a packet from the LAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// Unknown message type, non-zero reserved bytes, or the wrong length for its type.
    MalformedDatagram,
    /// Handshake message whose MAC1 is not keyed to us.
    InvalidMac1,
    /// Under load and without a valid MAC2: answered with a cookie reply instead.
    CookieRequired,
    /// Under load, valid cookie, but the source address exceeded its handshake rate.
    RateLimited,
    /// Handshake initiation or response that failed to decrypt or authenticate.
    HandshakeDecryptFailed,
    /// Initiation from a static key that is not one of our peers.
    UnknownPeer,
    /// Initiation whose TAI64N timestamp is not newer than the last accepted one (replay).
    StaleTimestamp,
    /// Initiation arriving less than 1/50 s after the last accepted one from the same peer.
    InitiationFlood,
    /// Response, cookie reply or transport data naming an index we do not have (or of the
    /// wrong kind, e.g. a response to a handshake that already completed).
    UnknownIndex,
    /// Cookie reply that does not authenticate or answers nothing we sent.
    InvalidCookieReply,
    /// Transport data for a keypair past Reject-After-Time or Reject-After-Messages.
    ExpiredKeypair,
    /// Transport data whose counter was seen before or is too old for the replay window.
    ReplayedCounter,
    /// Transport data that failed authentication.
    DataDecryptFailed,
    /// Decrypted payload that is not a plausible IPv4/IPv6 packet.
    InvalidInnerPacket,
    /// Decrypted packet whose source address is not in the sending peer's AllowedIPs.
    DisallowedSource,
    /// Packet from the LAN that is not a plausible IPv4/IPv6 packet.
    InvalidOutboundPacket,
    /// Packet from the LAN whose destination no peer's AllowedIPs cover.
    NoRoute,
    /// Packet from the LAN larger than the tunnel MTU.
    TooBig,
    /// The peer has no known endpoint to send to.
    NoEndpoint,
    /// A staged packet evicted because the peer's share or the whole staging pool was full.
    StagingFull,
    /// Staged packets discarded when the handshake was given up (or keys were wiped).
    HandshakeGaveUp,
    /// An internal cryptographic operation failed (e.g. a low-order ephemeral key).
    CryptoError,
    /// Packet for, or handshake message from, a peer whose configured public key has small
    /// order: no secure handshake is possible, so nothing is ever sent to it.
    UnusablePeerKey,
}

impl DropReason {
    /// Number of reasons (the length of [`DropReason::ALL`]).
    pub const COUNT: usize = 23;

    /// Every reason, in declaration order.
    pub const ALL: [DropReason; DropReason::COUNT] = [
        DropReason::MalformedDatagram,
        DropReason::InvalidMac1,
        DropReason::CookieRequired,
        DropReason::RateLimited,
        DropReason::HandshakeDecryptFailed,
        DropReason::UnknownPeer,
        DropReason::StaleTimestamp,
        DropReason::InitiationFlood,
        DropReason::UnknownIndex,
        DropReason::InvalidCookieReply,
        DropReason::ExpiredKeypair,
        DropReason::ReplayedCounter,
        DropReason::DataDecryptFailed,
        DropReason::InvalidInnerPacket,
        DropReason::DisallowedSource,
        DropReason::InvalidOutboundPacket,
        DropReason::NoRoute,
        DropReason::TooBig,
        DropReason::NoEndpoint,
        DropReason::StagingFull,
        DropReason::HandshakeGaveUp,
        DropReason::CryptoError,
        DropReason::UnusablePeerKey,
    ];

    /// A short snake_case name for logs and counters.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::MalformedDatagram => "malformed_datagram",
            DropReason::InvalidMac1 => "invalid_mac1",
            DropReason::CookieRequired => "cookie_required",
            DropReason::RateLimited => "rate_limited",
            DropReason::HandshakeDecryptFailed => "handshake_decrypt_failed",
            DropReason::UnknownPeer => "unknown_peer",
            DropReason::StaleTimestamp => "stale_timestamp",
            DropReason::InitiationFlood => "initiation_flood",
            DropReason::UnknownIndex => "unknown_index",
            DropReason::InvalidCookieReply => "invalid_cookie_reply",
            DropReason::ExpiredKeypair => "expired_keypair",
            DropReason::ReplayedCounter => "replayed_counter",
            DropReason::DataDecryptFailed => "data_decrypt_failed",
            DropReason::InvalidInnerPacket => "invalid_inner_packet",
            DropReason::DisallowedSource => "disallowed_source",
            DropReason::InvalidOutboundPacket => "invalid_outbound_packet",
            DropReason::NoRoute => "no_route",
            DropReason::TooBig => "too_big",
            DropReason::NoEndpoint => "no_endpoint",
            DropReason::StagingFull => "staging_full",
            DropReason::HandshakeGaveUp => "handshake_gave_up",
            DropReason::CryptoError => "crypto_error",
            DropReason::UnusablePeerKey => "unusable_peer_key",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Counters for the whole engine. Read them with [`EngineStats::dropped`] and the public
/// fields; they only ever grow (wrapping after 2^64 events).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    drops: [u64; DropReason::COUNT],
    /// Datagrams passed to `handle_datagram`.
    pub datagrams_received: u64,
    /// Datagrams handed to the sink.
    pub datagrams_sent: u64,
    /// Handshake initiations sent.
    pub initiations_sent: u64,
    /// Handshake initiations accepted (answered with a response).
    pub initiations_accepted: u64,
    /// Handshake responses accepted (sessions established as initiator).
    pub responses_accepted: u64,
    /// Cookie replies sent because we were under load.
    pub cookie_replies_sent: u64,
    /// Cookie replies accepted from peers.
    pub cookie_replies_accepted: u64,
    /// Keepalives received.
    pub keepalives_received: u64,
    /// Inner packets delivered to the sink.
    pub packets_delivered: u64,
    /// Times the engine entered the "under load" state.
    pub under_load_episodes: u64,
}

impl EngineStats {
    /// How many inputs were dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// Total drops over every reason.
    pub fn total_dropped(&self) -> u64 {
        self.drops.iter().fold(0u64, |sum, n| sum.wrapping_add(*n))
    }

    /// Every reason with its count, for printing.
    pub fn drops(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|r| (*r, self.drops[*r as usize]))
    }

    /// Counts one drop.
    pub(crate) fn drop(&mut self, reason: DropReason) {
        let slot = &mut self.drops[reason as usize];
        *slot = slot.wrapping_add(1);
    }

    /// Counts `n` drops at once.
    pub(crate) fn drop_many(&mut self, reason: DropReason, n: u64) {
        let slot = &mut self.drops[reason as usize];
        *slot = slot.wrapping_add(n);
    }
}
