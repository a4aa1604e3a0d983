//! BED of a study run (`voxdose run --study`): per cycle and summed over cycles, from the
//! study's dose in Gy, its regions and the kinetics the study fit found for each region in
//! each cycle.
//!
//! How the study run calls it (in `src/run/outputs.rs`, after `dose.nii.gz` is written, for a
//! `ProblemKind::Study` whose dose is in Gy; the TIA grid is the dose grid):
//!
//! ```text
//! let fit = &study_context.fit;                         // kinetics::StudyFit
//! let regions = radiobiology::study::fit_regions(fit);  // the fit's label map and names
//! let (tissues, notes) = radiobiology::study::tissues_from_region_names(&regions);
//! let sigma: Vec<f32> = dose_f32.iter().zip(&rel_uncertainty).map(|(d, r)| d * r).collect();
//! let bed = radiobiology::study::study_bed(&StudyBedInput {
//!     grid: &problem.model.grid,
//!     dose: StudyDose::AllCycles { dose_gy: &dose_f32, sigma_gy: Some(&sigma) },
//!     regions: &regions,
//!     fit,
//!     tissues: &tissues,
//!     voxel_shapes: &voxel_shapes, // load_voxel_shapes(out, grid, None): the fit's voxel fits
//! })?;
//! radiobiology::study::write_study_bed(out, &problem.model.grid, &bed, None)?;
//! ```
//!
//! With one dose map for all cycles (the run transports Σ TIA), each region's dose is split
//! over cycles by its TIA share in each cycle; with one map per cycle, each is used as is.
//!
//! Outputs ([`write_study_bed`]): `bed.nii.gz`, `eqd2.nii.gz` (cumulative), per cycle
//! `bed_cycle{n}.nii.gz` and `eqd2_cycle{n}.nii.gz`, `bed_summary.json` (cumulative
//! `regions` and per-cycle `cycles`, in the format of `voxdose bed`), `bed_dvh.csv` and
//! `bed_rtdose.dcm` (cumulative).

use super::fit_input::{from_region_results, RegionKinetics};
use super::maps::{compute, BedRegion, BedResult, DoseMaps, RegionBed, VoxelShapes};
use super::output::{
    write_bed_dvh, write_bed_rtdose, write_json, write_map, CycleSummary, Formulas, FORMULAS,
    UNCERTAINTY_NOTE,
};
use super::plan::{
    bed_regions, tissue_key_for_region_name, DoseLayout, KineticsPlan, LabelledRegion,
    TissueAssignment,
};
use super::tissue::Tissue;
use crate::geometry::Grid;
use crate::io::series::SeriesIdentity;
use crate::kinetics::StudyFit;
use crate::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One cycle's dose map: (cycle number, dose in Gy per voxel, 1-σ in Gy per voxel).
pub type CycleDoseMap<'a> = (usize, &'a [f32], Option<&'a [f32]>);

/// The study's absorbed dose in Gy.
#[derive(Clone, Debug)]
pub enum StudyDose<'a> {
    /// One map holding every cycle (dose per decay × Σ TIA), with its σ in Gy.
    AllCycles {
        /// Dose, Gy per voxel.
        dose_gy: &'a [f32],
        /// 1-σ, Gy per voxel.
        sigma_gy: Option<&'a [f32]>,
    },
    /// One map per cycle: (cycle number, dose in Gy, σ in Gy).
    PerCycle(Vec<CycleDoseMap<'a>>),
}

/// What [`study_bed`] needs.
#[derive(Clone, Debug)]
pub struct StudyBedInput<'a> {
    /// The dose grid.
    pub grid: &'a Grid,
    /// The dose.
    pub dose: StudyDose<'a>,
    /// The study's regions on the dose grid (label values as in the fit).
    pub regions: &'a [LabelledRegion],
    /// The study fit (per cycle region kinetics).
    pub fit: &'a StudyFit,
    /// Tissue of each region.
    pub tissues: &'a TissueAssignment,
    /// Per-voxel shapes of the fit's cycles (the voxel fits,
    /// [`super::voxel_shapes::load_voxel_shapes`] of the fit's folder), on the dose grid;
    /// empty: every voxel takes its region's model.
    pub voxel_shapes: &'a [VoxelShapes],
}

