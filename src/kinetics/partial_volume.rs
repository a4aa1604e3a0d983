//! Partial-volume correction (PVC) of region activities: what a study's `partial_volume`
//! key (or `voxdose fit --pvc`) asks for, set up once per study and applied to every scan.
//!
//! Responsibility: the settings and their command-line override, the PSF to use (and where
//! it came from), the geometric transfer matrix (GTM) and the recovery-coefficient (RC)
//! scaling, each giving per region and scan the corrected activity and its σ. The pipeline
//! ([`super::pipeline`]) fits the corrected region TACs, rescales the voxel TIA map per
//! region and writes what was done.
//!
//! Units: activities in Bq (region sums of Bq-per-voxel frames), volumes in mL, FWHM in mm.
//!
//! **GTM** (Rousset OG, Ma Y, Evans AC. Correction for partial volume effects in PET:
//! principle and validation. J Nucl Med 1998;39:904–911). Regions j = every labelled region
//! plus the background (the body outside them: the reference CT's body outline, HU > −500
//! with enclosed air such as lung filled; without a reference CT every unlabelled voxel of
//! the field of view). Each region's spread function RSF_j is its indicator blurred by the
//! PSF ([`super::psf`]); W_ij = mean of RSF_j over region i. If each region holds a uniform
//! concentration c_j, the mean the scan shows in region i is t_i = Σ_j W_ij c_j; solving
//! W c = t per scan gives c, and the corrected activity of region j is c_j × its voxels.
//! W depends only on the labels and the PSF, so it is built and factorised once.
//! **Conditioning.** κ = σ_max/σ_min of W (SVD) bounds how much a relative error in the
//! observed means can grow in c. Above [`COND_WARN`] the log names the regions whose row of
//! W⁻¹ is largest (their estimates carry the noise); above [`COND_MAX`] the correction is
//! refused: such a W comes from regions much smaller than the PSF lying against each
//! other, whose split is not determined by the data; merge or drop them, or use `rc-curve`.
//! Both limits are round numbers, not tuned. A negative c (noise in a tiny region) is set
//! to 0 and logged.
//!
//! **RC curve** ([`super::recovery`]): per region of volume V, C = C_bg + (C̄ − C_bg)/RC(V)
//! (RC of a labelled region on the map grid's voxels),
//! with C̄ the region's mean and C_bg the local background: the mean of unlabelled voxels
//! 1.5–2.5 × FWHM (the curve's effective FWHM) from the region and at least 1.5 × FWHM from
//! any other region (if fewer than 10 such voxels, labelled ones are allowed). This is the
//! RC definition of `voxdose recovery` used backwards; for a cold background it is
//! A/RC(V). It assumes a sphere: a region of the same volume with more surface (a kidney)
//! recovers less than the sphere, so it is under-corrected.
//!
//! **Uncertainty** (EANM 2018, Gear et al. EJNMMI 2018;45:2456). The correction's σ is
//! systematic across a cycle's scans, so per scan σ are added linearly with the weights of
//! the trapezoidal Ã (a physical-decay tail after the last scan) to give one relative σ
//! u_PVC of the region's Ã, which enters the total in quadrature with the fit, calibration
//! and `recovery_rel_sigma` terms. GTM: the PSF FWHM σ (from the fit of `rc.json`, the
//! study's `psf_fwhm_rel_sigma`, [`DEFAULT_FWHM_REL_SIGMA`] for a given FWHM, or the default
//! table's) by central differences: the GTM solved with FWHM × (1 ± u_F). RC curve: σ_RC(V)
//! from the curve's covariance, times |C̄ − C_bg|/RC² per scan.

use super::psf::{self, GaussianPsf};
use super::recovery::RcCurve;
use crate::geometry::{Grid, Volume};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// κ(W) above which the log warns (module doc).
pub const COND_WARN: f64 = 20.0;
/// κ(W) above which GTM refuses (module doc).
pub const COND_MAX: f64 = 1000.0;
/// Relative σ of a FWHM that is given without one.
pub const DEFAULT_FWHM_REL_SIGMA: f64 = 0.1;
/// HU above which a reference-CT voxel is body for the GTM background.
const BODY_HU: f32 = -500.0;
/// Local background shell for the RC method, in FWHM: inner and outer distance.
const SHELL_FWHM: [f64; 2] = [1.5, 2.5];
/// Fewest voxels for an unlabelled local-background shell.
const SHELL_MIN_VOXELS: usize = 10;

/// Partial-volume correction that cannot be done, or a recovery curve that cannot be
/// measured or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PvcError {
    /// The GTM is too poorly conditioned to solve.
    #[error("GTM correction refused: the transfer matrix has condition number {condition_number:.3e} (> {COND_MAX}); the regions {regions} are too small for the PSF and lie against others, so their activities are not determined by the scan. Merge or drop them in the label map, or use \"method\": \"rc-curve\"")]
    IllConditioned {
        /// κ(W).
        condition_number: f64,
        /// The regions with the largest noise gain, comma separated.
        regions: String,
    },
    /// No PSF FWHM is known for GTM.
    #[error("partial-volume correction: {reason}")]
    NoPsf {
        /// What is missing and how to give it.
        reason: String,
    },
    /// The phantom scan does not allow a recovery measurement.
    #[error("recovery measurement: {reason}")]
    RecoveryMeasurement {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// An `rc.json` that cannot be used.
    #[error("recovery curve {path}: {reason}")]
    InvalidRcCurve {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

impl PvcError {
    /// Exit code of this error's class (see `crate::error`).
    pub fn exit_code(&self) -> i32 {
        match self {
            PvcError::IllConditioned { .. } => 35,
            PvcError::NoPsf { .. } => 36,
            PvcError::RecoveryMeasurement { .. } => 37,
            PvcError::InvalidRcCurve { .. } => 38,
        }
    }
}

/// Which correction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PvcMethod {
    /// No correction (the default).
    #[default]
    None,
    /// Geometric transfer matrix over all regions and the background.
    Gtm,
    /// Recovery coefficient of the region's volume from a measured curve.
    RcCurve,
}

impl PvcMethod {
    /// Parses "gtm", "rc-curve", "none".
    pub fn parse(s: &str) -> Option<PvcMethod> {
        match s.trim() {
            "none" => Some(PvcMethod::None),
            "gtm" => Some(PvcMethod::Gtm),
            "rc-curve" => Some(PvcMethod::RcCurve),
            _ => None,
        }
    }

    /// The name as written in study files.
    pub fn name(self) -> &'static str {
        match self {
            PvcMethod::None => "none",
            PvcMethod::Gtm => "gtm",
            PvcMethod::RcCurve => "rc-curve",
        }
    }
}

