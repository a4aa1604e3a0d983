//! Dose-voxel-kernel convolution (`--method dvk`) against Monte Carlo in a homogeneous
//! soft-tissue, patient-like phantom: in a homogeneous medium far from its edges the dose is
//! exactly the activity convolved with the voxel S-value kernel (superposition; MIRD Pamphlet
//! 17), so the two may differ only by the MC noise of each and by the photons the phantom's
//! finite size lets escape. The kernel is that of a medium ±250 mm wide (its photon tail),
//! so the phantom's 192 × 160 × 160 mm patient sits in a 400 mm cube of the same tissue;
//! 177Lu's photons carry 35 of its 183 keV per decay, mostly far away. Voxels above 10 % of
//! the maximum must agree within 3 % (the bound) plus 4σ of the MC; their mean
//! difference within 3 %.

mod common;

use voxdose::geometry::{Grid, VoxelModel};
use voxdose::run::dvk::{convolve_dose, kernel_key, local_deposition, make_kernel};
use voxdose::run::{Problem, ProblemKind};
use voxdose::source::SourceSpec;
use voxdose::transport::{Device, Silent};

/// The patient's corner in the 400 mm cube, voxels.
const SHIFT: [usize; 3] = [26, 30, 30];

fn patient_like() -> Problem {
    let grid = Grid::centred([100, 100, 100], 4.0);
    let mut model = VoxelModel::homogeneous(grid.clone(), "soft-tissue", 1.0);
    model.regions = Vec::new();
    // A "liver" sphere (r 24 mm), a hot "tumour" (r 10 mm, 4× the concentration) and a
    // background (2 %) in an elliptic "body" cylinder along k.
    let weights: Vec<f32> = (0..grid.n_voxels())
        .map(|v| {
            let ijk = grid.ijk(v);
            let c = [0, 1, 2].map(|a| (ijk[a] as f64 - SHIFT[a] as f64 + 0.5) * 4.0);
            let d = |p: [f64; 3]| {
                ((c[0] - p[0]).powi(2) + (c[1] - p[1]).powi(2) + (c[2] - p[2]).powi(2)).sqrt()
            };
            let body = ((c[0] - 96.0) / 88.0).powi(2) + ((c[1] - 80.0) / 72.0).powi(2) <= 1.0
                && (0.0..160.0).contains(&c[2]);
            if d([108.0, 80.0, 80.0]) <= 10.0 {
                4.0
            } else if d([76.0, 80.0, 80.0]) <= 24.0 {
                1.0
            } else if body {
                0.02
            } else {
                0.0
            }
        })
        .collect();
    Problem {
        name: "patient-like".into(),
        description: "homogeneous soft tissue".into(),
        model,
        source: SourceSpec::Voxels { weights },
        settings: common::settings(4_000_000, 31),
        tia_bq_s: None,
        dose_to: Default::default(),
        kind: ProblemKind::Phantom,
    }
}

#[test]
fn dvk_matches_monte_carlo_in_a_homogeneous_patient_like_phantom() {
    let p = patient_like();
    let mc =
        voxdose::transport::simulate(&p.model, &p.source, &p.settings, &Device::Cpu, &mut Silent)
            .unwrap();
    let mut key = kernel_key(&p).unwrap();
    // The kernel's medium is the phantom's: the same material at its nominal density.
    assert_eq!(
        (key.material.as_str(), key.density_g_cm3),
        ("soft-tissue", 1.0)
    );
    key.decays = 1_000_000;
    let kernel = make_kernel(&key, &Device::Cpu).unwrap();
    let dvk = convolve_dose(&p, &kernel, false);
    let max = mc.dose_gy_per_decay.iter().cloned().fold(0.0, f64::max);
    if std::env::var_os("DVK_DEBUG").is_some() {
        for k in 16..28 {
            let v = p
                .model
                .grid
                .index(SHIFT[0] + 19, SHIFT[1] + 20, SHIFT[2] + k);
            eprintln!(
                "k {k}: dvk {:.4e} mc {:.4e} w {}",
                dvk[v],
                mc.dose_gy_per_decay[v],
                match &p.source {
                    SourceSpec::Voxels { weights } => weights[v],
                    _ => 0.0,
                }
            );
        }
        let kd = kernel.dims();
        let c = kd[0] / 2;
        for i in c..c + 5 {
            eprintln!(
                "kernel {}: {:.4e}",
                i - c,
                kernel.dose_gy_per_decay[i + kd[0] * (c + kd[1] * c)]
            );
        }
    }
    // The energy deposited in the cube per decay: the kernel carries the photons to 250 mm, so
    // it keeps what MC keeps (within 1 %: the MC's cube reaches 120–280 mm beyond the
    // activity, the kernel 250 mm around each source voxel).
    let energy_kev = |d: &[f64]| {
        (0..d.len())
            .map(|v| d[v] * p.model.voxel_mass_kg(v))
            .sum::<f64>()
            / voxdose::tally::J_PER_KEV
    };
    let (e_dvk, e_mc) = (energy_kev(&dvk), energy_kev(&mc.dose_gy_per_decay));
    eprintln!("energy kept: dvk {e_dvk:.2} keV, mc {e_mc:.2} keV per decay");
    assert!((e_dvk / e_mc - 1.0).abs() < 0.01, "{e_dvk} vs {e_mc} keV");
    let (mut n, mut sum_abs, mut sum, mut worst) = (0usize, 0.0, 0.0, 0.0f64);
    for v in 0..dvk.len() {
        let (a, b) = (dvk[v], mc.dose_gy_per_decay[v]);
        if b < 0.1 * max {
            continue;
        }
        let rel = a / b - 1.0;
        let sigma = f64::from(mc.rel_uncertainty[v]);
        n += 1;
        sum_abs += rel.abs();
        sum += rel;
        worst = worst.max(rel.abs());
        assert!(
            rel.abs() < 0.03 + 4.0 * sigma,
            "voxel {:?}: dvk {a:.4e} vs mc {b:.4e} Gy/decay ({:+.2} %, σ {:.2} %)",
            p.model.grid.ijk(v),
            100.0 * rel,
            100.0 * sigma
        );
    }
    let (bias, mean_abs) = (sum / n as f64, sum_abs / n as f64);
    eprintln!(
        "dvk vs mc over {n} voxels above 10 % of max: mean Δ {:+.2} %, mean |Δ| {:.2} % (mostly the MC's own noise), worst {:.2} %",
        100.0 * bias,
        100.0 * mean_abs,
        100.0 * worst
    );
    // The mean difference is the method's: the MC noise averages out over ~1000 voxels.
    assert!(n > 100 && bias.abs() < 0.03, "{n} voxels, mean Δ {bias}");
    // Local deposition keeps the electron energy where it was emitted: in the middle of the
    // uniform "liver" (2 voxels of 4 mm ≫ the 1.8 mm β range from its edge) it agrees with MC
    // to the photon share of the dose (≲ 15 % for 177Lu), never above it.
    let ldm = local_deposition(&p);
    let v = p
        .model
        .grid
        .index(SHIFT[0] + 19, SHIFT[1] + 20, SHIFT[2] + 20);
    let ratio = ldm[v] / mc.dose_gy_per_decay[v];
    eprintln!("ldm/mc in the liver: {ratio:.4}");
    assert!(
        ratio > 0.8 && ratio < 1.0 + 4.0 * f64::from(mc.rel_uncertainty[v]),
        "{ratio}"
    );
}

