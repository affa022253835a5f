//! Eight blocks in 256-bit registers: the AVX2 backend, and medium groups of the AVX-512
//! one (with native rotates from AVX-512 VL).

macro_rules! x8_common {
    ($feat:literal) => {
        x8_common!($feat, crate::poly1305::Poly::update_padded);
    };
    ($feat:literal, $hash:path) => {
        use core::arch::x86_64::*;

        type V = __m256i;
        /// 32-byte vectors per 64-byte block.
        const P: usize = 2;

        #[inline]
        #[target_feature(enable = $feat)]
        fn add(a: V, b: V) -> V {
            _mm256_add_epi32(a, b)
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn xor(a: V, b: V) -> V {
            _mm256_xor_si256(a, b)
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn splat(w: u32) -> V {
            _mm256_set1_epi32(w as i32)
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn lane_index() -> V {
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)
        }

        /// Words to blocks: block `k`'s bytes `32 h .. 32 h + 32` end up in `out[2 k + h]`.
        #[inline]
        #[target_feature(enable = $feat)]
        fn transpose(x: &[V; 16]) -> [V; 16] {
            // Per 128-bit half, a 4×4 transpose of each group of four words: q[g][k] holds
            // words 4g..4g+4 of block k (low half) and of block k + 4 (high half).
            let mut q = [[splat(0); 4]; 4];
            for (g, qg) in q.iter_mut().enumerate() {
                let (a, b, c, d) = (x[4 * g], x[4 * g + 1], x[4 * g + 2], x[4 * g + 3]);
                let t0 = _mm256_unpacklo_epi32(a, b);
                let t1 = _mm256_unpacklo_epi32(c, d);
                let t2 = _mm256_unpackhi_epi32(a, b);
                let t3 = _mm256_unpackhi_epi32(c, d);
                qg[0] = _mm256_unpacklo_epi64(t0, t1);
                qg[1] = _mm256_unpackhi_epi64(t0, t1);
                qg[2] = _mm256_unpacklo_epi64(t2, t3);
                qg[3] = _mm256_unpackhi_epi64(t2, t3);
            }
            let mut out = [splat(0); 16];
            for k in 0..4 {
                out[2 * k] = _mm256_permute2x128_si256(q[0][k], q[1][k], 0x20);
                out[2 * k + 1] = _mm256_permute2x128_si256(q[2][k], q[3][k], 0x20);
                out[2 * (k + 4)] = _mm256_permute2x128_si256(q[0][k], q[1][k], 0x31);
                out[2 * (k + 4) + 1] = _mm256_permute2x128_si256(q[2][k], q[3][k], 0x31);
            }
            out
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn xor64(ks: &[V], dst: &mut [u8; 64]) {
            for (i, k) in ks.iter().enumerate().take(2) {
                let p = dst[32 * i..32 * i + 32].as_mut_ptr().cast::<V>();
                // SAFETY: `p` points to 32 bytes of `dst` (sliced just above); unaligned
                // loads and stores are allowed.
                unsafe { _mm256_storeu_si256(p, _mm256_xor_si256(_mm256_loadu_si256(p), *k)) };
            }
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn store64(ks: &[V], dst: &mut [u8; 64]) {
            for (i, k) in ks.iter().enumerate().take(2) {
                let p = dst[32 * i..32 * i + 32].as_mut_ptr().cast::<V>();
                // SAFETY: `p` points to 32 bytes of `dst`; unaligned stores are allowed.
                unsafe { _mm256_storeu_si256(p, *k) };
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

pub(super) mod avx2 {
    macro_rules! rot {
        ($a:expr, $n:literal) => {
            _mm256_or_si256(_mm256_slli_epi32($a, $n), _mm256_srli_epi32($a, 32 - $n))
        };
    }

    /// VPSHUFB as an opaque instruction: LLVM otherwise rewrites the 16-bit rotate into two
    /// word shuffles and pushes the byte rotate through the preceding XOR, doubling the
    /// shuffle-port work of a round.
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
    fn rol16(a: V) -> V {
        let m = _mm_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
        shufb(a, _mm256_broadcastsi128_si256(m))
    }

    #[inline]
    #[target_feature(enable = "avx2,bmi2")]
    fn rol8(a: V) -> V {
        let m = _mm_setr_epi8(3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14);
        shufb(a, _mm256_broadcastsi128_si256(m))
    }

    x8_common!("avx2,bmi2", crate::x86::poly4::update_padded);
}

pub(super) mod avx512 {
    macro_rules! rot {
        ($a:expr, $n:literal) => {
            _mm256_rol_epi32($a, $n)
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

    x8_common!("avx2,avx512f,avx512vl");
}
