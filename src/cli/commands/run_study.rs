//! `voxdose run --study STUDY`: kinetics fit → time-integrated activity map → transport → dose.
//!
//! The fit writes its own outputs (`tia.nii.gz`, region tables, plots) into `--out`; the
//! transport then takes the TIA map (Bq·s per voxel) as its source and the absolute dose in Gy
//! is dose per decay × ΣTIA. The transport grid is the TIA grid. Its medium comes from a CT
//! when there is one: the study's `reference_ct` (the frame the TIA map lives in) or `--ct`
//! (taken in the same patient coordinates; when the study also names a reference CT, the two
//! must be the same file or folder). HU are sampled trilinearly onto the TIA grid (−1000
//! outside the CT) and converted to material and density as in `voxdose run --ct --spect`
//! (Schneider 2000, [`crate::cli::commands::run_patient::voxel_model`]). Without a CT the
//! medium is ICRP soft tissue at 1.00 g/cm³ (stated in the log and in `summary.json`).

use crate::cli::args::RunArgs;
use crate::cli::commands::run::{settings_from_args, PHANTOM_OUTPUTS};
use crate::cli::commands::run_patient::voxel_model;
use crate::geometry::{Region, VoxelModel};
use crate::io::atomic::prepare_output_dir;
use crate::io::resample::{bounding_box_mm, box_text, restrict_to_overlap};
use crate::io::InputError;
use crate::kinetics::study::Study;
use crate::source::SourceSpec;
use crate::transport::simulate;
use crate::{Error, Result};
use std::path::Path;

/// Runs the study chain.
pub fn run_study(args: &RunArgs, study_path: &Path) -> Result<()> {
    if args.spect.is_some() {
        return Err(Error::invalid(
            "--study",
            "give either --study (the study file lists the scans) or --spect, not both",
        ));
    }
    let study = Study::load(study_path)?;
    if let (Some(cli_ct), Some(ref_ct)) = (&args.ct, &study.reference_ct) {
        let same = match (cli_ct.canonicalize(), ref_ct.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => cli_ct == ref_ct,
        };
        if !same {
            return Err(Error::invalid(
                "--ct",
                format!(
                    "{} differs from the study's reference_ct {}: the TIA map lives in the reference CT's frame, so give that CT (or drop --ct)",
                    cli_ct.display(),
                    ref_ct.display()
                ),
            ));
        }
    }
    let nuclide = study
        .cycles
        .first()
        .map(|c| c.nuclide.clone())
        .unwrap_or_else(|| "Lu-177".into());
    let progress = !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let settings = settings_from_args(&args.transport, &nuclide, progress)?;
    if args.transport.nuclide.is_some() && settings.nuclide != nuclide {
        eprintln!(
            "voxdose: warning: --nuclide {} overrides the study's {nuclide}",
            settings.nuclide
        );
    }
    prepare_output_dir(&args.out, PHANTOM_OUTPUTS, args.force)?;
    let fit = crate::kinetics::fit_study(study_path, &args.out, args.force)?;
    for note in &fit.notes {
        eprintln!("voxdose: {note}");
    }
    let grid = fit.tia.grid.clone();
    let total_tia: f64 = fit.tia.data.iter().map(|&v| v as f64).sum();
    #[allow(
        clippy::neg_cmp_op_on_partial_ord,
        reason = "a NaN total must fail the check too"
    )]
    if !(total_tia > 0.0) {
        return Err(Error::invalid(
            "--study",
            "the fitted time-integrated activity is zero everywhere",
        ));
    }
    let (mut model, medium) = match (&fit.reference_ct, &args.ct) {
        (Some(hu), _) => (
            voxel_model(&grid, hu),
            format!(
                "reference CT {} (HU → material and density, Schneider 2000)",
                study
                    .reference_ct
                    .as_deref()
                    .unwrap_or(Path::new("?"))
                    .display()
            ),
        ),
        (None, Some(ct_path)) => {
            let ct = crate::io::ct::read_ct(ct_path)?;
            for w in &ct.warnings {
                eprintln!("voxdose: warning: CT: {w}");
            }
            if restrict_to_overlap(&ct.hu.grid, &grid).is_none() {
                return Err(InputError::NoOverlap {
                    what: "CT and TIA map".into(),
                    a: ct_path.to_path_buf(),
                    a_box: box_text(bounding_box_mm(&ct.hu.grid)),
                    b: study_path.to_path_buf(),
                    b_box: box_text(bounding_box_mm(&grid)),
                }
                .into());
            }
            (
                voxel_model(&grid, &ct.hu),
                format!(
                    "CT {} in the first scan's patient coordinates (HU → material and density, Schneider 2000)",
                    ct_path.display()
                ),
            )
        }
        (None, None) => (
            VoxelModel::homogeneous(grid.clone(), "soft-tissue", 1.0),
            "ICRP soft tissue at 1.00 g/cm³ (no CT given)".to_string(),
        ),
    };
    model.regions = label_regions(&study, &grid)?;
    eprintln!(
        "voxdose: study {}: ΣTIA = {total_tia:.4e} Bq·s; medium: {medium}",
        study_path.display()
    );
    let mut result = simulate(
        &model,
        &SourceSpec::Voxels {
            weights: fit.tia.data.clone(),
        },
        &settings,
    )?;
    let quantity = crate::cli::commands::run::apply_dose_to(
        &mut result,
        &model,
        args.transport.dose_to,
        &settings,
    )?;
    let description = format!(
        "study {} (medium: {medium}; TIA from the kinetics fit)",
        study_path.display()
    );
    crate::cli::commands::run::write_dose_outputs(
        &args.out,
        "study",
        &description,
        &grid,
        &settings,
        &result,
        Some(total_tia),
        quantity,
    )
}

/// Named regions from the study's label map, resampled by nearest voxel centre onto `grid`.
fn label_regions(study: &Study, grid: &crate::geometry::Grid) -> Result<Vec<Region>> {
    let Some(path) = &study.labels else {
        return Ok(Vec::new());
    };
    let img = crate::io::nifti::read_image(path)?;
    let lab = &img.volume;
    let mut by_label: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
    for v in 0..grid.n_voxels() {
        let [i, j, k] = grid.ijk(v);
        let p = grid.voxel_to_patient([i as f64, j as f64, k as f64]);
        let q = lab.grid.patient_to_voxel(p).map(|c| c.round());
        if q.iter()
            .zip(lab.grid.dims)
            .all(|(&c, n)| c >= 0.0 && c < n as f64)
        {
            let value = lab.data[lab.grid.index(q[0] as usize, q[1] as usize, q[2] as usize)];
            if value.is_finite() && value > 0.0 {
                by_label
                    .entry(value.round() as u32)
                    .or_default()
                    .push(v as u32);
            }
        }
    }
    Ok(by_label
        .into_iter()
        .map(|(l, voxels)| Region {
            name: study
                .region_names
                .get(&l)
                .cloned()
                .unwrap_or_else(|| format!("label {l}")),
            voxels,
        })
        .collect())
}
