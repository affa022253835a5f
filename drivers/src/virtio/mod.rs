//! virtio devices on PCI, through `virtio-drivers`.

mod book;
pub mod console;
mod hal;
pub mod msix;
pub mod net;
pub mod rng;

pub(crate) use hal::map_mmio;
pub use hal::{set_mmio_mapper, IdentityHal};

use crate::pci::{self, Cam};
use alloc::vec::Vec;
use virtio_drivers::transport::pci::bus::{DeviceFunction, PciRoot};
use virtio_drivers::transport::pci::virtio_device_type;
use virtio_drivers::transport::DeviceType;

/// Where a virtio device sits on PCI.
#[derive(Clone, Copy, Debug)]
pub struct DeviceLocation {
    /// Bus/device/function.
    pub function: DeviceFunction,
    /// Legacy interrupt line (as set by the firmware), if any.
    pub irq_line: Option<u8>,
}

/// Every virtio device of `kind` on PCI bus 0, lowest address first.
pub fn find_devices(root: &PciRoot<Cam>, kind: DeviceType) -> Vec<DeviceLocation> {
    let mut found: Vec<DeviceLocation> = pci::devices(root)
        .filter(|(_, info)| virtio_device_type(info) == Some(kind))
        .map(|(function, _)| DeviceLocation {
            function,
            irq_line: pci::interrupt_line(function),
        })
        .collect();
    found.sort_by_key(|d| (d.function.bus, d.function.device, d.function.function));
    found
}
