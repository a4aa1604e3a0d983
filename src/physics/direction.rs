//! Directions: isotropic sampling and rotation by a polar and an azimuthal angle.
//! WGSL twin: `shaders/shared/direction.wgsl`.

/// An isotropic unit vector from two uniforms.
#[inline]
pub fn isotropic(u1: f32, u2: f32) -> [f32; 3] {
    let cos_t = 2.0 * u1 - 1.0;
    let sin_t = (1.0 - cos_t * cos_t).max(0.0).sqrt();
    let phi = std::f32::consts::TAU * u2;
    [sin_t * phi.cos(), sin_t * phi.sin(), cos_t]
}

/// Rotates unit vector `d` by polar angle θ (given as cos θ) and azimuth φ = 2π·`u_phi`
/// about itself (the standard frame change, e.g. PENELOPE 2014 eq. 1.131).
#[inline]
pub fn rotate(d: [f32; 3], cos_theta: f32, u_phi: f32) -> [f32; 3] {
    let sin_t = (1.0 - cos_theta * cos_theta).max(0.0).sqrt();
    let phi = std::f32::consts::TAU * u_phi;
    let (sp, cp) = phi.sin_cos();
    let [ux, uy, uz] = d;
    let r = (1.0 - uz * uz).max(0.0);
    let out = if r > 1e-10 {
        let s = r.sqrt();
        [
            ux * cos_theta + sin_t * (ux * uz * cp - uy * sp) / s,
            uy * cos_theta + sin_t * (uy * uz * cp + ux * sp) / s,
            uz * cos_theta - sin_t * s * cp,
        ]
    } else {
        let sign = if uz >= 0.0 { 1.0 } else { -1.0 };
        [sin_t * cp, sin_t * sp, sign * cos_theta]
    };
    normalise(out)
}

/// Scales to unit length (keeps rounding from accumulating over many rotations).
#[inline]
pub fn normalise(v: [f32; 3]) -> [f32; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    [v[0] / n, v[1] / n, v[2] / n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_polar_angle() {
        for &d in &[
            [0.0, 0.0, 1.0],
            [0.0, 0.0, -1.0],
            normalise([0.3, -0.5, 0.8]),
        ] {
            for &c in &[-0.9f32, -0.2, 0.0, 0.5, 0.99] {
                let r = rotate(d, c, 0.37);
                let dot = r[0] * d[0] + r[1] * d[1] + r[2] * d[2];
                assert!((dot - c).abs() < 1e-5, "d={d:?} c={c} dot={dot}");
            }
        }
    }
}
