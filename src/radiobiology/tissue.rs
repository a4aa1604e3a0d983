//! Tissue parameters of the linear-quadratic model: α/β, the repair half-time, α where one is
//! established (for EUBED) and the dose or BED limit, from `data/radiobiology/tissues.csv`
//! (embedded at build time; sources in `data/radiobiology/PROVENANCE.md`).
//!
//! Units: α/β and limits in Gy, T_rep in h, α in 1/Gy.

use super::RadiobiologyError;
use serde::{Deserialize, Serialize};

/// The tissue table as shipped (`data/radiobiology/tissues.csv`).
const TISSUES_CSV: &str = include_str!("../../data/radiobiology/tissues.csv");

/// What a limit constrains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitQuantity {
    /// The biologically effective dose, cumulative over cycles.
    Bed,
    /// The absorbed dose, per therapy.
    #[serde(alias = "dose")]
    Absorbed,
}

/// A tissue's tolerance limit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Limit {
    /// What it constrains.
    pub quantity: LimitQuantity,
    /// The limit, Gy.
    pub value_gy: f64,
    /// The stricter limit when risk factors are present (kidney: hypertension, diabetes), Gy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub with_risk_factors_gy: Option<f64>,
}

/// Linear-quadratic parameters of one tissue.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tissue {
    /// The tissue key (`kidney`, `red-marrow`, …) or `custom`.
    pub name: String,
    /// α/β, Gy (> 0).
    pub alpha_beta_gy: f64,
    /// Repair half-time T_rep, h (> 0, finite).
    pub repair_half_time_h: f64,
    /// α, 1/Gy, when known (EUBED needs it).
    pub alpha_per_gy: Option<f64>,
    /// The tolerance limit, if the table gives one.
    pub limit: Option<Limit>,
    /// How far the values were checked: `verified`, `cited` or `assumed` (PROVENANCE.md);
    /// `user` for values given on the command line.
    pub status: String,
}

#[derive(Deserialize)]
struct Row {
    name: String,
    alpha_beta_gy: f64,
    repair_half_time_h: f64,
    alpha_per_gy: Option<f64>,
    limit_quantity: Option<LimitQuantity>,
    limit_gy: Option<f64>,
    limit_with_risk_factors_gy: Option<f64>,
    status: String,
}

impl Tissue {
    /// A tissue from user values (`--alpha-beta-gy`, `--repair-half-time-h`,
    /// `--alpha-per-gy`), unchecked; call [`Tissue::validate`].
    pub fn custom(alpha_beta_gy: f64, repair_half_time_h: f64, alpha_per_gy: Option<f64>) -> Self {
        Tissue {
            name: "custom".into(),
            alpha_beta_gy,
            repair_half_time_h,
            alpha_per_gy,
            limit: None,
            status: "user".into(),
        }
    }

    /// Checks the values are usable: α/β > 0, 0 < T_rep < ∞, α > 0 when given.
    pub fn validate(&self) -> Result<(), RadiobiologyError> {
        let bad = |reason: String| {
            Err(RadiobiologyError::InvalidTissue {
                name: self.name.clone(),
                reason,
            })
        };
        if !(self.alpha_beta_gy.is_finite() && self.alpha_beta_gy > 0.0) {
            return bad(format!("α/β = {} Gy; it must be > 0", self.alpha_beta_gy));
        }
        if !(self.repair_half_time_h.is_finite() && self.repair_half_time_h > 0.0) {
            return bad(format!(
                "repair half-time = {} h; it must be > 0 and finite",
                self.repair_half_time_h
            ));
        }
        if let Some(a) = self.alpha_per_gy {
            if !(a.is_finite() && a > 0.0) {
                return bad(format!("α = {a} /Gy; it must be > 0"));
            }
        }
        Ok(())
    }

    /// The tissue named `name` in the shipped table (case-insensitive; `_` or a space may
    /// stand for `-`).
    pub fn named(name: &str) -> crate::Result<Tissue> {
        let key = normalise(name);
        let table = table()?;
        table
            .iter()
            .find(|t| t.name == key)
            .cloned()
            .ok_or_else(|| crate::Error::UnknownName {
                what: "tissue",
                name: name.to_string(),
                known: table
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

fn normalise(name: &str) -> String {
    name.trim().to_lowercase().replace(['_', ' '], "-")
}

/// Every tissue of the shipped table, in file order.
pub fn table() -> crate::Result<Vec<Tissue>> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(TISSUES_CSV.as_bytes());
    let mut out = Vec::new();
    for row in reader.deserialize::<Row>() {
        let r = row.map_err(|e| {
            crate::Error::Internal(format!("data/radiobiology/tissues.csv does not parse: {e}"))
        })?;
        let limit = match (r.limit_quantity, r.limit_gy) {
            (Some(quantity), Some(value_gy)) => Some(Limit {
                quantity,
                value_gy,
                with_risk_factors_gy: r.limit_with_risk_factors_gy,
            }),
            _ => None,
        };
        out.push(Tissue {
            name: r.name,
            alpha_beta_gy: r.alpha_beta_gy,
            repair_half_time_h: r.repair_half_time_h,
            alpha_per_gy: r.alpha_per_gy,
            limit,
            status: r.status,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_table_parses_and_every_tissue_is_valid() {
        let t = table().unwrap();
        let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
        for want in [
            "kidney",
            "red-marrow",
            "salivary-glands",
            "liver",
            "spleen",
            "lacrimal-glands",
            "tumour",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        for tissue in &t {
            tissue.validate().unwrap();
            assert!(
                ["verified", "cited", "assumed"].contains(&tissue.status.as_str()),
                "{}: status {}",
                tissue.name,
                tissue.status
            );
        }
    }

    #[test]
    fn kidney_values_are_the_ones_twin_md_cites() {
        // TWIN.md §1: α/β 2.6 Gy, T_rep 2.8 h, BED limit 40 Gy (28 Gy with risk factors;
        // Bodei et al. 2008, EJNMMI 35:1847).
        let k = Tissue::named("Kidney").unwrap();
        assert_eq!((k.alpha_beta_gy, k.repair_half_time_h), (2.6, 2.8));
        let l = k.limit.unwrap();
        assert_eq!(l.quantity, LimitQuantity::Bed);
        assert_eq!((l.value_gy, l.with_risk_factors_gy), (40.0, Some(28.0)));
        assert_eq!(Tissue::named("red_marrow").unwrap().name, "red-marrow");
    }

    #[test]
    fn unknown_tissue_lists_the_known_ones() {
        let e = Tissue::named("brain").unwrap_err();
        assert_eq!(e.exit_code(), 4);
        assert!(e.to_string().contains("kidney"), "{e}");
    }

    #[test]
    fn bad_custom_values_are_refused() {
        assert!(Tissue::custom(0.0, 2.8, None).validate().is_err());
        assert!(Tissue::custom(2.6, 0.0, None).validate().is_err());
        assert!(Tissue::custom(2.6, f64::INFINITY, None).validate().is_err());
        assert!(Tissue::custom(2.6, 2.8, Some(-0.1)).validate().is_err());
        assert!(Tissue::custom(2.6, 2.8, Some(0.3)).validate().is_ok());
    }
}
