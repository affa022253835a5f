//! End-to-end checks of the marks the gateway sets on the outer headers,
//! watched with tcpdump: handshake initiations and responses leave with
//! DSCP AF41 (TOS 0x88) as Linux sends them; a LAN packet's ECN bits, and
//! only they, are copied to the outer header of its transport message; and
//! a CE mark on the outer header (set here by nftables on the peer's host,
//! standing in for a congested router) reaches the LAN packet, while a
//! packet that is not ECN-capable is dropped and counted (RFC 6040).

use crate::capture::Capture;
use crate::e2e::{setup, Check, Options, Setup};
use crate::topology::{addr, in_ns};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

/// One IPv4 packet as `tcpdump -v` printed it.
#[derive(Debug)]
struct Seen {
    tos: u8,
    /// IP total length.
    len: usize,
    /// `addr.port` or `addr`.
    src: String,
    /// The rest of the second line (`ICMP echo request, …`, `UDP, length …`).
    what: String,
}

/// Stops the capture and reads it back as `tcpdump -n -v` prints it.
fn finish(capture: Capture) -> Result<Vec<Seen>, String> {
    Ok(parse(&capture.stop_and_print(&["-v"])?))
}

/// Reads `tcpdump -n -v` output: `IP (tos 0x88, ttl 64, …, length 176)`
/// then `    192.0.2.1.51820 > 192.0.2.2.51820: UDP, length 148`.
fn parse(text: &str) -> Vec<Seen> {
    let mut seen = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.split(" IP (tos 0x").nth(1) else {
            continue;
        };
        let hex: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        let len = line
            .rsplit("length ")
            .next()
            .and_then(|l| l.trim_end_matches(')').parse().ok());
        let (Ok(tos), Some(len), Some(next)) = (u8::from_str_radix(&hex, 16), len, lines.next())
        else {
            continue;
        };
        let next = next.trim();
        let src = next.split(" > ").next().unwrap_or("").to_string();
        let what = next.split_once(": ").map_or("", |(_, w)| w).to_string();
        seen.push(Seen {
            tos,
            len,
            src,
            what,
        });
    }
    seen
}

fn ping(ns: &str, extra: &[&str], target: &str) -> Result<String, String> {
    let mut args = vec!["ping", "-c", "2", "-i", "0.3", "-W", "3"];
    args.extend_from_slice(extra);
    args.push(target);
    let out = in_ns(ns, &args)?;
    Ok(out
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or("")
        .trim()
        .to_string())
}

/// The TOS bytes of the datagrams the gateway sent from its listen port
/// with IP total length `len`.
fn gateway_tos(seen: &[Seen], len: usize) -> Vec<u8> {
    let from = format!("{}.51820", addr::GATEWAY_OUTER);
    seen.iter()
        .filter(|s| s.src == from && s.len == len)
        .map(|s| s.tos)
        .collect()
}

/// Outer IPv4 length of the transport message carrying an inner packet of
/// `inner` bytes (padded to 16, plus the 32 bytes of header and tag, UDP, IP).
fn outer_len(inner: usize) -> usize {
    20 + 8 + 32 + inner.div_ceil(16) * 16
}

/// IP total lengths of the handshake messages from the gateway.
const INITIATION: usize = 20 + 8 + 148;
const RESPONSE: usize = 20 + 8 + 92;

/// The checks of one gateway that starts the handshake itself, and one
/// that answers the peer's.
pub fn checks(image: &Path) -> Vec<Check> {
    let mut checks = Vec::new();
    match setup(
        image,
        &Options {
            tag: "e2m",
            gateway_knows_endpoint: true,
            extra_peer_lines: "",
            mtu: None,
        },
    ) {
        Ok(setup) => {
            checks.extend(outgoing(&setup));
            checks.push((
                "outer-ce-marks-lan-packets-and-drops-not-ect".into(),
                incoming(&setup),
            ));
        }
        Err(why) => checks.push(("marks-gateway-boots".into(), Err(why))),
    }
    checks.push(response_check(image));
    checks
}

