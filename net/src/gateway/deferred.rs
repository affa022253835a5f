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
        Self { slots: vec![[0; MAX_PACKET]; SLOTS].into_boxed_slice(), lengths: [0; SLOTS], count: 0 }
    }

    /// Queues a copy of `packet`; `false` if the queue is full or the packet too large.
    pub fn push(&mut self, packet: &[u8]) -> bool {
        if self.count == SLOTS || packet.len() > MAX_PACKET {
            return false;
        }
        self.slots[self.count][..packet.len()].copy_from_slice(packet);
        self.lengths[self.count] = packet.len();
        self.count += 1;
        true
    }

    /// Takes the oldest packet, copying it into `buffer`; returns its length.
    pub fn pop_into(&mut self, buffer: &mut [u8; MAX_PACKET]) -> Option<usize> {
        if self.count == 0 {
            return None;
        }
        let len = self.lengths[0];
        buffer[..len].copy_from_slice(&self.slots[0][..len]);
        self.slots.copy_within(1..self.count, 0);
        self.lengths.copy_within(1..self.count, 0);
        self.count -= 1;
        Some(len)
    }
}
