//! The `patient15` phantom end to end on the CPU: `voxdose run` on the GATE files, the energy
//! balance, the named organs, and the spleen dose against a bracket that follows from the
//! physics model alone (no fitted constants).
//!
//! The GATE files live outside the repository (`../shared/testdata/phantoms/
//! lu177_patient15_gate/`, or `$VOXDOSE_TESTDATA`); without them the tests say "skipped".

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use voxdose::geometry::VoxelModel;
use voxdose::physics::nuclide::{EmissionKind, Nuclide};

fn data_present() -> bool {
    match voxdose::phantoms::patient15::data_dir() {
        Ok(_) => true,
        Err(e) => {
            eprintln!("skipped: {e}");
            false
        }
    }
}

fn patient15_model() -> VoxelModel {
    voxdose::phantoms::build(&voxdose::phantoms::PhantomSpec::named("patient15"))
        .expect("patient15 builds when its data are present")
        .model
}

/// Runs `voxdose run --phantom patient15` on the CPU and returns summary.json.
fn run_patient15(decays: &str, seed: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = Command::new(common::voxdose_bin())
        .args([
            "run",
            "--phantom",
            "patient15",
            "--decays",
            decays,
            "--seed",
            seed,
        ])
        .args(["--device", "cpu", "--out", out.to_str().unwrap()])
        .output()
        .expect("voxdose runs");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("spleen"),
        "organ table names the spleen: {stderr}"
    );
    serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap()
}

fn region<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    s["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("region {name} in {}", s["regions"]))
}

/// Strict upper bound on the path length (mm) of an electron of `e_max_kev` that slows down
/// through any sequence of `materials` at densities ≥ `rho_min` g/cm³, from the ESTAR tables in
/// `data/estar/` that the transport uses: path ≤ R(E₀)_max + ∫ dE / (ρ_min · min_m S_m(E)).
/// S_tot decreases with E over the range used (asserted), so on each table interval the
/// upper-end value bounds 1/S from above (an upper Riemann sum).
fn path_bound_mm(materials: &[String], rho_min: f64, e_max_kev: f64) -> f64 {
    let tables: Vec<Vec<[f64; 6]>> = materials
        .iter()
        .map(|m| {
            let path = format!("{}/data/estar/{m}.tsv", env!("CARGO_MANIFEST_DIR"));
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{path}: {e}"))
                .lines()
                .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
                .map(|l| {
                    let v: Vec<f64> = l.split_whitespace().map(|x| x.parse().unwrap()).collect();
                    [v[0], v[1], v[2], v[3], v[4], v[5]]
                })
                .collect()
        })
        .collect();
    let n = tables[0].len();
    assert!(tables
        .iter()
        .all(|t| t.len() == n && t[n - 1][0] > e_max_kev));
    let mut path_g_cm2 = tables.iter().map(|t| t[0][4]).fold(0.0, f64::max);
    for i in 0..n - 1 {
        let (e0, e1) = (tables[0][i][0], tables[0][i + 1][0]);
        if e0 >= e_max_kev {
            break;
        }
        let s_min = tables
            .iter()
            .map(|t| t[i + 1][3])
            .fold(f64::INFINITY, f64::min);
        assert!(
            tables.iter().all(|t| t[i + 1][3] <= t[i][3]),
            "S_tot must fall with E on {e0}–{e1} keV for the bound"
        );
        path_g_cm2 += (e1.min(e_max_kev) - e0) / 1000.0 / s_min;
    }
    10.0 * path_g_cm2 / rho_min
}

