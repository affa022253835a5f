//! Cookie reply (message type 3), 64 bytes:
//!
//! ```text
//!  0      4          8       32                  64
//!  | type | receiver | nonce | cookie (16+16)     |
//! ```

use super::get_array;
use crate::constants::COOKIE_NONCE_LEN;

mod field {
    use crate::wire::Field;

    /// Message type (3) and three reserved zero bytes.
    pub const TYPE: Field = 0..4;
    /// The sender index of the handshake message this reply answers.
    pub const RECEIVER: Field = 4..8;
    /// Random XChaCha20-Poly1305 nonce.
    pub const NONCE: Field = 8..32;
    /// The 16-byte cookie, XAEAD-encrypted with the mac1 of the answered message as AD.
    pub const COOKIE: Field = 32..64;
}

message_view! {
    /// A typed view of a cookie reply in a byte buffer.
    CookieReply, "exactly 64 bytes"
}

index_fields!(CookieReply {
    /// The index we sent in the handshake message this reply answers.
    receiver_index,
    /// Sets the index of the handshake message being answered.
    set_receiver_index: RECEIVER;
});

impl<T: AsRef<[u8]>> CookieReply<T> {
    /// The XChaCha20-Poly1305 nonce.
    pub fn nonce(&self) -> [u8; COOKIE_NONCE_LEN] {
        get_array(self.buffer.as_ref(), field::NONCE)
    }

    /// The encrypted cookie with its tag.
    pub fn encrypted_cookie(&self) -> &[u8] {
        &self.buffer.as_ref()[field::COOKIE]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> CookieReply<T> {
    /// Sets the nonce.
    pub fn set_nonce(&mut self, nonce: &[u8; COOKIE_NONCE_LEN]) {
        self.buffer.as_mut()[field::NONCE].copy_from_slice(nonce);
    }

    /// The encrypted cookie field, to be sealed into.
    pub fn encrypted_cookie_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::COOKIE]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn fields_roundtrip_at_their_offsets() {
        let mut buf = [0u8; 64];
        let mut msg = CookieReply::new_unchecked(&mut buf[..]);
        msg.set_message_type();
        msg.set_receiver_index(0x0403_0201);
        msg.set_nonce(&[0xaa; 24]);
        msg.encrypted_cookie_mut().fill(0x55);
        assert_eq!(&buf[..8], &[3, 0, 0, 0, 1, 2, 3, 4]);
        assert!(buf[8..32].iter().all(|&b| b == 0xaa));
        let msg = CookieReply::new_checked(&buf[..]).unwrap();
        assert_eq!(msg.receiver_index(), 0x0403_0201);
        assert_eq!(msg.nonce(), [0xaa; 24]);
        assert_eq!(msg.encrypted_cookie(), &[0x55; 32]);
    }

    #[test]
    fn checked_rejects_bad_buffers() {
        let mut buf = [0u8; 65];
        buf[0] = 3;
        assert!(CookieReply::new_checked(&buf[..64]).is_ok());
        assert_eq!(
            CookieReply::new_checked(&buf[..]).unwrap_err(),
            Error::WrongLength
        );
        assert_eq!(
            CookieReply::new_checked(&buf[..63]).unwrap_err(),
            Error::WrongLength
        );
        buf[0] = 4;
        assert_eq!(
            CookieReply::new_checked(&buf[..64]).unwrap_err(),
            Error::WrongType
        );
    }
}
