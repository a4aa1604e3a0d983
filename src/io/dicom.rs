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
use dicom_parser::dataset::{DataSetReader, DataToken};
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
    check_declared_lengths(path)?;
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

/// Values larger than this whose declared length runs past the end of the file are refused
/// before parsing (smaller ones are left to the parser, which reports the file truncated).
const LARGE_VALUE_BYTES: u64 = 16 << 20;

/// Refuses a file with an element whose declared length is large and runs past the end of
/// the file (a damaged length field): dicom-rs reserves and zero-fills a value's declared
/// length before reading it, so such a file would cost up to 4 GiB of memory and seconds
/// before failing, or abort the process where memory is short (found by fuzzing).
fn check_declared_lengths(path: &Path) -> Result<(), InputError> {
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(()); // the parser reports the read error
    };
    match scan_lengths(&bytes, false) {
        Some((tag, len, left)) => Err(InputError::Truncated {
            path: path.to_path_buf(),
            detail: format!(
                "element {tag} declares {len} bytes but only {left} bytes follow it (a damaged length field, or a cut file)"
            ),
        }),
        None => Ok(()),
    }
}

/// The first large value whose declared length runs past the end of the file, as (tag,
/// declared length, bytes left), found by reading the file as dicom-rs does before it
/// reserves any value: the meta group walked as dicom-object's reader takes it, then the
/// data set as dicom-parser's own token reader gives it, each value's header checked before
/// the value is read (the same reader as the parse, so the same elements, however damaged:
/// hand-written walks missed odd lengths of number arrays and off-group meta elements).
/// With `bare`, the bytes are read as the bare-data-set reader parses them (Implicit VR
/// Little Endian from byte 0). Deflated data sets are not read.
fn scan_lengths(b: &[u8], bare: bool) -> Option<(String, u64, u64)> {
    let (start, ts_uid) = if bare {
        (
            0,
            dicom_dictionary_std::uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string(),
        )
    } else {
        match walk_meta(b)? {
            Meta::Overlong(found) => return Some(found),
            Meta::Ends { at, ts } => (at, ts),
        }
    };
    let ts = dicom_transfer_syntax_registry::TransferSyntaxRegistry.get(&ts_uid)?;
    if !matches!(
        ts.codec(),
        dicom_encoding::Codec::None | dicom_encoding::Codec::EncapsulatedPixelData(..)
    ) {
        return None;
    }
    let read = std::rc::Rc::new(std::cell::Cell::new(start));
    let source = Counted {
        rest: &b[start..],
        read: read.clone(),
    };
    let mut tokens = DataSetReader::new_with_ts(source, ts).ok()?;
    // Each value is read by the `next` after its header, so a header is checked first. The
    // values reserved are those of elements and of encapsulated pixel data's items (offset
    // table, fragments); a data-set item's length reserves nothing.
    let mut pixel_items = false;
    while let Some(Ok(token)) = tokens.next() {
        let (tag, len) = match token {
            DataToken::ElementHeader(h) => (h.tag, h.len),
            DataToken::PixelSequenceStart => {
                pixel_items = true;
                continue;
            }
            DataToken::SequenceEnd => {
                pixel_items = false;
                continue;
            }
            DataToken::ItemStart { len } if pixel_items => (Tag(0x7FE0, 0x0010), len),
            _ => continue,
        };
        let (Some(len), left) = (len.get(), (b.len() - read.get()) as u64) else {
            continue;
        };
        if u64::from(len) > left && u64::from(len) > LARGE_VALUE_BYTES {
            return Some((
                format!("({:04X},{:04X})", tag.0, tag.1),
                u64::from(len),
                left,
            ));
        }
    }
    None
}

/// A byte source that counts what has been read from it.
struct Counted<'a> {
    rest: &'a [u8],
    read: std::rc::Rc<std::cell::Cell<usize>>,
}

impl std::io::Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.rest.read(buf)?;
        self.read.set(self.read.get() + n);
        Ok(n)
    }
}

