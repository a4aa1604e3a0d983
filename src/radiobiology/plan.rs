//! From labelled regions, a tissue assignment and kinetics to the [`BedRegion`]s the map
//! computation takes: which tissue each region is, and per cycle which dose map, what share
//! of it, and which dose-rate shape.
//!
//! Cycle shares: when one dose map holds several cycles (a study dose, dose per decay × Σ
//! TIA), each region's dose is split over the cycles in proportion to the region's TIA in
//! each cycle (the same S-values apply to every cycle). When each cycle has its own map, the
//! share is 1.

use super::fit_input::RegionKinetics;
use super::lq::DoseRateModel;
use super::maps::{BedRegion, CycleDose};
use super::tissue::Tissue;
use crate::geometry::{Grid, Volume};
use crate::io::InputError;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// A region of a label map on the dose grid.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledRegion {
    /// Label value (0 for the implicit region `all`).
    pub label: u32,
    /// Region name.
    pub name: String,
    /// Linear voxel indices on the dose grid.
    pub voxels: Vec<u32>,
}

/// Which tissue each region is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TissueAssignment {
    /// Tissue per label (`--tissue-map`).
    pub by_label: BTreeMap<u32, Tissue>,
    /// Tissue of every other region (`--tissue` or `--alpha-beta-gy`/`--repair-half-time-h`).
    pub default: Option<Tissue>,
}

impl TissueAssignment {
    /// The tissue of a region with this label, if any.
    pub fn tissue_of(&self, label: u32) -> Option<&Tissue> {
        self.by_label.get(&label).or(self.default.as_ref())
    }
}

/// Parses `--tissue-map "1=kidney,2=kidney,3=tumour"` (tissue names from the shipped table).
pub fn parse_tissue_map(text: &str) -> Result<BTreeMap<u32, Tissue>> {
    let mut map = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (label, name) = item.split_once('=').ok_or_else(|| {
            Error::invalid(
                "--tissue-map",
                format!("'{item}' is not LABEL=TISSUE (e.g. \"1=kidney,3=tumour\")"),
            )
        })?;
        let label: u32 = label.trim().parse().map_err(|_| {
            Error::invalid(
                "--tissue-map",
                format!("'{label}' in '{item}' is not a label number (a positive integer)"),
            )
        })?;
        if label == 0 {
            return Err(Error::invalid(
                "--tissue-map",
                "label 0 is the background of a label map; give the organ labels",
            ));
        }
        map.insert(label, Tissue::named(name)?);
    }
    if map.is_empty() {
        return Err(Error::invalid(
            "--tissue-map",
            "empty; give LABEL=TISSUE pairs, e.g. \"1=kidney,3=tumour\"",
        ));
    }
    Ok(map)
}

/// A tissue key guessed from a region name (`kidney_left` → kidney, `parotid_gland_right`
/// → salivary-glands, `lesion 3` → tumour), for study regions that carry names but no
/// tissue map. Returns `None` when no key matches; the caller records what was chosen.
pub fn tissue_key_for_region_name(name: &str) -> Option<&'static str> {
    let n = name.to_lowercase();
    let table: [(&[&str], &str); 7] = [
        (&["kidney", "renal"], "kidney"),
        (&["marrow"], "red-marrow"),
        (&["parotid", "submandibular", "salivary"], "salivary-glands"),
        (&["lacrimal"], "lacrimal-glands"),
        (&["liver", "hepat"], "liver"),
        (&["spleen", "splen"], "spleen"),
        (&["tumour", "tumor", "lesion", "metasta"], "tumour"),
    ];
    table
        .iter()
        .find(|(keys, _)| keys.iter().any(|k| n.contains(k)))
        .map(|(_, t)| *t)
}

