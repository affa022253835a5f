//! Configuration errors: where the problem is and what it is.
//!
//! Messages never contain the value of a secret key, only its key name.

use alloc::string::String;
use core::fmt;

/// A section of the configuration file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// `[Interface]`: the WireGuard interface itself.
    Interface,
    /// `[Peer]`: one remote WireGuard peer.
    Peer,
    /// `[Outer]`: the NIC facing the internet, which carries encrypted traffic.
    Outer,
    /// `[Inner]`: the NIC facing the LAN, which carries plain traffic.
    Inner,
}

impl Section {
    /// The section name as written between brackets.
    pub const fn name(self) -> &'static str {
        match self {
            Section::Interface => "Interface",
            Section::Peer => "Peer",
            Section::Outer => "Outer",
            Section::Inner => "Inner",
        }
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.name())
    }
}

/// A key the gateway understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigKey {
    /// `PrivateKey` in `[Interface]`.
    PrivateKey,
    /// `ListenPort` in `[Interface]`.
    ListenPort,
    /// `Address` in `[Interface]`, `[Outer]` or `[Inner]`.
    Address,
    /// `MTU` in `[Interface]`.
    Mtu,
    /// `PublicKey` in `[Peer]`.
    PublicKey,
    /// `PresharedKey` in `[Peer]`.
    PresharedKey,
    /// `AllowedIPs` in `[Peer]`.
    AllowedIps,
    /// `Endpoint` in `[Peer]`.
    Endpoint,
    /// `PersistentKeepalive` in `[Peer]`.
    PersistentKeepalive,
    /// `Gateway` in `[Outer]`.
    Gateway,
    /// `MAC` in `[Outer]` or `[Inner]`.
    Mac,
}

impl ConfigKey {
    /// The key's canonical spelling (matching is case-insensitive).
    pub const fn name(self) -> &'static str {
        match self {
            ConfigKey::PrivateKey => "PrivateKey",
            ConfigKey::ListenPort => "ListenPort",
            ConfigKey::Address => "Address",
            ConfigKey::Mtu => "MTU",
            ConfigKey::PublicKey => "PublicKey",
            ConfigKey::PresharedKey => "PresharedKey",
            ConfigKey::AllowedIps => "AllowedIPs",
            ConfigKey::Endpoint => "Endpoint",
            ConfigKey::PersistentKeepalive => "PersistentKeepalive",
            ConfigKey::Gateway => "Gateway",
            ConfigKey::Mac => "MAC",
        }
    }
}

impl fmt::Display for ConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A configuration problem, located in the file.
///
/// Displays as `file:line: message`, or `file: message` when the problem
/// concerns the whole file (`line` is 0), e.g.
/// `gateway.conf:12: PublicKey: not a valid base64 key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file name given to the parser, for messages.
    pub file: String,
    /// 1-based line number of the offending line, or 0 for the whole file.
    pub line: usize,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.kind)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.kind)
        }
    }
}

impl core::error::Error for ConfigError {}

/// What is wrong with a configuration file. Values are quoted in messages
/// only for keys that are not secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// A line that is not blank, a comment, a `[Section]` or `Key = Value`.
    MissingEquals,
    /// A line starting with `[` that is not exactly `[Name]`.
    MalformedSectionHeader,
    /// A `[Name]` the gateway does not know.
    UnknownSection(String),
    /// A second `[Interface]`, `[Outer]` or `[Inner]`.
    DuplicateSection(Section),
    /// A required section is absent (reported with line 0).
    MissingSection(Section),
    /// A `Key = Value` line before the first section header.
    KeyOutsideSection,
    /// A line of the form `= Value`.
    MissingKeyName,
    /// A key that is not a plain name (letters, digits, `_`, `-`, at most
    /// 32 characters). It is not quoted, in case it is a pasted secret.
    InvalidKeyName,
    /// A key not valid in its section.
    UnknownKey {
        /// The section it appeared in.
        section: Section,
        /// The key as written.
        key: String,
    },
    /// A single-valued key given twice in one section.
    DuplicateKey(ConfigKey),
    /// `Key =` with nothing after it.
    EmptyValue(ConfigKey),
    /// A required key is absent (reported at the section header).
    MissingKey {
        /// The section lacking it.
        section: Section,
        /// The missing key.
        key: ConfigKey,
    },
    /// A key value that is not 44 characters of base64 for 32 bytes.
    InvalidKey(ConfigKey),
    /// `PrivateKey` is all zeros: clamped, it is a fixed scalar whose public
    /// key anyone can compute.
    ZeroPrivateKey,
    /// Two peers with the same public key.
    DuplicatePeer {
        /// Line of the first peer's `PublicKey`.
        first_line: usize,
    },
    /// A port that is not a number in 1..=65535.
    InvalidPort {
        /// The key holding the port.
        key: ConfigKey,
        /// The value as written.
        value: String,
    },
    /// An MTU that is not a number.
    InvalidMtu(String),
    /// An MTU outside [`MIN_MTU`](super::MIN_MTU)..=[`MAX_MTU`](super::MAX_MTU).
    MtuOutOfRange(u32),
    /// An MTU below 1280 while the tunnel carries IPv6.
    MtuTooSmallForIpv6(u16),
    /// A CIDR whose address part is not an IP address.
    InvalidCidr {
        /// The key holding the CIDR.
        key: ConfigKey,
        /// The list item as written.
        value: String,
    },
    /// A CIDR whose prefix length is longer than its address.
    PrefixTooLong {
        /// The key holding the CIDR.
        key: ConfigKey,
        /// The list item as written.
        value: String,
        /// The longest prefix the address family allows.
        max: u8,
    },
    /// A comma-separated list with an empty item, as in `a,,b` or `a,`.
    EmptyListItem(ConfigKey),
    /// A value that should be a plain IP address and is not.
    InvalidAddress {
        /// The key holding the address.
        key: ConfigKey,
        /// The value as written.
        value: String,
    },
    /// An endpoint that is not `ipv4:port` or `[ipv6]:port`.
    InvalidEndpoint(String),
    /// An endpoint naming a host: only IP literals are supported.
    EndpointHostname(String),
    /// A keepalive that is neither `off` nor 0..=65535.
    InvalidKeepalive(String),
    /// A MAC address not of the form `aa:bb:cc:dd:ee:ff`.
    InvalidMac(String),
    /// A group (multicast or broadcast) MAC address, unusable for a NIC.
    MulticastMac(String),
    /// `Address = dhcp` mixed with static addresses.
    DhcpWithStaticAddress,
    /// `Gateway` together with `Address = dhcp`, which supplies its own.
    GatewayWithDhcp,
    /// A `Gateway` outside every subnet of the outer addresses.
    GatewayNotOnLink(String),
}

