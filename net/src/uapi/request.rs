//! A parsed, validated `set` request, stored compactly.
//!
//! The request is parsed line by line as it arrives ([`SetBuilder::line`]); nothing of the
//! text is kept. Peer operations are packed into one byte vector (an `allowed_ip` of IPv4
//! takes 6 bytes, of IPv6 18 bytes, a flag 1 byte, an endpoint at most 19 bytes), peer
//! blocks cost [`SetRequest::BLOCK_COST`] bytes each, and secrets live in their own boxes so
//! that they are never copied around by a growing vector and are wiped when the request is
//! dropped. [`SetRequest::memory_used`] is what the session's limit is checked against.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crypto::{PresharedKey, PrivateKey, PublicKey};

use super::errno::{Key, UapiError};
use super::text::{parse_decimal, parse_endpoint, parse_key, parse_prefix, KEY_LEN};
use crate::allowed_ips::IpCidr;

/// A device-level change, in the order the request gave it.
#[derive(Debug)]
pub enum DeviceOp {
    /// `private_key=`: the new key (clamped), or `None` for the all-zero value that removes it.
    PrivateKey(Option<Box<PrivateKey>>),
    /// `listen_port=`: 0 means "any port".
    ListenPort(u16),
    /// `fwmark=`: 0 means off.
    Fwmark(u32),
    /// `replace_peers=true`: remove every peer before the peer blocks that follow.
    ReplacePeers,
}

/// One operation on the peer selected by the enclosing `public_key`, in request order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerOp<'a> {
    /// `update_only=true`: if this block created the peer, it is removed again.
    UpdateOnly,
    /// `remove=true`: remove the peer; later lines of the block are ignored.
    Remove,
    /// `preshared_key=`: all-zero means none.
    PresharedKey(&'a PresharedKey),
    /// `endpoint=`
    Endpoint(SocketAddr),
    /// `persistent_keepalive_interval=`: seconds, 0 means off.
    PersistentKeepaliveInterval(u16),
    /// `replace_allowed_ips=true`: drop the peer's allowed IPs first.
    ReplaceAllowedIps,
    /// `allowed_ip=prefix`: route the prefix (host bits ignored) to this peer.
    AllowedIp(IpCidr),
    /// `allowed_ip=-prefix`: remove the prefix if this peer has exactly it.
    RemoveAllowedIp(IpCidr),
}

// Tags of the packed operation encoding.
const TAG_UPDATE_ONLY: u8 = 1;
const TAG_REMOVE: u8 = 2;
const TAG_PSK: u8 = 3; // the block's `psk` slot
const TAG_ENDPOINT_V4: u8 = 4; // + 4 address + 2 port
const TAG_ENDPOINT_V6: u8 = 5; // + 16 address + 2 port
const TAG_KEEPALIVE: u8 = 6; // + 2
const TAG_REPLACE_ALLOWED_IPS: u8 = 7;
const TAG_ADD_V4: u8 = 8; // + 4 address + 1 length
const TAG_ADD_V6: u8 = 9; // + 16 address + 1 length
const TAG_DEL_V4: u8 = 10;
const TAG_DEL_V6: u8 = 11;

/// Where one peer block starts in the packed operations.
#[derive(Clone, Copy, Debug)]
struct Block {
    public_key: PublicKey,
    ops_start: u32,
    /// Index into `secrets` of this block's preshared key, if it has one (the last
    /// `preshared_key` line of a block wins, so one slot per block is enough).
    psk: Option<u32>,
}

/// A complete `set` request: device changes, then peer blocks, all syntactically valid.
///
/// Applying it ([`super::Model::apply`]) may still fail on the model's limits; it is then
/// not applied at all.
#[derive(Default)]
pub struct SetRequest {
    device: Vec<DeviceOp>,
    blocks: Vec<Block>,
    ops: Vec<u8>,
    // Boxed on purpose: a growing vector would copy the keys and free the old copy unwiped.
    #[allow(clippy::vec_box)]
    secrets: Vec<Box<PresharedKey>>,
}

