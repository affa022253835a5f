//! IPv4 fragmentation of packets too large for the tunnel (RFC 791 §3.2).
//!
//! Only packets without the Don't Fragment flag get here: for those the
//! router answers "fragmentation needed" instead. Fragments are written one
//! at a time into a caller-provided buffer and handed to a callback, so
//! nothing is allocated and only one fragment-sized buffer is needed.
//!
//! Options are handled as RFC 791 asks: the first fragment carries the whole
//! original header, and later fragments carry only the options whose "copied"
//! flag (the top bit of the option type) is set, padded with End of Option
//! List to a multiple of four bytes. Packets whose options cannot be walked
//! are refused as [`FragmentError::Malformed`] rather than guessed at.
//! A fragment may itself be fragmented further: offsets are relative to the
//! original datagram and the last piece keeps the original's More Fragments flag.

use smoltcp::wire::{Ipv4Packet, IPV4_HEADER_LEN};

use super::header;

/// The longest IPv4 header, options included.
const MAX_IPV4_HEADER_LEN: usize = 60;
/// Fragment offsets count 8-byte blocks.
const FRAGMENT_BLOCK: usize = 8;
/// Option types with a meaning of their own, no length byte.
const OPTION_END_OF_LIST: u8 = 0;
const OPTION_NO_OPERATION: u8 = 1;
/// The top bit of an option type: copy this option into every fragment.
const OPTION_COPIED_FLAG: u8 = 0x80;

/// Why a packet could not be fragmented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FragmentError {
    /// Not a valid IPv4 packet, or its options cannot be parsed, or its
    /// fragment offset would overflow.
    Malformed,
    /// The packet has the Don't Fragment flag: send "fragmentation needed" instead.
    DontFragment,
    /// The MTU cannot carry a header plus 8 bytes of data (RFC 791 guarantees 68).
    MtuTooSmall,
    /// `scratch` is shorter than the MTU.
    BufferTooSmall,
}

/// Splits the IPv4 `packet` into fragments of at most `mtu` bytes and passes
/// each, in order, to `emit`. Returns how many fragments were emitted.
///
/// `packet` must start with a valid IPv4 header (bytes past its total length
/// are ignored). A packet that already fits is emitted unchanged as a single
/// "fragment". `scratch` must be at least `mtu` bytes long (or as long as the
/// packet, if that is shorter); each fragment is built there and is only
/// valid during its `emit` call. All checks happen before the first call to
/// `emit`, so on error nothing has been emitted.
pub fn fragment_ipv4(
    packet: &[u8],
    mtu: usize,
    scratch: &mut [u8],
    mut emit: impl FnMut(&[u8]),
) -> Result<usize, FragmentError> {
    let ip = header::parse(packet).map_err(|_| FragmentError::Malformed)?;
    if packet[0] >> 4 != 4 {
        return Err(FragmentError::Malformed);
    }
    let packet = &packet[..ip.packet_len];
    if packet.len() <= mtu {
        let fits = scratch
            .get_mut(..packet.len())
            .ok_or(FragmentError::BufferTooSmall)?;
        fits.copy_from_slice(packet);
        emit(fits);
        return Ok(1);
    }
    let original = Ipv4Packet::new_unchecked(packet);
    if original.dont_frag() {
        return Err(FragmentError::DontFragment);
    }
    let first_header_len = usize::from(original.header_len());
    let first_header = &packet[..first_header_len];
    let mut later_header = [0u8; MAX_IPV4_HEADER_LEN];
    let later_header_len = later_fragment_header(first_header, &mut later_header)?;
    let later_header = &later_header[..later_header_len];

    let data = &packet[first_header_len..];
    let original_offset = usize::from(original.frag_offset());
    // The offset field holds at most 8191 blocks; every fragment starts
    // before the end of the data, so this bounds them all.
    if original_offset + data.len() > usize::from(u16::MAX) {
        return Err(FragmentError::Malformed);
    }
    let first_data_room = block_room(mtu, first_header_len)?;
    let later_data_room = block_room(mtu, later_header_len)?;
    let scratch = scratch
        .get_mut(..mtu)
        .ok_or(FragmentError::BufferTooSmall)?;
    let original_more_fragments = original.more_frags();

    let mut position = 0;
    let mut count = 0;
    while position < data.len() {
        let (header, room) = if position == 0 {
            (first_header, first_data_room)
        } else {
            (later_header, later_data_room)
        };
        let chunk = room.min(data.len() - position);
        let is_last = position + chunk == data.len();
        let fragment_len = header.len() + chunk;
        let fragment = &mut scratch[..fragment_len];
        fragment[..header.len()].copy_from_slice(header);
        fragment[header.len()..].copy_from_slice(&data[position..position + chunk]);
        let mut ip = Ipv4Packet::new_unchecked(&mut *fragment);
        // Both lengths are bounded by the original's 16-bit total length and 60-byte header.
        ip.set_header_len(header.len() as u8);
        ip.set_total_len(fragment_len as u16);
        ip.set_more_frags(!is_last || original_more_fragments);
        ip.set_frag_offset((original_offset + position) as u16);
        ip.fill_checksum();
        emit(fragment);
        position += chunk;
        count += 1;
    }
    Ok(count)
}

/// Data bytes a fragment with a `header_len`-byte header may carry under
/// `mtu`: a multiple of 8, and at least 8.
fn block_room(mtu: usize, header_len: usize) -> Result<usize, FragmentError> {
    let room = mtu.saturating_sub(header_len) / FRAGMENT_BLOCK * FRAGMENT_BLOCK;
    if room == 0 {
        Err(FragmentError::MtuTooSmall)
    } else {
        Ok(room)
    }
}

/// Writes into `out` the header for fragments after the first: the fixed
/// part of `first_header` followed by its copied options, padded to a
/// multiple of 4. Returns the header's length.
fn later_fragment_header(
    first_header: &[u8],
    out: &mut [u8; MAX_IPV4_HEADER_LEN],
) -> Result<usize, FragmentError> {
    out[..IPV4_HEADER_LEN].copy_from_slice(&first_header[..IPV4_HEADER_LEN]);
    let options = &first_header[IPV4_HEADER_LEN..];
    let mut len = IPV4_HEADER_LEN;
    let mut index = 0;
    while index < options.len() {
        let option_type = options[index];
        match option_type {
            OPTION_END_OF_LIST => break,
            OPTION_NO_OPERATION => index += 1,
            _ => {
                let option_len =
                    usize::from(*options.get(index + 1).ok_or(FragmentError::Malformed)?);
                if option_len < 2 || index + option_len > options.len() {
                    return Err(FragmentError::Malformed);
                }
                if option_type & OPTION_COPIED_FLAG != 0 {
                    // The copied options are a subset of the original's, so they fit.
                    out[len..len + option_len].copy_from_slice(&options[index..index + option_len]);
                    len += option_len;
                }
                index += option_len;
            }
        }
    }
    let padded = len.next_multiple_of(4);
    out[len..padded].fill(OPTION_END_OF_LIST);
    Ok(padded)
}
