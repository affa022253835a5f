//! The global descriptor table, the task-state segment and the IST stacks.
//!
//! Double fault, NMI and machine check each run on their own stack, so they
//! can be reported even when the interrupted stack is unusable (a stack
//! overflow into a guard page raises a page fault that cannot push its frame,
//! then a double fault). Every stack has an unmapped guard page below it.

use core::cell::UnsafeCell;
use spin::Once;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// IST slot (1-based in the IDT, 0-based in the TSS) of each special stack.
pub const DOUBLE_FAULT_IST: u16 = 1;
/// IST slot for NMI.
pub const NMI_IST: u16 = 2;
/// IST slot for machine check.
pub const MACHINE_CHECK_IST: u16 = 3;

const PAGE: usize = 4096;
const IST_STACK_BYTES: usize = 4 * PAGE;

/// A stack preceded by a page that the page tables leave unmapped.
#[repr(C, align(4096))]
pub struct GuardedStack {
    guard: UnsafeCell<[u8; PAGE]>,
    stack: UnsafeCell<[u8; IST_STACK_BYTES]>,
}

// SAFETY: the CPU alone uses these bytes, as a stack; Rust code only takes
// their addresses.
unsafe impl Sync for GuardedStack {}

impl GuardedStack {
    const fn new() -> Self {
        Self {
            guard: UnsafeCell::new([0; PAGE]),
            stack: UnsafeCell::new([0; IST_STACK_BYTES]),
        }
    }

    fn top(&self) -> VirtAddr {
        VirtAddr::from_ptr(self.stack.get()) + IST_STACK_BYTES as u64
    }

    fn guard_page(&self) -> u64 {
        self.guard.get() as u64
    }
}

static IST_STACKS: [GuardedStack; 3] = [
    GuardedStack::new(),
    GuardedStack::new(),
    GuardedStack::new(),
];

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<(
    GlobalDescriptorTable,
    SegmentSelector,
    SegmentSelector,
    SegmentSelector,
)> = Once::new();

extern "C" {
    static boot_stack_guard: u8;
}

/// Addresses of every guard page: the boot stack's and the IST stacks'.
pub fn guard_pages() -> [u64; 4] {
    let boot_guard = core::ptr::addr_of!(boot_stack_guard) as u64;
    [
        boot_guard,
        IST_STACKS[0].guard_page(),
        IST_STACKS[1].guard_page(),
        IST_STACKS[2].guard_page(),
    ]
}

/// Loads the kernel's GDT and TSS.
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        for (slot, stack) in IST_STACKS.iter().enumerate() {
            tss.interrupt_stack_table[slot] = stack.top();
        }
        tss
    });
    let (gdt, code, data, tss_selector) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss_selector = gdt.append(Descriptor::tss_segment(tss));
        (gdt, code, data, tss_selector)
    });
    gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded, which
    // lives for the rest of the kernel's life in a static.
    unsafe {
        CS::set_reg(*code);
        DS::set_reg(*data);
        ES::set_reg(*data);
        SS::set_reg(*data);
        load_tss(*tss_selector);
    }
}
