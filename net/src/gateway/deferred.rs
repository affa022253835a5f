//! Packets bound for the tunnel that the engine produced while it was busy:
//! echo replies and ICMP errors for a peer come out of the engine's own
//! output path, and the engine cannot be re-entered from there. They wait
//! here (bounded) until the engine call returns.

use alloc::boxed::Box;
use alloc::vec;

/// Largest packet the queue holds (a full Ethernet MTU).
pub const MAX_PACKET: usize = 1500;
const SLOTS: usize = 8;

/// A bounded queue of packets to send into the tunnel.
pub struct Deferred {
    slots: Box<[[u8; MAX_PACKET]]>,
    lengths: [usize; SLOTS],
    /// The oldest packet's slot; the queue is a ring.
    head: usize,
    count: usize,
}

impl Default for Deferred {
    fn default() -> Self {
        Self::new()
    }
}

impl Deferred {
    /// An empty queue; all its memory is allocated here.
    pub fn new() -> Self {
        Self {
            slots: vec![[0; MAX_PACKET]; SLOTS].into_boxed_slice(),
            lengths: [0; SLOTS],
            head: 0,
            count: 0,
        }
    }

    /// Queues a copy of `packet`; `false` if the queue is full or the packet too large.
    pub fn push(&mut self, packet: &[u8]) -> bool {
        if self.count == SLOTS || packet.len() > MAX_PACKET {
            return false;
        }
        let slot = (self.head + self.count) % SLOTS;
        self.slots[slot][..packet.len()].copy_from_slice(packet);
        self.lengths[slot] = packet.len();
        self.count += 1;
        true
    }

    /// Takes the oldest packet, copying it into `buffer`; returns its length.
    pub fn pop_into(&mut self, buffer: &mut [u8; MAX_PACKET]) -> Option<usize> {
        if self.count == 0 {
            return None;
        }
        let len = self.lengths[self.head];
        buffer[..len].copy_from_slice(&self.slots[self.head][..len]);
        self.head = (self.head + 1) % SLOTS;
        self.count -= 1;
        Some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_first_across_the_ring_and_bounded() {
        let mut queue = Deferred::new();
        let mut out = [0u8; MAX_PACKET];
        let mut next_in = 0u8;
        let mut next_out = 0u8;
        for round in 0..5 {
            for _ in 0..(3 + round) {
                if queue.push(&[next_in; 10]) {
                    next_in += 1;
                }
            }
            while let Some(len) = queue.pop_into(&mut out) {
                assert_eq!(len, 10);
                assert_eq!(out[0], next_out, "first in, first out");
                next_out += 1;
            }
        }
        assert_eq!(next_in, next_out);
        for i in 0..SLOTS as u8 {
            assert!(queue.push(&[i]));
        }
        assert!(!queue.push(&[0]), "full at {SLOTS}");
        assert!(!Deferred::new().push(&[0; MAX_PACKET + 1]), "too large");
    }
}
