//! Finding the two virtio-net NICs and deciding which is outer and which
//! inner: by MAC address when the configuration names them, otherwise by
//! PCI address or command-line order on virtio-mmio (the first NIC is the
//! outer one).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use drivers::virtio::msix::{InterruptRoute, MsiTarget};
use drivers::virtio::net::{find_all, Nic, NicOptions};
use net::config::{GatewayConfig, MacAddress};

/// The gateway's two NICs.
pub struct Nics {
    /// WAN side: carries WireGuard's UDP.
    pub outer: Nic,
    /// LAN side.
    pub inner: Nic,
}

fn mac_text(mac: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    )
}

/// Whether the LAN NIC takes GSO frames: `lan-gso=on` on the kernel
/// command line. Off by default: under QEMU's TCG it was measured not to
/// pay (README, "Figures"), since the guest then computes every segment's
/// TCP checksum, which the host's kernel computes far faster otherwise.
fn lan_gso(cmdline: &str) -> bool {
    cmdline.split_whitespace().any(|word| word == "lan-gso=on")
}

/// How a device interrupts, for the console: `MSI-X vector 0x70` or
/// `INTx line 11 (I/O APIC)`.
pub fn route_text(route: InterruptRoute) -> String {
    match route {
        InterruptRoute::Msix { vector } => format!("MSI-X vector {vector:#x}"),
        InterruptRoute::Intx { line: Some(line) } => format!("INTx line {line} (I/O APIC)"),
        InterruptRoute::Intx { line: None } => "none (polled)".into(),
    }
}

/// Starts every virtio-net NIC and picks the outer and inner ones.
pub fn bring_up(config: &GatewayConfig, cmdline: &str) -> Result<Nics, String> {
    let mut bus = crate::devices::virtio_bus();
    let found = find_all(&bus);
    if found.len() < 2 {
        return Err(format!(
            "the gateway needs two virtio-net NICs; found {} {}",
            found.len(),
            bus.describe()
        ));
    }
    let mut nics: Vec<Nic> = Vec::new();
    // One MSI-X vector per NIC (used if the device offers MSI-X).
    let mut targets: Vec<(drivers::virtio::Address, Option<MsiTarget>)> = Vec::new();
    for location in found {
        let msix = crate::interrupts::allocate_msi_vector();
        targets.push((location.address, msix));
        let options = NicOptions {
            msix,
            ..NicOptions::default()
        };
        let nic = Nic::start(&mut bus, location, options)
            .map_err(|e| format!("cannot start the virtio-net NIC at {location}: {e:?}"))?;
        nics.push(nic);
    }
    let wanted = |mac: Option<MacAddress>| mac.map(|m| m.0);
    let pick = |nics: &mut Vec<Nic>, mac: Option<[u8; 6]>, role: &str| -> Result<Nic, String> {
        match mac {
            Some(mac) => nics
                .iter()
                .position(|n| n.mac() == mac)
                .map(|i| nics.remove(i))
                .ok_or_else(|| {
                    format!(
                        "no NIC has the {role} MAC {} named in the configuration",
                        mac_text(mac)
                    )
                }),
            None => Ok(nics.remove(0)),
        }
    };
    // Pick the NICs named by MAC first, so "the first one" means the first
    // of those left over.
    let outer_mac = wanted(config.outer.mac);
    let inner_mac = wanted(config.inner.mac);
    let (outer, inner) = if outer_mac.is_none() && inner_mac.is_some() {
        let inner = pick(&mut nics, inner_mac, "inner")?;
        (pick(&mut nics, None, "outer")?, inner)
    } else {
        let outer = pick(&mut nics, outer_mac, "outer")?;
        (outer, pick(&mut nics, inner_mac, "inner")?)
    };
    let msix_target = |location: drivers::virtio::net::NicLocation| {
        targets
            .iter()
            .find(|(address, _)| *address == location.address)
            .and_then(|(_, target)| *target)
    };
    // The outer NIC restarts with checksum offload both ways: received
    // WireGuard datagrams the device vouches for skip the software UDP check,
    // and IPv6 UDP checksums are left to the device.
    let location = outer.location();
    drop(outer);
    let offload = NicOptions {
        rx_checksum: true,
        tx_checksum: true,
        rx_gso: false,
        msix: msix_target(location),
    };
    let outer = Nic::start(&mut bus, location, offload)
        .map_err(|e| format!("cannot restart the outer virtio-net NIC with offloads: {e:?}"))?;
    // The LAN NIC restarts with receive segmentation offload: a LAN host's
    // TCP arrives in GSO frames of up to 64 KiB (with partial checksums),
    // which the loop cuts into tunnel-sized segments. Without it the host
    // cuts them and completes the checksums before they reach us.
    let inner = if lan_gso(cmdline) {
        let location = inner.location();
        drop(inner);
        let offload = NicOptions {
            rx_checksum: false,
            tx_checksum: false,
            rx_gso: true,
            msix: msix_target(location),
        };
        Nic::start(&mut bus, location, offload)
            .map_err(|e| format!("cannot restart the inner virtio-net NIC with GSO: {e:?}"))?
    } else {
        inner
    };
    for (role, nic) in [("outer", &outer), ("inner", &inner)] {
        let location = nic.location();
        let route = nic.interrupt_route();
        log::info!(
            "nic: {role} virtio-net at {location}, MAC {}, interrupts {}, checksum offload rx={} tx={}, receive GSO={}",
            mac_text(nic.mac()),
            route_text(route),
            nic.offloads().rx_checksum,
            nic.offloads().tx_checksum,
            nic.offloads().rx_gso
        );
        if let InterruptRoute::Intx { line: Some(line) } = route {
            crate::interrupts::enable_device_line(line);
        }
    }
    let (mut outer, mut inner) = (outer, inner);
    // A line already asserted while its I/O APIC pin was still configured
    // as masked edge-triggered left no trace there; acknowledging the
    // devices now lowers their lines, so the next interrupt is a fresh
    // assertion the (now level-triggered) pin sees.
    outer.ack_interrupt();
    inner.ack_interrupt();
    Ok(Nics { outer, inner })
}
