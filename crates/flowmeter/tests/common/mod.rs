//! Builders of captures in memory for the tests and the bench: classic pcap
//! in both byte orders and both resolutions, pcapng with several interfaces,
//! and frames re-encoded for other link types.

#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;

use flowmeter::{CaptureReader, LinkType};

/// The shared data folder (`$NIDS_DATA_DIR`, else `../shared/data` beside
/// the workspace), or `None` after saying that the caller is skipped;
/// a missing folder fails when `NIDS_REQUIRE_DATA=1`.
pub fn data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("NIDS_DATA_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    if dir.join("pcaps").is_dir() {
        return Some(dir);
    }
    if std::env::var("NIDS_REQUIRE_DATA").is_ok_and(|v| v == "1") {
        panic!(
            "NIDS_REQUIRE_DATA=1 but {} has no pcaps folder (set NIDS_DATA_DIR)",
            dir.display()
        );
    }
    eprintln!(
        "skipped: {} has no pcaps folder (set NIDS_DATA_DIR)",
        dir.display()
    );
    None
}

/// One captured frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub link: LinkType,
    pub timestamp_us: i64,
    pub data: Vec<u8>,
}

/// Every frame of a capture, read with the crate's own reader.
pub fn read_records(bytes: Vec<u8>) -> Vec<Record> {
    let mut reader = CaptureReader::new("records", std::io::Cursor::new(bytes)).unwrap();
    let mut out = Vec::new();
    while let Some(frame) = reader.next_frame().unwrap() {
        out.push(Record {
            link: frame.link,
            timestamp_us: frame.timestamp_us,
            data: frame.data.to_vec(),
        });
    }
    out
}

/// A classic pcap file: `nanos` for nanosecond timestamps, `big_endian`
/// for the other byte order.
pub fn pcap(records: &[Record], link: LinkType, nanos: bool, big_endian: bool) -> Vec<u8> {
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = Vec::new();
    out.extend_from_slice(&u32b(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    out.extend_from_slice(&u16b(2));
    out.extend_from_slice(&u16b(4));
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&u32b(262_144));
    out.extend_from_slice(&u32b(link.0));
    for r in records {
        let seconds = r.timestamp_us.div_euclid(1_000_000) as u32;
        let micros = r.timestamp_us.rem_euclid(1_000_000) as u32;
        // Nanosecond files get sub-microsecond digits the reader must drop.
        let fraction = if nanos { micros * 1000 + 789 } else { micros };
        out.extend_from_slice(&u32b(seconds));
        out.extend_from_slice(&u32b(fraction));
        out.extend_from_slice(&u32b(r.data.len() as u32));
        out.extend_from_slice(&u32b(r.data.len() as u32));
        out.extend_from_slice(&r.data);
    }
    out
}

/// A pcapng interface: its link type, `if_tsresol` (a power of ten) and
/// `if_tsoffset` in seconds.
#[derive(Clone, Copy)]
pub struct Interface {
    pub link: LinkType,
    pub tsresol: u8,
    pub offset_seconds: i64,
}

fn pad4(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let len = (12 + body.len()) as u32;
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&len.to_le_bytes());
}

/// A little-endian pcapng file; `packets` are (interface index, record),
/// the record's link type being ignored in favour of its interface's.
pub fn pcapng(interfaces: &[Interface], packets: &[(usize, Record)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &shb);
    for i in interfaces {
        let mut idb = Vec::new();
        idb.extend_from_slice(&(i.link.0 as u16).to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&0u32.to_le_bytes());
        // if_tsresol (code 9, 1 byte) and if_tsoffset (code 14, 8 bytes).
        idb.extend_from_slice(&9u16.to_le_bytes());
        idb.extend_from_slice(&1u16.to_le_bytes());
        idb.push(i.tsresol);
        pad4(&mut idb);
        idb.extend_from_slice(&14u16.to_le_bytes());
        idb.extend_from_slice(&8u16.to_le_bytes());
        idb.extend_from_slice(&i.offset_seconds.to_le_bytes());
        idb.extend_from_slice(&[0, 0, 0, 0]);
        block(&mut out, 1, &idb);
    }
    for (index, r) in packets {
        let i = interfaces[*index];
        let units = 10u128.pow(u32::from(i.tsresol));
        let micros = (r.timestamp_us - i.offset_seconds * 1_000_000) as u128;
        let ticks = (micros * units / 1_000_000) as u64 + u64::from(i.tsresol > 6);
        let mut epb = Vec::new();
        epb.extend_from_slice(&(*index as u32).to_le_bytes());
        epb.extend_from_slice(&((ticks >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ticks as u32).to_le_bytes());
        epb.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&r.data);
        pad4(&mut epb);
        block(&mut out, 6, &epb);
    }
    out
}

/// The IP packet inside an Ethernet II frame (no VLAN tag), cut at its IP
/// length so that Ethernet padding does not come along.
pub fn ip_of_ethernet(frame: &[u8]) -> Option<Vec<u8>> {
    let ether_type = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let ip = frame.get(14..)?;
    let len = match ether_type {
        0x0800 => usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?])),
        0x86dd => 40 + usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?])),
        _ => return None,
    };
    (len > 0 && len <= ip.len()).then(|| ip[..len].to_vec())
}

/// An IP packet framed for `link`.
pub fn frame_for(link: LinkType, ip: &[u8]) -> Vec<u8> {
    let v6 = ip.first().is_some_and(|b| b >> 4 == 6);
    let ether_type: u16 = if v6 { 0x86dd } else { 0x0800 };
    let mut f = Vec::new();
    match link {
        LinkType::LINUX_SLL => {
            f.extend_from_slice(&[0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0]);
            f.extend_from_slice(&ether_type.to_be_bytes());
        }
        LinkType::LINUX_SLL2 => {
            f.extend_from_slice(&ether_type.to_be_bytes());
            f.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0]);
        }
        LinkType::NULL => f.extend_from_slice(&(if v6 { 30u32 } else { 2 }).to_le_bytes()),
        LinkType::LOOP => f.extend_from_slice(&(if v6 { 24u32 } else { 2 }).to_be_bytes()),
        LinkType::ETHERNET => {
            f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
            // Tagged twice (802.1ad outside 802.1Q): the packet has no padding.
            f.extend_from_slice(&[0x88, 0xa8, 0, 7, 0x81, 0x00, 0, 9]);
            f.extend_from_slice(&ether_type.to_be_bytes());
        }
        _ => {}
    }
    f.extend_from_slice(ip);
    f
}

/// A reader that hands out at most `chunk` bytes per call (a slow pipe).
pub struct Trickle {
    pub data: std::io::Cursor<Vec<u8>>,
    pub chunk: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.chunk);
        self.data.read(&mut buf[..n])
    }
}

/// The CSV the crate writes for a capture held in memory.
pub fn csv_of(
    bytes: Vec<u8>,
    config: &flowmeter::MeterConfig,
) -> (String, flowmeter::CaptureSummary) {
    csv_of_reader(std::io::Cursor::new(bytes), config)
}

/// The CSV the crate writes for a capture read from `input`.
pub fn csv_of_reader(
    input: impl Read + Send + 'static,
    config: &flowmeter::MeterConfig,
) -> (String, flowmeter::CaptureSummary) {
    use flowmeter::FlowSink;
    let mut out = Vec::new();
    let summary = {
        let mut csv = flowmeter::CsvWriter::new(&mut out, flowmeter::LabelColumn::Oracle);
        let summary = flowmeter::run("memory", input, &mut csv, config).unwrap();
        csv.finish().unwrap();
        summary
    };
    (String::from_utf8(out).unwrap(), summary)
}
