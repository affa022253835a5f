//! `make bench`, gateway part: throughput and latency through the tunnel,
//! time to the first packet through it, the smallest RAM that still
//! forwards, and the in-image crypto ceiling. Figures are printed, never
//! asserted.

use crate::e2e::{setup_on, setup_platform, Options};
use crate::machine::Machine;
use crate::stages::StageLine;
use crate::topology::{
    addr, gateway_config, in_ns, Gateway, KeyPair, Network, Platform, WireguardGo,
};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// An iperf3 server for one test in `ns`, bound to `addr`, given time to listen.
fn iperf_server(ns: &str, addr: &str) -> Result<crate::topology::Process, String> {
    let server = crate::topology::Process {
        child: Command::new("ip")
            .args(["netns", "exec", ns, "iperf3", "-s", "-1", "-B", addr])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start iperf3: {e}"))?,
    };
    thread::sleep(Duration::from_millis(500));
    Ok(server)
}

/// Runs an iperf3 client with `args` against a one-shot server; returns its output.
fn iperf_run(
    client_ns: &str,
    server_ns: &str,
    server_addr: &str,
    args: &[&str],
) -> Result<String, String> {
    let mut server = iperf_server(server_ns, server_addr)?;
    let mut command = vec!["iperf3", "-c", server_addr, "-f", "m"];
    command.extend_from_slice(args);
    // On a loaded machine the server may not listen yet after its 0.5 s:
    // the client is refused, and the one-shot server would wait for ever.
    // Try again a few times, then give up and let `server` be killed.
    let mut out = in_ns(client_ns, &command);
    for _ in 0..5 {
        match &out {
            Err(e) if e.contains("Connection refused") => {
                thread::sleep(Duration::from_secs(1));
                out = in_ns(client_ns, &command);
            }
            _ => break,
        }
    }
    if out.is_ok() {
        let _ = server.child.wait();
    }
    out
}

fn iperf(client_ns: &str, server_ns: &str, server_addr: &str, seconds: u32) -> Result<f64, String> {
    let out = iperf_run(
        client_ns,
        server_ns,
        server_addr,
        &["-t", &seconds.to_string()],
    )?;
    out.lines()
        .filter(|l| l.contains("receiver"))
        .find_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words
                .iter()
                .position(|w| *w == "Mbits/sec")
                .and_then(|i| words[i - 1].parse().ok())
        })
        .ok_or_else(|| format!("no iperf3 result in: {out}"))
}

/// UDP packets per second received through the tunnel, with `len`-byte
/// payloads offered as fast as iperf3 can send them.
fn udp_pps(
    client_ns: &str,
    server_ns: &str,
    server_addr: &str,
    len: u32,
    seconds: u32,
) -> Result<f64, String> {
    let (secs, len) = (seconds.to_string(), len.to_string());
    let out = iperf_run(
        client_ns,
        server_ns,
        server_addr,
        &["-u", "-l", &len, "-b", "0", "-t", &secs],
    )?;
    // `[  5]   0.00-5.00   sec  ...  0.010 ms  1000/50000 (2%)  receiver`
    out.lines()
        .filter(|l| l.contains("receiver"))
        .find_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let span = words.iter().find(|w| w.contains('-') && w.contains('.'))?;
            let (from, to) = span.split_once('-')?;
            let elapsed = to.parse::<f64>().ok()? - from.parse::<f64>().ok()?;
            let counts = words
                .iter()
                .find(|w| w.contains('/') && !w.contains("sec"))?;
            let (lost, total) = counts.split_once('/')?;
            let received = total.parse::<f64>().ok()? - lost.parse::<f64>().ok()?;
            Some(received / elapsed)
        })
        .ok_or_else(|| format!("no iperf3 UDP result in: {out}"))
}

