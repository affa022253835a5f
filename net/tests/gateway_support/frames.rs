//! Building and reading the frames the fake wires carry.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use net::gateway::checksum;

pub fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An ARP request's (sender MAC, sender IP, target IP), if `frame` is one.
pub fn arp_request(frame: &[u8]) -> Option<([u8; 6], Ipv4Addr, Ipv4Addr)> {
    if frame.len() < 42 || frame[12..14] != [0x08, 0x06] || frame[20..22] != [0, 1] {
        return None;
    }
    let a = &frame[14..];
    let mac: [u8; 6] = a[8..14].try_into().ok()?;
    let sender = Ipv4Addr::new(a[14], a[15], a[16], a[17]);
    let target = Ipv4Addr::new(a[24], a[25], a[26], a[27]);
    Some((mac, sender, target))
}

/// The ARP reply `owner_mac` sends for `owner_ip` to the asker.
pub fn arp_reply(
    owner_mac: [u8; 6],
    owner_ip: Ipv4Addr,
    asker_mac: [u8; 6],
    asker_ip: Ipv4Addr,
) -> Vec<u8> {
    let mut a = vec![0u8, 1, 0x08, 0x00, 6, 4, 0, 2];
    a.extend_from_slice(&owner_mac);
    a.extend_from_slice(&owner_ip.octets());
    a.extend_from_slice(&asker_mac);
    a.extend_from_slice(&asker_ip.octets());
    ethernet(asker_mac, owner_mac, 0x0806, &a)
}

/// An IPv4 header (checksum filled) for a packet of `payload_len` bytes.
pub fn ipv4_header(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ttl: u8,
    payload_len: usize,
) -> Vec<u8> {
    let total = (20 + payload_len) as u16;
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0x40, 0, ttl, protocol, 0, 0]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    let c = checksum::finish(&[checksum::sum(&h)]);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

/// A UDP-in-IPv4 packet with a correct (or, with `zero_checksum`, absent) UDP checksum.
pub fn ipv4_udp(
    from: SocketAddr,
    to: SocketAddr,
    payload: &[u8],
    ttl: u8,
    zero_checksum: bool,
) -> Vec<u8> {
    ipv4_udp_ds(from, to, payload, ttl, zero_checksum, 0)
}

/// [`ipv4_udp`] with `ds` as its DS byte (TOS).
pub fn ipv4_udp_ds(
    from: SocketAddr,
    to: SocketAddr,
    payload: &[u8],
    ttl: u8,
    zero_checksum: bool,
    ds: u8,
) -> Vec<u8> {
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (from.ip(), to.ip()) else {
        panic!("IPv4 only")
    };
    let udp_len = 8 + payload.len();
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&from.port().to_be_bytes());
    udp.extend_from_slice(&to.port().to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    if !zero_checksum {
        let pseudo = checksum::pseudo_header(from.ip(), to.ip(), 17, udp_len as u32);
        let c = checksum::finish(&[pseudo, checksum::sum(&udp)]);
        let c = if c == 0 { 0xffff } else { c };
        udp[6..8].copy_from_slice(&c.to_be_bytes());
    }
    let mut p = ipv4_header(src, dst, 17, ttl, udp_len);
    set_ipv4_ds(&mut p, ds);
    p.extend_from_slice(&udp);
    p
}

/// Rewrites an IPv4 packet's DS byte (TOS) and its header checksum.
pub fn set_ipv4_ds(packet: &mut [u8], ds: u8) {
    packet[1] = ds;
    packet[10..12].fill(0);
    let c = checksum::finish(&[checksum::sum(&packet[..20])]);
    packet[10..12].copy_from_slice(&c.to_be_bytes());
}

/// A UDP datagram in an IPv4 frame: (from, to, payload), checking the IP
/// header checksum and a non-zero UDP checksum.
pub fn read_ipv4_udp(frame: &[u8]) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
    if frame.len() < 42 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    assert_eq!(
        checksum::sum(&ip[..20]),
        0xffff,
        "bad IPv4 header checksum from the gateway"
    );
    if ip[9] != 17 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let udp = &ip[20..total];
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let from = SocketAddr::new(IpAddr::V4(src), u16::from_be_bytes([udp[0], udp[1]]));
    let to = SocketAddr::new(IpAddr::V4(dst), u16::from_be_bytes([udp[2], udp[3]]));
    assert_eq!(
        usize::from(u16::from_be_bytes([udp[4], udp[5]])),
        udp.len(),
        "UDP length disagrees"
    );
    if udp[6..8] != [0, 0] {
        let pseudo = checksum::pseudo_header(from.ip(), to.ip(), 17, udp.len() as u32);
        assert_eq!(
            checksum::finish(&[pseudo, checksum::sum(udp)]),
            0,
            "bad UDP checksum from the gateway"
        );
    }
    Some((from, to, udp[8..].to_vec()))
}

/// The IP packet in an IPv4 or IPv6 frame.
pub fn ip_payload(frame: &[u8]) -> Option<&[u8]> {
    match frame.get(12..14)? {
        [0x08, 0x00] | [0x86, 0xdd] => Some(&frame[14..]),
        _ => None,
    }
}

/// An inner test packet: UDP from `src` to `dst` carrying `seq` and filler
/// up to `len` bytes of IP packet.
pub fn numbered_packet(src: Ipv4Addr, dst: Ipv4Addr, seq: u32, len: usize, ttl: u8) -> Vec<u8> {
    let mut payload = vec![0u8; len - 28];
    payload[..4].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in payload[4..].iter_mut().enumerate() {
        *b = (seq as usize + i) as u8;
    }
    ipv4_udp(
        SocketAddr::new(IpAddr::V4(src), 4000),
        SocketAddr::new(IpAddr::V4(dst), 5000),
        &payload,
        ttl,
        false,
    )
}

/// The sequence number of a [`numbered_packet`].
pub fn sequence_of(packet: &[u8]) -> u32 {
    u32::from_be_bytes(packet[28..32].try_into().unwrap())
}
