//! Tally: energy per voxel in 64-bit fixed point (65536 units per keV), batch statistics and
//! dose = energy / mass.
//!
//! Each batch scores into an [`EnergyTally`] (atomic adds, exact and order-independent); at the
//! end of the batch [`BatchStatistics`] folds it, in parallel, into per-voxel Σ E_b and
//! Σ E_b²/n_b (f64), from which the mean energy per decay and its relative standard uncertainty
//! follow (the batch method, weighted for batches of unequal size; Walters, Kawrakow & Rogers
//! 2002, Med. Phys. 29:2745 compare the batch method with the history-by-history method it
//! approximates). Voxels where nothing was scored get uncertainty 0 and dose 0 (a defined
//! value, cf. GATE PR 481).
//! WGSL twin of the deposit: `shaders/shared/tally.wgsl`; the GPU tally is read back and folded
//! here, by the same code.

pub mod dose_to_water;

use crate::physics::tables::UNITS_PER_KEV;
use std::sync::atomic::{AtomicU64, Ordering};

/// Joules per keV (exact, SI 2019).
pub const J_PER_KEV: f64 = 1.602_176_634e-16;

/// A batch tally: fixed-point energy per voxel.
pub struct EnergyTally {
    units: Vec<AtomicU64>,
}

impl EnergyTally {
    /// A zeroed tally of `n` voxels.
    pub fn new(n: usize) -> Self {
        EnergyTally {
            units: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Adds `units` to voxel `v` (kernel function `tally_add`).
    #[inline]
    pub fn add(&self, v: usize, units: u32) {
        if units != 0 {
            self.units[v].fetch_add(units as u64, Ordering::Relaxed);
        }
    }

    /// Adds 64-bit `units` to voxel `v`: gives back deposits taken out with
    /// [`EnergyTally::take_scored`] (exact, as every add).
    pub fn add_units(&self, v: usize, units: u64) {
        if units != 0 {
            self.units[v].fetch_add(units, Ordering::Relaxed);
        }
    }

    /// Reads voxel `v`.
    pub fn get(&self, v: usize) -> u64 {
        self.units[v].load(Ordering::Relaxed)
    }

    /// Zeroes every voxel, in parallel (between batches, with no adds running).
    pub fn clear(&self) {
        use rayon::prelude::*;
        self.units
            .par_chunks(1 << 16)
            .for_each(|c| c.iter().for_each(|u| u.store(0, Ordering::Relaxed)));
    }

    /// Number of voxels that hold a deposit, in parallel.
    pub fn count_scored(&self) -> usize {
        use rayon::prelude::*;
        self.units
            .par_chunks(FOLD_BLOCK)
            .map(|c| c.iter().filter(|u| u.load(Ordering::Relaxed) != 0).count())
            .sum()
    }

    /// Takes the voxels that hold a deposit out of the tally, in voxel order, into `out`
    /// (cleared first), leaving the tally zeroed (between batches, with no adds running):
    /// the CPU's way to `tally_compact`'s list, for [`BatchFold::scored`].
    pub fn take_scored(&self, out: &mut Vec<(u32, u64)>) {
        out.clear();
        collect_scored(self.units.len(), 0, out, |v| {
            let u = &self.units[v];
            // Only voxels that scored are written (the swap), so clean pages stay clean.
            if u.load(Ordering::Relaxed) != 0 {
                u.swap(0, Ordering::Relaxed)
            } else {
                0
            }
        });
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.units.len()
    }

    /// True for an empty grid.
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }
}

/// Appends `(first + i, units_of(i))` for every `i < n` whose units are not zero to `out`, in
/// order of `i`, scanning parallel blocks of 2^15 (a tally on the host, or one
/// read back from the device).
pub fn collect_scored(
    n: usize,
    first: usize,
    out: &mut Vec<(u32, u64)>,
    units_of: impl Fn(usize) -> u64 + Sync,
) {
    use rayon::prelude::*;
    let blocks: Vec<Vec<(u32, u64)>> = (0..n.div_ceil(FOLD_BLOCK))
        .into_par_iter()
        .map(|b| {
            (b * FOLD_BLOCK..((b + 1) * FOLD_BLOCK).min(n))
                .filter_map(|i| {
                    let u = units_of(i);
                    (u != 0).then_some(((first + i) as u32, u))
                })
                .collect()
        })
        .collect();
    out.reserve(blocks.iter().map(Vec::len).sum());
    for b in blocks {
        out.extend(b);
    }
}

/// `n` zeros written into fresh memory, in parallel. `vec![0.0; n]` asks the OS for zeroed
/// pages that are mapped on first touch; a fold that then reads and writes a few voxels per
/// page, all over a clinical grid, takes two page faults per page (the shared zero page,
/// then its copy), which on a virtual machine cost more than the fold. Written once here,
/// each page faults once, in order.
fn written_zeros(n: usize) -> Vec<f64> {
    use rayon::prelude::*;
    (0..n)
        .into_par_iter()
        .with_min_len(FOLD_BLOCK)
        .map(|_| 0.0)
        .collect()
}

/// Voxels folded per parallel block.
const FOLD_BLOCK: usize = 1 << 15;

/// Batch sums of one quantity (a region's energy): Σ_b E_b and Σ_b E_b² / n_b over batches
/// b of n_b decays that deposited E_b keV.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchSums {
    /// Σ_b E_b, keV.
    pub sum: f64,
    /// Σ_b E_b² / n_b, keV²/decay.
    pub sum_sq: f64,
}

