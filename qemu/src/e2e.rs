//! End-to-end tests of the gateway: the image in QEMU (TCG) between a LAN
//! host and a wireguard-go peer, each in a network namespace made by the
//! test (see [`crate::topology`]). Traffic comes from the real tools
//! (`ping`, `wg`, `tcpdump`) and from `wgate-nettool`.

use crate::capture::Capture;
use crate::machine::MachineKind;
use crate::topology::{addr, gateway_config, in_ns, path, Gateway, KeyPair, Network, WireguardGo};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Bytes moved in each direction by the TCP transfer tests.
pub const TRANSFER_BYTES: u64 = 50 * 1000 * 1000;

/// One named check's outcome.
pub type Check = (String, Result<String, String>);

/// A booted gateway with its network and peer.
pub struct Setup {
    /// The namespaces.
    pub network: Network,
    /// wireguard-go.
    pub peer: WireguardGo,
    /// The gateway in QEMU.
    pub gateway: Gateway,
    /// The gateway's keys.
    pub gateway_keys: KeyPair,
}

/// Options for [`setup`].
pub struct Options<'a> {
    /// Namespace tag.
    pub tag: &'a str,
    /// Whether the gateway knows the peer's endpoint (else only the peer
    /// can start the handshake).
    pub gateway_knows_endpoint: bool,
    /// Extra lines in the gateway's `[Peer]` section.
    pub extra_peer_lines: &'a str,
    /// `[Interface] MTU`, if not the default.
    pub mtu: Option<u16>,
}

/// The `wgate-nettool` binary next to ours.
pub fn nettool() -> PathBuf {
    std::env::current_exe()
        .map(|exe| exe.with_file_name("wgate-nettool"))
        .unwrap_or_else(|_| PathBuf::from("wgate-nettool"))
}

/// Boots a gateway between a LAN host and a wireguard-go peer.
pub fn setup(image: &Path, options: &Options) -> Result<Setup, String> {
    setup_on(image, options, "max")
}

/// As [`setup`], on the TCG CPU model `cpu`.
pub fn setup_on(image: &Path, options: &Options, cpu: &str) -> Result<Setup, String> {
    setup_kind(image, options, cpu, MachineKind::Pc)
}

/// As [`setup_on`], on the QEMU machine type `kind`.
pub fn setup_kind(
    image: &Path,
    options: &Options,
    cpu: &str,
    kind: MachineKind,
) -> Result<Setup, String> {
    let network = Network::new(options.tag)?;
    let gateway_keys = KeyPair::generate()?;
    let peer_keys = KeyPair::generate()?;
    let mut config = gateway_config(&gateway_keys, &peer_keys, options.extra_peer_lines);
    if !options.gateway_knows_endpoint {
        config = config.replace(&format!("Endpoint = {}:51820\n", addr::WAN_HOST), "");
    }
    if let Some(mtu) = options.mtu {
        config = config.replace(
            "ListenPort = 51820\n",
            &format!("ListenPort = 51820\nMTU = {mtu}\n"),
        );
    }
    let config_file = network.file("gateway.conf");
    std::fs::write(&config_file, config).map_err(|e| e.to_string())?;
    let peer = WireguardGo::start(&network, &peer_keys, &gateway_keys.public, 51820)?;
    let gateway = Gateway::boot_kind(
        &network,
        image,
        &config_file,
        (64, false),
        ("tcg", cpu),
        kind,
    )?;
    gateway
        .console
        .wait_for("gateway ready", Duration::from_secs(60))
        .map_err(|e| format!("{e}\n{}", gateway.console.text()))?;
    Ok(Setup {
        network,
        peer,
        gateway,
        gateway_keys,
    })
}

