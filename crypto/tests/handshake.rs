//! In-memory handshakes between two of our own identities.

mod common;

use common::{handshake, rng, wall, Pair, NOW};
use crypto::primitives::mac;
use crypto::wire::{HandshakeInitiation, HandshakeResponse};
use crypto::{
    consume_initiation, consume_response, create_initiation, create_response, CookieState, Error,
    LocalIdentity, PeerKeys, PresharedKey, PrivateKey, PublicKey, SessionKeys, Tai64N,
};
use hex_literal::hex;

/// Sends one packet each way and checks both arrive intact.
fn assert_keys_match(alice: &SessionKeys, bob: &SessionKeys, alice_index: u32, bob_index: u32) {
    for (counter, payload) in [
        (0u64, &b""[..]),
        (1, b"sixteen byte msg"),
        (2, &[0xab; 1420][..]),
    ] {
        let mut buffer = vec![0u8; payload.len() + 32];
        buffer[16..16 + payload.len()].copy_from_slice(payload);
        let len = alice
            .send
            .seal_message(bob_index, counter, &mut buffer, payload.len())
            .unwrap();
        assert_eq!(bob.recv.open_message(&mut buffer[..len]).unwrap(), payload);

        buffer[16..16 + payload.len()].copy_from_slice(payload);
        let len = bob
            .send
            .seal_message(alice_index, counter, &mut buffer, payload.len())
            .unwrap();
        assert_eq!(
            alice.recv.open_message(&mut buffer[..len]).unwrap(),
            payload
        );
    }
    // A packet sealed with one direction's key does not open with the other's.
    let mut buffer = [0u8; 48];
    let len = alice
        .send
        .seal_message(bob_index, 5, &mut buffer, 16)
        .unwrap();
    assert_eq!(
        alice.recv.open_message(&mut buffer[..len]),
        Err(Error::DecryptFailed)
    );
}

#[test]
fn handshake_without_psk_yields_matching_keys() {
    let mut rng = rng(1);
    let pair = Pair::new(&mut rng, None);
    let (alice, bob, ai, bi) = handshake(&pair, &mut rng);
    assert_keys_match(&alice, &bob, ai, bi);
}

#[test]
fn handshake_with_psk_yields_matching_keys() {
    let mut rng = rng(2);
    let psk = PresharedKey::generate(&mut rng);
    let pair = Pair::new(&mut rng, Some(psk));
    let (alice, bob, ai, bi) = handshake(&pair, &mut rng);
    assert_keys_match(&alice, &bob, ai, bi);
}

#[test]
fn psk_mismatch_fails_at_the_response() {
    let mut rng = rng(3);
    let alice = LocalIdentity::new(PrivateKey::generate(&mut rng));
    let bob = LocalIdentity::new(PrivateKey::generate(&mut rng));
    let bob_at_alice = PeerKeys::new(
        &alice,
        *bob.public_key(),
        Some(PresharedKey::from_bytes([1; 32])),
    )
    .unwrap();
    let alice_at_bob = PeerKeys::new(&bob, *alice.public_key(), None).unwrap();
    let mut initiation = [0u8; 148];
    let state = create_initiation(
        &bob_at_alice,
        &mut CookieState::new(),
        1,
        wall(0),
        NOW,
        &mut rng,
        &mut initiation,
    )
    .unwrap();
    // The PSK only enters the handshake in the response, so the initiation is accepted...
    let accepted = consume_initiation(&bob, &initiation)
        .unwrap()
        .open_timestamp(&alice_at_bob)
        .unwrap();
    let mut response = [0u8; 92];
    create_response(
        accepted,
        &alice_at_bob,
        &mut CookieState::new(),
        2,
        NOW,
        &mut rng,
        &mut response,
    )
    .unwrap();
    // ...and the initiator rejects the response.
    assert_eq!(
        consume_response(&state, &alice, &bob_at_alice, &response).unwrap_err(),
        Error::DecryptFailed
    );
}

