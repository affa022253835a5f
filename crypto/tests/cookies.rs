//! The cookie mechanism between our own responder-side checker and initiator-side state.

mod common;

use core::time::Duration;

use common::{rng, wall, Pair, NOW};
use crypto::constants::{COOKIE_MAX_AGE, COOKIE_SECRET_MAX_AGE};
use crypto::wire::{CookieReply, HandshakeInitiation};
use crypto::{
    consume_initiation, consume_response, create_initiation, create_response, CookieChecker,
    CookieState, Error,
};

const SOURCE: [u8; 6] = [198, 51, 100, 4, 0x1f, 0x90];

/// Alice sends Bob an initiation; returns it.
fn initiation(
    pair: &Pair,
    cookies: &mut CookieState,
    index: u32,
    now: Duration,
    rng: &mut rand_chacha::ChaCha20Rng,
) -> [u8; 148] {
    let mut message = [0u8; 148];
    create_initiation(
        &pair.bob_at_alice,
        cookies,
        index,
        wall(index.into()),
        now,
        rng,
        &mut message,
    )
    .unwrap();
    message
}

#[test]
fn cookie_reply_gives_the_initiator_a_valid_mac2() {
    let mut rng = rng(20);
    let pair = Pair::new(&mut rng, None);
    let mut checker = CookieChecker::new(&pair.bob);
    let mut cookies = CookieState::new();

    let first = initiation(&pair, &mut cookies, 1, NOW, &mut rng);
    assert_eq!(checker.verify(&first, &SOURCE, NOW, false), Ok(()));
    assert_eq!(
        checker.verify(&first, &SOURCE, NOW, true),
        Err(Error::CookieRequired)
    );

    let mut reply = [0u8; 64];
    checker
        .create_reply(&first, &SOURCE, NOW, &mut rng, &mut reply)
        .unwrap();
    assert_eq!(
        CookieReply::new_checked(&reply[..])
            .unwrap()
            .receiver_index(),
        1
    );
    assert!(!cookies.has_fresh_cookie(NOW));
    cookies
        .consume_reply(&pair.bob_at_alice, &reply, NOW)
        .unwrap();
    assert!(cookies.has_fresh_cookie(NOW));

    let later = NOW + Duration::from_secs(3);
    let second = initiation(&pair, &mut cookies, 2, later, &mut rng);
    assert_ne!(
        HandshakeInitiation::new_checked(&second[..])
            .unwrap()
            .mac2(),
        [0; 16]
    );
    assert_eq!(checker.verify(&second, &SOURCE, later, true), Ok(()));
    // The cookie is bound to the source address and port.
    let mut elsewhere = SOURCE;
    elsewhere[5] ^= 1;
    assert_eq!(
        checker.verify(&second, &elsewhere, later, true),
        Err(Error::CookieRequired)
    );
    // MAC2 covers the whole message before it: tampering with MAC2 alone is caught.
    let mut bad = second;
    bad[140] ^= 1;
    assert_eq!(
        checker.verify(&bad, &SOURCE, later, true),
        Err(Error::CookieRequired)
    );
    // And the handshake itself is unaffected by MAC2.
    assert!(consume_initiation(&pair.bob, &second).is_ok());
}

#[test]
fn secret_rotation_after_120_seconds_invalidates_old_cookies() {
    let mut rng = rng(21);
    let pair = Pair::new(&mut rng, None);
    let mut checker = CookieChecker::new(&pair.bob);
    let mut cookies = CookieState::new();

    let first = initiation(&pair, &mut cookies, 1, NOW, &mut rng);
    let mut reply = [0u8; 64];
    checker
        .create_reply(&first, &SOURCE, NOW, &mut rng, &mut reply)
        .unwrap();
    cookies
        .consume_reply(&pair.bob_at_alice, &reply, NOW)
        .unwrap();
    let with_mac2 = initiation(&pair, &mut cookies, 2, NOW, &mut rng);

    let just_before = NOW + COOKIE_SECRET_MAX_AGE - Duration::from_millis(1);
    assert_eq!(
        checker.verify_mac2(&with_mac2, &SOURCE, just_before),
        Ok(())
    );
    let expiry = NOW + COOKIE_SECRET_MAX_AGE;
    assert_eq!(
        checker.verify_mac2(&with_mac2, &SOURCE, expiry),
        Err(Error::CookieRequired)
    );

    // A new reply after expiry draws a new secret: the old cookie stays invalid, the new works.
    let mut reply = [0u8; 64];
    checker
        .create_reply(&with_mac2, &SOURCE, expiry, &mut rng, &mut reply)
        .unwrap();
    assert_eq!(
        checker.verify_mac2(&with_mac2, &SOURCE, expiry),
        Err(Error::CookieRequired)
    );
    cookies
        .consume_reply(&pair.bob_at_alice, &reply, expiry)
        .unwrap();
    let renewed = initiation(&pair, &mut cookies, 3, expiry, &mut rng);
    assert_eq!(checker.verify_mac2(&renewed, &SOURCE, expiry), Ok(()));
}

