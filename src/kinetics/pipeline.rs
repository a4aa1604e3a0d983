//! The study pipeline: study file → aligned frames → region and voxel fits per cycle →
//! TIA maps (Bq·s per voxel) with σ, tables and plots in the output folder.
//!
//! Responsibility: orchestration, unit conversion (Bq/mL × voxel volume → Bq per voxel;
//! Bq·h → Bq·s), the uncertainty budget, and the per-cycle cache. Fitting, registration and
//! file formats live in their own modules.
//!
//! **Reference frame** ([`super::align`]): the study's reference CT when it names one (time
//! points with their own CT aligned CT to CT), else the first time point of the first
//! cycle; every scan is resampled onto the frame's grid and the label map is brought onto
//! it (nearest label), so masks and maps of all cycles share one grid and the cycle maps
//! can be summed.
//!
//! **Masked voxels.** Voxels whose peak activity over a cycle's scans is ≤ 0, or below
//! `voxel_threshold` × the largest voxel peak, are not fitted: Ã = σ = 0. Their number and
//! the share of each scan's activity they held are in [`CycleFit`] (`regions.json`).
//!
//! **Uncertainty** (EANM 2018, Gear et al. EJNMMI 2018;45:2456): relative variances add,
//! (σ/Ã)² = (σ_fit/Ã)² + u_cal² (+ u_RC² for regions), where σ_fit comes from the fit
//! covariance (the point σᵢ = `activity_rel_sigma`·Aᵢ are taken as absolute), u_cal is the
//! calibration and u_RC the recovery-coefficient relative σ. Cycles are summed with σ in
//! quadrature (independent administrations; a calibration shared by all cycles would add
//! linearly, which the summary notes).
//!
//! **Partial-volume correction** ([`super::partial_volume`], the study's `partial_volume`
//! key or an override from the command line): region activities are corrected per scan
//! (GTM or RC curve) before their TACs are fitted; the uncorrected TACs are fitted too and
//! reported beside them. The voxel TIA map is then rescaled per region so that its sum
//! over the region equals the corrected Ã (GTM also rescales the background by its
//! corrected-to-measured ratio, so the spill-out returned to the regions is not counted
//! twice); voxel σ get u_PVC in quadrature. Factors and settings go to `regions.json`.
//!
//! **Cache (twin re-sync).** Each cycle's results are stored in `DIR/cache/` under a key that
//! hashes the cycle's inputs: its JSON, the bytes of its images (every file of a DICOM
//! series folder), of the reference image and of the labels, and the fit settings.
//! Re-running after adding a cycle or a time point refits only the cycles whose key changed.

use super::align::ReferenceFrame;
use super::fit::{fit_tac, FitOptions, Tac, TacFit, TiaMethod};
use super::models::TacModel;
use super::partial_volume::{
    correlated_rel_sigma, tia_weights, CycleCorrection, PartialVolumeOverride, PvcMethod,
    PvcRegion, PvcReport, PvcSetup, RegionCorrection, RegionPvc, ScanCamera,
};
use super::register::RigidResult;
use super::stp::{stp_tia, StpEstimate};
use super::study::{Cycle, Study, VoxelMethod};
use super::voxel::{default_voxel_model, fit_voxels_masked, VoxelStatus};
use crate::geometry::{Grid, Volume};
use crate::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Seconds per hour, to turn Bq·h into Bq·s (decays).
const S_PER_H: f64 = 3600.0;

/// Cache format version; bump when cached content changes meaning. 5: voxel fits above the
/// injected activity's ceiling take the trapezoids (a cycle cached before could hold +inf).
const CACHE_VERSION: &str = "voxdose-kinetics-cache-5";

/// One region's result in one cycle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegionResult {
    /// Cycle number (1-based).
    pub cycle: usize,
    /// Label value.
    pub label: u32,
    /// Region name.
    pub name: String,
    /// Voxels in the region (on the reference grid).
    pub n_voxels: usize,
    /// Region volume, mL.
    pub volume_ml: f64,
    /// Scan times, h after administration.
    pub time_h: Vec<f64>,
    /// Region activity at each scan, Bq.
    pub activity_bq: Vec<f64>,
    /// The curve fit (activities in Bq, integrals in Bq·h); `None` for a single scan.
    pub fit: Option<TacFit>,
    /// The single-time-point estimate, when the cycle has one scan.
    pub stp: Option<StpEstimate>,
    /// Model name, "trapezoid" or the STP method.
    pub model: String,
    /// Time-integrated activity, Bq·s (number of decays).
    pub tia_bq_s: f64,
    /// σ of `tia_bq_s` from the fit alone, Bq·s.
    pub tia_sigma_fit_bq_s: f64,
    /// Total σ of `tia_bq_s` (fit, calibration, recovery), Bq·s.
    pub tia_sigma_bq_s: f64,
    /// Time-integrated activity coefficient Ã/A_injected, h.
    pub tiac_h: f64,
    /// Effective half-life of the terminal phase, h.
    pub effective_half_life_h: f64,
    /// Partial-volume correction of this region (`None`: not corrected; then `activity_bq`
    /// and `tia_bq_s` are as measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_volume: Option<RegionPvc>,
}

