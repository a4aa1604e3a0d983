//! Region statistics of BED: the equivalent uniform BED (EUBED), BED-volume points and
//! histograms, and sums over cycles.
//!
//! Units: Gy; α in 1/Gy. Voxels of one grid have equal volumes, so volume fractions are voxel
//! fractions.
//!
//! EUBED (O'Donoghue 1999, J Nucl Med 40:1337): the uniform BED that gives the same surviving
//! fraction, EUBED = −(1/α) ln[(1/N) Σᵥ exp(−α·BEDᵥ)]. It is evaluated shifted by the
//! smallest BED, so exp never underflows to zero for large BED:
//! EUBED = B_min − (1/α) ln[(1/N) Σᵥ exp(−α(BEDᵥ − B_min))].

/// EUBED (Gy) of the voxel BEDs `bed_gy` (equal volumes) for α in 1/Gy; `None` for an empty
/// region.
pub fn eubed_gy(bed_gy: &[f64], alpha_per_gy: f64) -> Option<f64> {
    let b_min = bed_gy.iter().copied().fold(f64::INFINITY, f64::min);
    if bed_gy.is_empty() || !b_min.is_finite() {
        return None;
    }
    let mean: f64 = bed_gy
        .iter()
        .map(|b| (-alpha_per_gy * (b - b_min)).exp())
        .sum::<f64>()
        / bed_gy.len() as f64;
    Some(b_min - mean.ln() / alpha_per_gy)
}

/// BED summed over cycles voxel by voxel: cycles weeks apart repair fully in between, so
/// their BEDs add (TWIN.md §1). Maps must have the same length.
pub fn accumulate_cycles(cycle_bed_gy: &[&[f32]]) -> Vec<f32> {
    let n = cycle_bed_gy.first().map_or(0, |m| m.len());
    (0..n)
        .map(|v| cycle_bed_gy.iter().map(|m| m[v] as f64).sum::<f64>() as f32)
        .collect()
}

/// Dx of values sorted in decreasing order: the value at which the cumulative volume first
/// reaches x % (ICRU 83 convention, as [`crate::report::dvh`]).
pub fn d_at_percent(sorted_desc: &[f64], percent: f64) -> f64 {
    if sorted_desc.is_empty() {
        return 0.0;
    }
    let n = sorted_desc.len();
    let k = ((percent / 100.0 * n as f64).ceil() as usize).clamp(1, n);
    sorted_desc[k - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eubed_of_a_uniform_bed_equals_it() {
        for b in [0.5, 12.0396, 40.0, 400.0] {
            let e = eubed_gy(&[b; 57], 0.3).unwrap();
            assert!((e - b).abs() < 1e-12 * b, "{b} → {e}");
        }
    }

    #[test]
    fn eubed_lies_between_min_and_mean_and_matches_direct_sum() {
        // A cold voxel dominates survival: EUBED ≤ mean BED (Jensen), ≥ the minimum.
        let bed = [10.0, 20.0, 30.0, 40.0];
        let a = 0.2;
        let e = eubed_gy(&bed, a).unwrap();
        let direct = -(bed.iter().map(|b: &f64| (-a * b).exp()).sum::<f64>() / 4.0).ln() / a;
        assert!((e - direct).abs() < 1e-12, "{e} vs {direct}");
        assert!(e > 10.0 && e < 25.0, "{e}");
        // BED so large that exp(−αB) underflows: the shifted sum still works.
        let e = eubed_gy(&[5000.0, 5000.0], 0.35).unwrap();
        assert!((e - 5000.0).abs() < 1e-9);
    }

    #[test]
    fn two_cycles_add() {
        let c1 = [1.0f32, 2.0, 0.0];
        let c2 = [0.5f32, 0.0, 0.0];
        assert_eq!(accumulate_cycles(&[&c1, &c2]), vec![1.5, 2.0, 0.0]);
    }
}
