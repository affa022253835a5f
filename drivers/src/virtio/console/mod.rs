//! virtio-serial (virtio-console with MULTIPORT): one named port, driven
//! by polling on virtio-drivers' `VirtQueue` and its PCI or MMIO transport.
//!
//! virtio-drivers' own console reaches only port 0; a QEMU `virtserialport`
//! (`-device virtserialport,chardev=…,name=wg-uapi`) has id ≥ 1 and needs
//! the control queues. This driver negotiates MULTIPORT, sets up the
//! control queues and the queues of every port id (see below), runs the
//! handshake ([`handshake`]) and serves the port whose PORT_NAME matches.
//!
//! Queue set-up. Every port's receive and transmit queue (ids below
//! `min(max_nr_ports, 31)`) is set up before DRIVER_OK, as Linux does. The
//! named port's id is only known from PORT_NAME, which the device sends
//! after DRIVER_OK, but virtio 1.2 §3.1.1 has the driver set up its
//! virtqueues before DRIVER_OK (enabling one later needs RING_RESET, which
//! QEMU 7.2's virtio-serial does not offer). QEMU creates the queues of all
//! `max_nr_ports` ids at realize time, so they all exist. Cost: two rings of
//! two pages per port (about 0.5 MiB for QEMU's default 31 ports); only the
//! named port's receive queue gets buffers.
//!
//! Buffers are allocated in [`SerialPort::start`]; nothing is allocated
//! afterwards. Notifications happen in [`SerialPort::poll`] (control queues,
//! re-posted receive buffers) and [`SerialPort::flush`] (also written bytes),
//! at most once per queue, and only if the device has not suppressed them.
//! All queues interrupt on completion (control traffic is rare, data comes
//! in up to 4 KiB pieces), so a loop that halts wakes for new bytes and for
//! freed transmit buffers.

mod control;
mod control_queue;
mod handshake;
mod port_rx;
mod port_tx;
mod queues;

use super::msix::{InterruptRoute, MsiTarget, VirtioMsix};
use super::Address;
use super::{AnyTransport, IdentityHal, TransportError, VirtioBus};
use alloc::boxed::Box;
use alloc::vec::Vec;
use bitflags::bitflags;
use control::{decode, HEADER_LEN};
use control_queue::{ControlRx, ControlTx, CONTROL_BUFFER, CONTROL_RX_SIZE, CONTROL_TX_SIZE};
use core::sync::atomic::{fence, Ordering};
use handshake::{Effects, Handshake};
use port_rx::PortRx;
use port_tx::PortTx;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::{DeviceStatus, DeviceType, Transport};

/// Descriptors (and buffers) of the named port's queues; QEMU's port
/// queues hold 128.
const PORT_QUEUE_SIZE: usize = 16;
/// One data buffer: QEMU forwards at most 4096 bytes per socket read.
const DATA_BUFFER: usize = 4096;
/// The longest port name `start` accepts (the control buffer holds the
/// header, the name and QEMU's NUL).
pub const MAX_NAME_LEN: usize = CONTROL_BUFFER - HEADER_LEN - 1;
/// `max_nr_ports` in the device configuration (after `cols`, `rows`).
const CONFIG_MAX_NR_PORTS: usize = 4;

type PortRing = VirtQueue<IdentityHal, PORT_QUEUE_SIZE>;

#[repr(C, align(64))]
struct DataBuffer([u8; DATA_BUFFER]);

/// The device returned a token that was not in flight (or refused a
/// buffer it must take): the queues cannot go on.
#[derive(Debug)]
struct Broken;

bitflags! {
    /// virtio-console feature bits (virtio 1.2 §5.3.3, §6).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Features: u64 {
        /// `cols`/`rows` are valid (not negotiated).
        const SIZE = 1 << 0;
        /// Several ports, and the control queues.
        const MULTIPORT = 1 << 1;
        /// `emerg_wr` (not negotiated).
        const EMERG_WRITE = 1 << 2;
        /// virtio 1.0 or later (non-legacy) device.
        const VERSION_1 = 1 << 32;
    }
}

/// Where the device sits.
pub use super::DeviceLocation as ConsoleLocation;

