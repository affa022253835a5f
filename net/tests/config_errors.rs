//! The configuration parser's errors: one test per kind, each asserting the
//! exact line and message.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU16;

use common::config::*;
use net::config::{ConfigErrorKind, ConfigKey, Section};

#[test]
fn error_key_outside_section() {
    let text = format!("PrivateKey = {PRIVATE_KEY}\n{}", minimal());
    assert_error(&text, 1, "`Key = Value` before any section header");
}

#[test]
fn error_line_without_equals() {
    let text = minimal() + "ListenPort 51820\n";
    assert_error(
        &text,
        9,
        "expected `Key = Value`, a `[Section]` header or a comment",
    );
}

#[test]
fn error_missing_key_name() {
    let text = minimal() + " = 5\n";
    assert_error(&text, 9, "missing key name before `=`");
}

#[test]
fn error_invalid_key_name() {
    for bad in [
        "Allowed.IPs",
        "Key+1",
        "ThisKeyNameIsFarTooLongToBeAnyKeyAtAll",
    ] {
        let text = minimal() + bad + " = 1\n";
        assert_error(&text, 9, "not a valid key name (letters and digits only)");
    }
    // Whitespace inside the "key" means the `=` belongs to the value.
    let text = format!("[Interface]\nPrivateKey {PRIVATE_KEY}\n");
    assert_error(
        &text,
        2,
        "expected `Key = Value`, a `[Section]` header or a comment",
    );
}

#[test]
fn error_malformed_section_header() {
    for header in ["[Peer", "[Peer] extra", "[]", "[ ]", "[[Peer]]"] {
        let text = format!("{}{header}\n", minimal());
        assert_error(&text, 9, "malformed section header, expected `[Name]`");
    }
}

#[test]
fn error_unknown_section() {
    let text = minimal() + "\n[Wireguard]\n";
    let kind = assert_error(
        &text,
        10,
        "unknown section [Wireguard] (expected [Interface], [Peer], [Outer] or [Inner])",
    );
    assert_eq!(kind, ConfigErrorKind::UnknownSection("Wireguard".into()));
}

#[test]
fn error_duplicate_section() {
    let text = minimal() + "[interface]\n";
    assert_error(
        &text,
        9,
        "duplicate [Interface] section, only one is allowed",
    );
    let text = minimal() + "[Outer]\nAddress = dhcp\n";
    assert_error(&text, 9, "duplicate [Outer] section, only one is allowed");
}

#[test]
fn error_unknown_key() {
    let text = minimal()
        + "[Peer]\nPublicKey = ".to_owned().as_str()
        + PEER1_KEY
        + "\nAllowedIP = 10.0.0.0/8\n";
    let kind = assert_error(&text, 11, "AllowedIP: unknown key in [Peer]");
    assert_eq!(
        kind,
        ConfigErrorKind::UnknownKey {
            section: Section::Peer,
            key: "AllowedIP".into()
        }
    );
    // wg-quick keys are only tolerated in [Interface].
    let text = minimal() + "DNS = 1.1.1.1\n";
    assert_error(&text, 9, "DNS: unknown key in [Inner]");
}

#[test]
fn wg_quick_keys_are_reported_as_ignored() {
    let text = format!(
        "[Interface]\nPrivateKey = {PRIVATE_KEY}\nPostUp = iptables -A FORWARD -i %i -j ACCEPT\ntable = off\nSaveConfig = true\nFwMark = 0x1234\n[Outer]\nAddress = dhcp\n[Inner]\nAddress = 10.1.1.1/24\n"
    );
    let config = parse_ok(&text);
    let ignored: Vec<(usize, &str)> = config
        .ignored_keys
        .iter()
        .map(|k| (k.line, k.key.as_str()))
        .collect();
    assert_eq!(
        ignored,
        vec![
            (3, "PostUp"),
            (4, "table"),
            (5, "SaveConfig"),
            (6, "FwMark")
        ]
    );
}

#[test]
fn error_duplicate_key() {
    let text = format!("[Interface]\nListenPort = 1\nPrivateKey = {PRIVATE_KEY}\nLISTENPORT = 2\n");
    let kind = assert_error(&text, 4, "ListenPort: given more than once in this section");
    assert_eq!(kind, ConfigErrorKind::DuplicateKey(ConfigKey::ListenPort));
}

#[test]
fn error_empty_value() {
    let text = minimal() + "[Peer]\nPublicKey =   \n";
    assert_error(&text, 10, "PublicKey: empty value");
}

