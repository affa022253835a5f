//! Interrupt descriptor table, dispatch and the local APIC.
//!
//! Handlers do as little as possible: exceptions report and stop the machine,
//! the timer records that it fired, device interrupts set a pending bit. All
//! real work happens in the main loop, which polls those records after every
//! wake-up (see `time::idle_until`).

pub mod apic;
mod exceptions;
mod idt;
pub mod ioapic;
mod pic;

use core::sync::atomic::{AtomicU64, Ordering};

core::arch::global_asm!(include_str!("entry.s"));

/// Vector of the local APIC timer.
pub const TIMER_VECTOR: u8 = 0x20;
/// First vector handed to device interrupts.
pub const DEVICE_VECTOR_BASE: u8 = 0x30;
/// Number of device vectors (one bit each in [`take_pending_devices`]).
pub const DEVICE_VECTORS: u8 = 64;
/// The APIC's spurious-interrupt vector.
pub const SPURIOUS_VECTOR: u8 = 0xff;

static PENDING_DEVICES: AtomicU64 = AtomicU64::new(0);

/// The registers saved by `interrupt_common`, lowest address first.
#[repr(C)]
#[derive(Debug)]
#[allow(missing_docs)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Masks the legacy PIC and loads the IDT. Interrupts stay disabled until
/// the idle loop enables them.
pub fn init() {
    pic::disable();
    idt::load();
}

/// Brings up the I/O APIC (after paging, which maps it).
pub fn init_io_apic() {
    ioapic::init();
}

static DEVICE_INTERRUPTS: AtomicU64 = AtomicU64::new(0);

/// Called by `interrupt_common` with the saved frame of every interrupt.
#[no_mangle]
extern "C" fn interrupt_dispatch(frame: &mut TrapFrame) {
    let vector = frame.vector as u8;
    match vector {
        0..=31 => exceptions::report_and_stop(frame),
        TIMER_VECTOR => {
            if crate::selftest::CLOBBER_SIMD_IN_INTERRUPTS.load(Ordering::Relaxed) {
                crate::selftest::clobber_simd();
            }
            crate::time::on_timer_interrupt();
            apic::end_of_interrupt();
        }
        SPURIOUS_VECTOR => {} // no EOI for spurious interrupts
        v if (DEVICE_VECTOR_BASE..DEVICE_VECTOR_BASE + DEVICE_VECTORS).contains(&v) => {
            // The line stays asserted until the main loop services the
            // device, so keep it masked until then (see `device_serviced`).
            let pin = v - DEVICE_VECTOR_BASE;
            ioapic::mask(pin);
            PENDING_DEVICES.fetch_or(1 << pin, Ordering::AcqRel);
            DEVICE_INTERRUPTS.fetch_add(1, Ordering::Relaxed);
            apic::end_of_interrupt();
        }
        _ => apic::end_of_interrupt(),
    }
}

/// Device interrupts taken since boot (for the stage report: each one costs
/// an entry, a full FPU/SSE/AVX save and restore, and a wake-up).
pub fn device_interrupts() -> u64 {
    DEVICE_INTERRUPTS.load(Ordering::Relaxed)
}

/// Returns and clears the set of I/O APIC pins that fired since the last
/// call (bit `n` = pin `n`, delivered on vector `DEVICE_VECTOR_BASE + n`).
pub fn take_pending_devices() -> u64 {
    PENDING_DEVICES.swap(0, Ordering::AcqRel)
}

/// Routes a level-triggered device line to its vector and enables it.
pub fn enable_device_line(pin: u8) {
    if pin < DEVICE_VECTORS {
        ioapic::route_level(pin, DEVICE_VECTOR_BASE + pin);
        ioapic::unmask(pin);
    }
}

/// Re-enables a device line after its device was serviced (its interrupt
/// acknowledged, so the line is no longer asserted).
pub fn device_serviced(pin: u8) {
    if pin < DEVICE_VECTORS {
        ioapic::unmask(pin);
    }
}