/// The study's `partial_volume` settings (`docs/study-file.md`), paths absolute.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct PartialVolumeSpec {
    /// The method.
    pub method: PvcMethod,
    /// PSF FWHM along the map grid's i, j, k axes, mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psf_fwhm_mm: Option<[f64; 3]>,
    /// Relative σ of `psf_fwhm_mm` (default [`DEFAULT_FWHM_REL_SIGMA`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psf_fwhm_rel_sigma: Option<f64>,
    /// A recovery curve from `voxdose recovery`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rc_curve: Option<PathBuf>,
    /// Collimator name for the default PSF (e.g. "MEGP"; default ME).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collimator: Option<String>,
    /// Whether the reconstruction modelled the collimator response (default PSF; default
    /// true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_recovery: Option<bool>,
}

/// Command-line values that replace the study's (`voxdose fit --pvc … --psf-fwhm-mm …
/// --rc-curve …`); `None` keeps the study's. Serde, so a run configuration can carry it.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PartialVolumeOverride {
    /// Replaces `method`.
    pub method: Option<PvcMethod>,
    /// Replaces `psf_fwhm_mm` (one value: isotropic).
    pub psf_fwhm_mm: Option<[f64; 3]>,
    /// Replaces `rc_curve`.
    pub rc_curve: Option<PathBuf>,
}

impl PartialVolumeOverride {
    /// From command-line text: `--pvc NAME`, `--psf-fwhm-mm` with one or three values,
    /// `--rc-curve PATH`. Errors name the flag.
    pub fn from_flags(
        method: Option<&str>,
        psf_fwhm_mm: &[f64],
        rc_curve: Option<&Path>,
    ) -> crate::Result<PartialVolumeOverride> {
        let method = method
            .map(|m| {
                PvcMethod::parse(m).ok_or_else(|| crate::Error::UnknownName {
                    what: "partial-volume method",
                    name: m.to_string(),
                    known: "gtm, rc-curve, none".into(),
                })
            })
            .transpose()?;
        let psf_fwhm_mm = match psf_fwhm_mm {
            [] => None,
            [f] => Some([*f; 3]),
            [x, y, z] => Some([*x, *y, *z]),
            other => {
                return Err(crate::Error::invalid(
                    "--psf-fwhm-mm",
                    format!(
                        "{} values; give one (isotropic) or three (x,y,z), e.g. 10 or 10,10,12",
                        other.len()
                    ),
                ))
            }
        };
        if let Some(f) = psf_fwhm_mm {
            check_fwhm(f).map_err(|r| crate::Error::invalid("--psf-fwhm-mm", r))?;
        }
        Ok(PartialVolumeOverride {
            method,
            psf_fwhm_mm,
            rc_curve: rc_curve.map(Path::to_path_buf),
        })
    }
}

fn check_fwhm(f: [f64; 3]) -> Result<(), String> {
    if f.iter().all(|v| v.is_finite() && *v > 0.0 && *v < 200.0) {
        Ok(())
    } else {
        Err(format!(
            "{f:?} mm; each FWHM must be a length in (0, 200) mm, e.g. 10"
        ))
    }
}

impl PartialVolumeSpec {
    /// The settings with `o`'s values in place of the study's.
    pub fn with_override(&self, o: Option<&PartialVolumeOverride>) -> PartialVolumeSpec {
        let mut s = self.clone();
        if let Some(o) = o {
            if let Some(m) = o.method {
                s.method = m;
            }
            if o.psf_fwhm_mm.is_some() {
                s.psf_fwhm_mm = o.psf_fwhm_mm;
            }
            if o.rc_curve.is_some() {
                s.rc_curve.clone_from(&o.rc_curve);
            }
        }
        s
    }

    /// Checks the settings hang together; the reason names the key and the fix.
    pub fn check(&self) -> Result<(), String> {
        if let Some(f) = self.psf_fwhm_mm {
            check_fwhm(f).map_err(|r| format!("partial_volume.psf_fwhm_mm = {r}"))?;
        }
        if let Some(u) = self.psf_fwhm_rel_sigma {
            if !(u.is_finite() && (0.0..0.5).contains(&u)) {
                return Err(format!("partial_volume.psf_fwhm_rel_sigma = {u} must be a relative σ in [0, 0.5), e.g. 0.1"));
            }
        }
        if self.method == PvcMethod::RcCurve && self.rc_curve.is_none() {
            return Err("partial_volume method \"rc-curve\" needs \"rc_curve\": the rc.json written by `voxdose recovery` (or --rc-curve)".into());
        }
        Ok(())
    }
}

/// The study file's `partial_volume` object as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPartialVolume {
    method: Option<String>,
    psf_fwhm_mm: Option<RawFwhm>,
    psf_fwhm_rel_sigma: Option<f64>,
    rc_curve: Option<PathBuf>,
    collimator: Option<String>,
    resolution_recovery: Option<bool>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum RawFwhm {
    One(f64),
    Three([f64; 3]),
}

impl RawPartialVolume {
    /// Validated settings; `resolve` makes `rc_curve` absolute.
    pub(crate) fn into_spec(
        self,
        resolve: &dyn Fn(&Path) -> PathBuf,
    ) -> Result<PartialVolumeSpec, String> {
        let method = match self.method.as_deref() {
            None => return Err("partial_volume needs \"method\": \"gtm\", \"rc-curve\" or \"none\"".into()),
            Some(m) => PvcMethod::parse(m).ok_or_else(|| {
                format!("partial_volume method \"{m}\" is unknown; use \"gtm\", \"rc-curve\" or \"none\"")
            })?,
        };
        let spec = PartialVolumeSpec {
            method,
            psf_fwhm_mm: self.psf_fwhm_mm.map(|f| match f {
                RawFwhm::One(v) => [v; 3],
                RawFwhm::Three(v) => v,
            }),
            psf_fwhm_rel_sigma: self.psf_fwhm_rel_sigma,
            rc_curve: self.rc_curve.as_deref().map(resolve),
            collimator: self.collimator,
            resolution_recovery: self.resolution_recovery,
        };
        spec.check()?;
        Ok(spec)
    }
}

