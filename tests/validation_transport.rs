//! Validation of the CPU reference transport against published reference data.
//!
//! Each test names the claim, cites the source of its reference values next to them, and
//! derives its tolerance from the estimated σ (fixed seeds).

mod common;

use common::{homogeneous, settings};
use voxdose::physics::decay::{DecayTables, EmissionFilter};
use voxdose::physics::direction::isotropic;
use voxdose::physics::nuclide::Nuclide;
use voxdose::physics::rng::Pcg32;
use voxdose::physics::tables::UNITS_PER_KEV;
use voxdose::tally::EnergyTally;
use voxdose::transport::cpu::electron_track::electron_track;
use voxdose::transport::cpu::photon_track::{photon_flight, FlightEnd};
use voxdose::transport::cpu::{Ctx, HistoryCounters, KernelInputs, Place};
use voxdose::transport::driver::Prepared;

fn inputs<'a>(model: &'a voxdose::geometry::VoxelModel, prep: &'a Prepared) -> KernelInputs<'a> {
    prep.inputs(model, &prep.params)
}

/// Narrow-beam transmission T = exp(−μL) of a pencil beam through a slab, measured as the
/// fraction of photons whose Woodcock flight leaves the far face without a real collision.
fn narrow_beam_mu_per_cm(material: &str, density: f32, e_kev: f32, mu_rho_xcom: f64) -> (f64, f64) {
    // Slab thickness chosen so that μL ≈ 1 (best statistical precision of μ).
    let mu_cm = mu_rho_xcom * density as f64;
    let voxels = 50usize;
    let voxel_mm = 10.0 / mu_cm / voxels as f64;
    let (model, prep) = homogeneous(material, density, [1, 1, voxels], voxel_mm);
    let tally = EnergyTally::new(model.grid.n_voxels());
    let mut counters = HistoryCounters::default();
    let ctx = Ctx {
        inp: inputs(&model, &prep),
        tally: &tally,
        counters: &mut counters,
    };
    let n = 2_000_000u64;
    let mut transmitted = 0u64;
    let start = [0.5 * voxel_mm as f32, 0.5 * voxel_mm as f32, 0.0];
    for h in 0..n {
        let mut rng = Pcg32::new(77, h);
        if let (FlightEnd::Escaped, _) =
            photon_flight(&ctx, start, [0.0, 0.0, 1.0], e_kev, &mut rng)
        {
            transmitted += 1;
        }
    }
    let t = transmitted as f64 / n as f64;
    let l_cm = voxels as f64 * voxel_mm / 10.0;
    let mu = -t.ln() / l_cm;
    // σ(μ) from the binomial σ of T: σ_T/T = sqrt((1−T)/(nT)).
    let sigma = ((1.0 - t) / (n as f64 * t)).sqrt() / l_cm;
    (mu / density as f64, sigma / density as f64)
}

#[test]
fn narrow_beam_transmission_matches_xcom_in_water_and_bone() {
    // Total μ/ρ with coherent, cm²/g: NIST XCOM via ../shared/reference/
    // xcom_mass_attenuation_cm2_per_g.csv (water_liquid, bone_cortical_ICRP at 1.85 g/cm³).
    let cases = [
        ("water", 1.0f32, 30.0f32, 0.37557),
        ("water", 1.0, 113.0, 0.16437),
        ("water", 1.0, 208.0, 0.13521),
        ("water", 1.0, 500.0, 0.09687),
        ("cortical-bone", 1.85, 30.0, 1.28),
        ("cortical-bone", 1.85, 113.0, 0.17232),
        ("cortical-bone", 1.85, 208.0, 0.13021),
        ("cortical-bone", 1.85, 500.0, 0.091337),
    ];
    for (mat, rho, e, xcom) in cases {
        let (mu_rho, sigma) = narrow_beam_mu_per_cm(mat, rho, e, xcom);
        let dev = mu_rho / xcom - 1.0;
        eprintln!(
            "{mat} {e} keV: μ/ρ = {mu_rho:.5} ± {sigma:.5} cm²/g, XCOM {xcom}, {:+.3} %",
            100.0 * dev
        );
        // The bound is 0.5 %; σ(μ) is about 0.09 %, so a correct engine trips it with
        // probability < 1e-7.
        assert!(
            dev.abs() < 0.005,
            "{mat} at {e} keV: {mu_rho} vs XCOM {xcom} ({:+.3} %)",
            100.0 * dev
        );
    }
}

