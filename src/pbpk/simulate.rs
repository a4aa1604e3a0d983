//! One simulation: a scenario (boluses, output grid, parameter overrides, nuclide) →
//! activity per organ on the grid (MBq) and time-integrated activity per organ (MBq·h),
//! over the window and to infinity; and the files `tacs.csv` and `tia.json`.
//!
//! Activity (MBq) = Hot amount (nmol) × molar activity (MBq/nmol, from the nuclide's
//! half-life: [`super::molar_activity_mbq_per_nmol`]). TIA (MBq·h) = ∫ Hot amount dt
//! (nmol·min, integrated by the solver) × molar activity / 60.

use super::model::{Bolus, Compiled, Model};
use super::solve::{self, SolveOptions, StateBolus};
use super::PbpkError;
use serde::Serialize;
use std::path::Path;

/// Minutes per hour.
const MIN_PER_H: f64 = 60.0;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Boluses (nmol into a species at a time).
    pub boluses: Vec<Bolus>,
    /// Output times, min (increasing; the TIA window is its first to last point).
    pub grid_min: Vec<f64>,
    /// Parameter overrides, `(name or id, value in the parameter's units)`.
    pub params: Vec<(String, f64)>,
    /// Physical half-life of the nuclide, s.
    pub half_life_s: f64,
    /// Solver tolerances (the decay constant is set from `half_life_s`).
    pub solve: SolveOptions,
}

/// The outcome of a simulation.
#[derive(Clone, Debug, Serialize)]
pub struct SimResult {
    /// Organ (top-level compartment) names, the columns.
    pub organs: Vec<String>,
    /// Output times, min.
    pub time_min: Vec<f64>,
    /// Activity per organ, MBq: `[time][organ]`.
    pub activity_mbq: Vec<Vec<f64>>,
    /// TIA per organ over the window, MBq·h.
    pub tia_window_mbq_h: Vec<f64>,
    /// TIA per organ from 0 to infinity, MBq·h (`None`: the tail did not converge).
    pub tia_infinity_mbq_h: Option<Vec<f64>>,
    /// Molar activity used, MBq/nmol.
    pub molar_activity_mbq_per_nmol: f64,
    /// Solver steps.
    pub steps: usize,
    /// Notes for the log (e.g. the model's own decay constant differs from the nuclide's).
    pub notes: Vec<String>,
}

/// Runs `scenario` on `model`.
pub fn simulate(model: &Model, scenario: &Scenario) -> Result<SimResult, PbpkError> {
    let ov = model.overrides(&scenario.params)?;
    let compiled = model.compile(&ov)?;
    let boluses = resolve_boluses(model, &compiled, &scenario.boluses)?;
    run_compiled(model, &compiled, &boluses, scenario)
}

/// Runs an already compiled model (a trial or a fit compiles once per parameter set).
pub fn run_compiled(
    model: &Model,
    compiled: &Compiled,
    boluses: &[StateBolus],
    scenario: &Scenario,
) -> Result<SimResult, PbpkError> {
    check_grid(&scenario.grid_min, boluses)?;
    let molar = super::molar_activity_mbq_per_nmol(scenario.half_life_s);
    let lambda_per_min = std::f64::consts::LN_2 / scenario.half_life_s * 60.0;
    let mut y0 = compiled.y0.clone();
    for b in boluses.iter().filter(|b| b.time_min <= 0.0) {
        y0[b.state] += b.amount;
    }
    model.check_finite(compiled, &y0, 0.0)?;
    let opts = SolveOptions {
        lambda_per_min,
        ..scenario.solve
    };
    let traj = solve::solve(compiled, boluses, &scenario.grid_min, &opts)?;
    let to_mbq_h = molar / MIN_PER_H;
    Ok(SimResult {
        organs: model.organs.iter().map(|o| o.name.clone()).collect(),
        activity_mbq: traj
            .organ_hot_nmol
            .iter()
            .map(|row| row.iter().map(|a| a * molar).collect())
            .collect(),
        time_min: traj.time_min,
        tia_window_mbq_h: traj.window_nmol_min.iter().map(|x| x * to_mbq_h).collect(),
        tia_infinity_mbq_h: traj
            .infinity_nmol_min
            .map(|v| v.iter().map(|x| x * to_mbq_h).collect()),
        molar_activity_mbq_per_nmol: molar,
        steps: traj.steps,
        notes: decay_constant_note(model, lambda_per_min),
    })
}

