//! The userspace API against the running gateway loop (fake NICs): `get` reports the live
//! state, `set` removes and re-adds a peer with traffic stopping and resuming at once, bad
//! requests change nothing, and garbage from a client stops neither forwarding nor the next
//! client.

mod gateway_support;

use gateway_support::frames::*;
use gateway_support::*;
use net::gateway::{loop_counters, Control};
use rand_core::SeedableRng;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sends one request as a client would and returns the whole reply.
fn request(world: &mut World, control: &mut Control, text: &str) -> String {
    let now = world.clock();
    let mut input = text.as_bytes();
    let mut reply = Vec::new();
    let mut buffer = [0u8; 97];
    loop {
        let used = control.input(
            input,
            &mut world.gw,
            now,
            &mut world.uapi_rng,
            loop_counters,
        );
        input = &input[used..];
        loop {
            let n = control.output(&mut buffer);
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&buffer[..n]);
        }
        if input.is_empty() {
            break;
        }
    }
    String::from_utf8(reply).expect("replies are text")
}

fn control_for(world: &World) -> Control {
    let config = net::config::parse("gateway.conf", &world.config_text).unwrap();
    Control::new(&config).unwrap()
}

#[test]
fn get_reports_the_live_peer_and_our_counters() {
    let mut world = World::new(Rings::default());
    world.establish();
    let mut control = control_for(&world);
    let reply = request(&mut world, &mut control, "get=1\n\n");
    assert!(reply.ends_with("errno=0\n\n"), "{reply}");
    assert!(reply.contains("listen_port=51820\n"));
    assert!(reply.contains(&format!(
        "public_key={}\n",
        hex(world.peer_public.as_bytes())
    )));
    assert!(reply.contains("endpoint=192.0.2.2:51821\n"));
    assert!(
        reply.contains("allowed_ip=10.99.0.2/32\n") && reply.contains("allowed_ip=10.200.0.0/16\n")
    );
    let value = |key: &str| -> u64 {
        reply
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
            .unwrap_or(0)
    };
    assert!(value("last_handshake_time_sec") > 1_600_000_000, "{reply}");
    assert!(value("rx_bytes") > 0 && value("tx_bytes") > 0, "{reply}");
    assert!(
        reply.contains("x_wgate_loop_drop_outer_bad_checksum=0\n"),
        "our own counters: {reply}"
    );
    assert!(
        !reply.contains("private_key=0000"),
        "the real private key is reported"
    );
}

