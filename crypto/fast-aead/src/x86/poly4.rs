//! Poly1305 four blocks at a time in AVX2: 26-bit limbs in the 64-bit lanes of five `ymm`
//! registers, one lane per block, multiplied by `r^4` each step with `vpmuludq` (Goll and
//! Gueron, "Vectorization of Poly1305 message authentication code"). Used for the stretches
//! of a long message that the scalar chain would hash alone (the tail of a seal, the first
//! group of an open), where its throughput beats the scalar chain's latency. The key powers
//! `r^2 .. r^4` are computed (two vector multiplications) only when such a stretch comes, so
//! short messages never pay for them.

use core::arch::x86_64::*;

use crate::poly1305::{Poly, M26};

type V = __m256i;

/// The shortest stretch (bytes of full 64-byte chunks) hashed by the vector code; below it
/// the scalar chain is faster than computing `r^2 .. r^4` and combining the lanes.
pub(crate) const MIN: usize = 320;

#[inline]
#[target_feature(enable = "avx2,bmi2")]
fn splat(x: u64) -> V {
    _mm256_set1_epi64x(x as i64)
}

/// `vpmuludq`, the low 32 bits of each 64-bit lane multiplied, as an opaque instruction:
/// LLVM otherwise rewrites the intrinsic into a full 64-bit multiplication and, unable to
/// prove the upper halves zero, lowers that into three `vpmuludq` and four shifts and adds.
#[inline]
#[target_feature(enable = "avx2,bmi2")]
fn mul32(a: V, b: V) -> V {
    let r: V;
    // SAFETY: VPMULUDQ on registers only (AVX2 is enabled for this function): no memory
    // access, no flags, no stack.
    unsafe {
        core::arch::asm!(
            "vpmuludq {r}, {a}, {b}",
            r = lateout(ymm_reg) r,
            a = in(ymm_reg) a,
            b = in(ymm_reg) b,
            options(pure, nomem, nostack, preserves_flags)
        )
    };
    r
}

/// `h · r` per lane, limbs carried once (limb 1 and 4 may exceed 26 bits a little).
/// `s[i] = 5 · r[i]` (index 0 unused).
#[inline]
#[target_feature(enable = "avx2,bmi2")]
fn mul(h: &[V; 5], r: &[V; 5], s: &[V; 5]) -> [V; 5] {
    let m = |a: V, b: V| mul32(a, b);
    let a = |x: V, y: V| _mm256_add_epi64(x, y);
    [
        a(
            a(m(h[0], r[0]), m(h[1], s[4])),
            a(a(m(h[2], s[3]), m(h[3], s[2])), m(h[4], s[1])),
        ),
        a(
            a(m(h[0], r[1]), m(h[1], r[0])),
            a(a(m(h[2], s[4]), m(h[3], s[3])), m(h[4], s[2])),
        ),
        a(
            a(m(h[0], r[2]), m(h[1], r[1])),
            a(a(m(h[2], r[0]), m(h[3], s[4])), m(h[4], s[3])),
        ),
        a(
            a(m(h[0], r[3]), m(h[1], r[2])),
            a(a(m(h[2], r[1]), m(h[3], r[0])), m(h[4], s[4])),
        ),
        a(
            a(m(h[0], r[4]), m(h[1], r[3])),
            a(a(m(h[2], r[2]), m(h[3], r[1])), m(h[4], r[0])),
        ),
    ]
}

