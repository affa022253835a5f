//! The gateway's per-stage cycle counts, as its console prints them
//! (`stage cycles: to_lan packets=… nic_rx=… crypto=… route=… nic_tx=…;
//! to_peer …; other=…; halted=…; tsc_hz=…; uptime_ns=…`), and the table
//! `make bench` makes of two such lines.

use std::fmt::Write;

/// The stage names, in a packet's order.
pub const STAGES: [&str; 4] = ["nic_rx", "crypto", "route", "nic_tx"];

/// One direction's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Direction {
    pub packets: u64,
    pub stages: [u64; 4],
}

/// One `stage cycles:` line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageLine {
    pub to_lan: Direction,
    pub to_peer: Direction,
    pub other: u64,
    pub halted: u64,
    pub tsc_hz: u64,
    pub uptime_ns: u64,
    /// Device and timer interrupts taken (absent from older images: 0).
    pub interrupts: u64,
}

fn value(words: &str, key: &str) -> Option<u64> {
    words.split_whitespace().find_map(|w| {
        w.strip_prefix(key)?
            .strip_prefix('=')?
            .trim_end_matches(';')
            .parse()
            .ok()
    })
}

fn direction(part: &str) -> Option<Direction> {
    let mut d = Direction {
        packets: value(part, "packets")?,
        stages: [0; 4],
    };
    for (i, name) in STAGES.iter().enumerate() {
        d.stages[i] = value(part, name)?;
    }
    Some(d)
}

impl StageLine {
    /// Parses a console line; `None` if it is not a stage line.
    pub fn parse(line: &str) -> Option<StageLine> {
        let rest = &line[line.find("stage cycles:")? + "stage cycles:".len()..];
        let parts: Vec<&str> = rest.split(';').map(str::trim).collect();
        let part = |prefix: &str| parts.iter().find_map(|p| p.strip_prefix(prefix));
        Some(StageLine {
            to_lan: direction(part("to_lan")?)?,
            to_peer: direction(part("to_peer")?)?,
            other: value(rest, "other")?,
            halted: value(rest, "halted")?,
            tsc_hz: value(rest, "tsc_hz")?,
            uptime_ns: value(rest, "uptime_ns")?,
            interrupts: value(rest, "device_interrupts").unwrap_or(0)
                + value(rest, "timer_interrupts").unwrap_or(0),
        })
    }

    /// The last stage line in a console transcript.
    pub fn last_in(text: &str) -> Option<StageLine> {
        text.lines().rev().find_map(StageLine::parse)
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &StageLine) -> StageLine {
        let d = |a: Direction, b: Direction| Direction {
            packets: a.packets - b.packets,
            stages: std::array::from_fn(|i| a.stages[i] - b.stages[i]),
        };
        StageLine {
            to_lan: d(self.to_lan, earlier.to_lan),
            to_peer: d(self.to_peer, earlier.to_peer),
            other: self.other - earlier.other,
            halted: self.halted - earlier.halted,
            tsc_hz: self.tsc_hz,
            uptime_ns: self.uptime_ns - earlier.uptime_ns,
            interrupts: self.interrupts - earlier.interrupts,
        }
    }

    /// All cycles in the interval, and those the vCPU was not halted.
    fn cycles(&self) -> (f64, f64) {
        let total = self.uptime_ns as f64 * self.tsc_hz as f64 / 1e9;
        (total, (total - self.halted as f64).max(0.0))
    }

    /// The table for an interval (`self` from [`StageLine::since`]).
    pub fn table(&self) -> String {
        let mut out = String::new();
        let (total, busy) = self.cycles();
        let _ = writeln!(
            out,
            "    {:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11}",
            "to", "packets", "nic_rx", "crypto", "route", "nic_tx", "sum/packet"
        );
        for (name, d) in [("lan", self.to_lan), ("peer", self.to_peer)] {
            let per = |c: u64| {
                if d.packets == 0 {
                    0.0
                } else {
                    c as f64 / d.packets as f64
                }
            };
            let _ = writeln!(
                out,
                "    {:<8} {:>9} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>11.0}",
                name,
                d.packets,
                per(d.stages[0]),
                per(d.stages[1]),
                per(d.stages[2]),
                per(d.stages[3]),
                per(d.stages.iter().sum())
            );
        }
        let crypto = (self.to_lan.stages[1] + self.to_peer.stages[1]) as f64;
        let staged: u64 = self
            .to_lan
            .stages
            .iter()
            .chain(self.to_peer.stages.iter())
            .sum();
        let packets = (self.to_lan.packets + self.to_peer.packets).max(1) as f64;
        let _ = writeln!(
            out,
            "    (cycles per packet). vCPU busy {:.0} % of {:.2} s; of its busy cycles: engine+AEAD {:.0} %, other data-path stages {:.0} %, \
             stacks/timers {:.0} %, loop and interrupt entry {:.0} % ({} interrupts); busy cycles per forwarded packet {:.0}",
            100.0 * busy / total.max(1.0),
            self.uptime_ns as f64 / 1e9,
            100.0 * crypto / busy.max(1.0),
            100.0 * (staged as f64 - crypto) / busy.max(1.0),
            100.0 * self.other as f64 / busy.max(1.0),
            100.0 * (busy - staged as f64 - self.other as f64).max(0.0) / busy.max(1.0),
            self.interrupts,
            busy / packets
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "stage cycles: to_lan packets=10 nic_rx=100 crypto=1000 route=50 nic_tx=70; to_peer packets=4 nic_rx=40 crypto=400 route=20 nic_tx=30; other=500; halted=2000; tsc_hz=1000000000; uptime_ns=5000";
    const B: &str = "[  3.1] stage cycles: to_lan packets=20 nic_rx=200 crypto=2000 route=100 nic_tx=140; to_peer packets=8 nic_rx=80 crypto=800 route=40 nic_tx=60; other=900; halted=3000; tsc_hz=1000000000; uptime_ns=10000; device_interrupts=7; timer_interrupts=3";

    #[test]
    fn parses_and_subtracts() {
        let a = StageLine::parse(A).unwrap();
        assert_eq!(a.to_lan.stages, [100, 1000, 50, 70]);
        assert_eq!(a.to_peer.packets, 4);
        let b = StageLine::parse(B).unwrap();
        let d = b.since(&a);
        assert_eq!(d.to_lan.packets, 10);
        assert_eq!(d.to_peer.stages, [40, 400, 20, 30]);
        assert_eq!(
            (d.other, d.halted, d.uptime_ns, d.interrupts),
            (400, 1000, 5000, 10)
        );
        assert_eq!(StageLine::last_in(&format!("x\n{A}\ny\n{B}\n")), Some(b));
        assert!(StageLine::parse("stage cycles: garbage").is_none());
        let table = d.table();
        assert!(table.contains("vCPU busy 80 %"), "{table}");
    }
}
