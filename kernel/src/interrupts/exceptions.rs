//! CPU exceptions: name the exception, show where it happened, stop.

use super::TrapFrame;
use crate::console::emergency_print;
use x86_64::registers::control::Cr2;

const NAMES: [&str; 32] = [
    "divide error",
    "debug",
    "non-maskable interrupt",
    "breakpoint",
    "overflow",
    "bound range exceeded",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid TSS",
    "segment not present",
    "stack-segment fault",
    "general protection fault",
    "page fault",
    "reserved (15)",
    "x87 floating-point error",
    "alignment check",
    "machine check",
    "SIMD floating-point error",
    "virtualization exception",
    "control protection exception",
    "reserved (22)",
    "reserved (23)",
    "reserved (24)",
    "reserved (25)",
    "reserved (26)",
    "reserved (27)",
    "hypervisor injection exception",
    "VMM communication exception",
    "security exception",
    "reserved (31)",
];

const PAGE_FAULT: u64 = 14;

/// What a page-fault error code says about the faulting access.
pub fn describe_page_fault(error_code: u64) -> (&'static str, &'static str) {
    let access = if error_code & (1 << 4) != 0 {
        "instruction fetch"
    } else if error_code & (1 << 1) != 0 {
        "write"
    } else {
        "read"
    };
    let cause = if error_code & (1 << 3) != 0 {
        "reserved bit set in a page-table entry"
    } else if error_code & 1 != 0 {
        "protection violation"
    } else {
        "page not present"
    };
    (access, cause)
}

/// Prints the exception and the interrupted state, then stops the machine.
pub fn report_and_stop(frame: &TrapFrame) -> ! {
    let name = NAMES[(frame.vector & 31) as usize];
    emergency_print(format_args!(
        "EXCEPTION: {name} (vector {}), error code {:#x}, RIP {:#x}, RSP {:#x}, RFLAGS {:#x}\n",
        frame.vector, frame.error_code, frame.rip, frame.rsp, frame.rflags
    ));
    if frame.vector == PAGE_FAULT {
        let (access, cause) = describe_page_fault(frame.error_code);
        let address = Cr2::read_raw();
        emergency_print(format_args!(
            "page fault: {access} at address {address:#x} ({cause}), RIP {:#x}\n",
            frame.rip
        ));
    }
    let stack_overflow = crate::gdt::guard_pages()
        .into_iter()
        .find(|guard| (guard.saturating_sub(64)..guard + 4096 + 64).contains(&frame.rsp));
    if let Some(guard) = stack_overflow {
        emergency_print(format_args!(
            "stack overflow: RSP {:#x} reached the guard page at {guard:#x}\n",
            frame.rsp
        ));
    }
    emergency_print(format_args!(
        "registers: rax={:#x} rbx={:#x} rcx={:#x} rdx={:#x} rsi={:#x} rdi={:#x} rbp={:#x}\n",
        frame.rax, frame.rbx, frame.rcx, frame.rdx, frame.rsi, frame.rdi, frame.rbp
    ));
    crate::exit::exit(false)
}
