//! The organ / lesion table: per region, mass and dose statistics with the σ of the mean,
//! written as CSV and JSON, plus the cumulative DVH of every region (CSV, long format).
//!
//! Units: mass in kg (voxel volume × density from the CT), volume in mL, doses in Gy,
//! `mean_rel_sigma` relative (from the transport's batch statistics of the region's energy).

use crate::geometry::VoxelModel;
use crate::report::dvh::{cumulative_dvh, dose_stats, DoseStats};
use crate::Result;
use serde::Serialize;
use std::path::Path;

/// One row of the table.
#[derive(Clone, Debug, Serialize)]
pub struct OrganRow {
    /// Region name.
    pub region: String,
    /// Voxels.
    pub voxels: usize,
    /// Volume, mL.
    pub volume_ml: f64,
    /// Mass, kg.
    pub mass_kg: f64,
    /// Dose statistics, Gy.
    #[serde(flatten)]
    pub stats: DoseStats,
    /// Relative standard uncertainty of the mean dose.
    pub mean_rel_sigma: f64,
    /// Standard uncertainty of the mean dose, Gy.
    pub mean_sigma_gy: f64,
}

/// Builds the table from a dose map (Gy) on the model grid and each region's relative σ of
/// the mean (by region order; 0 when unknown).
pub fn organ_rows(model: &VoxelModel, dose_gy: &[f64], rel_sigma: &[f64]) -> Vec<OrganRow> {
    model
        .regions
        .iter()
        .enumerate()
        .map(|(r, region)| {
            let doses: Vec<f64> = region.voxels.iter().map(|&v| dose_gy[v as usize]).collect();
            let masses: Vec<f64> = region
                .voxels
                .iter()
                .map(|&v| model.voxel_mass_kg(v as usize))
                .collect();
            let stats = dose_stats(&doses, &masses);
            let rel = rel_sigma.get(r).copied().unwrap_or(0.0);
            OrganRow {
                region: region.name.clone(),
                voxels: region.voxels.len(),
                volume_ml: region.voxels.len() as f64 * model.grid.voxel_volume_mm3() * 1e-3,
                mass_kg: masses.iter().sum(),
                mean_sigma_gy: rel * stats.mean_gy,
                mean_rel_sigma: rel,
                stats,
            }
        })
        .collect()
}

/// Writes `organ_table.csv` and `organ_table.json` (atomically).
pub fn write_organ_table(csv_path: &Path, json_path: &Path, rows: &[OrganRow]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "region",
        "voxels",
        "volume_ml",
        "mass_kg",
        "mean_gy",
        "min_gy",
        "max_gy",
        "d2_gy",
        "d50_gy",
        "d98_gy",
        "mean_rel_sigma",
        "mean_sigma_gy",
    ])
    .map_err(internal)?;
    for r in rows {
        let s = &r.stats;
        w.write_record([
            r.region.clone(),
            r.voxels.to_string(),
            format!("{:.6}", r.volume_ml),
            format!("{:.6e}", r.mass_kg),
            format!("{:.6e}", s.mean_gy),
            format!("{:.6e}", s.min_gy),
            format!("{:.6e}", s.max_gy),
            format!("{:.6e}", s.d2_gy),
            format!("{:.6e}", s.d50_gy),
            format!("{:.6e}", s.d98_gy),
            format!("{:.6e}", r.mean_rel_sigma),
            format!("{:.6e}", r.mean_sigma_gy),
        ])
        .map_err(internal)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| crate::Error::Internal(format!("CSV: {e}")))?;
    crate::io::atomic::write_atomic(csv_path, &bytes)?;
    let json = serde_json::to_vec_pretty(rows)
        .map_err(|e| crate::Error::Internal(format!("JSON: {e}")))?;
    crate::io::atomic::write_atomic(json_path, &json)
}

/// Writes the cumulative DVH of every region: `region,dose_gy,volume_fraction` rows.
pub fn write_dvh_csv(path: &Path, model: &VoxelModel, dose_gy: &[f64], bins: usize) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["region", "dose_gy", "volume_fraction"])
        .map_err(internal)?;
    for region in &model.regions {
        let doses: Vec<f64> = region.voxels.iter().map(|&v| dose_gy[v as usize]).collect();
        for (d, f) in cumulative_dvh(&doses, bins) {
            w.write_record([region.name.clone(), format!("{d:.6e}"), format!("{f:.6}")])
                .map_err(internal)?;
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| crate::Error::Internal(format!("CSV: {e}")))?;
    crate::io::atomic::write_atomic(path, &bytes)
}

fn internal(e: csv::Error) -> crate::Error {
    crate::Error::Internal(format!("CSV: {e}"))
}
