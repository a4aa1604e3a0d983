//! `voxdose merge SHARD_DIR... --out DIR`: the shards of one run → that run's outputs.
//!
//! Checked before anything is read in bulk: every folder holds a shard file of the same
//! problem (hash of configuration and input contents), voxdose version, shard count and kind
//! of device; no shard is missing or given twice (named). Then every batch is read, the
//! batches are put in index order (all of them, each once, with the first histories of one
//! run), folded ([`driver::fold_done`]) and turned into the outputs the single run writes,
//! which are the same bit for bit.

use super::batches::BatchSet;
use super::hash::problem_hash;
use super::job::check_same_version;
use super::shard::SHARD_JSON;
use super::ClusterError;
use crate::io::output_folder::OutputFolder;
use crate::report::summary::RunSummary;
use crate::run::execute::dose_of;
use crate::run::outputs::output_set;
use crate::run::{write_outputs, Clock, Engine, Problem, RunConfig};
use crate::transport::driver::{self, DoneBatch};
use crate::transport::{DeviceChoice, Observer};
use crate::Result;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Merges the shards in `dirs` into the outputs of their run in `out`.
pub fn merge(
    dirs: &[PathBuf],
    out: &Path,
    force: bool,
    observer: &mut dyn Observer,
) -> Result<RunSummary> {
    let shards = read_shards(dirs)?;
    let first = &shards[0].1;
    let config = first.config.clone();
    check_inputs_unchanged(&config, first)?;
    let batches = load_in_order(&shards, &config)?;
    let wall_s = shards.iter().map(|(_, s)| s.wall_s).sum();
    observer.note(&format!(
        "merging {} shards: {} batches, {} decays",
        shards.len(),
        batches.len(),
        batches.iter().map(|d| d.batch.decays).sum::<u64>()
    ));
    // Folding needs no device: the merge runs on the CPU threads whatever the shards ran on.
    let mut transport = config.transport.clone();
    transport.device = DeviceChoice::Cpu;
    let engine = Engine::new(&transport)?;
    engine.install(|_| {
        let mut clock = Clock::start();
        let folder = OutputFolder::begin(out, output_set(&config.input), force)?;
        let problem = Problem::build_in(&config, folder.path(), force, &mut clock, observer)?;
        let run = driver::fold_done(&problem.model, &batches, wall_s);
        let result = driver::finish(&problem.model, &run, first.device.clone());
        let result = dose_of(&problem, result, observer);
        clock.lap("merge", observer);
        let staged = folder.path();
        let summary = write_outputs(
            &config,
            &problem,
            &result,
            staged,
            clock.into_stages(),
            observer,
        )?;
        folder.commit()?;
        Ok(summary)
    })
}

/// The shard files of `dirs`, checked to be the parts of one run, each once.
fn read_shards(dirs: &[PathBuf]) -> Result<Vec<(PathBuf, BatchSet)>> {
    if dirs.is_empty() {
        return Err(ClusterError::mismatch("give the shard folders to merge"));
    }
    let shards: Vec<(PathBuf, BatchSet)> = dirs
        .iter()
        .map(|d| {
            Ok((
                d.clone(),
                BatchSet::read(&d.join(SHARD_JSON), "voxdose-shard")?,
            ))
        })
        .collect::<Result<_>>()?;
    let (d0, s0) = &shards[0];
    for (d, s) in &shards {
        check_same_version(s, d)?;
        let differs = |what: &str| {
            ClusterError::mismatch(format!(
                "{} and {} are shards of different runs ({what} differs): merge the shards of \
                 one run",
                d0.display(),
                d.display()
            ))
        };
        if s.problem_sha256 != s0.problem_sha256 {
            return Err(differs("problem: configuration or input files"));
        }
        if s.shard.map(|x| x.n) != s0.shard.map(|x| x.n) {
            return Err(differs("the number of shards"));
        }
        if s.device.kind != s0.device.kind {
            return Err(differs("the kind of device (cpu or gpu)"));
        }
    }
    check_complete(&shards)?;
    Ok(shards)
}

/// Every shard 1..N once.
fn check_complete(shards: &[(PathBuf, BatchSet)]) -> Result<()> {
    let n = shards[0].1.shard.map_or(0, |s| s.n);
    let mut by_k: BTreeMap<u32, Vec<&Path>> = BTreeMap::new();
    for (d, s) in shards {
        let k = s.shard.map_or(0, |s| s.k);
        by_k.entry(k).or_default().push(d);
    }
    if let Some((k, dirs)) = by_k.iter().find(|(_, d)| d.len() > 1) {
        let names: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(ClusterError::mismatch(format!(
            "shard {k}/{n} is given twice: {}; give each shard once",
            names.join(" and ")
        )));
    }
    let missing: Vec<String> = (1..=n)
        .filter(|k| !by_k.contains_key(k))
        .map(|k| format!("{k}/{n}"))
        .collect();
    if !missing.is_empty() {
        return Err(ClusterError::mismatch(format!(
            "shard{} {} missing: run `voxdose run --config run.json --shard K/{n}` for {} and \
             merge again",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            if missing.len() > 1 { "them" } else { "it" }
        )));
    }
    Ok(())
}

/// The problem's inputs are read again for the outputs: they must be those the shards ran.
fn check_inputs_unchanged(config: &RunConfig, first: &BatchSet) -> Result<()> {
    if problem_hash(config)? != first.problem_sha256 {
        return Err(ClusterError::mismatch(
            "the input files of this run changed since its shards ran (problem hash differs): \
             run the shards again",
        ));
    }
    Ok(())
}

/// Every batch of every shard, in index order, checked to be the whole run.
fn load_in_order(shards: &[(PathBuf, BatchSet)], config: &RunConfig) -> Result<Vec<DoneBatch>> {
    let mut batches = Vec::new();
    for (d, s) in shards {
        batches.extend(s.load_batches(&d.join(SHARD_JSON))?);
    }
    batches.sort_by_key(|d| d.index);
    let mut next_history = 0;
    for (i, d) in batches.iter().enumerate() {
        if d.index as usize != i || d.first_history != next_history {
            return Err(ClusterError::mismatch(format!(
                "the shards do not hold the batches of one run (batch {i} missing or out of \
                 place)"
            )));
        }
        next_history += d.batch.decays;
    }
    let expected = config.transport.batches.max(2) as usize;
    let decays = match config.transport.stop_rule()? {
        crate::transport::StopRule::Decays(n) => n,
        _ => 0,
    };
    if batches.len() != expected || next_history != decays {
        return Err(ClusterError::mismatch(format!(
            "the shards hold {} batches and {next_history} decays of the {expected} batches and \
             {decays} decays of the run",
            batches.len()
        )));
    }
    Ok(batches)
}
