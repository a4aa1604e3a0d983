//! Patient data in and out: DICOM CT / NM / PT series, RTSTRUCT, NIfTI volumes and label maps;
//! NIfTI, DICOM RT Dose and tables out. Every output is written to a temporary file in the
//! destination folder and renamed into place, so a failure never leaves a half file over a
//! good one ([`atomic`]).
//!
//! | module | responsibility |
//! |---|---|
//! | [`dicom`] | opening DICOM files, typed tag access with errors naming the tag, pixel decoding |
//! | [`series`] | a folder or file of image slices/frames → one sorted grid (LPS, mm) + raw values |
//! | [`ct`] | CT series → HU volume |
//! | [`activity`] | NM / PT series → activity concentration (Bq/mL) with its provenance |
//! | [`rtstruct`] | RTSTRUCT contours rasterised onto any grid by patient coordinates |
//! | [`masks`] | label maps (NIfTI) → named regions; regions on the transport grid |
//! | [`rtdose`] | DICOM RT Dose writer |
//! | [`rtdose_read`] | DICOM RT Dose reader (dose grid, units, dose type, patient and frame) |
//! | [`output_folder`] | all-or-nothing output folders: staging, atomic swap, lock, recovery |
//! | [`nifti`] | NIfTI-1 in and out with the LPS ↔ RAS affine |
//! | [`interfile`] | Interfile 3.3 header + raw data (GATE voxelised phantoms) |
//! | [`gate`] | GATE text tables: value-range → material, activity ranges, `GateMaterials.db` densities |
//!
//! Errors: every problem with an input is an [`InputError`] variant with its own exit code
//! (8, 9 and 11–30; the table is in `crate::error`), whose message names the file, the tag or
//! field, the offending value, and how to fix it.

pub mod activity;
pub mod atomic;
pub mod ct;
pub mod dicom;
pub mod gate;
pub mod hash;
pub mod interfile;
pub mod masks;
pub mod nifti;
pub mod output_folder;
pub mod rtdose;
pub mod rtdose_read;
pub mod rtstruct;
pub mod series;

use std::path::PathBuf;

