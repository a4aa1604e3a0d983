//! Checkpoints: every `--checkpoint-every-s` seconds, and when SIGTERM or SIGINT arrives
//! (Slurm's warning before a time limit, a Ctrl-C), the batches done so far are written into
//! the run's `--out` as `checkpoint.json` + `checkpoint-NNNNNN.bin` (NNNNNN: batches held).
//! The binary file is written first and the description after it, each atomically, and the
//! description names its file: a run killed at any moment leaves the previous checkpoint or
//! the new one, whole. A signal ends the run after the batch in flight (exit code 42); a second
//! signal ends it at once. `voxdose run --resume DIR` folds the checkpoint's batches again and
//! runs the rest: the same dose, bit for bit, as a run never stopped.

use super::batches::BatchSet;
use super::ClusterError;
use crate::transport::driver::DoneBatch;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The checkpoint description in a run's `--out`.
pub const CHECKPOINT_JSON: &str = "checkpoint.json";

/// Writes checkpoints of one run (its `after_batch` hook).
pub struct Checkpointer {
    json: PathBuf,
    every: Option<Duration>,
    last: Instant,
    set: BatchSet,
    stop: Arc<AtomicBool>,
}

impl Checkpointer {
    /// Checkpoints of the run `set` describes (its batch list is filled at each write) into
    /// `dir`, every `every_s` seconds (`None`: only on a signal).
    pub fn new(dir: &Path, set: BatchSet, every_s: Option<f64>) -> Result<Checkpointer> {
        Ok(Checkpointer {
            json: dir.join(CHECKPOINT_JSON),
            every: every_s.map(Duration::from_secs_f64),
            last: Instant::now(),
            set,
            stop: stop_signal()?,
        })
    }

    /// After each batch: writes a checkpoint when one is due or a signal came, and ends the
    /// run ([`ClusterError::Stopped`]) after a signal.
    pub fn after_batch(&mut self, done: &[DoneBatch], wall_s: f64) -> Result<()> {
        let stopping = self.stop.load(Ordering::SeqCst);
        if stopping || self.every.is_some_and(|e| self.last.elapsed() >= e) {
            self.write(done, wall_s)?;
        }
        if stopping {
            return Err(ClusterError::Stopped {
                dir: self
                    .json
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
                batches: done.len(),
            }
            .into());
        }
        Ok(())
    }

    fn write(&mut self, done: &[DoneBatch], wall_s: f64) -> Result<()> {
        let old = std::mem::replace(
            &mut self.set.batches_file,
            format!("checkpoint-{:06}.bin", done.len()),
        );
        self.set.wall_s = wall_s;
        self.set.write(&self.json, done)?;
        if old != self.set.batches_file && !old.is_empty() {
            let _ = std::fs::remove_file(self.json.with_file_name(old));
        }
        self.last = Instant::now();
        Ok(())
    }
}

/// The checkpoint in `dir` and its batches.
pub fn read(dir: &Path) -> Result<(BatchSet, Vec<DoneBatch>)> {
    let json = dir.join(CHECKPOINT_JSON);
    if !json.exists() {
        return Err(ClusterError::mismatch(format!(
            "{} holds no checkpoint ({CHECKPOINT_JSON}); a run writes one with \
             --checkpoint-every-s S or when it gets SIGTERM",
            dir.display()
        )));
    }
    let set = BatchSet::read(&json, "voxdose-checkpoint")?;
    let batches = set.load_batches(&json)?;
    Ok((set, batches))
}

/// The flag SIGTERM and SIGINT set (registered once per process); a second signal while it
/// is set exits at once (code 42, the checkpoint of the previous interval stands).
pub fn stop_signal() -> Result<Arc<AtomicBool>> {
    static FLAG: OnceLock<std::result::Result<Arc<AtomicBool>, String>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register_conditional_shutdown(sig, 42, flag.clone())
                .and_then(|_| signal_hook::flag::register(sig, flag.clone()))
                .map_err(|e| format!("cannot catch signal {sig}: {e}"))?;
        }
        Ok(flag)
    })
    .clone()
    .map_err(Error::Internal)
}
