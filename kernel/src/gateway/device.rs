//! smoltcp's view of a NIC: one frame in (the one the main loop chose to
//! give the stack), any number out.
//!
//! The main loop reads every frame from the NIC itself, because only some
//! of them are for smoltcp: on the inner NIC, packets to forward bypass the
//! stack entirely. A frame meant for the stack is offered through
//! `pending`; transmissions go straight to the NIC's transmit ring.

use drivers::virtio::net::Nic;
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Frames the stack builds are at most an Ethernet header plus a 1500-byte
/// MTU; this leaves room to spare.
const SCRATCH: usize = 2048;

/// Ethernet payload size on both NICs.
const ETHERNET_MTU: usize = 1500;

/// A NIC plus at most one received frame for the stack.
pub struct StackDevice<'a> {
    nic: &'a mut Nic,
    pending: Option<&'a [u8]>,
}

impl<'a> StackDevice<'a> {
    /// The stack's view of `nic`, offering it `pending` on its next receive.
    pub fn new(nic: &'a mut Nic, pending: Option<&'a [u8]>) -> Self {
        Self { nic, pending }
    }

    /// The NIC's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.nic.mac()
    }
}

/// A received frame for the stack.
pub struct Rx<'a>(&'a [u8]);

/// Permission to send one frame.
pub struct Tx<'a>(&'a mut Nic);

impl phy::RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut f = Some(f);
        let mut result = None;
        self.0.transmit(|buffer| {
            let len = len.min(buffer.len());
            result = f.take().map(|f| f(&mut buffer[..len]));
            len
        });
        match (result, f) {
            (Some(result), _) => result,
            // The transmit ring was full: smoltcp still needs its closure
            // run (it may update socket state), so build the frame in a
            // scratch buffer and drop it, as a full hardware queue would.
            (None, Some(f)) => {
                let mut scratch = [0u8; SCRATCH];
                f(&mut scratch[..len.min(SCRATCH)])
            }
            (None, None) => unreachable!("the closure runs at most once and sets `result`"),
        }
    }
}

impl phy::Device for StackDevice<'_> {
    type RxToken<'b> = Rx<'b> where Self: 'b;
    type TxToken<'b> = Tx<'b> where Self: 'b;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let frame = self.pending.take()?;
        Some((Rx(frame), Tx(self.nic)))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        Some(Tx(self.nic))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = ETHERNET_MTU + 14;
        caps.max_burst_size = Some(16);
        caps
    }
}
