//! Receive segmentation offload on the LAN NIC: GSO frames of up to 64 KiB
//! from a LAN host, cut by the real gateway loop (on fake NICs) into
//! tunnel-sized TCP segments that reach the peer whole and in order; and
//! frames whose headers lie, counted and dropped.

mod gateway_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use gateway_support::frames::ethernet;
use gateway_support::*;
use net::gateway::checksum;
use net::gateway::gso::{self, GsoDrop};
use net::gateway::nic::{Gso, GsoKind, RxChecksum, RxInfo};

const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
const TCP_CWR: u8 = 0x80;
const SEQ: u32 = 0xfff0_0000;

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// An IPv4/TCP packet as a stack using segmentation offload hands it to
/// its NIC: one header for all of `data`, the TCP checksum field holding
/// only the pseudo-header sum (partial).
fn tcp4(src: Ipv4Addr, dst: Ipv4Addr, id: u16, flags: u8, data: &[u8]) -> Vec<u8> {
    let options = [1u8, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]; // NOP NOP timestamps
    let tcp_len = 20 + options.len() + data.len();
    let total = 20 + tcp_len;
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total.min(0xffff) as u16).to_be_bytes());
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[6] = 0x40; // DF
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = checksum::finish(&[checksum::sum(&p)]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    push_tcp(&mut p, flags, &options, data);
    let pseudo = checksum::pseudo_header(src.into(), dst.into(), 6, tcp_len as u32);
    p[36..38].copy_from_slice(&pseudo.to_be_bytes());
    p
}

fn tcp6(src: Ipv6Addr, dst: Ipv6Addr, flags: u8, data: &[u8]) -> Vec<u8> {
    let tcp_len = 20 + data.len();
    let mut p = vec![0u8; 40];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
    p[6] = 6;
    p[7] = 64;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    push_tcp(&mut p, flags, &[], data);
    p
}

fn push_tcp(p: &mut Vec<u8>, flags: u8, options: &[u8], data: &[u8]) {
    p.extend_from_slice(&40000u16.to_be_bytes());
    p.extend_from_slice(&5201u16.to_be_bytes());
    p.extend_from_slice(&SEQ.to_be_bytes());
    p.extend_from_slice(&77u32.to_be_bytes());
    p.push(((20 + options.len()) / 4 * 16) as u8);
    p.push(flags);
    p.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    p.extend_from_slice(options);
    p.extend_from_slice(data);
}

/// Checks an IPv4/TCP packet's header and TCP checksums; returns (IP ID,
/// TTL, sequence number, flags, payload).
fn check_tcp4(packet: &[u8]) -> (u16, u8, u32, u8, Vec<u8>) {
    assert_eq!(packet[0], 0x45);
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    assert_eq!(total, packet.len(), "IPv4 total length");
    assert_eq!(checksum::sum(&packet[..20]), 0xffff, "IPv4 header checksum");
    let tcp = &packet[20..];
    let src = IpAddr::from(<[u8; 4]>::try_from(&packet[12..16]).unwrap());
    let dst = IpAddr::from(<[u8; 4]>::try_from(&packet[16..20]).unwrap());
    let pseudo = checksum::pseudo_header(src, dst, 6, tcp.len() as u32);
    assert_eq!(
        checksum::finish(&[pseudo, checksum::sum(tcp)]),
        0,
        "TCP checksum"
    );
    let offset = usize::from(tcp[12] >> 4) * 4;
    (
        u16::from_be_bytes([packet[4], packet[5]]),
        packet[8],
        u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
        tcp[13],
        tcp[offset..].to_vec(),
    )
}

fn gso_info(kind: GsoKind, size: u16, partial: Option<(u16, u16)>) -> RxInfo {
    RxInfo {
        checksum: RxChecksum::Partial,
        partial,
        gso: Some(Gso { kind, size }),
    }
}

fn world() -> World {
    let mut world = World::new(Rings::default());
    world.gw.nics().1.rx.gso = true;
    world.establish();
    world
}

