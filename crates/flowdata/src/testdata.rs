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
