//! The panic handler: print the message and location, then stop.

use core::panic::PanicInfo;

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    match info.location() {
        Some(at) => crate::console::emergency_print(format_args!(
            "kernel panicked at {}:{}:{}: {}\n",
            at.file(),
            at.line(),
            at.column(),
            info.message()
        )),
        None => {
            crate::console::emergency_print(format_args!("kernel panicked: {}\n", info.message()))
        }
    }
    crate::exit::exit(false)
}
