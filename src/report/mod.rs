//! Reports: run summaries, organ tables, DVHs. TODO.
