//! What a `get` reports: a plain struct the engine (or [`super::Model::snapshot`]) fills.

use alloc::string::String;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use crypto::{PresharedKey, PrivateKey, PublicKey};

use crate::allowed_ips::IpCidr;

/// Prefix of the keys this gateway adds to a `get` reply. `wg(8)` ignores keys it does not
/// know (wireguard-tools `ipc-uapi.h`: unknown keys fall through its if-chain), and no
/// WireGuard implementation uses keys starting with `x_`.
pub const EXTENSION_PREFIX: &str = "x_wgate_";

/// The device and its peers as one `get` reports them.
///
/// `Debug` never prints the private or preshared keys.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Our private key; omitted from the reply when `None`.
    pub private_key: Option<PrivateKey>,
    /// Listen port; omitted when 0.
    pub listen_port: u16,
    /// Fwmark; omitted when 0.
    pub fwmark: u32,
    /// Counters of our own (per NIC, per drop reason, ...), written as
    /// `x_wgate_<name>=<value>` lines after the device keys. Names are sanitised to
    /// `[a-z0-9_]` and cut at [`MAX_EXTENSION_NAME`] bytes.
    pub extensions: Vec<(String, u64)>,
    /// The peers, in the order to report them.
    pub peers: Vec<PeerSnapshot>,
}

/// Longest extension name written (longer names are cut).
pub const MAX_EXTENSION_NAME: usize = 96;

/// One peer of a [`Snapshot`].
#[derive(Debug, Clone)]
pub struct PeerSnapshot {
    /// The peer's public key.
    pub public_key: PublicKey,
    /// Its preshared key; all zeros for none (reported as zeros, like wireguard-go).
    pub preshared_key: PresharedKey,
    /// Where we send to now, if known.
    pub endpoint: Option<SocketAddr>,
    /// Wall-clock time of the last handshake since the Unix epoch; zero if none.
    pub last_handshake: Duration,
    /// Bytes received from the peer.
    pub rx_bytes: u64,
    /// Bytes sent to the peer.
    pub tx_bytes: u64,
    /// Seconds between keepalives; 0 is off.
    pub persistent_keepalive_interval: u16,
    /// The allowed IPs, written with host bits cleared.
    pub allowed_ips: Vec<IpCidr>,
}

impl PeerSnapshot {
    /// A peer with nothing but its key.
    pub fn new(public_key: PublicKey) -> PeerSnapshot {
        PeerSnapshot {
            public_key,
            preshared_key: PresharedKey::default(),
            endpoint: None,
            last_handshake: Duration::ZERO,
            rx_bytes: 0,
            tx_bytes: 0,
            persistent_keepalive_interval: 0,
            allowed_ips: Vec::new(),
        }
    }
}
