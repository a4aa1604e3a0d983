//! The fast dose methods next to Monte Carlo (`voxdose run --method dvk|ldm`):
//!
//! - **dvk**, dose-voxel-kernel convolution: D(v) = Σ_s w(s)/W · K(v − s), K the dose per
//!   decay around a source voxel in a homogeneous medium (a voxel S-value kernel, MIRD
//!   Pamphlet 17, Bolch et al. 1999, J Nucl Med 40:11S). K is made by voxdose's own Monte
//!   Carlo for the run's nuclide, voxel size and medium (the `vsv` geometry, anisotropic
//!   voxels allowed, half-width [`KERNEL_HALF_WIDTH_MM`], [`KERNEL_DECAYS`] decays), with a
//!   photon tail beyond it to [`TAIL_REACH_MM`] (the radial profile of a point source in a
//!   ±250 mm box of the medium, [`TAIL_DECAYS`] decays), and cached on disk with its
//!   provenance ([`kernel_cache_dir`]). The sum is two linear convolutions by real FFTs
//!   (`realfft`), zero-padded so nothing wraps: the kernel near the source voxel on the grid,
//!   and the smooth tail on blocks of about [`FAR_BLOCK_MM`], interpolated back. The medium is
//!   the material of the voxel holding the most activity, at its nominal density, and it is
//!   taken as filling all space (no edges, no heterogeneity). Optional density scaling
//!   (`--density-scaling`): D(v) × ρ_kernel/ρ(v), the same energy in a different mass.
//! - **ldm**, local deposition: each voxel keeps the electron energy of its own decays
//!   (ICRP-107 β, conversion and Auger electrons per decay); photons are not counted.
//!
//! Neither has a Monte Carlo σ: the uncertainty map is zero and the summary says so by its
//! `method`. Both ignore heterogeneity (except the density scaling) and edges: in lung, bone
//! and near the skin they differ from `mc` by design.

use super::problem::Problem;
use crate::geometry::{Grid, VoxelModel};
use crate::physics::materials::{builtin_materials, material_index};
use crate::source::{Shape, SourceSpec};
use crate::tally::J_PER_KEV;
use crate::transport::driver::UncertaintySummary;
use crate::transport::{
    simulate, Device, DeviceInfo, Observer, RegionDose, Silent, StopRule, TransportResult,
};
use crate::{Error, Result};
use rayon::prelude::*;
use realfft::num_complex::Complex;
use realfft::RealFftPlanner;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Half-width of a dose-voxel kernel, mm (at most [`KERNEL_MAX_HALF_VOXELS`] voxels): covers
/// every β range of the nuclides voxdose knows (90Y: 11 mm in tissue) and most of the photon
/// dose near a source.
pub const KERNEL_HALF_WIDTH_MM: f64 = 60.0;
/// Most voxels on either side of the centre of a kernel.
pub const KERNEL_MAX_HALF_VOXELS: usize = 20;
/// Decays simulated for a kernel.
pub const KERNEL_DECAYS: u64 = 1_000_000;
/// Reach of a kernel's photon tail, mm. Past the Monte Carlo cube the kernel is the dose per
/// decay of a point source at the voxel's distance, read from a radial profile
/// ([`RadialProfile`]) out to here and zero beyond. At 250 mm of water 3.4 % of 177Lu's
/// 208 keV photons are still unscattered (μ/ρ = 0.1352 cm²/g, NIST XCOM, the
/// `water_liquid,208` row of tests/reference/xcom_mass_attenuation_cm2_per_g.csv), 6 % of
/// 131I's 364 keV ones; in a 400 mm cube the kernel keeps the energy MC keeps within 0.4 %
/// (tests/validation_dvk.rs).
pub const TAIL_REACH_MM: f64 = 250.0;
/// Distance from the source voxel's centre within which the kernel is the Monte Carlo cube's
/// (where it is closer than this, or within [`ELECTRON_REACH_MM`] of the source voxel's
/// faces); the tail beyond. The cube is a box of the medium only ±[`KERNEL_HALF_WIDTH_MM`]
/// wide: its photon dose lacks what scatters back from beyond its faces, up to 10–20 % low at
/// 25–60 mm and half at its corners (measured at 8 mm voxels, 177Lu), while the tail's box
/// reaches [`TAIL_REACH_MM`]; the tail's shells are photons only beyond the electrons' reach
/// from its 5 mm source voxel (about 15 mm for 90Y).
pub const CUBE_REACH_MM: f64 = 20.0;
/// The longest electron range of the nuclides voxdose knows, mm: 90Y's β CSDA range at its
/// 2.28 MeV endpoint is about 11 mm in water (ESTAR). A voxel whose nearest point is closer
/// than this to the source voxel may get electrons, so it keeps the cube's value.
pub const ELECTRON_REACH_MM: f64 = 12.0;
/// Block size of the grid the far field is convolved on, mm (whole voxels, at least one):
/// the tail is smooth at that scale ([`Kernel::far_field`]).
pub const FAR_BLOCK_MM: f64 = 8.0;
/// Voxel size of the tail's Monte Carlo, and the width of its radial shells, mm.
pub const TAIL_VOXEL_MM: f64 = 5.0;
/// Decays simulated for a tail.
pub const TAIL_DECAYS: u64 = 2_000_000;
/// Seed of kernel runs (a kernel is a function of its key alone).
const KERNEL_SEED: u64 = 17;

/// A dose-voxel kernel cache problem (exit code 46).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// A cached kernel cannot be read or is not the kernel asked for.
    #[error("dose-voxel kernel cache {path}: {detail}; delete the file (it is remade) or set VOXDOSE_KERNEL_CACHE to another folder")]
    Cache {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

impl KernelError {
    /// The exit code of this error class (crate::error's table).
    pub fn exit_code(&self) -> i32 {
        40
    }
}

/// How a run's dose is computed (`--method`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DoseMethod {
    /// Monte Carlo transport.
    #[default]
    Mc,
    /// Dose-voxel-kernel convolution.
    Dvk,
    /// Local deposition of the electron energy.
    Ldm,
}

impl DoseMethod {
    /// The names `--method` accepts.
    pub const NAMES: [&'static str; 3] = ["mc", "dvk", "ldm"];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            DoseMethod::Mc => "mc",
            DoseMethod::Dvk => "dvk",
            DoseMethod::Ldm => "ldm",
        }
    }
}

impl std::str::FromStr for DoseMethod {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mc" => Ok(DoseMethod::Mc),
            "dvk" => Ok(DoseMethod::Dvk),
            "ldm" => Ok(DoseMethod::Ldm),
            other => Err(Error::invalid(
                "--method",
                format!("'{other}'; give mc, dvk or ldm"),
            )),
        }
    }
}

