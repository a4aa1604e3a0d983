//! Physics: data tables with provenance and pure sampling functions.
//!
//! | file | holds |
//! |---|---|
//! | [`data`] | raw published tables from `data/` (XCOM, ESTAR, form factors) and their parsers |
//! | [`materials`] | material compositions and nominal densities |
//! | [`nuclide`] | ICRP-107 decay data of a nuclide |
//! | [`tables`] | derived tables on uniform log-energy grids, shaped for the CPU and GPU kernels |
//! | [`decay`] | decay → emitted particles (alias tables over lines, β spectrum inversion) |
//! | [`photon`] | photoelectric, incoherent (Klein–Nishina × S), coherent (Thomson × F²) sampling |
//! | [`brems`] | bremsstrahlung: continuous and hard radiative loss, photon energy and direction |
//! | [`electron`] | condensed-history electron step: CSDA loss and multiple-scattering deflection |
//! | [`direction`] | isotropic directions and rotations |
//! | [`rng`] | PCG32, bit-identical to its WGSL twin |
//!
//! Sampling functions take their uniform random numbers as arguments, so they are
//! deterministic, testable with fixed inputs and port line for line to WGSL.

pub mod brems;
pub mod data;
pub mod decay;
pub mod direction;
pub mod electron;
pub mod materials;
pub mod nuclide;
pub mod photon;
pub mod rng;
pub mod tables;
