//! MAC1 and MAC2 of handshake messages (whitepaper section 5.4.4).
//!
//! Both handshake message types end with `mac1 || mac2`. MAC1 is keyed by a hash of the
//! *receiver's* public key, so anyone who knows whom they talk to can compute it: it lets a
//! receiver discard garbage before doing any Diffie-Hellman. MAC2 is keyed by a cookie the
//! receiver handed out, proving the sender owns its IP address when the receiver is under load.

use crate::constants::{KEY_LEN, LABEL_COOKIE, LABEL_MAC1, MAC_LEN};
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::primitives::{hash, mac, mac_matches};
use crate::wire::{message_type, MessageType};

/// `HASH(LABEL_MAC1 || public)`: the key for MAC1 of messages sent *to* the owner of `public`.
pub fn mac1_key(public: &PublicKey) -> [u8; KEY_LEN] {
    hash(&[LABEL_MAC1, public.as_bytes()])
}

/// `HASH(LABEL_COOKIE || public)`: the key of cookie replies sent *by* the owner of `public`.
pub fn cookie_key(public: &PublicKey) -> [u8; KEY_LEN] {
    hash(&[LABEL_COOKIE, public.as_bytes()])
}

/// The parts of a handshake message (type 1 or 2) that MAC1 and MAC2 cover and occupy.
pub(crate) struct MacFields<'a> {
    /// Everything before MAC1, which MAC1 covers.
    pub before_mac1: &'a [u8],
    /// Everything before MAC2 (so including MAC1), which MAC2 covers.
    pub before_mac2: &'a [u8],
    /// The MAC1 bytes.
    pub mac1: &'a [u8],
    /// The MAC2 bytes.
    pub mac2: &'a [u8],
}

/// Locates the MAC fields of a handshake initiation or response, checking type and size.
pub(crate) fn mac_fields(message: &[u8]) -> Result<MacFields<'_>> {
    match message_type(message)? {
        MessageType::HandshakeInitiation | MessageType::HandshakeResponse => {}
        MessageType::CookieReply | MessageType::TransportData => return Err(Error::WrongType),
    }
    let mac2_start = message.len() - MAC_LEN;
    let mac1_start = mac2_start - MAC_LEN;
    Ok(MacFields {
        before_mac1: &message[..mac1_start],
        before_mac2: &message[..mac2_start],
        mac1: &message[mac1_start..mac2_start],
        mac2: &message[mac2_start..],
    })
}

/// The sender index of a handshake initiation or response (both carry it at bytes 4..8).
pub(crate) fn handshake_sender_index(message: &[u8]) -> Result<u32> {
    mac_fields(message)?;
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&message[4..8]);
    Ok(u32::from_le_bytes(bytes))
}

/// Checks MAC1 of a received handshake initiation or response, with `mac1_key` derived from
/// *our* public key (see [`mac1_key`]). Constant-time comparison.
pub fn verify_mac1(mac1_key: &[u8; KEY_LEN], message: &[u8]) -> Result<()> {
    let fields = mac_fields(message)?;
    let expected = mac(mac1_key, &[fields.before_mac1]);
    if mac_matches(&expected, fields.mac1) {
        Ok(())
    } else {
        Err(Error::InvalidMac1)
    }
}

/// Checks MAC2 of a received handshake message against the cookie its sender should hold.
/// Constant-time comparison; a mismatch means the sender must first get a cookie reply.
pub(crate) fn verify_mac2(cookie: &[u8; MAC_LEN], message: &[u8]) -> Result<()> {
    let fields = mac_fields(message)?;
    let expected = mac(cookie, &[fields.before_mac2]);
    if mac_matches(&expected, fields.mac2) {
        Ok(())
    } else {
        Err(Error::CookieRequired)
    }
}

/// Writes MAC1, then MAC2 (computed with `cookie`, or zeros without one), into an outgoing
/// handshake message whose other fields are final. Returns the MAC1 written.
pub(crate) fn write_macs(
    mac1_key: &[u8; KEY_LEN],
    cookie: Option<&[u8; MAC_LEN]>,
    message: &mut [u8],
) -> Result<[u8; MAC_LEN]> {
    let fields = mac_fields(message)?;
    let mac1 = mac(mac1_key, &[fields.before_mac1]);
    let mac2_start = message.len() - MAC_LEN;
    let mac1_start = mac2_start - MAC_LEN;
    message[mac1_start..mac2_start].copy_from_slice(&mac1);
    let mac2 = match cookie {
        Some(cookie) => mac(cookie, &[&message[..mac2_start]]),
        None => [0u8; MAC_LEN],
    };
    message[mac2_start..].copy_from_slice(&mac2);
    Ok(mac1)
}
