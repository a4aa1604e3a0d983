//! `voxdose run`: a built-in phantom, a patient (`--ct`/`--spect`) or a study (`--study`).
//!
//! Phantom runs write `dose.nii.gz` (Gy per decay, or Gy with `--tia-bq-s`),
//! `uncertainty.nii.gz` (relative σ) and `summary.json` into `--out`.

use crate::cli::args::{RunArgs, TransportArgs};
use crate::geometry::Volume;
use crate::io::atomic::prepare_output_dir;
use crate::physics::nuclide::Nuclide;
use crate::report::summary::{write_summary, RunSummary};
use crate::transport::{simulate, StopRule, TransportSettings};
use crate::{Error, Result};

/// The files a phantom run writes.
pub const PHANTOM_OUTPUTS: &[&str] = &["dose.nii.gz", "uncertainty.nii.gz", "summary.json"];

/// Validates the transport options into settings (once, before any work).
pub fn settings_from_args(
    a: &TransportArgs,
    default_nuclide: &str,
    progress: bool,
) -> Result<TransportSettings> {
    let nuclide = Nuclide::load(a.nuclide.as_deref().unwrap_or(default_nuclide))?;
    let count = |opt: &str, v: f64| -> Result<u64> {
        if !v.is_finite() || !(1.0..=1e13).contains(&v) {
            return Err(Error::invalid(
                opt,
                format!("{v}; give a number of decays between 1 and 1e13 (e.g. 1e6)"),
            ));
        }
        Ok(v.round() as u64)
    };
    let stop = match (a.decays, a.target_uncertainty) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "--decays",
                "give either --decays or --target-uncertainty, not both",
            ))
        }
        (_, Some(pct)) => {
            if !(pct > 0.0 && pct < 100.0) {
                return Err(Error::invalid(
                    "--target-uncertainty",
                    format!("{pct} %; give a percentage between 0 and 100, e.g. 2"),
                ));
            }
            StopRule::TargetUncertainty {
                relative: pct / 100.0,
                threshold: 0.5,
                max_decays: count("--max-decays", a.max_decays)?,
            }
        }
        (d, None) => StopRule::Decays(count("--decays", d.unwrap_or(1e6))?),
    };
    if a.batches < 2 || a.batches > 10_000 {
        return Err(Error::invalid(
            "--batches",
            format!(
                "{}; the per-voxel uncertainty needs 2 to 10000 batches",
                a.batches
            ),
        ));
    }
    if let StopRule::Decays(n) = stop {
        if n < a.batches as u64 {
            return Err(Error::invalid(
                "--decays",
                format!(
                    "{n} decays for {} batches; give at least one decay per batch",
                    a.batches
                ),
            ));
        }
    }
    for (opt, v) in [
        ("--electron-cutoff-kev", a.electron_cutoff_kev),
        ("--photon-cutoff-kev", a.photon_cutoff_kev),
    ] {
        if !(1.0..=1000.0).contains(&v) {
            return Err(Error::invalid(
                opt,
                format!("{v} keV; cutoffs must lie between 1 and 1000 keV (default 10)"),
            ));
        }
    }
    if let Some(t) = a.threads {
        // Ignore the error of a second initialisation (tests run several commands per process).
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(t.max(1))
            .build_global();
    }
    Ok(TransportSettings {
        nuclide: nuclide.name,
        stop,
        seed: a.seed,
        batches: a.batches,
        electron_cutoff_kev: a.electron_cutoff_kev as f32,
        photon_cutoff_kev: a.photon_cutoff_kev as f32,
        device: a.device,
        progress,
        emissions: Default::default(),
        decays_per_block: None,
    })
}

