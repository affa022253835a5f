//! The userspace API protocol: framing, every errno path, `set` semantics against
//! wireguard-go's, all-or-nothing application, and `get` output.

mod uapi_support;

use std::string::{String, ToString};
use std::vec::Vec;

use crypto::{PresharedKey, PrivateKey, PublicKey};
use net::uapi::{
    Change, Errno, Event, GetWriter, Key, Model, ModelLimits, PeerChanges, PeerSnapshot, Session,
    SessionLimits, Snapshot, UapiError,
};
use uapi_support::{hex, parse_get, peer_key, private_key, Driver};

fn pk_line(key: &PublicKey) -> String {
    format!("public_key={}", hex(key.as_bytes()))
}

fn lines(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

const OK: &str = "errno=0\n\n";
const EINVAL: &str = "errno=-22\n\n";
const EPROTO: &str = "errno=-71\n\n";
const EIO: &str = "errno=-5\n\n";

#[test]
fn errno_replies_are_formatted_like_wireguard_go() {
    assert_eq!(Errno::OK.reply().as_bytes(), b"errno=0\n\n");
    assert_eq!(Errno::INVALID.reply().as_bytes(), b"errno=-22\n\n");
    assert_eq!(Errno::PROTOCOL.reply().as_bytes(), b"errno=-71\n\n");
    assert_eq!(Errno::IO.reply().as_bytes(), b"errno=-5\n\n");
    assert_eq!(Errno::PORT_IN_USE.reply().as_bytes(), b"errno=-98\n\n");
    assert_eq!(Errno::UNKNOWN.reply().as_bytes(), b"errno=-55\n\n");
    assert_eq!(Errno(i32::MIN).reply().as_bytes(), b"errno=-2147483648\n\n");
}

#[test]
fn get_of_an_empty_device_is_just_errno() {
    let mut driver = Driver::new();
    assert_eq!(driver.send("get=1\n\n"), OK);
}

#[test]
fn full_round_trip_in_wireguard_go_order() {
    let mut driver = Driver::new();
    let me = private_key(7);
    let peer = peer_key(1);
    let psk = [0x5a; 32];
    let reply = driver.set(&[
        format!("private_key={}", hex(&me.to_bytes())),
        "listen_port=51820".into(),
        "fwmark=3".into(),
        pk_line(&peer),
        format!("preshared_key={}", hex(&psk)),
        "protocol_version=1".into(),
        "endpoint=[2001:db8::1]:51821".into(),
        "persistent_keepalive_interval=25".into(),
        "replace_allowed_ips=true".into(),
        "allowed_ip=10.0.0.7/24".into(),
        "allowed_ip=fd00::1/64".into(),
    ]);
    assert_eq!(reply, OK);
    driver.runtime.last_handshake = std::time::Duration::new(1_700_000_000, 123_456_789);
    driver.runtime.rx_bytes = 1372;
    driver.runtime.tx_bytes = 1460;
    let text = driver.send("get=1\n\n");
    let expected = format!(
        "private_key={}\nlisten_port=51820\nfwmark=3\npublic_key={}\npreshared_key={}\n\
         protocol_version=1\nendpoint=[2001:db8::1]:51821\nlast_handshake_time_sec=1700000000\n\
         last_handshake_time_nsec=123456789\ntx_bytes=1460\nrx_bytes=1372\n\
         persistent_keepalive_interval=25\nallowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\n\
         errno=0\n\n",
        hex(&me.to_bytes()),
        hex(peer.as_bytes()),
        hex(&psk)
    );
    assert_eq!(text, expected);
}

#[test]
fn get_writer_streams_through_any_buffer_size() {
    let mut snapshot = Snapshot {
        private_key: Some(private_key(3)),
        listen_port: 1,
        extensions: vec![("outer_drop_no_route".into(), 4)],
        ..Snapshot::default()
    };
    for n in 0..5 {
        let mut peer = PeerSnapshot::new(peer_key(n));
        peer.endpoint = Some("192.0.2.1:9".parse().unwrap());
        peer.allowed_ips = (0..7u8)
            .map(|i| format!("10.{n}.{i}.0/24").parse().unwrap())
            .collect();
        snapshot.peers.push(peer);
    }
    let collect = |size: usize, snapshot: Snapshot| {
        let mut writer = GetWriter::new(snapshot);
        let mut out = Vec::new();
        let mut buffer = vec![0u8; size];
        loop {
            let n = writer.fill(&mut buffer);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buffer[..n]);
        }
        assert!(writer.is_done());
        out
    };
    let clone = |s: &Snapshot| Snapshot {
        private_key: s
            .private_key
            .as_ref()
            .map(|k| PrivateKey::from_bytes(*k.to_bytes())),
        listen_port: s.listen_port,
        fwmark: s.fwmark,
        extensions: s.extensions.clone(),
        peers: s.peers.clone(),
    };
    let whole = collect(1 << 16, clone(&snapshot));
    for size in [1, 2, 3, 13, 64, 79, 80, 81] {
        assert_eq!(collect(size, clone(&snapshot)), whole, "buffer of {size}");
    }
    let parsed = parse_get(std::str::from_utf8(&whole).unwrap());
    assert_eq!(parsed.peers.len(), 5);
    assert_eq!(
        parsed.extensions,
        vec![("x_wgate_outer_drop_no_route".to_string(), 4)]
    );
}

