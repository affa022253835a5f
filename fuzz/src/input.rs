//! Reading structured values out of the fuzzer's bytes.

/// The unread rest of a fuzz input. Every read past the end yields zeros
/// (or an empty slice), so every input is a complete program.
pub struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    /// Reads `data` from the start.
    pub fn new(data: &'a [u8]) -> Self {
        Input(data)
    }

    /// Whether everything has been read.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next byte, or 0.
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next eight bytes, little-endian.
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for byte in &mut b {
            *byte = self.u8();
        }
        u64::from_le_bytes(b)
    }

    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.0.len())
    }
}

/// The RFC 1071 sum of `data` (not complemented), starting from `sum`.
pub fn ones_sum(mut sum: u32, data: &[u8]) -> u16 {
    for chunk in data.chunks(2) {
        let word = if chunk.len() == 2 {
            u16::from_be_bytes([chunk[0], chunk[1]])
        } else {
            u16::from(chunk[0]) << 8
        };
        sum += u32::from(word);
        sum = (sum & 0xffff) + (sum >> 16);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Rewrites the header checksum of an IPv4 packet so that mutated headers
/// get past the check; does nothing to anything else.
pub fn fix_ipv4_checksum(packet: &mut [u8]) {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return;
    }
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    if ihl < 20 || ihl > packet.len() {
        return;
    }
    packet[10] = 0;
    packet[11] = 0;
    let sum = !ones_sum(0, &packet[..ihl]);
    packet[10..12].copy_from_slice(&sum.to_be_bytes());
}

/// Rewrites the ICMPv6 checksum of an IPv6 packet whose first header is
/// ICMPv6 (next header 58), over the payload the header's length gives.
pub fn fix_icmpv6_checksum(packet: &mut [u8]) {
    if packet.len() < 44 || packet[0] >> 4 != 6 || packet[6] != 58 {
        return;
    }
    let payload_len = usize::from(u16::from_be_bytes([packet[4], packet[5]]));
    let Some(end) = 40usize.checked_add(payload_len) else {
        return;
    };
    if end > packet.len() || payload_len < 4 {
        return;
    }
    packet[42] = 0;
    packet[43] = 0;
    // Pseudo-header: source, destination, upper-layer length, next header.
    let mut sum = u32::from(ones_sum(0, &packet[8..40]));
    sum += payload_len as u32 + 58;
    let sum = !ones_sum(sum, &packet[40..end]);
    packet[42..44].copy_from_slice(&sum.to_be_bytes());
}
