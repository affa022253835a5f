//! The forwarding decision: where a packet from the LAN or from the tunnel goes.
//!
//! The [`Router`] never sends anything itself. It validates the packet,
//! updates its TTL or hop limit in place, and returns a verdict naming where
//! the packet goes; when the packet cannot be delivered it may instead write
//! an ICMP error into a caller-provided `reply` buffer (at least
//! [`super::ERROR_BUFFER_LEN`] bytes to never shorten the quote) and say
//! which way that error goes.

use alloc::vec::Vec;
use core::net::IpAddr;

use smoltcp::wire::{Ipv4Packet, Ipv6Packet};

use super::checksum;
use super::fragment::{fragment_ipv4, FragmentError};
use super::header::{self, HeaderError, IpHeader};
use super::icmp::{build_error, error_allowed, IcmpErrorKind, IcmpRateLimiter};
use super::stats::{DropReason, RouterStats};
use crate::allowed_ips::IpCidr;
use crate::time::Instant;

/// The gateway's addresses and link parameters, fixed at construction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterConfig {
    /// The gateway's addresses on the inner (LAN) NIC, each with its subnet,
    /// e.g. `192.168.1.1/24`: the host part is the gateway's own address, the
    /// subnet is on-link and the only set of sources forwarded into the tunnel.
    pub lan: Vec<IpCidr>,
    /// The gateway's tunnel addresses (the WireGuard `[Interface] Address`), e.g. `10.8.0.1/24`.
    pub tunnel: Vec<IpCidr>,
    /// The gateway's addresses on the outer (WAN) NIC.
    pub outer: Vec<IpAddr>,
    /// The largest inner IP packet the tunnel carries (the WireGuard MTU, e.g. 1420).
    pub tunnel_mtu: u16,
    /// The largest IP packet the LAN carries (1500 on plain Ethernet).
    pub lan_mtu: u16,
    /// ICMP errors allowed per second, on average.
    pub icmp_errors_per_second: u32,
    /// ICMP errors allowed back to back.
    pub icmp_error_burst: u32,
}

impl RouterConfig {
    /// A configuration with a 1500-byte LAN MTU and the default ICMP rate limit.
    pub fn new(
        lan: Vec<IpCidr>,
        tunnel: Vec<IpCidr>,
        outer: Vec<IpAddr>,
        tunnel_mtu: u16,
    ) -> RouterConfig {
        RouterConfig {
            lan,
            tunnel,
            outer,
            tunnel_mtu,
            lan_mtu: 1500,
            icmp_errors_per_second: IcmpRateLimiter::DEFAULT_PER_SECOND,
            icmp_error_burst: IcmpRateLimiter::DEFAULT_BURST,
        }
    }
}

/// What to do with a packet received from the LAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LanVerdict<P> {
    /// Addressed to the gateway itself: give the packet to smoltcp.
    Local,
    /// Encrypt `packet[..len]` for `peer` (TTL already decremented).
    Tunnel {
        /// The peer whose AllowedIPs cover the destination.
        peer: P,
        /// The packet's length; the buffer may have had link-layer padding.
        len: usize,
    },
    /// `packet[..len]` is an IPv4 packet without DF larger than the tunnel
    /// MTU (TTL already decremented): split it with [`Router::fragment`]
    /// using `mtu`, and encrypt each fragment for `peer`.
    Fragment {
        /// The peer whose AllowedIPs cover the destination.
        peer: P,
        /// The packet's length.
        len: usize,
        /// The tunnel MTU to fragment to.
        mtu: u16,
    },
    /// The packet was dropped and `reply[..len]` holds an ICMP error to send
    /// back out of the LAN NIC, to the on-link host `next_hop`.
    Reply {
        /// The length of the ICMP error in `reply`.
        len: usize,
        /// The LAN host to deliver the error to (the offending packet's source).
        next_hop: IpAddr,
        /// Why the original packet was dropped.
        cause: DropReason,
    },
    /// The packet was dropped (and counted); nothing to send.
    Drop(DropReason),
}

