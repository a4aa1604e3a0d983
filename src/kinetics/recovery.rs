//! Recovery coefficients (RC) from a phantom scan and the fitted RC(volume) curve that
//! partial-volume correction by `rc-curve` applies ([`super::partial_volume`]); the file
//! `rc.json` that carries it; the synthetic NEMA IEC scan that makes the chain testable
//! without data.
//!
//! Responsibility: sphere volumes of interest (from a label map, or the NEMA IEC geometry
//! located in the scan), RC per sphere, the curve fit with its covariance, `rc.json` and its
//! plot. `voxdose recovery` only parses arguments and calls [`run_recovery`].
//!
//! Units: concentrations in Bq/mL, volumes in mL, lengths in mm; RC is dimensionless.
//!
//! **RC of one sphere.** RC = (C̄ − C_bg)/(C_sphere − C_bg): C̄ the mean concentration the scan
//! shows inside the sphere's volume of interest, C_sphere the true (filled) concentration,
//! C_bg the true background concentration (0 for a cold background). For a linear,
//! shift-invariant blur and a uniform background this is the RC of the same sphere in a
//! cold background: the background's spill-in equals what the sphere's own blur removes
//! from the same voxels (blur(C_bg·body + (C_s − C_bg)·sphere) = C_bg + (C_s − C_bg)·
//! blur(sphere) inside the body). With the built-in NEMA geometry the volume of interest
//! weighs each voxel by the share of it inside the sphere (5³ sub-samples at the edge), so
//! C̄ is the mean over the sphere itself; with a label map every labelled voxel weighs 1 and
//! the sphere volume is the labelled volume.
//!
//! **The curve.** RC(V) = a · RC_G(V; F): RC_G is the recovery coefficient of a uniform
//! sphere of volume V blurred by an isotropic Gaussian of FWHM F, the mean over the sphere
//! of its blurred profile (Kessler RM, Ellis JR, Eden M. Analysis of emission tomographic
//! scan data: limitations imposed by resolution and background. J Comput Assist Tomogr
//! 1984;8:514–522). With R the radius, σ = F/2.3548 and s = √2·σ, the blurred profile at
//! distance r from the centre is
//!
//! f(r) = ½[erf((R−r)/s) + erf((R+r)/s)] − σ/(r√(2π))·[e^{−(R−r)²/2σ²} − e^{−(R+r)²/2σ²}],
//!
//! and RC_G = (3/R³) ∫₀^R f(r) r² dr (Simpson, 400 intervals). **Voxels.** A measured RC
//! also holds the sampling: each voxel value is the mean of the blurred image over the
//! voxel (one box of width Δ per axis), and partial-voxel weights smear the sphere by
//! another; label voxels do not (their sphere is the voxelised one). Each box adds Δ²/12 of
//! variance per axis, so the curve is evaluated at F_tot = sqrt(F² + 8 ln2 · k · mean(Δ²)/12)
//! with k = 2 (partial-voxel weights) or 1 (labels): F is then the PSF of the image without
//! its voxels, the same F a GTM uses (whose voxel kernel adds the boxes exactly), and the
//! curve applied to a patient's labelled regions takes k = 1 and the map grid's Δ. (The
//! boxes are approximated by a Gaussian of their variance; for Δ = 4 mm and F = 10 mm the
//! variances are 2.7 and 18 mm².) The amplitude a takes up a
//! calibration made in another geometry and reconstruction overshoot; F is the effective
//! FWHM of the reconstructed image, which GTM can use as its PSF. Fitted by least squares
//! (a in closed form for each F, F by golden section), covariance s²(JᵀJ)⁻¹ with s² the
//! residual variance (n − 2 degrees of freedom), so RC(V) has σ² = gᵀCg at any V
//! (g = ∂RC/∂(a, F)): the RC-curve σ that EANM 2018 propagates into Ã (Gear et al., EJNMMI
//! 2018;45:2456). Why not the logistic a/(1 + (b/V)^c) often fitted to sphere RCs: fitted to
//! the six IEC spheres (0.5–26.5 mL) of a 10 mm FWHM scan its plateau comes out at 0.84, so
//! it under-corrects a 150 mL organ by 5 % and never reaches RC = 1; the sphere model tends
//! to a for large volumes by construction.

use super::nema_geometry::{NemaPlacement, PlacedSphere, RING_RADIUS_MM};
use super::partial_volume::PvcError;
use super::psf::{self, GaussianPsf};
use crate::geometry::{Grid, Volume};
use crate::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Format tag of `rc.json`.
pub const RC_FORMAT: &str = "voxdose-rc-curve-1";

/// The RC of a uniform sphere of `volume_ml` blurred by an isotropic Gaussian of
/// `fwhm_mm`, averaged over the sphere (module doc; Kessler et al. 1984).
pub fn rc_gaussian_sphere(volume_ml: f64, fwhm_mm: f64) -> f64 {
    if volume_ml <= 0.0 {
        return 0.0;
    }
    if fwhm_mm <= 0.0 {
        return 1.0;
    }
    let radius = (3.0 * volume_ml * 1000.0 / (4.0 * std::f64::consts::PI)).cbrt();
    let sigma = fwhm_mm / psf::FWHM_PER_SIGMA;
    let n = 400;
    let h = radius / n as f64;
    let mut acc = 0.0;
    for i in 0..=n {
        let r = i as f64 * h;
        let w = if i == 0 || i == n {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        };
        acc += w * blurred_sphere_profile(r, radius, sigma) * r * r;
    }
    3.0 / radius.powi(3) * acc * h / 3.0
}

/// The blurred indicator of a sphere of radius `radius` at distance `r` from its centre.
fn blurred_sphere_profile(r: f64, radius: f64, sigma: f64) -> f64 {
    use statrs::function::erf::erf;
    let s2 = std::f64::consts::SQRT_2 * sigma;
    let g = |x: f64| (-x * x / (2.0 * sigma * sigma)).exp();
    if r < 1e-9 * radius {
        // The limit r → 0: P(|X| < R) for a 3-D Gaussian (χ distribution, 3 d.o.f.).
        return erf(radius / s2) - (2.0 / std::f64::consts::PI).sqrt() * radius / sigma * g(radius);
    }
    0.5 * (erf((radius - r) / s2) + erf((radius + r) / s2))
        - sigma / (r * (2.0 * std::f64::consts::PI).sqrt()) * (g(radius - r) - g(radius + r))
}

