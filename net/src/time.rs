//! The engine's notion of time.
//!
//! The engine is sans-IO: it never reads a clock. Whoever drives it (the
//! kernel's timer, or a test) passes the current [`Instant`] into every call
//! that needs one. An `Instant` counts nanoseconds since an arbitrary epoch
//! chosen by the caller (typically boot), so it is monotonic only as long as
//! the caller's clock is.
//!
//! `u64` nanoseconds last about 584 years, which is plenty for an uptime.
//! All arithmetic is checked or saturating: nothing here panics, even if a
//! buggy clock jumps backwards or a peer-supplied value is absurd.

use core::fmt;
use core::time::Duration;

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A point in time, as nanoseconds since an epoch chosen by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    nanos: u64,
}

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant { nanos: 0 };

    /// The latest representable instant.
    pub const MAX: Instant = Instant { nanos: u64::MAX };

    /// An instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant { nanos }
    }

    /// An instant `micros` microseconds after the epoch, saturating at [`Instant::MAX`].
    pub const fn from_micros(micros: u64) -> Instant {
        Instant {
            nanos: micros.saturating_mul(NANOS_PER_MICRO),
        }
    }

    /// An instant `millis` milliseconds after the epoch, saturating at [`Instant::MAX`].
    pub const fn from_millis(millis: u64) -> Instant {
        Instant {
            nanos: millis.saturating_mul(NANOS_PER_MILLI),
        }
    }

    /// An instant `secs` seconds after the epoch, saturating at [`Instant::MAX`].
    pub const fn from_secs(secs: u64) -> Instant {
        Instant {
            nanos: secs.saturating_mul(NANOS_PER_SEC),
        }
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// Whole milliseconds since the epoch (rounded down).
    pub const fn as_millis(self) -> u64 {
        self.nanos / NANOS_PER_MILLI
    }

    /// Whole seconds since the epoch (rounded down).
    pub const fn as_secs(self) -> u64 {
        self.nanos / NANOS_PER_SEC
    }

    /// `self + duration`, or `None` if that is past [`Instant::MAX`].
    pub fn checked_add(self, duration: Duration) -> Option<Instant> {
        let nanos = duration_to_nanos(duration)?;
        self.nanos.checked_add(nanos).map(Instant::from_nanos)
    }

    /// `self - duration`, or `None` if that is before the epoch.
    pub fn checked_sub(self, duration: Duration) -> Option<Instant> {
        let nanos = duration_to_nanos(duration)?;
        self.nanos.checked_sub(nanos).map(Instant::from_nanos)
    }

    /// `self + duration`, clamped to [`Instant::MAX`].
    pub fn saturating_add(self, duration: Duration) -> Instant {
        self.checked_add(duration).unwrap_or(Instant::MAX)
    }

    /// `self - duration`, clamped to the epoch.
    pub fn saturating_sub(self, duration: Duration) -> Instant {
        self.checked_sub(duration).unwrap_or(Instant::ZERO)
    }

    /// How long after `earlier` this instant is, or `None` if `earlier` is later.
    pub fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        self.nanos
            .checked_sub(earlier.nanos)
            .map(Duration::from_nanos)
    }

    /// How long after `earlier` this instant is, or zero if `earlier` is later.
    ///
    /// Timers use this so that a clock that steps backwards reads as "no time
    /// passed" instead of wrapping around to centuries.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.checked_duration_since(earlier)
            .unwrap_or(Duration::ZERO)
    }
}

/// `Duration` holds up to `u64::MAX` seconds, far more nanoseconds than a `u64`.
fn duration_to_nanos(duration: Duration) -> Option<u64> {
    u64::try_from(duration.as_nanos()).ok()
}

impl fmt::Display for Instant {
    /// Seconds with nanosecond precision, e.g. `12.000000345s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}s",
            self.nanos / NANOS_PER_SEC,
            self.nanos % NANOS_PER_SEC
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_agree_on_units() {
        assert_eq!(Instant::from_secs(3), Instant::from_millis(3_000));
        assert_eq!(Instant::from_millis(3), Instant::from_micros(3_000));
        assert_eq!(Instant::from_micros(3), Instant::from_nanos(3_000));
        assert_eq!(Instant::from_secs(u64::MAX), Instant::MAX);
    }

    #[test]
    fn display_pads_fraction() {
        extern crate alloc;
        use alloc::string::ToString;
        assert_eq!(
            Instant::from_nanos(12_000_000_345).to_string(),
            "12.000000345s"
        );
        assert_eq!(Instant::ZERO.to_string(), "0.000000000s");
    }
}
