//! The Ethernet side of neighbor resolution: framing IP packets, building
//! ARP requests and neighbor solicitations, and reading ARP and NDP frames.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, Icmpv6Message, Icmpv6Packet, IpProtocol, Ipv6Packet, Ipv6Repr,
    NdiscNeighborFlags, NdiscRepr, ETHERNET_HEADER_LEN, IPV6_HEADER_LEN,
};

/// The smallest Ethernet frame, FCS excluded; shorter frames are padded.
const MIN_FRAME_LEN: usize = 60;
/// Neighbor discovery packets must arrive with this hop limit, proving they
/// were not routed from off-link (RFC 4861 §7.1).
const NDISC_HOP_LIMIT: u8 = 255;
/// ICMPv6 neighbor solicitation: 24-byte message plus an 8-byte source link-layer address option.
const SOLICITATION_LEN: usize = 24 + 8;
/// Room for the largest control frame this module builds.
pub(crate) const CONTROL_FRAME_LEN: usize =
    ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + SOLICITATION_LEN;

/// Why [`write_ethernet_header`] could not frame a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramingError {
    /// The frame has no IP packet after the 14 bytes of header room.
    TooShort,
    /// The byte after the header room is not the start of an IPv4 or IPv6 packet.
    NotIp,
}

/// Writes the Ethernet header into `frame[..14]`, in front of the IP packet
/// already in `frame[14..]`; the EtherType follows the packet's IP version.
/// `frame` is then ready to transmit.
pub fn write_ethernet_header(
    frame: &mut [u8],
    destination: EthernetAddress,
    source: EthernetAddress,
) -> Result<(), FramingError> {
    let version = frame
        .get(ETHERNET_HEADER_LEN)
        .ok_or(FramingError::TooShort)?
        >> 4;
    let ethertype = match version {
        4 => EthernetProtocol::Ipv4,
        6 => EthernetProtocol::Ipv6,
        _ => return Err(FramingError::NotIp),
    };
    let repr = EthernetRepr {
        src_addr: source,
        dst_addr: destination,
        ethertype,
    };
    repr.emit(&mut EthernetFrame::new_unchecked(frame));
    Ok(())
}

/// Builds an ARP request for `target` into `out`, broadcast or (to re-check
/// a known neighbor) unicast to `destination`. Returns the frame length.
pub(crate) fn arp_request(
    out: &mut [u8; CONTROL_FRAME_LEN],
    own_mac: EthernetAddress,
    own_ip: Ipv4Addr,
    target: Ipv4Addr,
    destination: EthernetAddress,
) -> usize {
    out.fill(0);
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: own_mac,
        source_protocol_addr: own_ip,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    };
    let ethernet = EthernetRepr {
        src_addr: own_mac,
        dst_addr: destination,
        ethertype: EthernetProtocol::Arp,
    };
    let mut frame = EthernetFrame::new_unchecked(&mut out[..]);
    ethernet.emit(&mut frame);
    arp.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
    (ETHERNET_HEADER_LEN + arp.buffer_len()).max(MIN_FRAME_LEN)
}

/// Builds a neighbor solicitation for `target` with our link-layer address,
/// to the target's solicited-node multicast group or, when `unicast` names
/// the MAC it had, directly to the target (RFC 4861 §7.2.2 and §7.3.3).
/// Returns the frame length.
pub(crate) fn neighbor_solicitation(
    out: &mut [u8; CONTROL_FRAME_LEN],
    own_mac: EthernetAddress,
    own_ip: Ipv6Addr,
    target: Ipv6Addr,
    unicast: Option<EthernetAddress>,
) -> usize {
    let (ip_destination, mac_destination) = match unicast {
        Some(mac) => (target, mac),
        None => {
            let group = solicited_node_group(target);
            (group, multicast_mac(group))
        }
    };
    let ethernet = EthernetRepr {
        src_addr: own_mac,
        dst_addr: mac_destination,
        ethertype: EthernetProtocol::Ipv6,
    };
    let ip = Ipv6Repr {
        src_addr: own_ip,
        dst_addr: ip_destination,
        next_header: IpProtocol::Icmpv6,
        payload_len: SOLICITATION_LEN,
        hop_limit: NDISC_HOP_LIMIT,
    };
    let solicitation = NdiscRepr::NeighborSolicit {
        target_addr: target,
        lladdr: Some(own_mac.into()),
    };
    let mut frame = EthernetFrame::new_unchecked(&mut out[..]);
    ethernet.emit(&mut frame);
    let mut packet = Ipv6Packet::new_unchecked(frame.payload_mut());
    ip.emit(&mut packet);
    let mut icmp = Icmpv6Packet::new_unchecked(&mut packet.payload_mut()[..SOLICITATION_LEN]);
    solicitation.emit(&mut icmp);
    icmp.fill_checksum(&own_ip, &ip_destination);
    CONTROL_FRAME_LEN
}

