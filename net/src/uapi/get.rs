//! Streaming a `get` reply out of a [`Snapshot`], a few bytes at a time.

use core::fmt::{self, Write};

use zeroize::Zeroize;

use super::snapshot::{Snapshot, EXTENSION_PREFIX, MAX_EXTENSION_NAME};
use super::text::KEY_LEN;
use crypto::hex::{encode_key, KEY_HEX_LEN};

/// Room for the longest line: an extension key with its longest name and a 20-digit value.
const LINE_CAPACITY: usize = 160;

/// Where the writer is in the reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    PrivateKey,
    ListenPort,
    Fwmark,
    Extension(usize),
    Peer(usize, PeerStep),
    Errno,
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PeerStep {
    PublicKey,
    PresharedKey,
    ProtocolVersion,
    Endpoint,
    HandshakeSec,
    HandshakeNsec,
    TxBytes,
    RxBytes,
    Keepalive,
    AllowedIp(usize),
}

/// One line being written out.
struct Line {
    bytes: [u8; LINE_CAPACITY],
    len: usize,
}

impl Write for Line {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.len + text.len();
        if end > LINE_CAPACITY {
            return Err(fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl Line {
    fn key(&mut self, name: &str, key: &[u8; KEY_LEN]) {
        let _ = self.write_str(name);
        let _ = self.write_str("=");
        let room = self.bytes.get_mut(self.len..);
        if let Some(out) = room.and_then(|rest| rest.first_chunk_mut::<KEY_HEX_LEN>()) {
            encode_key(key, out);
            self.len += KEY_HEX_LEN;
        }
        let _ = self.write_str("\n");
    }
}

/// The reply to `get=1`, produced on demand into the caller's buffer.
///
/// Lines come in wireguard-go's order: `private_key` (if set), `listen_port` (if not 0),
/// `fwmark` (if not 0), our `x_wgate_*` extension lines, then per peer `public_key`,
/// `preshared_key`, `protocol_version=1`, `endpoint` (if known),
/// `last_handshake_time_sec`, `last_handshake_time_nsec`, `tx_bytes`, `rx_bytes`,
/// `persistent_keepalive_interval` and one `allowed_ip` per prefix; then `errno=0` and the
/// blank line. Keys are lowercase hex, endpoints `a.b.c.d:port` or `[v6]:port`, prefixes
/// with host bits cleared.
///
/// The writer holds only the snapshot and one line, so a reply of any size streams through
/// a buffer of any size (even one byte). The line buffer, which carries the private key's
/// hex for a moment, is wiped as soon as it has been copied out and when the writer drops;
/// the caller should wipe its own buffer if it may keep the bytes.
pub struct GetWriter {
    snapshot: Snapshot,
    step: Step,
    line: Line,
    sent: usize,
}

impl fmt::Debug for GetWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetWriter")
            .field("peers", &self.snapshot.peers.len())
            .field("step", &self.step)
            .finish()
    }
}

impl Drop for GetWriter {
    fn drop(&mut self) {
        self.line.bytes.zeroize();
    }
}

impl GetWriter {
    /// A writer for the reply describing `snapshot`.
    pub fn new(snapshot: Snapshot) -> GetWriter {
        GetWriter {
            snapshot,
            step: Step::PrivateKey,
            line: Line {
                bytes: [0; LINE_CAPACITY],
                len: 0,
            },
            sent: 0,
        }
    }

    /// Whether the whole reply has been written.
    pub fn is_done(&self) -> bool {
        self.step == Step::Done && self.sent == self.line.len
    }

    /// Writes the next bytes of the reply into `out`; returns how many (0 once done, or if
    /// `out` is empty).
    pub fn fill(&mut self, out: &mut [u8]) -> usize {
        let mut written = 0;
        while written < out.len() {
            if self.sent == self.line.len {
                self.line.bytes[..self.line.len].zeroize();
                self.line.len = 0;
                self.sent = 0;
                if !self.next_line() {
                    break;
                }
            }
            let n = (self.line.len - self.sent).min(out.len() - written);
            out[written..written + n].copy_from_slice(&self.line.bytes[self.sent..self.sent + n]);
            self.sent += n;
            written += n;
        }
        written
    }

    /// Puts the next line into `self.line`; false when the reply is complete.
    fn next_line(&mut self) -> bool {
        loop {
            let (step, wrote) = self.produce(self.step);
            self.step = step;
            if wrote {
                return true;
            }
            if step == Step::Done {
                return false;
            }
        }
    }

