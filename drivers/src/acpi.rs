//! Just enough ACPI to find PCIe's ECAM window: the RSDP (searched for in
//! the EBDA and the BIOS area, as on SeaBIOS machines, or given by the
//! loader), the RSDT or XSDT it points to, and the MCFG table they list.
//!
//! Firmware tables are input like any other: every signature, checksum and
//! length is checked, every loop bounded, every read goes through a
//! [`Memory`] that may refuse it. This is plain code over that trait, tested
//! on fake memory.

use crate::pci::EcamWindow;

/// Read access to physical memory.
pub trait Memory {
    /// Fills `buf` from physical address `addr`; None if that memory
    /// cannot be read.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Option<()>;
}

/// Why no ECAM window was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiError {
    /// No valid RSDP in the EBDA or the BIOS area.
    NoRsdp,
    /// A table could not be read.
    Unreadable(u64),
    /// A table's length is below its header or above the bound.
    BadLength {
        /// Table signature.
        signature: [u8; 4],
        /// Its claimed length.
        length: u32,
    },
    /// A table's bytes do not sum to zero.
    BadChecksum([u8; 4]),
    /// A table is not what its pointer said.
    WrongSignature([u8; 4]),
    /// The RSDT/XSDT lists no MCFG (a machine without PCIe, like `pc`).
    NoMcfg,
    /// The MCFG has no usable window for segment 0 (non-zero, 1 MiB-aligned,
    /// start bus ≤ end bus, below [`MAX_WINDOW_END`]).
    NoSegmentZero,
}

impl core::fmt::Display for AcpiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        fn name(s: &[u8; 4]) -> &str {
            core::str::from_utf8(s).unwrap_or("????")
        }
        match self {
            AcpiError::NoRsdp => write!(f, "no ACPI RSDP found"),
            AcpiError::Unreadable(addr) => write!(f, "ACPI table at {addr:#x} unreadable"),
            AcpiError::BadLength { signature, length } => {
                write!(f, "ACPI {} claims length {length}", name(signature))
            }
            AcpiError::BadChecksum(s) => write!(f, "ACPI {} has a bad checksum", name(s)),
            AcpiError::WrongSignature(s) => {
                write!(f, "ACPI table pointer leads to {:?}", name(s))
            }
            AcpiError::NoMcfg => write!(f, "no MCFG table (no PCIe ECAM)"),
            AcpiError::NoSegmentZero => write!(f, "MCFG has no window for PCI segment 0"),
        }
    }
}

/// A table header's size.
const HEADER: u32 = 36;
/// Largest RSDT/XSDT accepted (far more entries than any firmware lists).
const MAX_ROOT_TABLE: u32 = 4096;
/// Largest MCFG accepted: header, 8 reserved bytes, 256 entries.
const MAX_MCFG: u32 = HEADER + 8 + 256 * 16;
/// Table entries looked at in the RSDT/XSDT.
const MAX_ENTRIES: u32 = 256;
/// End of the physical addresses the kernel's identity map can reach
/// (canonical addresses, below 2^47): an ECAM window must lie below it,
/// bus `end_bus` included, or mapping it would fail.
pub const MAX_WINDOW_END: u64 = 1 << 47;

/// Where the RSDP was found and what it points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rsdp {
    /// Physical address of the RSDP.
    pub address: u64,
    /// ACPI revision (0 = 1.0, RSDT only; 2+ may have an XSDT).
    pub revision: u8,
    /// RSDT address.
    pub rsdt: u32,
    /// XSDT address (0 if none).
    pub xsdt: u64,
}

fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b)) == 0
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from(u32_at(bytes, at)) | (u64::from(u32_at(bytes, at + 4)) << 32)
}

/// Checks an RSDP candidate at `addr`.
pub fn rsdp_at(memory: &impl Memory, addr: u64) -> Option<Rsdp> {
    let mut bytes = [0u8; 36];
    memory.read(addr, &mut bytes[..20])?;
    if &bytes[..8] != b"RSD PTR " || !checksum_ok(&bytes[..20]) {
        return None;
    }
    let revision = bytes[15];
    let rsdt = u32_at(&bytes, 16);
    let mut xsdt = 0;
    if revision >= 2 {
        memory.read(addr + 20, &mut bytes[20..36])?;
        let length = u32_at(&bytes, 20);
        // The extended checksum covers the 36-byte structure.
        if length >= 36 && checksum_ok(&bytes[..36]) {
            xsdt = u64_at(&bytes, 24);
        }
    }
    Some(Rsdp {
        address: addr,
        revision,
        rsdt,
        xsdt,
    })
}