/// What to do with a packet the engine decrypted from the tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelVerdict {
    /// Addressed to the gateway itself: give the packet to smoltcp.
    Local,
    /// Send `packet[..len]` (TTL already decremented) out of the LAN NIC to
    /// the on-link host `next_hop`, resolving its MAC with the neighbor cache.
    Lan {
        /// The LAN host to deliver to (the packet's destination).
        next_hop: IpAddr,
        /// The packet's length.
        len: usize,
    },
    /// `packet[..len]` is an IPv4 packet without DF larger than the LAN MTU
    /// (TTL already decremented): split it with [`Router::fragment`] using
    /// `mtu` and send each fragment to `next_hop`.
    Fragment {
        /// The LAN host to deliver to.
        next_hop: IpAddr,
        /// The packet's length.
        len: usize,
        /// The LAN MTU to fragment to.
        mtu: u16,
    },
    /// The packet was dropped and `reply[..len]` holds an ICMP error to send
    /// back into the tunnel (`engine.send_packet`, which routes it to the
    /// peer owning the destination: the sender of the original).
    Reply {
        /// The length of the ICMP error in `reply`.
        len: usize,
        /// Why the original packet was dropped.
        cause: DropReason,
    },
    /// The packet was dropped (and counted); nothing to send.
    Drop(DropReason),
}

/// The sans-IO IP router between the LAN and the WireGuard peers.
#[derive(Clone, Debug)]
pub struct Router {
    config: RouterConfig,
    icmp_limiter: IcmpRateLimiter,
    stats: RouterStats,
}

/// Which side an ICMP error leaves by; decides its source address.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Lan,
    Tunnel,
}

impl Router {
    /// A router for `config`. This is the only place it allocates (nothing:
    /// the configuration's vectors are moved in).
    pub fn new(config: RouterConfig) -> Router {
        let icmp_limiter =
            IcmpRateLimiter::new(config.icmp_errors_per_second, config.icmp_error_burst);
        Router {
            config,
            icmp_limiter,
            stats: RouterStats::default(),
        }
    }

    /// The configuration the router was built with.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// The counters so far.
    pub fn stats(&self) -> &RouterStats {
        &self.stats
    }

    /// Whether `addr` is one of the gateway's own addresses (LAN, tunnel or outer).
    pub fn is_gateway_address(&self, addr: IpAddr) -> bool {
        self.config.lan.iter().any(|cidr| cidr.addr() == addr)
            || self.config.tunnel.iter().any(|cidr| cidr.addr() == addr)
            || self.config.outer.contains(&addr)
    }

    /// Whether `addr` lies in one of the LAN subnets.
    pub fn is_on_lan(&self, addr: IpAddr) -> bool {
        self.config.lan.iter().any(|cidr| cidr.contains(addr))
    }

