//! The real gateway loop (engine, router, neighbor caches, fast path and
//! smoltcp) on fake NICs: delivery exactly once and in order, TTL and ICMP,
//! backpressure instead of loss, bad outer frames, and the counters.

mod gateway_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use gateway_support::frames::*;
use gateway_support::*;
use net::gateway::checksum;
use net::gateway::nic::RxChecksum;
use net::gateway::outer_frame::{
    classify, write_outer_frame, OuterDrop, OuterFrame, OuterIdentity, OuterRoute, MESSAGE_OFFSET,
};

const PACKETS: u32 = 100_000;

/// Pushes `count` numbered packets through, from the LAN (`from_lan`) or
/// from the peer, pacing by the receive ring's room, and returns how many
/// polls it took.
fn push(world: &mut World, count: u32, from_lan: bool, len: usize) {
    let mut next = 0u32;
    let mut steps = 0;
    while next < count {
        if from_lan {
            while next < count && world.gw.nics().1.rx_room() > 0 {
                assert!(world.lan_sends(&numbered_packet(LAN_HOST, REMOTE_HOST, next, len, 64)));
                next += 1;
            }
        } else {
            // Leave room for the ARP replies and handshakes the wire may add.
            while next < count && world.gw.nics().0.rx_room() > 8 {
                world.peer_sends(&numbered_packet(REMOTE_HOST, LAN_HOST, next, len, 64));
                next += 1;
            }
        }
        world.step();
        steps += 1;
        assert!(steps < 10 * count as usize + 1000, "no progress");
    }
    world.settle(1000);
}

fn assert_in_order(packets: &[Vec<u8>], count: u32, ttl: u8, len: usize) {
    assert_eq!(
        packets.len(),
        count as usize,
        "every packet arrives exactly once"
    );
    for (i, p) in packets.iter().enumerate() {
        assert_eq!(
            sequence_of(p),
            i as u32,
            "packets of one flow stay in order"
        );
        assert_eq!(p[8], ttl, "TTL decremented once by the gateway");
        assert_eq!(p.len(), len);
        assert_eq!(
            checksum::sum(&p[..20]),
            0xffff,
            "IPv4 header checksum still valid after the TTL change"
        );
    }
}

#[test]
fn a_hundred_thousand_packets_each_way_arrive_once_and_in_order() {
    let mut world = World::new(Rings::default());
    world.establish();
    push(&mut world, PACKETS, true, 200);
    assert_in_order(&world.at_peer, PACKETS, 63, 200);
    push(&mut world, PACKETS, false, 1400);
    assert_in_order(&world.at_lan_host, PACKETS, 63, 1400);

    assert_eq!(world.gw.stats().dropped(), 0, "{}", world.gw.stats());
    assert_eq!(world.outer_device_drops, 0);
    let engine = world.gw.engine().stats();
    assert_eq!(engine.total_dropped(), 0);
    let peer = world.gw.engine().peer_stats(net::PeerId(0)).unwrap();
    // Plus the one packet each way that set the path up.
    assert_eq!(peer.packets_received, u64::from(PACKETS) + 1);
    assert_eq!(peer.packets_sent, u64::from(PACKETS) + 1);
    let cycles = world.gw.stage_cycles();
    assert_eq!(cycles.to_peer.packets, u64::from(PACKETS) + 1);
    assert_eq!(cycles.to_lan.packets, u64::from(PACKETS) + 1);
    assert!(
        cycles.to_lan.stages.iter().all(|&c| c > 0),
        "every stage timed: {cycles:?}"
    );
    assert!(
        cycles.to_peer.stages.iter().all(|&c| c > 0),
        "every stage timed: {cycles:?}"
    );
    // One doorbell per poll, not per frame.
    let (outer, inner) = world.gw.nics();
    assert!(
        outer.doorbells * 8 < u64::from(PACKETS),
        "outer doorbells: {}",
        outer.doorbells
    );
    assert!(
        inner.doorbells * 8 < u64::from(PACKETS),
        "inner doorbells: {}",
        inner.doorbells
    );
}

