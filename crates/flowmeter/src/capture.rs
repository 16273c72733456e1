//! Reading packet records from a classic pcap or a pcapng stream.
//!
//! Records are parsed in place by pcap-parser's streaming parsers, in a
//! large buffer filled from any `Read` (a file, a pipe): when a record does
//! not fit in what is left, the partial record moves to the front and the
//! buffer is refilled (pcap-parser's `Incomplete` → refill). The only copy
//! of packet bytes is the read itself. The buffer is driven here rather
//! than through pcap-parser's boxed reader, which costs a dynamic call and
//! a block conversion per packet.
//!
//! Before anything is parsed, the first bytes are read to recognise the
//! format: anything that is not a capture is an error that names the input
//! and describes what its first bytes look like.

use std::io::{self, Read};

use pcap_parser::PcapError;
use pcap_parser::nom;
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapNGPacketBlock;

use crate::decode::LinkType;
use crate::error::Error;
use crate::summary::{CaptureEnd, CaptureSummary, SkipReason};

/// The buffer records are parsed in (grown for larger pcapng blocks).
const BUFFER: usize = 4 << 20;
/// The largest packet record libpcap accepts (`MAXIMUM_SNAPLEN`).
const MAX_RECORD: u32 = 262_144;
/// The largest pcapng block accepted.
const MAX_BLOCK: usize = 64 << 20;

/// The kind of capture file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic libpcap format.
    Pcap {
        /// Timestamps in nanoseconds (else microseconds).
        nanoseconds: bool,
        /// Written big-endian.
        big_endian: bool,
    },
    /// pcapng.
    PcapNg,
}

/// One packet record.
#[derive(Debug)]
pub struct Frame<'a> {
    /// Its interface's link type.
    pub link: LinkType,
    /// Capture time, microseconds since the Unix epoch (finer timestamps are
    /// truncated, as libpcap does when the oracle reads them).
    pub timestamp_us: i64,
    /// The captured bytes.
    pub data: &'a [u8],
    /// The packet's length on the wire.
    pub original_len: u32,
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    /// Timestamp units per second.
    units_per_second: u64,
    /// Seconds added to every timestamp.
    offset_seconds: i64,
}

/// Reads packet records from a pcap or pcapng stream.
pub struct CaptureReader {
    name: String,
    format: CaptureFormat,
    input: Box<dyn Read + Send>,
    /// `buf[start..end]` is read and not yet consumed.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    input_done: bool,
    bytes_read: u64,
    /// Bytes of the last returned record, consumed on the next call.
    pending: usize,
    /// Offset in the input of `buf[start]`.
    offset: u64,
    header_read: bool,
    legacy_link: LinkType,
    snaplen: u32,
    ng_big_endian: bool,
    interfaces: Vec<Interface>,
    last_timestamp: i64,
    summary: CaptureSummary,
    done: bool,
}

impl std::fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

/// What the next block turned out to be (decided without keeping a borrow
/// of the buffer).
enum Next {
    Packet {
        link: LinkType,
        timestamp_us: i64,
        start: usize,
        len: usize,
        original_len: u32,
    },
    Skip(Option<SkipReason>),
    Refill,
    End(CaptureEnd),
}

/// Why a block could not be parsed (owned, so that the buffer is free).
enum Failure {
    Incomplete,
    Invalid(String),
}