/// What identifies a kernel: a cached kernel is reused only for the same key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KernelKey {
    /// Nuclide.
    pub nuclide: String,
    /// Medium (built-in material).
    pub material: String,
    /// Medium density, g/cm³.
    pub density_g_cm3: f32,
    /// Voxel size, mm.
    pub spacing_mm: [f64; 3],
    /// Voxels on either side of the centre, per axis.
    pub half_voxels: [usize; 3],
    /// Electron and photon cutoffs, keV.
    pub cutoffs_kev: [f32; 2],
    /// Decays simulated.
    pub decays: u64,
    /// Reach of the photon tail, mm ([`TAIL_REACH_MM`]).
    pub tail_reach_mm: f64,
    /// Decays simulated for the tail.
    pub tail_decays: u64,
    /// The voxdose version that made it (physics changes between versions).
    pub voxdose_version: String,
}

/// A kernel with its provenance: dose per decay (Gy) around a source voxel.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Kernel {
    /// What it is.
    pub key: KernelKey,
    /// How it was made, in words.
    pub provenance: String,
    /// Dose per decay, Gy, i fastest, (2·half + 1) per axis.
    pub dose_gy_per_decay: Vec<f32>,
    /// Past the cube: the dose per decay around a point source, by distance.
    pub tail: RadialProfile,
}

impl Kernel {
    /// Voxels per axis.
    pub fn dims(&self) -> [usize; 3] {
        self.key.half_voxels.map(|h| 2 * h + 1)
    }

    /// The kernel for a grid of `dims` voxels of the key's spacing: the Monte Carlo cube near
    /// the source voxel ([`CUBE_REACH_MM`], [`ELECTRON_REACH_MM`]), and the tail at each
    /// voxel's distance beyond, out to [`KernelKey::tail_reach_mm`]; no wider than the grid
    /// needs (an offset of `dims` voxels or more reaches no voxel).
    pub fn assembled(&self, dims: [usize; 3]) -> (Vec<f32>, [usize; 3]) {
        let sp = self.key.spacing_mm;
        let near = self.key.half_voxels;
        let half = [0, 1, 2].map(|a| {
            let reach = (self.key.tail_reach_mm / sp[a]).ceil() as usize;
            reach.max(near[a]).min(dims[a].saturating_sub(1))
        });
        let kd = half.map(|h| 2 * h + 1);
        let mut out = vec![0.0f32; kd[0] * kd[1] * kd[2]];
        out.par_chunks_mut(kd[0])
            .enumerate()
            .for_each(|(line, dst)| {
                let dj = (line % kd[1]) as i64 - half[1] as i64;
                let dk = (line / kd[1]) as i64 - half[2] as i64;
                for (i, x) in dst.iter_mut().enumerate() {
                    *x = self.value_at([i as i64 - half[0] as i64, dj, dk]);
                }
            });
        (out, kd)
    }

    /// The kernel at voxel offset `d` from the source voxel.
    fn value_at(&self, d: [i64; 3]) -> f32 {
        let sp = self.key.spacing_mm;
        let near = self.key.half_voxels;
        let centre = offset_mm(d.map(|x| x as f64), sp);
        // Between the nearest points of the two voxels.
        let gap = offset_mm(d.map(|x| (x.unsigned_abs() as f64 - 1.0).max(0.0)), sp);
        let in_cube = (0..3).all(|a| d[a].unsigned_abs() as usize <= near[a]);
        if in_cube && (centre <= CUBE_REACH_MM || gap < ELECTRON_REACH_MM) {
            let nd = self.dims();
            let q = [0, 1, 2].map(|a| (d[a] + near[a] as i64) as usize);
            self.dose_gy_per_decay[q[0] + nd[0] * (q[1] + nd[1] * q[2])]
        } else {
            self.tail.at(centre, self.key.tail_reach_mm) as f32
        }
    }

    /// The tail everywhere, its core flat: the smooth function the far field convolves with.
    pub fn smooth_tail(&self, r_mm: f64) -> f64 {
        self.tail
            .at(r_mm.max(CUBE_REACH_MM), self.key.tail_reach_mm)
    }

    /// The near kernel: the assembled kernel less [`Self::smooth_tail`] (which the far field
    /// adds back), so zero where the assembled kernel is the tail beyond [`CUBE_REACH_MM`].
    /// The cube's size, or wider where the cube stops short of that reach (voxels under
    /// 1 mm: 20 voxels each way), so that the tail's own fall inside it is kept.
    pub fn near(&self) -> (Vec<f32>, [usize; 3]) {
        let sp = self.key.spacing_mm;
        let h =
            [0, 1, 2].map(|a| self.key.half_voxels[a].max((CUBE_REACH_MM / sp[a]).ceil() as usize));
        let nd = h.map(|x| 2 * x + 1);
        let k = (0..nd[0] * nd[1] * nd[2])
            .map(|v| {
                let q = unravel(v, nd);
                let d = [0, 1, 2].map(|a| q[a] as i64 - h[a] as i64);
                let r = offset_mm(d.map(|x| x as f64), sp);
                (f64::from(self.value_at(d)) - self.smooth_tail(r)) as f32
            })
            .collect();
        (k, nd)
    }

    /// The far field of the source weights `w` on a grid of `dims`: `w` summed over blocks of
    /// about [`FAR_BLOCK_MM`], convolved with [`Self::smooth_tail`] at the blocks' centres,
    /// and interpolated back to the voxels' centres (trilinear).
    pub fn far_field(&self, w: &[f64], dims: [usize; 3]) -> Vec<f64> {
        let sp = self.key.spacing_mm;
        let f = sp.map(|s| ((FAR_BLOCK_MM / s).floor() as usize).max(1));
        // One block more on each side, holding no activity: the interpolation then has a
        // block centre beyond every voxel centre.
        let cd = [0, 1, 2].map(|a| dims[a].div_ceil(f[a]) + 2);
        let mut blocks = vec![0.0; cd[0] * cd[1] * cd[2]];
        for (v, &x) in w.iter().enumerate() {
            let q = unravel(v, dims);
            let b = [0, 1, 2].map(|a| q[a] / f[a] + 1);
            blocks[b[0] + cd[0] * (b[1] + cd[1] * b[2])] += x;
        }
        let csp = [0, 1, 2].map(|a| sp[a] * f[a] as f64);
        let half = [0, 1, 2].map(|a| {
            ((self.key.tail_reach_mm / csp[a]).ceil() as usize).min(cd[a].saturating_sub(1))
        });
        let kd = half.map(|h| 2 * h + 1);
        let k: Vec<f32> = (0..kd[0] * kd[1] * kd[2])
            .map(|v| {
                let q = unravel(v, kd);
                let r = offset_mm([0, 1, 2].map(|a| q[a] as f64 - half[a] as f64), csp);
                self.smooth_tail(r) as f32
            })
            .collect();
        let coarse = fft_convolve(&blocks, cd, &k, kd);
        upsample(&coarse, cd, f, dims)
    }
}

