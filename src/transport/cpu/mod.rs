//! CPU reference kernels. TODO.
