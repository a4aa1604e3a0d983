//! `voxdose fit`. TODO.
use crate::cli::args::FitArgs;
use crate::Result;

/// Runs `voxdose fit`.
pub fn fit(args: FitArgs) -> Result<()> {
    let _ = args;
    Err(crate::Error::Internal("fit: not implemented yet".into()))
}
