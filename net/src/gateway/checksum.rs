//! The Internet checksum (RFC 1071) over whole buffers, for the UDP headers
//! the fast path writes and checks. (The router updates checksums
//! incrementally instead; see `router::checksum`.)

use core::net::IpAddr;

/// The one's-complement sum of `data` as big-endian 16-bit words (an odd
/// last byte padded with zero), folded to 16 bits, not complemented.
pub fn sum(data: &[u8]) -> u16 {
    // The sum of byte-swapped words is the byte-swapped sum (RFC 1071
    // §2(B)), so sum little-endian words, eight bytes a step, and swap once.
    // Each step adds at most 2^33 to a 64-bit accumulator: no carry is lost
    // for any buffer shorter than 16 GiB.
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let word = u64::from_le_bytes(bytes);
        acc += (word & 0xffff_ffff) + (word >> 32);
    }
    let rest = words.remainder();
    let mut tail = [0u8; 8];
    tail[..rest.len()].copy_from_slice(rest);
    let word = u64::from_le_bytes(tail);
    acc += (word & 0xffff_ffff) + (word >> 32);
    fold(acc).swap_bytes()
}

/// Folds a wide one's-complement sum to 16 bits.
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The one's-complement sum of the UDP pseudo-header (RFC 768, RFC 8200 §8.1).
pub fn pseudo_header(src: IpAddr, dst: IpAddr, protocol: u8, length: u32) -> u16 {
    let mut acc = u64::from(protocol) + u64::from(length >> 16) + u64::from(length & 0xffff);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            acc += u64::from(sum(&s.octets())) + u64::from(sum(&d.octets()));
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            acc += u64::from(sum(&s.octets())) + u64::from(sum(&d.octets()));
        }
        // Mixed families never share a packet; the caller keeps them apart.
        _ => return 0,
    }
    fold(acc)
}

/// The checksum to store in a header: the complement of the sum of its parts.
pub fn finish(parts: &[u16]) -> u16 {
    !fold(parts.iter().map(|&p| u64::from(p)).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        assert_eq!(
            sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
    }

    /// The sum as RFC 1071 defines it, one big-endian word at a time.
    fn reference(data: &[u8]) -> u16 {
        let mut acc = 0u64;
        for pair in data.chunks(2) {
            let hi = u64::from(pair[0]) << 8;
            acc += hi | pair.get(1).map_or(0, |&b| u64::from(b));
        }
        fold(acc)
    }

    #[test]
    fn matches_the_definition_at_every_length_and_alignment() {
        let data: [u8; 300] = core::array::from_fn(|i| (i * 167 + 13) as u8 ^ (i >> 3) as u8);
        for start in 0..9 {
            for end in start..data.len() {
                assert_eq!(
                    sum(&data[start..end]),
                    reference(&data[start..end]),
                    "{start}..{end}"
                );
            }
        }
        let ones = [0xffu8; 1501];
        assert_eq!(sum(&ones), reference(&ones));
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    #[test]
    fn a_filled_checksum_verifies_to_zero() {
        let mut header = [
            0x45u8, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let c = finish(&[sum(&header)]);
        header[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(finish(&[sum(&header)]), 0);
    }
}
