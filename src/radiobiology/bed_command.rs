//! `voxdose bed`: an absorbed-dose map (NIfTI in Gy, or DICOM RT Dose) and the kinetics
//! (an effective half-life, or a `voxdose fit` folder) → BED and EQD2 maps, region
//! summaries, BED-volume histograms and an RT Dose of the BED.
//!
//! What the dose file must be: a voxdose `dose.nii.gz` in Gy (its NIfTI description says
//! "voxdose absorbed …, Gy"; one in "Gy per decay" is refused, since BED is not linear in
//! dose), a NIfTI from another program (taken as Gy, and the outputs say so), or an RT Dose
//! with DoseUnits GY and DoseType PHYSICAL. Negative voxels (interpolation noise in foreign
//! maps) are set to 0 and counted.
//!
//! Dose σ: `--dose-uncertainty FILE` (a voxdose `uncertainty.nii.gz`, relative; or an RT Dose
//! of DoseType ERROR, Gy), else the `uncertainty.nii.gz` / `rtdose_sigma.dcm` that voxdose
//! wrote beside the dose, when its grid matches; else none (σ from the kinetics only).

use super::fit_input::read_fit_folder;
use super::maps::{compute, DoseMaps};
use super::output::{
    cycle_summaries, write_bed_dvh, write_bed_rtdose, write_json, write_map, CycleSummary,
    Formulas, BED_OUTPUT_FILES, FORMULAS, UNCERTAINTY_NOTE,
};
use super::plan::{
    bed_regions, label_regions, parse_tissue_map, DoseLayout, KineticsPlan, LabelledRegion,
    TissueAssignment,
};
use super::tissue::Tissue;
use super::voxel_shapes::load_voxel_shapes;
use super::RadiobiologyError;
use crate::geometry::{Grid, Volume};
use crate::io::series::SeriesIdentity;
use crate::io::InputError;
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Everything `voxdose bed` needs, as typed on the command line.
#[derive(Clone, Debug, Default)]
pub struct BedConfig {
    /// The dose: NIfTI in Gy or an RT Dose file.
    pub dose: PathBuf,
    /// A 1-σ map of the dose (see the module doc), optional.
    pub dose_uncertainty: Option<PathBuf>,
    /// Output folder.
    pub out: PathBuf,
    /// Replace existing outputs.
    pub force: bool,
    /// Mono-exponential kinetics with this effective half-life, h (also the fallback for
    /// regions a fit does not cover).
    pub effective_half_life_h: Option<f64>,
    /// A `voxdose fit` output folder.
    pub fit: Option<PathBuf>,
    /// The dose is of this cycle only (with `fit`).
    pub cycle: Option<usize>,
    /// Tissue name from the shipped table.
    pub tissue: Option<String>,
    /// Custom α/β, Gy.
    pub alpha_beta_gy: Option<f64>,
    /// Custom repair half-time, h.
    pub repair_half_time_h: Option<f64>,
    /// α, 1/Gy, for EUBED (overrides the table).
    pub alpha_per_gy: Option<f64>,
    /// A label map (NIfTI).
    pub labels: Option<PathBuf>,
    /// `LABEL=TISSUE,...`.
    pub tissue_map: Option<String>,
}

/// The dose as loaded, in Gy.
#[derive(Clone, Debug)]
pub struct LoadedDose {
    /// Absorbed dose, Gy.
    pub dose: Volume<f32>,
    /// The file's format: `nifti` or `rtdose`.
    pub format: &'static str,
    /// Why the values are taken as Gy.
    pub unit_source: String,
    /// Patient and frame (RT Dose input).
    pub identity: Option<SeriesIdentity>,
    /// Negative voxels set to 0.
    pub negative_voxels_clipped: usize,
}

/// The dose block of `bed_summary.json`.
#[derive(Clone, Debug, Serialize)]
pub struct DoseRecord {
    /// The dose file.
    pub path: PathBuf,
    /// `nifti` or `rtdose`.
    pub format: &'static str,
    /// Always Gy.
    pub unit: &'static str,
    /// Why the values are taken as Gy (an assumption for foreign NIfTI files).
    pub unit_source: String,
    /// Where the dose σ came from, if anywhere.
    pub sigma_source: Option<String>,
    /// Negative voxels set to 0.
    pub negative_voxels_clipped: usize,
    /// Dims of the grid.
    pub dims: [usize; 3],
    /// Voxel size, mm.
    pub spacing_mm: [f64; 3],
}

