//! virtio devices through `virtio-drivers`, on PCI or on virtio-mmio.

mod book;
pub mod console;
mod hal;
pub mod msix;
pub mod net;
pub mod rng;

pub(crate) use hal::map_mmio;
pub use hal::{set_mmio_mapper, IdentityHal};
pub use virtio_drivers::transport::DeviceType;

use crate::pci::{self, Cam};
use alloc::vec::Vec;
use core::fmt;
use core::ptr::NonNull;
use virtio_drivers::transport::mmio::{MmioError, MmioTransport, VirtIOHeader};
use virtio_drivers::transport::pci::bus::{DeviceFunction, PciRoot};
use virtio_drivers::transport::pci::{virtio_device_type, PciTransport, VirtioPciError};
use virtio_drivers::transport::{SomeTransport, Transport};

/// The transport every driver here runs on: PCI or MMIO.
pub type AnyTransport = SomeTransport<'static>;

/// Where a virtio device's registers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Address {
    /// Bus/device/function on PCI.
    Pci(DeviceFunction),
    /// A virtio-mmio register window.
    Mmio {
        /// Physical address of the window.
        base: u64,
        /// Its length in bytes.
        size: u64,
    },
}

/// Where a virtio device sits and how it interrupts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceLocation {
    /// Its registers.
    pub address: Address,
    /// The I/O APIC input it interrupts on: the legacy PCI line the
    /// firmware assigned, or the IRQ a `virtio_mmio.device=` argument gave.
    pub irq_line: Option<u8>,
}

impl fmt::Display for DeviceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            Address::Pci(function) => write!(
                f,
                "PCI {:02x}:{:02x}.{}",
                function.bus, function.device, function.function
            ),
            Address::Mmio { base, .. } => write!(f, "MMIO {base:#x}"),
        }
    }
}

/// Why a transport could not be set up.
#[derive(Debug)]
pub enum TransportError {
    /// The virtio PCI capabilities are missing or wrong.
    Pci(VirtioPciError),
    /// The virtio-mmio header is wrong (magic, version, device id).
    Mmio(MmioError),
    /// The location is not on this bus.
    WrongBus,
}

/// The virtio devices the machine has: those on PCI bus 0, or the
/// virtio-mmio devices the kernel command line names (which machines
/// without PCI, such as Firecracker and QEMU's `microvm`, use instead).
pub enum VirtioBus {
    /// PCI, through the configuration ports.
    Pci(PciRoot<Cam>),
    /// virtio-mmio devices, in command-line order, with their type.
    Mmio(Vec<(DeviceLocation, DeviceType)>),
}

impl VirtioBus {
    /// The virtio-mmio devices `devices` (as [`probe_mmio`] found them).
    ///
    /// # Safety
    /// Each location's window must be device memory, identity-mapped
    /// uncached (or mappable through the mapper given to
    /// [`set_mmio_mapper`]), that no Rust object aliases, for as long as the
    /// kernel runs; and no two windows may overlap.
    pub unsafe fn mmio(devices: Vec<(DeviceLocation, DeviceType)>) -> Self {
        Self::Mmio(devices)
    }

    /// The PCI root, for what only PCI devices have (MSI-X).
    pub fn pci_root(&mut self) -> Option<&mut PciRoot<Cam>> {
        match self {
            Self::Pci(root) => Some(root),
            Self::Mmio(_) => None,
        }
    }

    /// Where devices were looked for, for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Pci(_) => {
                "on PCI bus 0 (no virtio_mmio.device= arguments on the kernel command line)"
            }
            Self::Mmio(_) => "among the virtio_mmio.device= arguments on the kernel command line",
        }
    }

    /// Every device of `kind`: on PCI lowest address first, on MMIO in the
    /// order the command line gives (the order QEMU and Firecracker assign).
    pub fn find(&self, kind: DeviceType) -> Vec<DeviceLocation> {
        match self {
            Self::Pci(root) => find_devices(root, kind),
            Self::Mmio(devices) => devices
                .iter()
                .filter(|(_, found)| *found == kind)
                .map(|(location, _)| *location)
                .collect(),
        }
    }

    /// A transport for the device at `location` (on PCI, memory decoding
    /// and bus mastering are turned on first).
    pub fn transport(&mut self, location: DeviceLocation) -> Result<AnyTransport, TransportError> {
        match (self, location.address) {
            (Self::Pci(root), Address::Pci(function)) => {
                pci::enable(root, function);
                PciTransport::new::<IdentityHal, _>(root, function)
                    .map(SomeTransport::Pci)
                    .map_err(TransportError::Pci)
            }
            (Self::Mmio(devices), Address::Mmio { base, size }) => {
                if !devices.iter().any(|(known, _)| *known == location) {
                    return Err(TransportError::WrongBus);
                }
                // SAFETY: the window is one `VirtioBus::mmio`'s caller vouched
                // for; each driver opens its device once at a time.
                unsafe { mmio_transport(base, size) }
                    .map(SomeTransport::Mmio)
                    .map_err(TransportError::Mmio)
            }
            _ => Err(TransportError::WrongBus),
        }
    }
}

/// # Safety
/// As for [`VirtioBus::mmio`].
unsafe fn mmio_transport(base: u64, size: u64) -> Result<MmioTransport<'static>, MmioError> {
    hal::map_mmio(base, size);
    let header = NonNull::new(base as *mut VirtIOHeader).ok_or(MmioError::MmioRegionTooSmall)?;
    // SAFETY: the caller promises the window is mapped device memory that
    // stays valid and unaliased; `size` bounds the configuration space.
    unsafe { MmioTransport::new(header, size as usize) }
}

/// Reads the virtio-mmio header at `base`: the device's type, or why it is
/// not a virtio device (bad magic, unknown version, device id 0 for an
/// empty slot). Only reads registers.
///
/// # Safety
/// As for [`VirtioBus::mmio`] (the window is mapped here if it is not yet).
pub unsafe fn probe_mmio(base: u64, size: u64) -> Result<DeviceType, MmioError> {
    // SAFETY: forwarded to the caller. Constructing the transport only
    // reads the magic, version and device id; it is forgotten rather than
    // dropped, because dropping resets the device (harmless, but a probe
    // should not write).
    let transport = unsafe { mmio_transport(base, size) }?;
    let kind = transport.device_type();
    core::mem::forget(transport);
    Ok(kind)
}

/// Every virtio device of `kind` on PCI bus 0, lowest address first.
pub fn find_devices(root: &PciRoot<Cam>, kind: DeviceType) -> Vec<DeviceLocation> {
    let mut found: Vec<(DeviceFunction, DeviceLocation)> = pci::devices(root)
        .filter(|(_, info)| virtio_device_type(info) == Some(kind))
        .map(|(function, _)| {
            (
                function,
                DeviceLocation {
                    address: Address::Pci(function),
                    irq_line: pci::interrupt_line(function),
                },
            )
        })
        .collect();
    found.sort_by_key(|(f, _)| (f.bus, f.device, f.function));
    found.into_iter().map(|(_, location)| location).collect()
}