/// The PSF a correction uses and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResolvedPsf {
    /// The PSF.
    pub psf: GaussianPsf,
    /// Relative one-σ of its FWHM.
    pub fwhm_rel_sigma: f64,
    /// Where it came from, in words.
    pub source: String,
    /// True when it is a default, not given or measured.
    pub assumed: bool,
}

/// What the first scan's DICOM says about the camera, for the PSF when the study gives none.
#[derive(Clone, Copy, Debug)]
pub struct ScanCamera<'a> {
    /// The camera tags.
    pub camera: &'a crate::io::activity::CameraInfo,
    /// The series, for the PSF's `source`.
    pub path: &'a Path,
}

/// The PSF for GTM, in order: the study or command line's FWHM; the effective FWHM fitted
/// in the `rc_curve` file; the first scan's DICOM SpatialResolution (0018,1050) when it
/// states one; the documented default ([`psf::default_fwhm`], assumed, with a warning) for
/// the study's `collimator`, else the DICOM's CollimatorGridName (0018,1180), else ME.
pub fn resolve_psf(
    spec: &PartialVolumeSpec,
    rc: Option<&RcCurve>,
    nuclide: &str,
    scan: Option<ScanCamera>,
) -> Result<ResolvedPsf, PvcError> {
    if let Some(f) = spec.psf_fwhm_mm {
        return Ok(ResolvedPsf {
            psf: GaussianPsf::new(f),
            fwhm_rel_sigma: spec.psf_fwhm_rel_sigma.unwrap_or(DEFAULT_FWHM_REL_SIGMA),
            source: "psf_fwhm_mm of the study or --psf-fwhm-mm".into(),
            assumed: false,
        });
    }
    if let Some(c) = rc {
        let (f, s) = c.effective_fwhm_mm();
        if f > 0.0 {
            return Ok(ResolvedPsf {
                psf: GaussianPsf::isotropic(f),
                fwhm_rel_sigma: spec.psf_fwhm_rel_sigma.unwrap_or(if s > 0.0 {
                    s / f
                } else {
                    DEFAULT_FWHM_REL_SIGMA
                }),
                source: "effective FWHM fitted to the phantom spheres of rc_curve".into(),
                assumed: false,
            });
        }
    }
    if let Some(sc) = scan {
        if let Some(r) = sc.camera.spatial_resolution_mm {
            return Ok(ResolvedPsf {
                psf: GaussianPsf::isotropic(r),
                fwhm_rel_sigma: spec.psf_fwhm_rel_sigma.unwrap_or(DEFAULT_FWHM_REL_SIGMA),
                source: format!(
                    "DICOM (0018,1050) SpatialResolution of the first scan {}",
                    sc.path.display()
                ),
                assumed: false,
            });
        }
        let dicom_collimator = sc.camera.collimator.as_deref();
        if let (None, Some(c)) = (spec.collimator.as_deref(), dicom_collimator) {
            if let Some(d) = psf::default_fwhm(nuclide, Some(c), spec.resolution_recovery) {
                return Ok(ResolvedPsf {
                    psf: GaussianPsf::isotropic(d.fwhm_mm),
                    fwhm_rel_sigma: spec.psf_fwhm_rel_sigma.unwrap_or(d.rel_sigma),
                    source: format!(
                        "ASSUMED from the collimator {c:?} of the first scan's DICOM (0018,1180) CollimatorGridName, {}: {}",
                        sc.path.display(),
                        d.basis
                    ),
                    assumed: true,
                });
            }
        }
    }
    match psf::default_fwhm(nuclide, spec.collimator.as_deref(), spec.resolution_recovery) {
        Some(d) => Ok(ResolvedPsf {
            psf: GaussianPsf::isotropic(d.fwhm_mm),
            fwhm_rel_sigma: spec.psf_fwhm_rel_sigma.unwrap_or(d.rel_sigma),
            source: format!("ASSUMED: {}", d.basis),
            assumed: true,
        }),
        None => Err(PvcError::NoPsf {
            reason: format!(
                "no PSF FWHM for {nuclide} with a {} collimator: give \"psf_fwhm_mm\" in the study's partial_volume (or --psf-fwhm-mm), or an \"rc_curve\" measured with `voxdose recovery`",
                spec.collimator.as_deref().unwrap_or("ME")
            ),
        }),
    }
}

/// The PSF an emission series' DICOM implies: SpatialResolution (0018,1050) when the
/// series states it, else the default for its collimator ([`psf::default_fwhm`]; assumed);
/// `None` when neither applies.
pub fn psf_from_camera(
    camera: &crate::io::activity::CameraInfo,
    nuclide: &str,
) -> Option<ResolvedPsf> {
    if let Some(r) = camera.spatial_resolution_mm {
        return Some(ResolvedPsf {
            psf: GaussianPsf::isotropic(r),
            fwhm_rel_sigma: DEFAULT_FWHM_REL_SIGMA,
            source: "DICOM (0018,1050) SpatialResolution of the series".into(),
            assumed: false,
        });
    }
    let d = psf::default_fwhm(nuclide, camera.collimator.as_deref(), None)?;
    Some(ResolvedPsf {
        psf: GaussianPsf::isotropic(d.fwhm_mm),
        fwhm_rel_sigma: d.rel_sigma,
        source: format!(
            "ASSUMED from the DICOM collimator {:?}: {}",
            camera.collimator.as_deref().unwrap_or("(none; ME taken)"),
            d.basis
        ),
        assumed: true,
    })
}

/// One labelled region on the map grid.
#[derive(Clone, Debug)]
pub struct PvcRegion {
    /// Label value.
    pub label: u32,
    /// Name.
    pub name: String,
    /// Voxels (linear indices).
    pub voxels: Vec<usize>,
}

/// What the set-up of a correction reports (in `regions.json`, per cycle).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PvcReport {
    /// The method.
    pub method: PvcMethod,
    /// The PSF (GTM), with its source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psf: Option<ResolvedPsf>,
    /// The recovery curve file (RC curve; GTM when it gave the PSF).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rc_curve: Option<PathBuf>,
    /// GTM: the matrix and its diagnostics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtm: Option<GtmReport>,
    /// Notes and warnings.
    pub notes: Vec<String>,
}

