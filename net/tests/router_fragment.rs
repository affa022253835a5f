//! IPv4 fragmentation: fragments fit the MTU, carry the right flags,
//! offsets, options and checksums, and reassemble to the original.

mod router_support;

use core::net::Ipv4Addr;

use net::router::{fragment_ipv4, FragmentError};
use router_support::*;
use smoltcp::wire::{IpProtocol, Ipv4Packet};

/// Collects the fragments of `packet` at `mtu`.
fn fragments(packet: &[u8], mtu: usize) -> Result<Vec<Vec<u8>>, FragmentError> {
    let mut scratch = vec![0u8; mtu.max(packet.len())];
    let mut out = Vec::new();
    let count = fragment_ipv4(packet, mtu, &mut scratch, |fragment| {
        out.push(fragment.to_vec())
    })?;
    assert_eq!(count, out.len());
    Ok(out)
}

/// Checks each fragment and reassembles the payload; returns (first header, payload, last MF).
fn reassemble(fragments: &[Vec<u8>], mtu: usize, original: &[u8]) -> Vec<u8> {
    let original_ip = Ipv4Packet::new_checked(original).unwrap();
    let mut payload = vec![None::<u8>; 70_000];
    let mut end = 0;
    for (index, fragment) in fragments.iter().enumerate() {
        assert!(
            fragment.len() <= mtu,
            "fragment {index} is {} > {mtu}",
            fragment.len()
        );
        let ip = Ipv4Packet::new_checked(&fragment[..]).unwrap();
        assert!(ip.verify_checksum(), "fragment {index} checksum");
        assert_eq!(ip.total_len() as usize, fragment.len());
        assert_eq!(ip.ident(), original_ip.ident());
        assert_eq!(ip.src_addr(), original_ip.src_addr());
        assert_eq!(ip.dst_addr(), original_ip.dst_addr());
        assert_eq!(ip.next_header(), original_ip.next_header());
        assert_eq!(ip.hop_limit(), original_ip.hop_limit());
        assert!(!ip.dont_frag());
        let offset = ip.frag_offset() as usize;
        assert_eq!(offset % 8, 0);
        let is_last = index == fragments.len() - 1;
        if !is_last {
            assert!(ip.more_frags(), "fragment {index} has MF");
            assert_eq!(ip.payload().len() % 8, 0);
        } else {
            assert_eq!(ip.more_frags(), original_ip.more_frags());
        }
        for (i, &byte) in ip.payload().iter().enumerate() {
            assert!(payload[offset + i].is_none(), "overlap at {}", offset + i);
            payload[offset + i] = Some(byte);
        }
        end = end.max(offset + ip.payload().len());
    }
    let start = original_ip.frag_offset() as usize;
    payload[start..end]
        .iter()
        .map(|byte| byte.expect("no hole"))
        .collect()
}

#[test]
fn reassembles_to_the_original() {
    for (len, mtu) in [
        (3000, 1420),
        (1421, 1420),
        (65535, 1420),
        (2000, 68),
        (1500, 576),
        (9000, 1280),
        (100, 68),
    ] {
        let original = ipv4(LAN_HOST4, PEER_NET4, IpProtocol::Udp, 63, len, false);
        let fragments = fragments(&original, mtu).unwrap();
        let expected = len.saturating_sub(20).div_ceil((mtu - 20) / 8 * 8).max(1);
        assert_eq!(fragments.len(), expected, "len {len} mtu {mtu}");
        assert_eq!(
            reassemble(&fragments, mtu, &original),
            original[20..],
            "len {len} mtu {mtu}"
        );
    }
}

#[test]
fn packet_that_fits_is_emitted_unchanged() {
    let original = ipv4(LAN_HOST4, PEER_NET4, IpProtocol::Udp, 63, 1420, true);
    assert_eq!(fragments(&original, 1420).unwrap(), vec![original]);
}

