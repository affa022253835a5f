//! The anti-replay window, checked against the Linux selftest
//! (drivers/net/wireguard/selftest/counter.c) and a naive reference model.

mod common;

use std::collections::HashSet;

use common::Rng;
use net::replay::{ReplayWindow, REJECT_AFTER_MESSAGES, WINDOW_SIZE};

/// Runs `(counter, expected)` steps, naming the failing step.
fn run(window: &mut ReplayWindow, steps: &[(u64, bool)]) {
    for (index, &(counter, expected)) in steps.iter().enumerate() {
        assert_eq!(
            window.check_and_update(counter),
            expected,
            "step {} (counter {counter})",
            index + 1
        );
    }
}

/// The 34 numbered cases of the Linux selftest, in order, on one window.
#[test]
fn linux_selftest_sequence() {
    const LIM: u64 = WINDOW_SIZE + 1;
    const REJECT: u64 = REJECT_AFTER_MESSAGES;
    let mut window = ReplayWindow::new();
    run(
        &mut window,
        &[
            (0, true),                    // 1: first packet
            (1, true),                    // 2
            (1, false),                   // 3: duplicate
            (9, true),                    // 4: skip ahead
            (8, true),                    // 5: late but inside the window
            (7, true),                    // 6
            (7, false),                   // 7: late duplicate
            (LIM, true),                  // 8: jump by a whole window
            (LIM - 1, true),              // 9
            (LIM - 1, false),             // 10
            (LIM - 2, true),              // 11
            (2, true),                    // 12: exactly WINDOW_SIZE behind
            (2, false),                   // 13
            (LIM + 16, true),             // 14
            (3, false),                   // 15: now out of the window
            (LIM + 16, false),            // 16
            (LIM * 4, true),              // 17: jump past the whole ring
            (LIM * 4 - (LIM - 1), true),  // 18: oldest still acceptable
            (10, false),                  // 19: ancient
            (LIM * 4 - LIM, false),       // 20: one past the window edge
            (LIM * 4 - (LIM + 1), false), // 21
            (LIM * 4 - (LIM - 2), true),  // 22
            (LIM * 4 + 1 - LIM, false),   // 23: same counter as 18
            (0, false),                   // 24
            (REJECT, false),              // 25: never acceptable
            (REJECT - 1, true),           // 26: the last acceptable counter
            (REJECT, false),              // 27
            (REJECT - 1, false),          // 28
            (REJECT - 2, true),           // 29
            (REJECT + 1, false),          // 30
            (REJECT + 2, false),          // 31
            (REJECT - 2, false),          // 32
            (REJECT - 3, true),           // 33
            (0, false),                   // 34
        ],
    );
}

/// Fill the window in order; the counter exactly WINDOW_SIZE behind is still new.
#[test]
fn linux_bulk_ascending_from_one() {
    let mut window = ReplayWindow::new();
    for counter in 1..=WINDOW_SIZE {
        assert!(window.check_and_update(counter), "counter {counter}");
    }
    assert!(window.check_and_update(0));
    assert!(!window.check_and_update(0));
}

#[test]
fn linux_bulk_ascending_from_two() {
    let mut window = ReplayWindow::new();
    for counter in 2..=WINDOW_SIZE + 1 {
        assert!(window.check_and_update(counter), "counter {counter}");
    }
    assert!(window.check_and_update(1));
    // 0 is WINDOW_SIZE + 1 behind the greatest.
    assert!(!window.check_and_update(0));
}

/// Arriving in reverse order: the whole window is usable, down to 0.
#[test]
fn linux_bulk_descending_to_zero() {
    let mut window = ReplayWindow::new();
    for counter in (0..=WINDOW_SIZE).rev() {
        assert!(window.check_and_update(counter), "counter {counter}");
    }
}

#[test]
fn linux_bulk_descending_to_one_then_zero_is_too_old() {
    let mut window = ReplayWindow::new();
    for counter in (1..=WINDOW_SIZE + 1).rev() {
        assert!(window.check_and_update(counter), "counter {counter}");
    }
    assert!(!window.check_and_update(0));
}

