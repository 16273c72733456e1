//! Reading packet records from a classic pcap or a pcapng stream.
//!
//! pcap-parser parses the records in place in a large buffer that is
//! refilled from any `Read` (a file, a pipe) when a record does not fit in
//! what is left; records are consumed without shifting the buffer, so the
//! only copy of packet bytes is the read itself.
//!
//! Before handing the stream to pcap-parser, the first bytes are read to
//! recognise the format: anything that is not a capture is an error that
//! names the input and describes what its first bytes look like.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{PcapBlockOwned, PcapError, create_reader};

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

/// The input as pcap-parser reads it: counts bytes, retries interrupted
/// reads and keeps the I/O error (pcap-parser only says that a read failed)
/// where the reader can see it.
struct Source<R> {
    inner: R,
    state: Arc<Mutex<SourceState>>,
}

#[derive(Default)]
struct SourceState {
    bytes: u64,
    error: Option<io::Error>,
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(n) => {
                state.bytes += n as u64;
                Ok(n)
            }
            Err(e) => {
                let kind = e.kind();
                state.error = Some(e);
                Err(io::Error::from(kind))
            }
        }
    }
}

/// Reads packet records from a pcap or pcapng stream.
pub struct CaptureReader {
    name: String,
    format: CaptureFormat,
    reader: Box<dyn PcapReaderIterator + Send>,
    state: Arc<Mutex<SourceState>>,
    /// Bytes of the last returned block, consumed on the next call.
    pending: usize,
    /// Offset of the next block in the input.
    offset: u64,
    legacy_link: LinkType,
    legacy_nanos: bool,
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

/// What the next block turned out to be (read without keeping a borrow of
/// the reader's buffer).
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

impl CaptureReader {
    /// Opens a capture stream; `name` (a path, `-`) names it in errors.
    /// Fails when the input is not a pcap or pcapng capture, with a
    /// description of its first bytes.
    pub fn new<R: Read + Send + 'static>(name: &str, mut input: R) -> Result<CaptureReader, Error> {
        let head = read_head(&mut input).map_err(|e| Error::Io {
            name: name.to_string(),
            source: e,
        })?;
        let format = sniff(&head).ok_or_else(|| Error::NotACapture {
            name: name.to_string(),
            description: describe_bytes(&head),
        })?;
        let state = Arc::new(Mutex::new(SourceState::default()));
        let head_len = head.len();
        let source = Source {
            inner: io::Cursor::new(head).chain(input),
            state: Arc::clone(&state),
        };
        let reader = match create_reader(BUFFER, source) {
            Ok(reader) => reader,
            Err(e) => {
                let io = state.lock().unwrap_or_else(|e| e.into_inner()).error.take();
                return Err(match io {
                    Some(source) => Error::Io {
                        name: name.to_string(),
                        source,
                    },
                    None => Error::BadCapture {
                        name: name.to_string(),
                        detail: format!("its header cannot be read ({e}; {head_len} bytes)"),
                    },
                });
            }
        };
        Ok(CaptureReader {
            name: name.to_string(),
            format,
            reader,
            state,
            pending: 0,
            offset: 0,
            legacy_link: LinkType::ETHERNET,
            legacy_nanos: false,
            snaplen: MAX_RECORD,
            ng_big_endian: false,
            interfaces: Vec::new(),
            last_timestamp: 0,
            summary: CaptureSummary::default(),
            done: false,
        })
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
        summary.bytes_read = self.lock_state().bytes;
        summary
    }

