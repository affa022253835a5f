//! The virtio-net header and the checks on what the device reports: plain
//! functions, tested on the host.
//!
//! Layout (virtio 1.2 §5.1.6, little-endian; a legacy device is
//! guest-endian, which on x86 is the same):
//!
//! ```text
//! 0 flags u8 | 1 gso_type u8 | 2 hdr_len u16 | 4 gso_size u16
//! 6 csum_start u16 | 8 csum_offset u16 | 10 num_buffers u16 (VERSION_1 or MRG_RXBUF only)
//! ```

use core::ops::Range;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum from `csum_start` to the end
/// of the packet still has to be computed and stored at
/// `csum_start + csum_offset`.
const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: the device checked the checksum.
const F_DATA_VALID: u8 = 2;

/// The largest header this driver uses.
pub(super) const MAX_HEADER_LEN: usize = 12;

/// How long the header is: 12 bytes when `num_buffers` is present
/// (VERSION_1, or MRG_RXBUF on a legacy device), else 10 — the rule
/// virtio-drivers' `VirtIONetRaw` applies.
pub(super) const fn header_len(version_1: bool, mrg_rxbuf: bool) -> usize {
    if version_1 || mrg_rxbuf {
        12
    } else {
        10
    }
}

// The gateway loop's types (net::gateway::nic): one definition for the
// loop, this driver and the host tests' fake NICs.
pub use net::gateway::nic::{Gso, GsoKind, RxChecksum, RxInfo, TxFrame};

