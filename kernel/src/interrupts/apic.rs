//! The local APIC (xAPIC, memory-mapped): enable, one-shot timer, EOI.
//!
//! QEMU's TCG has neither x2APIC nor TSC-deadline mode, so this uses the
//! xAPIC registers and the one-shot timer, calibrated against the PIT.

use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::registers::model_specific::Msr;

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_GLOBAL_ENABLE: u64 = 1 << 11;

mod reg {
    pub const ID: usize = 0x020;
    pub const EOI: usize = 0x0b0;
    pub const SPURIOUS: usize = 0x0f0;
    pub const LVT_TIMER: usize = 0x320;
    pub const TIMER_INITIAL: usize = 0x380;
    pub const TIMER_CURRENT: usize = 0x390;
    pub const TIMER_DIVIDE: usize = 0x3e0;
}

/// LVT mask bit.
const MASKED: u32 = 1 << 16;
/// Divide configuration value for "divide by 16".
const DIVIDE_BY_16: u32 = 0b0011;

/// Physical (= virtual, identity-mapped) base of the APIC registers; 0 until
/// [`init`] ran.
static BASE: AtomicU64 = AtomicU64::new(0);

fn write(reg: usize, value: u32) {
    let base = BASE.load(Ordering::Relaxed);
    if base == 0 {
        return;
    }
    // SAFETY: `base` is the APIC's register page, mapped uncached by
    // `init`; `reg` is one of the architectural 32-bit register offsets.
    unsafe { core::ptr::write_volatile((base as usize + reg) as *mut u32, value) }
}

fn read(reg: usize) -> u32 {
    let base = BASE.load(Ordering::Relaxed);
    if base == 0 {
        return 0;
    }
    // SAFETY: as in `write`.
    unsafe { core::ptr::read_volatile((base as usize + reg) as *const u32) }
}

/// Maps and enables the local APIC with the timer masked.
pub fn init() {
    // SAFETY: IA32_APIC_BASE exists on every CPU with an APIC, which the
    // boot path checked for.
    let msr = unsafe { Msr::new(IA32_APIC_BASE).read() };
    let base = msr & 0x000f_ffff_ffff_f000;
    if msr & APIC_GLOBAL_ENABLE == 0 {
        // SAFETY: setting the global-enable bit only turns the APIC on.
        unsafe { Msr::new(IA32_APIC_BASE).write(msr | APIC_GLOBAL_ENABLE) };
    }
    crate::memory::map_mmio(base, 4096);
    BASE.store(base, Ordering::Relaxed);
    write(reg::SPURIOUS, 0x100 | u32::from(super::SPURIOUS_VECTOR));
    write(reg::TIMER_DIVIDE, DIVIDE_BY_16);
    write(reg::LVT_TIMER, MASKED | u32::from(super::TIMER_VECTOR));
}

/// This CPU's local APIC ID (xAPIC: bits 24-31 of the ID register), the
/// destination of MSI messages meant for it.
pub fn id() -> u8 {
    (read(reg::ID) >> 24) as u8
}

/// Signals the end of the interrupt being handled.
pub fn end_of_interrupt() {
    write(reg::EOI, 0);
}

/// Starts a one-shot countdown of `ticks` timer ticks (0 stops the timer).
pub fn start_one_shot(ticks: u32) {
    write(reg::LVT_TIMER, u32::from(super::TIMER_VECTOR));
    write(reg::TIMER_INITIAL, ticks);
}

/// Starts a masked countdown from the maximum, for calibration.
pub fn start_free_running() {
    write(reg::LVT_TIMER, MASKED | u32::from(super::TIMER_VECTOR));
    write(reg::TIMER_INITIAL, u32::MAX);
}

/// The timer's current count.
pub fn current_count() -> u32 {
    read(reg::TIMER_CURRENT)
}