impl fmt::Debug for SetRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetRequest")
            .field("device", &self.device)
            .field("peers", &self.blocks.len())
            .field("op_bytes", &self.ops.len())
            .finish()
    }
}

impl SetRequest {
    /// Bytes charged per peer block.
    pub const BLOCK_COST: usize = core::mem::size_of::<Block>();
    /// Bytes charged per boxed secret (the key plus the box pointer; allocator overhead aside).
    pub const SECRET_COST: usize = KEY_LEN + core::mem::size_of::<usize>();

    /// The device-level operations, in order.
    pub fn device_ops(&self) -> &[DeviceOp] {
        &self.device
    }

    /// Number of peer blocks (`public_key` lines).
    pub fn peer_count(&self) -> usize {
        self.blocks.len()
    }

    /// The peer blocks, in order.
    pub fn peers(&self) -> impl Iterator<Item = PeerBlock<'_>> + '_ {
        (0..self.blocks.len()).map(move |index| self.block(index))
    }

    fn block(&self, index: usize) -> PeerBlock<'_> {
        let block = &self.blocks[index];
        let end = self
            .blocks
            .get(index + 1)
            .map_or(self.ops.len(), |next| next.ops_start as usize);
        PeerBlock {
            public_key: block.public_key,
            ops: &self.ops[block.ops_start as usize..end],
            request: self,
            psk: block.psk,
        }
    }

    /// The parsed data's size as charged against the session's limit (about the heap it
    /// holds; vectors may have up to twice that capacity).
    pub fn memory_used(&self) -> usize {
        self.ops.len()
            + self.blocks.len() * Self::BLOCK_COST
            + self.secrets.len() * Self::SECRET_COST
            + self.device.len() * (core::mem::size_of::<DeviceOp>() + Self::SECRET_COST)
    }

    /// Whether the request changes nothing at all (`set=1` and a blank line).
    pub fn is_empty(&self) -> bool {
        self.device.is_empty() && self.blocks.is_empty()
    }
}

/// One `public_key=` block of a [`SetRequest`].
#[derive(Clone, Copy)]
pub struct PeerBlock<'a> {
    public_key: PublicKey,
    ops: &'a [u8],
    request: &'a SetRequest,
    psk: Option<u32>,
}

impl fmt::Debug for PeerBlock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerBlock")
            .field("public_key", &self.public_key)
            .field("ops", &self.ops().collect::<Vec<_>>())
            .finish()
    }
}

impl<'a> PeerBlock<'a> {
    /// The peer the block is about.
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// The block's operations, in order.
    pub fn ops(&self) -> PeerOps<'a> {
        PeerOps {
            rest: self.ops,
            request: self.request,
            psk: self.psk,
        }
    }
}

/// Iterator over the operations of a [`PeerBlock`].
pub struct PeerOps<'a> {
    rest: &'a [u8],
    request: &'a SetRequest,
    psk: Option<u32>,
}

fn take<const N: usize>(rest: &mut &[u8]) -> [u8; N] {
    let (head, tail) = rest.split_at(N);
    *rest = tail;
    let mut out = [0u8; N];
    out.copy_from_slice(head);
    out
}

impl<'a> Iterator for PeerOps<'a> {
    type Item = PeerOp<'a>;

