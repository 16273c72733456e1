//! Inputs: files by path and byte streams (standard input, pipes), each
//! opened once, told apart by their first bytes, and their header read.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::time::Instant;

use crate::error::{FlowDataError, Result};
use crate::records::{MAX_RECORD_BYTES, QuotedParser, cut_records};
use crate::sniff::{InputKind, SNIFF_BYTES, first_bytes, sniff, sniff_prefix};

/// The name standard input goes by in reports and errors.
pub const STDIN_NAME: &str = "<stdin>";

/// Bytes a stream's reading thread reads at a time.
const STREAM_CHUNK: usize = 64 << 10;
/// Chunks a stream's reading thread keeps ready ahead of the parser: with
/// [`STREAM_CHUNK`], what an endless stream holds in memory besides the
/// block being parsed.
const STREAM_QUEUE: usize = 16;

/// One input to read.
pub(crate) enum InputSpec {
    /// A file (or a FIFO, a device) by path.
    Path(PathBuf),
    /// Any reader, with the name it goes by.
    Reader {
        name: PathBuf,
        reader: Box<dyn Read + Send>,
    },
}

/// Where the bytes of an input come from.
pub(crate) enum ByteSource {
    /// A regular file: reads return at once.
    File(File),
    /// A stream read on a thread of its own, so that a reader can wait for
    /// it with a deadline; its end is the channel's end.
    Stream(Receiver<std::io::Result<Vec<u8>>>),
}

/// What a read into a buffer gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fill {
    /// Bytes were appended.
    Data,
    /// The input has ended.
    Eof,
    /// The deadline passed first.
    Timeout,
}

