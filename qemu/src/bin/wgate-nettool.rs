//! `wgate-nettool`: the traffic source and sink of the end-to-end tests.
//!
//! The tests run it inside Linux network namespaces (`ip netns exec NS wgate-nettool ...`) on
//! either side of the gateway. Every subcommand prints exactly one machine-readable result line
//! on stdout (plus `listening` for the receivers, and one `payload` line per distinct datagram
//! for `udp-listen`), errors go to stderr with exit code 1, usage errors exit with code 2.
//!
//! Only std is used: the tool is a plain blocking program, one socket at a time.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Usage text, printed on stderr for usage errors.
const USAGE: &str = "\
usage:
  wgate-nettool tcp-sink <bind-addr:port> [--timeout SECS]
  wgate-nettool tcp-source <addr:port> <bytes> [--seed N]
  wgate-nettool udp-listen <bind-addr:port> <seconds>
  wgate-nettool udp-send <dst-addr:port> <payload> [--bind ADDR:PORT] [--count N]
  wgate-nettool udp-flood <dst-addr:port> <count> [--seed N] [--max-len L]
  wgate-nettool pcap-extract <file.pcap> --udp-dst-port P [--index K] [--min-len L]
  wgate-nettool udp-send-hex <dst-addr:port> <hex-payload> [--bind ADDR:PORT]";

/// Size of the chunks the pseudo-random stream is generated and sent in.
const CHUNK: usize = 64 * 1024;
/// Default seed of `tcp-source` and `udp-flood`.
const DEFAULT_SEED: u64 = 1;
/// How long `tcp-source` keeps retrying a refused connection (the sink may still be starting).
const CONNECT_RETRY: Duration = Duration::from_secs(10);
/// How long `tcp-source` waits for the peer to close after the last byte.
const SOURCE_CLOSE_TIMEOUT: Duration = Duration::from_secs(120);
/// Upper bound of the `udp-flood` rate, in datagrams per second.
const FLOOD_RATE: u64 = 20_000;
/// `udp-listen` prints at most this many characters of each payload.
const PAYLOAD_TEXT_MAX: usize = 64;

/// A failure of a subcommand.
#[derive(Debug)]
enum Error {
    /// Bad command line: exit code 2 and the usage text.
    Usage(String),
    /// Anything else: exit code 1.
    Failed(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Failed(m) => f.write_str(m),
        }
    }
}

/// Shorthand for a runtime failure with context.
fn failed(context: impl fmt::Display, err: impl fmt::Display) -> Error {
    Error::Failed(format!("{context}: {err}"))
}

/// Result of the subcommands and their helpers.
type Res<T> = Result<T, Error>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Usage(m)) => {
            eprintln!("wgate-nettool: {m}\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Error::Failed(m)) => {
            eprintln!("wgate-nettool: {m}");
            ExitCode::from(1)
        }
    }
}

