//! The Noise_IKpsk2 handshake (whitepaper section 5.4), split into sans-IO steps.
//!
//! Flow, with the engine (caller) doing everything that needs tables, clocks or sockets:
//!
//! ```text
//! initiator                                         responder
//! ---------                                         ---------
//! create_initiation(peer, cookies, idx_i, tai64n, now, rng, out)
//!     -> InitiatorState (kept per peer)   ---- 148 B ---->
//!                                                   [CookieChecker: mac1, mac2 if under load]
//!                                                   consume_initiation(local, msg)
//!                                                       -> IncomingInitiation (peer_public())
//!                                                   [engine: look peer up by public key]
//!                                                   .open_timestamp(peer) -> AcceptedInitiation
//!                                                   [engine: timestamp().is_after(last)?]
//!                                                   create_response(accepted, peer, cookies,
//!                                   <---- 92 B ----      idx_r, now, rng, out) -> SessionKeys
//! [CookieChecker: mac1, ...]
//! consume_response(&state, local, peer, msg) -> SessionKeys
//! ```
//!
//! Sender indices are chosen by the caller (random, unique among its live handshakes and
//! sessions). Every Diffie-Hellman refuses an all-zero result.

mod initiator;
mod responder;
mod symmetric;

pub use initiator::{consume_response, create_initiation, InitiatorState};
pub use responder::{consume_initiation, create_response, AcceptedInitiation, IncomingInitiation};

use core::fmt;

use zeroize::Zeroizing;

use crate::constants::KEY_LEN;
use crate::error::{Error, Result};
use crate::keys::{PresharedKey, PrivateKey, PublicKey};
use crate::macs::{cookie_key, mac1_key, verify_mac1};
use symmetric::SymmetricState;

/// Our side of every handshake on one interface: the static key pair and what is derived from
/// our public key once (the MAC1 key peers use towards us, and the responder's initial
/// handshake state, which is bound to our public key).
pub struct LocalIdentity {
    private_key: PrivateKey,
    public_key: PublicKey,
    mac1_key: [u8; KEY_LEN],
    cookie_key: [u8; KEY_LEN],
    responder_initial: SymmetricState,
}

impl LocalIdentity {
    /// Builds the identity for an interface's private key.
    pub fn new(private_key: PrivateKey) -> LocalIdentity {
        let public_key = private_key.public_key();
        LocalIdentity {
            mac1_key: mac1_key(&public_key),
            cookie_key: cookie_key(&public_key),
            responder_initial: SymmetricState::initial(&public_key),
            private_key,
            public_key,
        }
    }

    /// Our static public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// Our static private key.
    pub fn private_key(&self) -> &PrivateKey {
        &self.private_key
    }

    /// `HASH(LABEL_MAC1 || our public key)`: the key of MAC1 on messages sent to us.
    pub fn mac1_key(&self) -> &[u8; KEY_LEN] {
        &self.mac1_key
    }

    /// `HASH(LABEL_COOKIE || our public key)`: the key of cookie replies we send.
    pub fn cookie_key(&self) -> &[u8; KEY_LEN] {
        &self.cookie_key
    }

    /// Checks MAC1 of a received handshake initiation or response (cheap; do it first).
    pub fn verify_mac1(&self, message: &[u8]) -> Result<()> {
        verify_mac1(&self.mac1_key, message)
    }
}

impl fmt::Debug for LocalIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalIdentity")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

/// Everything about one configured peer that the handshake needs and that can be computed
/// when the peer is configured rather than on every handshake: the static-static
/// Diffie-Hellman result, the MAC1 key for messages we send it, the key its cookie replies are
/// encrypted with, and the initiator's initial handshake state (bound to the peer's key).
///
/// Must be rebuilt if our private key changes. Secrets are wiped on drop.
pub struct PeerKeys {
    public_key: PublicKey,
    local_public_key: PublicKey,
    preshared_key: PresharedKey,
    static_static: Zeroizing<[u8; KEY_LEN]>,
    mac1_key: [u8; KEY_LEN],
    cookie_key: [u8; KEY_LEN],
    initiator_initial: SymmetricState,
}

impl PeerKeys {
    /// Precomputes the state for a peer. `preshared_key` is `None` for peers without one
    /// (the all-zero key is then used, as the protocol specifies).
    ///
    /// Fails with [`Error::LowOrderKey`] if the peer's public key has small order, so such a
    /// peer is refused at configuration time.
    pub fn new(
        local: &LocalIdentity,
        public_key: PublicKey,
        preshared_key: Option<PresharedKey>,
    ) -> Result<PeerKeys> {
        let shared = local.private_key.diffie_hellman(&public_key)?;
        Ok(PeerKeys {
            public_key,
            local_public_key: local.public_key,
            preshared_key: preshared_key.unwrap_or_default(),
            static_static: Zeroizing::new(*shared.as_bytes()),
            mac1_key: mac1_key(&public_key),
            cookie_key: cookie_key(&public_key),
            initiator_initial: SymmetricState::initial(&public_key),
        })
    }

    /// The peer's static public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The preshared key (all zeros when none was configured).
    pub fn preshared_key(&self) -> &PresharedKey {
        &self.preshared_key
    }

    /// `HASH(LABEL_MAC1 || peer public key)`: the key of MAC1 on messages we send the peer.
    pub fn mac1_key(&self) -> &[u8; KEY_LEN] {
        &self.mac1_key
    }

    /// `HASH(LABEL_COOKIE || peer public key)`: decrypts cookie replies from the peer.
    pub fn cookie_key(&self) -> &[u8; KEY_LEN] {
        &self.cookie_key
    }

    /// The precomputed `DH(our static, peer static)`.
    fn static_static(&self) -> &[u8; KEY_LEN] {
        &self.static_static
    }
}

impl fmt::Debug for PeerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerKeys")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

/// Turns a failed consistency check into `error`.
fn ensure(condition: bool, error: Error) -> Result<()> {
    if condition {
        Ok(())
    } else {
        Err(error)
    }
}
