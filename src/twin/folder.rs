//! The twin folder and how it changes.
//!
//! ```text
//! DIR/twin.json            patient, nuclide, regions and their tissue, limits, synced cycles
//! DIR/history.jsonl        one line per event (init, sync, predict, plan), never rewritten
//! DIR/cycles/N/            one cycle: study.json, inputs.json, the fit, the dose, BED,
//!                          smatrix.json, record.json, prediction.json (if one was made)
//! DIR/predictions/cycleN.json   the latest prediction for the not-yet-synced cycle N
//! DIR/plans/cycleN.json         the latest plan for cycle N
//! DIR/.lock                the writer's lock (pid, time)
//! ```
//!
//! **All or nothing.** A command that changes the twin stages every new file and folder in
//! `DIR/.txn/` ([`Txn`]) while the old state stays untouched; its commit point is one rename,
//! `.txn` → `.commit`. A command killed before that point leaves the twin as it was (the next
//! command removes `.txn`); after it, the moves listed in `.commit/moves.json` are replayed
//! (each a rename, idempotent) by whichever command opens the twin next. `history.jsonl` is
//! staged whole (old lines + new ones), so it never holds an event whose files are missing.
//!
//! **One writer.** [`Twin::open`] takes `DIR/.lock` (created exclusively); a second writer is
//! refused with the holder's pid, unless that process no longer exists (a lock left by a
//! killed run), which is taken over with a note.
//!
//! **Failpoints** (tests only): `VOXDOSE_TWIN_FAILPOINT=name` aborts the process at the named
//! point ([`failpoint`]), as a SIGKILL would, so the tests can check every stage of a commit.

use super::TwinError;
use crate::io::atomic::write_atomic;
use crate::io::output_folder::{create_new, process_alive};
use crate::run::TransportConfig;
use crate::transport::Observer;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Format of `twin.json`.
pub const TWIN_FORMAT: u32 = 1;

/// `twin.json`: what the twin is and which cycles it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwinManifest {
    /// Format version ([`TWIN_FORMAT`]).
    pub format: u32,
    /// The voxdose that last wrote it.
    pub voxdose_version: String,
    /// When the twin was made (UTC, RFC 3339).
    pub created: String,
    /// The patient.
    pub patient: PatientInfo,
    /// The nuclide of the cycles.
    pub nuclide: String,
    /// The study file last synced (absolute).
    pub study: PathBuf,
    /// A CT for the transport medium when the study names no reference CT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ct: Option<PathBuf>,
    /// Transport settings of every cycle's dose and S-matrix.
    pub transport: TransportConfig,
    /// Decays per source region of the S-matrix.
    pub smatrix_decays: f64,
    /// The regions (from the study's label map) and their tissues.
    pub regions: Vec<TwinRegion>,
    /// Organ limits (from `init --limits`).
    #[serde(default)]
    pub limits: Vec<super::OrganLimit>,
    /// The synced cycles, in order.
    pub cycles: Vec<CycleEntry>,
    /// Baseline PET uptake per lesion (`init --baseline-pet`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_pet: Option<super::status::BaselinePet>,
}

/// Who the twin is of.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientInfo {
    /// Patient identifier (`--patient-id`, else the study file's name).
    pub id: String,
}

/// One region of the twin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwinRegion {
    /// Region name (as in the study's `regions.json`).
    pub name: String,
    /// Label value in the study's label map.
    pub label: u32,
    /// Tissue key (`kidney`, `red-marrow`, `tumour`, …), when known.
    pub tissue: Option<String>,
}

/// One synced cycle as `twin.json` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CycleEntry {
    /// Cycle number (1-based).
    pub cycle: usize,
    /// sha256 of the cycle's inputs (`cycles/N/inputs.json`, `combined`).
    pub inputs_sha256: String,
    /// Time points in the cycle when it was synced.
    pub time_points: usize,
    /// When it was synced (UTC, RFC 3339).
    pub synced: String,
}

