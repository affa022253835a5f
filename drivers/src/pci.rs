//! PCI configuration space, through PCIe's memory-mapped ECAM window when
//! the firmware describes one (ACPI MCFG, see [`crate::acpi`]; QEMU's
//! `q35`), otherwise through the legacy I/O ports 0xCF8/0xCFC (`pc`), and
//! enumeration of the devices on it.
//!
//! Every capability list is walked once, bounded (see [`capabilities`]);
//! a list that loops or points outside the capability area is reported on
//! the console and cut off where it went wrong: from then on every reader,
//! virtio-drivers' transport included, sees a list that ends there.

pub mod capabilities;
pub mod msix;

use capabilities::{ConfigSpace, Walk};
use spin::Mutex;
pub use virtio_drivers::transport::pci::bus::DeviceFunction;
use virtio_drivers::transport::pci::bus::{
    Command, ConfigurationAccess, DeviceFunctionInfo, PciRoot,
};
use x86_64::instructions::port::Port;

const CONFIG_ADDRESS: u16 = 0xcf8;
const CONFIG_DATA: u16 = 0xcfc;
/// Command register bit 10: the function may not assert INTx.
pub const COMMAND_INTX_DISABLE: u16 = 1 << 10;

/// A PCIe ECAM window, as the ACPI MCFG table describes it: 4 KiB of
/// configuration space per function, 1 MiB per bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EcamWindow {
    /// Physical address of the window (of bus `start_bus`).
    pub base: u64,
    /// First bus decoded.
    pub start_bus: u8,
    /// Last bus decoded.
    pub end_bus: u8,
}

impl EcamWindow {
    /// Bytes the window covers for buses `start_bus..=last`.
    pub fn len_through(&self, last: u8) -> u64 {
        (u64::from(last.saturating_sub(self.start_bus)) + 1) << 20
    }
}

/// How configuration space is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// The 0xCF8/0xCFC ports.
    Ports,
    /// Memory-mapped ECAM, identity-mapped uncached for buses
    /// `window.start_bus..=mapped_through`.
    Ecam {
        /// The window.
        window: EcamWindow,
        /// Last bus mapped.
        mapped_through: u8,
    },
}

static MECHANISM: Mutex<Mechanism> = Mutex::new(Mechanism::Ports);

/// Chooses ECAM for every later configuration access.
///
/// # Safety
/// `window` must describe the machine's ECAM, identity-mapped uncached for
/// buses `window.start_bus..=mapped_through`.
pub unsafe fn use_ecam(window: EcamWindow, mapped_through: u8) {
    *MECHANISM.lock() = Mechanism::Ecam {
        window,
        mapped_through,
    };
}

/// The mechanism in use.
pub fn mechanism() -> Mechanism {
    *MECHANISM.lock()
}

/// A capability list cut off at one pointer byte.
#[derive(Clone, Copy, Debug)]
struct Cut {
    function: DeviceFunction,
    at: u8,
}

/// Functions whose capability list was cut: at most one per function
/// number on bus 0 (enumeration looks at bus 0 only).
const MAX_CUTS: usize = 256;
static CUTS: Mutex<[Option<Cut>; MAX_CUTS]> = Mutex::new([None; MAX_CUTS]);

fn cut_slot(function: DeviceFunction) -> usize {
    usize::from(function.device & 31) * 8 + usize::from(function.function & 7)
}

fn cut_for(function: DeviceFunction) -> Option<u8> {
    CUTS.lock()[cut_slot(function)]
        .filter(|c| c.function == function)
        .map(|c| c.at)
}

/// Configuration access through the mechanism chosen at boot, with
/// defective capability lists cut off.
pub struct Cam {
    _private: (),
}

impl Cam {
    /// Takes configuration space.
    ///
    /// # Safety
    /// The caller must own PCI configuration space (ports 0xCF8-0xCFF or
    /// the ECAM window), and must not use two `Cam`s at once (the port
    /// address/data pair is not atomic).
    pub unsafe fn new() -> Self {
        Self { _private: () }
    }

