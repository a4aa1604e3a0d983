//! Sanity checks of a patient run's inputs, each refused with what was found and the flag
//! that accepts it when the input is right after all (exit 62):
//!
//! - **Activity in the field of view vs the injected activity** decayed to the scan time
//!   (not decayed when the image is decay-corrected to administration): more than +20 % is
//!   impossible for a correct calibration (the body cannot hold more than was injected) and
//!   is refused (`--accept-activity-mismatch`); less than −50 % is possible (excretion, a
//!   field of view that misses part of the body) and is a warning.
//! - **CT values that are not HU**: a patient CT always has air in its field of view (−1000
//!   HU), so no voxel below −900 HU suggests a missing rescale or another quantity: a
//!   warning, not a refusal, since synthetic CTs of tissue only are right. Values far below
//!   air are padding outside the reconstruction circle (−2000, −3024 on some scanners).
//! - **Small SPECT/CT overlap**: more than half of the activity outside the CT is refused (the
//!   dose would miss most of the source); above 5 % it is a warning, as before
//!   (`--accept-small-overlap`).

use crate::geometry::Volume;
use crate::io::activity::ActivityProvenance;
use crate::{Error, Result};
use std::path::Path;

/// Above this relative excess of the field-of-view activity over the injected activity (decayed
/// to the scan), the run is refused.
pub const ACTIVITY_EXCESS_REFUSED: f64 = 0.20;

/// Below this relative deficit, a warning.
pub const ACTIVITY_DEFICIT_WARNED: f64 = -0.50;

/// Above this fraction of the activity outside the CT, the run is refused.
pub const OUTSIDE_REFUSED: f64 = 0.50;

/// The checks a user accepted (`--accept-…` flags).
#[derive(Clone, Copy, Debug, Default)]
pub struct Accepted {
    /// `--accept-activity-mismatch`.
    pub activity: bool,
    /// `--accept-small-overlap`.
    pub overlap: bool,
}

fn refuse(check: &'static str, detail: String, flag: &'static str) -> Error {
    Error::SanityCheck {
        check,
        detail,
        flag,
    }
}

/// Compares `fov_bq` (the image's total at the scan, Bq) with the injected activity decayed to
/// the scan; a warning when low. Nothing is checked when the file gives no injected activity or
/// no scan time.
pub fn activity_in_fov(
    path: &Path,
    fov_bq: f64,
    p: &ActivityProvenance,
    half_life_s: f64,
    accepted: bool,
) -> Result<Option<String>> {
    let times = ScanTimes {
        injected_bq: p.injected_activity_bq,
        hours: p.scan_hours_after_injection,
        to_admin: p.decay_correction.as_deref() == Some("ADMIN"),
    };
    compare_activity(path, fov_bq, times, half_life_s, accepted).map_err(|e| match e {
        // Say what the reader noticed that explains it.
        Error::SanityCheck {
            check,
            detail,
            flag,
        } => Error::SanityCheck {
            check,
            detail: p
                .warnings
                .iter()
                .filter(|w| w.contains("RescaleSlope"))
                .fold(detail, |d, w| format!("{d}; the image: {w}")),
            flag,
        },
        e => e,
    })
}

/// What the activity check needs from the image's provenance.
#[derive(Clone, Copy, Debug)]
struct ScanTimes {
    injected_bq: Option<f64>,
    hours: Option<f64>,
    /// The image is decay-corrected to administration.
    to_admin: bool,
}

