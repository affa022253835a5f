//! Session keypairs and a peer's three session slots (previous, current, next).
//!
//! * `current` is the keypair we send with.
//! * `previous` still decrypts packets that were in flight when `current` replaced it.
//! * `next` is a responder's fresh keypair, parked until the initiator proves it has the same
//!   keys by sending the first transport packet under it (key confirmation); only then does it
//!   become `current` and may we send with it.
//!
//! The keypairs live in three fixed storage cells and the roles are indices into them, so a
//! rotation moves no key material around; a keypair's keys are wiped when its cell is cleared.

use crypto::{SessionKeys, TransportKey};

use super::timers::{has_expired, REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME};
use crate::replay::ReplayWindow;
use crate::time::Instant;

/// The keys and counters of one session, in one direction each.
pub(crate) struct Keypair {
    pub send: TransportKey,
    pub recv: TransportKey,
    /// Our index: transport data addressed to this keypair carries it.
    pub local_index: u32,
    /// The peer's index: we write it into every packet we send.
    pub remote_index: u32,
    /// The counter (nonce) of the next packet we send.
    pub send_counter: u64,
    pub replay: ReplayWindow,
    pub created: Instant,
    pub we_initiated: bool,
    /// Cleared once the receiving side exceeded a limit; the keypair then only sends (never).
    pub recv_valid: bool,
}

impl Keypair {
    pub fn new(
        keys: SessionKeys,
        local_index: u32,
        remote_index: u32,
        created: Instant,
        we_initiated: bool,
    ) -> Keypair {
        Keypair {
            send: keys.send,
            recv: keys.recv,
            local_index,
            remote_index,
            send_counter: 0,
            replay: ReplayWindow::new(),
            created,
            we_initiated,
            recv_valid: true,
        }
    }

    /// Whether we may still send with this keypair (time and message limits).
    pub fn can_send(&self, now: Instant) -> bool {
        self.send_counter < REJECT_AFTER_MESSAGES
            && !has_expired(self.created, REJECT_AFTER_TIME, now)
    }

    /// Whether packets received under this keypair are still accepted; invalidates it for
    /// receiving once a limit is passed.
    pub fn check_can_receive(&mut self, now: Instant) -> bool {
        let counter_exhausted = self
            .replay
            .greatest()
            .is_some_and(|greatest| greatest >= REJECT_AFTER_MESSAGES);
        if !self.recv_valid
            || counter_exhausted
            || has_expired(self.created, REJECT_AFTER_TIME, now)
        {
            self.recv_valid = false;
            return false;
        }
        true
    }
}

/// Names one of the three roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Current,
    Previous,
    Next,
}

/// A peer's keypairs: three storage cells and which cell plays which role.
#[derive(Default)]
pub(crate) struct Sessions {
    cells: [Option<Keypair>; 3],
    current: Option<u8>,
    previous: Option<u8>,
    next: Option<u8>,
}

impl Sessions {
    fn role_slot(&mut self, role: Role) -> &mut Option<u8> {
        match role {
            Role::Current => &mut self.current,
            Role::Previous => &mut self.previous,
            Role::Next => &mut self.next,
        }
    }

    fn cell_of(&self, role: Role) -> Option<u8> {
        match role {
            Role::Current => self.current,
            Role::Previous => self.previous,
            Role::Next => self.next,
        }
    }

    /// The keypair playing `role`.
    pub fn get(&self, role: Role) -> Option<&Keypair> {
        self.cell_of(role)
            .and_then(|c| self.cells[usize::from(c)].as_ref())
    }

    /// The keypair playing `role`, mutably.
    pub fn get_mut(&mut self, role: Role) -> Option<&mut Keypair> {
        let cell = self.cell_of(role)?;
        self.cells[usize::from(cell)].as_mut()
    }

    /// The role of the keypair whose local index is `index`.
    pub fn role_of_index(&self, index: u32) -> Option<Role> {
        [Role::Current, Role::Previous, Role::Next]
            .into_iter()
            .find(|role| self.get(*role).is_some_and(|k| k.local_index == index))
    }

    /// Wipes the keypair playing `role`; returns its local index to release.
    pub fn clear(&mut self, role: Role) -> Option<u32> {
        let cell = self.role_slot(role).take()?;
        self.cells[usize::from(cell)].take().map(|k| k.local_index)
    }

    /// Number of keypairs held.
    pub fn len(&self) -> u8 {
        self.cells.iter().filter(|c| c.is_some()).count() as u8
    }

    /// Installs a fresh keypair, rotating the roles as Linux's `add_new_keypair` does, and
    /// calls `release` with the local index of every keypair this wipes.
    ///
    /// * Initiator: the new keypair is confirmed already (we received the response), so it
    ///   becomes `current`. The old `current` becomes `previous`, unless an unconfirmed `next`
    ///   is waiting, which is then the newer one and becomes `previous` instead.
    /// * Responder: the new keypair waits in `next` for confirmation; the old `next` and the
    ///   `previous` are dropped.
    pub fn install(&mut self, keypair: Keypair, mut release: impl FnMut(u32)) {
        if keypair.we_initiated {
            if let Some(idx) = self.clear(Role::Previous) {
                release(idx);
            }
            if self.next.is_some() {
                if let Some(idx) = self.clear(Role::Current) {
                    release(idx);
                }
                self.previous = self.next.take();
            } else {
                self.previous = self.current.take();
            }
            let cell = self.free_cell();
            self.cells[usize::from(cell)] = Some(keypair);
            self.current = Some(cell);
        } else {
            for role in [Role::Next, Role::Previous] {
                if let Some(idx) = self.clear(role) {
                    release(idx);
                }
            }
            let cell = self.free_cell();
            self.cells[usize::from(cell)] = Some(keypair);
            self.next = Some(cell);
        }
    }

    /// The initiator confirmed `next` by using it: it becomes `current`, the old `current`
    /// becomes `previous`. Returns the index of the wiped old `previous`, if any.
    pub fn confirm_next(&mut self) -> Option<u32> {
        let released = self.clear(Role::Previous);
        self.previous = self.current.take();
        self.current = self.next.take();
        released
    }

    /// Wipes all keypairs, calling `release` with each local index.
    pub fn clear_all(&mut self, mut release: impl FnMut(u32)) {
        for role in [Role::Current, Role::Previous, Role::Next] {
            if let Some(idx) = self.clear(role) {
                release(idx);
            }
        }
    }

    /// A cell no role uses (one always exists after the clears in `install`).
    fn free_cell(&self) -> u8 {
        (0u8..3)
            .find(|c| self.cells[usize::from(*c)].is_none())
            .unwrap_or(0)
    }

    /// Test support: mutable access to the current keypair.
    pub fn current_mut(&mut self) -> Option<&mut Keypair> {
        self.get_mut(Role::Current)
    }
}
