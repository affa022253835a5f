//! MSI-X for virtio-pci devices: the PCI side (table, enable, INTx off)
//! through [`crate::pci::msix`], and the virtio side, which virtio-drivers'
//! `PciTransport` does not expose: telling the device which table entry
//! its configuration changes (`msix_config`) and each queue
//! (`queue_msix_vector`, after `queue_select`) interrupt through, in the
//! common configuration structure (virtio 1.2 §4.1.4.3). The device
//! answers by reading back the entry, or `VIRTIO_MSI_NO_VECTOR` if it
//! refuses; then the caller falls back to INTx.
//!
//! One vector per device: every queue and configuration change use table
//! entry 0, which delivers one IDT vector to one local APIC.

use crate::pci::msix::{MsixError, MsixTable};
use crate::pci::{self, Cam};
use virtio_drivers::transport::pci::bus::{BarInfo, ConfigurationAccess, DeviceFunction, PciRoot};

/// The device refuses (or has no room for) a vector.
pub const NO_VECTOR: u16 = 0xffff;
/// Capability ID of vendor-specific capabilities (virtio's structures).
const VENDOR_CAPABILITY: u8 = 0x09;
/// `cfg_type` of the common configuration structure.
const COMMON_CFG: u8 = 1;
/// Offsets in `virtio_pci_common_cfg`.
const MSIX_CONFIG: u64 = 0x10;
const QUEUE_SELECT: u64 = 0x16;
const QUEUE_MSIX_VECTOR: u64 = 0x1a;
/// Bytes of the common configuration structure up to `queue_device`.
const COMMON_CFG_LEN: u32 = 0x38;
/// The table entry every interrupt of the device uses.
const ENTRY: u16 = 0;

/// Where a device's interrupts should go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsiTarget {
    /// Local APIC ID of the CPU that takes them.
    pub apic_id: u8,
    /// IDT vector.
    pub vector: u8,
}

/// How a device interrupts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterruptRoute {
    /// MSI-X, straight to the local APIC on `vector`.
    Msix {
        /// IDT vector.
        vector: u8,
    },
    /// The legacy INTx line (as the firmware assigned it), if any.
    Intx {
        /// Interrupt line (an I/O APIC input on PC machines).
        line: Option<u8>,
    },
}

/// Why MSI-X is not used for a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsixUnavailable {
    /// No usable MSI-X capability or table.
    Pci(MsixError),
    /// No common configuration structure in a memory BAR.
    NoCommonConfig,
    /// The device answered `VIRTIO_MSI_NO_VECTOR` (or something else) for
    /// the entry.
    Refused,
}

/// A virtio-pci device's MSI-X, enabled.
#[derive(Debug)]
pub struct VirtioMsix {
    table: MsixTable,
    /// Physical (= virtual) address of `virtio_pci_common_cfg`.
    common_cfg: u64,
    target: MsiTarget,
}

impl VirtioMsix {
    /// Enables MSI-X on `function` (memory decoding on) with table entry 0
    /// aimed at `target`. The virtio side is set by [`VirtioMsix::assign`],
    /// after each device reset.
    pub fn enable(
        root: &mut PciRoot<Cam>,
        function: DeviceFunction,
        target: MsiTarget,
        map_mmio: fn(u64, u64),
    ) -> Result<Self, MsixUnavailable> {
        let common_cfg = common_cfg(root, function).ok_or(MsixUnavailable::NoCommonConfig)?;
        map_mmio(common_cfg, u64::from(COMMON_CFG_LEN));
        let table = MsixTable::locate(root, function, map_mmio).map_err(MsixUnavailable::Pci)?;
        table
            .enable(target.apic_id, &[(ENTRY, target.vector)])
            .map_err(MsixUnavailable::Pci)?;
        Ok(Self {
            table,
            common_cfg,
            target,
        })
    }

