//! The gateway loop's own counters: every frame it drops is counted by
//! reason here (the engine and the router count theirs), and the TSC cycles
//! each stage of the data path takes, per direction.

use core::fmt;

/// Drops and events of the gateway loop, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GatewayStats {
    /// Outer frames for the listen port shorter than their headers, or with
    /// length fields that disagree.
    pub outer_malformed: u64,
    /// Outer frames for the listen port with a bad IPv4 header or UDP checksum.
    pub outer_bad_checksum: u64,
    /// IP fragments addressed to the listen port.
    pub outer_fragment: u64,
    /// Datagrams to a peer with no outer route (no address of its family, no gateway).
    pub outer_no_route: u64,
    /// Datagrams dropped because the outer next hop could not be resolved
    /// (or its hold queue was full).
    pub outer_unresolved: u64,
    /// Frames dropped because the outer NIC had no free transmit buffer.
    pub outer_tx_full: u64,
    /// Packets to the LAN dropped because the neighbor was unresolvable or
    /// its hold queue full.
    pub lan_unresolved: u64,
    /// Frames dropped because the LAN NIC had no free transmit buffer.
    pub inner_tx_full: u64,
    /// ICMP errors or echo replies for the tunnel dropped for lack of room.
    pub deferred_full: u64,
    /// Packets from the tunnel whose outer header was marked CE (congestion
    /// experienced) while the inner packet is not ECN-capable: it cannot
    /// carry the mark, so it is dropped (RFC 6040 §4.2).
    pub tunnel_ce_not_ect: u64,
    /// Times a NIC's receive ring was left waiting because the other NIC's
    /// transmit ring was full (not a drop: the frames wait in the ring).
    pub backpressure: u64,
    /// GSO frames from the LAN (not a drop: each is cut into segments).
    pub lan_gso_frames: u64,
    /// Segments cut from them.
    pub lan_gso_segments: u64,
    /// GSO frames whose IP or TCP lengths do not add up, or a fragment.
    pub lan_gso_malformed: u64,
    /// GSO frames whose GSO type does not match the packet (or IPv6 with an
    /// extension header).
    pub lan_gso_mismatch: u64,
    /// GSO frames with a segment size below 88 bytes or segments longer than
    /// the gateway handles.
    pub lan_gso_bad_size: u64,
    /// GSO frames addressed to the gateway itself (it serves no TCP).
    pub lan_gso_local: u64,
    /// LAN frames whose partial checksum's position lies outside the packet.
    pub lan_bad_partial: u64,
}

impl GatewayStats {
    /// Every frame the loop itself dropped.
    pub fn dropped(&self) -> u64 {
        self.outer_malformed
            + self.outer_bad_checksum
            + self.outer_fragment
            + self.outer_no_route
            + self.outer_unresolved
            + self.outer_tx_full
            + self.lan_unresolved
            + self.inner_tx_full
            + self.deferred_full
            + self.tunnel_ce_not_ect
            + self.lan_gso_malformed
            + self.lan_gso_mismatch
            + self.lan_gso_bad_size
            + self.lan_gso_local
            + self.lan_bad_partial
    }
}

impl fmt::Display for GatewayStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "outer_malformed={} outer_bad_checksum={} outer_fragment={} outer_no_route={} \
             outer_unresolved={} outer_tx_full={} lan_unresolved={} inner_tx_full={} deferred_full={} \
             tunnel_ce_not_ect={} lan_gso_malformed={} lan_gso_mismatch={} lan_gso_bad_size={} lan_gso_local={} \
             lan_bad_partial={} (GSO frames {}, cut into {} segments)",
            self.outer_malformed,
            self.outer_bad_checksum,
            self.outer_fragment,
            self.outer_no_route,
            self.outer_unresolved,
            self.outer_tx_full,
            self.lan_unresolved,
            self.inner_tx_full,
            self.deferred_full,
            self.tunnel_ce_not_ect,
            self.lan_gso_malformed,
            self.lan_gso_mismatch,
            self.lan_gso_bad_size,
            self.lan_gso_local,
            self.lan_bad_partial,
            self.lan_gso_frames,
            self.lan_gso_segments
        )
    }
}

/// A stage of the data path, in the order a packet passes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Taking the frame from the receive ring, parsing its headers, giving the buffer back.
    NicReceive = 0,
    /// The engine: decryption (towards the LAN) or encryption (towards the peer).
    Crypto = 1,
    /// The router and neighbor cache (towards the LAN), or router and
    /// AllowedIPs (towards the peer).
    Route = 2,
    /// Copying into a transmit buffer, writing headers, queueing it.
    NicTransmit = 3,
}

/// The stages, for printing.
pub const STAGES: [Stage; 4] = [
    Stage::NicReceive,
    Stage::Crypto,
    Stage::Route,
    Stage::NicTransmit,
];

impl Stage {
    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Stage::NicReceive => "nic_rx",
            Stage::Crypto => "crypto",
            Stage::Route => "route",
            Stage::NicTransmit => "nic_tx",
        }
    }
}

/// Cycles spent per stage and packets forwarded, for one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectionCycles {
    /// Cycles per [`Stage`].
    pub stages: [u64; 4],
    /// Packets forwarded in this direction.
    pub packets: u64,
}

/// Where the cycles went, per direction, plus the loop's other work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageCycles {
    /// Peer to LAN: datagrams decrypted and delivered.
    pub to_lan: DirectionCycles,
    /// LAN to peer: packets encrypted and sent.
    pub to_peer: DirectionCycles,
    /// smoltcp, timers, neighbor caches: everything not on the data path.
    pub other: u64,
}

/// Attributes the cycles between consecutive marks to the stage just ended.
pub struct StageClock {
    read: fn() -> u64,
    last: u64,
}

impl StageClock {
    /// A clock reading `read` (the TSC in the kernel; anything monotonic in tests).
    pub fn new(read: fn() -> u64) -> Self {
        Self { read, last: read() }
    }

    /// Starts timing from now.
    pub fn restart(&mut self) {
        self.last = (self.read)();
    }

    /// Cycles since the last mark or restart, which now become the start.
    pub fn lap(&mut self) -> u64 {
        let now = (self.read)();
        let elapsed = now.wrapping_sub(self.last);
        self.last = now;
        elapsed
    }
}

impl DirectionCycles {
    /// Adds the cycles since the clock's last mark to `stage`.
    pub fn mark(&mut self, clock: &mut StageClock, stage: Stage) {
        self.stages[stage as usize] += clock.lap();
    }
}

impl fmt::Display for DirectionCycles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "packets={}", self.packets)?;
        for stage in STAGES {
            write!(f, " {}={}", stage.name(), self.stages[stage as usize])?;
        }
        Ok(())
    }
}