/// One cycle's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CycleFit {
    /// Cycle number (1-based).
    pub cycle: usize,
    /// Hash of the cycle's inputs (hex).
    pub key: String,
    /// Whether the results came from the cache.
    pub from_cache: bool,
    /// Physical half-life used, h.
    pub physical_half_life_h: f64,
    /// Rigid registration of each time point to the reference (`None`: not registered).
    pub registration: Vec<Option<RigidResult>>,
    /// How each time point was aligned, in words.
    #[serde(default)]
    pub alignment: Vec<String>,
    /// Per-region results.
    pub regions: Vec<RegionResult>,
    /// Voxels whose TIA came from a model fit.
    pub voxels_fitted: usize,
    /// Voxels that fell back to trapezoids.
    pub voxels_trapezoid: usize,
    /// Voxels not fitted (peak ≤ 0 or below `voxel_threshold`): Ã = 0.
    #[serde(default)]
    pub voxels_masked: usize,
    /// Share of each scan's total activity in the masked voxels.
    #[serde(default)]
    pub masked_activity_fraction: Vec<f64>,
    /// Σ of the voxel TIA map, Bq·s.
    pub map_total_bq_s: f64,
    /// The model fitted in every voxel (`None`: a single scan, no voxel fits); its
    /// parameters are in `voxel_kinetics_cycle{n}*` ([`super::voxel_kinetics`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voxel_model: Option<TacModel>,
    /// The partial-volume correction (settings, PSF, GTM matrix, background), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_volume: Option<PvcReport>,
    /// What the DICOM time points' headers said (units, decay correction, times, camera);
    /// empty when every image is NIfTI.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dicom_images: Vec<super::scan::DicomScan>,
}

/// Everything `fit_study` produces.
#[derive(Clone, Debug)]
pub struct StudyFit {
    /// TIA summed over cycles, Bq·s per voxel, on the reference grid.
    pub tia: Volume<f32>,
    /// One-σ of `tia`, Bq·s per voxel.
    pub tia_sigma: Volume<f32>,
    /// TIA per cycle, Bq·s per voxel.
    pub cycle_tia: Vec<Volume<f32>>,
    /// Per-cycle results.
    pub cycles: Vec<CycleFit>,
    /// All region results, cycle by cycle.
    pub regions: Vec<RegionResult>,
    /// The reference CT in HU on its own grid, when the study names one.
    pub reference_ct: Option<Volume<f32>>,
    /// Notes for the log (the reference frame, per time point alignment).
    pub notes: Vec<String>,
    /// The label map on the reference grid (the grid of `tia`) and the region names, when
    /// the study has one: the regions of the fit, for the dose and BED of the same regions.
    pub labels: Option<Labels>,
}

/// Physical half-life of a nuclide, h, from its ICRP-107 record
/// ([`crate::physics::nuclide::Nuclide::load`]).
pub fn physical_half_life_h(nuclide: &str) -> Result<f64> {
    Ok(crate::physics::nuclide::Nuclide::load(nuclide)?.half_life_s / S_PER_H)
}

