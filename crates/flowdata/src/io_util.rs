//! Atomic writes and JSON helpers.

use std::io::Write;
use std::path::Path;

use atomicfile::AtomicFile;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{FlowDataError, Result};

/// Write through a closure into an [`atomicfile::AtomicFile`] beside
/// `path` (buffered, fsynced, renamed onto `path`, its directory fsynced),
/// so that a failure or a kill never leaves a half-written file behind;
/// the temporary file is removed on failure.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut AtomicFile) -> Result<()>) -> Result<()> {
    let mut file = AtomicFile::create(path).map_err(|e| FlowDataError::io(path, e))?;
    write(&mut file)?;
    file.commit().map_err(|e| FlowDataError::io(path, e))
}

/// Serialise a value as pretty JSON, atomically.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value).map_err(|source| FlowDataError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        w.write_all(b"\n").map_err(|e| FlowDataError::io(path, e))
    })
}

/// Read a JSON value from a file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| FlowDataError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|source| FlowDataError::Json {
        path: path.to_path_buf(),
        source,
    })
}
