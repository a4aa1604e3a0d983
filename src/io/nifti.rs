//! NIfTI-1 volumes in and out (.nii and .nii.gz), with the LPS ↔ RAS affine conversion, and
//! label tables of segmentation outputs (TotalSegmentator's Caret XML header extension).
//!
//! Conventions (NIfTI-1 header documentation, `nifti1.h`, "3D IMAGE (VOLUME) ORIENTATION AND
//! LOCATION IN SPACE"): the file's affine maps voxel indices (i, j, k) to RAS+ millimetres
//! (+x towards the patient's Right, +y Anterior, +z Superior). DICOM and our [`Grid`] use LPS+
//! (+x Left, +y Posterior, +z Superior), so at the file boundary
//! `LPS = diag(−1, −1, 1) · RAS`. Both place the *centre* of voxel (0,0,0) at the affine's
//! translation, so no half-voxel shift is involved.
//!
//! Which affine is read: the sform when `sform_code > 0`, else the qform when
//! `qform_code > 0`, else the pixdim scaling alone ("method 1", ANALYZE compatibility). This
//! is the order nibabel uses. Files are written with both sform and qform set to the same
//! transform (codes 1, scanner anatomical), spacing in mm (`xyzt_units` = mm).
//!
//! Units: positions and spacings in mm; voxel values as stored after the header's
//! `scl_slope`/`scl_inter` scaling (the caller knows what they mean: HU, Bq/mL, Gy, labels).

use crate::geometry::{Grid, Volume};
use crate::io::InputError;
use crate::Result;
use nifti::{IntoNdArray, NiftiObject, ReaderOptions};
use std::collections::BTreeMap;
use std::path::Path;

/// Sign flip between RAS (NIfTI) and LPS (DICOM, [`Grid`]) on each patient axis.
const RAS_LPS_SIGN: [f64; 3] = [-1.0, -1.0, 1.0];

/// Largest |cos| between two axes of an affine still treated as orthogonal. NIfTI files
/// written in f32 from orthonormal matrices have errors near 1e-7; genuinely sheared affines
/// (which a [`Grid`] cannot represent) are far above this.
const ORTHOGONALITY_TOLERANCE: f64 = 1e-4;

/// A NIfTI image as read: its values on a grid (LPS), and what the header says about them.
#[derive(Clone, Debug)]
pub struct NiftiImage {
    /// The values (after scl_slope/scl_inter) on the grid, in patient LPS.
    pub volume: Volume<f32>,
    /// The header's `descrip` text.
    pub description: String,
    /// Which transform the grid came from: "sform", "qform" or "pixdim".
    pub affine_source: &'static str,
    /// The NIfTI datatype code as stored (2 = uint8, 4 = int16, 16 = float32, …).
    pub datatype_code: i16,
    /// Label value → name, from a label-table header extension (empty when there is none).
    pub label_names: BTreeMap<u32, String>,
}

/// Reads a NIfTI-1 volume as f32 on its grid (patient LPS).
pub fn read_volume_f32(path: &Path) -> Result<Volume<f32>, InputError> {
    read_image(path).map(|img| img.volume)
}