/// How the spheres' volumes of interest weighed their voxels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VoiWeighting {
    /// Each voxel by the share of it inside the sphere (built-in geometry).
    PartialVoxel,
    /// Each labelled voxel 1 (a label map; patient regions).
    Labels,
}

impl VoiWeighting {
    /// Voxel boxes in the measurement (module doc).
    fn boxes(self) -> f64 {
        match self {
            VoiWeighting::PartialVoxel => 2.0,
            VoiWeighting::Labels => 1.0,
        }
    }

    /// Variance the voxel sampling adds, mm² (module doc).
    pub fn sampling_variance_mm2(self, spacing_mm: [f64; 3]) -> f64 {
        self.boxes() * spacing_mm.iter().map(|d| d * d).sum::<f64>() / 3.0 / 12.0
    }
}

/// The FWHM of a Gaussian of FWHM `fwhm_mm` convolved with `extra_variance_mm2`.
fn total_fwhm(fwhm_mm: f64, extra_variance_mm2: f64) -> f64 {
    (fwhm_mm * fwhm_mm + psf::FWHM_PER_SIGMA.powi(2) * extra_variance_mm2).sqrt()
}

/// The RC(volume) model of an `rc.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RcModel {
    /// RC(V) = a · RC_G(V; F) (module doc).
    GaussianSphere,
}

/// One sphere's measured recovery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SphereRecovery {
    /// Sphere name ("sphere_37mm", a label name).
    pub name: String,
    /// Sphere volume, mL (true volume for the built-in geometry, labelled volume else).
    pub volume_ml: f64,
    /// Voxels in the volume of interest (Σ weights).
    pub voxels: f64,
    /// Mean concentration in the volume of interest, Bq/mL.
    pub mean_bq_ml: f64,
    /// Standard deviation of the voxel concentrations, Bq/mL.
    pub sd_bq_ml: f64,
    /// Recovery coefficient (module doc).
    pub rc: f64,
    /// Standard error of `rc` from the voxel spread (sd/√n; voxel noise is correlated in
    /// SPECT, so this is a lower bound).
    pub rc_sigma: f64,
    /// The fitted curve at this volume.
    pub rc_fitted: f64,
}

/// A measured recovery curve: the content of `rc.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RcCurve {
    /// Always [`RC_FORMAT`].
    pub format: String,
    /// The model.
    pub model: RcModel,
    /// The model in words.
    pub formula: String,
    /// Where the model comes from.
    pub reference: String,
    /// Parameter names: `a`, `fwhm_mm`.
    pub param_names: Vec<String>,
    /// Fitted parameters.
    pub params: Vec<f64>,
    /// One-σ of the parameters.
    pub param_sigma: Vec<f64>,
    /// Parameter covariance (row major, 2 × 2).
    pub covariance: Vec<Vec<f64>>,
    /// Degrees of freedom of the fit (spheres − 2).
    pub dof: usize,
    /// RMS of the RC residuals.
    pub residual_rms: f64,
    /// Voxel size of the phantom scan, mm.
    pub voxel_mm: [f64; 3],
    /// How the spheres' voxels were weighed.
    pub voi_weighting: VoiWeighting,
    /// True sphere concentration, Bq/mL.
    pub concentration_bq_ml: f64,
    /// True background concentration, Bq/mL.
    pub background_bq_ml: f64,
    /// Per sphere, smallest first.
    pub spheres: Vec<SphereRecovery>,
    /// What was measured (scan, spheres, camera).
    pub source: serde_json::Value,
    /// Remarks (few spheres, extrapolation, …).
    pub notes: Vec<String>,
}

impl RcCurve {
    /// The amplitude a.
    pub fn amplitude(&self) -> f64 {
        self.params[0]
    }

    /// The PSF FWHM F (voxels excluded) and its σ, mm.
    pub fn effective_fwhm_mm(&self) -> (f64, f64) {
        (self.params[1], self.param_sigma[1])
    }

    /// RC of a labelled region of `volume_ml` on a grid of `spacing_mm` (module doc).
    pub fn rc(&self, volume_ml: f64, spacing_mm: [f64; 3]) -> f64 {
        let var = VoiWeighting::Labels.sampling_variance_mm2(spacing_mm);
        self.params[0] * rc_gaussian_sphere(volume_ml, total_fwhm(self.params[1], var))
    }

    /// One-σ of [`RcCurve::rc`] from the parameter covariance (gᵀCg).
    pub fn rc_sigma(&self, volume_ml: f64, spacing_mm: [f64; 3]) -> f64 {
        let var = VoiWeighting::Labels.sampling_variance_mm2(spacing_mm);
        let g = model_gradient(volume_ml, self.params[0], self.params[1], var);
        let c = &self.covariance;
        let v: f64 = (0..2)
            .flat_map(|i| (0..2).map(move |j| (i, j)))
            .map(|(i, j)| g[i] * c[i][j] * g[j])
            .sum();
        v.max(0.0).sqrt()
    }

    /// RC as the phantom measurement saw it (its voxels and weighting): the fitted curve.
    pub fn rc_phantom(&self, volume_ml: f64) -> f64 {
        let var = self.voi_weighting.sampling_variance_mm2(self.voxel_mm);
        self.params[0] * rc_gaussian_sphere(volume_ml, total_fwhm(self.params[1], var))
    }

    /// Smallest and largest sphere volume measured, mL.
    pub fn volume_range_ml(&self) -> (f64, f64) {
        let v = self.spheres.iter().map(|s| s.volume_ml);
        (
            v.clone().fold(f64::INFINITY, f64::min),
            v.fold(0.0, f64::max),
        )
    }

