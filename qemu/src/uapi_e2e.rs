//! End-to-end checks of the userspace API: the unmodified `wg` from
//! wireguard-tools, on the host, against the gateway in QEMU, through the
//! UNIX socket QEMU serves for the gateway's virtio-serial port.

use crate::e2e::{setup, Check, Options};
use crate::topology::{addr, in_ns, path, peer_interface_name, uapi_socket, KeyPair, WireguardGo};
use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

/// Whether `target` answers within 15 s: a ping sent each second until the
/// first reply, since the first packet to a peer may wait for a handshake
/// with a freshly started wireguard-go on a slow host.
fn answers(ns: &str, target: &str) -> bool {
    in_ns(ns, &["ping", "-c", "1", "-w", "15", target]).is_ok()
}

/// Whether `target` answers one of two quick pings: for the checks that
/// expect silence, which a long wait would only slow down.
fn answers_quickly(ns: &str, target: &str) -> bool {
    in_ns(ns, &["ping", "-c", "2", "-i", "0.3", "-W", "2", target]).is_ok()
}

/// The value of `key` on the line of `wg show … dump` for `peer`, by column.
fn dump_field(dump: &str, peer: &str, column: usize) -> Option<String> {
    dump.lines()
        .find(|l| l.starts_with(peer))
        .and_then(|l| l.split('\t').nth(column))
        .map(str::to_string)
}

/// Every allowed IP of `peer` in `wg showconf` output.
fn allowed_ips_in_showconf(conf: &str, peer: &str) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    let mut in_peer = false;
    for line in conf.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_peer = false;
        } else if let Some(key) = line.strip_prefix("PublicKey = ") {
            in_peer = key == peer;
        } else if let Some(list) = line.strip_prefix("AllowedIPs = ") {
            if in_peer {
                set.extend(
                    list.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty()),
                );
            }
        }
    }
    set
}

