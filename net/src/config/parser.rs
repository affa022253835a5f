//! The line-by-line parser and the checks that span lines.
//!
//! Each section is checked when it ends (at the next header or at the end of
//! the file), so errors come out in file order as far as possible; checks
//! that need the whole file (missing sections, MTU against IPv6) come last.

use alloc::collections::BTreeMap;
use alloc::string::ToString;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};
use core::num::NonZeroU16;

use super::error::{ConfigError, ConfigErrorKind, ConfigKey, Section};
use crypto::base64::decode_key;
use crypto::{PresharedKey, PrivateKey, PublicKey};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::values::{
    parse_cidr, parse_cidr_list, parse_endpoint, parse_ip, parse_keepalive, parse_mac, parse_mtu,
    parse_port, MacAddress,
};
use super::{
    GatewayConfig, IgnoredKey, IgnoredPeer, InnerConfig, InterfaceConfig, OuterAddress,
    OuterConfig, PeerConfig, DEFAULT_LISTEN_PORT, DEFAULT_MTU, KEY_LEN, MIN_MTU_IPV6,
};
use crate::allowed_ips::IpCidr;

/// wg-quick and wg(8) keys that mean nothing to the gateway; see the module docs.
const IGNORED_INTERFACE_KEYS: [&str; 8] = [
    "DNS",
    "Table",
    "PreUp",
    "PostUp",
    "PreDown",
    "PostDown",
    "SaveConfig",
    "FwMark",
];

const INTERFACE_KEYS: [ConfigKey; 4] = [
    ConfigKey::PrivateKey,
    ConfigKey::ListenPort,
    ConfigKey::Address,
    ConfigKey::Mtu,
];
const PEER_KEYS: [ConfigKey; 5] = [
    ConfigKey::PublicKey,
    ConfigKey::PresharedKey,
    ConfigKey::AllowedIps,
    ConfigKey::Endpoint,
    ConfigKey::PersistentKeepalive,
];
const OUTER_KEYS: [ConfigKey; 3] = [ConfigKey::Address, ConfigKey::Gateway, ConfigKey::Mac];
const INNER_KEYS: [ConfigKey; 2] = [ConfigKey::Address, ConfigKey::Mac];

/// An error and the 1-based line it belongs to.
type Located = (usize, ConfigErrorKind);

/// Parses a configuration file. `file` only names it in error messages.
pub fn parse(file: &str, text: &str) -> Result<GatewayConfig, ConfigError> {
    Parser::default()
        .run(text)
        .map_err(|(line, kind)| ConfigError {
            file: file.to_string(),
            line,
            kind,
        })
}

#[derive(Default)]
struct InterfaceDraft {
    header: usize,
    private_key: Option<PrivateKey>,
    listen_port: Option<u16>,
    addresses: Vec<IpCidr>,
    /// The MTU and the line that set it.
    mtu: Option<(u16, usize)>,
}

#[derive(Default)]
struct PeerDraft {
    header: usize,
    /// The key and the line that set it.
    public_key: Option<(PublicKey, usize)>,
    preshared_key: Option<PresharedKey>,
    allowed_ips: Vec<IpCidr>,
    endpoint: Option<SocketAddr>,
    keepalive: Option<Option<NonZeroU16>>,
}

#[derive(Default)]
struct OuterDraft {
    header: usize,
    dhcp: bool,
    addresses: Vec<IpCidr>,
    /// The gateway and the line that set it.
    gateway: Option<(IpAddr, usize)>,
    mac: Option<MacAddress>,
}

#[derive(Default)]
struct InnerDraft {
    header: usize,
    addresses: Vec<IpCidr>,
    mac: Option<MacAddress>,
}

#[derive(Default)]
struct Parser {
    current: Option<Section>,
    interface: Option<InterfaceDraft>,
    peers: Vec<PeerDraft>,
    outer: Option<OuterDraft>,
    inner: Option<InnerDraft>,
    /// Each peer public key seen so far, with its line.
    peer_keys: BTreeMap<PublicKey, usize>,
    ignored_keys: Vec<IgnoredKey>,
}

/// What handling one `Key = Value` line yields; the caller adds the line.
type KeyResult = Result<(), ConfigErrorKind>;

/// Fills `slot` with the parsed value; a filled slot means the key was
/// repeated, which is reported before the value is even looked at.
fn set_new<T>(
    slot: &mut Option<T>,
    key: ConfigKey,
    parse: impl FnOnce() -> Result<T, ConfigErrorKind>,
) -> KeyResult {
    if slot.is_some() {
        return Err(ConfigErrorKind::DuplicateKey(key));
    }
    *slot = Some(parse()?);
    Ok(())
}

