//! `virtio_mmio.device=` arguments on the kernel command line: how
//! Firecracker and QEMU's `microvm` machine (with `acpi=off`) tell a guest
//! where its virtio-mmio devices are.
//!
//! The form is Linux's (`drivers/virtio/virtio_mmio.c`):
//! `virtio_mmio.device=<size>@<baseaddr>:<irq>[:<id>]`, e.g.
//! `virtio_mmio.device=512@0xfeb00e00:12` or `virtio_mmio.device=4K@0xd0000000:5:3`.
//! The size is a number (decimal or `0x` hex) with an optional `K`, `M` or
//! `G` suffix; the base address is decimal or `0x` hex; the IRQ (an I/O
//! APIC input, GSI) and the optional platform-device id are decimal.
//!
//! Parsing is pure and bounded: every argument either yields a device or a
//! reason, and an argument that overlaps one before it is refused, so no two
//! devices share a register window.

use core::fmt;

/// The argument's name, as it appears on the command line.
pub const ARGUMENT: &str = "virtio_mmio.device=";

/// The virtio-mmio register block is 0x100 bytes; the device configuration
/// space follows it, so a window smaller than this cannot be a device.
pub const MIN_WINDOW: u64 = 0x100;

/// The identity map reaches 2^47 bytes of physical address space; device
/// windows above it cannot be mapped.
pub const MAX_ADDRESS: u64 = 1 << 47;

/// One virtio-mmio device, as an argument describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioDevice {
    /// Physical address of the register window.
    pub base: u64,
    /// Length of the register window in bytes.
    pub size: u64,
    /// The I/O APIC input (GSI) the device interrupts on.
    pub irq: u8,
    /// The platform-device id the argument gives (Linux uses it as the
    /// device's name; the gateway only reports it).
    pub id: Option<u32>,
}

impl MmioDevice {
    /// One past the window's last byte (never overflows: checked when parsed).
    pub fn end(&self) -> u64 {
        self.base + self.size
    }

    /// Whether the window shares a byte with `[start, end)`.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.base < end && start < self.end()
    }
}

/// Why an argument was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmioArgError {
    /// Not of the form `<size>@<baseaddr>:<irq>[:<id>]`; says which part.
    Malformed(&'static str),
    /// The size is zero.
    SizeZero,
    /// The window is smaller than the virtio-mmio registers (0x100 bytes).
    TooSmall,
    /// A number does not fit, or base + size passes the end of the
    /// addressable physical space.
    Overflow,
    /// The IRQ is beyond the I/O APIC inputs this kernel routes (0–255
    /// parse; the kernel checks the real pin count).
    IrqTooLarge,
    /// The same window as an earlier argument.
    Duplicate,
    /// Shares bytes with an earlier argument's window.
    Overlaps(MmioDevice),
}

impl fmt::Display for MmioArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(what) => write!(
                f,
                "malformed ({what}; expected <size>@<baseaddr>:<irq>[:<id>], e.g. 512@0xfeb00e00:12)"
            ),
            Self::SizeZero => f.write_str("the size is zero"),
            Self::TooSmall => write!(
                f,
                "the window is smaller than the {MIN_WINDOW:#x} bytes of virtio-mmio registers"
            ),
            Self::Overflow => f.write_str("a number is too large, or the window passes 2^47"),
            Self::IrqTooLarge => f.write_str("the IRQ is above 255"),
            Self::Duplicate => f.write_str("the same device is given twice"),
            Self::Overlaps(other) => write!(
                f,
                "the window overlaps {:#x}-{:#x} of an earlier argument",
                other.base,
                other.end()
            ),
        }
    }
}

/// One `virtio_mmio.device=` argument: its text (for messages) and what it
/// says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioArg<'a> {
    /// The whole argument, `virtio_mmio.device=` included.
    pub text: &'a str,
    /// The device, or why the argument was refused.
    pub device: Result<MmioDevice, MmioArgError>,
}

/// Every `virtio_mmio.device=` argument of `cmdline`, in order. An
/// argument that repeats or overlaps an earlier valid one is refused.
pub fn arguments(cmdline: &str) -> impl Iterator<Item = MmioArg<'_>> + '_ {
    let all = move || {
        cmdline
            .split_ascii_whitespace()
            .filter_map(|arg| arg.strip_prefix(ARGUMENT).map(|value| (arg, value)))
    };
    all().enumerate().map(move |(index, (text, value))| {
        let device = parse_device(value).and_then(|device| {
            // Earlier valid arguments (re-parsed: no allocation, and the
            // command line holds a handful of these at most).
            let clash = all()
                .take(index)
                .filter_map(|(_, earlier)| parse_device(earlier).ok())
                .find(|earlier| device.overlaps(earlier.base, earlier.end()));
            match clash {
                Some(earlier) if earlier.base == device.base && earlier.size == device.size => {
                    Err(MmioArgError::Duplicate)
                }
                Some(earlier) => Err(MmioArgError::Overlaps(earlier)),
                None => Ok(device),
            }
        });
        MmioArg { text, device }
    })
}

