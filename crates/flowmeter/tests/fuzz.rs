//! Random bytes, random mutations of real captures and random frames never
//! make the reader, the decoder or the meter panic: every input ends in
//! flows and a summary, or in a clean error.

mod common;

use std::sync::OnceLock;

use common::{Interface, pcap, pcapng, read_records};
use flowmeter::{LinkType, MeterConfig, Packet, TcpFlags};
use proptest::prelude::*;

fn meter(bytes: Vec<u8>, config: &MeterConfig) {
    let mut flows = Vec::new();
    match flowmeter::run("fuzz", std::io::Cursor::new(bytes), &mut flows, config) {
        Ok(summary) => {
            assert_eq!(summary.flows_emitted as usize, flows.len());
            assert!(summary.packets_metered + summary.skipped.total() <= summary.packets_read + 1);
            for flow in &flows {
                let _ = flow.flow_id();
                let _ = flow.timestamp();
                assert_eq!(flow.features().count(), flowmeter::FEATURES.len());
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// Small real captures (classic and pcapng), or a synthetic one without
/// the data folder.
fn seeds() -> &'static Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds = Vec::new();
        if let Some(data) = common::data_dir() {
            for name in [
                "pcaps/real/zeek_tcp_truncated-header.pcap",
                "pcaps/real/zeek_http_get-to-ssh-server_ns.pcap",
                "pcaps/real/ndpi_nfsv3.pcap",
            ] {
                seeds.push(std::fs::read(data.join(name)).unwrap());
            }
        }
        if let Some(first) = seeds.first().cloned() {
            let records = read_records(first);
            let interface = Interface {
                link: LinkType::ETHERNET,
                tsresol: 9,
                offset_seconds: 0,
            };
            let packets: Vec<_> = records.iter().map(|r| (0, r.clone())).collect();
            seeds.push(pcapng(&[interface], &packets));
        } else {
            seeds.push(pcap(&[], LinkType::ETHERNET, false, false));
        }
        seeds
    })
}

fn any_config() -> impl Strategy<Value = MeterConfig> {
    (any::<[bool; 5]>(), 1u64..200_000_000, 1u64..10_000_000).prop_map(|(b, flow, activity)| {
        MeterConfig {
            ipv6: b[0],
            mpls: b[1],
            attribute_fragments: b[2],
            strict_retransmissions: b[3],
            keep_until_end: b[4],
            flow_timeout: std::time::Duration::from_micros(flow),
            activity_timeout: std::time::Duration::from_micros(activity),
            emit_closed_after: b[0].then(|| std::time::Duration::from_micros(activity)),
            forget_after: b[1].then(|| std::time::Duration::from_micros(flow)),
            ..MeterConfig::default()
        }
    })
}

const LINKS: [LinkType; 10] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::RAW_BSD,
    LinkType::RAW_OPENBSD,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..3000)) {
        meter(bytes, &MeterConfig::default());
    }

    #[test]
    fn random_records_behind_a_valid_header(
        body in prop::collection::vec(any::<u8>(), 0..4000),
        link in prop::sample::select(LINKS.to_vec()),
        ng in any::<bool>(),
        config in any_config(),
    ) {
        let mut file = if ng {
            pcapng(&[Interface { link, tsresol: 6, offset_seconds: 0 }], &[])
        } else {
            pcap(&[], link, false, false)
        };
        file.extend_from_slice(&body);
        meter(file, &config);
    }

    #[test]
    fn mutations_of_real_captures(
        seed in 0usize..8,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..40),
        cut in any::<Option<prop::sample::Index>>(),
        config in any_config(),
    ) {
        let seeds = seeds();
        let mut file = seeds[seed % seeds.len()].clone();
        for (at, byte) in edits {
            if !file.is_empty() {
                let i = at.index(file.len());
                file[i] = byte;
            }
        }
        if let Some(cut) = cut {
            let keep = cut.index(file.len() + 1);
            file.truncate(keep);
        }
        meter(file, &config);
    }

    #[test]
    fn random_frames_of_every_link_type(
        frame in prop::collection::vec(any::<u8>(), 0..300),
        link in prop::sample::select(LINKS.to_vec()),
        config in any_config(),
    ) {
        let _ = Packet::decode(link, &frame, 0, &config);
        // And through the meter, so that whatever decodes is also metered.
        let mut meter = flowmeter::FlowMeter::new(config).unwrap();
        let mut flows = Vec::new();
        meter.push_frame(link, 1, &frame, &mut flows).unwrap();
        meter.finish(&mut flows).unwrap();
    }

    #[test]
    fn random_packets_with_wild_fields(
        packets in prop::collection::vec(
            (any::<i64>(), 0u8..4, any::<u8>(), any::<u16>(), any::<u32>(), any::<u32>(), 0u8..3),
            1..60,
        ),
        config in any_config(),
    ) {
        let mut meter = flowmeter::FlowMeter::new(config).unwrap();
        let mut flows = Vec::new();
        let hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"];
        for (ts, host, flags, window, seq, payload, proto) in packets {
            let src = hosts[usize::from(host)].parse().unwrap();
            let dst = hosts[usize::from(host + 1) % 4].parse().unwrap();
            let protocol = [flowmeter::protocol::TCP, flowmeter::protocol::UDP, flowmeter::protocol::ICMP][usize::from(proto)];
            let mut p = Packet::new(ts, src, dst, protocol);
            p.flags = TcpFlags(flags);
            (p.window, p.seq, p.ack, p.payload_len) = (window, seq, seq ^ payload, payload);
            (p.src_port, p.dst_port) = (window, window.wrapping_add(1));
            (p.icmp_type, p.icmp_code) = (i16::from(flags % 4), i16::from(flags % 3));
            meter.push_packet(&p, &mut flows).unwrap();
        }
        meter.finish(&mut flows).unwrap();
        for flow in &flows {
            assert_eq!(flow.features().count(), flowmeter::FEATURES.len());
        }
    }
}
