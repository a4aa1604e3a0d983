//! The study problem (`voxdose run --study STUDY`): kinetics fit → time-integrated activity
//! map → voxel source; the dose in Gy is dose per decay × ΣTIA.
//!
//! The fit writes its own outputs (`tia.nii.gz`, region tables, plots) into the run's output
//! folder. The transport grid is the TIA grid. Its medium comes from a CT when there is one:
//! the study's `reference_ct` (the frame the TIA map lives in) or `ct` (taken in the same
//! patient coordinates; when the study also names a reference CT, the two must be the same
//! file or folder). HU are sampled trilinearly onto the TIA grid (−1000 outside the CT) and
//! converted to material and density as for a patient run (Schneider 2000,
//! [`super::patient::voxel_model`]). Without a CT the medium is ICRP soft tissue at
//! 1.00 g/cm³ (stated in the log and in `summary.json`). The regions are the fit's own (its
//! label map on the TIA grid, with the names of `regions.json`).

use super::config::{StudyInput, TransportConfig};
use super::patient::voxel_model;
use super::problem::{Problem, ProblemKind};
use super::Clock;
use crate::geometry::resample::{bounding_box_mm, box_text, restrict_to_overlap};
use crate::geometry::{Grid, Region, VoxelModel};
use crate::io::InputError;
use crate::kinetics::study::Study;
use crate::kinetics::StudyFit;
use crate::source::SourceSpec;
use crate::transport::Observer;
use crate::{Error, Result};
use std::path::Path;

/// What a study run's outputs need besides the model: the fit.
#[derive(Clone, Debug)]
pub struct StudyContext {
    /// The kinetics fit (its outputs are already written).
    pub fit: StudyFit,
}

/// Builds the study problem, fitting the kinetics into `out` (see the module doc).
pub fn build(
    input: &StudyInput,
    transport: &TransportConfig,
    out: &Path,
    force: bool,
    clock: &mut Clock,
    observer: &mut dyn Observer,
) -> Result<Problem> {
    let study = Study::load(&input.study)?;
    check_ct_is_the_reference(input, &study)?;
    let nuclide = study
        .cycles
        .first()
        .map(|c| c.nuclide.clone())
        .unwrap_or_else(|| "Lu-177".into());
    let settings = transport.settings(transport.nuclide(&nuclide)?)?;
    if transport.nuclide.is_some() && settings.nuclide.name != nuclide {
        observer.warning(&format!(
            "--nuclide {} overrides the study's {nuclide}",
            settings.nuclide.name
        ));
    }
    let fit =
        crate::kinetics::fit_study_with(&input.study, out, force, input.partial_volume.as_ref())?;
    for note in &fit.notes {
        observer.note(note);
    }
    clock.lap("fit", observer);
    let total_tia = checked_total(&fit)?;
    let (mut model, medium) = medium(input, &study, &fit, observer)?;
    model.regions = fit_regions(&fit);
    observer.note(&format!(
        "study {}: ΣTIA = {total_tia:.4e} Bq·s; medium: {medium}",
        input.study.display()
    ));
    clock.lap("model", observer);
    Ok(Problem {
        name: "study".into(),
        description: format!(
            "study {} (medium: {medium}; TIA from the kinetics fit)",
            input.study.display()
        ),
        model,
        source: SourceSpec::Voxels {
            weights: fit.tia.data.clone(),
        },
        settings,
        tia_bq_s: Some(total_tia),
        dose_to: Default::default(),
        kind: ProblemKind::Study(Box::new(StudyContext { fit })),
    })
}

/// A `ct` next to a study's `reference_ct` must be that CT: the TIA map lives in its frame.
fn check_ct_is_the_reference(input: &StudyInput, study: &Study) -> Result<()> {
    let (Some(cli_ct), Some(ref_ct)) = (&input.ct, &study.reference_ct) else {
        return Ok(());
    };
    let same = match (cli_ct.canonicalize(), ref_ct.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => cli_ct == ref_ct,
    };
    if same {
        return Ok(());
    }
    Err(Error::invalid(
        "--ct",
        format!(
            "{} differs from the study's reference_ct {}: the TIA map lives in the reference CT's frame, so give that CT (or drop --ct)",
            cli_ct.display(),
            ref_ct.display()
        ),
    ))
}

/// ΣTIA of the fit, which must be positive.
fn checked_total(fit: &StudyFit) -> Result<f64> {
    let total: f64 = fit.tia.data.iter().map(|&v| v as f64).sum();
    #[allow(
        clippy::neg_cmp_op_on_partial_ord,
        reason = "a NaN total must fail the check too"
    )]
    if !(total > 0.0) {
        return Err(Error::invalid(
            "--study",
            "the fitted time-integrated activity is zero everywhere",
        ));
    }
    Ok(total)
}

/// The transport medium on the TIA grid and its description.
fn medium(
    input: &StudyInput,
    study: &Study,
    fit: &StudyFit,
    observer: &mut dyn Observer,
) -> Result<(VoxelModel, String)> {
    let grid = &fit.tia.grid;
    if let Some(hu) = &fit.reference_ct {
        let path = study.reference_ct.as_deref().unwrap_or(Path::new("?"));
        return Ok((
            voxel_model(grid, hu),
            format!(
                "reference CT {} (HU → material and density, Schneider 2000)",
                path.display()
            ),
        ));
    }
    let Some(ct_path) = &input.ct else {
        return Ok((
            VoxelModel::homogeneous(grid.clone(), "soft-tissue", 1.0),
            "ICRP soft tissue at 1.00 g/cm³ (no CT given)".to_string(),
        ));
    };
    let ct = crate::io::ct::read_ct(ct_path)?;
    for w in &ct.warnings {
        observer.warning(&format!("CT: {w}"));
    }
    check_overlap(ct_path, &ct.hu.grid, &input.study, grid)?;
    Ok((
        voxel_model(grid, &ct.hu),
        format!(
            "CT {} in the first scan's patient coordinates (HU → material and density, Schneider 2000)",
            ct_path.display()
        ),
    ))
}

/// Refuses a CT that does not overlap the TIA map.
fn check_overlap(ct_path: &Path, ct: &Grid, study_path: &Path, grid: &Grid) -> Result<()> {
    if restrict_to_overlap(ct, grid).is_some() {
        return Ok(());
    }
    Err(InputError::NoOverlap {
        what: "CT and TIA map".into(),
        a: ct_path.to_path_buf(),
        a_box: box_text(bounding_box_mm(ct)),
        b: study_path.to_path_buf(),
        b_box: box_text(bounding_box_mm(grid)),
    }
    .into())
}

/// The fit's regions on the TIA grid, in label order, with the fit's names (the regions the
/// study's BED is computed for).
fn fit_regions(fit: &StudyFit) -> Vec<Region> {
    crate::radiobiology::study::fit_regions(fit)
        .into_iter()
        .map(|r| Region {
            name: r.name,
            voxels: r.voxels,
        })
        .collect()
}
