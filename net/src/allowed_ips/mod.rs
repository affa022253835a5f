//! Cryptokey routing: which peer owns which inner IP addresses.
//!
//! WireGuard ties every tunnelled address to exactly one peer. Outgoing, the
//! destination address picks the peer to encrypt for; incoming, a decrypted
//! packet is dropped unless its source address maps back to the peer that
//! sent it. Both are a longest-prefix match in [`AllowedIps`].
//!
//! The table is built at configuration time (that is when it allocates);
//! [`AllowedIps::lookup`] only reads, so it is safe on the per-packet path.
//! It holds separate tries for IPv4 and IPv6, so `0.0.0.0/0` never matches an
//! IPv6 address and vice versa.

mod cidr;
mod trie;

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use cidr::{CidrError, IpCidr};
use trie::Trie;

/// Why a prefix could not be added to an [`AllowedIps`] table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllowedIpsError {
    /// The allocator could not provide memory for the new trie nodes.
    OutOfMemory,
    /// The table already holds as many nodes as its `u32` indices can address.
    TooManyEntries,
}

impl fmt::Display for AllowedIpsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowedIpsError::OutOfMemory => f.write_str("out of memory for the allowed IPs table"),
            AllowedIpsError::TooManyEntries => f.write_str("too many allowed IPs entries"),
        }
    }
}

impl core::error::Error for AllowedIpsError {}

/// Longest-prefix-match table from IP prefixes to peers.
///
/// `T` is whatever names a peer for the caller, typically a small index.
#[derive(Clone, Debug)]
pub struct AllowedIps<T> {
    v4: Trie<T>,
    v6: Trie<T>,
}

impl<T: Copy + Eq> Default for AllowedIps<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// An IPv4 address as a left-aligned 128-bit trie key.
fn v4_key(addr: Ipv4Addr) -> u128 {
    u128::from(addr.to_bits()) << 96
}

/// The address a left-aligned IPv4 trie key stands for.
fn v4_from_key(key: u128) -> Ipv4Addr {
    Ipv4Addr::from_bits((key >> 96) as u32)
}

impl<T: Copy + Eq> AllowedIps<T> {
    /// An empty table. Allocates nothing until the first insert.
    pub const fn new() -> AllowedIps<T> {
        AllowedIps {
            v4: Trie::new(),
            v6: Trie::new(),
        }
    }

    /// Routes `cidr` to `peer`, returning the peer it was routed to before.
    ///
    /// Host bits are ignored: `10.0.0.7/24` is the prefix `10.0.0.0/24`.
    /// A prefix belongs to one peer only, so inserting a prefix that another
    /// peer had moves it to `peer` (and returns the other peer). On error the
    /// table is unchanged.
    pub fn insert(&mut self, cidr: IpCidr, peer: T) -> Result<Option<T>, AllowedIpsError> {
        match cidr.addr() {
            IpAddr::V4(addr) => self.v4.insert(v4_key(addr), cidr.prefix_len(), peer),
            IpAddr::V6(addr) => self.v6.insert(addr.to_bits(), cidr.prefix_len(), peer),
        }
    }

    /// Removes exactly the prefix `cidr` (host bits ignored), returning its peer.
    pub fn remove(&mut self, cidr: IpCidr) -> Option<T> {
        match cidr.addr() {
            IpAddr::V4(addr) => self.v4.remove(v4_key(addr), cidr.prefix_len()),
            IpAddr::V6(addr) => self.v6.remove(addr.to_bits(), cidr.prefix_len()),
        }
    }

    /// Removes every prefix routed to `peer`; returns how many there were.
    ///
    /// Takes time proportional to the table size, not to the peer's share:
    /// it is meant for configuration changes, not the packet path.
    pub fn remove_peer(&mut self, peer: T) -> usize {
        self.v4.remove_value(peer) + self.v6.remove_value(peer)
    }

    /// Lays the table out again for faster lookups, once it is built.
    ///
    /// Lookups chase one node per prefix bit that matters; after many
    /// inserts those nodes are scattered in insertion order. This rewrites
    /// them depth-first, so the nodes of a subtree are neighbours in memory
    /// and a lookup touches fewer cache lines. Call it after loading the
    /// configuration; the result is the same table. Allocates a new copy of
    /// the nodes; on error the table is unchanged.
    pub fn compact(&mut self) -> Result<(), AllowedIpsError> {
        self.v4.compact()?;
        self.v6.compact()
    }

    /// Removes every prefix.
    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
    }

    /// The peer for exactly the prefix `cidr` (host bits ignored), if any.
    pub fn get(&self, cidr: IpCidr) -> Option<T> {
        match cidr.addr() {
            IpAddr::V4(addr) => self.v4.get(v4_key(addr), cidr.prefix_len()),
            IpAddr::V6(addr) => self.v6.get(addr.to_bits(), cidr.prefix_len()),
        }
    }

    /// The peer owning `addr`: the one with the most specific matching prefix.
    pub fn lookup(&self, addr: IpAddr) -> Option<T> {
        match addr {
            IpAddr::V4(addr) => self.lookup_v4(addr),
            IpAddr::V6(addr) => self.lookup_v6(addr),
        }
    }

    /// [`AllowedIps::lookup`] for an IPv4 address.
    pub fn lookup_v4(&self, addr: Ipv4Addr) -> Option<T> {
        self.v4.lookup(v4_key(addr))
    }

    /// [`AllowedIps::lookup`] for an IPv6 address.
    pub fn lookup_v6(&self, addr: Ipv6Addr) -> Option<T> {
        self.v6.lookup(addr.to_bits())
    }

    /// Number of prefixes in the table.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether the table holds no prefix.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every `(prefix, peer)`: IPv4 first, each family in address order with
    /// shorter prefixes before the longer ones inside them.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter {
            v4: self.v4.iter(),
            v6: self.v6.iter(),
        }
    }

    /// The prefixes routed to `peer`, in the order of [`AllowedIps::iter`].
    ///
    /// Walks the whole table; meant for configuration dumps.
    pub fn prefixes_of(&self, peer: T) -> impl Iterator<Item = IpCidr> + '_ {
        self.iter()
            .filter(move |&(_, owner)| owner == peer)
            .map(|(cidr, _)| cidr)
    }
}

impl<'a, T: Copy + Eq> IntoIterator for &'a AllowedIps<T> {
    type Item = (IpCidr, T);
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

/// Iterator over the entries of an [`AllowedIps`]; see [`AllowedIps::iter`].
pub struct Iter<'a, T> {
    v4: trie::Iter<'a, T>,
    v6: trie::Iter<'a, T>,
}

impl<T: Copy + Eq> Iterator for Iter<'_, T> {
    type Item = (IpCidr, T);

    fn next(&mut self) -> Option<(IpCidr, T)> {
        // Trie prefix lengths never exceed the family maximum, so the
        // fallback to a host prefix is unreachable in practice; it merely
        // avoids a panic path.
        if let Some((key, len, peer)) = self.v4.next() {
            let addr = IpAddr::V4(v4_from_key(key));
            let cidr = IpCidr::new(addr, len).unwrap_or(IpCidr::host(addr));
            return Some((cidr, peer));
        }
        let (key, len, peer) = self.v6.next()?;
        let addr = IpAddr::V6(Ipv6Addr::from_bits(key));
        let cidr = IpCidr::new(addr, len).unwrap_or(IpCidr::host(addr));
        Some((cidr, peer))
    }
}