impl BatchSums {
    /// Adds one batch of `decays` decays that deposited `energy_kev`.
    pub fn add(&mut self, energy_kev: f64, decays: u64) {
        self.sum += energy_kev;
        self.sum_sq += energy_kev * energy_kev * (1.0 / decays as f64);
    }
}

/// The voxels of each region, sorted, for the regional batch sums.
#[derive(Clone, Debug, Default)]
pub struct RegionVoxels {
    sorted: Vec<Vec<u32>>,
}

impl RegionVoxels {
    /// From each region's voxel list (any order; a voxel may be in several regions).
    pub fn new<'a>(regions: impl IntoIterator<Item = &'a [u32]>) -> Self {
        RegionVoxels {
            sorted: regions
                .into_iter()
                .map(|v| {
                    let mut v = v.to_vec();
                    v.sort_unstable();
                    v
                })
                .collect(),
        }
    }

    /// Number of regions.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// True without regions.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }
}

/// Per-voxel batch statistics of the energy per decay.
///
/// Batches may differ in size (the target-uncertainty runs let them grow). Batch b of n_b
/// decays has mean x_b = E_b / n_b, whose variance is σ²/n_b for a per-decay variance σ².
/// The mean over all N = Σ n_b decays is x̄ = Σ E_b / N, and
/// s² = Σ_b n_b (x_b − x̄)² / (K − 1) = (Σ E_b²/n_b − (Σ E_b)²/N) / (K − 1)
/// is an unbiased estimate of σ² (for normal batch means, (K − 1)s²/σ² is χ² with K − 1
/// degrees of freedom, as for equal batches), so var(x̄) = s²/N. With equal batches this is
/// the usual batch method.
#[derive(Clone, Debug)]
pub struct BatchStatistics {
    /// Per voxel Σ_b E_b: the energy over all batches, keV.
    pub sum: Vec<f64>,
    /// Per voxel Σ_b E_b² / n_b, keV²/decay.
    pub sum_sq: Vec<f64>,
    /// Batches folded in.
    pub batches: u32,
    /// Decays over all batches.
    pub decays: u64,
    /// Total fixed-point units deposited over all batches (exact).
    pub deposited_units: u64,
    /// When recording ([`BatchStatistics::record`]), every batch folded: its decays and the
    /// (voxel, units) it scored, sorted by voxel. Folding them again, in order, into empty
    /// statistics gives these statistics bit for bit (shards, checkpoints).
    pub recorded: Option<Vec<RecordedBatch>>,
}

/// One batch as [`BatchStatistics`] folded it: exact integers, so it can be folded again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordedBatch {
    /// Decays in the batch.
    pub decays: u64,
    /// (voxel, fixed-point units) of every voxel that scored, sorted by voxel.
    pub scored: Vec<(u32, u64)>,
}

impl BatchStatistics {
    /// Empty statistics for `n` voxels.
    pub fn new(n: usize) -> Self {
        BatchStatistics {
            sum: written_zeros(n),
            sum_sq: written_zeros(n),
            batches: 0,
            decays: 0,
            deposited_units: 0,
            recorded: None,
        }
    }

    /// Empty statistics for `n` voxels that keep every batch they fold
    /// ([`BatchStatistics::recorded`]).
    pub fn record(n: usize) -> Self {
        BatchStatistics {
            recorded: Some(Vec::new()),
            ..Self::new(n)
        }
    }

