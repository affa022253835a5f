//! The gateway loop's NIC traits (`net::gateway::nic`) on this driver, so
//! the loop that host tests run on fake NICs runs unchanged on virtio-net.

use super::{Nic, RxChecksum, RxInfo, RxQueue, TxFrame, TxQueue};
use net::gateway::nic;

impl nic::RxRing for RxQueue {
    fn receive<R>(&mut self, handle: impl FnOnce(&mut [u8], RxChecksum) -> R) -> Option<R> {
        RxQueue::receive(self, handle)
    }

    fn receive_offloaded<R>(&mut self, handle: impl FnOnce(&mut [u8], RxInfo) -> R) -> Option<R> {
        RxQueue::receive_offloaded(self, handle)
    }

    fn gso(&self) -> bool {
        RxQueue::gso(self)
    }
}

impl nic::TxRing for TxQueue {
    fn transmit(&mut self, fill: impl FnOnce(&mut [u8]) -> Option<TxFrame>) -> bool {
        TxQueue::transmit(self, fill)
    }

    fn free(&mut self) -> usize {
        TxQueue::free(self)
    }

    fn checksum_offload(&self) -> bool {
        self.device_checksum()
    }
}

impl nic::Nic for Nic {
    type Rx = RxQueue;
    type Tx = TxQueue;

    fn split(&mut self) -> (&mut RxQueue, &mut TxQueue) {
        Nic::split(self)
    }

    fn mac(&self) -> [u8; 6] {
        Nic::mac(self)
    }

    fn flush(&mut self) {
        Nic::flush(self)
    }
}
