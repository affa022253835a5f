//! Packets waiting for their next hop's MAC address.
//!
//! A fixed number of fixed-size slots, allocated once. Each slot keeps
//! [`ETHERNET_HEADER_LEN`] bytes of room in front of the packet, so that once
//! the MAC is known the Ethernet header is written in place and the slot is
//! sent as is. Packets for one destination leave in the order they came.

use alloc::vec;
use alloc::vec::Vec;
use core::net::IpAddr;

use smoltcp::wire::ETHERNET_HEADER_LEN;

/// Why a packet could not be held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldError {
    /// The packet is larger than a slot can carry.
    TooLarge,
    /// Every slot is taken.
    QueueFull,
    /// This destination already has its share of slots.
    DestinationFull,
    /// The address cannot be resolved (no cache entry could be made, or the
    /// gateway has no LAN address of its family to ask from).
    Unresolvable,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    /// `None` while the slot is free.
    destination: Option<IpAddr>,
    /// Frame length: header room plus packet.
    frame_len: usize,
    /// Arrival order, to release packets first in, first out.
    sequence: u64,
}

/// The bounded queue of packets awaiting resolution.
#[derive(Clone, Debug)]
pub(crate) struct HoldQueue {
    storage: Vec<u8>,
    slot_len: usize,
    slots: Vec<Slot>,
    per_destination: usize,
    next_sequence: u64,
}

impl HoldQueue {
    /// `slots` slots of `slot_len` bytes each (Ethernet header included),
    /// with at most `per_destination` of them for one address.
    pub(crate) fn new(slots: usize, slot_len: usize, per_destination: usize) -> HoldQueue {
        HoldQueue {
            storage: vec![0; slots.saturating_mul(slot_len)],
            slot_len,
            slots: vec![
                Slot {
                    destination: None,
                    frame_len: 0,
                    sequence: 0,
                };
                slots
            ],
            per_destination,
            next_sequence: 0,
        }
    }

    /// Stores a copy of `packet` for `destination`.
    pub(crate) fn push(&mut self, destination: IpAddr, packet: &[u8]) -> Result<(), HoldError> {
        let frame_len = ETHERNET_HEADER_LEN + packet.len();
        if frame_len > self.slot_len {
            return Err(HoldError::TooLarge);
        }
        if self.count(destination) >= self.per_destination {
            return Err(HoldError::DestinationFull);
        }
        let index = self
            .slots
            .iter()
            .position(|slot| slot.destination.is_none())
            .ok_or(HoldError::QueueFull)?;
        let start = index * self.slot_len;
        self.storage[start + ETHERNET_HEADER_LEN..start + frame_len].copy_from_slice(packet);
        self.slots[index] = Slot {
            destination: Some(destination),
            frame_len,
            sequence: self.next_sequence,
        };
        self.next_sequence = self.next_sequence.wrapping_add(1);
        Ok(())
    }

    /// How many packets wait for `destination`.
    pub(crate) fn count(&self, destination: IpAddr) -> usize {
        self.slots
            .iter()
            .filter(|slot| slot.destination == Some(destination))
            .count()
    }

    /// How many packets wait in total.
    pub(crate) fn len(&self) -> usize {
        self.slots
            .iter()
            .filter(|slot| slot.destination.is_some())
            .count()
    }

    /// Removes the packets for `destination`, oldest first, passing each
    /// slot's frame (14 bytes of header room, then the packet) to `take`.
    /// Returns how many there were.
    pub(crate) fn drain(&mut self, destination: IpAddr, mut take: impl FnMut(&mut [u8])) -> usize {
        let mut drained = 0;
        // Slots are few (tens), so repeatedly picking the oldest is cheap
        // and needs no sorting buffer.
        while let Some(index) = self.oldest(destination) {
            let slot = &mut self.slots[index];
            slot.destination = None;
            let start = index * self.slot_len;
            take(&mut self.storage[start..start + slot.frame_len]);
            drained += 1;
        }
        drained
    }

    fn oldest(&self, destination: IpAddr) -> Option<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.destination == Some(destination))
            // Wrapping sequence numbers compare by distance from the newest.
            .max_by_key(|(_, slot)| self.next_sequence.wrapping_sub(slot.sequence))
            .map(|(index, _)| index)
    }
}
