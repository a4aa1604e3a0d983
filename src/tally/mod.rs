//! Tally: energy per voxel in fixed point, batch statistics, dose. TODO.
