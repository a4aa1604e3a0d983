//! The volumes a report draws, and the slice images.
//!
//! The map drawn is the folder's dose (`dose.nii.gz`), else its BED (`bed.nii.gz`), else its
//! TIA (`tia.nii.gz`); its relative σ (`uncertainty.nii.gz`) beside it; the regions from
//! `regions.nii.gz` (patient runs; label r+1 is row r of `organ_table.json`), the study's
//! label map (`run --study`, twin cycles) or the rebuilt phantom (phantom and material-map
//! runs); underneath, the CT the run read (HU, window −160…240) or the phantom's density.
//! Inputs moved since the run only lose their layer, with a note.
//!
//! Slices go through each region's centroid (axial, coronal, sagittal; radiological view:
//! the patient's right on the image's left, anterior up, superior up), nearest-neighbour
//! sampled at one common scale with each axis's voxel size, so shapes are true. The map is a
//! colour wash over the grey underlay from 2 % of its maximum, with isodose lines at
//! [`ISO_LEVELS`] of the maximum and the region outlines in their table colours; the σ map
//! shows σ where the map exceeds 5 % of its maximum (elsewhere σ says little). One PNG per
//! region and map, encoded once, fast (`png` deflate "fast"), inlined as base64.

use super::data::Results;
use crate::geometry::{Grid, Volume};
use crate::run::{Input, Problem};
use crate::Result;
use std::collections::BTreeMap;

/// Isodose lines, fractions of the map's maximum.
pub const ISO_LEVELS: [f32; 4] = [0.25, 0.5, 0.75, 0.9];
/// Regions drawn at most (the table lists them all).
pub const MAX_REGIONS_DRAWN: usize = 12;
/// Pixels along the longest extent of the grid.
const LONGEST_PX: f64 = 256.0;
/// Grey between panels.
const GAP_RGB: [u8; 3] = [32, 32, 32];
/// The wash starts at this fraction of the maximum.
const WASH_FROM: f32 = 0.02;
/// σ is shown where the map exceeds this fraction of its maximum.
const SIGMA_FROM: f32 = 0.05;

/// Region outline colours, by region index (cycled).
pub const PALETTE: [[u8; 3]; 10] = [
    [230, 25, 75],
    [60, 180, 75],
    [255, 225, 25],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
    [240, 50, 230],
    [210, 245, 60],
    [250, 190, 212],
];

/// What the underlay is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnderlayKind {
    /// CT numbers (HU).
    Hu,
    /// Mass density, g/cm³.
    Density,
}

/// The volumes of a folder.
#[derive(Clone, Debug)]
pub struct Maps {
    /// "absorbed dose", "BED" or "time-integrated activity".
    pub quantity: &'static str,
    /// Unit of `value`.
    pub unit: String,
    /// The map.
    pub value: Volume<f32>,
    /// Its relative σ (same grid).
    pub sigma: Option<Volume<f32>>,
    /// Region index + 1 per voxel (0 outside), on its own grid.
    pub labels: Option<Volume<f32>>,
    /// Region names, by index.
    pub names: Vec<String>,
    /// Each region's centroid in continuous voxel coordinates of the label grid (`None`: no
    /// voxels).
    pub centroids: Vec<Option<[f64; 3]>>,
    /// Each region's voxels on the map's grid, when regions overlap (phantoms: the sphere
    /// inside the phantom), for the DVH.
    pub region_voxels: Option<Vec<Vec<u32>>>,
    /// The grey layer.
    pub underlay: Option<(Volume<f32>, UnderlayKind)>,
    /// Largest value of the map.
    pub max: f32,
    /// Top of the σ colour scale (`sigma_scale`).
    pub sigma_max: f32,
    /// What could not be shown, and why.
    pub notes: Vec<String>,
}

/// One region's slices: PNG data URLs of the map and of its σ.
#[derive(Clone, Debug)]
pub struct RegionSlices {
    /// Region name ("hottest voxel" without regions).
    pub name: String,
    /// Region index (palette), when a region.
    pub index: Option<usize>,
    /// The voxel the slices go through.
    pub at: [usize; 3],
    /// Map: axial | coronal | sagittal.
    pub value_png: String,
    /// σ: axial | coronal | sagittal.
    pub sigma_png: Option<String>,
}

