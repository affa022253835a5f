//! The multiport handshake and the named port's sessions, as a pure state
//! machine tested on the host: inputs are decoded control messages from
//! the device and completions of the driver's own messages; outputs are
//! messages to send (an outbox) and [`Effects`] for the driver's queues.
//!
//! Handshake (QEMU `handle_control_message`, Linux `virtcons_probe`):
//! DEVICE_READY → PORT_ADD(id) → PORT_READY(id, 1) → [CONSOLE_PORT]
//! PORT_NAME(id) → [PORT_OPEN(id, 1) if a client is connected]; once the
//! port named as asked is known, the driver sends PORT_OPEN(id, 1).
//!
//! Sessions. QEMU reports each host client's connect and disconnect as
//! PORT_OPEN 1/0, but its bytes carry no session mark: bytes of the client
//! that left and of the next one share one receive queue. On a disconnect
//! the driver reports it (the protocol layer drops its half-read request
//! and any reply not yet sent) and drops transmit bytes not yet flushed.
//!
//! Received bytes are kept across a disconnect, and our side of the port
//! stays open. Closing it (PORT_OPEN(id, 0)) until QEMU had taken that and
//! discarding what arrived meanwhile was tried, to find where one client's
//! bytes end: under TCG it lost `wg`'s requests (`wg` opens and closes an
//! empty probe connection, then at once sends its request, which QEMU
//! forwards before the slower guest has seen the probe leave) and garbled
//! long ones around the reopening. The protocol layer finds request
//! boundaries itself (`net::gateway::Control`). On the transmit side, bytes
//! not yet flushed are dropped at a PORT_OPEN 0; bytes given to the device
//! after a client left reach the next client only if it connected in
//! between.
//!
//! Phases of the named port: `Unnamed` → (PORT_NAME) `Opening` → (our
//! PORT_OPEN 1 taken) `Open`; host clients come and go while it is open.

use super::control::{Event, Incoming, Outgoing};
use alloc::boxed::Box;
use alloc::collections::VecDeque;

/// Messages the outbox holds. At most one PORT_READY per port (QEMU sends
/// one PORT_ADD per port at DEVICE_READY) plus DEVICE_READY and PORT_OPEN.
pub(super) const OUTBOX: usize = 2 * super::queues::MAX_PORTS as usize + 8;
/// Outbox slots only PORT_OPEN may use, so a flood of PORT_ADDs cannot
/// keep the named port closed.
const RESERVED_FOR_OPEN: usize = 4;

/// Where the named port is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Its name has not been seen (or it was removed).
    Unnamed,
    /// Our PORT_OPEN 1 is on its way; bytes received belong to the session.
    Opening,
    /// QEMU has our PORT_OPEN 1.
    Open,
}

/// What the driver must do after an input. Merged over a poll with `|`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Effects {
    /// A client's session began (`is_connected` became true).
    pub(super) connected: bool,
    /// A client's session ended (host PORT_OPEN 0, the port removed).
    pub(super) disconnected: bool,
    /// The named port was found for the first time: post the receive
    /// buffers on its receive queue (before sending anything else).
    pub(super) attach: Option<u32>,
    /// Discard every byte received and not yet read (unread buffers and the
    /// used ring) and every byte written but not yet given to the device.
    pub(super) discard: bool,
    /// Notify the port's receive queue even without new buffers: QEMU then
    /// re-checks whether it can read the client's socket.
    pub(super) kick_rx: bool,
}

impl core::ops::BitOrAssign for Effects {
    fn bitor_assign(&mut self, other: Self) {
        self.connected |= other.connected;
        self.disconnected |= other.disconnected;
        self.attach = self.attach.or(other.attach);
        self.discard |= other.discard;
        self.kick_rx |= other.kick_rx;
    }
}

/// Counters of the state machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct HandshakeStats {
    /// Ports this driver cannot serve: PORT_ADD beyond the queues set up,
    /// or the named port appearing beyond them or on another id than the
    /// one holding the receive buffers.
    pub(super) unreachable: u64,
    /// A second port with the name (QEMU refuses duplicate names).
    pub(super) duplicate_name: u64,
    /// Messages dropped because the outbox was full.
    pub(super) outbox_overflow: u64,
    /// Sessions begun.
    pub(super) sessions: u64,
}