/// Reads a NIfTI-1 file (.nii or .nii.gz) with its header information and label table.
///
/// NIfTI-2 files are refused with the conversion to make. Only 3-D images (or 4-D with one volume) are accepted; the grid must be orthogonal.
pub fn read_image(path: &Path) -> Result<NiftiImage, InputError> {
    if !path.exists() {
        return Err(InputError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    refuse_nifti2(path)?;
    let obj = ReaderOptions::new()
        .read_file(path)
        .map_err(|e| malformed(path, format!("not a readable NIfTI-1 file ({e}); check the file is complete and is NIfTI-1 (.nii or .nii.gz)")))?;
    let header = obj.header().clone();
    let dims = spatial_dims(path, &header.dim)?;
    let (affine_ras, affine_source) = affine_ras_of(&header);
    let grid = grid_from_affine_ras(dims, &affine_ras)
        .map_err(|reason| inconsistent(path, format!("{affine_source} affine {reason}")))?;
    let label_names = label_table(obj.extensions());
    let arr = obj
        .into_volume()
        .into_ndarray::<f32>()
        .map_err(|e| malformed(path, format!("voxel data cannot be read as numbers ({e}); the file may be truncated or use an unsupported datatype")))?;
    // nifti-rs returns the array indexed [i, j, k, …]; its transpose iterated in logical
    // order therefore visits i fastest, then j, then k: our linear order.
    let data: Vec<f32> = arr.t().iter().copied().collect();
    if data.len() != grid.n_voxels() {
        return Err(malformed(
            path,
            format!(
                "header dim {:?} announces {} voxels but {} were read",
                dims,
                grid.n_voxels(),
                data.len()
            ),
        ));
    }
    Ok(NiftiImage {
        volume: Volume { grid, data },
        description: c_string(&header.descrip),
        affine_source,
        datatype_code: header.datatype,
        label_names,
    })
}

/// Writes a float volume as NIfTI-1 (gzip when the name ends in `.gz`), atomically.
///
/// The sform and qform both carry the grid's affine converted to RAS; `description` goes in
/// `descrip` (truncated to 79 bytes).
pub fn write_volume_f32(path: &Path, vol: &Volume<f32>, description: &str) -> Result<()> {
    write_volume(path, vol, description)
}

/// Writes a label map (e.g. regions on the transport grid) as NIfTI-1 uint16, atomically.
pub fn write_labels_u16(path: &Path, vol: &Volume<u16>, description: &str) -> Result<()> {
    write_volume(path, vol, description)
}

fn write_volume<T>(path: &Path, vol: &Volume<T>, description: &str) -> Result<()>
where
    T: nifti::DataElement + bytemuck::Pod,
{
    if vol.data.len() != vol.grid.n_voxels() {
        return Err(crate::Error::Internal(format!(
            "volume for {} has {} values for a grid of {}",
            path.display(),
            vol.data.len(),
            vol.grid.n_voxels()
        )));
    }
    let header = header_for(&vol.grid, description);
    let [nx, ny, nz] = vol.grid.dims;
    // Our linear order has i fastest; as a C-order array that is shape [k, j, i]. nifti-rs
    // writes the transpose of what it is given, so hand it the [i, j, k] view.
    let arr = ndarray::ArrayView3::from_shape((nz, ny, nx), &vol.data)
        .map_err(|e| crate::Error::Internal(format!("NIfTI array shape: {e}")))?;
    let arr = arr.reversed_axes();
    let gz = path.to_string_lossy().ends_with(".gz");
    crate::io::atomic::write_atomic_via_temp_path(
        path,
        if gz { ".nii.gz" } else { ".nii" },
        |tmp| {
            nifti::writer::WriterOptions::new(tmp)
                .reference_header(&header)
                .write_nifti(&arr)
                .map_err(|e| std::io::Error::other(e.to_string()))
        },
    )
}

/// The 4×4 voxel-index → RAS (mm) affine of a grid, row major: NIfTI's sform.
pub fn affine_ras_from_grid(grid: &Grid) -> [[f64; 4]; 4] {
    let mut m = grid.affine_lps();
    for (r, row) in m.iter_mut().take(3).enumerate() {
        for v in row.iter_mut() {
            *v *= RAS_LPS_SIGN[r];
        }
    }
    m
}

/// The grid (LPS) of a voxel-index → RAS (mm) affine with the given dims.
///
/// Fails with a reason when an axis has zero length, is not finite, or the axes are not
/// orthogonal (sheared grids cannot be represented).
pub fn grid_from_affine_ras(
    dims: [usize; 3],
    affine_ras: &[[f64; 4]; 4],
) -> std::result::Result<Grid, String> {
    let mut spacing_mm = [0.0; 3];
    let mut direction = [[0.0; 3]; 3];
    for axis in 0..3 {
        let col = [0, 1, 2].map(|r| affine_ras[r][axis] * RAS_LPS_SIGN[r]);
        let norm = col.iter().map(|c| c * c).sum::<f64>().sqrt();
        if !(norm.is_finite() && norm > 0.0) {
            return Err(format!(
                "has axis {axis} of length {norm} mm; the voxel spacing must be positive: fix the header's srow/pixdim"
            ));
        }
        spacing_mm[axis] = norm;
        direction[axis] = col.map(|c| snap_unit(c / norm));
    }
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        let cos: f64 = (0..3).map(|c| direction[a][c] * direction[b][c]).sum();
        if cos.abs() > ORTHOGONALITY_TOLERANCE {
            return Err(format!(
                "is sheared (axes {a} and {b} have cos = {cos:.2e}); voxdose needs orthogonal voxel axes: resample the image first"
            ));
        }
    }
    let origin_mm = [0, 1, 2].map(|r| affine_ras[r][3] * RAS_LPS_SIGN[r]);
    if origin_mm.iter().any(|o| !o.is_finite()) {
        return Err("has a non-finite translation; fix the header's srow/qoffset".into());
    }
    Ok(Grid {
        dims,
        spacing_mm,
        origin_mm,
        direction,
    })
}

/// Removes f32 round-off from direction cosines that are meant to be 0 or ±1 (within 1e-6),
/// so that axis-aligned files give exactly axis-aligned grids.
fn snap_unit(c: f64) -> f64 {
    for target in [-1.0, 0.0, 1.0] {
        if (c - target).abs() < 1e-6 {
            return target;
        }
    }
    c
}

/// NIfTI-2 (sizeof_hdr 540) is not read by nifti-rs 0.18; say so instead of "bad header".
fn refuse_nifti2(path: &Path) -> Result<(), InputError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|source| InputError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut first = [0u8; 4];
    let read = if path.to_string_lossy().ends_with(".gz") {
        flate2::read::GzDecoder::new(file).read_exact(&mut first)
    } else {
        std::io::BufReader::new(file).read_exact(&mut first)
    };
    if read.is_ok() && (i32::from_le_bytes(first) == 540 || i32::from_be_bytes(first) == 540) {
        return Err(malformed(
            path,
            "is NIfTI-2 (sizeof_hdr 540), which voxdose does not read; convert it to NIfTI-1, e.g. nibabel: nib.save(nib.Nifti1Image(img.dataobj, img.affine), 'out.nii.gz')".into(),
        ));
    }
    Ok(())
}

