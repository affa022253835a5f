//! `wg-peer`: the gateway's WireGuard engine over a real UDP socket, as a tiny IP host.
//!
//! It exists so that the engine can be tested against another implementation
//! (wireguard-go, see `tests/interop_wireguard_go.rs`) over a real network: the engine is
//! sans-IO, so this program supplies the clocks (`std::time`), the randomness (the OS) and
//! the I/O (one `UdpSocket`). Behind the tunnel it is a host with one IPv4 address that
//! answers ICMP echo requests and can send its own.
//!
//! ```text
//! wg-peer <config-file>
//! ```
//!
//! The configuration is the usual WireGuard (wg-quick) format, restricted to one peer:
//!
//! ```text
//! [Interface]
//! PrivateKey = <base64>
//! ListenPort = 51821           # optional, default: any free port
//! Address = 10.200.0.2/24      # the one IPv4 address of this host
//! [Peer]
//! PublicKey = <base64>
//! PresharedKey = <base64>      # optional
//! AllowedIPs = 10.200.0.1/32
//! Endpoint = 172.31.250.1:51820
//! PersistentKeepalive = 25     # optional
//! ```
//!
//! Commands are read from stdin, one a line; events are printed on stdout, one a line, so a
//! test can drive it and wait for what it expects:
//!
//! | command          | effect                                                          |
//! |------------------|-----------------------------------------------------------------|
//! | `handshake`      | initiate a handshake now (same as `rekey`)                      |
//! | `rekey`          | force a new handshake                                           |
//! | `ping N DST`     | send N ICMP echo requests to DST through the tunnel             |
//! | `rebind`         | move to a new local UDP port (roaming)                          |
//! | `stats`          | print one `stats ...` line                                      |
//! | `quit`           | exit (so does end of input)                                     |
//!
//! Events: `ready port=P public_key=K`, `handshake complete total=N initiations_sent=M`,
//! `echo request from=A seq=N answered`, `echo reply from=A seq=N`, `bound port=P`,
//! `stats ...`, `ok ...`, `error ...`.

use std::io::{self, BufRead};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant as StdInstant, SystemTime, UNIX_EPOCH};

use crypto::{PresharedKey, PrivateKey, PublicKey};
use net::engine::{Engine, EngineOptions, Now, PeerId, PeerSpec, PeerStats, SendOutcome, Sink};
use net::IpCidr;
use rand_core::OsRng;

/// The only peer: wg-peer talks to exactly one.
const PEER: PeerId = PeerId(0);

/// Longest time the loop blocks on the socket, so that stdin commands (which arrive on
/// another thread) are acted on promptly even when no timer is due.
const MAX_WAIT: Duration = Duration::from_millis(20);

/// Largest datagram we can receive: a WireGuard message for a 9000-byte MTU fits easily.
const RECV_BUFFER: usize = 65_536;

