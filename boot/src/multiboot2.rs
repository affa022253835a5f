//! The Multiboot2 boot information, as GRUB's `multiboot2` command passes it.

use crate::{BootError, BootInfo, Module, PhysicalMemory, Protocol};

/// Tag carrying the command line.
const TAG_CMDLINE: u32 = 1;
/// Tag describing one loaded module (`module2`).
const TAG_MODULE: u32 = 3;
/// Tag carrying the memory map.
const TAG_MEMORY_MAP: u32 = 6;
/// Tag closing the list.
const TAG_END: u32 = 0;
/// Memory-map entry type for usable RAM.
const MEMORY_AVAILABLE: u32 = 1;
/// The whole structure is never bigger than this in practice; anything
/// larger is a corrupt size field.
const MAX_TOTAL_SIZE: u32 = 1 << 20;

/// Reads the Multiboot2 information structure at `addr`.
pub fn parse(addr: u64, memory: &impl PhysicalMemory) -> Result<BootInfo, BootError> {
    let total = memory.read_u32(addr).ok_or(BootError::Unreadable)?;
    if !(16..=MAX_TOTAL_SIZE).contains(&total) {
        return Err(BootError::BadMagic);
    }
    let end = addr + u64::from(total);
    let mut info = BootInfo::new(Protocol::Multiboot2);
    let mut tag = addr + 8;
    while tag + 8 <= end {
        let kind = memory.read_u32(tag).ok_or(BootError::Unreadable)?;
        let size = u64::from(memory.read_u32(tag + 4).ok_or(BootError::Unreadable)?);
        if kind == TAG_END {
            break;
        }
        if size < 8 || tag + size > end {
            return Err(BootError::Unreadable);
        }
        match kind {
            TAG_CMDLINE => info.read_cmdline(tag + 8, memory),
            TAG_MODULE if info.initrd.is_none() => {
                let start = memory.read_u32(tag + 8).ok_or(BootError::Unreadable)?;
                let stop = memory.read_u32(tag + 12).ok_or(BootError::Unreadable)?;
                let len = stop.checked_sub(start).ok_or(BootError::Unreadable)?;
                info.initrd = Some(Module {
                    start: start.into(),
                    len: len.into(),
                });
            }
            TAG_MEMORY_MAP => read_memory_map(tag, size, memory, &mut info)?,
            _ => {}
        }
        tag += (size + 7) & !7;
    }
    Ok(info)
}