    /// Folds a recorded batch again (the batch's regions into `sums`).
    pub fn refold(
        &mut self,
        batch: &RecordedBatch,
        regions: &RegionVoxels,
        sums: &mut [BatchSums],
    ) {
        let mut scored = batch.scored.clone();
        let mut fold = self.begin_batch(batch.decays, regions);
        fold.scored(&mut scored);
        fold.finish(sums);
    }

    /// Folds one batch of `decays` decays into the statistics and zeroes the tally.
    pub fn add_batch(&mut self, tally: &EnergyTally, decays: u64) {
        self.add_batch_and_regions(decays, |v| tally.get(v), &RegionVoxels::default(), &mut []);
        tally.clear();
    }

    /// Starts folding a batch of `decays` decays whose voxels come in one or more ranges
    /// ([`BatchFold::voxels`]); [`BatchFold::finish`] completes it.
    pub fn begin_batch<'a>(&'a mut self, decays: u64, regions: &'a RegionVoxels) -> BatchFold<'a> {
        let recording = self.recorded.is_some();
        BatchFold {
            stats: self,
            decays,
            deposited: 0,
            regions,
            region_units: vec![0; regions.len()],
            scored: recording.then(Vec::new),
        }
    }

    /// Folds a whole batch: voxel v deposited `units_of(v)` fixed-point units; `sums[r]` gets
    /// the batch energy of region r of `regions`.
    pub fn add_batch_and_regions(
        &mut self,
        decays: u64,
        units_of: impl Fn(usize) -> u64 + Sync,
        regions: &RegionVoxels,
        sums: &mut [BatchSums],
    ) {
        let n = self.sum.len();
        let mut fold = self.begin_batch(decays, regions);
        fold.voxels(0, n, units_of);
        fold.finish(sums);
    }

    /// Mean energy per decay (keV) of voxel `v`.
    pub fn mean(&self, v: usize) -> f64 {
        if self.decays == 0 {
            0.0
        } else {
            self.sum[v] / self.decays as f64
        }
    }

    /// Relative standard uncertainty of the mean of voxel `v` (0 where nothing was scored).
    pub fn rel_sigma(&self, v: usize) -> f64 {
        rel_sigma_of(self.sum[v], self.sum_sq[v], self.decays, self.batches)
    }

    /// [`rel_sigma_of`] for a region's (or any) [`BatchSums`] of these batches.
    pub fn rel_sigma_of_sums(&self, s: BatchSums) -> f64 {
        rel_sigma_of(s.sum, s.sum_sq, self.decays, self.batches)
    }
}

/// One batch being folded into [`BatchStatistics`] (see [`BatchStatistics::begin_batch`]).
pub struct BatchFold<'a> {
    stats: &'a mut BatchStatistics,
    decays: u64,
    deposited: u64,
    regions: &'a RegionVoxels,
    /// Fixed-point energy per region in this batch (exact, so order-free).
    region_units: Vec<u64>,
    /// When the statistics record: the voxels folded with their units.
    scored: Option<Vec<(u32, u64)>>,
}