/// `bed_summary.json`.
#[derive(Clone, Debug, Serialize)]
pub struct BedSummary {
    /// voxdose version.
    pub voxdose_version: &'static str,
    /// The dose used.
    pub dose: DoseRecord,
    /// Where kinetics came from, in words.
    pub kinetics_source: String,
    /// Formulas.
    pub formulas: Formulas,
    /// How σ is obtained.
    pub uncertainty_note: &'static str,
    /// Notes for the reader (assumptions, regions left out).
    pub notes: Vec<String>,
    /// Voxels with dose > 0 outside every region (BED 0 in the maps).
    pub voxels_without_bed: usize,
    /// Regions, all cycles of the dose together.
    pub regions: Vec<super::maps::RegionBed>,
    /// Per cycle, when the dose holds several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cycles: Vec<CycleSummary>,
}

/// Runs `voxdose bed`: checks the options, computes, writes the outputs into `cfg.out`, and
/// returns the summary written.
pub fn run(cfg: &BedConfig) -> Result<BedSummary> {
    let tissues = tissue_assignment(cfg)?;
    check_kinetics_options(cfg)?;
    let folder = crate::io::output_folder::OutputFolder::begin(
        &cfg.out,
        crate::io::output_folder::OutputSet {
            files: &BED_OUTPUT_FILES,
            patterns: crate::run::outputs::BED_PATTERNS,
        },
        cfg.force,
    )?;
    let loaded = load_dose(&cfg.dose)?;
    let grid = loaded.dose.grid.clone();
    let (sigma, sigma_source) = load_sigma(cfg, &loaded)?;
    let fit = match &cfg.fit {
        Some(dir) => read_fit_folder(dir)?,
        None => Vec::new(),
    };
    let fit_names: BTreeMap<u32, String> = fit.iter().map(|k| (k.label, k.name.clone())).collect();
    let regions = match &cfg.labels {
        Some(path) => label_regions(path, &grid, &fit_names)?,
        None => vec![all_region(&loaded.dose.data)],
    };
    let wanted_cycles = cfg.cycle.map(|c| vec![c]);
    let (voxel_shapes, voxel_notes) = match &cfg.fit {
        Some(dir) => load_voxel_shapes(dir, &grid, wanted_cycles.as_deref())?,
        None => (Vec::new(), Vec::new()),
    };
    check_fit_has_kinetics(cfg, &fit, &voxel_shapes)?;
    let layout = layout_of(cfg, &fit, &voxel_shapes)?;
    let plan = KineticsPlan {
        fallback_effective_half_life_h: cfg.effective_half_life_h,
        fit,
        voxel_cycles: voxel_shapes.iter().map(|s| s.cycle).collect(),
    };
    check_fit_covers_all(cfg, &plan)?;
    let (bed_regions, mut notes) = bed_regions(&regions, &tissues, &plan, &layout)?;
    if bed_regions.is_empty() {
        return Err(Error::invalid(
            "--tissue-map/--fit",
            format!(
                "no region has both a tissue and kinetics: {}",
                notes.join("; ")
            ),
        ));
    }
    let maps = DoseMaps {
        dose_gy: vec![&loaded.dose.data],
        sigma_gy: vec![sigma.as_deref()],
        voxel_shapes: &voxel_shapes,
    };
    let result = compute(&maps, &bed_regions, grid.voxel_volume_mm3() * 1e-3, false);
    notes.splice(0..0, dose_notes(&loaded));
    if cfg.fit.is_some() {
        notes.extend(voxel_notes);
        notes.extend(voxel_kinetics_notes(
            &result.regions,
            !voxel_shapes.is_empty(),
        ));
    }
    if sigma.is_none()
        && bed_regions
            .iter()
            .all(|r| r.cycles.iter().all(|c| c.g_factor_sigma == 0.0))
    {
        notes.push("no dose σ map and no kinetics covariance: bed_mean_gy_sigma is 0 because nothing is known about the uncertainty, not because there is none".into());
    }
    if result.voxels_without_bed > 0 {
        notes.push(format!(
            "{} voxel(s) with dose > 0 lie in no region with tissue and kinetics: BED and EQD2 are 0 there",
            result.voxels_without_bed
        ));
    }
    let summary = BedSummary {
        voxdose_version: env!("CARGO_PKG_VERSION"),
        dose: DoseRecord {
            path: cfg.dose.clone(),
            format: loaded.format,
            unit: "Gy",
            unit_source: loaded.unit_source.clone(),
            sigma_source,
            negative_voxels_clipped: loaded.negative_voxels_clipped,
            dims: grid.dims,
            spacing_mm: grid.spacing_mm,
        },
        kinetics_source: kinetics_source(cfg, &layout),
        formulas: FORMULAS,
        uncertainty_note: UNCERTAINTY_NOTE,
        notes,
        voxels_without_bed: result.voxels_without_bed,
        cycles: cycle_summaries(&result),
        regions: result.regions.clone(),
    };
    let mut notes = folder.notes().to_vec();
    let staged = folder.path().to_path_buf();
    write_outputs(&staged, &grid, &result, &bed_regions, &loaded, &summary)?;
    folder.commit()?;
    notes.extend(summary.notes);
    Ok(BedSummary { notes, ..summary })
}