/// An open twin: its folder, its manifest, and the writer's lock (released on drop).
pub struct Twin {
    /// The twin folder.
    pub root: PathBuf,
    /// `twin.json`.
    pub manifest: TwinManifest,
    _lock: Lock,
}

impl Twin {
    /// Opens the twin in `root` for writing: takes the lock, finishes or discards an
    /// interrupted commit, reads `twin.json`.
    pub fn open(root: &Path, observer: &mut dyn Observer) -> Result<Twin> {
        if !root.join("twin.json").is_file() {
            return Err(TwinError::NotATwin {
                path: root.to_path_buf(),
                reason: "no twin.json".into(),
            }
            .into());
        }
        let lock = Lock::take(root, observer)?;
        recover(root)?;
        let manifest = read_manifest(root)?;
        Ok(Twin {
            root: root.to_path_buf(),
            manifest,
            _lock: lock,
        })
    }

    /// Takes the lock of a new twin folder `root` (which must be missing or empty) for `init`.
    pub fn create(root: &Path, observer: &mut dyn Observer) -> Result<Lock> {
        let empty = match std::fs::read_dir(root) {
            Ok(mut d) => d.next().is_none(),
            Err(_) => true,
        };
        if !empty {
            return Err(TwinError::Exists {
                path: root.to_path_buf(),
            }
            .into());
        }
        std::fs::create_dir_all(root).map_err(|source| Error::OutputNotWritable {
            path: root.to_path_buf(),
            source,
        })?;
        Lock::take(root, observer)
    }

    /// The folder of cycle `n`.
    pub fn cycle_dir(&self, n: usize) -> PathBuf {
        self.root.join(cycle_rel(n))
    }

    /// The history, one event per line.
    pub fn history(&self) -> Result<Vec<serde_json::Value>> {
        read_history(&self.root)
    }
}

/// `cycles/N`, relative to the twin folder.
pub fn cycle_rel(n: usize) -> String {
    format!("cycles/{n}")
}

/// Reads `twin.json` of `root`.
pub fn read_manifest(root: &Path) -> Result<TwinManifest> {
    let path = root.join("twin.json");
    let text = std::fs::read(&path).map_err(|e| TwinError::NotATwin {
        path: root.to_path_buf(),
        reason: format!("twin.json: {e}"),
    })?;
    let m: TwinManifest = serde_json::from_slice(&text).map_err(|e| TwinError::NotATwin {
        path: root.to_path_buf(),
        reason: format!("twin.json does not parse: {e}"),
    })?;
    if m.format != TWIN_FORMAT {
        return Err(TwinError::NotATwin {
            path: root.to_path_buf(),
            reason: format!(
                "twin.json format {} (this voxdose reads {TWIN_FORMAT})",
                m.format
            ),
        }
        .into());
    }
    Ok(m)
}

/// Reads `history.jsonl` of `root` (missing: empty).
pub fn read_history(root: &Path) -> Result<Vec<serde_json::Value>> {
    let Ok(text) = std::fs::read_to_string(root.join("history.jsonl")) else {
        return Ok(Vec::new());
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| {
                Error::from(TwinError::NotATwin {
                    path: root.to_path_buf(),
                    reason: format!("history.jsonl has a line that does not parse: {e}"),
                })
            })
        })
        .collect()
}

/// One history line: `{"event": …, "time": …, "voxdose_version": …, …fields}`.
pub fn event(name: &str, fields: serde_json::Value) -> serde_json::Value {
    let mut v = serde_json::json!({
        "event": name,
        "time": now_utc(),
        "voxdose_version": env!("CARGO_PKG_VERSION"),
    });
    if let (Some(obj), serde_json::Value::Object(more)) = (v.as_object_mut(), fields) {
        obj.extend(more);
    }
    v
}

