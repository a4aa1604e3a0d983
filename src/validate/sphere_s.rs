//! Unit-density spheres of 177Lu: the self-dose S value of a sphere of soft tissue with the
//! activity uniform in it, over a range of volumes, vs the OLINDA/EXM sphere model.
//!
//! voxdose's own Monte Carlo: every 177Lu emission (β, conversion and Auger electrons, γ and
//! X-rays; ICRP-107) uniform in a geometric sphere at the centre of a cube of `soft-tissue`
//! at 1.00 g/cm³ reaching 5 mm beyond it (the same geometry, voxels and boundary sub-sampling
//! as the 90Y spheres of [`super::sphere`]). S is the energy deposited inside the geometric
//! sphere per decay over the sphere's unit-density mass, in the reference's unit,
//! Gy/(MBq·min) (× 6 × 10⁷ decays per MBq·min). σ from the spread of the 20 history batches.
//!
//! Reference (numbers read from a stored source, never from memory): Golzaryan A, Soltani M,
//! Moradi Kashkooli F, Saboury B, Rahmim A (2025), *Personalized metronomic
//! radiopharmaceutical therapy through injection profile optimization via physiologically
//! based pharmacokinetic (PBPK) modeling*, Sci Rep 15:4046, doi 10.1038/s41598-025-86159-9,
//! Supplementary Information, Table S4: OLINDA/EXM sphere S values of 177Lu by sphere volume
//! (mL), in Gy/(MBq·min), used there for tumours and salivary glands. The table was read as
//! transcribed, with that citation, in the nlmixr2lib model library
//! (github.com/nlmixr2/nlmixr2lib, `vignettes/articles/Golzaryan_2025_lu177psmaIT_pbpk.Rmd`,
//! section "3. Absorbed dose and delivery payload", vector `s_sphere`, commit 9049984). An
//! independent check of the transcription: PyTheranostics' `data/s-values/spheres.json`,
//! whose soft-tissue column names no source, agrees with it within 0.2–2 % at the common
//! masses. OLINDA's sphere model is of unit density, so a volume in mL is a mass in g.

use super::sphere::{sphere_run, VOXEL_ALLOWANCE};
use super::{compare, CaseResult, ValidateConfig};
use crate::physics::decay::EmissionFilter;
use crate::physics::nuclide::Nuclide;
use crate::physics::tables::UNITS_PER_KEV;
use crate::tally::J_PER_KEV;
use crate::transport::Device;
use crate::{Error, Result};

/// Table S4 of Golzaryan et al. 2025: (volume mL, S value Gy/(MBq·min)), both as printed in
/// the transcription.
const ROWS: [(&str, &str); 13] = [
    ("0.5", "2.77e-3"),
    ("1", "1.40e-3"),
    ("1.5", "9.00e-4"),
    ("2", "7.02e-4"),
    ("3", "4.50e-4"),
    ("4", "3.52e-4"),
    ("13", "1.10e-4"),
    ("17", "8.30e-5"),
    ("21", "6.90e-5"),
    ("29", "4.80e-5"),
    ("34", "4.30e-5"),
    ("52", "2.67e-5"),
    ("54", "2.65e-5"),
];

/// The one case `--quick` runs (a 73³ grid).
pub const QUICK_CASE: &str = "sphere-s-lu177-4ml";

/// Decays per MBq·min.
const DECAYS_PER_MBQ_MIN: f64 = 6.0e7;

/// Allowance for what the OLINDA/EXM sphere model does differently from voxdose's transport,
/// set before the first comparison and not changed after it:
/// - its electron absorbed fractions are interpolated in energy and mass from tables of
///   monoenergetic electrons (Stabin & Konijnenberg 2000), folded with its own 177Lu
///   spectrum (RADAR decay data, not ICRP-107), where voxdose transports the ICRP-107
///   spectrum through the sphere;
/// - its spheres' surroundings and tissue composition are not stated in the table; voxdose's
///   sphere sits in 5 mm of ICRP soft tissue;
/// - the transcribed values scatter about a smooth S × mass by up to ±4 % (1.5 and 3 mL lie
///   about 3 % below their neighbours' trend), which is more than their printed digits allow.
const MODEL_ALLOWANCE: f64 = 0.05;

const SOURCE: &str = "Golzaryan, Soltani, Moradi Kashkooli, Saboury & Rahmim 2025, Sci Rep \
15:4046, doi 10.1038/s41598-025-86159-9, Supplementary Table S4 (OLINDA/EXM sphere S values of \
177Lu by volume, Gy/(MBq·min)), as transcribed in nlmixr2lib \
vignettes/articles/Golzaryan_2025_lu177psmaIT_pbpk.Rmd (vector s_sphere)";

