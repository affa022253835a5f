//! virtio-net, driven for throughput on virtio-drivers' `VirtQueue` and its
//! PCI or MMIO transport.
//!
//! Every receive buffer is posted at start-up and re-posted as soon as its
//! frame has been handled; transmit buffers come from a fixed pool. All
//! buffers are allocated once in [`Nic::start`], so the data path never
//! allocates.
//!
//! The device is kicked at most once per queue per [`Nic::flush`], and only
//! if it has not suppressed notifications (`VIRTQ_USED_F_NO_NOTIFY`).
//! Transmit completions never interrupt (`VIRTQ_AVAIL_F_NO_INTERRUPT` on the
//! transmit queue, permanently) and are reaped in batches; receive
//! interrupts are switched off while the main loop drains
//! ([`Nic::quiesce_interrupts`]) and back on, with a re-check of the used
//! ring, before it halts ([`Nic::arm_interrupts`]).
//!
//! Features: MAC, STATUS, VERSION_1 (when offered), CSUM/GUEST_CSUM as
//! [`NicOptions`] asks, and, for receive segmentation offload,
//! GUEST_TSO4/GUEST_TSO6 with GUEST_CSUM and MRG_RXBUF: a frame of up to
//! 64 KiB then spans several of the same 2 KiB receive buffers (see `rx`).
//! Not RING_EVENT_IDX (virtio-drivers' `should_notify`
//! tests `avail_idx >= avail_event + 1` instead of `vring_need_event`, and
//! `set_dev_notify` does nothing with it, so the flag-based suppression is
//! the correct one), and not INDIRECT_DESC (every buffer is one descriptor).
//! Without TSO, MRG_RXBUF is not asked for: 2048-byte buffers hold any
//! frame the device may send.

mod header;
mod loop_traits;
mod rx;
mod tx;

pub use header::{RxChecksum, RxInfo, TxFrame};
pub use rx::RxQueue;
pub use tx::TxQueue;

use super::msix::{InterruptRoute, MsiTarget, VirtioMsix};
use super::Address;
use super::{AnyTransport, TransportError, VirtioBus};
use alloc::boxed::Box;
use alloc::vec::Vec;
use bitflags::bitflags;
use core::mem::ManuallyDrop;
use core::sync::atomic::{fence, AtomicU32, Ordering};
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::{DeviceStatus, DeviceType, Transport};

/// Receive descriptors (and buffers). QEMU's tap backend offers 256 by
/// default (`rx_queue_size`, up to 1024); raise this when the device's
/// `max_queue_size` allows it. A power of two.
pub const RX_QUEUE_SIZE: usize = 256;
/// Transmit descriptors (and buffers): QEMU's maximum for a tap backend.
pub const TX_QUEUE_SIZE: usize = 256;
/// One buffer: the virtio-net header plus a full Ethernet frame with room
/// to spare (virtio-drivers asks for at least 1526 bytes).
const BUFFER_BYTES: usize = 2048;
/// Room reserved at the front of a transmit buffer for the virtio header
/// (which goes right before the frame, wherever it starts).
const TX_HEADROOM: usize = 64;
/// Largest frame `transmit` accepts.
pub const MAX_FRAME: usize = BUFFER_BYTES - TX_HEADROOM;

const QUEUE_RECEIVE: u16 = 0;
const QUEUE_TRANSMIT: u16 = 1;

const _: () = assert!(RX_QUEUE_SIZE.is_power_of_two() && RX_QUEUE_SIZE <= 32768);
const _: () = assert!(TX_QUEUE_SIZE.is_power_of_two() && TX_QUEUE_SIZE <= 32768);
const _: () = assert!(TX_HEADROOM >= header::MAX_HEADER_LEN && BUFFER_BYTES <= u16::MAX as usize);

bitflags! {
    /// virtio-net feature bits this driver knows (virtio 1.2 §5.1.3, §6).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Features: u64 {
        /// The device completes checksums the driver leaves partial.
        const CSUM = 1 << 0;
        /// The driver accepts frames with partial or already verified checksums.
        const GUEST_CSUM = 1 << 1;
        /// The device has a MAC address in its configuration.
        const MAC = 1 << 5;
        /// The driver takes TCP-over-IPv4 GSO frames.
        const GUEST_TSO4 = 1 << 7;
        /// The driver takes TCP-over-IPv6 GSO frames.
        const GUEST_TSO6 = 1 << 8;
        /// Merged receive buffers (with TSO; also decides the header size).
        const MRG_RXBUF = 1 << 15;
        /// The configuration's link status field is valid.
        const STATUS = 1 << 16;
        /// Indirect descriptors (not negotiated).
        const RING_INDIRECT_DESC = 1 << 28;
        /// `used_event`/`avail_event` suppression (not negotiated).
        const RING_EVENT_IDX = 1 << 29;
        /// virtio 1.0 or later (non-legacy) device.
        const VERSION_1 = 1 << 32;
    }
}

