//! The cookie mechanism against handshake floods (whitepaper section 5.4.7).
//!
//! A responder under load stops doing Diffie-Hellman for handshake messages whose MAC2 is not
//! valid, and answers them with a cookie reply instead. The cookie is a MAC of the sender's
//! IP address and port under a secret that changes every two minutes, so only a sender that
//! can receive at its claimed address can use it. The reply is encrypted to the receiver of
//! the original message and bound to that message's MAC1, so it cannot be forged or replayed
//! by an off-path attacker.
//!
//! * [`CookieChecker`]: the receiving side (one per interface): verifies MAC1/MAC2 and writes
//!   cookie replies.
//! * [`CookieState`]: the sending side (one per peer): writes MAC1/MAC2 on our handshake
//!   messages, consumes the cookie replies the peer sends us.

use core::fmt;
use core::time::Duration;

use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

use crate::constants::{
    COOKIE_MAX_AGE, COOKIE_NONCE_LEN, COOKIE_REPLY_LEN, COOKIE_SECRET_MAX_AGE, KEY_LEN, MAC_LEN,
};
use crate::error::{Error, Result};
use crate::handshake::{LocalIdentity, PeerKeys};
use crate::macs::{handshake_sender_index, mac_fields, verify_mac1, verify_mac2, write_macs};
use crate::primitives::{mac, xaead_open, xaead_seal};
use crate::wire::CookieReply;

/// True if something that started at `since` is at least `max_age` old at `now`. A clock that
/// appears to have gone backwards counts as expired, the safe side for both users.
fn has_expired(since: Duration, max_age: Duration, now: Duration) -> bool {
    match now.checked_sub(since) {
        Some(age) => age >= max_age,
        None => true,
    }
}

/// Responder side of the cookie mechanism, for one interface.
///
/// Its secret is drawn from the caller's RNG when a reply is first needed and redrawn once it
/// is two minutes old, according to the `now` (monotonic time) the caller passes in. Cookies
/// handed out under an old secret then stop validating, which forces senders to prove their
/// address again.
pub struct CookieChecker {
    mac1_key: [u8; KEY_LEN],
    cookie_key: [u8; KEY_LEN],
    secret: Zeroizing<[u8; KEY_LEN]>,
    secret_born_at: Option<Duration>,
}

impl CookieChecker {
    /// A checker for messages addressed to `local`. It holds no secret until the first reply.
    pub fn new(local: &LocalIdentity) -> CookieChecker {
        CookieChecker {
            mac1_key: *local.mac1_key(),
            cookie_key: *local.cookie_key(),
            secret: Zeroizing::new([0; KEY_LEN]),
            secret_born_at: None,
        }
    }

    /// Checks MAC1 of a received handshake initiation or response. Messages failing this are
    /// dropped silently (never answered).
    pub fn verify_mac1(&self, message: &[u8]) -> Result<()> {
        verify_mac1(&self.mac1_key, message)
    }

    /// Checks MAC2 of a received handshake message against the cookie for `source` (the
    /// sender's IP address bytes followed by its UDP port, in any fixed encoding the caller
    /// always uses). Fails with [`Error::CookieRequired`] if MAC2 is absent or wrong, or if our
    /// secret has expired: the caller should then send a cookie reply.
    pub fn verify_mac2(&self, message: &[u8], source: &[u8], now: Duration) -> Result<()> {
        let cookie = self
            .current_cookie(source, now)
            .ok_or(Error::CookieRequired)?;
        verify_mac2(&cookie, message)
    }

    /// The checks the engine runs on every handshake message before any Diffie-Hellman: MAC1
    /// always, MAC2 only when `under_load`.
    pub fn verify(
        &self,
        message: &[u8],
        source: &[u8],
        now: Duration,
        under_load: bool,
    ) -> Result<()> {
        self.verify_mac1(message)?;
        if under_load {
            self.verify_mac2(message, source, now)?;
        }
        Ok(())
    }

