//! TODO: photon