/// The current time, UTC, RFC 3339 to the second.
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Aborts the process at the named point when `VOXDOSE_TWIN_FAILPOINT` names it (tests of
/// the all-or-nothing commit; see the module doc).
pub fn failpoint(name: &str) {
    if std::env::var("VOXDOSE_TWIN_FAILPOINT").is_ok_and(|v| v == name) {
        std::process::abort();
    }
}

/// The writer's lock on a twin folder (`DIR/.lock`), removed on drop.
pub struct Lock {
    path: PathBuf,
}

impl Lock {
    fn take(root: &Path, observer: &mut dyn Observer) -> Result<Lock> {
        let path = root.join(".lock");
        let text = format!("{}\n{}\n", std::process::id(), now_utc());
        match create_new(&path, &text) {
            Ok(()) => return Ok(Lock { path }),
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(Error::OutputNotWritable { path, source: e })
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
        if pid != 0 && process_alive(pid) {
            return Err(TwinError::Locked {
                path: root.to_path_buf(),
                pid,
                since,
            }
            .into());
        }
        observer.warning(&format!(
            "taking over the lock of {} left by process {pid} ({since}), which no longer runs",
            root.display()
        ));
        std::fs::remove_file(&path).map_err(|source| Error::OutputNotWritable {
            path: path.clone(),
            source,
        })?;
        create_new(&path, &text).map_err(|source| Error::OutputNotWritable {
            path: path.clone(),
            source,
        })?;
        Ok(Lock { path })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Changes to a twin, staged in `DIR/.txn/` and committed by one rename (module doc).
pub struct Txn {
    root: PathBuf,
    moves: Vec<String>,
}

impl Txn {
    /// Starts a transaction on `root` (discarding any unfinished staging).
    pub fn begin(root: &Path) -> Result<Txn> {
        let stage = root.join(".txn");
        if stage.exists() {
            remove_all(&stage)?;
        }
        make_dir(&stage)?;
        Ok(Txn {
            root: root.to_path_buf(),
            moves: Vec::new(),
        })
    }

    /// Where the staged version of `rel` (a path relative to the twin folder) is written.
    pub fn staged(&self, rel: &str) -> PathBuf {
        self.root.join(".txn").join(rel)
    }

    /// Stages the file `rel` with `bytes`.
    pub fn file(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        let path = self.staged(rel);
        if let Some(parent) = path.parent() {
            make_dir(parent)?;
        }
        write_atomic(&path, bytes)?;
        self.moves.push(rel.to_string());
        Ok(())
    }

    /// Stages the folder `rel` (returned, empty) to be filled by the caller.
    pub fn dir(&mut self, rel: &str) -> Result<PathBuf> {
        let path = self.staged(rel);
        make_dir(&path)?;
        self.moves.push(rel.to_string());
        Ok(path)
    }

    /// Stages `history.jsonl` with `events` appended to the twin's.
    pub fn append_history(&mut self, events: &[serde_json::Value]) -> Result<()> {
        let mut text = std::fs::read(self.root.join("history.jsonl")).unwrap_or_default();
        for e in events {
            let line = serde_json::to_string(e)
                .map_err(|e| Error::Internal(format!("history event: {e}")))?;
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
        }
        self.file("history.jsonl", &text)
    }

    /// Stages `twin.json`.
    pub fn manifest(&mut self, m: &TwinManifest) -> Result<()> {
        let mut m = m.clone();
        m.voxdose_version = env!("CARGO_PKG_VERSION").to_string();
        let bytes = serde_json::to_vec_pretty(&m)
            .map_err(|e| Error::Internal(format!("twin.json: {e}")))?;
        self.file("twin.json", &bytes)
    }

    /// Commits: the list of moves, then the one rename that makes them happen, then the
    /// moves themselves.
    pub fn commit(self) -> Result<()> {
        let list = serde_json::to_vec(&self.moves)
            .map_err(|e| Error::Internal(format!("moves.json: {e}")))?;
        write_atomic(&self.staged("moves.json"), &list)?;
        failpoint("before-commit");
        let (stage, commit) = (self.root.join(".txn"), self.root.join(".commit"));
        std::fs::rename(&stage, &commit).map_err(|source| Error::OutputNotWritable {
            path: commit.clone(),
            source,
        })?;
        sync_dir(&self.root);
        failpoint("after-commit");
        replay(&self.root)
    }
}

/// Finishes a committed transaction and discards an unfinished one.
pub fn recover(root: &Path) -> Result<()> {
    let stage = root.join(".txn");
    if stage.exists() {
        remove_all(&stage)?;
    }
    replay(root)
}

/// Replays the moves of `DIR/.commit` (each an idempotent rename; what it replaces goes to
/// `.commit/.trash`), then removes `.commit`.
fn replay(root: &Path) -> Result<()> {
    let commit = root.join(".commit");
    if !commit.exists() {
        return Ok(());
    }
    let list: Vec<String> = std::fs::read(commit.join("moves.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let trash = commit.join(".trash");
    for (i, rel) in list.iter().enumerate() {
        let (src, dst) = (commit.join(rel), root.join(rel));
        if !src.exists() {
            continue;
        }
        if let Some(parent) = dst.parent() {
            make_dir(parent)?;
        }
        if dst.exists() {
            make_dir(&trash)?;
            rename(&dst, &trash.join(i.to_string()))?;
        }
        rename(&src, &dst)?;
        if i == 0 {
            failpoint("mid-replay");
        }
    }
    sync_dir(root);
    remove_all(&commit)
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|source| Error::OutputNotWritable {
        path: to.to_path_buf(),
        source,
    })
}

fn make_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|source| Error::OutputNotWritable {
        path: path.to_path_buf(),
        source,
    })
}

fn remove_all(path: &Path) -> Result<()> {
    std::fs::remove_dir_all(path).map_err(|source| Error::OutputNotWritable {
        path: path.to_path_buf(),
        source,
    })
}

/// Flushes a folder's entries (renames) to disk where the platform allows.
fn sync_dir(path: &Path) {
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        // 2000-03-01 is day 11017; 2026-12-06 is day 20793.
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(20_793), (2026, 12, 6));
    }

    #[test]
    fn a_commit_moves_everything_and_an_unfinished_one_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.txt"), "old").unwrap();
        let mut t = Txn::begin(root).unwrap();
        t.file("a.txt", b"new").unwrap();
        let d = t.dir("cycles/1").unwrap();
        std::fs::write(d.join("x"), "1").unwrap();
        t.commit().unwrap();
        assert_eq!(std::fs::read_to_string(root.join("a.txt")).unwrap(), "new");
        assert_eq!(
            std::fs::read_to_string(root.join("cycles/1/x")).unwrap(),
            "1"
        );
        assert!(!root.join(".commit").exists() && !root.join(".txn").exists());
        // Staged but not committed: recovery drops it.
        let mut t = Txn::begin(root).unwrap();
        t.file("a.txt", b"newer").unwrap();
        drop(t);
        recover(root).unwrap();
        assert_eq!(std::fs::read_to_string(root.join("a.txt")).unwrap(), "new");
        assert!(!root.join(".txn").exists());
    }

    #[test]
    fn a_second_writer_is_refused_and_a_dead_ones_lock_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let mut quiet = crate::transport::Silent;
        let first = Lock::take(dir.path(), &mut quiet).unwrap();
        let e = Lock::take(dir.path(), &mut quiet).err().unwrap();
        assert!(e.to_string().contains("locked by process"), "{e}");
        drop(first);
        // A lock left by a process that no longer runs (pid 0 is never a user process here:
        // a pid above the kernel's maximum).
        std::fs::write(dir.path().join(".lock"), "4194305\n2026-01-01T00:00:00Z\n").unwrap();
        let mut seen = crate::transport::observer::Collect::default();
        let _again = Lock::take(dir.path(), &mut seen).unwrap();
        assert!(
            seen.warnings[0].contains("no longer runs"),
            "{:?}",
            seen.warnings
        );
    }
}
