//! The "kinetic" prediction model (TWIN.md §2): what the next cycle will give a region, from
//! the patient's own synced cycles.
//!
//! Per source region s (the S-matrix's columns):
//! - τ_s, its TIA per injected activity (s), log-normal: the median is the σ-weighted mean of
//!   ln τ over the synced cycles, the spread combines that mean's σ with the between-cycle
//!   spread; the between-cycle spread is the patient's own (the SD of ln τ over cycles)
//!   pooled with the population prior of `data/twin/population_prior.json` (weight ν₀ degrees
//!   of freedom), so one cycle gives the prior and many cycles the patient's own;
//! - its activity curve, the shape of the latest cycle (unit integral), stretched in time by
//!   a log-normal factor for the effective half-life (same pooling);
//! - the S-matrix of the latest cycle (its anatomy), each S\[t\]\[s\] normal with its MC σ.
//!
//! Draws (`draws`, fixed seed) of these give per target t and draw i the dose per injected
//! activity X_t,i = Σ_s S_ts,i·τ_s,i (Gy/Bq) and the Lea–Catcheside factor G_t,i of the
//! target's dose rate Σ_s S_ts,i·τ_s,i·f_s,i(t) ([`super::cycle::target_g`]); at an activity A
//! the cycle's dose is A·X and its BED A·X + G·(A·X)²/(α/β): every what-if is arithmetic on
//! the stored draws. τ, T_eff and S are drawn independently (their correlations are not
//! modelled; the spread is the sum of the parts).

use super::cycle::{target_g, CycleRecord};
use super::folder::{TwinManifest, TwinRegion};
use super::smatrix::SMatrix;
use super::TwinError;
use crate::physics::rng::Pcg32;
use crate::radiobiology::{ExpTerm, LimitQuantity, Tissue};
use crate::Result;
use serde::{Deserialize, Serialize};

/// The population prior (`data/twin/population_prior.json`; provenance beside it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PopulationPrior {
    /// Log-normal σ of τ between cycles.
    pub tia_per_activity_between_cycle_rel_sd: f64,
    /// Log-normal σ of the effective half-life between cycles.
    pub effective_half_life_between_cycle_rel_sd: f64,
    /// Weight of the prior, degrees of freedom.
    pub prior_degrees_of_freedom: f64,
    /// Where the values come from.
    pub source: String,
}

const PRIOR_JSON: &str = include_str!("../../data/twin/population_prior.json");

impl PopulationPrior {
    /// The shipped prior.
    pub fn shipped() -> Result<Self> {
        serde_json::from_str(PRIOR_JSON).map_err(|e| {
            crate::Error::Internal(format!(
                "data/twin/population_prior.json does not parse: {e}"
            ))
        })
    }
}

/// One source region of the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceModel {
    /// Region name.
    pub name: String,
    /// Median τ, s (TIA per injected activity).
    pub tia_per_injected_s: f64,
    /// Log-normal σ of τ for the next cycle.
    pub tia_ln_sigma: f64,
    /// Unit-integral activity curve (the latest cycle's).
    pub shape: Vec<ExpTerm>,
    /// Median effective half-life, h (for reports).
    pub effective_half_life_h: f64,
    /// Log-normal σ of the time stretch (effective half-life) for the next cycle.
    pub effective_half_life_ln_sigma: f64,
    /// The between-cycle spread of τ used, and whether it came from the prior alone.
    pub between_cycle_ln_sigma: f64,
    /// Cycles it was estimated from.
    pub cycles: usize,
    /// τ of each draw, s, when another model gives them (the PBRPK model's samples, used
    /// cyclically: draw i takes sample i mod n); `None` draws τ log-normal as above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tia_draws: Option<Vec<f64>>,
}

/// One target region of the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetModel {
    /// Region name.
    pub name: String,
    /// Tissue key, when known.
    pub tissue: Option<String>,
    /// α/β, Gy, and T_rep, h, of the tissue.
    pub alpha_beta_gy: Option<f64>,
    /// Repair half-time, h.
    pub repair_half_time_h: Option<f64>,
    /// Σ of the measured cycles' dose, Gy.
    pub measured_dose_gy: f64,
    /// Σ of the measured cycles' organ-level BED, Gy (0 without a tissue).
    pub measured_bed_gy: f64,
    /// Mass in the latest cycle, kg (weights the regions of an organ group).
    pub mass_kg: f64,
}

