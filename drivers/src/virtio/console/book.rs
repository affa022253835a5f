//! Buffer bookkeeping apart from the device, tested on the host: what each
//! in-flight token (head descriptor index) stands for, and which buffers
//! are free. (The same scheme as the virtio-net driver's.)

use alloc::vec::Vec;

/// What each in-flight token stands for. A token the ledger does not hold
/// is one the device must not return.
pub(super) struct Ledger<T: Copy, const N: usize> {
    slots: [Option<T>; N],
    count: usize,
}

impl<T: Copy, const N: usize> Ledger<T, N> {
    pub(super) fn new() -> Self {
        Self { slots: [None; N], count: 0 }
    }

    /// Records that `token` now stands for `value`; false (nothing
    /// recorded) if it is out of range or already in flight.
    pub(super) fn insert(&mut self, token: u16, value: T) -> bool {
        match self.slots.get_mut(usize::from(token)) {
            Some(slot @ None) => {
                *slot = Some(value);
                self.count += 1;
                true
            }
            _ => false,
        }
    }

    /// Ends `token`'s flight; `None` if it was not in flight.
    pub(super) fn take(&mut self, token: u16) -> Option<T> {
        let value = self.slots.get_mut(usize::from(token))?.take()?;
        self.count -= 1;
        Some(value)
    }

    /// Tokens in flight.
    pub(super) fn len(&self) -> usize {
        self.count
    }
}

/// Free buffer indices, a stack with its capacity fixed at creation.
pub(super) struct Pool {
    free: Vec<u16>,
    total: u16,
}

impl Pool {
    /// A pool where all of `0..total` are free.
    pub(super) fn new(total: u16) -> Self {
        let mut free = Vec::with_capacity(usize::from(total));
        free.extend((0..total).rev());
        Self { free, total }
    }

    pub(super) fn take(&mut self) -> Option<u16> {
        self.free.pop()
    }

    /// Returns a buffer; an index out of range, or one more than the pool
    /// holds, is ignored rather than grow the pool.
    pub(super) fn give(&mut self, index: u16) {
        if index < self.total && self.free.len() < usize::from(self.total) {
            self.free.push(index);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(ledger.take(u16::MAX), None);
        assert_eq!(ledger.len(), 1);
    }

    #[test]
    fn pool_hands_out_each_buffer_once() {
        let mut pool = Pool::new(4);
        let mut taken: Vec<u16> = core::iter::from_fn(|| pool.take()).collect();
        taken.sort_unstable();
        assert_eq!(taken, [0, 1, 2, 3]);
        pool.give(2);
        pool.give(9);
        assert_eq!(pool.len(), 1, "out of range ignored");
        for i in 0..4 {
            pool.give(i);
        }
        assert_eq!(pool.len(), 4, "never grows past its size");
    }
}
