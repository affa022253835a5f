//! Changing the engine's configuration while it runs (what `wg set` does through the
//! userspace API): adding and removing peers, replacing allowed IPs, preshared keys,
//! keepalives and our private key. Every change takes effect at once and leaves the other
//! peers' sessions alone.
//!
//! Peer ids stay dense: removing a peer moves the last peer into its slot, and
//! [`Engine::remove_peer`] says which id moved, so callers that keep per-peer state (the
//! gateway's route cache) can follow. These calls allocate (tables grow); the data path still
//! does not.

use alloc::vec::Vec;
use core::time::Duration;

use crypto::{LocalIdentity, PeerKeys, PresharedKey, PrivateKey};

use super::errors::EngineError;
use super::index_table::IndexTable;
use super::peer::Peer;
use super::timer_queue::TimerQueue;
use super::types::{Now, PeerId, PeerSpec};
use super::{Engine, MAX_PEERS};
use crate::allowed_ips::IpCidr;
use crypto::CookieChecker;

/// What [`Engine::remove_peer`] did to the ids of the remaining peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerRemoved {
    /// The peer that was the last one now has the removed peer's id (`None` if the removed
    /// peer was the last).
    pub moved_from: Option<PeerId>,
}

impl Engine {
    /// Adds a peer, usable at once: its allowed IPs route to it and it can handshake. Refuses
    /// a key already configured, an invalid keepalive, or one peer too many, changing
    /// nothing.
    ///
    /// A peer with our own public key is added but unusable (no keys, no handshakes), as
    /// [`Engine::set_private_key`] leaves one: the userspace API can ask for it once its
    /// private key is removed, which the engine does not follow (it keeps its key), and
    /// refusing it would leave the API listing a peer the engine does not run. It becomes
    /// usable if our key changes.
    pub fn add_peer(&mut self, spec: PeerSpec) -> Result<PeerId, EngineError> {
        let position = self.peers.len();
        if position >= MAX_PEERS {
            return Err(EngineError::TooManyPeers);
        }
        let own = spec.public_key == *self.local.public_key();
        if self.peer_by_public_key(&spec.public_key).is_some() {
            return Err(EngineError::DuplicatePeer { peer: position });
        }
        if let Some(k) = spec.persistent_keepalive {
            if k.is_zero() || k > Duration::from_secs(u64::from(u16::MAX)) {
                return Err(EngineError::InvalidKeepalive { peer: position });
            }
        }
        let id = PeerId(position as u32);
        for (done, cidr) in spec.allowed_ips.iter().enumerate() {
            if let Err(e) = self.allowed_ips.insert(*cidr, id) {
                // Undo the prefixes taken so far: all or nothing.
                for cidr in &spec.allowed_ips[..done] {
                    self.allowed_ips.remove(*cidr);
                }
                return Err(EngineError::AllowedIps(e));
            }
        }
        let keys = if own {
            None
        } else {
            PeerKeys::new(&self.local, spec.public_key, spec.preshared_key).ok()
        };
        let usable = keys.is_some();
        let mut peer = Peer::new(
            spec.public_key,
            keys,
            spec.endpoint,
            spec.persistent_keepalive,
        );
        if usable && spec.persistent_keepalive.is_some() && spec.endpoint.is_some() {
            // As at start: the peer is contacted on the next poll.
            peer.timers.persistent_keepalive = Some(crate::time::Instant::ZERO);
        }
        self.peers.push(peer);
        let key = *spec.public_key.as_bytes();
        let at = self.by_public_key.partition_point(|(k, _)| *k < key);
        self.by_public_key.insert(at, (key, id));
        self.resize_tables();
        self.reschedule(id);
        Ok(id)
    }

    /// Removes a peer: its sessions and keys are wiped, its staged packets dropped, its
    /// allowed IPs and indices forgotten, at once. Returns `None` for an unknown id.
    pub fn remove_peer(&mut self, id: PeerId) -> Option<PeerRemoved> {
        let peer = self.peers.get_mut(id.index())?;
        let indices = &mut self.indices;
        peer.sessions.clear_all(|index| indices.remove(index));
        if let Some(pending) = peer.handshake.take() {
            indices.remove(pending.local_index);
        }
        self.staging.clear(&mut peer.staged);
        self.allowed_ips.remove_peer(id);
        let key = *peer.public_key.as_bytes();
        self.by_public_key.retain(|(k, _)| *k != key);
        let last = PeerId((self.peers.len() - 1) as u32);
        // Dropping the peer wipes its keys (PeerKeys and the sessions zeroize themselves).
        drop(self.peers.swap_remove(id.index()));
        let moved_from = (last != id).then(|| {
            self.indices.relabel(last, id);
            let prefixes: Vec<IpCidr> = self.allowed_ips.prefixes_of(last).collect();
            self.allowed_ips.remove_peer(last);
            for cidr in prefixes {
                // Re-inserting a prefix that was just removed cannot fail for lack of room.
                let _ = self.allowed_ips.insert(cidr, id);
            }
            for entry in self.by_public_key.iter_mut().filter(|(_, p)| *p == last) {
                entry.1 = id;
            }
            last
        });
        self.rebuild_timer_queue();
        Some(PeerRemoved { moved_from })
    }