/// What a prediction row and a limit are about: one region, or the regions of one tissue
/// together (both kidneys), whose dose and BED are the mass-weighted means of its regions',
/// as an organ's mean dose is.
#[derive(Clone, Debug, PartialEq)]
pub struct Organ {
    /// Region name, or the tissue key of a group.
    pub name: String,
    /// Tissue key, when known.
    pub tissue: Option<String>,
    /// (target index, mass fraction) of each region in it.
    pub members: Vec<(usize, f64)>,
}

impl Organ {
    /// The single region t.
    pub fn region(m: &PredictionModel, t: usize) -> Organ {
        Organ {
            name: m.targets[t].name.clone(),
            tissue: m.targets[t].tissue.clone(),
            members: vec![(t, 1.0)],
        }
    }

    /// The regions `targets` together, weighted by mass.
    pub fn group(m: &PredictionModel, name: &str, targets: &[usize]) -> Organ {
        let total: f64 = targets.iter().map(|&t| m.targets[t].mass_kg).sum();
        Organ {
            name: name.to_string(),
            tissue: targets.first().and_then(|&t| m.targets[t].tissue.clone()),
            members: targets
                .iter()
                .map(|&t| {
                    let w = if total > 0.0 {
                        m.targets[t].mass_kg / total
                    } else {
                        1.0 / targets.len() as f64
                    };
                    (t, w)
                })
                .collect(),
        }
    }

    /// True when every region of it has a tissue (so it has a BED).
    pub fn has_bed(&self, m: &PredictionModel) -> bool {
        self.members
            .iter()
            .all(|&(t, _)| m.targets[t].alpha_beta_gy.is_some())
    }

    /// [`cumulative`] of the organ: the mass-weighted mean of its regions'.
    pub fn cumulative(
        &self,
        m: &PredictionModel,
        d: &Draws,
        i: usize,
        a_bq: f64,
        cycles: usize,
        quantity: LimitQuantity,
    ) -> f64 {
        self.members
            .iter()
            .map(|&(t, w)| w * cumulative(m, d, t, i, a_bq, cycles, quantity))
            .sum()
    }

    /// The organ's value before the predicted cycles (the measured cycles' sum).
    pub fn measured(&self, m: &PredictionModel, quantity: LimitQuantity) -> f64 {
        self.members
            .iter()
            .map(|&(t, w)| {
                w * match quantity {
                    LimitQuantity::Absorbed => m.targets[t].measured_dose_gy,
                    LimitQuantity::Bed => m.targets[t].measured_bed_gy,
                }
            })
            .sum()
    }
}

/// The model of the next cycle, with its draws.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictionModel {
    /// The cycle predicted (the first not synced).
    pub cycle: usize,
    /// Sources (the S-matrix's columns).
    pub sources: Vec<SourceModel>,
    /// Targets (the S-matrix's rows).
    pub targets: Vec<TargetModel>,
    /// The S-matrix used (the latest cycle's).
    pub smatrix: SMatrix,
    /// The cycle the S-matrix comes from.
    pub smatrix_cycle: usize,
    /// The prior used.
    pub prior: PopulationPrior,
    /// Number of draws.
    pub draws: usize,
    /// Their seed.
    pub seed: u64,
}

/// The draws of a model: per target, X (Gy per Bq injected) and G of each draw.
#[derive(Clone, Debug)]
pub struct Draws {
    /// X\[t\]\[i\], Gy/Bq.
    pub dose_per_bq: Vec<Vec<f64>>,
    /// G\[t\]\[i\] (0 for a target without a tissue).
    pub g: Vec<Vec<f64>>,
}

/// Draws of the prediction: at least 1000 (TWIN.md §2).
pub const DEFAULT_DRAWS: usize = 4000;

/// Seed of the prediction's draws (fixed: the same twin gives the same prediction).
pub const DEFAULT_SEED: u64 = 20_261_206;

impl PredictionModel {
    /// The model of the cycle after the synced `records` (in order; at least one).
    pub fn build(
        manifest: &TwinManifest,
        records: &[CycleRecord],
        smatrix: SMatrix,
    ) -> Result<Self> {
        let last = records.last().ok_or_else(|| {
            TwinError::Unusable("the twin has no synced cycle to predict from".into())
        })?;
        let prior = PopulationPrior::shipped()?;
        let sources = last
            .sources
            .iter()
            .map(|s| source_model(&s.name, records, &prior))
            .collect();
        let targets = smatrix
            .targets
            .iter()
            .map(|t| target_model(t, &manifest.regions, records))
            .collect::<Result<Vec<_>>>()?;
        Ok(PredictionModel {
            cycle: last.cycle + 1,
            sources,
            targets,
            smatrix,
            smatrix_cycle: last.cycle,
            prior,
            draws: DEFAULT_DRAWS,
            seed: DEFAULT_SEED,
        })
    }

