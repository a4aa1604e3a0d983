//! `voxdose validate`: the quick suite passes and writes its files with the published keys,
//! and a deliberately broken physics constant makes the cases that measure it fail.

mod common;

use common::voxdose_bin;
use std::process::Command;
use voxdose::validate::{run_suite, Mode, Perturbation, ValidateConfig};

const KEYS: [&str; 11] = [
    "case",
    "nuclide",
    "quantity",
    "voxdose",
    "voxdose_sigma",
    "reference",
    "reference_sigma",
    "ratio",
    "tolerance",
    "pass",
    "source",
];

fn validate(args: &[&str]) -> std::process::Output {
    Command::new(voxdose_bin())
        .arg("validate")
        .args(args)
        .output()
        .expect("voxdose runs")
}

#[test]
fn quick_suite_passes_and_writes_json_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v");
    let o = validate(&["--quick", "--device", "cpu", "--out", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "the quick suite must pass");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("validation.json")).unwrap()).unwrap();
    let cases = json.as_array().unwrap();
    assert!(cases.len() >= 10, "{} cases", cases.len());
    for c in cases {
        for k in KEYS {
            assert!(c.get(k).is_some(), "{c} lacks {k}");
        }
        // A case outside its tolerance must be a documented known disagreement.
        assert!(
            c["pass"] == true || c["known_disagreement"].is_string(),
            "{c}"
        );
        assert!(!c["source"].as_str().unwrap().is_empty());
    }
    // The known disagreements are the Lanconelli self voxels of 177Lu and 131I, and their
    // diagnostic twins without IC and Auger electrons agree.
    let known: Vec<&str> = cases
        .iter()
        .filter(|c| c["known_disagreement"].is_string())
        .map(|c| c["case"].as_str().unwrap())
        .collect();
    assert_eq!(
        known,
        [
            "vsv-lu177-3mm-000",
            "vsv-lu177-6mm-000",
            "vsv-i131-3mm-000",
            "vsv-i131-6mm-000"
        ]
    );
    for k in known {
        let twin = cases
            .iter()
            .find(|c| c["case"] == format!("{k}-noic").as_str())
            .unwrap();
        assert_eq!(twin["pass"], true, "{twin}");
    }
    let mut nuclides: Vec<&str> = cases.iter().filter_map(|c| c["nuclide"].as_str()).collect();
    nuclides.sort();
    nuclides.dedup();
    assert!(nuclides.len() >= 3, "{nuclides:?}");
    let csv = std::fs::read_to_string(out.join("validation.csv")).unwrap();
    assert!(csv.starts_with(&KEYS.join(",")), "{csv}");
    assert_eq!(csv.lines().count(), cases.len() + 1);
    assert!(stdout.contains("energy-per-decay-lu177") && stdout.contains("within tolerance"));
    assert!(stdout.contains("vsv-y90-3mm-000") && stdout.contains("mird17-i131-6mm-000"));
    // `--quick` runs one 90Y sphere, the others only with `--full` or by name.
    assert!(stdout.contains("sphere-af-y90-4g") && !stdout.contains("sphere-af-y90-100g"));
    // Likewise one 177Lu sphere S value (OLINDA/EXM spheres, Golzaryan et al. 2025).
    assert!(stdout.contains("sphere-s-lu177-4ml") && !stdout.contains("sphere-s-lu177-54ml"));
    // What has no published reference is said, not silently left out.
    assert!(stdout.contains("NEMA IEC") && stdout.contains("no reference code's speed"));
    // A reference code's speed is printed as recorded, labelled so.
    assert!(stdout.contains("recorded, not rerun") && stdout.contains("ARCHER-NM"));
    // The files are never replaced silently.
    let again = validate(&[
        "--cases",
        "xcom-water-208kev",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(5));
}

#[test]
fn unknown_case_is_refused_listing_the_cases() {
    let dir = tempfile::tempdir().unwrap();
    let o = validate(&[
        "--cases",
        "vsv-lu177",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(
        err.contains("vsv-lu177") && err.contains("cpe-sphere-lu177"),
        "{err}"
    );
}

/// Six families, one case each.
fn subset() -> Vec<String> {
    [
        "energy-per-decay-lu177",
        "xcom-water-208kev",
        "estar-csda-water-500kev",
        "cpe-sphere-lu177",
        "vsv-lu177-6mm-000-noic",
        "sphere-s-lu177-4ml",
    ]
    .map(String::from)
    .to_vec()
}

fn failed(perturbation: Perturbation) -> Vec<String> {
    let config = ValidateConfig {
        mode: Mode::Quick,
        device: voxdose::transport::DeviceChoice::Cpu,
        cases: subset(),
        perturbation,
    };
    let results = run_suite(&config, &mut |_| {}).unwrap();
    assert_eq!(results.len(), 6);
    results
        .into_iter()
        .filter(|r| !r.pass)
        .map(|r| {
            eprintln!(
                "{} ratio {:.4} (tolerance {:.4})",
                r.case, r.ratio, r.tolerance
            );
            r.case
        })
        .collect()
}

#[test]
fn a_broken_physics_constant_makes_the_suite_fail() {
    // Every macroscopic cross section and stopping power 10 % too large: the transport
    // measures μ/ρ 10 % high, paths 10 % short, the CPE dose 10 % low, and the 177Lu 6 mm
    // self-voxel S value about 9 % low (nearly all the electron energy stays in 10 % more
    // mass). (90Y at 3 mm would not see it: most of its β energy escapes the voxel, and the
    // energy kept grows with the density as the mass does. Nor does the 177Lu 4 g sphere's
    // S value: it is the energy kept over the sphere's nominal mass, and nearly all of it is
    // kept either way.)
    let dense = failed(Perturbation {
        medium_density_scale: 1.1,
        ..Default::default()
    });
    assert_eq!(
        dense,
        [
            "xcom-water-208kev",
            "estar-csda-water-500kev",
            "cpe-sphere-lu177",
            "vsv-lu177-6mm-000-noic"
        ],
        "the cases that see the medium fail, the decay data case does not"
    );
    // The decay data emitting 10 % too much energy: the cases that use decay data fail (the
    // 177Lu self-voxel and sphere S values by nearly 10 %: nearly all of the electron energy
    // stays).
    let hot = failed(Perturbation {
        emission_energy_scale: 1.10,
        ..Default::default()
    });
    assert_eq!(
        hot,
        [
            "energy-per-decay-lu177",
            "cpe-sphere-lu177",
            "vsv-lu177-6mm-000-noic",
            "sphere-s-lu177-4ml"
        ]
    );
    // The library's default is the unperturbed physics.
    assert_eq!(Perturbation::default().medium_density_scale, 1.0);
    assert_eq!(Perturbation::default().emission_energy_scale, 1.0);
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver manifest found at build time; apt-get install mesa-vulkan-drivers"
)]
fn quick_suite_passes_on_the_gpu_path() {
    // The 41 full-transport cases (7 + 32 voxel S values from 10 kernels + the 4 g 90Y
    // sphere + the 4 g 177Lu sphere) run the WGSL kernels (lavapipe in CI).
    let dir = tempfile::tempdir().unwrap();
    let o = validate(&[
        "--quick",
        "--device",
        "gpu",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout.matches("gpu transport").count(), 41, "{stdout}");
}
