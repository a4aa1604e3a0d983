//! `voxdose run`: lowers the flags (or a saved `--config`) into a [`RunConfig`], runs it with
//! [`run_to_folder`] and prints the brief summary. Everything else is the library's
//! (`crate::run`).

use crate::cli::args::{PhantomArgs, RunArgs, TransportArgs};
use crate::phantoms::PhantomSpec;
use crate::report::progress::{ConsoleObserver, ProgressMode};
use crate::run::config::{MaterialsInput, PatientInput, PhantomInput, RtDoseOutput, StudyInput};
use crate::run::{run_to_folder, Input, RunConfig, Stop, TransportConfig};
use crate::{Error, Result};

/// Runs `voxdose run`.
pub fn run(args: RunArgs) -> Result<()> {
    let mut observer = ConsoleObserver::with_mode(ProgressMode::for_stderr(args.quiet));
    if args.resume.is_some() || args.shard.is_some() || args.checkpoint_every_s.is_some() {
        return super::cluster::run_as_job(&args, &mut observer);
    }
    let config = config_from_args(&args)?;
    if args.estimate_only {
        return estimate_only(&config, &mut observer);
    }
    let summary = run_to_folder(&config, out_dir(&args)?, args.force, &mut observer)?;
    for line in summary.brief() {
        eprintln!("{line}");
    }
    if args.report {
        crate::cli::commands::report::write_default(out_dir(&args)?)?;
    }
    Ok(())
}

/// `--estimate-only`: the run up to its time estimate (the pilot at the start of the first
/// batch), then nothing written. It runs in a scratch folder of the system's temporary
/// folder, removed at the end, so `--out` is neither needed nor touched.
fn estimate_only(config: &RunConfig, observer: &mut ConsoleObserver) -> Result<()> {
    if config.transport.method != crate::run::dvk::DoseMethod::Mc {
        return Err(Error::invalid(
            "--estimate-only",
            "only a Monte Carlo run (--method mc) has a pilot to estimate from",
        ));
    }
    let scratch = std::env::temp_dir().join(format!("voxdose-estimate-{}", std::process::id()));
    observer.estimate_only = true;
    let ran = run_to_folder(config, &scratch.join("out"), true, observer);
    let _ = std::fs::remove_dir_all(&scratch);
    match ran {
        Err(Error::StoppedAfterEstimate) => Ok(()),
        Err(e) => Err(e),
        Ok(_) => Err(Error::Internal(
            "--estimate-only: the run ended without an estimate".into(),
        )),
    }
}

/// `--out` (clap requires it unless `--resume` is given).
pub fn out_dir(args: &RunArgs) -> Result<&std::path::Path> {
    args.out
        .as_deref()
        .ok_or_else(|| Error::invalid("--out", "give the output folder with --out DIR"))
}

/// The run configuration the flags describe: a saved `--config` with the transport flags
/// given on top, or one built from the flags.
pub fn config_from_args(args: &RunArgs) -> Result<RunConfig> {
    let config = match &args.config {
        Some(path) => {
            let mut saved = RunConfig::load(path)?;
            saved.transport = transport_config(&args.transport, saved.transport)?;
            if let Some(d) = args.transport.dose_to {
                saved.dose_to = d;
            }
            saved
        }
        None => RunConfig {
            voxdose_version: None,
            input: input_from_args(args)?,
            transport: transport_config(&args.transport, TransportConfig::default())?,
            dose_to: args.transport.dose_to.unwrap_or_default(),
        },
    };
    Ok(config.with_absolute_paths())
}

/// What to run: `--study`, `--ct`/`--spect`, or a built-in phantom.
fn input_from_args(args: &RunArgs) -> Result<Input> {
    if let Some(study) = &args.study {
        refuse_rtdose_flags(args)?;
        if args.spect.is_some() {
            return Err(Error::invalid(
                "--study",
                "give either --study (the study file lists the scans) or --spect, not both",
            ));
        }
        return Ok(Input::Study(StudyInput {
            study: study.clone(),
            ct: args.ct.clone(),
            partial_volume: crate::cli::commands::fit::pvc_override(&args.pvc)?,
        }));
    }
    if args.materials.is_some() || !(args.ct.is_some() || args.spect.is_some()) {
        refuse_rtdose_flags(args)?;
    }
    if crate::cli::commands::fit::pvc_override(&args.pvc)?.is_some() {
        return Err(Error::invalid(
            "--pvc",
            "partial-volume correction applies to the region activities of a study: give --study",
        ));
    }
    if let Some(labels) = &args.materials {
        if args.ct.is_some() {
            return Err(Error::invalid(
                "--materials",
                "give either --materials (a label map of media) or --ct, not both",
            ));
        }
        return Ok(Input::Materials(MaterialsInput {
            labels: labels.clone(),
            table: args.materials_table.clone().ok_or_else(|| {
                Error::invalid(
                    "--materials-table",
                    "missing: give the materials table (JSON)",
                )
            })?,
            spect: args.spect.clone(),
            tia: args.tia.clone(),
        }));
    }
    if args.ct.is_some() || args.spect.is_some() {
        return patient_input(args).map(Input::Patient);
    }
    if args.phantom.phantom.is_none() {
        return Err(Error::invalid(
            "--phantom",
            "no input given: name a built-in phantom (--phantom water-sphere; `voxdose phantoms` lists them), a patient (--ct and --spect), a study (--study), a material map (--materials) or a saved run (--config)",
        ));
    }
    Ok(Input::Phantom(PhantomInput {
        phantom: phantom_spec(&args.phantom),
        tia_bq_s: args.tia_bq_s,
    }))
}

