//! Interoperability with an independent implementation: boringtun's `noise::Tunn`.
//!
//! Each test runs a real handshake between our code and boringtun, one side initiating and
//! then the other, with and without a preshared key, and then carries transport data both
//! ways. boringtun also exercises our cookie code: its rate limiter issues cookie replies we
//! must decrypt and whose cookie we must use for MAC2, and it consumes ours.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519;
use common::{ipv4_packet, rng, NOW};
use crypto::wire::{message_type, HandshakeResponse, MessageType, TransportData};
use crypto::{
    consume_initiation, consume_response, create_initiation, create_response, CookieChecker,
    CookieState, Error, LocalIdentity, PeerKeys, PresharedKey, PrivateKey, PublicKey, SessionKeys,
    Tai64N,
};
use rand_chacha::ChaCha20Rng;

const THEIR_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
/// How our cookie checker identifies boringtun's endpoint: address bytes then port.
const THEIR_SOURCE: [u8; 6] = [192, 0, 2, 7, 0xca, 0x6c];

/// Our interface, and boringtun's keys.
struct Setup {
    ours: LocalIdentity,
    theirs_at_ours: PeerKeys,
    their_private: [u8; 32],
    psk: Option<[u8; 32]>,
}

impl Setup {
    fn new(rng: &mut ChaCha20Rng, with_psk: bool) -> Setup {
        let ours = LocalIdentity::new(PrivateKey::generate(rng));
        let their_key = PrivateKey::generate(rng);
        let psk = with_psk.then(|| *PresharedKey::generate(rng).as_bytes());
        let theirs_at_ours = PeerKeys::new(
            &ours,
            their_key.public_key(),
            psk.map(PresharedKey::from_bytes),
        )
        .unwrap();
        Setup {
            ours,
            theirs_at_ours,
            their_private: *their_key.to_bytes(),
            psk,
        }
    }

    /// boringtun's tunnel to us. `rate_limit` of `Some(0)` makes it demand a cookie always.
    fn tunnel(&self, rate_limit: Option<u64>) -> Tunn {
        let secret = x25519::StaticSecret::from(self.their_private);
        let public = x25519::PublicKey::from(&secret);
        let limiter = rate_limit.map(|limit| Arc::new(RateLimiter::new(&public, limit)));
        let our_public = x25519::PublicKey::from(*self.ours.public_key().as_bytes());
        Tunn::new(secret, our_public, self.psk, None, 42, limiter)
    }
}

fn wall_clock_now() -> Tai64N {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    Tai64N::from_unix_duration(since_epoch)
}

/// Feeds a datagram to boringtun and returns what it wants to send back, if anything.
fn to_boringtun(tunnel: &mut Tunn, datagram: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![0u8; 2048];
    match tunnel.decapsulate(Some(THEIR_ADDRESS), datagram, &mut out) {
        TunnResult::WriteToNetwork(reply) => Some(reply.to_vec()),
        TunnResult::Done => None,
        other => panic!("unexpected boringtun result: {other:?}"),
    }
}

/// Sends an IP packet to boringtun over our session and checks it comes out of its tunnel.
fn send_to_boringtun(tunnel: &mut Tunn, keys: &SessionKeys, their_index: u32, counter: u64) {
    let packet = ipv4_packet(60, 0x5a);
    let mut message = vec![0u8; 16 + 64 + 16];
    message[16..16 + 60].copy_from_slice(&packet);
    // Pad to a multiple of 16 as WireGuard senders do; the IP length field tells the truth.
    let len = keys
        .send
        .seal_message(their_index, counter, &mut message, 64)
        .unwrap();
    let mut out = vec![0u8; 2048];
    match tunnel.decapsulate(Some(THEIR_ADDRESS), &message[..len], &mut out) {
        TunnResult::WriteToTunnelV4(received, source) => {
            assert_eq!(received, &packet[..]);
            assert_eq!(source, Ipv4Addr::new(10, 0, 0, 2));
        }
        other => panic!("boringtun did not accept our transport packet: {other:?}"),
    }
}

/// Has boringtun send an IP packet over the session and checks we decrypt it.
fn receive_from_boringtun(tunnel: &mut Tunn, keys: &SessionKeys, our_index: u32) {
    let packet = ipv4_packet(100, 0xc3);
    let mut out = vec![0u8; 2048];
    let mut message = match tunnel.encapsulate(&packet, &mut out) {
        TunnResult::WriteToNetwork(message) => message.to_vec(),
        other => panic!("boringtun did not encapsulate: {other:?}"),
    };
    assert_eq!(message_type(&message), Ok(MessageType::TransportData));
    assert_eq!(
        TransportData::new_checked(&message[..])
            .unwrap()
            .receiver_index(),
        our_index
    );
    let plaintext = keys.recv.open_message(&mut message).unwrap();
    // boringtun does not pad (padding is optional for the receiver), so this is exact.
    assert_eq!(plaintext, &packet[..]);
}

