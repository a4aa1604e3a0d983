//! Transport: the Monte Carlo driver. TODO.
pub mod cpu;
pub mod gpu;