#[test]
fn a_burst_larger_than_every_queue_waits_instead_of_being_dropped() {
    let mut world = World::new(Rings {
        rx: 64,
        tx: 16,
        offload: false,
    });
    world.establish();
    // The outer wire takes only three frames per step: the outer transmit
    // ring stays full, and the LAN's frames must wait in their ring.
    world.outer_drain = 3;
    let total = 2_000u32;
    let mut next = 0;
    let mut refused = 0;
    while next < total {
        // Offer more than the ring holds every time.
        for _ in 0..100 {
            if next == total {
                break;
            }
            if world.lan_sends(&numbered_packet(LAN_HOST, REMOTE_HOST, next, 300, 64)) {
                next += 1;
            } else {
                refused += 1;
                break;
            }
        }
        world.step();
    }
    world.settle(10_000);
    assert!(
        refused > 0,
        "the burst really was larger than the receive ring"
    );
    assert_in_order(&world.at_peer, total, 63, 300);
    assert_eq!(world.gw.stats().dropped(), 0, "{}", world.gw.stats());
    assert!(
        world.gw.stats().backpressure > 0,
        "the loop held frames back"
    );
    assert_eq!(
        world.gw.nics().0.tx.full,
        0,
        "never tried to send into a full ring"
    );
}

#[test]
fn the_peer_direction_backs_off_when_the_lan_is_slow() {
    let mut world = World::new(Rings {
        rx: 64,
        tx: 8,
        offload: false,
    });
    world.establish();
    world.inner_drain = 2;
    push(&mut world, 1_000, false, 1000);
    assert_in_order(&world.at_lan_host, 1_000, 63, 1000);
    assert_eq!(world.gw.stats().dropped(), 0, "{}", world.gw.stats());
}

#[test]
fn expired_ttl_and_unroutable_destinations_get_icmp_errors() {
    let mut world = World::new(Rings::default());
    world.establish();
    // From the LAN: TTL 1, and a destination no peer routes.
    world.lan_sends(&numbered_packet(LAN_HOST, REMOTE_HOST, 1, 100, 1));
    world.lan_sends(&numbered_packet(
        LAN_HOST,
        Ipv4Addr::new(203, 0, 113, 9),
        2,
        100,
        64,
    ));
    world.settle(100);
    let icmp: Vec<_> = world
        .at_lan_host
        .iter()
        .filter(|p| p[9] == 1)
        .map(|p| (p[20], p[21]))
        .collect();
    assert_eq!(
        icmp,
        vec![(11, 0), (3, 0)],
        "time exceeded, then net unreachable, back to the LAN host"
    );
    assert!(
        world.at_peer.is_empty(),
        "neither packet entered the tunnel"
    );
    // From the tunnel: TTL 1 comes back to the peer as time exceeded.
    world.peer_sends(&numbered_packet(REMOTE_HOST, LAN_HOST, 3, 100, 1));
    world.settle(100);
    assert_eq!(world.at_peer.len(), 1);
    let error = &world.at_peer[0];
    assert_eq!(
        (error[9], error[20]),
        (1, 11),
        "ICMP time exceeded through the tunnel"
    );
    assert_eq!(
        &error[16..20],
        &REMOTE_HOST.octets(),
        "addressed to the sender"
    );
    let router = world.gw.router().stats();
    assert_eq!(router.ttl_expired, 2);
    assert_eq!(router.no_route, 1);
}

#[test]
fn a_ping_to_the_gateway_through_the_tunnel_is_answered() {
    let mut world = World::new(Rings::default());
    world.establish();
    let mut echo = vec![8u8, 0, 0, 0, 0, 1, 0, 1];
    echo.extend_from_slice(b"ping through the tunnel");
    let c = checksum::finish(&[checksum::sum(&echo)]);
    echo[2..4].copy_from_slice(&c.to_be_bytes());
    let mut packet = ipv4_header(
        Ipv4Addr::new(10, 99, 0, 2),
        Ipv4Addr::new(10, 99, 0, 1),
        1,
        64,
        echo.len(),
    );
    packet.extend_from_slice(&echo);
    world.peer_sends(&packet);
    world.settle(100);
    assert_eq!(world.at_peer.len(), 1, "one echo reply");
    assert_eq!(world.at_peer[0][20], 0, "ICMP echo reply");
    assert_eq!(&world.at_peer[0][28..], b"ping through the tunnel");
}

struct Ours;

impl OuterIdentity for Ours {
    fn is_ours(&self, addr: IpAddr) -> bool {
        addr == IpAddr::V4(GW_OUTER_IP)
            || addr == IpAddr::V6("fd00::1".parse::<Ipv6Addr>().unwrap())
    }
    fn listen_port(&self) -> u16 {
        LISTEN_PORT
    }
}