impl CaptureReader {
    /// Opens a capture stream; `name` (a path, `-`) names it in errors.
    /// Fails when the input is not a pcap or pcapng capture, with a
    /// description of its first bytes.
    pub fn new<R: Read + Send + 'static>(name: &str, mut input: R) -> Result<CaptureReader, Error> {
        let io_error = |source| Error::Io {
            name: name.to_string(),
            source,
        };
        let head = read_head(&mut input).map_err(io_error)?;
        let format = sniff(&head).ok_or_else(|| Error::NotACapture {
            name: name.to_string(),
            description: describe_bytes(&head),
        })?;
        let mut buf = vec![0; BUFFER.max(head.len())];
        buf[..head.len()].copy_from_slice(&head);
        let mut reader = CaptureReader {
            name: name.to_string(),
            format,
            input: Box::new(input),
            end: head.len(),
            bytes_read: head.len() as u64,
            buf,
            start: 0,
            input_done: false,
            pending: 0,
            offset: 0,
            header_read: false,
            legacy_link: LinkType::ETHERNET,
            snaplen: MAX_RECORD,
            ng_big_endian: false,
            interfaces: Vec::new(),
            last_timestamp: 0,
            summary: CaptureSummary::default(),
            done: false,
        };
        reader.read_file_header()?;
        Ok(reader)
    }

    /// The classic pcap header (24 bytes), or the first pcapng block (read
    /// whole by `read_head`): a capture that announces itself but whose
    /// header cannot be read is an error.
    fn read_file_header(&mut self) -> Result<(), Error> {
        let data = &self.buf[..self.end];
        let bad = |detail: String| Error::BadCapture {
            name: self.name.clone(),
            detail,
        };
        match self.format {
            CaptureFormat::Pcap { .. } => {
                let (_, header) = pcap_parser::parse_pcap_header(data).map_err(|e| {
                    bad(format!(
                        "its 24-byte pcap header cannot be read ({}), {} bytes",
                        show(e),
                        data.len()
                    ))
                })?;
                self.legacy_link = LinkType(header.network.0 as u32);
                // libpcap's rule: a zero or huge snapshot length means the
                // maximum.
                self.snaplen = match header.snaplen {
                    0 => MAX_RECORD,
                    n => n.min(MAX_RECORD),
                };
                self.consume(24);
                self.header_read = true;
            }
            CaptureFormat::PcapNg => {
                pcap_parser::parse_sectionheaderblock(data).map_err(|e| {
                    bad(format!(
                        "its pcapng section header cannot be read ({})",
                        show(e)
                    ))
                })?;
            }
        }
        Ok(())
    }

    /// The input's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The capture format.
    pub fn format(&self) -> CaptureFormat {
        self.format
    }

    /// Records read, skipped by the reader, bytes read and how the input
    /// ended (so far).
    pub fn summary(&self) -> CaptureSummary {
        let mut summary = self.summary.clone();
        summary.bytes_read = self.bytes_read;
        summary
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// The next packet record, `None` at the end of the input (see
    /// [`summary`](CaptureReader::summary) for how it ended). Errors are
    /// I/O errors of the input only: a truncated or corrupt capture ends
    /// the records and is reported in the summary.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, Error> {
        let pending = std::mem::take(&mut self.pending);
        self.consume(pending);
        loop {
            if self.done {
                return Ok(None);
            }
            match self.next_block() {
                Next::Packet {
                    link,
                    timestamp_us,
                    start,
                    len,
                    original_len,
                } => {
                    self.summary.packets_read += 1;
                    return Ok(Some(Frame {
                        link,
                        timestamp_us,
                        data: &self.buf[start..start + len],
                        original_len,
                    }));
                }
                Next::Skip(reason) => {
                    if let Some(reason) = reason {
                        self.summary.packets_read += 1;
                        self.summary.skipped.add(reason);
                    }
                    let pending = std::mem::take(&mut self.pending);
                    self.consume(pending);
                }
                Next::Refill => self.refill()?,
                Next::End(end) => {
                    if let CaptureEnd::Truncated { .. } = end {
                        self.summary.packets_read += 1;
                        self.summary.skipped.add(SkipReason::TruncatedRecord);
                    }
                    self.summary.end = end;
                    self.done = true;
                }
            }
        }
    }

    /// Moves the unread bytes to the front and reads more after them; grows
    /// the buffer when one block fills it.
    fn refill(&mut self) -> Result<(), Error> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grown = (self.buf.len() * 2).min(MAX_BLOCK + BUFFER);
            if grown == self.buf.len() {
                self.summary.end =
                    corrupt(self.offset, format!("block larger than {MAX_BLOCK} bytes"));
                self.done = true;
                return Ok(());
            }
            self.buf.resize(grown, 0);
        }
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.input_done = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    self.bytes_read += n as u64;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(Error::Io {
                        name: self.name.clone(),
                        source,
                    });
                }
            }
        }
    }

    /// Parses the next block and decides what to do with it; sets
    /// `pending` to its size.
    fn next_block(&mut self) -> Next {
        let base = self.start;
        let data = &self.buf[self.start..self.end];
        let failure = match self.format {
            CaptureFormat::Pcap {
                nanoseconds,
                big_endian,
            } => {
                let parsed = if big_endian {
                    pcap_parser::parse_pcap_frame_be(data)
                } else {
                    pcap_parser::parse_pcap_frame(data)
                };
                match parsed {
                    Ok((rest, record)) => {
                        self.pending = data.len() - rest.len();
                        if record.caplen > MAX_RECORD {
                            return Next::End(corrupt(self.offset, too_long(record.caplen)));
                        }
                        let mut len = record.data.len();
                        if record.caplen > self.snaplen {
                            // libpcap keeps the snapshot length of it.
                            self.summary.oversized_records += 1;
                            len = self.snaplen as usize;
                        }
                        let fraction = i64::from(record.ts_usec);
                        let micros = if nanoseconds {
                            fraction / 1000
                        } else {
                            fraction
                        };
                        return Next::Packet {
                            link: self.legacy_link,
                            timestamp_us: i64::from(record.ts_sec) * 1_000_000 + micros,
                            start: base + (record.data.as_ptr() as usize - data.as_ptr() as usize),
                            len,
                            original_len: record.origlen,
                        };
                    }
                    Err(e) => classify(e),
                }
            }
            CaptureFormat::PcapNg => {
                let parsed = if self.ng_big_endian {
                    pcap_parser::parse_block_be(data)
                } else {
                    pcap_parser::parse_block_le(data)
                };
                match parsed {
                    Ok((rest, block)) => {
                        self.pending = data.len() - rest.len();
                        let at = |slice: &[u8]| {
                            base + (slice.as_ptr() as usize - data.as_ptr() as usize)
                        };
                        return match block {
                            Block::SectionHeader(shb) => {
                                self.ng_big_endian = shb.big_endian();
                                self.interfaces.clear();
                                Next::Skip(None)
                            }
                            Block::InterfaceDescription(idb) => {
                                self.interfaces.push(Interface {
                                    link: LinkType(idb.linktype.0 as u32),
                                    units_per_second: idb
                                        .ts_resolution()
                                        .unwrap_or(1_000_000)
                                        .max(1),
                                    offset_seconds: idb.ts_offset(),
                                });
                                Next::Skip(None)
                            }
                            Block::EnhancedPacket(epb) => {
                                let Some(interface) =
                                    self.interfaces.get(epb.if_id as usize).copied()
                                else {
                                    return Next::Skip(Some(SkipReason::UnknownInterface));
                                };
                                let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                                let timestamp_us = ng_micros(ticks, &interface);
                                self.last_timestamp = timestamp_us;
                                let packet = epb.packet_data();
                                Next::Packet {
                                    link: interface.link,
                                    timestamp_us,
                                    start: at(packet),
                                    len: packet.len(),
                                    original_len: epb.origlen,
                                }
                            }
                            Block::SimplePacket(spb) => {
                                let Some(interface) = self.interfaces.first().copied() else {
                                    return Next::Skip(Some(SkipReason::UnknownInterface));
                                };
                                // A simple packet block has no timestamp: it
                                // takes the previous packet's.
                                let packet = spb.packet_data();
                                Next::Packet {
                                    link: interface.link,
                                    timestamp_us: self.last_timestamp,
                                    start: at(packet),
                                    len: packet.len(),
                                    original_len: spb.origlen,
                                }
                            }
                            _ => Next::Skip(None),
                        };
                    }
                    Err(e) => classify(e),
                }
            }
        };
        if let Some(end) = self.oversized_record() {
            return Next::End(end);
        }
        match failure {
            Failure::Incomplete if self.start == self.end && self.input_done => {
                Next::End(CaptureEnd::Complete)
            }
            Failure::Incomplete if self.input_done => Next::End(CaptureEnd::Truncated {
                offset: self.offset,
            }),
            Failure::Incomplete => Next::Refill,
            Failure::Invalid(detail) => Next::End(corrupt(self.offset, detail)),
        }
    }

    /// A classic record header claiming more than libpcap accepts: corrupt,
    /// whether or not the input has that many bytes.
    fn oversized_record(&self) -> Option<CaptureEnd> {
        let data = &self.buf[self.start..self.end];
        match self.format {
            CaptureFormat::Pcap { big_endian, .. } if data.len() >= 16 => {
                let caplen = read_u32(&data[8..12], big_endian);
                (caplen > MAX_RECORD).then(|| corrupt(self.offset, too_long(caplen)))
            }
            CaptureFormat::PcapNg if data.len() >= 8 => {
                let len = read_u32(&data[4..8], self.ng_big_endian) as usize;
                (len > MAX_BLOCK).then(|| {
                    corrupt(
                        self.offset,
                        format!("block of {len} bytes (more than {MAX_BLOCK})"),
                    )
                })
            }
            _ => None,
        }
    }
}

