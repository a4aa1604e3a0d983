//! Voxel BED and EQD2 maps and their region summaries, per cycle and summed over cycles.
//!
//! Input: one or more absorbed-dose maps in Gy (with optional 1-σ maps in Gy), and regions,
//! each with a tissue and, per cycle, which map and what share of it the cycle delivered and
//! the cycle's dose-rate shape. A voxel's BED in cycle c is
//! BED_c = D_c + G_c·D_c²/(α/β) with D_c = f_c·D_map(c); BEDs add over cycles (full repair
//! between cycles, TWIN.md §1). Voxels in no region get 0 in the maps, and are counted.
//!
//! Uncertainty of a region's mean BED (first order; `uncertainty_note` in the summary):
//! voxel dose errors are independent between voxels (the Monte Carlo batch σ), fully
//! correlated between cycles that share one dose map (a study dose split by TIA shares), and
//! independent between maps; σ(G) of a cycle is shared by all voxels of the region (fully
//! correlated) and independent between cycles.
//!
//! Voxel kinetics: a cycle may name per-voxel dose-rate shapes ([`VoxelShapes`], the voxel
//! fits of a study); a voxel with a usable fit there takes its own G, every other voxel its
//! region's. σ(G) stays the region fit's for every voxel (the voxel fits' covariances are
//! not stored).
//!
//! Units: Gy, h, 1/Gy; volumes in mL.

use super::lq::{bed_from_g, dbed_ddose, eqd2_gy, DoseRateModel};
use super::stats::{d_at_percent, eubed_gy};
use super::tissue::{Limit, LimitQuantity, Tissue};
pub use super::voxel_shapes::VoxelShapes;
use serde::Serialize;

/// The dose maps the BED is computed from (same grid).
#[derive(Clone, Debug)]
pub struct DoseMaps<'a> {
    /// Absorbed dose per voxel, Gy, one map per entry.
    pub dose_gy: Vec<&'a [f32]>,
    /// 1-σ of each map, Gy (None: unknown, treated as 0).
    pub sigma_gy: Vec<Option<&'a [f32]>>,
    /// Per-voxel dose-rate shapes that cycles may name ([`CycleDose::voxel_shapes`]).
    pub voxel_shapes: &'a [VoxelShapes],
}

impl DoseMaps<'_> {
    /// G of voxel `v` in cycle `c`: its own where `c` names voxel shapes with a usable fit
    /// there (second value true), else `region_g`.
    fn g_at(&self, c: &CycleDose, v: usize, repair_half_time_h: f64, region_g: f64) -> (f64, bool) {
        c.voxel_shapes
            .and_then(|i| self.voxel_shapes.get(i))
            .and_then(|s| s.g_factor(v, repair_half_time_h))
            .map_or((region_g, false), |g| (g, true))
    }
}

/// One cycle's part of a region's dose.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CycleDose {
    /// Cycle number (1-based).
    pub cycle: usize,
    /// Which dose map (index into [`DoseMaps::dose_gy`]).
    #[serde(skip)]
    pub map: usize,
    /// The share of that map delivered in this cycle (1 for a per-cycle map).
    pub dose_fraction: f64,
    /// The dose-rate shape.
    pub model: DoseRateModel,
    /// σ of the Lea–Catcheside factor from the kinetics covariance (0 when unknown).
    pub g_factor_sigma: f64,
    /// Where the kinetics came from, in words.
    pub kinetics: String,
    /// Per-voxel shapes for this cycle (index into [`DoseMaps::voxel_shapes`]), used where a
    /// voxel has a usable fit.
    #[serde(skip)]
    pub voxel_shapes: Option<usize>,
}

/// A region to compute BED in.
#[derive(Clone, Debug)]
pub struct BedRegion {
    /// Region name.
    pub name: String,
    /// Its tissue.
    pub tissue: Tissue,
    /// Linear voxel indices on the dose grid.
    pub voxels: Vec<u32>,
    /// Per cycle: dose share and kinetics (at least one).
    pub cycles: Vec<CycleDose>,
}

