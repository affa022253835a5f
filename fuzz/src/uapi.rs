//! The userspace API (`wg show` / `wg set` over the control port) against
//! the running gateway: a client's byte stream, cut into fuzzer-chosen
//! chunks and interleaved with disconnects, reads of the reply through
//! buffers of any size, time passing and loop polls.

use core::time::Duration;
use std::sync::OnceLock;

use crypto::{PrivateKey, PublicKey};
use net::gateway::{loop_counters, Control, Gateway};
use net::{Instant, Now};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::fake_nic::{self, FakeNic, GATEWAY_KEY, PEER_KEY};
use crate::input::Input;

/// Script operations per run, and bytes of script read: runs stay fast.
const MAX_OPS: usize = 64;
const MAX_INPUT: usize = 4096;

/// The longest line a `get` reply may hold (the writer's line buffer).
const MAX_LINE: usize = 160;

/// Every status a reply may carry: success, `-EIO`, `-EINVAL`, `-EPROTO`.
const KNOWN_ERRNOS: [i32; 4] = [0, -5, -22, -71];

/// Private keys of two peers a `set` may add, besides the configured one.
pub const OTHER_KEYS: [[u8; 32]; 2] = [[0x61; 32], [0x62; 32]];
/// A private key a `set` may give the gateway instead of its own.
pub const NEW_GATEWAY_KEY: [u8; 32] = [0x63; 32];

/// Lowercase hex, as the API writes keys.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Well-formed pieces of requests, which a script op writes whole so that
/// mutation splices fields instead of having to guess 64 hex digits.
fn fragments() -> &'static [Vec<u8>] {
    static FRAGMENTS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FRAGMENTS.get_or_init(|| {
        let public = |key: [u8; 32]| hex(PrivateKey::from_bytes(key).public_key().as_bytes());
        let mut lines: Vec<String> = [
            "get=1\n\n",
            "set=1\n",
            "\n",
            "remove=true\n",
            "replace_allowed_ips=true\n",
            "replace_peers=true\n",
            "update_only=true\n",
            "allowed_ip=10.200.0.0/16\n",
            "allowed_ip=10.99.0.3/32\n",
            "allowed_ip=fd99::3/128\n",
            "allowed_ip=0.0.0.0/0\n",
            "allowed_ip=-10.200.0.0/16\n",
            "endpoint=192.0.2.3:51821\n",
            "endpoint=[2001:db8::3]:4000\n",
            "listen_port=51999\n",
            "listen_port=0\n",
            "fwmark=7\n",
            "persistent_keepalive_interval=25\n",
            "persistent_keepalive_interval=0\n",
            "protocol_version=1\n",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for key in [PEER_KEY, OTHER_KEYS[0], OTHER_KEYS[1], GATEWAY_KEY] {
            lines.push(format!("public_key={}\n", public(key)));
        }
        for key in [NEW_GATEWAY_KEY, OTHER_KEYS[0], GATEWAY_KEY, [0; 32]] {
            lines.push(format!("private_key={}\n", hex(&key)));
        }
        lines.push(format!("preshared_key={}\n", hex(&[0x70; 32])));
        lines.into_iter().map(String::into_bytes).collect()
    })
}

/// The index in [`fragments`] of this piece (for seeds).
pub fn fragment_index(piece: &str) -> u8 {
    fragments()
        .iter()
        .position(|f| f == piece.as_bytes())
        .unwrap_or_else(|| panic!("not a fragment: {piece:?}")) as u8
}

/// What one run reached, for the tests that check the seeds go deep.
#[derive(Debug, Default, Clone, Copy)]
pub struct UapiRun {
    /// `set` requests answered `errno=0`.
    pub sets_accepted: usize,
    /// Of those, the ones after which the engine had more peers.
    pub sets_adding_peers: usize,
    /// `set` (or `get`) requests answered with an error.
    pub errors: usize,
    /// `get` replies read whole and checked against the engine.
    pub get_replies: usize,
}

