//! A forward-secret random number generator: ChaCha20 with fast key erasure
//! (D. J. Bernstein, "Fast-key-erasure random-number generators", 2017).
//!
//! Every refill runs ChaCha20 under the current key, keeps the first 32 bytes
//! of keystream as the *next* key (overwriting the old one) and hands out the
//! rest, erasing each byte as it goes out. So what sits in memory at any time
//! (one key and the not-yet-used output) says nothing about any output already
//! given: a memory disclosure today does not reveal yesterday's ephemeral keys.
//! [`ForwardSecureRng::reseed`] mixes fresh entropy into the key with BLAKE2s,
//! so an attacker who learned the state once loses it at the next reseed.

use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroize;

use crate::primitives::hash;

/// Keystream bytes per refill: the next key, then the output.
const REFILL: usize = 256;
const KEY: usize = 32;
/// Output bytes per refill.
const OUTPUT: usize = REFILL - KEY;

/// ChaCha20 with fast key erasure; see the [module documentation](self).
pub struct ForwardSecureRng {
    key: [u8; KEY],
    /// Output not handed out yet is `output[OUTPUT - available..]`; bytes
    /// before that have been erased.
    output: [u8; OUTPUT],
    available: usize,
}

impl ForwardSecureRng {
    /// A generator seeded with 32 bytes of real entropy.
    pub fn new(seed: [u8; KEY]) -> ForwardSecureRng {
        let mut rng = ForwardSecureRng {
            key: seed,
            output: [0; OUTPUT],
            available: 0,
        };
        let mut seed = seed;
        seed.zeroize();
        rng.refill();
        rng
    }

    /// Mixes fresh entropy into the key (`key = BLAKE2s(key || fresh)`) and
    /// discards the unused output.
    pub fn reseed(&mut self, fresh: &[u8; KEY]) {
        let mut mixed = hash(&[&self.key, fresh]);
        self.key.copy_from_slice(&mixed);
        mixed.zeroize();
        self.output.zeroize();
        self.available = 0;
    }

    fn refill(&mut self) {
        let mut stream = [0u8; REFILL];
        let mut cipher = ChaCha20::new(&self.key.into(), &[0u8; 12].into());
        cipher.apply_keystream(&mut stream);
        // The cipher object zeroizes its copy of the key when dropped.
        drop(cipher);
        self.key.copy_from_slice(&stream[..KEY]);
        self.output.copy_from_slice(&stream[KEY..]);
        stream.zeroize();
        self.available = OUTPUT;
    }

    /// Test support: every byte of state the generator holds (key, then the
    /// whole output buffer), to check that nothing already given or replaced
    /// is still there.
    #[doc(hidden)]
    pub fn state_for_tests(&self) -> [u8; REFILL] {
        let mut state = [0u8; REFILL];
        state[..KEY].copy_from_slice(&self.key);
        state[KEY..].copy_from_slice(&self.output);
        state
    }
}

impl RngCore for ForwardSecureRng {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0u8; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn fill_bytes(&mut self, mut dest: &mut [u8]) {
        while !dest.is_empty() {
            if self.available == 0 {
                self.refill();
            }
            let start = OUTPUT - self.available;
            let n = dest.len().min(self.available);
            let taken = &mut self.output[start..start + n];
            dest[..n].copy_from_slice(taken);
            taken.zeroize();
            self.available -= n;
            dest = &mut dest[n..];
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for ForwardSecureRng {}

impl Drop for ForwardSecureRng {
    fn drop(&mut self) {
        self.key.zeroize();
        self.output.zeroize();
    }
}

impl core::fmt::Debug for ForwardSecureRng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ForwardSecureRng(<redacted>)")
    }
}
