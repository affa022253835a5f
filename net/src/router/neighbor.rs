//! A sans-IO neighbor cache for the LAN: IPv4 via ARP, IPv6 via NDP.
//!
//! The gateway must know a LAN host's MAC address to deliver it a packet
//! from the tunnel. smoltcp keeps a cache of its own, but it is private to
//! its `Interface`, so the router keeps this one. It is deliberately simple:
//!
//! * A fixed table of `capacity` entries, each **incomplete** (being
//!   resolved), **reachable** (MAC confirmed within `reachable_time`) or
//!   **stale** (MAC past its time but still used while it is re-checked
//!   with unicast probes, like RFC 4861's STALE/PROBE states rolled into one).
//! * Resolution sends up to `max_probes` ARP requests or neighbor
//!   solicitations (broadcast / solicited-node multicast, with our source
//!   link-layer address), `retransmit_interval` apart, then gives up and
//!   drops the packets waiting for it.
//! * Packets wait in a [bounded hold queue](HoldQueue) with a per-destination limit.
//! * Learning follows RFC 826 and RFC 4861 §7.2.3: any ARP packet or NDP
//!   message updates an existing entry; a new entry is made only for a
//!   neighbor that addressed the gateway itself (asked for or answered our
//!   address). Plain IP traffic is not gleaned, so a host cannot poison the
//!   cache just by sending packets with a forged source.
//! * When the table is full, the reachable or stale entry closest to expiry
//!   is reused; incomplete entries (which own held packets) are never evicted.
//!
//! ## Driving it (for the kernel)
//!
//! ```text
//! // A packet for the LAN host `next_hop` (TunnelVerdict::Lan):
//! match cache.resolve(next_hop, now) {
//!     Resolution::Known(mac) => { /* put packet after 14 bytes, write_ethernet_header(frame, mac, our_mac), send */ }
//!     Resolution::Pending => { let _ = cache.hold(next_hop, packet, now); }
//!     Resolution::Unresolvable => { /* drop */ }
//! }
//! // Every ARP frame and every IPv6 frame received on the LAN NIC (smoltcp gets them too):
//! cache.handle_frame(frame, now, |ready_frame| lan_nic.send(ready_frame));
//! // After resolve() returned Pending, and whenever next_deadline() passes:
//! cache.poll(now, |request_frame| lan_nic.send(request_frame));
//! ```

use alloc::vec;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::time::Duration;

use smoltcp::wire::EthernetAddress;

pub use super::hold_queue::HoldError;
use super::hold_queue::HoldQueue;
use super::link::{self, NeighborNews, CONTROL_FRAME_LEN};
use crate::time::Instant;

/// Sizes and timers of a [`NeighborCache`], and the gateway's own LAN identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighborConfig {
    /// The gateway's MAC address on the LAN NIC.
    pub mac: EthernetAddress,
    /// The gateway's IPv4 address on the LAN (the ARP sender address); without
    /// one, IPv4 neighbors cannot be resolved.
    pub ipv4: Option<Ipv4Addr>,
    /// The gateway's IPv6 address on the LAN (the solicitation source); without
    /// one, IPv6 neighbors cannot be resolved.
    pub ipv6: Option<Ipv6Addr>,
    /// Number of entries in the table.
    pub capacity: usize,
    /// Number of packets the hold queue can keep.
    pub hold_slots: usize,
    /// Size of a hold slot, Ethernet header included: packets longer than
    /// `hold_slot_len - 14` are not held.
    pub hold_slot_len: usize,
    /// Most packets held for one destination.
    pub hold_per_destination: usize,
    /// How long a confirmed MAC is trusted before it is re-checked.
    pub reachable_time: Duration,
    /// Time between two requests for the same address.
    pub retransmit_interval: Duration,
    /// Requests sent before giving up on an address.
    pub max_probes: u8,
}

impl NeighborConfig {
    /// Defaults: 64 entries, 32 hold slots of 1514 bytes (a full 1500-byte
    /// packet plus its Ethernet header), 4 held packets per destination,
    /// 60 s reachable time, 3 probes 1 s apart.
    pub fn new(
        mac: EthernetAddress,
        ipv4: Option<Ipv4Addr>,
        ipv6: Option<Ipv6Addr>,
    ) -> NeighborConfig {
        NeighborConfig {
            mac,
            ipv4,
            ipv6,
            capacity: 64,
            hold_slots: 32,
            hold_slot_len: 1514,
            hold_per_destination: 4,
            reachable_time: Duration::from_secs(60),
            retransmit_interval: Duration::from_secs(1),
            max_probes: 3,
        }
    }
}

