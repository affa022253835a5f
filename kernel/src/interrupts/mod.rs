//! Interrupt descriptor table, dispatch and the local APIC.
//!
//! Handlers do as little as possible: exceptions report and stop the machine,
//! the timer records that it fired, device interrupts set a pending bit. All
//! real work happens in the main loop, which polls those records after every
//! wake-up (see `time::idle_until`).
//!
//! Devices interrupt in one of two ways. Through MSI-X, a message straight
//! to the local APIC on a vector of its own ([`allocate_msi_vector`]): the
//! handler counts it and sends EOI, nothing else (the wake-up is the
//! point). Or through their INTx line and the I/O APIC, which is brought up
//! only when the first such line is enabled: a machine whose devices all
//! use MSI-X never touches it.

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
/// First vector handed out for MSI-X.
pub const MSI_VECTOR_BASE: u8 = 0x70;
/// Number of MSI-X vectors.
pub const MSI_VECTORS: u8 = 16;
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

/// Brings up the I/O APIC (after paging, which maps it), once: on the
/// first INTx line enabled, or when virtio-mmio devices are given.
pub fn init_io_apic() {
    static DONE: spin::Once = spin::Once::new();
    DONE.call_once(|| {
        ioapic::init();
        log::info!("interrupts: I/O APIC in use (a device interrupts through INTx)");
    });
}

/// Interrupts taken through the I/O APIC (INTx lines).
static DEVICE_INTERRUPTS: AtomicU64 = AtomicU64::new(0);
/// Interrupts taken per I/O APIC pin.
static PIN_INTERRUPTS: [AtomicU64; DEVICE_VECTORS as usize] =
    [const { AtomicU64::new(0) }; DEVICE_VECTORS as usize];
/// Interrupts taken per MSI-X vector.
static MSI_INTERRUPTS: [AtomicU64; MSI_VECTORS as usize] =
    [const { AtomicU64::new(0) }; MSI_VECTORS as usize];
/// MSI-X vectors handed out.
static MSI_ALLOCATED: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

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
            PIN_INTERRUPTS[usize::from(pin)].fetch_add(1, Ordering::Relaxed);
            apic::end_of_interrupt();
        }
        v if (MSI_VECTOR_BASE..MSI_VECTOR_BASE + MSI_VECTORS).contains(&v) => {
            // An edge, already delivered: count it and let the main loop
            // (which this interrupt woke) poll the device.
            MSI_INTERRUPTS[usize::from(v - MSI_VECTOR_BASE)].fetch_add(1, Ordering::Relaxed);
            apic::end_of_interrupt();
        }
        _ => apic::end_of_interrupt(),
    }
}

/// A fresh MSI-X vector and the local APIC to aim it at (the boot CPU's,
/// the only one running), or None when all are handed out.
pub fn allocate_msi_vector() -> Option<drivers::virtio::msix::MsiTarget> {
    let index = MSI_ALLOCATED
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n < MSI_VECTORS).then_some(n + 1)
        })
        .ok()?;
    Some(drivers::virtio::msix::MsiTarget {
        apic_id: apic::id(),
        vector: MSI_VECTOR_BASE + index,
    })
}

/// Interrupts taken on MSI-X `vector` since boot.
pub fn msi_interrupts(vector: u8) -> u64 {
    vector
        .checked_sub(MSI_VECTOR_BASE)
        .and_then(|i| MSI_INTERRUPTS.get(usize::from(i)))
        .map_or(0, |c| c.load(Ordering::Relaxed))
}

/// Interrupts taken on every MSI-X vector since boot.
pub fn msi_interrupts_total() -> u64 {
    MSI_INTERRUPTS
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
}

/// Device interrupts taken since boot, through the I/O APIC and MSI-X
/// (for the stage report: each one costs an entry, a full FPU/SSE/AVX save
/// and restore, and a wake-up).
pub fn device_interrupts() -> u64 {
    io_apic_interrupts() + msi_interrupts_total()
}

/// Interrupts taken on I/O APIC input `pin` since boot.
pub fn pin_interrupts(pin: u8) -> u64 {
    PIN_INTERRUPTS
        .get(usize::from(pin))
        .map_or(0, |c| c.load(Ordering::Relaxed))
}

/// Interrupts taken through the I/O APIC (INTx lines) since boot.
pub fn io_apic_interrupts() -> u64 {
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
        init_io_apic();
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
