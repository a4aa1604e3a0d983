//! `voxdose pbpk simulate|fit` and `voxdose trial`: parse, call [`crate::pbpk`], print.

use crate::cli::args::{PbpkCommand, PbpkFitArgs, PbpkModelArgs, PbpkSimulateArgs, TrialArgs};
use crate::pbpk::solve::SolveOptions;
use crate::pbpk::{simulate, Bolus, Model, Scenario};
use crate::{Error, Result};

/// Runs `voxdose pbpk ...`.
pub fn pbpk(cmd: PbpkCommand) -> Result<()> {
    match cmd {
        PbpkCommand::Simulate(a) => simulate_cmd(a),
        PbpkCommand::Fit(a) => fit_cmd(a),
    }
}

/// The shared model arguments, validated: the model, its boluses, overrides, half-life
/// and solver options.
struct Loaded {
    model: Model,
    boluses: Vec<Bolus>,
    params: Vec<(String, f64)>,
    half_life_s: f64,
    solve: SolveOptions,
}

fn load(a: &PbpkModelArgs) -> Result<Loaded> {
    let boluses =
        simulate::pair_doses(&a.dose, &a.dose_at_min).map_err(|r| Error::invalid("--dose", r))?;
    let mut params = Vec::new();
    for p in &a.param {
        params.extend(simulate::parse_amounts(p).map_err(|r| Error::invalid("--param", r))?);
    }
    if !(a.rtol > 0.0 && a.rtol < 0.1) {
        return Err(Error::invalid(
            "--rtol",
            format!("{} must be in (0, 0.1)", a.rtol),
        ));
    }
    if a.atol_nmol.is_nan() || a.atol_nmol <= 0.0 {
        return Err(Error::invalid(
            "--atol-nmol",
            format!("{} must be > 0", a.atol_nmol),
        ));
    }
    let nuclide = crate::physics::nuclide::Nuclide::load(&a.nuclide)?;
    let model = Model::load(&a.model)?;
    Ok(Loaded {
        model,
        boluses,
        params,
        half_life_s: nuclide.half_life_s,
        solve: SolveOptions {
            rtol: a.rtol,
            atol_nmol: a.atol_nmol,
            ..SolveOptions::default()
        },
    })
}

/// Opens an all-or-nothing output folder for `files` (`io::output_folder`).
fn begin_folder(
    out: &std::path::Path,
    files: &'static [&'static str],
    force: bool,
) -> Result<crate::io::output_folder::OutputFolder> {
    let set = crate::io::output_folder::OutputSet {
        files,
        patterns: &[],
    };
    let folder = crate::io::output_folder::OutputFolder::begin(out, set, force)?;
    for note in folder.notes() {
        eprintln!("voxdose: warning: {note}");
    }
    Ok(folder)
}

fn simulate_cmd(a: PbpkSimulateArgs) -> Result<()> {
    let grid = simulate::parse_minutes(&a.minutes).map_err(|r| Error::invalid("--minutes", r))?;
    let folder = begin_folder(&a.out, &["tacs.csv", "tia.json"], a.force)?;
    let l = load(&a.model)?;
    let scenario = Scenario {
        boluses: l.boluses,
        grid_min: grid,
        params: l.params,
        half_life_s: l.half_life_s,
        solve: l.solve,
    };
    let started = std::time::Instant::now();
    let r = simulate::simulate(&l.model, &scenario)?;
    let wall_s = started.elapsed().as_secs_f64();
    simulate::write_tacs_csv(&folder.path().join("tacs.csv"), &r)?;
    let model_path = a.model.model.display().to_string();
    simulate::write_tia_json(
        &folder.path().join("tia.json"),
        &model_path,
        &a.model.nuclide,
        &scenario,
        &r,
    )?;
    folder.commit()?;
    for n in &r.notes {
        eprintln!("note: {n}");
    }
    println!(
        "{} organs, {} output times, {} solver steps, {:.1} ms",
        r.organs.len(),
        r.time_min.len(),
        r.steps,
        wall_s * 1e3
    );
    println!(
        "{:<16} {:>16} {:>18}",
        "organ", "TIA (MBq·h)", "TIA to ∞ (MBq·h)"
    );
    for (k, o) in r.organs.iter().enumerate() {
        let inf = r
            .tia_infinity_mbq_h
            .as_ref()
            .map_or("not converged".to_string(), |v| format!("{:.6e}", v[k]));
        println!("{:<16} {:>16.6e} {:>18}", o, r.tia_window_mbq_h[k], inf);
    }
    println!("wrote {}", a.out.display());
    Ok(())
}