/// Searches the first KiB of the EBDA and 0xE0000-0xFFFFF for the RSDP, on
/// 16-byte boundaries (ACPI 6.5 §5.2.5.1).
pub fn find_rsdp(memory: &impl Memory) -> Option<Rsdp> {
    let mut segment = [0u8; 2];
    let ebda = memory
        .read(0x40e, &mut segment)
        .map(|()| u64::from(u16::from_le_bytes(segment)) << 4)
        .filter(|&base| (0x8_0000..0xa_0000).contains(&base));
    let ebda_range = ebda.map(|base| base..base + 1024);
    ebda_range
        .into_iter()
        .chain(core::iter::once(0xe_0000..0x10_0000))
        .flat_map(|range| range.step_by(16))
        .find_map(|addr| rsdp_at(memory, addr))
}

/// Reads the header at `addr` and checks signature (if given), length
/// (header ≤ length ≤ `max`) and checksum; returns the length.
fn checked_table(
    memory: &impl Memory,
    addr: u64,
    signature: Option<&[u8; 4]>,
    max: u32,
    buf: &mut [u8],
) -> Result<([u8; 4], u32), AcpiError> {
    let mut header = [0u8; HEADER as usize];
    memory
        .read(addr, &mut header)
        .ok_or(AcpiError::Unreadable(addr))?;
    let found = [header[0], header[1], header[2], header[3]];
    if let Some(wanted) = signature {
        if &found != wanted {
            return Err(AcpiError::WrongSignature(found));
        }
    }
    let length = u32_at(&header, 4);
    if length < HEADER || length > max || length as usize > buf.len() {
        return Err(AcpiError::BadLength {
            signature: found,
            length,
        });
    }
    let table = &mut buf[..length as usize];
    memory
        .read(addr, table)
        .ok_or(AcpiError::Unreadable(addr))?;
    if !checksum_ok(table) {
        return Err(AcpiError::BadChecksum(found));
    }
    Ok((found, length))
}

