//! What an input is, from its first bytes: the one test every reading
//! entry point makes before it parses anything.

use std::fmt;

/// How many leading bytes [`sniff`] looks at (at most).
pub const SNIFF_BYTES: usize = 4096;

/// What kind of data an input holds, told from its first bytes by [`sniff`].
///
/// Flow readers take [`InputKind::Csv`] (and the Parquet and Arrow readers
/// their own kinds); every other kind is refused with a message that says
/// what the input is and what reads it ([`InputKind::advice`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InputKind {
    /// No bytes at all.
    Empty,
    /// Text that is none of the log formats below: read as CSV.
    Csv,
    /// A Parquet file (`PAR1`).
    Parquet,
    /// An Arrow IPC file (`ARROW1`).
    ArrowFile,
    /// An Arrow IPC stream (a continuation marker `0xFFFFFFFF` first).
    ArrowStream,
    /// A Zeek log in its TSV format (`#separator` first).
    ZeekTsv,
    /// A Zeek log written as JSON lines (`ts`, `uid`, `id.orig_h` ...).
    ZeekJson,
    /// Suricata EVE JSON (`event_type` in the first object).
    SuricataEve,
    /// Other JSON.
    Json,
    /// A classic pcap capture.
    Pcap {
        /// Nanosecond timestamps (magic `a1b23c4d`); microsecond otherwise.
        nanosecond: bool,
        /// Written big-endian (the magic's bytes in order).
        big_endian: bool,
    },
    /// A pcapng capture (a section header block first).
    Pcapng,
    /// Compressed data (gzip, zstd, xz, bzip2, zip).
    Compressed(&'static str),
    /// UTF-16 text (a byte-order mark, or NUL after every character).
    Utf16,
    /// Bytes that are not text (NUL or control bytes early on).
    Binary,
}

impl InputKind {
    /// True for packet captures (pcap and pcapng), which the flow meter
    /// reads: `nids score` routes them there.
    pub fn is_capture(self) -> bool {
        matches!(self, InputKind::Pcap { .. } | InputKind::Pcapng)
    }

    /// What to use for this kind of input instead of a flow-feature reader.
    pub fn advice(self) -> &'static str {
        match self {
            InputKind::Pcap { .. } | InputKind::Pcapng => {
                "extract its flows with the flow meter (`nids flows CAPTURE`), or give the capture to `nids score` directly"
            }
            InputKind::ZeekTsv | InputKind::ZeekJson | InputKind::SuricataEve | InputKind::Json => {
                "the detector reads CICFlowMeter-style flow features (Flow Duration, Total Fwd Packets, ... as CSV with a header): extract them from the capture with the flow meter (`nids flows CAPTURE`)"
            }
            InputKind::Parquet | InputKind::ArrowFile | InputKind::ArrowStream => {
                "read it as Parquet or Arrow IPC (a `.parquet`, `.arrow` or `.ipc` file name), not as CSV"
            }
            InputKind::Compressed(_) => {
                "decompress it first (for example `zcat FILE | nids score -`)"
            }
            InputKind::Utf16 => "save it as UTF-8 text (for example `iconv -f UTF-16 -t UTF-8`)",
            InputKind::Empty | InputKind::Csv | InputKind::Binary => {
                "flow features are read from CSV text with a header line, Parquet or Arrow IPC"
            }
        }
    }
}

impl fmt::Display for InputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputKind::Empty => f.write_str("empty"),
            InputKind::Csv => f.write_str("CSV text"),
            InputKind::Parquet => f.write_str("a Parquet file"),
            InputKind::ArrowFile => f.write_str("an Arrow IPC file"),
            InputKind::ArrowStream => f.write_str("an Arrow IPC stream"),
            InputKind::ZeekTsv => f.write_str("a Zeek log (TSV, as conn.log)"),
            InputKind::ZeekJson => f.write_str("a Zeek log (JSON lines)"),
            InputKind::SuricataEve => f.write_str("Suricata EVE JSON"),
            InputKind::Json => f.write_str("JSON"),
            InputKind::Pcap {
                nanosecond,
                big_endian,
            } => write!(
                f,
                "a pcap capture ({}-second timestamps, {})",
                if *nanosecond { "nano" } else { "micro" },
                if *big_endian {
                    "big-endian"
                } else {
                    "little-endian"
                }
            ),
            InputKind::Pcapng => f.write_str("a pcapng capture"),
            InputKind::Compressed(what) => write!(f, "{what}-compressed data"),
            InputKind::Utf16 => f.write_str("UTF-16 text"),
            InputKind::Binary => f.write_str("binary data, not text"),
        }
    }
}