/// The kinetics of one cycle as reported.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CycleKinetics {
    /// Cycle number.
    pub cycle: usize,
    /// Share of the dose map this cycle delivered.
    pub dose_fraction: f64,
    /// Dose-rate shape.
    pub model: DoseRateModel,
    /// Half-life of the slowest dose-carrying phase, h.
    pub terminal_half_life_h: f64,
    /// Lea–Catcheside factor.
    pub g_factor: f64,
    /// Its σ from the kinetics covariance.
    pub g_factor_sigma: f64,
    /// Where the kinetics came from.
    pub kinetics: String,
    /// Voxels of the region whose own voxel fit gave their dose-rate shape.
    pub voxels_own_kinetics: usize,
    /// Voxels that took the region's shape (`g_factor`).
    pub voxels_region_kinetics: usize,
    /// Mean G over the voxels with their own kinetics (absent when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voxel_g_factor_mean: Option<f64>,
}

/// How a region compares with its tissue's limit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LimitCheck {
    /// The limit.
    #[serde(flatten)]
    pub limit: Limit,
    /// The key of the value compared (`bed_mean_gy` or `dose_mean_gy`).
    pub compared: &'static str,
    /// That value over the limit.
    pub fraction_of_limit: f64,
    /// Value ≤ limit.
    pub within_limit: bool,
    /// Value ≤ the risk-factor limit, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_risk_factor_limit: Option<bool>,
}

/// One region's BED summary (the `bed_summary.json` region record).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegionBed {
    /// Region name.
    pub name: String,
    /// Tissue key.
    pub tissue: String,
    /// α/β, Gy.
    pub alpha_beta_gy: f64,
    /// Repair half-time, h.
    pub repair_half_time_h: f64,
    /// α, 1/Gy, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpha_per_gy: Option<f64>,
    /// How far the tissue values were checked.
    pub tissue_status: String,
    /// Voxels.
    pub n_voxels: usize,
    /// Volume, mL.
    pub volume_ml: f64,
    /// Mean absorbed dose, Gy.
    pub dose_mean_gy: f64,
    /// σ of the mean dose from the dose σ maps, Gy (0 when none was given).
    pub dose_mean_gy_sigma: f64,
    /// Mean BED, Gy.
    pub bed_mean_gy: f64,
    /// σ of the mean BED (dose σ and kinetics σ), Gy.
    pub bed_mean_gy_sigma: f64,
    /// Mean EQD2, Gy.
    pub eqd2_mean_gy: f64,
    /// Near-maximum BED (hottest 2 % of the volume), Gy.
    pub bed_d2_gy: f64,
    /// Median BED, Gy.
    pub bed_d50_gy: f64,
    /// Near-minimum BED (98 % of the volume gets at least this), Gy.
    pub bed_d98_gy: f64,
    /// Largest voxel BED, Gy.
    pub bed_max_gy: f64,
    /// Equivalent uniform BED, Gy (when α is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eubed_gy: Option<f64>,
    /// The tissue's limit and how the region compares (null when the tissue has none).
    pub limit: Option<LimitCheck>,
    /// The kinetics of each cycle that contributed.
    pub kinetics: Vec<CycleKinetics>,
}

/// BED and EQD2 maps (Gy) and region summaries.
#[derive(Clone, Debug)]
pub struct BedResult {
    /// BED summed over the cycles given, Gy per voxel.
    pub bed_gy: Vec<f32>,
    /// EQD2 summed over the cycles, Gy per voxel (each voxel with its region's α/β).
    pub eqd2_gy: Vec<f32>,
    /// BED per cycle number (ascending), when asked for.
    pub cycle_bed_gy: Vec<(usize, Vec<f32>)>,
    /// EQD2 per cycle number (ascending), when asked for.
    pub cycle_eqd2_gy: Vec<(usize, Vec<f32>)>,
    /// Summaries over all cycles.
    pub regions: Vec<RegionBed>,
    /// Summaries per cycle number (ascending): (cycle, regions that have that cycle).
    pub cycles: Vec<(usize, Vec<RegionBed>)>,
    /// Voxels with dose > 0 that lie in no region (their BED is 0 in the maps).
    pub voxels_without_bed: usize,
}