/// The answer to [`NeighborCache::resolve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Send to this MAC address now.
    Known(EthernetAddress),
    /// Resolution is under way: [`NeighborCache::hold`] the packet and call
    /// [`NeighborCache::poll`] so the request goes out.
    Pending,
    /// The address cannot be resolved now: the table is full of incomplete
    /// entries, the address cannot be a neighbor (multicast, broadcast,
    /// unspecified), or the gateway has no LAN address of its family. Drop the packet.
    Unresolvable,
}

/// Counters of a [`NeighborCache`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NeighborStats {
    /// ARP requests and neighbor solicitations sent.
    pub requests_sent: u64,
    /// Addresses that went from incomplete to reachable.
    pub resolved: u64,
    /// Addresses given up after `max_probes` unanswered requests.
    pub gave_up: u64,
    /// Packets accepted into the hold queue.
    pub held: u64,
    /// Held packets sent after their address was resolved.
    pub released: u64,
    /// Packets refused by the hold queue.
    pub hold_refused: u64,
    /// Held packets dropped because their address was given up.
    pub hold_discarded: u64,
    /// Resolutions refused because every entry was incomplete.
    pub table_full: u64,
    /// Reachable or stale entries reused for another address.
    pub evicted: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Free,
    Incomplete {
        probes_sent: u8,
        next_probe: Instant,
    },
    Reachable {
        mac: EthernetAddress,
        expires: Instant,
    },
    Stale {
        mac: EthernetAddress,
        probes_sent: u8,
        next_probe: Instant,
    },
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    ip: IpAddr,
    state: State,
}

/// A bounded ARP/NDP neighbor cache with a hold queue; see the module documentation.
#[derive(Clone, Debug)]
pub struct NeighborCache {
    config: NeighborConfig,
    entries: Vec<Entry>,
    hold: HoldQueue,
    stats: NeighborStats,
}

impl NeighborCache {
    /// A cache for `config`; all memory is allocated here.
    pub fn new(config: NeighborConfig) -> NeighborCache {
        let free = Entry {
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            state: State::Free,
        };
        NeighborCache {
            entries: vec![free; config.capacity],
            hold: HoldQueue::new(
                config.hold_slots,
                config.hold_slot_len,
                config.hold_per_destination,
            ),
            config,
            stats: NeighborStats::default(),
        }
    }

    /// The configuration the cache was built with.
    pub fn config(&self) -> &NeighborConfig {
        &self.config
    }

    /// Changes the gateway's own addresses on this link (a DHCP lease came
    /// or went). Known neighbors stay; only requests use the new source.
    pub fn set_own_addresses(&mut self, ipv4: Option<Ipv4Addr>, ipv6: Option<Ipv6Addr>) {
        self.config.ipv4 = ipv4;
        self.config.ipv6 = ipv6;
    }

    /// The counters so far.
    pub fn stats(&self) -> &NeighborStats {
        &self.stats
    }

    /// The MAC address known for `ip`, reachable or stale, without changing anything.
    pub fn lookup(&self, ip: IpAddr) -> Option<EthernetAddress> {
        match self.find(ip).map(|index| self.entries[index].state) {
            Some(State::Reachable { mac, .. } | State::Stale { mac, .. }) => Some(mac),
            _ => None,
        }
    }

    /// Number of packets waiting for resolution.
    pub fn held_packets(&self) -> usize {
        self.hold.len()
    }