fn classify(e: nom::Err<PcapError<&[u8]>>) -> Failure {
    match e {
        nom::Err::Incomplete(_) => Failure::Incomplete,
        nom::Err::Error(e) | nom::Err::Failure(e) => Failure::Invalid(match e {
            PcapError::HeaderNotRecognized => "unrecognised block".to_string(),
            other => format!("invalid block ({})", show_error(&other)),
        }),
    }
}

fn show(e: nom::Err<PcapError<&[u8]>>) -> String {
    match e {
        nom::Err::Incomplete(_) => "too short".to_string(),
        nom::Err::Error(e) | nom::Err::Failure(e) => show_error(&e),
    }
}

/// A parse error without the input bytes pcap-parser puts in its message.
fn show_error(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => format!("{kind:?}"),
        other => other.to_string(),
    }
}

fn corrupt(offset: u64, detail: String) -> CaptureEnd {
    CaptureEnd::Corrupt { offset, detail }
}

fn too_long(caplen: u32) -> String {
    format!("record of {caplen} bytes (more than {MAX_RECORD})")
}

fn read_u32(bytes: &[u8], big_endian: bool) -> u32 {
    let bytes = [bytes[0], bytes[1], bytes[2], bytes[3]];
    if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    }
}

/// A pcapng timestamp in microseconds, truncated as libpcap does.
fn ng_micros(ticks: u64, interface: &Interface) -> i64 {
    let units = u128::from(interface.units_per_second);
    let micros = u128::from(ticks) * 1_000_000 / units;
    let micros = i64::try_from(micros).unwrap_or(i64::MAX);
    micros.saturating_add(interface.offset_seconds.saturating_mul(1_000_000))
}

