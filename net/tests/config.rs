//! The configuration parser on valid files: a realistic example, defaults,
//! line endings, comments, secrets never shown, and random input.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU16;

use common::config::*;
use common::Rng;
use net::config::{parse, MacAddress, OuterAddress, DEFAULT_LISTEN_PORT, DEFAULT_MTU};

#[test]
fn full_example_parses() {
    let config = parse_ok(&full_example());

    let interface = &config.interface;
    // One key family: the parser hands out `crypto`'s types (wiped on drop,
    // compared in constant time), not a copy of its own.
    let _: &crypto::PrivateKey = &interface.private_key;
    let _: Option<&crypto::PresharedKey> = config.peers[0].preshared_key.as_ref();
    let _: &crypto::PublicKey = &config.peers[0].public_key;
    // Stored clamped, as `wg showconf` would print it.
    assert_eq!(
        *interface.private_key.to_bytes(),
        clamped(key_bytes(PRIVATE_KEY))
    );
    assert_eq!(interface.listen_port, 51821);
    assert_eq!(
        interface.addresses,
        vec![cidr("10.8.0.1/24"), cidr("fd08::1/64")]
    );
    assert_eq!(interface.mtu, 1400);

    assert_eq!(config.peers.len(), 2);
    let alice = &config.peers[0];
    assert_eq!(alice.public_key.as_bytes(), &key_bytes(PEER1_KEY));
    assert_eq!(
        alice.preshared_key.as_ref().map(|k| *k.as_bytes()),
        Some(key_bytes(PSK1))
    );
    assert_eq!(
        alice.allowed_ips,
        vec![
            cidr("10.8.0.2/32"),
            cidr("fd08::2/128"),
            cidr("172.16.0.0/16")
        ]
    );
    assert_eq!(
        alice.endpoint,
        Some(SocketAddr::from((Ipv4Addr::new(192, 0, 2, 7), 51820)))
    );
    assert_eq!(alice.persistent_keepalive, NonZeroU16::new(25));

    let bob = &config.peers[1];
    assert_eq!(bob.public_key.as_bytes(), &key_bytes(PEER2_KEY));
    assert_eq!(
        bob.preshared_key.as_ref().map(|k| *k.as_bytes()),
        Some(key_bytes(PSK2))
    );
    assert_eq!(
        bob.allowed_ips,
        vec![cidr("10.8.0.3/32"), cidr("fd08::3/128"), cidr("0.0.0.0/0")]
    );
    let bob_endpoint: Ipv6Addr = "2001:db8::7".parse().unwrap();
    assert_eq!(bob.endpoint, Some(SocketAddr::from((bob_endpoint, 51820))));
    assert_eq!(bob.persistent_keepalive, None);

    assert_eq!(
        config.outer.address,
        OuterAddress::Static(vec![cidr("198.51.100.10/24"), cidr("2001:db8:1::10/64")])
    );
    assert_eq!(
        config.outer.gateway,
        Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)))
    );
    assert_eq!(config.outer.mac, Some(MacAddress([2, 0, 0, 0, 0, 1])));
    assert_eq!(
        config.inner.addresses,
        vec![cidr("192.168.1.1/24"), cidr("fd00:1::1/64")]
    );
    assert_eq!(config.inner.mac, Some(MacAddress([2, 0, 0, 0, 0, 0xab])));

    assert_eq!(config.ignored_keys.len(), 1);
    assert_eq!(config.ignored_keys[0].line, 7);
    assert_eq!(config.ignored_keys[0].key, "DNS");
}

#[test]
fn defaults_apply() {
    let config = parse_ok(&minimal());
    assert_eq!(config.interface.listen_port, DEFAULT_LISTEN_PORT);
    assert_eq!(config.interface.mtu, DEFAULT_MTU);
    assert!(config.interface.addresses.is_empty());
    assert!(config.peers.is_empty());
    assert_eq!(config.outer.gateway, None);
    assert_eq!(config.outer.mac, None);
    assert_eq!(config.inner.mac, None);
    assert!(config.ignored_keys.is_empty());
}

#[test]
fn crlf_line_endings_and_bom_are_accepted() {
    let unix = parse_ok(&full_example());
    let windows_text = format!("\u{feff}{}", full_example().replace('\n', "\r\n"));
    let windows = parse_ok(&windows_text);
    // Display covers every field (secrets aside, compared separately).
    assert_eq!(unix.to_string(), windows.to_string());
    assert_eq!(
        *unix.interface.private_key.to_bytes(),
        *windows.interface.private_key.to_bytes()
    );
    // Line numbers stay right with CRLF.
    let text = minimal().replace('\n', "\r\n") + "Bogus = 1\r\n";
    assert_error(&text, 9, "Bogus: unknown key in [Inner]");
}

#[test]
fn comments_and_blank_lines_anywhere() {
    let text = format!(
        "  # leading comment\n\n[Interface] # our side\n  PrivateKey={PRIVATE_KEY}#no space needed\n\t\n[Outer]\nAddress = dhcp # ask the ISP\n[Inner]\nAddress = 192.168.1.1/24\n#\n"
    );
    let config = parse_ok(&text);
    assert_eq!(config.outer.address, OuterAddress::Dhcp);
}