impl fmt::Display for ConfigErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ConfigErrorKind::*;
        match self {
            MissingEquals => f.write_str("expected `Key = Value`, a `[Section]` header or a comment"),
            MalformedSectionHeader => f.write_str("malformed section header, expected `[Name]`"),
            UnknownSection(name) => write!(
                f,
                "unknown section [{name}] (expected [Interface], [Peer], [Outer] or [Inner])"
            ),
            DuplicateSection(section) => write!(f, "duplicate {section} section, only one is allowed"),
            MissingSection(section) => write!(f, "missing required {section} section"),
            KeyOutsideSection => f.write_str("`Key = Value` before any section header"),
            MissingKeyName => f.write_str("missing key name before `=`"),
            InvalidKeyName => f.write_str("not a valid key name (letters and digits only)"),
            UnknownKey { section, key } => write!(f, "{key}: unknown key in {section}"),
            DuplicateKey(key) => write!(f, "{key}: given more than once in this section"),
            EmptyValue(key) => write!(f, "{key}: empty value"),
            MissingKey { section, key } => write!(f, "{section}: missing required {key}"),
            InvalidKey(key) => write!(f, "{key}: not a valid base64 key"),
            ZeroPrivateKey => f.write_str(
                "PrivateKey: the all-zero key is refused (clamped, it is a fixed key whose \
                 public key anyone can compute); generate one with `wg genkey`",
            ),
            DuplicatePeer { first_line } => write!(
                f,
                "PublicKey: same public key as the peer at line {first_line}"
            ),
            InvalidPort { key, value } => {
                write!(f, "{key}: `{value}` is not a port number (1-65535)")
            }
            InvalidMtu(value) => write!(f, "MTU: `{value}` is not a number"),
            MtuOutOfRange(mtu) => write!(
                f,
                "MTU: {mtu} is outside {}-{}",
                super::MIN_MTU,
                super::MAX_MTU
            ),
            MtuTooSmallForIpv6(mtu) => write!(
                f,
                "MTU: {mtu} is below {}, the minimum for IPv6, which this tunnel carries",
                super::MIN_MTU_IPV6
            ),
            InvalidCidr { key, value } => write!(
                f,
                "{key}: `{value}` is not an address with optional prefix length, like 10.0.0.0/8"
            ),
            PrefixTooLong { key, value, max } => write!(
                f,
                "{key}: `{value}`: prefix length is longer than {max} bits"
            ),
            EmptyListItem(key) => write!(f, "{key}: empty item in comma-separated list"),
            InvalidAddress { key, value } => write!(f, "{key}: `{value}` is not an IP address"),
            InvalidEndpoint(value) => write!(
                f,
                "Endpoint: `{value}` is not an address and port like 192.0.2.1:51820 or [2001:db8::1]:51820"
            ),
            EndpointHostname(value) => write!(
                f,
                "Endpoint: `{value}`: host names are not supported, only IP literals like 192.0.2.1:51820 or [2001:db8::1]:51820"
            ),
            InvalidKeepalive(value) => write!(
                f,
                "PersistentKeepalive: `{value}` is not `off` or a number of seconds (0-65535)"
            ),
            InvalidMac(value) => write!(
                f,
                "MAC: `{value}` is not a MAC address like 02:00:00:00:00:01"
            ),
            MulticastMac(value) => write!(
                f,
                "MAC: `{value}` is a multicast address, a NIC needs a unicast one"
            ),
            DhcpWithStaticAddress => {
                f.write_str("Address: `dhcp` cannot be combined with static addresses")
            }
            GatewayWithDhcp => f.write_str(
                "Gateway: not allowed with `Address = dhcp`, which provides the gateway",
            ),
            GatewayNotOnLink(value) => write!(
                f,
                "Gateway: {value} is not inside any subnet of the [Outer] addresses"
            ),
        }
    }
}
