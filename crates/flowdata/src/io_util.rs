//! Atomic writes and JSON helpers.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{FlowDataError, Result};

/// A temporary sibling of `path` that is renamed onto it by [`commit`].
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Write through a closure into a temporary file, then rename it onto
/// `path`, so that a failure never leaves a half-written file behind.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let file = File::create(&tmp).map_err(|e| FlowDataError::io(&tmp, e))?;
        let mut w = BufWriter::new(file);
        write(&mut w)?;
        let file = w
            .into_inner()
            .map_err(|e| FlowDataError::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| FlowDataError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| FlowDataError::io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
