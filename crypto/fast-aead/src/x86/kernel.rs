//! The ChaCha20 rounds and the group function, written once and instantiated per vector
//! width and target feature. The invoking module defines `V` (the vector type), `P` (vectors
//! per 64-byte block after the transpose), and `add`, `xor`, `rol16`, `rol12`, `rol8`, `rol7`,
//! `splat`, `lane_index`, `transpose`, `xor64`, `store64`, all with the same target feature.

macro_rules! chacha_kernel {
    ($feat:literal) => {
        chacha_kernel!($feat, crate::poly1305::Poly::update_padded);
    };
    // `$hash(poly, data)`: how the stretches hashed outside the rounds (an opening first
    // group's ciphertext) are hashed.
    ($feat:literal, $hash:path) => {
        #[inline]
        #[target_feature(enable = $feat)]
        fn quarter(x: &mut [V; 16], a: usize, b: usize, c: usize, d: usize) {
            x[a] = add(x[a], x[b]);
            x[d] = rol16(xor(x[d], x[a]));
            x[c] = add(x[c], x[d]);
            x[b] = rol12(xor(x[b], x[c]));
            x[a] = add(x[a], x[b]);
            x[d] = rol8(xor(x[d], x[a]));
            x[c] = add(x[c], x[d]);
            x[b] = rol7(xor(x[b], x[c]));
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn double_round(x: &mut [V; 16]) {
            quarter(x, 0, 4, 8, 12);
            quarter(x, 1, 5, 9, 13);
            quarter(x, 2, 6, 10, 14);
            quarter(x, 3, 7, 11, 15);
            quarter(x, 0, 5, 10, 15);
            quarter(x, 1, 6, 11, 12);
            quarter(x, 2, 7, 8, 13);
            quarter(x, 3, 4, 9, 14);
        }

        /// Keystream blocks `ctr .. ctr + nblocks` (at most one per lane), applied as `g` says,
        /// with `g`'s Poly1305 work spread over the ten double rounds.
        #[target_feature(enable = $feat)]
        pub(crate) fn run(
            st: &[u32; 16],
            ctr: u32,
            nblocks: usize,
            g: &mut crate::driver::Group<'_>,
        ) {
            let mut init = [splat(0); 16];
            for (v, w) in init.iter_mut().zip(st.iter()) {
                *v = splat(*w);
            }
            init[12] = add(splat(ctr), lane_index());
            let mut x = init;
            {
                let src = crate::driver::hash_source(g.with_key, g.open, g.prev, g.data);
                let nb = src.len() / 16;
                let per = nb.div_ceil(10);
                let mut done = 0;
                for _ in 0..10 {
                    double_round(&mut x);
                    let end = (done + per).min(nb);
                    g.poly.blocks(&src[done * 16..end * 16]);
                    done = end;
                }
            }
            crate::driver::hash_open_tail(g);
            for (v, i) in x.iter_mut().zip(init.iter()) {
                *v = add(*v, *i);
            }
            let out = transpose(&x);
            let first = if g.with_key {
                let mut block0 = [0u8; 64];
                store64(&out[..P], &mut block0);
                let first = crate::driver::take_key(g, &block0);
                if g.open {
                    $hash(g.poly, g.data);
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
                let parts = &out[b * P..b * P + P];
                if let Some(d) = data.get_mut(off..off + 64) {
                    if let Ok(d) = <&mut [u8; 64]>::try_from(d) {
                        xor64(parts, d);
                        continue;
                    }
                }
                let mut t = [0u8; 64];
                store64(parts, &mut t);
                for (d, k) in data[off..].iter_mut().zip(t.iter()) {
                    *d ^= *k;
                }
            }
        }
    };
}
