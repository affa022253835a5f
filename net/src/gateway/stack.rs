//! smoltcp, for everything that is not forwarded: ARP and NDP for our own
//! addresses, ping to the gateway, and the DHCP client on the outer link.
//!
//! The loop reads every frame itself; the few meant for the stack are
//! offered to it one at a time through [`StackDevice`], and what the stack
//! sends goes straight to the NIC's transmit ring.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::socket::dhcpv4;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr as StackCidr};

use super::nic::{TxFrame, TxRing};
use crate::allowed_ips::IpCidr;
use crate::config::{GatewayConfig, OuterAddress};
use crate::time::Instant;

/// Ethernet payload size on both NICs.
const ETHERNET_MTU: usize = 1500;
/// Room for a frame the stack builds when the transmit ring is full.
const SCRATCH: usize = 2048;

/// smoltcp's view of a NIC: at most one received frame, any number out.
pub struct StackDevice<'a, T: TxRing> {
    tx: &'a mut T,
    pending: Option<&'a [u8]>,
}

impl<'a, T: TxRing> StackDevice<'a, T> {
    /// The stack's view of `tx`, offering it `pending` on its next receive.
    pub fn new(tx: &'a mut T, pending: Option<&'a [u8]>) -> Self {
        Self { tx, pending }
    }
}

/// A received frame for the stack.
pub struct Rx<'a>(&'a [u8]);

/// Permission to send one frame.
pub struct Tx<'a, T: TxRing>(&'a mut T);

impl phy::RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl<T: TxRing> phy::TxToken for Tx<'_, T> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut f = Some(f);
        let mut result = None;
        self.0.transmit(|buffer| {
            let len = len.min(buffer.len());
            result = f.take().map(|f| f(&mut buffer[..len]));
            Some(TxFrame::new(0, len))
        });
        match (result, f) {
            (Some(result), _) => result,
            // The transmit ring was full: smoltcp still needs its closure
            // run (it may update socket state), so build the frame in a
            // scratch buffer and drop it, as a full hardware queue would.
            (None, Some(f)) => {
                let mut scratch = [0u8; SCRATCH];
                f(&mut scratch[..len.min(SCRATCH)])
            }
            (None, None) => unreachable!("the closure runs at most once and sets `result`"),
        }
    }
}