fn datagram_frame(payload: &[u8], zero_checksum: bool) -> Vec<u8> {
    ethernet(
        GW_OUTER_MAC,
        PEER_MAC,
        0x0800,
        &ipv4_udp(peer_endpoint(), gw_endpoint(), payload, 64, zero_checksum),
    )
}

#[test]
fn outer_frames_are_classified_by_the_rfc_rules() {
    let good = datagram_frame(&[4, 0, 0, 0, 1, 2, 3, 4], false);
    let check = |frame: &[u8]| classify(frame, GW_OUTER_MAC, RxChecksum::Unchecked, &Ours);
    match check(&good) {
        OuterFrame::WireGuard { from, payload, ds } => {
            assert_eq!(ds, 0);
            assert_eq!(from, peer_endpoint());
            assert_eq!(&good[payload], &[4, 0, 0, 0, 1, 2, 3, 4]);
        }
        other => panic!("{other:?}"),
    }
    // A zero IPv4 UDP checksum means "none" (RFC 768).
    assert!(matches!(
        check(&datagram_frame(&[1; 8], true)),
        OuterFrame::WireGuard { .. }
    ));
    // Every truncation is dropped or left to the stack, never read past.
    for cut in 0..good.len() {
        assert!(
            !matches!(check(&good[..cut]), OuterFrame::WireGuard { .. }),
            "cut at {cut}"
        );
    }
    // Ethernet padding after the IP packet is fine.
    let mut padded = good.clone();
    padded.extend_from_slice(&[0; 10]);
    assert!(matches!(check(&padded), OuterFrame::WireGuard { .. }));
    // IP total length beyond the frame.
    let mut long = good.clone();
    long[16..18].copy_from_slice(&200u16.to_be_bytes());
    assert_eq!(check(&long), OuterFrame::Drop(OuterDrop::Malformed));
    // UDP length that disagrees with the IP length.
    let mut udp_len = good.clone();
    udp_len[38..40].copy_from_slice(&9u16.to_be_bytes());
    assert_eq!(check(&udp_len), OuterFrame::Drop(OuterDrop::Malformed));
    // A flipped payload bit breaks the UDP checksum; the device may vouch for it instead.
    let mut flipped = good.clone();
    flipped[45] ^= 1;
    assert_eq!(check(&flipped), OuterFrame::Drop(OuterDrop::BadChecksum));
    assert!(matches!(
        classify(&flipped, GW_OUTER_MAC, RxChecksum::Valid, &Ours),
        OuterFrame::WireGuard { .. }
    ));
    // A bad IPv4 header checksum.
    let mut header = good.clone();
    header[24] ^= 0x10;
    assert_eq!(check(&header), OuterFrame::Drop(OuterDrop::BadChecksum));
    // Fragments to the listen port: first and later ones.
    let mut first = good.clone();
    first[20] |= 0x20;
    refill_ipv4_checksum(&mut first);
    assert_eq!(check(&first), OuterFrame::Drop(OuterDrop::Fragment));
    let mut later = good.clone();
    later[20..22].copy_from_slice(&0x0010u16.to_be_bytes());
    refill_ipv4_checksum(&mut later);
    assert_eq!(check(&later), OuterFrame::Drop(OuterDrop::Fragment));
    // Other ports, other addresses, other MACs, ARP: the stack's.
    let other_port = ethernet(
        GW_OUTER_MAC,
        PEER_MAC,
        0x0800,
        &ipv4_udp(
            peer_endpoint(),
            SocketAddr::new(IpAddr::V4(GW_OUTER_IP), 53),
            &[0; 8],
            64,
            false,
        ),
    );
    assert_eq!(check(&other_port), OuterFrame::Stack);
    let mut other_mac = good.clone();
    other_mac[0] = 0xff;
    assert_eq!(check(&other_mac), OuterFrame::Stack);
    assert_eq!(
        check(&arp_reply(PEER_MAC, PEER_IP, GW_OUTER_MAC, GW_OUTER_IP)),
        OuterFrame::Stack
    );
}

