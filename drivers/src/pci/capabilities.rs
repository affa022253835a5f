//! A bounded walk over a PCI function's capability list.
//!
//! The list lives in the function's 256-byte configuration space: the
//! pointer at 0x34 names the first capability, and byte 1 of each one names
//! the next (0 ends the list). A device is not to be trusted to keep that
//! list well formed, so the walk stops at the first pointer that lies in
//! the standard header (below 0x40), is not dword-aligned, or names a
//! capability already visited (a loop), and after [`MAX_CAPABILITIES`]
//! entries (the most the 192 bytes after the header can hold). The walk
//! keeps what it found up to there and says where and why it stopped, so
//! the caller can report it and cut the list off at that pointer.
//!
//! This is a pure function over a [`ConfigSpace`], tested on fake
//! configuration spaces.

/// Most capabilities a 256-byte configuration space can hold: the 192
/// bytes from 0x40 on, one dword each at least.
pub const MAX_CAPABILITIES: usize = 48;

/// Offset of the capabilities pointer in a type 0 or type 1 header.
pub const CAPABILITIES_POINTER: u8 = 0x34;
/// First offset after the standard header.
const FIRST_CAPABILITY_OFFSET: u8 = 0x40;
/// Status register bit "capabilities list present" (bit 4 of the status
/// word, which is the upper half of the dword at 0x04).
const STATUS_CAPABILITIES_LIST: u32 = 1 << (16 + 4);

/// Read access to one function's configuration space.
pub trait ConfigSpace {
    /// The dword at `offset` (a multiple of 4).
    fn read_u32(&self, offset: u8) -> u32;
}

/// One capability: where it starts and its ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Capability {
    /// Offset in configuration space (≥ 0x40, dword-aligned).
    pub offset: u8,
    /// Capability ID (0x09 vendor-specific, 0x11 MSI-X, …).
    pub id: u8,
}

/// Why the walk stopped before the end of the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Defect {
    /// The pointer points into the standard header (below 0x40).
    IntoHeader {
        /// Offset of the byte holding the pointer.
        at: u8,
        /// Its value.
        pointer: u8,
    },
    /// The pointer is not a multiple of 4.
    Misaligned {
        /// Offset of the byte holding the pointer.
        at: u8,
        /// Its value.
        pointer: u8,
    },
    /// The pointer names a capability already visited.
    Loop {
        /// Offset of the byte holding the pointer.
        at: u8,
        /// Its value.
        pointer: u8,
    },
    /// More than [`MAX_CAPABILITIES`] entries (cannot happen without a
    /// loop, which is caught first; kept as a bound of its own).
    TooMany {
        /// Offset of the byte holding the pointer to the next entry.
        at: u8,
    },
}

impl Defect {
    /// Offset of the configuration-space byte whose pointer was not
    /// followed: 0x34, or byte 1 of the last good capability. Reading it
    /// as 0 cuts the list off where the walk stopped.
    pub fn at(&self) -> u8 {
        match *self {
            Defect::IntoHeader { at, .. }
            | Defect::Misaligned { at, .. }
            | Defect::Loop { at, .. }
            | Defect::TooMany { at } => at,
        }
    }
}

impl core::fmt::Display for Defect {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Defect::IntoHeader { at, pointer } => write!(
                f,
                "pointer {pointer:#04x} at {at:#04x} points into the header (below 0x40)"
            ),
            Defect::Misaligned { at, pointer } => {
                write!(
                    f,
                    "pointer {pointer:#04x} at {at:#04x} is not dword-aligned"
                )
            }
            Defect::Loop { at, pointer } => write!(
                f,
                "pointer {pointer:#04x} at {at:#04x} loops back to a capability already seen"
            ),
            Defect::TooMany { at } => write!(
                f,
                "more than {MAX_CAPABILITIES} capabilities (next pointer at {at:#04x})"
            ),
        }
    }
}

/// What a walk found.
#[derive(Clone, Copy, Debug)]
pub struct Walk {
    found: [Capability; MAX_CAPABILITIES],
    len: usize,
    /// Why the walk stopped early, if it did.
    pub defect: Option<Defect>,
}

impl Walk {
    /// The capabilities before any defect, in list order.
    pub fn capabilities(&self) -> &[Capability] {
        &self.found[..self.len]
    }

    /// The first capability with `id`.
    pub fn find(&self, id: u8) -> Option<Capability> {
        self.capabilities().iter().copied().find(|c| c.id == id)
    }
}

