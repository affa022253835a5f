//! x86_64 SIMD backends and the CPU feature check that guards them.
//!
//! ChaCha20 runs "vertically": vector register `i` holds state word `i` of 4, 8 or 16
//! consecutive blocks (one block per 32-bit lane), so the rounds need no shuffles between the
//! column and diagonal steps; the blocks are transposed back to byte order once, at the end,
//! and XORed into the message 16, 32 or 64 bytes at a time. Poly1305 runs in the
//! general-purpose registers between the double rounds (see `crate::driver`).
//!
//! AVX2 specifics: groups of up to four blocks run "horizontally", two blocks per register
//! (`h2`), where the vertical layout would compute four or eight blocks for one or two; the
//! stretches of Poly1305 that no rounds hide are hashed four blocks at a time (`poly4`); and
//! the byte rotates and 32-bit multiplies are issued through `asm!` so that LLVM cannot
//! rewrite them into slower sequences. The AVX2 backend also requires BMI2 (MULX, for the
//! scalar Poly1305), which AVX2 CPUs have; one without it would get SSE2.
//!
//! Every `#[target_feature]` function here is private to its module; the only way to reach
//! one is a `Kernel` value (`Sse2`, `Avx2`, `Avx512`), and those are created only by
//! `crate::kernel_for`, after `features()` reported the feature.

use core::sync::atomic::{AtomicU8, Ordering};

#[macro_use]
mod kernel;
mod h2;
mod poly4;
mod x16;
mod x4;
mod x8;

use crate::driver::{Group, Kernel};
use crate::poly1305::Poly;

pub(crate) const SSE2: u8 = 1;
pub(crate) const AVX2: u8 = 2;
pub(crate) const AVX512: u8 = 4;
const DETECTED: u8 = 0x80;

static FEATURES: AtomicU8 = AtomicU8::new(0);

/// The backends this CPU (and the OS's XCR0 setting) allows, as `SSE2 | AVX2 | AVX512` bits.
/// CPUID runs once; the answer is cached.
pub(crate) fn features() -> u8 {
    let f = FEATURES.load(Ordering::Relaxed);
    if f & DETECTED != 0 {
        return f & !DETECTED;
    }
    let f = detect();
    FEATURES.store(f | DETECTED, Ordering::Relaxed);
    f
}

/// XCR0: which register states the OS saves and restores (and so lets programs use).
///
/// # Safety
/// The CPU must support XGETBV: CPUID.1:ECX.OSXSAVE[bit 27] set.
#[target_feature(enable = "xsave")]
unsafe fn xcr0() -> u64 {
    // SAFETY: the caller checked OSXSAVE, so XGETBV with ECX = 0 is defined.
    unsafe { core::arch::x86_64::_xgetbv(0) }
}

fn detect() -> u8 {
    use core::arch::x86_64::__cpuid_count;
    let max_leaf = __cpuid_count(0, 0).eax;
    let l1 = __cpuid_count(1, 0);
    let mut f = 0;
    if l1.edx & (1 << 26) != 0 {
        f |= SSE2;
    }
    let osxsave = l1.ecx & (1 << 27) != 0;
    let avx = l1.ecx & (1 << 28) != 0;
    if !osxsave || !avx || max_leaf < 7 {
        return f;
    }
    // SAFETY: OSXSAVE is set, checked just above.
    let xcr0 = unsafe { xcr0() };
    // XMM (bit 1) and YMM (bit 2) state enabled by the OS.
    if xcr0 & 0b110 != 0b110 {
        return f;
    }
    let l7 = __cpuid_count(7, 0);
    // AVX2 (bit 5), with BMI2 (bit 8: MULX for the scalar Poly1305 beside the vector rounds).
    if l7.ebx & (1 << 5) != 0 && l7.ebx & (1 << 8) != 0 {
        f |= AVX2;
    }
    // AVX-512F (bit 16) and VL (bit 31), and opmask, ZMM_Hi256 and Hi16_ZMM state (bits 5-7).
    let avx512 = l7.ebx & (1 << 16) != 0 && l7.ebx & (1 << 31) != 0;
    if f & AVX2 != 0 && avx512 && xcr0 & 0xe0 == 0xe0 {
        f |= AVX512;
    }
    f
}

/// The SSE2 backend: 4 blocks per group.
#[derive(Clone, Copy)]
pub(crate) struct Sse2(());

/// The AVX2 (+ BMI2) backend: 8 blocks per group (2 or 4, horizontally, for short ones).
#[derive(Clone, Copy)]
pub(crate) struct Avx2(());

/// The AVX-512 (F + VL) backend: 16 blocks per group (8 or 4 for short tails).
#[derive(Clone, Copy)]
pub(crate) struct Avx512(());

impl Sse2 {
    /// The backend, if `features()` (cached CPUID/XCR0) reports SSE2: the
    /// only safe way to get one.
    pub(crate) fn detect() -> Option<Self> {
        (features() & SSE2 != 0).then_some(Sse2(()))
    }
}

impl Avx2 {
    /// The backend, if `features()` (cached CPUID/XCR0) reports AVX2 (CPU and XCR0): the
    /// only safe way to get one.
    pub(crate) fn detect() -> Option<Self> {
        (features() & AVX2 != 0).then_some(Avx2(()))
    }
}

impl Avx512 {
    /// The backend, if `features()` (cached CPUID/XCR0) reports AVX-512 F+VL (CPU and XCR0): the
    /// only safe way to get one.
    pub(crate) fn detect() -> Option<Self> {
        (features() & AVX512 != 0).then_some(Avx512(()))
    }
}

impl Kernel for Sse2 {
    const MAX: usize = 4;

    #[inline]
    fn run(self, st: &[u32; 16], ctr: u32, nblocks: usize, g: &mut Group<'_>) {
        if nblocks <= 2 {
            // SAFETY: an `Sse2` exists only where SSE2 was detected (`detect` is
            // the only way to make one).
            unsafe { h2::sse2::run(st, ctr, nblocks, g) }
        } else {
            // SAFETY: as above.
            unsafe { x4::sse2::run(st, ctr, nblocks, g) }
        }
    }
}

impl Kernel for Avx2 {
    const MAX: usize = 8;

    #[inline]
    fn run(self, st: &[u32; 16], ctr: u32, nblocks: usize, g: &mut Group<'_>) {
        if nblocks <= 4 {
            // SAFETY: an `Avx2` exists only where AVX2 was detected and enabled in XCR0.
            unsafe { h2::avx2::run(st, ctr, nblocks, g) }
        } else {
            // SAFETY: as above.
            unsafe { x8::avx2::run(st, ctr, nblocks, g) }
        }
    }

    #[inline]
    fn update_padded(self, poly: &mut Poly, data: &[u8]) {
        // SAFETY: an `Avx2` exists only where AVX2 was detected and enabled in XCR0.
        unsafe { poly4::update_padded(poly, data) }
    }
}

impl Kernel for Avx512 {
    const MAX: usize = 16;
    const FIRST: usize = 8;

    #[inline]
    fn run(self, st: &[u32; 16], ctr: u32, nblocks: usize, g: &mut Group<'_>) {
        if nblocks <= 4 {
            // SAFETY: an `Avx512` exists only where AVX-512 F and VL (and AVX2) were detected
            // and their register state is enabled in XCR0.
            unsafe { x4::avx512::run(st, ctr, nblocks, g) }
        } else if nblocks <= 8 {
            // SAFETY: as above.
            unsafe { x8::avx512::run(st, ctr, nblocks, g) }
        } else {
            // SAFETY: as above.
            unsafe { x16::avx512::run(st, ctr, nblocks, g) }
        }
    }
}