fn ping(ns: &str, target: &str, extra: &[&str]) -> Result<String, String> {
    let mut args = vec!["ping", "-c", "3", "-i", "0.3", "-W", "3"];
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

/// Pings from the LAN host to `to_peer` through the tunnel and from the
/// WAN peer back to `to_lan`.
fn pings_both_ways(lan: &str, wan: &str, to_peer: &str, to_lan: &str) -> Result<String, String> {
    let out = ping(lan, to_peer, &[])?;
    let back = ping(wan, to_lan, &[])?;
    Ok(format!("LAN->peer: {out}; peer->LAN: {back}"))
}

/// The LAN host's first ping through a gateway that has no session yet:
/// it must get through, the gateway must log the completed handshake and
/// wireguard-go must show one. Returns the ping summary and wireguard-go's
/// `latest-handshakes` line.
fn first_ping_makes_handshake(setup: &Setup, lan: &str) -> Result<(String, String), String> {
    let result = ping(lan, addr::PEER_TUNNEL, &[]).map_err(|e| {
        format!(
            "{e}\n--- gateway console ---\n{}",
            setup.gateway.console.text()
        )
    })?;
    setup
        .gateway
        .console
        .wait_for("handshake completed", Duration::from_secs(5))?;
    let handshakes = setup.peer.show("latest-handshakes")?;
    let stamp: u64 = handshakes
        .split_whitespace()
        .nth(1)
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    if stamp == 0 {
        return Err(format!("wireguard-go shows no handshake: {handshakes}"));
    }
    Ok((result, handshakes))
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

/// Runs `wgate-nettool` in a namespace in the background.
fn spawn_tool(ns: &str, args: &[&str]) -> Result<crate::topology::Process, String> {
    let tool = nettool();
    let child = Command::new("ip")
        .args(["netns", "exec", ns, path(&tool)])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", tool.display()))?;
    Ok(crate::topology::Process { child })
}

/// How long `wgate-nettool` may take to bind its socket on a loaded host.
const TOOL_START_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs a listening `wgate-nettool` command (`udp-listen`, `tcp-sink`) in
/// the background and returns once its socket is bound: it prints
/// `listening` then, so nothing sent after this call is lost to a late start.
fn spawn_listener(ns: &str, args: &[&str]) -> Result<crate::topology::Process, String> {
    let mut process = spawn_tool(ns, args)?;
    process
        .wait_for_stdout_line("listening", TOOL_START_TIMEOUT)
        .map_err(|e| format!("`{}` in {ns}: {e}", args.join(" ")))?;
    Ok(process)
}

/// Waits for a background tool and returns its stdout.
fn finish_tool(mut process: crate::topology::Process) -> Result<String, String> {
    let output = process.wait_output().map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "nettool failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn tool(ns: &str, args: &[&str]) -> Result<String, String> {
    let tool = nettool();
    let mut full = vec![path(&tool)];
    full.extend_from_slice(args);
    in_ns(ns, &full)
}

/// A TCP transfer from `src_ns` to a sink at `sink_addr` in `sink_ns`,
/// compared by SHA-256. `during` runs while the data flows.
fn transfer(
    src_ns: &str,
    sink_ns: &str,
    sink_addr: &str,
    during: impl FnOnce() -> Result<(), String>,
) -> Result<String, String> {
    transfer_bytes(src_ns, sink_ns, sink_addr, TRANSFER_BYTES, during)
}

/// As [`transfer`], moving `total` bytes.
fn transfer_bytes(
    src_ns: &str,
    sink_ns: &str,
    sink_addr: &str,
    total: u64,
    during: impl FnOnce() -> Result<(), String>,
) -> Result<String, String> {
    let bind = format!("{sink_addr}:5001");
    let sink = spawn_listener(sink_ns, &["tcp-sink", &bind, "--timeout", "240"])?;
    let bytes = total.to_string();
    let source = spawn_tool(src_ns, &["tcp-source", &bind, &bytes, "--seed", "7"])?;
    let started = std::time::Instant::now();
    during()?;
    let sent = finish_tool(source)?;
    let received = finish_tool(sink)?;
    let seconds = started.elapsed().as_secs_f64();
    let (sent_line, received_line) = (
        sent.lines().find(|l| l.starts_with("sent")).unwrap_or(""),
        received
            .lines()
            .find(|l| l.starts_with("received"))
            .unwrap_or(""),
    );
    match (
        field(sent_line, "sha256"),
        field(received_line, "sha256"),
        field(received_line, "bytes"),
    ) {
        (Some(sent_hash), Some(received_hash), Some(count))
            if sent_hash == received_hash && count == bytes =>
        {
            Ok(format!(
                "{} MB arrived intact (sha256 {}...), {:.1} Mbit/s",
                total / 1_000_000,
                sent_hash.get(..16).unwrap_or(sent_hash),
                total as f64 * 8.0 / seconds / 1e6
            ))
        }
        _ => Err(format!("sent `{sent_line}`, received `{received_line}`")),
    }
}

/// A second peer whose public key (all zeros) has small order: the gateway
/// must keep running for the first one and never send anything to this one.
const LOW_ORDER_PEER: &str = "\n[Peer]\nPublicKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\
    AllowedIPs = 10.9.0.0/24\nEndpoint = 192.0.2.77:51820\nPersistentKeepalive = 1\n";

/// The checks that share one booted gateway whose configuration knows the
/// peer's endpoint: the gateway starts the handshake.
pub fn tunnel_checks(image: &Path) -> Vec<Check> {
    let setup = match setup(
        image,
        &Options {
            tag: "e2e",
            gateway_knows_endpoint: true,
            extra_peer_lines: LOW_ORDER_PEER,
            mtu: None,
        },
    ) {
        Ok(setup) => setup,
        Err(why) => return vec![("gateway-boots-with-two-nics".into(), Err(why))],
    };
    let lan = setup.network.lan.name.clone();
    let wan = setup.network.wan.name.clone();
    let mut checks: Vec<Check> = Vec::new();

    checks.push((
        "handshake-when-gateway-initiates".into(),
        (|| {
            let (result, _) = first_ping_makes_handshake(&setup, &lan)?;
            Ok(format!("LAN host's first ping started it; {result}"))
        })(),
    ));
    checks.push((
        "ping-ipv4-both-ways".into(),
        pings_both_ways(&lan, &wan, addr::PEER_TUNNEL, addr::LAN_HOST),
    ));
    checks.push((
        "ping-ipv6-both-ways".into(),
        pings_both_ways(&lan, &wan, addr::PEER_TUNNEL6, addr::LAN_HOST6),
    ));
    checks.push(("icmp-errors-for-no-route-and-too-big".into(), (|| {
        // Linux's ping prints the ICMP errors it receives.
        let unroutable = in_ns(&lan, &["ping", "-c", "1", "-W", "2", "10.123.0.1"]).err().unwrap_or_default();
        if !unroutable.contains("From 192.168.77.1") || !unroutable.contains("Unreachable") {
            return Err(format!("no destination unreachable from the gateway: {unroutable}"));
        }
        let too_big = in_ns(&lan, &["ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1450", addr::PEER_TUNNEL]).err().unwrap_or_default();
        if !too_big.contains("mtu = 1420") {
            return Err(format!("no fragmentation-needed with the tunnel MTU: {too_big}"));
        }
        let too_big6 = in_ns(&lan, &["ping", "-6", "-c", "1", "-W", "2", "-s", "1450", addr::PEER_TUNNEL6]).err().unwrap_or_default();
        if !too_big6.contains("mtu=1420") && !too_big6.contains("mtu = 1420") {
            return Err(format!("no packet-too-big with the tunnel MTU: {too_big6}"));
        }
        Ok("no route: destination unreachable from 192.168.77.1; 1478-byte IPv4 with DF: fragmentation needed (mtu 1420); 1498-byte IPv6: packet too big (mtu 1420)".into())
    })()));
    checks.push(("low-order-peer-gets-nothing".into(), (|| {
        let warning = setup.gateway.console.wait_for("small order", Duration::from_secs(1))?;
        // Traffic for its AllowedIPs, while the WAN is watched for anything
        // addressed to it (ARP included).
        let capture = Capture::start(&wan, setup.network.file("low-order.pcap"), "host 192.0.2.77")?;
        let _ = in_ns(&lan, &["ping", "-c", "3", "-i", "0.3", "-W", "1", "10.9.0.5"]);
        let captured = capture.stop_and_print(&[])?;
        if !captured.trim().is_empty() {
            return Err(format!("packets went to the low-order peer: {captured}"));
        }
        Ok(format!("gateway warned `{}` and sent nothing to 192.0.2.77 while the LAN pinged 10.9.0.5 (tcpdump on the WAN)", warning.trim()))
    })()));
    checks.push((
        "tcp-50mb-lan-to-peer".into(),
        transfer(&lan, &wan, addr::PEER_TUNNEL, || Ok(())),
    ));
    checks.push((
        "tcp-50mb-peer-to-lan-while-peer-roams".into(),
        (|| {
            // Early enough that the transfer (50 MB: about 1.5 s at today's
            // 250-300 Mbit/s under TCG) is still running: the new port must be
            // learned from the data packets themselves.
            let detail = transfer(&wan, &lan, addr::LAN_HOST, || {
                thread::sleep(Duration::from_millis(300));
                setup
                    .network
                    .wan
                    .exec(&["wg", "set", &setup.peer.iface, "listen-port", "51999"])
                    .map(|_| ())
            })?;
            let roamed = setup
                .gateway
                .console
                .wait_for("endpoint 192.0.2.2:51999", Duration::from_secs(5))?;
            Ok(format!(
                "{detail}; peer moved to port 51999 mid-transfer, gateway logged `{}`",
                roamed.trim()
            ))
        })(),
    ));
    checks.push(("spoofed-inner-source-never-reaches-lan".into(), (|| {
        setup.network.wan.ip(&["addr", "add", "10.250.0.1/32", "dev", &setup.peer.iface])?;
        let listener = spawn_listener(&lan, &["udp-listen", "192.168.77.2:6000", "4"])?;
        tool(&wan, &["udp-send", "192.168.77.2:6000", "spoofed", "--bind", "10.250.0.1:0", "--count", "3"])?;
        tool(&wan, &["udp-send", "192.168.77.2:6000", "genuine", "--bind", "10.99.0.2:0"])?;
        let heard = finish_tool(listener)?;
        if heard.contains("spoofed") {
            return Err(format!("a packet with a source outside the peer's AllowedIPs reached the LAN: {heard}"));
        }
        if !heard.contains("genuine") {
            return Err(format!("the control packet did not arrive either: {heard}"));
        }
        Ok("3 packets from 10.250.0.1 (outside AllowedIPs) dropped, the control packet delivered".into())
    })()));
    checks.push(("replayed-data-packet-dropped".into(), replay_check(&setup)));
    checks.push((
        "answers-ping-after-10000-random-datagrams".into(),
        (|| {
            let endpoint = format!("{}:51820", addr::GATEWAY_OUTER);
            let sent = tool(&wan, &["udp-flood", &endpoint, "10000", "--seed", "3"])?;
            let outer = ping(&wan, addr::GATEWAY_OUTER, &[])?;
            let tunnel = ping(&lan, addr::PEER_TUNNEL, &[])?;
            let console = setup.gateway.console.text();
            if let Some(line) = console
                .lines()
                .find(|l| l.contains("EXCEPTION") || l.contains("panicked"))
            {
                return Err(line.to_string());
            }
            Ok(format!(
                "{}; outer ping: {outer}; tunnel ping: {tunnel}",
                sent.trim()
            ))
        })(),
    ));
    checks
}

/// Captures one encrypted data packet on the WAN, replays it, and checks
/// its payload reached the LAN exactly once.
fn replay_check(setup: &Setup) -> Result<String, String> {
    let lan = &setup.network.lan.name;
    let wan = &setup.network.wan.name;
    let capture = Capture::start(
        wan,
        setup.network.file("capture.pcap"),
        "udp and dst port 51820 and greater 100",
    )?;
    // Long enough for the send, the capture and the replay on a slow host;
    // a marker sent after the replay proves the listener was still open.
    let listener = spawn_listener(lan, &["udp-listen", "192.168.77.2:6001", "15"])?;
    tool(
        wan,
        &[
            "udp-send",
            "192.168.77.2:6001",
            "replay-me-once",
            "--bind",
            "10.99.0.2:0",
        ],
    )?;
    let extract = |file: &Path| {
        tool(
            wan,
            &[
                "pcap-extract",
                path(file),
                "--udp-dst-port",
                "51820",
                "--min-len",
                "64",
            ],
        )
    };
    // Until the data packet is in the file (or the deadline), then stop.
    let deadline = Instant::now() + Duration::from_secs(10);
    while extract(capture.file()).is_err() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(200));
    }
    let hex = extract(&capture.stop())?;
    let hex = hex.trim();
    if !hex.starts_with("04000000") {
        return Err(format!(
            "captured datagram is not a WireGuard data packet: {hex}"
        ));
    }
    let endpoint = format!("{}:51820", addr::GATEWAY_OUTER);
    tool(
        wan,
        &["udp-send-hex", &endpoint, hex, "--bind", "192.0.2.2:40000"],
    )?;
    tool(
        wan,
        &[
            "udp-send",
            "192.168.77.2:6001",
            "after-the-replay",
            "--bind",
            "10.99.0.2:0",
        ],
    )?;
    let heard = finish_tool(listener)?;
    if !heard.contains("after-the-replay") {
        return Err(format!(
            "the listener closed before the replay could be judged: {heard}"
        ));
    }
    let count = heard
        .lines()
        .find(|l| l.contains("replay-me-once"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    match count {
        1 => Ok(format!(
            "captured a {}-byte data packet, replayed it: delivered once, replay dropped",
            hex.len() / 2
        )),
        n => Err(format!("the packet was delivered {n} times: {heard}")),
    }
}

/// A fresh gateway without the peer's endpoint: only the peer can start
/// the handshake.
pub fn peer_initiates(image: &Path) -> Check {
    let name = "handshake-when-peer-initiates".to_string();
    let result = (|| {
        let setup = setup(
            image,
            &Options {
                tag: "e2p",
                gateway_knows_endpoint: false,
                extra_peer_lines: "",
                mtu: None,
            },
        )?;
        let out = ping(&setup.network.wan.name, addr::LAN_HOST, &[])?;
        setup
            .gateway
            .console
            .wait_for("handshake completed", Duration::from_secs(5))?;
        let endpoint = setup
            .gateway
            .console
            .wait_for("endpoint 192.0.2.2:51820", Duration::from_secs(5))?;
        Ok(format!(
            "peer->LAN ping: {out}; gateway learned `{}`",
            endpoint.trim()
        ))
    })();
    (name, result)
}

/// netns.sh "route MTU vs padding", for this topology: with the tunnel MTU
/// at 1299 and the WAN link dropping anything over 1359 bytes, a padded
/// packet must never exceed the MTU: 1269- and 1299-byte pings pass.
pub fn padding_capped_by_mtu(image: &Path) -> Check {
    let name = "padding-capped-by-tunnel-mtu".to_string();
    let result = (|| {
        let setup = setup(
            image,
            &Options {
                tag: "e2m",
                gateway_knows_endpoint: true,
                extra_peer_lines: "",
                mtu: Some(1299),
            },
        )?;
        let network = &setup.network;
        network.gw.ip(&["link", "set", "vo", "mtu", "1359"])?;
        network.wan.ip(&["link", "set", "eth0", "mtu", "1359"])?;
        network
            .wan
            .ip(&["link", "set", &setup.peer.iface, "mtu", "1299"])?;
        let lan = &network.lan.name;
        let small = ping(lan, addr::PEER_TUNNEL, &["-M", "do", "-s", "1241"])?;
        let full = ping(lan, addr::PEER_TUNNEL, &["-M", "do", "-s", "1271"])?;
        Ok(format!("1269 bytes: {small}; 1299 bytes: {full}"))
    })();
    (name, result)
}

/// netns.sh "endpoint inside the tunnel": the peer's endpoint is an
/// address that is only reachable through the tunnel itself. The gateway
/// must neither crash nor loop.
pub fn endpoint_inside_tunnel(image: &Path) -> Check {
    let name = "endpoint-inside-tunnel-neither-crashes-nor-loops".to_string();
    let result = (|| {
        let network = Network::new("e2l")?;
        let gateway_keys = KeyPair::generate()?;
        let peer_keys = KeyPair::generate()?;
        let config = gateway_config(&gateway_keys, &peer_keys, "").replace(
            &format!("Endpoint = {}:51820", addr::WAN_HOST),
            &format!("Endpoint = {}:51820", addr::PEER_TUNNEL),
        );
        let file = network.file("gateway.conf");
        std::fs::write(&file, config).map_err(|e| e.to_string())?;
        let gateway = Gateway::boot(&network, image, &file, 64, false)?;
        gateway
            .console
            .wait_for("gateway ready", Duration::from_secs(60))?;
        let before = link_tx_packets(&network, "vo")?;
        let _ = in_ns(
            &network.lan.name,
            &["ping", "-c", "5", "-i", "0.2", "-W", "1", addr::PEER_TUNNEL],
        );
        thread::sleep(Duration::from_secs(1));
        let after = link_tx_packets(&network, "vo")?;
        ping(&network.lan.name, addr::GATEWAY_INNER, &[])?;
        ping(&network.wan.name, addr::GATEWAY_OUTER, &[])?;
        if gateway.console.text().contains("EXCEPTION") {
            return Err(gateway.console.text());
        }
        // `vo` carries what the gateway sends out of its outer NIC (the
        // bridge forwards it to the WAN): a loop would flood it.
        let sent = after.saturating_sub(before);
        if sent > 50 {
            return Err(format!("{sent} frames left the outer NIC in 2 s: a loop"));
        }
        Ok(format!(
            "still answers on both NICs; {sent} frames on the outer link, no loop"
        ))
    })();
    (name, result)
}

/// Packets sent by `dev` in the gateway namespace (where it lives; the
/// host's /sys shows only the host's own devices).
fn link_tx_packets(network: &Network, dev: &str) -> Result<u64, String> {
    let out = network.gw.ip(&["-s", "link", "show", dev])?;
    let mut lines = out
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("TX:"));
    lines.next();
    lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("cannot read tx packets of {dev}: {out}"))
}

