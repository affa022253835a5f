//! Helpers shared by the integration tests.
#![allow(dead_code)]

use core::time::Duration;

use crypto::{
    consume_initiation, consume_response, create_initiation, create_response, CookieState,
    LocalIdentity, PeerKeys, PresharedKey, PrivateKey, SessionKeys, Tai64N,
};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// A reproducible RNG.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Two configured interfaces that know each other, as in a real deployment.
pub struct Pair {
    pub alice: LocalIdentity,
    pub bob: LocalIdentity,
    /// Alice's view of Bob.
    pub bob_at_alice: PeerKeys,
    /// Bob's view of Alice.
    pub alice_at_bob: PeerKeys,
}

impl Pair {
    pub fn new(rng: &mut ChaCha20Rng, psk: Option<PresharedKey>) -> Pair {
        let alice = LocalIdentity::new(PrivateKey::generate(rng));
        let bob = LocalIdentity::new(PrivateKey::generate(rng));
        let bob_at_alice = PeerKeys::new(&alice, *bob.public_key(), psk.clone()).unwrap();
        let alice_at_bob = PeerKeys::new(&bob, *alice.public_key(), psk).unwrap();
        Pair {
            alice,
            bob,
            bob_at_alice,
            alice_at_bob,
        }
    }
}

/// A wall-clock reading `secs` seconds after an arbitrary date.
pub fn wall(secs: u64) -> Tai64N {
    Tai64N::from_unix(1_700_000_000 + secs, 0)
}

pub const NOW: Duration = Duration::from_secs(1000);

/// Runs a complete handshake, Alice initiating; returns (Alice's keys, Bob's keys, Alice's
/// index, Bob's index).
pub fn handshake(pair: &Pair, rng: &mut ChaCha20Rng) -> (SessionKeys, SessionKeys, u32, u32) {
    let mut alice_cookies = CookieState::new();
    let mut bob_cookies = CookieState::new();
    let mut initiation = [0u8; 148];
    let state = create_initiation(
        &pair.bob_at_alice,
        &mut alice_cookies,
        11,
        wall(0),
        NOW,
        rng,
        &mut initiation,
    )
    .unwrap();
    let incoming = consume_initiation(&pair.bob, &initiation).unwrap();
    assert_eq!(incoming.peer_public_key(), pair.alice.public_key());
    let accepted = incoming.open_timestamp(&pair.alice_at_bob).unwrap();
    let mut response = [0u8; 92];
    let bob_keys = create_response(
        accepted,
        &pair.alice_at_bob,
        &mut bob_cookies,
        22,
        NOW,
        rng,
        &mut response,
    )
    .unwrap();
    let alice_keys = consume_response(&state, &pair.alice, &pair.bob_at_alice, &response).unwrap();
    (alice_keys, bob_keys, 11, 22)
}

/// A minimal IPv4 header + payload of `total` bytes (boringtun checks the version and length).
pub fn ipv4_packet(total: usize, fill: u8) -> Vec<u8> {
    let mut packet = vec![fill; total];
    packet[0] = 0x45;
    packet[1] = 0;
    packet[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    packet[8] = 64; // TTL
    packet[9] = 17; // UDP
    packet[12..16].copy_from_slice(&[10, 0, 0, 2]);
    packet[16..20].copy_from_slice(&[10, 0, 0, 1]);
    packet
}
