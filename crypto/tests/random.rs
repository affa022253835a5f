//! The forward-secret CSPRNG: fast key erasure leaves nothing in memory from
//! which an output already given, or an earlier key, can be recovered.

use crypto::ForwardSecureRng;
use rand_core::RngCore;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn outputs_given_and_keys_replaced_are_not_in_memory() {
    let mut rng = ForwardSecureRng::new([7; 32]);
    let mut earlier_keys = vec![rng.state_for_tests()[..32].to_vec()];
    let mut given = Vec::new();
    for round in 0..50 {
        let mut out = vec![0u8; 1 + round * 13 % 300];
        rng.fill_bytes(&mut out);
        let state = rng.state_for_tests();
        for chunk in given.chunks(16) {
            if chunk.len() == 16 {
                assert!(
                    !contains(&state, chunk),
                    "an output already given is still in memory"
                );
            }
        }
        if out.len() >= 16 {
            assert!(
                !contains(&state, &out[..16]),
                "the output just given is still in memory"
            );
        }
        given.extend_from_slice(&out);
        let key = state[..32].to_vec();
        if earlier_keys.last() != Some(&key) {
            for old in &earlier_keys {
                assert!(!contains(&state, old), "a replaced key is still in memory");
            }
            earlier_keys.push(key);
        }
    }
    assert!(
        earlier_keys.len() > 10,
        "the key was replaced at every refill"
    );
}

#[test]
fn the_stream_does_not_repeat_and_reseeding_changes_it() {
    let mut a = ForwardSecureRng::new([1; 32]);
    let mut b = ForwardSecureRng::new([1; 32]);
    let (mut x, mut y) = ([0u8; 64], [0u8; 64]);
    a.fill_bytes(&mut x);
    b.fill_bytes(&mut y);
    assert_eq!(x, y, "deterministic for one seed");
    a.reseed(&[2; 32]);
    a.fill_bytes(&mut x);
    b.fill_bytes(&mut y);
    assert_ne!(x, y, "fresh entropy changes every later output");
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10_000 {
        assert!(seen.insert(a.next_u64()), "a 64-bit output repeated");
        if seen.len() % 1000 == 0 {
            a.reseed(&[seen.len() as u8; 32]);
        }
    }
    let state = a.state_for_tests();
    assert!(!contains(&state, &[1u8; 32]), "the seed is gone");
}

#[test]
fn debug_output_reveals_nothing() {
    let rng = ForwardSecureRng::new([9; 32]);
    assert_eq!(format!("{rng:?}"), "ForwardSecureRng(<redacted>)");
}
