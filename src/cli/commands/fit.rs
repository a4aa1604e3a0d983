//! `voxdose fit STUDY --out DIR [--pvc gtm|rc-curve|none --psf-fwhm-mm F --rc-curve RC]`:
//! kinetics of a study file → TIA maps, region tables, plots. All the work is in
//! [`crate::kinetics::fit_study_with`]; this turns the flags into its typed override and
//! prints a short summary.

use crate::cli::args::{FitArgs, PvcArgs};
use crate::io::output_folder::{OutputFolder, OutputSet};
use crate::kinetics::PartialVolumeOverride;
use crate::Result;

/// The partial-volume flags as the library's override (`None` when none is given).
pub fn pvc_override(a: &PvcArgs) -> Result<Option<PartialVolumeOverride>> {
    if a.pvc.is_none() && a.psf_fwhm_mm.is_empty() && a.rc_curve.is_none() {
        return Ok(None);
    }
    PartialVolumeOverride::from_flags(a.pvc.as_deref(), &a.psf_fwhm_mm, a.rc_curve.as_deref())
        .map(Some)
}

/// Runs `voxdose fit`.
pub fn fit(args: FitArgs) -> Result<()> {
    let pvc = pvc_override(&args.pvc)?;
    let set = OutputSet {
        files: &crate::kinetics::pipeline::OUTPUT_FILES,
        patterns: crate::run::outputs::FIT_PATTERNS,
    };
    let folder = OutputFolder::begin(&args.out, set, args.force)?;
    for note in folder.notes() {
        eprintln!("voxdose: warning: {note}");
    }
    let fit =
        crate::kinetics::fit_study_with(&args.study, folder.path(), args.force, pvc.as_ref())?;
    folder.commit()?;
    for note in &fit.notes {
        eprintln!("voxdose: {note}");
    }
    for c in &fit.cycles {
        println!(
            "cycle {}: {} regions, {} voxels fitted, {} by trapezoid, map total {:.4e} Bq·s{}",
            c.cycle,
            c.regions.len(),
            c.voxels_fitted,
            c.voxels_trapezoid,
            c.map_total_bq_s,
            if c.from_cache { " (cached)" } else { "" }
        );
        if let Some(p) = &c.partial_volume {
            let psf = p.psf.as_ref().map_or(String::new(), |s| {
                format!(", PSF FWHM {:?} mm", s.psf.fwhm_mm)
            });
            let cond = p.gtm.as_ref().map_or(String::new(), |g| {
                format!(", κ(W) {:.1}", g.condition_number)
            });
            println!(
                "  partial-volume correction: {}{psf}{cond}",
                p.method.name()
            );
        }
        for r in &c.regions {
            let pvc = r.partial_volume.as_ref().map_or(String::new(), |p| {
                format!(
                    "  (uncorrected {:.4e}, ×{:.3} ± {:.1} %)",
                    p.tia_uncorrected_bq_s,
                    p.tia_factor,
                    100.0 * p.correction_rel_sigma
                )
            });
            println!(
                "  {:<20} {:<16} TIA {:.4e} ± {:.2e} Bq·s  T_eff {:.1} h{pvc}",
                r.name, r.model, r.tia_bq_s, r.tia_sigma_bq_s, r.effective_half_life_h
            );
        }
    }
    println!("wrote {}", args.out.display());
    if args.report {
        crate::cli::commands::report::write_default(&args.out)?;
    }
    Ok(())
}
