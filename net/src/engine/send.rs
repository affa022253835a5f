//! The sending side: tunnelling LAN packets, staging them while a handshake is pending,
//! keepalives, and handshake initiations.

use core::net::SocketAddr;

use crypto::constants::{HANDSHAKE_INITIATION_LEN, TRANSPORT_HEADER_LEN};
use crypto::wire::padded_payload_len;
use crypto::{create_initiation, Tai64N};
use rand_core::{CryptoRng, RngCore};

use super::index_table::IndexKind;
use super::ip;
use super::keypair::Role;
use super::peer::PendingHandshake;
use super::staging::PushResult;
use super::stats::DropReason;
use super::timers::{
    has_expired, rekey_jitter, REKEY_AFTER_MESSAGES, REKEY_AFTER_TIME, REKEY_TIMEOUT,
};
use super::types::{Now, PeerId, SendOutcome, Sink};
use super::{monotonic_duration, Engine};

impl Engine {
    /// Tunnels one IP packet from the LAN.
    ///
    /// Picks the peer by longest-prefix match of the destination over all AllowedIPs. With a
    /// usable session the packet is padded, encrypted and sent at once ([`SendOutcome::Sent`]);
    /// otherwise it is copied into the staging pool and a handshake is started (if none was
    /// sent in the last 5 s): [`SendOutcome::Staged`]. Packets are never fragmented: one larger
    /// than the MTU is refused with [`SendOutcome::TooBig`].
    pub fn send_packet(
        &mut self,
        now: Now,
        packet: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
        sink: &mut impl Sink,
    ) -> SendOutcome {
        if packet.len() > usize::from(self.options.mtu) {
            self.stats.drop(DropReason::TooBig);
            return SendOutcome::TooBig {
                mtu: self.options.mtu,
            };
        }
        let Some(destination) = ip::declared_len(packet).and_then(|_| ip::destination(packet))
        else {
            self.stats.drop(DropReason::InvalidOutboundPacket);
            return SendOutcome::Dropped(DropReason::InvalidOutboundPacket);
        };
        let Some(id) = self.allowed_ips.lookup(destination) else {
            self.stats.drop(DropReason::NoRoute);
            return SendOutcome::NoRoute;
        };
        if self.peers[id.index()].keys.is_none() {
            self.stats.drop(DropReason::UnusablePeerKey);
            return SendOutcome::Dropped(DropReason::UnusablePeerKey);
        }
        if self.peers[id.index()].endpoint.is_none() {
            self.stats.drop(DropReason::NoEndpoint);
            return SendOutcome::Dropped(DropReason::NoEndpoint);
        }
        let outcome = if self.peers[id.index()].staged.is_empty() && self.current_can_send(id, now)
        {
            // Fast path: straight from the caller's buffer into the scratch buffer.
            let start = TRANSPORT_HEADER_LEN;
            self.scratch[start..start + packet.len()].copy_from_slice(packet);
            self.encrypt_scratch_and_send(id, packet.len(), now, rng, sink);
            self.keep_key_fresh_on_send(id, now, rng, sink);
            SendOutcome::Sent
        } else {
            match self.stage(id, packet) {
                PushResult::Dropped => SendOutcome::Dropped(DropReason::StagingFull),
                _ => {
                    self.send_staged(id, now, rng, sink);
                    if self.peers[id.index()].staged.is_empty() {
                        SendOutcome::Sent
                    } else {
                        SendOutcome::Staged
                    }
                }
            }
        };
        self.reschedule(id);
        outcome
    }

    /// Queues a copy of `packet` for `id`, counting any loss.
    fn stage(&mut self, id: PeerId, packet: &[u8]) -> PushResult {
        let result = self
            .staging
            .push(&mut self.peers[id.index()].staged, packet);
        if result != PushResult::Queued {
            self.stats.drop(DropReason::StagingFull);
        }
        result
    }

    /// Whether `id` has a current keypair we may send with.
    fn current_can_send(&self, id: PeerId, now: Now) -> bool {
        self.peers[id.index()]
            .sessions
            .get(Role::Current)
            .is_some_and(|k| k.can_send(now.monotonic))
    }

    /// Sends every staged packet of `id` if its session allows, else starts a handshake
    /// (Linux's `wg_packet_send_staged_packets`). Does nothing when nothing is staged.
    pub(super) fn send_staged(
        &mut self,
        id: PeerId,
        now: Now,
        rng: &mut (impl RngCore + CryptoRng),
        sink: &mut impl Sink,
    ) {
        if self.peers[id.index()].staged.is_empty() {
            return;
        }
        while !self.peers[id.index()].staged.is_empty() {
            if !self.current_can_send(id, now) {
                self.send_initiation(id, false, now, rng, sink);
                return;
            }
            let start = TRANSPORT_HEADER_LEN;
            let Some(len) = self.staging.pop_into(
                &mut self.peers[id.index()].staged,
                &mut self.scratch[start..],
            ) else {
                break;
            };
            self.encrypt_scratch_and_send(id, len, now, rng, sink);
        }
        self.keep_key_fresh_on_send(id, now, rng, sink);
    }