/// ICMP identifier of our own echo requests, so that we only report replies to them.
const ECHO_ID: u16 = 0x5767; // "Wg"

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path] = args.as_slice() else {
        eprintln!("usage: wg-peer <config-file>   (then commands on stdin; see the source)");
        return ExitCode::from(2);
    };
    let config = match std::fs::read_to_string(path) {
        Ok(text) => match Config::parse(&text) {
            Ok(config) => config,
            Err(e) => {
                eprintln!("wg-peer: {path}: {e}");
                return ExitCode::from(2);
            }
        },
        Err(e) => {
            eprintln!("wg-peer: cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wg-peer: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the configuration file says.
struct Config {
    private_key: PrivateKey,
    listen_port: u16,
    address: Ipv4Addr,
    peer_public_key: PublicKey,
    peer_preshared_key: Option<PresharedKey>,
    peer_allowed_ips: Vec<IpCidr>,
    peer_endpoint: Option<SocketAddr>,
    peer_keepalive: Option<Duration>,
}

impl Config {
    /// Parses the one-interface, one-peer subset of the WireGuard configuration format.
    fn parse(text: &str) -> Result<Config, String> {
        let mut private_key = None;
        let mut listen_port = 0;
        let mut address = None;
        let mut public_key = None;
        let mut preshared_key = None;
        let mut allowed_ips = Vec::new();
        let mut endpoint = None;
        let mut keepalive = None;
        let mut section = "";
        let mut peers = 0;
        for (number, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            let at = |message: String| format!("line {}: {message}", number + 1);
            if line.is_empty() {
                continue;
            }
            if line.starts_with('[') {
                section = match line {
                    "[Interface]" => "interface",
                    "[Peer]" => {
                        peers += 1;
                        if peers > 1 {
                            return Err(at("wg-peer supports exactly one [Peer]".into()));
                        }
                        "peer"
                    }
                    other => return Err(at(format!("unknown section {other}"))),
                };
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(at(format!("expected `Key = Value`, found {line:?}")));
            };
            let (key, value) = (key.trim(), value.trim());
            match (section, key) {
                ("interface", "PrivateKey") => {
                    private_key = Some(
                        PrivateKey::from_base64(value)
                            .map_err(|e| at(format!("PrivateKey: {e}")))?,
                    )
                }
                ("interface", "ListenPort") => {
                    listen_port = value.parse().map_err(|e| at(format!("ListenPort: {e}")))?
                }
                ("interface", "Address") => {
                    let cidr: IpCidr = value.parse().map_err(|e| at(format!("Address: {e:?}")))?;
                    match cidr.addr() {
                        IpAddr::V4(v4) => address = Some(v4),
                        IpAddr::V6(_) => return Err(at("Address must be IPv4".into())),
                    }
                }
                ("peer", "PublicKey") => {
                    public_key = Some(
                        PublicKey::from_base64(value).map_err(|e| at(format!("PublicKey: {e}")))?,
                    )
                }
                ("peer", "PresharedKey") => {
                    preshared_key = Some(
                        PresharedKey::from_base64(value)
                            .map_err(|e| at(format!("PresharedKey: {e}")))?,
                    )
                }
                ("peer", "AllowedIPs") => {
                    for item in value.split(',') {
                        allowed_ips.push(
                            item.trim()
                                .parse()
                                .map_err(|e| at(format!("AllowedIPs {item:?}: {e:?}")))?,
                        );
                    }
                }
                ("peer", "Endpoint") => {
                    endpoint = Some(value.parse().map_err(|e| at(format!("Endpoint: {e}")))?)
                }
                ("peer", "PersistentKeepalive") => {
                    let secs: u64 = value
                        .parse()
                        .map_err(|e| at(format!("PersistentKeepalive: {e}")))?;
                    keepalive = (secs != 0).then(|| Duration::from_secs(secs));
                }
                ("", _) => return Err(at(format!("{key} outside of a section"))),
                _ => return Err(at(format!("unsupported key {key} in this section"))),
            }
        }
        Ok(Config {
            private_key: private_key.ok_or("missing [Interface] PrivateKey")?,
            listen_port,
            address: address.ok_or("missing [Interface] Address")?,
            peer_public_key: public_key.ok_or("missing [Peer] PublicKey")?,
            peer_preshared_key: preshared_key,
            peer_allowed_ips: allowed_ips,
            peer_endpoint: endpoint,
            peer_keepalive: keepalive,
        })
    }
}

/// Both clocks, read together. Monotonic time counts from the start of the program.
struct Clock {
    start: StdInstant,
}

impl Clock {
    fn now(&self) -> Now {
        let monotonic = self.start.elapsed().as_nanos();
        // A wall clock before 1970 would be a broken host; the engine only needs it to grow.
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Now::new(
            net::time::Instant::from_nanos(u64::try_from(monotonic).unwrap_or(u64::MAX)),
            unix,
        )
    }

    /// How long from `now` until the engine instant `deadline` (zero if it has passed).
    fn until(&self, now: Now, deadline: net::time::Instant) -> Duration {
        deadline.saturating_duration_since(now.monotonic)
    }
}

/// The engine's output: datagrams go straight out of the socket; decrypted packets are kept
/// for the host to look at once the engine call returns (the host may answer them, which
/// needs the engine again).
struct Io<'a> {
    socket: &'a UdpSocket,
    delivered: Vec<Vec<u8>>,
}

impl Sink for Io<'_> {
    // The DS byte is not applied: std's UDP socket cannot set it per datagram, and this test
    // peer needs no mark.
    fn send_datagram(&mut self, to: SocketAddr, datagram: &[u8], _ds: u8) {
        if let Err(e) = self.socket.send_to(datagram, to) {
            // Not fatal: UDP may fail transiently (e.g. no neighbour yet); WireGuard retries.
            eprintln!("wg-peer: send to {to}: {e}");
        }
    }

    fn deliver_packet(&mut self, _from: PeerId, packet: &mut [u8]) {
        self.delivered.push(packet.to_vec());
    }
}

/// Everything the main loop works on.
struct Host {
    engine: Engine,
    socket: UdpSocket,
    clock: Clock,
    address: Ipv4Addr,
    next_seq: u16,
    handshakes_seen: u64,
}

fn run(config: Config) -> Result<(), String> {
    let public_key = config.private_key.public_key();
    let mut spec = PeerSpec::new(config.peer_public_key);
    spec.preshared_key = config.peer_preshared_key;
    spec.allowed_ips = config.peer_allowed_ips;
    spec.endpoint = config.peer_endpoint;
    spec.persistent_keepalive = config.peer_keepalive;
    let engine = Engine::new(
        config.private_key,
        [spec],
        EngineOptions::default(),
        &mut OsRng,
    )
    .map_err(|e| format!("engine: {e}"))?;
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, config.listen_port))
        .map_err(|e| format!("bind UDP port {}: {e}", config.listen_port))?;
    let port = local_port(&socket)?;
    let mut host = Host {
        engine,
        socket,
        clock: Clock {
            start: StdInstant::now(),
        },
        address: config.address,
        next_seq: 1,
        handshakes_seen: 0,
    };
    println!(
        "ready port={port} public_key={}",
        public_key.to_base64().as_str()
    );
    host.serve(stdin_lines())
}

