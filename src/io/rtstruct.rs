//! rtstruct (in progress).