    /// Sends a keepalive (an empty transport message) to `id`, or the staged packets instead
    /// if there are any; starts a handshake if there is no usable session.
    pub(super) fn send_keepalive(
        &mut self,
        id: PeerId,
        now: Now,
        rng: &mut (impl RngCore + CryptoRng),
        sink: &mut impl Sink,
    ) {
        if self.peers[id.index()].endpoint.is_none() {
            return;
        }
        if self.peers[id.index()].staged.is_empty() {
            if self.current_can_send(id, now) {
                self.encrypt_scratch_and_send(id, 0, now, rng, sink);
                self.keep_key_fresh_on_send(id, now, rng, sink);
                return;
            }
            if self.stage(id, &[]) == PushResult::Dropped {
                return;
            }
        }
        self.send_staged(id, now, rng, sink);
    }

    /// Pads the `len` plaintext bytes at `scratch[16..]`, encrypts them with `id`'s current
    /// keypair and sends the message. The caller checked that the keypair can send.
    fn encrypt_scratch_and_send(
        &mut self,
        id: PeerId,
        len: usize,
        now: Now,
        rng: &mut impl RngCore,
        sink: &mut impl Sink,
    ) {
        let mtu = usize::from(self.options.mtu);
        let start = TRANSPORT_HEADER_LEN;
        let ds = self
            .scratch
            .get(start..start + len)
            .map_or(0, crate::ecn::encapsulate);
        let peer = &mut self.peers[id.index()];
        if let Some((endpoint, total)) =
            seal_transport(peer, &mut self.stats, mtu, &mut self.scratch, len, now, rng)
        {
            sink.send_datagram(endpoint, &self.scratch[..total], ds);
        }
    }

    /// The fast path's first step: where a packet for `id` would go if it were sealed now, or
    /// `None` if it must take [`Engine::send_packet`] instead (no usable session yet, packets
    /// already staged ahead of it, no endpoint, a key of small order).
    ///
    /// The caller (the gateway loop) has already matched the packet's destination to `id`
    /// with the router, so AllowedIPs is looked up once per packet, not twice.
    pub fn ready_to_seal(&self, id: PeerId, now: Now) -> Option<SocketAddr> {
        let peer = self.peers.get(id.index())?;
        if peer.keys.is_none() || !peer.staged.is_empty() || !self.current_can_send(id, now) {
            return None;
        }
        peer.endpoint
    }

    /// The fast path's second step: seals the packet the caller placed at
    /// `message[16..16 + len]`, in place, for `id`: writes the 16-byte header, pads the
    /// plaintext with zeros to a multiple of 16 (capped by the MTU) and appends the tag.
    /// Returns the endpoint and the message length, or `None` (nothing was sent, and the
    /// reason was counted) if the session cannot send after all, the packet is larger than the
    /// MTU, or `message` has no room for padding and tag. Afterwards call
    /// [`Engine::finish_send`].
    pub fn seal_in_place(
        &mut self,
        id: PeerId,
        now: Now,
        message: &mut [u8],
        len: usize,
        rng: &mut impl RngCore,
    ) -> Option<(SocketAddr, usize)> {
        let mtu = usize::from(self.options.mtu);
        if len > mtu {
            self.stats.drop(DropReason::TooBig);
            return None;
        }
        self.ready_to_seal(id, now)?;
        let peer = &mut self.peers[id.index()];
        seal_transport(peer, &mut self.stats, mtu, message, len, now, rng)
    }

    /// The fast path's last step, after the sealed message went out: starts a rekey when the
    /// session is due for one and updates `id`'s timers in the timer queue.
    pub fn finish_send(
        &mut self,
        id: PeerId,
        now: Now,
        rng: &mut (impl RngCore + CryptoRng),
        sink: &mut impl Sink,
    ) {
        if id.index() >= self.peers.len() {
            return;
        }
        self.keep_key_fresh_on_send(id, now, rng, sink);
        self.reschedule(id);
    }

