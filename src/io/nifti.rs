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
use glam::{DAffine3, DMat3, DQuat, DVec3};
use nifti::{IntoNdArray, NiftiObject, ReaderOptions};
use std::collections::BTreeMap;
use std::path::Path;

/// Sign flip between RAS (NIfTI) and LPS (DICOM, [`Grid`]) on each patient axis.
const RAS_LPS_SIGN: DVec3 = DVec3::new(-1.0, -1.0, 1.0);

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
    refuse_shorter_than_header(path)?;
    let obj = ReaderOptions::new()
        .read_file(path)
        .map_err(|e| read_error(path, e))?;
    let header = obj.header().clone();
    let dims = spatial_dims(path, &header.dim)?;
    let (affine_ras, affine_source) = affine_ras_of(&header);
    let grid = grid_from_affine_ras(dims, &affine_ras)
        .map_err(|reason| inconsistent(path, format!("{affine_source} affine {reason}")))?;
    let label_names = label_table(obj.extensions());
    let volume = obj.into_volume();
    check_data_size(path, &volume, header.bitpix)?;
    let arr = volume
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

/// Reads a NIfTI-1 volume as f32 like [`read_volume_f32`], faster for the plain files voxdose
/// writes (little-endian float32, uint16, int16 or uint8 voxels, one volume): the voxels are
/// streamed from the (gzip) file straight into the result, in file order, which is our
/// linear order (i fastest). Any other file goes through [`read_volume_f32`]. The report reads
/// its 512×512×300 maps this way.
pub fn read_volume_f32_fast(path: &Path) -> Result<Volume<f32>, InputError> {
    use std::io::Read;
    let Ok(header) = nifti::NiftiHeader::from_file(path) else {
        return read_volume_f32(path);
    };
    let bytes_per_voxel = match header.datatype {
        2 => 1,
        4 | 512 => 2,
        16 => 4,
        _ => 0,
    };
    let plain = bytes_per_voxel > 0
        && header.endianness == nifti::Endianness::Little
        && header.vox_offset >= 348.0
        && header.dim[0] >= 3
        && header.dim[4..=(header.dim[0] as usize).min(7)]
            .iter()
            .all(|&d| d <= 1);
    if !plain {
        return read_volume_f32(path);
    }
    let dims = spatial_dims(path, &header.dim)?;
    let (affine_ras, affine_source) = affine_ras_of(&header);
    let grid = grid_from_affine_ras(dims, &affine_ras)
        .map_err(|reason| inconsistent(path, format!("{affine_source} affine {reason}")))?;
    let read_err = |source: std::io::Error| InputError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file =
        std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path).map_err(read_err)?);
    let mut reader: Box<dyn Read> = if path.to_string_lossy().ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    std::io::copy(
        &mut reader.by_ref().take(header.vox_offset as u64),
        &mut std::io::sink(),
    )
    .map_err(read_err)?;
    let n = grid.n_voxels();
    let short = |e: std::io::Error| {
        malformed(
            path,
            format!("voxel data ends early ({e}); the file may be truncated"),
        )
    };
    let mut data: Vec<f32> = if header.datatype == 16 {
        // float32: read straight into the result, then fix the byte order if the host's differs.
        let mut data = vec![0f32; n];
        reader
            .read_exact(bytemuck::cast_slice_mut(&mut data))
            .map_err(short)?;
        if cfg!(target_endian = "big") {
            data.iter_mut()
                .for_each(|v| *v = f32::from_bits(v.to_bits().swap_bytes()));
        }
        data
    } else {
        let mut raw = vec![0u8; n * bytes_per_voxel];
        reader.read_exact(&mut raw).map_err(short)?;
        match header.datatype {
            2 => raw.iter().map(|&b| f32::from(b)).collect(),
            4 => raw
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])))
                .collect(),
            _ => raw
                .chunks_exact(2)
                .map(|b| f32::from(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
        }
    };
    let (slope, inter) = (header.scl_slope, header.scl_inter);
    if slope != 0.0 && slope.is_finite() && (slope != 1.0 || inter != 0.0) {
        data.iter_mut().for_each(|v| *v = *v * slope + inter);
    }
    Ok(Volume { grid, data })
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

/// The voxel-index → RAS (mm) affine of a grid: NIfTI's sform (its rows are `srow_x/y/z`).
pub fn affine_ras_from_grid(grid: &Grid) -> DAffine3 {
    flip_lps_ras(grid.affine_lps())
}

