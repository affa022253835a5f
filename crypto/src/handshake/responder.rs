//! The responder's half of the handshake, in the three steps the engine interleaves with its
//! own lookups: decrypt the initiator's identity, decrypt its timestamp, write the response.

use core::fmt;
use core::time::Duration;

use rand_core::{CryptoRng, RngCore};

use super::symmetric::SymmetricState;
use super::{ensure, LocalIdentity, PeerKeys};
use crate::constants::{HANDSHAKE_RESPONSE_LEN, KEY_LEN, TAG_LEN, TIMESTAMP_LEN};
use crate::cookie::CookieState;
use crate::error::{Error, Result};
use crate::keys::{PrivateKey, PublicKey};
use crate::session::SessionKeys;
use crate::tai64n::Tai64N;
use crate::wire::{HandshakeInitiation, HandshakeResponse};

/// A handshake initiation whose sender we have identified, but not yet authenticated: only
/// someone knowing the sender's *private* key can produce the timestamp field that
/// [`IncomingInitiation::open_timestamp`] decrypts next.
pub struct IncomingInitiation {
    sender_index: u32,
    peer_public_key: PublicKey,
    initiator_ephemeral: PublicKey,
    symmetric: SymmetricState,
    encrypted_timestamp: [u8; TIMESTAMP_LEN + TAG_LEN],
}

/// A handshake initiation fully decrypted and authenticated as coming from a configured peer.
/// The caller checks [`AcceptedInitiation::timestamp`] against the last one it accepted from
/// this peer before answering with [`create_response`].
pub struct AcceptedInitiation {
    sender_index: u32,
    peer_public_key: PublicKey,
    initiator_ephemeral: PublicKey,
    symmetric: SymmetricState,
    timestamp: Tai64N,
}

/// First responder step: checks MAC1 and decrypts the initiator's static public key.
///
/// The caller then looks the peer up by [`IncomingInitiation::peer_public_key`] (dropping the
/// message if unknown) and continues with [`IncomingInitiation::open_timestamp`]. Costs one
/// Diffie-Hellman; under load, verify MAC2 with the cookie checker before calling this.
pub fn consume_initiation(local: &LocalIdentity, message: &[u8]) -> Result<IncomingInitiation> {
    local.verify_mac1(message)?;
    let initiation = HandshakeInitiation::new_checked(message)?;
    let mut symmetric = local.responder_initial.clone();
    let initiator_ephemeral = PublicKey::from_bytes(initiation.ephemeral());

    // C = KDF1(C, E_pub_i); H = HASH(H || E_pub_i)
    symmetric.mix_key(initiator_ephemeral.as_bytes());
    symmetric.mix_hash(initiator_ephemeral.as_bytes());
    // (C, k) = KDF2(C, DH(S_priv_r, E_pub_i)); S_pub_i = AEAD-open(k, 0, static, H)
    let shared = local.private_key.diffie_hellman(&initiator_ephemeral)?;
    let key = symmetric.mix_key_and_derive(shared.as_bytes());
    let mut peer_public = [0u8; KEY_LEN];
    symmetric.decrypt_and_hash(&key, initiation.encrypted_static(), &mut peer_public)?;

    let mut encrypted_timestamp = [0u8; TIMESTAMP_LEN + TAG_LEN];
    encrypted_timestamp.copy_from_slice(initiation.encrypted_timestamp());
    Ok(IncomingInitiation {
        sender_index: initiation.sender_index(),
        peer_public_key: PublicKey::from_bytes(peer_public),
        initiator_ephemeral,
        symmetric,
        encrypted_timestamp,
    })
}

impl IncomingInitiation {
    /// The initiator's static public key, decrypted: look the peer up by it.
    pub fn peer_public_key(&self) -> &PublicKey {
        &self.peer_public_key
    }

    /// The initiator's index, which our response and its transport data will name.
    pub fn sender_index(&self) -> u32 {
        self.sender_index
    }

