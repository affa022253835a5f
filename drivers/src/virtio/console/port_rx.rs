//! The named port's receive queue: every buffer posted once the port is
//! known; a filled buffer is held until `read` has copied all of it out,
//! then re-posted. Bytes of a session that ended are dropped, never read.

use super::{Broken, DataBuffer, PortRing, DATA_BUFFER, PORT_QUEUE_SIZE};
use crate::virtio::book::Ledger;
use alloc::boxed::Box;
use alloc::collections::VecDeque;

/// A buffer the device filled, not yet read to its end.
#[derive(Clone, Copy)]
struct Filled {
    index: u16,
    /// Next byte to read.
    start: usize,
    end: usize,
}

/// Host → guest bytes of the named port.
pub(super) struct PortRx {
    /// Never moved, resized or freed while the device may use them.
    buffers: Box<[DataBuffer]>,
    in_flight: Ledger<u16, PORT_QUEUE_SIZE>,
    /// In arrival order; capacity for every buffer, so never reallocated.
    filled: VecDeque<Filled>,
    /// Buffers were posted since the last notification decision.
    pub(super) added: bool,
    pub(super) bytes: u64,
    pub(super) discarded: u64,
    /// Used entries with length 0 or longer than the buffer.
    pub(super) bad: u64,
}

impl PortRx {
    pub(super) fn new() -> Self {
        Self {
            buffers: (0..PORT_QUEUE_SIZE)
                .map(|_| DataBuffer([0; DATA_BUFFER]))
                .collect(),
            in_flight: Ledger::new(),
            filled: VecDeque::with_capacity(PORT_QUEUE_SIZE),
            added: false,
            bytes: 0,
            discarded: 0,
            bad: 0,
        }
    }

    /// Posts every buffer on `ring` (once, when the port is found).
    pub(super) fn post_all(&mut self, ring: &mut PortRing) -> Result<(), Broken> {
        for index in 0..PORT_QUEUE_SIZE as u16 {
            self.post(ring, index)?;
        }
        Ok(())
    }

    fn post(&mut self, ring: &mut PortRing, index: u16) -> Result<(), Broken> {
        let buffer = self.buffers.get_mut(usize::from(index)).ok_or(Broken)?;
        // SAFETY: the buffer lives in `self.buffers`, a boxed slice never
        // moved, resized or freed while the device may use it (the device
        // is reset before the driver is dropped). It is neither in flight
        // nor held in `filled` (posted once, re-posted only after it left
        // both), and nothing touches it until `pop_used` returns its token.
        let token = unsafe { ring.add(&[], &mut [&mut buffer.0[..]]) }.map_err(|_| Broken)?;
        self.added = true;
        if self.in_flight.insert(token, index) {
            Ok(())
        } else {
            Err(Broken)
        }
    }

    /// Takes the device's completed buffers: kept for `read` if `keep`,
    /// else dropped and re-posted at once. Bounded: at most one pass over
    /// the buffers.
    pub(super) fn collect(&mut self, ring: &mut PortRing, keep: bool) -> Result<(), Broken> {
        for _ in 0..PORT_QUEUE_SIZE {
            let Some(token) = ring.peek_used() else { break };
            let index = self.in_flight.take(token).ok_or(Broken)?;
            let buffer = &mut self.buffers[usize::from(index)].0;
            // SAFETY: `buffer` is exactly the slice added with `token` in
            // `post`, as `pop_used` requires.
            let used =
                unsafe { ring.pop_used(token, &[], &mut [&mut buffer[..]]) }.map_err(|_| Broken)?;
            match usize::try_from(used) {
                Ok(len @ 1..=DATA_BUFFER) if keep => {
                    self.bytes += len as u64;
                    self.filled.push_back(Filled {
                        index,
                        start: 0,
                        end: len,
                    });
                }
                Ok(len @ 1..=DATA_BUFFER) => {
                    self.discarded += len as u64;
                    self.post(ring, index)?;
                }
                _ => {
                    self.bad += 1;
                    self.post(ring, index)?;
                }
            }
        }
        Ok(())
    }

    /// Copies received bytes into `out`, re-posting each buffer read to
    /// its end.
    pub(super) fn read(&mut self, ring: &mut PortRing, out: &mut [u8]) -> Result<usize, Broken> {
        let mut copied = 0;
        while copied < out.len() {
            let Some(head) = self.filled.front_mut() else {
                break;
            };
            let source = &self.buffers[usize::from(head.index)].0[head.start..head.end];
            let n = source.len().min(out.len() - copied);
            out[copied..copied + n].copy_from_slice(&source[..n]);
            copied += n;
            head.start += n;
            if head.start == head.end {
                let index = head.index;
                self.filled.pop_front();
                self.post(ring, index)?;
            }
        }
        Ok(copied)
    }

    pub(super) fn readable(&self) -> bool {
        !self.filled.is_empty()
    }
}
