//! An endless stream is read with bounded memory: 96 MiB of flows through
//! the live reader grow the process's peak by a few blocks, not by the
//! stream. Alone in its own test binary so that the process's peak is this
//! test's peak.

use std::io::Read;
use std::time::{Duration, Instant};

use flowdata::testdata::{process_memory_kib, reset_peak_memory};
use flowdata::{FlowReader, ReadOptions, Schema};

/// Rows of flows, generated as they are read, `total` bytes in all.
struct Flows {
    sent: usize,
    total: usize,
    row: u64,
    pending: Vec<u8>,
}

impl Read for Flows {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pending.len() < buf.len() && self.sent + self.pending.len() < self.total {
            let r = self.row;
            self.row += 1;
            // Every 1000th row is malformed, so that skipped rows are listed.
            let line = if r % 1000 == 999 {
                format!("{r},x,{}.5,BENIGN\n", r % 97)
            } else {
                format!(
                    "{r},{},{}.5,{}\n",
                    r % 13,
                    r % 97,
                    ["BENIGN", "DDoS"][(r % 2) as usize]
                )
            };
            self.pending.extend_from_slice(line.as_bytes());
        }
        let n = buf
            .len()
            .min(self.pending.len())
            .min(self.total - self.sent);
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        self.sent += n;
        Ok(n)
    }
}

#[cfg(target_os = "linux")]
#[test]
fn an_endless_stream_is_read_with_bounded_memory() {
    let status = |key: &str| process_memory_kib(key).unwrap();
    if !reset_peak_memory() {
        eprintln!("skipped: cannot reset the peak-RSS counter here");
        return;
    }
    let total = 96 << 20;
    let stream = Flows {
        sent: 0,
        total,
        row: 0,
        pending: b"Flow Duration,Total Fwd Packets,Flow Bytes/s,Label\n".to_vec(),
    };
    let options = ReadOptions::for_scoring(
        Schema::cicids2017().retain_features(&[
            "Flow Duration",
            "Total Fwd Packets",
            "Flow Bytes/s",
        ]),
        None,
    );
    let base = status("VmRSS:");
    let mut reader = FlowReader::from_reader("<stdin>", stream, &options).unwrap();
    let (mut rows, mut skipped, mut chunks) = (0usize, 0usize, 0usize);
    let started = Instant::now();
    while let Some(chunk) = reader
        .next_chunk_by(Instant::now() + Duration::from_millis(20))
        .unwrap()
    {
        rows += chunk.n_rows();
        chunks += 1;
        skipped += reader.take_skipped_rows().len();
        assert!(started.elapsed() < Duration::from_secs(600));
    }
    let peak = status("VmHWM:").saturating_sub(base);
    eprintln!(
        "{} MiB streamed: {rows} rows in {chunks} chunks, {skipped} skipped, peak growth {peak} KiB",
        total >> 20
    );
    assert!(rows > 2_000_000, "{rows} rows");
    assert_eq!(skipped as u64, reader.report().dropped().malformed);
    assert!(chunks > 1);
    assert!(
        peak < 64 << 10,
        "peak growth {peak} KiB for a 96 MiB stream"
    );
}
