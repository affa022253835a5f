//! Anti-replay protection for transport data messages.
//!
//! Every transport data message carries a 64-bit counter chosen by the
//! sender, one per message, in increasing order. Packets may arrive reordered
//! or duplicated by the network or by an attacker. The receiver keeps a
//! sliding window of recently seen counters (RFC 6479): a packet is accepted
//! once if its counter is new and not too far behind the greatest one seen.
//!
//! The window is a ring of [`WORDS`] 64-bit words. Advancing the window only
//! clears the words that the greatest counter skips over, instead of shifting
//! the whole bitmap, so a jump costs at most one pass over the ring. One word
//! is kept "redundant" so that the word holding the oldest acceptable counter
//! never aliases the word of the newest; that is why the usable window is
//! [`WINDOW_SIZE`] = 8192 − 64 counters, as in Linux and wireguard-go.
//!
//! WireGuard only updates the window *after* a packet authenticates, so a
//! forged packet cannot advance it: call [`ReplayWindow::would_accept`] as a
//! cheap filter before decrypting, and [`ReplayWindow::check_and_update`]
//! once the AEAD tag has verified.

/// Bits in one ring word.
const WORD_BITS: u64 = u64::BITS as u64;
/// Words in the ring; a power of two so the ring index is a mask.
pub const WORDS: usize = 128;
/// Total bits in the ring.
const TOTAL_BITS: u64 = WORDS as u64 * WORD_BITS;
/// How far behind the greatest accepted counter a counter may be and still be
/// accepted: 8128. One word of the ring is never usable (see module docs).
pub const WINDOW_SIZE: u64 = TOTAL_BITS - WORD_BITS;

/// Counters at or above this value are never accepted: a sender must rekey
/// long before, so such a counter means a broken or hostile peer. This is the
/// protocol's `Reject-After-Messages`, 2^64 − 2^13 − 1.
pub const REJECT_AFTER_MESSAGES: u64 = u64::MAX - (1 << 13);

/// The sliding window of one receiving session key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Ring of seen-bits. Bit `p % 64` of word `(p / 64) % WORDS` records
    /// position `p`, where a counter `c` is stored at position `c + 1`.
    ring: [u64; WORDS],
    /// Position (counter + 1) of the greatest accepted counter, or 0 when
    /// nothing has been accepted yet. Storing counter + 1 lets 0 mean
    /// "empty" without an extra flag.
    top: u64,
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    /// An empty window: every counter below [`REJECT_AFTER_MESSAGES`] is acceptable.
    pub const fn new() -> ReplayWindow {
        ReplayWindow {
            ring: [0; WORDS],
            top: 0,
        }
    }

    /// Forgets everything, as for a fresh session key.
    pub fn reset(&mut self) {
        *self = ReplayWindow::new();
    }

    /// The greatest counter accepted so far, if any.
    pub fn greatest(&self) -> Option<u64> {
        self.top.checked_sub(1)
    }

    /// Whether `counter` would be accepted now, without recording it.
    ///
    /// Use this before decryption to drop obvious replays cheaply. It never
    /// changes the window, so an unauthenticated packet cannot influence it.
    #[must_use]
    pub fn would_accept(&self, counter: u64) -> bool {
        let Some(position) = self.position_in_range(counter) else {
            return false;
        };
        if position > self.top {
            // Newer than anything seen: its bit will be cleared when the
            // window advances, so whatever the ring holds there is stale.
            return true;
        }
        let (word, bit) = Self::locate(position);
        self.ring[word] & bit == 0
    }

    /// Accepts `counter` if it is new and inside the window, and records it.
    ///
    /// Call only after the packet carrying `counter` has authenticated.
    /// Returns `false` for duplicates, for counters more than
    /// [`WINDOW_SIZE`] behind the greatest accepted one, and for counters at
    /// or above [`REJECT_AFTER_MESSAGES`].
    #[must_use = "a rejected counter means the packet must be dropped"]
    pub fn check_and_update(&mut self, counter: u64) -> bool {
        let Some(position) = self.position_in_range(counter) else {
            return false;
        };
        if position > self.top {
            self.advance_to(position);
        }
        let (word, bit) = Self::locate(position);
        let seen = self.ring[word] & bit != 0;
        self.ring[word] |= bit;
        !seen
    }

    /// The ring position of `counter`, if it is neither too large nor too old.
    fn position_in_range(&self, counter: u64) -> Option<u64> {
        if counter >= REJECT_AFTER_MESSAGES {
            return None;
        }
        // Cannot overflow: counter < REJECT_AFTER_MESSAGES leaves more than
        // WINDOW_SIZE + 1 of headroom below u64::MAX.
        let position = counter + 1;
        if position + WINDOW_SIZE < self.top {
            return None;
        }
        Some(position)
    }

    /// Moves the top of the window up to `position`, clearing every word
    /// that the jump passes over (at most the whole ring, once).
    fn advance_to(&mut self, position: u64) {
        let current_word = self.top / WORD_BITS;
        let new_word = position / WORD_BITS;
        let words_to_clear = (new_word - current_word).min(WORDS as u64);
        for step in 1..=words_to_clear {
            let index = ((current_word + step) % WORDS as u64) as usize;
            self.ring[index] = 0;
        }
        self.top = position;
    }

    /// Ring word index and bit mask for a position.
    fn locate(position: u64) -> (usize, u64) {
        let word = ((position / WORD_BITS) % WORDS as u64) as usize;
        let bit = 1u64 << (position % WORD_BITS);
        (word, bit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_size_matches_linux_and_wireguard_go() {
        assert_eq!(WINDOW_SIZE, 8128);
        assert_eq!(REJECT_AFTER_MESSAGES, (u64::MAX - 8192));
    }

    #[test]
    fn would_accept_does_not_record() {
        let mut window = ReplayWindow::new();
        assert!(window.would_accept(5));
        assert!(window.would_accept(5));
        assert!(window.check_and_update(5));
        assert!(!window.would_accept(5));
        assert_eq!(window.greatest(), Some(5));
    }
}
