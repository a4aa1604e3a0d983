//! TODO: decay
