//! Patient data in and out: DICOM CT / NM / PT series, RTSTRUCT, NIfTI volumes and label maps;
//! NIfTI, DICOM RT Dose and tables out. Every output is written to a temporary file in the
//! destination folder and renamed into place, so a failure never leaves a half file over a
//! good one ([`atomic`]).

pub mod atomic;
pub mod nifti;

use std::path::PathBuf;

/// Reading or understanding an input file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not in the expected format, or is damaged.
    #[error("{path}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The data are readable but inconsistent or unusable (units, grids, non-finite values).
    #[error("{path}: {reason}")]
    Inconsistent {
        /// The file (or series folder).
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

impl InputError {
    /// Exit code of this error's class (see `crate::error`).
    pub fn exit_code(&self) -> i32 {
        match self {
            InputError::Read { .. } | InputError::Malformed { .. } => 8,
            InputError::Inconsistent { .. } => 9,
        }
    }
}