/// Finds the MCFG through `rsdp` and returns segment 0's ECAM window.
pub fn ecam_window(memory: &impl Memory, rsdp: &Rsdp) -> Result<EcamWindow, AcpiError> {
    let mut root = [0u8; MAX_ROOT_TABLE as usize];
    let (xsdt, root_addr) = if rsdp.xsdt != 0 {
        (true, rsdp.xsdt)
    } else {
        (false, u64::from(rsdp.rsdt))
    };
    let signature = if xsdt { b"XSDT" } else { b"RSDT" };
    let (_, length) = checked_table(
        memory,
        root_addr,
        Some(signature),
        MAX_ROOT_TABLE,
        &mut root,
    )?;
    let entry_size = if xsdt { 8 } else { 4 };
    let entries = ((length - HEADER) / entry_size).min(MAX_ENTRIES);
    let mut mcfg = [0u8; MAX_MCFG as usize];
    for i in 0..entries {
        let at = (HEADER + i * entry_size) as usize;
        let table = if xsdt {
            u64_at(&root, at)
        } else {
            u64::from(u32_at(&root, at))
        };
        let mut signature = [0u8; 4];
        if table == 0 || memory.read(table, &mut signature).is_none() || &signature != b"MCFG" {
            continue;
        }
        let (_, length) = checked_table(memory, table, Some(b"MCFG"), MAX_MCFG, &mut mcfg)?;
        // Header, 8 reserved bytes, then 16-byte allocations.
        let count = length.saturating_sub(HEADER + 8) / 16;
        for n in 0..count {
            let e = (HEADER + 8 + n * 16) as usize;
            let base = u64_at(&mcfg, e);
            let segment = u16::from_le_bytes([mcfg[e + 8], mcfg[e + 9]]);
            let (start_bus, end_bus) = (mcfg[e + 10], mcfg[e + 11]);
            if segment == 0 && base != 0 && start_bus <= end_bus && base.is_multiple_of(1 << 20) {
                let window = EcamWindow {
                    base,
                    start_bus,
                    end_bus,
                };
                if base
                    .checked_add(window.len_through(end_bus))
                    .is_some_and(|end| end <= MAX_WINDOW_END)
                {
                    return Ok(window);
                }
            }
        }
        return Err(AcpiError::NoSegmentZero);
    }
    Err(AcpiError::NoMcfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;
    use std::collections::BTreeMap;

    /// Sparse fake memory: byte ranges written at addresses; reads of
    /// anything else fail.
    #[derive(Default)]
    struct Fake(BTreeMap<u64, Vec<u8>>);

    impl Fake {
        fn put(&mut self, addr: u64, bytes: &[u8]) {
            self.0.insert(addr, bytes.to_vec());
        }
    }

    impl Memory for Fake {
        fn read(&self, addr: u64, buf: &mut [u8]) -> Option<()> {
            let (start, bytes) = self.0.range(..=addr).next_back()?;
            let from = (addr - start) as usize;
            let slice = bytes.get(from..from + buf.len())?;
            buf.copy_from_slice(slice);
            Some(())
        }
    }

    fn fix_checksum(bytes: &mut [u8], at: usize) {
        bytes[at] = 0;
        let sum = bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b));
        bytes[at] = 0u8.wrapping_sub(sum);
    }

    fn table(signature: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(signature);
        t.extend_from_slice(&((36 + body.len()) as u32).to_le_bytes());
        t.push(1);
        t.push(0);
        t.extend_from_slice(b"WGATE TESTTABLE\0\0\0\0\0\0\0\0\0\0\0"[..26].as_ref());
        t.extend_from_slice(body);
        fix_checksum(&mut t, 9);
        t
    }

    fn mcfg(entries: &[(u64, u16, u8, u8)]) -> Vec<u8> {
        let mut body = vec![0u8; 8];
        for &(base, segment, start, end) in entries {
            body.extend_from_slice(&base.to_le_bytes());
            body.extend_from_slice(&segment.to_le_bytes());
            body.push(start);
            body.push(end);
            body.extend_from_slice(&[0; 4]);
        }
        table(b"MCFG", &body)
    }

    fn rsdp(revision: u8, rsdt: u32, xsdt: u64) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(b"RSD PTR ");
        r.push(0);
        r.extend_from_slice(b"BOCHS ");
        r.push(revision);
        r.extend_from_slice(&rsdt.to_le_bytes());
        r.extend_from_slice(&36u32.to_le_bytes());
        r.extend_from_slice(&xsdt.to_le_bytes());
        r.extend_from_slice(&[0; 4]);
        fix_checksum(&mut r[..20], 8);
        fix_checksum(&mut r, 32);
        r
    }

    /// A q35-like layout: RSDP in the F segment, RSDT listing FACP and
    /// MCFG.
    fn q35() -> Fake {
        let mut m = Fake::default();
        m.put(0x40e, &[0, 0]);
        m.put(0xf_5a10, &rsdp(0, 0x7fe_0000, 0));
        let mut entries = Vec::new();
        entries.extend_from_slice(&0x7fe_1000u32.to_le_bytes());
        entries.extend_from_slice(&0x7fe_2000u32.to_le_bytes());
        m.put(0x7fe_0000, &table(b"RSDT", &entries));
        m.put(0x7fe_1000, &table(b"FACP", &[0; 40]));
        m.put(0x7fe_2000, &mcfg(&[(0xb000_0000, 0, 0, 255)]));
        m
    }

    #[test]
    fn finds_q35_window_through_rsdt() {
        let m = q35();
        let rsdp = find_rsdp(&m).expect("rsdp");
        assert_eq!(rsdp.address, 0xf_5a10);
        assert_eq!(rsdp.xsdt, 0);
        assert_eq!(
            ecam_window(&m, &rsdp),
            Ok(EcamWindow {
                base: 0xb000_0000,
                start_bus: 0,
                end_bus: 255
            })
        );
    }

    #[test]
    fn finds_window_through_xsdt_and_in_the_ebda() {
        let mut m = Fake::default();
        m.put(0x40e, &0x9fc0u16.to_le_bytes());
        m.put(0x9_fc20, &rsdp(2, 0, 0x1_0000_0000));
        let mut entries = Vec::new();
        entries.extend_from_slice(&0x2000_0000u64.to_le_bytes());
        m.put(0x1_0000_0000, &table(b"XSDT", &entries));
        m.put(
            0x2000_0000,
            &mcfg(&[(0xe000_0000, 1, 0, 255), (0xf000_0000, 0, 0, 63)]),
        );
        let rsdp = find_rsdp(&m).expect("rsdp in the EBDA");
        assert_eq!(rsdp.address, 0x9_fc20);
        assert_eq!(
            ecam_window(&m, &rsdp),
            Ok(EcamWindow {
                base: 0xf000_0000,
                start_bus: 0,
                end_bus: 63
            })
        );
    }

    #[test]
    fn pc_without_mcfg() {
        let mut m = q35();
        let mut entries = Vec::new();
        entries.extend_from_slice(&0x7fe_1000u32.to_le_bytes());
        m.put(0x7fe_0000, &table(b"RSDT", &entries));
        let rsdp = find_rsdp(&m).unwrap();
        assert_eq!(ecam_window(&m, &rsdp), Err(AcpiError::NoMcfg));
    }

    #[test]
    fn bad_rsdp_checksum_is_not_an_rsdp() {
        let mut m = q35();
        let mut r = rsdp(0, 0x7fe_0000, 0);
        r[10] ^= 1;
        m.put(0xf_5a10, &r);
        assert_eq!(find_rsdp(&m), None);
        assert_eq!(find_rsdp(&Fake::default()), None);
    }

    #[test]
    fn bad_table_checksum_and_lengths_refused() {
        let mut m = q35();
        let mut t = mcfg(&[(0xb000_0000, 0, 0, 255)]);
        t[40] ^= 0x55;
        m.put(0x7fe_2000, &t);
        let rsdp = find_rsdp(&m).unwrap();
        assert_eq!(
            ecam_window(&m, &rsdp),
            Err(AcpiError::BadChecksum(*b"MCFG"))
        );

        // An MCFG claiming 4 GiB.
        let mut t = mcfg(&[(0xb000_0000, 0, 0, 255)]);
        t[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        m.put(0x7fe_2000, &t);
        assert!(matches!(
            ecam_window(&m, &rsdp),
            Err(AcpiError::BadLength { .. })
        ));

        // An RSDT shorter than its header.
        let mut t = table(b"RSDT", &[]);
        t[4..8].copy_from_slice(&10u32.to_le_bytes());
        m.put(0x7fe_0000, &t);
        assert!(matches!(
            ecam_window(&m, &rsdp),
            Err(AcpiError::BadLength { .. })
        ));

        // The RSDT pointer leads elsewhere.
        m.put(0x7fe_0000, &table(b"FACP", &[]));
        assert_eq!(
            ecam_window(&m, &rsdp),
            Err(AcpiError::WrongSignature(*b"FACP"))
        );
    }

    #[test]
    fn unreadable_and_odd_windows() {
        let mut m = q35();
        let mut entries = Vec::new();
        entries.extend_from_slice(&0xdead_0000u32.to_le_bytes()); // unreadable: skipped
        entries.extend_from_slice(&0x7fe_2000u32.to_le_bytes());
        m.put(0x7fe_0000, &table(b"RSDT", &entries));
        // A window not 1 MiB-aligned and one with start > end are ignored.
        m.put(
            0x7fe_2000,
            &mcfg(&[(0xb000_1000, 0, 0, 255), (0xc000_0000, 0, 9, 3)]),
        );
        let rsdp = find_rsdp(&m).unwrap();
        assert_eq!(ecam_window(&m, &rsdp), Err(AcpiError::NoSegmentZero));
    }

    #[test]
    fn windows_beyond_the_identity_map_are_ignored() {
        let mut m = q35();
        let rsdp = find_rsdp(&m).unwrap();
        // Found by the firmware fuzz target: a base of 2^48 was accepted.
        for base in [1 << 48, 0xffff_ffff_fff0_0000, MAX_WINDOW_END - (1 << 20)] {
            m.put(0x7fe_2000, &mcfg(&[(base, 0, 0, 255)]));
            assert_eq!(ecam_window(&m, &rsdp), Err(AcpiError::NoSegmentZero));
        }
        // Bus 0 alone fits in the last MiB; a later usable entry is taken.
        let last = MAX_WINDOW_END - (1 << 20);
        m.put(0x7fe_2000, &mcfg(&[(1 << 48, 0, 0, 255), (last, 0, 0, 0)]));
        assert_eq!(
            ecam_window(&m, &rsdp),
            Ok(EcamWindow {
                base: last,
                start_bus: 0,
                end_bus: 0
            })
        );
    }

    #[test]
    fn random_tables_never_panic() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let mut m = q35();
            let mut junk = vec![0u8; 36 + (next() % 600) as usize];
            for b in junk.iter_mut() {
                *b = next() as u8;
            }
            junk[..4].copy_from_slice(if next() % 2 == 0 { b"MCFG" } else { b"RSDT" });
            if next() % 2 == 0 {
                let len = junk.len() as u32;
                junk[4..8].copy_from_slice(&len.to_le_bytes());
                fix_checksum(&mut junk, 9);
            }
            let at = if junk[..4] == *b"MCFG" {
                0x7fe_2000
            } else {
                0x7fe_0000
            };
            m.put(at, &junk);
            let rsdp = find_rsdp(&m).unwrap();
            let _ = ecam_window(&m, &rsdp);
        }
    }
}