#[test]
fn get_output_parses_back_into_the_snapshot() {
    let mut snapshot = Snapshot {
        private_key: Some(private_key(9)),
        listen_port: 65535,
        fwmark: 0,
        extensions: vec![
            ("outer_drop_bad_mac".into(), 1),
            ("Inner Drop/queue-full".into(), u64::MAX),
        ],
        peers: Vec::new(),
    };
    let mut a = PeerSnapshot::new(peer_key(1));
    a.preshared_key = PresharedKey::from_bytes([0xab; 32]);
    a.endpoint = Some("198.51.100.7:51820".parse().unwrap());
    a.last_handshake = std::time::Duration::new(12, 999_999_999);
    a.rx_bytes = u64::MAX;
    a.tx_bytes = 1;
    a.persistent_keepalive_interval = 65535;
    a.allowed_ips = vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()];
    let b = PeerSnapshot::new(peer_key(2));
    snapshot.peers = vec![a.clone(), b];
    let mut writer = GetWriter::new(snapshot);
    let mut buffer = [0u8; 4096];
    let n = writer.fill(&mut buffer);
    assert!(writer.is_done());
    let device = parse_get(std::str::from_utf8(&buffer[..n]).unwrap());
    assert_eq!(device.private_key, Some(hex(&private_key(9).to_bytes())));
    assert_eq!(device.listen_port, Some(65535));
    assert_eq!(device.fwmark, None);
    assert_eq!(
        device.extensions,
        vec![
            ("x_wgate_outer_drop_bad_mac".to_string(), 1),
            ("x_wgate_inner_drop_queue_full".to_string(), u64::MAX)
        ]
    );
    let p = &device.peers[0];
    assert_eq!(p.public_key, hex(peer_key(1).as_bytes()));
    assert_eq!(p.preshared_key, hex(&[0xab; 32]));
    assert_eq!(p.protocol_version, "1");
    assert_eq!(p.endpoint.as_deref(), Some("198.51.100.7:51820"));
    assert_eq!(
        (p.last_handshake_time_sec, p.last_handshake_time_nsec),
        (12, 999_999_999)
    );
    assert_eq!((p.rx_bytes, p.tx_bytes), (u64::MAX, 1));
    assert_eq!(p.persistent_keepalive_interval, 65535);
    assert_eq!(p.allowed_ips, ["0.0.0.0/0", "::/0"]);
    assert_eq!(
        p.key_order,
        [
            "public_key",
            "preshared_key",
            "protocol_version",
            "endpoint",
            "last_handshake_time_sec",
            "last_handshake_time_nsec",
            "tx_bytes",
            "rx_bytes",
            "persistent_keepalive_interval",
            "allowed_ip",
            "allowed_ip"
        ]
    );
    let q = &device.peers[1];
    assert_eq!(q.preshared_key, "0".repeat(64));
    assert_eq!(q.endpoint, None);
    assert!(q.allowed_ips.is_empty());
}

#[test]
fn framing_errors() {
    // A byte other than the blank line after get=1: -EINVAL, and the byte is consumed.
    let mut driver = Driver::new();
    assert_eq!(driver.send("get=1\nx"), EINVAL);
    assert_eq!(driver.send("get=1\n\n"), OK);
    // An unknown operation: no reply, and nothing more until the client goes.
    let mut driver = Driver::new();
    assert_eq!(driver.send("GET=1\n"), "");
    assert_eq!(driver.closes, 1);
    assert!(driver.session.is_closed());
    assert_eq!(driver.send("get=1\n\n"), "");
    driver.session.reset();
    assert_eq!(driver.send("get=1\n\n"), OK);
    for bad in ["get=2\n", "set=1\r\n", "get\n", "\n", "get=1 \n", "hello"] {
        let mut driver = Driver::new();
        assert_eq!(driver.send(bad), "", "{bad:?}");
        assert_eq!(driver.closes, 1, "{bad:?}");
    }
    // A prefix of an operation is just incomplete.
    let mut driver = Driver::new();
    assert_eq!(driver.send("set="), "");
    assert_eq!(driver.closes, 0);
}

