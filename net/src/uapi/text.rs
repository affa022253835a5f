//! Parsers for the values of `set` lines, as strict as wireguard-go's (Go's `hex`,
//! `strconv.ParseUint` and `net/netip` parsers). Keys are read with `crypto::hex`.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::str::FromStr;

use zeroize::Zeroizing;

use crate::allowed_ips::IpCidr;

/// Bytes in every WireGuard key.
pub(crate) const KEY_LEN: usize = crypto::constants::KEY_LEN;

/// Exactly 64 hex digits as 32 bytes, in a buffer wiped on drop (`crypto`'s constant-time
/// decoder: private and preshared keys come this way).
pub(crate) fn parse_key(text: &[u8]) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    crypto::hex::decode_key(text).ok().map(Zeroizing::new)
}

/// A decimal number no larger than `max`: one or more ASCII digits, leading zeros allowed,
/// no sign, no underscores (Go's `strconv.ParseUint(text, 10, bits)`).
pub(crate) fn parse_decimal(text: &[u8], max: u64) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &byte in text {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
        if value > max {
            return None;
        }
    }
    Some(value)
}

/// `a.b.c.d` (no leading zeros in an octet, as Go's netip).
fn parse_v4(text: &[u8]) -> Option<Ipv4Addr> {
    Ipv4Addr::from_str(core::str::from_utf8(text).ok()?).ok()
}

/// An IPv6 literal without zone.
fn parse_v6(text: &[u8]) -> Option<Ipv6Addr> {
    Ipv6Addr::from_str(core::str::from_utf8(text).ok()?).ok()
}

/// An address as Go's `netip.ParseAddr` reads it (minus zones): IPv4 if it has no `:`.
fn parse_addr(text: &[u8]) -> Option<IpAddr> {
    if text.contains(&b':') {
        parse_v6(text).map(IpAddr::V6)
    } else {
        parse_v4(text).map(IpAddr::V4)
    }
}

/// `a.b.c.d:port` or `[v6]:port`, as Go's `netip.ParseAddrPort`.
///
/// Deliberately stricter than wireguard-go: a zone (`[fe80::1%eth0]:1`) and port 0 are
/// refused, since the gateway has no interfaces to scope to and cannot send to port 0.
pub(crate) fn parse_endpoint(text: &[u8]) -> Option<SocketAddr> {
    let colon = text.iter().rposition(|&b| b == b':')?;
    let (host, port) = (&text[..colon], &text[colon + 1..]);
    let port = parse_decimal(port, u64::from(u16::MAX))? as u16;
    if port == 0 {
        return None;
    }
    let ip = match host {
        [b'[', inner @ .., b']'] => IpAddr::V6(parse_v6(inner)?),
        _ => IpAddr::V4(parse_v4(host)?),
    };
    Some(SocketAddr::new(ip, port))
}

/// `addr/bits`, as Go's `netip.ParsePrefix`: the `/` is required, `bits` has no sign and no
/// leading zero, and is at most 32 (IPv4) or 128 (IPv6). Host bits are kept (the model
/// masks them).
pub(crate) fn parse_prefix(text: &[u8]) -> Option<IpCidr> {
    let slash = text.iter().rposition(|&b| b == b'/')?;
    let (addr, bits) = (&text[..slash], &text[slash + 1..]);
    if bits.len() > 1 && bits[0] == b'0' {
        return None;
    }
    let bits = parse_decimal(bits, 128)? as u8;
    IpCidr::new(parse_addr(addr)?, bits).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_64_hex_digits_either_case() {
        let lower = [b'a'; 64];
        assert_eq!(*parse_key(&lower).unwrap(), [0xaa; 32]);
        assert_eq!(*parse_key(&[b'F'; 64]).unwrap(), [0xff; 32]);
        assert!(parse_key(&[b'a'; 63]).is_none());
        assert!(parse_key(&[b'a'; 65]).is_none());
        assert!(parse_key(&[b'g'; 64]).is_none());
    }

    #[test]
    fn decimals_like_parse_uint() {
        assert_eq!(parse_decimal(b"0", 65535), Some(0));
        assert_eq!(parse_decimal(b"00080", 65535), Some(80));
        assert_eq!(parse_decimal(b"65535", 65535), Some(65535));
        assert_eq!(parse_decimal(b"65536", 65535), None);
        assert_eq!(parse_decimal(b"", 65535), None);
        assert_eq!(parse_decimal(b"+1", 65535), None);
        assert_eq!(parse_decimal(b"-1", 65535), None);
        assert_eq!(parse_decimal(b"1_000", 65535), None);
        assert_eq!(parse_decimal(b"99999999999999999999999", u64::MAX), None);
    }

    #[test]
    fn endpoints_like_parse_addr_port() {
        let ok = |text: &str| parse_endpoint(text.as_bytes()).map(|e| alloc::format!("{e}"));
        assert_eq!(ok("192.0.2.1:51820").as_deref(), Some("192.0.2.1:51820"));
        assert_eq!(
            ok("[2001:db8::1]:51820").as_deref(),
            Some("[2001:db8::1]:51820")
        );
        assert_eq!(
            ok("[::ffff:1.2.3.4]:7").as_deref(),
            Some("[::ffff:1.2.3.4]:7")
        );
        for bad in [
            "192.0.2.1",
            "192.0.2.1:",
            "192.0.2.1:0",
            "192.0.2.1:65536",
            "[192.0.2.1]:1",
            "2001:db8::1:51820",
            "[fe80::1%eth0]:1",
            "example.com:1",
            "01.2.3.4:1",
            "1.2.3.4:+1",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
        }
    }

    #[test]
    fn prefixes_like_parse_prefix() {
        let ok = |text: &str| parse_prefix(text.as_bytes()).map(|p| alloc::format!("{p}"));
        assert_eq!(ok("10.0.0.1/24").as_deref(), Some("10.0.0.1/24"));
        assert_eq!(ok("0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(ok("::/0").as_deref(), Some("::/0"));
        assert_eq!(ok("fd00::1/128").as_deref(), Some("fd00::1/128"));
        for bad in [
            "10.0.0.1",
            "10.0.0.1/",
            "10.0.0.1/33",
            "10.0.0.1/024",
            "10.0.0.1/+4",
            "::/129",
            "fe80::1%eth0/64",
            "10.0.0.1/24/1",
            "x/1",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
        }
    }
}
