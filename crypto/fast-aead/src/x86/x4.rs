//! Four blocks in 128-bit registers, for the SSE2 backend and for short groups of the
//! AVX-512 one (compiled for its features: EVEX encoding, native rotates). The AVX2 backend's
//! short groups use two blocks per 256-bit register instead (`super::h2`).

macro_rules! x4_common {
    ($feat:literal) => {
        x4_common!($feat, crate::poly1305::Poly::update_padded);
    };
    ($feat:literal, $hash:path) => {
        use core::arch::x86_64::*;

        type V = __m128i;
        /// 16-byte vectors per 64-byte block.
        const P: usize = 4;

        #[inline]
        #[target_feature(enable = $feat)]
        fn add(a: V, b: V) -> V {
            _mm_add_epi32(a, b)
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn xor(a: V, b: V) -> V {
            _mm_xor_si128(a, b)
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn splat(w: u32) -> V {
            _mm_set1_epi32(w as i32)
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn lane_index() -> V {
            _mm_setr_epi32(0, 1, 2, 3)
        }

        /// Words to blocks: block `k`'s bytes `16 g .. 16 g + 16` end up in `out[4 k + g]`.
        #[inline]
        #[target_feature(enable = $feat)]
        fn transpose(x: &[V; 16]) -> [V; 16] {
            let mut out = [splat(0); 16];
            for g in 0..4 {
                let (a, b, c, d) = (x[4 * g], x[4 * g + 1], x[4 * g + 2], x[4 * g + 3]);
                let t0 = _mm_unpacklo_epi32(a, b);
                let t1 = _mm_unpacklo_epi32(c, d);
                let t2 = _mm_unpackhi_epi32(a, b);
                let t3 = _mm_unpackhi_epi32(c, d);
                out[g] = _mm_unpacklo_epi64(t0, t1);
                out[4 + g] = _mm_unpackhi_epi64(t0, t1);
                out[8 + g] = _mm_unpacklo_epi64(t2, t3);
                out[12 + g] = _mm_unpackhi_epi64(t2, t3);
            }
            out
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn xor64(ks: &[V], dst: &mut [u8; 64]) {
            for (i, k) in ks.iter().enumerate().take(4) {
                let p = dst[16 * i..16 * i + 16].as_mut_ptr().cast::<V>();
                // SAFETY: `p` points to 16 bytes of `dst` (sliced just above); unaligned
                // loads and stores are allowed.
                unsafe { _mm_storeu_si128(p, _mm_xor_si128(_mm_loadu_si128(p), *k)) };
            }
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn store64(ks: &[V], dst: &mut [u8; 64]) {
            for (i, k) in ks.iter().enumerate().take(4) {
                let p = dst[16 * i..16 * i + 16].as_mut_ptr().cast::<V>();
                // SAFETY: `p` points to 16 bytes of `dst`; unaligned stores are allowed.
                unsafe { _mm_storeu_si128(p, *k) };
            }
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn rol12(a: V) -> V {
            rot!(a, 12)
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn rol7(a: V) -> V {
            rot!(a, 7)
        }

        chacha_kernel!($feat, $hash);
    };
}

pub(super) mod sse2 {
    macro_rules! rot {
        ($a:expr, $n:literal) => {
            _mm_or_si128(_mm_slli_epi32($a, $n), _mm_srli_epi32($a, 32 - $n))
        };
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn rol16(a: V) -> V {
        _mm_shufflehi_epi16(_mm_shufflelo_epi16(a, 0xb1), 0xb1)
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn rol8(a: V) -> V {
        rot!(a, 8)
    }

    x4_common!("sse2");
}

pub(super) mod avx512 {
    macro_rules! rot {
        ($a:expr, $n:literal) => {
            _mm_rol_epi32($a, $n)
        };
    }

    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    fn rol16(a: V) -> V {
        rot!(a, 16)
    }

    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    fn rol8(a: V) -> V {
        rot!(a, 8)
    }

    x4_common!("avx2,avx512f,avx512vl");
}