    /// Reads and checks an `rc.json`.
    pub fn load(path: &Path) -> Result<RcCurve> {
        let text = std::fs::read_to_string(path).map_err(|source| crate::io::InputError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |reason: String| PvcError::InvalidRcCurve {
            path: path.to_path_buf(),
            reason,
        };
        let curve: RcCurve = serde_json::from_str(&text).map_err(|e| {
            bad(format!(
                "not a voxdose recovery curve ({e}); make one with `voxdose recovery`"
            ))
        })?;
        if curve.format != RC_FORMAT {
            return Err(bad(format!(
                "format \"{}\" is not \"{RC_FORMAT}\"; remake it with this voxdose's `voxdose recovery`",
                curve.format
            ))
            .into());
        }
        let finite = curve
            .params
            .iter()
            .chain(&curve.param_sigma)
            .all(|v| v.is_finite())
            && curve.covariance.iter().flatten().all(|v| v.is_finite());
        if curve.params.len() != 2
            || curve.param_sigma.len() != 2
            || curve.covariance.len() != 2
            || curve.covariance.iter().any(|r| r.len() != 2)
            || !finite
            || curve.params[0] <= 0.0
            || curve.params[1] < 0.0
        {
            return Err(bad(format!(
                "parameters {:?} (a > 0, fwhm_mm ≥ 0) with a 2 × 2 covariance are needed; the file is damaged or hand-edited",
                curve.params
            ))
            .into());
        }
        Ok(curve)
    }
}

/// ∂RC/∂(a, F) at `volume_ml`, with `var` mm² of voxel sampling added to the PSF.
fn model_gradient(volume_ml: f64, a: f64, fwhm_mm: f64, var: f64) -> [f64; 2] {
    let rc = |f: f64| rc_gaussian_sphere(volume_ml, total_fwhm(f, var));
    let h = 1e-4 * fwhm_mm.max(1.0);
    let lo = (fwhm_mm - h).max(0.0);
    [
        rc(fwhm_mm),
        a * (rc(fwhm_mm + h) - rc(lo)) / (fwhm_mm + h - lo),
    ]
}

/// A sphere's volume of interest: voxel indices with weights in (0, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct SphereVoi {
    /// Name for tables.
    pub name: String,
    /// Sphere volume, mL.
    pub volume_ml: f64,
    /// (voxel index, weight).
    pub weights: Vec<(usize, f64)>,
}

/// Sub-samples per axis for a voxel cut by a sphere's surface.
const SUBSAMPLES: usize = 5;

/// The volume of interest of a sphere on `grid`: each voxel weighed by the share of it
/// inside the sphere (centre and corners tested; cut voxels by 5³ sub-samples).
pub fn sphere_voi(grid: &Grid, sphere: &PlacedSphere, name: &str) -> SphereVoi {
    let c = grid.patient_to_voxel(sphere.centre_mm);
    let r = 0.5 * sphere.diameter_mm;
    let reach = [0, 1, 2].map(|a| r / grid.spacing_mm[a] + 1.0);
    let range = |a: usize| {
        let lo = (c[a] - reach[a]).floor().max(0.0) as usize;
        let hi = ((c[a] + reach[a]).ceil() as usize).min(grid.dims[a].saturating_sub(1));
        lo..=hi
    };
    let mut weights = Vec::new();
    for k in range(2) {
        for j in range(1) {
            for i in range(0) {
                let w = voxel_fraction(grid, [i, j, k], |p| sphere.contains(p));
                if w > 0.0 {
                    weights.push((grid.index(i, j, k), w));
                }
            }
        }
    }
    SphereVoi {
        name: name.to_string(),
        volume_ml: sphere.volume_ml(),
        weights,
    }
}

/// Share of voxel `ijk` for which `inside` holds: 0 or 1 when its centre and 8 corners
/// agree, else the share of 5³ sub-sample points.
fn voxel_fraction(grid: &Grid, ijk: [usize; 3], inside: impl Fn([f64; 3]) -> bool) -> f64 {
    let at = |d: [f64; 3]| {
        inside(grid.voxel_to_patient([
            ijk[0] as f64 + d[0],
            ijk[1] as f64 + d[1],
            ijk[2] as f64 + d[2],
        ]))
    };
    let centre = at([0.0; 3]);
    let corners_agree = (0..8).all(|c| {
        let d = [0, 1, 2].map(|a| if (c >> a) & 1 == 1 { 0.5 } else { -0.5 });
        at(d) == centre
    });
    if corners_agree {
        return if centre { 1.0 } else { 0.0 };
    }
    let s = SUBSAMPLES;
    let off = |n: usize| (n as f64 + 0.5) / s as f64 - 0.5;
    let mut hits = 0usize;
    for a in 0..s {
        for b in 0..s {
            for c in 0..s {
                if at([off(a), off(b), off(c)]) {
                    hits += 1;
                }
            }
        }
    }
    hits as f64 / (s * s * s) as f64
}

/// The six NEMA IEC spheres of `placement` as volumes of interest on `grid`.
pub fn nema_vois(grid: &Grid, placement: &NemaPlacement) -> Vec<SphereVoi> {
    placement
        .spheres()
        .iter()
        .map(|s| sphere_voi(grid, s, &format!("sphere_{:.0}mm", s.diameter_mm)))
        .collect()
}

/// Volumes of interest from a label map on `grid` (every non-zero label a sphere; weight 1).
pub fn label_vois(
    labels: &Volume<u32>,
    names: &std::collections::BTreeMap<u32, String>,
) -> Vec<SphereVoi> {
    let ml = labels.grid.voxel_volume_mm3() / 1000.0;
    let mut by_label: std::collections::BTreeMap<u32, Vec<(usize, f64)>> = Default::default();
    for (v, &l) in labels.data.iter().enumerate() {
        if l > 0 {
            by_label.entry(l).or_default().push((v, 1.0));
        }
    }
    by_label
        .into_iter()
        .map(|(l, weights)| SphereVoi {
            name: names
                .get(&l)
                .cloned()
                .unwrap_or_else(|| format!("label {l}")),
            volume_ml: weights.len() as f64 * ml,
            weights,
        })
        .collect()
}

