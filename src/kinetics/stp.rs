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

/// Earliest scan (h after administration) Hänscheid's rule is applied to. The rule takes
/// T_eff ≈ t: within 10 % only for 0.76 ≤ t/T_eff ≤ 2.4 (module doc), and it was derived for
/// scans at 3–4 days after 177Lu-DOTATATE/PSMA (Hänscheid et al. 2018). An earlier scan
/// holds no information about T_eff and would give Ã for T_eff ≈ t (a few hours), an
/// underestimate by an order of magnitude for therapeutic agents, so it is refused.
pub const HAENSCHEID_MIN_SCAN_H: f64 = 24.0;

/// Checks that Hänscheid's rule may be applied to a scan at `time_h`; the refusal says why
/// and what to do instead.
pub fn haenscheid_applicable(time_h: f64) -> Result<(), String> {
    if time_h >= HAENSCHEID_MIN_SCAN_H {
        return Ok(());
    }
    Err(format!(
        "Hänscheid's single-time-point rule assumes the effective half-life is close to the scan time, so a scan at {time_h:.1} h would give Ã for T_eff ≈ {time_h:.1} h (within 10 % only if T_eff lies between {:.1} and {:.1} h); it needs a scan at ≥ {HAENSCHEID_MIN_SCAN_H} h (published for 3–4 days): use a later scan, several scans, or the population-half-life method with a known T_eff",
        time_h / 2.4,
        time_h / 0.76
    ))
}

/// The effective half-life Hänscheid's rule implies for a scan at `time_h`: the rule is
/// exact when T_eff = t, which is what it assumes (reported instead of "unknown").
pub fn haenscheid_implied_t_eff_h(time_h: f64) -> f64 {
    time_h
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
    fn haenscheid_refuses_early_scans_and_implies_t_eff_equal_to_scan_time() {
        let e = haenscheid_applicable(4.0).unwrap_err();
        assert!(
            e.contains("4.0 h") && e.contains("population-half-life"),
            "{e}"
        );
        assert!(haenscheid_applicable(72.0).is_ok());
        // The rule is exact at t = T_eff: 2t·A(t)/ln2 = A0·T/ln2 when A(t) = A0/2.
        let t = haenscheid_implied_t_eff_h(72.0);
        assert!((haenscheid_ratio_mono(72.0 / t) - 1.0).abs() < 1e-12);
    }

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