#[test]
fn debug_and_display_never_show_secrets() {
    let config = parse_ok(&full_example());
    let debug = format!("{config:?}");
    let display = config.to_string();
    for secret in [PRIVATE_KEY, PSK1, PSK2] {
        // Even a fragment of the base64 text must not appear.
        let fragment = &secret[..12];
        assert!(!debug.contains(fragment), "Debug leaks {fragment}");
        assert!(!display.contains(fragment), "Display leaks {fragment}");
    }
    assert!(debug.contains("<redacted>"));
    assert!(display.contains("PrivateKey = <redacted>"));
    assert!(display.contains("PresharedKey = <redacted>"));
    // Public material is shown.
    assert!(display.contains(&format!("PublicKey = {PEER1_KEY}")));
    assert!(display.contains("Endpoint = [2001:db8::7]:51820"));
    assert!(display.contains("PersistentKeepalive = 25"));
}

#[test]
fn errors_never_show_secrets() {
    // A private key with one bad character, a private key without '=',
    // a preshared key that decodes to the wrong length.
    let corrupted = format!("{}!", &PRIVATE_KEY[..43]);
    let short_psk = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";
    let cases = [
        (
            format!("[Interface]\nPrivateKey = {corrupted}\n"),
            corrupted.clone(),
        ),
        (
            format!("[Interface]\nPrivateKey {PRIVATE_KEY}\n"),
            PRIVATE_KEY.to_string(),
        ),
        (
            format!(
                "{}[Peer]\nPublicKey = {PEER1_KEY}\nPresharedKey = {short_psk}\n",
                minimal()
            ),
            short_psk.to_string(),
        ),
        (
            format!("PrivateKey = {PRIVATE_KEY}\n"),
            PRIVATE_KEY.to_string(),
        ),
        // A pasted key alone on a line: its padding looks like `=`.
        (
            format!("[Interface]\n{PRIVATE_KEY}\n"),
            PRIVATE_KEY.to_string(),
        ),
        (format!("[{PRIVATE_KEY}]\n"), PRIVATE_KEY.to_string()),
    ];
    for (text, secret) in cases {
        let error = parse("gateway.conf", &text).unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains(&secret[..12]), "leaks secret: {shown}");
    }
}

/// Random bytes, random lines made of config fragments, and random edits
/// of a valid file: the parser must return, never panic.
#[test]
fn never_panics_on_random_input() {
    let mut rng = Rng::new(0xbad_c0ffee);
    let valid = full_example();
    let fragments = [
        "[Interface]",
        "[Peer]",
        "[Outer]",
        "[Inner]",
        "[",
        "]",
        "=",
        "#",
        ",",
        "/",
        ":",
        "\n",
        "\r\n",
        " ",
        "\t",
        "PrivateKey",
        "PublicKey",
        "PresharedKey",
        "AllowedIPs",
        "Endpoint",
        "PersistentKeepalive",
        "ListenPort",
        "MTU",
        "Address",
        "Gateway",
        "MAC",
        "DNS",
        "dhcp",
        "off",
        PRIVATE_KEY,
        PEER1_KEY,
        "10.0.0.1/24",
        "fd00::1/64",
        "[2001:db8::1]:51820",
        "192.0.2.1:51820",
        "02:00:00:00:00:01",
        "65535",
        "99999999999999999999",
        "é",
        "\u{feff}",
        "\u{0}",
        "ÿ/33",
        "::/129",
    ];
    let mut parsed_ok = 0;
    for round in 0..20_000 {
        let text = match round % 3 {
            0 => {
                let bytes: Vec<u8> = (0..rng.below(400)).map(|_| rng.next_u64() as u8).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            1 => (0..rng.below(60)).map(|_| *rng.pick(&fragments)).collect(),
            _ => {
                let mut chars: Vec<char> = valid.chars().collect();
                for _ in 0..=rng.below(6) {
                    let at = rng.below(chars.len() as u64 + 1) as usize;
                    match rng.below(3) {
                        0 if at < chars.len() => {
                            chars.remove(at);
                        }
                        1 if at < chars.len() => {
                            chars[at] =
                                *rng.pick(&['=', '#', '[', ']', '\n', ' ', '/', ':', 'x', '9'])
                        }
                        _ => {
                            chars.insert(at, *rng.pick(&['=', '#', '[', ']', '\n', ',', '.', '0']))
                        }
                    }
                }
                chars.into_iter().collect()
            }
        };
        match parse("fuzz.conf", &text) {
            Ok(config) => {
                parsed_ok += 1;
                // Whatever parsed must also print.
                let _ = config.to_string();
            }
            Err(error) => {
                assert!(error.line <= text.split('\n').count(), "{error}");
                let _ = error.to_string();
            }
        }
    }
    // The edit strategy keeps some files valid, so both paths were exercised.
    assert!(parsed_ok > 0);
}