    /// Where to send a packet for the neighbor `ip`. Starts resolution (or
    /// a re-check of an expired MAC, which stays usable meanwhile) when needed.
    pub fn resolve(&mut self, ip: IpAddr, now: Instant) -> Resolution {
        if !self.can_resolve(ip) {
            return Resolution::Unresolvable;
        }
        if let Some(index) = self.find(ip) {
            let entry = &mut self.entries[index];
            return match entry.state {
                State::Reachable { mac, expires } => {
                    if now >= expires {
                        entry.state = State::Stale {
                            mac,
                            probes_sent: 0,
                            next_probe: now,
                        };
                    }
                    Resolution::Known(mac)
                }
                State::Stale { mac, .. } => Resolution::Known(mac),
                State::Incomplete { .. } | State::Free => Resolution::Pending,
            };
        }
        match self.allocate() {
            Some(index) => {
                self.entries[index] = Entry {
                    ip,
                    state: State::Incomplete {
                        probes_sent: 0,
                        next_probe: now,
                    },
                };
                Resolution::Pending
            }
            None => {
                self.stats.table_full = self.stats.table_full.wrapping_add(1);
                Resolution::Unresolvable
            }
        }
    }

    /// Keeps a copy of the IP `packet` until `ip` is resolved (starting
    /// resolution if [`NeighborCache::resolve`] was not called first). When
    /// the MAC arrives, [`NeighborCache::handle_frame`] sends it as a frame.
    pub fn hold(&mut self, ip: IpAddr, packet: &[u8], now: Instant) -> Result<(), HoldError> {
        let result = match self.resolve(ip, now) {
            Resolution::Pending => self.hold.push(ip, packet),
            // Already known (or learned meanwhile): the caller should send it;
            // holding it would strand it, as no reply will come to release it.
            Resolution::Known(_) | Resolution::Unresolvable => Err(HoldError::Unresolvable),
        };
        match result {
            Ok(()) => self.stats.held = self.stats.held.wrapping_add(1),
            Err(_) => self.stats.hold_refused = self.stats.hold_refused.wrapping_add(1),
        }
        result
    }

    /// Learns from a frame received on the LAN NIC (ARP, or an IPv6 neighbor
    /// solicitation or advertisement; anything else is ignored). Packets held
    /// for an address it resolves are passed to `send`, oldest first, as
    /// complete Ethernet frames.
    pub fn handle_frame(&mut self, frame: &[u8], now: Instant, mut send: impl FnMut(&[u8])) {
        let Some(news) = link::parse_neighbor_frame(frame) else {
            return;
        };
        match news {
            NeighborNews::At { ip, mac, target } => {
                if !mac.is_unicast() || !self.can_resolve(ip) || self.is_own_address(ip) {
                    return;
                }
                let addressed_to_us = self.is_own_address(target);
                self.learn(ip, mac, addressed_to_us, now, &mut send);
            }
            NeighborNews::Confirmed { ip } => {
                if let Some(index) = self.find(ip) {
                    if let State::Stale { mac, .. } | State::Reachable { mac, .. } =
                        self.entries[index].state
                    {
                        self.entries[index].state = State::Reachable {
                            mac,
                            expires: now.saturating_add(self.config.reachable_time),
                        };
                    }
                }
            }
        }
    }

    /// Sends due ARP requests and neighbor solicitations through `send`, and
    /// gives up on addresses that had `max_probes` requests unanswered
    /// (dropping their held packets).
    pub fn poll(&mut self, now: Instant, mut send: impl FnMut(&[u8])) {
        let mut frame = [0u8; CONTROL_FRAME_LEN];
        for index in 0..self.entries.len() {
            let entry = self.entries[index];
            let (probes_sent, next_probe, known_mac) = match entry.state {
                State::Incomplete {
                    probes_sent,
                    next_probe,
                } => (probes_sent, next_probe, None),
                State::Stale {
                    mac,
                    probes_sent,
                    next_probe,
                } => (probes_sent, next_probe, Some(mac)),
                State::Free | State::Reachable { .. } => continue,
            };
            if next_probe > now {
                continue;
            }
            if probes_sent >= self.config.max_probes {
                self.give_up(index);
                continue;
            }
            let Some(len) = self.build_request(&mut frame, entry.ip, known_mac) else {
                self.give_up(index);
                continue;
            };
            send(&frame[..len]);
            self.stats.requests_sent = self.stats.requests_sent.wrapping_add(1);
            let next_probe = now.saturating_add(self.config.retransmit_interval);
            let probes_sent = probes_sent + 1;
            self.entries[index].state = match known_mac {
                Some(mac) => State::Stale {
                    mac,
                    probes_sent,
                    next_probe,
                },
                None => State::Incomplete {
                    probes_sent,
                    next_probe,
                },
            };
        }
    }

