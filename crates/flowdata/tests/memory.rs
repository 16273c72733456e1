//! Reading streams in blocks: peak memory while loading a raw CSV stays
//! under 1.5 times the final f32 matrix. Alone in its own test binary so
//! that the process's peak is this test's peak.

#[cfg(target_os = "linux")]
#[test]
fn loading_keeps_peak_memory_near_the_final_matrix() {
    use flowdata::synth::{SynthConfig, write_csv};
    use flowdata::testdata::{process_memory_kib, reset_peak_memory};
    use flowdata::{ReadOptions, read_flows};

    let status = |key: &str| process_memory_kib(key).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.csv");
    write_csv(
        &SynthConfig {
            rows: 400_000,
            seed: 8,
            ..Default::default()
        },
        &path,
    )
    .unwrap();
    let file_kib = std::fs::metadata(&path).unwrap().len() / 1024;
    // Reset the peak-RSS counter (Linux >= 4.0), then measure from here.
    if !reset_peak_memory() {
        eprintln!("skipped: cannot reset the peak-RSS counter here");
        return;
    }
    let base = status("VmRSS:");
    let (frame, report) = read_flows(&[&path], &ReadOptions::default()).unwrap();
    let peak = status("VmHWM:") - base;
    let matrix_kib = (frame.n_rows() * frame.n_features() * 4 / 1024) as u64;
    eprintln!(
        "file {file_kib} KiB, rows {}, matrix {matrix_kib} KiB, peak growth {peak} KiB ({:.2}x)",
        report.rows_kept(),
        peak as f64 / matrix_kib as f64
    );
    assert!(frame.n_rows() > 350_000);
    assert!(
        (peak as f64) < 1.5 * matrix_kib as f64,
        "peak {peak} KiB against a {matrix_kib} KiB matrix"
    );
}
