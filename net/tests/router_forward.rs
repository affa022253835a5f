//! Forwarding verdicts of `Router::route_from_lan` and `Router::route_from_tunnel`,
//! with the ICMP errors they produce parsed back by smoltcp.

mod router_support;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use net::router::{DropReason, LanVerdict, Router, RouterConfig, TunnelVerdict, ERROR_BUFFER_LEN};
use net::Instant;
use router_support::*;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    Icmpv4DstUnreachable, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, Icmpv6Message, Icmpv6Packet,
    IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet,
};

const NOW: Instant = Instant::from_secs(100);

fn from_lan(router: &mut Router, packet: &mut [u8], reply: &mut [u8]) -> LanVerdict<u32> {
    router.route_from_lan(packet, lookup, NOW, reply)
}

/// Parses an IPv4 ICMP error: checks IP and ICMP checksums, returns (src, dst, type, code, rest-of-header, quote).
fn parse_icmpv4(reply: &[u8]) -> (Ipv4Addr, Ipv4Addr, Icmpv4Message, u8, [u8; 4], Vec<u8>) {
    let ip = Ipv4Packet::new_checked(reply).expect("valid IPv4");
    let repr = Ipv4Repr::parse(&ip, &ChecksumCapabilities::default())
        .expect("IPv4 checksum and header valid");
    assert_eq!(repr.next_header, IpProtocol::Icmp);
    assert_eq!(ip.total_len() as usize, reply.len());
    assert!(reply.len() <= 576, "RFC 1812 limit");
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum(), "ICMP checksum");
    // smoltcp's Repr parses errors too: make sure it agrees the message is well-formed.
    // (smoltcp refuses quotes shorter than the quoted header's total length.)
    let quoted_total = u16::from_be_bytes([ip.payload()[10], ip.payload()[11]]) as usize;
    let whole_quote = quoted_total <= ip.payload().len() - 8;
    if whole_quote && (icmp.msg_type() != Icmpv4Message::DstUnreachable || icmp.msg_code() != 4) {
        Icmpv4Repr::parse(&icmp, &ChecksumCapabilities::default())
            .expect("smoltcp parses the error");
    }
    let payload = ip.payload();
    (
        repr.src_addr,
        repr.dst_addr,
        icmp.msg_type(),
        icmp.msg_code(),
        payload[4..8].try_into().unwrap(),
        payload[8..].to_vec(),
    )
}

fn parse_icmpv6(reply: &[u8]) -> (Ipv6Addr, Ipv6Addr, Icmpv6Message, u8, u32, Vec<u8>) {
    let ip = Ipv6Packet::new_checked(reply).expect("valid IPv6");
    assert_eq!(ip.next_header(), IpProtocol::Icmpv6);
    assert_eq!(ip.total_len(), reply.len());
    assert!(reply.len() <= 1280, "RFC 4443 limit");
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(
        icmp.verify_checksum(&ip.src_addr(), &ip.dst_addr()),
        "ICMPv6 checksum with pseudo-header"
    );
    let payload = ip.payload();
    (
        ip.src_addr(),
        ip.dst_addr(),
        icmp.msg_type(),
        icmp.msg_code(),
        u32::from_be_bytes(payload[4..8].try_into().unwrap()),
        payload[8..].to_vec(),
    )
}

#[test]
fn lan_to_tunnel_ipv4_decrements_ttl_with_valid_checksum() {
    let mut router = router();
    for ttl in [2u8, 3, 64, 128, 255] {
        let original = udp4(LAN_HOST4, PEER_NET4, ttl, 100);
        let mut packet = original.clone();
        let mut reply = [0u8; ERROR_BUFFER_LEN];
        assert_eq!(
            from_lan(&mut router, &mut packet, &mut reply),
            LanVerdict::Tunnel { peer: 7, len: 100 }
        );
        assert_eq!(packet[8], ttl - 1);
        let stored = u16::from_be_bytes([packet[10], packet[11]]);
        assert_eq!(stored, recomputed_ipv4_checksum(&packet[..20]), "ttl {ttl}");
        assert!(Ipv4Packet::new_unchecked(&packet[..]).verify_checksum());
        // Nothing but TTL and checksum changed.
        assert_eq!(packet[..8], original[..8]);
        assert_eq!(packet[9], original[9]);
        assert_eq!(packet[12..], original[12..]);
    }
    assert_eq!(router.stats().forwarded_to_tunnel, 5);
}