    /// When [`NeighborCache::poll`] next has work: the earliest pending
    /// request or give-up. `None` when nothing is being resolved.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter_map(|entry| match entry.state {
                State::Incomplete { next_probe, .. } | State::Stale { next_probe, .. } => {
                    Some(next_probe)
                }
                State::Free | State::Reachable { .. } => None,
            })
            .min()
    }

    fn find(&self, ip: IpAddr) -> Option<usize> {
        self.entries
            .iter()
            .position(|entry| entry.state != State::Free && entry.ip == ip)
    }

    fn is_own_address(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => self.config.ipv4 == Some(v4),
            IpAddr::V6(v6) => self.config.ipv6 == Some(v6),
        }
    }

    /// A unicast address of a family we can send requests for.
    fn can_resolve(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => {
                self.config.ipv4.is_some()
                    && !(v4.is_unspecified()
                        || v4.is_multicast()
                        || v4.is_broadcast()
                        || v4.is_loopback())
            }
            IpAddr::V6(v6) => {
                self.config.ipv6.is_some()
                    && !(v6.is_unspecified() || v6.is_multicast() || v6.is_loopback())
            }
        }
    }

    /// A free entry, or else the reachable or stale entry nearest to expiry.
    fn allocate(&mut self) -> Option<usize> {
        if let Some(index) = self
            .entries
            .iter()
            .position(|entry| entry.state == State::Free)
        {
            return Some(index);
        }
        let victim = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| match entry.state {
                State::Reachable { expires, .. } => Some((expires, index)),
                State::Stale { .. } => Some((Instant::ZERO, index)),
                State::Free | State::Incomplete { .. } => None,
            })
            .min()
            .map(|(_, index)| index)?;
        self.stats.evicted = self.stats.evicted.wrapping_add(1);
        Some(victim)
    }

    /// Records `ip` at `mac`, creating an entry only if `may_create`, and
    /// sends whatever was held for it.
    fn learn(
        &mut self,
        ip: IpAddr,
        mac: EthernetAddress,
        may_create: bool,
        now: Instant,
        send: &mut impl FnMut(&[u8]),
    ) {
        let index = match self.find(ip) {
            Some(index) => index,
            None if may_create => match self.allocate() {
                Some(index) => index,
                None => return,
            },
            None => return,
        };
        if matches!(self.entries[index].state, State::Incomplete { .. }) {
            self.stats.resolved = self.stats.resolved.wrapping_add(1);
        }
        self.entries[index] = Entry {
            ip,
            state: State::Reachable {
                mac,
                expires: now.saturating_add(self.config.reachable_time),
            },
        };
        let own_mac = self.config.mac;
        let released = self.hold.drain(ip, |frame| {
            // hold() accepts any bytes; one that is not an IP packet cannot
            // be framed and is dropped here rather than sent mislabelled.
            if link::write_ethernet_header(frame, mac, own_mac).is_ok() {
                send(frame);
            }
        });
        self.stats.released = self.stats.released.wrapping_add(released as u64);
    }

    fn give_up(&mut self, index: usize) {
        let ip = self.entries[index].ip;
        self.entries[index].state = State::Free;
        let discarded = self.hold.drain(ip, |_| {});
        self.stats.gave_up = self.stats.gave_up.wrapping_add(1);
        self.stats.hold_discarded = self.stats.hold_discarded.wrapping_add(discarded as u64);
    }

    /// Builds the request for `ip` into `frame`: broadcast or multicast while
    /// incomplete, unicast to the old MAC while re-checking a stale entry.
    fn build_request(
        &self,
        frame: &mut [u8; CONTROL_FRAME_LEN],
        ip: IpAddr,
        known_mac: Option<EthernetAddress>,
    ) -> Option<usize> {
        match ip {
            IpAddr::V4(target) => {
                let destination = known_mac.unwrap_or(EthernetAddress::BROADCAST);
                Some(link::arp_request(
                    frame,
                    self.config.mac,
                    self.config.ipv4?,
                    target,
                    destination,
                ))
            }
            IpAddr::V6(target) => Some(link::neighbor_solicitation(
                frame,
                self.config.mac,
                self.config.ipv6?,
                target,
                known_mac,
            )),
        }
    }
}
