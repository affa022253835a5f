//! virtio-net: a NIC with preallocated receive and transmit buffers.
//!
//! Every receive buffer is posted to the device at start-up and re-posted
//! as soon as its frame has been handled, and transmit buffers come from a
//! fixed pool, so the data path never allocates. Interrupts only wake the
//! CPU; the main loop drains the queues in batches.

use super::IdentityHal;
use crate::pci::{self, PortCam};
use alloc::boxed::Box;
use alloc::vec::Vec;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::pci::bus::{DeviceFunction, PciRoot};
use virtio_drivers::transport::pci::{virtio_device_type, PciTransport};
use virtio_drivers::transport::DeviceType;

/// Descriptors per queue, and so frames in flight per direction.
pub const QUEUE_SIZE: usize = 128;
/// One buffer: the virtio-net header (≤ 12 bytes) plus a full Ethernet frame
/// with room to spare (the driver demands at least 1526 bytes).
const BUFFER_BYTES: usize = 2048;

type Raw = VirtIONetRaw<IdentityHal, PciTransport, QUEUE_SIZE>;

/// Where a virtio-net device sits on PCI.
#[derive(Clone, Copy, Debug)]
pub struct NicLocation {
    /// Bus/device/function.
    pub function: DeviceFunction,
    /// Legacy interrupt line (as set by the firmware), if any.
    pub irq_line: Option<u8>,
}

/// Every virtio-net device on PCI bus 0, lowest address first.
pub fn find_all(root: &PciRoot<PortCam>) -> Vec<NicLocation> {
    let mut found: Vec<NicLocation> = pci::devices(root)
        .filter(|(_, info)| virtio_device_type(info) == Some(DeviceType::Network))
        .map(|(function, _)| NicLocation { function, irq_line: pci::interrupt_line(function) })
        .collect();
    found.sort_by_key(|n| (n.function.bus, n.function.device, n.function.function));
    found
}

/// Why a NIC could not be brought up.
#[derive(Debug)]
pub enum NicError {
    /// The virtio PCI transport could not be set up.
    Transport(virtio_drivers::transport::pci::VirtioPciError),
    /// The device refused initialisation or buffers.
    Device(virtio_drivers::Error),
}

#[repr(C, align(16))]
struct Buffer([u8; BUFFER_BYTES]);

/// A running virtio-net NIC.
pub struct Nic {
    raw: Raw,
    location: NicLocation,
    rx_buffers: Box<[Buffer]>,
    /// Receive buffer owned by each in-flight receive token.
    rx_by_token: [u16; QUEUE_SIZE],
    tx_buffers: Box<[Buffer]>,
    /// Buffer index and length in flight for each transmit token.
    tx_by_token: [(u16, u16); QUEUE_SIZE],
    free_tx: Vec<u16>,
    /// Frames received since start.
    pub rx_frames: u64,
    /// Frames sent since start.
    pub tx_frames: u64,
    /// Frames dropped because every transmit buffer was in flight.
    pub tx_full_drops: u64,
}

const NO_BUFFER: u16 = u16::MAX;

impl Nic {
    /// Initialises the device and posts every receive buffer.
    pub fn start(root: &mut PciRoot<PortCam>, location: NicLocation) -> Result<Self, NicError> {
        pci::enable(root, location.function);
        let transport =
            PciTransport::new::<IdentityHal, _>(root, location.function).map_err(NicError::Transport)?;
        let raw = Raw::new(transport).map_err(NicError::Device)?;
        let empty = || (0..QUEUE_SIZE).map(|_| Buffer([0; BUFFER_BYTES])).collect::<Vec<_>>().into_boxed_slice();
        let mut nic = Self {
            raw,
            location,
            rx_buffers: empty(),
            rx_by_token: [NO_BUFFER; QUEUE_SIZE],
            tx_buffers: empty(),
            tx_by_token: [(NO_BUFFER, 0); QUEUE_SIZE],
            free_tx: (0..QUEUE_SIZE as u16).rev().collect(),
            rx_frames: 0,
            tx_frames: 0,
            tx_full_drops: 0,
        };
        for index in 0..QUEUE_SIZE as u16 {
            nic.post_receive(index)?;
        }
        nic.raw.enable_interrupts();
        Ok(nic)
    }

