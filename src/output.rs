//! The run directory is never half-written: a run writes into a fresh
//! temporary sibling of the target (`.<name>.partial-<pid>-<random>`) and
//! renames it into place at the end, so that the target is always either
//! absent or one whole run. A non-empty target is refused unless the run
//! may overwrite it; the previous run is then moved aside
//! (`.<name>.old-<pid>-<random>`) just before the rename and removed after.
//!
//! A run killed on the way leaves its temporary sibling behind. The next
//! run into the same target removes those whose process is gone (checked
//! through `/proc`) and reports the ones it cannot tell about or that
//! belong to a live process, in the report's notes.
//!
//! Single files are written the same way: [`write_atomic`] goes through a
//! `tempfile::NamedTempFile` in the target's directory, fsynced and
//! persisted (renamed) onto the target.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{PipelineError, Result};

/// A fixed point of a run, where [`StopHook`] can stop it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunPoint {
    /// After the ingest stage (schema, bounds written).
    Ingested,
    /// After the autoencoders are trained and saved.
    AutoencodersTrained,
    /// After the PPO policies are trained and saved.
    PoliciesTrained,
    /// After `report.json` and `report.md` are written, before the rename.
    ReportWritten,
}

/// What a [`StopHook`] does when the run reaches its point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookAction {
    /// Return [`PipelineError::Stopped`] and leave the temporary directory
    /// behind, as a kill at that point would.
    Stop,
    /// Print `nids: stopped at <point>` on standard error and sleep until
    /// the process is killed (for tests that kill a child process).
    Hang,
}

/// A test hook: stop a run at a fixed point, to check what an interrupted
/// run leaves behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StopHook {
    /// Where to stop.
    pub at: RunPoint,
    /// How.
    pub action: HookAction,
}

/// The temporary directory a run writes into, renamed onto the target by
/// [`RunDir::commit`]; removed when dropped uncommitted (an error).
#[derive(Debug)]
pub struct RunDir {
    target: PathBuf,
    staging: PathBuf,
    overwrite: bool,
    /// Stale temporary directories found beside the target: removed, or
    /// left alone with the reason.
    pub stale: Vec<String>,
    keep: bool,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PipelineError + '_ {
    move |e| PipelineError::io(path, e)
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Whether process `pid` is alive: `Some` where `/proc` tells, `None`
/// where it cannot be known.
fn process_alive(pid: u32) -> Option<bool> {
    if !Path::new("/proc/self").exists() {
        return None;
    }
    Some(Path::new("/proc").join(pid.to_string()).exists())
}

impl RunDir {
    /// Prepare a run into `target`: refuse a non-empty target unless
    /// `overwrite`, clean up or report stale temporary siblings, and create
    /// the temporary directory.
    pub fn begin(target: &Path, overwrite: bool) -> Result<RunDir> {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                PipelineError::config(
                    "out",
                    target.display(),
                    "the output directory needs a name (not `/` or `..`)",
                )
            })?;
        check_target(target, overwrite)?;
        let parent = parent_of(target);
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        let stale = clean_stale(parent, &name)?;
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{name}.partial-{}-", std::process::id()))
            .tempdir_in(parent)
            .map_err(io(parent))?
            .keep();
        Ok(RunDir {
            target: target.to_path_buf(),
            staging,
            overwrite,
            stale,
            keep: false,
        })
    }

    /// The directory the run writes into.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Run the hook if the run has reached its point.
    pub fn checkpoint(&mut self, hook: Option<StopHook>, point: RunPoint) -> Result<()> {
        match hook {
            Some(h) if h.at == point => match h.action {
                HookAction::Stop => {
                    self.keep = true;
                    Err(PipelineError::Stopped {
                        point: format!("{point:?}"),
                        staging: self.staging.clone(),
                    })
                }
                HookAction::Hang => {
                    eprintln!("nids: stopped at {point:?} ({})", self.staging.display());
                    loop {
                        std::thread::sleep(std::time::Duration::from_secs(3600));
                    }
                }
            },
            _ => Ok(()),
        }
    }

    /// Rename the finished run onto the target (moving a previous run aside
    /// first, then removing it).
    pub fn commit(mut self) -> Result<()> {
        check_target(&self.target, self.overwrite)?;
        let parent = parent_of(&self.target).to_path_buf();
        let mut previous = None;
        if self.target.is_dir() {
            if is_empty_dir(&self.target)? {
                std::fs::remove_dir(&self.target).map_err(io(&self.target))?;
            } else {
                let name = self
                    .target
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                // A unique name for the previous run, reserved by creating it.
                let old = tempfile::Builder::new()
                    .prefix(&format!(".{name}.old-{}-", std::process::id()))
                    .tempdir_in(&parent)
                    .map_err(io(&parent))?
                    .keep();
                std::fs::remove_dir(&old).map_err(io(&old))?;
                std::fs::rename(&self.target, &old).map_err(io(&self.target))?;
                previous = Some(old);
            }
        }
        std::fs::rename(&self.staging, &self.target).map_err(io(&self.target))?;
        self.keep = true;
        if let Some(old) = previous {
            std::fs::remove_dir_all(&old).map_err(io(&old))?;
        }
        Ok(())
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

fn is_empty_dir(path: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(path).map_err(io(path))?.next().is_none())
}

