//! Cluster jobs from the command line: shards merged = the single run, byte for byte (CPU and
//! lavapipe); merges refused for shards of another run, missing or repeated shards and damaged
//! batch files; runs killed (SIGKILL at several points, SIGTERM) and resumed = the run never
//! stopped; `voxdose slurm` scripts; and, where a Slurm is running (CI starts one), the array
//! job submitted, run and merged on it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn voxdose(args: &[&str], cwd: &Path) -> Output {
    Command::new(common::voxdose_bin())
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("voxdose runs")
}

fn ok(args: &[&str], cwd: &Path) {
    let o = voxdose(args, cwd);
    assert!(
        o.status.success(),
        "voxdose {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn refused(args: &[&str], cwd: &Path, code: i32, phrase: &str) {
    let o = voxdose(args, cwd);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "voxdose {args:?}: {err}");
    assert!(
        err.contains(phrase),
        "voxdose {args:?}: '{phrase}' not in: {err}"
    );
}

fn same_files(a: &Path, b: &Path) {
    for f in ["dose.nii.gz", "uncertainty.nii.gz"] {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(x == y, "{f} of {} and {} differ", a.display(), b.display());
    }
    let regions = |d: &Path| {
        let s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("summary.json")).unwrap()).unwrap();
        let keys = [
            "regions",
            "decays",
            "energy_balance_units",
            "counters",
            "uncertainty_above_50pct",
        ];
        keys.map(|k| s[k].clone())
    };
    assert_eq!(
        regions(a),
        regions(b),
        "summaries of {} and {}",
        a.display(),
        b.display()
    );
}

/// A small phantom run into `single` (4e4 decays in 8 batches unless `extra` says otherwise).
fn single_run(dir: &Path, device: &str, extra: &[&str]) -> PathBuf {
    let mut args = vec![
        "run",
        "--phantom",
        "water-sphere",
        "--grid",
        "24",
        "--seed",
        "7",
        "--device",
        device,
        "--out",
        "single",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    for (flag, default) in [("--decays", "4e4"), ("--batches", "8")] {
        if !extra.contains(&flag) {
            args.extend([flag, default]);
        }
    }
    ok(&args, dir);
    dir.join("single")
}

fn shards_equal_single(device: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    single_run(d, device, &[]);
    for k in 1..=4 {
        ok(
            &[
                "run",
                "--config",
                "single/run.json",
                "--shard",
                &format!("{k}/4"),
                "--out",
                &format!("s{k}"),
                "--quiet",
            ],
            d,
        );
    }
    // In another order than 1..4: the merge orders the batches.
    ok(
        &[
            "merge", "s3", "s1", "s4", "s2", "--out", "merged", "--quiet",
        ],
        d,
    );
    same_files(&d.join("single"), &d.join("merged"));
}

#[test]
fn four_shards_merged_equal_the_single_run_on_the_cpu() {
    shards_equal_single("cpu");
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver (install mesa-vulkan-drivers for lavapipe)"
)]
fn four_shards_merged_equal_the_single_run_on_the_gpu() {
    shards_equal_single("gpu");
}

#[test]
fn merge_refuses_shards_of_other_runs_missing_repeated_or_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    single_run(d, "cpu", &[]);
    for k in 1..=3 {
        ok(
            &[
                "run",
                "--config",
                "single/run.json",
                "--shard",
                &format!("{k}/3"),
                "--out",
                &format!("s{k}"),
                "--quiet",
            ],
            d,
        );
    }
    ok(
        &[
            "run",
            "--config",
            "single/run.json",
            "--seed",
            "8",
            "--shard",
            "3/3",
            "--out",
            "other",
            "--quiet",
        ],
        d,
    );
    refused(
        &["merge", "s1", "s2", "other", "--out", "m"],
        d,
        41,
        "different runs",
    );
    refused(
        &["merge", "s1", "s3", "--out", "m"],
        d,
        41,
        "shard 2/3 missing",
    );
    refused(
        &["merge", "s1", "s2", "s2", "s3", "--out", "m"],
        d,
        41,
        "shard 2/3 is given twice",
    );
    refused(
        &["merge", "s1", "s2", "single", "--out", "m"],
        d,
        41,
        "is this a voxdose voxdose-shard folder",
    );
    let bin = d.join("s2/shard.bin");
    let mut bytes = std::fs::read(&bin).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&bin, bytes).unwrap();
    refused(&["merge", "s1", "s2", "s3", "--out", "m"], d, 41, "damaged");
    assert!(!d.join("m").exists(), "a refused merge writes nothing");
    // Runs that cannot be split.
    refused(
        &[
            "run",
            "--config",
            "single/run.json",
            "--shard",
            "9/9",
            "--out",
            "x",
        ],
        d,
        41,
        "only 8 batches",
    );
    refused(
        &[
            "run",
            "--phantom",
            "water-sphere",
            "--target-uncertainty",
            "5",
            "--shard",
            "1/2",
            "--out",
            "x",
        ],
        d,
        41,
        "fixed number of decays",
    );
    refused(
        &[
            "run",
            "--phantom",
            "water-sphere",
            "--shard",
            "3/2",
            "--out",
            "x",
        ],
        d,
        3,
        "--shard",
    );
}

