//! Every peer's earliest timer deadline in an indexed binary min-heap, so that
//! `next_deadline` is O(1) and re-arming a peer's timer is O(log peers), whatever the number
//! of peers. Allocated once for all peers; a peer with no timer armed sits at the bottom with
//! the key `Instant::MAX`.

use alloc::vec::Vec;

use super::types::PeerId;
use crate::time::Instant;

/// Indexed min-heap of `(deadline, peer)`.
pub(crate) struct TimerQueue {
    /// Heap order: positions hold peer numbers.
    heap: Vec<u32>,
    /// For each peer, its position in `heap`.
    position: Vec<u32>,
    /// For each peer, its key.
    key: Vec<Instant>,
}

impl TimerQueue {
    /// A queue holding `peers` peers, none with a deadline.
    pub fn new(peers: usize) -> TimerQueue {
        TimerQueue {
            heap: (0..peers as u32).collect(),
            position: (0..peers as u32).collect(),
            key: alloc::vec![Instant::MAX; peers],
        }
    }

    /// The earliest deadline and its peer.
    pub fn peek(&self) -> Option<(Instant, PeerId)> {
        let &top = self.heap.first()?;
        let key = self.key[top as usize];
        (key != Instant::MAX).then_some((key, PeerId(top)))
    }

    /// Sets `peer`'s earliest deadline (`None`: nothing armed).
    pub fn set(&mut self, peer: PeerId, deadline: Option<Instant>) {
        let key = deadline.unwrap_or(Instant::MAX);
        let p = peer.index();
        let old = self.key[p];
        if old == key {
            return;
        }
        self.key[p] = key;
        let pos = self.position[p] as usize;
        if key < old {
            self.sift_up(pos);
        } else {
            self.sift_down(pos);
        }
    }

    fn less(&self, a: usize, b: usize) -> bool {
        self.key[self.heap[a] as usize] < self.key[self.heap[b] as usize]
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.position[self.heap[a] as usize] = a as u32;
        self.position[self.heap[b] as usize] = b as u32;
    }

    fn sift_up(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if !self.less(pos, parent) {
                break;
            }
            self.swap(pos, parent);
            pos = parent;
        }
    }

    fn sift_down(&mut self, mut pos: usize) {
        let len = self.heap.len();
        loop {
            let left = 2 * pos + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let child = if right < len && self.less(right, left) {
                right
            } else {
                left
            };
            if !self.less(child, pos) {
                break;
            }
            self.swap(pos, child);
            pos = child;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_minimum_on_top() {
        let mut q = TimerQueue::new(50);
        assert_eq!(q.peek(), None);
        for i in 0..50u32 {
            q.set(
                PeerId(i),
                Some(Instant::from_secs(u64::from((i * 37) % 50) + 1)),
            );
        }
        let mut seen = Vec::new();
        while let Some((t, peer)) = q.peek() {
            seen.push(t);
            q.set(peer, None);
        }
        assert_eq!(seen.len(), 50);
        assert!(seen.windows(2).all(|w| w[0] <= w[1]));
        q.set(PeerId(3), Some(Instant::from_secs(9)));
        q.set(PeerId(4), Some(Instant::from_secs(5)));
        q.set(PeerId(4), Some(Instant::from_secs(10)));
        assert_eq!(q.peek(), Some((Instant::from_secs(9), PeerId(3))));
    }
}
