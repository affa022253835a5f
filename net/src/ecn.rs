//! The DS field (the IPv4 TOS byte, the IPv6 traffic class) of what crosses
//! the tunnel: the mark our handshake messages carry, and Explicit
//! Congestion Notification across the encapsulation (RFC 6040).
//!
//! Like Linux's WireGuard, handshake initiations and responses leave with
//! DSCP AF41 so that a congested path keeps them ahead of bulk traffic, and
//! a transport message's outer header carries the ECN bits of the packet
//! inside it and DSCP 0 (the inner DSCP is not revealed). On the way in, a
//! congestion mark (CE) the path set on the outer header is carried to the
//! inner packet, so the endpoints' congestion control sees it; an inner
//! packet that is not ECN-capable cannot carry the mark and is dropped, as
//! a congested router would have dropped it (RFC 6040 §4.2).

/// DSCP AF41 (class 4, low drop precedence) in the DS byte: what Linux's
/// WireGuard sends handshake initiations and responses with.
pub const HANDSHAKE_DS: u8 = 0x88;
/// The ECN bits of the DS byte.
pub const ECN_MASK: u8 = 0b11;
/// Not ECN-capable transport.
pub const NOT_ECT: u8 = 0b00;
/// ECN-capable transport, codepoint 1.
pub const ECT_1: u8 = 0b01;
/// ECN-capable transport, codepoint 0.
pub const ECT_0: u8 = 0b10;
/// Congestion experienced.
pub const CE: u8 = 0b11;

/// The DS byte of an IP packet (the IPv4 TOS byte or the IPv6 traffic
/// class); 0 for anything shorter than two bytes or of another version.
pub fn ds_field(packet: &[u8]) -> u8 {
    match packet {
        [first, second, ..] if first >> 4 == 4 => *second,
        [first, second, ..] if first >> 4 == 6 => (first << 4) | (second >> 4),
        _ => 0,
    }
}

/// The outer DS byte for a transport message carrying `inner`: its ECN bits
/// copied as they are (RFC 6040 §4.1, normal mode), DSCP 0. A keepalive
/// (no inner packet) is Not-ECT.
pub fn encapsulate(inner: &[u8]) -> u8 {
    ds_field(inner) & ECN_MASK
}

/// Why a decapsulated packet was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CeOnNotEct;

/// Applies RFC 6040 §4.2 to the IP packet `inner` that arrived in a datagram
/// whose outer DS byte was `outer`, rewriting its ECN field in place (and the
/// IPv4 header checksum with it):
///
/// | inner \ outer | Not-ECT | ECT(0) | ECT(1) | CE     |
/// |---------------|---------|--------|--------|--------|
/// | Not-ECT       | —       | —      | —      | drop   |
/// | ECT(0)        | —       | —      | ECT(1) | CE     |
/// | ECT(1)        | —       | —      | —      | CE     |
/// | CE            | —       | —      | —      | —      |
///
/// (— leaves the inner packet as it is.) `Err` means the packet must be
/// dropped. A packet that is neither IPv4 nor IPv6, or too short for its
/// fixed header, is left alone (the router drops it).
pub fn decapsulate(outer: u8, inner: &mut [u8]) -> Result<(), CeOnNotEct> {
    let outer = outer & ECN_MASK;
    let Some(current) = ecn_field(inner) else {
        return Ok(());
    };
    let wanted = match (current, outer) {
        (NOT_ECT, CE) => return Err(CeOnNotEct),
        (ECT_0 | ECT_1, CE) => CE,
        (ECT_0, ECT_1) => ECT_1,
        _ => return Ok(()),
    };
    set_ecn(inner, wanted);
    Ok(())
}

/// The ECN bits of an IPv4 or IPv6 packet at least as long as its fixed header.
fn ecn_field(packet: &[u8]) -> Option<u8> {
    match packet.first()? >> 4 {
        4 if packet.len() >= 20 => Some(packet[1] & ECN_MASK),
        6 if packet.len() >= 40 => Some((packet[1] >> 4) & ECN_MASK),
        _ => None,
    }
}