fn lan_sends_gso(world: &mut World, packet: &[u8], info: RxInfo) {
    let frame = ethernet(GW_INNER_MAC, LAN_HOST_MAC, 0x0800, packet);
    assert!(world.gw.nics().1.inject_offloaded(frame, info));
    world.settle(50);
}

#[test]
fn a_64k_tso_frame_reaches_the_peer_as_tunnel_sized_valid_segments() {
    let mut world = world();
    let data = payload(65535 - 20 - 32);
    let packet = tcp4(
        LAN_HOST,
        REMOTE_HOST,
        1000,
        TCP_ACK | TCP_PSH | TCP_CWR,
        &data,
    );
    // 1,368 bytes of payload per segment fit the 1,420-byte tunnel MTU with
    // 52 bytes of headers, as a LAN host's MSS after path MTU discovery.
    let info = gso_info(GsoKind::TcpV4, 1368, Some((34, 16)));
    lan_sends_gso(&mut world, &packet, info);
    let segments = data.len().div_ceil(1368);
    assert_eq!(world.at_peer.len(), segments, "every segment arrived");
    let mut joined = Vec::new();
    for (i, segment) in world.at_peer.iter().enumerate() {
        assert!(segment.len() <= 1420, "segment {i} fits the tunnel MTU");
        let (id, ttl, seq, flags, piece) = check_tcp4(segment);
        assert_eq!(id, 1000 + i as u16, "IPv4 ID +1 per segment");
        assert_eq!(ttl, 63, "routed: TTL decremented");
        assert_eq!(seq, SEQ.wrapping_add(joined.len() as u32), "in order");
        assert_eq!(flags & TCP_CWR != 0, i == 0, "CWR only on the first");
        assert_eq!(
            flags & TCP_PSH != 0,
            i == segments - 1,
            "PSH only on the last"
        );
        assert_ne!(flags & TCP_ACK, 0);
        if i + 1 < segments {
            assert_eq!(piece.len(), 1368);
        }
        joined.extend_from_slice(&piece);
    }
    assert_eq!(joined, data, "the payloads join up to the original");
    let stats = world.gw.stats();
    assert_eq!(
        (stats.lan_gso_frames, stats.lan_gso_segments),
        (1, segments as u64)
    );
    assert_eq!(stats.dropped(), 0);
}

#[test]
fn segments_too_big_for_the_tunnel_get_one_fragmentation_needed() {
    let mut world = world();
    let packet = tcp4(LAN_HOST, REMOTE_HOST, 5, TCP_ACK, &payload(20_000));
    // The LAN host's MSS for a 1500-byte LAN: segments of 1,500 bytes do
    // not fit the 1,420-byte tunnel, so, as Linux's forwarding does for
    // GSO packets, the sender learns the path MTU (once per frame).
    lan_sends_gso(
        &mut world,
        &packet,
        gso_info(GsoKind::TcpV4, 1448, Some((34, 16))),
    );
    assert!(world.at_peer.is_empty());
    assert_eq!(world.at_lan_host.len(), 1, "one ICMP error for the frame");
    let icmp = &world.at_lan_host[0];
    assert_eq!((icmp[9], icmp[20], icmp[21]), (1, 3, 4));
    assert_eq!(
        u16::from_be_bytes([icmp[26], icmp[27]]),
        1420,
        "next-hop MTU"
    );
}

#[test]
fn a_partial_checksum_is_completed_before_the_tunnel() {
    let mut world = world();
    let data = payload(300);
    let packet = tcp4(LAN_HOST, REMOTE_HOST, 9, TCP_ACK | TCP_FIN, &data);
    let frame = ethernet(GW_INNER_MAC, LAN_HOST_MAC, 0x0800, &packet);
    let info = RxInfo {
        checksum: RxChecksum::Partial,
        partial: Some((34, 16)),
        gso: None,
    };
    assert!(world.gw.nics().1.inject_offloaded(frame, info));
    world.settle(50);
    assert_eq!(world.at_peer.len(), 1);
    let (_, _, seq, flags, piece) = check_tcp4(&world.at_peer[0]);
    assert_eq!((seq, flags, piece), (SEQ, TCP_ACK | TCP_FIN, data));
}