#[test]
fn error_missing_required_key_points_at_header() {
    let text = "# no key\n[Interface]\nListenPort = 51820\n[Outer]\nAddress = dhcp\n[Inner]\nAddress = 10.0.0.1/24\n";
    assert_error(text, 2, "[Interface]: missing required PrivateKey");

    let text = minimal() + "\n[Peer]\nAllowedIPs = 10.0.0.0/8\n";
    assert_error(&text, 10, "[Peer]: missing required PublicKey");

    // A peer without PublicKey is caught when the next section starts,
    // before any later error.
    let text = format!(
        "{}[Peer]\n[Peer]\nPublicKey = {PEER1_KEY}\nBogus = 1\n",
        minimal()
    );
    assert_error(&text, 9, "[Peer]: missing required PublicKey");

    let text = format!("[Interface]\nPrivateKey = {PRIVATE_KEY}\n[Outer]\nGateway = 192.0.2.1\n[Inner]\nAddress = 10.0.0.1/24\n");
    assert_error(&text, 3, "[Outer]: missing required Address");

    let text = format!("[Interface]\nPrivateKey = {PRIVATE_KEY}\n[Outer]\nAddress = dhcp\n[Inner]\nMAC = 02:00:00:00:00:01\n");
    assert_error(&text, 5, "[Inner]: missing required Address");
}

#[test]
fn error_missing_section() {
    let text = format!("[Interface]\nPrivateKey = {PRIVATE_KEY}\n[Inner]\nAddress = 10.0.0.1/24\n");
    assert_error(&text, 0, "missing required [Outer] section");
    let text = "[Outer]\nAddress = dhcp\n[Inner]\nAddress = 10.0.0.1/24\n";
    assert_error(text, 0, "missing required [Interface] section");
    let text = format!("[Interface]\nPrivateKey = {PRIVATE_KEY}\n[Outer]\nAddress = dhcp\n");
    assert_error(&text, 0, "missing required [Inner] section");
    assert_error("", 0, "missing required [Interface] section");
}

#[test]
fn error_invalid_keys() {
    // 31 bytes and 33 bytes of valid base64, both 44 characters long.
    let too_short = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";
    let too_long = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for bad in [too_short, too_long, "not base64 at all", &PEER1_KEY[1..]] {
        let text = format!("{}[Peer]\nPublicKey = {bad}\n", minimal());
        let kind = assert_error(&text, 10, "PublicKey: not a valid base64 key");
        assert_eq!(kind, ConfigErrorKind::InvalidKey(ConfigKey::PublicKey));
    }
    let text = format!("[Interface]\nPrivateKey = {PRIVATE_KEY} trailing\n");
    assert_error(&text, 2, "PrivateKey: not a valid base64 key");
    let text = format!(
        "{}[Peer]\nPublicKey = {PEER1_KEY}\nPresharedKey = {too_short}\n",
        minimal()
    );
    assert_error(&text, 11, "PresharedKey: not a valid base64 key");
}

#[test]
fn error_duplicate_peer() {
    let text = format!(
        "{}[Peer]\nPublicKey = {PEER1_KEY}\n[Peer]\nPublicKey = {PEER2_KEY}\n[Peer]\nPublicKey = {PEER1_KEY}\n",
        minimal()
    );
    let kind = assert_error(
        &text,
        14,
        "PublicKey: same public key as the peer at line 10",
    );
    assert_eq!(kind, ConfigErrorKind::DuplicatePeer { first_line: 10 });
}

#[test]
fn error_invalid_listen_port() {
    for bad in ["70000", "0", "-1", "+5", "51820 abc", "port", "123456"] {
        let text = format!("[Interface]\nListenPort = {bad}\n");
        assert_error(
            &text,
            2,
            &format!("ListenPort: `{bad}` is not a port number (1-65535)"),
        );
    }
}

#[test]
fn error_invalid_mtu() {
    let text = format!("[Interface]\nPrivateKey = {PRIVATE_KEY}\nMTU = 1420 bytes\n");
    assert_error(&text, 3, "MTU: `1420 bytes` is not a number");
    for (bad, shown) in [
        ("100", "100"),
        ("9001", "9001"),
        ("0", "0"),
        ("4294967295", "4294967295"),
    ] {
        let text = format!("[Interface]\nPrivateKey = {PRIVATE_KEY}\nMTU = {bad}\n");
        if bad.len() > 9 {
            assert_error(&text, 3, &format!("MTU: `{bad}` is not a number"));
        } else {
            assert_error(&text, 3, &format!("MTU: {shown} is outside 576-9000"));
        }
    }
}