#[test]
fn ttl_decrement_checksum_over_many_headers() {
    // Random headers (with options) exercise the RFC 1624 carry cases.
    let mut rng = Rng(42);
    let mut router = router();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    for _ in 0..20_000 {
        let ttl = 2 + rng.below(254) as u8;
        let mut packet = udp4(
            LAN_HOST4,
            Ipv4Addr::new(10, 99, rng.below(256) as u8, rng.below(256) as u8),
            ttl,
            60,
        );
        packet[1] = rng.below(256) as u8; // DSCP/ECN
        packet[4] = rng.below(256) as u8; // ident
        packet[5] = rng.below(256) as u8;
        packet[9] = rng.below(256) as u8; // protocol
        Ipv4Packet::new_unchecked(&mut packet[..]).fill_checksum();
        assert!(matches!(
            from_lan(&mut router, &mut packet, &mut reply),
            LanVerdict::Tunnel { .. }
        ));
        assert_eq!(
            u16::from_be_bytes([packet[10], packet[11]]),
            recomputed_ipv4_checksum(&packet[..20])
        );
    }
}

#[test]
fn lan_to_tunnel_ipv6_decrements_hop_limit() {
    let mut router = router();
    let mut packet = udp6(LAN_HOST6, PEER_NET6, 64, 200);
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    assert_eq!(
        from_lan(&mut router, &mut packet, &mut reply),
        LanVerdict::Tunnel { peer: 7, len: 200 }
    );
    assert_eq!(packet[7], 63);
}

#[test]
fn trailing_padding_is_not_forwarded() {
    let mut router = router();
    let mut packet = udp4(LAN_HOST4, PEER_NET4, 64, 28);
    packet.extend_from_slice(&[0u8; 18]); // Ethernet minimum-frame padding
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    assert_eq!(
        from_lan(&mut router, &mut packet, &mut reply),
        LanVerdict::Tunnel { peer: 7, len: 28 }
    );
}

#[test]
fn local_destinations() {
    let mut router = router();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    for dst in [LAN_GW4, TUN_GW4, OUTER4] {
        let mut packet = udp4(LAN_HOST4, dst, 64, 40);
        let before = packet.clone();
        assert_eq!(
            from_lan(&mut router, &mut packet, &mut reply),
            LanVerdict::Local
        );
        assert_eq!(packet, before, "local packets are not modified");
    }
    let mut packet = udp6(LAN_HOST6, LAN_GW6, 64, 60);
    assert_eq!(
        from_lan(&mut router, &mut packet, &mut reply),
        LanVerdict::Local
    );
    let mut packet = udp4(PEER_NET4, TUN_GW4, 64, 40);
    assert_eq!(
        router.route_from_tunnel(&mut packet, NOW, &mut reply),
        TunnelVerdict::Local
    );
    let mut packet = udp6(PEER_NET6, TUN_GW6, 64, 60);
    assert_eq!(
        router.route_from_tunnel(&mut packet, NOW, &mut reply),
        TunnelVerdict::Local
    );
    assert_eq!(router.stats().delivered_local, 6);
}

#[test]
fn malformed_headers_are_dropped_and_counted() {
    let mut router = router();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    let good = udp4(LAN_HOST4, PEER_NET4, 64, 60);
    let mut cases: Vec<(Vec<u8>, DropReason)> = Vec::new();
    cases.push((vec![], DropReason::Malformed));
    cases.push((good[..19].to_vec(), DropReason::Malformed));
    let mut bad_version = good.clone();
    bad_version[0] = 0x55;
    cases.push((bad_version, DropReason::Malformed));
    let mut short_ihl = good.clone();
    short_ihl[0] = 0x44;
    cases.push((short_ihl, DropReason::Malformed));
    let mut long_total = good.clone();
    long_total[2..4].copy_from_slice(&61u16.to_be_bytes());
    Ipv4Packet::new_unchecked(&mut long_total[..]).fill_checksum();
    cases.push((long_total, DropReason::Malformed));
    let mut total_below_header = good.clone();
    total_below_header[2..4].copy_from_slice(&19u16.to_be_bytes());
    Ipv4Packet::new_unchecked(&mut total_below_header[..]).fill_checksum();
    cases.push((total_below_header, DropReason::Malformed));
    let mut bad_checksum = good.clone();
    bad_checksum[11] ^= 1;
    cases.push((bad_checksum, DropReason::BadChecksum));
    let good6 = udp6(LAN_HOST6, PEER_NET6, 64, 100);
    cases.push((good6[..39].to_vec(), DropReason::Malformed));
    cases.push((good6[..99].to_vec(), DropReason::Malformed));
    let count = cases.len() as u64;
    for (mut packet, reason) in cases {
        assert_eq!(
            from_lan(&mut router, &mut packet, &mut reply),
            LanVerdict::Drop(reason)
        );
        assert_eq!(
            router.route_from_tunnel(&mut packet, NOW, &mut reply),
            TunnelVerdict::Drop(reason)
        );
    }
    assert_eq!(
        router.stats().malformed + router.stats().bad_checksum,
        2 * count
    );
    assert_eq!(router.stats().bad_checksum, 2);
}

