//! The legacy 8259 PICs: remapped away from the exception vectors and
//! masked, since the kernel uses the local APIC (and the I/O APIC for
//! devices) instead.

use x86_64::instructions::port::Port;

/// Vectors the PICs are remapped to, so a spurious legacy interrupt can
/// never look like a CPU exception.
const MASTER_OFFSET: u8 = 0xe0;
const SLAVE_OFFSET: u8 = 0xe8;

/// Remaps both PICs and masks every line.
pub fn disable() {
    let mut master_cmd: Port<u8> = Port::new(0x20);
    let mut master_data: Port<u8> = Port::new(0x21);
    let mut slave_cmd: Port<u8> = Port::new(0xa0);
    let mut slave_data: Port<u8> = Port::new(0xa1);
    // SAFETY: the standard ICW1-ICW4 initialisation sequence of the two
    // 8259s, which the kernel owns; it affects nothing else.
    unsafe {
        master_cmd.write(0x11);
        slave_cmd.write(0x11);
        master_data.write(MASTER_OFFSET);
        slave_data.write(SLAVE_OFFSET);
        master_data.write(0x04);
        slave_data.write(0x02);
        master_data.write(0x01);
        slave_data.write(0x01);
        master_data.write(0xff);
        slave_data.write(0xff);
    }
}
