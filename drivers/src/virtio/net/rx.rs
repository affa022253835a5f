//! The receive queue: every buffer posted at start, each re-posted as soon
//! as its frame has been handled.
//!
//! With merged receive buffers (MRG_RXBUF, negotiated with segmentation
//! offload) a frame of up to 64 KiB spans several 2 KiB buffers. The
//! buffers are one contiguous array and are re-posted in the order the
//! device used them, so the pieces of a frame are normally neighbours in
//! memory, and the frame is handed over where it lies; only a frame that
//! wraps around the array's end (or pieces that are not full or not in
//! order) is gathered into one assembly buffer first.

use super::header::{num_buffers, rx_frame, rx_info, RxChecksum, RxInfo};
use super::{BUFFER_BYTES, RX_QUEUE_SIZE};
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
    /// One buffer per descriptor, `BUFFER_BYTES` each, back to back. Never
    /// moved, resized or freed while the NIC exists, so addresses given to
    /// the device stay valid.
    buffers: Box<[u8]>,
    /// Where a frame spread over buffers that are not neighbours is
    /// gathered (MRG_RXBUF only; empty otherwise).
    assembly: Box<[u8]>,
    /// The buffers of the frame being received (capacity for all buffers).
    pieces: Vec<(u16, usize)>,
    /// Buffer index for each token the device holds.
    in_flight: Ledger<u16, RX_QUEUE_SIZE>,
    /// Buffers that could not be posted (the ring refused them), retried at
    /// the next flush. Capacity for all buffers, so never reallocated.
    unposted: Vec<u16>,
    header_len: usize,
    guest_csum: bool,
    /// GUEST_TSO4/6 negotiated: frames may be GSO frames.
    gso: bool,
    /// MRG_RXBUF negotiated: a frame may span `num_buffers` buffers.
    mergeable: bool,
    /// Buffers were added since the last notification decision.
    pub(super) added: bool,
    /// The device returned a token that is not in flight: the ring cannot
    /// be advanced past it, so it is left alone until the NIC resets the
    /// device (at the next flush).
    pub(super) broken: bool,
    pub(super) frames: u64,
    pub(super) bad_descriptors: u64,
    /// Frames with a GSO type not negotiated or unknown.
    pub(super) bad_gso: u64,
    /// Frames spanning more than one buffer.
    pub(super) merged: u64,
    /// Of those, frames that had to be gathered (not neighbours in memory).
    pub(super) gathered: u64,
}

/// What the receive queue was configured with at negotiation.
#[derive(Clone, Copy)]
pub(super) struct RxMode {
    pub(super) header_len: usize,
    pub(super) guest_csum: bool,
    pub(super) gso: bool,
    pub(super) mergeable: bool,
}

/// The largest frame gathered from merged buffers: a 64 KiB IP packet
/// behind an Ethernet header (with a VLAN tag), with room to spare.
const ASSEMBLY_BYTES: usize = 65536 + BUFFER_BYTES;

