//! All-or-nothing output folders: every command that writes a folder of results (`run`,
//! `fit`, `bed`, `pbpk simulate`, `trial`) writes it through an [`OutputFolder`].
//!
//! 1. **Lock.** `PARENT/.NAME.voxdose-lock` (the process id and the time) is created
//!    exclusively; a second voxdose on the same `--out` is refused ([`Error::OutputLocked`],
//!    exit 61). A lock whose process no longer runs (a killed run) is taken over, with a note.
//! 2. **Recovery.** Leftovers of a killed run are cleared: staging folders are removed, and an
//!    old folder set aside by the two-rename fallback (step 5) is put back when `--out` is
//!    missing (the kill came between the two renames), else removed.
//! 3. **Check.** Without `--force`, a file the command writes (its names, or its patterns such
//!    as `tac_c*` for per-cycle files) already in `--out` is refused (exit 5).
//! 4. **Stage.** The command writes into `PARENT/.NAME.voxdose-tmp-PID`. What `--out` holds
//!    besides the command's own files (other commands' outputs, the user's notes, the fit
//!    cache `cache/`) is carried into the staging folder first by hard links (copies where
//!    links fail), so the old folder is never changed; with `--force` the command's own old
//!    files are not carried, so the new folder holds the new set only, never a mix.
//! 5. **Commit.** The staging folder and `--out` are swapped in one atomic step (Linux
//!    `renameat2(RENAME_EXCHANGE)`), then the old contents are removed. Where the exchange is
//!    not available, `--out` is renamed aside (`.NAME.voxdose-old-PID`) and the staging folder
//!    renamed into its place: between those two renames (microseconds) `--out` does not exist,
//!    and a run killed exactly there leaves the complete old folder aside, which the next
//!    voxdose on that `--out` puts back (step 2). A new folder is one rename.
//!
//! So whenever a command is killed (SIGKILL, power loss after the file system's journal) or
//! fails (disk full), `--out` holds either its complete old contents or the complete new set.
//!
//! **Failpoints** (tests only): `VOXDOSE_OUT_FAILPOINT=staged|swapped|aside` aborts the
//! process just before the commit, after the swap (old contents not yet removed), or between
//! the fallback's two renames; `VOXDOSE_OUT_NO_EXCHANGE=1` forces the fallback.

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// What a command writes into its folder: exact file names and patterns with one `*` (for
/// per-cycle and per-region files).
#[derive(Clone, Copy, Debug)]
pub struct OutputSet<'a> {
    /// File names the command always writes.
    pub files: &'a [&'a str],
    /// Patterns of the files it may write, `*` matching any text (`tac_c*`).
    pub patterns: &'a [&'a str],
}

impl OutputSet<'_> {
    /// True when `name` is one of the set's files or matches one of its patterns.
    pub fn owns(&self, name: &str) -> bool {
        self.files.contains(&name) || self.patterns.iter().any(|p| matches_pattern(p, name))
    }
}

fn matches_pattern(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        Some((head, tail)) => {
            name.len() >= head.len() + tail.len() && name.starts_with(head) && name.ends_with(tail)
        }
        None => pattern == name,
    }
}

/// An output folder being written (see the module doc): write into [`OutputFolder::path`],
/// then [`OutputFolder::commit`]. Dropped without a commit (an error), the staging folder is
/// removed and `--out` is as it was.
pub struct OutputFolder {
    out: PathBuf,
    staging: PathBuf,
    notes: Vec<String>,
    committed: bool,
    _lock: OutLock,
}