/// The GTM as solved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GtmReport {
    /// Row/column order: region names, then "background".
    pub order: Vec<String>,
    /// W (row i: mean over region i of each region's spread function).
    pub matrix: Vec<Vec<f64>>,
    /// κ(W) = σ_max/σ_min.
    pub condition_number: f64,
    /// ‖row i of W⁻¹‖₂ per region: how much a unit change of the observed means can move
    /// the region's concentration.
    pub noise_gain: Vec<f64>,
    /// How the background was outlined.
    pub background: String,
    /// Background voxels.
    pub background_voxels: usize,
    /// Background activity per scan, uncorrected and corrected, Bq (per cycle).
    #[serde(default)]
    pub background_activity_uncorrected_bq: Vec<f64>,
    /// Corrected background activity per scan, Bq.
    #[serde(default)]
    pub background_activity_bq: Vec<f64>,
    /// Factor applied to the background voxels of the TIA map.
    #[serde(default)]
    pub background_map_factor: f64,
}

/// A region's correction in one cycle.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionCorrection {
    /// Corrected activity per scan, Bq.
    pub activity_bq: Vec<f64>,
    /// σ per scan from the correction (systematic across scans), Bq.
    pub sigma_bq: Vec<f64>,
    /// RC method: RC(V) and its σ; GTM: W_jj (the region's own recovery) and 0.
    pub recovery: (f64, f64),
    /// RC method: local background per scan, Bq/mL.
    pub background_bq_ml: Vec<f64>,
}

/// One cycle's corrections.
#[derive(Clone, Debug, PartialEq)]
pub struct CycleCorrection {
    /// Per label.
    pub regions: BTreeMap<u32, RegionCorrection>,
    /// GTM background per scan: (uncorrected, corrected) Bq, and its voxels.
    pub background: Option<(Vec<f64>, Vec<f64>, Vec<usize>)>,
    /// Notes for the log.
    pub notes: Vec<String>,
}

/// The GTM of a study: W at the nominal FWHM and at FWHM × (1 ∓ u).
struct Gtm {
    /// Region order: labels, then the background.
    labels: Vec<u32>,
    /// VOI index + 1 per voxel (0: in none).
    voi: Vec<u32>,
    /// Voxels per VOI.
    n_voxels: Vec<usize>,
    /// Background voxels.
    background_voxels: Vec<usize>,
    /// W⁻¹ at FWHM, FWHM(1 − u), FWHM(1 + u).
    inverses: [DMatrix<f64>; 3],
    /// W_jj: each region's own recovery.
    own_recovery: Vec<f64>,
}

/// The RC method's per-region constants.
struct RcRegion {
    label: u32,
    voxels: Vec<usize>,
    rc: f64,
    rc_sigma: f64,
    shell: Vec<usize>,
}

/// A correction set up for a study's labels and grid.
pub struct PvcSetup {
    /// What was set up (for the outputs).
    pub report: PvcReport,
    gtm: Option<Gtm>,
    rc: Vec<RcRegion>,
    voxel_ml: f64,
}

impl PvcSetup {
    /// Sets up `spec` for `regions` on `grid`; `ct` is the reference CT in HU on its own
    /// grid (the GTM body outline), `nuclide` and `scan` (the first scan's DICOM camera)
    /// pick the PSF when the settings give none ([`resolve_psf`]). `None` for method none.
    pub fn build(
        spec: &PartialVolumeSpec,
        grid: &Grid,
        regions: &[PvcRegion],
        ct: Option<&Volume<f32>>,
        nuclide: &str,
        scan: Option<ScanCamera>,
    ) -> crate::Result<Option<PvcSetup>> {
        let rc_curve = match &spec.rc_curve {
            Some(p) if spec.method != PvcMethod::None => Some(RcCurve::load(p)?),
            _ => None,
        };
        let mut report = PvcReport {
            method: spec.method,
            psf: None,
            rc_curve: spec.rc_curve.clone().filter(|_| rc_curve.is_some()),
            gtm: None,
            notes: Vec::new(),
        };
        let voxel_ml = grid.voxel_volume_mm3() / 1000.0;
        match spec.method {
            PvcMethod::None => Ok(None),
            PvcMethod::Gtm => {
                let psf = resolve_psf(spec, rc_curve.as_ref(), nuclide, scan)?;
                if psf.assumed {
                    report.notes.push(format!(
                        "warning: PSF FWHM {:.1} mm is assumed ({}); measure it with `voxdose recovery` or give psf_fwhm_mm",
                        psf.psf.mean_fwhm_mm(),
                        psf.source
                    ));
                }
                let (gtm, gtm_report) = build_gtm(grid, regions, ct, &psf, &mut report.notes)?;
                report.psf = Some(psf);
                report.gtm = Some(gtm_report);
                Ok(Some(PvcSetup {
                    report,
                    gtm: Some(gtm),
                    rc: Vec::new(),
                    voxel_ml,
                }))
            }
            PvcMethod::RcCurve => {
                let curve = rc_curve.ok_or_else(|| {
                    crate::Error::Internal("rc-curve without a curve passed the study check".into())
                })?;
                let rc = rc_regions(grid, regions, &curve, &mut report.notes);
                Ok(Some(PvcSetup {
                    report,
                    gtm: None,
                    rc,
                    voxel_ml,
                }))
            }
        }
    }

    /// The method.
    pub fn method(&self) -> PvcMethod {
        self.report.method
    }

    /// Corrects one cycle's frames (Bq per voxel on the map grid).
    pub fn correct(&self, frames: &[Vec<f32>]) -> CycleCorrection {
        match &self.gtm {
            Some(g) => correct_gtm(g, frames),
            None => correct_rc(&self.rc, frames, self.voxel_ml),
        }
    }
}