#[test]
fn every_set_errno() {
    let peer = pk_line(&peer_key(1));
    let cases: Vec<(Vec<String>, &str)> = vec![
        (lines(&["listen_port"]), EPROTO),
        (lines(&["no equals sign here"]), EPROTO),
        (vec![peer.clone(), "allowed_ip".into()], EPROTO),
        (lines(&["bogus=1"]), EINVAL),
        (lines(&["=1"]), EINVAL),
        (lines(&["remove=true"]), EINVAL),
        (lines(&["allowed_ip=10.0.0.0/8"]), EINVAL),
        (vec![peer.clone(), "listen_port=1".into()], EINVAL),
        (vec![peer.clone(), "private_key=00".into()], EINVAL),
        (vec![peer.clone(), "bogus=1".into()], EINVAL),
        (lines(&["private_key=abc"]), EINVAL),
        (vec![format!("private_key={}", "g".repeat(64))], EINVAL),
        (vec![format!("private_key={}", "a".repeat(66))], EINVAL),
        (lines(&["public_key=0102"]), EINVAL),
        (lines(&["listen_port=65536"]), EINVAL),
        (lines(&["listen_port=-1"]), EINVAL),
        (lines(&["listen_port="]), EINVAL),
        (lines(&["listen_port=+5"]), EINVAL),
        (lines(&["fwmark=4294967296"]), EINVAL),
        (lines(&["fwmark=0x10"]), EINVAL),
        (lines(&["replace_peers=false"]), EINVAL),
        (lines(&["replace_peers=TRUE"]), EINVAL),
        (vec![peer.clone(), "remove=1".into()], EINVAL),
        (vec![peer.clone(), "update_only=yes".into()], EINVAL),
        (vec![peer.clone(), "replace_allowed_ips=".into()], EINVAL),
        (vec![peer.clone(), "preshared_key=zz".into()], EINVAL),
        (
            vec![peer.clone(), "endpoint=example.com:51820".into()],
            EINVAL,
        ),
        (vec![peer.clone(), "endpoint=1.2.3.4".into()], EINVAL),
        (vec![peer.clone(), "endpoint=::1:51820".into()], EINVAL),
        (
            vec![peer.clone(), "endpoint=[fe80::1%eth0]:1".into()],
            EINVAL,
        ),
        (
            vec![peer.clone(), "persistent_keepalive_interval=65536".into()],
            EINVAL,
        ),
        (vec![peer.clone(), "allowed_ip=10.0.0.0/33".into()], EINVAL),
        (vec![peer.clone(), "allowed_ip=10.0.0.0".into()], EINVAL),
        (
            vec![peer.clone(), "allowed_ip=10.0.0.256/32".into()],
            EINVAL,
        ),
        (vec![peer.clone(), "allowed_ip=--10.0.0.0/8".into()], EINVAL),
        (vec![peer.clone(), "protocol_version=2".into()], EINVAL),
        (vec![peer.clone(), "protocol_version=".into()], EINVAL),
    ];
    for (request, expected) in cases {
        let mut driver = Driver::new();
        assert_eq!(driver.set(&[pk_line(&peer_key(9))]), OK);
        let before = driver.get();
        // Valid lines first: none of them may stick.
        let mut full = vec!["listen_port=4".to_string(), "fwmark=5".to_string()];
        if request[0].starts_with("public_key") {
            full.push(pk_line(&peer_key(10)));
            full.push("allowed_ip=10.9.9.9/32".into());
        }
        full.extend(request.iter().cloned());
        full.push(pk_line(&peer_key(11)));
        assert_eq!(driver.set(&full), expected, "{request:?}");
        assert_eq!(driver.get(), before, "{request:?} changed something");
        // The connection is still in step: the next request works.
        assert_eq!(driver.set(&lines(&["listen_port=7"])), OK, "{request:?}");
    }
}

#[test]
fn over_long_lines_and_oversized_requests_get_eio() {
    let limits = SessionLimits {
        max_line_len: 100,
        max_request_lines: 10,
        max_request_memory: 1 << 20,
    };
    let mut driver = Driver::with_limits(limits, ModelLimits::default());
    let long = format!("listen_port={}", "0".repeat(200));
    assert_eq!(driver.set(&[long]), EIO);
    assert_eq!(driver.send("get=1\n\n"), OK);
    // Exactly at the limit is fine.
    let at_limit = format!("listen_port={}1", "0".repeat(100 - 13));
    assert_eq!(at_limit.len(), 100);
    assert_eq!(driver.set(&[at_limit]), OK);
    let eleven: Vec<String> = (0..11).map(|i| format!("listen_port={i}")).collect();
    assert_eq!(driver.set(&eleven), EIO);
    assert_eq!(driver.set(&eleven[..10]), OK);
    assert_eq!(driver.model.listen_port(), 9);
    // The parsed-size limit.
    let limits = SessionLimits {
        max_line_len: 256,
        max_request_lines: 1 << 20,
        max_request_memory: 1000,
    };
    let mut driver = Driver::with_limits(limits, ModelLimits::default());
    let mut request = vec![pk_line(&peer_key(1))];
    request.extend((0..200).map(|i| format!("allowed_ip=10.0.{i}.0/24")));
    assert_eq!(driver.set(&request), EIO);
    assert_eq!(driver.model.peer_count(), 0);
    request.truncate(100);
    assert_eq!(driver.set(&request), OK);
}

