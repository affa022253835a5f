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
    /// Decodes BCD or binary, 12- or 24-hour registers into a [`DateTime`];
    /// `None` if they do not hold one (a nibble above 9 in BCD, month 13,
    /// hour 25, February 30th...).
    pub fn decode(&self) -> Option<DateTime> {
        let binary = self.status_b & 0x04 != 0;
        let h24 = self.status_b & 0x02 != 0;
        let num = |v: u8| {
            if binary {
                Some(v)
            } else if v >> 4 <= 9 && v & 0x0f <= 9 {
                Some((v >> 4) * 10 + (v & 0x0f))
            } else {
                None
            }
        };
        let pm = !h24 && self.hour & 0x80 != 0;
        let mut hour = num(self.hour & 0x7f)?;
        if !h24 {
            if !(1..=12).contains(&hour) {
                return None;
            }
            hour %= 12;
            if pm {
                hour += 12;
            }
        }
        // Not every RTC has a century register: anything but 19..=99 there
        // (0, 0xff, garbage) means "this century".
        let century = match num(self.century) {
            Some(c @ 19..=99) => u16::from(c),
            _ => 20,
        };
        let year = num(self.year)?;
        if year > 99 {
            return None;
        }
        let date = DateTime {
            year: century * 100 + u16::from(year),
            month: num(self.month)?,
            day: num(self.day)?,
            hour,
            minute: num(self.minute)?,
            second: num(self.second)?,
        };
        date.unix_seconds().map(|_| date)
    }
}

/// The earliest wall-clock time taken for real: 2025-01-01 00:00:00 UTC. A
/// CMOS clock behind it was never set (or lost its battery), and WireGuard
/// peers reject a handshake whose TAI64N timestamp is not newer than the
/// last one they accepted: a gateway starting from 1970 would be locked out
/// by every peer that has seen a real timestamp from it, for ever.
pub const EARLIEST_PLAUSIBLE_UNIX: u64 = 1_735_689_600;

/// A date read from the RTC and accepted as real.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallClock {
    /// The date and time the RTC holds (UTC).
    pub date: DateTime,
    /// The same instant in seconds since 1970-01-01T00:00:00Z.
    pub unix_seconds: u64,
}

/// Why the RTC gave no usable wall-clock time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtcError {
    /// The update-in-progress flag never cleared.
    StuckInUpdate,
    /// No two readings in a row agreed.
    Unstable,
    /// The registers do not hold a date.
    NotADate(RawTime),
    /// A date before 2025: the clock was never set or lost its battery.
    NotSet(DateTime),
}

impl core::fmt::Display for RtcError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            RtcError::StuckInUpdate => {
                f.write_str("the CMOS clock cannot be read: it never finishes updating")
            }
            RtcError::Unstable => f.write_str(
                "the CMOS clock cannot be read: it never gives the same time twice in a row",
            ),
            RtcError::NotADate(raw) => write!(
                f,
                "the CMOS clock cannot be read: its registers hold no date (year {:#04x}, \
                 month {:#04x}, day {:#04x}, hour {:#04x}, minute {:#04x}, second {:#04x}, \
                 status B {:#04x})",
                raw.year, raw.month, raw.day, raw.hour, raw.minute, raw.second, raw.status_b
            ),
            RtcError::NotSet(date) => write!(
                f,
                "the CMOS clock reads {date} UTC, before 2025: it was never set or has lost \
                 its battery"
            ),
        }
    }
}

/// The CMOS registers, read one at a time: the real ports in the kernel
/// ([`Rtc`]), a scripted fake in tests.
pub trait CmosRegisters {
    /// Selects register `index` and reads it.
    fn register(&mut self, index: u8) -> u8;
}

/// Register reads while waiting out one update cycle (a port read takes
/// about a microsecond; a working RTC updates in under 2 ms).
pub const MAX_UPDATE_POLLS: u32 = 100_000;
/// Snapshots tried before giving up on two in a row agreeing.
pub const MAX_SNAPSHOTS: u32 = 16;

