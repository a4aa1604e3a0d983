//! Physiologically based radiopharmacokinetic (PBRPK) models: SBML in, a stiff ODE solve,
//! activities and time-integrated activities per organ, a per-patient MAP fit and virtual
//! trials.
//!
//! | file | responsibility |
//! |---|---|
//! | [`sbml`] | SBML Level 2/3 reader for the supported subset → [`sbml::SbmlModel`] |
//! | [`mathml`] | content MathML → [`expr::Expr`] |
//! | [`expr`] | expressions; the compiled tape (values and forward-mode duals) |
//! | [`model`] | symbol resolution, initial values in dependency order, PyCNO conventions (Hot species, organs, dose targets), the compiled right-hand side |
//! | [`units`] | dimensional check of kinetic laws against substance/time |
//! | [`solve`] | the stiff solve (diffsol BDF, sparse LU), boluses, TIA as integrated outputs, to infinity |
//! | [`simulate`](mod@simulate) | a scenario (doses, grid, overrides) → TACs (MBq) and TIAs (MBq·h); `tacs.csv`, `tia.json` |
//! | [`priors`] | population distributions of parameters (priors of a fit, the population of a trial) |
//! | [`fit`] | MAP fit of chosen parameters to measured organ TACs → the patient model file |
//! | [`trial`] | virtual trials: sampled patients, organ TIAs → doses (S-values) → BED, percentiles |
//!
//! **Conventions** (PyCNO, qurit/PyCNO; Fele-Paranj et al., EJNMMI Radiopharm Chem
//! 2024;9:6; `docs` of voxdose: TWIN.md §3). Time is in minutes and amounts in nmol, as the
//! models are written. A dose `Vein.Hot=10` adds 10 nmol to the species named `Hot` in the
//! compartment named `Vein` (names, not SBML ids, as PyCNO addresses them; ids are accepted
//! too). Species whose name contains `Hot` are radioactive; the output of a top-level
//! compartment (one without `outside`) is the sum of the Hot species in it and in its direct
//! children. Activity in MBq = amount (nmol) × molar activity, with the molar activity from
//! the nuclide's ICRP-107 half-life: A_m = λ(1/s) · N_A · 1e-9 / 1e6 MBq per nmol. The
//! model's own decay reactions are reproduced as written, quirks included.
//!
//! Units in names: `_min`, `_h`, `_nmol`, `_mbq`, `_mbq_h`, `_gy`.

pub mod expr;
pub mod fit;
pub mod mathml;
pub mod model;
pub mod priors;
pub mod sbml;
pub mod simulate;
pub mod solve;
pub mod trial;
pub mod units;

pub use model::{Bolus, Model};
pub use simulate::{simulate, Scenario, SimResult};

use std::path::{Path, PathBuf};

/// Avogadro's constant, 1/mol (SI 2019, exact).
pub const AVOGADRO_PER_MOL: f64 = 6.022_140_76e23;

/// What can go wrong reading, checking, simulating or fitting a PBRPK model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PbpkError {
    /// The model file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not well-formed XML.
    #[error("{}: not well-formed XML: {reason}", path.as_ref().map_or("SBML".into(), |p| p.display().to_string()))]
    Xml {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The parser's message (with line and column).
        reason: String,
    },
    /// An element outside the supported SBML/MathML subset.
    #[error(
        "{}line {line}: <{element}> is not supported {context}",
        file_prefix(file)
    )]
    Unsupported {
        /// The element (or attribute) name.
        element: String,
        /// Its line.
        line: u32,
        /// Where it is and what is supported.
        context: String,
        /// The file, when known.
        file: Option<PathBuf>,
    },
    /// The model is inconsistent: an undefined symbol, a missing species or compartment,
    /// a unit mismatch, cyclic rules.
    #[error("{}line {line}: {element}: {reason}", file_prefix(file))]
    InvalidModel {
        /// The element, in words (e.g. "reaction 'Vas2Int' (id mw…)").
        element: String,
        /// Its line.
        line: u32,
        /// What is wrong and how to fix it.
        reason: String,
        /// The file, when known.
        file: Option<PathBuf>,
    },
    /// A formula evaluates to a non-finite number (division by zero, log of zero, …).
    #[error(
        "{}line {line}: {element} evaluates to {value} at t = {t_min} min: {reason}",
        file_prefix(file)
    )]
    NonFinite {
        /// The element, in words.
        element: String,
        /// Its line.
        line: u32,
        /// The value (NaN or ±inf).
        value: f64,
        /// The time.
        t_min: f64,
        /// The offending sub-expression and how to fix it.
        reason: String,
        /// The file, when known.
        file: Option<PathBuf>,
    },
    /// A name the model does not have (dose target, parameter, organ).
    #[error("unknown {what} '{name}' in the model; known: {known}")]
    UnknownName {
        /// What kind of name.
        what: &'static str,
        /// The name given.
        name: String,
        /// Known names, comma separated (shortened).
        known: String,
    },
    /// The ODE solver failed.
    #[error("the ODE solver failed at t = {t_min} min: {reason}")]
    Solver {
        /// Where.
        t_min: f64,
        /// Why, and what to try.
        reason: String,
    },
    /// The fit could not be done.
    #[error("pbpk fit: {reason}")]
    FitFailed {
        /// Why, and what to try.
        reason: String,
    },
    /// A JSON input (population, prior, S-values, patient model, measured TACs) is invalid.
    #[error("{path}: {reason}")]
    InvalidInput {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

fn file_prefix(file: &Option<PathBuf>) -> String {
    file.as_ref()
        .map_or(String::new(), |p| format!("{}: ", p.display()))
}

impl PbpkError {
    /// The process exit code (see `src/error.rs`).
    pub fn exit_code(&self) -> i32 {
        match self {
            PbpkError::Read { .. } | PbpkError::Xml { .. } => 8,
            PbpkError::UnknownName { .. } => 4,
            PbpkError::Unsupported { .. } => 51,
            PbpkError::InvalidModel { .. } => 52,
            PbpkError::NonFinite { .. } => 53,
            PbpkError::Solver { .. } => 54,
            PbpkError::FitFailed { .. } => 55,
            PbpkError::InvalidInput { .. } => 56,
        }
    }

    /// The same error, naming `path` as the file it is in.
    pub fn in_file(self, path: &Path) -> Self {
        let p = Some(path.to_path_buf());
        match self {
            PbpkError::Xml { reason, .. } => PbpkError::Xml { path: p, reason },
            PbpkError::Unsupported {
                element,
                line,
                context,
                ..
            } => PbpkError::Unsupported {
                element,
                line,
                context,
                file: p,
            },
            PbpkError::InvalidModel {
                element,
                line,
                reason,
                ..
            } => PbpkError::InvalidModel {
                element,
                line,
                reason,
                file: p,
            },
            PbpkError::NonFinite {
                element,
                line,
                value,
                t_min,
                reason,
                ..
            } => PbpkError::NonFinite {
                element,
                line,
                value,
                t_min,
                reason,
                file: p,
            },
            other => other,
        }
    }
}

/// Molar activity of a nuclide, MBq per nmol: λ · N_A · 1e-9 / 1e6 with λ = ln 2 / T½.
pub fn molar_activity_mbq_per_nmol(half_life_s: f64) -> f64 {
    std::f64::consts::LN_2 / half_life_s * AVOGADRO_PER_MOL * 1e-9 / 1e6
}
