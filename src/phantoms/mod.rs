//! Built-in phantoms: voxel model + source, built from a name and a few parameters.
//!
//! | name | what |
//! |---|---|
//! | `water-sphere` | uniform source sphere (r = 10 mm) centred in a 128 mm water cube of 64³ voxels of 2 mm; the cube centre is a voxel corner |
//! | `nema-iec` | NEMA IEC body phantom: water body, lung insert, six hot spheres (10–37 mm) |
//! | `slab` | water / cortical bone / lung / water slabs along z, small source sphere in the first water slab |
//! | `slabs` | layers along z given on the command line (`--layers`), a uniform source filling one of them ([`slabs`]) |
//! | `vsv` | voxel S-value kernel: a uniform source in the central voxel of an n³ cube of one material |
//! | `patient15` | 177Lu-DOTATATE patient phantom from its GATE files (108×70×90, spleen source); [`patient15`] |
//! | `patient15-256` | the same, nearest-neighbour on the 256×256×200 CT grid of the GPU target |
//!
//! Sources of the geometric phantoms are analytic shapes sampled exactly, as reference codes do, so results compare
//! with them without voxelisation error. Descriptions, origins and reference results are in
//! `phantoms/README.md`.

pub mod nema_geometry;
pub mod patient15;
pub mod slabs;
pub mod twin_patient;

use crate::geometry::{Grid, Region, VoxelModel};
use crate::physics::materials::{builtin_materials, material_index};
use crate::source::{Shape, SourceSpec};
use crate::{Error, Result};

/// Which built-in phantom and its parameters (`voxdose run --phantom NAME --radius-mm …`);
/// `None` takes the phantom's default (see [`PHANTOMS`]).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhantomSpec {
    /// Built-in phantom name (see `voxdose phantoms`).
    pub name: String,
    /// Source sphere radius in mm (water-sphere; default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_mm: Option<f64>,
    /// Voxel size in mm (default per phantom).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voxel_mm: Option<f64>,
    /// Grid size in voxels per side (default per phantom).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid: Option<usize>,
    /// Medium of the phantom or of the VSV kernel (e.g. water, soft-tissue, cortical-bone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material: Option<String>,
    /// `slabs`: layers along z, `MATERIAL:THICKNESS_MM[@DENSITY]`, comma separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<String>,
    /// `slabs`: the layer (from 1) holding the uniform source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_layer: Option<usize>,
}

impl PhantomSpec {
    /// The phantom `name` with its default parameters.
    pub fn named(name: &str) -> Self {
        PhantomSpec {
            name: name.to_string(),
            ..Default::default()
        }
    }
}

/// A built-in phantom ready to run.
#[derive(Clone, Debug)]
pub struct Phantom {
    /// Phantom name.
    pub name: String,
    /// One-line description with the parameters used.
    pub description: String,
    /// The voxel model.
    pub model: VoxelModel,
    /// The source.
    pub source: SourceSpec,
}

/// Name and one-line description of every built-in phantom.
pub const PHANTOMS: &[(&str, &str)] = &[
    ("water-sphere", "uniform sphere source (--radius-mm 10) in a 128 mm water cube (--voxel-mm 2, 64³); --material"),
    ("nema-iec", "NEMA IEC body phantom: water, lung insert (0.3 g/cm³), six hot spheres 10–37 mm; --voxel-mm 2"),
    ("slab", "water | cortical bone | lung (0.26 g/cm³) | water slabs along z, source sphere r = 5 mm in water; --voxel-mm 2"),
    ("slabs", "layers along z from --layers MATERIAL:MM[@DENSITY],… (default water:20,cortical-bone:10,lung:20@0.26,water:20), uniform source filling --source-layer (1); --voxel-mm 1, --grid 16 laterally"),
    ("vsv", "voxel S-value kernel: source in the central voxel of an n³ cube (--grid 15, --voxel-mm 4.42, --material water)"),
    ("patient15", "177Lu-DOTATATE patient (GATE files in $VOXDOSE_TESTDATA or ../shared/testdata): 108×70×90 CT, organs + tumours, GATE spleen source"),
    ("patient15-256", "patient15 resampled (nearest neighbour, same extent) to the 256×256×200 CT grid of the GPU throughput target"),
];

