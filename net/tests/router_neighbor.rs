//! The LAN neighbor cache: requests, retries, give-up, release order,
//! capacity, expiry, for ARP and NDP.

mod router_support;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::time::Duration;

use net::router::{
    write_ethernet_header, EthernetAddress, HoldError, NeighborCache, NeighborConfig, Resolution,
};
use net::Instant;
use router_support::*;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetFrame, EthernetProtocol, EthernetRepr, Icmpv6Packet,
    IpProtocol, Ipv6Packet, Ipv6Repr, NdiscNeighborFlags, NdiscRepr,
};

const OUR_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 1]);
const HOST_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x20]);
const T0: Instant = Instant::from_secs(10);

fn cache() -> NeighborCache {
    NeighborCache::new(NeighborConfig::new(OUR_MAC, Some(LAN_GW4), Some(LAN_GW6)))
}

fn at(seconds: f64) -> Instant {
    T0.saturating_add(Duration::from_secs_f64(seconds))
}

fn polled(cache: &mut NeighborCache, now: Instant) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    cache.poll(now, |frame| frames.push(frame.to_vec()));
    frames
}

fn arp_frame(
    operation: ArpOperation,
    sender_mac: EthernetAddress,
    sender_ip: Ipv4Addr,
    target_ip: Ipv4Addr,
) -> Vec<u8> {
    let arp = ArpRepr::EthernetIpv4 {
        operation,
        source_hardware_addr: sender_mac,
        source_protocol_addr: sender_ip,
        target_hardware_addr: OUR_MAC,
        target_protocol_addr: target_ip,
    };
    let mut frame = vec![0u8; 14 + arp.buffer_len()];
    let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
    EthernetRepr {
        src_addr: sender_mac,
        dst_addr: OUR_MAC,
        ethertype: EthernetProtocol::Arp,
    }
    .emit(&mut eth);
    arp.emit(&mut ArpPacket::new_unchecked(eth.payload_mut()));
    frame
}

fn neighbor_advert(target: Ipv6Addr, mac: EthernetAddress) -> Vec<u8> {
    let ndisc = NdiscRepr::NeighborAdvert {
        flags: NdiscNeighborFlags::SOLICITED | NdiscNeighborFlags::OVERRIDE,
        target_addr: target,
        lladdr: Some(mac.into()),
    };
    let len = ndisc.buffer_len();
    let mut frame = vec![0u8; 14 + 40 + len];
    let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
    EthernetRepr {
        src_addr: mac,
        dst_addr: OUR_MAC,
        ethertype: EthernetProtocol::Ipv6,
    }
    .emit(&mut eth);
    let mut ip = Ipv6Packet::new_unchecked(eth.payload_mut());
    Ipv6Repr {
        src_addr: target,
        dst_addr: LAN_GW6,
        next_header: IpProtocol::Icmpv6,
        payload_len: len,
        hop_limit: 255,
    }
    .emit(&mut ip);
    let mut icmp = Icmpv6Packet::new_unchecked(ip.payload_mut());
    ndisc.emit(&mut icmp);
    icmp.fill_checksum(&target, &LAN_GW6);
    frame
}