#[test]
fn limits_refuse_the_whole_set() {
    let limits = ModelLimits {
        max_peers: 3,
        max_allowed_ips: 10,
        ..ModelLimits::default()
    };
    let mut driver = Driver::with_limits(SessionLimits::default(), limits);
    let mut base = Vec::new();
    for n in 0..2 {
        base.push(pk_line(&peer_key(n)));
        base.push(format!("allowed_ip=10.{n}.0.0/16"));
    }
    assert_eq!(driver.set(&base), OK);
    let before = driver.get();
    // Two more peers: the fourth is one too many.
    let mut more = vec!["listen_port=9".to_string()];
    for n in 2..4 {
        more.push(pk_line(&peer_key(n)));
        more.push(format!("allowed_ip=10.{n}.0.0/16"));
    }
    assert_eq!(driver.set(&more), EINVAL);
    assert_eq!(driver.get(), before);
    // Nine more prefixes: one too many.
    let mut ips = vec![pk_line(&peer_key(0))];
    ips.extend((0..9).map(|i| format!("allowed_ip=192.168.{i}.0/24")));
    assert_eq!(driver.set(&ips), EINVAL);
    assert_eq!(driver.get(), before);
    // Eight fit.
    ips.pop();
    assert_eq!(driver.set(&ips), OK);
    assert_eq!(driver.model.allowed_ip_count(), 10);
    // Replacing frees room first, as the limit is checked step by step.
    let mut replace = vec![
        pk_line(&peer_key(0)),
        "replace_allowed_ips=true".to_string(),
    ];
    replace.extend((0..9).map(|i| format!("allowed_ip=172.16.{i}.0/24")));
    assert_eq!(driver.set(&replace), OK);
    assert_eq!(driver.model.allowed_ip_count(), 10);
    // A removed peer frees a slot for a new one in the same request.
    let swap = vec![
        pk_line(&peer_key(1)),
        "remove=true".to_string(),
        pk_line(&peer_key(5)),
        pk_line(&peer_key(6)),
    ];
    assert_eq!(driver.set(&swap), OK);
    assert_eq!(driver.model.peer_count(), 3);
}

#[test]
fn a_failed_set_restores_everything_it_touched() {
    let limits = ModelLimits {
        max_peers: 10,
        max_allowed_ips: 6,
        ..ModelLimits::default()
    };
    let mut driver = Driver::with_limits(SessionLimits::default(), limits);
    assert_eq!(
        driver.set(&[
            format!("private_key={}", hex(&private_key(1).to_bytes())),
            "listen_port=100".into(),
            pk_line(&peer_key(1)),
            format!("preshared_key={}", hex(&[1; 32])),
            "endpoint=192.0.2.1:1".into(),
            "persistent_keepalive_interval=5".into(),
            "allowed_ip=10.1.0.0/16".into(),
            "allowed_ip=10.2.0.0/16".into(),
            pk_line(&peer_key(2)),
            "allowed_ip=10.3.0.0/16".into(),
            "allowed_ip=10.4.0.0/16".into(),
        ]),
        OK
    );
    let before = driver.get();
    // Everything a set can do, then one prefix over the limit at the very end.
    let reply = driver.set(&[
        format!("private_key={}", hex(&private_key(2).to_bytes())),
        "listen_port=200".into(),
        "fwmark=1".into(),
        "replace_peers=true".into(),
        pk_line(&peer_key(2)),
        "allowed_ip=10.1.0.0/16".into(),
        pk_line(&peer_key(1)),
        format!("preshared_key={}", hex(&[2; 32])),
        "endpoint=192.0.2.2:2".into(),
        "persistent_keepalive_interval=0".into(),
        "allowed_ip=10.1.0.0/16".into(),
        "allowed_ip=-10.2.0.0/16".into(),
        "replace_allowed_ips=true".into(),
        "allowed_ip=10.5.0.0/16".into(),
        pk_line(&peer_key(3)),
        "allowed_ip=10.6.0.0/16".into(),
        "allowed_ip=10.7.0.0/16".into(),
        "allowed_ip=10.8.0.0/16".into(),
        "allowed_ip=10.9.0.0/16".into(),
        "allowed_ip=10.10.0.0/16".into(),
        "allowed_ip=10.11.0.0/16".into(),
    ]);
    assert_eq!(reply, EINVAL);
    assert_eq!(driver.get(), before);
    assert_eq!(driver.model.allowed_ip_count(), 4);
    assert_eq!(driver.model.peer_count(), 2);
    // And the model still works normally afterwards.
    assert_eq!(
        driver.set(&[pk_line(&peer_key(1)), "allowed_ip=10.2.0.0/16".into()]),
        OK
    );
}

#[test]
fn undo_limit_refuses_and_rolls_back() {
    let limits = ModelLimits {
        max_undo_memory: 10 * Model::UNDO_RECORD_COST,
        ..ModelLimits::default()
    };
    let mut driver = Driver::with_limits(SessionLimits::default(), limits);
    let mut fill = vec![pk_line(&peer_key(1))];
    fill.extend((0..100).map(|i| format!("allowed_ip=10.0.{i}.0/24")));
    assert_eq!(driver.set(&fill), OK, "appends are one record");
    let before = driver.get();
    // Moving 100 prefixes to another peer costs a record each.
    let mut steal = vec![pk_line(&peer_key(2))];
    steal.extend((0..100).map(|i| format!("allowed_ip=10.0.{i}.0/24")));
    assert_eq!(driver.set(&steal), EIO);
    assert_eq!(driver.get(), before);
    // Replacing and re-adding costs nothing per prefix.
    fill.insert(1, "replace_allowed_ips=true".into());
    assert_eq!(driver.set(&fill), OK);
    assert_eq!(driver.get(), before);
}

