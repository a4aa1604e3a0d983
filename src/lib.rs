//! # voxdose — voxel Monte Carlo dosimetry for radiopharmaceutical therapy
//!
//! The modules follow the pipeline a dosimetry lab runs, in order:
//!
//! | step | module | responsibility |
//! |---|---|---|
//! | load | [`io`] | DICOM CT / NM / PT, RTSTRUCT, NIfTI in; NIfTI, RT Dose, tables out; atomic writes |
//! | geometry | [`geometry`] | voxel grids (dims, spacing in mm, patient affine), rigid transforms, resampling between grids, HU → density and material |
//! | kinetics | [`kinetics`] | time–activity fits and time-integrated activity (decays per voxel), CPU only |
//! | source | [`source`] | decays per voxel or analytic shapes → decay positions |
//! | physics | [`physics`] | data tables with provenance, pure sampling functions (decay, photon, electron) |
//! | transport | [`transport`] | the Monte Carlo driver; CPU reference kernels and their WGSL twins |
//! | tally | [`tally`] | fixed-point energy per voxel, batch statistics, dose = energy / mass |
//! | radiobiology | [`radiobiology`] | BED, EQD2, EUBED of dose and kinetics, per cycle and summed |
//! | report | [`report`] | summaries, organ tables, DVHs |
//! | pbrpk | [`pbpk`] | SBML radiopharmacokinetic models: stiff solve, organ TIAs, patient fit, virtual trials |
//!
//! [`run`] orchestrates a dose run over these (configuration → problem → execute →
//! outputs) for every caller; built-in phantoms live in [`phantoms`]; the command-line
//! interface in [`cli`], which only parses, calls [`run`] and prints. ARCHITECTURE.md draws
//! the data flow.
//!
//! Units are carried in names (`energy_kev`, `spacing_mm`, `density_g_cm3`, `activity_bq`)
//! and converted once, at load.

pub mod cli;
pub mod cluster;
pub mod error;
pub mod geometry;
pub mod io;
pub mod kinetics;
pub mod pbpk;
pub mod phantoms;
pub mod physics;
pub mod radiobiology;
pub mod report;
pub mod run;
pub mod source;
pub mod tally;
pub mod transport;
pub mod twin;
pub mod validate;

pub use error::{Error, Result};
