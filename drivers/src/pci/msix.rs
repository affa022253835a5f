//! MSI-X (PCI Local Bus 3.0 §6.8.2): message-signalled interrupts written
//! straight to a local APIC, so a device's interrupts need neither its INTx
//! line nor the I/O APIC.
//!
//! The capability names a BAR and an offset where the table lies, one
//! 16-byte entry per vector: message address (low, high), message data,
//! vector control (bit 0 masks the entry). On x86 the address is
//! 0xFEE00000 with the destination APIC ID in bits 12-19, and the data is
//! the IDT vector (fixed delivery, edge-triggered).

use super::capabilities::ConfigSpace;
use super::{capabilities, Cam, FunctionSpace};
use virtio_drivers::transport::pci::bus::{BarInfo, ConfigurationAccess, DeviceFunction, PciRoot};

/// Capability ID of MSI-X.
pub const CAPABILITY_ID: u8 = 0x11;
/// Last offset an MSI-X capability can start at: it is three dwords
/// (header, table, PBA) and configuration space ends at 0xFF.
pub const LAST_OFFSET: u8 = 0xf4;
/// Message control bit 15: MSI-X enabled.
const CONTROL_ENABLE: u32 = 1 << 15;
/// Message control bit 14: every vector masked.
const CONTROL_FUNCTION_MASK: u32 = 1 << 14;
/// Bytes per table entry.
const ENTRY_BYTES: u64 = 16;
/// Vector control bit 0: this entry is masked.
const ENTRY_MASKED: u32 = 1;

/// Where a function's MSI-X table is, from its capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsixCapability {
    /// Offset of the capability in configuration space.
    pub offset: u8,
    /// Number of table entries (1-2048).
    pub table_size: u16,
    /// BAR holding the table (0-5).
    pub table_bar: u8,
    /// Offset of the table in that BAR (8-byte aligned).
    pub table_offset: u32,
}

impl MsixCapability {
    /// Decodes the capability's dwords: `header` (ID, next, message
    /// control) and `table` (BIR in bits 0-2, offset above). None if the
    /// BAR indicator names no BAR (6 and 7 are reserved).
    pub fn decode(offset: u8, header: u32, table: u32) -> Option<Self> {
        let table_bar = (table & 7) as u8;
        if table_bar > 5 {
            return None;
        }
        Some(Self {
            offset,
            table_size: (((header >> 16) & 0x7ff) + 1) as u16,
            table_bar,
            table_offset: table & !7,
        })
    }

    /// Reads the capability at `offset` (from a capability walk) through
    /// `space` and decodes it. A capability too close to the end of
    /// configuration space to hold its three dwords is refused rather than
    /// read past 0xFF.
    pub fn read(space: &impl ConfigSpace, offset: u8) -> Result<Self, MsixError> {
        if offset > LAST_OFFSET {
            return Err(MsixError::Truncated);
        }
        let header = space.read_u32(offset);
        let table = space.read_u32(offset + 4);
        Self::decode(offset, header, table).ok_or(MsixError::BadBarIndicator)
    }
}

/// The MSI message that delivers `vector` to the local APIC `apic_id`:
/// (address, data).
pub fn message(apic_id: u8, vector: u8) -> (u64, u32) {
    (0xfee0_0000 | (u64::from(apic_id) << 12), u32::from(vector))
}

/// Why MSI-X could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsixError {
    /// The function has no MSI-X capability.
    Absent,
    /// The capability starts too close to the end of configuration space
    /// (after [`LAST_OFFSET`]) to hold its three dwords.
    Truncated,
    /// The capability names a reserved BAR indicator.
    BadBarIndicator,
    /// The table's BAR is not a memory BAR with an address.
    TableBarUnusable,
    /// The table does not fit inside its BAR.
    TableOutsideBar,
    /// An entry asked for is beyond the table.
    NoSuchEntry,
}

/// The function's MSI-X capability, if it has one.
pub fn find(cam: &Cam, function: DeviceFunction) -> Result<MsixCapability, MsixError> {
    let cap = capabilities(cam, function)
        .find(CAPABILITY_ID)
        .ok_or(MsixError::Absent)?;
    MsixCapability::read(&FunctionSpace { cam, function }, cap.offset)
}

/// A function's MSI-X table, mapped.
#[derive(Debug)]
pub struct MsixTable {
    function: DeviceFunction,
    capability: MsixCapability,
    /// Physical (= virtual) address of entry 0.
    base: u64,
}

impl MsixTable {
    /// Locates and maps the table of `function` (whose memory decoding must
    /// be on). MSI-X stays disabled until [`MsixTable::enable`].
    pub fn locate(
        root: &mut PciRoot<Cam>,
        function: DeviceFunction,
        map_mmio: fn(u64, u64),
    ) -> Result<Self, MsixError> {
        // SAFETY: reads only, from the single kernel thread that owns `root`.
        let cam = unsafe { Cam::new() };
        let capability = find(&cam, function)?;
        let (bar_address, bar_size) = match root.bar_info(function, capability.table_bar) {
            Ok(Some(BarInfo::Memory { address, size, .. })) if address != 0 => (address, size),
            _ => return Err(MsixError::TableBarUnusable),
        };
        let table_bytes = u64::from(capability.table_size) * ENTRY_BYTES;
        let end = u64::from(capability.table_offset)
            .checked_add(table_bytes)
            .ok_or(MsixError::TableOutsideBar)?;
        if end > bar_size {
            return Err(MsixError::TableOutsideBar);
        }
        let base = bar_address + u64::from(capability.table_offset);
        map_mmio(base, table_bytes);
        Ok(Self {
            function,
            capability,
            base,
        })
    }

