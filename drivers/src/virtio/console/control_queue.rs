//! The control queues on the device: every receive buffer kept posted
//! (QEMU silently drops a control message when none is), and messages sent
//! from a small pool of header-sized buffers.

use super::control::{Outgoing, HEADER_LEN};
use super::Broken;
use crate::virtio::book::{Ledger, Pool};
use crate::virtio::IdentityHal;
use alloc::boxed::Box;
use virtio_drivers::queue::VirtQueue;

/// Control receive buffers: QEMU's control queues hold 32, and it sends a
/// PORT_ADD per port at once after DEVICE_READY.
pub(super) const CONTROL_RX_SIZE: usize = 32;
/// Control transmit buffers.
pub(super) const CONTROL_TX_SIZE: usize = 16;
/// One control receive buffer: the header and a name of up to 247 bytes
/// plus QEMU's NUL. A longer name arrives truncated and is ignored.
pub(super) const CONTROL_BUFFER: usize = 256;

pub(super) type ControlRxRing = VirtQueue<IdentityHal, CONTROL_RX_SIZE>;
pub(super) type ControlTxRing = VirtQueue<IdentityHal, CONTROL_TX_SIZE>;

/// The control receiveq (queue 2).
pub(super) struct ControlRx {
    pub(super) ring: ControlRxRing,
    /// Never moved, resized or freed while the device may use them.
    buffers: Box<[[u8; CONTROL_BUFFER]]>,
    in_flight: Ledger<u16, CONTROL_RX_SIZE>,
    /// Buffers were posted since the last notification decision.
    pub(super) added: bool,
}

impl ControlRx {
    /// Posts every buffer (the device sees them once DRIVER_OK is set).
    pub(super) fn new(ring: ControlRxRing) -> Result<Self, Broken> {
        let mut queue = Self {
            ring,
            buffers: (0..CONTROL_RX_SIZE).map(|_| [0; CONTROL_BUFFER]).collect(),
            in_flight: Ledger::new(),
            added: false,
        };
        for index in 0..CONTROL_RX_SIZE as u16 {
            queue.post(index)?;
        }
        Ok(queue)
    }

    fn post(&mut self, index: u16) -> Result<(), Broken> {
        let buffer = self.buffers.get_mut(usize::from(index)).ok_or(Broken)?;
        // SAFETY: the buffer lives in `self.buffers`, a boxed slice never
        // moved, resized or freed while the device may use it (the device
        // is reset before the driver is dropped). It is not in flight (each
        // index is posted once, and again only after `pop_used` returned
        // it), and nothing touches it until `pop_used` returns its token.
        let token = unsafe { self.ring.add(&[], &mut [&mut buffer[..]]) }.map_err(|_| Broken)?;
        self.added = true;
        if self.in_flight.insert(token, index) {
            Ok(())
        } else {
            Err(Broken)
        }
    }

    /// Hands the next message's buffer and the length the device reports
    /// to `handle`, then re-posts the buffer. `Ok(None)` if none is waiting.
    pub(super) fn next<R>(
        &mut self,
        handle: impl FnOnce(&[u8], u32) -> R,
    ) -> Result<Option<R>, Broken> {
        let Some(token) = self.ring.peek_used() else {
            return Ok(None);
        };
        let index = self.in_flight.take(token).ok_or(Broken)?;
        let buffer = &mut self.buffers[usize::from(index)];
        // SAFETY: `buffer` is exactly the slice added with `token` (the
        // ledger maps the token to its index), as `pop_used` requires.
        let used = unsafe { self.ring.pop_used(token, &[], &mut [&mut buffer[..]]) }
            .map_err(|_| Broken)?;
        let result = handle(&buffer[..], used);
        self.post(index)?;
        Ok(Some(result))
    }
}

/// The control transmitq (queue 3).
pub(super) struct ControlTx {
    pub(super) ring: ControlTxRing,
    /// Never moved, resized or freed while the device may use them.
    slots: Box<[[u8; HEADER_LEN]]>,
    in_flight: Ledger<(u16, Outgoing), CONTROL_TX_SIZE>,
    free: Pool,
    /// Messages were added since the last notification decision.
    pub(super) added: bool,
}

impl ControlTx {
    pub(super) fn new(ring: ControlTxRing) -> Self {
        Self {
            ring,
            slots: (0..CONTROL_TX_SIZE).map(|_| [0; HEADER_LEN]).collect(),
            in_flight: Ledger::new(),
            free: Pool::new(CONTROL_TX_SIZE as u16),
            added: false,
        }
    }

    /// Gives `message` to the device (seen at the next notification);
    /// `Ok(false)` if every buffer is in flight.
    pub(super) fn send(&mut self, message: Outgoing) -> Result<bool, Broken> {
        let Some(index) = self.free.take() else {
            return Ok(false);
        };
        let slot = &mut self.slots[usize::from(index)];
        *slot = message.encode();
        // SAFETY: the slot lives in `self.slots`, never moved or freed while
        // the device may use it; it was free (from the pool), and it is not
        // written again until `pop_used` returns its token.
        let added = unsafe { self.ring.add(&[&slot[..]], &mut []) };
        let Ok(token) = added else {
            self.free.give(index);
            return Ok(false);
        };
        self.added = true;
        if self.in_flight.insert(token, (index, message)) {
            Ok(true)
        } else {
            Err(Broken)
        }
    }

    /// The next message the device has taken, if any.
    pub(super) fn reap(&mut self) -> Result<Option<Outgoing>, Broken> {
        let Some(token) = self.ring.peek_used() else {
            return Ok(None);
        };
        let (index, message) = self.in_flight.take(token).ok_or(Broken)?;
        let slot = &self.slots[usize::from(index)];
        // SAFETY: `slot` is exactly the slice added with `token` in `send`.
        unsafe { self.ring.pop_used(token, &[&slot[..]], &mut []) }.map_err(|_| Broken)?;
        self.free.give(index);
        Ok(Some(message))
    }
}
