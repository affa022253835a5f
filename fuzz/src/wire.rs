//! Building and checking the frames on the whole-loop target's fake wires.

use crate::input::{fix_ipv4_checksum, ones_sum};

/// An Ethernet frame.
pub fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IPv4 packet (DF set, ID 0x1234) with a valid header checksum.
pub fn ipv4(src: [u8; 4], dst: [u8; 4], protocol: u8, ttl: u8, ds: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()).min(usize::from(u16::MAX)) as u16;
    let mut p = vec![0x45, ds];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0x12, 0x34, 0x40, 0, ttl, protocol, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(payload);
    fix_ipv4_checksum(&mut p);
    p
}

/// A UDP header and payload with the IPv4 checksum filled in.
pub fn udp_v4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = Vec::with_capacity(usize::from(len));
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let mut sum = u32::from(ones_sum(0, &src));
    sum += u32::from(ones_sum(0, &dst));
    sum += 17 + u32::from(len);
    let c = !ones_sum(sum, &u);
    let c = if c == 0 { 0xffff } else { c };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

/// The RFC 768/8200 checksum of a UDP datagram over IPv6 is right.
pub fn udp_v6_checksum_ok(ip: &[u8], udp: &[u8]) -> bool {
    let mut sum = u32::from(ones_sum(0, &ip[8..40]));
    sum += 17 + udp.len() as u32;
    ones_sum(sum, udp) == 0xffff
}

/// An ARP request's (sender MAC, sender IP, target IP).
pub fn arp_request(frame: &[u8]) -> Option<([u8; 6], [u8; 4], [u8; 4])> {
    let a = frame.get(14..42)?;
    if a[..8] != [0, 1, 8, 0, 6, 4, 0, 1] {
        return None;
    }
    Some((
        a[8..14].try_into().ok()?,
        a[14..18].try_into().ok()?,
        a[24..28].try_into().ok()?,
    ))
}

/// The reply `owner_mac` sends for `target` to the asker.
pub fn arp_reply(owner_mac: [u8; 6], target: [u8; 4], asker: ([u8; 6], [u8; 4])) -> Vec<u8> {
    let mut a = vec![0u8, 1, 8, 0, 6, 4, 0, 2];
    a.extend_from_slice(&owner_mac);
    a.extend_from_slice(&target);
    a.extend_from_slice(&asker.0);
    a.extend_from_slice(&asker.1);
    ethernet(asker.0, owner_mac, 0x0806, &a)
}

/// Checks the structure of an IP packet on a wire; returns its protocol
/// (next header) and where its payload starts.
pub fn check_ip(packet: &[u8], wire: &str) -> Option<(u8, usize)> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => {
            assert!(packet.len() >= 20, "{wire}: IPv4 shorter than its header");
            let ihl = usize::from(packet[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
            assert!(
                ihl >= 20 && ihl <= total && total <= packet.len(),
                "{wire}: IPv4 lengths: header {ihl}, total {total}, frame {}",
                packet.len()
            );
            assert!(packet[8] > 0, "{wire}: IPv4 with TTL 0");
            Some((packet[9], ihl))
        }
        Some(6) => {
            assert!(packet.len() >= 40, "{wire}: IPv6 shorter than its header");
            let payload = usize::from(u16::from_be_bytes([packet[4], packet[5]]));
            assert!(40 + payload <= packet.len(), "{wire}: IPv6 payload length");
            assert!(packet[7] > 0, "{wire}: IPv6 with hop limit 0");
            Some((packet[6], 40))
        }
        _ => panic!(
            "{wire}: an IP ethertype on a packet of version {:?}",
            packet.first()
        ),
    }
}

/// A WireGuard message has the size its type gives.
pub fn check_wireguard(message: &[u8]) {
    assert!(
        message.len() >= 4 && message[1..4] == [0, 0, 0],
        "not a WireGuard message: {:02x?}",
        &message[..message.len().min(48)]
    );
    let ok = match message[0] {
        1 => message.len() == 148,
        2 => message.len() == 92,
        3 => message.len() == 64,
        4 => message.len() >= 32,
        _ => false,
    };
    assert!(
        ok,
        "WireGuard type {} with {} bytes",
        message[0],
        message.len()
    );
}