/// Builds a phantom by name.
pub fn build(args: &PhantomSpec) -> Result<Phantom> {
    let name = args.name.as_str();
    for (opt, v) in [
        ("--radius-mm", args.radius_mm),
        ("--voxel-mm", args.voxel_mm),
    ] {
        if let Some(v) = v {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::invalid(
                    opt,
                    format!("{v} mm; give a positive length"),
                ));
            }
        }
    }
    match name {
        "water-sphere" => water_sphere(args),
        "nema-iec" => nema_iec(args),
        "slab" => slab(args),
        "slabs" => slabs::slabs(args),
        "vsv" => vsv(args),
        "patient15" => patient15::patient15(args, name, None),
        "patient15-256" => patient15::patient15(args, name, Some(patient15::CT_GRID_256)),
        other => Err(Error::UnknownName {
            what: "phantom",
            name: other.to_string(),
            known: PHANTOMS.iter().map(|p| p.0).collect::<Vec<_>>().join(", "),
        }),
    }
}

fn material_arg(args: &PhantomSpec, default: &str) -> Result<(String, f32)> {
    let name = args.material.as_deref().unwrap_or(default);
    let i = material_index(name).ok_or_else(|| Error::UnknownName {
        what: "material",
        name: name.to_string(),
        known: builtin_materials()
            .iter()
            .map(|m| m.name.clone())
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let m = &builtin_materials()[i];
    Ok((m.name.clone(), m.density_g_cm3 as f32))
}

fn grid_count(extent_mm: f64, voxel_mm: f64, what: &str) -> Result<usize> {
    let n = (extent_mm / voxel_mm).round() as usize;
    if !(2..=1024).contains(&n) {
        return Err(Error::invalid(
            "--voxel-mm",
            format!("{voxel_mm} mm gives {n} voxels across the {what}; choose 2–1024"),
        ));
    }
    Ok(n)
}

/// Voxels whose centres lie in `shape` (transport frame).
fn voxels_in(grid: &Grid, shape: &Shape) -> Vec<u32> {
    (0..grid.n_voxels() as u32)
        .filter(|&v| {
            let [i, j, k] = grid.ijk(v as usize);
            let c = [i, j, k].map(|x| x as f64 + 0.5);
            shape.contains([
                c[0] * grid.spacing_mm[0],
                c[1] * grid.spacing_mm[1],
                c[2] * grid.spacing_mm[2],
            ])
        })
        .collect()
}

fn all_voxels(grid: &Grid) -> Region {
    Region {
        name: "phantom".into(),
        voxels: (0..grid.n_voxels() as u32).collect(),
    }
}

fn water_sphere(args: &PhantomSpec) -> Result<Phantom> {
    let voxel = args.voxel_mm.unwrap_or(2.0);
    let radius = args.radius_mm.unwrap_or(10.0);
    let n = match args.grid {
        Some(n) => n,
        None => grid_count(128.0, voxel, "128 mm cube")?,
    };
    let (mat, rho) = material_arg(args, "water")?;
    let grid = Grid::centred([n; 3], voxel);
    let half = 0.5 * n as f64 * voxel;
    if radius > half {
        return Err(Error::invalid(
            "--radius-mm",
            format!("{radius} mm does not fit in the {:.0} mm cube", 2.0 * half),
        ));
    }
    let sphere = Shape::Sphere {
        centre_mm: [half; 3],
        radius_mm: radius,
    };
    let mut model = VoxelModel::homogeneous(grid.clone(), &mat, rho);
    model.regions = vec![
        Region {
            name: "sphere".into(),
            voxels: voxels_in(&grid, &sphere),
        },
        all_voxels(&grid),
    ];
    Ok(Phantom {
        name: "water-sphere".into(),
        description: format!(
            "uniform sphere r = {radius} mm in a {:.0} mm {mat} cube of {n}³ voxels of {voxel} mm",
            2.0 * half
        ),
        model,
        source: SourceSpec::Shapes(vec![(sphere, 1.0)]),
    })
}

/// Inner diameters of the six IEC spheres, mm (IEC 61675-1; NEMA NU 2-2012 §7.2).
pub const NEMA_SPHERE_DIAMETERS_MM: [f64; 6] = [10.0, 13.0, 17.0, 22.0, 28.0, 37.0];

fn nema_iec(args: &PhantomSpec) -> Result<Phantom> {
    // Interior of the IEC body phantom (IEC 61675-1 as described in NEMA NU 2-2012 §7.1;
    // walls not modelled): a cross-section made of a half-disc of radius 147 mm above the
    // centre line and a 294 × 80 mm lower part whose bottom corners are rounded with radius
    // 77 mm; interior length 180 mm; a lung insert of 50 mm diameter on the axis; sphere
    // centres on a circle of radius 57.2 mm in the transverse plane 70 mm from the lid.
    let voxel = args.voxel_mm.unwrap_or(2.0);
    let (ex, ey, ez) = (300.0, 232.0, 184.0);
    let dims = [
        grid_count(ex, voxel, "phantom width")?,
        grid_count(ey, voxel, "phantom height")?,
        grid_count(ez, voxel, "phantom length")?,
    ];
    let grid = Grid::centred(dims, voxel);
    let size = grid.extent_mm();
    let (cx, cy) = (0.5 * size[0], 0.5 * size[1] + 0.5 * (147.0 - 80.0));
    let z0 = 0.5 * (size[2] - 180.0);
    let water = material_index("water").ok_or_else(|| Error::Internal("no water".into()))?;
    let lung = material_index("lung").ok_or_else(|| Error::Internal("no lung".into()))?;
    let air = material_index("air").ok_or_else(|| Error::Internal("no air".into()))?;
    let mats = builtin_materials();
    let names = vec![
        mats[water].name.clone(),
        mats[lung].name.clone(),
        mats[air].name.clone(),
    ];
    let inside_body = |x: f64, y: f64, z: f64| -> bool {
        if z < z0 || z > z0 + 180.0 {
            return false;
        }
        let (dx, dy) = (x - cx, y - cy);
        if dy >= 0.0 {
            return dx * dx + dy * dy <= 147.0 * 147.0;
        }
        if dy < -80.0 || dx.abs() > 147.0 {
            return false;
        }
        // Rounded bottom corners: centres at (±70, −3), radius 77.
        let (qx, qy) = (dx.abs() - 70.0, dy + 3.0);
        !(qx > 0.0 && qy < 0.0 && qx * qx + qy * qy > 77.0 * 77.0)
    };
    let lung_insert = Shape::CylinderZ {
        centre_mm: [cx, cy],
        radius_mm: 25.0,
        z_mm: [z0, z0 + 180.0],
    };
    let z_spheres = z0 + 180.0 - 70.0;
    let spheres: Vec<Shape> = NEMA_SPHERE_DIAMETERS_MM
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let a = std::f64::consts::TAU * i as f64 / 6.0;
            Shape::Sphere {
                centre_mm: [cx + 57.2 * a.cos(), cy + 57.2 * a.sin(), z_spheres],
                radius_mm: 0.5 * d,
            }
        })
        .collect();
    let n = grid.n_voxels();
    let mut material = vec![2u8; n];
    let mut density = vec![mats[air].density_g_cm3 as f32; n];
    let mut body = Vec::new();
    for v in 0..n {
        let [i, j, k] = grid.ijk(v);
        let p = [i, j, k].map(|x| (x as f64 + 0.5) * voxel);
        if inside_body(p[0], p[1], p[2]) {
            body.push(v as u32);
            if lung_insert.contains(p) {
                material[v] = 1;
                density[v] = 0.3;
            } else {
                material[v] = 0;
                density[v] = mats[water].density_g_cm3 as f32;
            }
        }
    }
    let mut regions: Vec<Region> = spheres
        .iter()
        .zip(NEMA_SPHERE_DIAMETERS_MM)
        .map(|(s, d)| Region {
            name: format!("sphere_{d:.0}mm"),
            voxels: voxels_in(&grid, s),
        })
        .collect();
    regions.push(Region {
        name: "lung_insert".into(),
        voxels: voxels_in(&grid, &lung_insert),
    });
    regions.push(Region {
        name: "body".into(),
        voxels: body,
    });
    let model = VoxelModel {
        grid,
        material,
        density_g_cm3: density,
        materials: names,
        regions,
    };
    // Equal activity concentration in all spheres: weights ∝ volume; cold background.
    let source = SourceSpec::Shapes(spheres.iter().map(|s| (*s, s.volume_mm3())).collect());
    Ok(Phantom {
        name: "nema-iec".into(),
        description: format!("NEMA IEC body phantom, {}×{}×{} voxels of {voxel} mm, six hot spheres, cold background", dims[0], dims[1], dims[2]),
        model,
        source,
    })
}

