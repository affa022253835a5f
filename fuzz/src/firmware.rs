//! What the firmware and the hypervisor hand the kernel at boot besides the
//! boot information: the ACPI tables that lead to PCIe's ECAM window, and a
//! PCI function's capability list with its MSI-X capability.

use std::cell::Cell;

use drivers::acpi::{self, AcpiError, Memory};
use drivers::pci::capabilities::{
    self, apply_cut, Capability, ConfigSpace, Defect, MAX_CAPABILITIES,
};
use drivers::pci::msix::{MsixCapability, MsixError, CAPABILITY_ID, LAST_OFFSET};
use drivers::pci::EcamWindow;

use crate::input::Input;

/// Fixed addresses of the table regions the RSDP, RSDT and XSDT can point
/// to (the first three below 4 GiB, as SeaBIOS places its tables, the last
/// above, reachable only through an XSDT).
pub const TABLES: [u64; 4] = [0x7fe_0000, 0x7fe_2000, 0x7fe_4000, 0x1_0000_0000];
/// Bytes of one table region: room for the largest RSDT/XSDT (4,096) and
/// MCFG (4,140) the parser accepts, and a little more.
pub const TABLE_REGION: usize = 0x1100;
/// The BIOS area searched for the RSDP.
pub const BIOS_AREA: u64 = 0xe_0000;
const BIOS_AREA_LEN: usize = 0x2_0000;
/// Where the EBDA lies when the input puts one there (segment 0x9fc0).
pub const EBDA: u64 = 0x9_fc00;
const EBDA_LEN: usize = 1024;
/// The BIOS data area, holding the EBDA's segment at 0x40e.
const BDA: u64 = 0x400;

/// `flags` bits of the ACPI mode.
pub mod flags {
    /// Write a valid RSDP (checksums right) into the BIOS area or the EBDA.
    pub const RSDP: u8 = 1;
    /// Make it revision 2, with an XSDT pointer and extended checksum.
    pub const REVISION_2: u8 = 2;
    /// Fix every table region's checksum (byte 9) over its claimed length.
    pub const FIX_CHECKSUMS: u8 = 4;
    /// Write every table region's own length into its length field first.
    pub const FIX_LENGTHS: u8 = 8;
    /// Point 0x40e at an EBDA and put the RSDP there, not in the BIOS area.
    pub const EBDA: u8 = 16;
}

/// The ECAM window's end must be reachable through the kernel's identity
/// map (canonical, below 2^47), which `map_mmio` maps it through.
const IDENTITY_MAP_END: u64 = 1 << 47;
/// Largest table lengths `ecam_window` accepts (its `MAX_ROOT_TABLE` and
/// `MAX_MCFG`).
const MAX_ROOT_TABLE: u32 = 4096;
const MAX_MCFG: u32 = 36 + 8 + 256 * 16;
/// Reads `find_rsdp` may make: 0x40e, then up to two per candidate (20
/// bytes, then 16 more for revision 2) on 64 EBDA and 8,192 BIOS-area
/// 16-byte boundaries.
const MAX_RSDP_READS: usize = 1 + 2 * (1024 / 16 + 0x2_0000 / 16);
/// Reads `ecam_window` may make: the root table's header and body, a
/// signature probe for each of at most 256 entries, the MCFG's header and
/// body (it stops at the first MCFG).
const MAX_ECAM_READS: usize = 2 + 256 + 2;

/// Sparse physical memory: byte regions at fixed addresses. A read that
/// does not lie within one region fails, as unreadable memory does. Counts
/// reads, and remembers the last 4-byte read (`ecam_window`'s signature
/// probe of a table the root table lists).
struct FakeMemory {
    regions: Vec<(u64, Vec<u8>)>,
    reads: Cell<usize>,
    last_probe: Cell<Option<u64>>,
}

impl Memory for FakeMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Option<()> {
        self.reads.set(self.reads.get() + 1);
        if buf.len() == 4 {
            self.last_probe.set(Some(addr));
        }
        self.bytes(addr, buf.len()).map(|b| buf.copy_from_slice(b))
    }
}