/// The kind of an input from its first bytes (at most [`SNIFF_BYTES`] are
/// looked at; give what there is, the whole input when it is shorter).
/// Cheap: a few comparisons and one pass over the prefix.
///
/// ```
/// use flowdata::{InputKind, sniff};
/// assert_eq!(sniff(b"Flow Duration,Label\n1,BENIGN\n"), InputKind::Csv);
/// assert_eq!(sniff(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]), InputKind::Pcap { nanosecond: false, big_endian: false });
/// assert_eq!(sniff(&[0x0a, 0x0d, 0x0d, 0x0a]), InputKind::Pcapng);
/// assert_eq!(sniff(b"#separator \\x09\n#fields\tts\n"), InputKind::ZeekTsv);
/// assert_eq!(sniff(b"{\"timestamp\":\"2022\",\"event_type\":\"flow\"}\n"), InputKind::SuricataEve);
/// assert!(sniff(b"PAR1\x15\x04").to_string().contains("Parquet"));
/// assert!(sniff(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]) == InputKind::Binary);
/// ```
pub fn sniff(prefix: &[u8]) -> InputKind {
    let p = &prefix[..prefix.len().min(SNIFF_BYTES)];
    if p.is_empty() {
        return InputKind::Empty;
    }
    const MAGIC: &[(&[u8], InputKind)] = &[
        (
            &[0xa1, 0xb2, 0xc3, 0xd4],
            InputKind::Pcap {
                nanosecond: false,
                big_endian: true,
            },
        ),
        (
            &[0xd4, 0xc3, 0xb2, 0xa1],
            InputKind::Pcap {
                nanosecond: false,
                big_endian: false,
            },
        ),
        (
            &[0xa1, 0xb2, 0x3c, 0x4d],
            InputKind::Pcap {
                nanosecond: true,
                big_endian: true,
            },
        ),
        (
            &[0x4d, 0x3c, 0xb2, 0xa1],
            InputKind::Pcap {
                nanosecond: true,
                big_endian: false,
            },
        ),
        (&[0x0a, 0x0d, 0x0d, 0x0a], InputKind::Pcapng),
        (b"PAR1", InputKind::Parquet),
        (b"ARROW1", InputKind::ArrowFile),
        (&[0xff, 0xff, 0xff, 0xff], InputKind::ArrowStream),
        (&[0x1f, 0x8b], InputKind::Compressed("gzip")),
        (&[0x28, 0xb5, 0x2f, 0xfd], InputKind::Compressed("zstd")),
        (
            &[0xfd, b'7', b'z', b'X', b'Z', 0x00],
            InputKind::Compressed("xz"),
        ),
        (b"BZh", InputKind::Compressed("bzip2")),
        (b"PK\x03\x04", InputKind::Compressed("zip")),
        (&[0xff, 0xfe], InputKind::Utf16),
        (b"\x89PNG", InputKind::Binary),
        (&[0xff, 0xd8, 0xff], InputKind::Binary),
        (&[0xfe, 0xff], InputKind::Utf16),
    ];
    if let Some((_, kind)) = MAGIC.iter().find(|(m, _)| p.starts_with(m)) {
        return *kind;
    }
    if looks_utf16(p) {
        return InputKind::Utf16;
    }
    if !looks_textual(p) {
        return InputKind::Binary;
    }
    let text = p.strip_prefix(b"\xef\xbb\xbf").unwrap_or(p);
    let start = text.trim_ascii_start();
    if start.starts_with(b"#separator") {
        return InputKind::ZeekTsv;
    }
    if start.starts_with(b"{") {
        let first = start.split(|&b| b == b'\n').next().unwrap_or(start);
        let has = |key: &[u8]| memchr::memmem::find(first, key).is_some();
        return if has(b"\"event_type\"") {
            InputKind::SuricataEve
        } else if has(b"\"uid\"") && (has(b"\"id.orig_h\"") || has(b"\"ts\"")) || has(b"\"_path\"")
        {
            InputKind::ZeekJson
        } else {
            InputKind::Json
        };
    }
    InputKind::Csv
}

/// The prefix of an input that [`sniff`] judges, the same however the
/// input arrives: up to the end of its first line that is not blank, or
/// its first [`SNIFF_BYTES`] bytes when that line is longer; `None` while
/// more bytes may change it (`eof`: no more will come).
pub(crate) fn sniff_prefix(buf: &[u8], eof: bool) -> Option<&[u8]> {
    let mut pos = 0;
    while let Some(nl) = memchr::memchr(b'\n', &buf[pos..buf.len().min(SNIFF_BYTES)]) {
        let line = &buf[pos..pos + nl];
        pos += nl + 1;
        let line = line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(line);
        if !line.trim_ascii().is_empty() {
            return Some(&buf[..pos]);
        }
    }
    (eof || buf.len() >= SNIFF_BYTES).then(|| &buf[..buf.len().min(SNIFF_BYTES)])
}

/// NUL after each of the first characters: UTF-16 without a byte-order mark.
fn looks_utf16(p: &[u8]) -> bool {
    let pairs = p.len().min(64) / 2;
    pairs >= 2 && {
        let le = (0..pairs).all(|i| p[2 * i] != 0 && p[2 * i + 1] == 0);
        let be = (0..pairs).all(|i| p[2 * i] == 0 && p[2 * i + 1] != 0);
        le || be
    }
}

