//! Per-source rate limiting of handshake initiations, as in Linux WireGuard.
//!
//! Handshakes cost a Curve25519 computation each, so under load the engine
//! answers with cookies and, for sources that already proved their address,
//! still limits how many handshakes each source may make: a token bucket
//! per IPv4 address and per IPv6 /64 (a single host usually owns a whole /64),
//! refilling at [`PACKETS_PER_SECOND`] with a burst of [`PACKETS_BURSTABLE`].
//!
//! The table has a fixed number of entries chosen at construction and never
//! allocates afterwards. When it is full, packets from new sources are
//! refused until garbage collection frees entries idle for more than
//! [`IDLE_TIMEOUT`]; refusing is the safe choice because an attacker who can
//! fill the table could otherwise evict real clients' buckets. Collection runs
//! at most every [`GC_INTERVAL`], driven by the `now` passed to
//! [`RateLimiter::allow`].
//!
//! Entries are placed by a keyed SipHash-2-4 so that a remote sender cannot
//! pick addresses that collide; the key comes from the caller's random source.

use alloc::boxed::Box;
use alloc::vec;
use core::net::IpAddr;
use core::time::Duration;

use crate::time::Instant;

/// Sustained handshakes per second allowed from one source.
pub const PACKETS_PER_SECOND: u64 = 20;
/// Handshakes one source may send back to back after being quiet.
pub const PACKETS_BURSTABLE: u64 = 5;
/// An entry unused for longer than this is forgotten by garbage collection.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(1);
/// Minimum time between two garbage collection sweeps triggered by `allow`.
pub const GC_INTERVAL: Duration = Duration::from_secs(1);
/// The largest `max_entries` honoured by [`RateLimiter::new`]; larger requests are clamped.
pub const MAX_ENTRIES_LIMIT: usize = 1 << 24;

/// Tokens are measured in nanoseconds of refill time: one packet costs the
/// time it takes to earn it.
const PACKET_COST: u64 = 1_000_000_000 / PACKETS_PER_SECOND;
const TOKEN_MAX: u64 = PACKET_COST * PACKETS_BURSTABLE;

/// What a bucket is keyed by: the IPv4 address, or the IPv6 /64 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SourceKey {
    V4(u32),
    V6Prefix(u64),
}

impl SourceKey {
    fn of(source: IpAddr) -> SourceKey {
        match source {
            IpAddr::V4(addr) => SourceKey::V4(addr.to_bits()),
            IpAddr::V6(addr) => SourceKey::V6Prefix((addr.to_bits() >> 64) as u64),
        }
    }

    /// The two 64-bit words hashed for this key; the first tells the families apart.
    fn words(self) -> [u64; 2] {
        match self {
            SourceKey::V4(addr) => [4, u64::from(addr)],
            SourceKey::V6Prefix(prefix) => [6, prefix],
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    source: SourceKey,
    /// Nanoseconds of refill banked, at most `TOKEN_MAX`.
    tokens: u64,
    last_seen: Instant,
}

/// Fixed-size table of token buckets; see the module docs.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    /// Open-addressing hash table with linear probing; the length is a power
    /// of two at least twice `max_entries`, so probes stay short and there
    /// is always an empty slot to stop at.
    slots: Box<[Option<Bucket>]>,
    max_entries: usize,
    entries: usize,
    hash_key: [u64; 2],
    last_gc: Instant,
}

impl RateLimiter {
    /// A limiter that tracks at most `max_entries` sources at once
    /// (clamped to [`MAX_ENTRIES_LIMIT`]).
    ///
    /// `hash_key` must be random and secret; it decides where sources land
    /// in the table. This is the only allocation the limiter makes.
    pub fn new(max_entries: usize, hash_key: [u64; 2]) -> RateLimiter {
        let max_entries = max_entries.min(MAX_ENTRIES_LIMIT);
        let slot_count = (max_entries * 2).max(1).next_power_of_two();
        RateLimiter {
            slots: vec![None; slot_count].into_boxed_slice(),
            max_entries,
            entries: 0,
            hash_key,
            last_gc: Instant::ZERO,
        }
    }

    /// Whether a handshake from `source` may be processed now; charges its bucket if so.
    #[must_use = "a refused source's handshake must be dropped"]
    pub fn allow(&mut self, source: IpAddr, now: Instant) -> bool {
        if now.saturating_duration_since(self.last_gc) >= GC_INTERVAL {
            self.collect_garbage(now);
        }
        let key = SourceKey::of(source);
        match self.probe(key) {
            Probe::Found(index) => {
                let Some(bucket) = self.slots[index].as_mut() else {
                    return false;
                };
                let elapsed = now.saturating_duration_since(bucket.last_seen);
                let earned = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
                let tokens = bucket.tokens.saturating_add(earned).min(TOKEN_MAX);
                // Never move backwards: a clock that steps back then forward
                // must not be paid twice for the same interval.
                bucket.last_seen = bucket.last_seen.max(now);
                let allowed = tokens >= PACKET_COST;
                bucket.tokens = if allowed {
                    tokens - PACKET_COST
                } else {
                    tokens
                };
                allowed
            }
            Probe::Vacant(index) => {
                if self.entries >= self.max_entries {
                    return false;
                }
                self.slots[index] = Some(Bucket {
                    source: key,
                    tokens: TOKEN_MAX - PACKET_COST,
                    last_seen: now,
                });
                self.entries += 1;
                true
            }
            Probe::Exhausted => false,
        }
    }