/// Starts a checkpointed run of `config` into `out`, kills it with `signal` once its checkpoint
/// holds at least `batches` batches, and returns its exit code.
fn kill_after(d: &Path, config: &str, out: &str, batches: usize, signal: &str) -> Option<i32> {
    let mut child = Command::new(common::voxdose_bin())
        .args([
            "run",
            "--config",
            config,
            "--checkpoint-every-s",
            "0.05",
            "--out",
            out,
            "--quiet",
        ])
        .current_dir(d)
        .spawn()
        .unwrap();
    let json = d.join(out).join("checkpoint.json");
    let start = Instant::now();
    loop {
        let held = std::fs::read(&json)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .map_or(0, |v| v["batches"].as_array().map_or(0, Vec::len));
        if held >= batches {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before its checkpoint held {batches} batches");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no checkpoint came"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap().code()
}

#[test]
fn runs_killed_at_several_points_resume_to_the_run_never_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // One thread: batches slow enough to kill the run between them.
    single_run(
        d,
        "cpu",
        &["--decays", "4e5", "--batches", "16", "--threads", "1"],
    );
    for (i, at) in [1, 6, 13].into_iter().enumerate() {
        let out = format!("killed{i}");
        assert_eq!(kill_after(d, "single/run.json", &out, at, "-KILL"), None);
        ok(&["run", "--resume", &out, "--quiet"], d);
        same_files(&d.join("single"), &d.join(&out));
        assert!(
            !d.join(&out).join("checkpoint.json").exists(),
            "checkpoint removed at the end"
        );
    }
    // SIGTERM: a checkpoint, the documented exit code, then the same resume.
    assert_eq!(
        kill_after(d, "single/run.json", "term", 3, "-TERM"),
        Some(42)
    );
    refused(&["run", "--resume", "single"], d, 41, "holds no checkpoint");
    ok(&["run", "--resume", "term", "--quiet"], d);
    same_files(&d.join("single"), &d.join("term"));
}

#[test]
fn a_target_uncertainty_run_resumes_to_the_same_batches() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        &[
            "run",
            "--phantom",
            "water-sphere",
            "--grid",
            "24",
            "--target-uncertainty",
            "1",
            "--max-decays",
            "2e6",
            "--threads",
            "1",
            "--device",
            "cpu",
            "--out",
            "single",
            "--quiet",
        ],
        d,
    );
    assert_eq!(
        kill_after(d, "single/run.json", "killed", 12, "-KILL"),
        None
    );
    ok(&["run", "--resume", "killed", "--quiet"], d);
    same_files(&d.join("single"), &d.join("killed"));
}