/// RC of each volume of interest in `image_bq_ml` (module doc), smallest volume first.
pub fn measure_spheres(
    image_bq_ml: &Volume<f32>,
    vois: &[SphereVoi],
    concentration_bq_ml: f64,
    background_bq_ml: f64,
) -> std::result::Result<Vec<SphereRecovery>, PvcError> {
    let contrast = concentration_bq_ml - background_bq_ml;
    if !(contrast.is_finite() && contrast > 0.0) {
        return Err(PvcError::RecoveryMeasurement {
            reason: format!("sphere concentration {concentration_bq_ml} Bq/mL must exceed the background {background_bq_ml} Bq/mL; give the concentrations at the scan time"),
        });
    }
    let mut out: Vec<SphereRecovery> = vois
        .iter()
        .filter(|v| !v.weights.is_empty())
        .map(|voi| {
            let n: f64 = voi.weights.iter().map(|w| w.1).sum();
            let mean = voi
                .weights
                .iter()
                .map(|&(v, w)| w * image_bq_ml.data[v] as f64)
                .sum::<f64>()
                / n;
            let var = voi
                .weights
                .iter()
                .map(|&(v, w)| w * (image_bq_ml.data[v] as f64 - mean).powi(2))
                .sum::<f64>()
                / n;
            SphereRecovery {
                name: voi.name.clone(),
                volume_ml: voi.volume_ml,
                voxels: n,
                mean_bq_ml: mean,
                sd_bq_ml: var.sqrt(),
                rc: (mean - background_bq_ml) / contrast,
                rc_sigma: var.sqrt() / n.sqrt() / contrast,
                rc_fitted: f64::NAN,
            }
        })
        .collect();
    out.sort_by(|a, b| a.volume_ml.total_cmp(&b.volume_ml));
    Ok(out)
}

/// A fitted RC curve's numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RcFit {
    /// (a, F in mm).
    pub params: [f64; 2],
    /// Their covariance.
    pub covariance: [[f64; 2]; 2],
    /// RMS of the RC residuals.
    pub residual_rms: f64,
    /// Spheres − 2.
    pub dof: usize,
}

/// Least-squares fit of RC(V) = a · RC_G(V; F_tot) to the spheres, `var` mm² of voxel
/// sampling in F_tot (module doc).
pub fn fit_rc_curve(spheres: &[SphereRecovery], var: f64) -> std::result::Result<RcFit, PvcError> {
    if spheres.len() < 2 {
        return Err(PvcError::RecoveryMeasurement {
            reason: format!(
                "{} sphere(s) measured; the curve has two parameters and needs at least two spheres",
                spheres.len()
            ),
        });
    }
    let v: Vec<f64> = spheres.iter().map(|s| s.volume_ml).collect();
    let y: Vec<f64> = spheres.iter().map(|s| s.rc).collect();
    // For a given F, the best a is Σ y g / Σ g² (linear); minimise the residual over F.
    let amp = |f: f64| {
        let g: Vec<f64> = v
            .iter()
            .map(|&vi| rc_gaussian_sphere(vi, total_fwhm(f, var)))
            .collect();
        let gg: f64 = g.iter().map(|x| x * x).sum();
        let a = y.iter().zip(&g).map(|(y, g)| y * g).sum::<f64>() / gg;
        let rss: f64 = y.iter().zip(&g).map(|(y, g)| (y - a * g).powi(2)).sum();
        (a, rss)
    };
    // Bracket on a log grid of F from 0.5 to 80 mm, then golden section on ln F (a PSF
    // below 0.5 mm is below what the voxels show: the fit then rests there).
    let grid: Vec<f64> = (0..=60)
        .map(|i| (0.5f64.ln() + (160f64).ln() * i as f64 / 60.0).exp())
        .collect();
    let best = (0..grid.len())
        .min_by(|&i, &j| amp(grid[i]).1.total_cmp(&amp(grid[j]).1))
        .unwrap_or(0);
    let (mut lo, mut hi) = (
        grid[best.saturating_sub(1)].ln(),
        grid[(best + 1).min(grid.len() - 1)].ln(),
    );
    let phi = 0.5 * (5f64.sqrt() - 1.0);
    for _ in 0..80 {
        let m1 = hi - phi * (hi - lo);
        let m2 = lo + phi * (hi - lo);
        if amp(m1.exp()).1 < amp(m2.exp()).1 {
            hi = m2;
        } else {
            lo = m1;
        }
    }
    let f = (0.5 * (lo + hi)).exp();
    let (a, rss) = amp(f);
    let dof = spheres.len() - 2;
    let s2 = if dof > 0 { rss / dof as f64 } else { 0.0 };
    let mut jtj = [[0.0; 2]; 2];
    for &vi in &v {
        let g = model_gradient(vi, a, f, var);
        for r in 0..2 {
            for c in 0..2 {
                jtj[r][c] += g[r] * g[c];
            }
        }
    }
    let det = jtj[0][0] * jtj[1][1] - jtj[0][1] * jtj[1][0];
    let cov = if det.abs() > 0.0 {
        [
            [s2 * jtj[1][1] / det, -s2 * jtj[0][1] / det],
            [-s2 * jtj[1][0] / det, s2 * jtj[0][0] / det],
        ]
    } else {
        [[0.0; 2]; 2]
    };
    Ok(RcFit {
        params: [a, f],
        covariance: cov,
        residual_rms: (rss / spheres.len() as f64).sqrt(),
        dof,
    })
}

/// Builds the curve record from spheres measured on voxels of `voxel_mm` weighed by
/// `voi_weighting`.
pub fn curve_from_spheres(
    mut spheres: Vec<SphereRecovery>,
    concentration_bq_ml: f64,
    background_bq_ml: f64,
    voxel_mm: [f64; 3],
    voi_weighting: VoiWeighting,
    source: serde_json::Value,
) -> std::result::Result<RcCurve, PvcError> {
    let var = voi_weighting.sampling_variance_mm2(voxel_mm);
    let RcFit {
        params: p,
        covariance: cov,
        residual_rms: rms,
        dof,
    } = fit_rc_curve(&spheres, var)?;
    for s in &mut spheres {
        s.rc_fitted = p[0] * rc_gaussian_sphere(s.volume_ml, total_fwhm(p[1], var));
    }
    let mut notes = Vec::new();
    if dof == 0 {
        notes.push("two spheres for two parameters: no residual, so the curve's σ is 0; measure more spheres".into());
    }
    Ok(RcCurve {
        format: RC_FORMAT.into(),
        model: RcModel::GaussianSphere,
        formula: "RC(V) = a * RC_G(V; sqrt(fwhm_mm^2 + 8 ln2 * k * mean(voxel_mm^2)/12)): RC_G the mean over a uniform sphere of volume V (mL) of its blur by an isotropic Gaussian; k = 2 voxel boxes for partial-voxel weights, 1 for labelled voxels (patient regions use k = 1 and their own voxels)".into(),
        reference: "Kessler RM, Ellis JR, Eden M. J Comput Assist Tomogr 1984;8:514-522 (sphere recovery under Gaussian resolution); uncertainty as Gear et al. EJNMMI 2018;45:2456".into(),
        param_names: vec!["a".into(), "fwhm_mm".into()],
        params: p.to_vec(),
        param_sigma: vec![cov[0][0].max(0.0).sqrt(), cov[1][1].max(0.0).sqrt()],
        covariance: cov.iter().map(|r| r.to_vec()).collect(),
        dof,
        residual_rms: rms,
        voxel_mm,
        voi_weighting,
        concentration_bq_ml,
        background_bq_ml,
        spheres,
        source,
        notes,
    })
}

