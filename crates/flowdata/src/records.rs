//! Cutting CSV bytes into records by CSV rules: a record ends at a line
//! end outside quotes, so a quoted field may hold line ends. Lines without
//! a quote (nearly all of a flow file) are records as they are; a line
//! with a quote goes through `csv-core`, the `csv` crate's own parser, so
//! that the fields are the ones the `csv` crate would give.

/// The longest record read: a quoted field still open this far past the
/// start of its record is not closed (the record is malformed), and a
/// line this long without a line end is an error, never an allocation
/// without bound.
pub(crate) const MAX_RECORD_BYTES: usize = 16 << 20;

/// The CSV parser for records with quotes: RFC 4180 quoting with doubled
/// quotes, records ending at `\n` only (a `\r` before it stays in the
/// last field, where cells are trimmed).
pub(crate) struct QuotedParser {
    rdr: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    n_fields: usize,
}

impl Default for QuotedParser {
    fn default() -> Self {
        QuotedParser {
            rdr: csv_core::ReaderBuilder::new()
                .terminator(csv_core::Terminator::Any(b'\n'))
                .build(),
            out: vec![0; 4096],
            ends: vec![0; 64],
            n_fields: 0,
        }
    }
}

impl QuotedParser {
    /// Parse the record at the start of `input`: the bytes it takes (its
    /// line end included), or `None` when `input` ends inside it. With
    /// `eof`, the input ends there, and a record open at its end ends too.
    /// The fields are then in [`Self::fields`].
    pub(crate) fn parse(&mut self, input: &[u8], eof: bool) -> Option<usize> {
        self.parse_record(input, eof).map(|(n, _)| n)
    }

    /// [`Self::parse`], and whether the record was ended by the end of the
    /// input rather than by a line end.
    fn parse_record(&mut self, input: &[u8], eof: bool) -> Option<(usize, bool)> {
        use csv_core::ReadRecordResult as R;
        self.rdr.reset();
        let (mut taken, mut nout, mut nends) = (0usize, 0usize, 0usize);
        let mut at_end = false;
        loop {
            let rest = if at_end { &[][..] } else { &input[taken..] };
            let (res, nin, o, e) =
                self.rdr
                    .read_record(rest, &mut self.out[nout..], &mut self.ends[nends..]);
            taken += nin;
            nout += o;
            nends += e;
            match res {
                R::InputEmpty if at_end || !eof => {
                    if at_end {
                        // Nothing was left: a record without fields.
                        self.n_fields = 0;
                        return Some((taken, true));
                    }
                    return None;
                }
                R::InputEmpty => at_end = true,
                R::OutputFull => {
                    let n = self.out.len() * 2;
                    self.out.resize(n, 0);
                }
                R::OutputEndsFull => {
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                R::Record | R::End => {
                    // Field ends are relative to the output of each call:
                    // csv-core keeps them absolute within one record.
                    self.n_fields = nends;
                    return Some((taken, at_end));
                }
            }
        }
    }

    /// The fields of the record parsed last: their bytes (quotes removed)
    /// and where each ends in them.
    pub(crate) fn fields(&self) -> (&[u8], &[usize]) {
        let ends = &self.ends[..self.n_fields];
        let len = ends.last().copied().unwrap_or(0);
        (&self.out[..len], ends)
    }
}

/// Where the complete records of a buffer end.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Cut {
    /// The bytes of the complete records (the rest waits for more input).
    pub end: usize,
    /// When a record has a quote: the end of every record, in order;
    /// `None`: every line is a record.
    pub records: Option<Vec<usize>>,
    /// The ends of the records (each a single line) whose quoted field
    /// never closed: by the end of the input, or within
    /// [`MAX_RECORD_BYTES`]; reading goes on at the next line.
    pub unclosed: Vec<usize>,
    /// A NUL byte lies in the complete records.
    pub has_nul: bool,
}

/// Cut a buffer that starts at a record into complete records. With
/// `eof`, the buffer is the rest of the input and every byte belongs to a
/// record. `Err(offset)`: a line longer than [`MAX_RECORD_BYTES`]
/// without a line end starts at `offset`.
pub(crate) fn cut_records(
    buf: &[u8],
    eof: bool,
    parser: &mut QuotedParser,
) -> std::result::Result<Cut, usize> {
    // Most buffers hold neither a quote nor a NUL: one pass finds out.
    let special = memchr::memchr2(b'"', 0, buf).is_some();
    if !special || memchr::memchr(b'"', buf).is_none() {
        let end = if eof {
            buf.len()
        } else {
            memchr::memrchr(b'\n', buf).map_or(0, |i| i + 1)
        };
        if end == 0 && buf.len() > MAX_RECORD_BYTES {
            return Err(0);
        }
        return Ok(Cut {
            end,
            records: None,
            unclosed: Vec::new(),
            has_nul: special && memchr::memchr(0, &buf[..end]).is_some(),
        });
    }
    let mut ends = Vec::new();
    let mut unclosed = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let line_end = memchr::memchr(b'\n', &buf[pos..]).map(|i| pos + i + 1);
        let line = &buf[pos..line_end.unwrap_or(buf.len())];
        if memchr::memchr(b'"', line).is_none() {
            match line_end {
                Some(e) => pos = e,
                None if eof => pos = buf.len(),
                None if buf.len() - pos > MAX_RECORD_BYTES => return Err(pos),
                None => break,
            }
            ends.push(pos);
            continue;
        }
        match parser.parse_record(&buf[pos..], eof) {
            // A record ended by the end of the input over a line end holds
            // a quote that never closed, unless a line end after it would
            // have ended it.
            Some((_, true))
                if line_end.is_some_and(|e| e < buf.len())
                    && !closes_with_a_line_end(&buf[pos..], parser) =>
            {
                pos = line_end.unwrap_or(buf.len());
                unclosed.push(pos);
            }
            Some((n, _)) => pos += n,
            None if buf.len() - pos > MAX_RECORD_BYTES => match line_end {
                Some(e) => {
                    pos = e;
                    unclosed.push(pos);
                }
                None => return Err(pos),
            },
            None => break,
        }
        ends.push(pos);
    }
    Ok(Cut {
        end: pos,
        records: Some(ends),
        unclosed,
        has_nul: memchr::memchr(0, &buf[..pos]).is_some(),
    })
}

