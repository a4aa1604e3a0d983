//! A run as a cluster job: the run layer's steps (validate, build, execute, write) with a
//! batch schedule: the batches of a shard, the batches of a checkpoint replayed first, and a
//! checkpoint writer after each batch.

use super::batches::BatchSet;
use super::checkpoint::{self, Checkpointer, CHECKPOINT_JSON};
use super::hash::problem_hash;
use super::shard::{ShardSpec, SHARD_BIN, SHARD_JSON};
use super::ClusterError;
use crate::io::output_folder::{OutputFolder, OutputSet};
use crate::report::summary::RunSummary;
use crate::run::execute::{execute_with, RunResult};
use crate::run::outputs::output_set;
use crate::run::{write_outputs, Clock, Engine, Problem, RunConfig};
use crate::transport::driver::{DoneBatch, Schedule};
use crate::transport::{Device, DeviceInfo, Observer};
use crate::Result;
use std::path::{Path, PathBuf};

/// How a run runs as a job.
#[derive(Clone, Debug, Default)]
pub struct Job {
    /// Run only this part and write a shard file instead of the outputs.
    pub shard: Option<ShardSpec>,
    /// Write a checkpoint this often (seconds); a signal writes one in any case.
    pub checkpoint_every_s: Option<f64>,
}

/// What a job wrote.
#[derive(Debug)]
pub enum JobOutcome {
    /// The outputs of a whole run.
    Run(RunSummary),
    /// A shard file ([`SHARD_JSON`]) in this folder.
    Shard(PathBuf, BatchSet),
}

/// Runs `config` as `job` into `out` (refusing to replace outputs unless `force`).
pub fn run_job(
    config: &RunConfig,
    out: &Path,
    force: bool,
    job: &Job,
    observer: &mut dyn Observer,
) -> Result<JobOutcome> {
    run_from(config, out, force, job, &Resumed::default(), observer)
}

/// Continues the run whose checkpoint is in `dir`, writing its outputs (or its shard) there.
/// The inputs must be those the checkpoint was made from (the problem hash is checked).
pub fn resume(dir: &Path, observer: &mut dyn Observer) -> Result<JobOutcome> {
    let (set, batches) = checkpoint::read(dir)?;
    check_same_version(&set, dir)?;
    let hash = problem_hash(&set.config)?;
    if hash != set.problem_sha256 {
        return Err(ClusterError::mismatch(format!(
            "the inputs of the run checkpointed in {} changed since it ran (problem hash \
             differs): start it again without --resume",
            dir.display()
        )));
    }
    observer.note(&format!(
        "resuming from {}: {} batches, {} decays done",
        dir.join(CHECKPOINT_JSON).display(),
        batches.len(),
        set.decays
    ));
    let job = Job {
        shard: set.shard,
        checkpoint_every_s: set.checkpoint_every_s,
    };
    let resumed = Resumed {
        batches,
        wall_s: set.wall_s,
        device_kind: Some(set.device.kind.clone()),
        problem_sha256: Some(hash),
    };
    run_from(&set.config, dir, true, &job, &resumed, observer)
}

/// What a resumed run starts from.
#[derive(Default)]
struct Resumed {
    batches: Vec<DoneBatch>,
    wall_s: f64,
    device_kind: Option<String>,
    /// The problem hash, checked against the inputs already (not read again).
    problem_sha256: Option<String>,
}

fn run_from(
    config: &RunConfig,
    out: &Path,
    force: bool,
    job: &Job,
    resumed: &Resumed,
    observer: &mut dyn Observer,
) -> Result<JobOutcome> {
    config.validate()?;
    if let Some(shard) = job.shard {
        shard.check(config)?;
    }
    let hash = match &resumed.problem_sha256 {
        Some(h) => h.clone(),
        None => problem_hash(config)?,
    };
    let set = describe(config, job, hash);
    let engine = Engine::new(&config.transport)?;
    check_device(engine.device(), resumed)?;
    engine.install(|device| {
        let mut clock = Clock::start();
        // Outputs are staged and swapped into `out` at the end (io::output_folder); the
        // checkpoints go into `out` itself, where a killed job's next attempt finds them, and
        // leave with its old contents at the swap.
        let owned = job_files(config, job);
        let folder = OutputFolder::begin(out, owned.set(), force)?;
        let problem = Problem::build_in(config, folder.path(), force, &mut clock, observer)?;
        check_recording_memory(&problem, config, job, observer)?;
        create_out(out)?;
        let mut result = transport(&problem, device, job, resumed, set.clone(), out, observer)?;
        clock.lap("transport", observer);
        let staged = folder.path();
        let outcome = match job.shard {
            Some(_) => write_shard(staged, config, set, &mut result)?,
            None => JobOutcome::Run(write_outputs(
                config,
                &problem,
                &result,
                staged,
                clock.into_stages(),
                observer,
            )?),
        };
        folder.commit()?;
        Ok(match outcome {
            JobOutcome::Shard(_, set) => JobOutcome::Shard(out.to_path_buf(), set),
            run => run,
        })
    })
}

