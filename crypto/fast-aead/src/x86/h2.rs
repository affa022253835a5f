//! Two blocks "horizontally" in AVX2: each `ymm` register holds one row of the 4×4 ChaCha20
//! state for two consecutive blocks (one per 128-bit half), and the diagonal rounds rotate
//! rows with in-lane word shuffles. For groups of one or two blocks (a message of at most 64
//! bytes, or the tail of a longer one) this is a quarter of the vector work of the
//! one-block-per-lane layout, and its four dependent rows are shorter than that layout's
//! throughput-bound rounds.

pub(super) mod avx2 {
    use core::arch::x86_64::*;

    type V = __m256i;

    #[inline]
    #[target_feature(enable = "avx2,bmi2")]
    fn shufb(a: V, m: V) -> V {
        let r: V;
        // SAFETY: VPSHUFB on registers only (AVX2 is enabled for this function): no memory
        // access, no flags, no stack.
        unsafe {
            core::arch::asm!(
                "vpshufb {r}, {a}, {m}",
                r = lateout(ymm_reg) r,
                a = in(ymm_reg) a,
                m = in(ymm_reg) m,
                options(pure, nomem, nostack, preserves_flags)
            )
        };
        r
    }

    #[inline]
    #[target_feature(enable = "avx2,bmi2")]
    fn rot<const L: i32, const R: i32>(a: V) -> V {
        _mm256_or_si256(_mm256_slli_epi32(a, L), _mm256_srli_epi32(a, R))
    }

    /// Four rows, one quarter-round on each column (or diagonal, once the rows are rotated).
    #[inline]
    #[target_feature(enable = "avx2,bmi2")]
    fn quarter(r: &mut [V; 4], m16: V, m8: V) {
        r[0] = _mm256_add_epi32(r[0], r[1]);
        r[3] = shufb(_mm256_xor_si256(r[3], r[0]), m16);
        r[2] = _mm256_add_epi32(r[2], r[3]);
        r[1] = rot::<12, 20>(_mm256_xor_si256(r[1], r[2]));
        r[0] = _mm256_add_epi32(r[0], r[1]);
        r[3] = shufb(_mm256_xor_si256(r[3], r[0]), m8);
        r[2] = _mm256_add_epi32(r[2], r[3]);
        r[1] = rot::<7, 25>(_mm256_xor_si256(r[1], r[2]));
    }

    #[inline]
    #[target_feature(enable = "avx2,bmi2")]
    fn double_round(r: &mut [V; 4], m16: V, m8: V) {
        quarter(r, m16, m8);
        r[1] = _mm256_shuffle_epi32(r[1], 0x39);
        r[2] = _mm256_shuffle_epi32(r[2], 0x4e);
        r[3] = _mm256_shuffle_epi32(r[3], 0x93);
        quarter(r, m16, m8);
        r[1] = _mm256_shuffle_epi32(r[1], 0x93);
        r[2] = _mm256_shuffle_epi32(r[2], 0x4e);
        r[3] = _mm256_shuffle_epi32(r[3], 0x39);
    }

    /// XORs one block's keystream (two halves) into `dst`.
    #[inline]
    #[target_feature(enable = "avx2,bmi2")]
    fn xor64(k: (V, V), dst: &mut [u8; 64]) {
        let p = dst.as_mut_ptr().cast::<V>();
        // SAFETY: `p` and `p + 1` are the two 32-byte halves of `dst`; unaligned loads and
        // stores are allowed.
        unsafe {
            _mm256_storeu_si256(p, _mm256_xor_si256(_mm256_loadu_si256(p), k.0));
            _mm256_storeu_si256(
                p.add(1),
                _mm256_xor_si256(_mm256_loadu_si256(p.add(1)), k.1),
            );
        }
    }

    /// Stores one block's keystream (two halves).
    #[inline]
    #[target_feature(enable = "avx2,bmi2")]
    fn store64(k: (V, V), dst: &mut [u8; 64]) {
        let p = dst.as_mut_ptr().cast::<V>();
        // SAFETY: `p` and `p + 1` are the two 32-byte halves of `dst`; unaligned stores are
        // allowed.
        unsafe {
            _mm256_storeu_si256(p, k.0);
            _mm256_storeu_si256(p.add(1), k.1);
        }
    }

