//! The userspace API served over a byte stream (the kernel's virtio-serial
//! port; a test's buffers), applied to the running gateway: `wg show` reads
//! the engine's live state, `wg set` changes it at once.
//!
//! One client at a time, as QEMU's socket chardev serves them: the transport
//! calls [`Control::client_changed`] when a client comes or goes, which
//! discards a half-sent request and any reply not yet written, so a reply
//! never reaches the next client.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use rand_core::RngCore;

use super::nic::Nic;
use super::Gateway;
use crate::config::GatewayConfig;
use crate::engine::{Now, PeerId};
use crate::uapi::{
    Change, Errno, ErrnoReply, Event, GetWriter, Model, ModelLimits, PeerRuntime, Session,
    SessionLimits, UapiError,
};

/// The API's state: the connection's parser, the configuration model, and
/// the reply being written.
pub struct Control {
    session: Session,
    model: Model,
    reply: Reply,
    resync: Option<Resync>,
}

/// After a client left, the byte stream may still carry its leftovers (a
/// transport like virtio-serial marks no boundary between clients: the
/// leaving client's last bytes and the next client's first ones share one
/// queue, and the leftovers need not end a line). Every request starts with
/// `get=1\n` or `set=1\n`, which no valid line contains elsewhere, so bytes
/// are skipped until one of those appears.
struct Resync {
    last: [u8; REQUEST_START_LEN],
    seen: usize,
}

const REQUEST_START_LEN: usize = 6;
const REQUEST_STARTS: [&[u8; REQUEST_START_LEN]; 2] = [b"get=1\n", b"set=1\n"];

impl Resync {
    fn new() -> Resync {
        Resync {
            last: [0; REQUEST_START_LEN],
            seen: 0,
        }
    }

    /// Takes one byte; returns the request start once the last bytes are one.
    fn step(&mut self, byte: u8) -> Option<&[u8; REQUEST_START_LEN]> {
        self.last.copy_within(1.., 0);
        self.last[REQUEST_START_LEN - 1] = byte;
        self.seen = (self.seen + 1).min(REQUEST_START_LEN);
        (self.seen == REQUEST_START_LEN && REQUEST_STARTS.contains(&&self.last))
            .then_some(&self.last)
    }
}

enum Reply {
    None,
    Errno(ErrnoReply, usize),
    Get(alloc::boxed::Box<GetWriter>),
}

impl Control {
    /// The API over the configuration the gateway booted with.
    pub fn new(config: &GatewayConfig) -> Result<Control, UapiError> {
        Ok(Control {
            session: Session::new(SessionLimits::default()),
            model: Model::from_config(config, ModelLimits::default())?,
            reply: Reply::None,
            resync: None,
        })
    }

    /// A client disconnected (or a new one connected): forget the half-read
    /// request and any reply not yet written, and skip whatever the old
    /// client left in the stream until the next request begins.
    pub fn client_changed(&mut self) {
        self.session.reset();
        self.reply = Reply::None;
        self.resync = Some(Resync::new());
    }

    /// Whether nothing is in flight: no half-read request, no reply being
    /// written (or the client was given up on).
    ///
    /// A transport that cannot order its disconnect events against the
    /// bytes (virtio-serial: separate queues) should treat a disconnect as
    /// the end of a conversation only when this holds. `wg` opens and closes
    /// an empty probe connection right before each request, and the probe's
    /// disconnect may well be seen after the request's first bytes: the
    /// request then belongs to the client that came next, and must go on.
    pub fn is_quiet(&self) -> bool {
        !self.replying() && (self.session.is_idle() || self.session.is_closed())
    }

    /// Whether a reply is still being written (input waits meanwhile, so
    /// replies leave in request order).
    pub fn replying(&self) -> bool {
        !matches!(self.reply, Reply::None)
    }

