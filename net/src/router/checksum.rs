//! Incremental update of the Internet checksum (RFC 1624).
//!
//! smoltcp fills and verifies whole checksums, but the router rewrites one
//! header word (the TTL) of every forwarded packet, and that must not cost
//! a pass over the whole header.

/// The one's-complement sum of `data` as big-endian 16-bit words, folded to
/// 16 bits but not complemented. An odd trailing byte is padded with zero.
/// (Only tests need a full sum: smoltcp's packet types fill checksums.)
#[cfg(test)]
fn ones_complement_sum(data: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut words = data.chunks_exact(2);
    for word in &mut words {
        sum += u64::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    fold(sum)
}

/// Folds carries back into the low 16 bits (end-around carry).
fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// RFC 1624 equation 3: the new checksum after one 16-bit word of the
/// covered data changed from `old_word` to `new_word`.
///
/// `HC' = ~(~HC + ~m + m')`. Unlike equation 2 of RFC 1141 this never turns
/// a valid checksum into the "negative zero" 0xffff that a full recomputation
/// could not produce for an IPv4 header.
pub(crate) fn update_word(old_checksum: u16, old_word: u16, new_word: u16) -> u16 {
    let sum = u64::from(!old_checksum) + u64::from(!old_word) + u64::from(new_word);
    !fold(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // The worked example in RFC 1071 section 3.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(ones_complement_sum(&data), 0xddf2);
    }

    #[test]
    fn incremental_update_matches_recomputation() {
        let mut header = [
            0x45, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0x00, 0x00, 10, 0, 0, 2,
            10, 8, 0, 7,
        ];
        let initial = !ones_complement_sum(&header);
        header[10..12].copy_from_slice(&initial.to_be_bytes());
        for ttl in (1..=64u8).rev() {
            let old_word = u16::from_be_bytes([header[8], header[9]]);
            header[8] = ttl - 1;
            let new_word = u16::from_be_bytes([header[8], header[9]]);
            let old_checksum = u16::from_be_bytes([header[10], header[11]]);
            let updated = update_word(old_checksum, old_word, new_word);
            header[10..12].copy_from_slice(&updated.to_be_bytes());
            assert_eq!(ones_complement_sum(&header), 0xffff, "ttl {ttl}");
        }
    }
}