#[test]
fn non_unicast_destinations_are_dropped_silently() {
    let mut router = router();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    for dst in [
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(192, 168, 1, 255), // the LAN's directed broadcast
        Ipv4Addr::new(224, 0, 0, 251),
        Ipv4Addr::new(239, 1, 2, 3),
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::LOCALHOST,
    ] {
        let mut packet = udp4(LAN_HOST4, dst, 64, 40);
        assert_eq!(
            from_lan(&mut router, &mut packet, &mut reply),
            LanVerdict::Drop(DropReason::NotUnicast),
            "{dst}"
        );
    }
    for dst in ["ff02::1", "ff05::2", "fe80::1", "::1", "::"] {
        let mut packet = udp6(LAN_HOST6, dst.parse().unwrap(), 64, 60);
        assert_eq!(
            from_lan(&mut router, &mut packet, &mut reply),
            LanVerdict::Drop(DropReason::NotUnicast),
            "{dst}"
        );
    }
    let mut packet = udp4(PEER_NET4, Ipv4Addr::new(192, 168, 1, 255), 64, 40);
    assert_eq!(
        router.route_from_tunnel(&mut packet, NOW, &mut reply),
        TunnelVerdict::Drop(DropReason::NotUnicast)
    );
    assert_eq!(router.stats().not_unicast, 12);
    assert_eq!(router.stats().icmp_sent, 0);
}

#[test]
fn spoofed_lan_sources_are_dropped() {
    let mut router = router();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    for src in [
        Ipv4Addr::new(172, 16, 0, 9),    // not on the LAN
        LAN_GW4,                         // the gateway itself
        Ipv4Addr::new(192, 168, 1, 255), // broadcast
        Ipv4Addr::new(10, 99, 0, 1),     // a peer's network
    ] {
        let mut packet = udp4(src, PEER_NET4, 64, 40);
        assert_eq!(
            from_lan(&mut router, &mut packet, &mut reply),
            LanVerdict::Drop(DropReason::SpoofedSource),
            "{src}"
        );
    }
    for src in ["fe80::2", "2001:db8::1", "fd00:1::1"] {
        let mut packet = udp6(src.parse().unwrap(), PEER_NET6, 64, 60);
        assert_eq!(
            from_lan(&mut router, &mut packet, &mut reply),
            LanVerdict::Drop(DropReason::SpoofedSource),
            "{src}"
        );
    }
    assert_eq!(router.stats().spoofed_source, 7);
}

#[test]
fn spoofed_tunnel_sources_are_dropped() {
    let mut router = router();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    for src in [LAN_HOST4, LAN_GW4, TUN_GW4, Ipv4Addr::new(224, 0, 0, 1)] {
        let mut packet = udp4(src, LAN_HOST4, 64, 40);
        assert_eq!(
            router.route_from_tunnel(&mut packet, NOW, &mut reply),
            TunnelVerdict::Drop(DropReason::SpoofedSource),
            "{src}"
        );
    }
    let mut packet = udp6(LAN_HOST6, LAN_HOST6, 64, 60);
    assert_eq!(
        router.route_from_tunnel(&mut packet, NOW, &mut reply),
        TunnelVerdict::Drop(DropReason::SpoofedSource)
    );
}

