//! The I/O APIC: routes legacy PCI interrupt lines (INTx) to vectors.
//!
//! The register window sits at the architectural default 0xFEC00000, which
//! is where QEMU, Firecracker and Cloud Hypervisor put it (the MADT would
//! say so too; parsing ACPI for it is not worth the code while every
//! supported machine agrees).

use core::sync::atomic::{AtomicU64, Ordering};

const DEFAULT_BASE: u64 = 0xfec0_0000;
const IOREGSEL: usize = 0x00;
const IOWIN: usize = 0x10;
const REDIRECTION_TABLE: u32 = 0x10;
const MASKED: u32 = 1 << 16;
const LEVEL_TRIGGERED: u32 = 1 << 15;

static BASE: AtomicU64 = AtomicU64::new(0);

fn write(reg: u32, value: u32) {
    let base = BASE.load(Ordering::Relaxed) as usize;
    if base == 0 {
        return;
    }
    // SAFETY: `base` is the I/O APIC window mapped uncached by `init`;
    // IOREGSEL selects a register and IOWIN writes it, nothing else.
    unsafe {
        core::ptr::write_volatile((base + IOREGSEL) as *mut u32, reg);
        core::ptr::write_volatile((base + IOWIN) as *mut u32, value);
    }
}

fn read(reg: u32) -> u32 {
    let base = BASE.load(Ordering::Relaxed) as usize;
    if base == 0 {
        return 0;
    }
    // SAFETY: as in `write`.
    unsafe {
        core::ptr::write_volatile((base + IOREGSEL) as *mut u32, reg);
        core::ptr::read_volatile((base + IOWIN) as *const u32)
    }
}

/// The I/O APIC's window, as a physical range.
pub const WINDOW: (u64, u64) = (DEFAULT_BASE, DEFAULT_BASE + 4096);

/// Number of inputs (pins) the I/O APIC has (0 before `init`).
pub fn inputs() -> u32 {
    if BASE.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    ((read(0x01) >> 16) & 0xff) + 1
}

/// Maps the I/O APIC and masks every input.
pub fn init() {
    crate::memory::map_mmio(DEFAULT_BASE, 4096);
    BASE.store(DEFAULT_BASE, Ordering::Relaxed);
    let inputs = ((read(0x01) >> 16) & 0xff) + 1;
    for pin in 0..inputs {
        write(REDIRECTION_TABLE + 2 * pin, MASKED);
        write(REDIRECTION_TABLE + 2 * pin + 1, 0);
    }
}

/// Routes input `pin` to `vector` on the boot CPU (APIC ID 0), as a
/// level-triggered, active-high line (PCI INTx as QEMU's PIIX wires it),
/// masked until [`unmask`].
pub fn route_level(pin: u8, vector: u8) {
    let pin = u32::from(pin);
    write(REDIRECTION_TABLE + 2 * pin + 1, 0);
    write(
        REDIRECTION_TABLE + 2 * pin,
        MASKED | LEVEL_TRIGGERED | u32::from(vector),
    );
}

/// Stops `pin` from interrupting.
pub fn mask(pin: u8) {
    let reg = REDIRECTION_TABLE + 2 * u32::from(pin);
    write(reg, read(reg) | MASKED);
}

/// Lets `pin` interrupt again.
pub fn unmask(pin: u8) {
    let reg = REDIRECTION_TABLE + 2 * u32::from(pin);
    write(reg, read(reg) & !MASKED);
}