impl Features {
    fn wanted(options: NicOptions) -> Self {
        let mut wanted = Self::MAC | Self::STATUS | Self::VERSION_1;
        wanted.set(Self::CSUM, options.tx_checksum);
        wanted.set(Self::GUEST_CSUM, options.rx_checksum || options.rx_gso);
        if options.rx_gso {
            wanted |= Self::GUEST_TSO4 | Self::GUEST_TSO6 | Self::MRG_RXBUF;
        }
        wanted
    }
}

/// Where the device sits.
pub use super::DeviceLocation as NicLocation;

/// Every virtio-net device: on PCI bus 0 lowest address first, on MMIO in
/// command-line order.
pub fn find_all(bus: &VirtioBus) -> Vec<NicLocation> {
    bus.find(DeviceType::Network)
}

/// Why a NIC could not be brought up.
#[derive(Debug)]
pub enum NicError {
    /// The virtio transport (PCI or MMIO) could not be set up.
    Transport(TransportError),
    /// The device refused initialisation or a queue.
    Device(virtio_drivers::Error),
    /// The device did not accept the negotiated features (FEATURES_OK
    /// cleared).
    FeaturesRejected,
    /// The device no longer accepts the MSI-X vector after a reset.
    MsixRefused,
    /// A queue is smaller on the device than this driver's constant.
    QueueTooSmall {
        /// Virtqueue index (0 receive, 1 transmit).
        queue: u16,
        /// The device's `max_queue_size` for it.
        offered: u32,
        /// What the driver needs.
        wanted: usize,
    },
}

/// Offloads to ask for.
#[derive(Clone, Copy, Debug, Default)]
pub struct NicOptions {
    /// Negotiate GUEST_CSUM: received frames may carry `RxChecksum::Valid`
    /// or `RxChecksum::Partial`.
    pub rx_checksum: bool,
    /// Negotiate CSUM: the device fills in checksums `TxFrame::checksum`
    /// asks for.
    pub tx_checksum: bool,
    /// Negotiate GUEST_TSO4/6 with GUEST_CSUM and MRG_RXBUF: received
    /// frames may be GSO frames of up to 64 KiB (`RxInfo::gso`).
    pub rx_gso: bool,
    /// Interrupt through MSI-X to this vector and local APIC, if the
    /// device offers MSI-X and accepts the vector; otherwise INTx.
    pub msix: Option<MsiTarget>,
}

/// Offloads negotiated.
#[derive(Clone, Copy, Debug, Default)]
pub struct Offloads {
    /// GUEST_CSUM.
    pub rx_checksum: bool,
    /// CSUM.
    pub tx_checksum: bool,
    /// GUEST_TSO4 or GUEST_TSO6, with MRG_RXBUF.
    pub rx_gso: bool,
}

/// Counters since start.
#[derive(Clone, Copy, Debug, Default)]
pub struct NicStats {
    /// Frames handed to `receive`'s closure.
    pub rx_frames: u64,
    /// Frames given to the device.
    pub tx_frames: u64,
    /// `transmit` found no free buffer.
    pub tx_full: u64,
    /// Used-ring entries with length 0, no longer than the virtio header,
    /// longer than the buffer, or an unknown/duplicate id (receive queue).
    pub rx_bad_descriptor: u64,
    /// MMIO queue notifications.
    pub notifications: u64,
    /// Frames dropped by `transmit` because they did not lie inside the
    /// buffer (or their checksum field did not lie inside the frame).
    pub tx_invalid: u64,
    /// Used-ring entries with an unknown/duplicate id on the transmit queue.
    pub tx_bad_descriptor: u64,
    /// Device resets after an unknown id (the only way past such an entry).
    pub device_resets: u64,
    /// Received frames with a GSO type not negotiated or unknown (dropped).
    pub rx_bad_gso: u64,
    /// Received frames that spanned several buffers (merged).
    pub rx_merged: u64,
    /// Of those, frames gathered into the assembly buffer (not neighbours).
    pub rx_gathered: u64,
}