#[test]
fn linux_bulk_descending_then_advance_by_one() {
    let mut window = ReplayWindow::new();
    for counter in (1..=WINDOW_SIZE).rev() {
        assert!(window.check_and_update(counter), "counter {counter}");
    }
    assert!(window.check_and_update(WINDOW_SIZE + 1));
    assert!(!window.check_and_update(0));
}

#[test]
fn linux_bulk_descending_then_zero_then_advance() {
    let mut window = ReplayWindow::new();
    for counter in (1..=WINDOW_SIZE).rev() {
        assert!(window.check_and_update(counter), "counter {counter}");
    }
    assert!(window.check_and_update(0));
    assert!(window.check_and_update(WINDOW_SIZE + 1));
}

/// A jump of several ring lengths must clear stale bits: counters whose
/// ring slot was used one lap earlier are new again.
#[test]
fn bitmap_wrap_clears_stale_bits() {
    let mut window = ReplayWindow::new();
    for counter in 0..200 {
        assert!(window.check_and_update(counter));
    }
    // Same ring slots, exactly one lap (8192 positions) later.
    let lap = 8192;
    assert!(window.check_and_update(lap + 199));
    for counter in lap..lap + 199 {
        assert!(window.check_and_update(counter), "counter {counter}");
    }
    // A partial advance of a few words: the skipped words are cleared too.
    assert!(window.check_and_update(lap + 199 + 64 * 3 + 5));
    for counter in lap + 200..lap + 199 + 64 * 3 + 5 {
        assert!(window.check_and_update(counter), "counter {counter}");
    }
}

#[test]
fn would_accept_predicts_without_recording() {
    let mut window = ReplayWindow::new();
    assert!(window.would_accept(0));
    assert!(!window.would_accept(REJECT_AFTER_MESSAGES));
    assert!(window.check_and_update(WINDOW_SIZE + 10));
    assert!(window.would_accept(10));
    assert!(!window.would_accept(9));
    assert!(window.would_accept(WINDOW_SIZE + 11));
    assert!(!window.would_accept(WINDOW_SIZE + 10));
    // Predicting never changed anything.
    assert!(window.check_and_update(10));
    assert_eq!(window.greatest(), Some(WINDOW_SIZE + 10));
    window.reset();
    assert_eq!(window.greatest(), None);
    assert!(window.check_and_update(10));
}

/// Randomized comparison with a model that remembers every accepted counter.
#[test]
fn matches_reference_model() {
    let mut rng = Rng::new(0x00c0_ffee);
    for round in 0..20 {
        let mut window = ReplayWindow::new();
        let mut seen = HashSet::new();
        let mut greatest: Option<u64> = None;
        let base = if round % 4 == 3 {
            REJECT_AFTER_MESSAGES - 20_000
        } else {
            0
        };
        for step in 0..20_000 {
            let top = greatest.unwrap_or(base);
            let counter = match rng.below(10) {
                0 => top.saturating_add(rng.below(3 * 8192)),
                1 => top.saturating_add(rng.below(70)),
                2 => rng.next_u64(),
                3 => top.saturating_sub(WINDOW_SIZE - 3 + rng.below(6)),
                _ => top.saturating_sub(rng.below(WINDOW_SIZE + 200)),
            };
            let expected = counter < REJECT_AFTER_MESSAGES
                && !seen.contains(&counter)
                && greatest.is_none_or(|g| counter.saturating_add(WINDOW_SIZE) >= g);
            assert_eq!(
                window.would_accept(counter),
                expected,
                "round {round} step {step}"
            );
            assert_eq!(
                window.check_and_update(counter),
                expected,
                "round {round} step {step}"
            );
            if expected {
                seen.insert(counter);
                greatest = Some(greatest.map_or(counter, |g| g.max(counter)));
            }
        }
    }
}
