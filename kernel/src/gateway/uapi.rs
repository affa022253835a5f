//! The userspace API on the virtio-serial port `wg-uapi`: bytes from the
//! client go to `net::gateway::Control`, its replies go back, and a client
//! coming or going resets the conversation.

use super::VirtioGateway;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use drivers::virtio::console::{self, SerialPort};
use drivers::virtio::msix::InterruptRoute;
use net::config::GatewayConfig;
use net::engine::Now;
use net::gateway::{loop_counters, Control};

/// The port's name, as QEMU's `-device virtserialport,name=wg-uapi` gives it.
const PORT_NAME: &str = "wg-uapi";
/// Bytes moved per read or write.
const CHUNK: usize = 4096;

/// The API endpoint: the port, the protocol state and two chunk buffers.
pub struct Uapi {
    port: SerialPort,
    control: Control,
    input: Box<[u8; CHUNK]>,
    input_range: (usize, usize),
    output: Box<[u8; CHUNK]>,
    output_range: (usize, usize),
}

impl Uapi {
    /// Finds the virtio-serial device and starts the API on it; `None` (and
    /// a console line saying why) if there is none or it cannot start.
    pub fn start(config: &GatewayConfig) -> Option<Uapi> {
        let mut bus = crate::devices::virtio_bus();
        let Some(location) = console::find_all(&bus).first().copied() else {
            log::info!(
                "uapi: no virtio-serial device; `wg` cannot manage this gateway (see README)"
            );
            return None;
        };
        let msix = crate::interrupts::allocate_msi_vector();
        let port = match SerialPort::start(&mut bus, location, PORT_NAME, msix) {
            Ok(port) => port,
            Err(e) => {
                log::warn!("uapi: cannot start the virtio-serial device: {e:?}");
                return None;
            }
        };
        let control = match Control::new(config) {
            Ok(control) => control,
            Err(e) => {
                log::warn!("uapi: configuration not representable in the API: {e}");
                return None;
            }
        };
        let route = port.interrupt_route();
        if let InterruptRoute::Intx { line: Some(line) } = route {
            crate::interrupts::enable_device_line(line);
        }
        log::info!(
            "uapi: serving the WireGuard userspace API on virtio-serial port `{PORT_NAME}`, interrupts {}",
            super::nics::route_text(route)
        );
        Some(Uapi {
            port,
            control,
            input: Box::new([0; CHUNK]),
            input_range: (0, 0),
            output: Box::new([0; CHUNK]),
            output_range: (0, 0),
        })
    }

    /// The device's interrupt line, if it interrupts through INTx.
    pub fn irq_line(&self) -> Option<u8> {
        match self.port.interrupt_route() {
            InterruptRoute::Intx { line } => line,
            InterruptRoute::Msix { .. } => None,
        }
    }

    /// Acknowledges the device's interrupt.
    pub fn ack_interrupt(&mut self) {
        self.port.ack_interrupt();
    }

    /// Moves bytes both ways and acts on complete requests. Returns whether
    /// anything moved.
    pub fn service(
        &mut self,
        gateway: &mut VirtioGateway,
        now: Now,
        rng: &mut impl rand_core::RngCore,
    ) -> bool {
        let events = self.port.poll();
        // A client left: when nothing is in flight, start afresh (skipping
        // whatever it left in the stream). With a request or reply in
        // flight, the one that left was most likely `wg`'s empty probe,
        // whose disconnect the device reports after the real request's first
        // bytes; that request goes on (see `Control::is_quiet`). Never on
        // `connected`: the driver reports it only after reopening its side.
        if events.disconnected && self.control.is_quiet() {
            self.control.client_changed();
            self.output_range = (0, 0);
        }
        let mut moved = false;
        loop {
            moved |= self.write_out();
            if self.output_range.0 < self.output_range.1 {
                break; // the port is full: continue at the next poll
            }
            if self.input_range.0 == self.input_range.1 {
                let n = self.port.read(&mut self.input[..]);
                if n == 0 && !self.control.replying() {
                    break;
                }
                self.input_range = (0, n);
            }
            let (start, end) = self.input_range;
            let used = self
                .control
                .input(&self.input[start..end], gateway, now, rng, counters);
            self.input_range.0 += used;
            moved |= used > 0;
            if used == 0 && !self.control.replying() && self.output_range.0 == self.output_range.1 {
                break;
            }
        }
        self.port.flush();
        moved
    }

    /// Hands the pending reply to the port, as much as it takes.
    fn write_out(&mut self) -> bool {
        let mut moved = false;
        loop {
            if self.output_range.0 == self.output_range.1 {
                let n = self.control.output(&mut self.output[..]);
                if n == 0 {
                    return moved;
                }
                self.output_range = (0, n);
            }
            let (start, end) = self.output_range;
            let took = self.port.write(&self.output[start..end]);
            if took == 0 {
                return moved;
            }
            self.output_range.0 += took;
            moved = true;
        }
    }
}

/// `get`'s counters of our own: the loop's, plus each NIC's.
fn counters(gateway: &VirtioGateway) -> Vec<(String, u64)> {
    let mut all = loop_counters(gateway);
    let (outer, inner) = gateway.nics_ref();
    for (nic, stats) in [("outer", outer.stats()), ("inner", inner.stats())] {
        for (name, value) in [
            ("rx_frames", stats.rx_frames),
            ("tx_frames", stats.tx_frames),
            ("tx_full", stats.tx_full),
            ("rx_bad_descriptor", stats.rx_bad_descriptor),
            ("tx_invalid", stats.tx_invalid),
        ] {
            all.push((format!("nic_{nic}_{name}"), value));
        }
    }
    all
}
