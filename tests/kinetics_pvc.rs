//! Partial-volume correction end to end (issue 21, "What it must show"):
//!
//! - a synthetic patient study built here: spheres of 2–100 mL and a kidney-shaped region
//!   in a warm body, each with its own kinetics, blurred by a known Gaussian PSF (10 mm
//!   FWHM, 4 mm voxels) with 3 % voxel noise (fixed seed). GTM-corrected region TIAs are
//!   within 5 % of the truth for regions ≥ 4 mL, RC-curve corrected within 10 %, and the
//!   uncorrected values are reported beside them;
//! - `voxdose recovery` on a synthetic NEMA IEC scan recovers the Gaussian RC curve that made
//!   it within 3 %, also with the phantom moved and rotated in the scan;
//! - `voxdose fit --pvc …` on the command line.
//!
//! **How the synthetic images are made.** Truth is continuous: each region's indicator is
//! sampled on a grid 3× finer than the scan (1.33 mm), blurred there by the Gaussian, and
//! averaged over each scan voxel, as a reconstructed voxel is; the labels are the scan
//! voxels whose centre lies in a region. So the GTM, which models regions as whole label
//! voxels, does not see its own forward model (no inverse crime): boundary voxels, the
//! kidney's shape and the labels' volumes differ from the truth as they do in a patient.
//! The body background (low, far edges) is blurred on the scan grid.

use std::path::{Path, PathBuf};
use voxdose::geometry::{Grid, Volume};
use voxdose::io::nifti::write_volume_f32;
use voxdose::kinetics::models::TacModel;
use voxdose::kinetics::partial_volume::{PartialVolumeOverride, PvcMethod};
use voxdose::kinetics::psf::{self, GaussianPsf};
use voxdose::kinetics::recovery::{
    rc_gaussian_sphere, run_recovery, synthetic_nema_scan_placed, RecoveryImage, RecoveryOptions,
    SphereSource,
};
use voxdose::kinetics::{fit_study_with, nema_geometry::NemaPlacement};
use voxdose::physics::rng::Pcg32;

const FWHM_MM: f64 = 10.0;
const VOXEL_MM: f64 = 4.0;
const TIMES_H: [f64; 4] = [4.0, 24.0, 72.0, 168.0];
/// Finer sampling of the truth, per axis.
const FINE: usize = 3;

/// A region of the synthetic patient: its shape and its concentration curve (Bq/mL).
struct Compartment {
    name: String,
    inside: Box<dyn Fn([f64; 3]) -> bool + Sync>,
    /// Box that holds the region, mm (patient).
    lo_mm: [f64; 3],
    hi_mm: [f64; 3],
    model: TacModel,
    params: Vec<f64>,
    /// True volume, mL (analytic for spheres, fine-sampled for the kidney).
    volume_ml: f64,
}

fn grid() -> Grid {
    Grid::centred([64, 40, 40], VOXEL_MM)
}

fn in_body(p: [f64; 3]) -> bool {
    (p[0] / 120.0).powi(2) + (p[1] / 76.0).powi(2) <= 1.0 && p[2].abs() <= 76.0
}

fn sphere(name: &str, volume_ml: f64, centre: [f64; 3], params: Vec<f64>) -> Compartment {
    let r = (3.0 * volume_ml * 1000.0 / (4.0 * std::f64::consts::PI)).cbrt();
    Compartment {
        name: name.into(),
        inside: Box::new(move |p| (0..3).map(|a| (p[a] - centre[a]).powi(2)).sum::<f64>() <= r * r),
        lo_mm: centre.map(|c| c - r),
        hi_mm: centre.map(|c| c + r),
        model: TacModel::UptakeWashout,
        params,
        volume_ml,
    }
}