fn compare_activity(
    path: &Path,
    fov_bq: f64,
    t: ScanTimes,
    half_life_s: f64,
    accepted: bool,
) -> Result<Option<String>> {
    let (Some(injected), Some(hours)) = (t.injected_bq, t.hours) else {
        return Ok(None);
    };
    if !(injected > 0.0 && hours.is_finite()) {
        return Ok(None);
    }
    let to_admin = t.to_admin;
    let expected = if to_admin {
        injected
    } else {
        injected * (-std::f64::consts::LN_2 * hours * 3600.0 / half_life_s).exp()
    };
    let excess = fov_bq / expected - 1.0;
    let said = format!(
        "{}: the image holds {fov_bq:.4e} Bq in its field of view, the injected {injected:.4e} Bq {} is {expected:.4e} Bq ({:+.1} %)",
        path.display(),
        if to_admin { "(image decay-corrected to administration)".to_string() } else { format!("decayed to the scan {hours:.2} h later") },
        100.0 * excess
    );
    if excess > ACTIVITY_EXCESS_REFUSED && !accepted {
        return Err(refuse(
            "activity",
            format!("{said}: more than was injected, so the calibration or units are wrong (a missing RescaleSlope, counts taken as Bq/mL, a wrong injected activity or time)"),
            "--accept-activity-mismatch",
        ));
    }
    let unusual = !(ACTIVITY_DEFICIT_WARNED..=ACTIVITY_EXCESS_REFUSED).contains(&excess);
    Ok(unusual
        .then(|| format!("{said}; check the calibration, the injected activity and the times")))
}

/// A warning for a CT whose values do not look like HU (module doc). Not a refusal:
/// synthetic CTs (a label map converted to HU, test phantoms of tissue only) have no air and
/// are right.
pub fn ct_is_hu(path: &Path, hu: &Volume<f32>) -> Option<String> {
    let min = hu.data.iter().copied().fold(f32::INFINITY, f32::min);
    (min.is_finite() && min > -900.0).then(|| {
        format!("{}: the CT's lowest value is {min:.0}, but a patient CT has air (−1000 HU) in its field of view: if this is a patient scan, its values are likely not HU (a missing RescaleIntercept, or another image given as --ct) and the densities are wrong", path.display())
    })
}

/// Refuses a SPECT most of whose activity lies outside the CT.
pub fn overlap(path: &Path, outside: f64, accepted: bool) -> Result<()> {
    if outside > OUTSIDE_REFUSED && !accepted {
        return Err(refuse(
            "overlap",
            format!("{}: {:.1} % of the activity lies outside the CT, so the dose would miss most of the source: check that the CT and the SPECT are of the same session and frame of reference", path.display(), 100.0 * outside),
            "--accept-small-overlap",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Grid;

    fn prov(injected: f64, hours: f64, correction: &str) -> ScanTimes {
        ScanTimes {
            injected_bq: Some(injected),
            hours: Some(hours),
            to_admin: correction == "ADMIN",
        }
    }

    #[test]
    fn activity_above_injected_is_refused_and_low_activity_warned() {
        // 177Lu, T½ = 6.647 d: after one half-life 3.7 GBq become 1.85 GBq.
        let t = 6.647 * 86400.0;
        let p = prov(3.7e9, t / 3600.0, "START");
        let path = Path::new("pet");
        assert!(compare_activity(path, 1.85e9, p, t, false)
            .unwrap()
            .is_none());
        let e = compare_activity(path, 7.4e10, p, t, false).unwrap_err();
        assert_eq!(e.exit_code(), 62);
        assert!(e.to_string().contains("--accept-activity-mismatch"), "{e}");
        assert!(compare_activity(path, 7.4e10, p, t, true)
            .unwrap()
            .is_some());
        assert!(compare_activity(path, 0.5e9, p, t, false)
            .unwrap()
            .is_some());
        // Decay-corrected to administration: compared with the injected activity itself.
        let admin = prov(3.7e9, t / 3600.0, "ADMIN");
        assert!(compare_activity(path, 3.6e9, admin, t, false)
            .unwrap()
            .is_none());
    }

    #[test]
    fn ct_without_air_is_warned() {
        let grid = Grid::centred([4, 4, 4], 2.0);
        let soft = Volume::filled(grid.clone(), 40.0);
        assert!(ct_is_hu(Path::new("ct"), &soft).is_some());
        let mut with_air = soft.clone();
        with_air.data[0] = -1000.0;
        assert!(ct_is_hu(Path::new("ct"), &with_air).is_none());
    }
}