    fn raw_read(function: DeviceFunction, offset: u8) -> u32 {
        match mechanism() {
            Mechanism::Ports => {
                // SAFETY: we own the configuration ports (see `new`);
                // selecting a register and reading it has no side effects on
                // PCI devices.
                unsafe {
                    Port::<u32>::new(CONFIG_ADDRESS).write(port_address(function, offset));
                    Port::<u32>::new(CONFIG_DATA).read()
                }
            }
            Mechanism::Ecam {
                window,
                mapped_through,
            } => match ecam_address(window, mapped_through, function, offset) {
                // SAFETY: `use_ecam` promised the window is mapped uncached
                // for this bus; the address is an aligned dword inside it.
                Some(addr) => unsafe { core::ptr::read_volatile(addr as *const u32) },
                None => u32::MAX,
            },
        }
    }

    fn raw_write(function: DeviceFunction, offset: u8, data: u32) {
        match mechanism() {
            Mechanism::Ports => {
                // SAFETY: as in `raw_read`; the caller of this trait method
                // chose the register and value.
                unsafe {
                    Port::<u32>::new(CONFIG_ADDRESS).write(port_address(function, offset));
                    Port::<u32>::new(CONFIG_DATA).write(data);
                }
            }
            Mechanism::Ecam {
                window,
                mapped_through,
            } => {
                if let Some(addr) = ecam_address(window, mapped_through, function, offset) {
                    // SAFETY: as in `raw_read`; the caller chose the register
                    // and value.
                    unsafe { core::ptr::write_volatile(addr as *mut u32, data) }
                }
            }
        }
    }
}

fn port_address(function: DeviceFunction, offset: u8) -> u32 {
    0x8000_0000
        | (u32::from(function.bus) << 16)
        | (u32::from(function.device & 31) << 11)
        | (u32::from(function.function & 7) << 8)
        | u32::from(offset & 0xfc)
}

/// The address of a configuration dword in the ECAM window, if its bus is
/// mapped.
pub fn ecam_address(
    window: EcamWindow,
    mapped_through: u8,
    function: DeviceFunction,
    offset: u8,
) -> Option<u64> {
    if function.bus < window.start_bus || function.bus > mapped_through {
        return None;
    }
    let bus = u64::from(function.bus - window.start_bus);
    Some(
        window.base
            + (bus << 20)
            + (u64::from(function.device & 31) << 15)
            + (u64::from(function.function & 7) << 12)
            + u64::from(offset & 0xfc),
    )
}

impl ConfigurationAccess for Cam {
    fn read_word(&self, function: DeviceFunction, offset: u8) -> u32 {
        let raw = Self::raw_read(function, offset);
        match cut_for(function) {
            Some(at) => capabilities::apply_cut(offset, raw, at),
            None => raw,
        }
    }

    fn write_word(&mut self, function: DeviceFunction, offset: u8, data: u32) {
        Self::raw_write(function, offset, data);
    }

    // SAFETY: (of the trait) the clone is used for reads of read-only
    // registers only; `Cam` holds no state, every access selects its
    // register afresh.
    unsafe fn unsafe_clone(&self) -> Self {
        Self { _private: () }
    }
}

/// One function's configuration space, for [`capabilities::walk`].
struct FunctionSpace<'a> {
    cam: &'a Cam,
    function: DeviceFunction,
}

impl ConfigSpace for FunctionSpace<'_> {
    fn read_u32(&self, offset: u8) -> u32 {
        self.cam.read_word(self.function, offset)
    }
}

/// The capability list of `function` (cut off, if it was defective).
pub fn capabilities(cam: &Cam, function: DeviceFunction) -> Walk {
    capabilities::walk(&FunctionSpace { cam, function })
}

/// Walks `function`'s capability list; if it is defective, reports it and
/// cuts it off, so that no later reader follows it past the defect.
fn check_capabilities(cam: &Cam, function: DeviceFunction) {
    let walk = capabilities(cam, function);
    if let Some(defect) = walk.defect {
        log::warn!(
            "pci {function}: capability list cut off after {} entries: {defect}",
            walk.capabilities().len()
        );
        if function.bus == 0 {
            CUTS.lock()[cut_slot(function)] = Some(Cut {
                function,
                at: defect.at(),
            });
        }
    }
}

