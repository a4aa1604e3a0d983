//! Bremsstrahlung validation (`physics::brems`, the CPU kernel `electron_track`):
//!
//! - the energy electrons give to bremsstrahlung photons while slowing down in water and
//!   cortical bone, against the radiation yield computed from ESTAR's stopping powers
//!   (`data/estar`, NIST ESTAR algorithm);
//! - the 90Y voxel S-value kernel of 4.8 mm voxels (`vsv` phantom, ICRP soft tissue):
//!   energy now reaches the voxels beyond the β range, carried by bremsstrahlung, and the
//!   energy radiated and escaping per decay agrees with the β spectrum folded with the yield.

mod common;

use common::homogeneous;
use voxdose::physics::brems::{continuous_stopping_power, BREMS_K_MIN_KEV};
use voxdose::physics::data::material_data;
use voxdose::physics::direction::isotropic;
use voxdose::physics::materials::material_index;
use voxdose::physics::rng::Pcg32;
use voxdose::physics::tables::UNITS_PER_KEV;
use voxdose::tally::EnergyTally;
use voxdose::transport::cpu::electron_track::electron_track;
use voxdose::transport::cpu::{Ctx, HistoryCounters, KernelInputs, Place};

/// The fraction of T₀ given to photons of k ≥ 10 keV while an electron slows down from T₀, on
/// the mean: (1/T₀) ∫ S_rad (1 − F_soft) / S_tot dT (the electron loses energy at S_tot on
/// average; trapezoid in ln T, 400 points).
fn hard_yield(material: &str, t0_kev: f64) -> f64 {
    let md = material_data(material_index(material).unwrap());
    let k = BREMS_K_MIN_KEV as f64;
    let f = |t: f64| {
        let e = &md.electron;
        let hard = e.s_col_at(t) + e.s_rad_at(t) - continuous_stopping_power(md, t, k);
        t * hard / e.s_tot_at(t)
    };
    let (a, b) = (k.ln(), t0_kev.ln());
    let n = 400;
    let h = (b - a) / n as f64;
    let sum: f64 = (0..n)
        .map(|i| 0.5 * h * (f((a + h * i as f64).exp()) + f((a + h * (i + 1) as f64).exp())))
        .sum();
    sum / t0_kev
}

/// Per-track radiated energy (keV) of `n` electrons of `t0_kev` from the centre of a large
/// homogeneous cube.
fn radiated_per_track(material: &str, density: f32, t0_kev: f32, n: u64) -> Vec<f64> {
    let (model, prep) = homogeneous(material, density, [21, 21, 21], 5.0);
    let tally = EnergyTally::new(model.grid.n_voxels());
    let mut counters = HistoryCounters::default();
    let mut ctx = Ctx {
        inp: KernelInputs {
            params: &prep.params,
            tables: &prep.tables,
            majorant: &prep.majorant,
            range_cutoff: &prep.range_cutoff,
            material: &model.material,
            density: &model.density_g_cm3,
            decay: &prep.decay,
            source: &prep.source,
        },
        tally: &tally,
        counters: &mut counters,
    };
    let place = Place::locate([52.5; 3], &prep.params).expect("centre is inside");
    let mut out = Vec::with_capacity(n as usize);
    for h in 0..n {
        let mut rng = Pcg32::new(28, h);
        let dir = isotropic(rng.uniform(), rng.uniform());
        let before = ctx.counters.radiated_units;
        let units = voxdose::physics::decay::to_units(t0_kev);
        electron_track(&mut ctx, place, dir, units, true, &mut rng);
        out.push((ctx.counters.radiated_units - before) as f64 / UNITS_PER_KEV as f64);
    }
    assert_eq!(ctx.counters.truncated_tracks, 0);
    out
}