const GSO_NONE: u8 = 0;
const GSO_TCPV4: u8 = 1;
const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_ECN`: the segments carry ECN's CWR rule (set only
/// on the first), which the cutter applies anyway.
const GSO_ECN: u8 = 0x80;

/// Decodes a received header: checksum state, the partial checksum's
/// position, and GSO. `None` for a GSO type the driver did not negotiate
/// (`gso` false) or does not know: such a frame must be dropped, since it
/// is not a packet that could go on a wire as it is.
pub(super) fn rx_info(header: &[u8], guest_csum: bool, gso: bool) -> Option<RxInfo> {
    let checksum = rx_checksum(header, guest_csum);
    let field = |at: usize| {
        header
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let partial = match checksum {
        RxChecksum::Partial => Some((field(6)?, field(8)?)),
        _ => None,
    };
    let kind = match header.get(1).map(|t| t & !GSO_ECN) {
        None | Some(GSO_NONE) => None,
        Some(GSO_TCPV4) if gso => Some(GsoKind::TcpV4),
        Some(GSO_TCPV6) if gso => Some(GsoKind::TcpV6),
        Some(_) => return None,
    };
    let gso = match kind {
        Some(kind) => Some(Gso {
            kind,
            size: field(4)?,
        }),
        None => None,
    };
    Some(RxInfo {
        checksum,
        partial,
        gso,
    })
}

/// How many receive buffers the frame spans (`num_buffers`, MRG_RXBUF):
/// 0 if the header has no such field.
pub(super) fn num_buffers(header: &[u8]) -> usize {
    header
        .get(10..12)
        .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])))
}

/// Decodes a received header's checksum state; without GUEST_CSUM the
/// device must not set the flags, and they are ignored.
pub(super) fn rx_checksum(header: &[u8], guest_csum: bool) -> RxChecksum {
    match header.first() {
        Some(&flags) if guest_csum && flags & F_NEEDS_CSUM != 0 => RxChecksum::Partial,
        Some(&flags) if guest_csum && flags & F_DATA_VALID != 0 => RxChecksum::Valid,
        _ => RxChecksum::Unchecked,
    }
}

/// Where the frame lies in a receive buffer of `buffer_len` bytes, given the
/// length the device wrote (`used_len`, header included). `None` for a
/// descriptor the driver must not trust: length 0, no more than the header
/// (no frame at all), or longer than the buffer.
pub(super) fn rx_frame(
    used_len: u32,
    header_len: usize,
    buffer_len: usize,
) -> Option<Range<usize>> {
    let used = usize::try_from(used_len).ok()?;
    (used > header_len && used <= buffer_len).then_some(header_len..used)
}

/// Writes a transmit header into `out` (exactly the header's length): no
/// segmentation, and, if `checksum` is given, NEEDS_CSUM with `csum_start`
/// and `csum_offset` relative to the frame start.
pub(super) fn encode_tx_header(out: &mut [u8], checksum: Option<(u16, u16)>) {
    out.fill(0);
    if let Some((start, offset)) = checksum {
        if let Some(fields) = out.get_mut(..10) {
            fields[0] = F_NEEDS_CSUM;
            fields[6..8].copy_from_slice(&start.to_le_bytes());
            fields[8..10].copy_from_slice(&offset.to_le_bytes());
        }
    }
}

/// The span of a transmit buffer the descriptor covers — header and frame —
/// for a frame placed at `frame.start` in the slice that begins `headroom`
/// bytes into a buffer of `buffer_len` bytes. `None` (the frame is dropped)
/// if the frame is empty, runs past the buffer, or its checksum field does
/// not lie inside it.
pub(super) fn tx_span(
    frame: &TxFrame,
    headroom: usize,
    buffer_len: usize,
    header_len: usize,
) -> Option<Range<usize>> {
    let begin = headroom.checked_add(frame.start)?;
    let end = begin.checked_add(frame.len)?;
    if frame.len == 0 || end > buffer_len || header_len > begin {
        return None;
    }
    if let Some((start, offset)) = frame.checksum {
        let field_end = usize::from(start) + usize::from(offset) + 2;
        if field_end > frame.len {
            return None;
        }
    }
    Some(begin - header_len..end)
}

/// Does in software what NEEDS_CSUM asks of the device: the Internet
/// checksum over `frame[start..]` (whose checksum field at `start + offset`
/// holds the pseudo-header sum), stored at `start + offset`. A result of 0
/// is sent as 0xffff, as Linux does (for UDP 0 would mean "no checksum").
/// Does nothing if the field is not inside the frame.
pub(super) fn fill_checksum(frame: &mut [u8], start: usize, offset: usize) {
    let field = start.saturating_add(offset);
    if field.saturating_add(2) > frame.len() {
        return;
    }
    let folded = !fold(ones_sum(&frame[start..]));
    let value = if folded == 0 { 0xffff } else { folded };
    frame[field..field + 2].copy_from_slice(&value.to_be_bytes());
}

/// The 32-bit running ones' complement sum of big-endian 16-bit words (an
/// odd last byte padded with zero).
fn ones_sum(data: &[u8]) -> u32 {
    let mut sum = 0u64;
    let mut words = data.chunks_exact(2);
    for word in &mut words {
        sum += u64::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(u16::from_be_bytes([*last, 0]));
    }
    // Fold to 32 bits; at most 2^63 / 2^16 words could overflow, far beyond a frame.
    while sum > 0xffff_ffff {
        sum = (sum & 0xffff_ffff) + (sum >> 32);
    }
    sum as u32
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    #[test]
    fn header_lengths() {
        assert_eq!(header_len(true, false), 12);
        assert_eq!(header_len(false, true), 12);
        assert_eq!(header_len(true, true), 12);
        assert_eq!(header_len(false, false), 10);
        assert!(header_len(false, false) <= MAX_HEADER_LEN);
    }

    #[test]
    fn rx_checksum_flags() {
        let mut header = [0u8; 12];
        assert_eq!(rx_checksum(&header, true), RxChecksum::Unchecked);
        header[0] = F_DATA_VALID;
        assert_eq!(rx_checksum(&header, true), RxChecksum::Valid);
        assert_eq!(rx_checksum(&header, false), RxChecksum::Unchecked);
        header[0] = F_NEEDS_CSUM;
        assert_eq!(rx_checksum(&header, true), RxChecksum::Partial);
        assert_eq!(rx_checksum(&header, false), RxChecksum::Unchecked);
        // Both set: the checksum is not filled in, so "partial" wins (as in Linux).
        header[0] = F_NEEDS_CSUM | F_DATA_VALID;
        assert_eq!(rx_checksum(&header, true), RxChecksum::Partial);
        // Unknown flag bits are ignored.
        header[0] = 0xf8;
        assert_eq!(rx_checksum(&header, true), RxChecksum::Unchecked);
        assert_eq!(rx_checksum(&[], true), RxChecksum::Unchecked);
    }

    #[test]
    fn rx_offload_decoding() {
        let mut header = [0u8; 12];
        assert_eq!(
            rx_info(&header, true, true),
            Some(RxInfo::plain(RxChecksum::Unchecked))
        );
        // NEEDS_CSUM with its position; TCPv4 GSO with its size.
        header = [1, 1, 66, 0, 0xb4, 0x05, 34, 0, 16, 0, 3, 0];
        let info = rx_info(&header, true, true).unwrap();
        assert_eq!(info.checksum, RxChecksum::Partial);
        assert_eq!(info.partial, Some((34, 16)));
        assert_eq!(
            info.gso,
            Some(Gso {
                kind: GsoKind::TcpV4,
                size: 1460
            })
        );
        assert_eq!(num_buffers(&header), 3);
        header[1] = 4 | 0x80;
        assert_eq!(
            rx_info(&header, true, true).unwrap().gso.unwrap().kind,
            GsoKind::TcpV6
        );
        // GSO not negotiated, UDP (3), UDP_L4 (5) or unknown types: refused.
        header[1] = 1;
        assert_eq!(rx_info(&header, true, false), None);
        for kind in [3u8, 5, 2, 0x7f] {
            header[1] = kind;
            assert_eq!(rx_info(&header, true, true), None, "type {kind}");
        }
        // Without GUEST_CSUM the flags are ignored, so there is no position.
        header[1] = 0;
        assert_eq!(rx_info(&header, false, false).unwrap().partial, None);
        assert_eq!(num_buffers(&header[..10]), 0);
    }

    #[test]
    fn rx_frame_validation() {
        assert_eq!(rx_frame(0, 12, 2048), None, "length 0");
        assert_eq!(rx_frame(5, 12, 2048), None, "shorter than the header");
        assert_eq!(rx_frame(12, 12, 2048), None, "header only");
        assert_eq!(rx_frame(13, 12, 2048), Some(12..13));
        assert_eq!(rx_frame(12 + 1514, 12, 2048), Some(12..1526));
        assert_eq!(rx_frame(2048, 12, 2048), Some(12..2048));
        assert_eq!(rx_frame(2049, 12, 2048), None, "beyond the buffer");
        assert_eq!(rx_frame(u32::MAX, 12, 2048), None);
        assert_eq!(rx_frame(11, 10, 2048), Some(10..11));
    }

    #[test]
    fn tx_header_encoding() {
        let mut out = [0xaau8; 12];
        encode_tx_header(&mut out, None);
        assert_eq!(out, [0; 12]);
        let mut out = [0xaau8; 12];
        encode_tx_header(&mut out, Some((34, 6)));
        assert_eq!(out, [1, 0, 0, 0, 0, 0, 34, 0, 6, 0, 0, 0]);
        let mut out = [0xaau8; 10];
        encode_tx_header(&mut out, Some((0x1234, 0x0110)));
        assert_eq!(out, [1, 0, 0, 0, 0, 0, 0x34, 0x12, 0x10, 0x01]);
    }

    fn frame(start: usize, len: usize, checksum: Option<(u16, u16)>) -> TxFrame {
        TxFrame {
            start,
            len,
            checksum,
        }
    }

    #[test]
    fn tx_span_validation() {
        // The descriptor begins with the header right before the frame.
        assert_eq!(tx_span(&frame(0, 60, None), 64, 2048, 12), Some(52..124));
        assert_eq!(
            tx_span(&frame(100, 1514, None), 64, 2048, 10),
            Some(154..1678)
        );
        assert_eq!(
            tx_span(&frame(0, 2048 - 64, None), 64, 2048, 12),
            Some(52..2048)
        );
        assert_eq!(
            tx_span(&frame(1, 2048 - 64, None), 64, 2048, 12),
            None,
            "one past the end"
        );
        assert_eq!(tx_span(&frame(0, 0, None), 64, 2048, 12), None, "empty");
        assert_eq!(
            tx_span(&frame(usize::MAX, 10, None), 64, 2048, 12),
            None,
            "overflow"
        );
        assert_eq!(
            tx_span(&frame(10, usize::MAX, None), 64, 2048, 12),
            None,
            "overflow"
        );
        assert_eq!(
            tx_span(&frame(0, 60, None), 8, 2048, 12),
            None,
            "no room for the header"
        );
        // The checksum field must lie inside the frame.
        assert_eq!(
            tx_span(&frame(0, 42, Some((34, 6))), 64, 2048, 12),
            Some(52..106)
        );
        assert_eq!(
            tx_span(&frame(0, 42, Some((33, 7))), 64, 2048, 12),
            Some(52..106)
        );
        assert_eq!(tx_span(&frame(0, 42, Some((34, 8))), 64, 2048, 12), None);
        assert_eq!(
            tx_span(&frame(0, 42, Some((u16::MAX, u16::MAX))), 64, 2048, 12),
            None
        );
    }

    /// An IPv4/UDP frame whose checksum field holds the pseudo-header sum,
    /// as a stack using checksum offload leaves it.
    fn udp_frame(payload: &[u8]) -> (Vec<u8>, usize) {
        let src = [192, 0, 2, 1];
        let dst = [198, 51, 100, 7];
        let udp_len = 8 + payload.len();
        let mut frame = vec![0u8; 14 + 20];
        frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        frame[14] = 0x45;
        frame[14 + 9] = 17;
        frame[14 + 12..14 + 16].copy_from_slice(&src);
        frame[14 + 16..14 + 20].copy_from_slice(&dst);
        frame.extend_from_slice(&51820u16.to_be_bytes());
        frame.extend_from_slice(&4242u16.to_be_bytes());
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(payload);
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&src);
        pseudo.extend_from_slice(&dst);
        pseudo.extend_from_slice(&[0, 17]);
        pseudo.extend_from_slice(&(udp_len as u16).to_be_bytes());
        let partial = fold(ones_sum(&pseudo));
        frame[34 + 6..34 + 8].copy_from_slice(&partial.to_be_bytes());
        (frame, udp_len)
    }

    /// The receiver's check: pseudo-header plus segment sums to 0xffff.
    fn udp_checksum_ok(frame: &[u8], udp_len: usize) -> bool {
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&frame[26..34]);
        pseudo.extend_from_slice(&[0, 17]);
        pseudo.extend_from_slice(&(udp_len as u16).to_be_bytes());
        pseudo.extend_from_slice(&frame[34..]);
        fold(ones_sum(&pseudo)) == 0xffff
    }

    #[test]
    fn software_checksum_matches_offload_semantics() {
        for len in [0usize, 1, 2, 3, 17, 64, 1200, 1401] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let (mut frame, udp_len) = udp_frame(&payload);
            fill_checksum(&mut frame, 34, 6);
            assert!(udp_checksum_ok(&frame, udp_len), "payload length {len}");
            assert_ne!(&frame[40..42], &[0, 0], "UDP checksum 0 means none");
        }
    }

    #[test]
    fn software_checksum_out_of_range_is_ignored() {
        let mut frame = [1u8; 10];
        fill_checksum(&mut frame, 8, 1);
        fill_checksum(&mut frame, usize::MAX, 6);
        assert_eq!(frame, [1; 10]);
        fill_checksum(&mut frame, 0, 8);
        assert_ne!(frame, [1; 10]);
    }
}
