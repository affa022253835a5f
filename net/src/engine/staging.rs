//! Packets waiting for a handshake: one pool of fixed-size slots shared by all peers,
//! allocated once, with a per-peer limit.
//!
//! Each peer's queue is a FIFO linked through the slots. When a peer already holds its share
//! (or the pool is empty), its *oldest* packet is evicted to make room, as Linux does: the
//! newest packets are the ones most worth delivering once the session is up. A peer with
//! nothing queued whose packet finds the pool empty has that packet dropped.

use alloc::vec;
use alloc::vec::Vec;

/// Marks the end of a list.
const NONE: u32 = u32::MAX;

/// A peer's queue: head and tail slot, and its length.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StagedQueue {
    head: u32,
    tail: u32,
    len: u32,
}

impl Default for StagedQueue {
    fn default() -> StagedQueue {
        StagedQueue {
            head: NONE,
            tail: NONE,
            len: 0,
        }
    }
}

impl StagedQueue {
    /// Packets queued.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True if nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What [`StagingPool::push`] had to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PushResult {
    /// Queued without loss.
    Queued,
    /// Queued after evicting the peer's oldest packet.
    QueuedEvictedOldest,
    /// Not queued: the pool is empty and the peer has nothing to evict (or the packet is
    /// larger than a slot).
    Dropped,
}

/// The shared slot pool.
pub(crate) struct StagingPool {
    data: Vec<u8>,
    lengths: Vec<u16>,
    next: Vec<u32>,
    free_head: u32,
    slot_size: usize,
    per_peer_limit: u32,
}

impl StagingPool {
    /// `slots` slots of `slot_size` bytes each, at most `per_peer_limit` per peer.
    pub fn new(slots: u32, slot_size: usize, per_peer_limit: u32) -> StagingPool {
        let count = slots as usize;
        let next = (0..count)
            .map(|i| if i + 1 < count { (i + 1) as u32 } else { NONE })
            .collect();
        StagingPool {
            data: vec![0; count * slot_size],
            lengths: vec![0; count],
            next,
            free_head: if count == 0 { NONE } else { 0 },
            slot_size,
            per_peer_limit: per_peer_limit.max(1),
        }
    }

    fn take_free(&mut self) -> Option<u32> {
        if self.free_head == NONE {
            return None;
        }
        let slot = self.free_head;
        self.free_head = self.next[slot as usize];
        Some(slot)
    }

    fn release(&mut self, slot: u32) {
        self.lengths[slot as usize] = 0;
        self.next[slot as usize] = self.free_head;
        self.free_head = slot;
    }

    /// Appends a copy of `packet` to `queue`.
    pub fn push(&mut self, queue: &mut StagedQueue, packet: &[u8]) -> PushResult {
        if packet.len() > self.slot_size {
            return PushResult::Dropped;
        }
        let mut evicted = false;
        if queue.len >= self.per_peer_limit {
            self.discard_oldest(queue);
            evicted = true;
        }
        let slot = match self.take_free() {
            Some(slot) => slot,
            None if !queue.is_empty() => {
                self.discard_oldest(queue);
                evicted = true;
                match self.take_free() {
                    Some(slot) => slot,
                    None => return PushResult::Dropped,
                }
            }
            None => return PushResult::Dropped,
        };
        let start = slot as usize * self.slot_size;
        self.data[start..start + packet.len()].copy_from_slice(packet);
        self.lengths[slot as usize] = packet.len() as u16;
        self.next[slot as usize] = NONE;
        if queue.tail == NONE {
            queue.head = slot;
        } else {
            self.next[queue.tail as usize] = slot;
        }
        queue.tail = slot;
        queue.len += 1;
        if evicted {
            PushResult::QueuedEvictedOldest
        } else {
            PushResult::Queued
        }
    }

    fn discard_oldest(&mut self, queue: &mut StagedQueue) {
        if let Some(slot) = self.pop_slot(queue) {
            self.release(slot);
        }
    }

    fn pop_slot(&mut self, queue: &mut StagedQueue) -> Option<u32> {
        if queue.head == NONE {
            return None;
        }
        let slot = queue.head;
        queue.head = self.next[slot as usize];
        if queue.head == NONE {
            queue.tail = NONE;
        }
        queue.len -= 1;
        Some(slot)
    }

    /// Copies the oldest packet of `queue` into `out` (which must hold a slot) and frees its
    /// slot; returns its length.
    pub fn pop_into(&mut self, queue: &mut StagedQueue, out: &mut [u8]) -> Option<usize> {
        let slot = self.pop_slot(queue)?;
        let len = usize::from(self.lengths[slot as usize]);
        let start = slot as usize * self.slot_size;
        out[..len].copy_from_slice(&self.data[start..start + len]);
        self.release(slot);
        Some(len)
    }

    /// Drops every packet of `queue`; returns how many.
    pub fn clear(&mut self, queue: &mut StagedQueue) -> u32 {
        let n = queue.len;
        while let Some(slot) = self.pop_slot(queue) {
            self.release(slot);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_per_peer_limit_and_pool_exhaustion() {
        let mut pool = StagingPool::new(3, 8, 2);
        let (mut a, mut b) = (StagedQueue::default(), StagedQueue::default());
        assert_eq!(pool.push(&mut a, b"a1"), PushResult::Queued);
        assert_eq!(pool.push(&mut a, b"a2"), PushResult::Queued);
        assert_eq!(pool.push(&mut a, b"a3"), PushResult::QueuedEvictedOldest);
        assert_eq!(pool.push(&mut b, b"b1"), PushResult::Queued);
        // Pool full, b has one to evict.
        assert_eq!(pool.push(&mut b, b"b2"), PushResult::QueuedEvictedOldest);
        let mut c = StagedQueue::default();
        assert_eq!(pool.push(&mut c, b"c1"), PushResult::Dropped);
        assert_eq!(pool.push(&mut c, &[0; 9]), PushResult::Dropped);
        let mut out = [0u8; 8];
        assert_eq!(pool.pop_into(&mut a, &mut out), Some(2));
        assert_eq!(&out[..2], b"a2");
        assert_eq!(pool.pop_into(&mut a, &mut out), Some(2));
        assert_eq!(&out[..2], b"a3");
        assert_eq!(pool.pop_into(&mut a, &mut out), None);
        assert_eq!(pool.clear(&mut b), 1);
        assert_eq!(pool.push(&mut c, b""), PushResult::Queued);
        assert_eq!(pool.pop_into(&mut c, &mut out), Some(0));
    }
}
