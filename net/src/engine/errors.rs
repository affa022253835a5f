//! Why an engine could not be built from a configuration.

use core::fmt;

use crate::allowed_ips::AllowedIpsError;

/// Configuration problems [`Engine::new`](super::Engine::new) and
/// [`Engine::from_config`](super::Engine::from_config) refuse, naming the peer (its position
/// in the list, from 0) where it applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineError {
    /// The peer's public key is our own public key.
    PeerIsOwnKey {
        /// Position of the peer.
        peer: usize,
    },
    /// Two peers have the same public key.
    DuplicatePeer {
        /// Position of the second occurrence.
        peer: usize,
    },
    /// More peers than a [`PeerId`](super::PeerId) can name, or than the index table holds.
    TooManyPeers,
    /// The MTU is outside what the configuration accepts (576..=9000).
    InvalidMtu,
    /// A persistent keepalive interval of zero or more than 65535 s.
    InvalidKeepalive {
        /// Position of the peer.
        peer: usize,
    },
    /// The allowed-IPs table could not be built.
    AllowedIps(AllowedIpsError),
    /// No peer has this id.
    UnknownPeer,
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::PeerIsOwnKey { peer } => {
                write!(
                    f,
                    "peer {peer}: public key is the interface's own public key"
                )
            }
            EngineError::DuplicatePeer { peer } => {
                write!(f, "peer {peer}: public key already used by an earlier peer")
            }
            EngineError::TooManyPeers => f.write_str("too many peers"),
            EngineError::UnknownPeer => f.write_str("no such peer"),
            EngineError::InvalidMtu => f.write_str("MTU out of range (576..=9000)"),
            EngineError::InvalidKeepalive { peer } => {
                write!(f, "peer {peer}: persistent keepalive must be 1..=65535 s")
            }
            EngineError::AllowedIps(e) => write!(f, "allowed IPs: {e}"),
        }
    }
}

impl core::error::Error for EngineError {}
