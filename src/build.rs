//! Build script.
//!
//! 1. [`validate_shaders`]: naga-validates every WGSL kernel in `shaders/` (with
//!    `shaders/shared/` prepended), so a shader error fails `cargo build` and names the file,
//!    and exports each kernel's `@workgroup_size` for the host. (Owner: GPU transport.)
//! 2. [`embed_nuclides`]: lists every ICRP-107 file in `data/icrp107/` into
//!    `$OUT_DIR/nuclides.rs`, so a nuclide is added by adding its data file only. (Owner: data.)

fn main() {
    println!("cargo:rerun-if-changed=shaders");
    println!("cargo:rerun-if-changed=data/icrp107");
    validate_shaders();
    embed_nuclides();
}

/// Validates the WGSL kernels. TODO(gpu).
fn validate_shaders() {}

/// Embeds the nuclide data files. TODO(data).
fn embed_nuclides() {}