/// The kernel's photon tail: past its Monte Carlo cube (±64 mm at 8 mm voxels) the kernel is
/// the radial dose profile of a point source. In a homogeneous medium about as wide as the
/// tail's own box (±244 mm here, ±252.5 mm there), superposition makes DVK equal MC far
/// from the activity too: in shells 30–180 mm from a 177Lu sphere (r 24 mm), where only
/// photons reach, the mean doses agree within 5 % plus 3σ of the MC (the tail is
/// shell-averaged on 5 mm voxels and sampled at 8 mm ones; both boxes lose the backscatter
/// beyond their faces, which are ≥ 64 mm from the shells compared). Before the tail the
/// kernel stopped at 64 mm and the shells beyond got no dose at all.
#[test]
fn dvk_photon_tail_matches_monte_carlo_far_from_the_source() {
    let voxel = 8.0;
    let grid = Grid::centred([61, 61, 61], voxel);
    let mut model = VoxelModel::homogeneous(grid.clone(), "soft-tissue", 1.0);
    model.regions = Vec::new();
    let centre = 30.5 * voxel;
    let distance = |v: usize| {
        let c = grid.ijk(v).map(|i| (i as f64 + 0.5) * voxel - centre);
        (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt()
    };
    let weights: Vec<f32> = (0..grid.n_voxels())
        .map(|v| if distance(v) <= 24.0 { 1.0 } else { 0.0 })
        .collect();
    let p = Problem {
        name: "far field".into(),
        description: "homogeneous soft tissue".into(),
        model,
        source: SourceSpec::Voxels { weights },
        settings: common::settings(2_000_000, 41),
        tia_bq_s: None,
        dose_to: Default::default(),
        kind: ProblemKind::Phantom,
    };
    let key = kernel_key(&p).unwrap();
    assert_eq!(
        (key.material.as_str(), key.density_g_cm3),
        ("soft-tissue", 1.0)
    );
    assert_eq!(key.half_voxels, [8, 8, 8]);
    let kernel = make_kernel(&key, &Device::Cpu).unwrap();
    let dvk = convolve_dose(&p, &kernel, false);
    let mc =
        voxdose::transport::simulate(&p.model, &p.source, &p.settings, &Device::Cpu, &mut Silent)
            .unwrap();
    for (lo, hi) in [(30.0, 70.0), (70.0, 100.0), (100.0, 140.0), (140.0, 180.0)] {
        let shell: Vec<usize> = (0..grid.n_voxels())
            .filter(|&v| (lo..hi).contains(&distance(v)))
            .collect();
        let n = shell.len() as f64;
        let mean = |d: &[f64]| shell.iter().map(|&v| d[v]).sum::<f64>() / n;
        let (a, b) = (mean(&dvk), mean(&mc.dose_gy_per_decay));
        // σ of the shell mean, voxels taken as independent: an underestimate where
        // neighbouring voxels share photon tracks, which the 5 % allowance outweighs (σ is
        // about 0.2 % here).
        let sigma = shell
            .iter()
            .map(|&v| (mc.dose_gy_per_decay[v] * f64::from(mc.rel_uncertainty[v])).powi(2))
            .sum::<f64>()
            .sqrt()
            / n
            / b;
        let rel = a / b - 1.0;
        eprintln!(
            "shell {lo}–{hi} mm: dvk {a:.4e} mc {b:.4e} Gy/decay ({:+.2} %, σ {:.2} %)",
            100.0 * rel,
            100.0 * sigma
        );
        assert!(
            rel.abs() < 0.05 + 3.0 * sigma,
            "shell {lo}–{hi} mm: dvk {a:.4e} vs mc {b:.4e}"
        );
    }
}