/// The gateway's last stage line, after making sure it printed a fresh one
/// (it prints every 2 s while packets move: wait, then move one).
fn stage_line(console: &crate::topology::Console, lan: &str) -> Option<StageLine> {
    thread::sleep(Duration::from_millis(2100));
    let _ = in_ns(lan, &["ping", "-c", "1", "-W", "2", addr::PEER_TUNNEL]);
    thread::sleep(Duration::from_millis(300));
    StageLine::last_in(&console.text())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Throughput, small packets, latency and the stage table on one TCG CPU
/// model and QEMU machine.
fn tunnel_figures(image: &Path, cpu_model: &str, platform: Platform) -> Result<(), String> {
    let s = setup_platform(
        image,
        &Options {
            tag: "bench",
            gateway_knows_endpoint: true,
            extra_peer_lines: "",
            mtu: None,
        },
        cpu_model,
        platform,
    )?;
    // Every figure is labelled with the CPU model and the machine.
    let cpu = format!("{cpu_model} -M {}", platform.name());
    let route = s
        .gateway
        .console
        .wait_for("nic: outer", Duration::from_secs(1))
        .unwrap_or_default();
    println!(
        "TCG -cpu {cpu}: outer NIC {}",
        route
            .split("interrupts ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .unwrap_or("(route not printed)")
    );
    let (lan, wan) = (s.network.lan.name.clone(), s.network.wan.name.clone());
    in_ns(&lan, &["ping", "-c", "2", "-W", "3", addr::PEER_TUNNEL])?;
    println!(
        "TCG -cpu {cpu}: ping RTT LAN host -> gateway -> peer: {}",
        ping_rtt(&lan, addr::PEER_TUNNEL)?
    );
    println!(
        "TCG -cpu {cpu}: ping RTT LAN host -> gateway itself (no tunnel): {}",
        ping_rtt(&lan, addr::GATEWAY_INNER)?
    );
    if std::env::var_os("WGATE_BENCH_PING_ONLY").is_some() {
        return Ok(());
    }
    let runs: [(&str, &str, &str, &str); 2] = [
        ("LAN -> peer", &lan, &wan, addr::PEER_TUNNEL),
        ("peer -> LAN", &wan, &lan, addr::LAN_HOST),
    ];
    for (label, client, server, target) in runs {
        let before = stage_line(&s.gateway.console, &lan);
        let mut rates = Vec::new();
        for _ in 0..3 {
            rates.push(iperf(client, server, target, 8)?);
        }
        let after = stage_line(&s.gateway.console, &lan);
        println!(
            "TCG -cpu {cpu}: iperf3 TCP {label}: {:.1} Mbit/s (median of 3: {})",
            median(&mut rates.clone()),
            rates
                .iter()
                .map(|r| format!("{r:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        match (before, after) {
            (Some(b), Some(a)) => print!(
                "  stage table for those 3 runs (the image's TSC cycles):\n{}",
                a.since(&b).table()
            ),
            _ => println!("  (this image prints no stage cycles)"),
        }
    }
    for (label, client, server, target) in runs {
        let pps = udp_pps(client, server, target, 64, 5)?;
        println!(
            "TCG -cpu {cpu}: UDP, 64-byte payloads, {label}: {:.0} packets/s received",
            pps
        );
    }
    let dropped = s
        .gateway
        .console
        .text()
        .lines()
        .rev()
        .find(|l| l.contains("dropped so far"))
        .map(str::to_string);
    println!(
        "TCG -cpu {cpu}: drop counters after the runs: {}",
        dropped
            .as_deref()
            .unwrap_or("none printed (nothing dropped)")
    );
    thread::sleep(Duration::from_millis(2100));
    let interrupts = s
        .gateway
        .console
        .text()
        .lines()
        .rev()
        .find(|l| l.starts_with("interrupts:"))
        .map(str::to_string);
    println!(
        "TCG -cpu {cpu}: {}",
        interrupts
            .as_deref()
            .unwrap_or("no interrupt counts printed")
    );
    Ok(())
}

fn ping_rtt(ns: &str, target: &str) -> Result<String, String> {
    let out = in_ns(ns, &["ping", "-c", "20", "-i", "0.2", "-W", "2", target])?;
    Ok(out
        .lines()
        .find(|l| l.contains("rtt"))
        .unwrap_or("")
        .trim()
        .to_string())
}

/// Seconds from starting QEMU to `gateway ready` on the console and to the
/// first ping answered through the tunnel.
fn time_to_first_ping(image: &Path, platform: Platform) -> Result<(f64, f64), String> {
    let network = Network::new("bfp")?;
    let gateway_keys = KeyPair::generate()?;
    let peer_keys = KeyPair::generate()?;
    let config = network.file("gateway.conf");
    std::fs::write(&config, gateway_config(&gateway_keys, &peer_keys, ""))
        .map_err(|e| e.to_string())?;
    let _peer = WireguardGo::start(&network, &peer_keys, &gateway_keys.public, 51820)?;
    let started = Instant::now();
    let gateway =
        Gateway::boot_platform(&network, image, &config, 64, false, "tcg", "max", platform)?;
    // The console is polled from this thread between pings, so `ready` is
    // read as soon as a ping attempt (1 s at most) ends.
    let mut ready = None;
    while started.elapsed() < Duration::from_secs(60) {
        if ready.is_none() && gateway.console.text().contains("gateway ready") {
            ready = Some(started.elapsed().as_secs_f64());
        }
        if in_ns(
            &network.lan.name,
            &["ping", "-c", "1", "-W", "1", addr::PEER_TUNNEL],
        )
        .is_ok()
        {
            let ping = started.elapsed().as_secs_f64();
            return Ok((ready.unwrap_or(ping), ping));
        }
    }
    Err("no ping answered within 60 s".into())
}

/// Whether the gateway forwards a ping with `mib` of guest RAM.
fn forwards_with(image: &Path, mib: u32) -> bool {
    let attempt = || -> Result<(), String> {
        let network = Network::new("bram")?;
        let gateway_keys = KeyPair::generate()?;
        let peer_keys = KeyPair::generate()?;
        let config = network.file("gateway.conf");
        std::fs::write(&config, gateway_config(&gateway_keys, &peer_keys, ""))
            .map_err(|e| e.to_string())?;
        let _peer = WireguardGo::start(&network, &peer_keys, &gateway_keys.public, 51820)?;
        let gateway = Gateway::boot(&network, image, &config, mib, false)?;
        gateway
            .console
            .wait_for("gateway ready", Duration::from_secs(30))?;
        in_ns(
            &network.lan.name,
            &["ping", "-c", "2", "-W", "3", addr::PEER_TUNNEL],
        )
        .map(|_| ())
    };
    attempt().is_ok()
}

/// The userspace API's figures (TCG `-cpu max`): `wg show` with 1,000
/// peers, applying 130,560 allowed IPs, and forwarding while `wg show` runs
/// in a loop.
fn uapi_figures(image: &Path) -> Result<(), String> {
    let s = setup_on(
        image,
        &Options {
            tag: "bapi",
            gateway_knows_endpoint: true,
            extra_peer_lines: "",
            mtu: None,
        },
        "max",
    )?;
    let (lan, wan) = (s.network.lan.name.clone(), s.network.wan.name.clone());
    let name = s.gateway.interface.clone();
    in_ns(&lan, &["ping", "-c", "2", "-W", "3", addr::PEER_TUNNEL])?;
    let alone = iperf(&lan, &wan, addr::PEER_TUNNEL, 8)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let looping = {
        let (stop, name) = (stop.clone(), name.clone());
        thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if crate::topology::sh(&["timeout", "30", "wg", "show", &name]).is_ok() {
                    n += 1;
                }
            }
            n
        })
    };
    let during = iperf(&lan, &wan, addr::PEER_TUNNEL, 8)?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let shows = looping.join().unwrap_or(0);
    println!(
        "TCG -cpu max: iperf3 LAN -> peer {alone:.1} Mbit/s alone, {during:.1} Mbit/s while `wg show` ran in a loop ({shows} times)"
    );
    let mut conf = String::new();
    for _ in 0..1000 {
        let keys = crate::topology::KeyPair::generate()?;
        conf.push_str(&format!("[Peer]\nPublicKey = {}\n", keys.public));
    }
    let file = s.network.file("thousand.conf");
    std::fs::write(&file, conf).map_err(|e| e.to_string())?;
    s.gateway
        .wg(&["addconf", &name, crate::topology::path(&file)])?;
    let started = Instant::now();
    let show = s.gateway.wg(&["show", &name, "dump"])?;
    println!(
        "TCG -cpu max: `wg show {name} dump` with {} peers: {:.0} ms",
        show.lines().count().saturating_sub(1),
        started.elapsed().as_secs_f64() * 1000.0
    );
    let keys = crate::topology::KeyPair::generate()?;
    let mut big = format!("[Peer]\nPublicKey = {}\n", keys.public);
    let prefixes: Vec<String> = (0..130_560u32)
        .map(|i| format!("172.{}.{}.{}/32", 16 + (i >> 16), (i >> 8) & 0xff, i & 0xff))
        .collect();
    for chunk in prefixes.chunks(1000) {
        big.push_str(&format!("AllowedIPs = {}\n", chunk.join(", ")));
    }
    let file = s.network.file("big.conf");
    std::fs::write(&file, big).map_err(|e| e.to_string())?;
    let started = Instant::now();
    s.gateway
        .wg(&["addconf", &name, crate::topology::path(&file)])?;
    println!(
        "TCG -cpu max: applying one peer with 130,560 allowed IPs (`wg addconf`): {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Throughput, small packets, latency and the stage table through the
/// tunnel, on both TCG CPU models (`wgate-qemu tunnel-bench`), on `pc`.
pub fn tunnel(image: &Path) -> Result<(), String> {
    for cpu in ["max", "qemu64,+rdrand"] {
        tunnel_figures(image, cpu, Platform::Pc)?;
    }
    Ok(())
}

/// The same figures on each of `platforms` (TCG `-cpu max`): `q35` with
/// MSI-X against `pc` with INTx, for instance
/// (`wgate-qemu tunnel-bench <image> pc-intx q35`).
pub fn tunnel_on(image: &Path, platforms: &[Platform]) -> Result<(), String> {
    for platform in platforms {
        tunnel_figures(image, "max", *platform)?;
    }
    Ok(())
}

/// Time to `gateway ready` and to the first ping through the tunnel, per
/// machine.
pub fn startup_times(image: &Path, platforms: &[Platform]) -> Result<(), String> {
    for platform in platforms {
        let (ready, ping) = time_to_first_ping(image, *platform)?;
        println!(
            "-M {}: QEMU start -> `gateway ready` {ready:.2} s, -> first ping answered through the tunnel {ping:.2} s",
            platform.name()
        );
    }
    Ok(())
}

/// Prints the gateway figures.
pub fn run(image: &Path) -> Result<(), String> {
    for cpu in ["qemu64", "max"] {
        let mut machine = Machine::kernel(image, "test=crypto-bench");
        machine.cpu = cpu.into();
        machine.extra = vec!["-device".into(), "virtio-rng-pci".into()];
        let t = machine
            .run(Duration::from_secs(30), |_| false)
            .map_err(|e| e.to_string())?;
        for (_, line) in t
            .lines
            .iter()
            .filter(|(_, l)| l.starts_with("crypto-bench:"))
        {
            println!(
                "in-image crypto ceiling (TCG -cpu {cpu}): {}",
                line.trim_start_matches("crypto-bench: ")
            );
        }
    }
    tunnel(image)?;
    tunnel_on(image, &[Platform::PcIntx, Platform::Q35])?;
    uapi_figures(image)?;
    startup_times(image, &[Platform::Pc, Platform::Q35])?;
    let mut smallest = None;
    for mib in [32u32, 24, 16, 12, 8, 6, 5, 4, 3] {
        if forwards_with(image, mib) {
            smallest = Some(mib);
        } else {
            break;
        }
    }
    match smallest {
        Some(mib) => println!("smallest guest RAM that still forwards traffic: {mib} MiB (tried 32, 24, 16, 12, 8, 6, 5, 4, 3)"),
        None => println!("smallest guest RAM that still forwards traffic: more than 32 MiB"),
    }
    Ok(())
}
