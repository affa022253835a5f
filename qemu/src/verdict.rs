//! Reading a boot's transcript: did it pass, and if not, why.

use crate::machine::Transcript;

/// QEMU's exit status when the kernel wrote the success code to
/// isa-debug-exit (`0x10 << 1 | 1`).
pub const EXIT_SUCCESS: i32 = 33;
/// Exit status for the kernel's failure code (`0x11 << 1 | 1`).
pub const EXIT_FAILURE: i32 = 35;

/// Whether a `test=boot` run passed: the banner and the ready line were
/// printed, every self-test reported ok, and the kernel itself ended QEMU
/// with the success code. Anything else (a panic, an exception, a reset, a
/// hang, a missing line) is a failure whose reason is returned.
pub fn selftest_passed(t: &Transcript) -> Result<String, String> {
    if let Some((_, line)) = t.find("kernel panicked") {
        return Err(format!("kernel panicked: {line}"));
    }
    if let Some((_, line)) = t.find("EXCEPTION:") {
        return Err(format!("CPU exception: {line}"));
    }
    if let Some((_, line)) = t.find("FATAL:") {
        return Err(format!("fatal error: {line}"));
    }
    if t.timed_out {
        return Err(format!(
            "no result after {:.1} s: the kernel hangs",
            t.elapsed.as_secs_f64()
        ));
    }
    match t.exit_code() {
        Some(EXIT_SUCCESS) => {}
        Some(0) => return Err("QEMU exited with status 0 without the kernel's success code: the guest reset (triple fault)".into()),
        Some(code) => return Err(format!("QEMU exited with status {code}, not {EXIT_SUCCESS}")),
        None => return Err("QEMU was killed by a signal".into()),
    }
    banner(t)?;
    if t.find("kernel ready").is_none() {
        return Err("no `kernel ready` line".into());
    }
    if let Some((_, line)) = t.find(": FAILED") {
        return Err(format!("self-test failed: {line}"));
    }
    let summary = t
        .lines
        .iter()
        .rev()
        .find_map(|(_, l)| parse_summary(l))
        .ok_or_else(|| String::from("no self-test summary line"))?;
    match summary {
        (passed, 0) if passed > 0 => Ok(format!(
            "{passed} in-kernel checks passed in {:.1} s",
            t.elapsed.as_secs_f64()
        )),
        (passed, failed) => Err(format!("{passed} passed, {failed} failed")),
    }
}

/// The boot banner: a line starting with the project name and a version.
pub fn banner(t: &Transcript) -> Result<&str, String> {
    t.lines
        .iter()
        .map(|(_, l)| l.as_str())
        .find(|l| is_banner(l))
        .ok_or_else(|| String::from("no boot banner (`wgate <version>: ...`)"))
}

/// `wgate 1.2.3: ...`
pub fn is_banner(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("wgate ") else {
        return false;
    };
    let version = rest.split(':').next().unwrap_or("");
    let parts: Vec<&str> = version.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Parses `selftest: N passed, M failed`.
pub fn parse_summary(line: &str) -> Option<(u32, u32)> {
    let rest = line.strip_prefix("selftest: ")?;
    let (passed, failed) = rest.split_once(" passed, ")?;
    let failed = failed.strip_suffix(" failed")?;
    Some((passed.parse().ok()?, failed.parse().ok()?))
}

/// The first hexadecimal number after `marker` in the transcript.
pub fn address_after(t: &Transcript, marker: &str) -> Option<u64> {
    let (_, line) = t.find(marker)?;
    let rest = &line[line.find(marker)? + marker.len()..];
    let hex = rest.trim_start().strip_prefix("0x")?;
    let digits: String = hex.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    u64::from_str_radix(&digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;
    use std::time::Duration;

    fn transcript(lines: &[&str], code: i32) -> Transcript {
        Transcript {
            lines: lines
                .iter()
                .map(|l| (Duration::ZERO, l.to_string()))
                .collect(),
            status: Some(ExitStatus::from_raw(code << 8)),
            ..Default::default()
        }
    }

    const GOOD: &[&str] = &[
        "wgate 0.1.0: WireGuard gateway unikernel",
        "[    0.06] INFO  kernel ready: 31 MiB",
        "selftest: timer-rate: ok (50 interrupts)",
        "selftest: 1 passed, 0 failed",
    ];

    #[test]
    fn a_clean_boot_passes() {
        assert!(selftest_passed(&transcript(GOOD, EXIT_SUCCESS)).is_ok());
    }

    #[test]
    fn a_reset_is_a_failure_even_with_good_output() {
        let err = selftest_passed(&transcript(GOOD, 0)).unwrap_err();
        assert!(err.contains("triple fault"), "{err}");
    }

    #[test]
    fn a_failed_check_or_missing_summary_is_a_failure() {
        let mut lines = GOOD.to_vec();
        lines[2] = "selftest: timer-rate: FAILED (3 interrupts)";
        assert!(selftest_passed(&transcript(&lines, EXIT_SUCCESS)).is_err());
        assert!(selftest_passed(&transcript(&GOOD[..3], EXIT_SUCCESS)).is_err());
    }

    #[test]
    fn a_hang_is_a_failure() {
        let mut t = transcript(&GOOD[..2], EXIT_SUCCESS);
        t.timed_out = true;
        assert!(selftest_passed(&t).unwrap_err().contains("hangs"));
    }

    #[test]
    fn recognises_banner_summary_and_addresses() {
        assert!(is_banner("wgate 0.1.0: WireGuard gateway unikernel"));
        assert!(!is_banner("Booting from ROM..wgate 0.1.0: x"));
        assert!(!is_banner("wgate x.y: x"));
        assert_eq!(parse_summary("selftest: 7 passed, 1 failed"), Some((7, 1)));
        assert_eq!(parse_summary("selftest: timer: ok"), None);
        let t = transcript(
            &["page fault: write at address 0x10fd38 (protection violation)"],
            35,
        );
        assert_eq!(address_after(&t, "write at address"), Some(0x10fd38));
    }
}
