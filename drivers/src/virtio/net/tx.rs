//! The transmit queue: a fixed pool of buffers, completions reaped lazily in
//! batches, never an interrupt.

use super::header::{encode_tx_header, fill_checksum, tx_span, TxFrame};
use super::{Buffer, BUFFER_BYTES, TX_HEADROOM, TX_QUEUE_SIZE};
use crate::virtio::book::{Ledger, Pool};
use crate::virtio::IdentityHal;
use alloc::boxed::Box;
use virtio_drivers::queue::VirtQueue;

pub(super) type TxRing = VirtQueue<IdentityHal, TX_QUEUE_SIZE>;

/// `transmit` reaps completions when fewer buffers than this are free.
const REAP_BELOW: usize = TX_QUEUE_SIZE / 8;

/// A buffer in flight: its index and the span the descriptor covers.
#[derive(Clone, Copy)]
struct Sent {
    index: u16,
    start: u16,
    end: u16,
}

/// A NIC's transmit queue (virtqueue 1).
pub struct TxQueue {
    /// The `Nic::id` of the NIC whose device uses this ring.
    pub(super) owner: u32,
    pub(super) ring: TxRing,
    /// One buffer per descriptor. Never moved, resized or freed while the
    /// NIC exists, so addresses given to the device stay valid.
    buffers: Box<[Buffer]>,
    in_flight: Ledger<Sent, TX_QUEUE_SIZE>,
    free: Pool,
    header_len: usize,
    /// CSUM negotiated: the device fills in requested checksums.
    device_csum: bool,
    /// Frames were added since the last notification decision.
    pub(super) added: bool,
    /// The device returned a token that is not in flight; nothing more is
    /// sent or reaped until the NIC resets the device (at the next flush).
    pub(super) broken: bool,
    pub(super) frames: u64,
    pub(super) full: u64,
    pub(super) invalid: u64,
    pub(super) bad_descriptors: u64,
}

impl TxQueue {
    pub(super) fn new(
        owner: u32,
        ring: TxRing,
        buffers: Box<[Buffer]>,
        header_len: usize,
        device_csum: bool,
    ) -> Self {
        // The buffer count is TX_QUEUE_SIZE, which fits in u16.
        let free = Pool::new(buffers.len() as u16);
        Self {
            owner,
            ring,
            buffers,
            in_flight: Ledger::new(),
            free,
            header_len,
            device_csum,
            added: false,
            broken: false,
            frames: 0,
            full: 0,
            invalid: 0,
            bad_descriptors: 0,
        }
    }

    /// Replaces the ring after a device reset: the device holds no buffer
    /// any more, so all are free.
    pub(super) fn reinstall(&mut self, ring: TxRing) {
        self.ring = ring;
        self.in_flight.clear();
        self.free.refill();
        self.broken = false;
        self.added = false;
    }

    /// Largest frame `transmit` accepts.
    pub fn max_frame(&self) -> usize {
        super::MAX_FRAME
    }

    /// Builds one frame in a free transmit buffer. `fill` gets the buffer
    /// (`MAX_FRAME` bytes; the virtio header room is reserved before it)
    /// and returns where the frame lies in it, or `None` to send nothing
    /// (the buffer goes back to the pool). A frame that does not fit (or
    /// whose checksum field lies outside it) is dropped and counted in
    /// `tx_invalid`. Returns whether a frame was queued; `tx_full` counts
    /// the calls that found no free buffer. The device is notified at the
    /// next `Nic::flush`.
    pub fn transmit(&mut self, fill: impl FnOnce(&mut [u8]) -> Option<TxFrame>) -> bool {
        if self.free.len() < REAP_BELOW {
            self.reap();
        }
        let index = match self.free.take() {
            Some(index) if !self.broken => index,
            taken => {
                if let Some(index) = taken {
                    self.free.give(index);
                }
                self.full += 1;
                return false;
            }
        };
        let buffer = &mut self.buffers[usize::from(index)].0;
        let Some(frame) = fill(&mut buffer[TX_HEADROOM..]) else {
            self.free.give(index);
            return false;
        };
        let Some(span) = tx_span(&frame, TX_HEADROOM, BUFFER_BYTES, self.header_len) else {
            self.invalid += 1;
            self.free.give(index);
            return false;
        };
        let frame_start = span.start + self.header_len;
        let checksum = match frame.checksum {
            Some(_) if self.device_csum => frame.checksum,
            Some((start, offset)) => {
                fill_checksum(
                    &mut buffer[frame_start..span.end],
                    usize::from(start),
                    usize::from(offset),
                );
                None
            }
            None => None,
        };
        encode_tx_header(&mut buffer[span.start..frame_start], checksum);
        let sent = Sent {
            index,
            start: span.start as u16,
            end: span.end as u16,
        };
        // SAFETY: the buffer lives in `self.buffers`, a boxed slice that is
        // never moved, resized or freed while the NIC exists (and the device
        // is reset before the NIC is dropped). It came from the free pool,
        // so the device holds no other reference to it, and it is neither
        // read nor written again until `reap` pops its token (recorded in
        // `in_flight` with this same span).
        let added = unsafe { self.ring.add(&[&buffer[span]], &mut []) };
        match added {
            Ok(token) => {
                self.added = true;
                self.frames += 1;
                if !self.in_flight.insert(token, sent) {
                    self.broken = true;
                }
                true
            }
            Err(_) => {
                // Only `QueueFull`, impossible with one descriptor per buffer.
                self.free.give(index);
                self.full += 1;
                false
            }
        }
    }

    /// Whether the device fills in checksums (CSUM was negotiated).
    pub fn device_checksum(&self) -> bool {
        self.device_csum
    }

    /// Free buffers, after reaping completions.
    pub fn free(&mut self) -> usize {
        self.reap();
        self.free.len()
    }

    /// Takes back every buffer the device has finished with.
    pub fn reap(&mut self) {
        while !self.broken {
            let Some(token) = self.ring.peek_used() else {
                return;
            };
            let Some(sent) = self.in_flight.take(token) else {
                self.bad_descriptors += 1;
                self.broken = true;
                return;
            };
            let span = &self.buffers[usize::from(sent.index)].0
                [usize::from(sent.start)..usize::from(sent.end)];
            // SAFETY: `span` is exactly the slice added with `token` in
            // `transmit` (the ledger recorded its buffer and bounds), as
            // `pop_used` requires.
            let popped = unsafe { self.ring.pop_used(token, &[span], &mut []) };
            match popped {
                Ok(_) => self.free.give(sent.index),
                Err(_) => {
                    // Cannot happen after `peek_used` returned this token.
                    self.in_flight.insert(token, sent);
                    self.broken = true;
                }
            }
        }
    }
}
