//! The `slabs` phantom: layers of built-in materials along z, laterally uniform, with a
//! uniform source filling one layer (a slab source), for heterogeneous depth-dose benchmarks.
//!
//! `--layers water:20,cortical-bone:10,lung:20@0.26,water:20` gives each layer as
//! `MATERIAL:THICKNESS_MM[@DENSITY_G_CM3]` (density defaults to the material's nominal one);
//! `--source-layer N` (from 1) holds the source; `--voxel-mm` (default 1) is the voxel size
//! on every axis and `--grid` (default 16) the lateral size in voxels. Each thickness must be
//! a whole number of voxels. Regions: one per layer, `layer<N>_<material>`.

use super::{Phantom, PhantomSpec};
use crate::geometry::{Grid, Region, VoxelModel};
use crate::physics::materials::{builtin_materials, material_index, material_names};
use crate::run::materials::MaterialsError;
use crate::source::{Shape, SourceSpec};
use crate::Result;

/// The layers used when `--layers` is not given.
pub const DEFAULT_LAYERS: &str = "water:20,cortical-bone:10,lung:20@0.26,water:20";

/// One layer: material (built-in key), thickness (mm), density (g/cm³).
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// Built-in material key.
    pub material: String,
    /// Thickness, mm.
    pub thickness_mm: f64,
    /// Density, g/cm³.
    pub density_g_cm3: f32,
}

fn layer_error(spec: &str, detail: String) -> MaterialsError {
    MaterialsError::Layers {
        spec: spec.to_string(),
        detail,
    }
}

/// Parses `MATERIAL:THICKNESS_MM[@DENSITY],…`.
pub fn parse_layers(spec: &str) -> Result<Vec<Layer>, MaterialsError> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, rest) = part
            .split_once(':')
            .ok_or_else(|| layer_error(spec, format!("'{part}' has no ':THICKNESS_MM'")))?;
        let (thick, density) = match rest.split_once('@') {
            Some((t, d)) => (t, Some(d)),
            None => (rest, None),
        };
        let m = material_index(name).ok_or_else(|| {
            layer_error(
                spec,
                format!("unknown material '{name}'; known: {}", material_names()),
            )
        })?;
        let thickness_mm: f64 = thick
            .trim()
            .parse()
            .ok()
            .filter(|t: &f64| t.is_finite() && *t > 0.0)
            .ok_or_else(|| layer_error(spec, format!("'{thick}' is not a thickness in mm > 0")))?;
        let density_g_cm3 = match density {
            Some(d) => d
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|d| d.is_finite() && *d > 0.0 && *d < 30.0)
                .ok_or_else(|| layer_error(spec, format!("'{d}' is not a density in g/cm³")))?,
            None => builtin_materials()[m].density_g_cm3,
        };
        out.push(Layer {
            material: builtin_materials()[m].name.clone(),
            thickness_mm,
            density_g_cm3: density_g_cm3 as f32,
        });
    }
    if out.is_empty() {
        return Err(layer_error(spec, "no layers".into()));
    }
    Ok(out)
}

