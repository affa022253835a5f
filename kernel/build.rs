//! Links the kernel with the boot path's linker script.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/../boot/linker.ld");
    println!("cargo:rerun-if-changed=../boot/linker.ld");
    println!("cargo:rerun-if-changed=../boot/src/entry.s");
}
