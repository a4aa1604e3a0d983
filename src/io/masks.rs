//! masks (in progress).