fn we_initiate(with_psk: bool, seed: u64) {
    let mut rng = rng(seed);
    let setup = Setup::new(&mut rng, with_psk);
    let mut tunnel = setup.tunnel(None);
    let mut cookies = CookieState::new();

    let mut initiation = [0u8; 148];
    let state = create_initiation(
        &setup.theirs_at_ours,
        &mut cookies,
        0x1234_5678,
        wall_clock_now(),
        NOW,
        &mut rng,
        &mut initiation,
    )
    .unwrap();
    let response =
        to_boringtun(&mut tunnel, &initiation).expect("boringtun answers our initiation");
    assert_eq!(message_type(&response), Ok(MessageType::HandshakeResponse));
    let their_index = HandshakeResponse::new_checked(&response[..])
        .unwrap()
        .sender_index();
    let keys = consume_response(&state, &setup.ours, &setup.theirs_at_ours, &response).unwrap();

    send_to_boringtun(&mut tunnel, &keys, their_index, 0);
    send_to_boringtun(&mut tunnel, &keys, their_index, 1);
    receive_from_boringtun(&mut tunnel, &keys, 0x1234_5678);
}

fn they_initiate(with_psk: bool, seed: u64) {
    let mut rng = rng(seed);
    let setup = Setup::new(&mut rng, with_psk);
    let mut tunnel = setup.tunnel(None);

    let mut out = vec![0u8; 2048];
    let initiation = match tunnel.format_handshake_initiation(&mut out, false) {
        TunnResult::WriteToNetwork(message) => message.to_vec(),
        other => panic!("no initiation from boringtun: {other:?}"),
    };
    assert_eq!(
        message_type(&initiation),
        Ok(MessageType::HandshakeInitiation)
    );
    let incoming = consume_initiation(&setup.ours, &initiation).unwrap();
    assert_eq!(
        incoming.peer_public_key(),
        setup.theirs_at_ours.public_key()
    );
    let their_index = incoming.sender_index();
    let accepted = incoming.open_timestamp(&setup.theirs_at_ours).unwrap();
    assert!(accepted.timestamp().is_after(&Tai64N::ZERO));

    let mut response = [0u8; 92];
    let our_index = 0x0bad_cafe;
    let keys = create_response(
        accepted,
        &setup.theirs_at_ours,
        &mut CookieState::new(),
        our_index,
        NOW,
        &mut rng,
        &mut response,
    )
    .unwrap();
    // boringtun confirms the session with a keepalive: an empty transport packet.
    let mut keepalive = to_boringtun(&mut tunnel, &response).expect("boringtun sends a keepalive");
    assert_eq!(keepalive.len(), 32);
    assert_eq!(keys.recv.open_message(&mut keepalive).unwrap().len(), 0);

    receive_from_boringtun(&mut tunnel, &keys, our_index);
    send_to_boringtun(&mut tunnel, &keys, their_index, 0);
}

#[test]
fn our_initiator_with_boringtun_responder() {
    we_initiate(false, 100);
}

#[test]
fn our_initiator_with_boringtun_responder_and_psk() {
    we_initiate(true, 101);
}

#[test]
fn boringtun_initiator_with_our_responder() {
    they_initiate(false, 102);
}

#[test]
fn boringtun_initiator_with_our_responder_and_psk() {
    they_initiate(true, 103);
}

#[test]
fn psk_mismatch_with_boringtun_fails() {
    let mut rng = rng(104);
    let setup = Setup::new(&mut rng, true);
    let mismatched = PeerKeys::new(&setup.ours, *setup.theirs_at_ours.public_key(), None).unwrap();
    let mut tunnel = setup.tunnel(None);
    let mut initiation = [0u8; 148];
    let state = create_initiation(
        &mismatched,
        &mut CookieState::new(),
        1,
        wall_clock_now(),
        NOW,
        &mut rng,
        &mut initiation,
    )
    .unwrap();
    let response = to_boringtun(&mut tunnel, &initiation).unwrap();
    assert_eq!(
        consume_response(&state, &setup.ours, &mismatched, &response).unwrap_err(),
        Error::DecryptFailed
    );
}

