//! CPU feature queries the kernel makes after boot.

use core::arch::x86_64::{__cpuid, __cpuid_count};

/// CPUID.1:ECX bit 30.
pub fn has_rdrand() -> bool {
    leaf1_ecx() & (1 << 30) != 0
}

/// CPUID.7.0:EBX bit 18.
pub fn has_rdseed() -> bool {
    max_leaf() >= 7 && leaf7_ebx() & (1 << 18) != 0
}

/// CPUID.1:ECX bit 28.
pub fn has_avx() -> bool {
    leaf1_ecx() & (1 << 28) != 0
}

/// The TSC frequency from CPUID leaf 0x15, where the CPU reports it.
pub fn tsc_hz_from_cpuid() -> Option<u64> {
    if max_leaf() < 0x15 {
        return None;
    }
    let leaf = __cpuid(0x15);
    let (denominator, numerator, crystal_hz) = (leaf.eax, leaf.ebx, leaf.ecx);
    if denominator == 0 || numerator == 0 || crystal_hz == 0 {
        return None;
    }
    Some(u64::from(crystal_hz) * u64::from(numerator) / u64::from(denominator))
}

fn max_leaf() -> u32 {
    __cpuid(0).eax
}

fn leaf1_ecx() -> u32 {
    __cpuid(1).ecx
}

fn leaf7_ebx() -> u32 {
    __cpuid_count(7, 0).ebx
}

/// Whether the boot path turned AVX state on (CR4.OSXSAVE and XCR0 YMM).
pub fn avx_enabled() -> bool {
    use x86_64::registers::control::{Cr4, Cr4Flags};
    if !has_avx() || !Cr4::read().contains(Cr4Flags::OSXSAVE) {
        return false;
    }
    // SAFETY: XGETBV is available because CR4.OSXSAVE is set.
    let xcr0 = unsafe { core::arch::x86_64::_xgetbv(0) };
    xcr0 & 0b110 == 0b110
}
