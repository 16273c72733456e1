#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// A file being written beside its target, renamed onto it by
/// [`AtomicFile::commit`]; removed when dropped uncommitted.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    file: BufWriter<NamedTempFile>,
}

/// The directory of `path` (`.` for a bare file name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `error` with the path it concerns in its message.
fn at(path: &Path, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

impl AtomicFile {
    /// Open a temporary file in `path`'s directory, named
    /// `.<name>.tmp-<random>.<extension>`.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        let target = path.as_ref().to_path_buf();
        let dir = parent_of(&target);
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let suffix = target
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        let file = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp-"))
            .suffix(&suffix)
            .tempfile_in(dir)
            .map_err(|e| at(dir, e))?;
        Ok(AtomicFile {
            target,
            file: BufWriter::new(file),
        })
    }

    /// The file this one replaces when committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary file's path, for writers that open a path themselves;
    /// its name ends with the target's extension.
    pub fn temp_path(&self) -> &Path {
        self.file.get_ref().path()
    }

    /// Flush and fsync the file, rename it onto the target, fsync the
    /// directory.
    pub fn commit(self) -> io::Result<()> {
        let target = self.target;
        let tmp = self
            .file
            .into_inner()
            .map_err(|e| at(&target, e.into_error()))?;
        tmp.as_file().sync_all().map_err(|e| at(&target, e))?;
        tmp.persist(&target).map_err(|e| at(&target, e.error))?;
        sync_dir(parent_of(&target))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Fsync a directory, so that a rename into it survives a crash (a no-op
/// where directories cannot be opened as files).
fn sync_dir(dir: &Path) -> io::Result<()> {
    if cfg!(unix) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| at(dir, e))?;
    }
    Ok(())
}

/// Write `bytes` to `path` whole or not at all.
pub fn write(path: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_an_uncommitted_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("report.md");
        write(&p, b"one").unwrap();
        write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let mut half = AtomicFile::create(dir.path().join("plot.png")).unwrap();
        assert!(half.temp_path().to_string_lossy().ends_with(".png"));
        assert!(
            half.temp_path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".plot.png.tmp-")
        );
        half.write_all(b"half").unwrap();
        drop(half);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["report.md"], "the uncommitted file is gone");
    }

    #[test]
    fn a_bare_file_name_is_written_in_the_working_directory_and_errors_name_the_path() {
        let err = write("/nonexistent-dir-of-atomicfile/x.json", b"{}").unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent-dir-of-atomicfile"),
            "{err}"
        );
        assert_eq!(parent_of(Path::new("x.json")), Path::new("."));
    }
}
