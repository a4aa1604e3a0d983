//! GATE's text tables for voxelised phantoms, and the map from GATE materials to voxdose's.
//!
//! - **Range tables** (`ImageNestedParametrisedVolume` material tables such as
//!   `patient15_ID2mat.txt`, and activity "range translator" tables such as
//!   `patient15_fullA_T2_spleen_betas.dat`): one `min max value` line per range, optionally
//!   preceded by a line holding the number of ranges. A voxel value v matches a range when
//!   `min ≤ v ≤ max`. **Rule: the first matching range in file order wins.** Adjacent ranges
//!   share their end points (`950 1000 Muscle`, `1000 1150 TissueSoft_DataBase`), and the
//!   patient15 table overlaps outright (TissueSoft_DataBase 1000–1150, Bone 1120–2150: 3 992
//!   voxels in 1120–1150 become soft tissue), so some rule is needed. First match is the
//!   simplest, needs no judgement about which range was "meant", and is what a reader going
//!   down the file expects.
//! - **`GateMaterials.db`**: only what voxdose needs is parsed, the `[Materials]` section's
//!   `Name: d=<value> <g/cm3|mg/cm3> ; …` lines (spacing and trailing `;` vary). Compositions
//!   are not used: each GATE material maps to a voxdose material ([`GATE_MATERIALS`]) whose
//!   composition stands in for it, at the GATE density.
//!
//! Units: densities in g/cm³ (mg/cm³ converted at parse), activities as written (the GATE
//! macros use Bq per voxel).

use std::path::{Path, PathBuf};

use crate::io::InputError;

/// One `min max value` line of a range table.
#[derive(Clone, Debug, PartialEq)]
pub struct Range<T> {
    /// Lowest voxel value of the range (inclusive).
    pub min: f64,
    /// Highest voxel value of the range (inclusive).
    pub max: f64,
    /// The material name or activity of the range.
    pub value: T,
}

/// A range table in file order; [`RangeTable::lookup`] applies the first-match rule.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeTable<T> {
    /// Where the table was read from.
    pub path: PathBuf,
    /// Ranges in file order.
    pub ranges: Vec<Range<T>>,
}

impl<T> RangeTable<T> {
    /// Index of the first range containing `v` (file order), if any.
    pub fn lookup(&self, v: f64) -> Option<usize> {
        self.ranges.iter().position(|r| r.min <= v && v <= r.max)
    }
}