/// 64-bit FNV-1a, stable across builds (std's hasher is not), for cache keys.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        // Length separator so that concatenations differ.
        for b in (bytes.len() as u64).to_le_bytes() {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn feed_file(&mut self, path: &Path) -> Result<()> {
        let bytes = std::fs::read(path).map_err(|source| crate::io::InputError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        self.feed(&bytes);
        Ok(())
    }
}

/// Feeds a file, or every file under a folder (a DICOM series) in name order.
fn feed_path(h: &mut Fnv, path: &Path) -> Result<()> {
    if !path.is_dir() {
        return h.feed_file(path);
    }
    let mut entries: Vec<std::path::PathBuf> = std::fs::read_dir(path)
        .map_err(|source| crate::io::InputError::Read {
            path: path.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        h.feed(e.file_name().map_or(&[][..], |n| n.as_encoded_bytes()));
        feed_path(h, &e)?;
    }
    Ok(())
}

fn cycle_key(study: &Study, cycle: &Cycle, reference: &Path) -> Result<String> {
    let mut h = Fnv::new();
    h.feed(CACHE_VERSION.as_bytes());
    let settings = serde_json::json!({
        "units": study.units, "models": study.models, "criterion": study.criterion,
        "voxel_method": study.voxel_method, "voxel_model": study.voxel_model,
        "stp": study.stp, "uncertainty": study.uncertainty,
        "registration": study.registration, "region_names": study.region_names,
        "voxel_threshold": study.voxel_threshold,
        "partial_volume": study.partial_volume,
    });
    h.feed(settings.to_string().as_bytes());
    if let Some(rc) = &study.partial_volume.rc_curve {
        h.feed_file(rc)?;
    }
    h.feed(serde_json::to_string(cycle).unwrap_or_default().as_bytes());
    feed_path(&mut h, reference)?;
    if let Some(ct) = &study.reference_ct {
        feed_path(&mut h, ct)?;
    }
    if let Some(l) = &study.labels {
        feed_path(&mut h, l)?;
    }
    for tp in &cycle.time_points {
        feed_path(&mut h, &tp.image)?;
        if let Some(ct) = &tp.ct {
            feed_path(&mut h, ct)?;
        }
    }
    Ok(format!("{:016x}", h.0))
}

pub use super::labels::Labels;

/// One cycle's time points on the reference grid: the frames (Bq per voxel), each one's
/// rigid registration (when one ran), how each was aligned, and the DICOM time points'
/// records.
type AlignedFrames = (
    Vec<Vec<f32>>,
    Vec<Option<RigidResult>>,
    Vec<String>,
    Vec<super::scan::DicomScan>,
);

/// Brings every time point of `cycle` onto the reference grid; frames in Bq per voxel.
fn aligned_frames(
    study: &Study,
    cycle: &Cycle,
    frame: &ReferenceFrame,
    out: &Path,
    cn: usize,
) -> Result<AlignedFrames> {
    let voxel_mm3 = frame.grid.voxel_volume_mm3();
    let mut frames = Vec::new();
    let mut regs = Vec::new();
    let mut methods = Vec::new();
    let mut dicom = Vec::new();
    for ti in 0..cycle.time_points.len() {
        let work = out.join("cache").join(format!("elastix_c{cn}_t{}", ti + 1));
        let a = frame.align(study, cycle, ti + 1, cn == 1 && ti == 0, &work)?;
        let to_bq = a.unit.to_bq_per_voxel(voxel_mm3);
        regs.push(a.rigid);
        methods.push(format!("cycle {cn}, time point {}: {}", ti + 1, a.method));
        dicom.extend(a.dicom);
        frames.push(
            a.image
                .data
                .iter()
                .map(|&v| (v as f64 * to_bq) as f32)
                .collect(),
        );
    }
    Ok((frames, regs, methods, dicom))
}

/// A region TAC's fit or single-point estimate.
struct TacOutcome {
    fit: Option<TacFit>,
    stp: Option<StpEstimate>,
    model: String,
    tia_h: f64,
    sigma_fit_h: f64,
    t_eff: f64,
}

impl TacOutcome {
    /// Relative σ of Ã from the fit alone.
    fn fit_rel(&self) -> f64 {
        if self.tia_h > 0.0 {
            self.sigma_fit_h / self.tia_h
        } else {
            0.0
        }
    }
}

/// The one-σ of each measured activity of a TAC, as the fit weights it: `rel_sigma` × the
/// activity, floored at 10⁻³ of the TAC's peak (so that a near-zero point does not get an
/// almost infinite weight).
pub fn point_sigma(activity: &[f64], rel_sigma: f64) -> Vec<f64> {
    let peak = activity.iter().copied().fold(0.0, f64::max);
    activity
        .iter()
        .map(|a| rel_sigma * a.max(1e-3 * peak).max(f64::MIN_POSITIVE))
        .collect()
}

/// Fits one region TAC (Bq at `time_h`) or, with one scan, applies the STP method.
fn fit_region_tac(
    study: &Study,
    time_h: &[f64],
    activity_bq: &[f64],
    lambda_phys: f64,
    what: &str,
) -> Result<TacOutcome> {
    let u = study.uncertainty;
    if time_h.len() == 1 {
        if study.stp == super::stp::StpMethod::Haenscheid {
            super::stp::haenscheid_applicable(time_h[0]).map_err(|reason| {
                super::KineticsError::InvalidStudy {
                    path: study.path.clone(),
                    reason: format!("{what}: {reason}"),
                }
            })?;
        }
        let e = stp_tia(study.stp, time_h[0], activity_bq[0]);
        let model = match study.stp {
            super::stp::StpMethod::Haenscheid => "stp-haenscheid".to_string(),
            super::stp::StpMethod::PopulationHalfLife { .. } => "stp-population".to_string(),
        };
        let t_eff = match study.stp {
            super::stp::StpMethod::PopulationHalfLife {
                effective_half_life_h,
            } => effective_half_life_h,
            super::stp::StpMethod::Haenscheid => super::stp::haenscheid_implied_t_eff_h(time_h[0]),
        };
        return Ok(TacOutcome {
            fit: None,
            stp: Some(e),
            model,
            tia_h: e.tia_h,
            sigma_fit_h: e.tia_h * u.activity_rel_sigma,
            t_eff,
        });
    }
    let tac = Tac {
        time_h: time_h.to_vec(),
        activity: activity_bq.to_vec(),
        sigma: point_sigma(activity_bq, u.activity_rel_sigma),
    };
    let opts = FitOptions {
        models: study.models.clone(),
        criterion: study.criterion,
        absolute_sigma: true,
        ..FitOptions::default()
    };
    let f = fit_tac(&tac, lambda_phys, &opts, what)?;
    let model = match f.method {
        TiaMethod::Fit => f.selected_fit().map_or("?", |m| m.model.name()).to_string(),
        _ => "trapezoid".to_string(),
    };
    Ok(TacOutcome {
        tia_h: f.tia_h,
        sigma_fit_h: f.tia_sigma_h,
        t_eff: f.effective_half_life_h,
        model,
        stp: None,
        fit: Some(f),
    })
}

/// One region's measured activity per scan, Bq.
fn region_activity(voxels: &[usize], frames: &[Vec<f32>]) -> Vec<f64> {
    frames
        .iter()
        .map(|f| voxels.iter().map(|&v| f[v] as f64).sum())
        .collect()
}

#[allow(
    clippy::too_many_arguments,
    reason = "one region's fit needs the study, its cycle, the region, the frames and its correction"
)]
fn region_result(
    study: &Study,
    cycle: &Cycle,
    cn: usize,
    label: u32,
    name: &str,
    voxels: &[usize],
    frames: &[Vec<f32>],
    grid: &Grid,
    lambda_phys: f64,
    correction: Option<(&RegionCorrection, PvcMethod)>,
) -> Result<RegionResult> {
    let u = study.uncertainty;
    let time_h: Vec<f64> = cycle.time_points.iter().map(|t| t.time_h).collect();
    let measured = region_activity(voxels, frames);
    let activity_bq = correction.map_or_else(|| measured.clone(), |(c, _)| c.activity_bq.clone());
    let what = format!("cycle {cn}, region {name}");
    let main = fit_region_tac(study, &time_h, &activity_bq, lambda_phys, &what)?;
    let base_var = u.calibration_rel_sigma.powi(2) + u.recovery_rel_sigma.powi(2);
    let partial_volume = match correction {
        None => None,
        Some((c, method)) => {
            let raw = fit_region_tac(
                study,
                &time_h,
                &measured,
                lambda_phys,
                &format!("{what} (uncorrected)"),
            )?;
            let weights = tia_weights(&time_h, lambda_phys);
            let raw_tia = raw.tia_h * S_PER_H;
            Some(RegionPvc {
                method,
                activity_factor: activity_bq
                    .iter()
                    .zip(&measured)
                    .map(|(a, m)| if *m > 0.0 { a / m } else { 0.0 })
                    .collect(),
                activity_uncorrected_bq: measured.clone(),
                tia_uncorrected_bq_s: raw_tia,
                tia_sigma_uncorrected_bq_s: (raw.fit_rel().powi(2) + base_var).sqrt() * raw_tia,
                model_uncorrected: raw.model,
                tia_factor: if raw.tia_h > 0.0 {
                    main.tia_h / raw.tia_h
                } else {
                    0.0
                },
                correction_rel_sigma: correlated_rel_sigma(&c.activity_bq, &c.sigma_bq, &weights),
                recovery_coefficient: c.recovery.0,
                recovery_coefficient_sigma: c.recovery.1,
                background_bq_ml: c.background_bq_ml.clone(),
                map_factor: 1.0,
            })
        }
    };
    let u_pvc = partial_volume
        .as_ref()
        .map_or(0.0, |p| p.correction_rel_sigma);
    let tia_bq_s = main.tia_h * S_PER_H;
    let rel_total = (main.fit_rel().powi(2) + base_var + u_pvc.powi(2)).sqrt();
    Ok(RegionResult {
        cycle: cn,
        label,
        name: name.to_string(),
        n_voxels: voxels.len(),
        volume_ml: voxels.len() as f64 * grid.voxel_volume_mm3() / 1000.0,
        time_h,
        activity_bq,
        tia_bq_s,
        tia_sigma_fit_bq_s: main.sigma_fit_h * S_PER_H,
        tia_sigma_bq_s: rel_total * tia_bq_s,
        tiac_h: tia_bq_s / S_PER_H / cycle.injected_activity_bq,
        effective_half_life_h: main.t_eff,
        model: main.model,
        fit: main.fit,
        stp: main.stp,
        partial_volume,
    })
}