    fn next(&mut self) -> Option<PeerOp<'a>> {
        let (&tag, tail) = self.rest.split_first()?;
        self.rest = tail;
        let rest = &mut self.rest;
        Some(match tag {
            TAG_UPDATE_ONLY => PeerOp::UpdateOnly,
            TAG_REMOVE => PeerOp::Remove,
            TAG_PSK => {
                // The block's last preshared key, where its first one stood.
                let index = self.psk.unwrap_or(0) as usize;
                PeerOp::PresharedKey(&self.request.secrets[index])
            }
            TAG_ENDPOINT_V4 => {
                let ip = Ipv4Addr::from(take::<4>(rest));
                let port = u16::from_le_bytes(take::<2>(rest));
                PeerOp::Endpoint(SocketAddr::new(IpAddr::V4(ip), port))
            }
            TAG_ENDPOINT_V6 => {
                let ip = Ipv6Addr::from(take::<16>(rest));
                let port = u16::from_le_bytes(take::<2>(rest));
                PeerOp::Endpoint(SocketAddr::new(IpAddr::V6(ip), port))
            }
            TAG_KEEPALIVE => {
                PeerOp::PersistentKeepaliveInterval(u16::from_le_bytes(take::<2>(rest)))
            }
            TAG_REPLACE_ALLOWED_IPS => PeerOp::ReplaceAllowedIps,
            TAG_ADD_V4 | TAG_DEL_V4 => {
                let ip = IpAddr::V4(Ipv4Addr::from(take::<4>(rest)));
                let cidr = cidr_or_host(ip, take::<1>(rest)[0]);
                if tag == TAG_ADD_V4 {
                    PeerOp::AllowedIp(cidr)
                } else {
                    PeerOp::RemoveAllowedIp(cidr)
                }
            }
            TAG_ADD_V6 | TAG_DEL_V6 => {
                let ip = IpAddr::V6(Ipv6Addr::from(take::<16>(rest)));
                let cidr = cidr_or_host(ip, take::<1>(rest)[0]);
                if tag == TAG_ADD_V6 {
                    PeerOp::AllowedIp(cidr)
                } else {
                    PeerOp::RemoveAllowedIp(cidr)
                }
            }
            // Only this module writes the encoding; an unknown tag cannot occur.
            _ => {
                self.rest = &[];
                return None;
            }
        })
    }
}

/// `ip/len`; the length was validated when encoded, so the fallback never happens.
fn cidr_or_host(ip: IpAddr, len: u8) -> IpCidr {
    IpCidr::new(ip, len).unwrap_or(IpCidr::host(ip))
}

/// Builds a [`SetRequest`] from its lines, validating each as it comes.
#[derive(Debug, Default)]
pub(crate) struct SetBuilder {
    request: SetRequest,
}

impl SetBuilder {
    pub(crate) fn new() -> SetBuilder {
        SetBuilder::default()
    }

    /// The request so far.
    pub(crate) fn memory_used(&self) -> usize {
        self.request.memory_used()
    }

    pub(crate) fn finish(self) -> SetRequest {
        self.request
    }

    /// Parses one non-empty line (without its `\n`).
    pub(crate) fn line(&mut self, line: &[u8]) -> Result<(), UapiError> {
        let eq = line
            .iter()
            .position(|&b| b == b'=')
            .ok_or(UapiError::MalformedLine)?;
        let (name, value) = (&line[..eq], &line[eq + 1..]);
        let key = Key::from_name(name);
        if key == Some(Key::PublicKey) {
            let bytes = parse_key(value).ok_or(UapiError::InvalidValue(Key::PublicKey))?;
            let ops_start =
                u32::try_from(self.request.ops.len()).map_err(|_| UapiError::RequestTooLarge)?;
            self.request.blocks.push(Block {
                public_key: PublicKey::from_bytes(*bytes),
                ops_start,
                psk: None,
            });
            return Ok(());
        }
        if self.request.blocks.is_empty() {
            match key.filter(|k| k.is_device_key()) {
                Some(key) => self.device_line(key, value),
                None => Err(UapiError::UnknownDeviceKey),
            }
        } else {
            match key.filter(|k| !k.is_device_key()) {
                Some(key) => self.peer_line(key, value),
                None => Err(UapiError::UnknownPeerKey),
            }
        }
    }