/// For every sub-cell (8³ per spleen voxel), a lower bound on the distance (mm) from any point
/// of it to the nearest non-spleen voxel, capped at the smallest voxel size (only the 26
/// neighbours are examined; anything beyond them is at least one voxel away). Sorted.
fn sub_cell_distances(model: &VoxelModel, spleen: &[u32]) -> Vec<f64> {
    let g = &model.grid;
    let s = g.spacing_mm;
    let cap = s.iter().cloned().fold(f64::INFINITY, f64::min);
    let in_spleen: BTreeSet<u32> = spleen.iter().copied().collect();
    const M: usize = 8;
    let mut out = Vec::with_capacity(spleen.len() * M * M * M);
    for &v in spleen {
        let [i, j, k] = g.ijk(v as usize);
        // Non-spleen neighbours (out of the grid counts as non-spleen), as offsets.
        let mut outside = Vec::new();
        for d in 0..27 {
            let o = [d % 3, (d / 3) % 3, d / 9].map(|x| x as i64 - 1);
            let n = [i as i64 + o[0], j as i64 + o[1], k as i64 + o[2]];
            let inside_grid = (0..3).all(|a| n[a] >= 0 && n[a] < g.dims[a] as i64);
            let is_spleen = inside_grid
                && in_spleen
                    .contains(&(g.index(n[0] as usize, n[1] as usize, n[2] as usize) as u32));
            if !is_spleen {
                outside.push(o);
            }
        }
        for c in 0..M * M * M {
            let sub = [c % M, (c / M) % M, c / (M * M)];
            // Box-to-box distance in voxel-local mm (this voxel spans [0, s]).
            let d = outside
                .iter()
                .map(|o| {
                    let d2: f64 = (0..3)
                        .map(|a| {
                            let lo = sub[a] as f64 * s[a] / M as f64;
                            let hi = lo + s[a] / M as f64;
                            let (nlo, nhi) = (o[a] as f64 * s[a], (o[a] + 1) as f64 * s[a]);
                            let gap = (nlo - hi).max(lo - nhi).max(0.0);
                            gap * gap
                        })
                        .sum();
                    d2.sqrt()
                })
                .fold(cap, f64::min);
            out.push(d);
        }
    }
    out.sort_by(f64::total_cmp);
    out
}

/// Volume fraction of the spleen certainly farther than `r_mm` from non-spleen voxels.
fn core_fraction(sorted_distances: &[f64], r_mm: f64) -> f64 {
    let n_near = sorted_distances.partition_point(|&d| d <= r_mm);
    (sorted_distances.len() - n_near) as f64 / sorted_distances.len() as f64
}

/// The run balances energy exactly, names every organ of the GATE source image, and the
/// spleen (the only source) receives the highest mean dose.
#[test]
fn patient15_run_balances_energy_and_the_spleen_gets_the_highest_dose() {
    if !data_present() {
        return;
    }
    let s = run_patient15("2e4", "5");
    assert_eq!(s["energy_balance_units"]["exact"], true);
    let e = &s["energy_per_decay_kev"];
    let (em, de, es) = (
        e["emitted"].as_f64().unwrap(),
        e["deposited"].as_f64().unwrap(),
        e["escaped"].as_f64().unwrap(),
    );
    assert!((em - de - es).abs() < 1e-9 * em, "{e}");
    let spleen = region(&s, "spleen")["mean_dose"].as_f64().unwrap();
    for organ in [
        "liver",
        "kidney_left",
        "kidney_right",
        "tumour_1",
        "tumour_2",
        "tumour_3",
        "body",
    ] {
        let d = region(&s, organ)["mean_dose"].as_f64().unwrap();
        assert!(d < spleen, "{organ} {d} ≥ spleen {spleen}");
    }
}