    /// Replaces `id`'s allowed IPs with `cidrs` (all or nothing). A prefix another peer held
    /// moves to this one, as in `wg set`.
    pub fn replace_allowed_ips(&mut self, id: PeerId, cidrs: &[IpCidr]) -> Result<(), EngineError> {
        if id.index() >= self.peers.len() {
            return Err(EngineError::UnknownPeer);
        }
        let old: Vec<IpCidr> = self.allowed_ips.prefixes_of(id).collect();
        self.allowed_ips.remove_peer(id);
        match self.add_allowed_ips(id, cidrs) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.allowed_ips.remove_peer(id);
                for cidr in old {
                    let _ = self.allowed_ips.insert(cidr, id);
                }
                Err(e)
            }
        }
    }

    /// Adds prefixes to `id`'s allowed IPs (a prefix another peer held moves to this one).
    pub fn add_allowed_ips(&mut self, id: PeerId, cidrs: &[IpCidr]) -> Result<(), EngineError> {
        if id.index() >= self.peers.len() {
            return Err(EngineError::UnknownPeer);
        }
        for cidr in cidrs {
            self.allowed_ips
                .insert(*cidr, id)
                .map_err(EngineError::AllowedIps)?;
        }
        Ok(())
    }

    /// Removes one prefix from `id`'s allowed IPs; `false` if `id` did not hold it.
    pub fn remove_allowed_ip(&mut self, id: PeerId, cidr: IpCidr) -> bool {
        if self.allowed_ips.get(cidr) != Some(id) {
            return false;
        }
        self.allowed_ips.remove(cidr).is_some()
    }

    /// `id`'s allowed IPs.
    pub fn allowed_ips_of(&self, id: PeerId) -> impl Iterator<Item = IpCidr> + '_ {
        self.allowed_ips.prefixes_of(id)
    }

    /// Sets `id`'s preshared key (`None`: none); it applies from the next handshake on, and
    /// the current sessions stay. `false` for an unknown id.
    pub fn set_preshared_key(&mut self, id: PeerId, preshared_key: Option<PresharedKey>) -> bool {
        let Some(peer) = self.peers.get_mut(id.index()) else {
            return false;
        };
        // A peer with our own key stays unusable (see `add_peer`).
        if peer.public_key == *self.local.public_key() {
            return true;
        }
        if let Ok(keys) = PeerKeys::new(&self.local, peer.public_key, preshared_key) {
            peer.keys = Some(keys);
        }
        true
    }

    /// `id`'s preshared key, if it has one that is not all zeros.
    pub fn preshared_key(&self, id: PeerId) -> Option<&PresharedKey> {
        let keys = self.peers.get(id.index())?.keys.as_ref()?;
        let key = keys.preshared_key();
        (key != &PresharedKey::default()).then_some(key)
    }

    /// Sets `id`'s persistent keepalive interval. Turning it on (or changing it) sends a
    /// keepalive at the next poll, as `wg set … persistent-keepalive` does. Refuses 0 or more
    /// than 65535 s (`None` turns it off). `false` for an unknown id or a bad interval.
    pub fn set_persistent_keepalive(
        &mut self,
        id: PeerId,
        interval: Option<Duration>,
        now: Now,
    ) -> bool {
        if interval.is_some_and(|k| k.is_zero() || k > Duration::from_secs(u64::from(u16::MAX))) {
            return false;
        }
        let Some(peer) = self.peers.get_mut(id.index()) else {
            return false;
        };
        let was = peer.persistent_keepalive;
        peer.persistent_keepalive = interval;
        peer.timers.persistent_keepalive = match interval {
            Some(_) if was != interval && peer.endpoint.is_some() && peer.keys.is_some() => {
                Some(now.monotonic)
            }
            Some(_) => peer.timers.persistent_keepalive,
            None => None,
        };
        self.reschedule(id);
        true
    }

    /// Replaces our private key: every peer's precomputed keys are rebuilt, and every session
    /// and pending handshake is dropped (they were made with the old key). Staged packets
    /// stay and start new handshakes. A peer whose public key is now our own becomes
    /// unusable; callers that follow wireguard-go remove it first.
    pub fn set_private_key(&mut self, private_key: PrivateKey) {
        let local = LocalIdentity::new(private_key);
        self.cookie_checker = CookieChecker::new(&local);
        for peer in &mut self.peers {
            let indices = &mut self.indices;
            peer.sessions.clear_all(|index| indices.remove(index));
            if let Some(pending) = peer.handshake.take() {
                indices.remove(pending.local_index);
            }
            let psk = peer.keys.as_ref().map(|k| k.preshared_key().clone());
            let own = peer.public_key == *local.public_key();
            peer.keys = if own {
                None
            } else {
                PeerKeys::new(&local, peer.public_key, psk).ok()
            };
            peer.last_initiation_sent = None;
        }
        self.local = local;
        for id in 0..self.peers.len() {
            self.reschedule(PeerId(id as u32));
        }
    }

    /// Grows the index table with the peer count (it must stay at most half full when every
    /// peer holds its four indices).
    fn resize_tables(&mut self) {
        if !self.indices.fits(self.peers.len()) {
            self.indices =
                core::mem::replace(&mut self.indices, IndexTable::new(0)).resized(self.peers.len());
        }
        self.rebuild_timer_queue();
    }

    fn rebuild_timer_queue(&mut self) {
        let mut queue = TimerQueue::new(self.peers.len());
        for (i, peer) in self.peers.iter().enumerate() {
            queue.set(PeerId(i as u32), peer.timers.earliest());
        }
        self.timer_queue = queue;
    }
}
