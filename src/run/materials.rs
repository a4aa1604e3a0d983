//! The material-map problem (`voxdose run --materials LABELS.nii.gz --materials-table
//! TABLE.json --tia|--spect …`), for voxelised reference phantoms (ICRP 110/145, XCAT-style
//! label maps), slab benchmarks and MC-to-MC comparisons, where the medium is given as labels
//! rather than by CT numbers.
//!
//! 1. read the label map (NIfTI, integer labels ≥ 0): its grid is the transport grid;
//! 2. read the table, `{"1": {"material": "water", "density_g_cm3": 1.0, "name": "body"}, …}`:
//!    every label of the map needs an entry; `density_g_cm3` defaults to the material's
//!    nominal density, `name` (the region's name) to `label_<n>`;
//! 3. each label becomes a region; the activity (`--spect`, Bq/mL) or TIA (`--tia`, Bq·s per
//!    voxel) is moved onto the grid conserving its total (as for a patient).
//!
//! Materials are the built-in ones (`data/materials/materials.json`: water, soft-tissue,
//! cortical-bone, lung, adipose, muscle, red-marrow, air). Custom compositions by mass fraction
//! are refused: the transport needs, per material, XCOM photon cross sections by process,
//! form factors and incoherent scattering functions, and ESTAR stopping powers (with the
//! material's I-value and density-effect correction), all made offline by
//! `data/scripts/make_tables.py` from per-element data the binary does not carry. A material
//! added there (and to `materials.json`) becomes available here by name.

use super::config::{MaterialsInput, TransportConfig};
use super::problem::{Problem, ProblemKind};
use super::Clock;
use crate::geometry::resample::resample_activity;
use crate::geometry::{Grid, Region, Volume, VoxelModel};
use crate::physics::materials::{builtin_materials, material_index, material_names};
use crate::source::SourceSpec;
use crate::transport::Observer;
use crate::Result;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A materials table or label map that cannot be used (exit code 39).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MaterialsError {
    /// The table is not the expected JSON.
    #[error("materials table {path}: {detail}; expected {{\"1\": {{\"material\": \"water\", \"density_g_cm3\": 1.0}}, …}} (README, 'Material maps')")]
    Table {
        /// The table file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A label of the map has no entry in the table.
    #[error("label map {labels}: labels {missing:?} have no entry in the materials table {table}; add them (label 0 included, e.g. as \"air\")")]
    MissingLabels {
        /// The label map.
        labels: PathBuf,
        /// The table.
        table: PathBuf,
        /// Labels without an entry.
        missing: Vec<u32>,
    },
    /// A `--layers` specification that cannot be read.
    #[error("--layers '{spec}': {detail}; give MATERIAL:THICKNESS_MM[@DENSITY],… e.g. water:20,cortical-bone:10,lung:20@0.26")]
    Layers {
        /// The specification as given.
        spec: String,
        /// What is wrong.
        detail: String,
    },
    /// The map holds values that are not labels.
    #[error("label map {path}: voxel ({i}, {j}, {k}) holds {value}; a material map holds integer labels 0 to 255")]
    NotLabels {
        /// The label map.
        path: PathBuf,
        /// Voxel indices.
        i: usize,
        /// See `i`.
        j: usize,
        /// See `i`.
        k: usize,
        /// The value found.
        value: f32,
    },
}

impl MaterialsError {
    /// The exit code of this error class (crate::error's table).
    pub fn exit_code(&self) -> i32 {
        39
    }
}

/// One entry of the materials table, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableEntry {
    material: String,
    #[serde(default)]
    density_g_cm3: Option<f64>,
    #[serde(default)]
    name: Option<String>,
    /// Custom composition by mass fraction (element symbol or Z → fraction): refused, see the
    /// module doc.
    #[serde(default)]
    composition: Option<BTreeMap<String, f64>>,
}

/// One label's medium, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelMedium {
    /// The built-in material's CLI key.
    pub material: String,
    /// Mass density, g/cm³.
    pub density_g_cm3: f32,
    /// Region name.
    pub name: String,
}