/// Mean CSDA path length of electrons started at `e_kev` until the cutoff.
fn mean_path_mm(material: &str, density: f32, e_kev: f32, n: u64) -> f64 {
    let (model, prep) = homogeneous(material, density, [41, 41, 41], 1.0);
    let tally = EnergyTally::new(model.grid.n_voxels());
    let mut counters = HistoryCounters::default();
    let mut ctx = Ctx {
        inp: inputs(&model, &prep),
        tally: &tally,
        counters: &mut counters,
    };
    let centre = [20.5f32; 3];
    let place = Place::locate(centre, &prep.params).expect("centre is inside");
    for h in 0..n {
        let mut rng = Pcg32::new(5, h);
        let dir = isotropic(rng.uniform(), rng.uniform());
        electron_track(
            &mut ctx,
            place,
            dir,
            voxdose::physics::decay::to_units(e_kev),
            // Not radiating: every track stays in the cube. Its continuous loss leaves out the
            // hard bremsstrahlung (k ≥ 10 keV, < 0.8 % of S_tot below 1 MeV in water and bone),
            // so its path is that much longer than ESTAR's CSDA range, inside the 2 % bound.
            false,
            &mut rng,
        );
    }
    assert_eq!(
        ctx.counters.escaped_units, 0,
        "the cube must contain every track"
    );
    assert_eq!(ctx.counters.truncated_tracks, 0);
    ctx.counters.electron_path_mm / n as f64
}

#[test]
fn electron_csda_path_lengths_match_estar() {
    // CSDA ranges, g/cm²: NIST ESTAR as re-integrated in ../shared/reference/
    // estar_electron_stopping_csda.csv; the path from E₀ down to the 10 keV cutoff is
    // R(E₀) − R(10 keV).
    let cases = [
        ("water", 1.0f32, 100.0f32, 0.014308, 0.00025148),
        ("water", 1.0, 500.0, 0.17656, 0.00025148),
        ("water", 1.0, 1000.0, 0.43674, 0.00025148),
        ("cortical-bone", 1.85, 200.0, 0.050151, 0.00029092),
        ("cortical-bone", 1.85, 500.0, 0.19639, 0.00029092),
    ];
    for (mat, rho, e, r0, rcut) in cases {
        let path = mean_path_mm(mat, rho, e, 2000);
        let expect = (r0 - rcut) * 10.0 / rho as f64;
        let dev = path / expect - 1.0;
        eprintln!(
            "{mat} {e} keV: path {path:.4} mm, ESTAR {expect:.4} mm ({:+.3} %)",
            100.0 * dev
        );
        assert!(
            dev.abs() < 0.02,
            "{mat} {e} keV: {path} mm vs ESTAR {expect} mm"
        );
    }
}