/// Dispatches a command line (without the program name) to its subcommand.
fn run(args: &[String]) -> Res<()> {
    let (cmd, rest) = args
        .split_first()
        .ok_or_else(|| Error::Usage("missing subcommand".into()))?;
    let mut a = Args::parse(rest)?;
    let mut out = io::stdout();
    match cmd.as_str() {
        "tcp-sink" => {
            let bind: SocketAddr = a.positional(0, "bind-addr:port")?;
            let timeout = Duration::from_secs(a.option("--timeout")?.unwrap_or(120));
            a.finish(1)?;
            let listener =
                TcpListener::bind(bind).map_err(|e| failed(format!("bind {bind}"), e))?;
            say(&mut out, "listening")?;
            let (n, hash) = tcp_sink(&listener, timeout)?;
            say(&mut out, &format!("received bytes={n} sha256={hash}"))
        }
        "tcp-source" => {
            let dst: SocketAddr = a.positional(0, "addr:port")?;
            let bytes: u64 = a.positional(1, "bytes")?;
            let seed = a.option("--seed")?.unwrap_or(DEFAULT_SEED);
            a.finish(2)?;
            let (n, hash) = tcp_source(dst, bytes, seed)?;
            say(&mut out, &format!("sent bytes={n} sha256={hash}"))
        }
        "udp-listen" => {
            let bind: SocketAddr = a.positional(0, "bind-addr:port")?;
            let secs: f64 = a.positional(1, "seconds")?;
            a.finish(2)?;
            let dur = Duration::try_from_secs_f64(secs)
                .map_err(|e| Error::Usage(format!("bad seconds {secs}: {e}")))?;
            let sock = UdpSocket::bind(bind).map_err(|e| failed(format!("bind {bind}"), e))?;
            say(&mut out, "listening")?;
            let tally = udp_listen(&sock, dur)?;
            say(&mut out, &format_tally(&tally))
        }
        "udp-send" => {
            let dst: SocketAddr = a.positional(0, "dst-addr:port")?;
            let payload: String = a.positional(1, "payload")?;
            let bind: Option<SocketAddr> = a.option("--bind")?;
            let count: u64 = a.option("--count")?.unwrap_or(1);
            a.finish(2)?;
            let sock = udp_socket_for(dst, bind)?;
            for _ in 0..count {
                send_datagram(&sock, dst, payload.as_bytes())?;
            }
            say(&mut out, &format!("udp sent={count}"))
        }
        "udp-flood" => {
            let dst: SocketAddr = a.positional(0, "dst-addr:port")?;
            let count: u64 = a.positional(1, "count")?;
            let seed = a.option("--seed")?.unwrap_or(DEFAULT_SEED);
            let max_len: usize = a.option("--max-len")?.unwrap_or(1500);
            a.finish(2)?;
            let sock = udp_socket_for(dst, None)?;
            let n = udp_flood(&sock, dst, count, seed, max_len)?;
            say(&mut out, &format!("udp flood sent={n}"))
        }
        "pcap-extract" => {
            let path: String = a.positional(0, "file.pcap")?;
            let port: u16 = a
                .option("--udp-dst-port")?
                .ok_or_else(|| Error::Usage("--udp-dst-port is required".into()))?;
            let index: usize = a.option("--index")?.unwrap_or(0);
            let min_len: usize = a.option("--min-len")?.unwrap_or(0);
            a.finish(1)?;
            let data = std::fs::read(&path).map_err(|e| failed(format!("read {path}"), e))?;
            let payload = pcap_find_udp(&data, port, index, min_len)
                .map_err(|e| failed(format!("pcap {path}"), e))?
                .ok_or_else(|| {
                    Error::Failed(format!(
                        "pcap {path}: no UDP datagram #{index} to port {port} with payload >= {min_len} bytes"
                    ))
                })?;
            say(&mut out, &hex_encode(&payload))
        }
        "udp-send-hex" => {
            let dst: SocketAddr = a.positional(0, "dst-addr:port")?;
            let text: String = a.positional(1, "hex-payload")?;
            let bind: Option<SocketAddr> = a.option("--bind")?;
            a.finish(2)?;
            let payload =
                hex_decode(&text).map_err(|e| Error::Usage(format!("hex-payload: {e}")))?;
            let sock = udp_socket_for(dst, bind)?;
            send_datagram(&sock, dst, &payload)?;
            say(&mut out, "udp sent=1")
        }
        other => Err(Error::Usage(format!("unknown subcommand {other:?}"))),
    }
}

/// Writes one line and flushes at once: the tests poll stdout (e.g. for `listening`) while the
/// tool still runs, and a pipe is block-buffered otherwise.
fn say(out: &mut impl Write, line: &str) -> Res<()> {
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| failed("stdout", e))
}

/// A parsed command line: positional arguments and `--name value` options.
struct Args {
    /// Positional arguments in order.
    positional: Vec<String>,
    /// Options not yet consumed by [`Args::option`], in order.
    options: Vec<(String, String)>,
}

impl Args {
    /// Splits `args` into positionals and `--name value` pairs (every option takes a value).
    fn parse(args: &[String]) -> Res<Args> {
        let mut positional = Vec::new();
        let mut options = Vec::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if arg.starts_with("--") {
                let value = it
                    .next()
                    .ok_or_else(|| Error::Usage(format!("{arg} needs a value")))?;
                options.push((arg.clone(), value.clone()));
            } else {
                positional.push(arg.clone());
            }
        }
        Ok(Args {
            positional,
            options,
        })
    }

    /// Parses positional argument `i`, named `name` in error messages.
    fn positional<T: std::str::FromStr>(&self, i: usize, name: &str) -> Res<T>
    where
        T::Err: fmt::Display,
    {
        let s = self
            .positional
            .get(i)
            .ok_or_else(|| Error::Usage(format!("missing <{name}>")))?;
        s.parse()
            .map_err(|e| Error::Usage(format!("bad <{name}> {s:?}: {e}")))
    }

    /// Removes and parses option `name`, if given (the last occurrence wins).
    fn option<T: std::str::FromStr>(&mut self, name: &str) -> Res<Option<T>>
    where
        T::Err: fmt::Display,
    {
        let mut found = None;
        self.options.retain(|(k, v)| {
            if k == name {
                found = Some(v.clone());
                false
            } else {
                true
            }
        });
        found
            .map(|s| {
                s.parse()
                    .map_err(|e| Error::Usage(format!("bad {name} {s:?}: {e}")))
            })
            .transpose()
    }

    /// Rejects unknown options and surplus positionals, so typos in test scripts fail loudly
    /// instead of silently running with defaults.
    fn finish(&self, max_positional: usize) -> Res<()> {
        if let Some((k, _)) = self.options.first() {
            return Err(Error::Usage(format!("unknown option {k}")));
        }
        if let Some(extra) = self.positional.get(max_positional) {
            return Err(Error::Usage(format!("unexpected argument {extra:?}")));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Pseudo-random stream
// ---------------------------------------------------------------------------------------------

/// xorshift64* generator: deterministic, fast, and good enough for test payloads (it is not
/// meant to be unpredictable, only to make corrupted or reordered bytes show in the hash).
struct Rng(u64);

impl Rng {
    /// Creates a generator; the seed is mixed (splitmix64 step) so that small seeds such as 0,
    /// 1, 2 give unrelated streams and 0 (a fixed point of xorshift) is still usable.
    fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_f491_4f6c_dd1d } else { z })
    }

    /// Next 64 random bits.
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-enough value in `0..=max` (modulo bias is irrelevant here).
    fn below_incl(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(m) => self.next_u64() % m,
            None => self.next_u64(),
        }
    }

    /// Fills `buf` with the next bytes of the stream. The stream is defined 8 bytes at a time
    /// (little-endian words), so for a given seed the bytes do not depend on how the caller
    /// chunks them as long as every chunk but the last is a multiple of 8 long.
    fn fill(&mut self, buf: &mut [u8]) {
        let mut words = buf.chunks_exact_mut(8);
        for w in &mut words {
            w.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let tail = words.into_remainder();
        if !tail.is_empty() {
            let last = self.next_u64().to_le_bytes();
            tail.copy_from_slice(&last[..tail.len()]);
        }
    }
}