/// Parses and checks a materials table: label → medium.
pub fn parse_table(text: &str, path: &Path) -> Result<BTreeMap<u32, LabelMedium>, MaterialsError> {
    let err = |detail: String| MaterialsError::Table {
        path: path.to_path_buf(),
        detail,
    };
    let raw: BTreeMap<String, TableEntry> =
        serde_json::from_str(text).map_err(|e| err(format!("not a materials table ({e})")))?;
    let mut out = BTreeMap::new();
    for (key, e) in raw {
        let label: u32 = key
            .trim()
            .parse()
            .ok()
            .filter(|l| *l <= 255)
            .ok_or_else(|| err(format!("key \"{key}\" is not a label 0 to 255")))?;
        if e.composition.is_some() {
            return Err(err(format!(
                "label {label} gives a custom composition; voxdose needs XCOM, form-factor and ESTAR tables per material, made offline by data/scripts/make_tables.py, so only the built-in materials ({}) can be used: pick the closest and set its density_g_cm3",
                material_names()
            )));
        }
        let m = material_index(&e.material).ok_or_else(|| {
            err(format!(
                "label {label}: unknown material '{}'; known: {}",
                e.material,
                material_names()
            ))
        })?;
        let nominal = builtin_materials()[m].density_g_cm3;
        let density = e.density_g_cm3.unwrap_or(nominal);
        if !(density.is_finite() && density > 0.0 && density < 30.0) {
            return Err(err(format!(
                "label {label}: density {density} g/cm³; give a positive density below 30 g/cm³"
            )));
        }
        out.insert(
            label,
            LabelMedium {
                material: builtin_materials()[m].name.clone(),
                density_g_cm3: density as f32,
                name: e.name.unwrap_or_else(|| format!("label_{label}")),
            },
        );
    }
    if out.is_empty() {
        return Err(err("no entries".into()));
    }
    Ok(out)
}

/// The voxel model of a label map and its table: material and density per voxel, a region
/// per label (in label order).
pub fn model_from_labels(
    labels: &Volume<f32>,
    table: &BTreeMap<u32, LabelMedium>,
    labels_path: &Path,
    table_path: &Path,
) -> Result<VoxelModel, MaterialsError> {
    let grid = labels.grid.clone();
    let mut label_of = Vec::with_capacity(labels.data.len());
    for (v, &x) in labels.data.iter().enumerate() {
        if !(x.is_finite() && (0.0..=255.0).contains(&x) && x.fract() == 0.0) {
            let [i, j, k] = grid.ijk(v);
            return Err(MaterialsError::NotLabels {
                path: labels_path.to_path_buf(),
                i,
                j,
                k,
                value: x,
            });
        }
        label_of.push(x as u32);
    }
    let present: std::collections::BTreeSet<u32> = label_of.iter().copied().collect();
    let missing: Vec<u32> = present
        .iter()
        .filter(|l| !table.contains_key(l))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(MaterialsError::MissingLabels {
            labels: labels_path.to_path_buf(),
            table: table_path.to_path_buf(),
            missing,
        });
    }
    let mut materials: Vec<String> = Vec::new();
    let mut index_of_label = BTreeMap::new();
    for l in &present {
        let m = &table[l].material;
        let idx = match materials.iter().position(|x| x == m) {
            Some(i) => i,
            None => {
                materials.push(m.clone());
                materials.len() - 1
            }
        };
        index_of_label.insert(*l, idx as u8);
    }
    let mut regions: BTreeMap<u32, Region> = present
        .iter()
        .map(|l| {
            let r = Region {
                name: table[l].name.clone(),
                voxels: Vec::new(),
            };
            (*l, r)
        })
        .collect();
    let n = grid.n_voxels();
    let (mut material, mut density) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (v, l) in label_of.iter().enumerate() {
        material.push(index_of_label[l]);
        density.push(table[l].density_g_cm3);
        regions
            .get_mut(l)
            .expect("every present label has a region")
            .voxels
            .push(v as u32);
    }
    Ok(VoxelModel {
        grid,
        material,
        density_g_cm3: density,
        materials,
        regions: regions.into_values().collect(),
    })
}