/// One carry pass in two interleaved chains (0→1→2→3 and 3→4→0→1).
#[inline]
#[target_feature(enable = "avx2,bmi2")]
fn carry(mut d: [V; 5]) -> [V; 5] {
    let mask = splat(M26);
    let c0 = _mm256_srli_epi64(d[0], 26);
    let c3 = _mm256_srli_epi64(d[3], 26);
    d[0] = _mm256_and_si256(d[0], mask);
    d[3] = _mm256_and_si256(d[3], mask);
    d[1] = _mm256_add_epi64(d[1], c0);
    d[4] = _mm256_add_epi64(d[4], c3);
    let c1 = _mm256_srli_epi64(d[1], 26);
    let c4 = _mm256_srli_epi64(d[4], 26);
    d[1] = _mm256_and_si256(d[1], mask);
    d[4] = _mm256_and_si256(d[4], mask);
    d[2] = _mm256_add_epi64(d[2], c1);
    d[0] = _mm256_add_epi64(d[0], _mm256_add_epi64(c4, _mm256_slli_epi64(c4, 2)));
    let c2 = _mm256_srli_epi64(d[2], 26);
    let c0 = _mm256_srli_epi64(d[0], 26);
    d[2] = _mm256_and_si256(d[2], mask);
    d[0] = _mm256_and_si256(d[0], mask);
    d[3] = _mm256_add_epi64(d[3], c2);
    d[1] = _mm256_add_epi64(d[1], c0);
    let c3 = _mm256_srli_epi64(d[3], 26);
    d[3] = _mm256_and_si256(d[3], mask);
    d[4] = _mm256_add_epi64(d[4], c3);
    d
}

/// Four 16-byte blocks as 26-bit limbs with the 2^128 bit set, lanes in block order
/// 0, 2, 1, 3.
#[inline]
#[target_feature(enable = "avx2,bmi2")]
fn message(c: &[u8; 64]) -> [V; 5] {
    let p = c.as_ptr().cast::<V>();
    // SAFETY: `c` is 64 readable bytes; unaligned loads are allowed.
    let (lo, hi) = unsafe { (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1))) };
    // Lanes: the low (t0) and high (t1) 64 bits of blocks 0, 2, 1, 3.
    let t0 = _mm256_unpacklo_epi64(lo, hi);
    let t1 = _mm256_unpackhi_epi64(lo, hi);
    let mask = splat(M26);
    [
        _mm256_and_si256(t0, mask),
        _mm256_and_si256(_mm256_srli_epi64(t0, 26), mask),
        _mm256_and_si256(
            _mm256_or_si256(_mm256_srli_epi64(t0, 52), _mm256_slli_epi64(t1, 12)),
            mask,
        ),
        _mm256_and_si256(_mm256_srli_epi64(t1, 14), mask),
        _mm256_or_si256(_mm256_srli_epi64(t1, 40), splat(1 << 24)),
    ]
}

#[inline]
#[target_feature(enable = "avx2,bmi2")]
fn times5(a: &[V; 5]) -> [V; 5] {
    let f = |x: V| _mm256_add_epi64(x, _mm256_slli_epi64(x, 2));
    [a[0], f(a[1]), f(a[2]), f(a[3]), f(a[4])]
}

/// From `r` (26-bit limbs): the lanes' final powers `r^4, r^2, r^3, r^1` and `r^4` in every
/// lane, with two vector multiplications.
#[inline]
#[target_feature(enable = "avx2,bmi2")]
fn powers(r: &[u64; 5]) -> ([V; 5], [V; 5]) {
    let r1 = [
        splat(r[0]),
        splat(r[1]),
        splat(r[2]),
        splat(r[3]),
        splat(r[4]),
    ];
    let r2 = carry(mul(&r1, &r1, &times5(&r1)));
    // Multipliers r^2, 1, r, 1: lanes r^4, r^2, r^3, r^2 (the last replaced by r below).
    let one = _mm256_set_epi64x(1, 0, 1, 0);
    let zero = _mm256_setzero_si256();
    let mix = |i: usize| {
        // 64-bit lanes: 0 from r2, 1 = `one`/zero, 2 from r1, 3 = `one`/zero.
        let a = _mm256_blend_epi32(r2[i], r1[i], 0x30);
        _mm256_blend_epi32(a, if i == 0 { one } else { zero }, 0xcc)
    };
    let m = [mix(0), mix(1), mix(2), mix(3), mix(4)];
    let p = carry(mul(&r2, &m, &times5(&m)));
    let last = |i: usize| _mm256_blend_epi32(p[i], r1[i], 0xc0);
    let lanes = [last(0), last(1), last(2), last(3), last(4)];
    let r4 = |i: usize| _mm256_permute4x64_epi64(p[i], 0);
    (lanes, [r4(0), r4(1), r4(2), r4(3), r4(4)])
}