impl OutputFolder {
    /// Locks `out`, recovers a killed run's leftovers, checks for existing outputs of `set`
    /// (unless `force`) and prepares the staging folder.
    pub fn begin(out: &Path, set: OutputSet<'_>, force: bool) -> Result<OutputFolder> {
        let (parent, name) = split_out(out)?;
        create_dir_all(&parent)?;
        let parent = parent
            .canonicalize()
            .map_err(|e| not_writable(&parent, e))?;
        let out = parent.join(&name);
        if out.exists() && !out.is_dir() {
            return Err(not_writable(
                &out,
                std::io::Error::other("it is a file, not a folder; give a folder to --out"),
            ));
        }
        let lock = OutLock::take(&parent, &name, &out)?;
        let mut notes = lock.note.clone().into_iter().collect::<Vec<_>>();
        notes.extend(recover(&parent, &name, &out)?);
        if !force {
            refuse_existing(&out, set)?;
        }
        let staging = parent.join(format!(".{name}.voxdose-tmp-{}", std::process::id()));
        create_dir_all(&staging)?;
        let folder = OutputFolder {
            out: out.clone(),
            staging,
            notes,
            committed: false,
            _lock: lock,
        };
        if out.is_dir() {
            carry_over(&out, &folder.staging, set, force)?;
        }
        Ok(folder)
    }

    /// The folder to write into (the staging folder until the commit).
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The final folder (`--out`, made absolute).
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// What was recovered or taken over on the way in, for the log.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Puts the staged folder in place of `--out` (module doc, step 5).
    pub fn commit(mut self) -> Result<()> {
        sync_tree(&self.staging);
        failpoint("staged");
        if self.out.exists() {
            self.swap_in()?;
        } else {
            rename(&self.staging, &self.out)?;
        }
        sync_dir(self.out.parent().unwrap_or(Path::new(".")));
        self.committed = true;
        Ok(())
    }

    /// Replaces the existing `--out` by the staging folder and removes the old contents.
    fn swap_in(&self) -> Result<()> {
        if exchange(&self.staging, &self.out) {
            failpoint("swapped");
            // The staging path now holds the old contents.
            let _ = std::fs::remove_dir_all(&self.staging);
            return Ok(());
        }
        let (parent, name) = split_out(&self.out)?;
        let aside = parent.join(format!(".{name}.voxdose-old-{}", std::process::id()));
        rename(&self.out, &aside)?;
        failpoint("aside");
        if let Err(e) = rename(&self.staging, &self.out) {
            let _ = std::fs::rename(&aside, &self.out);
            return Err(e);
        }
        failpoint("swapped");
        let _ = std::fs::remove_dir_all(&aside);
        Ok(())
    }
}

impl Drop for OutputFolder {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// Aborts the process at the named point when `VOXDOSE_OUT_FAILPOINT` names it (tests of the
/// all-or-nothing commit; see the module doc).
pub fn failpoint(name: &str) {
    if std::env::var("VOXDOSE_OUT_FAILPOINT").is_ok_and(|v| v == name) {
        std::process::abort();
    }
}

/// Atomically exchanges two folders; false where the platform or file system cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> bool {
    if std::env::var_os("VOXDOSE_OUT_NO_EXCHANGE").is_some() {
        return false;
    }
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> bool {
    false
}

/// The parent folder and the folder name of `out`.
fn split_out(out: &Path) -> Result<(PathBuf, String)> {
    let abs = if out.is_absolute() {
        out.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| not_writable(out, e))?
            .join(out)
    };
    let abs = normalise(&abs);
    let name = abs.file_name().map(|n| n.to_string_lossy().into_owned());
    match (abs.parent(), name) {
        (Some(parent), Some(name)) => Ok((parent.to_path_buf(), name)),
        _ => Err(Error::invalid(
            "--out",
            format!(
                "{} has no folder name; give a folder such as results/run1",
                out.display()
            ),
        )),
    }
}

/// Removes `.` and resolves `..` lexically (`out/..` is the parent's parent).
fn normalise(p: &Path) -> PathBuf {
    let mut n = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                n.pop();
            }
            c => n.push(c),
        }
    }
    n
}

/// Refuses when `out` already holds a file of `set` (exit 5).
fn refuse_existing(out: &Path, set: OutputSet<'_>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if set.owns(&name) {
            return Err(Error::OutputExists { path: e.path() });
        }
    }
    Ok(())
}

