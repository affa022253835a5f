//! The gateway's view of a NIC: a receive ring and a transmit ring that can
//! be borrowed separately, so a frame can be processed in place in its
//! receive buffer while frames go out on either NIC.
//!
//! The kernel implements these traits on virtio-net; host tests implement
//! them on bounded in-memory rings (see `net/tests/gateway_support`).

/// What the device vouches for about a received frame's transport checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxChecksum {
    /// Nothing: the checksum must be verified in software.
    Unchecked,
    /// The device verified it (virtio `DATA_VALID`).
    Valid,
    /// The sender was a local stack that left the checksum to be filled in
    /// (virtio `NEEDS_CSUM`): the data never crossed a wire, so it is intact.
    Partial,
}

/// Where a frame lies in a transmit buffer, and whether the device should
/// fill in its transport checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxFrame {
    /// Offset of the Ethernet header in the buffer.
    pub start: usize,
    /// Frame length.
    pub len: usize,
    /// `(checksum start, checksum field offset from that start)`, relative
    /// to the frame start, for a device with transmit checksum offload. The
    /// checksum field already holds the pseudo-header sum.
    pub checksum: Option<(u16, u16)>,
}

impl TxFrame {
    /// A frame at `start`, `len` bytes long, with every checksum filled in.
    pub const fn new(start: usize, len: usize) -> TxFrame {
        TxFrame {
            start,
            len,
            checksum: None,
        }
    }
}

/// The receive side of a NIC.
pub trait RxRing {
    /// Hands the next received Ethernet frame (mutable, in place) to
    /// `handle`, then gives its buffer back to the device. `None` if no frame
    /// is waiting.
    fn receive<R>(&mut self, handle: impl FnOnce(&mut [u8], RxChecksum) -> R) -> Option<R>;
}

/// The transmit side of a NIC.
pub trait TxRing {
    /// Builds one frame in a free transmit buffer of at least
    /// [`MIN_TX_BUFFER`] bytes: `fill` returns where the frame lies, or
    /// `None` to send nothing. Returns whether a frame was queued (`false`
    /// also when no buffer was free, which the NIC counts).
    fn transmit(&mut self, fill: impl FnOnce(&mut [u8]) -> Option<TxFrame>) -> bool;
    /// Transmit buffers free now (after taking back completed ones).
    fn free(&mut self) -> usize;
    /// Whether the device fills in transport checksums ([`TxFrame::checksum`]).
    fn checksum_offload(&self) -> bool;
}

/// A NIC: two rings, one MAC address, and a doorbell.
pub trait Nic {
    /// The receive ring.
    type Rx: RxRing;
    /// The transmit ring.
    type Tx: TxRing;
    /// Both rings, borrowed separately.
    fn split(&mut self) -> (&mut Self::Rx, &mut Self::Tx);
    /// The NIC's MAC address.
    fn mac(&self) -> [u8; 6];
    /// Tells the device about every buffer queued since the last flush (one
    /// notification per batch, not per frame).
    fn flush(&mut self);
}

/// Smallest transmit buffer a [`TxRing`] hands out: a full 1500-byte packet
/// with its Ethernet header and the outer headers WireGuard adds, with room
/// to spare.
pub const MIN_TX_BUFFER: usize = 1600;
