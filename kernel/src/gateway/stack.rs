//! The smoltcp interfaces: addresses, routes and the WireGuard UDP socket.

use alloc::vec;
use net::config::{GatewayConfig, OuterAddress};
use net::IpCidr;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::{dhcpv4, udp};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr as StackCidr};

use super::device::StackDevice;

/// Datagrams the WireGuard socket buffers in each direction.
const UDP_SLOTS: usize = 256;
/// Bytes of datagram payload buffered in each direction.
const UDP_BYTES: usize = UDP_SLOTS * 1600;

/// The current time for smoltcp.
pub fn now() -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros((crate::time::uptime_nanos() / 1000) as i64)
}

fn to_stack(cidr: &IpCidr) -> StackCidr {
    StackCidr::new(IpAddress::from(cidr.addr()), cidr.prefix_len())
}

fn random_seed() -> u64 {
    let mut seed = [0u8; 8];
    crate::entropy::fill(&mut seed);
    u64::from_le_bytes(seed)
}

fn interface(device: &mut StackDevice, cidrs: &[IpCidr]) -> Interface {
    let mac = EthernetAddress(device.mac());
    let mut config = Config::new(HardwareAddress::Ethernet(mac));
    config.random_seed = random_seed();
    let mut iface = Interface::new(config, device, now());
    iface.update_ip_addrs(|addrs| {
        for cidr in cidrs {
            if addrs.push(to_stack(cidr)).is_err() {
                log::warn!("stack: too many addresses, {cidr} not configured");
            }
        }
    });
    iface
}

/// The outer interface with its WireGuard socket.
pub struct Outer {
    /// The interface.
    pub iface: Interface,
    /// Its sockets.
    pub sockets: SocketSet<'static>,
    /// The UDP socket bound to `ListenPort`.
    pub udp: SocketHandle,
    /// The DHCPv4 client, when `[Outer] Address = dhcp`.
    pub dhcp: Option<SocketHandle>,
}

impl Outer {
    /// Applies what the DHCP client learned (address, default route), if
    /// anything changed since the last call.
    pub fn update_dhcp(&mut self) {
        let Some(handle) = self.dhcp else { return };
        match self.sockets.get_mut::<dhcpv4::Socket>(handle).poll() {
            None => {}
            Some(dhcpv4::Event::Configured(lease)) => {
                log::info!("dhcp: address {} (router {:?})", lease.address, lease.router);
                self.iface.update_ip_addrs(|addrs| {
                    addrs.retain(|a| !matches!(a, StackCidr::Ipv4(_)));
                    let _ = addrs.push(StackCidr::Ipv4(lease.address));
                });
                self.iface.routes_mut().remove_default_ipv4_route();
                if let Some(router) = lease.router {
                    let _ = self.iface.routes_mut().add_default_ipv4_route(router);
                }
            }
            Some(dhcpv4::Event::Deconfigured) => {
                log::warn!("dhcp: lease lost; outer IPv4 address removed");
                self.iface.update_ip_addrs(|addrs| addrs.retain(|a| !matches!(a, StackCidr::Ipv4(_))));
                self.iface.routes_mut().remove_default_ipv4_route();
            }
        }
    }
}

/// Builds the outer interface: static addresses or a DHCPv4 client, the
/// default gateway, and the WireGuard UDP socket.
pub fn outer(device: &mut StackDevice, config: &GatewayConfig) -> Result<Outer, alloc::string::String> {
    let static_cidrs: &[IpCidr] = match &config.outer.address {
        OuterAddress::Static(cidrs) => cidrs,
        OuterAddress::Dhcp => &[],
    };
    let mut iface = interface(device, static_cidrs);
    if let Some(gateway) = config.outer.gateway {
        let added = match IpAddress::from(gateway) {
            IpAddress::Ipv4(v4) => iface.routes_mut().add_default_ipv4_route(v4).map(|_| ()),
            IpAddress::Ipv6(v6) => iface.routes_mut().add_default_ipv6_route(v6).map(|_| ()),
        };
        if added.is_err() {
            return Err("cannot add the default route".into());
        }
    }
    let buffer = || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; UDP_SLOTS], vec![0; UDP_BYTES]);
    let mut socket = udp::Socket::new(buffer(), buffer());
    socket
        .bind(config.interface.listen_port)
        .map_err(|e| alloc::format!("cannot bind UDP port {}: {e}", config.interface.listen_port))?;
    let mut sockets = SocketSet::new(vec![]);
    let udp = sockets.add(socket);
    let dhcp = matches!(config.outer.address, OuterAddress::Dhcp).then(|| sockets.add(dhcpv4::Socket::new()));
    Ok(Outer { iface, sockets, udp, dhcp })
}

/// The inner interface: answers ARP/NDP and ping on the LAN addresses.
pub struct Inner {
    /// The interface.
    pub iface: Interface,
    /// Its (empty) socket set: the interface itself answers pings.
    pub sockets: SocketSet<'static>,
}

/// Builds the inner interface.
pub fn inner(device: &mut StackDevice, config: &GatewayConfig) -> Inner {
    Inner { iface: interface(device, &config.inner.addresses), sockets: SocketSet::new(vec![]) }
}
