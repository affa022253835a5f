//! The configuration the API reads and writes, and applying a `set` to it all or nothing.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use core::mem;
use core::net::SocketAddr;
use core::time::Duration;

use crypto::{PresharedKey, PrivateKey, PublicKey};

use super::errno::UapiError;
use super::request::{DeviceOp, PeerBlock, PeerOp, SetRequest};
use crate::allowed_ips::IpCidr;
use crate::config::GatewayConfig;
use crate::engine::PeerSpec;

/// Configured capacity of the model; a `set` that would exceed it fails and changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelLimits {
    /// Most peers at any point of a `set` (wireguard-go refuses to create a peer beyond its
    /// limit; so does this model).
    pub max_peers: usize,
    /// Most allowed IPs, summed over all peers, at any point of a `set`.
    pub max_allowed_ips: usize,
    /// Most bytes of undo records one `set` may accumulate before it is refused with
    /// [`UapiError::RequestTooLarge`]. Adding fresh prefixes and replacing lists costs
    /// nothing here; each prefix moved from one peer to another (or removed) costs
    /// [`Model::UNDO_RECORD_COST`] bytes.
    pub max_undo_memory: usize,
}

impl Default for ModelLimits {
    /// 4096 peers, 262,144 allowed IPs, 4 MiB of undo records.
    fn default() -> ModelLimits {
        ModelLimits {
            max_peers: 4096,
            max_allowed_ips: 1 << 18,
            max_undo_memory: 4 << 20,
        }
    }
}

/// What a successful `set` changed, for the engine to act on. Read the new values from the
/// [`Model`]; the list is in the order: device changes, removed peers, updated peers, added
/// peers (a peer removed and re-created by one request appears as removed, then added).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Our private key changed or was removed ([`Model::private_key`]): every session and
    /// handshake must be dropped, every peer's static-static DH recomputed. Peers whose key
    /// equals the new public key have been removed (reported as [`Change::PeerRemoved`]).
    PrivateKey,
    /// The listen port changed (0: any port: the glue picks one and records it with
    /// [`Model::set_listen_port`]); move the socket. The glue may answer
    /// [`super::Errno::PORT_IN_USE`] if that fails, as wireguard-go does.
    ListenPort(u16),
    /// The fwmark changed (kept for `wg showconf`; the gateway has no use for it).
    Fwmark(u32),
    /// The peer is gone: destroy its sessions, keys, timers and queued packets.
    PeerRemoved(PublicKey),
    /// A new peer ([`Model::peer`] gives its [`PeerView::spec`]). Like `Engine::new`, the
    /// engine should contact it at once if it has a keepalive and an endpoint.
    PeerAdded(PublicKey),
    /// An existing peer changed as flagged; its sessions stay.
    PeerUpdated(PublicKey, PeerChanges),
}

/// Which parts of an existing peer a `set` changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerChanges {
    /// The preshared key has a new value (applies from the next handshake).
    pub preshared_key: bool,
    /// An `endpoint` was set (even to the configured value: it overrides a roamed one).
    pub endpoint: bool,
    /// The persistent keepalive interval has a new value.
    pub persistent_keepalive: bool,
    /// It went from off to on: send a keepalive at once (wireguard-go's `pkaOn`).
    pub keepalive_turned_on: bool,
    /// The peer's allowed IPs may have changed (including prefixes another peer took from
    /// it): re-read [`PeerView::allowed_ips`].
    pub allowed_ips: bool,
}

/// Where a prefix lives: which peer, and its position in that peer's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Owner {
    peer: u32,
    pos: u32,
}

/// One peer's configuration.
struct PeerState {
    public_key: PublicKey,
    /// All-zero means none.
    preshared_key: PresharedKey,
    endpoint: Option<SocketAddr>,
    keepalive: u16,
    /// Masked prefixes in the order they were added (wireguard-go's per-peer order);
    /// `None` marks one removed since the list was last compacted.
    ips: Vec<Option<IpCidr>>,
    live: usize,
}

impl PeerState {
    fn new(public_key: PublicKey) -> PeerState {
        PeerState {
            public_key,
            preshared_key: PresharedKey::default(),
            endpoint: None,
            keepalive: 0,
            ips: Vec::new(),
            live: 0,
        }
    }
}