/// One peer as a `get` reply lists it.
#[derive(Debug, Default)]
struct ListedPeer {
    public_key: [u8; 32],
    preshared_key: Option<[u8; 32]>,
    endpoint: Option<String>,
    /// `persistent_keepalive_interval` (0: off).
    keepalive: u64,
    allowed_ips: Vec<String>,
}

struct Harness {
    gateway: Gateway<FakeNic, FakeNic>,
    control: Control,
    rng: ChaCha8Rng,
    now: Instant,
    /// Written by the client, not yet taken by `input`.
    pending: Vec<u8>,
    /// The last bytes `input` took since the client changed.
    tail: Vec<u8>,
    /// The tail when the request being answered completed.
    request_tail: Vec<u8>,
    /// Newlines `input` took over the whole run: a bound on the lines, so
    /// on the peers and prefixes, the client can have added.
    newlines: usize,
    /// A request completed and its reply is not yet read whole.
    answering: bool,
    /// The reply read so far.
    reply: Vec<u8>,
    /// Peers in the engine before the request being answered.
    peers_before: usize,
    /// The configuration lines of the last `get` reply.
    baseline: Option<Vec<String>>,
    /// Whether something since that reply may have changed the configuration.
    dirty: bool,
    run: UapiRun,
}

impl Harness {
    fn new() -> Harness {
        let config = net::config::parse("gateway.conf", &fake_nic::config_text())
            .expect("the config parses");
        Harness {
            gateway: fake_nic::gateway(4, false),
            control: Control::new(&config).expect("the API over the boot configuration"),
            rng: ChaCha8Rng::seed_from_u64(5),
            now: Instant::ZERO,
            pending: Vec::new(),
            tail: Vec::new(),
            request_tail: Vec::new(),
            newlines: 0,
            answering: false,
            reply: Vec::new(),
            peers_before: 0,
            baseline: None,
            dirty: false,
            run: UapiRun::default(),
        }
    }

    fn clock(&self) -> Now {
        let wall = Duration::from_secs(1_700_000_000) + Duration::from_nanos(self.now.as_nanos());
        Now::new(self.now, wall)
    }

    /// Gives `input` up to `size` of the client's bytes.
    fn deliver(&mut self, size: usize) {
        let n = size.min(self.pending.len());
        if n == 0 {
            return;
        }
        let was_replying = self.control.replying();
        self.peers_before = self.gateway.engine().peer_count();
        let now = self.clock();
        let used = self.control.input(
            &self.pending[..n],
            &mut self.gateway,
            now,
            &mut self.rng,
            loop_counters,
        );
        assert!(used <= n, "input took {used} of {n} bytes");
        if was_replying {
            assert_eq!(used, 0, "input read on while a reply was pending");
        }
        if !self.control.replying() {
            assert_eq!(used, n, "input left bytes with no reply pending");
        }
        for &byte in &self.pending[..used] {
            if self.tail.len() == 8 {
                self.tail.remove(0);
            }
            self.tail.push(byte);
            self.newlines += usize::from(byte == b'\n');
        }
        self.pending.drain(..used);
        if !was_replying && self.control.replying() {
            self.answering = true;
            self.reply.clear();
            self.request_tail.clone_from(&self.tail);
        }
    }

    /// The most bytes a `get` reply may take: one line of at most
    /// [`MAX_LINE`] bytes per device key, counter, peer key and prefix,
    /// where every peer and prefix beyond the boot configuration's one and
    /// three cost the client a line.
    fn reply_bound(&self) -> usize {
        let peers = 1 + self.newlines;
        let prefixes = 3 + self.newlines;
        let counters = loop_counters(&self.gateway).len();
        MAX_LINE * (3 + counters + 9 * peers + prefixes + 1)
    }

