//! Single-core seal/open throughput at 64 and 1420 bytes: each backend of this crate,
//! RustCrypto's `chacha20poly1305` (runtime-detected AVX2 backends), and `ring` 0.17 (the
//! BoringSSL assembly boringtun's data path runs on). Then which backend `select_fastest`
//! picks. Figures are the best of several interleaved rounds; nothing is asserted.
//!
//! Run: `cargo bench -p gateway-fast-aead --bench aead`

use std::hint::black_box;
use std::time::{Duration, Instant};

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use fast_aead::{Backend, Key};

/// Message sizes measured (`AEAD_BENCH_SIZES=64,128,1420` overrides, for tuning).
const SIZES: [usize; 2] = [64, 1420];
const ROUNDS: usize = 5;
const ROUND: Duration = Duration::from_millis(150);

#[derive(Clone, Copy)]
enum Imp {
    Ours(Backend),
    RustCrypto,
    Ring,
}

impl Imp {
    fn name(self) -> String {
        match self {
            Imp::Ours(b) => format!("fast-aead {}", b.name()),
            Imp::RustCrypto => "RustCrypto chacha20poly1305".into(),
            Imp::Ring => "ring 0.17".into(),
        }
    }
}

/// Operations per second of `f`, run in batches of 64 for `ROUND`.
fn rate(mut f: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < ROUND {
        for _ in 0..64 {
            f(n);
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn measure(imp: Imp, size: usize, seal: bool) -> f64 {
    let key_bytes = [0x42u8; 32];
    let mut buf = vec![0x17u8; size];
    let nonce = |n: u64| {
        let mut x = [0u8; 12];
        x[4..].copy_from_slice(&n.to_le_bytes());
        x
    };
    match imp {
        Imp::Ours(b) => {
            let key = Key::new(&key_bytes);
            if seal {
                rate(|n| {
                    let t = key
                        .seal_with_backend(b, &nonce(n), &[], black_box(&mut buf))
                        .unwrap();
                    black_box(t);
                })
            } else {
                let tag = key.seal_with_backend(b, &nonce(0), &[], &mut buf).unwrap();
                let ct = buf.clone();
                rate(|_| {
                    buf.copy_from_slice(&ct);
                    key.open_with_backend(b, &nonce(0), &[], black_box(&mut buf), &tag)
                        .unwrap()
                        .unwrap();
                })
            }
        }
        Imp::RustCrypto => {
            let c = ChaCha20Poly1305::new(&key_bytes.into());
            if seal {
                rate(|n| {
                    let t = c
                        .encrypt_in_place_detached(&nonce(n).into(), &[], black_box(&mut buf))
                        .unwrap();
                    black_box(t);
                })
            } else {
                let tag = c
                    .encrypt_in_place_detached(&nonce(0).into(), &[], &mut buf)
                    .unwrap();
                let ct = buf.clone();
                rate(|_| {
                    buf.copy_from_slice(&ct);
                    c.decrypt_in_place_detached(&nonce(0).into(), &[], black_box(&mut buf), &tag)
                        .unwrap();
                })
            }
        }
        Imp::Ring => {
            use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
            let k = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key_bytes).unwrap());
            if seal {
                rate(|n| {
                    let t = k
                        .seal_in_place_separate_tag(
                            Nonce::assume_unique_for_key(nonce(n)),
                            Aad::empty(),
                            black_box(&mut buf),
                        )
                        .unwrap();
                    let _ = black_box(t);
                })
            } else {
                let tag = k
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce(0)),
                        Aad::empty(),
                        &mut buf,
                    )
                    .unwrap();
                let ct = buf.clone();
                rate(|_| {
                    buf.copy_from_slice(&ct);
                    k.open_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce(0)),
                        Aad::empty(),
                        tag,
                        black_box(&mut buf),
                        0..,
                    )
                    .unwrap();
                })
            }
        }
    }
}

fn main() {
    // AEAD_BENCH_QUICK=1: only the widest backend and ring (for tuning);
    // AEAD_BENCH_BACKEND=<name> (e.g. `avx2`): only that backend instead of the widest.
    let quick = std::env::var_os("AEAD_BENCH_QUICK").is_some();
    let only = std::env::var("AEAD_BENCH_BACKEND").ok();
    let mut imps: Vec<Imp> = fast_aead::supported().map(Imp::Ours).collect();
    if let Some(name) = &only {
        imps.retain(|i| matches!(i, Imp::Ours(b) if b.name() == name));
        assert!(!imps.is_empty(), "backend {name} not supported here");
    } else if quick {
        imps.drain(..imps.len() - 1);
    }
    if !quick {
        imps.push(Imp::RustCrypto);
    }
    imps.push(Imp::Ring);
    println!(
        "supported backends: {:?}",
        fast_aead::supported().collect::<Vec<_>>()
    );
    let sizes: Vec<usize> = match std::env::var("AEAD_BENCH_SIZES") {
        Ok(v) => v
            .split(',')
            .map(|s| s.trim().parse().expect("size"))
            .collect(),
        Err(_) => SIZES.to_vec(),
    };
    // best[imp][size][seal/open]
    let mut best = vec![vec![[0f64; 2]; sizes.len()]; imps.len()];
    for _ in 0..ROUNDS {
        for (i, &imp) in imps.iter().enumerate() {
            for (s, &size) in sizes.iter().enumerate() {
                for (d, seal) in [true, false].into_iter().enumerate() {
                    let r = measure(imp, size, seal);
                    best[i][s][d] = best[i][s][d].max(r);
                }
            }
        }
    }
    let ring = imps.len() - 1;
    println!(
        "{:<30} {:>5} {:>14} {:>10} {:>8} {:>14} {:>10} {:>8}",
        "implementation", "bytes", "seal pkt/s", "Gbit/s", "/ring", "open pkt/s", "Gbit/s", "/ring"
    );
    for (i, imp) in imps.iter().enumerate() {
        for (s, &size) in sizes.iter().enumerate() {
            let [seal, open] = best[i][s];
            let gbit = |r: f64| r * size as f64 * 8.0 / 1e9;
            println!(
                "{:<30} {:>5} {:>12.2} M {:>10.2} {:>8.2} {:>12.2} M {:>10.2} {:>8.2}",
                imp.name(),
                size,
                seal / 1e6,
                gbit(seal),
                seal / best[ring][s][0],
                open / 1e6,
                gbit(open),
                open / best[ring][s][1]
            );
        }
    }
    let start = Instant::now();
    let sel = fast_aead::select_fastest(|| start.elapsed().as_nanos() as u64, 2_000_000);
    println!("select_fastest (2 ms per backend, ns): {sel}");
    println!("select_fastest picks: {}", sel.chosen.name());
}