impl<T: TxRing> phy::Device for StackDevice<'_, T> {
    type RxToken<'b>
        = Rx<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = Tx<'b, T>
    where
        Self: 'b;

    fn receive(
        &mut self,
        _timestamp: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let frame = self.pending.take()?;
        Some((Rx(frame), Tx(self.tx)))
    }

    fn transmit(&mut self, _timestamp: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        Some(Tx(self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = ETHERNET_MTU + 14;
        caps.max_burst_size = Some(16);
        caps
    }
}

/// smoltcp's clock from ours.
pub fn stack_time(now: Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros((now.as_nanos() / 1000) as i64)
}

fn to_stack(cidr: &IpCidr) -> StackCidr {
    StackCidr::new(IpAddress::from(cidr.addr()), cidr.prefix_len())
}

fn interface<T: TxRing>(
    tx: &mut T,
    mac: [u8; 6],
    cidrs: &[IpCidr],
    seed: u64,
    now: Instant,
) -> Interface {
    let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
    config.random_seed = seed;
    let mut device = StackDevice::new(tx, None);
    let mut iface = Interface::new(config, &mut device, stack_time(now));
    iface.update_ip_addrs(|addrs| {
        for cidr in cidrs {
            if addrs.push(to_stack(cidr)).is_err() {
                log::warn!("stack: too many addresses, {cidr} not configured");
            }
        }
    });
    iface
}

/// One smoltcp interface with its sockets.
pub struct Stack {
    /// The interface.
    pub iface: Interface,
    /// Its sockets (the DHCP client's, on the outer link).
    pub sockets: SocketSet<'static>,
    dhcp: Option<SocketHandle>,
}

/// What the outer stack's DHCP client learned.
pub enum DhcpNews {
    /// A lease: our address and the default router.
    Leased(IpCidr, Option<core::net::Ipv4Addr>),
    /// The lease was lost.
    Lost,
}

impl Stack {
    /// The outer interface: static addresses or a DHCPv4 client, and the default route.
    pub fn outer<T: TxRing>(
        tx: &mut T,
        mac: [u8; 6],
        config: &GatewayConfig,
        seed: u64,
        now: Instant,
    ) -> Result<Stack, String> {
        let static_cidrs: &[IpCidr] = match &config.outer.address {
            OuterAddress::Static(cidrs) => cidrs,
            OuterAddress::Dhcp => &[],
        };
        let mut iface = interface(tx, mac, static_cidrs, seed, now);
        if let Some(gateway) = config.outer.gateway {
            let added = match IpAddress::from(gateway) {
                IpAddress::Ipv4(v4) => iface.routes_mut().add_default_ipv4_route(v4).map(|_| ()),
                IpAddress::Ipv6(v6) => iface.routes_mut().add_default_ipv6_route(v6).map(|_| ()),
            };
            if added.is_err() {
                return Err("cannot add the default route".into());
            }
        }
        let mut sockets = SocketSet::new(vec![]);
        let dhcp = matches!(config.outer.address, OuterAddress::Dhcp)
            .then(|| sockets.add(dhcpv4::Socket::new()));
        Ok(Stack {
            iface,
            sockets,
            dhcp,
        })
    }

    /// The inner interface: answers ARP/NDP and ping on the LAN addresses.
    pub fn inner<T: TxRing>(
        tx: &mut T,
        mac: [u8; 6],
        config: &GatewayConfig,
        seed: u64,
        now: Instant,
    ) -> Stack {
        Stack {
            iface: interface(tx, mac, &config.inner.addresses, seed, now),
            sockets: SocketSet::new(vec![]),
            dhcp: None,
        }
    }

    /// Runs the stack, offering it `frame` (if any).
    pub fn poll<T: TxRing>(&mut self, tx: &mut T, frame: Option<&[u8]>, now: Instant) {
        let mut device = StackDevice::new(tx, frame);
        self.iface
            .poll(stack_time(now), &mut device, &mut self.sockets);
    }

    /// When the stack next wants to run without a new frame.
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.iface
            .poll_at(stack_time(now), &self.sockets)
            .map(|at| Instant::from_nanos((at.total_micros().max(0) as u64).saturating_mul(1000)))
    }

    /// Applies what the DHCP client learned, if anything changed.
    pub fn update_dhcp(&mut self) -> Option<DhcpNews> {
        let handle = self.dhcp?;
        match self.sockets.get_mut::<dhcpv4::Socket>(handle).poll() {
            None => None,
            Some(dhcpv4::Event::Configured(lease)) => {
                log::info!(
                    "dhcp: address {} (router {:?})",
                    lease.address,
                    lease.router
                );
                self.iface.update_ip_addrs(|addrs| {
                    addrs.retain(|a| !matches!(a, StackCidr::Ipv4(_)));
                    let _ = addrs.push(StackCidr::Ipv4(lease.address));
                });
                self.iface.routes_mut().remove_default_ipv4_route();
                if let Some(router) = lease.router {
                    let _ = self.iface.routes_mut().add_default_ipv4_route(router);
                }
                let cidr = IpCidr::new(
                    core::net::IpAddr::V4(lease.address.address()),
                    lease.address.prefix_len(),
                )
                .ok()?;
                Some(DhcpNews::Leased(cidr, lease.router))
            }
            Some(dhcpv4::Event::Deconfigured) => {
                log::warn!("dhcp: lease lost; outer IPv4 address removed");
                self.iface
                    .update_ip_addrs(|addrs| addrs.retain(|a| !matches!(a, StackCidr::Ipv4(_))));
                self.iface.routes_mut().remove_default_ipv4_route();
                Some(DhcpNews::Lost)
            }
        }
    }
}

/// The static outer addresses of `config` (none with DHCP).
pub fn static_outer(config: &GatewayConfig) -> Vec<IpCidr> {
    match &config.outer.address {
        OuterAddress::Static(cidrs) => cidrs.clone(),
        OuterAddress::Dhcp => Vec::new(),
    }
}
