//! `voxdose recovery --spect SCAN|--synthetic-fwhm-mm F --labels L|--phantom nema-iec
//! --concentration C [--background B] --out rc.json`: recovery coefficients of phantom
//! spheres and the fitted RC(volume) curve. The work is in
//! [`crate::kinetics::recovery::run_recovery`]; this parses and prints.

use crate::cli::args::RecoveryArgs;
use crate::kinetics::recovery::{run_recovery, RecoveryImage, RecoveryOptions, SphereSource};
use crate::{Error, Result};

/// Runs `voxdose recovery`.
pub fn recovery(args: RecoveryArgs) -> Result<()> {
    let image = match (&args.spect, args.synthetic_fwhm_mm) {
        (Some(path), None) => RecoveryImage::Scan {
            path: path.clone(),
            calibration_bq_ml_per_count: args.calibration_bq_ml_per_count,
        },
        (None, Some(fwhm_mm)) => RecoveryImage::Synthetic {
            fwhm_mm,
            voxel_mm: args.voxel_mm,
        },
        _ => {
            return Err(Error::invalid(
                "--spect",
                "give the phantom scan (--spect) or --synthetic-fwhm-mm, one of them",
            ))
        }
    };
    let spheres = match (&args.labels, args.phantom.as_deref()) {
        (Some(l), None) => SphereSource::Labels(l.clone()),
        (None, Some("nema-iec")) => SphereSource::NemaIec,
        (None, Some(other)) => {
            return Err(Error::UnknownName {
                what: "sphere phantom",
                name: other.to_string(),
                known: "nema-iec".into(),
            })
        }
        _ => {
            return Err(Error::invalid(
                "--labels",
                "give the spheres as --labels SPHERES.nii.gz or --phantom nema-iec",
            ))
        }
    };
    if matches!(image, RecoveryImage::Synthetic { .. }) && spheres != SphereSource::NemaIec {
        return Err(Error::invalid(
            "--synthetic-fwhm-mm",
            "the synthetic scan is the NEMA IEC phantom: use it with --phantom nema-iec",
        ));
    }
    let (curve, notes) = run_recovery(&RecoveryOptions {
        image,
        spheres,
        concentration_bq_ml: args.concentration,
        background_bq_ml: args.background,
        out: args.out.clone(),
        force: args.force,
    })?;
    for n in &notes {
        eprintln!("voxdose: {n}");
    }
    println!(
        "{:<16} {:>10} {:>9} {:>12} {:>8} {:>8}",
        "sphere", "volume_mL", "voxels", "mean_Bq/mL", "RC", "fitted"
    );
    for s in &curve.spheres {
        println!(
            "{:<16} {:>10.3} {:>9.1} {:>12.4e} {:>8.4} {:>8.4}",
            s.name, s.volume_ml, s.voxels, s.mean_bq_ml, s.rc, s.rc_fitted
        );
    }
    let (f, fs) = curve.effective_fwhm_mm();
    println!(
        "RC(V) = a·RC_G(V; F ⊕ voxels) (Gaussian-blurred sphere, Kessler et al. 1984): a = {:.4} ± {:.4}, PSF FWHM F = {f:.3} ± {fs:.3} mm (voxels excluded), residual RMS {:.4}",
        curve.params[0], curve.param_sigma[0], curve.residual_rms
    );
    println!(
        "wrote {} and {}",
        args.out.display(),
        args.out.with_extension("png").display()
    );
    Ok(())
}