/// Boluses onto states, in the states' units.
pub fn resolve_boluses(
    model: &Model,
    c: &Compiled,
    boluses: &[Bolus],
) -> Result<Vec<StateBolus>, PbpkError> {
    boluses
        .iter()
        .map(|b| {
            let i = model.species_index(&b.target)?;
            let state = c.species_state[i].ok_or_else(|| PbpkError::InvalidModel {
                element: format!("dose target '{}'", b.target),
                line: model.sbml.species[i].line,
                reason: "this species is not changed by reactions (boundary, constant or set by a rule), so a dose cannot be added to it".into(),
                file: model.path.clone(),
            })?;
            if !(b.amount_nmol >= 0.0 && b.amount_nmol.is_finite()) {
                return Err(PbpkError::InvalidInput {
                    path: "--dose".into(),
                    reason: format!("amount {} nmol for {} must be finite and ≥ 0", b.amount_nmol, b.target),
                });
            }
            Ok(StateBolus {
                time_min: b.time_min,
                state,
                amount: b.amount_nmol * model.units_per_nmol(i),
            })
        })
        .collect()
}

fn check_grid(grid: &[f64], boluses: &[StateBolus]) -> Result<(), PbpkError> {
    let bad = |reason: String| PbpkError::InvalidInput {
        path: "--minutes".into(),
        reason,
    };
    if grid.is_empty() || grid[0] < 0.0 || grid.windows(2).any(|w| w[1] <= w[0]) {
        return Err(bad(
            "output times must be ≥ 0 and strictly increasing".into()
        ));
    }
    let end = grid[grid.len() - 1];
    if let Some(b) = boluses
        .iter()
        .find(|b| b.time_min < 0.0 || b.time_min > end)
    {
        return Err(bad(format!(
            "a dose at {} min lies outside [0, {end}] min; extend --minutes or move the dose",
            b.time_min
        )));
    }
    Ok(())
}

/// PyCNO converts amounts with the model's own `lambdaPhys`; voxdose uses the nuclide's
/// half-life. Say so when they differ.
fn decay_constant_note(model: &Model, lambda_per_min: f64) -> Vec<String> {
    let Ok(id) = model.parameter_id("lambdaPhys") else {
        return Vec::new();
    };
    match model.declared_value(&id) {
        Some(l) if ((l - lambda_per_min) / lambda_per_min).abs() > 1e-3 => vec![format!(
            "the model's lambdaPhys = {l:.6e}/min (T½ {:.3} d) differs from the nuclide's {lambda_per_min:.6e}/min (T½ {:.3} d) by {:+.2} %: the model's decay reactions run as written; activities use the nuclide's half-life",
            std::f64::consts::LN_2 / l / 1440.0,
            std::f64::consts::LN_2 / lambda_per_min / 1440.0,
            (l / lambda_per_min - 1.0) * 100.0
        )],
        _ => Vec::new(),
    }
}

/// Parses `"Vein.Hot=10,Vein.Cold=100"` into (target, nmol) pairs.
pub fn parse_amounts(text: &str) -> Result<Vec<(String, f64)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| format!("'{item}' is not NAME=VALUE"))?;
            let v: f64 = v
                .trim()
                .parse()
                .map_err(|_| format!("'{v}' in '{item}' is not a number"))?;
            Ok((k.trim().to_string(), v))
        })
        .collect()
}

/// Parses `START:END:STEP` (min) into the grid START, START+STEP, …, END (END included
/// even when STEP does not divide the span).
pub fn parse_minutes(text: &str) -> Result<Vec<f64>, String> {
    let parts: Vec<f64> = text
        .split(':')
        .map(|p| {
            p.trim()
                .parse::<f64>()
                .map_err(|_| format!("'{p}' is not a number"))
        })
        .collect::<Result<_, _>>()?;
    let [start, end, step] = parts[..] else {
        return Err(format!("'{text}' is not START:END:STEP"));
    };
    if !(start >= 0.0 && end > start && step > 0.0 && step.is_finite()) {
        return Err(format!("'{text}': need 0 ≤ START < END and STEP > 0"));
    }
    let n = ((end - start) / step + 1e-9).floor() as usize;
    if n > 10_000_000 {
        return Err(format!(
            "'{text}' gives {n} output times; use a larger STEP"
        ));
    }
    let mut grid: Vec<f64> = (0..=n).map(|k| start + k as f64 * step).collect();
    if end - grid[n] > 1e-9 * step {
        grid.push(end);
    }
    Ok(grid)
}

/// Pairs `--dose` lists with `--dose-at-min` times: equal counts pair in order; one dose
/// with several times repeats it; no time means t = 0.
pub fn pair_doses(doses: &[String], times_min: &[f64]) -> Result<Vec<Bolus>, String> {
    let times: Vec<f64> = match (doses.len(), times_min.len()) {
        (_, 0) => vec![0.0; doses.len()],
        (d, t) if d == t => times_min.to_vec(),
        (1, _) => times_min.to_vec(),
        (d, t) => {
            return Err(format!(
                "{d} --dose values and {t} --dose-at-min values: give one time per dose, or one dose for all times"
            ))
        }
    };
    let mut out = Vec::new();
    for (k, t) in times.iter().enumerate() {
        let d = if doses.len() == 1 {
            &doses[0]
        } else {
            &doses[k]
        };
        for (target, nmol) in parse_amounts(d)? {
            out.push(Bolus {
                time_min: *t,
                target,
                amount_nmol: nmol,
            });
        }
    }
    Ok(out)
}

