//! voxdose errors as Python exceptions: the class for the exit code comes from
//! `voxdose._errors.error_for(code, message)`, the message is the command line's (the error
//! and its chain of causes).

use pyo3::prelude::*;

/// The message the command line prints for `err` (without its `voxdose: error: ` prefix).
pub fn cli_message(err: &voxdose::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!("\n  caused by: {cause}"));
        source = cause.source();
    }
    text
}

/// The Python exception of `err`: the `VoxdoseError` subclass of its exit code.
pub fn to_py(py: Python<'_>, err: &voxdose::Error) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let make = py.import("voxdose._errors")?.getattr("error_for")?;
        let exc = make.call1((err.exit_code(), cli_message(err)))?;
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|e| e)
}
