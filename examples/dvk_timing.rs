//! Times the dose-voxel-kernel convolution (`voxdose run --method dvk`) on the grid issue 28
//! names: a 256×256×200 source in which every voxel holds activity (the worst case: no line of
//! the padded volume is zero) with a 41×41×41 kernel, the size `--method dvk` uses at
//! patient voxel sizes. Five repeats; the first one also faults the buffers in.
//!
//! ```sh
//! cargo run --release --example dvk_timing
//! ```

use std::time::Instant;
use voxdose::run::dvk::fft_convolve;

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
}
