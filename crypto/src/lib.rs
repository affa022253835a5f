//! WireGuard's cryptographic protocol: the Noise_IKpsk2 handshake, cookies and message formats.
//!
//! Byte-for-byte compatible with the Linux kernel module and wireguard-go. Sans-IO: nothing here
//! reads a clock, draws randomness on its own, or touches a socket. Callers pass in the
//! wall-clock time as a [`Tai64N`] (for initiations), a monotonic `now` as a
//! [`core::time::Duration`] (for cookie lifetimes), and an RNG (`rand_core::RngCore +
//! CryptoRng`) wherever randomness is needed.
//!
//! * [`primitives`]: HASH, MAC, HMAC, KDF, AEAD and XAEAD as the whitepaper defines them.
//! * [`PrivateKey`], [`PublicKey`], [`PresharedKey`]: keys, with base64 as `wg(8)` prints them
//!   ([`base64`]) and hex as the UAPI carries them ([`hex`]), both constant-time.
//! * [`wire`]: zero-copy views of the four message types and [`wire::message_type`].
//! * [`LocalIdentity`], [`PeerKeys`] and the handshake functions ([`create_initiation`],
//!   [`consume_initiation`], [`create_response`], [`consume_response`]).
//! * [`SessionKeys`] / [`TransportKey`]: in-place encryption of transport data.
//! * [`CookieChecker`] / [`CookieState`]: the DoS cookie mechanism.
//!
//! Secrets are wiped on drop, compared in constant time, and never printed by `Debug`.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod base64;
pub mod constants;
pub mod cookie;
pub mod error;
pub mod handshake;
pub mod hex;
pub mod keys;
pub mod macs;
pub mod primitives;
pub mod random;
pub mod session;
pub mod tai64n;
pub mod wire;

pub use cookie::{CookieChecker, CookieState};
pub use error::{Error, Result};
pub use handshake::{
    consume_initiation, consume_response, create_initiation, create_response, AcceptedInitiation,
    IncomingInitiation, InitiatorState, LocalIdentity, PeerKeys,
};
pub use keys::{PresharedKey, PrivateKey, PublicKey, SharedSecret};
pub use random::ForwardSecureRng;
pub use session::{SessionKeys, TransportKey};
pub use tai64n::Tai64N;
pub use wire::{message_type, MessageType};
