//! The gateway's configuration file.
//!
//! It is a standard WireGuard configuration (the format of `wg setconf` and
//! `wg-quick`) with two more sections describing the gateway's NICs:
//!
//! ```text
//! [Interface]
//! PrivateKey = <base64>
//! ListenPort = 51820          # default 51820
//! Address = 10.8.0.1/24, fd08::1/64
//! MTU = 1420                  # default 1420
//!
//! [Peer]                      # zero or more
//! PublicKey = <base64>
//! PresharedKey = <base64>     # optional
//! AllowedIPs = 10.8.0.2/32, fd08::2/128
//! Endpoint = 192.0.2.7:51820  # IP literals only
//! PersistentKeepalive = 25    # or off
//!
//! [Outer]                     # the internet-facing NIC
//! Address = 198.51.100.10/24  # or dhcp
//! Gateway = 198.51.100.1
//! MAC = 02:00:00:00:00:01
//!
//! [Inner]                     # the LAN-facing NIC
//! Address = 192.168.1.1/24
//! MAC = 02:00:00:00:00:02
//! ```
//!
//! Keys and section names are case-insensitive, `#` starts a comment
//! anywhere on a line, and blank lines are ignored. Keys that only
//! `wg-quick` uses to configure a Linux host (`DNS`, `Table`, `PreUp`,
//! `PostUp`, `PreDown`, `PostDown`, `SaveConfig`) and `FwMark` have no
//! meaning in the gateway; they are accepted in `[Interface]` so that an
//! existing file works, and listed in [`GatewayConfig::ignored_keys`] so the
//! caller can tell the user. Every other unknown key is an error.
//!
//! A `[Peer]` whose public key is the interface's own is checked like any
//! other, then left out of [`GatewayConfig::peers`] and listed in
//! [`GatewayConfig::ignored_peers`], as Linux and wireguard-go ignore it: a
//! file shared by every member of a mesh then works on each of them.

mod error;
mod parser;
mod values;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, SocketAddr};
use core::num::NonZeroU16;

/// The key types are `crypto`'s: the parser decodes straight into them
/// (constant-time base64, wiped on drop, never printed).
pub use crypto::constants::KEY_LEN;
pub use crypto::{PresharedKey, PrivateKey, PublicKey};
pub use error::{ConfigError, ConfigErrorKind, ConfigKey, Section};
pub use parser::parse;
pub use values::MacAddress;

use crate::allowed_ips::IpCidr;

/// `ListenPort` when the file gives none.
pub const DEFAULT_LISTEN_PORT: u16 = 51820;
/// `MTU` when the file gives none: 1500 minus the 80 bytes of WireGuard
/// over IPv6 overhead, as wg-quick picks.
pub const DEFAULT_MTU: u16 = 1420;
/// The smallest MTU accepted (the minimum IPv4 datagram every host must take).
pub const MIN_MTU: u16 = 576;
/// The smallest MTU accepted when the tunnel carries IPv6.
pub const MIN_MTU_IPV6: u16 = 1280;
/// The largest MTU accepted (jumbo frames).
pub const MAX_MTU: u16 = 9000;

/// A parsed and validated configuration file.
#[derive(Debug)]
pub struct GatewayConfig {
    /// The `[Interface]` section.
    pub interface: InterfaceConfig,
    /// The `[Peer]` sections, in file order.
    pub peers: Vec<PeerConfig>,
    /// The `[Outer]` section.
    pub outer: OuterConfig,
    /// The `[Inner]` section.
    pub inner: InnerConfig,
    /// wg-quick-only keys that were accepted but have no effect.
    pub ignored_keys: Vec<IgnoredKey>,
    /// `[Peer]` sections left out of [`GatewayConfig::peers`] because their
    /// public key is our own (Linux and wireguard-go ignore such a peer too).
    pub ignored_peers: Vec<IgnoredPeer>,
}

