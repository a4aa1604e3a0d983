//! CT number (HU) → mass density (g/cm³) and material index.
//!
//! The default is the stoichiometric calibration of Schneider, Bortfeld & Schlegel 2000
//! (Phys Med Biol 45:459), embedded from `data/schneider2000/hu_conversion.csv`: density is
//! piecewise linear between published nodes (not monotonic: it drops between 100 and 101 HU)
//! and clamped to the end nodes outside them; the material is the one whose interval holds the
//! HU (below the first interval: the first material). Calibrations depend on scanner and kVp,
//! so a user calibration in the same CSV format can be loaded with [`HuConversion::from_csv`].

use std::path::Path;

use crate::io::InputError;
use crate::physics::materials::{material_index, material_names};

const SCHNEIDER2000_CSV: &str = include_str!("../../data/schneider2000/hu_conversion.csv");

/// A HU → (material, density) calibration.
#[derive(Clone, Debug, PartialEq)]
pub struct HuConversion {
    /// (HU, density g/cm³) nodes in increasing HU.
    density_nodes: Vec<(f32, f32)>,
    /// (lowest HU, material index) in increasing HU.
    materials: Vec<(f32, u8)>,
}

impl HuConversion {
    /// The Schneider et al. 2000 calibration mapped onto the built-in materials.
    pub fn schneider2000() -> Self {
        Self::parse(
            SCHNEIDER2000_CSV,
            Path::new("data/schneider2000/hu_conversion.csv"),
        )
        .expect("the embedded Schneider table is checked by the unit tests")
    }

    /// Loads a calibration CSV (`kind,hu,value` rows; see the embedded file for the format).
    pub fn from_csv(path: impl AsRef<Path>) -> crate::Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| InputError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self::parse(&text, path)?)
    }

    fn parse(text: &str, path: &Path) -> Result<Self, InputError> {
        let bad = |line: usize, reason: String| InputError::Malformed {
            path: path.to_path_buf(),
            reason: format!("line {line}: {reason}"),
        };
        let mut density_nodes = Vec::new();
        let mut materials = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line == "kind,hu,value" {
                continue;
            }
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let [kind, hu, value] = f[..] else {
                return Err(bad(n + 1, format!("expected kind,hu,value, got '{line}'")));
            };
            let hu: f32 = hu
                .parse()
                .map_err(|_| bad(n + 1, format!("HU '{hu}' is not a number")))?;
            match kind {
                "density" => {
                    let d: f32 =
                        value
                            .parse()
                            .ok()
                            .filter(|d: &f32| *d > 0.0)
                            .ok_or_else(|| {
                                bad(
                                    n + 1,
                                    format!("density '{value}' is not a positive number (g/cm3)"),
                                )
                            })?;
                    density_nodes.push((hu, d));
                }
                "material" => {
                    let i = material_index(value).ok_or_else(|| {
                        bad(
                            n + 1,
                            format!("unknown material '{value}'; known: {}", material_names()),
                        )
                    })?;
                    materials.push((hu, i as u8));
                }
                other => {
                    return Err(bad(
                        n + 1,
                        format!("kind '{other}' is neither density nor material"),
                    ))
                }
            }
        }
        let increasing = |v: &[f32]| v.windows(2).all(|w| w[0] < w[1]);
        let dh: Vec<f32> = density_nodes.iter().map(|p| p.0).collect();
        let mh: Vec<f32> = materials.iter().map(|p| p.0).collect();
        if density_nodes.len() < 2 || materials.is_empty() || !increasing(&dh) || !increasing(&mh) {
            return Err(bad(
                0,
                "need at least two density rows and one material row, each in increasing HU".into(),
            ));
        }
        Ok(HuConversion {
            density_nodes,
            materials,
        })
    }

    /// (material index, density g/cm³) of a voxel with CT number `hu`.
    pub fn convert(&self, hu: f32) -> (u8, f32) {
        let material = self
            .materials
            .iter()
            .rev()
            .find(|(from, _)| hu >= *from)
            .unwrap_or(&self.materials[0])
            .1;
        (material, self.density_g_cm3(hu))
    }

    /// Density (g/cm³) at `hu`, piecewise linear, clamped to the end nodes.
    pub fn density_g_cm3(&self, hu: f32) -> f32 {
        let nodes = &self.density_nodes;
        let i = nodes.partition_point(|(h, _)| *h <= hu);
        if i == 0 {
            return nodes[0].1;
        }
        if i == nodes.len() {
            return nodes[i - 1].1;
        }
        let ((h0, d0), (h1, d1)) = (nodes[i - 1], nodes[i]);
        d0 + (hu - h0) / (h1 - h0) * (d1 - d0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schneider_density_matches_published_nodes() {
        // Schneider et al. 2000, Phys Med Biol 45:459 (calibration nodes).
        let c = HuConversion::schneider2000();
        for (hu, rho) in [
            (-1000.0, 0.00121),
            (-98.0, 0.93),
            (14.0, 1.03),
            (100.0, 1.1199),
            (101.0, 1.0762),
            (1600.0, 1.9642),
            (3000.0, 2.8),
        ] {
            assert!((c.density_g_cm3(hu) - rho).abs() < 1e-6, "{hu}");
        }
        // Midway between 1600 (1.9642) and 3000 (2.8): 2.3821.
        assert!((c.density_g_cm3(2300.0) - 2.3821).abs() < 1e-5);
    }

    #[test]
    fn schneider_materials_follow_the_documented_mapping() {
        let c = HuConversion::schneider2000();
        let idx = |n| material_index(n).unwrap() as u8;
        assert_eq!(c.convert(-1000.0).0, idx("air"));
        assert_eq!(c.convert(-700.0).0, idx("lung"));
        assert_eq!(c.convert(-80.0).0, idx("adipose"));
        assert_eq!(c.convert(40.0).0, idx("soft-tissue"));
        assert_eq!(c.convert(200.0).0, idx("red-marrow"));
        assert_eq!(c.convert(1200.0).0, idx("cortical-bone"));
    }

    #[test]
    fn user_calibration_with_unknown_material_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cal.csv");
        std::fs::write(
            &p,
            "density,-1000,0.001\ndensity,0,1\nmaterial,-1000,bone\n",
        )
        .unwrap();
        let e = HuConversion::from_csv(&p).unwrap_err();
        assert_eq!(e.exit_code(), 8);
        assert!(
            e.to_string().contains("line 3") && e.to_string().contains("bone"),
            "{e}"
        );
    }
}
