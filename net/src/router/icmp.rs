//! ICMP and ICMPv6 error messages: when one may be sent, how it is built,
//! and how many may be sent.
//!
//! The router answers undeliverable packets with errors so that senders learn
//! about dead routes, expired TTLs and the tunnel MTU (path MTU discovery
//! needs "fragmentation needed" and "packet too big" to work at all). Three
//! safeguards keep those errors from doing harm:
//!
//! * [`error_allowed`] applies the RFC 1122 §3.2.2 / RFC 1812 §4.3.2.7 and
//!   RFC 4443 §2.4(e) rules: never about an ICMP error (or an ICMP message of
//!   unknown type, which could be one), never about a non-first fragment,
//!   never to an unspecified, loopback, multicast or broadcast source, and
//!   (except "packet too big") never about a packet sent to multicast or broadcast.
//! * The quoted original is cut so that the whole error fits 576 bytes for
//!   IPv4 (RFC 1812 §4.3.2.3) and 1280 bytes for IPv6 (RFC 4443 §2.4(c)).
//! * [`IcmpRateLimiter`] bounds the rate of errors, so that a flood of bad
//!   packets cannot turn the gateway into a traffic amplifier.

use core::net::IpAddr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    Icmpv4Message, Icmpv4Packet, Icmpv6Message, Icmpv6Packet, IpProtocol, Ipv4Packet, Ipv4Repr,
    Ipv6ExtHeader, Ipv6FragmentHeader, Ipv6Packet, Ipv6Repr, IPV4_HEADER_LEN, IPV6_HEADER_LEN,
};

use super::header;
use crate::time::Instant;

/// The largest IPv4 ICMP error the router sends, quoted original included (RFC 1812 §4.3.2.3).
pub const IPV4_ERROR_MAX_LEN: usize = 576;
/// The largest ICMPv6 error the router sends, quoted original included (RFC 4443 §2.4(c)).
pub const IPV6_ERROR_MAX_LEN: usize = 1280;
/// A buffer this large holds any error [`build_error`] makes, without cutting the quote short.
pub const ERROR_BUFFER_LEN: usize = IPV6_ERROR_MAX_LEN;

/// Length of the ICMP and ICMPv6 error header (type, code, checksum, 4 bytes of data).
const ICMP_ERROR_HEADER_LEN: usize = 8;
/// Hop limit of the errors the router originates.
const ERROR_HOP_LIMIT: u8 = 64;

/// Which error to send. Codes follow RFC 792 and RFC 4443.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpErrorKind {
    /// TTL or hop limit reached zero in transit: ICMP type 11 / ICMPv6 type 3, code 0.
    TimeExceeded,
    /// No route to the destination: ICMP type 3 code 0 (net unreachable) /
    /// ICMPv6 type 1 code 0 (no route to destination).
    NoRoute,
    /// The packet does not fit the next hop: ICMP type 3 code 4 (fragmentation
    /// needed and DF set) with the next-hop MTU (RFC 1191) / ICMPv6 type 2
    /// (packet too big) with the MTU.
    PacketTooBig {
        /// The largest packet the next hop carries, IP header included.
        mtu: u16,
    },
}

/// Why no error may be, or could be, sent about a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpSuppressed {
    /// The original is itself an ICMP error, or an ICMP message of unknown type.
    AboutIcmpError,
    /// The original is a fragment other than the first.
    NonFirstFragment,
    /// The original's source is unspecified, loopback, multicast or broadcast,
    /// or its destination was multicast or broadcast.
    NotUnicast,
    /// The original's headers are malformed or cut short, so the rules cannot be checked.
    Malformed,
    /// The error's source address is of the other IP family than the original.
    FamilyMismatch,
    /// The output buffer cannot hold an error with the original's headers quoted.
    BufferTooSmall,
}

