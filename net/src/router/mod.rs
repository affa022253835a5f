//! The gateway's IP router: forwarding between the LAN and the WireGuard
//! peers, ICMP errors, IPv4 fragmentation, and LAN neighbor resolution.
//!
//! smoltcp's `Interface` answers ARP, NDP and pings for the gateway but does
//! not forward between interfaces, so the kernel splits traffic itself and
//! hands forwarded packets to this module. Everything here is sans-IO: the
//! caller passes packets, buffers and the current [`Instant`](crate::time::Instant)
//! in, and gets verdicts and frames back; nothing allocates after construction.
//!
//! * [`Router`] decides where a packet goes ([`LanVerdict`], [`TunnelVerdict`]),
//!   decrements its TTL, and builds ICMP errors ([`build_error`]) within an
//!   [`IcmpRateLimiter`] budget.
//! * [`fragment_ipv4`] splits IPv4 packets without DF that exceed an MTU.
//! * [`NeighborCache`] maps LAN next hops to MAC addresses and holds packets
//!   while it asks.
//!
//! ## Address policy
//!
//! Only packets whose source lies in one of the LAN subnets (and is not the
//! gateway's own or a broadcast address) are forwarded into the tunnel, so
//! the gateway relays nothing for spoofed or foreign sources. Packets from
//! the tunnel must not claim a LAN or gateway source, and are forwarded only
//! to LAN hosts: the gateway does not relay between peers. Multicast and
//! broadcast are never forwarded, and are dropped without an ICMP error.
//! Packets to the gateway's own addresses are [`LanVerdict::Local`] /
//! [`TunnelVerdict::Local`], for smoltcp. Nothing leaves the outer NIC
//! unencrypted: the router's only outputs are the tunnel (the engine
//! encrypts) and the LAN.

pub(crate) mod checksum;
mod forward;
mod fragment;
mod header;
mod hold_queue;
mod icmp;
mod link;
mod neighbor;
mod stats;

pub use forward::{LanVerdict, Router, RouterConfig, TunnelVerdict};
pub use fragment::{fragment_ipv4, FragmentError};
pub use icmp::{
    build_error, error_allowed, IcmpErrorKind, IcmpRateLimiter, IcmpSuppressed, ERROR_BUFFER_LEN,
    IPV4_ERROR_MAX_LEN, IPV6_ERROR_MAX_LEN,
};
pub use link::{write_ethernet_header, FramingError};
pub use neighbor::{HoldError, NeighborCache, NeighborConfig, NeighborStats, Resolution};
pub use stats::{DropReason, RouterStats};

/// The Ethernet address type used by the neighbor cache (smoltcp's).
pub use smoltcp::wire::EthernetAddress;
