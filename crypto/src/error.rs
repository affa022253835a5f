//! The crate's single, flat error type.
//!
//! Every parser of untrusted bytes and every cryptographic check reports failure through
//! [`Error`]; nothing in this crate panics on input from the network or from a config file.

use core::fmt;

/// Why a message, key or cryptographic operation was rejected.
///
/// The variants are deliberately coarse: a peer learns nothing from them (they are never sent
/// on the wire), but the engine can count and log them separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The buffer is too short, too long, or not the exact size its message type requires.
    WrongLength,
    /// The 4-byte message header is not the type expected (or its reserved bytes are not zero).
    WrongType,
    /// The output buffer given by the caller cannot hold the result.
    BufferTooSmall,
    /// MAC1 does not match: the message was not meant for us, or was corrupted.
    InvalidMac1,
    /// MAC2 is missing or wrong while we are under load: answer with a cookie reply.
    CookieRequired,
    /// An AEAD tag did not verify (handshake field, transport packet or cookie).
    DecryptFailed,
    /// A public key has small order, so Diffie-Hellman with it yields the all-zero secret.
    LowOrderKey,
    /// A handshake initiation's TAI64N timestamp is not newer than the last one accepted.
    StaleTimestamp,
    /// The decrypted static key of an initiation is not the key of the peer state supplied.
    WrongPeer,
    /// A response or cookie reply names a receiver index that is not the one we sent.
    WrongIndex,
    /// A cookie reply arrived but we have not sent a handshake message it could answer.
    UnexpectedCookieReply,
    /// A key string is not 44 characters of canonical, padded standard base64.
    InvalidBase64,
    /// A key string is not 64 hex digits.
    InvalidHex,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::WrongLength => "wrong message length",
            Error::WrongType => "wrong message type",
            Error::BufferTooSmall => "output buffer too small",
            Error::InvalidMac1 => "invalid mac1",
            Error::CookieRequired => "invalid or missing mac2 (cookie required)",
            Error::DecryptFailed => "authenticated decryption failed",
            Error::LowOrderKey => "public key of small order (all-zero shared secret)",
            Error::StaleTimestamp => "handshake timestamp not newer than the last one",
            Error::WrongPeer => "initiation is from a different peer",
            Error::WrongIndex => "unexpected receiver index",
            Error::UnexpectedCookieReply => "cookie reply without a pending handshake message",
            Error::InvalidBase64 => "key is not valid base64",
            Error::InvalidHex => "key is not 64 hex digits",
        };
        f.write_str(text)
    }
}

impl core::error::Error for Error {}

/// Shorthand for results whose error is [`Error`].
pub type Result<T> = core::result::Result<T, Error>;
