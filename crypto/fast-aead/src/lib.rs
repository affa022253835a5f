//! ChaCha20-Poly1305 (RFC 8439) for WireGuard transport messages, in one pass over the
//! message and with the backend chosen once, at boot, by measurement.
//!
//! * One pass: the message is cut into groups of 4, 8 or 16 ChaCha20 blocks (as many as the
//!   backend computes in parallel). While a group's ChaCha20 rounds run in the vector unit,
//!   Poly1305 runs in the general-purpose registers over ciphertext already in cache: the
//!   previous group's output when sealing, the group's own input when opening. The keystream
//!   is XORed into the message in place. That Poly1305 needs no precomputed key powers, so a
//!   64-byte message pays for nothing it does not use. The stretches no rounds can hide (a
//!   seal's last group, an open's first) are hashed, on AVX2 and from 320 bytes on, four
//!   blocks at a time in vector registers, with `r^2..r^4` computed then. Short messages and
//!   tails use narrower vectors (AVX2: two blocks per 256-bit register, for groups of up to
//!   four blocks) rather than computing 16 blocks for 2.
//! * Backends: portable Rust (always), SSE2, AVX2 and AVX-512 (F + VL) on x86_64.
//!   [`supported`] lists the ones this CPU and OS allow (CPUID and XCR0, read once);
//!   [`select_fastest`] times them and keeps the fastest; every [`Key`] operation then
//!   dispatches on one atomic byte. No per-message feature detection.
//! * `unsafe` is confined to this crate's x86 module: the vector intrinsics' loads and
//!   stores, CPUID/XGETBV, and calls into `#[target_feature]` functions, which are reachable
//!   only through a backend value created after the feature check.

#![no_std]
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

mod driver;
mod poly1305;
mod portable;
// The one module allowed `unsafe`: SIMD intrinsics and CPUID/XGETBV.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

use core::fmt;
use core::sync::atomic::{AtomicU8, Ordering};

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// An implementation of the AEAD; all produce identical output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Portable Rust, one block at a time. Always available.
    Portable,
    /// SSE2 (x86_64 baseline): 4 blocks per group.
    Sse2,
    /// AVX2: 8 blocks per group.
    Avx2,
    /// AVX-512 F and VL: 16 blocks per group, native rotates.
    Avx512,
}

/// Every backend, in order of preference when nothing was measured.
const ALL: [Backend; 4] = [
    Backend::Portable,
    Backend::Sse2,
    Backend::Avx2,
    Backend::Avx512,
];

impl Backend {
    /// A short lowercase name: `portable`, `sse2`, `avx2`, `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Portable => "portable",
            Backend::Sse2 => "sse2",
            Backend::Avx2 => "avx2",
            Backend::Avx512 => "avx512",
        }
    }

    fn code(self) -> u8 {
        match self {
            Backend::Portable => 0,
            Backend::Sse2 => 1,
            Backend::Avx2 => 2,
            Backend::Avx512 => 3,
        }
    }

    /// Whether this CPU can run the backend (CPUID and XCR0, checked once and cached).
    pub fn is_supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let f = x86::features();
            match self {
                Backend::Portable => true,
                Backend::Sse2 => f & x86::SSE2 != 0,
                Backend::Avx2 => f & x86::AVX2 != 0,
                Backend::Avx512 => f & x86::AVX512 != 0,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Backend::Portable
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The requested backend cannot run on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsupported(pub Backend);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AEAD backend {} is not supported by this CPU",
            self.0.name()
        )
    }
}

/// Authentication failed: the ciphertext, tag, nonce or associated data was not the one
/// sealed under this key. The buffer has been zeroed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenError;

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChaCha20-Poly1305 authentication failed")
    }
}

/// Backends this CPU can run (CPUID + XCR0 checked), portable first.
pub fn supported() -> impl Iterator<Item = Backend> + Clone {
    ALL.into_iter().filter(|b| b.is_supported())
}

