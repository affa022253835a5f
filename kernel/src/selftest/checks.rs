//! The checks of `test=boot`. Each returns a short detail line, or why it
//! failed.

use super::CLOBBER_SIMD_IN_INTERRUPTS;
use crate::{cpu, entropy, memory, time};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use x86_64::instructions::interrupts;

const MS: u64 = 1_000_000;

fn tsc_elapsed_nanos(since: u64) -> u64 {
    let ticks = time::rdtsc() - since;
    (u128::from(ticks) * 1_000_000_000 / u128::from(time::tsc_hz())) as u64
}

/// How many times a timing check may measure before it fails. A host that
/// deschedules its emulator for tens of milliseconds (TCG on a loaded
/// machine) spoils one window; a timer that is really wrong fails them all.
const TIMING_ATTEMPTS: u32 = 3;

/// Runs `measure` until it passes or [`TIMING_ATTEMPTS`] are used, and
/// says how many attempts it took when more than one.
fn with_retries(measure: impl Fn() -> Result<String, String>) -> Result<String, String> {
    let mut failures = Vec::new();
    for attempt in 1..=TIMING_ATTEMPTS {
        match measure() {
            Ok(detail) if attempt == 1 => return Ok(detail),
            Ok(detail) => {
                return Ok(format!(
                    "{detail} (attempt {attempt}; before: {})",
                    failures.join("; ")
                ))
            }
            Err(detail) => failures.push(detail),
        }
    }
    Err(failures.join("; "))
}

/// Timer interrupts at a programmed 100 Hz, counted over 0.5 s of TSC
/// time, within 10 %.
pub fn timer_rate() -> Result<String, String> {
    with_retries(timer_rate_once)
}

fn timer_rate_once() -> Result<String, String> {
    const PERIOD: u64 = 10 * MS;
    const WINDOW: u64 = 500 * MS;
    let before = time::timer_interrupts();
    let start = time::rdtsc();
    time::set_periodic(Some(PERIOD));
    while tsc_elapsed_nanos(start) < WINDOW {
        interrupts::enable_and_hlt();
        interrupts::disable();
    }
    let elapsed = tsc_elapsed_nanos(start);
    time::set_periodic(None);
    let counted = time::timer_interrupts() - before;
    let expected = elapsed / PERIOD;
    let detail = format!(
        "{counted} interrupts in {} ms, expected {expected}",
        elapsed / MS
    );
    let error = counted.abs_diff(expected) * 100;
    if error <= expected * 10 {
        Ok(detail)
    } else {
        Err(detail)
    }
}

/// Ten halts for a deadline 50 ms ahead; the median lateness must be ≤ 5 ms.
pub fn deadline_wake() -> Result<String, String> {
    with_retries(deadline_wake_once)
}

fn deadline_wake_once() -> Result<String, String> {
    let mut lateness = [0u64; 10];
    for late in lateness.iter_mut() {
        let target = time::uptime_nanos() + 50 * MS;
        let mut wakeups = 0;
        while time::uptime_nanos() < target {
            time::idle_until(Some(target));
            wakeups += 1;
        }
        *late = time::uptime_nanos() - target;
        if wakeups > 3 {
            time::set_deadline(None);
            return Err(format!("{wakeups} wake-ups for one deadline"));
        }
    }
    time::set_deadline(None);
    lateness.sort_unstable();
    let median = lateness[lateness.len() / 2];
    let detail = format!(
        "median lateness {} us, worst {} us",
        median / 1000,
        lateness[9] / 1000
    );
    if median <= 5 * MS {
        Ok(detail)
    } else {
        Err(detail)
    }
}

/// With no deadline set, no timer interrupt arrives (no fixed tick).
pub fn tickless_idle() -> Result<String, String> {
    time::set_deadline(None);
    let before = time::timer_interrupts();
    let start = time::rdtsc();
    interrupts::enable();
    while tsc_elapsed_nanos(start) < 200 * MS {
        core::hint::spin_loop();
    }
    interrupts::disable();
    let ticks = time::timer_interrupts() - before;
    if ticks == 0 {
        Ok(String::from(
            "no timer interrupt in 200 ms without a deadline",
        ))
    } else {
        Err(format!("{ticks} timer interrupts with no deadline armed"))
    }
}

/// Allocation and freeing, small and larger than 1 MiB.
pub fn heap() -> Result<String, String> {
    let before = memory::heap_in_use();
    let big_len = 3 << 19; // 1.5 MiB
    let mut big: Vec<u8> = Vec::with_capacity(big_len);
    big.extend((0..big_len).map(|i| (i % 251) as u8));
    let small: Vec<Box<u64>> = (0..1000).map(Box::new).collect();
    let during = memory::heap_in_use();
    let intact = big.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8)
        && small.iter().enumerate().all(|(i, b)| **b == i as u64);
    drop(big);
    drop(small);
    let after = memory::heap_in_use();
    let detail = format!(
        "{} KiB in use while holding 1.5 MiB + 1000 boxes, {} bytes after",
        (during - before) >> 10,
        after - before
    );
    if intact && during - before >= big_len && after == before {
        Ok(detail)
    } else {
        Err(format!("intact={intact}, {detail}"))
    }
}