#[test]
fn truncated_request_then_disconnect_applies_nothing() {
    let mut driver = Driver::new();
    let partial = format!(
        "set=1\nlisten_port=9\n{}\nallowed_ip=10.0.0.0/8\n",
        pk_line(&peer_key(1))
    );
    assert_eq!(driver.send(&partial), "");
    driver.session.reset();
    assert_eq!(driver.model.peer_count(), 0);
    assert_eq!(driver.model.listen_port(), 0);
    // Half a line of a get, then a new client.
    assert_eq!(driver.send("get="), "");
    driver.session.reset();
    assert_eq!(driver.send("get=1\n\n"), OK);
    // wg's probe: a connection with no bytes at all.
    driver.session.reset();
    assert!(driver.session.is_idle());
    driver.session.reset();
    assert_eq!(driver.send("get=1\n\n"), OK);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut driver = Driver::new();
    let text = format!(
        "set=1\nlisten_port=1\n\nget=1\n\nset=1\nbogus=1\nlisten_port=2\n\nget=1\nxset=1\n{}\n\nget=1\n\n",
        pk_line(&peer_key(3))
    );
    let reply = driver.send(&text);
    assert_eq!(
        reply,
        format!(
            "errno=0\n\nlisten_port=1\nerrno=0\n\nerrno=-22\n\nerrno=-22\n\nerrno=0\n\n\
             listen_port=1\npublic_key={}\npreshared_key={}\nprotocol_version=1\n\
             last_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\n\
             persistent_keepalive_interval=0\nerrno=0\n\n",
            hex(peer_key(3).as_bytes()),
            "0".repeat(64)
        )
    );
}

#[test]
fn byte_at_a_time_equals_whole_buffer() {
    let mut text = String::new();
    text.push_str(&format!(
        "set=1\nprivate_key={}\nlisten_port=51820\n",
        hex(&private_key(4).to_bytes())
    ));
    for n in 0..5 {
        text.push_str(&pk_line(&peer_key(n)));
        text.push_str("\nendpoint=[::1]:5\npersistent_keepalive_interval=1\n");
        text.push_str(&format!(
            "allowed_ip=10.{n}.0.0/16\nallowed_ip=fd{n:02x}::/16\n"
        ));
    }
    text.push_str("\nget=1\n\nset=1\nlisten_port=99999\nlisten_port=1\n\n");
    text.push_str(&format!(
        "set=1\n{}\nremove=true\n\nget=1\n\n",
        pk_line(&peer_key(2))
    ));
    text.push_str(&format!(
        "set=1\nlisten_port={}\n\nget=1\n\n",
        "1".repeat(300)
    ));
    text.push_str("get=1\n\nnope\nget=1\n\n");
    let mut reference = Driver::new();
    let whole = reference.exchange(text.as_bytes(), usize::MAX);
    for chunk in [1, 2, 3, 5, 64, 4096] {
        let mut driver = Driver::new();
        driver.get_chunk = chunk;
        let out = driver.exchange(text.as_bytes(), chunk);
        assert_eq!(out, whole, "chunks of {chunk}");
        assert_eq!(driver.closes, 1);
        assert_eq!(driver.changes, reference.changes);
    }
}

#[test]
fn garbage_is_closed_or_skipped_and_nothing_applies() {
    // Garbage as a first line: closed at the first byte that cannot start an operation.
    let mut session = Session::new(SessionLimits::default());
    let garbage: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 + 13) as u8).collect();
    let fed = session.feed(&garbage);
    assert!(matches!(fed.event, Some(Event::Close)));
    assert_eq!(fed.consumed, garbage.len());
    let fed = session.feed(&garbage);
    assert!(fed.event.is_none());
    assert_eq!(fed.consumed, garbage.len());
    // Garbage inside a set: one error, then skipped to the blank line.
    let mut driver = Driver::new();
    let mut text = b"set=1\nlisten_port=5\n".to_vec();
    text.extend(garbage.iter().map(|&b| if b == b'\n' { b'x' } else { b }));
    text.extend_from_slice(b"\n\nget=1\n\n");
    let out = driver.exchange(&text, 4096);
    assert_eq!(String::from_utf8(out).unwrap(), format!("{EIO}{OK}"));
    assert_eq!(driver.model.listen_port(), 0);
}

#[test]
fn replace_peers_removes_everyone_before_the_blocks() {
    let mut driver = Driver::new();
    let mut initial = Vec::new();
    for n in 0..3 {
        initial.push(pk_line(&peer_key(n)));
        initial.push(format!("allowed_ip=10.{n}.0.0/16"));
    }
    assert_eq!(driver.set(&initial), OK);
    assert_eq!(
        driver.set(&[
            "replace_peers=true".into(),
            pk_line(&peer_key(1)),
            "allowed_ip=10.9.0.0/16".into(),
            pk_line(&peer_key(7)),
        ]),
        OK
    );
    let device = driver.get();
    let keys: Vec<_> = device.peers.iter().map(|p| p.public_key.clone()).collect();
    assert_eq!(
        keys,
        [hex(peer_key(1).as_bytes()), hex(peer_key(7).as_bytes())]
    );
    assert_eq!(device.peers[0].allowed_ips, ["10.9.0.0/16"]);
    assert_eq!(
        driver.last_changes(),
        [
            Change::PeerRemoved(peer_key(0)),
            Change::PeerRemoved(peer_key(1)),
            Change::PeerRemoved(peer_key(2)),
            Change::PeerAdded(peer_key(1)),
            Change::PeerAdded(peer_key(7)),
        ]
    );
    // replace_peers with no peers empties the device.
    assert_eq!(driver.set(&lines(&["replace_peers=true"])), OK);
    assert_eq!(driver.model.peer_count(), 0);
    assert_eq!(driver.model.allowed_ip_count(), 0);
}