    /// Entries in the table.
    pub fn len(&self) -> u16 {
        self.capability.table_size
    }

    /// Whether the table has no entries (never: the size field is n-1).
    pub fn is_empty(&self) -> bool {
        false
    }

    fn write_entry_dword(&self, entry: u16, dword: u64, value: u32) {
        let addr = self.base + u64::from(entry) * ENTRY_BYTES + 4 * dword;
        // SAFETY: `locate` mapped the whole table uncached and checked that
        // it lies inside the device's memory BAR; `entry` is below the
        // table size (checked by the callers), so this is one of its
        // aligned dwords.
        unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
    }

    fn set_control(&self, set: u32, clear: u32) {
        // SAFETY: the single kernel thread owns configuration space here.
        let mut cam = unsafe { Cam::new() };
        let header = cam.read_word(self.function, self.capability.offset);
        let control = ((header >> 16) | set) & !clear;
        // Only message control is writable in this dword.
        cam.write_word(
            self.function,
            self.capability.offset,
            (header & 0xffff) | (control << 16),
        );
    }

    /// Points each `(entry, vector)` at the local APIC `apic_id` and
    /// unmasks it, enables MSI-X and disables the function's INTx. Entries
    /// not named stay masked.
    pub fn enable(&self, apic_id: u8, entries: &[(u16, u8)]) -> Result<(), MsixError> {
        if entries.iter().any(|&(entry, _)| entry >= self.len()) {
            return Err(MsixError::NoSuchEntry);
        }
        // Program with the whole function masked, so no half-written entry
        // can fire.
        self.set_control(CONTROL_ENABLE | CONTROL_FUNCTION_MASK, 0);
        for &(entry, vector) in entries {
            let (address, data) = message(apic_id, vector);
            self.write_entry_dword(entry, 3, ENTRY_MASKED);
            self.write_entry_dword(entry, 0, address as u32);
            self.write_entry_dword(entry, 1, (address >> 32) as u32);
            self.write_entry_dword(entry, 2, data);
            self.write_entry_dword(entry, 3, 0);
        }
        super::set_intx_disabled(self.function, true);
        self.set_control(0, CONTROL_FUNCTION_MASK);
        Ok(())
    }

    /// Turns MSI-X off again and lets the function use INTx.
    pub fn disable(&self) {
        self.set_control(0, CONTROL_ENABLE | CONTROL_FUNCTION_MASK);
        super::set_intx_disabled(self.function, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_qemu_virtio_capability() {
        // QEMU's virtio-net-pci: 4 vectors ("table size" field 3), table at
        // offset 0 of BAR 1, PBA at 0x800 of BAR 1.
        let cap = MsixCapability::decode(0x98, 0x0003_8411, 0x0000_0001).unwrap();
        assert_eq!(
            cap,
            MsixCapability {
                offset: 0x98,
                table_size: 4,
                table_bar: 1,
                table_offset: 0
            }
        );
        let cap = MsixCapability::decode(0x40, 0x07ff_0011, 0x0000_2004).unwrap();
        assert_eq!(cap.table_size, 2048);
        assert_eq!(cap.table_bar, 4);
        assert_eq!(cap.table_offset, 0x2000);
        assert_eq!(MsixCapability::decode(0x40, 0x11, 6), None);
        assert_eq!(MsixCapability::decode(0x40, 0x11, 7), None);
    }

    /// Configuration space in memory, for `read`.
    struct Space([u8; 256]);

    impl ConfigSpace for Space {
        fn read_u32(&self, offset: u8) -> u32 {
            let o = usize::from(offset & !3);
            u32::from_le_bytes([self.0[o], self.0[o + 1], self.0[o + 2], self.0[o + 3]])
        }
    }

    #[test]
    fn reads_the_capability_where_it_fits_only() {
        let mut space = Space([0; 256]);
        space.0[0xf4..0xfc].copy_from_slice(&[0x11, 0, 3, 0, 0x01, 0, 0, 0]);
        let cap = MsixCapability::read(&space, 0xf4).unwrap();
        assert_eq!((cap.table_size, cap.table_bar), (4, 1));
        // At 0xF8 or 0xFC the table dword would lie at 0xFC or past 0xFF
        // (the offset + 4 used to overflow there).
        space.0[0xfc] = 0x11;
        assert_eq!(
            MsixCapability::read(&space, 0xf8),
            Err(MsixError::Truncated)
        );
        assert_eq!(
            MsixCapability::read(&space, 0xfc),
            Err(MsixError::Truncated)
        );
        space.0[0x40..0x48].copy_from_slice(&[0x11, 0, 0, 0, 0x06, 0, 0, 0]);
        assert_eq!(
            MsixCapability::read(&space, 0x40),
            Err(MsixError::BadBarIndicator)
        );
    }

    #[test]
    fn messages_go_to_the_local_apic() {
        assert_eq!(message(0, 0x70), (0xfee0_0000, 0x70));
        assert_eq!(message(3, 0x71), (0xfee0_3000, 0x71));
    }
}
