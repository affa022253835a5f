//! Poly1305 (RFC 8439 §2.5) in 64-bit limbs, for the AEAD construction only.
//!
//! In ChaCha20-Poly1305 every block the MAC sees is a full 16-byte block (associated data
//! and ciphertext are zero-padded, then come the two lengths), so the "high bit" is always
//! set and there is no partial-block path. The accumulator is `h0 + h1·2^64 + h2·2^128`,
//! kept partially reduced (h2 small); the key is `r0 + r1·2^64`, clamped, so `r1` is a
//! multiple of 4 and `r1·2^128 ≡ (r1 + r1/4)·2^0 (mod 2^130 - 5)`.
//!
//! This scalar code runs in the general-purpose registers and multiplier, so when the
//! backends interleave it with the vector ChaCha20 rounds the two proceed in parallel on
//! different execution ports. No powers of `r` are precomputed, so a short message pays for
//! nothing but its own blocks. (A two-blocks-per-step variant with `r²` in 44-bit limbs,
//! which halves the dependency chain, measured no faster on the development machine,
//! interleaved or not, and was dropped.) The stretches that no rounds hide are hashed by the
//! AVX2 backend four blocks at a time (`crate::x86::poly4`, which computes `r^2..r^4` then);
//! the helpers below in 26-bit limbs convert between the two representations.

use zeroize::Zeroize;

/// A Poly1305 state: key (`r`, `s`) and the accumulator.
#[derive(Default)]
pub(crate) struct Poly {
    r0: u64,
    r1: u64,
    /// `r1 + r1/4`
    s1: u64,
    h0: u64,
    h1: u64,
    h2: u64,
    pad0: u64,
    pad1: u64,
}

/// `2^26 - 1`
pub(crate) const M26: u64 = (1 << 26) - 1;

/// Carries 26-bit limbs once around (the top carry re-enters limb 0 times 5).
fn carry26(d: &mut [u64; 5]) {
    for i in 0..4 {
        d[i + 1] += d[i] >> 26;
        d[i] &= M26;
    }
    d[0] += (d[4] >> 26) * 5;
    d[4] &= M26;
    d[1] += d[0] >> 26;
    d[0] &= M26;
}

/// A 130-bit value (`h2` small) in 26-bit limbs.
pub(crate) fn to26(h0: u64, h1: u64, h2: u64) -> [u64; 5] {
    [
        h0 & M26,
        (h0 >> 26) & M26,
        ((h0 >> 52) | (h1 << 12)) & M26,
        (h1 >> 14) & M26,
        (h1 >> 40) | (h2 << 24),
    ]
}

#[inline(always)]
fn mul(a: u64, b: u64) -> u128 {
    (a as u128) * (b as u128)
}

#[inline(always)]
fn le64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

impl Poly {
    /// Keyed with the first 32 bytes of ChaCha20 block 0.
    #[inline(always)]
    pub(crate) fn init(&mut self, key: &[u8]) {
        self.r0 = le64(&key[0..8]) & 0x0fff_fffc_0fff_ffff;
        self.r1 = le64(&key[8..16]) & 0x0fff_fffc_0fff_fffc;
        self.s1 = self.r1 + (self.r1 >> 2);
        self.pad0 = le64(&key[16..24]);
        self.pad1 = le64(&key[24..32]);
        self.h0 = 0;
        self.h1 = 0;
        self.h2 = 0;
    }

    /// `r` in 26-bit limbs, for the four-lane code.
    pub(crate) fn r26(&self) -> [u64; 5] {
        to26(self.r0, self.r1, 0)
    }

    /// The accumulator in 26-bit limbs, for the four-lane code to start from (in lane 0).
    pub(crate) fn acc26(&self) -> [u64; 5] {
        to26(self.h0, self.h1, self.h2)
    }

    /// Takes back the accumulator from the four-lane code: the sum of its lanes after their
    /// final powers, `lanes[i][j]` being limb `i` of lane `j` (each below about `2^27`).
    pub(crate) fn set_from_lanes(&mut self, lanes: &[[u64; 4]; 5]) {
        let mut l = [0u64; 5];
        for (s, limb) in l.iter_mut().zip(lanes.iter()) {
            *s = limb.iter().sum();
        }
        carry26(&mut l);
        let t = l[0] as u128 + ((l[1] as u128) << 26) + ((l[2] as u128) << 52);
        self.h0 = t as u64;
        let t = (t >> 64) + ((l[3] as u128) << 14) + ((l[4] as u128) << 40);
        self.h1 = t as u64;
        self.h2 = (t >> 64) as u64;
    }