/// The `[Interface]` section: this WireGuard endpoint.
#[derive(Debug)]
pub struct InterfaceConfig {
    /// Our static private key (never all-zero before clamping).
    pub private_key: PrivateKey,
    /// UDP port to receive on, on the outer NIC (1..=65535; wg(8)'s `0`,
    /// "pick any port", is refused: a gateway's peers need a fixed port).
    pub listen_port: u16,
    /// Our own addresses inside the tunnel (may be empty).
    pub addresses: Vec<IpCidr>,
    /// MTU of the tunnel, i.e. the largest inner packet.
    pub mtu: u16,
}

/// A `[Peer]` section.
#[derive(Debug)]
pub struct PeerConfig {
    /// The peer's static public key, unique among peers.
    pub public_key: PublicKey,
    /// Optional extra symmetric key mixed into handshakes.
    pub preshared_key: Option<PresharedKey>,
    /// Inner addresses routed to this peer and accepted from it.
    pub allowed_ips: Vec<IpCidr>,
    /// Where to send to before the peer has been heard from.
    pub endpoint: Option<SocketAddr>,
    /// Seconds between keepalives when idle; `None` means off.
    pub persistent_keepalive: Option<NonZeroU16>,
}

/// The `[Outer]` section: the internet-facing NIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OuterConfig {
    /// How the NIC gets its addresses.
    pub address: OuterAddress,
    /// Default router for traffic to peers, if statically configured.
    pub gateway: Option<IpAddr>,
    /// MAC address that identifies which NIC is the outer one.
    pub mac: Option<MacAddress>,
}

/// How the outer NIC is addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OuterAddress {
    /// Ask a DHCP server.
    Dhcp,
    /// These addresses (never empty).
    Static(Vec<IpCidr>),
}

/// The `[Inner]` section: the LAN-facing NIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InnerConfig {
    /// The gateway's addresses on the LAN (never empty).
    pub addresses: Vec<IpCidr>,
    /// MAC address that identifies which NIC is the inner one.
    pub mac: Option<MacAddress>,
}

/// A key that was accepted for compatibility but does nothing here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredKey {
    /// 1-based line number.
    pub line: usize,
    /// The key as written.
    pub key: String,
}

/// A `[Peer]` that was left out because its public key is our own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredPeer {
    /// 1-based line number of its `PublicKey`.
    pub line: usize,
}

/// Writes `Key = a, b, c` if the list is not empty.
fn write_list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, key: &str, items: &[T]) -> fmt::Result {
    if items.is_empty() {
        return Ok(());
    }
    write!(f, "{key} = ")?;
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    writeln!(f)
}

impl fmt::Display for GatewayConfig {
    /// The configuration in file syntax, secrets shown as `<redacted>`:
    /// suitable for logs, not for saving.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let interface = &self.interface;
        writeln!(f, "[Interface]")?;
        writeln!(f, "PrivateKey = <redacted>")?;
        writeln!(f, "ListenPort = {}", interface.listen_port)?;
        write_list(f, "Address", &interface.addresses)?;
        writeln!(f, "MTU = {}", interface.mtu)?;
        for peer in &self.peers {
            writeln!(f, "\n[Peer]")?;
            writeln!(f, "PublicKey = {}", peer.public_key)?;
            if peer.preshared_key.is_some() {
                writeln!(f, "PresharedKey = <redacted>")?;
            }
            write_list(f, "AllowedIPs", &peer.allowed_ips)?;
            if let Some(endpoint) = peer.endpoint {
                writeln!(f, "Endpoint = {endpoint}")?;
            }
            if let Some(seconds) = peer.persistent_keepalive {
                writeln!(f, "PersistentKeepalive = {seconds}")?;
            }
        }
        writeln!(f, "\n[Outer]")?;
        match &self.outer.address {
            OuterAddress::Dhcp => writeln!(f, "Address = dhcp")?,
            OuterAddress::Static(addresses) => write_list(f, "Address", addresses)?,
        }
        if let Some(gateway) = self.outer.gateway {
            writeln!(f, "Gateway = {gateway}")?;
        }
        if let Some(mac) = self.outer.mac {
            writeln!(f, "MAC = {mac}")?;
        }
        writeln!(f, "\n[Inner]")?;
        write_list(f, "Address", &self.inner.addresses)?;
        if let Some(mac) = self.inner.mac {
            writeln!(f, "MAC = {mac}")?;
        }
        Ok(())
    }
}
