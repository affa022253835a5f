//! The sans-IO WireGuard engine, cryptokey routing, config parsing and packet routing.
//!
//! Nothing in this crate performs I/O, reads a clock or draws random numbers:
//! the caller passes packets, the current [`time::Instant`] and any random
//! material in. Tables are built (and allocate) at configuration time; the
//! per-packet paths ([`replay::ReplayWindow`], [`allowed_ips::AllowedIps::lookup`],
//! [`rate_limiter::RateLimiter::allow`]) never allocate.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod allowed_ips;
pub mod config;
pub mod echo;
pub mod ecn;
pub mod engine;
pub mod gateway;
pub mod rate_limiter;
pub mod replay;
pub mod router;
pub mod time;
pub mod uapi;

pub use allowed_ips::{AllowedIps, IpCidr};
pub use engine::{
    DropReason, Engine, EngineError, EngineOptions, EngineStats, Now, PeerId, PeerSpec, PeerStats,
    SendOutcome, Sink,
};
pub use time::Instant;
