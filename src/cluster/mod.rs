//! Headless cluster jobs: a run split into shards that merge into exactly the run they are
//! parts of, checkpoints a killed run resumes from, and the Slurm scripts that drive both.
//!
//! ```text
//! run --shard K/N ──▶ shard.json + shard.bin ─┐            (shard.rs: the K-th of N parts:
//! run --shard ... ──▶ ...                     ├─ merge ─▶ the outputs of one run, bit for bit
//! run --shard N/N ──▶ ...                     ┘            (merge.rs: checks, folds, writes)
//! run --checkpoint-every-s S ──▶ checkpoint.json + checkpoint-NNNNNN.bin ──▶ run --resume DIR
//!                                                          (checkpoint.rs, job.rs)
//! slurm --config run.json --shards N ──▶ shards.sbatch (array) + merge.sbatch (afterok)
//!                                                          (slurm.rs)
//! ```
//!
//! All of it rests on one property of the batch loop ([`crate::transport::driver`]): a batch
//! is keyed by its index and its first history (the random streams are (seed, history)), and
//! what it scored is recorded exactly (integers), so batches run anywhere fold again, in index
//! order, into the statistics of the run that ran them all, bit for bit. A shard runs the
//! batches `b` with `b mod N = K − 1`; a checkpoint is the batches done so far. Both are
//! stored as a [`batches::BatchSet`]: a JSON description (problem hash, configuration,
//! device, batch indices) and a binary file of the batches it names.

pub mod batches;
pub mod checkpoint;
pub mod hash;
pub mod job;
pub mod merge;
pub mod shard;
pub mod slurm;

pub use job::{run_job, Job, JobOutcome};
pub use merge::merge;
pub use shard::ShardSpec;

use std::path::PathBuf;

/// What can stop a cluster job.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Shards or a checkpoint that do not make one run: another problem, missing or repeated
    /// shards, a damaged batch file, a schedule that cannot be split (exit code 41).
    #[error("{0}")]
    Mismatch(String),
    /// SIGTERM (or SIGINT) during the transport: the checkpoint was written (exit code 42).
    #[error("stopped by a signal after {batches} batches; checkpoint written in {dir}: continue with `voxdose run --resume {dir}`", dir = .dir.display())]
    Stopped {
        /// The folder holding the checkpoint.
        dir: PathBuf,
        /// Batches the checkpoint holds.
        batches: usize,
    },
    /// sbatch missing or refusing the job (exit code 70).
    #[error("{0}")]
    Slurm(String),
}

impl ClusterError {
    /// The process exit code (README table).
    pub fn exit_code(&self) -> i32 {
        match self {
            ClusterError::Mismatch(_) => 41,
            ClusterError::Stopped { .. } => 42,
            ClusterError::Slurm(_) => 70,
        }
    }

    /// A [`ClusterError::Mismatch`] with `text`.
    pub fn mismatch(text: impl Into<String>) -> crate::Error {
        ClusterError::Mismatch(text.into()).into()
    }
}