/// Computes the maps and summaries. `voxel_volume_ml` sizes the regions;
/// `want_cycle_maps` also returns one BED map per cycle.
pub fn compute(
    maps: &DoseMaps,
    regions: &[BedRegion],
    voxel_volume_ml: f64,
    want_cycle_maps: bool,
) -> BedResult {
    let n = maps.dose_gy.first().map_or(0, |m| m.len());
    let mut bed = vec![0.0f32; n];
    let mut eqd2 = vec![0.0f32; n];
    let mut covered = vec![false; n];
    let mut cycle_numbers: Vec<usize> = regions
        .iter()
        .flat_map(|r| r.cycles.iter().map(|c| c.cycle))
        .collect();
    cycle_numbers.sort_unstable();
    cycle_numbers.dedup();
    let mut cycle_maps: Vec<Vec<f32>> = if want_cycle_maps {
        vec![vec![0.0; n]; cycle_numbers.len()]
    } else {
        Vec::new()
    };
    let mut cycle_eqd2 = cycle_maps.clone();
    let mut summaries = Vec::new();
    let mut per_cycle: Vec<Vec<RegionBed>> = vec![Vec::new(); cycle_numbers.len()];
    for region in regions {
        let ab = region.tissue.alpha_beta_gy;
        let gs: Vec<f64> = region
            .cycles
            .iter()
            .map(|c| c.model.g_factor(region.tissue.repair_half_time_h))
            .collect();
        let t_rep = region.tissue.repair_half_time_h;
        for &v in &region.voxels {
            let v = v as usize;
            covered[v] = true;
            let mut total = 0.0;
            for (c, g) in region.cycles.iter().zip(&gs) {
                let (g, _) = maps.g_at(c, v, t_rep, *g);
                let b = bed_from_g(c.dose_fraction * maps.dose_gy[c.map][v] as f64, g, ab);
                total += b;
                if want_cycle_maps {
                    let k = cycle_numbers.binary_search(&c.cycle).unwrap_or(0);
                    cycle_maps[k][v] += b as f32;
                    cycle_eqd2[k][v] += eqd2_gy(b, ab) as f32;
                }
            }
            bed[v] = total as f32;
            eqd2[v] = eqd2_gy(total, ab) as f32;
        }
        summaries.push(summarise(
            maps,
            region,
            &region.cycles,
            &gs,
            voxel_volume_ml,
        ));
        for (k, &cn) in cycle_numbers.iter().enumerate() {
            let idx: Vec<usize> = (0..region.cycles.len())
                .filter(|&i| region.cycles[i].cycle == cn)
                .collect();
            if idx.is_empty() {
                continue;
            }
            let cycles: Vec<CycleDose> = idx.iter().map(|&i| region.cycles[i].clone()).collect();
            let g: Vec<f64> = idx.iter().map(|&i| gs[i]).collect();
            per_cycle[k].push(summarise(maps, region, &cycles, &g, voxel_volume_ml));
        }
    }
    let voxels_without_bed = (0..n)
        .filter(|&v| !covered[v] && maps.dose_gy.iter().any(|m| m[v] > 0.0))
        .count();
    BedResult {
        bed_gy: bed,
        eqd2_gy: eqd2,
        cycle_bed_gy: cycle_numbers.iter().copied().zip(cycle_maps).collect(),
        cycle_eqd2_gy: cycle_numbers.iter().copied().zip(cycle_eqd2).collect(),
        regions: summaries,
        cycles: cycle_numbers.into_iter().zip(per_cycle).collect(),
        voxels_without_bed,
    }
}

