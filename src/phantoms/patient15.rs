//! `patient15` and `patient15-256`: the 177Lu-DOTATATE patient phantom of Auer et al.'s GATE
//! dosimetry macros, read from its GATE files (kept outside the repository).
//!
//! Data: `phantoms/lu177_patient15_gate/` of the shared test data (origin, licence (MIT) and
//! quirks in `../shared/testdata/MANIFEST.md`): GitHub
//! `BenAuer2021/Simulation-Of-Nuclear-Medicine-Imaging-Systems-For-Internal-Dosimetry`,
//! commit 79630b4, `GATE_MACROS_LuDOTATATE_DOSE.zip`. Looked up in `$VOXDOSE_TESTDATA`, then
//! `../shared/testdata` beside the crate, then `../shared/testdata` from the working folder.
//!
//! - **Geometry** from the attenuation image (`patient15_LuDOTATATE_attn.h33`, Interfile, 108 ×
//!   70 × 90 voxels of 3.9063 × 3.9063 × 4.4196 mm): each value is mapped through
//!   `patient15_ID2mat.txt` (first match in file order, see [`crate::io::gate`]) to a GATE
//!   material, which gives the voxel's density (`GateMaterials.db`) and, through
//!   [`crate::io::gate::GATE_MATERIALS`], its voxdose material.
//! - **Regions** from the source image (`patient15_LuDOTATATE_src.h33`): the CT with organ and
//!   tumour voxels overwritten by labels ≥ 15000 ([`LABELS`]; names from the phantom's README
//!   as quoted in MANIFEST.md). Values below 15000 are background. `body` is every voxel whose
//!   GATE material is not Air, CompressedAir or CarbonFiber (the couch).
//! - **Source**: the shipped GATE activity table, `patient15_fullA_T2_spleen_betas.dat`:
//!   22280.13 Bq per spleen voxel (34.2 MBq in all). The table is GATE's β source; one 177Lu
//!   β⁻ per decay, so it is the decay rate, and voxdose emits the full 177Lu decay (β, CE,
//!   Auger, X and γ) from it.
//! - **Placement**: GATE centres the image on the world origin; the patient axes follow from
//!   the label positions (MANIFEST): i runs to the patient's left (+x LPS), j from the couch
//!   towards anterior (−y), k from head to feet (−z).
//!
//! `patient15-256` resamples both images by nearest neighbour onto 256 × 256 × 200 voxels over
//! the same extent (1.648 × 1.068 × 1.989 mm), the CT grid size of the GPU throughput target.
//! Activity per voxel is scaled by the voxel-volume ratio, so the activity concentration is
//! the GATE one and the total changes only by the re-voxelisation of the spleen boundary.

use std::path::{Path, PathBuf};

use super::PhantomSpec;
use crate::geometry::resample::sample_nearest;
use crate::geometry::{Grid, Region, VoxelModel};
use crate::io::gate::{
    read_activity_table, read_gate_densities, read_material_table, voxdose_material,
};
use crate::io::interfile::{read_image, InterfileImage};
use crate::io::InputError;
use crate::physics::materials::{builtin_materials, material_index};
use crate::source::SourceSpec;
use crate::{Error, Result};

use super::Phantom;

/// The folder of the GATE files inside the test data.
pub const DATA_SUBDIR: &str = "phantoms/lu177_patient15_gate";

/// Source-image label → region name (phantom README, quoted in `../shared/testdata/MANIFEST.md`
/// with the voxel counts 15 381, 1 535, 2 052, 2 493, 93, 55, 90).
pub const LABELS: &[(u32, &str)] = &[
    (15000, "liver"),
    (16000, "spleen"),
    (17000, "kidney_left"),
    (18000, "kidney_right"),
    (19000, "tumour_1"),
    (20000, "tumour_2"),
    (21000, "tumour_3"),
];

/// Source-image values from here up are labels; below it the CT shows through.
pub const FIRST_LABEL: f32 = 15000.0;

/// GATE materials that are not the patient (left out of the `body` region).
const NOT_BODY: &[&str] = &["Air", "CompressedAir", "CarbonFiber"];

/// The CT grid the GPU throughput target names (256 × 256 × 200).
pub const CT_GRID_256: [usize; 3] = [256, 256, 200];

/// The places searched for the test data, in order.
fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("VOXDOSE_TESTDATA") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata"));
    if let Ok(cwd) = std::env::current_dir() {
        let d = cwd.join("../shared/testdata");
        if !dirs.iter().any(|x| same_dir(x, &d)) {
            dirs.push(d);
        }
    }
    dirs
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// The folder holding the GATE files, or an error listing where voxdose looked.
pub fn data_dir() -> Result<PathBuf, InputError> {
    let tried: Vec<PathBuf> = candidate_dirs()
        .into_iter()
        .map(|d| d.join(DATA_SUBDIR))
        .collect();
    tried
        .iter()
        .find(|d| d.join("patient15_LuDOTATATE_attn.h33").is_file())
        .cloned()
        .ok_or_else(|| InputError::DataNotFound {
            what: format!("the patient15 phantom's GATE files ({DATA_SUBDIR}/)"),
            looked: tried
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            fix:
                "set VOXDOSE_TESTDATA to the shared test-data folder (the one holding MANIFEST.md)"
                    .into(),
        })
}

