//! Device drivers: serial port, PIT, CMOS clock, ACPI's MCFG, PCI (ECAM or
//! ports, MSI-X) and virtio devices.
//!
//! Each device sits in its own module. Register-level access (port I/O,
//! MMIO) is the only `unsafe` here, kept in small blocks; the arithmetic
//! around it (BCD decoding, calendar conversion, PIT divisors) is plain
//! functions tested on the host.
#![no_std]
#![deny(
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod acpi;
pub mod pci;
pub mod pit;
pub mod rtc;
pub mod serial;
pub mod virtio;