#[test]
fn mtu_below_1280_only_with_ipv4_inside() {
    let ipv4_only = minimal().replace("[Interface]\n", "[Interface]\nMTU = 1000\n");
    assert_eq!(parse_ok(&ipv4_only).interface.mtu, 1000);

    // Any IPv6 carried in the tunnel (a peer's AllowedIPs here) needs 1280.
    let text = format!(
        "{ipv4_only}[Peer]\nPublicKey = {PEER1_KEY}\nAllowedIPs = 10.0.0.2/32, fd00::2/128\n"
    );
    let kind = assert_error(
        &text,
        2,
        "MTU: 1000 is below 1280, the minimum for IPv6, which this tunnel carries",
    );
    assert_eq!(kind, ConfigErrorKind::MtuTooSmallForIpv6(1000));
    let text = ipv4_only.replace(
        "Address = 192.168.1.1/24",
        "Address = 192.168.1.1/24, fd00::1/64",
    );
    assert_error(
        &text,
        2,
        "MTU: 1000 is below 1280, the minimum for IPv6, which this tunnel carries",
    );
}

#[test]
fn error_prefix_too_long() {
    let text = format!(
        "{}[Peer]\nPublicKey = {PEER1_KEY}\nAllowedIPs = 10.0.0.0/8, 10.0.0.0/33\n",
        minimal()
    );
    assert_error(
        &text,
        11,
        "AllowedIPs: `10.0.0.0/33`: prefix length is longer than 32 bits",
    );
    let text = minimal().replace("[Interface]\n", "[Interface]\nAddress = fd00::1/129\n");
    assert_error(
        &text,
        2,
        "Address: `fd00::1/129`: prefix length is longer than 128 bits",
    );
}

#[test]
fn error_invalid_cidr() {
    for bad in [
        "10.0.0.0/8 junk",
        "10.0.0/8",
        "10.0.0.0/x",
        "example.com/24",
    ] {
        let text = minimal().replace("Address = 192.168.1.1/24", &format!("Address = {bad}"));
        assert_error(
            &text,
            8,
            &format!(
                "Address: `{bad}` is not an address with optional prefix length, like 10.0.0.0/8"
            ),
        );
    }
}

#[test]
fn error_empty_list_item() {
    for bad in ["10.0.0.0/8,", "10.0.0.0/8,,10.1.0.0/16", ", 10.0.0.0/8"] {
        let text = format!(
            "{}[Peer]\nPublicKey = {PEER1_KEY}\nAllowedIPs = {bad}\n",
            minimal()
        );
        assert_error(&text, 11, "AllowedIPs: empty item in comma-separated list");
    }
}

#[test]
fn error_endpoint_hostname() {
    let text = format!(
        "{}[Peer]\nPublicKey = {PEER1_KEY}\nEndpoint = vpn.example.com:51820\n",
        minimal()
    );
    let kind = assert_error(
        &text,
        11,
        "Endpoint: `vpn.example.com:51820`: host names are not supported, only IP literals like 192.0.2.1:51820 or [2001:db8::1]:51820",
    );
    assert_eq!(
        kind,
        ConfigErrorKind::EndpointHostname("vpn.example.com:51820".into())
    );
}

#[test]
fn error_invalid_endpoint() {
    for bad in [
        "192.0.2.1",
        "192.0.2.1:0",
        "192.0.2.1:65536",
        "2001:db8::1:51820",
        "[2001:db8::1]",
        "192.0.2.1:51820 x",
        "[vpn.example.com]:51820",
    ] {
        let text = format!(
            "{}[Peer]\nPublicKey = {PEER1_KEY}\nEndpoint = {bad}\n",
            minimal()
        );
        assert_error(
            &text,
            11,
            &format!("Endpoint: `{bad}` is not an address and port like 192.0.2.1:51820 or [2001:db8::1]:51820"),
        );
    }
}

#[test]
fn keepalive_values() {
    for (value, expected) in [
        ("0", None),
        ("off", None),
        ("OFF", None),
        ("1", NonZeroU16::new(1)),
        ("65535", NonZeroU16::new(65535)),
    ] {
        let text = format!(
            "{}[Peer]\nPublicKey = {PEER1_KEY}\nPersistentKeepalive = {value}\n",
            minimal()
        );
        assert_eq!(
            parse_ok(&text).peers[0].persistent_keepalive,
            expected,
            "{value}"
        );
    }
    for bad in ["65536", "-1", "25s", "on"] {
        let text = format!(
            "{}[Peer]\nPublicKey = {PEER1_KEY}\nPersistentKeepalive = {bad}\n",
            minimal()
        );
        assert_error(
            &text,
            11,
            &format!("PersistentKeepalive: `{bad}` is not `off` or a number of seconds (0-65535)"),
        );
    }
}

