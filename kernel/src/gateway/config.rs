//! Loading the gateway configuration that the boot loader handed us as the
//! initrd (QEMU `-initrd`, GRUB `module2`).

use alloc::string::String;
use boot::BootInfo;
use net::config::{self, GatewayConfig};

/// Largest configuration file we accept: far beyond any real one (10,000
/// peers take about 1.5 MiB), small enough that a wrong module is refused.
const MAX_CONFIG_BYTES: u64 = 8 << 20;

/// Why there is no configuration to run with.
pub enum LoadError {
    /// No initrd was given.
    Missing,
    /// The initrd is not a usable text file.
    Unreadable(String),
    /// The file has an error; the message names file, line and problem.
    Invalid(String),
}

/// The name shown in messages: `config=NAME` from the kernel command line,
/// or `gateway.conf`.
pub fn file_name(boot: &BootInfo) -> String {
    boot.cmdline_option("config")
        .unwrap_or("gateway.conf")
        .into()
}

/// Reads and parses the initrd.
pub fn load(boot: &BootInfo) -> Result<GatewayConfig, LoadError> {
    let module = boot.initrd.ok_or(LoadError::Missing)?;
    let name = file_name(boot);
    if module.len > MAX_CONFIG_BYTES {
        return Err(LoadError::Unreadable(alloc::format!(
            "{name}: {} bytes is too large for a configuration file",
            module.len
        )));
    }
    // SAFETY: the loader placed the module in RAM that `memory::init`
    // reserved (it is neither heap nor page tables) and mapped readable;
    // nothing writes it after boot.
    let bytes =
        unsafe { core::slice::from_raw_parts(module.start as *const u8, module.len as usize) };
    let text = core::str::from_utf8(bytes).map_err(|e| {
        LoadError::Unreadable(alloc::format!(
            "{name}: not UTF-8 text (byte {})",
            e.valid_up_to()
        ))
    })?;
    // QEMU pads the initrd with NULs up to a page boundary on some paths.
    let text = text.trim_end_matches('\0');
    config::parse(&name, text).map_err(|e| LoadError::Invalid(alloc::format!("{e}")))
}