#[test]
fn initiation_carries_the_fields_the_responder_reads() {
    let mut rng = rng(4);
    let pair = Pair::new(&mut rng, None);
    let mut initiation = [0u8; 148];
    let stamp = Tai64N::from_unix(1_234_567_890, 500_000_000);
    create_initiation(
        &pair.bob_at_alice,
        &mut CookieState::new(),
        0xdead_beef,
        stamp,
        NOW,
        &mut rng,
        &mut initiation,
    )
    .unwrap();
    let view = HandshakeInitiation::new_checked(&initiation[..]).unwrap();
    assert_eq!(view.sender_index(), 0xdead_beef);
    assert_eq!(view.mac2(), [0; 16], "no cookie held: mac2 is zero");
    let incoming = consume_initiation(&pair.bob, &initiation).unwrap();
    assert_eq!(incoming.sender_index(), 0xdead_beef);
    let accepted = incoming.open_timestamp(&pair.alice_at_bob).unwrap();
    assert_eq!(accepted.timestamp(), stamp);
    assert_eq!(accepted.peer_public_key(), pair.alice.public_key());
}

/// Recomputes MAC1 after tampering, as an attacker who knows the receiver's public key can.
fn remac(message: &mut [u8], receiver: &PublicKey) {
    let key = crypto::macs::mac1_key(receiver);
    let start = message.len() - 32;
    let mac1 = mac(&key, &[&message[..start]]);
    message[start..start + 16].copy_from_slice(&mac1);
}

fn responder_accepts(pair: &Pair, message: &[u8]) -> Result<Tai64N, Error> {
    let incoming = consume_initiation(&pair.bob, message)?;
    if incoming.peer_public_key() != pair.alice.public_key() {
        return Err(Error::WrongPeer);
    }
    Ok(incoming.open_timestamp(&pair.alice_at_bob)?.timestamp())
}

#[test]
fn every_tampered_initiation_byte_is_rejected() {
    let mut rng = rng(5);
    let pair = Pair::new(&mut rng, None);
    let mut initiation = [0u8; 148];
    create_initiation(
        &pair.bob_at_alice,
        &mut CookieState::new(),
        7,
        wall(0),
        NOW,
        &mut rng,
        &mut initiation,
    )
    .unwrap();
    assert!(responder_accepts(&pair, &initiation).is_ok());
    // Everything up to and including MAC1 is covered by MAC1.
    for i in 0..132 {
        for bit in [0x01, 0x80] {
            let mut bad = initiation;
            bad[i] ^= bit;
            let expected = if i < 4 {
                Error::WrongType
            } else {
                Error::InvalidMac1
            };
            assert_eq!(
                responder_accepts(&pair, &bad).unwrap_err(),
                expected,
                "byte {i}"
            );
        }
    }
    // With MAC1 recomputed, the cryptography itself must catch changes to the ephemeral key,
    // encrypted static key and timestamp. (The sender index is only covered by MAC1 in
    // WireGuard; a changed index just makes the response go nowhere.)
    for i in 8..116 {
        let mut bad = initiation;
        bad[i] ^= 0x01;
        remac(&mut bad, pair.bob.public_key());
        let err = responder_accepts(&pair, &bad).unwrap_err();
        assert!(
            matches!(err, Error::DecryptFailed | Error::LowOrderKey),
            "byte {i}: {err:?}"
        );
    }
}

#[test]
fn every_tampered_response_byte_is_rejected() {
    let mut rng = rng(6);
    let pair = Pair::new(&mut rng, None);
    let mut initiation = [0u8; 148];
    let state = create_initiation(
        &pair.bob_at_alice,
        &mut CookieState::new(),
        7,
        wall(0),
        NOW,
        &mut rng,
        &mut initiation,
    )
    .unwrap();
    let accepted = consume_initiation(&pair.bob, &initiation)
        .unwrap()
        .open_timestamp(&pair.alice_at_bob)
        .unwrap();
    let mut response = [0u8; 92];
    create_response(
        accepted,
        &pair.alice_at_bob,
        &mut CookieState::new(),
        9,
        NOW,
        &mut rng,
        &mut response,
    )
    .unwrap();
    let view = HandshakeResponse::new_checked(&response[..]).unwrap();
    assert_eq!((view.sender_index(), view.receiver_index()), (9, 7));

    for i in 0..76 {
        let mut bad = response;
        bad[i] ^= 0x04;
        let expected = if i < 4 {
            Error::WrongType
        } else {
            Error::InvalidMac1
        };
        assert_eq!(
            consume_response(&state, &pair.alice, &pair.bob_at_alice, &bad).unwrap_err(),
            expected,
            "byte {i}"
        );
    }
    for i in 8..60 {
        let mut bad = response;
        bad[i] ^= 0x04;
        remac(&mut bad, pair.alice.public_key());
        let err = consume_response(&state, &pair.alice, &pair.bob_at_alice, &bad).unwrap_err();
        let ok = if i < 12 {
            err == Error::WrongIndex
        } else {
            matches!(err, Error::DecryptFailed | Error::LowOrderKey)
        };
        assert!(ok, "byte {i}: {err:?}");
    }
    // The untouched response still works after all those failures (state is not consumed).
    assert!(consume_response(&state, &pair.alice, &pair.bob_at_alice, &response).is_ok());
}

