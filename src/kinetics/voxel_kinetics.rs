//! The per-voxel fitted kinetics of a study fit, as files: one NIfTI map per model
//! parameter and one small JSON per cycle that names the model, the parameter order, units
//! and files (`docs/study-file.md`, outputs). `voxdose bed --fit` and the BED of `voxdose run
//! --study` read them back to give each fitted voxel its own dose-rate shape.
//!
//! Files, per cycle `n` that has voxel fits (two or more scans):
//! - `voxel_kinetics_cycle{n}.json`: [`VoxelKineticsFile`];
//! - `voxel_kinetics_cycle{n}_{param}.nii.gz`: one f32 map per parameter of the model
//!   ([`TacModel::param_names`]: amplitudes in Bq per voxel, rates in 1/h), on the fit's
//!   grid, NaN where the voxel's Ã is not its own fit (trapezoid fallback, masked, or a
//!   region with `voxel_method` `region-scaled`).
//!
//! The parameters describe the voxel's activity curve as measured (before any
//! partial-volume correction, which rescales Ã but keeps the shape).

use super::models::TacModel;
use crate::geometry::{Grid, Volume};
use crate::io::InputError;
use crate::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `format` value of [`VoxelKineticsFile`].
pub const FORMAT: &str = "voxdose-voxel-kinetics-1";

/// One parameter map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamMap {
    /// Parameter name ([`TacModel::param_names`]).
    pub name: String,
    /// Unit: `Bq per voxel` (amplitudes) or `1/h` (rates).
    pub unit: String,
    /// NIfTI file name in the same folder.
    pub file: String,
}

/// `voxel_kinetics_cycle{n}.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VoxelKineticsFile {
    /// [`FORMAT`].
    pub format: String,
    /// Cycle number (1-based).
    pub cycle: usize,
    /// The model fitted in every voxel.
    pub model: TacModel,
    /// The model's curve in words, t in h after administration.
    pub formula: String,
    /// The maps, in the model's parameter order.
    pub parameters: Vec<ParamMap>,
    /// What a NaN voxel means.
    pub not_fitted: String,
    /// Voxels with parameters (not NaN).
    pub voxels_with_parameters: usize,
    /// Grid dimensions of the maps.
    pub dims: [usize; 3],
    /// Scan times of the cycle, h.
    pub time_h: Vec<f64>,
    /// Physical half-life used as the lower bound of every rate, h.
    pub physical_half_life_h: f64,
}

/// One cycle's voxel parameter maps, read back.
#[derive(Clone, Debug)]
pub struct VoxelKinetics {
    /// The file's description.
    pub file: VoxelKineticsFile,
    /// The grid of the maps.
    pub grid: Grid,
    /// The maps in parameter order (f32, NaN where not fitted).
    pub params: Vec<Vec<f32>>,
}

/// The curve of `model` in words.
pub fn formula(model: TacModel) -> &'static str {
    match model {
        TacModel::MonoExp => "A(t) = A·exp(−λ·t)",
        TacModel::BiExp => "A(t) = A1·exp(−λ1·t) + A2·exp(−λ2·t)",
        TacModel::TriExp => "A(t) = A1·exp(−λ1·t) + A2·exp(−λ2·t) + A3·exp(−λ3·t)",
        TacModel::UptakeWashout => "A(t) = A·(exp(−λ·t) − exp(−(λ+δ)·t))",
    }
}

/// The JSON file name of cycle `n`.
pub fn json_name(cycle: usize) -> String {
    format!("voxel_kinetics_cycle{cycle}.json")
}

/// Writes cycle `cycle`'s parameter maps (`params[j]` per voxel of `grid`) and their JSON
/// into `out`.
pub fn write_cycle(
    out: &Path,
    grid: &Grid,
    cycle: usize,
    model: TacModel,
    params: Vec<Vec<f32>>,
    time_h: &[f64],
    physical_half_life_h: f64,
) -> Result<()> {
    let voxels_with_parameters = params
        .first()
        .map_or(0, |p| p.iter().filter(|x| !x.is_nan()).count());
    let mut maps = Vec::new();
    for (j, data) in params.into_iter().enumerate() {
        let name = model.param_names()[j];
        let file = format!("voxel_kinetics_cycle{cycle}_{name}.nii.gz");
        let unit = if model.is_rate(j) {
            "1/h"
        } else {
            "Bq per voxel"
        };
        let vol = Volume {
            grid: grid.clone(),
            data,
        };
        let description = format!("voxdose voxel fit c{cycle} {name} {unit}");
        crate::io::nifti::write_volume_f32(&out.join(&file), &vol, &description)?;
        maps.push(ParamMap {
            name: name.into(),
            unit: unit.into(),
            file,
        });
    }
    let record = VoxelKineticsFile {
        format: FORMAT.into(),
        cycle,
        model,
        formula: formula(model).into(),
        parameters: maps,
        not_fitted: "NaN: the voxel's TIA is not its own model fit (trapezoid fallback, masked voxel, or a region with voxel_method region-scaled)".into(),
        voxels_with_parameters,
        dims: grid.dims,
        time_h: time_h.to_vec(),
        physical_half_life_h,
    };
    let text = serde_json::to_vec_pretty(&record)
        .map_err(|e| crate::Error::Internal(format!("voxel kinetics not serialisable: {e}")))?;
    crate::io::atomic::write_atomic(&out.join(json_name(cycle)), &text)
}