/// Every virtio-console (virtio-serial) device: on PCI bus 0 lowest
/// address first, on MMIO in command-line order.
pub fn find_all(bus: &VirtioBus) -> Vec<ConsoleLocation> {
    bus.find(DeviceType::Console)
}

/// Why the device could not be brought up.
#[derive(Debug)]
pub enum ConsoleError {
    /// The virtio transport (PCI or MMIO) could not be set up.
    Transport(TransportError),
    /// The device refused initialisation or a queue.
    Device(virtio_drivers::Error),
    /// The device did not accept the negotiated features.
    FeaturesRejected,
    /// The device does not offer MULTIPORT (QEMU: `max_ports` 1), so only
    /// port 0 exists and no port has a name.
    NoMultiport,
    /// A queue is smaller on the device than this driver needs.
    QueueTooSmall {
        /// Virtqueue index.
        queue: u16,
        /// The device's `max_queue_size` for it.
        offered: u32,
        /// What the driver needs.
        wanted: usize,
    },
    /// The name is empty or longer than [`MAX_NAME_LEN`].
    BadName,
    /// The device broke the queue protocol during start-up.
    Broken,
}

/// What happened since the last [`SerialPort::poll`]. Handle
/// `disconnected` first (reset the session), then start a session if
/// [`SerialPort::is_connected`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortEvents {
    /// A client's session began (`is_connected` became true).
    pub connected: bool,
    /// A client's session ended (it disconnected, the port was removed, or
    /// the device failed). Its unread bytes and unsent writes are gone;
    /// bytes read from now on are the next client's.
    pub disconnected: bool,
    /// Received bytes wait for [`SerialPort::read`].
    pub readable: bool,
}

/// Counters since start.
#[derive(Clone, Copy, Debug, Default)]
pub struct PortStats {
    /// Bytes received and kept for `read`.
    pub rx_bytes: u64,
    /// Bytes given to the device.
    pub tx_bytes: u64,
    /// Received bytes dropped at a session boundary.
    pub rx_discarded: u64,
    /// Written bytes dropped at a session boundary before reaching the device.
    pub tx_discarded: u64,
    /// Sessions begun.
    pub sessions: u64,
    /// Control messages ignored: short, truncated, unknown event, or one
    /// only a driver sends.
    pub control_malformed: u64,
    /// Ports this driver cannot serve (id beyond the queues set up).
    pub ports_unreachable: u64,
    /// Data buffers the device returned with length 0 or too long.
    pub rx_bad_descriptor: u64,
    /// Control messages dropped because the outbox was full.
    pub outbox_overflow: u64,
    /// MMIO queue notifications.
    pub notifications: u64,
}

/// The rings of one port id.
struct PortRings {
    rx: PortRing,
    tx: PortRing,
}

/// The named port of one virtio-serial device.
pub struct SerialPort {
    transport: AnyTransport,
    location: ConsoleLocation,
    /// MSI-X, when in use (else INTx).
    msix: Option<VirtioMsix>,
    control_rx: ControlRx,
    control_tx: ControlTx,
    /// Rings of port ids 0..n, all set up before DRIVER_OK.
    rings: Box<[PortRings]>,
    /// The port id whose receive ring holds `rx`'s buffers.
    attached: Option<u32>,
    rx: PortRx,
    tx: PortTx,
    handshake: Handshake,
    /// Notify the port's receive queue at the next notification, even
    /// without new buffers.
    kick_rx: bool,
    /// The device broke the queue protocol: it was reset and stays stopped.
    failed: bool,
    control_malformed: u64,
    notifications: u64,
}

