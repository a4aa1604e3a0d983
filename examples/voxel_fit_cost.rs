//! Cost of one uptake–washout voxel fit on one thread, on voxels of `benches/kinetics.rs`'s
//! kind (4 scans at 4, 24, 72, 168 h, 5 % noise), sampled across the benchmark's volume.
//! Prints ns per voxel, the minimum over repeats, for the default path (`fit_voxel_tac`)
//! and the full Levenberg–Marquardt reference. Made for `valgrind --tool=callgrind`
//! instruction counts and for side-by-side timings on a loaded machine.
//!
//! Run: `cargo run --release --example voxel_fit_cost -- [voxels] [repeats] [which]`, which =
//! `both` (default), `fast` or `full`; or `-- volume [repeats] [side]` for the whole 128³
//! volume (or side³) through `fit_voxels` (note: the voxels are the benchmark's kind, not its
//! exact noise draws; a smaller side keeps callgrind runs short); or `-- digest [voxels]` for a
//! checksum of the bits of every result (Ã, σ, WRSS, status) over the benchmark's voxels and
//! wider kinetics, to check that a change to the fit keeps its results bit-identical.

use std::f64::consts::LN_2;
use std::hint::black_box;
use std::time::Instant;
use voxdose::kinetics::lm::LmOptions;
use voxdose::kinetics::models::TacModel;
use voxdose::kinetics::voxel::{fit_voxel_tac, fit_voxel_tac_full_lm, fit_voxels};
use voxdose::physics::rng::Pcg32;

/// 177Lu, T½ = 6.647 d (ICRP-107), in 1/h.
const LAMBDA_PHYS: f64 = LN_2 / (6.647 * 24.0);
const TIMES_H: [f64; 4] = [4.0, 24.0, 72.0, 168.0];

