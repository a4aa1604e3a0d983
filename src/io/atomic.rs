//! Atomic output: write to a temporary file beside the destination, then rename.
//!
//! A crash or an error mid-write leaves the temporary file (removed on drop) and never a
//! truncated file at the destination.

use crate::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically: temporary file in the same folder, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Writes through `fill` into a temporary file beside `path`, then renames it into place.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<()> {
    let not_writable = |source| Error::OutputNotWritable {
        path: path.to_path_buf(),
        source,
    };
    let tmp = temp_path(path);
    let guard = TempGuard(tmp.clone());
    let mut file = std::fs::File::create(&tmp).map_err(not_writable)?;
    fill(&mut file).map_err(not_writable)?;
    file.sync_all().map_err(not_writable)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(not_writable)?;
    std::mem::forget(guard);
    Ok(())
}

/// Prepares an output folder: creates it if missing, refuses to touch existing `files` in it
/// unless `force`, and checks that it is writable.
pub fn prepare_output_dir(dir: &Path, files: &[&str], force: bool) -> Result<()> {
    if !force {
        for f in files {
            let p = dir.join(f);
            if p.exists() {
                return Err(Error::OutputExists { path: p });
            }
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::OutputNotWritable {
        path: dir.to_path_buf(),
        source,
    })?;
    let probe = dir.join(format!(".voxdose-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|source| Error::OutputNotWritable {
        path: dir.to_path_buf(),
        source,
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Atomic output for writers that insist on opening the file themselves (by path): `write`
/// is given a temporary path beside `path` ending in `suffix` (e.g. ".nii.gz", for writers
/// that pick the format from the name), which is then renamed into place.
pub fn write_atomic_via_temp_path(
    path: &Path,
    suffix: &str,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<()> {
    let not_writable = |source| Error::OutputNotWritable {
        path: path.to_path_buf(),
        source,
    };
    // No dots before `suffix`: such writers re-derive the extension from the last dots.
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().replace('.', "_"))
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}_partial-{}{suffix}", std::process::id()));
    let guard = TempGuard(tmp.clone());
    write(&tmp).map_err(not_writable)?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(not_writable)?;
    std::fs::rename(&tmp, path).map_err(not_writable)?;
    std::mem::forget(guard);
    Ok(())
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

struct TempGuard(PathBuf);

impl Drop for TempGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dose.nii.gz");
        std::fs::write(&p, b"good").unwrap();
        let r = write_atomic_with(&p, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"good");
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "temporary file must be removed");
    }

    #[test]
    fn existing_output_is_refused_without_force() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("summary.json"), b"{}").unwrap();
        let e = prepare_output_dir(dir.path(), &["summary.json"], false).unwrap_err();
        assert_eq!(e.exit_code(), 5);
        prepare_output_dir(dir.path(), &["summary.json"], true).unwrap();
    }
}