/// netns.sh "persistent keepalive holds a NAT mapping", for this
/// topology: the gateway sits behind a NAT whose UDP mappings expire after
/// 2 s, and the peer does not know where the gateway is. The gateway's
/// `PersistentKeepalive = 1` must keep the mapping open, so the peer can
/// still reach the LAN after several idle timeouts.
///
/// A control run without the keepalive shows the NAT really drops the
/// mapping, so the check can fail.
pub fn nat_keepalive(image: &Path) -> Check {
    let name = "persistent-keepalive-holds-nat-mapping".to_string();
    let result = (|| {
        if behind_nat(image, false).is_ok() {
            return Err("control run without PersistentKeepalive also reached the LAN: the NAT kept its mapping".into());
        }
        behind_nat(image, true).map(|out| {
            format!("after 6 s idle (3 NAT timeouts) the peer still reaches the LAN: {out}; without the keepalive it cannot")
        })
    })();
    (name, result)
}

/// The gateway behind a 2-second NAT; returns the peer's ping result after
/// 6 idle seconds.
fn behind_nat(image: &Path, keepalive: bool) -> Result<String, String> {
    let network = Network::new("e2n")?;
    let peer_ns = crate::topology::Netns::new(network.gw.name.replace("wgt-gw-", "wgt-peer-"))?;
    // The WAN namespace becomes the NAT: inside 192.0.2.2 (the gateway's
    // default router), outside 198.51.100.1 towards the peer.
    let nat = &network.wan;
    nat.ip(&[
        "link",
        "add",
        "natout",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        &peer_ns.name,
    ])?;
    nat.ip(&["addr", "add", "198.51.100.1/24", "dev", "natout"])?;
    nat.ip(&["link", "set", "natout", "up"])?;
    peer_ns.ip(&["addr", "add", "198.51.100.2/24", "dev", "eth0"])?;
    peer_ns.ip(&["link", "set", "eth0", "up"])?;
    nat.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
    nat.exec(&["sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout=2"])?;
    nat.exec(&[
        "sysctl",
        "-qw",
        "net.netfilter.nf_conntrack_udp_timeout_stream=2",
    ])?;
    nat.exec(&["nft", "add table ip nat; add chain ip nat post { type nat hook postrouting priority 100; }; add rule ip nat post oifname natout masquerade"])?;
    let gateway_keys = KeyPair::generate()?;
    let peer_keys = KeyPair::generate()?;
    let extra = if keepalive {
        "PersistentKeepalive = 1\n"
    } else {
        ""
    };
    let config = gateway_config(&gateway_keys, &peer_keys, extra)
        .replace(
            &format!("Endpoint = {}:51820", addr::WAN_HOST),
            "Endpoint = 198.51.100.2:51820",
        )
        .replace(
            "Address = 192.0.2.1/24\n",
            "Address = 192.0.2.1/24\nGateway = 192.0.2.2\n",
        );
    let file = network.file("gateway.conf");
    std::fs::write(&file, config).map_err(|e| e.to_string())?;
    let _peer = WireguardGo::start_in(
        &peer_ns,
        &network.dir,
        &peer_keys,
        &gateway_keys.public,
        51820,
        None,
    )?;
    let gateway = Gateway::boot(&network, image, &file, 64, false)?;
    gateway
        .console
        .wait_for("gateway ready", Duration::from_secs(60))?;
    let _ = ping(&network.lan.name, addr::PEER_TUNNEL, &[]);
    gateway
        .console
        .wait_for("handshake completed", Duration::from_secs(15))?;
    thread::sleep(Duration::from_secs(6));
    ping(&peer_ns.name, addr::LAN_HOST, &[])
}

