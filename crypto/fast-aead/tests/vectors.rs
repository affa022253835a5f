//! Known answers: RFC 8439 (§2.4.2 ChaCha20 encryption through a zero-AAD seal of the same
//! plaintext, §2.8.2 AEAD, and Appendix A.5 decryption) and the Wycheproof vectors, on every
//! backend this machine runs; and tampering: every flipped bit of ciphertext or tag rejected.

mod common;

use common::{backends, hex, open, seal};
use fast_aead::Key;

fn arr<const N: usize>(v: &[u8]) -> [u8; N] {
    v.try_into().expect("length")
}

const SUNSCREEN: &[u8] = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";

#[test]
fn rfc8439_2_8_2_aead() {
    let key = Key::new(&arr(&hex(
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
    )));
    let nonce = arr(&hex("070000004041424344454647"));
    let aad = hex("50515253c0c1c2c3c4c5c6c7");
    let ct = hex(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b\
         1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc\
         3ff4def08e4b7a9de576d26586cec64b6116",
    );
    let tag = arr(&hex("1ae10b594f09e26a7e902ecbd0600691"));
    for b in backends() {
        let (c, t) = seal(b, &key, &nonce, &aad, SUNSCREEN);
        assert_eq!(c, ct, "backend {b}");
        assert_eq!(t, tag, "backend {b}");
        assert_eq!(
            open(b, &key, &nonce, &aad, &ct, &tag).expect("open"),
            SUNSCREEN,
            "backend {b}"
        );
    }
}

/// §2.4.2: ChaCha20 with counter 1 is exactly the AEAD's keystream, so the ciphertext of a
/// seal under the same key and nonce must be the RFC's ciphertext.
#[test]
fn rfc8439_2_4_2_chacha20() {
    let key = Key::new(&arr(&hex(
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    )));
    let nonce = arr(&hex("000000000000004a00000000"));
    let ct = hex(
        "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0bf91b65c5524733ab8f593dabcd62b357\
         1639d624e65152ab8f530c359f0861d807ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736\
         5af90bbf74a35be6b40b8eedf2785e42874d",
    );
    for b in backends() {
        let (c, _) = seal(b, &key, &nonce, &[], SUNSCREEN);
        assert_eq!(c, ct, "backend {b}");
    }
}

/// Appendix A.5: decryption of an RFC-provided AEAD message.
#[test]
fn rfc8439_a5_open() {
    let key = Key::new(&arr(&hex(
        "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0",
    )));
    let nonce = arr(&hex("000000000102030405060708"));
    let aad = hex("f33388860000000000004e91");
    let ct = hex(
        "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea09ee94e382d26b0\
         bdb7b73c321b0100d4f03b7f355894cf332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855\
         9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4b9166c767b804d46a59b5216cde7a4e9\
         9040c5a40433225ee282a1b0a06c523eaf4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a\
         0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a1049e617d91d361094fa68f0ff77987130\
         305beaba2eda04df997b714d6c6f2c29a6ad5cb4022b02709b",
    );
    let tag = arr(&hex("eead9d67890cbb22392336fea1851f38"));
    let pt = open(fast_aead::Backend::Portable, &key, &nonce, &aad, &ct, &tag).expect("open");
    assert!(
        pt.starts_with(b"Internet-Drafts are draft documents valid for a maximum of six months")
    );
    for b in backends() {
        assert_eq!(
            open(b, &key, &nonce, &aad, &ct, &tag).expect("open"),
            pt,
            "backend {b}"
        );
        assert_eq!(
            seal(b, &key, &nonce, &aad, &pt),
            (ct.clone(), tag),
            "backend {b}"
        );
    }
}