/// Label value → its voxels (linear indices), in label order.
fn label_members(labels: &Volume<u32>) -> BTreeMap<u32, Vec<usize>> {
    let mut members: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (v, &l) in labels.data.iter().enumerate() {
        if l > 0 {
            members.entry(l).or_default().push(v);
        }
    }
    members
}

/// Rescales the TIA map (and its σ) per corrected region so that each region's sum equals
/// its corrected Ã, and the GTM background by its corrected/measured ratio; records the
/// factors. `sigma_has_pvc`: the voxel σ already include u_PVC (region-scaled maps).
#[allow(
    clippy::too_many_arguments,
    reason = "the map, its σ, the regions, their voxels and the correction are all needed"
)]
fn rescale_map(
    tia: &mut [f32],
    sigma: &mut [f32],
    regions: &mut [RegionResult],
    members: &BTreeMap<u32, Vec<usize>>,
    correction: &CycleCorrection,
    report: &mut PvcReport,
    weights: &[f64],
    sigma_has_pvc: bool,
) {
    for r in regions.iter_mut() {
        let (Some(pv), Some(vox)) = (r.partial_volume.as_mut(), members.get(&r.label)) else {
            continue;
        };
        let sum: f64 = vox.iter().map(|&v| tia[v] as f64).sum();
        let u_pvc = if sigma_has_pvc {
            0.0
        } else {
            pv.correction_rel_sigma
        };
        if sum > 0.0 {
            let factor = r.tia_bq_s / sum;
            for &v in vox {
                let t = tia[v] as f64 * factor;
                let s = sigma[v] as f64 * factor;
                tia[v] = t as f32;
                sigma[v] = (s * s + (u_pvc * t).powi(2)).sqrt() as f32;
            }
            pv.map_factor = factor;
        } else if r.tia_bq_s > 0.0 {
            // Every voxel masked or zero: spread the corrected Ã evenly.
            let each = r.tia_bq_s / vox.len() as f64;
            let rel = r.tia_sigma_bq_s / r.tia_bq_s;
            for &v in vox {
                tia[v] = each as f32;
                sigma[v] = (each * rel) as f32;
            }
            pv.map_factor = 0.0;
            report.notes.push(format!(
                "{}: the voxel map held no activity in the region; the corrected Ã is spread evenly over its voxels (map_factor 0)",
                r.name
            ));
        }
    }
    if let (Some((raw, corrected, voxels)), Some(gtm)) =
        (&correction.background, report.gtm.as_mut())
    {
        let num: f64 = corrected.iter().zip(weights).map(|(a, w)| a * w).sum();
        let den: f64 = raw.iter().zip(weights).map(|(a, w)| a * w).sum();
        let factor = if den > 0.0 { num / den } else { 1.0 };
        for &v in voxels {
            tia[v] = (tia[v] as f64 * factor) as f32;
            sigma[v] = (sigma[v] as f64 * factor) as f32;
        }
        gtm.background_activity_uncorrected_bq.clone_from(raw);
        gtm.background_activity_bq.clone_from(corrected);
        gtm.background_map_factor = factor;
    }
}