#[test]
fn lying_offload_headers_are_counted_drops() {
    let mut world = world();
    let good = tcp4(LAN_HOST, REMOTE_HOST, 1, TCP_ACK, &payload(5000));
    let v4 = |size| gso_info(GsoKind::TcpV4, size, Some((34, 16)));
    let mut cases: Vec<(Vec<u8>, RxInfo)> = vec![
        (good.clone(), v4(0)),
        (good.clone(), v4(87)),
        (good.clone(), gso_info(GsoKind::TcpV6, 1368, Some((34, 16)))),
    ];
    // IPv4 total length beyond the frame; a TCP header longer than the
    // packet; a TCP data offset below 5; an IP header length below 5; a
    // fragment; UDP said to be TCP; a packet with no payload to cut.
    let mut long = good.clone();
    long[2..4].copy_from_slice(&6000u16.to_be_bytes());
    let mut offset = tcp4(LAN_HOST, REMOTE_HOST, 1, TCP_ACK, &payload(20));
    offset[32] = 0xf0;
    let mut short_offset = good.clone();
    short_offset[32] = 0x40;
    let mut ihl = good.clone();
    ihl[0] = 0x44;
    let mut fragment = good.clone();
    fragment[6] = 0x20;
    let mut udp = good.clone();
    udp[9] = 17;
    let empty = tcp4(LAN_HOST, REMOTE_HOST, 1, TCP_ACK, &[]);
    for bad in [long, offset, short_offset, ihl, fragment, udp, empty] {
        cases.push((bad, v4(1368)));
    }
    let count = cases.len() as u64;
    for (packet, info) in cases {
        lan_sends_gso(&mut world, &packet, info);
    }
    // A partial checksum whose field lies past the packet.
    let small = tcp4(LAN_HOST, REMOTE_HOST, 2, TCP_ACK, &payload(10));
    let frame = ethernet(GW_INNER_MAC, LAN_HOST_MAC, 0x0800, &small);
    let info = RxInfo {
        checksum: RxChecksum::Partial,
        partial: Some((34, 60)),
        gso: None,
    };
    world.gw.nics().1.inject_offloaded(frame, info);
    world.settle(50);
    assert!(world.at_peer.is_empty(), "nothing lying got through");
    let stats = *world.gw.stats();
    assert_eq!(stats.lan_gso_bad_size, 2, "sizes 0 and 87");
    assert_eq!(stats.lan_gso_mismatch, 2, "TCPv6 for IPv4, UDP for TCP");
    assert_eq!(stats.lan_gso_malformed, count - 4);
    assert_eq!(stats.lan_bad_partial, 1);
    assert_eq!(stats.lan_gso_segments, 0);
    // The loop still forwards afterwards.
    lan_sends_gso(&mut world, &good, v4(1368));
    assert_eq!(world.at_peer.len(), 5000usize.div_ceil(1368));
}

#[test]
fn random_gso_metadata_never_panics() {
    let mut world = world();
    let mut next = xorshift(0x5eed);
    let base = tcp4(LAN_HOST, REMOTE_HOST, 1, TCP_ACK, &payload(3000));
    for _ in 0..2000 {
        let mut packet = base.clone();
        for _ in 0..(next() % 4) {
            let at = (next() % 60) as usize;
            packet[at] = next() as u8;
        }
        packet.truncate(20 + (next() as usize % packet.len()));
        let kind = if next().is_multiple_of(2) {
            GsoKind::TcpV4
        } else {
            GsoKind::TcpV6
        };
        let partial = Some((next() as u16 % 80, next() as u16 % 40));
        let frame = ethernet(GW_INNER_MAC, LAN_HOST_MAC, 0x0800, &packet);
        let info = gso_info(kind, next() as u16 % 2000, partial);
        world.gw.nics().1.inject_offloaded(frame, info);
        world.step();
    }
    world.settle(50);
    lan_sends_gso(
        &mut world,
        &base,
        gso_info(GsoKind::TcpV4, 1368, Some((34, 16))),
    );
    assert!(world.gw.stats().lan_gso_segments >= 3);
}