/// Carries what `out` holds besides the command's own files into `staging` (hard links,
/// copies where links fail); with `force` the command's own old files stay behind. Scratch
/// subfolders of the fit cache (`cache/*/`, elastix work) are not carried.
fn carry_over(out: &Path, staging: &Path, set: OutputSet<'_>, force: bool) -> Result<()> {
    let entries = std::fs::read_dir(out).map_err(|e| not_writable(out, e))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "cache" || !(force && set.owns(&name)) {
            link_tree(&e.path(), &staging.join(&name), name == "cache")?;
        }
    }
    Ok(())
}

fn link_tree(from: &Path, to: &Path, files_only: bool) -> Result<()> {
    let meta = std::fs::symlink_metadata(from).map_err(|e| not_writable(from, e))?;
    if meta.is_dir() {
        create_dir_all(to)?;
        let entries = std::fs::read_dir(from).map_err(|e| not_writable(from, e))?;
        for e in entries.flatten() {
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if !(files_only && is_dir) {
                link_tree(&e.path(), &to.join(e.file_name()), false)?;
            }
        }
        return Ok(());
    }
    if meta.file_type().is_symlink() {
        #[cfg(unix)]
        {
            let target = std::fs::read_link(from).map_err(|e| not_writable(from, e))?;
            return std::os::unix::fs::symlink(target, to).map_err(|e| not_writable(to, e));
        }
    }
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).map_err(|e| not_writable(to, e))?;
    }
    Ok(())
}

/// Clears a killed run's leftovers beside `out` (module doc, step 2); returns notes.
fn recover(parent: &Path, name: &str, out: &Path) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Ok(notes);
    };
    let tmp = format!(".{name}.voxdose-tmp-");
    let old = format!(".{name}.voxdose-old-");
    for e in entries.flatten() {
        let entry = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if entry.starts_with(&old) && !out.exists() {
            rename(&path, out)?;
            notes.push(format!(
                "{} was restored from {} (a run was killed while replacing it)",
                out.display(),
                path.display()
            ));
        } else if entry.starts_with(&old) || entry.starts_with(&tmp) {
            let _ = std::fs::remove_dir_all(&path);
            notes.push(format!(
                "removed {}, left by a run that was killed",
                path.display()
            ));
        }
    }
    Ok(notes)
}

/// The lock on an output folder, `PARENT/.NAME.voxdose-lock`, removed on drop.
struct OutLock {
    path: PathBuf,
    note: Option<String>,
}

impl OutLock {
    fn take(parent: &Path, name: &str, out: &Path) -> Result<OutLock> {
        let path = parent.join(format!(".{name}.voxdose-lock"));
        let text = format!(
            "{}\n{}\n",
            std::process::id(),
            crate::twin::folder::now_utc()
        );
        match create_new(&path, &text) {
            Ok(()) => return Ok(OutLock { path, note: None }),
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(not_writable(&path, e))
            }
            Err(_) => {}
        }
        let held = std::fs::read_to_string(&path).unwrap_or_default();
        let mut lines = held.lines();
        let pid: u32 = lines
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0);
        let since = lines.next().unwrap_or("?").to_string();
        if pid != 0 && pid != std::process::id() && process_alive(pid) {
            return Err(Error::OutputLocked {
                path: out.to_path_buf(),
                lock: path,
                pid,
                since,
            });
        }
        std::fs::remove_file(&path).map_err(|e| not_writable(&path, e))?;
        create_new(&path, &text).map_err(|e| not_writable(&path, e))?;
        let note = format!(
            "took over the lock of {} left by process {pid} ({since}), which no longer runs",
            out.display()
        );
        Ok(OutLock {
            path,
            note: Some(note),
        })
    }
}

