//! The kernel: console, interrupts, memory, time, entropy and the gateway main loop.
//!
//! `boot/` brings the CPU into long mode and calls [`gateway_main`]. From
//! there the kernel sets up, in order: the serial console, its own GDT and
//! IDT, page tables and heap, the clock and timer, wall-clock time and the
//! random number generator. Then it either runs the in-kernel self-tests
//! (kernel command line `test=...`) or idles, halting the CPU until the next
//! interrupt or deadline.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

extern crate alloc;

mod console;
mod cpu;
mod devices;
mod entropy;
mod exit;
mod gateway;
mod gdt;
mod interrupts;
mod memory;
mod panic;
mod pcie;
mod selftest;
mod time;

use boot::BootInfo;

/// The project's name, first word of the boot banner.
pub const NAME: &str = "wgate";
/// The image's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The kernel's entry point, called once by `boot/src/entry.s` in long mode
/// on the boot stack with interrupts disabled.
#[no_mangle]
pub extern "C" fn gateway_main(protocol: u32, info_paddr: u32) -> ! {
    time::record_boot_tsc();
    console::init();
    let boot = match BootInfo::parse(protocol, info_paddr.into(), &memory::LoaderMemory) {
        Ok(boot) => boot,
        Err(err) => exit::fatal(format_args!(
            "cannot read the boot information at {info_paddr:#x} (protocol {protocol}): {err:?}"
        )),
    };
    // A fresh line: the firmware may have left the cursor mid-line.
    kprintln!(
        "\n{NAME} {VERSION}: WireGuard gateway unikernel (boot protocol {:?}, cmdline \"{}\")",
        boot.protocol,
        boot.cmdline()
    );
    gdt::init();
    interrupts::init();
    // Before the kernel's page tables: the firmware's ACPI tables are read
    // through the boot identity map (and may lie in memory the heap takes).
    let ecam = pcie::find_ecam();
    memory::init(&boot);
    pcie::install(ecam);
    devices::init(&boot);
    time::init();
    match time::init_wall_clock() {
        Ok(wall) => log::info!("wall clock: {} UTC (from the CMOS RTC)", wall.date),
        Err(why) => log::warn!("wall clock: {why}"),
    }
    entropy::init();
    // Pick the data path's ChaCha20-Poly1305 backend by timing each one this
    // CPU supports (about 2 ms each), as Linux picks its XOR and RAID-6
    // routines: under emulation the widest SIMD is not always the fastest.
    let aead = fast_aead::select_fastest(time::rdtsc, time::tsc_hz() / 500);
    log::info!("crypto: {aead}; TSC cycles, measured at boot");
    log::info!(
        "kernel ready: {} MiB RAM, heap {} KiB, peak heap use {} bytes",
        boot.usable_bytes() >> 20,
        memory::heap_size() >> 10,
        memory::heap_peak()
    );

    let mode = selftest::Mode::from_cmdline(&boot);
    if let Some(mode) = mode {
        selftest::run(mode);
    }
    gateway::run(&boot);
    log::info!("idle: no gateway configured; halting until interrupts");
    loop {
        time::idle_until(None);
    }
}
