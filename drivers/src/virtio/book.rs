//! Buffer bookkeeping shared by the virtio drivers (net, console), apart
//! from the device so that it can be tested on the host: what each
//! in-flight token (head descriptor index) stands for, and which buffers
//! are free.

use alloc::vec::Vec;

/// What each in-flight token stands for. A token the ledger does not hold
/// is one the device must not return.
pub(crate) struct Ledger<T: Copy, const N: usize> {
    slots: [Option<T>; N],
    count: usize,
}

impl<T: Copy, const N: usize> Ledger<T, N> {
    /// An empty ledger.
    pub(crate) fn new() -> Self {
        Self {
            slots: [None; N],
            count: 0,
        }
    }

    /// Records that `token` now stands for `value`. Returns false (and
    /// records nothing) if the token is out of range or already in flight.
    pub(crate) fn insert(&mut self, token: u16, value: T) -> bool {
        match self.slots.get_mut(usize::from(token)) {
            Some(slot @ None) => {
                *slot = Some(value);
                self.count += 1;
                true
            }
            _ => false,
        }
    }

    /// Ends `token`'s flight, returning what it stood for, or `None` if it
    /// was not in flight (unknown, out of range, or already returned).
    pub(crate) fn take(&mut self, token: u16) -> Option<T> {
        let value = self.slots.get_mut(usize::from(token))?.take()?;
        self.count -= 1;
        Some(value)
    }

    /// Forgets every token (after a device reset, when none is in flight).
    pub(crate) fn clear(&mut self) {
        self.slots = [None; N];
        self.count = 0;
    }

    /// Tokens in flight.
    pub(crate) fn len(&self) -> usize {
        self.count
    }
}

/// Free buffer indices: a stack, so the most recently freed (cache-warm)
/// buffer is used first. Its capacity is fixed at creation; nothing is
/// allocated afterwards.
pub(crate) struct Pool {
    free: Vec<u16>,
    total: u16,
}

impl Pool {
    /// A pool where all of `0..total` are free.
    pub(crate) fn new(total: u16) -> Self {
        let mut pool = Self {
            free: Vec::with_capacity(usize::from(total)),
            total,
        };
        pool.refill();
        pool
    }

    /// Marks every buffer free again (after a device reset).
    pub(crate) fn refill(&mut self) {
        self.free.clear();
        self.free.extend((0..self.total).rev());
    }

    /// Takes a free buffer.
    pub(crate) fn take(&mut self) -> Option<u16> {
        self.free.pop()
    }

    /// Returns a buffer. An index out of range, or one more than the pool
    /// holds (a bookkeeping error elsewhere), is ignored rather than grow
    /// the pool.
    pub(crate) fn give(&mut self, index: u16) {
        if index < self.total && self.free.len() < usize::from(self.total) {
            self.free.push(index);
        }
    }

    /// Free buffers.
    pub(crate) fn len(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn ledger_tracks_tokens() {
        let mut ledger = Ledger::<u16, 4>::new();
        assert!(ledger.insert(0, 10));
        assert!(ledger.insert(3, 13));
        assert!(!ledger.insert(3, 99), "already in flight");
        assert!(!ledger.insert(4, 14), "out of range");
        assert_eq!(ledger.len(), 2);
        assert_eq!(ledger.take(3), Some(13));
        assert_eq!(ledger.take(3), None, "duplicate completion");
        assert_eq!(ledger.take(1), None, "never posted");
        assert_eq!(ledger.take(u16::MAX), None, "out of range");
        assert_eq!(ledger.len(), 1);
        assert!(ledger.insert(3, 23));
        assert_eq!(ledger.take(3), Some(23));
        ledger.clear();
        assert_eq!(ledger.len(), 0);
        assert_eq!(ledger.take(0), None);
    }

    #[test]
    fn pool_hands_out_each_buffer_once() {
        let mut pool = Pool::new(8);
        assert_eq!(pool.len(), 8);
        let mut taken: Vec<u16> = core::iter::from_fn(|| pool.take()).collect();
        taken.sort_unstable();
        assert_eq!(taken, (0..8).collect::<Vec<_>>());
        assert_eq!(pool.take(), None);
        pool.give(5);
        pool.give(2);
        assert_eq!(pool.take(), Some(2), "last freed first");
        assert_eq!(pool.take(), Some(5));
        pool.give(8);
        assert_eq!(pool.len(), 0, "out of range ignored");
        for i in 0..8 {
            pool.give(i);
        }
        pool.give(0);
        assert_eq!(pool.len(), 8, "never grows past its size");
        pool.take();
        pool.refill();
        assert_eq!(pool.len(), 8);
    }

    /// The transmit queue's cycle: take, send (ledger), complete in any
    /// order, give back: buffers are conserved and never in two places.
    #[test]
    fn transmit_cycle_conserves_buffers() {
        const N: usize = 16;
        let mut pool = Pool::new(N as u16);
        let mut ledger = Ledger::<u16, N>::new();
        let mut next_token = 0u16;
        let mut in_device: Vec<u16> = Vec::new();
        for round in 0..1000usize {
            // Send until the pool is empty.
            while let Some(index) = pool.take() {
                // A device hands out tokens among those not in flight.
                while ledger.slots[usize::from(next_token)].is_some() {
                    next_token = (next_token + 1) % N as u16;
                }
                assert!(ledger.insert(next_token, index));
                in_device.push(next_token);
            }
            assert_eq!(ledger.len(), N);
            // Complete a varying number, out of order.
            let done = 1 + round % N;
            for i in 0..done {
                let token = in_device.remove((i * 7 + round) % in_device.len());
                let index = ledger.take(token).expect("in flight");
                pool.give(index);
            }
            assert_eq!(pool.len() + ledger.len(), N);
        }
    }
}