fn write_outputs(
    out: &Path,
    grid: &Grid,
    result: &super::maps::BedResult,
    regions: &[super::maps::BedRegion],
    loaded: &LoadedDose,
    summary: &BedSummary,
) -> Result<()> {
    write_map(&out.join("bed.nii.gz"), grid, &result.bed_gy, "BED")?;
    write_map(&out.join("eqd2.nii.gz"), grid, &result.eqd2_gy, "EQD2")?;
    write_bed_dvh(&out.join("bed_dvh.csv"), &result.bed_gy, regions)?;
    let identity = loaded.identity.clone().unwrap_or_default();
    write_bed_rtdose(&out.join("bed_rtdose.dcm"), grid, &result.bed_gy, &identity)?;
    write_json(&out.join("bed_summary.json"), summary)
}

/// How many voxels of each region and cycle took their own voxel kinetics and how many the
/// region's model.
pub fn voxel_kinetics_notes(
    regions: &[super::maps::RegionBed],
    have_voxel_kinetics: bool,
) -> Vec<String> {
    if !have_voxel_kinetics {
        return vec!["the fit folder holds no voxel kinetics (voxel_kinetics_cycle{n}.json: a single-scan cycle, or a fit from before voxdose stored them): every voxel takes its region's model".into()];
    }
    regions
        .iter()
        .flat_map(|r| {
            r.kinetics.iter().map(move |k| {
                format!(
                    "region '{}', cycle {}: {} voxel(s) with their own voxel kinetics, {} with the region's model",
                    r.name, k.cycle, k.voxels_own_kinetics, k.voxels_region_kinetics
                )
            })
        })
        .collect()
}

fn dose_notes(d: &LoadedDose) -> Vec<String> {
    let mut notes = vec![format!("dose unit: {}", d.unit_source)];
    if d.negative_voxels_clipped > 0 {
        notes.push(format!(
            "{} negative dose voxel(s) set to 0",
            d.negative_voxels_clipped
        ));
    }
    if d.identity.is_none() {
        notes.push("bed_rtdose.dcm: the dose came from NIfTI, so the RT Dose carries no patient identity and new study / frame-of-reference UIDs".into());
    }
    notes
}

fn kinetics_source(cfg: &BedConfig, layout: &DoseLayout) -> String {
    let mut parts = Vec::new();
    if let Some(dir) = &cfg.fit {
        let cycles = match layout {
            DoseLayout::OneMapOneCycle(c) => format!("the dose is of cycle {c} only"),
            _ => "the dose holds every cycle of the fit, split per region by its TIA share".into(),
        };
        parts.push(format!(
            "the fit in {} ({cycles}): each voxel's own fitted curve where the fit stored one (voxel_kinetics_cycle{{n}}), else its region's model",
            dir.display()
        ));
    }
    if let Some(t) = cfg.effective_half_life_h {
        let role = if cfg.fit.is_some() {
            "for regions the fit does not cover"
        } else {
            "for every region"
        };
        parts.push(format!("mono-exponential with T_eff = {t} h {role}"));
    }
    parts.join("; ")
}

/// The single region `all`: every voxel with dose > 0.
fn all_region(dose_gy: &[f32]) -> LabelledRegion {
    LabelledRegion {
        label: 0,
        name: "all".into(),
        voxels: dose_gy
            .iter()
            .enumerate()
            .filter(|(_, &d)| d > 0.0)
            .map(|(v, _)| v as u32)
            .collect(),
    }
}

