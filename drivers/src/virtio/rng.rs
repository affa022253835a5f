//! Entropy from a virtio-rng device: the fallback seed source for CPUs
//! without RDSEED/RDRAND.

use super::IdentityHal;
use crate::pci;
use virtio_drivers::device::rng::VirtIORng;
use virtio_drivers::transport::pci::{virtio_device_type, PciTransport};
use virtio_drivers::transport::DeviceType;

/// Reads 32 bytes from the first virtio-rng device on PCI bus 0, or
/// returns `None` if there is none or it gives fewer bytes. The device is
/// initialised afresh on each call (and reset when dropped).
pub fn seed() -> Option<[u8; 32]> {
    // SAFETY: the kernel is single-threaded, and nothing else holds a PCI
    // root while this runs (at boot before the NICs start, later from the
    // main loop's periodic reseed, when configuration space is idle).
    let mut root = unsafe { pci::root() };
    let (function, _) = pci::devices(&root)
        .find(|(_, info)| virtio_device_type(info) == Some(DeviceType::EntropySource))?;
    pci::enable(&mut root, function);
    let transport = PciTransport::new::<IdentityHal, _>(&mut root, function).ok()?;
    let mut rng = VirtIORng::<IdentityHal, _>::new(transport).ok()?;
    let mut seed = [0u8; 32];
    let mut filled = 0;
    // The device may return fewer bytes than asked; a bounded number of
    // requests keeps a broken device from hanging the boot.
    for _ in 0..16 {
        if filled == seed.len() {
            break;
        }
        filled += rng.request_entropy(&mut seed[filled..]).ok()?;
    }
    (filled == seed.len()).then_some(seed)
}