struct CycleMaps {
    tia: Vec<f32>,
    sigma: Vec<f32>,
    /// Per parameter of the voxel model, its map (NaN where the voxel's Ã is not its own
    /// fit); empty without voxel fits.
    params: Vec<Vec<f32>>,
}

#[allow(
    clippy::too_many_arguments,
    reason = "a cycle's fit needs the study, the cycle, the frame, the labels and the correction"
)]
fn fit_cycle(
    study: &Study,
    cycle: &Cycle,
    cn: usize,
    frame: &ReferenceFrame,
    labels: Option<&(Volume<u32>, BTreeMap<u32, String>)>,
    pvc: Option<&PvcSetup>,
    out: &Path,
    key: String,
) -> Result<(CycleFit, CycleMaps)> {
    let half_life_h = physical_half_life_h(&cycle.nuclide)?;
    let lambda_phys = std::f64::consts::LN_2 / half_life_h;
    let (frames, registration, alignment, dicom_images) =
        aligned_frames(study, cycle, frame, out, cn)?;
    let grid = &frame.grid;
    let time_h: Vec<f64> = cycle.time_points.iter().map(|t| t.time_h).collect();
    let mut regions = Vec::new();
    let mut region_of_voxel: Vec<u32> = vec![0; grid.n_voxels()];
    let mut members = BTreeMap::new();
    let correction = match (pvc, labels) {
        (Some(p), Some(_)) => Some((p.correct(&frames), p)),
        _ => None,
    };
    if let Some((lab, names)) = labels {
        members = label_members(lab);
        region_of_voxel.clone_from(&lab.data);
        for (l, vox) in &members {
            let name = names.get(l).map_or("?", String::as_str);
            let region_correction = correction
                .as_ref()
                .and_then(|(c, p)| c.regions.get(l).map(|rc| (rc, p.method())));
            regions.push(region_result(
                study,
                cycle,
                cn,
                *l,
                name,
                vox,
                &frames,
                grid,
                lambda_phys,
                region_correction,
            )?);
        }
    }
    let u = study.uncertainty;
    let mask = voxel_mask(&frames, study.voxel_threshold);
    let voxels_masked = mask.iter().filter(|&&m| !m).count();
    let masked_activity_fraction: Vec<f64> = frames
        .iter()
        .map(|f| {
            let (mut all, mut out) = (0.0f64, 0.0f64);
            for (&a, &m) in f.iter().zip(&mask) {
                all += a as f64;
                if !m {
                    out += a as f64;
                }
            }
            if all > 0.0 {
                out / all
            } else {
                0.0
            }
        })
        .collect();
    let mut voxel_model = None;
    let mut params: Vec<Vec<f32>> = Vec::new();
    let (mut tia, mut sigma, fitted, trapezoid) = if time_h.len() == 1 {
        let f = &frames[0];
        let tia: Vec<f32> = f
            .iter()
            .map(|&a| (stp_tia(study.stp, time_h[0], a as f64).tia_h * S_PER_H) as f32)
            .collect();
        let sigma: Vec<f32> = tia
            .iter()
            .map(|&t| t * u.activity_rel_sigma as f32)
            .collect();
        (tia, sigma, 0, 0)
    } else {
        let model = study
            .voxel_model
            .unwrap_or(default_voxel_model(time_h.len()));
        let refs: Vec<&[f32]> = frames.iter().map(Vec::as_slice).collect();
        let res = fit_voxels_masked(
            &refs,
            &time_h,
            model,
            u.activity_rel_sigma,
            lambda_phys,
            Some(&mask),
            // No voxel holds more than was injected (see `voxel`, physical ceiling).
            cycle.injected_activity_bq / lambda_phys,
        );
        let fitted = res
            .iter()
            .filter(|r| r.status == VoxelStatus::Fitted)
            .count();
        let trapezoid = res
            .iter()
            .filter(|r| r.status == VoxelStatus::Trapezoid)
            .count();
        voxel_model = Some(model);
        params = (0..model.n_params())
            .map(|j| res.iter().map(|r| r.params[j]).collect())
            .collect();
        (
            res.iter().map(|r| (r.tia_bq_h * S_PER_H) as f32).collect(),
            res.iter()
                .map(|r| (r.sigma_bq_h * S_PER_H) as f32)
                .collect(),
            fitted,
            trapezoid,
        )
    };
    if study.voxel_method == VoxelMethod::RegionScaled {
        for r in &regions {
            // Reference time: the scan nearest the region's effective half-life, where a
            // voxel's share of the region activity best reflects its share of Ã.
            let i_ref = nearest_index(&r.time_h, r.effective_half_life_h);
            // The map is made from the measured frames; a correction rescales it after.
            let a_ref = r
                .partial_volume
                .as_ref()
                .map_or(r.activity_bq[i_ref], |p| p.activity_uncorrected_bq[i_ref]);
            if a_ref <= 0.0 {
                continue;
            }
            let scale = r.tia_bq_s / a_ref;
            let rel = if r.tia_bq_s > 0.0 {
                r.tia_sigma_bq_s / r.tia_bq_s
            } else {
                0.0
            };
            for (v, &l) in region_of_voxel.iter().enumerate() {
                if l == r.label {
                    tia[v] = (frames[i_ref][v] as f64 * scale) as f32;
                    sigma[v] = (tia[v] as f64 * rel) as f32;
                    // Ã is the region's now: so is the shape.
                    params.iter_mut().for_each(|p| p[v] = f32::NAN);
                }
            }
        }
    }
    let partial_volume = match &correction {
        Some((c, p)) => {
            let mut report = p.report.clone();
            report
                .notes
                .extend(c.notes.iter().map(|n| format!("cycle {cn}: {n}")));
            rescale_map(
                &mut tia,
                &mut sigma,
                &mut regions,
                &members,
                c,
                &mut report,
                &tia_weights(&time_h, lambda_phys),
                study.voxel_method == VoxelMethod::RegionScaled,
            );
            Some(report)
        }
        None => None,
    };
    // Calibration σ is common to every voxel: add it in quadrature to each voxel's σ.
    for (s, &t) in sigma.iter_mut().zip(&tia) {
        *s = ((*s as f64).powi(2) + (u.calibration_rel_sigma * t as f64).powi(2)).sqrt() as f32;
    }
    let map_total_bq_s = tia.iter().map(|&v| v as f64).sum();
    Ok((
        CycleFit {
            cycle: cn,
            key,
            from_cache: false,
            physical_half_life_h: half_life_h,
            registration,
            alignment,
            regions,
            voxels_fitted: fitted,
            voxels_trapezoid: trapezoid,
            voxels_masked,
            masked_activity_fraction,
            map_total_bq_s,
            voxel_model,
            partial_volume,
            dicom_images,
        },
        CycleMaps { tia, sigma, params },
    ))
}

