//! The LAN neighbor cache: ARP and NDP input, resolution and the hold queue.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::time::Duration;

use net::router::{EthernetAddress, NeighborCache, NeighborConfig, Resolution};
use net::Instant;

use crate::input::{fix_icmpv6_checksum, Input};

/// The gateway's MAC address on the LAN.
pub const OUR_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

/// One of a few LAN addresses, so that frames and resolutions meet.
fn address(n: u8) -> IpAddr {
    let host = n >> 1 & 7;
    if n & 1 == 0 {
        IpAddr::V4(Ipv4Addr::new(192, 168, 1, 16 + host))
    } else {
        IpAddr::V6(Ipv6Addr::new(
            0xfd00,
            1,
            0,
            0,
            0,
            0,
            0,
            0x20 + u16::from(host),
        ))
    }
}

/// A sequence of received frames, resolutions, held packets and passing
/// time. Frames the cache sends come from our MAC; a packet it releases is
/// one that was held, sent once, to the MAC the cache then knows; the hold
/// queue stays within its slots; no multicast MAC is ever learned.
pub fn neighbor(data: &[u8]) {
    let config = NeighborConfig::new(
        EthernetAddress(OUR_MAC),
        Some(Ipv4Addr::new(192, 168, 1, 1)),
        Some(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 1)),
    );
    let slots = config.hold_slots;
    let mut cache = NeighborCache::new(config);
    let mut input = Input::new(data);
    let mut now = Instant::from_secs(1);
    let mut held: Vec<(IpAddr, Vec<u8>)> = Vec::new();
    let mut ops = 0;
    while !input.is_empty() && ops < 256 {
        ops += 1;
        let op = input.u8();
        match op & 3 {
            0 => {
                let len = usize::from(input.u8()) + usize::from(op >> 6) * 256;
                let mut frame = input.bytes(len).to_vec();
                if op & 4 != 0 && frame.len() > 14 {
                    fix_icmpv6_checksum(&mut frame[14..]);
                }
                let mut released = Vec::new();
                cache.handle_frame(&frame, now, |out| released.push(out.to_vec()));
                for out in released {
                    assert!(out.len() >= 14, "a frame without an Ethernet header");
                    assert_eq!(out[6..12], OUR_MAC, "a frame not from us");
                    let payload = &out[14..];
                    let position = held
                        .iter()
                        .position(|(_, p)| p == payload)
                        .expect("a released packet that was never held (or twice)");
                    let (ip, _) = held.remove(position);
                    let mac = cache.lookup(ip).expect("released before it is known");
                    assert_eq!(out[..6], mac.0, "released to another MAC");
                }
            }
            1 => {
                let step = u64::from(input.u16()) * if op & 4 != 0 { 1000 } else { 1 };
                now = now.saturating_add(Duration::from_millis(step));
                let mut sent = Vec::new();
                cache.poll(now, |out| sent.push(out.to_vec()));
                for out in sent {
                    assert!(out.len() >= 42, "a request of {} bytes", out.len());
                    assert_eq!(out[6..12], OUR_MAC, "a request not from us");
                }
            }
            2 => {
                let ip = address(input.u8());
                if let Resolution::Known(mac) = cache.resolve(ip, now) {
                    assert!(mac.is_unicast());
                }
            }
            _ => {
                let ip = address(input.u8());
                // Unique contents (the operation's number first), so a
                // released packet names the one held.
                let len = usize::from(input.u8()) * 8;
                let mut packet = (ops as u16).to_be_bytes().to_vec();
                packet.extend((0..len).map(|i| (i as u8) ^ op));
                if cache.hold(ip, &packet, now).is_ok() {
                    held.push((ip, packet));
                }
            }
        }
        assert!(cache.held_packets() <= slots);
        // Held packets the cache gave up on are gone: never more than we held.
        assert!(cache.held_packets() <= held.len());
        for n in 0..16 {
            if let Some(mac) = cache.lookup(address(n)) {
                assert!(mac.is_unicast(), "learned a multicast MAC");
            }
        }
    }
}
