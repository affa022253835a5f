//! Sixteen blocks in 512-bit registers (AVX-512 F): the AVX-512 backend's full groups.

pub(super) mod avx512 {
    use core::arch::x86_64::*;

    type V = __m512i;
    /// One 64-byte vector per block.
    const P: usize = 1;

    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    fn add(a: V, b: V) -> V {
        _mm512_add_epi32(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    fn xor(a: V, b: V) -> V {
        _mm512_xor_si512(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    fn splat(w: u32) -> V {
        _mm512_set1_epi32(w as i32)
    }

    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    fn lane_index() -> V {
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
    }

    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    fn rol16(a: V) -> V {
        _mm512_rol_epi32(a, 16)
    }

    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    fn rol12(a: V) -> V {
        _mm512_rol_epi32(a, 12)
    }

    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    fn rol8(a: V) -> V {
        _mm512_rol_epi32(a, 8)
    }

    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    fn rol7(a: V) -> V {
        _mm512_rol_epi32(a, 7)
    }

    /// Words to blocks: `out[k]` is block `k`.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    fn transpose(x: &[V; 16]) -> [V; 16] {
        // Per 128-bit lane, a 4×4 transpose of each group of four words: q[g][k] holds words
        // 4g..4g+4 of blocks k, k + 4, k + 8, k + 12 in its four lanes.
        let mut q = [[splat(0); 4]; 4];
        for (g, qg) in q.iter_mut().enumerate() {
            let (a, b, c, d) = (x[4 * g], x[4 * g + 1], x[4 * g + 2], x[4 * g + 3]);
            let t0 = _mm512_unpacklo_epi32(a, b);
            let t1 = _mm512_unpacklo_epi32(c, d);
            let t2 = _mm512_unpackhi_epi32(a, b);
            let t3 = _mm512_unpackhi_epi32(c, d);
            qg[0] = _mm512_unpacklo_epi64(t0, t1);
            qg[1] = _mm512_unpackhi_epi64(t0, t1);
            qg[2] = _mm512_unpacklo_epi64(t2, t3);
            qg[3] = _mm512_unpackhi_epi64(t2, t3);
        }
        // Then a 4×4 transpose of 128-bit lanes across q[0..4][k].
        let mut out = [splat(0); 16];
        for k in 0..4 {
            let t0 = _mm512_shuffle_i32x4(q[0][k], q[1][k], 0x44);
            let t1 = _mm512_shuffle_i32x4(q[2][k], q[3][k], 0x44);
            let t2 = _mm512_shuffle_i32x4(q[0][k], q[1][k], 0xee);
            let t3 = _mm512_shuffle_i32x4(q[2][k], q[3][k], 0xee);
            out[k] = _mm512_shuffle_i32x4(t0, t1, 0x88);
            out[k + 4] = _mm512_shuffle_i32x4(t0, t1, 0xdd);
            out[k + 8] = _mm512_shuffle_i32x4(t2, t3, 0x88);
            out[k + 12] = _mm512_shuffle_i32x4(t2, t3, 0xdd);
        }
        out
    }

    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    fn xor64(ks: &[V], dst: &mut [u8; 64]) {
        let p = dst.as_mut_ptr().cast::<V>();
        // SAFETY: `p` points to the 64 bytes of `dst`; unaligned loads and stores are allowed.
        unsafe { _mm512_storeu_si512(p, _mm512_xor_si512(_mm512_loadu_si512(p), ks[0])) };
    }

    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    fn store64(ks: &[V], dst: &mut [u8; 64]) {
        let p = dst.as_mut_ptr().cast::<V>();
        // SAFETY: `p` points to the 64 bytes of `dst`; unaligned stores are allowed.
        unsafe { _mm512_storeu_si512(p, ks[0]) };
    }

    chacha_kernel!("avx2,avx512f,avx512vl");
}
