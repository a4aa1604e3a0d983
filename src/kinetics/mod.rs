//! Kinetics: time–activity curves from serial scans → time-integrated activity (decays).
//!
//! TODO(kinetics): being implemented.

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
}

impl KineticsError {
    /// Exit code of this error's class (see `crate::error`).
    pub fn exit_code(&self) -> i32 {
        match self {
            KineticsError::InvalidStudy { .. } => 9,
            KineticsError::FitFailed { .. } => 10,
        }
    }
}
