//! Times `voxdose report` on a patient-sized folder: a synthetic 512×512×300 run (CT, dose,
//! σ, 8 regions, organ table, DVH, summary) written once into DIR, then the report written
//! three times (the first read comes from disk, the others from the page cache).
//!
//! ```sh
//! cargo run --release --example report_timing -- /tmp/report_timing
//! ```

use std::path::Path;
use std::time::Instant;
use voxdose::geometry::{Grid, Region, Volume, VoxelModel};

const DIMS: [usize; 3] = [512, 512, 300];

fn main() -> voxdose::Result<()> {
    let dir = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "report_timing".into()),
    );
    if !dir.join("summary.json").is_file() {
        let t = Instant::now();
        write_folder(&dir)?;
        println!(
            "wrote the synthetic folder in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    for _ in 0..3 {
        let t = Instant::now();
        let o = voxdose::report::html::write_report(&dir, &Default::default())?;
        println!(
            "report of {}×{}×{}: {:.2} s ({} sections, {} bytes)",
            DIMS[0],
            DIMS[1],
            DIMS[2],
            t.elapsed().as_secs_f64(),
            o.sections.len(),
            std::fs::metadata(&o.html).map(|m| m.len()).unwrap_or(0)
        );
    }
    Ok(())
}

fn write_folder(dir: &Path) -> voxdose::Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| voxdose::Error::OutputNotWritable {
        path: dir.to_path_buf(),
        source,
    })?;
    let grid = Grid::new(DIMS, [0.98, 0.98, 2.0], [-250.0, -250.0, -300.0]);
    // Eight ellipsoidal organs; dose falls off from each; CT: body of water, organs at 40 HU.
    let organs: Vec<([f64; 3], [f64; 3], f64)> = (0..8)
        .map(|o| {
            let a = o as f64 * std::f64::consts::TAU / 8.0;
            (
                [
                    256.0 + 120.0 * a.cos(),
                    256.0 + 90.0 * a.sin(),
                    80.0 + 20.0 * o as f64,
                ],
                [25.0, 20.0, 12.0],
                1.0 + o as f64,
            )
        })
        .collect();
    let n = grid.n_voxels();
    let (mut dose, mut sigma, mut ct) = (vec![0f32; n], vec![0f32; n], vec![-1000f32; n]);
    let mut regions: Vec<Region> = (0..8)
        .map(|o| Region {
            name: format!("organ_{o}"),
            voxels: Vec::new(),
        })
        .collect();
    for v in 0..n {
        let [i, j, k] = grid.ijk(v);
        let p = [i as f64, j as f64, k as f64];
        let body = ((p[0] - 256.0) / 230.0).powi(2) + ((p[1] - 256.0) / 170.0).powi(2) < 1.0;
        ct[v] = if body { 0.0 } else { -1000.0 };
        let mut d = 0.0;
        for (o, (c, r, peak)) in organs.iter().enumerate() {
            let q: f64 = (0..3).map(|a| ((p[a] - c[a]) / r[a]).powi(2)).sum();
            d += peak * (-0.5 * q).exp();
            if q < 1.0 {
                regions[o].voxels.push(v as u32);
                ct[v] = 40.0;
            }
        }
        dose[v] = d as f32;
        sigma[v] = (0.02 / (d + 0.01).sqrt()) as f32;
    }
    let nifti = |name: &str, data: Vec<f32>| {
        voxdose::io::nifti::write_volume_f32(
            &dir.join(name),
            &Volume {
                grid: grid.clone(),
                data,
            },
            "synthetic",
        )
    };
    let ct_path = dir.join("ct.nii.gz");
    nifti("ct.nii.gz", ct)?;
    let mut model = VoxelModel::homogeneous(grid.clone(), "soft-tissue", 1.0);
    model.regions = regions;
    let dose64: Vec<f64> = dose.iter().map(|&d| f64::from(d)).collect();
    let rows = voxdose::report::organ_table::organ_rows(&model, &dose64, &[0.01; 8]);
    voxdose::report::organ_table::write_organ_table(
        &dir.join("organ_table.csv"),
        &dir.join("organ_table.json"),
        &rows,
    )?;
    voxdose::report::organ_table::write_dvh_csv(&dir.join("dvh.csv"), &model, &dose64, 200)?;
    let labels = voxdose::io::masks::label_volume(&grid, &model.regions);
    voxdose::io::nifti::write_labels_u16(
        &dir.join("regions.nii.gz"),
        &labels,
        "synthetic regions",
    )?;
    nifti("dose.nii.gz", dose)?;
    nifti("uncertainty.nii.gz", sigma)?;
    let run = serde_json::json!({
        "input": {"kind": "patient", "ct": ct_path, "spect": dir.join("spect.nii.gz")},
        "transport": {},
    });
    let summary = serde_json::json!({
        "voxdose_version": "synthetic", "phantom": "patient", "description": "synthetic 512×512×300 patient for timing",
        "nuclide": "Lu-177", "dose_unit": "Gy", "decays": 1_000_000, "batches": 20,
    });
    for (name, v) in [("run.json", run), ("summary.json", summary)] {
        std::fs::write(dir.join(name), serde_json::to_vec_pretty(&v).unwrap()).map_err(
            |source| voxdose::Error::OutputNotWritable {
                path: dir.join(name),
                source,
            },
        )?;
    }
    Ok(())
}