/// Parses the value of one argument: `<size>@<baseaddr>:<irq>[:<id>]`.
pub fn parse_device(value: &str) -> Result<MmioDevice, MmioArgError> {
    let (size, rest) = value
        .split_once('@')
        .ok_or(MmioArgError::Malformed("no `@` after the size"))?;
    let mut fields = rest.split(':');
    let base = fields.next().unwrap_or("");
    let irq = fields.next().ok_or(MmioArgError::Malformed(
        "no `:<irq>` after the base address",
    ))?;
    let id = fields.next();
    if fields.next().is_some() {
        return Err(MmioArgError::Malformed("more than four fields"));
    }
    let size = parse_size(size)?;
    let base = parse_number(base).map_err(|e| e.naming("the base address is not a number"))?;
    let irq = parse_decimal(irq).map_err(|e| e.naming("the IRQ is not a decimal number"))?;
    let id = id
        .map(|id| parse_decimal(id).map_err(|e| e.naming("the id is not a decimal number")))
        .transpose()?;
    if size == 0 {
        return Err(MmioArgError::SizeZero);
    }
    if size < MIN_WINDOW {
        return Err(MmioArgError::TooSmall);
    }
    match base.checked_add(size) {
        Some(end) if end <= MAX_ADDRESS => {}
        _ => return Err(MmioArgError::Overflow),
    }
    let irq = u8::try_from(irq).map_err(|_| MmioArgError::IrqTooLarge)?;
    let id = id
        .map(|id| u32::try_from(id).map_err(|_| MmioArgError::Overflow))
        .transpose()?;
    Ok(MmioDevice {
        base,
        size,
        irq,
        id,
    })
}

/// A number that did not parse, before we know which field it was.
enum NumberError {
    Empty,
    Digit,
    Overflow,
}

impl NumberError {
    /// The error for the field this number was: `malformed` says how.
    fn naming(self, malformed: &'static str) -> MmioArgError {
        match self {
            Self::Overflow => MmioArgError::Overflow,
            Self::Empty | Self::Digit => MmioArgError::Malformed(malformed),
        }
    }
}

fn digits(text: &str, radix: u32) -> Result<u64, NumberError> {
    if text.is_empty() {
        return Err(NumberError::Empty);
    }
    text.chars().try_fold(0u64, |value, c| {
        let digit = c.to_digit(radix).ok_or(NumberError::Digit)?;
        value
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(digit)))
            .ok_or(NumberError::Overflow)
    })
}

fn parse_decimal(text: &str) -> Result<u64, NumberError> {
    digits(text, 10)
}

/// Decimal, or hexadecimal after `0x`/`0X`.
fn parse_number(text: &str) -> Result<u64, NumberError> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => digits(hex, 16),
        None => digits(text, 10),
    }
}

