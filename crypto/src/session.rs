//! Transport keys: what a completed handshake yields, and how data packets are sealed/opened.

use core::fmt;

use crate::constants::{KEY_LEN, TAG_LEN, TRANSPORT_HEADER_LEN};
use crate::error::{Error, Result};
use crate::primitives::kdf2;
use crate::wire::{transport_len, TransportData};

/// One direction of a session: a ChaCha20-Poly1305 key used with WireGuard's counter nonce.
///
/// The data path's AEAD is `fast_aead` (one fused pass, SIMD backend chosen once at boot; see
/// that crate), proven equal to RustCrypto's `chacha20poly1305`, which everything off the data
/// path still uses. Works in place on the caller's buffer (no allocation per packet). The key
/// wipes itself when dropped, and `Debug` does not show it.
#[derive(Clone)]
pub struct TransportKey {
    key: fast_aead::Key,
}

impl TransportKey {
    /// Builds the cipher for a 32-byte key.
    pub fn new(key: &[u8; KEY_LEN]) -> TransportKey {
        TransportKey {
            key: fast_aead::Key::new(key),
        }
    }

    /// Encrypts `buffer` in place with nonce `counter` (and empty associated data, as transport
    /// data uses) and returns the tag to append.
    pub fn seal_in_place(&self, counter: u64, buffer: &mut [u8]) -> Result<[u8; TAG_LEN]> {
        Ok(self.key.seal_in_place(counter, &[], buffer))
    }

    /// Verifies `tag` and decrypts `buffer` in place. On failure `buffer` is zeroed: no
    /// unauthenticated plaintext is ever left behind.
    pub fn open_in_place(
        &self,
        counter: u64,
        buffer: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<()> {
        self.key
            .open_in_place(counter, &[], buffer, tag)
            .map_err(|_| Error::DecryptFailed)
    }

    /// Builds a whole transport data message in `message`, whose bytes
    /// `16 .. 16 + payload_len` already hold the (padded) plaintext packet: writes the header,
    /// encrypts the payload in place and appends the tag. Returns the message length
    /// (`payload_len + 32`); `message` must be at least that long.
    pub fn seal_message(
        &self,
        receiver_index: u32,
        counter: u64,
        message: &mut [u8],
        payload_len: usize,
    ) -> Result<usize> {
        let total = transport_len(payload_len);
        let message = message.get_mut(..total).ok_or(Error::BufferTooSmall)?;
        let mut view = TransportData::new_unchecked(&mut *message);
        view.set_message_type();
        view.set_receiver_index(receiver_index);
        view.set_counter(counter);
        let (packet, tag_out) = view.packet_and_tag_mut();
        let tag = self.seal_in_place(counter, packet)?;
        tag_out.copy_from_slice(&tag);
        Ok(total)
    }

    /// Authenticates and decrypts a received transport data message in place and returns the
    /// plaintext (still padded; empty for a keepalive). The counter is taken from the message:
    /// the caller checks it against its replay window before (cheaply) and records it only after
    /// this succeeds.
    pub fn open_message<'a>(&self, message: &'a mut [u8]) -> Result<&'a mut [u8]> {
        let mut view = TransportData::new_checked(&mut *message)?;
        let counter = view.counter();
        let (packet, tag) = view.packet_and_tag_mut();
        let mut tag_bytes = [0u8; TAG_LEN];
        tag_bytes.copy_from_slice(tag);
        self.open_in_place(counter, packet, &tag_bytes)?;
        let end = message.len() - TAG_LEN;
        Ok(&mut message[TRANSPORT_HEADER_LEN..end])
    }
}

impl fmt::Debug for TransportKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransportKey(<redacted>)")
    }
}

/// The two transport keys a handshake establishes, seen from one side.
///
/// Both sides compute `(T1, T2) = KDF2(C, ε)` from the final chaining key; the initiator sends
/// with `T1` and receives with `T2`, the responder the other way round. Both keys are wiped
/// when dropped; the fields are public so the engine can move them into its session table.
#[derive(Debug)]
pub struct SessionKeys {
    /// Key for packets we send.
    pub send: TransportKey,
    /// Key for packets we receive.
    pub recv: TransportKey,
}

impl SessionKeys {
    /// Derives the session keys from the final chaining key of a handshake.
    pub(crate) fn derive(chaining_key: &[u8; KEY_LEN], we_are_initiator: bool) -> SessionKeys {
        let (first, second) = kdf2(chaining_key, &[]);
        let (send, recv) = if we_are_initiator {
            (first, second)
        } else {
            (second, first)
        };
        SessionKeys {
            send: TransportKey::new(&send),
            recv: TransportKey::new(&recv),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_roundtrip_and_tamper() {
        let key = TransportKey::new(&[4; 32]);
        let mut buf = [0u8; 64];
        buf[16..32].copy_from_slice(b"sixteen byte pkt");
        let len = key.seal_message(7, 99, &mut buf, 16).unwrap();
        assert_eq!(len, 48);
        let view = TransportData::new_checked(&buf[..len]).unwrap();
        assert_eq!((view.receiver_index(), view.counter()), (7, 99));
        let mut copy = buf;
        assert_eq!(
            key.open_message(&mut copy[..len]).unwrap(),
            b"sixteen byte pkt"
        );
        for i in 8..len {
            let mut bad = buf;
            bad[i] ^= 1;
            assert!(key.open_message(&mut bad[..len]).is_err(), "byte {i}");
        }
        assert_eq!(
            key.seal_message(7, 99, &mut buf[..47], 16),
            Err(Error::BufferTooSmall)
        );
        assert_eq!(
            key.seal_message(7, 99, &mut buf, usize::MAX),
            Err(Error::BufferTooSmall)
        );
    }

    #[test]
    fn keepalive_is_32_bytes() {
        let key = TransportKey::new(&[5; 32]);
        let mut buf = [0u8; 32];
        assert_eq!(key.seal_message(1, 0, &mut buf, 0), Ok(32));
        assert_eq!(key.open_message(&mut buf).unwrap().len(), 0);
    }

    #[test]
    fn initiator_and_responder_keys_cross() {
        let ck = [8u8; 32];
        let initiator = SessionKeys::derive(&ck, true);
        let responder = SessionKeys::derive(&ck, false);
        let mut packet = *b"ping";
        let tag = initiator.send.seal_in_place(0, &mut packet).unwrap();
        responder.recv.open_in_place(0, &mut packet, &tag).unwrap();
        assert_eq!(&packet, b"ping");
        let tag = responder.send.seal_in_place(0, &mut packet).unwrap();
        initiator.recv.open_in_place(0, &mut packet, &tag).unwrap();
        assert!(initiator.send.open_in_place(0, &mut packet, &tag).is_err());
    }
}
