//! TODO: nuclide
