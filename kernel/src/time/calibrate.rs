//! Measuring the TSC and APIC-timer frequencies against the PIT.

use crate::interrupts::apic;
use drivers::pit;

/// The measured frequencies.
pub struct Calibration {
    /// TSC ticks per second.
    pub tsc_hz: u64,
    /// APIC timer ticks per second (after the divider).
    pub apic_timer_hz: u64,
}

const WINDOW_MICROS: u64 = 20_000;
const ROUNDS: usize = 3;

/// Times three 20 ms PIT windows and keeps the median of each frequency,
/// so one window stretched by the host (an emulator translating code, a
/// vCPU being descheduled) does not skew the clock.
pub fn against_pit() -> Calibration {
    // SAFETY: the kernel owns the PIT and runs this once at boot, with
    // interrupts disabled.
    let mut channel = unsafe { pit::Channel0::new() };
    let count = pit::count_for_micros(WINDOW_MICROS).unwrap_or(u16::MAX);
    let window_nanos = u64::from(count) * 1_000_000_000 / pit::FREQUENCY_HZ;
    let mut tsc = [0u64; ROUNDS];
    let mut apic_hz = [0u64; ROUNDS];
    for round in 0..ROUNDS {
        apic::start_free_running();
        let (start, end) = channel
            .time(count, || (super::rdtsc(), apic::current_count()))
            .unwrap_or_else(|pit::NoPit| {
                crate::exit::fatal(format_args!(
                    "no i8254 PIT: the clock is calibrated against it at boot \
                     (QEMU microvm: leave pit=on, the default)"
                ))
            });
        tsc[round] = (end.0 - start.0) * 1_000_000_000 / window_nanos;
        apic_hz[round] = u64::from(start.1 - end.1) * 1_000_000_000 / window_nanos;
    }
    tsc.sort_unstable();
    apic_hz.sort_unstable();
    apic::start_one_shot(0);
    Calibration {
        tsc_hz: tsc[ROUNDS / 2],
        apic_timer_hz: apic_hz[ROUNDS / 2],
    }
}