/// Case ids: `sphere-s-lu177-<volume>ml`.
pub fn case_ids() -> Vec<String> {
    ROWS.iter()
        .map(|(v, _)| format!("sphere-s-lu177-{v}ml"))
        .collect()
}

/// Half a unit of the last printed digit of `printed`, relative to it; a trailing zero may
/// be padding (the transcription prints three digits where the original may have two), so
/// it is not counted as a digit.
fn rounding(printed: &str) -> f64 {
    let mantissa = printed.split(['e', 'E']).next().unwrap_or(printed);
    let digits = mantissa.trim_end_matches('0');
    let decimals = digits.split('.').nth(1).map_or(0, str::len) as i32;
    let value: f64 = mantissa.parse().unwrap_or(1.0);
    0.5 * 10f64.powi(-decimals) / value
}

/// Runs the case `id`.
pub fn run(id: &str, config: &ValidateConfig, device: &Device) -> Result<CaseResult> {
    let (volume, printed) = *super::row_of(&ROWS, case_ids(), id, "sphere S-value")?;
    let mass_g: f64 = volume
        .parse()
        .map_err(|_| Error::Internal(format!("volume {volume}")))?;
    let reference: f64 = printed
        .parse()
        .map_err(|_| Error::Internal(format!("S value {printed}")))?;
    let radius_mm = 10.0 * (3.0 * mass_g / (4.0 * std::f64::consts::PI)).cbrt();
    let decays = super::sphere::sphere_decays(config.mode);
    let nuclide = super::energy::scale_energies(
        &Nuclide::load("Lu-177")?,
        config.perturbation.emission_energy_scale,
    );
    let run = sphere_run(
        radius_mm,
        nuclide,
        config.perturbation.medium_density_scale,
        (decays, EmissionFilter::All),
        device,
    )?;
    // Tally units per decay → Gy per decay → Gy/(MBq·min).
    let to_s = J_PER_KEV / f64::from(UNITS_PER_KEV) / (mass_g * 1e-3) * DECAYS_PER_MBQ_MIN;
    let (per_decay, sigma) = run.ratio(|b| b.decays);
    let (s, s_sigma) = (per_decay * to_s, sigma * to_s);
    let round = rounding(printed);
    let why = format!(
        "the value as printed ±{:.2} % (half its last digit), 5 % for the OLINDA/EXM sphere \
         model (interpolated monoenergetic absorbed fractions and RADAR decay data, unstated \
         surroundings; the transcribed values scatter ±4 % about a smooth S × mass), 0.5 % for \
         the voxel size",
        100.0 * round
    );
    Ok(compare(
        id,
        Some("Lu-177"),
        &format!(
            "self-dose S value, Gy/(MBq·min), of a {volume} g unit-density soft-tissue sphere \
             (r = {radius_mm:.2} mm), 177Lu uniform, all emissions"
        ),
        (s, s_sigma),
        (reference, None),
        (3.0, round + MODEL_ALLOWANCE + VOXEL_ALLOWANCE, &why),
        &format!("{SOURCE}: {volume} mL, {printed}"),
        (
            format!(
                "MC histories, {} transport, all emissions, sphere in tissue",
                device.kind()
            ),
            decays,
            run.wall_s,
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_the_last_significant_printed_digit() {
        assert!((rounding("2.77e-3") - 0.005 / 2.77).abs() < 1e-12);
        // "1.40e-3" may be a two-digit "1.4e-3" padded.
        assert!((rounding("1.40e-3") - 0.05 / 1.4).abs() < 1e-12);
        assert!((rounding("9.00e-4") - 0.5 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn the_table_times_its_mass_is_near_the_177lu_electron_energy() {
        // A transcription check that needs no transport: S × m is the energy absorbed per
        // decay, which for spheres of 0.5–54 g is nearly all of the 147.9 keV of electrons
        // (ICRP-107) plus a few keV of photons. Every row lies within 6 % of it.
        let electrons_kev = 147.9;
        for (volume, printed) in ROWS {
            let m_kg: f64 = volume.parse::<f64>().unwrap() * 1e-3;
            let s: f64 = printed.parse().unwrap();
            let kev = s * m_kg / DECAYS_PER_MBQ_MIN / J_PER_KEV;
            assert!(
                (kev / electrons_kev - 1.0).abs() < 0.06,
                "{volume} mL: {kev:.1} keV absorbed per decay"
            );
        }
    }
}
