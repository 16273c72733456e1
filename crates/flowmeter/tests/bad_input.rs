//! Bad input: every case is counted in the summary or is a clear error,
//! never a panic, and what can be read is metered.

mod common;

use common::{Interface, Record, pcap, pcapng};
use flowmeter::{CaptureEnd, CaptureSummary, Error, FlowRecord, LinkType, MeterConfig, SkipReason};

const TS: i64 = 1_500_000_000_000_000;

/// An Ethernet + IPv4 + TCP frame.
fn tcp_frame(src: u8, sport: u16, flags: u8, payload: usize) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    let total = (40 + payload) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, src, 10, 0, 0, 99]);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&80u16.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend(std::iter::repeat_n(0x61, payload));
    f
}

fn record(ts: i64, data: Vec<u8>) -> Record {
    Record {
        link: LinkType::ETHERNET,
        timestamp_us: ts,
        data,
    }
}

fn meter(bytes: Vec<u8>) -> Result<(Vec<FlowRecord>, CaptureSummary), Error> {
    let mut flows = Vec::new();
    let summary = flowmeter::run(
        "input.pcap",
        std::io::Cursor::new(bytes),
        &mut flows,
        &MeterConfig::default(),
    )?;
    Ok((flows, summary))
}

fn three_packets() -> Vec<Record> {
    vec![
        record(TS, tcp_frame(1, 1000, 0x02, 0)),
        record(TS + 10, tcp_frame(1, 1000, 0x10, 5)),
        record(TS + 20, tcp_frame(1, 1000, 0x18, 300)),
    ]
}