/// A number with an optional `K`, `M` or `G` suffix (either case).
fn parse_size(text: &str) -> Result<u64, MmioArgError> {
    let (number, shift) = match text.as_bytes().last() {
        Some(b'k' | b'K') => (&text[..text.len() - 1], 10),
        Some(b'm' | b'M') => (&text[..text.len() - 1], 20),
        Some(b'g' | b'G') => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let value = parse_number(number).map_err(|e| e.naming("the size is not a number"))?;
    value
        .checked_mul(1u64 << shift)
        .ok_or(MmioArgError::Overflow)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;
    use std::vec::Vec;

    fn device(base: u64, size: u64, irq: u8, id: Option<u32>) -> MmioDevice {
        MmioDevice {
            base,
            size,
            irq,
            id,
        }
    }

    #[test]
    fn the_forms_qemu_and_firecracker_write() {
        // QEMU microvm (acpi=off): 512-byte windows from 0xfeb00000.
        assert_eq!(
            parse_device("512@0xfeb00e00:12"),
            Ok(device(0xfeb0_0e00, 512, 12, None))
        );
        // Firecracker: 4 KiB windows from 0xd0000000, with an id.
        assert_eq!(
            parse_device("4K@0xd0000000:5:0"),
            Ok(device(0xd000_0000, 4096, 5, Some(0)))
        );
        assert_eq!(
            parse_device("0x1000@3489660928:6"),
            Ok(device(0xd000_0000, 4096, 6, None))
        );
        assert_eq!(
            parse_device("1m@0X10000000000:11:7"),
            Ok(device(1 << 40, 1 << 20, 11, Some(7)))
        );
        assert_eq!(parse_device("1G@0x40000000:3").map(|d| d.size), Ok(1 << 30));
    }

    #[test]
    fn malformed_arguments_say_what_is_wrong() {
        for bad in [
            "",
            "512",
            "512@",
            "512@0xfeb00e00",
            "512@0xfeb00e00:",
            "@0xfeb00e00:12",
            "512@0xfeb00e00:12:",
            "512@0xfeb00e00:12:1:2",
            "512@0x:12",
            "512@0xfeb00g00:12",
            "512@feb00e00:12",
            "5x12@0xfeb00e00:12",
            "512K1@0xfeb00e00:12",
            "512@0xfeb00e00:-1",
            "512@0xfeb00e00:0x5",
            "512@0xfeb00e00:12:x",
            "-512@0xfeb00e00:12",
            "512 @0xfeb00e00:12",
        ] {
            assert!(
                matches!(parse_device(bad), Err(MmioArgError::Malformed(_))),
                "{bad:?} gave {:?}",
                parse_device(bad)
            );
        }
    }

    #[test]
    fn sizes_zero_or_below_the_registers_are_refused() {
        assert_eq!(parse_device("0@0xd0000000:5"), Err(MmioArgError::SizeZero));
        assert_eq!(parse_device("0K@0xd0000000:5"), Err(MmioArgError::SizeZero));
        assert_eq!(
            parse_device("255@0xd0000000:5"),
            Err(MmioArgError::TooSmall)
        );
        assert!(parse_device("256@0xd0000000:5").is_ok());
    }

    #[test]
    fn overflow_is_refused_not_wrapped() {
        for bad in [
            "99999999999999999999@0xd0000000:5",
            "512@0x10000000000000000:5",
            "17179869184G@0:5",
            "0x8000000000000000K@0:5",
            "4K@0xfffffffffffff000:5",
            "4K@0x7ffffffff800:5",
            "512@0xd0000000:5:4294967296",
        ] {
            assert_eq!(parse_device(bad), Err(MmioArgError::Overflow), "{bad}");
        }
        // The last page below 2^47 still fits.
        assert!(parse_device("4K@0x7ffffffff000:5").is_ok());
        assert_eq!(
            parse_device("512@0xd0000000:256"),
            Err(MmioArgError::IrqTooLarge)
        );
        assert!(parse_device("512@0xd0000000:255").is_ok());
    }

    #[test]
    fn arguments_are_found_among_others_in_order() {
        let line = "config=gateway.conf virtio_mmio.device=512@0xfeb00e00:12 \
                    virtio_mmio.devicex=1 console=ttyS0  virtio_mmio.device=512@0xfeb00c00:11 \
                    xvirtio_mmio.device=512@0x0:1";
        let found: Vec<_> = arguments(line).collect();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].text, "virtio_mmio.device=512@0xfeb00e00:12");
        assert_eq!(found[0].device, Ok(device(0xfeb0_0e00, 512, 12, None)));
        assert_eq!(found[1].device, Ok(device(0xfeb0_0c00, 512, 11, None)));
        assert_eq!(arguments("config=x test=boot").count(), 0);
        assert_eq!(arguments("").count(), 0);
    }

    #[test]
    fn duplicates_and_overlaps_are_refused_after_the_first() {
        let line = "virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0000000:6 \
                    virtio_mmio.device=512@0xd0000800:7 virtio_mmio.device=4K@0xd0001000:8 \
                    virtio_mmio.device=8K@0xcffff000:9 virtio_mmio.device=bad \
                    virtio_mmio.device=4K@0xd0002000:10";
        let found: Vec<_> = arguments(line).map(|a| a.device).collect();
        let first = device(0xd000_0000, 4096, 5, None);
        assert_eq!(found[0], Ok(first));
        assert_eq!(found[1], Err(MmioArgError::Duplicate));
        assert_eq!(found[2], Err(MmioArgError::Overlaps(first)));
        // Adjacent windows do not overlap.
        assert_eq!(found[3], Ok(device(0xd000_1000, 4096, 8, None)));
        assert_eq!(found[4], Err(MmioArgError::Overlaps(first)));
        assert!(matches!(found[5], Err(MmioArgError::Malformed(_))));
        assert_eq!(found[6], Ok(device(0xd000_2000, 4096, 10, None)));
    }

    #[test]
    fn overlap_test_is_half_open() {
        let d = device(0x1000, 0x1000, 5, None);
        assert!(!d.overlaps(0, 0x1000));
        assert!(d.overlaps(0, 0x1001));
        assert!(d.overlaps(0x1fff, 0x3000));
        assert!(!d.overlaps(0x2000, 0x3000));
        assert!(d.overlaps(0, u64::MAX));
    }

    #[test]
    fn errors_print_as_sentences() {
        let text = format!("{}", MmioArgError::Malformed("no `@` after the size"));
        assert!(text.contains("no `@` after the size") && text.contains("<size>@<baseaddr>"));
        let text = format!(
            "{}",
            MmioArgError::Overlaps(device(0xd000_0000, 4096, 5, None))
        );
        assert!(text.contains("0xd0000000-0xd0001000"), "{text}");
    }
}
