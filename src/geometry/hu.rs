//! TODO: hu
