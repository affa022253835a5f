//! `make bench`, gateway part: throughput and latency through the tunnel,
//! time to the first packet through it, the smallest RAM that still
//! forwards, and the in-image crypto ceiling. Figures are printed, never
//! asserted.

use crate::e2e::{setup, Options};
use crate::machine::Machine;
use crate::topology::{addr, in_ns, Gateway, KeyPair, Network, WireguardGo, gateway_config};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

fn iperf(client_ns: &str, server_ns: &str, server_addr: &str, seconds: u32) -> Result<f64, String> {
    let mut server = crate::topology::Process {
        child: Command::new("ip")
            .args(["netns", "exec", server_ns, "iperf3", "-s", "-1", "-B", server_addr])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start iperf3: {e}"))?,
    };
    thread::sleep(Duration::from_millis(500));
    let secs = seconds.to_string();
    let out = in_ns(client_ns, &["iperf3", "-c", server_addr, "-t", &secs, "-f", "m"]);
    let _ = server.child.wait();
    let out = out?;
    out.lines()
        .filter(|l| l.contains("receiver"))
        .find_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.iter().position(|w| *w == "Mbits/sec").and_then(|i| words[i - 1].parse().ok())
        })
        .ok_or_else(|| format!("no iperf3 result in: {out}"))
}

fn ping_rtt(ns: &str, target: &str) -> Result<String, String> {
    let out = in_ns(ns, &["ping", "-c", "10", "-i", "0.2", "-W", "2", target])?;
    Ok(out.lines().find(|l| l.contains("rtt")).unwrap_or("").trim().to_string())
}

/// Seconds from starting QEMU to the first ping answered through the tunnel.
fn time_to_first_ping(image: &Path) -> Result<f64, String> {
    let network = Network::new("bfp")?;
    let gateway_keys = KeyPair::generate()?;
    let peer_keys = KeyPair::generate()?;
    let config = network.file("gateway.conf");
    std::fs::write(&config, gateway_config(&gateway_keys, &peer_keys, "")).map_err(|e| e.to_string())?;
    let _peer = WireguardGo::start(&network, &peer_keys, &gateway_keys.public, 51820)?;
    let started = Instant::now();
    let _gateway = Gateway::boot(&network, image, &config, 64, false)?;
    while started.elapsed() < Duration::from_secs(60) {
        if in_ns(&network.lan.name, &["ping", "-c", "1", "-W", "1", addr::PEER_TUNNEL]).is_ok() {
            return Ok(started.elapsed().as_secs_f64());
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
        std::fs::write(&config, gateway_config(&gateway_keys, &peer_keys, "")).map_err(|e| e.to_string())?;
        let _peer = WireguardGo::start(&network, &peer_keys, &gateway_keys.public, 51820)?;
        let gateway = Gateway::boot(&network, image, &config, mib, false)?;
        gateway.console.wait_for("gateway ready", Duration::from_secs(30))?;
        in_ns(&network.lan.name, &["ping", "-c", "2", "-W", "3", addr::PEER_TUNNEL]).map(|_| ())
    };
    attempt().is_ok()
}

/// Prints the gateway figures.
pub fn run(image: &Path) -> Result<(), String> {
    for cpu in ["qemu64", "max"] {
        let mut machine = Machine::kernel(image, "test=crypto-bench");
        machine.cpu = cpu.into();
        machine.extra = vec!["-device".into(), "virtio-rng-pci".into()];
        let t = machine.run(Duration::from_secs(30), |_| false).map_err(|e| e.to_string())?;
        for (_, line) in t.lines.iter().filter(|(_, l)| l.starts_with("crypto-bench:")) {
            println!("in-image crypto ceiling (TCG -cpu {cpu}): {}", line.trim_start_matches("crypto-bench: "));
        }
    }
    let s = setup(image, &Options { tag: "bench", gateway_knows_endpoint: true, extra_peer_lines: "", mtu: None })?;
    let (lan, wan) = (s.network.lan.name.clone(), s.network.wan.name.clone());
    in_ns(&lan, &["ping", "-c", "2", "-W", "3", addr::PEER_TUNNEL])?;
    println!("ping RTT LAN host -> gateway -> peer (TCG -cpu max): {}", ping_rtt(&lan, addr::PEER_TUNNEL)?);
    println!("iperf3 TCP LAN -> peer through the gateway (TCG -cpu max): {:.1} Mbit/s", iperf(&lan, &wan, addr::PEER_TUNNEL, 8)?);
    println!("iperf3 TCP peer -> LAN through the gateway (TCG -cpu max): {:.1} Mbit/s", iperf(&wan, &lan, addr::LAN_HOST, 8)?);
    drop(s);
    println!("QEMU start -> first ping answered through the tunnel: {:.2} s", time_to_first_ping(image)?);
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
