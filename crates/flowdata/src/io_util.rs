//! Atomic writes and JSON helpers.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{FlowDataError, Result};

/// Write through a closure into a temporary file in `path`'s directory
/// (`tempfile::NamedTempFile`, a unique name per call), fsync it, then
/// rename it onto `path`, so that a failure or a kill never leaves a
/// half-written file behind; the temporary file is removed on failure.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| FlowDataError::io(dir, e))?;
    let (file, tmp_path) = tmp.into_parts();
    let mut w = BufWriter::new(file);
    write(&mut w)?;
    let file = w
        .into_inner()
        .map_err(|e| FlowDataError::io(path, e.into_error()))?;
    file.sync_all().map_err(|e| FlowDataError::io(path, e))?;
    drop(file);
    tmp_path
        .persist(path)
        .map_err(|e| FlowDataError::io(path, e.error))?;
    Ok(())
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