impl Drop for OutLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Creates `path` holding `text`, failing when it exists (a lock file), and syncs it.
pub(crate) fn create_new(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// True when process `pid` runs (Linux: `/proc/PID`; elsewhere assumed to run, so a stale
/// lock must be removed by hand, as its message says).
pub(crate) fn process_alive(pid: u32) -> bool {
    if Path::new("/proc/self").exists() {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

fn create_dir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| not_writable(dir, e))
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| not_writable(to, e))
}

fn not_writable(path: &Path, source: std::io::Error) -> Error {
    Error::OutputNotWritable {
        path: path.to_path_buf(),
        source,
    }
}

/// Flushes a folder's entries (renames) to disk where the platform allows.
fn sync_dir(path: &Path) {
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.sync_all();
    }
}

/// Flushes the entries of a folder and of its subfolders.
fn sync_tree(path: &Path) {
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                sync_tree(&e.path());
            }
        }
    }
    sync_dir(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: OutputSet<'static> = OutputSet {
        files: &["dose.nii.gz", "summary.json"],
        patterns: &["tac_c*.png"],
    };

    fn write_set(dir: &Path, tag: &str) {
        for f in ["dose.nii.gz", "summary.json"] {
            std::fs::write(dir.join(f), tag).unwrap();
        }
    }

    #[test]
    fn force_replaces_the_set_and_keeps_other_files() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir(&out).unwrap();
        write_set(&out, "old");
        std::fs::write(out.join("tac_c3_kidney.png"), "old").unwrap();
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        let folder = OutputFolder::begin(&out, SET, true).unwrap();
        write_set(folder.path(), "new");
        folder.commit().unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("dose.nii.gz")).unwrap(),
            "new"
        );
        assert!(
            !out.join("tac_c3_kidney.png").exists(),
            "old per-cycle file left"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("notes.txt")).unwrap(),
            "mine"
        );
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "only out/ remains: {names:?}");
    }

    #[test]
    fn existing_outputs_are_refused_without_force() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("tac_c1_liver.png"), "old").unwrap();
        let e = OutputFolder::begin(&out, SET, false).err().unwrap();
        assert_eq!(e.exit_code(), 5);
    }

    #[test]
    fn a_failed_command_leaves_the_old_folder_and_no_staging() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir(&out).unwrap();
        write_set(&out, "old");
        let folder = OutputFolder::begin(&out, SET, true).unwrap();
        write_set(folder.path(), "half");
        drop(folder);
        assert_eq!(
            std::fs::read_to_string(out.join("summary.json")).unwrap(),
            "old"
        );
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_second_writer_on_the_same_out_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let _first = OutputFolder::begin(&out, SET, false).unwrap();
        // Another live process holds it: pretend with this test's parent (pid 1 runs).
        let lock = tmp.path().join(".out.voxdose-lock");
        std::fs::write(&lock, "1\n2026-12-07T00:00:00Z\n").unwrap();
        let e = OutputFolder::begin(&out, SET, false).err().unwrap();
        assert_eq!(e.exit_code(), 61);
        assert!(e.to_string().contains("process 1"), "{e}");
    }

    #[test]
    fn a_folder_set_aside_by_a_killed_run_is_put_back() {
        let tmp = tempfile::tempdir().unwrap();
        let aside = tmp.path().join(".out.voxdose-old-999999");
        std::fs::create_dir(&aside).unwrap();
        write_set(&aside, "old");
        let out = tmp.path().join("out");
        let folder = OutputFolder::begin(&out, SET, true).unwrap();
        assert!(
            folder.notes()[0].contains("restored"),
            "{:?}",
            folder.notes()
        );
        drop(folder);
        assert_eq!(
            std::fs::read_to_string(out.join("dose.nii.gz")).unwrap(),
            "old"
        );
    }

    #[test]
    fn patterns_match_heads_and_tails() {
        assert!(matches_pattern("tac_c*.png", "tac_c1_kidney.png"));
        assert!(!matches_pattern("tac_c*.png", "tac_c1_kidney.csv"));
        assert!(!matches_pattern("bed_cycle*", "bed.nii.gz"));
    }
}
