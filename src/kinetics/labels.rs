//! The study's regions on the map grid: a NIfTI label map, or a DICOM RT Structure Set
//! rasterised onto the grid.
//!
//! Responsibility: read the study's `labels` and return one label per map voxel with the
//! region names. Contours are rasterised by [`crate::io::rtstruct`].
//!
//! **NIfTI**: every non-zero value is a region; taken onto the grid by nearest label when
//! its grid differs; names from the study's `region_names`, else the file's label table,
//! else `label_N`.
//!
//! **RTSTRUCT**: each ROI with closed planar contours is rasterised onto the map grid
//! through patient coordinates (a voxel belongs to an ROI when its centre lies inside the
//! contours of its plane's slab). The label of an ROI is its ROINumber (3006,0022) (1, 2, …
//! in file order when the numbers are not distinct positive integers), its name the
//! ROIName unless `region_names` names that number. The ROIs' frame of reference must be
//! the study's (the reference CT's when there is one, else the first scan's); when that
//! image is NIfTI there is no UID, and the contours are placed by patient coordinates,
//! unchecked. A voxel inside
//! several ROIs goes to the smallest of them (an organ drawn inside a body outline stays
//! the organ); how many did is reported.

use super::align::ReferenceFrame;
use super::register::RigidTransform;
use super::study::Study;
use crate::geometry::resample::nearest_through;
use crate::geometry::{Grid, Region, Volume};
use crate::io::masks::region_name;
use crate::io::InputError;
use crate::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// A label map on the reference grid and the names of its labels.
pub type Labels = (Volume<u32>, BTreeMap<u32, String>);

/// Reads the study's labels onto the frame's grid and names its regions; `notes` gets what
/// the log should say (RTSTRUCT: ROIs skipped, overlaps, an unchecked frame).
pub fn load_labels(
    study: &Study,
    frame: &ReferenceFrame,
    notes: &mut Vec<String>,
) -> Result<Option<Labels>> {
    let Some(path) = &study.labels else {
        return Ok(None);
    };
    let (labels, names) = if crate::io::ct::is_nifti(path) {
        nifti_labels(study, path, &frame.grid)?
    } else {
        rtstruct_labels(study, path, frame, notes)?
    };
    if names.is_empty() {
        return Err(InputError::Inconsistent {
            path: path.clone(),
            reason: "the label map has no non-zero voxel on the reference grid; check it belongs to this patient and overlaps the first scan".into(),
        }
        .into());
    }
    Ok(Some((labels, names)))
}

fn nifti_labels(study: &Study, path: &Path, grid: &Grid) -> Result<Labels> {
    let img = crate::io::nifti::read_image(path)?;
    let raw = Volume {
        grid: img.volume.grid.clone(),
        data: img
            .volume
            .data
            .iter()
            .map(|&v| {
                if v.is_finite() && v > 0.0 {
                    v.round() as u32
                } else {
                    0
                }
            })
            .collect(),
    };
    let labels = if raw.grid == *grid {
        raw
    } else {
        let identity = RigidTransform::identity([0.0; 3]);
        nearest_through(&raw, &identity, grid)
    };
    let mut names = BTreeMap::new();
    for &l in labels.data.iter().filter(|&&l| l > 0) {
        names
            .entry(l)
            .or_insert_with(|| region_name(l, &study.region_names, &img.label_names));
    }
    Ok((labels, names))
}

fn rtstruct_labels(
    study: &Study,
    path: &Path,
    frame: &ReferenceFrame,
    notes: &mut Vec<String>,
) -> Result<Labels> {
    if path.is_dir() {
        return Err(super::KineticsError::InvalidStudy {
            path: study.path.clone(),
            reason: format!("\"labels\" {} is a folder: give the RT Structure Set file itself (e.g. RS….dcm) or a NIfTI label map (.nii, .nii.gz)", path.display()),
        }
        .into());
    }
    let ss = crate::io::rtstruct::read_rtstruct(path).map_err(|e| match e {
        InputError::WrongModality { path, .. } => InputError::WrongModality {
            path,
            detail: "a study's \"labels\" must be a NIfTI label map (.nii, .nii.gz) or a DICOM RT Structure Set (RTSTRUCT), and this DICOM file is not an RTSTRUCT".into(),
        },
        e => e,
    })?;
    let uid = &frame.frame_of_reference_uid;
    if uid.is_empty() {
        notes.push(format!(
            "labels: the RTSTRUCT's frame of reference is not checked ({} is NIfTI, which has no FrameOfReferenceUID); its contours are placed by patient coordinates",
            if study.reference_ct.is_some() { "the reference CT" } else { "the first scan" }
        ));
    }
    let (mut regions, warnings) = ss.numbered_regions_on(&frame.grid, uid)?;
    notes.extend(warnings.into_iter().map(|w| format!("labels: {w}")));
    if !distinct_positive(&regions) {
        notes.push("labels: the RTSTRUCT's ROI numbers are not distinct positive integers; the ROIs are labelled 1, 2, … in file order".into());
        for (i, (n, _)) in regions.iter_mut().enumerate() {
            *n = i as i64 + 1;
        }
    }
    let (data, overlap) = paint(&regions, frame.grid.n_voxels());
    if overlap > 0 {
        notes.push(format!(
            "labels: {overlap} voxels lie in more than one ROI of the RTSTRUCT; each went to the smallest of them"
        ));
    }
    let roi_names: BTreeMap<u32, String> = regions
        .iter()
        .map(|(n, r)| (*n as u32, r.name.clone()))
        .collect();
    let mut names = BTreeMap::new();
    for &l in data.iter().filter(|&&l| l > 0) {
        names
            .entry(l)
            .or_insert_with(|| region_name(l, &study.region_names, &roi_names));
    }
    Ok((
        Volume {
            grid: frame.grid.clone(),
            data,
        },
        names,
    ))
}

fn distinct_positive(regions: &[(i64, Region)]) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    regions
        .iter()
        .all(|(n, _)| *n >= 1 && *n <= u32::MAX as i64 && seen.insert(*n))
}

/// One label per voxel, the largest ROI painted first so that smaller ones win; and how
/// many voxels were in more than one ROI.
fn paint(regions: &[(i64, Region)], n_voxels: usize) -> (Vec<u32>, usize) {
    let mut order: Vec<&(i64, Region)> = regions.iter().collect();
    order.sort_by_key(|(_, r)| std::cmp::Reverse(r.voxels.len()));
    let mut data = vec![0u32; n_voxels];
    let mut shared = vec![false; n_voxels];
    for (n, r) in order {
        for &v in &r.voxels {
            let v = v as usize;
            shared[v] |= data[v] != 0;
            data[v] = *n as u32;
        }
    }
    (data, shared.iter().filter(|&&s| s).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaller_rois_win_overlaps_and_are_counted() {
        let body = Region {
            name: "body".into(),
            voxels: (0..10).collect(),
        };
        let kidney = Region {
            name: "kidney".into(),
            voxels: vec![3, 4],
        };
        // The kidney listed first still wins over the larger body.
        let (data, overlap) = paint(&[(2, kidney), (1, body)], 12);
        assert_eq!(data[..5], [1, 1, 1, 2, 2]);
        assert_eq!(data[10..], [0, 0]);
        assert_eq!(overlap, 2);
    }
}