    /// Reads the reply through a buffer of `size` bytes.
    fn read(&mut self, size: usize) {
        let mut buffer = vec![0u8; size];
        let n = self.control.output(&mut buffer);
        assert!(n <= size);
        if !self.answering {
            assert_eq!(n, 0, "reply bytes with no request answered");
            return;
        }
        assert!(n > 0, "a pending reply wrote nothing into {size} bytes");
        self.reply.extend_from_slice(&buffer[..n]);
        assert!(
            self.reply.len() <= self.reply_bound(),
            "a reply of {} bytes after {} lines from the client",
            self.reply.len(),
            self.newlines
        );
        if !self.control.replying() {
            self.answering = false;
            self.check_reply();
        }
    }

    /// A client left or came: nothing half-read or half-written survives.
    fn client_changed(&mut self, drop_pending: bool) {
        if self.control.replying() {
            // A reply never read whole: its `set` may have been applied.
            self.dirty = true;
        }
        self.control.client_changed();
        assert!(self.control.is_quiet() && !self.control.replying());
        let mut buffer = [0u8; 64];
        assert_eq!(
            self.control.output(&mut buffer),
            0,
            "a reply outlived its client"
        );
        self.answering = false;
        self.reply.clear();
        self.tail.clear();
        if drop_pending {
            self.pending.clear();
        }
    }

    fn poll(&mut self) {
        let now = self.clock();
        self.gateway.poll(now, &mut self.rng);
        let (outer, inner) = self.gateway.nics();
        outer.take_sent();
        inner.take_sent();
    }

    fn check_reply(&mut self) {
        let reply = std::mem::take(&mut self.reply);
        let text = std::str::from_utf8(&reply).expect("a reply is ASCII");
        if let Some(errno) = errno_reply(text) {
            assert!(KNOWN_ERRNOS.contains(&errno), "unknown errno in {text:?}");
            if errno == 0 {
                assert!(
                    self.request_tail.ends_with(b"\n\n"),
                    "errno=0 for a request not ended by a blank line: {:?}",
                    self.request_tail.escape_ascii().to_string()
                );
                self.dirty = true;
                self.run.sets_accepted += 1;
                if self.gateway.engine().peer_count() > self.peers_before {
                    self.run.sets_adding_peers += 1;
                }
            } else {
                self.run.errors += 1;
            }
        } else {
            assert!(
                self.request_tail.ends_with(b"get=1\n\n"),
                "a get reply to {:?}",
                self.request_tail.escape_ascii().to_string()
            );
            let config = self.check_get(text);
            if let (Some(before), false) = (&self.baseline, self.dirty) {
                assert_eq!(
                    *before, config,
                    "the configuration changed with no set accepted"
                );
            }
            self.baseline = Some(config);
            self.dirty = false;
            self.run.get_replies += 1;
        }
    }