/// Extent of the synthetic scan (as the built-in `nema-iec` phantom), mm.
const NEMA_EXTENT_MM: [f64; 3] = [300.0, 232.0, 184.0];

/// A synthetic NEMA IEC scan: the built-in phantom geometry on a centred grid of
/// `voxel_mm` voxels, spheres at `sphere_bq_ml`, the rest of the interior (lung insert
/// excepted) at `background_bq_ml`, blurred by an isotropic Gaussian of `fwhm_mm`, in
/// Bq/mL, noise-free. Each voxel is the mean of the blurred image over the voxel, as a
/// reconstructed voxel is: the spheres' excess over the background exactly (the analytic
/// blurred sphere profile of the module doc, averaged over 4³ points per voxel); the
/// background, whose edges are far from the spheres, by the voxel kernel of [`super::psf`]
/// on the share of each voxel in the body outside the lung insert.
pub fn synthetic_nema_scan(
    voxel_mm: f64,
    fwhm_mm: f64,
    sphere_bq_ml: f64,
    background_bq_ml: f64,
) -> (Volume<f32>, NemaPlacement) {
    let dims = NEMA_EXTENT_MM.map(|e| ((e / voxel_mm).round() as usize).max(2));
    let grid = Grid::centred(dims, voxel_mm);
    let placement = NemaPlacement::builtin();
    let image =
        synthetic_nema_scan_placed(&grid, &placement, fwhm_mm, sphere_bq_ml, background_bq_ml);
    (image, placement)
}

/// [`synthetic_nema_scan`] on any grid with the phantom at `placement`.
pub fn synthetic_nema_scan_placed(
    grid: &Grid,
    placement: &NemaPlacement,
    fwhm_mm: f64,
    sphere_bq_ml: f64,
    background_bq_ml: f64,
) -> Volume<f32> {
    let grid = grid.clone();
    let spheres = placement.spheres();
    let mut image = if background_bq_ml != 0.0 {
        let warm: Vec<f64> = (0..grid.n_voxels())
            .map(|v| {
                background_bq_ml
                    * voxel_fraction(&grid, grid.ijk(v), |p| {
                        placement.in_body(p) && !placement.in_lung_insert(p)
                    })
            })
            .collect();
        psf::blur(&grid, &warm, &GaussianPsf::isotropic(fwhm_mm))
    } else {
        vec![0.0; grid.n_voxels()]
    };
    let sigma = fwhm_mm / psf::FWHM_PER_SIGMA;
    // The background fills the spheres too; they add their excess, exactly blurred.
    for s in &spheres {
        add_blurred_sphere(&grid, s, sigma, sphere_bq_ml - background_bq_ml, &mut image);
    }
    Volume {
        grid,
        data: image.iter().map(|&v| v as f32).collect(),
    }
}