/// A target that is a file, or a non-empty directory without `overwrite`,
/// is refused.
fn check_target(target: &Path, overwrite: bool) -> Result<()> {
    match std::fs::metadata(target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(PipelineError::io(target, e)),
        Ok(m) if !m.is_dir() => Err(PipelineError::OutputNotEmpty {
            path: target.to_path_buf(),
            what: "is a file, not a directory: choose another --out".into(),
        }),
        Ok(_) if overwrite || is_empty_dir(target)? => Ok(()),
        Ok(_) => Err(PipelineError::OutputNotEmpty {
            path: target.to_path_buf(),
            what: format!(
                "is not empty ({} entries): pass --overwrite to replace it, or choose another --out",
                std::fs::read_dir(target).map_err(io(target))?.count()
            ),
        }),
    }
}

/// Remove the temporary siblings of `name` in `parent` left by runs whose
/// process is gone; describe each one found.
fn clean_stale(parent: &Path, name: &str) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let prefixes = [format!(".{name}.partial-"), format!(".{name}.old-")];
    for entry in std::fs::read_dir(parent).map_err(io(parent))? {
        let entry = entry.map_err(io(parent))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = prefixes
            .iter()
            .find_map(|p| file_name.strip_prefix(p.as_str()))
        else {
            continue;
        };
        let path = entry.path();
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        match pid.map(|p| (p, process_alive(p))) {
            Some((pid, Some(false))) => {
                std::fs::remove_dir_all(&path).map_err(io(&path))?;
                notes.push(format!(
                    "removed {}, a temporary directory left by an interrupted run (process {pid}, no longer running)",
                    path.display()
                ));
            }
            Some((pid, Some(true))) => notes.push(format!(
                "left {} alone: it belongs to process {pid}, which is still running (another run into the same directory, or an interrupted one in this process)",
                path.display()
            )),
            _ => notes.push(format!(
                "found {}, a temporary directory left by an interrupted run; whether its process is gone cannot be told here: remove it by hand",
                path.display()
            )),
        }
    }
    notes.sort();
    Ok(notes)
}

/// Write a file through a temporary file in its directory: `write` fills
/// the temporary path (its name ends with `path`'s extension, so that
/// writers that pick a format from it work), which is then fsynced and
/// renamed onto `path`. On failure the temporary file is removed and
/// `path` is untouched.
pub fn write_through_temp(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = parent_of(path);
    let suffix = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .suffix(&suffix)
        .tempfile_in(dir)
        .map_err(io(dir))?;
    write(tmp.path())?;
    tmp.as_file().sync_all().map_err(io(path))?;
    tmp.persist(path)
        .map_err(|e| PipelineError::io(path, e.error))?;
    Ok(())
}

/// Write `bytes` to `path` atomically (see [`write_through_temp`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_of(path);
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
    tmp.write_all(bytes).map_err(io(path))?;
    tmp.as_file().sync_all().map_err(io(path))?;
    tmp.persist(path)
        .map_err(|e| PipelineError::io(path, e.error))?;
    Ok(())
}