#[test]
fn secret_is_kept_within_its_lifetime() {
    let mut rng = rng(22);
    let pair = Pair::new(&mut rng, None);
    let mut checker = CookieChecker::new(&pair.bob);
    let mut cookies = CookieState::new();
    let first = initiation(&pair, &mut cookies, 1, NOW, &mut rng);
    let mut reply = [0u8; 64];
    checker
        .create_reply(&first, &SOURCE, NOW, &mut rng, &mut reply)
        .unwrap();
    cookies
        .consume_reply(&pair.bob_at_alice, &reply, NOW)
        .unwrap();
    let with_mac2 = initiation(&pair, &mut cookies, 2, NOW, &mut rng);
    // Another reply a minute later must not rotate the secret.
    let minute = NOW + Duration::from_secs(60);
    let mut other = [0u8; 64];
    checker
        .create_reply(&with_mac2, &SOURCE, minute, &mut rng, &mut other)
        .unwrap();
    assert_eq!(checker.verify_mac2(&with_mac2, &SOURCE, minute), Ok(()));
    // Every reply has a fresh nonce.
    assert_ne!(reply[8..32], other[8..32]);
}

#[test]
fn initiator_stops_using_a_cookie_after_115_seconds() {
    let mut rng = rng(23);
    let pair = Pair::new(&mut rng, None);
    let mut checker = CookieChecker::new(&pair.bob);
    let mut cookies = CookieState::new();
    let first = initiation(&pair, &mut cookies, 1, NOW, &mut rng);
    let mut reply = [0u8; 64];
    checker
        .create_reply(&first, &SOURCE, NOW, &mut rng, &mut reply)
        .unwrap();
    cookies
        .consume_reply(&pair.bob_at_alice, &reply, NOW)
        .unwrap();

    let almost = NOW + COOKIE_MAX_AGE - Duration::from_millis(1);
    assert!(cookies.has_fresh_cookie(almost));
    let message = initiation(&pair, &mut cookies, 2, almost, &mut rng);
    assert_ne!(message[132..], [0u8; 16]);

    let stale = NOW + COOKIE_MAX_AGE;
    assert!(!cookies.has_fresh_cookie(stale));
    let message = initiation(&pair, &mut cookies, 3, stale, &mut rng);
    assert_eq!(message[132..], [0u8; 16]);
}

#[test]
fn cookie_replies_are_bound_to_the_message_they_answer() {
    let mut rng = rng(24);
    let pair = Pair::new(&mut rng, None);
    let mut checker = CookieChecker::new(&pair.bob);
    let mut cookies = CookieState::new();

    // No message sent yet: nothing to answer.
    let first = initiation(&pair, &mut CookieState::new(), 1, NOW, &mut rng);
    let mut reply = [0u8; 64];
    checker
        .create_reply(&first, &SOURCE, NOW, &mut rng, &mut reply)
        .unwrap();
    assert_eq!(
        cookies.consume_reply(&pair.bob_at_alice, &reply, NOW),
        Err(Error::UnexpectedCookieReply)
    );

    // A reply to a different message (other index) is refused...
    let ours = initiation(&pair, &mut cookies, 1, NOW, &mut rng);
    let mut other_reply = [0u8; 64];
    let other = initiation(&pair, &mut CookieState::new(), 9, NOW, &mut rng);
    checker
        .create_reply(&other, &SOURCE, NOW, &mut rng, &mut other_reply)
        .unwrap();
    assert_eq!(
        cookies.consume_reply(&pair.bob_at_alice, &other_reply, NOW),
        Err(Error::WrongIndex)
    );
    // ...and so is a reply to a different message with the same index (different MAC1).
    assert_eq!(
        cookies.consume_reply(&pair.bob_at_alice, &reply, NOW),
        Err(Error::DecryptFailed)
    );
    // Every tampered byte of a genuine reply is refused.
    let mut genuine = [0u8; 64];
    checker
        .create_reply(&ours, &SOURCE, NOW, &mut rng, &mut genuine)
        .unwrap();
    for i in 0..64 {
        let mut bad = genuine;
        bad[i] ^= 0x10;
        assert!(
            cookies
                .consume_reply(&pair.bob_at_alice, &bad, NOW)
                .is_err(),
            "byte {i}"
        );
    }
    cookies
        .consume_reply(&pair.bob_at_alice, &genuine, NOW)
        .unwrap();
    // The same reply cannot be consumed twice.
    assert_eq!(
        cookies.consume_reply(&pair.bob_at_alice, &genuine, NOW),
        Err(Error::UnexpectedCookieReply)
    );
}

