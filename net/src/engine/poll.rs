//! Running expired timers.

use rand_core::{CryptoRng, RngCore};

use super::stats::DropReason;
use super::timers::{TimerKind, KEEPALIVE_TIMEOUT, MAX_TIMER_HANDSHAKES, ZERO_KEYS_AFTER};
use super::types::{Now, PeerId, Sink};
use super::Engine;

impl Engine {
    /// Runs every timer whose deadline is at or before `now.monotonic`: handshake retries
    /// and give-up, keepalives (passive and persistent), the "sent but heard nothing"
    /// re-handshake, and key wiping. Call it at [`Engine::next_deadline`] (calling it more
    /// often is harmless).
    pub fn poll_timers(
        &mut self,
        now: Now,
        rng: &mut (impl RngCore + CryptoRng),
        sink: &mut impl Sink,
    ) {
        while let Some((deadline, id)) = self.timer_queue.peek() {
            if deadline > now.monotonic {
                break;
            }
            // Every action below arms timers strictly in the future, so this terminates.
            while let Some(kind) = self.peers[id.index()].timers.take_expired(now.monotonic) {
                self.fire(id, kind, now, rng, sink);
            }
            self.reschedule(id);
        }
    }

    fn fire(
        &mut self,
        id: PeerId,
        kind: TimerKind,
        now: Now,
        rng: &mut (impl RngCore + CryptoRng),
        sink: &mut impl Sink,
    ) {
        match kind {
            TimerKind::RetransmitHandshake => {
                let peer = &mut self.peers[id.index()];
                if peer.handshake_attempts > MAX_TIMER_HANDSHAKES {
                    // Give up: nobody answers. Drop what waited for this handshake and wipe
                    // keys later if nothing else happens.
                    peer.timers.send_keepalive = None;
                    let dropped = self.staging.clear(&mut peer.staged);
                    self.stats
                        .drop_many(DropReason::HandshakeGaveUp, u64::from(dropped));
                    if peer.timers.zero_key_material.is_none() {
                        peer.timers.zero_key_material =
                            Some(now.monotonic.saturating_add(ZERO_KEYS_AFTER));
                    }
                } else {
                    peer.handshake_attempts += 1;
                    self.send_initiation(id, true, now, rng, sink);
                }
            }
            TimerKind::SendKeepalive => {
                self.send_keepalive(id, now, rng, sink);
                let peer = &mut self.peers[id.index()];
                if peer.timers.need_another_keepalive {
                    peer.timers.need_another_keepalive = false;
                    peer.timers.send_keepalive =
                        Some(now.monotonic.saturating_add(KEEPALIVE_TIMEOUT));
                }
            }
            TimerKind::NewHandshake => self.send_initiation(id, false, now, rng, sink),
            TimerKind::ZeroKeyMaterial => {
                let peer = &mut self.peers[id.index()];
                let indices = &mut self.indices;
                peer.sessions.clear_all(|index| indices.remove(index));
                if let Some(pending) = peer.handshake.take() {
                    indices.remove(pending.local_index);
                }
            }
            TimerKind::PersistentKeepalive => {
                if self.peers[id.index()].persistent_keepalive.is_some() {
                    self.send_keepalive(id, now, rng, sink);
                }
            }
        }
    }
}
