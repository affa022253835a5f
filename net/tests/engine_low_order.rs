//! A peer whose public key has small order is kept but never talked to: its
//! AllowedIPs stay routed to it (so its traffic cannot leak to a broader
//! prefix of another peer), nothing is ever sent to its endpoint, and the
//! other peers work as usual.

mod engine_support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crypto::{PrivateKey, PublicKey};
use engine_support::{ipv4_packet, now_at, Recorder};
use net::{DropReason, Engine, EngineOptions, Instant, IpCidr, PeerId, PeerSpec, SendOutcome};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

fn cidr(text: &str) -> IpCidr {
    text.parse().expect("valid CIDR")
}

#[test]
fn low_order_peer_is_kept_routed_and_never_contacted() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let own = PrivateKey::generate(&mut rng);
    let good_endpoint: SocketAddr = "192.0.2.10:51820".parse().unwrap();
    let bad_endpoint: SocketAddr = "192.0.2.11:51820".parse().unwrap();
    let low_order = PublicKey::from_bytes([0; 32]);
    assert!(low_order.is_low_order());

    let mut good = PeerSpec::new(PrivateKey::generate(&mut rng).public_key());
    good.allowed_ips = vec![cidr("0.0.0.0/0")];
    good.endpoint = Some(good_endpoint);
    let mut bad = PeerSpec::new(low_order);
    bad.allowed_ips = vec![cidr("10.9.0.0/24")];
    bad.endpoint = Some(bad_endpoint);
    bad.persistent_keepalive = Some(Duration::from_secs(1));
    let mut engine = Engine::new(own, vec![good, bad], EngineOptions::default(), &mut rng)
        .expect("a low-order peer does not make the configuration invalid");
    assert!(engine.peer_is_usable(PeerId(0)));
    assert!(!engine.peer_is_usable(PeerId(1)));

    // Traffic for the low-order peer's prefix stays with it (not the /0 of
    // the good peer) and is dropped without a single datagram.
    let mut out = Recorder::default();
    let to_bad = ipv4_packet(
        Ipv4Addr::new(192, 168, 1, 2),
        Ipv4Addr::new(10, 9, 0, 5),
        40,
    );
    assert_eq!(
        engine.peer_for_destination("10.9.0.5".parse().unwrap()),
        Some(PeerId(1))
    );
    let outcome = engine.send_packet(now_at(Instant::from_secs(1)), &to_bad, &mut rng, &mut out);
    assert_eq!(outcome, SendOutcome::Dropped(DropReason::UnusablePeerKey));
    assert!(
        out.sent.is_empty(),
        "something was sent: {:?}",
        out.sent.len()
    );

    // A minute of timers, persistent keepalive configured: still nothing to it.
    for second in 1..60 {
        engine.poll_timers(now_at(Instant::from_secs(second)), &mut rng, &mut out);
        let _ = engine.send_packet(
            now_at(Instant::from_secs(second)),
            &to_bad,
            &mut rng,
            &mut out,
        );
    }
    assert!(
        out.sent.iter().all(|(to, _)| *to != bad_endpoint),
        "a datagram went to the low-order peer"
    );
    assert!(engine.stats().dropped(DropReason::UnusablePeerKey) >= 60);

    // The good peer is unaffected: its traffic starts a handshake at once.
    let to_good = ipv4_packet(
        Ipv4Addr::new(192, 168, 1, 2),
        Ipv4Addr::new(10, 8, 0, 1),
        40,
    );
    let outcome = engine.send_packet(now_at(Instant::from_secs(61)), &to_good, &mut rng, &mut out);
    assert_eq!(outcome, SendOutcome::Staged);
    assert!(out
        .sent
        .iter()
        .any(|(to, d)| *to == good_endpoint && d.first() == Some(&1)));
}