/// Builds the material-map problem (see the module doc).
pub fn build(
    input: &MaterialsInput,
    transport: &TransportConfig,
    clock: &mut Clock,
    observer: &mut dyn Observer,
) -> Result<Problem> {
    let settings = transport.settings(transport.nuclide("Lu-177")?)?;
    let text =
        std::fs::read_to_string(&input.table).map_err(|source| crate::io::InputError::Read {
            path: input.table.clone(),
            source,
        })?;
    let table = parse_table(&text, &input.table)?;
    let labels = crate::io::nifti::read_volume_f32(&input.labels)?;
    let model = model_from_labels(&labels, &table, &input.labels, &input.table)?;
    clock.lap("model", observer);
    let (weights, outside, scale) = source_weights(input, &model.grid)?;
    if outside > 1e-3 {
        observer.warning(&format!(
            "{:.1} % of the activity lies outside the label map and is not simulated",
            100.0 * outside
        ));
    }
    clock.lap("source", observer);
    let media: Vec<String> = table
        .iter()
        .map(|(l, m)| format!("{l}={}@{}", m.material, m.density_g_cm3))
        .collect();
    let description = format!(
        "material map {} ({}), source {}",
        input.labels.display(),
        media.join(", "),
        input
            .tia
            .as_ref()
            .or(input.spect.as_ref())
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    observer.note(&description);
    Ok(Problem {
        name: "materials".into(),
        description,
        model,
        source: SourceSpec::Voxels {
            weights: weights.iter().map(|&w| w as f32).collect(),
        },
        settings,
        tia_bq_s: scale,
        dose_to: Default::default(),
        kind: ProblemKind::Phantom,
    })
}

/// Source weights on `grid` (Bq·s for a TIA map, Bq for an activity map), the fraction of
/// the input outside it, and the dose scale (the TIA's total; none for activity).
fn source_weights(input: &MaterialsInput, grid: &Grid) -> Result<(Vec<f64>, f64, Option<f64>)> {
    let (path, is_tia) = match (&input.tia, &input.spect) {
        (Some(t), _) => (t, true),
        (None, Some(s)) => (s, false),
        (None, None) => {
            return Err(crate::Error::invalid(
                "--materials",
                "missing source: give --tia or --spect",
            ))
        }
    };
    let vol = crate::io::nifti::read_volume_f32(path)?;
    crate::io::ct::check_finite(path, &vol)?;
    if let Some(v) = vol.data.iter().find(|v| **v < 0.0) {
        return Err(crate::Error::invalid(
            if is_tia { "--tia" } else { "--spect" },
            format!("{}: value {v} < 0; activities must be ≥ 0", path.display()),
        ));
    }
    let per_ml = if is_tia {
        let ml = vol.grid.voxel_volume_mm3() * 1e-3;
        Volume {
            grid: vol.grid.clone(),
            data: vol.data.iter().map(|v| (*v as f64 / ml) as f32).collect(),
        }
    } else {
        vol
    };
    let (weights, outside) = resample_activity(&per_ml, grid);
    let total: f64 = weights.iter().sum();
    if total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Err(crate::Error::invalid(
            if is_tia { "--tia" } else { "--spect" },
            format!(
                "{}: no activity inside the label map's grid; check both files share the same space",
                path.display()
            ),
        ));
    }
    Ok((weights, outside, is_tia.then_some(total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Result<BTreeMap<u32, LabelMedium>, MaterialsError> {
        parse_table(text, Path::new("t.json"))
    }

    #[test]
    fn a_table_resolves_materials_densities_and_names() {
        let t = table(
            r#"{"0": {"material": "air"}, "1": {"material": "Water", "density_g_cm3": 1.0, "name": "body"},
                "2": {"material": "lung", "density_g_cm3": 0.26}}"#,
        )
        .unwrap();
        assert_eq!(t[&1].material, "water");
        assert_eq!(t[&1].name, "body");
        assert_eq!(t[&2].density_g_cm3, 0.26);
        assert_eq!(t[&2].name, "label_2");
        let air = &builtin_materials()[material_index("air").unwrap()];
        assert_eq!(t[&0].density_g_cm3, air.density_g_cm3 as f32);
    }

    #[test]
    fn bad_tables_are_refused_with_the_reason() {
        for (text, needle) in [
            (r#"{"1": {"material": "unobtainium"}}"#, "unknown material"),
            (r#"{"x": {"material": "water"}}"#, "not a label"),
            (
                r#"{"1": {"material": "water", "density_g_cm3": -1}}"#,
                "density",
            ),
            (
                r#"{"1": {"material": "water", "composition": {"H": 0.1, "O": 0.9}}}"#,
                "custom composition",
            ),
            (r#"[1, 2]"#, "not a materials table"),
        ] {
            let e = table(text).unwrap_err();
            assert!(e.to_string().contains(needle), "{text}: {e}");
            assert_eq!(e.exit_code(), 39);
        }
    }

    #[test]
    fn labels_become_materials_densities_and_regions() {
        let grid = Grid::centred([4, 1, 1], 2.0);
        let labels = Volume {
            grid,
            data: vec![1.0, 1.0, 2.0, 3.0],
        };
        let t = table(
            r#"{"1": {"material": "water"}, "2": {"material": "cortical-bone", "density_g_cm3": 1.85},
                "3": {"material": "water", "density_g_cm3": 1.1, "name": "dense water"}}"#,
        )
        .unwrap();
        let m = model_from_labels(&labels, &t, Path::new("l"), Path::new("t")).unwrap();
        assert_eq!(m.materials, ["water", "cortical-bone"]);
        assert_eq!(m.material, [0, 0, 1, 0]);
        assert_eq!(m.density_g_cm3, [1.0, 1.0, 1.85, 1.1]);
        let names: Vec<_> = m.regions.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["label_1", "label_2", "dense water"]);
        assert_eq!(m.regions[0].voxels, [0, 1]);
        let labels = Volume {
            data: vec![1.0, 4.0, 2.0, 1.5],
            ..labels
        };
        let e = model_from_labels(&labels, &t, Path::new("l"), Path::new("t")).unwrap_err();
        assert!(e.to_string().contains("1.5"), "{e}");
        let labels = Volume {
            data: vec![1.0, 4.0, 2.0, 7.0],
            ..labels
        };
        let e = model_from_labels(&labels, &t, Path::new("l"), Path::new("t")).unwrap_err();
        assert!(e.to_string().contains("[4, 7]"), "{e}");
    }
}
