//! The router: IPv4, IPv6, ICMP errors and fragmentation.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use net::router::{
    build_error, error_allowed, fragment_ipv4, IcmpErrorKind, LanVerdict, Router, RouterConfig,
    TunnelVerdict,
};
use net::{Instant, IpCidr};

use crate::input::{fix_ipv4_checksum, ones_sum, Input};

/// The gateway's IPv4 LAN address.
pub const LAN_GW4: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
/// The gateway's IPv6 LAN address.
pub const LAN_GW6: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 1);

fn router_config() -> RouterConfig {
    let cidr = |s: &str| s.parse::<IpCidr>().expect("a valid CIDR");
    RouterConfig::new(
        vec![cidr("192.168.1.1/24"), cidr("fd00:1::1/64")],
        vec![cidr("10.8.0.1/24"), cidr("fd00:8::1/64")],
        vec![IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2))],
        1420,
    )
}

/// Peer 7 owns 10.99.0.0/16 and fd00:99::/32.
fn lookup(addr: IpAddr) -> Option<u32> {
    let inside = match addr {
        IpAddr::V4(a) => a.octets()[..2] == [10, 99],
        IpAddr::V6(a) => a.segments()[..2] == [0xfd00, 0x99],
    };
    inside.then_some(7)
}

/// The TTL or hop limit of an IP packet.
fn hop_limit(packet: &[u8]) -> u8 {
    if packet[0] >> 4 == 4 {
        packet[8]
    } else {
        packet[7]
    }
}

/// Whether an IPv4 header checksum verifies (true for IPv6). Computed
/// here because smoltcp's `verify_checksum` always says yes when built for
/// fuzzing (`cfg(fuzzing)`), so the router forwards bad checksums then.
fn ipv4_checksum_ok(packet: &[u8]) -> bool {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return true;
    }
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    ihl >= 20 && ihl <= packet.len() && ones_sum(0, &packet[..ihl]) == 0xffff
}

/// Checks that `packet` is exactly one well-formed IP packet as far as the
/// router vouches for it: its length field matches and, if `checksum`, an
/// IPv4 header checksum verifies.
fn assert_ip_packet(packet: &[u8], what: &str) {
    assert_ip_packet_with(packet, true, what)
}

fn assert_ip_packet_with(packet: &[u8], checksum: bool, what: &str) {
    assert!(packet.len() >= 20, "{what}: {} bytes", packet.len());
    match packet[0] >> 4 {
        4 => {
            let ihl = usize::from(packet[0] & 0x0f) * 4;
            assert!(ihl >= 20 && ihl <= packet.len(), "{what}: header length");
            if checksum {
                assert_eq!(ones_sum(0, &packet[..ihl]), 0xffff, "{what}: IPv4 checksum");
            }
            let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
            assert_eq!(total, packet.len(), "{what}: IPv4 total length");
        }
        6 => {
            assert!(packet.len() >= 40, "{what}: short IPv6");
            let payload = usize::from(u16::from_be_bytes([packet[4], packet[5]]));
            assert_eq!(40 + payload, packet.len(), "{what}: IPv6 payload length");
        }
        v => panic!("{what}: IP version {v}"),
    }
}

/// Checks a forwarded packet against the original: one hop less, and a
/// valid header checksum if the original had one.
fn assert_forwarded(original: &[u8], forwarded: &[u8], what: &str) {
    assert_ip_packet_with(forwarded, ipv4_checksum_ok(original), what);
    assert_eq!(
        hop_limit(forwarded),
        hop_limit(original).wrapping_sub(1),
        "{what}: TTL"
    );
    assert!(
        hop_limit(original) > 1,
        "{what}: forwarded with TTL {}",
        hop_limit(original)
    );
}

