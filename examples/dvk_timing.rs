//! Times the dose-voxel-kernel convolution (`voxdose run --method dvk`) on the grid issue 28
//! names: a 256×256×200 source in which every voxel holds activity (the worst case: no line of
//! the padded volume is zero). Two timings, five repeats each (the first also faults the
//! buffers in):
//! - `fft_convolve` with a 41×41×41 kernel, the near part `--method dvk` uses at patient
//!   voxel sizes;
//! - the whole DVK sum, near part and far field (the photon tail to 250 mm on blocks of about
//!   8 mm), at patient15-256's voxel size (1.648 × 1.068 × 1.989 mm), with a synthetic
//!   kernel of the real one's shape.
//!
//! ```sh
//! cargo run --release --example dvk_timing
//! ```

use std::time::Instant;
use voxdose::run::dvk::{
    fft_convolve, Kernel, KernelKey, RadialProfile, TAIL_REACH_MM, TAIL_VOXEL_MM,
};

fn main() {
    let da = [256usize, 256, 200];
    let dk = [41usize, 41, 41];
    let a: Vec<f64> = (0..da.iter().product::<usize>())
        .map(|v| 1.0 + (v % 97) as f64 * 1e-3)
        .collect();
    let k: Vec<f32> = (0..dk.iter().product::<usize>())
        .map(|v| 1.0 / (1.0 + (v % 41) as f32))
        .collect();
    println!(
        "rayon threads: {}; source {da:?}, kernel {dk:?}",
        rayon::current_num_threads()
    );
    for _ in 0..5 {
        let t = Instant::now();
        let out = fft_convolve(&a, da, &k, dk);
        println!(
            "fft_convolve: {:.3} s (checksum {:.6e})",
            t.elapsed().as_secs_f64(),
            out.iter().sum::<f64>()
        );
    }
    let kernel = synthetic_kernel(k);
    for _ in 0..5 {
        let t = Instant::now();
        let (near, nd) = kernel.near();
        let mut out = fft_convolve(&a, da, &near, nd);
        let far = kernel.far_field(&a, da);
        out.iter_mut().zip(&far).for_each(|(x, f)| *x += f);
        println!(
            "near + far field: {:.3} s (checksum {:.6e})",
            t.elapsed().as_secs_f64(),
            out.iter().sum::<f64>()
        );
    }
}

/// A kernel of patient15-256's voxel size: the cube given, a 1/r² tail attenuated over 70 mm.
fn synthetic_kernel(cube: Vec<f32>) -> Kernel {
    let shells = (TAIL_REACH_MM / TAIL_VOXEL_MM) as usize + 1;
    let r_mm: Vec<f64> = (0..shells).map(|s| TAIL_VOXEL_MM * s as f64).collect();
    Kernel {
        key: KernelKey {
            nuclide: "Lu-177".into(),
            material: "soft-tissue".into(),
            density_g_cm3: 1.0,
            spacing_mm: [1.648, 1.068, 1.989],
            half_voxels: [20, 20, 20],
            cutoffs_kev: [10.0, 10.0],
            decays: 0,
            tail_reach_mm: TAIL_REACH_MM,
            tail_decays: 0,
            voxdose_version: "timing".into(),
        },
        provenance: "synthetic".into(),
        dose_gy_per_decay: cube,
        tail: RadialProfile {
            dose_gy_per_decay: r_mm
                .iter()
                .map(|&r| (-r / 70.0).exp() / (r * r).max(1.0))
                .collect(),
            r_mm,
        },
    }
}
