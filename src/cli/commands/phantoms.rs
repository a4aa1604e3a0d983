//! `voxdose phantoms` and `voxdose nuclides`: what is built in.

use crate::physics::nuclide::{EmissionKind, Nuclide};
use crate::Result;

/// Lists the built-in phantoms.
pub fn list_phantoms() -> Result<()> {
    for (name, what) in crate::phantoms::PHANTOMS {
        println!("{name:<14} {what}");
    }
    Ok(())
}

/// Lists the nuclides with decay data and their energy per decay.
pub fn list_nuclides() -> Result<()> {
    println!(
        "{:<10} {:>14} {:>18} {:>16}",
        "nuclide", "half-life (d)", "electrons (keV)", "photons (keV)"
    );
    for name in Nuclide::known() {
        let n = Nuclide::load(&name)?;
        let e = n.energy_per_decay_kev(|k: EmissionKind| k.is_electron());
        let g = n.energy_per_decay_kev(|k: EmissionKind| k.is_photon());
        println!(
            "{:<10} {:>14.4} {:>18.3} {:>16.3}",
            n.name,
            n.half_life_s / 86400.0,
            e,
            g
        );
    }
    Ok(())
}