/// Reads the first bytes: enough to recognise the format and, for pcapng,
/// the whole first section header block (pcap-parser checks it at once).
fn read_head<R: Read>(source: &mut R) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(64);
    fill_to(source, &mut head, 24)?;
    if head.len() >= 12 && head[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
        let bytes = [head[4], head[5], head[6], head[7]];
        let len = if head[8..12] == [0x1a, 0x2b, 0x3c, 0x4d] {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        } as usize;
        if len <= 1 << 20 {
            fill_to(source, &mut head, len)?;
        }
    }
    Ok(head)
}

fn fill_to<R: Read>(source: &mut R, head: &mut Vec<u8>, len: usize) -> io::Result<()> {
    let mut chunk = [0u8; 4096];
    while head.len() < len {
        let want = (len - head.len()).min(chunk.len());
        match source.read(&mut chunk[..want]) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The capture format announced by the first bytes, if any.
fn sniff(head: &[u8]) -> Option<CaptureFormat> {
    let magic: [u8; 4] = head.get(..4)?.try_into().ok()?;
    let pcap = |nanoseconds, big_endian| {
        Some(CaptureFormat::Pcap {
            nanoseconds,
            big_endian,
        })
    };
    match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x34, 0xcd, 0xb2, 0xa1] => pcap(false, false),
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0xcd, 0x34] => pcap(false, true),
        [0x4d, 0x3c, 0xb2, 0xa1] => pcap(true, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => pcap(true, true),
        [0x0a, 0x0d, 0x0d, 0x0a] => Some(CaptureFormat::PcapNg),
        _ => None,
    }
}

