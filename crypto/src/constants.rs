//! Protocol constants from the WireGuard whitepaper (sections 5.4 and 6).

use core::time::Duration;

/// The Noise protocol name; `HASH(CONSTRUCTION)` is the initial chaining key.
pub const CONSTRUCTION: &[u8] = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
/// The prologue mixed into the initial handshake hash.
pub const IDENTIFIER: &[u8] = b"WireGuard v1 zx2c4 Jason@zx2c4.com";
/// Label hashed with a public key to derive the key that computes MAC1.
pub const LABEL_MAC1: &[u8] = b"mac1----";
/// Label hashed with a public key to derive the key that encrypts cookie replies.
pub const LABEL_COOKIE: &[u8] = b"cookie--";

/// Length of keys, hashes and Diffie-Hellman results.
pub const KEY_LEN: usize = 32;
/// Length of a Poly1305 authentication tag.
pub const TAG_LEN: usize = 16;
/// Length of MAC1, MAC2 and of a cookie.
pub const MAC_LEN: usize = 16;
/// Length of a TAI64N timestamp.
pub const TIMESTAMP_LEN: usize = 12;
/// Length of the random XChaCha20-Poly1305 nonce in a cookie reply.
pub const COOKIE_NONCE_LEN: usize = 24;

/// Size of a handshake initiation (message type 1).
pub const HANDSHAKE_INITIATION_LEN: usize = 148;
/// Size of a handshake response (message type 2).
pub const HANDSHAKE_RESPONSE_LEN: usize = 92;
/// Size of a cookie reply (message type 3).
pub const COOKIE_REPLY_LEN: usize = 64;
/// Size of the transport data header: type, receiver index, counter (message type 4).
pub const TRANSPORT_HEADER_LEN: usize = 16;
/// Smallest transport data message: the header plus the tag of an empty (keepalive) payload.
pub const TRANSPORT_MIN_LEN: usize = TRANSPORT_HEADER_LEN + TAG_LEN;
/// Transport payloads are zero-padded to a multiple of this many bytes.
pub const TRANSPORT_PADDING: usize = 16;

/// How long a responder keeps its cookie secret before drawing a new one (`Cookie-Secret-Max-Age`).
pub const COOKIE_SECRET_MAX_AGE: Duration = Duration::from_secs(120);
/// How much earlier than the secret's rotation an initiator stops using a cookie, to allow for
/// network latency (`Cookie-Secret-Latency`).
pub const COOKIE_SECRET_LATENCY: Duration = Duration::from_secs(5);
/// Age from which a received cookie is no longer used to compute MAC2.
pub const COOKIE_MAX_AGE: Duration = Duration::from_secs(120 - 5);