fn read_memory_map(
    tag: u64,
    size: u64,
    memory: &impl PhysicalMemory,
    info: &mut BootInfo,
) -> Result<(), BootError> {
    let entry_size = u64::from(memory.read_u32(tag + 8).ok_or(BootError::Unreadable)?);
    if entry_size < 24 {
        return Err(BootError::Unreadable);
    }
    let mut entry = tag + 16;
    while entry + entry_size <= tag + size {
        let start = memory.read_u64(entry).ok_or(BootError::Unreadable)?;
        let len = memory.read_u64(entry + 8).ok_or(BootError::Unreadable)?;
        if memory.read_u32(entry + 16).ok_or(BootError::Unreadable)? == MEMORY_AVAILABLE {
            info.push_region(start, len)?;
        }
        entry += entry_size;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BufferMemory;

    const BASE: u64 = 0x9000;

    struct Builder(std::vec::Vec<u8>);
    extern crate std;

    impl Builder {
        fn new() -> Self {
            Self(std::vec![0; 8])
        }
        fn tag(&mut self, kind: u32, body: &[u8]) {
            let size = 8 + body.len() as u32;
            self.0.extend_from_slice(&kind.to_le_bytes());
            self.0.extend_from_slice(&size.to_le_bytes());
            self.0.extend_from_slice(body);
            while !self.0.len().is_multiple_of(8) {
                self.0.push(0);
            }
        }
        fn finish(mut self) -> std::vec::Vec<u8> {
            self.tag(TAG_END, &[]);
            let total = self.0.len() as u32;
            self.0[..4].copy_from_slice(&total.to_le_bytes());
            self.0
        }
    }

    fn memory_map(entries: &[(u64, u64, u32)]) -> std::vec::Vec<u8> {
        let mut body = std::vec::Vec::new();
        body.extend_from_slice(&24u32.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        for (start, len, kind) in entries {
            body.extend_from_slice(&start.to_le_bytes());
            body.extend_from_slice(&len.to_le_bytes());
            body.extend_from_slice(&kind.to_le_bytes());
            body.extend_from_slice(&0u32.to_le_bytes());
        }
        body
    }

    #[test]
    fn reads_cmdline_module_and_memory_map() {
        let mut b = Builder::new();
        b.tag(TAG_CMDLINE, b"test=boot\0");
        b.tag(99, &[1, 2, 3]);
        let mut module = std::vec::Vec::new();
        module.extend_from_slice(&0x20_0000u32.to_le_bytes());
        module.extend_from_slice(&0x20_0400u32.to_le_bytes());
        module.extend_from_slice(b"gateway.conf\0");
        b.tag(TAG_MODULE, &module);
        b.tag(
            TAG_MEMORY_MAP,
            &memory_map(&[
                (0, 0x9f000, 1),
                (0x10_0000, 0x1ee_0000, 1),
                (0xfffc_0000, 0x4_0000, 2),
            ]),
        );
        let mem = b.finish();
        let info = BootInfo::parse(
            2,
            BASE,
            &BufferMemory {
                base: BASE,
                bytes: &mem,
            },
        )
        .unwrap();
        assert_eq!(info.protocol, Protocol::Multiboot2);
        assert_eq!(info.cmdline(), "test=boot");
        assert_eq!(
            info.initrd,
            Some(Module {
                start: 0x20_0000,
                len: 0x400
            })
        );
        assert_eq!(info.memory_regions().len(), 2);
        assert_eq!(info.usable_bytes(), 0x9f000 + 0x1ee_0000);
    }

    #[test]
    fn rejects_tags_that_overrun_the_structure() {
        let mut b = Builder::new();
        b.tag(TAG_CMDLINE, b"x\0");
        let mut mem = b.finish();
        mem[12..16].copy_from_slice(&4096u32.to_le_bytes());
        let memory = BufferMemory {
            base: BASE,
            bytes: &mem,
        };
        assert_eq!(parse(BASE, &memory).unwrap_err(), BootError::Unreadable);
    }

    /// Found by fuzzing (fuzz/regressions/boot_multiboot2): memory-map
    /// entries whose end lies past 2^64 were accepted, and regions near 2^64
    /// overflowed the total RAM and would wrap when rounded to pages.
    #[test]
    fn regions_beyond_physical_memory_are_refused() {
        let parse_map = |entries: &[(u64, u64, u32)]| {
            let mut b = Builder::new();
            b.tag(TAG_MEMORY_MAP, &memory_map(entries));
            let mem = b.finish();
            parse(
                BASE,
                &BufferMemory {
                    base: BASE,
                    bytes: &mem,
                },
            )
            .map(|info| info.memory_regions().len())
        };
        let low = (0x10_0000, 0x100_0000, 1);
        let limit = crate::MAX_PHYSICAL_ADDRESS;
        assert_eq!(parse_map(&[low, (limit - 0x1000, 0x1000, 1)]), Ok(2));
        assert_eq!(
            parse_map(&[low, (limit - 0x1000, 0x1001, 1)]),
            Err(BootError::OutOfRange)
        );
        assert_eq!(
            parse_map(&[low, (u64::MAX - 0xfff, 0x1000, 1)]),
            Err(BootError::OutOfRange)
        );
        // Reserved entries are not checked: only RAM is used.
        assert_eq!(parse_map(&[low, (u64::MAX - 0xfff, 0x1000, 2)]), Ok(1));
    }

    #[test]
    fn never_panics_on_random_structures() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        for _ in 0..5000 {
            let mut mem = [0u8; 256];
            for byte in mem.iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *byte = seed as u8;
            }
            let total = (seed % 300) as u32;
            mem[..4].copy_from_slice(&total.to_le_bytes());
            let _ = parse(
                BASE,
                &BufferMemory {
                    base: BASE,
                    bytes: &mem,
                },
            );
        }
    }
}
