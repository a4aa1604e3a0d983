//! The theranostic digital twin: a folder per patient that holds every synced cycle (its
//! inputs' hashes, kinetics fit, dose, S-matrix and BED), re-synchronised when new scans
//! arrive, that predicts the next cycle's doses with intervals and plans the activity that
//! keeps the organs at risk within their limits.
//!
//! | file | responsibility |
//! |---|---|
//! | [`folder`] | the folder layout, `twin.json`, `history.jsonl`, the lock, all-or-nothing commits |
//! | [`inputs`] | a cycle's inputs: its one-cycle study file and the sha256 of every input |
//! | [`cycle`] | syncing one cycle: fit → dose → S-matrix → per-region record |
//! | [`smatrix`] | dose per decay S\[target\]\[source\], one transport per source region |
//! | [`model`] | the "kinetic" prediction model: TIA per GBq and T_eff per source, their spread |
//! | [`pbpk`] | the "pbpk" prediction model: a PBRPK model fitted to the cycles predicts the TIAs |
//! | [`predict`](mod@predict) | the next cycle(s) at an activity: dose, BED, cumulative BED with intervals |
//! | [`plan`](mod@plan) | the largest activity keeping every limited organ within its limit |
//! | [`limits`] | organ limits (`kidney:bed=28`) and tissues of the regions |
//! | [`status`] | the cycles, margins and baseline uptake, as a table or JSON |
//! | [`sync`](mod@sync) | `init` and `sync`: what is new, what changed, the transaction that records it |
//!
//! Model and conventions: `../shared/docs/TWIN.md` §2 and `docs/twin.md`. Units: dose and
//! BED in Gy, activity in Bq, TIA in Bq·s, τ (TIA per injected activity) in s, times in h.

pub mod cycle;
pub mod folder;
pub mod inputs;
pub mod limits;
pub mod model;
pub mod pbpk;
pub mod plan;
pub mod predict;
pub mod smatrix;
pub mod status;
pub mod sync;

pub use folder::{Twin, TwinManifest};
pub use limits::OrganLimit;
pub use plan::{plan, PlanResult};
pub use predict::{predict, Prediction};
pub use sync::{init, sync, InitOptions, SyncOptions};

use std::path::PathBuf;

/// What can go wrong with a twin folder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TwinError {
    /// Another voxdose holds the twin's lock.
    #[error("twin {path} is locked by process {pid} (started {since}); wait for it to finish, or if no voxdose is running remove {path}/.lock")]
    Locked {
        /// The twin folder.
        path: PathBuf,
        /// The process holding it.
        pid: u32,
        /// When it took the lock.
        since: String,
    },
    /// The folder is not a twin (no readable `twin.json`).
    #[error("{path} is not a voxdose twin ({reason}); create one with `voxdose twin init {path} --study STUDY.json`")]
    NotATwin {
        /// The folder.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// `init` on a folder that already holds something.
    #[error("{path} already exists and is not empty; choose a new folder for the twin, or sync the existing twin with `voxdose twin sync`")]
    Exists {
        /// The folder.
        path: PathBuf,
    },
    /// The inputs of an already-synced cycle changed.
    #[error("cycle {cycle} was synced with other inputs ({what}); earlier cycles are never rewritten silently: pass --resync-cycle {cycle} to redo it (it is logged)")]
    ChangedCycle {
        /// The cycle (1-based).
        cycle: usize,
        /// What differs.
        what: String,
    },
    /// The study has fewer cycles than the twin has synced.
    #[error("the study lists {study} cycles but the twin has synced {synced}; a twin's cycles are never removed: sync the study file that lists them all")]
    MissingCycles {
        /// Cycles in the study.
        study: usize,
        /// Cycles synced.
        synced: usize,
    },
    /// A limit given as text that cannot be read.
    #[error("limit '{text}': {reason}; write ORGAN:bed=GY or ORGAN:dose=GY, e.g. kidney:bed=28 or red_marrow:dose=2")]
    BadLimit {
        /// The text.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// An organ named in a limit that the twin has no region for.
    #[error("no region of the twin is '{organ}' (by name or tissue); its regions: {known}")]
    UnknownOrgan {
        /// The organ asked for.
        organ: String,
        /// The twin's regions.
        known: String,
    },
    /// Planning or predicting needs what the twin does not have.
    #[error("{0}")]
    Unusable(String),
    /// A PBRPK model whose organs cannot be matched to the twin's regions (`predict --model
    /// pbpk`).
    #[error("{0}")]
    PbpkMap(String),
}

impl TwinError {
    /// Exit code of this error's class (see `crate::error`).
    pub fn exit_code(&self) -> i32 {
        match self {
            TwinError::Locked { .. } => 47,
            TwinError::NotATwin { .. } => 48,
            TwinError::Exists { .. } => 5,
            TwinError::ChangedCycle { .. } | TwinError::MissingCycles { .. } => 49,
            TwinError::BadLimit { .. } => 3,
            TwinError::UnknownOrgan { .. } => 4,
            TwinError::Unusable(_) => 50,
            TwinError::PbpkMap(_) => 63,
        }
    }
}
