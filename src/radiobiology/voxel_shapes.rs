//! Per-voxel dose-rate shapes from the voxel fits of a study (`voxdose fit` writes them as
//! `voxel_kinetics_cycle{n}*`, [`crate::kinetics::voxel_kinetics`]): each fitted voxel's
//! own Lea–Catcheside factor G, where the region's model would otherwise stand for it.
//!
//! As for regions, a voxel's dose rate is taken proportional to its own activity curve
//! (self-dose, as for 177Lu β): the fitted curve is the shape. A voxel without parameters
//! (NaN: not fitted, trapezoid fallback, region-scaled) or with parameters that are not a
//! dose rate (a rate ≤ 0, an amplitude < 0) takes its region's shape.
//!
//! Memory: only the maps that change the shape are kept, as f32 (the rates; the amplitudes
//! too for bi- and tri-exponentials, whose shape depends on their ratio).

use super::lq::{g_of_terms, DoseRateModel, ExpTerm};
use crate::geometry::{Grid, Volume};
use crate::kinetics::models::TacModel;
use crate::kinetics::voxel_kinetics::{cycles_in, read_cycle};
use crate::Result;
use std::f64::consts::LN_2;
use std::path::Path;

/// One cycle's voxel shapes on the dose grid.
#[derive(Clone, Debug)]
pub struct VoxelShapes {
    /// Cycle number.
    pub cycle: usize,
    /// The model fitted in every voxel.
    pub model: TacModel,
    /// Parameter maps in the model's order on the dose grid (NaN: no fit); maps that do not
    /// change the shape are empty.
    pub params: Vec<Vec<f32>>,
}

/// Whether parameter `j` of `model` changes the dose-rate shape.
fn shapes(model: TacModel, j: usize) -> bool {
    model.is_rate(j) || matches!(model, TacModel::BiExp | TacModel::TriExp)
}

impl VoxelShapes {
    /// G of voxel `v` for a repair half-time (h), or `None` where the voxel has no usable
    /// fit.
    pub fn g_factor(&self, v: usize, repair_half_time_h: f64) -> Option<f64> {
        let p = |j: usize| self.params[j][v] as f64;
        let rate_ok = |l: f64| l > 0.0 && l.is_finite();
        let g = match self.model {
            TacModel::MonoExp => {
                let l = p(1);
                rate_ok(l)
                    .then(|| DoseRateModel::mono_exponential(LN_2 / l))?
                    .g_factor(repair_half_time_h)
            }
            TacModel::UptakeWashout => {
                let (l, d) = (p(1), p(2));
                (rate_ok(l) && d >= 0.0 && d.is_finite()).then_some(())?;
                DoseRateModel::UptakeWashout {
                    washout_rate_per_h: l,
                    uptake_excess_per_h: d,
                }
                .g_factor(repair_half_time_h)
            }
            TacModel::BiExp | TacModel::TriExp => {
                let k = self.model.n_params() / 2;
                let mut terms = [ExpTerm {
                    amplitude: 0.0,
                    rate_per_h: 1.0,
                }; 3];
                for (i, t) in terms.iter_mut().enumerate().take(k) {
                    let (a, l) = (p(2 * i), p(2 * i + 1));
                    (a >= 0.0 && a.is_finite() && rate_ok(l)).then_some(())?;
                    *t = ExpTerm {
                        amplitude: a,
                        rate_per_h: l,
                    };
                }
                terms[..k].iter().any(|t| t.amplitude > 0.0).then_some(())?;
                g_of_terms(&terms[..k], LN_2 / repair_half_time_h)
            }
        };
        g.is_finite().then_some(g)
    }
}

/// The voxel shapes of the cycles `wanted` (all when `None`) that `dir` holds, on `grid`
/// (resampled by nearest voxel when the fit's grid differs), with notes saying what was
/// read. A folder without voxel kinetics gives none.
pub fn load_voxel_shapes(
    dir: &Path,
    grid: &Grid,
    wanted: Option<&[usize]>,
) -> Result<(Vec<VoxelShapes>, Vec<String>)> {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for cycle in cycles_in(dir) {
        if wanted.is_some_and(|w| !w.contains(&cycle)) {
            continue;
        }
        let k = read_cycle(dir, cycle, shapes)?;
        let model = k.file.model;
        let same = super::bed_command::same_grid(&k.grid, grid);
        let params = k
            .params
            .into_iter()
            .map(|data| {
                if same || data.is_empty() {
                    data
                } else {
                    let vol = Volume {
                        grid: k.grid.clone(),
                        data,
                    };
                    crate::geometry::resample::sample_nearest(&vol, grid, f32::NAN)
                }
            })
            .collect();
        notes.push(format!(
            "cycle {cycle}: voxel kinetics ({}, {} voxels with parameters) from {}{}",
            model.name(),
            k.file.voxels_with_parameters,
            dir.join(crate::kinetics::voxel_kinetics::json_name(cycle))
                .display(),
            if same {
                String::new()
            } else {
                format!(
                    ", resampled from the fit's grid {:?} to the dose grid {:?} by nearest voxel",
                    k.grid.dims, grid.dims
                )
            }
        ));
        out.push(VoxelShapes {
            cycle,
            model,
            params,
        });
    }
    Ok((out, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes_of(model: TacModel, params: Vec<Vec<f32>>) -> VoxelShapes {
        VoxelShapes {
            cycle: 1,
            model,
            params,
        }
    }

    #[test]
    fn each_model_gives_the_closed_form_g_and_bad_voxels_none() {
        let l = (LN_2 / 50.0) as f32;
        let mono = shapes_of(
            TacModel::MonoExp,
            vec![vec![], vec![l, f32::NAN, 0.0, -1.0]],
        );
        let g = mono.g_factor(0, 2.8).unwrap();
        assert!((g - 2.8 / 52.8).abs() < 1e-7, "{g}");
        for v in 1..4 {
            assert_eq!(mono.g_factor(v, 2.8), None, "voxel {v}");
        }
        let uw = shapes_of(TacModel::UptakeWashout, vec![vec![], vec![0.02], vec![0.3]]);
        let expect = DoseRateModel::UptakeWashout {
            washout_rate_per_h: 0.02f32 as f64,
            uptake_excess_per_h: 0.3f32 as f64,
        }
        .g_factor(1.5);
        assert_eq!(uw.g_factor(0, 1.5), Some(expect));
        let bi = shapes_of(
            TacModel::BiExp,
            vec![
                vec![2.0, -1.0],
                vec![0.5, 0.5],
                vec![1.0, 1.0],
                vec![0.01, 0.01],
            ],
        );
        let expect = DoseRateModel::exponentials(vec![
            ExpTerm {
                amplitude: 2.0,
                rate_per_h: 0.5,
            },
            ExpTerm {
                amplitude: 1.0,
                rate_per_h: 0.01f32 as f64,
            },
        ])
        .g_factor(2.8);
        assert!((bi.g_factor(0, 2.8).unwrap() - expect).abs() < 1e-12);
        assert_eq!(bi.g_factor(1, 2.8), None, "negative amplitude");
    }
}
