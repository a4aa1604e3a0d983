// shared/alias.wgsl — Walker's alias method: the column step. CPU twin `AliasTable::sample`
// in src/source/alias.rs. The keep-or-alias step reads the table's own buffers, so it lives
// with each table (`line_alias_sample` in decay.wgsl, `source_alias_sample` in source.wgsl):
// core WGSL cannot pass storage pointers into functions.

// Column of an n-column table for uniform u1: min(⌊u1·n⌋, n − 1).
fn alias_column(n: u32, u1: f32) -> u32 {
    return min(u32(u1 * f32(n)), n - 1u);
}