impl BatchFold<'_> {
    /// Folds voxels `first .. first + len`, voxel `first + i` having deposited `units_of(i)`
    /// fixed-point units (a pure read: it is called more than once for a voxel in a region);
    /// in parallel over regions, then over blocks of voxels.
    pub fn voxels(&mut self, first: usize, len: usize, units_of: impl Fn(usize) -> u64 + Sync) {
        use rayon::prelude::*;
        let inv_units = 1.0 / UNITS_PER_KEV as f64;
        let inv_decays = 1.0 / self.decays as f64;
        let sum = &mut self.stats.sum[first..first + len];
        let sum_sq = &mut self.stats.sum_sq[first..first + len];
        // Regions first: the units are still this batch's.
        let end = (first + len) as u32;
        let region_units: Vec<u64> = self
            .regions
            .sorted
            .par_iter()
            .map(|voxels| {
                let lo = voxels.partition_point(|&v| (v as usize) < first);
                let hi = voxels.partition_point(|&v| v < end);
                voxels[lo..hi]
                    .iter()
                    .map(|&v| units_of(v as usize - first))
                    .sum()
            })
            .collect();
        for (acc, u) in self.region_units.iter_mut().zip(region_units) {
            *acc += u;
        }
        if let Some(list) = &mut self.scored {
            let units_of = &units_of;
            let blocks: Vec<Vec<(u32, u64)>> = (0..len.div_ceil(FOLD_BLOCK))
                .into_par_iter()
                .map(|b| {
                    (b * FOLD_BLOCK..((b + 1) * FOLD_BLOCK).min(len))
                        .filter_map(|i| {
                            let u = units_of(i);
                            (u != 0).then_some(((first + i) as u32, u))
                        })
                        .collect()
                })
                .collect();
            list.extend(blocks.into_iter().flatten());
        }
        self.deposited += sum
            .par_chunks_mut(FOLD_BLOCK)
            .zip(sum_sq.par_chunks_mut(FOLD_BLOCK))
            .enumerate()
            .map(|(b, (sum, sum_sq))| {
                let mut deposited = 0u64;
                for (j, (s, q)) in sum.iter_mut().zip(sum_sq.iter_mut()).enumerate() {
                    let u = units_of(b * FOLD_BLOCK + j);
                    if u != 0 {
                        deposited += u;
                        let e = u as f64 * inv_units;
                        *s += e;
                        *q += e * e * inv_decays;
                    }
                }
                deposited
            })
            .sum::<u64>();
    }

    /// Folds the voxels that scored in this batch, given as (voxel, units) pairs, each voxel
    /// at most once, in any order (sorted here); voxels not listed scored nothing. Gives the
    /// statistics [`BatchFold::voxels`] gives over the whole grid, bit for bit: per voxel the
    /// same additions in the same batch order, per region the same integer sums.
    pub fn scored(&mut self, entries: &mut [(u32, u64)]) {
        use rayon::prelude::*;
        entries.par_sort_unstable_by_key(|&(v, _)| v);
        let entries = &*entries;
        let region_units: Vec<u64> = self
            .regions
            .sorted
            .par_iter()
            .map(|voxels| sorted_overlap_units(voxels, entries))
            .collect();
        for (acc, u) in self.region_units.iter_mut().zip(region_units) {
            *acc += u;
        }
        if let Some(list) = &mut self.scored {
            list.extend(entries.iter().filter(|&&(_, u)| u != 0));
        }
        let inv_units = 1.0 / UNITS_PER_KEV as f64;
        let inv_decays = 1.0 / self.decays as f64;
        let (sum, sum_sq) = (&mut self.stats.sum, &mut self.stats.sum_sq);
        for &(v, u) in entries {
            if u != 0 {
                self.deposited += u;
                let e = u as f64 * inv_units;
                sum[v as usize] += e;
                sum_sq[v as usize] += e * e * inv_decays;
            }
        }
    }

    /// Completes the batch: counts it and adds each region's batch energy to `sums`.
    pub fn finish(self, sums: &mut [BatchSums]) {
        for (acc, &u) in sums.iter_mut().zip(&self.region_units) {
            acc.add(u as f64 / UNITS_PER_KEV as f64, self.decays);
        }
        self.stats.deposited_units += self.deposited;
        self.stats.decays += self.decays;
        self.stats.batches += 1;
        if let (Some(all), Some(mut scored)) = (&mut self.stats.recorded, self.scored) {
            scored.sort_unstable_by_key(|&(v, _)| v);
            all.push(RecordedBatch {
                decays: self.decays,
                scored,
            });
        }
    }
}

/// The units of the `entries` (sorted by voxel, each voxel once) whose voxel is in `voxels`
/// (sorted): each element of the shorter list is looked up in the longer.
fn sorted_overlap_units(voxels: &[u32], entries: &[(u32, u64)]) -> u64 {
    if voxels.len() < entries.len() {
        voxels
            .iter()
            .filter_map(|&v| {
                entries
                    .binary_search_by_key(&v, |&(e, _)| e)
                    .ok()
                    .map(|i| entries[i].1)
            })
            .sum()
    } else {
        entries
            .iter()
            .filter(|&&(v, _)| voxels.binary_search(&v).is_ok())
            .map(|&(_, u)| u)
            .sum()
    }
}