/// The RTC gives a plausible date.
pub fn rtc() -> Result<String, String> {
    let seconds = time::wall_clock_nanos() / 1_000_000_000;
    let year = 1970 + seconds / 31_556_952;
    let detail = format!("unix time {seconds}, year {year}");
    if (2024..=2100).contains(&year) {
        Ok(detail)
    } else {
        Err(detail)
    }
}

/// The CSPRNG gives distinct, non-zero outputs.
pub fn csprng() -> Result<String, String> {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    entropy::fill(&mut a);
    entropy::fill(&mut b);
    if a != b && a != [0; 32] && b != [0; 32] {
        Ok(String::from("two 32-byte outputs differ"))
    } else {
        Err(String::from("repeated or zero output"))
    }
}

/// Vector registers survive an interrupt whose handler overwrites them.
pub fn simd_preserved() -> Result<String, String> {
    CLOBBER_SIMD_IN_INTERRUPTS.store(true, Ordering::SeqCst);
    let before = time::timer_interrupts();
    let result = if cpu::avx_enabled() {
        // SAFETY: AVX state is enabled (checked just above).
        unsafe { simd::ymm_round_trip() }
            .map(|_| String::from("16 YMM registers intact across an interrupt"))
    } else {
        simd::xmm_round_trip().map(|_| String::from("16 XMM registers intact across an interrupt"))
    };
    CLOBBER_SIMD_IN_INTERRUPTS.store(false, Ordering::SeqCst);
    if time::timer_interrupts() == before {
        return Err(String::from("no interrupt happened during the check"));
    }
    result
}

/// No page is writable and executable; guards, null page and heap are as
/// they should be.
pub fn page_permissions() -> Result<String, String> {
    let audit = memory::audit();
    let detail = format!(
        "{} MiB mapped, {} W+X pages, guard pages unmapped: {}, code writable: {}, heap executable: {}",
        audit.mapped_bytes >> 20,
        audit.writable_and_executable,
        audit.guards_unmapped,
        audit.code_writable,
        audit.heap_executable
    );
    if audit.writable_and_executable == 0
        && audit.guards_unmapped
        && !audit.code_writable
        && !audit.heap_executable
    {
        Ok(detail)
    } else {
        Err(detail)
    }
}

mod simd {
    use crate::time;
    use alloc::format;
    use alloc::string::String;
    use core::arch::asm;

    fn pattern<const N: usize>() -> [u8; N] {
        core::array::from_fn(|i| (i * 7 + 3) as u8)
    }

    /// Loads 16 XMM registers, waits for an interrupt, stores them back.
    pub fn xmm_round_trip() -> Result<(), String> {
        let input: [u8; 256] = pattern();
        let mut output = [0u8; 256];
        time::set_deadline(Some(time::uptime_nanos() + 1_000_000));
        // SAFETY: the asm reads `input` and writes `output` (256 bytes each),
        // declares every XMM register it touches, and re-disables interrupts
        // before returning.
        unsafe {
            asm!(
                "movdqu xmm0, [{i}]", "movdqu xmm1, [{i} + 16]", "movdqu xmm2, [{i} + 32]", "movdqu xmm3, [{i} + 48]",
                "movdqu xmm4, [{i} + 64]", "movdqu xmm5, [{i} + 80]", "movdqu xmm6, [{i} + 96]", "movdqu xmm7, [{i} + 112]",
                "movdqu xmm8, [{i} + 128]", "movdqu xmm9, [{i} + 144]", "movdqu xmm10, [{i} + 160]", "movdqu xmm11, [{i} + 176]",
                "movdqu xmm12, [{i} + 192]", "movdqu xmm13, [{i} + 208]", "movdqu xmm14, [{i} + 224]", "movdqu xmm15, [{i} + 240]",
                "sti", "hlt", "cli",
                "movdqu [{o}], xmm0", "movdqu [{o} + 16], xmm1", "movdqu [{o} + 32], xmm2", "movdqu [{o} + 48], xmm3",
                "movdqu [{o} + 64], xmm4", "movdqu [{o} + 80], xmm5", "movdqu [{o} + 96], xmm6", "movdqu [{o} + 112], xmm7",
                "movdqu [{o} + 128], xmm8", "movdqu [{o} + 144], xmm9", "movdqu [{o} + 160], xmm10", "movdqu [{o} + 176], xmm11",
                "movdqu [{o} + 192], xmm12", "movdqu [{o} + 208], xmm13", "movdqu [{o} + 224], xmm14", "movdqu [{o} + 240], xmm15",
                i = in(reg) input.as_ptr(),
                o = in(reg) output.as_mut_ptr(),
                out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _, out("xmm4") _, out("xmm5") _,
                out("xmm6") _, out("xmm7") _, out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
                out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
            );
        }
        compare(&input, &output)
    }