/// Pings from the LAN host with each ECN codepoint under other DSCPs, each
/// ping its own size so its transport messages can be told apart on the WAN.
const LAN_PINGS: [(&str, &str, usize, u8); 5] = [
    ("-4", "0xba", 100, 0b10), // EF + ECT(0)
    ("-4", "0x29", 200, 0b01), // AF11 + ECT(1)
    ("-4", "0x03", 300, 0b11), // CE
    ("-4", "0xb8", 400, 0b00), // EF, Not-ECT
    ("-6", "0x02", 500, 0b10), // IPv6 inside, ECT(0)
];

fn outgoing(setup: &Setup) -> Vec<Check> {
    let lan = &setup.network.lan.name;
    let wan = &setup.network.wan.name;
    let capture = match Capture::start(wan, setup.network.file("marks-out.pcap"), "udp port 51820")
    {
        Ok(c) => c,
        Err(why) => return vec![("marks-capture".into(), Err(why))],
    };
    let mut pinged = Vec::new();
    let first = ping(lan, &[], addr::PEER_TUNNEL);
    for (family, tos, size, _) in LAN_PINGS {
        let target = if family == "-6" {
            addr::PEER_TUNNEL6
        } else {
            addr::PEER_TUNNEL
        };
        let size = size.to_string();
        pinged.push(ping(lan, &[family, "-Q", tos, "-s", &size], target));
    }
    let seen = finish(capture);
    let mut checks: Vec<Check> = Vec::new();
    checks.push((
        "handshake-initiation-marked-af41".into(),
        (|| {
            first.clone()?;
            let seen = seen.as_ref().map_err(Clone::clone)?;
            let tos = gateway_tos(seen, INITIATION);
            if tos.is_empty() || tos.iter().any(|&t| t != 0x88) {
                return Err(format!(
                    "initiations from the gateway had TOS {tos:02x?}, want 0x88: {seen:?}"
                ));
            }
            Ok(format!(
                "{} initiation(s) from {}:51820 with tos 0x88 (tcpdump on the WAN)",
                tos.len(),
                addr::GATEWAY_OUTER
            ))
        })(),
    ));
    checks.push((
        "inner-ecn-copied-to-outer-header".into(),
        (|| {
            let seen = seen.as_ref().map_err(Clone::clone)?;
            let mut report = Vec::new();
            for ((family, tos, size, ecn), result) in LAN_PINGS.iter().zip(&pinged) {
                let result = result.clone()?;
                let header = if *family == "-6" { 48 } else { 28 };
                let outer = gateway_tos(seen, outer_len(header + size));
                // Both echo requests, each in its own transport message.
                if outer.len() < 2 || outer.iter().any(|t| t != ecn) {
                    let from_gateway: Vec<_> = seen
                        .iter()
                        .filter(|s| s.src.starts_with(addr::GATEWAY_OUTER))
                        .map(|s| (s.tos, s.len))
                        .collect();
                    return Err(format!(
                        "ping {family} -Q {tos} -s {size} ({result}): outer TOS {outer:02x?}, \
                         want {ecn:#04x} (its ECN bits, DSCP 0), twice; the gateway sent \
                         (tos, length) {from_gateway:02x?}"
                    ));
                }
                report.push(format!("{family} -Q {tos} -> outer tos {ecn:#x}"));
            }
            Ok(format!("{} (tcpdump on the WAN)", report.join(", ")))
        })(),
    ));
    checks
}