/// `bed_summary.json` of a study.
#[derive(Clone, Debug, Serialize)]
pub struct StudyBedSummary {
    /// voxdose version.
    pub voxdose_version: &'static str,
    /// Formulas.
    pub formulas: Formulas,
    /// How σ is obtained.
    pub uncertainty_note: &'static str,
    /// Notes (tissue choices, regions left out).
    pub notes: Vec<String>,
    /// Voxels with dose > 0 outside every region (BED 0 there).
    pub voxels_without_bed: usize,
    /// Regions, summed over every cycle.
    pub regions: Vec<RegionBed>,
    /// Regions per cycle.
    pub cycles: Vec<CycleSummary>,
}

/// A study's BED: maps (cumulative and per cycle), the regions used, the summary.
#[derive(Clone, Debug)]
pub struct StudyBed {
    /// Maps and summaries.
    pub result: BedResult,
    /// The regions as computed (for the BED-volume histograms).
    pub regions: Vec<BedRegion>,
    /// `bed_summary.json`.
    pub summary: StudyBedSummary,
}

/// Output names [`write_study_bed`] writes besides per-cycle maps.
pub const STUDY_BED_FILES: [&str; 5] = [
    "bed.nii.gz",
    "eqd2.nii.gz",
    "bed_summary.json",
    "bed_dvh.csv",
    "bed_rtdose.dcm",
];

/// Tissues for study regions from their names ([`tissue_key_for_region_name`]); regions
/// whose name matches no tissue are left without one. The notes say what was chosen.
pub fn tissues_from_region_names(regions: &[LabelledRegion]) -> (TissueAssignment, Vec<String>) {
    let mut by_label = BTreeMap::new();
    let mut notes = Vec::new();
    for r in regions {
        match tissue_key_for_region_name(&r.name).and_then(|k| Tissue::named(k).ok()) {
            Some(t) => {
                notes.push(format!(
                    "region '{}' (label {}) taken as tissue '{}' from its name",
                    r.name, r.label, t.name
                ));
                by_label.insert(r.label, t);
            }
            None => notes.push(format!(
                "region '{}' (label {}): no tissue matches its name; no BED",
                r.name, r.label
            )),
        }
    }
    (
        TissueAssignment {
            by_label,
            default: None,
        },
        notes,
    )
}

/// The regions of a study fit (its label map on the TIA grid, with the fit's names), in
/// label order; empty when the study has no label map.
pub fn fit_regions(fit: &StudyFit) -> Vec<LabelledRegion> {
    let Some((labels, names)) = &fit.labels else {
        return Vec::new();
    };
    let mut voxels: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (v, &l) in labels.data.iter().enumerate().filter(|(_, &l)| l > 0) {
        voxels.entry(l).or_default().push(v as u32);
    }
    voxels
        .into_iter()
        .map(|(label, voxels)| LabelledRegion {
            name: names
                .get(&label)
                .cloned()
                .unwrap_or_else(|| format!("label {label}")),
            label,
            voxels,
        })
        .collect()
}

/// The kinetics of every region in every cycle of a study fit.
pub fn study_kinetics(fit: &StudyFit) -> Result<Vec<RegionKinetics>> {
    let mut out = Vec::new();
    for c in &fit.cycles {
        out.extend(from_region_results(&c.regions, c.physical_half_life_h)?);
    }
    Ok(out)
}

