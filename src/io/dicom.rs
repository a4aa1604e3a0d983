//! Opening DICOM files and reading tags and pixels, with errors that name the file and tag.
//!
//! Everything DICOM-specific that is not about one IOD lives here: opening (with or without
//! preamble and file meta), typed access to optional and required tags, sequence items, and
//! pixel decoding through dicom-pixeldata (uncompressed, deflate, RLE, JPEG baseline/extended/
//! lossless, JPEG 2000 via OpenJPEG's Rust port; JPEG-LS with the `jpeg-ls` Cargo feature).
//! Pixel values are returned as *stored* values (no modality LUT): the callers apply the
//! rescale they record in provenance.

use crate::io::InputError;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::Tag;
use dicom_dictionary_std::StandardDataDictionary;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::{FileDicomObject, InMemDicomObject, OpenFileOptions};
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder};
use std::path::Path;

/// A DICOM file held in memory.
pub type DicomFile = FileDicomObject<InMemDicomObject>;

/// "(gggg,eeee) Keyword" for messages.
pub fn tag_name(tag: Tag) -> String {
    match StandardDataDictionary.by_tag(tag) {
        Some(e) => format!("({:04X},{:04X}) {}", tag.0, tag.1, e.alias()),
        None => format!("({:04X},{:04X})", tag.0, tag.1),
    }
}

/// True when the file has the DICM magic at byte 128 (a Part 10 file).
pub fn has_dicm_magic(path: &Path) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 132];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut buf))
        .map(|_| &buf[128..132] == b"DICM")
        .unwrap_or(false)
}

/// Opens a DICOM file. Files without preamble and file meta (bare Implicit VR Little Endian
/// data sets, as some RT exports are) are read too, with a synthesised meta group.
pub fn open(path: &Path) -> Result<DicomFile, InputError> {
    let meta = std::fs::metadata(path).map_err(|source| InputError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.is_dir() {
        return Err(InputError::Malformed {
            path: path.to_path_buf(),
            reason: "is a folder where a DICOM file was expected".into(),
        });
    }
    match OpenFileOptions::new().open_file(path) {
        Ok(obj) => Ok(obj),
        Err(e) => {
            let msg = error_chain(&e);
            if has_dicm_magic(path) {
                return Err(classify_parse_error(path, msg));
            }
            open_bare_dataset(path).map_err(|_| InputError::Malformed {
                path: path.to_path_buf(),
                reason: format!(
                    "is not a DICOM file ({msg}); check the path points to a .dcm file"
                ),
            })
        }
    }
}

fn classify_parse_error(path: &Path, msg: String) -> InputError {
    let lower = msg.to_lowercase();
    if lower.contains("eof")
        || lower.contains("end of file")
        || lower.contains("unexpected end")
        || lower.contains("fill whole buffer")
    {
        InputError::Truncated {
            path: path.to_path_buf(),
            detail: msg,
        }
    } else {
        InputError::Malformed {
            path: path.to_path_buf(),
            reason: format!(
                "cannot be parsed as DICOM ({msg}); the file is damaged: export it again"
            ),
        }
    }
}

/// A data set with no preamble/meta, Implicit VR Little Endian from byte 0.
fn open_bare_dataset(path: &Path) -> Result<DicomFile, String> {
    use dicom_dictionary_std::uids;
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let ts = dicom_transfer_syntax_registry::TransferSyntaxRegistry
        .get(uids::IMPLICIT_VR_LITTLE_ENDIAN)
        .ok_or("no implicit VR transfer syntax")?;
    let obj = InMemDicomObject::read_dataset_with_ts(&bytes[..], ts).map_err(|e| e.to_string())?;
    let sop_class =
        opt_str(&obj, dicom_dictionary_std::tags::SOP_CLASS_UID).ok_or("no SOPClassUID")?;
    let sop_instance =
        opt_str(&obj, dicom_dictionary_std::tags::SOP_INSTANCE_UID).ok_or("no SOPInstanceUID")?;
    let meta = dicom_object::FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop_instance)
        .transfer_syntax(uids::IMPLICIT_VR_LITTLE_ENDIAN)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(obj.with_exact_meta(meta))
}

/// The whole chain of an error's messages.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let m = inner.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = inner.source();
    }
    s
}

/// A string tag, trimmed; `None` when absent or empty.
pub fn opt_str(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.element_opt(tag).ok()??;
    let s = e.to_str().ok()?;
    let s = s
        .trim_matches(|c: char| c.is_whitespace() || c == '\0')
        .to_string();
    (!s.is_empty()).then_some(s)
}

/// A numeric tag (first value); `None` when absent, empty or not a number.
pub fn opt_f64(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    opt_f64s(obj, tag).and_then(|v| v.first().copied())
}