#[test]
fn a_peer_removed_and_added_back_live() {
    let mut world = World::new(Rings::default());
    world.establish();
    let mut control = control_for(&world);
    let peer = hex(world.peer_public.as_bytes());

    let reply = request(
        &mut world,
        &mut control,
        &format!("set=1\npublic_key={peer}\nremove=true\n\n"),
    );
    assert_eq!(reply, "errno=0\n\n");
    assert_eq!(world.gw.engine().peer_count(), 0);
    // Its traffic stops at once: LAN packets get "no route", its datagrams are dropped.
    world.lan_sends(&numbered_packet(LAN_HOST, REMOTE_HOST, 1, 100, 64));
    world.peer_sends(&numbered_packet(REMOTE_HOST, LAN_HOST, 2, 100, 64));
    world.settle(50);
    assert!(world.at_peer.is_empty());
    assert!(
        world.at_lan_host.iter().all(|p| p[9] == 1 && p[20] == 3),
        "only an ICMP unreachable: {:?}",
        world.at_lan_host
    );
    assert!(
        !request(&mut world, &mut control, "get=1\n\n").contains(&peer),
        "gone from `wg show`"
    );

    // Added back, with its address and endpoint: a handshake, then traffic.
    world.at_lan_host.clear();
    let set = format!(
        "set=1\npublic_key={peer}\nendpoint={PEER_IP}:{PEER_PORT}\nreplace_allowed_ips=true\nallowed_ip=10.200.0.0/16\n\n"
    );
    assert_eq!(request(&mut world, &mut control, &set), "errno=0\n\n");
    assert_eq!(world.gw.engine().peer_count(), 1);
    // (establish() handshook a moment ago, and the peer's replay and flood guards refuse
    // an initiation that close behind the last one: the gateway's retry, 5 s on, gets
    // through, as it would with a real peer.)
    world.lan_sends(&numbered_packet(LAN_HOST, REMOTE_HOST, 3, 100, 64));
    for _ in 0..100 {
        world.step();
        world.advance(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        world.at_peer.len(),
        1,
        "the re-added peer handshakes and carries traffic"
    );
    assert_eq!(sequence_of(&world.at_peer[0]), 3);
}

/// Found by the `uapi` fuzz target: with the private key removed the API takes a peer with
/// the engine's (kept) public key; the engine must run it too, or `get` lists a peer that
/// does not exist and the `set` is answered with an error after changing the API's state.
#[test]
fn a_peer_with_our_old_key_after_the_key_is_removed() {
    let mut world = World::new(Rings::default());
    let mut control = control_for(&world);
    let zero = hex(&[0; 32]);
    let set = format!("set=1\nprivate_key={zero}\n\n");
    assert_eq!(request(&mut world, &mut control, &set), "errno=0\n\n");
    let own = hex(world.gw.engine().public_key().as_bytes());
    let set = format!("set=1\npublic_key={own}\nallowed_ip=10.55.0.0/16\n\n");
    assert_eq!(request(&mut world, &mut control, &set), "errno=0\n\n");
    let reply = request(&mut world, &mut control, "get=1\n\n");
    assert!(reply.contains(&format!("public_key={own}\n")), "{reply}");
    assert_eq!(world.gw.engine().peer_count(), 2);
    let id = world
        .gw
        .engine()
        .peer_by_public_key(world.gw.engine().public_key())
        .expect("the engine runs it");
    assert!(
        !world.gw.engine().peer_is_usable(id),
        "never handshakes with itself"
    );
    // Its preshared key, given while it has no keys, is not lost: a new
    // private key makes it usable with the key `wg show` lists.
    let psk = hex(&[0x5c; 32]);
    let set = format!("set=1\npublic_key={own}\npreshared_key={psk}\n\n");
    assert_eq!(request(&mut world, &mut control, &set), "errno=0\n\n");
    let set = format!("set=1\nprivate_key={}\n\n", hex(&[0x61; 32]));
    assert_eq!(request(&mut world, &mut control, &set), "errno=0\n\n");
    assert!(world.gw.engine().peer_is_usable(id));
    assert_eq!(
        world.gw.engine().preshared_key(id).map(|k| *k.as_bytes()),
        Some([0x5c; 32])
    );
}

#[test]
fn a_bad_set_changes_nothing() {
    let mut world = World::new(Rings::default());
    world.establish();
    let mut control = control_for(&world);
    let peer = hex(world.peer_public.as_bytes());
    // The second line is bad: the first must not be applied either.
    let set =
        format!("set=1\npublic_key={peer}\nreplace_allowed_ips=true\nallowed_ip=10.300.0.0/16\n\n");
    let reply = request(&mut world, &mut control, &set);
    assert_eq!(reply, "errno=-22\n\n");
    assert_eq!(
        world
            .gw
            .engine()
            .peer_for_destination(std::net::IpAddr::V4(REMOTE_HOST)),
        Some(net::PeerId(0)),
        "the allowed IPs were not replaced"
    );
    world.lan_sends(&numbered_packet(LAN_HOST, REMOTE_HOST, 9, 100, 64));
    world.settle(20);
    assert_eq!(world.at_peer.len(), 1, "forwarding untouched");
}

#[test]
fn a_megabyte_of_garbage_stops_neither_forwarding_nor_the_next_client() {
    let mut world = World::new(Rings::default());
    world.establish();
    let mut control = control_for(&world);
    let mut random = xorshift(42);
    let garbage: Vec<u8> = (0..1 << 20).map(|_| random() as u8).collect();
    let now = world.clock();
    let mut rest = &garbage[..];
    let mut out = [0u8; 256];
    for _ in 0..1000 {
        let used = control.input(rest, &mut world.gw, now, &mut world.uapi_rng, loop_counters);
        rest = &rest[used..];
        while control.output(&mut out) > 0 {}
        // Forwarding goes on between chunks.
        world.step();
        if rest.is_empty() || used == 0 {
            break;
        }
    }
    world.lan_sends(&numbered_packet(LAN_HOST, REMOTE_HOST, 5, 100, 64));
    world.settle(20);
    assert_eq!(world.at_peer.len(), 1, "still forwarding");
    // The client leaves; the next one is served normally.
    control.client_changed();
    let reply = request(&mut world, &mut control, "get=1\n\n");
    assert!(
        reply.ends_with("errno=0\n\n") && reply.contains("listen_port=51820"),
        "{reply}"
    );
}

#[test]
fn leftovers_of_a_client_that_left_are_skipped_up_to_the_next_request() {
    let mut world = World::new(Rings::default());
    world.establish();
    let mut control = control_for(&world);
    // A client sends garbage (the session gives up on it) and leaves; the
    // transport still delivers the rest of its garbage, then the next
    // client's request, with no mark in between.
    let _ = request(&mut world, &mut control, "\u{1}\u{2}garbage\n");
    control.client_changed();
    let mut random = xorshift(9);
    let mut stream: Vec<u8> = (0..100_000).map(|_| (random() as u8) | 0x80).collect();
    stream.extend_from_slice(b"get=1\n\n");
    let stream = String::from_utf8_lossy(&stream).into_owned();
    let reply = request(&mut world, &mut control, &stream);
    assert!(
        reply.ends_with("errno=0\n\n") && reply.contains("listen_port=51820"),
        "{}",
        &reply[..reply.len().min(200)]
    );
}

#[test]
fn forty_peers_of_fifty_two_prefixes_round_trip_in_small_chunks() {
    let mut world = World::new(Rings::default());
    let mut control = control_for(&world);
    let mut set = String::from("set=1\n");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut expected = Vec::new();
    for p in 0..40u32 {
        let key = crypto::PrivateKey::generate(&mut rng).public_key();
        set.push_str(&format!("public_key={}\n", hex(key.as_bytes())));
        let prefixes: Vec<String> = (0..52u32)
            .map(|i| format!("10.{}.{}.0/24", 100 + p, i))
            .collect();
        for prefix in &prefixes {
            set.push_str(&format!("allowed_ip={prefix}\n"));
        }
        expected.push((hex(key.as_bytes()), prefixes));
    }
    set.push('\n');
    assert_eq!(request(&mut world, &mut control, &set), "errno=0\n\n");
    let reply = request(&mut world, &mut control, "get=1\n\n");
    let mut current = String::new();
    let mut got: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for line in reply.lines() {
        if let Some(key) = line.strip_prefix("public_key=") {
            current = key.to_string();
        } else if let Some(ip) = line.strip_prefix("allowed_ip=") {
            got.entry(current.clone()).or_default().push(ip.to_string());
        }
    }
    for (key, prefixes) in expected {
        let mut back = got.remove(&key).unwrap_or_default();
        back.sort();
        let mut sent = prefixes;
        sent.sort();
        assert_eq!(back, sent, "peer {key}");
    }
}

#[test]
fn a_request_in_flight_is_quiet_only_when_done() {
    let mut world = World::new(Rings::default());
    let mut control = control_for(&world);
    assert!(control.is_quiet());
    let now = world.clock();
    // Half a request: not quiet (a probe's late disconnect must not end it).
    let used = control.input(
        b"get=1\n",
        &mut world.gw,
        now,
        &mut world.uapi_rng,
        loop_counters,
    );
    assert_eq!(used, 6);
    assert!(!control.is_quiet());
    control.input(
        b"\n",
        &mut world.gw,
        now,
        &mut world.uapi_rng,
        loop_counters,
    );
    assert!(!control.is_quiet(), "the reply is still to be written");
    let mut out = [0u8; 4096];
    while control.output(&mut out) > 0 {}
    assert!(control.is_quiet());
}

/// The `listen_port=` value of a `get` reply.
fn listed_port(reply: &str) -> Option<u16> {
    reply
        .lines()
        .find_map(|l| l.strip_prefix("listen_port="))
        .and_then(|p| p.parse().ok())
}

#[test]
fn listen_port_zero_picks_an_ephemeral_port_that_get_reports_and_traffic_uses() {
    let mut world = World::new(Rings::default());
    world.establish();
    let mut control = control_for(&world);
    assert_eq!(
        request(&mut world, &mut control, "set=1\nlisten_port=0\n\n"),
        "errno=0\n\n"
    );
    // As a socket bound to port 0: some dynamic port, reported by `get`
    // (a gateway listening on port 0 would hear nothing).
    let reply = request(&mut world, &mut control, "get=1\n\n");
    let port = listed_port(&reply).expect("get lists the chosen port");
    assert!((49152..=65535).contains(&port), "{reply}");
    assert_eq!(world.gw.listen_port(), port);

    // The peer still sends to 51820: nothing listens there any more.
    let to_lan = |n| numbered_packet(REMOTE_HOST, LAN_HOST, n, 100, 64);
    world.peer_sends(&to_lan(1));
    world.settle(20);
    assert!(world.at_lan_host.is_empty(), "the old port still works");
    // Told the new port, it gets through; the gateway's replies leave from
    // it (the fake wire asserts the source port is the listen port).
    let moved = std::net::SocketAddr::new(gw_endpoint().ip(), port);
    assert!(world.peer.set_endpoint(net::PeerId(0), moved));
    world.peer_sends(&to_lan(2));
    world.settle(20);
    assert_eq!(world.at_lan_host.len(), 1, "nothing through the new port");
    let before = world.at_peer.len();
    world.lan_sends(&numbered_packet(LAN_HOST, REMOTE_HOST, 3, 100, 64));
    world.settle(20);
    assert_eq!(world.at_peer.len(), before + 1);

    // Asking for any port again moves it again; an explicit port is kept as given.
    assert_eq!(
        request(&mut world, &mut control, "set=1\nlisten_port=0\n\n"),
        "errno=0\n\n"
    );
    let again = listed_port(&request(&mut world, &mut control, "get=1\n\n")).unwrap();
    assert!((49152..=65535).contains(&again));
    assert_ne!(again, port, "a fresh pick (the seeds make it differ)");
    assert_eq!(
        request(&mut world, &mut control, "set=1\nlisten_port=51820\n\n"),
        "errno=0\n\n"
    );
    let reply = request(&mut world, &mut control, "get=1\n\n");
    assert_eq!(listed_port(&reply), Some(51820));
    assert_eq!(world.gw.listen_port(), 51820);
}

#[test]
fn a_refused_set_asking_for_any_port_keeps_the_port() {
    let mut world = World::new(Rings::default());
    world.establish();
    let mut control = control_for(&world);
    // All or nothing: the bad key refuses the request, port change included.
    let reply = request(
        &mut world,
        &mut control,
        "set=1\nlisten_port=0\npublic_key=zz\n\n",
    );
    assert!(reply.starts_with("errno=-"), "{reply}");
    let reply = request(&mut world, &mut control, "get=1\n\n");
    assert_eq!(listed_port(&reply), Some(51820), "{reply}");
    assert_eq!(world.gw.listen_port(), 51820);
    world.lan_sends(&numbered_packet(LAN_HOST, REMOTE_HOST, 4, 100, 64));
    world.settle(20);
    assert_eq!(world.at_peer.len(), 1, "still forwarding on 51820");
}