#[test]
fn slurm_scripts_name_the_array_the_merge_and_the_resume() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    single_run(d, "cpu", &[]);
    std::fs::write(
        d.join("list.txt"),
        "# two what-ifs\nsingle/run.json\n\nsingle/run.json\n",
    )
    .unwrap();
    let o = voxdose(
        &[
            "slurm",
            "--configs",
            "list.txt",
            "--shards",
            "4",
            "--partition",
            "short",
            "--time",
            "01:00:00",
            "--mem",
            "2",
            "--out",
            "job",
        ],
        d,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let script = std::fs::read_to_string(d.join("job/shards.sbatch")).unwrap();
    for phrase in [
        "--array=1-8",
        "--partition=short",
        "--time=01:00:00",
        "--mem=2048M",
        "--requeue",
        "--signal=B:TERM@120",
        "--resume",
        "--shard \"$k/4\"",
        "scontrol requeue",
    ] {
        assert!(
            script.contains(phrase),
            "'{phrase}' not in shards.sbatch:\n{script}"
        );
    }
    let merge = std::fs::read_to_string(d.join("job/merge.sbatch")).unwrap();
    assert!(
        merge.contains(" merge ") && merge.contains("merged"),
        "{merge}"
    );
    let tasks = std::fs::read_to_string(d.join("job/tasks.txt")).unwrap();
    assert_eq!(tasks.lines().count(), 8);
    assert!(d.join("job/runs/002/run.json").is_file());
    refused(
        &[
            "slurm",
            "--config",
            "single/run.json",
            "--shards",
            "9",
            "--out",
            "j2",
        ],
        d,
        41,
        "only 8 batches",
    );
    if !has("sbatch") {
        refused(
            &[
                "slurm",
                "--config",
                "single/run.json",
                "--shards",
                "2",
                "--submit",
                "--out",
                "j3",
            ],
            d,
            70,
            "cannot run sbatch",
        );
    }
}

fn has(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// On a running Slurm (CI starts munged, slurmctld and slurmd on localhost and sets
/// `VOXDOSE_REQUIRE_SLURM=1`): `voxdose slurm --submit` with 4 shards, the array and the merge
/// job run, and the merged dose equals the single run's.
#[test]
fn slurm_array_job_merges_to_the_single_run() {
    let required = std::env::var("VOXDOSE_REQUIRE_SLURM").is_ok_and(|v| v == "1");
    let running = Command::new("sinfo")
        .arg("-h")
        .output()
        .is_ok_and(|o| o.status.success());
    if !running {
        assert!(
            !required,
            "VOXDOSE_REQUIRE_SLURM=1 but `sinfo` finds no running Slurm"
        );
        eprintln!("skipped: no running Slurm here (CI starts one; see .ci/slurm-up)");
        return;
    }
    let dir =
        tempfile::tempdir_in(std::env::var("VOXDOSE_SLURM_TMP").unwrap_or("/tmp".into())).unwrap();
    let d = dir.path();
    single_run(d, "cpu", &[]);
    let o = voxdose(
        &[
            "slurm",
            "--config",
            "single/run.json",
            "--shards",
            "4",
            "--time",
            "00:10:00",
            "--submit",
            "--out",
            "job",
        ],
        d,
    );
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let merge_id = text
        .split("merge job ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("the merge job id is printed")
        .to_string();
    let merged = d.join("job/runs/001/merged");
    let start = Instant::now();
    while !merged.join("summary.json").exists() {
        let queued = Command::new("squeue")
            .args(["-h", "-j", &merge_id])
            .output()
            .unwrap();
        let logs = std::fs::read_dir(d.join("job/logs"))
            .map(|r| r.count())
            .unwrap_or(0);
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the Slurm job did not finish in 5 min; squeue: {} ({logs} logs)",
            String::from_utf8_lossy(&queued.stdout)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    std::thread::sleep(Duration::from_secs(1));
    same_files(&d.join("single"), &merged);
}

#[test]
fn a_run_too_large_for_its_memory_is_refused_with_the_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 8e9 voxels: refused before the phantom is built (the allocator never sees it).
    refused(
        &[
            "run",
            "--phantom",
            "water-sphere",
            "--grid",
            "2000",
            "--out",
            "big",
        ],
        d,
        71,
        "this run needs about",
    );
    // A small run within the machine but not within --mem.
    refused(
        &[
            "run",
            "--phantom",
            "water-sphere",
            "--grid",
            "24",
            "--mem",
            "0.01",
            "--out",
            "small",
        ],
        d,
        71,
        "--mem allows 0.01 GiB",
    );
    assert!(!d.join("big").exists() && !d.join("small").exists());
    // Within the limit: the estimate is stated before the transport.
    let o = voxdose(
        &[
            "run",
            "--phantom",
            "water-sphere",
            "--grid",
            "24",
            "--decays",
            "1e3",
            "--mem",
            "4",
            "--out",
            "ok",
        ],
        d,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && err.contains("memory: estimated 0.2"),
        "{err}"
    );
}