/// The files of an input path (a file, or the CSV, Parquet and Arrow
/// files of a directory, sorted), each with its size and SHA-256.
pub fn describe_inputs(path: &Path) -> Result<Vec<crate::detector::InputFile>> {
    use sha2::{Digest, Sha256};
    let mut files = Vec::new();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).map_err(io(path))? {
            let p = entry.map_err(io(path))?.path();
            let known = p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                ["csv", "parquet", "arrow", "ipc"].contains(&e.to_ascii_lowercase().as_str())
            });
            if p.is_file() && known {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    files
        .into_iter()
        .map(|f| {
            let mut file = std::fs::File::open(&f).map_err(io(&f))?;
            let mut hasher = Sha256::new();
            let bytes = std::io::copy(&mut file, &mut hasher).map_err(io(&f))?;
            let digest = hasher.finalize();
            Ok(crate::detector::InputFile {
                path: f.display().to_string(),
                bytes,
                sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_run_directory_appears_whole_or_not_at_all() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("run");
        let run = RunDir::begin(&target, false).unwrap();
        std::fs::write(run.path().join("report.json"), "{}").unwrap();
        assert!(!target.exists(), "nothing at the target before the commit");
        run.commit().unwrap();
        assert_eq!(names(&target), vec!["report.json"]);
        assert_eq!(names(root.path()), vec!["run"]);

        // A second run is refused without overwrite, naming the directory.
        let err = RunDir::begin(&target, false).unwrap_err().to_string();
        assert!(
            err.contains("run") && err.contains("not empty") && err.contains("--overwrite"),
            "{err}"
        );
        // With overwrite, the old files go and the new ones come, together.
        let run = RunDir::begin(&target, true).unwrap();
        std::fs::write(run.path().join("report.md"), "new").unwrap();
        assert_eq!(names(&target), vec!["report.json"]);
        run.commit().unwrap();
        assert_eq!(names(&target), vec!["report.md"]);
        assert_eq!(names(root.path()), vec!["run"]);

        // A failed run (dropped uncommitted) leaves nothing behind.
        let run = RunDir::begin(&target, true).unwrap();
        std::fs::write(run.path().join("x"), "half").unwrap();
        drop(run);
        assert_eq!(names(root.path()), vec!["run"]);
        assert_eq!(names(&target), vec!["report.md"]);

        // A file as the target is refused.
        std::fs::write(root.path().join("file"), "x").unwrap();
        let err = RunDir::begin(&root.path().join("file"), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a file"), "{err}");
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed_and_others_reported() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        // A pid that cannot be running (above the kernel's pid_max limit).
        let dead = root.path().join(".out.partial-4194305-abc");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("report.json"), "{").unwrap();
        let live = root
            .path()
            .join(format!(".out.old-{}-xyz", std::process::id()));
        std::fs::create_dir(&live).unwrap();
        let other = root.path().join(".other.partial-4194305-abc");
        std::fs::create_dir(&other).unwrap();
        let run = RunDir::begin(&target, false).unwrap();
        if Path::new("/proc/self").exists() {
            assert!(!dead.exists());
            assert!(
                run.stale
                    .iter()
                    .any(|n| n.starts_with("removed") && n.contains(".out.partial-4194305-abc"))
            );
        }
        assert!(live.exists(), "a live process's directory is left alone");
        assert!(run.stale.iter().any(|n| n.contains(".out.old-")));
        assert!(
            other.exists(),
            "another target's temporaries are not touched"
        );
        assert_eq!(run.stale.len(), 2);
    }

    #[test]
    fn atomic_writes_replace_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("report.md");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let err = write_through_temp(&dir.path().join("plot.png"), |tmp| {
            assert!(tmp.to_string_lossy().ends_with(".png"));
            std::fs::write(tmp, b"half").unwrap();
            Err(PipelineError::Unsupported("drawing failed".into()))
        });
        assert!(err.is_err());
        assert_eq!(names(dir.path()), vec!["report.md"]);
    }
}
