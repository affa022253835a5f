//! Large configurations through the userspace API: the Linux netns.sh "split responses"
//! cases (one peer with 130,560 allowed IPs; 40 peers with 52 each) and 1,000 peers.

mod uapi_support;

use std::string::String;
use std::vec::Vec;

use net::uapi::{Event, Session, SessionLimits};
use net::IpCidr;
use std::string::ToString;
use uapi_support::{hex, parse_get, peer_key, private_key, Driver};

fn set_text(lines: &[String]) -> String {
    let mut text = String::from("set=1\n");
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text.push('\n');
    text
}

/// 255 × 256 IPv4 /16-ish prefixes and as many IPv6 /128s, as netns.sh builds them.
fn big_list() -> Vec<String> {
    let mut ips = Vec::with_capacity(130_560);
    for i in 0..255u32 {
        for j in 0..256u32 {
            ips.push(format!("{}.{}.0.0/16", i + 1, j));
        }
    }
    for i in 0..255u32 {
        for j in 0..256u32 {
            ips.push(format!("abcd::{:x}:{:x}/128", i, j));
        }
    }
    assert_eq!(ips.len(), 130_560);
    ips
}

/// How `get` writes a prefix: canonical address text, host bits cleared.
fn canonical(prefix: &str) -> String {
    prefix.parse::<IpCidr>().unwrap().network().to_string()
}

/// Compares long lists without printing them whole.
fn assert_same_list(got: &[String], want: &[String]) {
    assert_eq!(got.len(), want.len(), "list lengths");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        panic!("entry {i}: got {} want {}", got[i], want[i]);
    }
}

#[test]
fn one_peer_with_130560_allowed_ips_round_trips() {
    let ips = big_list();
    let mut lines = vec![
        format!("private_key={}", hex(&private_key(1).to_bytes())),
        "listen_port=51820".to_string(),
        format!("public_key={}", hex(peer_key(1).as_bytes())),
        "replace_allowed_ips=true".to_string(),
    ];
    lines.extend(ips.iter().map(|ip| format!("allowed_ip={ip}")));
    let text = set_text(&lines);
    assert!(text.len() > 2_500_000, "{} bytes of set", text.len());

    // Parsed compactly: far less than the text.
    let mut session = Session::new(SessionLimits::default());
    let mut rest = text.as_bytes();
    let request = loop {
        let fed = session.feed(&rest[..rest.len().min(4096)]);
        rest = &rest[fed.consumed..];
        if let Some(Event::Set(request)) = fed.event {
            break request;
        }
        assert!(fed.event.is_none());
    };
    assert!(rest.is_empty());
    let parsed = request.memory_used();
    assert!(parsed < 1_700_000, "parsed request holds {parsed} bytes");

    let mut driver = Driver::new();
    driver.get_chunk = 4096;
    assert_eq!(
        String::from_utf8(driver.exchange(text.as_bytes(), 4096)).unwrap(),
        "errno=0\n\n"
    );
    assert_eq!(driver.model.allowed_ip_count(), 130_560);
    let device = driver.get();
    assert_eq!(device.peers.len(), 1);
    let want: Vec<String> = ips.iter().map(|ip| canonical(ip)).collect();
    assert_same_list(&device.peers[0].allowed_ips, &want);

    // wg syncconf / setconf of the same list again: replace and re-add, same result.
    assert_eq!(
        String::from_utf8(driver.exchange(text.as_bytes(), 4096)).unwrap(),
        "errno=0\n\n"
    );
    assert!(
        driver.get() == device,
        "same configuration after re-applying it"
    );
}

#[test]
fn forty_peers_with_52_allowed_ips_each_round_trip() {
    let mut lines = vec!["replace_peers=true".to_string()];
    let mut expected = Vec::new();
    for n in 0..40u32 {
        lines.push(format!("public_key={}", hex(peer_key(n).as_bytes())));
        lines.push(format!("preshared_key={}", hex(&[n as u8 + 1; 32])));
        lines.push("replace_allowed_ips=true".into());
        let mut ips = Vec::new();
        for k in 0..26u32 {
            ips.push(format!("10.{n}.{k}.0/24"));
            ips.push(format!("fd00:{n:x}:{k:x}::/48"));
        }
        lines.extend(ips.iter().map(|ip| format!("allowed_ip={ip}")));
        expected.push(ips);
    }
    let mut driver = Driver::new();
    assert_eq!(driver.set(&lines), "errno=0\n\n");
    let device = driver.get();
    assert_eq!(device.peers.len(), 40);
    for (n, peer) in device.peers.iter().enumerate() {
        assert_eq!(peer.public_key, hex(peer_key(n as u32).as_bytes()));
        assert_eq!(peer.preshared_key, hex(&[n as u8 + 1; 32]));
        let want: Vec<String> = expected[n].iter().map(|ip| canonical(ip)).collect();
        assert_same_list(&peer.allowed_ips, &want);
    }
    // Feeding it back (as wg setconf would from `wg showconf`) changes nothing.
    let mut again = vec!["replace_peers=true".to_string()];
    for peer in &device.peers {
        again.push(format!("public_key={}", peer.public_key));
        again.push(format!("preshared_key={}", peer.preshared_key));
        again.push("replace_allowed_ips=true".into());
        again.extend(peer.allowed_ips.iter().map(|ip| format!("allowed_ip={ip}")));
    }
    assert_eq!(driver.set(&again), "errno=0\n\n");
    assert_eq!(driver.get(), device);
}

#[test]
fn a_thousand_peers() {
    let mut lines = Vec::new();
    for n in 0..1000u32 {
        lines.push(format!("public_key={}", hex(peer_key(n).as_bytes())));
        lines.push(format!("endpoint=192.0.2.{}:{}", n % 250 + 1, 10_000 + n));
        lines.push("persistent_keepalive_interval=25".into());
        lines.push(format!("allowed_ip=10.{}.{}.0/24", n / 256, n % 256));
    }
    let mut driver = Driver::new();
    driver.get_chunk = 4096;
    assert_eq!(driver.set(&lines), "errno=0\n\n");
    let device = driver.get();
    assert_eq!(device.peers.len(), 1000);
    assert_eq!(
        device.peers[999].endpoint.as_deref(),
        Some("192.0.2.250:10999")
    );
    // Remove every other peer by key.
    let mut remove = Vec::new();
    for n in (0..1000u32).step_by(2) {
        remove.push(format!("public_key={}", hex(peer_key(n).as_bytes())));
        remove.push("remove=true".into());
    }
    assert_eq!(driver.set(&remove), "errno=0\n\n");
    assert_eq!(driver.changes.last().unwrap().len(), 500);
    let device = parse_get(&driver.send("get=1\n\n"));
    assert_eq!(device.peers.len(), 500);
    assert_eq!(device.peers[0].public_key, hex(peer_key(1).as_bytes()));
}
