//! Configuration files shared by the config tests.

use net::config::{parse, ConfigErrorKind, GatewayConfig, PublicKey};
use net::IpCidr;

pub const PRIVATE_KEY: &str = "O5qhQv76RKq4OrHAkJ9pKf1TZWuJXsL8DkfUEupiulQ=";
pub const PEER1_KEY: &str = "aYdQoJuTQzd0bwlzRIFn82TK4TLi+LMnrkkT5bVEUCk=";
pub const PEER2_KEY: &str = "OyE87QA+ibNaJsIsvQEcm/qylXhBWyBp9/yLAZmLkD0=";
pub const PSK1: &str = "OfbMnHkFJY7vsSKB3rWA89qvCANobwKtCoO/oI+FJrQ=";
pub const PSK2: &str = "TbdiDHZpxZ0q4Dvtm4vTQM0oegGNBs3UNiwQSR/awj4=";

/// A realistic gateway: two peers, IPv4 and IPv6 everywhere.
pub fn full_example() -> String {
    format!(
        "\
# Gateway for the example office.
[Interface]
PrivateKey = {PRIVATE_KEY}
ListenPort = 51821
Address = 10.8.0.1/24, fd08::1/64
MTU = 1400
DNS = 10.8.0.53       # wg-quick only: accepted, ignored

[Peer]
# Alice's laptop, roaming.
PublicKey = {PEER1_KEY}
PresharedKey = {PSK1}
AllowedIPs = 10.8.0.2/32, fd08::2/128
AllowedIPs = 172.16.0.0/16
Endpoint = 192.0.2.7:51820
PersistentKeepalive = 25

[peer]
publickey = {PEER2_KEY}
PRESHAREDKEY = {PSK2}
allowedips = 10.8.0.3, fd08::3/128,0.0.0.0/0
endpoint = [2001:db8::7]:51820
persistentkeepalive = off

[Outer]
Address = 198.51.100.10/24, 2001:db8:1::10/64
Gateway = 198.51.100.1
MAC = 02:00:00:00:00:01

[Inner]
Address = 192.168.1.1/24, fd00:1::1/64
MAC = 02:00:00:00:00:AB
"
    )
}

/// A small valid file that error tests extend:
/// line 1 `[Interface]`, 2 PrivateKey, 4 `[Outer]`, 5 Address, 7 `[Inner]`, 8 Address.
pub fn minimal() -> String {
    format!(
        "[Interface]\nPrivateKey = {PRIVATE_KEY}\n\n[Outer]\nAddress = 198.51.100.10/24\n\n[Inner]\nAddress = 192.168.1.1/24\n"
    )
}

pub fn cidr(text: &str) -> IpCidr {
    text.parse().unwrap()
}

pub fn key_bytes(base64: &str) -> [u8; 32] {
    *PublicKey::from_base64(base64).unwrap().as_bytes()
}

/// What X25519 makes of a private key: bits 0-2 and 255 cleared, 254 set.
pub fn clamped(mut bytes: [u8; 32]) -> [u8; 32] {
    bytes[0] &= 0xf8;
    bytes[31] = (bytes[31] & 0x7f) | 0x40;
    bytes
}

pub fn parse_ok(text: &str) -> GatewayConfig {
    match parse("gateway.conf", text) {
        Ok(config) => config,
        Err(error) => panic!("unexpected error: {error}"),
    }
}

/// Parses `text`, expecting exactly `gateway.conf:{line}: {message}`.
pub fn assert_error(text: &str, line: usize, message: &str) -> ConfigErrorKind {
    let error = match parse("gateway.conf", text) {
        Ok(_) => panic!("expected an error at line {line}: {message}"),
        Err(error) => error,
    };
    assert_eq!(error.file, "gateway.conf");
    assert_eq!(error.line, line, "wrong line for: {error}");
    let expected = if line == 0 {
        format!("gateway.conf: {message}")
    } else {
        format!("gateway.conf:{line}: {message}")
    };
    assert_eq!(error.to_string(), expected);
    error.kind
}