    /// The next packet record, `None` at the end of the input (see
    /// [`summary`](CaptureReader::summary) for how it ended). Errors are
    /// I/O errors of the input only: a truncated or corrupt capture ends
    /// the records and is reported in the summary.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, Error> {
        if self.pending > 0 {
            self.reader.consume_noshift(self.pending);
            self.offset += self.pending as u64;
            self.pending = 0;
        }
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
                    let data = &self.reader.data()[start..start + len];
                    return Ok(Some(Frame {
                        link,
                        timestamp_us,
                        data,
                        original_len,
                    }));
                }
                Next::Skip(reason) => {
                    if let Some(reason) = reason {
                        self.summary.packets_read += 1;
                        self.summary.skipped.add(reason);
                    }
                    self.reader.consume_noshift(self.pending);
                    self.offset += self.pending as u64;
                    self.pending = 0;
                }
                Next::Refill => {
                    let before = self.reader.data().len();
                    if self.reader.refill().is_err() {
                        return Err(self.io_error());
                    }
                    if self.reader.data().len() == before && !self.reader.reader_exhausted() {
                        // The buffer is full of one incomplete block.
                        if let Next::End(end) = self.grow() {
                            self.summary.end = end;
                            self.done = true;
                        }
                    }
                }
                Next::End(end) => {
                    if let Some(e) = self.take_io_error() {
                        return Err(Error::Io {
                            name: self.name.clone(),
                            source: e,
                        });
                    }
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

    fn lock_state(&self) -> std::sync::MutexGuard<'_, SourceState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take_io_error(&self) -> Option<io::Error> {
        self.lock_state().error.take()
    }

    fn io_error(&self) -> Error {
        let source = self
            .take_io_error()
            .unwrap_or_else(|| io::Error::other("read failed"));
        Error::Io {
            name: self.name.clone(),
            source,
        }
    }

    /// Parses the next block and decides what to do with it; sets
    /// `pending` to its size.
    fn next_block(&mut self) -> Next {
        let base = self.reader.data().as_ptr() as usize;
        let failure = match self.reader.next() {
            Ok((size, block)) => {
                self.pending = size;
                return match block {
                    PcapBlockOwned::LegacyHeader(header) => {
                        self.legacy_link = LinkType(header.network.0 as u32);
                        self.legacy_nanos = header.is_nanosecond_precision();
                        // libpcap's rule: a zero or huge snapshot length
                        // means the maximum.
                        self.snaplen = match header.snaplen {
                            0 => MAX_RECORD,
                            n => n.min(MAX_RECORD),
                        };
                        Next::Skip(None)
                    }
                    PcapBlockOwned::Legacy(record) => {
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
                        let micros = if self.legacy_nanos {
                            fraction / 1000
                        } else {
                            fraction
                        };
                        Next::Packet {
                            link: self.legacy_link,
                            timestamp_us: i64::from(record.ts_sec) * 1_000_000 + micros,
                            start: offset_in(base, record.data),
                            len,
                            original_len: record.origlen,
                        }
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                        self.ng_big_endian = shb.big_endian();
                        self.interfaces.clear();
                        Next::Skip(None)
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        self.interfaces.push(Interface {
                            link: LinkType(idb.linktype.0 as u32),
                            units_per_second: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                            offset_seconds: idb.ts_offset(),
                        });
                        Next::Skip(None)
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let Some(interface) = self.interfaces.get(epb.if_id as usize).copied()
                        else {
                            return Next::Skip(Some(SkipReason::UnknownInterface));
                        };
                        let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let timestamp_us = ng_micros(ticks, &interface);
                        self.last_timestamp = timestamp_us;
                        let data = epb.packet_data();
                        Next::Packet {
                            link: interface.link,
                            timestamp_us,
                            start: offset_in(base, data),
                            len: data.len(),
                            original_len: epb.origlen,
                        }
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        let Some(interface) = self.interfaces.first().copied() else {
                            return Next::Skip(Some(SkipReason::UnknownInterface));
                        };
                        // A simple packet block has no timestamp: it takes
                        // the previous packet's.
                        let data = spb.packet_data();
                        Next::Packet {
                            link: interface.link,
                            timestamp_us: self.last_timestamp,
                            start: offset_in(base, data),
                            len: data.len(),
                            original_len: spb.origlen,
                        }
                    }
                    PcapBlockOwned::NG(_) => Next::Skip(None),
                };
            }
            Err(PcapError::Eof) => return Next::End(CaptureEnd::Complete),
            // A failed read: `next_frame` reports the I/O error.
            Err(PcapError::ReadError) => return Next::End(CaptureEnd::Complete),
            Err(PcapError::Incomplete(_)) => Failure::Incomplete,
            Err(PcapError::UnexpectedEof) => Failure::Truncated,
            Err(PcapError::BufferTooSmall) => Failure::TooLarge,
            Err(PcapError::HeaderNotRecognized) => {
                Failure::Invalid("unrecognised block".to_string())
            }
            Err(other) => Failure::Invalid(format!("invalid block ({other})")),
        };
        if let Some(end) = self.oversized_record() {
            return Next::End(end);
        }
        match failure {
            Failure::Incomplete if !self.reader.reader_exhausted() => Next::Refill,
            Failure::Incomplete | Failure::Truncated => Next::End(CaptureEnd::Truncated {
                offset: self.offset,
            }),
            Failure::TooLarge => self.grow(),
            Failure::Invalid(detail) => Next::End(corrupt(self.offset, detail)),
        }
    }

    /// A classic record header claiming more than libpcap accepts: corrupt,
    /// whether or not the input has that many bytes.
    fn oversized_record(&self) -> Option<CaptureEnd> {
        let data = self.reader.data();
        match self.format {
            CaptureFormat::Pcap { big_endian, .. } if data.len() >= 16 => {
                let caplen = read_u32(&data[8..12], big_endian);
                (caplen > MAX_RECORD).then(|| corrupt(self.offset, too_long(caplen)))
            }
            _ => None,
        }
    }

    /// A block larger than the buffer: grow the buffer for a pcapng block of
    /// plausible size; anything else is corrupt.
    fn grow(&mut self) -> Next {
        if let Some(end) = self.oversized_record() {
            return Next::End(end);
        }
        let data = self.reader.data();
        let (wanted, detail) = match self.format {
            CaptureFormat::PcapNg if data.len() >= 8 => {
                let len = read_u32(&data[4..8], self.ng_big_endian) as usize;
                (len, format!("block of {len} bytes (more than {MAX_BLOCK})"))
            }
            _ => (0, "record too large".to_string()),
        };
        if wanted == 0 || wanted > MAX_BLOCK || !self.reader.grow(wanted + BUFFER) {
            return Next::End(corrupt(self.offset, detail));
        }
        Next::Refill
    }
}

/// Why a block could not be parsed (owned, so that the reader is free).
enum Failure {
    Incomplete,
    Truncated,
    TooLarge,
    Invalid(String),
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

/// Position of `slice` in the reader's unread data starting at `base`.
fn offset_in(base: usize, slice: &[u8]) -> usize {
    (slice.as_ptr() as usize).saturating_sub(base)
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