/// Reads the folder's volumes; `None` when it has no map.
pub fn load(r: &Results) -> Result<Option<Maps>> {
    let Some((file, quantity, unit)) = primary(r) else {
        return Ok(None);
    };
    let dir = &r.dir;
    let ((value, sigma), (layers, mut notes)) = rayon::join(
        || {
            rayon::join(
                || crate::io::nifti::read_volume_f32_fast(&dir.join(file)),
                || match file {
                    "dose.nii.gz" if dir.join("uncertainty.nii.gz").is_file() => {
                        crate::io::nifti::read_volume_f32_fast(&dir.join("uncertainty.nii.gz")).ok()
                    }
                    _ => None,
                },
            )
        },
        || region_layers(r),
    );
    let value = value?;
    let sigma = sigma.filter(|s| s.data.len() == value.data.len());
    let max = {
        use rayon::prelude::*;
        value
            .data
            .par_iter()
            .copied()
            .filter(|v| v.is_finite())
            .reduce(|| 0.0f32, f32::max)
    };
    let centroids = layers.centroids.clone().unwrap_or_default();
    if max <= 0.0 {
        notes.push(format!("{file} is zero everywhere: no slices"));
    }
    let sigma_max = sigma_scale(sigma.as_ref(), &value, max);
    Ok(Some(Maps {
        sigma_max,
        quantity,
        unit,
        value,
        sigma,
        labels: layers.labels,
        names: layers.names,
        centroids,
        region_voxels: layers.region_voxels,
        underlay: layers.underlay,
        max,
        notes,
    }))
}

fn primary(r: &Results) -> Option<(&'static str, &'static str, String)> {
    if r.dir.join("dose.nii.gz").is_file() {
        Some(("dose.nii.gz", "absorbed dose", r.dose_unit()))
    } else if r.dir.join("bed.nii.gz").is_file() {
        Some(("bed.nii.gz", "BED", "Gy".into()))
    } else if r.dir.join("tia.nii.gz").is_file() {
        Some(("tia.nii.gz", "time-integrated activity", "Bq·s".into()))
    } else {
        None
    }
}

#[derive(Default)]
struct Layers {
    labels: Option<Volume<f32>>,
    names: Vec<String>,
    centroids: Option<Vec<Option<[f64; 3]>>>,
    region_voxels: Option<Vec<Vec<u32>>>,
    underlay: Option<(Volume<f32>, UnderlayKind)>,
}

/// Regions and underlay, from wherever this kind of run keeps them; notes say what is missing.
fn region_layers(r: &Results) -> (Layers, Vec<String>) {
    let mut notes = Vec::new();
    let mut layers = Layers::default();
    let input = r.run_config.as_ref().map(|c| &c.input);
    if let Some(Input::Phantom(_) | Input::Materials(_)) = input {
        let config = r.run_config.as_ref().expect("input came from the config");
        match Problem::build(config, &mut crate::transport::Silent) {
            Ok(p) => {
                layers.labels = Some(overlapping_labels(&p.model.grid, &p.model.regions));
                layers.names = p.model.regions.iter().map(|g| g.name.clone()).collect();
                layers.centroids = Some(
                    p.model
                        .regions
                        .iter()
                        .map(|g| voxel_centroid(&p.model.grid, &g.voxels))
                        .collect(),
                );
                layers.region_voxels =
                    Some(p.model.regions.iter().map(|g| g.voxels.clone()).collect());
                layers.underlay = Some((
                    Volume {
                        grid: p.model.grid.clone(),
                        data: p.model.density_g_cm3.clone(),
                    },
                    UnderlayKind::Density,
                ));
            }
            Err(e) => notes.push(format!(
                "the run's model could not be rebuilt ({e}): slices without regions"
            )),
        }
        return (layers, notes);
    }
    let study = r
        .study
        .as_ref()
        .and_then(|p| crate::kinetics::study::Study::load(p).ok());
    if study.is_none() && !r.kinetics.is_empty() {
        notes.push("the study file of the fit is not there any more (regions.json's study, run.json or study.json beside): slices without region outlines or CT".into());
    }
    let ct = match input {
        Some(Input::Patient(p)) => Some(p.ct.clone()),
        Some(Input::Study(s)) => {
            s.ct.clone()
                .or(study.as_ref().and_then(|s| s.reference_ct.clone()))
        }
        // A fit folder: the study's reference CT (the frame of its TIA map).
        None => study.as_ref().and_then(|s| s.reference_ct.clone()),
        _ => None,
    };
    // The labels and the CT are read side by side (each a gzip stream of up to 300 MB).
    let ((labels, label_notes), underlay) = rayon::join(
        || file_labels(r, study.as_ref()),
        || ct.map(|ct| read_underlay(&ct)),
    );
    notes.extend(label_notes);
    if let Some((labels, names, centroids)) = labels {
        layers.labels = Some(labels);
        layers.names = names;
        layers.centroids = Some(centroids);
    }
    match underlay {
        Some(Ok(hu)) => layers.underlay = Some((hu, UnderlayKind::Hu)),
        Some(Err(note)) => notes.push(note),
        None => {}
    }
    (layers, notes)
}

