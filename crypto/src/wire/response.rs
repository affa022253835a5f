//! Handshake response (message type 2), 92 bytes:
//!
//! ```text
//!  0      4        8          12          44             60     76     92
//!  | type | sender | receiver | ephemeral | empty (0+16) | mac1 | mac2 |
//! ```

use super::get_array;
use crate::constants::KEY_LEN;

mod field {
    use crate::wire::Field;

    /// Message type (2) and three reserved zero bytes.
    pub const TYPE: Field = 0..4;
    /// The responder's index for the new session.
    pub const SENDER: Field = 4..8;
    /// The initiator's index, echoed from the initiation.
    pub const RECEIVER: Field = 8..12;
    /// The responder's ephemeral public key, in clear.
    pub const EPHEMERAL: Field = 12..44;
    /// The AEAD of the empty string: only a tag, proving the responder derived the keys.
    pub const EMPTY: Field = 44..60;
    /// MAC over everything before it, keyed by the initiator's public key.
    pub const MAC1: Field = 60..76;
    /// MAC over everything before it, keyed by a cookie, or zeros.
    pub const MAC2: Field = 76..92;
}

message_view! {
    /// A typed view of a handshake response in a byte buffer.
    HandshakeResponse, "exactly 92 bytes"
}

index_fields!(HandshakeResponse {
    /// The responder's index: the receiver index of transport data we send in this session.
    sender_index,
    /// Sets the responder's index.
    set_sender_index: SENDER;
    /// The initiator's index this response answers.
    receiver_index,
    /// Sets the initiator's index being answered.
    set_receiver_index: RECEIVER;
});

mac_fields!(HandshakeResponse, "responder");

impl<T: AsRef<[u8]>> HandshakeResponse<T> {
    /// The responder's ephemeral public key.
    pub fn ephemeral(&self) -> [u8; KEY_LEN] {
        get_array(self.buffer.as_ref(), field::EPHEMERAL)
    }

    /// The encrypted empty payload (its 16-byte tag).
    pub fn encrypted_empty(&self) -> &[u8] {
        &self.buffer.as_ref()[field::EMPTY]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> HandshakeResponse<T> {
    /// Sets the ephemeral public key.
    pub fn set_ephemeral(&mut self, key: &[u8; KEY_LEN]) {
        self.buffer.as_mut()[field::EPHEMERAL].copy_from_slice(key);
    }

    /// The encrypted empty field, to be sealed into.
    pub fn encrypted_empty_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::EMPTY]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn fields_roundtrip_at_their_offsets() {
        let mut buf = [0u8; 92];
        let mut msg = HandshakeResponse::new_unchecked(&mut buf[..]);
        msg.set_message_type();
        msg.set_sender_index(0x0403_0201);
        msg.set_receiver_index(0x0807_0605);
        msg.set_ephemeral(&[0xee; 32]);
        msg.encrypted_empty_mut().fill(0x55);
        msg.set_mac1(&[0x11; 16]);
        msg.set_mac2(&[0x22; 16]);
        assert_eq!(&buf[..12], &[2, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(buf[12..44].iter().all(|&b| b == 0xee));
        assert!(buf[44..60].iter().all(|&b| b == 0x55));
        let msg = HandshakeResponse::new_checked(&buf[..]).unwrap();
        assert_eq!(
            (msg.sender_index(), msg.receiver_index()),
            (0x0403_0201, 0x0807_0605)
        );
        assert_eq!((msg.mac1(), msg.mac2()), ([0x11; 16], [0x22; 16]));
    }

    #[test]
    fn checked_rejects_bad_buffers() {
        let mut buf = [0u8; 93];
        buf[0] = 2;
        assert!(HandshakeResponse::new_checked(&buf[..92]).is_ok());
        assert_eq!(
            HandshakeResponse::new_checked(&buf[..]).unwrap_err(),
            Error::WrongLength
        );
        assert_eq!(
            HandshakeResponse::new_checked(&buf[..91]).unwrap_err(),
            Error::WrongLength
        );
        buf[0] = 1;
        assert_eq!(
            HandshakeResponse::new_checked(&buf[..92]).unwrap_err(),
            Error::WrongType
        );
    }
}