/// A multi-valued numeric tag; `None` when absent, empty or not numbers.
pub fn opt_f64s(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    let e = obj.element_opt(tag).ok()??;
    let v = e.to_multi_float64().ok()?;
    (!v.is_empty()).then_some(v)
}

/// A numeric tag with exactly `n` values, or [`InputError::MissingTag`] with `fix`.
pub fn req_f64s(
    obj: &InMemDicomObject,
    tag: Tag,
    n: usize,
    path: &Path,
    fix: &str,
) -> Result<Vec<f64>, InputError> {
    match opt_f64s(obj, tag) {
        Some(v) if v.len() == n && v.iter().all(|x| x.is_finite()) => Ok(v),
        Some(v) => Err(InputError::Malformed {
            path: path.to_path_buf(),
            reason: format!(
                "{} has {} value(s) {:?} where {n} finite numbers are required; {fix}",
                tag_name(tag),
                v.len(),
                v
            ),
        }),
        None => Err(missing(path, tag, fix)),
    }
}

/// [`InputError::MissingTag`] for `tag`.
pub fn missing(path: &Path, tag: Tag, fix: &str) -> InputError {
    InputError::MissingTag {
        path: path.to_path_buf(),
        tag: tag_name(tag),
        fix: fix.to_string(),
    }
}

/// The items of a sequence tag (empty when absent).
pub fn items(obj: &InMemDicomObject, tag: Tag) -> &[InMemDicomObject] {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.items())
        .unwrap_or(&[])
}

/// The first item of a sequence tag.
pub fn first_item(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    items(obj, tag).first()
}

/// Transfer syntax of a file as "UID (name)".
pub fn transfer_syntax_label(file: &DicomFile) -> String {
    let uid = file
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string();
    match dicom_transfer_syntax_registry::TransferSyntaxRegistry.get(&uid) {
        Some(ts) => format!("{uid} ({})", ts.name()),
        None => uid,
    }
}

/// Decodes all frames as stored values (no rescale applied), one `Vec` per frame.
pub fn decode_stored_frames(file: &DicomFile, path: &Path) -> Result<Vec<Vec<f32>>, InputError> {
    use dicom_dictionary_std::tags;
    if file.element_opt(tags::PIXEL_DATA).ok().flatten().is_none() {
        return Err(missing(
            path,
            tags::PIXEL_DATA,
            "the file has no image: it may be a structure set or report, or a header-only export",
        ));
    }
    let ts = transfer_syntax_label(file);
    let uid = file.meta().transfer_syntax().trim_end_matches('\0');
    if is_jpeg_ls(uid) && !cfg!(feature = "jpeg-ls") {
        return Err(InputError::UnsupportedTransferSyntax {
            path: path.to_path_buf(),
            transfer_syntax: ts,
            fix: "rebuild with `--features jpeg-ls` (needs cmake and a C++ compiler), or re-export the series uncompressed".into(),
        });
    }
    let decoded = file
        .decode_pixel_data()
        .map_err(|e| decode_error(path, &ts, &e))?;
    if decoded.samples_per_pixel() != 1 {
        return Err(InputError::Malformed {
            path: path.to_path_buf(),
            reason: format!(
                "(0028,0002) SamplesPerPixel = {} (colour image); voxdose reads greyscale CT/NM/PT images only",
                decoded.samples_per_pixel()
            ),
        });
    }
    let opts = ConvertOptions::new().with_modality_lut(ModalityLutOption::None);
    let n_frames = decoded.number_of_frames();
    let mut frames = Vec::with_capacity(n_frames as usize);
    for f in 0..n_frames {
        let v: Vec<f32> = decoded
            .to_vec_frame_with_options(f, &opts)
            .map_err(|e| decode_error(path, &ts, &e))?;
        frames.push(v);
    }
    Ok(frames)
}

fn is_jpeg_ls(uid: &str) -> bool {
    uid == "1.2.840.10008.1.2.4.80" || uid == "1.2.840.10008.1.2.4.81"
}

fn decode_error(path: &Path, ts: &str, e: &dyn std::error::Error) -> InputError {
    let detail = error_chain(e);
    if detail.to_lowercase().contains("unsupported") && detail.to_lowercase().contains("transfer") {
        InputError::UnsupportedTransferSyntax {
            path: path.to_path_buf(),
            transfer_syntax: ts.to_string(),
            fix: "re-export the series uncompressed or in JPEG 2000 / RLE / JPEG lossless".into(),
        }
    } else {
        InputError::PixelDecode {
            path: path.to_path_buf(),
            transfer_syntax: ts.to_string(),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_names_carry_group_element_and_keyword() {
        assert_eq!(
            tag_name(dicom_dictionary_std::tags::RESCALE_SLOPE),
            "(0028,1053) RescaleSlope"
        );
    }
}