/// Computes per-cycle and cumulative BED/EQD2 of a study.
pub fn study_bed(input: &StudyBedInput) -> Result<StudyBed> {
    let plan = KineticsPlan {
        fit: study_kinetics(input.fit)?,
        fallback_effective_half_life_h: None,
        voxel_cycles: input.voxel_shapes.iter().map(|s| s.cycle).collect(),
    };
    let (maps, layout) = match &input.dose {
        StudyDose::AllCycles { dose_gy, sigma_gy } => (
            DoseMaps {
                dose_gy: vec![dose_gy],
                sigma_gy: vec![*sigma_gy],
                voxel_shapes: input.voxel_shapes,
            },
            DoseLayout::OneMapAllCycles,
        ),
        StudyDose::PerCycle(cycles) => (
            DoseMaps {
                dose_gy: cycles.iter().map(|c| c.1).collect(),
                sigma_gy: cycles.iter().map(|c| c.2).collect(),
                voxel_shapes: input.voxel_shapes,
            },
            DoseLayout::MapPerCycle(cycles.iter().enumerate().map(|(i, c)| (c.0, i)).collect()),
        ),
    };
    let (regions, mut notes) = bed_regions(input.regions, input.tissues, &plan, &layout)?;
    let result = compute(&maps, &regions, input.grid.voxel_volume_mm3() * 1e-3, true);
    notes.extend(super::bed_command::voxel_kinetics_notes(
        &result.regions,
        !input.voxel_shapes.is_empty(),
    ));
    let summary = StudyBedSummary {
        voxdose_version: env!("CARGO_PKG_VERSION"),
        formulas: FORMULAS,
        uncertainty_note: UNCERTAINTY_NOTE,
        notes,
        voxels_without_bed: result.voxels_without_bed,
        regions: result.regions.clone(),
        cycles: result
            .cycles
            .iter()
            .map(|(c, r)| CycleSummary {
                cycle: *c,
                regions: r.clone(),
            })
            .collect(),
    };
    Ok(StudyBed {
        result,
        regions,
        summary,
    })
}