/// The tissue options → tissue per label and the default tissue.
pub fn tissue_assignment(cfg: &BedConfig) -> Result<TissueAssignment> {
    let custom =
        match (cfg.alpha_beta_gy, cfg.repair_half_time_h) {
            (Some(ab), Some(t)) => Some(Tissue::custom(ab, t, cfg.alpha_per_gy)),
            (None, None) => None,
            _ => return Err(Error::invalid(
                "--alpha-beta-gy/--repair-half-time-h",
                "give both (a custom tissue needs α/β and the repair half-time), or --tissue NAME",
            )),
        };
    let named = cfg.tissue.as_deref().map(Tissue::named).transpose()?;
    let default = match (named, custom) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "--tissue",
                "give --tissue NAME or --alpha-beta-gy with --repair-half-time-h, not both",
            ))
        }
        (a, b) => a.or(b),
    };
    let by_label = match &cfg.tissue_map {
        Some(text) => {
            if cfg.labels.is_none() {
                return Err(Error::invalid(
                    "--tissue-map",
                    "needs --labels FILE.nii.gz (the label map the numbers refer to)",
                ));
            }
            parse_tissue_map(text)?
        }
        None => BTreeMap::new(),
    };
    if default.is_none() && by_label.is_empty() {
        return Err(Error::invalid(
            "--tissue",
            "no tissue given: use --tissue NAME (kidney, red-marrow, salivary-glands, liver, spleen, lacrimal-glands, tumour), --alpha-beta-gy X --repair-half-time-h Y, or --labels with --tissue-map",
        ));
    }
    let mut a = TissueAssignment { by_label, default };
    if let Some(alpha) = cfg.alpha_per_gy {
        for t in a.by_label.values_mut().chain(a.default.iter_mut()) {
            t.alpha_per_gy = Some(alpha);
        }
    }
    for t in a.by_label.values().chain(a.default.iter()) {
        t.validate()?;
    }
    Ok(a)
}

fn check_kinetics_options(cfg: &BedConfig) -> Result<()> {
    if cfg.fit.is_none() && cfg.effective_half_life_h.is_none() {
        return Err(Error::invalid(
            "--effective-half-life-h/--fit",
            "BED needs the kinetics: give --effective-half-life-h T (h) or --fit DIR (a `voxdose fit` output folder)",
        ));
    }
    if let Some(t) = cfg.effective_half_life_h {
        if t.is_nan() || t < 0.0 {
            return Err(Error::invalid(
                "--effective-half-life-h",
                format!("{t} h; it must be ≥ 0 (0: acute, inf: no decrease)"),
            ));
        }
    }
    if cfg.cycle.is_some() && cfg.fit.is_none() {
        return Err(Error::invalid(
            "--cycle",
            "selects a cycle of --fit; give --fit DIR too",
        ));
    }
    Ok(())
}

/// A fit folder must give region kinetics, voxel kinetics, or both.
fn check_fit_has_kinetics(
    cfg: &BedConfig,
    fit: &[super::fit_input::RegionKinetics],
    voxel_shapes: &[super::voxel_shapes::VoxelShapes],
) -> Result<()> {
    match &cfg.fit {
        Some(dir) if fit.is_empty() && voxel_shapes.is_empty() => Err(RadiobiologyError::FitFolder {
            path: dir.clone(),
            reason: "regions.json lists no region (the study had no label map) and the folder holds no voxel kinetics (voxel_kinetics_cycle{n}.json); run `voxdose fit` with `labels` in the study file or with two or more scans per cycle, or use --effective-half-life-h alone".into(),
        }
        .into()),
        _ => Ok(()),
    }
}

fn layout_of(
    cfg: &BedConfig,
    fit: &[super::fit_input::RegionKinetics],
    voxel_shapes: &[super::voxel_shapes::VoxelShapes],
) -> Result<DoseLayout> {
    let Some(c) = cfg.cycle else {
        return Ok(DoseLayout::OneMapAllCycles);
    };
    if !fit.iter().any(|k| k.cycle == c) && !voxel_shapes.iter().any(|s| s.cycle == c) {
        let mut have: Vec<usize> = fit.iter().map(|k| k.cycle).collect();
        have.dedup();
        return Err(Error::invalid(
            "--cycle",
            format!("the fit has no cycle {c} (cycles: {have:?})"),
        ));
    }
    Ok(DoseLayout::OneMapOneCycle(c))
}

