//! Label maps → named regions on any grid, and regions → a label volume for output.
//!
//! Input is a NIfTI label map (one integer label per voxel; names from its label-table
//! extension as TotalSegmentator writes it, else `label_<n>`), or a folder of binary NIfTI
//! masks (TotalSegmentator without `--ml`: one `<organ>.nii.gz` per organ, named after the
//! file). Each voxel centre of the target grid takes the label of the label-map voxel that
//! contains it (nearest neighbour in patient coordinates), so label maps on the CT grid map
//! correctly onto a coarser or shifted transport grid.

use crate::geometry::{Grid, Region, Volume};
use crate::io::nifti::read_image;
use crate::geometry::resample::sample_nearest;
use crate::io::InputError;
use std::collections::BTreeMap;
use std::path::Path;

/// Regions on `grid` from a NIfTI label map or a folder of binary NIfTI masks.
pub fn regions_from_labels(
    path: &Path,
    grid: &Grid,
) -> Result<(Vec<Region>, Vec<String>), InputError> {
    if path.is_dir() {
        return regions_from_mask_folder(path, grid);
    }
    let img = read_image(path)?;
    check_integer_labels(path, &img.volume)?;
    let sampled = sample_nearest(&img.volume, grid, 0.0);
    let mut by_label: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (idx, &v) in sampled.iter().enumerate() {
        if v > 0.0 {
            by_label.entry(v as u32).or_default().push(idx as u32);
        }
    }
    let mut warnings = Vec::new();
    let present: std::collections::BTreeSet<u32> = img
        .volume
        .data
        .iter()
        .filter(|v| **v > 0.0)
        .map(|v| *v as u32)
        .collect();
    for l in present.iter().filter(|l| !by_label.contains_key(l)) {
        warnings.push(format!(
            "{}: label {l} ({}) covers no voxel of the transport grid",
            path.display(),
            name_of(&img.label_names, *l)
        ));
    }
    if by_label.is_empty() {
        return Err(InputError::Region {
            path: path.to_path_buf(),
            detail: "no non-zero label falls on the transport grid; check the label map belongs to this CT (same patient and frame of reference)".into(),
        });
    }
    let regions = by_label
        .into_iter()
        .map(|(l, voxels)| Region {
            name: name_of(&img.label_names, l),
            voxels,
        })
        .collect();
    Ok((regions, warnings))
}

fn name_of(names: &BTreeMap<u32, String>, label: u32) -> String {
    names
        .get(&label)
        .cloned()
        .unwrap_or_else(|| format!("label_{label}"))
}

fn check_integer_labels(path: &Path, vol: &Volume<f32>) -> Result<(), InputError> {
    if let Some((idx, v)) = vol
        .data
        .iter()
        .enumerate()
        .find(|(_, v)| !(v.is_finite() && **v >= 0.0 && v.fract() == 0.0))
    {
        return Err(InputError::Region {
            path: path.to_path_buf(),
            detail: format!(
                "voxel {:?} holds {v}, not a non-negative integer label; --labels takes a label map (e.g. TotalSegmentator --ml output), not an image",
                vol.grid.ijk(idx)
            ),
        });
    }
    Ok(())
}

fn regions_from_mask_folder(
    dir: &Path,
    grid: &Grid,
) -> Result<(Vec<Region>, Vec<String>), InputError> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|source| InputError::Read {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| crate::io::ct::is_nifti(p))
        .collect();
    files.sort();
    let mut regions = Vec::new();
    let mut warnings = Vec::new();
    for f in &files {
        let img = read_image(f)?;
        check_integer_labels(f, &img.volume)?;
        let sampled = sample_nearest(&img.volume, grid, 0.0);
        let voxels: Vec<u32> = sampled
            .iter()
            .enumerate()
            .filter(|(_, v)| **v > 0.0)
            .map(|(i, _)| i as u32)
            .collect();
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .trim_end_matches(".gz")
            .trim_end_matches(".nii")
            .to_string();
        if voxels.is_empty() {
            warnings.push(format!(
                "{}: mask '{name}' covers no voxel of the transport grid; skipped",
                f.display()
            ));
        } else {
            regions.push(Region { name, voxels });
        }
    }
    if regions.is_empty() {
        return Err(InputError::Region {
            path: dir.to_path_buf(),
            detail: format!("none of the {} NIfTI mask(s) in the folder covers the transport grid; pass a label map or a folder of masks of this CT", files.len()),
        });
    }
    Ok((regions, warnings))
}

/// A label volume (1, 2, … in region order; 0 elsewhere; later regions win on overlap).
pub fn label_volume(grid: &Grid, regions: &[Region]) -> Volume<u16> {
    let mut data = vec![0u16; grid.n_voxels()];
    for (r, region) in regions.iter().enumerate() {
        for &v in &region.voxels {
            data[v as usize] = (r + 1).min(u16::MAX as usize) as u16;
        }
    }
    Volume {
        grid: grid.clone(),
        data,
    }
}
