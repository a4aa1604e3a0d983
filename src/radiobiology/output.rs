//! Writing BED results: `bed.nii.gz` and `eqd2.nii.gz` (Gy), `bed_summary.json`,
//! `bed_dvh.csv` (BED-volume histograms) and `bed_rtdose.dcm` (RT Dose, DoseType EFFECTIVE).
//! Every file is written atomically.

use super::maps::{BedRegion, BedResult, RegionBed};
use crate::geometry::{Grid, Volume};
use crate::io::rtdose::{new_uid, write_rt_dose, DoseType};
use crate::io::series::SeriesIdentity;
use crate::Result;
use serde::Serialize;
use std::path::Path;

/// The fixed output names of `voxdose bed`.
pub const BED_OUTPUT_FILES: [&str; 5] = [
    "bed.nii.gz",
    "eqd2.nii.gz",
    "bed_summary.json",
    "bed_dvh.csv",
    "bed_rtdose.dcm",
];

/// Levels of each BED-volume histogram.
pub const DVH_BINS: usize = 200;

/// The formulas the summary states, so a reader can check a number by hand.
#[derive(Clone, Debug, Serialize)]
pub struct Formulas {
    /// BED.
    pub bed: &'static str,
    /// The Lea–Catcheside factor.
    pub g_factor: &'static str,
    /// EQD2.
    pub eqd2: &'static str,
    /// EUBED.
    pub eubed: &'static str,
    /// Cycles.
    pub cycles: &'static str,
}

/// The formulas as written into every `bed_summary.json`.
pub const FORMULAS: Formulas = Formulas {
    bed: "BED = D + G·D²/(α/β) per voxel and cycle (linear-quadratic model with repair during protracted irradiation; Dale 1985 Br J Radiol 58:515)",
    g_factor: "G·D² = 2∫₀^∞ Ḋ(t)∫₀^t Ḋ(s) e^(−μ(t−s)) ds dt = Σᵢⱼ aᵢaⱼ(λᵢ+λⱼ+2μ)/[(λᵢ+λⱼ)(λᵢ+μ)(λⱼ+μ)] for Ḋ = Σ aᵢe^(−λᵢt), μ = ln2/T_rep; mono-exponential: G = T_rep/(T_rep+T_eff)",
    eqd2: "EQD2 = BED/(1 + 2 Gy/(α/β))",
    eubed: "EUBED = −(1/α) ln[(1/N) Σᵥ exp(−α·BEDᵥ)] (O'Donoghue 1999 J Nucl Med 40:1337)",
    cycles: "BED adds over cycles (full repair between cycles weeks apart)",
};

/// How σ of a region's mean BED is obtained.
pub const UNCERTAINTY_NOTE: &str = "bed_mean_gy_sigma propagates to first order the voxel dose σ (independent between voxels, as Monte Carlo batch σ are; a calibration σ shared by all voxels is not in it) and σ of G from the region fit's covariance (shared by the region's voxels, those with their own voxel kinetics included, since voxel fit covariances are not stored; independent between cycles)";

/// One cycle's region summaries.
#[derive(Clone, Debug, Serialize)]
pub struct CycleSummary {
    /// Cycle number.
    pub cycle: usize,
    /// Regions in that cycle.
    pub regions: Vec<RegionBed>,
}

/// Writes a BED map (or EQD2 map) as NIfTI with a description saying what it is.
pub fn write_map(path: &Path, grid: &Grid, values: &[f32], what: &str) -> Result<()> {
    crate::io::nifti::write_volume_f32(
        path,
        &Volume {
            grid: grid.clone(),
            data: values.to_vec(),
        },
        &format!("voxdose {what} Gy (LQ model; bed_summary.json)"),
    )
}

/// Writes `bed_dvh.csv`: `region,bed_gy,volume_fraction`.
pub fn write_bed_dvh(path: &Path, bed_gy: &[f32], regions: &[BedRegion]) -> Result<()> {
    let err = |e: csv::Error| crate::Error::Internal(format!("CSV writer: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["region", "bed_gy", "volume_fraction"])
        .map_err(err)?;
    for (name, level, frac) in super::maps::bed_volume_histograms(bed_gy, regions, DVH_BINS) {
        w.write_record([name, format!("{level:.6e}"), format!("{frac:.6}")])
            .map_err(err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| crate::Error::Internal(format!("CSV writer: {e}")))?;
    crate::io::atomic::write_atomic(path, &bytes)
}

/// Writes the cumulative BED as RT Dose (DoseType EFFECTIVE, Gy) in the frame and patient of
/// `identity` (new study and frame UIDs when they are empty).
pub fn write_bed_rtdose(
    path: &Path,
    grid: &Grid,
    bed_gy: &[f32],
    identity: &SeriesIdentity,
) -> Result<()> {
    write_rt_dose(
        path,
        &Volume {
            grid: grid.clone(),
            data: bed_gy.to_vec(),
        },
        identity,
        DoseType::Effective,
        &new_uid(),
        "voxdose BED (Gy), LQ model with repair",
    )
}

/// Writes `value` as pretty JSON.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_vec_pretty(value)
        .map_err(|e| crate::Error::Internal(format!("{}: {e}", path.display())))?;
    crate::io::atomic::write_atomic(path, &text)
}

/// The per-cycle summaries of a result, when there is more than one cycle.
pub fn cycle_summaries(result: &BedResult) -> Vec<CycleSummary> {
    if result.cycles.len() < 2 {
        return Vec::new();
    }
    result
        .cycles
        .iter()
        .map(|(c, r)| CycleSummary {
            cycle: *c,
            regions: r.clone(),
        })
        .collect()
}
