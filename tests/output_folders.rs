//! All-or-nothing output folders (`src/io/output_folder.rs`), through the binary: a `--force`
//! run killed at every point of its commit (failpoints) and at timed moments (SIGKILL) leaves
//! `--out` holding the complete old set or the complete new set, never a mix, once the next
//! voxdose on that folder has cleared the leftovers; a second run on a locked `--out` is
//! refused with exit 61 and the folder untouched.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

type Snapshot = BTreeMap<String, Vec<u8>>;

const FILES: [&str; 4] = [
    "dose.nii.gz",
    "uncertainty.nii.gz",
    "summary.json",
    "run.json",
];

fn run_cmd(out: &Path, seed: u64, decays: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(common::voxdose_bin());
    c.args([
        "run",
        "--phantom",
        "water-sphere",
        "--grid",
        "16",
        "--voxel-mm",
        "2",
    ])
    .args([
        "--radius-mm",
        "8",
        "--device",
        "cpu",
        "--quiet",
        "--threads",
        "1",
    ])
    .args(["--decays", decays, "--seed", &seed.to_string(), "--out"])
    .arg(out)
    .args(extra)
    .env_remove("VOXDOSE_OUT_FAILPOINT")
    .env_remove("VOXDOSE_OUT_NO_EXCHANGE");
    c
}

fn snapshot(out: &Path) -> Snapshot {
    std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// The seed the folder's `run.json` ran with.
fn seed_of(snap: &Snapshot) -> u64 {
    let run: serde_json::Value = serde_json::from_slice(&snap["run.json"]).unwrap();
    run["transport"]["seed"].as_u64().unwrap()
}

/// Clears leftovers as the next voxdose on the folder would (a run without `--force`, which
/// recovers and is then refused because the outputs exist), and checks the folder holds the
/// old set byte for byte or a complete new set (seed 2, every file readable).
fn assert_old_or_new(out: &Path, old: &Snapshot, when: &str) -> bool {
    let o = run_cmd(out, 3, "1000", &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(5), "{when}: {}", stderr(&o));
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != "out")
        .map(|e| e.file_name())
        .collect();
    assert!(leftovers.is_empty(), "{when}: left behind {leftovers:?}");
    let now = snapshot(out);
    if &now == old {
        return false;
    }
    let names: Vec<&str> = now.keys().map(String::as_str).collect();
    assert_eq!(names, {
        let mut f = FILES.to_vec();
        f.sort();
        f
    });
    assert_eq!(seed_of(&now), 2, "{when}: a mix of old and new files");
    let summary: serde_json::Value = serde_json::from_slice(&now["summary.json"]).unwrap();
    assert!(summary["decays"].as_u64().is_some(), "{when}: summary");
    let dose = voxdose::io::nifti::read_volume_f32(&out.join("dose.nii.gz")).unwrap();
    assert_eq!(dose.data.len(), 16 * 16 * 16, "{when}: dose map");
    true
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn first_set(out: &Path) -> Snapshot {
    let o = run_cmd(out, 1, "1000", &[]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    snapshot(out)
}

#[test]
fn force_run_killed_at_each_commit_point_leaves_old_or_new_set() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let cases = [
        ("staged", false, false),
        ("swapped", false, true),
        ("aside", true, false),
        ("swapped", true, true),
    ];
    for (point, fallback, expect_new) in cases {
        let _ = std::fs::remove_dir_all(&out);
        let old = first_set(&out);
        let mut c = run_cmd(&out, 2, "1000", &["--force"]);
        c.env("VOXDOSE_OUT_FAILPOINT", point);
        if fallback {
            c.env("VOXDOSE_OUT_NO_EXCHANGE", "1");
        }
        let o = c.output().unwrap();
        assert!(
            o.status.code().is_none(),
            "{point}: not killed: {}",
            stderr(&o)
        );
        let when = format!("killed at {point} (fallback {fallback})");
        let is_new = assert_old_or_new(&out, &old, &when);
        assert_eq!(is_new, expect_new, "{when}");
    }
}

#[test]
fn force_run_killed_at_random_moments_leaves_old_or_new_set() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let old = first_set(&out);
    let mut saw_old = false;
    for ms in [5u64, 20, 40, 60, 80, 120, 160, 220, 300] {
        if std::fs::read_dir(&out).is_ok() && snapshot(&out) != old {
            // A previous kill came after the commit: start again from the old set.
            std::fs::remove_dir_all(&out).unwrap();
            std::fs::create_dir(&out).unwrap();
            for (name, bytes) in &old {
                std::fs::write(out.join(name), bytes).unwrap();
            }
        }
        let mut child = run_cmd(&out, 2, "20000", &["--force"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let is_new = assert_old_or_new(&out, &old, &format!("SIGKILL after {ms} ms"));
        saw_old |= !is_new;
    }
    assert!(
        saw_old,
        "no kill landed before the commit: shorten the delays"
    );
}

#[test]
fn second_run_on_a_locked_out_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let old = first_set(&out);
    // A live process (this test) holds the lock.
    let lock = tmp.path().join(".out.voxdose-lock");
    std::fs::write(
        &lock,
        format!("{}\n2026-12-07T00:00:00Z\n", std::process::id()),
    )
    .unwrap();
    let o = run_cmd(&out, 2, "1000", &["--force"]).output().unwrap();
    assert_eq!(o.status.code(), Some(61), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("being written by another voxdose"),
        "{}",
        stderr(&o)
    );
    assert_eq!(snapshot(&out), old, "the locked folder was touched");
    // A lock left by a process that no longer runs is taken over, with a warning.
    std::fs::write(&lock, "4194304000\n2026-12-07T00:00:00Z\n").unwrap();
    let o = run_cmd(&out, 2, "1000", &["--force"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("took over the lock"), "{}", stderr(&o));
    assert!(!lock.exists(), "the lock is removed at the end");
}

#[test]
fn force_keeps_files_voxdose_did_not_write() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    first_set(&out);
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let o = run_cmd(&out, 2, "1000", &["--force"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
    assert_eq!(seed_of(&snapshot(&out)), 2);
}