/// `[Outer] Address = dhcp`: the gateway leases its outer address from a
/// DHCP server (dnsmasq) on the WAN, then carries traffic as usual.
pub fn outer_dhcp(image: &Path) -> Check {
    let name = "outer-address-from-dhcp".to_string();
    let result = (|| {
        let network = Network::new("e2d")?;
        let gateway_keys = KeyPair::generate()?;
        let peer_keys = KeyPair::generate()?;
        let config = gateway_config(&gateway_keys, &peer_keys, "")
            .replace("Address = 192.0.2.1/24\n", "Address = dhcp\n");
        let file = network.file("gateway.conf");
        std::fs::write(&file, config).map_err(|e| e.to_string())?;
        let leases = network.file("dnsmasq.leases");
        let _dhcp = crate::topology::Process {
            child: Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &network.wan.name,
                    "dnsmasq",
                    "--no-daemon",
                    "--conf-file=/dev/null",
                ])
                .args([
                    "--port=0",
                    "--interface=eth0",
                    "--bind-interfaces",
                    "--user=root",
                ])
                .args(["--dhcp-range=192.0.2.100,192.0.2.100,255.255.255.0,1h"])
                .arg(format!("--dhcp-leasefile={}", path(&leases)))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start dnsmasq: {e}"))?,
        };
        let peer = WireguardGo::start_in(
            &network.wan,
            &network.dir,
            &peer_keys,
            &gateway_keys.public,
            51820,
            None,
        )?;
        let gateway = Gateway::boot(&network, image, &file, 64, false)?;
        gateway
            .console
            .wait_for("gateway ready", Duration::from_secs(60))?;
        let lease = gateway
            .console
            .wait_for("dhcp: address", Duration::from_secs(20))?;
        if !lease.contains("192.0.2.100/24") {
            return Err(format!("unexpected lease: {lease}"));
        }
        let out = ping(&network.lan.name, addr::PEER_TUNNEL, &[])?;
        let endpoint = peer.show("endpoints")?;
        if !endpoint.contains("192.0.2.100:51820") {
            return Err(format!(
                "wireguard-go did not see the gateway at its leased address: {endpoint}"
            ));
        }
        Ok(format!("leased 192.0.2.100 from dnsmasq; LAN->peer {out}"))
    })();
    (name, result)
}

/// A configuration whose line 7 has an impossible prefix length
/// (`{key}` and `{pub}` stand for the keys).
const BAD_CONFIG: &str = "[Interface]\nPrivateKey = {key}\nListenPort = 51820\n\n[Peer]\nPublicKey = {pub}\nAllowedIPs = 10.0.0.0/33\n\n[Outer]\nAddress = 192.0.2.1/24\n\n[Inner]\nAddress = 192.168.77.1/24\n";