/// Walks the capability list of the function behind `space`.
pub fn walk(space: &impl ConfigSpace) -> Walk {
    let mut walk = Walk {
        found: [Capability::default(); MAX_CAPABILITIES],
        len: 0,
        defect: None,
    };
    if space.read_u32(0x04) & STATUS_CAPABILITIES_LIST == 0 {
        return walk;
    }
    // One bit per dword of configuration space: visited capabilities.
    let mut visited: u64 = 0;
    let mut at = CAPABILITIES_POINTER;
    let mut pointer = space.read_u32(CAPABILITIES_POINTER) as u8;
    while pointer != 0 {
        let defect = if pointer < FIRST_CAPABILITY_OFFSET {
            Some(Defect::IntoHeader { at, pointer })
        } else if !pointer.is_multiple_of(4) {
            Some(Defect::Misaligned { at, pointer })
        } else if visited & (1 << (pointer / 4)) != 0 {
            Some(Defect::Loop { at, pointer })
        } else if walk.len == MAX_CAPABILITIES {
            Some(Defect::TooMany { at })
        } else {
            None
        };
        if defect.is_some() {
            walk.defect = defect;
            break;
        }
        visited |= 1 << (pointer / 4);
        let header = space.read_u32(pointer);
        walk.found[walk.len] = Capability {
            offset: pointer,
            id: header as u8,
        };
        walk.len += 1;
        at = pointer + 1;
        pointer = (header >> 8) as u8;
    }
    walk
}