/// An affine with its patient x and y negated: LPS ↔ RAS (the flip is its own inverse).
/// Each element is multiplied by ±1, so it is exact.
fn flip_lps_ras(m: DAffine3) -> DAffine3 {
    DAffine3::from_mat3_translation(
        DMat3::from_cols(
            m.matrix3.x_axis * RAS_LPS_SIGN,
            m.matrix3.y_axis * RAS_LPS_SIGN,
            m.matrix3.z_axis * RAS_LPS_SIGN,
        ),
        m.translation * RAS_LPS_SIGN,
    )
}

/// The grid (LPS) of a voxel-index → RAS (mm) affine with the given dims.
///
/// Fails with a reason when an axis has zero length, is not finite, or the axes are not
/// orthogonal (sheared grids cannot be represented).
pub fn grid_from_affine_ras(
    dims: [usize; 3],
    affine_ras: &DAffine3,
) -> std::result::Result<Grid, String> {
    let lps = flip_lps_ras(*affine_ras);
    let mut spacing_mm = [0.0; 3];
    let mut axes = [DVec3::ZERO; 3];
    for axis in 0..3 {
        let col = lps.matrix3.col(axis);
        let norm = col.length();
        if !(norm.is_finite() && norm > 0.0) {
            return Err(format!(
                "has axis {axis} of length {norm} mm; the voxel spacing must be positive: fix the header's srow/pixdim"
            ));
        }
        spacing_mm[axis] = norm;
        axes[axis] = (col / norm).map(snap_unit);
    }
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        let cos = axes[a].dot(axes[b]);
        if cos.abs() > ORTHOGONALITY_TOLERANCE {
            return Err(format!(
                "is sheared (axes {a} and {b} have cos = {cos:.2e}); voxdose needs orthogonal voxel axes: resample the image first"
            ));
        }
    }
    if !lps.translation.is_finite() {
        return Err("has a non-finite translation; fix the header's srow/qoffset".into());
    }
    Ok(Grid {
        dims,
        spacing_mm,
        origin_mm: lps.translation.into(),
        direction: axes.map(|a| a.to_array()),
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
fn affine_ras_of(h: &nifti::NiftiHeader) -> (DAffine3, &'static str) {
    let v3 = |v: [f32; 3]| DVec3::from(v.map(f64::from));
    if h.sform_code > 0 {
        let rows = [h.srow_x, h.srow_y, h.srow_z].map(|r| r.map(f64::from));
        let column = |c: usize| DVec3::new(rows[0][c], rows[1][c], rows[2][c]);
        let m = DMat3::from_cols(column(0), column(1), column(2));
        (DAffine3::from_mat3_translation(m, column(3)), "sform")
    } else if h.qform_code > 0 {
        let bcd = v3([h.quatern_b, h.quatern_c, h.quatern_d]);
        let offset = v3([h.quatern_x, h.quatern_y, h.quatern_z]);
        let pixdim = v3([h.pixdim[1], h.pixdim[2], h.pixdim[3]]);
        (
            qform_affine(bcd, offset, pixdim, f64::from(h.pixdim[0])),
            "qform",
        )
    } else {
        let pixdim = v3([h.pixdim[1], h.pixdim[2], h.pixdim[3]]);
        (DAffine3::from_scale(pixdim), "pixdim")
    }
}

/// The qform affine (NIfTI-1 "method 2"): rotation from the quaternion (b, c, d) with
/// a = √(1 − b² − c² − d²), columns scaled by pixdim, the k column by qfac = pixdim[0]
/// (±1; 0 is read as 1, as `nifti1.h` allows).
fn qform_affine(bcd: DVec3, offset: DVec3, pixdim: DVec3, qfac: f64) -> DAffine3 {
    let aa = 1.0 - bcd.length_squared();
    // |(b,c,d)| ≈ 1 is a 180° rotation: a = 0 and (b,c,d) renormalised, as nifti1_io does
    // (the normalisation below does the latter).
    let a = if aa < 1e-7 { 0.0 } else { aa.sqrt() };
    // NIfTI's (a, b, c, d) is glam's (w, x, y, z).
    let rotation = DMat3::from_quat(DQuat::from_xyzw(bcd.x, bcd.y, bcd.z, a).normalize());
    let qfac = if qfac < 0.0 { -1.0 } else { 1.0 };
    let scale = pixdim * DVec3::new(1.0, 1.0, qfac);
    let m = DMat3::from_cols(
        rotation.x_axis * scale.x,
        rotation.y_axis * scale.y,
        rotation.z_axis * scale.z,
    );
    DAffine3::from_mat3_translation(m, offset)
}

/// Quaternion (b, c, d) and qfac of an orthonormal direction matrix (RAS). A left-handed
/// matrix gets qfac = −1 and its third column negated first, as the NIfTI-1 qform requires
/// a proper rotation.
fn quaternion_of(direction: DMat3) -> (DVec3, f64) {
    let (rotation, qfac) = if direction.determinant() < 0.0 {
        let mut proper = direction;
        proper.z_axis = -proper.z_axis;
        (proper, -1.0)
    } else {
        (direction, 1.0)
    };
    let q = DQuat::from_mat3(&rotation);
    // NIfTI stores only (b, c, d) and takes a ≥ 0; q and −q are the same rotation.
    let q = if q.w < 0.0 { -q } else { q };
    (DVec3::new(q.x, q.y, q.z), qfac)
}

/// A header carrying the grid's affine (sform and qform, code 1) and spacing in mm.
fn header_for(grid: &Grid, description: &str) -> nifti::NiftiHeader {
    let affine = affine_ras_from_grid(grid);
    let direction_ras = flip_lps_ras(DAffine3::from_mat3(grid.direction_matrix())).matrix3;
    let (bcd, qfac) = quaternion_of(direction_ras);
    let mut descrip = description.as_bytes().to_vec();
    descrip.truncate(79);
    descrip.resize(80, 0);
    let row = |r: usize| {
        let m = affine.matrix3.row(r);
        [m.x, m.y, m.z, affine.translation[r]].map(|v| v as f32)
    };
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
        quatern_b: bcd.x as f32,
        quatern_c: bcd.y as f32,
        quatern_d: bcd.z as f32,
        quatern_x: affine.translation.x as f32,
        quatern_y: affine.translation.y as f32,
        quatern_z: affine.translation.z as f32,
        srow_x: row(0),
        srow_y: row(1),
        srow_z: row(2),
        // NIFTI_UNITS_MM (2) for space, no time unit.
        xyzt_units: 2,
        ..nifti::NiftiHeader::default()
    }
}

/// The three spatial dims, refusing images with more than one volume.
/// Refuses an uncompressed file shorter than the NIfTI-1 header (an empty file, a text file
/// with a .nii name) as not NIfTI, rather than as a truncated image.
fn refuse_shorter_than_header(path: &Path) -> Result<(), InputError> {
    const HEADER_BYTES: u64 = 348;
    let gz = path.to_string_lossy().ends_with(".gz");
    match std::fs::metadata(path) {
        Ok(m) if !gz && m.is_file() && m.len() < HEADER_BYTES => Err(malformed(
            path,
            format!(
                "is not a NIfTI-1 file: {} bytes, shorter than the 348-byte NIfTI-1 header; check the path",
                m.len()
            ),
        )),
        _ => Ok(()),
    }
}

/// A nifti-rs read error as a message a user can act on (never its debug text).
fn read_error(path: &Path, e: nifti::NiftiError) -> InputError {
    let gz = path.to_string_lossy().ends_with(".gz");
    match e {
        nifti::NiftiError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            InputError::Truncated {
                path: path.to_path_buf(),
                detail: if gz {
                    format!("the gzip stream ends early ({io})")
                } else {
                    format!("the file ends before its voxel data does ({io})")
                },
            }
        }
        nifti::NiftiError::Io(io) if gz => malformed(
            path,
            format!("is not a valid gzip file ({io}); check the file was copied completely, or gunzip it to see the damage"),
        ),
        nifti::NiftiError::Io(io) => malformed(path, format!("cannot be read ({io})")),
        e => malformed(
            path,
            format!("not a readable NIfTI-1 file ({e}); check the file is complete and is NIfTI-1 (.nii or .nii.gz)"),
        ),
    }
}