/// A label map with its region names and centroids.
type LabelLayer = (Volume<f32>, Vec<String>, Vec<Option<[f64; 3]>>);

/// The folder's `regions.nii.gz` (names from the organ table), else the study's label map;
/// with the regions' centroids.
fn file_labels(
    r: &Results,
    study: Option<&crate::kinetics::study::Study>,
) -> (Option<LabelLayer>, Vec<String>) {
    let mut notes = Vec::new();
    let mut found = None;
    if r.dir.join("regions.nii.gz").is_file() {
        match crate::io::nifti::read_volume_f32_fast(&r.dir.join("regions.nii.gz")) {
            Ok(v) => found = Some((v, organ_table_names(r))),
            Err(e) => notes.push(format!("regions.nii.gz: {e}")),
        }
    }
    if found.is_none() {
        found = study.and_then(|s| study_labels(s, r, &mut notes));
    }
    let layer = found.map(|(v, names)| {
        let centroids = label_centroids(&v, names.len());
        (v, names, centroids)
    });
    (layer, notes)
}

/// The CT the run read, in HU: a NIfTI CT through the fast reader (the values are the same,
/// see [`crate::io::nifti::read_volume_f32_fast`]), a DICOM series through
/// [`crate::io::ct::read_ct`]; `Err` is the note saying why there is none.
fn read_underlay(ct: &std::path::Path) -> std::result::Result<Volume<f32>, String> {
    let read = if crate::io::ct::is_nifti(ct) {
        crate::io::nifti::read_volume_f32_fast(ct)
    } else {
        crate::io::ct::read_ct(ct).map(|img| img.hu)
    };
    read.map_err(|e| {
        format!(
            "the CT {} could not be read ({e}): slices without it",
            ct.display()
        )
    })
}

fn organ_table_names(r: &Results) -> Vec<String> {
    r.organ_table
        .iter()
        .flatten()
        .map(|row| {
            row.get("region")
                .and_then(|v| v.as_str())
                .unwrap_or("?")
                .to_string()
        })
        .collect()
}

/// The study's label map as region indices (labels in increasing order) and names (the
/// fit's, from `regions.json`, else the study's `region_names`, else `label_N`).
fn study_labels(
    s: &crate::kinetics::study::Study,
    r: &Results,
    notes: &mut Vec<String>,
) -> Option<(Volume<f32>, Vec<String>)> {
    let path = s.labels.as_ref()?;
    let mut v = match crate::io::nifti::read_volume_f32_fast(path) {
        Ok(v) => v,
        Err(e) => {
            notes.push(format!(
                "the study's labels {} could not be read ({e})",
                path.display()
            ));
            return None;
        }
    };
    let mut present: BTreeMap<u32, usize> = BTreeMap::new();
    for &x in &v.data {
        if x > 0.0 {
            present.entry(x.round() as u32).or_insert(0);
        }
    }
    let names = present
        .keys()
        .map(|l| {
            r.kinetics
                .iter()
                .find(|k| k.label == *l)
                .map(|k| k.name.clone())
                .or_else(|| s.region_names.get(l).cloned())
                .unwrap_or_else(|| format!("label_{l}"))
        })
        .collect();
    for (i, n) in present.values_mut().enumerate() {
        *n = i + 1;
    }
    for x in &mut v.data {
        if *x > 0.0 {
            *x = present[&(x.round() as u32)] as f32;
        }
    }
    Some((v, names))
}

