//! Parsers for individual configuration values.
//!
//! Each returns the [`ConfigErrorKind`] to report; the caller adds the line.

use alloc::string::ToString;
use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, SocketAddr};
use core::num::NonZeroU16;
use core::str::FromStr;

use super::error::{ConfigErrorKind, ConfigKey};
use super::{MAX_MTU, MIN_MTU};
use crate::allowed_ips::{CidrError, IpCidr};

/// An Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddress(pub [u8; 6]);

impl MacAddress {
    /// Whether this is a group (multicast or broadcast) address.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddress({self})")
    }
}

impl FromStr for MacAddress {
    type Err = ();

    /// Parses six colon-separated pairs of hex digits, like `02:00:5e:10:00:01`.
    fn from_str(text: &str) -> Result<MacAddress, ()> {
        let mut octets = [0u8; 6];
        let mut parts = text.split(':');
        for octet in &mut octets {
            let part = parts.next().ok_or(())?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(());
            }
            *octet = u8::from_str_radix(part, 16).map_err(|_| ())?;
        }
        if parts.next().is_some() {
            return Err(());
        }
        Ok(MacAddress(octets))
    }
}

/// A decimal number of at most `max_digits` plain ASCII digits (no sign).
fn parse_decimal(text: &str, max_digits: usize) -> Option<u32> {
    if text.is_empty() || text.len() > max_digits || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    u32::from_str(text).ok()
}

/// A UDP port, 1..=65535.
pub(crate) fn parse_port(key: ConfigKey, text: &str) -> Result<u16, ConfigErrorKind> {
    parse_decimal(text, 5)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|&port| port != 0)
        .ok_or_else(|| ConfigErrorKind::InvalidPort {
            key,
            value: text.to_string(),
        })
}

/// An MTU in [`MIN_MTU`]..=[`MAX_MTU`]. The IPv6 minimum is checked later,
/// once the whole file shows whether the tunnel carries IPv6.
pub(crate) fn parse_mtu(text: &str) -> Result<u16, ConfigErrorKind> {
    let mtu =
        parse_decimal(text, 9).ok_or_else(|| ConfigErrorKind::InvalidMtu(text.to_string()))?;
    u16::try_from(mtu)
        .ok()
        .filter(|mtu| (MIN_MTU..=MAX_MTU).contains(mtu))
        .ok_or(ConfigErrorKind::MtuOutOfRange(mtu))
}

/// `off`, or 0..=65535 seconds where 0 also means off.
pub(crate) fn parse_keepalive(text: &str) -> Result<Option<NonZeroU16>, ConfigErrorKind> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    parse_decimal(text, 5)
        .and_then(|n| u16::try_from(n).ok())
        .map(NonZeroU16::new)
        .ok_or_else(|| ConfigErrorKind::InvalidKeepalive(text.to_string()))
}

/// A MAC address usable by a NIC (unicast).
pub(crate) fn parse_mac(text: &str) -> Result<MacAddress, ConfigErrorKind> {
    let mac =
        MacAddress::from_str(text).map_err(|()| ConfigErrorKind::InvalidMac(text.to_string()))?;
    if mac.is_multicast() {
        return Err(ConfigErrorKind::MulticastMac(text.to_string()));
    }
    Ok(mac)
}

/// A plain IP address.
pub(crate) fn parse_ip(key: ConfigKey, text: &str) -> Result<IpAddr, ConfigErrorKind> {
    IpAddr::from_str(text).map_err(|_| ConfigErrorKind::InvalidAddress {
        key,
        value: text.to_string(),
    })
}

/// A comma-separated list of CIDRs, appended to `out`.
pub(crate) fn parse_cidr_list(
    key: ConfigKey,
    text: &str,
    out: &mut Vec<IpCidr>,
) -> Result<(), ConfigErrorKind> {
    for item in text.split(',') {
        out.push(parse_cidr(key, item.trim())?);
    }
    Ok(())
}

/// One CIDR, `addr/len` or a bare address for a host prefix.
pub(crate) fn parse_cidr(key: ConfigKey, item: &str) -> Result<IpCidr, ConfigErrorKind> {
    if item.is_empty() {
        return Err(ConfigErrorKind::EmptyListItem(key));
    }
    IpCidr::from_str(item).map_err(|error| match error {
        CidrError::PrefixTooLong { max } => ConfigErrorKind::PrefixTooLong {
            key,
            value: item.to_string(),
            max,
        },
        CidrError::InvalidAddress | CidrError::InvalidPrefixLength => {
            ConfigErrorKind::InvalidCidr {
                key,
                value: item.to_string(),
            }
        }
    })
}

/// `ipv4:port` or `[ipv6]:port`; host names get their own error.
pub(crate) fn parse_endpoint(text: &str) -> Result<SocketAddr, ConfigErrorKind> {
    match SocketAddr::from_str(text) {
        Ok(addr) if addr.port() != 0 => Ok(addr),
        Ok(_) => Err(ConfigErrorKind::InvalidEndpoint(text.to_string())),
        Err(_) if looks_like_host_name(text) => {
            Err(ConfigErrorKind::EndpointHostname(text.to_string()))
        }
        Err(_) => Err(ConfigErrorKind::InvalidEndpoint(text.to_string())),
    }
}

/// Whether the part before the port is a DNS name rather than a mangled IP:
/// letters, digits, dots and dashes, with at least one letter.
fn looks_like_host_name(text: &str) -> bool {
    let host = text.rsplit_once(':').map_or(text, |(host, _)| host);
    !host.is_empty()
        && host.bytes().any(|b| b.is_ascii_alphabetic())
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}