#[test]
fn update_only_never_creates() {
    let mut driver = Driver::new();
    assert_eq!(driver.set(&[pk_line(&peer_key(1))]), OK);
    assert_eq!(
        driver.set(&[
            pk_line(&peer_key(1)),
            "update_only=true".into(),
            "persistent_keepalive_interval=10".into(),
            "allowed_ip=10.1.0.0/16".into(),
            pk_line(&peer_key(2)),
            "update_only=true".into(),
            "persistent_keepalive_interval=10".into(),
            "allowed_ip=10.2.0.0/16".into(),
        ]),
        OK
    );
    assert_eq!(driver.model.peer_count(), 1);
    assert!(driver.model.peer(&peer_key(2)).is_none());
    assert_eq!(driver.model.allowed_ip_count(), 1);
    let view = driver.model.peer(&peer_key(1)).unwrap();
    assert_eq!(view.persistent_keepalive_interval(), 10);
    assert_eq!(
        driver.last_changes(),
        [Change::PeerUpdated(
            peer_key(1),
            PeerChanges {
                persistent_keepalive: true,
                keepalive_turned_on: true,
                allowed_ips: true,
                ..PeerChanges::default()
            }
        )]
    );
    // Lines before update_only took effect on the new peer; removing it undoes them, as in
    // wireguard-go: a prefix it took from another peer is gone from both.
    assert_eq!(
        driver.set(&[
            pk_line(&peer_key(3)),
            "allowed_ip=10.1.0.0/16".into(),
            "update_only=true".into(),
        ]),
        OK
    );
    assert!(driver.model.peer(&peer_key(3)).is_none());
    assert_eq!(driver.model.allowed_ip_count(), 0);
}

#[test]
fn remove_makes_the_rest_of_the_block_a_placeholder() {
    let mut driver = Driver::new();
    assert_eq!(
        driver.set(&[pk_line(&peer_key(1)), "allowed_ip=10.1.0.0/16".into()]),
        OK
    );
    assert_eq!(
        driver.set(&[
            pk_line(&peer_key(1)),
            "remove=true".into(),
            "allowed_ip=10.5.0.0/16".into(),
            "endpoint=192.0.2.1:1".into(),
            pk_line(&peer_key(2)),
            "remove=true".into(),
        ]),
        OK
    );
    assert_eq!(driver.model.peer_count(), 0);
    assert_eq!(driver.model.allowed_ip_count(), 0);
    assert_eq!(driver.last_changes(), [Change::PeerRemoved(peer_key(1))]);
    // Lines after remove are still validated.
    assert_eq!(
        driver.set(&[
            pk_line(&peer_key(1)),
            "remove=true".into(),
            "endpoint=x".into()
        ]),
        EINVAL
    );
}