    /// After sending: start a new handshake if the current keypair has sent 2^60 messages, or
    /// if we initiated it more than Rekey-After-Time ago.
    fn keep_key_fresh_on_send(
        &mut self,
        id: PeerId,
        now: Now,
        rng: &mut (impl RngCore + CryptoRng),
        sink: &mut impl Sink,
    ) {
        let needs_rekey = self.peers[id.index()]
            .sessions
            .get(Role::Current)
            .is_some_and(|k| {
                k.send_counter > REKEY_AFTER_MESSAGES
                    || (k.we_initiated && has_expired(k.created, REKEY_AFTER_TIME, now.monotonic))
            });
        if needs_rekey {
            self.send_initiation(id, false, now, rng, sink);
        }
    }

    /// Sends a handshake initiation to `id` unless one was sent less than Rekey-Timeout ago
    /// (Linux's `wg_packet_send_handshake_initiation`). `is_retry` keeps the retry count.
    pub(super) fn send_initiation(
        &mut self,
        id: PeerId,
        is_retry: bool,
        now: Now,
        rng: &mut (impl RngCore + CryptoRng),
        sink: &mut impl Sink,
    ) {
        let peer = &mut self.peers[id.index()];
        if !is_retry {
            peer.handshake_attempts = 0;
        }
        if peer
            .last_initiation_sent
            .is_some_and(|last| !has_expired(last, REKEY_TIMEOUT, now.monotonic))
        {
            return;
        }
        let Some(endpoint) = peer.endpoint else {
            return;
        };
        if peer.keys.is_none() {
            return;
        }
        if let Some(old) = peer.handshake.take() {
            self.indices.remove(old.local_index);
        }
        let Some(index) = self.indices.allocate(id, IndexKind::Handshake, rng) else {
            self.stats.drop(DropReason::CryptoError);
            return;
        };
        let mut message = [0u8; HANDSHAKE_INITIATION_LEN];
        let Some(keys) = peer.keys.as_ref() else {
            self.indices.remove(index);
            return;
        };
        let created = create_initiation(
            keys,
            &mut peer.cookies,
            index,
            Tai64N::from_unix_duration(now.unix),
            monotonic_duration(now),
            rng,
            &mut message,
        );
        let state = match created {
            Ok(state) => state,
            Err(_) => {
                self.indices.remove(index);
                self.stats.drop(DropReason::CryptoError);
                return;
            }
        };
        peer.handshake = Some(PendingHandshake {
            state,
            local_index: index,
        });
        peer.last_initiation_sent = Some(now.monotonic);
        peer.timers
            .on_authenticated_packet_traversal(now.monotonic, peer.persistent_keepalive);
        peer.timers.on_authenticated_packet_sent();
        sink.send_datagram(endpoint, &message, crate::ecn::HANDSHAKE_DS);
        self.stats.datagrams_sent += 1;
        self.stats.initiations_sent += 1;
        peer.counters.tx_bytes += HANDSHAKE_INITIATION_LEN as u64;
        peer.counters.handshake_initiations_sent += 1;
        peer.timers
            .on_handshake_initiated(now.monotonic, rekey_jitter(rng));
    }
}

/// Pads the `len` plaintext bytes at `message[16..]`, seals them with `peer`'s current keypair
/// and runs the send-side bookkeeping (counters, timers). Returns where to send the message
/// and its length; `None` if there is no current keypair, no endpoint, or no room.
fn seal_transport(
    peer: &mut super::peer::Peer,
    stats: &mut super::stats::EngineStats,
    mtu: usize,
    message: &mut [u8],
    len: usize,
    now: Now,
    rng: &mut impl RngCore,
) -> Option<(SocketAddr, usize)> {
    let (Some(endpoint), Some(keypair)) = (peer.endpoint, peer.sessions.get_mut(Role::Current))
    else {
        return None;
    };
    let padded = padded_payload_len(len, mtu);
    let start = TRANSPORT_HEADER_LEN;
    let Some(padding) = message.get_mut(start + len..start + padded) else {
        stats.drop(DropReason::CryptoError);
        return None;
    };
    padding.fill(0);
    let counter = keypair.send_counter;
    let Ok(total) = keypair
        .send
        .seal_message(keypair.remote_index, counter, message, padded)
    else {
        stats.drop(DropReason::CryptoError);
        return None;
    };
    keypair.send_counter += 1;
    stats.datagrams_sent += 1;
    peer.counters.tx_bytes += total as u64;
    peer.timers
        .on_authenticated_packet_traversal(now.monotonic, peer.persistent_keepalive);
    peer.timers.on_authenticated_packet_sent();
    if len == 0 {
        peer.counters.keepalives_sent += 1;
    } else {
        peer.counters.packets_sent += 1;
        peer.timers
            .on_data_sent(now.monotonic, || rekey_jitter(rng));
    }
    Some((endpoint, total))
}
