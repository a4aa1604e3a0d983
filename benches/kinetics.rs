//! Kinetics benchmarks (criterion), one group per stage:
//! - `kinetics/voxel_fit`: voxel-wise uptake–washout (bi-exponential in uptake form) fits of
//!   a 128³ volume with 4 time points (4, 24, 72, 168 h), every voxel active, 5 % noise;
//!   throughput in voxels. Target from the issue: < 2 s on 2 cores.
//! - `kinetics/voxel_fit_full_lm_reference`: the same volume through the full
//!   Levenberg–Marquardt fit over (A, λ, δ) with the old voxel stopping rules
//!   (`voxel::fit_voxel_tac_full_lm`), for a same-conditions comparison.
//! - `kinetics/region_fit`: one region TAC (6 points) with all models and AICc selection.
//!
//! Run: `cargo bench --bench kinetics`; set RAYON_NUM_THREADS=2 to match the 2-core target.

#![expect(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rayon::prelude::*;
use std::f64::consts::LN_2;
use voxdose::kinetics::fit::{fit_tac, FitOptions, Tac};
use voxdose::kinetics::lm::LmOptions;
use voxdose::kinetics::models::TacModel;
use voxdose::kinetics::voxel::{fit_voxel_tac_full_lm, fit_voxels};
use voxdose::physics::rng::Pcg32;

/// 177Lu, T½ = 6.647 d (ICRP-107), in 1/h.
const LAMBDA_PHYS: f64 = LN_2 / (6.647 * 24.0);
const TIMES_H: [f64; 4] = [4.0, 24.0, 72.0, 168.0];

fn normal(rng: &mut Pcg32) -> f64 {
    let u1 = (rng.next_u32() as f64 + 0.5) / 4294967296.0;
    let u2 = (rng.next_u32() as f64 + 0.5) / 4294967296.0;
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Frames of a 128³ volume whose voxels carry varied uptake–washout kinetics.
fn frames(n: usize) -> Vec<Vec<f32>> {
    let mut rng = Pcg32::new(2026, 1);
    let mut out = vec![vec![0.0f32; n * n * n]; TIMES_H.len()];
    for v in 0..n * n * n {
        let (i, j, k) = (v % n, (v / n) % n, v / (n * n));
        let p = [
            1.0e4 * (1.5 + (i as f64 * 0.1).sin()),
            LAMBDA_PHYS + 0.005 * (1 + j % 7) as f64,
            0.1 + 0.1 * (k % 5) as f64,
        ];
        for (f, &t) in out.iter_mut().zip(&TIMES_H) {
            let a = TacModel::UptakeWashout.eval(&p, t, None);
            f[v] = (a * (1.0 + 0.05 * normal(&mut rng))) as f32;
        }
    }
    out
}

fn voxel_fit(c: &mut Criterion) {
    let n = 128;
    let data = frames(n);
    let refs: Vec<&[f32]> = data.iter().map(Vec::as_slice).collect();
    let mut g = c.benchmark_group("kinetics");
    g.sample_size(10);
    g.throughput(Throughput::Elements((n * n * n) as u64));
    g.bench_function("voxel_fit_uptake_washout_128cubed_4tp", |b| {
        b.iter(|| fit_voxels(&refs, &TIMES_H, TacModel::UptakeWashout, 0.05, LAMBDA_PHYS))
    });
    // The stopping rules `VOXEL_LM` of src/kinetics/voxel.rs; if changing, also change there.
    let opts = LmOptions {
        max_iter: 40,
        rel_tol: 1e-6,
        param_tol: 1e-4,
    };
    g.bench_function("voxel_fit_full_lm_reference_128cubed_4tp", |b| {
        b.iter(|| {
            (0..n * n * n)
                .into_par_iter()
                .with_min_len(4096)
                .map(|v| {
                    let y: [f64; 4] = [0, 1, 2, 3].map(|i| refs[i][v] as f64);
                    fit_voxel_tac_full_lm(
                        TacModel::UptakeWashout,
                        &TIMES_H,
                        &y,
                        0.05,
                        LAMBDA_PHYS,
                        opts,
                    )
                    .tia_bq_h
                })
                .sum::<f64>()
        })
    });
    g.finish();
}

fn region_fit(c: &mut Criterion) {
    let times = [1.0, 4.0, 24.0, 48.0, 96.0, 168.0];
    let p = [5.0e8, 0.015, 0.3];
    let activity: Vec<f64> = times
        .iter()
        .map(|&t| TacModel::UptakeWashout.eval(&p, t, None))
        .collect();
    let tac = Tac {
        time_h: times.to_vec(),
        sigma: activity.iter().map(|a| 0.05 * a).collect(),
        activity,
    };
    let mut g = c.benchmark_group("kinetics");
    g.bench_function("region_fit_all_models_6tp", |b| {
        b.iter(|| fit_tac(&tac, LAMBDA_PHYS, &FitOptions::default(), "region").unwrap())
    });
    g.finish();
}

criterion_group!(benches, voxel_fit, region_fit);
criterion_main!(benches);