/// The peer's host marks every datagram to the gateway CE (nftables), as a
/// congested router on the way would.
fn incoming(setup: &Setup) -> Result<String, String> {
    let lan = &setup.network.lan.name;
    let wan = &setup.network.wan.name;
    for rule in [
        &["nft", "add", "table", "ip", "wgate_ce"][..],
        &[
            "nft",
            "add",
            "chain",
            "ip",
            "wgate_ce",
            "post",
            "{ type filter hook postrouting priority 0; }",
        ],
        &[
            "nft", "add", "rule", "ip", "wgate_ce", "post", "udp", "dport", "51820", "ip", "ecn",
            "set", "ce",
        ],
    ] {
        in_ns(wan, rule)?;
    }
    let capture = Capture::start(lan, setup.network.file("marks-in.pcap"), "icmp")?;
    // ECT(0): delivered with CE. Not-ECT: dropped at the gateway.
    let capable = ping(wan, &["-Q", "0x02", "-s", "111"], addr::LAN_HOST);
    let not_capable = in_ns(
        wan,
        &[
            "ping",
            "-c",
            "2",
            "-i",
            "0.3",
            "-W",
            "2",
            "-s",
            "122",
            addr::LAN_HOST,
        ],
    );
    let seen = finish(capture)?;
    let _ = in_ns(wan, &["nft", "delete", "table", "ip", "wgate_ce"]);
    let capable = capable?;
    if not_capable.is_ok() {
        return Err("a Not-ECT ping under an outer CE mark was answered".into());
    }
    let requests = |len: usize| -> Vec<u8> {
        seen.iter()
            .filter(|s| s.len == len && s.what.contains("echo request"))
            .map(|s| s.tos)
            .collect()
    };
    let marked = requests(20 + 8 + 111);
    if marked.len() < 2 || marked.iter().any(|&t| t != 0x03) {
        return Err(format!(
            "ECT(0) echo requests reached the LAN with TOS {marked:02x?}, want 0x03 (CE): {seen:?}"
        ));
    }
    let dropped = requests(20 + 8 + 122);
    if !dropped.is_empty() {
        return Err(format!(
            "Not-ECT echo requests reached the LAN: {dropped:02x?}"
        ));
    }
    // The console's drop report (every 10 s while counts change) names the reason.
    let deadline = Instant::now() + Duration::from_secs(25);
    let counted = loop {
        let text = setup.gateway.console.text();
        let count = text
            .lines()
            .filter_map(|l| l.split("tunnel_ce_not_ect=").nth(1))
            .filter_map(|v| v.split(|c: char| !c.is_ascii_digit()).next())
            .filter_map(|v| v.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        if count >= 2 {
            break count;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no tunnel_ce_not_ect drops on the console:\n{text}"
            ));
        }
        thread::sleep(Duration::from_millis(500));
    };
    Ok(format!(
        "outer CE (nftables on the peer's host): ECT(0) ping {capable}, requests reached the LAN \
         with tos 0x3 (tcpdump on the LAN); Not-ECT pings unanswered, none on the LAN, \
         console counts tunnel_ce_not_ect={counted}"
    ))
}

/// A gateway that does not know the peer's endpoint: the peer initiates,
/// and the gateway's response leaves marked.
fn response_check(image: &Path) -> Check {
    let result = (|| {
        let setup = setup(
            image,
            &Options {
                tag: "e2r",
                gateway_knows_endpoint: false,
                extra_peer_lines: "",
                mtu: None,
            },
        )?;
        let wan = &setup.network.wan.name;
        let capture = Capture::start(
            wan,
            setup.network.file("marks-response.pcap"),
            "udp port 51820",
        )?;
        let out = ping(wan, &[], addr::LAN_HOST)?;
        let seen = finish(capture)?;
        let tos = gateway_tos(&seen, RESPONSE);
        if tos.is_empty() || tos.iter().any(|&t| t != 0x88) {
            return Err(format!(
                "responses from the gateway had TOS {tos:02x?}, want 0x88: {seen:?}"
            ));
        }
        Ok(format!(
            "peer->LAN ping {out}; the gateway's response left with tos 0x88 (tcpdump on the WAN)"
        ))
    })();
    ("handshake-response-marked-af41".into(), result)
}
