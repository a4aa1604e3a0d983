//! Organ limits (`--limit kidney:bed=28`, a `LIMITS.json`) and the tissue of each region.
//!
//! An organ in a limit is matched against the twin's regions by name first, then by tissue:
//! `kidney:bed=28` with regions `kidney_left` and `kidney_right` (tissue `kidney`) limits each
//! of them. Limits are on the **cumulative** BED or absorbed dose over all cycles, as the
//! renal BED limits (40 Gy; 28 Gy with risk factors; Bodei et al. 2008) and the red-marrow
//! absorbed-dose limit (2 Gy per therapy) are stated.

use super::folder::TwinRegion;
use super::TwinError;
use crate::radiobiology::LimitQuantity;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A limit on one organ's cumulative BED or absorbed dose.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganLimit {
    /// Region name or tissue key.
    pub organ: String,
    /// What it limits.
    pub quantity: LimitQuantity,
    /// The limit, Gy.
    pub value_gy: f64,
}

/// A `LIMITS.json` for `voxdose twin init --limits`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// The limits.
    #[serde(default)]
    pub limits: Vec<OrganLimit>,
    /// Tissue of a region by name, where its name does not tell (`{"lesion_3": "tumour"}`).
    #[serde(default)]
    pub tissues: BTreeMap<String, String>,
}

impl OrganLimit {
    /// Parses `ORGAN:bed=GY` or `ORGAN:dose=GY`.
    pub fn parse(text: &str) -> Result<OrganLimit> {
        let bad = |reason: &str| {
            Error::from(TwinError::BadLimit {
                text: text.to_string(),
                reason: reason.to_string(),
            })
        };
        let (organ, rest) = text.split_once(':').ok_or_else(|| bad("no ':'"))?;
        let (what, value) = rest.split_once('=').ok_or_else(|| bad("no '='"))?;
        let quantity = match what.trim() {
            "bed" => LimitQuantity::Bed,
            "dose" => LimitQuantity::Absorbed,
            other => return Err(bad(&format!("'{other}' is neither bed nor dose"))),
        };
        let value_gy: f64 = value
            .trim()
            .parse()
            .map_err(|_| bad(&format!("'{value}' is not a number of Gy")))?;
        if !(value_gy.is_finite() && value_gy > 0.0) {
            return Err(bad("the limit must be a positive number of Gy"));
        }
        if organ.trim().is_empty() {
            return Err(bad("no organ"));
        }
        Ok(OrganLimit {
            organ: organ.trim().to_string(),
            quantity,
            value_gy,
        })
    }

    /// The regions of `regions` this limit applies to (by name, else by tissue).
    pub fn regions<'a>(&self, regions: &'a [TwinRegion]) -> Result<Vec<&'a TwinRegion>> {
        let key = normalise(&self.organ);
        let by_name: Vec<_> = regions
            .iter()
            .filter(|r| normalise(&r.name) == key)
            .collect();
        if !by_name.is_empty() {
            return Ok(by_name);
        }
        let by_tissue: Vec<_> = regions
            .iter()
            .filter(|r| r.tissue.as_deref().map(normalise) == Some(key.clone()))
            .collect();
        if by_tissue.is_empty() {
            return Err(TwinError::UnknownOrgan {
                organ: self.organ.clone(),
                known: regions
                    .iter()
                    .map(|r| match &r.tissue {
                        Some(t) => format!("{} ({t})", r.name),
                        None => r.name.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            }
            .into());
        }
        Ok(by_tissue)
    }

    /// The limit as written (`kidney:bed=28`).
    pub fn text(&self) -> String {
        let q = match self.quantity {
            LimitQuantity::Bed => "bed",
            LimitQuantity::Absorbed => "dose",
        };
        format!("{}:{q}={}", self.organ, self.value_gy)
    }
}

/// `kidney_left`, `Kidney Left` and `kidney-left` are one name.
fn normalise(s: &str) -> String {
    s.trim().to_lowercase().replace([' ', '-'], "_")
}

impl LimitsFile {
    /// Reads a limits file.
    pub fn load(path: &Path) -> Result<LimitsFile> {
        let text = std::fs::read(path).map_err(|source| crate::io::InputError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let f: LimitsFile =
            serde_json::from_slice(&text).map_err(|e| crate::io::InputError::Malformed {
                path: path.to_path_buf(),
                reason: format!(
                    "not a limits file ({e}); write {{\"limits\": [{{\"organ\": \"kidney\", \"quantity\": \"bed\", \"value_gy\": 28}}], \"tissues\": {{\"lesion_1\": \"tumour\"}}}}"
                ),
            })?;
        for l in &f.limits {
            if !(l.value_gy.is_finite() && l.value_gy > 0.0) {
                return Err(TwinError::BadLimit {
                    text: l.text(),
                    reason: "the limit must be a positive number of Gy".into(),
                }
                .into());
            }
        }
        Ok(f)
    }
}

/// The tissue of a region: the limits file's choice, else the one its name suggests
/// ([`crate::radiobiology::plan::tissue_key_for_region_name`]); checked against the tissue
/// table.
pub fn tissue_of(name: &str, chosen: &BTreeMap<String, String>) -> Result<Option<String>> {
    let key = match chosen.get(name) {
        Some(t) => Some(t.clone()),
        None => crate::radiobiology::plan::tissue_key_for_region_name(name).map(str::to_string),
    };
    match key {
        Some(k) => Ok(Some(crate::radiobiology::Tissue::named(&k)?.name)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(name: &str, tissue: Option<&str>) -> TwinRegion {
        TwinRegion {
            name: name.into(),
            label: 1,
            tissue: tissue.map(str::to_string),
        }
    }

    #[test]
    fn limits_parse_and_find_their_regions_by_name_then_tissue() {
        let l = OrganLimit::parse("kidney:bed=28").unwrap();
        assert_eq!((l.quantity, l.value_gy), (LimitQuantity::Bed, 28.0));
        assert_eq!(OrganLimit::parse("red_marrow:dose=2").unwrap().quantity, LimitQuantity::Absorbed);
        for bad in ["kidney", "kidney:bed", "kidney:let=3", "kidney:bed=-1", ":bed=3"] {
            let e = OrganLimit::parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 3, "{bad}: {e}");
        }
        let regions = [
            region("kidney_left", Some("kidney")),
            region("kidney_right", Some("kidney")),
            region("red marrow", Some("red-marrow")),
        ];
        assert_eq!(l.regions(&regions).unwrap().len(), 2);
        let m = OrganLimit::parse("Red-Marrow:dose=2").unwrap();
        assert_eq!(m.regions(&regions).unwrap()[0].name, "red marrow");
        let e = OrganLimit::parse("liver:bed=40").unwrap().regions(&regions).unwrap_err();
        assert!(e.to_string().contains("kidney_left (kidney)"), "{e}");
    }
}
