//! BED and EQD2 columns for the organ table of a patient or study run
//! ([`crate::report::organ_table`]): per region, the mass-weighted mean BED (as the table's
//! mean dose is mass-weighted), its σ, the mean EQD2, BED D2/D98 and EUBED, and the table
//! written with these columns appended.
//!
//! σ of the mean BED: the table's `mean_rel_sigma` (σ of the region's energy) is a relative
//! error common to the region's voxels, so it propagates linearly through the mass-weighted
//! mean of ∂BED/∂D·D; σ(G) adds in quadrature (TWIN.md §1 formulas).
//!
//! Units: Gy; masses in kg.

use super::lq::{bed_from_g, dbed_ddose, eqd2_gy, DoseRateModel};
use super::stats::{d_at_percent, eubed_gy};
use super::tissue::Tissue;
use crate::geometry::VoxelModel;
use crate::report::organ_table::OrganRow;
use crate::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The radiobiology of one region: its tissue, dose-rate shape and σ of G.
#[derive(Clone, Debug)]
pub struct RegionRadiobiology {
    /// The tissue.
    pub tissue: Tissue,
    /// The dose-rate shape.
    pub model: DoseRateModel,
    /// σ of the Lea–Catcheside factor (0 when unknown).
    pub g_factor_sigma: f64,
}

/// BED columns of one organ-table row.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OrganBedColumns {
    /// Region (as in the organ table).
    pub region: String,
    /// Tissue key, or null when the region has none (then the other columns are null).
    pub tissue: Option<String>,
    /// Mass-weighted mean BED, Gy.
    pub bed_mean_gy: Option<f64>,
    /// Its σ, Gy.
    pub bed_mean_gy_sigma: Option<f64>,
    /// Mean EQD2, Gy.
    pub eqd2_mean_gy: Option<f64>,
    /// Near-maximum BED, Gy.
    pub bed_d2_gy: Option<f64>,
    /// Near-minimum BED, Gy.
    pub bed_d98_gy: Option<f64>,
    /// EUBED (when α is known), Gy.
    pub eubed_gy: Option<f64>,
}

/// The BED columns of `rows` (in their order), from the dose map `dose_gy` (Gy) on `model`'s
/// grid and each region's radiobiology by region name (regions not in `by_region` get empty
/// columns).
pub fn organ_bed_columns(
    rows: &[OrganRow],
    model: &VoxelModel,
    dose_gy: &[f64],
    by_region: &BTreeMap<String, RegionRadiobiology>,
) -> Vec<OrganBedColumns> {
    rows.iter()
        .map(|row| {
            let region = model.regions.iter().find(|r| r.name == row.region);
            match (region, by_region.get(&row.region)) {
                (Some(region), Some(rb)) => {
                    let doses: Vec<f64> =
                        region.voxels.iter().map(|&v| dose_gy[v as usize]).collect();
                    let masses: Vec<f64> = region
                        .voxels
                        .iter()
                        .map(|&v| model.voxel_mass_kg(v as usize))
                        .collect();
                    columns(&row.region, &doses, &masses, row.mean_rel_sigma, rb)
                }
                _ => OrganBedColumns {
                    region: row.region.clone(),
                    tissue: None,
                    bed_mean_gy: None,
                    bed_mean_gy_sigma: None,
                    eqd2_mean_gy: None,
                    bed_d2_gy: None,
                    bed_d98_gy: None,
                    eubed_gy: None,
                },
            }
        })
        .collect()
}

fn columns(
    name: &str,
    dose_gy: &[f64],
    mass_kg: &[f64],
    rel_sigma: f64,
    rb: &RegionRadiobiology,
) -> OrganBedColumns {
    let t = &rb.tissue;
    let g = rb.model.g_factor(t.repair_half_time_h);
    let ab = t.alpha_beta_gy;
    let total_mass: f64 = mass_kg.iter().sum();
    let weights: Vec<f64> = if total_mass > 0.0 {
        mass_kg.iter().map(|m| m / total_mass).collect()
    } else {
        vec![1.0 / dose_gy.len().max(1) as f64; dose_gy.len()]
    };
    let bed: Vec<f64> = dose_gy.iter().map(|&d| bed_from_g(d, g, ab)).collect();
    let mean = |f: &dyn Fn(usize) -> f64| (0..bed.len()).map(|i| weights[i] * f(i)).sum::<f64>();
    let bed_mean = mean(&|i| bed[i]);
    let from_dose = mean(&|i| dbed_ddose(dose_gy[i], g, ab) * dose_gy[i]) * rel_sigma;
    let from_g = mean(&|i| dose_gy[i] * dose_gy[i]) / ab * rb.g_factor_sigma;
    let mut sorted = bed.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    OrganBedColumns {
        region: name.to_string(),
        tissue: Some(t.name.clone()),
        bed_mean_gy: Some(bed_mean),
        bed_mean_gy_sigma: Some(from_dose.hypot(from_g)),
        eqd2_mean_gy: Some(eqd2_gy(bed_mean, ab)),
        bed_d2_gy: Some(d_at_percent(&sorted, 2.0)),
        bed_d98_gy: Some(d_at_percent(&sorted, 98.0)),
        eubed_gy: t.alpha_per_gy.and_then(|a| eubed_gy(&bed, a)),
    }
}