/// The state machine.
pub(super) struct Handshake {
    wanted: Box<[u8]>,
    /// Port ids below this have queues.
    port_limit: u32,
    /// The port named `wanted`, while it exists.
    target: Option<u32>,
    /// The port whose receive queue holds the receive buffers (set once).
    attached: Option<u32>,
    phase: Phase,
    /// The last PORT_OPEN from the device for `target` said 1.
    host_connected: bool,
    outbox: VecDeque<Outgoing>,
    stats: HandshakeStats,
}

impl Handshake {
    /// Starts with DEVICE_READY in the outbox (to send once the control
    /// receive buffers are posted and DRIVER_OK is set).
    pub(super) fn new(wanted: &[u8], port_limit: u32) -> Self {
        let mut outbox = VecDeque::with_capacity(OUTBOX);
        outbox.push_back(Outgoing::device_ready());
        Self {
            wanted: wanted.into(),
            port_limit,
            target: None,
            attached: None,
            phase: Phase::Unnamed,
            host_connected: false,
            outbox,
            stats: HandshakeStats::default(),
        }
    }

    /// A client is connected and its session is live: bytes may be written.
    pub(super) fn is_connected(&self) -> bool {
        self.host_connected && matches!(self.phase, Phase::Opening | Phase::Open)
    }

    /// Whether received bytes are kept: once the named port is known, always
    /// (see the module documentation on why they are not discarded while
    /// closing).
    pub(super) fn accepts_data(&self) -> bool {
        matches!(self.phase, Phase::Opening | Phase::Open)
    }

    #[cfg(test)]
    pub(super) fn phase(&self) -> Phase {
        self.phase
    }

    pub(super) fn target(&self) -> Option<u32> {
        self.target
    }

    pub(super) fn stats(&self) -> HandshakeStats {
        self.stats
    }

    /// The next message to send, left in the outbox.
    pub(super) fn peek_outgoing(&self) -> Option<Outgoing> {
        self.outbox.front().copied()
    }

    /// Removes the message `peek_outgoing` returned (it is on its way).
    pub(super) fn pop_outgoing(&mut self) {
        self.outbox.pop_front();
    }

    fn send(&mut self, message: Outgoing) {
        let room = if message.event == Event::PortOpen {
            OUTBOX
        } else {
            OUTBOX - RESERVED_FOR_OPEN
        };
        if self.outbox.len() < room {
            self.outbox.push_back(message);
        } else {
            self.stats.outbox_overflow += 1;
        }
    }

    /// A message from the device.
    pub(super) fn receive(&mut self, message: Incoming<'_>) -> Effects {
        let before = self.is_connected();
        let mut effects = Effects::default();
        match message {
            Incoming::PortAdd { id } => {
                let ok = id < self.port_limit;
                if !ok {
                    self.stats.unreachable += 1;
                }
                // Linux answers a repeated PORT_ADD with PORT_READY again.
                self.send(Outgoing::port_ready(id, ok));
            }
            Incoming::PortName { id, name } if name == &*self.wanted => {
                self.named(id, &mut effects)
            }
            Incoming::PortOpen { id, open } if Some(id) == self.target => {
                if open {
                    self.host_connected = true;
                } else {
                    self.host_closed(id, &mut effects);
                }
            }
            Incoming::PortRemove { id } if Some(id) == self.target => {
                // QEMU discards what the port held; nothing to send for a
                // port that no longer exists.
                self.host_connected = false;
                self.target = None;
                self.phase = Phase::Unnamed;
                effects.disconnected = true;
                effects.discard = true;
            }
            // Other ports, other names, consoles and sizes: nothing to do.
            Incoming::PortName { .. }
            | Incoming::PortOpen { .. }
            | Incoming::PortRemove { .. }
            | Incoming::ConsolePort { .. }
            | Incoming::Resize { .. } => {}
        }
        self.finish(before, &mut effects);
        effects
    }