#[test]
fn arp_request_retries_then_gives_up_dropping_held_packets() {
    let mut cache = cache();
    let host = IpAddr::V4(LAN_HOST4);
    assert_eq!(cache.resolve(host, T0), Resolution::Pending);
    cache
        .hold(host, &udp4(PEER_NET4, LAN_HOST4, 63, 100), T0)
        .unwrap();
    assert_eq!(cache.next_deadline(), Some(T0));
    for attempt in 0..3 {
        let now = at(attempt as f64);
        let frames = polled(&mut cache, now);
        assert_eq!(frames.len(), 1, "attempt {attempt}");
        let frame = EthernetFrame::new_checked(&frames[0][..]).unwrap();
        assert_eq!(frame.dst_addr(), EthernetAddress::BROADCAST);
        assert_eq!(frame.src_addr(), OUR_MAC);
        assert_eq!(frame.ethertype(), EthernetProtocol::Arp);
        let arp = ArpRepr::parse(&ArpPacket::new_checked(frame.payload()).unwrap()).unwrap();
        let ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_protocol_addr,
            ..
        } = arp
        else {
            panic!()
        };
        assert_eq!(operation, ArpOperation::Request);
        assert_eq!(
            (
                source_hardware_addr,
                source_protocol_addr,
                target_protocol_addr
            ),
            (OUR_MAC, LAN_GW4, LAN_HOST4)
        );
        // Nothing more until the retransmit interval has passed.
        assert!(polled(&mut cache, at(attempt as f64 + 0.5)).is_empty());
        assert_eq!(cache.next_deadline(), Some(at(attempt as f64 + 1.0)));
    }
    assert!(
        polled(&mut cache, at(3.0)).is_empty(),
        "third timeout: give up, no fourth request"
    );
    assert_eq!(cache.held_packets(), 0);
    assert_eq!(cache.stats().gave_up, 1);
    assert_eq!(cache.stats().hold_discarded, 1);
    assert_eq!(cache.stats().requests_sent, 3);
    assert_eq!(cache.next_deadline(), None);
    // A late reply finds no held packets to release.
    let mut released = 0;
    cache.handle_frame(
        &arp_frame(ArpOperation::Reply, HOST_MAC, LAN_HOST4, LAN_GW4),
        at(4.0),
        |_| released += 1,
    );
    assert_eq!(released, 0);
}

#[test]
fn arp_reply_releases_held_packets_in_order() {
    let mut cache = cache();
    let host = IpAddr::V4(LAN_HOST4);
    let packets: Vec<Vec<u8>> = (0..4)
        .map(|i| udp4(PEER_NET4, LAN_HOST4, 63, 60 + i))
        .collect();
    for packet in &packets {
        cache.hold(host, packet, T0).unwrap();
    }
    assert_eq!(
        cache.hold(host, &packets[0], T0),
        Err(HoldError::DestinationFull),
        "per-destination limit of 4"
    );
    polled(&mut cache, T0);
    let mut released = Vec::new();
    cache.handle_frame(
        &arp_frame(ArpOperation::Reply, HOST_MAC, LAN_HOST4, LAN_GW4),
        at(0.2),
        |frame| released.push(frame.to_vec()),
    );
    assert_eq!(released.len(), 4);
    for (frame, packet) in released.iter().zip(&packets) {
        let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
        assert_eq!(
            (eth.dst_addr(), eth.src_addr(), eth.ethertype()),
            (HOST_MAC, OUR_MAC, EthernetProtocol::Ipv4)
        );
        assert_eq!(eth.payload(), &packet[..]);
    }
    assert_eq!(cache.resolve(host, at(1.0)), Resolution::Known(HOST_MAC));
    assert_eq!(cache.held_packets(), 0);
    assert_eq!(cache.next_deadline(), None);
    assert_eq!(cache.stats().resolved, 1);
    assert_eq!(cache.stats().released, 4);
}

#[test]
fn ndp_solicits_solicited_node_group_and_advert_resolves() {
    let mut cache = cache();
    let host = IpAddr::V6(LAN_HOST6);
    let packet = udp6(PEER_NET6, LAN_HOST6, 63, 120);
    cache.hold(host, &packet, T0).unwrap();
    let frames = polled(&mut cache, T0);
    assert_eq!(frames.len(), 1);
    let eth = EthernetFrame::new_checked(&frames[0][..]).unwrap();
    assert_eq!(
        eth.dst_addr(),
        EthernetAddress([0x33, 0x33, 0xff, 0, 0, 0x20])
    );
    assert_eq!(eth.ethertype(), EthernetProtocol::Ipv6);
    let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
    assert_eq!(ip.src_addr(), LAN_GW6);
    assert_eq!(
        ip.dst_addr(),
        "ff02::1:ff00:20".parse::<Ipv6Addr>().unwrap()
    );
    assert_eq!(ip.hop_limit(), 255);
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum(&ip.src_addr(), &ip.dst_addr()));
    match NdiscRepr::parse(&icmp).unwrap() {
        NdiscRepr::NeighborSolicit {
            target_addr,
            lladdr,
        } => {
            assert_eq!(target_addr, LAN_HOST6);
            assert_eq!(lladdr.unwrap().as_bytes(), OUR_MAC.as_bytes());
        }
        other => panic!("{other:?}"),
    }
    let mut released = Vec::new();
    cache.handle_frame(&neighbor_advert(LAN_HOST6, HOST_MAC), at(0.1), |frame| {
        released.push(frame.to_vec())
    });
    assert_eq!(released.len(), 1);
    assert_eq!(&released[0][14..], &packet[..]);
    assert_eq!(&released[0][..6], HOST_MAC.as_bytes());
    assert_eq!(cache.resolve(host, at(0.2)), Resolution::Known(HOST_MAC));
}