#[test]
fn sampled_lu177_energy_per_decay_matches_icrp107() {
    let lu = Nuclide::load("Lu-177").unwrap();
    let t = DecayTables::new(&lu, 10.0, 10.0, EmissionFilter::All);
    let n = 1_000_000u64;
    let (mut beta, mut beta2, mut lines_e, mut lines_e2, mut lines_g, mut lines_g2) =
        (0.0f64, 0.0, 0.0, 0.0, 0.0, 0.0);
    for h in 0..n {
        let mut rng = Pcg32::new(3, h);
        let mut b = 0.0;
        for _ in 0..t.beta_count(rng.uniform()) {
            b += voxdose::physics::decay::to_units(t.sample_beta_kev(rng.uniform())) as f64
                / UNITS_PER_KEV as f64;
        }
        let (mut e, mut g) = (0.0, 0.0);
        for _ in 0..t.line_count(rng.uniform()) {
            let k = t.line_alias.sample(rng.uniform(), rng.uniform());
            let kev = t.line_units[k] as f64 / UNITS_PER_KEV as f64;
            if t.line_particle[k] == voxdose::physics::decay::ELECTRON {
                e += kev
            } else {
                g += kev
            }
        }
        beta += b;
        beta2 += b * b;
        lines_e += e;
        lines_e2 += e * e;
        lines_g += g;
        lines_g2 += g * g;
    }
    let stat = |s: f64, s2: f64| {
        (
            s / n as f64,
            ((s2 / n as f64 - (s / n as f64).powi(2)) / n as f64).sqrt(),
        )
    };
    let (mb, sb) = stat(beta, beta2);
    let (me, se) = stat(lines_e, lines_e2);
    let (mg, sg) = stat(lines_g, lines_g2);
    // β: the sampling rule's exact mean (piecewise-linear density through the 101 published
    // points, 133.79 keV per ../shared/reference/README.md) within 3σ …
    let rule = voxdose::physics::decay::piecewise_linear_mean_kev(
        lu.beta_minus_spectrum.as_ref().unwrap(),
    );
    assert!((rule - 133.79).abs() < 0.01, "rule mean {rule}");
    assert!(
        (mb - rule).abs() < 3.0 * sb,
        "β mean {mb} ± {sb} vs rule {rule}"
    );
    // … and within 0.4 % of the ICRP-107 β− mean 133.270 keV (branch sum, reference README):
    // the published grid is too coarse for any interpolation rule to hit it exactly.
    assert!((rule / 133.2698 - 1.0).abs() < 0.004);
    // Discrete lines: ICRP-107 line sums (../shared/reference/README.md: IC 13.522, Auger
    // 1.132, γ 31.558, X 3.540 keV per decay), less what lies below the 10 keV cutoffs and is
    // deposited locally (DecayTables::local_units), within 3σ.
    let local = t.local_units as f64 / UNITS_PER_KEV as f64;
    let icrp_lines = 13.5216 + 1.1318 + 31.5580 + 3.5397;
    assert!(
        (me + mg + local - icrp_lines).abs() < 3.0 * (se * se + sg * sg).sqrt() + 1e-4,
        "lines {me} + {mg} + {local} vs {icrp_lines}"
    );
    // Photons alone: γ + X = 35.098 keV (NDX 0.03509 MeV); the below-cutoff photons are part of
    // `local`, so compare the transported photons with the exact rule mean.
    assert!(
        (mg - t.mean_kev[1]).abs() < 3.0 * sg,
        "photons {mg} ± {sg} vs {}",
        t.mean_kev[1]
    );
    assert!(
        (t.mean_kev[1] - 35.0977).abs() < 0.35,
        "photon lines above 10 keV carry all but ~0.3 keV"
    );
    eprintln!("β {mb:.3}±{sb:.3} (rule {rule:.3}); e-lines {me:.3}±{se:.3}; photons {mg:.3}±{sg:.3}; local {local:.4} keV");
}

#[test]
fn energy_is_conserved_exactly_in_every_phantom() {
    for name in ["water-sphere", "slab", "nema-iec", "vsv"] {
        let p = voxdose::phantoms::build(&voxdose::phantoms::PhantomSpec {
            name: name.into(),
            radius_mm: None,
            voxel_mm: Some(4.0),
            grid: None,
            material: None,
            ..Default::default()
        })
        .unwrap();
        let r = voxdose::transport::simulate(
            &p.model,
            &p.source,
            &settings(20_000, 9),
            &voxdose::transport::Device::Cpu,
            &mut voxdose::transport::Silent,
        )
        .unwrap();
        let e = r.energy;
        assert_eq!(
            e.deposited_units + e.escaped_units,
            e.emitted_units,
            "{name}: {e:?}"
        );
        assert_eq!(r.counters.truncated_tracks, 0, "{name}");
        // The emitted energy per decay is that of 177Lu: ~183.5 keV (σ ≈ 3 keV at 2e4 decays).
        let per_decay = e.emitted_units as f64 / UNITS_PER_KEV as f64 / r.decays as f64;
        assert!(
            (per_decay - 183.5).abs() < 4.0 * 0.4 * (1e6f64 / 2e4).sqrt(),
            "{name}: {per_decay}"
        );
    }
}

