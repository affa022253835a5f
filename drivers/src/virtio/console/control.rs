//! Control messages of a multiport virtio-console (virtio 1.2 §5.3.6.2):
//! encoding and decoding, tested on the host.
//!
//! ```text
//! 0 id le32 | 4 event le16 | 6 value le16 | 8 … event data (PORT_NAME: the name; RESIZE: le16 cols, le16 rows)
//! ```
//!
//! Decoding never trusts the device: a message shorter than its event
//! needs, longer than the buffer it was written to, with an unknown event
//! or one only a driver sends, is an error for the caller to count, never a
//! panic.

/// The fixed part of every control message.
pub(super) const HEADER_LEN: usize = 8;

/// The id Linux sends DEVICE_READY with (QEMU ignores it).
const DEVICE_READY_ID: u32 = 0xffff_ffff;

/// Control events (the spec's DEVICE_ADD/DEVICE_REMOVE are PORT_ADD and
/// PORT_REMOVE in QEMU and Linux).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub(super) enum Event {
    /// Driver → device: the driver is ready (value 1).
    DeviceReady = 0,
    /// Device → driver: port `id` exists.
    PortAdd = 1,
    /// Device → driver: port `id` is gone.
    PortRemove = 2,
    /// Driver → device: port `id` is set up (value 1) or cannot be (0).
    PortReady = 3,
    /// Device → driver: port `id` is a console.
    ConsolePort = 4,
    /// Device → driver: console size.
    Resize = 5,
    /// Both ways: the port is open (1) or closed (0) at the sender's end.
    PortOpen = 6,
    /// Device → driver: the port's name follows the header.
    PortName = 7,
}

impl Event {
    fn from_code(code: u16) -> Option<Self> {
        Some(match code {
            0 => Self::DeviceReady,
            1 => Self::PortAdd,
            2 => Self::PortRemove,
            3 => Self::PortReady,
            4 => Self::ConsolePort,
            5 => Self::Resize,
            6 => Self::PortOpen,
            7 => Self::PortName,
            _ => return None,
        })
    }
}

/// A message the driver sends: always just the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Outgoing {
    pub(super) id: u32,
    pub(super) event: Event,
    pub(super) value: u16,
}

impl Outgoing {
    /// DEVICE_READY(1).
    pub(super) const fn device_ready() -> Self {
        Self {
            id: DEVICE_READY_ID,
            event: Event::DeviceReady,
            value: 1,
        }
    }

    /// PORT_READY(id, 1 or 0).
    pub(super) const fn port_ready(id: u32, ok: bool) -> Self {
        Self {
            id,
            event: Event::PortReady,
            value: ok as u16,
        }
    }

    /// PORT_OPEN(id, 1 or 0).
    pub(super) const fn port_open(id: u32, open: bool) -> Self {
        Self {
            id,
            event: Event::PortOpen,
            value: open as u16,
        }
    }

    /// The message on the wire (little-endian).
    pub(super) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0; HEADER_LEN];
        out[0..4].copy_from_slice(&self.id.to_le_bytes());
        out[4..6].copy_from_slice(&(self.event as u16).to_le_bytes());
        out[6..8].copy_from_slice(&self.value.to_le_bytes());
        out
    }
}

/// A message from the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Incoming<'a> {
    /// PORT_ADD.
    PortAdd { id: u32 },
    /// PORT_REMOVE.
    PortRemove { id: u32 },
    /// CONSOLE_PORT (virtconsole only; nothing to do here).
    ConsolePort { id: u32 },
    /// RESIZE (nothing to do here).
    Resize { id: u32, cols: u16, rows: u16 },
    /// PORT_OPEN: a host client connected (true) or went away (false). As
    /// in Linux, any non-zero value means open.
    PortOpen { id: u32, open: bool },
    /// PORT_NAME, without the NUL QEMU appends (cut at the first NUL).
    PortName { id: u32, name: &'a [u8] },
}

