//! Interfile 3.3 images: a text header (`.h33`) beside raw voxel data (`.i33`), as GATE and
//! STIR write them for voxelised phantoms.
//!
//! Header lines are `key := value`. Keys are matched case-insensitively, with the optional
//! leading `!` (which only marks a key as required in the standard) and repeated spaces
//! ignored; lines starting with `;` are comments. What is read:
//!
//! | key | use | if absent |
//! |---|---|---|
//! | `name of data file` | raw data, relative to the header's folder | error |
//! | `matrix size [1]`, `[2]` | voxels along x (fastest), y | error |
//! | `matrix size [3]` or `number of slices` | slices | error |
//! | `number format` | `unsigned integer`, `signed integer`, `float`/`short float`, `long float` | error |
//! | `number of bytes per pixel` | 1, 2, 4 (integers), 4 or 8 (floats) | error |
//! | `imagedata byte order` | `LITTLEENDIAN` / `BIGENDIAN` | big-endian (the standard's default) |
//! | `data offset in bytes` | bytes to skip at the start of the data file | 0 |
//! | `scaling factor (mm/pixel) [1]`, `[2]` | voxel size along x, y, mm | error |
//! | `scaling factor (mm/pixel) [3]` or `slice thickness (pixels)` | voxel size along z, mm | error |
//!
//! **Quirk, `slice thickness (pixels)`.** Interfile 3.3 defines this key in pixels, but GATE
//! and the phantoms written for it store millimetres there: the 177Lu patient phantom of
//! `../shared/testdata/phantoms/lu177_patient15_gate/` says 4.4196, which its README and
//! macros use as 4.4196 mm (90 × 4.4196 = 397.764 mm; read as pixels of 3.9063 mm the body
//! would be 1.55 m long). voxdose therefore reads it as millimetres; an explicit
//! `scaling factor (mm/pixel) [3]` takes precedence.
//!
//! The header gives no origin or orientation; callers place the grid ([`InterfileImage`] holds
//! only sizes and values). Values are returned as `f32`, exact for all 8- and 16-bit integers
//! (and 32-bit integers below 2²⁴).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::io::InputError;

/// How the voxel values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumberFormat {
    /// Unsigned integer of 1, 2 or 4 bytes.
    Unsigned,
    /// Two's-complement integer of 1, 2 or 4 bytes.
    Signed,
    /// IEEE float of 4 or 8 bytes.
    Float,
}

/// The parsed header: where the data are and how to read them.
#[derive(Clone, Debug, PartialEq)]
pub struct InterfileHeader {
    /// The header file.
    pub path: PathBuf,
    /// The raw data file (resolved against the header's folder).
    pub data_file: PathBuf,
    /// Voxels along x, y, z (x fastest in the file).
    pub dims: [usize; 3],
    /// Voxel size along x, y, z, mm.
    pub spacing_mm: [f64; 3],
    /// Number format.
    pub format: NumberFormat,
    /// Bytes per voxel value.
    pub bytes_per_pixel: usize,
    /// Little-endian data (false: big-endian).
    pub little_endian: bool,
    /// Bytes before the first voxel in the data file.
    pub data_offset: u64,
}

/// An Interfile image: its header and its values in file order (x fastest, then y, then z).
#[derive(Clone, Debug)]
pub struct InterfileImage {
    /// The header.
    pub header: InterfileHeader,
    /// One value per voxel, `dims[0]·dims[1]·dims[2]` long.
    pub values: Vec<f32>,
}

impl InterfileHeader {
    /// Bytes of voxel data the header describes (without the offset).
    pub fn data_bytes(&self) -> u64 {
        (self.dims.iter().product::<usize>() * self.bytes_per_pixel) as u64
    }
}

/// `!Matrix Size [1]` → `matrix size [1]`.
fn normalise_key(key: &str) -> String {
    let key = key.trim().trim_start_matches('!').trim();
    key.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

/// Key → value of every `key := value` line (later lines win).
fn header_keys(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with(';'))
        .filter_map(|l| l.split_once(":="))
        .map(|(k, v)| (normalise_key(k), v.trim().to_string()))
        .collect()
}

