//! Reports: run summaries (`summary.json`), progress display, organ tables and DVHs.

pub mod progress;
pub mod summary;