#[test]
fn lan_to_lan_is_not_hairpinned() {
    let mut router = router();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    let mut packet = udp4(LAN_HOST4, Ipv4Addr::new(192, 168, 1, 30), 64, 40);
    assert_eq!(
        from_lan(&mut router, &mut packet, &mut reply),
        LanVerdict::Drop(DropReason::Hairpin)
    );
}

#[test]
fn no_route_from_lan_answers_net_unreachable_v4() {
    let mut router = router();
    let original = udp4(LAN_HOST4, Ipv4Addr::new(8, 8, 8, 8), 64, 300);
    let mut packet = original.clone();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    let LanVerdict::Reply {
        len,
        next_hop,
        cause,
    } = from_lan(&mut router, &mut packet, &mut reply)
    else {
        panic!("expected an ICMP error");
    };
    assert_eq!(cause, DropReason::NoRoute);
    assert_eq!(next_hop, IpAddr::V4(LAN_HOST4));
    assert_eq!(packet, original, "the quoted packet is left as received");
    let (src, dst, message, code, rest, quote) = parse_icmpv4(&reply[..len]);
    assert_eq!((src, dst), (LAN_GW4, LAN_HOST4));
    assert_eq!(message, Icmpv4Message::DstUnreachable);
    assert_eq!(code, u8::from(Icmpv4DstUnreachable::NetUnreachable));
    assert_eq!(rest, [0; 4]);
    assert_eq!(
        quote, original,
        "a 300-byte packet fits the 576-byte error whole"
    );
    assert_eq!(router.stats().no_route, 1);
    assert_eq!(router.stats().icmp_sent, 1);
}

#[test]
fn no_route_from_lan_answers_no_route_v6_and_quote_is_cut_at_1280() {
    let mut router = router();
    let original = udp6(LAN_HOST6, "2001:db8::1".parse().unwrap(), 64, 1400);
    let mut packet = original.clone();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    let LanVerdict::Reply { len, next_hop, .. } = from_lan(&mut router, &mut packet, &mut reply)
    else {
        panic!("expected an ICMP error");
    };
    assert_eq!(len, 1280);
    assert_eq!(next_hop, IpAddr::V6(LAN_HOST6));
    let (src, dst, message, code, rest, quote) = parse_icmpv6(&reply[..len]);
    assert_eq!((src, dst), (LAN_GW6, LAN_HOST6));
    assert_eq!((message, code, rest), (Icmpv6Message::DstUnreachable, 0, 0));
    assert_eq!(quote, original[..1280 - 48]);
}

#[test]
fn ipv4_quote_is_cut_at_576() {
    let mut router = router();
    let original = udp4(LAN_HOST4, Ipv4Addr::new(8, 8, 8, 8), 64, 1000);
    let mut packet = original.clone();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    let LanVerdict::Reply { len, .. } = from_lan(&mut router, &mut packet, &mut reply) else {
        panic!()
    };
    assert_eq!(len, 576);
    let (.., quote) = parse_icmpv4(&reply[..len]);
    assert_eq!(quote, original[..576 - 28]);
}

#[test]
fn ttl_expiry_answers_time_exceeded() {
    let mut router = router();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    for ttl in [0u8, 1] {
        let original = udp4(LAN_HOST4, PEER_NET4, ttl, 100);
        let mut packet = original.clone();
        let LanVerdict::Reply { len, cause, .. } = from_lan(&mut router, &mut packet, &mut reply)
        else {
            panic!()
        };
        assert_eq!(cause, DropReason::TtlExpired);
        let (src, dst, message, code, _, quote) = parse_icmpv4(&reply[..len]);
        assert_eq!(
            (src, dst, message, code),
            (LAN_GW4, LAN_HOST4, Icmpv4Message::TimeExceeded, 0)
        );
        assert_eq!(quote, original);
    }
    let original = udp6(LAN_HOST6, PEER_NET6, 1, 100);
    let mut packet = original.clone();
    let LanVerdict::Reply { len, .. } = from_lan(&mut router, &mut packet, &mut reply) else {
        panic!()
    };
    let (_, _, message, code, _, quote) = parse_icmpv6(&reply[..len]);
    assert_eq!((message, code), (Icmpv6Message::TimeExceeded, 0));
    assert_eq!(quote, original);
    assert_eq!(router.stats().ttl_expired, 3);
}

