//! The `errno=N` status that ends every reply, and why a request failed.

use core::fmt;

/// The status number a reply ends with: `errno=0` for success, otherwise a negative Linux
/// errno value, exactly as wireguard-go writes it (`ipc/uapi_unix.go`).
///
/// `wg(8)` treats any non-zero value as failure (and prints `strerror` of its absolute value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    /// Success.
    pub const OK: Errno = Errno(0);
    /// `-EIO`: the request could not be read (wireguard-go: a read error or a line longer
    /// than its scanner takes; here also a request over the session's size limits).
    pub const IO: Errno = Errno(-5);
    /// `-EINVAL`: an unknown key, a malformed value, a device key after the first
    /// `public_key`, a trailing byte after `get=1`, or a configured limit exceeded.
    pub const INVALID: Errno = Errno(-22);
    /// `-EPROTO`: a `set` line without `=`.
    pub const PROTOCOL: Errno = Errno(-71);
    /// `-EADDRINUSE`: the listen port (or fwmark) could not be applied. Never produced by this
    /// module; the kernel glue may answer it when moving the socket fails.
    pub const PORT_IN_USE: Errno = Errno(-98);
    /// wireguard-go's catch-all for any other error (`-55`, which its source calls ENOANO).
    pub const UNKNOWN: Errno = Errno(-55);

    /// The reply that carries this status alone: `errno=N\n\n` (the whole reply to a `set`).
    pub fn reply(self) -> ErrnoReply {
        let mut reply = ErrnoReply {
            bytes: [0; ErrnoReply::CAPACITY],
            len: 0,
        };
        reply.push(b"errno=");
        let value = self.0;
        if value < 0 {
            reply.push(b"-");
        }
        let mut digits = [0u8; 10];
        let mut magnitude = value.unsigned_abs();
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (magnitude % 10) as u8;
            magnitude /= 10;
            if magnitude == 0 {
                break;
            }
        }
        reply.push(&digits[start..]);
        reply.push(b"\n\n");
        reply
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "errno={}", self.0)
    }
}

/// The bytes of an `errno=N\n\n` reply, without allocating.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ErrnoReply {
    bytes: [u8; ErrnoReply::CAPACITY],
    len: usize,
}

impl ErrnoReply {
    /// `errno=` + sign + 10 digits + 2 newlines.
    const CAPACITY: usize = 19;

    fn push(&mut self, part: &[u8]) {
        self.bytes[self.len..self.len + part.len()].copy_from_slice(part);
        self.len += part.len();
    }

    /// The reply, ready to write to the client.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl fmt::Debug for ErrnoReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrnoReply(\"{}\")", self.as_bytes().escape_ascii())
    }
}

/// Which `set` key a [`UapiError`] is about. Values are never kept: they may be secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// `private_key`
    PrivateKey,
    /// `listen_port`
    ListenPort,
    /// `fwmark`
    Fwmark,
    /// `replace_peers`
    ReplacePeers,
    /// `public_key`
    PublicKey,
    /// `update_only`
    UpdateOnly,
    /// `remove`
    Remove,
    /// `preshared_key`
    PresharedKey,
    /// `endpoint`
    Endpoint,
    /// `persistent_keepalive_interval`
    PersistentKeepaliveInterval,
    /// `replace_allowed_ips`
    ReplaceAllowedIps,
    /// `allowed_ip`
    AllowedIp,
    /// `protocol_version`
    ProtocolVersion,
}

impl Key {
    /// The key as written on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            Key::PrivateKey => "private_key",
            Key::ListenPort => "listen_port",
            Key::Fwmark => "fwmark",
            Key::ReplacePeers => "replace_peers",
            Key::PublicKey => "public_key",
            Key::UpdateOnly => "update_only",
            Key::Remove => "remove",
            Key::PresharedKey => "preshared_key",
            Key::Endpoint => "endpoint",
            Key::PersistentKeepaliveInterval => "persistent_keepalive_interval",
            Key::ReplaceAllowedIps => "replace_allowed_ips",
            Key::AllowedIp => "allowed_ip",
            Key::ProtocolVersion => "protocol_version",
        }
    }

    /// Whether the key belongs before the first `public_key`.
    pub const fn is_device_key(self) -> bool {
        matches!(
            self,
            Key::PrivateKey | Key::ListenPort | Key::Fwmark | Key::ReplacePeers
        )
    }

    /// The key named `name` (exact, case-sensitive, as wireguard-go compares).
    pub fn from_name(name: &[u8]) -> Option<Key> {
        const ALL: [Key; 13] = [
            Key::PrivateKey,
            Key::ListenPort,
            Key::Fwmark,
            Key::ReplacePeers,
            Key::PublicKey,
            Key::UpdateOnly,
            Key::Remove,
            Key::PresharedKey,
            Key::Endpoint,
            Key::PersistentKeepaliveInterval,
            Key::ReplaceAllowedIps,
            Key::AllowedIp,
            Key::ProtocolVersion,
        ];
        ALL.into_iter().find(|key| key.name().as_bytes() == name)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a request was refused. Carries key names only, never values, so it is safe to log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UapiError {
    /// A `set` line without `=` (`-EPROTO`).
    MalformedLine,
    /// A key this protocol does not have, or a peer key before the first `public_key`
    /// (`-EINVAL`, wireguard-go's "invalid UAPI device key").
    UnknownDeviceKey,
    /// A key this protocol does not have, or a device key after the first `public_key`
    /// (`-EINVAL`, wireguard-go's "invalid UAPI peer key").
    UnknownPeerKey,
    /// A known key with a value it does not accept (`-EINVAL`).
    InvalidValue(Key),
    /// `get=1` followed by something other than the blank line (`-EINVAL`).
    TrailingGetByte,
    /// A line longer than the session's limit (`-EIO`, as wireguard-go answers a line
    /// longer than its scanner's buffer).
    LineTooLong,
    /// A request with more lines or more parsed data than the session's limits (`-EIO`).
    RequestTooLarge,
    /// Applying the request would exceed the configured number of peers (`-EINVAL`, as
    /// wireguard-go answers "too many peers").
    TooManyPeers,
    /// Applying the request would exceed the configured number of allowed IPs in total
    /// (`-EINVAL`; wireguard-go has no such limit).
    TooManyAllowedIps,
}

impl UapiError {
    /// The status to reply with.
    pub const fn errno(self) -> Errno {
        match self {
            UapiError::MalformedLine => Errno::PROTOCOL,
            UapiError::LineTooLong | UapiError::RequestTooLarge => Errno::IO,
            UapiError::UnknownDeviceKey
            | UapiError::UnknownPeerKey
            | UapiError::InvalidValue(_)
            | UapiError::TrailingGetByte
            | UapiError::TooManyPeers
            | UapiError::TooManyAllowedIps => Errno::INVALID,
        }
    }
}

impl fmt::Display for UapiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UapiError::MalformedLine => f.write_str("line without '='"),
            UapiError::UnknownDeviceKey => f.write_str("invalid UAPI device key"),
            UapiError::UnknownPeerKey => f.write_str("invalid UAPI peer key"),
            UapiError::InvalidValue(key) => write!(f, "invalid value for {key}"),
            UapiError::TrailingGetByte => f.write_str("trailing character in UAPI get"),
            UapiError::LineTooLong => f.write_str("line too long"),
            UapiError::RequestTooLarge => f.write_str("request too large"),
            UapiError::TooManyPeers => f.write_str("too many peers"),
            UapiError::TooManyAllowedIps => f.write_str("too many allowed IPs"),
        }
    }
}

impl core::error::Error for UapiError {}
