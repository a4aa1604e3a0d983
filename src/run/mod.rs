//! The run layer: the one place a dose run is orchestrated. The command line, the twin, the
//! Python package and cluster shards all call it; it never parses arguments or prints.
//!
//! ```text
//! RunConfig ──validate──▶ Problem::build ──▶ execute(problem, device, observer) ──▶ write_outputs
//! (config.rs: serde,       (problem.rs; patient.rs,   (execute.rs: transport::simulate,  (outputs.rs: NIfTI,
//!  run.json)                study.rs: read, fit,        the one batch loop, dose to        RT Dose, tables,
//!                           model, source, regions)     water, dose scale)                summary, run.json)
//! ```
//!
//! An [`Engine`] owns what a run runs on: its own rayon thread pool (`threads`; never the
//! global pool) and the opened [`Device`]. [`run_to_folder`] is the whole command: validate,
//! check the output folder, build, execute, write. Progress, notes, warnings and stage times
//! go to the [`Observer`] the caller passes.
//!
//! ```no_run
//! use voxdose::run::{run_to_folder, RunConfig};
//! use voxdose::transport::Silent;
//! let config = RunConfig::phantom("water-sphere");
//! let summary = run_to_folder(&config, std::path::Path::new("out"), false, &mut Silent)?;
//! println!("{} decays, {:.3e} decays/s", summary.decays, summary.decays_per_second);
//! # Ok::<(), voxdose::Error>(())
//! ```

pub mod config;
pub mod dvk;
pub mod execute;
pub mod materials;
pub mod memory;
pub mod memory_api;
pub mod outputs;
pub mod patient;
pub mod problem;
pub mod sanity;
pub mod study;

pub use config::{DoseTo, Input, RunConfig, SingleScanRule, Stop, TransportConfig};
pub use execute::{execute, RunResult};
pub use outputs::{output_files, write_outputs, PATIENT_OUTPUTS, RUN_OUTPUTS, STUDY_OUTPUTS};
pub use problem::{Problem, ProblemKind};

use crate::io::output_folder::{OutputFolder, OutputSet};
use crate::report::stages::Stages;
use crate::report::summary::RunSummary;
use crate::transport::{Device, Observer};
use crate::{Error, Result};
use std::path::Path;

/// What a run runs on: its own thread pool and the opened device.
pub struct Engine {
    pool: rayon::ThreadPool,
    device: Device,
}

impl Engine {
    /// A pool of `transport.threads` threads (all cores when `None`) and the device
    /// `transport.device` asks for.
    pub fn new(transport: &TransportConfig) -> Result<Engine> {
        transport.validate()?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(transport.threads.unwrap_or(0))
            .thread_name(|i| format!("voxdose-{i}"))
            .build()
            .map_err(|e| {
                Error::invalid(
                    "--threads",
                    format!("cannot start the run's threads: {e}; give fewer with --threads"),
                )
            })?;
        let device = Device::open(transport.device)?;
        Ok(Engine { pool, device })
    }

    /// The opened device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Runs `f` on the engine's pool (everything rayon does inside uses its threads).
    pub fn install<R: Send>(&self, f: impl FnOnce(&Device) -> R + Send) -> R {
        self.pool.install(|| f(&self.device))
    }

    /// Executes `problem` on the engine's device and pool.
    pub fn execute(&self, problem: &Problem, observer: &mut dyn Observer) -> Result<RunResult> {
        self.install(|device| execute(problem, device, observer))
    }
}

/// Runs `config` and writes its outputs into `out` (refusing to replace existing outputs
/// unless `force`); returns the summary it wrote.
pub fn run_to_folder(
    config: &RunConfig,
    out: &Path,
    force: bool,
    observer: &mut dyn Observer,
) -> Result<RunSummary> {
    config.validate()?;
    if let Some(note) = config.version_note() {
        observer.warning(&note);
    }
    let engine = Engine::new(&config.transport)?;
    engine.install(|device| {
        let mut clock = Clock::start();
        // A phantom is built before the folder is touched (a wrong name leaves nothing
        // behind); patient and study inputs take long to read, so the folder is checked first.
        // Everything is written into the folder's staging copy and put in place at the end
        // (`io::output_folder`: all or nothing, and locked against a second run).
        let set = outputs::output_set(&config.input);
        let (problem, folder) = if matches!(config.input, Input::Phantom(_)) {
            let problem = Problem::build_in(config, out, force, &mut clock, observer)?;
            (problem, begin_folder(out, set, force, observer)?)
        } else {
            let folder = begin_folder(out, set, force, observer)?;
            let problem = Problem::build_in(config, folder.path(), force, &mut clock, observer)?;
            (problem, folder)
        };
        let result = match config.transport.method {
            dvk::DoseMethod::Mc => execute(&problem, device, observer)?,
            m => execute::execute_fast(
                &problem,
                m,
                config.transport.density_scaling,
                device,
                observer,
            )?,
        };
        clock.lap("transport", observer);
        let summary = write_outputs(
            config,
            &problem,
            &result,
            folder.path(),
            clock.into_stages(),
            observer,
        )?;
        folder.commit()?;
        Ok(summary)
    })
}

/// Opens `out` for writing (lock, recovery, existing outputs; see `io::output_folder`) and
/// tells the observer what was recovered.
fn begin_folder(
    out: &Path,
    set: OutputSet<'_>,
    force: bool,
    observer: &mut dyn Observer,
) -> Result<OutputFolder> {
    let folder = OutputFolder::begin(out, set, force)?;
    for note in folder.notes() {
        observer.warning(note);
    }
    Ok(folder)
}

/// The stage clock of a run: each lap is recorded (`stages_s` in `summary.json`) and told
/// to the observer.
pub struct Clock {
    stages: Stages,
}

impl Clock {
    /// Starts the clock.
    pub fn start() -> Self {
        Clock {
            stages: Stages::start(),
        }
    }

    /// Ends the stage `name`.
    pub fn lap(&mut self, name: &'static str, observer: &mut dyn Observer) {
        let seconds = self.stages.lap(name);
        observer.stage_done(name, seconds);
    }

    /// The stages so far.
    pub fn into_stages(self) -> Stages {
        self.stages
    }
}