#[test]
fn no_reply_for_messages_with_a_bad_mac1() {
    let mut rng = rng(25);
    let pair = Pair::new(&mut rng, None);
    let mut checker = CookieChecker::new(&pair.bob);
    let mut message = initiation(&pair, &mut CookieState::new(), 1, NOW, &mut rng);
    message[120] ^= 1;
    let mut reply = [0u8; 64];
    assert_eq!(
        checker.create_reply(&message, &SOURCE, NOW, &mut rng, &mut reply),
        Err(Error::InvalidMac1)
    );
    assert_eq!(
        checker.verify(&message, &SOURCE, NOW, false),
        Err(Error::InvalidMac1)
    );
    assert_eq!(
        checker.create_reply(&message[..100], &SOURCE, NOW, &mut rng, &mut reply),
        Err(Error::WrongLength)
    );
}

/// The responder can be the one under load: the initiator's checker answers a response with
/// a cookie, and the responder uses it for MAC2 of its next response.
#[test]
fn cookies_also_work_for_handshake_responses() {
    let mut rng = rng(26);
    let pair = Pair::new(&mut rng, None);
    let mut alice_checker = CookieChecker::new(&pair.alice);
    let mut bob_cookies = CookieState::new();

    let respond = |rng: &mut rand_chacha::ChaCha20Rng, cookies: &mut CookieState, index: u32| {
        let mut init_cookies = CookieState::new();
        let init = initiation(&pair, &mut init_cookies, index, NOW, rng);
        let accepted = consume_initiation(&pair.bob, &init)
            .unwrap()
            .open_timestamp(&pair.alice_at_bob)
            .unwrap();
        let mut response = [0u8; 92];
        create_response(
            accepted,
            &pair.alice_at_bob,
            cookies,
            50 + index,
            NOW,
            rng,
            &mut response,
        )
        .unwrap();
        response
    };
    let response = respond(&mut rng, &mut bob_cookies, 1);
    assert_eq!(
        alice_checker.verify(&response, &SOURCE, NOW, true),
        Err(Error::CookieRequired)
    );
    let mut reply = [0u8; 64];
    alice_checker
        .create_reply(&response, &SOURCE, NOW, &mut rng, &mut reply)
        .unwrap();
    assert_eq!(
        CookieReply::new_checked(&reply[..])
            .unwrap()
            .receiver_index(),
        51
    );
    bob_cookies
        .consume_reply(&pair.alice_at_bob, &reply, NOW)
        .unwrap();
    let response = respond(&mut rng, &mut bob_cookies, 2);
    assert_eq!(alice_checker.verify(&response, &SOURCE, NOW, true), Ok(()));
}

#[test]
fn a_full_handshake_under_load() {
    let mut rng = rng(27);
    let pair = Pair::new(&mut rng, None);
    let mut checker = CookieChecker::new(&pair.bob);
    let mut cookies = CookieState::new();
    let first = initiation(&pair, &mut cookies, 1, NOW, &mut rng);
    let mut reply = [0u8; 64];
    assert_eq!(
        checker.verify(&first, &SOURCE, NOW, true),
        Err(Error::CookieRequired)
    );
    checker
        .create_reply(&first, &SOURCE, NOW, &mut rng, &mut reply)
        .unwrap();
    cookies
        .consume_reply(&pair.bob_at_alice, &reply, NOW)
        .unwrap();

    let mut retry = [0u8; 148];
    let state = create_initiation(
        &pair.bob_at_alice,
        &mut cookies,
        2,
        wall(5),
        NOW,
        &mut rng,
        &mut retry,
    )
    .unwrap();
    checker.verify(&retry, &SOURCE, NOW, true).unwrap();
    let accepted = consume_initiation(&pair.bob, &retry)
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
    assert!(consume_response(&state, &pair.alice, &pair.bob_at_alice, &response).is_ok());
}