fn sphere_run(
    radius_mm: f64,
    filter: EmissionFilter,
    decays: u64,
    seed: u64,
) -> (
    voxdose::transport::TransportResult,
    voxdose::phantoms::Phantom,
) {
    let p = voxdose::phantoms::build(&voxdose::phantoms::PhantomSpec {
        name: "water-sphere".into(),
        radius_mm: Some(radius_mm),
        voxel_mm: Some(4.0),
        grid: None,
        material: None,
        ..Default::default()
    })
    .unwrap();
    let mut model = p.model.clone();
    // Core: voxels wholly inside the sphere and > 2 mm (the 177Lu β CSDA range, 1.8 mm at the
    // 498 keV endpoint) from its surface, where charged-particle equilibrium holds.
    let c = 64.0;
    model.regions = vec![voxdose::geometry::Region {
        name: "core".into(),
        voxels: (0..model.grid.n_voxels() as u32)
            .filter(|&v| {
                let ijk = model.grid.ijk(v as usize);
                let far = ijk.iter().map(|&i| {
                    let (a, b) = (i as f64 * 4.0 - c, (i + 1) as f64 * 4.0 - c);
                    a.abs().max(b.abs())
                });
                far.map(|d| d * d).sum::<f64>().sqrt() < radius_mm - 2.0
            })
            .collect(),
    }];
    let mut s = settings(decays, seed);
    s.emissions = filter;
    let r = voxdose::transport::simulate(
        &model,
        &p.source,
        &s,
        &voxdose::transport::Device::Cpu,
        &mut voxdose::transport::Silent,
    )
    .unwrap();
    (r, voxdose::phantoms::Phantom { model, ..p })
}

#[test]
fn dose_in_a_large_sphere_is_electron_energy_per_mass_plus_photon_share() {
    let radius = 40.0;
    let volume_cm3 = 4.0 / 3.0 * std::f64::consts::PI * (radius / 10.0f64).powi(3);
    let mass_kg = volume_cm3 * 1.0e-3; // water, 1.0 g/cm³ (data/materials)
    let (re, p) = sphere_run(radius, EmissionFilter::Electrons, 400_000, 21);
    // Electron energy per decay of the sampling rules (β + IC + Auger + local below cutoff).
    let lu = Nuclide::load("Lu-177").unwrap();
    let t = DecayTables::new(&lu, 10.0, 10.0, EmissionFilter::Electrons);
    let e_kev = t.mean_kev[0] + t.mean_kev[2];
    let expect = e_kev * voxdose::tally::J_PER_KEV / mass_kg;
    let core = &re.regions[0];
    assert!(core.voxels > 100, "core has {} voxels", core.voxels);
    let dev = core.mean_gy_per_decay / expect - 1.0;
    eprintln!(
        "electrons: core {:.5e} ± {:.3} % vs E/m {expect:.5e} ({:+.3} %)",
        core.mean_gy_per_decay,
        100.0 * core.rel_sigma,
        100.0 * dev
    );
    // Charged-particle equilibrium: equal within 3.9σ (two-sided 1e-4).
    assert!(
        dev.abs() < 3.9 * core.rel_sigma,
        "CPE violated: {dev:+.4} vs σ {}",
        core.rel_sigma
    );
    // Photons add their share; the full run equals electrons + photons within the combined σ.
    let (rg, _) = sphere_run(radius, EmissionFilter::Photons, 400_000, 22);
    let (ra, _) = sphere_run(radius, EmissionFilter::All, 400_000, 23);
    let (de, dg, da) = (
        core.mean_gy_per_decay,
        rg.regions[0].mean_gy_per_decay,
        ra.regions[0].mean_gy_per_decay,
    );
    let sigma = ((de * core.rel_sigma).powi(2)
        + (dg * rg.regions[0].rel_sigma).powi(2)
        + (da * ra.regions[0].rel_sigma).powi(2))
    .sqrt();
    eprintln!(
        "photons {dg:.4e}, all {da:.4e}, electrons + photons {:.4e} ± {sigma:.2e}",
        de + dg
    );
    assert!(
        dg > 0.0 && dg < de,
        "the photon share is positive and smaller than the electron dose"
    );
    assert!((da - de - dg).abs() < 3.9 * sigma);
    let _ = p;
}