#[repr(C, align(64))]
struct Buffer([u8; BUFFER_BYTES]);

fn buffers(count: usize) -> Box<[Buffer]> {
    (0..count).map(|_| Buffer([0; BUFFER_BYTES])).collect()
}

/// Source of `Nic::id`.
static NEXT_NIC_ID: AtomicU32 = AtomicU32::new(0);

/// A running virtio-net NIC.
pub struct Nic {
    transport: AnyTransport,
    /// Tells this NIC's queues from another's: `split` hands out `&mut`
    /// queues, which safe code could `mem::swap` between two NICs. Rings
    /// and buffers are only replaced or freed by the NIC whose device uses
    /// them (their `owner` is its `id`); anything else is leaked.
    id: u32,
    /// Dropped by hand in `drop`, after the device reset, and only if owned.
    rx: ManuallyDrop<RxQueue>,
    tx: ManuallyDrop<TxQueue>,
    location: NicLocation,
    /// MSI-X, when in use (else INTx).
    msix: Option<VirtioMsix>,
    mac: [u8; 6],
    features: Features,
    /// Receive interrupts are on (restored after a device reset).
    rx_interrupts: bool,
    /// A reset failed: the device is marked FAILED and the queues stay
    /// stopped.
    failed: bool,
    notifications: u64,
    device_resets: u64,
}

impl Nic {
    /// Initialises the device, allocates and posts every receive buffer,
    /// allocates the transmit pool, and enables receive interrupts.
    pub fn start(
        bus: &mut VirtioBus,
        location: NicLocation,
        options: NicOptions,
    ) -> Result<Nic, NicError> {
        let mut transport = bus.transport(location).map_err(NicError::Transport)?;
        // On any error below, dropping `transport` resets the device, which
        // was never told DRIVER_OK nor notified, so it touched no buffer.
        let features = negotiate(&mut transport, Features::wanted(options))?;
        // MSI-X is a PCI capability: virtio-mmio devices keep their line.
        let msix = match (options.msix, bus.pci_root(), location.address) {
            (Some(target), Some(root), Address::Pci(function)) => {
                VirtioMsix::start(root, function, target, &QUEUES)
            }
            _ => None,
        };
        let mac = transport
            .read_consistent(|| transport.read_config_space::<[u8; 6]>(0))
            .map_err(NicError::Device)?;
        let (rx_ring, tx_ring) = rings(&mut transport)?;
        let header_len = header::header_len(
            features.contains(Features::VERSION_1),
            features.contains(Features::MRG_RXBUF),
        );
        let id = NEXT_NIC_ID.fetch_add(1, Ordering::Relaxed);
        let gso = features.contains(Features::MRG_RXBUF)
            && features.intersects(Features::GUEST_TSO4 | Features::GUEST_TSO6);
        let rx = RxQueue::new(
            id,
            rx_ring,
            rx::RxMode {
                header_len,
                guest_csum: features.contains(Features::GUEST_CSUM),
                gso,
                mergeable: features.contains(Features::MRG_RXBUF),
            },
        );
        let mut tx = TxQueue::new(
            id,
            tx_ring,
            buffers(TX_QUEUE_SIZE),
            header_len,
            features.contains(Features::CSUM),
        );
        tx.ring.set_dev_notify(false);
        transport.finish_init();
        let mut nic = Self {
            transport,
            id,
            rx: ManuallyDrop::new(rx),
            tx: ManuallyDrop::new(tx),
            location,
            msix,
            mac,
            features,
            rx_interrupts: true,
            failed: false,
            notifications: 0,
            device_resets: 0,
        };
        log::info!(
            "virtio-net {}: MAC {:02x?}, features {:?}, queues rx {RX_QUEUE_SIZE} tx {TX_QUEUE_SIZE}",
            location,
            mac,
            features
        );
        // The receive buffers are posted; tell the device (only now that
        // DRIVER_OK is set, as the specification requires).
        nic.flush();
        Ok(nic)
    }

    /// The NIC's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Where the NIC sits.
    pub fn location(&self) -> NicLocation {
        self.location
    }

    /// The offloads negotiated.
    pub fn offloads(&self) -> Offloads {
        Offloads {
            rx_checksum: self.features.contains(Features::GUEST_CSUM),
            tx_checksum: self.features.contains(Features::CSUM),
            rx_gso: self.rx.gso(),
        }
    }