    /// Takes client bytes and acts on every complete request; returns how
    /// many bytes it consumed (the rest waits until the reply is out).
    /// `counters` gives our own `get` keys (drop counters by NIC and reason).
    /// `rng` picks the port when a client asks for any (`listen_port=0`).
    pub fn input<O: Nic, I: Nic>(
        &mut self,
        mut bytes: &[u8],
        gateway: &mut Gateway<O, I>,
        now: Now,
        rng: &mut impl RngCore,
        counters: impl Fn(&Gateway<O, I>) -> Vec<(String, u64)>,
    ) -> usize {
        let total = bytes.len();
        while !bytes.is_empty() && !self.replying() {
            if let Some(resync) = self.resync.as_mut() {
                let mut start = None;
                for (at, &byte) in bytes.iter().enumerate() {
                    if let Some(found) = resync.step(byte) {
                        start = Some((at + 1, *found));
                        break;
                    }
                }
                let Some((skip, request_start)) = start else {
                    return total; // all skipped
                };
                bytes = &bytes[skip..];
                self.resync = None;
                // The request's first line, which may have begun in an earlier chunk.
                let fed = self.session.feed(&request_start);
                debug_assert!(fed.event.is_none() && fed.consumed == REQUEST_START_LEN);
                continue;
            }
            let fed = self.session.feed(bytes);
            bytes = &bytes[fed.consumed..];
            let stalled = fed.consumed == 0 && fed.event.is_none();
            match fed.event {
                None => {}
                Some(Event::Get) => {
                    let engine = gateway.engine();
                    let runtime = |key: &crypto::PublicKey| {
                        engine
                            .peer_by_public_key(key)
                            .and_then(|id| engine.peer_stats(id))
                            .map(|stats| PeerRuntime::from(&stats))
                            .unwrap_or_default()
                    };
                    let snapshot = self.model.snapshot(runtime, counters(gateway));
                    self.reply = Reply::Get(alloc::boxed::Box::new(GetWriter::new(snapshot)));
                }
                Some(Event::Set(request)) => {
                    let errno = match self.model.apply(&request) {
                        Ok(changes) => apply(&mut self.model, &changes, gateway, now, rng),
                        Err(error) => error.errno(),
                    };
                    self.reply = Reply::Errno(errno.reply(), 0);
                }
                Some(Event::Error(error)) => self.reply = Reply::Errno(error.errno().reply(), 0),
                // No reply: the session ignores this client until it goes.
                Some(Event::Close) => {}
            }
            if stalled {
                break;
            }
        }
        total - bytes.len()
    }

    /// Writes as much of the pending reply as fits into `out`; returns how many bytes.
    pub fn output(&mut self, out: &mut [u8]) -> usize {
        match &mut self.reply {
            Reply::None => 0,
            Reply::Errno(reply, sent) => {
                let rest = &reply.as_bytes()[*sent..];
                let n = rest.len().min(out.len());
                out[..n].copy_from_slice(&rest[..n]);
                *sent += n;
                if *sent == reply.as_bytes().len() {
                    self.reply = Reply::None;
                }
                n
            }
            Reply::Get(writer) => {
                let n = writer.fill(out);
                if writer.is_done() {
                    self.reply = Reply::None;
                }
                n
            }
        }
    }
}

/// Makes the engine (and the loop) follow a `set` the model accepted.
fn apply<O: Nic, I: Nic>(
    model: &mut Model,
    changes: &[Change],
    gateway: &mut Gateway<O, I>,
    now: Now,
    rng: &mut impl RngCore,
) -> Errno {
    let mut errno = Errno::OK;
    for change in changes {
        let engine = gateway.engine_mut();
        let id_of = |key: &crypto::PublicKey| engine.peer_by_public_key(key);
        match change {
            Change::PrivateKey => match model.private_key() {
                Some(key) => {
                    engine.set_private_key(crypto::PrivateKey::from_bytes(*key.to_bytes()));
                    restore_preshared_keys(model, engine);
                }
                // wireguard-go then stops handshaking; the engine keeps its key
                // but the model reports none. (A gateway without a key forwards nothing.)
                None => log::warn!(
                    "uapi: private key removed; existing sessions continue until they expire"
                ),
            },
            Change::ListenPort(requested) => {
                let port = match *requested {
                    0 => ephemeral_port(rng),
                    port => port,
                };
                gateway.set_listen_port(port);
                model.set_listen_port(port);
                log::info!("uapi: listening on UDP port {port}");
            }
            Change::Fwmark(_) => {}
            Change::PeerRemoved(key) => {
                if let Some(id) = id_of(key) {
                    let _ = engine.remove_peer(id);
                }
            }
            Change::PeerAdded(key) => {
                let Some(view) = model.peer(key) else {
                    continue;
                };
                if let Err(e) = engine.add_peer(view.spec()) {
                    log::warn!("uapi: peer {key} not added: {e}");
                    errno = Errno::IO;
                }
            }
            Change::PeerUpdated(key, what) => {
                let (Some(view), Some(id)) = (model.peer(key), id_of(key)) else {
                    continue;
                };
                update_peer(engine, id, &view, what, now);
                if what.allowed_ips {
                    let cidrs: Vec<_> = view.allowed_ips().collect();
                    if let Err(e) = engine.replace_allowed_ips(id, &cidrs) {
                        log::warn!("uapi: allowed IPs of {key} not replaced: {e}");
                        errno = Errno::IO;
                    }
                }
            }
        }
    }
    errno
}

