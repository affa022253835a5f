//! The named port's transmit queue: `write` copies into free buffers
//! (appending to the last one not yet given to the device) and stages
//! them; `submit` gives the staged buffers to the device. Staged bytes are
//! dropped when the client leaves, so a reply never reaches the next one.

use super::{Broken, DataBuffer, PortRing, DATA_BUFFER, PORT_QUEUE_SIZE};
use crate::virtio::book::{Ledger, Pool};
use alloc::boxed::Box;
use alloc::collections::VecDeque;

/// Guest → host bytes of the named port.
pub(super) struct PortTx {
    /// Never moved, resized or freed while the device may use them.
    buffers: Box<[DataBuffer]>,
    /// Buffer index and length for each token the device holds.
    in_flight: Ledger<(u16, u16), PORT_QUEUE_SIZE>,
    free: Pool,
    /// Written, not yet given to the device: buffer index and length.
    /// Capacity for every buffer, so never reallocated.
    staged: VecDeque<(u16, usize)>,
    /// Buffers were added since the last notification decision.
    pub(super) added: bool,
    pub(super) bytes: u64,
    pub(super) discarded: u64,
}

const _: () = assert!(DATA_BUFFER <= u16::MAX as usize);

impl PortTx {
    pub(super) fn new() -> Self {
        Self {
            buffers: (0..PORT_QUEUE_SIZE)
                .map(|_| DataBuffer([0; DATA_BUFFER]))
                .collect(),
            in_flight: Ledger::new(),
            free: Pool::new(PORT_QUEUE_SIZE as u16),
            staged: VecDeque::with_capacity(PORT_QUEUE_SIZE),
            added: false,
            bytes: 0,
            discarded: 0,
        }
    }

    /// Copies as much of `bytes` as fits into the last staged buffer and
    /// free ones; returns how many were taken.
    pub(super) fn write(&mut self, mut bytes: &[u8]) -> usize {
        let total = bytes.len();
        while !bytes.is_empty() {
            if self
                .staged
                .back()
                .is_none_or(|&(_, len)| len == DATA_BUFFER)
            {
                let Some(index) = self.free.take() else { break };
                self.staged.push_back((index, 0));
            }
            let Some((index, len)) = self.staged.back_mut() else {
                break;
            };
            let buffer = &mut self.buffers[usize::from(*index)].0;
            let n = bytes.len().min(DATA_BUFFER - *len);
            buffer[*len..*len + n].copy_from_slice(&bytes[..n]);
            *len += n;
            bytes = &bytes[n..];
        }
        total - bytes.len()
    }

    /// Drops the staged bytes (the client they were for left).
    pub(super) fn discard_staged(&mut self) {
        while let Some((index, len)) = self.staged.pop_front() {
            self.discarded += len as u64;
            self.free.give(index);
        }
    }

    /// Gives the staged buffers to the device (seen at the next
    /// notification).
    pub(super) fn submit(&mut self, ring: &mut PortRing) -> Result<(), Broken> {
        while let Some(&(index, len)) = self.staged.front() {
            let buffer = &self.buffers[usize::from(index)].0[..len];
            // SAFETY: the buffer lives in `self.buffers`, never moved or
            // freed while the device may use it; it is staged (taken from
            // the pool, not in flight), and it is not written again until
            // `pop_used` returns its token.
            let added = unsafe { ring.add(&[buffer], &mut []) };
            let Ok(token) = added else { break };
            self.staged.pop_front();
            self.added = true;
            self.bytes += len as u64;
            // `len` ≤ DATA_BUFFER, which fits in u16.
            if !self.in_flight.insert(token, (index, len as u16)) {
                return Err(Broken);
            }
        }
        Ok(())
    }

    /// Takes back every buffer the device has sent.
    pub(super) fn reap(&mut self, ring: &mut PortRing) -> Result<(), Broken> {
        for _ in 0..PORT_QUEUE_SIZE {
            let Some(token) = ring.peek_used() else { break };
            let (index, len) = self.in_flight.take(token).ok_or(Broken)?;
            let buffer = &self.buffers[usize::from(index)].0[..usize::from(len)];
            // SAFETY: `buffer` is exactly the slice added with `token` in
            // `submit` (the ledger recorded its index and length).
            unsafe { ring.pop_used(token, &[buffer], &mut []) }.map_err(|_| Broken)?;
            self.free.give(index);
        }
        Ok(())
    }

    /// Buffers neither staged nor with the device.
    pub(super) fn free(&self) -> usize {
        self.free.len()
    }

    /// Bytes staged or with the device.
    pub(super) fn pending(&self) -> bool {
        !self.staged.is_empty() || self.in_flight.len() > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn staged_bytes(tx: &PortTx) -> Vec<u8> {
        tx.staged
            .iter()
            .flat_map(|&(index, len)| tx.buffers[usize::from(index)].0[..len].to_vec())
            .collect()
    }

    #[test]
    fn small_writes_share_a_buffer() {
        let mut tx = PortTx::new();
        assert_eq!(tx.write(b""), 0);
        assert!(!tx.pending(), "an empty write stages nothing");
        assert_eq!(tx.write(b"errno=0\n"), 8);
        assert_eq!(tx.write(b"\n"), 1);
        assert_eq!(tx.staged.len(), 1);
        assert_eq!(staged_bytes(&tx), b"errno=0\n\n");
        assert_eq!(tx.free(), PORT_QUEUE_SIZE - 1);
        assert!(tx.pending());
    }

    #[test]
    fn writes_fill_buffers_in_order_and_stop_when_full() {
        let mut tx = PortTx::new();
        let data: Vec<u8> = (0..PORT_QUEUE_SIZE * DATA_BUFFER + 100)
            .map(|i| (i * 7 + i / 251) as u8)
            .collect();
        let first = tx.write(&data[..10]);
        let rest = tx.write(&data[10..]);
        assert_eq!(
            first + rest,
            PORT_QUEUE_SIZE * DATA_BUFFER,
            "takes what fits, no more"
        );
        assert_eq!(tx.free(), 0);
        assert_eq!(tx.write(b"x"), 0);
        assert_eq!(staged_bytes(&tx), &data[..PORT_QUEUE_SIZE * DATA_BUFFER]);
        assert!(tx.staged.iter().all(|&(_, len)| len == DATA_BUFFER));
    }

    #[test]
    fn discard_returns_every_buffer() {
        let mut tx = PortTx::new();
        assert_eq!(tx.write(&[1u8; DATA_BUFFER * 2 + 1]), DATA_BUFFER * 2 + 1);
        assert_eq!(tx.free(), PORT_QUEUE_SIZE - 3);
        tx.discard_staged();
        assert_eq!(tx.free(), PORT_QUEUE_SIZE);
        assert!(!tx.pending());
        assert_eq!(tx.discarded, (DATA_BUFFER * 2 + 1) as u64);
        assert_eq!(tx.write(b"next"), 4);
        assert_eq!(
            staged_bytes(&tx),
            b"next",
            "nothing of the dropped reply is left"
        );
    }
}