impl FakeMemory {
    fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.regions.iter().find_map(|(start, bytes)| {
            let from = usize::try_from(addr.checked_sub(*start)?).ok()?;
            bytes.get(from..from.checked_add(len)?)
        })
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Sets byte `at` so that `bytes` sum to zero.
pub fn fix_checksum(bytes: &mut [u8], at: usize) {
    bytes[at] = 0;
    let sum = bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b));
    bytes[at] = sum.wrapping_neg();
}

/// A 36-byte RSDP: OEM "BOCHS ", the given revision and pointers, both
/// checksums right.
pub fn rsdp(revision: u8, rsdt: u32, xsdt: u64) -> [u8; 36] {
    let mut r = [0u8; 36];
    r[..8].copy_from_slice(b"RSD PTR ");
    r[9..15].copy_from_slice(b"BOCHS ");
    r[15] = revision;
    r[16..20].copy_from_slice(&rsdt.to_le_bytes());
    r[20..24].copy_from_slice(&36u32.to_le_bytes());
    r[24..32].copy_from_slice(&xsdt.to_le_bytes());
    fix_checksum(&mut r[..20], 8);
    fix_checksum(&mut r, 32);
    r
}

/// A pointer chosen by `selector`: one of the table regions, or (if bit 2
/// is set) any address the input gives.
fn pointer(selector: u8, input: &mut Input) -> u64 {
    if selector & 4 == 0 {
        TABLES[usize::from(selector & 3)]
    } else {
        input.u64()
    }
}

/// The memory an ACPI-mode input describes, and where the input put its
/// own RSDP (if it did).
fn acpi_memory(input: &mut Input) -> (FakeMemory, Option<u64>) {
    let flags = input.u8();
    let slot = u64::from(input.u16());
    let rsdt_selector = input.u8();
    let xsdt_selector = input.u8();
    let rsdt = pointer(rsdt_selector, input) as u32;
    let xsdt = pointer(xsdt_selector, input);
    let mut regions = Vec::new();
    for &addr in &TABLES {
        let len = usize::from(input.u16()) % (TABLE_REGION + 1);
        let mut table = input.bytes(len).to_vec();
        if flags & flags::FIX_LENGTHS != 0 && table.len() >= 8 {
            let len = table.len() as u32;
            table[4..8].copy_from_slice(&len.to_le_bytes());
        }
        if flags & flags::FIX_CHECKSUMS != 0 && table.len() >= 36 {
            let claimed = (u32_at(&table, 4) as usize).min(table.len());
            fix_checksum(&mut table[..claimed.max(10)], 9);
        }
        regions.push((addr, table));
    }
    let ebda_len = usize::from(input.u16()) % (EBDA_LEN + 1);
    let mut ebda = input.bytes(ebda_len).to_vec();
    let mut bios = input.bytes(BIOS_AREA_LEN).to_vec();
    bios.resize(BIOS_AREA_LEN, 0);
    let mut bda = vec![0u8; 0x100];
    let mut placed = None;
    let structure = rsdp(
        if flags & flags::REVISION_2 != 0 { 2 } else { 0 },
        rsdt,
        xsdt,
    );
    if flags & flags::EBDA != 0 {
        bda[0x0e..0x10].copy_from_slice(&((EBDA >> 4) as u16).to_le_bytes());
        ebda.resize(EBDA_LEN, 0);
        if flags & flags::RSDP != 0 {
            let at = (slot % (EBDA_LEN as u64 / 16 - 2)) * 16;
            ebda[at as usize..at as usize + 36].copy_from_slice(&structure);
            placed = Some(EBDA + at);
        }
    } else if flags & flags::RSDP != 0 {
        let at = (slot % (BIOS_AREA_LEN as u64 / 16 - 2)) * 16;
        bios[at as usize..at as usize + 36].copy_from_slice(&structure);
        placed = Some(BIOS_AREA + at);
    }
    regions.push((BDA, bda));
    regions.push((EBDA, ebda));
    regions.push((BIOS_AREA, bios));
    let memory = FakeMemory {
        regions,
        reads: Cell::new(0),
        last_probe: Cell::new(None),
    };
    (memory, placed)
}