/// The patient inputs; both `--ct` and `--spect` are needed.
fn patient_input(args: &RunArgs) -> Result<PatientInput> {
    let ct = args
        .ct
        .clone()
        .ok_or_else(|| Error::invalid("--ct", "missing: give the CT series folder"))?;
    let spect = args.spect.clone().ok_or_else(|| {
        Error::invalid(
            "--spect",
            "missing: give the quantitative SPECT/PET series folder (or a NIfTI in Bq/mL)",
        )
    })?;
    Ok(PatientInput {
        ct,
        spect,
        rtstruct: args.rtstruct.clone(),
        labels: args.labels.clone(),
        tia: args.tia.clone(),
        tia_from_single_scan: args.tia_from_single_scan,
        scan_hours: args.scan_hours,
        calibration_bq_ml_per_count: args.calibration_bq_ml_per_count,
        voxel_mm: args.phantom.voxel_mm,
        accept_activity_mismatch: args.accept_activity_mismatch,
        accept_small_overlap: args.accept_small_overlap,
        rtdose: RtDoseOutput {
            bits: match args.rtdose_bits.as_deref() {
                Some(b) => b.parse()?,
                None => Default::default(),
            },
            patient_id: args.patient_id.clone(),
            study_uid: args.study_uid.clone(),
            frame_of_reference_uid: args.frame_of_reference_uid.clone(),
        },
    })
}

/// The RT Dose flags outside a patient run, where no RT Dose is written.
fn refuse_rtdose_flags(args: &RunArgs) -> Result<()> {
    let given = [
        ("--rtdose-bits", args.rtdose_bits.is_some()),
        ("--patient-id", args.patient_id.is_some()),
        ("--study-uid", args.study_uid.is_some()),
        (
            "--frame-of-reference-uid",
            args.frame_of_reference_uid.is_some(),
        ),
    ];
    match given.iter().find(|(_, g)| *g) {
        Some((option, _)) => Err(Error::invalid(
            option,
            "applies to the RT Dose of a patient run (--ct and --spect); this run writes no RT Dose",
        )),
        None => Ok(()),
    }
}

/// The phantom flags as the library's [`PhantomSpec`] (water-sphere by default).
pub fn phantom_spec(a: &PhantomArgs) -> PhantomSpec {
    PhantomSpec {
        name: a.phantom.clone().unwrap_or_else(|| "water-sphere".into()),
        radius_mm: a.radius_mm,
        voxel_mm: a.voxel_mm,
        grid: a.grid,
        material: a.material.clone(),
        layers: a.layers.clone(),
        source_layer: a.source_layer,
    }
}

/// `base` with the transport flags that were given.
pub fn transport_config(a: &TransportArgs, base: TransportConfig) -> Result<TransportConfig> {
    let stop = match (a.decays, a.target_uncertainty) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "--decays",
                "give either --decays or --target-uncertainty, not both",
            ))
        }
        (Some(n), None) => Stop::Decays(n),
        (None, Some(percent)) => Stop::TargetUncertainty {
            percent,
            max_decays: a.max_decays.unwrap_or(match base.stop {
                Stop::TargetUncertainty { max_decays, .. } => max_decays,
                Stop::Decays(_) => 1e9,
            }),
        },
        (None, None) => match (base.stop, a.max_decays) {
            (Stop::TargetUncertainty { percent, .. }, Some(max_decays)) => {
                Stop::TargetUncertainty {
                    percent,
                    max_decays,
                }
            }
            (stop, _) => stop,
        },
    };
    Ok(TransportConfig {
        nuclide: a.nuclide.clone().or(base.nuclide),
        stop,
        seed: a.seed.unwrap_or(base.seed),
        batches: a.batches.unwrap_or(base.batches),
        electron_cutoff_kev: a.electron_cutoff_kev.unwrap_or(base.electron_cutoff_kev),
        photon_cutoff_kev: a.photon_cutoff_kev.unwrap_or(base.photon_cutoff_kev),
        device: a.device.unwrap_or(base.device),
        threads: a.threads.or(base.threads),
        decays_per_block: base.decays_per_block,
        method: a.method.unwrap_or(base.method),
        density_scaling: a.density_scaling || base.density_scaling,
        mem_gb: a.mem.or(base.mem_gb),
    })
}