/// The inverse of one structural change, to roll a failed `set` back.
enum Undo {
    Created(u32),
    Removed(u32, Box<PeerState>),
    Cleared {
        peer: u32,
        ips: Vec<Option<IpCidr>>,
        live: usize,
    },
    Appended {
        peer: u32,
        count: u32,
    },
    Moved {
        prefix: IpCidr,
        from: Owner,
    },
    RemovedIp {
        prefix: IpCidr,
        owner: Owner,
    },
}

/// A peer's values before the `set` touched it.
struct Before {
    preshared_key: PresharedKey,
    endpoint: Option<SocketAddr>,
    keepalive: u16,
}

/// What a `set` did to one peer so far.
struct Touch {
    public_key: PublicKey,
    /// `None` for a peer created by this `set`.
    before: Option<Before>,
    endpoint_set: bool,
    allowed_ips: bool,
}

/// One `set` in progress.
struct Txn {
    first_new_id: u32,
    undo: Vec<Undo>,
    touched: BTreeMap<u32, Touch>,
}

/// The configuration served over the API: our key, port and fwmark, and the peers in the
/// order they were added, each with its allowed IPs in the order they were added.
///
/// Prefixes belong to one peer at a time, as in wireguard-go: adding a prefix another peer
/// has moves it. Memory: per allowed IP about 18 bytes in its peer's list plus a `BTreeMap`
/// entry (about 40 bytes) in the owner index.
pub struct Model {
    limits: ModelLimits,
    private_key: Option<PrivateKey>,
    /// Our public key, or all zeros without a private key (what wireguard-go compares
    /// `public_key` lines against).
    own_public: PublicKey,
    listen_port: u16,
    fwmark: u32,
    peers: BTreeMap<u32, PeerState>,
    by_key: BTreeMap<PublicKey, u32>,
    owners: BTreeMap<IpCidr, Owner>,
    total_ips: usize,
    next_id: u32,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("public_key", &self.public_key())
            .field("listen_port", &self.listen_port)
            .field("fwmark", &self.fwmark)
            .field("peers", &self.peers.len())
            .field("allowed_ips", &self.total_ips)
            .finish()
    }
}

fn copy_private(key: &Option<PrivateKey>) -> Option<PrivateKey> {
    key.as_ref().map(|k| PrivateKey::from_bytes(*k.to_bytes()))
}

fn same_private(a: &Option<PrivateKey>, b: &Option<PrivateKey>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same_bytes(&a.to_bytes(), &b.to_bytes()),
        _ => false,
    }
}