/// Reads stdin on its own thread: the main loop must keep serving the socket and the timers
/// while no command arrives. The channel closes at end of input.
fn stdin_lines() -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn local_port(socket: &UdpSocket) -> Result<u16, String> {
    socket
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local address of the socket: {e}"))
}

impl Host {
    fn serve(&mut self, commands: Receiver<String>) -> Result<(), String> {
        let mut buffer = vec![0u8; RECV_BUFFER];
        loop {
            loop {
                match commands.try_recv() {
                    Ok(line) => {
                        if !self.command(line.trim())? {
                            return Ok(());
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return Ok(()),
                }
            }

            let now = self.clock.now();
            if self
                .engine
                .next_deadline()
                .is_some_and(|deadline| deadline <= now.monotonic)
            {
                let mut io = Io {
                    socket: &self.socket,
                    delivered: Vec::new(),
                };
                self.engine.poll_timers(now, &mut OsRng, &mut io);
                self.after_engine(io.delivered);
            }

            let wait = self
                .engine
                .next_deadline()
                .map_or(MAX_WAIT, |deadline| {
                    self.clock.until(self.clock.now(), deadline)
                })
                .clamp(Duration::from_millis(1), MAX_WAIT);
            self.socket
                .set_read_timeout(Some(wait))
                .map_err(|e| format!("set socket timeout: {e}"))?;
            match self.socket.recv_from(&mut buffer) {
                Ok((len, from)) => {
                    let now = self.clock.now();
                    let mut io = Io {
                        socket: &self.socket,
                        delivered: Vec::new(),
                    };
                    self.engine
                        .handle_datagram(now, from, &mut buffer[..len], &mut OsRng, &mut io);
                    self.after_engine(io.delivered);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                // ICMP port unreachable from an earlier send surfaces here on Linux; the
                // peer may simply not be up yet.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(format!("receive: {e}")),
            }
        }
    }

    /// Acts on one command line; false means quit.
    fn command(&mut self, line: &str) -> Result<bool, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["quit"] => return Ok(false),
            ["handshake"] | ["rekey"] => {
                let before = self.peer_stats().handshake_initiations_sent;
                let now = self.clock.now();
                let mut io = Io {
                    socket: &self.socket,
                    delivered: Vec::new(),
                };
                self.engine.force_rekey(PEER, now, &mut OsRng, &mut io);
                self.after_engine(io.delivered);
                // The engine sends at most one initiation per Rekey-Timeout (5 s); say whether
                // this one went out, so a test can tell "refused by the limit" from "lost".
                let sent = self.peer_stats().handshake_initiations_sent > before;
                println!("ok {} initiation_sent={sent}", words[0]);
            }
            ["ping", count, destination] => {
                let (Ok(count), Ok(destination)) =
                    (count.parse::<u16>(), destination.parse::<Ipv4Addr>())
                else {
                    println!("error usage: ping N IPV4-ADDRESS");
                    return Ok(true);
                };
                for _ in 0..count {
                    let seq = self.next_seq;
                    self.next_seq = self.next_seq.wrapping_add(1);
                    let request = icmp::echo_request(
                        self.address,
                        destination,
                        ECHO_ID,
                        seq,
                        b"wg-peer interop",
                    );
                    let outcome = self.send(&request);
                    println!("ping sent seq={seq} outcome={outcome:?}");
                }
            }
            ["rebind"] => {
                // A new socket on a new port: the peer sees our datagrams come from elsewhere,
                // exactly as when a NAT mapping changes. The old socket is closed.
                let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
                    .map_err(|e| format!("rebind: {e}"))?;
                self.socket = socket;
                println!("bound port={}", local_port(&self.socket)?);
            }
            ["stats"] => {
                let s = self.peer_stats();
                let endpoint = s
                    .endpoint
                    .map_or_else(|| "none".to_string(), |e| e.to_string());
                println!(
                    "stats handshakes={} initiations_sent={} rx_bytes={} tx_bytes={} \
                     packets_received={} packets_sent={} keepalives_sent={} endpoint={endpoint} \
                     dropped={}",
                    s.handshakes_completed,
                    s.handshake_initiations_sent,
                    s.rx_bytes,
                    s.tx_bytes,
                    s.packets_received,
                    s.packets_sent,
                    s.keepalives_sent,
                    self.engine.stats().total_dropped(),
                );
            }
            _ => println!("error unknown command {line:?}"),
        }
        Ok(true)
    }

    /// Encrypts one packet of ours towards the tunnel.
    fn send(&mut self, packet: &[u8]) -> SendOutcome {
        let now = self.clock.now();
        let mut io = Io {
            socket: &self.socket,
            delivered: Vec::new(),
        };
        let outcome = self.engine.send_packet(now, packet, &mut OsRng, &mut io);
        self.after_engine(io.delivered);
        outcome
    }

    /// Handles what one engine call produced: answers pings, reports replies and handshakes.
    fn after_engine(&mut self, delivered: Vec<Vec<u8>>) {
        self.report_handshakes();
        let us = IpAddr::V4(self.address);
        for mut packet in delivered {
            // Only well-formed IPv4 ICMP echo messages are looked at.
            let Some(fields) = icmp::echo_fields(&packet) else {
                continue;
            };
            if let Some(len) = net::echo::reply_in_place(&mut packet, |to| to == us) {
                let (from, seq) = (fields.source, fields.seq);
                let outcome = self.send(&packet[..len]);
                if outcome == SendOutcome::Sent || outcome == SendOutcome::Staged {
                    println!("echo request from={from} seq={seq} answered");
                } else {
                    println!("echo request from={from} seq={seq} not answered: {outcome:?}");
                }
            } else if fields.kind == icmp::ECHO_REPLY
                && fields.id == ECHO_ID
                && fields.destination == self.address
            {
                println!("echo reply from={} seq={}", fields.source, fields.seq);
            }
        }
    }

    fn peer_stats(&self) -> PeerStats {
        self.engine
            .peer_stats(PEER)
            .expect("the engine was built with exactly one peer")
    }

    fn report_handshakes(&mut self) {
        let stats = self.peer_stats();
        if stats.handshakes_completed > self.handshakes_seen {
            self.handshakes_seen = stats.handshakes_completed;
            println!(
                "handshake complete total={} initiations_sent={}",
                stats.handshakes_completed, stats.handshake_initiations_sent
            );
        }
    }
}

/// Just enough IPv4 and ICMP to send pings and recognise echo messages (the replies to
/// requests are built by [`net::echo::reply_in_place`]).
mod icmp {
    use std::net::Ipv4Addr;

