//! Physical memory: the kernel's page tables and its heap, sized from the
//! boot loader's memory map.
//!
//! All memory is identity-mapped (virtual address = physical address), so
//! DMA buffers handed to devices need no translation.

mod frames;
mod heap;
mod paging;

use boot::{BootInfo, PhysicalMemory};
pub use heap::{heap_in_use, heap_peak, heap_size};
pub use paging::{audit, map_mmio};

/// Reads the loader's structures straight from physical memory, through the
/// boot path's identity map of the low 4 GiB.
pub struct LoaderMemory;

const IDENTITY_MAPPED_AT_BOOT: u64 = 4 << 30;

impl PhysicalMemory for LoaderMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Option<()> {
        let end = addr.checked_add(buf.len() as u64)?;
        if addr == 0 || end > IDENTITY_MAPPED_AT_BOOT {
            return None;
        }
        // SAFETY: the range lies within the boot identity map (QEMU puts its
        // PVH memory map in page 0, so that page is readable too); the
        // loader's structures there are plain data nobody writes meanwhile.
        unsafe {
            core::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), buf.len());
        }
        Some(())
    }
}

/// A physical address range, `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __kernel_end: u8;
}

/// The image's sections, as placed by boot/linker.ld.
pub struct KernelLayout {
    /// Code: read-only, executable.
    pub text: Range,
    /// Constants: read-only, not executable.
    pub rodata: Range,
    /// Data, bss and stacks: writable, not executable.
    pub data: Range,
}

impl KernelLayout {
    fn get() -> Self {
        // SAFETY: only the linker symbols' addresses are taken.
        let addr = |symbol: &u8| symbol as *const u8 as u64;
        // SAFETY: as above; the statics are never read.
        unsafe {
            Self {
                text: Range {
                    start: addr(&__text_start),
                    end: addr(&__text_end),
                },
                rodata: Range {
                    start: addr(&__rodata_start),
                    end: addr(&__rodata_end),
                },
                data: Range {
                    start: addr(&__data_start),
                    end: addr(&__kernel_end),
                },
            }
        }
    }

    /// The whole image.
    pub fn image(&self) -> Range {
        Range {
            start: self.text.start,
            end: self.data.end,
        }
    }
}

/// Where the kernel image lies in physical memory.
pub fn image() -> Range {
    KernelLayout::get().image()
}

/// Builds the kernel's page tables, switches to them and sets up the heap.
pub fn init(boot: &BootInfo) {
    let layout = KernelLayout::get();
    let reserved = [
        Some(Range {
            start: 0,
            end: 0x10_0000,
        }), // real-mode area, BIOS, loader data
        Some(layout.image()),
        boot.initrd.map(|m| Range {
            start: m.start,
            end: m.start + m.len,
        }),
    ];
    let free = frames::FreeMemory::new(boot.memory_regions(), &reserved);
    let largest = free.largest().unwrap_or_else(|| {
        crate::exit::fatal(format_args!("no usable RAM above the kernel image"))
    });
    let mut allocator = frames::BumpFrames::new(largest);
    paging::init(
        &layout,
        boot.memory_regions(),
        &crate::gdt::guard_pages(),
        &mut allocator,
    );
    let heap = allocator.remaining();
    heap::init(heap);
    drivers::virtio::set_mmio_mapper(map_mmio);
    log::info!(
        "memory: {} KiB usable, image {:#x}-{:#x}, heap {:#x}-{:#x} ({} KiB)",
        boot.usable_bytes() >> 10,
        layout.image().start,
        layout.image().end,
        heap.start,
        heap.end,
        (heap.end - heap.start) >> 10
    );
}