/// Without labels the fit must describe one region (it then stands for the whole map).
fn check_fit_covers_all(cfg: &BedConfig, plan: &KineticsPlan) -> Result<()> {
    if cfg.labels.is_some() || plan.fit.is_empty() {
        return Ok(());
    }
    let mut labels: Vec<u32> = plan.fit.iter().map(|k| k.label).collect();
    labels.sort_unstable();
    labels.dedup();
    if labels.len() > 1 {
        return Err(Error::invalid(
            "--fit",
            format!(
                "the fit has {} regions (labels {labels:?}); give --labels FILE.nii.gz (the study's label map) so each region's kinetics apply to its voxels",
                labels.len()
            ),
        ));
    }
    Ok(())
}

/// Loads the dose and decides whether it is in Gy (see the module doc).
pub fn load_dose(path: &Path) -> Result<LoadedDose> {
    let (mut dose, format, unit_source, identity) = if crate::io::ct::is_nifti(path) {
        let img = crate::io::nifti::read_image(path)?;
        let unit_source = nifti_unit(path, &img.description)?;
        (img.volume, "nifti", unit_source, None)
    } else {
        let rt = crate::io::rtdose_read::read_rt_dose(path)?;
        let unit_source = rtdose_unit(path, &rt)?;
        (rt.dose, "rtdose", unit_source, Some(rt.identity))
    };
    check_finite(path, &dose)?;
    let mut negative = 0;
    for d in dose.data.iter_mut().filter(|d| **d < 0.0) {
        *d = 0.0;
        negative += 1;
    }
    Ok(LoadedDose {
        dose,
        format,
        unit_source,
        identity,
        negative_voxels_clipped: negative,
    })
}

fn nifti_unit(path: &Path, description: &str) -> Result<String> {
    let d = description.trim();
    if !d.starts_with("voxdose") {
        return Ok(format!(
            "assumed Gy: the NIfTI description '{d}' is not voxdose's, so the file is taken as absorbed dose in Gy"
        ));
    }
    let lower = d.to_lowercase();
    if lower.contains("per decay") {
        return Err(RadiobiologyError::DoseNotInGy {
            path: path.to_path_buf(),
            unit: "Gy per decay".into(),
        }
        .into());
    }
    // "voxdose absorbed dose in Gy: …" (the unit first), or before that "voxdose absorbed
    // …, Gy" (the unit last).
    if lower.starts_with("voxdose absorbed dose in gy:")
        || (lower.starts_with("voxdose absorbed") && lower.ends_with(", gy"))
    {
        return Ok(format!("Gy, as the voxdose description says ('{d}')"));
    }
    if lower.starts_with("voxdose absorbed") {
        // NIfTI keeps 79 bytes of description: a long quantity name (dose to water) cuts
        // off the unit, so ask the run's summary.json beside the map.
        return unit_from_summary(path, d);
    }
    Err(RadiobiologyError::DoseNotInGy {
        path: path.to_path_buf(),
        unit: format!("something else: its description is '{d}', not a voxdose absorbed dose"),
    }
    .into())
}

fn unit_from_summary(path: &Path, description: &str) -> Result<String> {
    let summary = path.with_file_name("summary.json");
    let unit = std::fs::read(&summary)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["dose_unit"].as_str().map(str::to_string));
    match unit.as_deref() {
        Some("Gy") => Ok(format!(
            "Gy, as the run's {} says (the NIfTI description '{description}' is cut short)",
            summary.display()
        )),
        Some(other) => Err(RadiobiologyError::DoseNotInGy {
            path: path.to_path_buf(),
            unit: format!("{other} (from {})", summary.display()),
        }
        .into()),
        None => Err(RadiobiologyError::DoseNotInGy {
            path: path.to_path_buf(),
            unit: format!("an unknown unit: the description '{description}' is cut short before the unit and no summary.json beside it says; keep the run's summary.json next to dose.nii.gz"),
        }
        .into()),
    }
}