/// boringtun under load answers with a cookie reply; we decrypt it and retry with MAC2.
#[test]
fn we_use_a_cookie_issued_by_boringtun() {
    let mut rng = rng(105);
    let setup = Setup::new(&mut rng, false);
    let mut tunnel = setup.tunnel(Some(0));
    let mut cookies = CookieState::new();

    let mut initiation = [0u8; 148];
    create_initiation(
        &setup.theirs_at_ours,
        &mut cookies,
        77,
        wall_clock_now(),
        NOW,
        &mut rng,
        &mut initiation,
    )
    .unwrap();
    let reply = to_boringtun(&mut tunnel, &initiation).expect("a cookie reply");
    assert_eq!(message_type(&reply), Ok(MessageType::CookieReply));
    cookies
        .consume_reply(&setup.theirs_at_ours, &reply, NOW)
        .unwrap();
    assert!(cookies.has_fresh_cookie(NOW));

    let mut retry = [0u8; 148];
    let state = create_initiation(
        &setup.theirs_at_ours,
        &mut cookies,
        78,
        wall_clock_now(),
        NOW,
        &mut rng,
        &mut retry,
    )
    .unwrap();
    assert_ne!(&retry[132..], &[0u8; 16]);
    let response = to_boringtun(&mut tunnel, &retry).expect("boringtun accepts our mac2");
    assert_eq!(message_type(&response), Ok(MessageType::HandshakeResponse));
    let keys = consume_response(&state, &setup.ours, &setup.theirs_at_ours, &response).unwrap();
    let their_index = HandshakeResponse::new_checked(&response[..])
        .unwrap()
        .sender_index();
    send_to_boringtun(&mut tunnel, &keys, their_index, 0);
}

/// Our cookie checker answers boringtun; boringtun's next initiation carries a valid MAC2.
#[test]
fn boringtun_uses_a_cookie_issued_by_us() {
    let mut rng = rng(106);
    let setup = Setup::new(&mut rng, false);
    let mut tunnel = setup.tunnel(None);
    let mut checker = CookieChecker::new(&setup.ours);

    let mut out = vec![0u8; 2048];
    let initiation = match tunnel.format_handshake_initiation(&mut out, false) {
        TunnResult::WriteToNetwork(message) => message.to_vec(),
        other => panic!("no initiation from boringtun: {other:?}"),
    };
    assert_eq!(
        checker.verify(&initiation, &THEIR_SOURCE, NOW, false),
        Ok(())
    );
    assert_eq!(
        checker.verify(&initiation, &THEIR_SOURCE, NOW, true),
        Err(Error::CookieRequired)
    );
    let mut reply = [0u8; 64];
    checker
        .create_reply(&initiation, &THEIR_SOURCE, NOW, &mut rng, &mut reply)
        .unwrap();
    assert_eq!(
        to_boringtun(&mut tunnel, &reply),
        None,
        "boringtun stores the cookie"
    );

    let retry = match tunnel.format_handshake_initiation(&mut out, true) {
        TunnResult::WriteToNetwork(message) => message.to_vec(),
        other => panic!("no retry from boringtun: {other:?}"),
    };
    assert_eq!(checker.verify(&retry, &THEIR_SOURCE, NOW, true), Ok(()));
    let other_source = [192, 0, 2, 8, 0xca, 0x6c];
    assert_eq!(
        checker.verify(&retry, &other_source, NOW, true),
        Err(Error::CookieRequired)
    );
    // And the retried handshake completes.
    let accepted = consume_initiation(&setup.ours, &retry)
        .unwrap()
        .open_timestamp(&setup.theirs_at_ours)
        .unwrap();
    let mut response = [0u8; 92];
    let keys = create_response(
        accepted,
        &setup.theirs_at_ours,
        &mut CookieState::new(),
        5,
        NOW,
        &mut rng,
        &mut response,
    )
    .unwrap();
    let mut keepalive = to_boringtun(&mut tunnel, &response).unwrap();
    assert!(keys.recv.open_message(&mut keepalive).is_ok());
}

/// Keys we print and parse are the same strings boringtun's key types would carry.
#[test]
fn public_keys_agree_with_x25519_dalek() {
    let mut rng = rng(107);
    for _ in 0..8 {
        let private = PrivateKey::generate(&mut rng);
        let theirs = x25519::PublicKey::from(&x25519::StaticSecret::from(*private.to_bytes()));
        assert_eq!(
            private.public_key(),
            PublicKey::from_bytes(theirs.to_bytes())
        );
    }
}
