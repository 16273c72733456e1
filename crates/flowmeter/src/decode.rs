//! From a captured frame to the few fields the flow table needs.
//!
//! The oracle reads packets through jNetPcap; where jNetPcap's view of a
//! packet differs from the textbook one, this module follows jNetPcap (each
//! case is stated in the crate documentation): payload and header lengths
//! count captured bytes only, a TCP header cut short by the snapshot length
//! keeps the part that was captured, non-first IPv4 fragments and transport
//! headers too short to read become port-0 packets of "protocol 0", and an
//! IPv4-in-IPv4 packet keeps the outer addresses but the inner ports.
//!
//! Nothing here copies packet bytes: headers are read in place, with
//! etherparse's header slices for Ethernet, 802.1Q, IPv4 and IPv6 (with its
//! extension headers).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    Ethernet2HeaderSlice, IpNumber, Ipv4HeaderSlice, Ipv6ExtensionsSlice, Ipv6HeaderSlice,
    SingleVlanHeaderSlice,
};

use crate::config::MeterConfig;
use crate::summary::SkipReason;

/// A link-layer header type, as numbered by the pcap and pcapng formats
/// (`LINKTYPE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: a 4-byte address family in the capturing host's byte order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II (with 802.1Q / 802.1ad tags).
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP, as written by OpenBSD (`DLT_RAW` = 14 there).
    pub const RAW_OPENBSD: LinkType = LinkType(14);
    /// Raw IP, as written by some other systems (`DLT_RAW` = 12).
    pub const RAW_BSD: LinkType = LinkType(12);
    /// Raw IPv4 or IPv6, told apart by the version nibble.
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux "cooked" capture, version 1 (16-byte header).
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux "cooked" capture, version 2 (20-byte header).
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// Whether frames of this link type can be decoded.
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            LinkType::NULL
                | LinkType::ETHERNET
                | LinkType::RAW_BSD
                | LinkType::RAW_OPENBSD
                | LinkType::RAW
                | LinkType::LOOP
                | LinkType::LINUX_SLL
                | LinkType::IPV4
                | LinkType::IPV6
                | LinkType::LINUX_SLL2
        )
    }
}

/// TCP flags, one bit each as in the TCP header's flags byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;

    /// Whether every bit of `mask` is set.
    #[inline]
    pub fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

/// The IP protocol numbers the meter distinguishes (the `Protocol` column).
pub mod protocol {
    /// Every protocol the oracle does not know (GRE, ESP, OSPF, non-first
    /// fragments, ...): written as 0, with ports 0.
    pub const OTHER: u8 = 0;
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// IGMP (ports 0).
    pub const IGMP: u8 = 2;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6 (IPv6 flows only).
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// One decoded packet: what the flow table and the features need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Capture time, microseconds since the Unix epoch.
    pub timestamp_us: i64,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (0 when the protocol has none).
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The `Protocol` column: one of [`protocol`]'s values.
    pub protocol: u8,
    /// Transport payload bytes (captured, bounded by the IP length).
    pub payload_len: u32,
    /// Transport header bytes (captured).
    pub header_len: u32,
    /// TCP flags (0 for other protocols).
    pub flags: TcpFlags,
    /// TCP window (unscaled).
    pub window: u16,
    /// TCP sequence number.
    pub seq: u32,
    /// TCP acknowledgement number.
    pub ack: u32,
    /// ICMP type, -1 when not ICMP.
    pub icmp_type: i16,
    /// ICMP code, -1 when not ICMP.
    pub icmp_code: i16,
}

impl Packet {
    /// Decodes one captured frame of link type `link` with the oracle's
    /// rules (and the extensions `config` turns on), or says why it cannot
    /// be metered.
    ///
    /// ```
    /// use flowmeter::{LinkType, MeterConfig, Packet, SkipReason};
    /// let arp = [0u8; 42];
    /// let mut frame = arp;
    /// frame[12..14].copy_from_slice(&[0x08, 0x06]);
    /// let err = Packet::decode(LinkType::ETHERNET, &frame, 0, &MeterConfig::default());
    /// assert_eq!(err, Err(SkipReason::NonIp));
    /// ```
    pub fn decode(
        link: LinkType,
        frame: &[u8],
        timestamp_us: i64,
        config: &MeterConfig,
    ) -> Result<Packet, SkipReason> {
        decode(link, frame, timestamp_us, config).map(|d| d.packet)
    }

