//! Fuzzing smoke test of the readers of untrusted files (harness: `tests/fuzz/harness.rs`):
//! a seeded mutation run per target (`VOXDOSE_FUZZ_SECONDS`, default 60 s — CI's smoke;
//! long runs: `cargo run --example fuzz -- TARGET SECONDS`), and the replay of every input
//! in `tests/data/fuzz/crashes/` that once crashed a reader: none may panic.

#[path = "fuzz/harness.rs"]
mod harness;

use harness::Target;
use std::path::Path;
use std::time::Duration;

fn budget() -> Duration {
    let s = std::env::var("VOXDOSE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(60.0);
    Duration::from_secs_f64(s)
}

/// The DICOM-based targets run one at a time: a damaged length can make dicom-parser
/// zero-fill up to 4 GB for a moment (see `tests/data/fuzz/open/README.md`), and two at once
/// could exhaust a small CI machine.
static DICOM_TARGETS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn smoke(target: Target) {
    let _one_at_a_time = matches!(target, Target::Dicom | Target::Rtstruct)
        .then(|| DICOM_TARGETS.lock().unwrap_or_else(|e| e.into_inner()));
    let dir = tempfile::tempdir().unwrap();
    let r = harness::run(
        target,
        budget(),
        0x5EED,
        dir.path(),
        &dir.path().join("crashes"),
        None,
    );
    eprintln!("fuzz {}: {r:?}", target.name());
    assert!(r.execs > 0);
    let kept: Vec<_> = r
        .crashes
        .iter()
        .map(|p| {
            let to = std::env::temp_dir().join(p.file_name().unwrap());
            std::fs::copy(p, &to).unwrap();
            to
        })
        .collect();
    assert!(
        kept.is_empty(),
        "readers panicked on (copies kept): {kept:?}"
    );
}

#[test]
fn dicom_reader_survives_mutated_files() {
    smoke(Target::Dicom);
}

#[test]
fn nifti_reader_survives_mutated_files() {
    smoke(Target::Nifti);
}

#[test]
fn rtstruct_reader_survives_mutated_files() {
    smoke(Target::Rtstruct);
}

#[test]
fn study_parser_survives_mutated_files() {
    smoke(Target::Study);
}

#[test]
fn inputs_that_once_crashed_a_reader_are_refused_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz/crashes");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries {
        let path = e.unwrap().path();
        let Some(target) = harness::target_of(&path) else {
            continue;
        };
        let outcome = std::panic::catch_unwind(|| harness::execute(target, &path));
        assert!(outcome.is_ok(), "{} panics again", path.display());
    }
}