fn slab(args: &PhantomSpec) -> Result<Phantom> {
    let voxel = args.voxel_mm.unwrap_or(2.0);
    let n = grid_count(128.0, voxel, "128 mm cube")?;
    let grid = Grid::centred([n; 3], voxel);
    let mats = builtin_materials();
    let idx =
        |name: &str| material_index(name).ok_or_else(|| Error::Internal(format!("no {name}")));
    let layers = [
        ("water", 0.0, 40.0, None),
        ("cortical-bone", 40.0, 60.0, None),
        ("lung", 60.0, 100.0, Some(0.26f32)),
        ("water", 100.0, 1e9, None),
    ];
    let names: Vec<String> = ["water", "cortical-bone", "lung"]
        .iter()
        .map(|m| idx(m).map(|i| mats[i].name.clone()))
        .collect::<Result<_>>()?;
    let nv = grid.n_voxels();
    let (mut material, mut density) = (vec![0u8; nv], vec![1.0f32; nv]);
    let mut regions: Vec<Region> = ["water_front", "bone", "lung", "water_back"]
        .iter()
        .map(|n| Region {
            name: n.to_string(),
            voxels: Vec::new(),
        })
        .collect();
    for v in 0..nv {
        let z = (grid.ijk(v)[2] as f64 + 0.5) * voxel;
        let (li, (name, _, _, rho)) = layers
            .iter()
            .enumerate()
            .find(|(_, l)| z >= l.1 && z < l.2)
            .unwrap_or((3, &layers[3]));
        let layer_material = &mats[idx(name)?].name;
        let mi = names.iter().position(|n| n == layer_material).unwrap_or(0);
        material[v] = mi as u8;
        density[v] = rho.unwrap_or(mats[idx(name)?].density_g_cm3 as f32);
        regions[li].voxels.push(v as u32);
    }
    let half = 0.5 * n as f64 * voxel;
    let sphere = Shape::Sphere {
        centre_mm: [half, half, 30.0],
        radius_mm: 5.0,
    };
    Ok(Phantom {
        name: "slab".into(),
        description: format!("water 0–40 mm | cortical bone 40–60 | lung (0.26 g/cm³) 60–100 | water, {n}³ voxels of {voxel} mm, source sphere r = 5 mm at z = 30 mm"),
        model: VoxelModel { grid, material, density_g_cm3: density, materials: names, regions },
        source: SourceSpec::Shapes(vec![(sphere, 1.0)]),
    })
}

