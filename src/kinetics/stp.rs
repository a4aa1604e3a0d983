//! Single-time-point (STP) estimates of the time-integrated activity.
//!
//! Units: time in h, activity in the caller's unit, Ã in activity·h.
//!
//! - **Hänscheid** (Hänscheid et al., J Nucl Med 2018;59:75): Ã ≈ 2t·A(t)/ln2. For a
//!   mono-exponential curve the ratio to the truth is 2x·2^(−x) with x = t/T_eff: exact at
//!   x = 1, at most 2/(e·ln2) − 1 ≈ 6.2 % high at x = 1/ln2 ≈ 1.44, within 10 % for
//!   0.76 ≤ x ≤ 2.4 (DOMAIN.md §4.5).
//! - **Population effective half-life** (mono-exponential with a prior T_eff, e.g. from a
//!   population or an earlier cycle): Ã = A(t)·e^(λt)/λ, λ = ln2/T_eff.
//!
//! The time point used is returned with the estimate so reports can state it.

use serde::{Deserialize, Serialize};
use std::f64::consts::LN_2;

/// Which STP method.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum StpMethod {
    /// Hänscheid's 2t·A(t)/ln2.
    Haenscheid,
    /// Mono-exponential with a known population effective half-life.
    PopulationHalfLife {
        /// Population (or earlier-cycle) effective half-life, h.
        effective_half_life_h: f64,
    },
}

/// An STP estimate and the point it used.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StpEstimate {
    /// The method.
    pub method: StpMethod,
    /// Time of the scan used, h after administration.
    pub time_h: f64,
    /// Activity at that time.
    pub activity: f64,
    /// Ã in activity·h.
    pub tia_h: f64,
}

/// Applies `method` to the activity `activity` measured at `time_h`.
pub fn stp_tia(method: StpMethod, time_h: f64, activity: f64) -> StpEstimate {
    let tia_h = match method {
        StpMethod::Haenscheid => 2.0 * time_h * activity / LN_2,
        StpMethod::PopulationHalfLife {
            effective_half_life_h,
        } => {
            let l = LN_2 / effective_half_life_h;
            activity * (l * time_h).exp() / l
        }
    };
    StpEstimate {
        method,
        time_h,
        activity,
        tia_h,
    }
}

/// Ratio of the Hänscheid estimate to the true Ã for a mono-exponential curve scanned at
/// `x` = t/T_eff: 2x·2^(−x).
pub fn haenscheid_ratio_mono(x: f64) -> f64 {
    2.0 * x * (-LN_2 * x).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn population_half_life_is_exact_for_its_own_curve() {
        let (a0, t_eff) = (1000.0, 50.0);
        let t = 72.0;
        let a = a0 * (-LN_2 * t / t_eff).exp();
        let est = stp_tia(
            StpMethod::PopulationHalfLife {
                effective_half_life_h: t_eff,
            },
            t,
            a,
        );
        let truth = a0 * t_eff / LN_2;
        assert!((est.tia_h - truth).abs() < 1e-9 * truth);
        assert_eq!(est.time_h, 72.0);
    }
}