/// Builds the `slabs` phantom from its parameters.
pub fn slabs(args: &PhantomSpec) -> Result<Phantom> {
    let spec = args.layers.as_deref().unwrap_or(DEFAULT_LAYERS);
    let layers = parse_layers(spec)?;
    let voxel = args.voxel_mm.unwrap_or(1.0);
    let lateral = args.grid.unwrap_or(16);
    if !(1..=1024).contains(&lateral) {
        return Err(crate::Error::invalid(
            "--grid",
            format!("{lateral}; give 1 to 1024 voxels laterally"),
        ));
    }
    let mut counts = Vec::new();
    for l in &layers {
        let n = l.thickness_mm / voxel;
        if (n - n.round()).abs() > 1e-6 || n.round() < 1.0 {
            return Err(layer_error(
                spec,
                format!(
                    "{} mm of {} is not a whole number of {voxel} mm voxels",
                    l.thickness_mm, l.material
                ),
            )
            .into());
        }
        counts.push(n.round() as usize);
    }
    let nz: usize = counts.iter().sum();
    if nz > 4096 {
        return Err(layer_error(spec, format!("{nz} voxels along z; at most 4096")).into());
    }
    let source_layer = args.source_layer.unwrap_or(1);
    if !(1..=layers.len()).contains(&source_layer) {
        return Err(crate::Error::invalid(
            "--source-layer",
            format!(
                "{source_layer}; the phantom has layers 1 to {}",
                layers.len()
            ),
        ));
    }
    let grid = Grid::centred([lateral, lateral, nz], voxel);
    let mut materials: Vec<String> = Vec::new();
    for l in &layers {
        if !materials.contains(&l.material) {
            materials.push(l.material.clone());
        }
    }
    let plane = lateral * lateral;
    let (mut material, mut density) = (Vec::new(), Vec::new());
    let mut regions = Vec::new();
    let mut z0 = 0usize;
    for (i, (l, &n)) in layers.iter().zip(&counts).enumerate() {
        let m = materials.iter().position(|x| x == &l.material).unwrap_or(0) as u8;
        material.extend(std::iter::repeat_n(m, n * plane));
        density.extend(std::iter::repeat_n(l.density_g_cm3, n * plane));
        regions.push(Region {
            name: format!("layer{}_{}", i + 1, l.material),
            voxels: ((z0 * plane) as u32..((z0 + n) * plane) as u32).collect(),
        });
        z0 += n;
    }
    let z_start: usize = counts[..source_layer - 1].iter().sum();
    let side = lateral as f64 * voxel;
    let source = Shape::Box {
        min_mm: [0.0, 0.0, z_start as f64 * voxel],
        max_mm: [
            side,
            side,
            (z_start + counts[source_layer - 1]) as f64 * voxel,
        ],
    };
    let text: Vec<String> = layers
        .iter()
        .map(|l| {
            format!(
                "{} {} mm @ {} g/cm³",
                l.material, l.thickness_mm, l.density_g_cm3
            )
        })
        .collect();
    Ok(Phantom {
        name: "slabs".into(),
        description: format!(
            "slabs along z: {}; {lateral}×{lateral}×{nz} voxels of {voxel} mm; uniform source filling layer {source_layer}",
            text.join(" | ")
        ),
        model: VoxelModel {
            grid,
            material,
            density_g_cm3: density,
            materials,
            regions,
        },
        source: SourceSpec::Shapes(vec![(source, 1.0)]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_parse_with_default_and_given_densities() {
        let l = parse_layers("water:2, lung:4@0.26").unwrap();
        assert_eq!(l[0].density_g_cm3, 1.0);
        assert_eq!(l[1].material, "lung");
        assert_eq!((l[1].thickness_mm, l[1].density_g_cm3), (4.0, 0.26));
        for bad in ["water", "water:-1", "stone:2", "water:2@x", ""] {
            let e = parse_layers(bad).unwrap_err();
            assert_eq!(e.exit_code(), 39, "{bad}");
        }
    }

    #[test]
    fn slabs_stack_layers_along_z_with_a_source_filling_one() {
        let spec = PhantomSpec {
            name: "slabs".into(),
            layers: Some("water:2,cortical-bone:1,water:1".into()),
            source_layer: Some(2),
            voxel_mm: Some(0.5),
            grid: Some(2),
            ..Default::default()
        };
        let p = slabs(&spec).unwrap();
        assert_eq!(p.model.grid.dims, [2, 2, 8]);
        assert_eq!(p.model.materials, ["water", "cortical-bone"]);
        let k_of = |v: usize| p.model.grid.ijk(v)[2];
        for v in 0..p.model.grid.n_voxels() {
            let bone = (4..6).contains(&k_of(v));
            assert_eq!(p.model.material[v], bone as u8);
        }
        assert_eq!(p.model.regions[1].voxels.len(), 8);
        match &p.source {
            SourceSpec::Shapes(s) => assert_eq!(
                s[0].0,
                Shape::Box {
                    min_mm: [0.0, 0.0, 2.0],
                    max_mm: [1.0, 1.0, 3.0]
                }
            ),
            _ => panic!("a slab source is a shape"),
        }
        let bad = PhantomSpec {
            layers: Some("water:0.7".into()),
            ..spec.clone()
        };
        assert!(slabs(&bad).is_err());
        let bad = PhantomSpec {
            source_layer: Some(9),
            ..spec
        };
        assert!(slabs(&bad).is_err());
    }
}