    /// Writes into `out` the cookie reply answering `message` (a handshake initiation or
    /// response with a valid MAC1) that came from `source`. Draws a new secret from `rng` if
    /// the current one is missing or expired, and a fresh nonce for every reply.
    pub fn create_reply(
        &mut self,
        message: &[u8],
        source: &[u8],
        now: Duration,
        rng: &mut (impl RngCore + CryptoRng),
        out: &mut [u8; COOKIE_REPLY_LEN],
    ) -> Result<()> {
        // Never answer garbage: only someone who knows our public key gets a reply.
        self.verify_mac1(message)?;
        let fields = mac_fields(message)?;
        let answered_index = handshake_sender_index(message)?;
        self.rotate_secret_if_needed(now, rng);
        let cookie = self.cookie_for(source);

        let mut nonce = [0u8; COOKIE_NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut reply = CookieReply::new_unchecked(&mut out[..]);
        reply.set_message_type();
        reply.set_receiver_index(answered_index);
        reply.set_nonce(&nonce);
        // cookie = XAEAD(HASH(LABEL_COOKIE || our public key), nonce, cookie, mac1 answered)
        xaead_seal(
            &self.cookie_key,
            &nonce,
            &cookie[..],
            fields.mac1,
            reply.encrypted_cookie_mut(),
        )
    }

    /// The cookie `source` should hold now, if our secret is still valid.
    fn current_cookie(&self, source: &[u8], now: Duration) -> Option<Zeroizing<[u8; MAC_LEN]>> {
        let born_at = self.secret_born_at?;
        if has_expired(born_at, COOKIE_SECRET_MAX_AGE, now) {
            return None;
        }
        Some(self.cookie_for(source))
    }

    /// `MAC(secret, source)`: the cookie for a sender address under the current secret.
    fn cookie_for(&self, source: &[u8]) -> Zeroizing<[u8; MAC_LEN]> {
        Zeroizing::new(mac(&self.secret, &[source]))
    }

    fn rotate_secret_if_needed(&mut self, now: Duration, rng: &mut (impl RngCore + CryptoRng)) {
        let expired = match self.secret_born_at {
            Some(born_at) => has_expired(born_at, COOKIE_SECRET_MAX_AGE, now),
            None => true,
        };
        if expired {
            rng.fill_bytes(&mut *self.secret);
            self.secret_born_at = Some(now);
        }
    }
}

impl fmt::Debug for CookieChecker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieChecker")
            .field("secret_born_at", &self.secret_born_at)
            .finish_non_exhaustive()
    }
}

/// Sender side of the cookie mechanism, for one peer: remembers the MAC1 of the last handshake
/// message we sent the peer (a cookie reply must be bound to it) and the last cookie the peer
/// gave us, used for MAC2 while it is less than 115 s old (120 s minus 5 s for latency).
#[derive(Default)]
pub struct CookieState {
    cookie: Zeroizing<[u8; MAC_LEN]>,
    cookie_received_at: Option<Duration>,
    last_sent: Option<SentMac1>,
}

/// The MAC1 and sender index of our last handshake message, which a cookie reply answers.
#[derive(Clone, Copy)]
struct SentMac1 {
    mac1: [u8; MAC_LEN],
    sender_index: u32,
}

impl CookieState {
    /// No cookie held, no message sent.
    pub fn new() -> CookieState {
        CookieState::default()
    }

    /// True if we hold a cookie from the peer that is young enough to compute MAC2 with.
    pub fn has_fresh_cookie(&self, now: Duration) -> bool {
        self.fresh_cookie(now).is_some()
    }

    /// Writes MAC1 (keyed for `peer`) and MAC2 (with our cookie if fresh, else zeros) into an
    /// outgoing handshake initiation or response, and remembers the MAC1 for a cookie reply.
    /// [`create_initiation`](crate::create_initiation) and
    /// [`create_response`](crate::create_response) call this already.
    pub fn write_macs(&mut self, peer: &PeerKeys, message: &mut [u8], now: Duration) -> Result<()> {
        let sender_index = handshake_sender_index(message)?;
        let mac1 = write_macs(peer.mac1_key(), self.fresh_cookie(now), message)?;
        self.last_sent = Some(SentMac1 { mac1, sender_index });
        Ok(())
    }

    /// Consumes a cookie reply from `peer`: authenticates it against the MAC1 of our last
    /// handshake message and stores the cookie with `now` as its receive time.
    ///
    /// Fails with [`Error::UnexpectedCookieReply`] if we have sent nothing it could answer
    /// (including a second reply to the same message), [`Error::WrongIndex`] if it names
    /// another index than our last message, [`Error::DecryptFailed`] if it does not decrypt.
    pub fn consume_reply(&mut self, peer: &PeerKeys, message: &[u8], now: Duration) -> Result<()> {
        let reply = CookieReply::new_checked(message)?;
        let sent = self.last_sent.ok_or(Error::UnexpectedCookieReply)?;
        if reply.receiver_index() != sent.sender_index {
            return Err(Error::WrongIndex);
        }
        let mut cookie = Zeroizing::new([0u8; MAC_LEN]);
        xaead_open(
            peer.cookie_key(),
            &reply.nonce(),
            reply.encrypted_cookie(),
            &sent.mac1,
            &mut cookie[..],
        )?;
        self.cookie = cookie;
        self.cookie_received_at = Some(now);
        // One reply per message sent: a replayed reply is not accepted again.
        self.last_sent = None;
        Ok(())
    }

    /// Forgets the cookie (e.g. when the peer is reconfigured).
    pub fn clear(&mut self) {
        self.cookie.zeroize();
        self.cookie_received_at = None;
        self.last_sent = None;
    }

    fn fresh_cookie(&self, now: Duration) -> Option<&[u8; MAC_LEN]> {
        let received_at = self.cookie_received_at?;
        if has_expired(received_at, COOKIE_MAX_AGE, now) {
            None
        } else {
            Some(&self.cookie)
        }
    }
}

impl fmt::Debug for CookieState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieState")
            .field("cookie_received_at", &self.cookie_received_at)
            .field("awaiting_reply", &self.last_sent.is_some())
            .finish_non_exhaustive()
    }
}
