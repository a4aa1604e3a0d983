//! resample (in progress).
