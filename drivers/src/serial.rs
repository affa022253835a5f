//! The COM1 serial console (a 16550 UART at port 0x3F8).

use core::fmt;
use uart_16550::SerialPort;

/// I/O port of the first serial port.
pub const COM1: u16 = 0x3f8;

/// The console UART.
pub struct Console {
    port: SerialPort,
}

impl Console {
    /// Initialises COM1 (115200 8N1, FIFOs on).
    ///
    /// # Safety
    /// The caller must own COM1: nothing else may drive ports 0x3F8–0x3FF.
    pub unsafe fn com1() -> Self {
        // SAFETY: the caller guarantees exclusive ownership of the port range.
        let mut port = unsafe { SerialPort::new(COM1) };
        port.init();
        Self { port }
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            // Terminals expect CR LF; log lines end in a bare LF.
            if byte == b'\n' {
                self.port.send(b'\r');
            }
            self.port.send(byte);
        }
        Ok(())
    }
}