/// Compares two secrets without an early exit.
fn same_bytes(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn public_of(key: &Option<PrivateKey>) -> PublicKey {
    key.as_ref()
        .map_or(PublicKey::from_bytes([0; 32]), PrivateKey::public_key)
}

impl Model {
    /// Bytes one undo record costs (see [`ModelLimits::max_undo_memory`]).
    pub const UNDO_RECORD_COST: usize = mem::size_of::<Undo>();

    /// An empty configuration: no key, port 0, no peers.
    pub fn new(limits: ModelLimits) -> Model {
        Model {
            limits,
            private_key: None,
            own_public: PublicKey::from_bytes([0; 32]),
            listen_port: 0,
            fwmark: 0,
            peers: BTreeMap::new(),
            by_key: BTreeMap::new(),
            owners: BTreeMap::new(),
            total_ips: 0,
            next_id: 0,
        }
    }

    /// The configuration file's interface and peers (in file order), as the gateway boots.
    pub fn from_config(config: &GatewayConfig, limits: ModelLimits) -> Result<Model, UapiError> {
        let mut model = Model::new(limits);
        model.private_key = Some(PrivateKey::from_bytes(
            *config.interface.private_key.to_bytes(),
        ));
        model.own_public = public_of(&model.private_key);
        model.listen_port = config.interface.listen_port;
        let mut txn = model.begin();
        for peer in &config.peers {
            let key = peer.public_key;
            let id = match model.by_key.get(&key) {
                Some(&id) => id,
                None => model.create_peer(&mut txn, key)?,
            };
            let state = model.peer_mut(id);
            if let Some(psk) = &peer.preshared_key {
                state.preshared_key = psk.clone();
            }
            state.endpoint = peer.endpoint;
            state.keepalive = peer.persistent_keepalive.map_or(0, |k| k.get());
            for &cidr in &peer.allowed_ips {
                model.add_ip(&mut txn, id, cidr)?;
            }
        }
        model.compact_touched(&txn);
        Ok(model)
    }

    /// The limits the model enforces.
    pub fn limits(&self) -> ModelLimits {
        self.limits
    }

    /// Our private key, if one is set.
    pub fn private_key(&self) -> Option<&PrivateKey> {
        self.private_key.as_ref()
    }

    /// Our public key, if a private key is set.
    pub fn public_key(&self) -> Option<PublicKey> {
        self.private_key.as_ref().map(PrivateKey::public_key)
    }

    /// The listen port (0: any, until the gateway reports the one it chose).
    pub fn listen_port(&self) -> u16 {
        self.listen_port
    }

    /// Records the port the gateway chose after a `set` asked for any port
    /// (`listen_port=0`), so that `get` reports the port in use, as
    /// wireguard-go and Linux report the one their socket was bound to.
    pub fn set_listen_port(&mut self, port: u16) {
        debug_assert!(port != 0, "the port actually in use is never 0");
        self.listen_port = port;
    }

    /// The fwmark (0: off).
    pub fn fwmark(&self) -> u32 {
        self.fwmark
    }

    /// Number of peers.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Number of allowed IPs over all peers.
    pub fn allowed_ip_count(&self) -> usize {
        self.total_ips
    }

    /// The peers, in the order they were added.
    pub fn peers(&self) -> impl Iterator<Item = PeerView<'_>> + '_ {
        self.peers.values().map(|peer| PeerView { peer })
    }

    /// The peer with this public key.
    pub fn peer(&self, public_key: &PublicKey) -> Option<PeerView<'_>> {
        let id = self.by_key.get(public_key)?;
        self.peers.get(id).map(|peer| PeerView { peer })
    }

    /// Which peer (by public key) has exactly this prefix (host bits ignored).
    pub fn owner_of(&self, prefix: IpCidr) -> Option<PublicKey> {
        let owner = self.owners.get(&prefix.network())?;
        self.peers.get(&owner.peer).map(|p| p.public_key)
    }

    fn peer_mut(&mut self, id: u32) -> &mut PeerState {
        self.peers
            .get_mut(&id)
            .expect("uapi model: peer id of a live peer")
    }

    /// Applies a `set` with wireguard-go's semantics, all or nothing: on error the model is
    /// exactly as before. Returns what changed.
    pub fn apply(&mut self, request: &SetRequest) -> Result<Vec<Change>, UapiError> {
        if self.next_id > u32::MAX / 2 {
            self.renumber();
        }
        let saved_key = copy_private(&self.private_key);
        let (saved_port, saved_fwmark) = (self.listen_port, self.fwmark);
        let mut txn = self.begin();
        match self.run(&mut txn, request) {
            Ok(()) => {
                let mut changes = Vec::new();
                if !same_private(&saved_key, &self.private_key) {
                    changes.push(Change::PrivateKey);
                }
                if saved_port != self.listen_port {
                    changes.push(Change::ListenPort(self.listen_port));
                }
                if saved_fwmark != self.fwmark {
                    changes.push(Change::Fwmark(self.fwmark));
                }
                self.compact_touched(&txn);
                self.summarize(&txn, &mut changes);
                Ok(changes)
            }
            Err(error) => {
                self.rollback(txn);
                self.own_public = public_of(&saved_key);
                self.private_key = saved_key;
                self.listen_port = saved_port;
                self.fwmark = saved_fwmark;
                Err(error)
            }
        }
    }

    fn begin(&self) -> Txn {
        Txn {
            first_new_id: self.next_id,
            undo: Vec::new(),
            touched: BTreeMap::new(),
        }
    }

    fn run(&mut self, txn: &mut Txn, request: &SetRequest) -> Result<(), UapiError> {
        for op in request.device_ops() {
            match op {
                DeviceOp::PrivateKey(key) => {
                    let new = key
                        .as_deref()
                        .map(|k| PrivateKey::from_bytes(*k.to_bytes()));
                    // wireguard-go's SetPrivateKey does nothing for the key it already has.
                    if same_private(&new, &self.private_key) {
                        continue;
                    }
                    self.private_key = new;
                    self.own_public = public_of(&self.private_key);
                    if let Some(&id) = self.by_key.get(&self.own_public) {
                        self.remove_peer(txn, id);
                    }
                }
                DeviceOp::ListenPort(port) => self.listen_port = *port,
                DeviceOp::Fwmark(mark) => self.fwmark = *mark,
                DeviceOp::ReplacePeers => {
                    let ids: Vec<u32> = self.peers.keys().copied().collect();
                    for id in ids {
                        self.remove_peer(txn, id);
                    }
                }
            }
        }
        for block in request.peers() {
            self.run_block(txn, &block)?;
        }
        Ok(())
    }

    fn run_block(&mut self, txn: &mut Txn, block: &PeerBlock<'_>) -> Result<(), UapiError> {
        let key = block.public_key();
        // A peer with our own public key is a placeholder: its lines are checked, not applied.
        let (mut target, created) = if key == self.own_public {
            (None, false)
        } else if let Some(&id) = self.by_key.get(&key) {
            (Some(id), false)
        } else {
            (Some(self.create_peer(txn, key)?), true)
        };
        if let Some(id) = target {
            self.touch(txn, id);
        }
        for op in block.ops() {
            let Some(id) = target else {
                continue;
            };
            match op {
                PeerOp::UpdateOnly => {
                    if created {
                        self.remove_peer(txn, id);
                        target = None;
                    }
                }
                PeerOp::Remove => {
                    self.remove_peer(txn, id);
                    target = None;
                }
                PeerOp::PresharedKey(psk) => self.peer_mut(id).preshared_key = psk.clone(),
                PeerOp::Endpoint(endpoint) => {
                    self.peer_mut(id).endpoint = Some(endpoint);
                    if let Some(touch) = txn.touched.get_mut(&id) {
                        touch.endpoint_set = true;
                    }
                }
                PeerOp::PersistentKeepaliveInterval(seconds) => {
                    self.peer_mut(id).keepalive = seconds;
                }
                PeerOp::ReplaceAllowedIps => self.clear_ips(txn, id)?,
                PeerOp::AllowedIp(cidr) => self.add_ip(txn, id, cidr)?,
                PeerOp::RemoveAllowedIp(cidr) => self.remove_ip(txn, id, cidr)?,
            }
        }
        Ok(())
    }

    /// Records a peer's values before the first change to it.
    fn touch(&self, txn: &mut Txn, id: u32) {
        if txn.touched.contains_key(&id) {
            return;
        }
        let Some(peer) = self.peers.get(&id) else {
            return;
        };
        let before = (id < txn.first_new_id).then(|| Before {
            preshared_key: peer.preshared_key.clone(),
            endpoint: peer.endpoint,
            keepalive: peer.keepalive,
        });
        txn.touched.insert(
            id,
            Touch {
                public_key: peer.public_key,
                before,
                endpoint_set: false,
                allowed_ips: false,
            },
        );
    }

    fn mark_ips(&self, txn: &mut Txn, id: u32) {
        self.touch(txn, id);
        if let Some(touch) = txn.touched.get_mut(&id) {
            touch.allowed_ips = true;
        }
    }

    fn log(&self, txn: &mut Txn, record: Undo) -> Result<(), UapiError> {
        if let (
            Undo::Appended { peer, count: 1 },
            Some(Undo::Appended {
                peer: last,
                count: n,
            }),
        ) = (&record, txn.undo.last_mut())
        {
            if last == peer {
                *n += 1;
                return Ok(());
            }
        }
        if (txn.undo.len() + 1) * Self::UNDO_RECORD_COST > self.limits.max_undo_memory {
            // The record is dropped, so the change it describes must not have happened yet:
            // callers log before or instead of mutating where that matters (see `add_ip`).
            return Err(UapiError::RequestTooLarge);
        }
        txn.undo.push(record);
        Ok(())
    }

    fn create_peer(&mut self, txn: &mut Txn, key: PublicKey) -> Result<u32, UapiError> {
        if self.peers.len() >= self.limits.max_peers {
            return Err(UapiError::TooManyPeers);
        }
        self.log(txn, Undo::Created(self.next_id))?;
        let id = self.next_id;
        self.next_id += 1;
        self.peers.insert(id, PeerState::new(key));
        self.by_key.insert(key, id);
        Ok(id)
    }

    fn remove_peer(&mut self, txn: &mut Txn, id: u32) {
        self.touch(txn, id);
        let Some(peer) = self.peers.remove(&id) else {
            return;
        };
        self.by_key.remove(&peer.public_key);
        for prefix in peer.ips.iter().flatten() {
            self.owners.remove(prefix);
        }
        self.total_ips -= peer.live;
        // Removing never fails: this record is kept whatever the undo limit says (a request
        // can remove at most the peers that exist plus those it created).
        txn.undo.push(Undo::Removed(id, Box::new(peer)));
    }

    fn clear_ips(&mut self, txn: &mut Txn, id: u32) -> Result<(), UapiError> {
        if self.peer_mut(id).ips.is_empty() {
            return Ok(());
        }
        self.mark_ips(txn, id);
        // Logged first: if the log is full, nothing has been cleared.
        self.log(
            txn,
            Undo::Cleared {
                peer: id,
                ips: Vec::new(),
                live: 0,
            },
        )?;
        let peer = self.peer_mut(id);
        let ips = mem::take(&mut peer.ips);
        let live = mem::replace(&mut peer.live, 0);
        for prefix in ips.iter().flatten() {
            self.owners.remove(prefix);
        }
        self.total_ips -= live;
        if let Some(Undo::Cleared {
            ips: slot,
            live: count,
            ..
        }) = txn.undo.last_mut()
        {
            *slot = ips;
            *count = live;
        }
        Ok(())
    }

    fn add_ip(&mut self, txn: &mut Txn, id: u32, cidr: IpCidr) -> Result<(), UapiError> {
        let prefix = cidr.network();
        let previous = self.owners.get(&prefix).copied();
        match previous {
            None => {
                if self.total_ips >= self.limits.max_allowed_ips {
                    return Err(UapiError::TooManyAllowedIps);
                }
                self.log(txn, Undo::Appended { peer: id, count: 1 })?;
                self.total_ips += 1;
            }
            Some(from) => {
                let last = self.peer_mut(id).ips.len().checked_sub(1);
                if from.peer == id && Some(from.pos as usize) == last {
                    // Already the newest entry: moving it to the end changes nothing.
                    return Ok(());
                }
                self.log(txn, Undo::Moved { prefix, from })?;
                self.mark_ips(txn, from.peer);
                let old = self.peer_mut(from.peer);
                old.ips[from.pos as usize] = None;
                old.live -= 1;
            }
        }
        self.mark_ips(txn, id);
        let peer = self.peer_mut(id);
        let pos = peer.ips.len() as u32;
        peer.ips.push(Some(prefix));
        peer.live += 1;
        self.owners.insert(prefix, Owner { peer: id, pos });
        Ok(())
    }

    fn remove_ip(&mut self, txn: &mut Txn, id: u32, cidr: IpCidr) -> Result<(), UapiError> {
        let prefix = cidr.network();
        let Some(owner) = self.owners.get(&prefix).copied() else {
            return Ok(());
        };
        if owner.peer != id {
            // wireguard-go removes a prefix only from the peer that has it.
            return Ok(());
        }
        self.log(txn, Undo::RemovedIp { prefix, owner })?;
        self.mark_ips(txn, id);
        self.owners.remove(&prefix);
        let peer = self.peer_mut(id);
        peer.ips[owner.pos as usize] = None;
        peer.live -= 1;
        self.total_ips -= 1;
        Ok(())
    }

    /// Undoes every structural change in reverse order, then restores touched peers' values.
    fn rollback(&mut self, mut txn: Txn) {
        while let Some(record) = txn.undo.pop() {
            match record {
                Undo::Created(id) => {
                    if let Some(peer) = self.peers.remove(&id) {
                        self.by_key.remove(&peer.public_key);
                    }
                }
                Undo::Removed(id, peer) => {
                    for (pos, prefix) in peer.ips.iter().enumerate() {
                        if let Some(prefix) = prefix {
                            self.owners.insert(
                                *prefix,
                                Owner {
                                    peer: id,
                                    pos: pos as u32,
                                },
                            );
                        }
                    }
                    self.total_ips += peer.live;
                    self.by_key.insert(peer.public_key, id);
                    self.peers.insert(id, *peer);
                }
                Undo::Cleared {
                    peer: id,
                    ips,
                    live,
                } => {
                    for (pos, prefix) in ips.iter().enumerate() {
                        if let Some(prefix) = prefix {
                            self.owners.insert(
                                *prefix,
                                Owner {
                                    peer: id,
                                    pos: pos as u32,
                                },
                            );
                        }
                    }
                    self.total_ips += live;
                    let peer = self.peer_mut(id);
                    peer.ips = ips;
                    peer.live = live;
                }
                Undo::Appended { peer: id, count } => {
                    for _ in 0..count {
                        let peer = self.peer_mut(id);
                        if let Some(Some(prefix)) = peer.ips.pop() {
                            peer.live -= 1;
                            self.owners.remove(&prefix);
                            self.total_ips -= 1;
                        }
                    }
                }
                Undo::Moved { prefix, from } => {
                    if let Some(to) = self.owners.get(&prefix).copied() {
                        let peer = self.peer_mut(to.peer);
                        peer.ips.pop();
                        peer.live -= 1;
                    }
                    let peer = self.peer_mut(from.peer);
                    peer.ips[from.pos as usize] = Some(prefix);
                    peer.live += 1;
                    self.owners.insert(prefix, from);
                }
                Undo::RemovedIp { prefix, owner } => {
                    let peer = self.peer_mut(owner.peer);
                    peer.ips[owner.pos as usize] = Some(prefix);
                    peer.live += 1;
                    self.total_ips += 1;
                    self.owners.insert(prefix, owner);
                }
            }
        }
        self.next_id = txn.first_new_id;
        for (id, touch) in mem::take(&mut txn.touched) {
            if let (Some(before), Some(peer)) = (touch.before, self.peers.get_mut(&id)) {
                peer.preshared_key = before.preshared_key;
                peer.endpoint = before.endpoint;
                peer.keepalive = before.keepalive;
            }
        }
    }

    /// Drops the removed entries of touched peers whose lists are at least half holes.
    fn compact_touched(&mut self, txn: &Txn) {
        for &id in txn.touched.keys() {
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            let dead = peer.ips.len() - peer.live;
            if dead == 0 || dead < peer.live {
                continue;
            }
            peer.ips.retain(Option::is_some);
            peer.ips.shrink_to_fit();
            for (pos, prefix) in peer.ips.iter().enumerate() {
                if let Some(owner) = prefix.and_then(|p| self.owners.get_mut(&p)) {
                    owner.pos = pos as u32;
                }
            }
        }
    }

    fn summarize(&self, txn: &Txn, changes: &mut Vec<Change>) {
        let mut updated = Vec::new();
        let mut added = Vec::new();
        for (id, touch) in &txn.touched {
            let now = self.peers.get(id);
            match (&touch.before, now) {
                (Some(_), None) => changes.push(Change::PeerRemoved(touch.public_key)),
                (Some(before), Some(peer)) => {
                    let flags = PeerChanges {
                        // `PresharedKey`'s `==` is constant-time.
                        preshared_key: before.preshared_key != peer.preshared_key,
                        endpoint: touch.endpoint_set,
                        persistent_keepalive: before.keepalive != peer.keepalive,
                        keepalive_turned_on: before.keepalive == 0 && peer.keepalive != 0,
                        allowed_ips: touch.allowed_ips,
                    };
                    if flags != PeerChanges::default() {
                        updated.push(Change::PeerUpdated(touch.public_key, flags));
                    }
                }
                (None, Some(peer)) => added.push(Change::PeerAdded(peer.public_key)),
                (None, None) => {}
            }
        }
        changes.append(&mut updated);
        changes.append(&mut added);
    }

    /// Gives the peers the ids 0, 1, … again, keeping their order.
    fn renumber(&mut self) {
        let old = mem::take(&mut self.peers);
        let mut map = BTreeMap::new();
        for (new_id, (old_id, peer)) in old.into_iter().enumerate() {
            let new_id = new_id as u32;
            map.insert(old_id, new_id);
            self.by_key.insert(peer.public_key, new_id);
            self.peers.insert(new_id, peer);
        }
        for owner in self.owners.values_mut() {
            owner.peer = map[&owner.peer];
        }
        self.next_id = self.peers.len() as u32;
    }

    /// Everything a `get` reports: the configuration from the model, the live values from
    /// `runtime` (the engine's per-peer state, looked up by public key), and `extensions`
    /// (our own counters; see [`super::Snapshot::extensions`]).
    pub fn snapshot(
        &self,
        mut runtime: impl FnMut(&PublicKey) -> PeerRuntime,
        extensions: Vec<(alloc::string::String, u64)>,
    ) -> super::Snapshot {
        let peers = self
            .peers()
            .map(|view| {
                let live = runtime(&view.public_key());
                super::PeerSnapshot {
                    public_key: view.public_key(),
                    preshared_key: view.peer.preshared_key.clone(),
                    endpoint: live.endpoint.or(view.endpoint()),
                    last_handshake: live.last_handshake,
                    rx_bytes: live.rx_bytes,
                    tx_bytes: live.tx_bytes,
                    persistent_keepalive_interval: view.persistent_keepalive_interval(),
                    allowed_ips: view.allowed_ips().collect(),
                }
            })
            .collect();
        super::Snapshot {
            private_key: copy_private(&self.private_key),
            listen_port: self.listen_port,
            fwmark: self.fwmark,
            extensions,
            peers,
        }
    }
}

