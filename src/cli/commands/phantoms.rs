//! `voxdose phantoms` and `voxdose nuclides`. TODO.
use crate::Result;

/// Lists the built-in phantoms.
pub fn list_phantoms() -> Result<()> {
    Ok(())
}

/// Lists the nuclides with decay data.
pub fn list_nuclides() -> Result<()> {
    Ok(())
}
