//! The receiver index table: our random 32-bit indices, each naming a peer's pending
//! handshake or one of its keypairs, so that responses, cookie replies and transport data
//! find their session in O(1).
//!
//! Open addressing with linear probing in a table allocated once, sized to at most half full
//! when every peer holds its maximum of four indices (one handshake, three keypairs). Indices
//! are drawn at random by us, so a remote sender cannot make them collide; deletion shifts
//! later entries back so probes never need tombstones.

use alloc::vec;
use alloc::vec::Vec;

use rand_core::RngCore;

use super::types::PeerId;

/// What an index names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IndexKind {
    /// Our outstanding handshake initiation.
    Handshake,
    /// One of the peer's keypairs.
    Keypair,
}

#[derive(Clone, Copy)]
struct Entry {
    index: u32,
    peer: PeerId,
    kind: IndexKind,
}

/// Most indices one peer can hold at once.
pub(crate) const INDICES_PER_PEER: usize = 4;

/// Fixed-capacity map from index to `(peer, kind)`.
pub(crate) struct IndexTable {
    slots: Vec<Option<Entry>>,
    mask: usize,
    len: usize,
}

impl IndexTable {
    /// A table for `peers` peers.
    pub fn new(peers: usize) -> IndexTable {
        let capacity = (peers.max(1) * INDICES_PER_PEER * 2).next_power_of_two();
        IndexTable {
            slots: vec![None; capacity],
            mask: capacity - 1,
            len: 0,
        }
    }

    fn home(&self, index: u32) -> usize {
        // Fibonacci hashing spreads the bits; indices are random anyway.
        (index.wrapping_mul(0x9e37_79b9) as usize) & self.mask
    }

    /// Finds the slot holding `index`.
    fn find(&self, index: u32) -> Option<usize> {
        let mut pos = self.home(index);
        loop {
            match self.slots[pos] {
                None => return None,
                Some(entry) if entry.index == index => return Some(pos),
                Some(_) => pos = (pos + 1) & self.mask,
            }
        }
    }

    /// The peer and kind `index` names.
    pub fn lookup(&self, index: u32) -> Option<(PeerId, IndexKind)> {
        self.find(index)
            .and_then(|pos| self.slots[pos])
            .map(|e| (e.peer, e.kind))
    }

    /// Draws a fresh random index not in use and records it for `peer`. Returns `None` only
    /// if the table is full (which the sizing rules out).
    pub fn allocate(
        &mut self,
        peer: PeerId,
        kind: IndexKind,
        rng: &mut impl RngCore,
    ) -> Option<u32> {
        if self.len * 2 > self.slots.len() {
            return None;
        }
        loop {
            let index = rng.next_u32();
            if self.find(index).is_some() {
                continue;
            }
            let mut pos = self.home(index);
            while self.slots[pos].is_some() {
                pos = (pos + 1) & self.mask;
            }
            self.slots[pos] = Some(Entry { index, peer, kind });
            self.len += 1;
            return Some(index);
        }
    }

    /// Changes what `index` names (a handshake index handed over to the keypair it produced).
    pub fn set_kind(&mut self, index: u32, kind: IndexKind) {
        if let Some(pos) = self.find(index) {
            if let Some(entry) = self.slots[pos].as_mut() {
                entry.kind = kind;
            }
        }
    }

    /// Forgets `index` (no-op if absent).
    pub fn remove(&mut self, index: u32) {
        let Some(mut hole) = self.find(index) else {
            return;
        };
        self.slots[hole] = None;
        self.len -= 1;
        // Backward-shift deletion: move up every later entry of the run whose home slot is
        // not between the hole and its position, so lookups never stop early at the hole.
        let mut pos = (hole + 1) & self.mask;
        while let Some(entry) = self.slots[pos] {
            let home = self.home(entry.index);
            let distance_to_home = pos.wrapping_sub(home) & self.mask;
            let distance_to_hole = pos.wrapping_sub(hole) & self.mask;
            if distance_to_home >= distance_to_hole {
                self.slots[hole] = Some(entry);
                self.slots[pos] = None;
                hole = pos;
            }
            pos = (pos + 1) & self.mask;
        }
    }

    /// Whether the table is big enough for `peers` peers.
    pub fn fits(&self, peers: usize) -> bool {
        peers.max(1) * INDICES_PER_PEER * 2 <= self.slots.len()
    }

    /// A table for `peers` peers holding every entry of this one.
    pub fn resized(self, peers: usize) -> IndexTable {
        let mut table = IndexTable::new(peers);
        for entry in self.slots.into_iter().flatten() {
            let mut pos = table.home(entry.index);
            while table.slots[pos].is_some() {
                pos = (pos + 1) & table.mask;
            }
            table.slots[pos] = Some(entry);
            table.len += 1;
        }
        table
    }

    /// Hands every index of peer `from` to peer `to` (peer ids were renumbered).
    pub fn relabel(&mut self, from: PeerId, to: PeerId) {
        for entry in self.slots.iter_mut().flatten().filter(|e| e.peer == from) {
            entry.peer = to;
        }
    }

    /// Number of live indices.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(u32);
    impl RngCore for Counter {
        fn next_u32(&mut self) -> u32 {
            // Many values with the same home slot, to exercise probing and deletion.
            self.0 = self.0.wrapping_add(1);
            self.0 << 20
        }
        fn next_u64(&mut self) -> u64 {
            u64::from(self.next_u32())
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            rand_core::impls::fill_bytes_via_next(self, dest)
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    #[test]
    fn insert_lookup_remove_with_collisions() {
        let mut table = IndexTable::new(4);
        let mut rng = Counter(0);
        let mut live = Vec::new();
        for i in 0..16 {
            let idx = table
                .allocate(PeerId(i), IndexKind::Keypair, &mut rng)
                .unwrap();
            live.push((idx, PeerId(i)));
        }
        assert_eq!(table.len(), 16);
        for (n, (idx, peer)) in live.clone().into_iter().enumerate() {
            if n % 3 == 0 {
                table.remove(idx);
            }
            let _ = peer;
        }
        for (n, (idx, peer)) in live.into_iter().enumerate() {
            let expect = (n % 3 != 0).then_some((peer, IndexKind::Keypair));
            assert_eq!(table.lookup(idx), expect, "entry {n}");
        }
        assert_eq!(table.lookup(12345), None);
    }
}