    /// Forgets every source idle for more than [`IDLE_TIMEOUT`] at `now`.
    ///
    /// [`RateLimiter::allow`] calls this at most every [`GC_INTERVAL`]; the
    /// engine may also call it from a timer. Takes time proportional to the
    /// table's capacity.
    pub fn collect_garbage(&mut self, now: Instant) {
        self.last_gc = now;
        let mut index = 0;
        while index < self.slots.len() {
            match self.slots[index] {
                Some(bucket) if now.saturating_duration_since(bucket.last_seen) > IDLE_TIMEOUT => {
                    // The removal may shift a later entry into this slot:
                    // look at the same index again.
                    self.remove_at(index);
                }
                _ => index += 1,
            }
        }
    }

    /// Number of sources currently tracked.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether no source is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The most sources tracked at once; packets from further sources are refused.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// The slot where `key` lives or would be inserted.
    fn probe(&self, key: SourceKey) -> Probe {
        let mask = self.slots.len() - 1;
        let mut index = self.home(key);
        for _ in 0..self.slots.len() {
            match &self.slots[index] {
                None => return Probe::Vacant(index),
                Some(bucket) if bucket.source == key => return Probe::Found(index),
                Some(_) => index = (index + 1) & mask,
            }
        }
        Probe::Exhausted
    }

    /// Deletes the entry at `hole` and closes the gap by shifting later
    /// entries of the probe run back (no tombstones, so probes stay short).
    fn remove_at(&mut self, mut hole: usize) {
        let mask = self.slots.len() - 1;
        if self.slots[hole].take().is_some() {
            self.entries -= 1;
        }
        let mut next = (hole + 1) & mask;
        for _ in 0..self.slots.len() {
            let Some(bucket) = self.slots[next] else {
                return;
            };
            // The entry may fill the hole only if the hole lies on its probe
            // path, i.e. between its home slot and where it sits now.
            let home = self.home(bucket.source);
            let home_to_next = next.wrapping_sub(home) & mask;
            let hole_to_next = next.wrapping_sub(hole) & mask;
            if home_to_next >= hole_to_next {
                self.slots[hole] = self.slots[next].take();
                hole = next;
            }
            next = (next + 1) & mask;
        }
    }

    fn home(&self, key: SourceKey) -> usize {
        let hash = siphash24(self.hash_key, key.words());
        // Truncation is the point: keep the low bits that index the table.
        (hash as usize) & (self.slots.len() - 1)
    }
}

enum Probe {
    Found(usize),
    Vacant(usize),
    /// Every slot is taken by other keys; cannot happen while the table is
    /// kept at most half full, but refusing beats looping.
    Exhausted,
}

/// SipHash-2-4 of the 16-byte message made of two little-endian words.
fn siphash24(key: [u64; 2], message: [u64; 2]) -> u64 {
    let mut v = [
        key[0] ^ 0x736f_6d65_7073_6575,
        key[1] ^ 0x646f_7261_6e64_6f6d,
        key[0] ^ 0x6c79_6765_6e65_7261,
        key[1] ^ 0x7465_6462_7974_6573,
    ];
    // The final block carries the message length (16) in its top byte.
    let final_block = 16u64 << 56;
    for word in [message[0], message[1], final_block] {
        v[3] ^= word;
        sip_round(&mut v);
        sip_round(&mut v);
        v[0] ^= word;
    }
    v[2] ^= 0xff;
    for _ in 0..4 {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our SipHash-2-4 must agree with the reference one that `core` still ships.
    #[test]
    #[allow(deprecated)]
    fn siphash_matches_core_reference() {
        use core::hash::{Hasher, SipHasher};
        let keys = [
            [0, 0],
            [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908],
            [u64::MAX, 12345],
        ];
        let messages = [
            [0, 0],
            [4, 0xc0a8_0001],
            [6, u64::MAX],
            [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908],
        ];
        for key in keys {
            for message in messages {
                let mut reference = SipHasher::new_with_keys(key[0], key[1]);
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&message[0].to_le_bytes());
                bytes[8..].copy_from_slice(&message[1].to_le_bytes());
                reference.write(&bytes);
                assert_eq!(siphash24(key, message), reference.finish());
            }
        }
    }

    /// Published test vector: key 00..0f, message 00..0f.
    #[test]
    fn siphash_reference_vector() {
        let key = [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908];
        let message = [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908];
        let expected = u64::from_le_bytes([0xdb, 0x9b, 0xc2, 0x57, 0x7f, 0xcc, 0x2a, 0x3f]);
        assert_eq!(siphash24(key, message), expected);
    }

    /// Randomized: after any mix of inserts and collections, every tracked
    /// source is still found by probing (backward-shift deletion is correct).
    #[test]
    fn removal_keeps_every_entry_reachable() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut limiter = RateLimiter::new(64, [1, 2]);
        let mut now = Instant::ZERO;
        for round in 0..200u64 {
            for _ in 0..20 {
                let addr = IpAddr::V4(core::net::Ipv4Addr::from_bits((next() % 96) as u32));
                let _ = limiter.allow(addr, now);
                now = now.saturating_add(Duration::from_millis(next() % 120));
            }
            limiter.collect_garbage(now);
            let live = limiter.slots.iter().flatten().count();
            assert_eq!(live, limiter.len(), "round {round}");
            for bucket in limiter.slots.iter().flatten() {
                assert!(matches!(limiter.probe(bucket.source), Probe::Found(_)));
                assert!(now.saturating_duration_since(bucket.last_seen) <= IDLE_TIMEOUT);
            }
        }
    }
}