#[test]
fn advert_with_bad_checksum_or_hop_limit_is_ignored() {
    let mut cache = cache();
    let host = IpAddr::V6(LAN_HOST6);
    cache.resolve(host, T0);
    let mut bad_checksum = neighbor_advert(LAN_HOST6, HOST_MAC);
    let last = bad_checksum.len() - 1;
    bad_checksum[last] ^= 0xff;
    cache.handle_frame(&bad_checksum, T0, |_| {});
    let mut routed = neighbor_advert(LAN_HOST6, HOST_MAC);
    routed[14 + 7] = 64;
    cache.handle_frame(&routed, T0, |_| {});
    assert_eq!(cache.resolve(host, T0), Resolution::Pending);
}

#[test]
fn entries_expire_and_are_rechecked_by_unicast() {
    let mut cache = cache();
    let host = IpAddr::V4(LAN_HOST4);
    cache.handle_frame(
        &arp_frame(ArpOperation::Request, HOST_MAC, LAN_HOST4, LAN_GW4),
        T0,
        |_| {},
    );
    assert_eq!(cache.resolve(host, at(59.0)), Resolution::Known(HOST_MAC));
    assert_eq!(cache.next_deadline(), None);
    // Past 60 s the MAC is still used, but re-checked with a unicast request.
    assert_eq!(cache.resolve(host, at(61.0)), Resolution::Known(HOST_MAC));
    let frames = polled(&mut cache, at(61.0));
    assert_eq!(frames.len(), 1);
    assert_eq!(
        EthernetFrame::new_checked(&frames[0][..])
            .unwrap()
            .dst_addr(),
        HOST_MAC
    );
    // Unanswered: after three tries the entry is dropped.
    polled(&mut cache, at(62.0));
    polled(&mut cache, at(63.0));
    polled(&mut cache, at(64.0));
    assert_eq!(cache.lookup(host), None);
    assert_eq!(cache.resolve(host, at(65.0)), Resolution::Pending);
    // Answered re-check keeps the entry.
    let mut cache = self::cache();
    cache.handle_frame(
        &arp_frame(ArpOperation::Request, HOST_MAC, LAN_HOST4, LAN_GW4),
        T0,
        |_| {},
    );
    cache.resolve(host, at(61.0));
    polled(&mut cache, at(61.0));
    cache.handle_frame(
        &arp_frame(ArpOperation::Reply, HOST_MAC, LAN_HOST4, LAN_GW4),
        at(61.5),
        |_| {},
    );
    polled(&mut cache, at(70.0));
    assert_eq!(cache.resolve(host, at(70.0)), Resolution::Known(HOST_MAC));
    assert_eq!(cache.next_deadline(), None);
}