/// A bad configuration is refused before anything is forwarded, naming
/// the file and line; so is a good one when the CMOS clock reads a date
/// before 2025 (TAI64N timestamps from then would lock the gateway out of
/// every peer that has seen a real one).
pub fn bad_configs(image: &Path, work_dir: &Path) -> Vec<Check> {
    bad_configs_on(image, work_dir, MachineKind::Pc)
}

/// As [`bad_configs`], on the machine type `kind` (the check names carry
/// it unless it is `pc`).
pub fn bad_configs_on(image: &Path, work_dir: &Path, kind: MachineKind) -> Vec<Check> {
    const GOOD: &str = "[Interface]\nPrivateKey = {key}\nListenPort = 51820\n\n[Peer]\nPublicKey = {pub}\nAllowedIPs = 10.0.0.0/24\n\n[Outer]\nAddress = 192.0.2.1/24\n\n[Inner]\nAddress = 192.168.77.1/24\n";
    // Name, file, contents, QEMU arguments, what the refusal must say.
    let cases: [(&str, &str, &str, &[&str], &str); 2] = [
        (
            "bad-config-refused-with-line-number",
            "bad.conf",
            BAD_CONFIG,
            &[],
            "bad.conf:7:",
        ),
        (
            "refuses-to-start-with-the-clock-in-1999",
            "good.conf",
            GOOD,
            &["-rtc", "base=1999-01-01"],
            "the CMOS clock reads 1999-01-01",
        ),
    ];
    let mut checks = Vec::new();
    for (name, file_name, template, qemu_args, expected) in cases {
        let result = (|| {
            let keys = KeyPair::generate()?;
            let peer = KeyPair::generate()?;
            let text = template
                .replace("{key}", &keys.private)
                .replace("{pub}", &peer.public);
            let file = work_dir.join(file_name);
            std::fs::write(&file, &text).map_err(|e| e.to_string())?;
            let mut machine =
                crate::machine::Machine::kernel(image, &format!("config={file_name}"));
            if let crate::machine::BootMedium::Kernel { initrd, .. } = &mut machine.medium {
                *initrd = Some(file.clone());
            }
            machine.extra = qemu_args.iter().map(|a| a.to_string()).collect();
            machine
                .extra
                .extend(kind.machine_args().iter().map(|a| a.to_string()));
            let t = machine
                .run(Duration::from_secs(30), |l| {
                    l.contains("nothing is forwarded")
                })
                .map_err(|e| e.to_string())?;
            let (_, line) = t
                .find("gateway refused to start")
                .ok_or_else(|| format!("no refusal on the console:\n{}", t.text()))?;
            if !line.contains(expected) {
                return Err(format!("refusal does not name `{expected}`: {line}"));
            }
            if t.find("gateway ready").is_some() {
                return Err("the gateway started anyway".into());
            }
            if t.text().contains(&keys.private) {
                return Err("the private key was printed".into());
            }
            Ok(line.trim().to_string())
        })();
        checks.push((check_name(kind, name), result));
    }
    checks
}

/// `name`, prefixed with the machine type unless it is `pc` (whose checks
/// keep their historical names).
fn check_name(kind: MachineKind, name: &str) -> String {
    match kind {
        MachineKind::Pc => name.to_string(),
        other => format!("{}-{name}", other.name()),
    }
}

/// Bytes moved by the core checks' transfer.
const CORE_TRANSFER_BYTES: u64 = 10 * 1000 * 1000;

/// The core checks on one machine type: handshake when the gateway
/// initiates and when the peer does, IPv4 and IPv6 ping both ways, 10 MB
/// each way with SHA-256 compared, and the bad-config refusal.
pub fn core_checks(image: &Path, work_dir: &Path, kind: MachineKind) -> Vec<Check> {
    let mut checks = bad_configs_on(image, work_dir, kind);
    let tag = &kind.name()[..kind.name().len().min(3)];
    let setup = match setup_kind(
        image,
        &Options {
            tag,
            gateway_knows_endpoint: true,
            extra_peer_lines: "",
            mtu: None,
        },
        "max",
        kind,
    ) {
        Ok(setup) => setup,
        Err(why) => {
            checks.push((check_name(kind, "gateway-boots-with-two-nics"), Err(why)));
            return checks;
        }
    };
    let lan = setup.network.lan.name.clone();
    let wan = setup.network.wan.name.clone();
    checks.push((
        check_name(kind, "handshake-when-gateway-initiates"),
        (|| {
            let (result, _) = first_ping_makes_handshake(&setup, &lan)?;
            let nics = setup
                .gateway
                .console
                .wait_for("nic: outer", Duration::from_secs(1))?;
            Ok(format!("{result}; {}", nics.trim()))
        })(),
    ));
    checks.push((
        check_name(kind, "ping-ipv4-both-ways"),
        pings_both_ways(&lan, &wan, addr::PEER_TUNNEL, addr::LAN_HOST),
    ));
    checks.push((
        check_name(kind, "ping-ipv6-both-ways"),
        pings_both_ways(&lan, &wan, addr::PEER_TUNNEL6, addr::LAN_HOST6),
    ));
    checks.push((
        check_name(kind, "wg-show-over-virtio-serial"),
        (|| {
            let shown = setup.gateway.wg(&["show", &setup.gateway.interface])?;
            if !shown.contains("latest handshake") {
                return Err(format!("`wg show` reports no handshake:\n{shown}"));
            }
            Ok("`wg show` through the virtio-serial port reports the peer's handshake".into())
        })(),
    ));
    checks.push((
        check_name(kind, "tcp-10mb-lan-to-peer"),
        transfer_bytes(
            &lan,
            &wan,
            addr::PEER_TUNNEL,
            CORE_TRANSFER_BYTES,
            || Ok(()),
        ),
    ));
    checks.push((
        check_name(kind, "tcp-10mb-peer-to-lan"),
        transfer_bytes(&wan, &lan, addr::LAN_HOST, CORE_TRANSFER_BYTES, || Ok(())),
    ));
    drop(setup);
    checks.push((
        check_name(kind, "handshake-when-peer-initiates"),
        (|| {
            let setup = setup_kind(
                image,
                &Options {
                    tag: &format!("{tag}p"),
                    gateway_knows_endpoint: false,
                    extra_peer_lines: "",
                    mtu: None,
                },
                "max",
                kind,
            )?;
            let out = ping(&setup.network.wan.name, addr::LAN_HOST, &[])?;
            setup
                .gateway
                .console
                .wait_for("handshake completed", Duration::from_secs(5))?;
            Ok(format!("peer->LAN ping: {out}"))
        })(),
    ));
    checks
}