/// Lowercase hex of a finished hash.
fn hash_hex(h: Sha256) -> String {
    hex_encode(&h.finalize())
}

// ---------------------------------------------------------------------------------------------
// TCP
// ---------------------------------------------------------------------------------------------

/// Accepts one connection on `listener` and reads it to EOF; returns the byte count and the
/// SHA-256 of the bytes. `timeout` bounds the whole accept + transfer.
fn tcp_sink(listener: &TcpListener, timeout: Duration) -> Res<(u64, String)> {
    let deadline = Instant::now() + timeout;
    // std has no accept timeout: poll a non-blocking listener instead.
    listener
        .set_nonblocking(true)
        .map_err(|e| failed("listener", e))?;
    let mut stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(Error::Failed(format!(
                        "timeout: no connection within {} s",
                        timeout.as_secs_f64()
                    )));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(failed("accept", e)),
        }
    };
    // The accepted socket may inherit O_NONBLOCK on some platforms; the read loop wants blocking.
    stream
        .set_nonblocking(false)
        .map_err(|e| failed("socket", e))?;
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; CHUNK];
    loop {
        // Re-arm the read timeout with what is left of the budget, so a stalled transfer ends
        // at the deadline rather than `timeout` after the last byte.
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| timeout_error(total, timeout))?;
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| failed("socket", e))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(timeout_error(total, timeout));
            }
            Err(e) => return Err(failed(format!("read after {total} bytes"), e)),
        }
    }
    // Closing our side (by dropping the stream) is what the source waits for.
    Ok((total, hash_hex(hasher)))
}

/// The error of a sink that ran out of time mid-transfer.
fn timeout_error(total: u64, timeout: Duration) -> Error {
    Error::Failed(format!(
        "timeout after {} s with {total} bytes received",
        timeout.as_secs_f64()
    ))
}

/// Connects to `dst`, retrying refused/unreachable attempts for [`CONNECT_RETRY`] because the
/// sink in the other namespace may not be listening yet.
fn connect_with_retry(dst: SocketAddr) -> Res<TcpStream> {
    let deadline = Instant::now() + CONNECT_RETRY;
    loop {
        match TcpStream::connect_timeout(&dst, CONNECT_RETRY) {
            Ok(s) => return Ok(s),
            Err(e)
                if Instant::now() < deadline
                    && matches!(
                        e.kind(),
                        ErrorKind::ConnectionRefused
                            | ErrorKind::ConnectionReset
                            | ErrorKind::Interrupted
                    ) =>
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(failed(format!("connect {dst}"), e)),
        }
    }
}

/// Sends `bytes` bytes of the seeded stream to `dst`, half-closes, waits for the peer to close;
/// returns the byte count and the SHA-256 of what was sent.
fn tcp_source(dst: SocketAddr, bytes: u64, seed: u64) -> Res<(u64, String)> {
    let mut stream = connect_with_retry(dst)?;
    let mut rng = Rng::new(seed);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut left = bytes;
    while left > 0 {
        let n = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
        rng.fill(&mut buf[..n]);
        hasher.update(&buf[..n]);
        stream
            .write_all(&buf[..n])
            .map_err(|e| failed(format!("send after {} bytes", bytes - left), e))?;
        left -= n as u64;
    }
    stream
        .shutdown(Shutdown::Write)
        .map_err(|e| failed("shutdown", e))?;
    // Wait for the sink's close (EOF) so that "sent" means "the peer read everything", not just
    // "it is in our send buffer". Anything the peer sends back is discarded.
    stream
        .set_read_timeout(Some(SOURCE_CLOSE_TIMEOUT))
        .map_err(|e| failed("socket", e))?;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(Error::Failed(format!(
                    "timeout: peer did not close within {} s",
                    SOURCE_CLOSE_TIMEOUT.as_secs()
                )));
            }
            Err(e) => return Err(failed("waiting for peer close", e)),
        }
    }
    Ok((bytes, hash_hex(hasher)))
}