    /// Largest frame `transmit` accepts.
    pub fn max_frame(&self) -> usize {
        MAX_FRAME
    }

    /// How the NIC interrupts: MSI-X to a vector, or its INTx line.
    pub fn interrupt_route(&self) -> InterruptRoute {
        match &self.msix {
            Some(msix) => msix.route(),
            None => InterruptRoute::Intx {
                line: self.location.irq_line,
            },
        }
    }

    /// Acknowledges the device's INTx interrupt, which deasserts its line
    /// (PCI: reading the ISR; MMIO: writing InterruptACK). Nothing to do
    /// under MSI-X (messages are edges; the ISR is not used).
    pub fn ack_interrupt(&mut self) {
        if self.msix.is_none() {
            let _ = self.transport.ack_interrupt();
        }
    }

    /// The receive and transmit queues, to use at once (a frame received
    /// here processed in place while frames go out on this NIC's transmit
    /// queue and another NIC's).
    pub fn split(&mut self) -> (&mut RxQueue, &mut TxQueue) {
        (&mut *self.rx, &mut *self.tx)
    }

    /// Whether both queues are this NIC's own (see `id`).
    fn owns_queues(&self) -> bool {
        self.rx.owner == self.id && self.tx.owner == self.id
    }

    /// One device notification per queue that got new buffers since the
    /// last flush, and only if the device has not suppressed notifications
    /// (`VIRTQ_USED_F_NO_NOTIFY`). Call once per batch. Also retries
    /// receive buffers that could not be posted, and resets the device if a
    /// queue met a token that was not in flight.
    pub fn flush(&mut self) {
        if (self.rx.broken || self.tx.broken) && !self.failed {
            self.reset_device();
        }
        self.rx.retry_unposted();
        let rx = core::mem::take(&mut self.rx.added);
        let tx = core::mem::take(&mut self.tx.added);
        if !(rx || tx) || self.failed {
            return;
        }
        // The avail index stores (in `VirtQueue::add`) must be visible
        // before the used-ring flags are read: a store→load order, which on
        // x86 takes a full fence (Linux's `virtio_mb` before `vring_need_event`).
        fence(Ordering::SeqCst);
        if rx && self.rx.ring.should_notify() {
            self.transport.notify(QUEUE_RECEIVE);
            self.notifications += 1;
        }
        if tx && self.tx.ring.should_notify() {
            self.transport.notify(QUEUE_TRANSMIT);
            self.notifications += 1;
        }
    }

    /// Stops receive interrupts (`VIRTQ_AVAIL_F_NO_INTERRUPT`) while the
    /// loop drains the queues.
    pub fn quiesce_interrupts(&mut self) {
        self.rx_interrupts = false;
        self.rx.ring.set_dev_notify(false);
    }

    /// Re-enables receive interrupts, then re-checks the used ring: returns
    /// true if frames arrived meanwhile (the caller must poll again instead
    /// of halting). Flushes first, so no posted buffer is left un-notified
    /// while the CPU halts.
    pub fn arm_interrupts(&mut self) -> bool {
        self.flush();
        self.rx_interrupts = true;
        self.rx.ring.set_dev_notify(true);
        // The flag store must be visible before the used index is read
        // (store→load order): otherwise a frame used in between would
        // neither interrupt nor be seen here.
        fence(Ordering::SeqCst);
        self.rx.has_frames()
    }

    /// Counters since start.
    pub fn stats(&self) -> NicStats {
        NicStats {
            rx_frames: self.rx.frames,
            tx_frames: self.tx.frames,
            tx_full: self.tx.full,
            rx_bad_descriptor: self.rx.bad_descriptors,
            notifications: self.notifications,
            tx_invalid: self.tx.invalid,
            tx_bad_descriptor: self.tx.bad_descriptors,
            device_resets: self.device_resets,
            rx_bad_gso: self.rx.bad_gso,
            rx_merged: self.rx.merged_frames().0,
            rx_gathered: self.rx.merged_frames().1,
        }
    }

