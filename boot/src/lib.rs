//! Boot path: PVH and Multiboot2 entry, long-mode trampoline, boot-information parsing.
//!
//! The assembly in `entry.s` runs first and ends by calling the kernel's
//! `gateway_main(protocol, info_paddr)`. The kernel then hands the raw
//! boot-information address to [`BootInfo::parse`], which reads the loader's
//! structures through the small [`PhysicalMemory`] trait: the kernel reads
//! identity-mapped RAM, host tests read a byte buffer.
#![no_std]
// The parsers are safe Rust; the only exemptions are the entry assembly and
// the `#[no_mangle]` flag it reads by name, both below.
#![deny(missing_docs, unsafe_code, clippy::undocumented_unsafe_blocks)]

mod info;
pub mod multiboot2;
pub mod pvh;
pub mod virtio_mmio;

pub use info::{
    BootError, BootInfo, MemoryRegion, Module, Protocol, MAX_CMDLINE, MAX_PHYSICAL_ADDRESS,
    MAX_REGIONS,
};

/// The entry assembly (a module only to carry the lint exemption).
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod entry {
    // SAFETY: `entry.s` is the image's entry point, run once by the loader
    // before any Rust code; it calls into Rust (`gateway_main`) only after
    // setting up the stack, page tables and long mode compiled code assumes.
    core::arch::global_asm!(include_str!("entry.s"));
}

/// Read by `entry.s` before any compiled code runs: whether this image was
/// built for x86-64-v3 (AVX2 and friends), so the CPU must have them.
#[cfg(target_os = "none")]
// SAFETY: a `u8` constant under a name nothing else in the image defines;
// `entry.s` only reads it.
#[allow(unsafe_code)]
#[no_mangle]
#[used]
static WGATE_IMAGE_NEEDS_AVX2: u8 = cfg!(target_feature = "avx2") as u8;

/// Read access to physical memory, as the loader left it.
///
/// Implementations return `None` for any range they cannot read, so the
/// parsers never trust a loader-supplied address blindly.
pub trait PhysicalMemory {
    /// Copies `buf.len()` bytes starting at physical address `addr`.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Option<()>;

    /// Reads a little-endian `u32` at `addr`.
    fn read_u32(&self, addr: u64) -> Option<u32> {
        let mut b = [0; 4];
        self.read(addr, &mut b)?;
        Some(u32::from_le_bytes(b))
    }

    /// Reads a little-endian `u64` at `addr`.
    fn read_u64(&self, addr: u64) -> Option<u64> {
        let mut b = [0; 8];
        self.read(addr, &mut b)?;
        Some(u64::from_le_bytes(b))
    }
}

/// A byte buffer standing in for physical memory starting at `base`.
///
/// Used by the host tests, and by anyone who wants to parse a boot
/// structure that has already been copied out.
pub struct BufferMemory<'a> {
    /// Physical address of `bytes[0]`.
    pub base: u64,
    /// The memory contents.
    pub bytes: &'a [u8],
}

impl PhysicalMemory for BufferMemory<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Option<()> {
        let start = usize::try_from(addr.checked_sub(self.base)?).ok()?;
        let end = start.checked_add(buf.len())?;
        buf.copy_from_slice(self.bytes.get(start..end)?);
        Some(())
    }
}