/// The dynamic ports of RFC 6335, from which a port is picked when a client
/// asks for any, as Linux and wireguard-go pick one from the system's
/// ephemeral range (on Linux 32768-60999 by default) by binding port 0.
const EPHEMERAL_PORTS: core::ops::RangeInclusive<u16> = 49152..=65535;

/// A port from [`EPHEMERAL_PORTS`], uniformly (the range holds 2^14 ports).
fn ephemeral_port(rng: &mut impl RngCore) -> u16 {
    let span = u32::from(EPHEMERAL_PORTS.end() - EPHEMERAL_PORTS.start()) + 1;
    EPHEMERAL_PORTS.start() + (rng.next_u32() % span) as u16
}

/// A peer without keys (its public key was ours) holds no preshared key in
/// the engine; once a new private key makes it usable, it gets the one the
/// API holds for it, so that its handshakes use what `wg show` says.
fn restore_preshared_keys(model: &Model, engine: &mut crate::engine::Engine) {
    for view in model.peers() {
        let Some(psk) = view.preshared_key() else {
            continue;
        };
        let Some(id) = engine.peer_by_public_key(&view.public_key()) else {
            continue;
        };
        if engine.preshared_key(id) != Some(psk) {
            engine.set_preshared_key(id, Some(psk.clone()));
        }
    }
}

fn update_peer(
    engine: &mut crate::engine::Engine,
    id: PeerId,
    view: &crate::uapi::PeerView<'_>,
    what: &crate::uapi::PeerChanges,
    now: Now,
) {
    if what.preshared_key {
        engine.set_preshared_key(id, view.preshared_key().cloned());
    }
    if what.endpoint {
        if let Some(endpoint) = view.endpoint() {
            engine.set_endpoint(id, endpoint);
        }
    }
    if what.persistent_keepalive || what.keepalive_turned_on {
        let seconds = view.persistent_keepalive_interval();
        let interval = (seconds != 0).then(|| core::time::Duration::from_secs(u64::from(seconds)));
        engine.set_persistent_keepalive(id, interval, now);
    }
}

/// The loop's own counters as `get` extension keys: drops by reason.
pub fn loop_counters<O: Nic, I: Nic>(gateway: &Gateway<O, I>) -> Vec<(String, u64)> {
    let mut counters = Vec::new();
    for (reason, count) in gateway.engine().stats().drops() {
        counters.push((format!("engine_drop_{}", reason.name()), count));
    }
    let router = gateway.router().stats();
    for (name, value) in [
        ("malformed", router.malformed),
        ("bad_checksum", router.bad_checksum),
        ("not_unicast", router.not_unicast),
        ("spoofed_source", router.spoofed_source),
        ("hairpin", router.hairpin),
        ("no_route", router.no_route),
        ("ttl_expired", router.ttl_expired),
        ("too_big", router.too_big),
    ] {
        counters.push((format!("router_drop_{name}"), value));
    }
    let s = gateway.stats();
    for (name, value) in [
        ("outer_malformed", s.outer_malformed),
        ("outer_bad_checksum", s.outer_bad_checksum),
        ("outer_fragment", s.outer_fragment),
        ("outer_no_route", s.outer_no_route),
        ("outer_unresolved", s.outer_unresolved),
        ("outer_tx_full", s.outer_tx_full),
        ("lan_unresolved", s.lan_unresolved),
        ("inner_tx_full", s.inner_tx_full),
        ("deferred_full", s.deferred_full),
        ("tunnel_ce_not_ect", s.tunnel_ce_not_ect),
        ("lan_gso_malformed", s.lan_gso_malformed),
        ("lan_gso_mismatch", s.lan_gso_mismatch),
        ("lan_gso_bad_size", s.lan_gso_bad_size),
        ("lan_gso_local", s.lan_gso_local),
        ("lan_bad_partial", s.lan_bad_partial),
    ] {
        counters.push((format!("loop_drop_{name}"), value));
    }
    counters.push(("loop_lan_gso_frames".into(), s.lan_gso_frames));
    counters.push(("loop_lan_gso_segments".into(), s.lan_gso_segments));
    counters
}