/// The window the MCFG at `addr` gives, by the rule written plainly: the
/// first allocation for segment 0 with a non-zero, 1 MiB-aligned base and
/// start bus ≤ end bus, whose buses all lie below the identity map's end.
fn reference_window(memory: &FakeMemory, addr: u64) -> Option<EcamWindow> {
    let length = u32_at(memory.bytes(addr, 36)?, 4) as usize;
    let table = memory.bytes(addr, length)?;
    table
        .get(44..)?
        .chunks_exact(16)
        .map(|e| (u64_at(e, 0), u16::from_le_bytes([e[8], e[9]]), e[10], e[11]))
        .find(|&(base, segment, start, end)| {
            segment == 0
                && base != 0
                && base.is_multiple_of(1 << 20)
                && start <= end
                && base
                    .checked_add((u64::from(end - start) + 1) << 20)
                    .is_some_and(|e| e <= IDENTITY_MAP_END)
        })
        .map(|(base, _, start_bus, end_bus)| EcamWindow {
            base,
            start_bus,
            end_bus,
        })
}

/// What a firmware input reached (for the seeds' deep-reach check).
#[derive(Clone, Copy, Debug, Default)]
pub struct FirmwareRun {
    /// The ECAM window found, if any.
    pub window: Option<EcamWindow>,
    /// Capabilities the walk found.
    pub capabilities: usize,
    /// Why the walk stopped early, if it did.
    pub defect: Option<Defect>,
    /// MSI-X capabilities decoded.
    pub msix_decoded: usize,
}

fn acpi_mode(input: &mut Input) -> FirmwareRun {
    let (memory, placed) = acpi_memory(input);
    let found = acpi::find_rsdp(&memory);
    assert!(
        memory.reads.get() <= MAX_RSDP_READS,
        "{} reads",
        memory.reads.get()
    );
    let Some(rsdp) = found else {
        assert_eq!(placed, None, "a valid RSDP was missed");
        return FirmwareRun::default();
    };
    // The search goes upwards (the EBDA before the BIOS area), so it finds
    // the input's own RSDP or one before it; what it finds checks out.
    assert!(rsdp.address.is_multiple_of(16));
    assert!(
        placed.is_none_or(|p| rsdp.address <= p),
        "{rsdp:?} {placed:?}"
    );
    assert!(
        (EBDA..EBDA + EBDA_LEN as u64).contains(&rsdp.address)
            || (BIOS_AREA..BIOS_AREA + BIOS_AREA_LEN as u64).contains(&rsdp.address)
    );
    assert_eq!(acpi::rsdp_at(&memory, rsdp.address), Some(rsdp));
    assert!(rsdp.revision >= 2 || rsdp.xsdt == 0, "an XSDT in ACPI 1.0");

    memory.reads.set(0);
    memory.last_probe.set(None);
    let result = acpi::ecam_window(&memory, &rsdp);
    assert!(
        memory.reads.get() <= MAX_ECAM_READS,
        "{} reads",
        memory.reads.get()
    );
    let (root, root_signature) = if rsdp.xsdt != 0 {
        (rsdp.xsdt, *b"XSDT")
    } else {
        (u64::from(rsdp.rsdt), *b"RSDT")
    };
    let mcfg = memory.last_probe.get();
    match result {
        Ok(window) => {
            let mcfg = mcfg.expect("a window without an MCFG read");
            assert_eq!(reference_window(&memory, mcfg), Some(window));
            assert!(window.base != 0 && window.base.is_multiple_of(1 << 20));
            assert!(window.start_bus <= window.end_bus);
            let len = window.len_through(window.end_bus);
            assert_eq!(
                len,
                (u64::from(window.end_bus - window.start_bus) + 1) << 20
            );
            assert!(
                window
                    .base
                    .checked_add(len)
                    .is_some_and(|end| end <= IDENTITY_MAP_END),
                "a window beyond the identity map: {window:?}"
            );
            return FirmwareRun {
                window: Some(window),
                ..FirmwareRun::default()
            };
        }
        Err(AcpiError::NoSegmentZero) => {
            let mcfg = mcfg.expect("an MCFG was read");
            assert_eq!(reference_window(&memory, mcfg), None);
        }
        Err(AcpiError::Unreadable(addr)) => {
            assert!(addr == root || Some(addr) == mcfg, "{addr:#x}");
        }
        Err(AcpiError::BadLength { signature, length }) => {
            let max = if &signature == b"MCFG" {
                MAX_MCFG
            } else {
                MAX_ROOT_TABLE
            };
            assert!(length < 36 || length > max, "{length} refused");
        }
        Err(AcpiError::BadChecksum(signature)) => {
            assert!(signature == root_signature || &signature == b"MCFG");
        }
        Err(AcpiError::WrongSignature(signature)) => {
            assert_ne!(signature, root_signature);
        }
        Err(AcpiError::NoMcfg) => {}
        Err(AcpiError::NoRsdp) => panic!("NoRsdp is find_rsdp's caller's to say"),
    }
    FirmwareRun::default()
}