/// `count` distinct /32s in 172.16.0.0/12 and 10.200.0.0/16 style blocks (IPv4 only, in
/// the same 130,560-per-peer order of magnitude as Linux's netns.sh stress case).
fn many_prefixes(count: usize, salt: u32) -> Vec<String> {
    (0..count as u32)
        .map(|i| {
            let n = i.wrapping_mul(2_654_435_761).wrapping_add(salt) & 0x000f_ffff;
            format!("172.{}.{}.{}/32", 16 + (n >> 16), (n >> 8) & 0xff, n & 0xff)
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The checks, on one gateway.
pub fn checks(image: &std::path::Path) -> Vec<Check> {
    let s = match setup(
        image,
        &Options {
            tag: "uapi",
            gateway_knows_endpoint: true,
            extra_peer_lines: "",
            mtu: None,
        },
    ) {
        Ok(s) => s,
        Err(why) => return vec![("wg-uapi-gateway-boots".into(), Err(why))],
    };
    let (lan, wan) = (s.network.lan.name.clone(), s.network.wan.name.clone());
    let name = s.gateway.interface.clone();
    let wg = |args: &[&str]| -> Result<String, String> {
        let mut full = vec![];
        full.extend_from_slice(args);
        s.gateway.wg(&full)
    };
    let peer_public = s
        .peer
        .show("public-key")
        .map(|k| k.trim().to_string())
        .unwrap_or_default();
    let mut checks: Vec<Check> = Vec::new();

    checks.push((
        "wg-show-reports-handshake-and-transfer".into(),
        (|| {
            if !answers(&lan, addr::PEER_TUNNEL) {
                return Err("no ping through the tunnel".into());
            }
            let show = wg(&["show", &name])?;
            for needle in [
                format!("interface: {name}"),
                "listening port: 51820".into(),
                format!("peer: {peer_public}"),
                "latest handshake:".into(),
                "transfer:".into(),
                "allowed ips: 10.99.0.0/24".into(),
            ] {
                if !show.contains(&needle) {
                    return Err(format!("`wg show` lacks `{needle}`:\n{show}"));
                }
            }
            let dump = wg(&["show", &name, "dump"])?;
            let (rx, tx) = (
                dump_field(&dump, &peer_public, 5),
                dump_field(&dump, &peer_public, 6),
            );
            let handshake = dump_field(&dump, &peer_public, 4);
            match (rx.as_deref(), tx.as_deref(), handshake.as_deref()) {
                (Some(rx), Some(tx), Some(hs)) if rx != "0" && tx != "0" && hs != "0" => {}
                _ => return Err(format!("dump shows no handshake or transfer:\n{dump}")),
            }
            let conf = wg(&["showconf", &name])?;
            if !conf.contains("ListenPort = 51820")
                || !conf.contains(&format!("PublicKey = {peer_public}"))
            {
                return Err(format!("showconf:\n{conf}"));
            }
            Ok(format!(
                "`wg show`: handshake, transfer rx {} / tx {} bytes",
                rx.unwrap_or_default(),
                tx.unwrap_or_default()
            ))
        })(),
    ));

    // A second WireGuard peer on the outer link, unknown to the gateway's configuration.
    let second = (|| -> Result<(crate::topology::Netns, WireguardGo, KeyPair), String> {
        let ns = s.network.add_wan_host("wan2", "192.0.2.3/24")?;
        let keys = KeyPair::generate()?;
        let endpoint = format!("{}:51820", addr::GATEWAY_OUTER);
        let peer = WireguardGo::start_with_address(
            &ns,
            &s.network.dir,
            &keys,
            &s.gateway_keys.public,
            51820,
            Some(&endpoint),
            &peer_interface_name(),
            "10.98.0.2/24",
        )?;
        Ok((ns, peer, keys))
    })();
    let second_ok = second.is_ok();
    checks.push(("wg-set-adds-a-peer-that-passes-traffic-at-once".into(), (|| {
        let (_, _, keys) = second.as_ref().map_err(|e| e.clone())?;
        if answers_quickly(&lan, "10.98.0.2") {
            return Err("the second peer answered before it was added".into());
        }
        wg(&["set", &name, "peer", &keys.public, "allowed-ips", "10.98.0.0/24", "endpoint", "192.0.2.3:51820"])?;
        if !answers(&lan, "10.98.0.2") {
            return Err(format!("no ping to the added peer; wg show:\n{}", wg(&["show", &name]).unwrap_or_default()));
        }
        if !answers(&lan, addr::PEER_TUNNEL) {
            return Err("the first peer stopped working".into());
        }
        Ok("a peer added with `wg set` handshook and answered a ping; the first peer kept working".into())
    })()));
    checks.push((
        "wg-set-remove-stops-its-traffic".into(),
        (|| {
            if !second_ok {
                return Err("no second peer".into());
            }
            let (_, _, keys) = second.as_ref().map_err(|e| e.clone())?;
            wg(&["set", &name, "peer", &keys.public, "remove"])?;
            if wg(&["show", &name])?.contains(&keys.public) {
                return Err("still listed".into());
            }
            if answers_quickly(&lan, "10.98.0.2") {
                return Err("the removed peer still answers".into());
            }
            Ok("`wg set … remove`: gone from `wg show`, no more traffic".into())
        })(),
    ));
    checks.push((
        "wg-syncconf-changes-allowed-ips".into(),
        (|| {
            let conf = wg(&["showconf", &name])?;
            // Narrow the first peer to its host route only: 10.99.0.3 leaves its range.
            let narrowed = conf.replace(
                "AllowedIPs = 10.99.0.0/24, fd00:99::/64",
                "AllowedIPs = 10.99.0.2/32, fd00:99::/64",
            );
            if narrowed == conf {
                return Err(format!("unexpected showconf:\n{conf}"));
            }
            let file = s.network.file("sync.conf");
            std::fs::write(&file, narrowed).map_err(|e| e.to_string())?;
            wg(&["syncconf", &name, path(&file)])?;
            let ips = wg(&["show", &name, "allowed-ips"])?;
            if !ips.contains("10.99.0.2/32") || ips.contains("10.99.0.0/24") {
                return Err(format!("allowed ips after syncconf: {ips}"));
            }
            if !answers(&lan, addr::PEER_TUNNEL) {
                return Err("the peer stopped answering".into());
            }
            Ok("`wg syncconf` narrowed the peer's allowed IPs; traffic to it continues".into())
        })(),
    ));
    checks.push((
        "wg-set-listen-port-0-picks-a-port-traffic-follows".into(),
        (|| {
            let peer_endpoint = |port: u16| {
                let endpoint = format!("{}:{port}", addr::GATEWAY_OUTER);
                let peer = &s.gateway_keys.public;
                s.network
                    .wan
                    .exec(&["wg", "set", &s.peer.iface, "peer", peer, "endpoint", &endpoint])
            };
            // The peer pings first, so its packets go to the port it was told
            // (wireguard-go would otherwise follow the gateway's source port).
            let moved = (|| {
                // As on Linux: port 0 means any; `wg show` then gives the one in use.
                wg(&["set", &name, "listen-port", "0"])?;
                let shown = wg(&["show", &name, "listen-port"])?;
                let port: u16 = shown
                    .trim()
                    .parse()
                    .map_err(|_| format!("`wg show listen-port` printed {shown:?}"))?;
                if !(49152..=65535).contains(&port) {
                    return Err(format!("port {port} is not a dynamic port"));
                }
                peer_endpoint(port)?;
                if !answers(&s.network.wan.name, addr::LAN_HOST) {
                    return Err(format!("the peer's ping to port {port} got no answer"));
                }
                Ok(port)
            })();
            // Back to 51820 for the checks after this one, whatever happened.
            wg(&["set", &name, "listen-port", "51820"])?;
            peer_endpoint(51820)?;
            let port = moved?;
            if !answers(&s.network.wan.name, addr::LAN_HOST) {
                return Err("no ping from the peer after moving back to 51820".into());
            }
            Ok(format!(
                "`wg set listen-port 0`: the gateway took port {port}; the peer, told that port, pinged the LAN through it, and again on 51820 after moving back"
            ))
        })(),
    ));
    checks.push((
        "wg-round-trips-130560-allowed-ips".into(),
        (|| {
            let keys = KeyPair::generate()?;
            let prefixes = many_prefixes(130_560, 7);
            let mut conf = format!("[Peer]\nPublicKey = {}\n", keys.public);
            for chunk in prefixes.chunks(1000) {
                conf.push_str(&format!("AllowedIPs = {}\n", chunk.join(", ")));
            }
            let file = s.network.file("big.conf");
            std::fs::write(&file, conf).map_err(|e| e.to_string())?;
            let started = Instant::now();
            wg(&["addconf", &name, path(&file)])?;
            let applied = started.elapsed();
            let back = allowed_ips_in_showconf(&wg(&["showconf", &name])?, &keys.public);
            let sent: BTreeSet<String> = prefixes.into_iter().collect();
            if back != sent {
                return Err(format!(
                    "read back {} prefixes, sent {}",
                    back.len(),
                    sent.len()
                ));
            }
            wg(&["set", &name, "peer", &keys.public, "remove"])?;
            Ok(format!(
                "{} allowed IPs on one peer set in {:.1} s and read back identical",
                sent.len(),
                applied.as_secs_f64()
            ))
        })(),
    ));
    checks.push(("wg-round-trips-40-peers-of-52-allowed-ips".into(), (|| {
        let mut conf = String::new();
        let mut expected = Vec::new();
        for p in 0..40u32 {
            let keys = KeyPair::generate()?;
            let prefixes: Vec<String> = (0..52u32).map(|i| format!("10.{}.{}.0/24", 100 + p, i)).collect();
            conf.push_str(&format!("[Peer]\nPublicKey = {}\nAllowedIPs = {}\n", keys.public, prefixes.join(", ")));
            expected.push((keys.public, prefixes));
        }
        let file = s.network.file("forty.conf");
        std::fs::write(&file, conf).map_err(|e| e.to_string())?;
        wg(&["addconf", &name, path(&file)])?;
        let shown = wg(&["showconf", &name])?;
        for (key, prefixes) in &expected {
            let back = allowed_ips_in_showconf(&shown, key);
            let sent: BTreeSet<String> = prefixes.iter().cloned().collect();
            if back != sent {
                let extra: Vec<_> = back.difference(&sent).collect();
                let missing: Vec<_> = sent.difference(&back).collect();
                return Err(format!("peer {key}: read back {} prefixes, {} extra {extra:?}, {} missing {missing:?}", back.len(), extra.len(), missing.len()));
            }
        }
        for (key, _) in &expected {
            wg(&["set", &name, "peer", key, "remove"])?;
        }
        Ok("40 peers with 52 allowed IPs each read back identical".into())
    })()));
    checks.push((
        "wg-uapi-survives-a-megabyte-of-garbage".into(),
        (|| {
            let socket = uapi_socket(&name);
            let mut client =
                UnixStream::connect(&socket).map_err(|e| format!("{}: {e}", socket.display()))?;
            let mut state = 0x1234_5678_9abc_def0u64;
            let garbage: Vec<u8> = (0..1 << 20)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            // The gateway may close the conversation early; what it swallowed is enough.
            let _ = client.set_write_timeout(Some(Duration::from_secs(20)));
            let _ = client.write_all(&garbage);
            drop(client);
            thread::sleep(Duration::from_millis(500));
            if !answers(&lan, addr::PEER_TUNNEL) {
                return Err("forwarding stopped".into());
            }
            let show = wg(&["show", &name])?;
            if !show.contains(&peer_public) {
                return Err(format!("`wg show` after the garbage:\n{show}"));
            }
            Ok("1 MB of garbage: the tunnel still answers and the next `wg show` works".into())
        })(),
    ));
    let _ = wan;
    // On any failure, show what the gateway said.
    if checks.iter().any(|(_, r)| r.is_err()) {
        let console = s.gateway.console.text();
        for (_, result) in checks.iter_mut() {
            if let Err(why) = result {
                why.push_str(&format!("\n--- gateway console ---\n{console}"));
                break;
            }
        }
    }
    checks
}
