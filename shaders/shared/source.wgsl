// shared/source.wgsl — decay positions: uniform in a voxel of the activity map, or exact in
// an analytic shape. CPU twin: `source_position` in src/source/mod.rs (five uniforms in a
// fixed order whatever the source kind).

// Shape codes (`SHAPE_*` in src/source/mod.rs).
const SHAPE_SPHERE: u32 = 0u;
const SHAPE_BOX: u32 = 1u;

// `alias.sample(u1, u2)` of the source table, mapped to its target (voxel or shape).
fn source_alias_sample(u1: f32, u2: f32) -> u32 {
    let i = alias_column(physics.n_source, u1);
    let width = 1u << SOURCE_TEXTURE_WIDTH_LOG2;
    let t = textureLoad(src_table, vec2<u32>(i & (width - 1u), i >> SOURCE_TEXTURE_WIDTH_LOG2), 0);
    return select(t.z, t.y, u2 < bitcast<f32>(t.x));
}

fn shape_param(s: u32, j: u32) -> f32 {
    return ftab[physics.off_shapes + 8u * s + 1u + j];
}

// `source_position`: a decay position in mm (transport frame).
fn source_position() -> vec3<f32> {
    let u1 = rng_uniform();
    let u2 = rng_uniform();
    let u3 = rng_uniform();
    let u4 = rng_uniform();
    let u5 = rng_uniform();
    let k = source_alias_sample(u1, u2);
    if (physics.n_shapes == 0u) {
        let v = k;
        let i = v % grid.nx;
        let j = (v / grid.nx) % grid.ny;
        let kk = v / (grid.nx * grid.ny);
        return vec3<f32>(
            (f32(i) + u3) * grid.spacing_x_mm,
            (f32(j) + u4) * grid.spacing_y_mm,
            (f32(kk) + u5) * grid.spacing_z_mm,
        );
    }
    let kind = u32(ftab[physics.off_shapes + 8u * k]);
    let p0 = shape_param(k, 0u);
    let p1 = shape_param(k, 1u);
    let p2 = shape_param(k, 2u);
    let p3 = shape_param(k, 3u);
    let p4 = shape_param(k, 4u);
    let p5 = shape_param(k, 5u);
    if (kind == SHAPE_SPHERE) {
        // cbrt: WGSL has none; pow differs from Rust's cbrt by an ULP or so.
        let r = p3 * pow(u3, 1.0 / 3.0);
        let d = isotropic(u4, u5);
        return vec3<f32>(p0 + r * d.x, p1 + r * d.y, p2 + r * d.z);
    }
    if (kind == SHAPE_BOX) {
        return vec3<f32>(p0 + u3 * (p3 - p0), p1 + u4 * (p4 - p1), p2 + u5 * (p5 - p2));
    }
    let r = p2 * sqrt(u3);
    let phi = TAU_RADIANS * u4;
    return vec3<f32>(p0 + r * cos(phi), p1 + r * sin(phi), p3 + u5 * (p4 - p3));
}
