//! Recognising WireGuard datagrams in outer frames, and writing the outer
//! Ethernet/IP/UDP headers in front of a sealed message.
//!
//! Frames for the listen port on one of our addresses never reach smoltcp:
//! [`classify`] finds the UDP payload in the receive buffer, checking every
//! length and checksum rule RFC 791, RFC 768 and RFC 8200 give, so the engine
//! can decrypt it where it lies. Everything else (ARP, NDP, ping, DHCP) is
//! the stack's.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::ops::Range;

use super::checksum;
use super::nic::{RxChecksum, TxFrame};

/// Ethernet header length.
pub const ETHERNET_LEN: usize = 14;
const IPV4_LEN: usize = 20;
const IPV6_LEN: usize = 40;
const UDP_LEN: usize = 8;
const UDP: u8 = 17;
const IPV6_FRAGMENT: u8 = 44;
/// Where the fast path puts a WireGuard message in a transmit buffer: after
/// the largest outer header (Ethernet, IPv6, UDP). An IPv4 frame then starts
/// 20 bytes into the buffer.
pub const MESSAGE_OFFSET: usize = ETHERNET_LEN + IPV6_LEN + UDP_LEN;
/// Hop limit of the datagrams we send.
const HOP_LIMIT: u8 = 64;

/// Why an outer frame addressed to the listen port was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OuterDrop {
    /// Shorter than its headers, or a length field disagrees with the frame.
    Malformed,
    /// The IPv4 header or the UDP checksum does not verify (or an IPv6 UDP
    /// checksum is zero, which RFC 8200 forbids).
    BadChecksum,
    /// A fragment: WireGuard datagrams are never fragmented by our peers, and
    /// the gateway reassembles nothing.
    Fragment,
}

/// What an outer frame is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OuterFrame {
    /// A UDP datagram for the listen port: `payload` is its place in the frame.
    WireGuard {
        /// The sender.
        from: SocketAddr,
        /// The UDP payload.
        payload: Range<usize>,
        /// The DS byte of the outer IP header (IPv4 TOS, IPv6 traffic
        /// class), whose ECN bits decapsulation carries inward.
        ds: u8,
    },
    /// Not for the fast path: give it to the stack.
    Stack,
    /// Addressed to the listen port but unusable; counted and dropped.
    Drop(OuterDrop),
}

/// Our identity on the outer link, as the classifier needs it.
pub trait OuterIdentity {
    /// Whether `addr` is one of our outer addresses.
    fn is_ours(&self, addr: IpAddr) -> bool;
    /// The WireGuard listen port.
    fn listen_port(&self) -> u16;
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Sorts an outer frame addressed to `our_mac`.
pub fn classify(
    frame: &[u8],
    our_mac: [u8; 6],
    device: RxChecksum,
    us: &impl OuterIdentity,
) -> OuterFrame {
    if frame.len() < ETHERNET_LEN || frame[..6] != our_mac {
        return OuterFrame::Stack;
    }
    let ip = &frame[ETHERNET_LEN..];
    match be16(frame, 12) {
        0x0800 => classify_v4(ip, device, us),
        0x86dd => classify_v6(ip, device, us),
        _ => OuterFrame::Stack,
    }
    .shifted(ETHERNET_LEN)
}

impl OuterFrame {
    fn shifted(self, by: usize) -> OuterFrame {
        match self {
            OuterFrame::WireGuard { from, payload, ds } => OuterFrame::WireGuard {
                from,
                payload: payload.start + by..payload.end + by,
                ds,
            },
            other => other,
        }
    }
}

fn classify_v4(ip: &[u8], device: RxChecksum, us: &impl OuterIdentity) -> OuterFrame {
    if ip.len() < IPV4_LEN || ip[0] >> 4 != 4 || ip[9] != UDP {
        return OuterFrame::Stack;
    }
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    if !us.is_ours(IpAddr::V4(dst)) {
        return OuterFrame::Stack;
    }
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(be16(ip, 2));
    if header_len < IPV4_LEN || total < header_len || total > ip.len() {
        return OuterFrame::Drop(OuterDrop::Malformed);
    }
    // A fragment of a UDP datagram to us: the first one names the port, the
    // later ones do not, and nobody reassembles them. Drop them all.
    let more_fragments = ip[6] & 0x20 != 0;
    let offset = be16(ip, 6) & 0x1fff;
    let udp = &ip[header_len..total];
    if offset != 0 || more_fragments {
        let to_listen_port = offset == 0 && udp.len() >= 4 && be16(udp, 2) == us.listen_port();
        return if to_listen_port || offset != 0 {
            OuterFrame::Drop(OuterDrop::Fragment)
        } else {
            OuterFrame::Stack
        };
    }
    if udp.len() < UDP_LEN || be16(udp, 2) != us.listen_port() {
        return OuterFrame::Stack;
    }
    if checksum::sum(&ip[..header_len]) != 0xffff {
        return OuterFrame::Drop(OuterDrop::BadChecksum);
    }
    if usize::from(be16(udp, 4)) != udp.len() {
        return OuterFrame::Drop(OuterDrop::Malformed);
    }
    let src = IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]));
    // RFC 768: a zero checksum means the sender computed none.
    let checked = be16(udp, 6) == 0 || udp_checksum_ok(udp, src, IpAddr::V4(dst), device);
    if !checked {
        return OuterFrame::Drop(OuterDrop::BadChecksum);
    }
    OuterFrame::WireGuard {
        from: SocketAddr::new(src, be16(udp, 0)),
        payload: header_len + UDP_LEN..total,
        ds: ip[1],
    }
}