/// Body outline from the reference CT on `grid`: HU > −500, with air not connected to the
/// grid's border (lungs, bowel gas) filled in.
fn body_mask(ct: &Volume<f32>, grid: &Grid) -> Vec<bool> {
    let hu = crate::geometry::resample::sample_nearest(ct, grid, -1000.0);
    let [nx, ny, nz] = grid.dims;
    let mut outside = vec![false; hu.len()];
    let mut stack: Vec<usize> = (0..hu.len())
        .filter(|&v| {
            let [i, j, k] = grid.ijk(v);
            (i == 0 || j == 0 || k == 0 || i + 1 == nx || j + 1 == ny || k + 1 == nz)
                && hu[v] <= BODY_HU
        })
        .collect();
    for &v in &stack {
        outside[v] = true;
    }
    while let Some(v) = stack.pop() {
        let [i, j, k] = grid.ijk(v);
        let mut visit = |i: usize, j: usize, k: usize| {
            let w = grid.index(i, j, k);
            if !outside[w] && hu[w] <= BODY_HU {
                outside[w] = true;
                stack.push(w);
            }
        };
        if i > 0 {
            visit(i - 1, j, k);
        }
        if i + 1 < nx {
            visit(i + 1, j, k);
        }
        if j > 0 {
            visit(i, j - 1, k);
        }
        if j + 1 < ny {
            visit(i, j + 1, k);
        }
        if k > 0 {
            visit(i, j, k - 1);
        }
        if k + 1 < nz {
            visit(i, j, k + 1);
        }
    }
    outside.iter().map(|&o| !o).collect()
}

/// The background region for GTM and how it was outlined.
fn background_region(
    grid: &Grid,
    regions: &[PvcRegion],
    ct: Option<&Volume<f32>>,
) -> (Vec<usize>, String) {
    let mut labelled = vec![false; grid.n_voxels()];
    for r in regions {
        r.voxels.iter().for_each(|&v| labelled[v] = true);
    }
    match ct {
        Some(ct) => {
            let body = body_mask(ct, grid);
            (
                (0..grid.n_voxels()).filter(|&v| body[v] && !labelled[v]).collect(),
                "body of the reference CT (HU > -500, enclosed air filled) outside the labelled regions".into(),
            )
        }
        None => (
            (0..grid.n_voxels()).filter(|&v| !labelled[v]).collect(),
            "every unlabelled voxel of the field of view (no reference CT to outline the body)"
                .into(),
        ),
    }
}

/// S_ij = Σ over VOI i of RSF_j, for all regions j (background last).
fn spread_sums(grid: &Grid, vois: &[&[usize]], voi: &[u32], psf: &GaussianPsf) -> DMatrix<f64> {
    let n = vois.len();
    let mut s = DMatrix::<f64>::zeros(n, n);
    for (j, voxels) in vois.iter().enumerate() {
        let Some((b, rsf)) = psf::blur_indicator(grid, voxels, psf) else {
            continue;
        };
        for (l, &val) in rsf.iter().enumerate() {
            if val == 0.0 {
                continue;
            }
            let i = voi[b.grid_index(grid, l)];
            if i > 0 {
                s[(i as usize - 1, j)] += val;
            }
        }
    }
    s
}

/// W = diag(1/n) S.
fn normalised(s: &DMatrix<f64>, n_voxels: &[usize]) -> DMatrix<f64> {
    let mut w = s.clone();
    for (i, &n) in n_voxels.iter().enumerate() {
        let scale = 1.0 / n.max(1) as f64;
        w.row_mut(i).iter_mut().for_each(|x| *x *= scale);
    }
    w
}

