//! The Xen PVH boot ABI's `hvm_start_info`, as QEMU, Firecracker and
//! Cloud Hypervisor fill it in.

#[cfg(test)]
use crate::MAX_PHYSICAL_ADDRESS;
use crate::{BootError, BootInfo, Module, PhysicalMemory, Protocol};

/// `hvm_start_info.magic`.
pub const START_INFO_MAGIC: u32 = 0x336e_c578;
/// Memory-map entry type for usable RAM (E820 numbering).
pub const MEMMAP_TYPE_RAM: u32 = 1;

mod field {
    pub const MAGIC: u64 = 0;
    pub const VERSION: u64 = 4;
    pub const NR_MODULES: u64 = 12;
    pub const MODLIST_PADDR: u64 = 16;
    pub const CMDLINE_PADDR: u64 = 24;
    pub const MEMMAP_PADDR: u64 = 40;
    pub const MEMMAP_ENTRIES: u64 = 48;
    pub const MEMMAP_ENTRY_SIZE: u64 = 24;
}

/// Reads `hvm_start_info` at `addr` and everything it points to.
pub fn parse(addr: u64, memory: &impl PhysicalMemory) -> Result<BootInfo, BootError> {
    let read32 = |off| memory.read_u32(addr + off).ok_or(BootError::Unreadable);
    let read64 = |off| memory.read_u64(addr + off).ok_or(BootError::Unreadable);
    if read32(field::MAGIC)? != START_INFO_MAGIC {
        return Err(BootError::BadMagic);
    }
    let mut info = BootInfo::new(Protocol::Pvh);

    let cmdline = read64(field::CMDLINE_PADDR)?;
    if cmdline != 0 {
        info.read_cmdline(cmdline, memory);
    }
    if read32(field::NR_MODULES)? > 0 {
        let entry = read64(field::MODLIST_PADDR)?;
        let start = memory.read_u64(entry).ok_or(BootError::Unreadable)?;
        let len = memory.read_u64(entry + 8).ok_or(BootError::Unreadable)?;
        crate::info::check_range(start, len)?;
        info.initrd = Some(Module { start, len });
    }
    // The memory map fields exist from version 1 on.
    if read32(field::VERSION)? >= 1 {
        let table = read64(field::MEMMAP_PADDR)?;
        let entries = u64::from(read32(field::MEMMAP_ENTRIES)?);
        for i in 0..entries {
            let entry = table + i * field::MEMMAP_ENTRY_SIZE;
            let start = memory.read_u64(entry).ok_or(BootError::Unreadable)?;
            let len = memory.read_u64(entry + 8).ok_or(BootError::Unreadable)?;
            let kind = memory.read_u32(entry + 16).ok_or(BootError::Unreadable)?;
            if kind == MEMMAP_TYPE_RAM {
                info.push_region(start, len)?;
            }
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BufferMemory;

    const BASE: u64 = 0x6000;

    fn put32(mem: &mut [u8], off: usize, v: u32) {
        mem[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn put64(mem: &mut [u8], off: usize, v: u64) {
        mem[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// Lays out a start_info at BASE, a command line at +0x100, a module
    /// list at +0x200 and a memory map at +0x300.
    fn sample(version: u32) -> [u8; 0x400] {
        let mut mem = [0u8; 0x400];
        put32(&mut mem, 0, START_INFO_MAGIC);
        put32(&mut mem, 4, version);
        put32(&mut mem, 12, 1);
        put64(&mut mem, 16, BASE + 0x200);
        put64(&mut mem, 24, BASE + 0x100);
        put64(&mut mem, 40, BASE + 0x300);
        put32(&mut mem, 48, 3);
        mem[0x100..0x10a].copy_from_slice(b"test=boot\0");
        put64(&mut mem, 0x200, 0x0100_0000);
        put64(&mut mem, 0x208, 1234);
        let map = [
            (0u64, 0x9fc00u64, 1u32),
            (0xf0000, 0x10000, 2),
            (0x10_0000, 0x1f0_0000, 1),
        ];
        for (i, (start, len, kind)) in map.iter().enumerate() {
            put64(&mut mem, 0x300 + i * 24, *start);
            put64(&mut mem, 0x308 + i * 24, *len);
            put32(&mut mem, 0x310 + i * 24, *kind);
        }
        mem
    }

    #[test]
    fn reads_cmdline_module_and_ram_regions() {
        let mem = sample(1);
        let info = parse(
            BASE,
            &BufferMemory {
                base: BASE,
                bytes: &mem,
            },
        )
        .unwrap();
        assert_eq!(info.cmdline(), "test=boot");
        assert_eq!(
            info.initrd,
            Some(Module {
                start: 0x100_0000,
                len: 1234
            })
        );
        let regions = info.memory_regions();
        assert_eq!(regions.len(), 2, "the reserved region is skipped");
        assert_eq!(regions[1].start, 0x10_0000);
        assert_eq!(info.usable_bytes(), 0x9fc00 + 0x1f0_0000);
    }

    /// Found by fuzzing (fuzz/regressions/boot_pvh): a module or RAM region
    /// whose end lies past 2^64 was accepted, and the kernel's reservation of
    /// it wrapped around; regions near 2^64 overflowed the total and would
    /// wrap when rounded to pages.
    #[test]
    fn regions_and_modules_beyond_physical_memory_are_refused() {
        let memory = |mem: &[u8; 0x400]| {
            parse(
                BASE,
                &BufferMemory {
                    base: BASE,
                    bytes: mem,
                },
            )
            .map(|_| ())
        };
        let mut mem = sample(1);
        put64(&mut mem, 0x200, u64::MAX - 100);
        put64(&mut mem, 0x208, 101);
        assert_eq!(memory(&mem), Err(BootError::OutOfRange), "wraps around");
        put64(&mut mem, 0x200, MAX_PHYSICAL_ADDRESS - 100);
        put64(&mut mem, 0x208, 101);
        assert_eq!(memory(&mem), Err(BootError::OutOfRange));
        put64(&mut mem, 0x208, 100);
        assert_eq!(memory(&mem), Ok(()), "ending at the limit is fine");
        let mut mem = sample(1);
        put64(&mut mem, 0x330, u64::MAX - 0xfff);
        put64(&mut mem, 0x338, 0x800);
        assert_eq!(memory(&mem), Err(BootError::OutOfRange));
    }

    #[test]
    fn version_zero_has_no_memory_map() {
        let mem = sample(0);
        let err = BootInfo::parse(
            1,
            BASE,
            &BufferMemory {
                base: BASE,
                bytes: &mem,
            },
        )
        .unwrap_err();
        assert_eq!(err, BootError::NoMemoryMap);
    }

    #[test]
    fn rejects_bad_magic_and_wild_pointers() {
        let mut mem = sample(1);
        mem[0] ^= 1;
        let memory = BufferMemory {
            base: BASE,
            bytes: &mem,
        };
        assert_eq!(parse(BASE, &memory).unwrap_err(), BootError::BadMagic);
        let mut mem = sample(1);
        put64(&mut mem, 40, 0xdead_0000);
        let memory = BufferMemory {
            base: BASE,
            bytes: &mem,
        };
        assert_eq!(parse(BASE, &memory).unwrap_err(), BootError::Unreadable);
        assert_eq!(parse(0x10, &memory).unwrap_err(), BootError::Unreadable);
    }
}
