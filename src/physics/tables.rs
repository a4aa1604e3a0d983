//! TODO: tables