/// No backend stored yet: the first operation stores the best supported one.
const UNSET: u8 = 0xff;
static BACKEND: AtomicU8 = AtomicU8::new(UNSET);

/// Makes `b` the backend of all [`Key`] operations (normally once, at boot, through
/// [`select_fastest`]).
pub fn set_backend(b: Backend) -> Result<(), Unsupported> {
    if !b.is_supported() {
        return Err(Unsupported(b));
    }
    BACKEND.store(b.code(), Ordering::Relaxed);
    Ok(())
}

/// The backend all [`Key`] operations use. Before [`set_backend`] or [`select_fastest`], the
/// widest supported one (decided on first use, then fixed).
pub fn backend() -> Backend {
    match BACKEND.load(Ordering::Relaxed) {
        0 => Backend::Portable,
        1 => Backend::Sse2,
        2 => Backend::Avx2,
        3 => Backend::Avx512,
        _ => {
            let b = supported().last().unwrap_or(Backend::Portable);
            // Another thread may have set one meanwhile; keep theirs.
            let _ = BACKEND.compare_exchange(UNSET, b.code(), Ordering::Relaxed, Ordering::Relaxed);
            backend()
        }
    }
}

/// A ChaCha20-Poly1305 key. Zeroized on drop; `Debug` does not show it.
#[derive(Clone)]
pub struct Key {
    words: [u32; 8],
}

