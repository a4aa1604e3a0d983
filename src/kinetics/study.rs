//! The study file: cycles of serial scans with their times, read from JSON and validated
//! into a [`Study`] (format documented in `docs/study-file.md`).
//!
//! Responsibility: parse, resolve relative paths against the study file's folder, convert
//! times to hours after administration (a DICOM time point without one takes its DICOM's
//! injection and acquisition times, read here) and activity units to Bq/mL, and refuse anything
//! inconsistent (times not increasing, scans before injection, units missing) with a message
//! that names the cycle, the time point and the fix. Reading the images is left to
//! [`super::pipeline`].
//!
//! Units: `time_h` hours after administration (mid-acquisition when an acquisition duration
//! is given), `injected_activity_bq` Bq, activity scale factor to Bq/mL.

use super::fit::Criterion;
use super::models::TacModel;
use super::partial_volume::{PartialVolumeSpec, RawPartialVolume};
use super::stp::StpMethod;
use super::KineticsError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How voxel values are expressed in the images.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ActivityUnit {
    /// Concentration; the factor converts the image unit to Bq/mL (1 for Bq/mL, 1e3 for
    /// kBq/mL, 1e6 for MBq/mL).
    PerMl {
        /// Multiply image values by this to get Bq/mL.
        to_bq_per_ml: f64,
    },
    /// Activity per voxel, Bq.
    BqPerVoxel,
}

impl ActivityUnit {
    /// Parses the study's `units` string.
    pub fn parse(s: &str) -> Option<ActivityUnit> {
        let per_ml = |f| Some(ActivityUnit::PerMl { to_bq_per_ml: f });
        match s.trim() {
            "Bq/mL" | "Bq/ml" | "BQML" => per_ml(1.0),
            "kBq/mL" | "kBq/ml" => per_ml(1e3),
            "MBq/mL" | "MBq/ml" => per_ml(1e6),
            "Bq" | "Bq/voxel" => Some(ActivityUnit::BqPerVoxel),
            _ => None,
        }
    }

    /// Factor from an image value to Bq in a voxel of `voxel_volume_mm3`.
    pub fn to_bq_per_voxel(self, voxel_volume_mm3: f64) -> f64 {
        match self {
            // 1 mL = 1000 mm³.
            ActivityUnit::PerMl { to_bq_per_ml } => to_bq_per_ml * voxel_volume_mm3 / 1000.0,
            ActivityUnit::BqPerVoxel => 1.0,
        }
    }
}

/// How time points are aligned to the reference frame (see [`super::align`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Registration {
    /// Images are already aligned.
    None,
    /// Built-in rigid registration by mutual information ([`super::register`]).
    #[default]
    Rigid,
    /// Rigid, then deformable through elastix (must be installed).
    Deformable,
}

/// How the voxel TIA map is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VoxelMethod {
    /// A fit per voxel (model `voxel_model`), trapezoids where it fails.
    #[default]
    Fit,
    /// Each voxel's activity at the reference time point scaled by its region's Ã/A(t_ref)
    /// (PyTheranostics' approach for noisy voxel TACs); voxels outside regions are fitted.
    RegionScaled,
}

/// Uncertainty inputs (relative, one σ), after EANM 2018 / Gear et al. 2018.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UncertaintyInputs {
    /// Random σ of each time point's activity (counting, segmentation), relative; sets the
    /// fit weights 1/σ².
    pub activity_rel_sigma: f64,
    /// Calibration factor σ, relative; common to all points, so it adds in quadrature to Ã.
    pub calibration_rel_sigma: f64,
    /// Recovery (partial-volume) coefficient σ, relative; adds in quadrature to region Ã.
    pub recovery_rel_sigma: f64,
}

impl Default for UncertaintyInputs {
    fn default() -> Self {
        UncertaintyInputs {
            activity_rel_sigma: 0.1,
            calibration_rel_sigma: 0.0,
            recovery_rel_sigma: 0.0,
        }
    }
}

