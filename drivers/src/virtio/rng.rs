//! Entropy from a virtio-rng device: the fallback seed source for CPUs
//! without RDSEED/RDRAND.

use super::{IdentityHal, VirtioBus};
use virtio_drivers::device::rng::VirtIORng;
use virtio_drivers::transport::DeviceType;

/// Reads 32 bytes from the first virtio-rng device on `bus`, or returns
/// `None` if there is none or it gives fewer bytes. The device is
/// initialised afresh on each call (and reset when dropped).
pub fn seed(bus: &mut VirtioBus) -> Option<[u8; 32]> {
    let location = bus.find(DeviceType::EntropySource).first().copied()?;
    let transport = bus.transport(location).ok()?;
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
