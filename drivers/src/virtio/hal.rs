//! The `virtio-drivers` HAL for an identity-mapped kernel: DMA memory comes
//! from the heap and its physical address is its virtual address.

use core::ptr::NonNull;
use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};

extern crate alloc;
use alloc::alloc::{alloc_zeroed, dealloc, Layout};

/// Maps device registers; set by the kernel, which owns the page tables.
static MMIO_MAPPER: spin::Once<fn(u64, u64)> = spin::Once::new();

/// Registers the kernel's function that identity-maps `[phys, phys + len)`
/// as uncached device memory.
pub fn set_mmio_mapper(map: fn(u64, u64)) {
    MMIO_MAPPER.call_once(|| map);
}

/// Identity-maps device registers through the kernel's mapper.
pub(crate) fn map_mmio(phys: u64, len: u64) {
    if let Some(map) = MMIO_MAPPER.get() {
        map(phys, len);
    }
}

/// The HAL type to instantiate drivers with.
pub struct IdentityHal;

fn dma_layout(pages: usize) -> Layout {
    // PAGE_SIZE is a power of two and `pages` comes from the driver's queue
    // sizes, far below the overflow limit.
    Layout::from_size_align(pages * PAGE_SIZE, PAGE_SIZE).expect("valid DMA layout")
}

// SAFETY: memory handed out is zeroed, page-aligned, owned by the device
// until `dma_dealloc`, and identity-mapped so the physical address given to
// the device is exactly where the driver reads and writes.
unsafe impl Hal for IdentityHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        // SAFETY: the layout has a non-zero size (drivers ask for ≥ 1 page).
        let ptr = unsafe { alloc_zeroed(dma_layout(pages)) };
        let ptr = NonNull::new(ptr).expect("out of memory for DMA buffers");
        (ptr.as_ptr() as PhysAddr, ptr)
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: the caller returns memory from `dma_alloc` with its page count.
        unsafe { dealloc(vaddr.as_ptr(), dma_layout(pages)) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        map_mmio(paddr, size as u64);
        NonNull::new(paddr as *mut u8).expect("MMIO region at address 0")
    }

    // SAFETY: (of the trait) the buffer stays valid until `unshare`; with
    // identity mapping and no IOMMU its address is what the device uses.
    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.as_ptr() as *mut u8 as PhysAddr
    }

    // SAFETY: (of the trait) nothing was copied or mapped by `share`, so
    // there is nothing to undo.
    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}