/// Writes `organ_table.csv` and `organ_table.json` with the BED columns appended to each
/// row (same order as `rows`), atomically.
pub fn write_organ_table_with_bed(
    csv_path: &Path,
    json_path: &Path,
    rows: &[OrganRow],
    bed: &[OrganBedColumns],
) -> Result<()> {
    let err = |e: csv::Error| crate::Error::Internal(format!("CSV: {e}"));
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
        "tissue",
        "bed_mean_gy",
        "bed_mean_gy_sigma",
        "eqd2_mean_gy",
        "bed_d2_gy",
        "bed_d98_gy",
        "eubed_gy",
    ];
    let named = crate::report::organ_table::method_columns(rows);
    if named {
        header.extend(["method", "dose_quantity"]);
    }
    w.write_record(&header).map_err(err)?;
    let opt = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:.6e}"));
    for (r, b) in rows.iter().zip(bed) {
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
            b.tissue.clone().unwrap_or_default(),
            opt(b.bed_mean_gy),
            opt(b.bed_mean_gy_sigma),
            opt(b.eqd2_mean_gy),
            opt(b.bed_d2_gy),
            opt(b.bed_d98_gy),
            opt(b.eubed_gy),
        ];
        if named {
            record.extend([r.method.to_string(), r.dose_quantity.to_string()]);
        }
        w.write_record(&record).map_err(err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| crate::Error::Internal(format!("CSV: {e}")))?;
    crate::io::atomic::write_atomic(csv_path, &bytes)?;
    #[derive(Serialize)]
    struct Joined<'a> {
        #[serde(flatten)]
        row: &'a OrganRow,
        #[serde(flatten)]
        bed: &'a OrganBedColumns,
    }
    let joined: Vec<Joined> = rows
        .iter()
        .zip(bed)
        .map(|(row, bed)| Joined { row, bed })
        .collect();
    super::output::write_json(json_path, &joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{Grid, Region};

    #[test]
    fn uniform_organ_gets_the_closed_form_bed_and_common_sigma() {
        let mut model = VoxelModel::homogeneous(Grid::centred([2, 2, 2], 4.0), "soft-tissue", 1.0);
        model.regions = vec![Region {
            name: "kidney".into(),
            voxels: (0..8).collect(),
        }];
        let dose = vec![10.0; 8];
        let rows = crate::report::organ_table::organ_rows(&model, &dose, &[0.05]);
        let mut by = BTreeMap::new();
        by.insert(
            "kidney".to_string(),
            RegionRadiobiology {
                tissue: Tissue::named("kidney").unwrap(),
                model: DoseRateModel::mono_exponential(50.0),
                g_factor_sigma: 0.0,
            },
        );
        let cols = organ_bed_columns(&rows, &model, &dose, &by);
        let c = &cols[0];
        // TWIN.md §1 check value.
        assert!((c.bed_mean_gy.unwrap() - 12.0396).abs() < 5e-5);
        assert!((c.eqd2_mean_gy.unwrap() - 6.8050).abs() < 5e-5);
        // A common 5 % dose error: σ(BED) = ∂BED/∂D · 0.5 Gy.
        let expect = dbed_ddose(10.0, 2.8 / 52.8, 2.6) * 0.5;
        assert!((c.bed_mean_gy_sigma.unwrap() - expect).abs() < 1e-9);
        let dir = tempfile::tempdir().unwrap();
        write_organ_table_with_bed(
            &dir.path().join("t.csv"),
            &dir.path().join("t.json"),
            &rows,
            &cols,
        )
        .unwrap();
        let text = std::fs::read_to_string(dir.path().join("t.csv")).unwrap();
        assert!(text
            .lines()
            .next()
            .unwrap()
            .ends_with("bed_d98_gy,eubed_gy"));
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("t.json")).unwrap()).unwrap();
        assert_eq!(json[0]["tissue"], "kidney");
        assert!(json[0]["mean_gy"].is_number());
    }
}
