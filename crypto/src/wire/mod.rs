//! Zero-copy views of the four WireGuard message types, in the style of smoltcp's `wire`.
//!
//! Each view wraps any `T: AsRef<[u8]>` (a slice, an array, a packet buffer) without copying.
//! `new_checked` validates the length and the 4-byte header so that every getter is then in
//! bounds; `new_unchecked` skips that for buffers the caller is about to fill in, and its getters
//! panic on a short buffer exactly like slice indexing would. All integers are little-endian.
//!
//! The header of every message is one little-endian `u32`: the type (1 to 4) in the low byte
//! and three reserved zero bytes. Like Linux and wireguard-go we compare the whole `u32`, so a
//! message with non-zero reserved bytes has an unknown type.

mod cookie_reply;
mod initiation;
mod response;
mod transport;

pub use cookie_reply::CookieReply;
pub use initiation::HandshakeInitiation;
pub use response::HandshakeResponse;
pub use transport::{padded_payload_len, transport_len, TransportData};

use crate::constants::{
    COOKIE_REPLY_LEN, HANDSHAKE_INITIATION_LEN, HANDSHAKE_RESPONSE_LEN, TRANSPORT_MIN_LEN,
};
use crate::error::{Error, Result};

/// A byte range inside a message.
type Field = core::ops::Range<usize>;

/// Where the header sits in every message type.
const TYPE: Field = 0..4;

/// The kind of a WireGuard message, from its first four bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum MessageType {
    /// Type 1: first handshake message, initiator to responder (148 bytes).
    HandshakeInitiation = 1,
    /// Type 2: second handshake message, responder to initiator (92 bytes).
    HandshakeResponse = 2,
    /// Type 3: cookie reply sent instead of a response when under load (64 bytes).
    CookieReply = 3,
    /// Type 4: encrypted transport data or keepalive (at least 32 bytes).
    TransportData = 4,
}

impl MessageType {
    /// The header value as sent on the wire.
    pub const fn to_u32(self) -> u32 {
        self as u32
    }
}

/// Classifies a received datagram: reads the header and checks the size the type requires
/// (exact for types 1 to 3, at least 32 bytes for transport data). Anything else is an `Err`.
pub fn message_type(datagram: &[u8]) -> Result<MessageType> {
    let header = read_u32(datagram, TYPE).ok_or(Error::WrongLength)?;
    let (kind, length_ok) = match header {
        1 => (
            MessageType::HandshakeInitiation,
            datagram.len() == HANDSHAKE_INITIATION_LEN,
        ),
        2 => (
            MessageType::HandshakeResponse,
            datagram.len() == HANDSHAKE_RESPONSE_LEN,
        ),
        3 => (MessageType::CookieReply, datagram.len() == COOKIE_REPLY_LEN),
        4 => (
            MessageType::TransportData,
            datagram.len() >= TRANSPORT_MIN_LEN,
        ),
        _ => return Err(Error::WrongType),
    };
    if length_ok {
        Ok(kind)
    } else {
        Err(Error::WrongLength)
    }
}

/// Reads a little-endian `u32` at `field`, or `None` if the buffer is too short.
fn read_u32(buffer: &[u8], field: Field) -> Option<u32> {
    let bytes = buffer.get(field)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// Reads a little-endian `u32` that a checked view guarantees is in bounds.
fn get_u32(buffer: &[u8], field: Field) -> u32 {
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&buffer[field]);
    u32::from_le_bytes(bytes)
}

/// Writes a little-endian `u32` at `field`.
fn set_u32(buffer: &mut [u8], field: Field, value: u32) {
    buffer[field].copy_from_slice(&value.to_le_bytes());
}

/// Copies a fixed-size field out of a buffer.
fn get_array<const N: usize>(buffer: &[u8], field: Field) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&buffer[field]);
    out
}

/// The checks shared by the fixed-size messages (types 1 to 3): exact length, then header.
fn check_fixed(buffer: &[u8], len: usize, kind: MessageType) -> Result<()> {
    if buffer.len() != len {
        return Err(Error::WrongLength);
    }
    check_type(buffer, kind)
}

/// Checks the 4-byte header (type and zero reserved bytes) of a buffer known to hold it.
fn check_type(buffer: &[u8], kind: MessageType) -> Result<()> {
    match read_u32(buffer, TYPE) {
        Some(header) if header == kind.to_u32() => Ok(()),
        Some(_) => Err(Error::WrongType),
        None => Err(Error::WrongLength),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_checks_sizes() {
        let mut buf = [0u8; 200];
        buf[0] = 1;
        assert_eq!(
            message_type(&buf[..148]),
            Ok(MessageType::HandshakeInitiation)
        );
        assert_eq!(message_type(&buf[..147]), Err(Error::WrongLength));
        assert_eq!(message_type(&buf[..149]), Err(Error::WrongLength));
        buf[0] = 2;
        assert_eq!(message_type(&buf[..92]), Ok(MessageType::HandshakeResponse));
        assert_eq!(message_type(&buf[..93]), Err(Error::WrongLength));
        buf[0] = 3;
        assert_eq!(message_type(&buf[..64]), Ok(MessageType::CookieReply));
        assert_eq!(message_type(&buf[..63]), Err(Error::WrongLength));
        buf[0] = 4;
        assert_eq!(message_type(&buf[..32]), Ok(MessageType::TransportData));
        assert_eq!(message_type(&buf[..200]), Ok(MessageType::TransportData));
        assert_eq!(message_type(&buf[..31]), Err(Error::WrongLength));
        assert_eq!(message_type(&buf[..3]), Err(Error::WrongLength));
        assert_eq!(message_type(&[]), Err(Error::WrongLength));
        buf[0] = 5;
        assert_eq!(message_type(&buf[..148]), Err(Error::WrongType));
        buf[0] = 0;
        assert_eq!(message_type(&buf[..148]), Err(Error::WrongType));
    }

    #[test]
    fn reserved_bytes_must_be_zero() {
        for reserved in 1..4 {
            let mut buf = [0u8; 148];
            buf[0] = 1;
            buf[reserved] = 1;
            assert_eq!(message_type(&buf), Err(Error::WrongType));
        }
    }
}
