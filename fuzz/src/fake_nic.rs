//! Bounded in-memory NICs for the targets that drive the whole gateway loop,
//! and the gateway they build: fixed keys and addresses, so that committed
//! inputs stay meaningful from one run to the next.
//!
//! Smaller than the host tests' fakes (`net/tests/gateway_support`): the
//! fuzz crate must not depend on test code, and a fuzz run wants few slots
//! so that full rings are reached.

use std::collections::VecDeque;

use crypto::PrivateKey;
use net::gateway::checksum;
use net::gateway::nic::{Nic, RxChecksum, RxInfo, RxRing, TxFrame, TxRing, GSO_TX_RESERVE};
use net::gateway::Gateway;
use net::{Engine, Instant};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// Size of every fake transmit buffer (as the kernel's virtio buffers).
pub const TX_BUFFER: usize = 2048;

/// A NIC whose receive ring the target fills and whose wire it reads.
pub struct FakeNic {
    rx: FakeRx,
    tx: FakeTx,
    mac: [u8; 6],
}

/// The receive ring: frames with the metadata a virtio header would carry.
pub struct FakeRx {
    ring: VecDeque<(Vec<u8>, RxInfo)>,
    capacity: usize,
    gso: bool,
}

/// The transmit ring: queued frames wait for a doorbell, then sit on the
/// wire until the target takes them off.
pub struct FakeTx {
    queued: Vec<Vec<u8>>,
    wire: VecDeque<Vec<u8>>,
    capacity: usize,
    offload: bool,
}

impl FakeNic {
    /// A NIC with `rx_slots` receive and `tx_slots` transmit slots;
    /// `offload` is both transmit checksum offload and receive GSO.
    pub fn new(mac: [u8; 6], rx_slots: usize, tx_slots: usize, offload: bool) -> FakeNic {
        FakeNic {
            rx: FakeRx {
                ring: VecDeque::new(),
                capacity: rx_slots,
                gso: offload,
            },
            tx: FakeTx {
                queued: Vec::new(),
                wire: VecDeque::new(),
                capacity: tx_slots,
                offload,
            },
            mac,
        }
    }

    /// A frame arrives from the wire; `false` if the ring was full (the
    /// device drops it, as QEMU does).
    pub fn inject(&mut self, frame: Vec<u8>, info: RxInfo) -> bool {
        if self.rx.ring.len() >= self.rx.capacity {
            return false;
        }
        self.rx.ring.push_back((frame, info));
        true
    }

    /// Takes every frame off the wire, freeing their slots.
    pub fn take_sent(&mut self) -> Vec<Vec<u8>> {
        self.tx.wire.drain(..).collect()
    }

    /// Whether the receive ring holds nothing.
    pub fn rx_empty(&self) -> bool {
        self.rx.ring.is_empty()
    }
}

impl RxRing for FakeRx {
    fn receive<R>(&mut self, handle: impl FnOnce(&mut [u8], RxChecksum) -> R) -> Option<R> {
        let (mut frame, info) = self.ring.pop_front()?;
        Some(handle(&mut frame, info.checksum))
    }

    fn receive_offloaded<R>(&mut self, handle: impl FnOnce(&mut [u8], RxInfo) -> R) -> Option<R> {
        let (mut frame, info) = self.ring.pop_front()?;
        Some(handle(&mut frame, info))
    }

    fn gso(&self) -> bool {
        self.gso
    }
}

impl TxRing for FakeTx {
    fn transmit(&mut self, fill: impl FnOnce(&mut [u8]) -> Option<TxFrame>) -> bool {
        if self.free() == 0 {
            return false;
        }
        let mut buffer = vec![0u8; TX_BUFFER];
        let Some(frame) = fill(&mut buffer) else {
            return false;
        };
        let end = frame.start.checked_add(frame.len);
        assert!(
            end.is_some_and(|end| end <= TX_BUFFER),
            "a frame outside its transmit buffer: {frame:?}"
        );
        let mut bytes = buffer[frame.start..frame.start + frame.len].to_vec();
        if let Some((start, offset)) = frame.checksum {
            assert!(self.offload, "checksum offload asked of a NIC without it");
            let start = usize::from(start);
            let field = start + usize::from(offset);
            assert!(
                field + 2 <= bytes.len(),
                "checksum offload outside the frame: {frame:?}"
            );
            // What a virtio device does for NEEDS_CSUM: the field holds the
            // pseudo-header sum; sum from `start` to the end and store it.
            let sum = checksum::finish(&[checksum::sum(&bytes[start..])]);
            bytes[field..field + 2].copy_from_slice(&sum.to_be_bytes());
        }
        self.queued.push(bytes);
        true
    }

