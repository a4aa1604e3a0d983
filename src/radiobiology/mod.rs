//! Radiobiology: the biologically effective dose (BED), EQD2 and the equivalent uniform BED
//! (EUBED) of absorbed dose delivered at a falling rate, per cycle and summed over cycles,
//! with their uncertainties.
//!
//! | file | responsibility |
//! |---|---|
//! | [`lq`] | dose-rate shapes (sums of exponentials), the Lea–Catcheside factor G in closed form, BED, EQD2, σ |
//! | [`tissue`] | tissue parameters (α/β, T_rep, α, limits) from `data/radiobiology/tissues.csv` |
//! | [`stats`] | EUBED, BED-volume points, sums over cycles |
//! | [`maps`] | voxel BED/EQD2 maps and region summaries from dose maps, regions and kinetics |
//! | [`fit_input`] | the kinetics a `voxdose fit` folder holds (`regions.json`) as dose-rate shapes |
//! | [`voxel_shapes`] | each fitted voxel's own dose-rate shape (`voxel_kinetics_cycle{n}*` of a fit) |
//! | [`plan`] | label regions, tissue assignment, per-cycle dose shares → the regions to compute |
//! | [`output`] | writing maps, `bed_summary.json`, `bed_dvh.csv`, `bed_rtdose.dcm` |
//! | [`bed_command`] | `voxdose bed`: inputs → maps, `bed_summary.json`, `bed_dvh.csv`, RT Dose |
//! | [`study`] | per-cycle and cumulative BED of a study run (for `voxdose run --study`) |
//! | [`organ_table`] | BED/EQD2 columns for the organ table of a patient run |
//!
//! Units: absorbed dose and BED in Gy, times in h, rates in 1/h, α/β in Gy, α in 1/Gy.
//! Formulas and their sources: TWIN.md §1 (Dale 1985, Br J Radiol 58:515; Dale 1996, Phys Med
//! Biol 41:1871; Baechler et al. 2008, Med Phys 35:1123 for voxels; O'Donoghue 1999, J Nucl
//! Med 40:1337 for EUBED). A region's dose rate is taken proportional to its activity curve
//! (self-dose), which is how the kinetics module's fits become dose-rate shapes.
//!
//! Uses [`crate::kinetics`] (models, fit tables) and [`crate::io`]; never the CLI.
//!
//! A minimal use, as the twin needs it (BED of a predicted kidney dose):
//!
//! ```
//! use voxdose::radiobiology::{bed_gy, eqd2_gy, DoseRateModel, Tissue};
//! let kidney = Tissue::named("kidney").unwrap();
//! let shape = DoseRateModel::mono_exponential(50.0); // T_eff 50 h
//! let bed = bed_gy(10.0, &shape, &kidney);
//! assert!((bed - 12.0396).abs() < 1e-4); // TWIN.md §1 check value
//! assert!((eqd2_gy(bed, kidney.alpha_beta_gy) - 6.8050).abs() < 1e-4);
//! ```

pub mod bed_command;
pub mod fit_input;
pub mod lq;
pub mod maps;
pub mod organ_table;
pub mod output;
pub mod plan;
pub mod stats;
pub mod study;
pub mod tissue;
pub mod voxel_shapes;

pub use lq::{
    bed_from_g, bed_gy, bed_sigma_gy, dbed_ddose, eqd2_gy, g_sigma_from_covariance, DoseRateModel,
    ExpTerm,
};
pub use stats::{accumulate_cycles, eubed_gy};
pub use tissue::{Limit, LimitQuantity, Tissue};

use std::path::PathBuf;

/// What can go wrong in BED computations with user input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RadiobiologyError {
    /// The dose map is per decay (or relative), not absolute dose in Gy.
    #[error("{path}: the dose is in {unit}, but BED needs absorbed dose in Gy; run the dose with the time-integrated activity (`voxdose run ... --tia FILE`, `--tia-bq-s`, or `--study`) and give that dose.nii.gz")]
    DoseNotInGy {
        /// The dose file.
        path: PathBuf,
        /// The unit the file states (e.g. "Gy per decay", "RELATIVE").
        unit: String,
    },
    /// A dose-rate shape that is not a dose rate (negative, zero total, bad rates).
    #[error("dose-rate model unusable: {reason}")]
    InvalidModel {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Tissue parameters out of range.
    #[error("tissue '{name}': {reason}")]
    InvalidTissue {
        /// The tissue.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A `voxdose fit` output folder that cannot give kinetics.
    #[error("fit folder {path}: {reason}")]
    FitFolder {
        /// The folder.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

impl RadiobiologyError {
    /// Exit code of this error's class (see `crate::error`).
    pub fn exit_code(&self) -> i32 {
        match self {
            RadiobiologyError::DoseNotInGy { .. } => 31,
            RadiobiologyError::InvalidModel { .. } => 32,
            RadiobiologyError::InvalidTissue { .. } => 33,
            RadiobiologyError::FitFolder { .. } => 34,
        }
    }
}
