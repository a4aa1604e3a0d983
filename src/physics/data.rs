//! TODO: data