#[test]
fn mtu_boundary_ipv4_with_df() {
    let mut router = router();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    let mtu = usize::from(TUNNEL_MTU);
    let mut exact = udp4(LAN_HOST4, PEER_NET4, 64, mtu);
    assert_eq!(
        from_lan(&mut router, &mut exact, &mut reply),
        LanVerdict::Tunnel { peer: 7, len: mtu }
    );
    let original = udp4(LAN_HOST4, PEER_NET4, 64, mtu + 1);
    let mut over = original.clone();
    let LanVerdict::Reply { len, cause, .. } = from_lan(&mut router, &mut over, &mut reply) else {
        panic!()
    };
    assert_eq!(cause, DropReason::TooBig);
    let (src, dst, message, code, rest, quote) = parse_icmpv4(&reply[..len]);
    assert_eq!(
        (src, dst, message, code),
        (LAN_GW4, LAN_HOST4, Icmpv4Message::DstUnreachable, 4)
    );
    assert_eq!(
        u16::from_be_bytes([rest[2], rest[3]]),
        TUNNEL_MTU,
        "RFC 1191 next-hop MTU"
    );
    assert_eq!(quote, original[..576 - 28]);
    assert_eq!(over, original, "TTL untouched in the refused packet");
}

#[test]
fn ping_1269_under_route_mtu_1299_passes() {
    let mut config = config();
    config.tunnel_mtu = 1299;
    let mut router = Router::new(config);
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    let mut ping = ipv4(LAN_HOST4, PEER_NET4, IpProtocol::Icmp, 64, 1269 + 28, true);
    assert_eq!(
        router.route_from_lan(&mut ping, lookup, NOW, &mut reply),
        LanVerdict::Tunnel { peer: 7, len: 1297 }
    );
    let mut ping = ipv4(LAN_HOST4, PEER_NET4, IpProtocol::Icmp, 64, 1299, true);
    assert!(matches!(
        router.route_from_lan(&mut ping, lookup, NOW, &mut reply),
        LanVerdict::Tunnel { len: 1299, .. }
    ));
    let mut ping = ipv4(LAN_HOST4, PEER_NET4, IpProtocol::Icmp, 64, 1300, true);
    ping[20] = 8; // an echo request, so an error may be sent about it
    assert!(matches!(
        router.route_from_lan(&mut ping, lookup, NOW, &mut reply),
        LanVerdict::Reply {
            cause: DropReason::TooBig,
            ..
        }
    ));
}

#[test]
fn mtu_boundary_ipv6_packet_too_big() {
    let mut router = router();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    let mtu = usize::from(TUNNEL_MTU);
    let mut exact = udp6(LAN_HOST6, PEER_NET6, 64, mtu);
    assert_eq!(
        from_lan(&mut router, &mut exact, &mut reply),
        LanVerdict::Tunnel { peer: 7, len: mtu }
    );
    let original = udp6(LAN_HOST6, PEER_NET6, 64, mtu + 1);
    let mut over = original.clone();
    let LanVerdict::Reply { len, cause, .. } = from_lan(&mut router, &mut over, &mut reply) else {
        panic!()
    };
    assert_eq!(cause, DropReason::TooBig);
    let (src, dst, message, code, mtu_field, quote) = parse_icmpv6(&reply[..len]);
    assert_eq!(
        (src, dst, message, code),
        (LAN_GW6, LAN_HOST6, Icmpv6Message::PktTooBig, 0)
    );
    assert_eq!(mtu_field, u32::from(TUNNEL_MTU));
    assert_eq!(quote, original[..1280 - 48]);
    let icmp = Icmpv6Packet::new_checked(&reply[40..len]).unwrap();
    assert_eq!(icmp.pkt_too_big_mtu(), u32::from(TUNNEL_MTU));
}