/// Why a control buffer was not a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DecodeError {
    /// Shorter than the header, or than the event's data (RESIZE).
    Short,
    /// The device reported more bytes than the buffer holds: QEMU then
    /// writes a silently truncated message (a name too long for it).
    Truncated,
    /// An event number this driver does not know.
    UnknownEvent(u16),
    /// An event only a driver sends (DEVICE_READY, PORT_READY).
    WrongDirection(u16),
}

/// Decodes the `used_len` bytes the device reports having written into
/// `buffer`.
pub(super) fn decode(buffer: &[u8], used_len: u32) -> Result<Incoming<'_>, DecodeError> {
    let len = usize::try_from(used_len).map_err(|_| DecodeError::Truncated)?;
    let message = buffer.get(..len).ok_or(DecodeError::Truncated)?;
    let (header, data) = message
        .split_at_checked(HEADER_LEN)
        .ok_or(DecodeError::Short)?;
    let id = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let code = u16::from_le_bytes([header[4], header[5]]);
    let value = u16::from_le_bytes([header[6], header[7]]);
    Ok(
        match Event::from_code(code).ok_or(DecodeError::UnknownEvent(code))? {
            Event::DeviceReady | Event::PortReady => return Err(DecodeError::WrongDirection(code)),
            Event::PortAdd => Incoming::PortAdd { id },
            Event::PortRemove => Incoming::PortRemove { id },
            Event::ConsolePort => Incoming::ConsolePort { id },
            Event::PortOpen => Incoming::PortOpen {
                id,
                open: value != 0,
            },
            Event::Resize => match data {
                [c0, c1, r0, r1, ..] => Incoming::Resize {
                    id,
                    cols: u16::from_le_bytes([*c0, *c1]),
                    rows: u16::from_le_bytes([*r0, *r1]),
                },
                _ => return Err(DecodeError::Short),
            },
            Event::PortName => {
                let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                Incoming::PortName {
                    id,
                    name: &data[..end],
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn message(id: u32, event: u16, value: u16, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&event.to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes());
        out.extend_from_slice(data);
        out
    }

    /// Decodes `bytes` as if written into a 256-byte buffer.
    fn decoded(bytes: &[u8]) -> Result<Incoming<'static>, DecodeError> {
        let mut buffer = [0xeeu8; 256];
        buffer[..bytes.len()].copy_from_slice(bytes);
        let buffer: &'static [u8] = Vec::leak(buffer.to_vec());
        decode(buffer, bytes.len() as u32)
    }

    #[test]
    fn encodes_driver_messages() {
        assert_eq!(
            Outgoing::device_ready().encode(),
            [0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0]
        );
        assert_eq!(
            Outgoing::port_ready(1, true).encode(),
            [1, 0, 0, 0, 3, 0, 1, 0]
        );
        assert_eq!(
            Outgoing::port_ready(0x0102_0304, false).encode(),
            [4, 3, 2, 1, 3, 0, 0, 0]
        );
        assert_eq!(
            Outgoing::port_open(30, true).encode(),
            [30, 0, 0, 0, 6, 0, 1, 0]
        );
        assert_eq!(
            Outgoing::port_open(1, false).encode(),
            [1, 0, 0, 0, 6, 0, 0, 0]
        );
    }

    #[test]
    fn decodes_every_device_event() {
        assert_eq!(
            decoded(&message(1, 1, 1, &[])),
            Ok(Incoming::PortAdd { id: 1 })
        );
        assert_eq!(
            decoded(&message(7, 2, 1, &[])),
            Ok(Incoming::PortRemove { id: 7 })
        );
        assert_eq!(
            decoded(&message(0, 4, 1, &[])),
            Ok(Incoming::ConsolePort { id: 0 })
        );
        assert_eq!(
            decoded(&message(0, 5, 0, &[80, 0, 25, 0])),
            Ok(Incoming::Resize {
                id: 0,
                cols: 80,
                rows: 25
            })
        );
        assert_eq!(
            decoded(&message(1, 6, 1, &[])),
            Ok(Incoming::PortOpen { id: 1, open: true })
        );
        assert_eq!(
            decoded(&message(1, 6, 0, &[])),
            Ok(Incoming::PortOpen { id: 1, open: false })
        );
        assert_eq!(
            decoded(&message(1, 6, 7, &[])),
            Ok(Incoming::PortOpen { id: 1, open: true }),
            "as Linux"
        );
        assert_eq!(
            decoded(&message(0x0102_0304, 1, 1, &[])),
            Ok(Incoming::PortAdd { id: 0x0102_0304 })
        );
    }

    #[test]
    fn port_name_with_and_without_nul() {
        // QEMU 7.2 appends a NUL; the spec says there is none.
        assert_eq!(
            decoded(&message(1, 7, 1, b"wg-uapi\0")),
            Ok(Incoming::PortName {
                id: 1,
                name: b"wg-uapi"
            })
        );
        assert_eq!(
            decoded(&message(1, 7, 1, b"wg-uapi")),
            Ok(Incoming::PortName {
                id: 1,
                name: b"wg-uapi"
            })
        );
        // Anything after a NUL is not part of the name.
        assert_eq!(
            decoded(&message(2, 7, 1, b"a\0junk")),
            Ok(Incoming::PortName { id: 2, name: b"a" })
        );
        assert_eq!(
            decoded(&message(2, 7, 1, b"")),
            Ok(Incoming::PortName { id: 2, name: b"" })
        );
        assert_eq!(
            decoded(&message(2, 7, 1, b"\0")),
            Ok(Incoming::PortName { id: 2, name: b"" })
        );
        // The buffer's bytes past `used_len` are not read.
        let bytes = message(3, 7, 1, b"abc");
        let mut buffer = [b'x'; 64];
        buffer[..bytes.len()].copy_from_slice(&bytes);
        assert_eq!(
            decode(&buffer, bytes.len() as u32),
            Ok(Incoming::PortName {
                id: 3,
                name: b"abc"
            })
        );
    }

    #[test]
    fn rejects_short_truncated_and_garbage() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                decoded(&message(1, 6, 1, &[])[..len]),
                Err(DecodeError::Short),
                "{len} bytes"
            );
        }
        assert_eq!(
            decoded(&message(0, 5, 0, &[80, 0, 25])),
            Err(DecodeError::Short),
            "resize without rows"
        );
        assert_eq!(
            decoded(&message(1, 8, 1, &[])),
            Err(DecodeError::UnknownEvent(8))
        );
        assert_eq!(
            decoded(&message(1, 0xffff, 1, &[])),
            Err(DecodeError::UnknownEvent(0xffff))
        );
        assert_eq!(
            decoded(&message(1, 0, 1, &[])),
            Err(DecodeError::WrongDirection(0))
        );
        assert_eq!(
            decoded(&message(1, 3, 1, &[])),
            Err(DecodeError::WrongDirection(3))
        );
        // QEMU reports the full length of a message it truncated.
        let name = message(1, 7, 1, &[b'n'; 300]);
        assert_eq!(
            decode(&name[..256], name.len() as u32),
            Err(DecodeError::Truncated)
        );
        assert_eq!(decode(&[0; 16], 17), Err(DecodeError::Truncated));
        assert_eq!(decode(&[0; 16], u32::MAX), Err(DecodeError::Truncated));
        // Extra bytes after a fixed-size message are ignored, as in Linux.
        assert_eq!(
            decoded(&message(1, 1, 1, &[9, 9, 9])),
            Ok(Incoming::PortAdd { id: 1 })
        );
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut buffer = [0u8; 64];
        for _ in 0..20_000 {
            for b in buffer.iter_mut() {
                *b = next() as u8;
            }
            // Events 0..=9 are likely, so every branch is taken.
            buffer[4] = (next() % 10) as u8;
            buffer[5] = if next() % 8 == 0 { next() as u8 } else { 0 };
            let used = (next() % 80) as u32;
            let _ = decode(&buffer, used);
        }
    }

    #[test]
    fn round_trip_of_the_header() {
        for msg in [Outgoing::port_open(5, true), Outgoing::port_open(5, false)] {
            let wire = msg.encode();
            assert_eq!(
                decode(&wire, 8),
                Ok(Incoming::PortOpen {
                    id: 5,
                    open: msg.value == 1
                })
            );
        }
    }
}