/// Checks that the fragments of `packet` at `mtu` fit and carry its payload.
fn check_fragments(packet: &[u8], mtu: usize, scratch: &mut [u8]) {
    let mut payload = 0usize;
    let checksum = ipv4_checksum_ok(packet);
    let result = fragment_ipv4(packet, mtu, scratch, |fragment| {
        assert!(fragment.len() <= mtu, "a fragment over the MTU");
        assert_ip_packet_with(fragment, checksum, "fragment");
        payload += fragment.len() - usize::from(fragment[0] & 0x0f) * 4;
    });
    if result.is_ok() {
        let ihl = usize::from(packet[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
        assert_eq!(payload, total - ihl, "fragments lose or add payload");
    }
}

/// One packet through one of the router's entry points. The first byte
/// picks the entry point (LAN, tunnel, or fragmentation and ICMP errors
/// directly), whether to fix the IPv4 header checksum after mutation, and a
/// small reply buffer; two bytes give an MTU; the rest is the packet.
///
/// Forwarded packets keep their length and lose one hop with a valid
/// checksum; replies are well-formed IP packets within the reply buffer;
/// fragments fit the MTU and carry exactly the payload.
pub fn router(data: &[u8]) {
    let mut input = Input::new(data);
    let selector = input.u8();
    let mtu = usize::from(input.u16() % 1600) + 1;
    let mut packet = input.rest().to_vec();
    if selector & 4 != 0 {
        fix_ipv4_checksum(&mut packet);
    }
    let original = packet.clone();
    let mut reply_big = [0u8; 1280];
    let mut reply_small = [0u8; 64];
    let reply: &mut [u8] = if selector & 8 != 0 {
        &mut reply_small
    } else {
        &mut reply_big
    };
    let mut scratch = [0u8; 1600];
    let mut router = Router::new(router_config());
    let now = Instant::from_secs(1);
    match selector & 3 {
        0 => match router.route_from_lan(&mut packet, lookup, now, reply) {
            LanVerdict::Tunnel { len, peer } => {
                assert_eq!(peer, 7);
                assert!(len <= packet.len());
                assert_forwarded(&original, &packet[..len], "to the tunnel");
            }
            LanVerdict::Fragment { len, mtu, peer } => {
                assert_eq!(peer, 7);
                assert!(len <= packet.len());
                assert_forwarded(&original, &packet[..len], "to fragment");
                check_fragments(&packet[..len], usize::from(mtu), &mut scratch);
            }
            LanVerdict::Reply { len, .. } => {
                assert!(len <= reply.len());
                assert_ip_packet(&reply[..len], "ICMP reply to the LAN");
            }
            LanVerdict::Local | LanVerdict::Drop(_) => {}
        },
        1 => match router.route_from_tunnel(&mut packet, now, reply) {
            TunnelVerdict::Lan { len, .. } => {
                assert!(len <= packet.len());
                assert_forwarded(&original, &packet[..len], "to the LAN");
            }
            TunnelVerdict::Fragment { len, mtu, .. } => {
                assert!(len <= packet.len());
                assert_forwarded(&original, &packet[..len], "to fragment");
                check_fragments(&packet[..len], usize::from(mtu), &mut scratch);
            }
            TunnelVerdict::Reply { len, .. } => {
                assert!(len <= reply.len());
                assert_ip_packet(&reply[..len], "ICMP reply to the tunnel");
            }
            TunnelVerdict::Local | TunnelVerdict::Drop(_) => {}
        },
        _ => {
            check_fragments(&packet, mtu, &mut scratch);
            let kind = if selector & 16 != 0 {
                IcmpErrorKind::PacketTooBig { mtu: 1280 }
            } else {
                IcmpErrorKind::NoRoute
            };
            let _ = error_allowed(&packet, kind);
            let source = if selector & 32 != 0 {
                IpAddr::V4(LAN_GW4)
            } else {
                IpAddr::V6(LAN_GW6)
            };
            if let Ok(len) = build_error(kind, &packet, source, reply) {
                assert!(len <= reply.len());
                assert_ip_packet(&reply[..len], "ICMP error");
            }
        }
    }
}