/// A peer's live state, from the engine, for [`Model::snapshot`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerRuntime {
    /// Where we send to now (a roamed endpoint); `None` reports the configured one.
    pub endpoint: Option<SocketAddr>,
    /// Wall-clock time of the last handshake since the Unix epoch; zero if none.
    pub last_handshake: Duration,
    /// Bytes received from the peer.
    pub rx_bytes: u64,
    /// Bytes sent to the peer.
    pub tx_bytes: u64,
}

impl From<&crate::engine::PeerStats> for PeerRuntime {
    fn from(stats: &crate::engine::PeerStats) -> PeerRuntime {
        PeerRuntime {
            endpoint: stats.endpoint,
            last_handshake: stats.last_handshake.unwrap_or(Duration::ZERO),
            rx_bytes: stats.rx_bytes,
            tx_bytes: stats.tx_bytes,
        }
    }
}

/// A read-only view of one peer in the [`Model`].
#[derive(Clone, Copy)]
pub struct PeerView<'a> {
    peer: &'a PeerState,
}

impl fmt::Debug for PeerView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerView")
            .field("public_key", &self.peer.public_key)
            .field("has_preshared_key", &self.preshared_key().is_some())
            .field("endpoint", &self.peer.endpoint)
            .field("persistent_keepalive", &self.peer.keepalive)
            .field("allowed_ips", &self.peer.live)
            .finish()
    }
}

