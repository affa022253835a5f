//! Cutting a GSO frame from the LAN (a TCP segment of up to 64 KiB that
//! the sender's stack left for the NIC to cut) into ordinary TCP segments,
//! as Linux's `tcp_gso_segment` does: each segment gets the original IP and
//! TCP headers with the IPv4 total length, identification (+1 per segment)
//! and header checksum or the IPv6 payload length fixed, the sequence
//! number advanced by the payload offset, CWR only on the first segment,
//! FIN and PSH only on the last, and a complete TCP checksum (the sender
//! left it partial; the packet must be whole when it leaves the tunnel).
//!
//! Every length is checked against the frame and the device's word is
//! never trusted: what does not add up is refused with a reason.

use super::checksum;
use super::nic::{Gso, GsoKind};

/// Smallest segment size accepted (Linux's `TCP_MIN_MSS`): bounds the
/// segments, and so the work, per frame.
pub const MIN_GSO_SIZE: u16 = 88;

const TCP: u8 = 6;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// Why a GSO frame was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GsoDrop {
    /// Lengths in the IP or TCP header that do not fit the frame or each
    /// other, a fragment, or no payload.
    Malformed,
    /// The device's GSO type does not match the packet (not TCP, or the
    /// other IP version), or an IPv6 extension header.
    Mismatch,
    /// A segment size below [`MIN_GSO_SIZE`], or segments larger than the
    /// largest packet the gateway handles.
    BadSize,
}

/// How a validated GSO frame is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    v4: bool,
    /// IP header length.
    ip_header: usize,
    /// IP and TCP header length (the start of the payload).
    headers: usize,
    /// The IP packet's length (bytes past it are link padding).
    total: usize,
    /// Payload bytes per segment (the last may be shorter).
    mss: usize,
    /// How many segments.
    pub segments: usize,
}

impl Plan {
    /// The IP length of segment `index`.
    pub fn segment_len(&self, index: usize) -> usize {
        let offset = index * self.mss;
        let payload = (self.total - self.headers - offset).min(self.mss);
        self.headers + payload
    }
}

/// Checks the IP packet `packet` of a GSO frame and plans its segments,
/// each at most `max_packet` bytes long.
pub fn plan(packet: &[u8], gso: Gso, max_packet: usize) -> Result<Plan, GsoDrop> {
    if gso.size < MIN_GSO_SIZE {
        return Err(GsoDrop::BadSize);
    }
    let version = packet.first().ok_or(GsoDrop::Malformed)? >> 4;
    let (v4, ip_header, total) = match (version, gso.kind) {
        (4, GsoKind::TcpV4) => {
            let ip_header = usize::from(packet[0] & 0x0f) * 4;
            let header = packet.get(..20).ok_or(GsoDrop::Malformed)?;
            if ip_header < 20 || header[9] != TCP {
                return Err(if ip_header < 20 {
                    GsoDrop::Malformed
                } else {
                    GsoDrop::Mismatch
                });
            }
            let fragment = u16::from_be_bytes([header[6], header[7]]) & 0x3fff;
            if fragment != 0 {
                return Err(GsoDrop::Malformed);
            }
            let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
            (true, ip_header, total)
        }
        (6, GsoKind::TcpV6) => {
            let header = packet.get(..40).ok_or(GsoDrop::Malformed)?;
            if header[6] != TCP {
                return Err(GsoDrop::Mismatch);
            }
            let payload = usize::from(u16::from_be_bytes([header[4], header[5]]));
            (false, 40, 40 + payload)
        }
        (4 | 6, _) => return Err(GsoDrop::Mismatch),
        _ => return Err(GsoDrop::Malformed),
    };
    if total > packet.len() || ip_header + 20 > total {
        return Err(GsoDrop::Malformed);
    }
    let tcp_header = usize::from(packet[ip_header + 12] >> 4) * 4;
    let headers = ip_header + tcp_header;
    if tcp_header < 20 || headers >= total {
        return Err(GsoDrop::Malformed);
    }
    let mss = usize::from(gso.size);
    if headers + mss > max_packet {
        return Err(GsoDrop::BadSize);
    }
    let payload = total - headers;
    Ok(Plan {
        v4,
        ip_header,
        headers,
        total,
        mss,
        segments: payload.div_ceil(mss),
    })
}

/// Writes segment `index` of the planned `packet` into `out` as a complete
/// IP packet (every checksum filled in); returns its length, or `None` if
/// `out` is too short or there is no such segment.
pub fn write_segment(packet: &[u8], plan: &Plan, index: usize, out: &mut [u8]) -> Option<usize> {
    if index >= plan.segments {
        return None;
    }
    let offset = index * plan.mss;
    let len = plan.segment_len(index);
    let headers = plan.headers;
    let from = headers + offset;
    let out = out.get_mut(..len)?;
    out[..headers].copy_from_slice(packet.get(..headers)?);
    out[headers..].copy_from_slice(packet.get(from..from + len - headers)?);
    let ip = plan.ip_header;
    let (pseudo, tcp_len) = if plan.v4 {
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        let id = u16::from_be_bytes([out[4], out[5]]).wrapping_add(index as u16);
        out[4..6].copy_from_slice(&id.to_be_bytes());
        out[10..12].copy_from_slice(&[0, 0]);
        let header_sum = checksum::finish(&[checksum::sum(&out[..ip])]);
        out[10..12].copy_from_slice(&header_sum.to_be_bytes());
        let tcp_len = len - ip;
        (checksum::sum(&out[12..20]), tcp_len)
    } else {
        let tcp_len = len - ip;
        out[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
        (checksum::sum(&out[8..40]), tcp_len)
    };
    let tcp = &mut out[ip..];
    let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]).wrapping_add(offset as u32);
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    let mut flags = tcp[13];
    if index > 0 {
        flags &= !TCP_CWR;
    }
    if index + 1 < plan.segments {
        flags &= !(TCP_FIN | TCP_PSH);
    }
    tcp[13] = flags;
    tcp[16..18].copy_from_slice(&[0, 0]);
    let length = checksum::fold(u64::from(tcp_len as u32) + u64::from(TCP));
    let sum = checksum::finish(&[pseudo, length, checksum::sum(tcp)]);
    tcp[16..18].copy_from_slice(&sum.to_be_bytes());
    Some(len)
}

/// Completes a partial transport checksum (virtio `NEEDS_CSUM`) in place:
/// the sum from `start` to the end of the IP packet, stored at
/// `start + offset` (whose field holds the pseudo-header sum). `frame` is
/// the whole Ethernet frame and `end` where its IP packet ends. `false`
/// if the positions do not lie inside the packet.
pub fn complete_checksum(frame: &mut [u8], start: u16, offset: u16, end: usize) -> bool {
    let (start, field) = (usize::from(start), usize::from(start) + usize::from(offset));
    if field + 2 > end || end > frame.len() || field < start {
        return false;
    }
    let sum = checksum::finish(&[checksum::sum(&frame[start..end])]);
    // 0 would mean "no checksum" for UDP; Linux sends 0xffff instead.
    let sum = if sum == 0 { 0xffff } else { sum };
    frame[field..field + 2].copy_from_slice(&sum.to_be_bytes());
    true
}