/// The header's RAS affine and the name of the transform it came from.
fn affine_ras_of(h: &nifti::NiftiHeader) -> ([[f64; 4]; 4], &'static str) {
    if h.sform_code > 0 {
        let mut m = [[0.0; 4]; 4];
        for (r, row) in [h.srow_x, h.srow_y, h.srow_z].iter().enumerate() {
            m[r] = row.map(f64::from);
        }
        m[3][3] = 1.0;
        (m, "sform")
    } else if h.qform_code > 0 {
        let q = [h.quatern_b, h.quatern_c, h.quatern_d].map(f64::from);
        let offset = [h.quatern_x, h.quatern_y, h.quatern_z].map(f64::from);
        let pixdim = [h.pixdim[1], h.pixdim[2], h.pixdim[3]].map(f64::from);
        (
            qform_affine(q, offset, pixdim, f64::from(h.pixdim[0])),
            "qform",
        )
    } else {
        let mut m = [[0.0; 4]; 4];
        for a in 0..3 {
            m[a][a] = f64::from(h.pixdim[a + 1]);
        }
        m[3][3] = 1.0;
        (m, "pixdim")
    }
}

/// The qform affine (NIfTI-1 "method 2"): rotation from the quaternion (b, c, d) with
/// a = √(1 − b² − c² − d²), columns scaled by pixdim, the k column by qfac = pixdim[0]
/// (±1; 0 is read as 1, as `nifti1.h` allows).
fn qform_affine(bcd: [f64; 3], offset: [f64; 3], pixdim: [f64; 3], qfac: f64) -> [[f64; 4]; 4] {
    let [mut b, mut c, mut d] = bcd;
    let aa = 1.0 - (b * b + c * c + d * d);
    let a = if aa < 1e-7 {
        // |(b,c,d)| ≈ 1: a 180° rotation; renormalise (b,c,d) as nifti1_io does.
        let n = (b * b + c * c + d * d).sqrt();
        b /= n;
        c /= n;
        d /= n;
        0.0
    } else {
        aa.sqrt()
    };
    let r = [
        [
            a * a + b * b - c * c - d * d,
            2.0 * (b * c - a * d),
            2.0 * (b * d + a * c),
        ],
        [
            2.0 * (b * c + a * d),
            a * a + c * c - b * b - d * d,
            2.0 * (c * d - a * b),
        ],
        [
            2.0 * (b * d - a * c),
            2.0 * (c * d + a * b),
            a * a + d * d - b * b - c * c,
        ],
    ];
    let qfac = if qfac < 0.0 { -1.0 } else { 1.0 };
    let scale = [pixdim[0], pixdim[1], pixdim[2] * qfac];
    let mut m = [[0.0; 4]; 4];
    for row in 0..3 {
        for col in 0..3 {
            m[row][col] = r[row][col] * scale[col];
        }
        m[row][3] = offset[row];
    }
    m[3][3] = 1.0;
    m
}

