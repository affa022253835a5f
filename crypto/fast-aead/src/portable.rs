//! Portable Rust: one ChaCha20 block at a time, Poly1305 in 64-bit limbs.

use crate::driver::{hash_open_tail, hash_source, take_key, Group, Kernel};

#[inline(always)]
fn qr(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(16);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(12);
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(8);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(7);
}

/// One keystream block, serialized.
#[inline(always)]
pub(crate) fn block(st: &[u32; 16], ctr: u32) -> [u8; 64] {
    let mut input = *st;
    input[12] = ctr;
    let mut x = input;
    for _ in 0..10 {
        qr(&mut x, 0, 4, 8, 12);
        qr(&mut x, 1, 5, 9, 13);
        qr(&mut x, 2, 6, 10, 14);
        qr(&mut x, 3, 7, 11, 15);
        qr(&mut x, 0, 5, 10, 15);
        qr(&mut x, 1, 6, 11, 12);
        qr(&mut x, 2, 7, 8, 13);
        qr(&mut x, 3, 4, 9, 14);
    }
    let mut out = [0u8; 64];
    for (i, o) in out.chunks_exact_mut(4).enumerate() {
        o.copy_from_slice(&x[i].wrapping_add(input[i]).to_le_bytes());
    }
    out
}

/// Four blocks per call, computed one at a time, then the group's Poly1305 work.
#[derive(Clone, Copy)]
pub(crate) struct Portable;

impl Kernel for Portable {
    const MAX: usize = 4;

    fn run(self, st: &[u32; 16], ctr: u32, nblocks: usize, g: &mut Group<'_>) {
        let mut ks = [[0u8; 64]; 4];
        for (i, k) in ks.iter_mut().enumerate().take(nblocks) {
            *k = block(st, ctr.wrapping_add(i as u32));
        }
        let src = hash_source(g.with_key, g.open, g.prev, g.data);
        g.poly.blocks(src);
        hash_open_tail(g);
        let first = take_key(g, &ks[0]);
        if g.with_key && g.open {
            g.poly.update_padded(g.data);
        }
        for (k, d) in ks[first..nblocks].iter().zip(g.data.chunks_mut(64)) {
            for (b, s) in d.iter_mut().zip(k.iter()) {
                *b ^= s;
            }
        }
    }
}
