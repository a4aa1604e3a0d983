//! A synthetic patient for the twin: four regions (two kidneys, a tumour, red marrow) in a
//! 64 × 64 × 48 mm body of 4 mm voxels, each with a mono-exponential time–activity curve
//! (uptake fraction of the injected activity and biological half-life, physical decay of
//! 177Lu on top), scanned at 4, 24, 72 and 168 h after each administration. The tests of the
//! twin and the README's worked example use it (`cargo run --example twin_patient -- DIR`);
//! the numbers are chosen to give doses of clinical magnitude (kidneys ≈ 0.7 Gy/GBq), not to
//! model any patient.

use crate::geometry::{Grid, Volume};
use crate::io::nifti::write_volume_f32;
use crate::Result;
use std::collections::BTreeMap;
use std::f64::consts::LN_2;
use std::path::{Path, PathBuf};

/// A region of the synthetic patient: label, name, box (voxel index ranges), the fraction of
/// the injected activity taken up, and its biological half-life (h).
pub struct Organ {
    /// Label value.
    pub label: u32,
    /// Region name.
    pub name: &'static str,
    /// First voxel index of its box.
    pub lo: [usize; 3],
    /// One past the last voxel index.
    pub hi: [usize; 3],
    /// Fraction of the injected activity taken up.
    pub uptake: f64,
    /// Biological half-life, h.
    pub t_bio_h: f64,
}

/// The regions of the synthetic patient.
pub const ORGANS: [Organ; 4] = [
    Organ {
        label: 1,
        name: "kidney_left",
        lo: [3, 4, 3],
        hi: [6, 9, 8],
        uptake: 0.0005,
        t_bio_h: 80.0,
    },
    Organ {
        label: 2,
        name: "kidney_right",
        lo: [10, 4, 3],
        hi: [13, 9, 8],
        uptake: 0.0005,
        t_bio_h: 80.0,
    },
    Organ {
        label: 3,
        name: "tumour_1",
        lo: [7, 10, 4],
        hi: [10, 13, 7],
        uptake: 0.001,
        t_bio_h: 120.0,
    },
    Organ {
        label: 4,
        name: "red_marrow",
        lo: [7, 2, 2],
        hi: [9, 4, 10],
        uptake: 0.0001,
        t_bio_h: 30.0,
    },
];

/// Activity outside the organs: a uniform fraction of the injection with a 20 h half-life.
pub const BODY_UPTAKE: f64 = 0.01;

/// The patient's grid.
pub fn grid() -> Grid {
    Grid::new([16, 16, 12], [4.0; 3], [-32.0, -32.0, -24.0])
}

/// True when voxel `ijk` is in organ `o`.
pub fn inside(o: &Organ, ijk: [usize; 3]) -> bool {
    (0..3).all(|a| (o.lo[a]..o.hi[a]).contains(&ijk[a]))
}

/// Writes the label map, the scans of `cycles` (activity in Bq, the same kinetics per GBq)
/// and a study file `name` listing them into `dir`; returns the study path. With
/// `extra_point_in_last` the last cycle has a fifth scan at 240 h.
pub fn write_patient(
    dir: &Path,
    name: &str,
    cycles: &[f64],
    extra_point_in_last: bool,
) -> Result<PathBuf> {
    let g = grid();
    let label_of = |v: usize| {
        ORGANS
            .iter()
            .find(|o| inside(o, g.ijk(v)))
            .map_or(0, |o| o.label)
    };
    let labels: Vec<f32> = (0..g.n_voxels()).map(|v| label_of(v) as f32).collect();
    write_volume_f32(
        &dir.join("labels.nii.gz"),
        &Volume {
            grid: g.clone(),
            data: labels,
        },
        "labels",
    )?;
    let ml = g.voxel_volume_mm3() * 1e-3;
    let count = |o: &Organ| (0..g.n_voxels()).filter(|&v| inside(o, g.ijk(v))).count() as f64;
    let n_body = g.n_voxels() as f64 - ORGANS.iter().map(count).sum::<f64>();
    let lambda_phys = LN_2 / (6.647 * 24.0);
    let mut cycle_json = Vec::new();
    for (c, &a_inj) in cycles.iter().enumerate() {
        let mut times = vec![4.0, 24.0, 72.0, 168.0];
        if extra_point_in_last && c + 1 == cycles.len() {
            times.push(240.0);
        }
        let mut tps = Vec::new();
        for &t in &times {
            let conc = |v: usize| -> f32 {
                let (f, tb, n) = match ORGANS.iter().find(|o| inside(o, g.ijk(v))) {
                    Some(o) => (o.uptake, o.t_bio_h, count(o)),
                    None => (BODY_UPTAKE, 20.0, n_body),
                };
                let l = lambda_phys + LN_2 / tb;
                (a_inj * f / n / ml * (-l * t).exp()) as f32
            };
            let img = format!("c{}_{t:03}h.nii.gz", c + 1);
            let data = (0..g.n_voxels()).map(conc).collect();
            write_volume_f32(
                &dir.join(&img),
                &Volume {
                    grid: g.clone(),
                    data,
                },
                "Bq/mL",
            )?;
            tps.push(serde_json::json!({"image": img, "hours": t}));
        }
        cycle_json.push(serde_json::json!({"injected_activity_bq": a_inj, "date": format!("2026-{:02}-01", 3 + 2 * c), "time_points": tps}));
    }
    let names: BTreeMap<String, String> = ORGANS
        .iter()
        .map(|o| (o.label.to_string(), o.name.to_string()))
        .collect();
    let study = serde_json::json!({
        "nuclide": "Lu-177", "units": "Bq/mL", "labels": "labels.nii.gz",
        "region_names": names, "registration": "none", "models": ["mono-exp"],
        "voxel_model": "mono-exp", "cycles": cycle_json,
    });
    let path = dir.join(name);
    let text = serde_json::to_vec_pretty(&study)
        .map_err(|e| crate::Error::Internal(format!("study JSON: {e}")))?;
    crate::io::atomic::write_atomic(&path, &text)?;
    Ok(path)
}