/// Voxels to fit: peak over the scans > 0 and ≥ `threshold` × the largest voxel peak.
fn voxel_mask(frames: &[Vec<f32>], threshold: f64) -> Vec<bool> {
    let n_vox = frames.first().map_or(0, Vec::len);
    let peak: Vec<f32> = (0..n_vox)
        .map(|v| frames.iter().map(|f| f[v]).fold(0.0f32, f32::max))
        .collect();
    let top = peak.iter().copied().fold(0.0f32, f32::max) as f64;
    let cut = threshold * top;
    peak.iter().map(|&p| p > 0.0 && p as f64 >= cut).collect()
}

fn nearest_index(times: &[f64], target: f64) -> usize {
    if !target.is_finite() {
        return 0;
    }
    (0..times.len())
        .min_by(|&a, &b| {
            (times[a] - target)
                .abs()
                .total_cmp(&(times[b] - target).abs())
        })
        .unwrap_or(0)
}

fn cache_paths(out: &Path, cn: usize) -> [std::path::PathBuf; 2] {
    let dir = out.join("cache");
    [
        dir.join(format!("cycle_{cn}.json")),
        dir.join(format!("cycle_{cn}_maps.f32")),
    ]
}

fn load_cached(out: &Path, cn: usize, key: &str, n_vox: usize) -> Option<(CycleFit, CycleMaps)> {
    let [json, maps] = cache_paths(out, cn);
    let mut fit: CycleFit = serde_json::from_slice(&std::fs::read(json).ok()?).ok()?;
    if fit.key != key {
        return None;
    }
    let bytes = std::fs::read(maps).ok()?;
    let k = fit.voxel_model.map_or(0, TacModel::n_params);
    if bytes.len() != 4 * (2 + k) * n_vox {
        return None;
    }
    let mut maps = bytes.chunks_exact(4 * n_vox.max(1)).map(|m| {
        m.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect::<Vec<f32>>()
    });
    fit.from_cache = true;
    let tia = maps.next().unwrap_or_default();
    let sigma = maps.next().unwrap_or_default();
    Some((
        fit,
        CycleMaps {
            tia,
            sigma,
            params: maps.collect(),
        },
    ))
}

