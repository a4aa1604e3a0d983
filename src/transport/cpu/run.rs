//! [`CpuBackend`]: batches of [`decay_history`] over the rayon pool the run is called in,
//! scoring into one shared fixed-point tally; the CPU side of the one batch loop
//! (`transport::driver::run_batches`). The GPU side is `transport::gpu::run::GpuBackend`.

use super::decay_history::decay_history;
use super::{Ctx, HistoryCounters};
use crate::geometry::VoxelModel;
use crate::tally::EnergyTally;
use crate::transport::backend::{Backend, Fold, PilotPart};
use crate::transport::driver::Prepared;
use crate::transport::{DeviceInfo, Observer};
use crate::Result;
use rayon::prelude::*;
use std::time::Instant;

/// A batch that scored in fewer than 1/this of the voxels is folded as a list
/// ([`EnergyTally::take_scored`]); a longer list is dearer to build and sort than the
/// whole-grid fold. 1/8 is a round bound, not a tuned one (the 104 M-voxel grid in
/// BENCHMARKS.md scores in 0.15 % of its voxels per batch).
const SPARSE_FOLD_FRACTION: usize = 8;

/// The CPU reference transport of one problem.
pub struct CpuBackend<'a> {
    model: &'a VoxelModel,
    prep: &'a Prepared,
    tally: EnergyTally,
    scored: Vec<(u32, u64)>,
    /// The pilot of the batch being launched: its counters, and the deposits its listed
    /// parts took out of the tally (given back before the rest of the batch runs).
    pilot: HistoryCounters,
    held: Vec<(u32, u64)>,
}

/// A CPU batch: it has run by the time `launch` returns.
pub struct CpuBatch {
    n: u32,
    counters: HistoryCounters,
}

impl<'a> CpuBackend<'a> {
    /// A backend for `model` with its tables `prep`.
    pub fn new(model: &'a VoxelModel, prep: &'a Prepared) -> Self {
        CpuBackend {
            model,
            prep,
            tally: EnergyTally::new(model.grid.n_voxels()),
            scored: Vec::new(),
            pilot: HistoryCounters::default(),
            held: Vec::new(),
        }
    }

    /// Runs histories `first .. first + n` in parallel, each scoring into the shared tally.
    fn run_histories(&self, first: u64, n: u32) -> HistoryCounters {
        let mut params = self.prep.params;
        params.first_history = first;
        params.n_histories = n;
        let inp = self.prep.inputs(self.model, &params);
        let tally = &self.tally;
        (0..n)
            .into_par_iter()
            .with_min_len(256)
            .fold(HistoryCounters::default, |mut c, h| {
                let mut ctx = Ctx {
                    inp,
                    tally,
                    counters: &mut c,
                };
                decay_history(&mut ctx, h);
                c
            })
            .reduce(HistoryCounters::default, HistoryCounters::merge)
    }
}

impl Backend for CpuBackend<'_> {
    type Batch = CpuBatch;

    /// Runs the batch's histories in parallel, each scoring into the shared tally.
    fn launch(&mut self, first: u64, n: u32) -> Result<CpuBatch> {
        let counters = self.run_histories(first, n);
        Ok(CpuBatch { n, counters })
    }

    /// A part runs as a batch does; a listed part's deposits are taken out of the tally
    /// (`take_scored`, a pass over the grid) and held until [`Backend::launch_rest`].
    fn pilot_part(&mut self, first: u64, n: u32, list: bool) -> Result<PilotPart> {
        let c = self.run_histories(first, n);
        self.pilot = self.pilot.merge(c);
        if !list {
            return Ok(PilotPart::default());
        }
        let start = Instant::now();
        let mut part = Vec::new();
        self.tally.take_scored(&mut part);
        self.held.extend_from_slice(&part);
        Ok(PilotPart {
            deposits: Some(part),
            listing_s: start.elapsed().as_secs_f64(),
        })
    }

    /// Gives the held deposits back to the tally (integer adds: the tally then holds what
    /// the pilot's histories scored, exactly), then runs the rest.
    fn launch_rest(&mut self, first: u64, n: u32, done: u32) -> Result<CpuBatch> {
        for &(v, units) in &self.held {
            self.tally.add_units(v as usize, units);
        }
        self.held = Vec::new();
        let rest = self.run_histories(first + u64::from(done), n - done);
        let counters = std::mem::take(&mut self.pilot).merge(rest);
        Ok(CpuBatch { n, counters })
    }

    fn decays(batch: &CpuBatch) -> u32 {
        batch.n
    }

    fn overlaps(&self) -> bool {
        false
    }

    /// Folds the tally and clears it. A batch that scored in few of the grid's voxels (a
    /// clinical CT grid) is folded as the list of those voxels; either way the statistics
    /// are the same bit for bit.
    fn collect(
        &mut self,
        batch: CpuBatch,
        fold: &mut Fold<'_>,
        _observer: &mut dyn Observer,
    ) -> Result<HistoryCounters> {
        let start = Instant::now();
        let n_vox = self.model.grid.n_voxels();
        let decays = u64::from(batch.n);
        if self.tally.count_scored() < n_vox / SPARSE_FOLD_FRACTION {
            self.tally.take_scored(&mut self.scored);
            let mut f = fold.stats.begin_batch(decays, fold.regions);
            f.scored(&mut self.scored);
            f.finish(fold.region_sums);
        } else {
            let tally = &self.tally;
            fold.stats.add_batch_and_regions(
                decays,
                |v| tally.get(v),
                fold.regions,
                fold.region_sums,
            );
            self.tally.clear();
        }
        *fold.seconds += start.elapsed().as_secs_f64();
        Ok(batch.counters)
    }

    fn device_info(&self, _first_batch: u32) -> DeviceInfo {
        cpu_device_info()
    }
}

/// The CPU device description (threads of the pool the caller runs in).
pub fn cpu_device_info() -> DeviceInfo {
    DeviceInfo {
        kind: "cpu".into(),
        name: cpu_name(),
        backend: "rust (rayon)".into(),
        driver: format!("voxdose {} CPU reference", env!("CARGO_PKG_VERSION")),
        parallelism: rayon::current_num_threads() as u64,
        decays_per_block: None,
        rerun_batches: None,
        compile_s: None,
    }
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}
