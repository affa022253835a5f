//! The kernel's own page tables, replacing the boot path's 4 GiB identity
//! map of writable, executable 2 MiB pages.
//!
//! Code is read-only and executable; read-only data is neither writable nor
//! executable; data, stacks, heap and the rest of RAM are writable but not
//! executable; no page is both writable and executable. The guard page under
//! every stack is left unmapped, and so is page 0, to catch null pointers.

use super::{KernelLayout, Range};
use alloc::alloc::{alloc_zeroed, Layout};
use boot::MemoryRegion;
use spin::Mutex;
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::mapper::MapToError;
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags as Flags, PhysFrame,
    Size2MiB, Size4KiB, Translate,
};
use x86_64::{PhysAddr, VirtAddr};

const PAGE: u64 = 4096;
const HUGE_PAGE: u64 = 2 << 20;

static MAPPER: Mutex<Option<OffsetPageTable<'static>>> = Mutex::new(None);

/// Builds the page tables with frames from `frames` and switches to them.
pub fn init(
    layout: &KernelLayout,
    regions: &[MemoryRegion],
    guard_pages: &[u64],
    frames: &mut impl FrameAllocator<Size4KiB>,
) {
    let root = frames.allocate_frame().unwrap_or_else(|| out_of_frames());
    // SAFETY: the frame was just allocated and zeroed, is identity-mapped,
    // and from now on is used only as the top-level page table.
    let table: &'static mut PageTable =
        unsafe { &mut *(root.start_address().as_u64() as *mut PageTable) };
    // SAFETY: all physical memory is identity-mapped (offset 0), both in the
    // boot tables and in the ones built here.
    let mut mapper = unsafe { OffsetPageTable::new(table, VirtAddr::new(0)) };

    let data = Flags::PRESENT | Flags::WRITABLE | Flags::NO_EXECUTE;
    let image = layout.image();
    for region in regions {
        let ram = Range {
            start: region.start.max(PAGE),
            end: region.end(),
        };
        // RAM below and above the image; the image gets its own flags below.
        map_range(
            &mut mapper,
            Range {
                start: ram.start,
                end: ram.end.min(image.start),
            },
            data,
            frames,
        );
        map_range(
            &mut mapper,
            Range {
                start: ram.start.max(image.end),
                end: ram.end,
            },
            data,
            frames,
        );
    }
    map_range(&mut mapper, layout.text, Flags::PRESENT, frames);
    map_range(
        &mut mapper,
        layout.rodata,
        Flags::PRESENT | Flags::NO_EXECUTE,
        frames,
    );
    let mut start = layout.data.start;
    while start < layout.data.end {
        if !guard_pages.contains(&start) {
            map_range(
                &mut mapper,
                Range {
                    start,
                    end: start + PAGE,
                },
                data,
                frames,
            );
        }
        start += PAGE;
    }

    // SAFETY: the new tables map the running code, its stack and all RAM at
    // the same addresses as before, so execution continues seamlessly.
    unsafe { Cr3::write(root, Cr3Flags::empty()) };
    *MAPPER.lock() = Some(mapper);
}

/// Maps `range` with `flags`, using 2 MiB pages where alignment allows.
fn map_range(
    mapper: &mut OffsetPageTable,
    range: Range,
    flags: Flags,
    frames: &mut impl FrameAllocator<Size4KiB>,
) {
    let mut addr = range.start & !(PAGE - 1);
    while addr < range.end {
        let result = if addr.is_multiple_of(HUGE_PAGE) && addr + HUGE_PAGE <= range.end {
            let page = Page::<Size2MiB>::containing_address(VirtAddr::new(addr));
            let frame = PhysFrame::<Size2MiB>::containing_address(PhysAddr::new(addr));
            // SAFETY: identity mapping of RAM or device memory that the
            // caller classified; no existing mapping is replaced.
            unsafe { mapper.map_to(page, frame, flags | Flags::HUGE_PAGE, frames) }
                .map(|flush| flush.ignore())
                .map(|_| HUGE_PAGE)
                .map_err(|e| matches!(e, MapToError::FrameAllocationFailed))
        } else {
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(addr));
            let frame = PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(addr));
            // SAFETY: as above.
            unsafe { mapper.map_to(page, frame, flags, frames) }
                .map(|flush| flush.ignore())
                .map(|_| PAGE)
                .map_err(|e| matches!(e, MapToError::FrameAllocationFailed))
        };
        match result {
            Ok(step) => addr += step,
            Err(true) => out_of_frames(),
            // Overlapping loader regions: the first mapping stands.
            Err(_) => addr += PAGE,
        }
    }
}

