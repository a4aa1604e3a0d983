//! TODO: electron
