//! Tally: energy per voxel in 64-bit fixed point (65536 units per keV), batch statistics and
//! dose = energy / mass.
//!
//! Each batch scores into an [`EnergyTally`] (atomic adds, exact and order-independent); at the
//! end of the batch [`BatchStatistics::add_batch`] folds it into per-voxel Σx and Σx² of the
//! energy per decay (f64), from which the mean and its relative standard uncertainty follow
//! (the batch method; Walters, Kawrakow & Rogers 2002, Med. Phys. 29:2745 compare it with the
//! history-by-history method it approximates). Voxels where nothing was scored get uncertainty 0
//! and dose 0 (a defined value, cf. GATE PR 481).
//! WGSL twins: `shaders/shared/tally.wgsl` (deposit) and `shaders/tally_reduce.wgsl`.

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

    /// Reads and zeroes voxel `v`.
    pub fn take(&self, v: usize) -> u64 {
        self.units[v].swap(0, Ordering::Relaxed)
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

/// Per-voxel batch statistics of the energy per decay.
#[derive(Clone, Debug)]
pub struct BatchStatistics {
    /// Σ over batches of (batch energy / batch decays), keV.
    pub sum: Vec<f64>,
    /// Σ of squares, keV².
    pub sum_sq: Vec<f64>,
    /// Batches folded in.
    pub batches: u32,
    /// Total fixed-point units deposited over all batches (exact).
    pub deposited_units: u64,
}

impl BatchStatistics {
    /// Empty statistics for `n` voxels.
    pub fn new(n: usize) -> Self {
        BatchStatistics {
            sum: vec![0.0; n],
            sum_sq: vec![0.0; n],
            batches: 0,
            deposited_units: 0,
        }
    }

    /// Folds one batch of `decays` decays into the statistics and zeroes the tally. Returns the
    /// per-voxel energy per decay of this batch through `each` (voxel, keV/decay) for callers
    /// that keep regional sums.
    pub fn add_batch(&mut self, tally: &EnergyTally, decays: u64, each: impl FnMut(usize, f64)) {
        self.add_batch_with(decays, |v| tally.take(v), each);
    }

    /// [`BatchStatistics::add_batch`] for fixed-point energies read by `units_of(voxel)` (a
    /// CPU tally, or a GPU tally read back into a slice).
    pub fn add_batch_with(
        &mut self,
        decays: u64,
        mut units_of: impl FnMut(usize) -> u64,
        mut each: impl FnMut(usize, f64),
    ) {
        let inv = 1.0 / (decays as f64 * UNITS_PER_KEV as f64);
        let mut deposited = 0u64;
        for v in 0..self.sum.len() {
            let u = units_of(v);
            if u != 0 {
                deposited += u;
                let x = u as f64 * inv;
                self.sum[v] += x;
                self.sum_sq[v] += x * x;
                each(v, x);
            }
        }
        self.deposited_units += deposited;
        self.batches += 1;
    }

    /// Folds a batch into the voxel statistics and into per-region Σx, Σx² (`region_of[v]`
    /// lists the regions of voxel v; `region_stats[r]` = (Σx, Σx²) of region r).
    pub fn add_batch_and_regions(
        &mut self,
        decays: u64,
        units_of: impl FnMut(usize) -> u64,
        region_of: &[Vec<u16>],
        region_stats: &mut [(f64, f64)],
    ) {
        let mut region_batch = vec![0.0f64; region_stats.len()];
        self.add_batch_with(decays, units_of, |v, x| {
            for &r in region_of.get(v).map(|r| r.as_slice()).unwrap_or(&[]) {
                region_batch[r as usize] += x;
            }
        });
        for (acc, x) in region_stats.iter_mut().zip(&region_batch) {
            acc.0 += x;
            acc.1 += x * x;
        }
    }

    /// Mean energy per decay (keV) of voxel `v`.
    pub fn mean(&self, v: usize) -> f64 {
        if self.batches == 0 {
            0.0
        } else {
            self.sum[v] / self.batches as f64
        }
    }

    /// Relative standard uncertainty of the mean of voxel `v` (0 where nothing was scored).
    pub fn rel_sigma(&self, v: usize) -> f64 {
        rel_sigma_of(self.sum[v], self.sum_sq[v], self.batches)
    }
}

/// Relative standard uncertainty of a mean from Σx, Σx² over `b` batches.
pub fn rel_sigma_of(sum: f64, sum_sq: f64, b: u32) -> f64 {
    if b < 2 || sum <= 0.0 {
        return 0.0;
    }
    let n = b as f64;
    let mean = sum / n;
    let var_mean = ((sum_sq - n * mean * mean) / (n * (n - 1.0))).max(0.0);
    var_mean.sqrt() / mean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sigma_of_constant_batches_is_zero_and_of_known_values_is_exact() {
        // Batches 1, 2, 3: mean 2, sample variance 1, σ of mean 1/√3.
        let r = rel_sigma_of(6.0, 14.0, 3);
        assert!((r - (1.0f64 / 3.0).sqrt() / 2.0).abs() < 1e-12);
        assert_eq!(rel_sigma_of(8.0, 16.0, 4), 0.0);
    }

    #[test]
    fn add_batch_is_exact_in_fixed_point() {
        let t = EnergyTally::new(3);
        t.add(1, 65536 * 5);
        t.add(1, 65536 * 3);
        let mut s = BatchStatistics::new(3);
        s.add_batch(&t, 4, |_, _| {});
        assert_eq!(s.deposited_units, 65536 * 8);
        assert_eq!(s.mean(1), 2.0);
        assert_eq!(t.take(1), 0, "the batch tally is zeroed");
    }
}
