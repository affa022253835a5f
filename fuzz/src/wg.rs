//! The four WireGuard messages: classification, the zero-copy views, and
//! the gateway's handshake and transport steps with fixed keys.

use std::sync::OnceLock;
use std::time::Duration;

use crypto::constants::{HANDSHAKE_INITIATION_LEN, HANDSHAKE_RESPONSE_LEN, MAC_LEN};
use crypto::macs::{mac1_key, verify_mac1};
use crypto::primitives::mac;
use crypto::wire::{CookieReply, HandshakeInitiation, HandshakeResponse, TransportData};
use crypto::{
    consume_initiation, consume_response, create_initiation, create_response, message_type,
    CookieChecker, CookieState, Error, InitiatorState, LocalIdentity, MessageType, PeerKeys,
    PrivateKey, SessionKeys, Tai64N,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::engine::{GATEWAY_KEY, PEER_KEY};

/// The gateway's sender index in its own initiation.
pub const GATEWAY_INDEX: u32 = 0x1111_1111;
/// The peer's sender index in its response.
pub const PEER_INDEX: u32 = 0x2222_2222;

/// Both identities, a handshake the gateway initiated (so a response can be
/// consumed) and a finished session (so transport data can be opened).
pub struct Fixture {
    /// The gateway.
    pub gateway: LocalIdentity,
    /// The peer.
    pub peer: LocalIdentity,
    /// The gateway's view of the peer.
    pub gateway_peer: PeerKeys,
    /// The peer's view of the gateway.
    pub peer_gateway: PeerKeys,
    /// The gateway's initiation, MACs included.
    pub gateway_initiation: [u8; HANDSHAKE_INITIATION_LEN],
    /// The gateway's state waiting for the response.
    pub gateway_state: InitiatorState,
    /// The peer's response to it.
    pub peer_response: [u8; HANDSHAKE_RESPONSE_LEN],
    /// The gateway's session keys after that response.
    pub gateway_session: SessionKeys,
    /// The peer's session keys.
    pub peer_session: SessionKeys,
}

/// The clock of every step.
pub const NOW: Duration = Duration::from_secs(100);

/// The fixture, computed once.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let gateway = LocalIdentity::new(PrivateKey::from_bytes(GATEWAY_KEY));
        let peer = LocalIdentity::new(PrivateKey::from_bytes(PEER_KEY));
        let gateway_peer = PeerKeys::new(&gateway, *peer.public_key(), None).expect("peer keys");
        let peer_gateway = PeerKeys::new(&peer, *gateway.public_key(), None).expect("peer keys");
        let mut gateway_initiation = [0u8; HANDSHAKE_INITIATION_LEN];
        let gateway_state = create_initiation(
            &gateway_peer,
            &mut CookieState::new(),
            GATEWAY_INDEX,
            Tai64N::from_unix(1_700_000_000, 0),
            NOW,
            &mut rng,
            &mut gateway_initiation,
        )
        .expect("an initiation");
        let accepted = consume_initiation(&peer, &gateway_initiation)
            .and_then(|i| i.open_timestamp(&peer_gateway))
            .expect("the peer accepts the gateway's initiation");
        let mut peer_response = [0u8; HANDSHAKE_RESPONSE_LEN];
        let peer_session = create_response(
            accepted,
            &peer_gateway,
            &mut CookieState::new(),
            PEER_INDEX,
            NOW,
            &mut rng,
            &mut peer_response,
        )
        .expect("a response");
        let gateway_session =
            consume_response(&gateway_state, &gateway, &gateway_peer, &peer_response)
                .expect("the gateway accepts the response");
        Fixture {
            gateway,
            peer,
            gateway_peer,
            peer_gateway,
            gateway_initiation,
            gateway_state,
            peer_response,
            gateway_session,
            peer_session,
        }
    })
}

/// What the gateway made of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WgOutcome {
    /// The message type, if the datagram has a valid type and length.
    pub kind: Option<MessageType>,
    /// Whether the gateway's step for that type accepted it.
    pub accepted: bool,
}

/// Writes a valid MAC1 (for the gateway's key) into a handshake message.
fn fix_mac1(message: &mut [u8]) {
    let len = message.len();
    if len < 2 * MAC_LEN {
        return;
    }
    let key = mac1_key(fixture().gateway.public_key());
    let m = mac(&key, &[&message[..len - 2 * MAC_LEN]]);
    message[len - 2 * MAC_LEN..len - MAC_LEN].copy_from_slice(&m);
}