#[test]
fn unsolicited_arp_does_not_create_entries() {
    let mut cache = cache();
    // A request between two other hosts (not for our address): RFC 826 merges only.
    cache.handle_frame(
        &arp_frame(
            ArpOperation::Request,
            HOST_MAC,
            LAN_HOST4,
            Ipv4Addr::new(192, 168, 1, 30),
        ),
        T0,
        |_| {},
    );
    assert_eq!(cache.lookup(IpAddr::V4(LAN_HOST4)), None);
    // Nor may anyone claim the gateway's own address, or use a multicast MAC.
    cache.handle_frame(
        &arp_frame(ArpOperation::Reply, HOST_MAC, LAN_GW4, LAN_GW4),
        T0,
        |_| {},
    );
    assert_eq!(cache.lookup(IpAddr::V4(LAN_GW4)), None);
    let multicast_mac = EthernetAddress([0x01, 0, 0x5e, 0, 0, 1]);
    cache.handle_frame(
        &arp_frame(ArpOperation::Request, multicast_mac, LAN_HOST4, LAN_GW4),
        T0,
        |_| {},
    );
    assert_eq!(cache.lookup(IpAddr::V4(LAN_HOST4)), None);
}

#[test]
fn capacity_is_bounded() {
    let mut config = NeighborConfig::new(OUR_MAC, Some(LAN_GW4), Some(LAN_GW6));
    config.capacity = 4;
    config.hold_slots = 3;
    let mut cache = NeighborCache::new(config);
    let host = |i: u8| IpAddr::V4(Ipv4Addr::new(192, 168, 1, 100 + i));
    for i in 0..4 {
        assert_eq!(cache.resolve(host(i), T0), Resolution::Pending);
    }
    assert_eq!(
        cache.resolve(host(4), T0),
        Resolution::Unresolvable,
        "table full of incomplete entries"
    );
    assert_eq!(cache.stats().table_full, 1);
    let packet = udp4(PEER_NET4, LAN_HOST4, 63, 100);
    for i in 0..3 {
        cache.hold(host(i), &packet, T0).unwrap();
    }
    assert_eq!(cache.hold(host(3), &packet, T0), Err(HoldError::QueueFull));
    assert_eq!(
        cache.hold(host(0), &vec![0x45; 1501], T0),
        Err(HoldError::TooLarge)
    );
    // Resolved entries may be evicted for new ones; the oldest expiry goes first.
    let mac = |i: u8| EthernetAddress([2, 0, 0, 0, 1, i]);
    for i in 0..4 {
        let IpAddr::V4(ip) = host(i) else {
            unreachable!()
        };
        cache.handle_frame(
            &arp_frame(ArpOperation::Reply, mac(i), ip, LAN_GW4),
            at(f64::from(i)),
            |_| {},
        );
    }
    assert_eq!(cache.held_packets(), 0);
    assert_eq!(cache.resolve(host(4), at(5.0)), Resolution::Pending);
    assert_eq!(
        cache.lookup(host(0)),
        None,
        "host 0 had the earliest expiry"
    );
    assert_eq!(cache.lookup(host(1)), Some(mac(1)));
    assert_eq!(cache.stats().evicted, 1);
}

#[test]
fn unresolvable_addresses() {
    let mut cache = NeighborCache::new(NeighborConfig::new(OUR_MAC, Some(LAN_GW4), None));
    assert_eq!(
        cache.resolve(IpAddr::V6(LAN_HOST6), T0),
        Resolution::Unresolvable,
        "no IPv6 address to ask from"
    );
    assert_eq!(
        cache.resolve(IpAddr::V4(Ipv4Addr::BROADCAST), T0),
        Resolution::Unresolvable
    );
    assert_eq!(
        cache.resolve(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 1)), T0),
        Resolution::Unresolvable
    );
}

#[test]
fn ethernet_framing_helper() {
    let packet = udp6(PEER_NET6, LAN_HOST6, 63, 80);
    let mut frame = vec![0u8; 14];
    frame.extend_from_slice(&packet);
    write_ethernet_header(&mut frame, HOST_MAC, OUR_MAC).unwrap();
    let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
    assert_eq!(
        (eth.dst_addr(), eth.src_addr(), eth.ethertype()),
        (HOST_MAC, OUR_MAC, EthernetProtocol::Ipv6)
    );
    assert_eq!(eth.payload(), &packet[..]);
    assert!(write_ethernet_header(&mut [0u8; 14], HOST_MAC, OUR_MAC).is_err());
    assert!(write_ethernet_header(&mut [0u8; 40], HOST_MAC, OUR_MAC).is_err());
}