    pub const ECHO_REPLY: u8 = 0;
    pub const ECHO_REQUEST: u8 = 8;
    const PROTOCOL_ICMP: u8 = 1;
    const DEFAULT_TTL: u8 = 64;

    /// The parts of an IPv4 ICMP echo message we look at.
    #[derive(Debug, PartialEq, Eq)]
    pub struct EchoFields {
        pub source: Ipv4Addr,
        pub destination: Ipv4Addr,
        pub kind: u8,
        pub id: u16,
        pub seq: u16,
    }

    /// The Internet checksum (RFC 1071): ones' complement of the ones' complement sum of
    /// 16-bit big-endian words, an odd last byte padded with zero.
    pub fn checksum(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        let mut words = data.chunks_exact(2);
        for word in &mut words {
            sum += u32::from(u16::from_be_bytes([word[0], word[1]]));
        }
        if let [last] = words.remainder() {
            sum += u32::from(*last) << 8;
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// The IPv4 header length and total length of a well-formed, unfragmented ICMP packet,
    /// or `None` for anything else (other protocols, fragments, bad checksums, truncation).
    fn icmp_bounds(packet: &[u8]) -> Option<(usize, usize)> {
        if packet.len() < 20 || packet[0] >> 4 != 4 {
            return None;
        }
        let header_len = usize::from(packet[0] & 0x0f) * 4;
        let total_len = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
        let fragmented = u16::from_be_bytes([packet[6], packet[7]]) & 0x3fff != 0;
        if header_len < 20
            || total_len < header_len + 8
            || total_len > packet.len()
            || fragmented
            || packet[9] != PROTOCOL_ICMP
            || checksum(&packet[..header_len]) != 0
            || checksum(&packet[header_len..total_len]) != 0
        {
            return None;
        }
        Some((header_len, total_len))
    }

    fn ipv4_at(packet: &[u8], offset: usize) -> Ipv4Addr {
        Ipv4Addr::new(
            packet[offset],
            packet[offset + 1],
            packet[offset + 2],
            packet[offset + 3],
        )
    }

    /// Addresses, type, identifier and sequence number of a valid ICMP echo request or reply.
    pub fn echo_fields(packet: &[u8]) -> Option<EchoFields> {
        let (header_len, _) = icmp_bounds(packet)?;
        let icmp = &packet[header_len..];
        if !(icmp[0] == ECHO_REQUEST || icmp[0] == ECHO_REPLY) || icmp[1] != 0 {
            return None;
        }
        Some(EchoFields {
            source: ipv4_at(packet, 12),
            destination: ipv4_at(packet, 16),
            kind: icmp[0],
            id: u16::from_be_bytes([icmp[4], icmp[5]]),
            seq: u16::from_be_bytes([icmp[6], icmp[7]]),
        })
    }

    /// A complete IPv4 echo request.
    pub fn echo_request(
        source: Ipv4Addr,
        destination: Ipv4Addr,
        id: u16,
        seq: u16,
        data: &[u8],
    ) -> Vec<u8> {
        let mut packet = ipv4_header(source, destination, 8 + data.len());
        let icmp_start = packet.len();
        packet.extend_from_slice(&[ECHO_REQUEST, 0, 0, 0]);
        packet.extend_from_slice(&id.to_be_bytes());
        packet.extend_from_slice(&seq.to_be_bytes());
        packet.extend_from_slice(data);
        set_icmp_checksum(&mut packet[icmp_start..]);
        packet
    }

    /// A 20-byte IPv4 header (no options, Don't Fragment) for `payload_len` bytes of ICMP.
    fn ipv4_header(source: Ipv4Addr, destination: Ipv4Addr, payload_len: usize) -> Vec<u8> {
        let total = u16::try_from(20 + payload_len).expect("ICMP packet larger than 64 KiB");
        let mut header = Vec::with_capacity(usize::from(total));
        header.extend_from_slice(&[0x45, 0]);
        header.extend_from_slice(&total.to_be_bytes());
        header.extend_from_slice(&[0, 0, 0x40, 0, DEFAULT_TTL, PROTOCOL_ICMP, 0, 0]);
        header.extend_from_slice(&source.octets());
        header.extend_from_slice(&destination.octets());
        let sum = checksum(&header);
        header[10..12].copy_from_slice(&sum.to_be_bytes());
        header
    }

    fn set_icmp_checksum(icmp: &mut [u8]) {
        icmp[2] = 0;
        icmp[3] = 0;
        let sum = checksum(icmp);
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::net::IpAddr;

        const US: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);
        const THEM: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);

        #[test]
        fn checksum_matches_rfc1071_example() {
            // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2, complement 220d.
            assert_eq!(
                checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
                0x220d
            );
            // An odd length pads the last byte on the right.
            assert_eq!(checksum(&[0x01]), !0x0100);
        }

        #[test]
        fn request_round_trips() {
            let request = echo_request(US, THEM, 0x5767, 42, b"hello");
            assert_eq!(request.len(), 20 + 8 + 5);
            let fields = echo_fields(&request).expect("valid");
            assert_eq!(fields.kind, ECHO_REQUEST);
            assert_eq!((fields.id, fields.seq), (0x5767, 42));
            let mut reply = request.clone();
            let len = net::echo::reply_in_place(&mut reply, |to| to == IpAddr::V4(THEM))
                .expect("the other side answers");
            let fields = echo_fields(&reply[..len]).unwrap();
            assert_eq!(
                (fields.kind, fields.source, fields.destination),
                (ECHO_REPLY, THEM, US)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Config;

    #[test]
    fn parses_a_wg_quick_style_file() {
        let text = "\
[Interface]
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
ListenPort = 51821   # a comment
Address = 10.200.0.2/24

[Peer]
PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
AllowedIPs = 10.200.0.1/32, 10.201.0.0/16
Endpoint = 172.31.250.1:51820
PersistentKeepalive = 0
";
        let config = Config::parse(text).expect("valid");
        assert_eq!(config.listen_port, 51821);
        assert_eq!(config.address, std::net::Ipv4Addr::new(10, 200, 0, 2));
        assert_eq!(config.peer_allowed_ips.len(), 2);
        assert_eq!(
            config.peer_endpoint,
            Some("172.31.250.1:51820".parse().unwrap())
        );
        assert_eq!(config.peer_keepalive, None, "0 means off");
    }

    #[test]
    fn refuses_incomplete_or_unknown_input() {
        let err = |t: &str| Config::parse(t).err().expect("an error");
        assert!(err("[Interface]\nAddress = 10.0.0.1/24\n").contains("PrivateKey"));
        assert!(err("[Interface]\nFoo = 1\n").contains("line 2"));
        assert!(err("PrivateKey = x\n").contains("outside of a section"));
        assert!(err("[Peer]\n[Peer]\n").contains("exactly one"));
    }
}