/// The regions of a NIfTI label map on `grid` (nearest label at each voxel centre), in label
/// order, named from the map's label table, else from `names`, else `label N`.
pub fn label_regions(
    path: &Path,
    grid: &Grid,
    names: &BTreeMap<u32, String>,
) -> Result<Vec<LabelledRegion>> {
    let img = crate::io::nifti::read_image(path)?;
    if let Some((idx, v)) = img
        .volume
        .data
        .iter()
        .enumerate()
        .find(|(_, v)| !(v.is_finite() && **v >= 0.0 && v.fract() == 0.0))
    {
        return Err(InputError::Region {
            path: path.to_path_buf(),
            detail: format!(
                "voxel {:?} holds {v}, not a non-negative integer label; --labels takes a label map",
                img.volume.grid.ijk(idx)
            ),
        }
        .into());
    }
    let labels = on_grid(&img.volume, grid);
    let mut voxels: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (v, &l) in labels.iter().enumerate() {
        if l > 0.0 {
            voxels.entry(l as u32).or_default().push(v as u32);
        }
    }
    if voxels.is_empty() {
        return Err(InputError::Region {
            path: path.to_path_buf(),
            detail: "no non-zero label falls on the dose grid; check the label map belongs to this dose (same patient and frame of reference)".into(),
        }
        .into());
    }
    Ok(voxels
        .into_iter()
        .map(|(label, voxels)| LabelledRegion {
            name: img
                .label_names
                .get(&label)
                .or(names.get(&label))
                .cloned()
                .unwrap_or_else(|| format!("label {label}")),
            label,
            voxels,
        })
        .collect())
}

/// Label values on `grid`: the same values when the grids match, else the nearest label.
fn on_grid(labels: &Volume<f32>, grid: &Grid) -> Vec<f32> {
    if labels.grid == *grid {
        labels.data.clone()
    } else {
        crate::geometry::resample::sample_nearest(labels, grid, 0.0)
    }
}

/// How the dose maps relate to cycles.
#[derive(Clone, Debug, PartialEq)]
pub enum DoseLayout {
    /// Map 0 holds every cycle's dose: split by each region's TIA share.
    OneMapAllCycles,
    /// Map 0 holds one cycle only (`--cycle N`).
    OneMapOneCycle(usize),
    /// One map per cycle: (cycle number, map index).
    MapPerCycle(Vec<(usize, usize)>),
}

/// The kinetics to use.
#[derive(Clone, Debug, Default)]
pub struct KineticsPlan {
    /// Region kinetics of a fit (all cycles), matched to regions by label.
    pub fit: Vec<RegionKinetics>,
    /// T_eff (h) for regions the fit does not cover (`--effective-half-life-h`).
    pub fallback_effective_half_life_h: Option<f64>,
    /// Cycles with per-voxel shapes, in the order of [`super::maps::DoseMaps::voxel_shapes`]:
    /// a fitted region's voxels take their own shape there where they have one.
    pub voxel_cycles: Vec<usize>,
}

/// The cycles of a region the fit does not cover: mono-exponential with
/// `--effective-half-life-h`, and where the dose is of one cycle whose voxel kinetics are
/// known (`--cycle N`, a map per cycle, or a fit of one cycle), each fitted voxel's own
/// shape. `None` without a fallback half-life.
fn fallback_cycles(kinetics: &KineticsPlan, layout: &DoseLayout) -> Option<Vec<CycleDose>> {
    let t = kinetics.fallback_effective_half_life_h?;
    let mut fit_cycles: Vec<usize> = kinetics.fit.iter().map(|k| k.cycle).collect();
    fit_cycles.extend(&kinetics.voxel_cycles);
    fit_cycles.sort_unstable();
    fit_cycles.dedup();
    let voxel_index = |cycle: usize| kinetics.voxel_cycles.iter().position(|&c| c == cycle);
    let one = |cycle: usize, map, voxel_shapes: Option<usize>| {
        CycleDose {
        cycle,
        map,
        dose_fraction: 1.0,
        model: DoseRateModel::mono_exponential(t),
        g_factor_sigma: 0.0,
        kinetics: match voxel_shapes {
            Some(_) => format!("voxels with their own fit take its shape (voxel_kinetics_cycle{cycle}), the others mono-exponential with T_eff = {t} h (--effective-half-life-h)"),
            None => format!("mono-exponential, T_eff = {t} h (--effective-half-life-h)"),
        },
        voxel_shapes,
    }
    };
    Some(match layout {
        DoseLayout::OneMapAllCycles => match fit_cycles[..] {
            [c] => vec![one(c, 0, voxel_index(c))],
            _ => vec![one(1, 0, None)],
        },
        DoseLayout::OneMapOneCycle(c) => vec![one(*c, 0, voxel_index(*c))],
        DoseLayout::MapPerCycle(m) => m.iter().map(|&(c, i)| one(c, i, voxel_index(c))).collect(),
    })
}