/// The summary of `region` over the cycles `cycles` (with their G factors `gs`).
fn summarise(
    maps: &DoseMaps,
    region: &BedRegion,
    cycles: &[CycleDose],
    gs: &[f64],
    voxel_volume_ml: f64,
) -> RegionBed {
    let t = &region.tissue;
    let ab = t.alpha_beta_gy;
    let nv = region.voxels.len().max(1) as f64;
    let mut dose = Vec::with_capacity(region.voxels.len());
    let mut bed = Vec::with_capacity(region.voxels.len());
    let (mut var_dose_mean, mut var_bed_from_dose) = (0.0, 0.0);
    let mut mean_d2_per_cycle = vec![0.0; cycles.len()];
    // Per cycle: voxels with their own shape and the sum of their G.
    let mut own = vec![(0usize, 0.0f64); cycles.len()];
    let n_maps = maps.dose_gy.len();
    for &v in &region.voxels {
        let v = v as usize;
        let (mut d_total, mut b_total) = (0.0, 0.0);
        // Per map: the voxel's summed dose and BED sensitivities (linear within a map).
        let mut sens_dose = vec![0.0; n_maps];
        let mut sens_bed = vec![0.0; n_maps];
        for (i, (c, g)) in cycles.iter().zip(gs).enumerate() {
            let (g, is_own) = maps.g_at(c, v, t.repair_half_time_h, *g);
            if is_own {
                own[i].0 += 1;
                own[i].1 += g;
            }
            let d_map = maps.dose_gy[c.map][v] as f64;
            let d = c.dose_fraction * d_map;
            d_total += d;
            b_total += bed_from_g(d, g, ab);
            sens_dose[c.map] += c.dose_fraction;
            sens_bed[c.map] += c.dose_fraction * dbed_ddose(d, g, ab);
            mean_d2_per_cycle[i] += d * d / nv;
        }
        for m in 0..n_maps {
            let s = maps.sigma_gy[m].map_or(0.0, |s| s[v] as f64);
            var_dose_mean += (sens_dose[m] * s).powi(2);
            var_bed_from_dose += (sens_bed[m] * s).powi(2);
        }
        dose.push(d_total);
        bed.push(b_total);
    }
    let var_bed_from_g: f64 = cycles
        .iter()
        .zip(&mean_d2_per_cycle)
        .map(|(c, d2)| (d2 / ab * c.g_factor_sigma).powi(2))
        .sum();
    let dose_mean_gy = dose.iter().sum::<f64>() / nv;
    let bed_mean_gy = bed.iter().sum::<f64>() / nv;
    let mut sorted = bed.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let kinetics = cycles
        .iter()
        .zip(gs)
        .zip(&own)
        .map(|((c, g), &(n_own, g_sum))| CycleKinetics {
            cycle: c.cycle,
            dose_fraction: c.dose_fraction,
            model: c.model.clone(),
            terminal_half_life_h: c.model.terminal_half_life_h(),
            g_factor: *g,
            g_factor_sigma: c.g_factor_sigma,
            kinetics: c.kinetics.clone(),
            voxels_own_kinetics: n_own,
            voxels_region_kinetics: region.voxels.len() - n_own,
            voxel_g_factor_mean: (n_own > 0).then(|| g_sum / n_own as f64),
        })
        .collect();
    RegionBed {
        name: region.name.clone(),
        tissue: t.name.clone(),
        alpha_beta_gy: ab,
        repair_half_time_h: t.repair_half_time_h,
        alpha_per_gy: t.alpha_per_gy,
        tissue_status: t.status.clone(),
        n_voxels: region.voxels.len(),
        volume_ml: region.voxels.len() as f64 * voxel_volume_ml,
        dose_mean_gy,
        dose_mean_gy_sigma: var_dose_mean.sqrt() / nv,
        bed_mean_gy,
        bed_mean_gy_sigma: (var_bed_from_dose / (nv * nv) + var_bed_from_g).sqrt(),
        eqd2_mean_gy: eqd2_gy(bed_mean_gy, ab),
        bed_d2_gy: d_at_percent(&sorted, 2.0),
        bed_d50_gy: d_at_percent(&sorted, 50.0),
        bed_d98_gy: d_at_percent(&sorted, 98.0),
        bed_max_gy: sorted.first().copied().unwrap_or(0.0),
        eubed_gy: t.alpha_per_gy.and_then(|a| eubed_gy(&bed, a)),
        limit: t
            .limit
            .clone()
            .map(|l| check_limit(l, dose_mean_gy, bed_mean_gy)),
        kinetics,
    }
}