/// Reading or understanding an input file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not in the expected format, or is damaged.
    #[error("{path}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The data are readable but inconsistent or unusable (units, grids, non-finite values).
    #[error("{path}: {reason}")]
    Inconsistent {
        /// The file (or series folder).
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The file ends before its content does (an interrupted copy or download).
    #[error(
        "{path} is truncated: {detail}; copy the file again from the source (PACS export, archive)"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What the parser met.
        detail: String,
    },
    /// A tag voxdose needs is absent or empty.
    #[error("{path}: {tag} is missing or empty; {fix}")]
    MissingTag {
        /// The file.
        path: PathBuf,
        /// The tag as "(gggg,eeee) Keyword".
        tag: String,
        /// How to fix it.
        fix: String,
    },
    /// The pixel data cannot be decoded.
    #[error("{path}: pixel data (7FE0,0010) in transfer syntax {transfer_syntax} cannot be decoded: {detail}; re-export the series uncompressed (e.g. `dcmdjpeg`/`gdcmconv --raw`)")]
    PixelDecode {
        /// The file.
        path: PathBuf,
        /// Transfer syntax UID and name.
        transfer_syntax: String,
        /// The decoder's message.
        detail: String,
    },
    /// The transfer syntax is not supported by this build.
    #[error("{path}: transfer syntax {transfer_syntax} is not supported by this build of voxdose; {fix}")]
    UnsupportedTransferSyntax {
        /// The file.
        path: PathBuf,
        /// Transfer syntax UID and name.
        transfer_syntax: String,
        /// How to fix it.
        fix: String,
    },
    /// An emission image without quantitative units.
    #[error("{path}: {detail}; voxdose needs activity concentration: reconstruct/export the SPECT in Bq/mL, or pass --calibration-bq-ml-per-count FACTOR (in a study file: \"calibration_bq_ml_per_count\")")]
    NotQuantitative {
        /// The file.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// Units present but not ones voxdose can convert to Bq/mL.
    #[error("{path}: {tag} = '{units}' is not an activity unit voxdose can convert to Bq/mL (accepted: {accepted}); re-export in Bq/mL")]
    UnexpectedUnits {
        /// The file.
        path: PathBuf,
        /// The tag holding the units.
        tag: String,
        /// The units found.
        units: String,
        /// Accepted units.
        accepted: String,
    },
    /// Voxels that are NaN or infinite.
    #[error("{path}: {count} voxel(s) are NaN or infinite (first at voxel {first_ijk:?}); fix the export or mask them before running")]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// How many voxels.
        count: usize,
        /// The first one, (i, j, k).
        first_ijk: [usize; 3],
    },
    /// Two slices at the same position.
    #[error("{path}: slices {first} and {second} are both at {position_mm:.3} mm along the slice normal (ImagePositionPatient (0020,0032)); the folder holds duplicate slices or two series: keep one copy of each slice")]
    DuplicateSlices {
        /// The series folder.
        path: PathBuf,
        /// One file.
        first: PathBuf,
        /// The other file.
        second: PathBuf,
        /// Position along the normal, mm.
        position_mm: f64,
    },
    /// Slice gaps that are not even.
    #[error("{path}: slice gaps along the normal (from ImagePositionPatient (0020,0032)) are uneven: {gaps}; a slice may be missing: re-export the complete series or resample it to even spacing")]
    UnevenSpacing {
        /// The series folder.
        path: PathBuf,
        /// The gaps found, mm.
        gaps: String,
    },
    /// Files of different series or incompatible geometry in one input.
    #[error("{path}: {detail}; point voxdose at a folder holding exactly one series")]
    MixedSeries {
        /// The series folder.
        path: PathBuf,
        /// What differs.
        detail: String,
    },
    /// Two inputs that should cover the same anatomy do not overlap.
    #[error("{what} do not overlap: {a} spans {a_box} mm and {b} spans {b_box} mm (LPS); check both series are from the same patient, scan and frame of reference")]
    NoOverlap {
        /// What the two inputs are.
        what: String,
        /// First input.
        a: PathBuf,
        /// Its bounding box.
        a_box: String,
        /// Second input.
        b: PathBuf,
        /// Its bounding box.
        b_box: String,
    },
    /// An RTSTRUCT (or other input) in another frame of reference.
    #[error("{path}: {tag} is {found} but the image grid is in frame of reference {expected}; the structure set was drawn on another scan: use the RTSTRUCT made on this CT, or register it first")]
    FrameOfReference {
        /// The file.
        path: PathBuf,
        /// The tag holding the UID.
        tag: String,
        /// UID found.
        found: String,
        /// UID expected.
        expected: String,
    },
    /// The series is not of the kind the option expects.
    #[error("{path}: {detail}")]
    WrongModality {
        /// The file.
        path: PathBuf,
        /// What was expected and found, and how to fix it.
        detail: String,
    },
    /// A folder without any DICOM image.
    #[error("{path}: no DICOM image files found ({detail}); pass the folder holding the series' .dcm files")]
    EmptySeries {
        /// The folder.
        path: PathBuf,
        /// What was seen.
        detail: String,
    },
    /// Dates and times that contradict each other (scan before injection, unparsable).
    #[error("{path}: {detail}")]
    Times {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        detail: String,
    },
    /// A region definition that cannot be used (empty ROI, label without voxels).
    #[error("{path}: {detail}")]
    Region {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        detail: String,
    },
    /// Negative activity where none is physically possible.
    #[error("{path}: {count} voxel(s) have negative activity (minimum {min} Bq/mL); voxdose does not clip silently: check the reconstruction, or clip negatives to 0 before running")]
    NegativeActivity {
        /// The file.
        path: PathBuf,
        /// How many voxels.
        count: usize,
        /// The most negative value.
        min: f64,
    },
    /// A header key voxdose needs is absent or empty (Interfile and other text headers).
    #[error("{path}: header key '{key}' is missing or empty; {fix}")]
    MissingHeaderKey {
        /// The header file.
        path: PathBuf,
        /// The key, as voxdose looks it up (lower case, without `!`).
        key: String,
        /// How to fix it.
        fix: String,
    },
    /// A raw data file whose size does not match its header.
    #[error("{path} has {found_bytes} bytes but its header {header} describes {expected_bytes} bytes ({layout}); the data file is truncated or belongs to another header, or the header's matrix size / bytes per pixel / data offset is wrong")]
    DataSizeMismatch {
        /// The data file.
        path: PathBuf,
        /// The header that describes it.
        header: PathBuf,
        /// Bytes the header implies.
        expected_bytes: u64,
        /// Bytes found.
        found_bytes: u64,
        /// The header's layout in words.
        layout: String,
    },
    /// External input data (e.g. a phantom kept outside the repository) were not found.
    #[error("{what} not found; looked in: {looked}; {fix}")]
    DataNotFound {
        /// What was looked for.
        what: String,
        /// The places tried, in order.
        looked: String,
        /// How to make it available.
        fix: String,
    },
}

impl InputError {
    /// Exit code of this error's class (see `crate::error`).
    pub fn exit_code(&self) -> i32 {
        match self {
            InputError::Read { .. } | InputError::Malformed { .. } => 8,
            InputError::Inconsistent { .. } => 9,
            InputError::Truncated { .. } => 11,
            InputError::MissingTag { .. } => 12,
            InputError::PixelDecode { .. } => 13,
            InputError::UnsupportedTransferSyntax { .. } => 14,
            InputError::NotQuantitative { .. } => 15,
            InputError::UnexpectedUnits { .. } => 16,
            InputError::NonFinite { .. } => 17,
            InputError::DuplicateSlices { .. } => 18,
            InputError::UnevenSpacing { .. } => 19,
            InputError::MixedSeries { .. } => 20,
            InputError::NoOverlap { .. } => 21,
            InputError::FrameOfReference { .. } => 22,
            InputError::WrongModality { .. } => 23,
            InputError::EmptySeries { .. } => 24,
            InputError::Times { .. } => 25,
            InputError::Region { .. } => 26,
            InputError::NegativeActivity { .. } => 27,
            InputError::MissingHeaderKey { .. } => 28,
            InputError::DataSizeMismatch { .. } => 29,
            InputError::DataNotFound { .. } => 30,
        }
    }
}