    /// Routes `packet`, received on the LAN NIC (Ethernet header removed;
    /// the slice may extend past the packet, e.g. with padding).
    ///
    /// `tunnel_lookup` maps a destination to the peer whose AllowedIPs cover
    /// it. `reply` receives an ICMP error when the verdict is
    /// [`LanVerdict::Reply`]. Policy, in order:
    ///
    /// 1. invalid header → `Drop(Malformed | BadChecksum)`;
    /// 2. destination is a gateway address → `Local`;
    /// 3. destination not unicast (multicast, broadcast, a LAN's directed
    ///    broadcast, link-local...) → `Drop(NotUnicast)`, silently;
    /// 4. source outside the LAN subnets, or a gateway or broadcast address →
    ///    `Drop(SpoofedSource)`: only LAN hosts' traffic enters the tunnel;
    /// 5. destination on the LAN → `Drop(Hairpin)`;
    /// 6. no peer → ICMP net unreachable / no route;
    /// 7. TTL or hop limit ≤ 1 → ICMP time exceeded;
    /// 8. larger than the tunnel MTU → ICMP fragmentation needed / packet too
    ///    big with the tunnel MTU, or `Fragment` for IPv4 without DF;
    /// 9. otherwise the TTL is decremented and the verdict is `Tunnel`.
    pub fn route_from_lan<P>(
        &mut self,
        packet: &mut [u8],
        tunnel_lookup: impl Fn(IpAddr) -> Option<P>,
        now: Instant,
        reply: &mut [u8],
    ) -> LanVerdict<P> {
        let ip = match self.validate(packet) {
            Ok(ip) => ip,
            Err(reason) => return LanVerdict::Drop(reason),
        };
        if self.is_gateway_address(ip.dst) {
            self.stats.delivered_local = self.stats.delivered_local.wrapping_add(1);
            return LanVerdict::Local;
        }
        let refusal = if self.is_not_unicast(ip.dst) {
            Some(DropReason::NotUnicast)
        } else if !self.is_valid_lan_source(ip.src) {
            Some(DropReason::SpoofedSource)
        } else if self.is_on_lan(ip.dst) {
            Some(DropReason::Hairpin)
        } else {
            None
        };
        if let Some(reason) = refusal {
            self.stats.count_drop(reason);
            return LanVerdict::Drop(reason);
        }
        let lan_reply = |len, cause| LanVerdict::Reply {
            len,
            next_hop: ip.src,
            cause,
        };
        let Some(peer) = tunnel_lookup(ip.dst) else {
            return match self.refuse(packet, &ip, DropReason::NoRoute, Side::Lan, now, reply) {
                Some(len) => lan_reply(len, DropReason::NoRoute),
                None => LanVerdict::Drop(DropReason::NoRoute),
            };
        };
        match self.prepare_forward(packet, &ip, self.config.tunnel_mtu) {
            Ok(Forward::Whole) => {
                self.stats.forwarded_to_tunnel = self.stats.forwarded_to_tunnel.wrapping_add(1);
                LanVerdict::Tunnel {
                    peer,
                    len: ip.packet_len,
                }
            }
            Ok(Forward::Fragmented) => {
                self.stats.forwarded_to_tunnel = self.stats.forwarded_to_tunnel.wrapping_add(1);
                LanVerdict::Fragment {
                    peer,
                    len: ip.packet_len,
                    mtu: self.config.tunnel_mtu,
                }
            }
            Err(cause) => match self.refuse(packet, &ip, cause, Side::Lan, now, reply) {
                Some(len) => lan_reply(len, cause),
                None => LanVerdict::Drop(cause),
            },
        }
    }

    /// Routes `packet`, just decrypted by the engine (which has already
    /// checked its source against the sending peer's AllowedIPs).
    ///
    /// Policy, in order:
    ///
    /// 1. invalid header → `Drop(Malformed | BadChecksum)`;
    /// 2. destination is a gateway address → `Local`;
    /// 3. destination not unicast → `Drop(NotUnicast)`, silently;
    /// 4. source on the LAN, a gateway address or not unicast →
    ///    `Drop(SpoofedSource)` (a peer with broad AllowedIPs such as
    ///    `0.0.0.0/0` could otherwise impersonate LAN hosts);
    /// 5. destination not on the LAN → ICMP net unreachable / no route back
    ///    into the tunnel (the gateway does not relay between peers);
    /// 6. TTL or hop limit ≤ 1 → ICMP time exceeded back into the tunnel;
    /// 7. larger than the LAN MTU → ICMP fragmentation needed / packet too big
    ///    with the LAN MTU, or `Fragment` for IPv4 without DF;
    /// 8. otherwise the TTL is decremented and the verdict is `Lan`.
    pub fn route_from_tunnel(
        &mut self,
        packet: &mut [u8],
        now: Instant,
        reply: &mut [u8],
    ) -> TunnelVerdict {
        let ip = match self.validate(packet) {
            Ok(ip) => ip,
            Err(reason) => return TunnelVerdict::Drop(reason),
        };
        if self.is_gateway_address(ip.dst) {
            self.stats.delivered_local = self.stats.delivered_local.wrapping_add(1);
            return TunnelVerdict::Local;
        }
        let refusal = if self.is_not_unicast(ip.dst) {
            Some(DropReason::NotUnicast)
        } else if self.is_on_lan(ip.src)
            || self.is_gateway_address(ip.src)
            || self.is_not_unicast(ip.src)
        {
            Some(DropReason::SpoofedSource)
        } else {
            None
        };
        if let Some(reason) = refusal {
            self.stats.count_drop(reason);
            return TunnelVerdict::Drop(reason);
        }
        let outcome = if self.is_on_lan(ip.dst) {
            self.prepare_forward(packet, &ip, self.config.lan_mtu)
        } else {
            Err(DropReason::NoRoute)
        };
        match outcome {
            Ok(Forward::Whole) => {
                self.stats.forwarded_to_lan = self.stats.forwarded_to_lan.wrapping_add(1);
                TunnelVerdict::Lan {
                    next_hop: ip.dst,
                    len: ip.packet_len,
                }
            }
            Ok(Forward::Fragmented) => {
                self.stats.forwarded_to_lan = self.stats.forwarded_to_lan.wrapping_add(1);
                TunnelVerdict::Fragment {
                    next_hop: ip.dst,
                    len: ip.packet_len,
                    mtu: self.config.lan_mtu,
                }
            }
            Err(cause) => match self.refuse(packet, &ip, cause, Side::Tunnel, now, reply) {
                Some(len) => TunnelVerdict::Reply { len, cause },
                None => TunnelVerdict::Drop(cause),
            },
        }
    }