/// How the meta group of a Part 10 file ends: where the data set starts and its transfer
/// syntax, or the first overlong element in it.
enum Meta {
    Ends { at: usize, ts: String },
    Overlong((String, u64, u64)),
}

/// Walks the meta group as dicom-object's reader does: the magic after a preamble or at
/// byte 0, (0002,0000) of length 4, then explicit VR Little Endian elements of any group,
/// each taken whole, until as many bytes as (0002,0000) says have been read. `None` where
/// the reader stops at once (no magic, no group length, no transfer syntax).
fn walk_meta(b: &[u8]) -> Option<Meta> {
    // VRs with a 2-byte length; every other code has 2 reserved bytes and a 4-byte length.
    const SHORT_VRS: [&[u8; 2]; 22] = [
        b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN",
        b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US", b"XS",
    ];
    let u16_at = |p: usize| u16::from_le_bytes([b[p], b[p + 1]]);
    let u32_at = |p: usize| u32::from_le_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]]);
    // (length, header bytes) of the element at `p`.
    let header = |p: usize| {
        if SHORT_VRS.contains(&&[b[p + 4], b[p + 5]]) {
            Some((u32::from(u16_at(p + 6)), 8))
        } else {
            (p + 12 <= b.len()).then(|| (u32_at(p + 8), 12))
        }
    };
    let mut pos = if b.len() >= 132 && &b[128..132] == b"DICM" {
        132
    } else if b.starts_with(b"DICM") {
        4
    } else {
        return None;
    };
    if pos + 12 > b.len() || (u16_at(pos), u16_at(pos + 2)) != (0x0002, 0x0000) {
        return None;
    }
    let (4, size) = header(pos)? else {
        return None;
    };
    let end = pos + size + 4 + u32_at(pos + size) as usize;
    pos += size + 4;
    let mut ts = None;
    while pos < end && pos + 8 <= b.len() {
        let (group, elem) = (u16_at(pos), u16_at(pos + 2));
        let (len, size) = header(pos)?;
        pos += size;
        let left = (b.len() - pos) as u64;
        if u64::from(len) > left {
            return (u64::from(len) > LARGE_VALUE_BYTES).then(|| {
                Meta::Overlong((format!("({group:04X},{elem:04X})"), u64::from(len), left))
            });
        }
        if (group, elem) == (0x0002, 0x0010) {
            let uid = String::from_utf8_lossy(&b[pos..pos + len as usize]);
            ts = Some(uid.trim_end_matches(['\0', ' ']).to_string());
        }
        pos += len as usize;
    }
    Some(Meta::Ends { at: pos, ts: ts? })
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

