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

/// Which segmentation a received GSO frame asks for (virtio
/// `VIRTIO_NET_HDR_GSO_TCPV4` / `TCPV6`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GsoKind {
    /// TCP over IPv4.
    TcpV4,
    /// TCP over IPv6.
    TcpV6,
}

/// A received frame longer than the link's MTU that the sender's stack
/// left for segmentation (receive segmentation offload): its TCP payload
/// is to be cut into segments of at most `size` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gso {
    /// What the device says the frame is.
    pub kind: GsoKind,
    /// Largest TCP payload per segment (the sender's MSS); never trusted:
    /// 0 is refused.
    pub size: u16,
}

/// What the device says about a received frame beyond its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxInfo {
    /// The transport checksum's state.
    pub checksum: RxChecksum,
    /// For [`RxChecksum::Partial`]: `(checksum start, field offset from
    /// that start)`, relative to the frame start; the field holds the
    /// pseudo-header sum. Never trusted: checked against the frame.
    pub partial: Option<(u16, u16)>,
    /// Segmentation still to do, if the frame is a GSO frame.
    pub gso: Option<Gso>,
}

impl RxInfo {
    /// A plain frame: no partial checksum, no segmentation.
    pub const fn plain(checksum: RxChecksum) -> RxInfo {
        RxInfo {
            checksum,
            partial: None,
            gso: None,
        }
    }
}

/// The receive side of a NIC.
pub trait RxRing {
    /// Hands the next received Ethernet frame (mutable, in place) to
    /// `handle`, then gives its buffer back to the device. `None` if no frame
    /// is waiting.
    fn receive<R>(&mut self, handle: impl FnOnce(&mut [u8], RxChecksum) -> R) -> Option<R>;

    /// As [`receive`](Self::receive), with the offload metadata: the
    /// partial checksum's position and GSO. A ring without receive offloads
    /// keeps this default.
    fn receive_offloaded<R>(&mut self, handle: impl FnOnce(&mut [u8], RxInfo) -> R) -> Option<R> {
        self.receive(|frame, checksum| handle(frame, RxInfo::plain(checksum)))
    }

    /// Whether frames may come as GSO frames, each needing many transmit
    /// buffers on the NIC it leaves by (the loop then waits for
    /// [`GSO_TX_RESERVE`] free ones before it takes a frame).
    fn gso(&self) -> bool {
        false
    }
}

/// Free transmit buffers the loop waits for before it takes a frame from a
/// ring that delivers GSO frames: a 64 KiB TCP segment from a stack with a
/// 1,460-byte MSS, cut for a 1,420-byte tunnel MTU (48 segments), with
/// room to spare. A frame cut into more segments (a small MSS) may find
/// the ring full part-way; those segments are counted as `outer_tx_full`.
pub const GSO_TX_RESERVE: usize = 64;

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