#[test]
fn allowed_ip_semantics() {
    let mut driver = Driver::new();
    assert_eq!(
        driver.set(&[
            pk_line(&peer_key(1)),
            "allowed_ip=10.1.0.0/16".into(),
            "allowed_ip=10.2.0.0/16".into(),
            "allowed_ip=10.3.0.0/16".into(),
            pk_line(&peer_key(2)),
            "allowed_ip=10.4.0.0/16".into(),
        ]),
        OK
    );
    // Re-adding moves to the end; host bits are ignored; another peer's prefix moves over;
    // -prefix removes only the peer's own prefix.
    assert_eq!(
        driver.set(&[
            pk_line(&peer_key(1)),
            "allowed_ip=10.1.9.9/16".into(),
            "allowed_ip=10.4.0.0/16".into(),
            "allowed_ip=-10.2.0.0/16".into(),
            "allowed_ip=-10.77.0.0/16".into(),
            pk_line(&peer_key(2)),
            "allowed_ip=-10.3.0.0/16".into(),
        ]),
        OK
    );
    let device = driver.get();
    assert_eq!(
        device.peers[0].allowed_ips,
        ["10.3.0.0/16", "10.1.0.0/16", "10.4.0.0/16"]
    );
    assert!(device.peers[1].allowed_ips.is_empty());
    let mut changed = driver.last_changes().to_vec();
    changed.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(changed.len(), 2);
    for change in changed {
        let Change::PeerUpdated(_, flags) = change else {
            panic!("{change:?}")
        };
        assert!(flags.allowed_ips);
    }
    assert_eq!(
        driver.model.owner_of("10.4.0.0/16".parse().unwrap()),
        Some(peer_key(1))
    );
    // replace_allowed_ips drops the list before the lines after it.
    assert_eq!(
        driver.set(&[
            pk_line(&peer_key(1)),
            "allowed_ip=192.168.0.0/24".into(),
            "replace_allowed_ips=true".into(),
            "allowed_ip=0.0.0.0/0".into(),
            "allowed_ip=::/0".into(),
        ]),
        OK
    );
    assert_eq!(driver.get().peers[0].allowed_ips, ["0.0.0.0/0", "::/0"]);
    assert_eq!(driver.model.allowed_ip_count(), 2);
    // Many removals leave no holes in the output and compact the list.
    let mut add = vec![pk_line(&peer_key(2))];
    add.extend((0..50).map(|i| format!("allowed_ip=10.{i}.0.0/16")));
    assert_eq!(driver.set(&add), OK);
    let mut remove = vec![pk_line(&peer_key(2))];
    remove.extend(
        (0..50)
            .step_by(2)
            .map(|i| format!("allowed_ip=-10.{i}.0.0/16")),
    );
    assert_eq!(driver.set(&remove), OK);
    let expected: Vec<String> = (1..50)
        .step_by(2)
        .map(|i| format!("10.{i}.0.0/16"))
        .collect();
    assert_eq!(driver.get().peers[1].allowed_ips, expected);
    assert_eq!(
        driver.set(&[pk_line(&peer_key(2)), "allowed_ip=10.3.0.0/16".into()]),
        OK
    );
    let mut expected = expected;
    expected.retain(|p| p != "10.3.0.0/16");
    expected.push("10.3.0.0/16".into());
    assert_eq!(driver.get().peers[1].allowed_ips, expected);
}

#[test]
fn private_key_rules() {
    let mut driver = Driver::new();
    let me = private_key(5);
    let my_public = me.public_key();
    // A peer with our own public key is ignored (its lines still checked).
    assert_eq!(
        driver.set(&[
            format!("private_key={}", hex(&me.to_bytes())),
            pk_line(&my_public),
            "allowed_ip=10.0.0.0/8".into(),
        ]),
        OK
    );
    assert_eq!(driver.model.peer_count(), 0);
    assert_eq!(driver.last_changes(), [Change::PrivateKey]);
    // The same key again changes nothing.
    assert_eq!(
        driver.set(&[format!("private_key={}", hex(&me.to_bytes()))]),
        OK
    );
    assert_eq!(driver.last_changes(), []);
    // Setting a key whose public key a peer has removes that peer.
    let other = private_key(6);
    assert_eq!(
        driver.set(&[pk_line(&other.public_key()), pk_line(&peer_key(1))]),
        OK
    );
    assert_eq!(
        driver.set(&[format!("private_key={}", hex(&other.to_bytes()))]),
        OK
    );
    assert_eq!(
        driver.last_changes(),
        [Change::PrivateKey, Change::PeerRemoved(other.public_key())]
    );
    assert_eq!(driver.model.peer_count(), 1);
    // The key is stored clamped: low bits set on the way in read back cleared.
    let raw = [0xffu8; 32];
    assert_eq!(driver.set(&[format!("private_key={}", hex(&raw))]), OK);
    let mut clamped = raw;
    clamped[0] &= 0xf8;
    clamped[31] = (clamped[31] & 0x7f) | 0x40;
    assert_eq!(driver.get().private_key, Some(hex(&clamped)));
    // Upper-case hex is accepted.
    let upper = hex(&me.to_bytes()).to_uppercase();
    assert_eq!(driver.set(&[format!("private_key={upper}")]), OK);
    assert_eq!(driver.get().private_key, Some(hex(&me.to_bytes())));
    // All zeros removes the key; then an all-zero public key is "our own" and ignored.
    assert_eq!(driver.set(&[format!("private_key={}", "0".repeat(64))]), OK);
    assert_eq!(driver.get().private_key, None);
    assert!(driver.model.private_key().is_none());
    assert_eq!(driver.set(&[format!("public_key={}", "0".repeat(64))]), OK);
    assert_eq!(driver.model.peer_count(), 1);
}