    /// Checks a `get` reply line by line and against the engine; returns
    /// its configuration lines (those no traffic or time changes).
    fn check_get(&self, text: &str) -> Vec<String> {
        let body = text
            .strip_suffix("errno=0\n\n")
            .unwrap_or_else(|| panic!("a get reply not ending in errno=0: {text:?}"));
        assert!(body.is_empty() || body.ends_with('\n'));
        let engine = self.gateway.engine();
        let mut peers: Vec<ListedPeer> = Vec::new();
        let mut config = Vec::new();
        let mut listed_port = None;
        for line in body.split_terminator('\n') {
            assert!(line.len() < MAX_LINE, "a line of {} bytes", line.len());
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("not key=value: {line:?}"));
            assert!(!value.is_empty(), "no value: {line:?}");
            let device_key = matches!(key, "private_key" | "listen_port" | "fwmark")
                || key.starts_with("x_wgate_");
            assert!(
                !device_key || peers.is_empty(),
                "a device key after the peers: {line:?}"
            );
            match key {
                "private_key" => {
                    let public = PrivateKey::from_bytes(hex_key(value)).public_key();
                    assert_eq!(public, *engine.public_key(), "the engine has another key");
                }
                "public_key" => peers.push(ListedPeer {
                    public_key: hex_key(value),
                    ..ListedPeer::default()
                }),
                "preshared_key" => {
                    let peer = peers.last_mut().expect("a peer key first");
                    // Listed always, as wireguard-go does; all zeros means none.
                    peer.preshared_key = Some(hex_key(value)).filter(|k| *k != [0; 32]);
                }
                "protocol_version" => assert_eq!(value, "1"),
                "endpoint" => {
                    let peer = peers.last_mut().expect("a peer key first");
                    assert!(value.parse::<core::net::SocketAddr>().is_ok(), "{line:?}");
                    peer.endpoint = Some(value.to_string());
                }
                "allowed_ip" => {
                    let peer = peers.last_mut().expect("a peer key first");
                    assert!(value.parse::<net::IpCidr>().is_ok(), "{line:?}");
                    peer.allowed_ips.push(value.to_string());
                }
                "listen_port" => {
                    let port: u16 = value.parse().expect("a port");
                    assert_eq!(
                        port,
                        self.gateway.listen_port(),
                        "the gateway uses another port"
                    );
                    listed_port = Some(port);
                }
                "persistent_keepalive_interval" => {
                    let peer = peers.last_mut().expect("a peer key first");
                    peer.keepalive = value.parse().expect("a number");
                }
                "fwmark"
                | "last_handshake_time_sec"
                | "last_handshake_time_nsec"
                | "tx_bytes"
                | "rx_bytes" => {
                    assert!(value.parse::<u64>().is_ok(), "not a number: {line:?}");
                }
                _ => {
                    let name = key
                        .strip_prefix("x_wgate_")
                        .unwrap_or_else(|| panic!("an unknown key: {line:?}"));
                    assert!(
                        name.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                        "{line:?}"
                    );
                    assert!(value.parse::<u64>().is_ok(), "not a number: {line:?}");
                }
            }
            assert!(
                matches!(key, "public_key" | "listen_port" | "fwmark" | "private_key")
                    || key.starts_with("x_wgate_")
                    || !peers.is_empty(),
                "a peer key before any public_key: {line:?}"
            );
            let runtime = key.starts_with("x_wgate_")
                || matches!(
                    key,
                    "last_handshake_time_sec"
                        | "last_handshake_time_nsec"
                        | "tx_bytes"
                        | "rx_bytes"
                );
            if !runtime {
                config.push(line.to_string());
            }
        }
        // `get` omits port 0, which the gateway never listens on (it picks one).
        assert_eq!(
            listed_port,
            Some(self.gateway.listen_port()),
            "`get` lists no listen port"
        );
        // The engine runs exactly the peers the API reports, with their
        // prefixes, endpoints, keepalives and preshared keys.
        assert_eq!(
            engine.peer_count(),
            peers.len(),
            "the engine has other peers than `get` lists"
        );
        for peer in &peers {
            let key = PublicKey::from_bytes(peer.public_key);
            let id = engine.peer_by_public_key(&key).unwrap_or_else(|| {
                panic!("listed peer {} not in the engine", hex(&peer.public_key))
            });
            let mut theirs: Vec<String> = engine
                .allowed_ips_of(id)
                .map(|c| c.network().to_string())
                .collect();
            let mut ours = peer.allowed_ips.clone();
            theirs.sort();
            ours.sort();
            assert_eq!(theirs, ours, "allowed IPs of {}", hex(&peer.public_key));
            let endpoint = engine
                .peer_stats(id)
                .and_then(|s| s.endpoint)
                .map(|e| e.to_string());
            assert_eq!(
                endpoint,
                peer.endpoint,
                "endpoint of {}",
                hex(&peer.public_key)
            );
            let keepalive = engine
                .peer_stats(id)
                .and_then(|s| s.persistent_keepalive)
                .map_or(0, |k| k.as_secs());
            assert_eq!(
                keepalive,
                peer.keepalive,
                "keepalive of {}",
                hex(&peer.public_key)
            );
            // A peer with our own key is kept without keys, so without a
            // preshared key in the engine; it gets the listed one back once
            // a new private key makes it usable.
            if key != *engine.public_key() {
                let theirs = engine.preshared_key(id).map(|k| *k.as_bytes());
                assert!(
                    theirs == peer.preshared_key,
                    "preshared key of {} differs",
                    hex(&peer.public_key)
                );
            }
        }
        config
    }

    /// Delivers the rest and reads every reply, so that a script's last
    /// request is checked too.
    fn finish(&mut self) {
        for _ in 0..=self.pending.len() {
            while self.answering {
                self.read(4096);
            }
            if self.pending.is_empty() {
                break;
            }
            self.deliver(self.pending.len());
        }
        while self.answering {
            self.read(4096);
        }
    }
}

