//! The 8254 programmable interval timer, used only as a reference clock to
//! calibrate the TSC and the local APIC timer at boot.

use x86_64::instructions::port::Port;

/// The PIT's input clock in Hz.
pub const FREQUENCY_HZ: u64 = 1_193_182;

/// PIT count for an interval of `micros` microseconds, if it fits 16 bits.
pub fn count_for_micros(micros: u64) -> Option<u16> {
    u16::try_from(FREQUENCY_HZ * micros / 1_000_000)
        .ok()
        .filter(|&c| c > 0)
}

/// Channel 2 of the PIT, whose output can be polled through port 0x61.
pub struct Channel2 {
    control: Port<u8>,
    data: Port<u8>,
    gate: Port<u8>,
}

impl Channel2 {
    /// Takes the PIT's channel 2.
    ///
    /// # Safety
    /// The caller must own the PIT command port, channel 2 and port 0x61.
    pub unsafe fn new() -> Self {
        Self {
            control: Port::new(0x43),
            data: Port::new(0x42),
            gate: Port::new(0x61),
        }
    }

    /// Calls `sample` as a countdown of `count` PIT ticks starts and again
    /// as it ends, and returns both results. Busy-waits; only for boot-time
    /// calibration.
    pub fn time<T>(&mut self, count: u16, mut sample: impl FnMut() -> T) -> (T, T) {
        // SAFETY: the ports belong to us (see `new`); this sequence gates
        // channel 2 on with the speaker off, loads a one-shot (mode 0)
        // countdown and polls its output bit, touching no other device.
        unsafe {
            let gate = (self.gate.read() & !0x02) | 0x01;
            self.gate.write(gate & !0x01);
            self.control.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0, binary
            self.data.write(count as u8);
            self.data.write((count >> 8) as u8);
            self.gate.write(gate);
            let start = sample();
            while self.gate.read() & 0x20 == 0 {
                core::hint::spin_loop();
            }
            (start, sample())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_for_common_intervals() {
        assert_eq!(count_for_micros(10_000), Some(11_931));
        assert_eq!(count_for_micros(50_000), Some(59_659));
        assert_eq!(count_for_micros(60_000), None, "beyond 16 bits");
        assert_eq!(count_for_micros(0), None);
    }
}
