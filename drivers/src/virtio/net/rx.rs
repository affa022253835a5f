//! The receive queue: every buffer posted at start, each re-posted as soon
//! as its frame has been handled.

use super::header::{rx_checksum, rx_frame, RxChecksum};
use super::{Buffer, BUFFER_BYTES, RX_QUEUE_SIZE};
use crate::virtio::book::Ledger;
use crate::virtio::IdentityHal;
use alloc::boxed::Box;
use alloc::vec::Vec;
use virtio_drivers::queue::VirtQueue;

pub(super) type RxRing = VirtQueue<IdentityHal, RX_QUEUE_SIZE>;

/// A NIC's receive queue (virtqueue 0).
pub struct RxQueue {
    /// The `Nic::id` of the NIC whose device uses this ring.
    pub(super) owner: u32,
    pub(super) ring: RxRing,
    /// One buffer per descriptor. Never moved, resized or freed while the
    /// NIC exists, so addresses given to the device stay valid.
    buffers: Box<[Buffer]>,
    /// Buffer index for each token the device holds.
    in_flight: Ledger<u16, RX_QUEUE_SIZE>,
    /// Buffers that could not be posted (the ring refused them), retried at
    /// the next flush. Capacity for all buffers, so never reallocated.
    unposted: Vec<u16>,
    header_len: usize,
    guest_csum: bool,
    /// Buffers were added since the last notification decision.
    pub(super) added: bool,
    /// The device returned a token that is not in flight: the ring cannot
    /// be advanced past it, so it is left alone until the NIC resets the
    /// device (at the next flush).
    pub(super) broken: bool,
    pub(super) frames: u64,
    pub(super) bad_descriptors: u64,
}

impl RxQueue {
    pub(super) fn new(
        owner: u32,
        ring: RxRing,
        buffers: Box<[Buffer]>,
        header_len: usize,
        guest_csum: bool,
    ) -> Self {
        let count = buffers.len();
        let mut queue = Self {
            owner,
            ring,
            buffers,
            in_flight: Ledger::new(),
            unposted: Vec::with_capacity(count),
            header_len,
            guest_csum,
            added: false,
            broken: false,
            frames: 0,
            bad_descriptors: 0,
        };
        queue.post_all();
        queue
    }

    /// Replaces the ring after a device reset (the device holds no buffer
    /// any more) and posts every buffer to the new one.
    pub(super) fn reinstall(&mut self, ring: RxRing) {
        self.ring = ring;
        self.in_flight.clear();
        self.unposted.clear();
        self.broken = false;
        self.post_all();
    }

    fn post_all(&mut self) {
        for index in 0..self.buffers.len() {
            // The buffer count is RX_QUEUE_SIZE, which fits in u16.
            self.post(index as u16);
        }
    }

    /// Gives buffer `index` to the device (seen at the next notification).
    fn post(&mut self, index: u16) {
        let Some(buffer) = self.buffers.get_mut(usize::from(index)) else {
            return;
        };
        // SAFETY: the buffer lives in `self.buffers`, a boxed slice that is
        // never moved, resized or freed while the NIC exists (and the device
        // is reset before the NIC is dropped). It is not in flight (each
        // index is posted once and re-posted only after `pop_used` gave it
        // back), and the driver does not touch it again until `pop_used`
        // returns its token (recorded in `in_flight`).
        let added = unsafe { self.ring.add(&[], &mut [&mut buffer.0[..]]) };
        match added {
            Ok(token) => {
                self.added = true;
                if !self.in_flight.insert(token, index) {
                    // The ring handed out a token we think is in flight: our
                    // books and the ring disagree; start over.
                    self.broken = true;
                }
            }
            // Only `QueueFull`, impossible with one descriptor per buffer.
            Err(_) => self.unposted.push(index),
        }
    }

    /// Retries buffers the ring refused earlier.
    pub(super) fn retry_unposted(&mut self) {
        for _ in 0..self.unposted.len() {
            if let Some(index) = self.unposted.pop() {
                self.post(index);
            }
        }
    }

    /// Hands the next received frame (Ethernet frame, virtio header
    /// stripped, mutable in place) and its checksum state to `handle`, then
    /// re-posts the buffer (notified at the next flush). `None` if nothing
    /// is waiting. A bad descriptor (length 0, no more than the header,
    /// longer than the buffer) is counted, its buffer re-posted, and the
    /// next one tried; it never stalls the queue or reads out of bounds. A
    /// token that is not in flight is counted and stops the queue until the
    /// next `Nic::flush` resets the device.
    pub fn receive<R>(&mut self, handle: impl FnOnce(&mut [u8], RxChecksum) -> R) -> Option<R> {
        // Bounded so that a device returning only garbage cannot keep us here.
        for _ in 0..RX_QUEUE_SIZE {
            if self.broken {
                return None;
            }
            let token = self.ring.peek_used()?;
            let Some(index) = self.in_flight.take(token) else {
                // Unknown or duplicate id: `pop_used` needs the buffer that
                // was added with this token and there is none, and skipping
                // the entry is impossible through `VirtQueue`.
                self.bad_descriptors += 1;
                self.broken = true;
                return None;
            };
            let buffer = &mut self.buffers[usize::from(index)].0;
            // SAFETY: `buffer` is exactly the slice added with `token` in
            // `post` (the ledger maps the token to its index), as `pop_used`
            // requires; the ring then stops referring to it.
            let popped = unsafe { self.ring.pop_used(token, &[], &mut [&mut buffer[..]]) };
            let used_len = match popped {
                Ok(len) => len,
                Err(_) => {
                    // Cannot happen after `peek_used` returned this token;
                    // the buffer stays with the device.
                    self.in_flight.insert(token, index);
                    self.broken = true;
                    return None;
                }
            };
            let Some(frame) = rx_frame(used_len, self.header_len, BUFFER_BYTES) else {
                self.bad_descriptors += 1;
                self.post(index);
                continue;
            };
            let checksum = rx_checksum(&buffer[..self.header_len], self.guest_csum);
            self.frames += 1;
            let result = handle(&mut buffer[frame], checksum);
            self.post(index);
            return Some(result);
        }
        None
    }

    /// Whether a received frame (or a bad descriptor to skip) is waiting.
    pub fn has_frames(&self) -> bool {
        !self.broken && self.ring.can_pop()
    }

    /// Buffers the device holds.
    pub fn posted(&self) -> usize {
        self.in_flight.len()
    }
}