/// True when `record`, all the input there is, ends outside quotes: a
/// line end added after it ends the record there.
fn closes_with_a_line_end(record: &[u8], parser: &mut QuotedParser) -> bool {
    let mut closed = Vec::with_capacity(record.len() + 1);
    closed.extend_from_slice(record);
    closed.push(b'\n');
    parser.parse(&closed, false) == Some(closed.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(p: &QuotedParser) -> Vec<String> {
        let (bytes, ends) = p.fields();
        let mut start = 0;
        ends.iter()
            .map(|&e| {
                let f = String::from_utf8_lossy(&bytes[start..e]).into_owned();
                start = e;
                f
            })
            .collect()
    }

    #[test]
    fn quoted_records_span_lines_and_match_the_csv_crate() {
        let mut p = QuotedParser::default();
        let text = b"1,\"two\nlines\",\"a \"\"q\"\"\"\r\n2,x\n";
        let n = p.parse(text, false).unwrap();
        assert_eq!(&text[n..], b"2,x\n");
        assert_eq!(fields(&p), vec!["1", "two\nlines", "a \"q\"\r"]);
        // The csv crate reads the same fields (it ends records at \r too,
        // which this parser leaves in the field).
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(&text[..]);
        let rec = r.records().next().unwrap().unwrap();
        assert_eq!(
            rec.iter().collect::<Vec<_>>(),
            vec!["1", "two\nlines", "a \"q\""]
        );
        // Incomplete without eof; complete at eof.
        assert_eq!(p.parse(b"1,\"open\n", false), None);
        assert_eq!(p.parse(b"1,\"a\"", false), None);
        assert_eq!(p.parse(b"1,\"a\"", true), Some(5));
        assert_eq!(fields(&p), vec!["1", "a"]);
        // A quote inside an unquoted field is a character.
        assert_eq!(p.parse(b"a\"b,c\n", false), Some(6));
        assert_eq!(fields(&p), vec!["a\"b", "c"]);
        // Fields wider than the first output buffer.
        let wide = format!("\"{}\",1\n", "x".repeat(10_000));
        assert_eq!(p.parse(wide.as_bytes(), false), Some(wide.len()));
        assert_eq!(fields(&p)[0].len(), 10_000);
        let many = format!("{}\n", vec!["\"1\""; 300].join(","));
        p.parse(many.as_bytes(), false).unwrap();
        assert_eq!(fields(&p).len(), 300);
    }

    #[test]
    fn cuts_fall_between_records() {
        let mut p = QuotedParser::default();
        let plain = b"a,b\nc,d\ne,";
        assert_eq!(cut_records(plain, false, &mut p).unwrap().end, 8);
        assert_eq!(cut_records(plain, true, &mut p).unwrap().end, 10);
        let quoted = b"a,\"x\ny\"\nc,d\ne,\"open\nf";
        let cut = cut_records(quoted, false, &mut p).unwrap();
        assert_eq!(cut.end, 12);
        assert_eq!(cut.records, Some(vec![8, 12]));
        // At the end of the input the open quote is unclosed: its line is
        // a malformed record and the next line is read again.
        let cut = cut_records(quoted, true, &mut p).unwrap();
        assert_eq!(cut.records, Some(vec![8, 12, 20, 21]));
        assert_eq!(cut.unclosed, vec![20]);
        assert_eq!(cut.end, quoted.len());
        // A quoted line end in the last record, closed, without a line
        // end after it: a whole record.
        let last = b"a,b\nc,\"x\ny\"";
        let cut = cut_records(last, true, &mut p).unwrap();
        assert_eq!((cut.records, cut.unclosed), (Some(vec![4, 11]), vec![]));
        let last = b"a,b\nc,\"x\ny\"\n";
        let cut = cut_records(last, true, &mut p).unwrap();
        assert_eq!((cut.records, cut.unclosed), (Some(vec![4, 12]), vec![]));
        // A line without end longer than the limit is an error.
        let long = vec![b'x'; MAX_RECORD_BYTES + 2];
        assert_eq!(cut_records(&long, false, &mut p), Err(0));
    }
}