/// Spleen energy per decay against a bracket from the model's physics:
///
/// - **Lower**: electrons (β, conversion, Auger; ICRP-107) are transported in the CSDA with
///   radiative loss deposited locally and no secondary photons (src/physics/electron.rs), so an
///   electron of energy E starting farther than its path bound R(E) ([`path_bound_mm`]) from
///   every non-spleen voxel deposits all of E in the spleen. The activity is uniform in the
///   spleen, so E_spleen ≥ Σ over electron emissions of yield · E · F(R(E)), F(R) the spleen
///   volume fraction beyond R ([`core_fraction`]). The β spectrum (piecewise linear, as the
///   source samples it) enters interval by interval with the upper end's R, and ∫E·N(E) dE by
///   Simpson's rule, exact for the quadratic E·N.
/// - **Upper**: E_spleen ≤ the run's total deposit ≤ what it emitted (E_e + E_γ ≈ 183 keV).
///
/// This is the "β self-dose ≈ E_e · N / m" expectation with the escape and photon fractions
/// as its tolerance. Statistical slack k = 3.9 σ (≈ 1e-4 two-sided); σ from the batches.
#[test]
fn patient15_spleen_energy_lies_between_electron_core_absorption_and_total_emission() {
    if !data_present() {
        return;
    }
    let model = patient15_model();
    let spleen = &model
        .regions
        .iter()
        .find(|r| r.name == "spleen")
        .unwrap()
        .voxels;
    let lu = Nuclide::load("Lu-177").unwrap();
    let e_e = lu.energy_per_decay_kev(|k: EmissionKind| k.is_electron());
    let e_g = lu.energy_per_decay_kev(|k: EmissionKind| k.is_photon());
    let mats: BTreeSet<usize> = spleen
        .iter()
        .map(|&v| model.material[v as usize] as usize)
        .collect();
    let names: Vec<String> = mats.iter().map(|&m| model.materials[m].clone()).collect();
    let rho_min = spleen
        .iter()
        .map(|&v| model.density_g_cm3[v as usize] as f64)
        .fold(f64::INFINITY, f64::min);
    let dist = sub_cell_distances(&model, spleen);
    let absorbed = |e_kev: f64| core_fraction(&dist, path_bound_mm(&names, rho_min, e_kev));
    // β: one per decay (177Lu), energy from the published spectrum as a normalised
    // piecewise-linear density, as the source samples it (src/physics/decay.rs).
    let (mut norm, mut beta_lo) = (0.0, 0.0);
    for w in lu.beta_minus_spectrum.as_ref().unwrap().windows(2) {
        let ((a, na), (b, nb)) = (w[0], w[1]);
        norm += 0.5 * (b - a) * (na + nb);
        let e_in_bin = (b - a) / 6.0 * (a * na + 2.0 * (a + b) * 0.5 * (na + nb) + b * nb);
        beta_lo += e_in_bin * absorbed(b);
    }
    let mut lo = beta_lo / norm;
    for l in lu.lines.iter().filter(|l| l.kind.is_electron()) {
        lo += l.yield_per_decay * l.energy_kev * absorbed(l.energy_kev);
    }

    let s = run_patient15("2e4", "9");
    let sp = region(&s, "spleen");
    let e_spleen = sp["energy_kev_per_decay"].as_f64().unwrap();
    let sigma = sp["mean_dose_rel_sigma"].as_f64().unwrap() * e_spleen;
    let k = 3.9;
    // Upper: what this run deposited anywhere (≤ what it emitted): exact, no σ needed.
    let hi = s["energy_per_decay_kev"]["deposited"].as_f64().unwrap();
    eprintln!(
        "spleen: {e_spleen:.2} ± {sigma:.2} keV/decay; bracket [{lo:.2}, {hi:.2}] (E_e {e_e:.2}, \
         E_γ {e_g:.2}; materials {names:?} at ρ ≥ {rho_min}; R(498 keV) ≤ {:.3} mm, \
         F = {:.4}; E_spleen/E_e = {:.4})",
        path_bound_mm(&names, rho_min, 497.8),
        absorbed(497.8),
        e_spleen / e_e
    );
    assert!(e_spleen > lo - k * sigma, "below the electron-core bound");
    assert!(
        e_spleen <= hi,
        "spleen {e_spleen} above all energy deposited {hi}"
    );
    // The dose is that energy over the spleen's mass (summary's mean dose, Gy per decay).
    let mass = sp["mass_kg"].as_f64().unwrap();
    let expect_gy = e_spleen * 1.602_176_634e-16 / mass;
    let d = sp["mean_dose"].as_f64().unwrap();
    assert!((d / expect_gy - 1.0).abs() < 1e-6, "{d} vs {expect_gy}");
}