#[test]
fn vsv_kernel_energy_sum_is_emitted_energy_less_escape() {
    let p = voxdose::phantoms::build(&voxdose::phantoms::PhantomSpec {
        name: "vsv".into(),
        radius_mm: None,
        voxel_mm: Some(4.42),
        grid: Some(15),
        material: Some("soft-tissue".into()),
        ..Default::default()
    })
    .unwrap();
    let r = voxdose::transport::simulate(
        &p.model,
        &p.source,
        &settings(100_000, 4),
        &voxdose::transport::Device::Cpu,
        &mut voxdose::transport::Silent,
    )
    .unwrap();
    let kernel_kev: f64 = (0..p.model.grid.n_voxels())
        .map(|v| r.dose_gy_per_decay[v] * p.model.voxel_mass_kg(v) / voxdose::tally::J_PER_KEV)
        .sum();
    let per_decay = |u: u64| u as f64 / UNITS_PER_KEV as f64 / r.decays as f64;
    let emitted_less_escape = per_decay(r.energy.emitted_units) - per_decay(r.energy.escaped_units);
    assert!(
        (kernel_kev / emitted_less_escape - 1.0).abs() < 1e-9,
        "{kernel_kev} vs {emitted_less_escape}"
    );
    // The source voxel (4.42 mm ≫ β range) keeps most electron energy: its S-value is within
    // 10 % of the full local electron deposition (Lanconelli et al. 2012 tabulate ~ 0.9 of it).
    let lu = Nuclide::load("Lu-177").unwrap();
    let t = DecayTables::new(&lu, 10.0, 10.0, EmissionFilter::All);
    let src = r.regions[0].energy_kev_per_decay;
    let electrons = t.mean_kev[0] + t.mean_kev[2];
    eprintln!("source voxel keeps {src:.2} keV of {electrons:.2} keV electron energy per decay");
    assert!(src > 0.8 * electrons && src < electrons + t.mean_kev[1]);
}

/// χ² test of a sampled cos θ distribution against a density p(μ), integrated per bin
/// (200 midpoints). `sample` draws one accepted cos θ. Bins expecting < 5 counts are merged
/// into their neighbour (χ² validity); the critical value is the statrs χ² quantile at
/// alpha = 1e-4. Returns (χ², critical, dof).
fn angular_chi2(
    n: u64,
    bins: usize,
    mut sample: impl FnMut() -> f32,
    density: impl Fn(f64) -> f64,
) -> (f64, f64, usize) {
    use statrs::distribution::{ChiSquared, ContinuousCDF};
    let mut hist = vec![0u64; bins];
    for _ in 0..n {
        let c = sample() as f64;
        hist[(((c + 1.0) / 2.0 * bins as f64) as usize).min(bins - 1)] += 1;
    }
    let sub = 200;
    let weights: Vec<f64> = (0..bins)
        .map(|b| {
            (0..sub)
                .map(|s| {
                    density(-1.0 + 2.0 * (b as f64 + (s as f64 + 0.5) / sub as f64) / bins as f64)
                })
                .sum::<f64>()
        })
        .collect();
    let total: f64 = weights.iter().sum();
    let (mut chi2, mut cells, mut acc_o, mut acc_e) = (0.0, 0usize, 0.0, 0.0);
    for (&o, w) in hist.iter().zip(&weights).rev() {
        acc_o += o as f64;
        acc_e += w / total * n as f64;
        if acc_e >= 5.0 {
            chi2 += (acc_o - acc_e).powi(2) / acc_e;
            cells += 1;
            acc_o = 0.0;
            acc_e = 0.0;
        }
    }
    let dof = cells - 1;
    let critical = ChiSquared::new(dof as f64).unwrap().inverse_cdf(1.0 - 1e-4);
    (chi2, critical, dof)
}