/// One reading of the registers, or `None` if the RTC stays in its update
/// cycle far longer than the 2 ms a working one takes.
fn snapshot(regs: &mut impl CmosRegisters) -> Option<RawTime> {
    // Bit 7 of register A is set while the RTC updates its registers.
    let mut waited = 0u32;
    while regs.register(0x0a) & 0x80 != 0 {
        waited += 1;
        if waited > MAX_UPDATE_POLLS {
            return None;
        }
        core::hint::spin_loop();
    }
    Some(RawTime {
        second: regs.register(0x00),
        minute: regs.register(0x02),
        hour: regs.register(0x04),
        day: regs.register(0x07),
        month: regs.register(0x08),
        year: regs.register(0x09),
        century: regs.register(0x32),
        status_b: regs.register(0x0b),
    })
}

/// Reads the current date and time, re-reading until two snapshots agree
/// so that an update in between cannot tear the value, and accepts it only
/// if it is a real date from 2025 on. Every wait is bounded.
pub fn read_wall_clock(regs: &mut impl CmosRegisters) -> Result<WallClock, RtcError> {
    let mut last = snapshot(regs).ok_or(RtcError::StuckInUpdate)?;
    for _ in 0..MAX_SNAPSHOTS {
        let now = snapshot(regs).ok_or(RtcError::StuckInUpdate)?;
        if now == last {
            let date = now.decode().ok_or(RtcError::NotADate(now))?;
            // `decode` only returns dates `unix_seconds` accepts.
            let unix_seconds = date.unix_seconds().ok_or(RtcError::NotADate(now))?;
            if unix_seconds < EARLIEST_PLAUSIBLE_UNIX {
                return Err(RtcError::NotSet(date));
            }
            return Ok(WallClock { date, unix_seconds });
        }
        last = now;
    }
    Err(RtcError::Unstable)
}

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

    /// Reads the wall-clock time: see [`read_wall_clock`].
    pub fn wall_clock(&mut self) -> Result<WallClock, RtcError> {
        read_wall_clock(self)
    }
}

impl CmosRegisters for Rtc {
    fn register(&mut self, index: u8) -> u8 {
        // SAFETY: selecting a CMOS register and reading it has no effect
        // beyond the RTC, which we own (see `new`).
        unsafe {
            self.index.write(index & 0x7f);
            self.data.read()
        }
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
        assert_eq!(raw.decode(), Some(date(2026, 11, 25, 23, 7, 59)));
        let midnight = RawTime { hour: 0x12, ..raw };
        assert_eq!(midnight.decode().unwrap().hour, 0, "12 AM is hour 0");
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
        assert_eq!(raw.decode(), Some(date(2027, 2, 1, 23, 6, 5)));
    }

    /// A scripted CMOS: register values, how many reads of register A say
    /// "updating" before it clears, and a seconds register that can tick
    /// after each full snapshot.
    struct FakeCmos {
        registers: [u8; 0x80],
        busy_polls: u32,
        ticks: u32,
        reads: u64,
    }

    impl FakeCmos {
        /// 2026-11-25 22:38:12 in BCD, 24-hour mode, as QEMU presents it.
        fn good() -> FakeCmos {
            let mut registers = [0u8; 0x80];
            for (index, value) in [
                (0x00, 0x12),
                (0x02, 0x38),
                (0x04, 0x22),
                (0x07, 0x25),
                (0x08, 0x11),
                (0x09, 0x26),
                (0x32, 0x20),
                (0x0b, 0x02),
            ] {
                registers[index] = value;
            }
            FakeCmos {
                registers,
                busy_polls: 0,
                ticks: 0,
                reads: 0,
            }
        }

        fn with(mut self, index: usize, value: u8) -> FakeCmos {
            self.registers[index] = value;
            self
        }
    }

    impl CmosRegisters for FakeCmos {
        fn register(&mut self, index: u8) -> u8 {
            self.reads += 1;
            if index == 0x0a {
                if self.busy_polls > 0 {
                    self.busy_polls -= 1;
                    return 0x80;
                }
                return 0;
            }
            let value = self.registers[usize::from(index)];
            // Status B is the last register of a snapshot: tick afterwards.
            if index == 0x0b && self.ticks > 0 {
                self.ticks -= 1;
                let second = &mut self.registers[0];
                *second = if *second & 0x0f == 9 {
                    (*second & 0xf0) + 0x10
                } else {
                    *second + 1
                };
            }
            value
        }
    }

