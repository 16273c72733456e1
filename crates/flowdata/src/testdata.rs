//! Locating the shared real-data folder for tests, benches and examples.

use std::path::PathBuf;

/// The environment variable naming the real-data folder.
pub const DATA_DIR_VAR: &str = "NIDS_DATA_DIR";
/// When this variable is `1`, a missing data folder is a failure, not a skip.
pub const REQUIRE_DATA_VAR: &str = "NIDS_REQUIRE_DATA";

/// The real-data folder: `$NIDS_DATA_DIR`, or `../shared/data` beside the
/// workspace. Returns `None` (after printing that the caller is skipped)
/// when it does not exist.
///
/// # Panics
/// When the folder is absent and `NIDS_REQUIRE_DATA=1` is set: continuous
/// integration always has the data, so a missing folder there is a failure
/// to be seen rather than a silent skip.
pub fn shared_data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os(DATA_DIR_VAR) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var(REQUIRE_DATA_VAR).is_ok_and(|v| v == "1") {
        panic!(
            "{REQUIRE_DATA_VAR}=1 but the real-data folder {} does not exist (set {DATA_DIR_VAR})",
            dir.display()
        );
    }
    eprintln!(
        "skipped: real-data folder {} not found (set {DATA_DIR_VAR})",
        dir.display()
    );
    None
}

/// A path inside the real-data folder, or `None` (with the same skip and
/// failure rules as [`shared_data_dir`]) when that path is absent.
pub fn shared_data_path(relative: &str) -> Option<PathBuf> {
    let path = shared_data_dir()?.join(relative);
    if path.exists() {
        return Some(path);
    }
    if std::env::var(REQUIRE_DATA_VAR).is_ok_and(|v| v == "1") {
        panic!("{REQUIRE_DATA_VAR}=1 but {} does not exist", path.display());
    }
    eprintln!("skipped: {} not found", path.display());
    None
}

/// A reader that hands its bytes out in pieces of the given sizes (in
/// turn), sleeping the given pauses (in turn) before each: standard input
/// fed by a slow producer, for tests of stream readers.
///
/// ```
/// use std::io::Read;
/// let mut r = flowdata::testdata::Trickle::new(b"abcdef".to_vec(), vec![4, 1], vec![0]);
/// let mut buf = [0u8; 8];
/// assert_eq!(r.read(&mut buf).unwrap(), 4);
/// assert_eq!(r.read(&mut buf).unwrap(), 1);
/// let mut rest = Vec::new();
/// r.read_to_end(&mut rest).unwrap();
/// assert_eq!(rest, b"f");
/// ```
pub struct Trickle {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    pauses_us: Vec<u64>,
    calls: usize,
}

impl Trickle {
    /// `data` in pieces of `sizes` bytes (at least 1), after pauses of
    /// `pauses_us` microseconds; empty lists mean whole reads and no pause.
    pub fn new(data: Vec<u8>, sizes: Vec<usize>, pauses_us: Vec<u64>) -> Trickle {
        Trickle {
            data,
            pos: 0,
            sizes,
            pauses_us,
            calls: 0,
        }
    }
}

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.data.len() {
            return Ok(0);
        }
        let k = self.calls;
        self.calls += 1;
        if let Some(&pause) = self.pauses_us.get(k % self.pauses_us.len().max(1))
            && pause > 0
        {
            std::thread::sleep(std::time::Duration::from_micros(pause));
        }
        let size = self
            .sizes
            .get(k % self.sizes.len().max(1))
            .copied()
            .unwrap_or(usize::MAX)
            .max(1);
        let n = size.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A memory figure of this process from `/proc/self/status`, in KiB:
/// `"VmRSS:"` (resident now) or `"VmHWM:"` (the peak); `None` where the
/// file is absent (not Linux).
pub fn process_memory_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Reset this process's peak resident memory (`VmHWM`) to its current
/// size (Linux 4.0 and later); false where that is not possible.
pub fn reset_peak_memory() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}