#[test]
fn compton_angles_follow_klein_nishina_times_s() {
    // Reference: the Klein–Nishina cross section dσ/dΩ ∝ ε²(ε + 1/ε − sin²θ), ε = E′/E
    // (Klein & Nishina 1929), times the incoherent scattering function S(x)/S(∞) of the
    // tables (Hubbell et al. 1975). χ² over 24 bins of cos θ, alpha = 1e-4.
    use voxdose::physics::photon::{incoherent_s_ratio, sample_incoherent_trial};
    use voxdose::physics::tables::{PhysicsTables, ELECTRON_MASS_KEV, HC_KEV_ANGSTROM};
    let t = PhysicsTables::build(&[0]);
    for e_kev in [30.0f32, 208.0] {
        let k = (e_kev / ELECTRON_MASS_KEV) as f64;
        let mut rng = Pcg32::new(99, e_kev as u64);
        let sample = || loop {
            let u = [rng.uniform(), rng.uniform(), rng.uniform(), rng.uniform()];
            if let Some((_, c)) = sample_incoherent_trial(&t, 0, e_kev, u) {
                return c;
            }
        };
        let density = |mu: f64| {
            let eps = 1.0 / (1.0 + k * (1.0 - mu));
            let x = e_kev as f64 * (0.5 * (1.0 - mu)).sqrt() / HC_KEV_ANGSTROM as f64;
            eps * eps
                * (eps + 1.0 / eps - (1.0 - mu * mu))
                * incoherent_s_ratio(&t, 0, x as f32) as f64
        };
        let (chi2, critical, dof) = angular_chi2(200_000, 24, sample, density);
        eprintln!("{e_kev} keV: χ² = {chi2:.1}, critical {critical:.1} (dof {dof}, alpha 1e-4)");
        assert!(chi2 < critical, "{e_kev} keV: χ² {chi2} ≥ {critical}");
    }
}

#[test]
fn rayleigh_angles_follow_thomson_times_form_factor() {
    // Reference: dσ/dΩ ∝ (1 + cos²θ)/2 · F²(x), x = sin(θ/2)/λ, with F² from the xraylib
    // tables in data/scatter (independent of the sampler's cumulative table). χ², alpha = 1e-4.
    // Observed at this seed: χ² = 42 at 30 keV (p ≈ 0.01, dof 23) and 14 at 100 keV — the
    // 30 keV value hints at a small bias of the F² cumulative's linear-in-x² interpolation on
    // its 256-point log grid; it is recorded here rather than hidden by a looser alpha.
    use voxdose::physics::data::material_data;
    use voxdose::physics::photon::sample_coherent_trial;
    use voxdose::physics::tables::{PhysicsTables, HC_KEV_ANGSTROM};
    let t = PhysicsTables::build(&[0]);
    let ff = &material_data(0).scatter;
    for e_kev in [30.0f32, 100.0] {
        let mut rng = Pcg32::new(98, e_kev as u64);
        let sample = || loop {
            if let Some(c) = sample_coherent_trial(&t, 0, e_kev, [rng.uniform(), rng.uniform()]) {
                return c;
            }
        };
        let density = |mu: f64| {
            let x = e_kev as f64 * (0.5 * (1.0 - mu)).sqrt() / HC_KEV_ANGSTROM as f64;
            0.5 * (1.0 + mu * mu) * ff.ff2_at(x)
        };
        let (chi2, critical, dof) = angular_chi2(200_000, 24, sample, density);
        eprintln!("{e_kev} keV: χ² = {chi2:.1}, critical {critical:.1} (dof {dof}, alpha 1e-4)");
        assert!(chi2 < critical, "{e_kev} keV: χ² {chi2} ≥ {critical}");
    }
}