/// Reads and checks an Interfile header.
pub fn read_header(path: &Path) -> Result<InterfileHeader, InputError> {
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_header(&text, path)
}

/// Parses header text; `path` names the header in errors and anchors the data file.
pub fn parse_header(text: &str, path: &Path) -> Result<InterfileHeader, InputError> {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty());
    if first.map(normalise_key) != Some("interfile :=".into()) {
        return Err(InputError::Malformed {
            path: path.to_path_buf(),
            reason: format!(
                "not an Interfile header: the first line is {:?}, expected \"!INTERFILE :=\"",
                first.unwrap_or("")
            ),
        });
    }
    let keys = header_keys(text);
    let h = Keys { keys: &keys, path };
    let dims = [
        h.count("matrix size [1]")?,
        h.count("matrix size [2]")?,
        h.count_either("matrix size [3]", "number of slices")?,
    ];
    let format = h.number_format()?;
    let bytes_per_pixel = h.count("number of bytes per pixel")?;
    let allowed: &[usize] = match format {
        NumberFormat::Float => &[4, 8],
        _ => &[1, 2, 4],
    };
    if !allowed.contains(&bytes_per_pixel) {
        return Err(h.malformed(format!(
            "number of bytes per pixel := {bytes_per_pixel} is not supported for {format:?} data (supported: {allowed:?})"
        )));
    }
    let little_endian = match keys.get("imagedata byte order") {
        None => false,
        Some(v) => match v.to_ascii_uppercase().as_str() {
            "LITTLEENDIAN" => true,
            "BIGENDIAN" => false,
            other => {
                return Err(h.malformed(format!(
                    "imagedata byte order := {other}; expected LITTLEENDIAN or BIGENDIAN"
                )))
            }
        },
    };
    let data_offset = match keys.get("data offset in bytes") {
        None => 0,
        Some(v) => v.parse::<u64>().map_err(|_| {
            h.malformed(format!(
                "data offset in bytes := {v}; expected a non-negative integer"
            ))
        })?,
    };
    let spacing_mm = [
        h.length("scaling factor (mm/pixel) [1]")?,
        h.length("scaling factor (mm/pixel) [2]")?,
        // `slice thickness (pixels)` holds millimetres in GATE files: see the module doc.
        h.length_either("scaling factor (mm/pixel) [3]", "slice thickness (pixels)")?,
    ];
    let name = h.required("name of data file")?;
    let data_file = path.parent().unwrap_or(Path::new(".")).join(name);
    Ok(InterfileHeader {
        path: path.to_path_buf(),
        data_file,
        dims,
        spacing_mm,
        format,
        bytes_per_pixel,
        little_endian,
        data_offset,
    })
}

/// Typed access to the header keys, with errors naming the header and the key.
struct Keys<'a> {
    keys: &'a BTreeMap<String, String>,
    path: &'a Path,
}

impl Keys<'_> {
    fn malformed(&self, reason: String) -> InputError {
        InputError::Malformed {
            path: self.path.to_path_buf(),
            reason,
        }
    }

    fn missing(&self, key: &str) -> InputError {
        InputError::MissingHeaderKey {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            fix: "add the line (`key := value`) to the header; see the Interfile 3.3 standard"
                .into(),
        }
    }

    fn required(&self, key: &str) -> Result<&str, InputError> {
        match self.keys.get(key).map(|v| v.as_str()) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(self.missing(key)),
        }
    }

    fn either<'k>(
        &'k self,
        key: &'k str,
        fallback: &'k str,
    ) -> Result<(&'k str, &'k str), InputError> {
        for k in [key, fallback] {
            if let Some(v) = self.keys.get(k).filter(|v| !v.is_empty()) {
                return Ok((k, v));
            }
        }
        Err(self.missing(&format!("{key} (or {fallback})")))
    }

    fn parse_count(&self, key: &str, v: &str) -> Result<usize, InputError> {
        match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(self.malformed(format!("{key} := {v}; expected a positive integer"))),
        }
    }

    fn parse_length(&self, key: &str, v: &str) -> Result<f64, InputError> {
        match v.parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
            _ => Err(self.malformed(format!("{key} := {v}; expected a positive length in mm"))),
        }
    }

    fn count(&self, key: &str) -> Result<usize, InputError> {
        self.parse_count(key, self.required(key)?)
    }

    fn count_either(&self, key: &str, fallback: &str) -> Result<usize, InputError> {
        let (k, v) = self.either(key, fallback)?;
        self.parse_count(k, v)
    }

    fn length(&self, key: &str) -> Result<f64, InputError> {
        self.parse_length(key, self.required(key)?)
    }

    fn length_either(&self, key: &str, fallback: &str) -> Result<f64, InputError> {
        let (k, v) = self.either(key, fallback)?;
        self.parse_length(k, v)
    }

    fn number_format(&self) -> Result<NumberFormat, InputError> {
        let v = self.required("number format")?;
        match v.to_ascii_lowercase().as_str() {
            "unsigned integer" => Ok(NumberFormat::Unsigned),
            "signed integer" => Ok(NumberFormat::Signed),
            "float" | "short float" | "long float" => Ok(NumberFormat::Float),
            other => Err(self.malformed(format!(
                "number format := {other} is not supported; expected unsigned integer, signed integer, float, short float or long float"
            ))),
        }
    }
}