/// A 256-byte configuration space that counts its reads and insists they
/// are dword-aligned, as the trait says.
struct FakeSpace {
    bytes: [u8; 256],
    reads: Cell<usize>,
}

impl ConfigSpace for FakeSpace {
    fn read_u32(&self, offset: u8) -> u32 {
        assert!(offset.is_multiple_of(4), "a read at {offset:#x}");
        self.reads.set(self.reads.get() + 1);
        u32_at(&self.bytes, usize::from(offset))
    }
}

/// The capability walk as the module documents it, written plainly over
/// the bytes: (capabilities, defect).
fn reference_walk(bytes: &[u8; 256]) -> (Vec<Capability>, Option<Defect>) {
    let mut found: Vec<Capability> = Vec::new();
    if bytes[0x06] & 0x10 == 0 {
        return (found, None);
    }
    let mut at = 0x34u8;
    loop {
        let pointer = bytes[usize::from(at)];
        if pointer == 0 {
            return (found, None);
        }
        let defect = if pointer < 0x40 {
            Defect::IntoHeader { at, pointer }
        } else if !pointer.is_multiple_of(4) {
            Defect::Misaligned { at, pointer }
        } else if found.iter().any(|c| c.offset == pointer) {
            Defect::Loop { at, pointer }
        } else {
            found.push(Capability {
                offset: pointer,
                id: bytes[usize::from(pointer)],
            });
            at = pointer + 1;
            continue;
        };
        return (found, Some(defect));
    }
}