/// Writes `tacs.csv`: `time_min`, then one column per organ (MBq).
pub fn write_tacs_csv(path: &Path, r: &SimResult) -> crate::Result<()> {
    let mut text = String::from("time_min");
    for o in &r.organs {
        text.push(',');
        text.push_str(&csv_field(o));
    }
    text.push('\n');
    for (t, row) in r.time_min.iter().zip(&r.activity_mbq) {
        text.push_str(&format!("{t}"));
        for a in row {
            text.push_str(&format!(",{a:.10e}"));
        }
        text.push('\n');
    }
    crate::io::atomic::write_atomic(path, text.as_bytes())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The `tia.json` document.
#[derive(Clone, Debug, Serialize)]
pub struct TiaReport<'a> {
    /// Units of the numbers.
    pub units: serde_json::Value,
    /// The model file.
    pub model: String,
    /// Nuclide name.
    pub nuclide: &'a str,
    /// Its half-life, h.
    pub half_life_h: f64,
    /// Molar activity, MBq/nmol.
    pub molar_activity_mbq_per_nmol: f64,
    /// The window, min.
    pub window_min: [f64; 2],
    /// The boluses.
    pub doses: Vec<serde_json::Value>,
    /// Parameter overrides.
    pub parameters: Vec<(String, f64)>,
    /// Per organ: TIA over the window and to infinity, MBq·h.
    pub organs: serde_json::Map<String, serde_json::Value>,
    /// Solver settings and statistics.
    pub solver: serde_json::Value,
    /// Notes.
    pub notes: Vec<String>,
}

/// Writes `tia.json`.
pub fn write_tia_json(
    path: &Path,
    model_path: &str,
    nuclide: &str,
    scenario: &Scenario,
    r: &SimResult,
) -> crate::Result<()> {
    let mut organs = serde_json::Map::new();
    for (k, name) in r.organs.iter().enumerate() {
        organs.insert(
            name.clone(),
            serde_json::json!({
                "tia_mbq_h": r.tia_window_mbq_h[k],
                "tia_to_infinity_mbq_h": r.tia_infinity_mbq_h.as_ref().map(|v| v[k]),
            }),
        );
    }
    let report = TiaReport {
        units: serde_json::json!({"time": "min", "amount": "nmol", "activity": "MBq", "tia": "MBq*h"}),
        model: model_path.to_string(),
        nuclide,
        half_life_h: scenario.half_life_s / 3600.0,
        molar_activity_mbq_per_nmol: r.molar_activity_mbq_per_nmol,
        window_min: [r.time_min[0], r.time_min[r.time_min.len() - 1]],
        doses: scenario
            .boluses
            .iter()
            .map(|b| serde_json::json!({"target": b.target, "nmol": b.amount_nmol, "at_min": b.time_min}))
            .collect(),
        parameters: scenario.params.clone(),
        organs,
        solver: serde_json::json!({
            "method": "BDF (diffsol), sparse LU, TIA as integrated outputs",
            "rtol": scenario.solve.rtol,
            "atol_nmol": scenario.solve.atol_nmol,
            "steps": r.steps,
            "tia_to_infinity": "integrated until the Hot amount left / λ < 1e-9 of the integral, then + amount/λ",
        }),
        notes: r.notes.clone(),
    };
    let text = serde_json::to_vec_pretty(&report)
        .map_err(|e| crate::Error::Internal(format!("tia.json not serialisable: {e}")))?;
    crate::io::atomic::write_atomic(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_grid_includes_the_end() {
        assert_eq!(
            parse_minutes("0:30:10").unwrap(),
            vec![0.0, 10.0, 20.0, 30.0]
        );
        assert_eq!(
            parse_minutes("0:25:10").unwrap(),
            vec![0.0, 10.0, 20.0, 25.0]
        );
        assert!(parse_minutes("10:0:1").is_err());
        assert!(parse_minutes("0:10").is_err());
    }

    #[test]
    fn doses_pair_with_times() {
        let b = pair_doses(&["Vein.Hot=10,Vein.Cold=100".into()], &[]).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].target, "Vein.Cold");
        assert_eq!(b[1].amount_nmol, 100.0);
        let b = pair_doses(&["Vein.Hot=5".into()], &[0.0, 1440.0]).unwrap();
        assert_eq!(
            b.iter().map(|x| x.time_min).collect::<Vec<_>>(),
            vec![0.0, 1440.0]
        );
        assert!(pair_doses(&["A.B=1".into(), "A.B=2".into()], &[0.0, 1.0, 2.0]).is_err());
        assert!(parse_amounts("Vein.Hot").is_err());
    }
}