fn read_text(path: &Path) -> Result<String, InputError> {
    std::fs::read_to_string(path).map_err(|source| InputError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn malformed(path: &Path, reason: String) -> InputError {
    InputError::Malformed {
        path: path.to_path_buf(),
        reason,
    }
}

/// Parses a range table whose third column is parsed by `value`. A first line with a single
/// integer is the range count and must match the number of ranges that follow.
pub fn parse_range_table<T>(
    text: &str,
    path: &Path,
    value: impl Fn(&str) -> Option<T>,
) -> Result<RangeTable<T>, InputError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .peekable();
    let mut count = None;
    if let Some((_, first)) = lines.peek() {
        if first.split_whitespace().count() == 1 {
            let n = first.parse::<usize>().map_err(|_| {
                malformed(
                    path,
                    format!(
                        "first line {first:?} is neither a range count nor a `min max value` line"
                    ),
                )
            })?;
            count = Some(n);
            lines.next();
        }
    }
    let mut ranges = Vec::new();
    for (n, line) in lines {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let bad = || malformed(path, format!("line {n} {line:?}: expected `min max value`"));
        if cols.len() != 3 {
            return Err(bad());
        }
        let min = cols[0].parse::<f64>().map_err(|_| bad())?;
        let max = cols[1].parse::<f64>().map_err(|_| bad())?;
        if !(min.is_finite() && max.is_finite() && min <= max) {
            return Err(malformed(
                path,
                format!("line {n} {line:?}: the range needs min ≤ max"),
            ));
        }
        let value = value(cols[2]).ok_or_else(bad)?;
        ranges.push(Range { min, max, value });
    }
    if let Some(n) = count {
        if n != ranges.len() {
            return Err(malformed(
                path,
                format!(
                    "the first line announces {n} range(s) but {} follow",
                    ranges.len()
                ),
            ));
        }
    }
    if ranges.is_empty() {
        return Err(malformed(path, "no `min max value` lines".into()));
    }
    Ok(RangeTable {
        path: path.to_path_buf(),
        ranges,
    })
}

/// Reads a value-range → material-name table (`*_ID2mat.txt`).
pub fn read_material_table(path: &Path) -> Result<RangeTable<String>, InputError> {
    parse_range_table(&read_text(path)?, path, |s| Some(s.to_string()))
}

/// Reads a value-range → activity table (GATE range translator; Bq per voxel in the macros).
pub fn read_activity_table(path: &Path) -> Result<RangeTable<f64>, InputError> {
    parse_range_table(&read_text(path)?, path, |s| {
        s.parse::<f64>().ok().filter(|a| a.is_finite() && *a >= 0.0)
    })
}

/// Density (g/cm³) of the material `name` in a `GateMaterials.db` text.
pub fn parse_gate_density(text: &str, path: &Path, name: &str) -> Result<f64, InputError> {
    let mut in_materials = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_materials = line.eq_ignore_ascii_case("[Materials]");
            continue;
        }
        if !in_materials || line.starts_with('#') || line.starts_with('+') {
            continue;
        }
        let Some((n, rest)) = line.split_once(':') else {
            continue;
        };
        if n.trim() != name {
            continue;
        }
        let d = rest
            .split(';')
            .map(str::trim)
            .find_map(|f| f.strip_prefix("d="))
            .ok_or_else(|| {
                malformed(
                    path,
                    format!("material {name}: no `d=` density in {line:?}"),
                )
            })?;
        return parse_density(d).ok_or_else(|| {
            malformed(
                path,
                format!(
                    "material {name}: density {d:?} is not `<number> g/cm3` or `<number> mg/cm3`"
                ),
            )
        });
    }
    Err(InputError::Inconsistent {
        path: path.to_path_buf(),
        reason: format!("material {name} is not defined in the [Materials] section; use the GateMaterials.db that came with the phantom"),
    })
}

/// `1.92g/cm3`, `1.29 mg/cm3` → g/cm³.
fn parse_density(d: &str) -> Option<f64> {
    let d = d.replace(' ', "");
    let (num, scale) = if let Some(n) = d.strip_suffix("mg/cm3") {
        (n, 1e-3)
    } else {
        (d.strip_suffix("g/cm3")?, 1.0)
    };
    num.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x > 0.0)
        .map(|x| x * scale)
}

/// Reads the density (g/cm³) of each of `names` from a `GateMaterials.db` file.
pub fn read_gate_densities(path: &Path, names: &[&str]) -> Result<Vec<f64>, InputError> {
    let text = read_text(path)?;
    names
        .iter()
        .map(|n| parse_gate_density(&text, path, n))
        .collect()
}

/// GATE material → the voxdose material (`data/materials/materials.json` key) that stands in
/// for its composition, and why. The density is always GATE's.
///
/// | GATE (`GateMaterials.db`) | voxdose | why |
/// |---|---|---|
/// | Air | air | same (dry air, N/O/Ar/C) |
/// | CompressedAir | air | same composition (N/O/Ar), 106.655 mg/cm³ |
/// | Lung | lung | ICRP lung, GATE density 0.26 g/cm³ |
/// | Adipose | adipose | ICRP adipose (H 12 %, C 64 %, O 23 %) |
/// | Muscle | muscle | ICRP skeletal muscle |
/// | TissueSoft_DataBase | soft-tissue | ICRP soft tissue (H 10.5, C 25.6, N 2.7, O 60.2 %) |
/// | Bone | cortical-bone | GATE Bone is cortical-like (Ca 21.3 %, P 9.4 %; ICRU cortical bone Ca 22.5 %, P 10.3 %) |
/// | CarbonFiber | air | the couch, pure carbon at 0.55 g/cm³; voxdose has no carbon. Air per gram is the closest of the eight for what matters at 177Lu energies: Z/A 0.4992 vs 0.4995 mol/g (Compton and collision stopping ∝ Z/A), I 85.7 vs 78 eV; its N/O/Ar raise photoelectric absorption below ~30 keV. Adipose would be 11 % off in Z/A |
///
/// A GATE material not in this table is an error (exit 4) rather than a guess.
pub const GATE_MATERIALS: &[(&str, &str)] = &[
    ("Air", "air"),
    ("CompressedAir", "air"),
    ("Lung", "lung"),
    ("Adipose", "adipose"),
    ("Muscle", "muscle"),
    ("TissueSoft_DataBase", "soft-tissue"),
    ("Bone", "cortical-bone"),
    ("CarbonFiber", "air"),
];