    /// Absorbs full 16-byte blocks (the length must be a multiple of 16).
    #[inline(always)]
    pub(crate) fn blocks(&mut self, data: &[u8]) {
        debug_assert!(data.len().is_multiple_of(16));
        for m in data.chunks_exact(16) {
            self.block(m);
        }
    }

    /// h = (h + m)·r for one full block.
    #[inline(always)]
    fn block(&mut self, m: &[u8]) {
        let (r0, r1, s1) = (self.r0, self.r1, self.s1);
        let t = self.h0 as u128 + le64(&m[0..8]) as u128;
        let h0 = t as u64;
        let t = self.h1 as u128 + le64(&m[8..16]) as u128 + (t >> 64);
        let h1 = t as u64;
        let h2 = self.h2 + (t >> 64) as u64 + 1;
        let d0 = mul(h0, r0) + mul(h1, s1);
        let d1 = mul(h0, r1) + mul(h1, r0) + (h2 * s1) as u128 + (d0 >> 64);
        let d2 = h2 * r0 + (d1 >> 64) as u64;
        let c = (d2 >> 2) + (d2 & !3);
        let t = (d0 as u64) as u128 + c as u128;
        self.h0 = t as u64;
        let t = (d1 as u64) as u128 + (t >> 64);
        self.h1 = t as u64;
        self.h2 = (d2 & 3) + (t >> 64) as u64;
    }

    /// Absorbs `data` zero-padded to a multiple of 16 bytes.
    #[inline(always)]
    pub(crate) fn update_padded(&mut self, data: &[u8]) {
        let full = data.len() & !15;
        self.blocks(&data[..full]);
        if full != data.len() {
            let mut last = [0u8; 16];
            last[..data.len() - full].copy_from_slice(&data[full..]);
            self.block(&last);
        }
    }

    /// Absorbs the final lengths block and returns the tag.
    #[inline(always)]
    pub(crate) fn finish(&mut self, aad_len: usize, ct_len: usize) -> [u8; 16] {
        let mut last = [0u8; 16];
        last[..8].copy_from_slice(&(aad_len as u64).to_le_bytes());
        last[8..].copy_from_slice(&(ct_len as u64).to_le_bytes());
        self.block(&last);
        // Fully reduce: h < 2^130 + small; compute h + 5 and take it if it reaches 2^130.
        let (mut h0, mut h1, mut h2) = (self.h0, self.h1, self.h2);
        let c = (h2 >> 2) * 5;
        h2 &= 3;
        let t = h0 as u128 + c as u128;
        h0 = t as u64;
        let t = h1 as u128 + (t >> 64);
        h1 = t as u64;
        h2 += (t >> 64) as u64;
        let t = h0 as u128 + 5;
        let g0 = t as u64;
        let t = h1 as u128 + (t >> 64);
        let g1 = t as u64;
        let g2 = h2 + (t >> 64) as u64;
        // mask = all ones if g2 >= 4 (h + 5 ≥ 2^130), selected without a branch.
        let mask = 0u64.wrapping_sub(g2 >> 2);
        h0 = (h0 & !mask) | (g0 & mask);
        h1 = (h1 & !mask) | (g1 & mask);
        let t = h0 as u128 + self.pad0 as u128;
        let t0 = t as u64;
        let t1 = (h1 as u128 + self.pad1 as u128 + (t >> 64)) as u64;
        let mut tag = [0u8; 16];
        tag[..8].copy_from_slice(&t0.to_le_bytes());
        tag[8..].copy_from_slice(&t1.to_le_bytes());
        self.zeroize();
        tag
    }
}

impl Zeroize for Poly {
    fn zeroize(&mut self) {
        self.r0.zeroize();
        self.r1.zeroize();
        self.s1.zeroize();
        self.h0.zeroize();
        self.h1.zeroize();
        self.h2.zeroize();
        self.pad0.zeroize();
        self.pad1.zeroize();
    }
}
