//! Just enough IP header parsing for cryptokey routing: the version nibble, the length field
//! (to trim padding) and the source or destination address. Anything implausible is `None`.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const IPV4_HEADER_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;

/// The length an IP packet declares for itself, if `packet` holds at least its fixed header
/// and that length (IPv4 total length, or IPv6 payload length plus 40) fits in `packet`.
pub(crate) fn declared_len(packet: &[u8]) -> Option<usize> {
    let first = *packet.first()?;
    let (len, min) = match first >> 4 {
        4 => {
            let header = packet.get(..IPV4_HEADER_LEN)?;
            let ihl = usize::from(first & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
            if ihl < IPV4_HEADER_LEN || total < ihl {
                return None;
            }
            (total, IPV4_HEADER_LEN)
        }
        6 => {
            let header = packet.get(..IPV6_HEADER_LEN)?;
            let payload = usize::from(u16::from_be_bytes([header[4], header[5]]));
            (IPV6_HEADER_LEN + payload, IPV6_HEADER_LEN)
        }
        _ => return None,
    };
    (len >= min && len <= packet.len()).then_some(len)
}

/// Source address of a packet already validated by [`declared_len`].
pub(crate) fn source(packet: &[u8]) -> Option<IpAddr> {
    address_at(packet, 12, 8)
}

/// Destination address of a packet already validated by [`declared_len`].
pub(crate) fn destination(packet: &[u8]) -> Option<IpAddr> {
    address_at(packet, 16, 24)
}

fn address_at(packet: &[u8], v4_offset: usize, v6_offset: usize) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 => {
            let b: [u8; 4] = packet.get(v4_offset..v4_offset + 4)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
        6 => {
            let b: [u8; 16] = packet.get(v6_offset..v6_offset + 16)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_and_v6_headers() {
        let mut v4 = [0u8; 28];
        v4[0] = 0x45;
        v4[2..4].copy_from_slice(&24u16.to_be_bytes());
        v4[12..16].copy_from_slice(&[10, 0, 0, 1]);
        v4[16..20].copy_from_slice(&[10, 0, 0, 2]);
        assert_eq!(declared_len(&v4), Some(24));
        assert_eq!(source(&v4), Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))));
        assert_eq!(
            destination(&v4),
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)))
        );
        v4[2..4].copy_from_slice(&29u16.to_be_bytes());
        assert_eq!(declared_len(&v4), None);
        v4[0] = 0x44;
        assert_eq!(declared_len(&v4), None);
        let mut v6 = [0u8; 48];
        v6[0] = 0x60;
        v6[5] = 8;
        assert_eq!(declared_len(&v6), Some(48));
        assert_eq!(declared_len(&v6[..47]), None);
        assert_eq!(declared_len(&[0x50; 60]), None);
        assert_eq!(declared_len(&[]), None);
    }
}
