//! Label maps → named regions on any grid, the one rule that names a label, and regions → a
//! label volume for output.
//!
//! Input is a NIfTI label map (one integer label per voxel), or a folder of binary NIfTI
//! masks (TotalSegmentator without `--ml`: one `<organ>.nii.gz` per organ, named after the
//! file). Each voxel centre of the target grid takes the label of the label-map voxel that
//! contains it (nearest neighbour in patient coordinates, [`label_regions`]), so label maps on
//! the CT grid map correctly onto a coarser or shifted transport grid.
//!
//! **Names** ([`region_name`]): a study file's `region_names` first, then the label file's
//! own table (the Caret XML label table TotalSegmentator writes), else `label_<n>`. Patient
//! runs, studies and the kinetics pipeline all name labels through it.

use crate::geometry::resample::sample_nearest;
use crate::geometry::{Grid, Region, Volume};
use crate::io::nifti::read_image;
use crate::io::InputError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The name of label `label`: the study's name for it (`study_names`, the study file's
/// `region_names`), else the label file's own table (`file_label_table`, e.g.
/// [`crate::io::nifti::NiftiImage::label_names`]), else `label_<n>`.
pub fn region_name(
    label: u32,
    study_names: &BTreeMap<u32, String>,
    file_label_table: &BTreeMap<u32, String>,
) -> String {
    study_names
        .get(&label)
        .or_else(|| file_label_table.get(&label))
        .cloned()
        .unwrap_or_else(|| format!("label_{label}"))
}

/// The label a voxel value stands for: the value rounded to the nearest whole number; `None`
/// for background (0, negative or not finite).
fn label_of(value: f32) -> Option<u32> {
    let l = value.round();
    (l.is_finite() && l >= 1.0).then_some(l as u32)
}

/// Regions on `grid` from a label volume on any grid: each voxel centre of `grid` takes the
/// label of the label-map voxel nearest to it in patient coordinates (background outside the
/// label map). One region per label that covers at least one voxel, in label order, with its
/// voxels in index order, named by [`region_name`].
pub fn label_regions(
    labels: &Volume<f32>,
    grid: &Grid,
    study_names: &BTreeMap<u32, String>,
    file_label_table: &BTreeMap<u32, String>,
) -> Vec<Region> {
    named_regions(voxels_by_label(labels, grid), study_names, file_label_table)
}

/// The voxels of `grid` that take each label (see [`label_regions`]).
fn voxels_by_label(labels: &Volume<f32>, grid: &Grid) -> BTreeMap<u32, Vec<u32>> {
    let mut by_label: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (idx, &v) in sample_nearest(labels, grid, 0.0).iter().enumerate() {
        if let Some(l) = label_of(v) {
            by_label.entry(l).or_default().push(idx as u32);
        }
    }
    by_label
}

fn named_regions(
    by_label: BTreeMap<u32, Vec<u32>>,
    study_names: &BTreeMap<u32, String>,
    file_label_table: &BTreeMap<u32, String>,
) -> Vec<Region> {
    by_label
        .into_iter()
        .map(|(l, voxels)| Region {
            name: region_name(l, study_names, file_label_table),
            voxels,
        })
        .collect()
}

/// Regions on `grid` from a NIfTI label map or a folder of binary NIfTI masks, with a warning
/// for each label that covers no voxel of `grid`.
pub fn regions_from_labels(
    path: &Path,
    grid: &Grid,
) -> Result<(Vec<Region>, Vec<String>), InputError> {
    if path.is_dir() {
        return regions_from_mask_folder(path, grid);
    }
    let img = read_image(path)?;
    check_integer_labels(path, &img.volume)?;
    let by_label = voxels_by_label(&img.volume, grid);
    if by_label.is_empty() {
        return Err(InputError::Region {
            path: path.to_path_buf(),
            detail: "no non-zero label falls on the transport grid; check the label map belongs to this CT (same patient and frame of reference)".into(),
        });
    }
    let no_study_names = BTreeMap::new();
    let present: BTreeSet<u32> = img
        .volume
        .data
        .iter()
        .filter_map(|&v| label_of(v))
        .collect();
    let warnings = present
        .into_iter()
        .filter(|l| !by_label.contains_key(l))
        .map(|l| {
            format!(
                "{}: label {l} ({}) covers no voxel of the transport grid",
                path.display(),
                region_name(l, &no_study_names, &img.label_names)
            )
        })
        .collect();
    let regions = named_regions(by_label, &no_study_names, &img.label_names);
    Ok((regions, warnings))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(pairs: &[(u32, &str)]) -> BTreeMap<u32, String> {
        pairs.iter().map(|&(l, n)| (l, n.to_string())).collect()
    }

    #[test]
    fn region_name_prefers_the_study_then_the_label_file_then_label_n() {
        let study = names(&[(1, "kidney_left")]);
        let file = names(&[(1, "kidney_left_file"), (2, "liver")]);
        assert_eq!(region_name(1, &study, &file), "kidney_left");
        assert_eq!(region_name(2, &study, &file), "liver");
        assert_eq!(region_name(7, &study, &file), "label_7");
        assert_eq!(
            region_name(7, &BTreeMap::new(), &BTreeMap::new()),
            "label_7"
        );
    }

    #[test]
    fn labels_on_a_finer_grid_go_to_a_coarser_shifted_grid_by_nearest_voxel_centre() {
        // 1 mm label map, x < 4 mm label 2, x ≥ 4 mm label 5 (centres at 0.5, 1.5, …), with
        // a non-integer-looking 4.9999 that rounds to 5 and a background row at y = 0.
        let fine = Grid::new([8, 2, 1], [1.0; 3], [0.5, 0.5, 0.5]);
        let data = (0..fine.n_voxels())
            .map(|idx| {
                let [i, j, _] = fine.ijk(idx);
                match (j, i < 4) {
                    (0, _) => 0.0,
                    (_, true) => 2.0,
                    (_, false) => 4.9999,
                }
            })
            .collect();
        let labels = Volume { grid: fine, data };
        // 2 mm voxels with centres at x = 1.2, 3.2, 5.2, 7.2, 9.2 (the last beyond the map),
        // y = 1.6, z = 0.5.
        let coarse = Grid::new([5, 1, 1], [2.0; 3], [1.2, 1.6, 0.5]);
        let regions = label_regions(
            &labels,
            &coarse,
            &names(&[(5, "tumour")]),
            &names(&[(2, "liver"), (5, "lesion")]),
        );
        let got: Vec<(&str, &[u32])> = regions
            .iter()
            .map(|r| (r.name.as_str(), r.voxels.as_slice()))
            .collect();
        // x = 1.2, 3.2 lie in fine voxels 1 and 3 (label 2); 5.2, 7.2 in 5 and 7 (label 5).
        assert_eq!(got, [("liver", &[0u32, 1][..]), ("tumour", &[2u32, 3][..])]);
    }

    #[test]
    fn background_values_take_no_label() {
        for v in [0.0, 0.4, -3.0, f32::NAN, f32::INFINITY] {
            assert_eq!(label_of(v), None, "{v}");
        }
        assert_eq!(label_of(0.6), Some(1));
        assert_eq!(label_of(7.0), Some(7));
    }
}