fn build_gtm(
    grid: &Grid,
    regions: &[PvcRegion],
    ct: Option<&Volume<f32>>,
    psf: &ResolvedPsf,
    notes: &mut Vec<String>,
) -> crate::Result<(Gtm, GtmReport)> {
    let (background, how) = background_region(grid, regions, ct);
    let mut vois: Vec<&[usize]> = regions.iter().map(|r| r.voxels.as_slice()).collect();
    vois.push(&background);
    let mut voi = vec![0u32; grid.n_voxels()];
    for (i, vs) in vois.iter().enumerate() {
        vs.iter().for_each(|&v| voi[v] = i as u32 + 1);
    }
    let n_voxels: Vec<usize> = vois.iter().map(|v| v.len()).collect();
    let u = psf.fwhm_rel_sigma;
    let ws: Vec<DMatrix<f64>> = [psf.psf, psf.psf.scaled(1.0 - u), psf.psf.scaled(1.0 + u)]
        .iter()
        .map(|p| normalised(&spread_sums(grid, &vois, &voi, p), &n_voxels))
        .collect();
    // An empty background (labels cover the body) leaves a zero row: drop it.
    let keep_background = !background.is_empty();
    let size = if keep_background {
        vois.len()
    } else {
        vois.len() - 1
    };
    let ws: Vec<DMatrix<f64>> = ws
        .into_iter()
        .map(|w| w.view((0, 0), (size, size)).into_owned())
        .collect();
    let sv = ws[0].clone().svd(false, false).singular_values;
    let (smax, smin) = (sv.max(), sv.min());
    let cond = if smin > 0.0 {
        smax / smin
    } else {
        f64::INFINITY
    };
    let mut names: Vec<String> = regions.iter().map(|r| r.name.clone()).collect();
    if keep_background {
        names.push("background".into());
    }
    let inverse = |w: &DMatrix<f64>| w.clone().try_inverse();
    let inv0 = inverse(&ws[0]);
    let gain: Vec<f64> = match &inv0 {
        Some(inv) => (0..size).map(|i| inv.row(i).norm()).collect(),
        None => vec![f64::INFINITY; size],
    };
    let worst = |limit: f64| {
        let mut idx: Vec<usize> = (0..size).filter(|&i| gain[i] > limit).collect();
        idx.sort_by(|&a, &b| gain[b].total_cmp(&gain[a]));
        idx.iter()
            .take(6)
            .map(|&i| format!("{} (gain {:.0})", names[i], gain[i]))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if cond.is_nan() || cond > COND_MAX {
        return Err(PvcError::IllConditioned {
            condition_number: cond,
            regions: worst(COND_WARN.min(cond.sqrt())),
        }
        .into());
    }
    if cond > COND_WARN {
        notes.push(format!("warning: GTM condition number {cond:.1} (> {COND_WARN}): noise in the regions {} is amplified; consider merging small adjacent regions", worst(COND_WARN)));
    }
    let inverses: Vec<DMatrix<f64>> = ws
        .iter()
        .map(|w| inverse(w).unwrap_or_else(|| DMatrix::zeros(size, size)))
        .collect();
    let report = GtmReport {
        order: names,
        matrix: (0..size)
            .map(|i| ws[0].row(i).iter().copied().collect())
            .collect(),
        condition_number: cond,
        noise_gain: gain,
        background: how,
        background_voxels: background.len(),
        background_activity_uncorrected_bq: Vec::new(),
        background_activity_bq: Vec::new(),
        background_map_factor: 1.0,
    };
    let labels = regions.iter().map(|r| r.label).collect();
    if !keep_background {
        notes.push("GTM: the labels cover the whole body, so no background region".into());
    }
    let [a, b, c]: [DMatrix<f64>; 3] = inverses
        .try_into()
        .map_err(|_| crate::Error::Internal("three GTM inverses".into()))?;
    Ok((
        Gtm {
            labels,
            voi,
            n_voxels: n_voxels[..size].to_vec(),
            background_voxels: background,
            inverses: [a, b, c],
            own_recovery: (0..size).map(|i| ws[0][(i, i)]).collect(),
        },
        report,
    ))
}

fn correct_gtm(g: &Gtm, frames: &[Vec<f32>]) -> CycleCorrection {
    let n = g.n_voxels.len();
    let n_regions = g.labels.len();
    let mut per: Vec<RegionCorrection> = (0..n_regions)
        .map(|j| RegionCorrection {
            activity_bq: Vec::new(),
            sigma_bq: Vec::new(),
            recovery: (g.own_recovery[j], 0.0),
            background_bq_ml: Vec::new(),
        })
        .collect();
    let (mut bg_raw, mut bg_corr) = (Vec::new(), Vec::new());
    let mut notes = Vec::new();
    for (t, frame) in frames.iter().enumerate() {
        let mut sums = vec![0.0f64; n];
        for (v, &i) in g.voi.iter().enumerate() {
            if i > 0 && (i as usize) <= n {
                sums[i as usize - 1] += frame[v] as f64;
            }
        }
        let means = nalgebra::DVector::from_iterator(
            n,
            sums.iter()
                .zip(&g.n_voxels)
                .map(|(s, &m)| s / m.max(1) as f64),
        );
        let sol: Vec<nalgebra::DVector<f64>> = g.inverses.iter().map(|inv| inv * &means).collect();
        for j in 0..n {
            let activity = |c: f64| c.max(0.0) * g.n_voxels[j] as f64;
            if sol[0][j] < 0.0 {
                let name = if j < n_regions {
                    format!("label {}", g.labels[j])
                } else {
                    "background".into()
                };
                notes.push(format!(
                    "GTM: scan {}: {name} came out negative ({:.3e} Bq), set to 0",
                    t + 1,
                    sol[0][j] * g.n_voxels[j] as f64
                ));
            }
            let a = activity(sol[0][j]);
            let sigma = 0.5 * (activity(sol[2][j]) - activity(sol[1][j])).abs();
            if j < n_regions {
                per[j].activity_bq.push(a);
                per[j].sigma_bq.push(sigma);
            } else {
                bg_raw.push(sums[j]);
                bg_corr.push(a);
            }
        }
    }
    CycleCorrection {
        regions: g.labels.iter().copied().zip(per).collect(),
        background: (n > n_regions).then(|| (bg_raw, bg_corr, g.background_voxels.clone())),
        notes,
    }
}

/// Distance (mm) from `voxels` of every voxel within `max_mm` of them (boundary voxels ×
/// a ball of offsets), as (voxel, distance) on a box; voxels of the set get 0.
fn distances_within(grid: &Grid, voxels: &[usize], max_mm: f64, dist: &mut [f64]) {
    let reach = [0, 1, 2].map(|a| (max_mm / grid.spacing_mm[a]).floor() as i64);
    let mut offsets = Vec::new();
    for dk in -reach[2]..=reach[2] {
        for dj in -reach[1]..=reach[1] {
            for di in -reach[0]..=reach[0] {
                let d = ((di as f64 * grid.spacing_mm[0]).powi(2)
                    + (dj as f64 * grid.spacing_mm[1]).powi(2)
                    + (dk as f64 * grid.spacing_mm[2]).powi(2))
                .sqrt();
                if d <= max_mm {
                    offsets.push(([di, dj, dk], d));
                }
            }
        }
    }
    let mut member = std::collections::HashSet::with_capacity(voxels.len());
    member.extend(voxels.iter().copied());
    let dims = grid.dims.map(|d| d as i64);
    for &v in voxels {
        dist[v] = 0.0;
        let ijk = grid.ijk(v).map(|x| x as i64);
        let boundary = [
            [1, 0, 0],
            [-1, 0, 0],
            [0, 1, 0],
            [0, -1, 0],
            [0, 0, 1],
            [0, 0, -1],
        ]
        .iter()
        .any(|o| {
            let q = [ijk[0] + o[0], ijk[1] + o[1], ijk[2] + o[2]];
            (0..3).any(|a| q[a] < 0 || q[a] >= dims[a])
                || !member.contains(&grid.index(q[0] as usize, q[1] as usize, q[2] as usize))
        });
        if !boundary {
            continue;
        }
        for (o, d) in &offsets {
            let q = [ijk[0] + o[0], ijk[1] + o[1], ijk[2] + o[2]];
            if (0..3).any(|a| q[a] < 0 || q[a] >= dims[a]) {
                continue;
            }
            let w = grid.index(q[0] as usize, q[1] as usize, q[2] as usize);
            if *d < dist[w] {
                dist[w] = *d;
            }
        }
    }
}

fn rc_regions(
    grid: &Grid,
    regions: &[PvcRegion],
    curve: &RcCurve,
    notes: &mut Vec<String>,
) -> Vec<RcRegion> {
    let voxel_ml = grid.voxel_volume_mm3() / 1000.0;
    let (f, _) = curve.effective_fwhm_mm();
    let f = f.max(2.0 * grid.spacing_mm.iter().copied().fold(0.0, f64::max) / SHELL_FWHM[0]);
    let (d_in, d_out) = (SHELL_FWHM[0] * f, SHELL_FWHM[1] * f);
    let mut any = vec![f64::INFINITY; grid.n_voxels()];
    let mut labelled = vec![false; grid.n_voxels()];
    for r in regions {
        distances_within(grid, &r.voxels, d_in, &mut any);
        r.voxels.iter().for_each(|&v| labelled[v] = true);
    }
    let (vmin, vmax) = curve.volume_range_ml();
    regions
        .iter()
        .map(|r| {
            let mut own = vec![f64::INFINITY; grid.n_voxels()];
            distances_within(grid, &r.voxels, d_out, &mut own);
            let ring = |v: usize| own[v] >= d_in && own[v] <= d_out;
            let mut shell: Vec<usize> = (0..own.len()).filter(|&v| ring(v) && !labelled[v] && any[v] >= d_in).collect();
            if shell.len() < SHELL_MIN_VOXELS {
                let members: std::collections::HashSet<usize> = r.voxels.iter().copied().collect();
                shell = (0..own.len()).filter(|&v| ring(v) && !members.contains(&v)).collect();
                notes.push(format!("rc-curve: {} has fewer than {SHELL_MIN_VOXELS} unlabelled background voxels around it; its local background includes labelled neighbours ({} voxels)", r.name, shell.len()));
            }
            let v_ml = r.voxels.len() as f64 * voxel_ml;
            if v_ml < vmin {
                notes.push(format!("rc-curve: {} ({v_ml:.2} mL) is smaller than the smallest sphere measured ({vmin:.2} mL): RC extrapolated", r.name));
            } else if v_ml > 10.0 * vmax {
                notes.push(format!("rc-curve: {} ({v_ml:.0} mL) is over 10× the largest sphere measured ({vmax:.1} mL): RC extrapolated by the Gaussian-sphere model", r.name));
            }
            RcRegion {
                label: r.label,
                voxels: r.voxels.clone(),
                rc: curve.rc(v_ml, grid.spacing_mm),
                rc_sigma: curve.rc_sigma(v_ml, grid.spacing_mm),
                shell,
            }
        })
        .collect()
}

fn correct_rc(regions: &[RcRegion], frames: &[Vec<f32>], voxel_ml: f64) -> CycleCorrection {
    let mut out = BTreeMap::new();
    for r in regions {
        let mut c = RegionCorrection {
            activity_bq: Vec::new(),
            sigma_bq: Vec::new(),
            recovery: (r.rc, r.rc_sigma),
            background_bq_ml: Vec::new(),
        };
        let volume_ml = r.voxels.len() as f64 * voxel_ml;
        for frame in frames {
            let measured: f64 = r.voxels.iter().map(|&v| frame[v] as f64).sum();
            let bg_bq_ml = if r.shell.is_empty() {
                0.0
            } else {
                r.shell.iter().map(|&v| frame[v] as f64).sum::<f64>()
                    / r.shell.len() as f64
                    / voxel_ml
            };
            let (a, sigma) = rc_correct_activity(measured, bg_bq_ml, volume_ml, r.rc, r.rc_sigma);
            c.background_bq_ml.push(bg_bq_ml);
            c.activity_bq.push(a);
            c.sigma_bq.push(sigma);
        }
        out.insert(r.label, c);
    }
    CycleCorrection {
        regions: out,
        background: None,
        notes: Vec::new(),
    }
}

/// What partial-volume correction did to one region in one cycle (`regions.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegionPvc {
    /// The method.
    pub method: PvcMethod,
    /// Region activity at each scan as measured (before correction), Bq.
    pub activity_uncorrected_bq: Vec<f64>,
    /// Corrected / measured activity per scan.
    pub activity_factor: Vec<f64>,
    /// Ã of the uncorrected TAC, Bq·s.
    pub tia_uncorrected_bq_s: f64,
    /// Total σ of `tia_uncorrected_bq_s` (fit, calibration, recovery_rel_sigma), Bq·s.
    pub tia_sigma_uncorrected_bq_s: f64,
    /// Model selected for the uncorrected TAC.
    pub model_uncorrected: String,
    /// Corrected Ã / uncorrected Ã.
    pub tia_factor: f64,
    /// Relative σ of the corrected Ã from the correction alone (u_PVC, module doc).
    pub correction_rel_sigma: f64,
    /// RC curve: RC at the region's volume; GTM: W_jj, the region's own recovery.
    pub recovery_coefficient: f64,
    /// RC curve: σ of RC from the curve's covariance; GTM: 0 (its σ is the PSF's).
    pub recovery_coefficient_sigma: f64,
    /// RC curve: local background per scan, Bq/mL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub background_bq_ml: Vec<f64>,
    /// Factor applied to the region's voxels of the TIA map (their sum becomes the
    /// corrected Ã). Besides the correction (`tia_factor`) it carries any difference
    /// between the region fit's Ã and the sum of the voxel fits (e.g. with two scans the
    /// region falls back to trapezoids, the voxels to mono-exponentials).
    pub map_factor: f64,
}