    /// Second responder step: with the state of the peer the static key identified, decrypts
    /// the timestamp, which authenticates the initiator. Fails with [`Error::WrongPeer`] if
    /// `peer` is not the peer named by the initiation.
    pub fn open_timestamp(self, peer: &PeerKeys) -> Result<AcceptedInitiation> {
        ensure(self.peer_public_key == peer.public_key, Error::WrongPeer)?;
        let mut symmetric = self.symmetric;
        // (C, k) = KDF2(C, DH(S_priv_r, S_pub_i)), precomputed; timestamp = AEAD-open(k, 0, ...)
        let key = symmetric.mix_key_and_derive(peer.static_static());
        let mut timestamp = [0u8; TIMESTAMP_LEN];
        symmetric.decrypt_and_hash(&key, &self.encrypted_timestamp, &mut timestamp)?;
        Ok(AcceptedInitiation {
            sender_index: self.sender_index,
            peer_public_key: self.peer_public_key,
            initiator_ephemeral: self.initiator_ephemeral,
            symmetric,
            timestamp: Tai64N::from_bytes(timestamp),
        })
    }
}

impl AcceptedInitiation {
    /// The initiator's timestamp: answer only if it [`is_after`](Tai64N::is_after) the last
    /// one accepted from this peer, then remember it (replay protection).
    pub fn timestamp(&self) -> Tai64N {
        self.timestamp
    }

    /// The initiator's index.
    pub fn sender_index(&self) -> u32 {
        self.sender_index
    }

    /// The authenticated initiator.
    pub fn peer_public_key(&self) -> &PublicKey {
        &self.peer_public_key
    }
}

/// Last responder step: writes the handshake response into `out` and returns the session keys
/// (the session becomes usable for sending once the initiator has confirmed it by sending
/// the first transport packet).
///
/// `sender_index` is our index for the new session, chosen by the caller; `cookies` and `now`
/// supply MAC2 when the peer has sent us a cookie; `rng` draws the ephemeral key.
pub fn create_response(
    accepted: AcceptedInitiation,
    peer: &PeerKeys,
    cookies: &mut CookieState,
    sender_index: u32,
    now: Duration,
    rng: &mut (impl RngCore + CryptoRng),
    out: &mut [u8; HANDSHAKE_RESPONSE_LEN],
) -> Result<SessionKeys> {
    ensure(
        accepted.peer_public_key == peer.public_key,
        Error::WrongPeer,
    )?;
    let mut symmetric = accepted.symmetric;
    let ephemeral = PrivateKey::generate(rng);
    let ephemeral_public = ephemeral.public_key();

    let mut message = HandshakeResponse::new_unchecked(&mut out[..]);
    message.set_message_type();
    message.set_sender_index(sender_index);
    message.set_receiver_index(accepted.sender_index);

    // C = KDF1(C, E_pub_r); H = HASH(H || E_pub_r)
    message.set_ephemeral(ephemeral_public.as_bytes());
    symmetric.mix_key(ephemeral_public.as_bytes());
    symmetric.mix_hash(ephemeral_public.as_bytes());
    // C = KDF1(C, DH(E_priv_r, E_pub_i)); C = KDF1(C, DH(E_priv_r, S_pub_i))
    symmetric.mix_key(
        ephemeral
            .diffie_hellman(&accepted.initiator_ephemeral)?
            .as_bytes(),
    );
    symmetric.mix_key(ephemeral.diffie_hellman(&peer.public_key)?.as_bytes());
    // (C, τ, k) = KDF3(C, Q); H = HASH(H || τ); empty = AEAD(k, 0, ε, H)
    let key = symmetric.mix_preshared_key(peer.preshared_key.as_bytes());
    symmetric.encrypt_and_hash(&key, &[], message.encrypted_empty_mut())?;

    cookies.write_macs(peer, &mut out[..], now)?;
    Ok(SessionKeys::derive(symmetric.chaining_key(), false))
}

impl fmt::Debug for IncomingInitiation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingInitiation")
            .field("sender_index", &self.sender_index)
            .field("peer_public_key", &self.peer_public_key)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AcceptedInitiation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptedInitiation")
            .field("sender_index", &self.sender_index)
            .field("peer_public_key", &self.peer_public_key)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}
