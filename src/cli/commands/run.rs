//! `voxdose run`. TODO.
use crate::cli::args::RunArgs;
use crate::Result;

/// Runs `voxdose run`.
pub fn run(args: RunArgs) -> Result<()> {
    let _ = args;
    Err(crate::Error::Internal("run: not implemented yet".into()))
}