#[test]
fn oversized_ipv4_without_df_gets_fragment_verdict() {
    let mut router = router();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    let mut packet = ipv4(LAN_HOST4, PEER_NET4, IpProtocol::Udp, 64, 3000, false);
    assert_eq!(
        from_lan(&mut router, &mut packet, &mut reply),
        LanVerdict::Fragment {
            peer: 7,
            len: 3000,
            mtu: TUNNEL_MTU
        }
    );
    assert_eq!(packet[8], 63);
    let mut scratch = [0u8; 1500];
    let mut sizes = Vec::new();
    let count = router
        .fragment(&packet, TUNNEL_MTU, &mut scratch, |fragment| {
            sizes.push(fragment.len())
        })
        .unwrap();
    assert_eq!(count, 3);
    assert!(sizes.iter().all(|&size| size <= usize::from(TUNNEL_MTU)));
    assert_eq!(router.stats().fragmented, 1);
    assert_eq!(router.stats().fragments_emitted, 3);
}

#[test]
fn no_icmp_error_about_icmp_errors() {
    let mut router = router();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    // An ICMP error (type 3) and an unknown type (42) about which we must stay quiet...
    for icmp_type in [3u8, 4, 5, 11, 12, 42] {
        let mut packet = ipv4(
            LAN_HOST4,
            Ipv4Addr::new(8, 8, 8, 8),
            IpProtocol::Icmp,
            64,
            100,
            true,
        );
        packet[20] = icmp_type;
        assert_eq!(
            from_lan(&mut router, &mut packet, &mut reply),
            LanVerdict::Drop(DropReason::NoRoute),
            "type {icmp_type}"
        );
    }
    // ...but an echo request gets its error.
    let mut packet = ipv4(
        LAN_HOST4,
        Ipv4Addr::new(8, 8, 8, 8),
        IpProtocol::Icmp,
        64,
        100,
        true,
    );
    packet[20] = 8;
    assert!(matches!(
        from_lan(&mut router, &mut packet, &mut reply),
        LanVerdict::Reply { .. }
    ));
    for icmp_type in [1u8, 2, 3, 4, 127] {
        let mut packet = ipv6(
            LAN_HOST6,
            "2001:db8::1".parse().unwrap(),
            IpProtocol::Icmpv6,
            64,
            100,
        );
        packet[40] = icmp_type;
        assert_eq!(
            from_lan(&mut router, &mut packet, &mut reply),
            LanVerdict::Drop(DropReason::NoRoute),
            "type {icmp_type}"
        );
    }
    let mut packet = ipv6(
        LAN_HOST6,
        "2001:db8::1".parse().unwrap(),
        IpProtocol::Icmpv6,
        64,
        100,
    );
    packet[40] = 128;
    assert!(matches!(
        from_lan(&mut router, &mut packet, &mut reply),
        LanVerdict::Reply { .. }
    ));
    assert_eq!(router.stats().icmp_suppressed, 11);
    assert_eq!(router.stats().icmp_sent, 2);
}

#[test]
fn icmpv6_error_behind_extension_headers_is_recognised() {
    let mut router = router();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    // Hop-by-hop options header (8 bytes) then an ICMPv6 destination unreachable.
    let mut packet = ipv6(
        LAN_HOST6,
        "2001:db8::1".parse().unwrap(),
        IpProtocol::HopByHop,
        64,
        100,
    );
    packet[40] = u8::from(IpProtocol::Icmpv6);
    packet[41] = 0;
    packet[42..48].copy_from_slice(&[1, 4, 0, 0, 0, 0]); // PadN
    packet[48] = 1;
    assert_eq!(
        from_lan(&mut router, &mut packet, &mut reply),
        LanVerdict::Drop(DropReason::NoRoute)
    );
    assert_eq!(router.stats().icmp_suppressed, 1);
}

#[test]
fn no_icmp_error_about_non_first_fragments() {
    let mut router = router();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    let mut packet = udp4(LAN_HOST4, Ipv4Addr::new(8, 8, 8, 8), 64, 100);
    let mut ip = Ipv4Packet::new_unchecked(&mut packet[..]);
    ip.set_dont_frag(false);
    ip.set_frag_offset(1480);
    ip.fill_checksum();
    assert_eq!(
        from_lan(&mut router, &mut packet, &mut reply),
        LanVerdict::Drop(DropReason::NoRoute)
    );
    // IPv6 fragment header with a non-zero offset.
    let mut packet = ipv6(
        LAN_HOST6,
        "2001:db8::1".parse().unwrap(),
        IpProtocol::Ipv6Frag,
        64,
        100,
    );
    packet[40] = u8::from(IpProtocol::Udp);
    packet[41] = 0;
    packet[42..44].copy_from_slice(&(185u16 << 3).to_be_bytes());
    assert_eq!(
        from_lan(&mut router, &mut packet, &mut reply),
        LanVerdict::Drop(DropReason::NoRoute)
    );
    // The first IPv6 fragment does get one.
    packet[42..44].copy_from_slice(&1u16.to_be_bytes());
    assert!(matches!(
        from_lan(&mut router, &mut packet, &mut reply),
        LanVerdict::Reply { .. }
    ));
}