/// Region index + 1 per voxel, larger regions painted first so that a region inside another
/// (the sphere in the phantom) keeps its own label.
fn overlapping_labels(grid: &Grid, regions: &[crate::geometry::model::Region]) -> Volume<f32> {
    let mut order: Vec<usize> = (0..regions.len()).collect();
    order.sort_by_key(|&r| std::cmp::Reverse(regions[r].voxels.len()));
    let mut data = vec![0.0f32; grid.n_voxels()];
    for r in order {
        for &v in &regions[r].voxels {
            data[v as usize] = (r + 1) as f32;
        }
    }
    Volume {
        grid: grid.clone(),
        data,
    }
}

fn voxel_centroid(grid: &Grid, voxels: &[u32]) -> Option<[f64; 3]> {
    if voxels.is_empty() {
        return None;
    }
    let mut s = [0.0f64; 3];
    for &v in voxels {
        let ijk = grid.ijk(v as usize);
        for a in 0..3 {
            s[a] += ijk[a] as f64;
        }
    }
    Some(s.map(|x| x / voxels.len() as f64))
}

/// Centroids of the labels 1…n of a label volume (continuous voxel coordinates); the
/// slices (k) are summed in parallel.
fn label_centroids(labels: &Volume<f32>, n: usize) -> Vec<Option<[f64; 3]>> {
    use rayon::prelude::*;
    let [nx, ny, _] = labels.grid.dims;
    let add = |mut a: Vec<[f64; 4]>, b: Vec<[f64; 4]>| {
        for (x, y) in a.iter_mut().zip(&b) {
            for c in 0..4 {
                x[c] += y[c];
            }
        }
        a
    };
    let sums = labels
        .data
        .par_chunks(nx * ny)
        .enumerate()
        .fold(
            || vec![[0.0f64; 4]; n],
            |mut sums, (k, slice)| {
                for (v, &l) in slice.iter().enumerate() {
                    let r = l.round() as usize;
                    if r == 0 || r > n {
                        continue;
                    }
                    let s = &mut sums[r - 1];
                    s[0] += (v % nx) as f64;
                    s[1] += (v / nx) as f64;
                    s[2] += k as f64;
                    s[3] += 1.0;
                }
                sums
            },
        )
        .reduce(|| vec![[0.0f64; 4]; n], add);
    sums.iter()
        .map(|s| (s[3] > 0.0).then(|| [s[0] / s[3], s[1] / s[3], s[2] / s[3]]))
        .collect()
}

/// Two grids that place voxels alike (to 1 µm and 1e-6 in direction).
pub fn same_grid(a: &Grid, b: &Grid) -> bool {
    let close = |x: &[f64], y: &[f64], tol: f64| x.iter().zip(y).all(|(p, q)| (p - q).abs() <= tol);
    a.dims == b.dims
        && close(&a.spacing_mm, &b.spacing_mm, 1e-3)
        && close(&a.origin_mm, &b.origin_mm, 1e-3)
        && (0..3).all(|r| close(&a.direction[r], &b.direction[r], 1e-6))
}

/// A volume read at continuous voxel coordinates of another grid (nearest voxel).
struct Sampler<'a> {
    vol: &'a Volume<f32>,
    same: bool,
    on: &'a Grid,
}

impl<'a> Sampler<'a> {
    fn new(vol: &'a Volume<f32>, on: &'a Grid) -> Self {
        Sampler {
            vol,
            same: same_grid(&vol.grid, on),
            on,
        }
    }

    fn at(&self, ijk: [f64; 3]) -> Option<f32> {
        let q = if self.same {
            ijk
        } else {
            self.vol
                .grid
                .patient_to_voxel(self.on.voxel_to_patient(ijk))
        };
        let d = self.vol.grid.dims;
        let mut idx = [0usize; 3];
        for a in 0..3 {
            let x = q[a].round();
            if !(x >= 0.0 && (x as usize) < d[a]) {
                return None;
            }
            idx[a] = x as usize;
        }
        Some(self.vol.data[self.vol.grid.index(idx[0], idx[1], idx[2])])
    }
}

/// Where the slices go: each region's centroid on the map's grid (region order), or the
/// hottest voxel without regions.
pub fn slice_points(m: &Maps) -> Vec<(String, Option<usize>, [usize; 3])> {
    let grid = &m.value.grid;
    let Some(labels) = &m.labels else {
        let hottest = m
            .value
            .data
            .iter()
            .enumerate()
            .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
        return vec![("hottest voxel".into(), None, grid.ijk(hottest.0))];
    };
    m.centroids
        .iter()
        .enumerate()
        .filter_map(|(r, c)| c.map(|c| (r, c)))
        .take(MAX_REGIONS_DRAWN)
        .map(|(r, c)| {
            let q = grid.patient_to_voxel(labels.grid.voxel_to_patient(c));
            let at = [0, 1, 2].map(|a| (q[a].round().max(0.0) as usize).min(grid.dims[a] - 1));
            (m.names[r].clone(), Some(r), at)
        })
        .collect()
}

