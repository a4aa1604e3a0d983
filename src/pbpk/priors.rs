//! Population distributions of model parameters: the priors of a patient fit and the
//! population a virtual trial samples from. One JSON format serves both:
//!
//! ```json
//! {
//!   "source": "where the numbers come from",
//!   "parameters": {
//!     "k_on":     {"distribution": "lognormal", "median": 0.046, "cv": 0.3},
//!     "Rden_SG":  {"distribution": "lognormal", "median": 38, "sigma_ln": 0.5},
//!     "F_Kidney": {"distribution": "normal", "mean": 0.7, "sd": 0.1}
//!   },
//!   "tissues": {
//!     "Kidney": {"alpha_beta_gy": 2.6, "t_rep_h": 2.8, "limit_bed_gy": 40, "limit_dose_gy": 23}
//!   }
//! }
//! ```
//!
//! Log-normal: `median` and one of `sigma_ln` (σ of ln θ), `gsd` (geometric SD, σ = ln gsd)
//! or `cv` (σ = sqrt(ln(1 + cv²))). Normal: `mean`, `sd`, truncated to θ > 0 (sampled by
//! inversion within the positive part). Uniform: `min`, `max`. `tissues` (trial only)
//! give each organ's linear-quadratic parameters and limits. Unknown keys are refused.

use super::PbpkError;
use serde::Deserialize;
use statrs::distribution::{ContinuousCDF, Normal};
use std::collections::BTreeMap;
use std::path::Path;

/// One parameter's distribution, as written.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "distribution", rename_all = "lowercase", deny_unknown_fields)]
pub enum Spec {
    /// ln θ ~ N(ln median, σ²).
    Lognormal {
        /// Median.
        median: f64,
        /// σ of ln θ.
        sigma_ln: Option<f64>,
        /// Geometric SD.
        gsd: Option<f64>,
        /// Coefficient of variation.
        cv: Option<f64>,
    },
    /// θ ~ N(mean, sd²) truncated to θ > 0.
    Normal {
        /// Mean.
        mean: f64,
        /// SD.
        sd: f64,
    },
    /// θ ~ U(min, max).
    Uniform {
        /// Lower end.
        min: f64,
        /// Upper end.
        max: f64,
    },
}

/// A validated distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// ln θ ~ N(ln median, σ²).
    LogNormal {
        /// Median.
        median: f64,
        /// σ of ln θ.
        sigma_ln: f64,
    },
    /// θ ~ N(mean, sd²), θ > 0.
    Normal {
        /// Mean.
        mean: f64,
        /// SD.
        sd: f64,
    },
    /// θ ~ U(min, max).
    Uniform {
        /// Lower end.
        min: f64,
        /// Upper end.
        max: f64,
    },
}

impl Distribution {
    /// The value at cumulative probability `u` ∈ (0, 1) (inversion sampling).
    pub fn quantile(&self, u: f64) -> f64 {
        let z = |p: f64| Normal::standard().inverse_cdf(p);
        match *self {
            Distribution::LogNormal { median, sigma_ln } => median * (sigma_ln * z(u)).exp(),
            Distribution::Normal { mean, sd } => {
                let p0 = Normal::standard().cdf(-mean / sd);
                mean + sd * z(p0 + u * (1.0 - p0))
            }
            Distribution::Uniform { min, max } => min + u * (max - min),
        }
    }

    /// The prior's residual for a MAP fit in φ = ln θ: (φ − ln median)/σ for a log-normal,
    /// (θ − mean)/sd for a normal, 0 inside a uniform's range (its bounds are enforced by
    /// the fit). Its square is −2 ln prior up to a constant.
    pub fn residual(&self, theta: f64) -> f64 {
        match *self {
            Distribution::LogNormal { median, sigma_ln } => (theta.ln() - median.ln()) / sigma_ln,
            Distribution::Normal { mean, sd } => (theta - mean) / sd,
            Distribution::Uniform { .. } => 0.0,
        }
    }

    /// A typical value (median, mean or midpoint), where a fit starts.
    pub fn center(&self) -> f64 {
        match *self {
            Distribution::LogNormal { median, .. } => median,
            Distribution::Normal { mean, .. } => mean,
            Distribution::Uniform { min, max } => 0.5 * (min + max),
        }
    }

    /// The range a fitted value may take (a uniform's bounds, else (0, ∞)).
    pub fn bounds(&self) -> (f64, f64) {
        match *self {
            Distribution::Uniform { min, max } => (min.max(f64::MIN_POSITIVE), max),
            _ => (f64::MIN_POSITIVE, f64::INFINITY),
        }
    }
}

