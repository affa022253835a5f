//! `make bench`, gateway part: throughput and latency through the tunnel,
//! time to the first packet through it, the smallest RAM that still
//! forwards, and the in-image crypto ceiling. Figures are printed, never
//! asserted.

use crate::e2e::{setup_kind, setup_on, Options};
use crate::machine::{Machine, MachineKind};
use crate::stages::StageLine;
use crate::topology::{addr, gateway_config, in_ns, Gateway, KeyPair, Network, WireguardGo};
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
fn tunnel_figures(image: &Path, cpu_model: &str, kind: MachineKind) -> Result<(), String> {
    let s = setup_kind(
        image,
        &Options {
            tag: "bench",
            gateway_knows_endpoint: true,
            extra_peer_lines: "",
            mtu: None,
        },
        cpu_model,
        kind,
    )?;
    // Every figure is labelled with the CPU model, and the machine unless
    // it is `pc`.
    let cpu = match kind {
        MachineKind::Pc => cpu_model.to_string(),
        other => format!("{cpu_model} -M {}", other.name()),
    };
    let route = s
        .gateway
        .console
        .wait_for("nic: outer", Duration::from_secs(1))
        .unwrap_or_default();
    println!(
        "TCG -cpu {cpu}: outer NIC interrupts by {}",
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
    // `WGATE_BENCH_LAN_TCP_ONLY`: only TCP from the LAN (for A/B runs of
    // what the LAN NIC's receive offloads change, on a busy machine).
    let lan_tcp_only = std::env::var_os("WGATE_BENCH_LAN_TCP_ONLY").is_some();
    let tcp_runs = if lan_tcp_only { &runs[..1] } else { &runs[..] };
    for &(label, client, server, target) in tcp_runs {
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
        if lan_tcp_only {
            break;
        }
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
    let offload = s
        .gateway
        .console
        .text()
        .lines()
        .rev()
        .find(|l| l.contains("segmentation offload so far"))
        .map(str::to_string);
    println!(
        "TCG -cpu {cpu}: LAN segmentation offload: {}",
        offload.as_deref().unwrap_or("no GSO frame received")
    );
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
/// first ping answered through the tunnel, on machine type `kind`.
fn time_to_first_ping(image: &Path, kind: MachineKind) -> Result<(f64, f64), String> {
    let network = Network::new("bfp")?;
    let gateway_keys = KeyPair::generate()?;
    let peer_keys = KeyPair::generate()?;
    let config = network.file("gateway.conf");
    std::fs::write(&config, gateway_config(&gateway_keys, &peer_keys, ""))
        .map_err(|e| e.to_string())?;
    let _peer = WireguardGo::start(&network, &peer_keys, &gateway_keys.public, 51820)?;
    // The LAN host knows the gateway's MAC from the start: otherwise a ping
    // sent before the gateway was up leaves an unanswered ARP request that
    // Linux repeats only after a second, and the figure measures that.
    network.lan.ip(&[
        "neigh",
        "replace",
        addr::GATEWAY_INNER,
        "lladdr",
        "52:54:00:12:34:02",
        "dev",
        "eth0",
        "nud",
        "permanent",
    ])?;
    let started = Instant::now();
    let gateway = Gateway::boot_kind(&network, image, &config, (64, false), ("tcg", "max"), kind)?;
    // Pings from the first moment, while another thread times the console
    // line, so neither figure waits for the other.
    thread::scope(|scope| {
        let ready = scope.spawn(|| {
            gateway
                .console
                .wait_for("gateway ready", Duration::from_secs(60))
                .map(|_| started.elapsed().as_secs_f64())
        });
        // A 0.1 s wait per ping: with 1 s, a ping sent before the gateway
        // was up held the figure at just over 1 s whatever the boot took.
        let mut ping = Err("no ping answered within 60 s".to_string());
        while started.elapsed() < Duration::from_secs(60) {
            if in_ns(
                &network.lan.name,
                &["ping", "-c", "1", "-W", "0.1", addr::PEER_TUNNEL],
            )
            .is_ok()
            {
                ping = Ok(started.elapsed().as_secs_f64());
                break;
            }
        }
        let ready = ready
            .join()
            .map_err(|_| "console thread panicked".to_string())??;
        Ok((ready, ping?))
    })
}

/// Seconds from starting QEMU to `gateway ready` and to the first ping
/// answered through the tunnel, booting the GRUB ISO (`make iso`'s builder)
/// from QEMU's BIOS, or through OVMF with `uefi_firmware`.
fn grub_iso_times(image: &Path, uefi_firmware: Option<&Path>) -> Result<(f64, f64), String> {
    let network = Network::new("bgrub")?;
    let gateway_keys = KeyPair::generate()?;
    let peer_keys = KeyPair::generate()?;
    let config = network.file("gateway.conf");
    std::fs::write(&config, gateway_config(&gateway_keys, &peer_keys, ""))
        .map_err(|e| e.to_string())?;
    let iso = crate::scenarios::build_iso(image, &network.file("wgate.iso"), Some(&config), "")?;
    // A UAPI socket name of its own (the sockets are shared by all namespaces).
    let endpoint = format!("{}:51820", addr::GATEWAY_OUTER);
    let _peer = WireguardGo::start_with_address(
        &network.wan,
        &network.dir,
        &peer_keys,
        &gateway_keys.public,
        51820,
        Some(&endpoint),
        &format!("wgb{}", std::process::id() % 100_000),
        "10.99.0.2/24",
    )?;
    let memory = if uefi_firmware.is_some() { 128 } else { 64 };
    let started = Instant::now();
    let gateway = Gateway::boot_iso(&network, &iso, memory, false, uefi_firmware)?;
    gateway
        .console
        .wait_for("gateway ready", Duration::from_secs(180))?;
    let ready = started.elapsed().as_secs_f64();
    while started.elapsed() < Duration::from_secs(240) {
        if in_ns(
            &network.lan.name,
            &["ping", "-c", "1", "-W", "1", addr::PEER_TUNNEL],
        )
        .is_ok()
        {
            return Ok((ready, started.elapsed().as_secs_f64()));
        }
    }
    Err("no ping answered within 240 s".into())
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
/// tunnel, on both TCG CPU models (`wgate-qemu tunnel-bench`).
pub fn tunnel(image: &Path) -> Result<(), String> {
    for cpu in ["max", "qemu64,+rdrand"] {
        tunnel_figures(image, cpu, MachineKind::Pc)?;
    }
    Ok(())
}

/// Boot times of the GRUB ISO through BIOS and UEFI (`wgate-qemu grub-bench`).
pub fn grub(image: &Path) -> Result<(), String> {
    for (firmware, uefi) in [
        ("BIOS (SeaBIOS)", None),
        ("UEFI (OVMF)", Some(Path::new(crate::scenarios::OVMF_CODE))),
    ] {
        let mut ready = Vec::new();
        let mut first_ping = Vec::new();
        for _ in 0..3 {
            let (r, p) = grub_iso_times(image, uefi)?;
            ready.push(r);
            first_ping.push(p);
        }
        println!(
            "GRUB ISO, {firmware}, TCG -cpu max: QEMU start -> gateway ready {:.2} s, -> first ping answered through the tunnel {:.2} s (median of 3)",
            median(&mut ready),
            median(&mut first_ping)
        );
    }
    Ok(())
}

/// The tunnel figures (TCG `-cpu max`) on each of `kinds`: `q35` with
/// MSI-X against `pc` with INTx, for instance
/// (`wgate-qemu tunnel-bench <image> pc-intx q35`).
pub fn tunnel_on(image: &Path, kinds: &[MachineKind]) -> Result<(), String> {
    for kind in kinds {
        tunnel_figures(image, "max", *kind)?;
    }
    Ok(())
}

/// Prints, for each machine type, the time from starting QEMU to `gateway
/// ready` and to the first ping answered through the tunnel.
pub fn boot_figures(image: &Path) -> Result<(), String> {
    for kind in [MachineKind::Pc, MachineKind::Q35, MachineKind::Microvm] {
        let (mut ready, mut ping) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let (r, p) = time_to_first_ping(image, kind)?;
            ready.push(r);
            ping.push(p);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "TCG -M {}: QEMU start -> `gateway ready` {:.2} s, -> first ping answered through the tunnel {:.2} s (median of 3)",
            kind.name(),
            median(&mut ready),
            median(&mut ping)
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
    tunnel_on(image, &[MachineKind::PcIntx, MachineKind::Q35])?;
    uapi_figures(image)?;
    boot_figures(image)?;
    grub(image)?;
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
