//! Finding free physical memory and handing out page-table frames.

use super::Range;
use boot::MemoryRegion;
use x86_64::structures::paging::{FrameAllocator, PhysFrame, Size4KiB};
use x86_64::PhysAddr;

const PAGE: u64 = 4096;

/// Usable RAM minus reserved ranges, page-aligned.
pub struct FreeMemory {
    ranges: [Option<Range>; 64],
}

impl FreeMemory {
    /// Subtracts every reserved range from every RAM region.
    pub fn new(regions: &[MemoryRegion], reserved: &[Option<Range>]) -> Self {
        let mut ranges = [None; 64];
        let mut count = 0;
        for region in regions {
            let mut pieces = Pieces::single(Range {
                start: region.start.next_multiple_of(PAGE),
                end: region.end() & !(PAGE - 1),
            });
            for hole in reserved.iter().flatten() {
                pieces = pieces.subtract(*hole);
            }
            for piece in pieces.iter().flatten() {
                if piece.end > piece.start && count < ranges.len() {
                    ranges[count] = Some(*piece);
                    count += 1;
                }
            }
        }
        Self { ranges }
    }

    /// The biggest free range.
    pub fn largest(&self) -> Option<Range> {
        self.ranges
            .iter()
            .flatten()
            .copied()
            .max_by_key(|r| r.end - r.start)
    }
}

/// Up to eight disjoint pieces: enough for one region split by a handful
/// of reserved holes.
#[derive(Clone, Copy)]
struct Pieces([Option<Range>; 8]);

impl Pieces {
    fn single(range: Range) -> Self {
        let mut pieces = [None; 8];
        pieces[0] = Some(range);
        Self(pieces)
    }

    fn subtract(self, hole: Range) -> Self {
        let mut out = [None; 8];
        let mut n = 0;
        let mut push = |r: Range| {
            if r.end > r.start && n < out.len() {
                out[n] = Some(r);
                n += 1;
            }
        };
        for piece in self.0.iter().flatten() {
            if hole.end <= piece.start || hole.start >= piece.end {
                push(*piece);
                continue;
            }
            push(Range {
                start: piece.start,
                end: hole.start.max(piece.start) & !(PAGE - 1),
            });
            push(Range {
                start: hole.end.min(piece.end).next_multiple_of(PAGE),
                end: piece.end,
            });
        }
        Self(out)
    }

    fn iter(&self) -> impl Iterator<Item = &Option<Range>> {
        self.0.iter()
    }
}

/// Hands out frames from the bottom of one free range; what is left after
/// the page tables are built becomes the heap.
pub struct BumpFrames {
    next: u64,
    end: u64,
}

impl BumpFrames {
    /// Allocates from `range`.
    pub fn new(range: Range) -> Self {
        Self {
            next: range.start,
            end: range.end,
        }
    }

    /// The part of the range not handed out.
    pub fn remaining(&self) -> Range {
        Range {
            start: self.next,
            end: self.end,
        }
    }
}

// SAFETY: every frame returned lies in free RAM (reserved ranges were
// subtracted) and is returned only once.
unsafe impl FrameAllocator<Size4KiB> for BumpFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        if self.next + PAGE > self.end {
            return None;
        }
        let frame = PhysFrame::containing_address(PhysAddr::new(self.next));
        // Page-table frames must start zeroed: stale entries would map junk.
        // SAFETY: the frame is free RAM reachable through the boot identity
        // map, and nothing else uses it.
        unsafe { core::ptr::write_bytes(self.next as *mut u8, 0, PAGE as usize) };
        self.next += PAGE;
        Some(frame)
    }
}