/// Which plane.
#[derive(Clone, Copy, Debug)]
enum Plane {
    Axial,
    Coronal,
    Sagittal,
}

/// A panel: size and the map-grid voxel coordinates of each pixel (row-major).
struct Panel {
    w: usize,
    h: usize,
    ijk: Vec<[f64; 3]>,
}

fn panel(grid: &Grid, plane: Plane, at: [usize; 3]) -> Panel {
    let d = grid.dims;
    let s = grid.spacing_mm;
    let longest = (0..3).map(|a| d[a] as f64 * s[a]).fold(1e-9, f64::max);
    let px_per_mm = LONGEST_PX / longest;
    // (axis across, axis down, fixed axis); "down" along k runs from superior to inferior.
    let (u, v, fixed, flip_v) = match plane {
        Plane::Axial => (0, 1, 2, false),
        Plane::Coronal => (0, 2, 1, true),
        Plane::Sagittal => (1, 2, 0, true),
    };
    let w = ((d[u] as f64 * s[u] * px_per_mm).round() as usize).max(1);
    let h = ((d[v] as f64 * s[v] * px_per_mm).round() as usize).max(1);
    let mut ijk = Vec::with_capacity(w * h);
    for y in 0..h {
        let mut cv = (y as f64 + 0.5) / px_per_mm / s[v] - 0.5;
        if flip_v {
            cv = d[v] as f64 - 1.0 - cv;
        }
        for x in 0..w {
            let mut p = [0.0; 3];
            p[u] = (x as f64 + 0.5) / px_per_mm / s[u] - 0.5;
            p[v] = cv;
            p[fixed] = at[fixed] as f64;
            ijk.push(p);
        }
    }
    Panel { w, h, ijk }
}

/// The slices of every region (or of the hottest voxel).
pub fn region_slices(m: &Maps) -> Result<Vec<RegionSlices>> {
    use rayon::prelude::*;
    if m.max <= 0.0 {
        return Ok(Vec::new());
    }
    slice_points(m)
        .into_par_iter()
        .map(|(name, index, at)| {
            let (value, sigma) = three_panels(m, at);
            let value_png = png_data_url(&value)?;
            let sigma_png = match sigma {
                Some(s) => Some(png_data_url(&s)?),
                None => None,
            };
            Ok(RegionSlices {
                name,
                index,
                at,
                value_png,
                sigma_png,
            })
        })
        .collect()
}

/// An RGB image.
pub struct Rgb {
    /// Width, px.
    pub w: usize,
    /// Height, px.
    pub h: usize,
    /// Pixels, row-major.
    pub px: Vec<[u8; 3]>,
}

/// The map's image of the three planes through `at` and, with a σ map, the σ image.
fn three_panels(m: &Maps, at: [usize; 3]) -> (Rgb, Option<Rgb>) {
    let (values, sigmas): (Vec<Rgb>, Vec<Option<Rgb>>) =
        [Plane::Axial, Plane::Coronal, Plane::Sagittal]
            .iter()
            .map(|&p| draw_panel(m, &panel(&m.value.grid, p, at)))
            .unzip();
    let sigmas: Option<Vec<Rgb>> = sigmas.into_iter().collect();
    (side_by_side(&values), sigmas.map(|s| side_by_side(&s)))
}

/// Panels left to right with a gap between them.
fn side_by_side(panels: &[Rgb]) -> Rgb {
    let gap = 6;
    let w = panels.iter().map(|p| p.w).sum::<usize>() + gap * (panels.len() - 1);
    let h = panels.iter().map(|p| p.h).max().unwrap_or(1);
    let mut out = Rgb {
        w,
        h,
        px: vec![GAP_RGB; w * h],
    };
    let mut x0 = 0;
    for p in panels {
        for y in 0..p.h {
            out.px[y * w + x0..y * w + x0 + p.w].copy_from_slice(&p.px[y * p.w..(y + 1) * p.w]);
        }
        x0 += p.w + gap;
    }
    out
}