/// Linear-quadratic parameters and limits of one organ.
#[derive(Clone, Debug, Deserialize, PartialEq, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tissue {
    /// α/β, Gy.
    pub alpha_beta_gy: f64,
    /// Repair half-time, h.
    pub t_rep_h: f64,
    /// BED limit, Gy.
    pub limit_bed_gy: Option<f64>,
    /// Absorbed-dose limit, Gy.
    pub limit_dose_gy: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    source: Option<String>,
    parameters: BTreeMap<String, Spec>,
    #[serde(default)]
    tissues: BTreeMap<String, Tissue>,
}

/// A population: parameter distributions by model name, and tissue parameters by organ.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Population {
    /// Where the numbers come from (free text).
    pub source: Option<String>,
    /// (parameter name, distribution), sorted by name.
    pub parameters: Vec<(String, Distribution)>,
    /// Organ → tissue parameters.
    pub tissues: BTreeMap<String, Tissue>,
}

impl Population {
    /// Reads and validates a population (or prior) file.
    pub fn load(path: &Path) -> Result<Population, PbpkError> {
        let bad = |reason: String| PbpkError::InvalidInput {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let f: File = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let mut parameters = Vec::new();
        for (name, spec) in f.parameters {
            let d = validate(&spec).map_err(|r| bad(format!("parameter '{name}': {r}")))?;
            parameters.push((name, d));
        }
        for (organ, t) in &f.tissues {
            if !(t.alpha_beta_gy > 0.0 && t.t_rep_h > 0.0) {
                return Err(bad(format!(
                    "tissue '{organ}': alpha_beta_gy and t_rep_h must be > 0"
                )));
            }
        }
        Ok(Population {
            source: f.source,
            parameters,
            tissues: f.tissues,
        })
    }

    /// The distribution of `name`, if given.
    pub fn get(&self, name: &str) -> Option<Distribution> {
        self.parameters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| *d)
    }
}

fn validate(s: &Spec) -> Result<Distribution, String> {
    let pos = |x: f64, what: &str| {
        if x > 0.0 && x.is_finite() {
            Ok(x)
        } else {
            Err(format!("{what} = {x} must be finite and > 0"))
        }
    };
    Ok(match *s {
        Spec::Lognormal {
            median,
            sigma_ln,
            gsd,
            cv,
        } => {
            let sigma = match (sigma_ln, gsd, cv) {
                (Some(s), None, None) => pos(s, "sigma_ln")?,
                (None, Some(g), None) => pos(pos(g, "gsd")?.ln(), "ln gsd")?,
                (None, None, Some(c)) => (1.0 + pos(c, "cv")?.powi(2)).ln().sqrt(),
                _ => return Err("give exactly one of sigma_ln, gsd, cv".into()),
            };
            Distribution::LogNormal {
                median: pos(median, "median")?,
                sigma_ln: sigma,
            }
        }
        Spec::Normal { mean, sd } => Distribution::Normal {
            mean: pos(mean, "mean")?,
            sd: pos(sd, "sd")?,
        },
        Spec::Uniform { min, max } => {
            if !(min >= 0.0 && max > min && max.is_finite()) {
                return Err(format!("uniform [{min}, {max}] needs 0 ≤ min < max"));
            }
            Distribution::Uniform { min, max }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lognormal_quantiles_follow_the_median_and_sigma() {
        let d = Distribution::LogNormal {
            median: 2.0,
            sigma_ln: 0.5,
        };
        assert!((d.quantile(0.5) - 2.0).abs() < 1e-12);
        // z(0.975) = 1.959964 (standard normal table)
        assert!((d.quantile(0.975) - 2.0 * (0.5f64 * 1.959964).exp()).abs() < 1e-5);
    }

    #[test]
    fn truncated_normal_samples_stay_positive() {
        let d = Distribution::Normal { mean: 0.1, sd: 1.0 };
        assert!(d.quantile(1e-9) > 0.0);
        assert!((d.quantile(0.5) - d.quantile(0.5)).abs() == 0.0);
    }

    #[test]
    fn cv_converts_to_sigma_ln() {
        let d = validate(&Spec::Lognormal {
            median: 1.0,
            sigma_ln: None,
            gsd: None,
            cv: Some(0.3),
        })
        .unwrap();
        let Distribution::LogNormal { sigma_ln, .. } = d else {
            panic!()
        };
        assert!((sigma_ln - (1.09f64).ln().sqrt()).abs() < 1e-12);
        assert!(validate(&Spec::Lognormal {
            median: 1.0,
            sigma_ln: Some(1.0),
            gsd: None,
            cv: Some(0.3)
        })
        .is_err());
    }
}