/// Replaces the ECN bits of `packet`'s DS byte (one [`ecn_field`] accepts).
fn set_ecn(packet: &mut [u8], ecn: u8) {
    match packet[0] >> 4 {
        4 => {
            let old_word = u16::from_be_bytes([packet[0], packet[1]]);
            packet[1] = (packet[1] & !ECN_MASK) | ecn;
            let new_word = u16::from_be_bytes([packet[0], packet[1]]);
            let old_checksum = u16::from_be_bytes([packet[10], packet[11]]);
            let checksum = crate::router::checksum::update_word(old_checksum, old_word, new_word);
            packet[10..12].copy_from_slice(&checksum.to_be_bytes());
        }
        // The traffic class straddles bytes 0 and 1: its ECN bits are bits
        // 4 and 5 of byte 1. IPv6 has no header checksum.
        _ => {
            packet[1] = (packet[1] & !(ECN_MASK << 4)) | (ecn << 4);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::checksum;

    fn ipv4(ds: u8) -> [u8; 28] {
        let mut p = [0u8; 28];
        p[..20].copy_from_slice(&[
            0x45, ds, 0, 28, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        let c = checksum::finish(&[checksum::sum(&p[..20])]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p
    }

    fn ipv6(traffic_class: u8) -> [u8; 48] {
        let mut p = [0u8; 48];
        p[0] = 0x60 | (traffic_class >> 4);
        p[1] = (traffic_class << 4) | 0x0a; // and some flow label bits
        p[2] = 0xbc;
        p[5] = 8;
        p
    }

    #[test]
    fn the_ds_byte_of_both_versions() {
        assert_eq!(ds_field(&ipv4(0xb9)), 0xb9);
        assert_eq!(ds_field(&ipv6(0xb9)), 0xb9);
        assert_eq!(ds_field(&[]), 0);
        assert_eq!(ds_field(&[0x45]), 0);
        assert_eq!(ds_field(&[0x50, 0xff]), 0);
        // Only the ECN bits go outside.
        assert_eq!(encapsulate(&ipv4(0xb8 | CE)), CE);
        assert_eq!(encapsulate(&ipv6(0xb8 | ECT_1)), ECT_1);
        assert_eq!(encapsulate(&[]), NOT_ECT);
    }

    #[test]
    fn rfc_6040_decapsulation_table() {
        for inner in [NOT_ECT, ECT_0, ECT_1, CE] {
            for outer in [NOT_ECT, ECT_0, ECT_1, CE] {
                let expected = match (inner, outer) {
                    (NOT_ECT, CE) => None,
                    (ECT_0 | ECT_1, CE) => Some(CE),
                    (ECT_0, ECT_1) => Some(ECT_1),
                    _ => Some(inner),
                };
                // The DSCP of either header never matters or changes.
                let (inner_ds, outer_ds) = (0xa0 | inner, 0x88 | outer);
                let mut v4 = ipv4(inner_ds);
                let mut v6 = ipv6(inner_ds);
                let untouched_v6 = v6;
                let r4 = decapsulate(outer_ds, &mut v4);
                let r6 = decapsulate(outer_ds, &mut v6);
                match expected {
                    None => {
                        assert_eq!((r4, r6), (Err(CeOnNotEct), Err(CeOnNotEct)));
                    }
                    Some(ecn) => {
                        assert_eq!((r4, r6), (Ok(()), Ok(())), "{inner} {outer}");
                        assert_eq!(v4[1], 0xa0 | ecn, "inner {inner} outer {outer}");
                        assert_eq!(checksum::sum(&v4[..20]), 0xffff, "checksum follows");
                        assert_eq!(ds_field(&v6), 0xa0 | ecn);
                        // Nothing else of the IPv6 header moved (flow label).
                        assert_eq!(v6[0], untouched_v6[0]);
                        assert_eq!(v6[1] & 0x0f, untouched_v6[1] & 0x0f);
                        assert_eq!(v6[2..], untouched_v6[2..]);
                    }
                }
            }
        }
    }

    #[test]
    fn short_or_foreign_packets_are_left_alone() {
        let mut v4 = ipv4(ECT_0);
        let mut v6 = ipv6(ECT_0);
        let mut foreign = [0x10u8; 60];
        let cases: [&mut [u8]; 5] = [
            &mut [],
            &mut v4[..19],
            &mut v6[..39],
            &mut foreign,
            &mut [0x45, 0],
        ];
        for packet in cases {
            let before = [
                packet.len(),
                usize::from(packet.first().copied().unwrap_or(0)),
            ];
            let copy: [u8; 60] = core::array::from_fn(|i| packet.get(i).copied().unwrap_or(0));
            assert_eq!(decapsulate(CE, packet), Ok(()), "{before:?}");
            assert!(packet.iter().enumerate().all(|(i, b)| *b == copy[i]));
        }
    }
}