/// A data set with no preamble/meta, Implicit VR Little Endian from byte 0. Only a file
/// that starts like one is parsed: its first element in the identifying group (0008), as
/// every bare export starts with SpecificCharacterSet, ImageType or SOPClassUID. Anything
/// else (a damaged Part 10 file, a file of another kind) is not handed to the parser, which
/// reserves a declared length before reading it (a fuzzed file with a damaged magic made it
/// reserve 4 GB).
fn open_bare_dataset(path: &Path) -> Result<DicomFile, String> {
    use dicom_dictionary_std::uids;
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    if bytes.len() < 8 || u16::from_le_bytes([bytes[0], bytes[1]]) != 0x0008 {
        return Err("does not start with an element of group 0008".into());
    }
    if let Some((tag, len, left)) = scan_lengths(&bytes, true) {
        return Err(format!(
            "read as a bare data set, element {tag} declares {len} bytes but only {left} follow"
        ));
    }
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

    #[test]
    fn declared_lengths_of_real_files_pass_and_a_damaged_length_is_refused() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dicom");
        let files = [
            "compressed_wg04/CT1_UNC.dcm",
            "compressed_wg04/NM1_RLE.dcm",
            "compressed_wg04/CT1_J2KR.dcm",
            "ct3_dcmqi/IMG0001.dcm",
            "ct3_dcmqi/seg_liver.dcm",
            "multiframe/emri_small.dcm",
            "multiframe/emri_small_big_endian.dcm",
            "rt_pydicom/rtstruct.dcm",
            "rt_pydicom/rtdose.dcm",
            "sts002_ct_pet_rtstruct/RS_PET.dcm",
            "oblique_rtutils/0.dcm",
        ];
        for f in files {
            let bytes = std::fs::read(root.join(f)).unwrap();
            assert_eq!(scan_lengths(&bytes, false), None, "{f}");
        }
        // CT1_UNC with the length of its first data-set element (after the meta group)
        // set to 3 GB: refused before any allocation.
        let mut bytes = std::fs::read(root.join("compressed_wg04/CT1_UNC.dcm")).unwrap();
        let meta_len = u32::from_le_bytes(bytes[140..144].try_into().unwrap()) as usize;
        let first = 144 + meta_len;
        assert_ne!(u16::from_le_bytes([bytes[first], bytes[first + 1]]), 2);
        // A long-VR element is needed for a 4-byte length: make it UN.
        bytes[first + 4..first + 8].copy_from_slice(b"UN\0\0");
        bytes.splice(first + 8..first + 8, 3_000_000_000u32.to_le_bytes());
        let (_, len, _) = scan_lengths(&bytes, false).expect("damaged length found");
        assert_eq!(len, 3_000_000_000);
        // Fuzz finding: a bare implicit-VR data set whose sequence (defined length, SQ by
        // the dictionary) holds an element declaring 4 294 967 040 bytes.
        // Its magic is one byte late and it starts with group 0000, so it is not parsed as a
        // bare data set at all.
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/fuzz/crashes/dicom-oom-4gb-bare-dataset.dcm");
        let Err(e) = open_bare_dataset(&fuzz) else {
            panic!("parsed as a bare data set");
        };
        assert!(e.contains("group 0008"), "{e}");
        let r = open(&fuzz);
        assert!(
            matches!(r, Err(InputError::Malformed { .. })),
            "{:?}",
            r.err()
        );
        // Fuzz finding: an explicit-VR SL whose 2-byte length was damaged to 11825. The
        // parser reads 2956 whole values (11824 bytes) and takes the next header one byte
        // early, where an unknown VR declares 4 002 503 589 bytes: the walk follows it there.
        let slow = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/fuzz/crashes/dicom-slow-odd-length-sl.dcm");
        let bytes = std::fs::read(&slow).unwrap();
        let (tag, len, _) = scan_lengths(&bytes, false).expect("damaged length found");
        assert_eq!((tag.as_str(), len), ("(835D,35B2)", 4_002_503_589));
        // Two more, each the element the parser failed on after seconds and 4 GB: a meta
        // group whose (0002,0013) became (0000,0013), read as meta for the group length's
        // bytes; and a big-endian data set (a damaged emri_small_big_endian.dcm).
        for (file, at, declared) in [
            (
                "dicom-slow-meta-group-length.dcm",
                "(5208,6EF1)",
                4_292_935_695,
            ),
            ("dicom-slow-big-endian.dcm", "(4A00,5400)", 1_677_736_448),
        ] {
            let bytes = std::fs::read(slow.with_file_name(file)).unwrap();
            let (tag, len, _) = scan_lengths(&bytes, false).expect(file);
            assert_eq!((tag.as_str(), len), (at, declared), "{file}");
        }
        // Fuzz finding (rtstruct): a bare data set whose item declares 4 GB; the bare reader
        // refuses it before the parse.
        let bare = slow.with_file_name("rtstruct-slow-bare-item-length.dcm");
        let Err(e) = open_bare_dataset(&bare) else {
            panic!("parsed");
        };
        assert!(
            e.contains("declares") && e.contains("bytes but only"),
            "{e}"
        );
        // Text is not walked (the parser says it is not DICOM).
        assert_eq!(
            scan_lengths(b"notes: this folder holds the CT export", false),
            None
        );
    }
}
