//! `voxdose bench`. TODO.
use crate::cli::args::BenchArgs;
use crate::Result;

/// Runs `voxdose bench`.
pub fn bench(args: BenchArgs) -> Result<()> {
    let _ = args;
    Err(crate::Error::Internal("bench: not implemented yet".into()))
}
