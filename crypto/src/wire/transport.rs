//! Transport data (message type 4): a 16-byte header, then the encrypted, padded packet and
//! its tag. An empty packet (32 bytes on the wire) is a keepalive.
//!
//! ```text
//!  0      4          8         16                      len-16   len
//!  | type | receiver | counter | encrypted packet ...   |  tag  |
//! ```

use crate::constants::{TAG_LEN, TRANSPORT_HEADER_LEN, TRANSPORT_MIN_LEN, TRANSPORT_PADDING};

mod field {
    use crate::wire::Field;

    /// Message type (4) and three reserved zero bytes.
    pub const TYPE: Field = 0..4;
    /// The receiver's index for the session (the index it chose in its handshake message).
    pub const RECEIVER: Field = 4..8;
    /// The 64-bit nonce counter, little-endian.
    pub const COUNTER: Field = 8..16;
    /// Start of the encrypted packet; it runs to the end of the buffer, tag included.
    pub const PAYLOAD: usize = 16;
}

message_view! {
    /// A typed view of a transport data message in a byte buffer.
    TransportData, "at least 32 bytes"
}

index_fields!(TransportData {
    /// Our index for the session this packet belongs to.
    receiver_index,
    /// Sets the receiver's index.
    set_receiver_index: RECEIVER;
});

impl<T: AsRef<[u8]>> TransportData<T> {
    /// The nonce counter; check it against the replay window before and after decrypting.
    pub fn counter(&self) -> u64 {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&self.buffer.as_ref()[field::COUNTER]);
        u64::from_le_bytes(bytes)
    }

    /// The encrypted packet followed by its tag.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }

    /// Length of the (padded) plaintext the payload decrypts to.
    pub fn plaintext_len(&self) -> usize {
        self.buffer.as_ref().len().saturating_sub(TRANSPORT_MIN_LEN)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TransportData<T> {
    /// Sets the nonce counter.
    pub fn set_counter(&mut self, counter: u64) {
        self.buffer.as_mut()[field::COUNTER].copy_from_slice(&counter.to_le_bytes());
    }

    /// The payload (plaintext then tag space, or ciphertext then tag), for in-place crypto.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }

    /// Splits the payload into the packet bytes and the tag, for detached in-place AEAD.
    pub fn packet_and_tag_mut(&mut self) -> (&mut [u8], &mut [u8]) {
        let payload = self.payload_mut();
        let split = payload.len().saturating_sub(TAG_LEN);
        payload.split_at_mut(split)
    }
}

/// How many bytes an inner packet of `len` bytes occupies once padded, exactly as Linux pads
/// it: up to the next multiple of 16, but never past the tunnel MTU. The padding hides the
/// exact length of the inner packet. An `mtu` of 0 means "unknown" (pad to 16 only); a packet
/// already larger than the MTU is padded by what its remainder modulo the MTU needs.
pub fn padded_payload_len(len: usize, mtu: usize) -> usize {
    let align = |n: usize| {
        n.div_ceil(TRANSPORT_PADDING)
            .saturating_mul(TRANSPORT_PADDING)
    };
    if mtu == 0 {
        return align(len);
    }
    let last_unit = if len > mtu { len % mtu } else { len };
    let padding = align(last_unit).min(mtu) - last_unit;
    len.saturating_add(padding)
}

/// Total on-the-wire size of a transport message carrying `payload_len` bytes of plaintext
/// (saturating, so an absurd length fails the caller's buffer check instead of overflowing).
pub const fn transport_len(payload_len: usize) -> usize {
    payload_len.saturating_add(TRANSPORT_HEADER_LEN + TAG_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn fields_roundtrip_at_their_offsets() {
        let mut buf = [0u8; 40];
        let mut msg = TransportData::new_unchecked(&mut buf[..]);
        msg.set_message_type();
        msg.set_receiver_index(0x0403_0201);
        msg.set_counter(0x0c0b_0a09_0807_0605);
        let (packet, tag) = msg.packet_and_tag_mut();
        assert_eq!((packet.len(), tag.len()), (8, 16));
        assert_eq!(
            &buf[..16],
            &[4, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        );
        let msg = TransportData::new_checked(&buf[..]).unwrap();
        assert_eq!(msg.receiver_index(), 0x0403_0201);
        assert_eq!(msg.counter(), 0x0c0b_0a09_0807_0605);
        assert_eq!((msg.payload().len(), msg.plaintext_len()), (24, 8));
    }

    #[test]
    fn checked_rejects_bad_buffers() {
        let mut buf = [0u8; 32];
        buf[0] = 4;
        assert!(TransportData::new_checked(&buf[..]).is_ok());
        assert_eq!(
            TransportData::new_checked(&buf[..31]).unwrap_err(),
            Error::WrongLength
        );
        buf[3] = 1;
        assert_eq!(
            TransportData::new_checked(&buf[..]).unwrap_err(),
            Error::WrongType
        );
    }

    #[test]
    fn padding_follows_linux() {
        assert_eq!(padded_payload_len(0, 1420), 0);
        assert_eq!(padded_payload_len(1, 1420), 16);
        assert_eq!(padded_payload_len(16, 1420), 16);
        assert_eq!(padded_payload_len(1419, 1420), 1420);
        assert_eq!(padded_payload_len(1420, 1420), 1420);
        assert_eq!(padded_payload_len(1500, 1420), 1500);
        assert_eq!(padded_payload_len(1501, 1420), 1516);
        assert_eq!(padded_payload_len(17, 0), 32);
        assert_eq!(transport_len(0), 32);
        assert_eq!(transport_len(usize::MAX), usize::MAX);
        assert!(padded_payload_len(usize::MAX, 0) >= usize::MAX - 15);
    }
}