/// Quaternion (b, c, d) and qfac of an orthonormal direction matrix given by its columns
/// (RAS). A left-handed matrix gets qfac = −1 and its third column negated first, as the
/// NIfTI-1 qform requires a proper rotation.
fn quaternion_of(columns: [[f64; 3]; 3]) -> ([f64; 3], f64) {
    let mut cols = columns;
    let det = det3(cols);
    let qfac = if det < 0.0 {
        cols[2] = cols[2].map(|v| -v);
        -1.0
    } else {
        1.0
    };
    // r[row][col] with columns = axes.
    let r = |row: usize, col: usize| cols[col][row];
    let trace = r(0, 0) + r(1, 1) + r(2, 2);
    // Shepperd's method: pick the largest of 4a², 4b², 4c², 4d² to divide by.
    let (a, b, c, d) = if trace > 0.0 {
        let s = 2.0 * (1.0 + trace).sqrt(); // s = 4a
        (
            0.25 * s,
            (r(2, 1) - r(1, 2)) / s,
            (r(0, 2) - r(2, 0)) / s,
            (r(1, 0) - r(0, 1)) / s,
        )
    } else if r(0, 0) > r(1, 1) && r(0, 0) > r(2, 2) {
        let s = 2.0 * (1.0 + r(0, 0) - r(1, 1) - r(2, 2)).sqrt(); // s = 4b
        (
            (r(2, 1) - r(1, 2)) / s,
            0.25 * s,
            (r(0, 1) + r(1, 0)) / s,
            (r(0, 2) + r(2, 0)) / s,
        )
    } else if r(1, 1) > r(2, 2) {
        let s = 2.0 * (1.0 + r(1, 1) - r(0, 0) - r(2, 2)).sqrt(); // s = 4c
        (
            (r(0, 2) - r(2, 0)) / s,
            (r(0, 1) + r(1, 0)) / s,
            0.25 * s,
            (r(1, 2) + r(2, 1)) / s,
        )
    } else {
        let s = 2.0 * (1.0 + r(2, 2) - r(0, 0) - r(1, 1)).sqrt(); // s = 4d
        (
            (r(1, 0) - r(0, 1)) / s,
            (r(0, 2) + r(2, 0)) / s,
            (r(1, 2) + r(2, 1)) / s,
            0.25 * s,
        )
    };
    // NIfTI stores only (b, c, d) and takes a ≥ 0; q and −q are the same rotation.
    let sign = if a < 0.0 { -1.0 } else { 1.0 };
    ([b * sign, c * sign, d * sign], qfac)
}

fn det3(c: [[f64; 3]; 3]) -> f64 {
    c[0][0] * (c[1][1] * c[2][2] - c[2][1] * c[1][2])
        - c[1][0] * (c[0][1] * c[2][2] - c[2][1] * c[0][2])
        + c[2][0] * (c[0][1] * c[1][2] - c[1][1] * c[0][2])
}

/// A header carrying the grid's affine (sform and qform, code 1) and spacing in mm.
fn header_for(grid: &Grid, description: &str) -> nifti::NiftiHeader {
    let affine = affine_ras_from_grid(grid);
    let columns_ras =
        [0, 1, 2].map(|axis| [0, 1, 2].map(|r| grid.direction[axis][r] * RAS_LPS_SIGN[r]));
    let ([b, c, d], qfac) = quaternion_of(columns_ras);
    let mut descrip = description.as_bytes().to_vec();
    descrip.truncate(79);
    descrip.resize(80, 0);
    let row = |r: usize| affine[r].map(|v| v as f32);
    let mut pixdim = [1.0f32; 8];
    pixdim[0] = qfac as f32;
    for a in 0..3 {
        pixdim[a + 1] = grid.spacing_mm[a] as f32;
    }
    nifti::NiftiHeader {
        pixdim,
        descrip,
        qform_code: 1,
        sform_code: 1,
        quatern_b: b as f32,
        quatern_c: c as f32,
        quatern_d: d as f32,
        quatern_x: affine[0][3] as f32,
        quatern_y: affine[1][3] as f32,
        quatern_z: affine[2][3] as f32,
        srow_x: row(0),
        srow_y: row(1),
        srow_z: row(2),
        // NIFTI_UNITS_MM (2) for space, no time unit.
        xyzt_units: 2,
        ..nifti::NiftiHeader::default()
    }
}