/// Adds `bq_ml` × the voxel means of sphere `s` blurred by a Gaussian of `sigma_mm`.
fn add_blurred_sphere(grid: &Grid, s: &PlacedSphere, sigma_mm: f64, bq_ml: f64, image: &mut [f64]) {
    let radius = 0.5 * s.diameter_mm;
    let reach_mm = radius + 6.0 * sigma_mm;
    let c = grid.patient_to_voxel(s.centre_mm);
    let n = 4usize;
    let off = |m: usize| (m as f64 + 0.5) / n as f64 - 0.5;
    for k in 0..grid.dims[2] {
        for j in 0..grid.dims[1] {
            for i in 0..grid.dims[0] {
                let d = [i as f64 - c[0], j as f64 - c[1], k as f64 - c[2]];
                let dist: f64 = (0..3)
                    .map(|a| (d[a] * grid.spacing_mm[a]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                if dist > reach_mm + grid.spacing_mm.iter().copied().fold(0.0, f64::max) {
                    continue;
                }
                let mut acc = 0.0;
                for a in 0..n {
                    for b in 0..n {
                        for e in 0..n {
                            let p = grid.voxel_to_patient([
                                i as f64 + off(a),
                                j as f64 + off(b),
                                k as f64 + off(e),
                            ]);
                            let r: f64 = (0..3)
                                .map(|x| (p[x] - s.centre_mm[x]).powi(2))
                                .sum::<f64>()
                                .sqrt();
                            acc += blurred_sphere_profile(r, radius, sigma_mm);
                        }
                    }
                }
                image[grid.index(i, j, k)] += bq_ml * acc / (n * n * n) as f64;
            }
        }
    }
}

/// Sample points (offsets from the centre, mm) on a cubic lattice of `step_mm` inside a
/// ball of `radius_mm`.
fn ball_lattice(radius_mm: f64, step_mm: f64) -> Vec<[f64; 3]> {
    let n = (radius_mm / step_mm).floor() as i64;
    let mut pts = Vec::new();
    for a in -n..=n {
        for b in -n..=n {
            for c in -n..=n {
                let p = [a, b, c].map(|x| x as f64 * step_mm);
                if p.iter().map(|x| x * x).sum::<f64>() <= radius_mm * radius_mm {
                    pts.push(p);
                }
            }
        }
    }
    pts
}

/// Activity in the six spheres of `pose` (Σ of the image at lattice points, trilinear).
fn pose_score(image: &Volume<f32>, pose: &NemaPlacement, lattices: &[Vec<[f64; 3]>]) -> f64 {
    pose.spheres()
        .iter()
        .zip(lattices)
        .map(|(s, pts)| {
            pts.iter()
                .map(|o| {
                    let p = [0, 1, 2].map(|a| s.centre_mm[a] + o[a]);
                    let ijk = image.grid.patient_to_voxel(p);
                    crate::geometry::resample::trilinear_at(image, ijk).unwrap_or(0.0) as f64
                })
                .sum::<f64>()
        })
        .sum()
}

/// Finds the NEMA IEC spheres in a scan whose phantom axis runs along patient z: the
/// largest bright blob (the image smoothed by a Gaussian of 19 mm FWHM) is taken as the
/// 37 mm (or 28 mm) sphere; the ring's rotation and orientation come from a search over
/// 2° steps, both orders of the spheres; then the position (x, y, z) and angle are refined
/// by coordinate search down to 0.05 mm and 0.05°, maximising the activity inside the six
/// spheres. Returns the placement and the mean concentration inside the spheres divided
/// by the mean of the image (a contrast; below 1.5 the spheres are not found).
pub fn locate_nema(image: &Volume<f32>) -> std::result::Result<(NemaPlacement, f64), PvcError> {
    let grid = &image.grid;
    let smooth = psf::blur(
        grid,
        &image.data.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        &GaussianPsf::isotropic(19.0),
    );
    let peak = (0..smooth.len())
        .max_by(|&a, &b| smooth[a].total_cmp(&smooth[b]))
        .ok_or_else(|| PvcError::RecoveryMeasurement {
            reason: "empty image".into(),
        })?;
    let ijk = grid.ijk(peak);
    let p0 = grid.voxel_to_patient([ijk[0] as f64, ijk[1] as f64, ijk[2] as f64]);
    let radii = crate::phantoms::NEMA_SPHERE_DIAMETERS_MM.map(|d| 0.5 * d);
    let coarse: Vec<Vec<[f64; 3]>> = radii.iter().map(|&r| ball_lattice(r, 3.0)).collect();
    let fine: Vec<Vec<[f64; 3]>> = radii.iter().map(|&r| ball_lattice(r, 1.5)).collect();
    let ring = RING_RADIUS_MM;
    let mut best: Option<(f64, NemaPlacement)> = None;
    for sphere_at_peak in [5usize, 4] {
        for mirrored in [false, true] {
            for step in 0..180 {
                let angle_rad = (2.0 * step as f64).to_radians();
                let a_s = std::f64::consts::TAU * sphere_at_peak as f64 / 6.0;
                let dir = if mirrored {
                    angle_rad - a_s
                } else {
                    angle_rad + a_s
                };
                let pose = NemaPlacement {
                    centre_mm: [p0[0] - ring * dir.cos(), p0[1] - ring * dir.sin(), p0[2]],
                    angle_rad,
                    mirrored,
                };
                let s = pose_score(image, &pose, &coarse);
                if best.as_ref().is_none_or(|(b, _)| s > *b) {
                    best = Some((s, pose));
                }
            }
        }
    }
    let (mut score, mut pose) = best.ok_or_else(|| PvcError::RecoveryMeasurement {
        reason: "no pose searched".into(),
    })?;
    score = score.max(pose_score(image, &pose, &fine));
    let mut step_mm = 2.0;
    let mut step_rad = 2f64.to_radians();
    while step_mm > 0.05 {
        let mut improved = true;
        while improved {
            improved = false;
            for axis in 0..4 {
                for sign in [-1.0, 1.0] {
                    let mut trial = pose;
                    if axis < 3 {
                        trial.centre_mm[axis] += sign * step_mm;
                    } else {
                        trial.angle_rad += sign * step_rad;
                    }
                    let s = pose_score(image, &trial, &fine);
                    if s > score {
                        score = s;
                        pose = trial;
                        improved = true;
                    }
                }
            }
        }
        step_mm *= 0.5;
        step_rad *= 0.5;
    }
    let n_pts: usize = fine.iter().map(Vec::len).sum();
    let mean_in = score / n_pts as f64;
    let mean_all = image.data.iter().map(|&v| v as f64).sum::<f64>() / image.data.len() as f64;
    let contrast = if mean_all > 0.0 {
        mean_in / mean_all
    } else {
        0.0
    };
    if contrast < 1.5 {
        return Err(PvcError::RecoveryMeasurement {
            reason: format!("the NEMA IEC spheres were not found (mean inside the located spheres {contrast:.2}× the image mean); check the phantom axis runs along the scan's z axis and the spheres are hot, or give --labels"),
        });
    }
    Ok((pose, contrast))
}

/// Where the phantom image comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum RecoveryImage {
    /// A quantitative scan: DICOM NM/PT series (folder or file) or NIfTI in Bq/mL.
    Scan {
        /// The scan.
        path: PathBuf,
        /// Bq/mL per count, for a scan in counts.
        calibration_bq_ml_per_count: Option<f64>,
    },
    /// The synthetic NEMA IEC scan of [`synthetic_nema_scan`].
    Synthetic {
        /// Gaussian FWHM, mm.
        fwhm_mm: f64,
        /// Voxel size, mm.
        voxel_mm: f64,
    },
}

/// Where the spheres are.
#[derive(Clone, Debug, PartialEq)]
pub enum SphereSource {
    /// A label map (NIfTI); every non-zero label is a sphere.
    Labels(PathBuf),
    /// The built-in NEMA IEC geometry, located in the scan (exact for a synthetic scan).
    NemaIec,
}

/// What `voxdose recovery` asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct RecoveryOptions {
    /// The image.
    pub image: RecoveryImage,
    /// The spheres.
    pub spheres: SphereSource,
    /// True sphere concentration at the scan time, Bq/mL.
    pub concentration_bq_ml: f64,
    /// True background concentration at the scan time, Bq/mL (0: cold).
    pub background_bq_ml: f64,
    /// The `rc.json` to write; the plot goes beside it with extension `.png`.
    pub out: PathBuf,
    /// Replace existing outputs.
    pub force: bool,
}