    /// The point estimate (all parameters at their medians) of each target's dose per
    /// injected activity, Gy/Bq.
    pub fn central_dose_per_bq(&self) -> Vec<f64> {
        let tau: Vec<f64> = self.sources.iter().map(|s| s.tia_per_injected_s).collect();
        self.smatrix.dose_gy(&tau)
    }

    /// Draws the model (deterministic for its seed).
    pub fn draw(&self) -> Draws {
        let (nt, ns) = (self.targets.len(), self.sources.len());
        let mut dose_per_bq = vec![Vec::with_capacity(self.draws); nt];
        let mut g = vec![Vec::with_capacity(self.draws); nt];
        let shapes: Vec<&[ExpTerm]> = self.sources.iter().map(|s| s.shape.as_slice()).collect();
        for i in 0..self.draws {
            let mut rng = Pcg32::new(self.seed, i as u64);
            let tau: Vec<f64> = self
                .sources
                .iter()
                .map(|s| {
                    let z = normal(&mut rng);
                    match s.tia_draws.as_deref() {
                        Some(d) if !d.is_empty() => d[i % d.len()],
                        _ => s.tia_per_injected_s * (s.tia_ln_sigma * z).exp(),
                    }
                })
                .collect();
            let stretch: Vec<f64> = self
                .sources
                .iter()
                .map(|s| (s.effective_half_life_ln_sigma * normal(&mut rng)).exp())
                .collect();
            for t in 0..nt {
                let w: Vec<f64> = (0..ns)
                    .map(|s| {
                        let rel = self.smatrix.rel_sigma[t][s];
                        let sv = self.smatrix.gy_per_decay[t][s] * (1.0 + rel * normal(&mut rng));
                        sv.max(0.0) * tau[s]
                    })
                    .collect();
                dose_per_bq[t].push(w.iter().sum());
                let trep = self.targets[t].repair_half_time_h;
                g[t].push(trep.map_or(0.0, |tr| target_g(&w, &shapes, &stretch, tr)));
            }
        }
        Draws { dose_per_bq, g }
    }
}

