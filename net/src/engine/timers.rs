//! The protocol's time and message limits (whitepaper section 6) and each peer's five timers.
//!
//! The timers follow Linux's `timers.c` event by event; the engine calls the `on_*` hooks
//! below at the same points Linux does, and [`PeerTimers::take_expired`] hands expired timers
//! to the engine's `poll_timers` one at a time. A timer is just an optional deadline: the
//! engine keeps the earliest one of every peer in its [`TimerQueue`](super::timer_queue::TimerQueue).

use core::time::Duration;

use rand_core::RngCore;

use crate::time::Instant;

/// Initiate a new handshake after sending this many messages with one keypair (2^60).
pub const REKEY_AFTER_MESSAGES: u64 = 1 << 60;
/// Never send or accept a message with a counter this high (2^64 − 2^13 − 1).
pub const REJECT_AFTER_MESSAGES: u64 = crate::replay::REJECT_AFTER_MESSAGES;
/// The initiator starts a new handshake when sending with a keypair this old.
pub const REKEY_AFTER_TIME: Duration = Duration::from_secs(120);
/// A keypair this old is neither used for sending nor accepted when receiving.
pub const REJECT_AFTER_TIME: Duration = Duration::from_secs(180);
/// Keep retrying a handshake for about this long before giving up.
pub const REKEY_ATTEMPT_TIME: Duration = Duration::from_secs(90);
/// Wait this long (plus jitter) for a response before retrying; also the minimum gap between
/// two initiations to the same peer.
pub const REKEY_TIMEOUT: Duration = Duration::from_secs(5);
/// Send a keepalive if we received data but sent nothing for this long.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest random extra delay added to handshake retries and to the "no reply" timer.
pub const MAX_REKEY_JITTER: Duration = Duration::from_millis(333);
/// Retries after the first initiation before giving up: Rekey-Attempt-Time / Rekey-Timeout,
/// counted as Linux and wireguard-go do (so 20 initiations in all, the last at about 100 s).
pub const MAX_TIMER_HANDSHAKES: u32 =
    (REKEY_ATTEMPT_TIME.as_secs() / REKEY_TIMEOUT.as_secs()) as u32;
/// The initiator re-keys on *receiving* with a keypair this old (Reject-After-Time minus
/// Keepalive-Timeout minus Rekey-Timeout = 165 s), so that the new session exists before the
/// responder, who never re-keys on time, stops accepting the old one.
pub const REKEY_ON_RECEIVE_AFTER: Duration = Duration::from_secs(180 - 10 - 5);
/// With no new handshake for this long (3 × Reject-After-Time), all key material is wiped.
pub const ZERO_KEYS_AFTER: Duration = Duration::from_secs(3 * 180);
/// Initiations accepted from one peer at most this often (50 per second).
pub const MIN_INITIATION_INTERVAL: Duration = Duration::from_millis(1000 / 50);
/// Once under load, the engine stays so for at least this long.
pub const UNDER_LOAD_STICKINESS: Duration = Duration::from_secs(1);

/// A random delay in `0 ..= MAX_REKEY_JITTER`, so that peers' retries do not stay in lockstep.
pub(crate) fn rekey_jitter(rng: &mut impl RngCore) -> Duration {
    let max = MAX_REKEY_JITTER.as_nanos() as u64;
    Duration::from_nanos(u64::from(rng.next_u32()) % (max + 1))
}

/// True if something born at `birth` is at least `lifetime` old at `now`.
pub(crate) fn has_expired(birth: Instant, lifetime: Duration, now: Instant) -> bool {
    now.saturating_duration_since(birth) >= lifetime
}

/// Which of a peer's timers expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimerKind {
    /// No response to our initiation within Rekey-Timeout + jitter: retry or give up.
    RetransmitHandshake,
    /// We received data and sent nothing for Keepalive-Timeout: send a keepalive.
    SendKeepalive,
    /// We sent data and heard nothing for Keepalive-Timeout + Rekey-Timeout: re-handshake.
    NewHandshake,
    /// No new handshake for 3 × Reject-After-Time: wipe keys.
    ZeroKeyMaterial,
    /// The persistent keepalive interval passed without us sending anything.
    PersistentKeepalive,
}