fn store_cached(out: &Path, fit: &CycleFit, maps: &CycleMaps) -> Result<()> {
    let [json, bin] = cache_paths(out, fit.cycle);
    let dir = out.join("cache");
    std::fs::create_dir_all(&dir).map_err(|source| crate::Error::OutputNotWritable {
        path: dir.clone(),
        source,
    })?;
    let params = maps.params.iter().flatten();
    let mut bytes = Vec::with_capacity(4 * maps.tia.len() * (2 + maps.params.len()));
    for v in maps.tia.iter().chain(&maps.sigma).chain(params) {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    crate::io::atomic::write_atomic(&bin, &bytes)?;
    let text = serde_json::to_vec_pretty(fit)
        .map_err(|e| crate::Error::Internal(format!("cycle cache not serialisable: {e}")))?;
    crate::io::atomic::write_atomic(&json, &text)
}

/// The study's partial-volume correction on the reference grid (`None`: method none).
fn build_pvc(
    study: &Study,
    labels: Option<&Labels>,
    frame: &ReferenceFrame,
) -> Result<Option<PvcSetup>> {
    let Some((lab, names)) = labels else {
        return Ok(None);
    };
    let regions: Vec<PvcRegion> = label_members(lab)
        .into_iter()
        .map(|(label, voxels)| PvcRegion {
            label,
            name: names
                .get(&label)
                .cloned()
                .unwrap_or_else(|| format!("label {label}")),
            voxels,
        })
        .collect();
    let nuclide = study.cycles[0].nuclide.as_str();
    let scan = frame.first_dicom.as_ref().map(|d| ScanCamera {
        camera: &d.camera,
        path: &d.path,
    });
    PvcSetup::build(
        &study.partial_volume,
        &frame.grid,
        &regions,
        frame.ct.as_ref(),
        nuclide,
        scan,
    )
}

/// Fixed output names (besides per-region plots and per-cycle maps).
pub const OUTPUT_FILES: [&str; 4] = [
    "tia.nii.gz",
    "tia_sigma.nii.gz",
    "regions.json",
    "regions.csv",
];

/// [`fit_study_with`] without a command-line override of the partial-volume settings.
pub fn fit_study(study_path: &Path, out: &Path, force: bool) -> Result<StudyFit> {
    fit_study_with(study_path, out, force, None)
}

/// Fits a study and writes the outputs to `out` (see `docs/study-file.md`): `tia.nii.gz`
/// and `tia_sigma.nii.gz` (Bq·s per voxel), `regions.json`, `regions.csv`, TAC plots
/// `tac_c{cycle}_{region}.png`, per-cycle maps `tia_cycle{n}.nii.gz` when there are
/// several cycles, and each cycle's voxel fit parameters (`voxel_kinetics_cycle{n}*`,
/// [`super::voxel_kinetics`]) where it has voxel fits. Existing outputs are refused unless `force`; the cache in `out/cache` is
/// reused whatever `force` says, since its keys check the inputs. `pvc` replaces the
/// study's `partial_volume` settings where it gives a value (`voxdose fit --pvc …`).
pub fn fit_study_with(
    study_path: &Path,
    out: &Path,
    force: bool,
    pvc: Option<&PartialVolumeOverride>,
) -> Result<StudyFit> {
    let mut study = Study::load(study_path)?;
    study.partial_volume = study.partial_volume.with_override(pvc);
    let invalid = |reason: String| super::KineticsError::InvalidStudy {
        path: study_path.to_path_buf(),
        reason,
    };
    study.partial_volume.check().map_err(invalid)?;
    if study.partial_volume.method != PvcMethod::None && study.labels.is_none() {
        return Err(invalid(format!(
            "partial-volume correction \"{}\" corrects region activities and needs \"labels\"; add a label map or use method \"none\"",
            study.partial_volume.method.name()
        ))
        .into());
    }
    crate::io::atomic::prepare_output_dir(out, &OUTPUT_FILES, force)?;
    let reference_path = study.cycles[0].time_points[0].image.clone();
    let frame = ReferenceFrame::build(&study, &out.join("cache"))?;
    let grid = frame.grid.clone();
    let mut notes = vec![frame.note.clone()];
    let labels = super::labels::load_labels(&study, &frame, &mut notes)?;
    let n_vox = grid.n_voxels();
    let mut cycles = Vec::new();
    let mut cycle_tia = Vec::new();
    let mut total = vec![0.0f64; n_vox];
    let mut var = vec![0.0f64; n_vox];
    // Set up on the first cycle that is not cached (GTM blurs every region).
    let mut pvc_setup: Option<Option<PvcSetup>> = None;
    for (ci, cycle) in study.cycles.iter().enumerate() {
        let cn = ci + 1;
        let key = cycle_key(&study, cycle, &reference_path)?;
        let (fit, maps) = match load_cached(out, cn, &key, n_vox) {
            Some(hit) => hit,
            None => {
                if pvc_setup.is_none() {
                    pvc_setup = Some(build_pvc(&study, labels.as_ref(), &frame)?);
                }
                let setup = pvc_setup.as_ref().and_then(Option::as_ref);
                let (fit, maps) =
                    fit_cycle(&study, cycle, cn, &frame, labels.as_ref(), setup, out, key)?;
                store_cached(out, &fit, &maps)?;
                (fit, maps)
            }
        };
        for v in 0..n_vox {
            total[v] += maps.tia[v] as f64;
            var[v] += (maps.sigma[v] as f64).powi(2);
        }
        if let Some(model) = fit.voxel_model {
            let time_h: Vec<f64> = cycle.time_points.iter().map(|t| t.time_h).collect();
            super::voxel_kinetics::write_cycle(
                out,
                &grid,
                cn,
                model,
                maps.params,
                &time_h,
                fit.physical_half_life_h,
            )?;
        }
        notes.extend(fit.alignment.iter().cloned());
        notes.extend(fit.dicom_images.iter().flat_map(|d| d.notes(cn)));
        if let Some(p) = &fit.partial_volume {
            notes.extend(
                p.notes
                    .iter()
                    .map(|n| format!("cycle {cn}: partial volume: {n}")),
            );
        }
        if fit.voxels_masked > 0 {
            let worst = fit
                .masked_activity_fraction
                .iter()
                .copied()
                .fold(0.0, f64::max);
            notes.push(format!(
                "cycle {cn}: {} voxels not fitted (peak ≤ 0 or below voxel_threshold {}), Ã = 0; they held at most {:.3} % of a scan's activity",
                fit.voxels_masked,
                study.voxel_threshold,
                100.0 * worst
            ));
        }
        cycle_tia.push(Volume {
            grid: grid.clone(),
            data: maps.tia,
        });
        cycles.push(fit);
    }
    let fit = StudyFit {
        tia: Volume {
            grid: grid.clone(),
            data: total.iter().map(|&v| v as f32).collect(),
        },
        tia_sigma: Volume {
            grid: grid.clone(),
            data: var.iter().map(|&v| v.sqrt() as f32).collect(),
        },
        regions: cycles.iter().flat_map(|c| c.regions.clone()).collect(),
        cycles,
        cycle_tia,
        reference_ct: frame.ct,
        notes,
        labels,
    };
    super::output::write_outputs(&fit, &study, out)?;
    Ok(fit)
}
