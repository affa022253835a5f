//! `make run`: the gateway between a LAN host and a WireGuard peer, all in
//! network namespaces on this machine, with freshly generated keys.

use crate::topology::{addr, gateway_config, KeyPair, Network, WireguardGo};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Runs the demo until Ctrl-C.
pub fn run(image: &Path) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .map_err(|e| format!("cannot catch Ctrl-C: {e}"))?;

    println!("demo: creating network namespaces (LAN host, gateway, WAN peer)");
    let network = Network::new("demo")?;
    let gateway_keys = KeyPair::generate()?;
    let peer_keys = KeyPair::generate()?;
    let config = network.file("gateway.conf");
    std::fs::write(&config, gateway_config(&gateway_keys, &peer_keys, ""))
        .map_err(|e| e.to_string())?;
    println!(
        "demo: starting wireguard-go as the WAN peer (tunnel address {})",
        addr::PEER_TUNNEL
    );
    let peer = WireguardGo::start(&network, &peer_keys, &gateway_keys.public, 51820)?;
    let kvm = crate::machine::kvm_boots(image);
    println!(
        "demo: booting the gateway image in QEMU ({}); its console follows",
        if kvm {
            "KVM"
        } else {
            "TCG: KVM is missing or does not boot guests here"
        }
    );
    let gateway = crate::topology::Gateway::boot_with(&network, image, &config, 64, true, kvm)?;
    gateway
        .console
        .wait_for("gateway ready", Duration::from_secs(60))?;

    println!(
        "\ndemo: ping from the LAN host {} through the tunnel to the peer {}",
        addr::LAN_HOST,
        addr::PEER_TUNNEL
    );
    match network
        .lan
        .exec(&["ping", "-c", "3", "-W", "3", addr::PEER_TUNNEL])
    {
        Ok(out) => print!("{out}"),
        Err(e) => println!("demo: ping failed: {e}"),
    }
    if let Ok(handshakes) = peer.show("latest-handshakes") {
        println!(
            "demo: wireguard-go's latest handshake with the gateway: {}",
            handshakes.trim()
        );
    }
    println!(
        "\nThe gateway keeps running. In another terminal, try:\n\
         \x20 ip netns exec {lan} ping {peer}        # LAN host -> WireGuard peer, through the gateway\n\
         \x20 ip netns exec {lan} ping -6 {peer6}   # the same over IPv6\n\
         \x20 ip netns exec {wan} ping {lanhost}     # WireGuard peer -> LAN host\n\
         \x20 ip netns exec {wan} wg show             # the peer's view of the tunnel\n\
         \x20 wg show {iface}                          # the gateway's own view, through its userspace API\n\
         \x20 wg set {iface} peer <key> allowed-ips … # change it live\n\
         The gateway's configuration is {config}.\n\
         Press Ctrl-C here to stop: QEMU is stopped and the namespaces are removed.",
        lan = network.lan.name,
        wan = network.wan.name,
        iface = gateway.interface,
        peer = addr::PEER_TUNNEL,
        peer6 = addr::PEER_TUNNEL6,
        lanhost = addr::LAN_HOST,
        config = config.display(),
    );
    let mut gateway = gateway;
    while !stop.load(Ordering::SeqCst) {
        if let Ok(Some(status)) = gateway.process.child.try_wait() {
            println!("demo: QEMU exited ({status})");
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("demo: stopping");
    drop(gateway);
    drop(peer);
    drop(network);
    Ok(())
}