    /// Splits an IPv4 packet that got a `Fragment` verdict into fragments of
    /// at most `mtu` bytes, passing each to `emit` (see
    /// [`super::fragment_ipv4`]); counts the outcome.
    pub fn fragment(
        &mut self,
        packet: &[u8],
        mtu: u16,
        scratch: &mut [u8],
        emit: impl FnMut(&[u8]),
    ) -> Result<usize, FragmentError> {
        match fragment_ipv4(packet, usize::from(mtu), scratch, emit) {
            Ok(count) => {
                self.stats.fragmented = self.stats.fragmented.wrapping_add(1);
                self.stats.fragments_emitted =
                    self.stats.fragments_emitted.wrapping_add(count as u64);
                Ok(count)
            }
            Err(error) => {
                self.stats.fragment_failed = self.stats.fragment_failed.wrapping_add(1);
                Err(error)
            }
        }
    }

    /// Parses the header, counting a failure.
    fn validate(&mut self, packet: &[u8]) -> Result<IpHeader, DropReason> {
        header::parse(packet).map_err(|error| {
            let reason = match error {
                HeaderError::Malformed => DropReason::Malformed,
                HeaderError::BadChecksum => DropReason::BadChecksum,
            };
            self.stats.count_drop(reason);
            reason
        })
    }

    /// Multicast, broadcast (limited or directed at a LAN subnet), or
    /// otherwise never a unicast endpoint.
    fn is_not_unicast(&self, addr: IpAddr) -> bool {
        header::is_non_routable_destination(addr)
            || self
                .config
                .lan
                .iter()
                .any(|cidr| is_directed_broadcast(cidr, addr))
    }

    /// A source a LAN host may legitimately use for routed traffic.
    fn is_valid_lan_source(&self, addr: IpAddr) -> bool {
        self.is_on_lan(addr) && !self.is_not_unicast(addr) && !self.is_gateway_address(addr)
    }

    /// Checks the TTL and the MTU and, if the packet may go, decrements its
    /// TTL or hop limit. Leaves the packet untouched when refusing it, so
    /// an ICMP error quotes it exactly as received.
    fn prepare_forward(
        &self,
        packet: &mut [u8],
        ip: &IpHeader,
        mtu: u16,
    ) -> Result<Forward, DropReason> {
        if ip.hop_limit <= 1 {
            return Err(DropReason::TtlExpired);
        }
        let mut outcome = Forward::Whole;
        if ip.packet_len > usize::from(mtu) {
            match ip.src {
                IpAddr::V4(_) if !Ipv4Packet::new_unchecked(&*packet).dont_frag() => {
                    outcome = Forward::Fragmented;
                }
                _ => return Err(DropReason::TooBig),
            }
        }
        decrement_hop_limit(packet);
        Ok(outcome)
    }

