//! The kernel's random number generator: ChaCha20 with fast key erasure
//! (`crypto::ForwardSecureRng`), seeded from the CPU's RDSEED/RDRAND, or else
//! from a virtio-rng device, and reseeded from the same sources every five
//! minutes.
//!
//! WireGuard's ephemeral keys, indices and cookie secrets come from here.
//! Without a real entropy source they would be predictable, so the kernel
//! refuses to start instead of running without one. Fast key erasure means
//! a memory disclosure reveals no output already given (no past ephemeral
//! key), and the periodic reseed takes a disclosed state away again.

use core::sync::atomic::{AtomicU64, Ordering};
use crypto::ForwardSecureRng;
use rand_core::RngCore;
use spin::Mutex;

static RNG: Mutex<Option<ForwardSecureRng>> = Mutex::new(None);
/// Uptime (ns) of the next reseed.
static NEXT_RESEED: AtomicU64 = AtomicU64::new(0);
/// How often fresh entropy is mixed in.
const RESEED_INTERVAL_NANOS: u64 = 300_000_000_000;

/// Where the seed came from.
#[derive(Clone, Copy, Debug)]
pub enum Source {
    /// The RDSEED instruction (the CPU's entropy conditioner output).
    Rdseed,
    /// The RDRAND instruction (the CPU's DRBG).
    Rdrand,
    /// A virtio-rng device (the host's entropy).
    VirtioRng,
}

#[target_feature(enable = "rdseed")]
fn rdseed64() -> Option<u64> {
    let mut value = 0;
    for _ in 0..128 {
        if core::arch::x86_64::_rdseed64_step(&mut value) == 1 {
            return Some(value);
        }
        core::hint::spin_loop();
    }
    None
}

#[target_feature(enable = "rdrand")]
fn rdrand64() -> Option<u64> {
    let mut value = 0;
    for _ in 0..16 {
        if core::arch::x86_64::_rdrand64_step(&mut value) == 1 {
            return Some(value);
        }
    }
    None
}

/// Fills 32 bytes from one instruction, rejecting the stuck outputs some
/// faulty CPUs give (all words equal, e.g. all ones after a suspend bug).
fn seed_from(mut next: impl FnMut() -> Option<u64>) -> Option<[u8; 32]> {
    let mut words = [0u64; 4];
    for word in &mut words {
        *word = next()?;
    }
    if words.iter().all(|w| *w == words[0]) {
        return None;
    }
    let mut seed = [0u8; 32];
    for (chunk, word) in seed.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    Some(seed)
}

fn seed_from_cpu() -> Option<([u8; 32], Source)> {
    if crate::cpu::has_rdseed() {
        // SAFETY: CPUID reports RDSEED.
        if let Some(seed) = seed_from(|| unsafe { rdseed64() }) {
            return Some((seed, Source::Rdseed));
        }
    }
    if crate::cpu::has_rdrand() {
        // SAFETY: CPUID reports RDRAND.
        if let Some(seed) = seed_from(|| unsafe { rdrand64() }) {
            return Some((seed, Source::Rdrand));
        }
    }
    None
}

/// A seed from the first virtio-rng device (PCI or virtio-mmio).
fn seed_from_device() -> Option<([u8; 32], Source)> {
    drivers::virtio::rng::seed(&mut crate::devices::virtio_bus()).map(|s| (s, Source::VirtioRng))
}

/// Seeds the generator, or stops the machine if no source gives entropy.
pub fn init() {
    let seeded = seed_from_cpu().or_else(seed_from_device);
    let Some((seed, source)) = seeded else {
        crate::exit::fatal(format_args!(
            "no entropy source: the CPU has neither RDSEED nor RDRAND and no virtio-rng \
             device answered; refusing to start, since keys would be predictable \
             (add `-device virtio-rng-pci`, `-device virtio-rng-device` on microvm, or use a CPU model with RDRAND)"
        ));
    };
    *RNG.lock() = Some(ForwardSecureRng::new(seed));
    NEXT_RESEED.store(
        crate::time::uptime_nanos() + RESEED_INTERVAL_NANOS,
        Ordering::Relaxed,
    );
    log::info!("entropy: ChaCha20 CSPRNG (fast key erasure) seeded from {source:?}");
}

/// Mixes fresh entropy into the generator if five minutes have passed since
/// the last time (the main loop calls this as it runs).
pub fn reseed_if_due(now_nanos: u64) {
    if now_nanos < NEXT_RESEED.load(Ordering::Relaxed) {
        return;
    }
    NEXT_RESEED.store(now_nanos + RESEED_INTERVAL_NANOS, Ordering::Relaxed);
    let fresh = seed_from_cpu().or_else(seed_from_device);
    match (fresh, RNG.lock().as_mut()) {
        (Some((mut seed, source)), Some(rng)) => {
            rng.reseed(&seed);
            seed.fill(0);
            log::debug!("entropy: reseeded from {source:?}");
        }
        _ => log::warn!("entropy: no source answered; the generator runs on without a reseed"),
    }
}

/// Fills `buf` with random bytes.
pub fn fill(buf: &mut [u8]) {
    match RNG.lock().as_mut() {
        Some(rng) => rng.fill_bytes(buf),
        None => crate::exit::fatal(format_args!("random numbers requested before seeding")),
    }
}

/// The kernel CSPRNG as a `rand_core` generator, for the WireGuard engine.
pub struct KernelRng;

impl RngCore for KernelRng {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0u8; 4];
        fill(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        fill(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        fill(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        fill(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for KernelRng {}