impl Drop for Key {
    fn drop(&mut self) {
        self.words.zeroize();
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// The WireGuard transport nonce: 32 zero bits, then the counter in little-endian order.
fn wg_nonce(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    n
}

impl Key {
    /// A key from its 32 bytes.
    pub fn new(bytes: &[u8; 32]) -> Key {
        let mut words = [0u32; 8];
        for (w, b) in words.iter_mut().zip(bytes.chunks_exact(4)) {
            *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        Key { words }
    }

    /// Encrypts `buffer` in place under the WireGuard nonce for `counter` (32 zero bits,
    /// then the 64-bit little-endian counter) and returns the tag.
    #[inline]
    pub fn seal_in_place(&self, counter: u64, aad: &[u8], buffer: &mut [u8]) -> [u8; 16] {
        self.seal_in_place_with_nonce(&wg_nonce(counter), aad, buffer)
    }

    /// Checks `tag` and decrypts `buffer` in place under the WireGuard nonce for `counter`.
    /// The tag is compared in constant time; on failure `buffer` is zeroed.
    #[inline]
    pub fn open_in_place(
        &self,
        counter: u64,
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), OpenError> {
        self.open_in_place_with_nonce(&wg_nonce(counter), aad, buffer, tag)
    }

    /// [`Key::seal_in_place`] with an explicit 12-byte nonce (RFC 8439).
    ///
    /// # Panics
    /// If `buffer` is longer than the 256 GiB ChaCha20's 32-bit block counter allows.
    #[inline]
    pub fn seal_in_place_with_nonce(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> [u8; 16] {
        seal_with(backend_token(backend()), &self.words, nonce, aad, buffer)
    }

    /// [`Key::open_in_place`] with an explicit 12-byte nonce (RFC 8439).
    #[inline]
    pub fn open_in_place_with_nonce(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), OpenError> {
        open_with(
            backend_token(backend()),
            &self.words,
            nonce,
            aad,
            buffer,
            tag,
        )
    }

    /// [`Key::seal_in_place_with_nonce`] on a given backend rather than the global one
    /// (tests, benchmarks, the boot-time measurement).
    pub fn seal_with_backend(
        &self,
        backend: Backend,
        nonce: &[u8; 12],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; 16], Unsupported> {
        if !backend.is_supported() {
            return Err(Unsupported(backend));
        }
        Ok(seal_with(
            backend_token(backend),
            &self.words,
            nonce,
            aad,
            buffer,
        ))
    }

    /// [`Key::open_in_place_with_nonce`] on a given backend rather than the global one.
    /// The outer error is the backend's absence, the inner one authentication.
    pub fn open_with_backend(
        &self,
        backend: Backend,
        nonce: &[u8; 12],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<Result<(), OpenError>, Unsupported> {
        if !backend.is_supported() {
            return Err(Unsupported(backend));
        }
        Ok(open_with(
            backend_token(backend),
            &self.words,
            nonce,
            aad,
            buffer,
            tag,
        ))
    }
}

/// A backend whose support was checked: the only way to reach the SIMD kernels.
#[derive(Clone, Copy)]
enum Token {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Sse2(x86::Sse2),
    #[cfg(target_arch = "x86_64")]
    Avx2(x86::Avx2),
    #[cfg(target_arch = "x86_64")]
    Avx512(x86::Avx512),
}

/// `b` must be supported: it comes from [`backend`] (only ever set to a supported backend) or
/// was checked by the caller. An unsupported one falls back to portable code.
#[inline]
fn backend_token(b: Backend) -> Token {
    #[cfg(target_arch = "x86_64")]
    {
        let token = match b {
            Backend::Sse2 => x86::Sse2::detect().map(Token::Sse2),
            Backend::Avx2 => x86::Avx2::detect().map(Token::Avx2),
            Backend::Avx512 => x86::Avx512::detect().map(Token::Avx512),
            Backend::Portable => None,
        };
        token.unwrap_or(Token::Portable)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = b;
        Token::Portable
    }
}

#[inline]
fn seal_with(t: Token, key: &[u32; 8], nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
    match t {
        Token::Portable => driver::seal(portable::Portable, key, nonce, aad, buf),
        #[cfg(target_arch = "x86_64")]
        Token::Sse2(k) => driver::seal(k, key, nonce, aad, buf),
        #[cfg(target_arch = "x86_64")]
        Token::Avx2(k) => driver::seal(k, key, nonce, aad, buf),
        #[cfg(target_arch = "x86_64")]
        Token::Avx512(k) => driver::seal(k, key, nonce, aad, buf),
    }
}

#[inline]
fn open_with(
    t: Token,
    key: &[u32; 8],
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; 16],
) -> Result<(), OpenError> {
    let computed = match t {
        Token::Portable => driver::open(portable::Portable, key, nonce, aad, buf),
        #[cfg(target_arch = "x86_64")]
        Token::Sse2(k) => driver::open(k, key, nonce, aad, buf),
        #[cfg(target_arch = "x86_64")]
        Token::Avx2(k) => driver::open(k, key, nonce, aad, buf),
        #[cfg(target_arch = "x86_64")]
        Token::Avx512(k) => driver::open(k, key, nonce, aad, buf),
    };
    if bool::from(computed.ct_eq(tag)) {
        Ok(())
    } else {
        // Decryption ran in the same pass as authentication: never leave plaintext behind.
        buf.zeroize();
        Err(OpenError)
    }
}

/// One message of a [`seal_batch`] call.
pub struct SealItem<'a> {
    /// The key to seal under.
    pub key: &'a Key,
    /// The WireGuard counter (nonce).
    pub counter: u64,
    /// Associated data (empty for WireGuard transport messages).
    pub aad: &'a [u8],
    /// The plaintext, encrypted in place.
    pub buffer: &'a mut [u8],
    /// Output: the tag.
    pub tag: [u8; 16],
}

/// Seals several messages (same or different keys) in one call, with the global backend.
///
/// Currently a loop over single seals: each message already fills the vector lanes it
/// needs (a 64-byte message computes its 2 blocks in one 4-lane group), so what batching
/// could still save is the unused lanes of short messages.
pub fn seal_batch(items: &mut [SealItem<'_>]) {
    let t = backend_token(backend());
    for it in items.iter_mut() {
        it.tag = seal_with(t, &it.key.words, &wg_nonce(it.counter), it.aad, it.buffer);
    }
}

/// One backend's figures from [`select_fastest`], in the caller's clock units per seal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measurement {
    /// The backend measured.
    pub backend: Backend,
    /// Clock units per seal of a 1420-byte message (the best of the rounds).
    pub per_seal_1420: u64,
    /// Clock units per seal of a 64-byte message (the best of the rounds).
    pub per_seal_64: u64,
}

/// What [`select_fastest`] measured and chose; `Display` prints one line for the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selection {
    /// The backend now in use.
    pub chosen: Backend,
    /// The figures of each supported backend, in [`supported`] order; `None` past the end.
    pub measurements: [Option<Measurement>; 4],
}

impl Selection {
    /// The measured backends.
    pub fn iter(&self) -> impl Iterator<Item = &Measurement> {
        self.measurements.iter().flatten()
    }
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AEAD backend {} (clock units per seal, 1420 B / 64 B:",
            self.chosen.name()
        )?;
        for m in self.iter() {
            write!(
                f,
                " {} {}/{}",
                m.backend.name(),
                m.per_seal_1420,
                m.per_seal_64
            )?;
        }
        f.write_str(")")
    }
}

/// Rounds over which each backend's budget is spread (interleaved, so that a disturbance
/// hits one round and not one backend); each figure is the best round.
const ROUNDS: u64 = 4;

/// Times each supported backend for about `budget` clock units (a caller-supplied
/// clock: nanoseconds or TSC cycles) on 1420-byte and 64-byte seals, makes the fastest the
/// global backend and returns the figures.
///
/// "Fastest" weighs both sizes equally: each backend's cost at a size is divided by the best
/// cost at that size, and the smallest sum of the two ratios wins.
pub fn select_fastest(mut clock: impl FnMut() -> u64, budget: u64) -> Selection {
    let key = Key::new(&[0x5a; 32]);
    let mut buf = [0u8; 1420];
    let mut measurements = [None; 4];
    let per_round = (budget / ROUNDS / 2).max(1);
    for (slot, b) in measurements.iter_mut().zip(supported()) {
        *slot = Some(Measurement {
            backend: b,
            per_seal_1420: u64::MAX,
            per_seal_64: u64::MAX,
        });
    }
    let mut counter = 0u64;
    for _ in 0..ROUNDS {
        for m in measurements.iter_mut().flatten() {
            let t = backend_token(m.backend);
            for (len, best) in [(1420usize, &mut m.per_seal_1420), (64, &mut m.per_seal_64)] {
                // Warm up (caches, and the upper vector halves' power-up on some CPUs).
                seal_with(t, &key.words, &wg_nonce(counter), &[], &mut buf[..len]);
                let start = clock();
                let mut n = 0u64;
                let mut now;
                loop {
                    counter += 1;
                    let tag = seal_with(t, &key.words, &wg_nonce(counter), &[], &mut buf[..len]);
                    buf[0] ^= tag[0];
                    n += 1;
                    now = clock();
                    if now.wrapping_sub(start) >= per_round {
                        break;
                    }
                }
                *best = (*best).min(now.wrapping_sub(start) / n);
            }
        }
    }
    let best = |f: fn(&Measurement) -> u64| {
        measurements
            .iter()
            .flatten()
            .map(f)
            .min()
            .unwrap_or(1)
            .max(1)
    };
    let (b1420, b64) = (best(|m| m.per_seal_1420), best(|m| m.per_seal_64));
    // Score in thousandths of the best figure at each size.
    let score = |m: &Measurement| {
        (m.per_seal_1420 as u128 * 1000 / b1420 as u128)
            + (m.per_seal_64 as u128 * 1000 / b64 as u128)
    };
    let chosen = measurements
        .iter()
        .flatten()
        .min_by_key(|m| score(m))
        .map(|m| m.backend)
        .unwrap_or(Backend::Portable);
    // Every measured backend came from `supported()`.
    let _ = set_backend(chosen);
    Selection {
        chosen,
        measurements,
    }
}