    /// As [`xmm_round_trip`] with the full 256-bit YMM registers.
    ///
    /// # Safety
    /// AVX state must be enabled.
    #[target_feature(enable = "avx")]
    pub unsafe fn ymm_round_trip() -> Result<(), String> {
        let input: [u8; 512] = pattern();
        let mut output = [0u8; 512];
        time::set_deadline(Some(time::uptime_nanos() + 1_000_000));
        // SAFETY: as in `xmm_round_trip`, 512 bytes each; AVX is enabled per
        // this function's contract.
        unsafe {
            asm!(
                "vmovdqu ymm0, [{i}]", "vmovdqu ymm1, [{i} + 32]", "vmovdqu ymm2, [{i} + 64]", "vmovdqu ymm3, [{i} + 96]",
                "vmovdqu ymm4, [{i} + 128]", "vmovdqu ymm5, [{i} + 160]", "vmovdqu ymm6, [{i} + 192]", "vmovdqu ymm7, [{i} + 224]",
                "vmovdqu ymm8, [{i} + 256]", "vmovdqu ymm9, [{i} + 288]", "vmovdqu ymm10, [{i} + 320]", "vmovdqu ymm11, [{i} + 352]",
                "vmovdqu ymm12, [{i} + 384]", "vmovdqu ymm13, [{i} + 416]", "vmovdqu ymm14, [{i} + 448]", "vmovdqu ymm15, [{i} + 480]",
                "sti", "hlt", "cli",
                "vmovdqu [{o}], ymm0", "vmovdqu [{o} + 32], ymm1", "vmovdqu [{o} + 64], ymm2", "vmovdqu [{o} + 96], ymm3",
                "vmovdqu [{o} + 128], ymm4", "vmovdqu [{o} + 160], ymm5", "vmovdqu [{o} + 192], ymm6", "vmovdqu [{o} + 224], ymm7",
                "vmovdqu [{o} + 256], ymm8", "vmovdqu [{o} + 288], ymm9", "vmovdqu [{o} + 320], ymm10", "vmovdqu [{o} + 352], ymm11",
                "vmovdqu [{o} + 384], ymm12", "vmovdqu [{o} + 416], ymm13", "vmovdqu [{o} + 448], ymm14", "vmovdqu [{o} + 480], ymm15",
                "vzeroupper",
                i = in(reg) input.as_ptr(),
                o = in(reg) output.as_mut_ptr(),
                out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _, out("ymm4") _, out("ymm5") _,
                out("ymm6") _, out("ymm7") _, out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
                out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
            );
        }
        compare(&input, &output)
    }

    fn compare(input: &[u8], output: &[u8]) -> Result<(), String> {
        match input.iter().zip(output).position(|(a, b)| a != b) {
            None => Ok(()),
            Some(at) => Err(format!("register byte {at} changed across the interrupt")),
        }
    }

    /// Called from the interrupt dispatcher while the check runs: zeroes
    /// every vector register, as an interrupt handler that uses SIMD would.
    pub fn clobber() {
        // SAFETY: only vector registers are written, and they are declared.
        unsafe {
            asm!(
                "pxor xmm0, xmm0", "pxor xmm1, xmm1", "pxor xmm2, xmm2", "pxor xmm3, xmm3",
                "pxor xmm4, xmm4", "pxor xmm5, xmm5", "pxor xmm6, xmm6", "pxor xmm7, xmm7",
                "pxor xmm8, xmm8", "pxor xmm9, xmm9", "pxor xmm10, xmm10", "pxor xmm11, xmm11",
                "pxor xmm12, xmm12", "pxor xmm13, xmm13", "pxor xmm14, xmm14", "pxor xmm15, xmm15",
                out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _, out("xmm4") _, out("xmm5") _,
                out("xmm6") _, out("xmm7") _, out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
                out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
            );
        }
        if crate::cpu::avx_enabled() {
            // SAFETY: AVX state is enabled; VZEROALL clears every YMM register.
            unsafe { clobber_ymm() };
        }
    }

    #[target_feature(enable = "avx")]
    unsafe fn clobber_ymm() {
        // SAFETY: the caller checked that AVX is enabled.
        unsafe {
            asm!(
                "vzeroall",
                out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _, out("ymm4") _, out("ymm5") _,
                out("ymm6") _, out("ymm7") _, out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
                out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
            )
        };
    }
}

pub use simd::clobber as clobber_simd;
