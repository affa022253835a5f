//! virtio devices on PCI, through `virtio-drivers`.

pub mod console;
mod hal;
pub mod net;
pub mod rng;

pub use hal::{set_mmio_mapper, IdentityHal};