    /// A packet of `protocol` between two addresses with every other field
    /// zero (ports 0, no payload): the starting point of the decoders, and a
    /// convenient way to build packets by hand.
    pub fn new(timestamp_us: i64, src: IpAddr, dst: IpAddr, protocol: u8) -> Packet {
        Packet {
            timestamp_us,
            src,
            dst,
            src_port: 0,
            dst_port: 0,
            protocol,
            payload_len: 0,
            header_len: 0,
            flags: TcpFlags(0),
            window: 0,
            seq: 0,
            ack: 0,
            icmp_type: -1,
            icmp_code: -1,
        }
    }
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;

/// How many VLAN tags or MPLS labels are followed before giving up.
const MAX_STACK: usize = 8;

/// A non-first IPv4/IPv6 fragment, reported so that the meter can attribute
/// it to its flow when asked to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FragmentId {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub id: u32,
    pub protocol: u8,
}

/// What decoding a frame gives.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub packet: Packet,
    /// Set for fragments: the fragment's identity, whether it is the first
    /// one, and the IP payload bytes it carries.
    pub fragment: Option<(FragmentId, bool, u32)>,
}

/// Decodes one frame of the given link type.
pub(crate) fn decode(
    link: LinkType,
    frame: &[u8],
    timestamp_us: i64,
    config: &MeterConfig,
) -> Result<Decoded, SkipReason> {
    let cx = Cx {
        config,
        timestamp_us,
    };
    match link {
        LinkType::ETHERNET => {
            let eth =
                Ethernet2HeaderSlice::from_slice(frame).map_err(|_| SkipReason::TruncatedLink)?;
            cx.ether(eth.ether_type().0, &frame[eth.slice().len()..], Some(0))
        }
        LinkType::RAW | LinkType::RAW_BSD | LinkType::RAW_OPENBSD => cx.ip_by_version(frame),
        LinkType::IPV4 => cx.ipv4(frame),
        LinkType::IPV6 => cx.ipv6(frame),
        LinkType::NULL | LinkType::LOOP => {
            let Some(family) = frame.get(..4) else {
                return Err(SkipReason::TruncatedLink);
            };
            let family = [family[0], family[1], family[2], family[3]];
            // NULL is in the capturing host's byte order: a family number is
            // small, so whichever reading is small is the right one.
            let value = if link == LinkType::LOOP || u32::from_le_bytes(family) > 0xffff {
                u32::from_be_bytes(family)
            } else {
                u32::from_le_bytes(family)
            };
            match value {
                2 => cx.ipv4(&frame[4..]),
                10 | 24 | 28 | 30 => cx.ipv6(&frame[4..]),
                _ => Err(SkipReason::NonIp),
            }
        }
        LinkType::LINUX_SLL => {
            if frame.len() < 16 {
                return Err(SkipReason::TruncatedLink);
            }
            let protocol = u16::from_be_bytes([frame[14], frame[15]]);
            cx.ether(protocol, &frame[16..], None)
        }
        LinkType::LINUX_SLL2 => {
            if frame.len() < 20 {
                return Err(SkipReason::TruncatedLink);
            }
            let protocol = u16::from_be_bytes([frame[0], frame[1]]);
            cx.ether(protocol, &frame[20..], None)
        }
        _ => Err(SkipReason::UnknownLinkType),
    }
}

struct Cx<'c> {
    config: &'c MeterConfig,
    timestamp_us: i64,
}