/// `raw`, the dword read at `offset`, as it reads once the list has been
/// cut off at the pointer byte `cut` (a [`Defect::at`]): that byte reads
/// as 0, and if it is the capabilities pointer itself, the status
/// register's "capabilities list" bit reads as clear too (so no reader
/// follows a pointer of 0 into the header).
pub fn apply_cut(offset: u8, raw: u32, cut: u8) -> u32 {
    let dword = cut & !3;
    let mut value = raw;
    if offset & !3 == dword {
        value &= !(0xff << (8 * u32::from(cut & 3)));
    }
    if cut == CAPABILITIES_POINTER && offset & !3 == 0x04 {
        value &= !STATUS_CAPABILITIES_LIST;
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// A configuration space in memory: status says "capabilities list",
    /// capabilities chained as given.
    struct Fake([u8; 256]);

    impl Fake {
        fn new() -> Self {
            let mut bytes = [0u8; 256];
            bytes[0x06] = 0x10; // status: capabilities list
            Self(bytes)
        }
        fn first(mut self, pointer: u8) -> Self {
            self.0[0x34] = pointer;
            self
        }
        fn cap(mut self, offset: u8, id: u8, next: u8) -> Self {
            self.0[offset as usize] = id;
            self.0[offset as usize + 1] = next;
            self
        }
    }

    impl ConfigSpace for Fake {
        fn read_u32(&self, offset: u8) -> u32 {
            let o = offset as usize & !3;
            u32::from_le_bytes([self.0[o], self.0[o + 1], self.0[o + 2], self.0[o + 3]])
        }
    }

    /// The dword reads of `fake` with the cut applied, as a reader would
    /// see them.
    struct Cut<'a>(&'a Fake, u8);

    impl ConfigSpace for Cut<'_> {
        fn read_u32(&self, offset: u8) -> u32 {
            apply_cut(offset, self.0.read_u32(offset), self.1)
        }
    }

    fn ids(walk: &Walk) -> Vec<(u8, u8)> {
        walk.capabilities()
            .iter()
            .map(|c| (c.offset, c.id))
            .collect()
    }

    #[test]
    fn well_formed_list_in_order() {
        // virtio-net-pci's shape: MSI-X, then five vendor capabilities.
        let fake = Fake::new()
            .first(0x98)
            .cap(0x98, 0x11, 0x84)
            .cap(0x84, 0x09, 0x70)
            .cap(0x70, 0x09, 0x60)
            .cap(0x60, 0x09, 0x50)
            .cap(0x50, 0x09, 0x40)
            .cap(0x40, 0x09, 0x00);
        let walk = walk(&fake);
        assert_eq!(walk.defect, None);
        assert_eq!(
            ids(&walk),
            vec![
                (0x98, 0x11),
                (0x84, 9),
                (0x70, 9),
                (0x60, 9),
                (0x50, 9),
                (0x40, 9)
            ]
        );
        assert_eq!(walk.find(0x11).map(|c| c.offset), Some(0x98));
        assert_eq!(walk.find(0x05), None);
    }

    #[test]
    fn no_list_when_status_bit_clear() {
        let mut fake = Fake::new().first(0x40).cap(0x40, 0x11, 0);
        fake.0[0x06] = 0;
        let walk = walk(&fake);
        assert!(walk.capabilities().is_empty());
        assert_eq!(walk.defect, None);
    }

    #[test]
    fn loop_to_itself_is_cut() {
        let fake = Fake::new().first(0x40).cap(0x40, 0x09, 0x40);
        let walk = walk(&fake);
        assert_eq!(ids(&walk), vec![(0x40, 9)]);
        assert_eq!(
            walk.defect,
            Some(Defect::Loop {
                at: 0x41,
                pointer: 0x40
            })
        );
    }

    #[test]
    fn longer_loop_is_cut_after_every_capability_seen_once() {
        let fake = Fake::new()
            .first(0x40)
            .cap(0x40, 0x01, 0x50)
            .cap(0x50, 0x02, 0x60)
            .cap(0x60, 0x03, 0x50);
        let walk = walk(&fake);
        assert_eq!(ids(&walk), vec![(0x40, 1), (0x50, 2), (0x60, 3)]);
        assert_eq!(walk.defect.map(|d| d.at()), Some(0x61));
    }

    #[test]
    fn pointer_into_header_is_cut() {
        let fake = Fake::new().first(0x40).cap(0x40, 0x11, 0x10);
        let walk = walk(&fake);
        assert_eq!(ids(&walk), vec![(0x40, 0x11)]);
        assert_eq!(
            walk.defect,
            Some(Defect::IntoHeader {
                at: 0x41,
                pointer: 0x10
            })
        );
        // The first pointer itself bad: nothing at all.
        let fake = Fake::new().first(0x08);
        let walk = super::walk(&fake);
        assert!(walk.capabilities().is_empty());
        assert_eq!(walk.defect.map(|d| d.at()), Some(0x34));
    }

    #[test]
    fn misaligned_pointer_is_cut() {
        let fake = Fake::new().first(0x40).cap(0x40, 0x09, 0x45);
        let walk = walk(&fake);
        assert_eq!(ids(&walk), vec![(0x40, 9)]);
        assert_eq!(
            walk.defect,
            Some(Defect::Misaligned {
                at: 0x41,
                pointer: 0x45
            })
        );
        // The last dword (0xFC) is a valid place; 0xFF is not.
        let fake = Fake::new().first(0xfc).cap(0xfc, 0x09, 0xff);
        let walk = super::walk(&fake);
        assert_eq!(ids(&walk), vec![(0xfc, 9)]);
        assert_eq!(walk.defect.map(|d| d.at()), Some(0xfd));
    }

    #[test]
    fn full_space_of_capabilities_is_bounded() {
        // 48 capabilities, one per dword from 0x40 to 0xFC, in a chain that
        // loops back to the start: 48 found, then the loop.
        let mut fake = Fake::new().first(0x40);
        for i in 0..48u8 {
            let offset = 0x40 + 4 * i;
            let next = if i == 47 { 0x40 } else { offset + 4 };
            fake = fake.cap(offset, i, next);
        }
        let walk = walk(&fake);
        assert_eq!(walk.capabilities().len(), MAX_CAPABILITIES);
        assert_eq!(
            walk.defect,
            Some(Defect::Loop {
                at: 0xfd,
                pointer: 0x40
            })
        );
    }

    #[test]
    fn every_single_byte_config_space_terminates() {
        // Every value of the first pointer and of every next pointer in a
        // space filled with one byte: the walk ends, bounded, every time.
        for fill in 0..=255u8 {
            let mut fake = Fake([fill; 256]);
            fake.0[0x06] = 0x10;
            let walk = walk(&fake);
            assert!(walk.capabilities().len() <= MAX_CAPABILITIES);
            if let Some(defect) = walk.defect {
                // The cut makes the list well formed.
                let cut = Cut(&fake, defect.at());
                let again = super::walk(&cut);
                assert_eq!(again.defect, None, "fill {fill:#x}");
                assert_eq!(again.capabilities(), walk.capabilities());
            }
        }
    }

    #[test]
    fn cut_list_reads_as_well_formed() {
        let fake = Fake::new()
            .first(0x40)
            .cap(0x40, 0x11, 0x50)
            .cap(0x50, 0x09, 0x40);
        let first = walk(&fake);
        let defect = first.defect.expect("a loop");
        let cut = Cut(&fake, defect.at());
        let second = walk(&cut);
        assert_eq!(second.defect, None);
        assert_eq!(ids(&second), vec![(0x40, 0x11), (0x50, 9)]);
        // Other bytes of the cut dword are untouched (the ID stays).
        assert_eq!(cut.read_u32(0x50) & 0xff, 0x09);
    }

    #[test]
    fn cut_at_first_pointer_hides_the_list() {
        let fake = Fake::new().first(0x20);
        let cut = Cut(&fake, walk(&fake).defect.expect("bad").at());
        assert_eq!(cut.read_u32(0x34) & 0xff, 0);
        assert_eq!(cut.read_u32(0x04) & STATUS_CAPABILITIES_LIST, 0);
        assert!(walk(&cut).capabilities().is_empty());
    }

    #[test]
    fn random_config_spaces_terminate_and_cut_cleanly() {
        // A small xorshift generator: deterministic, no dependency.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut fake = Fake::new();
            for chunk in fake.0.chunks_mut(8) {
                chunk.copy_from_slice(&next().to_le_bytes());
            }
            fake.0[0x06] |= 0x10;
            // Pointers biased towards plausible values half the time.
            if next() % 2 == 0 {
                for offset in (0x40..0x100).step_by(4) {
                    fake.0[offset + 1] = ((next() % 48) as u8) * 4 + 0x40;
                }
                fake.0[0x34] = 0x40;
            }
            let walk = walk(&fake);
            assert!(walk.capabilities().len() <= MAX_CAPABILITIES);
            for c in walk.capabilities() {
                assert!(c.offset >= 0x40 && c.offset % 4 == 0);
            }
            if let Some(defect) = walk.defect {
                let again = super::walk(&Cut(&fake, defect.at()));
                assert_eq!(again.defect, None);
                assert_eq!(again.capabilities(), walk.capabilities());
            }
        }
    }
}
