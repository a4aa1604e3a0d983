//! TODO: materials
