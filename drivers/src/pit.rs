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

/// Read-back command (port 0x43): latch the status byte of channel 0 only.
const READ_BACK_STATUS_CHANNEL0: u8 = 0b1110_0010;
/// Status byte: the channel's output pin.
const STATUS_OUTPUT: u8 = 0x80;

/// Channel 0 of the PIT, polled through the read-back command.
///
/// Channel 0 counts without a gate, so this works where port 0x61 (the
/// speaker port that gates and reports channel 2) is absent: QEMU's
/// `microvm` machine has a PIT but no speaker port, and there reading 0x61
/// gives 0xff, which looked like a window that ended at once. Its interrupt
/// (IRQ 0) stays masked at the PIC and the I/O APIC.
pub struct Channel0 {
    control: Port<u8>,
    data: Port<u8>,
}

/// The PIT did not count: the machine has none (QEMU `microvm,pit=off`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoPit;

impl Channel0 {
    /// Takes the PIT's channel 0.
    ///
    /// # Safety
    /// The caller must own the PIT command port and channel 0.
    pub unsafe fn new() -> Self {
        Self {
            control: Port::new(0x43),
            data: Port::new(0x40),
        }
    }

    fn output_high(&mut self) -> bool {
        // SAFETY: the ports belong to us (see `new`); the read-back command
        // latches channel 0's status, which the next data read returns.
        unsafe {
            self.control.write(READ_BACK_STATUS_CHANNEL0);
            self.data.read() & STATUS_OUTPUT != 0
        }
    }

    /// Calls `sample` as a countdown of `count` PIT ticks starts and again
    /// as it ends, and returns both results. Busy-waits; only for boot-time
    /// calibration. Fails if the output is already high right after the
    /// countdown is loaded (mode 0 holds it low until the count runs out),
    /// which is what a machine without a PIT looks like.
    pub fn time<T>(&mut self, count: u16, mut sample: impl FnMut() -> T) -> Result<(T, T), NoPit> {
        // SAFETY: the ports belong to us (see `new`); this loads a one-shot
        // (mode 0) countdown on channel 0, touching no other device.
        unsafe {
            self.control.write(0b0011_0000); // channel 0, lobyte/hibyte, mode 0, binary
            self.data.write(count as u8);
            self.data.write((count >> 8) as u8);
        }
        let start = sample();
        if self.output_high() {
            return Err(NoPit);
        }
        while !self.output_high() {
            core::hint::spin_loop();
        }
        Ok((start, sample()))
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