#[test]
fn message_for_another_interface_fails_mac1() {
    let mut rng = rng(7);
    let pair = Pair::new(&mut rng, None);
    let carol = LocalIdentity::new(PrivateKey::generate(&mut rng));
    let mut initiation = [0u8; 148];
    create_initiation(
        &pair.bob_at_alice,
        &mut CookieState::new(),
        7,
        wall(0),
        NOW,
        &mut rng,
        &mut initiation,
    )
    .unwrap();
    assert_eq!(
        consume_initiation(&carol, &initiation).unwrap_err(),
        Error::InvalidMac1
    );
    assert_eq!(carol.verify_mac1(&initiation), Err(Error::InvalidMac1));
    assert_eq!(pair.bob.verify_mac1(&initiation), Ok(()));
    let mut zeroed = initiation;
    zeroed[116..132].fill(0);
    assert_eq!(
        consume_initiation(&pair.bob, &zeroed).unwrap_err(),
        Error::InvalidMac1
    );
}

#[test]
fn initiation_from_unknown_key_is_identified_but_not_accepted_for_another_peer() {
    let mut rng = rng(8);
    let pair = Pair::new(&mut rng, None);
    let mallory = LocalIdentity::new(PrivateKey::generate(&mut rng));
    let bob_at_mallory = PeerKeys::new(&mallory, *pair.bob.public_key(), None).unwrap();
    let mut initiation = [0u8; 148];
    create_initiation(
        &bob_at_mallory,
        &mut CookieState::new(),
        7,
        wall(0),
        NOW,
        &mut rng,
        &mut initiation,
    )
    .unwrap();
    let incoming = consume_initiation(&pair.bob, &initiation).unwrap();
    assert_eq!(incoming.peer_public_key(), mallory.public_key());
    // Bob does not know Mallory; supplying Alice's state instead must not work.
    assert_eq!(
        incoming.open_timestamp(&pair.alice_at_bob).unwrap_err(),
        Error::WrongPeer
    );
}

#[test]
fn response_must_answer_our_index() {
    let mut rng = rng(9);
    let pair = Pair::new(&mut rng, None);
    let mut cookies = CookieState::new();
    let mut first = [0u8; 148];
    let old_state = create_initiation(
        &pair.bob_at_alice,
        &mut cookies,
        1,
        wall(0),
        NOW,
        &mut rng,
        &mut first,
    )
    .unwrap();
    let mut second = [0u8; 148];
    let new_state = create_initiation(
        &pair.bob_at_alice,
        &mut cookies,
        2,
        wall(1),
        NOW,
        &mut rng,
        &mut second,
    )
    .unwrap();
    let accepted = consume_initiation(&pair.bob, &first)
        .unwrap()
        .open_timestamp(&pair.alice_at_bob)
        .unwrap();
    let mut response = [0u8; 92];
    create_response(
        accepted,
        &pair.alice_at_bob,
        &mut CookieState::new(),
        3,
        NOW,
        &mut rng,
        &mut response,
    )
    .unwrap();
    assert_eq!(
        consume_response(&new_state, &pair.alice, &pair.bob_at_alice, &response).unwrap_err(),
        Error::WrongIndex
    );
    assert!(consume_response(&old_state, &pair.alice, &pair.bob_at_alice, &response).is_ok());
}

