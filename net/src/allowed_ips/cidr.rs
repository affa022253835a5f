//! `IpCidr`: an IP address with a prefix length, the crate's one CIDR type.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

/// An IPv4 or IPv6 address with a prefix length, as in `10.0.0.1/24`.
///
/// The address keeps its host bits: `10.0.0.1/24` names the interface
/// address `10.0.0.1` on the subnet `10.0.0.0/24`. Use [`IpCidr::network`]
/// for the subnet itself. The prefix length never exceeds 32 for IPv4 or 128
/// for IPv6; the constructors enforce it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpCidr {
    addr: IpAddr,
    prefix_len: u8,
}

/// Why a CIDR could not be built or parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CidrError {
    /// The part before `/` is not an IPv4 or IPv6 address literal.
    InvalidAddress,
    /// The part after `/` is not a decimal number.
    InvalidPrefixLength,
    /// The prefix length is longer than the address (32 bits for IPv4, 128 for IPv6).
    PrefixTooLong {
        /// The longest prefix the address family allows.
        max: u8,
    },
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::InvalidAddress => f.write_str("not an IP address"),
            CidrError::InvalidPrefixLength => f.write_str("prefix length is not a number"),
            CidrError::PrefixTooLong { max } => {
                write!(f, "prefix length is longer than {max} bits")
            }
        }
    }
}

impl core::error::Error for CidrError {}

impl IpCidr {
    /// `addr/prefix_len`, or an error if the prefix is longer than the address.
    pub const fn new(addr: IpAddr, prefix_len: u8) -> Result<IpCidr, CidrError> {
        let max = max_prefix_len(&addr);
        if prefix_len > max {
            return Err(CidrError::PrefixTooLong { max });
        }
        Ok(IpCidr { addr, prefix_len })
    }

    /// The single-address prefix `addr/32` or `addr/128`.
    pub const fn host(addr: IpAddr) -> IpCidr {
        IpCidr {
            addr,
            prefix_len: max_prefix_len(&addr),
        }
    }

    /// The address, host bits included.
    pub const fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether this is an IPv4 prefix.
    pub const fn is_ipv4(&self) -> bool {
        matches!(self.addr, IpAddr::V4(_))
    }

    /// Whether this is an IPv6 prefix.
    pub const fn is_ipv6(&self) -> bool {
        matches!(self.addr, IpAddr::V6(_))
    }

    /// The same prefix with host bits cleared: `10.0.0.1/24` becomes `10.0.0.0/24`.
    pub fn network(&self) -> IpCidr {
        let addr = match self.addr {
            IpAddr::V4(v4) => {
                IpAddr::V4(Ipv4Addr::from_bits(v4.to_bits() & v4_mask(self.prefix_len)))
            }
            IpAddr::V6(v6) => {
                IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & v6_mask(self.prefix_len)))
            }
        };
        IpCidr {
            addr,
            prefix_len: self.prefix_len,
        }
    }

    /// Whether `addr` lies inside this prefix. Addresses of the other family never do.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = v4_mask(self.prefix_len);
                net.to_bits() & mask == a.to_bits() & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = v6_mask(self.prefix_len);
                net.to_bits() & mask == a.to_bits() & mask
            }
            _ => false,
        }
    }
}

/// 32 for IPv4, 128 for IPv6.
pub(crate) const fn max_prefix_len(addr: &IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// Netmask with the top `len` of 32 bits set; `len` must be at most 32.
fn v4_mask(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

/// Netmask with the top `len` of 128 bits set; `len` must be at most 128.
fn v6_mask(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for IpCidr {
    type Err = CidrError;

    /// Parses `addr/len`, or a bare `addr` as a host prefix (as wg(8) does).
    fn from_str(text: &str) -> Result<IpCidr, CidrError> {
        let (addr_text, len_text) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text, None),
        };
        let addr = IpAddr::from_str(addr_text).map_err(|_| CidrError::InvalidAddress)?;
        let Some(len_text) = len_text else {
            return Ok(IpCidr::host(addr));
        };
        // `u8::from_str` would accept "+8"; a prefix length is plain digits.
        // Three digits at most keeps "0000000024" from sneaking through too.
        if len_text.is_empty()
            || len_text.len() > 3
            || !len_text.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(CidrError::InvalidPrefixLength);
        }
        let len = u16::from_str(len_text).map_err(|_| CidrError::InvalidPrefixLength)?;
        let max = max_prefix_len(&addr);
        if len > u16::from(max) {
            return Err(CidrError::PrefixTooLong { max });
        }
        IpCidr::new(addr, len as u8)
    }
}