    /// The device has taken (returned the buffer of) a message we sent.
    pub(super) fn sent(&mut self, message: Outgoing) -> Effects {
        let before = self.is_connected();
        let mut effects = Effects::default();
        let our_open_taken = message.event == Event::PortOpen
            && message.value != 0
            && Some(message.id) == self.target;
        if our_open_taken && self.phase == Phase::Opening {
            self.phase = Phase::Open;
            effects.kick_rx = true;
        }
        self.finish(before, &mut effects);
        effects
    }

    fn named(&mut self, id: u32, effects: &mut Effects) {
        match self.target {
            // QEMU repeats the name after a repeated PORT_READY.
            Some(target) if target == id => {}
            Some(_) => self.stats.duplicate_name += 1,
            None if id >= self.port_limit
                || self.attached.is_some_and(|attached| attached != id) =>
            {
                self.stats.unreachable += 1;
            }
            None => {
                if self.attached.is_none() {
                    self.attached = Some(id);
                    effects.attach = Some(id);
                }
                self.target = Some(id);
                self.host_connected = false;
                self.phase = Phase::Opening;
                self.send(Outgoing::port_open(id, true));
            }
        }
    }

    fn host_closed(&mut self, _id: u32, effects: &mut Effects) {
        self.host_connected = false;
        // Every PORT_OPEN 0 ends the client's session, even a repeated one.
        // Our side stays open: closing and reopening it on every disconnect
        // (to learn where the old client's bytes end) was tried and, under
        // TCG, lost or garbled the next client's request bytes; the protocol
        // layer finds request boundaries itself.
        effects.disconnected = true;
        effects.discard = true;
    }

