//! rtdose (in progress).
