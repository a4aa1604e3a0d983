//! `voxdose twin init|sync|predict|plan|status`: lowers the flags into the twin library's
//! options ([`crate::twin`]) and prints what it returns, as a table or `--json`.

use crate::cli::args::{TwinArgs, TwinCommand, TwinPredictArgs, TwinPredictModel};
use crate::cli::commands::run::transport_config;
use crate::report::progress::ConsoleObserver;
use crate::run::TransportConfig;
use crate::twin::{self, OrganLimit};
use crate::Result;

/// Runs `voxdose twin …`.
pub fn twin(args: TwinArgs) -> Result<()> {
    let mut observer =
        ConsoleObserver::with_mode(crate::report::progress::ProgressMode::for_stderr(false));
    match args.command {
        TwinCommand::Init(a) => {
            let opts = twin::InitOptions {
                study: a.study,
                ct: a.ct,
                limits: a.limits,
                transport: transport_config(&a.transport, TransportConfig::default())?,
                smatrix_decays: a.smatrix_decays,
                patient_id: a.patient_id,
                baseline_pet: a.baseline_pet.map(|path| twin::status::BaselinePetInput {
                    path,
                    weight_kg: a.baseline_pet_weight_kg,
                    injected_bq: a.baseline_pet_injected_mbq.map(|m| m * 1e6),
                }),
            };
            let report = twin::init(&a.dir, &opts, &mut observer)?;
            print_report(&report);
        }
        TwinCommand::Sync(a) => {
            let opts = twin::SyncOptions {
                study: a.study,
                resync_cycle: a.resync_cycle,
            };
            let report = twin::sync(&a.dir, &opts, &mut observer)?;
            print_report(&report);
            if a.report {
                crate::cli::commands::report::write_default(&a.dir)?;
            }
        }
        TwinCommand::Predict(a) => {
            let p = match pbpk_options(&a)? {
                None => twin::predict(&a.dir, a.activity_gbq * 1e9, a.cycles, &mut observer)?,
                Some(o) => {
                    twin::pbpk::predict(&a.dir, a.activity_gbq * 1e9, a.cycles, &o, &mut observer)?
                }
            };
            if a.json {
                print_json(&p)?;
            } else {
                print_prediction(&p);
            }
        }
        TwinCommand::Plan(a) => {
            let limits = a
                .limit
                .iter()
                .map(|l| OrganLimit::parse(l))
                .collect::<Result<Vec<_>>>()?;
            let p = twin::plan(&a.dir, &limits, a.cycles_left, a.confidence, &mut observer)?;
            if a.json {
                print_json(&p)?;
            } else {
                println!("{}", p.note);
                println!(
                    "cycle {}: {:.3} GBq per cycle × {} (limiting organ: {}; P(within limits) = {:.3})",
                    p.cycle,
                    p.activity_gbq,
                    p.cycles_left,
                    p.limiting_organ.as_deref().unwrap_or("none"),
                    p.probability_within_limits
                );
                print_organs(&p.organs);
            }
        }
        TwinCommand::Status(a) => {
            let s = twin::status::status(&a.dir)?;
            if a.json {
                print_json(&s)?;
            } else {
                print!("{}", twin::status::table(&s));
            }
        }
    }
    Ok(())
}