/// Applies the rules of RFC 1122, RFC 1812 and RFC 4443 on when an error
/// must not be sent about `original`, a packet whose IP header is valid.
pub fn error_allowed(original: &[u8], kind: IcmpErrorKind) -> Result<(), IcmpSuppressed> {
    let ip = header::parse(original).map_err(|_| IcmpSuppressed::Malformed)?;
    if header::is_non_routable_source(ip.src) {
        return Err(IcmpSuppressed::NotUnicast);
    }
    let packet_too_big = matches!(kind, IcmpErrorKind::PacketTooBig { .. });
    let original = &original[..ip.packet_len];
    match ip.dst {
        IpAddr::V4(dst) => {
            if dst.is_multicast() || dst.is_broadcast() {
                return Err(IcmpSuppressed::NotUnicast);
            }
            ipv4_rules(original)
        }
        IpAddr::V6(dst) => {
            // RFC 4443 §2.4(e.3): "packet too big" is the one error allowed
            // about multicast, so that multicast path MTU discovery works.
            if dst.is_multicast() && !packet_too_big {
                return Err(IcmpSuppressed::NotUnicast);
            }
            ipv6_rules(original)
        }
    }
}

fn ipv4_rules(original: &[u8]) -> Result<(), IcmpSuppressed> {
    let packet = Ipv4Packet::new_unchecked(original);
    if packet.frag_offset() != 0 {
        return Err(IcmpSuppressed::NonFirstFragment);
    }
    if packet.next_header() != IpProtocol::Icmp {
        return Ok(());
    }
    let Some(&icmp_type) = packet.payload().first() else {
        // An ICMP packet too short to have a type might be a cut error.
        return Err(IcmpSuppressed::Malformed);
    };
    if is_icmpv4_informational(icmp_type) {
        Ok(())
    } else {
        Err(IcmpSuppressed::AboutIcmpError)
    }
}

/// The ICMPv4 types known to be queries or replies; every other type,
/// unknown ones included, might be an error and gets no error in return
/// (the same conservative choice Linux makes).
fn is_icmpv4_informational(icmp_type: u8) -> bool {
    matches!(icmp_type, 0 | 8 | 9 | 10 | 13 | 14 | 15 | 16 | 17 | 18)
}

/// Most extension headers the router walks before giving up on finding the
/// upper-layer header; real packets carry one or two.
const MAX_EXTENSION_HEADERS: usize = 8;

fn ipv6_rules(original: &[u8]) -> Result<(), IcmpSuppressed> {
    let packet = Ipv6Packet::new_unchecked(original);
    let mut next_header = packet.next_header();
    let mut rest = packet.payload();
    for _ in 0..MAX_EXTENSION_HEADERS {
        match next_header {
            IpProtocol::HopByHop | IpProtocol::Ipv6Route | IpProtocol::Ipv6Opts => {
                let ext =
                    Ipv6ExtHeader::new_checked(rest).map_err(|_| IcmpSuppressed::Malformed)?;
                next_header = ext.next_header();
                let ext_len = (usize::from(ext.header_len()) + 1) * 8;
                rest = rest.get(ext_len..).ok_or(IcmpSuppressed::Malformed)?;
            }
            IpProtocol::Ipv6Frag => {
                let ext =
                    Ipv6ExtHeader::new_checked(rest).map_err(|_| IcmpSuppressed::Malformed)?;
                let fragment = Ipv6FragmentHeader::new_checked(ext.payload())
                    .map_err(|_| IcmpSuppressed::Malformed)?;
                if fragment.frag_offset() != 0 {
                    return Err(IcmpSuppressed::NonFirstFragment);
                }
                next_header = ext.next_header();
                // A fragment header is always 8 bytes, whatever its length byte says.
                rest = rest.get(8..).ok_or(IcmpSuppressed::Malformed)?;
            }
            IpProtocol::Icmpv6 => {
                let Some(&icmp_type) = rest.first() else {
                    return Err(IcmpSuppressed::Malformed);
                };
                return if Icmpv6Message::from(icmp_type).is_error() {
                    Err(IcmpSuppressed::AboutIcmpError)
                } else {
                    Ok(())
                };
            }
            _ => return Ok(()),
        }
    }
    // A chain this long is abuse; staying quiet is the safe answer.
    Err(IcmpSuppressed::Malformed)
}

