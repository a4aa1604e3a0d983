//! `voxdose._native`: the compiled half of the `voxdose` Python package. Each function takes
//! plain values (paths, JSON text, flat numpy arrays), calls the voxdose library with the GIL
//! released, and returns plain values; `voxdose/__init__.py` builds the Python API on them
//! (result classes, array shapes, the exception classes of `voxdose/_errors.py`).
//!
//! Arrays cross as flat numpy arrays in the grid's linear order (i fastest), which is a C-order
//! array of shape (nz, ny, nx); the Python side views it as (nx, ny, nz), nibabel's order.

mod arrays;
mod errors;
mod functions;
mod observer;

use pyo3::prelude::*;

/// The compiled module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    functions::register(m)
}