/// Measures the recovery curve and writes `rc.json` and its plot (module doc); returns the
/// curve and notes for the log.
pub fn run_recovery(opts: &RecoveryOptions) -> Result<(RcCurve, Vec<String>)> {
    for (name, v) in [
        ("--concentration", opts.concentration_bq_ml),
        ("--background", opts.background_bq_ml),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(crate::Error::invalid(
                name,
                format!("{v} Bq/mL; give a concentration ≥ 0"),
            ));
        }
    }
    let plot_path = opts.out.with_extension("png");
    for p in [&opts.out, &plot_path] {
        if p.exists() && !opts.force {
            return Err(crate::Error::OutputExists { path: p.clone() });
        }
    }
    let mut notes = Vec::new();
    let (image, mut source, builtin_pose) = match &opts.image {
        RecoveryImage::Scan {
            path,
            calibration_bq_ml_per_count,
        } => {
            let img = crate::io::activity::read_activity(
                path,
                &crate::io::activity::ActivityOptions {
                    calibration_bq_ml_per_count: *calibration_bq_ml_per_count,
                },
            )?;
            notes.extend(img.provenance.warnings.iter().cloned());
            let nuclide = img
                .provenance
                .nuclide_in_file
                .clone()
                .unwrap_or("Lu-177".into());
            let dicom_psf = (img.provenance.modality != "NIfTI")
                .then(|| super::partial_volume::psf_from_camera(&img.provenance.camera, &nuclide))
                .flatten();
            let src = serde_json::json!({
                "scan": path, "value_source": img.provenance.value_source,
                "camera": img.provenance.camera,
                "psf_from_dicom": dicom_psf,
                "voxel_mm": img.concentration_bq_ml.grid.spacing_mm,
            });
            (img.concentration_bq_ml, src, None)
        }
        RecoveryImage::Synthetic { fwhm_mm, voxel_mm } => {
            for (name, v) in [("--synthetic-fwhm-mm", *fwhm_mm), ("--voxel-mm", *voxel_mm)] {
                if !(v.is_finite() && v > 0.0) {
                    return Err(crate::Error::invalid(
                        name,
                        format!("{v} mm; give a positive length"),
                    ));
                }
            }
            let (img, pose) = synthetic_nema_scan(
                *voxel_mm,
                *fwhm_mm,
                opts.concentration_bq_ml,
                opts.background_bq_ml,
            );
            let src = serde_json::json!({
                "scan": "synthetic NEMA IEC (built-in geometry, Gaussian blur, no noise)",
                "synthetic_fwhm_mm": fwhm_mm, "voxel_mm": voxel_mm,
            });
            (img, src, Some(pose))
        }
    };
    let voi_weighting = match &opts.spheres {
        SphereSource::Labels(_) => VoiWeighting::Labels,
        SphereSource::NemaIec => VoiWeighting::PartialVoxel,
    };
    let vois = match &opts.spheres {
        SphereSource::Labels(path) => {
            let lab = crate::io::nifti::read_image(path)?;
            let on_grid = if lab.volume.grid == image.grid {
                lab.volume.data.clone()
            } else {
                crate::geometry::resample::sample_nearest(&lab.volume, &image.grid, 0.0)
            };
            let labels = Volume {
                grid: image.grid.clone(),
                data: on_grid
                    .iter()
                    .map(|&v| {
                        if v.is_finite() && v > 0.0 {
                            v.round() as u32
                        } else {
                            0
                        }
                    })
                    .collect(),
            };
            source["spheres"] = serde_json::json!(format!("label map {}", path.display()));
            label_vois(&labels, &lab.label_names)
        }
        SphereSource::NemaIec => {
            let pose = match builtin_pose {
                Some(p) => p,
                None => {
                    let (p, contrast) = locate_nema(&image)?;
                    notes.push(format!("NEMA IEC spheres located: ring centre ({:.1}, {:.1}, {:.1}) mm, rotation {:.1}°{}, sphere contrast {contrast:.1}× the image mean", p.centre_mm[0], p.centre_mm[1], p.centre_mm[2], p.angle_rad.to_degrees(), if p.mirrored { ", mirrored" } else { "" }));
                    p
                }
            };
            source["spheres"] = serde_json::json!(
                "built-in NEMA IEC geometry (IEC 61675-1), partial-voxel weights"
            );
            source["placement"] = serde_json::to_value(pose).unwrap_or_default();
            nema_vois(&image.grid, &pose)
        }
    };
    let spheres = measure_spheres(
        &image,
        &vois,
        opts.concentration_bq_ml,
        opts.background_bq_ml,
    )?;
    let mut curve = curve_from_spheres(
        spheres,
        opts.concentration_bq_ml,
        opts.background_bq_ml,
        image.grid.spacing_mm,
        voi_weighting,
        source,
    )?;
    curve.notes.extend(notes.iter().cloned());
    let text = serde_json::to_vec_pretty(&curve)
        .map_err(|e| crate::Error::Internal(format!("rc.json not serialisable: {e}")))?;
    crate::io::atomic::write_atomic(&opts.out, &text)?;
    plot_curve(&curve, &plot_path)?;
    Ok((curve, notes))
}

