//! PCG32 (XSH-RR 64/32, O'Neill 2014), one independent stream per history.
//!
//! Bit-identical to `rand_pcg::Pcg32::new(seed, stream)` and to the WGSL twin in
//! `shaders/shared/rng.wgsl`, which keeps the 64-bit state as two u32 halves because core WGSL
//! has no u64. Streams are chosen by (run seed, history index), never by thread, so a run is
//! reproducible whatever the thread count or device (OpenMC's habit).

const MULTIPLIER: u64 = 6364136223846793005;

/// A PCG32 generator.
#[derive(Clone, Copy, Debug)]
pub struct Pcg32 {
    state: u64,
    increment: u64,
}

impl Pcg32 {
    /// The generator for `stream` under `seed` (same construction as `rand_pcg::Pcg32::new`).
    pub fn new(seed: u64, stream: u64) -> Self {
        let increment = (stream << 1) | 1;
        let mut rng = Pcg32 {
            state: seed.wrapping_add(increment),
            increment,
        };
        rng.step();
        rng
    }

    #[inline]
    fn step(&mut self) {
        self.state = self
            .state
            .wrapping_mul(MULTIPLIER)
            .wrapping_add(self.increment);
    }

    /// Next 32 random bits.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.step();
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rot = (old >> 59) as u32;
        xorshifted.rotate_right(rot)
    }

    /// Uniform in the open interval (0, 1), 24-bit resolution: `(top 24 bits + 0.5) / 2^24`.
    ///
    /// Never 0 or 1, so `ln(u)` and `ln(1 − u)` are always finite. Same formula in WGSL.
    #[inline]
    pub fn uniform(&mut self) -> f32 {
        ((self.next_u32() >> 8) as f32 + 0.5) * (1.0 / 16_777_216.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    #[test]
    fn matches_rand_pcg_across_the_increment_carry() {
        // Streams around 2^31 make (stream << 1) | 1 cross 2^32: the case the WGSL u32-pair
        // arithmetic must carry correctly (../shared/docs/WGPU.md §5.1).
        for stream in (0x7fff_f000u64..0x8000_1000)
            .step_by(97)
            .chain([0, 1, u32::MAX as u64])
        {
            let mut ours = Pcg32::new(0xdead_beef_1234, stream);
            let mut reference = rand_pcg::Pcg32::new(0xdead_beef_1234, stream);
            for _ in 0..8 {
                assert_eq!(ours.next_u32(), reference.next_u32(), "stream {stream}");
            }
        }
    }

    #[test]
    fn uniform_is_open_and_centred() {
        let mut r = Pcg32::new(7, 3);
        let n = 200_000;
        let mut sum = 0.0f64;
        for _ in 0..n {
            let u = r.uniform();
            assert!(u > 0.0 && u < 1.0);
            sum += u as f64;
        }
        // Mean of U(0,1) is 1/2 with σ = sqrt(1/12/n); 4σ ≈ two-sided 6e-5 false alarm.
        let sigma = (1.0 / 12.0 / n as f64).sqrt();
        assert!((sum / n as f64 - 0.5).abs() < 4.0 * sigma);
    }
}
