//! `voxdose inspect`. TODO.
use crate::cli::args::InspectArgs;
use crate::Result;

/// Runs `voxdose inspect`.
pub fn inspect(args: InspectArgs) -> Result<()> {
    let _ = args;
    Err(crate::Error::Internal(
        "inspect: not implemented yet".into(),
    ))
}
