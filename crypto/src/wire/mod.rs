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

/// Declares a message view `$name<T: AsRef<[u8]>>` and the items every message type shares:
/// `new_unchecked`, `new_checked`, `check_len` (length and header of `MessageType::$name`,
/// the variant of the same name), `into_inner`, the header getter and setter, and
/// `AsRef<[u8]>`. `$size` describes the length for the docs. The header is at `field::TYPE` of
/// the calling module.
macro_rules! message_view {
    ($(#[$doc:meta])* $name:ident, $size:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            #[doc = concat!(
                "Wraps a buffer without checking it; getters panic if it is shorter than ",
                $size,
                "."
            )]
            pub const fn new_unchecked(buffer: T) -> Self {
                $name { buffer }
            }

            #[doc = concat!(
                "Wraps a received buffer after checking its length (",
                $size,
                ") and its header."
            )]
            pub fn new_checked(buffer: T) -> $crate::error::Result<Self> {
                let message = Self::new_unchecked(buffer);
                message.check_len()?;
                Ok(message)
            }

            #[doc = concat!(
                "Checks the length (",
                $size,
                ") and the header ([`MessageType::",
                stringify!($name),
                "`](crate::wire::MessageType::",
                stringify!($name),
                "), reserved bytes zero)."
            )]
            pub fn check_len(&self) -> $crate::error::Result<()> {
                $crate::wire::check_message(
                    self.buffer.as_ref(),
                    $crate::wire::MessageType::$name,
                )
            }

            /// Gives back the underlying buffer.
            pub fn into_inner(self) -> T {
                self.buffer
            }

            #[doc = concat!(
                "The raw header: [`MessageType::",
                stringify!($name),
                "`](crate::wire::MessageType::",
                stringify!($name),
                ") for a valid message."
            )]
            pub fn message_type(&self) -> u32 {
                $crate::wire::get_u32(self.buffer.as_ref(), field::TYPE)
            }
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $name<T> {
            #[doc = concat!(
                "Writes the header: [`MessageType::",
                stringify!($name),
                "`](crate::wire::MessageType::",
                stringify!($name),
                ") and zero reserved bytes."
            )]
            pub fn set_message_type(&mut self) {
                $crate::wire::set_u32(
                    self.buffer.as_mut(),
                    field::TYPE,
                    $crate::wire::MessageType::$name.to_u32(),
                );
            }
        }

        impl<T: AsRef<[u8]>> AsRef<[u8]> for $name<T> {
            fn as_ref(&self) -> &[u8] {
                self.buffer.as_ref()
            }
        }
    };
}

/// Getters and setters of the little-endian `u32` sender and receiver indices of a message
/// view, each at `field::$field` of the calling module, with the docs given for each.
macro_rules! index_fields {
    ($name:ident {
        $(
            $(#[$get_doc:meta])* $get:ident,
            $(#[$set_doc:meta])* $set:ident: $field:ident;
        )+
    }) => {
        impl<T: AsRef<[u8]>> $name<T> {
            $(
                $(#[$get_doc])*
                pub fn $get(&self) -> u32 {
                    $crate::wire::get_u32(self.buffer.as_ref(), field::$field)
                }
            )+
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $name<T> {
            $(
                $(#[$set_doc])*
                pub fn $set(&mut self, index: u32) {
                    $crate::wire::set_u32(self.buffer.as_mut(), field::$field, index);
                }
            )+
        }
    };
}

/// Getters and setters of the MAC1 and MAC2 fields of a handshake message view, at
/// `field::MAC1` and `field::MAC2` of the calling module. `$sender` names who wrote the message.
macro_rules! mac_fields {
    ($name:ident, $sender:literal) => {
        impl<T: AsRef<[u8]>> $name<T> {
            /// MAC1.
            pub fn mac1(&self) -> [u8; $crate::constants::MAC_LEN] {
                $crate::wire::get_array(self.buffer.as_ref(), field::MAC1)
            }

            #[doc = concat!("MAC2 (all zeros when the ", $sender, " held no cookie).")]
            pub fn mac2(&self) -> [u8; $crate::constants::MAC_LEN] {
                $crate::wire::get_array(self.buffer.as_ref(), field::MAC2)
            }
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $name<T> {
            /// Sets MAC1.
            pub fn set_mac1(&mut self, mac: &[u8; $crate::constants::MAC_LEN]) {
                self.buffer.as_mut()[field::MAC1].copy_from_slice(mac);
            }

            /// Sets MAC2.
            pub fn set_mac2(&mut self, mac: &[u8; $crate::constants::MAC_LEN]) {
                self.buffer.as_mut()[field::MAC2].copy_from_slice(mac);
            }
        }
    };
}

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
    let kind = match read_u32(datagram, TYPE).ok_or(Error::WrongLength)? {
        1 => MessageType::HandshakeInitiation,
        2 => MessageType::HandshakeResponse,
        3 => MessageType::CookieReply,
        4 => MessageType::TransportData,
        _ => return Err(Error::WrongType),
    };
    if length_ok(kind, datagram.len()) {
        Ok(kind)
    } else {
        Err(Error::WrongLength)
    }
}

/// Whether `len` is a valid size for a message of this type: exact for types 1 to 3, at least
/// 32 bytes for transport data.
fn length_ok(kind: MessageType, len: usize) -> bool {
    match kind {
        MessageType::HandshakeInitiation => len == HANDSHAKE_INITIATION_LEN,
        MessageType::HandshakeResponse => len == HANDSHAKE_RESPONSE_LEN,
        MessageType::CookieReply => len == COOKIE_REPLY_LEN,
        MessageType::TransportData => len >= TRANSPORT_MIN_LEN,
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

/// The checks of every message view: the length its type requires, then the header.
fn check_message(buffer: &[u8], kind: MessageType) -> Result<()> {
    if !length_ok(kind, buffer.len()) {
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
