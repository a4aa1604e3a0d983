//! Reports: run summaries (`summary.json`), progress display, organ tables and DVHs, and the
//! HTML/PDF report of an output folder ([`html`]).

pub mod dvh;
pub mod html;
pub mod organ_table;
pub mod progress;
pub mod stages;
pub mod summary;
