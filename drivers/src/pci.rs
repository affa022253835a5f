//! PCI configuration space through the legacy I/O ports 0xCF8/0xCFC, and
//! enumeration of the devices on it.
//!
//! Port access works on every x86 PC-compatible machine QEMU emulates
//! (`pc` and `q35`) without parsing ACPI for an ECAM window.

use virtio_drivers::transport::pci::bus::{
    Command, ConfigurationAccess, DeviceFunction, DeviceFunctionInfo, PciRoot,
};
use x86_64::instructions::port::Port;

const CONFIG_ADDRESS: u16 = 0xcf8;
const CONFIG_DATA: u16 = 0xcfc;

/// The 0xCF8/0xCFC configuration mechanism.
pub struct PortCam {
    _private: (),
}

impl PortCam {
    /// Takes the PCI configuration ports.
    ///
    /// # Safety
    /// The caller must own ports 0xCF8-0xCFF, and must not use two
    /// `PortCam`s at once (the address/data pair is not atomic).
    pub unsafe fn new() -> Self {
        Self { _private: () }
    }

    fn address(function: DeviceFunction, offset: u8) -> u32 {
        0x8000_0000
            | (u32::from(function.bus) << 16)
            | (u32::from(function.device) << 11)
            | (u32::from(function.function) << 8)
            | u32::from(offset & 0xfc)
    }
}

impl ConfigurationAccess for PortCam {
    fn read_word(&self, function: DeviceFunction, offset: u8) -> u32 {
        // SAFETY: we own the configuration ports (see `new`); selecting a
        // register and reading it has no side effects on PCI devices.
        unsafe {
            Port::<u32>::new(CONFIG_ADDRESS).write(Self::address(function, offset));
            Port::<u32>::new(CONFIG_DATA).read()
        }
    }

    fn write_word(&mut self, function: DeviceFunction, offset: u8, data: u32) {
        // SAFETY: as in `read_word`; the caller of this trait method chose
        // the register and value.
        unsafe {
            Port::<u32>::new(CONFIG_ADDRESS).write(Self::address(function, offset));
            Port::<u32>::new(CONFIG_DATA).write(data);
        }
    }

    // SAFETY: (of the trait) the clone is used for reads of read-only
    // registers only; `PortCam` holds no state, every access selects its
    // register afresh.
    unsafe fn unsafe_clone(&self) -> Self {
        Self { _private: () }
    }
}

/// The PCI root through the port mechanism.
///
/// # Safety
/// As for [`PortCam::new`].
pub unsafe fn root() -> PciRoot<PortCam> {
    // SAFETY: forwarded to the caller.
    PciRoot::new(unsafe { PortCam::new() })
}

/// Devices on bus 0 (QEMU places every device there), lowest address first.
pub fn devices(
    root: &PciRoot<PortCam>,
) -> impl Iterator<Item = (DeviceFunction, DeviceFunctionInfo)> + '_ {
    root.enumerate_bus(0)
}

/// Turns on memory decoding and bus mastering, so the device's BARs answer
/// and it can DMA into our buffers.
pub fn enable(root: &mut PciRoot<PortCam>, function: DeviceFunction) {
    let (_, command) = root.get_status_command(function);
    root.set_command(
        function,
        command | Command::MEMORY_SPACE | Command::BUS_MASTER | Command::IO_SPACE,
    );
}

/// The legacy interrupt line the firmware assigned to `function`, if it
/// uses an interrupt pin at all.
pub fn interrupt_line(function: DeviceFunction) -> Option<u8> {
    // SAFETY: a read-only access through the configuration ports, made from
    // the single kernel thread, so it cannot interleave with another access.
    let cam = unsafe { PortCam::new() };
    let word = cam.read_word(function, 0x3c);
    let (line, pin) = (word as u8, (word >> 8) as u8);
    (pin != 0 && line != 0xff).then_some(line)
}