/// Converts a result to dose to water when asked (in place) and names the quantity reported.
pub fn apply_dose_to(
    result: &mut crate::transport::TransportResult,
    model: &crate::geometry::VoxelModel,
    dose_to: crate::cli::args::DoseTo,
    settings: &TransportSettings,
) -> Result<&'static str> {
    if dose_to == crate::cli::args::DoseTo::Medium {
        return Ok("dose to medium");
    }
    use crate::tally::dose_to_water::{mean_electron_energy_kev, water_to_medium_ratios};
    let cut = settings.electron_cutoff_kev as f64;
    let e0 = mean_electron_energy_kev(&Nuclide::load(&settings.nuclide)?, cut);
    let ratio = water_to_medium_ratios(&model.materials, e0, cut);
    let r = |v: usize| ratio[model.material[v] as usize];
    for (region, voxels) in result.regions.iter_mut().zip(&model.regions) {
        // Energy-weighted mean ratio over the region: exact for the region's mean dose.
        let (mut num, mut den) = (0.0, 0.0);
        for v in voxels.voxels.iter().map(|&v| v as usize) {
            let e = result.dose_gy_per_decay[v] * model.voxel_mass_kg(v);
            num += e * r(v);
            den += e;
        }
        if den > 0.0 {
            region.mean_gy_per_decay *= num / den;
        }
    }
    for (v, d) in result.dose_gy_per_decay.iter_mut().enumerate() {
        *d *= r(v);
    }
    eprintln!("voxdose: dose to water: stopping-power ratios water/medium {ratio:.4?} (mean electron energy {e0:.1} keV)");
    Ok("dose to water (Bragg–Gray, CSDA-weighted stopping-power ratio)")
}

/// Runs `voxdose run`.
pub fn run(args: RunArgs) -> Result<()> {
    if let Some(study) = &args.study {
        return crate::cli::commands::run_study::run_study(&args, study);
    }
    if args.ct.is_some() || args.spect.is_some() {
        return crate::cli::commands::run_patient::run_patient(&args);
    }
    run_phantom(&args)
}

/// A built-in phantom run.
pub fn run_phantom(args: &RunArgs) -> Result<()> {
    let progress = !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let settings = settings_from_args(&args.transport, "Lu-177", progress)?;
    let phantom = crate::phantoms::build(&args.phantom)?;
    if let Some(t) = args.tia_bq_s {
        if !(t.is_finite() && t > 0.0) {
            return Err(Error::invalid(
                "--tia-bq-s",
                format!("{t}; give the total number of decays (Bq·s), e.g. 7.4e9*3600*24*9.6"),
            ));
        }
    }
    prepare_output_dir(&args.out, PHANTOM_OUTPUTS, args.force)?;
    eprintln!("voxdose: {} — {}", phantom.name, phantom.description);
    let mut result = simulate(&phantom.model, &phantom.source, &settings)?;
    let quantity = apply_dose_to(
        &mut result,
        &phantom.model,
        args.transport.dose_to,
        &settings,
    )?;
    write_dose_outputs(
        &args.out,
        &phantom.name,
        &phantom.description,
        &phantom.model.grid,
        &settings,
        &result,
        args.tia_bq_s,
        quantity,
    )
}

/// Writes `dose.nii.gz` (Gy per decay, or Gy when `tia_bq_s` is given), `uncertainty.nii.gz`
/// and `summary.json`, and prints the brief summary.
#[expect(
    clippy::too_many_arguments,
    reason = "one call per run kind; a struct would only rename them"
)]
pub fn write_dose_outputs(
    out: &std::path::Path,
    name: &str,
    description: &str,
    grid: &crate::geometry::Grid,
    settings: &TransportSettings,
    result: &crate::transport::TransportResult,
    tia_bq_s: Option<f64>,
    quantity: &'static str,
) -> Result<()> {
    let scale = tia_bq_s.unwrap_or(1.0);
    let dose = Volume {
        grid: grid.clone(),
        data: result
            .dose_gy_per_decay
            .iter()
            .map(|d| (d * scale) as f32)
            .collect(),
    };
    let sigma = Volume {
        grid: grid.clone(),
        data: result.rel_uncertainty.clone(),
    };
    let unit = if tia_bq_s.is_some() {
        "Gy"
    } else {
        "Gy per decay"
    };
    crate::io::nifti::write_volume_f32(
        &out.join("dose.nii.gz"),
        &dose,
        &format!("voxdose absorbed {quantity}, {unit}"),
    )?;
    crate::io::nifti::write_volume_f32(
        &out.join("uncertainty.nii.gz"),
        &sigma,
        "voxdose relative standard uncertainty of dose",
    )?;
    let mut summary = RunSummary::new(name, description, settings, result, tia_bq_s);
    summary.dose_quantity = quantity;
    write_summary(&out.join("summary.json"), &summary)?;
    summary.print_brief();
    Ok(())
}