#[test]
fn preshared_key_endpoint_and_keepalive_changes() {
    let mut driver = Driver::new();
    assert_eq!(
        driver.set(&[
            pk_line(&peer_key(1)),
            "endpoint=192.0.2.1:51820".into(),
            "persistent_keepalive_interval=25".into(),
        ]),
        OK
    );
    assert_eq!(driver.last_changes(), [Change::PeerAdded(peer_key(1))]);
    let spec = driver.model.peer(&peer_key(1)).unwrap().spec();
    assert_eq!(spec.endpoint, Some("192.0.2.1:51820".parse().unwrap()));
    assert_eq!(
        spec.persistent_keepalive,
        Some(std::time::Duration::from_secs(25))
    );
    assert!(spec.preshared_key.is_none());
    assert_eq!(
        driver.set(&[
            pk_line(&peer_key(1)),
            format!("preshared_key={}", hex(&[3; 32])),
            "endpoint=192.0.2.1:51820".into(),
            "persistent_keepalive_interval=0".into(),
        ]),
        OK
    );
    assert_eq!(
        driver.last_changes(),
        [Change::PeerUpdated(
            peer_key(1),
            PeerChanges {
                preshared_key: true,
                endpoint: true,
                persistent_keepalive: true,
                ..PeerChanges::default()
            }
        )]
    );
    // Setting the same PSK and keepalive again reports nothing.
    assert_eq!(
        driver.set(&[
            pk_line(&peer_key(1)),
            format!("preshared_key={}", hex(&[3; 32])),
            "persistent_keepalive_interval=0".into(),
        ]),
        OK
    );
    assert_eq!(driver.last_changes(), []);
    // An all-zero PSK means none.
    assert_eq!(
        driver.set(&[
            pk_line(&peer_key(1)),
            format!("preshared_key={}", "0".repeat(64))
        ]),
        OK
    );
    assert!(driver
        .model
        .peer(&peer_key(1))
        .unwrap()
        .preshared_key()
        .is_none());
    // Device-level changes.
    assert_eq!(driver.set(&lines(&["listen_port=1", "fwmark=2"])), OK);
    assert_eq!(
        driver.last_changes(),
        [Change::ListenPort(1), Change::Fwmark(2)]
    );
}

#[test]
fn removed_and_recreated_peer_is_reported_both_ways() {
    let mut driver = Driver::new();
    assert_eq!(driver.set(&[pk_line(&peer_key(1))]), OK);
    assert_eq!(
        driver.set(&[
            pk_line(&peer_key(1)),
            "remove=true".into(),
            pk_line(&peer_key(1)),
            "allowed_ip=10.0.0.0/8".into(),
        ]),
        OK
    );
    assert_eq!(
        driver.last_changes(),
        [
            Change::PeerRemoved(peer_key(1)),
            Change::PeerAdded(peer_key(1))
        ]
    );
}

#[test]
fn secrets_never_show_in_debug_or_errors() {
    let me = private_key(0x3c);
    let secret_hex = hex(&me.to_bytes());
    let psk_hex = hex(&[0x77; 32]);
    let text = format!(
        "set=1\nprivate_key={secret_hex}\n{}\npreshared_key={psk_hex}\n\n",
        pk_line(&peer_key(1))
    );
    let mut session = Session::new(SessionLimits::default());
    let fed = session.feed(text.as_bytes());
    let Some(Event::Set(request)) = fed.event else {
        panic!()
    };
    let mut model = Model::new(ModelLimits::default());
    model.apply(&request).unwrap();
    let snapshot = model.snapshot(|_| Default::default(), Vec::new());
    let printed = format!(
        "{request:?} {model:?} {snapshot:?} {:?} {session:?} {:?}",
        model.peer(&peer_key(1)),
        GetWriter::new(model.snapshot(|_| Default::default(), Vec::new()))
    );
    for secret in [
        &secret_hex[..],
        &psk_hex[..],
        &"77".repeat(8)[..],
        &secret_hex[..16],
    ] {
        assert!(!printed.contains(secret), "leaked in {printed}");
    }
    // A bad secret is reported by key name only.
    let bad = format!("set=1\npreshared_key={}x\n\n", &psk_hex[..63]);
    let mut session = Session::new(SessionLimits::default());
    let fed = session.feed(bad.as_bytes());
    let Some(Event::Error(error)) = fed.event else {
        panic!()
    };
    assert_eq!(error, UapiError::UnknownDeviceKey);
    let bad = format!(
        "set=1\n{}\npreshared_key={}x\n\n",
        pk_line(&peer_key(1)),
        &psk_hex[..63]
    );
    let mut session = Session::new(SessionLimits::default());
    let Some(Event::Error(error)) = session.feed(bad.as_bytes()).event else {
        panic!()
    };
    assert_eq!(error, UapiError::InvalidValue(Key::PresharedKey));
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(&psk_hex[..16]));
    assert!(shown.contains("preshared_key"));
}

#[test]
fn model_from_the_boot_configuration() {
    let me = private_key(8);
    let text = format!(
        "[Interface]\nPrivateKey = {}\nListenPort = 51820\n\n[Peer]\nPublicKey = {}\n\
         AllowedIPs = 10.0.0.2/32, fd00::2/128\nEndpoint = 192.0.2.2:51820\n\
         PersistentKeepalive = 25\n\n[Outer]\nAddress = 192.0.2.1/24\n\n[Inner]\n\
         Address = 192.168.1.1/24\n",
        me.to_base64().as_str(),
        peer_key(1).to_base64().as_str()
    );
    let config = net::config::parse("gateway.conf", &text).expect("config parses");
    let model = Model::from_config(&config, ModelLimits::default()).unwrap();
    assert_eq!(model.public_key(), Some(me.public_key()));
    assert_eq!(model.listen_port(), 51820);
    let peer = model.peer(&peer_key(1)).unwrap();
    assert_eq!(
        peer.allowed_ips()
            .map(|c| c.to_string())
            .collect::<Vec<_>>(),
        ["10.0.0.2/32", "fd00::2/128"]
    );
    assert_eq!(peer.persistent_keepalive_interval(), 25);
}