    /// Counts the drop of `packet` for `cause` and tries to build the
    /// matching ICMP error into `reply`; returns its length if one was made.
    fn refuse(
        &mut self,
        packet: &[u8],
        ip: &IpHeader,
        cause: DropReason,
        side: Side,
        now: Instant,
        reply: &mut [u8],
    ) -> Option<usize> {
        self.stats.count_drop(cause);
        let kind = match cause {
            DropReason::NoRoute => IcmpErrorKind::NoRoute,
            DropReason::TtlExpired => IcmpErrorKind::TimeExceeded,
            DropReason::TooBig => IcmpErrorKind::PacketTooBig {
                mtu: match side {
                    Side::Lan => self.config.tunnel_mtu,
                    Side::Tunnel => self.config.lan_mtu,
                },
            },
            _ => return None,
        };
        let Some(source) = self.error_source(ip.src, side) else {
            self.stats.icmp_suppressed = self.stats.icmp_suppressed.wrapping_add(1);
            return None;
        };
        if error_allowed(packet, kind).is_err() {
            self.stats.icmp_suppressed = self.stats.icmp_suppressed.wrapping_add(1);
            return None;
        }
        // Checked after the rules so that packets we must stay silent about
        // do not use up the budget.
        if !self.icmp_limiter.allow(now) {
            self.stats.icmp_rate_limited = self.stats.icmp_rate_limited.wrapping_add(1);
            return None;
        }
        match build_error(kind, packet, source, reply) {
            Ok(len) => {
                self.stats.icmp_sent = self.stats.icmp_sent.wrapping_add(1);
                Some(len)
            }
            Err(_) => {
                self.stats.icmp_suppressed = self.stats.icmp_suppressed.wrapping_add(1);
                None
            }
        }
    }

    /// The gateway address an error to `destination` leaving by `side` comes
    /// from: on the LAN, the address of the subnet holding the destination;
    /// into the tunnel, a tunnel address, else a LAN address, of its family.
    fn error_source(&self, destination: IpAddr, side: Side) -> Option<IpAddr> {
        let same_family = |cidr: &&IpCidr| cidr.is_ipv4() == destination.is_ipv4();
        let lan_match = self
            .config
            .lan
            .iter()
            .find(|cidr| cidr.contains(destination));
        let chosen = match side {
            Side::Lan => lan_match.or_else(|| self.config.lan.iter().find(same_family)),
            Side::Tunnel => self
                .config
                .tunnel
                .iter()
                .find(same_family)
                .or_else(|| self.config.lan.iter().find(same_family)),
        };
        chosen.map(IpCidr::addr)
    }
}

/// How a packet that may be forwarded leaves.
enum Forward {
    /// In one piece.
    Whole,
    /// In IPv4 fragments.
    Fragmented,
}

/// Whether `addr` is the directed broadcast address of the IPv4 subnet
/// `cidr` (prefixes /31 and /32 have none, RFC 3021).
fn is_directed_broadcast(cidr: &IpCidr, addr: IpAddr) -> bool {
    match (cidr.addr(), addr) {
        (IpAddr::V4(_), IpAddr::V4(candidate)) if cidr.prefix_len() <= 30 => {
            let host_mask = u32::MAX >> cidr.prefix_len();
            cidr.contains(addr) && candidate.to_bits() & host_mask == host_mask
        }
        _ => false,
    }
}

/// Decrements the TTL or hop limit of a validated packet whose TTL is at
/// least 2, updating the IPv4 header checksum incrementally (RFC 1624).
fn decrement_hop_limit(packet: &mut [u8]) {
    if packet[0] >> 4 == 4 {
        let mut ip = Ipv4Packet::new_unchecked(packet);
        let ttl = ip.hop_limit();
        let protocol = u8::from(ip.next_header());
        // The checksum covers TTL together with the protocol byte as one word.
        let old_word = u16::from_be_bytes([ttl, protocol]);
        let new_word = u16::from_be_bytes([ttl.wrapping_sub(1), protocol]);
        let updated = checksum::update_word(ip.checksum(), old_word, new_word);
        ip.set_hop_limit(ttl.wrapping_sub(1));
        ip.set_checksum(updated);
    } else {
        let mut ip = Ipv6Packet::new_unchecked(packet);
        let hop_limit = ip.hop_limit();
        ip.set_hop_limit(hop_limit.wrapping_sub(1));
    }
}