impl ByteSource {
    fn stream(name: &Path, mut reader: Box<dyn Read + Send>) -> Result<ByteSource> {
        let (tx, rx): (SyncSender<std::io::Result<Vec<u8>>>, _) = sync_channel(STREAM_QUEUE);
        std::thread::Builder::new()
            .name("flowdata-input".into())
            .spawn(move || {
                loop {
                    let mut chunk = vec![0u8; STREAM_CHUNK];
                    match reader.read(&mut chunk) {
                        Ok(0) => return,
                        Ok(n) => {
                            chunk.truncate(n);
                            // A closed channel: nobody reads any more.
                            if tx.send(Ok(chunk)).is_err() {
                                return;
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
            })
            .map_err(|e| FlowDataError::io(name, e))?;
        Ok(ByteSource::Stream(rx))
    }

    /// Append bytes to `buf`: up to `want` from a file; from a stream what
    /// its next chunk holds, waiting until `deadline` at most (`None`:
    /// until a chunk or the end comes).
    pub(crate) fn read_into(
        &mut self,
        buf: &mut Vec<u8>,
        want: usize,
        deadline: Option<Instant>,
    ) -> std::io::Result<Fill> {
        match self {
            ByteSource::File(file) => {
                let got = file.take(want as u64).read_to_end(buf)?;
                Ok(if got == 0 && want > 0 {
                    Fill::Eof
                } else {
                    Fill::Data
                })
            }
            ByteSource::Stream(rx) => {
                let got = match deadline {
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
                };
                match got {
                    Ok(chunk) => {
                        buf.extend_from_slice(&chunk?);
                        Ok(Fill::Data)
                    }
                    Err(RecvTimeoutError::Disconnected) => Ok(Fill::Eof),
                    Err(RecvTimeoutError::Timeout) => Ok(Fill::Timeout),
                }
            }
        }
    }

    /// Append the chunks a stream has ready now, up to about `want` bytes,
    /// without waiting; true at the end of the input.
    pub(crate) fn read_ready(&mut self, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
        let ByteSource::Stream(rx) = self else {
            return Ok(false);
        };
        let limit = buf.len() + want;
        while buf.len() < limit {
            match rx.try_recv() {
                Ok(chunk) => buf.extend_from_slice(&chunk?),
                Err(TryRecvError::Empty) => return Ok(false),
                Err(TryRecvError::Disconnected) => return Ok(true),
            }
        }
        Ok(false)
    }
}

/// How to get at the data rows of an input whose header was read.
pub(crate) enum DataStart {
    /// A regular file: opened again at `offset` when its turn comes (so
    /// that many files do not hold many descriptors at once).
    Reopen { offset: u64 },
    /// A stream: its source, and the bytes already read past the header.
    Held {
        source: ByteSource,
        rest: Vec<u8>,
        eof: bool,
    },
}

/// An input opened and its header read.
pub(crate) struct Opened {
    /// The name it goes by (the path, or `<stdin>`).
    pub name: PathBuf,
    /// The header's cells, trimmed.
    pub header: Vec<String>,
    /// The 1-based line the data rows start on.
    pub first_data_line: u64,
    pub data: DataStart,
    /// The size of a regular file in bytes (0 for a stream).
    pub bytes_total: u64,
}

impl Opened {
    /// The bytes before the data rows of a regular file (0 for a stream).
    pub(crate) fn header_bytes(&self) -> u64 {
        match self.data {
            DataStart::Reopen { offset } => offset,
            DataStart::Held { .. } => 0,
        }
    }

    /// The byte source of the data rows, the bytes already read of them,
    /// and whether the input has ended.
    pub(crate) fn into_data(self) -> Result<(ByteSource, Vec<u8>, bool)> {
        match self.data {
            DataStart::Held { source, rest, eof } => Ok((source, rest, eof)),
            DataStart::Reopen { offset } => {
                let path = &self.name;
                let mut file = File::open(path).map_err(|e| FlowDataError::io(path, e))?;
                file.seek(SeekFrom::Start(offset))
                    .map_err(|e| FlowDataError::io(path, e))?;
                Ok((ByteSource::File(file), Vec::new(), false))
            }
        }
    }
}

/// Open an input once, tell its kind from its first bytes, and read its
/// header: the first line that is not blank, after a UTF-8 byte-order mark.
pub(crate) fn open_input(spec: InputSpec) -> Result<Opened> {
    let (name, mut source, regular, bytes_total) = match spec {
        InputSpec::Path(path) => {
            let file = File::open(&path).map_err(|e| FlowDataError::io(&path, e))?;
            let meta = file.metadata().map_err(|e| FlowDataError::io(&path, e))?;
            if meta.is_dir() {
                return Err(FlowDataError::NoInput(format!(
                    "{} is a directory",
                    path.display()
                )));
            }
            if meta.is_file() {
                (path, ByteSource::File(file), true, meta.len())
            } else {
                // A FIFO or a device: read as it comes, like a pipe.
                let source = ByteSource::stream(&path, Box::new(file))?;
                (path, source, false, 0)
            }
        }
        InputSpec::Reader { name, reader } => {
            let source = ByteSource::stream(&name, reader)?;
            (name, source, false, 0)
        }
    };
    let io = |e: std::io::Error| FlowDataError::io(&name, e);
    let mut buf: Vec<u8> = Vec::with_capacity(SNIFF_BYTES);
    let mut eof = false;
    let mut parser = QuotedParser::default();
    let mut sniffed = false;
    loop {
        // The kind is told from the first line that is not blank (a live
        // header may be followed by a pause), the same however the bytes
        // arrive.
        if !sniffed && let Some(prefix) = sniff_prefix(&buf, eof) {
            check_kind(&name, prefix)?;
            sniffed = true;
        }
        if sniffed && let Some(found) = find_header(&name, &buf, eof, &mut parser)? {
            let data = if regular {
                DataStart::Reopen {
                    offset: found.end as u64,
                }
            } else {
                DataStart::Held {
                    source,
                    rest: buf[found.end..].to_vec(),
                    eof,
                }
            };
            return Ok(Opened {
                name,
                header: found.cells,
                first_data_line: found.first_data_line,
                data,
                bytes_total,
            });
        }
        // At the end of the input `find_header` gives a header or an error.
        if eof || buf.len() > MAX_RECORD_BYTES + SNIFF_BYTES {
            return Err(FlowDataError::NotCsv {
                path: name,
                line: 1,
                reason: format!("no header line within the first {MAX_RECORD_BYTES} bytes"),
            });
        }
        if source.read_into(&mut buf, 64 << 10, None).map_err(io)? == Fill::Eof {
            eof = true;
        }
    }
}

/// Refuse a file that is not CSV text from its first bytes, naming what
/// it is (for readers that open files themselves).
pub(crate) fn check_csv_file(path: &Path) -> Result<()> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    File::open(path)
        .and_then(|f| f.take(SNIFF_BYTES as u64).read_to_end(&mut head))
        .map_err(|e| FlowDataError::io(path, e))?;
    let eof = head.len() < SNIFF_BYTES;
    check_kind(path, sniff_prefix(&head, eof).unwrap_or(&head))
}

/// Refuse what is not CSV text, naming what it is.
fn check_kind(name: &Path, prefix: &[u8]) -> Result<()> {
    match sniff(prefix) {
        InputKind::Csv | InputKind::Empty => Ok(()),
        kind => Err(FlowDataError::NotFlowCsv {
            path: name.to_path_buf(),
            kind,
            first_bytes: first_bytes(prefix),
        }),
    }
}

/// A header found in the first bytes of an input.
struct Header {
    cells: Vec<String>,
    /// Where the data rows start (bytes).
    end: usize,
    first_data_line: u64,
}

/// The header in `buf` (the input's first bytes), or `None` when more
/// bytes are needed. Blank lines before it are skipped and counted.
fn find_header(
    name: &Path,
    buf: &[u8],
    eof: bool,
    parser: &mut QuotedParser,
) -> Result<Option<Header>> {
    let mut pos = if buf.starts_with(b"\xef\xbb\xbf") {
        3
    } else {
        0
    };
    let mut line = 1u64;
    while let Some(nl) = memchr::memchr(b'\n', &buf[pos..])
        && buf[pos..pos + nl].trim_ascii().is_empty()
    {
        pos += nl + 1;
        line += 1;
    }
    if buf[pos..].trim_ascii().is_empty() {
        if eof {
            return Err(FlowDataError::EmptyFile {
                path: name.to_path_buf(),
                blank_lines: line - 1 + u64::from(pos < buf.len()),
            });
        }
        return Ok(None);
    }
    let cut = cut_records(&buf[pos..], eof, parser).map_err(|_| FlowDataError::NotCsv {
        path: name.to_path_buf(),
        line,
        reason: format!("no line end within {MAX_RECORD_BYTES} bytes"),
    })?;
    let end = match &cut.records {
        Some(ends) => ends.first().copied(),
        None => memchr::memchr(b'\n', &buf[pos..])
            .map(|i| i + 1)
            .or(eof.then(|| buf.len() - pos)),
    };
    let Some(end) = end.filter(|&e| e > 0) else {
        return Ok(None);
    };
    if cut.unclosed.first() == Some(&end) {
        return Err(FlowDataError::Csv {
            path: name.to_path_buf(),
            line,
            message: "a quoted field of the header line is not closed".into(),
        });
    }
    let record = &buf[pos..pos + end];
    let cells: Vec<String> = if memchr::memchr(b'"', record).is_some() {
        parser.parse(record, true);
        let (bytes, ends) = parser.fields();
        let mut start = 0;
        ends.iter()
            .map(|&e| {
                let cell = &bytes[start..e];
                start = e;
                cell
            })
            .map(header_cell)
            .collect()
    } else {
        let text = record.strip_suffix(b"\n").unwrap_or(record);
        text.split(|&b| b == b',').map(header_cell).collect()
    };
    let lines_in_header = memchr::memchr_iter(b'\n', record).count() as u64;
    Ok(Some(Header {
        cells,
        end: pos + end,
        first_data_line: line + lines_in_header.max(1),
    }))
}

fn header_cell(cell: &[u8]) -> String {
    String::from_utf8_lossy(cell).trim().to_string()
}