/// Text, not binary: no NUL, and control bytes (other than tab, line
/// ends and form feed) are rare: none on the first line, under 1 % after.
fn looks_textual(p: &[u8]) -> bool {
    if memchr::memchr(0, p).is_some() {
        return false;
    }
    let control = |b: &u8| matches!(b, 0x01..=0x08 | 0x0b | 0x0e..=0x1f | 0x7f);
    let first_line = p.split(|&b| b == b'\n').next().unwrap_or(p);
    if first_line.iter().any(control) {
        return false;
    }
    p.iter().filter(|b| control(b)).count() * 100 <= p.len()
}

/// The first bytes of an input as an error message shows them: up to 16
/// in hex, then as text with unprintable bytes as dots.
///
/// ```
/// assert_eq!(flowdata::first_bytes(b"\x7fELF\x02"), "7f 45 4c 46 02 (\".ELF.\")");
/// ```
pub fn first_bytes(prefix: &[u8]) -> String {
    let head = &prefix[..prefix.len().min(16)];
    let hex: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
    let text: String = head
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect();
    format!("{} (\"{text}\")", hex.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_told_from_its_first_bytes() {
        let cases: Vec<(Vec<u8>, InputKind)> = vec![
            (b"".to_vec(), InputKind::Empty),
            (b"\n\n Flow Duration,Label\n".to_vec(), InputKind::Csv),
            (
                b"\xef\xbb\xbfid,Label\r\n1,Web Attack \x96 XSS\r\n".to_vec(),
                InputKind::Csv,
            ),
            (b"PAR1\x15\x04\x15".to_vec(), InputKind::Parquet),
            (b"ARROW1\0\0\xff\xff".to_vec(), InputKind::ArrowFile),
            (
                b"\xff\xff\xff\xff\x78\x00\x00\x00".to_vec(),
                InputKind::ArrowStream,
            ),
            (
                b"#separator \\x09\n#set_separator\t,\n".to_vec(),
                InputKind::ZeekTsv,
            ),
            (
                b"{\"ts\":1575413096.05,\"uid\":\"CH53\",\"id.orig_h\":\"10.0.0.1\"}\n".to_vec(),
                InputKind::ZeekJson,
            ),
            (
                b"{\"timestamp\":\"2022-11-18\",\"flow_id\":1,\"event_type\":\"dns\"}\n".to_vec(),
                InputKind::SuricataEve,
            ),
            (b"  {\"a\": 1}\n".to_vec(), InputKind::Json),
            (
                vec![0xa1, 0xb2, 0xc3, 0xd4, 0, 2],
                InputKind::Pcap {
                    nanosecond: false,
                    big_endian: true,
                },
            ),
            (
                vec![0x4d, 0x3c, 0xb2, 0xa1, 2, 0],
                InputKind::Pcap {
                    nanosecond: true,
                    big_endian: false,
                },
            ),
            (
                vec![0xa1, 0xb2, 0x3c, 0x4d],
                InputKind::Pcap {
                    nanosecond: true,
                    big_endian: true,
                },
            ),
            (
                vec![0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0],
                InputKind::Pcapng,
            ),
            (vec![0x1f, 0x8b, 8, 0], InputKind::Compressed("gzip")),
            (
                vec![0x28, 0xb5, 0x2f, 0xfd, 0x24],
                InputKind::Compressed("zstd"),
            ),
            (b"PK\x03\x04\x14\x00".to_vec(), InputKind::Compressed("zip")),
            (b"\xff\xfeF\x00l\x00".to_vec(), InputKind::Utf16),
            (b"F\x00l\x00o\x00w\x00".to_vec(), InputKind::Utf16),
            (
                b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec(),
                InputKind::Binary,
            ),
            (b"a,b\x01,c\n".to_vec(), InputKind::Binary),
        ];
        for (bytes, kind) in cases {
            assert_eq!(sniff(&bytes), kind, "{}", first_bytes(&bytes));
        }
        assert!(InputKind::Pcapng.is_capture() && !InputKind::Csv.is_capture());
        assert!(InputKind::ZeekTsv.advice().contains("flow meter"));
    }

    #[test]
    fn random_bytes_are_binary_and_long_prefixes_are_cut() {
        let noise: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(sniff(&noise), InputKind::Binary);
        let mut text = b"a,b\n".repeat(2000);
        text.extend_from_slice(&[0u8; 16]);
        assert_eq!(sniff(&text), InputKind::Csv, "only the prefix is looked at");
        // The prefix judged ends with the first line that is not blank.
        assert_eq!(
            sniff_prefix(b"\n \r\nab\ncd", false),
            Some(&b"\n \r\nab\n"[..])
        );
        assert_eq!(sniff_prefix(b"\n\nab", false), None);
        assert_eq!(sniff_prefix(b"\n\nab", true), Some(&b"\n\nab"[..]));
        assert_eq!(
            sniff_prefix(&[7u8; 5000], false).map(<[u8]>::len),
            Some(SNIFF_BYTES)
        );
    }
}
