//! The loader-independent summary of what the boot loader told us.

use crate::{multiboot2, pvh, PhysicalMemory};

/// How many memory-map entries we keep; firmware maps rarely exceed a dozen.
pub const MAX_REGIONS: usize = 32;
/// Longest kernel command line we keep, in bytes (Linux's x86 limit): QEMU's
/// `microvm` appends a `virtio_mmio.device=` argument of about 35 bytes per
/// device to whatever the user gave.
pub const MAX_CMDLINE: usize = 2048;
/// No RAM region or module may end above this: 2^52 bytes, the most
/// physical memory an x86-64 CPU can address. Below it, rounding a region
/// to pages and adding up regions cannot overflow.
pub const MAX_PHYSICAL_ADDRESS: u64 = 1 << 52;

/// Which loader protocol started the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// The Xen PVH direct boot (QEMU `-kernel`, Firecracker, Cloud Hypervisor).
    Pvh,
    /// Multiboot2 (GRUB `multiboot2`).
    Multiboot2,
}

impl Protocol {
    /// Maps the protocol number passed by `entry.s`.
    pub fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            1 => Some(Self::Pvh),
            2 => Some(Self::Multiboot2),
            _ => None,
        }
    }
}

/// A range of physical RAM that the loader reports as usable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryRegion {
    /// First byte.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
}

impl MemoryRegion {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }
}

/// A module (initrd) loaded next to the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Module {
    /// Physical address of the first byte.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Why the boot information could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootError {
    /// The protocol number from `entry.s` is unknown.
    UnknownProtocol,
    /// The structure's magic number is wrong.
    BadMagic,
    /// A structure points outside readable memory or is truncated.
    Unreadable,
    /// The loader gave no memory map.
    NoMemoryMap,
    /// A memory region or module ends above [`MAX_PHYSICAL_ADDRESS`] (or
    /// wraps around 2^64): the whole map is refused rather than used
    /// half-understood.
    OutOfRange,
}

/// Checks that `[start, start + len)` ends at or below [`MAX_PHYSICAL_ADDRESS`].
pub(crate) fn check_range(start: u64, len: u64) -> Result<(), BootError> {
    match start.checked_add(len) {
        Some(end) if end <= MAX_PHYSICAL_ADDRESS => Ok(()),
        _ => Err(BootError::OutOfRange),
    }
}

/// Everything the kernel needs from the loader, copied out of the loader's
/// structures so that their memory may be reused.
#[derive(Clone, Debug)]
pub struct BootInfo {
    /// Which loader started us.
    pub protocol: Protocol,
    regions: [MemoryRegion; MAX_REGIONS],
    region_count: usize,
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
    cmdline_truncated: bool,
    /// The first module, which carries the gateway configuration.
    pub initrd: Option<Module>,
}

impl BootInfo {
    pub(crate) fn new(protocol: Protocol) -> Self {
        Self {
            protocol,
            regions: [MemoryRegion::default(); MAX_REGIONS],
            region_count: 0,
            cmdline: [0; MAX_CMDLINE],
            cmdline_len: 0,
            cmdline_truncated: false,
            initrd: None,
        }
    }

    /// Parses the loader structure at `info_paddr`, as given by `entry.s`.
    pub fn parse(
        protocol: u32,
        info_paddr: u64,
        memory: &impl PhysicalMemory,
    ) -> Result<Self, BootError> {
        let info = match Protocol::from_raw(protocol).ok_or(BootError::UnknownProtocol)? {
            Protocol::Pvh => pvh::parse(info_paddr, memory)?,
            Protocol::Multiboot2 => multiboot2::parse(info_paddr, memory)?,
        };
        if info.region_count == 0 {
            return Err(BootError::NoMemoryMap);
        }
        Ok(info)
    }

    /// Usable RAM regions, in the loader's order.
    pub fn memory_regions(&self) -> &[MemoryRegion] {
        &self.regions[..self.region_count]
    }

    /// Total usable RAM in bytes.
    pub fn usable_bytes(&self) -> u64 {
        self.memory_regions().iter().map(|r| r.len).sum()
    }

    /// The kernel command line (lossy: invalid UTF-8 yields an empty line).
    pub fn cmdline(&self) -> &str {
        core::str::from_utf8(&self.cmdline[..self.cmdline_len]).unwrap_or("")
    }

    /// Whether the loader's command line was longer than [`MAX_CMDLINE`]
    /// (the rest is dropped).
    pub fn cmdline_truncated(&self) -> bool {
        self.cmdline_truncated
    }

    /// The value of the first `key=value` word of the command line
    /// (words are separated by whitespace), if there is one.
    pub fn cmdline_option(&self, key: &str) -> Option<&str> {
        self.cmdline()
            .split_whitespace()
            .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
    }

    /// Records a usable RAM region; one that ends above
    /// [`MAX_PHYSICAL_ADDRESS`] is an error.
    pub(crate) fn push_region(&mut self, start: u64, len: u64) -> Result<(), BootError> {
        check_range(start, len)?;
        if len == 0 || self.region_count == MAX_REGIONS {
            return Ok(());
        }
        self.regions[self.region_count] = MemoryRegion { start, len };
        self.region_count += 1;
        Ok(())
    }

    /// Copies a NUL-terminated string at `addr`, truncated to [`MAX_CMDLINE`].
    pub(crate) fn read_cmdline(&mut self, addr: u64, memory: &impl PhysicalMemory) {
        let mut byte = [0u8; 1];
        let mut len = 0;
        while len < MAX_CMDLINE {
            if memory.read(addr + len as u64, &mut byte).is_none() || byte[0] == 0 {
                break;
            }
            self.cmdline[len] = byte[0];
            len += 1;
        }
        self.cmdline_len = len;
        self.cmdline_truncated = len == MAX_CMDLINE
            && memory.read(addr + len as u64, &mut byte).is_some()
            && byte[0] != 0;
    }
}