/// Writes into `out` a complete IP packet carrying the ICMP error `kind` about
/// `original`, from `source` (the gateway's address on the side the error
/// leaves by) to the original's source. Returns the error's length.
///
/// `original` must start with a valid IP header; bytes past its IP length
/// (link-layer padding) are ignored. Call [`error_allowed`] first: this
/// function builds what it is asked to. The quote is cut to fit the RFC
/// limits and `out`; `out` must at least hold the original's IP header plus
/// 8 bytes (RFC 792's minimum quote), else [`IcmpSuppressed::BufferTooSmall`].
pub fn build_error(
    kind: IcmpErrorKind,
    original: &[u8],
    source: IpAddr,
    out: &mut [u8],
) -> Result<usize, IcmpSuppressed> {
    let ip = header::parse(original).map_err(|_| IcmpSuppressed::Malformed)?;
    let original = &original[..ip.packet_len];
    match (source, ip.src) {
        (IpAddr::V4(source), IpAddr::V4(destination)) => {
            let outer_len = IPV4_HEADER_LEN + ICMP_ERROR_HEADER_LEN;
            let quote = quote_len(original, IPV4_ERROR_MAX_LEN, outer_len, out.len())?;
            let total = outer_len + quote;
            let repr = Ipv4Repr {
                src_addr: source,
                dst_addr: destination,
                next_header: IpProtocol::Icmp,
                payload_len: ICMP_ERROR_HEADER_LEN + quote,
                hop_limit: ERROR_HOP_LIMIT,
            };
            let mut packet = Ipv4Packet::new_unchecked(&mut out[..total]);
            // Emits DF set and ident 0: an error of at most 576 bytes never needs fragmenting.
            repr.emit(&mut packet, &ChecksumCapabilities::default());
            let mut icmp = Icmpv4Packet::new_unchecked(packet.payload_mut());
            let (message, code, rest_of_header) = match kind {
                IcmpErrorKind::TimeExceeded => (Icmpv4Message::TimeExceeded, 0, [0; 4]),
                IcmpErrorKind::NoRoute => (Icmpv4Message::DstUnreachable, 0, [0; 4]),
                IcmpErrorKind::PacketTooBig { mtu } => {
                    let [high, low] = mtu.to_be_bytes();
                    // RFC 1191: "unused" (16 bits), then the next-hop MTU.
                    (Icmpv4Message::DstUnreachable, 4, [0, 0, high, low])
                }
            };
            icmp.set_msg_type(message);
            icmp.set_msg_code(code);
            let icmp_bytes = icmp.into_inner();
            icmp_bytes[4..8].copy_from_slice(&rest_of_header);
            icmp_bytes[8..].copy_from_slice(&original[..quote]);
            Icmpv4Packet::new_unchecked(icmp_bytes).fill_checksum();
            Ok(total)
        }
        (IpAddr::V6(source), IpAddr::V6(destination)) => {
            let outer_len = IPV6_HEADER_LEN + ICMP_ERROR_HEADER_LEN;
            let quote = quote_len(original, IPV6_ERROR_MAX_LEN, outer_len, out.len())?;
            let total = outer_len + quote;
            let repr = Ipv6Repr {
                src_addr: source,
                dst_addr: destination,
                next_header: IpProtocol::Icmpv6,
                payload_len: ICMP_ERROR_HEADER_LEN + quote,
                hop_limit: ERROR_HOP_LIMIT,
            };
            let mut packet = Ipv6Packet::new_unchecked(&mut out[..total]);
            repr.emit(&mut packet);
            let icmp_bytes = packet.payload_mut();
            let (message, code, rest_of_header) = match kind {
                IcmpErrorKind::TimeExceeded => (Icmpv6Message::TimeExceeded, 0, 0u32),
                IcmpErrorKind::NoRoute => (Icmpv6Message::DstUnreachable, 0, 0),
                IcmpErrorKind::PacketTooBig { mtu } => {
                    (Icmpv6Message::PktTooBig, 0, u32::from(mtu))
                }
            };
            icmp_bytes[0] = message.into();
            icmp_bytes[1] = code;
            icmp_bytes[4..8].copy_from_slice(&rest_of_header.to_be_bytes());
            icmp_bytes[8..].copy_from_slice(&original[..quote]);
            Icmpv6Packet::new_unchecked(icmp_bytes).fill_checksum(&source, &destination);
            Ok(total)
        }
        _ => Err(IcmpSuppressed::FamilyMismatch),
    }
}

