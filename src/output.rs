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
//! Single files are written whole or not at all too ([`write_atomic`],
//! through the `atomicfile` crate).

use std::path::{Path, PathBuf};

use crate::error::{PipelineError, Result};

/// A fixed point of a run ([`crate::pipeline::run_with_checkpoints`]).
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

/// Write a value as pretty JSON, whole or not at all.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).map_err(|source| PipelineError::json(path, source))?;
    write_atomic(path, text.as_bytes())
}

/// Write `bytes` to `path` whole or not at all ([`atomicfile::write`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    atomicfile::write(path, bytes).map_err(|e| PipelineError::io(path, e))
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
}
