//! In-memory NICs with bounded rings, standing in for virtio-net.
//!
//! A frame the test injects lands in the receive ring if there is room
//! (otherwise the "device" drops it and counts it, as a full virtio ring
//! makes QEMU's tap backend drop); frames the gateway queues occupy a
//! transmit slot until the test takes them off the wire, so tests control
//! how fast each device drains.

use std::collections::VecDeque;

use net::gateway::checksum;
use net::gateway::nic::{Nic, RxChecksum, RxInfo, RxRing, TxFrame, TxRing};

/// Size of each fake transmit buffer.
pub const BUFFER: usize = 2048;

pub struct FakeRx {
    ring: VecDeque<(Vec<u8>, RxInfo)>,
    capacity: usize,
    /// Whether the "device" says it delivers GSO frames.
    pub gso: bool,
    /// Frames the device dropped because the ring was full.
    pub device_drops: u64,
}

pub struct FakeTx {
    /// Queued since the last doorbell: the device has not seen them yet.
    queued: Vec<Vec<u8>>,
    /// Seen by the device, not yet taken off the wire by the test.
    wire: VecDeque<Vec<u8>>,
    capacity: usize,
    offload: bool,
    /// `transmit` calls that found no free slot.
    pub full: u64,
    /// Checksums the "device" filled in for the gateway.
    pub offloaded: u64,
}

pub struct FakeNic {
    pub rx: FakeRx,
    pub tx: FakeTx,
    mac: [u8; 6],
    /// Doorbells rung.
    pub doorbells: u64,
}

impl FakeNic {
    pub fn new(mac: [u8; 6], rx_slots: usize, tx_slots: usize, offload: bool) -> FakeNic {
        FakeNic {
            rx: FakeRx {
                ring: VecDeque::new(),
                capacity: rx_slots,
                gso: false,
                device_drops: 0,
            },
            tx: FakeTx {
                queued: Vec::new(),
                wire: VecDeque::new(),
                capacity: tx_slots,
                offload,
                full: 0,
                offloaded: 0,
            },
            mac,
            doorbells: 0,
        }
    }

    /// A frame arrives from the wire; `false` if the ring was full.
    pub fn inject(&mut self, frame: Vec<u8>, checksum: RxChecksum) -> bool {
        self.inject_offloaded(frame, RxInfo::plain(checksum))
    }

    /// A frame arrives with offload metadata (a partial checksum's
    /// position, GSO), as a virtio header would carry it.
    pub fn inject_offloaded(&mut self, frame: Vec<u8>, info: RxInfo) -> bool {
        if self.rx.ring.len() >= self.rx.capacity {
            self.rx.device_drops += 1;
            return false;
        }
        self.rx.ring.push_back((frame, info));
        true
    }

    /// Room left in the receive ring.
    pub fn rx_room(&self) -> usize {
        self.rx.capacity - self.rx.ring.len()
    }

    /// Takes up to `max` frames off the wire (completing their slots).
    pub fn take_sent(&mut self, max: usize) -> Vec<Vec<u8>> {
        let n = max.min(self.tx.wire.len());
        self.tx.wire.drain(..n).collect()
    }

    /// Frames queued but not yet announced by a doorbell.
    pub fn unannounced(&self) -> usize {
        self.tx.queued.len()
    }
}

impl RxRing for FakeRx {
    fn receive<R>(&mut self, handle: impl FnOnce(&mut [u8], RxChecksum) -> R) -> Option<R> {
        let (mut frame, info) = self.ring.pop_front()?;
        Some(handle(&mut frame, info.checksum))
    }

    fn receive_offloaded<R>(&mut self, handle: impl FnOnce(&mut [u8], RxInfo) -> R) -> Option<R> {
        let (mut frame, info) = self.ring.pop_front()?;
        Some(handle(&mut frame, info))
    }

    fn gso(&self) -> bool {
        self.gso
    }
}

impl TxRing for FakeTx {
    fn transmit(&mut self, fill: impl FnOnce(&mut [u8]) -> Option<TxFrame>) -> bool {
        if self.free() == 0 {
            self.full += 1;
            return false;
        }
        let mut buffer = vec![0u8; BUFFER];
        let Some(frame) = fill(&mut buffer) else {
            return false;
        };
        assert!(
            frame.start + frame.len <= BUFFER,
            "frame outside its buffer: {frame:?}"
        );
        let mut bytes = buffer[frame.start..frame.start + frame.len].to_vec();
        if let Some((start, offset)) = frame.checksum {
            assert!(self.offload, "checksum offload asked of a NIC without it");
            // What a virtio device does for NEEDS_CSUM: sum from `start` to the
            // end (the field holds the pseudo-header sum) and store it.
            let (start, field) = (usize::from(start), usize::from(start) + usize::from(offset));
            let sum = checksum::finish(&[checksum::sum(&bytes[start..])]);
            bytes[field..field + 2].copy_from_slice(&sum.to_be_bytes());
            self.offloaded += 1;
        }
        self.queued.push(bytes);
        true
    }

    fn free(&mut self) -> usize {
        self.capacity - self.queued.len() - self.wire.len()
    }

    fn checksum_offload(&self) -> bool {
        self.offload
    }
}

impl Nic for FakeNic {
    type Rx = FakeRx;
    type Tx = FakeTx;

    fn split(&mut self) -> (&mut FakeRx, &mut FakeTx) {
        (&mut self.rx, &mut self.tx)
    }

    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn flush(&mut self) {
        if !self.tx.queued.is_empty() {
            self.doorbells += 1;
            self.tx.wire.extend(self.tx.queued.drain(..));
        }
    }
}

impl FakeNic {
    /// Whether every transmit slot is free (nothing queued or on the wire).
    pub fn tx_free_all(&mut self) -> bool {
        self.tx.queued.is_empty() && self.tx.wire.is_empty()
    }
}

impl FakeNic {
    /// A copy of the frame most recently put in the receive ring.
    pub fn peek_rx_last(&self) -> Option<Vec<u8>> {
        self.rx.ring.back().map(|(frame, _)| frame.clone())
    }
}