/// How many bytes of `original` to quote: as many as the size limit and the
/// buffer allow, but at least its IP header plus 8 bytes (or all of it).
fn quote_len(
    original: &[u8],
    max_error_len: usize,
    outer_len: usize,
    out_len: usize,
) -> Result<usize, IcmpSuppressed> {
    let room = max_error_len.min(out_len).saturating_sub(outer_len);
    let ip_header_len = match original.first().map(|byte| byte >> 4) {
        Some(4) => usize::from(original[0] & 0x0f) * 4,
        _ => IPV6_HEADER_LEN,
    };
    let minimum = original.len().min(ip_header_len + 8);
    if room < minimum {
        return Err(IcmpSuppressed::BufferTooSmall);
    }
    Ok(original.len().min(room))
}

/// A token bucket limiting how many ICMP errors the router originates.
///
/// The budget is kept in nanoseconds of refill time, so the arithmetic is
/// exact in integers: every error costs `1 s / per_second`, and at most
/// `burst` errors' worth of budget accumulates while the router is quiet.
#[derive(Clone, Debug)]
pub struct IcmpRateLimiter {
    cost_nanos: u64,
    capacity_nanos: u64,
    budget_nanos: u64,
    last_refill: Instant,
}

impl IcmpRateLimiter {
    /// Errors per second allowed by [`IcmpRateLimiter::default`].
    pub const DEFAULT_PER_SECOND: u32 = 100;
    /// Errors allowed back to back by [`IcmpRateLimiter::default`].
    pub const DEFAULT_BURST: u32 = 20;

    /// A limiter allowing `per_second` errors per second on average and
    /// `burst` in a row; it starts full. `per_second == 0` or `burst == 0`
    /// allows nothing.
    pub fn new(per_second: u32, burst: u32) -> IcmpRateLimiter {
        let cost_nanos = 1_000_000_000u64
            .checked_div(u64::from(per_second))
            .unwrap_or(u64::MAX);
        let capacity_nanos = if per_second == 0 {
            0
        } else {
            cost_nanos.saturating_mul(u64::from(burst))
        };
        IcmpRateLimiter {
            cost_nanos: cost_nanos.max(1),
            capacity_nanos,
            budget_nanos: capacity_nanos,
            last_refill: Instant::ZERO,
        }
    }

    /// Whether one more error may be sent at `now`; if so, it is paid for.
    /// A clock that steps backwards refills nothing.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last_refill);
        let elapsed_nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.budget_nanos = self
            .budget_nanos
            .saturating_add(elapsed_nanos)
            .min(self.capacity_nanos);
        if now > self.last_refill {
            self.last_refill = now;
        }
        if self.budget_nanos >= self.cost_nanos {
            self.budget_nanos -= self.cost_nanos;
            true
        } else {
            false
        }
    }
}

impl Default for IcmpRateLimiter {
    /// 100 errors per second with a burst of 20.
    fn default() -> IcmpRateLimiter {
        IcmpRateLimiter::new(Self::DEFAULT_PER_SECOND, Self::DEFAULT_BURST)
    }
}
