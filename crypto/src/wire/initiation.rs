//! Handshake initiation (message type 1), 148 bytes:
//!
//! ```text
//!  0      4       8           40                88              116    132    148
//!  | type | sender | ephemeral | static (32+16) | timestamp (12+16) | mac1 | mac2 |
//! ```

use super::get_array;
use crate::constants::KEY_LEN;

mod field {
    use crate::wire::Field;

    /// Message type (1) and three reserved zero bytes.
    pub const TYPE: Field = 0..4;
    /// The initiator's index for this handshake; the responder echoes it as receiver index.
    pub const SENDER: Field = 4..8;
    /// The initiator's ephemeral public key, in clear.
    pub const EPHEMERAL: Field = 8..40;
    /// The initiator's static public key, AEAD-encrypted (32 bytes + tag).
    pub const STATIC: Field = 40..88;
    /// The TAI64N timestamp, AEAD-encrypted (12 bytes + tag).
    pub const TIMESTAMP: Field = 88..116;
    /// MAC over everything before it, keyed by the responder's public key.
    pub const MAC1: Field = 116..132;
    /// MAC over everything before it, keyed by a cookie, or zeros.
    pub const MAC2: Field = 132..148;
}

message_view! {
    /// A typed view of a handshake initiation in a byte buffer.
    HandshakeInitiation, "exactly 148 bytes"
}

index_fields!(HandshakeInitiation {
    /// The initiator's index for this handshake.
    sender_index,
    /// Sets the initiator's index.
    set_sender_index: SENDER;
});

mac_fields!(HandshakeInitiation, "initiator");

impl<T: AsRef<[u8]>> HandshakeInitiation<T> {
    /// The initiator's ephemeral public key.
    pub fn ephemeral(&self) -> [u8; KEY_LEN] {
        get_array(self.buffer.as_ref(), field::EPHEMERAL)
    }

    /// The encrypted static public key with its tag.
    pub fn encrypted_static(&self) -> &[u8] {
        &self.buffer.as_ref()[field::STATIC]
    }

    /// The encrypted timestamp with its tag.
    pub fn encrypted_timestamp(&self) -> &[u8] {
        &self.buffer.as_ref()[field::TIMESTAMP]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> HandshakeInitiation<T> {
    /// Sets the ephemeral public key.
    pub fn set_ephemeral(&mut self, key: &[u8; KEY_LEN]) {
        self.buffer.as_mut()[field::EPHEMERAL].copy_from_slice(key);
    }

    /// The encrypted static key field, to be sealed into.
    pub fn encrypted_static_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::STATIC]
    }

    /// The encrypted timestamp field, to be sealed into.
    pub fn encrypted_timestamp_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::TIMESTAMP]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn fields_roundtrip_at_their_offsets() {
        let mut buf = [0u8; 148];
        let mut msg = HandshakeInitiation::new_unchecked(&mut buf[..]);
        msg.set_message_type();
        msg.set_sender_index(0x0403_0201);
        msg.set_ephemeral(&[0xee; 32]);
        msg.encrypted_static_mut().fill(0x55);
        msg.encrypted_timestamp_mut().fill(0x77);
        msg.set_mac1(&[0x11; 16]);
        msg.set_mac2(&[0x22; 16]);
        assert_eq!(&buf[..8], &[1, 0, 0, 0, 1, 2, 3, 4]);
        assert!(buf[8..40].iter().all(|&b| b == 0xee));
        assert!(buf[40..88].iter().all(|&b| b == 0x55));
        assert!(buf[88..116].iter().all(|&b| b == 0x77));
        let msg = HandshakeInitiation::new_checked(&buf[..]).unwrap();
        assert_eq!(msg.message_type(), 1);
        assert_eq!(msg.sender_index(), 0x0403_0201);
        assert_eq!(msg.mac1(), [0x11; 16]);
        assert_eq!(msg.mac2(), [0x22; 16]);
    }

    #[test]
    fn checked_rejects_bad_buffers() {
        let mut buf = [0u8; 149];
        buf[0] = 1;
        assert_eq!(
            HandshakeInitiation::new_checked(&buf[..148]).map(|_| ()),
            Ok(())
        );
        assert_eq!(
            HandshakeInitiation::new_checked(&buf[..]).unwrap_err(),
            Error::WrongLength
        );
        assert_eq!(
            HandshakeInitiation::new_checked(&buf[..147]).unwrap_err(),
            Error::WrongLength
        );
        buf[0] = 2;
        assert_eq!(
            HandshakeInitiation::new_checked(&buf[..148]).unwrap_err(),
            Error::WrongType
        );
    }
}
