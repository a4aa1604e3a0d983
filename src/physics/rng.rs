//! PCG32 (XSH-RR 64/32, O'Neill 2014), one independent stream per history and particle.
//!
//! Stream (seed, s) is the PCG32 generator with increment 2s + 1 whose state starts at the
//! (s + 1)-th output of SplitMix64 seeded with `seed` ([`stream_start`]; Steele, Lea & Flood
//! 2014, "Fast splittable pseudorandom number generators", OOPSLA), then steps as
//! `rand_pcg::Pcg32::new(stream_start(seed, s), s)` does, bit for bit. The WGSL twin in
//! `shaders/shared/rng.wgsl` keeps the 64-bit state as two u32 halves because core WGSL has no
//! u64. Streams are chosen by (run seed, history, particle), never by thread, so a run is
//! reproducible whatever the thread count or device (OpenMC's habit).
//!
//! Why the hashed start: PCG streams that differ only in their increment and start from
//! nearly the same state (`rand_pcg::Pcg32::new(seed, s)` for s = 0, 1, 2, …, the
//! construction used before) are correlated: between streams s and s + 2, the first eight
//! uniforms have cross-correlations up to 0.078 over 2^20 stream pairs, 80 times the
//! sampling noise (test `adjacent_streams_are_uncorrelated`). Consecutive histories and the
//! particles of one decay use adjacent streams, so their directions and energies were
//! correlated. Starting each stream at a SplitMix64 output removes it (max 0.003, the noise).

const MULTIPLIER: u64 = 6364136223846793005;

/// SplitMix64's increment (the golden ratio · 2^64, odd).
const SPLITMIX_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (Stafford's "Mix13" variant of the MurmurHash3 finaliser).
pub fn splitmix64_mix(z: u64) -> u64 {
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The start state of stream `stream` under `seed`: output number `stream + 1` of SplitMix64
/// seeded with `seed`.
pub fn stream_start(seed: u64, stream: u64) -> u64 {
    splitmix64_mix(seed.wrapping_add(stream.wrapping_add(1).wrapping_mul(SPLITMIX_GAMMA)))
}

/// A PCG32 generator.
#[derive(Clone, Copy, Debug)]
pub struct Pcg32 {
    state: u64,
    increment: u64,
}

impl Pcg32 {
    /// The generator for `stream` under `seed`: `rand_pcg::Pcg32::new(stream_start(seed,
    /// stream), stream)`.
    pub fn new(seed: u64, stream: u64) -> Self {
        let increment = (stream << 1) | 1;
        let mut rng = Pcg32 {
            state: stream_start(seed, stream).wrapping_add(increment),
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
            let mut reference =
                rand_pcg::Pcg32::new(stream_start(0xdead_beef_1234, stream), stream);
            for _ in 0..8 {
                assert_eq!(ours.next_u32(), reference.next_u32(), "stream {stream}");
            }
        }
    }

    #[test]
    fn stream_start_is_splitmix64() {
        // SplitMix64 seeded with 1477776061723855037: its first outputs from Vigna's reference
        // splitmix64.c (prng.di.unimi.it), as listed in the reference test of the
        // `rand_xoshiro` crate (src/splitmix64.rs).
        let expected = [
            1985237415132408290u64,
            2979275885539914483,
            13511426838097143398,
            8488337342461049707,
            15141737807933549159,
        ];
        for (s, &e) in expected.iter().enumerate() {
            assert_eq!(
                stream_start(1477776061723855037, s as u64),
                e,
                "output {}",
                s + 1
            );
        }
    }

    /// Streams s and s + d for d = 1, 2, 128 (the next history's particle k) and 256: the
    /// correlation of output i of one with output j of the other, for all 8 × 8 (i, j), over
    /// 2^18 stream pairs. Each is ≈ N(0, 1/n); the bound 6/√n keeps the false-alarm rate of
    /// the 256 tests below 1e-6. The construction without the hashed start fails it by far
    /// (0.078 for d = 2, i.e. 40/√n).
    #[test]
    fn adjacent_streams_are_uncorrelated() {
        let n = 1usize << 18;
        let k = 8;
        let draws = |stream: u64| {
            let mut r = Pcg32::new(1, stream);
            [(); 8].map(|_| r.uniform() as f64 - 0.5)
        };
        for d in [1u64, 2, 128, 256] {
            let mut cross = vec![0.0f64; k * k];
            let (mut sa, mut sb) = (vec![0.0f64; k], vec![0.0f64; k]);
            for p in 0..n as u64 {
                let s = 1000 + 896 * p;
                let (a, b) = (draws(s), draws(s + d));
                for i in 0..k {
                    sa[i] += a[i];
                    sb[i] += b[i];
                    for j in 0..k {
                        cross[i * k + j] += a[i] * b[j];
                    }
                }
            }
            let nf = n as f64;
            let var = 1.0 / 12.0;
            for i in 0..k {
                for j in 0..k {
                    let cov = cross[i * k + j] / nf - (sa[i] / nf) * (sb[j] / nf);
                    let r = cov / var;
                    assert!(
                        r.abs() < 6.0 / nf.sqrt(),
                        "streams s, s + {d}: output {i} vs {j} correlated, r = {r:.4}"
                    );
                }
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