    fn finish(&mut self, before: bool, effects: &mut Effects) {
        let after = self.is_connected();
        if !before && after {
            effects.connected = true;
            self.stats.sessions += 1;
        }
        if before && !after {
            effects.disconnected = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    const NAME: &[u8] = b"wg-uapi";

    fn drain(machine: &mut Handshake) -> Vec<Outgoing> {
        core::iter::from_fn(|| {
            let next = machine.peek_outgoing()?;
            machine.pop_outgoing();
            Some(next)
        })
        .collect()
    }

    /// Sends everything in the outbox and has the device take it at once,
    /// returning the messages and the merged effects of their completions.
    fn deliver(machine: &mut Handshake) -> (Vec<Outgoing>, Effects) {
        let sent = drain(machine);
        let mut effects = Effects::default();
        for message in &sent {
            effects |= machine.sent(*message);
        }
        (sent, effects)
    }

    /// A machine past the handshake for port 1, our PORT_OPEN 1 taken.
    fn open_machine() -> Handshake {
        let mut m = Handshake::new(NAME, 31);
        assert_eq!(drain(&mut m), [Outgoing::device_ready()]);
        m.receive(Incoming::PortAdd { id: 1 });
        assert_eq!(drain(&mut m), [Outgoing::port_ready(1, true)]);
        let effects = m.receive(Incoming::PortName { id: 1, name: NAME });
        assert_eq!(effects.attach, Some(1));
        let (sent, effects) = deliver(&mut m);
        assert_eq!(sent, [Outgoing::port_open(1, true)]);
        assert!(effects.kick_rx);
        assert_eq!(m.phase(), Phase::Open);
        m
    }

    #[test]
    fn handshake_as_observed_on_qemu() {
        // DEVICE_READY → PORT_ADD(1) → PORT_READY → PORT_NAME → PORT_OPEN 1 → guest PORT_OPEN 1.
        let mut m = Handshake::new(NAME, 31);
        assert_eq!(drain(&mut m), [Outgoing::device_ready()]);
        assert_eq!(m.receive(Incoming::PortAdd { id: 1 }), Effects::default());
        assert_eq!(drain(&mut m), [Outgoing::port_ready(1, true)]);
        let effects = m.receive(Incoming::PortName { id: 1, name: NAME });
        assert_eq!(
            effects,
            Effects {
                attach: Some(1),
                ..Effects::default()
            }
        );
        assert_eq!(m.phase(), Phase::Opening);
        assert_eq!(m.target(), Some(1));
        assert!(m.accepts_data());
        assert!(!m.is_connected(), "no client yet");
        // A client was already waiting: QEMU says so right after the name.
        let effects = m.receive(Incoming::PortOpen { id: 1, open: true });
        assert!(effects.connected && !effects.disconnected);
        assert!(m.is_connected());
        let (sent, effects) = deliver(&mut m);
        assert_eq!(sent, [Outgoing::port_open(1, true)]);
        assert_eq!(
            effects,
            Effects {
                kick_rx: true,
                ..Effects::default()
            }
        );
        assert_eq!(m.phase(), Phase::Open);
        assert!(m.is_connected());
        assert_eq!(m.stats().sessions, 1);
    }

    #[test]
    fn console_port_and_resize_and_other_ports_are_ignored() {
        let mut m = Handshake::new(NAME, 31);
        drain(&mut m);
        for id in [0, 1, 2] {
            m.receive(Incoming::PortAdd { id });
        }
        assert_eq!(
            drain(&mut m),
            [
                Outgoing::port_ready(0, true),
                Outgoing::port_ready(1, true),
                Outgoing::port_ready(2, true)
            ]
        );
        assert_eq!(
            m.receive(Incoming::ConsolePort { id: 0 }),
            Effects::default()
        );
        assert_eq!(
            m.receive(Incoming::Resize {
                id: 0,
                cols: 80,
                rows: 25
            }),
            Effects::default()
        );
        assert_eq!(
            m.receive(Incoming::PortName {
                id: 0,
                name: b"org.qemu.guest_agent.0"
            }),
            Effects::default()
        );
        assert_eq!(
            m.receive(Incoming::PortName {
                id: 1,
                name: b"wg-uapi2"
            }),
            Effects::default()
        );
        assert_eq!(
            m.receive(Incoming::PortName {
                id: 1,
                name: b"wg-uap"
            }),
            Effects::default()
        );
        // Connects on other ports do not concern us.
        assert_eq!(
            m.receive(Incoming::PortOpen { id: 1, open: true }),
            Effects::default()
        );
        assert_eq!(
            m.receive(Incoming::PortOpen { id: 1, open: false }),
            Effects::default()
        );
        assert_eq!(
            m.receive(Incoming::PortRemove { id: 1 }),
            Effects::default()
        );
        assert!(drain(&mut m).is_empty());
        let effects = m.receive(Incoming::PortName { id: 2, name: NAME });
        assert_eq!(effects.attach, Some(2));
        assert_eq!(drain(&mut m), [Outgoing::port_open(2, true)]);
        assert_eq!(
            m.receive(Incoming::PortOpen { id: 1, open: true }),
            Effects::default()
        );
        assert!(!m.is_connected());
    }

    #[test]
    fn ports_beyond_the_queues_are_refused() {
        let mut m = Handshake::new(NAME, 4);
        drain(&mut m);
        m.receive(Incoming::PortAdd { id: 3 });
        m.receive(Incoming::PortAdd { id: 4 });
        m.receive(Incoming::PortAdd { id: u32::MAX });
        assert_eq!(
            drain(&mut m),
            [
                Outgoing::port_ready(3, true),
                Outgoing::port_ready(4, false),
                Outgoing::port_ready(u32::MAX, false)
            ]
        );
        // QEMU sends no name after PORT_READY 0, but a device might.
        assert_eq!(
            m.receive(Incoming::PortName { id: 4, name: NAME }),
            Effects::default()
        );
        assert_eq!(m.target(), None);
        assert_eq!(m.stats().unreachable, 3);
    }

    #[test]
    fn repeated_and_duplicate_names() {
        let mut m = open_machine();
        // The same port named again (after a repeated PORT_ADD): nothing changes.
        m.receive(Incoming::PortAdd { id: 1 });
        assert_eq!(drain(&mut m), [Outgoing::port_ready(1, true)]);
        assert_eq!(
            m.receive(Incoming::PortName { id: 1, name: NAME }),
            Effects::default()
        );
        assert!(drain(&mut m).is_empty());
        assert_eq!(m.phase(), Phase::Open);
        // Another port with our name: ignored, counted.
        assert_eq!(
            m.receive(Incoming::PortName { id: 2, name: NAME }),
            Effects::default()
        );
        assert_eq!(m.stats().duplicate_name, 1);
        assert_eq!(m.target(), Some(1));
    }

    /// A client connects, sends, and leaves; the next one connects. Our side
    /// stays open throughout.
    #[test]
    fn session_boundary_keeps_the_guest_side_open() {
        let mut m = open_machine();
        let effects = m.receive(Incoming::PortOpen { id: 1, open: true });
        assert_eq!(
            effects,
            Effects {
                connected: true,
                ..Effects::default()
            }
        );
        assert!(m.is_connected() && m.accepts_data());

        // The client leaves: report it, drop unsent bytes, keep the port open.
        let effects = m.receive(Incoming::PortOpen { id: 1, open: false });
        assert_eq!(
            effects,
            Effects {
                disconnected: true,
                discard: true,
                ..Effects::default()
            }
        );
        assert_eq!(m.phase(), Phase::Open);
        assert!(!m.is_connected());
        assert!(
            m.accepts_data(),
            "bytes after a disconnect may be the next client's: kept"
        );
        assert!(
            drain(&mut m).is_empty(),
            "nothing sent: no close/reopen cycle"
        );

        // The next client.
        let effects = m.receive(Incoming::PortOpen { id: 1, open: true });
        assert_eq!(
            effects,
            Effects {
                connected: true,
                ..Effects::default()
            }
        );
        assert!(m.is_connected());
        assert_eq!(m.stats().sessions, 2);
    }

    /// wg's probe: connect and close without a byte, then the real request.
    #[test]
    fn probe_then_request() {
        let mut m = open_machine();
        assert!(
            m.receive(Incoming::PortOpen { id: 1, open: true })
                .connected
        );
        let effects = m.receive(Incoming::PortOpen { id: 1, open: false });
        assert!(effects.disconnected);
        let effects = m.receive(Incoming::PortOpen { id: 1, open: true });
        assert!(effects.connected);
        assert!(m.is_connected() && m.accepts_data());
        assert!(drain(&mut m).is_empty());
    }

    #[test]
    fn connect_and_disconnect_before_our_open_is_taken() {
        let mut m = Handshake::new(NAME, 31);
        drain(&mut m);
        m.receive(Incoming::PortAdd { id: 1 });
        m.receive(Incoming::PortName { id: 1, name: NAME });
        assert_eq!(
            drain(&mut m),
            [Outgoing::port_ready(1, true), Outgoing::port_open(1, true)]
        );
        assert!(
            m.receive(Incoming::PortOpen { id: 1, open: true })
                .connected
        );
        let effects = m.receive(Incoming::PortOpen { id: 1, open: false });
        assert!(effects.disconnected && effects.discard);
        assert_eq!(m.phase(), Phase::Opening);
        // Our PORT_OPEN 1 is taken after: the port is open, nobody connected.
        assert_eq!(
            m.sent(Outgoing::port_open(1, true)),
            Effects {
                kick_rx: true,
                ..Effects::default()
            }
        );
        assert_eq!(m.phase(), Phase::Open);
        assert!(!m.is_connected());
        assert!(drain(&mut m).is_empty());
    }

    #[test]
    fn repeated_open_and_close_from_the_host() {
        let mut m = open_machine();
        assert!(
            m.receive(Incoming::PortOpen { id: 1, open: true })
                .connected
        );
        assert_eq!(
            m.receive(Incoming::PortOpen { id: 1, open: true }),
            Effects::default(),
            "already connected"
        );
        m.receive(Incoming::PortOpen { id: 1, open: false });
        drain(&mut m);
        // A second PORT_OPEN 0: report and discard again, send nothing more.
        let effects = m.receive(Incoming::PortOpen { id: 1, open: false });
        assert_eq!(
            effects,
            Effects {
                disconnected: true,
                discard: true,
                ..Effects::default()
            }
        );
        assert!(drain(&mut m).is_empty());
        // A stray completion of a message we did not send is harmless.
        assert_eq!(m.sent(Outgoing::port_open(2, false)), Effects::default());
        assert_eq!(m.sent(Outgoing::port_ready(1, true)), Effects::default());
    }

    #[test]
    fn port_removed_and_added_again() {
        let mut m = open_machine();
        m.receive(Incoming::PortOpen { id: 1, open: true });
        let effects = m.receive(Incoming::PortRemove { id: 1 });
        assert_eq!(
            effects,
            Effects {
                disconnected: true,
                discard: true,
                ..Effects::default()
            }
        );
        assert_eq!((m.phase(), m.target()), (Phase::Unnamed, None));
        assert!(!m.accepts_data());
        assert!(drain(&mut m).is_empty(), "nothing sent for a removed port");
        // Back on the same id: no second attach (the buffers are still there).
        m.receive(Incoming::PortAdd { id: 1 });
        let effects = m.receive(Incoming::PortName { id: 1, name: NAME });
        assert_eq!(effects.attach, None);
        assert_eq!(
            drain(&mut m),
            [Outgoing::port_ready(1, true), Outgoing::port_open(1, true)]
        );
        assert_eq!(m.target(), Some(1));
        // Removed again, and back on another id: unreachable.
        m.receive(Incoming::PortRemove { id: 1 });
        assert_eq!(
            m.receive(Incoming::PortName { id: 5, name: NAME }),
            Effects::default()
        );
        assert_eq!(m.target(), None);
        assert_eq!(m.stats().unreachable, 1);
    }

    #[test]
    fn outbox_is_bounded_and_keeps_room_for_port_open() {
        let mut m = Handshake::new(NAME, 31);
        for id in 0..1000 {
            m.receive(Incoming::PortAdd { id });
        }
        assert_eq!(m.outbox.len(), OUTBOX - RESERVED_FOR_OPEN);
        assert_eq!(
            m.stats().outbox_overflow,
            1000 + 1 - (OUTBOX - RESERVED_FOR_OPEN) as u64
        );
        m.receive(Incoming::PortName { id: 1, name: NAME });
        assert_eq!(m.outbox.back(), Some(&Outgoing::port_open(1, true)));
        assert!(m.outbox.len() <= OUTBOX);
    }

    /// Random message sequences: never a panic, invariants always hold.
    #[test]
    fn random_sequences_keep_invariants() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200 {
            let mut m = Handshake::new(NAME, 4);
            let mut in_flight: Vec<Outgoing> = Vec::new();
            for _ in 0..300 {
                let id = (next() % 6) as u32;
                let effects = match next() % 8 {
                    0 => m.receive(Incoming::PortAdd { id }),
                    1 => m.receive(Incoming::PortRemove { id }),
                    2 => m.receive(Incoming::PortName {
                        id,
                        name: if next() % 2 == 0 { NAME } else { b"x" },
                    }),
                    3 | 4 => m.receive(Incoming::PortOpen {
                        id,
                        open: next() % 2 == 0,
                    }),
                    5 => {
                        if let Some(message) = m.peek_outgoing() {
                            m.pop_outgoing();
                            in_flight.push(message);
                        }
                        Effects::default()
                    }
                    _ if !in_flight.is_empty() => m.sent(in_flight.remove(0)),
                    _ => Effects::default(),
                };
                assert!(m.outbox.len() <= OUTBOX);
                assert!(
                    !m.is_connected() || m.accepts_data(),
                    "connected implies a live session"
                );
                if m.target().is_none() {
                    assert_eq!(m.phase(), Phase::Unnamed);
                    assert!(!m.is_connected());
                }
                if let Some(id) = effects.attach {
                    assert!(id < 4);
                }
                if effects.connected {
                    assert!(m.is_connected() || effects.disconnected);
                }
            }
        }
    }
}
