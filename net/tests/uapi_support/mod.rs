//! Shared helpers of the UAPI tests: a driver that plays the kernel glue, key helpers and a
//! small parser of `get` replies.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::string::String;
use std::vec::Vec;

use crypto::{PrivateKey, PublicKey};
use net::uapi::{
    Change, Errno, Event, GetWriter, Model, ModelLimits, PeerRuntime, Session, SessionLimits,
};

/// 64 lowercase hex digits.
pub fn hex(bytes: &[u8; 32]) -> String {
    let mut out = String::new();
    for b in bytes {
        write!(out, "{b:02x}").unwrap();
    }
    out
}

/// A distinct, valid-looking public key for peer `n`.
pub fn peer_key(n: u32) -> PublicKey {
    let mut bytes = [0x11u8; 32];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    bytes[31] = 0x42;
    PublicKey::from_bytes(bytes)
}

/// A private key from a seed byte.
pub fn private_key(seed: u8) -> PrivateKey {
    PrivateKey::from_bytes([seed; 32])
}

/// Plays the kernel glue: a session, a model, and what the engine would report.
pub struct Driver {
    pub session: Session,
    pub model: Model,
    /// Changes of every successful `set`, in order.
    pub changes: Vec<Vec<Change>>,
    /// Number of `Event::Close` seen.
    pub closes: usize,
    /// Size of the buffer `get` replies are pulled through.
    pub get_chunk: usize,
    /// Extension counters every snapshot carries.
    pub extensions: Vec<(String, u64)>,
    /// Live values every peer reports.
    pub runtime: PeerRuntime,
}

impl Driver {
    pub fn new() -> Driver {
        Driver::with_limits(SessionLimits::default(), ModelLimits::default())
    }

    pub fn with_limits(session: SessionLimits, model: ModelLimits) -> Driver {
        Driver {
            session: Session::new(session),
            model: Model::new(model),
            changes: Vec::new(),
            closes: 0,
            get_chunk: 7,
            extensions: Vec::new(),
            runtime: PeerRuntime::default(),
        }
    }

    /// Feeds `input` in chunks of `chunk` bytes and returns every reply byte.
    pub fn exchange(&mut self, input: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            let mut rest = piece;
            while !rest.is_empty() {
                let fed = self.session.feed(rest);
                assert!(fed.consumed <= rest.len());
                assert!(fed.consumed > 0 || fed.event.is_some());
                rest = &rest[fed.consumed..];
                match fed.event {
                    None => assert!(rest.is_empty(), "stopped without an event"),
                    Some(event) => self.handle(event, &mut out),
                }
            }
        }
        out
    }

    /// Feeds everything at once.
    pub fn send(&mut self, input: &str) -> String {
        String::from_utf8(self.exchange(input.as_bytes(), usize::MAX)).unwrap()
    }

    fn handle(&mut self, event: Event, out: &mut Vec<u8>) {
        match event {
            Event::Get => {
                let runtime = self.runtime;
                let snapshot = self.model.snapshot(|_| runtime, self.extensions.clone());
                let mut writer = GetWriter::new(snapshot);
                let mut buffer = vec![0u8; self.get_chunk];
                while !writer.is_done() {
                    let n = writer.fill(&mut buffer);
                    assert!(n > 0, "a writer that is not done writes something");
                    out.extend_from_slice(&buffer[..n]);
                }
                assert_eq!(writer.fill(&mut buffer), 0);
            }
            Event::Set(request) => {
                let errno = match self.model.apply(&request) {
                    Ok(changes) => {
                        self.changes.push(changes);
                        Errno::OK
                    }
                    Err(error) => error.errno(),
                };
                out.extend_from_slice(errno.reply().as_bytes());
            }
            Event::Error(error) => out.extend_from_slice(error.errno().reply().as_bytes()),
            Event::Close => self.closes += 1,
        }
    }

    /// `get=1` and the parsed reply.
    pub fn get(&mut self) -> Device {
        let reply = self.send("get=1\n\n");
        parse_get(&reply)
    }

    /// A `set` of these lines; returns the reply.
    pub fn set(&mut self, lines: &[String]) -> String {
        let mut text = String::from("set=1\n");
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        text.push('\n');
        self.send(&text)
    }

    /// The last successful `set`'s changes.
    pub fn last_changes(&self) -> &[Change] {
        self.changes.last().map(Vec::as_slice).unwrap_or(&[])
    }
}

/// A peer as a `get` reply describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peer {
    pub public_key: String,
    pub preshared_key: String,
    pub protocol_version: String,
    pub endpoint: Option<String>,
    pub last_handshake_time_sec: u64,
    pub last_handshake_time_nsec: u64,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    pub persistent_keepalive_interval: u64,
    pub allowed_ips: Vec<String>,
    /// The keys in the order they came.
    pub key_order: Vec<String>,
}

/// A device as a `get` reply describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Device {
    pub private_key: Option<String>,
    pub listen_port: Option<u64>,
    pub fwmark: Option<u64>,
    pub extensions: Vec<(String, u64)>,
    pub peers: Vec<Peer>,
    pub errno: i64,
}

/// Parses a whole `get` reply, checking its framing: `key=value` lines, `errno=` last, then
/// one blank line, nothing after it.
pub fn parse_get(reply: &str) -> Device {
    assert!(
        reply.ends_with("\n\n"),
        "reply ends with a blank line: {reply:?}"
    );
    let body = &reply[..reply.len() - 1];
    let mut device = Device::default();
    let mut saw_errno = false;
    for line in body.lines() {
        assert!(!saw_errno, "nothing after errno");
        let (key, value) = line.split_once('=').expect("key=value");
        let number = || value.parse::<u64>().expect("decimal");
        let peer = device.peers.last_mut();
        match (key, peer) {
            ("errno", _) => {
                device.errno = value.parse().unwrap();
                saw_errno = true;
            }
            ("public_key", _) => device.peers.push(Peer {
                public_key: value.into(),
                key_order: vec![key.into()],
                ..Peer::default()
            }),
            ("private_key", None) => device.private_key = Some(value.into()),
            ("listen_port", None) => device.listen_port = Some(number()),
            ("fwmark", None) => device.fwmark = Some(number()),
            (k, None) if k.starts_with("x_wgate_") => device.extensions.push((k.into(), number())),
            (k, None) => panic!("unexpected device key {k}"),
            (k, Some(peer)) => {
                peer.key_order.push(k.into());
                match k {
                    "preshared_key" => peer.preshared_key = value.into(),
                    "protocol_version" => peer.protocol_version = value.into(),
                    "endpoint" => peer.endpoint = Some(value.into()),
                    "last_handshake_time_sec" => peer.last_handshake_time_sec = number(),
                    "last_handshake_time_nsec" => peer.last_handshake_time_nsec = number(),
                    "tx_bytes" => peer.tx_bytes = number(),
                    "rx_bytes" => peer.rx_bytes = number(),
                    "persistent_keepalive_interval" => {
                        peer.persistent_keepalive_interval = number()
                    }
                    "allowed_ip" => peer.allowed_ips.push(value.into()),
                    other => panic!("unexpected peer key {other}"),
                }
            }
        }
    }
    assert!(saw_errno, "errno line present");
    device
}
