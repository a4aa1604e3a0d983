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
    /// How the dose was computed: `mc` (Monte Carlo transport), `dvk` (dose-voxel-kernel
    /// convolution) or `ldm` (local deposition); set by [`with_method`].
    #[serde(skip_serializing_if = "str::is_empty")]
    pub method: &'static str,
    /// The dose quantity in words ("dose to medium", "dose to water (…)", …).
    #[serde(skip_serializing_if = "str::is_empty")]
    pub dose_quantity: &'static str,
}

/// `rows` with the method and dose quantity that made them (written as the last columns).
pub fn with_method(
    mut rows: Vec<OrganRow>,
    method: &'static str,
    dose_quantity: &'static str,
) -> Vec<OrganRow> {
    for r in &mut rows {
        r.method = method;
        r.dose_quantity = dose_quantity;
    }
    rows
}

/// The CSV columns naming the method, after all others (so older scripts reading columns
/// by position are not disturbed), when the rows carry one.
pub(crate) fn method_columns(rows: &[OrganRow]) -> bool {
    rows.iter().any(|r| !r.method.is_empty())
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
                method: "",
                dose_quantity: "",
            }
        })
        .collect()
}

/// Writes `organ_table.csv` and `organ_table.json` (atomically), doses in Gy.
pub fn write_organ_table(csv_path: &Path, json_path: &Path, rows: &[OrganRow]) -> Result<()> {
    write_organ_table_in(csv_path, json_path, rows, "Gy")
}

/// A JSON row: the [`OrganRow`], the dose unit, and for a dose per decay the same values
/// under keys that say so (`mean_gy_per_decay`, …).
#[derive(Serialize)]
struct UnitRow<'a> {
    #[serde(flatten)]
    row: &'a OrganRow,
    dose_unit: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    mean_gy_per_decay: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    d2_gy_per_decay: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    d98_gy_per_decay: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mean_sigma_gy_per_decay: Option<f64>,
}

/// Writes `organ_table.csv` and `organ_table.json` (atomically) with the dose unit `unit`
/// ("Gy" or "Gy per decay"). Every table has a `dose_unit` column; the `*_gy` columns keep
/// their names for scripts that read them, and a dose per decay also gets
/// `mean_gy_per_decay`, `d2_gy_per_decay`, `d98_gy_per_decay`, `mean_sigma_gy_per_decay`.
pub fn write_organ_table_in(
    csv_path: &Path,
    json_path: &Path,
    rows: &[OrganRow],
    unit: &str,
) -> Result<()> {
    let per_decay = unit != "Gy";
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
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
        "dose_unit",
    ];
    if per_decay {
        header.push("mean_gy_per_decay");
    }
    let named = method_columns(rows);
    if named {
        header.extend(["method", "dose_quantity"]);
    }
    w.write_record(&header).map_err(internal)?;
    for r in rows {
        let s = &r.stats;
        let mut record = vec![
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
            unit.to_string(),
        ];
        if per_decay {
            record.push(format!("{:.6e}", s.mean_gy));
        }
        if named {
            record.extend([r.method.to_string(), r.dose_quantity.to_string()]);
        }
        w.write_record(&record).map_err(internal)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| crate::Error::Internal(format!("CSV: {e}")))?;
    crate::io::atomic::write_atomic(csv_path, &bytes)?;
    let per = |v: f64| per_decay.then_some(v);
    let unit_rows: Vec<UnitRow> = rows
        .iter()
        .map(|r| UnitRow {
            row: r,
            dose_unit: unit,
            mean_gy_per_decay: per(r.stats.mean_gy),
            d2_gy_per_decay: per(r.stats.d2_gy),
            d98_gy_per_decay: per(r.stats.d98_gy),
            mean_sigma_gy_per_decay: per(r.mean_sigma_gy),
        })
        .collect();
    let json = serde_json::to_vec_pretty(&unit_rows)
        .map_err(|e| crate::Error::Internal(format!("JSON: {e}")))?;
    crate::io::atomic::write_atomic(json_path, &json)
}

/// Writes the cumulative DVH of every region: `region,dose_gy,volume_fraction` rows.
pub fn write_dvh_csv(path: &Path, model: &VoxelModel, dose_gy: &[f64], bins: usize) -> Result<()> {
    write_dvh_csv_in(path, model, dose_gy, bins, "Gy")
}

/// [`write_dvh_csv`] for a dose in `unit`: with a dose per decay the rows are
/// `region,dose_gy,volume_fraction,dose_gy_per_decay` (the `dose_gy` column keeps its name
/// for scripts that read it; the last column names the unit truly).
pub fn write_dvh_csv_in(
    path: &Path,
    model: &VoxelModel,
    dose_gy: &[f64],
    bins: usize,
    unit: &str,
) -> Result<()> {
    let per_decay = unit != "Gy";
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["region", "dose_gy", "volume_fraction"];
    if per_decay {
        header.push("dose_gy_per_decay");
    }
    w.write_record(&header).map_err(internal)?;
    for region in &model.regions {
        let doses: Vec<f64> = region.voxels.iter().map(|&v| dose_gy[v as usize]).collect();
        for (d, f) in cumulative_dvh(&doses, bins) {
            let mut record = vec![region.name.clone(), format!("{d:.6e}"), format!("{f:.6}")];
            if per_decay {
                record.push(format!("{d:.6e}"));
            }
            w.write_record(&record).map_err(internal)?;
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