/// The three spatial dims, refusing images with more than one volume.
fn spatial_dims(path: &Path, dim: &[u16; 8]) -> Result<[usize; 3], InputError> {
    let ndim = dim[0] as usize;
    if !(1..=7).contains(&ndim) {
        return Err(malformed(
            path,
            format!("header dim[0] = {ndim} is not 1–7; the header is damaged"),
        ));
    }
    let size = |a: usize| if a <= ndim { dim[a].max(1) as usize } else { 1 };
    let extra: usize = (4..=ndim).map(|a| dim[a].max(1) as usize).product();
    if extra > 1 {
        return Err(inconsistent(
            path,
            format!(
                "is a {ndim}-D image with {extra} volumes (dim = {:?}); voxdose reads one 3-D volume: split it (e.g. fslsplit) and pass one volume",
                &dim[1..=ndim]
            ),
        ));
    }
    Ok([size(1), size(2), size(3)])
}

/// Label names from a Caret XML `<LabelTable>` extension (what TotalSegmentator writes):
/// `<Label Key="5" …>liver</Label>`. Other extensions are ignored.
fn label_table(extensions: &nifti::ExtensionSequence) -> BTreeMap<u32, String> {
    let mut names = BTreeMap::new();
    for ext in extensions.iter() {
        let text = String::from_utf8_lossy(ext.data());
        let text = text.trim_end_matches('\0');
        if !text.contains("<LabelTable") {
            continue;
        }
        let Ok(doc) = roxmltree::Document::parse(text) else {
            continue;
        };
        for node in doc.descendants().filter(|n| n.has_tag_name("Label")) {
            let key = node
                .attribute("Key")
                .and_then(|k| k.trim().parse::<u32>().ok());
            let name: String = node.text().unwrap_or("").trim().to_string();
            if let Some(key) = key {
                if !name.is_empty() {
                    names.insert(key, name);
                }
            }
        }
    }
    names
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).trim().to_string()
}

fn malformed(path: &Path, reason: String) -> InputError {
    InputError::Malformed {
        path: path.to_path_buf(),
        reason,
    }
}

fn inconsistent(path: &Path, reason: String) -> InputError {
    InputError::Inconsistent {
        path: path.to_path_buf(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn identity_lps_grid_has_ras_affine_with_flipped_x_and_y() {
        let g = Grid::new([4, 5, 6], [1.0, 2.0, 3.0], [10.0, -20.0, 30.0]);
        let m = affine_ras_from_grid(&g);
        assert_eq!(m[0], [-1.0, 0.0, 0.0, -10.0]);
        assert_eq!(m[1], [0.0, -2.0, 0.0, 20.0]);
        assert_eq!(m[2], [0.0, 0.0, 3.0, 30.0]);
        assert_eq!(grid_from_affine_ras(g.dims, &m).unwrap(), g);
    }

    #[test]
    fn quaternion_round_trips_proper_and_improper_rotations() {
        let c = (0.3f64).cos();
        let s = (0.3f64).sin();
        let cases: [[[f64; 3]; 3]; 4] = [
            // LPS identity seen in RAS: 180° about z.
            [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]],
            // Rotation about x by 0.3 rad.
            [[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]],
            // Left-handed: LAS-like (i flipped only).
            [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            // 180° about x (trace = −1, b largest).
            [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]],
        ];
        for cols in cases {
            let (q, qfac) = quaternion_of(cols);
            let m = qform_affine(q, [0.0; 3], [1.0; 3], qfac);
            for axis in 0..3 {
                for r in 0..3 {
                    assert!(
                        close(m[r][axis], cols[axis][r], 1e-12),
                        "axis {axis} row {r}: {} vs {} (q = {q:?}, qfac = {qfac})",
                        m[r][axis],
                        cols[axis][r]
                    );
                }
            }
        }
    }

    #[test]
    fn sheared_affine_is_refused_with_reason() {
        let m = [
            [1.0, 0.5, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        let e = grid_from_affine_ras([2, 2, 2], &m).unwrap_err();
        assert!(e.contains("sheared"), "{e}");
    }
}
