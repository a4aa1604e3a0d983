// shared/direction.wgsl — isotropic directions and rotation by (θ, φ).
// CPU twin: src/physics/direction.rs (same formulas, f32).

const TAU_RADIANS: f32 = 6.28318530717958647692;

// `isotropic(u1, u2)`.
fn isotropic(u1: f32, u2: f32) -> vec3<f32> {
    let cos_t = 2.0 * u1 - 1.0;
    let sin_t = sqrt(max(1.0 - cos_t * cos_t, 0.0));
    let phi = TAU_RADIANS * u2;
    return vec3<f32>(sin_t * cos(phi), sin_t * sin(phi), cos_t);
}

// `normalise(v)`.
fn normalise(v: vec3<f32>) -> vec3<f32> {
    let n = sqrt(v.x * v.x + v.y * v.y + v.z * v.z);
    return vec3<f32>(v.x / n, v.y / n, v.z / n);
}

// `rotate(d, cos θ, u_phi)`.
fn rotate(d: vec3<f32>, cos_theta: f32, u_phi: f32) -> vec3<f32> {
    let sin_t = sqrt(max(1.0 - cos_theta * cos_theta, 0.0));
    let phi = TAU_RADIANS * u_phi;
    let sp = sin(phi);
    let cp = cos(phi);
    let r = max(1.0 - d.z * d.z, 0.0);
    var out: vec3<f32>;
    if (r > 1e-10) {
        let s = sqrt(r);
        out = vec3<f32>(
            d.x * cos_theta + sin_t * (d.x * d.z * cp - d.y * sp) / s,
            d.y * cos_theta + sin_t * (d.y * d.z * cp + d.x * sp) / s,
            d.z * cos_theta - sin_t * s * cp,
        );
    } else {
        let sign = select(-1.0, 1.0, d.z >= 0.0);
        out = vec3<f32>(sin_t * cp, sin_t * sp, sign * cos_theta);
    }
    return normalise(out);
}