/// One plane's map image and (with a σ map) σ image; the volumes are sampled once for both
/// (coronal and sagittal panels stride through them, so sampling is most of the cost).
fn draw_panel(m: &Maps, p: &Panel) -> (Rgb, Option<Rgb>) {
    let grid = &m.value.grid;
    let value = Sampler::new(&m.value, grid);
    let value: Vec<f32> = p.ijk.iter().map(|&q| value.at(q).unwrap_or(0.0)).collect();
    let labels: Vec<u16> = match &m.labels {
        Some(l) => {
            let s = Sampler::new(l, grid);
            p.ijk
                .iter()
                .map(|&q| s.at(q).unwrap_or(0.0).round() as u16)
                .collect()
        }
        None => vec![0; p.ijk.len()],
    };
    let grey: Vec<f32> = match &m.underlay {
        Some((u, kind)) => {
            let s = Sampler::new(u, grid);
            p.ijk
                .iter()
                .map(|&q| s.at(q).map_or(0.0, |x| grey_level(x, *kind)))
                .collect()
        }
        None => vec![0.18; p.ijk.len()],
    };
    let base: Vec<[u8; 3]> = grey.iter().map(|&g| [(g * 255.0) as u8; 3]).collect();
    let mut px = base.clone();
    wash(
        &mut px,
        &value,
        |v| (v >= WASH_FROM * m.max).then(|| v / m.max),
        0.5,
    );
    isolines(&mut px, p, &value, m.max);
    contours(&mut px, p, &labels);
    let sigma_img = m.sigma.as_ref().map(|sigma| {
        let s = Sampler::new(sigma, grid);
        let smax = m.sigma_max;
        let shown: Vec<f32> = p
            .ijk
            .iter()
            .zip(&value)
            .map(|(&q, &v)| {
                if v >= SIGMA_FROM * m.max {
                    s.at(q).unwrap_or(0.0)
                } else {
                    -1.0
                }
            })
            .collect();
        let mut px = base;
        wash(
            &mut px,
            &shown,
            |s| (s >= 0.0).then(|| (s / smax).min(1.0)),
            0.75,
        );
        contours(&mut px, p, &labels);
        Rgb { w: p.w, h: p.h, px }
    });
    (Rgb { w: p.w, h: p.h, px }, sigma_img)
}

/// The σ colour scale's top: the largest σ where the map exceeds 5 % of its maximum, at most 1.
fn sigma_scale(sigma: Option<&Volume<f32>>, value: &Volume<f32>, max: f32) -> f32 {
    let Some(sigma) = sigma else {
        return 1.0;
    };
    use rayon::prelude::*;
    sigma
        .data
        .par_iter()
        .zip(&value.data)
        .filter(|(_, &v)| v >= SIGMA_FROM * max)
        .map(|(&s, _)| s)
        .filter(|s| s.is_finite())
        .reduce(|| 0.0f32, f32::max)
        .clamp(1e-3, 1.0)
}

fn grey_level(x: f32, kind: UnderlayKind) -> f32 {
    let g = match kind {
        UnderlayKind::Hu => (x + 160.0) / 400.0,
        UnderlayKind::Density => x / 2.0,
    };
    g.clamp(0.0, 1.0) * 0.85
}

fn wash(px: &mut [[u8; 3]], v: &[f32], frac: impl Fn(f32) -> Option<f32>, alpha: f32) {
    for (p, &x) in px.iter_mut().zip(v) {
        if let Some(f) = frac(x) {
            let c = colormap(f);
            for k in 0..3 {
                p[k] = (f32::from(p[k]) * (1.0 - alpha) + f32::from(c[k]) * alpha) as u8;
            }
        }
    }
}

/// Pixels at or above a level next to one below it take the level's colour.
fn isolines(px: &mut [[u8; 3]], p: &Panel, v: &[f32], max: f32) {
    for level in ISO_LEVELS {
        let l = level * max;
        let c = lighten(colormap(level));
        for y in 0..p.h {
            for x in 0..p.w {
                let i = y * p.w + x;
                if v[i] < l {
                    continue;
                }
                let edge = (x > 0 && v[i - 1] < l)
                    || (x + 1 < p.w && v[i + 1] < l)
                    || (y > 0 && v[i - p.w] < l)
                    || (y + 1 < p.h && v[i + p.w] < l);
                if edge {
                    px[i] = c;
                }
            }
        }
    }
}

