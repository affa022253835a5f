//! The receiving side: classifying datagrams, the handshake responder and initiator steps,
//! cookie replies, and transport data with key confirmation, replay protection and
//! cryptokey routing.

use core::net::SocketAddr;

use crypto::constants::{COOKIE_REPLY_LEN, HANDSHAKE_RESPONSE_LEN, TRANSPORT_HEADER_LEN};
use crypto::wire::{CookieReply, HandshakeResponse, TransportData};
use crypto::{consume_initiation, consume_response, create_response, message_type, MessageType};
use rand_core::{CryptoRng, RngCore};

use super::index_table::IndexKind;
use super::ip;
use super::keypair::{Keypair, Role};
use super::stats::DropReason;
use super::timers::{has_expired, MIN_INITIATION_INTERVAL, REKEY_ON_RECEIVE_AFTER};
use super::types::{Now, PeerId, Sink};
use super::{monotonic_duration, Engine};

/// The sender's address as the cookie MAC covers it: IP bytes then big-endian port.
struct SourceBytes {
    bytes: [u8; 18],
    len: usize,
}

impl SourceBytes {
    fn of(addr: SocketAddr) -> SourceBytes {
        let mut bytes = [0u8; 18];
        let len = match addr {
            SocketAddr::V4(a) => {
                bytes[..4].copy_from_slice(&a.ip().octets());
                bytes[4..6].copy_from_slice(&a.port().to_be_bytes());
                6
            }
            SocketAddr::V6(a) => {
                bytes[..16].copy_from_slice(&a.ip().octets());
                bytes[16..18].copy_from_slice(&a.port().to_be_bytes());
                18
            }
        };
        SourceBytes { bytes, len }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Engine {
    /// Processes one UDP datagram received from `from` on the listen port.
    ///
    /// Transport data is decrypted in place in `datagram`, and the inner packet handed to
    /// [`Sink::deliver_packet`]; handshake messages may produce datagrams to send. Anything
    /// malformed, unauthenticated, replayed, expired or not allowed is dropped and counted
    /// in [`Engine::stats`]; nothing here panics on any input.
    pub fn handle_datagram(
        &mut self,
        now: Now,
        from: SocketAddr,
        datagram: &mut [u8],
        rng: &mut (impl RngCore + CryptoRng),
        sink: &mut impl Sink,
    ) {
        self.stats.datagrams_received += 1;
        let touched = match message_type(datagram) {
            // Both handshake messages pass the same gate before anything else.
            Ok(MessageType::HandshakeInitiation | MessageType::HandshakeResponse)
                if !self.admit_handshake(now, from, datagram, rng, sink) =>
            {
                None
            }
            Ok(MessageType::HandshakeInitiation) => {
                self.receive_initiation(now, from, datagram, rng, sink)
            }
            Ok(MessageType::HandshakeResponse) => {
                self.receive_response(now, from, datagram, rng, sink)
            }
            Ok(MessageType::CookieReply) => self.receive_cookie_reply(now, datagram),
            Ok(MessageType::TransportData) => {
                self.receive_transport(now, from, datagram, rng, sink)
            }
            Err(_) => {
                self.stats.drop(DropReason::MalformedDatagram);
                None
            }
        };
        if let Some(id) = touched {
            self.reschedule(id);
        }
    }

    /// The checks every handshake message passes before any Diffie-Hellman: MAC1, then under
    /// load MAC2 (else a cookie reply is sent) and the per-source rate limit.
    fn admit_handshake(
        &mut self,
        now: Now,
        from: SocketAddr,
        message: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
        sink: &mut impl Sink,
    ) -> bool {
        let (under_load, new_episode) = self.load.record(now.monotonic);
        if new_episode {
            self.stats.under_load_episodes += 1;
        }
        if self.cookie_checker.verify_mac1(message).is_err() {
            self.stats.drop(DropReason::InvalidMac1);
            return false;
        }
        if !under_load {
            return true;
        }
        let source = SourceBytes::of(from);
        let clock = monotonic_duration(now);
        if self
            .cookie_checker
            .verify_mac2(message, source.as_slice(), clock)
            .is_err()
        {
            let mut reply = [0u8; COOKIE_REPLY_LEN];
            if self
                .cookie_checker
                .create_reply(message, source.as_slice(), clock, rng, &mut reply)
                .is_ok()
            {
                // Linux sends cookie replies unmarked.
                sink.send_datagram(from, &reply, 0);
                self.stats.datagrams_sent += 1;
                self.stats.cookie_replies_sent += 1;
            }
            self.stats.drop(DropReason::CookieRequired);
            return false;
        }
        if !self.rate_limiter.allow(from.ip(), now.monotonic) {
            self.stats.drop(DropReason::RateLimited);
            return false;
        }
        true
    }

    /// Responder, once [`Engine::admit_handshake`] let the initiation in: authenticate it,
    /// check its timestamp and rate, answer it and park the new keypair in `next`.
    fn receive_initiation(
        &mut self,
        now: Now,
        from: SocketAddr,
        message: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
        sink: &mut impl Sink,
    ) -> Option<PeerId> {
        let Ok(incoming) = consume_initiation(&self.local, message) else {
            self.stats.drop(DropReason::HandshakeDecryptFailed);
            return None;
        };
        let Some(id) = self.peer_by_public_key(incoming.peer_public_key()) else {
            self.stats.drop(DropReason::UnknownPeer);
            return None;
        };
        let peer = &mut self.peers[id.index()];
        let Some(keys) = peer.keys.as_ref() else {
            self.stats.drop(DropReason::UnusablePeerKey);
            return None;
        };
        let Ok(accepted) = incoming.open_timestamp(keys) else {
            self.stats.drop(DropReason::HandshakeDecryptFailed);
            return None;
        };
        if !accepted.timestamp().is_after(&peer.latest_timestamp) {
            self.stats.drop(DropReason::StaleTimestamp);
            return None;
        }
        if peer
            .last_initiation_consumed
            .is_some_and(|last| !has_expired(last, MIN_INITIATION_INTERVAL, now.monotonic))
        {
            self.stats.drop(DropReason::InitiationFlood);
            return None;
        }
        peer.latest_timestamp = accepted.timestamp();
        peer.last_initiation_consumed = Some(now.monotonic);
        peer.on_authenticated_datagram(from, message.len());
        peer.on_authenticated_packet_received(now.monotonic);

        let remote_index = accepted.sender_index();
        let Some(local_index) = self.indices.allocate(id, IndexKind::Keypair, rng) else {
            self.stats.drop(DropReason::CryptoError);
            return Some(id);
        };
        let mut response = [0u8; HANDSHAKE_RESPONSE_LEN];
        let Some(keys) = peer.keys.as_ref() else {
            self.indices.remove(local_index);
            self.stats.drop(DropReason::UnusablePeerKey);
            return Some(id);
        };
        let created = create_response(
            accepted,
            keys,
            &mut peer.cookies,
            local_index,
            monotonic_duration(now),
            rng,
            &mut response,
        );
        let keys = match created {
            Ok(keys) => keys,
            Err(_) => {
                self.indices.remove(local_index);
                self.stats.drop(DropReason::CryptoError);
                return Some(id);
            }
        };
        let keypair = Keypair::new(keys, local_index, remote_index, now.monotonic, false);
        let indices = &mut self.indices;
        peer.sessions.install(keypair, |old| indices.remove(old));
        // As in Linux, one handshake per peer: consuming the peer's initiation replaces our
        // own pending one (so crossing initiations end in one session, not two), and the
        // response counts as the latest handshake we sent (so no initiation of ours follows
        // it within Rekey-Timeout).
        if let Some(ours) = peer.handshake.take() {
            indices.remove(ours.local_index);
        }
        peer.last_initiation_sent = Some(now.monotonic);
        peer.timers.on_session_derived(now.monotonic);
        peer.timers
            .on_authenticated_packet_traversal(now.monotonic, peer.persistent_keepalive);
        peer.timers.on_authenticated_packet_sent();
        sink.send_datagram(from, &response, crate::ecn::HANDSHAKE_DS);
        peer.counters.tx_bytes += HANDSHAKE_RESPONSE_LEN as u64;
        self.stats.datagrams_sent += 1;
        self.stats.initiations_accepted += 1;
        Some(id)
    }

    /// Initiator, once [`Engine::admit_handshake`] let the response in: complete our
    /// handshake, make the keypair current and confirm it at once (staged packets, or a
    /// keepalive if there are none).
    fn receive_response(
        &mut self,
        now: Now,
        from: SocketAddr,
        message: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
        sink: &mut impl Sink,
    ) -> Option<PeerId> {
        let Ok(view) = HandshakeResponse::new_checked(message) else {
            self.stats.drop(DropReason::MalformedDatagram);
            return None;
        };
        let (our_index, their_index) = (view.receiver_index(), view.sender_index());
        let Some((id, IndexKind::Handshake)) = self.indices.lookup(our_index) else {
            self.stats.drop(DropReason::UnknownIndex);
            return None;
        };
        let peer = &mut self.peers[id.index()];
        let Some(pending) = peer
            .handshake
            .as_ref()
            .filter(|h| h.local_index == our_index)
        else {
            self.stats.drop(DropReason::UnknownIndex);
            return None;
        };
        let Some(peer_keys) = peer.keys.as_ref() else {
            self.stats.drop(DropReason::UnusablePeerKey);
            return None;
        };
        let Ok(keys) = consume_response(&pending.state, &self.local, peer_keys, message) else {
            self.stats.drop(DropReason::HandshakeDecryptFailed);
            return None;
        };
        // The handshake's index now names the session it produced.
        peer.handshake = None;
        self.indices.set_kind(our_index, IndexKind::Keypair);
        let keypair = Keypair::new(keys, our_index, their_index, now.monotonic, true);
        let indices = &mut self.indices;
        peer.sessions.install(keypair, |old| indices.remove(old));
        peer.on_authenticated_datagram(from, message.len());
        peer.timers.on_session_derived(now.monotonic);
        peer.on_handshake_complete(now.unix);
        self.stats.responses_accepted += 1;
        self.send_keepalive(id, now, rng, sink);
        let peer = &mut self.peers[id.index()];
        peer.on_authenticated_packet_received(now.monotonic);
        Some(id)
    }

    /// A cookie reply to one of our handshake messages: remember the cookie for MAC2. The
    /// handshake itself is retried by the retransmit timer, as in Linux.
    fn receive_cookie_reply(&mut self, now: Now, message: &[u8]) -> Option<PeerId> {
        let Ok(view) = CookieReply::new_checked(message) else {
            self.stats.drop(DropReason::MalformedDatagram);
            return None;
        };
        let Some((id, _)) = self.indices.lookup(view.receiver_index()) else {
            self.stats.drop(DropReason::UnknownIndex);
            return None;
        };
        let peer = &mut self.peers[id.index()];
        let Some(keys) = peer.keys.as_ref() else {
            self.stats.drop(DropReason::UnusablePeerKey);
            return None;
        };
        if peer
            .cookies
            .consume_reply(keys, message, monotonic_duration(now))
            .is_err()
        {
            self.stats.drop(DropReason::InvalidCookieReply);
            return None;
        }
        self.stats.cookie_replies_accepted += 1;
        None
    }

    /// Transport data: find the keypair, check limits and replay, decrypt in place, confirm a
    /// parked keypair, roam, run the receive-side timers, then validate and route the packet.
    fn receive_transport(
        &mut self,
        now: Now,
        from: SocketAddr,
        datagram: &mut [u8],
        rng: &mut (impl RngCore + CryptoRng),
        sink: &mut impl Sink,
    ) -> Option<PeerId> {
        let Ok(view) = TransportData::new_checked(&*datagram) else {
            self.stats.drop(DropReason::MalformedDatagram);
            return None;
        };
        let (index, counter) = (view.receiver_index(), view.counter());
        let Some((id, IndexKind::Keypair)) = self.indices.lookup(index) else {
            self.stats.drop(DropReason::UnknownIndex);
            return None;
        };
        let datagram_len = datagram.len();
        let peer = &mut self.peers[id.index()];
        let Some(role) = peer.sessions.role_of_index(index) else {
            self.stats.drop(DropReason::UnknownIndex);
            return None;
        };
        let keypair = peer.sessions.get_mut(role)?;
        if !keypair.check_can_receive(now.monotonic) {
            self.stats.drop(DropReason::ExpiredKeypair);
            return None;
        }
        if !keypair.replay.would_accept(counter) {
            self.stats.drop(DropReason::ReplayedCounter);
            return None;
        }
        let plaintext_len = match keypair.recv.open_message(datagram) {
            Ok(plaintext) => plaintext.len(),
            Err(_) => {
                self.stats.drop(DropReason::DataDecryptFailed);
                return None;
            }
        };
        if !keypair.replay.check_and_update(counter) {
            self.stats.drop(DropReason::ReplayedCounter);
            return None;
        }
        // Authenticated: the peer is at `from` now (even if the inner packet is dropped below,
        // as Linux does).
        peer.on_authenticated_datagram(from, datagram_len);
        if role == Role::Next {
            if let Some(old) = peer.sessions.confirm_next() {
                self.indices.remove(old);
            }
            peer.on_handshake_complete(now.unix);
            self.send_staged(id, now, rng, sink);
        }
        self.keep_key_fresh_on_receive(id, now, rng, sink);
        let peer = &mut self.peers[id.index()];
        peer.on_authenticated_packet_received(now.monotonic);
        if plaintext_len == 0 {
            self.stats.keepalives_received += 1;
            return Some(id);
        }
        peer.timers.on_data_received(now.monotonic);
        let plaintext = &mut datagram[TRANSPORT_HEADER_LEN..TRANSPORT_HEADER_LEN + plaintext_len];
        let Some(len) = ip::declared_len(plaintext) else {
            self.stats.drop(DropReason::InvalidInnerPacket);
            return Some(id);
        };
        let packet = &mut plaintext[..len];
        let routed = ip::source(packet).and_then(|src| self.allowed_ips.lookup(src));
        if routed != Some(id) {
            self.stats.drop(DropReason::DisallowedSource);
            return Some(id);
        }
        peer.counters.packets_received += 1;
        self.stats.packets_delivered += 1;
        sink.deliver_packet(id, packet);
        Some(id)
    }

    /// After receiving: the initiator starts a new handshake once its keypair is 165 s old,
    /// once per session, so a fresh session exists before the responder's copy expires.
    fn keep_key_fresh_on_receive(
        &mut self,
        id: PeerId,
        now: Now,
        rng: &mut (impl RngCore + CryptoRng),
        sink: &mut impl Sink,
    ) {
        let peer = &mut self.peers[id.index()];
        let due = !peer.sent_lastminute_handshake
            && peer.sessions.get(Role::Current).is_some_and(|k| {
                k.we_initiated && has_expired(k.created, REKEY_ON_RECEIVE_AFTER, now.monotonic)
            });
        if due {
            peer.sent_lastminute_handshake = true;
            self.send_initiation(id, false, now, rng, sink);
        }
    }
}