/// Refuses voxel data whose size is not the header's dims × its datatype's size (a damaged
/// `bitpix` or `datatype`): nifti-rs would panic building the array.
fn check_data_size(
    path: &Path,
    volume: &nifti::InMemNiftiVolume,
    bitpix: i16,
) -> Result<(), InputError> {
    use nifti::NiftiVolume;
    let voxels = volume
        .dim()
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d as usize));
    let elem = volume.data_type().size_of();
    let expected = voxels.and_then(|n| n.checked_mul(elem));
    if expected != Some(volume.raw_data().len()) {
        return Err(malformed(
            path,
            format!(
                "the voxel data ({} bytes) is not dim {:?} × {} bytes per {:?} voxel (bitpix {bitpix}): the header's datatype or bitpix is damaged",
                volume.raw_data().len(),
                volume.dim(),
                elem,
                volume.data_type()
            ),
        ));
    }
    Ok(())
}

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

    /// Rows of the 3×4 part of an affine (what `srow_x/y/z` hold).
    fn rows(m: &DAffine3) -> [[f64; 4]; 3] {
        [0, 1, 2].map(|r| {
            let row = m.matrix3.row(r);
            [row.x, row.y, row.z, m.translation[r]]
        })
    }

    #[test]
    fn identity_lps_grid_has_ras_affine_with_flipped_x_and_y() {
        let g = Grid::new([4, 5, 6], [1.0, 2.0, 3.0], [10.0, -20.0, 30.0]);
        let m = affine_ras_from_grid(&g);
        assert_eq!(
            rows(&m),
            [
                [-1.0, 0.0, 0.0, -10.0],
                [0.0, -2.0, 0.0, 20.0],
                [0.0, 0.0, 3.0, 30.0]
            ]
        );
        assert_eq!(grid_from_affine_ras(g.dims, &m).unwrap(), g);
    }

    /// The rotation matrix of quaternion (a, b, c, d) as `nifti1.h` writes it out
    /// ("3D IMAGE (VOLUME) ORIENTATION AND LOCATION IN SPACE", method 2), row major: an
    /// independent reference for glam's quaternion → matrix.
    fn nifti1_h_rotation(a: f64, b: f64, c: f64, d: f64) -> [[f64; 3]; 3] {
        [
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
        ]
    }

    #[test]
    fn qform_rotation_matches_the_nifti1_h_formula_with_pixdim_and_qfac() {
        let (b, c, d) = (0.1, -0.35, 0.6);
        let a = (1.0f64 - b * b - c * c - d * d).sqrt();
        let r = nifti1_h_rotation(a, b, c, d);
        let pixdim = [0.8, 1.7, 2.5];
        for qfac in [1.0, -1.0, 0.0] {
            let m = qform_affine(
                DVec3::new(b, c, d),
                DVec3::new(3.0, -4.0, 5.0),
                DVec3::from(pixdim),
                qfac,
            );
            let k_sign = if qfac < 0.0 { -1.0 } else { 1.0 };
            let got = rows(&m);
            for row in 0..3 {
                for col in 0..3 {
                    let scale = pixdim[col] * if col == 2 { k_sign } else { 1.0 };
                    let want = r[row][col] * scale;
                    assert!(
                        (got[row][col] - want).abs() < 1e-14,
                        "qfac {qfac}, [{row}][{col}]: {} vs {want}",
                        got[row][col]
                    );
                }
            }
            assert_eq!([got[0][3], got[1][3], got[2][3]], [3.0, -4.0, 5.0]);
        }
    }

    #[test]
    fn a_quaternion_of_length_one_is_a_180_degree_rotation() {
        // (b, c, d) = (0, 0, 1) as f32 may come out a hair above length 1: a = 0, and the
        // rotation is 180° about z, i.e. diag(−1, −1, 1).
        let m = qform_affine(
            DVec3::new(0.0, 0.0, 1.000_000_1),
            DVec3::ZERO,
            DVec3::ONE,
            1.0,
        );
        let want = DMat3::from_diagonal(DVec3::new(-1.0, -1.0, 1.0));
        assert!(m.matrix3.abs_diff_eq(want, 1e-12), "{m}");
    }

    #[test]
    fn quaternion_round_trips_proper_and_improper_rotations() {
        let c = (0.3f64).cos();
        let s = (0.3f64).sin();
        let cases: [[[f64; 3]; 3]; 5] = [
            // LPS identity seen in RAS: 180° about z.
            [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]],
            // Rotation about x by 0.3 rad.
            [[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]],
            // Left-handed: LAS-like (i flipped only).
            [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            // 180° about x (trace = −1, b largest).
            [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]],
            // Left-handed and oblique.
            [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, -1.0]],
        ];
        for cols in cases {
            let direction = DMat3::from_cols_array_2d(&cols);
            let (q, qfac) = quaternion_of(direction);
            let m = qform_affine(q, DVec3::ZERO, DVec3::ONE, qfac);
            assert!(
                m.matrix3.abs_diff_eq(direction, 1e-12),
                "{direction} came back as {} (q = {q}, qfac = {qfac})",
                m.matrix3
            );
            let a = (1.0 - q.length_squared()).max(0.0).sqrt();
            assert!((q.length_squared() + a * a - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn sheared_affine_is_refused_with_reason() {
        let m = DAffine3::from_cols_array_2d(&[
            [1.0, 0.0, 0.0],
            [0.5, 1.0, 0.0],
            [0.0, 0.0, 1.0],
            [0.0, 0.0, 0.0],
        ]);
        let e = grid_from_affine_ras([2, 2, 2], &m).unwrap_err();
        assert!(e.contains("sheared"), "{e}");
    }
}