impl SerialPort {
    /// Initialises the device (MULTIPORT, every port's queues), posts the
    /// control receive buffers, sets DRIVER_OK and sends DEVICE_READY. The
    /// port named `name` appears later, through [`poll`](Self::poll).
    pub fn start(
        bus: &mut VirtioBus,
        location: ConsoleLocation,
        name: &str,
        msix: Option<MsiTarget>,
    ) -> Result<SerialPort, ConsoleError> {
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(ConsoleError::BadName);
        }
        let mut transport = bus.transport(location).map_err(ConsoleError::Transport)?;
        // On any error below, dropping `transport` resets the device, which
        // was never told DRIVER_OK nor notified, so it touched no buffer.
        let features = negotiate(&mut transport)?;
        let max_nr_ports = transport
            .read_consistent(|| transport.read_config_space::<u32>(CONFIG_MAX_NR_PORTS))
            .map_err(ConsoleError::Device)?;
        let ports = queues::ports_to_set_up(max_nr_ports);
        // MSI-X is a PCI capability: a virtio-mmio device keeps its line.
        let pci = match (bus.pci_root(), location.address) {
            (Some(root), Address::Pci(function)) => Some((root, function)),
            _ => None,
        };
        let msix = msix.zip(pci).and_then(|(target, (root, function))| {
            let mut used = Vec::with_capacity(2 + 2 * ports as usize);
            used.extend([queues::CONTROL_RECEIVE, queues::CONTROL_TRANSMIT]);
            for id in 0..ports {
                used.extend(queues::receive_queue(id));
                used.extend(queues::transmit_queue(id));
            }
            VirtioMsix::start(root, function, target, &used)
        });
        let control_rx = ControlRx::new(ring(&mut transport, queues::CONTROL_RECEIVE)?)
            .map_err(|_| ConsoleError::Broken)?;
        let control_tx = ControlTx::new(ring(&mut transport, queues::CONTROL_TRANSMIT)?);
        let mut rings = Vec::with_capacity(ports as usize);
        for id in 0..ports {
            let (Some(rx), Some(tx)) = (queues::receive_queue(id), queues::transmit_queue(id))
            else {
                break;
            };
            rings.push(PortRings {
                rx: ring(&mut transport, rx)?,
                tx: ring(&mut transport, tx)?,
            });
        }
        transport.finish_init();
        log::info!(
            "virtio-serial {}: features {:?}, max_nr_ports {max_nr_ports}, queues for {ports} ports; waiting for port {name:?}",
            location,
            features,
        );
        let mut port = Self {
            transport,
            location,
            msix,
            control_rx,
            control_tx,
            rings: rings.into_boxed_slice(),
            attached: None,
            rx: PortRx::new(),
            tx: PortTx::new(),
            handshake: Handshake::new(name.as_bytes(), ports),
            kick_rx: false,
            failed: false,
            control_malformed: 0,
            notifications: 0,
        };
        // DEVICE_READY, now that DRIVER_OK is set and the control receive
        // buffers are posted (QEMU drops control messages without them).
        port.send_outbox().map_err(|_| ConsoleError::Broken)?;
        port.notify();
        Ok(port)
    }

    /// Processes our control messages the device has taken, received
    /// bytes, control messages from the device and transmit completions;
    /// sends pending control messages and re-posts buffers.
    pub fn poll(&mut self) -> PortEvents {
        let mut events = PortEvents::default();
        if self.failed {
            return events;
        }
        match self.poll_queues(&mut events) {
            Ok(()) => self.notify(),
            Err(Broken) => self.fail(&mut events),
        }
        events.readable = !self.failed && self.rx.readable();
        events
    }

    fn poll_queues(&mut self, events: &mut PortEvents) -> Result<(), Broken> {
        // 1. Completions first: a PORT_OPEN 0 taken ends the discarding.
        while let Some(message) = self.control_tx.reap()? {
            let effects = self.handshake.sent(message);
            self.apply(effects, events)?;
        }
        // 2. Bytes before control messages: a client's PORT_OPEN 1 precedes
        // its bytes, so it is seen in this same poll; a PORT_OPEN 0 that
        // follows them discards them below.
        self.collect_rx()?;
        // 3. Control messages, bounded by one pass over the buffers.
        for _ in 0..CONTROL_RX_SIZE {
            let handshake = &mut self.handshake;
            let Some(decoded) = self
                .control_rx
                .next(|buffer, used| decode(buffer, used).map(|m| handshake.receive(m)))?
            else {
                break;
            };
            match decoded {
                Ok(effects) => self.apply(effects, events)?,
                Err(error) => {
                    self.control_malformed += 1;
                    log::warn!(
                        "virtio-serial {}: control message ignored: {error:?}",
                        self.location
                    );
                }
            }
        }
        // 4. Transmit buffers back.
        if let Some(id) = self.attached {
            self.tx.reap(&mut self.rings[id as usize].tx)?;
        }
        // 5. Control messages to send.
        self.send_outbox()
    }

    /// Copies received bytes into `out`; returns how many. Buffers read to
    /// their end go back to the device (notified at the next poll/flush).
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let Some(id) = self.attached.filter(|_| !self.failed) else {
            return 0;
        };
        match self.rx.read(&mut self.rings[id as usize].rx, out) {
            Ok(n) => n,
            Err(Broken) => {
                self.fail(&mut PortEvents::default());
                0
            }
        }
    }

    /// Takes as much of `bytes` as fits in free transmit buffers (sent at
    /// the next [`flush`](Self::flush)); returns how many were taken. 0 while
    /// no client is connected: nothing is queued for a client that is not
    /// there. Bytes taken but not yet flushed when the client leaves are
    /// dropped.
    pub fn write(&mut self, bytes: &[u8]) -> usize {
        if self.failed || !self.handshake.is_connected() {
            return 0;
        }
        if self.tx.free() == 0 {
            if let Some(id) = self.attached {
                if self.tx.reap(&mut self.rings[id as usize].tx).is_err() {
                    self.fail(&mut PortEvents::default());
                    return 0;
                }
            }
        }
        self.tx.write(bytes)
    }

    /// Gives written bytes to the device, sends pending control messages,
    /// and notifies each queue with news once.
    pub fn flush(&mut self) {
        if self.failed {
            return;
        }
        let submitted = match self.attached {
            Some(id) => self.tx.submit(&mut self.rings[id as usize].tx),
            None => Ok(()),
        };
        match submitted.and_then(|()| self.send_outbox()) {
            Ok(()) => self.notify(),
            Err(Broken) => self.fail(&mut PortEvents::default()),
        }
    }

    /// Acknowledges the device's INTx interrupt: reads the ISR, which
    /// deasserts the line (nothing to do under MSI-X).
    pub fn ack_interrupt(&mut self) {
        if self.msix.is_none() {
            let _ = self.transport.ack_interrupt();
        }
    }

    /// How the device interrupts: MSI-X to a vector, or its INTx line.
    pub fn interrupt_route(&self) -> InterruptRoute {
        match &self.msix {
            Some(msix) => msix.route(),
            None => InterruptRoute::Intx {
                line: self.location.irq_line,
            },
        }
    }

    /// A client is connected and its session is live: `write` takes bytes.
    pub fn is_connected(&self) -> bool {
        !self.failed && self.handshake.is_connected()
    }

    /// Bytes written and not yet sent by the device.
    pub fn tx_pending(&self) -> bool {
        !self.failed && self.tx.pending()
    }

    /// The named port's id, once the device has named it.
    pub fn port_id(&self) -> Option<u32> {
        self.handshake.target()
    }

    /// Where the device sits.
    pub fn location(&self) -> ConsoleLocation {
        self.location
    }

    /// Counters since start.
    pub fn stats(&self) -> PortStats {
        let handshake = self.handshake.stats();
        PortStats {
            rx_bytes: self.rx.bytes,
            tx_bytes: self.tx.bytes,
            rx_discarded: self.rx.discarded,
            tx_discarded: self.tx.discarded,
            sessions: handshake.sessions,
            control_malformed: self.control_malformed,
            ports_unreachable: handshake.unreachable,
            rx_bad_descriptor: self.rx.bad,
            outbox_overflow: handshake.outbox_overflow,
            notifications: self.notifications,
        }
    }

    /// Received bytes: kept while the session accepts them, else dropped.
    fn collect_rx(&mut self) -> Result<(), Broken> {
        let keep = self.handshake.accepts_data();
        match self.attached {
            Some(id) => self.rx.collect(&mut self.rings[id as usize].rx, keep),
            None => Ok(()),
        }
    }

    fn apply(&mut self, effects: Effects, events: &mut PortEvents) -> Result<(), Broken> {
        if let Some(id) = effects.attach {
            // The state machine attaches only ids below the rings' count.
            let rings = self.rings.get_mut(id as usize).ok_or(Broken)?;
            self.rx.post_all(&mut rings.rx)?;
            self.attached = Some(id);
            log::info!(
                "virtio-serial {}: port {id} is the named port",
                self.location
            );
        }
        if effects.discard {
            // Only what we were about to send: received bytes may already be
            // the next client's (see handshake.rs).
            self.tx.discard_staged();
        }
        self.kick_rx |= effects.kick_rx;
        events.connected |= effects.connected;
        events.disconnected |= effects.disconnected;
        Ok(())
    }

    /// Moves control messages from the outbox to the control transmitq
    /// while it has free buffers.
    fn send_outbox(&mut self) -> Result<(), Broken> {
        for _ in 0..CONTROL_TX_SIZE {
            let Some(message) = self.handshake.peek_outgoing() else {
                break;
            };
            if !self.control_tx.send(message)? {
                break;
            }
            self.handshake.pop_outgoing();
        }
        Ok(())
    }

    /// One notification per queue that got buffers since the last one
    /// (if the device has not suppressed notifications), plus the forced
    /// receive-queue kick the handshake asked for.
    fn notify(&mut self) {
        // The avail index stores must be visible before the used-ring flags
        // are read (store→load order, a full fence on x86).
        fence(Ordering::SeqCst);
        let mut notified = 0;
        if core::mem::take(&mut self.control_rx.added) && self.control_rx.ring.should_notify() {
            self.transport.notify(queues::CONTROL_RECEIVE);
            notified += 1;
        }
        if core::mem::take(&mut self.control_tx.added) && self.control_tx.ring.should_notify() {
            self.transport.notify(queues::CONTROL_TRANSMIT);
            notified += 1;
        }
        if let Some(id) = self.attached {
            let rings = &self.rings[id as usize];
            let rx_added = core::mem::take(&mut self.rx.added);
            let kick = core::mem::take(&mut self.kick_rx);
            if let Some(queue) =
                queues::receive_queue(id).filter(|_| kick || (rx_added && rings.rx.should_notify()))
            {
                self.transport.notify(queue);
                notified += 1;
            }
            if let Some(queue) =
                queues::transmit_queue(id).filter(|_| core::mem::take(&mut self.tx.added))
            {
                if rings.tx.should_notify() {
                    self.transport.notify(queue);
                    notified += 1;
                }
            }
        }
        self.notifications += notified;
    }

    /// The device broke the queue protocol: reset it (it then holds no
    /// buffer) and stop. Reported as a disconnect.
    fn fail(&mut self, events: &mut PortEvents) {
        log::error!(
            "virtio-serial {}: device returned a descriptor that was not in flight; port stopped",
            self.location
        );
        reset(&mut self.transport);
        self.transport.set_status(DeviceStatus::FAILED);
        self.failed = true;
        events.disconnected = true;
    }
}