#[inline]
#[target_feature(enable = "avx2,bmi2")]
fn add5(a: [V; 5], b: [V; 5]) -> [V; 5] {
    [
        _mm256_add_epi64(a[0], b[0]),
        _mm256_add_epi64(a[1], b[1]),
        _mm256_add_epi64(a[2], b[2]),
        _mm256_add_epi64(a[3], b[3]),
        _mm256_add_epi64(a[4], b[4]),
    ]
}

/// Absorbs `data` zero-padded to 16 bytes, as `Poly::update_padded`: stretches of at least
/// [`MIN`] bytes four blocks at a time, the rest (and short data) with the scalar code.
#[target_feature(enable = "avx2,bmi2")]
pub(crate) fn update_padded(poly: &mut Poly, data: &[u8]) {
    let full = data.len() & !63;
    if full < MIN {
        poly.update_padded(data);
        return;
    }
    // Lane 0 starts from the accumulator so far.
    let h0 = poly.acc26();
    let start = [
        _mm256_set_epi64x(0, 0, 0, h0[0] as i64),
        _mm256_set_epi64x(0, 0, 0, h0[1] as i64),
        _mm256_set_epi64x(0, 0, 0, h0[2] as i64),
        _mm256_set_epi64x(0, 0, 0, h0[3] as i64),
        _mm256_set_epi64x(0, 0, 0, h0[4] as i64),
    ];
    let (pr, r) = powers(&poly.r26());
    let ps = times5(&pr);
    let s = times5(&r);
    let mut chunks = data[..full].as_chunks::<64>().0.iter();
    let mut h = start;
    if let Some(c) = chunks.next() {
        h = add5(h, message(c));
    }
    for c in chunks {
        h = carry(add5(mul(&h, &r, &s), message(c)));
    }
    // Each lane times its final power, then the lanes are summed.
    let h = carry(mul(&h, &pr, &ps));
    let mut lanes = [[0u64; 4]; 5];
    for (l, v) in lanes.iter_mut().zip(h.iter()) {
        // SAFETY: `l` is 32 writable bytes; unaligned stores are allowed.
        unsafe { _mm256_storeu_si256(l.as_mut_ptr().cast(), *v) };
    }
    poly.set_from_lanes(&lanes);
    poly.update_padded(&data[full..]);
}

#[cfg(test)]
mod tests {
    use crate::driver::Kernel;
    use crate::poly1305::Poly;
    use crate::x86::Avx2;

    /// The four-lane code against the scalar chain: every length up to 1100 bytes around and
    /// past [`super::MIN`], after a scalar prefix (so lane 0 starts non-zero), with extreme
    /// keys and data (all-ones limbs stress the carries) and a mixed pattern.
    #[test]
    fn four_lanes_equal_scalar() {
        let Some(k) = Avx2::detect() else { return };
        let mut mixed = [0u8; 1100];
        for (i, b) in mixed.iter_mut().enumerate() {
            *b = (i as u32).wrapping_mul(2_654_435_761).rotate_right(13) as u8;
        }
        let ones = [0xffu8; 1100];
        let keys: [[u8; 32]; 3] = [[0xff; 32], [0x01; 32], {
            let mut k = [0u8; 32];
            k[..16].copy_from_slice(&mixed[7..23]);
            k[16..].copy_from_slice(&[0xee; 16]);
            k
        }];
        for key in &keys {
            for data in [&ones, &mixed] {
                for prefix in [0usize, 16, 48] {
                    for len in (0..=1100 - prefix).step_by(if prefix == 16 { 1 } else { 16 }) {
                        let msg = &data[prefix..prefix + len];
                        let mut a = Poly::default();
                        let mut b = Poly::default();
                        a.init(key);
                        b.init(key);
                        a.update_padded(&data[..prefix]);
                        b.update_padded(&data[..prefix]);
                        a.update_padded(msg);
                        k.update_padded(&mut b, msg);
                        assert_eq!(
                            a.finish(prefix, len),
                            b.finish(prefix, len),
                            "length {len} after {prefix}"
                        );
                    }
                }
            }
        }
    }
}