fn rtdose_unit(path: &Path, rt: &crate::io::rtdose_read::RtDose) -> Result<String> {
    if rt.units != "GY" {
        return Err(RadiobiologyError::DoseNotInGy {
            path: path.to_path_buf(),
            unit: format!("DoseUnits (3004,0002) '{}'", rt.units),
        }
        .into());
    }
    if rt.comment.to_lowercase().contains("per decay") {
        return Err(RadiobiologyError::DoseNotInGy {
            path: path.to_path_buf(),
            unit: format!("Gy per decay (DoseComment '{}')", rt.comment),
        }
        .into());
    }
    match rt.dose_type.as_str() {
        "PHYSICAL" | "" => Ok(format!(
            "Gy: RT Dose with DoseUnits GY, DoseType {}",
            if rt.dose_type.is_empty() {
                "(empty)"
            } else {
                "PHYSICAL"
            }
        )),
        other => Err(InputError::WrongModality {
            path: path.to_path_buf(),
            detail: format!(
                "(3004,0004) DoseType is {other}: {}; give the physical dose",
                if other == "ERROR" {
                    "it holds an uncertainty, not a dose"
                } else {
                    "it is already a biologically weighted dose"
                }
            ),
        }
        .into()),
    }
}

fn check_finite(path: &Path, v: &Volume<f32>) -> Result<()> {
    let bad: Vec<usize> = v
        .data
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.is_finite())
        .map(|(i, _)| i)
        .collect();
    if let Some(&first) = bad.first() {
        return Err(InputError::NonFinite {
            path: path.to_path_buf(),
            count: bad.len(),
            first_ijk: v.grid.ijk(first),
        }
        .into());
    }
    Ok(())
}

/// The dose σ in Gy per voxel and where it came from.
fn load_sigma(cfg: &BedConfig, d: &LoadedDose) -> Result<(Option<Vec<f32>>, Option<String>)> {
    let explicit = cfg.dose_uncertainty.is_some();
    let path = match &cfg.dose_uncertainty {
        Some(p) => p.clone(),
        None => {
            let dir = cfg.dose.parent().unwrap_or(Path::new("."));
            let beside = if d.format == "nifti" {
                dir.join("uncertainty.nii.gz")
            } else {
                dir.join("rtdose_sigma.dcm")
            };
            if !beside.is_file() {
                return Ok((None, None));
            }
            beside
        }
    };
    let sigma = match read_sigma(&path, &d.dose) {
        Ok(s) => s,
        Err(e) if !explicit => {
            return Ok((
                None,
                Some(format!(
                    "none: {} beside the dose was not used ({e})",
                    path.display()
                )),
            ))
        }
        Err(e) => return Err(e),
    };
    Ok((
        Some(sigma.0),
        Some(format!("{} ({})", path.display(), sigma.1)),
    ))
}

fn read_sigma(path: &Path, dose: &Volume<f32>) -> Result<(Vec<f32>, &'static str)> {
    let (vol, relative) = if crate::io::ct::is_nifti(path) {
        (crate::io::nifti::read_image(path)?.volume, true)
    } else {
        let rt = crate::io::rtdose_read::read_rt_dose(path)?;
        if rt.dose_type != "ERROR" || rt.units != "GY" {
            return Err(Error::invalid(
                "--dose-uncertainty",
                format!(
                    "{}: an RT Dose σ must have DoseType ERROR and DoseUnits GY (found {} {})",
                    path.display(),
                    rt.dose_type,
                    rt.units
                ),
            ));
        }
        (rt.dose, false)
    };
    if !same_grid(&vol.grid, &dose.grid) {
        return Err(Error::invalid(
            "--dose-uncertainty",
            format!("{} is on another grid than the dose ({:?} vs {:?} voxels); give the σ map of this dose", path.display(), vol.grid.dims, dose.grid.dims),
        ));
    }
    check_finite(path, &vol)?;
    let sigma = if relative {
        vol.data
            .iter()
            .zip(&dose.data)
            .map(|(r, d)| (r.abs() * d).max(0.0))
            .collect()
    } else {
        vol.data.iter().map(|s| s.abs()).collect()
    };
    Ok((
        sigma,
        if relative {
            "relative σ × dose"
        } else {
            "RT Dose ERROR, Gy"
        },
    ))
}

/// Grids equal up to the rounding of a file format (1e-3 mm).
pub(crate) fn same_grid(a: &Grid, b: &Grid) -> bool {
    let close = |x: f64, y: f64| (x - y).abs() < 1e-3;
    a.dims == b.dims
        && (0..3).all(|i| {
            close(a.spacing_mm[i], b.spacing_mm[i])
                && close(a.origin_mm[i], b.origin_mm[i])
                && (0..3).all(|j| (a.direction[i][j] - b.direction[i][j]).abs() < 1e-5)
        })
}