/// Region outlines: pixels of a region next to another label.
fn contours(px: &mut [[u8; 3]], p: &Panel, labels: &[u16]) {
    for y in 0..p.h {
        for x in 0..p.w {
            let i = y * p.w + x;
            let l = labels[i];
            if l == 0 {
                continue;
            }
            let edge = (x > 0 && labels[i - 1] != l)
                || (x + 1 < p.w && labels[i + 1] != l)
                || (y > 0 && labels[i - p.w] != l)
                || (y + 1 < p.h && labels[i + p.w] != l);
            if edge {
                px[i] = PALETTE[(usize::from(l) - 1) % PALETTE.len()];
            }
        }
    }
}

fn lighten(c: [u8; 3]) -> [u8; 3] {
    c.map(|x| (u16::from(x) + (255 - u16::from(x)) / 3) as u8)
}

/// Colour stops of the wash (blue → cyan → green → yellow → red), positions 0…1.
pub const COLOUR_STOPS: [(f32, [u8; 3]); 5] = [
    (0.0, [0, 0, 200]),
    (0.25, [0, 200, 230]),
    (0.5, [40, 200, 40]),
    (0.75, [250, 220, 0]),
    (1.0, [220, 20, 20]),
];

/// The wash colour at a fraction 0…1 of the maximum.
pub fn colormap(f: f32) -> [u8; 3] {
    let f = f.clamp(0.0, 1.0);
    for w in COLOUR_STOPS.windows(2) {
        let ((a, ca), (b, cb)) = (w[0], w[1]);
        if f <= b {
            let t = (f - a) / (b - a);
            return [0, 1, 2].map(|k| (f32::from(ca[k]) * (1.0 - t) + f32::from(cb[k]) * t) as u8);
        }
    }
    COLOUR_STOPS[COLOUR_STOPS.len() - 1].1
}

/// Encodes an image as PNG (fast deflate) in a `data:` URL.
pub fn png_data_url(img: &Rgb) -> Result<String> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    use image::ImageEncoder;
    let mut bytes = Vec::new();
    let raw: Vec<u8> = img.px.iter().flatten().copied().collect();
    PngEncoder::new_with_quality(&mut bytes, CompressionType::Fast, FilterType::Sub)
        .write_image(&raw, img.w as u32, img.h as u32, image::ColorType::Rgb8)
        .map_err(|e| crate::Error::Internal(format!("PNG encoding of a slice: {e}")))?;
    Ok(format!("data:image/png;base64,{}", base64(&bytes)))
}

/// Standard base64 (RFC 4648 §4) with padding.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Cumulative DVHs from the map and regions on the same grid (runs without `dvh.csv`).
pub fn dvh_from_maps(m: &Maps) -> Vec<super::data::Curve> {
    if let Some(rv) = &m.region_voxels {
        return rv
            .iter()
            .zip(&m.names)
            .filter(|(v, _)| !v.is_empty())
            .map(|(v, name)| super::data::Curve {
                name: name.clone(),
                points: crate::report::dvh::cumulative_dvh(
                    &v.iter()
                        .map(|&i| f64::from(m.value.data[i as usize]))
                        .collect::<Vec<_>>(),
                    200,
                ),
            })
            .collect();
    }
    let Some(labels) = m
        .labels
        .as_ref()
        .filter(|l| same_grid(&l.grid, &m.value.grid))
    else {
        return Vec::new();
    };
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); m.names.len()];
    for (&l, &v) in labels.data.iter().zip(&m.value.data) {
        let r = l.round() as usize;
        if r >= 1 && r <= per.len() {
            per[r - 1].push(f64::from(v));
        }
    }
    per.iter()
        .zip(&m.names)
        .filter(|(d, _)| !d.is_empty())
        .map(|(d, name)| super::data::Curve {
            name: name.clone(),
            points: crate::report::dvh::cumulative_dvh(d, 200),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_rfc4648_vectors() {
        // RFC 4648 §10 test vectors.
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (i, o) in cases {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn colormap_ends_and_middle() {
        assert_eq!(colormap(0.0), [0, 0, 200]);
        assert_eq!(colormap(1.0), [220, 20, 20]);
        assert_eq!(colormap(0.5), [40, 200, 40]);
        assert_eq!(colormap(2.0), colormap(1.0));
    }
}