/// The GATE grid placed in patient space: centred on the origin, axes as in the module doc.
fn gate_grid(dims: [usize; 3], spacing_mm: [f64; 3]) -> Grid {
    let direction = [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]];
    let mut origin_mm = [0.0; 3];
    for a in 0..3 {
        let half = 0.5 * (dims[a] as f64 - 1.0) * spacing_mm[a];
        for (c, o) in origin_mm.iter_mut().enumerate() {
            *o -= direction[a][c] * half;
        }
    }
    Grid {
        dims,
        spacing_mm,
        origin_mm,
        direction,
    }
}

fn check_no_options(args: &PhantomSpec, name: &str) -> Result<()> {
    for (opt, given) in [
        ("--radius-mm", args.radius_mm.is_some()),
        ("--voxel-mm", args.voxel_mm.is_some()),
        ("--grid", args.grid.is_some()),
        ("--material", args.material.is_some()),
    ] {
        if given {
            return Err(Error::invalid(
                opt,
                format!("{name} is built from its GATE files and takes no {opt}; use patient15 (108×70×90) or patient15-256 (256×256×200)"),
            ));
        }
    }
    Ok(())
}

/// Builds `patient15` (`dims` = None: the GATE grid) or a nearest-neighbour resampling of it
/// to `dims` over the same extent.
pub fn patient15(args: &PhantomSpec, name: &str, dims: Option<[usize; 3]>) -> Result<Phantom> {
    check_no_options(args, name)?;
    let dir = data_dir()?;
    let attn = read_image(&dir.join("patient15_LuDOTATATE_attn.h33"))?;
    let src = read_image(&dir.join("patient15_LuDOTATATE_src.h33"))?;
    let h = attn.header.clone();
    let (attn_path, src_path) = (attn.header.path.clone(), src.header.path.clone());
    if src.header.dims != h.dims || src.header.spacing_mm != h.spacing_mm {
        return Err(InputError::Inconsistent {
            path: src.header.path.clone(),
            reason: format!(
                "grid {:?} × {:?} mm differs from the attenuation image's {:?} × {:?} mm",
                src.header.dims, src.header.spacing_mm, h.dims, h.spacing_mm
            ),
        }
        .into());
    }
    let gate = gate_grid(h.dims, h.spacing_mm);
    let (grid, attn_v, src_v) = match dims {
        None => (gate, attn.values, src.values),
        Some(d) => {
            let ext = gate.extent_mm();
            let grid = gate_grid(d, [0, 1, 2].map(|a| ext[a] / d[a] as f64));
            let on = |img: InterfileImage| {
                let vol = crate::geometry::Volume {
                    grid: gate.clone(),
                    data: img.values,
                };
                sample_nearest(&vol, &grid, 0.0)
            };
            (grid.clone(), on(attn), on(src))
        }
    };
    let (mut model, not_body) = materials(&dir, &attn_path, &grid, &attn_v)?;
    model.regions = regions(&src_path, &grid, &src_v, &not_body)?;
    let volume_ratio = grid.voxel_volume_mm3() / gate_grid(h.dims, h.spacing_mm).voxel_volume_mm3();
    let weights = activity(&dir, &src_v, volume_ratio)?;
    let total_mbq = weights.iter().map(|&w| w as f64).sum::<f64>() * 1e-6;
    let [nx, ny, nz] = grid.dims;
    let s = grid.spacing_mm;
    Ok(Phantom {
        name: name.into(),
        description: format!(
            "177Lu-DOTATATE patient phantom (GATE, Auer et al.), {nx}×{ny}×{nz} voxels of {:.4}×{:.4}×{:.4} mm, GATE spleen activity table ({total_mbq:.2} MBq in the spleen)",
            s[0], s[1], s[2]
        ),
        model,
        source: SourceSpec::Voxels { weights },
    })
}

