//! `Instant` arithmetic: checked, saturating, never panicking.

use core::time::Duration;

use net::time::Instant;

#[test]
fn checked_add_and_sub_round_trip() {
    let start = Instant::from_secs(10);
    let later = start.checked_add(Duration::from_millis(1_500)).unwrap();
    assert_eq!(later.as_nanos(), 11_500_000_000);
    assert_eq!(later.checked_sub(Duration::from_millis(1_500)), Some(start));
    assert_eq!(
        later.checked_duration_since(start),
        Some(Duration::from_millis(1_500))
    );
}

#[test]
fn checked_arithmetic_reports_overflow() {
    assert_eq!(Instant::MAX.checked_add(Duration::from_nanos(1)), None);
    assert_eq!(Instant::ZERO.checked_sub(Duration::from_nanos(1)), None);
    // A Duration longer than u64 nanoseconds cannot be added to anything.
    assert_eq!(Instant::ZERO.checked_add(Duration::MAX), None);
    assert_eq!(Instant::MAX.checked_sub(Duration::MAX), None);
    assert_eq!(
        Instant::ZERO.checked_duration_since(Instant::from_nanos(1)),
        None
    );
}

#[test]
fn saturating_arithmetic_clamps() {
    assert_eq!(
        Instant::from_secs(1).saturating_add(Duration::MAX),
        Instant::MAX
    );
    assert_eq!(
        Instant::from_secs(1).saturating_sub(Duration::from_secs(2)),
        Instant::ZERO
    );
    assert_eq!(
        Instant::from_secs(1).saturating_sub(Duration::from_millis(250)),
        Instant::from_millis(750)
    );
    // A clock that stepped backwards reads as "no time passed".
    assert_eq!(
        Instant::from_secs(1).saturating_duration_since(Instant::from_secs(5)),
        Duration::ZERO
    );
    assert_eq!(
        Instant::from_secs(5).saturating_duration_since(Instant::from_secs(1)),
        Duration::from_secs(4)
    );
}

#[test]
fn unit_constructors_and_accessors() {
    assert_eq!(Instant::from_millis(2_500).as_secs(), 2);
    assert_eq!(Instant::from_micros(2_500).as_millis(), 2);
    assert_eq!(Instant::from_nanos(7).as_nanos(), 7);
    assert_eq!(Instant::from_millis(u64::MAX), Instant::MAX);
    assert_eq!(Instant::from_micros(u64::MAX), Instant::MAX);
    assert!(Instant::from_millis(999) < Instant::from_secs(1));
    assert_eq!(Instant::default(), Instant::ZERO);
}