fn check_limit(limit: Limit, dose_mean_gy: f64, bed_mean_gy: f64) -> LimitCheck {
    let (compared, value) = match limit.quantity {
        LimitQuantity::Bed => ("bed_mean_gy", bed_mean_gy),
        LimitQuantity::Absorbed => ("dose_mean_gy", dose_mean_gy),
    };
    LimitCheck {
        compared,
        fraction_of_limit: value / limit.value_gy,
        within_limit: value <= limit.value_gy,
        within_risk_factor_limit: limit.with_risk_factors_gy.map(|l| value <= l),
        limit,
    }
}

/// The BED-volume histogram of every region: (region, BED level in Gy, fraction of the
/// region's volume with at least that BED), `bins` + 1 levels from 0 to the region maximum.
pub fn bed_volume_histograms(
    bed_gy: &[f32],
    regions: &[BedRegion],
    bins: usize,
) -> Vec<(String, f64, f64)> {
    let mut rows = Vec::new();
    for r in regions {
        let values: Vec<f64> = r
            .voxels
            .iter()
            .map(|&v| bed_gy[v as usize] as f64)
            .collect();
        for (level, frac) in crate::report::dvh::cumulative_dvh(&values, bins) {
            rows.push((r.name.clone(), level, frac));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kidney_region(voxels: Vec<u32>, cycles: Vec<CycleDose>) -> BedRegion {
        BedRegion {
            name: "kidney".into(),
            tissue: Tissue::named("kidney").unwrap(),
            voxels,
            cycles,
        }
    }

    fn cycle(cycle: usize, map: usize, f: f64, t_eff: f64) -> CycleDose {
        CycleDose {
            cycle,
            map,
            dose_fraction: f,
            model: DoseRateModel::mono_exponential(t_eff),
            g_factor_sigma: 0.0,
            kinetics: "test".into(),
            voxel_shapes: None,
        }
    }

    #[test]
    fn uniform_map_gives_the_closed_form_everywhere() {
        let dose = vec![10.0f32; 8];
        let maps = DoseMaps {
            dose_gy: vec![&dose],
            sigma_gy: vec![None],
            voxel_shapes: &[],
        };
        let r = compute(
            &maps,
            &[kidney_region(
                (0..8).collect(),
                vec![cycle(1, 0, 1.0, 50.0)],
            )],
            0.1,
            false,
        );
        // TWIN.md §1 check value.
        assert!(r.bed_gy.iter().all(|&b| (b - 12.0396).abs() < 1e-4));
        let s = &r.regions[0];
        assert!((s.bed_mean_gy - 12.0396).abs() < 5e-5);
        assert!((s.eqd2_mean_gy - 6.8050).abs() < 5e-5);
        assert_eq!((s.bed_d2_gy, s.bed_d98_gy), (s.bed_max_gy, s.bed_max_gy));
        assert!((s.volume_ml - 0.8).abs() < 1e-12);
        let l = s.limit.as_ref().unwrap();
        assert!(l.within_limit && l.within_risk_factor_limit == Some(true));
    }

    #[test]
    fn a_dose_split_over_two_cycles_adds_their_beds() {
        // 10 Gy delivered as 6 + 4 Gy: BED = BED(6) + BED(4) < BED(10) (repair between).
        let dose = vec![10.0f32; 3];
        let maps = DoseMaps {
            dose_gy: vec![&dose],
            sigma_gy: vec![None],
            voxel_shapes: &[],
        };
        let region = kidney_region(
            vec![0, 1, 2],
            vec![cycle(1, 0, 0.6, 40.0), cycle(2, 0, 0.4, 60.0)],
        );
        let r = compute(&maps, &[region], 1.0, true);
        let k = Tissue::named("kidney").unwrap();
        let b1 = super::super::lq::bed_gy(6.0, &DoseRateModel::mono_exponential(40.0), &k);
        let b2 = super::super::lq::bed_gy(4.0, &DoseRateModel::mono_exponential(60.0), &k);
        assert!((r.regions[0].bed_mean_gy - (b1 + b2)).abs() < 1e-9);
        assert_eq!(r.cycles.len(), 2);
        assert!((r.cycles[0].1[0].bed_mean_gy - b1).abs() < 1e-9);
        assert!((r.cycle_bed_gy[1].1[0] as f64 - b2).abs() < 1e-5);
        assert!((r.regions[0].dose_mean_gy - 10.0).abs() < 1e-9);
    }

    #[test]
    fn sigma_of_the_mean_follows_first_order_propagation() {
        // Two voxels of 10 Gy with σ 1 Gy each (independent): σ(mean D) = 1/√2 Gy and
        // σ(mean BED) = ∂BED/∂D /√2. With σ(G) added, it adds in quadrature × D²/(α/β).
        let dose = vec![10.0f32; 2];
        let sigma = vec![1.0f32; 2];
        let maps = DoseMaps {
            dose_gy: vec![&dose],
            sigma_gy: vec![Some(&sigma)],
            voxel_shapes: &[],
        };
        let mut c = cycle(1, 0, 1.0, 50.0);
        c.g_factor_sigma = 0.01;
        let r = compute(&maps, &[kidney_region(vec![0, 1], vec![c])], 1.0, false);
        let g = 2.8 / 52.8;
        let from_dose = dbed_ddose(10.0, g, 2.6) / 2f64.sqrt();
        let from_g = 100.0 / 2.6 * 0.01;
        let s = &r.regions[0];
        assert!((s.dose_mean_gy_sigma - 1.0 / 2f64.sqrt()).abs() < 1e-9);
        assert!((s.bed_mean_gy_sigma - from_dose.hypot(from_g)).abs() < 1e-9);
    }

    #[test]
    fn voxels_with_their_own_fit_take_its_g_the_others_the_regions() {
        // Voxel 0 has a voxel fit of T_eff 20 h, voxel 1 none (NaN): the region's 50 h.
        let dose = vec![10.0f32; 2];
        let shapes = [VoxelShapes {
            cycle: 1,
            model: crate::kinetics::models::TacModel::MonoExp,
            params: vec![
                Vec::new(),
                vec![(std::f64::consts::LN_2 / 20.0) as f32, f32::NAN],
            ],
        }];
        let maps = DoseMaps {
            dose_gy: vec![&dose],
            sigma_gy: vec![None],
            voxel_shapes: &shapes,
        };
        let mut c = cycle(1, 0, 1.0, 50.0);
        c.voxel_shapes = Some(0);
        let r = compute(&maps, &[kidney_region(vec![0, 1], vec![c])], 1.0, false);
        let k = Tissue::named("kidney").unwrap();
        let own = super::super::lq::bed_gy(10.0, &DoseRateModel::mono_exponential(20.0), &k);
        let region = super::super::lq::bed_gy(10.0, &DoseRateModel::mono_exponential(50.0), &k);
        assert!((r.bed_gy[0] as f64 - own).abs() < 1e-5 * own);
        assert!((r.bed_gy[1] as f64 - region).abs() < 1e-5 * region);
        let s = &r.regions[0];
        assert!((s.bed_mean_gy - 0.5 * (own + region)).abs() < 1e-5 * own);
        let kin = &s.kinetics[0];
        assert_eq!(
            (kin.voxels_own_kinetics, kin.voxels_region_kinetics),
            (1, 1)
        );
        let g20 = 2.8 / 22.8;
        assert!((kin.voxel_g_factor_mean.unwrap() - g20).abs() < 1e-6);
        assert!((kin.g_factor - 2.8 / 52.8).abs() < 1e-12);
    }

    #[test]
    fn voxels_outside_regions_are_counted_not_computed() {
        let dose = vec![1.0f32, 2.0, 0.0, 3.0];
        let maps = DoseMaps {
            dose_gy: vec![&dose],
            sigma_gy: vec![None],
            voxel_shapes: &[],
        };
        let r = compute(
            &maps,
            &[kidney_region(vec![0], vec![cycle(1, 0, 1.0, 50.0)])],
            1.0,
            false,
        );
        assert_eq!(r.voxels_without_bed, 2);
        assert_eq!(r.bed_gy[3], 0.0);
    }
}