fn pci_mode(input: &mut Input) -> FirmwareRun {
    let flags = input.u8();
    let mut bytes = [0u8; 256];
    let given = input.bytes(256);
    bytes[..given.len()].copy_from_slice(given);
    if flags & 1 != 0 {
        bytes[0x06] |= 0x10; // status: capabilities list
    }
    let space = FakeSpace {
        bytes,
        reads: Cell::new(0),
    };
    let walk = capabilities::walk(&space);
    // Status, the pointer at 0x34, one header per capability.
    assert!(space.reads.get() <= 2 + MAX_CAPABILITIES);
    let found = walk.capabilities();
    assert!(found.len() <= MAX_CAPABILITIES);
    for (i, c) in found.iter().enumerate() {
        assert!(c.offset >= 0x40 && c.offset.is_multiple_of(4), "{c:?}");
        assert_eq!(c.id, bytes[usize::from(c.offset)]);
        assert!(
            found[..i].iter().all(|d| d.offset != c.offset),
            "twice: {c:?}"
        );
    }
    // A well-formed list cannot hold more than fits, so the walk's own
    // bound is never what stops it.
    assert!(!matches!(walk.defect, Some(Defect::TooMany { .. })));
    let (expected, defect) = reference_walk(&bytes);
    assert_eq!(found, &expected[..]);
    assert_eq!(walk.defect, defect);
    // Cut where it stopped, the list reads as well formed and the same.
    if let Some(defect) = walk.defect {
        let cut = FakeSpace {
            bytes: std::array::from_fn(|i| {
                let dword = (i & !3) as u8;
                let raw = u32_at(&bytes, usize::from(dword));
                apply_cut(dword, raw, defect.at()).to_le_bytes()[i & 3]
            }),
            reads: Cell::new(0),
        };
        let again = capabilities::walk(&cut);
        assert_eq!(again.defect, None);
        assert_eq!(again.capabilities(), found);
    }
    let mut msix_decoded = 0;
    for c in found.iter().filter(|c| c.id == CAPABILITY_ID) {
        let header = u32_at(&bytes, usize::from(c.offset));
        let table = bytes
            .get(usize::from(c.offset) + 4..usize::from(c.offset) + 8)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
        let reads = space.reads.get();
        match MsixCapability::read(&space, c.offset) {
            Ok(msix) => {
                // Header and table dwords, both inside the space.
                assert_eq!(space.reads.get(), reads + 2);
                let table = table.expect("a table dword inside the space");
                assert!(c.offset <= LAST_OFFSET);
                assert_eq!(msix.offset, c.offset);
                assert!((1..=2048).contains(&msix.table_size), "{msix:?}");
                assert_eq!(u32::from(msix.table_size), ((header >> 16) & 0x7ff) + 1);
                assert!(msix.table_bar <= 5 && u32::from(msix.table_bar) == table & 7);
                assert_eq!(msix.table_offset, table & !7);
                assert!(msix.table_offset.is_multiple_of(8));
                msix_decoded += 1;
            }
            Err(MsixError::Truncated) => assert!(c.offset > LAST_OFFSET),
            Err(MsixError::BadBarIndicator) => {
                assert!(table.expect("a table dword") & 7 > 5);
            }
            Err(why) => panic!("{why:?} from decoding alone"),
        }
    }
    FirmwareRun {
        window: None,
        capabilities: found.len(),
        defect: walk.defect,
        msix_decoded,
    }
}

/// Runs [`firmware`] and says what it reached.
pub fn firmware_run(data: &[u8]) -> FirmwareRun {
    let mut input = Input::new(data);
    if input.u8() & 1 == 0 {
        acpi_mode(&mut input)
    } else {
        pci_mode(&mut input)
    }
}

/// The first byte picks one of two parsers of what firmware provides.
///
/// Even: ACPI. The input is fake physical memory: four table regions at
/// fixed addresses ([`TABLES`]), an optional EBDA, the BIOS area
/// 0xE0000–0xFFFFF, and (as `flags` ask) a valid RSDP pointing at a region
/// or anywhere, table lengths and checksums fixed so mutations get past
/// them. Asserted: `find_rsdp` finds the input's RSDP or a valid one before
/// it, within its bounded number of reads; `ecam_window` stays within its
/// bounded reads; an Ok window is the first usable segment-0 allocation of
/// the MCFG it read (a reference rule), 1 MiB-aligned, start ≤ end bus, and
/// its buses end inside the identity map (so mapping it cannot overflow);
/// each error is one the tables explain (a length out of bounds, a
/// signature that differs, an unreadable table the parser was pointed to).
///
/// Odd: a 256-byte PCI configuration space. Asserted: the capability walk
/// reads only aligned dwords, a bounded number of times, and finds exactly
/// what a plain reference walk finds, with the same defect (into the
/// header, misaligned, a loop); its capabilities are at distinct aligned
/// offsets from 0x40; cutting the list where it stopped leaves the same list
/// well formed; every MSI-X capability read through `MsixCapability::read`
/// decodes to a BAR 0–5, 1–2048 entries and an 8-byte-aligned table
/// offset from two dwords inside the space, or is refused for a reserved
/// BAR (6, 7) or for starting past 0xF4 (its three dwords would not fit).
pub fn firmware(data: &[u8]) {
    let _ = firmware_run(data);
}