impl Cx<'_> {
    /// Dispatches on an EtherType. `ethernet_depth` is `Some(0)` right
    /// after an Ethernet II header and counts the VLAN tags after it.
    fn ether(
        &self,
        ether_type: u16,
        payload: &[u8],
        ethernet_depth: Option<usize>,
    ) -> Result<Decoded, SkipReason> {
        let depth = ethernet_depth.unwrap_or(0);
        match ether_type {
            ETHERTYPE_IPV4 => self.ipv4_bounded(payload, ethernet_depth == Some(0)),
            ETHERTYPE_IPV6 => self.ipv6(payload),
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD if depth < MAX_STACK => {
                let tag = SingleVlanHeaderSlice::from_slice(payload)
                    .map_err(|_| SkipReason::TruncatedLink)?;
                self.ether(
                    tag.ether_type().0,
                    &payload[tag.slice().len()..],
                    Some(depth + 1),
                )
            }
            ETHERTYPE_MPLS | ETHERTYPE_MPLS_MULTICAST => {
                if !self.config.mpls {
                    return Err(SkipReason::Mpls);
                }
                // Labels are 4 bytes; the bottom of the stack has bit 8 of
                // its third byte set. The payload is IP, told by its version.
                let mut rest = payload;
                for _ in 0..MAX_STACK {
                    let Some(label) = rest.get(..4) else {
                        return Err(SkipReason::TruncatedLink);
                    };
                    let bottom = label[2] & 1 == 1;
                    rest = &rest[4..];
                    if bottom {
                        return self.ip_by_version(rest);
                    }
                }
                Err(SkipReason::NonIp)
            }
            _ => Err(SkipReason::NonIp),
        }
    }

    fn ip_by_version(&self, packet: &[u8]) -> Result<Decoded, SkipReason> {
        match packet.first().map(|b| b >> 4) {
            Some(4) => self.ipv4(packet),
            Some(6) => self.ipv6(packet),
            Some(_) => Err(SkipReason::MalformedIp),
            None => Err(SkipReason::TruncatedLink),
        }
    }

    fn ipv4(&self, packet: &[u8]) -> Result<Decoded, SkipReason> {
        self.ipv4_bounded(packet, false)
    }

    /// `after_ethernet`: the packet follows an Ethernet II header directly,
    /// so its total length, not the frame, bounds it (see [`ipv4_payload`]).
    fn ipv4_bounded(&self, packet: &[u8], after_ethernet: bool) -> Result<Decoded, SkipReason> {
        let header = Ipv4HeaderSlice::from_slice(packet).map_err(|_| SkipReason::MalformedIp)?;
        let src = IpAddr::V4(Ipv4Addr::from(header.source()));
        let dst = IpAddr::V4(Ipv4Addr::from(header.destination()));
        let payload = ipv4_payload(&header, packet, after_ethernet);
        let mut out = Packet::new(self.timestamp_us, src, dst, protocol::OTHER);
        let offset = header.fragments_offset().value();
        let fragment = (offset != 0 || header.more_fragments()).then(|| {
            let id = FragmentId {
                src,
                dst,
                id: u32::from(header.identification()),
                protocol: header.protocol().0,
            };
            (id, offset == 0, payload.len() as u32)
        });
        if offset == 0 {
            transport(&mut out, header.protocol(), payload, 0)?;
        }
        Ok(Decoded {
            packet: out,
            fragment,
        })
    }

    fn ipv6(&self, packet: &[u8]) -> Result<Decoded, SkipReason> {
        if !self.config.ipv6 {
            // Checked before parsing: with IPv6 off, every IPv6 packet is
            // skipped for that reason, malformed or not.
            return Err(SkipReason::Ipv6Disabled);
        }
        let header = Ipv6HeaderSlice::from_slice(packet).map_err(|_| SkipReason::MalformedIp)?;
        let src = IpAddr::V6(Ipv6Addr::from(header.source()));
        let dst = IpAddr::V6(Ipv6Addr::from(header.destination()));
        let after = &packet[40..];
        // A zero payload length (jumbogram, or segmentation offload on the
        // capturing host) leaves the captured length as the only bound.
        let declared = usize::from(header.payload_length());
        let payload = if declared == 0 {
            after
        } else {
            &after[..declared.min(after.len())]
        };
        let (exts, next, rest) = Ipv6ExtensionsSlice::from_slice(header.next_header(), payload)
            .map_err(|_| SkipReason::MalformedIp)?;
        let mut out = Packet::new(self.timestamp_us, src, dst, protocol::OTHER);
        let mut fragment = None;
        let mut first = true;
        for ext in exts.clone().into_iter() {
            if let etherparse::Ipv6ExtensionSlice::Fragment(frag) = ext {
                let offset = frag.fragment_offset().value();
                first = offset == 0;
                if offset != 0 || frag.more_fragments() {
                    let id = FragmentId {
                        src,
                        dst,
                        id: frag.identification(),
                        protocol: next.0,
                    };
                    fragment = Some((id, first, rest.len() as u32));
                }
            }
        }
        if first {
            transport(&mut out, next, rest, 0)?;
        }
        Ok(Decoded {
            packet: out,
            fragment,
        })
    }
}