fn classify_v6(ip: &[u8], device: RxChecksum, us: &impl OuterIdentity) -> OuterFrame {
    if ip.len() < IPV6_LEN || ip[0] >> 4 != 6 {
        return OuterFrame::Stack;
    }
    let mut dst = [0u8; 16];
    dst.copy_from_slice(&ip[24..40]);
    let dst = IpAddr::V6(Ipv6Addr::from(dst));
    let next_header = ip[6];
    if !us.is_ours(dst) || (next_header != UDP && next_header != IPV6_FRAGMENT) {
        return OuterFrame::Stack;
    }
    if next_header == IPV6_FRAGMENT {
        return OuterFrame::Drop(OuterDrop::Fragment);
    }
    let payload_len = usize::from(be16(ip, 4));
    if IPV6_LEN + payload_len > ip.len() || payload_len < UDP_LEN {
        return OuterFrame::Drop(OuterDrop::Malformed);
    }
    let udp = &ip[IPV6_LEN..IPV6_LEN + payload_len];
    if be16(udp, 2) != us.listen_port() {
        return OuterFrame::Stack;
    }
    if usize::from(be16(udp, 4)) != udp.len() {
        return OuterFrame::Drop(OuterDrop::Malformed);
    }
    let mut src = [0u8; 16];
    src.copy_from_slice(&ip[8..24]);
    let src = IpAddr::V6(Ipv6Addr::from(src));
    // RFC 8200 §8.1: a zero UDP checksum over IPv6 is invalid.
    if be16(udp, 6) == 0 || !udp_checksum_ok(udp, src, dst, device) {
        return OuterFrame::Drop(OuterDrop::BadChecksum);
    }
    OuterFrame::WireGuard {
        from: SocketAddr::new(src, be16(udp, 0)),
        payload: IPV6_LEN + UDP_LEN..IPV6_LEN + payload_len,
        ds: crate::ecn::ds_field(ip),
    }
}

fn udp_checksum_ok(udp: &[u8], src: IpAddr, dst: IpAddr, device: RxChecksum) -> bool {
    match device {
        RxChecksum::Valid | RxChecksum::Partial => true,
        RxChecksum::Unchecked => {
            let pseudo = checksum::pseudo_header(src, dst, UDP, udp.len() as u32);
            checksum::finish(&[pseudo, checksum::sum(udp)]) == 0
        }
    }
}

/// The addresses and link details of one outgoing datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OuterRoute {
    /// Our address and listen port.
    pub from: SocketAddr,
    /// The peer's endpoint.
    pub to: SocketAddr,
    /// Our MAC.
    pub src_mac: [u8; 6],
    /// The next hop's MAC.
    pub dst_mac: [u8; 6],
}

