//! The same packets in every capture format and link type give the same
//! flows, byte for byte: classic pcap in both byte orders and resolutions,
//! pcapng with several interfaces of different link types and timestamp
//! resolutions, Linux cooked captures, loopback, raw IP, stacked VLAN tags,
//! and a stream that arrives a few bytes at a time.
//!
//! The packets are those of shared captures whose flows `tests/oracle.rs`
//! checks against the oracle, so every variant agrees with the oracle too.

mod common;

use common::{
    Interface, Record, Trickle, csv_of, csv_of_reader, frame_for, ip_of_ethernet, pcap, pcapng,
    read_records,
};
use flowmeter::{CaptureFormat, CaptureReader, LinkType, MeterConfig};

/// Captures of plain Ethernet frames (no VLAN), and their records.
fn sources() -> Vec<(String, Vec<u8>, Vec<Record>)> {
    let Some(data) = common::data_dir() else {
        return Vec::new();
    };
    [
        "pcaps/generated/bruteforce.pcap",
        "pcaps/real/zeek_ssh_sshguess.pcap",
        "pcaps/real/suricata_icmpv4-ping.pcap",
        "pcaps/real/ndpi_dnscrypt-v1-and-resolver-pings.pcap",
    ]
    .iter()
    .map(|p| {
        let bytes = std::fs::read(data.join(p)).unwrap();
        let records = read_records(bytes.clone());
        (p.to_string(), bytes, records)
    })
    .collect()
}

/// The records with their frames re-encoded for `link` (padding dropped).
fn relinked(records: &[Record], link: LinkType) -> Vec<Record> {
    records
        .iter()
        .filter_map(|r| {
            let ip = ip_of_ethernet(&r.data)?;
            Some(Record {
                link,
                timestamp_us: r.timestamp_us,
                data: frame_for(link, &ip),
            })
        })
        .collect()
}

#[test]
fn classic_pcap_in_both_byte_orders_and_resolutions() {
    for (name, bytes, records) in sources() {
        let config = MeterConfig::default();
        let (want, summary) = csv_of(bytes, &config);
        assert!(summary.flows_emitted > 0, "{name}");
        for (nanos, big_endian) in [(false, true), (true, false), (true, true)] {
            let variant = pcap(&records, LinkType::ETHERNET, nanos, big_endian);
            let (got, _) = csv_of(variant, &config);
            assert_eq!(got, want, "{name}: nanos {nanos} big-endian {big_endian}");
        }
    }
}

#[test]
fn every_link_type_gives_the_same_flows() {
    for (name, _, records) in sources() {
        let config = MeterConfig::default();
        let baseline = relinked(&records, LinkType::RAW);
        let (want, summary) = csv_of(pcap(&baseline, LinkType::RAW, false, false), &config);
        assert!(summary.flows_emitted > 0);
        for link in [
            LinkType::ETHERNET,
            LinkType::LINUX_SLL,
            LinkType::LINUX_SLL2,
            LinkType::NULL,
            LinkType::LOOP,
            LinkType::RAW_OPENBSD,
            LinkType::IPV4,
        ] {
            let variant = pcap(&relinked(&records, link), link, false, false);
            let (got, _) = csv_of(variant, &config);
            assert_eq!(got, want, "{name}: {link:?}");
        }
    }
}

#[test]
fn pcapng_with_interfaces_of_different_link_types_and_resolutions() {
    for (name, bytes, records) in sources() {
        let config = MeterConfig::default();
        let (want, _) = csv_of(bytes, &config);
        let start = records.first().map_or(0, |r| r.timestamp_us / 1_000_000);
        let interfaces = [
            Interface {
                link: LinkType::ETHERNET,
                tsresol: 6,
                offset_seconds: 0,
            },
            Interface {
                link: LinkType::RAW,
                tsresol: 9,
                offset_seconds: start - 10,
            },
        ];
        // Every other packet goes through the raw-IP interface, without its
        // Ethernet header and padding.
        let packets: Vec<(usize, Record)> = records
            .iter()
            .enumerate()
            .map(|(i, r)| match ip_of_ethernet(&r.data) {
                Some(ip) if i % 2 == 1 => (
                    1,
                    Record {
                        link: LinkType::RAW,
                        timestamp_us: r.timestamp_us,
                        data: ip,
                    },
                ),
                _ => (0, r.clone()),
            })
            .collect();
        let file = pcapng(&interfaces, &packets);
        let reader = CaptureReader::new("ng", std::io::Cursor::new(file.clone())).unwrap();
        assert_eq!(reader.format(), CaptureFormat::PcapNg);
        let (got, summary) = csv_of(file, &config);
        assert_eq!(summary.packets_read as usize, records.len());
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn a_capture_read_a_few_bytes_at_a_time() {
    for (name, bytes, records) in sources().into_iter().take(2) {
        let config = MeterConfig::default();
        let (want, _) = csv_of(bytes.clone(), &config);
        for (chunk, data) in [
            (7, bytes),
            (
                5,
                pcapng(
                    &[Interface {
                        link: LinkType::ETHERNET,
                        tsresol: 6,
                        offset_seconds: 0,
                    }],
                    &records.iter().map(|r| (0, r.clone())).collect::<Vec<_>>(),
                ),
            ),
        ] {
            let (got, _) = csv_of_reader(
                Trickle {
                    data: std::io::Cursor::new(data),
                    chunk,
                },
                &config,
            );
            assert_eq!(got, want, "{name}: {chunk} bytes per read");
        }
    }
}