/// Corrects a region's measured activities (Bq per scan) by the RC method given its local
/// background (Bq/mL per scan): (corrected, σ) per scan.
pub fn rc_correct_activity(
    measured_bq: f64,
    background_bq_ml: f64,
    volume_ml: f64,
    rc: f64,
    rc_sigma: f64,
) -> (f64, f64) {
    let bg = background_bq_ml * volume_ml;
    let excess = (measured_bq - bg) / rc;
    ((bg + excess).max(0.0), (excess * rc_sigma / rc).abs())
}

/// Weights w_t with Σ w_t A_t = the trapezoidal Ã (h): linear from 0 at administration to
/// the first scan, trapezoids between scans, physical decay after the last; one scan gives
/// weight 1 (the correction scales the single-point estimate).
pub fn tia_weights(time_h: &[f64], lambda_phys_per_h: f64) -> Vec<f64> {
    let n = time_h.len();
    if n == 1 {
        return vec![1.0];
    }
    let mut w = vec![0.0; n];
    w[0] += 0.5 * time_h[0];
    for k in 0..n - 1 {
        let dt = time_h[k + 1] - time_h[k];
        w[k] += 0.5 * dt;
        w[k + 1] += 0.5 * dt;
    }
    w[n - 1] += 1.0 / lambda_phys_per_h;
    w
}

