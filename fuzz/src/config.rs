//! The configuration file parser.

use net::config::{self, GatewayConfig};
use net::Engine;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// Values written for `PrivateKey` and `PresharedKey` in `text` that look
/// like keys (long runs of base64): none may ever appear in a message. A
/// value the file also writes on another line (pasted into an `Address`,
/// say) is not secret from that line's message, so it is left out.
fn secret_values(text: &str) -> Vec<&str> {
    let secret_line = |line: &str| {
        let key = line
            .split('=')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        key == "privatekey" || key == "presharedkey"
    };
    text.lines()
        .filter(|line| secret_line(line))
        .filter_map(|line| {
            let line = line.split('#').next()?;
            let value = line.split_once('=')?.1.trim();
            let looks_like_key = value.len() >= 20
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
            let elsewhere = text
                .lines()
                .any(|other| !secret_line(other) && other.contains(value));
            (looks_like_key && !elsewhere).then_some(value)
        })
        .collect()
}

/// The configuration as a file again, with its real secrets in place of
/// the `<redacted>` the `Display` form shows.
fn with_secrets(config: &GatewayConfig, shown: &str) -> String {
    let mut psks = config.peers.iter().filter_map(|p| p.preshared_key.as_ref());
    let mut out = String::new();
    for line in shown.lines() {
        if line == "PrivateKey = <redacted>" {
            let key = config.interface.private_key.to_base64();
            out.push_str(&format!("PrivateKey = {}", key.as_str()));
        } else if line == "PresharedKey = <redacted>" {
            let psk = psks
                .next()
                .expect("one PresharedKey line per peer with one");
            out.push_str(&format!("PresharedKey = {}", psk.to_base64().as_str()));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Parses the input as a configuration file. An error names a line of the
/// file and quotes no secret; an accepted configuration shows no secret,
/// prints back as a file that parses to the same configuration, and builds
/// an engine without panicking.
pub fn config_parser(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let secrets = secret_values(text);
    match config::parse("fuzz.conf", text) {
        Err(error) => {
            assert!(
                error.line <= text.lines().count().max(1),
                "line {} of {}",
                error.line,
                text.lines().count()
            );
            let message = error.to_string();
            for secret in &secrets {
                assert!(!message.contains(secret), "a secret in: {message}");
            }
        }
        Ok(parsed) => {
            let shown = parsed.to_string();
            for secret in &secrets {
                assert!(!shown.contains(secret), "a secret shown");
            }
            let again = config::parse("again.conf", &with_secrets(&parsed, &shown))
                .unwrap_or_else(|e| panic!("the printed configuration does not parse: {e}"));
            assert_eq!(again.to_string(), shown);
            assert_eq!(
                *again.interface.private_key.to_bytes(),
                *parsed.interface.private_key.to_bytes()
            );
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            let _ = Engine::from_config(&parsed, &mut rng);
        }
    }
}