/// The cycles of `dir` that have voxel kinetics (from their JSON files), ascending.
pub fn cycles_in(dir: &Path) -> Vec<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut cycles: Vec<usize> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix("voxel_kinetics_cycle")?
                .strip_suffix(".json")?
                .parse()
                .ok()
        })
        .collect();
    cycles.sort_unstable();
    cycles
}

/// Reads cycle `cycle`'s voxel kinetics from `dir`, keeping only the parameters `keep`
/// says (by index; e.g. rates only where the amplitude does not change the shape).
/// Parameters left out come back as empty maps.
pub fn read_cycle(
    dir: &Path,
    cycle: usize,
    keep: impl Fn(TacModel, usize) -> bool,
) -> Result<VoxelKinetics> {
    let path = dir.join(json_name(cycle));
    let bad = |detail: String| -> crate::Error {
        InputError::Malformed {
            path: path.clone(),
            reason: detail,
        }
        .into()
    };
    let bytes = std::fs::read(&path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let file: VoxelKineticsFile = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("not a voxdose voxel kinetics file: {e}")))?;
    if file.format != FORMAT || file.cycle != cycle {
        return Err(bad(format!(
            "format '{}' cycle {}; expected '{FORMAT}' cycle {cycle} (written by `voxdose fit`)",
            file.format, file.cycle
        )));
    }
    let k = file.model.n_params();
    if file.parameters.len() != k {
        return Err(bad(format!(
            "{} parameter maps for {} (it has {k}); re-run `voxdose fit`",
            file.parameters.len(),
            file.model.name()
        )));
    }
    let mut grid: Option<Grid> = None;
    let mut params = Vec::with_capacity(k);
    for (j, p) in file.parameters.iter().enumerate() {
        if !keep(file.model, j) {
            params.push(Vec::new());
            continue;
        }
        let map_path: PathBuf = dir.join(&p.file);
        let vol = crate::io::nifti::read_volume_f32(&map_path)?;
        if vol.grid.dims != file.dims || grid.as_ref().is_some_and(|g| *g != vol.grid) {
            return Err(bad(format!(
                "{} is on another grid ({:?}) than the cycle's other maps ({:?}); re-run `voxdose fit`",
                p.file, vol.grid.dims, file.dims
            )));
        }
        grid = Some(vol.grid);
        params.push(vol.data);
    }
    let grid = grid.ok_or_else(|| bad("no parameter map was asked for".into()))?;
    Ok(VoxelKinetics { file, grid, params })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_round_trip_with_their_description() {
        let dir = tempfile::tempdir().unwrap();
        let grid = Grid::new([3, 2, 1], [2.0; 3], [0.0; 3]);
        let a = vec![1.0, 2.0, f32::NAN, 4.0, 5.0, 6.0];
        let l = vec![0.01, 0.02, f32::NAN, 0.04, 0.05, 0.06];
        let d = vec![0.5; 6];
        let params = vec![a.clone(), l.clone(), d];
        write_cycle(
            dir.path(),
            &grid,
            2,
            TacModel::UptakeWashout,
            params,
            &[4.0, 24.0],
            159.5,
        )
        .unwrap();
        assert_eq!(cycles_in(dir.path()), vec![2]);
        let rates_only = |_m: TacModel, j: usize| j > 0;
        let k = read_cycle(dir.path(), 2, rates_only).unwrap();
        assert_eq!(k.file.model, TacModel::UptakeWashout);
        assert_eq!(k.file.voxels_with_parameters, 5);
        assert_eq!(k.file.parameters[1].name, "lambda_washout_per_h");
        assert_eq!(k.file.parameters[1].unit, "1/h");
        assert!(k.params[0].is_empty());
        assert_eq!(k.params[1][1], 0.02);
        assert!(k.params[1][2].is_nan());
        assert_eq!(k.grid.dims, [3, 2, 1]);
        assert!(read_cycle(dir.path(), 1, rates_only).is_err());
    }
}