/// Whether `text` can be a key or section name. Anything else is never
/// quoted back in messages: a key line missing its `=` splits at the `=` of
/// the base64 padding, and the "name" is then a secret.
fn is_plain_name(text: &str) -> bool {
    (1..=32).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The known key spelled `written` (case-insensitively), if any.
fn find_key(written: &str, candidates: &[ConfigKey]) -> Option<ConfigKey> {
    candidates
        .iter()
        .copied()
        .find(|key| key.name().eq_ignore_ascii_case(written))
}

impl Parser {
    fn run(mut self, text: &str) -> Result<GatewayConfig, Located> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, raw_line) in text.split('\n').enumerate() {
            let line = index + 1;
            // `split` always yields a first piece, possibly empty.
            let content = raw_line.split('#').next().unwrap_or_default().trim();
            if content.is_empty() {
                continue;
            }
            if content.starts_with('[') {
                self.section_header(line, content)?;
                continue;
            }
            let Some((key, value)) = content.split_once('=') else {
                return Err((line, ConfigErrorKind::MissingEquals));
            };
            self.key_value(line, key.trim(), value.trim())
                .map_err(|kind| (line, kind))?;
        }
        self.finish_section()?;
        self.build()
    }

    fn section_header(&mut self, line: usize, content: &str) -> Result<(), Located> {
        let name = content
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .map(str::trim)
            .filter(|name| is_plain_name(name))
            .ok_or((line, ConfigErrorKind::MalformedSectionHeader))?;
        let section = [
            Section::Interface,
            Section::Peer,
            Section::Outer,
            Section::Inner,
        ]
        .into_iter()
        .find(|section| section.name().eq_ignore_ascii_case(name))
        .ok_or_else(|| (line, ConfigErrorKind::UnknownSection(name.to_string())))?;
        self.finish_section()?;
        let duplicate = match section {
            Section::Interface => self.interface.is_some(),
            Section::Outer => self.outer.is_some(),
            Section::Inner => self.inner.is_some(),
            Section::Peer => false,
        };
        if duplicate {
            return Err((line, ConfigErrorKind::DuplicateSection(section)));
        }
        match section {
            Section::Interface => {
                self.interface = Some(InterfaceDraft {
                    header: line,
                    ..InterfaceDraft::default()
                });
            }
            Section::Peer => self.peers.push(PeerDraft {
                header: line,
                ..PeerDraft::default()
            }),
            Section::Outer => {
                self.outer = Some(OuterDraft {
                    header: line,
                    ..OuterDraft::default()
                });
            }
            Section::Inner => {
                self.inner = Some(InnerDraft {
                    header: line,
                    ..InnerDraft::default()
                });
            }
        }
        self.current = Some(section);
        Ok(())
    }

    fn key_value(&mut self, line: usize, written_key: &str, value: &str) -> KeyResult {
        let Some(section) = self.current else {
            return Err(ConfigErrorKind::KeyOutsideSection);
        };
        if written_key.is_empty() {
            return Err(ConfigErrorKind::MissingKeyName);
        }
        if written_key.contains(char::is_whitespace) {
            // `PrivateKey abc...=`: the `=` found was the base64 padding.
            return Err(ConfigErrorKind::MissingEquals);
        }
        if !is_plain_name(written_key) {
            return Err(ConfigErrorKind::InvalidKeyName);
        }
        let candidates: &[ConfigKey] = match section {
            Section::Interface => &INTERFACE_KEYS,
            Section::Peer => &PEER_KEYS,
            Section::Outer => &OUTER_KEYS,
            Section::Inner => &INNER_KEYS,
        };
        let Some(key) = find_key(written_key, candidates) else {
            if section == Section::Interface
                && IGNORED_INTERFACE_KEYS
                    .iter()
                    .any(|ignored| ignored.eq_ignore_ascii_case(written_key))
            {
                self.ignored_keys.push(IgnoredKey {
                    line,
                    key: written_key.to_string(),
                });
                return Ok(());
            }
            return Err(ConfigErrorKind::UnknownKey {
                section,
                key: written_key.to_string(),
            });
        };
        if value.is_empty() {
            return Err(ConfigErrorKind::EmptyValue(key));
        }
        match section {
            Section::Interface => self.interface_key(line, key, value),
            Section::Peer => self.peer_key(line, key, value),
            Section::Outer => self.outer_key(line, key, value),
            Section::Inner => self.inner_key(key, value),
        }
    }

    fn interface_key(&mut self, line: usize, key: ConfigKey, value: &str) -> KeyResult {
        let Some(draft) = self.interface.as_mut() else {
            return Err(ConfigErrorKind::KeyOutsideSection);
        };
        match key {
            ConfigKey::PrivateKey => set_new(&mut draft.private_key, key, || {
                let bytes = Zeroizing::new(
                    decode_key(value).map_err(|_| ConfigErrorKind::InvalidKey(key))?,
                );
                // Clamped, all zeros is a fixed scalar whose public key anyone can compute.
                // Checked before clamping (which sets a bit), in constant time.
                if bool::from(bytes.ct_eq(&[0u8; KEY_LEN])) {
                    return Err(ConfigErrorKind::ZeroPrivateKey);
                }
                Ok(PrivateKey::from_bytes(*bytes))
            }),
            ConfigKey::ListenPort => {
                set_new(&mut draft.listen_port, key, || parse_port(key, value))
            }
            ConfigKey::Address => parse_cidr_list(key, value, &mut draft.addresses),
            // The only key left in INTERFACE_KEYS: MTU.
            _ => set_new(&mut draft.mtu, key, || Ok((parse_mtu(value)?, line))),
        }
    }

    fn peer_key(&mut self, line: usize, key: ConfigKey, value: &str) -> KeyResult {
        let Some(draft) = self.peers.last_mut() else {
            return Err(ConfigErrorKind::KeyOutsideSection);
        };
        let peer_keys = &mut self.peer_keys;
        match key {
            ConfigKey::PublicKey => set_new(&mut draft.public_key, key, || {
                let public =
                    PublicKey::from_base64(value).map_err(|_| ConfigErrorKind::InvalidKey(key))?;
                if let Some(&first_line) = peer_keys.get(&public) {
                    return Err(ConfigErrorKind::DuplicatePeer { first_line });
                }
                peer_keys.insert(public, line);
                Ok((public, line))
            }),
            ConfigKey::PresharedKey => set_new(&mut draft.preshared_key, key, || {
                PresharedKey::from_base64(value).map_err(|_| ConfigErrorKind::InvalidKey(key))
            }),
            ConfigKey::AllowedIps => parse_cidr_list(key, value, &mut draft.allowed_ips),
            ConfigKey::Endpoint => set_new(&mut draft.endpoint, key, || parse_endpoint(value)),
            // The only key left in PEER_KEYS: PersistentKeepalive.
            _ => set_new(&mut draft.keepalive, key, || parse_keepalive(value)),
        }
    }

    fn outer_key(&mut self, line: usize, key: ConfigKey, value: &str) -> KeyResult {
        let Some(draft) = self.outer.as_mut() else {
            return Err(ConfigErrorKind::KeyOutsideSection);
        };
        match key {
            ConfigKey::Address if value.eq_ignore_ascii_case("dhcp") => {
                if draft.dhcp {
                    return Err(ConfigErrorKind::DuplicateKey(key));
                }
                if !draft.addresses.is_empty() {
                    return Err(ConfigErrorKind::DhcpWithStaticAddress);
                }
                draft.dhcp = true;
                Ok(())
            }
            ConfigKey::Address => {
                for item in value.split(',').map(str::trim) {
                    if draft.dhcp || item.eq_ignore_ascii_case("dhcp") {
                        return Err(ConfigErrorKind::DhcpWithStaticAddress);
                    }
                    draft.addresses.push(parse_cidr(key, item)?);
                }
                Ok(())
            }
            ConfigKey::Gateway => set_new(&mut draft.gateway, key, || {
                Ok((parse_ip(key, value)?, line))
            }),
            // The only key left in OUTER_KEYS: MAC.
            _ => set_new(&mut draft.mac, key, || parse_mac(value)),
        }
    }

    fn inner_key(&mut self, key: ConfigKey, value: &str) -> KeyResult {
        let Some(draft) = self.inner.as_mut() else {
            return Err(ConfigErrorKind::KeyOutsideSection);
        };
        match key {
            ConfigKey::Address => parse_cidr_list(key, value, &mut draft.addresses),
            // The only key left in INNER_KEYS: MAC.
            _ => set_new(&mut draft.mac, key, || parse_mac(value)),
        }
    }

    /// Checks the section that just ended for keys it must have.
    fn finish_section(&mut self) -> Result<(), Located> {
        let missing = |section, header, key| (header, ConfigErrorKind::MissingKey { section, key });
        match self.current {
            None => {}
            Some(Section::Interface) => {
                if let Some(draft) = &self.interface {
                    if draft.private_key.is_none() {
                        return Err(missing(
                            Section::Interface,
                            draft.header,
                            ConfigKey::PrivateKey,
                        ));
                    }
                }
            }
            Some(Section::Peer) => {
                if let Some(draft) = self.peers.last() {
                    if draft.public_key.is_none() {
                        return Err(missing(Section::Peer, draft.header, ConfigKey::PublicKey));
                    }
                }
            }
            Some(Section::Outer) => {
                if let Some(draft) = &self.outer {
                    if !draft.dhcp && draft.addresses.is_empty() {
                        return Err(missing(Section::Outer, draft.header, ConfigKey::Address));
                    }
                    if let Some((gateway, line)) = draft.gateway {
                        if draft.dhcp {
                            return Err((line, ConfigErrorKind::GatewayWithDhcp));
                        }
                        if !draft.addresses.iter().any(|cidr| cidr.contains(gateway)) {
                            return Err((
                                line,
                                ConfigErrorKind::GatewayNotOnLink(gateway.to_string()),
                            ));
                        }
                    }
                }
            }
            Some(Section::Inner) => {
                if let Some(draft) = &self.inner {
                    if draft.addresses.is_empty() {
                        return Err(missing(Section::Inner, draft.header, ConfigKey::Address));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whole-file checks, then assembly of the result.
    fn build(self) -> Result<GatewayConfig, Located> {
        let missing = |section| (0, ConfigErrorKind::MissingSection(section));
        let interface = self.interface.ok_or_else(|| missing(Section::Interface))?;
        let outer = self.outer.ok_or_else(|| missing(Section::Outer))?;
        let inner = self.inner.ok_or_else(|| missing(Section::Inner))?;

        let header = interface.header;
        let private_key = interface.private_key.ok_or((
            header,
            ConfigErrorKind::MissingKey {
                section: Section::Interface,
                key: ConfigKey::PrivateKey,
            },
        ))?;
        // A peer with our own public key is left out, as Linux and wireguard-go
        // leave it out, and reported so the caller can warn about it.
        let own_public = private_key.public_key();
        let mut ignored_peers = Vec::new();
        let mut drafts = Vec::with_capacity(self.peers.len());
        for peer in self.peers {
            let Some((public_key, line)) = peer.public_key else {
                return Err((
                    peer.header,
                    ConfigErrorKind::MissingKey {
                        section: Section::Peer,
                        key: ConfigKey::PublicKey,
                    },
                ));
            };
            if public_key == own_public {
                ignored_peers.push(IgnoredPeer { line });
            } else {
                drafts.push((public_key, peer));
            }
        }

        let carries_ipv6 = interface.addresses.iter().any(IpCidr::is_ipv6)
            || inner.addresses.iter().any(IpCidr::is_ipv6)
            || drafts
                .iter()
                .any(|(_, peer)| peer.allowed_ips.iter().any(IpCidr::is_ipv6));
        let mtu = match interface.mtu {
            Some((mtu, line)) if carries_ipv6 && mtu < MIN_MTU_IPV6 => {
                return Err((line, ConfigErrorKind::MtuTooSmallForIpv6(mtu)));
            }
            Some((mtu, _)) => mtu,
            None => DEFAULT_MTU,
        };

        let mut peers = Vec::with_capacity(drafts.len());
        for (public_key, peer) in drafts {
            peers.push(PeerConfig {
                public_key,
                preshared_key: peer.preshared_key,
                allowed_ips: peer.allowed_ips,
                endpoint: peer.endpoint,
                persistent_keepalive: peer.keepalive.flatten(),
            });
        }
        Ok(GatewayConfig {
            interface: InterfaceConfig {
                private_key,
                listen_port: interface.listen_port.unwrap_or(DEFAULT_LISTEN_PORT),
                addresses: interface.addresses,
                mtu,
            },
            peers,
            outer: OuterConfig {
                address: if outer.dhcp {
                    OuterAddress::Dhcp
                } else {
                    OuterAddress::Static(outer.addresses)
                },
                gateway: outer.gateway.map(|(gateway, _)| gateway),
                mac: outer.mac,
            },
            inner: InnerConfig {
                addresses: inner.addresses,
                mac: inner.mac,
            },
            ignored_keys: self.ignored_keys,
            ignored_peers,
        })
    }
}