#[test]
fn radiative_yield_of_electrons_matches_estar() {
    // ESTAR radiation yields Y(T₀) (data/estar, NIST ESTAR algorithm; water 1 MeV: 3.7e-3,
    // 2 MeV: 7.0e-3; cortical bone 1 MeV: 5.6e-3) include photons of every energy; the
    // kernel makes those of k ≥ 10 keV, the rest is continuous loss: its expected share is
    // `hard_yield` (the same stopping powers with the soft part, F_soft, taken out).
    for (material, density, t0) in [
        ("water", 1.0f32, 1000.0f32),
        ("water", 1.0, 2000.0),
        ("cortical-bone", 1.85, 1000.0),
    ] {
        let n = 50_000u64;
        let r = radiated_per_track(material, density, t0, n);
        let mean = r.iter().sum::<f64>() / n as f64;
        let var = r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let sigma = (var / n as f64).sqrt() / t0 as f64;
        let y_mc = mean / t0 as f64;
        let y_hard = hard_yield(material, t0 as f64);
        let md = material_data(material_index(material).unwrap());
        let y_estar = md.electron.radiation_yield_at(t0 as f64);
        eprintln!(
            "{material} {t0} keV: MC hard yield {y_mc:.5} ± {sigma:.5}, expected {y_hard:.5}; ESTAR Y (all k) {y_estar:.5}"
        );
        // k = 4 (two-sided 6e-5 for a correct kernel), plus 2 % for the mean-loss
        // approximation of `hard_yield` (the fluctuating discrete losses change the energy
        // at which later photons are made).
        assert!(
            (y_mc - y_hard).abs() < 4.0 * sigma + 0.02 * y_hard,
            "{material} {t0} keV: {y_mc} ± {sigma} vs {y_hard}"
        );
        // The soft part is a few per cent of the yield: the total stays ESTAR's.
        assert!(
            y_hard < y_estar && y_hard > 0.9 * y_estar,
            "{y_hard} vs {y_estar}"
        );
    }
}

/// ∫ N(E) · E · Y_hard(E) dE over the nuclide's β spectrum (keV per decay), trapezoid.
fn radiated_per_decay_kev(nuclide: &str, material: &str) -> f64 {
    let n = voxdose::physics::nuclide::Nuclide::load(nuclide).unwrap();
    let spec = n.beta_minus_spectrum.expect("a β⁻ emitter");
    // (E keV, N per keV per decay), as `Nuclide::beta_minus_spectrum` holds it.
    let g = |(t, n_per_kev): (f64, f64)| {
        if t <= BREMS_K_MIN_KEV as f64 {
            0.0
        } else {
            n_per_kev * t * hard_yield(material, t)
        }
    };
    spec.windows(2)
        .map(|w| 0.5 * (w[1].0 - w[0].0) * (g(w[0]) + g(w[1])))
        .sum()
}

#[test]
fn y90_voxel_kernel_has_a_bremsstrahlung_tail_beyond_the_beta_range() {
    let p = voxdose::phantoms::build(&voxdose::phantoms::PhantomSpec {
        name: "vsv".into(),
        voxel_mm: Some(4.8),
        grid: Some(11),
        material: Some("soft-tissue".into()),
        ..Default::default()
    })
    .unwrap();
    let decays = 20_000u64;
    let mut s = common::settings(decays, 90);
    s.nuclide = voxdose::physics::nuclide::Nuclide::load("Y-90").unwrap();
    let r = voxdose::transport::simulate(
        &p.model,
        &p.source,
        &s,
        &voxdose::transport::Device::Cpu,
        &mut voxdose::transport::Silent,
    )
    .unwrap();
    let per_decay = |units: u64| units as f64 / UNITS_PER_KEV as f64 / decays as f64;
    let radiated = per_decay(r.counters.radiated_units);
    let escaped = per_decay(r.energy.escaped_units);
    let expected = radiated_per_decay_kev("Y-90", "soft-tissue");
    // Voxels whose nearest point is 2.5 voxels (12 mm) from the source voxel: the CSDA range
    // of 90Y's 2.28 MeV endpoint in ICRP soft tissue is 1.10 g/cm² / 1.03 g/cm³ = 10.7 mm
    // (ESTAR), so only photons reach them.
    let g = &p.model.grid;
    let beyond: f64 = (0..g.n_voxels())
        .filter(|&v| g.ijk(v).iter().any(|&i| i.abs_diff(5) >= 3))
        .map(|v| r.dose_gy_per_decay[v] * p.model.voxel_mass_kg(v))
        .sum::<f64>()
        / 1.602_176_634e-16;
    eprintln!(
        "90Y VSV 4.8 mm: radiated {radiated:.3} keV/decay (β spectrum × yield: {expected:.3}), escaped {escaped:.3}, deposited beyond the β range {beyond:.4} keV/decay"
    );
    // ~0.2 photons per decay: 4000 photons, σ of their summed energy ≈ 1.3/√4000 = 2 %.
    assert!(
        (radiated / expected - 1.0).abs() < 0.08,
        "radiated {radiated} vs {expected} keV/decay"
    );
    // The cube's half-width is 26.4 mm; at 100 keV the mean free path in soft tissue is 58 mm,
    // so most but not all of the photon energy leaves (β energy cannot: the cube is 2.5×
    // the β range).
    assert!(
        escaped > 0.4 * radiated && escaped < radiated,
        "escaped {escaped} of {radiated} keV/decay"
    );
    assert!(
        beyond > 0.0 && beyond < radiated - escaped,
        "beyond the β range {beyond} keV/decay"
    );
}