/// The status of a reply that is exactly `errno=<decimal>\n\n`.
fn errno_reply(text: &str) -> Option<i32> {
    let number = text.strip_prefix("errno=")?.strip_suffix("\n\n")?;
    let digits = number.strip_prefix('-').unwrap_or(number);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

/// A key written as 64 lowercase hex digits.
fn hex_key(value: &str) -> [u8; 32] {
    assert!(
        value.len() == 64
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "not a key: {value:?}"
    );
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&value[2 * i..2 * i + 2], 16).expect("hex");
    }
    key
}

/// Runs the input as a script of up to 64 operations, each a byte then its
/// arguments:
///
/// * 0: the client writes 1–32 raw bytes;
/// * 1, 2: the client writes one well-formed request piece ([`fragments`]);
/// * 3: `input` is given the next 1–255 written bytes (0: all of them);
/// * 4: the reply is read through a buffer of 1–4096 bytes;
/// * 5: the client changes, its unsent bytes kept (a transport that marks
///   no boundary) or dropped;
/// * 6: time passes (up to 65 s) and the loop polls; 7: the loop polls.
///
/// Then the rest is delivered and every reply read. Asserted, beyond no
/// panic: every reply is `errno=N\n\n` with a known N, or a `get` reply of
/// known `key=value` lines in wireguard-go's layout ending in `errno=0`;
/// replies are written only for a request that completed, in order, and
/// nothing of one is written after the client changed; `input` holds bytes
/// back only while a reply is pending; `errno=0` answers only a request
/// ended by its blank line, a `get` reply only `get=1\n\n`; every `get`
/// reply agrees with the engine (the same peers, prefixes, endpoints and
/// public key); a configuration unchanged by any accepted `set` reads back
/// identical (so a refused `set` changes nothing); and a reply's size is
/// bounded by the lines the client sent.
pub fn uapi(data: &[u8]) {
    uapi_run(data);
}

/// [`uapi`], returning what the run reached.
pub fn uapi_run(data: &[u8]) -> UapiRun {
    let mut input = Input::new(&data[..data.len().min(MAX_INPUT)]);
    let mut h = Harness::new();
    let fragments = fragments();
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        match input.u8() % 8 {
            0 => {
                let n = 1 + usize::from(input.u8() % 32);
                h.pending.extend_from_slice(input.bytes(n));
            }
            1 | 2 => {
                let piece = &fragments[usize::from(input.u8()) % fragments.len()];
                h.pending.extend_from_slice(piece);
            }
            3 => match input.u8() {
                0 => h.deliver(usize::MAX),
                n => h.deliver(usize::from(n)),
            },
            4 => h.read(1 + usize::from(input.u16() % 4096)),
            5 => h.client_changed(input.u8() & 1 == 1),
            6 => {
                let ms = u64::from(input.u16());
                h.now = h.now.saturating_add(Duration::from_millis(ms));
                h.poll();
            }
            _ => h.poll(),
        }
    }
    h.finish();
    h.run
}
