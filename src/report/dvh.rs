//! Dose statistics of a region: mass-weighted mean, min, max, dose–volume points (D2, D50,
//! D98) and the cumulative dose–volume histogram.
//!
//! Conventions: `Dx` is the minimum dose received by the hottest x % of the region's volume
//! (ICRU Report 83, section 3.7: D98 ≈ near-minimum, D2 ≈ near-maximum dose). Voxels are
//! weighted by volume for the DVH and D-points (all voxels of a grid have the same volume)
//! and by mass for the mean dose (mean absorbed dose = energy / mass). Doses in Gy.

use serde::Serialize;

/// Summary statistics of the dose in one region.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DoseStats {
    /// Mass-weighted mean dose, Gy.
    pub mean_gy: f64,
    /// Minimum voxel dose, Gy.
    pub min_gy: f64,
    /// Maximum voxel dose, Gy.
    pub max_gy: f64,
    /// Near-maximum dose (hottest 2 % of the volume), Gy.
    pub d2_gy: f64,
    /// Median dose, Gy.
    pub d50_gy: f64,
    /// Near-minimum dose (98 % of the volume receives at least this), Gy.
    pub d98_gy: f64,
}

/// Statistics of `dose_gy` over voxels with masses `mass_kg` (same length, non-empty).
pub fn dose_stats(dose_gy: &[f64], mass_kg: &[f64]) -> DoseStats {
    let total_mass: f64 = mass_kg.iter().sum();
    let mean_gy = if total_mass > 0.0 {
        dose_gy.iter().zip(mass_kg).map(|(d, m)| d * m).sum::<f64>() / total_mass
    } else {
        dose_gy.iter().sum::<f64>() / dose_gy.len().max(1) as f64
    };
    let mut sorted = dose_gy.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    DoseStats {
        mean_gy,
        min_gy: sorted.last().copied().unwrap_or(0.0),
        max_gy: sorted.first().copied().unwrap_or(0.0),
        d2_gy: d_at(&sorted, 2.0),
        d50_gy: d_at(&sorted, 50.0),
        d98_gy: d_at(&sorted, 98.0),
    }
}

/// Dx from doses sorted in decreasing order: the dose of the voxel at which the cumulative
/// volume first reaches x % (voxel granularity, no interpolation).
fn d_at(sorted_desc: &[f64], percent: f64) -> f64 {
    if sorted_desc.is_empty() {
        return 0.0;
    }
    let n = sorted_desc.len();
    let k = ((percent / 100.0 * n as f64).ceil() as usize).clamp(1, n);
    sorted_desc[k - 1]
}

/// Cumulative DVH: for `bins` dose levels from 0 to the maximum, the fraction of the volume
/// receiving at least that dose. Returns (dose_gy, volume_fraction) pairs.
pub fn cumulative_dvh(dose_gy: &[f64], bins: usize) -> Vec<(f64, f64)> {
    let max = dose_gy.iter().copied().fold(0.0, f64::max);
    let n = dose_gy.len().max(1) as f64;
    let mut sorted = dose_gy.to_vec();
    sorted.sort_by(f64::total_cmp);
    (0..=bins)
        .map(|b| {
            let level = max * b as f64 / bins.max(1) as f64;
            let below = sorted.partition_point(|d| *d < level);
            (level, (sorted.len() - below) as f64 / n)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d_points_of_a_uniform_ramp() {
        // Doses 1..=100 Gy in equal voxels: the hottest 2 % are 100 and 99 → D2 = 99;
        // D50 = 51 (the 50th hottest); D98 = 3 (98 voxels get ≥ 3 Gy).
        let d: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = dose_stats(&d, &vec![1.0; 100]);
        assert_eq!((s.d2_gy, s.d50_gy, s.d98_gy), (99.0, 51.0, 3.0));
        assert_eq!((s.min_gy, s.max_gy), (1.0, 100.0));
        assert!((s.mean_gy - 50.5).abs() < 1e-12);
    }

    #[test]
    fn mean_is_mass_weighted_and_dvh_starts_at_one() {
        let s = dose_stats(&[1.0, 3.0], &[3.0, 1.0]);
        assert!((s.mean_gy - 1.5).abs() < 1e-12);
        let dvh = cumulative_dvh(&[1.0, 2.0, 3.0, 4.0], 4);
        assert_eq!(dvh[0], (0.0, 1.0));
        assert_eq!(dvh[4], (4.0, 0.25));
        assert!(dvh.windows(2).all(|w| w[1].1 <= w[0].1));
    }
}