/// Relative standard uncertainty of a mean from Σ_b E_b and Σ_b E_b²/n_b over `batches`
/// batches of `decays` decays in all (see [`BatchStatistics`]).
pub fn rel_sigma_of(sum: f64, sum_sq: f64, decays: u64, batches: u32) -> f64 {
    if batches < 2 || sum <= 0.0 || decays == 0 {
        return 0.0;
    }
    let n = decays as f64;
    let mean = sum / n;
    let var_per_decay = (sum_sq - sum * mean) / (batches as f64 - 1.0);
    let var_mean = (var_per_decay / n).max(0.0);
    var_mean.sqrt() / mean
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physics::rng::Pcg32;

    #[test]
    fn batch_sigma_of_constant_batches_is_zero_and_of_known_values_is_exact() {
        // Batches of one decay scoring 1, 2, 3: mean 2, sample variance 1, σ of mean 1/√3.
        let r = rel_sigma_of(6.0, 14.0, 3, 3);
        assert!((r - (1.0f64 / 3.0).sqrt() / 2.0).abs() < 1e-12);
        // The same batch means over batches of 5 decays (E_b = 5, 10, 15; Σ E_b²/n_b = 70):
        // the same σ of the mean, which comes from the spread of the batch means.
        let r5 = rel_sigma_of(30.0, 70.0, 15, 3);
        assert!((r5 - (1.0f64 / 3.0).sqrt() / 2.0).abs() < 1e-12);
        assert_eq!(rel_sigma_of(8.0, 16.0, 4, 4), 0.0);
        // Unequal batches with equal means (2 per decay): 1 decay scoring 2, 3 scoring 6.
        assert_eq!(rel_sigma_of(8.0, 4.0 + 36.0 / 3.0, 4, 2), 0.0);
    }

    #[test]
    fn add_batch_is_exact_in_fixed_point() {
        let t = EnergyTally::new(3);
        t.add(1, 65536 * 5);
        t.add(1, 65536 * 3);
        let mut s = BatchStatistics::new(3);
        s.add_batch(&t, 4);
        assert_eq!(s.deposited_units, 65536 * 8);
        assert_eq!(s.mean(1), 2.0);
        assert_eq!(t.get(1), 0, "the batch tally is zeroed");
    }

    #[test]
    fn folding_in_ranges_with_regions_matches_one_fold() {
        // 70 000 voxels (three fold blocks), two overlapping regions listed out of order,
        // two batches of different sizes.
        let n = 70_000;
        let units = |b: u64| move |v: usize| (v as u64 * 7919 + b * 104_729) % 1_000_003;
        let r0: Vec<u32> = (0..n as u32).rev().filter(|v| v % 3 != 2).collect();
        let r1: Vec<u32> = (0..n as u32).filter(|v| v % 3 == 1).collect();
        let regions = RegionVoxels::new([r0.as_slice(), r1.as_slice()]);
        let mut whole = BatchStatistics::new(n);
        let mut whole_sums = [BatchSums::default(); 2];
        let mut parts = BatchStatistics::new(n);
        let mut parts_sums = [BatchSums::default(); 2];
        let mut expected = [BatchSums::default(); 2];
        for (b, decays) in [(0, 1000u64), (1, 3000)] {
            whole.add_batch_and_regions(decays, units(b), &regions, &mut whole_sums);
            let f = units(b);
            let mut fold = parts.begin_batch(decays, &regions);
            fold.voxels(0, 40_000, f);
            fold.voxels(40_000, n - 40_000, |i| f(40_000 + i));
            fold.finish(&mut parts_sums);
            for (e, r) in expected.iter_mut().zip([&r0, &r1]) {
                let u: u64 = r.iter().map(|&v| f(v as usize)).sum();
                e.add(u as f64 / 65536.0, decays);
            }
        }
        assert_eq!(whole.sum, parts.sum);
        assert_eq!(whole.sum_sq, parts.sum_sq);
        assert_eq!(whole.deposited_units, parts.deposited_units);
        assert_eq!((parts.batches, parts.decays), (2, 4000));
        assert_eq!(whole_sums, expected);
        assert_eq!(parts_sums, expected);
    }

    #[test]
    fn taking_the_scored_voxels_lists_them_in_order_and_zeroes_the_tally() {
        // Three fold blocks and a bit; deposits in the first, last and a middle block.
        let n = 3 * FOLD_BLOCK + 5;
        let tally = EnergyTally::new(n);
        let hits = [
            (7usize, 3u32),
            (FOLD_BLOCK + 1, 9),
            (n - 1, 4),
            (7, u32::MAX),
        ];
        for &(v, u) in &hits {
            tally.add(v, u);
        }
        assert_eq!(tally.count_scored(), 3);
        let mut out = vec![(1, 1)];
        tally.take_scored(&mut out);
        let want = vec![
            (7, 3 + u64::from(u32::MAX)),
            (FOLD_BLOCK as u32 + 1, 9),
            (n as u32 - 1, 4),
        ];
        assert_eq!(out, want);
        assert_eq!(tally.count_scored(), 0);
        assert!((0..n).all(|v| tally.get(v) == 0));
    }

    #[test]
    fn folding_the_scored_voxels_in_any_order_matches_the_whole_grid_fold() {
        // 50 000 voxels of which about one in 40 scores per batch; a region larger than the
        // list of scored voxels, one smaller (both lookup directions), one of a single
        // voxel; the list shuffled.
        let n = 50_000usize;
        let units = |b: u64| {
            move |v: usize| {
                let h = (v as u64 * 2_654_435_761 + b * 97) % 4001;
                if h < 100 {
                    h * 1_000_003 + (1 << 33)
                } else {
                    0
                }
            }
        };
        let big: Vec<u32> = (0..n as u32).filter(|v| v % 2 == 0).collect();
        let small: Vec<u32> = (0..n as u32).step_by(997).collect();
        let none = vec![n as u32 - 1];
        let regions = RegionVoxels::new([big.as_slice(), small.as_slice(), none.as_slice()]);
        let mut whole = BatchStatistics::new(n);
        let mut whole_sums = [BatchSums::default(); 3];
        let mut sparse = BatchStatistics::new(n);
        let mut sparse_sums = [BatchSums::default(); 3];
        let mut rng = Pcg32::new(3, 0);
        for (b, decays) in [(0, 700u64), (1, 2100), (2, 1300)] {
            let f = units(b);
            whole.add_batch_and_regions(decays, f, &regions, &mut whole_sums);
            let mut scored: Vec<(u32, u64)> = (0..n)
                .filter(|&v| f(v) != 0)
                .map(|v| (v as u32, f(v)))
                .collect();
            assert!(scored.len() > small.len() && scored.len() < big.len());
            for i in (1..scored.len()).rev() {
                let j = (rng.next_u32() as usize) % (i + 1);
                scored.swap(i, j);
            }
            let mut fold = sparse.begin_batch(decays, &regions);
            fold.scored(&mut scored);
            fold.finish(&mut sparse_sums);
        }
        assert_eq!(whole.sum, sparse.sum);
        assert_eq!(whole.sum_sq, sparse.sum_sq);
        assert_eq!(whole.deposited_units, sparse.deposited_units);
        assert_eq!((sparse.batches, sparse.decays), (3, 4100));
        assert_eq!(whole_sums, sparse_sums);
        assert!(sparse_sums[0].sum > 0.0 && sparse_sums[1].sum > 0.0);
    }

    /// Batches of unequal size: the weighted estimate of var(x̄) is unbiased. 4000 runs of
    /// 3200 exponential per-decay energies (mean 1, variance 1) in batches of 100 to 1600
    /// decays; the mean estimate of var(x̄) must match 1/3200 within 4 standard errors of
    /// that mean. (An unweighted batch method would give 2.6× more here.)
    #[test]
    fn unequal_batches_estimate_the_variance_of_the_mean_without_bias() {
        let sizes = [100u64, 100, 200, 400, 800, 1600];
        let total: u64 = sizes.iter().sum();
        let runs = 4000;
        let mut rng = Pcg32::new(2026, 7);
        let estimates: Vec<f64> = (0..runs)
            .map(|_| {
                let mut s = BatchSums::default();
                for &n in &sizes {
                    let e: f64 = (0..n)
                        .map(|_| -((rng.next_u32() as f64 + 0.5) / 4294967296.0).ln())
                        .sum();
                    s.add(e, n);
                }
                let mean = s.sum / total as f64;
                let r = rel_sigma_of(s.sum, s.sum_sq, total, sizes.len() as u32);
                (r * mean).powi(2)
            })
            .collect();
        let m = estimates.iter().sum::<f64>() / runs as f64;
        let sd =
            (estimates.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (runs - 1) as f64).sqrt();
        let se = sd / (runs as f64).sqrt();
        let truth = 1.0 / total as f64;
        assert!(
            (m - truth).abs() < 4.0 * se,
            "mean var estimate {m:e} vs {truth:e} (se {se:e})"
        );
    }
}