// ---------------------------------------------------------------------------------------------
// UDP
// ---------------------------------------------------------------------------------------------

/// Datagrams received by `udp-listen`: total count and count per distinct payload.
#[derive(Debug, Default)]
struct Tally {
    /// Number of datagrams received.
    total: u64,
    /// Count per distinct payload (sorted, so the output order is stable).
    by_payload: BTreeMap<Vec<u8>, u64>,
}

/// Receives datagrams on `sock` for `dur`.
fn udp_listen(sock: &UdpSocket, dur: Duration) -> Res<Tally> {
    let deadline = Instant::now() + dur;
    let mut tally = Tally::default();
    let mut buf = vec![0u8; 65536];
    while let Some(left) = deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
    {
        sock.set_read_timeout(Some(left))
            .map_err(|e| failed("socket", e))?;
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                tally.total += 1;
                *tally.by_payload.entry(buf[..n].to_vec()).or_insert(0) += 1;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            // ICMP errors from earlier sends and signals are not fatal to a listener.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Interrupted | ErrorKind::ConnectionRefused
                ) => {}
            Err(e) => return Err(failed("recv", e)),
        }
    }
    Ok(tally)
}

/// The `udp-listen` output: `udp received=N` and one `payload COUNT TEXT` line per payload.
fn format_tally(t: &Tally) -> String {
    let mut s = format!("udp received={}", t.total);
    for (payload, count) in &t.by_payload {
        let text: String = String::from_utf8_lossy(payload)
            .chars()
            // Keep the output one line per payload: control characters (newlines in random
            // data) would otherwise split it.
            .map(|c| if c.is_control() { '.' } else { c })
            .take(PAYLOAD_TEXT_MAX)
            .collect();
        s.push_str(&format!("\npayload {count} {text}"));
    }
    s
}

/// A UDP socket to send to `dst`, bound to `bind` or to the wildcard of `dst`'s family.
fn udp_socket_for(dst: SocketAddr, bind: Option<SocketAddr>) -> Res<UdpSocket> {
    let local = bind.unwrap_or(match dst {
        SocketAddr::V4(_) => "0.0.0.0:0".parse().expect("valid literal"),
        SocketAddr::V6(_) => "[::]:0".parse().expect("valid literal"),
    });
    UdpSocket::bind(local).map_err(|e| failed(format!("bind {local}"), e))
}

/// Sends one datagram, retrying when the socket buffer is momentarily full (ENOBUFS shows up as
/// an `Other`/`WouldBlock` error under a flood).
fn send_datagram(sock: &UdpSocket, dst: SocketAddr, payload: &[u8]) -> Res<()> {
    let mut attempts = 0;
    loop {
        match sock.send_to(payload, dst) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if is_transient_send_error(&e) && attempts < 100 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(failed(format!("send to {dst}"), e)),
        }
    }
}

/// ENOBUFS/EAGAIN: the local queue is full; an ICMP error for an earlier datagram (refused) is
/// also reported on a later send and says nothing about this one.
fn is_transient_send_error(e: &io::Error) -> bool {
    const ENOBUFS: i32 = 105;
    e.kind() == ErrorKind::WouldBlock
        || e.kind() == ErrorKind::ConnectionRefused
        || e.raw_os_error() == Some(ENOBUFS)
}

/// Sends `count` random datagrams of length `0..=max_len` to `dst`, a quarter of them dressed
/// as WireGuard messages (type 1..=4 then three zero bytes) so they pass the cheapest filters
/// and exercise the deeper checks. Paced at [`FLOOD_RATE`] datagrams per second at most.
fn udp_flood(sock: &UdpSocket, dst: SocketAddr, count: u64, seed: u64, max_len: usize) -> Res<u64> {
    let mut rng = Rng::new(seed);
    let mut buf = vec![0u8; max_len];
    let start = Instant::now();
    for i in 0..count {
        let pkt = flood_datagram(&mut rng, &mut buf);
        send_datagram(sock, dst, pkt)?;
        // Pace against the schedule rather than sleeping per packet: sleeps are coarse, so
        // this sends in small bursts but holds the average rate.
        let due = start + Duration::from_micros((i + 1) * 1_000_000 / FLOOD_RATE);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            if wait >= Duration::from_millis(1) {
                std::thread::sleep(wait);
            }
        }
    }
    Ok(count)
}

/// The next flood datagram: random length `0..=buf.len()`, random bytes, and with probability
/// 1/4 a WireGuard-looking header (type 1..=4, three reserved zero bytes).
fn flood_datagram<'a>(rng: &mut Rng, buf: &'a mut [u8]) -> &'a [u8] {
    let len = rng.below_incl(buf.len() as u64) as usize;
    let pkt = &mut buf[..len];
    rng.fill(pkt);
    if rng.next_u64().is_multiple_of(4) && len >= 4 {
        pkt[0] = 1 + (rng.next_u64() % 4) as u8;
        pkt[1..4].fill(0);
    }
    pkt
}

