//! `voxdose run --shard/--checkpoint-every-s/--resume`, `voxdose merge`, `voxdose slurm`: the
//! arguments lowered into [`crate::cluster`] calls.

use super::run::{config_from_args, out_dir};
use crate::cli::args::{MergeArgs, RunArgs, SlurmArgs};
use crate::cluster::{self, slurm, Job, JobOutcome};
use crate::report::progress::ConsoleObserver;
use crate::{Error, Result};
use std::path::PathBuf;

/// `run` as a cluster job: a shard, a checkpointed run, or a resumed one.
pub fn run_as_job(args: &RunArgs, observer: &mut ConsoleObserver) -> Result<()> {
    if let Some(s) = args.checkpoint_every_s {
        if !(s > 0.0 && s.is_finite()) {
            return Err(Error::invalid(
                "--checkpoint-every-s",
                format!("{s}; give a positive number of seconds, e.g. 300"),
            ));
        }
    }
    let outcome = match &args.resume {
        Some(dir) => cluster::job::resume(dir, observer)?,
        None => {
            let job = Job {
                shard: args.shard.as_deref().map(str::parse).transpose()?,
                checkpoint_every_s: args.checkpoint_every_s,
            };
            let config = config_from_args(args)?;
            cluster::run_job(&config, out_dir(args)?, args.force, &job, observer)?
        }
    };
    match outcome {
        JobOutcome::Run(summary) => {
            summary.brief().iter().for_each(|l| eprintln!("{l}"));
            if args.report {
                let dir = args.resume.as_deref().map_or_else(|| out_dir(args), Ok)?;
                super::report::write_default(dir)?;
            }
        }
        JobOutcome::Shard(dir, set) => eprintln!(
            "shard {} written to {}: {} batches, {} decays; merge all shards with `voxdose merge`",
            set.shard.map_or(String::new(), |s| s.to_string()),
            dir.display(),
            set.batches.len(),
            set.decays
        ),
    }
    Ok(())
}

/// `voxdose merge`.
pub fn merge(args: MergeArgs) -> Result<()> {
    let mut observer = ConsoleObserver::new(false);
    let summary = cluster::merge(&args.shards, &args.out, args.force, &mut observer)?;
    if !args.quiet {
        summary.brief().iter().for_each(|l| eprintln!("{l}"));
    }
    Ok(())
}

/// `voxdose slurm`.
pub fn slurm(args: SlurmArgs) -> Result<()> {
    let plan = slurm::SlurmPlan {
        configs: configs(&args)?,
        shards: args.shards,
        partition: args.partition.clone(),
        time: args.time.clone(),
        mem_gb: args.mem,
        cpus_per_task: args.cpus_per_task,
        checkpoint_every_s: args.checkpoint_every_s,
        out: args.out.clone(),
        voxdose: std::env::current_exe().map_err(|e| {
            Error::Internal(format!("cannot find the voxdose executable's path: {e}"))
        })?,
    };
    let job = slurm::write_job(&plan)?;
    println!("{}", job.shards_script.display());
    println!("{}", job.merge_script.display());
    if args.submit {
        let (shards, merge) = slurm::submit(&job)?;
        println!(
            "submitted: shards job {shards} ({} tasks), merge job {merge}",
            job.tasks
        );
    } else {
        println!(
            "submit with: sbatch {} (then the merge with --dependency=afterok:ID)",
            job.shards_script.display()
        );
    }
    Ok(())
}

/// `--config`, or the lines of `--configs` (blank lines and `#` comments skipped; relative
/// paths against the list's folder).
fn configs(args: &SlurmArgs) -> Result<Vec<PathBuf>> {
    let Some(list) = &args.configs else {
        return Ok(args.config.iter().cloned().collect());
    };
    let text = std::fs::read_to_string(list).map_err(|source| crate::io::InputError::Read {
        path: list.clone(),
        source,
    })?;
    let base = list.parent().unwrap_or(std::path::Path::new("."));
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| base.join(l))
        .collect())
}