fn normal(rng: &mut Pcg32) -> f64 {
    let u1 = (rng.next_u32() as f64 + 0.5) / 4294967296.0;
    let u2 = (rng.next_u32() as f64 + 0.5) / 4294967296.0;
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `count` voxel TACs with the parameters of the benchmark's voxels at positions spread over
/// its 128³ volume (same formulas as `benches/kinetics.rs`), f32-rounded like its frames.
fn voxels(count: usize) -> Vec<[f64; 4]> {
    let n = 128usize;
    let mut rng = Pcg32::new(2026, 1);
    (0..count)
        .map(|c| {
            let v = (c * 104_729) % (n * n * n);
            let (i, j, k) = (v % n, (v / n) % n, v / (n * n));
            let p = [
                1.0e4 * (1.5 + (i as f64 * 0.1).sin()),
                LAMBDA_PHYS + 0.005 * (1 + j % 7) as f64,
                0.1 + 0.1 * (k % 5) as f64,
            ];
            TIMES_H.map(|t| {
                let a = TacModel::UptakeWashout.eval(&p, t, None);
                (a * (1.0 + 0.05 * normal(&mut rng))) as f32 as f64
            })
        })
        .collect()
}

/// The benchmark's whole 128³ volume (`side`³ voxels of it) through `fit_voxels` (rayon; set
/// RAYON_NUM_THREADS), seconds per run, the minimum over `repeats`.
fn volume(repeats: usize, side: usize) {
    let n = side;
    let data = voxels(n * n * n);
    let frames: Vec<Vec<f32>> = (0..4)
        .map(|i| data.iter().map(|y| y[i] as f32).collect())
        .collect();
    let refs: Vec<&[f32]> = frames.iter().map(Vec::as_slice).collect();
    let mut best = f64::INFINITY;
    for _ in 0..repeats {
        let t = Instant::now();
        let r = fit_voxels(&refs, &TIMES_H, TacModel::UptakeWashout, 0.05, LAMBDA_PHYS);
        best = best.min(t.elapsed().as_secs_f64());
        black_box(r);
    }
    println!(
        "fit_voxels {n}³: {best:.3} s (min of {repeats}), {} threads",
        rayon::current_num_threads()
    );
}

/// Voxel TACs of wider kinetics than the benchmark's: δ log-uniform over 0.02–20/h, λ up to
/// 0.1/h above λ_phys, 5–20 % noise, 4 to 6 scans; every fourth a pure mono-exponential.
fn wide_voxels(count: usize) -> Vec<(Vec<f64>, Vec<f64>, f64)> {
    let mut rng = Pcg32::new(77, 3);
    let schedules: [&[f64]; 3] = [
        &TIMES_H,
        &[1.0, 4.0, 24.0, 72.0, 168.0],
        &[2.0, 6.0, 20.0, 50.0, 100.0, 200.0],
    ];
    (0..count)
        .map(|c| {
            let mut u = || (rng.next_u32() as f64 + 0.5) / 4294967296.0;
            let t = schedules[c % 3];
            let p = [
                1.0e4 * (0.5 + 2.0 * u()),
                LAMBDA_PHYS + 0.1 * u(),
                0.02 * 1000f64.powf(u()),
            ];
            let rel = 0.05 + 0.15 * u();
            let y = t
                .iter()
                .map(|&t| {
                    let truth = if c % 4 == 3 {
                        TacModel::MonoExp.eval(&p[..2], t, None)
                    } else {
                        TacModel::UptakeWashout.eval(&p, t, None)
                    };
                    truth * (1.0 + rel * normal(&mut rng))
                })
                .collect();
            (t.to_vec(), y, rel)
        })
        .collect()
}

/// FNV-1a over the bits of every result of `fit_voxel_tac` on `count` benchmark voxels and
/// `count` wider ones, and of `fit_voxels` on the benchmark voxels.
fn digest(count: usize) {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |r: &voxdose::kinetics::voxel::VoxelTia| {
        for x in [
            r.tia_bq_h.to_bits(),
            r.sigma_bq_h.to_bits(),
            r.wrss.to_bits(),
            r.status as u64,
        ] {
            h = (h ^ x).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    let data = voxels(count);
    for y in &data {
        eat(&fit_voxel_tac(
            TacModel::UptakeWashout,
            &TIMES_H,
            y,
            0.05,
            LAMBDA_PHYS,
        ));
    }
    for (t, y, rel) in wide_voxels(count) {
        eat(&fit_voxel_tac(
            TacModel::UptakeWashout,
            &t,
            &y,
            rel,
            LAMBDA_PHYS,
        ));
    }
    let frames: Vec<Vec<f32>> = (0..4)
        .map(|i| data.iter().map(|y| y[i] as f32).collect())
        .collect();
    let refs: Vec<&[f32]> = frames.iter().map(Vec::as_slice).collect();
    for r in fit_voxels(&refs, &TIMES_H, TacModel::UptakeWashout, 0.05, LAMBDA_PHYS) {
        eat(&r);
    }
    println!("digest of {count} + {count} + {count} voxel fits: {h:016x}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("volume") {
        volume(
            args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3),
            args.get(3).and_then(|s| s.parse().ok()).unwrap_or(128),
        );
        return;
    }
    if args.get(1).map(String::as_str) == Some("digest") {
        digest(args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200_000));
        return;
    }
    let count: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let repeats: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let which = args.get(3).map_or("both", String::as_str);
    let data = voxels(count);
    let lm = LmOptions {
        max_iter: 40,
        rel_tol: 1e-6,
        param_tol: 1e-4,
    };
    let mut best = [f64::INFINITY; 2];
    let mut sums = [0.0; 2];
    for _ in 0..repeats {
        for (k, name) in ["fast", "full"].iter().enumerate() {
            if which != "both" && which != *name {
                continue;
            }
            let t = Instant::now();
            let mut s = 0.0;
            for y in &data {
                let r = if k == 0 {
                    fit_voxel_tac(TacModel::UptakeWashout, &TIMES_H, y, 0.05, LAMBDA_PHYS)
                } else {
                    fit_voxel_tac_full_lm(
                        TacModel::UptakeWashout,
                        &TIMES_H,
                        y,
                        0.05,
                        LAMBDA_PHYS,
                        lm,
                    )
                };
                s += black_box(r).tia_bq_h;
            }
            best[k] = best[k].min(t.elapsed().as_secs_f64() * 1e9 / count as f64);
            sums[k] = s;
        }
    }
    for (k, name) in ["fit_voxel_tac (default)", "fit_voxel_tac_full_lm"]
        .iter()
        .enumerate()
    {
        if best[k].is_finite() {
            println!(
                "{name}: {:.0} ns/voxel (min of {repeats}), ΣÃ = {:.6e}",
                best[k], sums[k]
            );
        }
    }
}