/// Writes the IP and UDP headers in front of the `len`-byte message at
/// `buffer[MESSAGE_OFFSET..]`, and returns where the IP packet starts. The
/// IPv4 UDP checksum is left zero (RFC 768 allows it; the AEAD protects the
/// payload); the IPv6 one is computed, or, with `offload`, left to the
/// device with the pseudo-header sum in place. `ipv4_id` numbers IPv4
/// datagrams (sent without DF, as Linux's WireGuard sends them); `ds` is the
/// DS byte (IPv4 TOS, IPv6 traffic class: see [`crate::ecn`]).
pub fn write_ip_udp(
    buffer: &mut [u8],
    len: usize,
    from: SocketAddr,
    to: SocketAddr,
    ipv4_id: u16,
    ds: u8,
    offload: bool,
) -> Option<(usize, Option<(u16, u16)>)> {
    let end = MESSAGE_OFFSET.checked_add(len)?;
    if end > buffer.len() {
        return None;
    }
    let udp_start = MESSAGE_OFFSET - UDP_LEN;
    let udp_len = (UDP_LEN + len) as u16;
    let (ip_start, request) = match (from.ip(), to.ip()) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let ip_start = udp_start - IPV4_LEN;
            let total = (IPV4_LEN as u16).checked_add(udp_len)?;
            let h = &mut buffer[ip_start..udp_start];
            h[0] = 0x45;
            h[1] = ds;
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h[4..6].copy_from_slice(&ipv4_id.to_be_bytes());
            h[6..8].fill(0);
            h[8] = HOP_LIMIT;
            h[9] = UDP;
            h[10..12].fill(0);
            h[12..16].copy_from_slice(&src.octets());
            h[16..20].copy_from_slice(&dst.octets());
            let c = checksum::finish(&[checksum::sum(h)]);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            (ip_start, false)
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let ip_start = udp_start - IPV6_LEN;
            let h = &mut buffer[ip_start..udp_start];
            // Version 6, the traffic class across the next 8 bits, flow label 0.
            h[0..4].copy_from_slice(&[0x60 | (ds >> 4), ds << 4, 0, 0]);
            h[4..6].copy_from_slice(&udp_len.to_be_bytes());
            h[6] = UDP;
            h[7] = HOP_LIMIT;
            h[8..24].copy_from_slice(&src.octets());
            h[24..40].copy_from_slice(&dst.octets());
            (ip_start, true)
        }
        _ => return None,
    };
    let u = &mut buffer[udp_start..udp_start + UDP_LEN];
    u[0..2].copy_from_slice(&from.port().to_be_bytes());
    u[2..4].copy_from_slice(&to.port().to_be_bytes());
    u[4..6].copy_from_slice(&udp_len.to_be_bytes());
    u[6..8].fill(0);
    let mut offloaded = None;
    if request {
        let pseudo = checksum::pseudo_header(from.ip(), to.ip(), UDP, u32::from(udp_len));
        if offload {
            // virtio NEEDS_CSUM: the device sums from csum_start to the end
            // and stores the result at csum_start + csum_offset; the field
            // must hold the pseudo-header sum already.
            buffer[udp_start + 6..udp_start + 8].copy_from_slice(&pseudo.to_be_bytes());
            let start = (udp_start - ip_start + ETHERNET_LEN) as u16;
            offloaded = Some((start, 6));
        } else {
            let c = checksum::finish(&[pseudo, checksum::sum(&buffer[udp_start..end])]);
            // A computed zero is sent as all ones (RFC 768).
            let c = if c == 0 { 0xffff } else { c };
            buffer[udp_start + 6..udp_start + 8].copy_from_slice(&c.to_be_bytes());
        }
    }
    Some((ip_start, offloaded))
}

/// Writes the outer headers for the `len`-byte message at
/// `buffer[MESSAGE_OFFSET..]`, with DS byte `ds`, and returns the frame to
/// transmit.
pub fn write_outer_frame(
    buffer: &mut [u8],
    len: usize,
    route: &OuterRoute,
    ipv4_id: u16,
    ds: u8,
    offload: bool,
) -> Option<TxFrame> {
    let (ip_start, checksum) =
        write_ip_udp(buffer, len, route.from, route.to, ipv4_id, ds, offload)?;
    let start = ip_start - ETHERNET_LEN;
    let ethertype: u16 = if route.to.is_ipv4() { 0x0800 } else { 0x86dd };
    let e = &mut buffer[start..ip_start];
    e[0..6].copy_from_slice(&route.dst_mac);
    e[6..12].copy_from_slice(&route.src_mac);
    e[12..14].copy_from_slice(&ethertype.to_be_bytes());
    Some(TxFrame {
        start,
        len: MESSAGE_OFFSET + len - start,
        checksum,
    })
}