/// A kidney: ellipsoid of semi-axes 28 × 55 × 22 mm with a hilum (a ball of 16 mm radius
/// cut from its medial side).
fn kidney(centre: [f64; 3], params: Vec<f64>) -> Compartment {
    let semi = [28.0, 55.0, 22.0];
    let hilum = [centre[0] - semi[0] - 4.0, centre[1], centre[2]];
    let inside = move |p: [f64; 3]| {
        let e: f64 = (0..3).map(|a| ((p[a] - centre[a]) / semi[a]).powi(2)).sum();
        let h: f64 = (0..3).map(|a| (p[a] - hilum[a]).powi(2)).sum();
        e <= 1.0 && h > 16.0 * 16.0
    };
    // Volume by 0.25 mm sampling.
    let step = 0.25;
    let mut n = 0usize;
    let steps = |a: usize| (2.0 * semi[a] / step) as i64;
    for i in 0..steps(0) {
        for j in 0..steps(1) {
            for k in 0..steps(2) {
                let p = [
                    centre[0] - semi[0] + (i as f64 + 0.5) * step,
                    centre[1] - semi[1] + (j as f64 + 0.5) * step,
                    centre[2] - semi[2] + (k as f64 + 0.5) * step,
                ];
                if inside(p) {
                    n += 1;
                }
            }
        }
    }
    Compartment {
        name: "kidney".into(),
        inside: Box::new(inside),
        lo_mm: [0, 1, 2].map(|a| centre[a] - semi[a]),
        hi_mm: [0, 1, 2].map(|a| centre[a] + semi[a]),
        model: TacModel::UptakeWashout,
        params,
        volume_ml: n as f64 * step.powi(3) / 1000.0,
    }
}

/// Tumours (uptake–washout, T_eff ≈ 80 h), kidney (≈ 50 h); concentrations in Bq/mL.
fn compartments() -> Vec<Compartment> {
    let tumour = |a: f64| vec![a, std::f64::consts::LN_2 / 80.0, 0.3];
    vec![
        sphere("sphere_2ml", 2.0, [-90.0, 0.0, -35.0], tumour(1.0e5)),
        sphere("sphere_4ml", 4.0, [-45.0, 0.0, -35.0], tumour(1.2e5)),
        sphere("sphere_8ml", 8.0, [0.0, 0.0, -35.0], tumour(0.9e5)),
        sphere("sphere_16ml", 16.0, [50.0, 0.0, -35.0], tumour(1.1e5)),
        sphere("sphere_32ml", 32.0, [-85.0, 0.0, 40.0], tumour(1.0e5)),
        sphere("sphere_100ml", 100.0, [0.0, 0.0, 40.0], tumour(0.8e5)),
        kidney(
            [85.0, 0.0, 40.0],
            vec![6.0e4, std::f64::consts::LN_2 / 50.0, 0.5],
        ),
    ]
}

/// Background of the body: mono-exponential, T_eff 30 h, Bq/mL.
const BACKGROUND: [f64; 2] = [3.0e3, std::f64::consts::LN_2 / 30.0];

/// The region blurred and averaged onto the scan voxels, per unit concentration (module doc).
fn blurred_region(grid: &Grid, c: &Compartment, psf: &GaussianPsf) -> Vec<f64> {
    let margin = 6.0 * FWHM_MM / psf::FWHM_PER_SIGMA + VOXEL_MM;
    let lo = grid.patient_to_voxel(c.lo_mm.map(|x| x - margin));
    let hi = grid.patient_to_voxel(c.hi_mm.map(|x| x + margin));
    let lo = [0, 1, 2].map(|a| lo[a].floor().max(0.0) as usize);
    let hi = [0, 1, 2].map(|a| (hi[a].ceil() as usize + 1).min(grid.dims[a]));
    let coarse = [0, 1, 2].map(|a| hi[a] - lo[a]);
    let fine = coarse.map(|n| n * FINE);
    let h = VOXEL_MM / FINE as f64;
    let mut ind = vec![0.0; fine[0] * fine[1] * fine[2]];
    for k in 0..fine[2] {
        for j in 0..fine[1] {
            for i in 0..fine[0] {
                let at = |n: usize, l: usize| l as f64 + (n as f64 + 0.5) / FINE as f64 - 0.5;
                let p = grid.voxel_to_patient([
                    at(i % FINE, lo[0] + i / FINE),
                    at(j % FINE, lo[1] + j / FINE),
                    at(k % FINE, lo[2] + k / FINE),
                ]);
                if (c.inside)(p) {
                    ind[i + fine[0] * (j + fine[1] * k)] = 1.0;
                }
            }
        }
    }
    let blurred = psf::blur_dims(&ind, fine, [h; 3], psf);
    let mut out = vec![0.0; grid.n_voxels()];
    for k in 0..fine[2] {
        for j in 0..fine[1] {
            for i in 0..fine[0] {
                let v = grid.index(lo[0] + i / FINE, lo[1] + j / FINE, lo[2] + k / FINE);
                out[v] += blurred[i + fine[0] * (j + fine[1] * k)] / (FINE * FINE * FINE) as f64;
            }
        }
    }
    out
}