    fn post_receive(&mut self, index: u16) -> Result<(), NicError> {
        let buffer = &mut self.rx_buffers[usize::from(index)].0;
        // SAFETY: the buffer lives in `self.rx_buffers`, which is neither
        // moved nor freed while the NIC exists, and is not touched again
        // until `receive_complete` hands it back for this token.
        let token = unsafe { self.raw.receive_begin(buffer) }.map_err(NicError::Device)?;
        self.rx_by_token[usize::from(token)] = index;
        Ok(())
    }

    /// The NIC's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.raw.mac_address()
    }

    /// Where the NIC sits on PCI.
    pub fn location(&self) -> NicLocation {
        self.location
    }

    /// Acknowledges the device's interrupt (deasserts its INTx line).
    pub fn ack_interrupt(&mut self) {
        let _ = self.raw.ack_interrupt();
    }

    /// Hands the next received frame to `handle`, then gives the buffer back
    /// to the device. Returns `false` if no frame was waiting.
    pub fn receive(&mut self, handle: impl FnOnce(&mut [u8])) -> bool {
        let Some(token) = self.raw.poll_receive() else { return false };
        let index = self.rx_by_token[usize::from(token)];
        if index == NO_BUFFER {
            return false;
        }
        self.rx_by_token[usize::from(token)] = NO_BUFFER;
        let buffer = &mut self.rx_buffers[usize::from(index)].0;
        // SAFETY: `buffer` is the one posted with this token (recorded in
        // `rx_by_token`), as `receive_complete` requires.
        let result = unsafe { self.raw.receive_complete(token, buffer) };
        if let Ok((header, length)) = result {
            if let Some(frame) = buffer.get_mut(header..header + length) {
                self.rx_frames += 1;
                handle(frame);
            }
        }
        // A buffer that cannot be re-posted leaves one fewer in the ring;
        // the device keeps working with the rest.
        let _ = self.post_receive(index);
        true
    }

    /// Reclaims transmit buffers the device has finished with.
    fn reclaim(&mut self) {
        while let Some(token) = self.raw.poll_transmit() {
            let (index, length) = self.tx_by_token[usize::from(token)];
            if index == NO_BUFFER {
                break;
            }
            let buffer = &self.tx_buffers[usize::from(index)].0[..usize::from(length)];
            // SAFETY: the same buffer slice as passed to `transmit_begin`
            // for this token (index and length recorded in `tx_by_token`).
            let _ = unsafe { self.raw.transmit_complete(token, buffer) };
            self.tx_by_token[usize::from(token)] = (NO_BUFFER, 0);
            self.free_tx.push(index);
        }
    }

    /// Sends one frame of at most `max_len` bytes written by `fill`, which
    /// returns the frame's length. Returns `false` (and counts a drop) if
    /// every transmit buffer is in flight.
    pub fn transmit(&mut self, fill: impl FnOnce(&mut [u8]) -> usize) -> bool {
        self.reclaim();
        let Some(index) = self.free_tx.pop() else {
            self.tx_full_drops += 1;
            return false;
        };
        let buffer = &mut self.tx_buffers[usize::from(index)].0;
        let Ok(header) = self.raw.fill_buffer_header(buffer) else {
            self.free_tx.push(index);
            return false;
        };
        let length = fill(&mut buffer[header..]).min(BUFFER_BYTES - header);
        let total = header + length;
        // SAFETY: the buffer stays in `self.tx_buffers`, untouched until
        // `reclaim` completes this token.
        match unsafe { self.raw.transmit_begin(&buffer[..total]) } {
            Ok(token) => {
                self.tx_by_token[usize::from(token)] = (index, total as u16);
                self.tx_frames += 1;
                true
            }
            Err(_) => {
                self.free_tx.push(index);
                self.tx_full_drops += 1;
                false
            }
        }
    }

    /// Largest frame `transmit` accepts.
    pub fn max_frame(&self) -> usize {
        BUFFER_BYTES - 12
    }
}