    fn device_line(&mut self, key: Key, value: &[u8]) -> Result<(), UapiError> {
        let invalid = UapiError::InvalidValue(key);
        let op = match key {
            Key::PrivateKey => {
                let bytes = parse_key(value).ok_or(invalid)?;
                if bytes.iter().all(|&b| b == 0) {
                    DeviceOp::PrivateKey(None)
                } else {
                    DeviceOp::PrivateKey(Some(Box::new(PrivateKey::from_bytes(*bytes))))
                }
            }
            Key::ListenPort => DeviceOp::ListenPort(
                parse_decimal(value, u64::from(u16::MAX)).ok_or(invalid)? as u16,
            ),
            Key::Fwmark => {
                DeviceOp::Fwmark(parse_decimal(value, u64::from(u32::MAX)).ok_or(invalid)? as u32)
            }
            _ => {
                expect_true(value, key)?;
                DeviceOp::ReplacePeers
            }
        };
        self.request.device.push(op);
        Ok(())
    }

    fn peer_line(&mut self, key: Key, value: &[u8]) -> Result<(), UapiError> {
        let invalid = UapiError::InvalidValue(key);
        if key == Key::PresharedKey {
            return self.psk_line(value);
        }
        let ops = &mut self.request.ops;
        match key {
            Key::UpdateOnly => {
                expect_true(value, key)?;
                ops.push(TAG_UPDATE_ONLY);
            }
            Key::Remove => {
                expect_true(value, key)?;
                ops.push(TAG_REMOVE);
            }
            Key::ReplaceAllowedIps => {
                expect_true(value, key)?;
                ops.push(TAG_REPLACE_ALLOWED_IPS);
            }
            Key::ProtocolVersion => {
                // Only version 1 exists; it changes nothing.
                if value != b"1" {
                    return Err(invalid);
                }
            }
            Key::Endpoint => {
                let endpoint = parse_endpoint(value).ok_or(invalid)?;
                match endpoint.ip() {
                    IpAddr::V4(ip) => {
                        ops.push(TAG_ENDPOINT_V4);
                        ops.extend_from_slice(&ip.octets());
                    }
                    IpAddr::V6(ip) => {
                        ops.push(TAG_ENDPOINT_V6);
                        ops.extend_from_slice(&ip.octets());
                    }
                }
                ops.extend_from_slice(&endpoint.port().to_le_bytes());
            }
            Key::PersistentKeepaliveInterval => {
                let seconds = parse_decimal(value, u64::from(u16::MAX)).ok_or(invalid)? as u16;
                ops.push(TAG_KEEPALIVE);
                ops.extend_from_slice(&seconds.to_le_bytes());
            }
            Key::AllowedIp => {
                let (remove, text) = match value.split_first() {
                    Some((b'-', rest)) => (true, rest),
                    _ => (false, value),
                };
                let cidr = parse_prefix(text).ok_or(invalid)?;
                match cidr.addr() {
                    IpAddr::V4(ip) => {
                        ops.push(if remove { TAG_DEL_V4 } else { TAG_ADD_V4 });
                        ops.extend_from_slice(&ip.octets());
                    }
                    IpAddr::V6(ip) => {
                        ops.push(if remove { TAG_DEL_V6 } else { TAG_ADD_V6 });
                        ops.extend_from_slice(&ip.octets());
                    }
                }
                ops.push(cidr.prefix_len());
            }
            // Device keys and `public_key` never reach here.
            _ => return Err(UapiError::UnknownPeerKey),
        }
        Ok(())
    }
}

impl SetBuilder {
    fn psk_line(&mut self, value: &[u8]) -> Result<(), UapiError> {
        let bytes = parse_key(value).ok_or(UapiError::InvalidValue(Key::PresharedKey))?;
        let key = Box::new(PresharedKey::from_bytes(*bytes));
        let request = &mut self.request;
        let Some(block) = request.blocks.last_mut() else {
            return Err(UapiError::UnknownDeviceKey);
        };
        match block.psk {
            Some(index) => request.secrets[index as usize] = key,
            None => {
                let index =
                    u32::try_from(request.secrets.len()).map_err(|_| UapiError::RequestTooLarge)?;
                request.secrets.push(key);
                block.psk = Some(index);
                request.ops.push(TAG_PSK);
            }
        }
        Ok(())
    }
}