fn vsv(args: &PhantomSpec) -> Result<Phantom> {
    let voxel = args.voxel_mm.unwrap_or(4.42);
    let n = args.grid.unwrap_or(15);
    if n.is_multiple_of(2) || !(1..=255).contains(&n) {
        return Err(Error::invalid(
            "--grid",
            format!("{n}; a voxel S-value kernel needs an odd number of voxels (e.g. 15)"),
        ));
    }
    let (mat, rho) = material_arg(args, "water")?;
    let grid = Grid::centred([n; 3], voxel);
    let c = (n / 2) as f64 * voxel;
    let source_voxel = Shape::Box {
        min_mm: [c; 3],
        max_mm: [c + voxel; 3],
    };
    let mut model = VoxelModel::homogeneous(grid.clone(), &mat, rho);
    let centre = grid.index(n / 2, n / 2, n / 2) as u32;
    model.regions = vec![
        Region {
            name: "source_voxel".into(),
            voxels: vec![centre],
        },
        all_voxels(&grid),
    ];
    Ok(Phantom {
        name: "vsv".into(),
        description: format!("voxel S-value kernel, {n}³ voxels of {voxel} mm of {mat}, source uniform in the central voxel"),
        model,
        source: SourceSpec::Shapes(vec![(source_voxel, 1.0)]),
    })
}
