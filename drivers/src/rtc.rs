//! The CMOS real-time clock: wall-clock time at boot.
//!
//! WireGuard's handshake carries a TAI64N timestamp that peers compare
//! across reboots, so the gateway needs real time, not just uptime. We read
//! the RTC once at boot and advance it with the monotonic clock.

use x86_64::instructions::port::Port;

/// A calendar date and time as the RTC holds it (UTC by convention).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    /// Full year, e.g. 2026.
    pub year: u16,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=59.
    pub second: u8,
}

impl DateTime {
    /// Seconds since 1970-01-01T00:00:00Z, or `None` for an impossible date.
    pub fn unix_seconds(&self) -> Option<u64> {
        let valid = (1970..=9999).contains(&self.year)
            && (1..=12).contains(&self.month)
            && (1..=days_in_month(self.year, self.month)).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60;
        if !valid {
            return None;
        }
        let days = days_from_civil(self.year.into(), self.month.into(), self.day.into());
        let seconds =
            u64::from(self.hour) * 3600 + u64::from(self.minute) * 60 + u64::from(self.second);
        Some(days * 86_400 + seconds)
    }
}

impl core::fmt::Display for DateTime {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (year ≥ 1970),
/// by shifting the year to start in March so the leap day comes last.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Raw RTC registers, before BCD and 12-hour decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawTime {
    /// Registers 0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32.
    pub second: u8,
    /// Minutes register.
    pub minute: u8,
    /// Hours register (bit 7 = PM in 12-hour mode).
    pub hour: u8,
    /// Day of month register.
    pub day: u8,
    /// Month register.
    pub month: u8,
    /// Two-digit year register.
    pub year: u8,
    /// Century register (0 if the RTC has none).
    pub century: u8,
    /// Status register B: bit 2 = binary, bit 1 = 24-hour.
    pub status_b: u8,
}

impl RawTime {
    /// Decodes BCD and 12-hour formats into a [`DateTime`].
    pub fn decode(&self) -> DateTime {
        let binary = self.status_b & 0x04 != 0;
        let h24 = self.status_b & 0x02 != 0;
        let num = |v: u8| {
            if binary {
                v
            } else {
                (v >> 4) * 10 + (v & 0x0f)
            }
        };
        let pm = !h24 && self.hour & 0x80 != 0;
        let mut hour = num(self.hour & 0x7f);
        if !h24 {
            hour %= 12;
            if pm {
                hour += 12;
            }
        }
        let century = match num(self.century) {
            c @ 19..=99 => u16::from(c),
            _ => 20,
        };
        DateTime {
            year: century * 100 + u16::from(num(self.year)),
            month: num(self.month),
            day: num(self.day),
            hour,
            minute: num(self.minute),
            second: num(self.second),
        }
    }
}

/// Register reads while waiting out one update cycle (a port read takes
/// about a microsecond; a working RTC updates in under 2 ms).
const MAX_UPDATE_POLLS: u32 = 100_000;
/// Snapshots tried before giving up on two in a row agreeing.
const MAX_SNAPSHOTS: u32 = 16;

/// The CMOS RTC at ports 0x70/0x71.
pub struct Rtc {
    index: Port<u8>,
    data: Port<u8>,
}

impl Rtc {
    /// Takes the CMOS ports.
    ///
    /// # Safety
    /// The caller must own ports 0x70 and 0x71.
    pub unsafe fn new() -> Self {
        Self {
            index: Port::new(0x70),
            data: Port::new(0x71),
        }
    }

    fn register(&mut self, reg: u8) -> u8 {
        // SAFETY: selecting a CMOS register and reading it has no effect
        // beyond the RTC, which we own (see `new`).
        unsafe {
            self.index.write(reg & 0x7f);
            self.data.read()
        }
    }

    /// One reading of the registers, or `None` if the RTC stays in its
    /// update cycle far longer than the 2 ms a working one takes.
    fn snapshot(&mut self) -> Option<RawTime> {
        // Bit 7 of register A is set while the RTC updates its registers.
        let mut waited = 0u32;
        while self.register(0x0a) & 0x80 != 0 {
            waited += 1;
            if waited > MAX_UPDATE_POLLS {
                return None;
            }
            core::hint::spin_loop();
        }
        Some(RawTime {
            second: self.register(0x00),
            minute: self.register(0x02),
            hour: self.register(0x04),
            day: self.register(0x07),
            month: self.register(0x08),
            year: self.register(0x09),
            century: self.register(0x32),
            status_b: self.register(0x0b),
        })
    }

    /// Reads the current date and time, re-reading until two snapshots
    /// agree so that an update in between cannot tear the value. `None` if
    /// the clock cannot be read: stuck in its update cycle, or never giving
    /// the same value twice in a row.
    pub fn read(&mut self) -> Option<DateTime> {
        let mut last = self.snapshot()?;
        for _ in 0..MAX_SNAPSHOTS {
            let now = self.snapshot()?;
            if now == last {
                return Some(now.decode());
            }
            last = now;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> DateTime {
        DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        }
    }

    #[test]
    fn unix_time_of_known_dates() {
        assert_eq!(date(1970, 1, 1, 0, 0, 0).unix_seconds(), Some(0));
        assert_eq!(date(2000, 3, 1, 0, 0, 0).unix_seconds(), Some(951_868_800));
        assert_eq!(
            date(2024, 2, 29, 12, 34, 56).unix_seconds(),
            Some(1_709_210_096)
        );
        assert_eq!(
            date(2026, 11, 25, 22, 38, 12).unix_seconds(),
            Some(1_795_646_292)
        );
    }

    #[test]
    fn impossible_dates_are_refused() {
        assert_eq!(date(2023, 2, 29, 0, 0, 0).unix_seconds(), None);
        assert_eq!(date(2026, 13, 1, 0, 0, 0).unix_seconds(), None);
        assert_eq!(date(2026, 1, 1, 24, 0, 0).unix_seconds(), None);
        assert_eq!(date(1969, 12, 31, 0, 0, 0).unix_seconds(), None);
    }

    #[test]
    fn decodes_bcd_twelve_hour_time() {
        let raw = RawTime {
            second: 0x59,
            minute: 0x07,
            hour: 0x80 | 0x11, // 11 PM
            day: 0x25,
            month: 0x11,
            year: 0x26,
            century: 0x20,
            status_b: 0x00,
        };
        assert_eq!(raw.decode(), date(2026, 11, 25, 23, 7, 59));
        let midnight = RawTime { hour: 0x12, ..raw };
        assert_eq!(midnight.decode().hour, 0, "12 AM is hour 0");
    }

    #[test]
    fn decodes_binary_24_hour_time_without_century() {
        let raw = RawTime {
            second: 5,
            minute: 6,
            hour: 23,
            day: 1,
            month: 2,
            year: 27,
            century: 0,
            status_b: 0x06,
        };
        assert_eq!(raw.decode(), date(2027, 2, 1, 23, 6, 5));
    }
}