/// The memory of the run with the batches it keeps for its shard file or checkpoints.
fn check_recording_memory(
    problem: &Problem,
    config: &RunConfig,
    job: &Job,
    observer: &mut dyn Observer,
) -> Result<()> {
    let batches = config.transport.batches.max(2);
    let kept = job.shard.map_or(batches, |s| batches.div_ceil(s.n));
    let voxels = problem.model.grid.n_voxels() as u64;
    let line = crate::run::memory::check(voxels, kept, config.transport.mem_gb)?;
    observer.note(&format!("{line}, with {kept} batches recorded"));
    Ok(())
}

/// Creates `out` for the checkpoints (the staged outputs replace it at the end).
fn create_out(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|source| crate::Error::OutputNotWritable {
        path: out.to_path_buf(),
        source,
    })
}

/// The transport of a job: the checkpoint's batches replayed, the shard's batches run,
/// checkpoints written after batches.
fn transport(
    problem: &Problem,
    device: &Device,
    job: &Job,
    resumed: &Resumed,
    mut set: BatchSet,
    out: &Path,
    observer: &mut dyn Observer,
) -> Result<RunResult> {
    set.device.kind = device.kind().into();
    let mut checkpointer = Checkpointer::new(out, set, job.checkpoint_every_s)?;
    let start = std::time::Instant::now();
    let prior_s = resumed.wall_s;
    let mut hook = |done: &[DoneBatch]| {
        checkpointer.after_batch(done, prior_s + start.elapsed().as_secs_f64())
    };
    let keep = job.shard.map(|s| move |b: u32| s.keeps(b));
    let schedule = Schedule {
        replay: &resumed.batches,
        keep: keep.as_ref().map(|k| k as &(dyn Fn(u32) -> bool + Sync)),
        record: job.shard.is_some(),
        after_batch: Some(&mut hook),
        no_pilot: false,
    };
    let mut result = execute_with(problem, device, schedule, observer)?;
    result.transport.wall_s += prior_s;
    Ok(result)
}

/// The description a shard or checkpoint of this job carries (batches filled when written).
fn describe(config: &RunConfig, job: &Job, problem_sha256: String) -> BatchSet {
    BatchSet {
        format: "voxdose-checkpoint".into(),
        voxdose_version: env!("CARGO_PKG_VERSION").into(),
        problem_sha256,
        config: config.clone(),
        shard: job.shard,
        device: DeviceInfo {
            kind: String::new(),
            name: String::new(),
            backend: String::new(),
            driver: String::new(),
            parallelism: 0,
            decays_per_block: None,
            rerun_batches: None,
            compile_s: None,
        },
        batches: Vec::new(),
        decays: 0,
        wall_s: 0.0,
        checkpoint_every_s: job.checkpoint_every_s,
        batches_file: String::new(),
        batches_sha256: String::new(),
    }
}

/// Writes the shard file of a shard job.
fn write_shard(
    out: &Path,
    config: &RunConfig,
    mut set: BatchSet,
    result: &mut RunResult,
) -> Result<JobOutcome> {
    set.format = "voxdose-shard".into();
    set.device = result.transport.device.clone();
    set.wall_s = result.transport.wall_s;
    set.checkpoint_every_s = None;
    set.batches_file = SHARD_BIN.into();
    let done = std::mem::take(&mut result.transport.done);
    set.write(&out.join(SHARD_JSON), &done)?;
    crate::io::atomic::write_atomic(&out.join("run.json"), &config.to_json()?)?;
    Ok(JobOutcome::Shard(out.to_path_buf(), set))
}

/// The files a job owns in `out` (refused there without `--force`, not carried into the new
/// folder): its outputs, or its shard files, and its checkpoints.
fn job_files(config: &RunConfig, job: &Job) -> OwnedFiles {
    let base = output_set(&config.input);
    let mut files: Vec<&'static str> = match job.shard {
        Some(_) => vec![SHARD_JSON, SHARD_BIN, "run.json"],
        None => base.files.to_vec(),
    };
    files.push(CHECKPOINT_JSON);
    let mut patterns: Vec<&'static str> = match job.shard {
        Some(_) => Vec::new(),
        None => base.patterns.to_vec(),
    };
    patterns.push("checkpoint-*.bin");
    OwnedFiles { files, patterns }
}

/// An [`OutputSet`] built at run time.
struct OwnedFiles {
    files: Vec<&'static str>,
    patterns: Vec<&'static str>,
}

impl OwnedFiles {
    fn set(&self) -> OutputSet<'_> {
        OutputSet {
            files: &self.files,
            patterns: &self.patterns,
        }
    }
}

/// A resumed run continues on the kind of device it started on (the random streams of the
/// CPU reference and of the WGSL kernels differ).
fn check_device(device: &Device, resumed: &Resumed) -> Result<()> {
    match &resumed.device_kind {
        Some(kind) if kind != device.kind() => Err(ClusterError::mismatch(format!(
            "the checkpoint was made on the {kind} and this run opened the {}: resume with \
             --device {kind} in the run's configuration (a run's batches must all come from \
             one kind of device to give its dose bit for bit)",
            device.kind()
        ))),
        _ => Ok(()),
    }
}

/// Refuses batches written by another voxdose version.
pub(crate) fn check_same_version(set: &BatchSet, dir: &Path) -> Result<()> {
    let here = env!("CARGO_PKG_VERSION");
    if set.voxdose_version != here {
        return Err(ClusterError::mismatch(format!(
            "{} was written by voxdose {} and this is {here}: run it again with this version",
            dir.display(),
            set.voxdose_version
        )));
    }
    Ok(())
}