/// Relative σ of Ã from per-scan correction σ that are fully correlated across scans.
pub fn correlated_rel_sigma(activity_bq: &[f64], sigma_bq: &[f64], weights: &[f64]) -> f64 {
    let num: f64 = sigma_bq.iter().zip(weights).map(|(s, w)| s * w).sum();
    let den: f64 = activity_bq.iter().zip(weights).map(|(a, w)| a * w).sum();
    if den > 0.0 {
        num / den
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ball(grid: &Grid, centre: [f64; 3], r_mm: f64) -> Vec<usize> {
        (0..grid.n_voxels())
            .filter(|&v| {
                let p = grid.voxel_to_patient(grid.ijk(v).map(|x| x as f64));
                (0..3).map(|a| (p[a] - centre[a]).powi(2)).sum::<f64>() <= r_mm * r_mm
            })
            .collect()
    }

    #[test]
    fn gtm_inverts_its_own_forward_model_exactly() {
        // Voxelised regions with uniform concentrations, blurred with the same kernel: the
        // GTM must return the concentrations to rounding, whatever the spill between them.
        let grid = Grid::new([40, 36, 30], [4.0; 3], [0.0; 3]);
        let a = ball(&grid, [60.0, 70.0, 60.0], 10.0);
        let b = ball(&grid, [88.0, 70.0, 60.0], 14.0);
        let regions = vec![
            PvcRegion {
                label: 1,
                name: "a".into(),
                voxels: a.clone(),
            },
            PvcRegion {
                label: 2,
                name: "b".into(),
                voxels: b.clone(),
            },
        ];
        let psf = ResolvedPsf {
            psf: GaussianPsf::isotropic(10.0),
            fwhm_rel_sigma: 0.1,
            source: "test".into(),
            assumed: false,
        };
        let mut notes = Vec::new();
        let (gtm, report) = build_gtm(&grid, &regions, None, &psf, &mut notes).unwrap();
        let mut truth = vec![2.0f64; grid.n_voxels()];
        a.iter().for_each(|&v| truth[v] = 50.0);
        b.iter().for_each(|&v| truth[v] = 20.0);
        let frame: Vec<f32> = psf::blur(&grid, &truth, &psf.psf)
            .iter()
            .map(|&x| x as f32)
            .collect();
        let c = correct_gtm(&gtm, &[frame]);
        let got_a = c.regions[&1].activity_bq[0];
        let got_b = c.regions[&2].activity_bq[0];
        assert!(
            (got_a / (50.0 * a.len() as f64) - 1.0).abs() < 1e-5,
            "{got_a}"
        );
        assert!(
            (got_b / (20.0 * b.len() as f64) - 1.0).abs() < 1e-5,
            "{got_b}"
        );
        assert!(report.condition_number > 1.0 && report.condition_number < COND_WARN);
        // The FWHM σ moves the small region more than the large one.
        let rel = |l: u32| c.regions[&l].sigma_bq[0] / c.regions[&l].activity_bq[0];
        assert!(rel(1) > rel(2) && rel(2) > 0.0);
    }

    #[test]
    fn two_tiny_touching_regions_are_refused_as_ill_conditioned() {
        let grid = Grid::new([30, 30, 30], [4.0; 3], [0.0; 3]);
        let v1 = grid.index(15, 15, 15);
        let v2 = grid.index(16, 15, 15);
        let regions = vec![
            PvcRegion {
                label: 1,
                name: "left".into(),
                voxels: vec![v1],
            },
            PvcRegion {
                label: 2,
                name: "right".into(),
                voxels: vec![v2],
            },
        ];
        let psf = ResolvedPsf {
            psf: GaussianPsf::isotropic(40.0),
            fwhm_rel_sigma: 0.1,
            source: "test".into(),
            assumed: false,
        };
        let e = build_gtm(&grid, &regions, None, &psf, &mut Vec::new())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("condition number") && e.contains("left"), "{e}");
    }

    #[test]
    fn rc_correction_undoes_a_known_recovery_over_a_warm_background() {
        // Region of 10 mL, true 100 Bq/mL in 5 Bq/mL: the scan shows 5 + 95·0.6 = 62 Bq/mL.
        let (a, s) = rc_correct_activity(620.0, 5.0, 10.0, 0.6, 0.03);
        assert!((a - 1000.0).abs() < 1e-9, "{a}");
        assert!((s - 950.0 * 0.05).abs() < 1e-9, "{s}");
    }

    #[test]
    fn tia_weights_integrate_a_linear_then_decaying_curve() {
        let w = tia_weights(&[4.0, 24.0], 0.01);
        // A = 1 at both points: ∫ = 4/2 + 20 + 1/λ.
        assert!((w.iter().sum::<f64>() - (2.0 + 20.0 + 100.0)).abs() < 1e-12);
    }

    #[test]
    fn dicom_resolution_wins_over_the_collimator_default() {
        use crate::io::activity::CameraInfo;
        let mut cam = CameraInfo {
            collimator: Some("MELP".into()),
            ..Default::default()
        };
        let d = psf_from_camera(&cam, "Lu-177").unwrap();
        assert!(d.assumed && d.source.contains("MELP"), "{d:?}");
        cam.spatial_resolution_mm = Some(11.5);
        let d = psf_from_camera(&cam, "Lu-177").unwrap();
        assert!(!d.assumed && d.psf.fwhm_mm == [11.5; 3]);
        cam = CameraInfo {
            collimator: Some("HEGP".into()),
            ..Default::default()
        };
        assert!(psf_from_camera(&cam, "I-131").is_none());
    }

    #[test]
    fn overrides_replace_the_study_settings() {
        let spec = PartialVolumeSpec {
            method: PvcMethod::Gtm,
            psf_fwhm_mm: Some([8.0; 3]),
            ..Default::default()
        };
        let o =
            PartialVolumeOverride::from_flags(Some("rc-curve"), &[], Some(Path::new("/x/rc.json")))
                .unwrap();
        let s = spec.with_override(Some(&o));
        assert_eq!(s.method, PvcMethod::RcCurve);
        assert_eq!(s.psf_fwhm_mm, Some([8.0; 3]));
        assert_eq!(s.rc_curve.as_deref(), Some(Path::new("/x/rc.json")));
        assert!(PartialVolumeOverride::from_flags(None, &[1.0, 2.0], None).is_err());
        assert!(PartialVolumeOverride::from_flags(Some("magic"), &[], None).is_err());
        let three = PartialVolumeOverride::from_flags(None, &[9.0, 9.0, 12.0], None).unwrap();
        assert_eq!(three.psf_fwhm_mm, Some([9.0, 9.0, 12.0]));
    }
}