/// Draws the measured RCs and the fitted curve (log volume axis) as a PNG.
pub fn plot_curve(curve: &RcCurve, path: &Path) -> Result<()> {
    use plotters::prelude::*;
    super::output::register_font();
    let (w, h) = (800u32, 500u32);
    let mut pixels = vec![0u8; (w * h * 3) as usize];
    let draw_err = |e: String| crate::Error::Internal(format!("recovery plot: {e}"));
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_err(e.to_string()))?;
        let (vmin, vmax) = curve.volume_range_ml();
        let (x0, x1) = ((vmin * 0.5).max(0.01), (vmax * 8.0).max(vmin * 2.0));
        let ymax = curve
            .spheres
            .iter()
            .map(|s| s.rc)
            .fold(curve.amplitude(), f64::max)
            * 1.15;
        let (f, fs) = curve.effective_fwhm_mm();
        let title = format!(
            "RC(V) = a·RC_G(V; F ⊕ voxels): a = {:.3} ± {:.3}, F = {f:.2} ± {fs:.2} mm",
            curve.params[0], curve.param_sigma[0]
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((x0..x1).log_scale(), 0.0..ymax)
            .map_err(|e| draw_err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("volume (mL)")
            .y_desc("recovery coefficient")
            .draw()
            .map_err(|e| draw_err(e.to_string()))?;
        let line: Vec<(f64, f64)> = (0..=200)
            .map(|i| {
                let v = x0 * (x1 / x0).powf(i as f64 / 200.0);
                (v, curve.rc_phantom(v))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(line, BLUE.stroke_width(2)))
            .map_err(|e| draw_err(e.to_string()))?;
        chart
            .draw_series(
                curve
                    .spheres
                    .iter()
                    .map(|s| Circle::new((s.volume_ml, s.rc), 5, RED.filled())),
            )
            .map_err(|e| draw_err(e.to_string()))?;
        root.present().map_err(|e| draw_err(e.to_string()))?;
    }
    let img = image::RgbImage::from_raw(w, h, pixels)
        .ok_or_else(|| crate::Error::Internal("plot buffer has the wrong size".into()))?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| draw_err(e.to_string()))?;
    crate::io::atomic::write_atomic(path, &png)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RC_G by the overlap integral instead of the profile: RC = (1/V)∫ g(u) V∩(|u|) d³u,
    /// V∩(d) = π(4R + d)(2R − d)²/12 the lens volume of two spheres d apart.
    fn rc_by_overlap(volume_ml: f64, fwhm_mm: f64) -> f64 {
        let r = (3.0 * volume_ml * 1000.0 / (4.0 * std::f64::consts::PI)).cbrt();
        let s = fwhm_mm / psf::FWHM_PER_SIGMA;
        let n = 4000;
        let h = 2.0 * r / n as f64;
        let mut acc = 0.0;
        for i in 0..=n {
            let d = i as f64 * h;
            let w = if i == 0 || i == n {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            let g =
                (2.0 * std::f64::consts::PI * s * s).powf(-1.5) * (-d * d / (2.0 * s * s)).exp();
            let lens = std::f64::consts::PI * (4.0 * r + d) * (2.0 * r - d).powi(2) / 12.0;
            acc += w * 4.0 * std::f64::consts::PI * d * d * g * lens;
        }
        acc * h / 3.0 / (4.0 / 3.0 * std::f64::consts::PI * r.powi(3))
    }

    #[test]
    fn sphere_rc_agrees_with_the_overlap_integral_and_its_limits() {
        for d in crate::phantoms::NEMA_SPHERE_DIAMETERS_MM {
            let v = std::f64::consts::PI * d.powi(3) / 6.0 / 1000.0;
            for f in [5.0, 10.0, 15.0] {
                let (a, b) = (rc_gaussian_sphere(v, f), rc_by_overlap(v, f));
                assert!((a - b).abs() < 1e-6, "D {d} F {f}: {a} vs {b}");
            }
        }
        assert_eq!(rc_gaussian_sphere(1.0, 0.0), 1.0);
        // A large sphere loses through its surface what a flat edge spills, σ/√(2π) per unit
        // area: RC ≈ 1 − 3σ/(√(2π)R), with a second-order remainder ~ (σ/R)².
        let (v, f) = (1.0e4, 10.0);
        let r = (3.0 * v * 1000.0 / (4.0 * std::f64::consts::PI)).cbrt();
        let s = f / psf::FWHM_PER_SIGMA;
        let flat = 1.0 - 3.0 * s / ((2.0 * std::f64::consts::PI).sqrt() * r);
        assert!(
            (rc_gaussian_sphere(v, f) - flat).abs() < 2.0 * (s / r).powi(2),
            "{}",
            rc_gaussian_sphere(v, f)
        );
        assert!(rc_gaussian_sphere(0.001, 10.0) < 0.01);
    }

    #[test]
    fn psf_defaults_reproduce_their_published_recovery_coefficients() {
        // data/psf_defaults/PROVENANCE.md: Hippeläinen et al. EJNMMI Res 2016;6:16, cRC of
        // the 1.3-cm sphere 0.43 (with collimator-detector response compensation) and 0.19
        // (attenuation correction only).
        let v13 = std::f64::consts::PI * 13f64.powi(3) / 6.0 / 1000.0;
        for (rr, crc) in [(true, 0.43), (false, 0.19)] {
            let d = psf::default_fwhm("Lu-177", Some("MEGP"), Some(rr)).unwrap();
            let rc = rc_gaussian_sphere(v13, d.fwhm_mm);
            assert!((rc - crc).abs() < 0.005, "{rr}: {rc} vs {crc}");
        }
    }

    #[test]
    fn the_fit_returns_the_curve_it_was_given_and_sigma_from_scatter() {
        let truth = [0.93, 11.0];
        let spheres: Vec<SphereRecovery> = crate::phantoms::NEMA_SPHERE_DIAMETERS_MM
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let v = std::f64::consts::PI * d.powi(3) / 6.0 / 1000.0;
                let wobble = if i % 2 == 0 { 1.01 } else { 0.99 };
                SphereRecovery {
                    name: format!("s{i}"),
                    volume_ml: v,
                    voxels: 1.0,
                    mean_bq_ml: 0.0,
                    sd_bq_ml: 0.0,
                    rc: truth[0] * rc_gaussian_sphere(v, truth[1]) * wobble,
                    rc_sigma: 0.0,
                    rc_fitted: 0.0,
                }
            })
            .collect();
        let c = curve_from_spheres(
            spheres,
            1.0,
            0.0,
            [0.0; 3],
            VoiWeighting::Labels,
            serde_json::json!({}),
        )
        .unwrap();
        assert!((c.params[0] - truth[0]).abs() < 0.03, "{:?}", c.params);
        assert!((c.params[1] - truth[1]).abs() < 0.5, "{:?}", c.params);
        // ±1 % scatter: the parameter σ are non-zero and cover the truth at ~3σ.
        assert!(c.param_sigma.iter().all(|&s| s > 0.0));
        assert!((c.params[1] - truth[1]).abs() < 3.0 * c.param_sigma[1] + 1e-9);
        let s = c.rc_sigma(5.0, [0.0; 3]);
        assert!(s > 0.0 && s < 0.05, "{s}");
    }
}