/// BED regions for `regions`; the second value lists the regions left out and why.
pub fn bed_regions(
    regions: &[LabelledRegion],
    tissues: &TissueAssignment,
    kinetics: &KineticsPlan,
    layout: &DoseLayout,
) -> Result<(Vec<BedRegion>, Vec<String>)> {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for r in regions {
        let Some(tissue) = tissues.tissue_of(r.label) else {
            notes.push(format!(
                "region '{}' (label {}) has no tissue (not in --tissue-map, no --tissue): left out, BED 0 there",
                r.name, r.label
            ));
            continue;
        };
        match cycles_of(r, tissue, kinetics, layout)? {
            Some(cycles) => out.push(BedRegion {
                name: r.name.clone(),
                tissue: tissue.clone(),
                voxels: r.voxels.clone(),
                cycles,
            }),
            None => notes.push(format!(
                "region '{}' (label {}) has no kinetics (not in the fit, no --effective-half-life-h): left out, BED 0 there",
                r.name, r.label
            )),
        }
    }
    Ok((out, notes))
}

fn cycles_of(
    r: &LabelledRegion,
    tissue: &Tissue,
    kinetics: &KineticsPlan,
    layout: &DoseLayout,
) -> Result<Option<Vec<CycleDose>>> {
    // Region `all` (label 0) takes the fit's only region, when it has one.
    let labels: std::collections::BTreeSet<u32> = kinetics.fit.iter().map(|k| k.label).collect();
    let wanted = if r.label == 0 && labels.len() == 1 {
        *labels.iter().next().unwrap_or(&0)
    } else {
        r.label
    };
    let mut recs: Vec<&RegionKinetics> =
        kinetics.fit.iter().filter(|k| k.label == wanted).collect();
    if let DoseLayout::OneMapOneCycle(c) = layout {
        recs.retain(|k| k.cycle == *c);
    }
    if recs.is_empty() {
        return Ok(fallback_cycles(kinetics, layout));
    }
    let total_tia: f64 = recs.iter().map(|k| k.tia_bq_s).sum();
    let mut cycles = Vec::new();
    for k in &recs {
        let (map, dose_fraction) = match layout {
            DoseLayout::OneMapAllCycles if recs.len() > 1 => {
                // Also refuses a NaN total.
                if total_tia.is_nan() || total_tia <= 0.0 {
                    return Err(Error::invalid(
                        "--fit",
                        format!("region '{}' has no time-integrated activity in any cycle, so its dose cannot be split over cycles; give --cycle N", r.name),
                    ));
                }
                (0, k.tia_bq_s / total_tia)
            }
            DoseLayout::OneMapAllCycles | DoseLayout::OneMapOneCycle(_) => (0, 1.0),
            DoseLayout::MapPerCycle(m) => match m.iter().find(|(c, _)| *c == k.cycle) {
                Some(&(_, i)) => (i, 1.0),
                None => continue,
            },
        };
        let voxel_shapes = kinetics.voxel_cycles.iter().position(|&c| c == k.cycle);
        let voxels = match voxel_shapes {
            Some(_) => format!("; voxels with their own fit take its shape (voxel_kinetics_cycle{}), the others this one", k.cycle),
            None => String::new(),
        };
        cycles.push(CycleDose {
            cycle: k.cycle,
            map,
            dose_fraction,
            model: k.model.clone(),
            g_factor_sigma: k.g_factor_sigma(tissue.repair_half_time_h),
            kinetics: format!("{}, region '{}' of the fit{voxels}", k.description, k.name),
            voxel_shapes,
        });
    }
    Ok((!cycles.is_empty()).then_some(cycles))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tissue_map_parses_and_refuses_nonsense() {
        let m = parse_tissue_map("1=kidney, 2=Kidney,3=tumour").unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[&3].name, "tumour");
        assert_eq!(parse_tissue_map("1:kidney").unwrap_err().exit_code(), 3);
        assert_eq!(parse_tissue_map("x=kidney").unwrap_err().exit_code(), 3);
        assert_eq!(parse_tissue_map("0=kidney").unwrap_err().exit_code(), 3);
        assert_eq!(parse_tissue_map("1=brain").unwrap_err().exit_code(), 4);
    }

    #[test]
    fn region_names_map_to_tissue_keys() {
        assert_eq!(tissue_key_for_region_name("kidney_left"), Some("kidney"));
        assert_eq!(
            tissue_key_for_region_name("Parotid gland R"),
            Some("salivary-glands")
        );
        assert_eq!(tissue_key_for_region_name("lesion 3"), Some("tumour"));
        assert_eq!(tissue_key_for_region_name("heart"), None);
    }

    fn rec(cycle: usize, tia: f64, t_eff: f64) -> RegionKinetics {
        RegionKinetics {
            cycle,
            label: 1,
            name: "kidney".into(),
            tia_bq_s: tia,
            model: DoseRateModel::mono_exponential(t_eff),
            fitted: None,
            description: "test".into(),
        }
    }

    #[test]
    fn one_study_dose_is_split_by_tia_share() {
        let regions = [LabelledRegion {
            label: 1,
            name: "kidney".into(),
            voxels: vec![0],
        }];
        let tissues = TissueAssignment {
            default: Some(Tissue::named("kidney").unwrap()),
            ..Default::default()
        };
        let plan = KineticsPlan {
            fit: vec![rec(1, 3.0, 40.0), rec(2, 1.0, 60.0)],
            fallback_effective_half_life_h: None,
            voxel_cycles: Vec::new(),
        };
        let (b, notes) =
            bed_regions(&regions, &tissues, &plan, &DoseLayout::OneMapAllCycles).unwrap();
        assert!(notes.is_empty());
        let f: Vec<f64> = b[0].cycles.iter().map(|c| c.dose_fraction).collect();
        assert_eq!(f, vec![0.75, 0.25]);
        let (b, _) =
            bed_regions(&regions, &tissues, &plan, &DoseLayout::OneMapOneCycle(2)).unwrap();
        assert_eq!(b[0].cycles.len(), 1);
        assert_eq!(b[0].cycles[0].model, DoseRateModel::mono_exponential(60.0));
        let layout = DoseLayout::MapPerCycle(vec![(1, 0), (2, 1)]);
        let (b, _) = bed_regions(&regions, &tissues, &plan, &layout).unwrap();
        assert_eq!(
            b[0].cycles
                .iter()
                .map(|c| (c.map, c.dose_fraction))
                .collect::<Vec<_>>(),
            vec![(0, 1.0), (1, 1.0)]
        );
    }

    #[test]
    fn regions_without_tissue_or_kinetics_are_left_out_with_a_note() {
        let regions = [
            LabelledRegion {
                label: 1,
                name: "kidney".into(),
                voxels: vec![0],
            },
            LabelledRegion {
                label: 2,
                name: "heart".into(),
                voxels: vec![1],
            },
        ];
        let mut by_label = BTreeMap::new();
        by_label.insert(1, Tissue::named("kidney").unwrap());
        let tissues = TissueAssignment {
            by_label,
            default: None,
        };
        let (b, notes) = bed_regions(
            &regions,
            &tissues,
            &KineticsPlan::default(),
            &DoseLayout::OneMapAllCycles,
        )
        .unwrap();
        assert!(b.is_empty());
        assert_eq!(notes.len(), 2, "{notes:?}");
    }
}
