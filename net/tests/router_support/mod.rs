//! Packet builders shared by the router tests.
#![allow(dead_code)]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use net::router::{Router, RouterConfig};
use net::IpCidr;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr};

pub const LAN_GW4: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
pub const LAN_HOST4: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 20);
pub const TUN_GW4: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 1);
pub const PEER_NET4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 5);
pub const OUTER4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
pub const LAN_GW6: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 1);
pub const LAN_HOST6: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 0x20);
pub const TUN_GW6: Ipv6Addr = Ipv6Addr::new(0xfd00, 8, 0, 0, 0, 0, 0, 1);
pub const PEER_NET6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 5);

pub const TUNNEL_MTU: u16 = 1420;

pub fn config() -> RouterConfig {
    RouterConfig::new(
        vec![
            "192.168.1.1/24".parse::<IpCidr>().unwrap(),
            "fd00:1::1/64".parse().unwrap(),
        ],
        vec![
            "10.8.0.1/24".parse().unwrap(),
            "fd00:8::1/64".parse().unwrap(),
        ],
        vec![IpAddr::V4(OUTER4)],
        TUNNEL_MTU,
    )
}

pub fn router() -> Router {
    Router::new(config())
}

/// Peer 7 owns 10.99.0.0/16 and fd00:99::/32 (its AllowedIPs).
pub fn lookup(addr: IpAddr) -> Option<u32> {
    let cidrs: [IpCidr; 2] = [
        "10.99.0.0/16".parse().unwrap(),
        "fd00:99::/32".parse().unwrap(),
    ];
    cidrs.iter().any(|c| c.contains(addr)).then_some(7)
}

/// A valid IPv4 packet of `total_len` bytes with a patterned payload.
pub fn ipv4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    ttl: u8,
    total_len: usize,
    dont_frag: bool,
) -> Vec<u8> {
    let mut buf = vec![0u8; total_len];
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: protocol,
        payload_len: total_len - 20,
        hop_limit: ttl,
    };
    for (i, b) in buf[20..].iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    let mut packet = Ipv4Packet::new_unchecked(&mut buf[..]);
    repr.emit(&mut packet, &ChecksumCapabilities::default());
    packet.set_ident(0x1234);
    packet.set_dont_frag(dont_frag);
    packet.fill_checksum();
    buf
}

/// A UDP-ish IPv4 packet (protocol 17; the payload is not a real UDP header).
pub fn udp4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, total_len: usize) -> Vec<u8> {
    ipv4(src, dst, IpProtocol::Udp, ttl, total_len, true)
}

/// A valid IPv6 packet of `total_len` bytes with a patterned payload.
pub fn ipv6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: IpProtocol,
    hop_limit: u8,
    total_len: usize,
) -> Vec<u8> {
    let mut buf = vec![0u8; total_len];
    for (i, b) in buf[40..].iter_mut().enumerate() {
        *b = (i * 5 + 1) as u8;
    }
    let repr = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header,
        payload_len: total_len - 40,
        hop_limit,
    };
    repr.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
    buf
}

pub fn udp6(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, total_len: usize) -> Vec<u8> {
    ipv6(src, dst, IpProtocol::Udp, hop_limit, total_len)
}

/// The RFC 1071 sum (not complemented) of `data`.
pub fn ones_sum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = if chunk.len() == 2 {
            u16::from_be_bytes([chunk[0], chunk[1]])
        } else {
            u16::from(chunk[0]) << 8
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Recomputes an IPv4 header checksum from scratch.
pub fn recomputed_ipv4_checksum(header: &[u8]) -> u16 {
    let mut copy = header.to_vec();
    copy[10] = 0;
    copy[11] = 0;
    !ones_sum(&copy)
}

/// SplitMix64, for reproducible randomized tests.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}
