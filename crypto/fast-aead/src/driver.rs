//! The message loop shared by every backend: it cuts the message into groups of ChaCha20
//! blocks (as many as the backend computes in parallel) and hands each group to the
//! backend's kernel together with the Poly1305 work to interleave with it.
//!
//! Block 0 of the keystream is the Poly1305 key, so the first group (counter 0) carries it
//! and keys the MAC; later groups hash, while their ChaCha20 rounds run, the ciphertext the
//! previous group produced (sealing) or their own ciphertext before decrypting it (opening).

use crate::poly1305::Poly;

/// ChaCha20 blocks per message are numbered by a 32-bit counter starting at 0 (the MAC key),
/// so a message may have at most `(2^32 - 1) · 64` bytes.
pub(crate) const MAX_LEN: u64 = (u32::MAX as u64) * 64;

/// One group of blocks for a kernel.
pub(crate) struct Group<'a> {
    /// This group starts at counter 0: its block 0 keys `poly`, which then absorbs `aad`.
    pub with_key: bool,
    /// Opening: hash `data` (the ciphertext) before XORing the keystream into it, including a
    /// final partial 16-byte block, zero-padded. Sealing: hash `prev` (a multiple of 16 bytes).
    pub open: bool,
    pub aad: &'a [u8],
    pub prev: &'a [u8],
    /// The bytes this group encrypts or decrypts in place: at most 64 per data block.
    pub data: &'a mut [u8],
    pub poly: &'a mut Poly,
}

/// A backend's group function. Implementors exist only where their CPU features were
/// checked (see `crate::x86`), so `run` is safe to call.
pub(crate) trait Kernel: Copy {
    /// Most blocks one call computes.
    const MAX: usize;
    /// Blocks of the first group when more groups follow.
    const FIRST: usize = Self::MAX;
    /// Computes keystream blocks `ctr .. ctr + nblocks` (`nblocks <= MAX`) and applies them
    /// as `g` says.
    fn run(self, st: &[u32; 16], ctr: u32, nblocks: usize, g: &mut Group<'_>);

    /// `poly.update_padded(data)` for the stretches hashed outside the rounds (a seal's last
    /// group); a backend may do long ones its own way.
    #[inline(always)]
    fn update_padded(self, poly: &mut Poly, data: &[u8]) {
        poly.update_padded(data);
    }
}

/// The ChaCha20 input state with the block counter (word 12) at 0.
#[inline(always)]
pub(crate) fn state(key: &[u32; 8], nonce: &[u8; 12]) -> [u32; 16] {
    let n = |i: usize| u32::from_le_bytes([nonce[i], nonce[i + 1], nonce[i + 2], nonce[i + 3]]);
    [
        0x6170_7865,
        0x3320_646e,
        0x7962_2d32,
        0x6b20_6574,
        key[0],
        key[1],
        key[2],
        key[3],
        key[4],
        key[5],
        key[6],
        key[7],
        0,
        n(0),
        n(4),
        n(8),
    ]
}

#[inline(always)]
fn run_all<K: Kernel>(
    k: K,
    st: &[u32; 16],
    aad: &[u8],
    buf: &mut [u8],
    open: bool,
) -> (Poly, usize) {
    let len = buf.len();
    assert!(len as u64 <= MAX_LEN, "ChaCha20-Poly1305 message too long");
    let mut poly = Poly::default();
    let total = 1 + len.div_ceil(64);
    // The first group cannot overlap any Poly1305 work (its block 0 is the key). It is
    // nevertheless a full group on most backends: a narrower one costs the vector unit
    // nearly as much time (for 1420 bytes on AVX2, groups of 8, 8, 8 blocks rather than
    // 4, 8, 8, 4 measured 20% faster), and its ciphertext is hashed under the next group's
    // rounds (sealing) or, on AVX2, four blocks at a time (opening). AVX-512 keeps a half
    // group (8 of 16), which measured faster there.
    let n0 = if total > K::MAX { K::FIRST } else { total };
    let first = len.min((n0 - 1) * 64);
    k.run(
        st,
        0,
        n0,
        &mut Group {
            with_key: true,
            open,
            aad,
            prev: &[],
            data: &mut buf[..first],
            poly: &mut poly,
        },
    );
    let mut prev_start = 0;
    let mut off = first;
    let mut ctr = n0 as u32;
    while off < len {
        let n = (len - off).div_ceil(64).min(K::MAX);
        let end = (off + n * 64).min(len);
        let (done, rest) = buf.split_at_mut(off);
        let prev = if open { &[][..] } else { &done[prev_start..] };
        k.run(
            st,
            ctr,
            n,
            &mut Group {
                with_key: false,
                open,
                aad: &[],
                prev,
                data: &mut rest[..end - off],
                poly: &mut poly,
            },
        );
        prev_start = off;
        off = end;
        ctr += n as u32;
    }
    (poly, prev_start)
}

/// Encrypts `buf` in place and returns the tag.
#[inline(always)]
pub(crate) fn seal<K: Kernel>(
    k: K,
    key: &[u32; 8],
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
) -> [u8; 16] {
    let st = state(key, nonce);
    let (mut poly, last) = run_all(k, &st, aad, buf, false);
    // The last group's ciphertext had no later group to be hashed under.
    k.update_padded(&mut poly, &buf[last..]);
    poly.finish(aad.len(), buf.len())
}

/// Decrypts `buf` in place and returns the tag computed over its ciphertext.
#[inline(always)]
pub(crate) fn open<K: Kernel>(
    k: K,
    key: &[u32; 8],
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
) -> [u8; 16] {
    let st = state(key, nonce);
    let (mut poly, _) = run_all(k, &st, aad, buf, true);
    poly.finish(aad.len(), buf.len())
}

/// The part of a kernel after the rounds that is the same for every backend: key the MAC
/// from block 0 if this group has it and absorb the associated data. Returns the index of
/// the first data block. (An opening first group's ciphertext is the caller's to absorb
/// next.)
#[inline(always)]
pub(crate) fn take_key(g: &mut Group<'_>, block0: &[u8; 64]) -> usize {
    if g.with_key {
        g.poly.init(&block0[..32]);
        g.poly.update_padded(g.aad);
        1
    } else {
        0
    }
}

/// The Poly1305 work a kernel interleaves with its rounds, as a slice of full blocks: the
/// previous group's ciphertext (sealing) or this group's (opening). Empty for the first group,
/// whose MAC key is not known until its rounds are done.
#[inline(always)]
pub(crate) fn hash_source<'b>(
    with_key: bool,
    open: bool,
    prev: &'b [u8],
    data: &'b [u8],
) -> &'b [u8] {
    if with_key {
        &[]
    } else if open {
        &data[..data.len() & !15]
    } else {
        prev
    }
}

/// An opening group's final partial 16-byte block of ciphertext, hashed (zero-padded) before
/// it is decrypted.
#[inline(always)]
pub(crate) fn hash_open_tail(g: &mut Group<'_>) {
    if g.open && !g.with_key {
        let full = g.data.len() & !15;
        if full != g.data.len() {
            g.poly.update_padded(&g.data[full..]);
        }
    }
}