    /// Resets the device and starts it again with fresh rings: the only way
    /// past a used-ring entry whose id is not in flight, which `VirtQueue`
    /// can neither pop (it needs the matching buffer) nor skip. Frames in
    /// flight are lost; every buffer comes back. If the device does not come
    /// back with the same features, it is marked FAILED and the queues stay
    /// stopped.
    fn reset_device(&mut self) {
        self.device_resets += 1;
        log::warn!(
            "virtio-net {}: device returned an unknown descriptor; resetting it",
            self.location
        );
        reset(&mut self.transport);
        // After the reset the device holds no buffer and no ring, so the
        // old rings and every buffer are the driver's again (if they are
        // this NIC's: queues swapped in from another NIC are left alone).
        if let Err(error) = self.restart() {
            log::error!(
                "virtio-net {}: reset failed ({error:?}); NIC stopped",
                self.location
            );
            self.transport.set_status(DeviceStatus::FAILED);
            self.failed = true;
            self.rx.broken = true;
            self.tx.broken = true;
        }
    }

    /// Starts the just-reset device again with the same features and fresh
    /// rings, every receive buffer posted and every transmit buffer free.
    fn restart(&mut self) -> Result<(), NicError> {
        // After the reset the device holds no buffer and no ring, so the old
        // rings and every buffer are the driver's again — if they are this
        // NIC's: queues swapped in from another NIC are left alone.
        if !self.owns_queues() {
            return Err(NicError::Device(virtio_drivers::Error::AlreadyUsed));
        }
        if negotiate(&mut self.transport, self.features)? != self.features {
            return Err(NicError::FeaturesRejected);
        }
        // A reset forgets the queues' MSI-X entries.
        if let Some(msix) = &self.msix {
            msix.assign(&QUEUES).map_err(|_| NicError::MsixRefused)?;
        }
        let (rx_ring, tx_ring) = rings(&mut self.transport)?;
        self.rx.reinstall(rx_ring);
        self.tx.reinstall(tx_ring);
        self.tx.ring.set_dev_notify(false);
        self.rx.ring.set_dev_notify(self.rx_interrupts);
        self.transport.finish_init();
        Ok(())
    }
}

impl Drop for Nic {
    fn drop(&mut self) {
        // Reset the device before its rings and buffers are freed, so it
        // cannot touch freed memory.
        reset(&mut self.transport);
        if self.owns_queues() {
            // SAFETY: the queues are not used again (the NIC is going away),
            // and they are this device's own, which was just reset and so
            // no longer refers to their rings or buffers. Queues swapped in
            // from another NIC (still in use by its device) are leaked.
            unsafe {
                ManuallyDrop::drop(&mut self.rx);
                ManuallyDrop::drop(&mut self.tx);
            }
        }
    }
}

/// Both queues, for MSI-X assignment.
const QUEUES: [u16; 2] = [QUEUE_RECEIVE, QUEUE_TRANSMIT];

/// Resets the device: it drops every ring and buffer. Complete when the
/// status reads back 0 (QEMU resets at once); bounded, so a broken device
/// cannot hang the caller.
fn reset(transport: &mut impl Transport) {
    transport.set_status(DeviceStatus::empty());
    for _ in 0..1_000_000 {
        if transport.get_status() == DeviceStatus::empty() {
            break;
        }
        core::hint::spin_loop();
    }
}

/// Feature negotiation up to FEATURES_OK, checked as the specification asks
/// (the device may clear FEATURES_OK to refuse the subset).
fn negotiate(transport: &mut impl Transport, wanted: Features) -> Result<Features, NicError> {
    let features = transport.begin_init(wanted);
    if !transport.get_status().contains(DeviceStatus::FEATURES_OK) {
        transport.set_status(DeviceStatus::FAILED);
        return Err(NicError::FeaturesRejected);
    }
    Ok(features)
}

/// Checks the device's queue sizes against the constants and sets up both
/// rings (neither indirect descriptors nor EVENT_IDX).
fn rings(transport: &mut AnyTransport) -> Result<(rx::RxRing, tx::TxRing), NicError> {
    for (queue, wanted) in [
        (QUEUE_RECEIVE, RX_QUEUE_SIZE),
        (QUEUE_TRANSMIT, TX_QUEUE_SIZE),
    ] {
        let offered = transport.max_queue_size(queue);
        if (offered as usize) < wanted {
            return Err(NicError::QueueTooSmall {
                queue,
                offered,
                wanted,
            });
        }
    }
    let rx = VirtQueue::new(transport, QUEUE_RECEIVE, false, false).map_err(NicError::Device)?;
    let tx = VirtQueue::new(transport, QUEUE_TRANSMIT, false, false).map_err(NicError::Device)?;
    Ok((rx, tx))
}