/// wireguard-go accepts only the exact value `true` for its flags.
fn expect_true(value: &[u8], key: Key) -> Result<(), UapiError> {
    if value == b"true" {
        Ok(())
    } else {
        Err(UapiError::InvalidValue(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(lines: &[&str]) -> Result<SetRequest, UapiError> {
        let mut builder = SetBuilder::new();
        for line in lines {
            builder.line(line.as_bytes())?;
        }
        Ok(builder.finish())
    }

    #[test]
    fn ops_round_trip_through_the_packing() {
        let key = "01".repeat(32);
        let psk = "02".repeat(32);
        let request = build(&[
            "listen_port=51820",
            &alloc::format!("public_key={key}"),
            "update_only=true",
            &alloc::format!("preshared_key={psk}"),
            "endpoint=[2001:db8::1]:7",
            "endpoint=192.0.2.1:9",
            "persistent_keepalive_interval=25",
            "replace_allowed_ips=true",
            "allowed_ip=10.0.0.0/8",
            "allowed_ip=-fd00::/64",
            "protocol_version=1",
            "remove=true",
        ])
        .unwrap();
        assert!(matches!(
            request.device_ops(),
            [DeviceOp::ListenPort(51820)]
        ));
        let block = request.peers().next().unwrap();
        assert_eq!(block.public_key(), PublicKey::from_bytes([1; 32]));
        let ops: Vec<_> = block.ops().collect();
        assert_eq!(ops.len(), 9);
        assert_eq!(ops[0], PeerOp::UpdateOnly);
        assert_eq!(
            ops[1],
            PeerOp::PresharedKey(&PresharedKey::from_bytes([2; 32]))
        );
        assert_eq!(ops[2], PeerOp::Endpoint("[2001:db8::1]:7".parse().unwrap()));
        assert_eq!(ops[3], PeerOp::Endpoint("192.0.2.1:9".parse().unwrap()));
        assert_eq!(ops[4], PeerOp::PersistentKeepaliveInterval(25));
        assert_eq!(ops[5], PeerOp::ReplaceAllowedIps);
        assert_eq!(ops[6], PeerOp::AllowedIp("10.0.0.0/8".parse().unwrap()));
        assert_eq!(
            ops[7],
            PeerOp::RemoveAllowedIp("fd00::/64".parse().unwrap())
        );
        assert_eq!(ops[8], PeerOp::Remove);
    }

    #[test]
    fn last_preshared_key_of_a_block_wins() {
        let request = build(&[
            &alloc::format!("public_key={}", "01".repeat(32)),
            &alloc::format!("preshared_key={}", "02".repeat(32)),
            &alloc::format!("preshared_key={}", "03".repeat(32)),
        ])
        .unwrap();
        let ops: Vec<_> = request.peers().next().unwrap().ops().collect();
        assert_eq!(
            ops,
            [PeerOp::PresharedKey(&PresharedKey::from_bytes([3; 32]))]
        );
        assert_eq!(request.secrets.len(), 1);
    }

    #[test]
    fn ordering_rules() {
        let key = alloc::format!("public_key={}", "01".repeat(32));
        assert_eq!(
            build(&["remove=true"]).unwrap_err(),
            UapiError::UnknownDeviceKey
        );
        assert_eq!(
            build(&[&key, "listen_port=1"]).unwrap_err(),
            UapiError::UnknownPeerKey
        );
        assert_eq!(build(&["nonsense"]).unwrap_err(), UapiError::MalformedLine);
        assert_eq!(
            build(&[&key, "protocol_version=2"]).unwrap_err(),
            UapiError::InvalidValue(Key::ProtocolVersion)
        );
    }
}