// ---------------------------------------------------------------------------------------------
// pcap
// ---------------------------------------------------------------------------------------------

/// Ethernet link type in the pcap global header.
const LINKTYPE_ETHERNET: u32 = 1;
/// Linux cooked capture v1 (`tcpdump -i any` with libpcap before 1.10, or `-y LINUX_SLL`).
const LINKTYPE_LINUX_SLL: u32 = 113;
/// Linux cooked capture v2, what `tcpdump -i any` writes with libpcap 1.10 and later.
const LINKTYPE_LINUX_SLL2: u32 = 276;

/// Returns the UDP payload of the `index`-th UDP datagram (IPv4 or IPv6) to `port` whose payload
/// is at least `min_len` bytes, from a classic libpcap file; `Ok(None)` if there is none.
/// Packets that are not parseable as such (other protocols, fragments, snapped short) are
/// skipped; a malformed file structure is an error.
fn pcap_find_udp(
    data: &[u8],
    port: u16,
    index: usize,
    min_len: usize,
) -> Result<Option<Vec<u8>>, String> {
    let header = data
        .get(..24)
        .ok_or("file shorter than the 24-byte pcap header")?;
    let magic = [header[0], header[1], header[2], header[3]];
    // The magic is written in the writer's byte order; microsecond and nanosecond variants
    // differ only in timestamp resolution, which we do not use.
    let big_endian = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => false,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => true,
        _ => {
            return Err(format!(
                "not a classic pcap file (magic {})",
                hex_encode(&magic)
            ))
        }
    };
    let u32_at = |b: &[u8], off: usize| -> u32 {
        let w = [b[off], b[off + 1], b[off + 2], b[off + 3]];
        if big_endian {
            u32::from_be_bytes(w)
        } else {
            u32::from_le_bytes(w)
        }
    };
    // The link type is the low 16 bits (the upper bits may hold FCS information).
    let linktype = u32_at(header, 20) & 0xffff;
    if ![LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2].contains(&linktype) {
        return Err(format!(
            "unsupported link type {linktype} (want 1 Ethernet, 113 Linux SLL or 276 SLL2)"
        ));
    }
    let mut off = 24;
    let mut seen = 0usize;
    let mut record = 0usize;
    while off < data.len() {
        let rec = data
            .get(off..off + 16)
            .ok_or_else(|| format!("record {record} at offset {off}: truncated record header"))?;
        let incl = u32_at(rec, 8) as usize;
        if incl > 256 * 1024 * 1024 {
            return Err(format!(
                "record {record} at offset {off}: implausible length {incl}"
            ));
        }
        let frame = data.get(off + 16..off + 16 + incl).ok_or_else(|| {
            format!(
                "record {record} at offset {off}: truncated packet data ({incl} bytes announced)"
            )
        })?;
        if let Some(payload) = frame_udp_payload(frame, linktype, port) {
            if payload.len() >= min_len {
                if seen == index {
                    return Ok(Some(payload.to_vec()));
                }
                seen += 1;
            }
        }
        off += 16 + incl;
        record += 1;
    }
    Ok(None)
}

/// The UDP payload of `frame` if it is a complete, unfragmented UDP datagram to `port`.
fn frame_udp_payload(frame: &[u8], linktype: u32, port: u16) -> Option<&[u8]> {
    let be16 = |b: &[u8], o: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*b.get(o)?, *b.get(o + 1)?]))
    };
    let (mut ethertype, mut l3) = match linktype {
        LINKTYPE_ETHERNET => (be16(frame, 12)?, 14),
        // SLL: packet type, ARPHRD, address length, 8 address bytes, then the protocol.
        LINKTYPE_LINUX_SLL => (be16(frame, 14)?, 16),
        // SLL2: the protocol comes first, then interface, ARPHRD, type, address: 20 bytes.
        LINKTYPE_LINUX_SLL2 => (be16(frame, 0)?, 20),
        _ => return None,
    };
    // 802.1Q / 802.1ad tags: skip them to reach the real ethertype.
    while linktype == LINKTYPE_ETHERNET && (ethertype == 0x8100 || ethertype == 0x88a8) {
        ethertype = be16(frame, l3 + 2)?;
        l3 += 4;
    }
    let ip = frame.get(l3..)?;
    let udp = match ethertype {
        0x0800 => {
            let ihl = usize::from(*ip.first()? & 0x0f) * 4;
            let total = usize::from(be16(ip, 2)?);
            let frag = be16(ip, 6)?;
            // Protocol UDP, and neither "more fragments" nor a fragment offset.
            if *ip.first()? >> 4 != 4 || ihl < 20 || *ip.get(9)? != 17 || frag & 0x3fff != 0 {
                return None;
            }
            // Trust the IP length over the frame length: Ethernet pads short frames.
            ip.get(ihl..total)?
        }
        0x86dd => {
            // Only a UDP next header directly after the fixed header; extension headers do not
            // occur in the traffic this tool is used on.
            if *ip.first()? >> 4 != 6 || *ip.get(6)? != 17 {
                return None;
            }
            let plen = usize::from(be16(ip, 4)?);
            ip.get(40..40 + plen)?
        }
        _ => return None,
    };
    let ulen = usize::from(be16(udp, 4)?);
    if be16(udp, 2)? != port || ulen < 8 {
        return None;
    }
    udp.get(8..ulen)
}

