//! Finding the two virtio-net NICs and deciding which is outer and which
//! inner: by MAC address when the configuration names them, otherwise by
//! PCI address (the first NIC is the outer one).

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
pub fn bring_up(config: &GatewayConfig) -> Result<Nics, String> {
    // SAFETY: the kernel is single-threaded and nothing else holds the PCI
    // configuration ports at this point (entropy seeding has finished).
    let mut root = unsafe { drivers::pci::root() };
    let found = find_all(&root);
    if found.len() < 2 {
        return Err(format!(
            "the gateway needs two virtio-net NICs; found {}",
            found.len()
        ));
    }
    let mut nics: Vec<Nic> = Vec::new();
    // One MSI-X vector per NIC (used if the device offers MSI-X).
    let mut targets: Vec<(drivers::pci::DeviceFunction, Option<MsiTarget>)> = Vec::new();
    for location in found {
        let msix = crate::interrupts::allocate_msi_vector();
        targets.push((location.function, msix));
        let options = NicOptions {
            msix,
            ..NicOptions::default()
        };
        let nic = Nic::start(&mut root, location, options).map_err(|e| {
            format!(
                "cannot start the virtio-net NIC at {:?}: {e:?}",
                location.function
            )
        })?;
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
    // The outer NIC restarts with checksum offload both ways: received
    // WireGuard datagrams the device vouches for skip the software UDP check,
    // and IPv6 UDP checksums are left to the device. The LAN NIC keeps it
    // off, so the host, not this guest, completes a LAN host's partial
    // checksums before they reach us.
    let location = outer.location();
    drop(outer);
    let offload = NicOptions {
        rx_checksum: true,
        tx_checksum: true,
        msix: targets
            .iter()
            .find(|(function, _)| *function == location.function)
            .and_then(|(_, target)| *target),
    };
    let outer = Nic::start(&mut root, location, offload)
        .map_err(|e| format!("cannot restart the outer virtio-net NIC with offloads: {e:?}"))?;
    for (role, nic) in [("outer", &outer), ("inner", &inner)] {
        let location = nic.location();
        let route = nic.interrupt_route();
        log::info!(
            "nic: {role} virtio-net at {:02x}:{:02x}.{}, MAC {}, interrupts {}, checksum offload rx={} tx={}",
            location.function.bus,
            location.function.device,
            location.function.function,
            mac_text(nic.mac()),
            route_text(route),
            nic.offloads().rx_checksum,
            nic.offloads().tx_checksum
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