#[test]
fn icmp_errors_are_rate_limited() {
    let mut router = router();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    let mut send_at = |router: &mut Router, now: Instant| {
        let mut packet = udp4(LAN_HOST4, Ipv4Addr::new(8, 8, 8, 8), 64, 60);
        matches!(
            router.route_from_lan(&mut packet, lookup, now, &mut reply),
            LanVerdict::Reply { .. }
        )
    };
    let start = Instant::from_secs(1000);
    let burst = (0..100).filter(|_| send_at(&mut router, start)).count();
    assert_eq!(burst, 20, "burst of 20");
    assert_eq!(router.stats().icmp_rate_limited, 80);
    assert_eq!(
        router.stats().no_route,
        100,
        "every packet is still counted as dropped"
    );
    // 100 per second: one more every 10 ms.
    assert!(!send_at(
        &mut router,
        start.saturating_add(core::time::Duration::from_millis(9))
    ));
    assert!(send_at(
        &mut router,
        start.saturating_add(core::time::Duration::from_millis(10))
    ));
    // Over one second at a steady 1000 packets/s, about 100 errors go out.
    let mut sent = 0;
    for ms in 1..=1000u64 {
        if send_at(
            &mut router,
            start.saturating_add(core::time::Duration::from_millis(10 + ms)),
        ) {
            sent += 1;
        }
    }
    assert!((99..=101).contains(&sent), "sent {sent}");
    // A clock stepping backwards refills nothing.
    let before = router.stats().icmp_sent;
    for _ in 0..10 {
        send_at(&mut router, Instant::from_secs(1));
    }
    assert_eq!(router.stats().icmp_sent, before);
}

#[test]
fn tunnel_to_lan_forwards_to_the_host() {
    let mut router = router();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    let mut packet = udp4(PEER_NET4, LAN_HOST4, 64, 500);
    assert_eq!(
        router.route_from_tunnel(&mut packet, NOW, &mut reply),
        TunnelVerdict::Lan {
            next_hop: IpAddr::V4(LAN_HOST4),
            len: 500
        }
    );
    assert_eq!(packet[8], 63);
    assert!(Ipv4Packet::new_unchecked(&packet[..]).verify_checksum());
    let mut packet = udp6(PEER_NET6, LAN_HOST6, 64, 500);
    assert_eq!(
        router.route_from_tunnel(&mut packet, NOW, &mut reply),
        TunnelVerdict::Lan {
            next_hop: IpAddr::V6(LAN_HOST6),
            len: 500
        }
    );
    assert_eq!(packet[7], 63);
    assert_eq!(router.stats().forwarded_to_lan, 2);
}

#[test]
fn tunnel_ttl_expiry_goes_back_into_the_tunnel() {
    let mut router = router();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    let original = udp4(PEER_NET4, LAN_HOST4, 1, 100);
    let mut packet = original.clone();
    let TunnelVerdict::Reply { len, cause } =
        router.route_from_tunnel(&mut packet, NOW, &mut reply)
    else {
        panic!()
    };
    assert_eq!(cause, DropReason::TtlExpired);
    let (src, dst, message, _, _, quote) = parse_icmpv4(&reply[..len]);
    assert_eq!(
        (src, dst, message),
        (TUN_GW4, PEER_NET4, Icmpv4Message::TimeExceeded)
    );
    assert_eq!(quote, original);
    let mut packet = udp6(PEER_NET6, LAN_HOST6, 1, 100);
    let TunnelVerdict::Reply { len, .. } = router.route_from_tunnel(&mut packet, NOW, &mut reply)
    else {
        panic!()
    };
    let (src, dst, message, ..) = parse_icmpv6(&reply[..len]);
    assert_eq!(
        (src, dst, message),
        (TUN_GW6, PEER_NET6, Icmpv6Message::TimeExceeded)
    );
}

