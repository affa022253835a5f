//! The outer link as the fast path sees it: our addresses (static, or
//! leased by DHCP), the next hop towards each endpoint, the neighbor cache
//! that resolves it, and a per-peer cache of the finished outer route so a
//! packet costs no table search.

use alloc::vec;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::time::Duration;

use super::outer_frame::{OuterIdentity, OuterRoute};
use crate::allowed_ips::IpCidr;
use crate::engine::PeerId;
use crate::router::{EthernetAddress, NeighborCache, NeighborConfig, Resolution};
use crate::time::Instant;

/// How long a peer's cached route is used before the neighbor cache is
/// asked again (which is what notices a stale MAC and re-probes it).
const ROUTE_CACHE_LIFETIME: Duration = Duration::from_millis(500);

/// Where a datagram to an endpoint goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextHop {
    /// Send it with these addresses and MACs now.
    Ready(OuterRoute),
    /// The next hop's MAC is being resolved: hold the datagram for `IpAddr`.
    Pending(SocketAddr, IpAddr),
    /// No address of the endpoint's family, no route, or the next hop
    /// cannot be resolved.
    Unreachable,
}

#[derive(Clone, Copy)]
struct CachedRoute {
    route: OuterRoute,
    expires: Instant,
}

/// The outer link.
pub struct Wan {
    mac: [u8; 6],
    listen_port: u16,
    /// Our addresses with their prefixes (static, or the DHCP lease).
    addresses: Vec<IpCidr>,
    gateway_v4: Option<Ipv4Addr>,
    gateway_v6: Option<Ipv6Addr>,
    /// Resolves next hops (ARP/NDP) and holds datagrams meanwhile.
    pub neighbors: NeighborCache,
    routes: Vec<Option<CachedRoute>>,
    next_ipv4_id: u16,
}

impl Wan {
    /// The outer link with these addresses and default routers, for `peers` peers.
    pub fn new(
        mac: [u8; 6],
        listen_port: u16,
        addresses: Vec<IpCidr>,
        gateway: Option<IpAddr>,
        peers: usize,
    ) -> Wan {
        let mut wan = Wan {
            mac,
            listen_port,
            addresses: Vec::new(),
            gateway_v4: None,
            gateway_v6: None,
            neighbors: NeighborCache::new(NeighborConfig::new(EthernetAddress(mac), None, None)),
            routes: vec![None; peers],
            next_ipv4_id: 0,
        };
        match gateway {
            Some(IpAddr::V4(v4)) => wan.gateway_v4 = Some(v4),
            Some(IpAddr::V6(v6)) => wan.gateway_v6 = Some(v6),
            None => {}
        }
        wan.set_addresses(addresses);
        wan
    }

    /// Replaces our addresses (a DHCP lease came or went).
    pub fn set_addresses(&mut self, addresses: Vec<IpCidr>) {
        let v4 = addresses.iter().find_map(|c| match c.addr() {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        });
        let v6 = addresses.iter().find_map(|c| match c.addr() {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        });
        self.neighbors.set_own_addresses(v4, v6);
        self.addresses = addresses;
        self.forget_routes();
    }

    /// Changes the listen port (cached routes carry the source port: forget them).
    pub fn set_listen_port(&mut self, port: u16) {
        self.listen_port = port;
        self.forget_routes();
    }

    /// Our MAC on the outer link.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Our addresses now.
    pub fn addresses(&self) -> &[IpCidr] {
        &self.addresses
    }

    /// Replaces the IPv4 default router (from DHCP).
    pub fn set_ipv4_gateway(&mut self, gateway: Option<Ipv4Addr>) {
        self.gateway_v4 = gateway;
        self.forget_routes();
    }

    /// Keeps one route-cache slot per peer as peers come and go. (A slot
    /// left by a renumbered peer is harmless: a cached route depends only on
    /// the endpoint it was made for, which every use checks.)
    pub fn track_peers(&mut self, peers: usize) {
        if self.routes.len() != peers {
            self.routes.resize(peers, None);
        }
    }

    fn forget_routes(&mut self) {
        self.routes.iter_mut().for_each(|r| *r = None);
    }

    /// The ID field for the next IPv4 datagram.
    pub fn take_ipv4_id(&mut self) -> u16 {
        self.next_ipv4_id = self.next_ipv4_id.wrapping_add(1);
        self.next_ipv4_id
    }

    /// Our address and port to send to `to` from, if we have one of its family.
    pub fn source_for(&self, to: SocketAddr) -> Option<SocketAddr> {
        self.addresses
            .iter()
            .find(|c| c.is_ipv4() == to.is_ipv4())
            .map(|c| SocketAddr::new(c.addr(), self.listen_port))
    }

    fn next_hop_ip(&self, to: IpAddr) -> Option<IpAddr> {
        if self.addresses.iter().any(|c| c.contains(to)) {
            return Some(to);
        }
        match to {
            IpAddr::V4(_) => self.gateway_v4.map(IpAddr::V4),
            IpAddr::V6(_) => self.gateway_v6.map(IpAddr::V6),
        }
    }

    /// The route to `to`, for a datagram from `peer` (its cached route if
    /// still fresh and for the same endpoint).
    pub fn route(&mut self, peer: Option<PeerId>, to: SocketAddr, now: Instant) -> NextHop {
        let slot = peer.and_then(|p| self.routes.get(p.index()).copied().flatten());
        if let Some(cached) = slot {
            if cached.route.to == to && now < cached.expires {
                return NextHop::Ready(cached.route);
            }
        }
        let Some(from) = self.source_for(to) else {
            return NextHop::Unreachable;
        };
        let Some(hop) = self.next_hop_ip(to.ip()) else {
            return NextHop::Unreachable;
        };
        match self.neighbors.resolve(hop, now) {
            Resolution::Known(mac) => {
                let route = OuterRoute {
                    from,
                    to,
                    src_mac: self.mac,
                    dst_mac: mac.0,
                };
                if let Some(slot) = peer.and_then(|p| self.routes.get_mut(p.index())) {
                    *slot = Some(CachedRoute {
                        route,
                        expires: now.saturating_add(ROUTE_CACHE_LIFETIME),
                    });
                }
                NextHop::Ready(route)
            }
            Resolution::Pending => NextHop::Pending(from, hop),
            Resolution::Unresolvable => NextHop::Unreachable,
        }
    }
}

impl OuterIdentity for Wan {
    fn is_ours(&self, addr: IpAddr) -> bool {
        self.addresses.iter().any(|c| c.addr() == addr)
    }

    fn listen_port(&self) -> u16 {
        self.listen_port
    }
}
