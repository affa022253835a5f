//! Ten thousand peers and a hundred thousand prefixes: construction time and lookups.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use crypto::PrivateKey;
use net::{Engine, EngineError, EngineOptions, IpCidr, PeerId, PeerSpec};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

const PEERS: usize = 10_000;

fn v4(i: usize, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, (i >> 8) as u8, i as u8, host)
}

fn v6(i: usize, k: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, i as u16, k as u16, 0, 0, 0, 0, 1)
}

#[test]
fn ten_thousand_peers_and_a_hundred_thousand_prefixes() {
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let specs: Vec<PeerSpec> = (0..PEERS)
        .map(|i| {
            let mut s = PeerSpec::new(PrivateKey::generate(&mut rng).public_key());
            // A /24 and a /32 inside the *next* peer's /24 (more specific wins), and 8 /48s.
            s.allowed_ips
                .push(IpCidr::new(IpAddr::V4(v4(i, 0)), 24).unwrap());
            s.allowed_ips
                .push(IpCidr::new(IpAddr::V4(v4((i + 1) % PEERS, 200)), 32).unwrap());
            for k in 0..8 {
                s.allowed_ips
                    .push(IpCidr::new(IpAddr::V6(v6(i, k)), 48).unwrap());
            }
            s
        })
        .collect();
    let prefixes: usize = specs.iter().map(|s| s.allowed_ips.len()).sum();
    assert_eq!(prefixes, 100_000);
    let started = Instant::now();
    let engine = Engine::new(
        PrivateKey::generate(&mut rng),
        specs,
        EngineOptions::default(),
        &mut rng,
    )
    .unwrap();
    let elapsed = started.elapsed();
    eprintln!("10k peers / 100k prefixes built in {elapsed:?}");
    // Not a performance goal (a few seconds here): a guard against construction
    // going quadratic in the prefixes (minutes), loose enough for a loaded host.
    assert!(elapsed.as_secs() < 120, "construction took {elapsed:?}");
    assert_eq!(engine.peer_count(), PEERS);
    let lookups = Instant::now();
    for _ in 0..10_000 {
        let i = (rng.next_u32() as usize) % PEERS;
        let k = (rng.next_u32() as usize) % 8;
        assert_eq!(
            engine.peer_for_destination(IpAddr::V4(v4(i, 77))),
            Some(PeerId(i as u32))
        );
        let owner_of_200 = (i + PEERS - 1) % PEERS;
        assert_eq!(
            engine.peer_for_destination(IpAddr::V4(v4(i, 200))),
            Some(PeerId(owner_of_200 as u32))
        );
        assert_eq!(
            engine.peer_for_destination(IpAddr::V6(v6(i, k))),
            Some(PeerId(i as u32))
        );
    }
    eprintln!("30k lookups in {:?}", lookups.elapsed());
    assert_eq!(
        engine.peer_for_destination("11.0.0.1".parse().unwrap()),
        None
    );
    assert_eq!(
        engine.peer_for_destination("fd00:0:8::1".parse().unwrap()),
        None
    );
}

#[test]
fn bad_peers_are_refused_with_clear_errors() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let own = PrivateKey::generate(&mut rng);
    let other = PrivateKey::generate(&mut rng).public_key();
    let build = |peers: Vec<PeerSpec>, rng: &mut ChaCha8Rng| {
        Engine::new(
            PrivateKey::from_bytes(*own.to_bytes()),
            peers,
            EngineOptions::default(),
            rng,
        )
        .map(|_| ())
    };
    assert_eq!(
        build(vec![PeerSpec::new(own.public_key())], &mut rng),
        Err(EngineError::PeerIsOwnKey { peer: 0 })
    );
    assert_eq!(
        build(vec![PeerSpec::new(other), PeerSpec::new(other)], &mut rng),
        Err(EngineError::DuplicatePeer { peer: 1 })
    );
    let mut zero_keepalive = PeerSpec::new(other);
    zero_keepalive.persistent_keepalive = Some(std::time::Duration::ZERO);
    assert_eq!(
        build(vec![zero_keepalive], &mut rng),
        Err(EngineError::InvalidKeepalive { peer: 0 })
    );
    let err = build(vec![PeerSpec::new(own.public_key())], &mut rng).unwrap_err();
    assert!(err.to_string().contains("own public key"));
}

#[test]
fn from_config_builds_the_peers_in_file_order() {
    let text = "\
[Interface]
PrivateKey = O5qhQv76RKq4OrHAkJ9pKf1TZWuJXsL8DkfUEupiulQ=
MTU = 1400
[Peer]
PublicKey = aYdQoJuTQzd0bwlzRIFn82TK4TLi+LMnrkkT5bVEUCk=
AllowedIPs = 10.8.0.2/32
Endpoint = 192.0.2.7:51820
PersistentKeepalive = 25
[Peer]
PublicKey = OyE87QA+ibNaJsIsvQEcm/qylXhBWyBp9/yLAZmLkD0=
PresharedKey = OfbMnHkFJY7vsSKB3rWA89qvCANobwKtCoO/oI+FJrQ=
AllowedIPs = 0.0.0.0/0
[Outer]
Address = 198.51.100.10/24
[Inner]
Address = 192.168.1.1/24
";
    let config = net::config::parse("test.conf", text).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let engine = Engine::from_config(&config, &mut rng).unwrap();
    assert_eq!(engine.options().mtu, 1400);
    assert_eq!(
        engine.peer_for_destination("10.8.0.2".parse().unwrap()),
        Some(PeerId(0))
    );
    assert_eq!(
        engine.peer_for_destination("1.1.1.1".parse().unwrap()),
        Some(PeerId(1))
    );
    let p0 = engine.peer_stats(PeerId(0)).unwrap();
    assert_eq!(p0.endpoint, Some("192.0.2.7:51820".parse().unwrap()));
    assert_eq!(
        p0.persistent_keepalive,
        Some(std::time::Duration::from_secs(25))
    );
    // A peer with keepalive and endpoint is contacted on the first poll.
    assert_eq!(engine.next_deadline(), Some(net::Instant::ZERO));
    assert!(engine.peer_stats(PeerId(2)).is_none());
}