// ---------------------------------------------------------------------------------------------
// hex
// ---------------------------------------------------------------------------------------------

/// Lowercase hex of `bytes`.
fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Decodes hex (either case, surrounding whitespace ignored).
fn hex_decode(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim().as_bytes();
    if !t.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", t.len()));
    }
    let nibble = |c: u8, i: usize| -> Result<u8, String> {
        char::from(c)
            .to_digit(16)
            .map(|d| d as u8)
            .ok_or_else(|| format!("invalid hex digit {:?} at position {i}", char::from(c)))
    };
    t.chunks_exact(2)
        .enumerate()
        .map(|(i, p)| Ok(nibble(p[0], 2 * i)? << 4 | nibble(p[1], 2 * i + 1)?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hash of `n` bytes of the stream of `seed`, generated in pieces of `piece` bytes.
    fn stream_hash(seed: u64, n: usize, piece: usize) -> String {
        let mut rng = Rng::new(seed);
        let mut h = Sha256::new();
        let mut buf = vec![0u8; piece];
        let mut left = n;
        while left > 0 {
            let k = left.min(piece);
            rng.fill(&mut buf[..k]);
            h.update(&buf[..k]);
            left -= k;
        }
        hash_hex(h)
    }

    #[test]
    fn stream_is_deterministic() {
        let a = stream_hash(7, 300_001, CHUNK);
        assert_eq!(a, stream_hash(7, 300_001, CHUNK));
        // Chunking in multiples of 8 does not change the stream.
        assert_eq!(a, stream_hash(7, 300_001, 8 * 1000));
        assert_ne!(a, stream_hash(8, 300_001, CHUNK));
        assert_ne!(stream_hash(0, 64, 64), stream_hash(1, 64, 64));
        // Not degenerate: seed 0 does not give zeros.
        let mut buf = [0u8; 32];
        Rng::new(0).fill(&mut buf);
        assert_ne!(buf, [0u8; 32]);
    }

    #[test]
    fn sha256_known_vector() {
        assert_eq!(
            hash_hex(Sha256::new_with_prefix(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hex_round_trip() {
        let all: Vec<u8> = (0..=255).collect();
        let h = hex_encode(&all);
        assert_eq!(&h[..8], "00010203");
        assert_eq!(hex_decode(&h).unwrap(), all);
        assert_eq!(hex_decode(" DEADbeef\n").unwrap(), [0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(hex_decode("").unwrap(), Vec::<u8>::new());
        assert!(hex_decode("abc").is_err());
        assert!(hex_decode("zz").is_err());
        assert!(hex_decode("é1").is_err());
    }

    /// An IPv4 + UDP packet (checksums zero: we do not check them).
    fn ipv4_udp(dport: u16, payload: &[u8]) -> Vec<u8> {
        let total = (20 + 8 + payload.len()) as u16;
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&51820u16.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        p
    }

    /// An IPv6 + UDP packet.
    fn ipv6_udp(dport: u16, payload: &[u8]) -> Vec<u8> {
        let ulen = (8 + payload.len()) as u16;
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&ulen.to_be_bytes());
        p.extend_from_slice(&[17, 64]);
        p.extend_from_slice(&[0xfd; 16]);
        p.extend_from_slice(&[0xfe; 16]);
        p.extend_from_slice(&1234u16.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&ulen.to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        p
    }

    fn ethernet(ethertype: u16, l3: &[u8]) -> Vec<u8> {
        let mut f = vec![0x52, 0x54, 0, 0, 0, 1, 0x52, 0x54, 0, 0, 0, 2];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(l3);
        // Minimum-size padding, as on the wire: must not end up in the payload.
        while f.len() < 60 {
            f.push(0xee);
        }
        f
    }

    fn sll(ethertype: u16, l3: &[u8]) -> Vec<u8> {
        let mut f = vec![0, 0, 0, 1, 0, 6, 0x52, 0x54, 0, 0, 0, 1, 0, 0];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(l3);
        f
    }

    /// A Linux cooked v2 frame (interface 1, outgoing, Ethernet ARPHRD).
    fn sll2(ethertype: u16, l3: &[u8]) -> Vec<u8> {
        let mut f = ethertype.to_be_bytes().to_vec();
        f.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 1, 4, 6, 0x52, 0x54, 0, 0, 0, 1, 0, 0]);
        f.extend_from_slice(l3);
        f
    }

    /// A pcap file with the given magic (written in the chosen byte order) and frames.
    fn pcap(big_endian: bool, magic: u32, linktype: u32, frames: &[Vec<u8>]) -> Vec<u8> {
        let w32 = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w16 = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut f = Vec::new();
        f.extend_from_slice(&w32(magic));
        f.extend_from_slice(&w16(2));
        f.extend_from_slice(&w16(4));
        f.extend_from_slice(&w32(0));
        f.extend_from_slice(&w32(0));
        f.extend_from_slice(&w32(65535));
        f.extend_from_slice(&w32(linktype));
        for (i, fr) in frames.iter().enumerate() {
            f.extend_from_slice(&w32(1_700_000_000 + i as u32));
            f.extend_from_slice(&w32(0));
            f.extend_from_slice(&w32(fr.len() as u32));
            f.extend_from_slice(&w32(fr.len() as u32));
            f.extend_from_slice(fr);
        }
        f
    }

    fn ethernet_frames() -> Vec<Vec<u8>> {
        vec![
            ethernet(0x0806, &[0; 28]),                // ARP: skipped
            ethernet(0x0800, &ipv4_udp(53, b"dns")),   // other port
            ethernet(0x0800, &ipv4_udp(51820, b"hi")), // short (pads the frame)
            ethernet(0x86dd, &ipv6_udp(51820, &[4, 0, 0, 0, 9, 9, 9, 9])),
            ethernet(0x0800, &ipv4_udp(51820, &[4, 0, 0, 0, 1, 2, 3, 4, 5])),
        ]
    }

    #[test]
    fn pcap_ethernet_both_byte_orders_and_resolutions() {
        for (be, magic) in [
            (false, 0xa1b2_c3d4),
            (true, 0xa1b2_c3d4),
            (false, 0xa1b2_3c4d),
            (true, 0xa1b2_3c4d),
        ] {
            let file = pcap(be, magic, LINKTYPE_ETHERNET, &ethernet_frames());
            let get = |idx, min| pcap_find_udp(&file, 51820, idx, min).unwrap();
            assert_eq!(get(0, 0).unwrap(), b"hi", "be={be} magic={magic:x}");
            assert_eq!(get(1, 0).unwrap(), [4, 0, 0, 0, 9, 9, 9, 9]);
            assert_eq!(get(2, 0).unwrap(), [4, 0, 0, 0, 1, 2, 3, 4, 5]);
            assert_eq!(get(3, 0), None);
            assert_eq!(get(0, 9).unwrap(), [4, 0, 0, 0, 1, 2, 3, 4, 5]);
            assert_eq!(get(1, 3).unwrap(), [4, 0, 0, 0, 1, 2, 3, 4, 5]);
            assert_eq!(pcap_find_udp(&file, 53, 0, 0).unwrap().unwrap(), b"dns");
            assert_eq!(pcap_find_udp(&file, 9999, 0, 0).unwrap(), None);
        }
    }

    #[test]
    fn pcap_linux_sll() {
        let frames = vec![
            sll(0x86dd, &ipv6_udp(51820, b"six")),
            sll(0x0800, &ipv4_udp(51820, b"four")),
        ];
        let file = pcap(false, 0xa1b2_c3d4, LINKTYPE_LINUX_SLL, &frames);
        assert_eq!(pcap_find_udp(&file, 51820, 0, 0).unwrap().unwrap(), b"six");
        assert_eq!(pcap_find_udp(&file, 51820, 1, 0).unwrap().unwrap(), b"four");
        // The same SLL frames read as Ethernet are garbage, never a panic.
        let wrong = pcap(false, 0xa1b2_c3d4, LINKTYPE_ETHERNET, &frames);
        let _ = pcap_find_udp(&wrong, 51820, 0, 0);
        let frames = vec![
            sll2(0x0800, &ipv4_udp(51820, b"v2-four")),
            sll2(0x86dd, &ipv6_udp(51820, b"v2-six")),
        ];
        let file = pcap(true, 0xa1b2_3c4d, LINKTYPE_LINUX_SLL2, &frames);
        assert_eq!(
            pcap_find_udp(&file, 51820, 0, 0).unwrap().unwrap(),
            b"v2-four"
        );
        assert_eq!(
            pcap_find_udp(&file, 51820, 1, 0).unwrap().unwrap(),
            b"v2-six"
        );
    }

    #[test]
    fn pcap_corrupt_files_are_errors() {
        let good = pcap(false, 0xa1b2_c3d4, LINKTYPE_ETHERNET, &ethernet_frames());
        assert!(pcap_find_udp(&[], 1, 0, 0).is_err());
        assert!(pcap_find_udp(&good[..10], 1, 0, 0).is_err());
        let mut bad_magic = good.clone();
        bad_magic[0] = 0;
        assert!(pcap_find_udp(&bad_magic, 51820, 0, 0).is_err());
        let mut bad_link = good.clone();
        bad_link[20] = 228;
        assert!(pcap_find_udp(&bad_link, 51820, 0, 0).is_err());
        // Every truncation point of the file: no panic; cuts inside a record are errors
        // (unless the wanted packet was already found before the cut).
        for cut in 24..good.len() {
            let _ = pcap_find_udp(&good[..cut], 51820, 5, 0);
        }
        assert!(pcap_find_udp(&good[..good.len() - 1], 51820, 5, 0).is_err());
        assert!(pcap_find_udp(&good[..24 + 8], 51820, 0, 0).is_err());
        // Announced length beyond the file.
        let mut long = good.clone();
        long[24 + 8..24 + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        assert!(pcap_find_udp(&long, 51820, 0, 0).is_err());
        // Corrupted header fields inside packets (lengths, IHL): skipped, not a panic.
        for i in 24..good.len() {
            for v in [0x00, 0x0f, 0xff] {
                let mut c = good.clone();
                c[i] = v;
                let _ = pcap_find_udp(&c, 51820, 0, 0);
            }
        }
        // A header-only file is valid and empty.
        assert_eq!(pcap_find_udp(&good[..24], 51820, 0, 0).unwrap(), None);
    }

    #[test]
    fn tcp_loopback_transfer() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let sink =
            std::thread::spawn(move || tcp_sink(&listener, Duration::from_secs(30)).unwrap());
        let n = 1_000_000;
        let sent = tcp_source(addr, n, 42).unwrap();
        let received = sink.join().unwrap();
        assert_eq!(sent, received);
        assert_eq!(sent.0, n);
        assert_eq!(sent.1, stream_hash(42, n as usize, CHUNK));
    }

    #[test]
    fn tcp_sink_times_out_without_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let err = tcp_sink(&listener, Duration::from_millis(200)).unwrap_err();
        assert!(err.to_string().contains("timeout"), "{err}");
    }

    #[test]
    fn udp_loopback_counting() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        let tx = udp_socket_for(addr, Some("127.0.0.1:0".parse().unwrap())).unwrap();
        for _ in 0..3 {
            send_datagram(&tx, addr, b"marker-A").unwrap();
        }
        send_datagram(&tx, addr, b"marker-B\nx").unwrap();
        send_datagram(&tx, addr, &hex_decode("ff00").unwrap()).unwrap();
        assert_eq!(udp_flood(&tx, addr, 20, 3, 100).unwrap(), 20);
        // Sent before listening: loopback queues them on the bound socket, so
        // the listening window cannot close before the sends on a slow host.
        let tally = udp_listen(&sock, Duration::from_millis(700)).unwrap();
        assert_eq!(tally.total, 25);
        assert_eq!(tally.by_payload[b"marker-A".as_slice()], 3);
        let out = format_tally(&tally);
        assert!(out.starts_with("udp received=25\n"), "{out}");
        assert!(out.contains("\npayload 3 marker-A\n"), "{out}");
        assert!(out.contains("\npayload 1 marker-B.x"), "{out}");
        assert!(
            out.contains("\npayload 1 \u{fffd}.\n") || out.ends_with("\npayload 1 \u{fffd}."),
            "{out}"
        );
        // Every line is one line per payload, and text is capped at 64 characters.
        assert_eq!(out.lines().count(), 1 + tally.by_payload.len());
        assert!(out
            .lines()
            .all(|l| l.chars().count() <= "payload 99 ".len() + PAYLOAD_TEXT_MAX));
    }

    #[test]
    fn flood_headers_look_like_wireguard() {
        let mut rng = Rng::new(5);
        let mut buf = vec![0u8; 1500];
        let (mut wg, mut max) = (0, 0);
        for _ in 0..4000 {
            let p = flood_datagram(&mut rng, &mut buf);
            max = max.max(p.len());
            if p.len() >= 4 && (1..=4).contains(&p[0]) && p[1..4] == [0, 0, 0] {
                wg += 1;
            }
        }
        // About a quarter dressed up (plus the rare random match), lengths spread to the max.
        assert!((850..1250).contains(&wg), "{wg} of 4000");
        assert!(max > 1400, "{max}");
        // Same seed, same datagrams.
        let (mut a, mut b) = (Rng::new(9), Rng::new(9));
        let (mut ba, mut bb) = (vec![0u8; 1500], vec![0u8; 1500]);
        for _ in 0..100 {
            assert_eq!(
                flood_datagram(&mut a, &mut ba),
                flood_datagram(&mut b, &mut bb)
            );
        }
    }

    #[test]
    fn command_line_errors() {
        let run_s = |v: &[&str]| run(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(matches!(run_s(&[]), Err(Error::Usage(_))));
        assert!(matches!(run_s(&["nope"]), Err(Error::Usage(_))));
        assert!(matches!(
            run_s(&["tcp-source", "127.0.0.1:1"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            run_s(&["tcp-source", "x", "1"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            run_s(&["udp-send", "127.0.0.1:9", "p", "--cuont", "2"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            run_s(&["udp-send", "127.0.0.1:9", "p", "--count"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            run_s(&["pcap-extract", "f.pcap"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            run_s(&["udp-send-hex", "127.0.0.1:9", "0g"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            run_s(&["pcap-extract", "/nonexistent/f.pcap", "--udp-dst-port", "1"]),
            Err(Error::Failed(_))
        ));
    }
}