/// The IPv4 payload as jNetPcap sees it: every captured byte after the
/// header, except that an IPv4 packet directly in an Ethernet II frame is cut
/// at its (non-zero) total length, which drops the Ethernet padding and
/// trailers. Behind a VLAN tag, or in other link types, nothing is cut: the
/// padding of a short tagged frame counts as transport payload.
fn ipv4_payload<'a>(
    header: &Ipv4HeaderSlice<'_>,
    packet: &'a [u8],
    after_ethernet: bool,
) -> &'a [u8] {
    let header_len = header.slice().len();
    let total = usize::from(header.total_len());
    let end = if after_ethernet && total > 0 && total < packet.len() {
        total
    } else {
        packet.len()
    };
    packet.get(header_len..end).unwrap_or(&[])
}

/// Fills the transport fields from an IP payload. A header too short to read
/// leaves the packet as protocol 0 with ports 0, as jNetPcap does.
fn transport(
    out: &mut Packet,
    protocol: IpNumber,
    payload: &[u8],
    depth: usize,
) -> Result<(), SkipReason> {
    let len = payload.len() as u32;
    match protocol.0 {
        protocol::ICMP | protocol::ICMPV6 if payload.len() >= 4 => {
            if protocol.0 == protocol::ICMPV6 && out.src.is_ipv4() {
                return Ok(());
            }
            out.protocol = protocol.0;
            out.icmp_type = i16::from(payload[0]);
            out.icmp_code = i16::from(payload[1]);
        }
        protocol::TCP if payload.len() >= 20 => {
            let data_offset = u32::from(payload[12] >> 4) * 4;
            if data_offset < 20 {
                return Err(SkipReason::MalformedTransport);
            }
            // Options cut by the snapshot length: the captured part counts.
            let header_len = data_offset.min(len);
            out.protocol = protocol::TCP;
            out.src_port = u16::from_be_bytes([payload[0], payload[1]]);
            out.dst_port = u16::from_be_bytes([payload[2], payload[3]]);
            out.seq = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
            out.ack = u32::from_be_bytes([payload[8], payload[9], payload[10], payload[11]]);
            out.flags = TcpFlags(payload[13]);
            out.window = u16::from_be_bytes([payload[14], payload[15]]);
            out.header_len = header_len;
            out.payload_len = len - header_len;
        }
        protocol::UDP | protocol::SCTP => {
            let header_len = if protocol.0 == protocol::UDP { 8 } else { 12 };
            if len >= header_len {
                out.protocol = protocol.0;
                out.src_port = u16::from_be_bytes([payload[0], payload[1]]);
                out.dst_port = u16::from_be_bytes([payload[2], payload[3]]);
                out.header_len = header_len;
                out.payload_len = len - header_len;
            }
        }
        protocol::IGMP if out.src.is_ipv4() => out.protocol = protocol::IGMP,
        // IPv4 in IPv4: jNetPcap decodes the inner packet's transport header
        // but the flow keeps the outer addresses.
        4 if out.src.is_ipv4() && depth < MAX_STACK => {
            if let Ok(inner) = Ipv4HeaderSlice::from_slice(payload)
                && inner.fragments_offset().value() == 0
            {
                let inner_payload = ipv4_payload(&inner, payload, false);
                return transport(out, inner.protocol(), inner_payload, depth + 1);
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An Ethernet + IPv4 + TCP frame with `payload` bytes of data.
    pub(crate) fn tcp_frame(
        src: [u8; 4],
        dst: [u8; 4],
        sport: u16,
        dport: u16,
        flags: u8,
        payload: usize,
    ) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        ipv4_tcp(&mut f, src, dst, sport, dport, flags, payload);
        f
    }

    pub(crate) fn ipv4_tcp(
        f: &mut Vec<u8>,
        src: [u8; 4],
        dst: [u8; 4],
        sport: u16,
        dport: u16,
        flags: u8,
        payload: usize,
    ) {
        let total = (20 + 20 + payload) as u16;
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&1000u32.to_be_bytes());
        f.extend_from_slice(&2000u32.to_be_bytes());
        f.extend_from_slice(&[0x50, flags, 0x72, 0x10, 0, 0, 0, 0]);
        f.extend(std::iter::repeat_n(0xab, payload));
    }

    fn dec(link: LinkType, frame: &[u8]) -> Result<Packet, SkipReason> {
        decode(link, frame, 7, &MeterConfig::default()).map(|d| d.packet)
    }

    #[test]
    fn ethernet_ipv4_tcp() {
        let mut frame = tcp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1234, 80, TcpFlags::SYN, 5);
        frame.extend_from_slice(&[0; 6]); // Ethernet padding is not payload
        let p = dec(LinkType::ETHERNET, &frame).unwrap();
        assert_eq!(p.src, IpAddr::from([10, 0, 0, 1]));
        assert_eq!(
            (p.src_port, p.dst_port, p.protocol),
            (1234, 80, protocol::TCP)
        );
        assert_eq!((p.payload_len, p.header_len), (5, 20));
        assert!(p.flags.has(TcpFlags::SYN));
        assert_eq!((p.seq, p.ack, p.window), (1000, 2000, 0x7210));
    }

    #[test]
    fn truncated_tcp_options_count_what_was_captured() {
        let mut frame = tcp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 0, 20);
        frame[14 + 20 + 12] = 0xa0; // a 40-byte header, cut by the snapshot length
        frame.truncate(14 + 20 + 34);
        let p = dec(LinkType::ETHERNET, &frame).unwrap();
        assert_eq!((p.header_len, p.payload_len), (34, 0));
        frame.truncate(14 + 20 + 10);
        let p = dec(LinkType::ETHERNET, &frame).unwrap();
        assert_eq!(
            (p.protocol, p.src_port, p.header_len),
            (protocol::OTHER, 0, 0)
        );
    }

    #[test]
    fn bad_data_offset_is_malformed() {
        let mut frame = tcp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 0, 0);
        frame[14 + 20 + 12] = 0x30;
        assert_eq!(
            dec(LinkType::ETHERNET, &frame),
            Err(SkipReason::MalformedTransport)
        );
    }

    #[test]
    fn link_types_carry_the_same_packet() {
        let eth = tcp_frame([1, 2, 3, 4], [5, 6, 7, 8], 10, 20, TcpFlags::ACK, 3);
        let ip = &eth[14..];
        let want = dec(LinkType::ETHERNET, &eth).unwrap();
        assert_eq!(dec(LinkType::RAW, ip).unwrap(), want);
        assert_eq!(dec(LinkType::IPV4, ip).unwrap(), want);
        for family in [2u32.to_le_bytes(), 2u32.to_be_bytes()] {
            let f = [&family[..], ip].concat();
            assert_eq!(dec(LinkType::NULL, &f).unwrap(), want);
        }
        let f = [&2u32.to_be_bytes()[..], ip].concat();
        assert_eq!(dec(LinkType::LOOP, &f).unwrap(), want);
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        assert_eq!(
            dec(LinkType::LINUX_SLL, &[&sll[..], ip].concat()).unwrap(),
            want
        );
        let mut sll2 = ETHERTYPE_IPV4.to_be_bytes().to_vec();
        sll2.extend_from_slice(&[0; 18]);
        assert_eq!(
            dec(LinkType::LINUX_SLL2, &[&sll2[..], ip].concat()).unwrap(),
            want
        );
        let mut qinq = eth[..12].to_vec();
        qinq.extend_from_slice(&[0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20, 0x08, 0x00]);
        assert_eq!(
            dec(LinkType::ETHERNET, &[&qinq[..], ip].concat()).unwrap(),
            want
        );
        assert_eq!(dec(LinkType(147), &eth), Err(SkipReason::UnknownLinkType));
    }

    #[test]
    fn mpls_only_when_asked() {
        let eth = tcp_frame([1, 2, 3, 4], [5, 6, 7, 8], 10, 20, 0, 0);
        let mut f = eth[..12].to_vec();
        f.extend_from_slice(&[0x88, 0x47, 0, 1, 0, 64, 0, 2, 1, 64]);
        f.extend_from_slice(&eth[14..]);
        assert_eq!(dec(LinkType::ETHERNET, &f), Err(SkipReason::Mpls));
        let config = MeterConfig {
            mpls: true,
            ..MeterConfig::default()
        };
        let p = decode(LinkType::ETHERNET, &f, 0, &config).unwrap().packet;
        assert_eq!((p.src_port, p.dst_port), (10, 20));
    }

    #[test]
    fn ip_in_ip_keeps_outer_addresses_and_inner_ports() {
        let inner = tcp_frame([10, 0, 0, 1], [10, 0, 0, 2], 40000, 80, TcpFlags::SYN, 0);
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
        f.extend_from_slice(&((20 + inner.len() - 14) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 1, 0, 0, 64, 4, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
        f.extend_from_slice(&inner[14..]);
        let p = dec(LinkType::ETHERNET, &f).unwrap();
        assert_eq!(p.src, IpAddr::from([1, 1, 1, 1]));
        assert_eq!(
            (p.src_port, p.dst_port, p.protocol),
            (40000, 80, protocol::TCP)
        );
    }

    #[test]
    fn non_first_fragments_are_protocol_zero() {
        let mut f = tcp_frame([1, 2, 3, 4], [5, 6, 7, 8], 10, 20, 0, 40);
        f[14 + 6] = 0x00;
        f[14 + 7] = 0x10; // offset 16 x 8 bytes
        let d = decode(LinkType::ETHERNET, &f, 0, &MeterConfig::default()).unwrap();
        assert_eq!(
            (d.packet.protocol, d.packet.src_port, d.packet.payload_len),
            (0, 0, 0)
        );
        let (_, first, bytes) = d.fragment.unwrap();
        assert!(!first);
        assert_eq!(bytes, 60);
    }

    #[test]
    fn ipv6_is_off_by_default() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x86, 0xdd]);
        f.extend_from_slice(&[0x60, 0, 0, 0, 0, 8, 17, 64]);
        f.extend_from_slice(&[0; 32]);
        f.extend_from_slice(&[0, 53, 0, 54, 0, 8, 0, 0]);
        assert_eq!(dec(LinkType::ETHERNET, &f), Err(SkipReason::Ipv6Disabled));
        let config = MeterConfig {
            ipv6: true,
            ..MeterConfig::default()
        };
        let p = decode(LinkType::ETHERNET, &f, 0, &config).unwrap().packet;
        assert_eq!(
            (
                p.protocol,
                p.src_port,
                p.dst_port,
                p.payload_len,
                p.header_len
            ),
            (17, 53, 54, 0, 8)
        );
    }

    #[test]
    fn padding_counts_as_payload_behind_a_vlan_tag_only() {
        let plain = tcp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, TcpFlags::ACK, 0);
        let mut padded = plain.clone();
        padded.extend_from_slice(&[0; 6]);
        assert_eq!(dec(LinkType::ETHERNET, &padded).unwrap().payload_len, 0);
        let mut tagged = plain[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0, 5]);
        tagged.extend_from_slice(&padded[12..]);
        assert_eq!(dec(LinkType::ETHERNET, &tagged).unwrap().payload_len, 6);
        // A zero total length (segmentation offload) leaves the captured length.
        let mut offload = tcp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, TcpFlags::ACK, 100);
        offload[16..18].copy_from_slice(&[0, 0]);
        assert_eq!(dec(LinkType::ETHERNET, &offload).unwrap().payload_len, 100);
        // A total length below the headers leaves no room for TCP: protocol 0.
        let mut short = offload.clone();
        short[16..18].copy_from_slice(&30u16.to_be_bytes());
        assert_eq!(
            dec(LinkType::ETHERNET, &short).unwrap().protocol,
            protocol::OTHER
        );
    }
}