fn out_of_frames() -> ! {
    crate::exit::fatal(format_args!("out of memory while building page tables"))
}

/// Page-table frames for mappings made after boot come from the heap, which
/// is identity-mapped like everything else.
struct HeapFrames;

// SAFETY: each frame is a fresh, zeroed, page-aligned heap allocation that is
// never freed, so it is used only as a page table.
unsafe impl FrameAllocator<Size4KiB> for HeapFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        let layout = Layout::from_size_align(PAGE as usize, PAGE as usize).ok()?;
        // SAFETY: the layout has non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        (!ptr.is_null()).then(|| PhysFrame::containing_address(PhysAddr::new(ptr as u64)))
    }
}

/// Identity-maps device registers at `[phys, phys + len)`: writable, not
/// executable, uncached. Ranges already mapped are left as they are.
pub fn map_mmio(phys: u64, len: u64) {
    let mut guard = MAPPER.lock();
    let Some(mapper) = guard.as_mut() else { return };
    let flags = Flags::PRESENT
        | Flags::WRITABLE
        | Flags::NO_EXECUTE
        | Flags::NO_CACHE
        | Flags::WRITE_THROUGH;
    let mut addr = phys & !(PAGE - 1);
    while addr < phys + len {
        if mapper.translate_addr(VirtAddr::new(addr)).is_none() {
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(addr));
            let frame = PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(addr));
            // SAFETY: a fresh identity mapping of device memory, which is not
            // RAM, so no Rust object can alias it.
            match unsafe { mapper.map_to(page, frame, flags, &mut HeapFrames) } {
                Ok(flush) => flush.flush(),
                Err(MapToError::FrameAllocationFailed) => out_of_frames(),
                Err(_) => {}
            }
        }
        addr += PAGE;
    }
}

/// What a walk over the live page tables found.
pub struct Audit {
    /// Bytes mapped in all.
    pub mapped_bytes: u64,
    /// 4 KiB pages (or huge pages counted in 4 KiB units) that are both
    /// writable and executable.
    pub writable_and_executable: u64,
    /// Whether every stack guard page and page 0 are unmapped.
    pub guards_unmapped: bool,
    /// Whether the kernel's code is writable.
    pub code_writable: bool,
    /// Whether a fresh heap allocation is executable.
    pub heap_executable: bool,
}

/// Effective permissions of the leaf mapping `addr`, combining every level
/// (writable only if all levels allow it, executable only if none forbids it).
fn effective(addr: u64) -> Option<(bool, bool)> {
    let (root, _) = Cr3::read();
    let mut table_addr = root.start_address().as_u64();
    let mut writable = true;
    let mut executable = true;
    for level in (0..4).rev() {
        let index = (addr >> (12 + 9 * level)) & 0x1ff;
        // SAFETY: page tables live in identity-mapped RAM; we only read.
        let table = unsafe { &*(table_addr as *const PageTable) };
        let entry = &table[index as usize];
        let flags = entry.flags();
        if !flags.contains(Flags::PRESENT) {
            return None;
        }
        writable &= flags.contains(Flags::WRITABLE);
        executable &= !flags.contains(Flags::NO_EXECUTE);
        if level == 0 || flags.contains(Flags::HUGE_PAGE) {
            return Some((writable, executable));
        }
        table_addr = entry.addr().as_u64();
    }
    None
}

/// Walks every 4 KiB page of the low 4 GiB and checks the invariants.
pub fn audit() -> Audit {
    let mut mapped_bytes = 0;
    let mut writable_and_executable = 0;
    let mut addr = 0u64;
    while addr < (4 << 30) {
        if let Some((w, x)) = effective(addr) {
            mapped_bytes += PAGE;
            if w && x {
                writable_and_executable += 1;
            }
        }
        addr += PAGE;
    }
    let guards_unmapped = crate::gdt::guard_pages()
        .iter()
        .all(|&g| effective(g).is_none())
        && effective(0).is_none();
    let code_writable = effective(audit as *const () as u64).is_none_or(|(w, _)| w);
    let probe = alloc::vec![0u8; 64];
    let heap_executable = effective(probe.as_ptr() as u64).is_none_or(|(_, x)| x);
    Audit {
        mapped_bytes,
        writable_and_executable,
        guards_unmapped,
        code_writable,
        heap_executable,
    }
}