    fn free(&mut self) -> usize {
        self.capacity - self.queued.len() - self.wire.len()
    }

    fn checksum_offload(&self) -> bool {
        self.offload
    }
}

impl Nic for FakeNic {
    type Rx = FakeRx;
    type Tx = FakeTx;

    fn split(&mut self) -> (&mut FakeRx, &mut FakeTx) {
        (&mut self.rx, &mut self.tx)
    }

    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn flush(&mut self) {
        self.tx.wire.extend(self.tx.queued.drain(..));
    }
}

/// The gateway's static private key in the whole-loop targets.
pub const GATEWAY_KEY: [u8; 32] = [0x47; 32];
/// The one configured peer's static private key.
pub const PEER_KEY: [u8; 32] = [0x50; 32];
/// The gateway's outer and inner MAC addresses.
pub const OUTER_MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 1];
/// The gateway's LAN MAC address.
pub const INNER_MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 2];
/// The gateway's outer address and listen port.
pub const OUTER_IP: [u8; 4] = [192, 0, 2, 1];
/// The gateway's LAN address.
pub const LAN_IP: [u8; 4] = [192, 168, 77, 1];
/// The peer's outer address.
pub const PEER_IP: [u8; 4] = [192, 0, 2, 2];
/// The listen port.
pub const LISTEN_PORT: u16 = 51820;
/// The peer's port.
pub const PEER_PORT: u16 = 51821;

/// The configuration file the whole-loop targets boot with: one peer with
/// an endpoint, IPv4 and IPv6 on both NICs, a default route on the outer one.
pub fn config_text() -> String {
    let key = PrivateKey::from_bytes(GATEWAY_KEY);
    let peer = PrivateKey::from_bytes(PEER_KEY).public_key();
    format!(
        "[Interface]\nPrivateKey = {}\nListenPort = {LISTEN_PORT}\nAddress = 10.99.0.1/24, fd99::1/64\n\n\
         [Peer]\nPublicKey = {}\nAllowedIPs = 10.99.0.2/32, 10.200.0.0/16, fd99::2/128\n\
         Endpoint = 192.0.2.2:{PEER_PORT}\n\n\
         [Outer]\nAddress = 192.0.2.1/24, 2001:db8::1/64\nGateway = 192.0.2.254\n\n\
         [Inner]\nAddress = 192.168.77.1/24, fd77::1/64\n",
        key.to_base64().as_str(),
        peer.to_base64().as_str()
    )
}

/// A cycle counter for the stage table: any increasing count will do.
fn fake_cycles() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static TICKS: AtomicU64 = AtomicU64::new(0);
    TICKS.fetch_add(7, Ordering::Relaxed)
}

/// The gateway on two fake NICs of `slots` slots each, booted from
/// [`config_text`] at time zero; `lan_offload` gives the LAN NIC checksum
/// offload and GSO, and then both NICs [`GSO_TX_RESERVE`] more transmit
/// slots (the loop takes a GSO frame only when that many are free, as
/// the kernel's 256-slot rings always allow).
pub fn gateway(slots: usize, lan_offload: bool) -> Gateway<FakeNic, FakeNic> {
    let tx_slots = if lan_offload {
        slots + GSO_TX_RESERVE
    } else {
        slots
    };
    let config = net::config::parse("gateway.conf", &config_text()).expect("the config parses");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let engine = Engine::from_config(&config, &mut rng).expect("an engine");
    Gateway::new(
        &config,
        engine,
        FakeNic::new(OUTER_MAC, slots, tx_slots, false),
        FakeNic::new(INNER_MAC, slots, tx_slots, lan_offload),
        Instant::ZERO,
        99,
        fake_cycles,
    )
    .expect("a gateway")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_boots_and_the_rings_are_bounded() {
        let mut gw = gateway(4, false);
        let (outer, inner) = gw.nics();
        assert!(!inner.split().0.gso());
        let plain = RxInfo::plain(RxChecksum::Unchecked);
        for _ in 0..4 {
            assert!(outer.inject(vec![0; 60], plain));
        }
        assert!(
            !outer.inject(vec![0; 60], plain),
            "a fifth frame in four slots"
        );
        let tx = outer.split().1;
        for _ in 0..4 {
            assert!(tx.transmit(|_| Some(TxFrame::new(0, 60))));
        }
        assert!(!tx.transmit(|_| Some(TxFrame::new(0, 60))));
        outer.flush();
        assert_eq!(outer.take_sent().len(), 4);
        assert_eq!(outer.split().1.free(), 4);
    }
}