/// The `--model pbpk` options; `None` for the kinetic model, which takes none of them.
fn pbpk_options(a: &TwinPredictArgs) -> Result<Option<twin::pbpk::PbpkOptions>> {
    if a.model == TwinPredictModel::Kinetics {
        let given = [
            (a.pbpk_model.is_some(), "--pbpk-model"),
            (a.cold_nmol.is_some(), "--cold-nmol"),
            (a.patient_model.is_some(), "--patient-model"),
            (!a.params.is_empty(), "--params"),
            (!a.measured_cold_nmol.is_empty(), "--measured-cold-nmol"),
            (a.map.is_some(), "--map"),
            (a.prior.is_some(), "--prior"),
            (a.inject_into.is_some(), "--inject-into"),
        ];
        if let Some((_, flag)) = given.iter().find(|(g, _)| *g) {
            return Err(crate::Error::invalid(
                flag,
                "it applies to the PBRPK model only; add --model pbpk --pbpk-model FILE.sbml",
            ));
        }
        return Ok(None);
    }
    let sbml = a.pbpk_model.clone().ok_or_else(|| {
        crate::Error::invalid("--pbpk-model", "missing: --model pbpk needs the SBML model")
    })?;
    Ok(Some(twin::pbpk::PbpkOptions {
        sbml,
        cold_nmol: a.cold_nmol,
        patient_model: a.patient_model.clone(),
        map: a.map.clone(),
        params: a.params.clone(),
        prior: a.prior.clone(),
        measured_cold_nmol: a.measured_cold_nmol.clone(),
        inject_into: a.inject_into.clone(),
        samples: a.pbpk_samples,
    }))
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| crate::Error::Internal(format!("JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

fn print_report(r: &twin::sync::SyncReport) {
    if r.new_cycles.is_empty() && r.updated_cycles.is_empty() && r.resynced_cycles.is_empty() {
        println!("nothing new: the twin already holds every cycle and time point of the study");
    }
    for (what, list) in [
        ("synced", &r.new_cycles),
        ("updated (new time points)", &r.updated_cycles),
        ("resynced", &r.resynced_cycles),
    ] {
        if !list.is_empty() {
            println!("{what}: cycle(s) {list:?}");
        }
    }
    for (cycle, errors) in &r.prediction_errors {
        println!("cycle {cycle}: predicted vs measured");
        for e in errors {
            println!(
                "  {:<18} dose {:+.1} %  BED {}",
                e.name,
                100.0 * e.dose,
                e.bed.map_or("—".into(), |b| format!("{:+.1} %", 100.0 * b))
            );
        }
    }
}

fn print_prediction(p: &twin::Prediction) {
    println!(
        "cycle {}: {:.3} GBq × {} ({} model, {} draws; median and 95 % interval)",
        p.cycle,
        p.activity_bq / 1e9,
        p.cycles,
        p.model,
        p.draws
    );
    if let (Some(info), Some(cold)) = (&p.pbpk, p.cold_nmol) {
        print_pbpk(info, cold);
    }
    print_organs(&p.organs);
}

fn print_organs(organs: &[twin::predict::OrganPrediction]) {
    for o in organs {
        let bed = match (o.bed_gy, o.cumulative_bed_gy) {
            (Some(b), Some(c)) => format!(
                "  BED {b:.2} Gy  cumulative BED {c:.2} [{:.2}, {:.2}] Gy",
                o.cumulative_bed_gy_p2_5.unwrap_or(f64::NAN),
                o.cumulative_bed_gy_p97_5.unwrap_or(f64::NAN)
            ),
            _ => String::new(),
        };
        let lim = o.limit.as_ref().map_or(String::new(), |l| {
            format!(
                "  limit {} margin {:.2} Gy",
                l.text(),
                o.margin.unwrap_or(f64::NAN)
            )
        });
        println!(
            "  {:<18} dose {:.3} [{:.3}, {:.3}] Gy{bed}{lim}",
            o.name, o.dose_gy, o.dose_gy_p2_5, o.dose_gy_p97_5
        );
    }
}

fn print_pbpk(info: &twin::pbpk::PbpkInfo, cold_nmol: f64) {
    println!(
        "  PBRPK {} ({}): hot {:.3} nmol, cold {:.3} nmol ({}); {} parameter samples",
        info.sbml.display(),
        if info.fitted_now {
            format!("fitted now to cycles {:?}", info.fitted_cycles)
        } else {
            format!("patient {}", info.patient_model.display())
        },
        info.hot_nmol,
        cold_nmol,
        info.cold_nmol_from,
        info.samples
    );
    for q in &info.parameters {
        match q.sigma_ln {
            Some(s) => println!("    {:<20} {:.5e} (σ ln {:.3})", q.name, q.value, s),
            None => println!("    {:<20} {:.5e} (fixed)", q.name, q.value),
        }
    }
    for o in &info.organs {
        println!(
            "    TIA {:<14} {:.4e} [{:.4e}, {:.4e}] MBq·h → {}",
            o.organ,
            o.tia_mbq_h,
            o.tia_mbq_h_p2_5,
            o.tia_mbq_h_p97_5,
            o.regions.join(", ")
        );
    }
}