/// `virtio_mmio.device=` arguments on `microvm` beside the two that QEMU
/// writes for its NICs: a malformed one and one over RAM stop the gateway
/// with the argument named; one whose window holds no virtio device is
/// named and skipped, and the gateway starts on its two NICs.
pub fn bad_mmio_arguments(image: &Path, work_dir: &Path) -> Vec<Check> {
    let cases = [
        (
            "microvm-malformed-virtio-mmio-argument-refused",
            "virtio_mmio.device=4K@0xd0000000",
            "gateway refused to start: virtio_mmio.device=4K@0xd0000000: malformed",
        ),
        (
            "microvm-virtio-mmio-argument-over-ram-refused",
            "virtio_mmio.device=4K@0x1000000:5",
            "gateway refused to start: virtio_mmio.device=4K@0x1000000:5: the window 0x1000000-0x1001000 overlaps RAM",
        ),
        (
            "microvm-virtio-mmio-argument-without-device-skipped",
            "virtio_mmio.device=4K@0xd0000000:5",
            "virtio_mmio.device=4K@0xd0000000:5: not a virtio device",
        ),
    ];
    let mut checks = Vec::new();
    for (name, argument, expected) in cases {
        let result = (|| {
            let keys = KeyPair::generate()?;
            let peer = KeyPair::generate()?;
            let file = work_dir.join("mmio.conf");
            std::fs::write(&file, gateway_config(&keys, &peer, "")).map_err(|e| e.to_string())?;
            let mut machine =
                crate::machine::Machine::kernel(image, &format!("config=mmio.conf {argument}"));
            if let crate::machine::BootMedium::Kernel { initrd, .. } = &mut machine.medium {
                *initrd = Some(file.clone());
            }
            machine.memory_mib = 64;
            let kind = MachineKind::Microvm;
            machine
                .extra
                .extend(kind.machine_args().iter().map(|a| a.to_string()));
            // Two NICs without a backend: enough to start, nothing to forward.
            for _ in 0..2 {
                machine
                    .extra
                    .extend(["-device".to_string(), kind.net_device().to_string()]);
            }
            let t = machine
                .run(Duration::from_secs(60), |l| {
                    l.contains("nothing is forwarded") || l.contains("gateway ready")
                })
                .map_err(|e| e.to_string())?;
            let text = t.text();
            let (_, line) = t
                .find(expected)
                .ok_or_else(|| format!("the console does not say `{expected}`:\n{text}"))?;
            let started = t.find("gateway ready").is_some();
            let should_start = name.ends_with("skipped");
            if started != should_start {
                return Err(format!(
                    "the gateway {} start:\n{text}",
                    if started { "did" } else { "did not" }
                ));
            }
            if text.contains("EXCEPTION") || text.contains("panicked") {
                return Err(format!("the kernel faulted:\n{text}"));
            }
            Ok(format!(
                "{}{}",
                line.trim(),
                if started {
                    "; gateway ready on its two NICs"
                } else {
                    ""
                }
            ))
        })();
        checks.push((name.to_string(), result));
    }
    checks
}

/// A `[Peer]` with the gateway's own public key is warned about, naming the
/// file and line, and the rest of the configuration loads: the engine is
/// built, and without NICs the boot goes on to refuse for the missing NICs,
/// not for the key. (The full tunnel with such a peer is covered on the host,
/// `net/tests/engine_handshake.rs`.)
pub fn own_key_peer_ignored(image: &Path, work_dir: &Path) -> Check {
    let name = "own-key-peer-ignored-with-a-warning".to_string();
    let result = (|| {
        let keys = KeyPair::generate()?;
        let peer = KeyPair::generate()?;
        let text = format!(
            "[Interface]\nPrivateKey = {}\n\n[Peer]\nPublicKey = {}\nAllowedIPs = 10.9.0.0/24\n\n\
             [Peer]\nPublicKey = {}\nAllowedIPs = 10.0.0.0/24\n\n[Outer]\nAddress = 192.0.2.1/24\n\n\
             [Inner]\nAddress = 192.168.77.1/24\n",
            keys.private, keys.public, peer.public
        );
        let file = work_dir.join("mesh.conf");
        std::fs::write(&file, &text).map_err(|e| e.to_string())?;
        let mut machine = crate::machine::Machine::kernel(image, "config=mesh.conf");
        if let crate::machine::BootMedium::Kernel { initrd, .. } = &mut machine.medium {
            *initrd = Some(file.clone());
        }
        let t = machine
            .run(Duration::from_secs(30), |l| {
                l.contains("nothing is forwarded")
            })
            .map_err(|e| e.to_string())?;
        let (_, warning) = t
            .find("mesh.conf:5: this [Peer] has the interface's own public key; ignored")
            .ok_or_else(|| format!("no warning naming mesh.conf:5:\n{}", t.text()))?;
        let (_, refusal) = t
            .find("gateway refused to start")
            .ok_or_else(|| format!("no refusal for the missing NICs:\n{}", t.text()))?;
        if !refusal.contains("virtio-net") {
            return Err(format!(
                "refused for something else than the NICs: {refusal}"
            ));
        }
        Ok(warning.trim().to_string())
    })();
    (name, result)
}

/// Bytes moved by the GRUB ISO boot's transfer check.
pub const GRUB_TRANSFER_BYTES: u64 = 10 * 1000 * 1000;

/// The gateway booted the way a Proxmox-style hypervisor boots `make iso`'s
/// output: QEMU's BIOS (or UEFI firmware) starts GRUB from an ISO (`-cdrom`, made by
/// `qemu/scripts/make-iso.sh`, the builder of `make iso`), GRUB loads the
/// image with `multiboot2 /boot/wgate.elf config=gateway.conf` and the
/// configuration with `module2 /boot/gateway.conf`. No `-kernel`, no
/// `-initrd`: the configuration can only come from the Multiboot2 module.
pub fn grub_iso_checks(image: &Path, work_dir: &Path) -> Vec<Check> {
    let mut checks = grub_iso_tunnel(image);
    checks.push(grub_iso_bad_config(image, work_dir));
    checks.push(grub_iso_uefi(image));
    checks
}

/// The same ISO booted through UEFI firmware (OVMF): GRUB's EFI image loads
/// the image and the module, and the tunnel carries pings both ways.
fn grub_iso_uefi(image: &Path) -> Check {
    let name = "grub-iso-uefi-boot-carries-traffic".to_string();
    let result = (|| {
        let firmware = Path::new(crate::scenarios::OVMF_CODE);
        if !firmware.exists() {
            return Err(format!(
                "{} is missing (make setup installs ovmf)",
                firmware.display()
            ));
        }
        let (setup, detail) = grub_iso_setup(image, "e2u", Some(firmware))?;
        let lan = &setup.network.lan.name;
        let out = ping(lan, addr::PEER_TUNNEL, &[])?;
        setup
            .gateway
            .console
            .wait_for("handshake completed", Duration::from_secs(5))?;
        let out6 = ping(lan, addr::PEER_TUNNEL6, &[])?;
        let back = ping(&setup.network.wan.name, addr::LAN_HOST, &[])?;
        Ok(format!(
            "{detail}; LAN->peer: {out}; IPv6 LAN->peer: {out6}; peer->LAN: {back}"
        ))
    })();
    (name, result)
}