/// Share of each scan voxel inside the body and outside every region (5³ sub-samples).
fn background_fraction(grid: &Grid, regions: &[Compartment]) -> Vec<f64> {
    (0..grid.n_voxels())
        .map(|v| {
            let ijk = grid.ijk(v);
            let mut hits = 0;
            for a in 0..5 {
                for b in 0..5 {
                    for c in 0..5 {
                        let o = |n: usize| (n as f64 + 0.5) / 5.0 - 0.5;
                        let p = grid.voxel_to_patient([
                            ijk[0] as f64 + o(a),
                            ijk[1] as f64 + o(b),
                            ijk[2] as f64 + o(c),
                        ]);
                        if in_body(p) && !regions.iter().any(|r| (r.inside)(p)) {
                            hits += 1;
                        }
                    }
                }
            }
            hits as f64 / 125.0
        })
        .collect()
}

/// Gaussian deviates by Box–Muller from the project's PCG32.
fn normal(rng: &mut Pcg32) -> f64 {
    let u1 = (rng.uniform() as f64).max(1e-12);
    let u2 = rng.uniform() as f64;
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Writes the synthetic study into `dir`; returns the study path and the regions.
fn write_study(dir: &Path) -> (PathBuf, Vec<Compartment>) {
    let grid = grid();
    let psf = GaussianPsf::isotropic(FWHM_MM);
    let regions = compartments();
    let blurred: Vec<Vec<f64>> = regions
        .iter()
        .map(|c| blurred_region(&grid, c, &psf))
        .collect();
    let bg = psf::blur(&grid, &background_fraction(&grid, &regions), &psf);
    let mut labels = Volume::filled(grid.clone(), 0.0f32);
    let mut ct = Volume::filled(grid.clone(), -1000.0f32);
    for v in 0..grid.n_voxels() {
        let p = grid.voxel_to_patient(grid.ijk(v).map(|x| x as f64));
        if in_body(p) {
            ct.data[v] = 0.0;
        }
        if let Some(l) = regions.iter().position(|r| (r.inside)(p)) {
            labels.data[v] = (l + 1) as f32;
        }
    }
    write_volume_f32(&dir.join("labels.nii.gz"), &labels, "labels").unwrap();
    write_volume_f32(&dir.join("ct.nii.gz"), &ct, "HU").unwrap();
    let mut rng = Pcg32::new(21, 0);
    let mut tps = Vec::new();
    for &t in &TIMES_H {
        let c_bg = TacModel::MonoExp.eval(&BACKGROUND, t, None);
        let conc: Vec<f64> = regions
            .iter()
            .map(|r| r.model.eval(&r.params, t, None))
            .collect();
        let data: Vec<f32> = (0..grid.n_voxels())
            .map(|v| {
                let clean = c_bg * bg[v]
                    + blurred
                        .iter()
                        .zip(&conc)
                        .map(|(b, c)| b[v] * c)
                        .sum::<f64>();
                (clean * (1.0 + 0.03 * normal(&mut rng))) as f32
            })
            .collect();
        let name = format!("spect_{t:03}h.nii.gz");
        write_volume_f32(
            &dir.join(&name),
            &Volume {
                grid: grid.clone(),
                data,
            },
            "Bq/mL",
        )
        .unwrap();
        tps.push(format!(r#"{{"image": "{name}", "hours": {t}}}"#));
    }
    let names: Vec<String> = regions
        .iter()
        .enumerate()
        .map(|(i, r)| format!(r#""{}": "{}""#, i + 1, r.name))
        .collect();
    let study = dir.join("study.json");
    std::fs::write(
        &study,
        format!(
            r#"{{"nuclide": "Lu-177", "units": "Bq/mL", "labels": "labels.nii.gz",
                "reference_ct": "ct.nii.gz", "registration": "none", "voxel_threshold": 0.001,
                "region_names": {{{}}},
                "uncertainty": {{"activity_rel_sigma": 0.05}},
                "cycles": [{{"injected_activity_bq": 7.4e9, "time_points": [{}]}}]}}"#,
            names.join(", "),
            tps.join(", ")
        ),
    )
    .unwrap();
    (study, regions)
}

/// True Ã of a region, Bq·s (analytic integral × true volume × 3600 s/h).
fn true_tia(c: &Compartment) -> f64 {
    c.model.integral(&c.params, None) * c.volume_ml * 3600.0
}

#[test]
fn gtm_and_rc_curve_recover_region_tia_of_a_blurred_noisy_study() {
    let dir = tempfile::tempdir().unwrap();
    let (study, regions) = write_study(dir.path());
    let truth: Vec<f64> = regions.iter().map(true_tia).collect();

    // GTM with the PSF that made the images.
    let gtm = PartialVolumeOverride {
        method: Some(PvcMethod::Gtm),
        psf_fwhm_mm: Some([FWHM_MM; 3]),
        rc_curve: None,
    };
    let out = dir.path().join("gtm");
    let fit = fit_study_with(&study, &out, false, Some(&gtm)).unwrap();
    let mut table =
        String::from("region        mL  label  truth     uncorr  gtm     rc-curve models\n");
    let mut gtm_ratio = Vec::new();
    let mut raw_ratio = Vec::new();
    for (c, t) in regions.iter().zip(&truth) {
        let r = fit.regions.iter().find(|r| r.name == c.name).unwrap();
        let pv = r
            .partial_volume
            .as_ref()
            .expect("corrected regions carry the uncorrected values");
        gtm_ratio.push(r.tia_bq_s / t);
        raw_ratio.push(pv.tia_uncorrected_bq_s / t);
        // The voxel map's regional sum is the corrected Ã.
        let lab = voxdose::io::nifti::read_volume_f32(&dir.path().join("labels.nii.gz")).unwrap();
        let l = (regions.iter().position(|x| x.name == c.name).unwrap() + 1) as f32;
        let map_sum: f64 = lab
            .data
            .iter()
            .zip(&fit.tia.data)
            .filter(|(&x, _)| x == l)
            .map(|(_, &v)| v as f64)
            .sum();
        assert!(
            (map_sum / r.tia_bq_s - 1.0).abs() < 1e-4,
            "{}: map {map_sum} vs {}",
            c.name,
            r.tia_bq_s
        );
        assert!(pv.correction_rel_sigma > 0.0 && r.tia_sigma_bq_s > r.tia_sigma_fit_bq_s);
    }
    let g = fit.cycles[0]
        .partial_volume
        .as_ref()
        .unwrap()
        .gtm
        .as_ref()
        .unwrap();
    assert!(g.condition_number < 20.0, "κ {}", g.condition_number);
    assert!(g.background.contains("reference CT"), "{}", g.background);

    // RC curve measured by `voxdose recovery` on a synthetic NEMA IEC scan of the same
    // resolution and voxels.
    let rc_path = dir.path().join("rc.json");
    run_recovery(&RecoveryOptions {
        image: RecoveryImage::Synthetic {
            fwhm_mm: FWHM_MM,
            voxel_mm: VOXEL_MM,
        },
        spheres: SphereSource::NemaIec,
        concentration_bq_ml: 1.0e5,
        background_bq_ml: 0.0,
        out: rc_path.clone(),
        force: false,
    })
    .unwrap();
    let rc = PartialVolumeOverride {
        method: Some(PvcMethod::RcCurve),
        psf_fwhm_mm: None,
        rc_curve: Some(rc_path),
    };
    let fit_rc = fit_study_with(&study, &dir.path().join("rc"), false, Some(&rc)).unwrap();
    let mut rc_ratio = Vec::new();
    for (i, (c, t)) in regions.iter().zip(&truth).enumerate() {
        let r = fit_rc.regions.iter().find(|r| r.name == c.name).unwrap();
        rc_ratio.push(r.tia_bq_s / t);
        let g = fit.regions.iter().find(|r| r.name == c.name).unwrap();
        table.push_str(&format!(
            "{:<13} {:>5.1} {:>5.1} {:.3e} {:.3}  {:.3}   {:.3}  {} {}\n",
            c.name,
            c.volume_ml,
            r.volume_ml,
            t,
            raw_ratio[i],
            gtm_ratio[i],
            rc_ratio[i],
            g.model,
            r.model
        ));
    }
    eprintln!("{table}");
    for (i, c) in regions.iter().enumerate() {
        if c.volume_ml >= 4.0 {
            assert!(
                (gtm_ratio[i] - 1.0).abs() < 0.05,
                "GTM {}: {}\n{table}",
                c.name,
                gtm_ratio[i]
            );
            assert!(
                (rc_ratio[i] - 1.0).abs() < 0.10,
                "RC {}: {}\n{table}",
                c.name,
                rc_ratio[i]
            );
        }
    }
    // Without correction the small spheres lose a third or more (the issue's 35–45 %).
    assert!(raw_ratio[1] < 0.7 && raw_ratio[3] < 0.8, "{table}");
    let csv = std::fs::read_to_string(dir.path().join("rc").join("regions.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.contains("tia_uncorrected_bq_s") && header.contains("tia_bq_s"),
        "{header}"
    );
    assert!(csv.contains("rc-curve"));
}

#[test]
fn recovery_on_a_synthetic_nema_scan_recovers_the_curve_that_made_it() {
    let dir = tempfile::tempdir().unwrap();
    for (background, name) in [(0.0, "cold.json"), (2.5e4, "warm.json")] {
        let out = dir.path().join(name);
        let (curve, _) = run_recovery(&RecoveryOptions {
            image: RecoveryImage::Synthetic {
                fwhm_mm: FWHM_MM,
                voxel_mm: VOXEL_MM,
            },
            spheres: SphereSource::NemaIec,
            concentration_bq_ml: 1.0e5,
            background_bq_ml: background,
            out: out.clone(),
            force: false,
        })
        .unwrap();
        let (f, _) = curve.effective_fwhm_mm();
        assert!((f / FWHM_MM - 1.0).abs() < 0.03, "{name}: F {f}");
        assert!(
            (curve.amplitude() - 1.0).abs() < 0.03,
            "{name}: a {}",
            curve.amplitude()
        );
        // The recovered curve against the one that made the scan (a Gaussian of 10 mm on a
        // continuous sphere), over the spheres' range and beyond.
        for v in [0.5, 1.0, 2.5, 5.0, 11.5, 26.5, 100.0] {
            let made = rc_gaussian_sphere(v, FWHM_MM);
            let got = curve.amplitude() * rc_gaussian_sphere(v, f);
            assert!(
                (got / made - 1.0).abs() < 0.03,
                "{name}: V {v}: {got} vs {made}"
            );
        }
        for s in &curve.spheres {
            assert!((s.rc / s.rc_fitted - 1.0).abs() < 0.03, "{name}: {s:?}");
        }
        let back = voxdose::kinetics::recovery::RcCurve::load(&out).unwrap();
        assert_eq!(back, curve);
        let png = std::fs::read(out.with_extension("png")).unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
    }
}

#[test]
fn recovery_finds_the_nema_spheres_in_a_moved_rotated_scan() {
    let dir = tempfile::tempdir().unwrap();
    let grid = Grid::new([64, 64, 44], [4.0; 3], [-130.0, -110.0, -60.0]);
    let placed = NemaPlacement {
        centre_mm: [7.3, 4.1, 5.2],
        angle_rad: 23f64.to_radians(),
        mirrored: true,
    };
    let scan = synthetic_nema_scan_placed(&grid, &placed, FWHM_MM, 1.0e5, 1.0e4);
    let path = dir.path().join("nema.nii.gz");
    write_volume_f32(&path, &scan, "Bq/mL").unwrap();
    let (curve, _) = run_recovery(&RecoveryOptions {
        image: RecoveryImage::Scan {
            path,
            calibration_bq_ml_per_count: None,
        },
        spheres: SphereSource::NemaIec,
        concentration_bq_ml: 1.0e5,
        background_bq_ml: 1.0e4,
        out: dir.path().join("rc.json"),
        force: false,
    })
    .unwrap();
    let found: NemaPlacement = serde_json::from_value(curve.source["placement"].clone()).unwrap();
    for a in 0..3 {
        assert!(
            (found.centre_mm[a] - placed.centre_mm[a]).abs() < 0.5,
            "{found:?}"
        );
    }
    assert!(
        (found.angle_rad - placed.angle_rad).abs() < 0.5f64.to_radians(),
        "{found:?}"
    );
    assert!(found.mirrored);
    let (f, _) = curve.effective_fwhm_mm();
    assert!((f / FWHM_MM - 1.0).abs() < 0.03, "F {f}");
}

fn voxdose() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_voxdose"))
}

/// A small study: one 8 mL sphere in a warm cube, two scans; `extra` is added to the
/// study's JSON (e.g. a `partial_volume` key).
fn small_study(dir: &Path, extra: &str) -> PathBuf {
    let grid = Grid::centred([20, 20, 20], VOXEL_MM);
    let psf = GaussianPsf::isotropic(FWHM_MM);
    let ball = sphere("tumour", 8.0, [0.0; 3], vec![1.0e5, 0.01, 0.3]);
    let region = blurred_region(&grid, &ball, &psf);
    let mut labels = Volume::filled(grid.clone(), 0.0f32);
    for v in 0..grid.n_voxels() {
        if (ball.inside)(grid.voxel_to_patient(grid.ijk(v).map(|x| x as f64))) {
            labels.data[v] = 1.0;
        }
    }
    write_volume_f32(&dir.join("labels.nii.gz"), &labels, "labels").unwrap();
    let mut tps = Vec::new();
    for t in [24.0f64, 96.0] {
        let c = TacModel::UptakeWashout.eval(&ball.params, t, None);
        let data: Vec<f32> = region.iter().map(|b| (1.0e3 + b * c) as f32).collect();
        let name = format!("s{t}.nii.gz");
        write_volume_f32(
            &dir.join(&name),
            &Volume {
                grid: grid.clone(),
                data,
            },
            "Bq/mL",
        )
        .unwrap();
        tps.push(format!(r#"{{"image": "{name}", "hours": {t}}}"#));
    }
    let study = dir.join("study.json");
    std::fs::write(
        &study,
        format!(
            r#"{{"nuclide": "Lu-177", "units": "Bq/mL", "labels": "labels.nii.gz", "registration": "none", {extra}
                "cycles": [{{"injected_activity_bq": 7.4e9, "time_points": [{}]}}]}}"#,
            tps.join(", ")
        ),
    )
    .unwrap();
    study
}

#[test]
fn fit_command_takes_pvc_flags_and_refuses_rc_curve_without_a_curve() {
    let dir = tempfile::tempdir().unwrap();
    let study = small_study(dir.path(), "");
    let out = dir.path().join("out");
    let o = voxdose()
        .args([
            "fit",
            study.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(["--pvc", "gtm", "--psf-fwhm-mm", "10"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!("{stdout}");
    assert!(
        stdout.contains("partial-volume correction: gtm") && stdout.contains("uncorrected"),
        "{stdout}"
    );
    let json = std::fs::read_to_string(out.join("regions.json")).unwrap();
    assert!(json.contains("\"condition_number\"") && json.contains("\"tia_uncorrected_bq_s\""));

    let o = voxdose()
        .args([
            "fit",
            study.to_str().unwrap(),
            "--out",
            dir.path().join("o2").to_str().unwrap(),
        ])
        .args(["--pvc", "rc-curve"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(9),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("rc_curve"));

    // `voxdose recovery` on the synthetic phantom writes rc.json and its plot.
    let rc = dir.path().join("rc.json");
    let o = voxdose()
        .args([
            "recovery",
            "--synthetic-fwhm-mm",
            "10",
            "--phantom",
            "nema-iec",
        ])
        .args(["--concentration", "1e5", "--out", rc.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("sphere_37mm") && rc.with_extension("png").exists(),
        "{stdout}"
    );
    let o = voxdose()
        .args([
            "fit",
            study.to_str().unwrap(),
            "--out",
            dir.path().join("o3").to_str().unwrap(),
        ])
        .args(["--pvc", "rc-curve", "--rc-curve", rc.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn the_study_key_alone_corrects_and_a_flag_turns_it_off() {
    let dir = tempfile::tempdir().unwrap();
    let study = small_study(
        dir.path(),
        r#""partial_volume": {"method": "gtm", "psf_fwhm_mm": [10, 10, 10], "psf_fwhm_rel_sigma": 0.05},"#,
    );
    let out = dir.path().join("key");
    let fit = fit_study_with(&study, &out, false, None).unwrap();
    let r = &fit.regions[0];
    let pv = r.partial_volume.as_ref().unwrap();
    assert_eq!(pv.method, PvcMethod::Gtm);
    // An 8 mL sphere at 10 mm FWHM recovers about 60 %: the correction raises Ã by ~1.6×.
    assert!(
        pv.tia_factor > 1.4 && pv.tia_factor < 1.9,
        "{}",
        pv.tia_factor
    );
    let off = PartialVolumeOverride {
        method: Some(PvcMethod::None),
        ..Default::default()
    };
    let fit = fit_study_with(&study, &dir.path().join("off"), false, Some(&off)).unwrap();
    assert!(fit.regions[0].partial_volume.is_none());
    assert!((fit.regions[0].tia_bq_s / pv.tia_uncorrected_bq_s - 1.0).abs() < 1e-9);
}

#[test]
fn study_run_with_the_partial_volume_key_doses_the_corrected_activity() {
    // `voxdose run --study` goes through the same fit: the study key reaches the dose.
    let dir = tempfile::tempdir().unwrap();
    let plain = small_study(dir.path(), "");
    let corrected = dir.path().join("study_gtm.json");
    std::fs::write(
        &corrected,
        std::fs::read_to_string(&plain).unwrap().replace(
            r#""registration": "none","#,
            r#""registration": "none", "partial_volume": {"method": "gtm", "psf_fwhm_mm": 10},"#,
        ),
    )
    .unwrap();
    let run = |study: &Path, out: &str| {
        let out = dir.path().join(out);
        let o = voxdose()
            .args(["run", "--study"])
            .arg(study)
            .args(["--decays", "4e4", "--device", "cpu", "--quiet", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
        let regions: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("regions.json")).unwrap()).unwrap();
        (s["regions"][0]["mean_dose"].as_f64().unwrap(), regions)
    };
    let (d_plain, _) = run(&plain, "plain");
    let (d_gtm, regions) = run(&corrected, "gtm");
    let pv = &regions["cycles"][0]["regions"][0]["partial_volume"];
    let factor = pv["tia_factor"].as_f64().unwrap();
    assert!(factor > 1.4, "{pv}");
    // The tumour's dose comes mostly from its own decays, so it scales with the map's
    // regional Ã: map_factor, which is the correction (tia_factor) times the ratio of the
    // region fit's Ã to the voxel fits' sum (two scans: trapezoid with a physical tail for
    // the region, mono-exponentials per voxel). 4e4 decays: about 1 % statistics; the
    // background, scaled down by GTM, adds a little.
    let map_factor = pv["map_factor"].as_f64().unwrap();
    let ratio = d_gtm / d_plain;
    assert!(
        (ratio / map_factor - 1.0).abs() < 0.05,
        "dose ×{ratio} vs map Ã ×{map_factor}"
    );
}

#[test]
fn recovery_with_a_sphere_label_map_measures_the_labelled_volumes() {
    // The same synthetic scan, spheres given as a label map (voxel centres inside): each
    // labelled voxel weighs 1 and the volume is the labelled one, so the voxelised spheres'
    // volume errors (up to ±10 % for the 10 mm sphere at 4 mm) enter; the PSF still comes
    // back within 5 %.
    let dir = tempfile::tempdir().unwrap();
    let grid = Grid::centred([75, 58, 46], VOXEL_MM);
    let placement = NemaPlacement::builtin();
    let scan = synthetic_nema_scan_placed(&grid, &placement, FWHM_MM, 1.0e5, 0.0);
    let mut labels = Volume::filled(grid.clone(), 0.0f32);
    for v in 0..grid.n_voxels() {
        let p = grid.voxel_to_patient(grid.ijk(v).map(|x| x as f64));
        if let Some(i) = placement.spheres().iter().position(|s| s.contains(p)) {
            labels.data[v] = (i + 1) as f32;
        }
    }
    let (scan_path, label_path) = (
        dir.path().join("scan.nii.gz"),
        dir.path().join("spheres.nii.gz"),
    );
    write_volume_f32(&scan_path, &scan, "Bq/mL").unwrap();
    write_volume_f32(&label_path, &labels, "labels").unwrap();
    let (curve, _) = run_recovery(&RecoveryOptions {
        image: RecoveryImage::Scan {
            path: scan_path,
            calibration_bq_ml_per_count: None,
        },
        spheres: SphereSource::Labels(label_path),
        concentration_bq_ml: 1.0e5,
        background_bq_ml: 0.0,
        out: dir.path().join("rc.json"),
        force: false,
    })
    .unwrap();
    assert_eq!(curve.spheres.len(), 6);
    let (f, _) = curve.effective_fwhm_mm();
    eprintln!(
        "labels: a {} F {f}; {:?}",
        curve.amplitude(),
        curve
            .spheres
            .iter()
            .map(|s| (s.volume_ml, s.rc, s.rc_fitted))
            .collect::<Vec<_>>()
    );
    assert!((f / FWHM_MM - 1.0).abs() < 0.05, "F {f}");
    assert!(
        (curve.amplitude() - 1.0).abs() < 0.05,
        "a {}",
        curve.amplitude()
    );
}

#[path = "common/study_dicom.rs"]
mod study_dicom;

/// `small_study` with GTM and no FWHM, its scans written as NM series with `camera`'s tags.
fn small_dicom_study(dir: &Path, camera: study_dicom::NmOptions) -> PathBuf {
    let study = small_study(dir, r#""partial_volume": {"method": "gtm"},"#);
    let mut text = std::fs::read_to_string(&study).unwrap();
    for (n, t) in [24, 96].into_iter().enumerate() {
        let vol = voxdose::io::nifti::read_volume_f32(&dir.join(format!("s{t}.nii.gz"))).unwrap();
        std::fs::create_dir_all(dir.join(format!("nm{t}"))).unwrap();
        let opts = study_dicom::NmOptions {
            series_uid: format!("2.25.{}", 200 + n),
            ..camera.clone()
        };
        study_dicom::write_nm(&dir.join(format!("nm{t}/nm.dcm")), &vol, &opts);
        text = text.replace(&format!("s{t}.nii.gz"), &format!("nm{t}"));
    }
    let text = text.replace(r#""units": "Bq/mL","#, "");
    std::fs::write(&study, text).unwrap();
    study
}

#[test]
fn gtm_takes_the_psf_from_the_dicom_resolution_else_its_collimator_with_a_warning() {
    // SpatialResolution (0018,1050) stated: that FWHM, not assumed.
    let dir = tempfile::tempdir().unwrap();
    let study = small_dicom_study(
        dir.path(),
        study_dicom::NmOptions {
            spatial_resolution_mm: Some(9.5),
            collimator: Some("MEGP"),
            ..Default::default()
        },
    );
    let out = dir.path().join("out");
    fit_study_with(&study, &out, false, None).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("regions.json")).unwrap()).unwrap();
    let psf = &json["cycles"][0]["partial_volume"]["psf"];
    assert_eq!(
        psf["psf"]["fwhm_mm"],
        serde_json::json!([9.5, 9.5, 9.5]),
        "{psf}"
    );
    assert_eq!(psf["assumed"], false);
    assert!(psf["source"]
        .as_str()
        .unwrap()
        .contains("SpatialResolution"));

    // No SpatialResolution: the documented default of the DICOM's collimator (MEGP → ME,
    // Lu-177, with resolution recovery: 8.0 mm, data/psf_defaults/psf_fwhm.csv), assumed,
    // and the command prints the warning.
    let dir = tempfile::tempdir().unwrap();
    let study = small_dicom_study(
        dir.path(),
        study_dicom::NmOptions {
            collimator: Some("MEGP"),
            ..Default::default()
        },
    );
    let out = dir.path().join("out");
    let o = voxdose()
        .args([
            "fit",
            study.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: PSF FWHM 8.0 mm is assumed") && stderr.contains("MEGP"),
        "{stderr}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("regions.json")).unwrap()).unwrap();
    let psf = &json["cycles"][0]["partial_volume"]["psf"];
    assert_eq!(
        psf["psf"]["fwhm_mm"],
        serde_json::json!([8.0, 8.0, 8.0]),
        "{psf}"
    );
    assert_eq!(psf["assumed"], true);
    assert!(psf["source"]
        .as_str()
        .unwrap()
        .contains("CollimatorGridName"));

    // A FWHM in the study still wins over the DICOM's.
    let text = std::fs::read_to_string(&study).unwrap().replace(
        r#"{"method": "gtm"}"#,
        r#"{"method": "gtm", "psf_fwhm_mm": 11}"#,
    );
    std::fs::write(&study, text).unwrap();
    let fit = fit_study_with(&study, &dir.path().join("given"), false, None).unwrap();
    let p = fit.cycles[0]
        .partial_volume
        .as_ref()
        .unwrap()
        .psf
        .as_ref()
        .unwrap();
    assert_eq!(p.psf.fwhm_mm, [11.0; 3]);
    assert!(!p.assumed);
}
