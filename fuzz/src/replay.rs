//! The anti-replay window against a reference model.

use std::collections::BTreeSet;

use net::replay::{ReplayWindow, REJECT_AFTER_MESSAGES, WINDOW_SIZE};

use crate::input::Input;

/// The rule itself, with no cleverness: a counter is accepted once if it is
/// below `REJECT_AFTER_MESSAGES` and at most `WINDOW_SIZE` behind the
/// greatest counter accepted so far.
#[derive(Default)]
struct Model {
    seen: BTreeSet<u64>,
    greatest: Option<u64>,
}

impl Model {
    fn would_accept(&self, counter: u64) -> bool {
        counter < REJECT_AFTER_MESSAGES
            && !self.seen.contains(&counter)
            && self
                .greatest
                .is_none_or(|g| counter.saturating_add(WINDOW_SIZE) >= g)
    }

    fn check_and_update(&mut self, counter: u64) -> bool {
        if !self.would_accept(counter) {
            return false;
        }
        self.seen.insert(counter);
        self.greatest = Some(self.greatest.map_or(counter, |g| g.max(counter)));
        // Forget what can never be accepted again (bounded memory).
        if let Some(g) = self.greatest {
            let oldest = g.saturating_sub(WINDOW_SIZE);
            self.seen = self.seen.split_off(&oldest);
        }
        true
    }
}

/// A sequence of operations on one window, each compared with the model:
/// `check_and_update` and `would_accept` give the model's answers and the
/// greatest counter stays the model's. Counters are chosen relative to the
/// greatest one (ahead, behind, at the window's edge) or absolutely, so the
/// interesting edges are a byte away.
pub fn replay_window(data: &[u8]) {
    let mut input = Input::new(data);
    let mut window = ReplayWindow::new();
    let mut model = Model::default();
    let mut ops = 0;
    while !input.is_empty() && ops < 4096 {
        ops += 1;
        let op = input.u8();
        let g = model.greatest.unwrap_or(0);
        let counter = match op & 7 {
            0 => input.u64(),
            1 => g.saturating_add(u64::from(input.u16())),
            2 => g.saturating_sub(u64::from(input.u16())),
            3 => g
                .saturating_sub(WINDOW_SIZE)
                .wrapping_add(input.u8() as i8 as u64),
            4 => REJECT_AFTER_MESSAGES.wrapping_add(input.u8() as i8 as u64),
            5 => g.saturating_add(u64::from(input.u8()) * 64 + 64 * 64),
            6 => {
                window.reset();
                model = Model::default();
                continue;
            }
            _ => u64::from(input.u16()),
        };
        let expected = model.would_accept(counter);
        assert_eq!(
            window.would_accept(counter),
            expected,
            "would_accept({counter}) with greatest {:?}",
            model.greatest
        );
        if op & 8 == 0 {
            assert_eq!(
                window.check_and_update(counter),
                model.check_and_update(counter),
                "check_and_update({counter}) with greatest {:?}",
                model.greatest
            );
        }
        assert_eq!(window.greatest(), model.greatest);
    }
}
