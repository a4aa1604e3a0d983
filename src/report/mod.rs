//! Reports: run summaries (`summary.json`), progress display, organ tables and DVHs.

pub mod dvh;
pub mod organ_table;
pub mod progress;
pub mod stages;
pub mod summary;