impl<'a> PeerView<'a> {
    /// The peer's public key.
    pub fn public_key(&self) -> PublicKey {
        self.peer.public_key
    }

    /// The preshared key, unless it is all zeros (none).
    pub fn preshared_key(&self) -> Option<&'a PresharedKey> {
        (self.peer.preshared_key != PresharedKey::default()).then_some(&self.peer.preshared_key)
    }

    /// The configured endpoint.
    pub fn endpoint(&self) -> Option<SocketAddr> {
        self.peer.endpoint
    }

    /// Seconds between keepalives; 0 is off.
    pub fn persistent_keepalive_interval(&self) -> u16 {
        self.peer.keepalive
    }

    /// The allowed IPs (network addresses), in the order they were added.
    pub fn allowed_ips(&self) -> impl Iterator<Item = IpCidr> + 'a {
        self.peer.ips.iter().flatten().copied()
    }

    /// Number of allowed IPs.
    pub fn allowed_ip_count(&self) -> usize {
        self.peer.live
    }

    /// The peer as the engine is configured with it.
    pub fn spec(&self) -> PeerSpec {
        PeerSpec {
            public_key: self.peer.public_key,
            preshared_key: self.preshared_key().cloned(),
            allowed_ips: self.allowed_ips().collect(),
            endpoint: self.peer.endpoint,
            persistent_keepalive: (self.peer.keepalive != 0)
                .then(|| Duration::from_secs(u64::from(self.peer.keepalive))),
        }
    }
}