#[test]
fn tunnel_to_elsewhere_is_unreachable() {
    let mut router = router();
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    // Not to the LAN: the gateway relays neither to the Internet nor between peers.
    for dst in [Ipv4Addr::new(8, 8, 8, 8), Ipv4Addr::new(10, 99, 1, 1)] {
        let mut packet = udp4(PEER_NET4, dst, 64, 100);
        let TunnelVerdict::Reply { len, cause } =
            router.route_from_tunnel(&mut packet, NOW, &mut reply)
        else {
            panic!()
        };
        assert_eq!(cause, DropReason::NoRoute);
        let (src, to, message, code, ..) = parse_icmpv4(&reply[..len]);
        assert_eq!(
            (src, to, message, code),
            (TUN_GW4, PEER_NET4, Icmpv4Message::DstUnreachable, 0)
        );
    }
    let mut packet = udp6(PEER_NET6, "2001:db8::1".parse().unwrap(), 64, 100);
    let TunnelVerdict::Reply { len, .. } = router.route_from_tunnel(&mut packet, NOW, &mut reply)
    else {
        panic!()
    };
    let (src, to, message, code, ..) = parse_icmpv6(&reply[..len]);
    assert_eq!(
        (src, to, message, code),
        (TUN_GW6, PEER_NET6, Icmpv6Message::DstUnreachable, 0)
    );
}

#[test]
fn tunnel_packets_over_the_lan_mtu() {
    let mut config = config();
    config.lan_mtu = 1280;
    let mut router = Router::new(config);
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    let mut packet = udp6(PEER_NET6, LAN_HOST6, 64, 1281);
    let TunnelVerdict::Reply { len, cause } =
        router.route_from_tunnel(&mut packet, NOW, &mut reply)
    else {
        panic!()
    };
    assert_eq!(cause, DropReason::TooBig);
    let (.., message, _, mtu, _) = parse_icmpv6(&reply[..len]);
    assert_eq!((message, mtu), (Icmpv6Message::PktTooBig, 1280));
    let mut packet = ipv4(PEER_NET4, LAN_HOST4, IpProtocol::Udp, 64, 1400, false);
    assert_eq!(
        router.route_from_tunnel(&mut packet, NOW, &mut reply),
        TunnelVerdict::Fragment {
            next_hop: IpAddr::V4(LAN_HOST4),
            len: 1400,
            mtu: 1280
        }
    );
}

#[test]
fn no_error_without_a_source_address_of_the_family() {
    let config = RouterConfig::new(
        vec!["192.168.1.1/24".parse().unwrap()],
        vec![],
        vec![],
        1420,
    );
    let mut router = Router::new(config);
    let mut reply = [0u8; ERROR_BUFFER_LEN];
    // From the tunnel, IPv6 to nowhere: no IPv6 gateway address to answer from.
    let mut packet = udp6(PEER_NET6, "2001:db8::1".parse().unwrap(), 64, 100);
    assert_eq!(
        router.route_from_tunnel(&mut packet, NOW, &mut reply),
        TunnelVerdict::Drop(DropReason::NoRoute)
    );
    // IPv4 into the tunnel falls back to the LAN address.
    let mut packet = udp4(PEER_NET4, Ipv4Addr::new(8, 8, 8, 8), 64, 100);
    let TunnelVerdict::Reply { len, .. } = router.route_from_tunnel(&mut packet, NOW, &mut reply)
    else {
        panic!()
    };
    assert_eq!(parse_icmpv4(&reply[..len]).0, LAN_GW4);
}

#[test]
fn small_reply_buffer_shortens_quote_or_suppresses() {
    let mut router = router();
    let original = udp4(LAN_HOST4, Ipv4Addr::new(8, 8, 8, 8), 64, 200);
    let mut packet = original.clone();
    let mut reply = [0u8; 100];
    let LanVerdict::Reply { len, .. } = from_lan(&mut router, &mut packet, &mut reply) else {
        panic!()
    };
    assert_eq!(len, 100);
    assert_eq!(parse_icmpv4(&reply[..len]).5, original[..72]);
    let mut tiny = [0u8; 40];
    assert_eq!(
        from_lan(&mut router, &mut packet, &mut tiny),
        LanVerdict::Drop(DropReason::NoRoute)
    );
}
