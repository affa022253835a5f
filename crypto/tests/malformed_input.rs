//! Every parser of untrusted bytes returns `Err` on bad input and never panics: truncated,
//! oversized, wrong-type, and random datagrams, including random bytes behind valid headers.

mod common;

use common::{rng, wall, Pair, NOW};
use crypto::wire::{
    message_type, CookieReply, HandshakeInitiation, HandshakeResponse, MessageType, TransportData,
};
use crypto::{
    consume_initiation, consume_response, create_initiation, CookieChecker, CookieState, Error,
    PresharedKey, PrivateKey, PublicKey, TransportKey,
};
use rand_chacha::rand_core::RngCore;

/// Throws `datagram` at every entry point that accepts bytes from the network.
fn feed_everything(pair: &Pair, datagram: &[u8]) -> usize {
    let mut rng = rng(0);
    let mut accepted = 0;
    let _ = message_type(datagram);
    accepted += HandshakeInitiation::new_checked(datagram).is_ok() as usize;
    accepted += HandshakeResponse::new_checked(datagram).is_ok() as usize;
    accepted += CookieReply::new_checked(datagram).is_ok() as usize;
    accepted += TransportData::new_checked(datagram).is_ok() as usize;

    assert!(consume_initiation(&pair.bob, datagram).is_err());
    let mut init = [0u8; 148];
    let state = create_initiation(
        &pair.bob_at_alice,
        &mut CookieState::new(),
        1,
        wall(0),
        NOW,
        &mut rng,
        &mut init,
    )
    .unwrap();
    assert!(consume_response(&state, &pair.alice, &pair.bob_at_alice, datagram).is_err());

    let mut checker = CookieChecker::new(&pair.bob);
    assert!(checker.verify(datagram, &[1, 2, 3], NOW, true).is_err());
    let mut reply = [0u8; 64];
    assert!(checker
        .create_reply(datagram, &[1, 2, 3], NOW, &mut rng, &mut reply)
        .is_err());
    let mut cookies = CookieState::new();
    assert!(cookies
        .consume_reply(&pair.bob_at_alice, datagram, NOW)
        .is_err());
    let mut init = [0u8; 148];
    create_initiation(
        &pair.bob_at_alice,
        &mut cookies,
        1,
        wall(0),
        NOW,
        &mut rng,
        &mut init,
    )
    .unwrap();
    assert!(cookies
        .consume_reply(&pair.bob_at_alice, datagram, NOW)
        .is_err());

    let key = TransportKey::new(&[3; 32]);
    let mut copy = datagram.to_vec();
    assert!(key.open_message(&mut copy).is_err());
    accepted
}

#[test]
fn truncated_oversized_and_wrong_type_messages() {
    let mut rng = rng(30);
    let pair = Pair::new(&mut rng, None);
    let mut valid = [0u8; 148];
    create_initiation(
        &pair.bob_at_alice,
        &mut CookieState::new(),
        1,
        wall(0),
        NOW,
        &mut rng,
        &mut valid,
    )
    .unwrap();
    for kind in 0u8..=6 {
        for len in 0..=300 {
            let mut datagram = vec![0u8; len];
            rng.fill_bytes(&mut datagram);
            if let Some(first) = datagram.first_mut() {
                *first = kind;
            }
            for reserved in datagram.iter_mut().skip(1).take(3) {
                *reserved = 0;
            }
            feed_everything(&pair, &datagram);
            let expected = match (kind, len) {
                (_, 0..=3) => Err(Error::WrongLength),
                (1, 148) => Ok(MessageType::HandshakeInitiation),
                (2, 92) => Ok(MessageType::HandshakeResponse),
                (3, 64) => Ok(MessageType::CookieReply),
                (4, 32..) => Ok(MessageType::TransportData),
                (1..=4, _) => Err(Error::WrongLength),
                _ => Err(Error::WrongType),
            };
            assert_eq!(
                message_type(&datagram),
                expected,
                "type {kind}, length {len}"
            );
        }
    }
    // A genuine initiation cut short or extended by one byte.
    assert_eq!(
        consume_initiation(&pair.bob, &valid[..147]).unwrap_err(),
        Error::WrongLength
    );
    let mut longer = valid.to_vec();
    longer.push(0);
    assert_eq!(
        consume_initiation(&pair.bob, &longer).unwrap_err(),
        Error::WrongLength
    );
}

#[test]
fn random_datagrams_never_panic() {
    let mut rng = rng(31);
    let pair = Pair::new(&mut rng, None);
    let mut buffer = vec![0u8; 2048];
    for round in 0..3000 {
        let len = match round % 4 {
            0 => (rng.next_u32() % 2048) as usize,
            1 => [0, 1, 3, 4, 31, 32, 63, 64, 65, 91, 92, 93, 147, 148, 149]
                [(rng.next_u32() % 15) as usize],
            _ => (rng.next_u32() % 200) as usize,
        };
        let datagram = &mut buffer[..len];
        rng.fill_bytes(datagram);
        // Usually give it a plausible header so the deeper checks run too.
        if len >= 4 && round % 3 != 0 {
            datagram[..4].copy_from_slice(&(1 + rng.next_u32() % 4).to_le_bytes());
        }
        feed_everything(&pair, datagram);
    }
}

#[test]
fn key_parsers_reject_garbage() {
    let mut rng = rng(32);
    let mut text = [0u8; 60];
    for _ in 0..2000 {
        let len = (rng.next_u32() % 60) as usize;
        for byte in &mut text[..len] {
            // Mostly base64-ish characters, sometimes anything ASCII.
            *byte = b"ABCDEFabcdef0123456789+/=-_ \n"[(rng.next_u32() % 29) as usize];
        }
        if let Ok(s) = core::str::from_utf8(&text[..len]) {
            let parsed = PublicKey::from_base64(s);
            if let Ok(key) = parsed {
                // Anything accepted must be canonical: it prints back identically.
                assert_eq!(key.to_base64().as_str(), s);
            }
            let _ = PrivateKey::from_base64(s);
            let _ = PresharedKey::from_base64(s);
        }
    }
}
