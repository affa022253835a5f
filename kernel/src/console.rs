//! The serial console and the `log` backend, each line stamped with the
//! monotonic time since boot.

use core::fmt::{self, Write};
use drivers::serial::Console;
use spin::Mutex;
use x86_64::instructions::interrupts::without_interrupts;

static CONSOLE: Mutex<Option<Console>> = Mutex::new(None);
static LOGGER: Logger = Logger;

/// Initialises COM1 and installs the logger.
pub fn init() {
    // SAFETY: called once at boot, before anything else touches COM1.
    let console = unsafe { Console::com1() };
    *CONSOLE.lock() = Some(console);
    // Only fails if a logger is already set, which cannot happen here.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
}

/// Writes formatted text to the console. Interrupts are off while the lock
/// is held, so an interrupt handler that logs cannot deadlock against us.
pub fn print(args: fmt::Arguments) {
    without_interrupts(|| {
        if let Some(console) = CONSOLE.lock().as_mut() {
            let _ = console.write_fmt(args);
        }
    });
}

/// Prints even if the console lock is held: for the exception and panic
/// paths, which may have interrupted a print and never return to it.
pub fn emergency_print(args: fmt::Arguments) {
    x86_64::instructions::interrupts::disable();
    if CONSOLE.is_locked() {
        // SAFETY: we are on a path that stops the machine; the holder of the
        // lock will never run again, so nothing observes the broken lock.
        unsafe { CONSOLE.force_unlock() };
    }
    print(args);
}

/// Prints a line with no log prefix (the banner, self-test results).
#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => {
        $crate::console::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

struct Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        let nanos = crate::time::uptime_nanos();
        print(format_args!(
            "[{:5}.{:06}] {:5} {}\n",
            nanos / 1_000_000_000,
            nanos % 1_000_000_000 / 1_000,
            record.level(),
            record.args()
        ));
    }

    fn flush(&self) {}
}