impl RxQueue {
    pub(super) fn new(owner: u32, ring: RxRing, mode: RxMode) -> Self {
        let count = RX_QUEUE_SIZE;
        let assembly = if mode.mergeable { ASSEMBLY_BYTES } else { 0 };
        let mut queue = Self {
            owner,
            ring,
            buffers: alloc::vec![0u8; count * BUFFER_BYTES].into_boxed_slice(),
            assembly: alloc::vec![0u8; assembly].into_boxed_slice(),
            pieces: Vec::with_capacity(count),
            in_flight: Ledger::new(),
            unposted: Vec::with_capacity(count),
            header_len: mode.header_len,
            guest_csum: mode.guest_csum,
            gso: mode.gso,
            mergeable: mode.mergeable,
            added: false,
            broken: false,
            frames: 0,
            bad_descriptors: 0,
            bad_gso: 0,
            merged: 0,
            gathered: 0,
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
        for index in 0..RX_QUEUE_SIZE {
            // The buffer count is RX_QUEUE_SIZE, which fits in u16.
            self.post(index as u16);
        }
    }

    /// Gives buffer `index` to the device (seen at the next notification).
    fn post(&mut self, index: u16) {
        let Some(buffer) = self.buffers.get_mut(span(index)) else {
            return;
        };
        // SAFETY: the buffer lies in `self.buffers`, a boxed slice that is
        // never moved, resized or freed while the NIC exists (and the device
        // is reset before the NIC is dropped). It is not in flight (each
        // index is posted once and re-posted only after `pop_used` gave it
        // back), and the driver does not touch it again until `pop_used`
        // returns its token (recorded in `in_flight`).
        let added = unsafe { self.ring.add(&[], &mut [buffer]) };
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
    /// is waiting.
    pub fn receive<R>(&mut self, handle: impl FnOnce(&mut [u8], RxChecksum) -> R) -> Option<R> {
        self.receive_offloaded(|frame, info| handle(frame, info.checksum))
    }

    /// As `receive`, with the offload metadata (partial checksum position,
    /// GSO). A bad descriptor (length 0, no more than the header, longer
    /// than the buffer), a merged frame whose pieces do not add up, or a
    /// GSO type not negotiated is counted, its buffers re-posted, and the
    /// next frame tried; it never stalls the queue or reads out of bounds.
    /// A token that is not in flight is counted and stops the queue until
    /// the next `Nic::flush` resets the device.
    pub fn receive_offloaded<R>(
        &mut self,
        handle: impl FnOnce(&mut [u8], RxInfo) -> R,
    ) -> Option<R> {
        // Called at most once: the loop returns right after.
        let mut handle = Some(handle);
        // Bounded so that a device returning only garbage cannot keep us here.
        for _ in 0..RX_QUEUE_SIZE {
            let (index, used_len) = self.pop()?;
            let Some(frame) = rx_frame(used_len, self.header_len, BUFFER_BYTES) else {
                self.bad_descriptors += 1;
                self.post(index);
                continue;
            };
            let first = span(index);
            let header = &self.buffers[first.start..first.start + self.header_len];
            let info = rx_info(header, self.guest_csum, self.gso);
            let pieces = if self.mergeable {
                num_buffers(header)
            } else {
                1
            };
            if pieces == 1 {
                let Some(info) = info else {
                    self.bad_gso += 1;
                    self.post(index);
                    continue;
                };
                self.frames += 1;
                let range = first.start + frame.start..first.start + frame.end;
                let result = handle.take().map(|h| h(&mut self.buffers[range], info));
                self.post(index);
                return result;
            }
            // A merged frame: take its other pieces off the used ring.
            self.pieces.clear();
            self.pieces.push((index, frame.end));
            let mut complete = (2..=RX_QUEUE_SIZE).contains(&pieces);
            while complete && self.pieces.len() < pieces {
                match self.pop() {
                    Some((next, used)) => {
                        let used = usize::try_from(used).unwrap_or(0);
                        complete = used > 0 && used <= BUFFER_BYTES;
                        self.pieces.push((next, used.min(BUFFER_BYTES)));
                    }
                    // The device announced buffers it did not return.
                    None => complete = false,
                }
            }
            let total = self.pieces.iter().map(|&(_, used)| used).sum::<usize>() - frame.start;
            let result = match info {
                Some(info) if complete && total <= self.assembly.len() => {
                    self.frames += 1;
                    self.merged += 1;
                    let frame = self.merged_frame(frame.start, total);
                    handle.take().map(|h| h(frame, info))
                }
                Some(_) => {
                    self.bad_descriptors += 1;
                    None
                }
                None => {
                    self.bad_gso += 1;
                    None
                }
            };
            for i in 0..self.pieces.len() {
                let (index, _) = self.pieces[i];
                self.post(index);
            }
            if result.is_some() {
                return result;
            }
        }
        None
    }

    /// The next used buffer and the length the device wrote; `None` if none
    /// is waiting or the queue is broken (see `receive_offloaded`).
    fn pop(&mut self) -> Option<(u16, u32)> {
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
        let buffer = &mut self.buffers[span(index)];
        // SAFETY: `buffer` is exactly the slice added with `token` in
        // `post` (the ledger maps the token to its index), as `pop_used`
        // requires; the ring then stops referring to it.
        let popped = unsafe { self.ring.pop_used(token, &[], &mut [buffer]) };
        match popped {
            Ok(len) => Some((index, len)),
            Err(_) => {
                // Cannot happen after `peek_used` returned this token;
                // the buffer stays with the device.
                self.in_flight.insert(token, index);
                self.broken = true;
                None
            }
        }
    }

    /// The frame in `self.pieces` (the first piece's frame starting at
    /// `start`, `total` bytes in all): in place if its pieces are full
    /// neighbours in memory, else gathered into the assembly buffer.
    fn merged_frame(&mut self, start: usize, total: usize) -> &mut [u8] {
        let (frame, gathered) = merged_frame(
            &mut self.buffers,
            &mut self.assembly,
            &self.pieces,
            start,
            total,
        );
        self.gathered += u64::from(gathered);
        frame
    }

    /// Whether frames may be GSO frames.
    pub fn gso(&self) -> bool {
        self.gso
    }

    /// Merged frames, and how many of them were gathered.
    pub fn merged_frames(&self) -> (u64, u64) {
        (self.merged, self.gathered)
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

/// Where buffer `index` lies in the buffer array.
fn span(index: u16) -> core::ops::Range<usize> {
    let start = usize::from(index) * BUFFER_BYTES;
    start..start + BUFFER_BYTES
}

/// The frame whose pieces are `pieces` (buffer index, bytes used) in
/// `buffers`, the first piece's frame starting `start` bytes into its
/// buffer, `total` bytes in all (the caller checked that `total` fits
/// `assembly` and is the sum of the pieces less `start`): in place if the
/// pieces are neighbours in memory, each but the last full; else gathered
/// into `assembly` (then `true`).
fn merged_frame<'a>(
    buffers: &'a mut [u8],
    assembly: &'a mut [u8],
    pieces: &[(u16, usize)],
    start: usize,
    total: usize,
) -> (&'a mut [u8], bool) {
    let Some(&(first, _)) = pieces.first() else {
        return (&mut assembly[..0], true);
    };
    let last = pieces.len() - 1;
    let neighbours = pieces.iter().enumerate().all(|(i, &(index, used))| {
        usize::from(index) == usize::from(first) + i && (i == last || used == BUFFER_BYTES)
    });
    let begin = span(first).start + start;
    if neighbours && begin + total <= buffers.len() {
        return (&mut buffers[begin..begin + total], false);
    }
    let mut at = 0;
    for (i, &(index, used)) in pieces.iter().enumerate() {
        let skip = if i == 0 { start } else { 0 };
        let from = span(index).start;
        let (Some(piece), Some(to)) = (
            buffers.get(from + skip..from + used),
            assembly.get_mut(at..at + used.saturating_sub(skip)),
        ) else {
            break;
        };
        to.copy_from_slice(piece);
        at += piece.len();
    }
    (&mut assembly[..total.min(at)], true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// Four buffers whose bytes number their position in the whole array.
    fn buffers() -> Vec<u8> {
        (0..4 * BUFFER_BYTES).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn neighbouring_full_pieces_are_used_in_place() {
        let mut buffers = buffers();
        let expected = buffers[BUFFER_BYTES + 12..3 * BUFFER_BYTES + 100].to_vec();
        let mut assembly = vec![0u8; 8 * BUFFER_BYTES];
        let pieces = [(1, BUFFER_BYTES), (2, BUFFER_BYTES), (3, 100)];
        let total = 2 * BUFFER_BYTES + 100 - 12;
        let (frame, gathered) = merged_frame(&mut buffers, &mut assembly, &pieces, 12, total);
        assert!(!gathered);
        assert_eq!(frame, &expected[..]);
    }

    #[test]
    fn wrapped_short_or_unordered_pieces_are_gathered() {
        let original = buffers();
        let b = BUFFER_BYTES;
        let cases: [&[(u16, usize)]; 3] = [
            &[(3, b), (0, 50)],        // wraps around the end
            &[(1, b - 1), (2, 50)],    // a piece not full
            &[(2, b), (1, b), (3, 7)], // out of order
        ];
        for pieces in cases {
            let mut buffers = original.clone();
            let mut assembly = vec![0u8; 8 * b];
            let mut expected = Vec::new();
            for (i, &(index, used)) in pieces.iter().enumerate() {
                let from = usize::from(index) * b + if i == 0 { 12 } else { 0 };
                expected.extend_from_slice(&original[from..usize::from(index) * b + used]);
            }
            let total = expected.len();
            let (frame, gathered) = merged_frame(&mut buffers, &mut assembly, pieces, 12, total);
            assert!(gathered, "{pieces:?}");
            assert_eq!(frame, &expected[..], "{pieces:?}");
        }
    }

    #[test]
    fn pieces_beyond_the_assembly_buffer_are_cut_not_overrun() {
        let mut buffers = buffers();
        let mut assembly = vec![0u8; 100];
        let pieces = [(3, BUFFER_BYTES), (0, 50)];
        let (frame, _) = merged_frame(&mut buffers, &mut assembly, &pieces, 12, 2086);
        assert!(frame.len() <= 100);
    }
}