/// Material index and density per voxel from the attenuation values; also the per-voxel
/// "not body" flag (air, couch).
fn materials(
    dir: &Path,
    attn_path: &Path,
    grid: &Grid,
    attn: &[f32],
) -> Result<(VoxelModel, Vec<bool>)> {
    let table = read_material_table(&dir.join("patient15_ID2mat.txt"))?;
    let gate_names: Vec<&str> = table.ranges.iter().map(|r| r.value.as_str()).collect();
    let densities = read_gate_densities(&dir.join("GateMaterials.db"), &gate_names)?;
    let mut names: Vec<String> = Vec::new();
    let mut per_range = Vec::new();
    for (g, rho) in gate_names.iter().zip(&densities) {
        let key = voxdose_material(g)?;
        let m = material_index(key).ok_or_else(|| {
            Error::Internal(format!("GATE_MATERIALS names unknown material {key}"))
        })?;
        let name = &builtin_materials()[m].name;
        let idx = match names.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                names.push(name.clone());
                names.len() - 1
            }
        };
        per_range.push((idx as u8, *rho as f32, NOT_BODY.contains(g)));
    }
    let n = grid.n_voxels();
    let (mut material, mut density, mut not_body) = (vec![0u8; n], vec![0f32; n], vec![false; n]);
    for (v, &value) in attn.iter().enumerate() {
        let r = table
            .lookup(value as f64)
            .ok_or_else(|| InputError::Inconsistent {
                path: attn_path.to_path_buf(),
                reason: format!(
                    "voxel {:?} has value {value}, which no range of {} covers",
                    grid.ijk(v),
                    table.path.display()
                ),
            })?;
        (material[v], density[v], not_body[v]) = per_range[r];
    }
    let model = VoxelModel {
        grid: grid.clone(),
        material,
        density_g_cm3: density,
        materials: names,
        regions: Vec::new(),
    };
    Ok((model, not_body))
}

/// Named regions from the source-image labels, then `body`.
fn regions(src_path: &Path, grid: &Grid, src: &[f32], not_body: &[bool]) -> Result<Vec<Region>> {
    let mut regions: Vec<Region> = LABELS
        .iter()
        .map(|(_, name)| Region {
            name: name.to_string(),
            voxels: Vec::new(),
        })
        .collect();
    for (v, &value) in src.iter().enumerate() {
        if value < FIRST_LABEL {
            continue;
        }
        let r = LABELS.iter().position(|(l, _)| *l as f32 == value).ok_or_else(|| InputError::Region {
            path: src_path.to_path_buf(),
            detail: format!(
                "voxel {:?} holds {value}, which is ≥ {FIRST_LABEL} (a label) but none of the known labels {:?}",
                grid.ijk(v),
                LABELS.iter().map(|l| l.0).collect::<Vec<_>>()
            ),
        })?;
        regions[r].voxels.push(v as u32);
    }
    regions.push(Region {
        name: "body".into(),
        voxels: (0..grid.n_voxels() as u32)
            .filter(|&v| !not_body[v as usize])
            .collect(),
    });
    Ok(regions)
}

/// Activity per voxel (Bq) from the GATE activity table, scaled by `volume_ratio`.
fn activity(dir: &Path, src: &[f32], volume_ratio: f64) -> Result<Vec<f32>> {
    let table = read_activity_table(&dir.join("patient15_fullA_T2_spleen_betas.dat"))?;
    Ok(src
        .iter()
        .map(|&v| match table.lookup(v as f64) {
            Some(r) => (table.ranges[r].value * volume_ratio) as f32,
            None => 0.0,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_args() -> PhantomSpec {
        PhantomSpec::named("patient15")
    }

    #[test]
    fn grid_is_centred_with_patient_axes() {
        let g = gate_grid([108, 70, 90], [3.9063, 3.9063, 4.4196]);
        let c = g.voxel_to_patient([53.5, 34.5, 44.5]);
        assert!(c.iter().all(|x| x.abs() < 1e-9), "{c:?}");
        let ext = g.extent_mm();
        assert!((ext[2] - 397.764).abs() < 1e-9);
    }

    /// Counts from `../shared/testdata/MANIFEST.md` (phantoms/lu177_patient15_gate).
    #[test]
    fn regions_and_source_match_the_manifest() {
        if data_dir().is_err() {
            eprintln!("skipped: {DATA_SUBDIR} not found");
            return;
        }
        let p = patient15(&no_args(), "patient15", None).unwrap();
        let counts: Vec<(String, usize)> = p
            .model
            .regions
            .iter()
            .map(|r| (r.name.clone(), r.voxels.len()))
            .collect();
        let expected = [15381, 1535, 2052, 2493, 93, 55, 90];
        for (i, n) in expected.iter().enumerate() {
            assert_eq!(counts[i].1, *n, "{counts:?}");
        }
        let SourceSpec::Voxels { weights } = &p.source else {
            panic!("voxel source")
        };
        let spleen = &p.model.regions[1].voxels;
        let total: f64 = weights.iter().map(|&w| w as f64).sum();
        assert!((total - 22280.13 * 1535.0).abs() < 1e-6 * total, "{total}");
        assert!(spleen.iter().all(|&v| weights[v as usize] == 22280.13f32));
        // 3 000 (couch) → CarbonFiber 0.55 g/cm³; 1130 → first match TissueSoft_DataBase 1.03.
        let d = &p.model.density_g_cm3;
        assert_eq!(d.iter().filter(|&&x| x == 0.55).count(), 21510);
        assert!(d.iter().all(|&x| x > 0.0));
    }

    #[test]
    fn options_are_refused() {
        let mut a = no_args();
        a.voxel_mm = Some(2.0);
        let e = patient15(&a, "patient15", None).unwrap_err();
        assert_eq!(e.exit_code(), 3);
    }
}