/// A standard normal variate (Box–Muller on two 32-bit uniforms in (0, 1]).
pub(crate) fn normal(rng: &mut Pcg32) -> f64 {
    let u1 = (f64::from(rng.next_u32()) + 1.0) / 4_294_967_296.0;
    let u2 = f64::from(rng.next_u32()) / 4_294_967_296.0;
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Pools the observed between-cycle variance of `values` (ln scale, n ≥ 2) with the prior:
/// ((n−1)s² + ν₀σ₀²)/(n−1+ν₀).
fn pooled_ln_sigma(ln_values: &[f64], prior_sigma: f64, prior_dof: f64) -> f64 {
    let n = ln_values.len() as f64;
    if ln_values.len() < 2 {
        return prior_sigma;
    }
    let mean = ln_values.iter().sum::<f64>() / n;
    let ss: f64 = ln_values.iter().map(|v| (v - mean).powi(2)).sum();
    ((ss + prior_dof * prior_sigma * prior_sigma) / (n - 1.0 + prior_dof)).sqrt()
}

/// The model of source `name` over the synced cycles (those that have it).
fn source_model(name: &str, records: &[CycleRecord], prior: &PopulationPrior) -> SourceModel {
    let seen: Vec<_> = records
        .iter()
        .filter_map(|r| r.sources.iter().find(|s| s.name == name))
        .filter(|s| s.tia_per_injected_s > 0.0)
        .collect();
    let latest = records
        .last()
        .and_then(|r| r.sources.iter().find(|s| s.name == name))
        .expect("a source of the latest cycle");
    if seen.is_empty() {
        return SourceModel {
            name: name.to_string(),
            tia_per_injected_s: 0.0,
            tia_ln_sigma: 0.0,
            shape: latest.shape.clone(),
            effective_half_life_h: latest.effective_half_life_h,
            effective_half_life_ln_sigma: 0.0,
            between_cycle_ln_sigma: 0.0,
            cycles: 0,
            tia_draws: None,
        };
    }
    // σ-weighted mean of ln τ; a cycle without a σ gets the largest weight seen.
    let rel: Vec<f64> = seen.iter().map(|s| s.tia_rel_sigma.max(1e-3)).collect();
    let w: Vec<f64> = rel.iter().map(|r| 1.0 / (r * r)).collect();
    let ln_tau: Vec<f64> = seen.iter().map(|s| s.tia_per_injected_s.ln()).collect();
    let wsum: f64 = w.iter().sum();
    let mean_ln = ln_tau.iter().zip(&w).map(|(v, w)| v * w).sum::<f64>() / wsum;
    let between = pooled_ln_sigma(
        &ln_tau,
        prior.tia_per_activity_between_cycle_rel_sd,
        prior.prior_degrees_of_freedom,
    );
    let ln_t: Vec<f64> = seen
        .iter()
        .map(|s| s.effective_half_life_h.max(1e-3).ln())
        .collect();
    let t_between = pooled_ln_sigma(
        &ln_t,
        prior.effective_half_life_between_cycle_rel_sd,
        prior.prior_degrees_of_freedom,
    );
    let t_fit = latest.effective_half_life_rel_sigma;
    SourceModel {
        name: name.to_string(),
        tia_per_injected_s: mean_ln.exp(),
        tia_ln_sigma: (between * between + 1.0 / wsum).sqrt(),
        shape: latest.shape.clone(),
        effective_half_life_h: latest.effective_half_life_h,
        effective_half_life_ln_sigma: (t_between * t_between + t_fit * t_fit).sqrt(),
        between_cycle_ln_sigma: between,
        cycles: seen.len(),
        tia_draws: None,
    }
}

/// Target `name`: its tissue and what the synced cycles gave it.
fn target_model(
    name: &str,
    regions: &[TwinRegion],
    records: &[CycleRecord],
) -> Result<TargetModel> {
    let tissue_key = regions
        .iter()
        .find(|r| r.name == name)
        .and_then(|r| r.tissue.clone());
    let tissue = tissue_key.as_deref().map(Tissue::named).transpose()?;
    let rows = records
        .iter()
        .filter_map(|r| r.regions.iter().find(|x| x.name == name));
    let (mut dose, mut bed) = (0.0, 0.0);
    for row in rows {
        dose += row.dose_gy;
        bed += row.bed_gy.unwrap_or(0.0);
    }
    Ok(TargetModel {
        name: name.to_string(),
        tissue: tissue_key,
        alpha_beta_gy: tissue.as_ref().map(|t| t.alpha_beta_gy),
        repair_half_time_h: tissue.as_ref().map(|t| t.repair_half_time_h),
        measured_dose_gy: dose,
        measured_bed_gy: bed,
        mass_kg: records
            .last()
            .and_then(|r| r.regions.iter().find(|x| x.name == name))
            .map_or(0.0, |x| x.mass_kg),
    })
}

/// What a limit of `quantity` constrains for target t at activity `a_bq` per cycle over
/// `cycles` cycles, in draw i: the cumulative BED or the cumulative absorbed dose, Gy.
pub fn cumulative(
    m: &PredictionModel,
    d: &Draws,
    t: usize,
    i: usize,
    a_bq: f64,
    cycles: usize,
    quantity: LimitQuantity,
) -> f64 {
    let target = &m.targets[t];
    let dose = a_bq * d.dose_per_bq[t][i];
    let k = cycles as f64;
    match quantity {
        LimitQuantity::Absorbed => target.measured_dose_gy + k * dose,
        LimitQuantity::Bed => {
            let ab = target.alpha_beta_gy.unwrap_or(f64::INFINITY);
            target.measured_bed_gy + k * (dose + d.g[t][i] * dose * dose / ab)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_draws_have_unit_variance() {
        let mut rng = Pcg32::new(3, 4);
        let n = 200_000;
        let v: Vec<f64> = (0..n).map(|_| normal(&mut rng)).collect();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        // σ of the mean 1/√n = 0.0022; of the variance √(2/n) = 0.0032; 4σ bounds.
        assert!(mean.abs() < 0.009, "{mean}");
        assert!((var - 1.0).abs() < 0.013, "{var}");
    }

    #[test]
    fn one_cycle_takes_the_prior_and_many_pool_towards_their_own_spread() {
        let prior = 0.15;
        assert_eq!(pooled_ln_sigma(&[0.3], prior, 2.0), prior);
        // Ten identical cycles: the spread shrinks towards 0 as the data outweigh the prior.
        let same = [0.3; 10];
        let s = pooled_ln_sigma(&same, prior, 2.0);
        assert!((s - prior * (2.0f64 / 11.0).sqrt()).abs() < 1e-12, "{s}");
    }
}
