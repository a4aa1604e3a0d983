//! Kinetics: time–activity curves from serial scans → time-integrated activity (decays).
//!
//! | file | responsibility |
//! |---|---|
//! | [`align`] | the reference frame (reference CT or first scan) and aligning each time point |
//! | [`labels`] | the study's regions on the map grid: NIfTI label map or RTSTRUCT rasterised |
//! | [`models`] | TAC models, gradients, bounds, analytic ∫₀^∞ |
//! | [`lm`] | bounded weighted Levenberg–Marquardt |
//! | [`fit`] | one curve: start values, fits, AIC/AICc selection, trapezoid fallback |
//! | [`stp`] | single-time-point methods (Hänscheid, population T_eff) |
//! | [`pipeline`] | study → aligned frames → region and voxel fits → maps; per-cycle cache |
//! | [`output`] | TIA maps, region tables (JSON/CSV), TAC plots (PNG) |
//! | [`partial_volume`] | partial-volume correction of region activities: GTM, RC curve, their σ |
//! | [`psf`] | Gaussian PSF (FWHM per axis), separable voxel blur, default FWHM per collimator |
//! | [`recovery`] | recovery coefficients of phantom spheres, the fitted RC(V) curve (`rc.json`) |
//! | [`register`] | rigid NMI registration, resampling, masks, elastix (deformable) |
//! | [`scan`] | a time point's image: NIfTI in the study's units or DICOM NM/PT in Bq/mL, DICOM times |
//! | [`study`] | the study file: cycles, time points, units, validation |
//! | [`varpro`] | separable (variable projection) fits of the one-amplitude voxel models |
//! | [`voxel`] | voxel-wise fits in parallel → Ã and σ maps (and each voxel's parameters) |
//! | [`voxel_kinetics`] | per-voxel fitted parameters as files (`voxel_kinetics_cycle{n}*`), for BED |
//!
//! Units: times in hours from administration inside the fits (rates in 1/h); activities as
//! read (Bq/mL) until converted to Bq per voxel; time-integrated activity leaves this module
//! in Bq·s (= number of decays).

pub mod align;
pub mod fit;
pub mod labels;
pub mod lm;
pub mod models;
pub mod output;
pub mod partial_volume;
pub mod pipeline;
pub mod psf;
pub mod recovery;
pub mod register;
pub mod scan;
pub mod stp;
pub mod study;
pub mod varpro;
pub mod voxel;
pub mod voxel_kinetics;

pub use crate::phantoms::nema_geometry;

pub use partial_volume::{PartialVolumeOverride, PvcError, PvcMethod};
pub use pipeline::{fit_study, fit_study_with, CycleFit, RegionResult, StudyFit};

/// The kinetics model could not be built or fitted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KineticsError {
    /// The study description is invalid.
    #[error("study {path}: {reason}")]
    InvalidStudy {
        /// The study file.
        path: std::path::PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A fit could not be done.
    #[error("fit of {region}: {reason}")]
    FitFailed {
        /// The region or voxel.
        region: String,
        /// Why.
        reason: String,
    },
    /// A registration tool the study asks for is not available.
    #[error("registration unavailable: {reason}")]
    RegistrationUnavailable {
        /// What is missing and how to get it.
        reason: String,
    },
    /// Registration ran but failed.
    #[error("registration failed: {reason}")]
    RegistrationFailed {
        /// What happened.
        reason: String,
    },
}

impl KineticsError {
    /// Exit code of this error's class (see `crate::error`).
    pub fn exit_code(&self) -> i32 {
        match self {
            KineticsError::InvalidStudy { .. } => 9,
            KineticsError::FitFailed { .. } => 10,
            KineticsError::RegistrationUnavailable { .. } => 4,
            KineticsError::RegistrationFailed { .. } => 10,
        }
    }
}
