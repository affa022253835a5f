//! TAI64N timestamps, as carried (encrypted) in handshake initiations.
//!
//! The responder only ever compares an initiator's timestamp with the previous one it accepted
//! from the same peer, to reject replayed initiations; the absolute value is never interpreted.
//! We nevertheless produce exactly what Linux and wireguard-go produce, so that a peer keeps
//! accepting our initiations if the same key moves between implementations.

use core::fmt;
use core::time::Duration;

use crate::constants::TIMESTAMP_LEN;

/// Label added to the Unix seconds: TAI64's `2^62` origin plus the 10 s TAI-UTC offset of
/// 1970, the constant (`0x400000000000000a`) used by Linux and wireguard-go.
const TAI64_UNIX_EPOCH: u64 = (1 << 62) + 10;

/// Nanoseconds are rounded down to a multiple of this (2^24 ns, about 16.8 ms), as Linux does:
/// the handshake rate limit allows 50 initiations per second anyway, and a precise clock
/// reading would leak timer details to anyone who can decrypt the timestamp.
const NANOS_GRANULARITY: u32 = 1 << 24;

const NANOS_PER_SEC: u32 = 1_000_000_000;

/// A 12-byte TAI64N timestamp: big-endian seconds label, then big-endian nanoseconds.
///
/// Ordering is that of the bytes (the same as Linux's `memcmp`), which for well-formed stamps is
/// chronological order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Tai64N([u8; TIMESTAMP_LEN]);

impl Tai64N {
    /// The zero timestamp, older than any real one: the initial "last accepted" value.
    pub const ZERO: Tai64N = Tai64N([0; TIMESTAMP_LEN]);

    /// Builds the timestamp for a wall-clock reading given as seconds and nanoseconds since the
    /// Unix epoch. Nanoseconds are rounded down to hide timer precision; a `nanos` value of a
    /// second or more carries into the seconds.
    pub fn from_unix(secs: u64, nanos: u32) -> Tai64N {
        let secs = secs.saturating_add(u64::from(nanos / NANOS_PER_SEC));
        let nanos = nanos % NANOS_PER_SEC;
        let nanos = nanos - nanos % NANOS_GRANULARITY;
        let mut bytes = [0u8; TIMESTAMP_LEN];
        bytes[..8].copy_from_slice(&secs.saturating_add(TAI64_UNIX_EPOCH).to_be_bytes());
        bytes[8..].copy_from_slice(&nanos.to_be_bytes());
        Tai64N(bytes)
    }

    /// Same as [`Tai64N::from_unix`] for a wall-clock reading held as a [`Duration`] since the
    /// Unix epoch.
    pub fn from_unix_duration(since_epoch: Duration) -> Tai64N {
        Tai64N::from_unix(since_epoch.as_secs(), since_epoch.subsec_nanos())
    }

    /// Wraps 12 bytes received in a handshake initiation. Any value is accepted: peers only
    /// compare timestamps, they never validate their range.
    pub const fn from_bytes(bytes: [u8; TIMESTAMP_LEN]) -> Tai64N {
        Tai64N(bytes)
    }

    /// The 12 bytes as sent on the wire.
    pub const fn as_bytes(&self) -> &[u8; TIMESTAMP_LEN] {
        &self.0
    }

    /// True if `self` is strictly later than `other`: the replay check a responder applies to
    /// every initiation before answering it.
    pub fn is_after(&self, other: &Tai64N) -> bool {
        self.0 > other.0
    }
}

impl fmt::Debug for Tai64N {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut secs = [0u8; 8];
        secs.copy_from_slice(&self.0[..8]);
        let mut nanos = [0u8; 4];
        nanos.copy_from_slice(&self.0[8..]);
        write!(
            f,
            "Tai64N({:#x}.{:09})",
            u64::from_be_bytes(secs),
            u32::from_be_bytes(nanos)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_linux() {
        let stamp = Tai64N::from_unix(1_700_000_000, 0);
        let mut expected = [0u8; 12];
        expected[..8].copy_from_slice(&(0x4000_0000_0000_000a_u64 + 1_700_000_000).to_be_bytes());
        assert_eq!(stamp.as_bytes(), &expected);
    }

    #[test]
    fn nanoseconds_are_rounded_down_to_2_pow_24() {
        let stamp = Tai64N::from_unix(5, (1 << 24) * 3 + 12_345);
        assert_eq!(&stamp.as_bytes()[8..], &((1u32 << 24) * 3).to_be_bytes());
        // Readings within one granule are indistinguishable, so not "after" each other.
        let a = Tai64N::from_unix(5, 1);
        let b = Tai64N::from_unix(5, (1 << 24) - 1);
        assert_eq!(a, b);
        assert!(!b.is_after(&a));
    }

    #[test]
    fn strictly_greater_comparison() {
        let a = Tai64N::from_unix(100, 0);
        let b = Tai64N::from_unix(100, 1 << 24);
        let c = Tai64N::from_unix(101, 0);
        assert!(b.is_after(&a) && c.is_after(&b) && c.is_after(&a));
        assert!(!a.is_after(&a) && !a.is_after(&b) && !b.is_after(&c));
        assert!(a.is_after(&Tai64N::ZERO));
    }

    #[test]
    fn oversized_nanos_carry_and_huge_seconds_saturate() {
        assert_eq!(Tai64N::from_unix(1, 2_000_000_000), Tai64N::from_unix(3, 0));
        let max = Tai64N::from_unix(u64::MAX, u32::MAX);
        assert_eq!(&max.as_bytes()[..8], &[0xff; 8]);
        assert_eq!(
            Tai64N::from_unix_duration(Duration::new(7, 1 << 25)),
            Tai64N::from_unix(7, 1 << 25)
        );
    }
}
