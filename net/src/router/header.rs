//! Validation of the IP header of a packet the router is asked to forward.
//!
//! Everything the router later reads or writes lies inside the range checked
//! here, so the forwarding code can index the packet without further checks.

use core::net::IpAddr;

use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv6Packet, IPV4_HEADER_LEN, IPV6_HEADER_LEN};

/// Why a packet's IP header was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Too short, wrong version, or lengths that contradict each other or the buffer.
    Malformed,
    /// The IPv4 header checksum does not verify.
    BadChecksum,
}

/// The fields of a validated IPv4 or IPv6 header that routing needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IpHeader {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The length of the packet proper (IPv4 total length, or 40 + IPv6
    /// payload length); the buffer may be longer, for example with Ethernet padding.
    pub packet_len: usize,
    /// IPv4 TTL or IPv6 hop limit.
    pub hop_limit: u8,
    /// IPv4 protocol, or the IPv6 Next Header field (possibly an extension header).
    pub next_header: IpProtocol,
}

/// Checks version, header length, total length against the buffer and, for
/// IPv4, the header checksum. `packet` may be longer than the packet.
pub(crate) fn parse(packet: &[u8]) -> Result<IpHeader, HeaderError> {
    match packet.first().map(|byte| byte >> 4) {
        Some(4) => parse_ipv4(packet),
        Some(6) => parse_ipv6(packet),
        _ => Err(HeaderError::Malformed),
    }
}

fn parse_ipv4(buffer: &[u8]) -> Result<IpHeader, HeaderError> {
    let packet = Ipv4Packet::new_unchecked(buffer);
    // smoltcp's check_len covers: buffer ≥ 20, buffer ≥ IHL, IHL ≤ total
    // length, total length ≤ buffer. It does not reject an IHL below 5.
    packet.check_len().map_err(|_| HeaderError::Malformed)?;
    if usize::from(packet.header_len()) < IPV4_HEADER_LEN {
        return Err(HeaderError::Malformed);
    }
    if !packet.verify_checksum() {
        return Err(HeaderError::BadChecksum);
    }
    Ok(IpHeader {
        src: IpAddr::V4(packet.src_addr()),
        dst: IpAddr::V4(packet.dst_addr()),
        packet_len: usize::from(packet.total_len()),
        hop_limit: packet.hop_limit(),
        next_header: packet.next_header(),
    })
}

fn parse_ipv6(buffer: &[u8]) -> Result<IpHeader, HeaderError> {
    let packet = Ipv6Packet::new_unchecked(buffer);
    // Covers buffer ≥ 40 and 40 + payload length ≤ buffer. A payload length
    // of zero with a Jumbo Payload option is not supported: such a packet
    // would be far over any MTU here anyway, and is treated as 40 bytes long.
    packet.check_len().map_err(|_| HeaderError::Malformed)?;
    Ok(IpHeader {
        src: IpAddr::V6(packet.src_addr()),
        dst: IpAddr::V6(packet.dst_addr()),
        packet_len: IPV6_HEADER_LEN + usize::from(packet.payload_len()),
        hop_limit: packet.hop_limit(),
        next_header: packet.next_header(),
    })
}

/// Whether `addr` can never be the unicast destination of a routed packet:
/// unspecified, loopback, multicast, the IPv4 limited broadcast, or IPv6 link-local.
pub(crate) fn is_non_routable_destination(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => {
            v4.is_unspecified() || v4.is_loopback() || v4.is_multicast() || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unicast_link_local()
        }
    }
}

/// Whether `addr` can never be the source of a routed packet: the same set as
/// [`is_non_routable_destination`] (a packet "from" a multicast or broadcast
/// address is always forged, and link-local sources must not leave the link).
pub(crate) fn is_non_routable_source(addr: IpAddr) -> bool {
    is_non_routable_destination(addr)
}