    /// Keystream blocks `ctr .. ctr + nblocks` (`nblocks <= 4`), applied as `g` says, with
    /// `g`'s Poly1305 work spread over the ten double rounds.
    #[target_feature(enable = "avx2,bmi2")]
    pub(crate) fn run(st: &[u32; 16], ctr: u32, nblocks: usize, g: &mut crate::driver::Group<'_>) {
        if nblocks <= 2 {
            run_pairs::<1>(st, ctr, nblocks, g)
        } else {
            run_pairs::<2>(st, ctr, nblocks, g)
        }
    }

    /// `N` independent pairs of blocks (their rounds interleave).
    #[inline]
    #[target_feature(enable = "avx2,bmi2")]
    fn run_pairs<const N: usize>(
        st: &[u32; 16],
        ctr: u32,
        nblocks: usize,
        g: &mut crate::driver::Group<'_>,
    ) {
        debug_assert!(nblocks <= 2 * N);
        let row = |i: usize| {
            let w = &st[4 * i..4 * i + 4];
            _mm256_setr_epi32(
                w[0] as i32,
                w[1] as i32,
                w[2] as i32,
                w[3] as i32,
                w[0] as i32,
                w[1] as i32,
                w[2] as i32,
                w[3] as i32,
            )
        };
        // Row 3 with its counter word cleared, then each pair's two counters added.
        let row3 = _mm256_blend_epi32(row(3), _mm256_setzero_si256(), 0x11);
        let mut init = [[row(0), row(1), row(2), row3]; N];
        for (p, r) in init.iter_mut().enumerate() {
            let c = ctr.wrapping_add(2 * p as u32);
            let ctrs = _mm256_setr_epi32(c as i32, 0, 0, 0, c.wrapping_add(1) as i32, 0, 0, 0);
            r[3] = _mm256_add_epi32(r[3], ctrs);
        }
        let m16 = _mm256_broadcastsi128_si256(_mm_setr_epi8(
            2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,
        ));
        let m8 = _mm256_broadcastsi128_si256(_mm_setr_epi8(
            3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14,
        ));
        let mut x = init;
        {
            let src = crate::driver::hash_source(g.with_key, g.open, g.prev, g.data);
            let nb = src.len() / 16;
            let per = nb.div_ceil(10);
            let mut done = 0;
            for _ in 0..10 {
                for r in x.iter_mut() {
                    double_round(r, m16, m8);
                }
                let end = (done + per).min(nb);
                g.poly.blocks(&src[done * 16..end * 16]);
                done = end;
            }
        }
        crate::driver::hash_open_tail(g);
        // Block k's 64 bytes: out[2k], out[2k + 1].
        let mut out = [[_mm256_setzero_si256(); 4]; N];
        for ((o, r), i) in out.iter_mut().zip(x.iter_mut()).zip(init.iter()) {
            for (v, w) in r.iter_mut().zip(i.iter()) {
                *v = _mm256_add_epi32(*v, *w);
            }
            *o = [
                _mm256_permute2x128_si256(r[0], r[1], 0x20),
                _mm256_permute2x128_si256(r[2], r[3], 0x20),
                _mm256_permute2x128_si256(r[0], r[1], 0x31),
                _mm256_permute2x128_si256(r[2], r[3], 0x31),
            ];
        }
        let key = |b: usize| (out[b / 2][2 * (b % 2)], out[b / 2][2 * (b % 2) + 1]);
        let first = if g.with_key {
            let mut block0 = [0u8; 64];
            store64(key(0), &mut block0);
            let first = crate::driver::take_key(g, &block0);
            if g.open {
                g.poly.update_padded(g.data);
            }
            first
        } else {
            0
        };
        let data = &mut *g.data;
        for b in first..nblocks {
            let off = (b - first) * 64;
            if off >= data.len() {
                break;
            }
            let d = &mut data[off..];
            if let Some((d, _)) = d.split_first_chunk_mut::<64>() {
                xor64(key(b), d);
            } else {
                let mut t = [0u8; 64];
                store64(key(b), &mut t);
                for (d, k) in d.iter_mut().zip(t.iter()) {
                    *d ^= *k;
                }
            }
        }
    }
}