/// Writes a study's BED outputs into `out` (see the module doc). `identity` places the RT
/// Dose in a patient's frame (None: new UIDs).
pub fn write_study_bed(
    out: &Path,
    grid: &Grid,
    bed: &StudyBed,
    identity: Option<&SeriesIdentity>,
) -> Result<()> {
    let r = &bed.result;
    write_map(&out.join("bed.nii.gz"), grid, &r.bed_gy, "BED")?;
    write_map(&out.join("eqd2.nii.gz"), grid, &r.eqd2_gy, "EQD2")?;
    for ((c, b), (_, e)) in r.cycle_bed_gy.iter().zip(&r.cycle_eqd2_gy) {
        let what = format!("cycle {c}");
        write_map(
            &out.join(format!("bed_cycle{c}.nii.gz")),
            grid,
            b,
            &format!("BED {what}"),
        )?;
        write_map(
            &out.join(format!("eqd2_cycle{c}.nii.gz")),
            grid,
            e,
            &format!("EQD2 {what}"),
        )?;
    }
    write_bed_dvh(&out.join("bed_dvh.csv"), &r.bed_gy, &bed.regions)?;
    write_bed_rtdose(
        &out.join("bed_rtdose.dcm"),
        grid,
        &r.bed_gy,
        &identity.cloned().unwrap_or_default(),
    )?;
    write_json(&out.join("bed_summary.json"), &bed.summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Volume;
    use crate::kinetics::fit::{ModelFit, TacFit};
    use crate::kinetics::models::TacModel;
    use crate::kinetics::{CycleFit, RegionResult};
    use std::f64::consts::LN_2;

    /// A region fitted with a mono-exponential of `t_eff` h and Ã = `tia_bq_s`.
    fn region(cycle: usize, label: u32, name: &str, t_eff: f64, tia_bq_s: f64) -> RegionResult {
        let fit = ModelFit {
            model: TacModel::MonoExp,
            params: vec![1e6, LN_2 / t_eff],
            param_sigma: vec![1e4, 1e-4],
            covariance: vec![1e8, 0.0, 0.0, 1e-8],
            wrss: 1.0,
            aic: 0.0,
            aicc: None,
            r_squared: 1.0,
            iterations: 3,
            at_bound: Vec::new(),
            integral_h: tia_bq_s / 3600.0,
            integral_sigma_h: 0.0,
        };
        RegionResult {
            cycle,
            label,
            name: name.into(),
            n_voxels: 1,
            volume_ml: 1.0,
            time_h: vec![24.0, 96.0],
            activity_bq: vec![1.0, 0.5],
            fit: Some(TacFit {
                candidates: vec![fit],
                selected: Some(0),
                used_aicc: false,
                method: crate::kinetics::fit::TiaMethod::Fit,
                tia_h: tia_bq_s / 3600.0,
                tia_sigma_h: 0.0,
                effective_half_life_h: t_eff,
                tail_fraction: 0.1,
                notes: Vec::new(),
            }),
            stp: None,
            model: "mono-exp".into(),
            tia_bq_s,
            tia_sigma_fit_bq_s: 0.0,
            tia_sigma_bq_s: 0.0,
            tiac_h: 1.0,
            effective_half_life_h: t_eff,
            partial_volume: None,
        }
    }

    fn cycle(n: usize, regions: Vec<RegionResult>) -> CycleFit {
        CycleFit {
            cycle: n,
            key: String::new(),
            from_cache: false,
            physical_half_life_h: 159.5,
            registration: Vec::new(),
            alignment: Vec::new(),
            regions,
            voxels_fitted: 0,
            voxels_trapezoid: 0,
            voxels_masked: 0,
            masked_activity_fraction: Vec::new(),
            map_total_bq_s: 0.0,
            voxel_model: None,
            partial_volume: None,
            dicom_images: Vec::new(),
        }
    }

    #[test]
    fn study_bed_per_cycle_and_cumulative_from_one_study_dose() {
        // Two voxels: kidney (label 1) and a lesion (label 2); two cycles with TIA 3:1 for
        // the kidney and 1:1 for the lesion; one study dose map (Σ TIA).
        let grid = Grid::new([2, 1, 1], [4.0; 3], [0.0; 3]);
        let cycles = vec![
            cycle(
                1,
                vec![
                    region(1, 1, "kidney_left", 40.0, 3e12),
                    region(1, 2, "lesion 1", 80.0, 1e12),
                ],
            ),
            cycle(
                2,
                vec![
                    region(2, 1, "kidney_left", 60.0, 1e12),
                    region(2, 2, "lesion 1", 80.0, 1e12),
                ],
            ),
        ];
        let fit = StudyFit {
            tia: Volume::filled(grid.clone(), 0.0),
            tia_sigma: Volume::filled(grid.clone(), 0.0),
            cycle_tia: Vec::new(),
            regions: cycles.iter().flat_map(|c| c.regions.clone()).collect(),
            cycles,
            reference_ct: None,
            notes: Vec::new(),
            labels: Some((
                Volume {
                    grid: grid.clone(),
                    data: vec![1, 2],
                },
                [(1, "kidney_left".to_string()), (2, "lesion 1".to_string())]
                    .into_iter()
                    .collect(),
            )),
        };
        let regions = vec![
            LabelledRegion {
                label: 1,
                name: "kidney_left".into(),
                voxels: vec![0],
            },
            LabelledRegion {
                label: 2,
                name: "lesion 1".into(),
                voxels: vec![1],
            },
        ];
        let (tissues, notes) = tissues_from_region_names(&regions);
        assert_eq!(notes.len(), 2);
        let dose = [20.0f32, 40.0];
        let bed = study_bed(&StudyBedInput {
            grid: &grid,
            dose: StudyDose::AllCycles {
                dose_gy: &dose,
                sigma_gy: None,
            },
            regions: &regions,
            fit: &fit,
            tissues: &tissues,
            voxel_shapes: &[],
        })
        .unwrap();
        let kidney = |d: f64, t: f64| d + 2.8 / (2.8 + t) * d * d / 2.6;
        let tumour = |d: f64, t: f64| d + 1.5 / (1.5 + t) * d * d / 10.0;
        let s = &bed.summary;
        assert_eq!(s.cycles.len(), 2);
        let k1 = s.cycles[0].regions[0].bed_mean_gy;
        assert!((k1 - kidney(15.0, 40.0)).abs() < 1e-9, "{k1}");
        let k = s.regions[0].bed_mean_gy;
        assert!((k - kidney(15.0, 40.0) - kidney(5.0, 60.0)).abs() < 1e-9);
        let t = s.regions[1].bed_mean_gy;
        assert!((t - 2.0 * tumour(20.0, 80.0)).abs() < 1e-9);
        // Maps: cumulative = Σ per cycle; EQD2 with each region's α/β.
        let r = &bed.result;
        let sum0 = r.cycle_bed_gy[0].1[0] + r.cycle_bed_gy[1].1[0];
        assert!((sum0 - r.bed_gy[0]).abs() < 1e-4);
        assert!((r.eqd2_gy[1] as f64 - t / 1.2).abs() < 1e-4);
        // Written files.
        let dir = tempfile::tempdir().unwrap();
        write_study_bed(dir.path(), &grid, &bed, None).unwrap();
        for f in STUDY_BED_FILES
            .iter()
            .copied()
            .chain(["bed_cycle1.nii.gz", "eqd2_cycle2.nii.gz"])
        {
            assert!(dir.path().join(f).is_file(), "{f}");
        }
    }
}
