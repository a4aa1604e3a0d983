//! NIfTI-1 volumes in and out (.nii and .nii.gz), with the LPS ↔ RAS affine conversion.
//!
//! TODO(io): being implemented; the signatures below are the contract the rest of the crate uses.

use crate::geometry::Volume;
use crate::io::InputError;
use crate::Result;
use std::path::Path;

/// Writes a float volume as NIfTI-1 (gzip when the name ends in `.gz`), atomically.
pub fn write_volume_f32(path: &Path, vol: &Volume<f32>, description: &str) -> Result<()> {
    let _ = (path, vol, description);
    Err(crate::Error::Internal(
        "NIfTI writer not implemented yet".into(),
    ))
}

/// Reads a NIfTI-1/2 volume as f32 on its grid (patient LPS).
pub fn read_volume_f32(path: &Path) -> Result<Volume<f32>, InputError> {
    Err(InputError::Malformed {
        path: path.to_path_buf(),
        reason: "NIfTI reader not implemented yet".into(),
    })
}