    /// Enables MSI-X towards `target` and assigns it to the configuration
    /// and to `queues` (call after FEATURES_OK, before the queues are set
    /// up). None, with MSI-X left off, if the device has no MSI-X or
    /// refuses the entry (said on the console): the caller uses INTx.
    pub fn start(
        root: &mut PciRoot<Cam>,
        function: DeviceFunction,
        target: MsiTarget,
        queues: &[u16],
    ) -> Option<Self> {
        let msix = match Self::enable(root, function, target, super::map_mmio) {
            Ok(msix) => msix,
            Err(MsixUnavailable::Pci(MsixError::Absent)) => return None,
            Err(why) => {
                log::warn!("virtio {function}: MSI-X unusable ({why:?}); using INTx");
                return None;
            }
        };
        match msix.assign(queues) {
            Ok(()) => Some(msix),
            Err(why) => {
                log::warn!(
                    "virtio {function}: device refused its MSI-X entry ({why:?}); using INTx"
                );
                msix.disable();
                None
            }
        }
    }

    /// The route the device's interrupts take.
    pub fn route(&self) -> InterruptRoute {
        InterruptRoute::Msix {
            vector: self.target.vector,
        }
    }

    fn write_u16(&self, offset: u64, value: u16) {
        // SAFETY: `common_cfg` is the device's common configuration
        // structure in a memory BAR, mapped uncached by `enable`; `offset`
        // is one of its aligned 16-bit fields. The transport writes the
        // same registers, but never concurrently: the kernel is
        // single-threaded and this runs during device initialisation.
        unsafe { core::ptr::write_volatile((self.common_cfg + offset) as *mut u16, value) }
    }

    fn read_u16(&self, offset: u64) -> u16 {
        // SAFETY: as in `write_u16`; reading these fields has no side
        // effects.
        unsafe { core::ptr::read_volatile((self.common_cfg + offset) as *const u16) }
    }

    /// Tells the device to use the entry for configuration changes and for
    /// each of `queues`, and checks it agreed. Call after the device's
    /// features are negotiated and before its queues are enabled (a reset
    /// forgets the assignment).
    pub fn assign(&self, queues: &[u16]) -> Result<(), MsixUnavailable> {
        self.write_u16(MSIX_CONFIG, ENTRY);
        if self.read_u16(MSIX_CONFIG) != ENTRY {
            return Err(MsixUnavailable::Refused);
        }
        for &queue in queues {
            self.write_u16(QUEUE_SELECT, queue);
            self.write_u16(QUEUE_MSIX_VECTOR, ENTRY);
            if self.read_u16(QUEUE_MSIX_VECTOR) != ENTRY {
                return Err(MsixUnavailable::Refused);
            }
        }
        Ok(())
    }

    /// Turns MSI-X off (the device goes back to INTx).
    pub fn disable(&self) {
        self.table.disable();
    }
}

/// The physical address of the device's common configuration structure,
/// from its virtio vendor capability (the first one, as the transport
/// picks).
fn common_cfg(root: &mut PciRoot<Cam>, function: DeviceFunction) -> Option<u64> {
    // SAFETY: reads only, from the single kernel thread that owns `root`.
    let cam = unsafe { Cam::new() };
    let walk = pci::capabilities(&cam, function);
    let cap = walk.capabilities().iter().find(|c| {
        let header = cam.read_word(function, c.offset);
        c.id == VENDOR_CAPABILITY
            && (header >> 16) as u8 >= 16
            && (header >> 24) as u8 == COMMON_CFG
    })?;
    let bar = cam.read_word(function, cap.offset + 4) as u8;
    let offset = cam.read_word(function, cap.offset + 8);
    let length = cam.read_word(function, cap.offset + 12);
    if bar > 5 || length < COMMON_CFG_LEN {
        return None;
    }
    match root.bar_info(function, bar) {
        Ok(Some(BarInfo::Memory { address, size, .. }))
            if address != 0 && u64::from(offset) + u64::from(COMMON_CFG_LEN) <= size =>
        {
            Some(address + u64::from(offset))
        }
        _ => None,
    }
}
