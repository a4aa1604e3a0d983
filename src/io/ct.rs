//! CT series (DICOM folder, single- or multi-frame, or a NIfTI of HU) → Hounsfield units on the
//! CT grid (patient LPS, mm).
//!
//! HU = RescaleSlope × stored + RescaleIntercept (0028,1053)/(0028,1052), applied per slice or
//! frame (enhanced CT carries it in the Pixel Value Transformation functional group). A CT
//! without rescale tags is read as stored values with a warning.

use crate::geometry::Volume;
use crate::io::series::{read_series, LinearMap, SeriesIdentity};
use crate::io::InputError;
use std::path::{Path, PathBuf};

/// A CT in Hounsfield units.
#[derive(Clone, Debug)]
pub struct CtImage {
    /// The input path.
    pub path: PathBuf,
    /// HU per voxel.
    pub hu: Volume<f32>,
    /// Identifiers of the DICOM series (empty for NIfTI input).
    pub identity: SeriesIdentity,
    /// Rescale of each slice (k order), as applied.
    pub rescale: Vec<LinearMap>,
    /// Things handled on the way (overlapping slices, empty SOPClassUID, …).
    pub warnings: Vec<String>,
}

/// CT SOP classes: CT Image Storage, Enhanced CT, Legacy Converted Enhanced CT.
const CT_SOP_CLASSES: [&str; 3] = [
    "1.2.840.10008.5.1.4.1.1.2",
    "1.2.840.10008.5.1.4.1.1.2.1",
    "1.2.840.10008.5.1.4.1.1.2.2",
];

/// Reads a CT from a DICOM series folder or file, or from a NIfTI file of HU.
pub fn read_ct(path: &Path) -> Result<CtImage, InputError> {
    if is_nifti(path) {
        let hu = crate::io::nifti::read_volume_f32(path)?;
        check_finite(path, &hu)?;
        return Ok(CtImage {
            path: path.to_path_buf(),
            hu,
            identity: SeriesIdentity::default(),
            rescale: Vec::new(),
            warnings: vec!["NIfTI CT: values are taken as HU".into()],
        });
    }
    let series = read_series(path)?;
    let is_ct = series.modality == "CT" || CT_SOP_CLASSES.contains(&series.sop_class_uid.as_str());
    if !is_ct {
        return Err(InputError::WrongModality {
            path: path.to_path_buf(),
            detail: format!(
                "--ct expects a CT series but (0008,0060) Modality is '{}' and the SOP class is {}; pass the CT folder to --ct (the SPECT/PET goes to --spect)",
                series.modality, series.sop_class_uid
            ),
        });
    }
    let mut warnings = series.warnings.clone();
    if series.slices.iter().any(|s| s.rescale.is_none()) {
        warnings.push(
            "some slices have no RescaleSlope/RescaleIntercept: stored values taken as HU".into(),
        );
    }
    let identity_map = LinearMap {
        slope: 1.0,
        intercept: 0.0,
    };
    let rescale: Vec<LinearMap> = series
        .slices
        .iter()
        .map(|s| s.rescale.unwrap_or(identity_map))
        .collect();
    let data = series.values(|s| s.rescale.unwrap_or(identity_map));
    let hu = Volume {
        grid: series.grid.clone(),
        data,
    };
    check_finite(path, &hu)?;
    Ok(CtImage {
        path: path.to_path_buf(),
        hu,
        identity: series.identity(),
        rescale,
        warnings,
    })
}

/// True for paths ending in .nii or .nii.gz.
pub fn is_nifti(path: &Path) -> bool {
    let name = path.to_string_lossy().to_lowercase();
    name.ends_with(".nii") || name.ends_with(".nii.gz")
}

/// Refuses volumes with NaN or infinite voxels, naming the first one.
pub fn check_finite(path: &Path, vol: &Volume<f32>) -> Result<(), InputError> {
    let bad: Vec<usize> = vol
        .data
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_finite())
        .map(|(i, _)| i)
        .collect();
    if let Some(&first) = bad.first() {
        return Err(InputError::NonFinite {
            path: path.to_path_buf(),
            count: bad.len(),
            first_ijk: vol.grid.ijk(first),
        });
    }
    Ok(())
}
