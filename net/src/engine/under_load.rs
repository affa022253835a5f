//! Deciding when the engine is "under load" and must demand cookies.
//!
//! Linux calls a device under load while its queue of unprocessed handshake packets is at
//! least 1/8 full, and stays so for a second after. A single-threaded sans-IO engine has no
//! such queue: every handshake message is processed as it is handed in. The equivalent signal
//! is the arrival *rate*: we count handshake messages (initiations and responses of the right
//! size, before any check) in one-second windows, and once a window has seen more than the
//! configured threshold we are under load until one full second ([`UNDER_LOAD_STICKINESS`])
//! after the last message that found the rate too high. While under load, handshake messages
//! without a valid MAC2 get a cookie reply instead of a Diffie-Hellman, and those with one are
//! rate limited per source address.

use core::time::Duration;

use super::timers::UNDER_LOAD_STICKINESS;
use crate::time::Instant;

/// Counts handshake messages per one-second window.
#[derive(Clone, Debug)]
pub(crate) struct LoadMonitor {
    threshold: u32,
    window_start: Instant,
    in_window: u32,
    under_load_until: Option<Instant>,
}

impl LoadMonitor {
    /// A monitor that declares load above `threshold` handshake messages per second.
    pub fn new(threshold: u32) -> LoadMonitor {
        LoadMonitor {
            threshold,
            window_start: Instant::ZERO,
            in_window: 0,
            under_load_until: None,
        }
    }

    /// Records one handshake message at `now` and says whether we are under load. The second
    /// value is true when this message started a new episode of load.
    pub fn record(&mut self, now: Instant) -> (bool, bool) {
        if now.saturating_duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.in_window = 0;
        }
        self.in_window = self.in_window.saturating_add(1);
        let was_under_load = self.is_under_load(now);
        if self.in_window > self.threshold {
            self.under_load_until = Some(now.saturating_add(UNDER_LOAD_STICKINESS));
        }
        let under_load = self.is_under_load(now);
        (under_load, under_load && !was_under_load)
    }

    /// Whether we are under load at `now`.
    pub fn is_under_load(&self, now: Instant) -> bool {
        self.under_load_until.is_some_and(|until| now < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_and_stickiness() {
        let mut m = LoadMonitor::new(3);
        let t = Instant::from_secs(10);
        for _ in 0..3 {
            assert_eq!(m.record(t), (false, false));
        }
        assert_eq!(m.record(t), (true, true));
        assert!(m.is_under_load(t.saturating_add(Duration::from_millis(999))));
        assert!(!m.is_under_load(t.saturating_add(Duration::from_secs(1))));
        // A new window starts quiet.
        assert_eq!(
            m.record(t.saturating_add(Duration::from_secs(2))),
            (false, false)
        );
    }
}
