//! Which virtqueue serves what (virtio 1.2 §5.3.2; QEMU's
//! `virtio_serial_device_realize`): plain arithmetic, tested on the host.
//!
//! ```text
//! 0, 1          port 0 receiveq, transmitq
//! 2, 3          control receiveq (device → driver), control transmitq
//! 2N+2, 2N+3    port N ≥ 1 receiveq, transmitq
//! ```
//!
//! QEMU creates the queues of every port id below `max_nr_ports` at
//! realize time, whether or not a port with that id exists.

/// Control receiveq: messages from the device.
pub(super) const CONTROL_RECEIVE: u16 = 2;
/// Control transmitq: messages to the device.
pub(super) const CONTROL_TRANSMIT: u16 = 3;

/// Port ids this driver sets up queues for: QEMU's default `max_ports`
/// (31, ids 0..=30). A port with a higher id (only with a larger `max_ports`
/// on the QEMU command line) is told PORT_READY 0. Each port costs two
/// rings of two pages each, set up before DRIVER_OK.
pub(super) const MAX_PORTS: u32 = 31;

/// The receive queue (device → driver) of port `id`, or `None` if the
/// number does not fit a queue index.
pub(super) fn receive_queue(id: u32) -> Option<u16> {
    if id == 0 {
        return Some(0);
    }
    u16::try_from(id.checked_mul(2)?.checked_add(2)?).ok()
}

/// The transmit queue (driver → device) of port `id`.
pub(super) fn transmit_queue(id: u32) -> Option<u16> {
    receive_queue(id)?.checked_add(1)
}

/// How many port ids (0..n) get queues, given the device's
/// `max_nr_ports`: at least port 0, at most [`MAX_PORTS`].
pub(super) fn ports_to_set_up(max_nr_ports: u32) -> u32 {
    max_nr_ports.clamp(1, MAX_PORTS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_numbers() {
        assert_eq!((receive_queue(0), transmit_queue(0)), (Some(0), Some(1)));
        assert_eq!((receive_queue(1), transmit_queue(1)), (Some(4), Some(5)));
        assert_eq!((receive_queue(2), transmit_queue(2)), (Some(6), Some(7)));
        assert_eq!(
            (receive_queue(30), transmit_queue(30)),
            (Some(62), Some(63))
        );
        // No port's queues collide with the control queues or each other.
        let mut seen = [false; 2 * MAX_PORTS as usize + 2];
        for q in [CONTROL_RECEIVE, CONTROL_TRANSMIT] {
            seen[usize::from(q)] = true;
        }
        for id in 0..MAX_PORTS {
            for q in [receive_queue(id).unwrap(), transmit_queue(id).unwrap()] {
                assert!(!seen[usize::from(q)], "queue {q} used twice");
                seen[usize::from(q)] = true;
            }
        }
        assert!(seen.iter().all(|&s| s), "queues 0..{} all used", seen.len());
    }

    #[test]
    fn queue_numbers_overflow() {
        assert_eq!(receive_queue(32766), Some(65534));
        assert_eq!(transmit_queue(32766), Some(65535));
        assert_eq!(receive_queue(32767), None);
        assert_eq!(transmit_queue(32767), None);
        assert_eq!(receive_queue(u32::MAX), None);
        assert_eq!(transmit_queue(u32::MAX / 2), None);
    }

    #[test]
    fn port_count() {
        assert_eq!(ports_to_set_up(0), 1, "a broken config still has port 0");
        assert_eq!(ports_to_set_up(1), 1);
        assert_eq!(ports_to_set_up(2), 2);
        assert_eq!(ports_to_set_up(31), 31);
        assert_eq!(ports_to_set_up(511), MAX_PORTS);
        assert_eq!(ports_to_set_up(u32::MAX), MAX_PORTS);
    }
}