fn fit_cmd(a: PbpkFitArgs) -> Result<()> {
    use crate::pbpk::fit::{self, FitProblem, PatientModel};
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| a.fit.join("pbpk_patient.json"));
    if out.exists() && !a.force {
        return Err(Error::OutputExists { path: out });
    }
    if a.activity_rel_sigma.is_nan() || a.activity_rel_sigma <= 0.0 {
        return Err(Error::invalid("--activity-rel-sigma", "must be > 0"));
    }
    let l = load(&a.model)?;
    let priors = match &a.prior {
        Some(p) => crate::pbpk::priors::Population::load(p)?,
        None => Default::default(),
    };
    let data = fit::read_measured(&a.fit, a.cycle, &a.map)?;
    let problem = FitProblem {
        boluses: l.boluses,
        fixed: l.params,
        fit: a.params.clone(),
        priors,
        data,
        activity_rel_sigma: a.activity_rel_sigma,
        half_life_s: l.half_life_s,
        solve: l.solve,
    };
    let started = std::time::Instant::now();
    let mut patient: PatientModel = fit::fit(&l.model, &problem)?;
    let bytes = std::fs::read(&a.model.model)
        .map_err(|e| Error::Internal(format!("model re-read: {e}")))?;
    patient.model_hash = fit::fnv1a64_hex(&bytes);
    patient.nuclide = a.model.nuclide.clone();
    let text = serde_json::to_vec_pretty(&patient)
        .map_err(|e| Error::Internal(format!("patient model: {e}")))?;
    crate::io::atomic::write_atomic(&out, &text)?;
    println!(
        "MAP fit: {} iterations ({}), objective {:.4}, {:.1} s",
        patient.iterations,
        if patient.converged {
            "converged"
        } else {
            "iteration limit"
        },
        patient.objective,
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:<24} {:>14} {:>12} {:>26}",
        "parameter", "value", "σ", "95 % interval"
    );
    for p in &patient.fitted_parameters {
        println!(
            "{:<24} {:>14.6e} {:>12.3e}   [{:.4e}, {:.4e}]",
            p.name, p.value, p.sigma, p.ci95[0], p.ci95[1]
        );
    }
    println!(
        "{:<12} {:>8} {:>14} {:>14} {:>10}",
        "organ", "t (h)", "measured MBq", "model MBq", "(m-d)/σ"
    );
    for r in &patient.residuals {
        println!(
            "{:<12} {:>8.1} {:>14.5e} {:>14.5e} {:>10.3}",
            r.organ, r.time_h, r.measured_mbq, r.model_mbq, r.normalized
        );
    }
    println!("wrote {}", out.display());
    Ok(())
}

/// Runs `voxdose trial`.
pub fn trial(a: TrialArgs) -> Result<()> {
    use crate::pbpk::trial::{self, SValues, TrialConfig};
    if a.patients == 0 {
        return Err(Error::invalid("--patients", "must be ≥ 1"));
    }
    if let Some(w) = a.window_min {
        if !(w > 0.0 && w.is_finite()) {
            return Err(Error::invalid("--window-min", "must be > 0"));
        }
    }
    let folder = begin_folder(&a.out, &["patients.csv", "summary.json"], a.force)?;
    let l = load(&a.model)?;
    let population = crate::pbpk::priors::Population::load(&a.population)?;
    let s_values = a
        .s_values
        .as_ref()
        .map(|p| SValues::load(p, &l.model))
        .transpose()?;
    let cfg = TrialConfig {
        boluses: l.boluses,
        fixed: l.params,
        population,
        s_values,
        patients: a.patients,
        seed: a.seed,
        window_min: a.window_min,
        half_life_s: l.half_life_s,
        solve: l.solve,
    };
    let bar = if a.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(a.patients as u64)
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads.unwrap_or(0))
        .build()
        .map_err(|e| Error::Internal(format!("thread pool: {e}")))?;
    let started = std::time::Instant::now();
    let result = pool.install(|| trial::run(&l.model, &cfg, &|| bar.inc(1)))?;
    bar.finish_and_clear();
    let wall_s = started.elapsed().as_secs_f64();
    trial::write_outputs(folder.path(), &result, &cfg)?;
    folder.commit()?;
    let summary = trial::summary(&result, &cfg);
    println!(
        "{} patients ({} failed) on {} threads in {:.1} s",
        result.patients.len(),
        summary["failed"],
        pool.current_num_threads(),
        wall_s
    );
    for (o, v) in summary["tia_mbq_h"].as_object().into_iter().flatten() {
        println!(
            "TIA {:<14} median {:.4e} MBq·h  [p2.5 {:.4e}, p97.5 {:.4e}]",
            o,
            v["p"]["p50"].as_f64().unwrap_or(f64::NAN),
            v["p"]["p2.5"].as_f64().unwrap_or(f64::NAN),
            v["p"]["p97.5"].as_f64().unwrap_or(f64::NAN)
        );
    }
    for (t, v) in summary["targets"].as_object().into_iter().flatten() {
        println!(
            "dose {:<13} median {:.3} Gy  BED median {:.3} Gy  over dose limit {}  over BED limit {}",
            t,
            v["dose_gy"]["p"]["p50"].as_f64().unwrap_or(f64::NAN),
            v["bed_gy"]["p"]["p50"].as_f64().unwrap_or(f64::NAN),
            v["fraction_over_dose_limit"],
            v["fraction_over_bed_limit"]
        );
    }
    println!("wrote {}", a.out.display());
    Ok(())
}
