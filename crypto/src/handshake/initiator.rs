//! The initiator's half of the handshake: write the initiation, consume the response.

use core::fmt;
use core::time::Duration;

use rand_core::{CryptoRng, RngCore};

use super::symmetric::SymmetricState;
use super::{ensure, LocalIdentity, PeerKeys};
use crate::constants::HANDSHAKE_INITIATION_LEN;
use crate::cookie::CookieState;
use crate::error::{Error, Result};
use crate::keys::{PrivateKey, PublicKey};
use crate::session::SessionKeys;
use crate::tai64n::Tai64N;
use crate::wire::{HandshakeInitiation, HandshakeResponse};

/// What the initiator must remember between sending an initiation and receiving the response:
/// the ephemeral private key and the handshake's chaining key and hash. Keep one per peer (a
/// new initiation replaces the previous one); all secrets are wiped on drop.
pub struct InitiatorState {
    ephemeral: PrivateKey,
    symmetric: SymmetricState,
    sender_index: u32,
    peer_public_key: PublicKey,
}

impl InitiatorState {
    /// The sender index written into the initiation; the response must name it as receiver.
    pub fn sender_index(&self) -> u32 {
        self.sender_index
    }

    /// The peer this handshake is addressed to.
    pub fn peer_public_key(&self) -> &PublicKey {
        &self.peer_public_key
    }
}

impl fmt::Debug for InitiatorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitiatorState")
            .field("sender_index", &self.sender_index)
            .field("peer_public_key", &self.peer_public_key)
            .finish_non_exhaustive()
    }
}

/// Writes a handshake initiation to `peer` into `out` and returns the state to keep for its
/// response.
///
/// * `sender_index`: our index for this handshake, chosen by the caller.
/// * `timestamp`: the current wall-clock time as TAI64N ([`Tai64N::from_unix`]); it must grow
///   from one initiation to the next or the peer will ignore us.
/// * `now`: the caller's monotonic clock, only used to decide whether the cookie held in
///   `cookies` is still fresh enough for MAC2 (`cookies` also remembers the MAC1 sent, to
///   authenticate a cookie reply).
/// * `rng`: source of the ephemeral key.
pub fn create_initiation(
    peer: &PeerKeys,
    cookies: &mut CookieState,
    sender_index: u32,
    timestamp: Tai64N,
    now: Duration,
    rng: &mut (impl RngCore + CryptoRng),
    out: &mut [u8; HANDSHAKE_INITIATION_LEN],
) -> Result<InitiatorState> {
    let mut symmetric = peer.initiator_initial.clone();
    let ephemeral = PrivateKey::generate(rng);
    let ephemeral_public = ephemeral.public_key();

    let mut message = HandshakeInitiation::new_unchecked(&mut out[..]);
    message.set_message_type();
    message.set_sender_index(sender_index);

    // C = KDF1(C, E_pub); H = HASH(H || E_pub)
    message.set_ephemeral(ephemeral_public.as_bytes());
    symmetric.mix_key(ephemeral_public.as_bytes());
    symmetric.mix_hash(ephemeral_public.as_bytes());

    // (C, k) = KDF2(C, DH(E_priv, S_pub_r)); static = AEAD(k, 0, S_pub_i, H)
    let ephemeral_static = ephemeral.diffie_hellman(&peer.public_key)?;
    let key = symmetric.mix_key_and_derive(ephemeral_static.as_bytes());
    symmetric.encrypt_and_hash(
        &key,
        peer.local_public_key.as_bytes(),
        message.encrypted_static_mut(),
    )?;

    // (C, k) = KDF2(C, DH(S_priv_i, S_pub_r)), precomputed; timestamp = AEAD(k, 0, TAI64N, H)
    let key = symmetric.mix_key_and_derive(peer.static_static());
    symmetric.encrypt_and_hash(
        &key,
        timestamp.as_bytes(),
        message.encrypted_timestamp_mut(),
    )?;

    cookies.write_macs(peer, &mut out[..], now)?;
    Ok(InitiatorState {
        ephemeral,
        symmetric,
        sender_index,
        peer_public_key: peer.public_key,
    })
}

/// Consumes the handshake response to our initiation and returns the session keys.
///
/// Checks MAC1 (with our key), that the response names `state`'s sender index, and that it
/// decrypts. The remote's index for the session is [`HandshakeResponse::sender_index`]. On
/// error `state` is untouched, so a forged response does not spoil the genuine one; on success
/// the caller drops `state` (a second response to it must not be accepted).
pub fn consume_response(
    state: &InitiatorState,
    local: &LocalIdentity,
    peer: &PeerKeys,
    message: &[u8],
) -> Result<SessionKeys> {
    local.verify_mac1(message)?;
    let response = HandshakeResponse::new_checked(message)?;
    ensure(
        response.receiver_index() == state.sender_index,
        Error::WrongIndex,
    )?;
    ensure(state.peer_public_key == peer.public_key, Error::WrongPeer)?;

    let mut symmetric = state.symmetric.clone();
    let responder_ephemeral = PublicKey::from_bytes(response.ephemeral());

    // C = KDF1(C, E_pub_r); H = HASH(H || E_pub_r)
    symmetric.mix_key(responder_ephemeral.as_bytes());
    symmetric.mix_hash(responder_ephemeral.as_bytes());
    // C = KDF1(C, DH(E_priv_i, E_pub_r)); C = KDF1(C, DH(S_priv_i, E_pub_r))
    symmetric.mix_key(
        state
            .ephemeral
            .diffie_hellman(&responder_ephemeral)?
            .as_bytes(),
    );
    symmetric.mix_key(
        local
            .private_key
            .diffie_hellman(&responder_ephemeral)?
            .as_bytes(),
    );
    // (C, τ, k) = KDF3(C, Q); H = HASH(H || τ); empty = AEAD(k, 0, ε, H)
    let key = symmetric.mix_preshared_key(peer.preshared_key.as_bytes());
    symmetric.decrypt_and_hash(&key, response.encrypted_empty(), &mut [])?;

    Ok(SessionKeys::derive(symmetric.chaining_key(), true))
}