/// The voxdose material key standing in for GATE material `gate_name` ([`GATE_MATERIALS`]).
pub fn voxdose_material(gate_name: &str) -> crate::Result<&'static str> {
    GATE_MATERIALS
        .iter()
        .find(|(g, _)| *g == gate_name)
        .map(|(_, v)| *v)
        .ok_or_else(|| crate::Error::UnknownName {
            what: "GATE material (no voxdose counterpart; see io::gate::GATE_MATERIALS)",
            name: gate_name.to_string(),
            known: GATE_MATERIALS
                .iter()
                .map(|(g, _)| *g)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physics::materials::material_index;

    const ID2MAT: &str = "-2000 100 Air\n100 220 CompressedAir\n220 500 Lung\n500 950 Adipose\n\
        950 1000 Muscle\n1000 1150 TissueSoft_DataBase\n1120 2150 Bone\n3000 3050 CarbonFiber\n";

    fn p() -> &'static Path {
        Path::new("t.txt")
    }

    #[test]
    fn first_match_in_file_order_resolves_overlaps_and_shared_ends() {
        let t = parse_range_table(ID2MAT, p(), |s| Some(s.to_string())).unwrap();
        let name = |v: f64| t.lookup(v).map(|i| t.ranges[i].value.as_str());
        assert_eq!(name(1130.0), Some("TissueSoft_DataBase"));
        assert_eq!(name(1151.0), Some("Bone"));
        assert_eq!(name(1000.0), Some("Muscle"));
        assert_eq!(name(100.0), Some("Air"));
        assert_eq!(name(3000.0), Some("CarbonFiber"));
        assert_eq!(name(2500.0), None);
    }

    #[test]
    fn activity_table_with_count_line_trailing_tab_and_blank_lines() {
        let t = parse_range_table("1\n16000.0\t16000.0 22280.13\t\n\n", p(), |s| {
            s.parse().ok()
        })
        .unwrap();
        assert_eq!(
            t.ranges,
            [Range {
                min: 16000.0,
                max: 16000.0,
                value: 22280.13
            }]
        );
        let e = parse_range_table("2\n1 2 3\n", p(), |s| s.parse::<f64>().ok()).unwrap_err();
        assert!(e.to_string().contains("announces 2"), "{e}");
        let e = parse_range_table("1 2\n", p(), |s| s.parse::<f64>().ok()).unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = parse_range_table("5 2 x\n", p(), |s| Some(s.to_string())).unwrap_err();
        assert!(e.to_string().contains("min ≤ max"), "{e}");
    }

    #[test]
    fn gate_densities_with_varying_spacing_and_units() {
        let db = "[Elements]\nHydrogen: S= H ; Z= 1. ; A= 1.01 g/mole\n[Materials]\n\
            Air: d=1.29 mg/cm3 ; n=4 ; state=gas\n        +el: name=Nitrogen ; f=0.755268\n\
            Bone: d=1.92g/cm3; n=13;\n";
        assert!((parse_gate_density(db, p(), "Air").unwrap() - 1.29e-3).abs() < 1e-12);
        assert_eq!(parse_gate_density(db, p(), "Bone").unwrap(), 1.92);
        let e = parse_gate_density(db, p(), "Hydrogen").unwrap_err();
        assert!(e.to_string().contains("not defined"), "{e}");
    }

    #[test]
    fn every_mapped_material_exists_and_unknown_ones_are_refused() {
        for (g, v) in GATE_MATERIALS {
            assert!(material_index(v).is_some(), "{g} → {v}");
        }
        let e = voxdose_material("Glass").unwrap_err();
        assert_eq!(e.exit_code(), 4);
        assert!(e.to_string().contains("Glass"), "{e}");
    }
}
