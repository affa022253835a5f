//! Where the virtio devices are: the virtio-mmio devices the kernel command
//! line names (`virtio_mmio.device=`, as Firecracker and QEMU's `microvm`
//! machine write it), or else PCI.
//!
//! When the command line names virtio-mmio devices, PCI is not probed at
//! all. Each argument is checked before anything touches its window: it
//! must parse, must not repeat or overlap another argument, must not
//! overlap RAM, the kernel image, the initrd, the first MiB or the APIC
//! windows, and its IRQ must be an I/O APIC input. A bad argument is named
//! on the console and the gateway refuses to start (its window is never
//! touched); a window that holds no virtio device (bad magic or version,
//! or an empty slot) is named and skipped.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use boot::virtio_mmio::{self, MmioDevice};
use boot::BootInfo;
use drivers::virtio::{self, Address, DeviceLocation, DeviceType, VirtioBus};

/// The local APIC's window at its architectural address.
const LOCAL_APIC_WINDOW: (u64, u64) = (0xfee0_0000, 0xfee0_1000);

struct Found {
    /// Whether any `virtio_mmio.device=` argument was given.
    given: bool,
    /// The usable virtio-mmio devices, in command-line order.
    devices: Vec<(DeviceLocation, DeviceType)>,
    /// The first bad argument and why, which stops the gateway.
    refusal: Option<String>,
}

static FOUND: spin::Once<Found> = spin::Once::new();

/// Why `device`'s window may not be touched, if it may not.
fn placement_problem(device: &MmioDevice, boot: &BootInfo) -> Option<String> {
    let image = crate::memory::image();
    let mut reserved = Vec::new();
    reserved.push((0, 0x10_0000, "the first MiB (BIOS and loader data)"));
    reserved.push((image.start, image.end, "the kernel image"));
    if let Some(initrd) = boot.initrd {
        reserved.push((initrd.start, initrd.start + initrd.len, "the initrd"));
    }
    let (io_start, io_end) = crate::interrupts::ioapic::WINDOW;
    reserved.push((io_start, io_end, "the I/O APIC"));
    reserved.push((LOCAL_APIC_WINDOW.0, LOCAL_APIC_WINDOW.1, "the local APIC"));
    for region in boot.memory_regions() {
        reserved.push((region.start, region.end(), "RAM"));
    }
    if let Some((start, end, what)) = reserved
        .iter()
        .find(|(start, end, _)| device.overlaps(*start, *end))
    {
        return Some(format!(
            "the window {:#x}-{:#x} overlaps {what} ({start:#x}-{end:#x})",
            device.base,
            device.end()
        ));
    }
    let pins =
        crate::interrupts::ioapic::inputs().min(u32::from(crate::interrupts::DEVICE_VECTORS));
    if u32::from(device.irq) >= pins {
        return Some(format!(
            "IRQ {} is not an I/O APIC input (this machine has {pins})",
            device.irq
        ));
    }
    None
}

/// Reads the command line's `virtio_mmio.device=` arguments and probes
/// each good one (after paging, before entropy,
/// which may come from a virtio-rng device).
pub fn init(boot: &BootInfo) {
    FOUND.call_once(|| {
        let mut found = Found {
            given: false,
            devices: Vec::new(),
            refusal: None,
        };
        if boot.cmdline_truncated() {
            log::warn!(
                "the kernel command line is longer than {} bytes; the rest is ignored",
                boot::MAX_CMDLINE
            );
        }
        for arg in virtio_mmio::arguments(boot.cmdline()) {
            // virtio-mmio devices interrupt through I/O APIC inputs only
            // (no MSI-X), so the I/O APIC comes up before their pins are
            // checked against it.
            crate::interrupts::init_io_apic();
            found.given = true;
            let checked = arg.device.map_err(|e| format!("{e}")).and_then(|device| {
                match placement_problem(&device, boot) {
                    Some(problem) => Err(problem),
                    None => Ok(device),
                }
            });
            let device = match checked {
                Ok(device) => device,
                Err(why) => {
                    log::error!("{}: {why}", arg.text);
                    found
                        .refusal
                        .get_or_insert_with(|| format!("{}: {why}", arg.text));
                    continue;
                }
            };
            // SAFETY: the window was checked above: it overlaps no RAM, no
            // part of the image or initrd, no APIC and no other argument's
            // window, so it is device memory (or nothing) that no Rust
            // object aliases; mapping it uncached and reading its header
            // cannot disturb the kernel.
            match unsafe { virtio::probe_mmio(device.base, device.size) } {
                Ok(kind) => {
                    let location = DeviceLocation {
                        address: Address::Mmio {
                            base: device.base,
                            size: device.size,
                        },
                        irq_line: Some(device.irq),
                    };
                    log::info!(
                        "virtio-mmio: {kind:?} at {:#x}, IRQ {}",
                        device.base,
                        device.irq
                    );
                    found.devices.push((location, kind));
                }
                Err(why) => log::warn!("{}: not a virtio device ({why}); skipped", arg.text),
            }
        }
        found
    });
}

/// The bus the virtio devices are on: the command line's virtio-mmio
/// devices if it names any, else PCI (not probed at all in the first case).
pub fn virtio_bus() -> VirtioBus {
    match FOUND.get() {
        Some(found) if found.given => {
            // SAFETY: every window in `devices` passed `placement_problem`
            // (device memory, no overlap with anything the kernel uses or
            // with each other) and stays so for as long as the kernel runs.
            unsafe { VirtioBus::mmio(found.devices.clone()) }
        }
        // SAFETY: the kernel is single-threaded and the callers (entropy
        // seeding, NIC and UAPI start-up, the periodic reseed) hold the
        // bus only for the duration of one call, so no two PCI roots are
        // used at once.
        _ => VirtioBus::Pci(unsafe { drivers::pci::root() }),
    }
}

/// The first bad `virtio_mmio.device=` argument and why: the gateway
/// refuses to start with it.
pub fn refusal() -> Option<&'static str> {
    FOUND.get().and_then(|f| f.refusal.as_deref())
}