fn refill_ipv4_checksum(frame: &mut [u8]) {
    frame[24..26].fill(0);
    let c = checksum::finish(&[checksum::sum(&frame[14..34])]);
    frame[24..26].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn ipv6_outer_headers_verify_with_and_without_offload() {
    let from = SocketAddr::new("fd00::1".parse().unwrap(), LISTEN_PORT);
    let to = SocketAddr::new("fd00::2".parse().unwrap(), PEER_PORT);
    let route = OuterRoute {
        from,
        to,
        src_mac: GW_OUTER_MAC,
        dst_mac: PEER_MAC,
    };
    let message: Vec<u8> = (0..77u8).collect();
    for offload in [false, true] {
        let mut buffer = vec![0u8; 2048];
        buffer[MESSAGE_OFFSET..MESSAGE_OFFSET + message.len()].copy_from_slice(&message);
        let tx = write_outer_frame(&mut buffer, message.len(), &route, 1, 0, offload).unwrap();
        let mut frame = buffer[tx.start..tx.start + tx.len].to_vec();
        assert_eq!(tx.checksum.is_some(), offload);
        if let Some((start, offset)) = tx.checksum {
            // Do what the device does.
            let (start, field) = (usize::from(start), usize::from(start + offset));
            let sum = checksum::finish(&[checksum::sum(&frame[start..])]);
            frame[field..field + 2].copy_from_slice(&sum.to_be_bytes());
        }
        // Reading it back as the peer would: the UDP checksum verifies.
        let mut back = frame.clone();
        back[..6].copy_from_slice(&GW_OUTER_MAC);
        let swapped = Ours6;
        match classify(&back, GW_OUTER_MAC, RxChecksum::Unchecked, &swapped) {
            OuterFrame::WireGuard { payload, .. } => assert_eq!(&back[payload], &message[..]),
            other => panic!("offload={offload}: {other:?} {back:02x?}"),
        }
    }
}

struct Ours6;

impl OuterIdentity for Ours6 {
    fn is_ours(&self, addr: IpAddr) -> bool {
        addr == IpAddr::V6("fd00::2".parse::<Ipv6Addr>().unwrap())
    }
    fn listen_port(&self) -> u16 {
        PEER_PORT
    }
}

#[test]
fn bad_outer_frames_are_counted_and_forwarding_goes_on() {
    let mut world = World::new(Rings::default());
    world.establish();
    let good = datagram_frame(&[4, 0, 0, 0, 1, 2, 3, 4], false);
    let mut long = good.clone();
    long[16..18].copy_from_slice(&200u16.to_be_bytes());
    let mut flipped = good.clone();
    flipped[45] ^= 1;
    let mut fragment = good.clone();
    fragment[20] |= 0x20;
    refill_ipv4_checksum(&mut fragment);
    for frame in [long, flipped, fragment, good[..30].to_vec()] {
        world.outer_inject(frame, RxChecksum::Unchecked);
    }
    world.settle(10);
    let stats = *world.gw.stats();
    assert_eq!(stats.outer_malformed, 1, "{stats}");
    assert_eq!(stats.outer_bad_checksum, 1, "{stats}");
    assert_eq!(stats.outer_fragment, 1, "{stats}");
    world.peer_sends(&numbered_packet(REMOTE_HOST, LAN_HOST, 0, 300, 64));
    world.settle(10);
    assert_eq!(world.at_lan_host.len(), 1, "traffic still flows");
}

#[test]
fn ten_thousand_random_frames_on_each_nic_break_nothing() {
    let mut world = World::new(Rings::default());
    world.establish();
    let mut random = xorshift(0x9e37_79b9_7f4a_7c15);
    let template = datagram_frame(&[4, 0, 0, 0, 9, 9, 9, 9, 1, 2, 3, 4, 5, 6, 7, 8], true);
    for i in 0..10_000 {
        let mut frame = if i % 2 == 0 {
            let len = (random() % 1600) as usize;
            (0..len).map(|_| random() as u8).collect::<Vec<u8>>()
        } else {
            let mut f = template.clone();
            for _ in 0..(random() % 4 + 1) {
                let at = (random() as usize) % f.len();
                f[at] ^= 1 << (random() % 8);
            }
            f.truncate((random() as usize % (f.len() + 1)).max(1));
            f
        };
        if i % 3 == 0 && frame.len() >= 6 {
            frame[..6].copy_from_slice(&GW_INNER_MAC);
            world.gw.nics().1.inject(frame, RxChecksum::Unchecked);
        } else {
            world.outer_inject(frame, RxChecksum::Unchecked);
        }
        if i % 100 == 0 {
            world.step();
        }
    }
    world.settle(100);
    world.advance(Duration::from_millis(10));
    world.at_lan_host.clear();
    world.at_peer.clear();
    world.peer_sends(&numbered_packet(REMOTE_HOST, LAN_HOST, 1, 300, 64));
    world.lan_sends(&numbered_packet(LAN_HOST, REMOTE_HOST, 2, 300, 64));
    world.settle(100);
    assert_eq!(
        world.at_lan_host.iter().filter(|p| p.len() == 300).count(),
        1,
        "still forwarding to the LAN"
    );
    assert_eq!(world.at_peer.len(), 1, "still forwarding to the peer");
}

#[test]
fn a_million_mutated_tunnel_frames_are_dropped_and_counted() {
    let mut world = World::new(Rings::default());
    world.establish();
    // Real transport-data frames from the peer, captured as the wire carries them.
    let mut originals = Vec::new();
    for seq in 0..16 {
        world.peer_sends(&numbered_packet(
            REMOTE_HOST,
            LAN_HOST,
            seq,
            64 + 90 * seq as usize,
            64,
        ));
        originals.push(world.gw.nics().0.peek_rx_last().expect("frame queued"));
    }
    world.settle(100);
    assert_eq!(world.at_lan_host.len(), 16);
    world.at_lan_host.clear();
    let engine_before = world.gw.engine().stats().total_dropped();
    let loop_before = world.gw.stats().dropped();
    let mut random = xorshift(0x2545_f491_4f6c_dd1d);
    let mutated = 1_000_000;
    for i in 0..mutated {
        let mut frame = originals[i % originals.len()].clone();
        // Flip one to three bits anywhere, sometimes cut the frame short.
        for _ in 0..(random() % 3 + 1) {
            let at = (random() as usize) % frame.len();
            frame[at] ^= 1 << (random() % 8);
        }
        if random().is_multiple_of(8) {
            frame.truncate((random() as usize % frame.len()).max(1));
        }
        if frame.len() >= 6 {
            frame[..6].copy_from_slice(&GW_OUTER_MAC);
        }
        if !world.outer_inject(frame, RxChecksum::Unchecked) {
            world.step();
        }
    }
    world.settle(1000);
    // Hardly any mutated frame survives (a flipped bit in the Ethernet
    // source, the IP TTL or identification field is harmless, but then the
    // replay window rejects the repeat): each one was dropped and counted
    // by the loop or the engine, or left to the stack.
    assert!(
        world.at_lan_host.len() < 16,
        "{} mutated frames reached the LAN",
        world.at_lan_host.len()
    );
    let counted = (world.gw.engine().stats().total_dropped() - engine_before)
        + (world.gw.stats().dropped() - loop_before);
    assert!(counted > mutated as u64 / 2, "only {counted} drops counted");
    world.at_lan_host.clear();
    world.peer_sends(&numbered_packet(REMOTE_HOST, LAN_HOST, 99, 300, 64));
    world.settle(100);
    assert_eq!(world.at_lan_host.len(), 1, "still forwarding");
}

const AF41: u8 = 0x88;
const ECT_1: u8 = 0b01;
const ECT_0: u8 = 0b10;
const CE: u8 = 0b11;
const NOT_ECT: u8 = 0;

/// A numbered packet whose DS byte (TOS) is `ds`.
fn packet_with_ds(src: Ipv4Addr, dst: Ipv4Addr, seq: u32, ds: u8) -> Vec<u8> {
    let mut packet = numbered_packet(src, dst, seq, 120, 64);
    set_ipv4_ds(&mut packet, ds);
    packet
}

fn handshake_marks(world: &World) -> Vec<(u8, u8)> {
    world
        .outer_marks
        .iter()
        .filter(|(_, kind, _)| *kind == 1 || *kind == 2)
        .map(|&(ds, kind, _)| (kind, ds))
        .collect()
}

#[test]
fn handshake_messages_leave_with_dscp_af41_as_initiator_and_responder() {
    // The gateway initiates (a LAN packet with no session yet); its first
    // initiation waits in the outer neighbor cache for the peer's MAC.
    let mut world = World::new(Rings::default());
    world.establish();
    let marks = handshake_marks(&world);
    assert!(!marks.is_empty());
    assert!(
        marks.iter().all(|&(kind, ds)| kind == 1 && ds == AF41),
        "initiations: {marks:?}"
    );
    // The peer initiates: the gateway's response is marked too.
    let mut world = World::new(Rings::default());
    world.peer_sends(&numbered_packet(REMOTE_HOST, LAN_HOST, 0, 100, 64));
    world.settle(50);
    assert_eq!(world.at_lan_host.len(), 1, "the peer's packet crossed");
    assert_eq!(handshake_marks(&world), vec![(2, AF41)], "one response");
    // A forced rekey, with the route cached: a fresh initiation, marked.
    world.at_lan_host.clear();
    world.outer_marks.clear();
    world.advance(Duration::from_secs(200));
    world.lan_sends(&numbered_packet(LAN_HOST, REMOTE_HOST, 1, 100, 64));
    world.settle(50);
    assert_eq!(handshake_marks(&world), vec![(1, AF41)], "the rekey");
}

#[test]
fn transport_data_carries_the_inner_ecn_bits_outside_and_no_dscp() {
    let mut world = World::new(Rings::default());
    // The very first packet waits for the handshake in the engine's
    // staging queue and is sealed there, not on the fast path.
    world.lan_sends(&packet_with_ds(LAN_HOST, REMOTE_HOST, 0, 0xb8 | ECT_0));
    world.settle(50);
    assert_eq!(world.at_peer.len(), 1);
    let data: Vec<u8> = world
        .outer_marks
        .iter()
        .filter(|m| m.1 == 4)
        .map(|m| m.0)
        .collect();
    assert_eq!(data, vec![ECT_0], "the staged packet's ECN, DSCP 0");
    // The fast path, with every DSCP and ECN combination that matters.
    for (seq, ds) in [
        0x00,
        ECT_0,
        ECT_1,
        CE,
        0xb8,
        0xb8 | ECT_0,
        0x28 | ECT_1,
        0xe0 | CE,
        0xfc,
        0xff,
    ]
    .into_iter()
    .enumerate()
    {
        world.outer_marks.clear();
        world.at_peer.clear();
        world.lan_sends(&packet_with_ds(LAN_HOST, REMOTE_HOST, seq as u32 + 1, ds));
        world.settle(50);
        assert_eq!(world.at_peer.len(), 1);
        assert_eq!(
            world
                .outer_marks
                .iter()
                .map(|m| (m.1, m.0))
                .collect::<Vec<_>>(),
            vec![(4, ds & 0b11)],
            "inner DS byte {ds:#04x}"
        );
        // The inner packet itself crosses unchanged (but for the TTL).
        assert_eq!(world.at_peer[0][1], ds);
    }
    // A keepalive has no inner packet: Not-ECT. The peer sends one packet,
    // the gateway has nothing to answer and keeps the session alive after
    // Keepalive-Timeout (10 s).
    world.outer_marks.clear();
    world.peer_sends(&packet_with_ds(REMOTE_HOST, LAN_HOST, 50, ECT_0));
    world.settle(50);
    world.advance(Duration::from_secs(11));
    world.settle(50);
    let keepalives: Vec<_> = world
        .outer_marks
        .iter()
        .filter(|m| m.1 == 4 && m.2 == 32)
        .collect();
    assert_eq!(keepalives, vec![&(NOT_ECT, 4, 32)]);
}

#[test]
fn outer_headers_carry_the_ds_byte_in_both_families_and_classify_reads_it_back() {
    let routes = [
        (
            SocketAddr::new(IpAddr::V4(GW_OUTER_IP), LISTEN_PORT),
            peer_endpoint(),
        ),
        (
            SocketAddr::new("fd00::1".parse().unwrap(), LISTEN_PORT),
            SocketAddr::new("fd00::2".parse().unwrap(), PEER_PORT),
        ),
    ];
    let message: Vec<u8> = (0..64u8).collect();
    for (from, to) in routes {
        for ds in [0, AF41, ECT_0, CE, 0xff] {
            let route = OuterRoute {
                from,
                to,
                src_mac: GW_OUTER_MAC,
                dst_mac: PEER_MAC,
            };
            let mut buffer = vec![0u8; 2048];
            buffer[MESSAGE_OFFSET..MESSAGE_OFFSET + message.len()].copy_from_slice(&message);
            let tx = write_outer_frame(&mut buffer, message.len(), &route, 9, ds, false).unwrap();
            let mut frame = buffer[tx.start..tx.start + tx.len].to_vec();
            let ip = &frame[14..];
            if to.is_ipv4() {
                assert_eq!(ip[1], ds);
                assert_eq!(checksum::sum(&ip[..20]), 0xffff, "header checksum");
            } else {
                // Version 6, then the traffic class, then a zero flow label.
                assert_eq!(ip[0], 0x60 | (ds >> 4));
                assert_eq!(ip[1], ds << 4);
                assert_eq!(&ip[2..4], &[0, 0]);
            }
            // The peer's classifier sees the same byte.
            frame[..6].copy_from_slice(&GW_OUTER_MAC);
            let classified = if to.is_ipv4() {
                struct Peer4;
                impl OuterIdentity for Peer4 {
                    fn is_ours(&self, addr: IpAddr) -> bool {
                        addr == IpAddr::V4(PEER_IP)
                    }
                    fn listen_port(&self) -> u16 {
                        PEER_PORT
                    }
                }
                classify(&frame, GW_OUTER_MAC, RxChecksum::Unchecked, &Peer4)
            } else {
                classify(&frame, GW_OUTER_MAC, RxChecksum::Unchecked, &Ours6)
            };
            match classified {
                OuterFrame::WireGuard {
                    ds: seen, payload, ..
                } => {
                    assert_eq!(seen, ds, "{to}");
                    assert_eq!(&frame[payload], &message[..]);
                }
                other => panic!("{to} ds={ds:#x}: {other:?}"),
            }
        }
    }
}

/// Tunnels a packet with inner DS byte `inner` from the peer, its outer
/// header carrying `outer`; returns the DS byte it reached the LAN with.
fn through_the_tunnel(world: &mut World, seq: u32, inner: u8, outer: u8) -> Option<u8> {
    world.at_lan_host.clear();
    world.peer_outer_ds = Some(outer);
    world.peer_sends(&packet_with_ds(REMOTE_HOST, LAN_HOST, seq, inner));
    world.peer_outer_ds = None;
    world.settle(50);
    assert!(world.at_lan_host.len() <= 1);
    let packet = world.at_lan_host.first()?;
    assert_eq!(
        checksum::sum(&packet[..20]),
        0xffff,
        "IPv4 header checksum valid after the ECN and TTL changes"
    );
    assert_eq!(packet[8], 63, "TTL decremented");
    assert_eq!(sequence_of(packet), seq, "the payload is the one sent");
    Some(packet[1])
}

#[test]
fn rfc_6040_decapsulation_marks_congestion_and_drops_what_cannot_carry_it() {
    let mut world = World::new(Rings::default());
    world.establish();
    let mut seq = 0;
    let mut expected_drops = 0;
    for inner_ecn in [NOT_ECT, ECT_0, ECT_1, CE] {
        for outer_ecn in [NOT_ECT, ECT_0, ECT_1, CE] {
            // Neither header's DSCP plays a part, nor changes.
            let inner = 0xa0 | inner_ecn;
            let outer = AF41 | outer_ecn;
            let expected = match (inner_ecn, outer_ecn) {
                (NOT_ECT, CE) => None,
                (ECT_0 | ECT_1, CE) => Some(0xa0 | CE),
                (ECT_0, ECT_1) => Some(0xa0 | ECT_1),
                _ => Some(inner),
            };
            seq += 1;
            let arrived = through_the_tunnel(&mut world, seq, inner, outer);
            assert_eq!(
                arrived, expected,
                "inner {inner_ecn:02b}, outer {outer_ecn:02b}"
            );
            if expected.is_none() {
                expected_drops += 1;
            }
        }
    }
    let stats = *world.gw.stats();
    assert_eq!(stats.tunnel_ce_not_ect, expected_drops, "{stats}");
    assert_eq!(stats.dropped(), expected_drops, "{stats}");
    let counters = net::gateway::loop_counters(&world.gw);
    assert!(
        counters.contains(&("loop_drop_tunnel_ce_not_ect".to_string(), expected_drops)),
        "{counters:?}"
    );
    // The drop is the packet's alone: the session carries on.
    assert_eq!(
        through_the_tunnel(&mut world, 99, NOT_ECT, NOT_ECT),
        Some(0)
    );
}