/// Reads a header and its data file.
pub fn read_image(header_path: &Path) -> Result<InterfileImage, InputError> {
    let header = read_header(header_path)?;
    let bytes = std::fs::read(&header.data_file).map_err(|source| InputError::Read {
        path: header.data_file.clone(),
        source,
    })?;
    let values = decode(&header, &bytes)?;
    Ok(InterfileImage { header, values })
}

/// Decodes the data file's bytes; its size must be exactly offset + voxels × bytes per voxel.
pub fn decode(header: &InterfileHeader, bytes: &[u8]) -> Result<Vec<f32>, InputError> {
    let expected = header.data_offset + header.data_bytes();
    if bytes.len() as u64 != expected {
        return Err(InputError::DataSizeMismatch {
            path: header.data_file.clone(),
            header: header.path.clone(),
            expected_bytes: expected,
            found_bytes: bytes.len() as u64,
            layout: format!(
                "{}×{}×{} voxels × {} byte(s) + offset {}",
                header.dims[0],
                header.dims[1],
                header.dims[2],
                header.bytes_per_pixel,
                header.data_offset
            ),
        });
    }
    let data = &bytes[header.data_offset as usize..];
    let le = header.little_endian;
    let value = |c: &[u8]| -> f32 {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        if !le {
            b[..c.len()].reverse();
        }
        match (header.format, c.len()) {
            (NumberFormat::Unsigned, 1) => b[0] as f32,
            (NumberFormat::Unsigned, 2) => u16::from_le_bytes([b[0], b[1]]) as f32,
            (NumberFormat::Unsigned, _) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
            (NumberFormat::Signed, 1) => b[0] as i8 as f32,
            (NumberFormat::Signed, 2) => i16::from_le_bytes([b[0], b[1]]) as f32,
            (NumberFormat::Signed, _) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
            (NumberFormat::Float, 4) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            (NumberFormat::Float, _) => f64::from_le_bytes(b) as f32,
        }
    };
    let values: Vec<f32> = data
        .chunks_exact(header.bytes_per_pixel)
        .map(value)
        .collect();
    if let Some(first) = values.iter().position(|v| !v.is_finite()) {
        let nx = header.dims[0];
        let ny = header.dims[1];
        return Err(InputError::NonFinite {
            path: header.data_file.clone(),
            count: values.iter().filter(|v| !v.is_finite()).count(),
            first_ijk: [first % nx, (first / nx) % ny, first / (nx * ny)],
        });
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GATE_HEADER: &str = "!INTERFILE :=\n!imaging modality := nucmed\n;\n\
        !data offset in bytes := 0\n!name of data file := img.i33\n\
        imagedata byte order := LITTLEENDIAN\n!matrix size [1] := 3\n!matrix size [2] := 2\n\
        !number format := unsigned integer\n!number of bytes per pixel := 2\n\
        scaling factor (mm/pixel) [1] := 3.9063\nscaling factor (mm/pixel) [2] := 3.9063\n\
        !number of slices := 2\nslice thickness (pixels) := 4.4196\n!END OF INTERFILE :=\n";

    fn header(text: &str) -> Result<InterfileHeader, InputError> {
        parse_header(text, Path::new("/data/x.h33"))
    }

    #[test]
    fn gate_style_header_is_read_with_slice_thickness_in_mm() {
        let h = header(GATE_HEADER).unwrap();
        assert_eq!(h.dims, [3, 2, 2]);
        assert_eq!(h.spacing_mm, [3.9063, 3.9063, 4.4196]);
        assert_eq!(h.format, NumberFormat::Unsigned);
        assert_eq!(h.bytes_per_pixel, 2);
        assert!(h.little_endian);
        assert_eq!(h.data_offset, 0);
        assert_eq!(h.data_file, Path::new("/data/img.i33"));
    }

    #[test]
    fn keys_ignore_case_bang_and_spacing() {
        let text = GATE_HEADER
            .replace("!matrix size [1]", "MATRIX   Size [1]")
            .replace("imagedata byte order", "!ImageData Byte Order");
        let h = header(&text).unwrap();
        assert_eq!(h.dims[0], 3);
        assert!(h.little_endian);
    }

    #[test]
    fn missing_key_is_named() {
        let text = GATE_HEADER.replace("!matrix size [2] := 2\n", "");
        let e = header(&text).unwrap_err();
        assert_eq!(e.exit_code(), 28);
        assert!(e.to_string().contains("matrix size [2]"), "{e}");
        let text = GATE_HEADER.replace("slice thickness (pixels) := 4.4196\n", "");
        let e = header(&text).unwrap_err();
        assert!(e.to_string().contains("slice thickness (pixels)"), "{e}");
    }

    #[test]
    fn bad_values_are_malformed() {
        for (from, to, needle) in [
            ("unsigned integer", "bit", "number format := bit"),
            (
                "bytes per pixel := 2",
                "bytes per pixel := 3",
                "bytes per pixel := 3",
            ),
            ("[1] := 3\n", "[1] := -3\n", "matrix size [1] := -3"),
            ("LITTLEENDIAN", "MIDDLE", "MIDDLE"),
            (
                "[2] := 3.9063",
                "[2] := 0",
                "scaling factor (mm/pixel) [2] := 0",
            ),
        ] {
            let e = header(&GATE_HEADER.replace(from, to)).unwrap_err();
            assert_eq!(e.exit_code(), 8, "{e}");
            assert!(e.to_string().contains(needle), "{needle}: {e}");
        }
        let e = header("hello := 1\n").unwrap_err();
        assert!(e.to_string().contains("not an Interfile header"), "{e}");
    }

    #[test]
    fn wrong_data_size_is_reported_with_both_sizes() {
        let h = header(GATE_HEADER).unwrap();
        let e = decode(&h, &[0u8; 23]).unwrap_err();
        assert_eq!(e.exit_code(), 29);
        let msg = e.to_string();
        assert!(msg.contains("24 bytes") && msg.contains("23"), "{msg}");
        assert!(decode(&h, &[0u8; 25]).is_err());
    }

    #[test]
    fn byte_order_and_formats_decode() {
        let mut h = header(GATE_HEADER).unwrap();
        h.dims = [2, 1, 1];
        let le = decode(&h, &[1, 2, 0xff, 0xff]).unwrap();
        assert_eq!(le, [513.0, 65535.0]);
        h.little_endian = false;
        assert_eq!(decode(&h, &[1, 2, 0xff, 0xff]).unwrap(), [258.0, 65535.0]);
        h.format = NumberFormat::Signed;
        assert_eq!(decode(&h, &[1, 2, 0xff, 0xff]).unwrap(), [258.0, -1.0]);
        h.format = NumberFormat::Float;
        h.bytes_per_pixel = 4;
        h.dims = [1, 1, 1];
        assert_eq!(decode(&h, &1.5f32.to_be_bytes()).unwrap(), [1.5]);
        h.data_offset = 2;
        assert_eq!(decode(&h, &[9, 9, 0x3f, 0xc0, 0, 0]).unwrap(), [1.5]);
    }
}