/// What the first bytes of a file that is not a capture look like:
/// `first bytes 46 6c 6f 77 20 49 44 2c ("Flow ID,"), which look like CSV text`.
pub fn describe_bytes(head: &[u8]) -> String {
    if head.is_empty() {
        return "the input is empty".to_string();
    }
    let shown = &head[..head.len().min(16)];
    let hex: Vec<String> = shown.iter().map(|b| format!("{b:02x}")).collect();
    let printable: String = shown
        .iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    let looks = looks_like(head);
    format!(
        "its first bytes are {} (\"{}\"), which look like {looks}",
        hex.join(" "),
        printable
    )
}

fn looks_like(head: &[u8]) -> &'static str {
    let starts = |p: &[u8]| head.starts_with(p);
    if starts(b"PAR1") {
        return "a Parquet file";
    }
    if starts(b"ARROW1") {
        return "an Arrow IPC file";
    }
    if head.len() >= 8 && head[..4] == [0xff, 0xff, 0xff, 0xff] {
        return "an Arrow IPC stream";
    }
    if starts(&[0x1f, 0x8b]) {
        return "gzip-compressed data (decompress the capture first)";
    }
    if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return "zstd-compressed data (decompress the capture first)";
    }
    if starts(b"BZh") {
        return "bzip2-compressed data (decompress the capture first)";
    }
    if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return "xz-compressed data (decompress the capture first)";
    }
    if starts(b"PK\x03\x04") {
        return "a zip archive";
    }
    if starts(b"snoop\0") {
        return "a Solaris snoop capture (convert it to pcap, e.g. with editcap)";
    }
    if starts(b"\x7fELF") {
        return "an executable";
    }
    let text = head
        .iter()
        .all(|&b| b >= 0x20 || matches!(b, b'\n' | b'\r' | b'\t'))
        || std::str::from_utf8(head).is_ok();
    if text {
        let trimmed = head.trim_ascii_start();
        if trimmed.starts_with(b"{") || trimmed.starts_with(b"[") {
            return "JSON text";
        }
        if trimmed.starts_with(b"<") {
            return "XML or HTML text";
        }
        if head.contains(&b',') {
            return "CSV text";
        }
        return "text";
    }
    "binary data of an unknown format"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_of_non_captures() {
        let csv = describe_bytes(b"Flow ID,Src IP,Src Port\n1,2,3\n");
        assert!(csv.contains("46 6c 6f 77 20 49 44 2c"), "{csv}");
        assert!(csv.ends_with("look like CSV text"), "{csv}");
        assert!(describe_bytes(b"PAR1\x15\x04").ends_with("a Parquet file"));
        assert!(describe_bytes(&[0x1f, 0x8b, 8, 0]).contains("gzip"));
        assert!(describe_bytes(b"  {\"a\": 1}").ends_with("JSON text"));
        assert_eq!(describe_bytes(b""), "the input is empty");
        assert!(
            describe_bytes(&[0, 1, 2, 0xfe, 0xff, 3]).ends_with("binary data of an unknown format")
        );
    }

    #[test]
    fn magic_numbers() {
        assert_eq!(
            sniff(&[0xa1, 0xb2, 0x3c, 0x4d]),
            Some(CaptureFormat::Pcap {
                nanoseconds: true,
                big_endian: true
            })
        );
        assert_eq!(
            sniff(&[0x0a, 0x0d, 0x0d, 0x0a]),
            Some(CaptureFormat::PcapNg)
        );
        assert_eq!(sniff(b"Flow"), None);
        assert_eq!(sniff(b"Fl"), None);
    }

    #[test]
    fn pcapng_resolutions() {
        let iface = |units, offset| Interface {
            link: LinkType::ETHERNET,
            units_per_second: units,
            offset_seconds: offset,
        };
        assert_eq!(
            ng_micros(1_500_000_000_123_456_789, &iface(1_000_000_000, 0)),
            1_500_000_000_123_456
        );
        assert_eq!(
            ng_micros(1_500_000_000_123, &iface(1000, 10)),
            1_500_000_010_123_000
        );
        assert_eq!(ng_micros(3, &iface(2, 0)), 1_500_000);
    }
}
