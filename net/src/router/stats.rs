//! Why packets were dropped, and how many: the router's counters.

/// Why the router dropped a packet (and perhaps answered it with an ICMP error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a well-formed IPv4 or IPv6 packet: bad version, header length or
    /// total length, or a buffer shorter than the packet claims.
    Malformed,
    /// The IPv4 header checksum does not verify.
    BadChecksum,
    /// The destination is multicast, broadcast (limited or a LAN's directed
    /// broadcast), unspecified, loopback or link-local: never routed. Not an
    /// error; hosts send such traffic all the time.
    NotUnicast,
    /// The source address is not one the packet may come from on the side it
    /// arrived on (see the module documentation of [`crate::router`]).
    SpoofedSource,
    /// A LAN host sent the gateway a packet for another LAN host; hosts on
    /// the same link talk directly, and the gateway does not hairpin.
    Hairpin,
    /// No peer's AllowedIPs (from the LAN) or LAN subnet (from the tunnel)
    /// covers the destination.
    NoRoute,
    /// The TTL or hop limit would reach zero.
    TtlExpired,
    /// Larger than the next hop's MTU and not fragmentable (IPv6, or IPv4 with DF).
    TooBig,
}

/// Counters kept by the router. They only ever increase (wrapping after 2^64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// Packets handed to the gateway itself (smoltcp).
    pub delivered_local: u64,
    /// Packets forwarded from the LAN into the tunnel (fragmented ones included).
    pub forwarded_to_tunnel: u64,
    /// Packets forwarded from the tunnel onto the LAN (fragmented ones included).
    pub forwarded_to_lan: u64,
    /// IPv4 packets split into fragments by [`super::Router::fragment`].
    pub fragmented: u64,
    /// Fragments emitted by [`super::Router::fragment`].
    pub fragments_emitted: u64,
    /// Packets [`super::Router::fragment`] refused (see [`super::FragmentError`]).
    pub fragment_failed: u64,
    /// Drops for [`DropReason::Malformed`].
    pub malformed: u64,
    /// Drops for [`DropReason::BadChecksum`].
    pub bad_checksum: u64,
    /// Drops for [`DropReason::NotUnicast`].
    pub not_unicast: u64,
    /// Drops for [`DropReason::SpoofedSource`].
    pub spoofed_source: u64,
    /// Drops for [`DropReason::Hairpin`].
    pub hairpin: u64,
    /// Drops for [`DropReason::NoRoute`].
    pub no_route: u64,
    /// Drops for [`DropReason::TtlExpired`].
    pub ttl_expired: u64,
    /// Drops for [`DropReason::TooBig`].
    pub too_big: u64,
    /// ICMP errors built and returned to the caller to send.
    pub icmp_sent: u64,
    /// ICMP errors not sent because the rate limit was reached.
    pub icmp_rate_limited: u64,
    /// ICMP errors not sent because the RFC rules forbid one (about an ICMP
    /// error, a non-first fragment, a non-unicast source), or no gateway
    /// address of the packet's family exists on the side it would leave by.
    pub icmp_suppressed: u64,
}

impl RouterStats {
    /// Adds one to the counter for `reason`.
    pub(crate) fn count_drop(&mut self, reason: DropReason) {
        let counter = match reason {
            DropReason::Malformed => &mut self.malformed,
            DropReason::BadChecksum => &mut self.bad_checksum,
            DropReason::NotUnicast => &mut self.not_unicast,
            DropReason::SpoofedSource => &mut self.spoofed_source,
            DropReason::Hairpin => &mut self.hairpin,
            DropReason::NoRoute => &mut self.no_route,
            DropReason::TtlExpired => &mut self.ttl_expired,
            DropReason::TooBig => &mut self.too_big,
        };
        *counter = counter.wrapping_add(1);
    }

    /// The number of packets dropped for `reason` so far.
    pub fn drops(&self, reason: DropReason) -> u64 {
        match reason {
            DropReason::Malformed => self.malformed,
            DropReason::BadChecksum => self.bad_checksum,
            DropReason::NotUnicast => self.not_unicast,
            DropReason::SpoofedSource => self.spoofed_source,
            DropReason::Hairpin => self.hairpin,
            DropReason::NoRoute => self.no_route,
            DropReason::TtlExpired => self.ttl_expired,
            DropReason::TooBig => self.too_big,
        }
    }
}