impl Drop for SerialPort {
    fn drop(&mut self) {
        // Reset the device before its rings and buffers are freed (the
        // fields drop after this), so it cannot touch freed memory.
        reset(&mut self.transport);
    }
}

/// Resets the device: it drops every ring and buffer. Bounded, so a broken
/// device cannot hang the caller.
fn reset(transport: &mut impl Transport) {
    transport.set_status(DeviceStatus::empty());
    for _ in 0..1_000_000 {
        if transport.get_status() == DeviceStatus::empty() {
            break;
        }
        core::hint::spin_loop();
    }
}

/// Feature negotiation up to FEATURES_OK: MULTIPORT required, VERSION_1
/// when offered.
fn negotiate(transport: &mut impl Transport) -> Result<Features, ConsoleError> {
    let features = transport.begin_init(Features::MULTIPORT | Features::VERSION_1);
    if !transport.get_status().contains(DeviceStatus::FEATURES_OK) {
        transport.set_status(DeviceStatus::FAILED);
        return Err(ConsoleError::FeaturesRejected);
    }
    if !features.contains(Features::MULTIPORT) {
        transport.set_status(DeviceStatus::FAILED);
        return Err(ConsoleError::NoMultiport);
    }
    Ok(features)
}

/// Sets up queue `queue` with `SIZE` descriptors, checking the device's
/// maximum first (no indirect descriptors, no EVENT_IDX).
fn ring<const SIZE: usize>(
    transport: &mut AnyTransport,
    queue: u16,
) -> Result<VirtQueue<IdentityHal, SIZE>, ConsoleError> {
    let offered = transport.max_queue_size(queue);
    if (offered as usize) < SIZE {
        return Err(ConsoleError::QueueTooSmall {
            queue,
            offered,
            wanted: SIZE,
        });
    }
    VirtQueue::new(transport, queue, false, false).map_err(ConsoleError::Device)
}