    #[test]
    fn a_good_reading_gives_its_unix_time() {
        let wall = read_wall_clock(&mut FakeCmos::good()).unwrap();
        assert_eq!(wall.date, date(2026, 11, 25, 22, 38, 12));
        assert_eq!(wall.unix_seconds, 1_795_646_292);
    }

    #[test]
    fn an_update_in_progress_is_waited_out() {
        let mut rtc = FakeCmos::good();
        rtc.busy_polls = 1_000;
        assert_eq!(
            read_wall_clock(&mut rtc).unwrap().unix_seconds,
            1_795_646_292
        );
    }

    #[test]
    fn an_update_that_never_ends_is_an_error_after_a_bounded_wait() {
        let mut rtc = FakeCmos::good();
        rtc.busy_polls = u32::MAX;
        assert_eq!(read_wall_clock(&mut rtc), Err(RtcError::StuckInUpdate));
        assert!(
            rtc.reads <= u64::from(MAX_UPDATE_POLLS) + 1,
            "{}",
            rtc.reads
        );
        let message = alloc::format!("{}", RtcError::StuckInUpdate);
        assert!(message.contains("CMOS clock cannot be read"), "{message}");
    }

    #[test]
    fn a_torn_reading_is_read_again_and_a_clock_that_never_settles_is_an_error() {
        // One tick between the first two snapshots: the third agrees with the second.
        let mut rtc = FakeCmos::good();
        rtc.ticks = 1;
        assert_eq!(read_wall_clock(&mut rtc).unwrap().date.second, 13);
        // A clock that changes between every pair of snapshots.
        let mut rtc = FakeCmos::good();
        rtc.ticks = u32::MAX;
        assert_eq!(read_wall_clock(&mut rtc), Err(RtcError::Unstable));
    }

    #[test]
    fn garbage_registers_are_not_a_date() {
        for (index, value) in [
            (0x00, 0x5a), // seconds: a nibble above 9
            (0x02, 0x60), // minute 60
            (0x04, 0x24), // hour 24
            (0x07, 0x00), // day 0
            (0x07, 0x31), // November 31st
            (0x08, 0x13), // month 13
            (0x09, 0xff), // year: not BCD
        ] {
            let mut rtc = FakeCmos::good().with(index, value);
            let raw = snapshot(&mut rtc).unwrap();
            assert_eq!(
                read_wall_clock(&mut rtc),
                Err(RtcError::NotADate(raw)),
                "register {index:#x} = {value:#x}"
            );
        }
        // All ones, as a missing device reads.
        let mut rtc = FakeCmos {
            registers: [0xff; 0x80],
            ..FakeCmos::good()
        };
        assert!(matches!(
            read_wall_clock(&mut rtc),
            Err(RtcError::NotADate(_))
        ));
    }

    #[test]
    fn dates_before_2025_are_refused() {
        for (century, year, month, day) in [
            (0x19, 0x70, 0x01, 0x01),
            (0x20, 0x00, 0x01, 0x01),
            (0x19, 0x99, 0x01, 0x01),
            (0x20, 0x24, 0x12, 0x31),
        ] {
            let mut rtc = FakeCmos::good()
                .with(0x32, century)
                .with(0x09, year)
                .with(0x08, month)
                .with(0x07, day);
            match read_wall_clock(&mut rtc) {
                Err(RtcError::NotSet(date)) => {
                    assert!(date.year < 2025, "{date}");
                    let message = alloc::format!("{}", RtcError::NotSet(date));
                    assert!(message.contains("before 2025"), "{message}");
                    assert!(message.contains(&alloc::format!("{date}")), "{message}");
                }
                other => panic!("{century:#x}{year:02x}: {other:?}"),
            }
        }
        // The first second of 2025 is accepted.
        let mut rtc = FakeCmos::good()
            .with(0x09, 0x25)
            .with(0x08, 0x01)
            .with(0x07, 0x01)
            .with(0x04, 0x00)
            .with(0x02, 0x00)
            .with(0x00, 0x00);
        assert_eq!(
            read_wall_clock(&mut rtc).unwrap().unix_seconds,
            EARLIEST_PLAUSIBLE_UNIX
        );
    }
}
