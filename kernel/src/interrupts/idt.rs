//! The IDT: 256 interrupt gates pointing at the stubs in `entry.s`.

use crate::gdt;
use core::mem::size_of;
use spin::Once;
use x86_64::instructions::segmentation::{Segment, CS};
use x86_64::instructions::tables::lidt;
use x86_64::structures::DescriptorTablePointer;
use x86_64::VirtAddr;

/// One 16-byte gate descriptor.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    attributes: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

/// Present, ring 0, 64-bit interrupt gate (interrupts off on entry).
const INTERRUPT_GATE: u8 = 0x8e;

impl Gate {
    fn new(handler: u64, selector: u16, ist: u16) -> Self {
        Self {
            offset_low: handler as u16,
            selector,
            ist: ist as u8,
            attributes: INTERRUPT_GATE,
            offset_mid: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

#[repr(C, align(16))]
struct Table([Gate; 256]);

static IDT: Once<Table> = Once::new();

extern "C" {
    static interrupt_stub_table: [u64; 256];
}

fn ist_for(vector: usize) -> u16 {
    match vector {
        2 => gdt::NMI_IST,
        8 => gdt::DOUBLE_FAULT_IST,
        18 => gdt::MACHINE_CHECK_IST,
        _ => 0,
    }
}

/// Builds and loads the IDT.
pub fn load() {
    let selector = CS::get_reg().0;
    let table = IDT.call_once(|| {
        let mut gates = [Gate::default(); 256];
        for (vector, gate) in gates.iter_mut().enumerate() {
            // SAFETY: `interrupt_stub_table` is a read-only array of 256
            // addresses emitted by entry.s.
            let handler = unsafe { interrupt_stub_table[vector] };
            *gate = Gate::new(handler, selector, ist_for(vector));
        }
        Table(gates)
    });
    let pointer = DescriptorTablePointer {
        limit: (size_of::<Table>() - 1) as u16,
        base: VirtAddr::from_ptr(table),
    };
    // SAFETY: the table is complete, lives in a static for ever, and every
    // gate points at a stub that preserves all state (entry.s).
    unsafe { lidt(&pointer) };
}
