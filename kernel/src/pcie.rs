//! Choosing how PCI configuration space is reached: PCIe's ECAM window when
//! the firmware's ACPI MCFG table describes one (QEMU `q35`), checked
//! against the configuration ports before it is trusted; the ports
//! otherwise (QEMU `pc`, whose chipset has no ECAM).

use drivers::acpi::{self, AcpiError};
use drivers::pci::{self, DeviceFunction, EcamWindow};

impl acpi::Memory for crate::memory::LoaderMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Option<()> {
        boot::PhysicalMemory::read(self, addr, buf)
    }
}

/// Looks for the ECAM window in the ACPI tables. Runs before the kernel's
/// own page tables, while the boot path's identity map of the low 4 GiB
/// still covers the BIOS area and the firmware's tables (which a PVH boot
/// does not mark reserved in the memory map, so the heap may later reuse
/// them).
pub fn find_ecam() -> Result<EcamWindow, AcpiError> {
    let memory = crate::memory::LoaderMemory;
    let rsdp = acpi::find_rsdp(&memory).ok_or(AcpiError::NoRsdp)?;
    acpi::ecam_window(&memory, &rsdp)
}

/// Maps bus 0 of the window found by [`find_ecam`] (the only bus the
/// gateway enumerates) uncached, checks that it reads the host bridge as
/// the ports do, and switches configuration access to it. Otherwise the
/// ports stay in use; the console says which.
pub fn install(found: Result<EcamWindow, AcpiError>) {
    let window = match found {
        Ok(window) => window,
        Err(why) => {
            log::info!("pci: configuration through ports 0xCF8/0xCFC ({why})");
            return;
        }
    };
    if window.start_bus != 0 {
        log::info!(
            "pci: ECAM window at {:#x} starts at bus {}, not 0; using ports 0xCF8/0xCFC",
            window.base,
            window.start_bus
        );
        return;
    }
    crate::memory::map_mmio(window.base, window.len_through(0));
    let host_bridge = DeviceFunction {
        bus: 0,
        device: 0,
        function: 0,
    };
    let Some(addr) = pci::ecam_address(window, 0, host_bridge, 0) else {
        return;
    };
    // SAFETY: bus 0 of the window was just mapped uncached; this reads the
    // host bridge's vendor/device ID, which has no side effects.
    let through_ecam = unsafe { core::ptr::read_volatile(addr as *const u32) };
    let through_ports = pci::read_through_ports(host_bridge, 0);
    if through_ecam != through_ports || through_ecam as u16 == 0xffff {
        log::warn!(
            "pci: ECAM window at {:#x} reads {through_ecam:#010x} for 00:00.0, the ports \
             {through_ports:#010x}; using the ports",
            window.base
        );
        return;
    }
    // SAFETY: the window is the machine's ECAM (ACPI says so and it reads
    // the host bridge as the ports do), mapped uncached for bus 0.
    unsafe { pci::use_ecam(window, 0) };
    log::info!(
        "pci: configuration through ECAM at {:#x} (buses {}-{} per ACPI MCFG; bus 0 mapped)",
        window.base,
        window.start_bus,
        window.end_bus
    );
}