#[test]
fn wycheproof() {
    let text = include_str!("data/chacha20_poly1305_test.json");
    let doc: serde_json::Value = serde_json::from_str(text).expect("json");
    let mut valid = 0;
    let mut invalid = 0;
    let mut skipped_nonce = 0;
    for group in doc["testGroups"].as_array().expect("groups") {
        for t in group["tests"].as_array().expect("tests") {
            let id = t["tcId"].as_u64().expect("tcId");
            let field = |k: &str| hex(t[k].as_str().expect(k));
            let (key, iv, aad, msg, ct, tag) = (
                field("key"),
                field("iv"),
                field("aad"),
                field("msg"),
                field("ct"),
                field("tag"),
            );
            let ok = t["result"].as_str() == Some("valid");
            if iv.len() != 12 || tag.len() != 16 || key.len() != 32 {
                // Wrong nonce sizes: our API takes exactly 12 bytes, so they cannot be
                // expressed; they are all expected to be rejected.
                assert!(!ok, "tc {id}: valid vector with unusual sizes");
                skipped_nonce += 1;
                continue;
            }
            let key = Key::new(&arr(&key));
            let nonce = arr(&iv);
            let tag = arr(&tag);
            for b in backends() {
                let opened = open(b, &key, &nonce, &aad, &ct, &tag);
                if ok {
                    assert_eq!(opened.as_deref(), Ok(&msg[..]), "tc {id} backend {b}");
                    assert_eq!(
                        seal(b, &key, &nonce, &aad, &msg),
                        (ct.clone(), tag),
                        "tc {id} backend {b}"
                    );
                } else {
                    let left = opened.expect_err(&format!("tc {id} backend {b}: accepted"));
                    assert!(
                        left.iter().all(|&x| x == 0),
                        "tc {id} backend {b}: buffer not zeroed"
                    );
                }
            }
            if ok {
                valid += 1;
            } else {
                invalid += 1;
            }
        }
    }
    assert!(
        valid > 250 && invalid > 10,
        "{valid} valid, {invalid} invalid"
    );
    assert_eq!(skipped_nonce, 9);
}

#[test]
fn every_flipped_bit_is_rejected() {
    let key = Key::new(&[7u8; 32]);
    let nonce = [3u8; 12];
    for len in [0usize, 1, 15, 16, 63, 64, 65, 200, 1420] {
        let pt: Vec<u8> = (0..len).map(|i| (i * 31 + 5) as u8).collect();
        for b in backends() {
            let (ct, tag) = seal(b, &key, &nonce, b"hdr", &pt);
            for bit in 0..(ct.len() + 16) * 8 {
                let (mut c, mut t) = (ct.clone(), tag);
                if bit < ct.len() * 8 {
                    c[bit / 8] ^= 1 << (bit % 8);
                } else {
                    let i = bit - ct.len() * 8;
                    t[i / 8] ^= 1 << (i % 8);
                }
                let left =
                    open(b, &key, &nonce, b"hdr", &c, &t).expect_err("tampered message accepted");
                assert!(left.iter().all(|&x| x == 0), "plaintext left after failure");
            }
            // Wrong AAD, wrong nonce, wrong key.
            assert!(open(b, &key, &nonce, b"hdx", &ct, &tag).is_err());
            assert!(open(b, &key, &[4u8; 12], b"hdr", &ct, &tag).is_err());
            assert!(open(b, &Key::new(&[8u8; 32]), &nonce, b"hdr", &ct, &tag).is_err());
        }
    }
}

#[test]
fn api_behaviour() {
    use fast_aead::{set_backend, Backend};
    for b in [
        Backend::Portable,
        Backend::Sse2,
        Backend::Avx2,
        Backend::Avx512,
    ] {
        assert_eq!(
            set_backend(b).is_ok(),
            fast_aead::supported().any(|s| s == b)
        );
    }
    assert!(fast_aead::supported().any(|s| s == fast_aead::backend()));
    assert_eq!(format!("{:?}", Key::new(&[1; 32])), "Key(<redacted>)");
    // A batch gives the same as single seals.
    let k1 = Key::new(&[1; 32]);
    let k2 = Key::new(&[2; 32]);
    let mut bufs: Vec<Vec<u8>> = (0..10).map(|i| vec![i as u8; 60 + i * 37]).collect();
    let expected: Vec<(Vec<u8>, [u8; 16])> = bufs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut c = p.clone();
            let k = if i % 2 == 0 { &k1 } else { &k2 };
            let t = k.seal_in_place(i as u64 * 1000, &[], &mut c);
            (c, t)
        })
        .collect();
    let mut items: Vec<fast_aead::SealItem<'_>> = bufs
        .iter_mut()
        .enumerate()
        .map(|(i, b)| fast_aead::SealItem {
            key: if i % 2 == 0 { &k1 } else { &k2 },
            counter: i as u64 * 1000,
            aad: &[],
            buffer: b.as_mut_slice(),
            tag: [0; 16],
        })
        .collect();
    fast_aead::seal_batch(&mut items);
    for (it, (c, t)) in items.iter().zip(expected.iter()) {
        assert_eq!((&*it.buffer, it.tag), (c.as_slice(), *t));
    }
    // The selection runs, picks a supported backend and reports every one.
    let mut fake = 0u64;
    let sel = fast_aead::select_fastest(
        || {
            fake += 1000;
            fake
        },
        100_000,
    );
    assert!(sel.chosen.is_supported());
    assert_eq!(sel.iter().count(), fast_aead::supported().count());
    assert!(format!("{sel}").starts_with("AEAD backend "));
}