/// One datagram as the gateway receives it. The first input byte's low bit
/// asks for a valid MAC1 to be written first (so mutations reach the
/// handshake's decryption); the rest is the datagram.
///
/// Classification agrees with every view's `new_checked`; an accepted
/// initiation has a valid MAC1, names the peer and can be answered; an
/// accepted cookie reply leaves a fresh cookie, a rejected one none; an
/// opened transport message has its plaintext where the format says.
pub fn wg_run(data: &[u8]) -> WgOutcome {
    let f = fixture();
    let Some((&mode, rest)) = data.split_first() else {
        return WgOutcome {
            kind: None,
            accepted: false,
        };
    };
    let mut message = rest.to_vec();
    if mode & 1 != 0 {
        fix_mac1(&mut message);
    }
    let kind = message_type(&message).ok();
    let m = &message[..];
    assert_eq!(
        HandshakeInitiation::new_checked(m).is_ok(),
        kind == Some(MessageType::HandshakeInitiation)
    );
    assert_eq!(
        HandshakeResponse::new_checked(m).is_ok(),
        kind == Some(MessageType::HandshakeResponse)
    );
    assert_eq!(
        CookieReply::new_checked(m).is_ok(),
        kind == Some(MessageType::CookieReply)
    );
    assert_eq!(
        TransportData::new_checked(m).is_ok(),
        kind == Some(MessageType::TransportData)
    );
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let accepted = match kind {
        None => {
            assert!(consume_initiation(&f.gateway, m).is_err());
            false
        }
        Some(MessageType::HandshakeInitiation) => {
            let view = HandshakeInitiation::new_checked(m).expect("checked");
            let _ = (
                view.sender_index(),
                view.ephemeral(),
                view.mac1(),
                view.mac2(),
            );
            match consume_initiation(&f.gateway, m) {
                Err(_) => false,
                Ok(incoming) => {
                    assert!(verify_mac1(f.gateway.mac1_key(), m).is_ok());
                    assert_eq!(incoming.sender_index(), view.sender_index());
                    if incoming.peer_public_key() != f.peer.public_key() {
                        assert_eq!(
                            incoming.open_timestamp(&f.gateway_peer).err(),
                            Some(Error::WrongPeer)
                        );
                        false
                    } else if let Ok(accepted) = incoming.open_timestamp(&f.gateway_peer) {
                        let mut out = [0u8; HANDSHAKE_RESPONSE_LEN];
                        create_response(
                            accepted,
                            &f.gateway_peer,
                            &mut CookieState::new(),
                            7,
                            NOW,
                            &mut rng,
                            &mut out,
                        )
                        .expect("an accepted initiation is answered");
                        true
                    } else {
                        false
                    }
                }
            }
        }
        Some(MessageType::HandshakeResponse) => {
            let view = HandshakeResponse::new_checked(m).expect("checked");
            let _ = (view.sender_index(), view.receiver_index(), view.ephemeral());
            let result = consume_response(&f.gateway_state, &f.gateway, &f.gateway_peer, m);
            if result.is_ok() {
                assert_eq!(view.receiver_index(), GATEWAY_INDEX);
                assert!(verify_mac1(f.gateway.mac1_key(), m).is_ok());
            }
            result.is_ok()
        }
        Some(MessageType::CookieReply) => {
            let view = CookieReply::new_checked(m).expect("checked");
            let _ = (view.receiver_index(), view.nonce(), view.encrypted_cookie());
            // The gateway sent its initiation and remembers its MAC1.
            let mut cookies = CookieState::new();
            let mut sent = f.gateway_initiation;
            cookies
                .write_macs(&f.gateway_peer, &mut sent, NOW)
                .expect("MACs written");
            let ok = cookies.consume_reply(&f.gateway_peer, m, NOW).is_ok();
            assert_eq!(cookies.has_fresh_cookie(NOW), ok);
            ok
        }
        Some(MessageType::TransportData) => {
            let view = TransportData::new_checked(m).expect("checked");
            let _ = (view.receiver_index(), view.counter());
            let plaintext_len = view.plaintext_len();
            let mut buffer = message.clone();
            match f.gateway_session.recv.open_message(&mut buffer) {
                Ok(plaintext) => {
                    assert_eq!(plaintext.len(), plaintext_len);
                    assert_eq!(plaintext_len, message.len() - 32);
                    true
                }
                Err(_) => false,
            }
        }
    };
    // MAC1 decides for the handshake messages before anything else.
    if matches!(
        kind,
        Some(MessageType::HandshakeInitiation | MessageType::HandshakeResponse)
    ) && accepted
    {
        assert!(verify_mac1(f.gateway.mac1_key(), m).is_ok());
    }
    WgOutcome { kind, accepted }
}

/// The fuzz target: [`wg_run`].
pub fn wg_messages(data: &[u8]) {
    let _ = wg_run(data);
}

/// A cookie reply from the peer to the gateway's initiation.
pub fn cookie_reply_seed() -> [u8; 64] {
    let f = fixture();
    let mut checker = CookieChecker::new(&f.peer);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut out = [0u8; 64];
    checker
        .create_reply(
            &f.gateway_initiation,
            &[192, 0, 2, 1, 0xca, 0x6c],
            NOW,
            &mut rng,
            &mut out,
        )
        .expect("a cookie reply");
    out
}
