//! Time: the monotonic clock (TSC), one-shot deadlines (local APIC timer),
//! tickless idle, and wall-clock time from the CMOS RTC.
//!
//! Both the TSC and the APIC timer are calibrated against the PIT at boot.
//! The idle loop programs the APIC for the next deadline only, so a gateway
//! with nothing to do takes no timer interrupts at all.

mod calibrate;

use crate::interrupts::apic;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use drivers::rtc::{RtcError, WallClock};
use x86_64::instructions::interrupts;

const NANOS_PER_SEC: u64 = 1_000_000_000;

static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per TSC tick as a 32.32 fixed-point number, so reading the
/// clock costs one multiplication instead of a 128-bit division.
static NANOS_PER_TICK_FP: AtomicU64 = AtomicU64::new(0);
static APIC_TIMER_HZ: AtomicU64 = AtomicU64::new(0);
static BOOT_UNIX_NANOS: AtomicU64 = AtomicU64::new(0);
static TIMER_INTERRUPTS: AtomicU64 = AtomicU64::new(0);
static TIMER_FIRED: AtomicBool = AtomicBool::new(false);
static PERIOD_TICKS: AtomicU64 = AtomicU64::new(0);

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC is available on every CPU the boot path accepts (it
    // checks CPUID for TSC) and has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Remembers the TSC at entry, so uptime counts from the very start.
pub fn record_boot_tsc() {
    BOOT_TSC.store(rdtsc(), Ordering::Relaxed);
}

/// Nanoseconds since boot (0 until the clock is calibrated).
pub fn uptime_nanos() -> u64 {
    let scale = NANOS_PER_TICK_FP.load(Ordering::Relaxed);
    let ticks = rdtsc().wrapping_sub(BOOT_TSC.load(Ordering::Relaxed));
    ((u128::from(ticks) * u128::from(scale)) >> 32) as u64
}

/// Calibrated TSC frequency in Hz.
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Enables the local APIC and calibrates the TSC and the APIC timer.
pub fn init() {
    apic::init();
    let calibration = calibrate::against_pit();
    // CPUs that state their TSC frequency (CPUID leaf 0x15) are believed
    // over a 20 ms measurement.
    let tsc_hz = crate::cpu::tsc_hz_from_cpuid().unwrap_or(calibration.tsc_hz);
    TSC_HZ.store(tsc_hz, Ordering::Relaxed);
    // A TSC below 1 Hz is not calibrated: leave the clock at 0.
    if tsc_hz > 0 {
        NANOS_PER_TICK_FP.store(
            ((u128::from(NANOS_PER_SEC) << 32) / u128::from(tsc_hz)) as u64,
            Ordering::Relaxed,
        );
    }
    APIC_TIMER_HZ.store(calibration.apic_timer_hz, Ordering::Relaxed);
    log::info!(
        "clock: TSC {}.{:03} MHz, APIC timer {}.{:03} MHz (APIC calibrated against the PIT)",
        tsc_hz / 1_000_000,
        tsc_hz / 1_000 % 1_000,
        calibration.apic_timer_hz / 1_000_000,
        calibration.apic_timer_hz / 1_000 % 1_000
    );
}

/// What the CMOS clock gave at boot (set once, by [`init_wall_clock`]).
static WALL_CLOCK: spin::Once<Result<WallClock, RtcError>> = spin::Once::new();

/// Reads the RTC and anchors wall-clock time to the monotonic clock.
/// Returns the date read, or why there is none to trust: unreadable, or
/// earlier than 2025 (see [`drivers::rtc::read_wall_clock`]).
pub fn init_wall_clock() -> Result<WallClock, RtcError> {
    // SAFETY: the kernel owns the CMOS ports; nothing else uses them.
    let result = unsafe { drivers::rtc::Rtc::new() }.wall_clock();
    // A date before 2025 still anchors the clock (the self-tests report
    // it); the gateway refuses to start on it.
    let date = match result {
        Ok(wall) => Some(wall.date),
        Err(RtcError::NotSet(date)) => Some(date),
        Err(_) => None,
    };
    let unix = date.and_then(|d| d.unix_seconds()).unwrap_or(0);
    let at_boot = (unix * NANOS_PER_SEC).saturating_sub(uptime_nanos());
    BOOT_UNIX_NANOS.store(at_boot, Ordering::Relaxed);
    *WALL_CLOCK.call_once(|| result)
}

/// The date the CMOS clock gave at boot, or why it gave none to trust.
/// WireGuard peers reject any initiation whose TAI64N timestamp is not newer
/// than one they accepted before, so a gateway whose clock starts in 1970
/// would be refused by every peer that has seen a real timestamp from it,
/// for ever.
pub fn wall_clock() -> Result<WallClock, RtcError> {
    // Asked before `init_wall_clock` ran: no date was taken, as good as an
    // RTC that never answered.
    WALL_CLOCK
        .get()
        .copied()
        .unwrap_or(Err(RtcError::StuckInUpdate))
}

/// Nanoseconds since the Unix epoch (UTC), for TAI64N timestamps.
#[allow(dead_code)] // consumed by the WireGuard engine
pub fn wall_clock_nanos() -> u64 {
    BOOT_UNIX_NANOS.load(Ordering::Relaxed) + uptime_nanos()
}

fn nanos_to_apic_ticks(nanos: u64) -> u32 {
    let hz = APIC_TIMER_HZ.load(Ordering::Relaxed);
    let ticks = u128::from(nanos) * u128::from(hz) / u128::from(NANOS_PER_SEC);
    ticks.clamp(1, u128::from(u32::MAX)) as u32
}

/// Arms the one-shot timer for `deadline` (uptime nanoseconds), or stops it.
/// A deadline beyond the timer's range fires early; callers re-check the
/// time after every wake-up.
pub fn set_deadline(deadline: Option<u64>) {
    match deadline {
        Some(at) => apic::start_one_shot(nanos_to_apic_ticks(at.saturating_sub(uptime_nanos()))),
        None => apic::start_one_shot(0),
    }
}

/// Called from the timer interrupt.
pub fn on_timer_interrupt() {
    TIMER_INTERRUPTS.fetch_add(1, Ordering::Relaxed);
    TIMER_FIRED.store(true, Ordering::Release);
    let period = PERIOD_TICKS.load(Ordering::Relaxed);
    if period != 0 {
        apic::start_one_shot(period as u32);
    }
}

/// Number of timer interrupts taken since boot.
pub fn timer_interrupts() -> u64 {
    TIMER_INTERRUPTS.load(Ordering::Relaxed)
}

/// Makes the timer fire every `period_nanos` (re-armed in the interrupt
/// handler), or stops that with `None`. Only the self-test uses this: the
/// gateway itself never ticks.
pub fn set_periodic(period_nanos: Option<u64>) {
    let ticks = period_nanos.map_or(0, |n| u64::from(nanos_to_apic_ticks(n)));
    PERIOD_TICKS.store(ticks, Ordering::Relaxed);
    apic::start_one_shot(ticks as u32);
}

/// Halts the CPU until an interrupt arrives, having armed the timer for
/// `deadline` first (or left it off for `None`: tickless idle). Returns
/// after one wake-up; the caller re-checks its work and the time.
pub fn idle_until(deadline: Option<u64>) {
    interrupts::disable();
    TIMER_FIRED.store(false, Ordering::Relaxed);
    if let Some(at) = deadline {
        if at <= uptime_nanos() {
            return;
        }
    }
    set_deadline(deadline);
    // STI takes effect after the next instruction, so an interrupt that is
    // already pending wakes this HLT instead of slipping in before it.
    interrupts::enable_and_hlt();
    interrupts::disable();
}