/// (i, j, k) of the linear index `v` of a volume of `dims`, i fastest.
fn unravel(v: usize, dims: [usize; 3]) -> [usize; 3] {
    [
        v % dims[0],
        (v / dims[0]) % dims[1],
        v / (dims[0] * dims[1]),
    ]
}

/// Length, mm, of an offset of `d` voxels of `spacing_mm` per axis.
fn offset_mm(d: [f64; 3], spacing_mm: [f64; 3]) -> f64 {
    (glam::DVec3::from(d) * glam::DVec3::from(spacing_mm)).length()
}

/// Trilinear interpolation of `coarse` (values at the centres of blocks of `f` voxels, `cd`
/// blocks per axis, the first and last outside the grid) at the centres of the voxels of a
/// grid of `dims`.
fn upsample(coarse: &[f64], cd: [usize; 3], f: [usize; 3], dims: [usize; 3]) -> Vec<f64> {
    // Per axis and voxel: the lower block, the upper block and the weight of the upper.
    let axis = |a: usize| -> Vec<(usize, usize, f64)> {
        (0..dims[a])
            .map(|i| {
                let x = ((i as f64 + 0.5) / f[a] as f64 + 0.5).clamp(0.0, (cd[a] - 1) as f64);
                let lo = x.floor() as usize;
                let hi = (lo + 1).min(cd[a] - 1);
                (lo, hi, x - lo as f64)
            })
            .collect()
    };
    let (ax, ay, az) = (axis(0), axis(1), axis(2));
    let at = |i: usize, j: usize, k: usize| coarse[i + cd[0] * (j + cd[1] * k)];
    let mut out = vec![0.0; dims[0] * dims[1] * dims[2]];
    out.par_chunks_mut(dims[0])
        .enumerate()
        .for_each(|(line, dst)| {
            let (j0, j1, ty) = ay[line % dims[1]];
            let (k0, k1, tz) = az[line / dims[1]];
            for (o, &(i0, i1, tx)) in dst.iter_mut().zip(&ax) {
                let lerp = |a: f64, b: f64, t: f64| a + t * (b - a);
                let plane = |k: usize| {
                    lerp(
                        lerp(at(i0, j0, k), at(i1, j0, k), tx),
                        lerp(at(i0, j1, k), at(i1, j1, k), tx),
                        ty,
                    )
                };
                *o = lerp(plane(k0), plane(k1), tz);
            }
        });
    out
}

/// Dose per decay (Gy) around a point source in a homogeneous medium, by distance: the mean
/// over the voxels of each spherical shell of a Monte Carlo tally.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RadialProfile {
    /// Mean distance of each shell's voxels from the source, mm, increasing.
    pub r_mm: Vec<f64>,
    /// Mean dose per decay in each shell, Gy.
    pub dose_gy_per_decay: Vec<f64>,
}

impl RadialProfile {
    /// The profile of a tally on a cubic-voxel `grid` whose source is its central voxel:
    /// shells of one voxel's width.
    fn from_tally(grid: &Grid, dose: &[f64]) -> Self {
        let sp = grid.spacing_mm[0];
        let c = grid.dims.map(|n| (n / 2) as f64);
        let shells = grid.dims[0];
        let (mut r_sum, mut d_sum, mut n) =
            (vec![0.0; shells], vec![0.0; shells], vec![0u64; shells]);
        for (v, &d) in dose.iter().enumerate() {
            let ijk = grid.ijk(v);
            let r = offset_mm([0, 1, 2].map(|a| ijk[a] as f64 - c[a]), [sp; 3]);
            let s = (r / sp).round() as usize;
            if s < shells {
                r_sum[s] += r;
                d_sum[s] += d;
                n[s] += 1;
            }
        }
        let filled = (0..shells).filter(|&s| n[s] > 0);
        RadialProfile {
            r_mm: filled.clone().map(|s| r_sum[s] / n[s] as f64).collect(),
            dose_gy_per_decay: filled.map(|s| d_sum[s] / n[s] as f64).collect(),
        }
    }

    /// The dose at `r_mm`: D·r² linear between shells (smooth where D falls as 1/r² and
    /// by attenuation), the first shell's below it, zero past `reach_mm` or the last shell.
    pub fn at(&self, r_mm: f64, reach_mm: f64) -> f64 {
        let (r, d) = (&self.r_mm, &self.dose_gy_per_decay);
        if r.is_empty() || r_mm > reach_mm || r_mm > r[r.len() - 1] {
            return 0.0;
        }
        let k = r.partition_point(|&x| x < r_mm);
        if k == 0 || r[k - 1] <= 0.0 {
            return d[k.min(r.len() - 1)];
        }
        let f = |i: usize| d[i] * r[i] * r[i];
        let t = (r_mm - r[k - 1]) / (r[k] - r[k - 1]);
        (f(k - 1) + t * (f(k) - f(k - 1))) / (r_mm * r_mm)
    }
}

/// Where kernels are cached: `$VOXDOSE_KERNEL_CACHE`, else `$XDG_CACHE_HOME/voxdose/dvk`, else
/// `$HOME/.cache/voxdose/dvk`, else the system temporary folder's `voxdose-dvk`.
pub fn kernel_cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("VOXDOSE_KERNEL_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("voxdose").join("dvk");
    }
    if let Some(p) = std::env::var_os("HOME") {
        return PathBuf::from(p).join(".cache").join("voxdose").join("dvk");
    }
    std::env::temp_dir().join("voxdose-dvk")
}

