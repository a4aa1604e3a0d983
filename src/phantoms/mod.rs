//! Built-in phantoms. TODO.