/// Boots the gateway from a GRUB ISO holding the standard configuration as
/// `gateway.conf`, between a LAN host and a wireguard-go peer, through BIOS
/// or (with `uefi_firmware`) UEFI; checks the console says GRUB booted it
/// with `config=gateway.conf`. Returns the setup, the boot banner and the
/// `gateway ready` line.
fn grub_iso_setup(
    image: &Path,
    tag: &str,
    uefi_firmware: Option<&Path>,
) -> Result<(Setup, String), String> {
    let network = Network::new(tag)?;
    let gateway_keys = KeyPair::generate()?;
    let peer_keys = KeyPair::generate()?;
    let config_file = network.file("gateway.conf");
    std::fs::write(&config_file, gateway_config(&gateway_keys, &peer_keys, ""))
        .map_err(|e| e.to_string())?;
    let iso =
        crate::scenarios::build_iso(image, &network.file("wgate.iso"), Some(&config_file), "")?;
    // wireguard-go's UAPI socket (/var/run/wireguard/NAME.sock) is shared by
    // every namespace: a name of its own keeps two checkouts' runs apart.
    let iface = format!("wg{tag}{}", std::process::id() % 100_000);
    let endpoint = format!("{}:51820", addr::GATEWAY_OUTER);
    let peer = WireguardGo::start_with_address(
        &network.wan,
        &network.dir,
        &peer_keys,
        &gateway_keys.public,
        51820,
        Some(&endpoint),
        &iface,
        "10.99.0.2/24",
    )?;
    // OVMF needs more RAM than the gateway does.
    let memory = if uefi_firmware.is_some() { 128 } else { 64 };
    let gateway = Gateway::boot_iso(&network, &iso, memory, false, uefi_firmware)?;
    let ready = gateway
        .console
        .wait_for("gateway ready", Duration::from_secs(180))
        .map_err(|e| format!("{e}\n{}", gateway.console.text()))?;
    let banner = gateway
        .console
        .wait_for("boot protocol", Duration::from_secs(1))?;
    if !banner.contains("boot protocol Multiboot2")
        || !banner.contains("cmdline \"config=gateway.conf\"")
    {
        return Err(format!("not booted by GRUB as configured: {banner}"));
    }
    let detail = format!("{}; {}", banner.trim(), ready.trim());
    Ok((
        Setup {
            network,
            peer,
            gateway,
            gateway_keys,
        },
        detail,
    ))
}

fn grub_iso_tunnel(image: &Path) -> Vec<Check> {
    let booted = grub_iso_setup(image, "e2g", None);
    let (setup, detail) = match booted {
        Ok(booted) => booted,
        Err(why) => {
            return vec![(
                "grub-iso-gateway-boots-with-module2-config".into(),
                Err(why),
            )]
        }
    };
    let lan = setup.network.lan.name.clone();
    let wan = setup.network.wan.name.clone();
    let mut checks: Vec<Check> = vec![(
        "grub-iso-gateway-boots-with-module2-config".into(),
        Ok(detail),
    )];
    checks.push((
        "grub-iso-handshake".into(),
        (|| {
            let (result, handshakes) = first_ping_makes_handshake(&setup, &lan)?;
            if !handshakes.contains(&setup.gateway_keys.public) {
                return Err(format!(
                    "the handshake was not with the key from the module: {handshakes}"
                ));
            }
            Ok(format!(
                "with the key from the module2 configuration; {result}"
            ))
        })(),
    ));
    checks.push((
        "grub-iso-ping-ipv4-both-ways".into(),
        pings_both_ways(&lan, &wan, addr::PEER_TUNNEL, addr::LAN_HOST),
    ));
    checks.push((
        "grub-iso-ping-ipv6-both-ways".into(),
        pings_both_ways(&lan, &wan, addr::PEER_TUNNEL6, addr::LAN_HOST6),
    ));
    checks.push((
        "grub-iso-tcp-10mb-lan-to-peer".into(),
        transfer_bytes(
            &lan,
            &wan,
            addr::PEER_TUNNEL,
            GRUB_TRANSFER_BYTES,
            || Ok(()),
        ),
    ));
    checks
}

/// A bad configuration in the module is refused, naming the file (the
/// `config=` name) and line.
fn grub_iso_bad_config(image: &Path, work_dir: &Path) -> Check {
    let name = "grub-iso-bad-config-in-module-refused-with-line-number".to_string();
    let result = (|| {
        let keys = KeyPair::generate()?;
        let peer = KeyPair::generate()?;
        let dir = work_dir.join("grub-bad");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let file = dir.join("bad.conf");
        let text = BAD_CONFIG
            .replace("{key}", &keys.private)
            .replace("{pub}", &peer.public);
        std::fs::write(&file, &text).map_err(|e| e.to_string())?;
        let iso = crate::scenarios::build_iso(image, &dir.join("bad.iso"), Some(&file), "")?;
        let mut machine = crate::machine::Machine::kernel(image, "");
        machine.medium = crate::machine::BootMedium::Cdrom(iso);
        let t = machine
            .run(Duration::from_secs(90), |l| {
                l.contains("nothing is forwarded")
            })
            .map_err(|e| e.to_string())?;
        let (_, line) = t
            .find("gateway refused to start")
            .ok_or_else(|| format!("no refusal on the console:\n{}", t.text()))?;
        if !line.contains("bad.conf:7:") {
            return Err(format!("refusal does not name `bad.conf:7:`: {line}"));
        }
        t.find("boot protocol Multiboot2")
            .ok_or("the kernel did not report a Multiboot2 boot")?;
        if t.find("gateway ready").is_some() {
            return Err("the gateway started anyway".into());
        }
        if t.text().contains(&keys.private) {
            return Err("the private key was printed".into());
        }
        Ok(line.trim().to_string())
    })();
    (name, result)
}

/// Polls the console for up to 15 s for an `interrupts:` line printed after
/// this call that `ready` accepts, returning the newest such line seen
/// (accepted or not, so the caller's checks report it). The guest prints
/// the line at most every 2 s of its own clock and only when the counts
/// changed (kernel/src/gateway/report.rs), so this first pings through the
/// tunnel from `lan`: both NICs interrupt again, and a line printed just
/// before the snapshot cannot be the last one. Under TCG on a busy host the
/// guest's clock can lag the host's, hence a poll, not one read after a
/// fixed sleep.
fn wait_for_interrupts_line(
    console: &crate::topology::Console,
    lan: &str,
    ready: impl Fn(&str) -> bool,
) -> Result<String, String> {
    let after = console.text().len();
    ping(lan, addr::PEER_TUNNEL, &[])?;
    let mut line = None;
    for _ in 0..15 {
        thread::sleep(Duration::from_secs(1));
        let text = console.text();
        line = text
            .get(after..)
            .and_then(|new| new.lines().rev().find(|l| l.starts_with("interrupts:")))
            .map(str::to_string);
        if line.as_deref().is_some_and(&ready) {
            break;
        }
    }
    line.ok_or_else(|| {
        format!(
            "no `interrupts:` line after the traffic:\n{}",
            console.text()
        )
    })
}

/// The `count=` of the NIC `role` (`outer`/`inner`) and the route word
/// before it (`msix`/`intx`) in an `interrupts:` line.
fn nic_interrupts(line: &str, role: &str) -> Option<(String, u64)> {
    let part = line
        .split(';')
        .map(str::trim)
        .map(|p| p.trim_start_matches("interrupts:").trim())
        .find(|p| p.starts_with(role))?;
    let route = part.split_whitespace().nth(1)?.to_string();
    let count = field(part, "count")?.parse().ok()?;
    Some((route, count))
}