#[test]
fn ipv6_segments_follow_tcp_gso_segment() {
    let src: Ipv6Addr = "fd00:77::2".parse().unwrap();
    let dst: Ipv6Addr = "fd00:99::5".parse().unwrap();
    let data = payload(10_000);
    let packet = tcp6(src, dst, TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR, &data);
    let gso = Gso {
        kind: GsoKind::TcpV6,
        size: 1200,
    };
    let plan = gso::plan(&packet, gso, 1500).unwrap();
    assert_eq!(plan.segments, 9);
    let mut joined = Vec::new();
    let mut out = [0u8; 1500];
    for i in 0..plan.segments {
        let len = gso::write_segment(&packet, &plan, i, &mut out).unwrap();
        let seg = &out[..len];
        assert_eq!(usize::from(u16::from_be_bytes([seg[4], seg[5]])), len - 40);
        let tcp = &seg[40..];
        let pseudo = checksum::pseudo_header(src.into(), dst.into(), 6, tcp.len() as u32);
        assert_eq!(checksum::finish(&[pseudo, checksum::sum(tcp)]), 0);
        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
        assert_eq!(seq, SEQ.wrapping_add(joined.len() as u32), "wraps mod 2^32");
        let last = i + 1 == plan.segments;
        assert_eq!(tcp[13] & TCP_CWR != 0, i == 0);
        assert_eq!(
            tcp[13] & (TCP_PSH | TCP_FIN),
            if last { TCP_PSH | TCP_FIN } else { 0 }
        );
        joined.extend_from_slice(&tcp[20..]);
    }
    assert_eq!(joined, data);
    assert_eq!(
        gso::write_segment(&packet, &plan, plan.segments, &mut out),
        None
    );
    assert_eq!(gso::write_segment(&packet, &plan, 0, &mut out[..100]), None);
    // An extension header, a jumbogram (payload length 0), IPv4's type.
    let mut ext = packet.clone();
    ext[6] = 0;
    assert_eq!(gso::plan(&ext, gso, 1500), Err(GsoDrop::Mismatch));
    let mut jumbo = packet.clone();
    jumbo[4..6].copy_from_slice(&[0, 0]);
    assert_eq!(gso::plan(&jumbo, gso, 1500), Err(GsoDrop::Malformed));
    let v4 = Gso {
        kind: GsoKind::TcpV4,
        size: 1200,
    };
    assert_eq!(gso::plan(&packet, v4, 1500), Err(GsoDrop::Mismatch));
    assert_eq!(gso::plan(&packet, gso, 1000), Err(GsoDrop::BadSize));
}

/// Every segment cut from a GSO frame carries the frame's ECN bits in its
/// outer header (and no DSCP), like any other transport packet (RFC 6040
/// normal mode, as Linux's `ip_tunnel_ecn_encap`).
#[test]
fn every_segment_carries_the_frames_ecn_bits_outside() {
    let mut world = world();
    let data = payload(10_000);
    let mut packet = tcp4(LAN_HOST, REMOTE_HOST, 40, TCP_ACK, &data);
    // DSCP AF41 with ECT(1); the IPv4 header checksum follows the change.
    packet[1] = 0x88 | 0b01;
    packet[10..12].copy_from_slice(&[0, 0]);
    let c = checksum::finish(&[checksum::sum(&packet[..20])]);
    packet[10..12].copy_from_slice(&c.to_be_bytes());
    world.outer_marks.clear();
    lan_sends_gso(
        &mut world,
        &packet,
        gso_info(GsoKind::TcpV4, 1368, Some((34, 16))),
    );
    let segments = data.len().div_ceil(1368);
    assert_eq!(world.at_peer.len(), segments);
    let marks: Vec<u8> = world
        .outer_marks
        .iter()
        .filter(|m| m.1 == 4)
        .map(|m| m.0)
        .collect();
    assert_eq!(marks, vec![0b01; segments], "ECT(1) outside, DSCP 0");
    assert!(world.at_peer.iter().all(|s| s[1] == 0x88 | 0b01));
}