#[test]
fn error_invalid_mac() {
    for bad in [
        "02:00:00:00:00",
        "02:00:00:00:00:01:02",
        "02-00-00-00-00-01",
        "2:00:00:00:00:01",
        "02:00:00:00:00:0g",
    ] {
        let text = minimal() + &format!("MAC = {bad}\n");
        assert_error(
            &text,
            9,
            &format!("MAC: `{bad}` is not a MAC address like 02:00:00:00:00:01"),
        );
    }
    let text = minimal() + "MAC = 01:00:5e:00:00:01\n";
    assert_error(
        &text,
        9,
        "MAC: `01:00:5e:00:00:01` is a multicast address, a NIC needs a unicast one",
    );
    let text = minimal() + "MAC = ff:ff:ff:ff:ff:ff\n";
    assert_error(
        &text,
        9,
        "MAC: `ff:ff:ff:ff:ff:ff` is a multicast address, a NIC needs a unicast one",
    );
}

#[test]
fn error_dhcp_mixed_with_static() {
    let with_dhcp = minimal().replace("Address = 198.51.100.10/24", "Address = dhcp");
    let text = with_dhcp.replace(
        "Address = dhcp\n",
        "Address = dhcp\nAddress = 198.51.100.10/24\n",
    );
    assert_error(
        &text,
        6,
        "Address: `dhcp` cannot be combined with static addresses",
    );
    let text = minimal().replace(
        "Address = 198.51.100.10/24",
        "Address = 198.51.100.10/24\nAddress = DHCP",
    );
    assert_error(
        &text,
        6,
        "Address: `dhcp` cannot be combined with static addresses",
    );
    let text = minimal().replace(
        "Address = 198.51.100.10/24",
        "Address = 198.51.100.10/24, dhcp",
    );
    assert_error(
        &text,
        5,
        "Address: `dhcp` cannot be combined with static addresses",
    );
}

#[test]
fn error_gateway_checks() {
    // The Gateway may precede Address; it is checked when [Outer] ends.
    let text = minimal().replace("[Outer]\n", "[Outer]\nGateway = 203.0.113.1\n");
    let kind = assert_error(
        &text,
        5,
        "Gateway: 203.0.113.1 is not inside any subnet of the [Outer] addresses",
    );
    assert_eq!(
        kind,
        ConfigErrorKind::GatewayNotOnLink("203.0.113.1".into())
    );

    let text = minimal().replace(
        "Address = 198.51.100.10/24",
        "Address = dhcp\nGateway = 198.51.100.1",
    );
    assert_error(
        &text,
        6,
        "Gateway: not allowed with `Address = dhcp`, which provides the gateway",
    );

    let text = minimal().replace(
        "Address = 198.51.100.10/24",
        "Address = 198.51.100.10/24\nGateway = 198.51.100.1/24",
    );
    assert_error(&text, 6, "Gateway: `198.51.100.1/24` is not an IP address");

    let text = minimal().replace(
        "Address = 198.51.100.10/24",
        "Address = 198.51.100.10/24\nGateway = 198.51.100.1",
    );
    assert_eq!(
        parse_ok(&text).outer.gateway,
        Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)))
    );
}

#[test]
fn first_error_in_file_order_wins() {
    let text = format!("{}ListenPort = x\n[Peer]\nPublicKey = bad\n", minimal());
    // Line 9 is inside [Inner], where ListenPort is unknown.
    assert_error(&text, 9, "ListenPort: unknown key in [Inner]");
}

#[test]
fn error_all_zero_private_key() {
    let zero = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let text = minimal().replacen(PRIVATE_KEY, zero, 1);
    assert_ne!(
        text,
        minimal(),
        "the test config has a private key to replace"
    );
    let kind = assert_error(
        &text,
        2,
        "PrivateKey: the all-zero key is refused (clamped, it is a fixed key whose public key \
         anyone can compute); generate one with `wg genkey`",
    );
    assert_eq!(kind, ConfigErrorKind::ZeroPrivateKey);
    assert!(!format!("{kind:?}").contains(zero));
}