/// One peer's timers as deadlines (`None`: not armed).
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerTimers {
    pub retransmit_handshake: Option<Instant>,
    pub send_keepalive: Option<Instant>,
    pub new_handshake: Option<Instant>,
    pub zero_key_material: Option<Instant>,
    pub persistent_keepalive: Option<Instant>,
    /// Data arrived while the keepalive timer was already armed: re-arm it once it fires.
    pub need_another_keepalive: bool,
}

impl PeerTimers {
    /// The earliest armed deadline.
    pub fn earliest(&self) -> Option<Instant> {
        [
            self.retransmit_handshake,
            self.send_keepalive,
            self.new_handshake,
            self.zero_key_material,
            self.persistent_keepalive,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Disarms and returns one timer whose deadline is `<= now`, if any.
    pub fn take_expired(&mut self, now: Instant) -> Option<TimerKind> {
        let slots: [(&mut Option<Instant>, TimerKind); 5] = [
            (&mut self.zero_key_material, TimerKind::ZeroKeyMaterial),
            (
                &mut self.retransmit_handshake,
                TimerKind::RetransmitHandshake,
            ),
            (&mut self.new_handshake, TimerKind::NewHandshake),
            (&mut self.send_keepalive, TimerKind::SendKeepalive),
            (
                &mut self.persistent_keepalive,
                TimerKind::PersistentKeepalive,
            ),
        ];
        for (slot, kind) in slots {
            if matches!(*slot, Some(deadline) if deadline <= now) {
                *slot = None;
                return Some(kind);
            }
        }
        None
    }

    /// Data (not a keepalive) was sent: expect to hear back within 15 s + jitter.
    /// The jitter is drawn only when the timer is armed (once per silence, not per packet).
    pub fn on_data_sent(&mut self, now: Instant, jitter: impl FnOnce() -> Duration) {
        if self.new_handshake.is_none() {
            self.new_handshake =
                Some(now.saturating_add(KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter()));
        }
    }

    /// Data (not a keepalive) was received: answer within Keepalive-Timeout if we send nothing.
    pub fn on_data_received(&mut self, now: Instant) {
        if self.send_keepalive.is_none() {
            self.send_keepalive = Some(now.saturating_add(KEEPALIVE_TIMEOUT));
        } else {
            self.need_another_keepalive = true;
        }
    }

    /// Any authenticated packet (data, keepalive, handshake) was sent: no keepalive is owed.
    pub fn on_authenticated_packet_sent(&mut self) {
        self.send_keepalive = None;
    }

    /// Any authenticated packet was received: the peer is alive, no re-handshake needed.
    pub fn on_authenticated_packet_received(&mut self) {
        self.new_handshake = None;
    }

    /// Any authenticated packet went either way: restart the persistent keepalive interval.
    pub fn on_authenticated_packet_traversal(&mut self, now: Instant, interval: Option<Duration>) {
        if let Some(interval) = interval {
            self.persistent_keepalive = Some(now.saturating_add(interval));
        }
    }

    /// We sent an initiation: retry after Rekey-Timeout + jitter unless answered.
    pub fn on_handshake_initiated(&mut self, now: Instant, jitter: Duration) {
        self.retransmit_handshake = Some(now.saturating_add(REKEY_TIMEOUT + jitter));
    }

    /// A handshake completed: stop retrying.
    pub fn on_handshake_complete(&mut self) {
        self.retransmit_handshake = None;
    }

    /// New session keys were derived: wipe everything if no newer handshake follows in time.
    pub fn on_session_derived(&mut self, now: Instant) {
        self.zero_key_material = Some(now.saturating_add(ZERO_KEYS_AFTER));
    }
}