/// Points of small order on Curve25519 (and non-canonical encodings of them): 0, 1, the two
/// points of order 8, p-1 (order 2), p (= 0) and p+1 (= 1). X25519 ignores the top bit, so
/// each is also tried with it set.
const SMALL_ORDER_POINTS: [[u8; 32]; 7] = [
    hex!("0000000000000000000000000000000000000000000000000000000000000000"),
    hex!("0100000000000000000000000000000000000000000000000000000000000000"),
    hex!("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    hex!("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    hex!("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    hex!("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    hex!("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
];

fn small_order_points() -> impl Iterator<Item = PublicKey> {
    SMALL_ORDER_POINTS.into_iter().flat_map(|point| {
        let mut high = point;
        high[31] |= 0x80;
        [PublicKey::from_bytes(point), PublicKey::from_bytes(high)]
    })
}

#[test]
fn low_order_peer_keys_are_refused() {
    let mut rng = rng(10);
    let local = LocalIdentity::new(PrivateKey::generate(&mut rng));
    for point in small_order_points() {
        assert!(point.is_low_order(), "{point:?}");
        assert_eq!(
            PeerKeys::new(&local, point, None).unwrap_err(),
            Error::LowOrderKey
        );
        assert_eq!(
            local.private_key().diffie_hellman(&point).unwrap_err(),
            Error::LowOrderKey
        );
    }
    assert!(!local.public_key().is_low_order());
}

#[test]
fn low_order_ephemeral_keys_are_refused() {
    let mut rng = rng(11);
    let pair = Pair::new(&mut rng, None);
    let mut initiation = [0u8; 148];
    let state = create_initiation(
        &pair.bob_at_alice,
        &mut CookieState::new(),
        7,
        wall(0),
        NOW,
        &mut rng,
        &mut initiation,
    )
    .unwrap();
    let accepted = consume_initiation(&pair.bob, &initiation)
        .unwrap()
        .open_timestamp(&pair.alice_at_bob)
        .unwrap();
    let mut response = [0u8; 92];
    create_response(
        accepted,
        &pair.alice_at_bob,
        &mut CookieState::new(),
        9,
        NOW,
        &mut rng,
        &mut response,
    )
    .unwrap();
    for point in small_order_points() {
        let mut bad = initiation;
        bad[8..40].copy_from_slice(point.as_bytes());
        remac(&mut bad, pair.bob.public_key());
        assert_eq!(
            consume_initiation(&pair.bob, &bad).unwrap_err(),
            Error::LowOrderKey
        );
        let mut bad = response;
        bad[12..44].copy_from_slice(point.as_bytes());
        remac(&mut bad, pair.alice.public_key());
        assert_eq!(
            consume_response(&state, &pair.alice, &pair.bob_at_alice, &bad).unwrap_err(),
            Error::LowOrderKey
        );
    }
}

#[test]
fn timestamps_let_the_responder_reject_replays() {
    let mut rng = rng(12);
    let pair = Pair::new(&mut rng, None);
    let mut cookies = CookieState::new();
    let mut last_accepted = Tai64N::ZERO;
    let mut sent = Vec::new();
    for (i, secs) in [0u64, 1, 1, 5, 100].into_iter().enumerate() {
        let mut initiation = [0u8; 148];
        // Two initiations in the same second still differ by their (rounded) nanoseconds.
        let stamp = Tai64N::from_unix(1_700_000_000 + secs, (i as u32) << 24);
        create_initiation(
            &pair.bob_at_alice,
            &mut cookies,
            i as u32,
            stamp,
            NOW,
            &mut rng,
            &mut initiation,
        )
        .unwrap();
        let received = responder_accepts(&pair, &initiation).unwrap();
        assert_eq!(received, stamp);
        assert!(
            received.is_after(&last_accepted),
            "initiation {i} must be newer"
        );
        last_accepted = received;
        sent.push(initiation);
    }
    // Replaying any earlier initiation decrypts fine but is not newer: the engine drops it.
    for initiation in &sent {
        let replayed = responder_accepts(&pair, initiation).unwrap();
        assert!(!replayed.is_after(&last_accepted));
    }
}

#[test]
fn fresh_randomness_gives_fresh_keys() {
    let mut rng = rng(13);
    let pair = Pair::new(&mut rng, None);
    let (a1, b1, ai, bi) = handshake(&pair, &mut rng);
    let (a2, _b2, _, _) = handshake(&pair, &mut rng);
    // Keys of the second session cannot open packets of the first.
    let mut buffer = [0u8; 48];
    let len = a2.send.seal_message(bi, 0, &mut buffer, 16).unwrap();
    assert_eq!(
        b1.recv.open_message(&mut buffer[..len]),
        Err(Error::DecryptFailed)
    );
    assert_keys_match(&a1, &b1, ai, bi);
}