/// The key of the kernel for `problem`: its nuclide, grid spacing, cutoffs and the medium of
/// the voxel with the most activity.
pub fn kernel_key(problem: &Problem) -> Result<KernelKey> {
    let m = &problem.model;
    let hottest = match &problem.source {
        SourceSpec::Voxels { weights } => weights
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(v, _)| v)
            .unwrap_or(0),
        SourceSpec::Shapes(_) => source_weights(&problem.source, &m.grid)
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(v, _)| v)
            .unwrap_or(0),
    };
    let material = m.materials[m.material[hottest] as usize].clone();
    let mi = material_index(&material)
        .ok_or_else(|| Error::Internal(format!("model material {material} is not built in")))?;
    let s = &problem.settings;
    let spacing = m.grid.spacing_mm;
    Ok(KernelKey {
        nuclide: s.nuclide.name.clone(),
        material,
        density_g_cm3: builtin_materials()[mi].density_g_cm3 as f32,
        spacing_mm: spacing,
        half_voxels: spacing
            .map(|d| ((KERNEL_HALF_WIDTH_MM / d).ceil() as usize).clamp(1, KERNEL_MAX_HALF_VOXELS)),
        cutoffs_kev: [s.electron_cutoff_kev, s.photon_cutoff_kev],
        decays: KERNEL_DECAYS,
        tail_reach_mm: TAIL_REACH_MM,
        tail_decays: TAIL_DECAYS,
        voxdose_version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

/// The cache file of `key`: a name from its parts (readable, and distinct for distinct keys).
fn cache_file(dir: &Path, key: &KernelKey) -> PathBuf {
    let text = serde_json::to_string(key).unwrap_or_default();
    // FNV-1a over the key's JSON: a short, stable name; the key inside is checked on load.
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    dir.join(format!(
        "{}_{}_{:.3}x{:.3}x{:.3}mm_{hash:016x}.json",
        key.nuclide, key.material, key.spacing_mm[0], key.spacing_mm[1], key.spacing_mm[2]
    ))
}

/// The kernel of `key`: from the cache, else made by Monte Carlo on `device` and cached.
pub fn kernel(key: &KernelKey, device: &Device, observer: &mut dyn Observer) -> Result<Kernel> {
    let dir = kernel_cache_dir();
    let path = cache_file(&dir, key);
    if path.exists() {
        let text = std::fs::read(&path).map_err(|e| KernelError::Cache {
            path: path.clone(),
            detail: format!("unreadable ({e})"),
        })?;
        let k: Kernel = serde_json::from_slice(&text).map_err(|e| KernelError::Cache {
            path: path.clone(),
            detail: format!("not a kernel file ({e})"),
        })?;
        let n: usize = k.dims().iter().product();
        if k.key != *key || k.dose_gy_per_decay.len() != n {
            return Err(KernelError::Cache {
                path,
                detail: "holds another kernel than its name says".into(),
            }
            .into());
        }
        observer.note(&format!("dose-voxel kernel from {}", path.display()));
        return Ok(k);
    }
    observer.note(&format!(
        "making the dose-voxel kernel ({} in {}, {:?} mm voxels, {} decays); cached in {}",
        key.nuclide,
        key.material,
        key.spacing_mm,
        key.decays,
        dir.display()
    ));
    let k = make_kernel(key, device)?;
    std::fs::create_dir_all(&dir).map_err(|source| Error::OutputNotWritable {
        path: dir.clone(),
        source,
    })?;
    let text = serde_json::to_vec(&k)
        .map_err(|e| Error::Internal(format!("kernel not serialisable: {e}")))?;
    crate::io::atomic::write_atomic(&path, &text)?;
    Ok(k)
}

/// Runs the kernel's Monte Carlo: the cube, a homogeneous box of the key's voxels with the
/// source uniform in its central voxel; then the tail, the same in a box of
/// [`TAIL_VOXEL_MM`] voxels reaching [`KernelKey::tail_reach_mm`] each way, averaged over
/// shells.
pub fn make_kernel(key: &KernelKey, device: &Device) -> Result<Kernel> {
    let dims = key.half_voxels.map(|h| 2 * h + 1);
    let cube = central_voxel_run(
        key,
        Grid::new(dims, key.spacing_mm, [0.0; 3]),
        key.decays,
        device,
    )?;
    let n = 2 * (key.tail_reach_mm / TAIL_VOXEL_MM).ceil() as usize + 1;
    let tail_grid = Grid::new([n; 3], [TAIL_VOXEL_MM; 3], [0.0; 3]);
    let tail = central_voxel_run(key, tail_grid.clone(), key.tail_decays, device)?;
    Ok(Kernel {
        key: key.clone(),
        provenance: format!(
            "voxdose {} Monte Carlo ({} {}), {} decays of {} uniform in the central voxel of {}×{}×{} voxels of {:?} mm of {} at {} g/cm³, seed {KERNEL_SEED}; past it the shell means of {} decays in the central voxel of {n}³ voxels of {TAIL_VOXEL_MM} mm, to {} mm",
            key.voxdose_version,
            cube.device.kind,
            cube.device.name,
            cube.decays,
            key.nuclide,
            dims[0],
            dims[1],
            dims[2],
            key.spacing_mm,
            key.material,
            key.density_g_cm3,
            tail.decays,
            key.tail_reach_mm
        ),
        dose_gy_per_decay: cube.dose_gy_per_decay.iter().map(|&d| d as f32).collect(),
        tail: RadialProfile::from_tally(&tail_grid, &tail.dose_gy_per_decay),
    })
}

/// `decays` of the key's nuclide uniform in the central voxel of `grid`, filled with the key's
/// medium.
fn central_voxel_run(
    key: &KernelKey,
    grid: Grid,
    decays: u64,
    device: &Device,
) -> Result<TransportResult> {
    let centre = grid.dims.map(|n| n / 2);
    let lo = [0, 1, 2].map(|a| centre[a] as f64 * grid.spacing_mm[a]);
    let hi = [0, 1, 2].map(|a| lo[a] + grid.spacing_mm[a]);
    let model = VoxelModel::homogeneous(grid, &key.material, key.density_g_cm3);
    let source = SourceSpec::Shapes(vec![(
        Shape::Box {
            min_mm: lo,
            max_mm: hi,
        },
        1.0,
    )]);
    let settings = crate::transport::TransportSettings {
        nuclide: crate::physics::nuclide::Nuclide::load(&key.nuclide)?,
        stop: StopRule::Decays(decays),
        seed: KERNEL_SEED,
        batches: 10,
        electron_cutoff_kev: key.cutoffs_kev[0],
        photon_cutoff_kev: key.cutoffs_kev[1],
        emissions: Default::default(),
        decays_per_block: None,
    };
    simulate(&model, &source, &settings, device, &mut Silent)
}

/// Source weights per voxel of `grid` (a voxel source as given; shapes by their voxels'
/// centres, each shape's weight spread evenly), normalised to sum 1.
fn source_weights(source: &SourceSpec, grid: &Grid) -> Vec<f64> {
    let mut w = vec![0.0f64; grid.n_voxels()];
    match source {
        SourceSpec::Voxels { weights } => {
            for (o, &x) in w.iter_mut().zip(weights) {
                *o = f64::from(x);
            }
        }
        SourceSpec::Shapes(shapes) => {
            for (shape, weight) in shapes {
                let inside: Vec<usize> = (0..grid.n_voxels())
                    .filter(|&v| {
                        let c = grid.ijk(v);
                        shape.contains([0, 1, 2].map(|a| (c[a] as f64 + 0.5) * grid.spacing_mm[a]))
                    })
                    .collect();
                for &v in &inside {
                    w[v] += weight / inside.len().max(1) as f64;
                }
            }
        }
    }
    let total: f64 = w.iter().sum();
    if total > 0.0 {
        w.iter_mut().for_each(|x| *x /= total);
    }
    w
}

/// Dose per decay (Gy) of `problem` by local deposition of the electron energy.
pub fn local_deposition(problem: &Problem) -> Vec<f64> {
    let n = &problem.settings.nuclide;
    let e_kev = n
        .beta_branches
        .iter()
        .map(|b| b.energy_kev * b.yield_per_decay)
        .sum::<f64>()
        + n.lines
            .iter()
            .filter(|l| l.kind.is_electron())
            .map(|l| l.energy_kev * l.yield_per_decay)
            .sum::<f64>();
    let m = &problem.model;
    let w = source_weights(&problem.source, &m.grid);
    (0..w.len())
        .into_par_iter()
        .map(|v| {
            let mass = m.voxel_mass_kg(v);
            if mass > 0.0 {
                w[v] * e_kev * J_PER_KEV / mass
            } else {
                0.0
            }
        })
        .collect()
}

/// Dose per decay (Gy) of `problem` by convolution with `kernel`; `density_scaling`:
/// × ρ_kernel/ρ(v).
///
/// Two convolutions, as [`Kernel::near`] and [`Kernel::far_field`] split the kernel: the
/// near part on the grid, the smooth far part on blocks of about [`FAR_BLOCK_MM`]. Their sum
/// is the convolution with [`Kernel::assembled`] up to the blocks' sampling of the tail.
pub fn convolve_dose(problem: &Problem, kernel: &Kernel, density_scaling: bool) -> Vec<f64> {
    let m = &problem.model;
    let w = source_weights(&problem.source, &m.grid);
    let (k, dk) = kernel.near();
    let mut d = fft_convolve(&w, m.grid.dims, &k, dk);
    let far = kernel.far_field(&w, m.grid.dims);
    d.par_iter_mut().zip(&far).for_each(|(x, f)| *x += f);
    if density_scaling {
        let rho_k = f64::from(kernel.key.density_g_cm3);
        d.par_iter_mut()
            .zip(&m.density_g_cm3)
            .for_each(|(x, &rho)| *x *= rho_k / f64::from(rho).max(1e-6));
    }
    d
}

/// A fast FFT length ≥ n: 2^a·3^b·5^c.
fn fast_len(n: usize) -> usize {
    (n..)
        .find(|&m| {
            let mut x = m;
            for p in [2, 3, 5] {
                while x % p == 0 {
                    x /= p;
                }
            }
            x == 1
        })
        .expect("a 5-smooth number always follows")
}

/// Linear convolution of `a` (dims `da`, i fastest) with the centred kernel `k` (dims `dk`,
/// odd), cropped to `da`: out(v) = Σ_s a(s) k(v − s + centre). Real FFT along i, complex
/// FFTs along j and k, zero-padded to `da + dk/2` (and at least `dk`; rounded up to a fast
/// length): of the circular convolution only the cropped window is kept, and no term wraps
/// into it at that length (the full linear one would need `da + dk − 1`).
///
/// Two layouts of the half spectrum (`nc` = n_i/2 + 1 bins along i): *planes*, index
/// i + nc·(j + n_j·k), for the transforms along i and j; *columns*, index (i + nc·j)·n_k + k,
/// for the transform along k and the product. Each spectrum is transposed once, planes to
/// columns, and the product once back; transforms of lines or planes that are zero (the
/// padding) or not needed (the crop) are skipped. Three buffers of the padded size in all.
pub fn fft_convolve(a: &[f64], da: [usize; 3], k: &[f32], dk: [usize; 3]) -> Vec<f64> {
    let n = [0, 1, 2].map(|ax| fast_len((da[ax] + dk[ax] / 2).max(dk[ax])));
    let ffts = Ffts::plan(n);
    let mut planes = vec![Complex::new(0.0, 0.0); ffts.len()];
    let sa = ffts.forward(&mut planes, da, &|v| a[v]);
    let sk = ffts.forward(&mut planes, dk, &|v| f64::from(k[v]));
    let mut product = sa;
    product.par_iter_mut().zip(&sk).for_each(|(x, y)| *x *= y);
    drop(sk);
    let c = [0, 1, 2].map(|ax| dk[ax] / 2);
    ffts.inverse_cropped(&mut product, &mut planes, da, c)
}

/// The FFT plans of one padded size `n`.
struct Ffts {
    n: [usize; 3],
    nc: usize,
    r2c: std::sync::Arc<dyn realfft::RealToComplex<f64>>,
    c2r: std::sync::Arc<dyn realfft::ComplexToReal<f64>>,
    fwd: [std::sync::Arc<dyn rustfft::Fft<f64>>; 2],
    inv: [std::sync::Arc<dyn rustfft::Fft<f64>>; 2],
}

impl Ffts {
    fn plan(n: [usize; 3]) -> Self {
        let mut planner = RealFftPlanner::<f64>::new();
        let mut cplanner = rustfft::FftPlanner::<f64>::new();
        Ffts {
            n,
            nc: n[0] / 2 + 1,
            r2c: planner.plan_fft_forward(n[0]),
            c2r: planner.plan_fft_inverse(n[0]),
            fwd: [
                cplanner.plan_fft_forward(n[1]),
                cplanner.plan_fft_forward(n[2]),
            ],
            inv: [
                cplanner.plan_fft_inverse(n[1]),
                cplanner.plan_fft_inverse(n[2]),
            ],
        }
    }

    /// Bins of the half spectrum.
    fn len(&self) -> usize {
        self.nc * self.n[1] * self.n[2]
    }

    /// The spectrum, in columns, of a volume of `dims` (values from `get(v)`) zero-padded to
    /// `n`; `planes` is scratch of [`Self::len`] bins.
    fn forward(
        &self,
        planes: &mut [Complex<f64>],
        dims: [usize; 3],
        get: &(dyn Fn(usize) -> f64 + Sync),
    ) -> Vec<Complex<f64>> {
        let (n, nc) = (self.n, self.nc);
        planes.par_chunks_mut(nc).enumerate().for_each_init(
            || (self.r2c.make_input_vec(), self.r2c.make_output_vec()),
            |(inp, out), (line, dst)| {
                let (j, kk) = (line % n[1], line / n[1]);
                if j >= dims[1] || kk >= dims[2] {
                    dst.fill(Complex::new(0.0, 0.0));
                    return;
                }
                let base = dims[0] * (j + dims[1] * kk);
                for (i, x) in inp.iter_mut().enumerate() {
                    *x = if i < dims[0] { get(base + i) } else { 0.0 };
                }
                self.r2c.process(inp, out).expect("lengths from the plan");
                dst.copy_from_slice(out);
            },
        );
        fft_along_j(planes, [nc, n[1]], 0..dims[2], &self.fwd[0]);
        let mut columns = vec![Complex::new(0.0, 0.0); self.len()];
        planes_to_columns(planes, &mut columns, nc * n[1], n[2]);
        columns
            .par_chunks_mut(n[2] * COLUMN_BLOCK)
            .for_each(|lines| self.fwd[1].process(lines));
        columns
    }

    /// The inverse of a spectrum in `columns` (overwritten), cropped to `da` from offset `c`
    /// (the kernel's centre); `planes` is scratch of [`Self::len`] bins.
    fn inverse_cropped(
        &self,
        columns: &mut [Complex<f64>],
        planes: &mut [Complex<f64>],
        da: [usize; 3],
        c: [usize; 3],
    ) -> Vec<f64> {
        let (n, nc) = (self.n, self.nc);
        columns
            .par_chunks_mut(n[2] * COLUMN_BLOCK)
            .for_each(|lines| self.inv[1].process(lines));
        columns_to_planes(columns, planes, nc * n[1], n[2]);
        fft_along_j(planes, [nc, n[1]], c[2]..c[2] + da[2], &self.inv[0]);
        let scale = 1.0 / (n[0] * n[1] * n[2]) as f64;
        let mut out = vec![0.0; da[0] * da[1] * da[2]];
        out.par_chunks_mut(da[0]).enumerate().for_each_init(
            || (self.c2r.make_input_vec(), self.c2r.make_output_vec()),
            |(inp, res), (line, dst)| {
                let (j, kk) = (line % da[1], line / da[1]);
                let src = nc * (j + c[1] + n[1] * (kk + c[2]));
                inp.copy_from_slice(&planes[src..src + nc]);
                // The DC and Nyquist bins of a real signal's spectrum are real: rounding
                // leaves tiny imaginary parts, which the inverse refuses.
                inp[0].im = 0.0;
                if n[0] % 2 == 0 {
                    inp[nc - 1].im = 0.0;
                }
                self.c2r.process(inp, res).expect("lengths from the plan");
                for (i, o) in dst.iter_mut().enumerate() {
                    *o = res[i + c[0]] * scale;
                }
            },
        );
        out
    }
}

/// Columns (or planes) moved together by one task of a transposition or transform along k:
/// 8 complex f64 are two cache lines.
const COLUMN_BLOCK: usize = 8;

/// In-place FFT along j of the planes `ks` of `data` (planes of `d[0]` × `d[1]` bins, i
/// fastest); the other planes are left as they are.
fn fft_along_j(
    data: &mut [Complex<f64>],
    d: [usize; 2],
    ks: std::ops::Range<usize>,
    fft: &std::sync::Arc<dyn rustfft::Fft<f64>>,
) {
    let plane = d[0] * d[1];
    data.par_chunks_mut(plane)
        .enumerate()
        .filter(|(kk, _)| ks.contains(kk))
        .for_each_init(
            || vec![Complex::new(0.0, 0.0); d[1]],
            |line, (_, p)| {
                for i in 0..d[0] {
                    for (j, x) in line.iter_mut().enumerate() {
                        *x = p[i + d[0] * j];
                    }
                    fft.process(line);
                    for (j, x) in line.iter().enumerate() {
                        p[i + d[0] * j] = *x;
                    }
                }
            },
        );
}

/// `columns[xy·nz + z] = planes[xy + plane·z]`, in blocks of [`COLUMN_BLOCK`] columns.
fn planes_to_columns(
    planes: &[Complex<f64>],
    columns: &mut [Complex<f64>],
    plane: usize,
    nz: usize,
) {
    columns
        .par_chunks_mut(nz * COLUMN_BLOCK)
        .enumerate()
        .for_each(|(b, block)| {
            let xy0 = b * COLUMN_BLOCK;
            let width = block.len() / nz;
            for z in 0..nz {
                let src = &planes[xy0 + plane * z..xy0 + plane * z + width];
                for (c, &x) in src.iter().enumerate() {
                    block[c * nz + z] = x;
                }
            }
        });
}

/// `planes[xy + plane·z] = columns[xy·nz + z]`, in blocks of [`COLUMN_BLOCK`] planes.
fn columns_to_planes(
    columns: &[Complex<f64>],
    planes: &mut [Complex<f64>],
    plane: usize,
    nz: usize,
) {
    planes
        .par_chunks_mut(plane * COLUMN_BLOCK)
        .enumerate()
        .for_each(|(b, block)| {
            let z0 = b * COLUMN_BLOCK;
            let depth = block.len() / plane;
            for xy in 0..plane {
                let src = &columns[xy * nz + z0..xy * nz + z0 + depth];
                for (dz, &x) in src.iter().enumerate() {
                    block[dz * plane + xy] = x;
                }
            }
        });
}

/// A [`TransportResult`] for a dose computed without transport: no σ, no decays simulated;
/// region means by mass.
pub fn result_without_transport(
    model: &VoxelModel,
    dose_gy_per_decay: Vec<f64>,
    method: DoseMethod,
    wall_s: f64,
) -> TransportResult {
    let regions = model
        .regions
        .iter()
        .map(|r| {
            let (mut e, mut mass) = (0.0, 0.0);
            for &v in &r.voxels {
                let m = model.voxel_mass_kg(v as usize);
                e += dose_gy_per_decay[v as usize] * m;
                mass += m;
            }
            RegionDose {
                name: r.name.clone(),
                voxels: r.voxels.len(),
                mass_kg: mass,
                mean_gy_per_decay: if mass > 0.0 { e / mass } else { 0.0 },
                rel_sigma: 0.0,
                energy_kev_per_decay: e / J_PER_KEV,
            }
        })
        .collect();
    let n = dose_gy_per_decay.len();
    TransportResult {
        dose_gy_per_decay,
        rel_uncertainty: vec![0.0; n],
        decays: 0,
        batches: 0,
        energy: Default::default(),
        wall_s,
        statistics_s: 0.0,
        device: DeviceInfo {
            kind: "cpu".into(),
            name: format!("{} (no transport)", method.name()),
            backend: "rust".into(),
            driver: match method {
                DoseMethod::Dvk => "FFT convolution (realfft)".into(),
                _ => "local deposition".into(),
            },
            parallelism: rayon::current_num_threads() as u64,
            decays_per_block: None,
            rerun_batches: None,
            compile_s: None,
        },
        regions,
        counters: Default::default(),
        uncertainty: UncertaintySummary {
            mean: 0.0,
            max: 0.0,
            voxels: 0,
        },
        done: Vec::new(),
        estimate: None,
    }
}

/// Runs `problem` by `method` (dvk or ldm) and times it.
pub fn run_fast_method(
    problem: &Problem,
    method: DoseMethod,
    density_scaling: bool,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<TransportResult> {
    let dose = match method {
        DoseMethod::Dvk => {
            let key = kernel_key(problem)?;
            let k = kernel(&key, device, observer)?;
            observer.note(&format!("dvk kernel: {}", k.provenance));
            let start = Instant::now();
            let d = convolve_dose(problem, &k, density_scaling);
            return Ok(result_without_transport(
                &problem.model,
                d,
                method,
                start.elapsed().as_secs_f64(),
            ));
        }
        DoseMethod::Ldm => local_deposition(problem),
        DoseMethod::Mc => {
            return Err(Error::Internal(
                "run_fast_method called for Monte Carlo".into(),
            ))
        }
    };
    Ok(result_without_transport(&problem.model, dose, method, 0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_convolution_equals_the_direct_sum() {
        let da = [7, 5, 4];
        let dk = [3, 5, 3];
        let a: Vec<f64> = (0..140).map(|i| ((i * 37) % 11) as f64).collect();
        let k: Vec<f32> = (0..45).map(|i| ((i * 13) % 7) as f32 + 0.5).collect();
        let out = fft_convolve(&a, da, &k, dk);
        for z in 0..da[2] {
            for y in 0..da[1] {
                for x in 0..da[0] {
                    let mut s = 0.0;
                    for kz in 0..dk[2] {
                        for ky in 0..dk[1] {
                            for kx in 0..dk[0] {
                                let sx = x as i64 - kx as i64 + 1;
                                let sy = y as i64 - ky as i64 + 2;
                                let sz = z as i64 - kz as i64 + 1;
                                if (0..7).contains(&sx)
                                    && (0..5).contains(&sy)
                                    && (0..4).contains(&sz)
                                {
                                    let av = a[(sx + 7 * (sy + 5 * sz)) as usize];
                                    s += av * f64::from(k[kx + 3 * (ky + 5 * kz)]);
                                }
                            }
                        }
                    }
                    let v = x + 7 * (y + 5 * z);
                    assert!(
                        (out[v] - s).abs() < 1e-9 * s.abs().max(1.0),
                        "{x} {y} {z}: {} vs {s}",
                        out[v]
                    );
                }
            }
        }
    }

    /// Sizes that are not multiples of the transposition blocks, with the source's and the
    /// kernel's zero padding on every axis: the FFT product equals the direct sum.
    #[test]
    fn fft_convolution_equals_the_direct_sum_on_uneven_sizes() {
        let (da, dk) = ([13usize, 11, 17], [5usize, 7, 3]);
        let a: Vec<f64> = (0..da.iter().product::<usize>())
            .map(|i| ((i * 31) % 13) as f64 - 4.0)
            .collect();
        let k: Vec<f32> = (0..dk.iter().product::<usize>())
            .map(|i| ((i * 17) % 9) as f32 + 0.25)
            .collect();
        assert_equals_direct_sum(&a, da, &k, dk);
    }

    /// `fft_convolve` equals the direct sum Σ_s a(s) k(v − s + centre), cropped to `da`.
    fn assert_equals_direct_sum(a: &[f64], da: [usize; 3], k: &[f32], dk: [usize; 3]) {
        let out = fft_convolve(a, da, k, dk);
        let c = dk.map(|d| (d / 2) as i64);
        for v in 0..out.len() {
            let x = unravel(v, da).map(|q| q as i64);
            let mut s = 0.0;
            for kv in 0..k.len() {
                let q = unravel(kv, dk);
                let src = [0, 1, 2].map(|ax| x[ax] - q[ax] as i64 + c[ax]);
                if (0..3).all(|ax| (0..da[ax] as i64).contains(&src[ax])) {
                    let sv = src[0] + da[0] as i64 * (src[1] + da[1] as i64 * src[2]);
                    s += a[sv as usize] * f64::from(k[kv]);
                }
            }
            assert!(
                (out[v] - s).abs() < 1e-9 * s.abs().max(1.0),
                "{x:?}: {} vs {s}",
                out[v]
            );
        }
    }

    /// A kernel larger than the volume (the photon tail on a small grid): the padding is at
    /// least the kernel, and the product still equals the direct sum.
    #[test]
    fn fft_convolution_with_a_kernel_wider_than_the_volume() {
        let (da, dk) = ([4usize, 3, 5], [11usize, 9, 13]);
        let a: Vec<f64> = (0..60).map(|i| ((i * 7) % 5) as f64).collect();
        let k: Vec<f32> = (0..dk.iter().product::<usize>())
            .map(|i| ((i * 11) % 13) as f32 + 0.5)
            .collect();
        assert_equals_direct_sum(&a, da, &k, dk);
    }

    fn kernel_with_tail() -> Kernel {
        let key = KernelKey {
            nuclide: "Lu-177".into(),
            material: "soft-tissue".into(),
            density_g_cm3: 1.0,
            spacing_mm: [4.0, 4.0, 8.0],
            half_voxels: [6, 6, 3],
            cutoffs_kev: [10.0, 10.0],
            decays: 1,
            tail_reach_mm: 100.0,
            tail_decays: 1,
            voxdose_version: "test".into(),
        };
        let n: usize = key.half_voxels.iter().map(|h| 2 * h + 1).product();
        Kernel {
            key,
            provenance: String::new(),
            // The cube: its index + 1, so every value says where it came from.
            dose_gy_per_decay: (0..n).map(|i| i as f32 + 1.0).collect(),
            // D·r² = 1e4 − 10 r: the tail reads back r and is exact between shells.
            tail: RadialProfile {
                r_mm: (0..30).map(|s| 5.0 * s as f64).collect(),
                dose_gy_per_decay: (0..30)
                    .map(|s| {
                        let r = 5.0 * s as f64;
                        if s == 0 {
                            1.0
                        } else {
                            (1e4 - 10.0 * r) / (r * r)
                        }
                    })
                    .collect(),
            },
        }
    }

    #[test]
    fn the_tail_interpolates_dose_times_r_squared_and_stops_at_its_reach() {
        let t = kernel_with_tail().tail;
        for r in [7.5, 33.0, 96.0] {
            assert!(
                (t.at(r, 100.0) * r * r - (1e4 - 10.0 * r)).abs() < 1e-9,
                "{r}"
            );
        }
        assert_eq!(t.at(101.0, 100.0), 0.0);
        assert_eq!(t.at(146.0, 200.0), 0.0, "past the last shell");
    }

    #[test]
    fn assembled_kernel_is_the_cube_near_the_source_and_the_tail_beyond() {
        let k = kernel_with_tail();
        // A grid narrower than the reach along k: the kernel stops at dims − 1 there.
        let (full, kd) = k.assembled([40, 40, 5]);
        assert_eq!(
            kd,
            [51, 51, 9],
            "100 mm / 4 mm = 25 each way; 5 − 1 = 4 along k"
        );
        let at = |d: [i64; 3]| {
            let q = [0, 1, 2].map(|a| (d[a] + (kd[a] / 2) as i64) as usize);
            full[q[0] + kd[0] * (q[1] + kd[1] * q[2])]
        };
        let cube = |d: [i64; 3]| {
            let q = [0, 1, 2].map(|a| (d[a] + k.key.half_voxels[a] as i64) as usize);
            let nd = k.dims();
            k.dose_gy_per_decay[q[0] + nd[0] * (q[1] + nd[1] * q[2])]
        };
        let tail = |d: [i64; 3]| {
            let r = offset_mm(d.map(|x| x as f64), k.key.spacing_mm);
            k.tail.at(r, 100.0) as f32
        };
        // Centre, and within CUBE_REACH_MM (20 mm): the cube.
        for d in [[0, 0, 0], [5, 0, 0], [0, 0, 2], [3, 3, 0]] {
            assert_eq!(at(d), cube(d), "{d:?}");
        }
        // Beyond 20 mm between centres but within ELECTRON_REACH_MM (12 mm) of the source
        // voxel: the cube. Offset (3, 1, 2): 20.4 mm between centres, 11.3 mm between the
        // voxels' nearest points.
        assert_eq!(at([3, 1, 2]), cube([3, 1, 2]));
        // Beyond both: the tail. Offset 6 along i: 24 mm, a 20 mm gap; (0, 0, 3): 24 mm, a
        // 16 mm gap.
        assert_eq!(at([6, 0, 0]), tail([6, 0, 0]));
        assert_eq!(at([0, 0, 3]), tail([0, 0, 3]));
        // A corner of the cube: 6·4, 6·4, 3·8 mm = 41.6 mm away, the tail.
        assert_eq!(at([6, 6, 3]), tail([6, 6, 3]));
        // Past the cube: the tail; past the reach: zero.
        assert_eq!(at([20, 0, 0]), tail([20, 0, 0]));
        assert!(at([20, 0, 0]) > 0.0);
        assert_eq!(at([25, 25, 0]), 0.0, "141 mm, past the 100 mm reach");
    }

    /// The near kernel on the grid plus the far field on blocks equals the convolution with
    /// the whole assembled kernel: exactly where the blocks are single voxels (8 mm), and
    /// within 5 % in every voxel above 10⁻³ of the maximum on 1.6 mm voxels (blocks of 5) and
    /// on 0.5 mm ones (blocks of 16; the cube's 20 voxels reach 10 mm only, short of the
    /// 20 mm within which the near kernel holds the tail's fall).
    /// This kernel is harsher than a real one: its cube is the tail's own smooth function, so
    /// the far field is about two thirds of every voxel's dose, and the sources lie on lines
    /// that fill their blocks unevenly (block sums place them at the block's centre). On
    /// patient15-256 with a real 177Lu kernel the two differ by at most 0.25 % in voxels
    /// above 10 % of the maximum and 1.9 % anywhere above 10⁻⁴ (BENCHMARKS.md).
    #[test]
    fn near_plus_far_field_equals_the_assembled_convolution() {
        for (voxel, bound) in [(8.0, 1e-5), (1.6, 0.05), (0.5, 0.05)] {
            let mut k = kernel_with_tail();
            k.key.spacing_mm = [voxel; 3];
            k.key.half_voxels = [((60.0 / voxel) as usize).min(KERNEL_MAX_HALF_VOXELS); 3];
            k.key.tail_reach_mm = 140.0;
            // A smooth tail, D·r² = e^(−r/70 mm), and a cube that is that ± 10 % in a
            // pattern, with a hot centre (values of one scale: f32 keeps both parts).
            let smooth = |r: f64| (-r / 70.0).exp() / (r * r).max(1.0);
            k.tail.dose_gy_per_decay = k.tail.r_mm.iter().map(|&r| smooth(r)).collect();
            let nd = k.dims();
            let h = k.key.half_voxels;
            k.dose_gy_per_decay = (0..nd.iter().product::<usize>())
                .map(|v| {
                    let q = unravel(v, nd);
                    let r = offset_mm([0, 1, 2].map(|a| q[a] as f64 - h[a] as f64), [voxel; 3]);
                    (smooth(r) * (1.0 + 0.1 * ((v % 3) as f64 - 1.0))) as f32
                })
                .collect();
            let dims = [40, 36, 30];
            let w: Vec<f64> = (0..dims.iter().product::<usize>())
                .map(|v| {
                    if v % 7 == 0 || (v / 40) % 9 == 0 {
                        1.0 + (v % 5) as f64
                    } else {
                        0.0
                    }
                })
                .collect();
            let (full, kd) = k.assembled(dims);
            let exact = fft_convolve(&w, dims, &full, kd);
            let (near, nd) = k.near();
            let far = k.far_field(&w, dims);
            let two = fft_convolve(&w, dims, &near, nd);
            let exact_max = exact.iter().cloned().fold(0.0, f64::max);
            let (wv, worst) = (0..exact.len())
                .filter(|&v| exact[v] > 1e-3 * exact_max)
                .map(|v| (v, (two[v] + far[v] - exact[v]).abs() / exact[v]))
                .fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
            assert!(
                worst < bound,
                "{voxel} mm voxels: {worst:.3e} at {:?} (exact {:.4e}, near {:.4e} + far {:.4e})",
                unravel(wv, dims),
                exact[wv],
                two[wv],
                far[wv]
            );
        }
    }

    #[test]
    fn fast_lengths_are_5_smooth() {
        assert_eq!(fast_len(7), 8);
        assert_eq!(fast_len(286), 288);
        assert_eq!(fast_len(11), 12);
    }
}