/// One scan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimePoint {
    /// The image, absolute: a NIfTI in the study's `units`, or a DICOM NM/PT series
    /// (folder or file) read to Bq/mL from its own units ([`super::scan`]).
    pub image: PathBuf,
    /// Hours after administration (mid-acquisition).
    pub time_h: f64,
    /// True when the study gave no time and `time_h` comes from the DICOM's injection and
    /// acquisition times.
    #[serde(default, skip_serializing_if = "is_false")]
    pub time_from_dicom: bool,
    /// Bq/mL per count for a DICOM image in counts (the time point's, else the study's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_bq_ml_per_count: Option<f64>,
    /// The CT acquired with this scan (NIfTI in HU or a DICOM CT folder), absolute; it is
    /// registered to the study's reference CT and the transform applied to the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ct: Option<PathBuf>,
}

/// One administration and its scans.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cycle {
    /// Administered activity, Bq.
    pub injected_activity_bq: f64,
    /// Date of administration as written in the study (e.g. `2026-11-02`), for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Nuclide name (e.g. "Lu-177").
    pub nuclide: String,
    /// Scans in time order.
    pub time_points: Vec<TimePoint>,
}

/// A validated study.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Study {
    /// The study file.
    pub path: PathBuf,
    /// Value unit of the NIfTI images (`None` only when every image is DICOM, which
    /// carries its own units).
    pub units: Option<ActivityUnit>,
    /// Optional label map (non-zero values are regions), absolute.
    pub labels: Option<PathBuf>,
    /// The reference CT (NIfTI in HU or a DICOM CT folder), absolute: its frame is the
    /// study's frame, labels are defined on it, and it can define the transport geometry.
    pub reference_ct: Option<PathBuf>,
    /// Voxels whose peak activity over a cycle's scans is below this fraction of the
    /// largest voxel peak are not fitted (Ã = 0, counted and reported); 0 fits every voxel
    /// with a positive peak.
    pub voxel_threshold: f64,
    /// Label value → region name (from the study; else from the label file, else `label_N`: `io::masks::region_name`).
    pub region_names: BTreeMap<u32, String>,
    /// Alignment of time points.
    pub registration: Registration,
    /// Models tried for region TACs.
    pub models: Vec<TacModel>,
    /// Ranking criterion.
    pub criterion: Criterion,
    /// Voxel map method.
    pub voxel_method: VoxelMethod,
    /// Model fitted per voxel (`None`: chosen from the number of points).
    pub voxel_model: Option<TacModel>,
    /// Single-time-point method used when a cycle has one scan.
    pub stp: StpMethod,
    /// Uncertainty inputs.
    pub uncertainty: UncertaintyInputs,
    /// Partial-volume correction of region activities (default: none).
    pub partial_volume: PartialVolumeSpec,
    /// The cycles in order.
    pub cycles: Vec<Cycle>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimePoint {
    image: Option<PathBuf>,
    hours: Option<f64>,
    days: Option<f64>,
    minutes: Option<f64>,
    /// Acquisition duration in minutes; the time point becomes the mid-acquisition time.
    acquisition_min: Option<f64>,
    time: Option<serde_json::Value>,
    ct: Option<PathBuf>,
    calibration_bq_ml_per_count: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCycle {
    injected_activity_bq: Option<f64>,
    date: Option<String>,
    injected_activity_mbq: Option<f64>,
    nuclide: Option<String>,
    time_points: Vec<RawTimePoint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStudy {
    nuclide: Option<String>,
    units: Option<String>,
    calibration_bq_ml_per_count: Option<f64>,
    labels: Option<PathBuf>,
    reference_ct: Option<PathBuf>,
    voxel_threshold: Option<f64>,
    #[serde(default)]
    region_names: BTreeMap<String, String>,
    #[serde(default)]
    registration: Registration,
    models: Option<Vec<String>>,
    criterion: Option<Criterion>,
    #[serde(default)]
    voxel_method: VoxelMethod,
    voxel_model: Option<String>,
    stp: Option<StpMethod>,
    #[serde(default)]
    uncertainty: UncertaintyInputs,
    partial_volume: Option<RawPartialVolume>,
    cycles: Vec<RawCycle>,
}

impl Study {
    /// Reads and validates a study file.
    pub fn load(path: &Path) -> crate::Result<Study> {
        let text = std::fs::read_to_string(path).map_err(|source| crate::io::InputError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let raw: RawStudy =
            serde_json::from_str(&text).map_err(|e| crate::io::InputError::Malformed {
                path: path.to_path_buf(),
                reason: format!("not a valid study file ({e}); see docs/study-file.md"),
            })?;
        Ok(Study::from_raw(path, raw)?)
    }

    /// Parses study JSON text as if read from `path` (relative paths resolve against its
    /// folder). Only a DICOM time point without a time is opened (for its DICOM times).
    pub fn from_json(path: &Path, text: &str) -> Result<Study, KineticsError> {
        let raw: RawStudy = serde_json::from_str(text).map_err(|e| invalid(path, e.to_string()))?;
        Study::from_raw(path, raw)
    }

    fn from_raw(path: &Path, raw: RawStudy) -> Result<Study, KineticsError> {
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let units = raw
            .units
            .as_deref()
            .map(|u| {
                ActivityUnit::parse(u).ok_or_else(|| {
                    invalid(path, format!("\"units\": \"{u}\" is not an activity unit; use Bq/mL, kBq/mL, MBq/mL or Bq/voxel (counts must be calibrated first)"))
                })
            })
            .transpose()?;
        if units.is_none()
            && raw
                .cycles
                .iter()
                .flat_map(|c| &c.time_points)
                .any(|t| t.image.as_deref().is_some_and(crate::io::ct::is_nifti))
        {
            return Err(invalid(path, "\"units\" is missing: say what the NIfTI image values are, e.g. \"units\": \"Bq/mL\" (also kBq/mL, MBq/mL, Bq/voxel); it may be left out only when every image is a DICOM series, which states its own units".into()));
        }
        if let Some(c) = raw.calibration_bq_ml_per_count {
            check_calibration(path, c, "calibration_bq_ml_per_count")?;
        }
        if raw.cycles.is_empty() {
            return Err(invalid(
                path,
                "\"cycles\" is empty: give at least one cycle with its time points".into(),
            ));
        }
        let models = match raw.models {
            None => TacModel::ALL.to_vec(),
            Some(names) => names
                .iter()
                .map(|n| parse_model(path, n))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let voxel_model = raw
            .voxel_model
            .as_deref()
            .map(|n| parse_model(path, n))
            .transpose()?;
        let mut region_names = BTreeMap::new();
        for (k, v) in raw.region_names {
            let label: u32 = k.parse().map_err(|_| {
                invalid(path, format!("region_names key \"{k}\" is not a label number (use e.g. \"1\": \"kidney_left\")"))
            })?;
            region_names.insert(label, v);
        }
        let u = raw.uncertainty;
        for (name, v) in [
            ("activity_rel_sigma", u.activity_rel_sigma),
            ("calibration_rel_sigma", u.calibration_rel_sigma),
            ("recovery_rel_sigma", u.recovery_rel_sigma),
        ] {
            if !(v.is_finite() && (0.0..1.0).contains(&v)) {
                return Err(invalid(path, format!("uncertainty.{name} = {v} must be a relative σ in [0, 1), e.g. 0.05 for 5 %")));
            }
        }
        if u.activity_rel_sigma <= 0.0 {
            return Err(invalid(
                path,
                "uncertainty.activity_rel_sigma must be > 0: it sets the fit weights".into(),
            ));
        }
        let voxel_threshold = raw.voxel_threshold.unwrap_or(0.0);
        if !(voxel_threshold.is_finite() && (0.0..1.0).contains(&voxel_threshold)) {
            return Err(invalid(path, format!("voxel_threshold = {voxel_threshold} must be a fraction of the largest voxel peak in [0, 1), e.g. 0.001")));
        }
        let partial_volume = match raw.partial_volume {
            None => PartialVolumeSpec::default(),
            Some(pv) => pv.into_spec(&resolve).map_err(|r| invalid(path, r))?,
        };
        let cycles = raw
            .cycles
            .into_iter()
            .enumerate()
            .map(|(ci, c)| {
                let defaults = StudyDefaults {
                    nuclide: raw.nuclide.as_deref(),
                    calibration_bq_ml_per_count: raw.calibration_bq_ml_per_count,
                };
                cycle_from_raw(path, ci, c, &defaults, &resolve)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Study {
            path: path.to_path_buf(),
            units,
            labels: raw.labels.as_deref().map(resolve),
            reference_ct: raw.reference_ct.as_deref().map(resolve),
            voxel_threshold,
            region_names,
            registration: raw.registration,
            models,
            criterion: raw.criterion.unwrap_or(Criterion::Auto),
            voxel_method: raw.voxel_method,
            voxel_model,
            stp: raw.stp.unwrap_or(StpMethod::Haenscheid),
            uncertainty: u,
            partial_volume,
            cycles,
        })
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn invalid(path: &Path, reason: String) -> KineticsError {
    KineticsError::InvalidStudy {
        path: path.to_path_buf(),
        reason,
    }
}

fn parse_model(path: &Path, name: &str) -> Result<TacModel, KineticsError> {
    TacModel::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = TacModel::ALL.iter().map(|m| m.name()).collect();
        invalid(
            path,
            format!("unknown model \"{name}\"; known: {}", known.join(", ")),
        )
    })
}

fn check_calibration(path: &Path, c: f64, what: &str) -> Result<(), KineticsError> {
    if c.is_finite() && c > 0.0 {
        Ok(())
    } else {
        Err(invalid(
            path,
            format!("{what} = {c} must be a positive factor in Bq/mL per count"),
        ))
    }
}

/// What a cycle takes from the study when it does not say.
struct StudyDefaults<'a> {
    nuclide: Option<&'a str>,
    calibration_bq_ml_per_count: Option<f64>,
}

fn cycle_from_raw(
    path: &Path,
    ci: usize,
    c: RawCycle,
    defaults: &StudyDefaults,
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> Result<Cycle, KineticsError> {
    let cn = ci + 1;
    let nuclide = c
        .nuclide
        .or(defaults.nuclide.map(str::to_string))
        .ok_or_else(|| {
            invalid(
                path,
                format!(
                    "cycle {cn}: no nuclide; add \"nuclide\": \"Lu-177\" to the study or the cycle"
                ),
            )
        })?;
    let injected_activity_bq = match (c.injected_activity_bq, c.injected_activity_mbq) {
        (Some(bq), None) => bq,
        (None, Some(mbq)) => mbq * 1e6,
        (None, None) => {
            return Err(invalid(
                path,
                format!("cycle {cn}: \"injected_activity_bq\" is missing (e.g. 7.4e9)"),
            ))
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                path,
                format!("cycle {cn}: give injected_activity_bq or injected_activity_mbq, not both"),
            ))
        }
    };
    if !(injected_activity_bq.is_finite() && injected_activity_bq > 0.0) {
        return Err(invalid(
            path,
            format!("cycle {cn}: injected activity {injected_activity_bq} Bq must be positive"),
        ));
    }
    if c.time_points.is_empty() {
        return Err(invalid(path, format!("cycle {cn}: no time points")));
    }
    if c.time_points.len() > super::voxel::MAX_POINTS {
        return Err(invalid(
            path,
            format!(
                "cycle {cn}: {} time points; at most {} per cycle are supported (split the scans into cycles or drop some)",
                c.time_points.len(),
                super::voxel::MAX_POINTS
            ),
        ));
    }
    let mut time_points = Vec::with_capacity(c.time_points.len());
    for (ti, tp) in c.time_points.into_iter().enumerate() {
        let tn = ti + 1;
        let image = tp.image.as_deref().map(resolve).ok_or_else(|| {
            invalid(
                path,
                format!("cycle {cn}, time point {tn}: \"image\" is missing"),
            )
        })?;
        if tp.time.is_some() {
            return Err(invalid(path, format!("cycle {cn}, time point {tn}: \"time\" has no unit; write \"hours\", \"days\" or \"minutes\" after administration instead")));
        }
        let given: Vec<f64> = [
            tp.hours,
            tp.days.map(|d| d * 24.0),
            tp.minutes.map(|m| m / 60.0),
        ]
        .into_iter()
        .flatten()
        .collect();
        let (start_h, time_from_dicom) = match given.as_slice() {
            [h] => (*h, false),
            [] if !crate::io::ct::is_nifti(&image) => (dicom_start_h(path, cn, tn, &image)?, true),
            [] => return Err(invalid(path, format!("cycle {cn}, time point {tn}: the scan time is missing or has no unit; give \"hours\" (or \"days\", \"minutes\") after administration (a DICOM image may leave it out: its injection and acquisition times are then used)"))),
            _ => return Err(invalid(path, format!("cycle {cn}, time point {tn}: give exactly one of \"hours\", \"days\", \"minutes\""))),
        };
        if let Some(c) = tp.calibration_bq_ml_per_count {
            check_calibration(
                path,
                c,
                &format!("cycle {cn}, time point {tn}: calibration_bq_ml_per_count"),
            )?;
        }
        let acq_h = tp.acquisition_min.unwrap_or(0.0) / 60.0;
        if !(acq_h.is_finite() && acq_h >= 0.0) {
            return Err(invalid(
                path,
                format!("cycle {cn}, time point {tn}: acquisition_min must be ≥ 0"),
            ));
        }
        if !start_h.is_finite() || start_h < 0.0 {
            return Err(invalid(path, format!("cycle {cn}, time point {tn}: scan at {start_h} h is before the injection; times are counted from administration and must be ≥ 0")));
        }
        let time_h = start_h + 0.5 * acq_h;
        if let Some(prev) = time_points.last().map(|p: &TimePoint| p.time_h) {
            if time_h <= prev {
                return Err(invalid(path, format!("cycle {cn}, time point {tn}: times must increase, but {time_h} h follows {prev} h; list scans in time order")));
            }
        }
        time_points.push(TimePoint {
            image,
            time_h,
            time_from_dicom,
            calibration_bq_ml_per_count: tp
                .calibration_bq_ml_per_count
                .or(defaults.calibration_bq_ml_per_count),
            ct: tp.ct.as_deref().map(resolve),
        });
    }
    Ok(Cycle {
        injected_activity_bq,
        date: c.date,
        nuclide,
        time_points,
    })
}

/// Hours from injection to acquisition start that a DICOM time point states.
fn dicom_start_h(path: &Path, cn: usize, tn: usize, image: &Path) -> Result<f64, KineticsError> {
    let times = crate::io::activity::read_header_times(image).map_err(|e| {
        invalid(path, format!("cycle {cn}, time point {tn}: no \"hours\" given and the image's DICOM times cannot be read ({e}); give \"hours\" after administration"))
    })?;
    times.scan_hours_after_injection.ok_or_else(|| {
        invalid(path, format!("cycle {cn}, time point {tn}: no \"hours\" given and {} does not state both the injection ((0018,1078)/(0018,1072): {}) and the acquisition time ({}); give \"hours\" after administration", image.display(), times.injection_time.as_deref().unwrap_or("missing"), times.acquisition_time.as_deref().unwrap_or("missing")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Study, KineticsError> {
        Study::from_json(Path::new("/data/pt1/study.json"), text)
    }

    #[test]
    fn issue_example_parses_and_resolves_paths() {
        let s = load(r#"{"nuclide": "Lu-177", "units": "Bq/mL", "labels": "labels.nii.gz", "cycles":
            [{"injected_activity_bq": 7.4e9, "time_points": [{"image": "spect_004h.nii.gz", "hours": 4},
            {"image": "spect_024h.nii.gz", "hours": 24}]}]}"#)
        .unwrap();
        assert_eq!(
            s.labels.as_deref(),
            Some(Path::new("/data/pt1/labels.nii.gz"))
        );
        assert_eq!(
            s.cycles[0].time_points[1].image,
            Path::new("/data/pt1/spect_024h.nii.gz")
        );
        assert_eq!(s.cycles[0].time_points[1].time_h, 24.0);
        assert_eq!(s.cycles[0].nuclide, "Lu-177");
        assert_eq!(s.units, Some(ActivityUnit::PerMl { to_bq_per_ml: 1.0 }));
    }

    #[test]
    fn days_and_acquisition_time_give_mid_scan_hours() {
        let s = load(
            r#"{"nuclide":"Lu-177","units":"kBq/mL","cycles":[{"injected_activity_mbq":7400,
            "time_points":[{"image":"a.nii","days":1,"acquisition_min":30}]}]}"#,
        )
        .unwrap();
        assert_eq!(s.cycles[0].time_points[0].time_h, 24.25);
        assert_eq!(s.cycles[0].injected_activity_bq, 7.4e9);
    }

    #[test]
    fn times_not_increasing_are_refused_naming_the_point() {
        let e = load(
            r#"{"nuclide":"Lu-177","units":"Bq/mL","cycles":[{"injected_activity_bq":1e9,
            "time_points":[{"image":"a","hours":24},{"image":"b","hours":4}]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("time point 2") && e.contains("must increase"),
            "{e}"
        );
    }

    #[test]
    fn scan_before_injection_is_refused() {
        let e = load(
            r#"{"nuclide":"Lu-177","units":"Bq/mL","cycles":[{"injected_activity_bq":1e9,
            "time_points":[{"image":"a","hours":-1}]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("before the injection"), "{e}");
    }

    #[test]
    fn missing_units_are_refused_with_the_fix() {
        let e = load(
            r#"{"nuclide":"Lu-177","cycles":[{"injected_activity_bq":1e9,
            "time_points":[{"image":"a.nii.gz","hours":1}]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("\"units\" is missing") && e.contains("Bq/mL"),
            "{e}"
        );
        let e = load(
            r#"{"nuclide":"Lu-177","units":"Bq/mL","cycles":[{"injected_activity_bq":1e9,
            "time_points":[{"image":"a","time":4}]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no unit"), "{e}");
        let e = load(
            r#"{"nuclide":"Lu-177","units":"counts","cycles":[{"injected_activity_bq":1e9,
            "time_points":[{"image":"a","hours":4}]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("counts"), "{e}");
    }

    #[test]
    fn reference_ct_and_time_point_cts_resolve_against_the_study_folder() {
        let s = load(
            r#"{"nuclide":"Lu-177","units":"Bq/mL","reference_ct":"ct_ref","cycles":[{"injected_activity_bq":1e9,
            "time_points":[{"image":"a.nii","hours":4,"ct":"ct4.nii.gz"},{"image":"b.nii","hours":24}]}]}"#,
        )
        .unwrap();
        assert_eq!(
            s.reference_ct.as_deref(),
            Some(Path::new("/data/pt1/ct_ref"))
        );
        let tps = &s.cycles[0].time_points;
        assert_eq!(
            tps[0].ct.as_deref(),
            Some(Path::new("/data/pt1/ct4.nii.gz"))
        );
        assert_eq!(tps[1].ct, None);
        let e = load(
            r#"{"nuclide":"Lu-177","units":"Bq/mL","voxel_threshold":2,"cycles":[{"injected_activity_bq":1e9,
            "time_points":[{"image":"a.nii","hours":4}]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("voxel_threshold"), "{e}");
    }

    #[test]
    fn partial_volume_key_parses_scalar_or_three_fwhm_and_refuses_what_is_missing() {
        use crate::kinetics::partial_volume::PvcMethod;
        let base = |pv: &str| {
            format!(
                r#"{{"nuclide":"Lu-177","units":"Bq/mL","partial_volume":{pv},"cycles":[{{"injected_activity_bq":1e9,
                "time_points":[{{"image":"a.nii","hours":4}}]}}]}}"#
            )
        };
        let s = load(&base(r#"{"method":"gtm","psf_fwhm_mm":10}"#)).unwrap();
        assert_eq!(s.partial_volume.method, PvcMethod::Gtm);
        assert_eq!(s.partial_volume.psf_fwhm_mm, Some([10.0; 3]));
        let s = load(&base(r#"{"method":"gtm","psf_fwhm_mm":[9,9,12]}"#)).unwrap();
        assert_eq!(s.partial_volume.psf_fwhm_mm, Some([9.0, 9.0, 12.0]));
        let s = load(&base(r#"{"method":"rc-curve","rc_curve":"rc.json"}"#)).unwrap();
        assert_eq!(
            s.partial_volume.rc_curve.as_deref(),
            Some(Path::new("/data/pt1/rc.json"))
        );
        assert_eq!(
            load(&base(r#"{"method":"none"}"#))
                .unwrap()
                .partial_volume
                .method,
            PvcMethod::None
        );
        for (bad, says) in [
            (r#"{"method":"rc-curve"}"#, "rc_curve"),
            (r#"{"method":"deconvolve"}"#, "unknown"),
            (r#"{"method":"gtm","psf_fwhm_mm":-3}"#, "psf_fwhm_mm"),
            (r#"{"method":"gtm","psf_mm":10}"#, "psf_mm"),
            (r#"{"psf_fwhm_mm":10}"#, "method"),
        ] {
            let e = load(&base(bad)).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn units_may_be_left_out_only_when_every_image_is_dicom() {
        let s = load(
            r#"{"nuclide":"Lu-177","calibration_bq_ml_per_count":2.5,"cycles":[{"injected_activity_bq":1e9,
            "time_points":[{"image":"nm_4h","hours":4},{"image":"nm_24h","hours":24,"calibration_bq_ml_per_count":3}]}]}"#,
        )
        .unwrap();
        assert_eq!(s.units, None);
        let tps = &s.cycles[0].time_points;
        assert_eq!(tps[0].calibration_bq_ml_per_count, Some(2.5));
        assert_eq!(tps[1].calibration_bq_ml_per_count, Some(3.0));
        assert!(!tps[0].time_from_dicom);
        let e = load(
            r#"{"nuclide":"Lu-177","cycles":[{"injected_activity_bq":1e9,
            "time_points":[{"image":"nm_4h","hours":4},{"image":"b.nii.gz","hours":24}]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("\"units\" is missing") && e.contains("DICOM"),
            "{e}"
        );
        let e = load(
            r#"{"nuclide":"Lu-177","calibration_bq_ml_per_count":-1,"cycles":[{"injected_activity_bq":1e9,
            "time_points":[{"image":"nm_4h","hours":4}]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("calibration_bq_ml_per_count"), "{e}");
        // A DICOM time point without a time needs its DICOM times: here there is no file.
        let e = load(
            r#"{"nuclide":"Lu-177","cycles":[{"injected_activity_bq":1e9,
            "time_points":[{"image":"nm_4h"}]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("DICOM times cannot be read"), "{e}");
    }

    #[test]
    fn bq_per_ml_converts_with_voxel_volume() {
        // 4.8 mm cubic voxels: 110.592 mm³ = 0.110592 mL.
        let u = ActivityUnit::parse("kBq/mL").unwrap();
        assert!((u.to_bq_per_voxel(4.8f64.powi(3)) - 110.592).abs() < 1e-9);
    }
}