/// The PCI root through the mechanism chosen at boot.
///
/// # Safety
/// As for [`Cam::new`].
pub unsafe fn root() -> PciRoot<Cam> {
    // SAFETY: forwarded to the caller.
    PciRoot::new(unsafe { Cam::new() })
}

/// Devices on bus 0 (QEMU places every device there), lowest address first.
/// Each one's capability list is checked (and cut off if defective) before
/// it is handed out.
pub fn devices(
    root: &PciRoot<Cam>,
) -> impl Iterator<Item = (DeviceFunction, DeviceFunctionInfo)> + '_ {
    root.enumerate_bus(0).inspect(|(function, _)| {
        // SAFETY: reads only, from the single kernel thread that owns `root`.
        let cam = unsafe { Cam::new() };
        check_capabilities(&cam, *function);
    })
}

/// Turns on memory decoding and bus mastering, so the device's BARs answer
/// and it can DMA into our buffers.
pub fn enable(root: &mut PciRoot<Cam>, function: DeviceFunction) {
    let (_, command) = root.get_status_command(function);
    root.set_command(
        function,
        command | Command::MEMORY_SPACE | Command::BUS_MASTER | Command::IO_SPACE,
    );
}

/// The legacy interrupt line the firmware assigned to `function`, if it
/// uses an interrupt pin at all.
pub fn interrupt_line(function: DeviceFunction) -> Option<u8> {
    // SAFETY: a read-only access, made from the single kernel thread, so it
    // cannot interleave with another access.
    let cam = unsafe { Cam::new() };
    let word = cam.read_word(function, 0x3c);
    let (line, pin) = (word as u8, (word >> 8) as u8);
    (pin != 0 && line != 0xff).then_some(line)
}

/// Sets or clears the command register's INTx-disable bit.
pub fn set_intx_disabled(function: DeviceFunction, disabled: bool) {
    // SAFETY: the single kernel thread owns configuration space here.
    let mut cam = unsafe { Cam::new() };
    // The status half is write-1-to-clear: write zeros there.
    let command = cam.read_word(function, 0x04) as u16;
    let command = if disabled {
        command | COMMAND_INTX_DISABLE
    } else {
        command & !COMMAND_INTX_DISABLE
    };
    cam.write_word(function, 0x04, u32::from(command));
}

/// Reads the raw configuration dword at `offset` through the ports, to
/// check an ECAM window against (the ports work on every PC chipset).
pub fn read_through_ports(function: DeviceFunction, offset: u8) -> u32 {
    // SAFETY: as in `Cam::raw_read`: a read of a configuration register,
    // from the single kernel thread.
    unsafe {
        Port::<u32>::new(CONFIG_ADDRESS).write(port_address(function, offset));
        Port::<u32>::new(CONFIG_DATA).read()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecam_addresses() {
        let window = EcamWindow {
            base: 0xb000_0000,
            start_bus: 0,
            end_bus: 255,
        };
        let f = |bus, device, function| DeviceFunction {
            bus,
            device,
            function,
        };
        assert_eq!(ecam_address(window, 0, f(0, 0, 0), 0), Some(0xb000_0000));
        assert_eq!(
            ecam_address(window, 0, f(0, 3, 1), 0x3c),
            Some(0xb000_0000 + (3 << 15) + (1 << 12) + 0x3c)
        );
        // Unaligned offsets read their dword.
        assert_eq!(ecam_address(window, 0, f(0, 1, 0), 0x36), Some(0xb000_8034));
        // Buses not mapped read as absent.
        assert_eq!(ecam_address(window, 0, f(1, 0, 0), 0), None);
        let window = EcamWindow {
            base: 0xe000_0000,
            start_bus: 2,
            end_bus: 3,
        };
        assert_eq!(ecam_address(window, 3, f(1, 0, 0), 0), None);
        assert_eq!(ecam_address(window, 3, f(3, 0, 0), 0), Some(0xe010_0000));
        assert_eq!(window.len_through(2), 1 << 20);
    }

    #[test]
    fn port_addresses() {
        let f = DeviceFunction {
            bus: 0,
            device: 3,
            function: 0,
        };
        assert_eq!(port_address(f, 0x3e), 0x8000_183c);
    }
}
