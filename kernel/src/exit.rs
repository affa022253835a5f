//! Stopping the machine: QEMU's isa-debug-exit, then halt.

use core::fmt;
use x86_64::instructions::{hlt, interrupts, port::Port};

/// I/O port of QEMU's `isa-debug-exit` device, as the test harness adds it.
const DEBUG_EXIT_PORT: u16 = 0xf4;
/// Exit status QEMU reports is `(value << 1) | 1`: 0x10 → 33, 0x11 → 35.
const EXIT_SUCCESS: u8 = 0x10;
const EXIT_FAILURE: u8 = 0x11;

/// Ends the run: under QEMU with isa-debug-exit the process exits with
/// status 33 (success) or 35 (failure); elsewhere the CPU halts for good.
pub fn exit(success: bool) -> ! {
    let code = if success { EXIT_SUCCESS } else { EXIT_FAILURE };
    // SAFETY: writing to an unused I/O port has no effect on real hardware;
    // on QEMU with isa-debug-exit it ends the virtual machine.
    unsafe { Port::new(DEBUG_EXIT_PORT).write(code) };
    halt_forever()
}

/// Halts with interrupts disabled, for ever.
pub fn halt_forever() -> ! {
    interrupts::disable();
    loop {
        hlt();
    }
}

/// Reports an unrecoverable error and stops the machine.
pub fn fatal(reason: fmt::Arguments) -> ! {
    crate::console::emergency_print(format_args!("FATAL: {reason}\n"));
    exit(false)
}