#[test]
fn refuses_dont_fragment_and_tiny_mtu_and_small_scratch() {
    let df = ipv4(LAN_HOST4, PEER_NET4, IpProtocol::Udp, 63, 2000, true);
    assert_eq!(fragments(&df, 1420), Err(FragmentError::DontFragment));
    let plain = ipv4(LAN_HOST4, PEER_NET4, IpProtocol::Udp, 63, 2000, false);
    assert_eq!(fragments(&plain, 27), Err(FragmentError::MtuTooSmall));
    let mut scratch = [0u8; 100];
    let mut emitted = 0;
    assert_eq!(
        fragment_ipv4(&plain, 1420, &mut scratch, |_| emitted += 1),
        Err(FragmentError::BufferTooSmall)
    );
    assert_eq!(emitted, 0, "nothing is emitted on error");
    let six = udp6(LAN_HOST6, PEER_NET6, 64, 2000);
    assert_eq!(fragments(&six, 1280), Err(FragmentError::Malformed));
    assert_eq!(
        fragments(&[0x45, 0, 0], 1280),
        Err(FragmentError::Malformed)
    );
}

#[test]
fn refragments_a_fragment() {
    // A middle fragment (offset 1480, MF set) split again: offsets continue
    // from 1480 and the last piece keeps MF.
    let mut original = ipv4(LAN_HOST4, PEER_NET4, IpProtocol::Udp, 63, 1500, false);
    let mut ip = Ipv4Packet::new_unchecked(&mut original[..]);
    ip.set_frag_offset(1480);
    ip.set_more_frags(true);
    ip.fill_checksum();
    let pieces = fragments(&original, 600).unwrap();
    assert_eq!(
        Ipv4Packet::new_unchecked(&pieces[0][..]).frag_offset(),
        1480
    );
    assert!(pieces
        .iter()
        .all(|piece| Ipv4Packet::new_unchecked(&piece[..]).more_frags()));
    assert_eq!(reassemble(&pieces, 600, &original), original[20..]);
}

#[test]
fn options_copied_only_when_flagged() {
    // Header with options: NOP, a copied option (type 0x83 loose source route
    // shape, 7 bytes), a non-copied option (type 0x07 record route, 7 bytes), EOL pad.
    let mut original = vec![0u8; 24 + 1000];
    let options = [1u8, 0x83, 7, 4, 1, 2, 3, 4, 0x07, 7, 4, 5, 6, 7, 8, 0];
    let header_len = 20 + options.len() + (4 - options.len() % 4) % 4;
    original.resize(header_len + 1000, 0);
    let base = ipv4(LAN_HOST4, PEER_NET4, IpProtocol::Udp, 63, 1020, false);
    original[..20].copy_from_slice(&base[..20]);
    original[20..20 + options.len()].copy_from_slice(&options);
    for (i, byte) in original[header_len..].iter_mut().enumerate() {
        *byte = i as u8;
    }
    let mut ip = Ipv4Packet::new_unchecked(&mut original[..]);
    ip.set_header_len(header_len as u8);
    ip.set_total_len((header_len + 1000) as u16);
    ip.fill_checksum();
    let pieces = fragments(&original, 400).unwrap();
    assert_eq!(
        pieces[0][20..header_len],
        original[20..header_len],
        "the first fragment keeps every option"
    );
    for piece in &pieces[1..] {
        let ip = Ipv4Packet::new_unchecked(&piece[..]);
        assert_eq!(ip.header_len(), 28, "20 + 7 copied bytes padded to 8");
        assert_eq!(piece[20..27], options[1..8]);
        assert_eq!(piece[27], 0);
    }
    // Reassembly by hand, since headers differ in length.
    let mut payload = Vec::new();
    for piece in &pieces {
        let ip = Ipv4Packet::new_checked(&piece[..]).unwrap();
        assert!(ip.verify_checksum());
        assert!(piece.len() <= 400);
        assert_eq!(ip.frag_offset() as usize, payload.len());
        payload.extend_from_slice(ip.payload());
    }
    assert_eq!(payload, original[header_len..]);
}

#[test]
fn malformed_options_are_refused() {
    let mut original = ipv4(
        LAN_HOST4,
        Ipv4Addr::new(10, 99, 0, 1),
        IpProtocol::Udp,
        63,
        1024,
        false,
    );
    // Rebuild with a 4-byte option area holding an option whose length overruns it.
    original.splice(20..20, [0x83u8, 9, 0, 0]);
    original.truncate(1024);
    let mut ip = Ipv4Packet::new_unchecked(&mut original[..]);
    ip.set_header_len(24);
    ip.fill_checksum();
    assert_eq!(fragments(&original, 500), Err(FragmentError::Malformed));
}