/// `ff02::1:ffXX:XXXX`, the group a node joins for each of its addresses.
pub(crate) fn solicited_node_group(addr: Ipv6Addr) -> Ipv6Addr {
    let octets = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, octets[13], octets[14], octets[15],
    ])
}

/// The Ethernet address an IPv6 multicast group maps to (RFC 2464 §7).
fn multicast_mac(group: Ipv6Addr) -> EthernetAddress {
    let octets = group.octets();
    EthernetAddress([0x33, 0x33, octets[12], octets[13], octets[14], octets[15]])
}

/// What an ARP or NDP frame says about a neighbor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NeighborNews {
    /// `ip` is at `mac`. `for_us` tells whether the message was addressed
    /// to `own_ip` (a request for it, a reply to us, a solicitation of it),
    /// which entitles the sender to a new entry (RFC 826, RFC 4861 §7.2.3).
    At {
        ip: IpAddr,
        mac: EthernetAddress,
        target: IpAddr,
    },
    /// A neighbor advertisement for `ip` without a link-layer address: it
    /// confirms a MAC we already have.
    Confirmed { ip: IpAddr },
}

/// Reads an ARP packet or an NDP neighbor solicitation or advertisement out of
/// an Ethernet frame; anything else, or anything malformed, is `None`.
pub(crate) fn parse_neighbor_frame(frame: &[u8]) -> Option<NeighborNews> {
    let frame = EthernetFrame::new_checked(frame).ok()?;
    match frame.ethertype() {
        EthernetProtocol::Arp => parse_arp(frame.payload()),
        EthernetProtocol::Ipv6 => parse_ndisc(frame.payload()),
        _ => None,
    }
}

fn parse_arp(payload: &[u8]) -> Option<NeighborNews> {
    let packet = ArpPacket::new_checked(payload).ok()?;
    let ArpRepr::EthernetIpv4 {
        source_hardware_addr,
        source_protocol_addr,
        target_protocol_addr,
        ..
    } = ArpRepr::parse(&packet).ok()?
    else {
        return None;
    };
    Some(NeighborNews::At {
        ip: IpAddr::V4(source_protocol_addr),
        mac: source_hardware_addr,
        target: IpAddr::V4(target_protocol_addr),
    })
}

fn parse_ndisc(payload: &[u8]) -> Option<NeighborNews> {
    let packet = Ipv6Packet::new_checked(payload).ok()?;
    if packet.version() != 6
        || packet.next_header() != IpProtocol::Icmpv6
        || packet.hop_limit() != NDISC_HOP_LIMIT
    {
        return None;
    }
    let (source, destination) = (packet.src_addr(), packet.dst_addr());
    let icmp_bytes =
        payload.get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + usize::from(packet.payload_len()))?;
    let icmp = Icmpv6Packet::new_checked(icmp_bytes).ok()?;
    if !matches!(
        icmp.msg_type(),
        Icmpv6Message::NeighborSolicit | Icmpv6Message::NeighborAdvert
    ) || icmp.msg_code() != 0
        || !icmp.verify_checksum(&source, &destination)
    {
        return None;
    }
    let lladdr_to_mac = |raw: smoltcp::wire::RawHardwareAddress| {
        let bytes: [u8; 6] = raw.as_bytes().try_into().ok()?;
        Some(EthernetAddress(bytes))
    };
    match NdiscRepr::parse(&icmp).ok()? {
        // A solicitation from the unspecified address is duplicate address
        // detection: it says nothing about where anyone is.
        NdiscRepr::NeighborSolicit {
            target_addr,
            lladdr,
        } if !source.is_unspecified() => Some(NeighborNews::At {
            ip: IpAddr::V6(source),
            mac: lladdr_to_mac(lladdr?)?,
            target: IpAddr::V6(target_addr),
        }),
        NdiscRepr::NeighborAdvert {
            flags,
            target_addr,
            lladdr,
        } => match lladdr {
            Some(lladdr) => Some(NeighborNews::At {
                ip: IpAddr::V6(target_addr),
                mac: lladdr_to_mac(lladdr)?,
                // An advertisement is never a request for our address.
                target: IpAddr::V6(target_addr),
            }),
            None if flags.contains(NdiscNeighborFlags::SOLICITED) => {
                Some(NeighborNews::Confirmed {
                    ip: IpAddr::V6(target_addr),
                })
            }
            None => None,
        },
        _ => None,
    }
}
