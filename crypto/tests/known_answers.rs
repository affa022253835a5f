//! Known-answer tests: the primitives we build on, fed the published test vectors.
//!
//! RFC vectors are typed in from the documents. Where our WireGuard-specific wrapper cannot
//! take the RFC's exact input (our AEAD nonce is always 4 zero bytes + a counter, our MAC has a
//! 16-byte output), a second vector computed with an independent implementation (OpenSSL and
//! CPython's BLAKE2 through Python) checks the wrapper.

use blake2::digest::consts::U32;
use blake2::digest::{FixedOutput, KeyInit, Update};
use blake2::Blake2sMac;
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::ChaCha20Poly1305;
use crypto::primitives::{aead_open, aead_seal, hash, mac, xaead_open, xaead_seal};
use crypto::{PrivateKey, PublicKey};
use hex_literal::hex;

const RFC8439_KEY: [u8; 32] =
    hex!("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
const RFC8439_AAD: [u8; 12] = hex!("50515253c0c1c2c3c4c5c6c7");
const RFC8439_PLAINTEXT: &[u8] = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";

/// RFC 8439 section 2.8.2, through the `chacha20poly1305` crate we use.
#[test]
fn chacha20poly1305_rfc8439_aead_vector() {
    let nonce = hex!("070000004041424344454647");
    let ciphertext = hex!(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
        "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
        "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
        "3ff4def08e4b7a9de576d26586cec64b6116"
    );
    let tag = hex!("1ae10b594f09e26a7e902ecbd0600691");
    let cipher = ChaCha20Poly1305::new((&RFC8439_KEY).into());
    let mut buffer = RFC8439_PLAINTEXT.to_vec();
    let computed_tag = cipher
        .encrypt_in_place_detached((&nonce).into(), &RFC8439_AAD, &mut buffer)
        .unwrap();
    assert_eq!(buffer, ciphertext);
    assert_eq!(computed_tag.as_slice(), tag);
    cipher
        .decrypt_in_place_detached((&nonce).into(), &RFC8439_AAD, &mut buffer, (&tag).into())
        .unwrap();
    assert_eq!(buffer, RFC8439_PLAINTEXT);
}

/// Our `AEAD(key, counter, ...)` wrapper: the RFC inputs with counter 0x4746454443424140, i.e.
/// nonce `00000000 4041424344454647`. Expected output computed with OpenSSL.
#[test]
fn aead_counter_nonce_vector() {
    let expected = hex!(
        "a479cb54628946d6f4042a8e384ef4bd2fbc7330b8be55eb2d8dc18aaa51d66a"
        "8ec1f8d3619a258db0ac56956015b7b4937e9b8e6aa957b3dc0214d803d77660"
        "aabc913092971da8f207171ce7843608162e2e759d8efc25d8d0936990af63c8"
        "20ba87e8a955b5c8274ef7d10f6fafd046472dbf189b668bd430aef9147e99cb"
        "6c89"
    );
    let counter = 0x4746_4544_4342_4140;
    let mut sealed = vec![0u8; RFC8439_PLAINTEXT.len() + 16];
    aead_seal(
        &RFC8439_KEY,
        counter,
        RFC8439_PLAINTEXT,
        &RFC8439_AAD,
        &mut sealed,
    )
    .unwrap();
    assert_eq!(sealed, expected);
    let mut opened = vec![0u8; RFC8439_PLAINTEXT.len()];
    aead_open(&RFC8439_KEY, counter, &sealed, &RFC8439_AAD, &mut opened).unwrap();
    assert_eq!(opened, RFC8439_PLAINTEXT);
}

/// draft-irtf-cfrg-xchacha-03, appendix A.3.1 (AEAD_XChaCha20_Poly1305), through our XAEAD.
#[test]
fn xchacha20poly1305_draft_vector() {
    let nonce = hex!("404142434445464748494a4b4c4d4e4f5051525354555657");
    let expected_ciphertext = hex!(
        "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
        "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
        "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
        "21f9664c97637da9768812f615c68b13b52e"
    );
    let expected_tag = hex!("c0875924c1c7987947deafd8780acf49");
    let mut sealed = vec![0u8; RFC8439_PLAINTEXT.len() + 16];
    xaead_seal(
        &RFC8439_KEY,
        &nonce,
        RFC8439_PLAINTEXT,
        &RFC8439_AAD,
        &mut sealed,
    )
    .unwrap();
    assert_eq!(&sealed[..RFC8439_PLAINTEXT.len()], expected_ciphertext);
    assert_eq!(&sealed[RFC8439_PLAINTEXT.len()..], expected_tag);
    let mut opened = vec![0u8; RFC8439_PLAINTEXT.len()];
    xaead_open(&RFC8439_KEY, &nonce, &sealed, &RFC8439_AAD, &mut opened).unwrap();
    assert_eq!(opened, RFC8439_PLAINTEXT);
    sealed[0] ^= 1;
    assert!(xaead_open(&RFC8439_KEY, &nonce, &sealed, &RFC8439_AAD, &mut opened).is_err());
}

/// RFC 7693 appendix B: BLAKE2s-256("abc").
#[test]
fn blake2s_rfc7693_abc() {
    let expected = hex!("508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
    assert_eq!(hash(&[b"abc"]), expected);
    assert_eq!(hash(&[b"a", b"", b"bc"]), expected);
}

/// Keyed BLAKE2s-256 from the BLAKE2 reference test vectors (blake2s-kat.txt): key 00..1f,
/// empty input and the one-byte input 00.
#[test]
fn blake2s_keyed_reference_vectors() {
    let key: [u8; 32] = core::array::from_fn(|i| i as u8);
    let keyed = |input: &[u8]| {
        let mut mac = <Blake2sMac<U32> as KeyInit>::new((&key).into());
        mac.update(input);
        mac.finalize_fixed()
    };
    assert_eq!(
        keyed(b"").as_slice(),
        hex!("48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49")
    );
    assert_eq!(
        keyed(&[0]).as_slice(),
        hex!("40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1")
    );
}

/// Our 16-byte `MAC`, with a 32-byte key (MAC1) and a 16-byte key (MAC2 keyed by a cookie).
/// Expected values computed with CPython's hashlib.blake2s(digest_size=16, key=...).
#[test]
fn blake2s_mac16_vectors() {
    let key32: [u8; 32] = core::array::from_fn(|i| i as u8);
    let key16: [u8; 16] = core::array::from_fn(|i| i as u8);
    assert_eq!(
        mac(&key32, &[b"abc"]),
        hex!("61ba5f165c194692e09d12520cc4c74a")
    );
    assert_eq!(
        mac(&key16, &[b"abc"]),
        hex!("75296c2d2c0f51210b383f386bc8b1ff")
    );
}

fn x25519(scalar: [u8; 32], u: [u8; 32]) -> [u8; 32] {
    *PrivateKey::from_bytes(scalar)
        .diffie_hellman(&PublicKey::from_bytes(u))
        .unwrap()
        .as_bytes()
}

/// RFC 7748 section 5.2: the two single-multiplication vectors, and the iterated function
/// after 1 and 1000 iterations.
#[test]
fn x25519_rfc7748_section_5_2() {
    assert_eq!(
        x25519(
            hex!("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
            hex!("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
        ),
        hex!("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")
    );
    assert_eq!(
        x25519(
            hex!("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d"),
            hex!("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493"),
        ),
        hex!("95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957")
    );
    let mut k = [0u8; 32];
    k[0] = 9;
    let mut u = k;
    for iteration in 1..=1000 {
        let next = x25519(k, u);
        u = k;
        k = next;
        if iteration == 1 {
            assert_eq!(
                k,
                hex!("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079")
            );
        }
    }
    assert_eq!(
        k,
        hex!("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51")
    );
}

/// RFC 7748 section 6.1: Alice and Bob's key pairs and shared secret.
#[test]
fn x25519_rfc7748_section_6_1() {
    let alice = PrivateKey::from_bytes(hex!(
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
    ));
    let bob = PrivateKey::from_bytes(hex!(
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
    ));
    assert_eq!(
        alice.public_key().as_bytes(),
        &hex!("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    );
    assert_eq!(
        bob.public_key().as_bytes(),
        &hex!("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    );
    let shared = hex!("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(
        alice.diffie_hellman(&bob.public_key()).unwrap().as_bytes(),
        &shared
    );
    assert_eq!(
        bob.diffie_hellman(&alice.public_key()).unwrap().as_bytes(),
        &shared
    );
}
