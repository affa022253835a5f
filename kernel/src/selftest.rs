//! In-kernel self-tests, selected with `test=<mode>` on the kernel command
//! line and reported on the console for the host harness (qemu/).
//!
//! `test=boot` runs every check below and ends QEMU with a pass/fail exit
//! code. The other modes each provoke one failure the harness must see
//! reported: a write to read-only memory, execution from the heap, a stack
//! overflow into a guard page, a panic, a triple fault and a hang.

use crate::{exit, kprintln};
use boot::BootInfo;
use core::sync::atomic::AtomicBool;

/// Which self-test to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// All the checks of a healthy boot.
    Boot,
    /// Write to a read-only page.
    FaultWrite,
    /// Jump into the heap.
    FaultExec,
    /// Recurse until the stack hits its guard page.
    StackOverflow,
    /// Panic.
    Panic,
    /// Triple-fault the CPU (resets the machine).
    TripleFault,
    /// Hang with interrupts off.
    Hang,
    /// Measure ChaCha20-Poly1305 inside the image (for `make bench`).
    CryptoBench,
}

impl Mode {
    /// Finds `test=<mode>` among the command line's words.
    pub fn from_cmdline(boot: &BootInfo) -> Option<Self> {
        let value = boot.cmdline_option("test")?;
        Some(match value {
            "boot" => Self::Boot,
            "fault-write" => Self::FaultWrite,
            "fault-exec" => Self::FaultExec,
            "stack-overflow" => Self::StackOverflow,
            "panic" => Self::Panic,
            "triple-fault" => Self::TripleFault,
            "hang" => Self::Hang,
            "crypto-bench" => Self::CryptoBench,
            _ => {
                log::warn!("unknown self-test `{value}`, ignored");
                return None;
            }
        })
    }
}

/// Runs `mode`; never returns.
pub fn run(mode: Mode) -> ! {
    kprintln!("selftest: mode {mode:?}");
    match mode {
        Mode::Boot => run_checks(),
        Mode::FaultWrite => fault_write(),
        Mode::FaultExec => fault_exec(),
        Mode::StackOverflow => {
            let depth = recurse(0);
            kprintln!("selftest: recursion returned at depth {depth}");
        }
        Mode::Panic => panic!("deliberate panic requested by test=panic"),
        Mode::TripleFault => triple_fault(),
        Mode::Hang => exit::halt_forever(),
        Mode::CryptoBench => crypto_bench(),
    }
    kprintln!("selftest: the provoked fault was not caught");
    exit::exit(false)
}

type Check = (
    &'static str,
    fn() -> Result<alloc::string::String, alloc::string::String>,
);

fn run_checks() -> ! {
    let checks: [Check; 8] = [
        ("timer-rate", checks::timer_rate),
        ("deadline-wake", checks::deadline_wake),
        ("tickless-idle", checks::tickless_idle),
        ("heap", checks::heap),
        ("rtc", checks::rtc),
        ("csprng", checks::csprng),
        ("simd-preserved", checks::simd_preserved),
        ("page-permissions", checks::page_permissions),
    ];
    let mut failed = 0;
    for (name, check) in checks {
        match check() {
            Ok(detail) => kprintln!("selftest: {name}: ok ({detail})"),
            Err(detail) => {
                failed += 1;
                kprintln!("selftest: {name}: FAILED ({detail})");
            }
        }
    }
    kprintln!(
        "selftest: {} passed, {} failed",
        checks.len() - failed,
        failed
    );
    exit::exit(failed == 0)
}

/// Read-only data to write to.
static READ_ONLY: [u8; 16] = [0x5a; 16];

fn fault_write() {
    let target = READ_ONLY.as_ptr() as *mut u8;
    kprintln!(
        "selftest: writing to read-only address {:#x}",
        target as u64
    );
    // SAFETY: deliberately invalid: the page is mapped read-only, so the
    // write faults before it happens and the handler stops the machine.
    unsafe { core::ptr::write_volatile(target, 0) };
}

fn fault_exec() {
    let mut code = alloc::vec![0xc3u8; 64]; // `ret`
    let target = code.as_mut_ptr();
    kprintln!("selftest: executing heap address {:#x}", target as u64);
    // SAFETY: deliberately invalid: heap pages are not executable, so the
    // instruction fetch faults and the handler stops the machine.
    let function: extern "C" fn() = unsafe { core::mem::transmute(target) };
    function();
    drop(code);
}

#[inline(never)]
#[allow(unconditional_recursion)] // the guard page ends it
fn recurse(depth: u64) -> u64 {
    let mut frame = [depth; 64];
    core::hint::black_box(&mut frame);
    recurse(depth + 1) + frame[0]
}

/// The in-image crypto ceiling: ChaCha20-Poly1305 seal + open of one
/// packet, repeated for half a second per size, timed with the TSC.
fn crypto_bench() -> ! {
    let key = crypto::TransportKey::new(&[0x42; 32]);
    let mut packet = alloc::vec![0u8; 1420];
    for size in [64usize, 1420] {
        let buffer = &mut packet[..size];
        let start = crate::time::rdtsc();
        let budget = crate::time::tsc_hz() / 2;
        let mut count = 0u64;
        while crate::time::rdtsc() - start < budget {
            let tag = key.seal_in_place(count, buffer).unwrap_or([0; 16]);
            if key.open_in_place(count, buffer, &tag).is_err() {
                kprintln!("crypto-bench: open failed");
                exit::exit(false);
            }
            count += 1;
        }
        let nanos = (crate::time::rdtsc() - start) * 1_000_000_000 / crate::time::tsc_hz();
        let per_second = count * 1_000_000_000 / nanos.max(1);
        let megabits = per_second * size as u64 * 8 / 1_000_000;
        kprintln!(
            "crypto-bench: ChaCha20-Poly1305 seal+open {size} bytes: {per_second} packets/s, {}.{:03} Gbit/s",
            megabits / 1000,
            megabits % 1000
        );
    }
    exit::exit(true)
}

fn triple_fault() {
    let empty = x86_64::structures::DescriptorTablePointer {
        limit: 0,
        base: x86_64::VirtAddr::new(0),
    };
    // SAFETY: deliberately fatal: with an empty IDT the breakpoint cannot be
    // delivered, which escalates to a triple fault and resets the machine.
    unsafe {
        x86_64::instructions::tables::lidt(&empty);
        core::arch::asm!("int3");
    }
}

/// Makes the interrupt dispatcher scribble over vector registers, to prove
/// the entry stub restores them.
pub static CLOBBER_SIMD_IN_INTERRUPTS: AtomicBool = AtomicBool::new(false);

mod checks;
pub use checks::clobber_simd;