#[test]
fn a_file_that_is_not_a_capture_is_an_error_naming_it_and_its_first_bytes() {
    let cases: [(&[u8], &str); 5] = [
        (b"Flow ID,Src IP,Src Port\n1,2,3\n", "CSV text"),
        (b"PAR1\x15\x04\x15\x10", "a Parquet file"),
        (&[0x1f, 0x8b, 8, 0, 0, 0], "gzip-compressed data"),
        (b"{\"flow\": 1}\n", "JSON text"),
        (b"", "the input is empty"),
    ];
    for (bytes, looks) in cases {
        let err = meter(bytes.to_vec()).unwrap_err();
        assert!(matches!(err, Error::NotACapture { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with("input.pcap: not a pcap or pcapng capture"),
            "{text}"
        );
        assert!(text.contains(looks), "{text}");
    }
    let text = meter(b"Flow ID,Src".to_vec()).unwrap_err().to_string();
    assert!(text.contains("46 6c 6f 77 20 49 44 2c"), "{text}");
}

#[test]
fn a_file_is_named_by_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.csv");
    std::fs::write(&path, "Flow ID,Src IP\n").unwrap();
    let err = flowmeter::run_file(&path, &mut Vec::new(), &MeterConfig::default()).unwrap_err();
    assert!(err.to_string().contains("flows.csv: not a pcap"), "{err}");
    let missing = dir.path().join("missing.pcap");
    let err = flowmeter::run_file(&missing, &mut Vec::new(), &MeterConfig::default()).unwrap_err();
    assert!(
        matches!(err, Error::Io { .. }) && err.to_string().contains("missing.pcap"),
        "{err}"
    );
}

#[test]
fn a_truncated_header_is_an_error() {
    let mut file = pcap(&[], LinkType::ETHERNET, false, false);
    file.truncate(10);
    let err = meter(file).unwrap_err();
    assert!(matches!(err, Error::BadCapture { .. }), "{err}");
}

#[test]
fn a_capture_without_packets_has_no_flows() {
    let (flows, summary) = meter(pcap(&[], LinkType::ETHERNET, false, false)).unwrap();
    assert!(flows.is_empty());
    assert_eq!(summary.packets_read, 0);
    assert_eq!(summary.end, CaptureEnd::Complete);
}

#[test]
fn a_truncated_last_record_is_counted_and_the_rest_metered() {
    let full = pcap(&three_packets(), LinkType::ETHERNET, false, false);
    for cut in [1, 10, 20, 100] {
        let mut file = full.clone();
        file.truncate(full.len() - cut);
        let (flows, summary) = meter(file).unwrap();
        assert_eq!(summary.packets_read, 3, "cut {cut}");
        assert_eq!(summary.packets_metered, 2);
        assert_eq!(summary.skipped.get(SkipReason::TruncatedRecord), 1);
        assert!(
            matches!(summary.end, CaptureEnd::Truncated { .. }),
            "{:?}",
            summary.end
        );
        assert_eq!(flows.len(), 1);
        assert_eq!(flows[0].packets(), 2);
        assert!(
            summary.to_string().contains("last record truncated"),
            "{summary}"
        );
    }
}

#[test]
fn a_record_longer_than_the_file_or_than_libpcap_allows() {
    let mut file = pcap(&three_packets(), LinkType::ETHERNET, false, false);
    // The last record claims 1000 bytes; the file ends before.
    let last = file.len() - 16 - three_packets()[2].data.len();
    file[last + 8..last + 12].copy_from_slice(&1000u32.to_le_bytes());
    let (_, summary) = meter(file.clone()).unwrap();
    assert!(matches!(summary.end, CaptureEnd::Truncated { .. }));
    // A record over 256 KiB is corrupt: reading stops there.
    file[last + 8..last + 12].copy_from_slice(&300_000u32.to_le_bytes());
    let (flows, summary) = meter(file.clone()).unwrap();
    match &summary.end {
        CaptureEnd::Corrupt { offset, detail } => {
            assert_eq!(*offset as usize, last);
            assert!(detail.contains("300000 bytes"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(flows[0].packets(), 2);
    // Larger than the reader's buffer too.
    file[last + 8..last + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    let (_, summary) = meter(file).unwrap();
    assert!(
        matches!(summary.end, CaptureEnd::Corrupt { .. }),
        "{:?}",
        summary.end
    );
}

#[test]
fn a_record_longer_than_the_snapshot_length_is_cut_as_libpcap_does() {
    let mut file = pcap(&three_packets(), LinkType::ETHERNET, false, false);
    file[16..20].copy_from_slice(&100u32.to_le_bytes());
    let (flows, summary) = meter(file).unwrap();
    assert_eq!(summary.oversized_records, 1);
    // 100 bytes captured of the 354-byte frame: 46 bytes of payload.
    assert_eq!(
        flows[0]
            .feature(flowmeter::feature_index("Fwd Packet Length Max").unwrap())
            .as_f64(),
        46.0
    );
}

#[test]
fn unknown_link_types_and_frames_that_are_not_ip() {
    let records = three_packets();
    let (_, summary) = meter(pcap(&records, LinkType(147), false, false)).unwrap();
    assert_eq!(summary.skipped.get(SkipReason::UnknownLinkType), 3);
    assert_eq!(summary.flows_emitted, 0);

    let mut arp = tcp_frame(1, 1, 0, 0);
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let mut short = tcp_frame(1, 1, 0, 0);
    short.truncate(10);
    let mut bad_ihl = tcp_frame(1, 1, 0, 0);
    bad_ihl[14] = 0x43;
    let mut cut_ip = tcp_frame(1, 1, 0, 0);
    cut_ip.truncate(14 + 12);
    let mut bad_offset = tcp_frame(1, 1, 0, 0);
    bad_offset[14 + 20 + 12] = 0x20;
    let mut ipv6 = tcp_frame(1, 1, 0, 0);
    ipv6[12..14].copy_from_slice(&[0x86, 0xdd]);
    let mut mpls = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0x47, 0, 0, 1, 64];
    mpls.extend_from_slice(&tcp_frame(1, 1, 0, 0)[14..]);
    let frames = [arp, short, bad_ihl, cut_ip, bad_offset, ipv6, mpls];
    let records: Vec<Record> = frames.into_iter().map(|f| record(TS, f)).collect();
    let (flows, summary) = meter(pcap(&records, LinkType::ETHERNET, false, false)).unwrap();
    assert!(flows.is_empty());
    let s = &summary.skipped;
    assert_eq!(s.get(SkipReason::NonIp), 1);
    assert_eq!(s.get(SkipReason::TruncatedLink), 1);
    assert_eq!(s.get(SkipReason::MalformedIp), 2);
    assert_eq!(s.get(SkipReason::MalformedTransport), 1);
    assert_eq!(s.get(SkipReason::Ipv6Disabled), 1);
    assert_eq!(s.get(SkipReason::Mpls), 1);
    assert_eq!(summary.packets_read, 7);
    let text = summary.to_string();
    assert!(
        text.contains("non-IP 1") && text.contains("malformed IP header 2"),
        "{text}"
    );
}

#[test]
fn zero_and_backwards_timestamps_are_counted_and_metered() {
    let records = vec![
        record(0, tcp_frame(1, 1000, 0x02, 0)),
        record(TS, tcp_frame(2, 1000, 0x02, 0)),
        record(TS - 5, tcp_frame(2, 1000, 0x10, 0)),
    ];
    let (flows, summary) = meter(pcap(&records, LinkType::ETHERNET, false, false)).unwrap();
    assert_eq!(summary.zero_timestamps, 1);
    assert_eq!(summary.backwards_timestamps, 1);
    assert_eq!(summary.packets_metered, 3);
    let second = flows.iter().find(|f| f.packets() == 2).unwrap();
    assert_eq!(
        second.end_us() - second.start_us(),
        -5,
        "a negative duration, as the oracle computes it"
    );
}

#[test]
fn pcapng_packets_of_an_undescribed_interface_and_a_corrupt_block() {
    let interfaces = [Interface {
        link: LinkType::ETHERNET,
        tsresol: 6,
        offset_seconds: 0,
    }];
    let packets: Vec<(usize, Record)> = three_packets().into_iter().map(|r| (0, r)).collect();
    let mut file = pcapng(&interfaces, &packets);
    // The second packet names interface 5.
    let second = find_block(&file, 6, 1);
    file[second + 8..second + 12].copy_from_slice(&5u32.to_le_bytes());
    let (flows, summary) = meter(file.clone()).unwrap();
    assert_eq!(summary.skipped.get(SkipReason::UnknownInterface), 1);
    assert_eq!(flows[0].packets(), 2);
    // A block whose length is not a multiple of 4: corrupt, reading stops.
    let third = find_block(&file, 6, 2);
    file[third + 4..third + 8].copy_from_slice(&13u32.to_le_bytes());
    let (_, summary) = meter(file).unwrap();
    assert!(
        matches!(
            summary.end,
            CaptureEnd::Corrupt { .. } | CaptureEnd::Truncated { .. }
        ),
        "{:?}",
        summary.end
    );
}

/// Offset of the `nth` block of type `kind` in a little-endian pcapng file.
fn find_block(file: &[u8], kind: u32, nth: usize) -> usize {
    let mut at = 0;
    let mut seen = 0;
    while at + 8 <= file.len() {
        let t = u32::from_le_bytes(file[at..at + 4].try_into().unwrap());
        let len = u32::from_le_bytes(file[at + 4..at + 8].try_into().unwrap()) as usize;
        if t == kind {
            if seen == nth {
                return at;
            }
            seen += 1;
        }
        at += len;
    }
    panic!("no block {kind} #{nth}");
}

#[test]
fn a_failing_input_is_an_io_error_naming_it() {
    struct Failing {
        data: std::io::Cursor<Vec<u8>>,
        fail_after: u64,
    }
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let left = self.fail_after.saturating_sub(self.data.position()) as usize;
            if left == 0 {
                return Err(std::io::Error::other("device gone"));
            }
            let n = left.min(buf.len());
            std::io::Read::read(&mut self.data, &mut buf[..n])
        }
    }
    let file = pcap(&three_packets(), LinkType::ETHERNET, false, false);
    for fail_after in [10, 24, 100, 400] {
        let input = Failing {
            data: std::io::Cursor::new(file.clone()),
            fail_after,
        };
        let err =
            flowmeter::run("eth0", input, &mut Vec::new(), &MeterConfig::default()).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "after {fail_after}: {err}");
        assert!(err.to_string().starts_with("eth0: device gone"), "{err}");
    }
}
