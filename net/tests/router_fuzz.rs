//! A million random and mutated inputs through every entry point that reads
//! packets: nothing may panic, and verdict lengths must stay in bounds.

mod router_support;

use core::net::IpAddr;

use net::router::{
    fragment_ipv4, EthernetAddress, LanVerdict, NeighborCache, NeighborConfig, TunnelVerdict,
};
use net::Instant;
use router_support::*;

const ITERATIONS: usize = 1_000_000;

/// Seeds that reach deep paths: valid packets of both families, ARP and NDP shapes.
fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![
        udp4(LAN_HOST4, PEER_NET4, 64, 100),
        udp4(LAN_HOST4, PEER_NET4, 1, 60),
        udp4(PEER_NET4, LAN_HOST4, 64, 1500),
        udp4(LAN_HOST4, "8.8.8.8".parse().unwrap(), 64, 80),
        udp6(LAN_HOST6, PEER_NET6, 64, 100),
        udp6(PEER_NET6, LAN_HOST6, 64, 1400),
        ipv6(
            LAN_HOST6,
            "2001:db8::1".parse().unwrap(),
            smoltcp::wire::IpProtocol::HopByHop,
            64,
            120,
        ),
        ipv6(
            LAN_HOST6,
            "2001:db8::1".parse().unwrap(),
            smoltcp::wire::IpProtocol::Ipv6Frag,
            64,
            120,
        ),
    ];
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[
        2, 0, 0, 0, 0, 0x20, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 2, 2, 0, 0, 0, 0, 0x20, 192, 168, 1,
        20,
    ]);
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 192, 168, 1, 1]);
    seeds.push(arp);
    let mut nd = vec![
        0x33, 0x33, 0xff, 0, 0, 0x20, 2, 0, 0, 0, 0, 0x20, 0x86, 0xdd,
    ];
    let mut na = udp6(LAN_HOST6, LAN_GW6, 255, 72);
    na[6] = 58;
    na[40] = 136;
    na[64] = 2;
    na[65] = 1;
    nd.extend_from_slice(&na);
    seeds.push(nd);
    seeds
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], buffer: &mut Vec<u8>) {
    buffer.clear();
    if rng.below(8) == 0 {
        let len = rng.below(1600);
        buffer.extend((0..len).map(|_| rng.next_u64() as u8));
        return;
    }
    buffer.extend_from_slice(&seeds[rng.below(seeds.len())]);
    let flips = 1 + rng.below(6);
    for _ in 0..flips {
        match rng.below(4) {
            0 if !buffer.is_empty() => {
                let i = rng.below(buffer.len());
                buffer[i] = rng.next_u64() as u8;
            }
            1 if !buffer.is_empty() => {
                // Concentrate on the header bytes.
                let i = rng.below(buffer.len().min(64));
                buffer[i] ^= 1 << rng.below(8);
            }
            2 => buffer.truncate(rng.below(buffer.len() + 1)),
            _ => buffer.extend((0..rng.below(40)).map(|_| rng.next_u64() as u8)),
        }
    }
    // Keep IPv4 header checksums valid half the time so mutations get past the check.
    if rng.below(2) == 0 && buffer.len() >= 20 && buffer[0] >> 4 == 4 {
        let ihl = usize::from(buffer[0] & 0x0f) * 4;
        if ihl >= 20 && ihl <= buffer.len() {
            buffer[10] = 0;
            buffer[11] = 0;
            let sum = !ones_sum(&buffer[..ihl]);
            buffer[10..12].copy_from_slice(&sum.to_be_bytes());
        }
    }
}

#[test]
fn random_inputs_never_panic() {
    let mut rng = Rng(0x5eed);
    let seeds = seeds();
    let mut router = router();
    let mut cache = NeighborCache::new(NeighborConfig::new(
        EthernetAddress([2, 0, 0, 0, 0, 1]),
        Some(LAN_GW4),
        Some(LAN_GW6),
    ));
    let mut buffer = Vec::with_capacity(2048);
    let mut reply = [0u8; 1280];
    let mut small_reply = [0u8; 64];
    let mut scratch = [0u8; 1500];
    let mut now = Instant::from_secs(1);
    let mut forwarded = 0u64;
    for iteration in 0..ITERATIONS {
        now = now.saturating_add(core::time::Duration::from_micros(rng.below(2000) as u64));
        mutate(&mut rng, &seeds, &mut buffer);
        let reply_buffer: &mut [u8] = if iteration % 16 == 0 {
            &mut small_reply
        } else {
            &mut reply
        };
        let reply_len = reply_buffer.len();
        match iteration % 4 {
            0 => match router.route_from_lan(&mut buffer, lookup, now, reply_buffer) {
                LanVerdict::Tunnel { len, .. } => {
                    assert!(len <= buffer.len());
                    forwarded += 1;
                }
                LanVerdict::Fragment { len, mtu, .. } => {
                    assert!(len <= buffer.len());
                    let _ = fragment_ipv4(&buffer[..len], usize::from(mtu), &mut scratch, |f| {
                        assert!(f.len() <= usize::from(mtu))
                    });
                }
                LanVerdict::Reply { len, .. } => assert!(len <= reply_len),
                LanVerdict::Local | LanVerdict::Drop(_) => {}
            },
            1 => match router.route_from_tunnel(&mut buffer, now, reply_buffer) {
                TunnelVerdict::Lan { len, next_hop } => {
                    assert!(len <= buffer.len());
                    forwarded += 1;
                    if cache.resolve(next_hop, now) == net::router::Resolution::Pending {
                        let _ = cache.hold(next_hop, &buffer[..len], now);
                    }
                }
                TunnelVerdict::Fragment { len, .. } => assert!(len <= buffer.len()),
                TunnelVerdict::Reply { len, .. } => assert!(len <= reply_len),
                TunnelVerdict::Local | TunnelVerdict::Drop(_) => {}
            },
            2 => {
                cache.handle_frame(&buffer, now, |frame| assert!(frame.len() >= 14));
                cache.poll(now, |frame| assert!(frame.len() >= 42));
            }
            _ => {
                let mtu = 1 + rng.below(1600);
                let _ = fragment_ipv4(&buffer, mtu, &mut scratch, |f| assert!(f.len() <= mtu));
                let _ = net::router::error_allowed(&buffer, net::router::IcmpErrorKind::NoRoute);
                let source = if rng.below(2) == 0 {
                    IpAddr::V4(LAN_GW4)
                } else {
                    IpAddr::V6(LAN_GW6)
                };
                let _ = net::router::build_error(
                    net::router::IcmpErrorKind::PacketTooBig { mtu: 1280 },
                    &buffer,
                    source,
                    reply_buffer,
                );
            }
        }
    }
    // The seeds are good packets: a fair share must have made it through.
    assert!(forwarded > 10_000, "forwarded {forwarded}");
    let stats = router.stats();
    assert!(stats.malformed > 0 && stats.bad_checksum > 0 && stats.icmp_sent > 0);
}