    /// Writes the line for `step` (if it has one) and returns the step after it.
    fn produce(&mut self, step: Step) -> (Step, bool) {
        let snapshot = &self.snapshot;
        let line = &mut self.line;
        match step {
            Step::PrivateKey => match &snapshot.private_key {
                Some(key) => {
                    line.key("private_key", &key.to_bytes());
                    (Step::ListenPort, true)
                }
                None => (Step::ListenPort, false),
            },
            Step::ListenPort => {
                let port = snapshot.listen_port;
                if port != 0 {
                    let _ = writeln!(line, "listen_port={port}");
                }
                (Step::Fwmark, port != 0)
            }
            Step::Fwmark => {
                let mark = snapshot.fwmark;
                if mark != 0 {
                    let _ = writeln!(line, "fwmark={mark}");
                }
                (Step::Extension(0), mark != 0)
            }
            Step::Extension(index) => match snapshot.extensions.get(index) {
                Some((name, value)) => {
                    let _ = line.write_str(EXTENSION_PREFIX);
                    for byte in name.bytes().take(MAX_EXTENSION_NAME) {
                        let byte = byte.to_ascii_lowercase();
                        let safe = if byte.is_ascii_lowercase() || byte.is_ascii_digit() {
                            byte
                        } else {
                            b'_'
                        };
                        let _ = line.write_char(char::from(safe));
                    }
                    let _ = writeln!(line, "={value}");
                    (Step::Extension(index + 1), true)
                }
                None => (Step::Peer(0, PeerStep::PublicKey), false),
            },
            Step::Peer(index, peer_step) => {
                let Some(peer) = snapshot.peers.get(index) else {
                    return (Step::Errno, false);
                };
                let next = |s| Step::Peer(index, s);
                match peer_step {
                    PeerStep::PublicKey => {
                        line.key("public_key", peer.public_key.as_bytes());
                        (next(PeerStep::PresharedKey), true)
                    }
                    PeerStep::PresharedKey => {
                        line.key("preshared_key", peer.preshared_key.as_bytes());
                        (next(PeerStep::ProtocolVersion), true)
                    }
                    PeerStep::ProtocolVersion => {
                        let _ = line.write_str("protocol_version=1\n");
                        (next(PeerStep::Endpoint), true)
                    }
                    PeerStep::Endpoint => match peer.endpoint {
                        Some(endpoint) => {
                            let _ = match endpoint {
                                core::net::SocketAddr::V4(v4) => {
                                    writeln!(line, "endpoint={}:{}", v4.ip(), v4.port())
                                }
                                core::net::SocketAddr::V6(v6) => {
                                    writeln!(line, "endpoint=[{}]:{}", v6.ip(), v6.port())
                                }
                            };
                            (next(PeerStep::HandshakeSec), true)
                        }
                        None => (next(PeerStep::HandshakeSec), false),
                    },
                    PeerStep::HandshakeSec => {
                        let secs = peer.last_handshake.as_secs();
                        let _ = writeln!(line, "last_handshake_time_sec={secs}");
                        (next(PeerStep::HandshakeNsec), true)
                    }
                    PeerStep::HandshakeNsec => {
                        let nanos = peer.last_handshake.subsec_nanos();
                        let _ = writeln!(line, "last_handshake_time_nsec={nanos}");
                        (next(PeerStep::TxBytes), true)
                    }
                    PeerStep::TxBytes => {
                        let _ = writeln!(line, "tx_bytes={}", peer.tx_bytes);
                        (next(PeerStep::RxBytes), true)
                    }
                    PeerStep::RxBytes => {
                        let _ = writeln!(line, "rx_bytes={}", peer.rx_bytes);
                        (next(PeerStep::Keepalive), true)
                    }
                    PeerStep::Keepalive => {
                        let seconds = peer.persistent_keepalive_interval;
                        let _ = writeln!(line, "persistent_keepalive_interval={seconds}");
                        (next(PeerStep::AllowedIp(0)), true)
                    }
                    PeerStep::AllowedIp(ip) => match peer.allowed_ips.get(ip) {
                        Some(cidr) => {
                            let _ = writeln!(line, "allowed_ip={}", cidr.network());
                            (next(PeerStep::AllowedIp(ip + 1)), true)
                        }
                        None => (Step::Peer(index + 1, PeerStep::PublicKey), false),
                    },
                }
            }
            Step::Errno => {
                let _ = line.write_str("errno=0\n\n");
                (Step::Done, true)
            }
            Step::Done => (Step::Done, false),
        }
    }
}