/// The SSE2 counterpart: one block per 128-bit register, for groups of one or two blocks
/// (a message of at most 64 bytes), where the vertical layout would compute four.
pub(super) mod sse2 {
    use core::arch::x86_64::*;

    type V = __m128i;

    #[inline]
    #[target_feature(enable = "sse2")]
    fn rot<const L: i32, const R: i32>(a: V) -> V {
        _mm_or_si128(_mm_slli_epi32(a, L), _mm_srli_epi32(a, R))
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn rol16(a: V) -> V {
        _mm_shufflehi_epi16(_mm_shufflelo_epi16(a, 0xb1), 0xb1)
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn quarter(r: &mut [V; 4]) {
        r[0] = _mm_add_epi32(r[0], r[1]);
        r[3] = rol16(_mm_xor_si128(r[3], r[0]));
        r[2] = _mm_add_epi32(r[2], r[3]);
        r[1] = rot::<12, 20>(_mm_xor_si128(r[1], r[2]));
        r[0] = _mm_add_epi32(r[0], r[1]);
        r[3] = rot::<8, 24>(_mm_xor_si128(r[3], r[0]));
        r[2] = _mm_add_epi32(r[2], r[3]);
        r[1] = rot::<7, 25>(_mm_xor_si128(r[1], r[2]));
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn double_round(r: &mut [V; 4]) {
        quarter(r);
        r[1] = _mm_shuffle_epi32(r[1], 0x39);
        r[2] = _mm_shuffle_epi32(r[2], 0x4e);
        r[3] = _mm_shuffle_epi32(r[3], 0x93);
        quarter(r);
        r[1] = _mm_shuffle_epi32(r[1], 0x93);
        r[2] = _mm_shuffle_epi32(r[2], 0x4e);
        r[3] = _mm_shuffle_epi32(r[3], 0x39);
    }

    /// Keystream blocks `ctr .. ctr + nblocks` (`nblocks <= 2`), applied as `g` says, with
    /// `g`'s Poly1305 work spread over the ten double rounds.
    #[target_feature(enable = "sse2")]
    pub(crate) fn run(st: &[u32; 16], ctr: u32, nblocks: usize, g: &mut crate::driver::Group<'_>) {
        debug_assert!(nblocks <= 2);
        let row = |i: usize| {
            let w = &st[4 * i..4 * i + 4];
            _mm_setr_epi32(w[0] as i32, w[1] as i32, w[2] as i32, w[3] as i32)
        };
        let mut init = [[row(0), row(1), row(2), row(3)]; 2];
        for (b, r) in init.iter_mut().enumerate() {
            // Word 12 (the counter) is zero in `st`.
            let c = ctr.wrapping_add(b as u32);
            r[3] = _mm_add_epi32(r[3], _mm_setr_epi32(c as i32, 0, 0, 0));
        }
        let mut x = init;
        {
            let src = crate::driver::hash_source(g.with_key, g.open, g.prev, g.data);
            let nb = src.len() / 16;
            let per = nb.div_ceil(10);
            let mut done = 0;
            for _ in 0..10 {
                for r in x.iter_mut().take(nblocks.max(1)) {
                    double_round(r);
                }
                let end = (done + per).min(nb);
                g.poly.blocks(&src[done * 16..end * 16]);
                done = end;
            }
        }
        crate::driver::hash_open_tail(g);
        let mut out = [[0u8; 64]; 2];
        for ((o, r), i) in out.iter_mut().zip(x.iter()).zip(init.iter()) {
            for (k, (v, w)) in r.iter().zip(i.iter()).enumerate() {
                let p = o[16 * k..16 * k + 16].as_mut_ptr().cast::<V>();
                // SAFETY: `p` points to 16 bytes of `o` (sliced just above); unaligned
                // stores are allowed.
                unsafe { _mm_storeu_si128(p, _mm_add_epi32(*v, *w)) };
            }
        }
        let first = if g.with_key {
            let first = crate::driver::take_key(g, &out[0]);
            if g.open {
                g.poly.update_padded(g.data);
            }
            first
        } else {
            0
        };
        let data = &mut *g.data;
        for (d, k) in data.chunks_mut(64).zip(out[first..nblocks].iter()) {
            for (d, k) in d.iter_mut().zip(k.iter()) {
                *d ^= *k;
            }
        }
    }
}
