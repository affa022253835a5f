//! Answering pings addressed to the gateway's own tunnel addresses.
//!
//! A peer that pings the gateway's `[Interface] Address` reaches it through
//! the tunnel, where smoltcp (which serves the two NICs) never sees the
//! packet. The echo reply is built in place and sent back into the tunnel.

use core::net::IpAddr;
use smoltcp::wire::{
    Icmpv4Message, Icmpv4Packet, Icmpv6Message, Icmpv6Packet, IpProtocol, Ipv4Packet, Ipv6Packet,
};

/// Hop limit of the replies we originate.
const REPLY_HOP_LIMIT: u8 = 64;

/// Turns the ICMP or ICMPv6 echo request in `packet` into its echo reply,
/// in place, if it is one and is addressed to an address `is_ours`
/// accepts. Returns the reply's length, or `None` (leaving the packet
/// as it was) for anything else: other protocols, corrupt headers or
/// checksums, requests to other addresses.
pub fn reply_in_place(packet: &mut [u8], is_ours: impl Fn(IpAddr) -> bool) -> Option<usize> {
    match packet.first()? >> 4 {
        4 => reply_v4(packet, is_ours),
        6 => reply_v6(packet, is_ours),
        _ => None,
    }
}

fn reply_v4(packet: &mut [u8], is_ours: impl Fn(IpAddr) -> bool) -> Option<usize> {
    let ip = Ipv4Packet::new_checked(&*packet).ok()?;
    if !ip.verify_checksum()
        || ip.next_header() != IpProtocol::Icmp
        || ip.more_frags()
        || ip.frag_offset() != 0
    {
        return None;
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if !is_ours(IpAddr::V4(dst)) {
        return None;
    }
    let total = usize::from(ip.total_len());
    let header = usize::from(ip.header_len());
    let icmp = Icmpv4Packet::new_checked(&packet[header..total]).ok()?;
    if icmp.msg_type() != Icmpv4Message::EchoRequest
        || icmp.msg_code() != 0
        || !icmp.verify_checksum()
    {
        return None;
    }
    let mut icmp = Icmpv4Packet::new_unchecked(&mut packet[header..total]);
    icmp.set_msg_type(Icmpv4Message::EchoReply);
    icmp.fill_checksum();
    let mut ip = Ipv4Packet::new_unchecked(&mut packet[..total]);
    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
    ip.set_hop_limit(REPLY_HOP_LIMIT);
    ip.fill_checksum();
    Some(total)
}

fn reply_v6(packet: &mut [u8], is_ours: impl Fn(IpAddr) -> bool) -> Option<usize> {
    let ip = Ipv6Packet::new_checked(&*packet).ok()?;
    if ip.next_header() != IpProtocol::Icmpv6 {
        return None;
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if !is_ours(IpAddr::V6(dst)) {
        return None;
    }
    let total = 40 + usize::from(ip.payload_len());
    let icmp = Icmpv6Packet::new_checked(&packet[40..total]).ok()?;
    if icmp.msg_type() != Icmpv6Message::EchoRequest
        || icmp.msg_code() != 0
        || !icmp.verify_checksum(&src, &dst)
    {
        return None;
    }
    let mut icmp = Icmpv6Packet::new_unchecked(&mut packet[40..total]);
    icmp.set_msg_type(Icmpv6Message::EchoReply);
    icmp.fill_checksum(&dst, &src);
    let mut ip = Ipv6Packet::new_unchecked(&mut packet[..total]);
    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
    ip.set_hop_limit(REPLY_HOP_LIMIT);
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{Icmpv4Repr, Icmpv6Repr, Ipv4Repr, Ipv6Repr};

    const ME4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
    const PEER4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
    const ME6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 1);
    const PEER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 2);

    fn ours(addr: IpAddr) -> bool {
        addr == IpAddr::V4(ME4) || addr == IpAddr::V6(ME6)
    }

    fn request_v4(dst: Ipv4Addr, data: &[u8]) -> [u8; 64] {
        let caps = ChecksumCapabilities::default();
        let icmp = Icmpv4Repr::EchoRequest {
            ident: 7,
            seq_no: 3,
            data,
        };
        let ip = Ipv4Repr {
            src_addr: PEER4,
            dst_addr: dst,
            next_header: IpProtocol::Icmp,
            payload_len: icmp.buffer_len(),
            hop_limit: 63,
        };
        let mut buf = [0u8; 64];
        ip.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), &caps);
        icmp.emit(
            &mut Icmpv4Packet::new_unchecked(&mut buf[20..20 + icmp.buffer_len()]),
            &caps,
        );
        buf
    }

    #[test]
    fn answers_an_ipv4_echo_request_to_our_address() {
        let mut packet = request_v4(ME4, b"hello");
        let len = reply_in_place(&mut packet, ours).expect("a reply");
        assert_eq!(len, 20 + 8 + 5);
        let ip = Ipv4Packet::new_checked(&packet[..len]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(
            (ip.src_addr(), ip.dst_addr(), ip.hop_limit()),
            (ME4, PEER4, 64)
        );
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        let repr = Icmpv4Repr::parse(&icmp, &ChecksumCapabilities::default()).unwrap();
        assert_eq!(
            repr,
            Icmpv4Repr::EchoReply {
                ident: 7,
                seq_no: 3,
                data: b"hello"
            }
        );
    }

    #[test]
    fn ignores_requests_to_other_addresses_and_corrupt_ones() {
        let mut other = request_v4(Ipv4Addr::new(10, 99, 0, 3), b"x");
        let before = other;
        assert_eq!(reply_in_place(&mut other, ours), None);
        assert_eq!(other, before, "left untouched");
        let mut corrupt = request_v4(ME4, b"x");
        corrupt[28] ^= 0xff; // the ICMP payload byte: the checksum no longer matches
        assert_eq!(reply_in_place(&mut corrupt, ours), None);
        assert_eq!(reply_in_place(&mut [], ours), None);
        assert_eq!(reply_in_place(&mut [0x45; 10], ours), None);
    }

    #[test]
    fn answers_an_ipv6_echo_request_to_our_address() {
        let icmp = Icmpv6Repr::EchoRequest {
            ident: 1,
            seq_no: 9,
            data: b"ping6",
        };
        let ip = Ipv6Repr {
            src_addr: PEER6,
            dst_addr: ME6,
            next_header: IpProtocol::Icmpv6,
            payload_len: icmp.buffer_len(),
            hop_limit: 64,
        };
        let mut packet = [0u8; 80];
        ip.emit(&mut Ipv6Packet::new_unchecked(&mut packet[..]));
        icmp.emit(
            &PEER6,
            &ME6,
            &mut Icmpv6Packet::new_unchecked(&mut packet[40..40 + icmp.buffer_len()]),
            &ChecksumCapabilities::default(),
        );
        let len = reply_in_place(&mut packet, ours).expect("a reply");
        let ip = Ipv6Packet::new_checked(&packet[..len]).unwrap();
        assert_eq!((ip.src_addr(), ip.dst_addr()), (ME6, PEER6));
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum(&ME6, &PEER6));
        assert_eq!(icmp.msg_type(), Icmpv6Message::EchoReply);
        assert_eq!(icmp.echo_seq_no(), 9);
    }

    #[test]
    fn never_panics_on_random_bytes() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..100_000 {
            let mut buf = [0u8; 96];
            for b in buf.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
            buf[0] = if state & 1 == 0 { 0x45 } else { 0x60 };
            let len = (state >> 8) as usize % 97;
            let _ = reply_in_place(&mut buf[..len], |_| true);
        }
    }
}