/// The interrupt route the console gave the NIC `role`: the text after
/// `interrupts ` in its `nic:` line (`MSI-X vector 0x70`, `INTx line 11 …`).
fn nic_route(console: &crate::topology::Console, role: &str) -> Result<String, String> {
    let line = console.wait_for(&format!("nic: {role} virtio-net"), Duration::from_secs(1))?;
    Ok(line
        .split("interrupts ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap_or("")
        .to_string())
}

/// What QEMU `q35` adds to the core checks (which run there too): PCI
/// through ECAM and both NICs on MSI-X; after 10 MB each way, no interrupt
/// taken through the I/O APIC (INTx) and the I/O APIC never brought up;
/// and, with the NICs' MSI-X turned off (`vectors=0`), the INTx fallback
/// carrying pings both ways.
pub fn q35_msix_checks(image: &Path) -> Vec<Check> {
    let mut checks: Vec<Check> = Vec::new();
    let options = Options {
        tag: "q3m",
        gateway_knows_endpoint: true,
        extra_peer_lines: "",
        mtu: None,
    };
    match setup_kind(image, &options, "max", MachineKind::Q35) {
        Err(why) => checks.push(("q35-gateway-boots".into(), Err(why))),
        Ok(setup) => {
            let lan = setup.network.lan.name.clone();
            let wan = setup.network.wan.name.clone();
            let console = &setup.gateway.console;
            checks.push((
                "q35-ecam-and-msix-in-use".into(),
                (|| {
                    let ecam =
                        console.wait_for("pci: configuration through", Duration::from_secs(1))?;
                    if !ecam.contains("ECAM") {
                        return Err(format!("not through ECAM: {ecam}"));
                    }
                    let outer = nic_route(console, "outer")?;
                    let inner = nic_route(console, "inner")?;
                    for (role, route) in [("outer", &outer), ("inner", &inner)] {
                        if !route.starts_with("MSI-X vector") {
                            return Err(format!("{role} NIC not on MSI-X: {route}"));
                        }
                    }
                    Ok(format!("{}; outer {outer}, inner {inner}", ecam.trim()))
                })(),
            ));
            checks.push((
                "q35-msix-no-intx-or-io-apic-interrupt-on-data-path".into(),
                (|| {
                    ping(&lan, addr::PEER_TUNNEL, &[])?;
                    transfer_bytes(&lan, &wan, addr::PEER_TUNNEL, CORE_TRANSFER_BYTES, || Ok(()))?;
                    transfer_bytes(&wan, &lan, addr::LAN_HOST, CORE_TRANSFER_BYTES, || Ok(()))?;
                    // A line printed after the transfers, with their counts.
                    let line = wait_for_interrupts_line(console, &lan, |line| {
                        ["outer", "inner"].iter().all(|role| {
                            matches!(nic_interrupts(line, role), Some((route, count)) if route == "msix" && count > 0)
                        })
                    })?;
                    let io_apic: u64 = line
                        .split(';')
                        .find_map(|p| field(p, "io_apic"))
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(|| format!("no io_apic count in `{line}`"))?;
                    let mut counts = Vec::new();
                    for role in ["outer", "inner"] {
                        let (route, count) = nic_interrupts(&line, role)
                            .ok_or_else(|| format!("no {role} count in `{line}`"))?;
                        if route != "msix" {
                            return Err(format!("{role} NIC interrupts by {route}: `{line}`"));
                        }
                        if count == 0 {
                            return Err(format!("{role} NIC took no MSI-X interrupt: `{line}`"));
                        }
                        counts.push(count);
                    }
                    if io_apic != 0 {
                        return Err(format!(
                            "{io_apic} interrupts went through the I/O APIC: `{line}`"
                        ));
                    }
                    if console.text().contains("I/O APIC in use") {
                        return Err("the I/O APIC was brought up".into());
                    }
                    Ok(format!(
                        "after 10 MB each way: outer {} and inner {} MSI-X interrupts, 0 through the I/O APIC (never brought up)",
                        counts[0], counts[1]
                    ))
                })(),
            ));
        }
    }
    checks.push((
        "q35-intx-fallback-without-msix".into(),
        (|| {
            let setup = setup_kind(
                image,
                &Options {
                    tag: "q3i",
                    gateway_knows_endpoint: true,
                    extra_peer_lines: "",
                    mtu: None,
                },
                "max",
                MachineKind::Q35Intx,
            )?;
            let console = &setup.gateway.console;
            let outer = nic_route(console, "outer")?;
            let inner = nic_route(console, "inner")?;
            for (role, route) in [("outer", &outer), ("inner", &inner)] {
                if !route.starts_with("INTx line") {
                    return Err(format!("{role} NIC not on INTx: {route}"));
                }
            }
            let out = ping(&setup.network.lan.name, addr::PEER_TUNNEL, &[])?;
            let back = ping(&setup.network.wan.name, addr::LAN_HOST, &[])?;
            let took_intx = |line: &str| {
                ["outer", "inner"].iter().all(|role| {
                    matches!(nic_interrupts(line, role), Some((route, count)) if route == "intx" && count > 0)
                })
            };
            let line = wait_for_interrupts_line(console, &setup.network.lan.name, took_intx)?;
            if !took_intx(&line) {
                return Err(format!("a NIC took no INTx interrupt: `{line}`"));
            }
            Ok(format!(
                "vectors=0: outer {outer}, inner {inner}; LAN->peer {out}; peer->LAN {back}; `{line}`"
            ))
        })(),
    ));
    checks
}

/// Every end-to-end check, in order; `only` (a group name: `config`,
/// `tunnel`, `peer`, `mtu`, `loop`, `nat`, `dhcp`, `uapi`, `marks`, `grub`, `microvm`, `q35`) narrows the run while debugging.
pub fn all(image: &Path, work_dir: &Path, only: Option<&str>) -> Vec<Check> {
    let wanted = |group: &str| only.is_none_or(|o| o == group);
    let mut checks = Vec::new();
    if wanted("config") {
        checks.extend(bad_configs(image, work_dir));
        checks.push(own_key_peer_ignored(image, work_dir));
    }
    if wanted("tunnel") {
        checks.extend(tunnel_checks(image));
    }
    if wanted("peer") {
        checks.push(peer_initiates(image));
    }
    if wanted("mtu") {
        checks.push(padding_capped_by_mtu(image));
    }
    if wanted("loop") {
        checks.push(endpoint_inside_tunnel(image));
    }
    if wanted("nat") {
        checks.push(nat_keepalive(image));
    }
    if wanted("dhcp") {
        checks.push(outer_dhcp(image));
    }
    if wanted("uapi") {
        checks.extend(crate::uapi_e2e::checks(image));
    }
    if wanted("marks") {
        checks.extend(crate::marks_e2e::checks(image));
    }
    if wanted("grub") {
        checks.extend(grub_iso_checks(image, work_dir));
    }
    if wanted("microvm") {
        checks.extend(bad_mmio_arguments(image, work_dir));
        checks.extend(core_checks(image, work_dir, MachineKind::Microvm));
    }
    if wanted("q35") {
        checks.extend(core_checks(image, work_dir, MachineKind::Q35));
        checks.extend(q35_msix_checks(image));
    }
    checks
}
