//! `voxdose slurm`: the Slurm job of one run or of a list of runs (patients, twin what-ifs):
//! an array job of their shards and a merge job that waits for it (`--dependency=afterok`).
//!
//! Written into `--out`: `runs/NNN/run.json` (each run's configuration), `tasks.txt` (array
//! task i = line i: a run folder and a shard number), `shards.sbatch`, `merge.sbatch`,
//! `logs/`. Each array task checkpoints every `checkpoint_every_s`; Slurm's warning signal
//! before the time limit (`--signal=B:TERM@120`) makes it write a checkpoint and exit 42, and
//! the task then asks to be requeued; a requeued (or restarted) task resumes from its
//! checkpoint, and a task whose shard is already written does nothing. Each run's merged
//! outputs land in `runs/NNN/merged/`.

use super::shard::SHARD_JSON;
use super::ClusterError;
use crate::io::atomic::write_atomic;
use crate::run::RunConfig;
use crate::{Error, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the Slurm job runs and asks for.
#[derive(Clone, Debug)]
pub struct SlurmPlan {
    /// The run configurations (`run.json` files), one run each.
    pub configs: Vec<PathBuf>,
    /// Shards per run.
    pub shards: u32,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time` of each task (HH:MM:SS or D-HH:MM:SS).
    pub time: Option<String>,
    /// `--mem` of each task, GB.
    pub mem_gb: Option<f64>,
    /// CPU cores per task (the shard's `--threads`).
    pub cpus_per_task: u32,
    /// Seconds between checkpoints.
    pub checkpoint_every_s: f64,
    /// The job folder.
    pub out: PathBuf,
    /// The voxdose executable the scripts call.
    pub voxdose: PathBuf,
}

/// The scripts written, and the runs.
#[derive(Clone, Debug)]
pub struct SlurmJob {
    /// The array job of the shards.
    pub shards_script: PathBuf,
    /// The merge job.
    pub merge_script: PathBuf,
    /// Each run's folder (`runs/NNN`), its merged outputs in `merged/`.
    pub runs: Vec<PathBuf>,
    /// Array tasks.
    pub tasks: u32,
}

/// Writes the job folder of `plan`.
pub fn write_job(plan: &SlurmPlan) -> Result<SlurmJob> {
    check_plan(plan)?;
    let out = std::path::absolute(&plan.out).unwrap_or(plan.out.clone());
    let mkdir = |d: &Path| {
        std::fs::create_dir_all(d).map_err(|source| Error::OutputNotWritable {
            path: d.to_path_buf(),
            source,
        })
    };
    mkdir(&out.join("logs"))?;
    let mut runs = Vec::new();
    let mut tasks = String::new();
    for (i, path) in plan.configs.iter().enumerate() {
        let config = RunConfig::load(path)?.with_absolute_paths();
        config.validate()?;
        super::ShardSpec {
            k: 1,
            n: plan.shards,
        }
        .check(&config)?;
        let run = out.join("runs").join(format!("{:03}", i + 1));
        mkdir(&run.join("shards"))?;
        write_atomic(&run.join("run.json"), &config.to_json()?)?;
        for k in 1..=plan.shards {
            let _ = writeln!(tasks, "{} {k}", run.display());
        }
        runs.push(run);
    }
    write_atomic(&out.join("tasks.txt"), tasks.as_bytes())?;
    let job = SlurmJob {
        shards_script: out.join("shards.sbatch"),
        merge_script: out.join("merge.sbatch"),
        tasks: runs.len() as u32 * plan.shards,
        runs,
    };
    write_atomic(
        &job.shards_script,
        shards_script(plan, &out, job.tasks).as_bytes(),
    )?;
    write_atomic(&job.merge_script, merge_script(plan, &out).as_bytes())?;
    Ok(job)
}

/// Submits the array job and the merge job after it; returns their job ids.
pub fn submit(job: &SlurmJob) -> Result<(String, String)> {
    let shards = sbatch(&[job.shards_script.as_os_str().to_owned()])?;
    let merge = sbatch(&[
        format!("--dependency=afterok:{shards}").into(),
        job.merge_script.as_os_str().to_owned(),
    ])?;
    Ok((shards, merge))
}

fn sbatch(args: &[std::ffi::OsString]) -> Result<String> {
    let output = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .output()
        .map_err(|e| {
            ClusterError::Slurm(format!(
                "cannot run sbatch ({e}): is Slurm installed and on PATH on this machine? \
                 Without --submit, voxdose slurm only writes the scripts"
            ))
        })?;
    if !output.status.success() {
        return Err(ClusterError::Slurm(format!(
            "sbatch refused the job ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
        .into());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() {
        return Err(ClusterError::Slurm("sbatch printed no job id".into()).into());
    }
    Ok(id)
}

fn check_plan(plan: &SlurmPlan) -> Result<()> {
    if plan.configs.is_empty() {
        return Err(Error::invalid(
            "--config",
            "give a run.json (or --configs LIST)",
        ));
    }
    if plan.shards == 0 || plan.cpus_per_task == 0 {
        return Err(Error::invalid(
            "--shards",
            "give at least one shard and one CPU per task",
        ));
    }
    if let Some(t) = &plan.time {
        if t.is_empty()
            || !t
                .chars()
                .all(|c| c.is_ascii_digit() || c == ':' || c == '-')
        {
            return Err(Error::invalid(
                "--time",
                format!("'{t}': give HH:MM:SS or D-HH:MM:SS"),
            ));
        }
    }
    if let Some(p) = &plan.partition {
        if p.is_empty()
            || !p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-,.".contains(c))
        {
            return Err(Error::invalid(
                "--partition",
                format!("'{p}': not a partition name"),
            ));
        }
    }
    if plan.mem_gb.is_some_and(|m| !(m > 0.0 && m.is_finite())) {
        return Err(Error::invalid("--mem", "give a positive number of GB"));
    }
    Ok(())
}

/// The `#SBATCH` lines both scripts share.
fn common_header(plan: &SlurmPlan, name: &str) -> String {
    let mut s = format!("#!/bin/bash\n#SBATCH --job-name={name}\n");
    if let Some(p) = &plan.partition {
        let _ = writeln!(s, "#SBATCH --partition={p}");
    }
    if let Some(t) = &plan.time {
        let _ = writeln!(s, "#SBATCH --time={t}");
    }
    if let Some(m) = plan.mem_gb {
        let _ = writeln!(s, "#SBATCH --mem={}M", (m * 1024.0).ceil() as u64);
    }
    s
}

fn shards_script(plan: &SlurmPlan, out: &Path, tasks: u32) -> String {
    let mut s = common_header(plan, "voxdose-shards");
    let _ = write!(
        s,
        "#SBATCH --array=1-{tasks}\n#SBATCH --cpus-per-task={cpus}\n\
         #SBATCH --output={out}/logs/shard-%A_%a.out\n#SBATCH --requeue\n\
         #SBATCH --signal=B:TERM@120\n\
         # Written by `voxdose slurm`: task i runs the shard on line i of tasks.txt; a task\n\
         # resumes from its checkpoint when requeued and does nothing when its shard exists.\n\
         set -u\n\
         line=$(sed -n \"${{SLURM_ARRAY_TASK_ID}}p\" '{out}/tasks.txt')\n\
         run=${{line% *}}\nk=${{line##* }}\nshard=\"$run/shards/$k\"\n\
         if [ -f \"$shard/{SHARD_JSON}\" ]; then echo \"shard $k of $run: already done\"; exit 0; fi\n\
         if [ -f \"$shard/checkpoint.json\" ]; then\n\
         \x20 set -- '{exe}' run --resume \"$shard\" --quiet\n\
         else\n\
         \x20 set -- '{exe}' run --config \"$run/run.json\" --shard \"$k/{n}\" --threads {cpus} \\\n\
         \x20   --checkpoint-every-s {every}{mem} --out \"$shard\" --force --quiet\n\
         fi\n\
         # Forward Slurm's warning signal to voxdose: it writes a checkpoint and exits 42.\n\
         \"$@\" &\npid=$!\ntrap 'kill -TERM $pid 2>/dev/null' TERM INT\n\
         wait $pid; rc=$?\nif [ $rc -gt 128 ]; then wait $pid; rc=$?; fi\n\
         if [ $rc -eq 42 ]; then\n\
         \x20 echo \"checkpoint written; requeueing\"\n\
         \x20 scontrol requeue \"${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}\" || true\n\
         fi\nexit $rc\n",
        cpus = plan.cpus_per_task,
        out = out.display(),
        exe = plan.voxdose.display(),
        n = plan.shards,
        every = plan.checkpoint_every_s,
        mem = plan.mem_gb.map_or(String::new(), |m| format!(" --mem {m}")),
    );
    s
}

fn merge_script(plan: &SlurmPlan, out: &Path) -> String {
    let mut s = common_header(plan, "voxdose-merge");
    let _ = write!(
        s,
        "#SBATCH --cpus-per-task={cpus}\n#SBATCH --output={out}/logs/merge-%j.out\n\
         # Written by `voxdose slurm`: merges each run's shards (submitted with\n\
         # --dependency=afterok on the shards' array job).\n\
         set -eu\n\
         for run in '{out}'/runs/*/; do\n\
         \x20 '{exe}' merge \"$run\"shards/*/ --out \"$run\"merged --force --quiet\n\
         done\n",
        cpus = plan.cpus_per_task,
        out = out.display(),
        exe = plan.voxdose.display(),
    );
    s
}
